//! `keyrite medium-hash`: the SHA-256 of exactly an ISO image's bytes, whether read from the
//! file or from a device the image was written to (larger than the image).

mod common;

use std::fs;
use std::process::Command;

use common::*;

#[test]
fn the_medium_hash_is_the_image_hash_even_on_a_larger_device() {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("content");
    fs::create_dir(&content).unwrap();
    fs::write(content.join("hello.txt"), b"keyrite medium").unwrap();
    let iso = dir.path().join("medium.iso");
    run_ok(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-V", "KEYRITE", "-o"])
            .arg(&iso)
            .arg(&content),
    );
    let sha = run_ok(Command::new("sha256sum").arg(&iso));
    let sha = &sha[..64];
    let hash = |path: &std::path::Path| {
        run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
            .arg("medium-hash")
            .arg(path))
    };
    let (ok, text) = hash(&iso);
    assert!(ok && text.contains(sha), "{text}");
    // A USB stick is larger than the image written to it: only the image is hashed.
    let stick = dir.path().join("stick.img");
    let mut bytes = fs::read(&iso).unwrap();
    bytes.extend(std::iter::repeat_n(0x5a, 3 * 1024 * 1024));
    fs::write(&stick, &bytes).unwrap();
    let (ok, text) = hash(&stick);
    assert!(ok && text.contains(sha), "{text}");
    // Not an ISO, and an image cut short, are refused.
    let (ok, text) = hash(&content.join("hello.txt"));
    assert!(!ok && text.contains("not a boot medium"), "{text}");
    let short = dir.path().join("short.iso");
    fs::write(&short, &fs::read(&iso).unwrap()[..40 * 1024]).unwrap();
    let (ok, text) = hash(&short);
    assert!(!ok && text.contains("ends after"), "{text}");
}
