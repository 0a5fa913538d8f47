//! A publisher's key kept in a local file: generated here from the OS random generator,
//! written as PKCS#8 PEM sealed with age (or, only when asked, in clear), with its public
//! key beside it so the key can be described without opening it.

use std::path::{Path, PathBuf};

use der::{Decode, Encode};
use getrandom::SysRng;
use zeroize::Zeroizing;

use crate::keys::memory::MemoryKey;
use crate::keys::seal::{self, Openers, SealTo};
use crate::keys::{HashAlgorithm, KeyAlgorithm, KeyError, KeySigner, PublicKey, SignatureScheme};

/// The PEM label of a PKCS#8 private key.
const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";
/// The PEM label of a SubjectPublicKeyInfo.
const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";
/// Every age file starts with this line.
const AGE_MAGIC: &[u8] = b"age-encryption.org/";

/// Files larger than this are not key files and are refused unread.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// A private key in memory, zeroized when dropped.
pub enum FileKey {
    /// An EC key.
    Ec(Box<MemoryKey>),
    /// An RSA key (the rsa crate zeroizes it on drop).
    Rsa(Box<rsa::PrivateKey>, PublicKey),
}

/// How a key file is protected on disk.
pub enum Protection {
    /// Sealed with age to a passphrase or an X25519 recipient.
    Sealed(SealTo),
    /// In clear, as notation's own local signing needs it.
    Plaintext,
}

/// The public-key file beside a key file.
pub fn public_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

impl FileKey {
    /// Generates a key of `alg`.
    pub fn generate(alg: KeyAlgorithm) -> Result<Self, KeyError> {
        match alg.rsa_bits() {
            None => Ok(Self::Ec(Box::new(MemoryKey::generate(alg)?))),
            Some(bits) => {
                let key = rsa::PrivateKey::new(&mut SysRng, bits)
                    .map_err(|e| KeyError::Software(format!("RSA key generation: {e}")))?;
                let public = PublicKey::Rsa(key.to_public_key());
                Ok(Self::Rsa(Box::new(key), public))
            }
        }
    }

    /// The key's public half.
    pub fn public_key(&self) -> &PublicKey {
        match self {
            Self::Ec(k) => KeySigner::public_key(k.as_ref()),
            Self::Rsa(_, public) => public,
        }
    }

    /// Signs `message` with `scheme` and returns the X.509 encoding of the signature, verified
    /// against the public key.
    pub fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let signature = match self {
            Self::Ec(k) if k.scheme() == scheme => k.sign(message)?,
            Self::Rsa(k, _) if !scheme.is_ecdsa() => {
                let digest = scheme.hash().digest(message);
                rsa_sign(k, scheme, &digest)
                    .map_err(|e| KeyError::Software(format!("{scheme}: {e}")))?
            }
            _ => {
                return Err(KeyError::Software(format!(
                    "a {} key does not sign with {scheme}",
                    self.public_key().describe()
                )));
            }
        };
        self.public_key()
            .verify(scheme, message, &signature)
            .map_err(|e| KeyError::Software(e.to_string()))?;
        Ok(signature)
    }

    /// The key as PKCS#8 PEM, in a buffer zeroized on drop.
    fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der = match self {
            Self::Ec(k) => k.to_pkcs8_der()?,
            Self::Rsa(k, _) => {
                use rsa::pkcs8::EncodePrivateKey;
                let doc = k
                    .to_pkcs8_der()
                    .map_err(|e| KeyError::Software(format!("encoding the key as PKCS#8: {e}")))?;
                Zeroizing::new(doc.as_bytes().to_vec())
            }
        };
        pem(PRIVATE_KEY_LABEL, &der).map(Zeroizing::new)
    }

    /// Reads a key from PKCS#8 DER.
    fn from_pkcs8_der(der: &[u8]) -> Result<Self, String> {
        if let Ok(k) = MemoryKey::from_pkcs8_der(der) {
            return Ok(Self::Ec(Box::new(k)));
        }
        use rsa::pkcs8::DecodePrivateKey;
        let key = rsa::PrivateKey::from_pkcs8_der(der)
            .map_err(|_| "it holds no P-256, P-384, P-521 or RSA PKCS#8 private key".to_owned())?;
        let public = PublicKey::Rsa(key.to_public_key());
        Ok(Self::Rsa(Box::new(key), public))
    }

    /// The key file's bytes (sealed or clear) and the public-key file's text.
    pub fn to_files(
        &self,
        protection: &Protection,
    ) -> Result<(Zeroizing<Vec<u8>>, String), KeyError> {
        let pem = self.to_pkcs8_pem()?;
        let key_file = match protection {
            Protection::Sealed(to) => Zeroizing::new(seal::seal(pem.as_bytes(), to)?),
            Protection::Plaintext => Zeroizing::new(pem.as_bytes().to_vec()),
        };
        Ok((key_file, public_pem(self.public_key())?))
    }

    /// Opens the key file at `path` (sealed or clear) with `openers`.
    pub fn open(path: &Path, openers: &Openers) -> Result<Self, KeyError> {
        let what = format!("the key file {}", path.display());
        let bytes = read_small(path, &what)?;
        let pem = if bytes.starts_with(AGE_MAGIC) {
            seal::open(&bytes, openers, &what)?
        } else {
            bytes
        };
        let text = std::str::from_utf8(&pem)
            .map_err(|_| KeyError::Unusable(format!("{what} is neither age-sealed nor PEM")))?;
        let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
            .map(|(l, d)| (l.to_owned(), Zeroizing::new(d)))
            .map_err(|e| KeyError::Unusable(format!("{what} is not a PEM private key ({e})")))?;
        if label != PRIVATE_KEY_LABEL {
            return Err(KeyError::Unusable(format!(
                "{what} holds a PEM '{label}', not a PKCS#8 '{PRIVATE_KEY_LABEL}'"
            )));
        }
        Self::from_pkcs8_der(&der).map_err(|e| KeyError::Unusable(format!("{what}: {e}")))
    }
}

/// A key file's key signs its CSR with its algorithm's X.509 scheme.
impl KeySigner for FileKey {
    fn public_key(&self) -> &PublicKey {
        FileKey::public_key(self)
    }

    fn scheme(&self) -> SignatureScheme {
        match self {
            Self::Ec(k) => k.scheme(),
            Self::Rsa(_, public) => public.algorithm().map_or(
                SignatureScheme::RsaPkcs1Sha256,
                KeyAlgorithm::signature_scheme,
            ),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        FileKey::sign(self, KeySigner::scheme(self), message)
    }
}

/// PKCS#1 v1.5 or PSS (salt = hash length) over `digest`.
fn rsa_sign(
    key: &rsa::PrivateKey,
    scheme: SignatureScheme,
    digest: &[u8],
) -> Result<Vec<u8>, rsa::Error> {
    use sha2::{Sha256, Sha384, Sha512};
    match (scheme.is_pss(), scheme.hash()) {
        (true, HashAlgorithm::Sha256) => {
            key.sign_with_rng(&mut SysRng, rsa::Pss::<Sha256>::new(), digest)
        }
        (true, HashAlgorithm::Sha384) => {
            key.sign_with_rng(&mut SysRng, rsa::Pss::<Sha384>::new(), digest)
        }
        (true, HashAlgorithm::Sha512) => {
            key.sign_with_rng(&mut SysRng, rsa::Pss::<Sha512>::new(), digest)
        }
        (false, HashAlgorithm::Sha256) => key.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), digest),
        (false, HashAlgorithm::Sha384) => key.sign(rsa::Pkcs1v15Sign::new::<Sha384>(), digest),
        (false, HashAlgorithm::Sha512) => key.sign(rsa::Pkcs1v15Sign::new::<Sha512>(), digest),
    }
}

/// A public key as SubjectPublicKeyInfo PEM.
pub fn public_pem(key: &PublicKey) -> Result<String, KeyError> {
    let der = key.to_spki()?.to_der()?;
    pem(PUBLIC_KEY_LABEL, &der)
}

/// Reads the public key recorded beside the key file at `key_path`.
pub fn read_public(key_path: &Path) -> Result<PublicKey, KeyError> {
    let path = public_path(key_path);
    let what = format!("the public-key file {}", path.display());
    let bytes = read_small(&path, &what)?;
    let bad = |e: String| KeyError::Unusable(format!("{what} is not a PEM public key ({e})"));
    let (label, der) = der::pem::decode_vec(&bytes).map_err(|e| bad(e.to_string()))?;
    if label != PUBLIC_KEY_LABEL {
        return Err(bad(format!("it holds a '{label}'")));
    }
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(&der).map_err(|e| bad(e.to_string()))?;
    PublicKey::from_spki(&spki).map_err(|e| bad(e.to_string()))
}

/// `der` as PEM under `label`, with LF line endings.
fn pem(label: &str, der: &[u8]) -> Result<String, KeyError> {
    Ok(der::pem::encode_string(label, der::pem::LineEnding::LF, der).map_err(der::Error::from)?)
}

/// Reads a small file in full, zeroized on drop.
fn read_small(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let unreadable = |e: std::io::Error| KeyError::Unusable(format!("cannot read {what}: {e}"));
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_KEY_FILE_BYTES {
        return Err(KeyError::Unusable(format!(
            "{what} is {size} bytes: not a key file"
        )));
    }
    std::fs::read(path).map(Zeroizing::new).map_err(unreadable)
}
