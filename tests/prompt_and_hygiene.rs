//! A PIN typed at the prompt, as an officer does it (in tmux): never echoed, and the process
//! that waits for it has core dumps off and its memory locked. Where the OS refuses to lock
//! memory, keyrite says so and carries on.

mod common;

use std::fs;
use std::process::Command;

use common::*;

#[test]
fn a_pin_typed_at_the_prompt_is_not_echoed_and_the_waiting_process_is_hardened() {
    let hsm = SoftHsm::new("prompted");
    let out = hsm.dir().join("out");
    let out_arg = out.display().to_string();
    let tmux = Tmux::start(
        &hsm,
        &[
            "root",
            "create",
            "--token",
            "pkcs11:token=prompted",
            "--subject",
            "C=US,ST=WA,O=Example,CN=Prompted Root",
            "--validity",
            "20y",
            "--out",
            &out_arg,
        ],
    );
    tmux.wait_for("PIN for token 'prompted':");

    // The process waiting at the prompt: no core dumps, memory locked.
    let pid = tmux.pid();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(core.split_whitespace().nth(4) == Some("0"), "{core}");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Name:\tkeyrite"), "{status}");
    let locked: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap();
    assert!(locked > 0, "memory is not locked:\n{status}");

    tmux.type_line(USER_PIN);
    let screen = tmux.wait_for("Root CA created");
    assert!(!screen.contains(USER_PIN), "the PIN was echoed:\n{screen}");
    assert!(out.join("root.crt").exists());
}

const PASSPHRASE: &str = "seven blue herons";

/// `root create` of a 2-of-2 backup whose second card is sealed to a typed passphrase.
fn sealed_backup(hsm: &SoftHsm, out: &str) -> Tmux {
    let token = hsm.pin_uri();
    Tmux::start(
        hsm,
        &[
            "root",
            "create",
            "--token",
            &token,
            "--subject",
            "C=US,ST=WA,O=Example,CN=Sealed Root",
            "--validity",
            "1y",
            "--shares",
            "2-of-2",
            "--custodian",
            "alice",
            "--custodian",
            "bob=passphrase",
            "--out",
            out,
        ],
    )
}

#[test]
fn a_passphrase_typed_twice_seals_the_card_and_recovery_asks_for_it() {
    let hsm = SoftHsm::new("sealed");
    let out = hsm.dir().join("out");
    let tmux = sealed_backup(&hsm, &out.display().to_string());
    tmux.wait_for("Passphrase for bob's share card:");
    tmux.type_line(PASSPHRASE);
    tmux.wait_for("Type it again:");
    tmux.type_line(PASSPHRASE);
    let screen = tmux.wait_for("Root CA created");
    assert!(
        !screen.contains(PASSPHRASE),
        "the passphrase was echoed:\n{screen}"
    );
    drop(tmux);

    let root = out.join("root.crt").display().to_string();
    let alice = out.join("share-1-of-2-alice.png").display().to_string();
    let bob = out.join("share-2-of-2-bob.svg").display().to_string();
    let tmux = Tmux::start(
        &hsm,
        &[
            "root",
            "recover",
            "--verify-only",
            "--root-cert",
            &root,
            &alice,
            &bob,
        ],
    );
    tmux.wait_for("Passphrase for");
    tmux.type_line(PASSPHRASE);
    let screen = tmux.wait_for("Nothing was imported");
    assert!(screen.contains("share 2 of 2, custodian bob"), "{screen}");
    assert!(!screen.contains(PASSPHRASE), "{screen}");
}

#[test]
fn passphrases_that_differ_stop_the_ceremony_before_any_key_exists() {
    let hsm = SoftHsm::new("differ");
    let out = hsm.dir().join("out");
    let tmux = sealed_backup(&hsm, &out.display().to_string());
    tmux.wait_for("Passphrase for bob's share card:");
    tmux.type_line(PASSPHRASE);
    tmux.wait_for("Type it again:");
    tmux.type_line("seven blue heron");
    tmux.wait_for("the two passphrases differ");
    assert!(!out.exists(), "outputs were written");
    assert_eq!(count_objects(&hsm), 0);
}

#[test]
fn where_memory_cannot_be_locked_keyrite_says_so_and_carries_on() {
    let hsm = SoftHsm::new("unlocked");
    // An unprivileged user with a small RLIMIT_MEMLOCK cannot lock a whole process.
    let (ok, text) = run(Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .args(["prlimit", "--memlock=65536:65536"])
        .arg(env!("CARGO_BIN_EXE_keyrite"))
        .args(["token", "list", "--module", SOFTHSM_MODULE])
        .envs(hsm.envs()));
    assert!(
        text.contains("keyrite: note: memory not locked"),
        "expected a note about memory locking:\n{text}"
    );
    // It carried on: the module was loaded (the token directory is not readable by nobody,
    // so SoftHSM shows only its empty slot) and the command succeeded.
    assert!(ok, "{text}");
    assert!(
        text.contains("Module /usr/lib/softhsm/libsofthsm2.so"),
        "{text}"
    );
}
