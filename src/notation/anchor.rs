//! The certificates notation uses as trust anchors: what a `ca` or `tsa` store may hold for a
//! chain to end in it. keyrite-import installs only such roots, and the ceremony refuses to
//! carry a third party's root notation would not use, each with the rule it breaks.

use der::DateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};

use crate::keys::PublicKey;
use crate::pki::csr::check_leaf_key;
use crate::pki::name::display_name;
use crate::pki::verify::issued_by;

/// Signature algorithms whose certificates Go (and so notation) no longer verifies, by OID:
/// MD5 and SHA-1 with RSA, ECDSA with SHA-1.
const BROKEN_SIGNATURES: [(&str, &str); 3] = [
    ("1.2.840.113549.1.1.4", "MD5 with RSA"),
    ("1.2.840.113549.1.1.5", "SHA-1 with RSA"),
    ("1.2.840.10045.4.1", "ECDSA with SHA-1"),
];

/// Which store a root is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// A `ca` store: the root of signing certificates.
    Ca,
    /// A `tsa` store: the root of timestamping certificates.
    Tsa,
}

/// The OID of the timeStamping extended key usage.
const TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

/// Why notation would not use `cert` as a root of a `kind` store at `now`: signed with a
/// broken hash, not a CA (a leaf; for a `tsa` store, the TSA's own timestamping certificate
/// rather than the root that issued it), not self-signed, not valid at `now`, or a key
/// notation does not accept. Both stores need a CA root: notation verifies a timestamp's
/// chain up to a self-signed root with cA and keyCertSign. The message names the certificate
/// and the rule.
pub fn check_root(cert: &Certificate, now: DateTime, kind: Store) -> Result<(), String> {
    let tbs = cert.tbs_certificate();
    let who = display_name(tbs.subject());
    let alg = cert.signature_algorithm().oid.to_string();
    if let Some((_, broken)) = BROKEN_SIGNATURES.iter().find(|(oid, _)| *oid == alg) {
        return Err(format!(
            "{who} is signed with {broken}, which notation refuses: ask its issuer for a root signed with SHA-256 or stronger"
        ));
    }
    let basic = tbs.get_extension::<BasicConstraints>().ok().flatten();
    if !is_ca(cert) {
        let time_stamping = tbs
            .get_extension::<ExtendedKeyUsage>()
            .ok()
            .flatten()
            .is_some_and(|(_, eku)| eku.0.iter().any(|o| o.to_string() == TIME_STAMPING));
        let store = match kind {
            Store::Ca => "ca",
            Store::Tsa => "tsa",
        };
        return Err(format!(
            "{who} is not a CA certificate (critical cA basicConstraints and keyCertSign keyUsage), which notation's {store} stores require{}",
            if kind == Store::Tsa && time_stamping {
                ": it is a TSA's timestamping certificate, not its root; give the self-signed root that issued it"
            } else if !basic.is_some_and(|(_, b)| b.ca) {
                ": it is a leaf, not a root"
            } else {
                ""
            }
        ));
    }
    issued_by(cert, cert).map_err(|e| format!("{who} is not a self-signed root: {e}"))?;
    let v = tbs.validity();
    if now.unix_duration() > v.not_after.to_unix_duration() {
        return Err(format!("{who} expired on {}", v.not_after));
    }
    if now.unix_duration() < v.not_before.to_unix_duration() {
        return Err(format!("{who} is not valid before {}", v.not_before));
    }
    let key = PublicKey::from_spki(tbs.subject_public_key_info())
        .map_err(|e| format!("{who}: its key cannot be used: {e}"))?;
    check_leaf_key(&key).map_err(|e| format!("{who}: {e}"))
}

/// Whether `cert` is a CA certificate as notation requires of a root or an intermediate: a
/// critical basicConstraints with cA, and a critical keyUsage with keyCertSign.
fn is_ca(cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    let basic = tbs.get_extension::<BasicConstraints>().ok().flatten();
    let usage = tbs.get_extension::<KeyUsage>().ok().flatten();
    basic.is_some_and(|(critical, b)| critical && b.ca)
        && usage.is_some_and(|(critical, k)| critical && k.0.contains(KeyUsages::KeyCertSign))
}

/// The keyUsage bits notation refuses on a timestamping certificate: it signs timestamps
/// and nothing else.
const TSA_FORBIDDEN_USAGES: [(KeyUsages, &str); 7] = [
    (KeyUsages::KeyEncipherment, "keyEncipherment"),
    (KeyUsages::DataEncipherment, "dataEncipherment"),
    (KeyUsages::KeyAgreement, "keyAgreement"),
    (KeyUsages::KeyCertSign, "keyCertSign"),
    (KeyUsages::CRLSign, "cRLSign"),
    (KeyUsages::EncipherOnly, "encipherOnly"),
    (KeyUsages::DecipherOnly, "decipherOnly"),
];

/// Why notation would refuse timestamps that `chain` signs: its first certificate is a TSA's
/// timestamping certificate, any others the intermediates above it, and the last must be
/// issued by one of `roots` (checked with [`check_root`] already). The rules are those
/// notation's TSA client and verifier apply (notation-core-go's timestamping certificate
/// validation): an extendedKeyUsage of timeStamping alone, marked critical; a keyUsage with
/// digitalSignature and none of [`TSA_FORBIDDEN_USAGES`]; not a CA; a key and signature
/// notation accepts; and each certificate valid at `now`. The message names the certificate
/// and the rule.
pub fn check_tsa_chain(
    chain: &[Certificate],
    roots: &[Certificate],
    now: DateTime,
) -> Result<(), String> {
    let signer = chain.first().ok_or("the file holds no certificate")?;
    let tbs = signer.tbs_certificate();
    let who = display_name(tbs.subject());
    let eku = tbs.get_extension::<ExtendedKeyUsage>().ok().flatten();
    match eku {
        None => {
            return Err(format!(
                "{who} has no extendedKeyUsage: notation requires timeStamping alone, marked critical"
            ));
        }
        Some((critical, eku)) => {
            let only_time_stamping =
                eku.0.len() == 1 && eku.0.iter().all(|o| o.to_string() == TIME_STAMPING);
            if !only_time_stamping {
                let listed: Vec<String> = eku.0.iter().map(|o| o.to_string()).collect();
                return Err(format!(
                    "{who}'s extendedKeyUsage lists {}: notation requires timeStamping ({TIME_STAMPING}) alone",
                    listed.join(", ")
                ));
            }
            if !critical {
                return Err(format!(
                    "{who}'s extendedKeyUsage is not marked critical, which notation requires of a timestamping certificate"
                ));
            }
        }
    }
    let Some((_, usage)) = tbs.get_extension::<KeyUsage>().ok().flatten() else {
        return Err(format!(
            "{who} has no keyUsage: notation requires one with digitalSignature on a timestamping certificate"
        ));
    };
    if !usage.0.contains(KeyUsages::DigitalSignature) {
        return Err(format!(
            "{who}'s keyUsage lacks digitalSignature, which notation requires of a timestamping certificate"
        ));
    }
    let forbidden: Vec<&str> = TSA_FORBIDDEN_USAGES
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
    if tbs
        .get_extension::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, b)| b.ca)
    {
        return Err(format!(
            "{who} is a CA certificate: notation requires a timestamping certificate to be a leaf (cA false)"
        ));
    }
    let key = PublicKey::from_spki(tbs.subject_public_key_info())
        .map_err(|e| format!("{who}: its key cannot be used: {e}"))?;
    check_leaf_key(&key).map_err(|e| format!("{who}: {e}"))?;
    for (i, cert) in chain.iter().enumerate() {
        let tbs = cert.tbs_certificate();
        let name = display_name(tbs.subject());
        let alg = cert.signature_algorithm().oid.to_string();
        if let Some((_, broken)) = BROKEN_SIGNATURES.iter().find(|(oid, _)| *oid == alg) {
            return Err(format!(
                "{name} is signed with {broken}, which notation refuses"
            ));
        }
        let v = tbs.validity();
        if now.unix_duration() > v.not_after.to_unix_duration() {
            return Err(format!("{name} expired on {}", v.not_after));
        }
        if now.unix_duration() < v.not_before.to_unix_duration() {
            return Err(format!("{name} is not valid before {}", v.not_before));
        }
        if i > 0 && !is_ca(cert) {
            return Err(format!(
                "{name} is not a CA certificate (critical cA basicConstraints and keyCertSign keyUsage), which notation requires of an intermediate in a timestamp's chain"
            ));
        }
        match chain.get(i + 1) {
            Some(issuer) => issued_by(cert, issuer)
                .map_err(|e| format!("{name} is not issued by the certificate after it: {e}"))?,
            None => {
                if !roots.iter().any(|r| issued_by(cert, r).is_ok()) {
                    return Err(format!(
                        "{name} is not issued by any TSA root given: notation could not end a timestamp's chain in them; give the root that issued it"
                    ));
                }
            }
        }
    }
    Ok(())
}
