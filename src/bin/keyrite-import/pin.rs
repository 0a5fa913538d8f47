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
    #[arg(required_unless_present = "file", conflicts_with = "file", num_args = 1..)]
    fingerprint: Vec<String>,
    /// Read the fingerprint from the ceremony's `root.fingerprint` file (its sha256 line).
    #[arg(long, value_name = "FILE")]
    file: Option<std::path::PathBuf>,
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
    let root = match &args.file {
        Some(path) => {
            let text =
                keyrite::sys::input::read(path, 64 * 1024, keyrite::sys::input::Links::Follow)
                    .map_err(|e| ImportError::Input(e.to_string()))?;
            let text = String::from_utf8(text).map_err(|_| {
                ImportError::Input(format!("{} is not a root.fingerprint file", path.display()))
            })?;
            if !text.lines().any(|l| l.trim().starts_with("sha256:")) {
                return Err(ImportError::Input(format!(
                    "{} has no sha256: line: give the root.fingerprint file the ceremony wrote",
                    path.display()
                )));
            }
            Fingerprint::parse(&text)
        }
        None => Fingerprint::parse(&args.fingerprint.join(" ")),
    }
    .map_err(ImportError::Input)?;
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
    for line in pin.describe() {
        println!("  {line}");
    }
    if let Pinned::Replaced(old) = done {
        println!("  was: root {}, scopes {}", old.root, old.scopes.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Which pin to remove.
#[derive(Args)]
pub(crate) struct UnpinArgs {
    /// The lineage's fingerprint, or its pinned root's (hex, or the words in one quoted
    /// argument).
    fingerprint: String,
    /// Remove it even though bundles of its lineage are installed (they stay installed).
    #[arg(long)]
    force: bool,
}

/// Lists the pins.
pub(crate) fn list(importer: &Importer) -> Result<ExitCode, ImportError> {
    let pins = importer.pins()?;
    if pins.is_empty() {
        println!("No pins: `keyrite-import pin --file root.fingerprint --scope …` pins a lineage.");
    }
    for pin in pins {
        println!("Pin");
        for line in pin.describe() {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes a pin and says what it bound.
pub(crate) fn unpin(args: UnpinArgs, importer: &Importer) -> Result<ExitCode, ImportError> {
    let fp = Fingerprint::parse(&args.fingerprint).map_err(ImportError::Input)?;
    let removed = importer.unpin(&fp, args.force)?;
    println!("Unpinned:");
    for line in removed.describe() {
        println!("  {line}");
    }
    Ok(ExitCode::SUCCESS)
}
