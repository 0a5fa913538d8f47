//! `keyrite shares`: a custody audit of the root key's share cards.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyrite::ca::recover::verify_shares;
use keyrite::keys::seal::{Openers, read_identities};

#[derive(Subcommand)]
pub(crate) enum SharesCommand {
    /// Check shares against the root certificate without combining them (a custody audit).
    Verify {
        /// The root certificate the shares belong to.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// age identity file that opens sealed cards (repeatable).
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Share files: card PNG or SVG, typed text, or decoded QR text.
        #[arg(value_name = "CARD-or-TEXT", required = true)]
        shares: Vec<PathBuf>,
    },
}

/// Audits shares without combining them.
pub(crate) fn run(command: SharesCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        SharesCommand::Verify {
            root_cert,
            identities,
            shares,
        } => {
            let report = verify_shares(&root_cert, &shares, &openers(&identities)?)?;
            print!("{report}");
            Ok(if report.all_good() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// The age identities that open sealed cards, read from `--identity` files.
pub(crate) fn openers(identities: &[PathBuf]) -> Result<Openers, keyrite::Error> {
    let mut openers = Openers::default();
    for path in identities {
        openers.identities.extend(read_identities(path)?);
    }
    Ok(openers)
}
