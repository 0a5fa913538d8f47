//! Trust policy documents as notation v1.3.2 loads, validates and applies them: the file it
//! reads, how its JSON is decoded, every rule of its validation (one broken statement, the
//! site's or keyrite's, fails every verification on the host), and which statement applies
//! to a repository.

use std::path::Path;

use serde_json::{Map, Value};

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

/// Go's `encoding/json` accepts an object key in any letter case for a struct field; the last
/// key that matches wins.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .next_back()
        .filter(|v| !v.is_null())
}

const MALFORMED: &str = "the trust policy is malformed JSON for notation";

fn string(obj: &Map<String, Value>, name: &str) -> Result<String, String> {
    match field(obj, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{MALFORMED}: \"{name}\" is not a string")),
    }
}

fn strings(obj: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    match field(obj, name) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Null => Ok(String::new()),
                _ => Err(format!("{MALFORMED}: \"{name}\" holds a non-string")),
            })
            .collect(),
        Some(_) => Err(format!("{MALFORMED}: \"{name}\" is not a list")),
    }
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{MALFORMED}: {what} is not an object"))
}

impl Statement {
    fn decode(v: &Value) -> Result<Self, String> {
        let obj = object(v, "a statement")?;
        let verification = match field(obj, "signatureVerification") {
            Some(v) => object(v, "\"signatureVerification\"")?.clone(),
            None => Map::new(),
        };
        let overrides = match field(&verification, "override") {
            None => Vec::new(),
            Some(v) => object(v, "\"override\"")?
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(format!("{MALFORMED}: override {k} is not a string")),
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            name: string(obj, "name")?,
            registry_scopes: strings(obj, "registryScopes")?,
            level: string(&verification, "level")?,
            overrides,
            verify_timestamp: string(&verification, "verifyTimestamp")?,
            trust_stores: strings(obj, "trustStores")?,
            trusted_identities: strings(obj, "trustedIdentities")?,
        })
    }

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
    /// Decodes a document as Go's JSON decoder does: the first JSON value of the bytes, keys
    /// in any letter case, unknown fields ignored, a wrong type refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::Deserializer::from_slice(bytes)
            .into_iter::<Value>()
            .next()
            .ok_or_else(|| format!("{MALFORMED}: it is empty"))?
            .map_err(|e| format!("{MALFORMED} ({e})"))?;
        let obj = object(&value, "the document")?;
        let statements = match field(obj, "trustPolicies") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(Statement::decode)
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(format!("{MALFORMED}: \"trustPolicies\" is not a list")),
        };
        Ok(Self {
            version: string(obj, "version")?,
            statements,
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
mod tests {
    use super::*;

    fn doc(statements: &str) -> Result<(), String> {
        Document::parse(
            format!(r#"{{"version":"1.0","trustPolicies":[{statements}]}}"#).as_bytes(),
        )?
        .validate()
    }

    const OK: &str = r#"{"name":"a","registryScopes":["r.example/a"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#;

    #[test]
    fn validation_follows_notation() {
        assert!(doc(OK).is_ok());
        let cases = [
            (OK.replace("\"a\",", "\"\","), "no name"),
            (format!("{OK},{OK}"), "named"),
            (OK.replace("strict", "loose"), "level"),
            (
                OK.replace(r#""strict""#, r#""skip","override":{"revocation":"log"}"#),
                "override",
            ),
            (
                OK.replace(r#""strict""#, r#""strict","override":{"integrity":"log"}"#),
                "integrity",
            ),
            (
                OK.replace(r#""strict""#, r#""strict","override":{"expiry":"skip"}"#),
                "only revocation",
            ),
            (
                OK.replace(r#""strict""#, r#""strict","verifyTimestamp":"never""#),
                "verifyTimestamp",
            ),
            (OK.replace("ca:s", "foo:s"), "type"),
            (OK.replace("ca:s", "ca:a/b"), "name"),
            (
                OK.replace(r#"["*"]"#, r#"["*","x509.subject: C=US,ST=WA,O=A"]"#),
                "alone",
            ),
            (
                OK.replace(
                    r#"["*"]"#,
                    r#"["x509.subject: C=US,ST=WA,O=A","x509.subject: C=US,ST=WA,O=A,CN=B"]"#,
                ),
                "overlap",
            ),
            (
                OK.replace(r#"["*"]"#, r#"["x509.subject: C=US,O=A"]"#),
                "ST",
            ),
            (OK.replace("r.example/a", "r.example/team/*"), "wildcard"),
            (
                OK.replace(r#"["r.example/a"]"#, r#"["*","r.example/b"]"#),
                "alone",
            ),
            (
                format!("{OK},{}", OK.replace("\"a\",", "\"b\",")),
                "more than one statement",
            ),
        ];
        for (text, says) in cases {
            let err = doc(&text).expect_err(&text);
            assert!(err.contains(says), "{text}: {err}");
        }
        // Across two statements, overlapping identities are fine.
        let two = format!(
            "{},{}",
            OK.replace(r#"["*"]"#, r#"["x509.subject: C=US,ST=WA,O=A"]"#),
            OK.replace("\"a\",", "\"b\",")
                .replace("r.example/a", "r.example/b")
                .replace(r#"["*"]"#, r#"["x509.subject: C=US,ST=WA,O=A,CN=B"]"#)
        );
        assert!(doc(&two).is_ok());
    }

    #[test]
    fn decoding_follows_go() {
        // Keys in any case, unknown fields ignored, trailing bytes after the document ignored.
        let d = Document::parse(br#"{"Version":"1.0","TRUSTPOLICIES":[],"x":1} and then some"#)
            .unwrap();
        assert_eq!(d.version, "1.0");
        assert!(Document::parse(br#"{"version":1}"#).is_err());
    }
}
