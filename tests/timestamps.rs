//! RFC 3161 timestamps with the real notation, against trust installed by keyrite-import from
//! real bundles: a delegate that lives a few seconds signs with and without a timestamp from a
//! local TSA, and notation verifies each signature while the delegate is valid and again after
//! it has expired, on three sites: one whose statement trusts the TSA root under
//! `verifyTimestamp: always`, one under `afterCertExpiry` (keyrite's default), and one whose
//! statement trusts no TSA root. `keyrite-import check` says on each what a signature needs.
//! Revoking the delegate then refuses even its timestamped signature.

mod common;

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use common::Token;
use common::ceremony::{Ceremony, Site};
use common::notation::{self, Dirs, Net, Notation, build_machine};
use common::tsa::Tsa;

/// The repository the statements cover.
const SCOPE: &str = "registry.example/prod/app";
/// How long the short-lived delegate lives.
const LIFETIME_SECS: u64 = 12;

/// A policy file whose statement names `rule` (`verify_timestamp = …`), or none.
fn policy(dir: &Path, label: &str, rule: Option<&str>) -> String {
    let path = dir.join(format!("policy-{label}.toml"));
    fs::write(
        &path,
        format!(
            "[[statement]]\nname = \"prod\"\nregistry_scopes = [\"{SCOPE}\"]\nlevel = \"strict\"\n\
             trusted_identities = [\"x509.subject: C=US, ST=WA, O=Publisher\"]\n{}",
            rule.map(|r| format!("verify_timestamp = \"{r}\"\n"))
                .unwrap_or_default()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// A site with the lineage pinned and `trust` and the revocation bundle installed.
fn site(c: &Ceremony, trust: &Path, revocation: &Path) -> (Site, Dirs) {
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    for b in [trust, revocation] {
        let (ok, text) = site.install(b);
        assert!(ok, "{text}");
    }
    let dirs = site.notation_dirs();
    (site, dirs)
}

/// Signs a fresh layout with delegate `short`, with a timestamp from `tsa` or without.
fn sign(n: &Notation, c: &Ceremony, tsa: Option<&Tsa>) -> notation::Build {
    let b = build_machine(if tsa.is_some() { "ts" } else { "no-ts" });
    n.add_local_key(
        &b.dirs,
        "short",
        &c.hsm.dir().join("short.key"),
        &c.chain("short"),
    );
    let reference = format!("{}@{}", b.layout.display(), b.digest);
    let mut args = vec!["sign", "--oci-layout", &reference, "--key", "short"];
    let root;
    if let Some(tsa) = tsa {
        root = tsa.root.display().to_string();
        args.extend(["--timestamp-url", &tsa.url, "--timestamp-root-cert", &root]);
    }
    // The TSA listens on this machine's loopback.
    let (ok, text) = n.run_on(&Net::Loopback, &b.dirs, &[], &args);
    assert!(
        ok,
        "notation sign ({}): {text}",
        if tsa.is_some() {
            "timestamped"
        } else {
            "plain"
        }
    );
    b
}

/// `keyrite-import check --scope SCOPE --at AT` of the short delegate's chain on `site`:
/// (exit code, the verdict line, the timestamp line).
fn check(site: &Site, c: &Ceremony, at: SystemTime) -> (i32, String) {
    let at = der::DateTime::from_system_time(at).unwrap().to_string();
    site.check(&c.chain("short"), &["--scope", SCOPE, "--at", &at])
}

#[test]
fn a_timestamped_signature_outlives_its_delegate_and_a_plain_one_does_not() {
    let Some(n) =
        notation::find("a_timestamped_signature_outlives_its_delegate_and_a_plain_one_does_not")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let tsa = Tsa::start(work.path());
    let c = Ceremony::new("timestamps");
    let dir = c.hsm.dir().to_owned();
    let tsa_root = tsa.root.display().to_string();
    let bundle = |label: &str, args: &[&str]| {
        let (ok, text, bundle) = c.trust_bundle(&format!("trust-{label}.bundle"), 1, args);
        assert!(ok, "{label}: {text}");
        (bundle, text)
    };
    let (always_bundle, text) = bundle(
        "always",
        &[
            "--tsa-root",
            &tsa_root,
            "--policy",
            &policy(&dir, "always", Some("always")),
        ],
    );
    assert!(text.contains("verifyTimestamp always"), "{text}");
    // A statement that names no rule gets keyrite's default.
    let (after_bundle, text) = bundle(
        "after",
        &[
            "--tsa-root",
            &tsa_root,
            "--policy",
            &policy(&dir, "after", None),
        ],
    );
    assert!(text.contains("verifyTimestamp afterCertExpiry"), "{text}");
    let (plain_bundle, text) = bundle("plain", &["--policy", &policy(&dir, "plain", None)]);
    assert!(text.contains("no TSA root"), "{text}");
    let crl = c.crl("root.crl", &[]);
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let (always_site, always) = site(&c, &always_bundle, &revocation);
    let (after_site, after) = site(&c, &after_bundle, &revocation);
    let (plain_site, plain) = site(&c, &plain_bundle, &revocation);
    for (site, says) in [
        (
            &always_site,
            "under verifyTimestamp always: every signature must carry a timestamp",
        ),
        (
            &after_site,
            "under verifyTimestamp afterCertExpiry: a signature needs a timestamp once",
        ),
        (&plain_site, "prod: no TSA root"),
    ] {
        let (code, text) = site.status(&[]);
        assert!(code == 0 && text.contains(says), "{text}");
    }

    let issued_at = SystemTime::now();
    c.delegate_with(
        "short",
        "/C=US/ST=WA/O=Publisher/CN=short",
        &format!("{LIFETIME_SECS}s"),
    );
    let issued = Instant::now();
    // notation wants the timestamp's time (less its accuracy) inside every certificate's
    // validity: leave the delegate's first second behind.
    sleep(Duration::from_secs(2));
    let stamped = sign(&n, &c, Some(&tsa));
    let unstamped = sign(&n, &c, None);

    // notation's verdict in each of the twelve cases (../shared/docs/timestamping.md).
    let judge = |when: &str, expected: [[&str; 3]; 2]| {
        for (signature, b, words) in [
            ("timestamped", &stamped, expected[0]),
            ("plain", &unstamped, expected[1]),
        ] {
            for ((statement, dirs), word) in [
                ("always", &always),
                ("afterCertExpiry", &after),
                ("no TSA root", &plain),
            ]
            .into_iter()
            .zip(words)
            {
                let said = n.verify(dirs, &b.layout, &b.digest, SCOPE);
                assert_eq!(
                    said.word, word,
                    "{when}, {signature} signature, statement {statement}: {}",
                    said.text
                );
            }
        }
    };
    assert!(
        issued.elapsed() < Duration::from_secs(LIFETIME_SECS - 2),
        "signing took too long to judge the delegate while valid"
    );
    judge(
        "delegate valid",
        [
            ["trusted", "trusted", "trusted"],
            ["timestamp-required", "trusted", "trusted"],
        ],
    );
    sleep(Duration::from_secs(LIFETIME_SECS + 2).saturating_sub(issued.elapsed()));
    judge(
        "delegate expired",
        [
            ["trusted", "trusted", "expired"],
            ["timestamp-required", "timestamp-required", "expired"],
        ],
    );

    // What check says a signature by the delegate needs, on each site, before and after it
    // expires: exit 5 is "trusted only with a timestamp", 3 expired, 0 trusted.
    let valid = issued_at + Duration::from_secs(3);
    let expired = issued_at + Duration::from_secs(LIFETIME_SECS + 5);
    for (site, at, code, says) in [
        (
            &always_site,
            valid,
            5,
            "under verifyTimestamp always every signature by this chain must carry a timestamp from tsa:keyrite-",
        ),
        (
            &after_site,
            valid,
            0,
            "under verifyTimestamp afterCertExpiry a signature by this chain verifies with or without a timestamp until",
        ),
        (
            &plain_site,
            valid,
            0,
            "statement 'prod' trusts no TSA root, so notation ignores any timestamp: a signature by this chain verifies only until",
        ),
        (&always_site, expired, 5, "timestamp-required: "),
        (
            &after_site,
            expired,
            5,
            "after that, only one carrying a timestamp from tsa:keyrite-",
        ),
        (&plain_site, expired, 3, "expired: "),
    ] {
        let (got, text) = check(site, &c, at);
        assert!(
            got == code && text.contains(says),
            "exit {got}, wanted {code} and {says:?}: {text}"
        );
    }

    // A revoked delegate stays refused even when its signature is timestamped: the CRL gives
    // no invalidity date, so notation refuses every signature of that certificate.
    let crl = c.crl("root-2.crl", &[c.serial("short")]);
    let revocation = c.revocation_bundle("revocation-2.bundle", &crl, 2);
    // check gives notation's verdict on a signature without a timestamp: under `always` that
    // fails before revocation is looked at, so its timestamp line says a timestamp would not
    // help.
    for (site, dirs, code, says) in [
        (
            &always_site,
            &always,
            5,
            "a timestamp does not help this chain, as notation refuses a timestamped signature too",
        ),
        (&after_site, &after, 4, "revoked: "),
    ] {
        let (ok, text) = site.install(&revocation);
        assert!(ok, "{text}");
        let said = n.verify(dirs, &stamped.layout, &stamped.digest, SCOPE);
        assert_eq!(said.word, "revoked", "{}", said.text);
        let (got, text) = check(site, &c, valid);
        assert!(got == code && text.contains(says), "exit {got}: {text}");
        assert!(
            text.contains(&format!("serial {}", c.serial("short").to_lowercase())),
            "{text}"
        );
    }
}

#[test]
fn a_delegate_may_live_an_hour_or_half_an_hour() {
    let c = Ceremony::new("timestamps-short-lived");
    for (name, validity, secs) in [("hourly", "1h", 3600), ("half-hourly", "30min", 1800)] {
        c.delegate_with(
            name,
            &format!("/C=US/ST=WA/O=Publisher/CN={name}"),
            validity,
        );
        let cert =
            keyrite::pki::read_certificate(&c.hsm.dir().join("issued").join(format!("{name}.crt")))
                .unwrap();
        let v = cert.tbs_certificate().validity();
        let lived = v.not_after.to_unix_duration() - v.not_before.to_unix_duration();
        assert_eq!(
            lived,
            Duration::from_secs(secs),
            "{name}: --validity {validity}"
        );
    }
}
