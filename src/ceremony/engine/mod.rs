//! Runs a script step by step, recording every step in the transcript; resumes an interrupted
//! ceremony at its first unfinished step after checking what the finished ones wrote.

use std::path::{Path, PathBuf};

use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};

mod finish;
mod resume;

use super::CeremonyError;
use super::actions::{self, Context, StepOutcome};
use super::script::{Action, Profile, Script, Step, load_profile, load_script};
use super::transcript::{Artefact, Event, OpenCeremony, Transcript};
use crate::fingerprint::Fingerprint;
use crate::keys::token::Token;

/// The transcript's file name in the output directory.
pub const TRANSCRIPT: &str = "transcript.jsonl";
/// The printable summary's file name.
pub const SUMMARY: &str = "summary.md";

/// Whoever confirms: the TUI asks the people present; a batch rehearsal confirms itself.
pub trait Confirmer {
    /// Shows the script's SHA-256 for the witnesses; returns the roles that confirmed it, or
    /// `None` when the administrator rejects it.
    fn confirm_script(&mut self, script: &Script, hash: &Fingerprint) -> Option<Vec<String>>;
    /// Before step `n` runs: the roles that confirm it, or an exception text to stop with.
    /// `shown` is what the root will sign, a line each, for the people confirming to read
    /// (empty when the step has the root sign nothing made from its inputs).
    fn confirm_step(
        &mut self,
        n: usize,
        step: &Step,
        shown: &[String],
    ) -> Result<Vec<String>, String>;
    /// After step `n` ran.
    fn step_done(&mut self, n: usize, step: &Step, outcome: &StepOutcome);
    /// A note for the people present (resumption, verification of earlier steps).
    fn notice(&mut self, text: &str);
    /// Whether this confirmer may only run rehearsals (it confirms without people).
    fn rehearsal_only(&self) -> bool {
        false
    }
}

/// Confirms every step with every role it names: for `rehearse --batch` only.
pub struct BatchConfirmer;

impl Confirmer for BatchConfirmer {
    fn confirm_script(&mut self, script: &Script, _: &Fingerprint) -> Option<Vec<String>> {
        Some(script.roles.keys().cloned().collect())
    }
    fn rehearsal_only(&self) -> bool {
        true
    }
    fn confirm_step(
        &mut self,
        n: usize,
        step: &Step,
        shown: &[String],
    ) -> Result<Vec<String>, String> {
        if !shown.is_empty() {
            println!("step {n}: {} — the root signs:", step.title);
            for line in shown {
                println!("  {line}");
            }
        }
        Ok(step.confirm.clone())
    }
    fn step_done(&mut self, n: usize, step: &Step, outcome: &StepOutcome) {
        println!("step {n}: {} — {}", step.title, outcome.summary);
    }
    fn notice(&mut self, text: &str) {
        println!("{text}");
    }
}

/// The profile's root token, logged in: it keeps the transcript's head.
fn root_token(profile: &Profile) -> Result<Token, CeremonyError> {
    actions::root_token(profile).map(|(token, _)| token)
}

/// Abandons the ceremony the profile's root token has under way, when the officers decide so
/// (its transcript is lost, or it cannot go on): the token forgets it, and a new ceremony may
/// start. Returns the line for the paper log, or `None` when none was under way.
pub fn abandon_open_ceremony(profile: &Path) -> Result<Option<String>, CeremonyError> {
    let (profile, _) = load_profile(profile)?;
    let token = root_token(&profile)?;
    Ok(OpenCeremony::abandon(&token)?.map(|(open, head)| open.describe(head.as_ref())))
}

/// A ceremony ready to run: its script, profile and transcript.
pub struct Ceremony {
    /// The script.
    pub script: Script,
    /// The script's SHA-256.
    pub script_hash: Fingerprint,
    /// The profile.
    pub profile: Profile,
    profile_hash: Fingerprint,
    transcript: Transcript,
    // Last, so that it is unmounted after the transcript is closed.
    _output_medium: Option<super::media::Mounted>,
}

/// What a finished ceremony left.
pub struct Finished {
    /// The transcript.
    pub transcript: PathBuf,
    /// Its detached signature.
    pub signature: PathBuf,
    /// The Markdown summary.
    pub summary: PathBuf,
    /// Every artefact, in order.
    pub artefacts: Vec<Artefact>,
}

impl Ceremony {
    /// Loads the script and profile and opens (or starts) the transcript in the profile's
    /// output directory. A transcript from another script or profile is refused.
    pub fn open(script: &Path, profile: &Path) -> Result<Self, CeremonyError> {
        let (script, script_hash) = load_script(script)?;
        let (profile, profile_hash) = load_profile(profile)?;
        // Refused before a medium is mounted there: a link would take the mount elsewhere.
        crate::sys::output::preflight(&profile.output, &[])?;
        let output_medium = profile
            .output_device
            .as_deref()
            .map(|device| {
                super::media::mount(device, &profile.output, super::media::Access::ReadWrite)
            })
            .transpose()
            .map_err(CeremonyError::Media)?;
        crate::sys::output::make_dir(&profile.output)?;
        if !profile.rehearsal
            && let Some(n) = script
                .steps
                .iter()
                .position(|s| s.action == super::script::Action::PublisherKey)
        {
            return Err(CeremonyError::Script(format!(
                "step {} makes a stand-in publisher key, which only a rehearsal profile allows",
                n + 1
            )));
        }
        let transcript = Transcript::open(&profile.output.join(TRANSCRIPT))?;
        if let Some(first) = transcript.entries().first() {
            let Event::Start {
                ceremony,
                script_sha256,
                profile_sha256,
                ..
            } = &first.event
            else {
                return Err(CeremonyError::Transcript("entry 0 is not a start".into()));
            };
            if *script_sha256 != script_hash.hex()
                || *profile_sha256 != profile_hash.hex()
                || *ceremony != script.name
            {
                return Err(CeremonyError::Transcript(format!(
                    "{} belongs to another ceremony ('{ceremony}', script {script_sha256}): use a fresh output directory, or the script and profile it was started with",
                    transcript.path().display()
                )));
            }
        }
        Ok(Self {
            script,
            script_hash,
            profile,
            profile_hash,
            transcript,
            _output_medium: output_medium,
        })
    }

    /// Whether this ceremony was started before (and is being resumed).
    pub fn is_resumed(&self) -> bool {
        !self.transcript.entries().is_empty()
    }

    /// The transcript's head for the paper log: its entry count and its last line's SHA-256 as
    /// words, so a resumed ceremony can tell it was not cut short in between.
    fn head_text(&self) -> String {
        let (count, last) = self.transcript.head();
        let words = super::transcript::head_words(last);
        format!("The transcript has {count} entries; its last line's SHA-256 begins: {words}.")
    }

    fn step_dir(&self, n: usize, step: &Step) -> PathBuf {
        self.profile
            .output
            .join(format!("{n:02}-{}", step.action.name()))
    }

    /// Runs every unfinished step, then signs the transcript with the root key.
    pub fn run(&mut self, confirmer: &mut dyn Confirmer) -> Result<Finished, CeremonyError> {
        if confirmer.rehearsal_only() && !self.profile.rehearsal {
            return Err(CeremonyError::Profile(
                "batch confirmation runs rehearsal profiles only: a real ceremony is confirmed by the people present".into(),
            ));
        }
        if self.transcript.entries().is_empty() {
            self.start(confirmer)?;
        } else {
            self.transcript.attach(root_token(&self.profile)?)?;
            confirmer.notice(&format!(
                "Resuming. The transcript is the one whose head the root token recorded. {} \
                 Compare with the paper log of the last stop before going on.",
                self.head_text()
            ));
        }
        if let Some(root) = &self.profile.root_cert {
            let fingerprint =
                actions::check_pinned_root(root, self.profile.root_sha256.as_deref())?;
            confirmer.notice(&format!(
                "The root certificate the profile pins: SHA-256 {}; words: {}. Compare them with \
                 the root ceremony's paper record before any step.",
                fingerprint.hex(),
                fingerprint.words().join(" ")
            ));
        }
        let mut replay = self.replay()?;
        if let Some((n, _)) = &replay.begun {
            self.set_aside_interrupted(*n, confirmer)?;
        }
        for (i, step) in self.script.steps.clone().iter().enumerate() {
            let n = i + 1;
            if replay.done.contains(&n) || replay.ended {
                continue;
            }
            let unfinished_key_id = replay
                .begun
                .as_ref()
                .filter(|(b, _)| *b == n)
                .map(|(_, id)| id.as_deref().and_then(|h| hex::decode(h).ok()));
            let outputs =
                self.run_step(n, step, confirmer, &replay.artefacts, unfinished_key_id)?;
            replay.artefacts.extend(outputs);
        }
        if !replay.ended {
            self.transcript.append(Event::End {
                steps: self.script.steps.len(),
            })?;
        }
        self.sign(&replay.artefacts)
    }

    /// Starts the transcript once roles the script defines have confirmed its hash.
    fn start(&mut self, confirmer: &mut dyn Confirmer) -> Result<(), CeremonyError> {
        let confirmed = confirmer
            .confirm_script(&self.script, &self.script_hash)
            .ok_or(CeremonyError::HashRejected)?;
        if confirmed.is_empty() || confirmed.iter().any(|r| !self.script.roles.contains_key(r)) {
            return Err(CeremonyError::Step(
                "the script's hash must be confirmed by roles the script defines".into(),
            ));
        }
        self.transcript.attach(root_token(&self.profile)?)?;
        let mut id = [0u8; 16];
        UnwrapErr(SysRng).fill_bytes(&mut id);
        self.transcript.append(Event::Start {
            ceremony: self.script.name.clone(),
            ceremony_id: hex::encode(id),
            script_sha256: self.script_hash.hex(),
            profile_sha256: self.profile_hash.hex(),
            rehearsal: self.profile.rehearsal,
            confirmed_by: confirmed,
        })?;
        Ok(())
    }

    /// Runs step `n` once the roles it needs confirm it, recording its begin, and its outcome
    /// or its failure; returns its outputs.
    fn run_step(
        &mut self,
        n: usize,
        step: &Step,
        confirmer: &mut dyn Confirmer,
        artefacts: &[Artefact],
        unfinished_key_id: Option<Option<Vec<u8>>>,
    ) -> Result<Vec<Artefact>, CeremonyError> {
        // The step's directory is made by the step: one already there as a link (or a file)
        // would take its outputs elsewhere, so the step is refused before anything is done.
        let dir = self.step_dir(n, step);
        if let Err(e) = crate::sys::output::preflight(&dir, &[]) {
            let text = format!("step {n} cannot write its outputs: {e}");
            self.transcript.append(Event::Exception {
                step: Some(n),
                text: text.clone(),
            })?;
            return Err(CeremonyError::Step(format!(
                "{text}. Nothing of the step was done. {} Write it in the paper log.",
                self.head_text()
            )));
        }
        let key_id = (step.action == Action::RootCreate).then(|| {
            let mut id = [0u8; 16];
            UnwrapErr(SysRng).fill_bytes(&mut id);
            id.to_vec()
        });
        let ctx = Context {
            script: &self.script,
            profile: &self.profile,
            out: &self.profile.output,
            artefacts: artefacts.to_vec(),
            key_id: key_id.clone(),
            unfinished_key_id,
            input_medium: Default::default(),
        };
        // What the root will sign is worked out, its inputs read once, before anyone confirms.
        let preview = match actions::preview(&ctx, step, &dir) {
            Ok(p) => p,
            Err(e) => {
                self.transcript.append(Event::Exception {
                    step: Some(n),
                    text: format!("the step cannot run: {e}"),
                })?;
                return Err(e);
            }
        };
        let shown = preview.lines.clone();
        let confirmed_by = match confirmer.confirm_step(n, step, &shown) {
            Ok(roles) => roles,
            Err(text) => {
                self.transcript.append(Event::Exception {
                    step: Some(n),
                    text: text.clone(),
                })?;
                return Err(CeremonyError::Step(format!(
                    "stopped at step {n}: {text}. {} Write it in the paper log.",
                    self.head_text()
                )));
            }
        };
        if let Some(missing) = step.confirm.iter().find(|r| !confirmed_by.contains(r)) {
            return Err(CeremonyError::Step(format!(
                "step {n} lacks the confirmation of {missing}"
            )));
        }
        self.transcript.append(Event::Begin {
            step: n,
            action: step.action,
            key_id: key_id.as_deref().map(hex::encode),
        })?;
        crate::sys::crash_points::pause("KEYRITE_CEREMONY_STEP_PAUSE_MS");
        let outcome = match actions::run(&ctx, step, &dir, preview) {
            Ok(o) => o,
            Err(e) => {
                self.transcript.append(Event::Exception {
                    step: Some(n),
                    text: format!("the step failed: {e}"),
                })?;
                return Err(e);
            }
        };
        self.transcript.append(Event::Step {
            step: n,
            title: step.title.clone(),
            action: step.action,
            confirmed_by,
            inputs: outcome.inputs.clone(),
            outputs: outcome.outputs.clone(),
            summary: outcome.summary.clone(),
            shown,
        })?;
        confirmer.step_done(n, step, &outcome);
        crate::sys::crash_points::pause("KEYRITE_CEREMONY_STEP_PAUSE_MS");
        Ok(outcome.outputs)
    }
}
