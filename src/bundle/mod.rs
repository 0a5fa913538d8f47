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

pub use check::{check_payload, check_statement, valid_cdp_url, valid_third_party_name};
pub use read::{Bundle, Item};

use std::str::FromStr;

use der::DateTime;
use serde::{Deserialize, Serialize};

/// The newest payload format this keyrite writes and reads. Format 2 added the trust bundle's
/// declared CRL URLs (a format 1 bundle is refused, since it declares none); format 3 added
/// third parties' roots and CRLs; format 4 names the timestamp rule of every statement that
/// trusts TSA roots ([`VerifyTimestamp`]). A bundle is written in the oldest format its
/// content needs, so that hosts not yet updated keep reading every other bundle.
pub const FORMAT: u32 = 4;

/// The format that added third parties.
const THIRD_PARTY_FORMAT: u32 = 3;

/// The format that added statements' and third parties' timestamp rules.
pub const TIMESTAMP_RULE_FORMAT: u32 = 4;

/// The oldest payload format this keyrite reads.
pub const MIN_FORMAT: u32 = 2;

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
    /// A third party's root the site vouches for: `third-party-ca/<name>.crt`. It never
    /// speaks for the lineage.
    ThirdPartyRoot,
    /// A third party's timestamping root: `third-party-tsa/<name>.crt`.
    ThirdPartyTsaRoot,
    /// A third party's own CRL, as it published it: `third-party-crl/<name>.crl`.
    ThirdPartyCrl,
}

impl Role {
    fn directory(self) -> &'static str {
        match self {
            Role::Root => "ca",
            Role::TsaRoot => "tsa",
            Role::Crl => "crl",
            Role::ThirdPartyRoot => "third-party-ca",
            Role::ThirdPartyTsaRoot => "third-party-tsa",
            Role::ThirdPartyCrl => "third-party-crl",
        }
    }

    /// Whether the entry is a CRL (the lineage's or a third party's).
    pub fn is_crl(self) -> bool {
        matches!(self, Role::Crl | Role::ThirdPartyCrl)
    }

    /// Whether the entry belongs to a third party.
    pub fn is_third_party(self) -> bool {
        matches!(
            self,
            Role::ThirdPartyRoot | Role::ThirdPartyTsaRoot | Role::ThirdPartyCrl
        )
    }

    /// The entry name of third party `name`'s item of this role.
    pub fn third_party_entry(self, name: &str) -> String {
        let suffix = if self.is_crl() { "crl" } else { "crt" };
        format!("{}/{name}.{suffix}", self.directory())
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

impl Entry {
    /// The third party a third-party entry belongs to: its file name's stem.
    pub fn third_party(&self) -> Option<&str> {
        if !self.role.is_third_party() {
            return None;
        }
        let file = self.name.split_once('/')?.1;
        file.rsplit_once('.').map(|(stem, _)| stem)
    }
}

/// A third party's root the site vouches for in a trust bundle: a vendor, a base-image
/// publisher, a supplier with its own notation root. The site's root signs for it; the
/// third party never cosigns, never speaks for the lineage, and is trusted only inside its
/// own scopes (which the site must have granted the lineage). Its root is the entry
/// `third-party-ca/<name>.crt`, its TSA root, when it has one, `third-party-tsa/<name>.crt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThirdParty {
    /// A short lowercase name, part of its trust store's and statement's names.
    pub name: String,
    /// The repositories its signatures are trusted for.
    pub registry_scopes: Vec<String>,
    /// `*` or `x509.subject: <DN>` entries its signing certificates must match.
    pub trusted_identities: Vec<String>,
    /// The CDP URLs its certificates carry: what its CRLs in revocation bundles may fill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crl_urls: Vec<String>,
    /// The rule its TSA root is used under (format 4); present exactly when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_timestamp: Option<VerifyTimestamp>,
}

impl ThirdParty {
    /// The statement that trusts it: its scopes and identities, level strict, with its TSA
    /// root when it has one. Named for the lineage too, as two lineages may vouch for one
    /// vendor under the same name.
    pub fn statement(&self, lineage: &str, has_tsa: bool) -> Statement {
        // A format 3 payload names no rule: its TSA root was installed under notation's
        // default, `always`.
        let legacy = has_tsa && self.verify_timestamp.is_none();
        Statement {
            name: format!(
                "third-party.{}.{}",
                self.name,
                lineage.get(..16).unwrap_or(lineage)
            ),
            registry_scopes: self.registry_scopes.clone(),
            level: "strict".into(),
            trusted_identities: self.trusted_identities.clone(),
            revocation: None,
            timestamps: legacy,
            verify_timestamp: self.verify_timestamp,
        }
    }
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
    /// Formats 2 and 3 only: `true` put the bundle's TSA roots in the statement under
    /// notation's default rule, `always`. Read, never written: format 4 says
    /// [`Statement::verify_timestamp`] instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timestamps: bool,
    /// The rule the statement trusts the bundle's TSA roots under (format 4). Absent, and
    /// `timestamps` false, it does not trust them: every certificate of a signing chain must
    /// be valid when notation verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_timestamp: Option<VerifyTimestamp>,
}

impl Statement {
    /// The rule the statement trusts the bundle's TSA roots under, whichever format said it.
    pub fn timestamp_rule(&self) -> Option<VerifyTimestamp> {
        self.verify_timestamp
            .or(self.timestamps.then_some(VerifyTimestamp::Always))
    }
}

/// When notation requires a signature to carry a timestamp from a TSA a statement trusts
/// (its `verifyTimestamp`). keyrite's default is [`VerifyTimestamp::AfterCertExpiry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerifyTimestamp {
    /// Every signature must carry one, even while its certificates are valid: a signature
    /// without a timestamp is refused.
    #[serde(rename = "always")]
    Always,
    /// Only once a certificate of the signing chain has expired: until then a signature
    /// without a timestamp verifies, and a timestamp is not checked.
    #[serde(rename = "afterCertExpiry")]
    AfterCertExpiry,
}

impl VerifyTimestamp {
    /// The value as notation's trust policy writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::AfterCertExpiry => "afterCertExpiry",
        }
    }

    /// What the rule asks of a signature, in a sentence officers and sites read.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Always => {
                "every signature must carry a timestamp from a trusted TSA, even while its certificates are valid"
            }
            Self::AfterCertExpiry => {
                "a signature needs a timestamp from a trusted TSA only once a certificate of its chain has expired"
            }
        }
    }
}

/// The signed content of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The oldest format that can say the content ([`Payload::format_for`]), at most
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
    /// Third parties' roots the site vouches for (trust bundles only, format 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub third_parties: Vec<ThirdParty>,
}

impl Payload {
    /// The format a payload with this content is written in, the oldest that can say it: 4
    /// when a statement or third party names a timestamp rule, else 3 when it carries
    /// anything of a third party, else 2, which every importer since format 2 reads.
    pub fn format_for(
        entries: &[Entry],
        policy: &[Statement],
        third_parties: &[ThirdParty],
    ) -> u32 {
        if policy.iter().any(|s| s.verify_timestamp.is_some())
            || third_parties.iter().any(|t| t.verify_timestamp.is_some())
        {
            TIMESTAMP_RULE_FORMAT
        } else if !third_parties.is_empty() || entries.iter().any(|e| e.role.is_third_party()) {
            THIRD_PARTY_FORMAT
        } else {
            MIN_FORMAT
        }
    }

    /// The third party `name`'s entry of `role`, when the payload carries one.
    pub fn third_party_entry(&self, name: &str, role: Role) -> Option<&Entry> {
        let want = role.third_party_entry(name);
        self.entries.iter().find(|e| e.name == want)
    }

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
        "the bundle's format is {0}, but this keyrite-import reads formats {MIN_FORMAT} to {FORMAT}: update keyrite-import"
    )]
    UnknownFormat(u64),
    /// The payload was written by an older keyrite, in a format that declares no CRL URLs.
    #[error(
        "the bundle's format is {0}, made by an older keyrite: format {MIN_FORMAT} and later bundles declare the CRL URLs a lineage answers for, which keyrite-import now requires; have the lineage's next ceremony make its bundles again"
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
