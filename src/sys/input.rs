//! Reading an input file once, safely: opened without blocking (a FIFO cannot hang the
//! reader) and, unless asked, without following a link; refused unless it is a regular
//! file; its size checked before a byte is read, and never more than the limit read.
//! Errors name the file and the rule, never its content.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// It cannot be opened or read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS's reason.
        reason: String,
    },
    /// There is no such file.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// It is a link, and links are not followed.
    #[error("{0} is a symbolic link: give the file itself")]
    Link(PathBuf),
    /// It is a directory, a device, a FIFO or a socket.
    #[error("{0} is not a regular file")]
    NotRegular(PathBuf),
    /// It is larger than the limit.
    #[error("{path} is {size} bytes, more than the {max} such a file may be")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
}

/// Whether [`read`] follows a link in the last component of the path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Refuse a link.
    Refuse,
    /// Follow it (only where the program being reproduced follows it too).
    Follow,
}

/// Reads the regular file at `path`, of at most `max` bytes.
pub fn read(path: &Path, max: u64, links: Links) -> Result<Vec<u8>, InputError> {
    let unreadable = |e: std::io::Error| InputError::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut flags = rustix::fs::OFlags::NONBLOCK;
    if links == Links::Refuse {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            // O_NOFOLLOW on a link fails with ELOOP.
            if links == Links::Refuse
                && e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
            {
                InputError::Link(path.to_owned())
            } else if e.kind() == std::io::ErrorKind::NotFound {
                InputError::Missing(path.to_owned())
            } else {
                unreadable(e)
            }
        })?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(InputError::NotRegular(path.to_owned()));
    }
    if meta.len() > max {
        return Err(InputError::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > max {
        return Err(InputError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

/// A file read once: its path, for names and messages, and its bytes, which are all that is
/// used afterwards (hashed for a record, parsed, signed over), so what was recorded or shown
/// is what is used even if the file changes on its medium.
pub struct InputFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// What it held.
    pub bytes: Vec<u8>,
}

impl InputFile {
    /// [`read`]s the file at `path`.
    pub fn read(path: &Path, max: u64, links: Links) -> Result<Self, InputError> {
        Ok(Self {
            path: path.to_owned(),
            bytes: read(path, max, links)?,
        })
    }
}

/// [`read`], with `None` when there is no file at `path`.
pub fn read_if_present(path: &Path, max: u64, links: Links) -> Result<Option<Vec<u8>>, InputError> {
    match read(path, max, links) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(InputError::Missing(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A TOML parse error as a file's reader may show it: where, and what is wrong, without the
/// quoted source line `toml` adds, which may hold a secret (a profile's `pin-value`).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}
