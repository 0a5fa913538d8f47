//! `keyrite rehearse`: a rehearsal on throwaway SoftHSM2 tokens, in the terminal UI or in batch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use keyrite::ceremony::engine::{BatchConfirmer, Ceremony};
use keyrite::ceremony::rehearsal;
use zeroize::Zeroizing;

use crate::tui::run_tui;

/// Where and how a rehearsal runs.
#[derive(Args)]
pub(crate) struct RehearseArgs {
    /// Run the whole lifecycle without a terminal, confirming each step as the script asks.
    #[arg(long, requires = "out")]
    batch: bool,
    /// The rehearsal's directory (new, or one a killed rehearsal left, to resume it);
    /// without it, a fresh temporary directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write the ceremony's records to this medium (a device path, LABEL=… or UUID=…),
    /// mounted at DIR/out while the rehearsal runs, as a ceremony's output medium is.
    #[arg(long, value_name = "DEVICE")]
    output_device: Option<String>,
}

/// Prepares the throwaway tokens and runs the rehearsal.
pub(crate) fn run(args: RehearseArgs) -> Result<ExitCode, keyrite::Error> {
    let out = match args.out {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("keyrite-rehearsal-")
            .tempdir()
            .map_err(|e| keyrite::Error::Usage(format!("cannot make a temporary directory: {e}")))?
            .keep(),
    };
    let script = rehearsal::LIFECYCLE_SCRIPT;
    let pins = if args.batch {
        rehearsal::PinEntry::FromFile
    } else {
        rehearsal::PinEntry::Typed
    };
    let setup = rehearsal::prepare(&out, script, pins, args.output_device.as_deref())?;
    // SAFETY: still single-threaded; the PKCS#11 module reads these when it loads.
    unsafe {
        std::env::set_var("SOFTHSM2_CONF", &setup.softhsm_conf);
        std::env::set_var("KEYRITE_REHEARSAL", "1");
    }
    let mut ceremony = Ceremony::open(&setup.script, &setup.profile)?;
    if !args.batch {
        let pin =
            Zeroizing::new(std::fs::read_to_string(&setup.pin_file).map_err(|e| {
                keyrite::Error::Usage(format!("{}: {e}", setup.pin_file.display()))
            })?);
        let opening = Zeroizing::new(format!(
            "A rehearsal on throwaway SoftHSM2 tokens. Their PIN is {}: type it whenever a step asks for a token PIN, as an officer would at a real ceremony.",
            pin.trim()
        ));
        let site_side =
            |done: &keyrite::ceremony::engine::Finished| rehearsal::site_round_trip(&out, done);
        let finished = run_tui(ceremony, Some(&opening), Some(&site_side))?;
        let manifest = rehearsal::write_manifest(&out, &finished)?;
        println!(
            "Rehearsal records are in {}; the manifest is {}.",
            out.display(),
            manifest.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if ceremony.is_resumed() {
        println!("Resuming the rehearsal in {}.", out.display());
    }
    println!(
        "Script {} SHA-256 {}\n{}",
        ceremony.script.name,
        ceremony.script_hash,
        ceremony.script_hash.words_block()
    );
    let finished = ceremony.run(&mut BatchConfirmer)?;
    for line in rehearsal::site_round_trip(&out, &finished)? {
        println!("{line}");
    }
    let manifest = rehearsal::write_manifest(&out, &finished)?;
    println!(
        "Rehearsal finished. Transcript {} (signature {}), summary {}, manifest {}.",
        finished.transcript.display(),
        finished.signature.display(),
        finished.summary.display(),
        manifest.display()
    );
    Ok(ExitCode::SUCCESS)
}
