//! `keyrite-import`: installs trust and revocation bundles on an air-gapped host, where
//! notation reads them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyrite::fingerprint::Fingerprint;
use keyrite::import::site::{Site, SiteOptions};
use keyrite::import::verdict::Outcome;
use keyrite::import::{ImportError, Importer, now, parse_at};

/// Verify keyrite bundles and install them into notation's trust store, trust policy and CRL
/// cache. It uses no network.
///
/// Exit status: 0 success (check: trusted); 1 error or refusal; 2 status found something
/// expiring or changed by hand, or check: untrusted; 3 check: expired; 4 check: revoked.
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
    Install {
        /// The bundle file.
        file: PathBuf,
    },
    /// Pin a root: bundles it signs may start a lineage on this host.
    Pin {
        /// The root's fingerprint: 64 hex digits, or the 32 words read at the ceremony.
        #[arg(required = true, num_args = 1..)]
        fingerprint: Vec<String>,
    },
    /// Show what is installed; exit 2 when something expires soon or was changed by hand.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Report what expires within this many days.
        #[arg(long, value_name = "DAYS", default_value_t = 14)]
        threshold: i64,
    },
    /// Judge a signing chain (PEM, leaf first) against what is installed, offline.
    Check {
        /// The chain.
        chain: PathBuf,
        /// Judge at this time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ) instead of now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The repository the signature is for (registry.example/app): judge by the trust
        /// policy statement notation applies to it (its level, overrides, trust stores and
        /// trusted identities) instead of against keyrite's stores with every check enforced.
        #[arg(long, value_name = "REPOSITORY")]
        scope: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
        Command::Install { file } => {
            let done = importer.install(&file, now()?)?;
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
        Command::Pin { fingerprint } => {
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
        Command::Status { json, threshold } => {
            let status = importer.status(now()?, threshold)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).unwrap_or_default()
                );
            } else {
                print_status(&status);
            }
            Ok(if status.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Check {
            chain,
            at,
            scope,
            json,
        } => {
            let at = at
                .as_deref()
                .map(parse_at)
                .transpose()?
                .map_or_else(now, Ok)?;
            let verdict = importer.check(&chain, at, scope.as_deref())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&verdict).unwrap_or_default()
                );
            } else {
                let word = serde_json::to_value(verdict.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                println!("{word}: {}", verdict.reason);
            }
            Ok(ExitCode::from(match verdict.outcome {
                Outcome::Trusted => 0,
                Outcome::Untrusted => 2,
                Outcome::Expired => 3,
                Outcome::Revoked => 4,
            }))
        }
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

fn print_status(status: &keyrite::import::Status) {
    if status.lineages.is_empty() {
        println!("Nothing installed.");
    }
    for l in &status.lineages {
        println!("Lineage {}", l.lineage);
        println!("  {}", l.words);
        if let Some(t) = &l.trust {
            println!(
                "  trust bundle v{}, expires {} ({} days)",
                t.version, t.expires_at, t.days_left
            );
            for r in &t.roots {
                println!(
                    "    root {} valid until {} ({} days)\n      {}",
                    r.sha256, r.not_after, r.days_left, r.words
                );
            }
            for p in &t.policy {
                println!("    policy statement {p}");
            }
        }
        if let Some(r) = &l.revocation {
            println!(
                "  revocation bundle v{}, expires {} ({} days)",
                r.version, r.expires_at, r.days_left
            );
            for c in &r.crls {
                println!(
                    "    CRL of root {} next update {} ({} days) for {}",
                    keyrite::import::short(&c.issuer),
                    c.next_update,
                    c.days_left,
                    c.urls.join(", ")
                );
            }
        }
    }
    for p in &status.problems {
        println!("ATTENTION: {p}");
    }
}
