//! What each step action does: the same library calls the CLI makes, with their inputs and
//! outputs recorded as artefacts. One file per group of steps; `run` is the table.

mod bundle;
mod crl;
mod delegate;
mod root;

use std::path::{Path, PathBuf};

use super::CeremonyError;
use super::media::{Access, Mounted, mount};
use super::script::{Action, Profile, Script, Step};
use super::transcript::Artefact;
use crate::bundle::make::{RevocationPlan, TrustPlan};
use crate::ca::delegate::DelegatePlan;
use crate::keys::sha256;
use crate::keys::token::{Pkcs11Uri, Token};
use crate::sys::input::InputFile;

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

    /// The PKCS#11 module the profile names.
    fn module(&self) -> Option<&Path> {
        Some(self.profile.module.as_path())
    }

    pub(super) fn all(&self, role: &str) -> Vec<PathBuf> {
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

    /// The root certificate: made by this ceremony, or named by the profile (and then
    /// checked against the profile's `root_sha256`).
    pub fn root_cert(&self) -> Result<PathBuf, CeremonyError> {
        if let Some(made) = self.latest("root-cert") {
            return Ok(made);
        }
        let path = self.profile.root_cert.clone().ok_or_else(|| {
            CeremonyError::Step(
                "no root certificate: run root-create first, or name root_cert in the profile"
                    .into(),
            )
        })?;
        check_pinned_root(&path, self.profile.root_sha256.as_deref())?;
        Ok(path)
    }

    /// Records `path` as an artefact of `role`.
    pub fn artefact(&self, role: &str, path: &Path) -> Result<Artefact, CeremonyError> {
        let bytes = std::fs::read(path)
            .map_err(|e| CeremonyError::Step(format!("{}: {e}", path.display())))?;
        Ok(self.artefact_of(role, path, &bytes))
    }

    /// Records an input file as an artefact of `role`, from the bytes the step read once and
    /// used: what the transcript records is what was signed.
    pub fn input_artefact(&self, role: &str, file: &InputFile) -> Artefact {
        self.artefact_of(role, &file.path, &file.bytes)
    }

    fn artefact_of(&self, role: &str, path: &Path, bytes: &[u8]) -> Artefact {
        Artefact {
            role: role.to_owned(),
            path: path
                .strip_prefix(self.out)
                .unwrap_or(path)
                .display()
                .to_string(),
            sha256: hex::encode(sha256(bytes)),
        }
    }
}

/// Refuses a root certificate whose SHA-256 is not `pinned`; returns its fingerprint.
pub fn check_pinned_root(
    path: &Path,
    pinned: Option<&str>,
) -> Result<crate::fingerprint::Fingerprint, CeremonyError> {
    use der::Encode;
    let cert = crate::pki::read_certificate(path).map_err(crate::Error::from)?;
    let have = crate::fingerprint::Fingerprint::of(&cert.to_der().map_err(crate::Error::from)?);
    let want = pinned
        .map(crate::fingerprint::Fingerprint::parse)
        .transpose()
        .map_err(CeremonyError::Profile)?;
    if want != Some(have) {
        return Err(CeremonyError::Profile(format!(
            "{} is not the root certificate the profile pins: its SHA-256 is {} ({}); \
             root_sha256 says {}. Nothing was signed: give the root.crt the root ceremony wrote",
            path.display(),
            have.hex(),
            have.short_words(),
            pinned.unwrap_or("nothing"),
        )));
    }
    Ok(have)
}

/// The profile's root token, logged in, and its URI.
pub(crate) fn root_token(profile: &Profile) -> Result<(Token, Pkcs11Uri), CeremonyError> {
    let uri = uri(&profile.root_token)?;
    let token = Token::open(&uri, Some(&profile.module)).map_err(crate::Error::from)?;
    token.login(&uri).map_err(crate::Error::from)?;
    Ok((token, uri))
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

/// What a step read and wrote, recorded as it runs.
#[derive(Default)]
pub struct Recorded {
    /// What it read.
    pub inputs: Vec<Artefact>,
    /// What it wrote.
    pub outputs: Vec<Artefact>,
}

/// What a step will do, worked out before its roles confirm it: the lines they read, and
/// what the step then signs, exactly, with its inputs held as they were read.
pub struct Preview {
    /// What the root will sign, a line each; for a root's creation only the site's reason
    /// when it is below the minimum backup; empty for a step that has the root sign nothing
    /// made from its inputs (a note, share checks).
    pub lines: Vec<String>,
    plan: Plan,
}

/// What a signing step decided before it was confirmed.
enum Plan {
    Nothing,
    Delegate(Box<DelegatePlan>),
    Crl(crl::Planned),
    Trust(TrustPlan),
    Revocation(RevocationPlan),
}

/// Works out what `step` will have the root sign, reading its inputs once, before anyone
/// confirms it; [`run`] then signs exactly that.
pub fn preview(ctx: &Context<'_>, step: &Step, dir: &Path) -> Result<Preview, CeremonyError> {
    let plan = match step.action {
        Action::DelegateIssue => Plan::Delegate(Box::new(delegate::plan_issue(
            ctx,
            &params(step, ctx.script)?,
            dir,
        )?)),
        Action::CrlIssue => Plan::Crl(crl::plan_issue(ctx, &params(step, ctx.script)?, dir)?),
        Action::BundleTrust => Plan::Trust(bundle::plan_trust_bundle(
            ctx,
            &params(step, ctx.script)?,
            dir,
        )?),
        Action::BundleRevocation => Plan::Revocation(bundle::plan_revocation_bundle(
            ctx,
            &params(step, ctx.script)?,
            dir,
        )?),
        _ => Plan::Nothing,
    };
    let lines = match &plan {
        // A root made below the minimum backup: the officers read the site's reason first.
        Plan::Nothing if step.action == Action::RootCreate => {
            params::<super::params::RootCreate>(step, ctx.script)?
                .below_minimum_record()
                .into_iter()
                .collect()
        }
        Plan::Nothing => Vec::new(),
        Plan::Delegate(p) => p.lines().to_vec(),
        Plan::Crl(p) => p.plan.lines().to_vec(),
        Plan::Trust(p) => p.lines().to_vec(),
        Plan::Revocation(p) => p.lines().to_vec(),
    };
    Ok(Preview { lines, plan })
}

/// Runs `step` and writes its outputs into `dir`; a signing step signs what `preview` showed.
pub fn run(
    ctx: &Context<'_>,
    step: &Step,
    dir: &Path,
    preview: Preview,
) -> Result<StepOutcome, CeremonyError> {
    let mut io = Recorded::default();
    let summary = match (step.action, preview.plan) {
        (Action::Note, _) => "confirmed".to_owned(),
        (Action::RootCreate, _) => root::root_create(ctx, params(step, ctx.script)?, dir, &mut io)?,
        (Action::SharesVerify, _) => {
            root::shares_verify(ctx, params(step, ctx.script)?, dir, &mut io)?
        }
        (Action::RecoverVerify, _) => {
            root::recover_verify(ctx, params(step, ctx.script)?, dir, &mut io)?
        }
        (Action::RootRecover, _) => {
            root::root_recover(ctx, params(step, ctx.script)?, dir, &mut io)?
        }
        (Action::PublisherKey, _) => {
            delegate::publisher_key(ctx, params(step, ctx.script)?, dir, &mut io)?
        }
        (Action::DelegateIssue, Plan::Delegate(plan)) => {
            delegate::delegate_issue(ctx, &params(step, ctx.script)?, dir, *plan, &mut io)?
        }
        (Action::CrlIssue, Plan::Crl(plan)) => {
            crl::crl_issue(ctx, &params(step, ctx.script)?, dir, plan, &mut io)?
        }
        (Action::BundleTrust, Plan::Trust(plan)) => {
            bundle::bundle_trust(ctx, &params(step, ctx.script)?, dir, plan, &mut io)?
        }
        (Action::BundleRevocation, Plan::Revocation(plan)) => {
            bundle::bundle_revocation(ctx, &params(step, ctx.script)?, dir, plan, &mut io)?
        }
        (action, _) => {
            return Err(CeremonyError::Step(format!(
                "{} runs only what its preview showed, and it has none",
                action.name()
            )));
        }
    };
    Ok(StepOutcome {
        inputs: io.inputs,
        outputs: io.outputs,
        summary,
    })
}
