//! What notation asks of a signing plugin, answered with a publisher's key: the keySpec and
//! hashAlgorithm a key goes with, and a signature checked against the leaf certificate notation
//! will put in the envelope. `notation-keyrite` (a key on the build machine) and `keyrite-signd`
//! (a key on a signing host) both sign through here.

use data_encoding::BASE64;
use der::Encode;
use x509_cert::Certificate;

use crate::keys::open::OpenKey;
use crate::keys::{HashAlgorithm, KeyAlgorithm, KeyError, PublicKey, SignatureScheme};
use crate::pki::verify::subject_key;

/// Why a signature was not made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The request does not fit the key: its keySpec, hashAlgorithm or the key itself.
    #[error("{0}")]
    Mismatch(String),
    /// The key could not sign.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signature or chain failed a check after signing; nothing is returned.
    #[error("{0}")]
    Failed(String),
}

/// A key as notation sees it: its keySpec and the scheme notation signs with for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotationKey {
    /// notation's keySpec: `EC-384`, `RSA-3072`, ….
    pub spec: &'static str,
    /// The scheme: ECDSA with the curve's hash, or RSASSA-PSS.
    pub scheme: SignatureScheme,
}

impl NotationKey {
    /// The keySpec and scheme of `key`; a key notation does not sign with is refused.
    pub fn of(key: &PublicKey) -> Result<Self, SignError> {
        let alg = key.algorithm().ok_or_else(|| {
            SignError::Mismatch(format!(
                "the key is {}, which notation does not sign with",
                key.describe()
            ))
        })?;
        let spec = match alg {
            KeyAlgorithm::P256 => "EC-256",
            KeyAlgorithm::P384 => "EC-384",
            KeyAlgorithm::P521 => "EC-521",
            KeyAlgorithm::Rsa2048 => "RSA-2048",
            KeyAlgorithm::Rsa3072 => "RSA-3072",
            KeyAlgorithm::Rsa4096 => "RSA-4096",
        };
        Ok(Self {
            spec,
            scheme: alg.notation_scheme(),
        })
    }

    /// notation's hashAlgorithm for this key: `SHA-256`, `SHA-384` or `SHA-512`.
    pub fn hash_algorithm(self) -> &'static str {
        match self.scheme.hash() {
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha384 => "SHA-384",
            HashAlgorithm::Sha512 => "SHA-512",
        }
    }

    /// notation's signingAlgorithm for this key: `ECDSA-SHA-384`, `RSASSA-PSS-SHA-256`, ….
    pub fn signing_algorithm(self) -> &'static str {
        match self.scheme.hash() {
            _ if !self.scheme.is_ecdsa() => match self.scheme.hash() {
                HashAlgorithm::Sha256 => "RSASSA-PSS-SHA-256",
                HashAlgorithm::Sha384 => "RSASSA-PSS-SHA-384",
                HashAlgorithm::Sha512 => "RSASSA-PSS-SHA-512",
            },
            HashAlgorithm::Sha256 => "ECDSA-SHA-256",
            HashAlgorithm::Sha384 => "ECDSA-SHA-384",
            HashAlgorithm::Sha512 => "ECDSA-SHA-512",
        }
    }

    /// Refuses a request whose keySpec or hashAlgorithm is not this key's.
    pub fn check_request(self, key_spec: &str, hash_algorithm: &str) -> Result<(), SignError> {
        if key_spec != self.spec {
            return Err(SignError::Mismatch(format!(
                "keySpec '{key_spec}' does not match the key, which is {}",
                self.spec
            )));
        }
        if hash_algorithm != self.hash_algorithm() {
            return Err(SignError::Mismatch(format!(
                "hashAlgorithm '{hash_algorithm}' does not go with {}: notation pairs it with {}",
                self.spec,
                self.hash_algorithm()
            )));
        }
        Ok(())
    }

    /// Signs `payload` with `key` and checks the signature against `leaf`, the certificate
    /// notation will put in the envelope, before returning it as notation takes it from a
    /// plugin (ECDSA as `r || s`).
    pub fn sign(
        self,
        key: &OpenKey,
        payload: &[u8],
        leaf: &Certificate,
    ) -> Result<Vec<u8>, SignError> {
        let signature = key.sign(self.scheme, payload)?;
        let leaf_key = subject_key(leaf).map_err(SignError::Failed)?;
        leaf_key
            .verify(self.scheme, payload, &signature)
            .map_err(|e| {
                SignError::Failed(format!(
                    "the signature does not verify against the recorded leaf certificate: {e}"
                ))
            })?;
        if self.scheme.is_ecdsa() {
            key.public_key()
                .ecdsa_der_to_raw(&signature)
                .ok_or_else(|| {
                    SignError::Failed("the ECDSA signature does not convert to r || s".into())
                })
        } else {
            Ok(signature)
        }
    }
}

/// A chain as notation's plugin contract carries it: each certificate's DER in standard
/// base64, leaf first.
pub fn chain_base64(chain: &[Certificate]) -> Result<Vec<String>, SignError> {
    chain
        .iter()
        .map(|c| c.to_der().map(|der| BASE64.encode(&der)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SignError::Failed(format!("encoding the chain: {e}")))
}
