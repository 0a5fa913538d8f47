//! The ceremony machine's media: the USB sticks a ceremony reads from and writes to, and the
//! boot medium whose hash witnesses compare with the one `iso/build` printed.
//!
//! Nothing mounts a stick at boot: the output medium is mounted when a ceremony whose profile
//! names its device starts, and the input medium (read-only) only while a step reads from it.
//! Each is unmounted, after a sync, when its holder ends.
//!
//! util-linux's `blkid` and `mount` are called rather than libblkid and mount(2): they resolve
//! `LABEL=`/`UUID=` device names and know each filesystem's options, which keyrite would
//! otherwise reimplement.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::fingerprint::Fingerprint;

/// How a medium is mounted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only: the input medium.
    ReadOnly,
    /// Writable: the output medium.
    ReadWrite,
}

/// A medium keyrite mounted; unmounted (after a sync) when dropped.
pub struct Mounted {
    at: PathBuf,
}

impl Mounted {
    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.at
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // Nothing to report to here: a medium left mounted is still synced, and the next
        // mount of it says it is busy.
        let _ = Command::new("sync")
            .arg("--file-system")
            .arg(&self.at)
            .status();
        let _ = Command::new("umount").arg(&self.at).status();
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Mounts `device` (a path, `LABEL=…` or `UUID=…`) at `at`, which must not be a mount point
/// already; never with device files, set-user-ID or executables. The error says what to do.
pub fn mount(device: &str, at: &Path, access: Access) -> Result<Mounted, String> {
    let what = match access {
        Access::ReadOnly => "input",
        Access::ReadWrite => "output",
    };
    let absent =
        || format!("the {what} medium {device} is not attached: insert it, then start again");
    let source = if device.contains('=') {
        // Every device carrying the tag, probed afresh (no cache): a second stick with the
        // ceremony's label must not be chosen silently.
        let found = run(Command::new("blkid")
            .args(["-c", "/dev/null", "-o", "device", "-t"])
            .arg(device))
        .unwrap_or_default();
        let mut devices = found.lines().filter(|l| !l.is_empty());
        match (devices.next(), devices.next()) {
            (None, _) => return Err(absent()),
            (Some(one), None) => one.to_owned(),
            (Some(a), Some(b)) => {
                return Err(format!(
                    "more than one medium is {device} ({a}, {b}): remove every one but the ceremony's {what} medium, then start again"
                ));
            }
        }
    } else if Path::new(device).exists() {
        device.to_owned()
    } else {
        return Err(absent());
    };
    if run(Command::new("mountpoint").arg("-q").arg(at)).is_ok() {
        return Err(format!(
            "{} is already a mount point: unmount what is there (umount {}), then start again",
            at.display(),
            at.display()
        ));
    }
    std::fs::create_dir_all(at).map_err(|e| format!("{}: {e}", at.display()))?;
    let fs_type = run(Command::new("blkid")
        .args(["-o", "value", "-s", "TYPE"])
        .arg(&source))
    .unwrap_or_default();
    // No symbolic links followed: a link on a stick must not pull a file of the ceremony
    // machine into what a step reads or writes.
    let mut options = vec![
        if access == Access::ReadOnly {
            "ro"
        } else {
            "rw"
        },
        "nosuid",
        "nodev",
        "noexec",
        "nosymfollow",
    ];
    if access == Access::ReadOnly && fs_type.starts_with("ext") {
        // Read-only means the stick is not written: not even its journal replayed.
        options.push("noload");
    }
    if fs_type == "vfat" {
        // FAT keeps no modes: `quiet` lets keyrite set them without an error, and umask keeps
        // everything readable by the ceremony's user only.
        options.extend(["quiet", "umask=077", "flush"]);
    }
    run(Command::new("mount")
        .arg("-o")
        .arg(options.join(","))
        .arg(&source)
        .arg(at))
    .map_err(|e| {
        format!(
            "the {what} medium {device} ({source}) cannot be mounted at {}: {e}",
            at.display()
        )
    })?;
    Ok(Mounted { at: at.to_owned() })
}

/// The primary volume descriptor is sector 16 of 2048 bytes.
const PVD_OFFSET: u64 = 16 * 2048;

/// Hashes the ISO 9660 image at the start of `path`; returns its fingerprint and size.
pub fn iso_fingerprint(path: &Path) -> Result<(Fingerprint, u64), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut file = File::open(path).map_err(|e| fail(&e))?;
    let mut pvd = [0u8; 2048];
    let read = file
        .seek(SeekFrom::Start(PVD_OFFSET))
        .and_then(|_| file.read_exact(&mut pvd));
    if read.is_err() || pvd[0] != 1 || &pvd[1..6] != b"CD001" {
        return Err(fail(
            &"no ISO 9660 primary volume descriptor: not a boot medium keyrite built",
        ));
    }
    // Both-endian fields (ECMA-119 8.4): the little-endian half comes first.
    let blocks = u64::from(u32::from_le_bytes([pvd[80], pvd[81], pvd[82], pvd[83]]));
    let block_size = u64::from(u16::from_le_bytes([pvd[128], pvd[129]]));
    let size = blocks * block_size;
    file.seek(SeekFrom::Start(0)).map_err(|e| fail(&e))?;
    let mut hasher = Sha256::new();
    let mut reader = file.take(size);
    let mut buf = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| fail(&e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        copied += n as u64;
    }
    if copied != size {
        return Err(fail(&format!(
            "the medium ends after {copied} of the image's {size} bytes"
        )));
    }
    Ok((Fingerprint(hasher.finalize().into()), size))
}
