//! Refusals by keyrite-import: on a site that already has a trust bundle installed, every
//! damaged, forged, stale, conflicting or crafted bundle is refused with a specific message,
//! leaves the notation directories and the installed record byte for byte as they were, and
//! is logged. Also `keyrite bundle trust`'s refusals of bad arguments.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::ceremony::{CRL_URL, Ceremony, Site};
use common::*;

use der::{DateTime, Encode};
use keyrite::bundle::{Entry, FORMAT, Kind, Payload, Role};
use keyrite::fingerprint::Fingerprint;
use keyrite::keys::memory::MemoryKey;
use keyrite::keys::{KeyAlgorithm, KeySigner};
use x509_cert::Certificate;

/// The user's own statement (scope `registry.example/prod/app`) as a keyrite policy file.
const POLICY_TOML: &str = r#"[[statement]]
name = "prod"
registry_scopes = ["registry.example/prod/app"]
level = "strict"
trusted_identities = ["x509.subject: C=US, ST=WA, O=Publisher, CN=a"]
"#;

type Snapshot = BTreeMap<PathBuf, (u32, Vec<u8>)>;

/// What differs between two snapshots, for a readable failure.
fn diff(before: &Snapshot, after: &Snapshot) -> String {
    let mut out = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => out.push(format!("removed: {}", path.display())),
            Some(e) if e.0 != entry.0 => out.push(format!(
                "mode changed: {} {:o} -> {:o}",
                path.display(),
                entry.0,
                e.0
            )),
            Some(e) if e.1 != entry.1 => out.push(format!("content changed: {}", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("added: {}", path.display()));
    }
    out.join("\n")
}

fn refusals(site: &Site) -> usize {
    site.log()
        .iter()
        .filter(|l| l.contains("\"event\":\"refuse\""))
        .count()
}

/// Installs `file`, which must be refused with `phrase` in the output, the snapshot
/// unchanged and one more refusal logged (its reason carrying the phrase too). Returns the
/// output.
fn assert_refused(site: &Site, file: &Path, phrase: &str) -> String {
    let before = site.snapshot();
    let logged = refusals(site);
    let (ok, text) = site.install(file);
    assert!(!ok, "{} was installed:\n{text}", file.display());
    assert!(
        text.contains(phrase),
        "{}: expected '{phrase}' in:\n{text}",
        file.display()
    );
    let after = site.snapshot();
    assert!(
        before == after,
        "refusing {} changed the tree:\n{}",
        file.display(),
        diff(&before, &after)
    );
    assert_eq!(refusals(site), logged + 1, "{:?}", site.log());
    let last: serde_json::Value =
        serde_json::from_str(site.log().last().expect("a log line")).expect("a JSON log line");
    assert_eq!(last["event"], "refuse", "{last}");
    assert!(
        last["reason"].as_str().is_some_and(|r| r.contains(phrase)),
        "{last}"
    );
    text
}

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
    assert_refused(&site, &v1, "trust bundle version 1 is already installed");

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
        assert_refused(&site, &file, phrase);
    }

    // Truncated.
    for len in [0, 1, 4, 64, n / 2, n - 1] {
        let file = scratch.join(format!("truncated-{len}.bundle"));
        fs::write(&file, &bytes[..len]).unwrap();
        assert_refused(&site, &file, "is not an intact keyrite bundle");
    }

    // More than 8 MiB: zeros, and a valid bundle padded.
    let zeros = scratch.join("zeros.bundle");
    fs::write(&zeros, vec![0u8; 9 << 20]).unwrap();
    assert_refused(&site, &zeros, "more than the 8388608 a bundle may be");
    let mut padded_bytes = bytes.clone();
    padded_bytes.resize((8 << 20) + 1, 0);
    let padded = scratch.join("padded.bundle");
    fs::write(&padded, &padded_bytes).unwrap();
    assert_refused(&site, &padded, "more than the 8388608 a bundle may be");

    // The intact v2 installs, so the refusals were the damage's doing; then it is a replay.
    let (ok, text) = site.install(&v2);
    assert!(ok, "{text}");
    assert_refused(&site, &v2, "trust bundle version 2 is already installed");
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
    let text = assert_refused(&site, &forged, "none of which is a root installed");
    assert!(text.contains(&other.root_fingerprint()), "{text}");

    // A site that pinned nothing refuses a valid bundle and creates nothing.
    let fresh = Site::new();
    let text = assert_refused(&fresh, &v1, "not pinned");
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
    assert_refused(
        &site,
        &v2,
        "trust bundle version 2 is older than version 3 installed: rollback refused",
    );
    assert_refused(&site, &v1, "rollback refused");

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
    assert_refused(
        &site,
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
            let text = assert_refused(&site, b, "is a symbolic link");
            assert!(text.contains(&linked.display().to_string()), "{text}");
        }
        fs::remove_file(&linked).unwrap();
        fs::rename(&outside, &linked).unwrap();
    }

    // A symbolic link planted in the store.
    let planted = store.join("planted.crt");
    symlink(&installed[0], &planted).unwrap();
    assert_refused(&site, &v2, "is not a plain file keyrite-import installed");
    fs::remove_file(&planted).unwrap();

    // A stray file in the store.
    let readme = store.join("README");
    fs::write(&readme, "put here by hand\n").unwrap();
    let text = assert_refused(&site, &v2, "was not installed by keyrite-import");
    assert!(text.contains("README"), "{text}");
    fs::remove_file(&readme).unwrap();

    // An installed root edited by hand (mode kept).
    let original = fs::read(&installed[0]).unwrap();
    let mode = fs::metadata(&installed[0]).unwrap().permissions();
    fs::set_permissions(&installed[0], fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&installed[0], b"edited\n").unwrap();
    fs::set_permissions(&installed[0], mode.clone()).unwrap();
    assert_refused(&site, &v2, "was changed since it was installed");
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
    let text = assert_refused(&site, &v2_policy, "registry.example/prod/app");
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
    assert_refused(&site, &v2_policy, "does not parse as JSON");
    fs::remove_file(&user_policy).unwrap();

    // With the tree as keyrite-import left it, the same bundle installs.
    let (ok, text) = site.install(&v2_policy);
    assert!(ok, "{text}");
    let written = fs::read_to_string(&user_policy).unwrap();
    assert!(written.contains("registry.example/prod/app"), "{written}");
}

/// A root made in memory: its key, certificate and DER.
struct MemoryRoot {
    key: MemoryKey,
    cert: Certificate,
    der: Vec<u8>,
}

impl MemoryRoot {
    fn new() -> MemoryRoot {
        use keyrite::pki::check::CertProfile;
        use keyrite::pki::issue::issue;
        use keyrite::pki::profile::RootProfile;
        use keyrite::pki::validity::Period;
        use x509_cert::serial_number::SerialNumber;

        let key = MemoryKey::generate(KeyAlgorithm::P256).unwrap();
        let subject =
            keyrite::pki::name::parse_subject("C=US,ST=WA,O=Example,CN=Memory Root").unwrap();
        let validity = Period::Years(1).validity_from_now().unwrap();
        let der = issue(
            RootProfile { subject },
            CertProfile::Root,
            SerialNumber::new(&[0x4b, 0x52, 0x01]).unwrap(),
            validity,
            key.public_key().to_spki().unwrap(),
            &key,
        )
        .unwrap();
        let cert = <Certificate as der::Decode>::from_der(&der).unwrap();
        MemoryRoot { key, cert, der }
    }

    fn lineage(&self) -> String {
        Fingerprint::of(&self.der).hex()
    }

    /// A valid trust payload of `version` carrying this root.
    fn payload(&self, version: u64) -> Payload {
        let now = keyrite::import::now().unwrap();
        let fp = self.lineage();
        Payload {
            format: FORMAT,
            kind: Kind::Trust,
            lineage: fp.clone(),
            version,
            issued_at: now.to_string(),
            expires_at: shift(now, 30 * 86_400).to_string(),
            entries: vec![Entry {
                name: format!("ca/root-{}.crt", &fp[..16]),
                role: Role::Root,
                sha256: fp,
                der: data_encoding::BASE64.encode(&self.der),
                urls: Vec::new(),
            }],
            policy: Vec::new(),
            crl_urls: vec![CRL_URL.into()],
        }
    }

    /// A revocation payload of `version` carrying an empty v2 CRL of this root (for
    /// `CRL_URL`) whose nextUpdate is `next_update`; the bundle expires at `expires_at`.
    fn revocation(&self, version: u64, next_update: DateTime, expires_at: DateTime) -> Payload {
        use x509_cert::certificate::Version;
        use x509_cert::crl::{CertificateList, TbsCertList};
        use x509_cert::time::Time;

        let now = keyrite::import::now().unwrap();
        let tbs: TbsCertList = TbsCertList {
            version: Version::V2,
            signature: self.key.scheme().algorithm_identifier(),
            issuer: self.cert.tbs_certificate().subject().clone(),
            this_update: Time::from(now),
            next_update: Some(Time::from(next_update)),
            revoked_certificates: None,
            crl_extensions: None,
        };
        let signature = self.key.sign(&tbs.to_der().unwrap()).unwrap();
        let der = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: self.key.scheme().algorithm_identifier(),
            signature: der::asn1::BitString::from_bytes(&signature).unwrap(),
        }
        .to_der()
        .unwrap();
        Payload {
            format: FORMAT,
            kind: Kind::Revocation,
            lineage: self.lineage(),
            version,
            issued_at: now.to_string(),
            expires_at: expires_at.to_string(),
            entries: vec![Entry {
                name: format!("crl/{}.crl", &self.lineage()[..16]),
                role: Role::Crl,
                sha256: hex::encode(keyrite::keys::sha256(&der)),
                der: data_encoding::BASE64.encode(&der),
                urls: vec![CRL_URL.into()],
            }],
            policy: Vec::new(),
            crl_urls: Vec::new(),
        }
    }

    /// Signs `payload` (any JSON) into `dir/name`.
    fn seal(&self, payload: &serde_json::Value, dir: &Path, name: &str) -> PathBuf {
        let json = serde_json::to_vec_pretty(payload).unwrap();
        let signers: [(&dyn KeySigner, &Certificate); 1] = [(&self.key, &self.cert)];
        let der =
            keyrite::pki::cms::sign(&json, &signers, keyrite::import::now().unwrap()).unwrap();
        let path = dir.join(name);
        fs::write(&path, der).unwrap();
        path
    }
}

/// `t` moved by `secs` seconds.
fn shift(t: DateTime, secs: i64) -> DateTime {
    let base = t.unix_duration();
    let moved = if secs >= 0 {
        base + Duration::from_secs(secs.unsigned_abs())
    } else {
        base - Duration::from_secs(secs.unsigned_abs())
    };
    DateTime::from_unix_duration(moved).unwrap()
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

    let mut format3 = json(&root.payload(2));
    format3["format"] = 3.into();
    cases.push((
        "format-3",
        format3,
        "the bundle's format is 3, but this keyrite-import reads format 2".into(),
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
        assert_refused(&site, &file, phrase);
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
    assert_refused(
        &site,
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
    assert_refused(
        &site,
        &r1,
        "revocation bundle version 1 is older than version 2 installed: rollback refused",
    );
    assert_refused(
        &site,
        &r2,
        "revocation bundle version 2 is already installed",
    );
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
    assert_refused(&site, &squat, "is not pinned on this host");
    // With the lineage pinned but not the root that signed, it is refused too.
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    assert_refused(&site, &squat, "is pinned to open with root");
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
    assert_refused(
        &late,
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
        assert!(!ok && text.contains("not a link"), "{args:?}: {text}");
    }
    assert_eq!(site.snapshot(), before);
    assert_eq!(fs::read(victim.join("keep/file")).unwrap(), b"precious");
    fs::remove_file(&staging).unwrap();

    // A notation config directory writable by others.
    fs::set_permissions(site.config(), fs::Permissions::from_mode(0o777)).unwrap();
    let (ok, text) = site.install(&v2);
    assert!(!ok && text.contains("not writable by"), "{text}");
    fs::set_permissions(site.config(), fs::Permissions::from_mode(0o755)).unwrap();

    // A directory where a CRL cache entry goes: refused before the commit point.
    let crl = c.crl("root.crl", &[]);
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let entry = site.crl_cache_entry();
    fs::create_dir_all(&entry).unwrap();
    assert_refused(&site, &revocation, "is not a plain file");
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
    assert_refused(&site, &v3, "edited by hand");
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
