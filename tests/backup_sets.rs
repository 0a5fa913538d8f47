//! Shares of two different sets of the same root, and two --token that reach one device.
//!
//! The command line makes a new key for every set, so the two sets of one root are made here
//! with the library: one in-memory key, its root certificate, and two splits of it.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;
use keyrite::keys::memory::MemoryKey;
use keyrite::keys::{KeyAlgorithm, KeySigner};
use keyrite::pki::check::CertProfile;
use keyrite::pki::issue::issue;
use keyrite::pki::name::parse_subject;
use keyrite::pki::profile::RootProfile;
use keyrite::pki::validity::Period;
use keyrite::shares::{Custodian, Threshold, split};
use x509_cert::serial_number::SerialNumber;

fn custodians() -> Vec<Custodian> {
    ["ann", "ben", "cat"]
        .iter()
        .map(|n| Custodian {
            name: (*n).to_owned(),
            seal: None,
        })
        .collect()
}

#[test]
fn shares_of_another_set_of_the_same_root_are_named_and_nothing_is_imported() {
    let hsm = SoftHsm::new("two-sets");
    let dir = hsm.dir().join("cards");
    fs::create_dir(&dir).unwrap();
    let key = MemoryKey::generate(KeyAlgorithm::P384).unwrap();
    let cert = issue(
        RootProfile {
            subject: parse_subject("C=US,ST=WA,O=Example,CN=Two Sets Root").unwrap(),
        },
        CertProfile::Root,
        SerialNumber::generate(&mut UnwrapErr(SysRng)),
        Period::Years(1).validity_from_now().unwrap(),
        key.public_key().to_spki().unwrap(),
        &key,
    )
    .unwrap();
    let root = dir.join("root.crt");
    fs::write(
        &root,
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &cert).unwrap(),
    )
    .unwrap();
    let threshold = Threshold { t: 2, n: 3 };
    let write = |tag: &str| -> Vec<PathBuf> {
        split(&key, threshold, &custodians(), false)
            .unwrap()
            .iter()
            .map(|card| {
                let path = dir.join(format!("{tag}-{}.svg", card.stem));
                fs::write(&path, card.svg.as_bytes()).unwrap();
                path
            })
            .collect()
    };
    let (a, b) = (write("a"), write("b"));
    drop(key);
    let files_before = fs::read_dir(&dir).unwrap().count();

    let (ok, text) = run(hsm
        .command()
        .args(["root", "recover", "--root-cert"])
        .arg(&root)
        .args(["--token", &hsm.pin_uri()])
        .arg(&a[0])
        .arg(&b[1]));
    assert!(!ok, "{text}");
    let foreign = b[1].display().to_string();
    assert!(
        text.contains(&format!("BAD   {foreign}: it belongs to another share set")),
        "{text}"
    );
    assert_eq!(count_objects(&hsm), 0, "nothing was imported");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), files_before);

    // Either set alone recovers the root key.
    for set in [&a, &b] {
        let (ok, text) = run(hsm
            .command()
            .args(["root", "recover", "--verify-only", "--root-cert"])
            .arg(&root)
            .arg(&set[0])
            .arg(&set[2]));
        assert!(ok, "{text}");
    }
}

#[test]
fn two_token_uris_that_reach_one_device_are_refused() {
    let hsm = SoftHsm::new("one-device");
    let out = hsm.dir().join("out");
    let pin = hsm.pin_file();
    let uri = |object: &str| {
        format!(
            "pkcs11:token=one-device;object={object}?pin-source=file:{}",
            pin.display()
        )
    };
    let (ok, text) = run(hsm
        .command()
        .args(["root", "create", "--token", &uri("a"), "--token", &uri("b")])
        .args([
            "--subject",
            "C=US,ST=WA,O=Example,CN=Root",
            "--validity",
            "1y",
        ])
        .args([
            "--shares",
            "2-of-2",
            "--custodian",
            "x",
            "--custodian",
            "y",
            "--out",
        ])
        .arg(&out));
    assert!(!ok, "{text}");
    assert!(
        text.contains("reach the same token ('one-device'"),
        "{text}"
    );
    assert!(
        text.contains("each --token must be a different device"),
        "{text}"
    );
    assert!(!out.exists());
    assert_eq!(count_objects(&hsm), 0);
}
