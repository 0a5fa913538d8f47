//! Shares presented for an audit or a recovery: each judged alone and as a set, and combined
//! only when every one is good and the threshold is reached.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::card;
use super::record::ShareRecord;
use super::split::combine;
use super::text::{self, Payload};
use super::{RootIdentity, ShareError, Threshold};
use crate::keys::KeySigner;
use crate::keys::seal::{self, Openers};

/// A share as presented for verification or recovery.
pub struct Presented {
    /// Where it came from (a file name).
    pub source: String,
    /// The record, or what is wrong with it.
    pub record: Result<ShareRecord, String>,
}

/// Reads and checks one presented share file: card, typed text or decoded QR text; sealed
/// ones are opened with `openers` or a passphrase.
pub fn read_presented(path: &Path, openers: &Openers, root: &RootIdentity<'_>) -> Presented {
    let source = path.display().to_string();
    let record = (|| -> Result<ShareRecord, String> {
        let text = card::read_share_text(path).map_err(|e| e.to_string())?;
        let der = match text::parse(&text, &source).map_err(|e| e.to_string())? {
            Payload::Plain(der) => der,
            Payload::Sealed(ct) => seal::open(&ct, openers, &source).map_err(|e| e.to_string())?,
        };
        let record = ShareRecord::from_der(&der).map_err(|e| format!("{source}: {e}"))?;
        record
            .verify(root.key, &root.key_sha256)
            .map_err(|e| format!("{source}: {e}"))?;
        Ok(record)
    })();
    Presented { source, record }
}

/// What a set of presented shares amounts to, without combining them.
pub struct SetReport {
    /// Per share: source and "OK …" or what is wrong.
    pub lines: Vec<(String, Result<String, String>)>,
    /// The set the good shares belong to.
    pub set_id: Option<String>,
    /// Distinct good indices.
    pub indices: Vec<u8>,
    /// T and N of the set.
    pub threshold: Option<Threshold>,
}

impl SetReport {
    /// Whether every presented share was good.
    pub fn all_good(&self) -> bool {
        self.lines.iter().all(|(_, r)| r.is_ok())
    }

    /// Whether the good shares reach the threshold.
    pub fn reaches_threshold(&self) -> bool {
        self.threshold
            .is_some_and(|t| self.indices.len() >= usize::from(t.t))
    }
}

impl fmt::Display for SetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (source, result) in &self.lines {
            match result {
                Ok(ok) => writeln!(f, "OK    {source}: {ok}")?,
                Err(e) => writeln!(f, "BAD   {e}")?,
            }
        }
        match (&self.set_id, self.threshold) {
            (Some(set), Some(t)) => {
                let shown: Vec<String> = self.indices.iter().map(u8::to_string).collect();
                writeln!(
                    f,
                    "Set {set}: shares {} of {} presented; {} needed: {}",
                    if shown.is_empty() {
                        "none".into()
                    } else {
                        shown.join(", ")
                    },
                    t.n,
                    t.t,
                    if self.reaches_threshold() {
                        "the threshold is reached"
                    } else {
                        "the threshold is NOT reached"
                    }
                )
            }
            _ => writeln!(f, "No good share was presented."),
        }
    }
}

/// Judges presented shares as a set: each alone, then set membership and duplicates. The set
/// is the one the first good share belongs to; shares of any other set are bad.
pub fn judge(presented: Vec<Presented>) -> (SetReport, Vec<ShareRecord>) {
    let mut lines = Vec::new();
    let mut set: Option<([u8; 16], Threshold)> = None;
    let mut by_index: BTreeMap<u8, ShareRecord> = BTreeMap::new();
    for p in presented {
        let record = match p.record {
            Ok(r) => r,
            Err(e) => {
                lines.push((p.source, Err(e)));
                continue;
            }
        };
        let b = &record.body;
        let this = (
            b.set_id,
            Threshold {
                t: b.threshold,
                n: b.count,
            },
        );
        let (set_id, _) = *set.get_or_insert(this);
        if b.set_id != set_id {
            lines.push((
                p.source.clone(),
                Err(format!(
                    "{}: it belongs to another share set ({}) than the first good share ({}): present the cards of one set",
                    p.source,
                    hex::encode(b.set_id),
                    hex::encode(set_id)
                )),
            ));
            continue;
        }
        let summary = format!(
            "share {} of {}, custodian {}",
            b.index, b.count, b.custodian
        );
        if let Some(seen) = by_index.get(&b.index) {
            let verdict = if *seen == record {
                Ok(format!(
                    "{summary} (a duplicate of an index already presented; dropped)"
                ))
            } else {
                Err(format!(
                    "{}: it differs from another share presented for index {}: keep only the custodian's own card",
                    p.source, b.index
                ))
            };
            lines.push((p.source, verdict));
            continue;
        }
        lines.push((p.source, Ok(summary)));
        by_index.insert(b.index, record);
    }
    let report = SetReport {
        lines,
        set_id: set.map(|(id, _)| hex::encode(id)),
        indices: by_index.keys().copied().collect(),
        threshold: set.map(|(_, t)| t),
    };
    (report, by_index.into_values().collect())
}

/// Recovers the root's private scalar from judged shares: refuses if any presented share was
/// bad or the threshold is not reached, and checks the result against the root's key.
pub fn recover(
    report: &SetReport,
    records: &[ShareRecord],
    root: &RootIdentity<'_>,
) -> Result<crate::keys::memory::MemoryKey, ShareError> {
    let bad: Vec<String> = report
        .lines
        .iter()
        .filter_map(|(_, r)| r.as_ref().err().cloned())
        .collect();
    if !bad.is_empty() {
        return Err(ShareError::Bad(bad));
    }
    let (Some(set), Some(threshold)) = (&report.set_id, report.threshold) else {
        return Err(ShareError::Bad(vec!["no share was presented".into()]));
    };
    if !report.reaches_threshold() {
        return Err(ShareError::BelowThreshold {
            set: set.clone(),
            have: report.indices.len(),
            need: threshold.t,
            indices: report
                .indices
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let chosen: Vec<&ShareRecord> = records.iter().collect();
    let scalar = combine(&chosen, threshold.t)?;
    let alg = root.key.algorithm().ok_or(ShareError::WrongKey)?;
    let key = crate::keys::memory::MemoryKey::from_scalar(alg, &scalar)
        .map_err(|_| ShareError::WrongKey)?;
    if key.public_key() != root.key {
        return Err(ShareError::WrongKey);
    }
    Ok(key)
}
