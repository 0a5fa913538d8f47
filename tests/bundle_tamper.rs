//! A bundle is refused whatever bit of it is changed: every byte of the example bundles, each
//! with a bit flipped, fails to decode, in the envelope as much as in what the signature covers.

use std::fs;
use std::path::Path;

use keyrite::bundle::Bundle;

fn every_byte_flipped(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bundles/examples")
        .join(name);
    let bytes = fs::read(&path).unwrap();
    Bundle::decode(&bytes).unwrap_or_else(|e| panic!("{name} as committed: {e}"));
    let mut accepted = Vec::new();
    for at in 0..bytes.len() {
        // A different bit from byte to byte, so every bit position is exercised.
        let bit = at % 8;
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << bit;
        if Bundle::decode(&flipped).is_ok() {
            accepted.push(format!("byte {at} bit {bit}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "{name}: {} flips accepted: {}",
        accepted.len(),
        accepted.join(", ")
    );
}

#[test]
fn every_bit_flip_in_a_trust_bundle_is_refused() {
    every_byte_flipped("trust-v1.bundle");
}

#[test]
fn every_bit_flip_in_a_revocation_bundle_is_refused() {
    every_byte_flipped("revocation-v1.bundle");
}
