//! Scripted ceremonies: a reviewed script, a profile for the machine, an engine that runs the
//! steps through the same library calls as the CLI, and a hash-chained transcript signed by
//! the root at the end. The terminal UI and `rehearse --batch` are views over [`engine`].
//! A ceremony never runs a step its reviewed script does not name, and the root signs only a
//! transcript this engine wrote.

pub mod actions;
pub mod engine;
pub mod media;
pub mod params;
pub mod rehearsal;
pub mod script;
pub mod transcript;

/// Why a ceremony could not start, go on, or be verified.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// The script is malformed.
    #[error("script {0}")]
    Script(String),
    /// The profile is malformed or points at something missing.
    #[error("profile {0}")]
    Profile(String),
    /// The administrator did not confirm the script's hash.
    #[error(
        "the script's SHA-256 was not confirmed: the ceremony does not start; compare the reviewed copy and the script on the ceremony medium"
    )]
    HashRejected,
    /// The transcript is damaged, from another ceremony, or does not verify.
    #[error("transcript: {0}")]
    Transcript(String),
    /// A step failed.
    #[error("step failed: {0}")]
    Step(String),
    /// An input or output medium is missing or cannot be mounted.
    #[error("{0}")]
    Media(String),
    /// A library operation failed.
    #[error(transparent)]
    Keyrite(#[from] crate::Error),
}

/// Lower modules' errors reach a ceremony through the crate-wide error, which says what
/// each means.
macro_rules! through_crate_error {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for CeremonyError {
            fn from(e: $error) -> Self {
                Self::Keyrite(e.into())
            }
        }
    )*};
}

through_crate_error!(
    crate::sys::output::OutputError,
    crate::ca::CaError,
    crate::shares::ShareError,
    crate::pki::cms::CmsError,
    crate::bundle::make::MakeError,
);
