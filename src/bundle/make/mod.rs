//! Making bundles at the ceremony: the payload built and checked, then signed on the root's
//! token (and a successor's, during a rotation) and written atomically.

mod revocation;
mod trust;

use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use der::{DateTime, Encode};
use serde::Deserialize;
use x509_cert::Certificate;

pub use revocation::{
    CrlSource, RevocationPlan, RevocationRequest, ThirdPartyCrlSource, make_revocation,
    plan_revocation, seal_revocation,
};
pub use trust::{ThirdPartySource, TrustPlan, TrustRequest, make_trust, plan_trust, seal_trust};

use super::{Entry, Kind, Payload, Role, Statement, VerifyTimestamp, check_payload};
use crate::fingerprint::Fingerprint;
use crate::keys::KeySigner;
use crate::pki::cms;
use crate::pki::name::ascii_escaped;
use crate::pki::read_certificate;
use crate::pki::verify::issued_by;
use crate::sys::input::{InputFile, Links};
use crate::sys::output;

/// Why a bundle was not made; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// The request cannot be carried out; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The root key could not be opened or is not the root certificate's.
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    /// The token refused or failed.
    #[error(transparent)]
    Token(#[from] crate::keys::token::TokenError),
    /// A signature could not be made.
    #[error(transparent)]
    Cms(#[from] cms::CmsError),
    /// A certificate could not be read.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// Writing the bundle failed.
    #[error(transparent)]
    Output(#[from] output::OutputError),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
}

/// What was written.
pub struct Made {
    /// The payload as signed.
    pub payload: Payload,
    /// The bundle file's fingerprint.
    pub fingerprint: Fingerprint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default, rename = "statement")]
    statements: Vec<PolicyStatement>,
}

/// A `[[statement]]` as officers write it: a bundle [`Statement`], with the timestamp rule
/// given as a choice that has a default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyStatement {
    name: String,
    registry_scopes: Vec<String>,
    level: String,
    trusted_identities: Vec<String>,
    #[serde(default)]
    revocation: Option<String>,
    #[serde(default)]
    verify_timestamp: Option<TimestampChoice>,
    /// What older policy files said instead of `verify_timestamp`: refused with what to
    /// write, since `true` meant `always`, which is no longer the default.
    #[serde(default)]
    timestamps: Option<toml::Value>,
}

/// A statement's timestamp rule as a policy file, a script or the command line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum TimestampChoice {
    /// notation's `always`.
    Always,
    /// notation's `afterCertExpiry`: the default when the bundle carries TSA roots.
    AfterCertExpiry,
    /// The statement leaves the bundle's TSA roots out: timestamps are ignored, and every
    /// certificate must be valid when notation verifies.
    Never,
}

impl TimestampChoice {
    /// The rule a statement gets: the choice, or when none is made, `afterCertExpiry` if the
    /// bundle carries TSA roots. `always` is not the default: it refuses every signature
    /// without a timestamp, so adding a TSA to a lineage whose publishers do not timestamp
    /// yet would stop every signature of theirs from verifying.
    pub fn resolve(choice: Option<Self>, has_tsa: bool) -> Option<VerifyTimestamp> {
        match choice {
            Some(Self::Always) => Some(VerifyTimestamp::Always),
            Some(Self::AfterCertExpiry) => Some(VerifyTimestamp::AfterCertExpiry),
            Some(Self::Never) => None,
            None => has_tsa.then_some(VerifyTimestamp::AfterCertExpiry),
        }
    }
}

impl std::str::FromStr for TimestampChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" => Ok(Self::Never),
            s if s == VerifyTimestamp::Always.name() => Ok(Self::Always),
            s if s == VerifyTimestamp::AfterCertExpiry.name() => Ok(Self::AfterCertExpiry),
            _ => Err(format!(
                "'{}' is not a timestamp rule: write afterCertExpiry (the default), always or never",
                ascii_escaped(s)
            )),
        }
    }
}

impl TryFrom<String> for TimestampChoice {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Reads a trust policy file once.
pub(super) fn read_policy(path: &Path) -> Result<InputFile, MakeError> {
    InputFile::read(path, 1024 * 1024, Links::Refuse)
        .map_err(|e| MakeError::Refused(format!("the policy: {e}")))
}

/// The statements a trust policy file holds, in a bundle that carries TSA roots or not, and
/// the names of those whose timestamp rule is keyrite's default, as the file names none.
pub(super) fn parse_policy(
    policy: &InputFile,
    has_tsa: bool,
) -> Result<(Vec<Statement>, Vec<String>), MakeError> {
    let path = &policy.path;
    let text = std::str::from_utf8(&policy.bytes).map_err(|_| {
        MakeError::Refused(format!("the policy {} is not UTF-8 text", path.display()))
    })?;
    let file: PolicyFile = toml::from_str(text).map_err(|e| {
        MakeError::Refused(format!(
            "{} is not a keyrite trust policy: {} (see bundles/README.md for its [[statement]] tables)",
            path.display(),
            crate::sys::input::toml_error(text, &e)
        ))
    })?;
    if file.statements.is_empty() {
        return Err(MakeError::Refused(format!(
            "{} has no [[statement]]: give at least one or leave --policy out",
            path.display()
        )));
    }
    let defaulted = file
        .statements
        .iter()
        .filter(|s| has_tsa && s.verify_timestamp.is_none())
        .map(|s| s.name.clone())
        .collect();
    let statements = file
        .statements
        .into_iter()
        .map(|s| {
            if s.timestamps.is_some() {
                return Err(MakeError::Refused(format!(
                    "{}: statement '{}' says timestamps, which keyrite no longer reads: write verify_timestamp = \"afterCertExpiry\" (the default when the bundle carries TSA roots: a timestamp is needed once a certificate has expired), \"always\" (what timestamps = true meant: every signature must carry one) or \"never\"",
                    path.display(),
                    s.name
                )));
            }
            Ok(Statement {
                name: s.name,
                registry_scopes: s.registry_scopes,
                level: s.level,
                trusted_identities: s.trusted_identities,
                revocation: s.revocation,
                timestamps: false,
                verify_timestamp: TimestampChoice::resolve(s.verify_timestamp, has_tsa),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((statements, defaulted))
}

/// A payload as officers read it before the root signs it, a line each: its kind, version and
/// lineage; every root's SHA-256 as hex and words; every CRL's number and the URLs it answers
/// for; every policy statement's scopes, identities and timestamp rule, and every third
/// party's; the declared CRL URLs.
pub fn describe_payload(payload: &Payload) -> Vec<String> {
    let mut lines = vec![
        format!("{} bundle version {}", payload.kind.name(), payload.version),
        format!("lineage: {}", payload.lineage),
        format!("valid:   {} to {}", payload.issued_at, payload.expires_at),
    ];
    for entry in &payload.entries {
        let what = match (entry.role, entry.third_party()) {
            (Role::Root, _) => "root".to_owned(),
            (Role::TsaRoot, _) => "timestamping root".to_owned(),
            (Role::ThirdPartyRoot, Some(t)) => format!("third party '{t}' root"),
            (Role::ThirdPartyTsaRoot, Some(t)) => format!("third party '{t}' timestamping root"),
            (_, t) => {
                lines.push(format!(
                    "{}CRL number {} ({}), for {}",
                    t.map(|t| format!("third party '{t}' ")).unwrap_or_default(),
                    crl_number(&entry.der).unwrap_or_else(|| "unreadable".into()),
                    entry.name,
                    entry.urls.join(", ")
                ));
                continue;
            }
        };
        lines.push(format!(
            "{what} {}{}, SHA-256:",
            entry.name,
            subject_of(&entry.der)
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        ));
        lines.push(format!("  {}", entry.sha256));
        if let Ok(fp) = Fingerprint::parse(&entry.sha256) {
            lines.extend(fp.words_block().lines().map(|l| format!("  {l}")));
        }
    }
    for s in &payload.policy {
        lines.push(format!(
            "statement '{}': level {}{}",
            s.name,
            s.level,
            s.revocation
                .as_deref()
                .map(|r| format!(", revocation {r}"))
                .unwrap_or_default(),
        ));
        lines.push(format!(
            "  timestamps: {}",
            timestamp_line(s.timestamp_rule())
        ));
        lines.push(format!("  scopes:     {}", s.registry_scopes.join(", ")));
        lines.push(format!(
            "  identities: {}",
            s.trusted_identities
                .iter()
                .map(|i| ascii_escaped(i))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    for t in &payload.third_parties {
        lines.push(format!(
            "third party '{}': vouched for by this root, never cosigning; level strict",
            t.name
        ));
        lines.push(format!("  scopes:     {}", t.registry_scopes.join(", ")));
        lines.push(format!(
            "  identities: {}",
            t.trusted_identities
                .iter()
                .map(|i| if i == "*" {
                    "* (any certificate its root issued)".to_owned()
                } else {
                    ascii_escaped(i)
                })
                .collect::<Vec<_>>()
                .join("; ")
        ));
        let has_tsa = payload
            .third_party_entry(&t.name, Role::ThirdPartyTsaRoot)
            .is_some();
        let rule = t.statement(&payload.lineage, has_tsa).timestamp_rule();
        lines.push(format!("  timestamps: {}", timestamp_line(rule)));
        lines.push(format!(
            "  CRL URLs:   {}",
            if t.crl_urls.is_empty() {
                "none".to_owned()
            } else {
                t.crl_urls.join(", ")
            }
        ));
    }
    if payload.kind == Kind::Trust {
        lines.push(format!(
            "CRL URLs: {}",
            if payload.crl_urls.is_empty() {
                "none".to_owned()
            } else {
                payload.crl_urls.join(", ")
            }
        ));
    }
    lines
}

/// A statement's timestamp rule as officers read it before the root signs.
fn timestamp_line(rule: Option<VerifyTimestamp>) -> String {
    match rule {
        Some(r) => format!("verifyTimestamp {}: {}", r.name(), r.meaning()),
        None => "no TSA root: timestamps are ignored, and a signature verifies only while every certificate of its chain is valid".into(),
    }
}

/// The subject of the certificate whose DER `der` holds (base64), escaped to ASCII.
fn subject_of(der: &str) -> Option<String> {
    use der::Decode;
    let der = BASE64.decode(der.as_bytes()).ok()?;
    let cert = Certificate::from_der(&der).ok()?;
    Some(ascii_escaped(&crate::pki::name::display_name(
        cert.tbs_certificate().subject(),
    )))
}

/// The cRLNumber of the CRL whose DER `der` holds (base64), in decimal.
fn crl_number(der: &str) -> Option<String> {
    use der::Decode;
    use der::oid::AssociatedOid;
    use x509_cert::ext::pkix::CrlNumber;
    let der = BASE64.decode(der.as_bytes()).ok()?;
    let crl = crate::pki::crl::parse_crl(&der).ok()?;
    let ext = crl
        .tbs_cert_list
        .crl_extensions?
        .into_iter()
        .find(|e| e.extn_id == CrlNumber::OID)?;
    let number = CrlNumber::from_der(ext.extn_value.as_bytes()).ok()?;
    let bytes = number.0.as_bytes();
    Some(if bytes.len() <= 8 {
        let mut be = [0u8; 8];
        be[8 - bytes.len()..].copy_from_slice(bytes);
        u64::from_be_bytes(be).to_string()
    } else {
        format!("0x{}", hex::encode(bytes))
    })
}

pub(super) fn self_signed_root(path: &Path) -> Result<(Certificate, Vec<u8>), MakeError> {
    let cert = read_certificate(path)?;
    issued_by(&cert, &cert).map_err(|e| {
        MakeError::Refused(format!("{} is not a self-signed root: {e}", path.display()))
    })?;
    let der = cert.to_der()?;
    Ok((cert, der))
}

pub(super) fn cert_entry(role: Role, prefix: &str, der: &[u8]) -> Entry {
    let fp = Fingerprint::of(der).hex();
    Entry {
        name: format!(
            "{}/{prefix}-{}.crt",
            if role == Role::Root { "ca" } else { "tsa" },
            &fp[..16]
        ),
        role,
        sha256: fp,
        der: BASE64.encode(der),
        urls: Vec::new(),
    }
}

pub(super) fn now() -> Result<DateTime, MakeError> {
    crate::sys::clock::now().map_err(|e| MakeError::Refused(e.to_string()))
}

pub(super) fn check_out(out: &Path) -> Result<(PathBuf, String), MakeError> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| MakeError::Refused(format!("--out {} names no file", out.display())))?
        .to_owned();
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    output::preflight(&dir, &[&name])?;
    Ok((dir, name))
}

/// Signs `payload` with every signer and writes it to `dir/name`.
pub(super) fn seal(
    payload: Payload,
    signers: &[(&dyn KeySigner, &Certificate)],
    dir: &Path,
    name: &str,
) -> Result<Made, MakeError> {
    check_payload(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;
    let json =
        serde_json::to_vec_pretty(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;
    let issued = super::parse_time("issued_at", &payload.issued_at)
        .map_err(|e| MakeError::Refused(e.to_string()))?;
    let der = cms::sign(&json, signers, issued)?;
    // The envelope is checked as an importer will check it before it leaves the ceremony.
    super::Bundle::decode(&der)
        .map_err(|e| MakeError::Refused(format!("the bundle just made does not check out: {e}")))?;
    output::write_new_files(dir, &[(name, &der, output::PUBLIC)])?;
    Ok(Made {
        payload,
        fingerprint: Fingerprint::of(&der),
    })
}
