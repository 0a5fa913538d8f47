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

    /// Reads a fingerprint as a witness would type it: 64 hex digits (colons and spaces
    /// allowed) or the 32 PGP words, in either case.
    pub fn parse(text: &str) -> Result<Self, String> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        let bytes = if compact.len() == 64 && compact.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(&compact).ok()
        } else {
            let words: Vec<String> = text
                .split_whitespace()
                .map(str::to_ascii_lowercase)
                .collect();
            pgp_words::to_bytes(&words)
        };
        bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Self)
            .ok_or_else(|| {
                "a fingerprint is 64 hex digits or the 32 words printed at the ceremony (one or more words are wrong or missing)".to_owned()
            })
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
        assert!(Fingerprint::parse(&words.join(" ")).is_err());
        assert!(Fingerprint::parse(&fp.hex()[..62]).is_err());
    }
}
