//! notation's CRL file cache: `{NOTATION_CACHE}/crl/<SHA-256 of the URL>`, holding JSON
//! `{"baseCRL": base64 DER, "deltaCRL": base64 DER}` (the delta optional), which notation
//! reads before any network access, whatever the URL's scheme, and uses while every CRL in
//! it is before its nextUpdate. The entry is read as notation-go's `FileCache` reads it, with
//! Go's JSON decoder: keys in any letter case, the last of a repeated key winning, base64 with
//! line breaks, or an array of byte values.

use std::path::{Path, PathBuf};

use der::{DateTime, Decode};
use x509_cert::crl::CertificateList;

use super::go::json::{self, GoSlice, Kind, Reader, field_is};
use super::go::{pem::base64_std, x509 as gox509};
use crate::keys::sha256;

/// A cache entry larger than this is refused unread (notation downloads CRLs up to 32 MiB).
const MAX_ENTRY_BYTES: u64 = 48 * 1024 * 1024;

/// notation's cache file for a CDP URL: the lowercase hex SHA-256 of the exact URL.
pub fn path(cache: &Path, url: &str) -> PathBuf {
    cache.join("crl").join(hex::encode(sha256(url.as_bytes())))
}

/// The CRLs of a cache entry.
pub struct Bundle {
    /// The base CRL.
    pub base: CertificateList,
    /// The delta CRL, when the entry holds one.
    pub delta: Option<CertificateList>,
}

/// The CRLs notation's cache holds for `url` and would use at `at`; `Ok(None)` when notation
/// would go to the network instead: no entry, or a CRL in it past its nextUpdate. `Err` for
/// an entry notation cannot read (it then goes to the network too).
pub fn read(cache: &Path, url: &str, at: DateTime) -> Result<Option<Bundle>, String> {
    let file = path(cache, url);
    let bytes = match file.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => super::read_bounded(&file, MAX_ENTRY_BYTES)?,
    };
    let not_one = |e: String| {
        format!(
            "{} is not a CRL cache entry notation reads ({e})",
            file.display()
        )
    };
    let (base, delta) = decode_entry(&bytes).map_err(not_one)?;
    let base = parse_crl(base.as_slice()).map_err(|e| not_one(format!("base CRL: {e}")))?;
    let delta = match delta {
        Some(d) => Some(parse_crl(d.as_slice()).map_err(|e| not_one(format!("delta CRL: {e}")))?),
        None => None,
    };
    for crl in std::iter::once(&base).chain(&delta) {
        match crl.tbs_cert_list.next_update {
            None => return Err(not_one("a CRL without a nextUpdate".into())),
            Some(n) if n.to_unix_duration() < at.unix_duration() => return Ok(None),
            Some(_) => {}
        }
    }
    Ok(Some(Bundle { base, delta }))
}

/// A CRL as Go's `x509.ParseRevocationList` reads it: its checks, then the first DER element
/// (what follows is ignored).
fn parse_crl(der: &[u8]) -> Result<CertificateList, String> {
    let element = gox509::crl_element(der)?;
    CertificateList::from_der(element).map_err(|e| e.to_string())
}

/// The base and delta CRL bytes of an entry, decoded into notation's `fileCacheContent`
/// (two `[]byte` fields) by Go's JSON decoder; the delta is `None` when Go leaves it nil.
fn decode_entry(bytes: &[u8]) -> Result<(GoSlice<u8>, Option<GoSlice<u8>>), String> {
    let mut base = GoSlice::default();
    let mut delta = GoSlice::default();
    let mut r = Reader::new(bytes);
    json::struct_into(&mut r, |r, key| match key.as_str() {
        k if field_is(k, "baseCRL") => bytes_into(r, &mut base),
        k if field_is(k, "deltaCRL") => bytes_into(r, &mut delta),
        _ => r.skip(),
    })?;
    let delta = (!delta.is_nil()).then_some(delta);
    Ok((base, delta))
}

/// A Go `[]byte` field: a base64 string (Go's standard encoding, line breaks ignored), an
/// array of byte values (decoded as a slice), or `null` (nil).
fn bytes_into(r: &mut Reader<'_>, dst: &mut GoSlice<u8>) -> Result<(), String> {
    match r.peek()? {
        Kind::String => {
            let text = r.string()?;
            *dst = GoSlice::from_vec(base64_std(text.as_bytes())?);
            Ok(())
        }
        Kind::Array | Kind::Null => json::slice_into(r, dst, |r, byte| match r.peek()? {
            Kind::Null => r.null(),
            Kind::Number => {
                let text = r.number()?;
                let plain = text.bytes().all(|b| b.is_ascii_digit())
                    && (text == "0" || !text.starts_with('0'));
                *byte = text
                    .parse::<u8>()
                    .ok()
                    .filter(|_| plain)
                    .ok_or_else(|| format!("{text} is not a byte"))?;
                Ok(())
            }
            _ => Err(r.mismatch("a byte")),
        }),
        _ => Err(r.mismatch("base64 text")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
        let (base, delta) = decode_entry(text.as_bytes())?;
        Ok((
            base.as_slice().to_vec(),
            delta.map(|d| d.as_slice().to_vec()),
        ))
    }

    #[test]
    fn entries_decode_as_go_decodes_them() {
        assert_eq!(
            entry(r#"{"baseCRL":"QUJD"}"#).unwrap(),
            (b"ABC".to_vec(), None)
        );
        assert_eq!(
            entry(r#"{"BaseCRL":"QU\nJD","deltaCRL":null}"#).unwrap().0,
            b"ABC"
        );
        assert_eq!(
            entry(r#"{"baseCRL":"QUJD","BASECRL":[1,2]}"#).unwrap().0,
            [1, 2]
        );
        assert_eq!(
            entry(r#"{"baseCRL":"","deltaCRL":""}"#).unwrap(),
            (vec![], Some(vec![]))
        );
        for bad in [
            r#"{"baseCRL":42}"#,
            r#"{"baseCRL":"QUJ"}"#,
            r#"{"baseCRL":[256]}"#,
            "[]",
        ] {
            assert!(entry(bad).is_err(), "{bad}");
        }
    }
}
