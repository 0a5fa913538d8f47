//! keyrite: an offline key-ceremony toolkit for container signing with the Notary Project.
//!
//! The library holds every operation; the `keyrite` and `keyrite-import` binaries only parse
//! arguments, call into it, and report.

pub mod bundle;
pub mod ceremony;
pub mod cms;
pub mod crash_points;
pub mod crl;
pub mod delegate;
pub mod dirs;
pub mod fingerprint;
pub mod hygiene;
pub mod import;
pub mod ledger;
pub mod medium;
pub mod memory_key;
pub mod output;
pub mod pki;
pub mod prompt;
pub mod publisher;
pub mod root;
pub mod seal;
pub mod shares;
pub mod signer;
pub mod token;
pub mod tui;

/// Any failure of a keyrite operation, each saying what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to the token failed.
    #[error(transparent)]
    Token(#[from] token::TokenError),
    /// A PKCS#11 URI did not parse.
    #[error(transparent)]
    Uri(#[from] token::UriError),
    /// A subject broke the naming rules.
    #[error(transparent)]
    Name(#[from] pki::name::NameError),
    /// A validity did not parse.
    #[error(transparent)]
    Period(#[from] pki::validity::PeriodError),
    /// An algorithm name is unknown.
    #[error(transparent)]
    Algorithm(#[from] signer::UnknownAlgorithm),
    /// Certificate issuance failed.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// Shares could not be made or used.
    #[error(transparent)]
    Shares(#[from] shares::ShareError),
    /// A threshold is malformed.
    #[error(transparent)]
    Threshold(#[from] shares::ThresholdError),
    /// A share's text is not a share.
    #[error(transparent)]
    ShareText(#[from] shares::text::TextError),
    /// A share card could not be drawn or read.
    #[error(transparent)]
    Card(#[from] shares::card::CardError),
    /// A share could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    /// An in-memory key could not be made or used.
    #[error(transparent)]
    MemoryKey(#[from] memory_key::MemoryKeyError),
    /// Signing in software failed.
    #[error("signing in memory failed: {0}")]
    Signing(String),
    /// Recovery was refused; the judged shares are shown after the reason.
    #[error("{cause}\nThe shares presented:\n{report}")]
    Recovery {
        /// Why.
        cause: Box<Error>,
        /// The per-share report.
        report: String,
    },
    /// A CSR was refused at intake.
    #[error(transparent)]
    Csr(#[from] pki::csr::CsrError),
    /// A revocation request does not parse.
    #[error(transparent)]
    Revocation(#[from] crl::RevocationError),
    /// A bundle could not be read or is not intact.
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// A ceremony could not start, go on, or be verified.
    #[error(transparent)]
    Ceremony(Box<ceremony::CeremonyError>),
    /// The ledger could not be used.
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    /// The command's arguments do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] output::OutputError),
    /// A key's protection is not what keyrite requires.
    #[error(
        "the new key's protection is not what keyrite requires ({0}); it was not used and was \
         removed: check the token's PKCS#11 module or use another token"
    )]
    WeakKey(String),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
    /// A step failed and undoing its token changes failed too.
    #[error("{cause}; then {}", cleanups.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Cleanup {
        /// The first failure.
        cause: Box<Error>,
        /// Every cleanup that failed.
        cleanups: Vec<token::TokenError>,
    },
}

impl From<ceremony::CeremonyError> for Error {
    fn from(e: ceremony::CeremonyError) -> Self {
        match e {
            ceremony::CeremonyError::Keyrite(inner) => inner,
            other => Error::Ceremony(Box::new(other)),
        }
    }
}
