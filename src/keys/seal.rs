//! Sealing secrets with age — share records to their custodians, publishers' private keys to
//! their owners: to an X25519 recipient (`age1…`), or to a passphrase with an explicit scrypt
//! work factor (age would otherwise calibrate it to the machine, which on a slow or debug
//! build gives a weak one).

use std::io::{Read, Write};
use std::iter;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::keys::token::pin::is_rehearsal;

/// scrypt work factor (log2 N) for passphrase-sealed shares: 2^18, about a second and
/// 256 MiB on a laptop.
pub const SCRYPT_LOG_N: u8 = 18;
/// The highest work factor keyrite accepts when opening a passphrase-sealed file.
pub const SCRYPT_MAX_LOG_N: u8 = 22;
/// Environment variable holding a passphrase, honoured only in a rehearsal.
pub const PASSPHRASE_ENV: &str = "KEYRITE_PASSPHRASE";

/// Who a secret is sealed to.
pub enum SealTo {
    /// An age X25519 recipient.
    X25519(Box<age::x25519::Recipient>),
    /// A passphrase its owner typed twice, stretched with scrypt at 2^work_factor.
    Passphrase(SecretString, u8),
}

/// What can open sealed files.
#[derive(Default)]
pub struct Openers {
    /// age X25519 identities (from `--identity` files).
    pub identities: Vec<age::x25519::Identity>,
    /// A passphrase given up front; without one, a passphrase-sealed file asks for it.
    pub passphrase: Option<SecretString>,
}

/// A secret that could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No passphrase or identity was given, or the one given does not open it.
    #[error("{0}")]
    Denied(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// Seals `plaintext` to `to`.
pub fn seal(plaintext: &[u8], to: &SealTo) -> Result<Vec<u8>, SealError> {
    let fail = |e: &dyn std::fmt::Display| SealError::Failed(format!("sealing failed: {e}"));
    let scrypt;
    let recipient: &dyn age::Recipient = match to {
        SealTo::X25519(r) => r.as_ref(),
        SealTo::Passphrase(p, work_factor) => {
            let mut r = age::scrypt::Recipient::new(p.clone());
            r.set_work_factor(*work_factor);
            scrypt = r;
            &scrypt
        }
    };
    let encryptor = age::Encryptor::with_recipients(iter::once(recipient)).map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).map_err(|e| fail(&e))?;
    writer.write_all(plaintext).map_err(|e| fail(&e))?;
    writer.finish().map_err(|e| fail(&e))?;
    Ok(out)
}

/// Opens a sealed file: with the identities given, or with the passphrase given or asked
/// for `what`.
pub fn open(
    ciphertext: &[u8],
    openers: &Openers,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let decryptor = age::Decryptor::new(ciphertext)
        .map_err(|e| SealError::Failed(format!("{what} is not a readable age file ({e})")))?;
    let reader = if decryptor.is_scrypt() {
        let passphrase = match &openers.passphrase {
            Some(p) => p.clone(),
            None => read_passphrase(&format!("Passphrase for {what}: "), false)?,
        };
        let mut identity = age::scrypt::Identity::new(passphrase);
        identity.set_max_work_factor(SCRYPT_MAX_LOG_N);
        decryptor.decrypt(iter::once(&identity as &dyn age::Identity))
    } else {
        if openers.identities.is_empty() {
            return Err(SealError::Denied(format!(
                "{what} is sealed to an age X25519 key: give the identity file that opens it"
            )));
        }
        decryptor.decrypt(openers.identities.iter().map(|i| i as &dyn age::Identity))
    };
    let mut reader = reader.map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => SealError::Denied(format!(
            "{what} is sealed to an age key none of the identities given holds"
        )),
        age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
            SealError::Denied(format!("{what}: wrong passphrase, or the file was altered"))
        }
        other => SealError::Failed(format!("{what} could not be opened ({other})")),
    })?;
    // Sized up front: a growing buffer would free copies of the record as it moves.
    let mut plaintext = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader
        .read_to_end(&mut plaintext)
        .map_err(|e| SealError::Failed(format!("{what}: the sealed file is damaged ({e})")))?;
    Ok(plaintext)
}

/// Reads a passphrase: from `KEYRITE_PASSPHRASE` in a rehearsal, otherwise from the terminal
/// without echo (twice, when `confirm`).
pub fn read_passphrase(prompt: &str, confirm: bool) -> Result<SecretString, SealError> {
    if is_rehearsal()
        && let Ok(p) = std::env::var(PASSPHRASE_ENV)
    {
        return Ok(SecretString::from(p));
    }
    let ask = |prompt: &str| {
        crate::sys::prompt::secret(prompt)
            .map_err(|e| SealError::Denied(format!("no passphrase: {e}")))
    };
    let first = ask(prompt)?;
    if first.is_empty() {
        return Err(SealError::Failed(
            "an empty passphrase protects nothing: type one".into(),
        ));
    }
    if confirm {
        let second = ask("Type it again: ")?;
        if *first != *second {
            return Err(SealError::Failed(
                "the two passphrases differ: nothing was made; start again".into(),
            ));
        }
    }
    Ok(SecretString::from(first.as_str().to_owned()))
}

/// Parses `--custodian NAME=RECIPIENT`'s recipient part.
pub fn parse_recipient(text: &str) -> Result<Option<Box<age::x25519::Recipient>>, SealError> {
    if text == "passphrase" {
        return Ok(None);
    }
    text.parse::<age::x25519::Recipient>()
        .map(|r| Some(Box::new(r)))
        .map_err(|e| {
            SealError::Failed(format!(
                "'{text}' is neither an age X25519 recipient (age1…) nor 'passphrase' ({e})"
            ))
        })
}

/// Reads age identities from a file (`AGE-SECRET-KEY-1…` lines, `#` comments).
pub fn read_identities(path: &std::path::Path) -> Result<Vec<age::x25519::Identity>, SealError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        SealError::Failed(format!(
            "cannot read the identity file {}: {e}",
            path.display()
        ))
    })?);
    let ids: Result<Vec<_>, _> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.parse::<age::x25519::Identity>())
        .collect();
    match ids {
        Ok(ids) if !ids.is_empty() => Ok(ids),
        _ => Err(SealError::Failed(format!(
            "{} is not an age identity file (one AGE-SECRET-KEY-1… per line)",
            path.display()
        ))),
    }
}
