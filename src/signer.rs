//! Key algorithms, public keys and the one signing trait every key source implements.
//!
//! Issuance, CRLs, bundles and transcripts only ever see a [`KeySigner`]: whether the key
//! lives on a PKCS#11 token, in an age-encrypted file or behind a plugin is the key source's
//! business. Every implementation must verify its own signature before returning it;
//! [`PublicKey::verify`] is the software check they use.

use std::fmt;
use std::str::FromStr;

use der::asn1::{Null, ObjectIdentifier};
use der::{Decode, Encode};
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::Verifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// Key algorithms keyrite creates: every one for publishers' signing keys, all but RSA-2048
/// for CA keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384 (the default for roots).
    P384,
    /// ECDSA on NIST P-521.
    P521,
    /// RSA with a 2048-bit modulus (publisher keys only).
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
}

/// The names accepted on the command line, in the order they are offered.
pub const ALGORITHM_NAMES: &[&str] = &["p384", "p256", "p521", "rsa2048", "rsa3072", "rsa4096"];

/// An algorithm name that keyrite does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown key algorithm '{0}': choose one of {names}", names = ALGORITHM_NAMES.join(", "))]
pub struct UnknownAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "p256" | "p-256" | "ec-256" => Ok(Self::P256),
            "p384" | "p-384" | "ec-384" => Ok(Self::P384),
            "p521" | "p-521" | "ec-521" => Ok(Self::P521),
            "rsa2048" | "rsa-2048" => Ok(Self::Rsa2048),
            "rsa3072" | "rsa-3072" => Ok(Self::Rsa3072),
            "rsa4096" | "rsa-4096" => Ok(Self::Rsa4096),
            _ => Err(UnknownAlgorithm(s.to_owned())),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::P256 => "EC P-256",
            Self::P384 => "EC P-384",
            Self::P521 => "EC P-521",
            Self::Rsa2048 => "RSA-2048",
            Self::Rsa3072 => "RSA-3072",
            Self::Rsa4096 => "RSA-4096",
        })
    }
}

impl KeyAlgorithm {
    /// The named curve's OID for EC algorithms.
    pub fn curve_oid(self) -> Option<ObjectIdentifier> {
        match self {
            Self::P256 => Some(OID_SECP256R1),
            Self::P384 => Some(OID_SECP384R1),
            Self::P521 => Some(OID_SECP521R1),
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => None,
        }
    }

    /// The modulus size for RSA algorithms.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The signature scheme this key signs certificates and CRLs with.
    pub fn signature_scheme(self) -> SignatureScheme {
        match self {
            Self::P256 => SignatureScheme::EcdsaSha256,
            Self::P384 => SignatureScheme::EcdsaSha384,
            Self::P521 => SignatureScheme::EcdsaSha512,
            Self::Rsa2048 => SignatureScheme::RsaPkcs1Sha256,
            Self::Rsa3072 => SignatureScheme::RsaPkcs1Sha384,
            Self::Rsa4096 => SignatureScheme::RsaPkcs1Sha512,
        }
    }

    /// The scheme notation signs with for this key type: the same ECDSA, or RSASSA-PSS with
    /// the same hash (notation's key spec fixes the hash: SHA-256 for P-256 and RSA-2048,
    /// SHA-384 for P-384 and RSA-3072, SHA-512 for P-521 and RSA-4096).
    pub fn notation_scheme(self) -> SignatureScheme {
        let x509 = self.signature_scheme();
        match x509.hash() {
            _ if x509.is_ecdsa() => x509,
            HashAlgorithm::Sha256 => SignatureScheme::RsaPssSha256,
            HashAlgorithm::Sha384 => SignatureScheme::RsaPssSha384,
            HashAlgorithm::Sha512 => SignatureScheme::RsaPssSha512,
        }
    }

    /// Refuses an algorithm too weak for a CA key.
    pub fn check_ca_key(self) -> Result<(), String> {
        match self {
            Self::Rsa2048 => Err(
                "RSA-2048 is for publishers' signing keys only: a CA key needs p256, p384, p521, \
                 rsa3072 or rsa4096"
                    .into(),
            ),
            _ => Ok(()),
        }
    }
}

const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Hash functions used with the signature schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Hashes `message`.
    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(message).to_vec(),
            Self::Sha384 => Sha384::digest(message).to_vec(),
            Self::Sha512 => Sha512::digest(message).to_vec(),
        }
    }

    /// The hash function's OID, as used in a PKCS#1 DigestInfo.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
            Self::Sha384 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2"),
            Self::Sha512 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3"),
        }
    }

    /// The PKCS#1 v1.5 DigestInfo wrapping `digest` (RFC 8017 §9.2), what CKM_RSA_PKCS signs.
    pub fn digest_info(self, digest: &[u8]) -> Result<Vec<u8>, der::Error> {
        let info = DigestInfo {
            algorithm: AlgorithmIdentifierOwned {
                oid: self.oid(),
                parameters: Some(Null.into()),
            },
            digest: der::asn1::OctetString::new(digest)?,
        };
        info.to_der()
    }
}

#[derive(der::Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: der::asn1::OctetString,
}

/// Signature schemes for certificates, CRLs and signed documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureScheme {
    /// ecdsa-with-SHA256.
    EcdsaSha256,
    /// ecdsa-with-SHA384.
    EcdsaSha384,
    /// ecdsa-with-SHA512.
    EcdsaSha512,
    /// sha256WithRSAEncryption (PKCS#1 v1.5).
    RsaPkcs1Sha256,
    /// sha384WithRSAEncryption (PKCS#1 v1.5).
    RsaPkcs1Sha384,
    /// sha512WithRSAEncryption (PKCS#1 v1.5).
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512 and a 64-byte salt.
    RsaPssSha512,
}

/// Every scheme, for lookups by encoding.
const ALL_SCHEMES: [SignatureScheme; 9] = [
    SignatureScheme::EcdsaSha256,
    SignatureScheme::EcdsaSha384,
    SignatureScheme::EcdsaSha512,
    SignatureScheme::RsaPkcs1Sha256,
    SignatureScheme::RsaPkcs1Sha384,
    SignatureScheme::RsaPkcs1Sha512,
    SignatureScheme::RsaPssSha256,
    SignatureScheme::RsaPssSha384,
    SignatureScheme::RsaPssSha512,
];

impl SignatureScheme {
    /// The hash the scheme signs.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::EcdsaSha256 | Self::RsaPkcs1Sha256 | Self::RsaPssSha256 => HashAlgorithm::Sha256,
            Self::EcdsaSha384 | Self::RsaPkcs1Sha384 | Self::RsaPssSha384 => HashAlgorithm::Sha384,
            Self::EcdsaSha512 | Self::RsaPkcs1Sha512 | Self::RsaPssSha512 => HashAlgorithm::Sha512,
        }
    }

    /// Whether the scheme is RSASSA-PSS.
    pub fn is_pss(self) -> bool {
        matches!(
            self,
            Self::RsaPssSha256 | Self::RsaPssSha384 | Self::RsaPssSha512
        )
    }

    /// Whether the scheme is ECDSA.
    pub fn is_ecdsa(self) -> bool {
        matches!(
            self,
            Self::EcdsaSha256 | Self::EcdsaSha384 | Self::EcdsaSha512
        )
    }

    /// The scheme's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::EcdsaSha256 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            Self::EcdsaSha384 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3"),
            Self::EcdsaSha512 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4"),
            Self::RsaPkcs1Sha256 => ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"),
            Self::RsaPkcs1Sha384 => ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12"),
            Self::RsaPkcs1Sha512 => ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13"),
            Self::RsaPssSha256 | Self::RsaPssSha384 | Self::RsaPssSha512 => {
                ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10")
            }
        }
    }

    /// The X.509 AlgorithmIdentifier: ECDSA has absent parameters, PKCS#1 v1.5 an explicit
    /// NULL, PSS its hash, MGF1 hash and salt length (RFC 4055).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let pss = match self {
            Self::RsaPssSha256 => rsa::pss::get_default_pss_signature_algo_id::<Sha256>(),
            Self::RsaPssSha384 => rsa::pss::get_default_pss_signature_algo_id::<Sha384>(),
            Self::RsaPssSha512 => rsa::pss::get_default_pss_signature_algo_id::<Sha512>(),
            _ if self.is_ecdsa() => {
                return AlgorithmIdentifierOwned {
                    oid: self.oid(),
                    parameters: None,
                };
            }
            _ => {
                return AlgorithmIdentifierOwned {
                    oid: self.oid(),
                    parameters: Some(Null.into()),
                };
            }
        };
        // The parameters are fixed and a digest's output is at most 64 bytes: this encodes.
        pss.expect("RSASSA-PSS parameters for a standard hash encode")
    }

    /// Recognises an X.509 AlgorithmIdentifier, parameters included.
    pub fn from_algorithm_identifier(alg: &AlgorithmIdentifierOwned) -> Option<Self> {
        ALL_SCHEMES
            .into_iter()
            .find(|s| s.algorithm_identifier() == *alg)
    }
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaSha256 => "ecdsa-with-SHA256",
            Self::EcdsaSha384 => "ecdsa-with-SHA384",
            Self::EcdsaSha512 => "ecdsa-with-SHA512",
            Self::RsaPkcs1Sha256 => "sha256WithRSAEncryption",
            Self::RsaPkcs1Sha384 => "sha384WithRSAEncryption",
            Self::RsaPkcs1Sha512 => "sha512WithRSAEncryption",
            Self::RsaPssSha256 => "RSASSA-PSS with SHA-256",
            Self::RsaPssSha384 => "RSASSA-PSS with SHA-384",
            Self::RsaPssSha512 => "RSASSA-PSS with SHA-512",
        })
    }
}

/// A public key keyrite can verify signatures with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// ECDSA P-521.
    P521(p521::ecdsa::VerifyingKey),
    /// RSA.
    Rsa(rsa::PublicKey),
}

/// A public key that could not be read or is of a kind keyrite does not accept.
#[derive(Debug, thiserror::Error)]
pub enum PublicKeyError {
    /// The key is well formed but of an unsupported type or size.
    #[error("unsupported public key: {0}")]
    Unsupported(String),
    /// The encoding is broken.
    #[error("malformed public key: {0}")]
    Malformed(String),
}

/// A signature that does not verify.
#[derive(Debug, thiserror::Error)]
#[error("signature does not verify with {scheme} against the {key} public key")]
pub struct BadSignature {
    /// The scheme that was tried.
    pub scheme: SignatureScheme,
    /// What key was used.
    pub key: String,
}

impl PublicKey {
    /// Reads an EC public key from its SEC1 point on a named curve.
    pub fn from_ec_point(curve: KeyAlgorithm, point: &[u8]) -> Result<Self, PublicKeyError> {
        let bad = |e: ecdsa::Error| PublicKeyError::Malformed(format!("EC point: {e}"));
        match curve {
            KeyAlgorithm::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(Self::P256)
                .map_err(bad),
            KeyAlgorithm::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(Self::P384)
                .map_err(bad),
            KeyAlgorithm::P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(Self::P521)
                .map_err(bad),
            other => Err(PublicKeyError::Unsupported(format!(
                "{other} is not an EC algorithm"
            ))),
        }
    }

    /// Reads an RSA public key from its big-endian modulus and exponent.
    pub fn from_rsa_parts(modulus: &[u8], exponent: &[u8]) -> Result<Self, PublicKeyError> {
        let n = rsa::BoxedUint::from_be_slice_vartime(modulus);
        let e = rsa::BoxedUint::from_be_slice_vartime(exponent);
        rsa::PublicKey::new(n, e)
            .map(Self::Rsa)
            .map_err(|e| PublicKeyError::Malformed(format!("RSA key: {e}")))
    }

    /// Reads a SubjectPublicKeyInfo.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, PublicKeyError> {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| PublicKeyError::Malformed("unaligned public key bits".into()))?;
        if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| PublicKeyError::Malformed("EC key without a named curve".into()))?;
            let alg = match curve {
                OID_SECP256R1 => KeyAlgorithm::P256,
                OID_SECP384R1 => KeyAlgorithm::P384,
                OID_SECP521R1 => KeyAlgorithm::P521,
                other if other.to_string() == "1.3.132.0.10" => {
                    return Err(PublicKeyError::Unsupported("EC curve secp256k1".into()));
                }
                other => return Err(PublicKeyError::Unsupported(format!("EC curve {other}"))),
            };
            Self::from_ec_point(alg, bits)
        } else if spki.algorithm.oid == OID_RSA_ENCRYPTION {
            use rsa::pkcs1::DecodeRsaPublicKey;
            rsa::PublicKey::from_pkcs1_der(bits)
                .map(Self::Rsa)
                .map_err(|e| {
                    match rsa::pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(bits) {
                        // Well formed but refused by the rsa crate's size limits: name the size.
                        Ok(raw) => PublicKeyError::Unsupported(format!(
                            "RSA-{}",
                            raw.modulus.as_bytes().len() * 8
                        )),
                        Err(_) => PublicKeyError::Malformed(format!("RSA key: {e}")),
                    }
                })
        } else {
            let name = match spki.algorithm.oid.to_string().as_str() {
                "1.3.101.112" => "Ed25519".to_owned(),
                "1.3.101.113" => "Ed448".to_owned(),
                other => format!("key algorithm {other}"),
            };
            Err(PublicKeyError::Unsupported(name))
        }
    }

    /// The key's algorithm, when it is one keyrite uses for CA keys.
    pub fn algorithm(&self) -> Option<KeyAlgorithm> {
        use rsa::traits::PublicKeyParts;
        match self {
            Self::P256(_) => Some(KeyAlgorithm::P256),
            Self::P384(_) => Some(KeyAlgorithm::P384),
            Self::P521(_) => Some(KeyAlgorithm::P521),
            Self::Rsa(k) => match k.n().bit_width() {
                2048 => Some(KeyAlgorithm::Rsa2048),
                3072 => Some(KeyAlgorithm::Rsa3072),
                4096 => Some(KeyAlgorithm::Rsa4096),
                _ => None,
            },
        }
    }

    /// A short description such as "EC P-384" or "RSA-2048".
    pub fn describe(&self) -> String {
        use rsa::traits::PublicKeyParts;
        match self {
            Self::Rsa(k) => format!("RSA-{}", k.n().bit_width()),
            _ => self.algorithm().map(|a| a.to_string()).unwrap_or_default(),
        }
    }

    /// The SubjectPublicKeyInfo for this key.
    pub fn to_spki(&self) -> Result<SubjectPublicKeyInfoOwned, der::Error> {
        use spki::EncodePublicKey;
        let doc = match self {
            Self::P256(k) => k.to_public_key_der(),
            Self::P384(k) => k.to_public_key_der(),
            Self::P521(k) => k.to_public_key_der(),
            Self::Rsa(k) => k.to_public_key_der(),
        }
        .map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
        SubjectPublicKeyInfoOwned::from_der(doc.as_bytes())
    }

    /// Verifies an X.509-encoded signature (DER ECDSA-Sig-Value, or RSA signature bytes).
    pub fn verify(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        let bad = || BadSignature {
            scheme,
            key: self.describe(),
        };
        let ok = match (self, scheme) {
            (Self::P256(k), SignatureScheme::EcdsaSha256) => {
                p256::ecdsa::DerSignature::from_bytes(signature)
                    .ok()
                    .and_then(|s| k.verify(message, &s).ok())
            }
            (Self::P384(k), SignatureScheme::EcdsaSha384) => {
                p384::ecdsa::DerSignature::from_bytes(signature)
                    .ok()
                    .and_then(|s| k.verify(message, &s).ok())
            }
            (Self::P521(k), SignatureScheme::EcdsaSha512) => {
                p521::ecdsa::DerSignature::from_bytes(signature)
                    .ok()
                    .and_then(|s| k.verify(message, &s).ok())
            }
            (Self::Rsa(k), _) if scheme.is_pss() => {
                let digest = scheme.hash().digest(message);
                match scheme.hash() {
                    HashAlgorithm::Sha256 => {
                        k.verify(rsa::Pss::<Sha256>::new(), &digest, signature)
                    }
                    HashAlgorithm::Sha384 => {
                        k.verify(rsa::Pss::<Sha384>::new(), &digest, signature)
                    }
                    HashAlgorithm::Sha512 => {
                        k.verify(rsa::Pss::<Sha512>::new(), &digest, signature)
                    }
                }
                .ok()
            }
            (Self::Rsa(k), _) if !scheme.is_ecdsa() => {
                let hash = scheme.hash();
                let padding = match hash {
                    HashAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    HashAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    HashAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                k.verify(padding, &hash.digest(message), signature).ok()
            }
            _ => None,
        };
        ok.ok_or_else(bad)
    }

    /// Converts a raw fixed-width ECDSA `r || s` into the DER form X.509 uses.
    pub fn ecdsa_raw_to_der(&self, raw: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::P256(_) => p256::ecdsa::Signature::from_slice(raw)
                .ok()
                .map(|s| s.to_der().as_bytes().to_vec()),
            Self::P384(_) => p384::ecdsa::Signature::from_slice(raw)
                .ok()
                .map(|s| s.to_der().as_bytes().to_vec()),
            Self::P521(_) => p521::ecdsa::Signature::from_slice(raw)
                .ok()
                .map(|s| s.to_der().as_bytes().to_vec()),
            Self::Rsa(_) => None,
        }
    }

    /// Converts a DER ECDSA-Sig-Value into the raw fixed-width `r || s` that PKCS#11 and
    /// notation's plugins use.
    pub fn ecdsa_der_to_raw(&self, der: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::P256(_) => p256::ecdsa::Signature::from_der(der)
                .ok()
                .map(|s| s.to_bytes().to_vec()),
            Self::P384(_) => p384::ecdsa::Signature::from_der(der)
                .ok()
                .map(|s| s.to_bytes().to_vec()),
            Self::P521(_) => p521::ecdsa::Signature::from_der(der)
                .ok()
                .map(|s| s.to_bytes().to_vec()),
            Self::Rsa(_) => None,
        }
    }
}

/// Anything that signs with a private key held somewhere keyrite cannot see into.
///
/// `sign` returns the signature in the encoding X.509 uses and must have verified it with
/// [`PublicKey::verify`] before returning it.
pub trait KeySigner {
    /// The key's public half.
    fn public_key(&self) -> &PublicKey;

    /// The scheme this signer signs with.
    fn scheme(&self) -> SignatureScheme;

    /// Signs `message` and returns the verified X.509 signature bytes.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, crate::Error>;
}

/// SHA-256 of `data`, the digest keyrite uses for fingerprints and records.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}
