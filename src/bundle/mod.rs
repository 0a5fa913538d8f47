//! Trust and revocation bundles: what carries roots, CRLs and trust policy across the air gap.
//!
//! A bundle is one DER file: a CMS SignedData ([`crate::pki::cms`]) whose payload is a JSON [`Payload`]
//! and whose signers are roots of the bundle's lineage. The payload names every entry with
//! its role, its SHA-256 and its DER, so the importer can check each before it installs any.
//! Reading a bundle proves it intact and well formed, never trusted: whether its signers may
//! speak for its lineage is the importer's decision.

mod check;
pub mod make;
mod read;

pub use check::{check_payload, check_statement, valid_cdp_url};
pub use read::{Bundle, Item};

use std::str::FromStr;

use der::DateTime;
use serde::{Deserialize, Serialize};

/// The payload format this keyrite writes and reads. Format 2 added the trust bundle's
/// declared CRL URLs; a format 1 bundle is refused, since it declares none.
pub const FORMAT: u32 = 2;

/// Bundles larger than this are refused before they are read.
pub const MAX_BUNDLE_BYTES: u64 = 8 * 1024 * 1024;

/// The highest version a bundle may carry: far more than ceremonies ever make, and low
/// enough that no bundle can freeze a lineage at the top of the range.
pub const MAX_VERSION: u64 = 1_000_000_000;

/// How many items of each kind a payload may hold: entries, statements, declared CRL URLs,
/// and in a statement its scopes and identities. Every check of a payload is then bounded.
pub const MAX_ITEMS: usize = 64;

/// The longest name, URL, scope or identity a payload may hold, in bytes.
pub const MAX_TEXT: usize = 1024;

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
    /// The CDP URLs the lineage's delegates carry (trust bundles only): its revocation
    /// bundles may fill notation's CRL cache for these and no other.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crl_urls: Vec<String>,
}

impl Payload {
    /// The `keyrite-import pin` command a host meeting this trust bundle's lineage for the
    /// first time runs: the newest root the bundle carries (every root it carries signed it),
    /// the lineage, and the statements' scopes (a placeholder without statements).
    pub fn pin_command(&self) -> Option<String> {
        let root = self.entries.iter().rfind(|e| e.role == Role::Root)?;
        let mut scopes: Vec<&str> = self
            .policy
            .iter()
            .flat_map(|s| s.registry_scopes.iter().map(String::as_str))
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            scopes.push("REGISTRY/PREFIX/");
        }
        let scopes: Vec<String> = scopes.iter().map(|s| format!("--scope {s}")).collect();
        Some(format!(
            "keyrite-import pin {} --lineage {} {}",
            root.sha256,
            self.lineage,
            scopes.join(" ")
        ))
    }
}

/// A bundle that cannot be read, or whose content breaks the format.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file could not be read, or is not a regular file.
    #[error("{0}")]
    Input(String),
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
    /// The payload was written by an older keyrite, in a format that declares no CRL URLs.
    #[error(
        "the bundle's format is {0}, made by an older keyrite: format {FORMAT} bundles declare the CRL URLs a lineage answers for, which keyrite-import now requires; have the lineage's next ceremony make its bundles again"
    )]
    OldFormat(u64),
    /// The payload breaks the format.
    #[error("the bundle's content is malformed: {0}")]
    Content(String),
}

/// Parses an RFC 3339 UTC time as the payload writes it.
pub fn parse_time(field: &str, text: &str) -> Result<DateTime, BundleError> {
    DateTime::from_str(text)
        .map_err(|_| BundleError::Content(format!("{field} '{text}' is not an RFC 3339 UTC time")))
}
