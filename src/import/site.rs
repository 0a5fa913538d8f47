//! Where keyrite-import installs, where it keeps its state, and which roots the site pins.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ImportError;
use super::pins::{OnExpiry, Pin};
use crate::fingerprint::Fingerprint;
use crate::sys::dirs;

/// One notation configuration to install into (one per user or service account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `{NOTATION_CONFIG}`: trust store and trust policy.
    pub config: PathBuf,
    /// `{NOTATION_CACHE}`: the CRL cache.
    pub cache: PathBuf,
}

impl Target {
    /// How the installed record names `path`: `config/…` or `cache/…`, relative to this
    /// target's directories, so that a host restored under other paths keeps its record.
    pub fn key(&self, path: &Path) -> Option<String> {
        let (root, rel) = path
            .strip_prefix(&self.config)
            .map(|r| ("config", r))
            .or_else(|_| path.strip_prefix(&self.cache).map(|r| ("cache", r)))
            .ok()?;
        Some(format!("{root}/{}", rel.to_str()?))
    }

    /// The path in this target of a file the installed record names by `key`.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        let (root, rel) = key.split_once('/')?;
        let rel = Path::new(rel);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return None;
        }
        match root {
            "config" => Some(self.config.join(rel)),
            "cache" => Some(self.cache.join(rel)),
            _ => None,
        }
    }
}

/// The site: targets, state directory, pins from a site config, and the file modes.
#[derive(Clone, Debug)]
pub struct Site {
    /// Every notation configuration to install into.
    pub targets: Vec<Target>,
    /// keyrite-import's own state: installed record, pins, log, journal.
    pub state: PathBuf,
    /// The pins of the site config; `None` when pins are kept in the state.
    pub config_pins: Option<Vec<Pin>>,
    /// Install files read-only (0444) rather than 0644.
    pub read_only: bool,
}

/// The options every keyrite-import command takes.
#[derive(Clone, Debug, Default)]
pub struct SiteOptions {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--notation-config`.
    pub notation_config: Option<PathBuf>,
    /// `--notation-cache`.
    pub notation_cache: Option<PathBuf>,
    /// `--state`.
    pub state: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    state: Option<PathBuf>,
    /// The form before pins named lineages and scopes; refused with what to write instead.
    pins: Option<toml::Value>,
    #[serde(default, rename = "pin")]
    pin_tables: Vec<PinTable>,
    read_only: Option<bool>,
    #[serde(default, rename = "target")]
    targets: Vec<TargetFile>,
}

/// A `[[pin]]` table: `root`, `lineage` (the root's own fingerprint when absent), `scopes`
/// and `on_expiry`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinTable {
    root: String,
    lineage: Option<String>,
    scopes: Vec<String>,
    #[serde(default)]
    on_expiry: OnExpiry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    notation_config: PathBuf,
    notation_cache: PathBuf,
}

/// The user's base directory, or why there is none.
fn user_dir(xdg: &str, fallback: &str) -> Result<PathBuf, ImportError> {
    dirs::user_dir(xdg, fallback).map_err(|e| {
        ImportError::Site(format!(
            "{e}: give --notation-config, --notation-cache and --state"
        ))
    })
}

fn absolute(path: PathBuf, what: &str) -> Result<PathBuf, ImportError> {
    if path.is_absolute() {
        return Ok(path);
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .map_err(|e| ImportError::Site(format!("cannot resolve the {what} directory: {e}")))
}

impl Site {
    /// Resolves the site from a site config file, or from flags, notation's environment
    /// variables and the user's directories.
    pub fn resolve(opts: &SiteOptions) -> Result<Self, ImportError> {
        if let Some(path) = &opts.config {
            if opts.notation_config.is_some() || opts.notation_cache.is_some() {
                return Err(ImportError::Site(
                    "--config names the targets: leave out --notation-config and --notation-cache"
                        .into(),
                ));
            }
            return Self::from_file(path, opts.state.clone());
        }
        let config = match &opts.notation_config {
            Some(p) => p.clone(),
            None => dirs::notation_config().map_err(|e| {
                ImportError::Site(format!(
                    "{e}: give --notation-config, --notation-cache and --state"
                ))
            })?,
        };
        let cache = match &opts.notation_cache {
            Some(p) => p.clone(),
            None => dirs::env_dir("NOTATION_CACHE").map_or_else(
                || user_dir("XDG_CACHE_HOME", ".cache").map(|d| d.join("notation")),
                Ok,
            )?,
        };
        let state = match &opts.state {
            Some(p) => p.clone(),
            None => user_dir("XDG_STATE_HOME", ".local/state")?.join("keyrite-import"),
        };
        Ok(Self {
            targets: vec![Target {
                config: absolute(config, "notation config")?,
                cache: absolute(cache, "notation cache")?,
            }],
            state: absolute(state, "state")?,
            config_pins: None,
            read_only: false,
        })
    }

    fn from_file(path: &Path, state_flag: Option<PathBuf>) -> Result<Self, ImportError> {
        let bad = |m: String| ImportError::Site(format!("site config {}: {m}", path.display()));
        // A site config is a page of TOML.
        let bytes = crate::sys::input::read(path, 1024 * 1024, crate::sys::input::Links::Follow)
            .map_err(|e| bad(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
        let file: SiteFile =
            toml::from_str(&text).map_err(|e| bad(crate::sys::input::toml_error(&text, &e)))?;
        let state = state_flag.or(file.state).ok_or_else(|| {
            bad("it names no state directory (state = \"/var/lib/keyrite-import\")".into())
        })?;
        if file.targets.is_empty() {
            return Err(bad(
                "it names no [[target]] (notation_config and notation_cache)".into(),
            ));
        }
        if file.pins.is_some() {
            return Err(bad(
                "pins = [...] bound no lineage and granted no registry: write one [[pin]] table per lineage, with root = \"<fingerprint>\", lineage = \"<fingerprint>\" (when the root is a successor) and scopes = [\"registry.example/team/\"]".into(),
            ));
        }
        let mut pins: Vec<Pin> = Vec::new();
        for t in file.pin_tables {
            let root = Fingerprint::parse(&t.root)
                .map_err(|e| bad(format!("pin root '{}': {e}", t.root)))?
                .hex();
            let lineage = match &t.lineage {
                Some(l) => Fingerprint::parse(l)
                    .map_err(|e| bad(format!("pin lineage '{l}': {e}")))?
                    .hex(),
                None => root.clone(),
            };
            let pin = Pin {
                lineage,
                root,
                scopes: t.scopes,
                on_expiry: t.on_expiry,
            };
            pin.check(&pins)
                .map_err(|e| bad(format!("pin of root {}: {e}", pin.root)))?;
            if pins.iter().any(|p| p.lineage == pin.lineage) {
                return Err(bad(format!("lineage {} is pinned twice", pin.lineage)));
            }
            pins.push(pin);
        }
        if pins.is_empty() {
            return Err(bad("it pins no lineage: add a [[pin]] table".into()));
        }
        let mut targets = Vec::new();
        for t in file.targets {
            if !t.notation_config.is_absolute() || !t.notation_cache.is_absolute() {
                return Err(bad("target directories must be absolute paths".into()));
            }
            let target = Target {
                config: t.notation_config,
                cache: t.notation_cache,
            };
            if targets.contains(&target) {
                return Err(bad(format!(
                    "target {} is listed twice",
                    target.config.display()
                )));
            }
            targets.push(target);
        }
        if !state.is_absolute() {
            return Err(bad("the state directory must be an absolute path".into()));
        }
        Ok(Self {
            targets,
            state,
            config_pins: Some(pins),
            read_only: file.read_only.unwrap_or(true),
        })
    }

    /// The mode of installed files.
    pub fn file_mode(&self) -> u32 {
        if self.read_only { 0o444 } else { 0o644 }
    }
}
