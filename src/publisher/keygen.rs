//! `keyrite publisher keygen`: a key made where it will live, and a CSR for it.

use std::path::{Path, PathBuf};

use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};
use x509_cert::name::Name;

use super::{PublisherError, dir_and_name};
use crate::keys::file::{FileKey, Protection};
use crate::keys::open::KeyRef;
use crate::keys::token::{KeyOrigin, KeyTemplate, Pkcs11Uri, Token, TokenError, TokenSigner};
use crate::keys::{KeyAlgorithm, KeySigner, PublicKey};
use crate::pki::csr::build_csr;
use crate::pki::name::{check_subject, display_name};
use crate::sys::output;

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

/// Makes a key where `req.key` says and a CSR for it. Everything is checked before the key is
/// made (the subject against notation's rules, the files and token label unused); if a later
/// step fails, a token key is removed again and no file is left behind.
pub fn keygen(req: &KeygenRequest<'_>) -> Result<KeygenOutcome, PublisherError> {
    let problems = check_subject(req.subject);
    if !problems.is_empty() {
        return Err(PublisherError::Refused(format!(
            "notation would refuse the subject '{}': {}; nothing was created",
            display_name(req.subject),
            problems.join("; ")
        )));
    }
    let (csr_dir, csr_name) = dir_and_name(req.csr_out)?;
    output::preflight(&csr_dir, &[&csr_name])?;
    match (req.key, &req.protection) {
        (KeyRef::Token(uri), None) => keygen_on_token(req, uri, &csr_dir, &csr_name),
        (KeyRef::Token(_), Some(_)) => Err(PublisherError::Refused(
            "--recipient, --scrypt-work-factor and --plaintext are for file: keys; a token key \
             never leaves the token"
                .into(),
        )),
        (KeyRef::File(path), Some(protection)) => {
            keygen_in_file(req, path, protection, &csr_dir, &csr_name)
        }
        (KeyRef::File(_), None) => Err(PublisherError::Refused(
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
) -> Result<KeygenOutcome, PublisherError> {
    let label = uri.object.clone().ok_or_else(|| {
        PublisherError::Refused(format!(
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
            return Err(TokenError::WeakKey(audit.problems.join("; ")).into());
        }
        let csr = make_csr(&TokenSigner::new(&token, made.clone())?, req.subject)?;
        output::write_new_files(csr_dir, &[(csr_name, csr.as_bytes(), output::PUBLIC)])?;
        Ok(())
    })();
    if let Err(e) = result {
        return Err(match token.destroy_key(&made) {
            Ok(()) => e,
            Err(cleanup) => PublisherError::Cleanup {
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
) -> Result<KeygenOutcome, PublisherError> {
    let (key_dir, key_name) = dir_and_name(path)?;
    let pub_name = format!("{key_name}.pub");
    output::preflight(&key_dir, &[&key_name, &pub_name])?;
    if key_dir.join(&key_name) == csr_dir.join(csr_name)
        || key_dir.join(&pub_name) == csr_dir.join(csr_name)
    {
        return Err(PublisherError::Refused(format!(
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
fn make_csr(signer: &dyn KeySigner, subject: &Name) -> Result<String, PublisherError> {
    let der = build_csr(subject, signer)?;
    crate::pki::csr::parse_csr(der.clone()).map_err(|reason| {
        PublisherError::Refused(format!(
            "the CSR made for the new key fails keyrite's own intake: {reason}"
        ))
    })?;
    Ok(crate::pki::pem("CERTIFICATE REQUEST", &der)?)
}
