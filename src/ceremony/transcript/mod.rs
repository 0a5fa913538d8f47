//! The ceremony transcript: JSON lines, each carrying the SHA-256 of the line before it, signed
//! at the end by the root key with a detached CMS signature (`<transcript>.p7s`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod summary;
mod verify;

pub use summary::summary;
pub use verify::{Verified, verify};

use super::CeremonyError;
use super::script::Action;
use crate::keys::sha256;
use crate::keys::token::{Anchored, Token};

/// The largest transcript read back.
const MAX_TRANSCRIPT: u64 = 16 * 1024 * 1024;

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
        /// What the root would sign, as shown to the roles before they confirmed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        shown: Vec<String>,
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

/// The transcript file, with what it holds so far. Its head is kept on the root token after
/// every entry, so that a resumed ceremony believes only the transcript it wrote.
pub struct Transcript {
    path: PathBuf,
    entries: Vec<Entry>,
    last_hash: String,
    /// A last line cut short by an interruption, set aside once the token is attached.
    torn: Option<String>,
    keeper: Option<HeadKeeper>,
}

/// A transcript's head: how many entries it has and the SHA-256 of its last line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Entries.
    pub entries: u64,
    /// SHA-256 (hex) of the last line.
    pub last: String,
}

/// The root token, logged in, and the record on it that holds the transcript's head.
struct HeadKeeper {
    token: Token,
    record: Option<Anchored<Head>>,
}

fn record_name(ceremony_id: &str) -> String {
    format!("transcript-{ceremony_id}")
}

/// The record of the ceremony a root token has under way: one at a time, from its start entry
/// until its transcript is signed, so that a transcript removed from the medium cannot make
/// way for a fresh start that forgets what was done.
const OPEN_CEREMONY: &str = "ceremony-open";

/// A ceremony under way, as the root token records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCeremony {
    /// The ceremony's id (its start entry's).
    pub ceremony_id: String,
    /// The script's name.
    pub ceremony: String,
    /// The script's SHA-256.
    pub script_sha256: String,
}

impl OpenCeremony {
    /// The ceremony `token` has under way, if any. Needs a login.
    pub fn read(token: &Token) -> Result<Option<Self>, CeremonyError> {
        token
            .read_record(OPEN_CEREMONY)
            .map_err(crate::Error::from)?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|_| {
                    CeremonyError::Transcript(
                        "the token's record of the open ceremony is malformed".into(),
                    )
                })
            })
            .transpose()
    }

    /// Forgets the ceremony `token` has under way and the head it kept of its transcript: the
    /// officers abandon it. Returns what was abandoned.
    pub fn abandon(token: &Token) -> Result<Option<(Self, Option<Head>)>, CeremonyError> {
        let Some(open) = Self::read(token)? else {
            return Ok(None);
        };
        let name = record_name(&open.ceremony_id);
        let head = Anchored::<Head>::read(token, &name)
            .map_err(crate::Error::from)?
            .map(|r| r.current);
        token.delete_record(&name).map_err(crate::Error::from)?;
        token
            .delete_record(OPEN_CEREMONY)
            .map_err(crate::Error::from)?;
        Ok(Some((open, head)))
    }

    /// The line the officers read: id, script and where its transcript stood.
    pub fn describe(&self, head: Option<&Head>) -> String {
        format!(
            "ceremony '{}' ({}), script SHA-256 {}{}",
            crate::pki::name::ascii_escaped(&self.ceremony),
            self.ceremony_id,
            self.script_sha256,
            head.map(|h| format!(
                ", its transcript at {} entries, the last beginning {}",
                h.entries,
                head_words(&h.last)
            ))
            .unwrap_or_default()
        )
    }
}

/// The first words of a head's SHA-256, for the paper log.
pub fn head_words(last: &str) -> String {
    crate::fingerprint::Fingerprint::parse(last)
        .map(|f| f.short_words())
        .unwrap_or_else(|_| "(none)".into())
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
    /// Reads an existing transcript (chain-checked) or starts an empty one. Nothing in it is
    /// believed, and nothing is written, until [`Transcript::attach`] has checked it against
    /// the root token.
    pub fn open(path: &Path) -> Result<Self, CeremonyError> {
        let text = match crate::sys::input::read_if_present(
            path,
            MAX_TRANSCRIPT,
            crate::sys::input::Links::Refuse,
        ) {
            Ok(Some(bytes)) => String::from_utf8(bytes).map_err(|_| {
                CeremonyError::Transcript(format!(
                    "{} is not UTF-8 text: it was edited",
                    path.display()
                ))
            })?,
            Ok(None) => String::new(),
            Err(e) => return Err(CeremonyError::Transcript(e.to_string())),
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
        Ok(Self {
            path: path.to_owned(),
            entries,
            last_hash,
            torn,
            keeper: None,
        })
    }

    /// Keeps the head on `token` (the root token, logged in) from now on. A transcript with
    /// entries must be the one whose head the token records; anything else (edited, cut
    /// short, lengthened, planted) is refused with what differs, before anything is written.
    pub fn attach(&mut self, token: Token) -> Result<(), CeremonyError> {
        let record = self.check_head(&token)?;
        self.keeper = Some(HeadKeeper { token, record });
        if let Some(tail) = self.torn.take() {
            let path = self.path.clone();
            let io =
                |e: std::io::Error| CeremonyError::Transcript(format!("{}: {e}", path.display()));
            let aside = path.with_extension(format!("torn-{}", self.entries.len()));
            let (dir, name) = (
                aside.parent().unwrap_or(Path::new(".")),
                aside.file_name().unwrap_or_default().to_string_lossy(),
            );
            crate::sys::output::write_new_files(
                dir,
                &[(&name, tail.as_bytes(), crate::sys::output::PRIVATE)],
            )
            .map_err(|e| CeremonyError::Transcript(e.to_string()))?;
            let file = fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&path)
                .map_err(io)?;
            let len = file.metadata().map_err(io)?.len();
            file.set_len(len.saturating_sub(tail.len() as u64))
                .map_err(io)?;
            file.sync_all().map_err(io)?;
            self.append(Event::Exception {
                step: None,
                text: format!(
                    "the last entry was cut short by an interruption; its {} bytes (SHA-256 {}) were moved to {}",
                    tail.len(),
                    hex::encode(sha256(tail.as_bytes())),
                    aside.display()
                ),
            })?;
        }
        Ok(())
    }

    /// The head on disk, checked against the record `token` keeps of this ceremony.
    fn check_head(&self, token: &Token) -> Result<Option<Anchored<Head>>, CeremonyError> {
        let Some(Entry {
            event: Event::Start { ceremony_id, .. },
            ..
        }) = self.entries.first()
        else {
            return Ok(None);
        };
        let name = record_name(ceremony_id);
        let finished = matches!(
            self.entries.last(),
            Some(Entry {
                event: Event::End { .. },
                ..
            })
        );
        let mut record = Anchored::<Head>::read(token, &name)
            .map_err(crate::Error::from)?
            .ok_or_else(|| {
                if finished && signature_path(&self.path).exists() {
                    return CeremonyError::Transcript(format!(
                        "{} is a finished ceremony: its transcript is signed and root token '{}' \
                         no longer keeps it. It is over; a new ceremony starts on a fresh output \
                         medium",
                        self.path.display(),
                        token.label()
                    ));
                }
                CeremonyError::Transcript(format!(
                    "{} is ceremony {ceremony_id}, which root token '{}' has no record of: this \
                     station did not write it, or it ran on another token. Nothing was done; \
                     resume only a transcript from this token's ceremonies",
                    self.path.display(),
                    token.label()
                ))
            })?;
        let disk = Head {
            entries: self.entries.len() as u64,
            last: self.last_hash.clone(),
        };
        let as_read = record.clone();
        if !record.matches(&disk) {
            let kept = &record.current;
            let how = if disk.entries > kept.entries {
                match self.entries.get(kept.entries as usize) {
                    Some(next) if next.prev == kept.last => format!(
                        "entries {} to {} were added outside the ceremony",
                        kept.entries,
                        disk.entries - 1
                    ),
                    _ => format!("an entry before entry {} was changed", kept.entries),
                }
            } else if disk.entries < kept.entries {
                format!(
                    "{} entries are missing or were replaced",
                    kept.entries - disk.entries
                )
            } else {
                "an entry was changed".to_owned()
            };
            return Err(CeremonyError::Transcript(format!(
                "{} is not the transcript this ceremony wrote: root token '{}' records {} \
                 entries, the last beginning {}; the file has {}, the last beginning {}: {how}. \
                 Nothing was done: restore the transcript from the paper log and the medium's \
                 copy, or report the medium",
                self.path.display(),
                token.label(),
                kept.entries,
                head_words(&kept.last),
                disk.entries,
                head_words(&disk.last),
            )));
        }
        if record != as_read {
            // A pending state the file turned out to hold was promoted: record it.
            record.write(token, &name).map_err(crate::Error::from)?;
        }
        Ok(Some(record))
    }

    /// Once the transcript is signed: the token forgets its head and that the ceremony is under
    /// way, so the transcript can never be resumed (or replayed) again.
    pub fn close(&mut self) -> Result<(), CeremonyError> {
        let (
            Some(keeper),
            Some(Entry {
                event: Event::Start { ceremony_id, .. },
                ..
            }),
        ) = (&self.keeper, self.entries.first())
        else {
            return Ok(());
        };
        let token = &keeper.token;
        token
            .delete_record(&record_name(ceremony_id))
            .map_err(crate::Error::from)?;
        if OpenCeremony::read(token)?.is_some_and(|o| o.ceremony_id == *ceremony_id) {
            token
                .delete_record(OPEN_CEREMONY)
                .map_err(crate::Error::from)?;
        }
        Ok(())
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

    /// Appends an entry: the token records the head it is about to have, the line is
    /// written and synced, then the token records it as the head.
    pub fn append(&mut self, event: Event) -> Result<(), CeremonyError> {
        let ceremony_id = match (&event, self.entries.first()) {
            (
                _,
                Some(Entry {
                    event: Event::Start { ceremony_id, .. },
                    ..
                }),
            )
            | (Event::Start { ceremony_id, .. }, None) => ceremony_id.clone(),
            _ => {
                return Err(CeremonyError::Transcript(
                    "a transcript begins with its start".into(),
                ));
            }
        };
        let entry = Entry {
            seq: self.entries.len() as u64,
            time: now(),
            prev: self.last_hash.clone(),
            event,
        };
        let line =
            serde_json::to_string(&entry).map_err(|e| CeremonyError::Transcript(e.to_string()))?;
        let next = Head {
            entries: entry.seq + 1,
            last: hex::encode(sha256(line.as_bytes())),
        };
        let name = record_name(&ceremony_id);
        let keeper = self.keeper.as_mut().ok_or_else(|| {
            CeremonyError::Transcript("the transcript is written only with the root token".into())
        })?;
        let token = &keeper.token;
        if let Event::Start {
            ceremony,
            script_sha256,
            ..
        } = &entry.event
        {
            if let Some(open) = OpenCeremony::read(token)? {
                let head = Anchored::<Head>::read(token, &record_name(&open.ceremony_id))
                    .map_err(crate::Error::from)?;
                return Err(CeremonyError::Transcript(format!(
                    "root token '{}' has another ceremony under way: {}. Nothing was started: \
                     resume it with its transcript on the output medium, or, if the officers \
                     decide to abandon it, run `keyrite transcript abandon --profile PROFILE` \
                     and write that in the paper log",
                    token.label(),
                    open.describe(head.as_ref().map(|r| &r.current))
                )));
            }
            let open = OpenCeremony {
                ceremony_id: ceremony_id.clone(),
                ceremony: ceremony.clone(),
                script_sha256: script_sha256.clone(),
            };
            let bytes =
                serde_json::to_vec(&open).map_err(|e| CeremonyError::Transcript(e.to_string()))?;
            token
                .write_record(OPEN_CEREMONY, &bytes)
                .map_err(crate::Error::from)?;
        }
        let record = keeper.record.get_or_insert_with(|| Anchored {
            current: Head {
                entries: 0,
                last: String::new(),
            },
            pending: None,
        });
        record
            .begin(token, &name, next.clone())
            .map_err(crate::Error::from)?;
        let io =
            |e: std::io::Error| CeremonyError::Transcript(format!("{}: {e}", self.path.display()));
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        record.commit(token, &name).map_err(crate::Error::from)?;
        self.last_hash = next.last;
        self.entries.push(entry);
        Ok(())
    }
}
