//! The terminal UI: a view over the ceremony engine. It draws the screens in [`screens`] and
//! turns key presses into the engine's confirmations; every operation is the library's.

pub mod screens;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::{Frame, Terminal};
use zeroize::Zeroizing;

use crate::ceremony::CeremonyError;
use crate::ceremony::actions::StepOutcome;
use crate::ceremony::engine::{Ceremony, Confirmer, Finished};
use crate::ceremony::script::{Action, Script, Step};
use crate::fingerprint::Fingerprint;

/// Where key presses come from: the terminal, or a list in the tests.
pub trait Keys {
    /// The next key press.
    fn next_key(&mut self) -> io::Result<KeyEvent>;
    /// Drops keys typed ahead, before a screen that confirms or takes a secret.
    fn drain(&mut self) {}
}

/// Key presses from the terminal (crossterm).
pub struct TerminalKeys;

impl Keys for TerminalKeys {
    fn drain(&mut self) {
        while event::poll(std::time::Duration::ZERO).unwrap_or(false) {
            if event::read().is_err() {
                break;
            }
        }
    }

    fn next_key(&mut self) -> io::Result<KeyEvent> {
        loop {
            if let Event::Key(k) = event::read()?
                && k.kind == KeyEventKind::Press
            {
                return Ok(k);
            }
        }
    }
}

/// Key presses given in advance; running out is an error, so a test never hangs.
pub struct ScriptedKeys(pub VecDeque<KeyEvent>);

impl ScriptedKeys {
    /// Keys from text: each character a key, `\n` Enter, `\x1b` Esc.
    pub fn from_text(text: &str) -> Self {
        Self(
            text.chars()
                .map(|c| match c {
                    '\n' => KeyEvent::from(KeyCode::Enter),
                    '\x1b' => KeyEvent::from(KeyCode::Esc),
                    c => KeyEvent::from(KeyCode::Char(c)),
                })
                .collect(),
        )
    }
}

impl Keys for ScriptedKeys {
    fn next_key(&mut self) -> io::Result<KeyEvent> {
        self.0
            .pop_front()
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no more keys"))
    }
}

/// A terminal and its keys.
pub struct Ui<B: Backend, K: Keys> {
    /// The terminal (a TestBackend in the tests).
    pub terminal: Terminal<B>,
    keys: K,
}

impl<B: Backend, K: Keys> Ui<B, K> {
    /// A UI over `terminal` reading `keys`.
    pub fn new(terminal: Terminal<B>, keys: K) -> Self {
        Self { terminal, keys }
    }

    fn draw(&mut self, render: impl FnOnce(&mut Frame<'_>)) -> io::Result<()> {
        self.terminal
            .draw(render)
            .map(drop)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Draws `render` and waits for a key; `?` shows the help first.
    fn ask(&mut self, render: impl Fn(&mut Frame<'_>)) -> io::Result<KeyEvent> {
        loop {
            self.draw(&render)?;
            let key = self.keys.next_key()?;
            if key.code == KeyCode::Char('?') {
                self.draw(screens::help)?;
                self.keys.next_key()?;
                continue;
            }
            return Ok(key);
        }
    }

    /// Lets the user pick one of `items`; `None` on `q`.
    pub fn pick(&mut self, title: &str, items: &[String]) -> io::Result<Option<usize>> {
        let mut selected = 0;
        loop {
            let key = self.ask(|f| screens::picker(f, title, items, selected))?;
            match key.code {
                KeyCode::Up => selected = selected.saturating_sub(1),
                KeyCode::Down => selected = (selected + 1).min(items.len().saturating_sub(1)),
                KeyCode::Enter if !items.is_empty() => return Ok(Some(selected)),
                KeyCode::Char('q') => return Ok(None),
                _ => {}
            }
        }
    }

    fn secret(&mut self, prompt: &str) -> Result<Zeroizing<String>, String> {
        self.keys.drain();
        let mut typed = Zeroizing::new(String::new());
        loop {
            self.draw(|f| screens::secret(f, prompt, typed.chars().count()))
                .map_err(|e| e.to_string())?;
            let key = self.keys.next_key().map_err(|e| e.to_string())?;
            if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
                return Err("the entry was cancelled".into());
            }
            match key.code {
                KeyCode::Enter => return Ok(typed),
                KeyCode::Esc => return Err("the entry was cancelled".into()),
                KeyCode::Backspace => {
                    typed.pop();
                }
                KeyCode::Char(c) if key_is_plain(&key) => typed.push(c),
                _ => {}
            }
        }
    }
}

/// A key without Ctrl or Alt: text, not a command.
fn key_is_plain(key: &KeyEvent) -> bool {
    !key.modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::Note => "nothing is computed; the roles confirm the instruction was followed",
        Action::RootCreate => {
            "the root key and certificate are made; a backed-up root is split onto share cards and imported into the tokens"
        }
        Action::SharesVerify => "every share card is checked against the root, none combined",
        Action::RecoverVerify => {
            "threshold cards are combined in memory to prove they recover the root key; nothing is imported"
        }
        Action::RootRecover => {
            "the root key is recovered from the cards on the input medium into the root token"
        }
        Action::PublisherKey => "a stand-in publisher key and CSR are made (rehearsal only)",
        Action::DelegateIssue => {
            "the publisher's CSR is checked and signed by the root on the token"
        }
        Action::CrlIssue => "a CRL is signed by the root, revoking the named delegates",
        Action::BundleTrust => "a trust bundle for air-gapped sites is signed by the root",
        Action::BundleRevocation => {
            "a revocation bundle carrying the newest CRL is signed by the root"
        }
    }
}

/// The engine's confirmations, asked on the screen.
pub struct TuiConfirmer<B: Backend, K: Keys> {
    ui: Rc<RefCell<Ui<B, K>>>,
    total: usize,
    out: PathBuf,
    roles: std::collections::BTreeMap<String, String>,
    rehearsal: bool,
}

impl<B: Backend + 'static, K: Keys + 'static> TuiConfirmer<B, K> {
    /// Confirms through `ui`, and routes PIN and passphrase prompts to its masked entry screen.
    pub fn new(ui: Rc<RefCell<Ui<B, K>>>, ceremony: &Ceremony) -> Self {
        let total = ceremony.script.steps.len();
        let out = ceremony.profile.output.as_path();
        let for_secrets = Rc::clone(&ui);
        crate::sys::prompt::set_secret_prompt(Box::new(move |prompt| {
            for_secrets.borrow_mut().secret(prompt)
        }));
        Self {
            ui,
            total,
            out: out.to_owned(),
            roles: ceremony.script.roles.clone(),
            rehearsal: ceremony.profile.rehearsal,
        }
    }
}

impl<B: Backend, K: Keys> Confirmer for TuiConfirmer<B, K> {
    fn confirm_script(&mut self, script: &Script, hash: &Fingerprint) -> Option<Vec<String>> {
        let words = hash.words();
        let rehearsal = self.rehearsal;
        loop {
            let key = self
                .ui
                .borrow_mut()
                .ask(|f| {
                    screens::script_hash(
                        f,
                        &script.name,
                        &script.title,
                        &hash.hex(),
                        &words,
                        rehearsal,
                    )
                })
                .ok()?;
            match key.code {
                KeyCode::Char('y') => {
                    let admin = script.roles.keys().find(|r| r.as_str() == "administrator");
                    return Some(
                        admin
                            .or_else(|| script.roles.keys().next())
                            .cloned()
                            .into_iter()
                            .collect(),
                    );
                }
                KeyCode::Char('n') => return None,
                _ => {}
            }
        }
    }

    fn confirm_step(&mut self, n: usize, step: &Step) -> Result<Vec<String>, String> {
        let mut roles: Vec<(String, String, bool)> = step
            .confirm
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    self.roles.get(r).cloned().unwrap_or_default(),
                    false,
                )
            })
            .collect();
        let mut ui = self.ui.borrow_mut();
        ui.keys.drain();
        loop {
            let key = ui
                .ask(|f| {
                    screens::step(
                        f,
                        n,
                        self.total,
                        &step.title,
                        &step.instruction,
                        describe(step.action),
                        &roles,
                    )
                })
                .map_err(|e| e.to_string())?;
            match key.code {
                KeyCode::Char(c @ '1'..='9') => {
                    if let Some(role) = roles.get_mut(usize::from(c as u8 - b'1')) {
                        role.2 = !role.2;
                    }
                }
                KeyCode::Enter if roles.iter().all(|r| r.2) => {
                    ui.draw(|f| screens::working(f, n, self.total, &step.title))
                        .map_err(|e| e.to_string())?;
                    return Ok(roles.into_iter().map(|r| r.0).collect());
                }
                KeyCode::Char('x') => {
                    let mut text = String::new();
                    loop {
                        ui.draw(|f| screens::exception(f, n, &text))
                            .map_err(|e| e.to_string())?;
                        match ui.keys.next_key().map_err(|e| e.to_string())?.code {
                            KeyCode::Enter if !text.trim().is_empty() => return Err(text),
                            KeyCode::Esc => break,
                            KeyCode::Backspace => {
                                text.pop();
                            }
                            KeyCode::Char(c) => text.push(c),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn step_done(&mut self, n: usize, step: &Step, outcome: &StepOutcome) {
        let mut ui = self.ui.borrow_mut();
        for card in outcome
            .outputs
            .iter()
            .filter(|a| a.role == "share-card" && a.path.ends_with(".png"))
        {
            let path = self.out.join(&card.path);
            let text = crate::shares::card::read_share_text(&path).ok();
            let qr = text
                .as_deref()
                .and_then(|t| crate::shares::card::qr_modules(t).ok())
                .map(|(width, modules)| (width, Zeroizing::new(modules)));
            let typed: Zeroizing<Vec<String>> = match &text {
                Some(t) => crate::shares::text::typed_lines(t),
                None => Zeroizing::new(Vec::new()),
            };
            let stem = Path::new(&card.path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            // share-2-of-5-bob → "2 of 5", "bob".
            let mut parts = stem.splitn(5, '-').skip(1);
            let index = format!(
                "{} of {}",
                parts.next().unwrap_or("?"),
                parts.nth(1).unwrap_or("?")
            );
            let custodian = parts.next().unwrap_or("?").to_owned();
            // A cleared screen first: the card appears only when its custodian alone looks.
            ui.keys.drain();
            loop {
                let next = format!(
                    "Next: the share card for {custodian}. Everyone else looks away; {custodian} presses Enter."
                );
                let key = ui.ask(|f| screens::notice(f, "Share card", &next));
                if !matches!(key, Ok(k) if k.code != KeyCode::Enter) {
                    break;
                }
            }
            loop {
                let key = ui.ask(|f| {
                    screens::card(
                        f,
                        &custodian,
                        &index,
                        qr.as_ref().map(|(w, m)| (*w, m.as_slice())),
                        &typed,
                    )
                });
                if !matches!(key, Ok(k) if k.code != KeyCode::Enter) {
                    break;
                }
            }
        }
        let outputs: Vec<(String, Vec<String>)> = outcome
            .outputs
            .iter()
            .map(|a| {
                let words = Fingerprint::parse(&a.sha256)
                    .map(|f| f.words()[..4].to_vec())
                    .unwrap_or_default();
                (a.path.clone(), words)
            })
            .collect();
        loop {
            let key = ui.ask(|f| {
                screens::result(f, n, self.total, &step.title, &outcome.summary, &outputs)
            });
            if !matches!(key, Ok(k) if k.code != KeyCode::Enter) {
                break;
            }
        }
    }

    fn notice(&mut self, text: &str) {
        let mut ui = self.ui.borrow_mut();
        loop {
            let key = ui.ask(|f| screens::notice(f, "Notice", text));
            if !matches!(key, Ok(k) if k.code != KeyCode::Enter) {
                break;
            }
        }
    }
}

/// Runs a ceremony on `ui` to the end, then shows where its records are until `q`.
pub fn run_ceremony<B: Backend + 'static, K: Keys + 'static>(
    ui: Rc<RefCell<Ui<B, K>>>,
    mut ceremony: Ceremony,
    opening: Option<&str>,
) -> Result<Finished, CeremonyError> {
    let mut confirmer = TuiConfirmer::new(Rc::clone(&ui), &ceremony);
    if let Some(text) = opening {
        confirmer.notice(text);
    }
    let result = ceremony.run(&mut confirmer);
    let title = if result.is_ok() {
        "Ceremony finished"
    } else {
        "Ceremony stopped"
    };
    let mut lines = match &result {
        Ok(done) => vec![
            format!("Transcript: {}", done.transcript.display()),
            format!("Signature:  {}", done.signature.display()),
            format!("Summary:    {}", done.summary.display()),
            String::new(),
            "Verify anywhere with: keyrite transcript verify <transcript> --root-cert <root.crt>"
                .into(),
        ],
        Err(e) => vec![
            format!("The ceremony stopped: {e}"),
            String::new(),
            "Open it again to resume at the same step.".into(),
        ],
    };
    if let Some(device) = &ceremony.profile.output_device {
        lines.push(String::new());
        lines.push(format!(
            "The output medium ({device}) is synced and unmounted when you press q: remove it only then."
        ));
    }
    loop {
        let key = ui.borrow_mut().ask(|f| screens::finished(f, title, &lines));
        if !matches!(key, Ok(k) if k.code != KeyCode::Char('q')) {
            break;
        }
    }
    result
}
