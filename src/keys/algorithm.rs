//! The algorithms keyrite signs with: key algorithms, digests and X.509 signature schemes.

use std::fmt;
use std::str::FromStr;

use der::Encode;
use der::asn1::{Null, ObjectIdentifier};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;

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

pub(super) const OID_SECP256R1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(super) const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub(super) const OID_SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
pub(super) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(super) const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

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
