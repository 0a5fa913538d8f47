//! `keyrite-import install`: verify a bundle and install it, or refuse it and change nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use keyrite::import::site::Site;
use keyrite::import::{ImportError, Importer, Incoming, now};

/// What to install.
#[derive(Args)]
pub(crate) struct InstallArgs {
    /// The bundle file.
    file: PathBuf,
    /// Re-apply the bundle installed (the same file) when `status` finds keyrite's files or
    /// statements changed by hand: they are written again, and what differed is listed.
    #[arg(long)]
    repair: bool,
}

/// Reads and checks the bundle, then (holding the state's lock only now) installs it, and
/// lists the files written and removed.
pub(crate) fn run(args: InstallArgs, site: Site) -> Result<ExitCode, ImportError> {
    let incoming = Incoming::read(&args.file, &site)?;
    let importer = Importer::open(site)?;
    if args.repair {
        let done = importer.repair(incoming, now()?)?;
        if done.written.is_empty() && done.removed.is_empty() {
            println!(
                "Nothing to repair: keyrite's files match {} bundle version {} of lineage {}.",
                done.kind.name(),
                done.version,
                done.lineage
            );
        } else {
            println!(
                "Repaired {} bundle version {} of lineage {}: these differed from it and were written again.",
                done.kind.name(),
                done.version,
                done.lineage
            );
        }
        for p in &done.written {
            println!("  restored {}", p.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let done = importer.install(incoming, now()?)?;
    match done.previous {
        Some(v) => println!(
            "Installed {} bundle version {} of lineage {} (replacing version {v}).",
            done.kind.name(),
            done.version,
            done.lineage
        ),
        None => println!(
            "Installed {} bundle version {} of lineage {}.",
            done.kind.name(),
            done.version,
            done.lineage
        ),
    }
    for p in &done.written {
        println!("  wrote   {}", p.display());
    }
    for p in &done.removed {
        println!("  removed {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
