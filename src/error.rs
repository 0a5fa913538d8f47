//! The crate-wide error: what the layers that combine modules (the ceremony, the TUI and the
//! binaries) report. Each module below them keeps an error type of its own.

use crate::{bundle, ca, ceremony, keys, pki, publisher, shares, sys};

/// Any failure of a keyrite operation, each saying what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificate authority did not act.
    #[error(transparent)]
    Ca(#[from] ca::CaError),
    /// A publisher's key, chain or plugin could not be made or recorded.
    #[error(transparent)]
    Publisher(#[from] publisher::PublisherError),
    /// A bundle could not be made.
    #[error(transparent)]
    MakeBundle(#[from] bundle::make::MakeError),
    /// A bundle could not be read or is not intact.
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// A key could not be made, opened or used.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// Talking to the token failed.
    #[error(transparent)]
    Token(#[from] keys::token::TokenError),
    /// A PKCS#11 URI did not parse.
    #[error(transparent)]
    Uri(#[from] keys::token::UriError),
    /// A secret could not be sealed, opened or read.
    #[error(transparent)]
    Seal(#[from] keys::seal::SealError),
    /// An algorithm name is unknown.
    #[error(transparent)]
    Algorithm(#[from] keys::UnknownAlgorithm),
    /// A subject broke the naming rules.
    #[error(transparent)]
    Name(#[from] pki::name::NameError),
    /// A validity did not parse.
    #[error(transparent)]
    Period(#[from] pki::validity::PeriodError),
    /// A certificate could not be built or read.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// A CMS signature could not be made or checked.
    #[error(transparent)]
    Cms(#[from] pki::cms::CmsError),
    /// A CSR was refused at intake.
    #[error(transparent)]
    Csr(#[from] pki::csr::CsrError),
    /// Shares could not be made or used.
    #[error(transparent)]
    Shares(#[from] shares::ShareError),
    /// A threshold is malformed.
    #[error(transparent)]
    Threshold(#[from] shares::ThresholdError),
    /// A revocation request does not parse.
    #[error(transparent)]
    Revocation(#[from] ca::crl::RevocationError),
    /// The ledger could not be used.
    #[error(transparent)]
    Ledger(#[from] ca::ledger::LedgerError),
    /// A ceremony could not start, go on, or be verified.
    #[error(transparent)]
    Ceremony(Box<ceremony::CeremonyError>),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] sys::output::OutputError),
    /// The command's arguments do not fit together.
    #[error("{0}")]
    Usage(String),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
}

impl From<ceremony::CeremonyError> for Error {
    fn from(e: ceremony::CeremonyError) -> Self {
        match e {
            ceremony::CeremonyError::Keyrite(inner) => inner,
            other => Error::Ceremony(Box::new(other)),
        }
    }
}
