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
pub(super) const TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

/// Why notation would not use `cert` as a root of a `kind` store at `now`: signed with a
/// broken hash, not a CA (a leaf; for a `tsa` store, the TSA's own timestamping certificate
/// rather than the root that issued it), not self-signed, not valid at `now`, or a key
/// notation does not accept. Both stores need a CA root: notation verifies a timestamp's
/// chain up to a self-signed root with cA and keyCertSign. The message names the certificate
/// and the rule.
pub fn check_root(cert: &Certificate, now: DateTime, kind: Store) -> Result<(), String> {
    let tbs = cert.tbs_certificate();
    let who = display_name(tbs.subject());
    if let Some(broken) = broken_signature(cert) {
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
    if kind == Store::Tsa {
        super::tsa::check_ca_usage(cert)?;
    }
    issued_by(cert, cert).map_err(|e| format!("{who} is not a self-signed root: {e}"))?;
    check_valid_at(cert, &who, now)?;
    let key = PublicKey::from_spki(tbs.subject_public_key_info())
        .map_err(|e| format!("{who}: its key cannot be used: {e}"))?;
    check_leaf_key(&key).map_err(|e| format!("{who}: {e}"))
}

/// The broken hash `cert` is signed with, by name, when it is one notation refuses.
pub(super) fn broken_signature(cert: &Certificate) -> Option<&'static str> {
    let alg = cert.signature_algorithm().oid.to_string();
    BROKEN_SIGNATURES
        .iter()
        .find(|(oid, _)| *oid == alg)
        .map(|(_, broken)| *broken)
}

/// Refuses `cert` (named `who`) when `now` is outside its validity.
pub(super) fn check_valid_at(cert: &Certificate, who: &str, now: DateTime) -> Result<(), String> {
    let v = cert.tbs_certificate().validity();
    if now.unix_duration() > v.not_after.to_unix_duration() {
        return Err(format!("{who} expired on {}", v.not_after));
    }
    if now.unix_duration() < v.not_before.to_unix_duration() {
        return Err(format!("{who} is not valid before {}", v.not_before));
    }
    Ok(())
}

/// Whether `cert` is a CA certificate as keyrite requires of a root: a basicConstraints with
/// cA and a keyUsage with keyCertSign, as notation requires, each marked critical, as RFC 5280
/// requires of a CA.
fn is_ca(cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    let basic = tbs.get_extension::<BasicConstraints>().ok().flatten();
    let usage = tbs.get_extension::<KeyUsage>().ok().flatten();
    basic.is_some_and(|(critical, b)| critical && b.ca)
        && usage.is_some_and(|(critical, k)| critical && k.0.contains(KeyUsages::KeyCertSign))
}
