//! The audit log: one JSON line per request, each naming the SHA-256 of the line before it, so
//! that an entry removed, changed or reordered breaks the chain from there on. An entry is
//! written and fsynced before its signature leaves the service: every signature a client holds
//! is in the log. No payload bytes and no secret are ever written, only digests.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Audit lines longer than this are not entries keyrite-signd wrote.
const MAX_LINE: usize = 64 * 1024;

/// The most bytes of a client's description, a key name, a media type or a reason an entry
/// holds; longer ones are cut, so that no entry is longer than [`MAX_LINE`].
const MAX_FIELD: usize = 4096;

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// A signature was returned.
    Signed,
    /// Nothing was signed; `reason` says why.
    Refused,
}

/// One audit entry, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Entry {
    /// The entry's number, from 1, one more than the line before.
    pub id: u64,
    /// The SHA-256 of the line before, in hex (64 zeros for the first).
    pub prev: String,
    /// When the request was decided, UTC.
    pub time: String,
    /// The client, as its certificate names it: `subject=…; spki-sha256=…`.
    pub client: String,
    /// The key asked for, when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The SHA-256 of the payload, when one was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_sha256: Option<String>,
    /// The digest of the artifact the payload signs for, when it was a notation payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_digest: Option<String>,
    /// That artifact's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_media_type: Option<String>,
    /// Signed or refused.
    pub verdict: Verdict,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the service records of a request; [`AuditLog::append`] numbers and chains it.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// See [`Entry::client`].
    pub client: String,
    /// See [`Entry::key`].
    pub key: Option<String>,
    /// See [`Entry::payload_sha256`].
    pub payload_sha256: Option<String>,
    /// See [`Entry::artifact_digest`].
    pub artifact_digest: Option<String>,
    /// See [`Entry::artifact_media_type`].
    pub artifact_media_type: Option<String>,
    /// `None` when signed, the reason when refused.
    pub refusal: Option<String>,
}

/// Why the log cannot be used or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing the file failed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The log.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The log cannot be written as the one log of this service.
    #[error("audit log {path}: {reason}")]
    Unusable {
        /// The log.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The chain breaks at a line.
    #[error("audit log {path}: line {line}: {reason}")]
    Broken {
        /// The log.
        path: PathBuf,
        /// The first line that does not verify, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// What a verified log holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Entries in the log.
    pub entries: u64,
    /// Of which signed.
    pub signed: u64,
    /// The SHA-256 of the last line (the genesis value for an empty log).
    pub head: String,
    /// The log's length in bytes.
    pub bytes: u64,
}

/// Reads and checks every line of the log at `path`: each a well-formed entry numbered one
/// after the last, naming the SHA-256 of the line before. Stops at the first break.
pub fn verify(path: &Path) -> Result<Summary, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    verify_from(BufReader::new(file), path)
}

fn verify_from(mut reader: impl BufRead, path: &Path) -> Result<Summary, AuditError> {
    let mut summary = Summary {
        entries: 0,
        signed: 0,
        head: GENESIS.to_owned(),
        bytes: 0,
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| AuditError::Io {
                path: path.to_owned(),
                source,
            })?;
        if n == 0 {
            return Ok(summary);
        }
        let number = summary.entries + 1;
        let broken = |reason: String| AuditError::Broken {
            path: path.to_owned(),
            line: number,
            reason,
        };
        let Some(body) = line.strip_suffix(b"\n") else {
            return Err(broken(if line.len() > MAX_LINE {
                format!("longer than {MAX_LINE} bytes")
            } else {
                "the last line is incomplete (no newline): a write was cut short".into()
            }));
        };
        let entry: Entry =
            serde_json::from_slice(body).map_err(|e| broken(format!("not an audit entry: {e}")))?;
        if entry.id != number {
            return Err(broken(format!(
                "entry {} where entry {number} belongs: an entry was removed, added or moved",
                entry.id
            )));
        }
        if entry.prev != summary.head {
            return Err(broken(
                "its prev is not the SHA-256 of the line before: that line was changed, or \
                 lines were removed or reordered"
                    .into(),
            ));
        }
        if (entry.verdict == Verdict::Refused) != entry.reason.is_some() {
            return Err(broken(
                "a refusal without a reason, or a signature with one".into(),
            ));
        }
        summary.entries = number;
        summary.signed += u64::from(entry.verdict == Verdict::Signed);
        summary.head = hex::encode(Sha256::digest(body));
        summary.bytes += n as u64;
    }
}

/// The log, open for appending; one writer per file, which holds an exclusive `flock` on it.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    next_id: u64,
    head: String,
    /// The file's length after the last entry this writer wrote.
    len: u64,
}

impl AuditLog {
    /// Opens the log at `path` (made, mode 0600, when missing) after verifying all of it: a
    /// log that does not verify is not appended to, nor one another writer holds locked.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| AuditError::Unusable {
                path: path.to_owned(),
                reason: format!(
                    "another process holds it locked ({e}): each keyrite-signd needs a log of \
                     its own"
                ),
            },
        )?;
        let summary = verify_from(BufReader::new(&file), path)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            next_id: summary.entries + 1,
            head: summary.head,
            len: summary.bytes,
        })
    }

    /// Refuses to append unless the path still names the file this writer opened and the file
    /// ends where its last entry did: an entry written to a deleted or replaced log, or after
    /// another writer's line (or a torn write of its own), would be one nobody can verify.
    fn check_still_written_here(&self) -> Result<(), AuditError> {
        let unusable = |reason: String| AuditError::Unusable {
            path: self.path.clone(),
            reason: format!(
                "{reason}; no signature is returned until keyrite-signd is restarted on a log \
                 that verifies"
            ),
        };
        let open = self
            .file
            .metadata()
            .map_err(|e| unusable(format!("cannot read the open log's metadata: {e}")))?;
        let named = std::fs::metadata(&self.path)
            .map_err(|e| unusable(format!("the path no longer names the open log ({e})")))?;
        if (open.dev(), open.ino()) != (named.dev(), named.ino()) {
            return Err(unusable(
                "the path names another file than the log this service opened".into(),
            ));
        }
        if open.len() != self.len {
            return Err(unusable(format!(
                "it is {} bytes where this service's last entry left {}: something else wrote \
                 to it, or a write was cut short",
                open.len(),
                self.len
            )));
        }
        Ok(())
    }

    /// Appends `record` as the next entry, written in one write and fsynced; returns its id.
    /// A field longer than [`MAX_FIELD`] bytes is cut there, so every entry verifies.
    pub fn append(&mut self, time: &str, record: Record) -> Result<u64, AuditError> {
        self.check_still_written_here()?;
        let (verdict, reason) = match record.refusal {
            None => (Verdict::Signed, None),
            Some(r) => (Verdict::Refused, Some(clip(r))),
        };
        let entry = Entry {
            id: self.next_id,
            prev: self.head.clone(),
            time: clip(time.to_owned()),
            client: clip(record.client),
            key: record.key.map(clip),
            payload_sha256: record.payload_sha256.map(clip),
            artifact_digest: record.artifact_digest.map(clip),
            artifact_media_type: record.artifact_media_type.map(clip),
            verdict,
            reason,
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| AuditError::Io {
            path: self.path.clone(),
            source: e.into(),
        })?;
        let head = hex::encode(Sha256::digest(&line));
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| AuditError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.head = head;
        self.next_id += 1;
        self.len += line.len() as u64;
        Ok(entry.id)
    }
}

/// `text` cut to at most [`MAX_FIELD`] bytes, at a character boundary, marked as cut.
fn clip(mut text: String) -> String {
    const CUT: &str = "…(cut)";
    if text.len() > MAX_FIELD {
        let mut end = MAX_FIELD - CUT.len();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(CUT);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(refusal: Option<&str>) -> Record {
        Record {
            client: "subject=CN=build; spki-sha256=00".into(),
            key: Some("release".into()),
            payload_sha256: Some("ab".repeat(32)),
            refusal: refusal.map(Into::into),
            ..Record::default()
        }
    }

    fn written(entries: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).expect("open");
        for i in 0..entries {
            let refusal = (i % 2 == 1).then_some("over its rate limit");
            log.append("2026-12-07T12:00:00Z", record(refusal))
                .expect("append");
        }
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn broken_at(path: &Path) -> (u64, String) {
        match verify(path) {
            Err(AuditError::Broken { line, reason, .. }) => (line, reason),
            other => panic!("expected a break, got {other:?}"),
        }
    }

    #[test]
    fn the_documented_entry_is_an_entry() {
        let doc = include_str!("../../../docs/signd-api.md");
        let block = doc
            .split("```json AuditEntry\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("an AuditEntry example in docs/signd-api.md");
        let entry: Entry = serde_json::from_str(block).expect("the documented entry");
        assert_eq!((entry.id, entry.verdict), (1042, Verdict::Signed));
    }

    #[test]
    fn a_log_written_and_reopened_verifies() {
        let (_dir, path) = written(3);
        let mut log = AuditLog::open(&path).expect("reopen");
        assert_eq!(log.append("t", record(None)).expect("append"), 4);
        let summary = verify(&path).expect("verifies");
        assert_eq!((summary.entries, summary.signed), (4, 3));
    }

    #[test]
    fn a_changed_entry_breaks_the_chain_at_the_line_after() {
        let (_dir, path) = written(4);
        let mut l = lines(&path);
        l[1] = l[1].replace("over its rate limit", "nothing to see");
        std::fs::write(&path, l.join("\n") + "\n").expect("write");
        let (line, reason) = broken_at(&path);
        assert_eq!(line, 3, "{reason}");
        assert!(reason.contains("prev is not the SHA-256"), "{reason}");
    }

    #[test]
    fn a_removed_or_reordered_entry_is_found() {
        let (_dir, path) = written(4);
        let l = lines(&path);
        std::fs::write(
            &path,
            [&l[0], &l[2], &l[3]].map(String::as_str).join("\n") + "\n",
        )
        .expect("write");
        let (line, reason) = broken_at(&path);
        assert_eq!(line, 2);
        assert!(reason.contains("entry 3 where entry 2 belongs"), "{reason}");
        std::fs::write(&path, [&l[1], &l[0]].map(String::as_str).join("\n") + "\n").expect("write");
        assert_eq!(broken_at(&path).0, 1);
    }

    #[test]
    fn a_torn_last_line_is_reported_and_the_log_is_not_appended_to() {
        let (_dir, path) = written(2);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(b"{\"id\":3,");
        std::fs::write(&path, &bytes).expect("write");
        let (line, reason) = broken_at(&path);
        assert_eq!(line, 3);
        assert!(reason.contains("incomplete"), "{reason}");
        assert!(AuditLog::open(&path).is_err());
        assert_eq!(
            std::fs::read(&path).expect("read"),
            bytes,
            "nothing appended"
        );
    }

    #[test]
    fn a_refusal_must_carry_its_reason() {
        let (_dir, path) = written(2);
        let l = lines(&path);
        let stripped = l[1].replace(",\"reason\":\"over its rate limit\"", "");
        assert_ne!(stripped, l[1]);
        std::fs::write(&path, format!("{}\n{stripped}\n", l[0])).expect("write");
        let (line, reason) = broken_at(&path);
        assert_eq!(line, 2);
        assert!(reason.contains("without a reason"), "{reason}");
    }

    /// A request naming a key of 100 000 characters (its URL path), or a refusal quoting as
    /// much, would make a line `verify` refuses, and the service would not start again.
    #[test]
    fn an_entry_with_huge_fields_is_cut_and_the_log_still_verifies() {
        let (_dir, path) = written(1);
        let mut log = AuditLog::open(&path).expect("open");
        let huge = "é".repeat(50_000);
        let mut long = record(Some(&huge));
        long.key = Some(huge.clone());
        long.client = huge.clone();
        long.artifact_media_type = Some(huge.clone());
        assert_eq!(log.append("t", long).expect("append"), 2);
        drop(log);
        let summary = verify(&path).expect("a log with a long entry verifies");
        assert_eq!(summary.entries, 2);
        let entry: Entry = serde_json::from_str(&lines(&path)[1]).expect("entry");
        let key = entry.key.expect("key");
        assert!(key.len() <= MAX_FIELD && key.ends_with("(cut)"), "{key}");
        assert!(AuditLog::open(&path).is_ok());
    }

    #[test]
    fn a_second_writer_is_refused() {
        let (_dir, path) = written(1);
        let _first = AuditLog::open(&path).expect("open");
        match AuditLog::open(&path) {
            Err(AuditError::Unusable { reason, .. }) => {
                assert!(reason.contains("a log of its own"), "{reason}")
            }
            other => panic!("a second writer opened the log: {:?}", other.map(|_| ())),
        }
    }

    /// Once the log is deleted, replaced, or written by something else, no entry is
    /// acknowledged: a signature whose entry is in no verifiable log is never returned.
    #[test]
    fn a_deleted_replaced_or_shared_log_is_not_appended_to() {
        type Damage = fn(&Path);
        let cases: [(&str, Damage); 4] = [
            ("no longer names", |p| std::fs::remove_file(p).expect("rm")),
            ("another file", |p| {
                let other = p.with_extension("new");
                std::fs::write(&other, b"").expect("write");
                std::fs::rename(&other, p).expect("rename");
            }),
            ("something else wrote", |p| {
                let mut f = OpenOptions::new().append(true).open(p).expect("open");
                f.write_all(b"{}\n").expect("write");
            }),
            ("something else wrote", |p| {
                OpenOptions::new()
                    .write(true)
                    .open(p)
                    .and_then(|f| f.set_len(0))
                    .expect("truncate")
            }),
        ];
        for (expected, damage) in cases {
            let (_dir, path) = written(2);
            let mut log = AuditLog::open(&path).expect("open");
            log.append("t", record(None)).expect("append");
            damage(&path);
            for _ in 0..2 {
                match log.append("t", record(None)) {
                    Err(AuditError::Unusable { reason, .. }) => {
                        assert!(reason.contains(expected), "{expected}: {reason}")
                    }
                    other => panic!("{expected}: appended: {other:?}"),
                }
            }
        }
    }
}
