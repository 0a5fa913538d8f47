//! Writing artefacts: never over an existing file, each file atomically, and a set of files
//! all or none.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Checks, before any work is done, that `names` can be created in `dir`: nothing exists
/// there yet, and `dir` is a directory or can be made one.
pub fn preflight(dir: &Path, names: &[&str]) -> Result<(), OutputError> {
    if dir.exists() && !dir.is_dir() {
        return Err(OutputError::NotADirectory(dir.to_owned()));
    }
    for name in names {
        let path = dir.join(name);
        if path.symlink_metadata().is_ok() {
            return Err(OutputError::Exists(path));
        }
    }
    Ok(())
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
    let path = dir.join(name);
    let tmp = staged(dir, &path, contents, mode)?;
    tmp.persist(&path).map_err(|e| OutputError::Io {
        path: path.clone(),
        source: e.error,
    })?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Writes every `(name, contents, mode)` into `dir` (created if needed), each through a
/// temporary file that is synced and then linked into place without replacing anything. If
/// any file fails, the ones already placed are removed again.
pub fn write_new_files(dir: &Path, files: &[(&str, &[u8], u32)]) -> Result<(), OutputError> {
    let names: Vec<&str> = files.iter().map(|(n, _, _)| *n).collect();
    preflight(dir, &names)?;
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut placed = Vec::new();
    for (name, contents, mode) in files {
        match write_one(dir, name, contents, *mode) {
            Ok(path) => placed.push(path),
            Err(e) => {
                for path in &placed {
                    let _ = fs::remove_file(path);
                }
                return Err(e);
            }
        }
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// `contents` in a synced temporary file in `dir`, with `mode`, ready to be put at `path`.
fn staged(
    dir: &Path,
    path: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<tempfile::NamedTempFile, OutputError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".keyrite-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(contents).map_err(io(path))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    Ok(tmp)
}

fn write_one(dir: &Path, name: &str, contents: &[u8], mode: u32) -> Result<PathBuf, OutputError> {
    let path = dir.join(name);
    let tmp = staged(dir, &path, contents, mode)?;
    tmp.persist_noclobber(&path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            OutputError::Exists(path.clone())
        } else {
            OutputError::Io {
                path: path.clone(),
                source: e.error,
            }
        }
    })?;
    Ok(path)
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
}
