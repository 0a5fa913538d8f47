//! The pre-issuance check: a TBS certificate is held against RFC 5280 and the Notary Project
//! rules for its profile before anything signs it, and the signed certificate again after.

use der::asn1::ObjectIdentifier;
use der::asn1::UtcTime;
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::time::Time;

use super::csr::check_leaf_key;
use super::name::check_subject;
use crate::keys::{PublicKey, SignatureScheme};

/// id-kp-codeSigning.
pub const CODE_SIGNING: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// What a delegate certificate must agree with about its issuer.
#[derive(Clone, Debug)]
pub struct Issuer {
    /// The issuer's subject, which must be the delegate's issuer byte for byte.
    pub subject: Name,
    /// The issuer's subject key identifier, the delegate's authority key identifier.
    pub key_id: Vec<u8>,
    /// The issuer's notAfter, which the delegate must not outlive.
    pub not_after: Time,
}

/// The certificate profiles keyrite issues.
#[derive(Clone, Copy, Debug)]
pub enum CertProfile<'a> {
    /// A self-signed root CA: CA=TRUE, keyCertSign + cRLSign, SKI.
    Root,
    /// A publisher's signing certificate: digitalSignature, codeSigning, CA=FALSE.
    Signing(&'a Issuer),
    /// A delegate CA: CA=TRUE pathLen 0, keyCertSign + cRLSign.
    DelegateCa(&'a Issuer),
}

impl CertProfile<'_> {
    fn describe(self) -> &'static str {
        match self {
            CertProfile::Root => "root CA certificate",
            CertProfile::Signing(_) => "signing certificate",
            CertProfile::DelegateCa(_) => "delegate CA certificate",
        }
    }

    fn is_ca(self) -> bool {
        !matches!(self, CertProfile::Signing(_))
    }
}

/// Every way `tbs` breaks `profile` (empty when it follows it). `scheme` is what the issuer
/// will sign with.
pub fn check_tbs(
    tbs: &TbsCertificate,
    profile: CertProfile<'_>,
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
        Ok(key) if matches!(profile, CertProfile::Root) && key.algorithm().is_none() => {
            p.push(format!("{} is not a CA key algorithm", key.describe()))
        }
        Ok(key) => {
            if let Err(e) = check_leaf_key(key) {
                p.push(e);
            }
        }
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
        CertProfile::Signing(issuer) | CertProfile::DelegateCa(issuer) => {
            if tbs.issuer().to_der().ok() != issuer.subject.to_der().ok() {
                p.push("issuer is not the root's subject byte for byte".into());
            }
            if tbs.validity().not_after.to_unix_duration() > issuer.not_after.to_unix_duration() {
                p.push(format!(
                    "notAfter outlives the root (valid until {})",
                    issuer.not_after
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

fn check_extensions(tbs: &TbsCertificate, profile: CertProfile<'_>, p: &mut Vec<String>) {
    let Some(exts) = tbs.extensions() else {
        p.push(format!(
            "no extensions: a v3 {} needs them",
            profile.describe()
        ));
        return;
    };
    let mut seen = Vec::new();
    for ext in exts.iter() {
        if seen.contains(&ext.extn_id) {
            p.push(format!("extension {} appears twice", ext.extn_id));
        }
        seen.push(ext.extn_id);
        match (ext.extn_id, profile) {
            (BasicConstraints::OID, _) => check_basic_constraints(ext, profile, p),
            (KeyUsage::OID, _) => check_key_usage(ext, profile, p),
            (SubjectKeyIdentifier::OID, _) => check_ski(ext, p),
            (AuthorityKeyIdentifier::OID, CertProfile::Signing(i) | CertProfile::DelegateCa(i)) => {
                check_aki(ext, i, p)
            }
            (ExtendedKeyUsage::OID, CertProfile::Signing(_)) => check_eku(ext, p),
            (CrlDistributionPoints::OID, CertProfile::Signing(_) | CertProfile::DelegateCa(_)) => {
                check_cdp(ext, p)
            }
            (SubjectAltName::OID, CertProfile::Signing(_)) => {
                if let Err(e) = SubjectAltName::from_der(ext.extn_value.as_bytes()) {
                    p.push(undecodable("subjectAltName", e));
                }
            }
            (other, _) => p.push(format!(
                "unexpected extension {other} in a {}",
                profile.describe()
            )),
        }
    }
    check_required(&seen, profile, p);
}

fn undecodable(name: &str, e: der::Error) -> String {
    format!("{name} does not decode: {e}")
}

fn check_basic_constraints(ext: &Extension, profile: CertProfile<'_>, p: &mut Vec<String>) {
    let bc = match BasicConstraints::from_der(ext.extn_value.as_bytes()) {
        Ok(bc) => bc,
        Err(e) => return p.push(undecodable("basicConstraints", e)),
    };
    if !ext.critical {
        p.push("basicConstraints must be critical".into());
    }
    if bc.ca != profile.is_ca() {
        p.push(format!("basicConstraints must have cA={}", profile.is_ca()));
    }
    let path_len = match profile {
        CertProfile::DelegateCa(_) => Some(0),
        _ => None,
    };
    if bc.path_len_constraint != path_len {
        p.push(match path_len {
            Some(n) => format!("pathLenConstraint must be {n}"),
            None => format!("a {} carries no pathLenConstraint", profile.describe()),
        });
    }
}

fn check_key_usage(ext: &Extension, profile: CertProfile<'_>, p: &mut Vec<String>) {
    let ku = match KeyUsage::from_der(ext.extn_value.as_bytes()) {
        Ok(ku) => ku,
        Err(e) => return p.push(undecodable("keyUsage", e)),
    };
    if !ext.critical {
        p.push("keyUsage must be critical".into());
    }
    let (want, shown) = if profile.is_ca() {
        (
            KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            "keyCertSign + cRLSign",
        )
    } else {
        (KeyUsages::DigitalSignature.into(), "digitalSignature")
    };
    if ku.0 != want {
        p.push(format!("keyUsage must be exactly {shown}"));
    }
}

fn check_ski(ext: &Extension, p: &mut Vec<String>) {
    let ski = match SubjectKeyIdentifier::from_der(ext.extn_value.as_bytes()) {
        Ok(ski) => ski,
        Err(e) => return p.push(undecodable("subjectKeyIdentifier", e)),
    };
    if ext.critical {
        p.push("subjectKeyIdentifier must not be critical".into());
    }
    if ski.0.as_bytes().is_empty() {
        p.push("subjectKeyIdentifier is empty".into());
    }
}

fn check_aki(ext: &Extension, issuer: &Issuer, p: &mut Vec<String>) {
    let aki = match AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes()) {
        Ok(aki) => aki,
        Err(e) => return p.push(undecodable("authorityKeyIdentifier", e)),
    };
    if ext.critical {
        p.push("authorityKeyIdentifier must not be critical".into());
    }
    if aki.key_identifier.as_ref().map(|k| k.as_bytes()) != Some(issuer.key_id.as_slice())
        || aki.authority_cert_issuer.is_some()
        || aki.authority_cert_serial_number.is_some()
    {
        p.push("authorityKeyIdentifier must be exactly the root's key identifier".into());
    }
}

fn check_eku(ext: &Extension, p: &mut Vec<String>) {
    match ExtendedKeyUsage::from_der(ext.extn_value.as_bytes()) {
        Ok(eku) if eku.0 != [CODE_SIGNING] => {
            p.push("extendedKeyUsage must be exactly codeSigning".into())
        }
        Ok(_) => {}
        Err(e) => p.push(undecodable("extendedKeyUsage", e)),
    }
}

fn check_cdp(ext: &Extension, p: &mut Vec<String>) {
    let cdp = match CrlDistributionPoints::from_der(ext.extn_value.as_bytes()) {
        Ok(cdp) => cdp,
        Err(e) => return p.push(undecodable("cRLDistributionPoints", e)),
    };
    let http_only = !cdp.0.is_empty()
        && cdp.0.iter().all(|dp| {
            dp.reasons.is_none()
                && dp.crl_issuer.is_none()
                && matches!(&dp.distribution_point,
                    Some(DistributionPointName::FullName(names))
                        if names.iter().all(|n| matches!(n,
                            GeneralName::UniformResourceIdentifier(u)
                                if u.as_str().starts_with("http://"))))
        });
    if !http_only {
        p.push(
            "cRLDistributionPoints must be plain http:// URLs (notation fetches only those)".into(),
        );
    }
}

/// Names every extension `profile` requires that `seen` lacks.
fn check_required(seen: &[ObjectIdentifier], profile: CertProfile<'_>, p: &mut Vec<String>) {
    let mut required = vec![
        (BasicConstraints::OID, "basicConstraints"),
        (KeyUsage::OID, "keyUsage"),
        (SubjectKeyIdentifier::OID, "subjectKeyIdentifier"),
    ];
    if !matches!(profile, CertProfile::Root) {
        required.push((AuthorityKeyIdentifier::OID, "authorityKeyIdentifier"));
    }
    if matches!(profile, CertProfile::Signing(_)) {
        required.push((ExtendedKeyUsage::OID, "extendedKeyUsage"));
    }
    if matches!(profile, CertProfile::DelegateCa(_)) {
        required.push((
            CrlDistributionPoints::OID,
            "cRLDistributionPoints (a delegate CA must be revocable)",
        ));
    }
    for (oid, name) in required {
        if !seen.contains(&oid) {
            p.push(format!("{name} is missing"));
        }
    }
}

/// Every way a signed certificate breaks `profile` or fails to verify against `issuer`.
pub fn check_certificate(
    der: &[u8],
    profile: CertProfile<'_>,
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
            if matches!(profile, CertProfile::Root) {
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
