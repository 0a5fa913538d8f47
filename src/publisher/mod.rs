//! Publishers' signing keys: made where they will live (a PKCS#11 token, or an age-sealed
//! local file), certified through a CSR a ceremony turns into a delegate certificate, and
//! paired with that certificate chain so notation can sign with them through
//! `notation-keyrite`.

pub mod file_key;
pub mod plugin;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use der::Encode;
use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};
use x509_cert::Certificate;
use x509_cert::name::Name;

use self::file_key::{FileKey, Protection};
use crate::Error;
use crate::output;
use crate::pki::csr::build_csr;
use crate::pki::name::{check_subject, display_name};
use crate::pki::verify::{issued_by, subject_key};
use crate::seal::Openers;
use crate::signer::{KeyAlgorithm, KeySigner, PublicKey, SignatureScheme, sha256};
use crate::token::{KeyOrigin, KeyTemplate, Pkcs11Uri, Token, TokenKey, TokenSigner};

/// Environment variable naming the directory where chains of token keys are recorded.
pub const CHAINS_ENV: &str = "KEYRITE_CHAINS";
/// Environment variable holding the passphrase of a passphrase-sealed key file.
pub const KEY_PASSPHRASE_ENV: &str = "KEYRITE_KEY_PASSPHRASE";
/// Environment variable naming an age identity file that opens X25519-sealed key files.
pub const AGE_IDENTITY_ENV: &str = "KEYRITE_AGE_IDENTITY";

/// Certificate chains larger than this are refused unread.
const MAX_CHAIN_BYTES: u64 = 256 * 1024;

/// Where a publisher's key lives: the key id notation is given.
#[derive(Clone, Debug)]
pub enum KeyRef {
    /// `file:PATH`, an age-sealed (or clear) PKCS#8 file.
    File(PathBuf),
    /// `pkcs11:…`, a key on a token.
    Token(Box<Pkcs11Uri>),
}

impl FromStr for KeyRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err(Error::Usage("'file:' names no file: give file:PATH".into()));
            }
            let path = std::path::absolute(path).map_err(|e| {
                Error::Usage(format!("cannot resolve the key file path {path}: {e}"))
            })?;
            Ok(Self::File(path))
        } else if s.starts_with("pkcs11:") {
            Ok(Self::Token(Box::new(s.parse()?)))
        } else {
            Err(Error::Usage(format!(
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
    pub fn open(key: &KeyRef, module: Option<&Path>, openers: &Openers) -> Result<Self, Error> {
        match key {
            KeyRef::File(path) => {
                let opened = FileKey::open(path, openers)?;
                let recorded = file_key::read_public(path)?;
                if *opened.public_key() != recorded {
                    return Err(Error::Usage(format!(
                        "the key file {} does not hold the key its public-key file {} names: \
                         one of them was replaced",
                        path.display(),
                        file_key::public_path(path).display()
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
    pub fn algorithm(&self) -> Result<KeyAlgorithm, Error> {
        self.public_key().algorithm().ok_or_else(|| {
            Error::Usage(format!(
                "the key is {}, which notation does not sign with",
                self.public_key().describe()
            ))
        })
    }

    /// Signs `message` with `scheme`; the signature (X.509 encoding) is verified first.
    pub fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::File(k) => k.sign(scheme, message),
            Self::Token(token, k) => {
                TokenSigner::with_scheme(token, k.clone(), scheme)?.sign(message)
            }
        }
    }
}

/// What `keyrite publisher keygen` makes.
pub struct KeygenRequest<'a> {
    /// Where the key goes.
    pub key: &'a KeyRef,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// The CSR's subject.
    pub subject: &'a Name,
    /// The CSR file to write.
    pub csr_out: &'a Path,
    /// How a key file is protected (file keys only).
    pub protection: Option<Protection>,
    /// The PKCS#11 module, when not in the URI or environment.
    pub module: Option<&'a Path>,
}

/// What keygen made.
pub struct KeygenOutcome {
    /// The key id to give notation.
    pub key_id: String,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// The key's public half.
    pub public_key: PublicKey,
}

/// Splits a file path into its directory and file name, for the all-or-nothing writer.
fn dir_and_name(path: &Path) -> Result<(PathBuf, String), Error> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Usage(format!("{} names no file", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}

/// Makes a key where `req.key` says and a CSR for it. Everything is checked before the key is
/// made (the subject against notation's rules, the files and token label unused); if a later
/// step fails, a token key is removed again and no file is left behind.
pub fn keygen(req: &KeygenRequest<'_>) -> Result<KeygenOutcome, Error> {
    let problems = check_subject(req.subject);
    if !problems.is_empty() {
        return Err(Error::Usage(format!(
            "notation would refuse the subject '{}': {}; nothing was created",
            display_name(req.subject),
            problems.join("; ")
        )));
    }
    let (csr_dir, csr_name) = dir_and_name(req.csr_out)?;
    output::preflight(&csr_dir, &[&csr_name])?;
    match (req.key, &req.protection) {
        (KeyRef::Token(uri), None) => keygen_on_token(req, uri, &csr_dir, &csr_name),
        (KeyRef::Token(_), Some(_)) => Err(Error::Usage(
            "--recipient, --scrypt-work-factor and --plaintext are for file: keys; a token key \
             never leaves the token"
                .into(),
        )),
        (KeyRef::File(path), Some(protection)) => {
            keygen_in_file(req, path, protection, &csr_dir, &csr_name)
        }
        (KeyRef::File(_), None) => Err(Error::Usage(
            "a file: key needs its protection: a passphrase, --recipient age1…, or --plaintext"
                .into(),
        )),
    }
}

fn keygen_on_token(
    req: &KeygenRequest<'_>,
    uri: &Pkcs11Uri,
    csr_dir: &Path,
    csr_name: &str,
) -> Result<KeygenOutcome, Error> {
    let label = uri.object.clone().ok_or_else(|| {
        Error::Usage(format!(
            "{uri} names no key: add object=LABEL for the new key (the key id notation is given \
             names it)"
        ))
    })?;
    let token = Token::open(uri, req.module)?;
    token.login(uri)?;
    token.check_can_sign(req.algorithm.signature_scheme())?;
    token.check_can_sign(req.algorithm.notation_scheme())?;
    let template = KeyTemplate {
        label,
        id: uri.id.clone().unwrap_or_else(|| {
            let mut id = [0u8; 16];
            UnwrapErr(SysRng).fill_bytes(&mut id);
            id.to_vec()
        }),
        notation: true,
    };
    token.ensure_unused(&template)?;
    let made = token.generate_key(req.algorithm, &template)?;
    let result = (|| {
        let audit = token.audit(&made)?;
        if !audit.is_sound() || audit.origin != KeyOrigin::GeneratedOnToken {
            return Err(Error::WeakKey(audit.problems.join("; ")));
        }
        let csr = make_csr(&TokenSigner::new(&token, made.clone())?, req.subject)?;
        output::write_new_files(csr_dir, &[(csr_name, csr.as_bytes(), output::PUBLIC)])?;
        Ok(())
    })();
    if let Err(e) = result {
        return Err(match token.destroy_key(&made) {
            Ok(()) => e,
            Err(cleanup) => Error::Cleanup {
                cause: Box::new(e),
                cleanups: vec![cleanup],
            },
        });
    }
    // The label was unused, so the URI as given selects this key and no other.
    Ok(KeygenOutcome {
        key_id: req.key.to_string(),
        files: vec![csr_dir.join(csr_name)],
        public_key: made.public_key,
    })
}

fn keygen_in_file(
    req: &KeygenRequest<'_>,
    path: &Path,
    protection: &Protection,
    csr_dir: &Path,
    csr_name: &str,
) -> Result<KeygenOutcome, Error> {
    let (key_dir, key_name) = dir_and_name(path)?;
    let pub_name = format!("{key_name}.pub");
    output::preflight(&key_dir, &[&key_name, &pub_name])?;
    if key_dir.join(&key_name) == csr_dir.join(csr_name)
        || key_dir.join(&pub_name) == csr_dir.join(csr_name)
    {
        return Err(Error::Usage(format!(
            "--out {} would be the key's own file: name the CSR something else",
            req.csr_out.display()
        )));
    }
    let key = FileKey::generate(req.algorithm)?;
    let csr = make_csr(&key, req.subject)?;
    let (sealed, public_pem) = key.to_files(protection)?;
    output::write_new_files(
        &key_dir,
        &[
            (&key_name, &sealed, output::PRIVATE),
            (&pub_name, public_pem.as_bytes(), output::PUBLIC),
        ],
    )?;
    if let Err(e) = output::write_new_files(csr_dir, &[(csr_name, csr.as_bytes(), output::PUBLIC)])
    {
        let _ = std::fs::remove_file(key_dir.join(&key_name));
        let _ = std::fs::remove_file(key_dir.join(&pub_name));
        return Err(e.into());
    }
    Ok(KeygenOutcome {
        key_id: KeyRef::File(path.to_owned()).to_string(),
        files: vec![
            key_dir.join(key_name),
            key_dir.join(pub_name),
            csr_dir.join(csr_name),
        ],
        public_key: key.public_key().clone(),
    })
}

/// The CSR for `signer`'s key as PEM, checked by the same intake the ceremony uses.
fn make_csr(signer: &dyn KeySigner, subject: &Name) -> Result<String, Error> {
    let der = build_csr(subject, signer)?;
    crate::pki::csr::parse_csr(der.clone()).map_err(|reason| {
        Error::Usage(format!(
            "the CSR made for the new key fails keyrite's own intake: {reason}"
        ))
    })?;
    crate::pki::pem("CERTIFICATE REQUEST", &der).map_err(crate::Error::from)
}

/// Where the chain of `key` (whose public half is `public`) is recorded: beside a key file,
/// or for a token key in the chains directory under its public key's SHA-256.
pub fn chain_record(key: &KeyRef, public: &PublicKey) -> Result<PathBuf, Error> {
    match key {
        KeyRef::File(path) => {
            let mut name = path.as_os_str().to_owned();
            name.push(".chain.pem");
            Ok(PathBuf::from(name))
        }
        KeyRef::Token(_) => {
            let dir = match crate::dirs::env_dir(CHAINS_ENV) {
                Some(d) => d,
                None => crate::dirs::user_dir("XDG_CONFIG_HOME", ".config")
                    .map_err(|e| Error::Usage(format!("{e}: set {CHAINS_ENV}")))?
                    .join("keyrite/chains"),
            };
            Ok(dir.join(format!(
                "{}.chain.pem",
                hex::encode(sha256(&public.to_spki()?.to_der()?))
            )))
        }
    }
}

/// Reads a PEM chain and checks it runs from a leaf whose key is `public` up to a
/// self-signed root, each certificate signed by the next.
pub fn check_chain(pem: &[u8], public: &PublicKey, what: &str) -> Result<Vec<Certificate>, Error> {
    let bad = |m: String| Error::Usage(format!("{what}: {m}"));
    let certs = Certificate::load_pem_chain(pem)
        .map_err(|e| bad(format!("not a PEM certificate chain ({e})")))?;
    let Some(leaf) = certs.first() else {
        return Err(bad("it holds no certificate".into()));
    };
    let leaf_key = subject_key(leaf).map_err(|e| bad(format!("the leaf's key: {e}")))?;
    if leaf_key != *public {
        return Err(bad(format!(
            "its leaf certificate ({}) is for another key, not this {} key",
            display_name(leaf.tbs_certificate().subject()),
            public.describe()
        )));
    }
    for pair in certs.windows(2) {
        issued_by(&pair[0], &pair[1]).map_err(|e| {
            bad(format!(
                "'{}' is not signed by the next certificate '{}' ({e}); the chain runs leaf first, root last",
                display_name(pair[0].tbs_certificate().subject()),
                display_name(pair[1].tbs_certificate().subject())
            ))
        })?;
    }
    let root = &certs[certs.len() - 1];
    if certs.len() < 2 || issued_by(root, root).is_err() {
        return Err(bad(
            "it does not end with a self-signed root: give the whole chain, leaf first, root last"
                .into(),
        ));
    }
    Ok(certs)
}

/// Records `chain_path` as the chain of `key`, after checking its leaf is this key. An
/// existing record is replaced only when `replace` is set.
pub fn install_chain(
    key: &KeyRef,
    chain_path: &Path,
    module: Option<&Path>,
    replace: bool,
) -> Result<(PathBuf, Vec<Certificate>), Error> {
    let what = format!("the chain {}", chain_path.display());
    let size = std::fs::metadata(chain_path)
        .map_err(|e| Error::Usage(format!("cannot read {what}: {e}")))?
        .len();
    if size > MAX_CHAIN_BYTES {
        return Err(Error::Usage(format!(
            "{what} is {size} bytes: not a certificate chain"
        )));
    }
    let pem =
        std::fs::read(chain_path).map_err(|e| Error::Usage(format!("cannot read {what}: {e}")))?;
    let public = public_key_of(key, module)?;
    let certs = check_chain(&pem, &public, &what)?;
    let record = chain_record(key, &public)?;
    let (dir, name) = dir_and_name(&record)?;
    let mut text = String::new();
    for cert in &certs {
        text.push_str(&crate::pki::pem("CERTIFICATE", &cert.to_der()?)?);
    }
    if replace && record.exists() {
        output::replace_file(&dir, &name, text.as_bytes(), output::PUBLIC)?;
    } else {
        output::write_new_files(&dir, &[(&name, text.as_bytes(), output::PUBLIC)])
            .map_err(|e| match e {
                output::OutputError::Exists(p) => Error::Usage(format!(
                    "a chain is already recorded for this key in {}: give --replace to record the new one",
                    p.display()
                )),
                other => other.into(),
            })?;
    }
    Ok((record, certs))
}

/// The public half of `key`, without opening a key file: from its public-key file, or from
/// the token (logged in, as private keys are found only then).
pub fn public_key_of(key: &KeyRef, module: Option<&Path>) -> Result<PublicKey, Error> {
    match key {
        KeyRef::File(path) => file_key::read_public(path),
        KeyRef::Token(uri) => {
            let token = Token::open(uri, module)?;
            token.login(uri)?;
            Ok(token.find_key(uri)?.public_key)
        }
    }
}

/// Reads the chain recorded for `key`, checked again against the key.
pub fn recorded_chain(key: &KeyRef, public: &PublicKey) -> Result<Vec<Certificate>, Error> {
    let record = chain_record(key, public)?;
    let pem = std::fs::read(&record).map_err(|e| {
        Error::Usage(format!(
            "no certificate chain is recorded for {key} ({}: {e}): run `keyrite publisher \
             install-chain --key {key} --chain FILE` with the chain the ceremony issued",
            record.display()
        ))
    })?;
    check_chain(
        &pem,
        public,
        &format!("the recorded chain {}", record.display()),
    )
}

/// Copies `plugin` to `{notation_config}/plugins/keyrite/notation-keyrite` as a regular,
/// executable file; an existing one is replaced only when `replace` is set.
pub fn install_plugin(
    plugin: &Path,
    notation_config: &Path,
    replace: bool,
) -> Result<PathBuf, Error> {
    let bytes = std::fs::read(plugin).map_err(|e| {
        Error::Usage(format!(
            "cannot read the plugin {}: {e}; it is built beside keyrite as notation-keyrite",
            plugin.display()
        ))
    })?;
    let dir = notation_config.join("plugins/keyrite");
    let target = dir.join(plugin::PLUGIN_FILE);
    if replace && target.symlink_metadata().is_ok() {
        output::replace_file(&dir, plugin::PLUGIN_FILE, &bytes, output::EXECUTABLE)?;
    } else {
        output::write_new_files(&dir, &[(plugin::PLUGIN_FILE, &bytes, output::EXECUTABLE)])
            .map_err(|e| match e {
                output::OutputError::Exists(p) => Error::Usage(format!(
                    "{} already exists: give --replace to install this build over it",
                    p.display()
                )),
                other => other.into(),
            })?;
    }
    Ok(target)
}
