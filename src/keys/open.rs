//! Opening a key by the id notation and keyrite's commands are given: `pkcs11:…` for a key on
//! a token, `file:PATH` for a key file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::file::{self, FileKey};
use super::seal::Openers;
use super::token::{Pkcs11Uri, Token, TokenKey, TokenSigner};
use super::{KeyAlgorithm, KeyError, KeySigner, PublicKey, SignatureScheme};

/// Where a publisher's key lives: the key id notation is given.
#[derive(Clone, Debug)]
pub enum KeyRef {
    /// `file:PATH`, an age-sealed (or clear) PKCS#8 file.
    File(PathBuf),
    /// `pkcs11:…`, a key on a token.
    Token(Box<Pkcs11Uri>),
}

impl FromStr for KeyRef {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err(KeyError::Unusable(
                    "'file:' names no file: give file:PATH".into(),
                ));
            }
            let path = std::path::absolute(path).map_err(|e| {
                KeyError::Unusable(format!("cannot resolve the key file path {path}: {e}"))
            })?;
            Ok(Self::File(path))
        } else if s.starts_with("pkcs11:") {
            Ok(Self::Token(Box::new(s.parse()?)))
        } else {
            Err(KeyError::Unusable(format!(
                "'{s}' is not a key URI: give pkcs11:… (a key on a token) or file:PATH (a key file)"
            )))
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Token(uri) => write!(f, "{uri}"),
        }
    }
}

/// A publisher key opened for signing.
pub enum OpenKey {
    /// A key file, decrypted in memory.
    File(FileKey),
    /// A key on a token, logged in.
    Token(Token, TokenKey),
}

impl OpenKey {
    /// Opens `key`: logs in to its token, or opens its file with `openers`.
    pub fn open(key: &KeyRef, module: Option<&Path>, openers: &Openers) -> Result<Self, KeyError> {
        match key {
            KeyRef::File(path) => {
                let opened = FileKey::open(path, openers)?;
                let recorded = file::read_public(path)?;
                if *opened.public_key() != recorded {
                    return Err(KeyError::Unusable(format!(
                        "the key file {} does not hold the key its public-key file {} names: \
                         one of them was replaced",
                        path.display(),
                        file::public_path(path).display()
                    )));
                }
                Ok(Self::File(opened))
            }
            KeyRef::Token(uri) => {
                let token = Token::open(uri, module)?;
                token.login(uri)?;
                let found = token.find_key(uri)?;
                Ok(Self::Token(token, found))
            }
        }
    }

    /// The key's public half.
    pub fn public_key(&self) -> &PublicKey {
        match self {
            Self::File(k) => k.public_key(),
            Self::Token(_, k) => &k.public_key,
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Result<KeyAlgorithm, KeyError> {
        self.public_key().algorithm().ok_or_else(|| {
            KeyError::Unusable(format!(
                "the key is {}, which notation does not sign with",
                self.public_key().describe()
            ))
        })
    }

    /// Signs `message` with `scheme`; the signature (X.509 encoding) is verified first.
    pub fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match self {
            Self::File(k) => k.sign(scheme, message),
            Self::Token(token, k) => {
                TokenSigner::with_scheme(token, k.clone(), scheme)?.sign(message)
            }
        }
    }
}
