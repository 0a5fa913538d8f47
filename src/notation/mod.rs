//! What notation v1.3.2 accepts and how it decides, reproduced from its code and checked
//! against the real binary by the tests: trust policy documents, trusted identities,
//! registry scopes, trust stores, its CRL cache, the integrity and revocation of a chain, and
//! the verdict on a signature by it. keyrite-import judges with it, and both the importer and
//! the ceremony refuse to write what it would reject. Nothing here writes a file or reaches a
//! network.

mod chain;
pub mod crl_cache;
pub mod dn;
pub mod policy;
mod revocation;
pub mod scope;
pub mod store;
pub mod verdict;

use std::io::Read;
use std::path::Path;

/// Trust policy files larger than this are refused unread.
pub const MAX_POLICY_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a regular file of at most `max` bytes, without reading more than that, whatever it
/// is (a link to a device reads no further than the limit, a FIFO is refused unread).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that a FIFO put where a file should be cannot hang the reader.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{} is larger than {max} bytes: not a file notation reads",
            path.display()
        ));
    }
    Ok(bytes)
}
