//! The Shamir backup of the root key: splitting, authenticated share records, their text and
//! card forms, sealing to custodians, verification without reconstruction, and recovery.
//!
//! `blahaj` does the arithmetic. It authenticates nothing: a tampered or duplicated share
//! silently recovers a wrong secret. So every share is a record signed by the root key
//! ([`record`]), every presented share is verified alone before anything is combined,
//! duplicates are dropped by index, and the recovered key is compared with the root
//! certificate's before it is used.

pub mod card;
pub mod record;
pub mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use blahaj::{Share, Sharks};
use der::asn1::GeneralizedTime;
use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};
use zeroize::Zeroizing;

use self::card::CardFace;
use self::record::{MAX_SHARES, ShareBody, ShareRecord};
use self::text::Payload;
use crate::fingerprint::Fingerprint;
use crate::keys::seal::{self, Openers, SealTo};
use crate::keys::{KeySigner, PublicKey};

/// A T-of-N threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold {
    /// Shares needed.
    pub t: u8,
    /// Shares made.
    pub n: u8,
}

/// A threshold that does not parse or is out of range.
#[derive(Debug, thiserror::Error)]
#[error("bad --shares '{0}': give T-of-N with 2 <= T <= N <= {MAX_SHARES}, e.g. 3-of-5")]
pub struct ThresholdError(pub String);

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ThresholdError(s.to_owned());
        let (t, n) = s.split_once("-of-").ok_or_else(bad)?;
        let (t, n): (u8, u8) = (t.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if 2 <= t && t <= n && n <= MAX_SHARES {
            Ok(Self { t, n })
        } else {
            Err(bad())
        }
    }
}

/// A share custodian and how their card is sealed.
pub struct Custodian {
    /// The name printed on the card and kept in the record.
    pub name: String,
    /// `None` for an unencrypted card.
    pub seal: Option<SealTo>,
}

impl Custodian {
    /// The card's file stem for share `index` of `n`: `share-2-of-5-alice`.
    pub fn card_stem(&self, index: u8, n: u8) -> String {
        let slug: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        format!("share-{index}-of-{n}-{}", slug.trim_matches('-'))
    }
}

/// One custodian's card, ready to write (the images hold the share: zeroized on drop).
pub struct Card {
    /// File stem (`.png` and `.svg` are added).
    pub stem: String,
    /// The PNG.
    pub png: Zeroizing<Vec<u8>>,
    /// The SVG.
    pub svg: Zeroizing<String>,
}

/// The root key this backup belongs to.
pub struct RootIdentity<'a> {
    /// The root's public key.
    pub key: &'a PublicKey,
    /// SHA-256 of its SubjectPublicKeyInfo.
    pub key_sha256: [u8; 32],
}

impl<'a> RootIdentity<'a> {
    /// The identity of `key`.
    pub fn of(key: &'a PublicKey) -> Result<Self, der::Error> {
        use der::Encode;
        Ok(Self {
            key,
            key_sha256: crate::keys::sha256(&key.to_spki()?.to_der()?),
        })
    }
}

/// Why a backup could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// Shares were presented that cannot be used; each is named.
    #[error("{}", .0.join("\n"))]
    Bad(Vec<String>),
    /// Too few distinct good shares.
    #[error(
        "only {have} distinct share(s) of set {set} were presented ({indices}); {need} are needed: bring more custodians' cards"
    )]
    BelowThreshold {
        /// The set.
        set: String,
        /// Distinct indices presented.
        have: usize,
        /// The threshold.
        need: u8,
        /// Which indices.
        indices: String,
    },
    /// The shares combine to a key that is not the root's.
    #[error(
        "the shares combine to a key that is not the root certificate's: nothing was imported; check that these cards belong to this root"
    )]
    WrongKey,
    /// Splitting failed its own check.
    #[error("the backup failed its own check ({0}); nothing was written")]
    SelfCheck(String),
    /// The custodians given do not fit the threshold or each other.
    #[error("{0}")]
    Custodians(String),
    /// The root key could not sign a share record.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// A share could not be sealed or its passphrase read.
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    /// A share card could not be drawn.
    #[error(transparent)]
    Card(#[from] card::CardError),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
}

/// Splits `root`'s private scalar T-of-N, one signed record per custodian, and draws each
/// custodian's card. Before returning it checks every record against the root key and that
/// every T-subset of the shares recovers the scalar.
pub fn split(
    root: &crate::keys::memory::MemoryKey,
    threshold: Threshold,
    custodians: &[Custodian],
    rehearsal: bool,
) -> Result<Vec<Card>, ShareError> {
    if custodians.len() != usize::from(threshold.n) {
        return Err(ShareError::SelfCheck(format!(
            "{} custodians for {} shares",
            custodians.len(),
            threshold.n
        )));
    }
    let identity = RootIdentity::of(root.public_key())?;
    let scalar = root.scalar();
    let mut set_id = [0u8; 16];
    UnwrapErr(SysRng).fill_bytes(&mut set_id);
    let created = GeneralizedTime::from_system_time(std::time::SystemTime::now())?;
    let shares: Vec<Share> = Sharks(threshold.t)
        .dealer_rng(&scalar, &mut UnwrapErr(SysRng))
        .take(usize::from(threshold.n))
        .collect();
    let mut records = Vec::new();
    for (share, custodian) in shares.iter().zip(custodians) {
        let bytes = Zeroizing::new(Vec::from(share));
        let body = ShareBody {
            set_id,
            root_key: identity.key_sha256,
            threshold: threshold.t,
            count: threshold.n,
            index: bytes[0],
            custodian: custodian.name.clone(),
            created,
            share: bytes,
        };
        records.push(ShareRecord::sign(body, root)?);
    }
    self_check(&records, &identity, threshold, &scalar)?;
    records
        .iter()
        .zip(custodians)
        .map(|(record, custodian)| draw_card(record, custodian, &identity, rehearsal))
        .collect()
}

fn self_check(
    records: &[ShareRecord],
    root: &RootIdentity<'_>,
    threshold: Threshold,
    scalar: &[u8],
) -> Result<(), ShareError> {
    for r in records {
        r.verify(root.key, &root.key_sha256)
            .map_err(|e| ShareError::SelfCheck(e.to_string()))?;
        let back = ShareRecord::from_der(
            &r.to_der()
                .map_err(|e| ShareError::SelfCheck(e.to_string()))?,
        )
        .map_err(|e| ShareError::SelfCheck(e.to_string()))?;
        if back != *r {
            return Err(ShareError::SelfCheck("a record does not read back".into()));
        }
    }
    for subset in subsets(records.len(), usize::from(threshold.t)) {
        let chosen: Vec<&ShareRecord> = subset.iter().map(|i| &records[*i]).collect();
        if *combine(&chosen, threshold.t)? != *scalar {
            return Err(ShareError::SelfCheck(format!(
                "shares {subset:?} do not recover the key"
            )));
        }
    }
    Ok(())
}

/// Every k-element subset of 0..n, in order.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(k);
    fn walk(start: usize, n: usize, k: usize, current: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if current.len() == k {
            out.push(current.clone());
            return;
        }
        for i in start..n {
            current.push(i);
            walk(i + 1, n, k, current, out);
            current.pop();
        }
    }
    walk(0, n, k, &mut current, &mut out);
    out
}

fn combine(records: &[&ShareRecord], t: u8) -> Result<Zeroizing<Vec<u8>>, ShareError> {
    let shares: Vec<Share> = records
        .iter()
        .map(|r| Share::try_from(r.body.share.as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|e| ShareError::SelfCheck(e.to_string()))?;
    Sharks(t)
        .recover(&shares)
        .map(Zeroizing::new)
        .map_err(|e| ShareError::SelfCheck(e.to_string()))
}

fn draw_card(
    record: &ShareRecord,
    custodian: &Custodian,
    root: &RootIdentity<'_>,
    rehearsal: bool,
) -> Result<Card, ShareError> {
    let b = &record.body;
    let der = record.to_der()?;
    let (payload, sealing) = match &custodian.seal {
        None => (
            Payload::Plain(der.clone()),
            "NOT ENCRYPTED: whoever reads this card holds this share. Keep it sealed.".to_owned(),
        ),
        Some(to) => (
            Payload::Sealed(Zeroizing::new(seal::seal(&der, to)?)),
            match to {
                SealTo::X25519(r) => format!("Sealed with age to {r}"),
                SealTo::Passphrase(..) => {
                    "Sealed with age to the custodian's passphrase".to_owned()
                }
            },
        ),
    };
    let qr = text::qr_line(&payload);
    let mut header = vec![if rehearsal {
        "keyrite root key share - REHEARSAL, NEVER FOR PRODUCTION".to_owned()
    } else {
        "keyrite root key share".to_owned()
    }];
    header.push(format!("Custodian: {}", b.custodian));
    header.push(format!(
        "Share {} of {} - any {} shares recover the root key",
        b.index, b.count, b.threshold
    ));
    header.push(format!("Set: {}", hex::encode(b.set_id)));
    header.push("Root key (SHA-256 of its public key, as words):".to_owned());
    let words = Fingerprint(root.key_sha256).words();
    header.extend(words.chunks(8).map(|c| format!("  {}", c.join(" "))));
    header.push(format!("Created: {}", b.created.to_date_time()));
    header.push(sealing);
    let face = CardFace {
        header,
        typed: text::typed_lines(&qr),
        qr,
    };
    Ok(Card {
        stem: custodian.card_stem(b.index, b.count),
        png: face.to_png()?,
        svg: face.to_svg()?,
    })
}

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

/// Card file names for `custodians` of an `n`-share set, checked to be distinct.
pub fn card_file_names(custodians: &[Custodian], n: u8) -> Result<Vec<PathBuf>, ShareError> {
    let mut names = Vec::new();
    for (i, c) in custodians.iter().enumerate() {
        let index =
            u8::try_from(i + 1).map_err(|_| ShareError::SelfCheck("too many custodians".into()))?;
        let stem = c.card_stem(index, n);
        names.push(PathBuf::from(format!("{stem}.png")));
        names.push(PathBuf::from(format!("{stem}.svg")));
    }
    Ok(names)
}

/// Reads `NAME[=RECIPIENT]` custodian specs, one per share: no recipient leaves the card
/// unencrypted, an age `age1…` recipient seals it to that key, and `passphrase` asks for a
/// passphrase typed twice.
pub fn parse_custodians(
    values: &[String],
    threshold: Threshold,
) -> Result<Vec<Custodian>, ShareError> {
    if values.len() != usize::from(threshold.n) {
        return Err(ShareError::Custodians(format!(
            "--shares {}-of-{} needs {} --custodian, one per share; {} given",
            threshold.t,
            threshold.n,
            threshold.n,
            values.len()
        )));
    }
    let mut custodians: Vec<Custodian> = Vec::new();
    for value in values {
        let (name, recipient) = match value.split_once('=') {
            Some((n, r)) => (n.trim(), Some(r.trim())),
            None => (value.trim(), None),
        };
        if name.is_empty() {
            return Err(ShareError::Custodians(format!(
                "--custodian '{value}' has no name"
            )));
        }
        if custodians.iter().any(|c| c.name == name) {
            return Err(ShareError::Custodians(format!(
                "custodian '{name}' is named twice: each share goes to a different person"
            )));
        }
        let seal = match recipient {
            None => None,
            Some(r) => Some(match seal::parse_recipient(r)? {
                Some(age) => SealTo::X25519(age),
                None => SealTo::Passphrase(
                    seal::read_passphrase(&format!("Passphrase for {name}'s share card: "), true)?,
                    seal::SCRYPT_LOG_N,
                ),
            }),
        };
        custodians.push(Custodian {
            name: name.to_owned(),
            seal,
        });
    }
    Ok(custodians)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyAlgorithm;
    use crate::keys::memory::MemoryKey;

    fn plain(names: &[&str]) -> Vec<Custodian> {
        names
            .iter()
            .map(|n| Custodian {
                name: (*n).to_owned(),
                seal: None,
            })
            .collect()
    }

    fn write_cards(dir: &Path, tag: &str, cards: &[Card]) -> Vec<PathBuf> {
        cards
            .iter()
            .map(|c| {
                let path = dir.join(format!("{tag}-{}.png", c.stem));
                std::fs::write(&path, &c.png).unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn shares_of_two_sets_of_one_root_are_not_mixed() {
        let key = MemoryKey::generate(KeyAlgorithm::P384).unwrap();
        let t = Threshold { t: 2, n: 3 };
        let dir = tempfile::tempdir().unwrap();
        let a = write_cards(
            dir.path(),
            "a",
            &split(&key, t, &plain(&["x", "y", "z"]), false).unwrap(),
        );
        let b = write_cards(
            dir.path(),
            "b",
            &split(&key, t, &plain(&["x", "y", "z"]), false).unwrap(),
        );
        let root = RootIdentity::of(key.public_key()).unwrap();
        let presented = [&a[0], &b[1]]
            .iter()
            .map(|p| read_presented(p, &Openers::default(), &root))
            .collect();
        let (report, records) = judge(presented);
        let bad = report.lines[1].1.as_ref().unwrap_err();
        assert!(bad.contains("b-share-2-of-3-y.png"), "{bad}");
        assert!(bad.contains("another share set"), "{bad}");
        let Err(err) = recover(&report, &records, &root) else {
            panic!("a mixed set recovered a key");
        };
        let err = err.to_string();
        assert!(err.contains("b-share-2-of-3-y.png"), "{err}");
        // Each set alone recovers the key.
        for set in [&a, &b] {
            let presented = set[..2]
                .iter()
                .map(|p| read_presented(p, &Openers::default(), &root))
                .collect();
            let (report, records) = judge(presented);
            let Ok(back) = recover(&report, &records, &root) else {
                panic!("one set alone did not recover the key");
            };
            assert_eq!(*back.scalar(), *key.scalar());
        }
    }

    #[test]
    fn thresholds_outside_2_to_16_are_refused() {
        for bad in ["1-of-3", "4-of-3", "2-of-17", "3of5", "0-of-0", "-1-of-3"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
        assert_eq!(
            "16-of-16".parse::<Threshold>().unwrap(),
            Threshold { t: 16, n: 16 }
        );
    }

    #[test]
    fn every_t_subset_is_enumerated() {
        assert_eq!(subsets(5, 3).len(), 10);
        assert_eq!(subsets(16, 8).len(), 12_870);
    }
}
