//! `status`: what is installed for each lineage, and everything about it that needs attention:
//! what expires soon, and what was changed by hand.

use std::fs;

use der::DateTime;
use serde::Serialize;

use super::pins::OnExpiry;
use super::site::Target;
use super::state::{Installed, Lineage};
use super::trustpolicy::POLICY_FILES;
use super::truststore::{store_dir, third_party_store_dir};
use super::{ImportError, Importer, is_symlink, short};
use crate::bundle::parse_time;
use crate::fingerprint::Fingerprint;
use crate::keys::sha256;
use crate::notation::MAX_POLICY_BYTES;
use crate::sys::input::Links;

fn days_until(t: &str, now: DateTime) -> i64 {
    parse_time("time", t).map_or(i64::MIN, |t| {
        (t.unix_duration().as_secs() as i64 - now.unix_duration().as_secs() as i64)
            .div_euclid(86_400)
    })
}

/// Collects what expires within the threshold while `status` reads the dates.
struct Attention {
    now: DateTime,
    threshold_days: i64,
    problems: Vec<String>,
}

impl Attention {
    /// Whole days until `t`; notes `what` when that is within the threshold.
    fn days(&mut self, what: String, t: &str) -> i64 {
        self.days_then(what, t, "")
    }

    /// [`Self::days`], with `then` (what follows) added once `t` has passed.
    fn days_then(&mut self, what: String, t: &str, then: &str) -> i64 {
        let days = days_until(t, self.now);
        if days < self.threshold_days {
            self.problems.push(if days < 0 {
                format!("{what} expired on {t}{then}")
            } else {
                format!("{what} expires in {days} days ({t})")
            });
        }
        days
    }
}

impl Importer {
    /// The installed state, and everything about it that needs attention.
    pub fn status(&self, now: DateTime, threshold_days: i64) -> Result<Status, ImportError> {
        let installed = self.state.installed(&self.site.targets)?;
        let mut attention = Attention {
            now,
            threshold_days,
            problems: Vec::new(),
        };
        let pins = self.pins()?;
        let mut outside_grants: Vec<String> = pins
            .iter()
            .filter_map(|p| {
                let (name, scope) = p.ungranted_installed(&installed)?;
                Some(format!(
                    "statement '{name}' of lineage {} speaks for {scope}, which its pin no longer grants: install a trust bundle without it, or pin a --scope that covers it",
                    short(&p.lineage)
                ))
            })
            .collect();
        let lineages = installed
            .lineages
            .iter()
            .map(|(id, l)| {
                let warn_only = pins
                    .iter()
                    .any(|p| p.lineage == *id && p.on_expiry == OnExpiry::Warn);
                lineage_status(id, l, warn_only, &mut attention)
            })
            .collect();
        let mut problems = attention.problems;
        problems.append(&mut outside_grants);
        for target in &self.site.targets {
            problems.extend(changed_files(&installed, target));
            problems.extend(changed_statements(&installed, target));
            problems.extend(stray_files(&installed, target));
            problems.extend(policy_files_differ(target));
        }
        Ok(Status {
            pins,
            lineages,
            problems,
        })
    }
}

/// What follows once a lineage's trust bundle has expired, said after the date.
fn expiry_consequence(l: &Lineage, warn_only: bool) -> String {
    match &l.enforced_at {
        Some(at) => format!(
            "; enforced since {at}: its statements refuse every signature until a newer trust bundle is installed"
        ),
        None if warn_only => {
            "; its pin says warn only, so it STILL TRUSTS: install a newer trust bundle".into()
        }
        None => "; it STILL TRUSTS: install a newer trust bundle, or run `keyrite-import enforce`"
            .into(),
    }
}

/// One lineage as `status` reports it.
fn lineage_status(
    id: &str,
    l: &Lineage,
    warn_only: bool,
    attention: &mut Attention,
) -> LineageStatus {
    let trust = l.trust.as_ref().map(|t| TrustStatus {
        version: t.version,
        expires_at: t.expires_at.clone(),
        days_left: attention.days_then(
            format!("trust bundle v{} of lineage {}", t.version, short(id)),
            &t.expires_at,
            &expiry_consequence(l, warn_only),
        ),
        roots: t
            .roots
            .iter()
            .chain(&t.tsa_roots)
            .map(|r| RootStatus {
                sha256: r.sha256.clone(),
                words: Fingerprint::parse(&r.sha256)
                    .map(|f| f.words().join(" "))
                    .unwrap_or_default(),
                not_after: r.not_after.clone(),
                days_left: attention.days(format!("root {}", short(&r.sha256)), &r.not_after),
            })
            .collect(),
        policy: t
            .policy
            .iter()
            .filter_map(|s| s.get("name").and_then(|n| n.as_str()).map(str::to_owned))
            .collect(),
        statements: t.policy.iter().filter_map(StatementStatus::of).collect(),
        third_parties: t
            .third_parties
            .iter()
            .map(|tp| ThirdPartyStatus {
                name: tp.name.clone(),
                sha256: tp.root.sha256.clone(),
                words: Fingerprint::parse(&tp.root.sha256)
                    .map(|f| f.words().join(" "))
                    .unwrap_or_default(),
                not_after: tp.root.not_after.clone(),
                days_left: attention.days(
                    format!(
                        "third party '{}''s root {}",
                        tp.name,
                        short(&tp.root.sha256)
                    ),
                    &tp.root.not_after,
                ),
                tsa_root: tp.tsa_root.as_ref().map(|r| r.sha256.clone()),
                scopes: tp.registry_scopes.clone(),
                identities: tp.trusted_identities.clone(),
                crl_urls: tp.crl_urls.clone(),
                statement: tp.statement.clone(),
            })
            .collect(),
    });
    let revocation = l.revocation.as_ref().map(|r| RevocationStatus {
        version: r.version,
        expires_at: r.expires_at.clone(),
        days_left: attention.days(
            format!("revocation bundle v{} of lineage {}", r.version, short(id)),
            &r.expires_at,
        ),
        crls: r
            .crls
            .iter()
            .map(|c| CrlStatus {
                issuer: c.issuer.clone(),
                next_update: c.next_update.clone(),
                days_left: attention.days(
                    match &c.third_party {
                        Some(name) => format!("third party '{name}''s CRL"),
                        None => format!("the CRL of root {}", short(&c.issuer)),
                    },
                    &c.next_update,
                ),
                urls: c.urls.clone(),
                third_party: c.third_party.clone(),
            })
            .collect(),
    });
    LineageStatus {
        lineage: id.to_owned(),
        words: Fingerprint::parse(id)
            .map(|f| f.words().join(" "))
            .unwrap_or_default(),
        trust,
        revocation,
        enforced_at: l.enforced_at.clone(),
    }
}

/// The files keyrite-import installed that were since changed, removed or linked by hand.
fn changed_files(installed: &Installed, target: &Target) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, want) in &installed.files {
        let Some(path) = target.path(key) else {
            continue;
        };
        let path = &path;
        if is_symlink(path) {
            problems.push(format!(
                "{} was replaced by a symbolic link",
                path.display()
            ));
            continue;
        }
        match read(path) {
            Ok(b) if hex::encode(sha256(&b)) == *want => {}
            Ok(_) => problems.push(format!(
                "{} was changed by hand since it was installed: `keyrite-import install --repair BUNDLE` with the bundle installed writes it again",
                path.display()
            )),
            Err(_) => problems.push(format!(
                "{} was removed by hand since it was installed: `keyrite-import install --repair BUNDLE` with the bundle installed writes it again",
                path.display()
            )),
        }
    }
    problems
}

/// keyrite's policy statements that are no longer in a policy file as installed.
fn changed_statements(installed: &Installed, target: &Target) -> Vec<String> {
    let mut problems = Vec::new();
    let ours: Vec<&serde_json::Value> = installed
        .lineages
        .values()
        .flat_map(|l| l.trust.iter().flat_map(|t| &t.policy))
        .collect();
    for path in installed.policy_files.iter().filter_map(|k| target.path(k)) {
        let doc: Option<serde_json::Value> = read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let list = doc
            .as_ref()
            .and_then(|d| d.get("trustPolicies"))
            .and_then(|l| l.as_array());
        for s in &ours {
            if !list.is_some_and(|l| l.contains(s)) {
                let name = s.get("name").and_then(|n| n.as_str()).unwrap_or_default();
                problems.push(format!(
                    "statement '{name}' in {} was changed or removed by hand: `keyrite-import install --repair BUNDLE` with the trust bundle installed writes it again",
                    path.display()
                ));
            }
        }
    }
    problems
}

/// A file keyrite-import installed or merged into, read no further than notation would.
fn read(path: &std::path::Path) -> Result<Vec<u8>, crate::sys::input::InputError> {
    crate::sys::input::read(path, MAX_POLICY_BYTES, Links::Refuse)
}

/// Both trust policy files, when they exist and say different things: notation v1.3 reads
/// only `trustpolicy.json`, the next major only `trustpolicy.oci.json`.
pub(super) fn policy_files_differ(target: &Target) -> Option<String> {
    let [json, oci] = POLICY_FILES.map(|f| {
        let bytes = read(&target.config.join(f)).ok()?;
        Some(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or(bytes.into()))
    });
    match (json, oci) {
        (Some(a), Some(b)) if a != b => Some(format!(
            "{} and {} say different things: notation v1.3 reads only {}, and notation's next major reads only {} once it exists. Make them the same, or remove the one this site's notation does not read",
            target.config.join(POLICY_FILES[0]).display(),
            POLICY_FILES[1],
            POLICY_FILES[0],
            POLICY_FILES[1],
        )),
        _ => None,
    }
}

/// Files in keyrite's trust stores under `config` that keyrite-import did not put there.
fn stray_files(installed: &Installed, target: &Target) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, l) in &installed.lineages {
        let third_parties = l.trust.iter().flat_map(|t| &t.third_parties);
        let dirs = ["ca", "tsa"].into_iter().flat_map(|kind| {
            std::iter::once(store_dir(target, kind, id)).chain(
                third_parties
                    .clone()
                    .map(move |t| third_party_store_dir(target, kind, id, &t.name)),
            )
        });
        for dir in dirs {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let known = target
                    .key(&entry.path())
                    .is_some_and(|k| installed.files.contains_key(&k));
                if !known {
                    problems.push(format!(
                        "{} was put into keyrite's trust store by hand",
                        entry.path().display()
                    ));
                }
            }
        }
    }
    problems
}

/// The installed state as `status` reports it.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The site's pins.
    pub pins: Vec<super::Pin>,
    /// Per lineage.
    pub lineages: Vec<LineageStatus>,
    /// Everything expiring within the threshold or changed by hand.
    pub problems: Vec<String>,
}

/// One lineage's installed state.
#[derive(Debug, Serialize)]
pub struct LineageStatus {
    /// Fingerprint, hex.
    pub lineage: String,
    /// Fingerprint, words.
    pub words: String,
    /// The trust bundle in force.
    pub trust: Option<TrustStatus>,
    /// The revocation bundle in force.
    pub revocation: Option<RevocationStatus>,
    /// When `enforce` made its statements refuse every signature, its trust bundle having
    /// expired.
    pub enforced_at: Option<String>,
}

/// A trust bundle in force.
#[derive(Debug, Serialize)]
pub struct TrustStatus {
    /// Version.
    pub version: u64,
    /// Expiry.
    pub expires_at: String,
    /// Whole days until expiry.
    pub days_left: i64,
    /// Roots and TSA roots.
    pub roots: Vec<RootStatus>,
    /// Policy statement names.
    pub policy: Vec<String>,
    /// Policy statements, with their timestamp rules.
    pub statements: Vec<StatementStatus>,
    /// The third parties the lineage vouches for.
    pub third_parties: Vec<ThirdPartyStatus>,
}

/// A policy statement a trust bundle installed.
#[derive(Debug, Serialize)]
pub struct StatementStatus {
    /// Its name.
    pub name: String,
    /// The `tsa:` stores it trusts (the lineage's, or a third party's).
    pub tsa_stores: Vec<String>,
    /// Its `verifyTimestamp` rule when it trusts TSA roots (notation's default, `always`,
    /// when the statement names none); `None` when it trusts none.
    pub verify_timestamp: Option<String>,
}

impl StatementStatus {
    /// The status of a statement as installed in notation's form.
    fn of(statement: &serde_json::Value) -> Option<Self> {
        let name = statement.get("name")?.as_str()?.to_owned();
        let tsa_stores: Vec<String> = statement
            .get("trustStores")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().filter(|s| s.starts_with("tsa:")))
            .map(str::to_owned)
            .collect();
        let rule = statement
            .pointer("/signatureVerification/verifyTimestamp")
            .and_then(|r| r.as_str())
            .unwrap_or("always");
        Some(Self {
            verify_timestamp: (!tsa_stores.is_empty()).then(|| rule.to_owned()),
            name,
            tsa_stores,
        })
    }

    /// A line for `status`.
    pub fn describe(&self) -> String {
        let stores = self.tsa_stores.join(", ");
        match self.verify_timestamp.as_deref() {
            Some("afterCertExpiry") => format!(
                "{}: trusts {stores} under verifyTimestamp afterCertExpiry: a signature needs a timestamp once a certificate of its chain has expired",
                self.name
            ),
            Some(rule) => format!(
                "{}: trusts {stores} under verifyTimestamp {rule}: every signature must carry a timestamp",
                self.name
            ),
            None => format!(
                "{}: no TSA root: a signature verifies only while its certificates are valid",
                self.name
            ),
        }
    }
}

/// A third party's root a lineage vouches for.
#[derive(Debug, Serialize)]
pub struct ThirdPartyStatus {
    /// Its name.
    pub name: String,
    /// Its root's fingerprint, hex.
    pub sha256: String,
    /// Its root's fingerprint, words.
    pub words: String,
    /// Its root's notAfter.
    pub not_after: String,
    /// Whole days until then.
    pub days_left: i64,
    /// Its TSA root's fingerprint, when it has one.
    pub tsa_root: Option<String>,
    /// The repositories it is trusted for.
    pub scopes: Vec<String>,
    /// The identities its signing certificates must match.
    pub identities: Vec<String>,
    /// The CDP URLs its CRLs may fill.
    pub crl_urls: Vec<String>,
    /// The trust policy statement that trusts it.
    pub statement: String,
}

/// An installed root.
#[derive(Debug, Serialize)]
pub struct RootStatus {
    /// Fingerprint, hex.
    pub sha256: String,
    /// Fingerprint, words.
    pub words: String,
    /// notAfter.
    pub not_after: String,
    /// Whole days until notAfter.
    pub days_left: i64,
}

/// A revocation bundle in force.
#[derive(Debug, Serialize)]
pub struct RevocationStatus {
    /// Version.
    pub version: u64,
    /// Expiry.
    pub expires_at: String,
    /// Whole days until expiry.
    pub days_left: i64,
    /// CRLs.
    pub crls: Vec<CrlStatus>,
}

/// An installed CRL.
#[derive(Debug, Serialize)]
pub struct CrlStatus {
    /// Issuing root, hex.
    pub issuer: String,
    /// nextUpdate.
    pub next_update: String,
    /// Whole days until nextUpdate.
    pub days_left: i64,
    /// The CDP URLs.
    pub urls: Vec<String>,
    /// The third party whose CRL it is, when not the lineage's.
    pub third_party: Option<String>,
}
