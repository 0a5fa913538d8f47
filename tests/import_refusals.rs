//! Refusals by keyrite-import: on a site that already has a trust bundle installed, every
//! damaged, forged, stale, conflicting or crafted bundle is refused with a specific message,
//! leaves the notation directories and the installed record byte for byte as they were, and
//! is logged. Also `keyrite bundle trust`'s refusals of bad arguments.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::PathBuf;

use common::ceremony::{CRL_URL, Ceremony, Site};
use common::memory_root::{MemoryRoot, shift};
use common::*;

use der::Encode;
use keyrite::bundle::Payload;

/// The user's own statement (scope `registry.example/prod/app`) as a keyrite policy file.
const POLICY_TOML: &str = r#"[[statement]]
name = "prod"
registry_scopes = ["registry.example/prod/app"]
level = "strict"
trusted_identities = ["x509.subject: C=US, ST=WA, O=Publisher, CN=a"]
"#;

/// A site with the ceremony's root pinned and its trust bundle v1 installed.
fn site_with_v1(c: &Ceremony) -> (Site, PathBuf) {
    let (ok, text, v1) = c.trust_bundle("trust-1.bundle", 1, &[]);
    assert!(ok, "{text}");
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    let (ok, text) = site.install(&v1);
    assert!(ok, "{text}");
    (site, v1)
}

fn store_dir(site: &Site, lineage: &str) -> PathBuf {
    site.config()
        .join("truststore/x509/ca")
        .join(format!("keyrite-{lineage}"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn damaged_truncated_oversized_and_replayed_files_are_refused_and_change_nothing() {
    let c = Ceremony::new("refuse-damage");
    let (site, v1) = site_with_v1(&c);
    let (ok, text, v2) = c.trust_bundle("trust-2.bundle", 2, &[]);
    assert!(ok, "{text}");
    let bytes = fs::read(&v2).unwrap();
    let n = bytes.len();
    let scratch = c.hsm.dir().join("damaged");
    fs::create_dir_all(&scratch).unwrap();

    // A replay of the installed version.
    site.assert_refused(&v1, "trust bundle version 1 is already installed");

    // One bit flipped: in the ContentInfo header, in the payload's first, middle and last
    // byte, in the signature at the end, and in the signer's certificate.
    let payload = keyrite::pki::cms::open(&bytes).unwrap().payload;
    let p = find(&bytes, &payload).expect("the payload is in the file");
    let signer = keyrite::bundle::Bundle::decode(&bytes).unwrap().signers[0]
        .to_der()
        .unwrap();
    let s = find(&bytes, &signer).expect("the signer's certificate is in the file");
    let damaged = "get a fresh copy from the ceremony media";
    let positions = [
        (0, damaged),
        (3, damaged),
        (6, damaged),
        (p, damaged),
        (p + payload.len() / 2, damaged),
        (p + payload.len() - 1, damaged),
        (n - 40, damaged),
        (n - 10, damaged),
        (n - 1, damaged),
        (s + signer.len() - 5, "not an intact self-signed root"),
    ];
    for (i, &(at, phrase)) in positions.iter().enumerate() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << (i % 8);
        let file = scratch.join(format!("flip-{at}.bundle"));
        fs::write(&file, &flipped).unwrap();
        site.assert_refused(&file, phrase);
    }

    // Truncated.
    for len in [0, 1, 4, 64, n / 2, n - 1] {
        let file = scratch.join(format!("truncated-{len}.bundle"));
        fs::write(&file, &bytes[..len]).unwrap();
        site.assert_refused(&file, "is not an intact keyrite bundle");
    }

    // More than 8 MiB: zeros, and a valid bundle padded.
    let zeros = scratch.join("zeros.bundle");
    fs::write(&zeros, vec![0u8; 9 << 20]).unwrap();
    site.assert_refused(&zeros, "more than the 8388608 a bundle may be");
    let mut padded_bytes = bytes.clone();
    padded_bytes.resize((8 << 20) + 1, 0);
    let padded = scratch.join("padded.bundle");
    fs::write(&padded, &padded_bytes).unwrap();
    site.assert_refused(&padded, "more than the 8388608 a bundle may be");

    // The intact v2 installs, so the refusals were the damage's doing; then it is a replay.
    let (ok, text) = site.install(&v2);
    assert!(ok, "{text}");
    site.assert_refused(&v2, "trust bundle version 2 is already installed");
}

#[test]
fn foreign_signatures_unpinned_lineages_rollbacks_and_version_clashes_are_refused() {
    let c = Ceremony::new("refuse-order");
    let lineage = c.root_fingerprint();
    let (site, v1) = site_with_v1(&c);

    // Another root signs a bundle that claims this lineage.
    let other = Ceremony::new("refuse-other");
    let (ok, text, forged) = other.trust_bundle("forged-2.bundle", 2, &["--lineage", &lineage]);
    assert!(ok, "{text}");
    let text = site.assert_refused(&forged, "none of which is a root installed");
    assert!(text.contains(&other.root_fingerprint()), "{text}");

    // A site that pinned nothing refuses a valid bundle and creates nothing.
    let fresh = Site::new();
    let text = fresh.assert_refused(&v1, "not pinned");
    assert!(text.contains(&lineage), "{text}");
    assert!(fresh.snapshot().is_empty(), "{:?}", fresh.snapshot().keys());
    assert!(!fresh.config().exists() && !fresh.cache().exists());

    // Rollback: v3 installed, then v2.
    let (ok, text, v2) = c.trust_bundle("trust-2.bundle", 2, &[]);
    assert!(ok, "{text}");
    let (ok, text, v3) = c.trust_bundle("trust-3.bundle", 3, &[]);
    assert!(ok, "{text}");
    let (ok, text) = site.install(&v3);
    assert!(ok, "{text}");
    site.assert_refused(
        &v2,
        "trust bundle version 2 is older than version 3 installed: rollback refused",
    );
    site.assert_refused(&v1, "rollback refused");

    // Two different bundles with one version.
    let policy = c.hsm.dir().join("policy.toml");
    fs::write(&policy, POLICY_TOML).unwrap();
    let (ok, text, v4) = c.trust_bundle("trust-4.bundle", 4, &[]);
    assert!(ok, "{text}");
    let (ok, text, v4_other) = c.trust_bundle(
        "trust-4-other.bundle",
        4,
        &["--policy", policy.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    let (ok, text) = site.install(&v4);
    assert!(ok, "{text}");
    site.assert_refused(
        &v4_other,
        "a different trust bundle with version 4 is already installed",
    );
}

#[test]
fn a_tampered_trust_store_or_a_clashing_trust_policy_refuses_the_install() {
    let c = Ceremony::new("refuse-tree");
    let lineage = c.root_fingerprint();
    let (site, _) = site_with_v1(&c);
    let (ok, text, v2) = c.trust_bundle("trust-2.bundle", 2, &[]);
    assert!(ok, "{text}");
    let policy = c.hsm.dir().join("policy.toml");
    fs::write(&policy, POLICY_TOML).unwrap();
    let (ok, text, v2_policy) = c.trust_bundle(
        "trust-2-policy.bundle",
        2,
        &["--policy", policy.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    let store = store_dir(&site, &lineage);
    let installed: Vec<PathBuf> = fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(installed.len(), 1);
    let outside = site.config().parent().unwrap().join("elsewhere");

    // The store, and a directory above it, replaced by a symbolic link to a copy.
    for linked in [store.clone(), site.config().join("truststore/x509")] {
        fs::rename(&linked, &outside).unwrap();
        symlink(&outside, &linked).unwrap();
        for b in [&v2, &v2_policy] {
            let text = site.assert_refused(b, "is a symbolic link");
            assert!(text.contains(&linked.display().to_string()), "{text}");
        }
        fs::remove_file(&linked).unwrap();
        fs::rename(&outside, &linked).unwrap();
    }

    // A symbolic link planted in the store.
    let planted = store.join("planted.crt");
    symlink(&installed[0], &planted).unwrap();
    site.assert_refused(&v2, "is not a plain file keyrite-import installed");
    fs::remove_file(&planted).unwrap();

    // A stray file in the store.
    let readme = store.join("README");
    fs::write(&readme, "put here by hand\n").unwrap();
    let text = site.assert_refused(&v2, "was not installed by keyrite-import");
    assert!(text.contains("README"), "{text}");
    fs::remove_file(&readme).unwrap();

    // An installed root edited by hand (mode kept).
    let original = fs::read(&installed[0]).unwrap();
    let mode = fs::metadata(&installed[0]).unwrap().permissions();
    fs::set_permissions(&installed[0], fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&installed[0], b"edited\n").unwrap();
    fs::set_permissions(&installed[0], mode.clone()).unwrap();
    site.assert_refused(&v2, "was changed since it was installed");
    fs::set_permissions(&installed[0], fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&installed[0], &original).unwrap();
    fs::set_permissions(&installed[0], mode).unwrap();

    // The user's own trust policy covers the bundle's scope.
    let user_policy = site.config().join("trustpolicy.json");
    fs::write(
        &user_policy,
        r#"{"version":"1.0","trustPolicies":[{"name":"mine","registryScopes":["registry.example/prod/app"],"signatureVerification":{"level":"skip"}}]}"#,
    )
    .unwrap();
    let text = site.assert_refused(&v2_policy, "registry.example/prod/app");
    assert!(
        text.contains("already covers") && text.contains("'mine'"),
        "{text}"
    );
    // The user's trust policy does not parse.
    fs::write(
        &user_policy,
        "{\"version\": \"1.0\", \"trustPolicies\": [\n",
    )
    .unwrap();
    site.assert_refused(&v2_policy, "does not parse as JSON");
    fs::remove_file(&user_policy).unwrap();

    // With the tree as keyrite-import left it, the same bundle installs.
    let (ok, text) = site.install(&v2_policy);
    assert!(ok, "{text}");
    let written = fs::read_to_string(&user_policy).unwrap();
    assert!(written.contains("registry.example/prod/app"), "{written}");
}

#[test]
fn crafted_payloads_signed_by_the_pinned_root_are_refused() {
    let root = MemoryRoot::new();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new();
    site.pin(&root.lineage());
    let json = |p: &Payload| serde_json::to_value(p).unwrap();
    let v1 = root.seal(&json(&root.payload(1)), dir.path(), "v1.bundle");
    let (ok, text) = site.install(&v1);
    assert!(ok, "the crafting itself is sound: {text}");

    let now = keyrite::import::now().unwrap();
    let mut cases: Vec<(&str, serde_json::Value, String)> = Vec::new();

    let mut expired = root.payload(2);
    expired.issued_at = shift(now, -2 * 86_400).to_string();
    expired.expires_at = shift(now, -86_400).to_string();
    cases.push((
        "expired",
        json(&expired),
        format!(
            "the trust bundle version 2 expired on {}",
            expired.expires_at
        ),
    ));

    let mut future = root.payload(2);
    future.issued_at = shift(now, 86_400).to_string();
    future.expires_at = shift(now, 2 * 86_400).to_string();
    cases.push((
        "future",
        json(&future),
        format!(
            "the bundle says it was made on {}, in the future of this host's clock",
            future.issued_at
        ),
    ));

    let mut format4 = json(&root.payload(2));
    format4["format"] = 4.into();
    cases.push((
        "format-4",
        format4,
        "format 4 does not match its content, which is written in format 2".into(),
    ));
    let mut format5 = json(&root.payload(2));
    format5["format"] = 5.into();
    cases.push((
        "format-5",
        format5,
        "the bundle's format is 5, but this keyrite-import reads formats 2 to 4".into(),
    ));
    let mut format1 = json(&root.payload(2));
    format1["format"] = 1.into();
    cases.push((
        "format-1",
        format1,
        "the bundle's format is 1, made by an older keyrite".into(),
    ));

    let mut mismatch = root.payload(2);
    mismatch.entries[0].sha256 = "00".repeat(32);
    cases.push((
        "sha256",
        json(&mismatch),
        "its SHA-256 does not match its content".into(),
    ));

    for (i, evil) in ["../evil.crt", "/etc/evil.crt", "ca/../../x.crt"]
        .into_iter()
        .enumerate()
    {
        let mut p = root.payload(2);
        p.entries[0].name = evil.into();
        cases.push((
            ["name-dotdot", "name-absolute", "name-climb"][i],
            json(&p),
            format!("entry name '{evil}' is not ca/<name>"),
        ));
    }

    // Statements notation would reject whole, or that could never match, are refused even
    // when the lineage's own root signed them.
    let statement = |scope: &str, ids: &[&str]| keyrite::bundle::Statement {
        name: "prod".into(),
        registry_scopes: vec![scope.into()],
        level: "strict".into(),
        trusted_identities: ids.iter().map(|i| (*i).to_owned()).collect(),
        revocation: None,
        timestamps: false,
        verify_timestamp: None,
    };
    for (name, st, phrase) in [
        (
            "policy-cn",
            statement(
                "registry.example/prod/app",
                &["x509.subject: C=US, ST=WA, O=P, cn=a"],
            ),
            "names cn, which no certificate subject carries",
        ),
        (
            "policy-overlap",
            statement(
                "registry.example/prod/app",
                &[
                    "x509.subject: C=US, ST=WA, O=P",
                    "x509.subject: C=US, ST=WA, O=P, CN=a",
                ],
            ),
            "overlap",
        ),
        (
            "policy-wildcard-scope",
            statement("registry.example/team/*", &["*"]),
            "has a wildcard",
        ),
    ] {
        let mut p = root.payload(2);
        p.policy = vec![st];
        cases.push((name, json(&p), phrase.into()));
    }

    // A revocation bundle that stays in force a day after its CRL's nextUpdate.
    let next_update = shift(now, 10 * 86_400);
    cases.push((
        "outlives-crl",
        json(&root.revocation(1, next_update, shift(next_update, 86_400))),
        format!(
            "the bundle outlives CRL crl/{}.crl's nextUpdate ({next_update})",
            &root.lineage()[..16]
        ),
    ));

    for (name, payload, phrase) in &cases {
        let file = root.seal(payload, dir.path(), &format!("{name}.bundle"));
        site.assert_refused(&file, phrase);
    }

    // A crafted v2 and a revocation bundle that expires with its CRL, without a flaw, install:
    // the refusals were the flaws' doing.
    let v2 = root.seal(&json(&root.payload(2)), dir.path(), "v2.bundle");
    let (ok, text) = site.install(&v2);
    assert!(ok, "{text}");
    let revocation = root.seal(
        &json(&root.revocation(1, next_update, next_update)),
        dir.path(),
        "revocation-1.bundle",
    );
    let (ok, text) = site.install(&revocation);
    assert!(ok, "{text}");
}

#[test]
fn keyrite_bundle_trust_refuses_bad_arguments_and_writes_nothing() {
    let c = Ceremony::new("refuse-make");
    fs::create_dir_all(c.bundle_path("x").parent().unwrap()).unwrap();

    // An existing --out file is never overwritten.
    let existing = c.bundle_path("trust-1.bundle");
    fs::write(&existing, b"keep me\n").unwrap();
    let (ok, text, out) = c.trust_bundle("trust-1.bundle", 1, &[]);
    assert!(!ok && text.contains("already exists"), "{text}");
    assert_eq!(fs::read(&out).unwrap(), b"keep me\n");

    // A policy statement with a level notation does not know.
    let policy = c.hsm.dir().join("bad-level.toml");
    fs::write(&policy, POLICY_TOML.replace("\"strict\"", "\"paranoid\"")).unwrap();
    let (ok, text, out) = c.trust_bundle(
        "trust-bad-level.bundle",
        1,
        &["--policy", policy.to_str().unwrap()],
    );
    assert!(
        !ok && text.contains("level 'paranoid' is not strict, permissive or audit"),
        "{text}"
    );
    assert!(!out.exists());

    // Retiring the signing root with no successor leaves no root.
    let (ok, text, out) = c.trust_bundle("trust-retire.bundle", 1, &["--retire-signing-root"]);
    assert!(
        !ok && text.contains("--retire-signing-root leaves the bundle with no root"),
        "{text}"
    );
    assert!(!out.exists());
}

#[test]
fn keyrite_bundle_revocation_refuses_bad_crls_and_urls_and_writes_nothing() {
    const SUCCESSOR_URL: &str = "http://crl.example.com/successor.crl";
    let c = Ceremony::new("refuse-make-revocation");
    let (successor, successor_uri) = c.successor();
    let successor_root = c.successor_issuer(&successor, &successor_uri);
    // The successor's ledger starts with its first delegate.
    c.delegate_under(&successor_root, "n", SUCCESSOR_URL);
    let first = c.crl("root-1.crl", &[]);
    let second = c.crl("root-2.crl", &[]);
    let theirs = c.crl_by(&successor_root, "successor.crl", &[], "30d");
    let (first, second, theirs, successor) = (
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        theirs.to_str().unwrap(),
        successor.to_str().unwrap(),
    );
    // A CRL without URLs is named.
    let first_lacks_urls = format!("give --crl-url after --crl {first} for every");
    let theirs_lack_urls = format!("give --crl-url after --crl {theirs} for every");
    let cases: [(&str, Vec<&str>, &str); 6] = [
        (
            "same-root",
            vec![
                "--crl",
                first,
                "--crl-url",
                CRL_URL,
                "--crl",
                second,
                "--crl-url",
                SUCCESSOR_URL,
            ],
            "is a second CRL of the same root",
        ),
        (
            "one-url-two-crls",
            vec![
                "--crl",
                first,
                "--crl-url",
                CRL_URL,
                "--crl",
                theirs,
                "--crl-url",
                CRL_URL,
                "--crl-issuer",
                successor,
            ],
            "http://crl.example.com/root.crl is given for two CRLs",
        ),
        (
            "foreign-issuer",
            vec!["--crl", theirs, "--crl-url", SUCCESSOR_URL],
            "was not issued by the signing root: give the issuing root of the lineage with --crl-issuer",
        ),
        (
            "url-first",
            vec![
                "--crl-url",
                CRL_URL,
                "--crl",
                first,
                "--crl",
                theirs,
                "--crl-url",
                SUCCESSOR_URL,
                "--crl-issuer",
                successor,
            ],
            "--crl-url http://crl.example.com/root.crl comes before any --crl",
        ),
        (
            "no-url",
            vec![
                "--crl",
                first,
                "--crl-url",
                CRL_URL,
                "--crl",
                theirs,
                "--crl-issuer",
                successor,
            ],
            &theirs_lack_urls,
        ),
        ("single-no-url", vec!["--crl", first], &first_lacks_urls),
    ];
    for (name, args, phrase) in cases {
        let (ok, text, out) =
            c.revocation_bundle_by(&c.root_issuer(), &format!("{name}.bundle"), 1, &args);
        assert!(!ok, "{name}: made a bundle:\n{text}");
        assert!(
            text.contains(phrase),
            "{name}: expected '{phrase}' in:\n{text}"
        );
        assert!(!out.exists(), "{name}: {} was written", out.display());
    }
    // With every CRL's issuer named and every URL after its CRL, the same CRLs make a bundle.
    let (ok, text, out) = c.revocation_bundle_by(
        &c.root_issuer(),
        "sound.bundle",
        1,
        &[
            "--crl",
            first,
            "--crl-url",
            CRL_URL,
            "--crl",
            theirs,
            "--crl-url",
            SUCCESSOR_URL,
            "--crl-issuer",
            successor,
        ],
    );
    assert!(ok && out.exists(), "{text}");
}

#[test]
fn revocation_bundles_before_trust_or_rolled_back_are_refused() {
    let c = Ceremony::new("refuse-revocation");
    let lineage = c.root_fingerprint();
    let r1 = c.revocation_bundle("revocation-1.bundle", &c.crl("root-1.crl", &[]), 1);
    let r2 = c.revocation_bundle(
        "revocation-2.bundle",
        &c.crl("root-2.crl", &[c.serial("b")]),
        2,
    );

    // Revocation before trust: the pinned lineage has no root installed to check the CRL with.
    let site = Site::new();
    site.pin(&lineage);
    site.assert_refused(
        &r1,
        &format!(
            "no trust bundle of lineage {lineage} is installed: install its trust bundle first"
        ),
    );

    // Rollback: revocation v2 installed, then v1.
    let (ok, text, v1) = c.trust_bundle("trust-1.bundle", 1, &[]);
    assert!(ok, "{text}");
    for b in [&v1, &r2] {
        let (ok, text) = site.install(b);
        assert!(ok, "{text}");
    }
    site.assert_refused(
        &r1,
        "revocation bundle version 1 is older than version 2 installed: rollback refused",
    );
    site.assert_refused(&r2, "revocation bundle version 2 is already installed");
    let (code, text) = site.check(&c.chain("b"), &[]);
    assert_eq!(code, 4, "v2's CRL stays in force: {text}");
}

#[test]
fn a_pinned_root_cannot_speak_for_a_lineage_the_site_did_not_pin() {
    let c = Ceremony::new("refuse-squat");
    let other = Ceremony::new("refuse-squat-other");
    // `other`'s root, pinned here, signs a bundle claiming `c`'s lineage, which is not.
    let (ok, text, squat) =
        other.trust_bundle("squat.bundle", 1, &["--lineage", &c.root_fingerprint()]);
    assert!(ok, "{text}");
    let site = Site::new();
    site.pin(&other.root_fingerprint());
    site.assert_refused(&squat, "is not pinned on this host");
    // With the lineage pinned but not the root that signed, it is refused too.
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    site.assert_refused(&squat, "is pinned to open with root");
    // A host joining after a rotation pins the lineage and the current root.
    let (successor, successor_uri) = c.successor();
    let successor_only = c.bundle_path("successor-3.bundle");
    run_ok(
        c.hsm
            .command()
            .args(["bundle", "trust", "--token", &successor_uri, "--root-cert"])
            .arg(&successor)
            .args(["--lineage", &c.root_fingerprint(), "--version", "3"])
            .args(["--expires", "1y", "--out"])
            .arg(&successor_only),
    );
    let late = Site::new();
    late.pin(&c.root_fingerprint());
    late.assert_refused(
        &successor_only,
        "pin the root read at the lineage's latest ceremony",
    );
    late.pin_with(
        &common::ceremony::fingerprint(&successor),
        &["--lineage", &c.root_fingerprint(), "--scope", "*"],
    );
    let (ok, text) = late.install(&successor_only);
    assert!(ok, "{text}");
}

#[test]
fn links_foreign_directories_and_hand_edits_in_the_targets_are_refused() {
    let c = Ceremony::new("refuse-targets");
    let (site, _) = site_with_v1(&c);
    let (ok, text, v2) = c.trust_bundle("trust-2.bundle", 2, &[]);
    assert!(ok, "{text}");

    // A staging directory that is a link (to a directory with something worth keeping) makes
    // every command refuse before recovery could delete through it.
    let victim = c.hsm.dir().join("victim");
    fs::create_dir_all(victim.join("keep")).unwrap();
    fs::write(victim.join("keep/file"), b"precious").unwrap();
    let staging = site.config().join(".keyrite-import-staging");
    symlink(&victim, &staging).unwrap();
    let before = site.snapshot();
    for args in [
        vec!["status"],
        vec!["recover"],
        vec!["install", v2.to_str().unwrap()],
    ] {
        let (ok, text) = run(site.import().args(&args));
        assert!(
            !ok && text.contains("it is not a directory"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(site.snapshot(), before);
    assert_eq!(fs::read(victim.join("keep/file")).unwrap(), b"precious");
    fs::remove_file(&staging).unwrap();

    // A notation config directory writable by others.
    fs::set_permissions(site.config(), fs::Permissions::from_mode(0o777)).unwrap();
    let (ok, text) = site.install(&v2);
    assert!(
        !ok && text.contains("it is writable by") && text.contains("chmod"),
        "{text}"
    );
    fs::set_permissions(site.config(), fs::Permissions::from_mode(0o755)).unwrap();

    // A directory where a CRL cache entry goes: refused before the commit point.
    let crl = c.crl("root.crl", &[]);
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let entry = site.crl_cache_entry();
    fs::create_dir_all(&entry).unwrap();
    site.assert_refused(&revocation, "is not a plain file");
    fs::remove_dir(&entry).unwrap();
    let (ok, text) = site.install(&revocation);
    assert!(ok, "{text}");

    // A statement keyrite-import installed, edited by hand, is not silently replaced.
    let policy = c.hsm.dir().join("policy.toml");
    fs::write(&policy, POLICY_TOML).unwrap();
    let (ok, text, with_policy) = c.trust_bundle(
        "trust-2-policy.bundle",
        2,
        &["--policy", policy.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    let (ok, text) = site.install(&with_policy);
    assert!(ok, "{text}");
    let file = site.config().join("trustpolicy.json");
    let edited = fs::read_to_string(&file)
        .unwrap()
        .replace("\"strict\"", "\"permissive\"");
    fs::write(&file, edited).unwrap();
    let (ok, text, v3) = c.trust_bundle(
        "trust-3-policy.bundle",
        3,
        &["--policy", policy.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    site.assert_refused(&v3, "edited by hand");
}

#[test]
fn check_refuses_a_ca_as_the_signing_certificate() {
    let c = Ceremony::new("refuse-check");
    let (site, _) = site_with_v1(&c);
    let (code, text) = site.check(&c.root, &[]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("is a CA") || text.contains("keyUsage"),
        "{text}"
    );
}
