//! The ceremony transcript: JSON lines, each carrying the SHA-256 of the line before it, signed
//! at the end by the root key with a detached CMS signature (`<transcript>.p7s`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod summary;
mod verify;

pub use summary::summary;
pub use verify::{Verified, verify};

use super::CeremonyError;
use super::script::Action;
use crate::keys::sha256;

/// An artefact a step read or wrote: its role, its path under the output directory, its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artefact {
    /// What it is (`root-cert`, `share-card`, `delegate-cert`, …).
    pub role: String,
    /// Its path, relative to the ceremony's output directory.
    pub path: String,
    /// SHA-256, hex.
    pub sha256: String,
}

/// What an entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// The ceremony began (or was resumed: a second start is never written).
    Start {
        /// The script's name.
        ceremony: String,
        /// A random id that ties every entry and artefact to this ceremony.
        ceremony_id: String,
        /// SHA-256 of the script, as the witnesses confirmed it.
        script_sha256: String,
        /// SHA-256 of the profile.
        profile_sha256: String,
        /// Whether this is a rehearsal.
        rehearsal: bool,
        /// The roles that confirmed the script's hash.
        confirmed_by: Vec<String>,
    },
    /// A step started: if no `step` entry follows, it was interrupted.
    Begin {
        /// 1-based step number.
        step: usize,
        /// Its action.
        action: Action,
        /// For a root creation: the CKA_ID (hex) its key gets, recorded before the key is
        /// made, so that a resumed ceremony removes only what this attempt left.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
    },
    /// A step finished.
    Step {
        /// 1-based step number.
        step: usize,
        /// Its title.
        title: String,
        /// Its action.
        action: Action,
        /// The roles that confirmed it.
        confirmed_by: Vec<String>,
        /// What it read.
        inputs: Vec<Artefact>,
        /// What it wrote.
        outputs: Vec<Artefact>,
        /// What happened, in a line.
        summary: String,
    },
    /// A deviation from the script, in the administrator's words.
    Exception {
        /// The step it concerns.
        step: Option<usize>,
        /// What happened.
        text: String,
    },
    /// Every step is done; the signature follows.
    End {
        /// How many steps ran.
        steps: usize,
    },
}

/// One line of the transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 0-based position.
    pub seq: u64,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// SHA-256 of the previous line (hex); empty for the first.
    pub prev: String,
    /// What it records.
    #[serde(flatten)]
    pub event: Event,
}

/// The transcript file, with what it holds so far.
pub struct Transcript {
    path: PathBuf,
    entries: Vec<Entry>,
    last_hash: String,
}

/// The signature file beside a transcript.
pub fn signature_path(transcript: &Path) -> PathBuf {
    let mut name = transcript.as_os_str().to_owned();
    name.push(".p7s");
    PathBuf::from(name)
}

fn now() -> String {
    crate::sys::clock::now()
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Whether `path` is relative and stays inside the directory it is joined to.
fn plain_relative(path: &str) -> bool {
    let p = Path::new(path);
    !p.as_os_str().is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Parses and chain-checks transcript text; names the first entry that breaks the chain.
pub fn parse(text: &str) -> Result<(Vec<Entry>, String), CeremonyError> {
    let bad = |m: String| CeremonyError::Transcript(m);
    let mut entries = Vec::new();
    let mut prev = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(bad(
            "the last entry is cut short (no newline): the file was truncated or edited".into(),
        ));
    }
    for (i, line) in text.lines().enumerate() {
        let entry: Entry = serde_json::from_str(line)
            .map_err(|e| bad(format!("entry {i} does not parse ({e}): it was edited")))?;
        if entry.seq != i as u64 {
            return Err(bad(format!(
                "entry {i} carries number {}: entries were reordered, removed or inserted",
                entry.seq
            )));
        }
        if entry.prev != prev {
            return Err(bad(format!(
                "entry {i} does not follow entry {}: one of them was edited, or entries were reordered",
                i.saturating_sub(1)
            )));
        }
        if (i == 0) != matches!(entry.event, Event::Start { .. }) {
            return Err(bad(format!(
                "entry {i}: a transcript has one start, as its entry 0"
            )));
        }
        // Outputs live in the output directory; inputs may come from the input medium.
        if let Event::Step { outputs, .. } = &entry.event
            && let Some(a) = outputs.iter().find(|a| !plain_relative(&a.path))
        {
            return Err(bad(format!(
                "entry {i} records {}, which is not a path inside the output directory",
                a.path
            )));
        }
        prev = hex::encode(sha256(line.as_bytes()));
        entries.push(entry);
    }
    Ok((entries, prev))
}

impl Transcript {
    /// Opens an existing transcript (chain-checked) or starts an empty one.
    pub fn open(path: &Path) -> Result<Self, CeremonyError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(CeremonyError::Transcript(format!(
                    "{}: {e}",
                    path.display()
                )));
            }
        };
        // A power loss during an append leaves a last line without its newline: it is moved
        // aside (never silently dropped) and the interruption is recorded.
        let (text, torn) = match text.rfind('\n') {
            _ if text.is_empty() || text.ends_with('\n') => (text, None),
            Some(end) => (text[..=end].to_owned(), Some(text[end + 1..].to_owned())),
            None => (String::new(), Some(text)),
        };
        let (entries, last_hash) = parse(&text)
            .map_err(|e| CeremonyError::Transcript(format!("{}: {e}", path.display())))?;
        let mut transcript = Self {
            path: path.to_owned(),
            entries,
            last_hash,
        };
        if let Some(tail) = torn {
            let io =
                |e: std::io::Error| CeremonyError::Transcript(format!("{}: {e}", path.display()));
            let aside = path.with_extension(format!("torn-{}", transcript.entries.len()));
            fs::write(&aside, tail.as_bytes()).map_err(io)?;
            fs::write(path, text.as_bytes()).map_err(io)?;
            transcript.append(Event::Exception {
                step: None,
                text: format!(
                    "the last entry was cut short by an interruption; its {} bytes (SHA-256 {}) were moved to {}",
                    tail.len(),
                    hex::encode(sha256(tail.as_bytes())),
                    aside.display()
                ),
            })?;
        }
        Ok(transcript)
    }

    /// How many entries there are and the SHA-256 of the last line.
    pub fn head(&self) -> (usize, &str) {
        (self.entries.len(), &self.last_hash)
    }

    /// The entries so far.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry and syncs it to disk before returning.
    pub fn append(&mut self, event: Event) -> Result<(), CeremonyError> {
        let entry = Entry {
            seq: self.entries.len() as u64,
            time: now(),
            prev: self.last_hash.clone(),
            event,
        };
        let line =
            serde_json::to_string(&entry).map_err(|e| CeremonyError::Transcript(e.to_string()))?;
        let io =
            |e: std::io::Error| CeremonyError::Transcript(format!("{}: {e}", self.path.display()));
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        self.last_hash = hex::encode(sha256(line.as_bytes()));
        self.entries.push(entry);
        Ok(())
    }
}
