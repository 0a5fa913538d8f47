//! Finishing a ceremony: the root's signature over the transcript, and the summary beside it.

use std::fs;
use std::path::Path;

use super::{Ceremony, Finished, SUMMARY};
use crate::ceremony::CeremonyError;
use crate::ceremony::actions::Context;
use crate::ceremony::transcript::{Artefact, signature_path, summary};

impl Ceremony {
    /// Signs the transcript with the root key and writes the summary beside it; a transcript
    /// signed before an interruption (its signature checked under the root) only gets its
    /// missing summary. Then the root token forgets the ceremony: it is over.
    pub(super) fn sign(&mut self, artefacts: &[Artefact]) -> Result<Finished, CeremonyError> {
        let path = self.transcript.path().to_owned();
        let sig_path = signature_path(&path);
        let summary_path = self.profile.output.join(SUMMARY);
        let finished = Finished {
            transcript: path.clone(),
            signature: sig_path.clone(),
            summary: summary_path.clone(),
            artefacts: artefacts.to_vec(),
        };
        if sig_path.exists() {
            let root = self.context(artefacts).root_cert()?;
            crate::ceremony::transcript::verify(&path, &root, &[]).map_err(|e| {
                CeremonyError::Transcript(format!(
                    "{} is there but is not the root's signature of this transcript ({e}): move it \
                     aside and run again, so the root signs it",
                    sig_path.display()
                ))
            })?;
            if !summary_path.exists() {
                let md = summary(self.transcript.entries());
                crate::sys::output::write_new_files(
                    &self.profile.output,
                    &[(SUMMARY, md.as_bytes(), crate::sys::output::PUBLIC)],
                )?;
                self.transcript.close()?;
                return Ok(finished);
            }
            return Err(CeremonyError::Transcript(format!(
                "{} is already signed: the ceremony is over",
                path.display()
            )));
        }
        let sig = self.root_signature(artefacts)?;
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let md = summary(self.transcript.entries());
        crate::sys::output::write_new_files(
            &self.profile.output,
            &[
                (&name(&sig_path), &sig, crate::sys::output::PUBLIC),
                (
                    &name(&summary_path),
                    md.as_bytes(),
                    crate::sys::output::PUBLIC,
                ),
            ],
        )?;
        self.transcript.close()?;
        Ok(finished)
    }

    /// The context the finished steps leave, for finding the root certificate.
    fn context<'a>(&'a self, artefacts: &[Artefact]) -> Context<'a> {
        Context {
            script: &self.script,
            profile: &self.profile,
            out: &self.profile.output,
            artefacts: artefacts.to_vec(),
            key_id: None,
            unfinished_key_id: None,
            input_medium: Default::default(),
        }
    }

    /// The root's detached signature over the transcript file, which must hold exactly the
    /// entries this engine wrote.
    fn root_signature(&self, artefacts: &[Artefact]) -> Result<Vec<u8>, CeremonyError> {
        let path = self.transcript.path();
        let root_path = self.context(artefacts).root_cert()?;
        let root = crate::pki::read_certificate(&root_path).map_err(crate::Error::from)?;
        let (token, uri) = crate::ceremony::actions::root_token(&self.profile)?;
        let signer = crate::ca::issuer::open_root_signer(&token, &uri, &root)?;
        // The root signs only the transcript this engine wrote: the file must hold exactly the
        // entries in memory, ending in the same line.
        let content = fs::read(path)
            .map_err(|e| CeremonyError::Transcript(format!("{}: {e}", path.display())))?;
        let (on_disk, head) =
            crate::ceremony::transcript::parse(&String::from_utf8_lossy(&content))?;
        let (count, last) = self.transcript.head();
        if on_disk.len() != count || head != last {
            return Err(CeremonyError::Transcript(format!(
                "{} changed on disk during the ceremony: it is not signed; keep the medium and report it",
                path.display()
            )));
        }
        let time =
            crate::sys::clock::now().map_err(|e| CeremonyError::Transcript(e.to_string()))?;
        Ok(crate::pki::cms::sign_detached(
            &content,
            &[(&signer, &root)],
            time,
        )?)
    }
}
