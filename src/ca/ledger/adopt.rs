//! Adopting a ledger the root token has no record of: checked against the paper log's last
//! CRL number and that root-signed CRL before the token records it.

use std::path::Path;

use super::record::token_error;
use super::{LEDGER_FILE, Ledger, LedgerError};
use crate::ca::CaError;
use crate::keys::token::{Anchored, Token};

impl<'t> Ledger<'t> {
    /// Records on the root token a ledger the token has no record of (kept before ledgers were
    /// recorded, or after the token was replaced), once what it must hold is re-derived from
    /// what the officers read in the paper log and what the root signed: the last CRL number
    /// is `last_number` (from the paper log, not the medium), and the CRL of that number, which
    /// must verify under the root, lists exactly the ledger's revoked serials. With
    /// `last_number` 0 the ledger must list no revocations. Returns the ledger, now recorded.
    pub fn adopt(
        dir: &Path,
        root_path: &Path,
        root: &x509_cert::Certificate,
        last_number: u64,
        last_crl: Option<&x509_cert::crl::CertificateList>,
        token: &'t Token,
    ) -> Result<Self, LedgerError> {
        use der::Encode;
        let root_der = root.to_der().map_err(|e| LedgerError::Io {
            path: root_path.to_owned(),
            reason: e.to_string(),
        })?;
        let path = dir.join(LEDGER_FILE);
        let refused = |reason: String| LedgerError::Io {
            path: path.clone(),
            reason,
        };
        if !path.exists() {
            return Err(LedgerError::Missing(dir.to_owned()));
        }
        let (mut ledger, on_disk) = Self::load(dir, root_path, &root_der, token)?;
        if ledger.record.is_some() {
            return Err(refused(format!(
                "root token '{}' already records a ledger for this root: nothing to adopt",
                token.label()
            )));
        }
        let facts = on_disk.ok_or_else(|| LedgerError::Missing(dir.to_owned()))?;
        let listed: std::collections::BTreeSet<&str> = ledger
            .data
            .revoked
            .iter()
            .map(|r| r.serial.as_str())
            .collect();
        if ledger.data.crl_number != last_number {
            return Err(refused(format!(
                "it says the last CRL is number {}, the paper log {last_number}: restore the \
                 ledger the last ceremony wrote",
                ledger.data.crl_number
            )));
        }
        match last_crl {
            None if last_number == 0 && listed.is_empty() => {}
            None if last_number == 0 => {
                return Err(refused(format!(
                    "it lists {} revocations but no CRL was ever issued",
                    listed.len()
                )));
            }
            None => {
                return Err(refused(format!(
                    "give CRL {last_number} with --last-crl, so the ledger is checked against \
                     what the root signed"
                )));
            }
            Some(_) if last_number == 0 => {
                return Err(refused(
                    "a CRL is given, but the paper log says none was issued".into(),
                ));
            }
            Some(crl) => {
                crate::pki::verify::crl_issued_by(crl, root)
                    .map_err(|e| refused(format!("the CRL given is not the root's: {e}")))?;
                let number = crate::pki::crl::number(crl);
                if number != Some(ledger.data.crl_number) {
                    return Err(refused(format!(
                        "it says the last CRL is number {}, the CRL given is number {}: give \
                         the last CRL, or the ledger written with it",
                        ledger.data.crl_number,
                        number.map_or("(none)".into(), |n| n.to_string())
                    )));
                }
                let signed: std::collections::BTreeSet<String> = crl
                    .tbs_cert_list
                    .revoked_certificates
                    .iter()
                    .flatten()
                    .map(|r| crate::pki::serial_hex(&r.serial_number))
                    .collect();
                let signed: std::collections::BTreeSet<&str> =
                    signed.iter().map(String::as_str).collect();
                if signed != listed {
                    let dropped: Vec<&str> = signed.difference(&listed).copied().collect();
                    let added: Vec<&str> = listed.difference(&signed).copied().collect();
                    return Err(refused(format!(
                        "its revocations are not the CRL's: the CRL lists {} it does not \
                         ({}); it lists {} the CRL does not ({})",
                        dropped.len(),
                        dropped.join(", "),
                        added.len(),
                        added.join(", ")
                    )));
                }
            }
        }
        let record = Anchored {
            current: facts,
            pending: None,
        };
        record
            .write(token, &ledger.record_name)
            .map_err(token_error)?;
        ledger.record = Some(record);
        Ok(ledger)
    }
}

/// What `keyrite ledger adopt` needs.
pub struct AdoptRequest<'a> {
    /// The root key's token and object.
    pub token: &'a crate::keys::token::Pkcs11Uri,
    /// `--module`, when given.
    pub module: Option<&'a Path>,
    /// The root certificate.
    pub root_cert: &'a Path,
    /// The ledger directory.
    pub ledger: &'a Path,
    /// The last CRL number, as the paper log of the last ceremony records it (0: none).
    pub last_number: u64,
    /// The last CRL the root issued (DER or PEM), when it issued any.
    pub last_crl: Option<&'a Path>,
}

/// What a ledger adopted holds.
pub struct Adopted {
    /// The last CRL number.
    pub crl_number: u64,
    /// Certificates issued.
    pub issued: usize,
    /// Revocations.
    pub revoked: usize,
}

/// Opens the root on its token (the certificate checked to be the root) and adopts the
/// ledger: see [`Ledger::adopt`].
pub fn adopt_ledger(req: &AdoptRequest<'_>) -> Result<Adopted, CaError> {
    let root = crate::pki::read_certificate(req.root_cert)?;
    let last_crl = req
        .last_crl
        .map(|path| {
            let bytes =
                crate::sys::input::read(path, 64 * 1024 * 1024, crate::sys::input::Links::Refuse)
                    .map_err(|e| CaError::Refused(e.to_string()))?;
            crate::pki::crl::parse_crl(&bytes)
                .map_err(|e| CaError::Refused(format!("{}: not a CRL ({e})", path.display())))
        })
        .transpose()?;
    let token = crate::keys::token::Token::open(req.token, req.module)?;
    crate::ca::issuer::open_root_signer(&token, req.token, &root)?;
    let ledger = Ledger::adopt(
        req.ledger,
        req.root_cert,
        &root,
        req.last_number,
        last_crl.as_ref(),
        &token,
    )?;
    Ok(Adopted {
        crl_number: ledger.crl_number(),
        issued: ledger.issued().len(),
        revoked: ledger.revoked().len(),
    })
}
