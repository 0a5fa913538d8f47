//! `check`: a signing chain judged offline against what is installed, by keyrite's stores or
//! by the trust policy statement notation would apply to a repository.

use std::fs;
use std::path::Path;

use der::{DateTime, Decode, DecodePem, Encode};
use x509_cert::Certificate;

use super::truststore::store_name;
use super::verdict::{self, Verdict};
use super::{ImportError, Importer, trustpolicy};

impl Importer {
    /// Judges a chain file against what is installed in the first target, at `at`: against
    /// keyrite's trust stores with every check enforced, or with `scope` (a repository such as
    /// `registry.example/app`) by the trust policy statement notation would apply to it.
    pub fn check(
        &self,
        chain: &Path,
        at: DateTime,
        scope: Option<&str>,
    ) -> Result<Verdict, ImportError> {
        let certs = read_chain(chain)?;
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
            Some(scope) => match statement_for(&target.config, scope)? {
                Ok(applied) => applied,
                Err(verdict) => return Ok(verdict),
            },
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

/// The trust stores and enforcement of the statement notation applies to `scope` in
/// `config`'s trust policy; or, when none applies or it skips verification, the verdict.
fn statement_for(
    config: &Path,
    scope: &str,
) -> Result<Result<(Vec<String>, verdict::Enforcement), Verdict>, ImportError> {
    // notation matches the repository an artifact reference names; a tag or digest would
    // match no statement and fall to the wildcard one.
    let last = scope.rsplit('/').next().unwrap_or(scope);
    if scope.contains('@') || last.contains(':') || !scope.contains('/') {
        return Err(ImportError::Input(format!(
            "--scope {scope}: give the repository, as trust policies name it (registry.example/app), without a tag or digest"
        )));
    }
    let file = config.join(trustpolicy::POLICY_FILES[0]);
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
    Ok(match applicable {
        trustpolicy::Applicable::None => Err(Verdict {
            outcome: verdict::Outcome::Untrusted,
            reason: format!(
                "no statement of {} applies to {scope}, so notation verifies nothing there",
                file.display()
            ),
        }),
        trustpolicy::Applicable::Skip(name) => Err(Verdict {
            outcome: verdict::Outcome::Trusted,
            reason: format!(
                "statement '{name}' skips verification for {scope}: notation does not check the chain"
            ),
        }),
        trustpolicy::Applicable::Statement {
            stores,
            enforcement,
        } => Ok((stores, enforcement)),
    })
}
