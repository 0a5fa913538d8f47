//! An install: a bundle verified completely, then every file notation reads planned, checked
//! and committed through the journal, so a crash leaves the old or the new state, never a mix.

use std::fs;
use std::path::{Path, PathBuf};

use der::DateTime;
use serde::Serialize;
use serde_json::json;

use super::journal::{self, NewFile};
use super::state::{self, Installed, InstalledBundle, Lineage};
use super::{ImportError, Importer, crl_cache, lineage, policy_files, refused, truststore};
use crate::bundle::{Bundle, Kind};
use crate::keys::sha256;

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

impl Importer {
    /// Verifies `path` completely and installs it, or refuses it and changes nothing. Both
    /// are logged.
    pub fn install(&self, path: &Path, now: DateTime) -> Result<Installation, ImportError> {
        let file = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        match self.try_install(path, now) {
            Ok(done) => {
                self.log(json!({
                    "event": "install", "file": file, "kind": done.kind, "lineage": done.lineage,
                    "version": done.version, "previous": done.previous,
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
                let digest = fs::read(path).ok().map(|b| hex::encode(sha256(&b)));
                let logged = self.log(json!({
                    "event": event, "file": file, "file_sha256": digest, "reason": e.to_string(),
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

    fn try_install(&self, path: &Path, now: DateTime) -> Result<Installation, ImportError> {
        let bundle = Bundle::read(path)?;
        let p = &bundle.payload;
        let installed = self.state.installed(&self.site.targets)?;
        let old = installed
            .lineages
            .get(&p.lineage)
            .cloned()
            .unwrap_or_default();
        let expires = lineage::check_fresh(&bundle, now)?;
        let current = lineage::current_roots(&old);
        lineage::check_signers(&bundle, &current, &self.pins()?)?;
        let previous = match p.kind {
            Kind::Trust => old.trust.as_ref(),
            Kind::Revocation => old.revocation.as_ref(),
        };
        lineage::check_version(&bundle, previous)?;
        let base = InstalledBundle {
            version: p.version,
            bundle_sha256: bundle.file_sha256.hex(),
            issued_at: p.issued_at.clone(),
            expires_at: p.expires_at.clone(),
            installed_at: now.to_string(),
            roots: Vec::new(),
            tsa_roots: Vec::new(),
            policy: Vec::new(),
            crls: Vec::new(),
        };
        let mut plan = Plan::default();
        let mut new = old.clone();
        let mode = self.site.file_mode();
        match p.kind {
            Kind::Trust => {
                let record = truststore::trust_record(&bundle, base, now)?;
                let old_policy: Vec<serde_json::Value> = old
                    .trust
                    .iter()
                    .flat_map(|t| t.policy.iter().cloned())
                    .collect();
                for target in &self.site.targets {
                    truststore::plan_stores(&mut plan, &installed, target, &bundle, mode)?;
                    policy_files::plan_policy(
                        &mut plan,
                        target,
                        &old_policy,
                        &record.policy,
                        mode,
                    )?;
                }
                new.trust = Some(record);
            }
            Kind::Revocation => {
                let record = crl_cache::revocation_record(
                    &bundle, base, &current, &installed, now, expires,
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
        self.commit(&bundle, installed, new, plan, previous)
    }

    /// Records `lineage`'s new state beside the planned files and commits them all through
    /// the journal, after refusing a destination that is not a plain file.
    fn commit(
        &self,
        bundle: &Bundle,
        mut installed: Installed,
        lineage: Lineage,
        mut plan: Plan,
        previous: Option<u64>,
    ) -> Result<Installation, ImportError> {
        let p = &bundle.payload;
        // A step after the commit point must not fail: every destination is absent or a
        // plain file now, or the install is refused here.
        for path in plan.files.iter().map(|f| &f.path).chain(&plan.removals) {
            if let Ok(meta) = path.symlink_metadata()
                && !meta.file_type().is_file()
            {
                return Err(refused(format!(
                    "{} is not a plain file: remove what was put there, then install again",
                    path.display()
                )));
            }
        }
        installed.lineages.insert(p.lineage.clone(), lineage);
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
        let written: Vec<PathBuf> = plan.files.iter().map(|f| f.path.clone()).collect();
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
        )?;
        Ok(Installation {
            kind: p.kind,
            lineage: p.lineage.clone(),
            version: p.version,
            previous,
            written,
            removed: plan.removals,
        })
    }
}
