//! The trust model, attacked: each test reproduces one attack on keyrite-import as an
//! attacker would mount it (bundles signed by real keys, files planted in the host's own
//! directories) and asserts the refusal, its message, and that every file under the notation
//! config, cache and state directories is byte for byte as it was. docs/trust-model.md
//! explains each rule these tests try to break.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::ceremony::{CRL_URL, Ceremony, Site, snapshot_diff};
use common::memory_root::{MemoryRoot, seal_by, shift, statement, trust_payload};
use common::*;
use keyrite::bundle::Payload;

const A_URL: &str = "http://crl.a.example/a.crl";
const B_URL: &str = "http://crl.b.example/b.crl";

fn json(p: &Payload) -> serde_json::Value {
    serde_json::to_value(p).unwrap()
}

/// A site with two lineages pinned, A granted `registry.example/a/` and B
/// `registry.example/b/`, and each one's trust bundle v1 installed (A declaring [`A_URL`],
/// B [`B_URL`]).
struct TwoLineages {
    a: MemoryRoot,
    b: MemoryRoot,
    site: Site,
    dir: tempfile::TempDir,
}

impl TwoLineages {
    fn new() -> TwoLineages {
        let (a, b) = (MemoryRoot::named("Root A"), MemoryRoot::named("Root B"));
        let dir = tempfile::tempdir().unwrap();
        let site = Site::new();
        site.pin_with(&a.lineage(), &["--scope", "registry.example/a/"]);
        site.pin_with(&b.lineage(), &["--scope", "registry.example/b/"]);
        for (root, url) in [(&a, A_URL), (&b, B_URL)] {
            let mut p = root.payload(1);
            p.crl_urls = vec![url.into()];
            let file = root.seal(
                &json(&p),
                dir.path(),
                &format!("{}.bundle", &root.lineage()[..8]),
            );
            let (ok, text) = site.install(&file);
            assert!(ok, "{text}");
        }
        TwoLineages { a, b, site, dir }
    }

    fn seal(&self, by: &MemoryRoot, p: &Payload, name: &str) -> PathBuf {
        by.seal(&json(p), self.dir.path(), name)
    }
}

#[test]
fn attack_1_a_retired_root_cannot_take_its_lineage_back() {
    let (a1, a2) = (MemoryRoot::named("Root A1"), MemoryRoot::named("Root A2"));
    let lineage = a1.lineage();
    let dir = tempfile::tempdir().unwrap();
    let seal = |signers: &[&MemoryRoot], p: &Payload, name: &str| {
        seal_by(signers, &json(p), dir.path(), name)
    };
    // The lineage rotates A1 → A2: v2 carries both (both sign), v3 carries A2 alone.
    let v1 = seal(&[&a1], &trust_payload(&lineage, 1, &[&a1]), "v1.bundle");
    let v2 = seal(
        &[&a1, &a2],
        &trust_payload(&lineage, 2, &[&a1, &a2]),
        "v2.bundle",
    );
    let v3 = seal(&[&a2], &trust_payload(&lineage, 3, &[&a2]), "v3.bundle");
    let early = Site::new();
    early.pin(&lineage);
    for b in [&v1, &v2, &v3] {
        let (ok, text) = early.install(b);
        assert!(ok, "{text}");
    }

    // Whoever holds the retired A1 key signs a bundle for the lineage at the top of the range.
    let top = seal(
        &[&a1],
        &trust_payload(&lineage, u64::MAX, &[&a1]),
        "top.bundle",
    );
    early.assert_refused(&top, "is above 1000000000, the highest a bundle may carry");
    // Below the ceiling, the retired root is refused for what it is.
    let high = seal(
        &[&a1],
        &trust_payload(&lineage, 1_000_000_000, &[&a1]),
        "high.bundle",
    );
    early.assert_refused(&high, "was dropped from lineage");
    // Even beside the current root, as a co-signer carried again.
    let both = seal(
        &[&a1, &a2],
        &trust_payload(&lineage, 4, &[&a1, &a2]),
        "both.bundle",
    );
    early.assert_refused(&both, "a retired root never speaks for the lineage again");

    // A host joining later pins the lineage as the README says: the root read at the
    // latest ceremony, A2, for lineage A.
    let late = Site::new();
    late.pin_with(&a2.lineage(), &["--lineage", &lineage, "--scope", "*"]);
    late.assert_refused(&top, "is above 1000000000");
    late.assert_refused(
        &high,
        &format!("is pinned to open with root {}", a2.lineage()),
    );
    let (ok, text) = late.install(&v3);
    assert!(ok, "{text}");
    late.assert_refused(&high, "none of which is a root installed for that lineage");

    // Nothing froze the lineage: the next honest bundle installs on both hosts.
    let v4 = seal(&[&a2], &trust_payload(&lineage, 4, &[&a2]), "v4.bundle");
    for site in [&early, &late] {
        let (ok, text) = site.install(&v4);
        assert!(ok, "{text}");
    }
}

#[test]
fn attack_2_a_root_pinned_for_one_lineage_cannot_open_another() {
    let (a, b) = (MemoryRoot::named("Root A"), MemoryRoot::named("Root B"));
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new();
    site.pin_with(&a.lineage(), &["--scope", "registry.example/a/"]);
    site.pin_with(&b.lineage(), &["--scope", "registry.example/b/"]);
    // B's root signs a bundle that says it is lineage A: carrying B, then carrying A's
    // certificate (which anyone can copy, but B cannot sign with).
    let phrase = format!(
        "lineage {} is pinned to open with root {}, but the bundle is signed by",
        a.lineage(),
        a.lineage()
    );
    for (name, roots) in [("b-as-a.bundle", vec![&b]), ("a-cert.bundle", vec![&a, &b])] {
        let p = trust_payload(&a.lineage(), 1, &roots);
        let file = seal_by(&[&b], &json(&p), dir.path(), name);
        site.assert_refused(&file, &phrase);
    }
    // A's own first bundle still opens it.
    let (ok, text) = site.install(&a.seal(&json(&a.payload(1)), dir.path(), "a.bundle"));
    assert!(ok, "{text}");
}

#[test]
fn attack_3_a_lineage_cannot_fill_or_claim_another_lineages_crl_url() {
    let t = TwoLineages::new();
    let now = keyrite::import::now().unwrap();
    let next = shift(now, 7 * 86_400);
    // B ships its own CRL under A's CDP URL, before A's revocation bundle arrives.
    let squat = t.b.revocation_for(&t.b.lineage(), 1, A_URL, next, next);
    let file = t.seal(&t.b, &squat, "b-squat.bundle");
    let text = t.site.assert_refused(&file, "which lineage");
    assert!(
        text.contains(A_URL) && text.contains("fills only its own lineage's URLs"),
        "{text}"
    );
    // B declares A's URL in a trust bundle: refused, naming both lineages.
    let mut claim = t.b.payload(2);
    claim.crl_urls = vec![B_URL.into(), A_URL.into()];
    let file = t.seal(&t.b, &claim, "b-claim.bundle");
    let text = t
        .site
        .assert_refused(&file, &format!("declares CRL URL {A_URL}"));
    assert!(
        text.contains(&t.a.lineage()) && text.contains(&t.b.lineage()),
        "{text}"
    );
    // A's real CRL then lands where notation looks for it.
    let real = t.a.revocation_for(&t.a.lineage(), 1, A_URL, next, next);
    let (ok, text) = t.site.install(&t.seal(&t.a, &real, "a-rev.bundle"));
    assert!(ok, "{text}");
    assert!(t.site.crl_cache_path(A_URL).is_file());
}

#[test]
fn attack_4_a_lineage_cannot_widen_its_scopes() {
    let t = TwoLineages::new();
    let cases = [
        ("everything", vec!["*"], "claims *"),
        (
            "a-repo",
            vec!["registry.example/a/app"],
            "claims registry.example/a/app",
        ),
        (
            "mixed",
            vec!["registry.example/b/app", "registry.example/c/app"],
            "claims registry.example/c/app",
        ),
    ];
    for (name, scopes, phrase) in cases {
        let mut p = t.b.payload(2);
        p.crl_urls = vec![B_URL.into()];
        p.policy = vec![statement(name, &scopes)];
        let file = t.seal(&t.b, &p, &format!("{name}.bundle"));
        let text = t.site.assert_refused(&file, phrase);
        assert!(
            text.contains("which the site did not grant") && text.contains("registry.example/b/"),
            "{text}"
        );
    }
    // Pinning cannot widen it either: a grant overlapping another lineage's is refused.
    let (ok, text) =
        run(t
            .site
            .import()
            .args(["pin", &t.b.lineage(), "--scope", "registry.example/"]));
    assert!(!ok && text.contains("granted to lineage"), "{text}");
    // Within its grant, B's statement installs.
    let mut p = t.b.payload(2);
    p.crl_urls = vec![B_URL.into()];
    p.policy = vec![statement("b", &["registry.example/b/app"])];
    let (ok, text) = t.site.install(&t.seal(&t.b, &p, "b-ok.bundle"));
    assert!(ok, "{text}");

    // Re-pinning cannot take the registry back while B's statement still speaks for it
    // (the registry could then be granted to another lineage, whose statement B's blocks);
    // nor can a grant in capitals dodge the overlap check.
    let before = t.site.snapshot();
    for (grant, phrase) in [
        (
            "registry.example/c/",
            "installed statement 'b' speaks for registry.example/b/app",
        ),
        (
            "REGISTRY.example/a/",
            "write registries and repositories in lower case",
        ),
    ] {
        let (ok, text) = run(t
            .site
            .import()
            .args(["pin", &t.b.lineage(), "--scope", grant]));
        assert!(!ok && text.contains(phrase), "{grant}: {text}");
    }
    assert_eq!(t.site.snapshot(), before);
}

#[test]
fn attack_5_no_trust_policy_notation_would_reject_is_written_and_check_says_so() {
    let t = TwoLineages::new();
    // Two identities of one statement that overlap: notation rejects the whole document.
    let mut p = t.b.payload(2);
    p.crl_urls = vec![B_URL.into()];
    let mut s = statement("b", &["registry.example/b/app"]);
    s.trusted_identities = vec![
        "x509.subject: C=US, ST=WA, O=Publisher".into(),
        "x509.subject: C=US, ST=WA, O=Publisher, CN=a".into(),
    ];
    p.policy = vec![s];
    let file = t.seal(&t.b, &p, "overlap.bundle");
    t.site.assert_refused(&file, "overlap");

    // A statement whose name or scope clashes with one already there would break the
    // document: refused before anything is written.
    let mut ours = t.a.payload(2);
    ours.crl_urls = vec![A_URL.into()];
    ours.policy = vec![statement("a", &["registry.example/a/app"])];
    let (ok, text) = t.site.install(&t.seal(&t.a, &ours, "a-2.bundle"));
    assert!(ok, "{text}");
    for (name, clash, phrase) in [
        (
            "name",
            statement("a", &["registry.example/b/app"]),
            "has the name of a statement already there",
        ),
        (
            "scope",
            statement("b", &["registry.example/a/app"]),
            "claims registry.example/a/app",
        ),
    ] {
        let mut p = t.b.payload(2);
        p.crl_urls = vec![B_URL.into()];
        p.policy = vec![clash];
        let file = t.seal(&t.b, &p, &format!("clash-{name}.bundle"));
        t.site.assert_refused(&file, phrase);
    }

    // The site writes an overlapping statement by hand: check says what notation says (it
    // verifies nothing), and no bundle merges into the broken document.
    let policy = t.site.config().join("trustpolicy.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&policy).unwrap()).unwrap();
    doc["trustPolicies"].as_array_mut().unwrap().push(serde_json::json!({
        "name": "mine", "registryScopes": ["registry.example/mine/app"],
        "signatureVerification": {"level": "strict"}, "trustStores": ["ca:mine"],
        "trustedIdentities": ["x509.subject: C=US, ST=WA, O=P", "x509.subject: C=US, ST=WA, O=P, CN=x"],
    }));
    fs::write(&policy, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let c = Ceremony::new("attack-5");
    let (code, text) = t
        .site
        .check(&c.chain("a"), &["--scope", "registry.example/a/app"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("notation rejects the whole trust policy") && text.contains("overlap"),
        "{text}"
    );
    let mut next = t.a.payload(3);
    next.crl_urls = vec![A_URL.into()];
    next.policy = vec![statement("a", &["registry.example/a/app"])];
    let file = t.seal(&t.a, &next, "a-3.bundle");
    t.site
        .assert_refused(&file, "is not a valid trust policy already");
}

/// The statement names in the policy file `name` of `site`.
fn statement_names(site: &Site, name: &str) -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(site.config().join(name)).unwrap()).unwrap();
    doc["trustPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

fn user_document(name: &str, scope: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": name, "registryScopes": [scope],
            "signatureVerification": {"level": "strict"}, "trustStores": ["ca:mine"],
            "trustedIdentities": ["*"],
        }],
    }))
    .unwrap()
}

#[test]
fn attack_6_the_two_policy_files_never_drift_apart_silently() {
    let root = MemoryRoot::new();
    let dir = tempfile::tempdir().unwrap();
    let mut p = root.payload(1);
    p.policy = vec![statement("ours", &["registry.example/ours/app"])];
    let bundle = root.seal(&json(&p), dir.path(), "v1.bundle");
    let new_site = || {
        let site = Site::new();
        site.pin(&root.lineage());
        fs::create_dir_all(site.config()).unwrap();
        site
    };

    // Only trustpolicy.json: no trustpolicy.oci.json is made beside it.
    let site = new_site();
    fs::write(
        site.config().join("trustpolicy.json"),
        user_document("mine", "registry.example/mine/app"),
    )
    .unwrap();
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    assert!(!site.config().join("trustpolicy.oci.json").exists());
    assert_eq!(statement_names(&site, "trustpolicy.json"), ["mine", "ours"]);
    let (code, text) = site.status(&[]);
    assert_eq!(code, 0, "{text}");

    // Neither: only trustpolicy.json is made (both notations read it then).
    let site = new_site();
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    assert_eq!(statement_names(&site, "trustpolicy.json"), ["ours"]);
    assert!(!site.config().join("trustpolicy.oci.json").exists());

    // Only trustpolicy.oci.json: it alone is merged into, and check, judging by the file
    // notation 1.3 reads, says that notation verifies nothing here.
    let site = new_site();
    fs::write(
        site.config().join("trustpolicy.oci.json"),
        user_document("mine", "registry.example/mine/app"),
    )
    .unwrap();
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    assert!(!site.config().join("trustpolicy.json").exists());
    assert_eq!(
        statement_names(&site, "trustpolicy.oci.json"),
        ["mine", "ours"]
    );
    let c = Ceremony::new("attack-6");
    let (code, text) = site.check(&c.chain("a"), &["--scope", "registry.example/ours/app"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("notation v1.3 does not read it"), "{text}");

    // Both, each with the site's own statements: both are merged into, each keeping its own;
    // as they differ, status and check say which notation reads which.
    let site = new_site();
    fs::write(
        site.config().join("trustpolicy.json"),
        user_document("mine", "registry.example/mine/app"),
    )
    .unwrap();
    fs::write(
        site.config().join("trustpolicy.oci.json"),
        user_document("theirs", "registry.example/theirs/app"),
    )
    .unwrap();
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    assert_eq!(statement_names(&site, "trustpolicy.json"), ["mine", "ours"]);
    assert_eq!(
        statement_names(&site, "trustpolicy.oci.json"),
        ["theirs", "ours"]
    );
    let (code, text) = site.status(&[]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("say different things")
            && text.contains("notation v1.3 reads only trustpolicy.json"),
        "{text}"
    );
    // Made the same, the warning goes.
    fs::copy(
        site.config().join("trustpolicy.json"),
        site.config().join("trustpolicy.oci.json"),
    )
    .unwrap();
    let (code, text) = site.status(&[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn attack_7_an_expired_trust_bundle_does_not_go_on_trusting_silently() {
    let c = Ceremony::new("attack-7");
    let policy = c.hsm.dir().join("policy.toml");
    fs::write(
        &policy,
        "[[statement]]\nname = \"prod\"\nregistry_scopes = [\"registry.example/prod/app\"]\nlevel = \"permissive\"\ntrusted_identities = [\"*\"]\nrevocation = \"skip\"\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let (ok, text, short) =
        c.trust_bundle_expiring("short.bundle", 1, "4s", &[CRL_URL], &["--policy", policy]);
    assert!(ok, "{text}");
    // It expires at most 4 s (and a second's rounding) from now.
    let made = Instant::now();
    let enforcing = Site::new();
    enforcing.pin(&c.root_fingerprint());
    let warning = Site::new();
    warning.pin_with(
        &c.root_fingerprint(),
        &["--scope", "*", "--on-expiry", "warn"],
    );
    for site in [&enforcing, &warning] {
        let (ok, text) = site.install(&short);
        assert!(ok, "{text}");
    }
    let scope = ["--scope", "registry.example/prod/app"];
    let (code, text) = enforcing.check(&c.chain("a"), &scope);
    assert_eq!(code, 0, "before it expires: {text}");
    std::thread::sleep(Duration::from_secs(6).saturating_sub(made.elapsed()));

    // Expired: check still reaches notation's verdict, but fails loudly; so does status.
    for site in [&enforcing, &warning] {
        let (code, text) = site.check(&c.chain("a"), &scope);
        assert_eq!(code, 6, "{text}");
        assert!(
            text.starts_with("trusted")
                && text.contains("ATTENTION")
                && text.contains("expired on"),
            "{text}"
        );
        let (code, text) = site.status(&[]);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("STILL TRUSTS"), "{text}");
    }

    // enforce: the lineage's statements refuse; a warn-only pin is left trusting.
    let (ok, text) = run(enforcing.import().arg("enforce"));
    assert!(ok && text.contains("now refuse every signature"), "{text}");
    let (ok, text) = run(warning.import().arg("enforce"));
    assert!(ok && text.contains("warn only"), "{text}");
    let (code, text) = enforcing.check(&c.chain("a"), &scope);
    assert_eq!(code, 2, "enforced: {text}");
    let (code, text) = warning.check(&c.chain("a"), &scope);
    assert_eq!(code, 6, "warn only: {text}");
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(enforcing.config().join("trustpolicy.json")).unwrap())
            .unwrap();
    assert_eq!(
        doc["trustPolicies"][0]["signatureVerification"],
        serde_json::json!({"level": "strict"}),
        "{doc}"
    );
    let (code, text) = enforcing.status(&[]);
    assert!(code == 2 && text.contains("ENFORCED since"), "{text}");
    // Running it again changes nothing.
    let before = enforcing.snapshot();
    let (ok, text) = run(enforcing.import().arg("enforce"));
    assert!(ok && text.contains("already refuse"), "{text}");
    assert_eq!(enforcing.snapshot(), before);

    // The real notation refuses too, where one is available.
    if let Some(n) = common::notation::find("attack_7") {
        let build = common::notation::sign_local(&n, &c, "a", "jws");
        let said = n.verify(
            &enforcing.notation_dirs(),
            &build.layout,
            &build.digest,
            "registry.example/prod/app",
        );
        assert_eq!(said.word, "untrusted", "{}", said.text);
    }

    // A newer trust bundle ends the enforcement.
    let (ok, text, renewed) = c.trust_bundle("renewed.bundle", 2, &["--policy", policy]);
    assert!(ok, "{text}");
    let (ok, text) = enforcing.install(&renewed);
    assert!(ok, "{text}");
    let (code, text) = enforcing.check(&c.chain("a"), &scope);
    assert_eq!(code, 0, "renewed: {text}");
    let (code, text) = enforcing.status(&[]);
    assert_eq!(code, 0, "{text}");
}

/// keyrite-import, killed after 60 s and limited to 1 GiB of address space: a command that
/// reads without bound fails under it instead of passing.
fn bounded(site: &Site) -> Command {
    let plain = site.import();
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "prlimit", "--as=1073741824", "--"])
        .arg(plain.get_program())
        .args(plain.get_args());
    cmd.env_remove("NOTATION_CONFIG")
        .env_remove("NOTATION_CACHE");
    cmd
}

#[test]
fn attack_8_huge_bundles_are_refused_before_any_costly_work_and_without_the_lock() {
    let t = TwoLineages::new();
    let scopes =
        |n: usize| -> Vec<String> { (0..n).map(|i| format!("registry.example/b/r{i}")).collect() };
    // The reported bundle: 905k scopes in one statement, past the size limit.
    let mut huge = t.b.payload(2);
    huge.crl_urls = vec![B_URL.into()];
    let mut s = statement("b", &[]);
    s.registry_scopes = scopes(905_000);
    huge.policy = vec![s.clone()];
    // One under the size limit, with far more scopes than a statement may hold.
    let mut many = huge.clone();
    s.registry_scopes = scopes(150_000);
    many.policy = vec![s];
    let huge = t.seal(&t.b, &huge, "huge.bundle");
    let many = t.seal(&t.b, &many, "many.bundle");
    assert!(fs::metadata(&huge).unwrap().len() > 8 * 1024 * 1024);
    assert!(fs::metadata(&many).unwrap().len() < 8 * 1024 * 1024);

    // Another keyrite-import holds the lock throughout: the refusals do not wait for it.
    let lock = t.site.state().join("lock");
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "120"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for (file, phrase) in [
        (&huge, "more than the 8388608 a bundle may be"),
        (
            &many,
            "150000 registry scopes in one statement: a bundle may hold at most 64",
        ),
    ] {
        let before = t.site.snapshot();
        let (ok, text) = run(bounded(&t.site).arg("install").arg(file));
        assert!(!ok && text.contains(phrase), "{text}");
        assert_eq!(t.site.snapshot(), before);
        let log = t.site.log();
        assert!(log.last().is_some_and(|l| l.contains(phrase)), "{log:?}");
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn attack_9_a_tampered_journal_touches_nothing_outside_the_store() {
    let c = Ceremony::new("attack-9");
    let (ok, text, v1) = c.trust_bundle("v1.bundle", 1, &[]);
    assert!(ok, "{text}");
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    let (ok, text) = site.install(&v1);
    assert!(ok, "{text}");
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let config = site.config();
    symlink(outside.path(), config.join("link")).unwrap();
    // A staged file where keyrite-import would put one, so that its rename is attempted.
    let staged = config.join(".keyrite-import-staging/0123456789abcdef/0");
    fs::create_dir_all(staged.parent().unwrap()).unwrap();
    fs::write(&staged, "planted").unwrap();
    let journals = [
        serde_json::json!([{"op": "remove", "path": victim}]),
        serde_json::json!([{"op": "remove", "path": config.join("../../..").join(victim.strip_prefix("/").unwrap())}]),
        serde_json::json!([{"op": "remove", "path": config.join("link/victim")}]),
        serde_json::json!([{"op": "write", "staged": victim, "path": config.join("trustpolicy.json")}]),
        serde_json::json!([{"op": "write", "staged": staged, "path": config.join("link/victim")}]),
        serde_json::json!([{"op": "mkdir", "path": config.join("link/new")}]),
    ];
    // A staging directory to remove, below a link deeper in a tree: removing it would
    // follow the link to a directory of the same name outside.
    let deep = outside.path().join("0123456789abcdef");
    fs::create_dir_all(deep.join("x")).unwrap();
    fs::write(deep.join("x/data"), "precious").unwrap();
    fs::create_dir_all(site.state().join("s")).unwrap();
    symlink(
        outside.path(),
        site.state().join("s/.keyrite-import-staging"),
    )
    .unwrap();
    let journals: Vec<(serde_json::Value, serde_json::Value)> = journals
        .into_iter()
        .map(|steps| (serde_json::json!([]), steps))
        .chain([(
            serde_json::json!([site
                .state()
                .join("s/.keyrite-import-staging/0123456789abcdef")]),
            serde_json::json!([]),
        )])
        .collect();
    let journal = site.state().join("journal.json");
    for (staging, steps) in journals {
        fs::write(
            &journal,
            serde_json::to_vec(&serde_json::json!({"staging": staging, "steps": steps})).unwrap(),
        )
        .unwrap();
        let before = site.snapshot();
        let (ok, text) = run(site.import().arg("status"));
        assert!(
            !ok && text.contains("cannot be completed")
                && ["outside", "not a link", "not a staging directory"]
                    .iter()
                    .any(|p| text.contains(p)),
            "{steps}: {text}"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"precious", "{steps}");
        assert_eq!(
            fs::read(deep.join("x/data")).unwrap(),
            b"precious",
            "{staging}"
        );
        assert!(!outside.path().join("new").exists());
        let after = site.snapshot();
        assert!(
            before == after,
            "{steps}: {}",
            snapshot_diff(&before, &after)
        );
    }
    fs::remove_file(&journal).unwrap();
    fs::remove_file(config.join("link")).unwrap();
    fs::remove_dir_all(config.join(".keyrite-import-staging")).unwrap();
    fs::remove_dir_all(site.state().join("s")).unwrap();
    let (code, text) = site.status(&[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn attack_10_no_read_is_unbounded() {
    let c = Ceremony::new("attack-10");
    let (ok, text, v1) = c.trust_bundle("v1.bundle", 1, &[]);
    assert!(ok, "{text}");
    let (ok, text, v2) = c.trust_bundle("v2.bundle", 2, &[]);
    assert!(ok, "{text}");
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    let (ok, text) = site.install(&v1);
    assert!(ok, "{text}");
    let state = site.state();
    let sparse = |path: &Path| {
        run_ok(Command::new("truncate").args(["-s", "64G"]).arg(path));
    };
    let chain = c.chain("a");
    let cases: Vec<(&str, PathBuf, bool, Vec<String>, &str)> = vec![
        (
            "the log",
            state.join("log.jsonl"),
            false,
            vec!["install".into(), v1.display().to_string()],
            "the log must be a plain file",
        ),
        (
            "the installed record",
            state.join("installed.json"),
            false,
            vec!["status".into()],
            "symbolic link",
        ),
        (
            "the installed record",
            state.join("installed.json"),
            true,
            vec!["status".into()],
            "more than the",
        ),
        (
            "the pins",
            state.join("pins.json"),
            false,
            vec!["install".into(), v2.display().to_string()],
            "symbolic link",
        ),
        (
            "the pins",
            state.join("pins.json"),
            true,
            vec!["install".into(), v2.display().to_string()],
            "more than the",
        ),
        (
            "the journal",
            state.join("journal.json"),
            false,
            vec!["status".into()],
            "symbolic link",
        ),
        (
            "the journal",
            state.join("journal.json"),
            true,
            vec!["status".into()],
            "more than the",
        ),
        (
            "a bundle",
            c.hsm.dir().join("zero.bundle"),
            false,
            vec![
                "install".into(),
                c.hsm.dir().join("zero.bundle").display().to_string(),
            ],
            "symbolic link",
        ),
        (
            "a chain",
            c.hsm.dir().join("zero.pem"),
            false,
            vec![
                "check".into(),
                c.hsm.dir().join("zero.pem").display().to_string(),
            ],
            "is not a regular file",
        ),
        (
            "a chain",
            c.hsm.dir().join("huge.pem"),
            true,
            vec![
                "check".into(),
                c.hsm.dir().join("huge.pem").display().to_string(),
            ],
            "more than the",
        ),
        (
            "the trust policy",
            site.config().join("trustpolicy.json"),
            false,
            vec![
                "check".into(),
                chain.display().to_string(),
                "--scope".into(),
                "registry.example/prod/app".into(),
            ],
            "not a regular file",
        ),
        (
            "the trust policy",
            site.config().join("trustpolicy.json"),
            true,
            vec![
                "check".into(),
                chain.display().to_string(),
                "--scope".into(),
                "registry.example/prod/app".into(),
            ],
            "more than the",
        ),
    ];
    for (what, path, huge, args, phrase) in cases {
        let saved = fs::read(&path).ok();
        let _ = fs::remove_file(&path);
        if huge {
            sparse(&path);
        } else {
            symlink("/dev/zero", &path).unwrap();
        }
        let before = site.snapshot();
        let (_, text) = run(bounded(&site).args(&args));
        assert!(text.contains(phrase), "{what} ({}): {text}", path.display());
        assert_eq!(site.snapshot(), before, "{what}");
        fs::remove_file(&path).unwrap();
        if let Some(bytes) = saved {
            fs::write(&path, bytes).unwrap();
        }
    }
    // With everything back, the host works.
    let (ok, text) = site.install(&v2);
    assert!(ok, "{text}");
}
