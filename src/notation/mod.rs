//! What notation v1.3.2 accepts and how it decides, reproduced from its code and checked
//! against the real binary by the tests: trust policy documents, trusted identities,
//! registry scopes, trust stores, its CRL cache, the integrity and revocation of a chain, the
//! verdict on a signature by it, and what it asks a signing plugin to sign. keyrite-import
//! judges with it, and both the importer and the ceremony refuse to write what it would
//! reject. Nothing here writes a file or reaches a network.

pub mod anchor;
mod chain;
pub mod crl_cache;
pub mod dn;
pub mod go;
pub mod payload;
pub mod policy;
mod revocation;
pub mod scope;
pub mod store;
pub mod tsa;
pub mod verdict;

use std::path::Path;

/// Trust policy files larger than this are refused unread. notation reads a policy of any
/// size; the bound, far beyond any real policy, only keeps a hostile file from exhausting
/// memory.
pub const MAX_POLICY_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file notation reads: a regular file of at most `max` bytes, a link followed as
/// notation follows it, a FIFO refused unread.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    crate::sys::input::read(path, max, crate::sys::input::Links::Follow).map_err(|e| e.to_string())
}
