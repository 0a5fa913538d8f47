//! `check`: a signing chain judged offline against what is installed, by the trust policy
//! statement notation would apply to a repository, or against keyrite's own stores. The
//! verdict is notation's: `crate::notation::verdict` reproduces how it decides.

use std::fs;
use std::path::Path;

use der::{DateTime, Decode};
use x509_cert::Certificate;

use super::truststore::store_name;
use super::{ImportError, Importer};
use crate::notation::scope;
use crate::notation::verdict::{self, Host, Verdict};

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
    ) -> Result<Verdict, ImportError> {
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
        match scope {
            Some(repository) => {
                check_repository(repository)?;
                Ok(verdict::for_repository(host, &certs, at, repository))
            }
            None => {
                let stores: Vec<String> =
                    installed.lineages.keys().map(|id| store_name(id)).collect();
                Ok(verdict::against_stores(host, &certs, at, &stores))
            }
        }
    }
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

/// The certificates of a chain file, PEM (leaf first) or a single DER certificate.
fn read_chain(chain: &Path) -> Result<Vec<Certificate>, ImportError> {
    let bytes = fs::read(chain)
        .map_err(|e| ImportError::Input(format!("cannot read {}: {e}", chain.display())))?;
    Certificate::load_pem_chain(&bytes)
        .or_else(|_| Certificate::from_der(&bytes).map(|c| vec![c]))
        .map_err(|e| {
            ImportError::Input(format!(
                "{} is not a PEM chain of certificates ({e})",
                chain.display()
            ))
        })
}
