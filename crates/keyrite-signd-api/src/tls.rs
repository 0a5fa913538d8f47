//! The TLS pieces both ends share: TLS 1.3 only, with ring's primitives, and a certificate key
//! that is any keyrite key (`pkcs11:…` or `file:…`), signing through keyrite's own key code so
//! that a key on a token never leaves it.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use der::Encode;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use x509_cert::Certificate;

use keyrite::keys::open::OpenKey;
use keyrite::keys::{KeyAlgorithm, SignatureScheme as KeyScheme};
use keyrite::pki::verify::subject_key;
use keyrite::sys::input;

/// Certificate files larger than this are refused unread.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The only protocol version either end speaks.
pub static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// ring's primitives, the one provider both ends use.
///
/// ring rather than rustls's default aws-lc-rs: aws-lc-sys builds a C and assembly library
/// with cmake, which the ceremony ISO's and CI's offline builds would have to carry. What that
/// costs is the post-quantum hybrid key exchange (X25519MLKEM768), which rustls 0.23.48 marks by
/// deprecating this provider; both ends are keyrite's, so moving them together is one change.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM file of one or more certificates.
pub fn read_certificates(path: &Path) -> Result<Vec<Certificate>, String> {
    let pem = input::read(path, MAX_PEM_BYTES, input::Links::Follow).map_err(|e| e.to_string())?;
    let certs = Certificate::load_pem_chain(&pem)
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// Certificates as rustls takes them.
pub fn to_rustls(certs: &[Certificate]) -> Result<Vec<CertificateDer<'static>>, String> {
    certs
        .iter()
        .map(|c| c.to_der().map(CertificateDer::from))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("encoding a certificate: {e}"))
}

/// `key` with `chain` (its certificate first) as rustls presents it; refused when the first
/// certificate is for another key, or the key cannot sign in TLS 1.3.
pub fn certified_key(key: OpenKey, chain: &[Certificate]) -> Result<CertifiedKey, String> {
    let leaf = chain
        .first()
        .ok_or("the certificate file holds no certificate")?;
    let leaf_key = subject_key(leaf)?;
    if leaf_key != *key.public_key() {
        return Err(format!(
            "the certificate is for another key, not this {} key",
            key.public_key().describe()
        ));
    }
    let algorithm = key.algorithm().map_err(|e| e.to_string())?;
    let signing = KeyriteKey {
        algorithm,
        key: Arc::new(Mutex::new(key)),
    };
    Ok(CertifiedKey::new(to_rustls(chain)?, Arc::new(signing)))
}

/// A keyrite key under rustls: one signature at a time (a token session is not shared).
struct KeyriteKey {
    algorithm: KeyAlgorithm,
    key: Arc<Mutex<OpenKey>>,
}

impl fmt::Debug for KeyriteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "keyrite {:?} key", self.algorithm)
    }
}

/// The TLS 1.3 schemes a key of `algorithm` signs with, and keyrite's name for each.
fn schemes(algorithm: KeyAlgorithm) -> &'static [(SignatureScheme, KeyScheme)] {
    match algorithm {
        KeyAlgorithm::P256 => &[(
            SignatureScheme::ECDSA_NISTP256_SHA256,
            KeyScheme::EcdsaSha256,
        )],
        KeyAlgorithm::P384 => &[(
            SignatureScheme::ECDSA_NISTP384_SHA384,
            KeyScheme::EcdsaSha384,
        )],
        KeyAlgorithm::P521 => &[(
            SignatureScheme::ECDSA_NISTP521_SHA512,
            KeyScheme::EcdsaSha512,
        )],
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => &[
            (SignatureScheme::RSA_PSS_SHA256, KeyScheme::RsaPssSha256),
            (SignatureScheme::RSA_PSS_SHA384, KeyScheme::RsaPssSha384),
            (SignatureScheme::RSA_PSS_SHA512, KeyScheme::RsaPssSha512),
        ],
    }
}

impl SigningKey for KeyriteKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let (tls, scheme) = schemes(self.algorithm)
            .iter()
            .find(|(tls, _)| offered.contains(tls))?;
        Some(Box::new(KeyriteSigner {
            tls: *tls,
            scheme: *scheme,
            key: Arc::clone(&self.key),
        }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.algorithm.rsa_bits() {
            Some(_) => SignatureAlgorithm::RSA,
            None => SignatureAlgorithm::ECDSA,
        }
    }
}

struct KeyriteSigner {
    tls: SignatureScheme,
    scheme: KeyScheme,
    key: Arc<Mutex<OpenKey>>,
}

impl fmt::Debug for KeyriteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "keyrite signer {:?}", self.tls)
    }
}

impl Signer for KeyriteSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let key = self
            .key
            .lock()
            .map_err(|_| rustls::Error::General("the TLS key failed earlier".into()))?;
        // OpenKey::sign verifies the signature in software before returning it.
        key.sign(self.scheme, message)
            .map_err(|e| rustls::Error::General(format!("the TLS key cannot sign: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        self.tls
    }
}
