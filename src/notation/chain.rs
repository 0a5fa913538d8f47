//! The integrity of a signing chain as notation-core-go checks it before anything else
//! (`ValidateCodeSigningCertChain`): each certificate issued by the next, a self-signed root
//! last and nowhere else, and the code-signing rules for the leaf and the CAs above it.

use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};

use crate::keys::PublicKey;
use crate::pki::csr::check_leaf_key;
use crate::pki::name::display_name;
use crate::pki::verify::issued_by;

/// Extended key usages notation refuses on a signing certificate (serverAuth, clientAuth,
/// emailProtection, timeStamping, OCSPSigning); anyExtendedKeyUsage is allowed.
const FORBIDDEN_EKUS: [&str; 5] = [
    "1.3.6.1.5.5.7.3.1",
    "1.3.6.1.5.5.7.3.2",
    "1.3.6.1.5.5.7.3.4",
    "1.3.6.1.5.5.7.3.8",
    "1.3.6.1.5.5.7.3.9",
];

/// A certificate's subject, for messages.
pub fn name(c: &Certificate) -> String {
    display_name(c.tbs_certificate().subject())
}

/// Why notation would refuse `chain` (leaf first) whatever the trust policy says, in the order
/// notation-core-go checks it.
pub fn integrity(chain: &[Certificate]) -> Result<(), String> {
    if chain.is_empty() {
        return Err("the chain is empty".into());
    }
    let last = chain.len() - 1;
    for (i, cert) in chain.iter().enumerate() {
        if i == last {
            if let Err(e) = issued_by(cert, cert) {
                if last == 0 {
                    return Err(format!(
                        "the file holds one certificate ({}), which is not a self-signed root: \
                         pass the whole chain, leaf then root (the NAME.chain.pem the ceremony \
                         issued), not the leaf alone",
                        name(cert)
                    ));
                }
                return Err(format!(
                    "the chain does not end in a self-signed root ({}): {e}",
                    name(cert)
                ));
            }
        } else {
            if issued_by(cert, cert).is_ok() {
                return Err(format!(
                    "certificate {} ({}) is self-signed but is not the chain's root",
                    i + 1,
                    name(cert)
                ));
            }
            issued_by(cert, &chain[i + 1]).map_err(|e| {
                format!(
                    "certificate {} ({}) is not issued by the next one: {e}",
                    i + 1,
                    name(cert)
                )
            })?;
        }
        if i == 0 {
            leaf_rules(cert)?;
        } else {
            ca_rules(cert, i - 1)?;
        }
    }
    Ok(())
}

/// The signing certificate: keyUsage present, critical, digitalSignature and nothing that
/// enciphers, agrees or signs certificates; no EKU notation refuses; not a CA; a key notation
/// signs with.
fn leaf_rules(cert: &Certificate) -> Result<(), String> {
    let tbs = cert.tbs_certificate();
    let who = name(cert);
    let (critical, ku) = tbs
        .get_extension::<KeyUsage>()
        .ok()
        .flatten()
        .ok_or_else(|| format!("the signing certificate {who} has no keyUsage"))?;
    let forbidden = KeyUsages::KeyEncipherment
        | KeyUsages::DataEncipherment
        | KeyUsages::KeyAgreement
        | KeyUsages::KeyCertSign
        | KeyUsages::CRLSign
        | KeyUsages::EncipherOnly
        | KeyUsages::DecipherOnly;
    if !critical || !ku.0.contains(KeyUsages::DigitalSignature) || !ku.0.is_disjoint(forbidden) {
        return Err(format!(
            "the signing certificate {who} needs a critical keyUsage of digitalSignature without encipherment, agreement or certificate signing"
        ));
    }
    if let Ok(Some((_, eku))) = tbs.get_extension::<ExtendedKeyUsage>()
        && eku
            .0
            .iter()
            .any(|o| FORBIDDEN_EKUS.contains(&o.to_string().as_str()))
    {
        return Err(format!(
            "the signing certificate {who} has an extendedKeyUsage notation refuses"
        ));
    }
    if let Ok(Some((_, bc))) = tbs.get_extension::<BasicConstraints>()
        && bc.ca
    {
        return Err(format!("the signing certificate {who} is a CA"));
    }
    let key = PublicKey::from_spki(tbs.subject_public_key_info())
        .map_err(|e| format!("the signing certificate {who}: {e}"))?;
    check_leaf_key(&key).map_err(|e| format!("the signing certificate {who}: {e}"))
}

/// A CA above the leaf, `below` certificates from it: basicConstraints with cA, a path
/// length that allows its place, and a critical keyUsage with keyCertSign.
fn ca_rules(cert: &Certificate, below: usize) -> Result<(), String> {
    let tbs = cert.tbs_certificate();
    let who = name(cert);
    let bc = tbs.get_extension::<BasicConstraints>().ok().flatten();
    let Some((_, bc)) = bc.filter(|(_, b)| b.ca) else {
        return Err(format!(
            "{who} is above the signing certificate but its basicConstraints do not say cA"
        ));
    };
    if let Some(len) = bc.path_len_constraint
        && usize::from(len) < below
    {
        return Err(format!(
            "{who}'s pathLenConstraint {len} is too small for its place in the chain"
        ));
    }
    let signs = tbs
        .get_extension::<KeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(critical, k)| critical && k.0.contains(KeyUsages::KeyCertSign));
    if !signs {
        return Err(format!(
            "{who} is above the signing certificate but lacks a critical keyCertSign keyUsage"
        ));
    }
    Ok(())
}
