//! `keyrite-import enforce`: lineages whose trust bundle has expired stop trusting.

use std::process::ExitCode;

use clap::Args;
use keyrite::import::{EnforceAction, ImportError, Importer, now, short};

/// How to report.
#[derive(Args)]
pub(crate) struct EnforceArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Enforces expiry and reports every lineage whose trust bundle has expired.
pub(crate) fn run(args: EnforceArgs, importer: &Importer) -> Result<ExitCode, ImportError> {
    let report = importer.enforce(now()?)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if report.is_empty() {
        println!("No trust bundle has expired.");
    }
    for e in &report {
        let what = match e.action {
            EnforceAction::Enforced => {
                "its statements now refuse every signature, until a newer trust bundle is installed"
            }
            EnforceAction::AlreadyEnforced => {
                "its statements already refuse every signature, until a newer trust bundle is installed"
            }
            EnforceAction::WarnOnly => {
                "its pin says warn only (--on-expiry warn), so it still trusts: install a newer trust bundle"
            }
        };
        println!(
            "Lineage {}: trust bundle v{} expired on {}: {what}.",
            short(&e.lineage),
            e.version,
            e.expired_at
        );
    }
    Ok(ExitCode::SUCCESS)
}
