//! Recovering the root key from custodians' shares into a new token, and auditing shares
//! without combining them.

use std::path::{Path, PathBuf};

use super::CaError;
use super::root::{PlacedKey, check_placed, open_targets, undo};
use crate::keys::seal::Openers;
use crate::keys::token::{KeyOrigin, Pkcs11Uri};
use crate::keys::{KeySigner, PublicKey};
use crate::pki::{PkiError, read_certificate};
use crate::shares::{self, RootIdentity, SetReport};

/// What a recovery needs.
pub struct RecoverRequest<'a> {
    /// The root certificate the shares must belong to.
    pub root_cert: &'a Path,
    /// The token to import into; `None` with `verify_only`.
    pub token: Option<&'a Pkcs11Uri>,
    /// `--module`, when given.
    pub module: Option<&'a Path>,
    /// Share files: cards, typed text or decoded QR text.
    pub shares: &'a [PathBuf],
    /// Identities that open sealed cards.
    pub openers: &'a Openers,
}

/// What a recovery found and did.
pub struct RecoverOutcome {
    /// The shares, judged.
    pub report: SetReport,
    /// The key imported, unless only verifying.
    pub imported: Option<PlacedKey>,
}

/// Reads the root certificate's public key and identity.
pub fn root_key(path: &Path) -> Result<PublicKey, CaError> {
    let cert = read_certificate(path)?;
    Ok(
        PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info())
            .map_err(|e| PkiError::Build(format!("{}: {e}", path.display())))?,
    )
}

/// Verifies every share on its own and as a set, without combining them.
pub fn verify_shares(
    root_cert: &Path,
    share_files: &[PathBuf],
    openers: &Openers,
) -> Result<SetReport, CaError> {
    let key = root_key(root_cert)?;
    let identity = RootIdentity::of(&key)?;
    let presented = share_files
        .iter()
        .map(|p| shares::read_presented(p, openers, &identity))
        .collect();
    Ok(shares::judge(presented).0)
}

/// Recovers the root key from shares and imports it into a new token (or, with no token, only
/// proves the shares recover it). Every share is verified first; the recovered key must match
/// the root certificate before anything else happens.
pub fn recover(req: &RecoverRequest<'_>) -> Result<RecoverOutcome, CaError> {
    let key = root_key(req.root_cert)?;
    let alg = key.algorithm().ok_or_else(|| {
        CaError::Refused("the root certificate's key is not one keyrite uses".into())
    })?;
    let identity = RootIdentity::of(&key)?;
    let targets = match req.token {
        Some(uri) => open_targets(std::slice::from_ref(uri), req.module, alg)?,
        None => Vec::new(),
    };
    let presented = req
        .shares
        .iter()
        .map(|p| shares::read_presented(p, req.openers, &identity))
        .collect();
    let (report, records) = shares::judge(presented);
    let recovered =
        shares::recover(&report, &records, &identity).map_err(|cause| CaError::Recovery {
            cause: Box::new(cause),
            report: report.to_string(),
        })?;
    let Some(target) = targets.first() else {
        return Ok(RecoverOutcome {
            report,
            imported: None,
        });
    };
    let scalar = recovered.scalar();
    let imported =
        target
            .token
            .import_ec_key(alg, &scalar, recovered.public_key(), &target.template)?;
    drop(scalar);
    drop(recovered);
    let placed = check_placed(target, &imported, KeyOrigin::Imported).and_then(|mut placed| {
        target.confirm(&mut placed, &imported)?;
        Ok(placed)
    });
    match placed {
        Ok(placed) => Ok(RecoverOutcome {
            report,
            imported: Some(placed),
        }),
        Err(e) => Err(undo(&[(target, imported)], e)),
    }
}
