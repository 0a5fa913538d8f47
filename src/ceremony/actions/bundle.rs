//! The bundle steps: trust and revocation bundles signed by the root.

use std::path::{Path, PathBuf};

use super::{CeremonyError, Context, Recorded, uri};
use crate::Error;
use crate::bundle::make::{
    CrlSource, MakeError, RevocationPlan, RevocationRequest, ThirdPartyCrlSource, ThirdPartySource,
    TrustPlan, TrustRequest, plan_revocation, plan_trust, seal_revocation, seal_trust,
};
use crate::ceremony::params;

/// Works out the trust bundle the root will sign, its policy file read once.
pub(super) fn plan_trust_bundle(
    ctx: &Context<'_>,
    p: &params::BundleTrust,
    dir: &Path,
) -> Result<TrustPlan, CeremonyError> {
    with_trust_request(ctx, p, dir, plan_trust)
}

/// Signs the trust bundle `plan` describes.
pub(super) fn bundle_trust(
    ctx: &Context<'_>,
    p: &params::BundleTrust,
    dir: &Path,
    plan: TrustPlan,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    if let Some(policy) = plan.policy_file() {
        io.inputs.push(ctx.input_artefact("policy", policy));
    }
    for file in plan.tsa_root_files() {
        io.inputs.push(ctx.input_artefact("tsa-root", file));
    }
    for file in plan.tsa_cert_files() {
        io.inputs.push(ctx.input_artefact("tsa-cert", file));
    }
    for file in plan.third_party_files() {
        io.inputs.push(ctx.input_artefact("third-party-root", file));
    }
    let made = with_trust_request(ctx, p, dir, |req| seal_trust(req, plan))?;
    io.outputs
        .push(ctx.artefact("trust-bundle", &trust_out(p, dir))?);
    let pin = made.payload.pin_command().unwrap_or_default();
    Ok(format!(
        "trust bundle v{} (SHA-256 {}); a new host pins it with: {pin}",
        p.trust_version, made.fingerprint
    ))
}

fn trust_out(p: &params::BundleTrust, dir: &Path) -> PathBuf {
    dir.join(format!("trust-v{}.bundle", p.trust_version))
}

/// Calls `f` with the step's trust bundle request.
fn with_trust_request<T>(
    ctx: &Context<'_>,
    p: &params::BundleTrust,
    dir: &Path,
    f: impl FnOnce(&TrustRequest<'_>) -> Result<T, MakeError>,
) -> Result<T, CeremonyError> {
    let policy = match &p.policy {
        Some(f) => Some(ctx.input()?.join(f)),
        None => None,
    };
    let (add_roots, cosign) = if p.add_successor {
        let cert = ctx.latest("successor-cert").ok_or_else(|| {
            CeremonyError::Step(
                "no successor root: a root-create step with successor = true must come first"
                    .into(),
            )
        })?;
        let t = ctx.profile.successor_token.as_deref().ok_or_else(|| {
            CeremonyError::Profile("add_successor needs successor_token in the profile".into())
        })?;
        (vec![cert], vec![uri(t)?])
    } else {
        (Vec::new(), Vec::new())
    };
    let input = |f: &str| ctx.input().map(|dir| dir.join(f));
    let third_parties = p
        .third_parties
        .iter()
        .map(|t| {
            Ok(ThirdPartySource {
                name: t.name.clone(),
                root: input(&t.root)?,
                scopes: t.scopes.clone(),
                identities: t.identities.clone(),
                tsa_root: t.tsa_root.as_deref().map(input).transpose()?,
                crl_urls: t.crl_urls.clone(),
                verify_timestamp: t.verify_timestamp,
            })
        })
        .collect::<Result<Vec<_>, CeremonyError>>()?;
    let inputs = |files: &[String]| {
        files
            .iter()
            .map(|f| input(f))
            .collect::<Result<Vec<_>, CeremonyError>>()
    };
    let tsa_roots = inputs(&p.tsa_roots)?;
    let tsa_certs = inputs(&p.tsa_certs)?;
    Ok(f(&TrustRequest {
        token: &uri(&ctx.profile.root_token)?,
        module: ctx.module(),
        root_cert: &ctx.root_cert()?,
        lineage: None,
        add_roots: &add_roots,
        cosign: &cosign,
        retire_signing_root: p.retire_signing_root,
        tsa_roots: &tsa_roots,
        tsa_certs: &tsa_certs,
        policy: policy.as_deref(),
        crl_urls: &p.crl_url.iter().cloned().collect::<Vec<_>>(),
        third_parties: &third_parties,
        version: p.trust_version,
        expires: p.trust_expires.parse().map_err(Error::from)?,
        out: &trust_out(p, dir),
    })?)
}

/// Works out the revocation bundle the root will sign, carrying the newest CRL, read once.
pub(super) fn plan_revocation_bundle(
    ctx: &Context<'_>,
    p: &params::BundleRevocation,
    dir: &Path,
) -> Result<RevocationPlan, CeremonyError> {
    with_revocation_request(ctx, p, dir, plan_revocation)
}

/// Signs the revocation bundle `plan` describes.
pub(super) fn bundle_revocation(
    ctx: &Context<'_>,
    p: &params::BundleRevocation,
    dir: &Path,
    plan: RevocationPlan,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    for crl in plan.crl_files() {
        io.inputs.push(ctx.input_artefact("crl", crl));
    }
    let made = with_revocation_request(ctx, p, dir, |req| seal_revocation(req, plan))?;
    io.outputs
        .push(ctx.artefact("revocation-bundle", &revocation_out(p, dir))?);
    Ok(format!(
        "revocation bundle v{} (SHA-256 {})",
        p.revocation_version, made.fingerprint
    ))
}

fn revocation_out(p: &params::BundleRevocation, dir: &Path) -> PathBuf {
    dir.join(format!("revocation-v{}.bundle", p.revocation_version))
}

/// Calls `f` with the step's revocation bundle request.
fn with_revocation_request<T>(
    ctx: &Context<'_>,
    p: &params::BundleRevocation,
    dir: &Path,
    f: impl FnOnce(&RevocationRequest<'_>) -> Result<T, MakeError>,
) -> Result<T, CeremonyError> {
    let crl = ctx.latest("crl").ok_or_else(|| {
        CeremonyError::Step("no CRL yet: a crl-issue step must come first".into())
    })?;
    let third_party_crls = p
        .third_party_crls
        .iter()
        .map(|t| {
            Ok(ThirdPartyCrlSource {
                name: t.name.clone(),
                crl: ctx.input()?.join(&t.crl),
                root: ctx.input()?.join(&t.root),
                urls: t.urls.clone(),
            })
        })
        .collect::<Result<Vec<_>, CeremonyError>>()?;
    Ok(f(&RevocationRequest {
        token: &uri(&ctx.profile.root_token)?,
        module: ctx.module(),
        root_cert: &ctx.root_cert()?,
        lineage: None,
        crls: &[CrlSource {
            path: crl,
            urls: vec![p.crl_url.clone()],
        }],
        crl_issuers: &[],
        third_party_crls: &third_party_crls,
        version: p.revocation_version,
        out: &revocation_out(p, dir),
    })?)
}
