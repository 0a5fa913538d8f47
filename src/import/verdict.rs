//! An offline verdict on a signing chain against what is installed, by notation's rules, in
//! notation's order: authenticity (the chain links up to a self-signed root, some certificate
//! in it is byte-identical to a trusted root, notation's certificate rules hold, and the
//! signing certificate is a trusted identity), then validity at the time, then revocation (no
//! non-root certificate on the CRL its CDP URL maps to in notation's CRL cache). A trust
//! policy statement's level and overrides say which failures decide and which are only noted.

use std::path::Path;

use data_encoding::BASE64;
use der::{Decode, Encode};
use serde::Serialize;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages,
};

use crate::keys::{PublicKey, sha256};
use crate::pki::csr::check_leaf_key;
use crate::pki::name::display_name;
use crate::pki::serial_hex;
use crate::pki::verify::{crl_issued_by, issued_by};

/// The four answers notation can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every check passed.
    Trusted,
    /// The chain does not lead to an installed root, breaks a rule, or its revocation status
    /// is unknown.
    Untrusted,
    /// A certificate is outside its validity at the time.
    Expired,
    /// A certificate is on its issuer's CRL.
    Revoked,
}

/// A verdict and why.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The answer.
    pub outcome: Outcome,
    /// Why, in a sentence.
    pub reason: String,
}

fn verdict(outcome: Outcome, reason: String) -> Verdict {
    Verdict { outcome, reason }
}

fn cdp_urls(cert: &Certificate) -> Vec<String> {
    let Ok(Some((_, cdp))) = cert
        .tbs_certificate()
        .get_extension::<CrlDistributionPoints>()
    else {
        return Vec::new();
    };
    cdp.0
        .iter()
        .filter_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// Whether the certificate names an OCSP responder, which notation would ask over the network.
fn names_ocsp(cert: &Certificate) -> bool {
    const ID_AD_OCSP: der::asn1::ObjectIdentifier =
        der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
    cert.tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
        .ok()
        .flatten()
        .is_some_and(|(_, aia)| aia.0.iter().any(|d| d.access_method == ID_AD_OCSP))
}

/// The CRL notation's cache holds for `url`, if any.
pub fn cached_crl(cache: &Path, url: &str) -> Result<Option<CertificateList>, String> {
    let path = super::crl_cache_path(cache, url);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let entry: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a CRL cache entry: {e}", path.display()))?;
    let der = entry
        .get("baseCRL")
        .and_then(|v| v.as_str())
        .and_then(|b| BASE64.decode(b.as_bytes()).ok())
        .ok_or_else(|| format!("{} has no baseCRL", path.display()))?;
    CertificateList::from_der(&der)
        .map(Some)
        .map_err(|e| format!("{}: the CRL does not parse: {e}", path.display()))
}

/// Extended key usages notation refuses on a signing certificate.
const FORBIDDEN_EKUS: [&str; 6] = [
    "1.3.6.1.5.5.7.3.1", // serverAuth
    "1.3.6.1.5.5.7.3.2", // clientAuth
    "1.3.6.1.5.5.7.3.4", // emailProtection
    "1.3.6.1.5.5.7.3.8", // timeStamping
    "1.3.6.1.5.5.7.3.9", // OCSPSigning
    "2.5.29.37.0",       // anyExtendedKeyUsage
];

/// notation's profile for the signing certificate (index 0) and the CAs above it.
fn rules(cert: &Certificate, index: usize) -> Result<(), String> {
    let tbs = cert.tbs_certificate();
    let who = display_name(tbs.subject());
    let ku = tbs.get_extension::<KeyUsage>().ok().flatten();
    let bc = tbs.get_extension::<BasicConstraints>().ok().flatten();
    if index == 0 {
        let (critical, ku) =
            ku.ok_or_else(|| format!("the signing certificate {who} has no keyUsage"))?;
        let forbidden = KeyUsages::KeyEncipherment
            | KeyUsages::DataEncipherment
            | KeyUsages::KeyAgreement
            | KeyUsages::KeyCertSign
            | KeyUsages::CRLSign
            | KeyUsages::EncipherOnly
            | KeyUsages::DecipherOnly;
        if !critical || !ku.0.contains(KeyUsages::DigitalSignature) || !ku.0.is_disjoint(forbidden)
        {
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
        if bc.is_some_and(|(_, b)| b.ca) {
            return Err(format!("the signing certificate {who} is a CA"));
        }
        let key = PublicKey::from_spki(tbs.subject_public_key_info())
            .map_err(|e| format!("the signing certificate {who}: {e}"))?;
        check_leaf_key(&key).map_err(|e| format!("the signing certificate {who}: {e}"))?;
    } else {
        let ca = bc.as_ref().is_some_and(|(critical, b)| *critical && b.ca);
        let signs =
            ku.is_some_and(|(critical, k)| critical && k.0.contains(KeyUsages::KeyCertSign));
        if !ca || !signs {
            return Err(format!(
                "{who} is above the signing certificate but lacks a critical cA basicConstraints or a critical keyCertSign keyUsage"
            ));
        }
        if let Some(len) = bc.and_then(|(_, b)| b.path_len_constraint)
            && usize::from(len) + 1 < index
        {
            return Err(format!(
                "{who}'s pathLenConstraint {len} is too small for its place in the chain"
            ));
        }
    }
    Ok(())
}

/// What a trust policy statement does with a failed check, as notation's verification levels
/// and overrides say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A failure is the verdict.
    Enforce,
    /// A failure is noted and verification goes on.
    Log,
    /// The check is not made.
    Skip,
}

/// How each of notation's checks is treated; every one enforced without a policy.
#[derive(Clone, Debug)]
pub struct Enforcement {
    /// The chain leads to a root in the statement's trust stores and its signing certificate
    /// is a trusted identity. (That the chain links up and follows notation's certificate
    /// rules is integrity, which notation enforces at every level.)
    pub authenticity: Action,
    /// Every certificate is within its validity at the time (notation's
    /// authenticTimestamp, for a signature without a timestamp).
    pub authentic_timestamp: Action,
    /// No certificate is on the CRL its distribution point maps to.
    pub revocation: Action,
    /// The trusted identities (`x509.subject:` DNs) the signing certificate must match;
    /// `None` when any identity is trusted.
    pub identities: Option<Vec<x509_cert::name::Name>>,
}

impl Default for Enforcement {
    fn default() -> Self {
        Self {
            authenticity: Action::Enforce,
            authentic_timestamp: Action::Enforce,
            revocation: Action::Enforce,
            identities: None,
        }
    }
}

/// Whether every attribute of `identity` is in `subject` with the same value: notation's
/// match of a trusted identity against the signing certificate's subject.
fn identity_matches(identity: &x509_cert::name::Name, subject: &x509_cert::name::Name) -> bool {
    let attrs = |n: &x509_cert::name::Name| -> Vec<(String, Vec<u8>)> {
        n.iter()
            .map(|a| (a.oid.to_string(), a.value.value().to_vec()))
            .collect()
    };
    let have = attrs(subject);
    attrs(identity).iter().all(|a| have.contains(a))
}

/// A certificate's subject, for verdicts.
fn name(c: &Certificate) -> String {
    display_name(c.tbs_certificate().subject())
}

/// One of notation's checks, run on demand.
type Check<'a> = dyn Fn() -> Result<(), Verdict> + 'a;

/// Judges `chain` (leaf first) at `at` against the trusted `roots` (DER) and the CRL cache,
/// making each check as `policy` says.
pub fn judge(
    chain: &[Certificate],
    at: der::DateTime,
    roots: &[Vec<u8>],
    cache: &Path,
    policy: &Enforcement,
) -> Verdict {
    let mut logged = Vec::new();
    let stages: [(Action, &Check<'_>); 4] = [
        // notation checks the chain with the signature's integrity, at every level.
        (Action::Enforce, &|| integrity(chain)),
        (policy.authenticity, &|| authenticity(chain, roots, policy)),
        (policy.authentic_timestamp, &|| validity(chain, at)),
        (policy.revocation, &|| revocation(chain, at, cache)),
    ];
    for (action, check) in stages {
        if action == Action::Skip {
            continue;
        }
        if let Err(v) = check() {
            if action == Action::Enforce {
                return v;
            }
            logged.push(v.reason);
        }
    }
    let root = chain.last().map(name);
    let mut reason = format!(
        "the chain leads to the trusted root {} and nothing in it is expired or revoked",
        root.unwrap_or_default()
    );
    if !logged.is_empty() {
        reason = format!("the policy only logs what failed: {}", logged.join("; "));
    }
    verdict(Outcome::Trusted, reason)
}

/// The chain links up to a self-signed root and follows notation's certificate rules.
fn integrity(chain: &[Certificate]) -> Result<(), Verdict> {
    let Some(root) = chain.last() else {
        return Err(verdict(Outcome::Untrusted, "the chain is empty".into()));
    };
    for (i, pair) in chain.windows(2).enumerate() {
        if let Err(e) = issued_by(&pair[0], &pair[1]) {
            return Err(verdict(
                Outcome::Untrusted,
                format!(
                    "certificate {} ({}) is not issued by the next one: {e}",
                    i + 1,
                    name(&pair[0])
                ),
            ));
        }
    }
    if let Err(e) = issued_by(root, root) {
        return Err(verdict(
            Outcome::Untrusted,
            format!(
                "the chain does not end in a self-signed root ({}): {e}",
                name(root)
            ),
        ));
    }
    for (i, cert) in chain.iter().enumerate() {
        if let Err(e) = rules(cert, i) {
            return Err(verdict(Outcome::Untrusted, e));
        }
    }
    Ok(())
}

/// A certificate of the chain is a trusted root, and the signing certificate a trusted
/// identity.
fn authenticity(
    chain: &[Certificate],
    roots: &[Vec<u8>],
    policy: &Enforcement,
) -> Result<(), Verdict> {
    let (Some(leaf), Some(root)) = (chain.first(), chain.last()) else {
        return Err(verdict(Outcome::Untrusted, "the chain is empty".into()));
    };
    let ders: Vec<Vec<u8>> = chain.iter().filter_map(|c| c.to_der().ok()).collect();
    if !ders.iter().any(|d| roots.contains(d)) {
        return Err(verdict(
            Outcome::Untrusted,
            format!(
                "no certificate in the chain is a trusted root (the chain's root {} has SHA-256 {})",
                name(root),
                hex::encode(sha256(ders.last().map_or(&[][..], |d| d)))
            ),
        ));
    }
    if let Some(identities) = &policy.identities {
        let subject = leaf.tbs_certificate().subject();
        if !identities.iter().any(|i| identity_matches(i, subject)) {
            return Err(verdict(
                Outcome::Untrusted,
                format!(
                    "the signing certificate {} is not a trusted identity of the policy statement",
                    name(leaf)
                ),
            ));
        }
    }
    Ok(())
}

fn validity(chain: &[Certificate], at: der::DateTime) -> Result<(), Verdict> {
    for cert in chain {
        let v = cert.tbs_certificate().validity();
        if at.unix_duration() < v.not_before.to_unix_duration() {
            return Err(verdict(
                Outcome::Untrusted,
                format!("{} is not valid before {}", name(cert), v.not_before),
            ));
        }
        if at.unix_duration() > v.not_after.to_unix_duration() {
            return Err(verdict(
                Outcome::Expired,
                format!("{} expired on {}", name(cert), v.not_after),
            ));
        }
    }
    Ok(())
}

fn revocation(chain: &[Certificate], at: der::DateTime, cache: &Path) -> Result<(), Verdict> {
    for (i, pair) in chain.windows(2).enumerate() {
        let (cert, issuer) = (&pair[0], &pair[1]);
        let urls = cdp_urls(cert);
        if urls.is_empty() && names_ocsp(cert) {
            return Err(verdict(
                Outcome::Untrusted,
                format!(
                    "revocation status of {} is unknown: it names only an OCSP responder, which cannot be asked offline",
                    name(cert)
                ),
            ));
        }
        for url in urls {
            if !crate::bundle::valid_cdp_url(&url) {
                return Err(verdict(
                    Outcome::Untrusted,
                    format!(
                        "revocation status of {} is unknown: notation fetches only http:// CRLs, not {url}",
                        name(cert)
                    ),
                ));
            }
            let crl = match cached_crl(cache, &url) {
                Ok(Some(crl)) => crl,
                Ok(None) => {
                    return Err(verdict(
                        Outcome::Untrusted,
                        format!(
                            "revocation status of {} is unknown: no CRL for {url} is installed",
                            name(cert)
                        ),
                    ));
                }
                Err(e) => {
                    return Err(verdict(
                        Outcome::Untrusted,
                        format!("revocation status of {} is unknown: {e}", name(cert)),
                    ));
                }
            };
            if let Err(e) = crl_issued_by(&crl, issuer) {
                return Err(verdict(
                    Outcome::Untrusted,
                    format!("the CRL for {url} is not from {}'s issuer: {e}", name(cert)),
                ));
            }
            let fresh = crl
                .tbs_cert_list
                .next_update
                .is_some_and(|n| n.to_unix_duration() > at.unix_duration());
            if !fresh {
                return Err(verdict(
                    Outcome::Untrusted,
                    format!(
                        "revocation status of {} is unknown: the CRL for {url} is past its nextUpdate",
                        name(cert)
                    ),
                ));
            }
            let serial = cert.tbs_certificate().serial_number();
            if let Some(entry) = crl
                .tbs_cert_list
                .revoked_certificates
                .iter()
                .flatten()
                .find(|r| &r.serial_number == serial)
            {
                return Err(verdict(
                    Outcome::Revoked,
                    format!(
                        "certificate {} ({}, serial {}) was revoked on {}",
                        i + 1,
                        name(cert),
                        serial_hex(serial),
                        entry.revocation_date
                    ),
                ));
            }
        }
    }
    Ok(())
}
