//! After a backed-up root creation, no copy of the root key, and no copy of a sealed share, is
//! left in clear in any file: the output directory, the token directory, the PIN file, or the
//! temporary directory keyrite was given. The key is reconstructed here independently (with
//! blahaj, from two plain cards) and the sealed shares are opened with age directly, so the
//! test knows exactly which bytes to look for.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use common::*;
use data_encoding::{BASE32_NOPAD, BASE64};
use keyrite::keys::PublicKey;
use keyrite::shares::card::read_share_text;
use keyrite::shares::record::ShareRecord;
use keyrite::shares::text::{Payload, parse};

const PASSPHRASE: &str = "correct horse battery staple";

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every way a secret could be written down: raw, hex, base32, base64.
fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
        BASE32_NOPAD.encode(secret).into_bytes(),
        BASE64
            .encode(secret)
            .trim_end_matches('=')
            .as_bytes()
            .to_vec(),
    ]
}

fn payload(card: &Path) -> Payload {
    parse(&read_share_text(card).unwrap(), "card").unwrap()
}

fn open_sealed(card: &Path, identity: &dyn age::Identity) -> ShareRecord {
    let Payload::Sealed(ct) = payload(card) else {
        panic!("{} is not sealed", card.display());
    };
    let decryptor = age::Decryptor::new(&ct[..]).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut decryptor.decrypt(std::iter::once(identity)).unwrap(),
        &mut plain,
    )
    .unwrap();
    ShareRecord::from_der(&plain).unwrap()
}

#[test]
fn no_key_or_sealed_share_bytes_are_left_in_clear_in_any_file() {
    let hsm = SoftHsm::new("scan");
    let out = hsm.dir().join("out");
    let tmp = hsm.dir().join("tmp");
    fs::create_dir(&tmp).unwrap();
    let carol = age::x25519::Identity::generate();
    run_ok(
        hsm.command()
            .env("TMPDIR", &tmp)
            .env("KEYRITE_REHEARSAL", "1")
            .env("KEYRITE_PASSPHRASE", PASSPHRASE)
            .args(["root", "create", "--token", &hsm.pin_uri()])
            .args(["--subject", "C=US,ST=WA,O=Example,CN=Scanned Root"])
            .args(["--validity", "1y", "--shares", "2-of-4"])
            .args(["--custodian", "alice", "--custodian", "bob"])
            .arg("--custodian")
            .arg(format!("carol={}", carol.to_public()))
            .args(["--custodian", "dave=passphrase", "--out"])
            .arg(&out),
    );

    // The root key, from the two plain cards, with blahaj directly.
    let plain: Vec<ShareRecord> = ["share-1-of-4-alice.png", "share-2-of-4-bob.png"]
        .iter()
        .map(|c| match payload(&out.join(c)) {
            Payload::Plain(der) => ShareRecord::from_der(&der).unwrap(),
            Payload::Sealed(_) => panic!("{c} should be plain"),
        })
        .collect();
    let shares: Vec<blahaj::Share> = plain
        .iter()
        .map(|r| blahaj::Share::try_from(r.body.share.as_slice()).unwrap())
        .collect();
    let scalar = blahaj::Sharks(2).recover(&shares).unwrap();
    let secret = p384::SecretKey::from_slice(&scalar).unwrap();
    let PublicKey::P384(root) = keyrite::ca::recover::root_key(&out.join("root.crt")).unwrap()
    else {
        panic!("the root is not P-384");
    };
    assert_eq!(
        root,
        p384::ecdsa::VerifyingKey::from(secret.public_key()),
        "the plain cards recover the root key"
    );

    // The sealed shares, opened with age itself.
    let carol_record = open_sealed(&out.join("share-3-of-4-carol.png"), &carol);
    let dave_identity = age::scrypt::Identity::new(SecretString::from(PASSPHRASE.to_owned()));
    let dave_record = open_sealed(&out.join("share-4-of-4-dave.png"), &dave_identity);
    assert_eq!((carol_record.body.index, dave_record.body.index), (3, 4));

    let mut secrets: Vec<(&str, Vec<u8>)> = encodings(&scalar)
        .into_iter()
        .map(|e| ("the root key", e))
        .collect();
    for (who, record) in [
        ("carol's share", &carol_record),
        ("dave's share", &dave_record),
    ] {
        secrets.extend(encodings(&record.body.share).into_iter().map(|e| (who, e)));
        secrets.extend(
            encodings(&record.to_der().unwrap())
                .into_iter()
                .map(|e| (who, e)),
        );
    }
    let mut files = Vec::new();
    files_under(hsm.dir(), &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(hsm.dir().join("tokens")))
    );
    assert!(files.len() > 10, "{files:?}");
    for file in &files {
        let bytes = fs::read(file).unwrap();
        for (what, needle) in &secrets {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == &needle[..]),
                "{what} is in clear in {}",
                file.display()
            );
        }
    }
    // keyrite left nothing behind in its temporary directory.
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
}
