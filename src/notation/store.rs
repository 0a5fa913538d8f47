//! notation's x509 trust stores, read as it reads them: every entry of the store directory
//! must be a plain file of certificates (PEM blocks, or DER back to back), each a CA or
//! self-signed, a `tsa` store only roots; anything else fails the whole store.

use std::path::{Path, PathBuf};

use der::{Decode, Reader, SliceReader};
use x509_cert::Certificate;
use x509_cert::ext::pkix::BasicConstraints;

use super::go::{pem, x509 as gox509};
use super::policy::valid_store_name;
use crate::pki::verify::{issued_by, signed_by_own_key};

/// Certificate files larger than this are refused unread.
const MAX_CERT_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The directory of store `name` of `kind` (`ca`, `signingAuthority`, `tsa`).
pub fn store_dir(config: &Path, kind: &str, name: &str) -> PathBuf {
    config.join("truststore/x509").join(kind).join(name)
}

/// Every certificate of store `name` of `kind`, as notation's `GetCertificates` reads it,
/// with its DER; or why notation would fail the store.
pub fn read(config: &Path, kind: &str, name: &str) -> Result<Vec<(Certificate, Vec<u8>)>, String> {
    if !valid_store_name(name) {
        return Err(format!("trust store name '{name}' is not [a-zA-Z0-9_.-]+"));
    }
    let dir = store_dir(config, kind, name);
    let what = format!("trust store {kind}:{name}");
    let meta = match dir.symlink_metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the {what} does not exist ({})", dir.display()));
        }
        Err(e) => return Err(format!("the {what} cannot be read: {e}")),
    };
    if !meta.file_type().is_dir() {
        return Err(format!(
            "the {what} is not a plain directory ({}): notation refuses links",
            dir.display()
        ));
    }
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("the {what} cannot be read: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the {what} cannot be read: {e}"))?;
    entries.sort_by_key(|e| e.file_name());
    let mut certs = Vec::new();
    for entry in entries {
        let file = entry.file_name().to_string_lossy().into_owned();
        let kind_of = entry
            .file_type()
            .map_err(|e| format!("{file} in the {what}: {e}"))?;
        if !kind_of.is_file() {
            return Err(format!(
                "{file} in the {what} is not a plain file (notation refuses directories and links in a store)"
            ));
        }
        let bytes = super::read_bounded(&entry.path(), MAX_CERT_FILE_BYTES)?;
        let found = parse_certificates(&bytes)
            .map_err(|e| format!("{file} in the {what} is not a certificate file ({e})"))?;
        if found.is_empty() {
            return Err(format!("{file} in the {what} holds no certificate"));
        }
        for (cert, der) in found {
            check_trusted(&cert, kind).map_err(|e| format!("{file} in the {what}: {e}"))?;
            certs.push((cert, der));
        }
    }
    if certs.is_empty() {
        return Err(format!("no certificate was found in the {what}"));
    }
    Ok(certs)
}

/// notation's `ValidateCertificates` (a CA, or a self-signed certificate), and for `tsa`
/// stores its root check (self-signed, subject equal to issuer).
fn check_trusted(cert: &Certificate, kind: &str) -> Result<(), String> {
    let who = crate::pki::name::display_name(cert.tbs_certificate().subject());
    let is_ca = cert
        .tbs_certificate()
        .get_extension::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, bc)| bc.ca);
    let self_signed = signed_by_own_key(cert).is_ok();
    if !is_ca && !self_signed {
        return Err(format!(
            "{who} is neither a CA nor a self-signed signing certificate"
        ));
    }
    if kind == "tsa" && issued_by(cert, cert).is_err() {
        return Err(format!("{who} is not a root, which a tsa store must hold"));
    }
    Ok(())
}

/// DER certificates back to back, as Go's `x509.ParseCertificates` reads them.
fn der_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut reader = SliceReader::new(bytes).map_err(|e| e.to_string())?;
    let mut ders = Vec::new();
    while !reader.is_finished() {
        let start = usize::try_from(reader.position()).map_err(|e| e.to_string())?;
        Certificate::decode(&mut reader).map_err(|e| e.to_string())?;
        let end = usize::try_from(reader.position()).map_err(|e| e.to_string())?;
        ders.push(bytes[start..end].to_vec());
    }
    Ok(ders)
}

/// notation-core-go's `parseCertificates`: when Go's PEM decoder finds a block, every block
/// it finds is read as a certificate, whatever its type (blocks it cannot decode are skipped,
/// as Go skips them); when it finds none, the bytes are DER certificates back to back. Each
/// certificate must be one Go's `x509.ParseCertificate` accepts.
pub fn parse_certificates(bytes: &[u8]) -> Result<Vec<(Certificate, Vec<u8>)>, String> {
    let ders = match pem::decode(bytes) {
        Some((first, mut rest)) => {
            let mut ders = vec![first.bytes];
            while let Some((block, next)) = pem::decode(rest) {
                ders.push(block.bytes);
                rest = next;
            }
            ders
        }
        None => der_certificates(bytes).map_err(|e| {
            if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
                "it has no PEM block Go's decoder reads (a BEGIN line not at the start of a line, text after an END line, or a header line inside the body)".to_owned()
            } else {
                e
            }
        })?,
    };
    ders.into_iter()
        .map(|der| {
            gox509::check_certificate(&der)
                .map_err(|e| format!("Go refuses a certificate: {e}"))?;
            Certificate::from_der(&der)
                .map(|c| (c, der))
                .map_err(|e| e.to_string())
        })
        .collect()
}
