//! Writing artefacts: never over an existing file, each file atomically, and a set of files
//! all or none.
//!
//! An output directory is keyrite's own: its last component is made with `mkdir` when missing
//! and refused when it is a symbolic link (whoever had the medium could plant one to send
//! certificates and share cards elsewhere), and every file in it is made relative to the
//! directory opened without following a link, with `O_NOFOLLOW` and `O_EXCL`.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

/// Why artefacts could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The target exists.
    #[error(
        "{0} already exists: keyrite never overwrites an artefact; choose another output directory or move the file away"
    )]
    Exists(PathBuf),
    /// The output directory is not a directory.
    #[error("{0} is not a directory: give a directory for the outputs")]
    NotADirectory(PathBuf),
    /// The output directory is a symbolic link.
    #[error(
        "{0} is a symbolic link: keyrite writes outputs only into a real directory, never through a link; give the directory's own path, or remove the link if you did not make it"
    )]
    Link(PathBuf),
    /// An I/O failure.
    #[error("cannot write {path}: {source}; check the directory's permissions and free space")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_owned(),
        source,
    }
}

fn errno(path: &Path) -> impl FnOnce(Errno) -> OutputError + '_ {
    move |e| io(path)(e.into())
}

/// Opens the output directory `dir` without following a link in its last component; with
/// `create`, makes that component (mode 0755) when it is missing, and the parents the
/// operator named. `None` when it does not exist and `create` is false.
fn open_dir(dir: &Path, create: bool) -> Result<Option<OwnedFd>, OutputError> {
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Some(name) = dir.file_name() else {
        // `/`, `.` or a path ending in `..`: nothing keyrite made, and not a link.
        return rustix::fs::open(dir, dir_flags, Mode::empty())
            .map(Some)
            .map_err(errno(dir));
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if create {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let parent_fd = match rustix::fs::open(parent, dir_flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) if !create => return Ok(None),
        Err(e) => return Err(errno(parent)(e)),
    };
    if create {
        match rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o755)) {
            Ok(()) => rustix::fs::fsync(&parent_fd).map_err(errno(parent))?,
            Err(Errno::EXIST) => {}
            Err(e) => return Err(errno(dir)(e)),
        }
    }
    match rustix::fs::openat(
        &parent_fd,
        name,
        dir_flags | OFlags::NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) if !create => Ok(None),
        Err(Errno::LOOP | Errno::NOTDIR) => Err(not_a_dir(&parent_fd, name, dir)),
        Err(e) => Err(errno(dir)(e)),
    }
}

/// Why `name` in `parent` (the output directory `dir`) did not open as a directory.
fn not_a_dir(parent: &OwnedFd, name: &OsStr, dir: &Path) -> OutputError {
    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st)
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink =>
        {
            OutputError::Link(dir.to_owned())
        }
        _ => OutputError::NotADirectory(dir.to_owned()),
    }
}

/// Checks, before any work is done, that `names` can be created in `dir`: nothing exists
/// there yet, and `dir` is a directory (not a link to one) or can be made one.
pub fn preflight(dir: &Path, names: &[&str]) -> Result<(), OutputError> {
    let Some(fd) = open_dir(dir, false)? else {
        return Ok(());
    };
    for name in names {
        match rustix::fs::statat(&fd, *name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => return Err(OutputError::Exists(dir.join(name))),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(errno(&dir.join(name))(e)),
        }
    }
    Ok(())
}

/// Makes the output directory `dir` when it is missing; refused when it is a link or not a
/// directory.
pub fn make_dir(dir: &Path) -> Result<(), OutputError> {
    open_dir(dir, true).map(drop)
}

/// File mode of public artefacts (certificates, fingerprints).
pub const PUBLIC: u32 = 0o644;
/// File mode of artefacts only their owner may read until handed over (share cards).
pub const PRIVATE: u32 = 0o600;

/// File mode of programs keyrite installs (the notation plugin).
pub const EXECUTABLE: u32 = 0o755;

/// Replaces `dir/name` with `contents` in one rename: readers see the old file or the new
/// one, never a part. For records that are meant to be renewed, such as a key's chain.
pub fn replace_file(dir: &Path, name: &str, contents: &[u8], mode: u32) -> Result<(), OutputError> {
    let fd = open_dir(dir, true)?.ok_or_else(|| OutputError::NotADirectory(dir.to_owned()))?;
    let path = dir.join(name);
    let tmp = staged(&fd, &path, contents, mode)?;
    if let Err(e) = rustix::fs::renameat(&fd, &tmp, &fd, name) {
        let _ = rustix::fs::unlinkat(&fd, &tmp, AtFlags::empty());
        return Err(errno(&path)(e));
    }
    rustix::fs::fsync(&fd).map_err(errno(dir))
}

/// Writes every `(name, contents, mode)` into `dir` (created if needed), each through a
/// temporary file that is synced and then linked into place without replacing anything. If
/// any file fails, the ones already placed are removed again.
pub fn write_new_files(dir: &Path, files: &[(&str, &[u8], u32)]) -> Result<(), OutputError> {
    let names: Vec<&str> = files.iter().map(|(n, _, _)| *n).collect();
    preflight(dir, &names)?;
    let fd = open_dir(dir, true)?.ok_or_else(|| OutputError::NotADirectory(dir.to_owned()))?;
    let mut placed = Vec::new();
    for (name, contents, mode) in files {
        match write_one(&fd, dir, name, contents, *mode) {
            Ok(()) => placed.push(*name),
            Err(e) => {
                for name in &placed {
                    let _ = rustix::fs::unlinkat(&fd, *name, AtFlags::empty());
                }
                return Err(e);
            }
        }
    }
    rustix::fs::fsync(&fd).map_err(errno(dir))
}

/// `contents` in a new, synced temporary file in the directory `dir`, with `mode`, ready to
/// be put at `path`; returns its name.
fn staged(dir: &OwnedFd, path: &Path, contents: &[u8], mode: u32) -> Result<String, OutputError> {
    let mut random = [0u8; 8];
    UnwrapErr(SysRng).fill_bytes(&mut random);
    let name = format!(".keyrite-{}", hex::encode(random));
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd =
        rustix::fs::openat(dir, &name, flags, Mode::from_raw_mode(0o600)).map_err(errno(path))?;
    let mut file = fs::File::from(fd);
    let written = file
        .write_all(contents)
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(mode)))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = rustix::fs::unlinkat(dir, &name, AtFlags::empty());
        return Err(io(path)(e));
    }
    Ok(name)
}

/// Writes `dir_path/name` through a staged file, refusing to replace anything there.
fn write_one(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    contents: &[u8],
    mode: u32,
) -> Result<(), OutputError> {
    let path = dir_path.join(name);
    let tmp = staged(dir, &path, contents, mode)?;
    let placed = match rustix::fs::renameat_with(dir, &tmp, dir, name, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(()),
        // A file system without the flag: a hard link cannot replace a name either.
        Err(Errno::INVAL | Errno::NOSYS) => {
            rustix::fs::linkat(dir, &tmp, dir, name, AtFlags::empty())
        }
        Err(e) => Err(e),
    };
    let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
    match placed {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) => Err(OutputError::Exists(path)),
        Err(e) => Err(errno(&path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_existing_file_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b"), b"old").unwrap();
        let e =
            write_new_files(dir.path(), &[("a", b"1", PUBLIC), ("b", b"2", PUBLIC)]).unwrap_err();
        assert!(matches!(e, OutputError::Exists(p) if p.ends_with("b")));
        assert!(!dir.path().join("a").exists());
        assert_eq!(fs::read(dir.path().join("b")).unwrap(), b"old");
    }

    #[test]
    fn writes_all_files_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new");
        write_new_files(&out, &[("a", b"1", PUBLIC), ("b", b"2", PRIVATE)]).unwrap();
        assert_eq!(fs::read(out.join("b")).unwrap(), b"2");
        let mode = |f: &str| fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode("a"), mode("b")), (0o644, 0o600));
        let leftovers: Vec<_> = fs::read_dir(&out).unwrap().collect();
        assert_eq!(leftovers.len(), 2);
    }

    #[test]
    fn a_linked_output_directory_is_refused_and_its_target_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::create_dir(&target).unwrap();
        let link = dir.path().join("out");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let slash = dir.path().join("out/");
        for path in [&link, &slash] {
            let e = write_new_files(path, &[("a", b"1", PUBLIC)]).unwrap_err();
            assert!(matches!(e, OutputError::Link(_)), "{e}");
            assert!(matches!(preflight(path, &[]), Err(OutputError::Link(_))));
            assert!(matches!(make_dir(path), Err(OutputError::Link(_))));
            assert!(matches!(
                replace_file(path, "a", b"1", PUBLIC),
                Err(OutputError::Link(_))
            ));
        }
        assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        fs::write(&file, b"x").unwrap();
        let e = write_new_files(&file, &[("a", b"1", PUBLIC)]).unwrap_err();
        assert!(matches!(e, OutputError::NotADirectory(_)), "{e}");
    }
}
