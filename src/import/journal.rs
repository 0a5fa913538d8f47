//! All-or-nothing installs across several directories, by a roll-forward journal.
//!
//! 1. Every new file is written and synced in a staging directory beside its destination
//!    tree (`.keyrite-import-staging/<txn>/` in each notation config and cache dir, so each
//!    rename stays within one filesystem). Nothing notation reads has changed yet.
//! 2. The journal listing every step is written to a temporary name, synced, and renamed to
//!    `journal.json` in the state directory: the commit point.
//! 3. Each step is applied (rename into place, remove, make directory); then the journal and
//!    the staging directories are removed.
//!
//! A crash before step 2 leaves the old state and some staging files, which
//! [`recover`] removes; a crash after it leaves a journal that [`recover`] completes. Every
//! keyrite-import command recovers first, so notation sees either the old install or the new.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ImportError;
use crate::signer::sha256;

const JOURNAL: &str = "journal.json";
/// The staging directory's name inside each destination root.
pub const STAGING: &str = ".keyrite-import-staging";

/// One step of an install.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Step {
    /// Make a directory (and its parents).
    Mkdir {
        /// The directory.
        path: PathBuf,
    },
    /// Rename a staged file over `path`.
    Write {
        /// The staged file.
        staged: PathBuf,
        /// The destination.
        path: PathBuf,
        /// SHA-256 of the content, hex, to tell a finished step from a lost file.
        sha256: String,
    },
    /// Remove `path` if it exists.
    Remove {
        /// The file.
        path: PathBuf,
    },
}

#[derive(Serialize, Deserialize)]
struct Journal {
    staging: Vec<PathBuf>,
    steps: Vec<Step>,
}

/// A file to install: destination, content and mode.
pub struct NewFile {
    /// The destination.
    pub path: PathBuf,
    /// The content.
    pub content: Vec<u8>,
    /// The file mode.
    pub mode: u32,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |e| ImportError::Install(format!("{}: {e}", path.display()))
}

/// Syncs a directory so the entries made or removed in it survive a power loss.
pub fn sync_dir(dir: &Path) -> Result<(), ImportError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Stops here for the given time in debug builds, when `KEYRITE_IMPORT_STEP_PAUSE_MS` asks
/// for it: the crash-safety tests use it to kill the process between any two steps.
fn pause() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("KEYRITE_IMPORT_STEP_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Installs `files` and removes `removals`, all or nothing. `roots` are the destination trees
/// (each file lies under one of them); `mkdirs` are directories to create with mode 0755.
pub fn commit(
    state_dir: &Path,
    roots: &[PathBuf],
    mkdirs: &[PathBuf],
    files: Vec<NewFile>,
    removals: &[PathBuf],
) -> Result<(), ImportError> {
    let txn = hex::encode(crate::signer::sha256(
        format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes(),
    ))[..16]
        .to_owned();
    let mut staging = Vec::new();
    let mut steps: Vec<Step> = mkdirs
        .iter()
        .map(|p| Step::Mkdir { path: p.clone() })
        .collect();
    for (i, file) in files.into_iter().enumerate() {
        let root = roots
            .iter()
            .filter(|r| file.path.starts_with(r))
            .max_by_key(|r| r.as_os_str().len())
            .ok_or_else(|| {
                ImportError::Install(format!("{} is outside every target", file.path.display()))
            })?;
        let dir = root.join(STAGING).join(&txn);
        if !staging.contains(&dir) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io(&dir))?;
            staging.push(dir.clone());
        }
        let staged = dir.join(i.to_string());
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staged)
            .map_err(io(&staged))?;
        f.write_all(&file.content).map_err(io(&staged))?;
        f.set_permissions(fs::Permissions::from_mode(file.mode))
            .map_err(io(&staged))?;
        f.sync_all().map_err(io(&staged))?;
        pause();
        steps.push(Step::Write {
            staged,
            path: file.path,
            sha256: hex::encode(sha256(&file.content)),
        });
    }
    for dir in &staging {
        sync_dir(dir)?;
    }
    steps.extend(removals.iter().map(|p| Step::Remove { path: p.clone() }));
    let journal = Journal { staging, steps };
    let json =
        serde_json::to_vec_pretty(&journal).map_err(|e| ImportError::Install(e.to_string()))?;
    let tmp = state_dir.join(format!("{JOURNAL}.tmp"));
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&json).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    pause();
    fs::rename(&tmp, state_dir.join(JOURNAL)).map_err(io(&tmp))?;
    sync_dir(state_dir)?;
    pause();
    apply(state_dir, &journal)
}

fn apply(state_dir: &Path, journal: &Journal) -> Result<(), ImportError> {
    for step in &journal.steps {
        match step {
            Step::Mkdir { path } => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(path)
                    .map_err(io(path))?;
            }
            Step::Write {
                staged,
                path,
                sha256: want,
            } => {
                if staged.exists() {
                    fs::rename(staged, path).map_err(io(path))?;
                } else {
                    let have = fs::read(path).map(|b| hex::encode(sha256(&b))).ok();
                    if have.as_deref() != Some(want.as_str()) {
                        return Err(ImportError::Install(format!(
                            "the journal's staged copy of {} is gone and the file differs: the install cannot be completed; restore {} from a backup",
                            path.display(),
                            state_dir.display()
                        )));
                    }
                }
                if let Some(parent) = path.parent() {
                    sync_dir(parent)?;
                }
            }
            Step::Remove { path } => match fs::remove_file(path) {
                Ok(()) => {
                    if let Some(parent) = path.parent() {
                        sync_dir(parent)?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(path)(e)),
            },
        }
        pause();
    }
    let path = state_dir.join(JOURNAL);
    fs::remove_file(&path).map_err(io(&path))?;
    sync_dir(state_dir)?;
    for dir in &journal.staging {
        remove_staging(dir)?;
    }
    Ok(())
}

fn remove_staging(dir: &Path) -> Result<(), ImportError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    if let Some(parent) = dir.parent() {
        // The staging directory itself goes once no install uses it.
        let _ = fs::remove_dir(parent);
    }
    Ok(())
}

/// Finishes an install a crash interrupted after its commit point, or clears the staging
/// files of one interrupted before it. Returns whether anything was found.
pub fn recover(state_dir: &Path, roots: &[PathBuf]) -> Result<bool, ImportError> {
    let path = state_dir.join(JOURNAL);
    let mut found = false;
    match fs::read(&path) {
        Ok(bytes) => {
            let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| {
                ImportError::Install(format!(
                    "{} does not parse ({e}): the interrupted install cannot be completed",
                    path.display()
                ))
            })?;
            apply(state_dir, &journal)?;
            found = true;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&path)(e)),
    }
    let tmp = state_dir.join(format!("{JOURNAL}.tmp"));
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io(&tmp))?;
        found = true;
    }
    for root in roots {
        let staging = root.join(STAGING);
        if let Ok(entries) = fs::read_dir(&staging) {
            for entry in entries.flatten() {
                remove_staging(&entry.path())?;
            }
            // Also an empty one, left by a crash between its creation and its first entry.
            match fs::remove_dir(&staging) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&staging)(e)),
                _ => found = true,
            }
        }
    }
    Ok(found)
}
