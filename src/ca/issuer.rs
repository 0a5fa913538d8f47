//! The root as an issuer: the facts about its certificate every issued certificate and CRL
//! must agree with, and its key on the token, checked to be that certificate's.

use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::CaError;
use der::Encode;

use crate::keys::token::{Pkcs11Uri, Token, TokenSigner};
use crate::keys::{PublicKey, SignatureScheme};
use crate::pki::PkiError;
use crate::pki::check::Issuer;
use crate::pki::check::{CertProfile, check_certificate};

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

/// Opens the root key on the token and checks the root certificate is the root: its key is
/// the token's, and it is a self-signed root certificate (names, profile) whose signature
/// verifies under that key. A certificate that merely carries the root's public key (another
/// subject, another key identifier, a longer validity, signed by someone else) is refused:
/// what the root issues takes its issuer name and limits from it.
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
    check_is_root(root, &key.public_key)?;
    Ok(TokenSigner::new(token, key)?)
}

/// Refuses a root certificate that is not self-issued, breaks the root profile, or does not
/// verify under `key` (the token's).
fn check_is_root(root: &Certificate, key: &PublicKey) -> Result<(), CaError> {
    let tbs = root.tbs_certificate();
    let refused = |why: String| {
        CaError::Refused(format!(
            "the root certificate given is not the root: {why}. Give the root.crt the root \
             ceremony wrote (its SHA-256 is on the paper record)"
        ))
    };
    if tbs.issuer() != tbs.subject() {
        return Err(refused("its issuer is not its own subject".into()));
    }
    let scheme = SignatureScheme::from_algorithm_identifier(root.signature_algorithm())
        .ok_or_else(|| refused("its signature algorithm is not one keyrite uses".into()))?;
    let der = root
        .to_der()
        .map_err(|e| refused(format!("it does not encode ({e})")))?;
    let problems = check_certificate(&der, CertProfile::Root, scheme, key);
    if !problems.is_empty() {
        return Err(refused(problems.join("; ")));
    }
    Ok(())
}
