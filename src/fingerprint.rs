//! SHA-256 fingerprints, shown as hex and as PGP words that witnesses can read aloud.
//!
//! The PGP word list alternates two lists by byte position, so a dropped, repeated or swapped
//! word is heard as wrong; `pgp-words` holds the lists.

use std::fmt;

use crate::signer::sha256;

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
}
