//! The pre-issuance check: a TBS certificate is held against RFC 5280 and the Notary Project
//! rules for its profile before anything signs it, and the signed certificate again after.

use der::asn1::UtcTime;
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::time::Time;

use super::name::check_subject;
use crate::signer::{PublicKey, SignatureScheme};

/// The certificate profiles keyrite issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertProfile {
    /// A self-signed root CA: CA=TRUE, keyCertSign + cRLSign, SKI.
    Root,
}

impl CertProfile {
    fn describe(self) -> &'static str {
        match self {
            CertProfile::Root => "root CA certificate",
        }
    }
}

/// Every way `tbs` breaks `profile` (empty when it follows it). `scheme` is what the issuer
/// will sign with.
pub fn check_tbs(
    tbs: &TbsCertificate,
    profile: CertProfile,
    scheme: SignatureScheme,
) -> Vec<String> {
    let mut p = Vec::new();
    if tbs.version() != Version::V3 {
        p.push("version is not v3".into());
    }
    let serial = tbs.serial_number().as_bytes();
    if serial.is_empty() || serial.iter().all(|b| *b == 0) {
        p.push("serial number is zero".into());
    }
    if serial.len() > 20 {
        p.push(format!(
            "serial number is {} octets; RFC 5280 allows 20",
            serial.len()
        ));
    }
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        p.push("serial number is negative".into());
    }
    if *tbs.signature() != scheme.algorithm_identifier() {
        p.push(format!("signature algorithm is not {scheme}"));
    }
    check_validity(tbs, &mut p);
    p.extend(
        check_subject(tbs.subject())
            .into_iter()
            .map(|s| format!("subject: {s}")),
    );
    if tbs.issuer_unique_id().is_some() || tbs.subject_unique_id().is_some() {
        p.push("unique identifiers must not be present".into());
    }
    let subject_key = PublicKey::from_spki(tbs.subject_public_key_info());
    match &subject_key {
        Ok(key) if key.algorithm().is_none() => {
            p.push(format!("{} is not a CA key algorithm", key.describe()))
        }
        Ok(_) => {}
        Err(e) => p.push(format!("subject public key: {e}")),
    }
    match profile {
        CertProfile::Root => {
            if tbs.issuer() != tbs.subject() {
                p.push("issuer differs from subject in a self-signed root".into());
            }
            if let Ok(key) = &subject_key
                && key.algorithm().map(|a| a.signature_scheme()) != Some(scheme)
            {
                p.push(format!(
                    "a self-signed root with a {} key cannot be signed with {scheme}",
                    key.describe()
                ));
            }
        }
    }
    check_extensions(tbs, profile, &mut p);
    p
}

fn check_validity(tbs: &TbsCertificate, p: &mut Vec<String>) {
    let v = tbs.validity();
    if v.not_before.to_unix_duration() >= v.not_after.to_unix_duration() {
        p.push("notBefore is not before notAfter".into());
    }
    for (name, t) in [("notBefore", v.not_before), ("notAfter", v.not_after)] {
        let year = t.to_date_time().year();
        let ok = match t {
            Time::UtcTime(_) => year <= UtcTime::MAX_YEAR,
            Time::GeneralTime(_) => year > UtcTime::MAX_YEAR,
        };
        if !ok {
            p.push(format!(
                "{name} must be UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 4.1.2.5)"
            ));
        }
    }
}

fn check_extensions(tbs: &TbsCertificate, profile: CertProfile, p: &mut Vec<String>) {
    let Some(exts) = tbs.extensions() else {
        p.push(
            "no extensions: a v3 CA certificate needs basicConstraints, keyUsage and SKI".into(),
        );
        return;
    };
    let mut seen = Vec::new();
    for ext in exts.iter() {
        if seen.contains(&ext.extn_id) {
            p.push(format!("extension {} appears twice", ext.extn_id));
        }
        seen.push(ext.extn_id);
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            BasicConstraints::OID => match BasicConstraints::from_der(value) {
                Ok(bc) => {
                    if !ext.critical {
                        p.push("basicConstraints must be critical".into());
                    }
                    match profile {
                        CertProfile::Root => {
                            if !bc.ca {
                                p.push("basicConstraints must have cA=TRUE".into());
                            }
                            if bc.path_len_constraint.is_some() {
                                p.push("a root carries no pathLenConstraint".into());
                            }
                        }
                    }
                }
                Err(e) => p.push(format!("basicConstraints does not decode: {e}")),
            },
            KeyUsage::OID => match KeyUsage::from_der(value) {
                Ok(ku) => {
                    if !ext.critical {
                        p.push("keyUsage must be critical".into());
                    }
                    let want = match profile {
                        CertProfile::Root => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
                    };
                    if ku.0 != want {
                        p.push(format!(
                            "keyUsage must be exactly {}",
                            match profile {
                                CertProfile::Root => "keyCertSign + cRLSign",
                            }
                        ));
                    }
                }
                Err(e) => p.push(format!("keyUsage does not decode: {e}")),
            },
            SubjectKeyIdentifier::OID => match SubjectKeyIdentifier::from_der(value) {
                Ok(ski) => {
                    if ext.critical {
                        p.push("subjectKeyIdentifier must not be critical".into());
                    }
                    if ski.0.as_bytes().is_empty() {
                        p.push("subjectKeyIdentifier is empty".into());
                    }
                }
                Err(e) => p.push(format!("subjectKeyIdentifier does not decode: {e}")),
            },
            other => p.push(format!(
                "unexpected extension {other} in a {}",
                profile.describe()
            )),
        }
    }
    for (oid, name) in [
        (BasicConstraints::OID, "basicConstraints"),
        (KeyUsage::OID, "keyUsage"),
        (SubjectKeyIdentifier::OID, "subjectKeyIdentifier"),
    ] {
        if !seen.contains(&oid) {
            p.push(format!("{name} is missing"));
        }
    }
}

/// Every way a signed certificate breaks `profile` or fails to verify against `issuer`.
pub fn check_certificate(
    der: &[u8],
    profile: CertProfile,
    scheme: SignatureScheme,
    issuer: &PublicKey,
) -> Vec<String> {
    let cert = match Certificate::from_der(der) {
        Ok(c) => c,
        Err(e) => return vec![format!("the certificate does not parse as strict DER: {e}")],
    };
    let mut p = check_tbs(cert.tbs_certificate(), profile, scheme);
    if cert.signature_algorithm() != cert.tbs_certificate().signature() {
        p.push("outer and inner signature algorithms differ".into());
    }
    match cert.tbs_certificate().to_der() {
        Ok(tbs) => {
            let sig = cert.signature().as_bytes().unwrap_or_default();
            if let Err(e) = issuer.verify(scheme, &tbs, sig) {
                p.push(format!("the certificate's signature is bad: {e}"));
            }
            // A root must verify under its own key, whoever the caller thinks signed it.
            if profile == CertProfile::Root {
                match PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info()) {
                    Ok(own) if own.verify(scheme, &tbs, sig).is_ok() => {}
                    _ => p.push("the root does not verify under its own public key".into()),
                }
            }
        }
        Err(e) => p.push(format!("the TBS does not re-encode: {e}")),
    }
    if cert.to_der().ok().as_deref() != Some(der) {
        p.push("the certificate does not re-encode to the same bytes".into());
    }
    p
}
