//! Who may speak for a lineage, and for what. A bundle is accepted only when it is fresh,
//! newer than what is installed, and signed by a root the lineage trusts now: on first
//! contact, the root the site pinned for that very lineage; afterwards, a root its installed
//! trust bundle carries. A root the lineage dropped never speaks for it again. A trust
//! bundle's statements stay inside the registries the site granted the lineage, and the CRL
//! URLs it declares belong to no other lineage.

use data_encoding::BASE64;
use der::{DateTime, Encode};

use super::pins::Pin;
use super::state::{Installed, InstalledBundle, Lineage, Retired};
use super::{CLOCK_SKEW, ImportError, refused};
use crate::bundle::{Bundle, Kind, parse_time};
use crate::fingerprint::Fingerprint;

/// The DER of every root installed for `lineage`: the roots that may speak for it.
pub(super) fn current_roots(lineage: &Lineage) -> Vec<Vec<u8>> {
    lineage
        .trust
        .iter()
        .flat_map(|t| &t.roots)
        .filter_map(|r| BASE64.decode(r.der.as_bytes()).ok())
        .collect()
}

/// Refuses a bundle past its expiry or made in this host's future; returns its expiry.
pub(super) fn check_fresh(bundle: &Bundle, now: DateTime) -> Result<DateTime, ImportError> {
    let p = &bundle.payload;
    let issued = parse_time("issued_at", &p.issued_at)?;
    let expires = parse_time("expires_at", &p.expires_at)?;
    if expires.unix_duration() <= now.unix_duration() {
        return Err(refused(format!(
            "the {} bundle version {} expired on {}: ask the ceremony for a current one",
            p.kind.name(),
            p.version,
            p.expires_at
        )));
    }
    if issued.unix_duration() > now.unix_duration() + CLOCK_SKEW {
        return Err(refused(format!(
            "the bundle says it was made on {}, in the future of this host's clock ({now}): check the clock",
            p.issued_at
        )));
    }
    Ok(expires)
}

fn fps(ders: &[Vec<u8>]) -> String {
    ders.iter()
        .map(|d| Fingerprint::of(d).hex())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses a bundle none of whose signers may speak for its lineage now, one signed or
/// carrying a root the lineage dropped, one with a signer neither installed nor carried, and
/// one introducing a root that did not sign it.
pub(super) fn check_signers(
    bundle: &Bundle,
    lineage: &Lineage,
    pins: &[Pin],
) -> Result<(), ImportError> {
    let p = &bundle.payload;
    let current = current_roots(lineage);
    let signer_ders: Vec<Vec<u8>> = bundle
        .signers
        .iter()
        .map(|c| c.to_der().map_err(|e| refused(e.to_string())))
        .collect::<Result<_, _>>()?;
    let bundle_roots: Vec<&[u8]> = bundle.roots().map(|(_, d, _)| d).collect();
    let retired = |d: &[u8]| {
        let fp = Fingerprint::of(d).hex();
        lineage.retired.iter().find(|r| r.sha256 == fp)
    };
    for d in signer_ders
        .iter()
        .map(Vec::as_slice)
        .chain(bundle_roots.iter().copied())
    {
        if let Some(r) = retired(d) {
            return Err(refused(format!(
                "root {} was dropped from lineage {} by its trust bundle version {}: a retired root never speaks for the lineage again, whatever the version it signs",
                r.sha256, p.lineage, r.by_version
            )));
        }
    }
    if current.is_empty() {
        first_contact(bundle, &signer_ders, pins)?;
    } else if !signer_ders.iter().any(|d| current.contains(d)) {
        return Err(refused(format!(
            "the bundle for lineage {} is signed by {}, none of which is a root installed for that lineage",
            p.lineage,
            fps(&signer_ders)
        )));
    }
    for d in &signer_ders {
        if !current.contains(d) && !bundle_roots.contains(&d.as_slice()) {
            return Err(refused(format!(
                "root {} signed the bundle but is neither installed nor carried by it",
                Fingerprint::of(d)
            )));
        }
    }
    for d in &bundle_roots {
        if !current.iter().any(|c| c == d) && !signer_ders.iter().any(|s| s == d) {
            return Err(refused(format!(
                "the bundle introduces root {} but that root did not sign it: a new root must prove it holds its key",
                Fingerprint::of(d)
            )));
        }
    }
    Ok(())
}

/// A lineage's first bundle: a trust bundle signed by the root the site pinned for that
/// lineage. A root pinned for another lineage cannot open this one.
fn first_contact(bundle: &Bundle, signers: &[Vec<u8>], pins: &[Pin]) -> Result<(), ImportError> {
    let p = &bundle.payload;
    if p.kind == Kind::Revocation {
        return Err(refused(format!(
            "no trust bundle of lineage {} is installed: install its trust bundle first",
            p.lineage
        )));
    }
    let Some(pin) = pins.iter().find(|pin| pin.lineage == p.lineage) else {
        let pinned: Vec<&str> = pins.iter().map(|p| p.lineage.as_str()).collect();
        return Err(refused(format!(
            "lineage {} is not pinned on this host (pinned: {}){}: compare the fingerprints with the ones read at the lineage's latest ceremony, then run `keyrite-import pin --file root.fingerprint --scope <registries>` (add --lineage {} for a successor root)",
            p.lineage,
            if pinned.is_empty() {
                "none".into()
            } else {
                pinned.join(", ")
            },
            key_pinned(pins, signers),
            p.lineage
        )));
    };
    if !signers.iter().any(|d| Fingerprint::of(d).hex() == pin.root) {
        return Err(refused(format!(
            "lineage {} is pinned to open with root {}, but the bundle is signed by {}{}: pin the root read at the lineage's latest ceremony",
            p.lineage,
            pin.root,
            fps(signers),
            key_pinned(pins, signers)
        )));
    }
    Ok(())
}

/// When a pin holds the SHA-256 of a signer's *key* (root.fingerprint's `key-sha256` line, as
/// share cards show it) rather than of its certificate, says so.
fn key_pinned(pins: &[Pin], signers: &[Vec<u8>]) -> String {
    use der::{Decode, Encode};
    let keys: Vec<String> = signers
        .iter()
        .filter_map(|d| x509_cert::Certificate::from_der(d).ok())
        .filter_map(|c| c.tbs_certificate().subject_public_key_info().to_der().ok())
        .map(|spki| Fingerprint::of(&spki).hex())
        .collect();
    match pins
        .iter()
        .find(|p| keys.contains(&p.root) || keys.contains(&p.lineage))
    {
        Some(p) => format!(
            "; the pin {} is the SHA-256 of the signing root's key (root.fingerprint's \
             key-sha256 line), not of its certificate (its sha256 line): remove it with \
             `keyrite-import unpin {}` and pin the certificate's",
            p.lineage, p.lineage
        ),
        None => String::new(),
    }
}

/// Refuses a trust bundle whose statements or third parties claim a registry the site did
/// not grant the lineage, or that declares a CRL URL (its own or a third party's) another
/// lineage declared.
pub(super) fn check_claims(
    bundle: &Bundle,
    pins: &[Pin],
    installed: &Installed,
) -> Result<(), ImportError> {
    let p = &bundle.payload;
    let claims = p
        .policy
        .iter()
        .map(|s| (format!("statement '{}'", s.name), &s.registry_scopes))
        .chain(
            p.third_parties
                .iter()
                .map(|t| (format!("third party '{}'", t.name), &t.registry_scopes)),
        );
    for (what, scopes) in claims {
        let pin = pins.iter().find(|pin| pin.lineage == p.lineage).ok_or_else(|| {
            refused(format!(
                "lineage {} has no pin on this host, so it is granted no registry: pin it with --scope before installing its statements and third parties",
                p.lineage
            ))
        })?;
        if let Some(scope) = pin.ungranted(scopes) {
            return Err(refused(format!(
                "{what} claims {scope}, which the site did not grant lineage {} (granted: {}): re-pin with a --scope that covers it, or have the ceremony drop it",
                p.lineage,
                if pin.scopes.is_empty() {
                    "nothing".into()
                } else {
                    pin.scopes.join(", ")
                }
            )));
        }
    }
    let ours = p
        .crl_urls
        .iter()
        .chain(p.third_parties.iter().flat_map(|t| &t.crl_urls));
    for url in ours {
        let other = installed.lineages.iter().find(|(id, l)| {
            id.as_str() != p.lineage && l.trust.iter().any(|t| declared_urls(t).any(|u| u == url))
        });
        if let Some((id, _)) = other {
            return Err(refused(format!(
                "lineage {} declares CRL URL {url}, which lineage {id} declared first: one URL answers for one lineage or third party; the ceremonies must give distinct CRL URLs",
                p.lineage
            )));
        }
    }
    Ok(())
}

/// Every CRL URL a trust bundle declared: the lineage's and its third parties'.
pub(super) fn declared_urls(trust: &InstalledBundle) -> impl Iterator<Item = &String> {
    trust
        .crl_urls
        .iter()
        .chain(trust.third_parties.iter().flat_map(|t| &t.crl_urls))
}

/// The roots `lineage` drops when trust bundle `version` carrying `kept` (DER) installs.
pub(super) fn newly_retired(lineage: &Lineage, kept: &[&[u8]], version: u64) -> Vec<Retired> {
    current_roots(lineage)
        .iter()
        .filter(|d| !kept.contains(&d.as_slice()))
        .map(|d| Retired {
            sha256: Fingerprint::of(d).hex(),
            by_version: version,
        })
        .collect()
}

/// Refuses a bundle that is not newer than the one of its kind installed: a rollback, a
/// replay, or a second bundle with the same version.
pub(super) fn check_version(
    bundle: &Bundle,
    previous: Option<&InstalledBundle>,
    repair: bool,
) -> Result<(), ImportError> {
    let p = &bundle.payload;
    if repair {
        return match previous {
            Some(prev)
                if prev.version == p.version && prev.bundle_sha256 == bundle.file_sha256.hex() =>
            {
                Ok(())
            }
            Some(prev) => Err(refused(format!(
                "--repair re-applies the {} bundle installed, version {} (SHA-256 {}); this is \
                 version {}: give that bundle, or install this one without --repair",
                p.kind.name(),
                prev.version,
                prev.bundle_sha256,
                p.version
            ))),
            None => Err(refused(format!(
                "--repair re-applies an installed bundle, and no {} bundle of lineage {} is \
                 installed: install it without --repair",
                p.kind.name(),
                p.lineage
            ))),
        };
    }
    let Some(prev) = previous else {
        return Ok(());
    };
    if p.version < prev.version {
        return Err(refused(format!(
            "{} bundle version {} is older than version {} installed: rollback refused",
            p.kind.name(),
            p.version,
            prev.version
        )));
    }
    if p.version == prev.version {
        return Err(refused(if prev.bundle_sha256 == bundle.file_sha256.hex() {
            format!(
                "{} bundle version {} is already installed (if `keyrite-import status` says its \
                 files were changed by hand, `keyrite-import install --repair FILE` writes them \
                 again)",
                p.kind.name(),
                p.version
            )
        } else {
            format!(
                "a different {} bundle with version {} is already installed: two bundles share a version, which a ceremony never makes; report it",
                p.kind.name(),
                p.version
            )
        }));
    }
    Ok(())
}
