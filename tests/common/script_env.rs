//! Ceremony scripts run by the engine in-process against SoftHSM2 tokens, every role
//! confirming every step, and what their transcripts record.

use std::fs;
use std::path::{Path, PathBuf};

use keyrite::ceremony::actions::StepOutcome;
use keyrite::ceremony::engine::{Ceremony, Confirmer, TRANSCRIPT};
use keyrite::ceremony::script::{Script, Step};
use keyrite::ceremony::transcript;
use keyrite::fingerprint::Fingerprint;
use serde_json::Value;

use super::in_process::InProcess;
use super::{SOFTHSM_MODULE, SoftHsm, Token};

/// The shipped script `name` in ceremony-scripts/.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ceremony-scripts")
        .join(name)
}

/// Every role present confirms every step, as the people in the room would (a real, not a
/// rehearsal, profile: batch confirmation refuses those).
pub struct EveryoneConfirms;

impl Confirmer for EveryoneConfirms {
    fn confirm_script(&mut self, script: &Script, _: &Fingerprint) -> Option<Vec<String>> {
        Some(script.roles.keys().cloned().collect())
    }
    fn confirm_step(&mut self, _: usize, step: &Step, _: &[String]) -> Result<Vec<String>, String> {
        Ok(step.confirm.clone())
    }
    fn step_done(&mut self, _: usize, _: &Step, _: &StepOutcome) {}
    fn notice(&mut self, _: &str) {}
}

/// SoftHSM2 tokens and a ledger for ceremonies run by the engine in-process.
pub struct Env {
    /// The tokens.
    pub hsm: SoftHsm,
    ledger: PathBuf,
}

impl Env {
    /// SoftHSM2 token `primary`, with tokens `others` beside it (all made before this process
    /// initialises SoftHSM, which reads its token directory then).
    pub fn new(others: &[&str]) -> Env {
        let hsm = SoftHsm::new("primary");
        for label in others {
            hsm.add_token(label);
        }
        Env {
            ledger: hsm.dir().join("ledger"),
            hsm,
        }
    }

    /// This test's hold on the SoftHSM2 module the engine loads in-process, pointed at these
    /// tokens, with no PIN or rehearsal flag from the caller's environment.
    pub fn enter(&self) -> InProcess {
        InProcess::enter(&self.hsm, &["KEYRITE_REHEARSAL", "KEYRITE_PIN"])
    }

    pub fn token(&self, label: &str) -> String {
        format!(
            "pkcs11:token={label};object=keyrite-root?pin-source=file:{}",
            self.hsm.pin_file().display()
        )
    }

    /// Writes a profile for ceremony `name` (input `name/in` holding `input`, output
    /// `name/out`, the root on token `primary`) and returns its path.
    pub fn profile(&self, name: &str, extra: &str, input: &[(&str, &[u8])]) -> PathBuf {
        let dir = self.hsm.dir().join(name);
        fs::create_dir_all(dir.join("in")).unwrap();
        for (file, bytes) in input {
            fs::write(dir.join("in").join(file), bytes).unwrap();
        }
        let profile = dir.join("profile.toml");
        fs::write(
            &profile,
            format!(
                "module = \"{SOFTHSM_MODULE}\"\nroot_token = \"{}\"\ninput = \"{}\"\noutput = \"{}\"\nledger = \"{}\"\n{extra}",
                self.token("primary"),
                dir.join("in").display(),
                dir.join("out").display(),
                self.ledger.display()
            ),
        )
        .unwrap();
        profile
    }

    /// Runs the shipped script `script_file` as ceremony `name` to the end; returns the
    /// output directory.
    pub fn run(
        &self,
        name: &str,
        script_file: &str,
        extra: &str,
        input: &[(&str, &[u8])],
    ) -> PathBuf {
        self.run_script(name, &script(script_file), extra, input)
    }

    /// Runs `script` as ceremony `name` (see [`Env::profile`]) to the end; returns the output
    /// directory.
    pub fn run_script(
        &self,
        name: &str,
        script: &Path,
        extra: &str,
        input: &[(&str, &[u8])],
    ) -> PathBuf {
        let profile = self.profile(name, extra, input);
        let mut ceremony = Ceremony::open(script, &profile).unwrap();
        let finished = ceremony
            .run(&mut EveryoneConfirms)
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        let out = self.hsm.dir().join(name).join("out");
        assert_eq!(finished.transcript, out.join(TRANSCRIPT));
        out
    }
}

/// Verifies the transcript in `out` under `root`.
pub fn verify(out: &Path, root: &Path) {
    transcript::verify(&out.join(TRANSCRIPT), root, &[])
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// The transcript's `step` entries, read as plain JSON lines.
pub fn step_entries(out: &Path) -> Vec<Value> {
    fs::read_to_string(out.join(TRANSCRIPT))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .filter(|e| e["kind"] == "step")
        .collect()
}

/// The `step` entries' `key` arrays, one per step.
pub fn step_field<'a>(steps: &'a [Value], key: &str) -> Vec<&'a [Value]> {
    steps
        .iter()
        .map(|s| {
            s[key]
                .as_array()
                .unwrap_or_else(|| panic!("no {key} in {s:#}"))
                .as_slice()
        })
        .collect()
}
