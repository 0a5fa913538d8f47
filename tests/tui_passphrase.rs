//! A custodian's passphrase typed on the terminal UI's masked screen while the engine creates a
//! backed-up root on SoftHSM2: the card is sealed to exactly that passphrase.

mod common;

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;

use common::*;
use keyrite::ceremony::engine::Ceremony;
use keyrite::ceremony::rehearsal;
use keyrite::tui::{ScriptedKeys, Ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SCRIPT: &str = r#"name = "sealed-cards"
title = "A root with a passphrase-sealed card"
[roles]
administrator = "Ceremony administrator"
[parameters]
subject = "C=US,ST=WA,O=Example,CN=Sealed Root"
validity = "1y"
shares = "2-of-3"
custodians = ["alice", "bob", "carol=passphrase"]
[[step]]
title = "Create the root"
instruction = "Carol types her passphrase twice."
action = "root-create"
confirm = ["administrator"]
"#;

#[test]
fn a_passphrase_typed_on_the_masked_screen_seals_the_custodians_card() {
    let dir = tempfile::tempdir().unwrap();
    let setup = rehearsal::prepare(
        &dir.path().join("r"),
        SCRIPT,
        rehearsal::PinEntry::FromFile,
        None,
    )
    .unwrap();
    // SAFETY: the only test in this binary; no other thread reads the environment.
    unsafe {
        std::env::set_var("SOFTHSM2_CONF", &setup.softhsm_conf);
        std::env::set_var("KEYRITE_REHEARSAL", "1");
        std::env::remove_var("KEYRITE_PASSPHRASE");
        std::env::remove_var("KEYRITE_PIN");
    }
    let ceremony = Ceremony::open(&setup.script, &setup.profile).unwrap();
    // y: the hash; 1 Enter: the step; the passphrase twice; three cards, each after its
    // cleared screen; the result; q.
    let keys = "y1\ncarol-secret-42\ncarol-secret-42\n\n\n\n\n\n\n\nq";
    let ui = Rc::new(RefCell::new(Ui::new(
        Terminal::new(TestBackend::new(100, 60)).unwrap(),
        ScriptedKeys::from_text(keys),
    )));
    let finished = keyrite::tui::run_ceremony(Rc::clone(&ui), ceremony, None).unwrap();
    let out = dir.path().join("r/out/01-root-create");
    let cards: Vec<_> = [
        "share-1-of-3-alice.png",
        "share-2-of-3-bob.png",
        "share-3-of-3-carol.png",
    ]
    .iter()
    .map(|c| out.join(c))
    .collect();
    let verify = |passphrase: &str| {
        run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
            .env("KEYRITE_REHEARSAL", "1")
            .env("KEYRITE_PASSPHRASE", passphrase)
            .args(["shares", "verify", "--root-cert"])
            .arg(out.join("root.crt"))
            .args(&cards))
    };
    let (ok, text) = verify("carol-secret-42");
    assert!(ok, "{text}");
    let (ok, text) = verify("another passphrase");
    assert!(!ok && text.contains("carol"), "{text}");
    assert!(finished.signature.exists());
}
