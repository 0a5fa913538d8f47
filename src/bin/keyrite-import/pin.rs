//! `keyrite-import pin`: a lineage, the root that may open it on this host, and the
//! registries it may speak for.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use keyrite::fingerprint::Fingerprint;
use keyrite::import::{ImportError, Importer, OnExpiry, Pin, Pinned};

/// What the site decides for one lineage.
#[derive(Args)]
pub(crate) struct PinArgs {
    /// The root's fingerprint (the SHA-256 of its certificate, as `root.fingerprint` gives
    /// it): 64 hex digits, or the 32 words read at the lineage's latest ceremony.
    #[arg(required = true, num_args = 1..)]
    fingerprint: Vec<String>,
    /// The lineage, when the root is a successor: its first root's fingerprint (hex, or the
    /// words in one quoted argument). Without it the root starts the lineage.
    #[arg(long, value_name = "FINGERPRINT")]
    lineage: Option<String>,
    /// A registry the lineage may speak for: a repository (registry.example/team/app), a
    /// prefix ending in '/' (registry.example/team/), or '*'. Repeatable; at least one.
    #[arg(long = "scope", value_name = "REGISTRY/REPO", required = true)]
    scopes: Vec<String>,
    /// When the lineage's trust bundle expires: `enforce` (keyrite-import enforce turns its
    /// statements into refusals) or `warn` (status and check only say so).
    #[arg(long, value_enum, default_value = "enforce")]
    on_expiry: Expiry,
}

#[derive(Clone, Copy, ValueEnum)]
enum Expiry {
    /// Refuse the lineage's signatures once `keyrite-import enforce` runs.
    Enforce,
    /// Only report it.
    Warn,
}

/// Pins the lineage and shows what the pin binds.
pub(crate) fn run(args: PinArgs, importer: &Importer) -> Result<ExitCode, ImportError> {
    let root = Fingerprint::parse(&args.fingerprint.join(" ")).map_err(ImportError::Input)?;
    let lineage = match &args.lineage {
        Some(l) => {
            Fingerprint::parse(l).map_err(|e| ImportError::Input(format!("--lineage: {e}")))?
        }
        None => root,
    };
    let pin = Pin {
        lineage: lineage.hex(),
        root: root.hex(),
        scopes: args.scopes,
        on_expiry: match args.on_expiry {
            Expiry::Enforce => OnExpiry::Enforce,
            Expiry::Warn => OnExpiry::Warn,
        },
    };
    let done = importer.pin(pin.clone())?;
    println!(
        "{}",
        match &done {
            Pinned::Added => "Pinned:",
            Pinned::Replaced(_) => "Pinned, replacing the lineage's earlier pin:",
            Pinned::Unchanged => "Already pinned:",
        }
    );
    println!("  lineage   {}", pin.lineage);
    println!("  root      {}", pin.root);
    for line in root.words_block().lines() {
        println!("            {line}");
    }
    println!("  scopes    {}", pin.scopes.join(", "));
    println!(
        "  on expiry {}",
        match pin.on_expiry {
            OnExpiry::Enforce =>
                "enforce (keyrite-import enforce refuses the lineage's signatures)",
            OnExpiry::Warn => "warn",
        }
    );
    if let Pinned::Replaced(old) = done {
        println!("  was: root {}, scopes {}", old.root, old.scopes.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
