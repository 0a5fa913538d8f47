//! Where a token PIN comes from: a `pin-source` file, a rehearsal `pin-value`, the
//! `KEYRITE_PIN` environment variable, or a prompt without echo. Never a command-line argument
//! of its own.

use std::path::Path;

use zeroize::Zeroizing;

use super::TokenError;
use super::uri::Pkcs11Uri;
use crate::sys::input::{self, Links};

/// Environment variable holding a PIN, for unattended use.
pub const PIN_ENV: &str = "KEYRITE_PIN";
/// Environment variable that marks a rehearsal; only then is `pin-value` accepted.
pub const REHEARSAL_ENV: &str = "KEYRITE_REHEARSAL";

/// Whether this process runs a rehearsal (the rehearsal profile sets `KEYRITE_REHEARSAL=1`).
pub fn is_rehearsal() -> bool {
    std::env::var(REHEARSAL_ENV).is_ok_and(|v| v == "1")
}

/// Reads the user PIN for `token_label` from the first source `uri` and the environment give.
/// An empty PIN is refused before it reaches the token, where it would cost a try.
pub fn user_pin(uri: &Pkcs11Uri, token_label: &str) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let (pin, source) = read_user_pin(uri, token_label)?;
    if pin.is_empty() {
        return Err(TokenError::Pin(format!(
            "the PIN for token '{token_label}' from {source} is empty; nothing was sent to the \
             token: give the PIN there and run the command again"
        )));
    }
    Ok(pin)
}

fn read_user_pin(
    uri: &Pkcs11Uri,
    token_label: &str,
) -> Result<(Zeroizing<Vec<u8>>, String), TokenError> {
    if let Some(value) = &uri.pin_value {
        if !is_rehearsal() {
            return Err(TokenError::Pin(
                "pin-value in a URI is accepted only in a rehearsal (KEYRITE_REHEARSAL=1): \
                 it is visible to every process on the machine; use pin-source=file:PATH, \
                 the KEYRITE_PIN environment variable, or type the PIN at the prompt"
                    .into(),
            ));
        }
        return Ok((
            Zeroizing::new(value.as_bytes().to_vec()),
            "the URI's pin-value".into(),
        ));
    }
    if let Some(source) = &uri.pin_source {
        let path = source.strip_prefix("file:").unwrap_or(source);
        return Ok((
            read_pin_file(Path::new(path))?,
            format!("the PIN file {path}"),
        ));
    }
    if let Ok(pin) = std::env::var(PIN_ENV) {
        return Ok((Zeroizing::new(pin.into_bytes()), PIN_ENV.into()));
    }
    let typed = crate::sys::prompt::secret(&format!("PIN for token '{token_label}': ")).map_err(|e| {
        TokenError::Pin(format!(
            "no PIN for token '{token_label}': {e}; add pin-source=file:PATH to the token URI or set {PIN_ENV}"
        ))
    })?;
    Ok((
        Zeroizing::new(typed.as_bytes().to_vec()),
        "the prompt".into(),
    ))
}

/// The most a PIN file may hold: a PIN and its line ending, not a document.
const MAX_PIN_FILE: u64 = 4096;

/// Reads a PIN file: a regular file (not a link or a FIFO, which could hang an unattended
/// signer) of at most [`MAX_PIN_FILE`] bytes, without its trailing line ending.
fn read_pin_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let mut bytes = input::read(path, MAX_PIN_FILE, Links::Refuse)
        .map(Zeroizing::new)
        .map_err(|e| {
            TokenError::Pin(format!(
                "the PIN file named by pin-source cannot be used: {e}; give a regular file \
                 that holds only the PIN"
            ))
        })?;
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(bytes)
}
