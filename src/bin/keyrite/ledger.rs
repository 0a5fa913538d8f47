//! `keyrite ledger`: the issuance ledger's record on the root token.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyrite::ca::ledger::{AdoptRequest, adopt_ledger};
use keyrite::keys::token::Pkcs11Uri;

#[derive(Subcommand)]
pub(crate) enum LedgerCommand {
    /// Record on the root token a ledger it has no record of (one kept before ledgers were
    /// recorded, or after the token was replaced), once it is checked against the paper log's
    /// last CRL number and that CRL: the same number and exactly its revoked serials.
    Adopt {
        /// PKCS#11 URI of the root key.
        #[arg(long, value_name = "URI")]
        token: String,
        /// The root certificate.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// The issuance ledger directory.
        #[arg(long, value_name = "DIR", default_value = "ledger")]
        ledger: PathBuf,
        /// The number of the last CRL the root issued, read from the last ceremony's paper log
        /// (0 when it issued none): not from the medium, which the ledger came on.
        #[arg(long, value_name = "N")]
        last_crl_number: u64,
        /// That CRL (DER or PEM); needed unless the number is 0.
        #[arg(long, value_name = "FILE")]
        last_crl: Option<PathBuf>,
        /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
    },
}

/// Adopts a ledger.
pub(crate) fn run(command: LedgerCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        LedgerCommand::Adopt {
            token,
            root_cert,
            ledger,
            last_crl_number,
            last_crl,
            module,
        } => {
            let token: Pkcs11Uri = token.parse()?;
            let adopted = adopt_ledger(&AdoptRequest {
                token: &token,
                module: module.as_deref(),
                root_cert: &root_cert,
                ledger: &ledger,
                last_number: last_crl_number,
                last_crl: last_crl.as_deref(),
            })?;
            println!(
                "The ledger in {} is now recorded on the root token: CRL number {}, {} issued \
                 certificates, {} revocations.",
                ledger.display(),
                adopted.crl_number,
                adopted.issued,
                adopted.revoked
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
