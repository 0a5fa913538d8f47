//! Making bundles at the ceremony: the payload built and checked, then signed on the root's
//! token (and a successor's, during a rotation) and written atomically.

mod revocation;
mod trust;

use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use der::{DateTime, Encode};
use serde::Deserialize;
use x509_cert::Certificate;

pub use revocation::{CrlSource, RevocationRequest, make_revocation};
pub use trust::{TrustRequest, make_trust};

use super::{Entry, Payload, Role, Statement, check_payload};
use crate::fingerprint::Fingerprint;
use crate::keys::KeySigner;
use crate::pki::cms;
use crate::pki::read_certificate;
use crate::pki::verify::issued_by;
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
    statements: Vec<Statement>,
}

pub(super) fn read_policy(path: &Path) -> Result<Vec<Statement>, MakeError> {
    let bytes = crate::sys::input::read(path, 1024 * 1024, crate::sys::input::Links::Refuse)
        .map_err(|e| MakeError::Refused(format!("the policy: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        MakeError::Refused(format!("the policy {} is not UTF-8 text", path.display()))
    })?;
    let file: PolicyFile = toml::from_str(&text).map_err(|e| {
        MakeError::Refused(format!(
            "{} is not a keyrite trust policy: {} (see bundles/README.md for its [[statement]] tables)",
            path.display(),
            crate::sys::input::toml_error(&text, &e)
        ))
    })?;
    if file.statements.is_empty() {
        return Err(MakeError::Refused(format!(
            "{} has no [[statement]]: give at least one or leave --policy out",
            path.display()
        )));
    }
    Ok(file.statements)
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
