//! keyrite-import: verifies trust and revocation bundles on an air-gapped host and installs
//! them where notation reads them, all or nothing, with a log of every install and refusal.
//!
//! Nothing here opens a socket: bundles arrive as files and notation's files are written.

pub mod journal;
pub mod site;
pub mod state;
pub mod trustpolicy;
pub mod verdict;

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use data_encoding::BASE64;
use der::{DateTime, Decode, DecodePem, Encode};
use serde::Serialize;
use serde_json::json;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

use crate::bundle::{Bundle, BundleError, Kind, Role, parse_time};
use crate::fingerprint::Fingerprint;
use crate::keys::sha256;
use crate::pki::name::display_name;
use crate::pki::verify::{crl_issued_by, issued_by};
use journal::NewFile;
use site::{Site, Target};
use state::{Installed, InstalledBundle, InstalledCert, InstalledCrl, State};
use trustpolicy::{POLICY_FILES, notation_statement};
use verdict::Verdict;

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

/// The trust store name keyrite-import uses for a lineage.
pub fn store_name(lineage: &str) -> String {
    // The whole fingerprint: a prefix would let one lineage's bundle land in another's store.
    format!("keyrite-{lineage}")
}

/// notation's CRL cache file for a CDP URL: the lowercase hex SHA-256 of the exact URL.
pub fn crl_cache_path(cache: &Path, url: &str) -> PathBuf {
    cache.join("crl").join(hex::encode(sha256(url.as_bytes())))
}

/// The current time in whole seconds.
pub fn now() -> Result<DateTime, ImportError> {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| ImportError::Site("the system clock is before 1970".into()))?
        .as_secs();
    DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|e| ImportError::Site(e.to_string()))
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

fn days_until(t: &str, now: DateTime) -> i64 {
    parse_time("time", t).map_or(i64::MIN, |t| {
        (t.unix_duration().as_secs() as i64 - now.unix_duration().as_secs() as i64)
            .div_euclid(86_400)
    })
}

fn pem(der: &[u8]) -> Result<String, ImportError> {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
        .map_err(|e| ImportError::Install(format!("PEM encoding: {e}")))
}

fn is_symlink(path: &Path) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
}

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
        for root in site
            .targets
            .iter()
            .flat_map(|t| [&t.config, &t.cache])
            .chain([&site.state])
        {
            journal::check_root(root)?;
        }
        let state = State::open(&site.state)?;
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

    /// Whether opening found an interrupted install and completed or cleared it.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    fn roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self
            .site
            .targets
            .iter()
            .flat_map(|t| [t.config.clone(), t.cache.clone()])
            .collect();
        roots.push(self.site.state.clone());
        roots
    }

    fn log(&self, mut entry: serde_json::Value) -> Result<(), ImportError> {
        entry["time"] = json!(now()?.to_string());
        self.state.log(&entry)
    }

    /// Pins a root fingerprint: bundles signed by it may start a lineage here.
    pub fn pin(&self, fp: Fingerprint) -> Result<bool, ImportError> {
        if self.site.config_pins.is_some() {
            return Err(ImportError::Site(
                "this site's pins come from its site config (--config): add the fingerprint there"
                    .into(),
            ));
        }
        let added = self.state.add_pin(fp)?;
        if added {
            self.log(json!({ "event": "pin", "fingerprint": fp.hex() }))?;
        }
        Ok(added)
    }

    fn pins(&self) -> Result<Vec<Fingerprint>, ImportError> {
        match &self.site.config_pins {
            Some(p) => Ok(p.clone()),
            None => self.state.pins(),
        }
    }

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
        let mut installed = self.state.installed()?;
        let lineage = installed
            .lineages
            .get(&p.lineage)
            .cloned()
            .unwrap_or_default();
        let issued = parse_time("issued_at", &p.issued_at)?;
        let expires = parse_time("expires_at", &p.expires_at)?;
        if expires.unix_duration() <= now.unix_duration() {
            return Err(refused(format!(
                "the {} bundle version {} expired on {}: ask the ceremony for a current one",
                p.kind.name(),
                p.version,
                p.expires_at
            )));
        }
        if issued.unix_duration() > now.unix_duration() + CLOCK_SKEW {
            return Err(refused(format!(
                "the bundle says it was made on {}, in the future of this host's clock ({now}): check the clock",
                p.issued_at
            )));
        }

        // Who may speak for the lineage: a root installed for it, or on first contact a pinned one.
        let current: Vec<Vec<u8>> = lineage
            .trust
            .iter()
            .flat_map(|t| &t.roots)
            .filter_map(|r| BASE64.decode(r.der.as_bytes()).ok())
            .collect();
        let signer_ders: Vec<Vec<u8>> = bundle
            .signers
            .iter()
            .map(|c| c.to_der().map_err(|e| refused(e.to_string())))
            .collect::<Result<_, _>>()?;
        let fps = |ders: &[Vec<u8>]| {
            ders.iter()
                .map(|d| Fingerprint::of(d).hex())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if current.is_empty() {
            if p.kind == Kind::Revocation {
                return Err(refused(format!(
                    "no trust bundle of lineage {} is installed: install its trust bundle first",
                    p.lineage
                )));
            }
            // First contact: the lineage itself and a root that signed must both be pinned, so
            // no pinned root can speak for a lineage the site did not pin.
            let pins = self.pins()?;
            let lineage_pinned = Fingerprint::parse(&p.lineage).is_ok_and(|l| pins.contains(&l));
            if !lineage_pinned {
                return Err(refused(format!(
                    "lineage {} is not pinned on this host: compare the fingerprint with the one read at the ceremony, then run `keyrite-import pin <fingerprint>`",
                    p.lineage
                )));
            }
            if !signer_ders
                .iter()
                .any(|d| pins.contains(&Fingerprint::of(d)))
            {
                return Err(refused(format!(
                    "lineage {} is pinned but the bundle is signed by root {}, which is not: after a rotation, also pin the current root's fingerprint read at the ceremony",
                    p.lineage,
                    fps(&signer_ders)
                )));
            }
        } else if !signer_ders.iter().any(|d| current.contains(d)) {
            return Err(refused(format!(
                "the bundle for lineage {} is signed by {}, none of which is a root installed for that lineage",
                p.lineage,
                fps(&signer_ders)
            )));
        }
        let bundle_roots: Vec<&[u8]> = bundle.roots().map(|(_, d, _)| d).collect();
        for d in &signer_ders {
            if !current.contains(d) && !bundle_roots.contains(&d.as_slice()) {
                return Err(refused(format!(
                    "root {} signed the bundle but is neither installed nor carried by it",
                    Fingerprint::of(d)
                )));
            }
        }
        for d in &bundle_roots {
            if !current.iter().any(|c| c == d) && !signer_ders.iter().any(|s| s == d) {
                return Err(refused(format!(
                    "the bundle introduces root {} but that root did not sign it: a new root must prove it holds its key",
                    Fingerprint::of(d)
                )));
            }
        }

        let previous = match p.kind {
            Kind::Trust => lineage.trust.as_ref(),
            Kind::Revocation => lineage.revocation.as_ref(),
        };
        if let Some(prev) = previous {
            if p.version < prev.version {
                return Err(refused(format!(
                    "{} bundle version {} is older than version {} installed: rollback refused",
                    p.kind.name(),
                    p.version,
                    prev.version
                )));
            }
            if p.version == prev.version {
                return Err(refused(if prev.bundle_sha256 == bundle.file_sha256.hex() {
                    format!(
                        "{} bundle version {} is already installed",
                        p.kind.name(),
                        p.version
                    )
                } else {
                    format!(
                        "a different {} bundle with version {} is already installed: two bundles share a version, which a ceremony never makes; report it",
                        p.kind.name(),
                        p.version
                    )
                }));
            }
        }

        let installed_bundle_base = InstalledBundle {
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
        let store = store_name(&p.lineage);
        let mut plan = Plan::default();
        let mut new_lineage = lineage.clone();
        match p.kind {
            Kind::Trust => {
                let mut record = installed_bundle_base;
                for (e, der, cert) in bundle.roots() {
                    check_installable_root(e.name.as_str(), cert, now, true)?;
                    record.roots.push(installed_cert(der, cert));
                }
                for (e, der, cert) in bundle.tsa_roots() {
                    check_installable_root(e.name.as_str(), cert, now, false)?;
                    record.tsa_roots.push(installed_cert(der, cert));
                }
                record.policy = p
                    .policy
                    .iter()
                    .map(|s| notation_statement(s, &store))
                    .collect();
                let old_policy: Vec<serde_json::Value> = lineage
                    .trust
                    .iter()
                    .flat_map(|t| t.policy.iter().cloned())
                    .collect();
                for target in &self.site.targets {
                    self.plan_trust(
                        &mut plan,
                        &installed,
                        target,
                        &bundle,
                        &store,
                        &old_policy,
                        &record.policy,
                    )?;
                }
                new_lineage.trust = Some(record);
            }
            Kind::Revocation => {
                let mut record = installed_bundle_base;
                for (e, der, crl) in bundle.crls() {
                    let issuer = current
                        .iter()
                        .filter_map(|d| Certificate::from_der(d).ok().map(|c| (d, c)))
                        .find(|(_, c)| crl_issued_by(crl, c).is_ok())
                        .ok_or_else(|| {
                            refused(format!(
                                "CRL {} was not issued by a root installed for the lineage",
                                e.name
                            ))
                        })?;
                    check_crl_form(&e.name, crl, &issuer.1)?;
                    let next = crl
                        .tbs_cert_list
                        .next_update
                        .map(|t| t.to_date_time())
                        .ok_or_else(|| refused(format!("CRL {} has no nextUpdate", e.name)))?;
                    if next.unix_duration() <= now.unix_duration() {
                        return Err(refused(format!(
                            "CRL {} is past its nextUpdate ({next})",
                            e.name
                        )));
                    }
                    if expires.unix_duration() > next.unix_duration() {
                        return Err(refused(format!(
                            "the bundle outlives CRL {}'s nextUpdate ({next})",
                            e.name
                        )));
                    }
                    record.crls.push(InstalledCrl {
                        issuer: Fingerprint::of(issuer.0).hex(),
                        sha256: hex::encode(sha256(der)),
                        next_update: next.to_string(),
                        urls: e.urls.clone(),
                    });
                    for url in &e.urls {
                        let elsewhere = installed.lineages.iter().find(|(id, l)| {
                            **id != p.lineage
                                && l.revocation
                                    .iter()
                                    .flat_map(|r| &r.crls)
                                    .any(|c| c.urls.contains(url))
                        });
                        if let Some((id, _)) = elsewhere {
                            return Err(refused(format!(
                                "{url} is already answered by a CRL of lineage {id}: one URL, one CRL"
                            )));
                        }
                        if record.crls[..record.crls.len() - 1]
                            .iter()
                            .any(|c| c.urls.contains(url))
                        {
                            return Err(refused(format!("two CRLs answer for {url}")));
                        }
                    }
                }
                for target in &self.site.targets {
                    self.plan_revocation(
                        &mut plan,
                        &installed,
                        target,
                        &bundle,
                        lineage.revocation.as_ref(),
                    )?;
                }
                new_lineage.revocation = Some(record);
            }
        }

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
        installed.lineages.insert(p.lineage.clone(), new_lineage);
        for r in &plan.removals {
            installed.files.remove(r);
        }
        for f in &plan.files {
            if !plan.policy_files.contains(&f.path) {
                installed
                    .files
                    .insert(f.path.clone(), hex::encode(sha256(&f.content)));
            }
        }
        for pf in &plan.policy_files {
            if !installed.policy_files.contains(pf) {
                installed.policy_files.push(pf.clone());
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
            previous: previous.map(|b| b.version),
            written,
            removed: plan.removals,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_trust(
        &self,
        plan: &mut Plan,
        installed: &Installed,
        target: &Target,
        bundle: &Bundle,
        store: &str,
        old_policy: &[serde_json::Value],
        new_policy: &[serde_json::Value],
    ) -> Result<(), ImportError> {
        let mode = self.site.file_mode();
        for (dir_name, role) in [("ca", Role::Root), ("tsa", Role::TsaRoot)] {
            let dir = target
                .config
                .join("truststore/x509")
                .join(dir_name)
                .join(store);
            let mut keep = Vec::new();
            for (e, der, _) in bundle.items.iter().filter(|(e, _, _)| e.role == role) {
                let file = e.name.rsplit('/').next().unwrap_or_default();
                let path = dir.join(file);
                keep.push(path.clone());
                plan.files.push(NewFile {
                    path,
                    content: pem(der)?.into_bytes(),
                    mode,
                });
            }
            check_tree(&target.config, &dir, installed)?;
            for old in installed
                .files
                .keys()
                .filter(|p| p.parent() == Some(dir.as_path()))
            {
                if !keep.contains(old) {
                    plan.removals.push(old.clone());
                }
            }
            if !keep.is_empty() {
                plan.mkdirs.push(dir);
            }
        }
        if new_policy.is_empty() && old_policy.is_empty() {
            return Ok(());
        }
        let paths: Vec<PathBuf> = POLICY_FILES.iter().map(|f| target.config.join(f)).collect();
        let mut existing = Vec::new();
        for path in &paths {
            if is_symlink(path) {
                return Err(refused(format!(
                    "{} is a symbolic link: notation's trust policy must be a plain file",
                    path.display()
                )));
            }
            existing.push(match fs::read(path) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(ImportError::Install(format!("{}: {e}", path.display()))),
            });
        }
        // With only one file present, the other is written with the same statements, so
        // notation v1 and v2 see one policy.
        let only = existing.iter().flatten().next().cloned();
        for (path, current) in paths.iter().zip(&existing) {
            let base = current.clone().or_else(|| only.clone());
            let merged = trustpolicy::merge(base.as_deref(), old_policy, new_policy)
                .map_err(|e| refused(format!("{}: {e}", path.display())))?;
            let file_mode = fs::metadata(path)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                .unwrap_or(mode);
            plan.files.push(NewFile {
                path: path.clone(),
                content: merged,
                mode: file_mode,
            });
            plan.policy_files.push(path.clone());
        }
        plan.mkdirs.push(target.config.clone());
        Ok(())
    }

    fn plan_revocation(
        &self,
        plan: &mut Plan,
        installed: &Installed,
        target: &Target,
        bundle: &Bundle,
        previous: Option<&InstalledBundle>,
    ) -> Result<(), ImportError> {
        let dir = target.cache.join("crl");
        if is_symlink(&target.cache) || is_symlink(&dir) {
            return Err(refused(format!(
                "{} is a symbolic link: give the cache directory itself",
                dir.display()
            )));
        }
        let mut keep = Vec::new();
        for (e, der, _) in bundle.crls() {
            for url in &e.urls {
                let path = crl_cache_path(&target.cache, url);
                if is_symlink(&path) {
                    return Err(refused(format!(
                        "{} is a symbolic link planted in notation's CRL cache",
                        path.display()
                    )));
                }
                let mut content = serde_json::to_vec(&json!({ "baseCRL": BASE64.encode(der) }))
                    .map_err(|e| ImportError::Install(e.to_string()))?;
                content.push(b'\n');
                keep.push(path.clone());
                plan.files.push(NewFile {
                    path,
                    content,
                    mode: self.site.file_mode(),
                });
            }
        }
        for url in previous.iter().flat_map(|p| &p.crls).flat_map(|c| &c.urls) {
            let path = crl_cache_path(&target.cache, url);
            if !keep.contains(&path) && installed.files.contains_key(&path) {
                plan.removals.push(path);
            }
        }
        plan.mkdirs.push(dir);
        Ok(())
    }

    /// The installed state, and everything about it that needs attention.
    pub fn status(&self, now: DateTime, threshold_days: i64) -> Result<Status, ImportError> {
        let installed = self.state.installed()?;
        let mut problems = Vec::new();
        let mut lineages = Vec::new();
        let mut soon = |what: String, t: &str| {
            let days = days_until(t, now);
            if days < threshold_days {
                problems.push(if days < 0 {
                    format!("{what} expired on {t}")
                } else {
                    format!("{what} expires in {days} days ({t})")
                });
            }
            days
        };
        for (id, l) in &installed.lineages {
            let trust = l.trust.as_ref().map(|t| TrustStatus {
                version: t.version,
                expires_at: t.expires_at.clone(),
                days_left: soon(
                    format!("trust bundle v{} of lineage {}", t.version, short(id)),
                    &t.expires_at,
                ),
                roots: t
                    .roots
                    .iter()
                    .chain(&t.tsa_roots)
                    .map(|r| RootStatus {
                        sha256: r.sha256.clone(),
                        words: Fingerprint::parse(&r.sha256)
                            .map(|f| f.words().join(" "))
                            .unwrap_or_default(),
                        not_after: r.not_after.clone(),
                        days_left: soon(format!("root {}", short(&r.sha256)), &r.not_after),
                    })
                    .collect(),
                policy: t
                    .policy
                    .iter()
                    .filter_map(|s| s.get("name").and_then(|n| n.as_str()).map(str::to_owned))
                    .collect(),
            });
            let revocation = l.revocation.as_ref().map(|r| RevocationStatus {
                version: r.version,
                expires_at: r.expires_at.clone(),
                days_left: soon(
                    format!("revocation bundle v{} of lineage {}", r.version, short(id)),
                    &r.expires_at,
                ),
                crls: r
                    .crls
                    .iter()
                    .map(|c| CrlStatus {
                        issuer: c.issuer.clone(),
                        next_update: c.next_update.clone(),
                        days_left: soon(
                            format!("the CRL of root {}", short(&c.issuer)),
                            &c.next_update,
                        ),
                        urls: c.urls.clone(),
                    })
                    .collect(),
            });
            lineages.push(LineageStatus {
                lineage: id.clone(),
                words: Fingerprint::parse(id)
                    .map(|f| f.words().join(" "))
                    .unwrap_or_default(),
                trust,
                revocation,
            });
        }
        for (path, want) in &installed.files {
            if is_symlink(path) {
                problems.push(format!(
                    "{} was replaced by a symbolic link",
                    path.display()
                ));
                continue;
            }
            match fs::read(path) {
                Ok(b) if hex::encode(sha256(&b)) == *want => {}
                Ok(_) => problems.push(format!(
                    "{} was changed by hand since it was installed",
                    path.display()
                )),
                Err(_) => problems.push(format!(
                    "{} was removed by hand since it was installed",
                    path.display()
                )),
            }
        }
        let ours: Vec<&serde_json::Value> = installed
            .lineages
            .values()
            .flat_map(|l| l.trust.iter().flat_map(|t| &t.policy))
            .collect();
        for path in &installed.policy_files {
            let doc: Option<serde_json::Value> = fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let list = doc
                .as_ref()
                .and_then(|d| d.get("trustPolicies"))
                .and_then(|l| l.as_array());
            for s in &ours {
                if !list.is_some_and(|l| l.contains(s)) {
                    let name = s.get("name").and_then(|n| n.as_str()).unwrap_or_default();
                    problems.push(format!(
                        "statement '{name}' in {} was changed or removed by hand",
                        path.display()
                    ));
                }
            }
        }
        for target in &self.site.targets {
            for id in installed.lineages.keys() {
                for kind in ["ca", "tsa"] {
                    let dir = target
                        .config
                        .join("truststore/x509")
                        .join(kind)
                        .join(store_name(id));
                    for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                        if !installed.files.contains_key(&entry.path()) {
                            problems.push(format!(
                                "{} was put into keyrite's trust store by hand",
                                entry.path().display()
                            ));
                        }
                    }
                }
            }
        }
        Ok(Status { lineages, problems })
    }

    /// Judges a chain file against what is installed in the first target, at `at`: against
    /// keyrite's trust stores with every check enforced, or with `scope` (a repository such as
    /// `registry.example/app`) by the trust policy statement notation would apply to it.
    pub fn check(
        &self,
        chain: &Path,
        at: DateTime,
        scope: Option<&str>,
    ) -> Result<Verdict, ImportError> {
        let bytes = fs::read(chain)
            .map_err(|e| ImportError::Input(format!("cannot read {}: {e}", chain.display())))?;
        let certs = Certificate::load_pem_chain(&bytes)
            .or_else(|_| Certificate::from_der(&bytes).map(|c| vec![c]))
            .map_err(|e| {
                ImportError::Input(format!(
                    "{} is not a PEM chain of certificates ({e})",
                    chain.display()
                ))
            })?;
        let installed = self.state.installed()?;
        let target = self
            .site
            .targets
            .first()
            .ok_or_else(|| ImportError::Site("no target".into()))?;
        let (stores, policy) = match scope {
            None => (
                installed
                    .lineages
                    .keys()
                    .map(|id| format!("ca/{}", store_name(id)))
                    .collect(),
                verdict::Enforcement::default(),
            ),
            Some(scope) => {
                // notation matches the repository an artifact reference names; a tag or digest
                // would match no statement and fall to the wildcard one.
                let last = scope.rsplit('/').next().unwrap_or(scope);
                if scope.contains('@') || last.contains(':') || !scope.contains('/') {
                    return Err(ImportError::Input(format!(
                        "--scope {scope}: give the repository, as trust policies name it (registry.example/app), without a tag or digest"
                    )));
                }
                let file = target.config.join(trustpolicy::POLICY_FILES[0]);
                let doc: serde_json::Value = fs::read(&file)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| {
                        ImportError::Input(format!(
                            "{} is missing or not JSON: there is no trust policy to apply to {scope}",
                            file.display()
                        ))
                    })?;
                let applicable = trustpolicy::applicable(&doc, scope)
                    .map_err(|e| ImportError::Input(format!("{}: {e}", file.display())))?;
                match applicable {
                    trustpolicy::Applicable::None => {
                        return Ok(Verdict {
                            outcome: verdict::Outcome::Untrusted,
                            reason: format!(
                                "no statement of {} applies to {scope}, so notation verifies nothing there",
                                file.display()
                            ),
                        });
                    }
                    trustpolicy::Applicable::Skip(name) => {
                        return Ok(Verdict {
                            outcome: verdict::Outcome::Trusted,
                            reason: format!(
                                "statement '{name}' skips verification for {scope}: notation does not check the chain"
                            ),
                        });
                    }
                    trustpolicy::Applicable::Statement {
                        stores,
                        enforcement,
                    } => (stores, enforcement),
                }
            }
        };
        let mut roots = Vec::new();
        for store in stores {
            let dir = target.config.join("truststore/x509").join(store);
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                if let Ok(pem_bytes) = fs::read(entry.path())
                    && let Ok(c) = Certificate::from_pem(&pem_bytes)
                    && let Ok(d) = c.to_der()
                {
                    roots.push(d);
                }
            }
        }
        Ok(verdict::judge(&certs, at, &roots, &target.cache, &policy))
    }
}

#[derive(Default)]
struct Plan {
    mkdirs: Vec<PathBuf>,
    files: Vec<NewFile>,
    removals: Vec<PathBuf>,
    policy_files: Vec<PathBuf>,
}

fn installed_cert(der: &[u8], cert: &Certificate) -> InstalledCert {
    InstalledCert {
        sha256: hex::encode(sha256(der)),
        der: BASE64.encode(der),
        not_after: cert
            .tbs_certificate()
            .validity()
            .not_after
            .to_date_time()
            .to_string(),
    }
}

fn check_installable_root(
    name: &str,
    cert: &Certificate,
    now: DateTime,
    ca: bool,
) -> Result<(), ImportError> {
    let who = display_name(cert.tbs_certificate().subject());
    issued_by(cert, cert)
        .map_err(|e| refused(format!("{name} ({who}) is not a self-signed root: {e}")))?;
    let tbs = cert.tbs_certificate();
    let is_ca = tbs
        .get_extension::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(critical, b)| critical && b.ca)
        && tbs
            .get_extension::<KeyUsage>()
            .ok()
            .flatten()
            .is_some_and(|(critical, k)| critical && k.0.contains(KeyUsages::KeyCertSign));
    if ca && !is_ca {
        return Err(refused(format!(
            "{name} ({who}) is not a CA certificate (critical cA basicConstraints and keyCertSign keyUsage), which notation's ca stores require"
        )));
    }
    let v = tbs.validity();
    if now.unix_duration() > v.not_after.to_unix_duration()
        || now.unix_duration() < v.not_before.to_unix_duration()
    {
        return Err(refused(format!(
            "{name} ({who}) is not valid now ({} to {})",
            v.not_before, v.not_after
        )));
    }
    Ok(())
}

/// Refuses a CRL notation would not use: not v2, a delta CRL, a critical extension other
/// than the issuing distribution point, or an issuer without cRLSign.
fn check_crl_form(
    name: &str,
    crl: &x509_cert::crl::CertificateList,
    issuer: &Certificate,
) -> Result<(), ImportError> {
    const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
    const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
    let tbs = &crl.tbs_cert_list;
    if tbs.version != x509_cert::certificate::Version::V2 {
        return Err(refused(format!("CRL {name} is not a v2 CRL")));
    }
    for ext in tbs.crl_extensions.iter().flatten() {
        let oid = ext.extn_id.to_string();
        if oid == DELTA_CRL_INDICATOR {
            return Err(refused(format!(
                "CRL {name} is a delta CRL; a bundle carries base CRLs"
            )));
        }
        if ext.critical && oid != ISSUING_DISTRIBUTION_POINT {
            return Err(refused(format!(
                "CRL {name} has a critical extension {oid} notation refuses"
            )));
        }
    }
    let can_sign_crls = issuer
        .tbs_certificate()
        .get_extension::<KeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(_, k)| k.0.contains(KeyUsages::CRLSign));
    if !can_sign_crls {
        return Err(refused(format!(
            "CRL {name}'s issuer has no cRLSign keyUsage, so notation would refuse its CRL"
        )));
    }
    Ok(())
}

/// Refuses to install into a tree where notation would read something keyrite-import did
/// not put there: a symbolic link on the way to a store, or a stray or altered file in it.
fn check_tree(config: &Path, store_dir: &Path, installed: &Installed) -> Result<(), ImportError> {
    let mut path = store_dir.to_owned();
    while path.starts_with(config) {
        if is_symlink(&path) {
            return Err(refused(format!(
                "{} is a symbolic link: notation refuses linked trust stores; replace it with a directory",
                path.display()
            )));
        }
        if !path.pop() {
            break;
        }
    }
    let Ok(entries) = fs::read_dir(store_dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry =
            entry.map_err(|e| ImportError::Install(format!("{}: {e}", store_dir.display())))?;
        let p = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| ImportError::Install(format!("{}: {e}", p.display())))?;
        if kind.is_symlink() || !kind.is_file() {
            return Err(refused(format!(
                "{} is not a plain file keyrite-import installed: remove it from the trust store",
                p.display()
            )));
        }
        match installed.files.get(&p) {
            None => {
                return Err(refused(format!(
                    "{} was not installed by keyrite-import: notation would read it as part of the store; remove it",
                    p.display()
                )));
            }
            Some(want) => {
                let have = fs::read(&p)
                    .map(|b| hex::encode(sha256(&b)))
                    .unwrap_or_default();
                if &have != want {
                    return Err(refused(format!(
                        "{} was changed since it was installed: restore or remove it",
                        p.display()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The installed state as `status` reports it.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Per lineage.
    pub lineages: Vec<LineageStatus>,
    /// Everything expiring within the threshold or changed by hand.
    pub problems: Vec<String>,
}

/// One lineage's installed state.
#[derive(Debug, Serialize)]
pub struct LineageStatus {
    /// Fingerprint, hex.
    pub lineage: String,
    /// Fingerprint, words.
    pub words: String,
    /// The trust bundle in force.
    pub trust: Option<TrustStatus>,
    /// The revocation bundle in force.
    pub revocation: Option<RevocationStatus>,
}

/// A trust bundle in force.
#[derive(Debug, Serialize)]
pub struct TrustStatus {
    /// Version.
    pub version: u64,
    /// Expiry.
    pub expires_at: String,
    /// Whole days until expiry.
    pub days_left: i64,
    /// Roots and TSA roots.
    pub roots: Vec<RootStatus>,
    /// Policy statement names.
    pub policy: Vec<String>,
}

/// An installed root.
#[derive(Debug, Serialize)]
pub struct RootStatus {
    /// Fingerprint, hex.
    pub sha256: String,
    /// Fingerprint, words.
    pub words: String,
    /// notAfter.
    pub not_after: String,
    /// Whole days until notAfter.
    pub days_left: i64,
}

/// A revocation bundle in force.
#[derive(Debug, Serialize)]
pub struct RevocationStatus {
    /// Version.
    pub version: u64,
    /// Expiry.
    pub expires_at: String,
    /// Whole days until expiry.
    pub days_left: i64,
    /// CRLs.
    pub crls: Vec<CrlStatus>,
}

/// An installed CRL.
#[derive(Debug, Serialize)]
pub struct CrlStatus {
    /// Issuing root, hex.
    pub issuer: String,
    /// nextUpdate.
    pub next_update: String,
    /// Whole days until nextUpdate.
    pub days_left: i64,
    /// The CDP URLs.
    pub urls: Vec<String>,
}
