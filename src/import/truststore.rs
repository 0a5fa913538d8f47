//! notation's trust stores as keyrite-import fills them: one `ca` and one `tsa` store per
//! lineage, holding exactly the roots of the lineage's trust bundle in force, and one pair per
//! third party the lineage vouches for (`keyrite-<lineage>.<name>`), holding its root alone.

use std::fs;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use der::DateTime;
use x509_cert::Certificate;

use super::install::Plan;
use super::journal::NewFile;
use super::site::Target;
use super::state::{Installed, InstalledBundle, InstalledCert, InstalledThirdParty};
use super::trustpolicy::notation_statement;
use super::{ImportError, is_symlink, refused};
use crate::bundle::{Bundle, Role};
use crate::keys::sha256;
use crate::notation::anchor;
use crate::sys::input::Links;

/// A root's PEM file as keyrite-import writes it is a few kilobytes.
const MAX_ROOT_FILE_BYTES: u64 = 1024 * 1024;

/// The trust store name keyrite-import uses for a lineage.
pub fn store_name(lineage: &str) -> String {
    // The whole fingerprint: a prefix would let one lineage's bundle land in another's store.
    format!("keyrite-{lineage}")
}

/// The trust store name of third party `name` vouched for by `lineage`: the lineage's store
/// name, a dot, and the name (which holds no dot, so no two pairs share a store).
pub fn third_party_store_name(lineage: &str, name: &str) -> String {
    format!("{}.{name}", store_name(lineage))
}

/// The record of a trust bundle: its roots and TSA roots, each checked to be a root notation
/// would use, and its policy statements in notation's form naming the lineage's store.
pub(super) fn trust_record(
    bundle: &Bundle,
    mut record: InstalledBundle,
    now: DateTime,
) -> Result<InstalledBundle, ImportError> {
    let lineage = &bundle.payload.lineage;
    let store = store_name(lineage);
    for (e, der, cert) in bundle.roots() {
        check_installable_root(e.name.as_str(), cert, now, anchor::Store::Ca)?;
        record.roots.push(installed_cert(der, cert));
    }
    for (e, der, cert) in bundle.tsa_roots() {
        check_installable_root(e.name.as_str(), cert, now, anchor::Store::Tsa)?;
        record.tsa_roots.push(installed_cert(der, cert));
    }
    record.crl_urls = bundle.payload.crl_urls.clone();
    record.policy = bundle
        .payload
        .policy
        .iter()
        .map(|s| notation_statement(s, &store))
        .collect();
    for t in &bundle.payload.third_parties {
        let what = format!("third party '{}'", t.name);
        let (der, cert) = bundle
            .third_party_cert(&t.name, Role::ThirdPartyRoot)
            .ok_or_else(|| refused(format!("{what} has no root")))?;
        check_installable_root(&what, cert, now, anchor::Store::Ca)?;
        let lineage_root = record
            .roots
            .iter()
            .find(|r| r.sha256 == hex::encode(sha256(der)));
        if lineage_root.is_some() {
            return Err(refused(format!(
                "{what}'s root is a root of the lineage itself: a lineage root is not vouched for as a third party"
            )));
        }
        let tsa_root = match bundle.third_party_cert(&t.name, Role::ThirdPartyTsaRoot) {
            Some((tsa_der, tsa)) => {
                check_installable_root(
                    &format!("{what}'s TSA root"),
                    tsa,
                    now,
                    anchor::Store::Tsa,
                )?;
                Some(installed_cert(tsa_der, tsa))
            }
            None => None,
        };
        let statement = t.statement(lineage, tsa_root.is_some());
        record.policy.push(notation_statement(
            &statement,
            &third_party_store_name(lineage, &t.name),
        ));
        record.third_parties.push(InstalledThirdParty {
            name: t.name.clone(),
            root: installed_cert(der, cert),
            tsa_root,
            registry_scopes: t.registry_scopes.clone(),
            trusted_identities: t.trusted_identities.clone(),
            crl_urls: t.crl_urls.clone(),
            statement: statement.name,
        });
    }
    Ok(record)
}

/// A certificate a store holds: its file name and its DER.
type Held<'a> = (&'a str, &'a [u8]);

/// Plans the lineage's `ca` and `tsa` stores in `target`, and each third party's beside them:
/// every root of the bundle written, every file keyrite-import installed there before and the
/// bundle no longer carries removed (all of a third party's when the bundle drops it).
pub(super) fn plan_stores(
    plan: &mut Plan,
    installed: &Installed,
    target: &Target,
    bundle: &Bundle,
    mode: u32,
    repair: bool,
) -> Result<(), ImportError> {
    let lineage = &bundle.payload.lineage;
    let mut stores: Vec<(PathBuf, Vec<Held<'_>>)> = Vec::new();
    let entries = |role: Role, third_party: Option<&str>| -> Vec<Held<'_>> {
        bundle
            .items
            .iter()
            .filter(|(e, _, _)| e.role == role && e.third_party() == third_party)
            .map(|(e, der, _)| {
                (
                    e.name.rsplit('/').next().unwrap_or_default(),
                    der.as_slice(),
                )
            })
            .collect()
    };
    for (kind, role) in [("ca", Role::Root), ("tsa", Role::TsaRoot)] {
        stores.push((store_dir(target, kind, lineage), entries(role, None)));
    }
    for t in &bundle.payload.third_parties {
        for (kind, role) in [
            ("ca", Role::ThirdPartyRoot),
            ("tsa", Role::ThirdPartyTsaRoot),
        ] {
            stores.push((
                third_party_store_dir(target, kind, lineage, &t.name),
                entries(role, Some(&t.name)),
            ));
        }
    }
    // A third party the lineage vouched for before and no longer does: its stores emptied.
    let before = installed
        .lineages
        .get(lineage)
        .and_then(|l| l.trust.as_ref());
    for gone in before.iter().flat_map(|t| &t.third_parties).filter(|old| {
        !bundle
            .payload
            .third_parties
            .iter()
            .any(|t| t.name == old.name)
    }) {
        for kind in ["ca", "tsa"] {
            stores.push((
                third_party_store_dir(target, kind, lineage, &gone.name),
                Vec::new(),
            ));
        }
    }
    for (dir, ders) in stores {
        let mut keep = Vec::new();
        for (file, der) in ders {
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

/// The directory of third party `name`'s `kind` store, vouched for by `lineage`, in `target`.
pub(super) fn third_party_store_dir(
    target: &Target,
    kind: &str,
    lineage: &str,
    name: &str,
) -> PathBuf {
    target
        .config
        .join("truststore/x509")
        .join(kind)
        .join(third_party_store_name(lineage, name))
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
    kind: anchor::Store,
) -> Result<(), ImportError> {
    anchor::check_root(cert, now, kind).map_err(|e| refused(format!("{name}: {e}")))
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
