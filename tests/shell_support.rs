//! Shell completions and man pages come from each binary's own clap definitions: every
//! command is in them, and man pages are never written over existing files.

mod common;

use std::fs;
use std::process::Command;

use common::*;

#[test]
fn completions_and_man_pages_cover_every_command_of_both_binaries() {
    for (bin, commands) in [
        (
            env!("CARGO_BIN_EXE_keyrite"),
            &["delegate", "crl", "ledger", "csr", "transcript", "rehearse"][..],
        ),
        (
            env!("CARGO_BIN_EXE_keyrite-import"),
            &["install", "pin", "pins", "unpin", "status", "check"][..],
        ),
    ] {
        let name = std::path::Path::new(bin)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for shell in ["bash", "zsh", "fish"] {
            let script = run_ok(Command::new(bin).args(["completions", shell]));
            for c in commands {
                assert!(script.contains(c), "{name} {shell} completion lacks {c}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let (ok, text) = run(Command::new(bin).args(["man", "--out"]).arg(dir.path()));
        assert!(ok && text.contains("man pages into"), "{text}");
        let top = fs::read_to_string(dir.path().join(format!("{name}.1"))).unwrap();
        assert!(top.starts_with(".ie") && top.contains(".TH"), "{top}");
        for c in commands {
            let page = dir.path().join(format!("{name}-{c}.1"));
            assert!(page.is_file(), "{} is missing", page.display());
        }
        // Never over an existing page.
        let before = fs::read(dir.path().join(format!("{name}.1"))).unwrap();
        let (ok, text) = run(Command::new(bin).args(["man", "--out"]).arg(dir.path()));
        assert!(!ok && text.contains("already exists"), "{text}");
        assert_eq!(
            fs::read(dir.path().join(format!("{name}.1"))).unwrap(),
            before
        );
    }
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_keyrite"))
            .args(["man", "--out"])
            .arg(dir.path()),
    );
    let issue = fs::read_to_string(dir.path().join("keyrite-delegate-issue.1")).unwrap();
    assert!(
        issue.contains("csr") && issue.contains("allow\\-subject\\-held\\-by\\-another\\-key"),
        "{issue}"
    );
}
