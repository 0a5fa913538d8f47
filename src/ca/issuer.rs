//! The root as an issuer: the facts about its certificate every issued certificate and CRL
//! must agree with, and its key on the token, checked to be that certificate's.

use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::CaError;
use crate::keys::PublicKey;
use crate::keys::token::{Pkcs11Uri, Token, TokenSigner};
use crate::pki::PkiError;
use crate::pki::check::Issuer;

/// The facts about the root a delegate must agree with.
pub fn issuer_facts(root: &Certificate) -> Result<Issuer, CaError> {
    let tbs = root.tbs_certificate();
    let key_id = tbs
        .get_extension::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, ski)| ski.0.as_bytes().to_vec())
        .ok_or_else(|| {
            PkiError::Input("the root certificate has no subjectKeyIdentifier to name it by".into())
        })?;
    Ok(Issuer {
        subject: tbs.subject().clone(),
        key_id,
        not_after: tbs.validity().not_after,
    })
}

/// Opens the root key on the token and checks it is the root certificate's.
pub fn open_root_signer<'t>(
    token: &'t Token,
    uri: &Pkcs11Uri,
    root: &Certificate,
) -> Result<TokenSigner<'t>, CaError> {
    token.login(uri)?;
    let key = token.find_key(uri)?;
    let cert_key = PublicKey::from_spki(root.tbs_certificate().subject_public_key_info())
        .map_err(|e| PkiError::Input(format!("the root certificate's key: {e}")))?;
    if key.public_key != cert_key {
        return Err(CaError::Refused(format!(
            "the key {uri} names on token '{}' is not the root certificate's key: give the root key's object= or id=",
            token.label()
        )));
    }
    Ok(TokenSigner::new(token, key)?)
}
