//! `keyrite csr`: what the root would sign for a publisher's CSR.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyrite::pki::csr::show::describe;
use keyrite::pki::csr::{Intake, read_csr, review};
use keyrite::pki::read_certificate;

use crate::delegate::ProfileArg;

#[derive(Subcommand)]
pub(crate) enum CsrCommand {
    /// Show what the root would sign for a CSR: the subject in printable ASCII, the key and
    /// its SHA-256 as hex and words, the requested extensions, and every warning and reason
    /// to refuse it. Exits non-zero when `delegate issue` would refuse it.
    Show {
        /// The publisher's CSR (PEM or DER).
        file: PathBuf,
        /// The profile it would be issued under.
        #[arg(long, value_enum, default_value = "signing")]
        profile: ProfileArg,
        /// The root certificate that would sign it, to check the CSR against the root's subject.
        #[arg(long, value_name = "FILE")]
        root_cert: Option<PathBuf>,
    },
}

/// Runs a `csr` command.
pub(crate) fn run(command: CsrCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        CsrCommand::Show {
            file,
            profile,
            root_cert,
        } => {
            let root = root_cert.as_deref().map(read_certificate).transpose()?;
            let csr = read_csr(&file)?;
            let intake = Intake {
                kind: profile.into(),
                root_subject: root.as_ref().map(|r| r.tbs_certificate().subject()),
            };
            let review = review(&csr, &intake);
            println!("CSR {}", file.display());
            print!("{}", describe(&csr, &intake, &review));
            if review.refusals.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "keyrite: error: CSR {} would be refused ({} reason(s) above)",
                    file.display(),
                    review.refusals.len()
                );
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
