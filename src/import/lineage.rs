//! Who may speak for a lineage: a bundle is accepted only when it is fresh, signed by a root
//! installed for its lineage (or, at first contact, by a pinned root of a pinned lineage),
//! and newer than what is installed.

use data_encoding::BASE64;
use der::{DateTime, Encode};

use super::state::{InstalledBundle, Lineage};
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

/// Refuses a bundle none of whose signers may speak for its lineage: a root installed for
/// it, or on first contact a pinned root of a pinned lineage. Every signer must be installed
/// or carried, and every root the bundle introduces must have signed it.
pub(super) fn check_signers(
    bundle: &Bundle,
    current: &[Vec<u8>],
    pins: &[Fingerprint],
) -> Result<(), ImportError> {
    let p = &bundle.payload;
    let signer_ders: Vec<Vec<u8>> = bundle
        .signers
        .iter()
        .map(|c| c.to_der().map_err(|e| refused(e.to_string())))
        .collect::<Result<_, _>>()?;
    let fps = |ders: &[Vec<u8>]| {
        ders.iter()
            .map(|d| Fingerprint::of(d).hex())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if current.is_empty() {
        if p.kind == Kind::Revocation {
            return Err(refused(format!(
                "no trust bundle of lineage {} is installed: install its trust bundle first",
                p.lineage
            )));
        }
        // First contact: the lineage itself and a root that signed must both be pinned, so
        // no pinned root can speak for a lineage the site did not pin.
        let lineage_pinned = Fingerprint::parse(&p.lineage).is_ok_and(|l| pins.contains(&l));
        if !lineage_pinned {
            return Err(refused(format!(
                "lineage {} is not pinned on this host: compare the fingerprint with the one read at the ceremony, then run `keyrite-import pin <fingerprint>`",
                p.lineage
            )));
        }
        if !signer_ders
            .iter()
            .any(|d| pins.contains(&Fingerprint::of(d)))
        {
            return Err(refused(format!(
                "lineage {} is pinned but the bundle is signed by root {}, which is not: after a rotation, also pin the current root's fingerprint read at the ceremony",
                p.lineage,
                fps(&signer_ders)
            )));
        }
    } else if !signer_ders.iter().any(|d| current.contains(d)) {
        return Err(refused(format!(
            "the bundle for lineage {} is signed by {}, none of which is a root installed for that lineage",
            p.lineage,
            fps(&signer_ders)
        )));
    }
    let bundle_roots: Vec<&[u8]> = bundle.roots().map(|(_, d, _)| d).collect();
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

/// Refuses a bundle that is not newer than the one of its kind installed: a rollback, a
/// replay, or a second bundle with the same version.
pub(super) fn check_version(
    bundle: &Bundle,
    previous: Option<&InstalledBundle>,
) -> Result<(), ImportError> {
    let p = &bundle.payload;
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
                "{} bundle version {} is already installed",
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
