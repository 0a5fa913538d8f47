//! Runs a script step by step, recording every step in the transcript; resumes an interrupted
//! ceremony at its first unfinished step after checking what the finished ones wrote.

use std::fs;
use std::path::{Path, PathBuf};

use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};

use super::CeremonyError;
use super::actions::{self, Context, StepOutcome};
use super::script::{Action, Profile, Script, Step, load_profile, load_script};
use super::transcript::{Artefact, Event, Transcript, signature_path, summary};
use crate::fingerprint::Fingerprint;
use crate::keys::sha256;

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
    fn confirm_step(&mut self, n: usize, step: &Step) -> Result<Vec<String>, String>;
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
    fn confirm_step(&mut self, _: usize, step: &Step) -> Result<Vec<String>, String> {
        Ok(step.confirm.clone())
    }
    fn step_done(&mut self, n: usize, step: &Step, outcome: &StepOutcome) {
        println!("step {n}: {} — {}", step.title, outcome.summary);
    }
    fn notice(&mut self, text: &str) {
        println!("{text}");
    }
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
        let output_medium = profile
            .output_device
            .as_deref()
            .map(|device| {
                super::media::mount(device, &profile.output, super::media::Access::ReadWrite)
            })
            .transpose()
            .map_err(CeremonyError::Media)?;
        fs::create_dir_all(&profile.output).map_err(|e| {
            CeremonyError::Profile(format!("output {}: {e}", profile.output.display()))
        })?;
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
        let words = Fingerprint::parse(last)
            .map(|f| f.words()[..8].join(" "))
            .unwrap_or_default();
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
            let confirmed = confirmer
                .confirm_script(&self.script, &self.script_hash)
                .ok_or(CeremonyError::HashRejected)?;
            if confirmed.is_empty() || confirmed.iter().any(|r| !self.script.roles.contains_key(r))
            {
                return Err(CeremonyError::Step(
                    "the script's hash must be confirmed by roles the script defines".into(),
                ));
            }
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
        } else {
            confirmer.notice(&format!(
                "Resuming. {} Compare with the paper log of the last stop before going on: a \
                 transcript cut short since then would otherwise go unnoticed.",
                self.head_text()
            ));
        }
        let mut artefacts: Vec<Artefact> = Vec::new();
        let mut done: Vec<usize> = Vec::new();
        let mut begun: Option<(usize, Option<String>)> = None;
        let mut ended = false;
        for e in self.transcript.entries() {
            match &e.event {
                Event::Step { step, outputs, .. } => {
                    // Share cards leave with their custodians: they are recorded, not re-read.
                    for a in outputs.iter().filter(|a| a.role != "share-card") {
                        let path = self.profile.output.join(&a.path);
                        let have = fs::read(&path).map(|b| hex::encode(sha256(&b))).ok();
                        if have.as_deref() != Some(a.sha256.as_str()) {
                            return Err(CeremonyError::Transcript(format!(
                                "{} is missing or differs from what entry {} (step {step}) recorded: restore it before resuming",
                                path.display(),
                                e.seq
                            )));
                        }
                    }
                    artefacts.extend(outputs.iter().cloned());
                    done.push(*step);
                    begun = None;
                }
                Event::Begin { step, key_id, .. } => begun = Some((*step, key_id.clone())),
                // A step that failed stopped cleanly (a failing step undoes its own work);
                // only a begin with nothing after it was interrupted.
                Event::Exception { step: Some(s), .. }
                    if begun.as_ref().is_some_and(|(b, _)| b == s) =>
                {
                    begun = None;
                }
                Event::End { .. } => ended = true,
                _ => {}
            }
        }
        let unfinished = begun.clone();
        if let Some((n, _)) = begun {
            let step = self.script.steps.get(n.wrapping_sub(1)).ok_or_else(|| {
                CeremonyError::Transcript(format!(
                    "the transcript begins step {n}, which the script does not have"
                ))
            })?;
            let dir = self.step_dir(n, step);
            let aside =
                dir.with_extension(format!("interrupted-{}", self.transcript.entries().len()));
            if dir.exists() {
                fs::rename(&dir, &aside)
                    .map_err(|e| CeremonyError::Step(format!("{}: {e}", dir.display())))?;
            }
            let mut text = format!(
                "step {n} ('{}') was interrupted; what it had written was moved to {}; it is run again",
                step.title,
                aside.display()
            );
            if step.action == Action::RootCreate {
                text.push_str(
                    ", first removing from its tokens the key objects the interrupted attempt \
                     left (those with its label and the key id its begin entry recorded): that \
                     key was never certified, and the cards it may have printed are void",
                );
            }
            confirmer.notice(&text);
            self.transcript.append(Event::Exception {
                step: Some(n),
                text,
            })?;
        }
        for (i, step) in self.script.steps.clone().iter().enumerate() {
            let n = i + 1;
            if done.contains(&n) || ended {
                continue;
            }
            let confirmed_by = match confirmer.confirm_step(n, step) {
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
            let key_id = (step.action == Action::RootCreate).then(|| {
                let mut id = [0u8; 16];
                UnwrapErr(SysRng).fill_bytes(&mut id);
                id.to_vec()
            });
            self.transcript.append(Event::Begin {
                step: n,
                action: step.action,
                key_id: key_id.as_deref().map(hex::encode),
            })?;
            crate::sys::crash_points::pause("KEYRITE_CEREMONY_STEP_PAUSE_MS");
            let dir = self.step_dir(n, step);
            let ctx = Context {
                script: &self.script,
                profile: &self.profile,
                out: &self.profile.output,
                artefacts: artefacts.clone(),
                key_id,
                unfinished_key_id: unfinished
                    .as_ref()
                    .filter(|(b, _)| *b == n)
                    .map(|(_, id)| id.as_deref().and_then(|h| hex::decode(h).ok())),
                input_medium: Default::default(),
            };
            let outcome = match actions::run(&ctx, step, &dir) {
                Ok(o) => o,
                Err(e) => {
                    self.transcript.append(Event::Exception {
                        step: Some(n),
                        text: format!("the step failed: {e}"),
                    })?;
                    return Err(e);
                }
            };
            artefacts.extend(outcome.outputs.iter().cloned());
            self.transcript.append(Event::Step {
                step: n,
                title: step.title.clone(),
                action: step.action,
                confirmed_by,
                inputs: outcome.inputs.clone(),
                outputs: outcome.outputs.clone(),
                summary: outcome.summary.clone(),
            })?;
            confirmer.step_done(n, step, &outcome);
            crate::sys::crash_points::pause("KEYRITE_CEREMONY_STEP_PAUSE_MS");
        }
        if !ended {
            self.transcript.append(Event::End {
                steps: self.script.steps.len(),
            })?;
        }
        self.sign(&artefacts)
    }

    fn sign(&self, artefacts: &[Artefact]) -> Result<Finished, CeremonyError> {
        let path = self.transcript.path().to_owned();
        let sig_path = signature_path(&path);
        let summary_path = self.profile.output.join(SUMMARY);
        if sig_path.exists() {
            if !summary_path.exists() {
                let md = summary(self.transcript.entries());
                crate::sys::output::write_new_files(
                    &self.profile.output,
                    &[(SUMMARY, md.as_bytes(), crate::sys::output::PUBLIC)],
                )?;
                return Ok(Finished {
                    transcript: path,
                    signature: sig_path,
                    summary: summary_path,
                    artefacts: artefacts.to_vec(),
                });
            }
            return Err(CeremonyError::Transcript(format!(
                "{} is already signed: the ceremony is over",
                path.display()
            )));
        }
        let ctx = Context {
            script: &self.script,
            profile: &self.profile,
            out: &self.profile.output,
            artefacts: artefacts.to_vec(),
            key_id: None,
            unfinished_key_id: None,
            input_medium: Default::default(),
        };
        let root_path = ctx.root_cert()?;
        let root = crate::pki::read_certificate(&root_path).map_err(crate::Error::from)?;
        let uri: crate::keys::token::Pkcs11Uri = self
            .profile
            .root_token
            .parse()
            .map_err(|e: crate::keys::token::UriError| CeremonyError::Profile(e.to_string()))?;
        let token = crate::keys::token::Token::open(&uri, Some(&self.profile.module))
            .map_err(crate::Error::from)?;
        let signer = crate::ca::delegate::open_root_signer(&token, &uri, &root)?;
        // The root signs only the transcript this engine wrote: the file must hold exactly the
        // entries in memory, ending in the same line.
        let content = fs::read(&path)
            .map_err(|e| CeremonyError::Transcript(format!("{}: {e}", path.display())))?;
        let (on_disk, head) = super::transcript::parse(&String::from_utf8_lossy(&content))?;
        let (count, last) = self.transcript.head();
        if on_disk.len() != count || head != last {
            return Err(CeremonyError::Transcript(format!(
                "{} changed on disk during the ceremony: it is not signed; keep the medium and report it",
                path.display()
            )));
        }
        let time = crate::import::now().map_err(|e| CeremonyError::Transcript(e.to_string()))?;
        let sig = crate::pki::cms::sign_detached(&content, &[(&signer, &root)], time)?;
        let dir = &self.profile.output;
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let md = summary(self.transcript.entries());
        crate::sys::output::write_new_files(
            dir,
            &[
                (&name(&sig_path), &sig, crate::sys::output::PUBLIC),
                (
                    &name(&summary_path),
                    md.as_bytes(),
                    crate::sys::output::PUBLIC,
                ),
            ],
        )?;
        Ok(Finished {
            transcript: path,
            signature: sig_path,
            summary: summary_path,
            artefacts: artefacts.to_vec(),
        })
    }
}
