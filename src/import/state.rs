//! keyrite-import's own record of what it installed, the pins, the lock, and the log.
//!
//! `installed.json` is rewritten only as the last step of an install's journal, so it always
//! describes the files notation sees. `log.jsonl` is append-only.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ImportError;
use super::pins::{OnExpiry, Pin};
use super::site::Target;
use crate::fingerprint::Fingerprint;
use crate::sys::input::Links;

/// The installed record's file name.
pub const INSTALLED: &str = "installed.json";
const PINS: &str = "pins.json";
/// The notation configuration and cache this state serves.
const SERVES: &str = "serves.json";
const LOG: &str = "log.jsonl";
const LOCK: &str = "lock";
const STATE_VERSION: u32 = 2;
/// The installed record holds roots and statements, never CRLs: far below this.
const MAX_INSTALLED_BYTES: u64 = 64 * 1024 * 1024;
const MAX_PINS_BYTES: u64 = 4 * 1024 * 1024;
const PINS_VERSION: u32 = 2;

/// `pins.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinFile {
    version: u32,
    pins: Vec<Pin>,
}

/// A root as installed: its fingerprint and DER (base64).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledCert {
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// The DER, standard base64.
    pub der: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
}

/// A CRL as installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledCrl {
    /// SHA-256 of the issuing root's DER, hex.
    pub issuer: String,
    /// SHA-256 of the CRL's DER, hex.
    pub sha256: String,
    /// nextUpdate (RFC 3339).
    pub next_update: String,
    /// The CDP URLs it answers for.
    pub urls: Vec<String>,
    /// The third party whose CRL it is, when it is not the lineage's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_party: Option<String>,
}

/// A third party's root a lineage's trust bundle vouches for, as installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledThirdParty {
    /// Its name.
    pub name: String,
    /// Its root.
    pub root: InstalledCert,
    /// Its timestamping root, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa_root: Option<InstalledCert>,
    /// The repositories it is trusted for.
    pub registry_scopes: Vec<String>,
    /// The identities its signing certificates must match.
    pub trusted_identities: Vec<String>,
    /// The CDP URLs its CRLs may fill.
    #[serde(default)]
    pub crl_urls: Vec<String>,
    /// The name of the trust policy statement that trusts it.
    pub statement: String,
}

/// One installed bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledBundle {
    /// The bundle's version.
    pub version: u64,
    /// SHA-256 of the bundle file, hex.
    pub bundle_sha256: String,
    /// issued_at.
    pub issued_at: String,
    /// expires_at.
    pub expires_at: String,
    /// When it was installed.
    pub installed_at: String,
    /// Roots (trust bundles).
    #[serde(default)]
    pub roots: Vec<InstalledCert>,
    /// TSA roots (trust bundles).
    #[serde(default)]
    pub tsa_roots: Vec<InstalledCert>,
    /// Trust policy statements as installed, notation's JSON (trust bundles).
    #[serde(default)]
    pub policy: Vec<serde_json::Value>,
    /// CRLs (revocation bundles).
    #[serde(default)]
    pub crls: Vec<InstalledCrl>,
    /// The CDP URLs the lineage declared (trust bundles): the only ones its revocation
    /// bundles may fill.
    #[serde(default)]
    pub crl_urls: Vec<String>,
    /// The third parties it vouches for (trust bundles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub third_parties: Vec<InstalledThirdParty>,
}

/// A root a trust bundle dropped from its lineage: it never speaks for the lineage again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// SHA-256 of the root's DER, hex.
    pub sha256: String,
    /// The trust bundle version that dropped it.
    pub by_version: u64,
}

/// What is installed for one lineage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// The trust bundle in force.
    pub trust: Option<InstalledBundle>,
    /// The revocation bundle in force.
    pub revocation: Option<InstalledBundle>,
    /// Every root the lineage has dropped.
    #[serde(default)]
    pub retired: Vec<Retired>,
    /// When `keyrite-import enforce` turned the lineage's statements into refusals, because
    /// its trust bundle expired; cleared by the next trust bundle.
    #[serde(default)]
    pub enforced_at: Option<String>,
}

/// Everything keyrite-import installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The record's format.
    pub version: u32,
    /// By lineage fingerprint (hex).
    pub lineages: BTreeMap<String, Lineage>,
    /// Every file keyrite-import wrote whole in each target (`config/…` or `cache/…`,
    /// relative to the target's directories), with its SHA-256; trust policy files excepted,
    /// as they hold the user's statements too.
    pub files: BTreeMap<String, String>,
    /// The trust policy files keyrite-import merged statements into, named the same way.
    #[serde(default)]
    pub policy_files: Vec<String>,
}

impl Default for Installed {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            lineages: BTreeMap::new(),
            files: BTreeMap::new(),
            policy_files: Vec::new(),
        }
    }
}

/// Names format 1's absolute paths as format 2 does; a path outside every target is dropped
/// (nothing keyrite-import installed is there for it to manage).
fn migrate(installed: &mut Installed, targets: &[Target]) {
    let key = |p: &String| targets.iter().find_map(|t| t.key(Path::new(p)));
    installed.files = std::mem::take(&mut installed.files)
        .into_iter()
        .filter_map(|(p, h)| key(&p).map(|k| (k, h)))
        .collect();
    let mut policy: Vec<String> = installed.policy_files.iter().filter_map(key).collect();
    policy.sort();
    policy.dedup();
    installed.policy_files = policy;
    installed.version = STATE_VERSION;
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |e| ImportError::State(super::io_message(path, &e))
}

/// A state file's content, `None` when there is none; never more than `max` bytes read, and
/// never through a link.
fn read(path: &Path, max: u64) -> Result<Option<Vec<u8>>, ImportError> {
    crate::sys::input::read_if_present(path, max, Links::Refuse)
        .map_err(|e| ImportError::State(format!("{e}: restore it from a backup")))
}

/// `path` relative to `base`, both absolute, lexically (`../config`); std has no such
/// function and the rule is three lines.
fn relative_to(base: &Path, path: &Path) -> String {
    let (b, p): (Vec<_>, Vec<_>) = (base.components().collect(), path.components().collect());
    let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    rel.extend(&p[common..]);
    rel.display().to_string()
}

/// `base` joined with `rel`, `..` taken lexically: the inverse of [`relative_to`].
fn lexical_join(base: &Path, rel: &str) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The state directory, locked for the lifetime of this value.
pub struct State {
    dir: PathBuf,
    /// Exclusive for a command that writes, shared for one that reads; none for a state not
    /// made yet.
    _lock: Option<fs::File>,
}

impl State {
    /// Creates (0700) and locks the state directory; another keyrite-import waits.
    pub fn open(dir: &Path) -> Result<Self, ImportError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        if dir
            .symlink_metadata()
            .map_err(io(dir))?
            .file_type()
            .is_symlink()
        {
            return Err(ImportError::State(format!(
                "{} is a symbolic link: give the state directory itself",
                dir.display()
            )));
        }
        let lock_path = dir.join(LOCK);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| ImportError::State(format!("locking {}: {e}", lock_path.display())))?;
        Ok(Self {
            dir: dir.to_owned(),
            _lock: Some(lock),
        })
    }

    /// Opens the state to read it, for any user who can: nothing is created, and the lock is
    /// shared (a command that writes waits for the readers, and they for it).
    pub fn open_read_only(dir: &Path) -> Result<Self, ImportError> {
        match dir.symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    dir: dir.to_owned(),
                    _lock: None,
                });
            }
            Err(e) => return Err(io(dir)(e)),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ImportError::State(format!(
                    "{} is a symbolic link: give the state directory itself",
                    dir.display()
                )));
            }
            Ok(_) => {}
        }
        let lock_path = dir.join(LOCK);
        let lock = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(&lock_path)
        {
            Ok(f) => {
                rustix::fs::flock(&f, rustix::fs::FlockOperation::LockShared).map_err(|e| {
                    ImportError::State(format!("locking {}: {e}", lock_path.display()))
                })?;
                Some(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&lock_path)(e)),
        };
        Ok(Self {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The installed record (empty before the first install). A record of format 1, which
    /// named files by absolute path, is read with each path made relative to the target
    /// holding it.
    pub fn installed(&self, targets: &[Target]) -> Result<Installed, ImportError> {
        let path = self.dir.join(INSTALLED);
        match read(&path, MAX_INSTALLED_BYTES)? {
            Some(bytes) => {
                let installed: Installed = serde_json::from_slice(&bytes).map_err(|e| {
                    ImportError::State(format!(
                        "{} does not parse ({e}): restore it from a backup",
                        path.display()
                    ))
                })?;
                let mut installed = installed;
                if installed.version == 1 {
                    migrate(&mut installed, targets);
                }
                if installed.version != STATE_VERSION {
                    return Err(ImportError::State(format!(
                        "{} is format {}, this keyrite-import reads {STATE_VERSION}",
                        path.display(),
                        installed.version
                    )));
                }
                Ok(installed)
            }
            None => Ok(Installed::default()),
        }
    }

    /// Refuses `targets` when this state serves other notation directories: what it records
    /// as installed or pinned is theirs. A state that serves none yet is bound to `targets`
    /// when `bind` (a command that writes).
    pub fn check_serves(&self, targets: &[Target], bind: bool) -> Result<(), ImportError> {
        let path = self.dir.join(SERVES);
        // Recorded relative to the state directory: a host restored with its state, config
        // and cache under another common root is still the host this state serves.
        let given: Vec<(String, String)> = targets
            .iter()
            .map(|t| {
                (
                    relative_to(&self.dir, &t.config),
                    relative_to(&self.dir, &t.cache),
                )
            })
            .collect();
        let Some(bytes) = read(&path, 64 * 1024)? else {
            if !bind {
                return Ok(());
            }
            let json = serde_json::to_vec_pretty(&json!({ "version": 1, "serves": given }))
                .map_err(|e| ImportError::State(e.to_string()))?;
            return self.write_file(SERVES, &json);
        };
        #[derive(serde::Deserialize)]
        struct Serves {
            serves: Vec<(String, String)>,
        }
        let serves: Serves = serde_json::from_slice(&bytes)
            .map_err(|e| ImportError::State(format!("{} does not parse ({e})", path.display())))?;
        if serves.serves == given {
            return Ok(());
        }
        let show = |t: &[(String, String)]| {
            t.iter()
                .map(|(c, k)| {
                    format!(
                        "notation config {} and cache {}",
                        lexical_join(&self.dir, c).display(),
                        lexical_join(&self.dir, k).display()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        Err(ImportError::State(format!(
            "the state directory {} serves {}, not {}: what it records as installed and pinned \
             is theirs. Give this notation configuration a state of its own with --state DIR, \
             or name the directories that state serves; if they moved here, remove {} to bind \
             the state to the new place",
            self.dir.display(),
            show(&serves.serves),
            show(&given),
            path.display()
        )))
    }

    /// The pins kept in the state (`keyrite-import pin`). A pin file of format 1 (a list of
    /// fingerprints, which bound no lineage and granted no registry) is read as pins of
    /// lineages that start at those roots and are granted nothing, until pinned again.
    pub fn pins(&self) -> Result<Vec<Pin>, ImportError> {
        let path = self.dir.join(PINS);
        let Some(bytes) = read(&path, MAX_PINS_BYTES)? else {
            return Ok(Vec::new());
        };
        let bad = |e: String| ImportError::State(format!("{} does not parse: {e}", path.display()));
        if let Ok(old) = serde_json::from_slice::<Vec<String>>(&bytes) {
            return old
                .iter()
                .map(|h| {
                    let fp = Fingerprint::parse(h).map_err(&bad)?.hex();
                    Ok(Pin {
                        lineage: fp.clone(),
                        root: fp,
                        scopes: Vec::new(),
                        on_expiry: OnExpiry::Enforce,
                    })
                })
                .collect();
        }
        let file: PinFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if file.version != PINS_VERSION {
            return Err(bad(format!(
                "format {} is not {PINS_VERSION}",
                file.version
            )));
        }
        Ok(file.pins)
    }

    /// Replaces the pins, atomically.
    pub fn write_pins(&self, pins: &[Pin]) -> Result<(), ImportError> {
        let file = PinFile {
            version: PINS_VERSION,
            pins: pins.to_vec(),
        };
        let json =
            serde_json::to_vec_pretty(&file).map_err(|e| ImportError::State(e.to_string()))?;
        self.write_file(PINS, &json)
    }

    /// Replaces the state file `name` with `bytes`: a synced temporary file renamed over it.
    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), ImportError> {
        crate::sys::output::replace_file(&self.dir, name, bytes, crate::sys::output::PRIVATE)
            .map_err(|e| ImportError::State(e.to_string()))
    }

    /// Appends one line to the log and syncs it.
    pub fn log(&self, entry: &serde_json::Value) -> Result<(), ImportError> {
        append_log(&self.dir, entry)
    }
}

/// Appends one line to the log in the state directory `dir` (made 0700 when missing) and
/// syncs it; a line is one write to a file opened for appending, so it needs no lock. The
/// log is refused when it is a link or not a regular file.
pub fn append_log(dir: &Path, entry: &serde_json::Value) -> Result<(), ImportError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    let path = dir.join(LOG);
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&path)
        .map_err(|e| {
            ImportError::State(format!(
                "{}: {e}: the log must be a plain file (not a link)",
                path.display()
            ))
        })?;
    if !file.metadata().map_err(io(&path))?.is_file() {
        return Err(ImportError::State(format!(
            "{} is not a plain file: move it aside",
            path.display()
        )));
    }
    let mut line = serde_json::to_vec(entry).map_err(|e| ImportError::State(e.to_string()))?;
    line.push(b'\n');
    file.write_all(&line).map_err(io(&path))?;
    file.sync_data().map_err(io(&path))
}
