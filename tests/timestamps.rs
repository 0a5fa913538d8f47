//! RFC 3161 timestamps with the real notation, against trust installed by keyrite-import from
//! real bundles: a delegate that lives a few seconds signs with and without a timestamp from a
//! local TSA, and notation verifies each signature while the delegate is valid and again after
//! it has expired, on a site whose statement trusts the TSA root (notation's default rule,
//! `verifyTimestamp: always`) and on one whose statement carries no TSA root.

mod common;

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Token;
use common::ceremony::{Ceremony, Site};
use common::notation::{self, Dirs, Net, Notation, build_machine};
use common::tsa::Tsa;

/// The repository the statements cover.
const SCOPE: &str = "registry.example/prod/app";
/// How long the short-lived delegate lives.
const LIFETIME_SECS: u64 = 12;

fn policy(dir: &Path, timestamps: bool) -> String {
    let path = dir.join(format!("policy-{timestamps}.toml"));
    fs::write(
        &path,
        format!(
            "[[statement]]\nname = \"prod\"\nregistry_scopes = [\"{SCOPE}\"]\nlevel = \"strict\"\n\
             trusted_identities = [\"x509.subject: C=US, ST=WA, O=Publisher\"]\n\
             timestamps = {timestamps}\n"
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
    let (ok, text, with_tsa) = c.trust_bundle(
        "trust-tsa.bundle",
        1,
        &["--tsa-root", &tsa_root, "--policy", &policy(&dir, true)],
    );
    assert!(ok, "{text}");
    let (ok, text, without_tsa) =
        c.trust_bundle("trust-plain.bundle", 1, &["--policy", &policy(&dir, false)]);
    assert!(ok, "{text}");
    let crl = c.crl("root.crl", &[]);
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let (_tsa_site, always) = site(&c, &with_tsa, &revocation);
    let (_plain_site, plain) = site(&c, &without_tsa, &revocation);

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

    let judge = |when: &str, expected: [(&str, &notation::Build, &Dirs, &str); 4]| {
        for (what, b, dirs, word) in expected {
            let said = n.verify(dirs, &b.layout, &b.digest, SCOPE);
            assert_eq!(said.word, word, "{when}, {what}: {}", said.text);
        }
    };
    assert!(
        issued.elapsed() < Duration::from_secs(LIFETIME_SECS - 2),
        "signing took too long to judge the delegate while valid"
    );
    judge(
        "delegate valid",
        [
            ("timestamped, TSA statement", &stamped, &always, "trusted"),
            (
                "plain, TSA statement",
                &unstamped,
                &always,
                "timestamp-required",
            ),
            ("timestamped, no TSA", &stamped, &plain, "trusted"),
            ("plain, no TSA", &unstamped, &plain, "trusted"),
        ],
    );
    sleep(Duration::from_secs(LIFETIME_SECS + 2).saturating_sub(issued.elapsed()));
    judge(
        "delegate expired",
        [
            ("timestamped, TSA statement", &stamped, &always, "trusted"),
            (
                "plain, TSA statement",
                &unstamped,
                &always,
                "timestamp-required",
            ),
            ("timestamped, no TSA", &stamped, &plain, "expired"),
            ("plain, no TSA", &unstamped, &plain, "expired"),
        ],
    );
}
