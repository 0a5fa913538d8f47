//! `keyrite-import check`: judge a signing chain against what is installed, offline.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use keyrite::import::{ImportError, Importer, now, parse_at};
use keyrite::notation::verdict::Outcome;

/// What to judge, and how.
#[derive(Args)]
pub(crate) struct CheckArgs {
    /// The chain.
    chain: PathBuf,
    /// Judge at this time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// The repository the signature is for (registry.example/app): judge as notation would
    /// verify a signature there, by the statement of trustpolicy.json that applies to it
    /// (its level, overrides, trust stores, trusted identities and timestamp rule), instead
    /// of against keyrite's stores with every check enforced.
    #[arg(long, value_name = "REPOSITORY")]
    scope: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Prints the verdict; the exit status says it too (0 trusted, 2 untrusted, 3 expired,
/// 4 revoked, 5 trusted only with a timestamp, 6 trusted but needing attention).
pub(crate) fn run(args: CheckArgs, importer: &Importer) -> Result<ExitCode, ImportError> {
    let CheckArgs {
        chain,
        at,
        scope,
        json,
    } = args;
    let at = at
        .as_deref()
        .map(parse_at)
        .transpose()?
        .map_or_else(now, Ok)?;
    let checked = importer.check(&chain, at, scope.as_deref())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&checked).unwrap_or_default()
        );
    } else {
        let verdict = &checked.verdict;
        println!("{}: {}", verdict.outcome.word(), verdict.reason);
        if let Some(t) = &verdict.timestamp {
            println!("timestamp: {t}");
        }
        if let Some(t) = &checked.third_party {
            println!("third party: {}", t.describe());
        }
        for a in &checked.attention {
            println!("ATTENTION: {a}");
        }
    }
    if !checked.attention.is_empty() {
        return Ok(ExitCode::from(6));
    }
    Ok(ExitCode::from(match checked.verdict.outcome {
        Outcome::Trusted => 0,
        Outcome::Untrusted => 2,
        Outcome::Expired => 3,
        Outcome::Revoked => 4,
        Outcome::TimestampRequired => 5,
    }))
}
