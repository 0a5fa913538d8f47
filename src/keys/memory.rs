//! A root key held in memory for the moment of a backed-up ceremony: generated from the OS
//! CSPRNG (or recovered from shares), used to sign the root certificate and the share records,
//! imported into tokens, and zeroized when dropped (the signing keys zeroize themselves).

use getrandom::SysRng;
use p384::elliptic_curve::Generate;
use zeroize::{Zeroize, Zeroizing};

use crate::keys::{KeyAlgorithm, KeyError, KeySigner, PublicKey, SignatureScheme};

enum Secret {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
}

/// An EC private key in memory.
pub struct MemoryKey {
    secret: Secret,
    public: PublicKey,
}

/// A key that cannot be made or read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MemoryKeyError(pub String);

impl MemoryKey {
    /// Refuses an algorithm a backed-up root cannot have: the backup splits an EC scalar.
    pub fn check_algorithm(alg: KeyAlgorithm) -> Result<(), MemoryKeyError> {
        match alg {
            KeyAlgorithm::P256 | KeyAlgorithm::P384 | KeyAlgorithm::P521 => Ok(()),
            other => Err(MemoryKeyError(format!(
                "a backed-up root must be an EC key (p256, p384, p521), not {other}: the backup splits the EC private scalar"
            ))),
        }
    }

    /// Generates a key of `alg` (EC only: the backup splits the private scalar).
    pub fn generate(alg: KeyAlgorithm) -> Result<Self, MemoryKeyError> {
        Self::check_algorithm(alg)?;
        let rng =
            |e: getrandom::Error| MemoryKeyError(format!("the OS random generator failed: {e}"));
        let secret = match alg {
            KeyAlgorithm::P256 => Secret::P256(
                p256::SecretKey::try_generate_from_rng(&mut SysRng)
                    .map_err(rng)?
                    .into(),
            ),
            KeyAlgorithm::P384 => Secret::P384(
                p384::SecretKey::try_generate_from_rng(&mut SysRng)
                    .map_err(rng)?
                    .into(),
            ),
            KeyAlgorithm::P521 => Secret::P521(
                p521::SecretKey::try_generate_from_rng(&mut SysRng)
                    .map_err(rng)?
                    .into(),
            ),
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                unreachable!("check_algorithm refused RSA")
            }
        };
        Ok(Self::from_secret(secret))
    }

    /// Rebuilds a key of `alg` from its big-endian private scalar.
    pub fn from_scalar(alg: KeyAlgorithm, scalar: &[u8]) -> Result<Self, MemoryKeyError> {
        let bad = |_| MemoryKeyError(format!("the bytes are not an {alg} private key"));
        let secret = match alg {
            KeyAlgorithm::P256 => {
                Secret::P256(p256::ecdsa::SigningKey::from_slice(scalar).map_err(bad)?)
            }
            KeyAlgorithm::P384 => {
                Secret::P384(p384::ecdsa::SigningKey::from_slice(scalar).map_err(bad)?)
            }
            KeyAlgorithm::P521 => {
                Secret::P521(p521::ecdsa::SigningKey::from_slice(scalar).map_err(bad)?)
            }
            other => return Err(MemoryKeyError(format!("{other} is not an EC algorithm"))),
        };
        Ok(Self::from_secret(secret))
    }

    /// Reads an EC private key from PKCS#8 DER (any of the three curves).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, MemoryKeyError> {
        use p256::pkcs8::DecodePrivateKey;
        p256::ecdsa::SigningKey::from_pkcs8_der(der)
            .map(Secret::P256)
            .or_else(|_| p384::ecdsa::SigningKey::from_pkcs8_der(der).map(Secret::P384))
            .or_else(|_| p521::ecdsa::SigningKey::from_pkcs8_der(der).map(Secret::P521))
            .map(Self::from_secret)
            .map_err(|_| MemoryKeyError("not a PKCS#8 P-256, P-384 or P-521 private key".into()))
    }

    /// The key as PKCS#8 DER, in a buffer zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, MemoryKeyError> {
        use p256::pkcs8::EncodePrivateKey;
        match &self.secret {
            Secret::P256(k) => k.to_pkcs8_der(),
            Secret::P384(k) => k.to_pkcs8_der(),
            Secret::P521(k) => k.to_pkcs8_der(),
        }
        .map(|doc| Zeroizing::new(doc.as_bytes().to_vec()))
        .map_err(|e| MemoryKeyError(format!("encoding the key as PKCS#8 failed: {e}")))
    }

    fn from_secret(secret: Secret) -> Self {
        let public = match &secret {
            Secret::P256(k) => PublicKey::P256(*k.verifying_key()),
            Secret::P384(k) => PublicKey::P384(*k.verifying_key()),
            Secret::P521(k) => PublicKey::P521(*k.verifying_key()),
        };
        Self { secret, public }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.secret {
            Secret::P256(_) => KeyAlgorithm::P256,
            Secret::P384(_) => KeyAlgorithm::P384,
            Secret::P521(_) => KeyAlgorithm::P521,
        }
    }

    /// The big-endian private scalar, in a buffer zeroized on drop.
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        match &self.secret {
            Secret::P256(k) => zeroizing_copy(k.to_bytes()),
            Secret::P384(k) => zeroizing_copy(k.to_bytes()),
            Secret::P521(k) => zeroizing_copy(k.to_bytes()),
        }
    }
}

fn zeroizing_copy<T: AsRef<[u8]> + AsMut<[u8]>>(mut bytes: T) -> Zeroizing<Vec<u8>> {
    let copy = Zeroizing::new(bytes.as_ref().to_vec());
    bytes.as_mut().zeroize();
    copy
}

impl KeySigner for MemoryKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn scheme(&self) -> SignatureScheme {
        self.algorithm().signature_scheme()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        use signature::Signer;
        let der = match &self.secret {
            Secret::P256(k) => Signer::<p256::ecdsa::DerSignature>::try_sign(k, message)
                .map(|s| s.as_bytes().to_vec()),
            Secret::P384(k) => Signer::<p384::ecdsa::DerSignature>::try_sign(k, message)
                .map(|s| s.as_bytes().to_vec()),
            Secret::P521(k) => Signer::<p521::ecdsa::DerSignature>::try_sign(k, message)
                .map(|s| s.as_bytes().to_vec()),
        }
        .map_err(|e| KeyError::Software(e.to_string()))?;
        self.public
            .verify(self.scheme(), message, &der)
            .map_err(|e| KeyError::Software(e.to_string()))?;
        Ok(der)
    }
}
