//! The certificate authority's own acts and records: creating and recovering the root,
//! issuing delegate certificates from CSRs, issuing CRLs, and the ledger of everything the
//! root has signed. Every act signs on a token through [`crate::keys::KeySigner`], checks what
//! it is about to sign first, and verifies the signature before writing anything.

pub mod crl;
pub mod delegate;
pub mod issuer;
pub mod ledger;
pub mod recover;
pub mod revocation;
pub mod root;

use crate::keys::KeyError;
use crate::keys::token::TokenError;
use crate::pki::PkiError;
use crate::pki::csr::CsrError;
use crate::shares::ShareError;
use crate::sys::output::OutputError;
use ledger::LedgerError;

/// Why the certificate authority did not act; nothing was signed or written unless the
/// message says so.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The token refused or failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A certificate or CRL could not be built, or breaks its profile.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A CSR was refused at intake.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// Shares could not be made or used.
    #[error(transparent)]
    Shares(#[from] ShareError),
    /// An in-memory key could not be made.
    #[error(transparent)]
    MemoryKey(#[from] crate::keys::memory::MemoryKeyError),
    /// The ledger could not be used.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
    /// The request cannot be carried out; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// Recovery was refused; the judged shares are shown after the reason.
    #[error("{cause}\nThe shares presented:\n{report}")]
    Recovery {
        /// Why.
        cause: Box<ShareError>,
        /// The per-share report.
        report: String,
    },
    /// A step failed and undoing its token changes failed too.
    #[error("{cause}; then {}", cleanups.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Cleanup {
        /// The first failure.
        cause: Box<CaError>,
        /// Every cleanup that failed.
        cleanups: Vec<TokenError>,
    },
}
