//! Certificate mechanics: names, validity, CSRs, certificate profiles, the pre-issuance check,
//! issuance, CRLs, chain checks and CMS signatures. It works on bytes and keys it is given;
//! it never decides what to sign (that is `ca`) and never opens a token.

pub mod check;
pub mod cms;
pub mod crl;
pub mod csr;
pub mod issue;
pub mod name;
pub mod profile;
pub mod validity;
pub mod verify;

/// Why a certificate was not issued.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The certificate breaks its profile; nothing was issued.
    #[error("the certificate breaks its profile ({stage}): {}; nothing was written", problems.join("; "))]
    Profile {
        /// Before or after signing.
        stage: &'static str,
        /// Everything that is wrong.
        problems: Vec<String>,
    },
    /// The certificate could not be built or encoded.
    #[error("could not build the certificate: {0}")]
    Build(String),
    /// A certificate given as input could not be read.
    #[error("{0}")]
    Input(String),
    /// The key source could not sign.
    #[error(transparent)]
    Sign(#[from] crate::keys::KeyError),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
}

/// PEM-encodes `der` under `label` ("CERTIFICATE", "X509 CRL", …) with LF line endings.
pub fn pem(label: &str, der: &[u8]) -> Result<String, PkiError> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| PkiError::Build(format!("PEM encoding: {e}")))
}

/// The most a certificate file may hold: a root.crt is a few hundred bytes.
pub const MAX_CERTIFICATE_BYTES: u64 = 1024 * 1024;

/// Reads a certificate from a PEM or DER file.
pub fn read_certificate(path: &std::path::Path) -> Result<x509_cert::Certificate, PkiError> {
    let bytes = crate::sys::input::read(
        path,
        MAX_CERTIFICATE_BYTES,
        crate::sys::input::Links::Follow,
    )
    .map_err(|e| PkiError::Input(format!("the certificate: {e}")))?;
    parse_certificate(&bytes, path)
}

/// Parses a certificate in PEM or DER read from `path`.
pub fn parse_certificate(
    bytes: &[u8],
    path: &std::path::Path,
) -> Result<x509_cert::Certificate, PkiError> {
    use der::{Decode, DecodePem};
    let parsed = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        x509_cert::Certificate::from_pem(bytes)
    } else {
        x509_cert::Certificate::from_der(bytes)
    };
    parsed.map_err(|e| {
        PkiError::Input(format!(
            "{} is not a certificate in PEM or DER ({e})",
            path.display()
        ))
    })
}

/// A serial number as the ledger and CRLs list it: lowercase hex of the integer's value, without
/// the leading zero octet DER adds to keep it positive (the form `openssl x509 -serial` shows).
pub fn serial_hex(serial: &x509_cert::serial_number::SerialNumber) -> String {
    let bytes = serial.as_bytes();
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    hex::encode(&bytes[start..])
}
