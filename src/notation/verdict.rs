//! The verdict notation v1.3.2 reaches on a signature by a given chain, judged from the
//! chain and the host's files alone, in notation's order: the trust policy and the statement
//! for the repository; integrity; authenticity (trust stores, then trusted identities);
//! authentic timestamp (certificate validity, or a timestamp the signature must carry);
//! revocation. Each check is enforced, logged or skipped as the statement's level and
//! overrides say.

use std::cell::OnceCell;
use std::path::Path;

use der::{DateTime, Encode};
use serde::Serialize;
use x509_cert::Certificate;

use super::chain::{integrity, name};
use super::dn;
use super::policy::{Action, Document, Level, Statement};
use super::revocation::{self, Status};
use super::store;

/// The answers a verdict can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// notation verifies a signature by this chain.
    Trusted,
    /// notation refuses it: no trusted root, an identity that does not match, a broken rule,
    /// a policy it rejects, or a revocation status it cannot know.
    Untrusted,
    /// A certificate of the chain has expired.
    Expired,
    /// A certificate of the chain is revoked.
    Revoked,
    /// notation verifies only a signature that carries an RFC 3161 timestamp from a TSA the
    /// statement trusts, made while every certificate was valid; it refuses one without.
    TimestampRequired,
}

impl Outcome {
    /// The word `check` prints.
    pub fn word(self) -> &'static str {
        match self {
            Self::Trusted => "trusted",
            Self::Untrusted => "untrusted",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::TimestampRequired => "timestamp-required",
        }
    }
}

/// A verdict and why.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The answer.
    pub outcome: Outcome,
    /// Why, in a sentence.
    pub reason: String,
    /// What a signature by the chain needs by way of a timestamp under the statement that
    /// applies, in a sentence: whether one is required now, only after the chain expires, or
    /// never checked. `None` when no statement applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

fn verdict(outcome: Outcome, reason: impl Into<String>) -> Verdict {
    Verdict {
        outcome,
        reason: reason.into(),
        timestamp: None,
    }
}

/// A notation host: its config directory (trust policy, trust stores) and cache (CRLs).
#[derive(Clone, Copy)]
pub struct Host<'a> {
    /// `{NOTATION_CONFIG}`.
    pub config: &'a Path,
    /// `{NOTATION_CACHE}`.
    pub cache: &'a Path,
}

/// What notation concludes on this host about a signature by `chain` (leaf first) on an
/// artifact in `repository`, at `at`.
pub fn for_repository(
    host: Host<'_>,
    chain: &[Certificate],
    at: DateTime,
    repository: &str,
) -> Verdict {
    let doc = match Document::load(host.config) {
        Ok(doc) => doc,
        Err(e) => return verdict(Outcome::Untrusted, e),
    };
    if let Err(e) = doc.validate() {
        return verdict(
            Outcome::Untrusted,
            format!(
                "notation rejects the whole trust policy, so it verifies nothing on this host: {e}"
            ),
        );
    }
    let Some(statement) = doc.applicable(repository) else {
        return verdict(Outcome::Untrusted, {
            let mut scopes: Vec<&str> = doc
                .statements
                .iter()
                .flat_map(|s| s.registry_scopes.iter().map(String::as_str))
                .collect();
            scopes.sort_unstable();
            scopes.dedup();
            format!(
                "no trust policy statement applies to {repository}, so notation verifies \
                     nothing there; the statements' scopes are: {}",
                if scopes.is_empty() {
                    "none".to_owned()
                } else {
                    scopes.join(", ")
                }
            )
        });
    };
    let level = match statement.verification_level() {
        Ok(l) => l,
        Err(e) => return verdict(Outcome::Untrusted, e),
    };
    if level.name == "skip" {
        return verdict(
            Outcome::Trusted,
            format!(
                "statement '{}' skips verification for {repository}: notation does not check the signature",
                statement.name
            ),
        );
    }
    let trusted = statement
        .stores("ca")
        .iter()
        .map(|s| store::read(host.config, "ca", s))
        .collect::<Result<Vec<_>, _>>()
        .map(|stores| stores.into_iter().flatten().map(|(_, der)| der).collect());
    let mut need = timestamp_need(statement, chain, level.authentic_timestamp);
    let judged = Judged::new(chain, at, host.cache, level, Some(statement));
    // The verdict is notation's on a signature without a timestamp, which a statement that
    // requires one refuses before revocation is looked at; a timestamped one gets that far.
    if statement.has_tsa()
        && judged.level.revocation == Action::Enforce
        && let Status::Revoked(why) | Status::Unknown(why) = judged.revocation()
    {
        need.push_str(&format!(
            "; a timestamp does not help this chain, as notation refuses a timestamped signature too: {why}"
        ));
    }
    Verdict {
        timestamp: Some(need),
        ..judged.judge(trusted)
    }
}

/// What a signature by `chain` needs by way of a timestamp under `statement`, whose level
/// takes `action` on the authentic-timestamp check: notation's rules, as the verdict applies
/// them, stated for the chain's lifetime rather than for one moment.
fn timestamp_need(statement: &Statement, chain: &[Certificate], action: Action) -> String {
    if action == Action::Skip {
        return format!(
            "statement '{}' skips the authentic timestamp check: a signature by this chain needs no timestamp",
            statement.name
        );
    }
    let first_to_expire = chain
        .iter()
        .min_by_key(|c| c.tbs_certificate().validity().not_after.to_unix_duration());
    let until = first_to_expire.map_or_else(String::new, |c| {
        format!(
            "{} ({} expires then)",
            c.tbs_certificate().validity().not_after,
            name(c)
        )
    });
    let tsa = statement
        .stores("tsa")
        .iter()
        .map(|t| format!("tsa:{t}"))
        .collect::<Vec<_>>()
        .join(", ");
    let need = if !statement.has_tsa() {
        format!(
            "statement '{}' trusts no TSA root, so notation ignores any timestamp: a signature by this chain verifies only until {until}",
            statement.name
        )
    } else if statement.verify_timestamp == "afterCertExpiry" {
        format!(
            "under verifyTimestamp afterCertExpiry a signature by this chain verifies with or without a timestamp until {until}; after that, only one carrying a timestamp from {tsa} made while every certificate was valid"
        )
    } else {
        format!(
            "under verifyTimestamp always every signature by this chain must carry a timestamp from {tsa} made while every certificate was valid; one without is refused, even before {until}"
        )
    };
    if action == Action::Log {
        format!("{need} (the statement's level only logs a failure)")
    } else {
        need
    }
}

/// What notation would conclude if `stores` (`ca` store names) were a strict statement's
/// stores with any identity trusted: whether the chain leads to them, is valid at `at` and is
/// not revoked.
pub fn against_stores(
    host: Host<'_>,
    chain: &[Certificate],
    at: DateTime,
    stores: &[String],
) -> Verdict {
    let mut trusted = Vec::new();
    for s in stores {
        // A store that cannot be read trusts nothing; the verdict says so if nothing else does.
        if let Ok(certs) = store::read(host.config, "ca", s) {
            trusted.extend(certs.into_iter().map(|(_, der)| der));
        }
    }
    let level = Level {
        name: "strict",
        integrity: Action::Enforce,
        authenticity: Action::Enforce,
        authentic_timestamp: Action::Enforce,
        expiry: Action::Enforce,
        revocation: Action::Enforce,
    };
    let judged = Judged::new(chain, at, host.cache, level, None);
    judged.judge(Ok(trusted))
}

struct Judged<'a> {
    chain: &'a [Certificate],
    at: DateTime,
    cache: &'a Path,
    level: Level,
    statement: Option<&'a Statement>,
    /// The chain's revocation status, read from the CRL cache once when first asked.
    revocation: OnceCell<Status>,
}

/// A failed check under its action: enforced, it is the verdict; logged, it is noted.
enum Stage {
    Pass,
    Fail(Verdict),
}

impl<'a> Judged<'a> {
    fn new(
        chain: &'a [Certificate],
        at: DateTime,
        cache: &'a Path,
        level: Level,
        statement: Option<&'a Statement>,
    ) -> Self {
        Judged {
            chain,
            at,
            cache,
            level,
            statement,
            revocation: OnceCell::new(),
        }
    }

    /// The chain's revocation status at `at`, by the CRLs in the cache.
    fn revocation(&self) -> &Status {
        self.revocation
            .get_or_init(|| revocation::status(self.chain, self.at, self.cache))
    }

    fn judge(&self, trusted: Result<Vec<Vec<u8>>, String>) -> Verdict {
        if let Err(e) = integrity(self.chain) {
            return verdict(Outcome::Untrusted, e);
        }
        let mut logged = Vec::new();
        // notation's order: authenticity, then the authentic timestamp (a signature without
        // a timestamp its statement requires fails here, before revocation is looked at),
        // then revocation.
        let stages = [
            (self.level.authenticity, self.authenticity(trusted)),
            (self.level.authentic_timestamp, self.authentic_timestamp()),
        ];
        for (action, stage) in stages {
            let Stage::Fail(v) = stage else { continue };
            match action {
                Action::Enforce => return v,
                Action::Log => logged.push(v.reason),
                Action::Skip => {}
            }
        }
        if self.level.revocation != Action::Skip {
            let v = match self.revocation() {
                Status::Good => None,
                Status::Revoked(why) => Some(verdict(Outcome::Revoked, why.clone())),
                Status::Unknown(why) => Some(verdict(Outcome::Untrusted, why.clone())),
            };
            match (v, self.level.revocation) {
                (Some(v), Action::Enforce) => return v,
                (Some(v), _) => logged.push(v.reason),
                (None, _) => {}
            }
        }
        let mut reason = format!(
            "the chain leads to the trusted {} and nothing in it is expired or revoked",
            self.chain.last().map(name).unwrap_or_default()
        );
        if let Some(s) = self.statement {
            reason.push_str(&format!(
                " (statement '{}', level {})",
                s.name, self.level.name
            ));
        }
        if !logged.is_empty() {
            reason = format!(
                "the statement's level only logs what failed: {}",
                logged.join("; ")
            );
        }
        verdict(Outcome::Trusted, reason)
    }

    /// The chain holds a certificate of the statement's `ca` stores, and its leaf is one of
    /// the statement's trusted identities.
    fn authenticity(&self, trusted: Result<Vec<Vec<u8>>, String>) -> Stage {
        let untrusted = |why: String| Stage::Fail(verdict(Outcome::Untrusted, why));
        let trusted = match trusted {
            Ok(t) => t,
            Err(e) => {
                return untrusted(format!(
                    "notation cannot load the statement's trust stores: {e}"
                ));
            }
        };
        let in_store = self
            .chain
            .iter()
            .any(|c| c.to_der().is_ok_and(|d| trusted.contains(&d)));
        if let Some(s) = self.statement.filter(|s| s.stores("ca").is_empty()) {
            return untrusted(format!(
                "statement '{}' names no ca: trust store, and notation trusts only ca: stores for the notary.x509 signatures `notation sign` makes (signingAuthority: stores serve notary.x509.signingAuthority ones)",
                s.name
            ));
        }
        if !in_store {
            let root = self.chain.last().map(name).unwrap_or_default();
            return untrusted(format!(
                "no certificate of the chain (rooted at {root}) is in {}",
                self.statement.map_or_else(
                    || "keyrite's trust stores".to_owned(),
                    |s| format!(
                        "the trust stores of statement '{}' ({})",
                        s.name,
                        s.stores("ca").join(", ")
                    )
                )
            ));
        }
        let Some(statement) = self.statement else {
            return Stage::Pass;
        };
        let identities = match statement.x509_identities() {
            Ok(None) => return Stage::Pass,
            Ok(Some(ids)) => ids,
            Err(e) => return untrusted(e),
        };
        let Some(leaf) = self.chain.first() else {
            return untrusted("the chain is empty".into());
        };
        let subject = match dn::subject(leaf.tbs_certificate().subject()) {
            Ok(s) => s,
            Err(e) => return untrusted(format!("the signing certificate {}: {e}", name(leaf))),
        };
        if identities.iter().any(|i| dn::is_subset(i, &subject)) {
            return Stage::Pass;
        }
        untrusted(format!(
            "the signing certificate {} is none of the trusted identities of statement '{}': {}",
            name(leaf),
            statement.name,
            statement.trusted_identities.join("; ")
        ))
    }

    /// Without a `tsa:` store (or with `afterCertExpiry` while nothing has expired), every
    /// certificate must be valid now; otherwise the signature must carry a timestamp.
    fn authentic_timestamp(&self) -> Stage {
        let at = self.at.unix_duration();
        let expired = self
            .chain
            .iter()
            .find(|c| at > c.tbs_certificate().validity().not_after.to_unix_duration());
        if let Some(s) = self.statement.filter(|s| s.has_tsa()) {
            let after_expiry = s.verify_timestamp == "afterCertExpiry";
            if !after_expiry || expired.is_some() {
                let when = match expired {
                    Some(c) => format!(
                        "; {} expired on {}, so the timestamp must fall inside every certificate's validity",
                        name(c),
                        c.tbs_certificate().validity().not_after
                    ),
                    None => String::new(),
                };
                return Stage::Fail(verdict(
                    Outcome::TimestampRequired,
                    format!(
                        "statement '{}' trusts TSA roots ({}) with verifyTimestamp {}: notation verifies only a signature carrying an RFC 3161 timestamp from one of them, and refuses one without{when}",
                        s.name,
                        s.stores("tsa")
                            .iter()
                            .map(|t| format!("tsa:{t}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        if after_expiry {
                            "afterCertExpiry"
                        } else {
                            "always"
                        }
                    ),
                ));
            }
        }
        for cert in self.chain {
            let v = cert.tbs_certificate().validity();
            if at < v.not_before.to_unix_duration() {
                return Stage::Fail(verdict(
                    Outcome::Untrusted,
                    format!("{} is not valid before {}", name(cert), v.not_before),
                ));
            }
            if at > v.not_after.to_unix_duration() {
                return Stage::Fail(verdict(
                    Outcome::Expired,
                    format!("{} expired on {}", name(cert), v.not_after),
                ));
            }
        }
        Stage::Pass
    }
}
