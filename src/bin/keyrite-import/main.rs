//! `keyrite-import`: installs trust and revocation bundles on an air-gapped host, where
//! notation reads them. `main` parses the arguments and hands each command to its module.

mod check;
mod install;
mod pin;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyrite::import::site::{Site, SiteOptions};
use keyrite::import::{ImportError, Importer};

/// Verify keyrite bundles and install them into notation's trust store, trust policy and CRL
/// cache. It uses no network.
///
/// Exit status: 0 success (check: trusted); 1 error or refusal; 2 status found something
/// expiring or changed by hand, or check: untrusted; 3 check: expired; 4 check: revoked;
/// 5 check: trusted only for a signature that carries a timestamp.
#[derive(Parser)]
#[command(name = "keyrite-import", version, arg_required_else_help = true)]
struct Cli {
    /// Site config (TOML): pinned roots, targets, state directory.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// notation's config directory (default NOTATION_CONFIG, else ~/.config/notation).
    #[arg(long, global = true, value_name = "DIR")]
    notation_config: Option<PathBuf>,
    /// notation's cache directory (default NOTATION_CACHE, else ~/.cache/notation).
    #[arg(long, global = true, value_name = "DIR")]
    notation_cache: Option<PathBuf>,
    /// keyrite-import's state directory (default ~/.local/state/keyrite-import).
    #[arg(long, global = true, value_name = "DIR")]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a bundle and install it, or refuse it and change nothing.
    Install(install::InstallArgs),
    /// Pin a root: bundles it signs may start a lineage on this host.
    Pin(pin::PinArgs),
    /// Show what is installed; exit 2 when something expires soon or was changed by hand.
    Status(status::StatusArgs),
    /// Judge a signing chain (PEM, leaf first) against what is installed, offline.
    Check(check::CheckArgs),
    /// Finish or clear an install a crash interrupted (every command does this first).
    Recover,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keyrite-import: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, ImportError> {
    let site = Site::resolve(&SiteOptions {
        config: cli.config,
        notation_config: cli.notation_config,
        notation_cache: cli.notation_cache,
        state: cli.state,
    })?;
    let importer = Importer::open(site)?;
    match cli.command {
        Command::Install(args) => install::run(args, &importer),
        Command::Pin(args) => pin::run(args, &importer),
        Command::Status(args) => status::run(args, &importer),
        Command::Check(args) => check::run(args, &importer),
        Command::Recover => {
            println!(
                "{}",
                if importer.recovered() {
                    "An interrupted install was completed or cleared."
                } else {
                    "Nothing to recover."
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
