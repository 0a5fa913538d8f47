//! Signature checks between certificates and CRLs already issued: who signed what.

use der::Encode;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use crate::keys::{PublicKey, SignatureScheme};

/// The public key a certificate certifies.
pub fn subject_key(cert: &Certificate) -> Result<PublicKey, String> {
    PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info())
        .map_err(|e| format!("its key cannot be used: {e}"))
}

fn verify(
    alg: &spki::AlgorithmIdentifierOwned,
    tbs: Result<Vec<u8>, der::Error>,
    signature: Option<&[u8]>,
    issuer: &Certificate,
) -> Result<(), String> {
    let scheme = SignatureScheme::from_algorithm_identifier(alg).ok_or_else(|| {
        format!(
            "its signature algorithm {} is not one keyrite accepts",
            alg.oid
        )
    })?;
    let tbs = tbs.map_err(|e| format!("it does not re-encode: {e}"))?;
    let signature = signature.ok_or("its signature is not a whole number of bytes")?;
    subject_key(issuer)?
        .verify(scheme, &tbs, signature)
        .map_err(|_| "its signature does not verify under the issuer's key".to_owned())
}

/// Checks that `issuer` issued `cert`: names equal byte for byte, and the signature verifies.
pub fn issued_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err("its issuer name is not the issuer's subject".into());
    }
    verify(
        cert.signature_algorithm(),
        cert.tbs_certificate().to_der(),
        cert.signature().as_bytes(),
        issuer,
    )
}

/// Checks that `cert`'s signature verifies under its own key, names aside: Go's
/// `CheckSignature`, which is how notation tells a self-signed certificate.
pub fn signed_by_own_key(cert: &Certificate) -> Result<(), String> {
    verify(
        cert.signature_algorithm(),
        cert.tbs_certificate().to_der(),
        cert.signature().as_bytes(),
        cert,
    )
}

/// Checks that `issuer` signed `crl`: names equal, and the signature verifies.
pub fn crl_issued_by(crl: &CertificateList, issuer: &Certificate) -> Result<(), String> {
    if crl.tbs_cert_list.issuer != *issuer.tbs_certificate().subject() {
        return Err("its issuer name is not the issuer's subject".into());
    }
    verify(
        &crl.signature_algorithm,
        crl.tbs_cert_list.to_der(),
        crl.signature.as_bytes(),
        issuer,
    )
}

/// Checks that `crl`'s signature verifies under `issuer`'s key, names aside, as Go's
/// `RevocationList.CheckSignatureFrom` does.
pub fn signed_by_key_of(crl: &CertificateList, issuer: &Certificate) -> Result<(), String> {
    verify(
        &crl.signature_algorithm,
        crl.tbs_cert_list.to_der(),
        crl.signature.as_bytes(),
        issuer,
    )
}
