//! The issuance ledger: every certificate the root issued, every revocation, and the last CRL
//! number, kept in `DIR/ledger.json` and rewritten atomically on each change. A ledger belongs
//! to one root certificate. One ceremony at a time: an advisory lock on `DIR/ledger.lock` is
//! held while the ledger is open, and the OS drops it if the process dies.
//!
//! The ledger decides what the root signs (which serials a CRL lists, which number it
//! carries), and it lives on media that leave the room. So the root token keeps a record of
//! it after every change (its SHA-256, CRL number and counts): a ledger that is not the one
//! the token recorded (edited, or an older copy) is refused, naming what differs.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keys::token::{Anchored, Token, TokenError};

mod adopt;
mod record;

pub use adopt::{AdoptRequest, Adopted, adopt_ledger};
pub use record::start_record;
use record::{Facts, record_name, token_error};

/// The ledger's file name in its directory.
pub const LEDGER_FILE: &str = "ledger.json";
const LOCK_FILE: &str = "ledger.lock";
const LEDGER_VERSION: u32 = 1;
/// The largest ledger read (a million revocations fit).
const MAX_LEDGER: u64 = 512 * 1024 * 1024;

/// One issued certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Issued {
    /// Serial number, lowercase hex of the DER integer's content.
    pub serial: String,
    /// Subject as notation shows it.
    pub subject: String,
    /// SHA-256 of the subject's SubjectPublicKeyInfo, hex.
    pub key_sha256: String,
    /// `signing` or `ca`.
    pub profile: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// SHA-256 of the CSR's DER, hex.
    pub csr_sha256: String,
    /// SHA-256 of the certificate's DER, hex.
    pub cert_sha256: String,
    /// When it was issued (RFC 3339).
    pub issued_at: String,
}

/// One revocation, carried on every CRL after it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revoked {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// RFC 5280 reason name (e.g. `keyCompromise`).
    pub reason: String,
    /// When the key is known or suspected to have been compromised (RFC 3339).
    pub invalidity_date: Option<String>,
    /// When it was revoked (RFC 3339): the CRL entry's revocationDate.
    pub revoked_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Data {
    version: u32,
    /// SHA-256 of the root certificate this ledger belongs to, hex.
    root_sha256: String,
    crl_number: u64,
    issued: Vec<Issued>,
    revoked: Vec<Revoked>,
}

/// Why the ledger could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Another keyrite holds it.
    #[error("the ledger in {0} is in use by another keyrite: wait for it to finish")]
    Locked(PathBuf),
    /// There is no ledger where one must exist.
    #[error(
        "there is no ledger in {0}: give the ceremony's --ledger DIR, the one `delegate issue` wrote \
         (a CRL made from an empty ledger would drop every revocation)"
    )]
    Missing(PathBuf),
    /// The ledger is not the one the root token recorded.
    #[error(
        "the ledger in {dir} is not the one root token '{token}' recorded: {differences}. \
         Nothing was signed: restore the ledger the last ceremony wrote (the root signs nothing \
         from a ledger it did not write)"
    )]
    Tampered {
        /// The ledger directory.
        dir: PathBuf,
        /// The root token's label.
        token: String,
        /// What differs.
        differences: String,
    },
    /// The ledger belongs to another root.
    #[error(
        "the ledger in {dir} belongs to the root certificate with SHA-256 {ledger_root}, not to \
         {given} ({given_sha256}): give that root's ledger"
    )]
    OtherRoot {
        /// The ledger directory.
        dir: PathBuf,
        /// The root the ledger records.
        ledger_root: String,
        /// The certificate given.
        given: String,
        /// Its SHA-256.
        given_sha256: String,
    },
    /// The root token's record of the ledger could not be read or written.
    #[error("the root token's record of the ledger: {0}")]
    Token(#[source] Box<TokenError>),
    /// It cannot be read or written.
    #[error("ledger {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// An open ledger, locked for this process until dropped, with the root token that keeps its
/// record.
pub struct Ledger<'t> {
    dir: PathBuf,
    data: Data,
    token: &'t Token,
    record_name: String,
    record: Option<Anchored<Facts>>,
    /// Holds the advisory lock; the OS releases it when the process ends, however it ends.
    _lock: fs::File,
}

impl<'t> Ledger<'t> {
    /// Opens the ledger in `dir` for the root certificate `root` (`root_der`), locking it, and
    /// checks it is the one `token` (the root token, logged in) recorded. With `create`, a
    /// missing ledger is started; without, a missing ledger is an error.
    pub fn open(
        dir: &Path,
        root: &Path,
        root_der: &[u8],
        create: bool,
        token: &'t Token,
    ) -> Result<Self, LedgerError> {
        if !create && !dir.join(LEDGER_FILE).exists() {
            return Err(LedgerError::Missing(dir.to_owned()));
        }
        let (mut ledger, on_disk) = Self::load(dir, root, root_der, token)?;
        let tampered = |differences: String| LedgerError::Tampered {
            dir: dir.to_owned(),
            token: token.label().to_owned(),
            differences,
        };
        let facts = on_disk.unwrap_or_else(Facts::none);
        let Some(kept) = ledger.record.as_mut() else {
            return Err(tampered(
                "the token has no record of this root's ledger (a root made before ledgers were \
                 recorded, or a replaced token): check the ledger against the paper log and the \
                 last CRL with `keyrite ledger adopt`"
                    .into(),
            ));
        };
        if !kept.matches(&facts) {
            return Err(tampered(facts.differences(&kept.current)));
        }
        Ok(ledger)
    }

    /// Locks and reads the ledger in `dir` (an empty one when there is none) with the token's
    /// record of it, both unchecked against each other; the facts of the file, when there is one.
    fn load(
        dir: &Path,
        root: &Path,
        root_der: &[u8],
        token: &'t Token,
    ) -> Result<(Self, Option<Facts>), LedgerError> {
        let io = |path: &Path, e: &dyn std::fmt::Display| LedgerError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let path = dir.join(LEDGER_FILE);
        fs::create_dir_all(dir).map_err(|e| io(dir, &e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(&lock_path)
            .map_err(|e| io(&lock_path, &e))?;
        if !lock.metadata().map_err(|e| io(&lock_path, &e))?.is_file() {
            return Err(io(&lock_path, &"it is not a regular file"));
        }
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Err(LedgerError::Locked(dir.to_owned())),
            Err(e) => return Err(io(&lock_path, &e)),
        }
        let root_sha256 = hex::encode(crate::keys::sha256(root_der));
        let root_key = <x509_cert::Certificate as der::Decode>::from_der(root_der)
            .ok()
            .and_then(|c| {
                crate::keys::PublicKey::from_spki(c.tbs_certificate().subject_public_key_info())
                    .ok()
            })
            .ok_or_else(|| io(root, &"the root certificate's key cannot be read"))?;
        let record_name = record_name(&root_key)?;
        let record = Anchored::<Facts>::read(token, &record_name).map_err(token_error)?;
        let read =
            crate::sys::input::read_if_present(&path, MAX_LEDGER, crate::sys::input::Links::Refuse)
                .map_err(|e| io(&path, &e))?;
        let (data, facts) = match read {
            Some(bytes) => {
                let data: Data = serde_json::from_slice(&bytes)
                    .map_err(|e| io(&path, &format!("not a keyrite ledger ({e})")))?;
                if data.version != LEDGER_VERSION {
                    return Err(io(
                        &path,
                        &format!("ledger version {} is not {LEDGER_VERSION}", data.version),
                    ));
                }
                if data.root_sha256 != root_sha256 {
                    return Err(LedgerError::OtherRoot {
                        dir: dir.to_owned(),
                        ledger_root: data.root_sha256,
                        given: root.display().to_string(),
                        given_sha256: root_sha256,
                    });
                }
                let facts = Facts::of(&bytes, &data);
                (data, Some(facts))
            }
            None => (
                Data {
                    version: LEDGER_VERSION,
                    root_sha256,
                    ..Data::default()
                },
                None,
            ),
        };
        let ledger = Self {
            dir: dir.to_owned(),
            data,
            token,
            record_name,
            record,
            _lock: lock,
        };
        Ok((ledger, facts))
    }

    /// Whether a certificate with `serial` (hex) was issued.
    pub fn knows_serial(&self, serial: &str) -> bool {
        self.data.issued.iter().any(|i| i.serial == serial)
    }

    /// Every issued certificate.
    pub fn issued(&self) -> &[Issued] {
        &self.data.issued
    }

    /// Every revocation so far.
    pub fn revoked(&self) -> &[Revoked] {
        &self.data.revoked
    }

    /// The number of the last CRL issued (0 before the first).
    pub fn crl_number(&self) -> u64 {
        self.data.crl_number
    }

    /// Records revocations and the last CRL number used, and saves the ledger. A number that
    /// does not grow is refused: no two CRLs of a root share one.
    pub fn record_crls(
        &mut self,
        revoked: Vec<Revoked>,
        last_number: u64,
    ) -> Result<(), LedgerError> {
        if last_number <= self.data.crl_number {
            return Err(LedgerError::Io {
                path: self.dir.join(LEDGER_FILE),
                reason: format!(
                    "CRL number {last_number} does not follow {}, the last one issued",
                    self.data.crl_number
                ),
            });
        }
        self.data.revoked.extend(revoked);
        self.data.crl_number = last_number;
        self.save()
    }

    /// Records an issuance and saves the ledger.
    pub fn record(&mut self, entry: Issued) -> Result<(), LedgerError> {
        self.data.issued.push(entry);
        self.save()
    }

    /// Writes the ledger through a synced temporary file renamed over the old one, the root
    /// token recording what it is about to hold before, and that it holds it after.
    fn save(&mut self) -> Result<(), LedgerError> {
        let path = self.dir.join(LEDGER_FILE);
        let fail = |e: &dyn std::fmt::Display| LedgerError::Io {
            path: path.clone(),
            reason: e.to_string(),
        };
        let json = serde_json::to_vec_pretty(&self.data).map_err(|e| fail(&e))?;
        let next = Facts::of(&json, &self.data);
        // `open` and `adopt` hand out only a ledger the token has a record of.
        let record = self
            .record
            .as_mut()
            .ok_or_else(|| fail(&"the root token has no record of this ledger"))?;
        record
            .begin(self.token, &self.record_name, next)
            .map_err(token_error)?;
        crate::sys::output::replace_file(
            &self.dir,
            LEDGER_FILE,
            &json,
            crate::sys::output::PRIVATE,
        )
        .map_err(|e| fail(&e))?;
        record
            .commit(self.token, &self.record_name)
            .map_err(token_error)
    }
}
