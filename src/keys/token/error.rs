//! What can go wrong talking to a token, each error saying what to do next.

use std::path::PathBuf;

use cryptoki::error::Error as CkError;

use super::MODULE_ENV;

/// Everything that can go wrong talking to a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No module was named anywhere.
    #[error(
        "no PKCS#11 module given: pass --module PATH, add module-path=PATH to the token URI, \
         or set {MODULE_ENV}"
    )]
    NoModule,
    /// `--module` and the URI's `module-path` disagree.
    #[error(
        "--module {flag} and the URI's module-path {uri} name different modules: give only one"
    )]
    ConflictingModules {
        /// From `--module`.
        flag: PathBuf,
        /// From the URI.
        uri: PathBuf,
    },
    /// The module file does not exist.
    #[error(
        "PKCS#11 module {0} does not exist: check the path (e.g. /usr/lib/softhsm/libsofthsm2.so)"
    )]
    ModuleNotFound(PathBuf),
    /// The file exists but is not a loadable PKCS#11 module.
    #[error(
        "{path} is not a PKCS#11 module ({detail}): give the path of the token vendor's PKCS#11 library"
    )]
    NotAModule {
        /// The file.
        path: PathBuf,
        /// What the loader said.
        detail: String,
    },
    /// No token matches the URI.
    #[error(
        "no token matches {uri}; tokens present: {present}. Check the label or serial with `keyrite token list`"
    )]
    NoSuchToken {
        /// The selecting URI.
        uri: String,
        /// The tokens seen.
        present: String,
    },
    /// Several tokens match the URI.
    #[error("{uri} matches more than one token ({matches}): add serial= to the URI to pick one")]
    AmbiguousToken {
        /// The selecting URI.
        uri: String,
        /// The tokens that match.
        matches: String,
    },
    /// The PIN was wrong.
    #[error(
        "wrong PIN for token '{token}': {tries}. keyrite does not retry; check the PIN source and run the command again"
    )]
    WrongPin {
        /// Token label.
        token: String,
        /// What the token reports about remaining tries.
        tries: String,
    },
    /// The PIN is locked.
    #[error(
        "the user PIN of token '{0}' is locked: the security officer must unblock it before the token can be used"
    )]
    PinLocked(String),
    /// The PIN could not be obtained.
    #[error("{0}")]
    Pin(String),
    /// An object already holds the label or id a new key would get.
    #[error(
        "token '{token}' already holds an object with {what}: choose another object= label or id=, \
         or use a fresh token"
    )]
    ObjectExists {
        /// Token label.
        token: String,
        /// Which attribute collides.
        what: String,
    },
    /// No key matches the URI.
    #[error(
        "no private key on token '{token}' matches {uri}: check object= and id= (`pkcs11-tool --list-objects` shows them)"
    )]
    NoSuchKey {
        /// Token label.
        token: String,
        /// The selecting URI.
        uri: String,
    },
    /// Several keys match the URI.
    #[error(
        "{uri} matches {count} private keys on token '{token}': add object= or id= to pick one"
    )]
    AmbiguousKey {
        /// Token label.
        token: String,
        /// The selecting URI.
        uri: String,
        /// How many matched.
        count: usize,
    },
    /// The token lacks a mechanism keyrite needs.
    #[error(
        "token '{token}' does not offer {needed}, which {purpose} needs: choose another \
         --algorithm (`keyrite token list` shows what the token offers) or another token"
    )]
    MissingMechanism {
        /// Token label.
        token: String,
        /// The mechanism(s).
        needed: String,
        /// What for.
        purpose: String,
    },
    /// A key of a kind keyrite cannot use.
    #[error("key on token '{token}': {detail}")]
    UnusableKey {
        /// Token label.
        token: String,
        /// What is wrong.
        detail: String,
    },
    /// The token returned a signature that does not verify.
    #[error(
        "token '{token}' returned a signature that does not verify against the key's public key \
         ({source}); nothing signed by it was used. Do not use this token or module for the \
         ceremony until the key pair on it is checked"
    )]
    BadTokenSignature {
        /// Token label.
        token: String,
        /// The verification failure.
        source: crate::keys::BadSignature,
    },
    /// A key a failed step had made could not be removed again.
    #[error(
        "the key keyrite had just made on token '{token}' (label '{label}', id {id}) could not be \
         removed ({source}); remove it with: pkcs11-tool --module MODULE --login --token-label '{token}' \
         --delete-object --type privkey --id {id} (and --type pubkey)"
    )]
    Cleanup {
        /// Token label.
        token: String,
        /// Key label.
        label: String,
        /// Key id in hex.
        id: String,
        /// The module's answer.
        source: Box<CkError>,
    },
    /// A step failed, and undoing what it had made on the token failed too.
    #[error("{cause}; then {cleanup}")]
    Undo {
        /// Why the step failed.
        cause: Box<TokenError>,
        /// The failed cleanup.
        cleanup: Box<TokenError>,
    },
    /// A new key's protection is not what keyrite requires.
    #[error(
        "the new key's protection is not what keyrite requires ({0}); it was not used and was \
         removed: check the token's PKCS#11 module or use another token"
    )]
    WeakKey(String),
    /// A value keyrite builds for the token could not be encoded.
    #[error("could not encode {0}")]
    Encoding(String),
    /// Any other PKCS#11 failure.
    #[error(
        "{action} failed on the PKCS#11 module: {source}. Check the token with `keyrite token \
         list` and the module's own log"
    )]
    Pkcs11 {
        /// What keyrite was doing.
        action: String,
        /// The module's answer.
        source: CkError,
    },
}

pub(super) fn ck(action: impl Into<String>) -> impl FnOnce(CkError) -> TokenError {
    let action = action.into();
    move |source| TokenError::Pkcs11 { action, source }
}
