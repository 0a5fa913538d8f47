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

/// The rehearsal's trust policy, on its input medium: it trusts the subjects the rehearsal
/// issues (a rehearsal marks them `REHEARSAL`), so that the site's side finds publisher A
/// trusted and publisher B revoked, not untrusted.
const POLICY: &str = r#"[[statement]]
name = "example-releases"
registry_scopes = ["registry.example.internal/releases/app"]
level = "strict"
trusted_identities = [
  "x509.subject: C=US, ST=WA, O=Example Publisher, CN=REHEARSAL release-signer-a",
  "x509.subject: C=US, ST=WA, O=Example Publisher, CN=REHEARSAL release-signer-b",
]
"#;

/// The repository the rehearsal's policy covers, and the grant its throwaway site pins.
const SITE_SCOPE: (&str, &str) = (
    "registry.example.internal/releases/app",
    "registry.example.internal/releases/",
);

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
        "site": out(&dir.join("site.md")),
    });
    let text =
        serde_json::to_vec_pretty(&manifest).map_err(|e| CeremonyError::Step(e.to_string()))?;
    crate::sys::output::write_new_files(
        dir,
        &[("manifest.json", &text, crate::sys::output::PUBLIC)],
    )?;
    Ok(dir.join("manifest.json"))
}

/// The site's side of a finished batch rehearsal, on a throwaway host in `DIR/site`: the root
/// pinned by its words, both bundles installed, and each publisher's chain judged as notation
/// would for the policy's repository. Publisher A must be trusted and publisher B revoked;
/// anything else fails the rehearsal. Returns the lines to show, also written to
/// `DIR/site.md`.
pub fn site_round_trip(dir: &Path, finished: &Finished) -> Result<Vec<String>, CeremonyError> {
    use crate::import::site::{Site, SiteOptions};
    use crate::import::{Importer, Incoming, OnExpiry, Pin, now};
    use crate::notation::verdict::Outcome;

    let fail = |e: crate::import::ImportError| {
        CeremonyError::Step(format!("the rehearsal's site side: {e}"))
    };
    let by_role = |role: &str| -> Vec<PathBuf> {
        finished
            .artefacts
            .iter()
            .filter(|a| a.role == role)
            .map(|a| dir.join("out").join(&a.path))
            .collect()
    };
    let one = |role: &str| {
        by_role(role).pop().ok_or_else(|| {
            CeremonyError::Step(format!("the rehearsal made no {role} for the site's side"))
        })
    };
    let host = dir.join("site");
    let site = || {
        Site::resolve(&SiteOptions {
            config: None,
            notation_config: Some(host.join("notation-config")),
            notation_cache: Some(host.join("notation-cache")),
            state: Some(host.join("state")),
        })
        .map_err(fail)
    };
    // Pinned as a site does: by the words read at the ceremony.
    let fingerprint_text = fs::read_to_string(one("root-fingerprint")?)
        .map_err(|e| CeremonyError::Step(format!("root.fingerprint: {e}")))?;
    let words = fingerprint_text
        .lines()
        .find_map(|l| l.strip_prefix("words: "))
        .ok_or_else(|| CeremonyError::Step("root.fingerprint has no words line".into()))?;
    let root = crate::fingerprint::Fingerprint::parse(words).map_err(CeremonyError::Step)?;
    let mut lines = vec![format!(
        "The site's side, on a throwaway host in {}:",
        host.display()
    )];
    Importer::open(site()?)
        .map_err(fail)?
        .pin(Pin {
            lineage: root.hex(),
            root: root.hex(),
            scopes: vec![SITE_SCOPE.1.to_owned()],
            on_expiry: OnExpiry::Enforce,
        })
        .map_err(fail)?;
    lines.push(format!(
        "  pinned the root by its words ({} …) for {}",
        root.short_words(),
        SITE_SCOPE.1
    ));
    for bundle in [one("trust-bundle")?, one("revocation-bundle")?] {
        let site = site()?;
        let incoming = Incoming::read(&bundle, &site).map_err(fail)?;
        let done = Importer::open(site)
            .map_err(fail)?
            .install(incoming, now().map_err(fail)?)
            .map_err(fail)?;
        lines.push(format!(
            "  installed {} bundle version {}",
            done.kind.name(),
            done.version
        ));
    }
    let importer = Importer::open(site()?).map_err(fail)?;
    let chains = by_role("delegate-chain");
    for (name, want) in [
        ("publisher-a", Outcome::Trusted),
        ("publisher-b", Outcome::Revoked),
    ] {
        let chain = chains
            .iter()
            .find(|c| {
                c.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(name))
            })
            .ok_or_else(|| CeremonyError::Step(format!("no chain for {name}")))?;
        let checked = importer
            .check(chain, now().map_err(fail)?, Some(SITE_SCOPE.0))
            .map_err(fail)?;
        let line = format!(
            "  {name} signing for {}: {}: {}",
            SITE_SCOPE.0,
            checked.verdict.outcome.word(),
            checked.verdict.reason
        );
        if checked.verdict.outcome != want {
            return Err(CeremonyError::Step(format!(
                "the rehearsal's site side expected {name} {}, and found{}",
                want.word(),
                line.trim_start_matches(' ').trim_start_matches(name)
            )));
        }
        lines.push(line);
    }
    let text = lines.join("\n") + "\n";
    crate::sys::output::write_new_files(
        dir,
        &[("site.md", text.as_bytes(), crate::sys::output::PUBLIC)],
    )?;
    Ok(lines)
}
