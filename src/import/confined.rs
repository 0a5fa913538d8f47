//! Changes inside keyrite-import's own directory trees (each target's notation config and
//! cache, and the state directory), and nowhere else.
//!
//! The journal names the paths an interrupted install still has to change, and whoever can
//! write the state directory can write the journal. So a path is accepted only when it lies
//! lexically under one of the trees, below it only plain names (no `.`, `..` or root), and it
//! is reached from the tree's own directory one component at a time with `openat` and
//! `O_NOFOLLOW | O_DIRECTORY`: a link planted anywhere on the way stops the step instead of
//! leading it out of the tree.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::ImportError;

/// The trees a change may touch.
#[derive(Clone, Copy)]
pub(super) struct Trees<'a>(pub(super) &'a [PathBuf]);

/// A path split into the tree it lies in and the plain names below the tree.
pub(super) struct Located<'a, 'p> {
    root: &'a Path,
    names: Vec<&'p OsStr>,
}

impl Located<'_, '_> {
    /// The names of the parent directories, and the last name.
    fn split(&self) -> (&[&OsStr], &OsStr) {
        let (last, parents) = self
            .names
            .split_last()
            .expect("a located path has at least one name");
        (parents, last)
    }
}

fn failed(path: &Path, what: &str, e: Errno) -> ImportError {
    let e = std::io::Error::from_raw_os_error(e.raw_os_error());
    ImportError::Install(format!("cannot {what}: {}", super::io_message(path, &e)))
}

impl<'a> Trees<'a> {
    /// The tree `path` lies in (the deepest, when trees nest) and its names below it;
    /// refused when it lies in none, is a tree itself, or has any component but a plain name
    /// below the tree.
    pub(super) fn locate<'p>(&self, path: &'p Path) -> Result<Located<'a, 'p>, ImportError> {
        let outside = || {
            ImportError::Install(format!(
                "{} is outside keyrite-import's directories (the notation config and cache of each target, and the state directory): refusing to change it",
                path.display()
            ))
        };
        let root = self
            .0
            .iter()
            .filter(|r| path.starts_with(r))
            .max_by_key(|r| r.as_os_str().len())
            .ok_or_else(outside)?;
        let below = path.strip_prefix(root).map_err(|_| outside())?;
        let names = below
            .components()
            .map(|c| match c {
                Component::Normal(n) => Ok(n),
                _ => Err(outside()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if names.is_empty() {
            return Err(outside());
        }
        Ok(Located { root, names })
    }

    /// Opens the directory `names` below `root`, each component without following a link;
    /// with `create`, making the missing ones (mode 0755, each new entry synced).
    fn open_dir(root: &Path, names: &[&OsStr], create: bool) -> Result<OwnedFd, ImportError> {
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut fd = rustix::fs::open(root, dir_flags, Mode::empty())
            .map_err(|e| failed(root, "open it as a directory (not a link)", e))?;
        let mut at = root.to_owned();
        for name in names {
            at.push(name);
            if create {
                match rustix::fs::mkdirat(&fd, *name, Mode::from_raw_mode(0o755)) {
                    Ok(()) => rustix::fs::fsync(&fd).map_err(|e| failed(&at, "sync", e))?,
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(failed(&at, "make the directory", e)),
                }
            }
            fd = rustix::fs::openat(&fd, *name, dir_flags, Mode::empty())
                .map_err(|e| failed(&at, "open it as a directory (not a link)", e))?;
        }
        Ok(fd)
    }

    /// Makes the directory `path` and its missing parents inside its tree, or a tree's own
    /// directory (whose parents are the site's configuration, not the journal's).
    pub(super) fn make_dirs(&self, path: &Path) -> Result<(), ImportError> {
        if self.0.iter().any(|r| r == path) {
            return make_root(path);
        }
        let located = self.locate(path)?;
        Self::open_dir(located.root, &located.names, true).map(drop)
    }

    /// Renames `from` over `to`, both in one tree, and syncs `to`'s directory. `Ok(false)`
    /// when `from` is gone (a replayed step that was already done).
    pub(super) fn rename(&self, from: &Path, to: &Path) -> Result<bool, ImportError> {
        let (src, dst) = (self.locate(from)?, self.locate(to)?);
        if src.root != dst.root {
            return Err(ImportError::Install(format!(
                "{} and {} are in different trees: a staged file is renamed within its own",
                from.display(),
                to.display()
            )));
        }
        let (src_parents, src_name) = src.split();
        let src_dir = match Self::open_dir(src.root, src_parents, false) {
            Ok(fd) => fd,
            Err(_) if !from.exists() => return Ok(false),
            Err(e) => return Err(e),
        };
        let (dst_parents, dst_name) = dst.split();
        let dst_dir = Self::open_dir(dst.root, dst_parents, false)?;
        match rustix::fs::renameat(&src_dir, src_name, &dst_dir, dst_name) {
            Ok(()) => {}
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(failed(to, "rename the staged file over it", e)),
        }
        rustix::fs::fsync(&dst_dir).map_err(|e| failed(to, "sync its directory", e))?;
        Ok(true)
    }

    /// Removes the file `path` (not a directory) if it is there, and syncs its directory.
    pub(super) fn remove(&self, path: &Path) -> Result<(), ImportError> {
        let located = self.locate(path)?;
        let (parents, name) = located.split();
        let dir = match Self::open_dir(located.root, parents, false) {
            Ok(fd) => fd,
            Err(_) if !path.exists() => return Ok(()),
            Err(e) => return Err(e),
        };
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => rustix::fs::fsync(&dir).map_err(|e| failed(path, "sync its directory", e)),
            Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(failed(path, "remove it", e)),
        }
    }
}

/// Makes a tree's directory `dir` and its missing parents with mode 0755, syncing each new
/// entry.
fn make_root(dir: &Path) -> Result<(), ImportError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_root(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(ImportError::Install(super::io_message(dir, &e))),
    }
    match dir.parent() {
        Some(parent) => super::journal::sync_dir(parent),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_below_a_tree_are_located() {
        let roots = [
            PathBuf::from("/srv/config"),
            PathBuf::from("/srv/config/cache"),
        ];
        let trees = Trees(&roots);
        assert!(
            trees
                .locate(Path::new("/srv/config/truststore/a.crt"))
                .is_ok()
        );
        let nested = trees.locate(Path::new("/srv/config/cache/x")).unwrap();
        assert_eq!(nested.root, Path::new("/srv/config/cache"));
        for bad in [
            "/srv/config",
            "/srv/config/../etc/passwd",
            "/srv/configuration/a",
            "/etc/passwd",
            "relative/a",
        ] {
            assert!(trees.locate(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_link_inside_a_tree_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("victim"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let roots = [root.clone()];
        let trees = Trees(&roots);
        assert!(trees.remove(&root.join("link/victim")).is_err());
        assert!(trees.make_dirs(&root.join("link/new")).is_err());
        assert!(outside.join("victim").exists());
        assert!(!outside.join("new").exists());
    }
}
