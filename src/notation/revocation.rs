//! Revocation as notation checks it offline: every certificate but the root, through the CRLs
//! its distribution points name, read from notation's CRL cache (before any scheme check, so
//! a cached `https://` CRL counts), with the delta CRL an entry may hold. A certificate with
//! neither an OCSP URL nor a CDP is not revocable; an OCSP responder cannot be asked offline;
//! a CRL that is missing, stale, foreign or malformed leaves the status unknown.

use std::cmp::Ordering;
use std::path::Path;

use der::{DateTime, Decode};
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, CrlReason, KeyUsage, KeyUsages,
};

use super::chain::name;
use super::crl_cache::{self, Bundle};
use super::go::x509 as gox509;
use crate::pki::serial_hex;
use crate::pki::verify::signed_by_key_of;

/// A chain's revocation status.
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    /// Nothing in it is revoked, and every status is known.
    Good,
    /// A certificate is revoked.
    Revoked(String),
    /// A certificate's status cannot be known offline.
    Unknown(String),
}

const ID_AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
const CRL_DISTRIBUTION_POINTS: &str = "2.5.29.31";
const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const FRESHEST_CRL: &str = "2.5.29.46";
const CRL_NUMBER: &str = "2.5.29.20";
const INVALIDITY_DATE: &str = "2.5.29.24";
const REASON_CODE: &str = "2.5.29.21";

/// The value of the extension `oid` of a certificate, if it has one.
fn extension<'a>(cert: &'a Certificate, oid: &str) -> Option<&'a [u8]> {
    cert.tbs_certificate()
        .extensions()?
        .iter()
        .find(|x| x.extn_id.to_string() == oid)
        .map(|x| x.extn_value.as_bytes())
}

/// The CRL URLs of a certificate as Go reads them: in each distribution point's full name,
/// the URIs up to the first name that is not one.
fn cdp_urls(cert: &Certificate) -> Vec<String> {
    extension(cert, CRL_DISTRIBUTION_POINTS)
        .and_then(|v| gox509::distribution_points(v).ok())
        .unwrap_or_default()
}

/// Whether the certificate names an OCSP responder by URI, as Go's `OCSPServer` lists them.
fn names_ocsp(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
        .ok()
        .flatten()
        .is_some_and(|(_, aia)| {
            aia.0.iter().any(|d| {
                d.access_method.to_string() == ID_AD_OCSP
                    && matches!(d.access_location, GeneralName::UniformResourceIdentifier(_))
            })
        })
}

/// The chain's status at `at`: revoked wins over unknown, as in notation's final result.
pub fn status(chain: &[Certificate], at: DateTime, cache: &Path) -> Status {
    let mut unknown = None;
    for (i, pair) in chain.windows(2).enumerate() {
        match cert_status(&pair[0], &pair[1], at, cache) {
            Status::Good => {}
            Status::Revoked(why) => {
                return Status::Revoked(format!(
                    "certificate {} ({}) {why}",
                    i + 1,
                    name(&pair[0])
                ));
            }
            Status::Unknown(why) => {
                unknown.get_or_insert(format!(
                    "the revocation status of certificate {} ({}) is unknown: {why}",
                    i + 1,
                    name(&pair[0])
                ));
            }
        }
    }
    unknown.map_or(Status::Good, Status::Unknown)
}

/// notation-core-go's `crl.CertCheckStatus`, offline: each URL's CRLs from the cache,
/// validated, then searched for the certificate; the first failure leaves the status unknown.
fn cert_status(cert: &Certificate, issuer: &Certificate, at: DateTime, cache: &Path) -> Status {
    let urls = cdp_urls(cert);
    if urls.is_empty() {
        return if names_ocsp(cert) {
            Status::Unknown("it names only an OCSP responder, which cannot be asked offline".into())
        } else {
            Status::Good
        };
    }
    let wants_delta = extension(cert, FRESHEST_CRL).is_some();
    for url in urls {
        if url.is_empty() {
            return Status::Unknown("a CRL distribution point is an empty URL".into());
        }
        let bundle = match crl_cache::read(cache, &url, at) {
            Ok(Some(bundle)) => bundle,
            Ok(None) => {
                return Status::Unknown(format!(
                    "no current CRL for {url} is in notation's CRL cache, and it cannot be fetched offline (notation fetches only http:// CRLs)"
                ));
            }
            Err(e) => return Status::Unknown(e),
        };
        if wants_delta && bundle.delta.is_none() {
            return Status::Unknown(format!(
                "the certificate names a freshest (delta) CRL, and the cache entry for {url} holds none: notation does not support that"
            ));
        }
        if let Err(e) = validate(&bundle, issuer, at) {
            return Status::Unknown(format!("the CRL for {url} {e}"));
        }
        match entry_status(cert, &bundle) {
            Ok(None) => {}
            Ok(Some(why)) => return Status::Revoked(why),
            Err(e) => return Status::Unknown(format!("the CRL for {url}: {e}")),
        }
    }
    Status::Good
}

/// The value of the extension `oid` of a CRL, if it has one.
fn crl_extension<'a>(crl: &'a CertificateList, oid: &str) -> Option<&'a [u8]> {
    crl.tbs_cert_list
        .crl_extensions
        .iter()
        .flatten()
        .find(|x| x.extn_id.to_string() == oid)
        .map(|x| x.extn_value.as_bytes())
}

/// The CRL number of `crl` (the contents of its INTEGER); notation fails without one.
fn crl_number<'a>(crl: &'a CertificateList, what: &str) -> Result<&'a [u8], String> {
    crl_extension(crl, CRL_NUMBER)
        .and_then(gox509::integer_in)
        .ok_or_else(|| format!("has a {what} CRL without a CRL number, on which notation fails"))
}

/// notation-core-go's `validate`: each CRL usable, and a delta CRL numbered after the base,
/// with a delta CRL indicator no greater than the base's number.
fn validate(bundle: &Bundle, issuer: &Certificate, at: DateTime) -> Result<(), String> {
    usable(&bundle.base, issuer, at).map_err(|e| format!("(base) {e}"))?;
    let Some(delta) = &bundle.delta else {
        return Ok(());
    };
    usable(delta, issuer, at).map_err(|e| format!("(delta) {e}"))?;
    let base_number = crl_number(&bundle.base, "base")?;
    let delta_number = crl_number(delta, "delta")?;
    if gox509::cmp_integers(delta_number, base_number) != Ordering::Greater {
        return Err("has a delta CRL whose number is not greater than the base CRL's".into());
    }
    let indicator = crl_extension(delta, DELTA_CRL_INDICATOR)
        .ok_or("has a delta CRL without a delta CRL indicator")?;
    let minimum =
        gox509::integer_in(indicator).ok_or("has a delta CRL indicator that does not parse")?;
    if gox509::cmp_integers(minimum, base_number) == Ordering::Greater {
        return Err("has a delta CRL whose indicator is greater than the base CRL's number".into());
    }
    Ok(())
}

/// Go's `RevocationList.CheckSignatureFrom` and notation's CRL checks: an issuer that is a CA
/// (a v3 certificate must say so in basicConstraints) whose keyUsage, if it has any bit, has
/// cRLSign; signed by its key; a future nextUpdate; no critical extension but the issuing
/// distribution point and the delta indicator.
fn usable(crl: &CertificateList, issuer: &Certificate, at: DateTime) -> Result<(), String> {
    let tbs = issuer.tbs_certificate();
    let bc = tbs.get_extension::<BasicConstraints>().ok().flatten();
    let not_ca = match bc {
        Some((_, b)) => !b.ca,
        None => tbs.version() == Version::V3,
    };
    let no_crl_sign = tbs
        .get_extension::<KeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(_, k)| !k.0.is_empty() && !k.0.contains(KeyUsages::CRLSign));
    if not_ca || no_crl_sign {
        return Err(format!(
            "cannot come from {}: it is not a CA with cRLSign",
            name(issuer)
        ));
    }
    signed_by_key_of(crl, issuer)
        .map_err(|e| format!("is not signed by {} ({e})", name(issuer)))?;
    match crl.tbs_cert_list.next_update {
        None => return Err("has no nextUpdate".into()),
        Some(n) if n.to_unix_duration() < at.unix_duration() => {
            return Err(format!("is past its nextUpdate ({n})"));
        }
        Some(_) => {}
    }
    for ext in crl.tbs_cert_list.crl_extensions.iter().flatten() {
        let oid = ext.extn_id.to_string();
        if ext.critical && oid != ISSUING_DISTRIBUTION_POINT && oid != DELTA_CRL_INDICATOR {
            return Err(format!("has a critical extension {oid} notation refuses"));
        }
    }
    Ok(())
}

/// notation-core-go's `checkRevocation` for a `notary.x509` signature (which has no
/// authentic signing time, so an entry's invalidityDate changes nothing): any entry with a
/// reason other than certificateHold or removeFromCRL revokes; otherwise the latest hold or
/// remove entry decides.
fn entry_status(cert: &Certificate, bundle: &Bundle) -> Result<Option<String>, String> {
    let serial = cert.tbs_certificate().serial_number();
    let mut latest_temporary: Option<(&RevokedCert, CrlReason)> = None;
    for entry in std::iter::once(&bundle.base)
        .chain(&bundle.delta)
        .flat_map(|c| c.tbs_cert_list.revoked_certificates.iter().flatten())
        .filter(|e| &e.serial_number == serial)
    {
        let mut reason = None;
        let mut invalidity = None;
        for ext in entry.crl_entry_extensions.iter().flatten() {
            let oid = ext.extn_id.to_string();
            if oid == INVALIDITY_DATE {
                invalidity = Some(
                    der::asn1::GeneralizedTime::from_der(ext.extn_value.as_bytes())
                        .map_err(|e| format!("an invalidity date does not parse ({e})"))?,
                );
            } else if oid == REASON_CODE {
                reason = CrlReason::from_der(ext.extn_value.as_bytes()).ok();
            } else if ext.critical {
                return Err(format!("an entry has a critical extension {oid}"));
            }
        }
        match reason {
            Some(r @ (CrlReason::CertificateHold | CrlReason::RemoveFromCRL)) => {
                let later = latest_temporary.is_none_or(|(l, _)| {
                    l.revocation_date.to_unix_duration() < entry.revocation_date.to_unix_duration()
                });
                if later {
                    latest_temporary = Some((entry, r));
                }
            }
            _ => {
                let note = invalidity.map_or(String::new(), |d| {
                    format!(
                        " (its invalidity date {} does not spare a notary.x509 signature, which carries no authentic signing time)",
                        d.to_date_time()
                    )
                });
                return Ok(Some(format!(
                    "was revoked on {} (serial {}){note}",
                    entry.revocation_date,
                    serial_hex(serial)
                )));
            }
        }
    }
    Ok(match latest_temporary {
        Some((entry, CrlReason::CertificateHold)) => Some(format!(
            "is on hold since {} (serial {})",
            entry.revocation_date,
            serial_hex(serial)
        )),
        _ => None,
    })
}
