//! Rehearsals: throwaway SoftHSM2 tokens, a profile that points at them, and the lifecycle
//! script run end to end; the same engine and script as a real ceremony.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};
use serde_json::json;

use super::CeremonyError;
use super::engine::Finished;

/// The lifecycle script, as reviewed in `ceremony-scripts/`.
pub const LIFECYCLE_SCRIPT: &str = include_str!("../../ceremony-scripts/rehearsal-lifecycle.toml");
/// The backed-up root creation script, as reviewed in `ceremony-scripts/`.
pub const ROOT_CREATION_SCRIPT: &str =
    include_str!("../../ceremony-scripts/root-creation-backed-up.toml");

/// The rehearsal's trust policy, on its input medium.
const POLICY: &str = r#"[[statement]]
name = "example-releases"
registry_scopes = ["registry.example.internal/releases/app"]
level = "strict"
trusted_identities = ["x509.subject: C=US, ST=WA, O=Example Publisher, CN=release-signer-a"]
"#;

/// Where SoftHSM2's module is on Debian.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A prepared rehearsal directory.
pub struct Setup {
    /// The script (a copy of the reviewed one).
    pub script: PathBuf,
    /// The profile.
    pub profile: PathBuf,
    /// The SoftHSM2 configuration the process must use (`SOFTHSM2_CONF`).
    pub softhsm_conf: PathBuf,
    /// The rehearsal tokens' PIN (mode 0600). A batch rehearsal's profile names it as the
    /// pin-source; an interactive rehearsal's does not, so the officers type the PIN.
    pub pin_file: PathBuf,
}

/// Where a rehearsal's token PIN comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PinEntry {
    /// From the PIN file, named as the token URIs' pin-source (a batch rehearsal).
    FromFile,
    /// Typed by the officers when a step asks, as at a real ceremony.
    Typed,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CeremonyError + '_ {
    move |e| CeremonyError::Profile(format!("{}: {e}", path.display()))
}

fn random_digits(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    UnwrapErr(SysRng).fill_bytes(&mut bytes);
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

/// Prepares `dir` for a rehearsal of `script`, or finds the one a killed rehearsal left there:
/// two SoftHSM2 tokens (PIN in a 0600 file), the input medium with the policy, the script and
/// a profile with `rehearsal = true`, whose output is `output_device` when given.
pub fn prepare(
    dir: &Path,
    script: &str,
    pins: PinEntry,
    output_device: Option<&str>,
) -> Result<Setup, CeremonyError> {
    let setup = Setup {
        script: dir.join("script.toml"),
        profile: dir.join("profile.toml"),
        softhsm_conf: dir.join("softhsm/softhsm2.conf"),
        pin_file: dir.join("softhsm/user.pin"),
    };
    if setup.profile.exists() {
        check_resumable(dir, &setup, script, output_device)?;
        return Ok(setup);
    }
    if dir.exists() && fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(CeremonyError::Profile(format!(
            "{} is not empty and holds no rehearsal: give a new directory",
            dir.display()
        )));
    }
    if !Path::new(SOFTHSM_MODULE).is_file() {
        return Err(CeremonyError::Profile(format!(
            "SoftHSM2 is not installed ({SOFTHSM_MODULE} is missing): install the softhsm2 package (README's first command does)"
        )));
    }
    make_tokens(dir, &setup)?;
    write_profile(dir, &setup, script, pins, output_device)?;
    Ok(setup)
}

/// Refuses to resume a directory that is not a rehearsal of `script`, or that was started on
/// another output device.
fn check_resumable(
    dir: &Path,
    setup: &Setup,
    script: &str,
    output_device: Option<&str>,
) -> Result<(), CeremonyError> {
    // Only a rehearsal this command made is resumed: never a real ceremony's directory.
    let (profile, _) = super::script::load_profile(&setup.profile)?;
    let same_script = fs::read(&setup.script).is_ok_and(|b| b == script.as_bytes());
    if !profile.rehearsal || !same_script {
        return Err(CeremonyError::Profile(format!(
            "{} is not a rehearsal of this script: give a new directory",
            dir.display()
        )));
    }
    if profile.output_device.as_deref() != output_device {
        return Err(CeremonyError::Profile(format!(
            "the rehearsal in {} was started with output device {}: resume it with the same --output-device",
            dir.display(),
            profile.output_device.as_deref().unwrap_or("(none)")
        )));
    }
    Ok(())
}

/// Makes the two throwaway SoftHSM2 tokens, with one random PIN written to the PIN file.
fn make_tokens(dir: &Path, setup: &Setup) -> Result<(), CeremonyError> {
    let tokens = dir.join("softhsm/tokens");
    fs::create_dir_all(&tokens).map_err(io(&tokens))?;
    fs::write(
        &setup.softhsm_conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .map_err(io(&setup.softhsm_conf))?;
    let pin = random_digits(8);
    crate::sys::output::write_new_files(
        &dir.join("softhsm"),
        &[("user.pin", pin.as_bytes(), crate::sys::output::PRIVATE)],
    )?;
    for label in ["rehearsal-root", "rehearsal-backup"] {
        // Throwaway PINs of a rehearsal token; softhsm2-util takes them only as arguments.
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &setup.softhsm_conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                &random_digits(12),
                "--pin",
                &pin,
            ])
            .output()
            .map_err(|e| {
                CeremonyError::Profile(format!("softhsm2-util: {e}: install the softhsm2 package"))
            })?;
        if !out.status.success() {
            return Err(CeremonyError::Profile(format!(
                "softhsm2-util could not make the rehearsal token: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// Writes the rehearsal's input medium (its policy), script and profile.
fn write_profile(
    dir: &Path,
    setup: &Setup,
    script: &str,
    pins: PinEntry,
    output_device: Option<&str>,
) -> Result<(), CeremonyError> {
    let input = dir.join("input");
    crate::sys::output::write_new_files(
        &input,
        &[("policy.toml", POLICY.as_bytes(), crate::sys::output::PUBLIC)],
    )?;
    let uri = |label: &str| match pins {
        PinEntry::FromFile => format!(
            "pkcs11:token={label};object=keyrite-root?pin-source=file:{}",
            percent_encoding::utf8_percent_encode(
                &setup.pin_file.display().to_string(),
                crate::keys::token::uri::QUERY_VALUE
            )
        ),
        PinEntry::Typed => format!("pkcs11:token={label};object=keyrite-root"),
    };
    let mut profile = format!(
        "# A rehearsal: throwaway SoftHSM2 tokens in {dir}\nmodule = \"{SOFTHSM_MODULE}\"\nroot_token = \"{}\"\nbackup_tokens = [\"{}\"]\ninput = \"{}\"\noutput = \"{}\"\nrehearsal = true\n",
        uri("rehearsal-root"),
        uri("rehearsal-backup"),
        input.display(),
        dir.join("out").display(),
        dir = dir.join("softhsm").display(),
    );
    if let Some(device) = output_device {
        // A JSON string is a TOML basic string: the same quotes and escapes.
        let quoted = serde_json::to_string(device)
            .map_err(|e| CeremonyError::Profile(format!("--output-device: {e}")))?;
        profile.push_str(&format!("output_device = {quoted}\n"));
    }
    crate::sys::output::write_new_files(
        dir,
        &[
            ("script.toml", script.as_bytes(), crate::sys::output::PUBLIC),
            (
                "profile.toml",
                profile.as_bytes(),
                crate::sys::output::PUBLIC,
            ),
        ],
    )?;
    Ok(())
}

/// Writes `dir/manifest.json`: every artefact by role.
pub fn write_manifest(dir: &Path, finished: &Finished) -> Result<PathBuf, CeremonyError> {
    let out = |p: &Path| p.display().to_string();
    let by_role = |role: &str| -> Vec<String> {
        finished
            .artefacts
            .iter()
            .filter(|a| a.role == role)
            .map(|a| out(&dir.join("out").join(&a.path)))
            .collect()
    };
    let manifest = json!({
        "rehearsal": true,
        "root_cert": by_role("root-cert"),
        "root_fingerprint": by_role("root-fingerprint"),
        "share_cards": by_role("share-card"),
        "publisher_keys": by_role("publisher-key"),
        "publisher_csrs": by_role("publisher-csr"),
        "delegate_certs": by_role("delegate-cert"),
        "delegate_chains": by_role("delegate-chain"),
        "crls": by_role("crl"),
        "trust_bundles": by_role("trust-bundle"),
        "revocation_bundles": by_role("revocation-bundle"),
        "transcript": out(&finished.transcript),
        "transcript_signature": out(&finished.signature),
        "summary": out(&finished.summary),
    });
    let text =
        serde_json::to_vec_pretty(&manifest).map_err(|e| CeremonyError::Step(e.to_string()))?;
    crate::sys::output::write_new_files(
        dir,
        &[("manifest.json", &text, crate::sys::output::PUBLIC)],
    )?;
    Ok(dir.join("manifest.json"))
}
