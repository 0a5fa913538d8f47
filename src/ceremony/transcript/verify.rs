//! Verifying a finished transcript on any machine: the root's signature over the file, the
//! chain of entries, and the artefacts' digests.

use std::fs;
use std::path::{Path, PathBuf};

use x509_cert::Certificate;

use super::{Artefact, Entry, Event, parse, signature_path};
use crate::ceremony::CeremonyError;
use crate::keys::sha256;

/// Checks the transcript tells a whole ceremony: steps 1..N each finished once, in order, each
/// after its begin, and an end entry last that counts them.
fn check_steps(entries: &[Entry]) -> Result<(), CeremonyError> {
    let bad = |m: String| Err(CeremonyError::Transcript(m));
    let mut next = 1;
    let mut open: Option<usize> = None;
    for e in entries {
        match &e.event {
            Event::Begin { step, .. } => open = Some(*step),
            Event::Step { step, .. } => {
                if *step != next || open != Some(*step) {
                    return bad(format!(
                        "entry {} finishes step {step} out of order (step {next} comes next, after its begin)",
                        e.seq
                    ));
                }
                next += 1;
                open = None;
            }
            Event::End { steps } => {
                if e.seq as usize + 1 != entries.len() || *steps != next - 1 {
                    return bad(format!(
                        "entry {} ends the ceremony after {steps} steps, but {} finished or entries follow it",
                        e.seq,
                        next - 1
                    ));
                }
                return Ok(());
            }
            _ => {}
        }
    }
    bad("the transcript has no end entry: the ceremony did not finish".into())
}

/// What `transcript verify` found.
pub struct Verified {
    /// The entries.
    pub entries: Vec<Entry>,
    /// Each artefact checked, with the entry that recorded it.
    pub artefacts: Vec<(PathBuf, u64)>,
}

/// Checks a signed transcript on any machine: the root certificate is a self-signed root,
/// the detached signature is the root's over the file, the chain of entries is whole and
/// ends, and each artefact given has the digest an entry recorded for it.
pub fn verify(
    path: &Path,
    root_cert: &Path,
    artefacts: &[PathBuf],
) -> Result<Verified, CeremonyError> {
    let bad = |m: String| CeremonyError::Transcript(m);
    let text = fs::read(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let (entries, _) = parse(&String::from_utf8_lossy(&text))?;
    check_steps(&entries)?;
    let root: Certificate =
        crate::pki::read_certificate(root_cert).map_err(|e| bad(e.to_string()))?;
    crate::pki::verify::issued_by(&root, &root).map_err(|e| {
        bad(format!(
            "{} is not a self-signed root: {e}",
            root_cert.display()
        ))
    })?;
    let sig_path = signature_path(path);
    let sig = fs::read(&sig_path)
        .map_err(|e| bad(format!("the signature {}: {e}", sig_path.display())))?;
    let signers = crate::pki::cms::open_detached(&sig, &text).map_err(|e| match e {
        // The root's own signature, intact over other content. Every entry but the last is
        // bound by the hash in the entry after it, and those links are whole: what changed
        // since signing is the last entry.
        crate::pki::cms::CmsError::ContentDiffers { signer, .. } if *signer == root => bad(format!(
            "entry {} (the last) was changed after the transcript was signed: the signature no longer covers it",
            entries.last().map_or(0, |e| e.seq)
        )),
        e => bad(format!("the signature does not check out: {e}")),
    })?;
    if !signers.contains(&root) {
        return Err(bad(format!(
            "the transcript is not signed by the root in {}: it belongs to another ceremony or root",
            root_cert.display()
        )));
    }
    let mut checked = Vec::new();
    for artefact in artefacts {
        let bytes = fs::read(artefact).map_err(|e| bad(format!("{}: {e}", artefact.display())))?;
        let digest = hex::encode(sha256(&bytes));
        let name = artefact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let recorded: Vec<(u64, &Artefact)> = entries
            .iter()
            .filter_map(|e| match &e.event {
                Event::Step {
                    outputs, inputs, ..
                } => Some(outputs.iter().chain(inputs).map(move |a| (e.seq, a))),
                _ => None,
            })
            .flatten()
            .filter(|(_, a)| {
                Path::new(&a.path)
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy() == name)
            })
            .collect();
        match recorded.iter().find(|(_, a)| a.sha256 == digest) {
            Some((seq, _)) => checked.push((artefact.clone(), *seq)),
            None => match recorded.first() {
                Some((seq, a)) => {
                    return Err(bad(format!(
                        "{} differs from what entry {seq} recorded for {} (SHA-256 {}, the file has {digest})",
                        artefact.display(),
                        a.path,
                        a.sha256
                    )));
                }
                None => {
                    return Err(bad(format!(
                        "{} is not an artefact of this ceremony",
                        artefact.display()
                    )));
                }
            },
        }
    }
    Ok(Verified {
        entries,
        artefacts: checked,
    })
}
