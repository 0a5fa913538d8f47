//! `keyrite transcript`: verifying a ceremony's transcript and the artefacts it names.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyrite::ceremony::transcript;

#[derive(Subcommand)]
pub(crate) enum TranscriptCommand {
    /// Check a transcript's signature by the root, its chain of entries, and the digests of
    /// the artefacts given.
    Verify {
        /// The transcript (its signature is FILE.p7s).
        file: PathBuf,
        /// The root certificate.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// Artefacts to check against the digests the transcript recorded.
        artefacts: Vec<PathBuf>,
    },
    /// Abandon the ceremony the profile's root token has under way: the token forgets it and
    /// its transcript's head, so a new ceremony may start. For the officers to decide, when an
    /// interrupted ceremony's transcript is lost; write the line it prints in the paper log.
    Abandon {
        /// The ceremony's environment profile (its root token).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
    },
}

/// Verifies a transcript.
pub(crate) fn run(command: TranscriptCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        TranscriptCommand::Verify {
            file,
            root_cert,
            artefacts,
        } => {
            let verified = transcript::verify(&file, &root_cert, &artefacts)?;
            println!(
                "Transcript verified: {} entries, signed by the root in {}.",
                verified.entries.len(),
                root_cert.display()
            );
            for (path, seq) in &verified.artefacts {
                println!("  {} matches entry {seq}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        TranscriptCommand::Abandon { profile } => {
            match keyrite::ceremony::engine::abandon_open_ceremony(&profile)? {
                Some(line) => println!("Abandoned {line}."),
                None => println!("The root token has no ceremony under way: nothing to abandon."),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
