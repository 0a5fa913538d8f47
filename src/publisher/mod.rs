//! Publishers' signing keys: made where they will live (a PKCS#11 token, or an age-sealed
//! local file), certified through a CSR a ceremony turns into a delegate certificate, and
//! paired with that certificate chain so notation can sign with them through
//! `notation-keyrite`. Nothing here reaches a network; the plugin's own crate does the talking
//! to notation.

pub mod chain;
pub mod keygen;
pub mod plugin;
pub mod sign;

use std::path::{Path, PathBuf};

use crate::keys::KeyError;
use crate::keys::token::TokenError;
use crate::pki::PkiError;
use crate::sys::output::OutputError;

pub use chain::{chain_record, check_chain, install_chain, public_key_of, recorded_chain};
pub use keygen::{KeygenOutcome, KeygenRequest, keygen};
pub use plugin::install_plugin;

/// Environment variable naming the directory where chains of token keys are recorded.
pub const CHAINS_ENV: &str = "KEYRITE_CHAINS";
/// Environment variable holding the passphrase of a passphrase-sealed key file.
pub const KEY_PASSPHRASE_ENV: &str = "KEYRITE_KEY_PASSPHRASE";
/// Environment variable naming an age identity file that opens X25519-sealed key files.
pub const AGE_IDENTITY_ENV: &str = "KEYRITE_AGE_IDENTITY";

/// Why a publisher's key, chain or plugin could not be made or recorded; nothing was left
/// behind unless the message says so.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    /// The key could not be made, opened or used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The token refused or failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A CSR or certificate could not be built.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
    /// The request cannot be carried out; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// A step failed and undoing its token changes failed too.
    #[error("{cause}; then {}", cleanups.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Cleanup {
        /// The first failure.
        cause: Box<PublisherError>,
        /// Every cleanup that failed.
        cleanups: Vec<TokenError>,
    },
}

/// Splits a file path into its directory and file name, for the all-or-nothing writer.
pub(crate) fn dir_and_name(path: &Path) -> Result<(PathBuf, String), PublisherError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| PublisherError::Refused(format!("{} names no file", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}
