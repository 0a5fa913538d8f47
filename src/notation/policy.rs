//! Trust policy documents as notation v1.3.2 loads, validates and applies them: the file it
//! reads, how its JSON is decoded, every rule of its validation (one broken statement, the
//! site's or keyrite's, fails every verification on the host), and which statement applies
//! to a repository.

use std::path::Path;

use super::go::json::{self, GoSlice, Kind, Reader, field_is};
use super::{dn, scope};

/// The trust policy file notation v1.3.x reads, in its config directory.
pub const POLICY_FILE: &str = "trustpolicy.json";
/// The file notation-go's next major reads first; notation v1.3.x ignores it.
pub const OCI_POLICY_FILE: &str = "trustpolicy.oci.json";

/// What notation does when one of its checks fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The failure is the verdict.
    Enforce,
    /// The failure is logged and verification goes on.
    Log,
    /// The check is not made.
    Skip,
}

impl Action {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "enforce" => Some(Self::Enforce),
            "log" => Some(Self::Log),
            "skip" => Some(Self::Skip),
            _ => None,
        }
    }
}

/// A verification level with its overrides applied: the action for each check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// `strict`, `permissive`, `audit`, `skip`, or `custom` once overridden.
    pub name: &'static str,
    /// The chain links up and follows the certificate rules (never overridden).
    pub integrity: Action,
    /// The chain leads to a trusted certificate and its leaf is a trusted identity.
    pub authenticity: Action,
    /// The certificates are valid at verification time (or at a timestamp).
    pub authentic_timestamp: Action,
    /// The signature's own expiry.
    pub expiry: Action,
    /// No certificate is revoked.
    pub revocation: Action,
}

const LEVELS: [Level; 4] = [
    Level {
        name: "strict",
        integrity: Action::Enforce,
        authenticity: Action::Enforce,
        authentic_timestamp: Action::Enforce,
        expiry: Action::Enforce,
        revocation: Action::Enforce,
    },
    Level {
        name: "permissive",
        integrity: Action::Enforce,
        authenticity: Action::Enforce,
        authentic_timestamp: Action::Log,
        expiry: Action::Log,
        revocation: Action::Log,
    },
    Level {
        name: "audit",
        integrity: Action::Enforce,
        authenticity: Action::Log,
        authentic_timestamp: Action::Log,
        expiry: Action::Log,
        revocation: Action::Log,
    },
    Level {
        name: "skip",
        integrity: Action::Skip,
        authenticity: Action::Skip,
        authentic_timestamp: Action::Skip,
        expiry: Action::Skip,
        revocation: Action::Skip,
    },
];

/// One trust policy statement, as decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Statement {
    /// Its name.
    pub name: String,
    /// The repositories it applies to, or `*`.
    pub registry_scopes: Vec<String>,
    /// `signatureVerification.level`.
    pub level: String,
    /// `signatureVerification.override`, check to action, in document order.
    pub overrides: Vec<(String, String)>,
    /// `signatureVerification.verifyTimestamp`, empty when absent.
    pub verify_timestamp: String,
    /// `TYPE:NAME` trust stores.
    pub trust_stores: Vec<String>,
    /// `*` or `x509.subject: DN` (other prefixes are for plugins).
    pub trusted_identities: Vec<String>,
}

/// A trust policy document, as decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    /// `version`.
    pub version: String,
    /// `trustPolicies`.
    pub statements: Vec<Statement>,
}

/// A statement while Go decodes it: slices keep their backing arrays, so that a repeated
/// key decodes over what an earlier one left (see [`json::slice_into`]).
#[derive(Default)]
struct Decoding {
    name: String,
    registry_scopes: GoSlice<String>,
    level: String,
    overrides: Vec<(String, String)>,
    verify_timestamp: String,
    trust_stores: GoSlice<String>,
    trusted_identities: GoSlice<String>,
}

impl Decoding {
    /// One member of a statement object (`TrustPolicy`).
    fn member(&mut self, r: &mut Reader<'_>, key: String) -> Result<(), String> {
        match key.as_str() {
            k if field_is(k, "name") => json::string_into(r, &mut self.name),
            k if field_is(k, "registryScopes") => {
                json::slice_into(r, &mut self.registry_scopes, json::string_into)
            }
            k if field_is(k, "signatureVerification") => {
                json::struct_into(r, |r, key| self.verification_member(r, key))
            }
            k if field_is(k, "trustStores") => {
                json::slice_into(r, &mut self.trust_stores, json::string_into)
            }
            k if field_is(k, "trustedIdentities") => {
                json::slice_into(r, &mut self.trusted_identities, json::string_into)
            }
            _ => r.skip(),
        }
    }

    /// One member of `signatureVerification` (a struct: repeated, it merges).
    fn verification_member(&mut self, r: &mut Reader<'_>, key: String) -> Result<(), String> {
        match key.as_str() {
            k if field_is(k, "level") => json::string_into(r, &mut self.level),
            k if field_is(k, "verifyTimestamp") => json::string_into(r, &mut self.verify_timestamp),
            k if field_is(k, "override") => self.decode_overrides(r),
            _ => r.skip(),
        }
    }

    /// `override`, a Go map: `null` empties it, an object adds its entries to it (a key
    /// already there takes the new value; a `null` value is the empty string).
    fn decode_overrides(&mut self, r: &mut Reader<'_>) -> Result<(), String> {
        match r.peek()? {
            Kind::Null => {
                self.overrides.clear();
                r.null()
            }
            Kind::Object => r.object(|r, check| {
                let mut action = String::new();
                json::string_into(r, &mut action)?;
                match self.overrides.iter_mut().find(|(c, _)| *c == check) {
                    Some(entry) => entry.1 = action,
                    None => self.overrides.push((check, action)),
                }
                Ok(())
            }),
            _ => Err(r.mismatch("an object")),
        }
    }

    fn finish(&self) -> Statement {
        Statement {
            name: self.name.clone(),
            registry_scopes: self.registry_scopes.as_slice().to_vec(),
            level: self.level.clone(),
            overrides: self.overrides.clone(),
            verify_timestamp: self.verify_timestamp.clone(),
            trust_stores: self.trust_stores.as_slice().to_vec(),
            trusted_identities: self.trusted_identities.as_slice().to_vec(),
        }
    }
}

const MALFORMED: &str = "the trust policy is malformed JSON for notation";

impl Statement {
    /// The statement's level with its overrides, by notation's `GetVerificationLevel`.
    pub fn verification_level(&self) -> Result<Level, String> {
        let name = &self.name;
        if self.level.is_empty() {
            return Err(format!("statement '{name}' has no verification level"));
        }
        let mut level = *LEVELS
            .iter()
            .find(|l| l.name == self.level)
            .ok_or_else(|| {
                format!(
                    "statement '{name}': level '{}' is not strict, permissive, audit or skip",
                    self.level
                )
            })?;
        if self.overrides.is_empty() {
            return Ok(level);
        }
        if level.name == "skip" {
            return Err(format!(
                "statement '{name}' is at level skip, which takes no override"
            ));
        }
        level.name = "custom";
        for (check, word) in &self.overrides {
            let action = Action::parse(word).ok_or_else(|| {
                format!("statement '{name}': override {check} '{word}' is not enforce, log or skip")
            })?;
            let slot = match check.as_str() {
                "integrity" => {
                    return Err(format!(
                        "statement '{name}': integrity can never be overridden"
                    ));
                }
                "authenticity" => &mut level.authenticity,
                "authenticTimestamp" => &mut level.authentic_timestamp,
                "expiry" => &mut level.expiry,
                "revocation" => &mut level.revocation,
                other => {
                    return Err(format!(
                        "statement '{name}': '{other}' is not a check notation can override (authenticity, authenticTimestamp, expiry, revocation)"
                    ));
                }
            };
            if action == Action::Skip && check != "revocation" {
                return Err(format!(
                    "statement '{name}': only revocation may be skipped, not {check}"
                ));
            }
            *slot = action;
        }
        Ok(level)
    }

    /// Whether the statement names a `tsa:` store, which turns timestamp verification on.
    pub fn has_tsa(&self) -> bool {
        self.trust_stores.iter().any(|s| s.starts_with("tsa:"))
    }

    /// The trust stores of `kind` (`ca`, `signingAuthority`, `tsa`), each once, in order.
    pub fn stores(&self, kind: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for store in &self.trust_stores {
            if let Some((k, n)) = store.split_once(':')
                && k == kind
                && !names.iter().any(|x| x == n)
            {
                names.push(n.to_owned());
            }
        }
        names
    }

    /// The `x509.subject:` identities, parsed; `None` when any identity is trusted (`*`).
    pub fn x509_identities(&self) -> Result<Option<Vec<dn::Dn>>, String> {
        if self.trusted_identities.iter().any(|i| i == "*") {
            return Ok(None);
        }
        let mut dns = Vec::new();
        for id in &self.trusted_identities {
            if let Some(value) = x509_subject(id) {
                dns.push(dn::parse(value)?);
            }
        }
        if dns.is_empty() {
            return Err(format!(
                "statement '{}' has no x509.subject trusted identity",
                self.name
            ));
        }
        Ok(Some(dns))
    }

    /// notation's `validatePolicyCore`: the name, the level and overrides, `verifyTimestamp`,
    /// and the stores and identities a level needs.
    fn validate_core(&self) -> Result<(), String> {
        let name = &self.name;
        if name.is_empty() {
            return Err("a statement has no name".into());
        }
        let level = self.verification_level()?;
        if !matches!(
            self.verify_timestamp.as_str(),
            "" | "always" | "afterCertExpiry"
        ) {
            return Err(format!(
                "statement '{name}': verifyTimestamp '{}' is not always or afterCertExpiry",
                self.verify_timestamp
            ));
        }
        if level.name == "skip" {
            if !self.trust_stores.is_empty() || !self.trusted_identities.is_empty() {
                return Err(format!(
                    "statement '{name}' skips verification but names trust stores or trusted identities"
                ));
            }
            return Ok(());
        }
        if self.trust_stores.is_empty() || self.trusted_identities.is_empty() {
            return Err(format!(
                "statement '{name}' needs both trust stores and trusted identities"
            ));
        }
        for store in &self.trust_stores {
            let Some((kind, store_name)) = store.split_once(':') else {
                return Err(format!(
                    "statement '{name}': trust store '{store}' is not TYPE:NAME"
                ));
            };
            if !matches!(kind, "ca" | "signingAuthority" | "tsa") {
                return Err(format!(
                    "statement '{name}': trust store type '{kind}' is not ca, signingAuthority or tsa"
                ));
            }
            if !valid_store_name(store_name) {
                return Err(format!(
                    "statement '{name}': trust store name '{store_name}' is not [a-zA-Z0-9_.-]+"
                ));
            }
        }
        self.validate_identities()
    }

    /// notation's `validateTrustedIdentities`: `*` alone, no empty identity, each with a
    /// prefix, every `x509.subject` a DN notation parses, and no two overlapping.
    fn validate_identities(&self) -> Result<(), String> {
        let name = &self.name;
        let ids = &self.trusted_identities;
        if ids.len() > 1 && ids.iter().any(|i| i == "*") {
            return Err(format!(
                "statement '{name}': the trusted identity '*' must stand alone"
            ));
        }
        let mut parsed: Vec<(&str, dn::Dn)> = Vec::new();
        for id in ids {
            if id.is_empty() {
                return Err(format!("statement '{name}' has an empty trusted identity"));
            }
            if id == "*" {
                continue;
            }
            if !id.contains(':') {
                return Err(format!(
                    "statement '{name}': trusted identity '{id}' has no 'PREFIX:' (x509.subject: for a certificate subject)"
                ));
            }
            if let Some(value) = x509_subject(id) {
                if value.is_empty() {
                    return Err(format!(
                        "statement '{name}': trusted identity '{id}' has no value"
                    ));
                }
                let dn = dn::parse(value)
                    .map_err(|e| format!("statement '{name}': trusted identity {e}"))?;
                parsed.push((id, dn));
            }
        }
        for (i, (a, dn_a)) in parsed.iter().enumerate() {
            for (j, (b, dn_b)) in parsed.iter().enumerate() {
                if i != j && dn::is_subset(dn_a, dn_b) {
                    return Err(format!(
                        "statement '{name}': trusted identities '{a}' and '{b}' overlap (every attribute of one is in the other), which notation refuses"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The DN of an `x509.subject:` identity, as notation cuts it (at the first `:`).
fn x509_subject(identity: &str) -> Option<&str> {
    identity
        .split_once(':')
        .filter(|(prefix, _)| *prefix == "x509.subject")
        .map(|(_, value)| value)
}

/// A trust store name notation accepts: `[a-zA-Z0-9_.-]+`.
pub fn valid_store_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

impl Document {
    /// Decodes a document as notation's Go JSON decoder does (see [`json`]): the first JSON
    /// value of the bytes, every member in document order, keys in any case by Go's folding,
    /// unknown fields ignored, a wrong type refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader::new(bytes);
        let mut version = String::new();
        let mut statements: GoSlice<Decoding> = GoSlice::default();
        json::struct_into(&mut r, |r, key| match key.as_str() {
            k if field_is(k, "version") => json::string_into(r, &mut version),
            k if field_is(k, "trustPolicies") => json::slice_into(r, &mut statements, |r, s| {
                json::struct_into(r, |r, key| s.member(r, key))
            }),
            _ => r.skip(),
        })
        .map_err(|e| format!("{MALFORMED} ({e})"))?;
        Ok(Self {
            version,
            statements: statements.as_slice().iter().map(Decoding::finish).collect(),
        })
    }

    /// Loads `{config}/trustpolicy.json` as notation v1.3.2 does: absent, a link, a
    /// directory, unreadable or malformed, and notation verifies nothing.
    pub fn load(config: &Path) -> Result<Self, String> {
        let path = config.join(POLICY_FILE);
        let meta = match path.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let oci = if config.join(OCI_POLICY_FILE).exists() {
                    format!(" ({OCI_POLICY_FILE} is there, but notation v1.3 does not read it)")
                } else {
                    String::new()
                };
                return Err(format!(
                    "there is no {}{oci}, so notation verifies nothing on this host",
                    path.display()
                ));
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if !meta.file_type().is_file() {
            return Err(format!(
                "{} is not a regular file (notation refuses links and directories)",
                path.display()
            ));
        }
        let bytes = super::read_bounded(&path, super::MAX_POLICY_BYTES)?;
        Self::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// notation's `Document.Validate`: every rule, over every statement.
    pub fn validate(&self) -> Result<(), String> {
        if self.version.is_empty() {
            return Err("the document has no version".into());
        }
        if self.version != "1.0" {
            return Err(format!("version '{}' is not 1.0", self.version));
        }
        if self.statements.is_empty() {
            return Err("the document has no statements".into());
        }
        let mut names = std::collections::HashSet::new();
        for s in &self.statements {
            if !names.insert(s.name.as_str()) {
                return Err(format!("two statements are named '{}'", s.name));
            }
            s.validate_core()?;
        }
        let mut scopes: Vec<&str> = Vec::new();
        for s in &self.statements {
            if s.registry_scopes.is_empty() {
                return Err(format!("statement '{}' has no registry scopes", s.name));
            }
            if s.registry_scopes.len() > 1 && s.registry_scopes.iter().any(|r| r == "*") {
                return Err(format!(
                    "statement '{}': the registry scope '*' must stand alone",
                    s.name
                ));
            }
            for r in &s.registry_scopes {
                if r != "*" {
                    scope::check(r).map_err(|e| format!("statement '{}': {e}", s.name))?;
                }
                scopes.push(r);
            }
        }
        scopes.sort_unstable();
        if let Some(w) = scopes.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "registry scope '{}' is in more than one statement; notation allows one statement per scope",
                w[0]
            ));
        }
        Ok(())
    }

    /// The statement notation applies to repository `scope`: the one listing it, else the
    /// one with `*`.
    pub fn applicable(&self, repository: &str) -> Option<&Statement> {
        self.statements
            .iter()
            .find(|s| s.registry_scopes.iter().any(|r| r == repository))
            .or_else(|| {
                self.statements
                    .iter()
                    .find(|s| s.registry_scopes.iter().any(|r| r == "*"))
            })
    }
}

#[cfg(test)]
mod tests;
