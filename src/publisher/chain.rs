//! The certificate chain a ceremony issued for a publisher's key, recorded where
//! `notation-keyrite` finds it and checked against the key each time it is read.

use std::path::{Path, PathBuf};

use der::Encode;
use x509_cert::Certificate;

use super::{CHAINS_ENV, PublisherError, dir_and_name};
use crate::keys::open::KeyRef;
use crate::keys::token::Token;
use crate::keys::{PublicKey, file, sha256};
use crate::pki::name::display_name;
use crate::pki::verify::{issued_by, subject_key};
use crate::sys::output;

/// Certificate chains larger than this are refused unread.
const MAX_CHAIN_BYTES: u64 = 256 * 1024;

/// Where the chain of `key` (whose public half is `public`) is recorded: beside a key file,
/// or for a token key in the chains directory under its public key's SHA-256.
pub fn chain_record(key: &KeyRef, public: &PublicKey) -> Result<PathBuf, PublisherError> {
    match key {
        KeyRef::File(path) => {
            let mut name = path.as_os_str().to_owned();
            name.push(".chain.pem");
            Ok(PathBuf::from(name))
        }
        KeyRef::Token(_) => {
            let dir = match crate::sys::dirs::env_dir(CHAINS_ENV) {
                Some(d) => d,
                None => crate::sys::dirs::user_dir("XDG_CONFIG_HOME", ".config")
                    .map_err(|e| PublisherError::Refused(format!("{e}: set {CHAINS_ENV}")))?
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
pub fn check_chain(
    pem: &[u8],
    public: &PublicKey,
    what: &str,
) -> Result<Vec<Certificate>, PublisherError> {
    let bad = |m: String| PublisherError::Refused(format!("{what}: {m}"));
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
) -> Result<(PathBuf, Vec<Certificate>), PublisherError> {
    let what = format!("the chain {}", chain_path.display());
    let size = std::fs::metadata(chain_path)
        .map_err(|e| PublisherError::Refused(format!("cannot read {what}: {e}")))?
        .len();
    if size > MAX_CHAIN_BYTES {
        return Err(PublisherError::Refused(format!(
            "{what} is {size} bytes: not a certificate chain"
        )));
    }
    let pem = std::fs::read(chain_path)
        .map_err(|e| PublisherError::Refused(format!("cannot read {what}: {e}")))?;
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
                output::OutputError::Exists(p) => PublisherError::Refused(format!(
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
pub fn public_key_of(key: &KeyRef, module: Option<&Path>) -> Result<PublicKey, PublisherError> {
    match key {
        KeyRef::File(path) => Ok(file::read_public(path)?),
        KeyRef::Token(uri) => {
            let token = Token::open(uri, module)?;
            token.login(uri)?;
            Ok(token.find_key(uri)?.public_key)
        }
    }
}

/// Reads the chain recorded for `key`, checked again against the key.
pub fn recorded_chain(
    key: &KeyRef,
    public: &PublicKey,
) -> Result<Vec<Certificate>, PublisherError> {
    let record = chain_record(key, public)?;
    let pem = std::fs::read(&record).map_err(|e| {
        PublisherError::Refused(format!(
            "no certificate chain is recorded for {key} ({}: {e}): run `keyrite publisher \
             install-chain --key '{key}' --chain FILE` with the chain the ceremony issued",
            record.display()
        ))
    })?;
    check_chain(
        &pem,
        public,
        &format!("the recorded chain {}", record.display()),
    )
}
