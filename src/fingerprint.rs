//! SHA-256 fingerprints, shown as hex and as PGP words that witnesses can read aloud.
//!
//! The PGP word list alternates two lists by byte position, so a dropped, repeated or swapped
//! word is heard as wrong; `pgp-words` holds the lists.

use std::fmt;

use crate::keys::sha256;

/// The SHA-256 fingerprint of some bytes (a certificate's DER, a script, an ISO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprints `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(sha256(data))
    }

    /// Lowercase hex, 64 characters.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The 32 PGP words, one per byte.
    pub fn words(&self) -> Vec<String> {
        pgp_words::to_words(&self.0)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The first eight words, for a line that names the fingerprint without spelling it all.
    pub fn short_words(&self) -> String {
        self.words()[..8].join(" ")
    }

    /// Reads a fingerprint as a witness would type it: 64 hex digits (colons and spaces
    /// allowed) or the 32 PGP words, in either case; or a `root.fingerprint` file's text, whose
    /// `sha256:` line it takes. A wrong word is named with its position.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(line) = text.lines().find_map(|l| l.trim().strip_prefix("sha256:")) {
            return Self::parse(line);
        }
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        if compact.len() == 64 && compact.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(&compact, &mut bytes).map_err(|e| e.to_string())?;
            return Ok(Self(bytes));
        }
        if compact.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "{} hex digits: a fingerprint is 64 hex digits, or the 32 words printed at the ceremony",
                compact.len()
            ));
        }
        let words: Vec<String> = text
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        if let Some(bytes) = pgp_words::to_bytes(&words).and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            return Ok(Self(bytes));
        }
        Err(word_problem(&words))
    }

    /// The words in four lines of eight, for reading aloud.
    pub fn words_block(&self) -> String {
        self.words()
            .chunks(8)
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What is wrong with `words` as a fingerprint: the first word that is not a PGP word or
/// stands at the wrong position (the two lists alternate, so a dropped or repeated word shows
/// there), else the count.
fn word_problem(words: &[String]) -> String {
    let even = |w: &str| pgp_words::to_bytes(&[w]).is_some();
    let odd = |w: &str| pgp_words::to_bytes(&["aardvark", w]).is_some_and(|b| b.len() == 2);
    for (i, w) in words.iter().enumerate() {
        let (fits, other) = if i % 2 == 0 {
            (even(w), odd(w))
        } else {
            (odd(w), even(w))
        };
        if !fits {
            return if other {
                format!(
                    "word {} '{w}' belongs at the other position of a pair: a word before it was \
                     dropped, repeated or swapped; read the fingerprint again from the ceremony's record",
                    i + 1
                )
            } else {
                format!(
                    "word {} '{w}' is not a fingerprint word: check its spelling against the ceremony's record",
                    i + 1
                )
            };
        }
    }
    format!(
        "{} words: a fingerprint is the 32 words printed at the ceremony (or 64 hex digits)",
        words.len()
    )
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_the_pgp_list_and_differ_by_position() {
        let fp = Fingerprint([0u8; 32]);
        let words = fp.words();
        assert_eq!(words.len(), 32);
        // Byte 0x00 is "aardvark" at even positions and "adroitness" at odd ones.
        assert_eq!(words[0], "aardvark");
        assert_eq!(words[1], "adroitness");
        assert_eq!(fp.hex(), "0".repeat(64));
    }

    #[test]
    fn parses_hex_and_words_and_refuses_a_wrong_word() {
        let fp = Fingerprint::of(b"root");
        assert_eq!(Fingerprint::parse(&fp.hex()).unwrap(), fp);
        assert_eq!(Fingerprint::parse(&fp.hex().to_uppercase()).unwrap(), fp);
        assert_eq!(Fingerprint::parse(&fp.words_block()).unwrap(), fp);
        let mut words = fp.words();
        words.swap(0, 1);
        let err = Fingerprint::parse(&words.join(" ")).unwrap_err();
        assert!(
            err.starts_with("word 1 ") && err.contains("other position"),
            "{err}"
        );
        let mut typo = fp.words();
        typo[4] = "aardvarx".into();
        let err = Fingerprint::parse(&typo.join(" ")).unwrap_err();
        assert!(
            err.starts_with("word 5 'aardvarx' is not a fingerprint word"),
            "{err}"
        );
        let err = Fingerprint::parse(&fp.words()[..31].join(" ")).unwrap_err();
        assert!(err.starts_with("31 words"), "{err}");
        let err = Fingerprint::parse(&fp.hex()[..62]).unwrap_err();
        assert!(err.starts_with("62 hex digits"), "{err}");
        // root.fingerprint's own text: its sha256 line, never its key-sha256 line.
        let file = format!(
            "# SHA-256 of root.crt (DER)\nsha256: {}\nwords: x\nkey-sha256: {}\n",
            fp.hex(),
            "ab".repeat(32)
        );
        assert_eq!(Fingerprint::parse(&file).unwrap(), fp);
    }
}
