//! The parameters of each step action, as merged from a script's `[parameters]` and a step's
//! `with`, and the checks each must pass when the script is loaded.

use serde::Deserialize;

use crate::bundle::make::TimestampChoice;
use crate::ca::root::{MINIMUM_BACKUP, below_minimum_backup};
use crate::keys::KeyAlgorithm;
use crate::pki::name::parse_subject;
use crate::pki::validity::Period;
use crate::shares::{Threshold, ThresholdError};

/// `root-create`.
#[derive(Deserialize)]
pub struct RootCreate {
    /// The root's subject.
    pub subject: String,
    /// Key algorithm.
    #[serde(default = "p384")]
    pub algorithm: String,
    /// Validity (`20y`).
    pub validity: String,
    /// `T-of-N`, for a backed-up root.
    pub shares: Option<String>,
    /// `NAME[=RECIPIENT]`, one per share.
    #[serde(default)]
    pub custodians: Vec<String>,
    /// Make the successor root on the profile's `successor_token` (a rotation).
    #[serde(default)]
    pub successor: bool,
    /// The site's reason for a backup below [`MINIMUM_BACKUP`]: required then, refused
    /// otherwise, and recorded in the transcript.
    pub below_minimum: Option<String>,
}

impl RootCreate {
    /// The backup's threshold; `None` for a root without one.
    pub fn threshold(&self) -> Result<Option<Threshold>, ThresholdError> {
        self.shares.as_deref().map(str::parse).transpose()
    }

    /// For a root made below the minimum backup: what it lacks and the site's reason, as the
    /// officers are shown it and the transcript records it.
    pub fn below_minimum_record(&self) -> Option<String> {
        let reason = self.below_minimum.as_deref()?;
        let lacks = below_minimum_backup(self.threshold().ok()?)?;
        Some(format!(
            "BELOW THE MINIMUM BACKUP: {lacks}; the site's reason: {reason}"
        ))
    }
}

/// `shares-verify`.
#[derive(Deserialize)]
pub struct SharesVerify {
    /// Card files on the input medium; none: the cards this ceremony made.
    #[serde(default)]
    pub cards: Vec<String>,
}

/// `root-recover`.
#[derive(Deserialize)]
pub struct RootRecover {
    /// Card files on the input medium; none: every `share-*` there.
    #[serde(default)]
    pub cards: Vec<String>,
}

fn p384() -> String {
    "p384".into()
}

/// `recover-verify`.
#[derive(Deserialize)]
pub struct RecoverVerify {
    /// `T-of-N`: the first T cards are used.
    pub shares: String,
    /// Card files on the input medium; none: the cards this ceremony made.
    #[serde(default)]
    pub cards: Vec<String>,
}

/// `publisher-key`.
#[derive(Deserialize)]
pub struct PublisherKey {
    /// The publisher's name: the CSR is `<name>.csr`.
    pub name: String,
    /// The publisher's subject.
    pub publisher_subject: String,
}

/// `delegate-issue`.
#[derive(Deserialize)]
pub struct DelegateIssue {
    /// The CSR's name on the input medium, without `.csr`.
    pub name: String,
    /// `signing` or `ca`.
    #[serde(default = "signing")]
    pub profile: String,
    /// Validity of the delegate (`1y`).
    pub delegate_validity: String,
    /// The CRL distribution point URL.
    pub crl_url: String,
    /// Issue even when another key holds an active certificate for the CSR's subject (a key
    /// rollover where both keys must sign for a while).
    #[serde(default)]
    pub allow_subject_held_by_another_key: bool,
    /// Issue even when the CSR's key holds an active certificate for another subject (one key
    /// shared by two publishers or build systems).
    #[serde(default)]
    pub allow_key_certified_for_another_subject: bool,
}

fn signing() -> String {
    "signing".into()
}

/// `crl-issue`.
#[derive(Deserialize)]
pub struct CrlIssue {
    /// Delegates (by name) to revoke.
    #[serde(default)]
    pub revoke: Vec<String>,
    /// The CRL's lifetime (`30d`).
    pub crl_next_update: String,
}

/// `bundle-trust`.
#[derive(Deserialize)]
pub struct BundleTrust {
    /// The trust bundle's version.
    pub trust_version: u64,
    /// How long it is valid (`1y`).
    pub trust_expires: String,
    /// A policy file on the input medium.
    pub policy: Option<String>,
    /// Carry the successor root made earlier, which cosigns (a rotation).
    #[serde(default)]
    pub add_successor: bool,
    /// Leave the signing root out (root revocation, or the end of an overlap).
    #[serde(default)]
    pub retire_signing_root: bool,
    /// The CDP URL the lineage's delegates carry, declared so that its revocation bundles
    /// may fill it (the script's own `crl_url` when the step names none).
    pub crl_url: Option<String>,
    /// Third parties' roots the site vouches for, their files on the input medium.
    #[serde(default)]
    pub third_parties: Vec<ThirdParty>,
    /// The lineage's TSA roots, on the input medium. The policy's statements trust them
    /// under `afterCertExpiry` unless they name another `verify_timestamp`.
    #[serde(default)]
    pub tsa_roots: Vec<String>,
    /// The TSAs' timestamping certificates, on the input medium: checked against
    /// notation's rules and the TSA roots before the root signs.
    #[serde(default)]
    pub tsa_certs: Vec<String>,
}

/// A third party in a `bundle-trust` step.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThirdParty {
    /// Its name: 1 to 32 lowercase letters, digits and '-'.
    pub name: String,
    /// Its root certificate, on the input medium.
    pub root: String,
    /// The repositories it is trusted for.
    pub scopes: Vec<String>,
    /// The identities its signing certificates must match (`*` when none).
    #[serde(default)]
    pub identities: Vec<String>,
    /// Its TSA root, on the input medium.
    pub tsa_root: Option<String>,
    /// The rule its TSA root is used under (`afterCertExpiry` when left out).
    pub verify_timestamp: Option<TimestampChoice>,
    /// The CDP URLs its certificates carry.
    #[serde(default)]
    pub crl_urls: Vec<String>,
}

/// A third party's CRL in a `bundle-revocation` step.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThirdPartyCrl {
    /// The third party's name, as the trust bundle declares it.
    pub name: String,
    /// Its CRL, on the input medium.
    pub crl: String,
    /// Its root certificate, on the input medium: the CRL must verify under it.
    pub root: String,
    /// The CDP URLs the CRL answers for.
    pub urls: Vec<String>,
}

/// `bundle-revocation`.
#[derive(Deserialize)]
pub struct BundleRevocation {
    /// The revocation bundle's version.
    pub revocation_version: u64,
    /// The CRL distribution point URL.
    pub crl_url: String,
    /// Third parties' own CRLs, their files on the input medium.
    #[serde(default)]
    pub third_party_crls: Vec<ThirdPartyCrl>,
}

/// A step's parameters, checked when the script is loaded, before any step runs.
pub trait Check {
    /// What is wrong with the parameters, in a sentence.
    fn check(&self) -> Result<(), String>;
}

fn period(what: &str, v: &str) -> Result<(), String> {
    v.parse::<Period>()
        .map(drop)
        .map_err(|e| format!("{what}: {e}"))
}

fn file(what: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.contains('/') || v.starts_with('.') {
        Err(format!(
            "{what} '{v}' must be a plain file name on the input medium"
        ))
    } else {
        Ok(())
    }
}

fn url(v: &str) -> Result<(), String> {
    crate::bundle::valid_cdp_url(v)
        .then_some(())
        .ok_or_else(|| format!("crl_url '{v}' is not an http:// URL"))
}

fn cards(cards: &[String]) -> Result<(), String> {
    cards.iter().try_for_each(|c| file("card", c))
}

impl Check for SharesVerify {
    fn check(&self) -> Result<(), String> {
        cards(&self.cards)
    }
}

impl Check for RecoverVerify {
    fn check(&self) -> Result<(), String> {
        self.shares
            .parse::<Threshold>()
            .map_err(|e| e.to_string())?;
        cards(&self.cards)
    }
}

impl Check for RootRecover {
    fn check(&self) -> Result<(), String> {
        cards(&self.cards)
    }
}

impl Check for RootCreate {
    fn check(&self) -> Result<(), String> {
        parse_subject(&self.subject).map_err(|e| e.to_string())?;
        period("validity", &self.validity)?;
        let algorithm = self
            .algorithm
            .parse::<KeyAlgorithm>()
            .map_err(|e| e.to_string())?;
        algorithm.check_ca_key()?;
        let threshold = self.threshold().map_err(|e| e.to_string())?;
        match threshold {
            Some(t) => {
                if self.custodians.len() != usize::from(t.n) {
                    return Err(format!(
                        "shares {}-of-{} needs {} custodians, {} given",
                        t.t,
                        t.n,
                        t.n,
                        self.custodians.len()
                    ));
                }
                crate::keys::memory::MemoryKey::check_algorithm(algorithm)
                    .map_err(|e| e.to_string())?;
                // The same checks `root create` makes, so the ceremony stops before it starts.
                crate::shares::check_custodians(&self.custodians, t).map_err(|e| e.to_string())?;
            }
            None if !self.custodians.is_empty() => {
                return Err(
                    "custodians are given without shares: say shares = \"T-of-N\" for a backed-up root"
                        .into(),
                );
            }
            None => {}
        }
        match (
            below_minimum_backup(threshold),
            self.below_minimum.as_deref(),
        ) {
            (None, None) => Ok(()),
            (Some(lacks), None) => Err(format!(
                "{lacks}. Refused: {MINIMUM_BACKUP}. A site with a reason to go below it sets \
                 below_minimum = \"<the site's reason>\" in this step's `with`, and the \
                 transcript records the reason"
            )),
            (Some(_), Some(reason))
                if reason.trim().is_empty() || reason.chars().any(char::is_control) =>
            {
                Err("below_minimum must give the site's reason, in one line of text".into())
            }
            (Some(_), Some(_)) => Ok(()),
            (None, Some(_)) => Err(
                "below_minimum is set, but the backup meets the minimum: remove it, so that the \
                 transcript records no override that was not needed"
                    .into(),
            ),
        }
    }
}

impl Check for PublisherKey {
    fn check(&self) -> Result<(), String> {
        file("name", &self.name)?;
        parse_subject(&self.publisher_subject)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

impl Check for DelegateIssue {
    fn check(&self) -> Result<(), String> {
        file("name", &self.name)?;
        if !matches!(self.profile.as_str(), "signing" | "ca") {
            return Err(format!("profile '{}' is not signing or ca", self.profile));
        }
        period("delegate_validity", &self.delegate_validity)?;
        url(&self.crl_url)
    }
}

impl Check for CrlIssue {
    fn check(&self) -> Result<(), String> {
        period("crl_next_update", &self.crl_next_update)?;
        self.revoke
            .iter()
            .try_for_each(|r| match r.strip_prefix("serial:") {
                Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                    Ok(())
                }
                Some(_) => Err(format!("revoke '{r}': a serial is serial:<hex>")),
                None => file("revoke", r),
            })
    }
}

impl Check for BundleTrust {
    fn check(&self) -> Result<(), String> {
        if self.trust_version == 0 {
            return Err("trust_version starts at 1".into());
        }
        period("trust_expires", &self.trust_expires)?;
        self.crl_url.iter().try_for_each(|u| url(u))?;
        for t in &self.third_parties {
            if !crate::bundle::valid_third_party_name(&t.name) {
                return Err(format!(
                    "third party name '{}' is not 1 to 32 lowercase letters, digits and '-'",
                    t.name.escape_debug()
                ));
            }
            if t.scopes.is_empty() {
                return Err(format!("third party '{}' has no scopes", t.name));
            }
            file("third party root", &t.root)?;
            t.tsa_root
                .iter()
                .try_for_each(|f| file("third party TSA root", f))?;
            match (t.verify_timestamp, &t.tsa_root) {
                (Some(_), None) => {
                    return Err(format!(
                        "third party '{}' names a verify_timestamp rule but no tsa_root",
                        t.name
                    ));
                }
                (Some(TimestampChoice::Never), Some(_)) => {
                    return Err(format!(
                        "third party '{}' has a tsa_root and verify_timestamp = \"never\", which would leave it unused: leave out one of the two",
                        t.name
                    ));
                }
                _ => {}
            }
            t.crl_urls.iter().try_for_each(|u| url(u))?;
        }
        self.tsa_roots
            .iter()
            .try_for_each(|f| file("TSA root", f))?;
        self.tsa_certs
            .iter()
            .try_for_each(|f| file("TSA certificate", f))?;
        if !self.tsa_certs.is_empty() && self.tsa_roots.is_empty() {
            return Err("tsa_certs are checked against tsa_roots, and none is given".into());
        }
        if !self.tsa_roots.is_empty() && self.policy.is_none() {
            return Err(
                "tsa_roots are given without a policy, so no statement would trust them: give a policy or leave them out"
                    .into(),
            );
        }
        self.policy.iter().try_for_each(|f| file("policy", f))
    }
}

impl Check for BundleRevocation {
    fn check(&self) -> Result<(), String> {
        if self.revocation_version == 0 {
            return Err("revocation_version starts at 1".into());
        }
        for t in &self.third_party_crls {
            file("third party CRL", &t.crl)?;
            file("third party root", &t.root)?;
            if t.urls.is_empty() {
                return Err(format!("third party '{}''s CRL answers for no URL", t.name));
            }
            t.urls.iter().try_for_each(|u| url(u))?;
        }
        url(&self.crl_url)
    }
}
