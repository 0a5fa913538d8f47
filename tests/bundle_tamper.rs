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

/// Two signed attributes swapped in the file: the signature, over their sorted encoding, still
/// verifies, but the file is not canonical DER and is refused.
#[test]
fn a_bundle_with_its_signed_attributes_reordered_is_refused() {
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use der::{Decode, Encode};

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles/examples/trust-v1.bundle");
    let bytes = fs::read(&path).unwrap();
    let signed: SignedData = ContentInfo::from_der(&bytes)
        .unwrap()
        .content
        .decode_as()
        .unwrap();
    let si = signed.signer_infos.0.as_slice()[0].clone();
    let attrs: Vec<Vec<u8>> = si
        .signed_attrs
        .unwrap()
        .iter()
        .map(|a| a.to_der().unwrap())
        .collect();
    let pair = [attrs[0].clone(), attrs[1].clone()].concat();
    let at = bytes
        .windows(pair.len())
        .position(|w| w == pair)
        .expect("the first two signed attributes, in order, in the file");
    let mut swapped = bytes.clone();
    swapped[at..at + pair.len()].copy_from_slice(&[attrs[1].clone(), attrs[0].clone()].concat());
    assert_ne!(swapped, bytes);
    let err = Bundle::decode(&swapped)
        .err()
        .expect("a reordered SET OF decoded");
    assert!(err.to_string().contains("canonical DER"), "{err}");
}
