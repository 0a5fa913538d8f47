//! notation's trust stores as keyrite-import fills them: one `ca` and one `tsa` store per
//! lineage, holding exactly the roots of the lineage's trust bundle in force.

use std::fs;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use der::DateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

use super::install::Plan;
use super::journal::NewFile;
use super::site::Target;
use super::state::{Installed, InstalledBundle, InstalledCert};
use super::trustpolicy::notation_statement;
use super::{ImportError, is_symlink, refused};
use crate::bundle::{Bundle, Role};
use crate::keys::sha256;
use crate::pki::name::display_name;
use crate::pki::verify::issued_by;
use crate::sys::input::Links;

/// A root's PEM file as keyrite-import writes it is a few kilobytes.
const MAX_ROOT_FILE_BYTES: u64 = 1024 * 1024;

/// The trust store name keyrite-import uses for a lineage.
pub fn store_name(lineage: &str) -> String {
    // The whole fingerprint: a prefix would let one lineage's bundle land in another's store.
    format!("keyrite-{lineage}")
}

/// The record of a trust bundle: its roots and TSA roots, each checked to be a root notation
/// would use, and its policy statements in notation's form naming the lineage's store.
pub(super) fn trust_record(
    bundle: &Bundle,
    mut record: InstalledBundle,
    now: DateTime,
) -> Result<InstalledBundle, ImportError> {
    let store = store_name(&bundle.payload.lineage);
    for (e, der, cert) in bundle.roots() {
        check_installable_root(e.name.as_str(), cert, now, true)?;
        record.roots.push(installed_cert(der, cert));
    }
    for (e, der, cert) in bundle.tsa_roots() {
        check_installable_root(e.name.as_str(), cert, now, false)?;
        record.tsa_roots.push(installed_cert(der, cert));
    }
    record.crl_urls = bundle.payload.crl_urls.clone();
    record.policy = bundle
        .payload
        .policy
        .iter()
        .map(|s| notation_statement(s, &store))
        .collect();
    Ok(record)
}

/// Plans the lineage's `ca` and `tsa` stores in `target`: every root of the bundle written,
/// every file keyrite-import installed there before and the bundle no longer carries removed.
pub(super) fn plan_stores(
    plan: &mut Plan,
    installed: &Installed,
    target: &Target,
    bundle: &Bundle,
    mode: u32,
    repair: bool,
) -> Result<(), ImportError> {
    for (kind, role) in [("ca", Role::Root), ("tsa", Role::TsaRoot)] {
        let dir = store_dir(target, kind, &bundle.payload.lineage);
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
        check_tree(target, &dir, installed, repair)?;
        for old in installed_in(installed, target, &dir) {
            if !keep.contains(&old) {
                plan.removals.push(old);
            }
        }
        if !keep.is_empty() {
            plan.mkdirs.push(dir);
        }
    }
    Ok(())
}

/// The directory of `lineage`'s `kind` store (`ca` or `tsa`) in `target`.
pub(super) fn store_dir(target: &Target, kind: &str, lineage: &str) -> PathBuf {
    target
        .config
        .join("truststore/x509")
        .join(kind)
        .join(store_name(lineage))
}

/// The files keyrite-import installed in the directory `dir` of `target`.
pub(super) fn installed_in<'a>(
    installed: &'a Installed,
    target: &'a Target,
    dir: &'a Path,
) -> impl Iterator<Item = PathBuf> + 'a {
    installed
        .files
        .keys()
        .filter_map(|k| target.path(k))
        .filter(move |p| p.parent() == Some(dir))
}

fn pem(der: &[u8]) -> Result<String, ImportError> {
    crate::pki::pem("CERTIFICATE", der).map_err(|e| ImportError::Install(e.to_string()))
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

/// Refuses to install into a tree where notation would read something keyrite-import did
/// not put there: a symbolic link on the way to a store, or a stray or altered file in it
/// (an altered one of its own is written again when `repair`).
fn check_tree(
    target: &Target,
    store_dir: &Path,
    installed: &Installed,
    repair: bool,
) -> Result<(), ImportError> {
    let mut path = store_dir.to_owned();
    while path.starts_with(&target.config) {
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
        match target.key(&p).and_then(|k| installed.files.get(&k)) {
            None => {
                return Err(refused(format!(
                    "{} was not installed by keyrite-import: notation would read it as part of the store; remove it",
                    p.display()
                )));
            }
            Some(want) => {
                let have = crate::sys::input::read(&p, MAX_ROOT_FILE_BYTES, Links::Refuse)
                    .map(|b| hex::encode(sha256(&b)))
                    .unwrap_or_default();
                if &have != want && !repair {
                    return Err(refused(format!(
                        "{} was changed since it was installed: `keyrite-import install --repair` \
                         with the bundle installed writes it again",
                        p.display()
                    )));
                }
            }
        }
    }
    Ok(())
}
