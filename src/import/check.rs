//! `check`: a signing chain judged offline against what is installed, by the trust policy
//! statement notation would apply to a repository, or against keyrite's own stores. The
//! verdict is notation's: `crate::notation::verdict` reproduces how it decides.

use std::path::Path;

use der::{DateTime, Decode};
use x509_cert::Certificate;

use crate::sys::input::Links;

use serde::Serialize;

use super::enforce::trust_expired;
use super::state::{Installed, InstalledCert};
use super::status::policy_files_differ;
use super::truststore::{store_name, third_party_store_name};
use super::{ImportError, Importer, short};
use crate::notation::verdict::{self, Host, Outcome, Verdict};
use crate::notation::{scope, store};
use crate::pki::verify::issued_by;
use data_encoding::BASE64;

/// A verdict, and what a site must know about it: trust that rests on an expired trust
/// bundle, or a policy file another notation would read instead.
#[derive(Debug, Serialize)]
pub struct Checked {
    /// notation's verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The third party whose root the chain ends in, when it is one a lineage vouches for.
    pub third_party: Option<ThirdPartyAnchor>,
    /// Why a trusted verdict should not be relied on.
    pub attention: Vec<String>,
}

/// A third party's installed root that a chain ends in.
#[derive(Debug, Serialize)]
pub struct ThirdPartyAnchor {
    /// The third party's name.
    pub name: String,
    /// The lineage that vouches for it.
    pub lineage: String,
    /// The repositories it is trusted for.
    pub scopes: Vec<String>,
}

impl ThirdPartyAnchor {
    /// A sentence for `check`'s output.
    pub fn describe(&self) -> String {
        format!(
            "the chain ends in third party '{}''s root, vouched for by lineage {} and trusted only for {}",
            self.name,
            short(&self.lineage),
            self.scopes.join(", ")
        )
    }
}

impl Importer {
    /// Judges a chain file against what is installed in the first target, at `at`: with
    /// `scope` (a repository such as `registry.example/app`) as notation would verify a
    /// signature by it there; without, against keyrite's trust stores with every check
    /// enforced.
    pub fn check(
        &self,
        chain: &Path,
        at: DateTime,
        scope: Option<&str>,
    ) -> Result<Checked, ImportError> {
        let certs = read_chain(chain)?;
        let installed = self.state.installed(&self.site.targets)?;
        let target = self
            .site
            .targets
            .first()
            .ok_or_else(|| ImportError::Site("no target".into()))?;
        let host = Host {
            config: &target.config,
            cache: &target.cache,
        };
        let verdict = match scope {
            Some(repository) => {
                check_repository(repository)?;
                verdict::for_repository(host, &certs, at, repository)
            }
            None => {
                let stores: Vec<String> = installed
                    .lineages
                    .iter()
                    .flat_map(|(id, l)| {
                        std::iter::once(store_name(id)).chain(
                            l.trust
                                .iter()
                                .flat_map(|t| &t.third_parties)
                                .map(|t| third_party_store_name(id, &t.name)),
                        )
                    })
                    .collect();
                verdict::against_stores(host, &certs, at, &stores)
            }
        };
        let third_party = installed.lineages.iter().find_map(|(id, l)| {
            let t = l
                .trust
                .iter()
                .flat_map(|t| &t.third_parties)
                .find(|t| anchors(&t.root, &certs))?;
            Some(ThirdPartyAnchor {
                name: t.name.clone(),
                lineage: id.clone(),
                scopes: t.registry_scopes.clone(),
            })
        });
        let mut attention = Vec::new();
        if matches!(
            verdict.outcome,
            Outcome::Trusted | Outcome::TimestampRequired
        ) {
            attention.extend(expired_trust(&installed, &certs, at));
            attention.extend(policy_files_differ(target));
        }
        Ok(Checked {
            verdict,
            third_party,
            attention,
        })
    }
}

/// The lineages whose trust bundle had expired at `at`, not yet enforced, whose roots anchor
/// `certs`: the trusted verdict rests on trust nobody has renewed.
fn expired_trust(installed: &Installed, certs: &[Certificate], at: DateTime) -> Vec<String> {
    installed
        .lineages
        .iter()
        .filter(|(_, l)| l.enforced_at.is_none())
        .filter_map(|(id, l)| Some((id, l.trust.as_ref().filter(|t| trust_expired(t, at))?)))
        .filter(|(_, t)| t.roots.iter().any(|r| anchors(r, certs)))
        .map(|(id, t)| {
            format!(
                "this chain is trusted through lineage {}, whose trust bundle v{} expired on {}: install a newer trust bundle, or run `keyrite-import enforce` to stop trusting it",
                short(id),
                t.version,
                t.expires_at
            )
        })
        .collect()
}

/// Whether the installed root `root` is in `certs` or issued its last certificate.
fn anchors(root: &InstalledCert, certs: &[Certificate]) -> bool {
    let Some(root) = BASE64
        .decode(root.der.as_bytes())
        .ok()
        .and_then(|der| Certificate::from_der(&der).ok())
    else {
        return false;
    };
    certs.contains(&root)
        || certs
            .last()
            .is_some_and(|top| issued_by(top, &root).is_ok())
}

/// Refuses a `--scope` notation could not match: a tag or digest (notation matches the
/// repository an artifact reference names), or a name outside the reference grammar.
fn check_repository(repository: &str) -> Result<(), ImportError> {
    let last = repository.rsplit('/').next().unwrap_or(repository);
    if repository.contains('@') || last.contains(':') || !repository.contains('/') {
        return Err(ImportError::Input(format!(
            "--scope {repository}: give the repository, as trust policies name it (registry.example/app), without a tag or digest"
        )));
    }
    scope::check(repository).map_err(|e| ImportError::Input(format!("--scope: {e}")))
}

/// A chain file larger than this is not one.
const MAX_CHAIN_BYTES: u64 = 1024 * 1024;

/// The certificates of a chain file, as notation reads a certificate file: PEM blocks (leaf
/// first) or DER.
fn read_chain(chain: &Path) -> Result<Vec<Certificate>, ImportError> {
    let bytes = crate::sys::input::read(chain, MAX_CHAIN_BYTES, Links::Follow)
        .map_err(|e| ImportError::Input(e.to_string()))?;
    let certs = store::parse_certificates(&bytes).map_err(|e| {
        ImportError::Input(format!(
            "{} is not a chain of certificates notation reads ({e})",
            chain.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(ImportError::Input(format!(
            "{} holds no certificate",
            chain.display()
        )));
    }
    Ok(certs.into_iter().map(|(cert, _)| cert).collect())
}
