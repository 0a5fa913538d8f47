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
use crate::keys::KeySigner;

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
    check_as: CertProfile<'_>,
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
    let signature = signer.sign(&tbs_der)?;
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::str::FromStr;

    use p384::elliptic_curve::Generate;
    use x509_cert::ext::Extension;
    use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
    use x509_cert::name::Name;

    use super::*;
    use crate::keys::{PublicKey, SignatureScheme};
    use crate::pki::name::parse_subject;
    use crate::pki::profile::{RootProfile, extension};
    use crate::pki::validity::Period;

    /// A software P-384 key that counts how often it is asked to sign.
    struct CountingSigner {
        key: p384::ecdsa::SigningKey,
        public: PublicKey,
        calls: Cell<usize>,
    }

    impl CountingSigner {
        fn new() -> Self {
            let secret = p384::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
            let key = p384::ecdsa::SigningKey::from(secret);
            let public = PublicKey::P384(*key.verifying_key());
            Self {
                key,
                public,
                calls: Cell::new(0),
            }
        }
    }

    impl KeySigner for CountingSigner {
        fn public_key(&self) -> &PublicKey {
            &self.public
        }
        fn scheme(&self) -> SignatureScheme {
            SignatureScheme::EcdsaSha384
        }
        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, crate::keys::KeyError> {
            self.calls.set(self.calls.get() + 1);
            let sig: p384::ecdsa::DerSignature = signature::Signer::sign(&self.key, message);
            Ok(sig.as_bytes().to_vec())
        }
    }

    type EditFn = dyn Fn(&mut Vec<Extension>);

    /// The root profile with its extensions changed by `edit`.
    struct Edited<F: Fn(&mut Vec<Extension>)> {
        root: RootProfile,
        edit: F,
    }

    impl<F: Fn(&mut Vec<Extension>)> BuilderProfile for Edited<F> {
        fn get_issuer(&self, subject: &Name) -> Name {
            self.root.get_issuer(subject)
        }
        fn get_subject(&self) -> Name {
            self.root.get_subject()
        }
        fn build_extensions(
            &self,
            spk: spki::SubjectPublicKeyInfoRef<'_>,
            issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
            tbs: &TbsCertificate,
        ) -> x509_cert::builder::Result<Vec<Extension>> {
            let mut exts = self.root.build_extensions(spk, issuer_spk, tbs)?;
            (self.edit)(&mut exts);
            Ok(exts)
        }
    }

    fn root_profile(subject: Name) -> RootProfile {
        RootProfile { subject }
    }

    fn try_issue<P: BuilderProfile>(
        profile: P,
        signer: &CountingSigner,
    ) -> Result<Vec<u8>, PkiError> {
        issue(
            profile,
            CertProfile::Root,
            SerialNumber::generate(&mut getrandom::rand_core::UnwrapErr(getrandom::SysRng)),
            Period::Years(1).validity_from_now().unwrap(),
            signer.public.to_spki().unwrap(),
            signer,
        )
    }

    fn subject() -> Name {
        parse_subject("C=US,ST=WA,O=Example,CN=Test Root").unwrap()
    }

    #[test]
    fn a_sound_root_is_signed_once_and_checks_clean() {
        let signer = CountingSigner::new();
        let der = try_issue(root_profile(subject()), &signer).unwrap();
        assert_eq!(signer.calls.get(), 1);
        assert!(
            check_certificate(
                &der,
                CertProfile::Root,
                SignatureScheme::EcdsaSha384,
                &signer.public
            )
            .is_empty()
        );
    }

    #[test]
    fn a_tbs_that_breaks_the_profile_is_never_signed() {
        let cases: Vec<(&str, Box<EditFn>)> = vec![
            (
                "basicConstraints must be critical",
                Box::new(|e: &mut Vec<Extension>| e[0].critical = false),
            ),
            (
                "subjectKeyIdentifier is missing",
                Box::new(|e: &mut Vec<Extension>| e.truncate(2)),
            ),
            (
                "keyUsage must be exactly keyCertSign + cRLSign",
                Box::new(|e: &mut Vec<Extension>| {
                    let ku = KeyUsage(
                        KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature,
                    );
                    e[1] = extension(&ku, true).unwrap();
                }),
            ),
            (
                "a root CA certificate carries no pathLenConstraint",
                Box::new(|e: &mut Vec<Extension>| {
                    let bc = BasicConstraints {
                        ca: true,
                        path_len_constraint: Some(0),
                    };
                    e[0] = extension(&bc, true).unwrap();
                }),
            ),
            (
                "unexpected extension 2.5.29.37",
                Box::new(|e: &mut Vec<Extension>| {
                    let eku = ExtendedKeyUsage(vec![der::oid::db::rfc5280::ID_KP_CODE_SIGNING]);
                    e.push(extension(&eku, false).unwrap());
                }),
            ),
            (
                "extension 2.5.29.19 appears twice",
                Box::new(|e: &mut Vec<Extension>| e.push(e[0].clone())),
            ),
        ];
        for (expected, edit) in cases {
            let signer = CountingSigner::new();
            let err = try_issue(
                Edited {
                    root: root_profile(subject()),
                    edit,
                },
                &signer,
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("before signing"), "{expected}: {err}");
            assert!(err.contains(expected), "{expected}: {err}");
            assert_eq!(
                signer.calls.get(),
                0,
                "{expected}: the key was asked to sign"
            );
        }
    }

    #[test]
    fn a_subject_without_the_notary_attributes_is_never_signed() {
        let signer = CountingSigner::new();
        let err = try_issue(
            root_profile(Name::from_str("CN=Root,O=Example").unwrap()),
            &signer,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("subject: C, ST missing"), "{err}");
        assert_eq!(signer.calls.get(), 0);
    }
}
