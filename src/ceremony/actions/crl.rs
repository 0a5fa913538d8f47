//! The CRL step: the ledger's revocations and the step's new ones, signed by the root.

use std::path::Path;

use der::Encode;

use super::{CeremonyError, Context, Recorded, uri};
use crate::Error;
use crate::ca::CaError;
use crate::ca::crl::{CrlPlan, CrlRequest, Revocation, issue_crls, plan_crls};
use crate::ceremony::params;
use crate::pki::read_certificate;

/// What the CRL step decided before it was confirmed: the revocations it asks for (those the
/// ledger holds already left out) and what the root will sign.
pub(super) struct Planned {
    revoke: Vec<Revocation>,
    /// What the root will sign.
    pub(super) plan: CrlPlan,
}

/// Works out the CRL the root will sign: the ledger's revocations and the step's new ones.
pub(super) fn plan_issue(
    ctx: &Context<'_>,
    p: &params::CrlIssue,
    dir: &Path,
) -> Result<Planned, CeremonyError> {
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
                crate::pki::serial_hex(cert.tbs_certificate().serial_number())
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
        let (token, _) = super::root_token(ctx.profile)?;
        let ledger = crate::ca::ledger::Ledger::open(
            &ctx.profile.ledger_dir(),
            &root,
            &root_der,
            false,
            &token,
        )
        .map_err(Error::from)?;
        revoke.retain(|r| !ledger.revoked().iter().any(|done| done.serial == r.serial));
    }
    let plan = with_request(ctx, p, &revoke, dir, plan_crls)?;
    Ok(Planned { revoke, plan })
}

/// Issues the CRL `planned` describes.
pub(super) fn crl_issue(
    ctx: &Context<'_>,
    p: &params::CrlIssue,
    dir: &Path,
    planned: Planned,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    let Planned { revoke, plan } = planned;
    let crls = with_request(ctx, p, &revoke, dir, |req| issue_crls(req, plan))?;
    io.outputs.push(ctx.artefact("crl", &dir.join(CRL_FILE))?);
    let crl = crls.first().map(|c| c.number).unwrap_or_default();
    Ok(format!(
        "CRL {crl} issued revoking {}",
        if p.revoke.is_empty() {
            "nothing new".into()
        } else {
            p.revoke.join(", ")
        }
    ))
}

const CRL_FILE: &str = "root.crl";

/// Calls `f` with the step's CRL request for `revoke`.
fn with_request<T>(
    ctx: &Context<'_>,
    p: &params::CrlIssue,
    revoke: &[Revocation],
    dir: &Path,
    f: impl FnOnce(&CrlRequest<'_>) -> Result<T, CaError>,
) -> Result<T, CeremonyError> {
    Ok(f(&CrlRequest {
        token: &uri(&ctx.profile.root_token)?,
        module: ctx.module(),
        root_cert: &ctx.root_cert()?,
        ledger: &ctx.profile.ledger_dir(),
        revoke,
        force_unknown: false,
        next_update: p.crl_next_update.parse().map_err(Error::from)?,
        series: 1,
        period: None,
        out: &dir.join(CRL_FILE),
        pem: false,
    })?)
}
