//! notation's CRL file cache: `{NOTATION_CACHE}/crl/<SHA-256 of the URL>`, holding JSON
//! `{"baseCRL": base64 DER}`, which notation reads before any network access and uses while
//! the CRL's nextUpdate is in the future.

use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use der::{DateTime, Decode};
use serde::Deserialize;
use x509_cert::crl::CertificateList;

use crate::keys::sha256;

/// A cache entry larger than this is refused unread (notation downloads CRLs up to 32 MiB).
const MAX_ENTRY_BYTES: u64 = 48 * 1024 * 1024;

/// notation's cache file for a CDP URL: the lowercase hex SHA-256 of the exact URL.
pub fn path(cache: &Path, url: &str) -> PathBuf {
    cache.join("crl").join(hex::encode(sha256(url.as_bytes())))
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "baseCRL")]
    base: Option<String>,
    #[serde(rename = "deltaCRL")]
    delta: Option<String>,
}

/// The CRLs notation's cache holds for `url` and would use at `at` (the base CRL, and a
/// delta CRL when there is one); `Ok(None)` when notation would go to the network instead:
/// no entry, or one past its nextUpdate. `Err` for an entry that is not one.
pub fn read(cache: &Path, url: &str, at: DateTime) -> Result<Option<Vec<CertificateList>>, String> {
    let file = path(cache, url);
    let bytes = match file.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => super::read_bounded(&file, MAX_ENTRY_BYTES)?,
    };
    let entry: Entry = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a CRL cache entry ({e})", file.display()))?;
    let mut crls = Vec::new();
    for b64 in [entry.base, entry.delta].into_iter().flatten() {
        let der = BASE64
            .decode(b64.as_bytes())
            .map_err(|e| format!("{} holds a CRL that is not base64 ({e})", file.display()))?;
        let crl = CertificateList::from_der(&der)
            .map_err(|e| format!("{} holds a CRL that does not parse ({e})", file.display()))?;
        let fresh = crl
            .tbs_cert_list
            .next_update
            .is_some_and(|n| n.to_unix_duration() >= at.unix_duration());
        if !fresh {
            return Ok(None);
        }
        crls.push(crl);
    }
    if crls.is_empty() {
        return Err(format!("{} has no baseCRL", file.display()));
    }
    Ok(Some(crls))
}
