//! notation's CRL file cache as keyrite-import fills it: one entry per CRL distribution
//! point URL, holding the CRL a lineage's revocation bundle carries for it.

use data_encoding::BASE64;
use der::DateTime;
use serde_json::json;
use x509_cert::Certificate;
use x509_cert::der::Decode;

use super::install::Plan;
use super::journal::NewFile;
use super::site::Target;
use super::state::{Installed, InstalledBundle, InstalledCrl, Lineage};
use super::{ImportError, is_symlink, refused};
use crate::bundle::Bundle;
use crate::fingerprint::Fingerprint;
use crate::keys::sha256;
use crate::pki::verify::crl_issued_by;

/// The record of a revocation bundle: each CRL issued by a root installed for the lineage
/// (`current`), or for a third party's CRL by that third party's installed root, in a form
/// notation uses, fresh for as long as the bundle, answering only for URLs the lineage's trust
/// bundle declared for its issuer, and the only CRL answering for each of them on this host.
pub(super) fn revocation_record(
    bundle: &Bundle,
    mut record: InstalledBundle,
    current: &[Vec<u8>],
    lineage_state: &Lineage,
    installed: &Installed,
    now: DateTime,
    expires: DateTime,
) -> Result<InstalledBundle, ImportError> {
    let lineage = &bundle.payload.lineage;
    let trust = lineage_state.trust.as_ref();
    for (e, der, crl) in bundle.crls() {
        let (issuer_der, issuer, declared, whose) = match e.third_party() {
            None => {
                let (d, c) = current
                    .iter()
                    .filter_map(|d| Certificate::from_der(d).ok().map(|c| (d.clone(), c)))
                    .find(|(_, c)| crl_issued_by(crl, c).is_ok())
                    .ok_or_else(|| {
                        refused(format!(
                            "CRL {} was not issued by a root installed for the lineage",
                            e.name
                        ))
                    })?;
                let declared = trust.map_or(&[][..], |t| t.crl_urls.as_slice());
                (d, c, declared, format!("lineage {lineage}'s trust bundle"))
            }
            Some(name) => {
                let third = trust
                    .and_then(|t| t.third_parties.iter().find(|t| t.name == name))
                    .ok_or_else(|| {
                        refused(format!(
                            "CRL {} is third party '{name}''s, but lineage {lineage}'s trust bundle vouches for no third party of that name: install a trust bundle that carries it first",
                            e.name
                        ))
                    })?;
                let d = BASE64
                    .decode(third.root.der.as_bytes())
                    .map_err(|_| ImportError::State("a third party's root is not base64".into()))?;
                let c = Certificate::from_der(&d).map_err(|_| {
                    ImportError::State("a third party's root does not parse".into())
                })?;
                crl_issued_by(crl, &c).map_err(|why| {
                    refused(format!(
                        "CRL {} was not signed by third party '{name}''s root ({}): {why}; a third party's CRL is carried as it published it, signed by its own root",
                        e.name,
                        crate::import::short(&third.root.sha256)
                    ))
                })?;
                (
                    d,
                    c,
                    third.crl_urls.as_slice(),
                    format!("third party '{name}' in lineage {lineage}'s trust bundle"),
                )
            }
        };
        crate::pki::crl::check_crl_form(crl, &issuer)
            .map_err(|why| refused(format!("CRL {}: {why}", e.name)))?;
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
        for url in &e.urls {
            if !declared.contains(url) {
                return Err(refused(format!(
                    "CRL {} answers for {url}, which {whose} does not declare (declared: {}): a revocation bundle fills only its own lineage's URLs (and its third parties', each with its own CRL)",
                    e.name,
                    if declared.is_empty() {
                        "none".into()
                    } else {
                        declared.join(", ")
                    }
                )));
            }
            check_url_unanswered(url, lineage, installed, &record.crls)?;
        }
        record.crls.push(InstalledCrl {
            issuer: Fingerprint::of(&issuer_der).hex(),
            sha256: hex::encode(sha256(der)),
            next_update: next.to_string(),
            urls: e.urls.clone(),
            third_party: e.third_party().map(str::to_owned),
        });
    }
    Ok(record)
}

/// Refuses a URL another lineage's CRL, or another CRL of this bundle, already answers for.
fn check_url_unanswered(
    url: &str,
    lineage: &str,
    installed: &Installed,
    earlier: &[InstalledCrl],
) -> Result<(), ImportError> {
    let elsewhere = installed.lineages.iter().find(|(id, l)| {
        id.as_str() != lineage
            && l.revocation
                .iter()
                .flat_map(|r| &r.crls)
                .any(|c| c.urls.iter().any(|u| u == url))
    });
    if let Some((id, _)) = elsewhere {
        return Err(refused(format!(
            "{url} is already answered by a CRL of lineage {id}: one URL, one CRL"
        )));
    }
    if earlier.iter().any(|c| c.urls.iter().any(|u| u == url)) {
        return Err(refused(format!("two CRLs answer for {url}")));
    }
    Ok(())
}

/// Plans notation's CRL cache in `target`: one entry per URL the bundle's CRLs answer for,
/// and the entries of the previous revocation bundle that no CRL answers for any more removed.
pub(super) fn plan_revocation(
    plan: &mut Plan,
    installed: &Installed,
    target: &Target,
    bundle: &Bundle,
    previous: Option<&InstalledBundle>,
    mode: u32,
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
            let path = crate::notation::crl_cache::path(&target.cache, url);
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
                mode,
            });
        }
    }
    for url in previous.iter().flat_map(|p| &p.crls).flat_map(|c| &c.urls) {
        let path = crate::notation::crl_cache::path(&target.cache, url);
        if !keep.contains(&path)
            && target
                .key(&path)
                .is_some_and(|k| installed.files.contains_key(&k))
        {
            plan.removals.push(path);
        }
    }
    plan.mkdirs.push(dir);
    Ok(())
}
