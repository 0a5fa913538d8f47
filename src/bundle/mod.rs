//! Trust and revocation bundles: what carries roots, CRLs and trust policy across the air gap.
//!
//! A bundle is one DER file: a CMS SignedData ([`cms`]) whose payload is a JSON [`Payload`]
//! and whose signers are roots of the bundle's lineage. The payload names every entry with
//! its role, its SHA-256 and its DER, so the importer can check each before it installs any.

pub mod make;

use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use data_encoding::BASE64;
use der::{DateTime, Decode};
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use crate::fingerprint::Fingerprint;
use crate::keys::sha256;
use crate::pki::name::parse_subject;

/// The payload format this keyrite writes and reads.
pub const FORMAT: u32 = 1;

/// Bundles larger than this are refused before they are read.
pub const MAX_BUNDLE_BYTES: u64 = 8 * 1024 * 1024;

/// What a bundle carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Roots, TSA roots and trust policy statements.
    Trust,
    /// CRLs for the notation CRL cache.
    Revocation,
}

impl Kind {
    /// The kind's name as the payload writes it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Trust => "trust",
            Kind::Revocation => "revocation",
        }
    }
}

/// What one entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A root certificate for the lineage's `ca` trust store.
    Root,
    /// A timestamping root for the lineage's `tsa` trust store.
    TsaRoot,
    /// A CRL, with the CDP URLs it answers for.
    Crl,
}

impl Role {
    fn directory(self) -> &'static str {
        match self {
            Role::Root => "ca",
            Role::TsaRoot => "tsa",
            Role::Crl => "crl",
        }
    }
}

/// One certificate or CRL carried by a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// `ca/<file>.crt`, `tsa/<file>.crt` or `crl/<file>.crl`.
    pub name: String,
    /// What the entry is.
    pub role: Role,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// The DER, standard base64.
    pub der: String,
    /// For a CRL: the exact CDP URLs it answers for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// One trust policy statement a trust bundle installs. The importer adds the lineage's trust
/// stores to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// The statement's name, unique in the trust policy.
    pub name: String,
    /// Full repository names, or the single `*`.
    pub registry_scopes: Vec<String>,
    /// `strict`, `permissive` or `audit`.
    pub level: String,
    /// `*` or `x509.subject: <DN>` entries.
    pub trusted_identities: Vec<String>,
    /// The revocation override (`enforce`, `log` or `skip`), when not the level's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<String>,
    /// Whether signatures must carry a timestamp checked against the bundle's TSA roots.
    #[serde(default)]
    pub timestamps: bool,
}

/// The signed content of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// [`FORMAT`].
    pub format: u32,
    /// Trust or revocation.
    pub kind: Kind,
    /// SHA-256 of the DER of the root that started the lineage, hex.
    pub lineage: String,
    /// Strictly increasing per lineage and kind.
    pub version: u64,
    /// When the bundle was made (RFC 3339, UTC).
    pub issued_at: String,
    /// After this the bundle is refused (RFC 3339, UTC).
    pub expires_at: String,
    /// Certificates or CRLs.
    pub entries: Vec<Entry>,
    /// Trust policy statements (trust bundles only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<Statement>,
}

/// A bundle that cannot be read, or whose content breaks the format.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file could not be read.
    #[error("cannot read the bundle {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is larger than any bundle keyrite makes.
    #[error(
        "the bundle is {size} bytes, more than the {max} a bundle may be: it is not a keyrite bundle or it was tampered with"
    )]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The CMS envelope is damaged.
    #[error(
        "the file is not an intact keyrite bundle: {0}; get a fresh copy from the ceremony media"
    )]
    Envelope(String),
    /// A signature does not check out.
    #[error(
        "{0}; the bundle was altered or not made by keyrite: get a fresh copy from the ceremony media"
    )]
    Signature(String),
    /// The payload was written by a newer keyrite.
    #[error(
        "the bundle's format is {0}, but this keyrite-import reads format {FORMAT}: update keyrite-import"
    )]
    UnknownFormat(u64),
    /// The payload breaks the format.
    #[error("the bundle's content is malformed: {0}")]
    Content(String),
}

/// A root, TSA root or CRL entry, decoded.
pub enum Item {
    /// A certificate (root or TSA root).
    Certificate(Box<Certificate>),
    /// A CRL.
    Crl(Box<CertificateList>),
}

/// A bundle whose envelope, signatures and payload all check out. Whether its signers and
/// lineage are trusted is for the importer to decide.
pub struct Bundle {
    /// The payload.
    pub payload: Payload,
    /// Every entry with its decoded DER, in payload order.
    pub items: Vec<(Entry, Vec<u8>, Item)>,
    /// The certificates that signed it.
    pub signers: Vec<Certificate>,
    /// SHA-256 of the whole file.
    pub file_sha256: Fingerprint,
}

impl Bundle {
    /// Reads, opens and checks a bundle file; nothing on disk is touched.
    pub fn read(path: &Path) -> Result<Self, BundleError> {
        let io = |source| BundleError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size,
                max: MAX_BUNDLE_BYTES,
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_BUNDLE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size: bytes.len() as u64,
                max: MAX_BUNDLE_BYTES,
            });
        }
        Self::decode(&bytes)
    }

    /// Opens and checks a bundle held in memory.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        let opened = crate::pki::cms::open(bytes).map_err(|e| match e {
            crate::pki::cms::CmsError::Envelope(m) => BundleError::Envelope(m),
            crate::pki::cms::CmsError::Signature(m)
            | crate::pki::cms::CmsError::ContentDiffers { message: m, .. } => {
                BundleError::Signature(m)
            }
            // Only signing makes the other errors.
            other => BundleError::Envelope(other.to_string()),
        })?;
        let payload = parse_payload(&opened.payload)?;
        let items = decode_entries(&payload)?;
        Ok(Self {
            payload,
            items,
            signers: opened.signers,
            file_sha256: Fingerprint::of(bytes),
        })
    }

    /// The root certificates the bundle carries.
    pub fn roots(&self) -> impl Iterator<Item = (&Entry, &[u8], &Certificate)> {
        self.certificates(Role::Root)
    }

    /// The TSA root certificates the bundle carries.
    pub fn tsa_roots(&self) -> impl Iterator<Item = (&Entry, &[u8], &Certificate)> {
        self.certificates(Role::TsaRoot)
    }

    fn certificates(&self, role: Role) -> impl Iterator<Item = (&Entry, &[u8], &Certificate)> {
        self.items
            .iter()
            .filter_map(move |(e, der, item)| match item {
                Item::Certificate(c) if e.role == role => Some((e, der.as_slice(), c.as_ref())),
                _ => None,
            })
    }

    /// The CRLs the bundle carries.
    pub fn crls(&self) -> impl Iterator<Item = (&Entry, &[u8], &CertificateList)> {
        self.items.iter().filter_map(|(e, der, item)| match item {
            Item::Crl(c) => Some((e, der.as_slice(), c.as_ref())),
            Item::Certificate(_) => None,
        })
    }
}

/// Parses an RFC 3339 UTC time as the payload writes it.
pub fn parse_time(field: &str, text: &str) -> Result<DateTime, BundleError> {
    DateTime::from_str(text)
        .map_err(|_| BundleError::Content(format!("{field} '{text}' is not an RFC 3339 UTC time")))
}

fn parse_payload(json: &[u8]) -> Result<Payload, BundleError> {
    #[derive(Deserialize)]
    struct Head {
        format: u64,
    }
    let head: Head = serde_json::from_slice(json)
        .map_err(|e| BundleError::Content(format!("the payload is not a keyrite bundle ({e})")))?;
    if head.format != u64::from(FORMAT) {
        return Err(BundleError::UnknownFormat(head.format));
    }
    let payload: Payload = serde_json::from_slice(json)
        .map_err(|e| BundleError::Content(format!("the payload does not parse ({e})")))?;
    check_payload(&payload)?;
    Ok(payload)
}

/// Checks everything about a payload that does not need the importer's state.
pub fn check_payload(p: &Payload) -> Result<(), BundleError> {
    let bad = |m: String| Err(BundleError::Content(m));
    if p.lineage.len() != 64
        || !p
            .lineage
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return bad(format!(
            "lineage '{}' is not a lowercase SHA-256 hex",
            p.lineage
        ));
    }
    if p.version == 0 {
        return bad("version 0: versions start at 1".into());
    }
    let issued = parse_time("issued_at", &p.issued_at)?;
    let expires = parse_time("expires_at", &p.expires_at)?;
    if expires <= issued {
        return bad("expires_at is not after issued_at".into());
    }
    let mut names = Vec::new();
    for e in &p.entries {
        check_entry_name(e)?;
        if names.contains(&e.name.as_str()) {
            return bad(format!("entry '{}' appears twice", e.name));
        }
        names.push(&e.name);
        let allowed = match p.kind {
            Kind::Trust => matches!(e.role, Role::Root | Role::TsaRoot),
            Kind::Revocation => e.role == Role::Crl,
        };
        if !allowed {
            return bad(format!(
                "a {} bundle cannot carry entry '{}'",
                p.kind.name(),
                e.name
            ));
        }
        if e.role == Role::Crl {
            if e.urls.is_empty() {
                return bad(format!("CRL entry '{}' answers for no CDP URL", e.name));
            }
            if let Some(u) = e.urls.iter().find(|u| !valid_cdp_url(u)) {
                return bad(format!(
                    "CRL entry '{}' names '{u}', which is not an http:// URL",
                    e.name
                ));
            }
        } else if !e.urls.is_empty() {
            return bad(format!(
                "entry '{}' is a certificate but names CDP URLs",
                e.name
            ));
        }
    }
    match p.kind {
        Kind::Trust if !p.entries.iter().any(|e| e.role == Role::Root) => {
            return bad("a trust bundle carries no root".into());
        }
        Kind::Revocation if p.entries.is_empty() => {
            return bad("a revocation bundle carries no CRL".into());
        }
        Kind::Revocation if !p.policy.is_empty() => {
            return bad("a revocation bundle cannot carry trust policy".into());
        }
        _ => {}
    }
    let has_tsa = p.entries.iter().any(|e| e.role == Role::TsaRoot);
    for (i, s) in p.policy.iter().enumerate() {
        check_statement(s, has_tsa)
            .map_err(|m| BundleError::Content(format!("policy statement '{}': {m}", s.name)))?;
        if p.policy[..i].iter().any(|o| o.name == s.name) {
            return bad(format!("policy statement '{}' appears twice", s.name));
        }
    }
    Ok(())
}

/// Whether `url` is a CDP URL notation fetches (and so looks up in its cache).
pub fn valid_cdp_url(url: &str) -> bool {
    url.starts_with("http://")
        && url.len() > 7
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `scope` is a full repository name as notation parses registry scopes (oras-go's
/// reference grammar): a registry host with an optional port, then lowercase path
/// components, with no tag, digest or wildcard. Written out here because it is a few lines of
/// grammar and a regex crate for it would cost more than it saves.
pub fn valid_scope(scope: &str) -> bool {
    let Some((registry, repository)) = scope.split_once('/') else {
        return false;
    };
    let (host, port) = registry.split_once(':').unwrap_or((registry, ""));
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok =
        registry.contains(':') != port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    host_ok && port_ok && repository.split('/').all(path_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        match &c[sep..i] {
            "." | "_" | "__" => {}
            s if s.bytes().all(|x| x == b'-') => {}
            _ => return false,
        }
    }
}

/// Entry names become file names in notation's directories: one plain component under the
/// role's directory, never a path that climbs out or starts at `/`.
fn check_entry_name(e: &Entry) -> Result<(), BundleError> {
    let bad = || {
        BundleError::Content(format!(
            "entry name '{}' is not {}/<name> with letters, digits, '-', '_' and '.' only",
            e.name.escape_debug(),
            e.role.directory()
        ))
    };
    let (dir, file) = e.name.split_once('/').ok_or_else(bad)?;
    let suffix = if e.role == Role::Crl { ".crl" } else { ".crt" };
    let plain = file.len() <= 100
        && file.ends_with(suffix)
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if dir != e.role.directory() || !plain {
        return Err(bad());
    }
    Ok(())
}

/// Checks a trust policy statement against notation's rules for statements keyrite installs.
pub fn check_statement(s: &Statement, has_tsa: bool) -> Result<(), String> {
    if s.name.is_empty()
        || !s
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("the name must be letters, digits, '-', '_' or '.'".into());
    }
    if !matches!(s.level.as_str(), "strict" | "permissive" | "audit") {
        return Err(format!(
            "level '{}' is not strict, permissive or audit (a skip statement needs no roots; write it yourself)",
            s.level
        ));
    }
    if let Some(r) = &s.revocation
        && !matches!(r.as_str(), "enforce" | "log" | "skip")
    {
        return Err(format!(
            "revocation override '{r}' is not enforce, log or skip"
        ));
    }
    if s.registry_scopes.is_empty() {
        return Err("it has no registry scopes".into());
    }
    for (i, scope) in s.registry_scopes.iter().enumerate() {
        if s.registry_scopes[..i].contains(scope) {
            return Err(format!("scope '{scope}' appears twice"));
        }
        if scope == "*" {
            if s.registry_scopes.len() > 1 {
                return Err("'*' must be the statement's only scope".into());
            }
        } else if !valid_scope(scope) {
            return Err(format!(
                "scope '{scope}' is not a repository name such as registry.example/team/app (no tag, digest or wildcard)"
            ));
        }
    }
    if s.trusted_identities.is_empty() {
        return Err("it has no trusted identities".into());
    }
    for id in &s.trusted_identities {
        if id == "*" {
            if s.trusted_identities.len() > 1 {
                return Err("'*' must be the only trusted identity".into());
            }
            continue;
        }
        let dn = id
            .strip_prefix("x509.subject:")
            .ok_or_else(|| format!("trusted identity '{id}' is not '*' or 'x509.subject: <DN>'"))?;
        parse_subject(dn.trim()).map_err(|e| format!("trusted identity '{id}': {e}"))?;
    }
    if s.timestamps && !has_tsa {
        return Err("timestamps = true, but the bundle carries no TSA root".into());
    }
    Ok(())
}

fn decode_entries(p: &Payload) -> Result<Vec<(Entry, Vec<u8>, Item)>, BundleError> {
    p.entries
        .iter()
        .map(|e| {
            let bad = |m: &str| BundleError::Content(format!("entry '{}': {m}", e.name));
            let der = BASE64
                .decode(e.der.as_bytes())
                .map_err(|_| bad("its DER is not base64"))?;
            if hex::encode(sha256(&der)) != e.sha256 {
                return Err(bad("its SHA-256 does not match its content"));
            }
            let item = match e.role {
                Role::Root | Role::TsaRoot => Item::Certificate(Box::new(
                    Certificate::from_der(&der).map_err(|_| bad("not a DER certificate"))?,
                )),
                Role::Crl => Item::Crl(Box::new(
                    CertificateList::from_der(&der).map_err(|_| bad("not a DER CRL"))?,
                )),
            };
            Ok((e.clone(), der, item))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::valid_scope;

    #[test]
    fn scopes_follow_the_repository_grammar() {
        for ok in [
            "registry.example/app",
            "registry.example:5000/team/app",
            "localhost/a-b/c__d/e.f/g--h",
        ] {
            assert!(valid_scope(ok), "{ok}");
        }
        for bad in [
            "app",
            "registry.example/App",
            "reg.example/a//b",
            "reg.example/a#b",
            "reg.example/a:tag",
            "reg.example/a@sha256:00",
            "reg.example/*",
            "https://reg.example/a",
            "reg.example:/a",
            "-reg.example/a",
            "reg.example/a_-b",
            "reg.example/a/",
        ] {
            assert!(!valid_scope(bad), "{bad}");
        }
    }
}
