//! Resuming a ceremony: what the transcript says was done, and an interrupted step set aside
//! to run again.

use std::fs;

use super::{Ceremony, Confirmer};
use crate::ceremony::CeremonyError;
use crate::ceremony::script::Action;
use crate::ceremony::transcript::{Artefact, Event};
use crate::keys::sha256;

/// What a transcript says was done before this run.
#[derive(Default)]
pub(super) struct Replay {
    /// Every output recorded so far, oldest first.
    pub(super) artefacts: Vec<Artefact>,
    /// The steps finished.
    pub(super) done: Vec<usize>,
    /// A step begun and neither finished nor failed (interrupted), with its key id.
    pub(super) begun: Option<(usize, Option<String>)>,
    /// The transcript's end was recorded.
    pub(super) ended: bool,
}

impl Ceremony {
    /// What the transcript so far says was done, each recorded output checked on disk.
    pub(super) fn replay(&self) -> Result<Replay, CeremonyError> {
        let mut replay = Replay::default();
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
                    replay.artefacts.extend(outputs.iter().cloned());
                    replay.done.push(*step);
                    replay.begun = None;
                }
                Event::Begin { step, key_id, .. } => replay.begun = Some((*step, key_id.clone())),
                // A step that failed stopped cleanly (a failing step undoes its own work);
                // only a begin with nothing after it was interrupted.
                Event::Exception { step: Some(s), .. }
                    if replay.begun.as_ref().is_some_and(|(b, _)| b == s) =>
                {
                    replay.begun = None;
                }
                Event::End { .. } => replay.ended = true,
                _ => {}
            }
        }
        Ok(replay)
    }

    /// Moves what interrupted step `n` wrote aside and records that it runs again.
    pub(super) fn set_aside_interrupted(
        &mut self,
        n: usize,
        confirmer: &mut dyn Confirmer,
    ) -> Result<(), CeremonyError> {
        let step = self.script.steps.get(n.wrapping_sub(1)).ok_or_else(|| {
            CeremonyError::Transcript(format!(
                "the transcript begins step {n}, which the script does not have"
            ))
        })?;
        let dir = self.step_dir(n, step);
        let aside = dir.with_extension(format!("interrupted-{}", self.transcript.entries().len()));
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
                 left (those under the pending label of the key id its begin entry recorded, \
                 which no certificate names): that \
                 key was never certified, and the cards it may have printed are void",
            );
        }
        confirmer.notice(&text);
        self.transcript.append(Event::Exception {
            step: Some(n),
            text,
        })?;
        Ok(())
    }
}
