//! keyrite with no command: the terminal UI, picking a ceremony script and a profile.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use keyrite::ceremony::engine::{Ceremony, Finished};
use keyrite::tui::{TerminalKeys, Ui};

/// Runs `ceremony` in the terminal UI on the real terminal, then `epilogue` before its last
/// screen, restoring the terminal afterwards.
pub(crate) fn run_tui(
    ceremony: Ceremony,
    opening: Option<&str>,
    epilogue: Option<keyrite::tui::Epilogue<'_>>,
) -> Result<Finished, keyrite::Error> {
    let terminal = ratatui::try_init()
        .map_err(|e| keyrite::Error::Usage(format!("the terminal UI needs a terminal: {e}")))?;
    let ui = Rc::new(RefCell::new(Ui::new(terminal, TerminalKeys)));
    let result = keyrite::tui::run_ceremony_then(ui, ceremony, opening, epilogue);
    ratatui::restore();
    result.map_err(keyrite::Error::from)
}

/// The `*.toml` files in the first of `dirs` that has any.
fn toml_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        if !files.is_empty() {
            files.sort();
            return files;
        }
    }
    Vec::new()
}

/// `keyrite` with no command: pick a script and a profile in the terminal UI, then run it.
pub(crate) fn pick_and_run() -> Result<ExitCode, keyrite::Error> {
    let env_dir = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let scripts = toml_files(
        &[
            env_dir("KEYRITE_SCRIPTS"),
            Some("/usr/share/keyrite/ceremony-scripts".into()),
            Some("ceremony-scripts".into()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>(),
    );
    let profiles = toml_files(
        &[
            env_dir("KEYRITE_PROFILES"),
            Some("/etc/keyrite/profiles".into()),
            Some("profiles".into()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>(),
    );
    if scripts.is_empty() || profiles.is_empty() {
        return Err(keyrite::Error::Usage(
            "no ceremony scripts or profiles found: set KEYRITE_SCRIPTS and KEYRITE_PROFILES to their directories, or run `keyrite rehearse` (see keyrite --help)".into(),
        ));
    }
    let names = |files: &[PathBuf]| {
        files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    };
    let terminal = ratatui::try_init()
        .map_err(|e| keyrite::Error::Usage(format!("the terminal UI needs a terminal: {e}")))?;
    let ui = Rc::new(RefCell::new(Ui::new(terminal, TerminalKeys)));
    let picked = (|| -> std::io::Result<Option<(usize, usize)>> {
        let mut ui = ui.borrow_mut();
        let Some(s) = ui.pick("Ceremony script", &names(&scripts))? else {
            return Ok(None);
        };
        let Some(p) = ui.pick("Environment profile", &names(&profiles))? else {
            return Ok(None);
        };
        Ok(Some((s, p)))
    })();
    let result = match picked {
        Ok(Some((s, p))) => Ceremony::open(&scripts[s], &profiles[p])
            .and_then(|c| keyrite::tui::run_ceremony(Rc::clone(&ui), c, None))
            .map(drop)
            .map_err(keyrite::Error::from),
        Ok(None) => Ok(()),
        Err(e) => Err(keyrite::Error::Usage(format!("terminal: {e}"))),
    };
    ratatui::restore();
    result.map(|()| ExitCode::SUCCESS)
}
