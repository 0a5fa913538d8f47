//! Revocation as notation checks it offline: every certificate but the root, through the CRLs
//! its distribution points name, read from notation's CRL cache. A certificate with neither
//! an OCSP URL nor a CDP is not revocable; an OCSP responder cannot be asked offline; a CRL
//! that is missing, stale, foreign or malformed leaves the status unknown.

use std::path::Path;

use der::{DateTime, Decode};
use x509_cert::Certificate;
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, CrlDistributionPoints, CrlReason, KeyUsage,
    KeyUsages,
};

use super::chain::name;
use super::crl_cache;
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
const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const FRESHEST_CRL: &str = "2.5.29.46";
const INVALIDITY_DATE: &str = "2.5.29.24";

/// The URI distribution points of a certificate, as Go reads them.
fn cdp_urls(cert: &Certificate) -> Vec<String> {
    let Ok(Some((_, cdp))) = cert
        .tbs_certificate()
        .get_extension::<CrlDistributionPoints>()
    else {
        return Vec::new();
    };
    cdp.0
        .iter()
        .filter_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

fn names_ocsp(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
        .ok()
        .flatten()
        .is_some_and(|(_, aia)| {
            aia.0
                .iter()
                .any(|d| d.access_method.to_string() == ID_AD_OCSP)
        })
}

fn has_extension(cert: &Certificate, oid: &str) -> bool {
    cert.tbs_certificate()
        .extensions()
        .is_some_and(|e| e.iter().any(|x| x.extn_id.to_string() == oid))
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

fn cert_status(cert: &Certificate, issuer: &Certificate, at: DateTime, cache: &Path) -> Status {
    let urls = cdp_urls(cert);
    if urls.is_empty() {
        return if names_ocsp(cert) {
            Status::Unknown("it names only an OCSP responder, which cannot be asked offline".into())
        } else {
            Status::Good
        };
    }
    if has_extension(cert, FRESHEST_CRL) {
        return Status::Unknown(
            "notation does not support a freshest-CRL (delta) extension".into(),
        );
    }
    for url in urls {
        if !url.starts_with("http://") {
            return Status::Unknown(format!("notation fetches only http:// CRLs, not {url}"));
        }
        let crls = match crl_cache::read(cache, &url, at) {
            Ok(Some(crls)) => crls,
            Ok(None) => {
                return Status::Unknown(format!(
                    "no current CRL for {url} is in notation's CRL cache, and it cannot be fetched offline"
                ));
            }
            Err(e) => return Status::Unknown(e),
        };
        for crl in &crls {
            if let Err(e) = usable(crl, issuer, at) {
                return Status::Unknown(format!("the CRL for {url} {e}"));
            }
        }
        match entry_status(cert, &crls) {
            Ok(None) => {}
            Ok(Some(why)) => return Status::Revoked(why),
            Err(e) => return Status::Unknown(format!("the CRL for {url}: {e}")),
        }
    }
    Status::Good
}

/// Go's `RevocationList.CheckSignatureFrom` and notation's CRL checks: signed by the issuer's
/// key (a CA with cRLSign when it has a keyUsage), a future nextUpdate, no critical
/// extension but the issuing distribution point and the delta indicator.
fn usable(crl: &CertificateList, issuer: &Certificate, at: DateTime) -> Result<(), String> {
    let tbs = issuer.tbs_certificate();
    let is_ca = tbs
        .get_extension::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, b)| b.ca);
    let crl_sign = tbs
        .get_extension::<KeyUsage>()
        .ok()
        .flatten()
        .is_none_or(|(_, k)| k.0.contains(KeyUsages::CRLSign));
    if !is_ca || !crl_sign {
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
fn entry_status(cert: &Certificate, crls: &[CertificateList]) -> Result<Option<String>, String> {
    let serial = cert.tbs_certificate().serial_number();
    let mut latest_temporary: Option<(&RevokedCert, CrlReason)> = None;
    for entry in crls
        .iter()
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
            } else if oid == "2.5.29.21" {
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
