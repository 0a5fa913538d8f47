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

pub use super::params;

impl Step {
    /// The step's parameters: the script's, overridden by the step's `with`.
    pub fn params<T: DeserializeOwned>(&self, script: &Script) -> Result<T, String> {
        let mut merged = script.parameters.clone();
        merged.extend(self.with.clone());
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }

    /// The parameters `action` reads; a `with` key outside them is a typo.
    fn fields(action: Action) -> &'static [&'static str] {
        match action {
            Action::Note => &[],
            Action::RootCreate => &[
                "subject",
                "algorithm",
                "validity",
                "shares",
                "custodians",
                "successor",
                "below_minimum",
            ],
            Action::SharesVerify => &["cards"],
            Action::RecoverVerify => &["shares", "cards"],
            Action::RootRecover => &["cards"],
            Action::PublisherKey => &["name", "publisher_subject"],
            Action::DelegateIssue => &[
                "name",
                "profile",
                "delegate_validity",
                "crl_url",
                "allow_subject_held_by_another_key",
                "allow_key_certified_for_another_subject",
            ],
            Action::CrlIssue => &["revoke", "crl_next_update"],
            Action::BundleTrust => &[
                "trust_version",
                "trust_expires",
                "policy",
                "add_successor",
                "retire_signing_root",
                "crl_url",
                "third_parties",
                "tsa_roots",
                "tsa_certs",
            ],
            Action::BundleRevocation => &["revocation_version", "crl_url", "third_party_crls"],
        }
    }

    /// Reads the step's parameters and checks every value, so a script that loads runs as it
    /// reads.
    fn check_params(&self, script: &Script) -> Result<(), String> {
        use params::*;
        if let Some(key) = self
            .with
            .keys()
            .find(|k| !Self::fields(self.action).contains(&k.as_str()))
        {
            return Err(format!(
                "`with` sets '{key}', which {} does not read",
                self.action.name()
            ));
        }
        match self.action {
            Action::Note => Ok(()),
            Action::SharesVerify => self.params::<SharesVerify>(script)?.check(),
            Action::RecoverVerify => self.params::<RecoverVerify>(script)?.check(),
            Action::RootRecover => self.params::<RootRecover>(script)?.check(),
            Action::RootCreate => self.params::<RootCreate>(script)?.check(),
            Action::PublisherKey => self.params::<PublisherKey>(script)?.check(),
            Action::DelegateIssue => self.params::<DelegateIssue>(script)?.check(),
            Action::CrlIssue => self.params::<CrlIssue>(script)?.check(),
            Action::BundleTrust => self.params::<BundleTrust>(script)?.check(),
            Action::BundleRevocation => self.params::<BundleRevocation>(script)?.check(),
        }
    }
}

/// A script's or profile's bytes: a page of TOML, opened without following a link or
/// blocking on a FIFO.
fn read_text_file(path: &Path) -> Result<Vec<u8>, String> {
    crate::sys::input::read(path, 1024 * 1024, crate::sys::input::Links::Refuse)
        .map_err(|e| format!("cannot read it: {e}"))
}

/// Reads and checks a script; returns it with the SHA-256 of its bytes, which witnesses
/// compare with their reviewed copy.
pub fn load_script(path: &Path) -> Result<(Script, Fingerprint), CeremonyError> {
    let bad = |m: String| CeremonyError::Script(format!("{}: {m}", path.display()));
    let bytes = read_text_file(path).map_err(&bad)?;
    let script = parse_script(&bytes).map_err(bad)?;
    Ok((script, Fingerprint::of(&bytes)))
}

/// Parses and checks a script's bytes: TOML, at least one step, every parameter read by a
/// step, every step confirmed by roles `[roles]` defines, and every step's parameters
/// readable by its action.
pub fn parse_script(bytes: &[u8]) -> Result<Script, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let script: Script =
        toml::from_str(text).map_err(|e| crate::sys::input::toml_error(text, &e))?;
    if script.steps.is_empty() {
        return Err("it has no [[step]]".into());
    }
    if let Some(key) = script.parameters.keys().find(|k| {
        !script
            .steps
            .iter()
            .any(|s| Step::fields(s.action).contains(&k.as_str()))
    }) {
        return Err(format!(
            "[parameters] sets '{key}', which no step reads: a typo?"
        ));
    }
    if script.parameters.contains_key("below_minimum") {
        return Err(
            "[parameters] sets below_minimum: set it in the `with` of the root-create step it \
             excuses, so that the override names one step"
                .into(),
        );
    }
    for (i, step) in script.steps.iter().enumerate() {
        let n = i + 1;
        if step.confirm.is_empty() {
            return Err(format!(
                "step {n} ('{}') names no confirming role: every step is confirmed by at least one role",
                step.title
            ));
        }
        if let Some(role) = step.confirm.iter().find(|r| !script.roles.contains_key(*r)) {
            return Err(format!(
                "step {n} ('{}') is confirmed by '{role}', which [roles] does not define",
                step.title
            ));
        }
        step.check_params(&script)
            .map_err(|e| format!("step {n} ('{}', {}): {e}", step.title, step.action.name()))?;
    }
    Ok(script)
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
    /// The input medium's device (`LABEL=…`, `UUID=…` or a path), mounted read-only at
    /// `input` only while a step reads from it. Without it, `input` is a plain directory.
    pub input_device: Option<String>,
    /// The output medium's device, mounted at `output` while the ceremony runs. Without it,
    /// `output` is a plain directory.
    pub output_device: Option<String>,
    /// The root certificate, for ceremonies after the root's own.
    pub root_cert: Option<PathBuf>,
    /// The root certificate's SHA-256 (hex, as root.fingerprint gives it): required with
    /// `root_cert`, which must match it.
    pub root_sha256: Option<String>,
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
    let bytes = read_text_file(path).map_err(&bad)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let profile: Profile =
        toml::from_str(text).map_err(|e| bad(crate::sys::input::toml_error(text, &e)))?;
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
        let parsed = uri
            .parse::<crate::keys::token::Pkcs11Uri>()
            .map_err(|e| bad(format!("token URI: {e}")))?;
        if parsed.pin_value.is_some() && !profile.rehearsal {
            return Err(bad(
                "a token URI carries pin-value, which only a rehearsal profile may: give the \
                 PIN at the prompt or through pin-source=file:PATH"
                    .into(),
            ));
        }
    }
    match (&profile.root_cert, &profile.root_sha256) {
        (Some(_), None) => {
            return Err(bad(
                "root_cert needs root_sha256, the certificate's SHA-256 from the root \
                 ceremony's paper record (root.fingerprint's sha256 line): the ceremony checks \
                 the file against it"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(bad("root_sha256 is given without root_cert".into()));
        }
        (_, Some(hex)) => {
            Fingerprint::parse(hex).map_err(|e| bad(format!("root_sha256: {e}")))?;
        }
        (None, None) => {}
    }
    Ok((profile, Fingerprint::of(&bytes)))
}
