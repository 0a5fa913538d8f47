//! The bundle steps: trust and revocation bundles signed by the root.

use std::path::Path;

use super::{CeremonyError, Context, Recorded, uri};
use crate::Error;
use crate::bundle::make::{
    CrlSource, RevocationRequest, TrustRequest, make_revocation, make_trust,
};
use crate::ceremony::params;

/// Signs a trust bundle.
pub(super) fn bundle_trust(
    ctx: &Context<'_>,
    p: params::BundleTrust,
    dir: &Path,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    let root = ctx.root_cert()?;
    let policy = match &p.policy {
        Some(f) => Some(ctx.input()?.join(f)),
        None => None,
    };
    if let Some(policy) = &policy {
        io.inputs.push(ctx.artefact("policy", policy)?);
    }
    let out = dir.join(format!("trust-v{}.bundle", p.trust_version));
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
    let made = make_trust(&TrustRequest {
        token: &uri(&ctx.profile.root_token)?,
        module: ctx.module(),
        root_cert: &root,
        lineage: None,
        add_roots: &add_roots,
        cosign: &cosign,
        retire_signing_root: p.retire_signing_root,
        tsa_roots: &[],
        policy: policy.as_deref(),
        crl_urls: &p.crl_url.iter().cloned().collect::<Vec<_>>(),
        version: p.trust_version,
        expires: p.trust_expires.parse().map_err(Error::from)?,
        out: &out,
    })?;
    io.outputs.push(ctx.artefact("trust-bundle", &out)?);
    let pin = made.payload.pin_command().unwrap_or_default();
    Ok(format!(
        "trust bundle v{} (SHA-256 {}); a new host pins it with: {pin}",
        p.trust_version, made.fingerprint
    ))
}

/// Signs a revocation bundle carrying the newest CRL.
pub(super) fn bundle_revocation(
    ctx: &Context<'_>,
    p: params::BundleRevocation,
    dir: &Path,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    let root = ctx.root_cert()?;
    let crl = ctx.latest("crl").ok_or_else(|| {
        CeremonyError::Step("no CRL yet: a crl-issue step must come first".into())
    })?;
    io.inputs.push(ctx.artefact("crl", &crl)?);
    let out = dir.join(format!("revocation-v{}.bundle", p.revocation_version));
    let made = make_revocation(&RevocationRequest {
        token: &uri(&ctx.profile.root_token)?,
        module: ctx.module(),
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
    io.outputs.push(ctx.artefact("revocation-bundle", &out)?);
    Ok(format!(
        "revocation bundle v{} (SHA-256 {})",
        p.revocation_version, made.fingerprint
    ))
}
