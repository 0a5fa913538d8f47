//! The fingerprint of an ISO 9660 boot medium: the SHA-256 of exactly the image's bytes, read
//! from a file or from the device it was written to (which may be larger than the image), so
//! the booted system can show witnesses the hash `iso/build` printed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fingerprint::Fingerprint;

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
