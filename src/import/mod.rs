//! keyrite-import: verifies trust and revocation bundles on an air-gapped host and installs
//! them where notation reads them, all or nothing, with a log of every install and refusal.
//!
//! Nothing here opens a socket: bundles arrive as files and notation's files are written.

mod check;
mod confined;
mod crl_cache;
mod enforce;
mod install;
pub mod journal;
mod lineage;
pub mod pins;
mod policy_files;
pub mod site;
pub mod state;
mod status;
pub mod trustpolicy;
mod truststore;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use der::DateTime;
use serde_json::json;

use crate::bundle::BundleError;
use site::Site;
use state::State;

pub use check::{Checked, ThirdPartyAnchor};
pub use enforce::{EnforceAction, Enforcement};
pub use install::{Incoming, Installation};
pub use pins::{OnExpiry, Pin, Pinned};
pub use status::{
    CrlStatus, LineageStatus, RevocationStatus, RootStatus, Status, ThirdPartyStatus, TrustStatus,
};
pub use truststore::{store_name, third_party_store_name};

/// How far in the future a bundle's issued_at may be, for clocks that disagree a little.
pub const CLOCK_SKEW: Duration = Duration::from_secs(10 * 60);

/// Why keyrite-import refused or failed. Every refusal leaves the installed state untouched.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bundle is unreadable, damaged or malformed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The bundle is intact but this site does not accept it.
    #[error("refused: {0}")]
    Refused(String),
    /// The site's configuration is unusable.
    #[error("{0}")]
    Site(String),
    /// keyrite-import's state directory is unusable.
    #[error("state: {0}")]
    State(String),
    /// Writing the install failed (after the commit point, the next command completes it).
    #[error("install: {0}")]
    Install(String),
    /// A chain given to `check` cannot be read.
    #[error("{0}")]
    Input(String),
}

fn refused(msg: impl Into<String>) -> ImportError {
    ImportError::Refused(msg.into())
}

/// The first 16 characters of a fingerprint, for messages; all of it when shorter (a state
/// file edited by hand).
pub fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

/// The current time in whole seconds.
pub fn now() -> Result<DateTime, ImportError> {
    crate::sys::clock::now().map_err(|e| ImportError::Site(e.to_string()))
}

/// Parses `--at`: RFC 3339 UTC (`2027-01-31T12:00:00Z`) or a date (`2027-01-31`).
pub fn parse_at(text: &str) -> Result<DateTime, ImportError> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    DateTime::from_str(&full).map_err(|_| {
        ImportError::Input(format!(
            "--at '{text}' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
        ))
    })
}

/// Whether `path` is a symbolic link itself (not followed).
fn is_symlink(path: &Path) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
}

/// `path: error`, and for a permission refused, whose it is and what to do instead of the
/// bare "Permission denied (os error 13)".
pub(crate) fn io_message(path: &Path, e: &std::io::Error) -> String {
    if e.kind() != std::io::ErrorKind::PermissionDenied {
        return format!("{}: {e}", path.display());
    }
    let owner = path
        .ancestors()
        .find_map(|p| std::os::unix::fs::MetadataExt::uid(&p.symlink_metadata().ok()?).into());
    format!(
        "{}: permission denied to uid {}{}: run keyrite-import as the user whose notation \
         configuration it is, or give directories of your own (--notation-config, \
         --notation-cache, --state)",
        path.display(),
        rustix::process::geteuid().as_raw(),
        owner
            .map(|o: u32| format!(" (it belongs to uid {o})"))
            .unwrap_or_default()
    )
}

/// The trees an install writes in: every target's config and cache, and the state.
fn site_roots(site: &Site) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = site
        .targets
        .iter()
        .flat_map(|t| [t.config.clone(), t.cache.clone()])
        .collect();
    roots.push(site.state.clone());
    roots
}

/// A site's installer, holding its state directory's lock. Opening it completes or clears
/// any install a crash interrupted.
pub struct Importer {
    site: Site,
    state: State,
    recovered: bool,
}

impl Importer {
    /// Locks the state and recovers from an interrupted install.
    pub fn open(site: Site) -> Result<Self, ImportError> {
        for root in site_roots(&site) {
            journal::check_root(&root)?;
        }
        let state = State::open(&site.state)?;
        state.check_serves(&site.targets, false)?;
        let mut importer = Self {
            site,
            state,
            recovered: false,
        };
        importer.recovered = journal::recover(importer.state.dir(), &importer.roots())?;
        if importer.recovered {
            importer.log(json!({ "event": "recover" }))?;
        }
        Ok(importer)
    }

    /// Opens the site to read what is installed and pinned, for any user who can read its
    /// files: nothing is created or written, the state's lock is shared, and an interrupted
    /// install is reported, not recovered (that takes the state's owner).
    pub fn open_read_only(site: Site) -> Result<Self, ImportError> {
        for root in site_roots(&site) {
            journal::check_root_as(&root, true)?;
        }
        if journal::pending(&site.state, &site_roots(&site)) {
            // The state's owner completes the interrupted install first, as every command that
            // writes does; anyone else is told to ask the owner.
            let owner = std::os::unix::fs::MetadataExt::uid(
                &site
                    .state
                    .symlink_metadata()
                    .map_err(|e| ImportError::State(io_message(&site.state, &e)))?,
            );
            if owner == rustix::process::geteuid().as_raw() {
                return Self::open(site);
            }
            return Err(ImportError::State(format!(
                "an install into {} was interrupted: `keyrite-import recover`, run by the \
                 state's owner, completes or clears it; then ask again",
                site.state.display()
            )));
        }
        let state = State::open_read_only(&site.state)?;
        state.check_serves(&site.targets, false)?;
        Ok(Self {
            site,
            state,
            recovered: false,
        })
    }

    /// Whether opening found an interrupted install and completed or cleared it.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    fn roots(&self) -> Vec<PathBuf> {
        site_roots(&self.site)
    }

    fn log(&self, mut entry: serde_json::Value) -> Result<(), ImportError> {
        entry["time"] = json!(now()?.to_string());
        self.state.log(&entry)
    }
}
