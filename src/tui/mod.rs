//! The terminal UI: a view over the ceremony engine. It draws the screens in [`screens`] and
//! turns key presses into the engine's confirmations; every operation is the library's. It
//! never does an operation itself: it asks and shows.

mod confirmer;
pub mod screens;

pub use confirmer::TuiConfirmer;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;

use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::{Frame, Terminal};
use zeroize::Zeroizing;

use crate::ceremony::CeremonyError;
use crate::ceremony::engine::{Ceremony, Confirmer, Finished};

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

/// Runs a ceremony on `ui` to the end, then shows where its records are until `q`.
pub fn run_ceremony<B: Backend + 'static, K: Keys + 'static>(
    ui: Rc<RefCell<Ui<B, K>>>,
    ceremony: Ceremony,
    opening: Option<&str>,
) -> Result<Finished, CeremonyError> {
    run_ceremony_then(ui, ceremony, opening, None)
}

/// What runs after a ceremony finished, before its last screen: its lines are shown there,
/// and its failure stops the ceremony's run as a failed step would.
pub type Epilogue<'a> = &'a dyn Fn(&Finished) -> Result<Vec<String>, CeremonyError>;

/// [`run_ceremony`], with `epilogue` run once the ceremony finished (a rehearsal plays the
/// site's side there) and its lines shown on the last screen.
pub fn run_ceremony_then<B: Backend + 'static, K: Keys + 'static>(
    ui: Rc<RefCell<Ui<B, K>>>,
    mut ceremony: Ceremony,
    opening: Option<&str>,
    epilogue: Option<Epilogue<'_>>,
) -> Result<Finished, CeremonyError> {
    let mut confirmer = TuiConfirmer::new(Rc::clone(&ui), &ceremony);
    if let Some(text) = opening {
        confirmer.notice(text);
    }
    let mut result = ceremony.run(&mut confirmer);
    let mut after = Vec::new();
    if let (Ok(done), Some(epilogue)) = (&result, epilogue) {
        match epilogue(done) {
            Ok(lines) => after = lines,
            Err(e) => result = Err(e),
        }
    }
    let title = if result.is_ok() {
        "Ceremony finished"
    } else {
        "Ceremony stopped"
    };
    let mut lines = match &result {
        Ok(done) => {
            let mut lines = vec![
                format!("Transcript: {}", done.transcript.display()),
                format!("Signature:  {}", done.signature.display()),
                format!("Summary:    {}", done.summary.display()),
                String::new(),
                "Verify anywhere with: keyrite transcript verify <transcript> --root-cert <root.crt>"
                    .into(),
            ];
            if !after.is_empty() {
                lines.push(String::new());
                lines.append(&mut after);
            }
            lines
        }
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
