//! What each step action does: the same library calls the CLI makes, with their inputs and
//! outputs recorded as artefacts.

use std::path::{Path, PathBuf};

use der::Encode;
use x509_cert::builder::{Builder, RequestBuilder};

use super::CeremonyError;
use super::media::{Access, Mounted, mount};
use super::script::{Action, Profile, Script, Step, params};
use super::transcript::Artefact;
use crate::Error;
use crate::bundle::make::{
    CrlSource, RevocationRequest, TrustRequest, make_revocation, make_trust,
};
use crate::ca::crl::{CrlRequest, Revocation, issue_crls};
use crate::ca::delegate::{DelegateRequest, issue_delegate};
use crate::ca::recover::{RecoverRequest, recover, verify_shares};
use crate::ca::root::{
    Backup, DEFAULT_KEY_LABEL, RootRequest, create_backed_up, create_token_only,
};
use crate::keys::seal::Openers;
use crate::keys::token::{Pkcs11Uri, Token};
use crate::keys::{KeyAlgorithm, sha256};
use crate::pki::name::parse_subject;
use crate::pki::profile::DelegateKind;
use crate::pki::read_certificate;
use crate::shares::{Threshold, parse_custodians};

/// What a step did.
pub struct StepOutcome {
    /// What it read.
    pub inputs: Vec<Artefact>,
    /// What it wrote.
    pub outputs: Vec<Artefact>,
    /// A line for the transcript and the screen.
    pub summary: String,
}

/// What the steps so far left for the next ones.
pub struct Context<'a> {
    /// The script.
    pub script: &'a Script,
    /// The profile.
    pub profile: &'a Profile,
    /// The output directory (artefact paths are relative to it).
    pub out: &'a Path,
    /// Every artefact recorded so far, oldest first.
    pub artefacts: Vec<Artefact>,
    /// For a root creation: the key id this attempt gives its key (when the token URI names
    /// none).
    pub key_id: Option<Vec<u8>>,
    /// The step runs again after an interruption left it unfinished; for a root creation,
    /// with the key id that attempt recorded.
    pub unfinished_key_id: Option<Option<Vec<u8>>>,
    /// The input medium, once the step has read from it.
    pub input_medium: std::cell::RefCell<Option<Mounted>>,
}

impl Context<'_> {
    /// The input medium's directory, mounted (read-only) on first use when the profile names
    /// its device; it stays mounted until the step ends.
    pub fn input(&self) -> Result<PathBuf, CeremonyError> {
        let input = &self.profile.input;
        if let Some(device) = &self.profile.input_device {
            let mut medium = self.input_medium.borrow_mut();
            if medium.is_none() {
                *medium =
                    Some(mount(device, input, Access::ReadOnly).map_err(CeremonyError::Media)?);
            }
        }
        Ok(input.clone())
    }

    /// The newest artefact of `role`.
    pub fn latest(&self, role: &str) -> Option<PathBuf> {
        self.artefacts
            .iter()
            .rev()
            .find(|a| a.role == role)
            .map(|a| self.out.join(&a.path))
    }

    fn all(&self, role: &str) -> Vec<PathBuf> {
        self.artefacts
            .iter()
            .filter(|a| a.role == role)
            .map(|a| self.out.join(&a.path))
            .collect()
    }

    /// Share cards: the named files on the input medium, or the cards this ceremony made.
    fn cards(&self, names: &[String]) -> Result<Vec<PathBuf>, CeremonyError> {
        if names.is_empty() {
            let made: Vec<PathBuf> = self
                .all("share-card")
                .into_iter()
                .filter(|c| c.extension().is_some_and(|e| e == "png"))
                .collect();
            if !made.is_empty() {
                return Ok(made);
            }
            // Cards brought to this ceremony: every share-* file on the input medium.
            let input = self.input()?;
            let mut brought: Vec<PathBuf> = std::fs::read_dir(&input)
                .map_err(|e| CeremonyError::Step(format!("{}: {e}", input.display())))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("share-"))
                })
                .collect();
            brought.sort();
            if brought.is_empty() {
                return Err(CeremonyError::Step(format!(
                    "no share cards on the input medium {}: scan or copy them there as share-*",
                    input.display()
                )));
            }
            return Ok(brought);
        }
        let input = self.input()?;
        names
            .iter()
            .map(|n| {
                let path = input.join(n);
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(CeremonyError::Step(format!(
                        "card {} is not on the input medium: scan or copy it there",
                        path.display()
                    )))
                }
            })
            .collect()
    }

    /// The root certificate: made by this ceremony, or named by the profile.
    pub fn root_cert(&self) -> Result<PathBuf, CeremonyError> {
        self.latest("root-cert")
            .or_else(|| self.profile.root_cert.clone())
            .ok_or_else(|| {
                CeremonyError::Step(
                    "no root certificate: run root-create first, or name root_cert in the profile"
                        .into(),
                )
            })
    }

    /// Records `path` as an artefact of `role`.
    pub fn artefact(&self, role: &str, path: &Path) -> Result<Artefact, CeremonyError> {
        let bytes = std::fs::read(path)
            .map_err(|e| CeremonyError::Step(format!("{}: {e}", path.display())))?;
        Ok(Artefact {
            role: role.to_owned(),
            path: path
                .strip_prefix(self.out)
                .unwrap_or(path)
                .display()
                .to_string(),
            sha256: hex::encode(sha256(&bytes)),
        })
    }
}

fn uri(text: &str) -> Result<Pkcs11Uri, CeremonyError> {
    text.parse()
        .map_err(|e: crate::keys::token::UriError| CeremonyError::Profile(e.to_string()))
}

/// Marks a subject as a rehearsal's: `CN=Example Root` becomes `CN=REHEARSAL Example Root`.
pub fn rehearsal_subject(subject: &str) -> String {
    match subject.find("CN=") {
        Some(i) if !subject[i + 3..].starts_with("REHEARSAL") => {
            format!("{}CN=REHEARSAL {}", &subject[..i], &subject[i + 3..])
        }
        _ => subject.to_owned(),
    }
}

fn params<T: serde::de::DeserializeOwned>(
    step: &Step,
    script: &Script,
) -> Result<T, CeremonyError> {
    step.params(script).map_err(CeremonyError::Script)
}

/// Runs `step` (number `n`) and writes its outputs into `dir`.
/// Before an interrupted root creation runs again: removes the key objects it left on each
/// token, a whole pair or half of one: those with its label and the key id its begin entry
/// recorded, so a key that was there before, under the same label, is never touched. That
/// key was never certified into the transcript. Returns what was removed, for the transcript.
fn remove_unfinished_root(
    tokens: &[Pkcs11Uri],
    module: Option<&Path>,
) -> Result<Vec<String>, CeremonyError> {
    let mut removed = Vec::new();
    for uri in tokens {
        let Some(id) = &uri.id else {
            // An attempt that recorded no key id made no key keyrite could tell from another.
            continue;
        };
        let label = uri.object.as_deref().unwrap_or(DEFAULT_KEY_LABEL);
        let token = Token::open(uri, module).map_err(Error::from)?;
        token.login(uri).map_err(Error::from)?;
        let n = token.destroy_keys(label, id).map_err(Error::from)?;
        if n > 0 {
            removed.push(format!(
                "the unfinished attempt's key '{label}' (id {}, {n} objects) from token '{}'",
                hex::encode(id),
                token.label()
            ));
        }
    }
    Ok(removed)
}

/// The root creation's token URIs with `key_id` as the key id, unless a URI names its own.
fn with_key_id(tokens: &[Pkcs11Uri], key_id: Option<&Vec<u8>>) -> Vec<Pkcs11Uri> {
    tokens
        .iter()
        .cloned()
        .map(|mut u| {
            if u.id.is_none() {
                u.id = key_id.cloned();
            }
            u
        })
        .collect()
}

pub fn run(ctx: &Context<'_>, step: &Step, dir: &Path) -> Result<StepOutcome, CeremonyError> {
    let module = Some(ctx.profile.module.as_path());
    let script = ctx.script;
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let summary = match step.action {
        Action::Note => "confirmed".to_owned(),
        Action::RootCreate => {
            let p: params::RootCreate = params(step, script)?;
            let subject = if ctx.profile.rehearsal {
                rehearsal_subject(&p.subject)
            } else {
                p.subject.clone()
            };
            let mut tokens = Vec::new();
            if p.successor {
                let t = ctx.profile.successor_token.as_deref().ok_or_else(|| {
                    CeremonyError::Profile(
                        "a successor root needs successor_token in the profile".into(),
                    )
                })?;
                tokens.push(uri(t)?);
            } else {
                tokens.push(uri(&ctx.profile.root_token)?);
                for t in &ctx.profile.backup_tokens {
                    tokens.push(uri(t)?);
                }
            }
            let tokens = if p.shares.is_some() {
                &tokens[..]
            } else {
                &tokens[..1]
            };
            let removed = match &ctx.unfinished_key_id {
                Some(id) => remove_unfinished_root(&with_key_id(tokens, id.as_ref()), module)?,
                None => Vec::new(),
            };
            let tokens = &with_key_id(tokens, ctx.key_id.as_ref());
            let request = RootRequest {
                tokens,
                module,
                subject: parse_subject(&subject).map_err(Error::from)?,
                validity: p.validity.parse().map_err(Error::from)?,
                algorithm: p.algorithm.parse::<KeyAlgorithm>().map_err(Error::from)?,
                out_dir: dir,
            };
            let made = match &p.shares {
                Some(shares) => {
                    let threshold: Threshold = shares.parse().map_err(Error::from)?;
                    let backup = Backup {
                        threshold,
                        custodians: parse_custodians(&p.custodians, threshold)?,
                    };
                    create_backed_up(&request, &backup)?
                }
                None => create_token_only(&request)?,
            };
            let role = if p.successor {
                "successor-cert"
            } else {
                "root-cert"
            };
            outputs.push(ctx.artefact(role, &made.cert_path)?);
            outputs.push(ctx.artefact("root-fingerprint", &made.fingerprint_path)?);
            for card in &made.cards {
                outputs.push(ctx.artefact("share-card", card)?);
            }
            let mut summary = format!(
                "root {} created; SHA-256 {}; words: {}",
                made.subject,
                made.fingerprint.hex(),
                made.fingerprint.words().join(" ")
            );
            for r in removed {
                summary.push_str(&format!("; first removed {r}"));
            }
            summary
        }
        Action::SharesVerify => {
            let p: params::SharesVerify = params(step, script)?;
            let root = ctx.root_cert()?;
            let cards = ctx.cards(&p.cards)?;
            for c in &cards {
                inputs.push(ctx.artefact("share-card", c)?);
            }
            let report = verify_shares(&root, &cards, &Openers::default())?;
            if !report.all_good() {
                let bad: Vec<String> = report
                    .lines
                    .iter()
                    .filter_map(|(s, r)| r.as_ref().err().map(|e| format!("{s}: {e}")))
                    .collect();
                return Err(CeremonyError::Step(format!(
                    "shares failed the custody audit: {}",
                    bad.join("; ")
                )));
            }
            format!("{} share cards verified against the root", cards.len())
        }
        Action::RecoverVerify => {
            let p: params::RecoverVerify = params(step, script)?;
            let threshold: Threshold = p.shares.parse().map_err(Error::from)?;
            let root = ctx.root_cert()?;
            let mut cards = ctx.cards(&p.cards)?;
            cards.truncate(usize::from(threshold.t));
            for c in &cards {
                inputs.push(ctx.artefact("share-card", c)?);
            }
            recover(&RecoverRequest {
                root_cert: &root,
                token: None,
                module,
                shares: &cards,
                openers: &Openers::default(),
            })?;
            format!(
                "{} of the cards recover the root key (nothing imported)",
                cards.len()
            )
        }
        Action::RootRecover => {
            let p: params::RootRecover = params(step, script)?;
            let root = ctx.root_cert()?;
            let cards = ctx.cards(&p.cards)?;
            for c in &cards {
                inputs.push(ctx.artefact("share-card", c)?);
            }
            let token = uri(&ctx.profile.root_token)?;
            let outcome = recover(&RecoverRequest {
                root_cert: &root,
                token: Some(&token),
                module,
                shares: &cards,
                openers: &Openers::default(),
            })?;
            match outcome.imported {
                Some(key) => format!(
                    "the root key was recovered from {} cards into {}",
                    cards.len(),
                    key.uri
                ),
                None => "the root key was recovered but not imported".to_owned(),
            }
        }
        Action::PublisherKey => {
            if !ctx.profile.rehearsal {
                return Err(CeremonyError::Step(
                    "publisher-key makes a stand-in publisher key: only a rehearsal profile may use it".into(),
                ));
            }
            let p: params::PublisherKey = params(step, script)?;
            // Its delegate certificate carries the mark too, like every rehearsal subject.
            let (csr, key) = stand_in_publisher(&rehearsal_subject(&p.publisher_subject))?;
            // Both stay in the step's directory, so an interrupted step leaves nothing behind
            // that a rerun would collide with; delegate-issue finds the CSR there.
            let csr_name = format!("{}.csr", p.name);
            let key_name = format!("{}.rehearsal-key.pem", p.name);
            crate::sys::output::write_new_files(
                dir,
                &[
                    (&csr_name, csr.as_bytes(), crate::sys::output::PUBLIC),
                    (&key_name, key.as_bytes(), crate::sys::output::PRIVATE),
                ],
            )?;
            outputs.push(ctx.artefact("publisher-csr", &dir.join(csr_name))?);
            outputs.push(ctx.artefact("publisher-key", &dir.join(key_name))?);
            format!("stand-in publisher key and CSR for {}", p.publisher_subject)
        }
        Action::DelegateIssue => {
            let p: params::DelegateIssue = params(step, script)?;
            let root = ctx.root_cert()?;
            // The publisher's CSR on the input medium, or a rehearsal's stand-in.
            let file = format!("{}.csr", p.name);
            let input = ctx.input()?;
            let csr = Some(input.join(&file))
                .filter(|p| p.exists())
                .or_else(|| {
                    ctx.all("publisher-csr")
                        .into_iter()
                        .rev()
                        .find(|c| c.file_name().is_some_and(|n| n == file.as_str()))
                })
                .ok_or_else(|| {
                    CeremonyError::Step(format!(
                        "{file} is not on the input medium {}: copy the publisher's CSR there",
                        input.display()
                    ))
                })?;
            inputs.push(ctx.artefact("csr", &csr)?);
            let made = issue_delegate(&DelegateRequest {
                token: &uri(&ctx.profile.root_token)?,
                module,
                root_cert: &root,
                csr: &csr,
                kind: if p.profile == "ca" {
                    DelegateKind::Ca
                } else {
                    DelegateKind::Signing
                },
                validity: p.delegate_validity.parse().map_err(Error::from)?,
                crl_url: Some(&p.crl_url),
                ledger: &ctx.profile.ledger_dir(),
                out_dir: dir,
            })?;
            outputs.push(ctx.artefact("delegate-cert", &made.cert_path)?);
            outputs.push(ctx.artefact("delegate-chain", &made.chain_path)?);
            format!(
                "delegate {} issued, serial {}",
                made.issued.subject, made.issued.serial
            )
        }
        Action::CrlIssue => {
            let p: params::CrlIssue = params(step, script)?;
            let root = ctx.root_cert()?;
            let mut revoke = Vec::new();
            for name in &p.revoke {
                // `serial:<hex>` from the ledger of earlier ceremonies, or a delegate issued in
                // this ceremony, by name.
                let serial = match name.strip_prefix("serial:") {
                    Some(hex) => hex.to_owned(),
                    None => {
                        let cert_path = ctx
                            .all("delegate-cert")
                            .into_iter()
                            .rev()
                            .find(|c| c.file_stem().is_some_and(|s| s == name.as_str()))
                            .ok_or_else(|| {
                                CeremonyError::Step(format!(
                                    "no delegate named '{name}' was issued in this ceremony (an earlier one is revoked as serial:<hex>)"
                                ))
                            })?;
                        let cert = read_certificate(&cert_path).map_err(Error::from)?;
                        crate::ca::ledger::serial_hex(cert.tbs_certificate().serial_number())
                    }
                };
                revoke.push(serial.parse::<Revocation>().map_err(Error::from)?);
            } // A rerun after an interruption finds revocations the ledger already holds: the CRL
            // carries them anyway.
            {
                let root_der = read_certificate(&root)
                    .map_err(Error::from)?
                    .to_der()
                    .map_err(Error::from)?;
                let ledger = crate::ca::ledger::Ledger::open(
                    &ctx.profile.ledger_dir(),
                    &root,
                    &root_der,
                    false,
                )
                .map_err(Error::from)?;
                revoke.retain(|r| !ledger.revoked().iter().any(|done| done.serial == r.serial));
            }
            let out = dir.join("root.crl");
            let crls = issue_crls(&CrlRequest {
                token: &uri(&ctx.profile.root_token)?,
                module,
                root_cert: &root,
                ledger: &ctx.profile.ledger_dir(),
                revoke: &revoke,
                force_unknown: false,
                next_update: p.crl_next_update.parse().map_err(Error::from)?,
                series: 1,
                period: None,
                out: &out,
                pem: false,
            })?;
            outputs.push(ctx.artefact("crl", &out)?);
            let crl = crls.first().map(|c| c.number).unwrap_or_default();
            format!(
                "CRL {crl} issued revoking {}",
                if p.revoke.is_empty() {
                    "nothing new".into()
                } else {
                    p.revoke.join(", ")
                }
            )
        }
        Action::BundleTrust => {
            let p: params::BundleTrust = params(step, script)?;
            let root = ctx.root_cert()?;
            let policy = match &p.policy {
                Some(f) => Some(ctx.input()?.join(f)),
                None => None,
            };
            if let Some(policy) = &policy {
                inputs.push(ctx.artefact("policy", policy)?);
            }
            let out = dir.join(format!("trust-v{}.bundle", p.trust_version));
            let (add_roots, cosign) = if p.add_successor {
                let cert = ctx.latest("successor-cert").ok_or_else(|| {
                    CeremonyError::Step("no successor root: a root-create step with successor = true must come first".into())
                })?;
                let t = ctx.profile.successor_token.as_deref().ok_or_else(|| {
                    CeremonyError::Profile(
                        "add_successor needs successor_token in the profile".into(),
                    )
                })?;
                (vec![cert], vec![uri(t)?])
            } else {
                (Vec::new(), Vec::new())
            };
            let made = make_trust(&TrustRequest {
                token: &uri(&ctx.profile.root_token)?,
                module,
                root_cert: &root,
                lineage: None,
                add_roots: &add_roots,
                cosign: &cosign,
                retire_signing_root: p.retire_signing_root,
                tsa_roots: &[],
                policy: policy.as_deref(),
                version: p.trust_version,
                expires: p.trust_expires.parse().map_err(Error::from)?,
                out: &out,
            })?;
            outputs.push(ctx.artefact("trust-bundle", &out)?);
            format!(
                "trust bundle v{} (SHA-256 {})",
                p.trust_version, made.fingerprint
            )
        }
        Action::BundleRevocation => {
            let p: params::BundleRevocation = params(step, script)?;
            let root = ctx.root_cert()?;
            let crl = ctx.latest("crl").ok_or_else(|| {
                CeremonyError::Step("no CRL yet: a crl-issue step must come first".into())
            })?;
            inputs.push(ctx.artefact("crl", &crl)?);
            let out = dir.join(format!("revocation-v{}.bundle", p.revocation_version));
            let made = make_revocation(&RevocationRequest {
                token: &uri(&ctx.profile.root_token)?,
                module,
                root_cert: &root,
                lineage: None,
                crls: &[CrlSource {
                    path: crl,
                    urls: vec![p.crl_url],
                }],
                crl_issuers: &[],
                version: p.revocation_version,
                out: &out,
            })?;
            outputs.push(ctx.artefact("revocation-bundle", &out)?);
            format!(
                "revocation bundle v{} (SHA-256 {})",
                p.revocation_version, made.fingerprint
            )
        }
    };
    Ok(StepOutcome {
        inputs,
        outputs,
        summary,
    })
}

/// A stand-in publisher's P-256 key (PKCS#8 PEM) and CSR (PEM), made in software for a
/// rehearsal. A real publisher makes both on their side.
fn stand_in_publisher(
    subject: &str,
) -> Result<(String, zeroize::Zeroizing<String>), CeremonyError> {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::EncodePrivateKey;
    let key: p256::ecdsa::SigningKey =
        p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng)
            .map_err(|e| CeremonyError::Step(format!("key generation: {e}")))?
            .into();
    let name = parse_subject(subject).map_err(Error::from)?;
    let builder =
        RequestBuilder::new(name).map_err(|e| CeremonyError::Step(format!("CSR: {e}")))?;
    let csr = builder
        .build::<_, p256::ecdsa::DerSignature>(&key)
        .map_err(|e| CeremonyError::Step(format!("CSR: {e}")))?;
    let der = csr.to_der().map_err(Error::from)?;
    let pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der)
        .map_err(|e| CeremonyError::Step(format!("CSR: {e}")))?;
    let key_pem = key
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .map_err(|e| CeremonyError::Step(format!("key encoding: {e}")))?;
    Ok((pem, zeroize::Zeroizing::new(key_pem.to_string())))
}
