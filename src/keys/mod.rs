//! Keys and the one signing trait every key source implements: a PKCS#11 token, an
//! age-sealed file, or a key held in memory for the moment a backed-up root is made.
//!
//! Issuance, CRLs, bundles and transcripts only ever see a [`KeySigner`]: where the key lives
//! is the key source's business. Every implementation verifies its own signature with
//! [`PublicKey::verify`] before returning it. Nothing here ever exports private key bytes
//! except to the Shamir split of a backed-up root, and then only in zeroizing buffers.

pub mod algorithm;
pub mod file;
pub mod memory;
pub mod open;
pub mod public;
pub mod seal;
pub mod token;

use sha2::{Digest, Sha256};

pub use algorithm::{
    ALGORITHM_NAMES, HashAlgorithm, KeyAlgorithm, SignatureScheme, UnknownAlgorithm,
};
pub use public::{BadSignature, PublicKey, PublicKeyError};

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
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// Why a key could not be made, opened or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The token refused or failed.
    #[error(transparent)]
    Token(#[from] token::TokenError),
    /// A PKCS#11 URI did not parse.
    #[error(transparent)]
    Uri(#[from] token::UriError),
    /// A sealed key file could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    /// An in-memory key could not be made or read.
    #[error(transparent)]
    Memory(#[from] memory::MemoryKeyError),
    /// Signing or key generation in software failed.
    #[error("signing in memory failed: {0}")]
    Software(String),
    /// A key URI, key file or public-key file cannot be used; the message says which and why.
    #[error("{0}")]
    Unusable(String),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
}

/// SHA-256 of `data`, the digest keyrite uses for fingerprints and records.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}
