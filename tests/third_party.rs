//! Third parties' roots a site vouches for: a vendor's own CA (made with openssl, never
//! cosigning) carried in the lineage's trust bundle, trusted by notation only inside its
//! scopes, revoked by the vendor's own CRL carried in a revocation bundle, and gone when a
//! later trust bundle drops it; and every bad input refused at the ceremony or on the host
//! with nothing changed.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::ceremony::{CRL_URL, Ceremony, Site, fingerprint};
use common::memory_root::{MemoryRoot, trust_payload};
use common::openssl_ca::OpensslCa;
use common::*;
use keyrite::bundle::{Entry, MIN_FORMAT, Payload, Role, ThirdParty};

const VENDOR_URL: &str = "http://crl.vendor.example/root.crl";
const VENDOR_SCOPE: &str = "registry.example/vendor/app";
const OTHER_URL: &str = "http://crl.other.example/b.crl";

/// The `--third-party…` arguments that vouch for `root` as `acme`, trusted for
/// [`VENDOR_SCOPE`], its CRLs answering for [`VENDOR_URL`].
fn vouch(root: &Path) -> Vec<String> {
    [
        "--third-party".to_owned(),
        format!("acme={}", root.display()),
        "--third-party-scope".into(),
        format!("acme={VENDOR_SCOPE}"),
        "--third-party-crl-url".into(),
        format!("acme={VENDOR_URL}"),
    ]
    .into()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A revocation bundle `name` of `c`'s lineage carrying its own `crl` and the vendor's
/// `vendor_crl`, checked against `vendor_root`.
fn revocation_with_vendor(
    c: &Ceremony,
    name: &str,
    version: u64,
    crl: &Path,
    vendor_crl: &Path,
    vendor_root: &Path,
) -> (bool, String, PathBuf) {
    let args = [
        "--crl".to_owned(),
        crl.display().to_string(),
        "--crl-url".into(),
        CRL_URL.into(),
        "--third-party-crl".into(),
        format!("acme={}", vendor_crl.display()),
        "--third-party".into(),
        format!("acme={}", vendor_root.display()),
        "--third-party-crl-url".into(),
        format!("acme={VENDOR_URL}"),
    ];
    c.revocation_bundle_by(&c.root_issuer(), name, version, &strs(&args))
}

#[test]
fn a_vendor_root_is_trusted_in_its_scope_revoked_by_its_own_crl_and_gone_when_dropped() {
    let c = Ceremony::new("Third Party Lineage");
    let dir = tempfile::tempdir().unwrap();
    let vendor = OpensslCa::new(
        &dir.path().join("vendor"),
        "/C=US/ST=WA/O=Vendor/CN=Vendor Root",
        VENDOR_URL,
    );
    let chain = vendor.leaf("app", "/C=US/ST=WA/O=Vendor/CN=Vendor App");
    let site = Site::new();
    site.pin_with(&c.root_fingerprint(), &["--scope", "registry.example/"]);

    // The ceremony shows the vendor root's fingerprint as hex and words, to compare with
    // what the vendor published.
    let (ok, text, trust_v1) = c.trust_bundle("trust-v1.bundle", 1, &strs(&vouch(&vendor.root)));
    assert!(ok, "{text}");
    let vendor_fp = fingerprint(&vendor.root);
    assert!(text.contains(&vendor_fp), "{text}");
    let words = keyrite::fingerprint::Fingerprint::parse(&vendor_fp)
        .unwrap()
        .words()
        .join(" ");
    assert!(text.contains(&words), "{text}");
    let (ok, text) = site.install(&trust_v1);
    assert!(ok, "{text}");
    let store = site
        .config()
        .join("truststore/x509/ca")
        .join(format!("keyrite-{}.acme", c.root_fingerprint()));
    assert_eq!(fs::read_dir(&store).unwrap().count(), 1);

    let crl = c.crl("root-1.crl", &[]);
    let (ok, text, revocation_v1) = revocation_with_vendor(
        &c,
        "revocation-v1.bundle",
        1,
        &crl,
        &vendor.crl("vendor-1.crl", &[]),
        &vendor.root,
    );
    assert!(ok, "{text}");
    let (ok, text) = site.install(&revocation_v1);
    assert!(ok, "{text}");

    // Inside its scope the vendor's leaf is trusted, and check names the vendor.
    let (code, text) = site.check(&chain, &["--scope", VENDOR_SCOPE]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("third party 'acme'"), "{text}");
    // Outside it, nothing trusts it: not another repository of the lineage's grant.
    let (code, text) = site.check(&chain, &["--scope", "registry.example/app"]);
    assert_eq!(code, 2, "{text}");
    let (_, status) = site.status(&[]);
    for want in [
        "third party 'acme'",
        vendor_fp.as_str(),
        VENDOR_SCOPE,
        "CRL of third party 'acme'",
    ] {
        assert!(status.contains(want), "{want}: {status}");
    }
    let notation = common::notation::find("third_party");
    let signed = notation.as_ref().map(|n| {
        let b = common::notation::build_machine("vendor");
        n.add_local_key(&b.dirs, "vendor", &vendor.key("app"), &chain);
        let (ok, text) = n.sign(&b.dirs, &[], &b.layout, &b.digest, "vendor", "jws");
        assert!(ok, "notation sign: {text}");
        b
    });
    let judge = |scope: &str, want: &str| {
        if let (Some(n), Some(b)) = (&notation, &signed) {
            let said = n.verify(&site.notation_dirs(), &b.layout, &b.digest, scope);
            assert_eq!(
                said.word, want,
                "notation verify for {scope}: {}",
                said.text
            );
        }
    };
    judge(VENDOR_SCOPE, "trusted");
    judge("registry.example/app", "untrusted");

    // The vendor revokes its leaf; its own CRL, carried across, makes the host refuse it.
    vendor.revoke("app", &[]);
    let (ok, text, revocation_v2) = revocation_with_vendor(
        &c,
        "revocation-v2.bundle",
        2,
        &crl,
        &vendor.crl("vendor-2.crl", &[]),
        &vendor.root,
    );
    assert!(ok, "{text}");
    let (ok, text) = site.install(&revocation_v2);
    assert!(ok, "{text}");
    let (code, text) = site.check(&chain, &["--scope", VENDOR_SCOPE]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("third party 'acme'"), "{text}");
    judge(VENDOR_SCOPE, "revoked");

    // A later trust bundle without the vendor removes its store and statement.
    let (ok, text, trust_v2) = c.trust_bundle("trust-v2.bundle", 2, &[]);
    assert!(ok, "{text}");
    let (ok, text) = site.install(&trust_v2);
    assert!(ok, "{text}");
    assert_eq!(fs::read_dir(&store).map_or(0, |d| d.count()), 0);
    let policy = fs::read_to_string(site.config().join("trustpolicy.json")).unwrap_or_default();
    assert!(!policy.contains("third-party.acme"), "{policy}");
    let (code, text) = site.check(&chain, &["--scope", VENDOR_SCOPE]);
    assert_eq!(code, 2, "{text}");
    assert!(!text.contains("third party 'acme'"), "{text}");
    judge(VENDOR_SCOPE, "untrusted");
}

/// A self-signed CA `dir/NAME.pem` made by openssl with key `key` (`rsa:1024`) and digest
/// `digest` (`-sha1`).
fn openssl_root(dir: &Path, name: &str, key: &str, digest: &str) -> PathBuf {
    let out = dir.join(format!("{name}.pem"));
    run_ok(
        std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", key, "-nodes", digest, "-keyout"])
            .arg(dir.join(format!("{name}.key")))
            .args(["-subj", &format!("/O=Vendor/CN={name}"), "-days", "30"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out"])
            .arg(&out),
    );
    out
}

/// A vendor's roots keyrite must refuse, each made as a vendor would make it.
#[test]
fn the_ceremony_refuses_a_vendor_root_notation_would_not_use() {
    let c = Ceremony::new("Third Party Refusals");
    let dir = tempfile::tempdir().unwrap();
    let vendor = OpensslCa::new(
        &dir.path().join("vendor"),
        "/C=US/ST=WA/O=Vendor/CN=Vendor Root",
        VENDOR_URL,
    );
    vendor.leaf("app", "/C=US/ST=WA/O=Vendor/CN=Vendor App");
    let leaf = dir.path().join("vendor/app.crt");
    let rsa_1024 = openssl_root(dir.path(), "Weak Key Root", "rsa:1024", "-sha256");
    let sha1 = openssl_root(dir.path(), "SHA-1 Root", "rsa:2048", "-sha1");
    let expired = MemoryRoot::expired("Expired Vendor Root").write_pem(dir.path(), "expired.pem");
    let cases: [(&str, Vec<String>, &str); 7] = [
        ("a leaf", vouch(&leaf), "it is a leaf, not a root"),
        ("an expired root", vouch(&expired), "expired on 2021-01-01"),
        ("an RSA-1024 root", vouch(&rsa_1024), "its key is RSA-1024"),
        ("a SHA-1 root", vouch(&sha1), "signed with SHA-1 with RSA"),
        (
            "a name that is not a file name",
            [
                "--third-party".to_owned(),
                format!("../acme={}", vendor.root.display()),
                "--third-party-scope".into(),
                format!("../acme={VENDOR_SCOPE}"),
            ]
            .into(),
            "is not 1 to 32 lowercase letters",
        ),
        (
            "a scope without its third party",
            [
                "--third-party-scope".to_owned(),
                format!("acme={VENDOR_SCOPE}"),
            ]
            .into(),
            "names third party 'acme', which this command does not give",
        ),
        (
            "a URL the lineage declares too",
            [
                "--third-party".to_owned(),
                format!("acme={}", vendor.root.display()),
                "--third-party-scope".into(),
                format!("acme={VENDOR_SCOPE}"),
                "--third-party-crl-url".into(),
                format!("acme={CRL_URL}"),
            ]
            .into(),
            "is declared twice",
        ),
    ];
    for (i, (what, args, phrase)) in cases.iter().enumerate() {
        let name = format!("refused-{i}.bundle");
        let (ok, text, out) = c.trust_bundle(&name, 1, &strs(args));
        assert!(!ok, "{what} was accepted:\n{text}");
        assert!(
            text.contains(phrase),
            "{what}: expected '{phrase}' in:\n{text}"
        );
        assert!(!out.exists(), "{what}: a bundle was written");
    }

    // A CRL signed by another key than the vendor root's is refused at the ceremony.
    let other = OpensslCa::new(
        &dir.path().join("other"),
        "/C=US/ST=WA/O=Vendor/CN=Vendor Root",
        VENDOR_URL,
    );
    let crl = c.crl("root.crl", &[]);
    let (ok, text, out) = revocation_with_vendor(
        &c,
        "foreign.bundle",
        1,
        &crl,
        &other.crl("foreign.crl", &[]),
        &vendor.root,
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("was not signed by third party 'acme''s root"),
        "{text}"
    );
    assert!(!out.exists());
}

/// A lineage whose bundles are crafted field by field (signed by its real root key), pinned
/// for `registry.example/a/` on a fresh site, and a vendor CA.
struct Crafted {
    root: MemoryRoot,
    vendor: OpensslCa,
    site: Site,
    dir: tempfile::TempDir,
}

impl Crafted {
    fn new() -> Crafted {
        let dir = tempfile::tempdir().unwrap();
        let vendor = OpensslCa::new(
            &dir.path().join("vendor"),
            "/C=US/ST=WA/O=Vendor/CN=Vendor Root",
            VENDOR_URL,
        );
        let root = MemoryRoot::named("Crafted Lineage");
        let site = Site::new();
        site.pin_with(&root.lineage(), &["--scope", "registry.example/a/"]);
        Crafted {
            root,
            vendor,
            site,
            dir,
        }
    }

    /// A trust payload of `version` vouching for the vendor as `name` for `scopes`, its CRLs
    /// answering for `urls`.
    fn trust(&self, version: u64, name: &str, scopes: &[&str], urls: &[&str]) -> Payload {
        self.trust_with(&self.vendor.root, version, name, scopes, urls)
    }

    /// [`Crafted::trust`] with the certificate `root` as the vendor's root.
    fn trust_with(
        &self,
        root: &Path,
        version: u64,
        name: &str,
        scopes: &[&str],
        urls: &[&str],
    ) -> Payload {
        let mut p = trust_payload(&self.root.lineage(), version, &[&self.root]);
        let der = pem_der(root);
        p.entries.push(Entry {
            name: format!("third-party-ca/{name}.crt"),
            role: Role::ThirdPartyRoot,
            sha256: hex::encode(keyrite::keys::sha256(&der)),
            der: data_encoding::BASE64.encode(&der),
            urls: Vec::new(),
        });
        p.third_parties.push(ThirdParty {
            name: name.into(),
            registry_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            trusted_identities: vec!["*".into()],
            crl_urls: urls.iter().map(|s| (*s).to_owned()).collect(),
            verify_timestamp: None,
        });
        p.format = Payload::format_for(&p.entries, &p.policy, &p.third_parties);
        p
    }

    fn seal(&self, p: &Payload, name: &str) -> PathBuf {
        self.root
            .seal(&serde_json::to_value(p).unwrap(), self.dir.path(), name)
    }
}

/// The DER of a PEM certificate file.
fn pem_der(path: &Path) -> Vec<u8> {
    use der::Encode;
    keyrite::pki::read_certificate(path)
        .unwrap()
        .to_der()
        .unwrap()
}

#[test]
fn the_host_refuses_a_vendor_outside_the_grant_a_foreign_crl_a_claimed_url_and_a_bad_name() {
    let t = Crafted::new();
    // A vendor scope outside what the site granted the lineage.
    let wide = t.seal(
        &t.trust(1, "acme", &["registry.example/b/app"], &[VENDOR_URL]),
        "wide.bundle",
    );
    t.site
        .assert_refused(&wide, "third party 'acme' claims registry.example/b/app");
    // A name that is not a safe file name, even signed by the lineage's root.
    for bad in ["../acme", "Acme", "acme.x", ""] {
        let p = t.trust(1, bad, &["registry.example/a/app"], &[]);
        let file = t.seal(&p, "bad-name.bundle");
        t.site
            .assert_refused(&file, "lowercase letters, digits and '-'");
        fs::remove_file(file).unwrap();
    }
    // A vendor format-2 bundle: the format must say it carries a third party.
    let mut old = t.trust(1, "acme", &["registry.example/a/app"], &[]);
    old.format = MIN_FORMAT;
    let file = t.seal(&old, "old-format.bundle");
    t.site.assert_refused(&file, "does not match its content");

    // Roots notation would not use, signed into a bundle by the lineage's own root: refused
    // on the host too.
    t.vendor.leaf("app", "/C=US/ST=WA/O=Vendor/CN=Vendor App");
    let unusable = [
        (
            t.dir.path().join("vendor/app.crt"),
            "it is a leaf, not a root",
        ),
        (
            MemoryRoot::expired("Expired Vendor Root").write_pem(t.dir.path(), "expired.pem"),
            "expired on 2021-01-01",
        ),
        (
            openssl_root(t.dir.path(), "Weak Key Root", "rsa:1024", "-sha256"),
            "its key is RSA-1024",
        ),
        (
            openssl_root(t.dir.path(), "SHA-1 Root", "rsa:2048", "-sha1"),
            "signed with SHA-1 with RSA",
        ),
    ];
    for (cert, phrase) in &unusable {
        let p = t.trust_with(cert, 1, "acme", &["registry.example/a/app"], &[]);
        let file = t.seal(&p, "unusable.bundle");
        t.site.assert_refused(&file, phrase);
        fs::remove_file(file).unwrap();
    }

    // A vendor URL another lineage declared first.
    let b = MemoryRoot::named("Second Lineage");
    t.site
        .pin_with(&b.lineage(), &["--scope", "registry.example/b/"]);
    let mut first = trust_payload(&b.lineage(), 1, &[&b]);
    first.crl_urls = vec![OTHER_URL.into()];
    let file = b.seal(
        &serde_json::to_value(&first).unwrap(),
        t.dir.path(),
        "b-first.bundle",
    );
    let (ok, text) = t.site.install(&file);
    assert!(ok, "{text}");
    let squat = t.seal(
        &t.trust(1, "acme", &["registry.example/a/app"], &[OTHER_URL]),
        "squat.bundle",
    );
    t.site.assert_refused(&squat, "which lineage");

    let good = t.seal(
        &t.trust(1, "acme", &["registry.example/a/app"], &[VENDOR_URL]),
        "good.bundle",
    );
    let (ok, text) = t.site.install(&good);
    assert!(ok, "{text}");

    // A vendor CRL signed by another key, carried by the lineage's own revocation bundle.
    let other = OpensslCa::new(
        &t.dir.path().join("other"),
        "/C=US/ST=WA/O=Vendor/CN=Vendor Root",
        VENDOR_URL,
    );
    let now = keyrite::import::now().unwrap();
    let soon = common::memory_root::shift(now, 86_400);
    let foreign_der = fs::read(other.crl("foreign.crl", &[])).unwrap();
    let mut revocation = t
        .root
        .revocation(1, common::memory_root::shift(now, 2 * 86_400), soon);
    revocation.entries.push(Entry {
        name: "third-party-crl/acme.crl".into(),
        role: Role::ThirdPartyCrl,
        sha256: hex::encode(keyrite::keys::sha256(&foreign_der)),
        der: data_encoding::BASE64.encode(&foreign_der),
        urls: vec![VENDOR_URL.into()],
    });
    revocation.format = Payload::format_for(&revocation.entries, &[], &[]);
    let file = t.seal(&revocation, "foreign-crl.bundle");
    t.site
        .assert_refused(&file, "was not signed by third party 'acme''s root");

    // The other lineage may not declare the URL this one declared for its vendor.
    let mut claim = trust_payload(&b.lineage(), 2, &[&b]);
    claim.crl_urls = vec![OTHER_URL.into(), VENDOR_URL.into()];
    let file = b.seal(
        &serde_json::to_value(&claim).unwrap(),
        t.dir.path(),
        "claim.bundle",
    );
    t.site.assert_refused(&file, "declared first");
}
