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
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ImportError;
use super::confined::Trees;
use crate::sys::input::Links;

const JOURNAL: &str = "journal.json";
/// A journal larger than this was not written by keyrite-import (an install's journal lists
/// a few dozen steps).
const MAX_JOURNAL_BYTES: u64 = 16 * 1024 * 1024;
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
    move |e| ImportError::Install(super::io_message(path, &e))
}

/// Syncs a directory so the entries made or removed in it survive a power loss.
pub fn sync_dir(dir: &Path) -> Result<(), ImportError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Refuses a destination tree another user could swap under keyrite-import: `root` (when it
/// exists) and its staging directory must be real directories owned by this user and not
/// writable by others (nor by the group, when running as root).
pub fn check_root(root: &Path) -> Result<(), ImportError> {
    check_root_as(root, false)
}

/// [`check_root`]; `read_only` (a command that writes nothing) skips what matters only for
/// writing: whose the directory is and who else may write in it.
pub fn check_root_as(root: &Path, read_only: bool) -> Result<(), ImportError> {
    let euid = rustix::process::geteuid().as_raw();
    for dir in [root.to_owned(), root.join(STAGING)] {
        let meta = match dir.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&dir)(e)),
        };
        let unsafe_mode = if euid == 0 { 0o022 } else { 0o002 };
        let why = if !meta.is_dir() {
            "it is not a directory (a link, or a file): give the directory itself".to_owned()
        } else if read_only {
            continue;
        } else if meta.uid() != euid {
            format!(
                "it belongs to uid {}, and keyrite-import runs as uid {euid}: it writes only \
                 into directories of the user running it, where no one else could redirect its \
                 writes. Run it as that user (sudo -u '#{}' keyrite-import …), or give \
                 directories of your own (--notation-config, --notation-cache, --state)",
                meta.uid(),
                meta.uid()
            )
        } else if meta.mode() & unsafe_mode != 0 {
            format!(
                "it is writable by {}, who could redirect keyrite-import's writes: chmod {} it",
                if euid == 0 {
                    "group or others"
                } else {
                    "others"
                },
                if euid == 0 { "go-w" } else { "o-w" }
            )
        } else {
            continue;
        };
        return Err(ImportError::Site(format!("{}: {why}", dir.display())));
    }
    Ok(())
}

fn pause() {
    crate::sys::crash_points::pause("KEYRITE_IMPORT_STEP_PAUSE_MS");
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
    let txn = hex::encode(crate::keys::sha256(
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
            Trees(roots).make_dirs(root)?;
            for d in [root.join(STAGING), dir.clone()] {
                match fs::DirBuilder::new().mode(0o700).create(&d) {
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                        return Err(io(&d)(e));
                    }
                    _ => {}
                }
            }
            sync_dir(root)?;
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
    apply(state_dir, Trees(roots), &journal)
}

/// Refuses a journal with a step outside keyrite-import's trees, or a staged file or staging
/// directory that is not where [`commit`] puts them, before any step is taken.
fn check(journal: &Journal, trees: Trees<'_>) -> Result<(), ImportError> {
    // Only `<tree>/.keyrite-import-staging/<16 hex digits>`, whose parent `check_root` has
    // seen to be a real directory: a staging directory deeper in a tree could sit below a
    // link, and removing it would follow that link.
    let staging_dir = |dir: &Path| -> Result<(), ImportError> {
        let name_ok = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 16 && n.bytes().all(|b| b.is_ascii_hexdigit()));
        let in_a_tree = dir
            .parent()
            .is_some_and(|p| trees.0.iter().any(|root| p == root.join(STAGING)));
        if name_ok && in_a_tree {
            Ok(())
        } else {
            Err(ImportError::Install(format!(
                "{} is not a staging directory keyrite-import makes (<tree>/{STAGING}/<16 hex digits>)",
                dir.display()
            )))
        }
    };
    for dir in &journal.staging {
        staging_dir(dir)?;
    }
    for step in &journal.steps {
        match step {
            Step::Mkdir { path } if trees.0.contains(path) => {}
            Step::Mkdir { path } | Step::Remove { path } => trees.locate(path).map(drop)?,
            Step::Write { staged, path } => {
                staging_dir(staged.parent().unwrap_or(staged))?;
                trees.locate(staged)?;
                trees.locate(path)?;
            }
        }
    }
    Ok(())
}

fn apply(state_dir: &Path, trees: Trees<'_>, journal: &Journal) -> Result<(), ImportError> {
    check(journal, trees)?;
    for step in &journal.steps {
        match step {
            Step::Mkdir { path } => trees.make_dirs(path)?,
            // A staged file leaves only by its rename: when it is gone, the step is done.
            Step::Write { staged, path } => trees.rename(staged, path).map(drop)?,
            Step::Remove { path } => trees.remove(path)?,
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

/// Whether an interrupted install left something [`recover`] would complete or clear: its
/// journal, a journal half written, or staging in a destination tree.
pub fn pending(state_dir: &Path, roots: &[PathBuf]) -> bool {
    [
        state_dir.join(JOURNAL),
        state_dir.join(format!("{JOURNAL}.tmp")),
    ]
    .into_iter()
    .chain(roots.iter().map(|r| r.join(STAGING)))
    .any(|p| p.symlink_metadata().is_ok())
}

/// Finishes an install a crash interrupted after its commit point, or clears the staging
/// files of one interrupted before it. Returns whether anything was found.
pub fn recover(state_dir: &Path, roots: &[PathBuf]) -> Result<bool, ImportError> {
    let path = state_dir.join(JOURNAL);
    let mut found = false;
    let bytes = crate::sys::input::read_if_present(&path, MAX_JOURNAL_BYTES, Links::Refuse)
        .map_err(|e| ImportError::Install(e.to_string()))?;
    if let Some(bytes) = bytes {
        let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| {
            ImportError::Install(format!(
                "{} does not parse ({e}): the interrupted install cannot be completed",
                path.display()
            ))
        })?;
        apply(state_dir, Trees(roots), &journal).map_err(|e| {
            ImportError::Install(format!(
                "{} cannot be completed: {e}. Nothing outside keyrite-import's directories was touched; if keyrite-import did not write this journal, move it aside and run `keyrite-import status`",
                path.display()
            ))
        })?;
        found = true;
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
