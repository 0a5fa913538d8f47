//! The PKI: names, validity, certificate profiles, the pre-issuance check, and issuance.

pub mod check;
pub mod issue;
pub mod name;
pub mod profile;
pub mod validity;

/// Why a certificate was not issued.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The certificate breaks its profile; nothing was issued.
    #[error("the certificate breaks its profile ({stage}): {}; nothing was written", problems.join("; "))]
    Profile {
        /// Before or after signing.
        stage: &'static str,
        /// Everything that is wrong.
        problems: Vec<String>,
    },
    /// The certificate could not be built or encoded.
    #[error("could not build the certificate: {0}")]
    Build(String),
    /// The key source could not sign.
    #[error(transparent)]
    Sign(Box<crate::Error>),
}
