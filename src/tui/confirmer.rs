//! The engine's confirmations asked on the screen: the script's hash, each step's roles, and
//! what each step did.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ratatui::backend::Backend;
use ratatui::crossterm::event::KeyCode;
use zeroize::Zeroizing;

use super::{Keys, Ui, screens};
use crate::ceremony::actions::StepOutcome;
use crate::ceremony::engine::{Ceremony, Confirmer};
use crate::ceremony::script::{Action, Script, Step};
use crate::fingerprint::Fingerprint;

/// What a step's action does, in the words the step screen shows.
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

    fn confirm_step(
        &mut self,
        n: usize,
        step: &Step,
        shown: &[String],
    ) -> Result<Vec<String>, String> {
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
        let mut scroll: u16 = 0;
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
                        shown,
                        scroll,
                        &roles,
                    )
                })
                .map_err(|e| e.to_string())?;
            // Down stops once the last line is at the top.
            let most = u16::try_from(shown.len() + 4).unwrap_or(u16::MAX);
            match key.code {
                KeyCode::Down => scroll = scroll.saturating_add(1).min(most),
                KeyCode::PageDown => scroll = scroll.saturating_add(10).min(most),
                KeyCode::Up => scroll = scroll.saturating_sub(1),
                KeyCode::PageUp => scroll = scroll.saturating_sub(10),
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
