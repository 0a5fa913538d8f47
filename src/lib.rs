//! keyrite: an offline key-ceremony toolkit for container signing with the Notary Project.
//!
//! The library holds every operation; the `keyrite` and `keyrite-import` binaries only parse
//! arguments, call into it, and report. `ARCHITECTURE.md` maps the folders below and what
//! flows between them. Nothing in this crate talks to a network.

pub mod bundle;
pub mod ca;
pub mod ceremony;
mod error;
pub mod fingerprint;
pub mod import;
pub mod keys;
pub mod notation;
pub mod pki;
pub mod publisher;
pub mod shares;
pub mod sys;
pub mod tui;

pub use error::Error;
