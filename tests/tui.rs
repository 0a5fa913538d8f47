//! The terminal UI's screens, drawn headless on ratatui's TestBackend at 80x24, and its
//! confirmations driven by scripted keys through the real engine.

mod common;

use std::cell::RefCell;
use std::fs;
use std::rc::Rc;

use keyrite::ceremony::CeremonyError;
use keyrite::ceremony::engine::{Ceremony, TRANSCRIPT};
use keyrite::tui::{ScriptedKeys, Ui, screens};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// Draws `render` on a `w`x`h` TestBackend and returns the screen's text, a line per row.
fn draw(w: u16, h: u16, render: impl FnOnce(&mut ratatui::Frame<'_>)) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(render).unwrap();
    let buffer = terminal.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn words() -> Vec<String> {
    keyrite::fingerprint::Fingerprint::of(b"script").words()
}

#[test]
fn the_script_hash_screen_shows_hex_and_words_and_marks_a_rehearsal() {
    let fp = keyrite::fingerprint::Fingerprint::of(b"script");
    let screen = draw(80, 24, |f| {
        screens::script_hash(f, "root", "Root of trust", &fp.hex(), &words(), true)
    });
    assert!(screen.contains("REHEARSAL"), "{screen}");
    assert!(
        screen.contains(&fp.hex()[..32]) && screen.contains(&fp.hex()[32..]),
        "{screen}"
    );
    assert!(screen.contains(&words()[..8].join(" ")), "{screen}");
    assert!(screen.contains("y the administrator confirms"), "{screen}");
}

#[test]
fn a_step_lists_its_roles_and_offers_enter_only_when_all_confirmed() {
    let roles = |done: bool| {
        vec![
            (
                "administrator".to_owned(),
                "Ceremony administrator: runs it".to_owned(),
                true,
            ),
            (
                "witness".to_owned(),
                "Internal witness: checks".to_owned(),
                done,
            ),
        ]
    };
    let waiting = draw(80, 24, |f| {
        screens::step(
            f,
            2,
            4,
            "Create the root",
            "Do it.",
            "a root is made",
            &[],
            0,
            &roles(false),
        )
    });
    assert!(
        waiting.contains("Step 2 of 4: Create the root"),
        "{waiting}"
    );
    assert!(
        waiting.contains("1 [x] administrator") && waiting.contains("2 [ ] witness"),
        "{waiting}"
    );
    assert!(
        waiting.contains("1-9 confirm a role") && !waiting.contains("Enter run"),
        "{waiting}"
    );
    let ready = draw(80, 24, |f| {
        screens::step(
            f,
            2,
            4,
            "Create the root",
            "Do it.",
            "a root is made",
            &[],
            0,
            &roles(true),
        )
    });
    assert!(ready.contains("Enter run the step"), "{ready}");
}

#[test]
fn the_secret_screen_masks_what_is_typed() {
    let screen = draw(80, 24, |f| {
        screens::secret(f, "PIN for token 'primary': ", 6)
    });
    assert!(
        screen.contains("PIN for token 'primary': ******"),
        "{screen}"
    );
}

#[test]
fn a_share_card_shows_its_qr_when_it_fits_and_its_typed_lines_otherwise() {
    let text = "KRS1|ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (width, modules) = keyrite::shares::card::qr_modules(text).unwrap();
    let typed = vec![
        "01/02 ABCD EFGH 1A2B".to_owned(),
        "02/02 IJKL MNOP 3C4D".to_owned(),
    ];
    let big = draw(100, 60, |f| {
        screens::card(f, "bob", "2 of 5", Some((width, &modules)), &typed)
    });
    assert!(big.contains("Share card 2 of 5 for bob"), "{big}");
    assert!(big.contains('▀') && big.contains('▄'), "{big}");
    assert!(!big.contains("01/02"), "{big}");
    let small = draw(80, 24, |f| {
        screens::card(f, "bob", "2 of 5", Some((width, &modules)), &typed)
    });
    assert!(
        small.contains("too small") && small.contains("01/02 ABCD EFGH 1A2B"),
        "{small}"
    );
}

#[test]
fn result_exception_notice_help_picker_and_end_screens_fit_80x24() {
    let r = draw(80, 24, |f| {
        screens::result(
            f,
            3,
            4,
            "Audit",
            "5 cards verified",
            &[("02/root.crt".into(), words()[..6].to_vec())],
        )
    });
    assert!(
        r.contains("Step 3 of 4 done: Audit") && r.contains(&words()[..6].join(" ")),
        "{r}"
    );
    let e = draw(80, 24, |f| screens::exception(f, 2, "token dropped"));
    assert!(
        e.contains("Exception at step 2") && e.contains("token dropped_"),
        "{e}"
    );
    let n = draw(80, 24, |f| screens::notice(f, "Notice", "Resuming."));
    assert!(n.contains("Resuming."), "{n}");
    let h = draw(80, 24, screens::help);
    assert!(h.contains("Every step lists the roles"), "{h}");
    let p = draw(80, 24, |f| {
        screens::picker(f, "Ceremony script", &["a.toml".into(), "b.toml".into()], 1)
    });
    assert!(p.contains("> b.toml"), "{p}");
    let w = draw(80, 24, |f| screens::working(f, 1, 4, "Create"));
    assert!(w.contains("Working"), "{w}");
    let end = draw(80, 24, |f| {
        screens::finished(f, "Ceremony finished", &["Transcript: t.jsonl".into()])
    });
    assert!(
        end.contains("Ceremony finished") && end.contains("Transcript: t.jsonl"),
        "{end}"
    );
}

/// A script of notes and a profile in a temporary directory (no token is touched by notes).
/// A ceremony of two notes on a SoftHSM2 root token (it keeps the transcript's head).
fn note_ceremony(dir: &std::path::Path) -> Ceremony {
    let pin = dir.join("user.pin");
    fs::write(&pin, common::USER_PIN).unwrap();
    fs::write(
        dir.join("script.toml"),
        r#"name = "notes"
title = "Notes only"
[roles]
administrator = "Ceremony administrator"
witness = "Internal witness"
[[step]]
title = "First"
instruction = "Check the room."
action = "note"
confirm = ["administrator", "witness"]
[[step]]
title = "Second"
instruction = "Check again."
action = "note"
confirm = ["administrator"]
"#,
    )
    .unwrap();
    fs::write(
        dir.join("profile.toml"),
        format!(
            "module = \"/usr/lib/softhsm/libsofthsm2.so\"\nroot_token = \"pkcs11:token=notes?pin-source=file:{}\"\ninput = \"{1}/in\"\noutput = \"{1}/out\"\n",
            pin.display(),
            dir.display()
        ),
    )
    .unwrap();
    Ceremony::open(&dir.join("script.toml"), &dir.join("profile.toml")).unwrap()
}

fn ui(keys: &str) -> Rc<RefCell<Ui<TestBackend, ScriptedKeys>>> {
    Rc::new(RefCell::new(Ui::new(
        Terminal::new(TestBackend::new(80, 24)).unwrap(),
        ScriptedKeys::from_text(keys),
    )))
}

#[test]
fn a_rejected_script_hash_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ceremony = note_ceremony(dir.path());
    // n rejects the hash; q leaves the end screen.
    let result = keyrite::tui::run_ceremony(ui("nq"), ceremony, None);
    assert!(
        matches!(result, Err(CeremonyError::HashRejected)),
        "{:?}",
        result.err()
    );
    assert!(!dir.path().join("out").join(TRANSCRIPT).exists());
}

#[test]
fn enter_does_nothing_until_every_role_confirmed_and_an_exception_stops_the_ceremony() {
    let hsm = common::SoftHsm::new("notes");
    let _module = common::in_process::InProcess::enter(&hsm, &["KEYRITE_PIN"]);
    let dir = tempfile::tempdir().unwrap();
    let ceremony = note_ceremony(dir.path());
    // y confirms the hash; Enter is ignored with one role unconfirmed; 1 2 Enter runs step 1;
    // Enter leaves its result; at step 2, x and a text record an exception; q leaves.
    let keys = "y1\n2\n\nxtoken dropped\nq";
    let ui = ui(keys);
    let result = keyrite::tui::run_ceremony(Rc::clone(&ui), ceremony, None);
    let err = result.err().expect("the exception stops the ceremony");
    assert!(err.to_string().contains("token dropped"), "{err}");
    let transcript = fs::read_to_string(dir.path().join("out").join(TRANSCRIPT)).unwrap();
    let kinds: Vec<String> = transcript
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        ["start", "begin", "step", "exception"],
        "{transcript}"
    );
    assert!(
        transcript.contains("\"confirmed_by\":[\"administrator\",\"witness\"]"),
        "{transcript}"
    );
    assert!(transcript.contains("token dropped"));
    // The stop names the transcript's head for the paper log: its size and its last line's hash.
    let last = transcript.lines().last().unwrap();
    let words = keyrite::fingerprint::Fingerprint::of(last.as_bytes()).words()[..8].join(" ");
    assert!(
        err.to_string().contains("The transcript has 4 entries")
            && err.to_string().contains(&words),
        "{err}"
    );
    // The end screen says the ceremony stopped and resumes.
    let screen = {
        let ui = ui.borrow();
        let buffer = ui.terminal.backend().buffer().clone();
        (0..24u16)
            .map(|y| {
                (0..80u16)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        screen.contains("The ceremony stopped") && screen.contains("resume"),
        "{screen}"
    );
}

/// The screen `ui` shows now, a line per row.
fn shown_screen(ui: &Rc<RefCell<Ui<TestBackend, ScriptedKeys>>>) -> String {
    let ui = ui.borrow();
    let buffer = ui.terminal.backend().buffer().clone();
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A delegate issuance's step screen shows what the root will sign, as the library worked it
/// out before anyone confirms: the subject in ASCII (its Cyrillic letter marked, not drawn),
/// the warning about it, and the key's SHA-256 as words; the roles stay in view while the
/// officers scroll to the end.
#[test]
fn a_delegate_step_shows_the_escaped_subject_and_the_key_words_before_it_is_confirmed() {
    use der::Encode;
    use keyrite::ca::delegate::{DelegateRequest, plan_delegate};
    use keyrite::ceremony::engine::Confirmer;
    use keyrite::ceremony::script::{Action, Step};
    use keyrite::fingerprint::Fingerprint;
    use keyrite::keys::memory::MemoryKey;
    use keyrite::keys::{KeyAlgorithm, KeySigner};
    use keyrite::tui::TuiConfirmer;
    use ratatui::crossterm::event::{KeyCode, KeyEvent};

    let dir = tempfile::tempdir().unwrap();
    let root = common::memory_root::MemoryRoot::named("Preview Root");
    let root_cert = dir.path().join("root.crt");
    fs::write(&root_cert, &root.der).unwrap();
    let publisher = MemoryKey::generate(KeyAlgorithm::P256).unwrap();
    // "Exаmple" with a Cyrillic а (U+0430).
    let subject = keyrite::pki::name::parse_subject(
        "C=US,ST=WA,O=Ex\u{0430}mple Publisher,CN=release-signer",
    )
    .unwrap();
    let csr = dir.path().join("publisher.csr");
    fs::write(
        &csr,
        keyrite::pki::csr::build_csr(&subject, &publisher).unwrap(),
    )
    .unwrap();
    let token = "pkcs11:token=never-opened".parse().unwrap();
    let plan = plan_delegate(&DelegateRequest {
        token: &token,
        module: None,
        root_cert: &root_cert,
        csr: &csr,
        kind: keyrite::pki::profile::DelegateKind::Signing,
        validity: "90d".parse().unwrap(),
        crl_url: Some("http://crl.example.internal/root.crl"),
        ledger: &dir.path().join("ledger"),
        out_dir: &dir.path().join("issued"),
        allow_shared_subject: false,
        allow_shared_key: false,
    })
    .unwrap();
    let key = Fingerprint::of(&publisher.public_key().to_spki().unwrap().to_der().unwrap());

    let ceremony = note_ceremony(dir.path());
    let step = Step {
        title: "Issue the publisher's certificate".into(),
        instruction: "Compare the key's words with the publisher's, read aloud.".into(),
        action: Action::DelegateIssue,
        confirm: vec!["administrator".into(), "witness".into()],
        with: Default::default(),
    };
    // Each screen: the step screen after `keys`; the keys then run out, which stops the step.
    let screen_after = |keys: Vec<KeyCode>| {
        let ui = Rc::new(RefCell::new(Ui::new(
            Terminal::new(TestBackend::new(80, 24)).unwrap(),
            ScriptedKeys(keys.into_iter().map(KeyEvent::from).collect()),
        )));
        let mut confirmer = TuiConfirmer::new(Rc::clone(&ui), &ceremony);
        assert!(confirmer.confirm_step(1, &step, plan.lines()).is_err());
        shown_screen(&ui)
    };
    let top = screen_after(Vec::new());
    assert!(
        top.contains("subject:  C=US, ST=WA, O=Ex\\u{0430}mple Publisher, CN=release-signer")
            && !top.contains('\u{0430}'),
        "{top}"
    );
    assert!(top.contains("What the root will sign"), "{top}");
    assert!(top.contains("Up/Down scroll"), "{top}");
    let scrolled = screen_after(vec![KeyCode::Char('1'), KeyCode::PageDown]);
    // The words in order, however the screen wraps them.
    let on_screen: Vec<&str> = scrolled
        .split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .collect();
    assert!(
        on_screen.windows(32).any(|w| w == key.words()),
        "the key's words are not on the screen:\n{scrolled}"
    );
    assert!(
        scrolled.contains("mixes Latin and Cyrillic") || top.contains("mixes Latin and Cyrillic"),
        "{top}\n{scrolled}"
    );
    assert!(
        scrolled.contains("1 [x] administrator") && scrolled.contains("2 [ ] witness"),
        "{scrolled}"
    );
}
