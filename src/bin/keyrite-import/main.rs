//! `keyrite-import`: installs trust and revocation bundles on an air-gapped host, where
//! notation reads them. `main` parses the arguments and hands each command to its module.

mod check;
mod enforce;
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
/// 5 check: trusted only for a signature that carries a timestamp; 6 check: trusted, but
/// through a lineage whose trust bundle has expired, or by a trust policy another notation
/// would not read (each said in an ATTENTION line).
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
    /// Print a shell completion script:
    /// keyrite-import completions bash > /etc/bash_completion.d/keyrite-import
    Completions {
        /// The shell.
        shell: keyrite::sys::shell::Shell,
    },
    /// Write keyrite-import's man pages into DIR, e.g. /usr/local/share/man/man1.
    Man {
        /// Where the pages go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    #[command(flatten)]
    Locked(Locked),
}

/// The commands that open the state (and its lock) before anything else.
#[derive(Subcommand)]
enum Locked {
    /// Pin a lineage: the root that may open it on this host, and the registries it may speak
    /// for.
    Pin(pin::PinArgs),
    /// List the pins: each lineage, the root that may open it, its registries.
    Pins,
    /// Remove a lineage's pin (refused while its bundles are installed, unless --force).
    Unpin(pin::UnpinArgs),
    /// Show what is installed; exit 2 when something expires soon or was changed by hand.
    Status(status::StatusArgs),
    /// Judge a signing chain (PEM, leaf first) against what is installed, offline.
    Check(check::CheckArgs),
    /// Make every lineage whose trust bundle has expired refuse all signatures until a newer
    /// trust bundle arrives (unless its pin says warn); run it daily, as contrib's timer does.
    Enforce(enforce::EnforceArgs),
    /// Finish or clear an install a crash interrupted (every command does this first).
    Recover,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "keyrite-import: error: {}",
                keyrite::pki::name::hidden_escaped(&e.to_string())
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, ImportError> {
    match &cli.command {
        Command::Completions { shell } => {
            let script = keyrite::sys::shell::completions(
                &mut <Cli as clap::CommandFactory>::command(),
                "keyrite-import",
                *shell,
            );
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map_err(|e| ImportError::Site(format!("writing the script: {e}")))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man { out } => {
            let pages =
                keyrite::sys::shell::man_pages(<Cli as clap::CommandFactory>::command(), out)
                    .map_err(|e| ImportError::Site(e.to_string()))?;
            println!("Wrote {} man pages into {}.", pages.len(), out.display());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let site = Site::resolve(&SiteOptions {
        config: cli.config,
        notation_config: cli.notation_config,
        notation_cache: cli.notation_cache,
        state: cli.state,
    })?;
    let command = match cli.command {
        Command::Install(args) => return install::run(args, site),
        Command::Locked(command) => command,
        Command::Completions { .. } | Command::Man { .. } => return Ok(ExitCode::SUCCESS),
    };
    // Reading commands work for any user who can read the files; the others own them.
    let importer = match command {
        Locked::Status(_) | Locked::Check(_) | Locked::Pins => Importer::open_read_only(site)?,
        _ => Importer::open(site)?,
    };
    match command {
        Locked::Pin(args) => pin::run(args, &importer),
        Locked::Pins => pin::list(&importer),
        Locked::Unpin(args) => pin::unpin(args, &importer),
        Locked::Status(args) => status::run(args, &importer),
        Locked::Check(args) => check::run(args, &importer),
        Locked::Enforce(args) => enforce::run(args, &importer),
        Locked::Recover => {
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
