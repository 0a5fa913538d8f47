//! Public keys, and the software signature check every key source runs on what it signed.

use der::Decode;
use der::asn1::ObjectIdentifier;
use sha2::{Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::SubjectPublicKeyInfoOwned;

use super::algorithm::{
    HashAlgorithm, KeyAlgorithm, OID_EC_PUBLIC_KEY, OID_RSA_ENCRYPTION, OID_SECP256R1,
    OID_SECP384R1, OID_SECP521R1, SignatureScheme,
};

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
            // Any of the three hashes on any curve, as X.509 allows (a P-384 CA may sign
            // with SHA-256): the digest is verified as a prehash.
            (Self::P256(k), _) if scheme.is_ecdsa() => p256::ecdsa::Signature::from_der(signature)
                .ok()
                .and_then(|s| k.verify_prehash(&scheme.hash().digest(message), &s).ok()),
            (Self::P384(k), _) if scheme.is_ecdsa() => p384::ecdsa::Signature::from_der(signature)
                .ok()
                .and_then(|s| k.verify_prehash(&scheme.hash().digest(message), &s).ok()),
            (Self::P521(k), _) if scheme.is_ecdsa() => p521::ecdsa::Signature::from_der(signature)
                .ok()
                .and_then(|s| k.verify_prehash(&scheme.hash().digest(message), &s).ok()),
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
