//! `enforce`: a lineage whose trust bundle has expired stops trusting, until a newer trust
//! bundle arrives.
//!
//! A trust bundle's `expires_at` bounds how long a site goes on trusting what one ceremony
//! said: past it, a lineage whose root was lost or compromised in the meantime would
//! otherwise go on being trusted for as long as nobody carries a new bundle across. For each
//! such lineage (unless its pin says `warn`), its trust stores are emptied and its policy
//! statements set to `strict` without overrides, so notation refuses every signature in their
//! scopes (a store without certificates fails authenticity, which `strict` enforces). The
//! statements keep their names and scopes, so no other statement takes their repositories
//! over. The next trust bundle installs as usual and replaces both.

use der::DateTime;
use serde::Serialize;
use serde_json::{Value, json};

use super::install::Plan;
use super::pins::OnExpiry;
use super::state::InstalledBundle;
use super::truststore::{installed_in, store_dir};
use super::{ImportError, Importer, policy_files};
use crate::bundle::parse_time;

/// What `enforce` found for one lineage whose trust bundle has expired.
#[derive(Debug, Serialize)]
pub struct Enforcement {
    /// The lineage.
    pub lineage: String,
    /// The expired trust bundle's version.
    pub version: u64,
    /// When it expired.
    pub expired_at: String,
    /// What was done.
    pub action: EnforceAction,
}

/// What `enforce` did to a lineage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnforceAction {
    /// Its statements now refuse every signature.
    Enforced,
    /// They already did.
    AlreadyEnforced,
    /// Its pin says warn only: it goes on trusting.
    WarnOnly,
}

/// Whether the trust bundle `t` has expired at `at` (an unreadable date counts as expired).
pub(super) fn trust_expired(t: &InstalledBundle, at: DateTime) -> bool {
    parse_time("expires_at", &t.expires_at)
        .map_or(true, |e| e.unix_duration() <= at.unix_duration())
}

/// A statement as enforcement leaves it: `strict`, no overrides, its timestamp rule and
/// everything else kept.
fn refusing(statement: &Value) -> Value {
    let mut s = statement.clone();
    let mut verification = json!({ "level": "strict" });
    if let Some(rule) = statement.pointer("/signatureVerification/verifyTimestamp") {
        verification["verifyTimestamp"] = rule.clone();
    }
    s["signatureVerification"] = verification;
    s
}

impl Importer {
    /// Turns the statements of every lineage whose trust bundle expired by `now` into
    /// refusals, all in one journaled commit, and reports each expired lineage.
    pub fn enforce(&self, now: DateTime) -> Result<Vec<Enforcement>, ImportError> {
        let mut installed = self.state.installed(&self.site.targets)?;
        let pins = self.pins()?;
        let report: Vec<Enforcement> = installed
            .lineages
            .iter()
            .filter_map(|(id, lineage)| {
                let trust = lineage.trust.as_ref().filter(|t| trust_expired(t, now))?;
                let warn = pins
                    .iter()
                    .any(|p| p.lineage == *id && p.on_expiry == OnExpiry::Warn);
                let action = match (lineage.enforced_at.is_some(), warn) {
                    (true, _) => EnforceAction::AlreadyEnforced,
                    (false, true) => EnforceAction::WarnOnly,
                    (false, false) => EnforceAction::Enforced,
                };
                Some(Enforcement {
                    lineage: id.clone(),
                    version: trust.version,
                    expired_at: trust.expires_at.clone(),
                    action,
                })
            })
            .collect();
        let enforced: Vec<&Enforcement> = report
            .iter()
            .filter(|e| e.action == EnforceAction::Enforced)
            .collect();
        if enforced.is_empty() {
            return Ok(report);
        }
        let mut plan = Plan::default();
        let mode = self.site.file_mode();
        for e in &enforced {
            let policy = installed.lineages[&e.lineage]
                .trust
                .as_ref()
                .map(|t| t.policy.clone())
                .unwrap_or_default();
            let refusals: Vec<Value> = policy.iter().map(refusing).collect();
            for target in &self.site.targets {
                for kind in ["ca", "tsa"] {
                    let dir = store_dir(target, kind, &e.lineage);
                    plan.removals.extend(installed_in(&installed, target, &dir));
                }
                policy_files::plan_policy(&mut plan, target, &policy, &refusals, mode, false)?;
            }
            if let Some(lineage) = installed.lineages.get_mut(&e.lineage) {
                if let Some(t) = lineage.trust.as_mut() {
                    t.policy = refusals;
                }
                lineage.enforced_at = Some(now.to_string());
            }
        }
        self.commit_plan(installed, plan)?;
        for e in enforced {
            self.log(json!({
                "event": "enforce", "lineage": e.lineage, "version": e.version,
                "expired_at": e.expired_at,
            }))?;
        }
        Ok(report)
    }
}
