//! `keyrite-import pin`: a root whose bundles may start a lineage on this host.

use std::process::ExitCode;

use clap::Args;
use keyrite::fingerprint::Fingerprint;
use keyrite::import::{ImportError, Importer};

/// The root to pin.
#[derive(Args)]
pub(crate) struct PinArgs {
    /// The root's fingerprint: 64 hex digits, or the 32 words read at the ceremony.
    #[arg(required = true, num_args = 1..)]
    fingerprint: Vec<String>,
}

/// Pins the root and shows what was pinned.
pub(crate) fn run(args: PinArgs, importer: &Importer) -> Result<ExitCode, ImportError> {
    let fingerprint = args.fingerprint;
    let fp = Fingerprint::parse(&fingerprint.join(" ")).map_err(ImportError::Input)?;
    let added = importer.pin(fp)?;
    println!(
        "{} {}\n{}",
        if added { "Pinned" } else { "Already pinned:" },
        fp.hex(),
        fp.words_block()
    );
    Ok(ExitCode::SUCCESS)
}
