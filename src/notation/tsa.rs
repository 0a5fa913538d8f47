//! What notation requires of a timestamping authority's certificates, so that a ceremony
//! refuses a TSA whose timestamps every host would refuse: notation-go's timestamp check
//! (Go's `x509.Verify` for the timeStamping usage, then notation-core-go's timestamping chain
//! validation, then the chain's revocation) as v1.3.2 applies it.

use der::DateTime;
use der::oid::ObjectIdentifier;
use der::oid::db::rfc5280::{
    ID_AD_OCSP, ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS,
    ID_CE_CERTIFICATE_POLICIES, ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_EXT_KEY_USAGE,
    ID_CE_INHIBIT_ANY_POLICY, ID_CE_KEY_USAGE, ID_CE_NAME_CONSTRAINTS, ID_CE_POLICY_CONSTRAINTS,
    ID_CE_POLICY_MAPPINGS, ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER,
    ID_PE_AUTHORITY_INFO_ACCESS,
};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
};

use super::anchor::{TIME_STAMPING, broken_signature, check_valid_at};
use crate::keys::PublicKey;
use crate::pki::csr::check_leaf_key;
use crate::pki::name::display_name;
use crate::pki::verify::issued_by;

/// The OID of anyExtendedKeyUsage, which Go accepts in place of timeStamping on a CA.
const ANY_EXTENDED_KEY_USAGE: &str = "2.5.29.37.0";

/// The extensions Go's x509 parser understands; a critical extension outside this list makes
/// `x509.Verify` refuse the certificate ("unhandled critical extension").
const GO_HANDLED: [ObjectIdentifier; 14] = [
    ID_CE_KEY_USAGE,
    ID_CE_BASIC_CONSTRAINTS,
    ID_CE_SUBJECT_ALT_NAME,
    ID_CE_NAME_CONSTRAINTS,
    ID_CE_CRL_DISTRIBUTION_POINTS,
    ID_CE_AUTHORITY_KEY_IDENTIFIER,
    ID_CE_SUBJECT_KEY_IDENTIFIER,
    ID_CE_EXT_KEY_USAGE,
    ID_CE_CERTIFICATE_POLICIES,
    ID_CE_POLICY_MAPPINGS,
    ID_CE_POLICY_CONSTRAINTS,
    ID_CE_INHIBIT_ANY_POLICY,
    ID_PE_AUTHORITY_INFO_ACCESS,
    // Go reads the SCT list of certificate transparency, critical or not.
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2"),
];

/// The keyUsage bits notation refuses on a timestamping certificate: it signs timestamps
/// and nothing else.
const FORBIDDEN_USAGES: [(KeyUsages, &str); 7] = [
    (KeyUsages::KeyEncipherment, "keyEncipherment"),
    (KeyUsages::DataEncipherment, "dataEncipherment"),
    (KeyUsages::KeyAgreement, "keyAgreement"),
    (KeyUsages::KeyCertSign, "keyCertSign"),
    (KeyUsages::CRLSign, "cRLSign"),
    (KeyUsages::EncipherOnly, "encipherOnly"),
    (KeyUsages::DecipherOnly, "decipherOnly"),
];

/// Why notation would refuse timestamps that `chain` signs: its first certificate is a TSA's
/// timestamping certificate, any others the intermediates above it (one of `roots` at the end
/// is allowed and ignored), and the last is issued by one of `roots` (each checked with
/// [`super::anchor::check_root`] already), which is returned. Each certificate must be valid at `now`, signed
/// with a hash notation accepts, carry no critical extension Go does not handle, and carry no
/// CRL or OCSP URL (notation checks the TSA chain's revocation whenever it verifies a
/// timestamp, which an offline host cannot answer). The timestamping certificate needs an
/// extendedKeyUsage of timeStamping alone, marked critical; a keyUsage with digitalSignature
/// and none of [`FORBIDDEN_USAGES`]; not to be a CA; a key notation accepts. Each intermediate
/// must be a CA with keyCertSign, allow timeStamping if it restricts its usages, and allow the
/// intermediates below it by its path length, as must the root. The message names the
/// certificate and the rule.
pub fn check_chain<'r>(
    chain: &[Certificate],
    roots: &'r [Certificate],
    now: DateTime,
) -> Result<&'r Certificate, String> {
    if roots.is_empty() {
        return Err(
            "no TSA root is given to check it against: give the --tsa-root that issued it".into(),
        );
    }
    let chain = match chain.split_last() {
        Some((last, rest)) if !rest.is_empty() && roots.contains(last) => rest,
        _ => chain,
    };
    let signer = chain.first().ok_or("the file holds no certificate")?;
    check_signer(signer)?;
    for (i, cert) in chain.iter().enumerate() {
        let name = display_name(cert.tbs_certificate().subject());
        check_any(cert, &name, now)?;
        if i > 0 {
            check_intermediate(cert, &name, i - 1)?;
        }
        match chain.get(i + 1) {
            Some(issuer) => issued_by(cert, issuer).map_err(|e| {
                format!(
                    "{name} is not issued by the certificate after it ({e}): give the TSA's timestamping certificate first, then each intermediate above it"
                )
            })?,
            None => {
                let root = roots
                    .iter()
                    .find(|r| issued_by(cert, r).is_ok())
                    .ok_or_else(|| {
                        format!(
                            "{name} is not issued by any TSA root given: notation could not end a timestamp's chain in them; give the root that issued it"
                        )
                    })?;
                check_path_length(root, chain.len() - 1)?;
                return Ok(root);
            }
        }
    }
    Err("the file holds no certificate".into())
}

/// Refuses a CA certificate in a timestamp's chain whose extendedKeyUsage, when it has one,
/// allows neither timeStamping nor any usage: Go's `x509.Verify` refuses the chain then.
pub fn check_ca_usage(cert: &Certificate) -> Result<(), String> {
    let name = display_name(cert.tbs_certificate().subject());
    let Some((_, eku)) = extension::<ExtendedKeyUsage>(cert, &name, "extendedKeyUsage")? else {
        return Ok(());
    };
    let allowed = eku
        .0
        .iter()
        .any(|o| [TIME_STAMPING, ANY_EXTENDED_KEY_USAGE].contains(&o.to_string().as_str()));
    if allowed {
        return Ok(());
    }
    Err(format!(
        "{name}'s extendedKeyUsage lists {} without timeStamping, so notation refuses every timestamp whose chain runs through it",
        oids(&eku)
    ))
}

/// The timestamping certificate's own rules.
fn check_signer(signer: &Certificate) -> Result<(), String> {
    let who = display_name(signer.tbs_certificate().subject());
    let ca = extension::<BasicConstraints>(signer, &who, "basicConstraints")?;
    if ca.is_some_and(|(_, b)| b.ca) {
        return Err(format!(
            "{who} is a CA certificate, not a TSA's timestamping certificate (cA false): give the certificate the TSA signs with first, then its intermediates"
        ));
    }
    match extension::<ExtendedKeyUsage>(signer, &who, "extendedKeyUsage")? {
        None => {
            return Err(format!(
                "{who} has no extendedKeyUsage: notation requires timeStamping alone, marked critical"
            ));
        }
        Some((critical, eku)) => {
            if eku.0.len() != 1 || eku.0[0].to_string() != TIME_STAMPING {
                return Err(format!(
                    "{who}'s extendedKeyUsage lists {}: notation requires timeStamping ({TIME_STAMPING}) alone",
                    oids(&eku)
                ));
            }
            if !critical {
                return Err(format!(
                    "{who}'s extendedKeyUsage is not marked critical, which notation requires of a timestamping certificate"
                ));
            }
        }
    }
    let Some((_, usage)) = extension::<KeyUsage>(signer, &who, "keyUsage")? else {
        return Err(format!(
            "{who} has no keyUsage: notation requires one with digitalSignature on a timestamping certificate"
        ));
    };
    if !usage.0.contains(KeyUsages::DigitalSignature) {
        return Err(format!(
            "{who}'s keyUsage lacks digitalSignature, which notation requires of a timestamping certificate"
        ));
    }
    let forbidden: Vec<&str> = FORBIDDEN_USAGES
        .iter()
        .filter(|(bit, _)| usage.0.contains(*bit))
        .map(|(_, name)| *name)
        .collect();
    if !forbidden.is_empty() {
        return Err(format!(
            "{who}'s keyUsage allows {}, which notation refuses on a timestamping certificate",
            forbidden.join(", ")
        ));
    }
    let key = PublicKey::from_spki(signer.tbs_certificate().subject_public_key_info())
        .map_err(|e| format!("{who}: its key cannot be used: {e}"))?;
    check_leaf_key(&key).map_err(|e| format!("{who}: {e}"))
}

/// The rules every certificate of the chain below the root follows.
fn check_any(cert: &Certificate, name: &str, now: DateTime) -> Result<(), String> {
    if let Some(broken) = broken_signature(cert) {
        return Err(format!(
            "{name} is signed with {broken}, which notation refuses"
        ));
    }
    check_valid_at(cert, name, now)?;
    let tbs = cert.tbs_certificate();
    for e in tbs.extensions().into_iter().flatten() {
        if e.critical && !GO_HANDLED.contains(&e.extn_id) {
            return Err(format!(
                "{name} has a critical extension {} that Go does not handle, so notation refuses it",
                e.extn_id
            ));
        }
    }
    if tbs
        .extensions()
        .into_iter()
        .flatten()
        .any(|e| e.extn_id == ID_CE_CRL_DISTRIBUTION_POINTS)
    {
        return Err(offline_revocation(name, "a CRL distribution point"));
    }
    if let Some((_, aia)) =
        extension::<AuthorityInfoAccessSyntax>(cert, name, "authorityInfoAccess")?
        && aia.0.iter().any(|a| a.access_method == ID_AD_OCSP)
    {
        return Err(offline_revocation(name, "an OCSP URL"));
    }
    Ok(())
}

/// The refusal of a TSA certificate whose revocation an offline host cannot check.
fn offline_revocation(name: &str, what: &str) -> String {
    format!(
        "{name} carries {what}: notation checks a TSA certificate's revocation whenever it verifies a timestamp, and an air-gapped host can neither fetch it nor take it from a keyrite bundle, so every timestamp this TSA signs would be refused there; use a TSA whose certificates below the root carry no CRL or OCSP URL"
    )
}

/// An intermediate with `below` intermediates under it.
fn check_intermediate(cert: &Certificate, name: &str, below: usize) -> Result<(), String> {
    let ca = extension::<BasicConstraints>(cert, name, "basicConstraints")?;
    let usage = extension::<KeyUsage>(cert, name, "keyUsage")?;
    if !ca.is_some_and(|(_, b)| b.ca)
        || !usage.is_some_and(|(_, k)| k.0.contains(KeyUsages::KeyCertSign))
    {
        return Err(format!(
            "{name} is not a CA certificate (cA basicConstraints and keyCertSign keyUsage), which notation requires of an intermediate in a timestamp's chain"
        ));
    }
    check_ca_usage(cert)?;
    check_path_length(cert, below)
}

/// Refuses a CA whose path length allows fewer than `below` intermediates under it.
fn check_path_length(ca: &Certificate, below: usize) -> Result<(), String> {
    let name = display_name(ca.tbs_certificate().subject());
    let limit = extension::<BasicConstraints>(ca, &name, "basicConstraints")?
        .and_then(|(_, b)| b.path_len_constraint);
    match limit {
        Some(n) if usize::from(n) < below => Err(format!(
            "{name} allows {n} intermediate(s) below it (pathLenConstraint), but the TSA's chain has {below} there: notation refuses the chain"
        )),
        _ => Ok(()),
    }
}

/// The extension `T` of `cert`, or a refusal naming the certificate when it cannot be read.
fn extension<'a, T: der::Decode<'a> + der::oid::AssociatedOid>(
    cert: &'a Certificate,
    name: &str,
    what: &str,
) -> Result<Option<(bool, T)>, String> {
    cert.tbs_certificate()
        .get_extension::<T>()
        .map_err(|e| format!("{name}'s {what} cannot be read ({e})"))
}

/// An extendedKeyUsage's OIDs, comma-separated.
fn oids(eku: &ExtendedKeyUsage) -> String {
    eku.0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
