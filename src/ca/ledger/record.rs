//! The root token's record of a ledger: what it says the ledger holds, and how a ledger on
//! the medium is compared with it.

use serde::{Deserialize, Serialize};

use super::{Data, LedgerError};
use crate::keys::token::{Anchored, Token, TokenError};

/// What the root token records of a ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Facts {
    /// SHA-256 of ledger.json, hex.
    sha256: String,
    crl_number: u64,
    issued: usize,
    revoked: usize,
}

impl Facts {
    /// The facts of no ledger file at all: a root's ledger before its first issuance.
    pub(super) fn none() -> Self {
        Self {
            sha256: String::new(),
            crl_number: 0,
            issued: 0,
            revoked: 0,
        }
    }

    pub(super) fn of(bytes: &[u8], data: &Data) -> Self {
        Self {
            sha256: hex::encode(crate::keys::sha256(bytes)),
            crl_number: data.crl_number,
            issued: data.issued.len(),
            revoked: data.revoked.len(),
        }
    }

    /// What differs between the ledger `self` describes and the one `kept` does.
    pub(super) fn differences(&self, kept: &Self) -> String {
        if self.sha256.is_empty() {
            return format!(
                "there is no ledger.json, and the token records one with CRL number {}, {} \
                 issued certificates and {} revocations",
                kept.crl_number, kept.issued, kept.revoked
            );
        }
        if kept.sha256.is_empty() {
            return "the token records that this root has issued nothing yet".into();
        }
        let mut what = Vec::new();
        if self.crl_number != kept.crl_number {
            what.push(format!(
                "its CRL number is {}, the token's record says {}",
                self.crl_number, kept.crl_number
            ));
        }
        if self.revoked != kept.revoked {
            what.push(format!(
                "it lists {} revocations, the record {}",
                self.revoked, kept.revoked
            ));
        }
        if self.issued != kept.issued {
            what.push(format!(
                "it lists {} issued certificates, the record {}",
                self.issued, kept.issued
            ));
        }
        if what.is_empty() {
            what.push("its contents changed".into());
        }
        what.join("; ")
    }
}

/// The name of the record of a root's ledger on its token: by the root's key, since a
/// certificate's bytes do not name a key (an ECDSA signature has two valid forms).
pub(super) fn record_name(root_key: &crate::keys::PublicKey) -> Result<String, LedgerError> {
    use der::Encode;
    let spki = root_key
        .to_spki()
        .ok()
        .and_then(|s| s.to_der().ok())
        .ok_or_else(|| LedgerError::Token(Box::new(TokenError::Encoding("the root key".into()))))?;
    Ok(format!(
        "ledger-{}",
        hex::encode(crate::keys::sha256(&spki))
    ))
}

/// Records on a new root's token that its ledger is empty: from now on a ledger for that root
/// is one the token recorded, and a missing record means an older root (see [`Ledger::adopt`]).
pub fn start_record(token: &Token, root_key: &crate::keys::PublicKey) -> Result<(), LedgerError> {
    let name = record_name(root_key)?;
    if Anchored::<Facts>::read(token, &name)
        .map_err(token_error)?
        .is_some()
    {
        return Ok(());
    }
    Anchored {
        current: Facts::none(),
        pending: None,
    }
    .write(token, &name)
    .map_err(token_error)
}

pub(super) fn token_error(e: TokenError) -> LedgerError {
    LedgerError::Token(Box::new(e))
}
