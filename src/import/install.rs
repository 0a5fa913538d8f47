//! An install: a bundle verified completely, then every file notation reads planned, checked
//! and committed through the journal, so a crash leaves the old or the new state, never a mix.

use std::fs;
use std::path::{Path, PathBuf};

use der::DateTime;
use serde::Serialize;
use serde_json::json;

use super::journal::{self, NewFile};
use super::site::Site;
use super::state::{self, Installed, InstalledBundle, Lineage};
use super::{ImportError, Importer, crl_cache, lineage, now, policy_files, refused, truststore};
use crate::bundle::{Bundle, Kind, MAX_BUNDLE_BYTES};
use crate::keys::sha256;
use crate::sys::input::Links;

/// What an install did.
#[derive(Debug, Serialize)]
pub struct Installation {
    /// Trust or revocation.
    pub kind: Kind,
    /// The lineage.
    pub lineage: String,
    /// The new version.
    pub version: u64,
    /// The version it replaced.
    pub previous: Option<u64>,
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Files removed.
    pub removed: Vec<PathBuf>,
}

/// Everything an install will change, in every target.
#[derive(Default)]
pub(super) struct Plan {
    /// Directories to create.
    pub(super) mkdirs: Vec<PathBuf>,
    /// Files to write.
    pub(super) files: Vec<NewFile>,
    /// Files to remove.
    pub(super) removals: Vec<PathBuf>,
    /// The trust policy files among `files`, recorded apart: the site edits them too.
    pub(super) policy_files: Vec<PathBuf>,
}

/// A bundle file read and checked for an install, before the state is locked: the costly
/// part (reading, the CMS signatures, the payload) holds no lock.
pub struct Incoming {
    file: PathBuf,
    bundle: Bundle,
}

impl Incoming {
    /// Reads and checks the bundle at `path`; nothing is locked or written. A bundle that
    /// does not read or check is refused here and the refusal logged, without waiting for
    /// the state's lock: an install in progress does not delay it, nor it the install.
    pub fn read(path: &Path, site: &Site) -> Result<Self, ImportError> {
        let file = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        match Bundle::read(path) {
            Ok(bundle) => Ok(Self { file, bundle }),
            Err(e) => {
                let file_sha256 = crate::sys::input::read(path, MAX_BUNDLE_BYTES, Links::Refuse)
                    .ok()
                    .map(|b| hex::encode(sha256(&b)));
                let e = ImportError::from(e);
                journal::check_root(&site.state)?;
                let entry = json!({
                    "event": "refuse", "file": file, "file_sha256": file_sha256,
                    "reason": e.to_string(), "time": now()?.to_string(),
                });
                Err(match state::append_log(&site.state, &entry) {
                    Ok(()) => e,
                    Err(log) => ImportError::Install(format!(
                        "{e}; and the log could not be written: {log}"
                    )),
                })
            }
        }
    }
}

impl Importer {
    /// Installs a bundle read by [`Incoming::read`], or refuses it and changes nothing. Both
    /// are logged.
    pub fn install(&self, incoming: Incoming, now: DateTime) -> Result<Installation, ImportError> {
        self.install_as(incoming, now, false)
    }

    /// Re-applies the bundle installed (the same file, the same version) when keyrite's own
    /// files were changed by hand: its trust stores, its statements and its CRL cache entries
    /// are written again. `written` lists the files that differed; nothing else changes.
    pub fn repair(&self, incoming: Incoming, now: DateTime) -> Result<Installation, ImportError> {
        self.install_as(incoming, now, true)
    }

    fn install_as(
        &self,
        incoming: Incoming,
        now: DateTime,
        repair: bool,
    ) -> Result<Installation, ImportError> {
        let Incoming { file, bundle } = incoming;
        let file_sha256 = bundle.file_sha256.hex();
        match self.try_install(bundle, now, repair) {
            Ok(done) => {
                // From its first install, the state serves these notation directories only.
                self.state.check_serves(&self.site.targets, true)?;
                self.log(json!({
                    "event": if repair { "repair" } else { "install" }, "file": file,
                    "kind": done.kind, "lineage": done.lineage, "version": done.version,
                    "previous": done.previous, "written": done.written,
                }))
                .map_err(|e| {
                    ImportError::Install(format!(
                        "the bundle was installed, but the log could not be written: {e}"
                    ))
                })?;
                Ok(done)
            }
            Err(e) => {
                // A refusal changed nothing; an error after the commit point is completed by
                // the next command.
                let event = match e {
                    ImportError::Bundle(_) | ImportError::Refused(_) => "refuse",
                    _ => "error",
                };
                let logged = self.log(json!({
                    "event": event, "file": file, "file_sha256": file_sha256, "reason": e.to_string(),
                }));
                Err(match logged {
                    Ok(()) => e,
                    Err(log) => ImportError::Install(format!(
                        "{e}; and the log could not be written: {log}"
                    )),
                })
            }
        }
    }

    fn try_install(
        &self,
        bundle: Bundle,
        now: DateTime,
        repair: bool,
    ) -> Result<Installation, ImportError> {
        let p = &bundle.payload;
        let installed = self.state.installed(&self.site.targets)?;
        let old = installed
            .lineages
            .get(&p.lineage)
            .cloned()
            .unwrap_or_default();
        let pins = self.pins()?;
        let expires = lineage::check_fresh(&bundle, now)?;
        lineage::check_signers(&bundle, &old, &pins)?;
        let previous = match p.kind {
            Kind::Trust => old.trust.as_ref(),
            Kind::Revocation => old.revocation.as_ref(),
        };
        lineage::check_version(&bundle, previous, repair)?;
        let base = InstalledBundle {
            version: p.version,
            bundle_sha256: bundle.file_sha256.hex(),
            issued_at: p.issued_at.clone(),
            expires_at: p.expires_at.clone(),
            // A repair re-applies what was installed then.
            installed_at: match previous {
                Some(prev) if repair => prev.installed_at.clone(),
                _ => now.to_string(),
            },
            roots: Vec::new(),
            tsa_roots: Vec::new(),
            policy: Vec::new(),
            crls: Vec::new(),
            crl_urls: Vec::new(),
            third_parties: Vec::new(),
        };
        let mut plan = Plan::default();
        let mut new = old.clone();
        let mode = self.site.file_mode();
        match p.kind {
            Kind::Trust => {
                lineage::check_claims(&bundle, &pins, &installed)?;
                let record = truststore::trust_record(&bundle, base, now)?;
                let old_policy: Vec<serde_json::Value> = old
                    .trust
                    .iter()
                    .flat_map(|t| t.policy.iter().cloned())
                    .collect();
                for target in &self.site.targets {
                    truststore::plan_stores(&mut plan, &installed, target, &bundle, mode, repair)?;
                    policy_files::plan_policy(
                        &mut plan,
                        target,
                        &old_policy,
                        &record.policy,
                        mode,
                        repair,
                    )?;
                }
                let kept: Vec<&[u8]> = bundle.roots().map(|(_, d, _)| d).collect();
                new.retired
                    .extend(lineage::newly_retired(&old, &kept, p.version));
                new.enforced_at = None;
                new.trust = Some(record);
            }
            Kind::Revocation => {
                let current = lineage::current_roots(&old);
                let record = crl_cache::revocation_record(
                    &bundle, base, &current, &old, &installed, now, expires,
                )?;
                for target in &self.site.targets {
                    crl_cache::plan_revocation(
                        &mut plan,
                        &installed,
                        target,
                        &bundle,
                        old.revocation.as_ref(),
                        mode,
                    )?;
                }
                new.revocation = Some(record);
            }
        }
        let previous = previous.map(|b| b.version);
        if repair {
            // Only what differs from the bundle is said, and nothing is written when nothing does.
            plan.files.retain(|f| {
                crate::sys::input::read(&f.path, 64 * 1024 * 1024, crate::sys::input::Links::Refuse)
                    .map_or(true, |now| now != f.content)
            });
            if plan.files.is_empty() && plan.removals.is_empty() {
                return Ok(Installation {
                    kind: p.kind,
                    lineage: p.lineage.clone(),
                    version: p.version,
                    previous,
                    written: Vec::new(),
                    removed: Vec::new(),
                });
            }
        }
        self.commit(&bundle, installed, new, plan, previous)
    }

    /// Records `lineage`'s new state beside the planned files and commits them all.
    fn commit(
        &self,
        bundle: &Bundle,
        mut installed: Installed,
        lineage: Lineage,
        plan: Plan,
        previous: Option<u64>,
    ) -> Result<Installation, ImportError> {
        let p = &bundle.payload;
        installed.lineages.insert(p.lineage.clone(), lineage);
        let written: Vec<PathBuf> = plan.files.iter().map(|f| f.path.clone()).collect();
        let removed = plan.removals.clone();
        self.commit_plan(installed, plan)?;
        Ok(Installation {
            kind: p.kind,
            lineage: p.lineage.clone(),
            version: p.version,
            previous,
            written,
            removed,
        })
    }

    /// Commits `plan` with `installed` as the new record, through the journal, after
    /// refusing a destination that is not a plain file.
    pub(super) fn commit_plan(
        &self,
        mut installed: Installed,
        mut plan: Plan,
    ) -> Result<(), ImportError> {
        // A step after the commit point must not fail: every destination is absent or a
        // plain file now, and its directory (or the nearest one there is) one this user may
        // write in, or the install is refused here.
        for path in plan.files.iter().map(|f| &f.path).chain(&plan.removals) {
            if let Ok(meta) = path.symlink_metadata()
                && !meta.file_type().is_file()
            {
                return Err(refused(format!(
                    "{} is not a plain file: remove what was put there, then install again",
                    path.display()
                )));
            }
            if let Some(dir) = path.ancestors().skip(1).find(|d| d.exists())
                && let Err(e) = rustix::fs::access(dir, rustix::fs::Access::WRITE_OK)
            {
                let e = std::io::Error::from_raw_os_error(e.raw_os_error());
                return Err(refused(super::io_message(dir, &e)));
            }
        }
        let key = |p: &Path| self.site.targets.iter().find_map(|t| t.key(p));
        for r in &plan.removals {
            if let Some(k) = key(r) {
                installed.files.remove(&k);
            }
        }
        for f in &plan.files {
            if !plan.policy_files.contains(&f.path)
                && let Some(k) = key(&f.path)
            {
                installed.files.insert(k, hex::encode(sha256(&f.content)));
            }
        }
        for pf in &plan.policy_files {
            if let Some(k) = key(pf)
                && !installed.policy_files.contains(&k)
            {
                installed.policy_files.push(k);
            }
        }
        let record =
            serde_json::to_vec_pretty(&installed).map_err(|e| ImportError::State(e.to_string()))?;
        plan.files.push(NewFile {
            path: self.state.dir().join(state::INSTALLED),
            content: record,
            mode: 0o600,
        });
        journal::commit(
            self.state.dir(),
            &self.roots(),
            &plan.mkdirs,
            plan.files,
            &plan.removals,
        )
    }
}
