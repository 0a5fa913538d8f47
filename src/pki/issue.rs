//! Issuance: build the TBS with x509-cert, check it, have the key source sign exactly those
//! bytes, then parse the result back and check and verify it again before anyone sees it.

use der::asn1::BitString;
use der::{Decode, Encode};
use signature::Keypair;
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SubjectPublicKeyInfoOwned,
};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use super::PkiError;
use super::check::{CertProfile, check_certificate, check_tbs};
use crate::signer::KeySigner;

/// Presents a [`KeySigner`] to x509-cert's builder, which asks for the issuer's public key and
/// signature algorithm while assembling the TBS; the signing itself is done by keyrite.
struct BuilderKey<'a> {
    signer: &'a dyn KeySigner,
    spki: SubjectPublicKeyInfoOwned,
}

#[derive(Clone)]
struct IssuerSpki(SubjectPublicKeyInfoOwned);

impl EncodePublicKey for IssuerSpki {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::encode_msg(&self.0)?)
    }
}

impl Keypair for BuilderKey<'_> {
    type VerifyingKey = IssuerSpki;

    fn verifying_key(&self) -> IssuerSpki {
        IssuerSpki(self.spki.clone())
    }
}

impl DynSignatureAlgorithmIdentifier for BuilderKey<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.signer.scheme().algorithm_identifier())
    }
}

/// Issues a certificate: checks the TBS against `check_as` before signing and the result
/// after, and returns its DER.
pub fn issue<P: BuilderProfile>(
    profile: P,
    check_as: CertProfile,
    serial: SerialNumber,
    validity: Validity,
    subject_key: SubjectPublicKeyInfoOwned,
    signer: &dyn KeySigner,
) -> Result<Vec<u8>, PkiError> {
    let key = BuilderKey {
        signer,
        spki: signer
            .public_key()
            .to_spki()
            .map_err(|e| PkiError::Build(e.to_string()))?,
    };
    let mut builder = CertificateBuilder::new(profile, serial, validity, subject_key)
        .map_err(|e| PkiError::Build(e.to_string()))?;
    let tbs_der = builder
        .finalize(&key)
        .map_err(|e| PkiError::Build(e.to_string()))?;
    let tbs = TbsCertificate::from_der(&tbs_der).map_err(|e| PkiError::Build(e.to_string()))?;
    let problems = check_tbs(&tbs, check_as, signer.scheme());
    if !problems.is_empty() {
        return Err(PkiError::Profile {
            stage: "before signing",
            problems,
        });
    }
    let signature = signer
        .sign(&tbs_der)
        .map_err(|e| PkiError::Sign(Box::new(e)))?;
    let signature =
        BitString::from_bytes(&signature).map_err(|e| PkiError::Build(e.to_string()))?;
    let cert: Certificate = builder
        .assemble(signature, &key)
        .map_err(|e| PkiError::Build(e.to_string()))?;
    let der = cert.to_der().map_err(|e| PkiError::Build(e.to_string()))?;
    if cert.tbs_certificate().to_der().ok() != Some(tbs_der) {
        return Err(PkiError::Build(
            "the assembled TBS differs from the one signed".into(),
        ));
    }
    let problems = check_certificate(&der, check_as, signer.scheme(), signer.public_key());
    if !problems.is_empty() {
        return Err(PkiError::Profile {
            stage: "after signing",
            problems,
        });
    }
    Ok(der)
}
