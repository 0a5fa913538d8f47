//! `keyrite rehearse` in tmux, as officers would walk it: the script hash, every step's
//! confirmations, each custodian's card on its own screen, and a transcript that verifies.

mod common;

use std::process::Command;

use common::*;

#[test]
fn a_rehearsal_walked_in_the_terminal_ends_with_a_verified_transcript() {
    // The token fixture gives the tmux socket a private directory; rehearse makes its own tokens.
    let scratch = SoftHsm::new("tui-scratch");
    let dir = scratch.dir().join("rehearsal");
    let dir_arg = dir.display().to_string();
    let tmux = Tmux::start_sized(&scratch, (100, 50), &[], &["rehearse", "--out", &dir_arg]);

    // A rehearsal's tokens have a throwaway PIN, shown once at the start, for the officers to
    // type whenever a step asks, as they would at a real ceremony.
    let screen = tmux.wait_for("Their PIN is");
    let pin: String = screen
        .split("Their PIN is")
        .nth(1)
        .unwrap()
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(pin.len(), 8, "{screen}");
    tmux.keys(&["Enter"]);
    // Answers every PIN prompt until `text` shows; returns that screen and the prompts answered.
    let through_pins = |text: &str| -> (String, usize) {
        let mut answered = 0;
        loop {
            let (i, screen) = tmux.wait_for_any(&[text, "Secret entry"]);
            if i == 0 {
                return (screen, answered);
            }
            let prompt = screen.lines().find(|l| l.contains("PIN")).unwrap_or("");
            assert!(
                !screen.contains(&pin),
                "the PIN is on the screen:\n{screen}"
            );
            if prompt.contains('*') {
                // Typed already; the next screen is not up yet.
                continue;
            }
            tmux.type_line(&pin);
            answered += 1;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while tmux.screen() == screen {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the typed PIN changed nothing:\n{screen}"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    };
    let screen = tmux.wait_for("Script hash");
    assert!(
        screen.contains("REHEARSAL") && screen.contains("lifecycle"),
        "{screen}"
    );
    tmux.keys(&["y"]);
    // The root token keeps the transcript's head: its PIN is typed once, before the first step,
    // and the token stays logged in until the ceremony ends.
    let (screen, answered) = through_pins("Step 1 of 11: Prepare the room");
    assert_eq!(answered, 1, "{screen}");
    assert!(
        screen.contains("1 [ ] administrator") && screen.contains("2 [ ] witness"),
        "{screen}"
    );
    // Enter before every role confirmed does nothing.
    tmux.keys(&["1", "Enter"]);
    assert!(
        tmux.wait_for("1 [x] administrator")
            .contains("Step 1 of 11")
    );
    tmux.keys(&["2", "Enter"]);
    tmux.wait_for("Step 1 of 11 done");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Step 2 of 11: Create the root");
    tmux.keys(&["?"]);
    tmux.wait_for("Every step lists the roles");
    tmux.keys(&["Escape", "1", "2", "3", "Enter"]);
    let mut pins = 0;
    for (i, custodian) in ["alice", "bob", "carol", "dave", "erin"].iter().enumerate() {
        // A cleared screen before each card: nothing of the share until its custodian presses Enter.
        let (screen, answered) = through_pins(&format!("Next: the share card for {custodian}"));
        pins += answered;
        assert!(!screen.contains('▀') && !screen.contains('▄'), "{screen}");
        tmux.keys(&["Enter"]);
        let screen = tmux.wait_for(&format!("Share card {} of 5 for {custodian}", i + 1));
        assert!(
            screen.contains('▀') || screen.contains('▄'),
            "no QR drawn:\n{screen}"
        );
        tmux.keys(&["Enter"]);
    }
    // The backup token was opened with the typed PIN before the first card.
    assert!(pins >= 1, "{pins} PIN prompts before the cards");
    let screen = tmux.wait_for("Step 2 of 11 done: Create the root");
    assert!(screen.contains("CN=REHEARSAL Example Root"), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Step 3 of 11: Custody audit");
    tmux.keys(&["1", "2", "Enter"]);
    assert!(
        tmux.wait_for("Step 3 of 11 done")
            .contains("5 share cards verified")
    );
    tmux.keys(&["Enter"]);
    // Keys typed before a step's screen is up are not taken as its confirmations.
    tmux.wait_for("Step 4 of 11: Prove the backup");
    tmux.keys(&["1", "2", "Enter"]);
    assert!(
        tmux.wait_for("Step 4 of 11 done")
            .contains("recover the root key")
    );
    tmux.keys(&["Enter"]);
    // The publishers' side and what the root signs for them, each shown before it is signed.
    for (n, title, roles) in [
        (5, "Publisher A's request", 1),
        (6, "Publisher B's request", 1),
        (7, "Issue publisher A's certificate", 3),
        (8, "Issue publisher B's certificate", 3),
        (9, "Revoke publisher B", 3),
        (10, "Trust bundle", 3),
        (11, "Revocation bundle", 3),
    ] {
        let screen = tmux.wait_for(&format!("Step {n} of 11: {title}"));
        if n == 7 {
            assert!(
                screen.contains("What the root will sign") && screen.contains("release-signer-a"),
                "{screen}"
            );
        }
        let keys: Vec<String> = (1..=roles).map(|r| r.to_string()).collect();
        let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        keys.push("Enter");
        tmux.keys(&keys);
        tmux.wait_for(&format!("Step {n} of 11 done"));
        tmux.keys(&["Enter"]);
    }
    // The root signs the transcript on its token, still logged in: no PIN again; then the
    // rehearsal plays the site and shows what it found on the last screen.
    let (screen, answered) = through_pins("Ceremony finished");
    assert_eq!(answered, 0, "{screen}");
    assert!(screen.contains("transcript.jsonl.p7s"), "{screen}");
    assert!(
        screen.contains("The site's side")
            && screen.contains("trusted:")
            && screen.contains("revoked:"),
        "{screen}"
    );
    tmux.keys(&["q"]);
    // keyrite leaves the terminal and exits 0.
    assert_eq!(tmux.wait_exit(), 0);

    let out = dir.join("out");
    let (ok, text) = run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .args(["transcript", "verify"])
        .arg(out.join("transcript.jsonl"))
        .arg("--root-cert")
        .arg(out.join("02-root-create/root.crt"))
        .arg(out.join("02-root-create/share-3-of-5-carol.png")));
    assert!(ok, "{text}");
    let transcript = std::fs::read_to_string(out.join("transcript.jsonl")).unwrap();
    assert!(transcript.contains("\"rehearsal\":true"));
    assert!(
        transcript.contains("\"confirmed_by\":[\"witness\",\"custodians\"]"),
        "{transcript}"
    );
}
