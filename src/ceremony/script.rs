//! Ceremony scripts (reviewed TOML) and environment profiles (the machine-specific part).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::CeremonyError;
use crate::fingerprint::Fingerprint;

/// What a step does; each is a call into the same library the CLI uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Instructions and confirmations only.
    Note,
    /// `root create` (token-only, or backed up with `shares` and `custodians`).
    RootCreate,
    /// `shares verify` on the cards on the input medium, or those this ceremony made.
    SharesVerify,
    /// `root recover --verify-only` from the first T cards.
    RecoverVerify,
    /// `root recover` from cards on the input medium into the profile's root token.
    RootRecover,
    /// A stand-in publisher key and CSR (rehearsals only).
    PublisherKey,
    /// `delegate issue` from a CSR on the input medium.
    DelegateIssue,
    /// `crl issue`, revoking delegates by name.
    CrlIssue,
    /// `bundle trust`.
    BundleTrust,
    /// `bundle revocation` with the latest CRL.
    BundleRevocation,
}

impl Action {
    /// The action's name as scripts write it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Note => "note",
            Action::RootCreate => "root-create",
            Action::SharesVerify => "shares-verify",
            Action::RecoverVerify => "recover-verify",
            Action::RootRecover => "root-recover",
            Action::PublisherKey => "publisher-key",
            Action::DelegateIssue => "delegate-issue",
            Action::CrlIssue => "crl-issue",
            Action::BundleTrust => "bundle-trust",
            Action::BundleRevocation => "bundle-revocation",
        }
    }
}

/// One numbered step.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A short title.
    pub title: String,
    /// What the officers are told.
    pub instruction: String,
    /// What happens.
    pub action: Action,
    /// The roles that must confirm the step before it runs.
    pub confirm: Vec<String>,
    /// Parameters for this step, over the script's `[parameters]`.
    #[serde(default)]
    pub with: toml::Table,
}

/// A ceremony script.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// A machine name (`root-creation-backed-up`).
    pub name: String,
    /// What the ceremony is, for people.
    pub title: String,
    /// Role key → role description.
    pub roles: BTreeMap<String, String>,
    /// Parameters shared by the steps.
    #[serde(default)]
    pub parameters: toml::Table,
    /// The steps, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// Parameters of the actions, as merged from `[parameters]` and a step's `with`.
pub mod params {
    use serde::Deserialize;

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
    }

    /// `bundle-revocation`.
    #[derive(Deserialize)]
    pub struct BundleRevocation {
        /// The revocation bundle's version.
        pub revocation_version: u64,
        /// The CRL distribution point URL.
        pub crl_url: String,
    }
}

impl Step {
    /// The step's parameters: the script's, overridden by the step's `with`.
    pub fn params<T: DeserializeOwned>(&self, script: &Script) -> Result<T, String> {
        let mut merged = script.parameters.clone();
        merged.extend(self.with.clone());
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }

    fn check_params(&self, script: &Script) -> Result<(), String> {
        use params::*;
        match self.action {
            Action::Note => Ok(()),
            Action::SharesVerify => self.params::<SharesVerify>(script).map(drop),
            Action::RecoverVerify => self.params::<RecoverVerify>(script).map(drop),
            Action::RootRecover => self.params::<RootRecover>(script).map(drop),
            Action::RootCreate => self.params::<RootCreate>(script).map(drop),
            Action::PublisherKey => self.params::<PublisherKey>(script).map(drop),
            Action::DelegateIssue => self.params::<DelegateIssue>(script).map(drop),
            Action::CrlIssue => self.params::<CrlIssue>(script).map(drop),
            Action::BundleTrust => self.params::<BundleTrust>(script).map(drop),
            Action::BundleRevocation => self.params::<BundleRevocation>(script).map(drop),
        }
    }
}

/// Reads and checks a script; returns it with the SHA-256 of its bytes, which witnesses
/// compare with their reviewed copy.
pub fn load_script(path: &Path) -> Result<(Script, Fingerprint), CeremonyError> {
    let bad = |m: String| CeremonyError::Script(format!("{}: {m}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let script: Script = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    if script.steps.is_empty() {
        return Err(bad("it has no [[step]]".into()));
    }
    for (i, step) in script.steps.iter().enumerate() {
        let n = i + 1;
        if step.confirm.is_empty() {
            return Err(bad(format!(
                "step {n} ('{}') names no confirming role: every step is confirmed by at least one role",
                step.title
            )));
        }
        if let Some(role) = step.confirm.iter().find(|r| !script.roles.contains_key(*r)) {
            return Err(bad(format!(
                "step {n} ('{}') is confirmed by '{role}', which [roles] does not define",
                step.title
            )));
        }
        step.check_params(&script).map_err(|e| {
            bad(format!(
                "step {n} ('{}', {}): {e}",
                step.title,
                step.action.name()
            ))
        })?;
    }
    Ok((script, Fingerprint::of(&bytes)))
}

/// Where a ceremony runs: the PKCS#11 module, the tokens by role, and the media.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The root key's token URI (with its pin-source).
    pub root_token: String,
    /// Backup tokens for a backed-up root.
    #[serde(default)]
    pub backup_tokens: Vec<String>,
    /// The successor root's token, for a rotation.
    pub successor_token: Option<String>,
    /// The input medium (CSRs, policy files).
    pub input: PathBuf,
    /// The output medium (every artefact).
    pub output: PathBuf,
    /// The root certificate, for ceremonies after the root's own.
    pub root_cert: Option<PathBuf>,
    /// The issuance ledger's directory (default: `ledger` in the output directory).
    pub ledger: Option<PathBuf>,
    /// Whether this is a rehearsal: subjects and the transcript are marked.
    #[serde(default)]
    pub rehearsal: bool,
}

impl Profile {
    /// The ledger directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.ledger
            .clone()
            .unwrap_or_else(|| self.output.join("ledger"))
    }
}

/// Reads and checks a profile; returns it with its SHA-256.
pub fn load_profile(path: &Path) -> Result<(Profile, Fingerprint), CeremonyError> {
    let bad = |m: String| CeremonyError::Profile(format!("{}: {m}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let profile: Profile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    if !profile.module.is_file() {
        return Err(bad(format!(
            "the PKCS#11 module {} does not exist: install the token's module or correct `module`",
            profile.module.display()
        )));
    }
    for uri in std::iter::once(&profile.root_token)
        .chain(&profile.backup_tokens)
        .chain(&profile.successor_token)
    {
        uri.parse::<crate::token::Pkcs11Uri>()
            .map_err(|e| bad(format!("token URI: {e}")))?;
    }
    Ok((profile, Fingerprint::of(&bytes)))
}
