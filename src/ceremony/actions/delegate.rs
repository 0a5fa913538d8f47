//! Steps for publishers: a rehearsal's stand-in publisher key, and delegate issuance.

use std::path::Path;

use der::Encode;
use x509_cert::builder::{Builder, RequestBuilder};

use super::{CeremonyError, Context, Recorded, rehearsal_subject, uri};
use crate::Error;
use crate::ca::CaError;
use crate::ca::delegate::{DelegatePlan, DelegateRequest, issue_delegate, plan_delegate};
use crate::ceremony::params;
use crate::pki::name::parse_subject;
use crate::pki::profile::DelegateKind;

/// Makes a rehearsal's stand-in publisher key and its CSR.
pub(super) fn publisher_key(
    ctx: &Context<'_>,
    p: params::PublisherKey,
    dir: &Path,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    if !ctx.profile.rehearsal {
        return Err(CeremonyError::Step(
            "publisher-key makes a stand-in publisher key: only a rehearsal profile may use it"
                .into(),
        ));
    }
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
    io.outputs
        .push(ctx.artefact("publisher-csr", &dir.join(csr_name))?);
    io.outputs
        .push(ctx.artefact("publisher-key", &dir.join(key_name))?);
    Ok(format!(
        "stand-in publisher key and CSR for {}",
        p.publisher_subject
    ))
}

/// Works out the delegate certificate the root will sign, from the publisher's CSR on the
/// input medium (or a rehearsal's stand-in), read once.
pub(super) fn plan_issue(
    ctx: &Context<'_>,
    p: &params::DelegateIssue,
    dir: &Path,
) -> Result<DelegatePlan, CeremonyError> {
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
    with_request(ctx, p, &csr, dir, plan_delegate)
}

/// Issues the delegate certificate `plan` describes; the CSR is recorded from the bytes it
/// was made from.
pub(super) fn delegate_issue(
    ctx: &Context<'_>,
    p: &params::DelegateIssue,
    dir: &Path,
    plan: DelegatePlan,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    io.inputs.push(ctx.input_artefact("csr", plan.csr_file()));
    let csr = plan.csr_file().path.clone();
    let made = with_request(ctx, p, &csr, dir, |req| issue_delegate(req, plan))?;
    io.outputs
        .push(ctx.artefact("delegate-cert", &made.cert_path)?);
    io.outputs
        .push(ctx.artefact("delegate-chain", &made.chain_path)?);
    let mut summary = format!(
        "delegate {} issued, serial {}",
        made.issued.subject, made.issued.serial
    );
    for warning in &made.warnings {
        summary.push_str(&format!("; warning: {warning}"));
    }
    Ok(summary)
}

/// Calls `f` with the step's delegate request for the CSR at `csr`.
fn with_request<T>(
    ctx: &Context<'_>,
    p: &params::DelegateIssue,
    csr: &Path,
    dir: &Path,
    f: impl FnOnce(&DelegateRequest<'_>) -> Result<T, CaError>,
) -> Result<T, CeremonyError> {
    Ok(f(&DelegateRequest {
        token: &uri(&ctx.profile.root_token)?,
        module: ctx.module(),
        root_cert: &ctx.root_cert()?,
        csr,
        kind: if p.profile == "ca" {
            DelegateKind::Ca
        } else {
            DelegateKind::Signing
        },
        validity: p.delegate_validity.parse().map_err(Error::from)?,
        crl_url: Some(&p.crl_url),
        ledger: &ctx.profile.ledger_dir(),
        out_dir: dir,
        allow_shared_subject: p.allow_subject_held_by_another_key,
        allow_shared_key: p.allow_key_certified_for_another_subject,
    })?)
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
