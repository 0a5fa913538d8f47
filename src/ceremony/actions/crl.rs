//! The CRL step: the ledger's revocations and the step's new ones, signed by the root.

use std::path::Path;

use der::Encode;

use super::{CeremonyError, Context, Recorded, uri};
use crate::Error;
use crate::ca::crl::{CrlRequest, Revocation, issue_crls};
use crate::ceremony::params;
use crate::pki::read_certificate;

/// Issues a CRL carrying the ledger's revocations and the step's new ones.
pub(super) fn crl_issue(
    ctx: &Context<'_>,
    p: params::CrlIssue,
    dir: &Path,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
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
        let uri = uri(&ctx.profile.root_token)?;
        let token = crate::keys::token::Token::open(&uri, ctx.module()).map_err(Error::from)?;
        token.login(&uri).map_err(Error::from)?;
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
    let out = dir.join("root.crl");
    let crls = issue_crls(&CrlRequest {
        token: &uri(&ctx.profile.root_token)?,
        module: ctx.module(),
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
    io.outputs.push(ctx.artefact("crl", &out)?);
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
