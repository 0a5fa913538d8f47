//! CRL mechanics: RFC 5280 v2 CRLs whose authority key identifier is the issuer's subject key
//! identifier, with a CRL number, checked against RFC 5280 and notation's rules before they
//! are signed and again after.
//!
//! The TBSCertList is built here rather than with x509-cert's CRL builder, which copies the
//! issuer certificate's authority key identifier into the CRL: right only when the issuer has
//! one equal to its own key identifier (keyrite's root has none, as RFC 5280 allows).

use der::asn1::{OctetString, Uint};
use der::oid::AssociatedOid;
use der::{DateTime, Decode, Encode};
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::time::Time;

use super::PkiError;
use super::check::Issuer;
use crate::keys::{PublicKey, SignatureScheme};

/// The invalidityDate entry extension (RFC 5280 5.3.2).
pub const ID_CE_INVALIDITY_DATE: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.24");

/// The reasons keyrite revokes for (RFC 5280 5.3.1; removeFromCRL is for delta CRLs only).
pub const REASONS: &[(&str, CrlReason)] = &[
    ("unspecified", CrlReason::Unspecified),
    ("keyCompromise", CrlReason::KeyCompromise),
    ("cACompromise", CrlReason::CaCompromise),
    ("affiliationChanged", CrlReason::AffiliationChanged),
    ("superseded", CrlReason::Superseded),
    ("cessationOfOperation", CrlReason::CessationOfOperation),
    ("certificateHold", CrlReason::CertificateHold),
    ("privilegeWithdrawn", CrlReason::PrivilegeWithdrawn),
    ("aACompromise", CrlReason::AaCompromise),
];

/// Parses a CRL given as DER or PEM (what `keyrite bundle revocation --crl` reads).
pub fn parse_crl(bytes: &[u8]) -> Result<CertificateList, der::Error> {
    use der::DecodePem;
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateList::from_pem(bytes)
    } else {
        CertificateList::from_der(bytes)
    }
}

/// The reason `name` (as RFC 5280 spells it) stands for.
pub fn reason_named(name: &str) -> Option<CrlReason> {
    REASONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, reason)| *reason)
}

/// Builds one TBSCertList carrying `entries`.
pub fn tbs_cert_list(
    issuer: &Issuer,
    scheme: SignatureScheme,
    number: u64,
    this_update: DateTime,
    next_update: DateTime,
    entries: Vec<RevokedCert>,
) -> Result<TbsCertList, der::Error> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(issuer.key_id.clone())?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let crl_number = CrlNumber(Uint::new(&number.to_be_bytes())?);
    Ok(TbsCertList {
        version: Version::V2,
        signature: scheme.algorithm_identifier(),
        issuer: issuer.subject.clone(),
        this_update: Time::from(this_update),
        next_update: Some(Time::from(next_update)),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            Extension {
                extn_id: AuthorityKeyIdentifier::OID,
                critical: false,
                extn_value: OctetString::new(aki.to_der()?)?,
            },
            Extension {
                extn_id: CrlNumber::OID,
                critical: false,
                extn_value: OctetString::new(crl_number.to_der()?)?,
            },
        ]),
    })
}

/// Refuses a CRL notation would not use: not v2, a delta CRL, a critical extension other
/// than the issuing distribution point, or an issuer without cRLSign. The ceremony refuses
/// to carry such a CRL in a bundle, and the importer to install one.
pub fn check_crl_form(
    crl: &CertificateList,
    issuer: &x509_cert::Certificate,
) -> Result<(), String> {
    const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
    const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
    let tbs = &crl.tbs_cert_list;
    if tbs.version != x509_cert::certificate::Version::V2 {
        return Err("it is not a v2 CRL".into());
    }
    for ext in tbs.crl_extensions.iter().flatten() {
        let oid = ext.extn_id.to_string();
        if oid == DELTA_CRL_INDICATOR {
            return Err("it is a delta CRL; a bundle carries base CRLs".into());
        }
        if ext.critical && oid != ISSUING_DISTRIBUTION_POINT {
            return Err(format!(
                "it has a critical extension {oid} notation refuses"
            ));
        }
    }
    let can_sign_crls = issuer
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::KeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(_, k)| k.0.contains(x509_cert::ext::pkix::KeyUsages::CRLSign));
    if !can_sign_crls {
        return Err("its issuer has no cRLSign keyUsage, so notation would refuse it".into());
    }
    Ok(())
}

/// A CRL's cRLNumber, when it has one that fits 64 bits.
pub fn number(crl: &CertificateList) -> Option<u64> {
    let exts = crl.tbs_cert_list.crl_extensions.as_deref()?;
    let e = exts.iter().find(|e| e.extn_id == CrlNumber::OID)?;
    let n = CrlNumber::from_der(e.extn_value.as_bytes()).ok()?;
    let bytes = n.0.as_bytes();
    (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Every way a CRL breaks RFC 5280 and notation's rules for the issuer's CRLs (empty when
/// sound).
pub fn check_crl(tbs: &TbsCertList, issuer: &Issuer, scheme: SignatureScheme) -> Vec<String> {
    let mut p = Vec::new();
    if tbs.version != Version::V2 {
        p.push("version is not v2".into());
    }
    if tbs.signature != scheme.algorithm_identifier() {
        p.push(format!("signature algorithm is not {scheme}"));
    }
    if tbs.issuer.to_der().ok() != issuer.subject.to_der().ok() {
        p.push("issuer is not the root's subject byte for byte".into());
    }
    match tbs.next_update {
        None => p.push("nextUpdate is missing (notation requires it)".into()),
        Some(next) if next.to_unix_duration() <= tbs.this_update.to_unix_duration() => {
            p.push("nextUpdate is not after thisUpdate".into())
        }
        _ => {}
    }
    let exts = tbs.crl_extensions.as_deref().unwrap_or_default();
    for ext in exts {
        if ext.critical {
            p.push(format!("CRL extension {} is critical", ext.extn_id));
        }
    }
    let aki = exts
        .iter()
        .find(|e| e.extn_id == AuthorityKeyIdentifier::OID)
        .and_then(|e| AuthorityKeyIdentifier::from_der(e.extn_value.as_bytes()).ok());
    if aki
        .and_then(|a| a.key_identifier)
        .map(|k| k.as_bytes().to_vec())
        != Some(issuer.key_id.clone())
    {
        p.push("authorityKeyIdentifier is not the root's subject key identifier".into());
    }
    match exts.iter().find(|e| e.extn_id == CrlNumber::OID) {
        Some(e) => match CrlNumber::from_der(e.extn_value.as_bytes()) {
            Ok(n) if n.0.as_bytes().len() > 20 => {
                p.push("cRLNumber is longer than 20 octets".into())
            }
            Ok(_) => {}
            Err(e) => p.push(format!("cRLNumber does not decode: {e}")),
        },
        None => p.push("cRLNumber is missing".into()),
    }
    for entry in tbs.revoked_certificates.as_deref().unwrap_or_default() {
        for ext in entry.crl_entry_extensions.as_deref().unwrap_or_default() {
            if ext.critical {
                p.push(format!("an entry extension {} is critical", ext.extn_id));
            }
        }
    }
    p
}

/// Parses a signed CRL back, checks it again and verifies its signature under the issuer's key.
pub fn verify_crl(
    der: &[u8],
    issuer: &Issuer,
    key: &PublicKey,
    scheme: SignatureScheme,
) -> Result<(), PkiError> {
    let crl = CertificateList::from_der(der)
        .map_err(|e| PkiError::Build(format!("the CRL does not parse back: {e}")))?;
    let mut problems = check_crl(&crl.tbs_cert_list, issuer, scheme);
    let tbs = crl
        .tbs_cert_list
        .to_der()
        .map_err(|e| PkiError::Build(e.to_string()))?;
    if key
        .verify(scheme, &tbs, crl.signature.as_bytes().unwrap_or_default())
        .is_err()
    {
        problems.push("its signature does not verify under the root key".into());
    }
    if crl.to_der().ok().as_deref() != Some(der) {
        problems.push("it does not re-encode to the same bytes".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PkiError::Profile {
            stage: "after signing",
            problems,
        })
    }
}
