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
mod recover;
mod split;
pub mod text;

use std::path::PathBuf;
use std::str::FromStr;

use zeroize::Zeroizing;

pub use recover::{Presented, SetReport, judge, read_presented, recover};
pub use split::split;

use self::record::MAX_SHARES;
use crate::keys::PublicKey;
use crate::keys::seal::{self, SealTo};

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
#[error("bad --shares '{given}': {why}give T-of-N with 2 <= T <= N <= {MAX_SHARES}, e.g. 3-of-5")]
pub struct ThresholdError {
    given: String,
    why: &'static str,
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why| ThresholdError {
            given: s.to_owned(),
            why,
        };
        let (t, n) = s.split_once("-of-").ok_or_else(|| bad(""))?;
        let (t, n): (u8, u8) = (
            t.parse().map_err(|_| bad(""))?,
            n.parse().map_err(|_| bad(""))?,
        );
        if t == 1 {
            Err(bad("with T = 1 every card alone would be the root key: "))
        } else if 2 <= t && t <= n && n <= MAX_SHARES {
            Ok(Self { t, n })
        } else {
            Err(bad(""))
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

/// A custodian as written: the name, and for a sealed card the age recipient or `None` for a
/// passphrase still to be typed.
type Written<'a> = (&'a str, Option<Option<Box<age::x25519::Recipient>>>);

/// Checks `NAME[=RECIPIENT]` custodians against `threshold` without asking for any passphrase:
/// one per share, each named, no name twice, every recipient well formed.
pub fn check_custodians(values: &[String], threshold: Threshold) -> Result<(), ShareError> {
    written_custodians(values, threshold).map(drop)
}

fn written_custodians(
    values: &[String],
    threshold: Threshold,
) -> Result<Vec<Written<'_>>, ShareError> {
    if values.len() != usize::from(threshold.n) {
        return Err(ShareError::Custodians(format!(
            "--shares {}-of-{} needs {} --custodian, one per share; {} given",
            threshold.t,
            threshold.n,
            threshold.n,
            values.len()
        )));
    }
    let mut written: Vec<Written<'_>> = Vec::new();
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
        if written.iter().any(|(n, _)| *n == name) {
            return Err(ShareError::Custodians(format!(
                "custodian '{name}' is named twice: each share goes to a different person"
            )));
        }
        let recipient = recipient.map(seal::parse_recipient).transpose()?;
        written.push((name, recipient));
    }
    Ok(written)
}

/// Reads `NAME[=RECIPIENT]` custodian specs, one per share: no recipient leaves the card
/// unencrypted, an age `age1…` recipient seals it to that key, and `passphrase` asks for a
/// passphrase typed twice.
pub fn parse_custodians(
    values: &[String],
    threshold: Threshold,
) -> Result<Vec<Custodian>, ShareError> {
    written_custodians(values, threshold)?
        .into_iter()
        .map(|(name, recipient)| {
            let seal = match recipient {
                None => None,
                Some(Some(age)) => Some(SealTo::X25519(age)),
                Some(None) => Some(SealTo::Passphrase(
                    seal::read_passphrase(&format!("Passphrase for {name}'s share card: "), true)?,
                    seal::SCRYPT_LOG_N,
                )),
            };
            Ok(Custodian {
                name: name.to_owned(),
                seal,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::split::subsets;
    use super::*;
    use crate::keys::KeyAlgorithm;
    use crate::keys::KeySigner;
    use crate::keys::memory::MemoryKey;
    use crate::keys::seal::Openers;

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
