//! `keyrite-import status`: what is installed, and what needs attention.

use std::process::ExitCode;

use clap::Args;
use keyrite::import::{ImportError, Importer, Status, now, short};

/// How to report.
#[derive(Args)]
pub(crate) struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Report what expires within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    threshold: i64,
}

/// Reports the installed lineages; exit 2 when something needs attention.
pub(crate) fn run(args: StatusArgs, importer: &Importer) -> Result<ExitCode, ImportError> {
    let StatusArgs { json, threshold } = args;
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

fn print_status(status: &Status) {
    if status.pins.is_empty() {
        println!("No pins: `keyrite-import pin --file root.fingerprint --scope …` pins a lineage.");
    }
    for pin in &status.pins {
        println!("Pin");
        for line in pin.describe() {
            println!("  {line}");
        }
    }
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
            for p in &t.statements {
                println!("    policy statement {}", p.describe());
            }
            for tp in &t.third_parties {
                println!(
                    "    third party '{}': root {} valid until {} ({} days)\n      {}\n      trusted for {} as {}{}{} (statement {})",
                    tp.name,
                    tp.sha256,
                    tp.not_after,
                    tp.days_left,
                    tp.words,
                    tp.scopes.join(", "),
                    tp.identities.join("; "),
                    tp.tsa_root
                        .as_deref()
                        .map(|r| format!("; TSA root {}", short(r)))
                        .unwrap_or_default(),
                    if tp.crl_urls.is_empty() {
                        String::new()
                    } else {
                        format!("; CRLs for {}", tp.crl_urls.join(", "))
                    },
                    tp.statement
                );
            }
        }
        if let Some(at) = &l.enforced_at {
            println!(
                "  ENFORCED since {at}: its trust bundle expired, its statements refuse every signature"
            );
        }
        if let Some(r) = &l.revocation {
            println!(
                "  revocation bundle v{}, expires {} ({} days)",
                r.version, r.expires_at, r.days_left
            );
            for c in &r.crls {
                println!(
                    "    CRL of {} next update {} ({} days) for {}",
                    match &c.third_party {
                        Some(name) => format!("third party '{name}' (root {})", short(&c.issuer)),
                        None => format!("root {}", short(&c.issuer)),
                    },
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
