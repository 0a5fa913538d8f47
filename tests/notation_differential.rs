//! `keyrite-import check` against the real notation, scenario by scenario: each builds a host
//! (trust stores, trust policy and CRL cache that keyrite-import installed from real bundles,
//! some with a site's own statements, stores and CRLs beside them, some edited to break a
//! rule), signs an artifact with real `notation sign`, and asserts that check's verdict
//! (trusted, untrusted, expired, revoked or timestamp-required, by exit code and word) is
//! notation's. The table is printed; `KEYRITE_DIFFERENTIAL_DETAIL=1` adds both sides' reasons.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::ceremony::{CRL_URL, Ceremony, Site};
use common::notation::{self, Dirs, Notation};
use common::odd_ca::{self as odd, Attr, OddCa};
use common::openssl_ca::OpensslCa;
use common::*;
use serde_json::{Value, json};

const A_SCOPE: &str = "registry.example/prod/app";
const B_SCOPE: &str = "registry.example/b/app";
const SITE_SCOPE: &str = "registry.example/site/app";
const OTHER_SCOPE: &str = "registry.example/other/app";
const SUCCESSOR_URL: &str = "http://crl.example.com/successor.crl";
const B_URL: &str = "http://crl.b.example/b.crl";
const SITE_URL: &str = "http://crl.site.example/site.crl";
const PUBLISHER: &str = "x509.subject: C=US, ST=WA, O=Publisher";
const ODD_SCOPE: &str = "registry.example/odd/app";
const ODD_URL: &str = "http://crl.odd.example/odd.crl";
const ODD_HTTPS_URL: &str = "https://crl.odd.example/odd.crl";
const ODD_UPPER_URL: &str = "HTTP://crl.odd.example/odd.crl";
/// The serial of the odd CA's leaf `o-plain`.
const PLAIN_SERIAL: u64 = 101;

/// Everything the scenarios share: two lineages made by keyrite (A rotating to a successor),
/// a site's own openssl CA, the bundles, a host with all of it installed, and one signed
/// layout per signer.
struct World {
    a: Ceremony,
    _b: Ceremony,
    /// When the six-second delegate has surely expired.
    short_expired: Instant,
    site_ca: OpensslCa,
    /// Trust bundle v3 of lineage A: the successor alone.
    after_overlap: PathBuf,
    /// B's CRL, to plant where A's belongs.
    b_crl: PathBuf,
    /// A CRL of the site CA past its nextUpdate.
    stale_crl: PathBuf,
    /// A TSA root (openssl).
    tsa_root: PathBuf,
    /// A CA of hand-written DER, and its CRLs.
    odd: OddCa,
    odd_crls: OddCrls,
    base: Site,
    layouts: Vec<(&'static str, PathBuf, String, PathBuf)>,
    _build: tempfile::TempDir,
}

impl World {
    /// The layout, digest and chain signed by `signer`.
    fn signed(&self, signer: &str) -> (&Path, &str, &Path) {
        let (_, layout, digest, chain) = self
            .layouts
            .iter()
            .find(|(s, ..)| *s == signer)
            .unwrap_or_else(|| panic!("no layout signed by {signer}"));
        (layout, digest, chain)
    }
}

/// The odd CA's CRLs (DER files).
struct OddCrls {
    /// Number 1, nothing revoked.
    good: PathBuf,
    /// A delta over 1, numbered 2, revoking a serial no leaf has.
    delta_other: PathBuf,
    /// A delta over 1, numbered 3, revoking `o-plain`.
    delta_plain: PathBuf,
    /// ECDSA-SHA384 outside the signed part, ECDSA-SHA256 inside.
    other_outer_algorithm: PathBuf,
    /// Without a version (v1).
    v1: PathBuf,
}

/// A leaf of the odd CA: name, serial, subject and extensions (DER).
type OddLeaf = (&'static str, u64, Vec<Attr>, Vec<Vec<u8>>);

/// The odd CA's leaves, each with C=US, ST=WA first in its subject.
fn odd_leaves() -> Vec<OddLeaf> {
    let c_st: [Attr; 2] = [
        ("2.5.4.6", odd::PRINTABLE, b"US"),
        ("2.5.4.8", odd::UTF8, b"WA"),
    ];
    let o: Attr = ("2.5.4.10", odd::UTF8, b"Odd");
    let cn = |v: &'static [u8]| -> Attr { ("2.5.4.3", odd::UTF8, v) };
    let cdp = |names: &[(u8, &str)]| odd::ext("2.5.29.31", false, &odd::distribution_points(names));
    let with = |more: &[Attr]| [&c_st[..], more].concat();
    vec![
        (
            "o-plain",
            PLAIN_SERIAL,
            with(&[o, cn(b"plain")]),
            vec![cdp(&[(0x86, ODD_URL)])],
        ),
        (
            "o-twocn",
            102,
            with(&[o, cn(b"first"), cn(b"second")]),
            vec![],
        ),
        (
            "o-postal",
            103,
            with(&[o, ("2.5.4.17", odd::NUMERIC, b"98052"), cn(b"postal")]),
            vec![],
        ),
        (
            "o-amp",
            104,
            with(&[("2.5.4.10", odd::PRINTABLE, b"AT&T"), cn(b"amp")]),
            vec![],
        ),
        // "café" in T61String, which Go reads as Latin-1.
        (
            "o-t61",
            105,
            with(&[o, ("2.5.4.3", odd::T61, b"caf\xe9")]),
            vec![],
        ),
        // "Odd" in BMPString with a terminating NUL.
        (
            "o-bmp",
            106,
            with(&[("2.5.4.10", odd::BMP, &[0, b'O', 0, b'd', 0, b'd', 0, 0])]),
            vec![],
        ),
        (
            "o-email",
            107,
            with(&[
                o,
                cn(b"email"),
                ("1.2.840.113549.1.9.1", odd::IA5, b"a@b.example"),
            ]),
            vec![],
        ),
        // U+FFFD in UTF-8.
        (
            "o-fffd",
            108,
            with(&[("2.5.4.10", odd::UTF8, "\u{fffd}".as_bytes())]),
            vec![],
        ),
        (
            "o-https",
            109,
            with(&[o, cn(b"https")]),
            vec![cdp(&[(0x86, ODD_HTTPS_URL)])],
        ),
        (
            "o-upper",
            110,
            with(&[o, cn(b"upper")]),
            vec![cdp(&[(0x86, ODD_UPPER_URL)])],
        ),
        (
            "o-dns",
            111,
            with(&[o, cn(b"dns")]),
            vec![cdp(&[
                (0x82, "crl.odd.example"),
                (0x86, "http://crl.odd.example/missing.crl"),
            ])],
        ),
        (
            "o-fresh",
            112,
            with(&[o, cn(b"fresh")]),
            vec![
                cdp(&[(0x86, ODD_URL)]),
                odd::ext(
                    "2.5.29.46",
                    false,
                    &odd::distribution_points(&[(0x86, "http://crl.odd.example/delta.crl")]),
                ),
            ],
        ),
    ]
}

/// The odd CA in `dir` and its CRLs.
fn make_odd_ca(dir: &Path) -> (OddCa, OddCrls) {
    let ca = OddCa::new(dir);
    let crls = OddCrls {
        good: ca.plain_crl("good.crl", 1, &[]),
        delta_other: ca.delta_crl("delta-other.crl", 2, 1, &[999]),
        delta_plain: ca.delta_crl("delta-plain.crl", 3, 1, &[PLAIN_SERIAL]),
        other_outer_algorithm: ca.crl_with_other_outer_algorithm("other-outer.crl"),
        v1: ca.v1_crl("v1.crl"),
    };
    (ca, crls)
}

/// The odd CA's store, statement (any identity) and CRL on a host.
fn install_odd(site: &Site, ca: &OddCa, crls: &OddCrls) {
    let store = site.config().join("truststore/x509/ca/odd");
    fs::create_dir_all(&store).unwrap();
    fs::copy(&ca.root, store.join("odd-root.crt")).unwrap();
    add_statement(site, strict("odd", ODD_SCOPE, &["ca:odd"], &["*"]));
    cache_crl(site, ODD_URL, &crls.good);
}

fn policy_toml(dir: &Path, statements: &str) -> String {
    let path = dir.join("policy.toml");
    fs::write(&path, statements).unwrap();
    path.display().to_string()
}

fn build_world(n: &Notation) -> World {
    let build = tempfile::tempdir().unwrap();
    let a = Ceremony::new("diff-a");
    // A delegate that lives six seconds, signed at once and verified after it expired.
    a.delegate_with("short", "/C=US/ST=WA/O=Publisher/CN=short", "6s");
    let short_expired = Instant::now() + Duration::from_secs(8);
    let mut layouts = Vec::new();
    let mut sign = |who: &'static str, key: PathBuf, chain: PathBuf| {
        let dirs = Dirs::under(&build.path().join(format!("signer-{who}")));
        let layout = build.path().join(format!("layout-{who}"));
        let digest = notation::oci_layout(&layout, who);
        n.add_local_key(&dirs, who, &key, &chain);
        let (ok, text) = n.sign(&dirs, &[], &layout, &digest, who, "jws");
        assert!(ok, "notation sign by {who}: {text}");
        layouts.push((who, layout, digest, chain));
    };
    sign("short", a.hsm.dir().join("short.key"), a.chain("short"));
    for (name, cn) in [("held", "held"), ("inv", "inv")] {
        a.delegate_with(name, &format!("/C=US/ST=WA/O=Publisher/CN={cn}"), "1y");
    }
    let (successor, successor_uri) = a.successor();
    let successor_root = a.successor_issuer(&successor, &successor_uri);
    a.delegate_under(&successor_root, "n", SUCCESSOR_URL);
    let lineage = a.root_fingerprint();
    let future = "2099-01-01";
    let crl_a = a.crl(
        "a.crl",
        &[
            format!("{}:keyCompromise", a.serial("b")),
            format!("{}:certificateHold", a.serial("held")),
            format!("{}:keyCompromise:{future}", a.serial("inv")),
        ],
    );
    let successor_crl = a.crl_by(&successor_root, "successor.crl", &[], "30d");
    let policy_a = policy_toml(
        a.hsm.dir(),
        &format!(
            "[[statement]]\nname = \"prod\"\nregistry_scopes = [\"{A_SCOPE}\"]\nlevel = \"strict\"\ntrusted_identities = [\"{PUBLISHER}\"]\n"
        ),
    );
    let successor_arg = successor.display().to_string();
    let (ok, text, a_v1) = a.trust_bundle("a-1.bundle", 1, &["--policy", &policy_a]);
    assert!(ok, "{text}");
    let (ok, text, a_v2) = a.trust_bundle(
        "a-2.bundle",
        2,
        &[
            "--policy",
            &policy_a,
            "--add-root",
            &successor_arg,
            "--cosign",
            &successor_uri,
            "--crl-url",
            SUCCESSOR_URL,
        ],
    );
    assert!(ok, "{text}");
    let (ok, text, a_rev) = a.revocation_bundle_by(
        &successor_root,
        "a-rev-1.bundle",
        1,
        &[
            "--lineage",
            &lineage,
            "--crl",
            crl_a.to_str().unwrap(),
            "--crl-url",
            CRL_URL,
            "--crl",
            successor_crl.to_str().unwrap(),
            "--crl-url",
            SUCCESSOR_URL,
            "--crl-issuer",
            a.root.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    let after_overlap = a.bundle_path("a-3.bundle");
    run_ok(
        a.hsm
            .command()
            .args(["bundle", "trust", "--token", &successor_uri])
            .args(["--root-cert", &successor_arg, "--policy", &policy_a])
            .args(["--crl-url", CRL_URL, "--crl-url", SUCCESSOR_URL])
            .args([
                "--lineage",
                &lineage,
                "--version",
                "3",
                "--expires",
                "1y",
                "--out",
            ])
            .arg(&after_overlap),
    );

    let b = Ceremony::new("diff-b");
    b.delegate_under(&b.root_issuer(), "bx", B_URL);
    let b_crl = b.crl("b.crl", &[]);
    let policy_b = policy_toml(
        b.hsm.dir(),
        &format!(
            "[[statement]]\nname = \"b\"\nregistry_scopes = [\"{B_SCOPE}\"]\nlevel = \"strict\"\ntrusted_identities = [\"*\"]\n"
        ),
    );
    let (ok, text, b_v1) =
        b.trust_bundle_declaring("b-1.bundle", 1, &[B_URL], &["--policy", &policy_b]);
    assert!(ok, "{text}");
    let (ok, text, b_rev) = b.revocation_bundle_by(
        &b.root_issuer(),
        "b-rev-1.bundle",
        1,
        &["--crl", b_crl.to_str().unwrap(), "--crl-url", B_URL],
    );
    assert!(ok, "{text}");

    let site_ca = OpensslCa::new(
        &build.path().join("site-ca"),
        "/C=US/ST=WA/O=Site/CN=Site Root",
        SITE_URL,
    );
    let s_good = site_ca.leaf("s-good", "/C=US/ST=WA/O=Site/CN=s-good");
    let s_removed = site_ca.leaf("s-removed", "/C=US/ST=WA/O=Site/CN=s-removed");
    site_ca.revoke("s-removed", &["-crl_reason", "removeFromCRL"]);
    let site_crl = site_ca.crl("site.crl", &[]);
    let stale_crl = site_ca.crl(
        "stale.crl",
        &[
            "-crl_lastupdate",
            "20200101000000Z",
            "-crl_nextupdate",
            "20200201000000Z",
        ],
    );
    let tsa = OpensslCa::new(
        &build.path().join("tsa"),
        "/C=US/ST=WA/O=TSA/CN=TSA Root",
        "http://crl.tsa.example/tsa.crl",
    );

    let (odd_ca, odd_crls) = make_odd_ca(&build.path().join("odd-ca"));

    let base = Site::new();
    base.pin_with(&lineage, &["--scope", "registry.example/prod/"]);
    base.pin_with(&b.root_fingerprint(), &["--scope", "registry.example/b/"]);
    for bundle in [&a_v1, &a_v2, &a_rev, &b_v1, &b_rev] {
        let (ok, text) = base.install(bundle);
        assert!(ok, "{text}");
    }
    // The site's own CA, store, statement and CRL, beside keyrite's.
    let store = base.config().join("truststore/x509/ca/site");
    fs::create_dir_all(&store).unwrap();
    fs::copy(&site_ca.root, store.join("site-root.crt")).unwrap();
    edit_policy(&base, |doc| {
        doc["trustPolicies"].as_array_mut().unwrap().push(json!({
            "name": "site", "registryScopes": [SITE_SCOPE],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:site"], "trustedIdentities": ["*"],
        }))
    });
    cache_crl(&base, SITE_URL, &site_crl);
    install_odd(&base, &odd_ca, &odd_crls);

    for name in ["a", "b", "held", "inv", "n"] {
        let key = a.hsm.dir().join(format!("{name}.key"));
        sign(leak(name), key, a.chain(name));
    }
    sign("bx", b.hsm.dir().join("bx.key"), b.chain("bx"));
    sign("s-good", site_ca.key("s-good"), s_good);
    sign("s-removed", site_ca.key("s-removed"), s_removed);
    for (name, serial, subject, exts) in odd_leaves() {
        let chain = odd_ca.leaf(name, serial, &subject, &exts);
        sign(name, odd_ca.leaf_key_file.clone(), chain);
    }
    World {
        a,
        _b: b,
        short_expired,
        site_ca,
        after_overlap,
        b_crl,
        stale_crl,
        tsa_root: tsa.root.clone(),
        odd: odd_ca,
        odd_crls,
        base,
        layouts,
        _build: build,
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Rewrites a host's trustpolicy.json with `f`.
fn edit_policy(site: &Site, f: impl FnOnce(&mut Value)) {
    let path = site.config().join("trustpolicy.json");
    let mut doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    f(&mut doc);
    fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// The statement named `name` of the host's trust policy.
fn statement<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    doc["trustPolicies"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no statement {name}"))
}

/// Writes `crl` (DER) into the host's CRL cache for `url`, as notation would have.
fn cache_crl(site: &Site, url: &str, crl: &Path) {
    let path = site.crl_cache_path(url);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let entry = json!({"baseCRL": data_encoding::BASE64.encode(&fs::read(crl).unwrap())});
    fs::write(path, entry.to_string()).unwrap();
}

/// Writes a CRL cache entry for `url` with a base and a delta CRL.
fn cache_delta(site: &Site, url: &str, base: &Path, delta: &Path) {
    let path = site.crl_cache_path(url);
    let b64 = |p: &Path| data_encoding::BASE64.encode(&fs::read(p).unwrap());
    let entry = json!({"baseCRL": b64(base), "deltaCRL": b64(delta)});
    fs::write(path, entry.to_string()).unwrap();
}

/// Writes `text` where the policy holds the member `"@@raw": 0`: for what serde_json cannot
/// write (a repeated key, bytes that are not UTF-8).
fn splice_raw(site: &Site, text: &[u8]) {
    let path = site.config().join("trustpolicy.json");
    let doc = fs::read(&path).unwrap();
    let mark = b"\"@@raw\": 0";
    let at = doc.windows(mark.len()).position(|w| w == mark).unwrap();
    fs::write(&path, [&doc[..at], text, &doc[at + mark.len()..]].concat()).unwrap();
}

/// Appends raw members `text` to statement `name`.
fn raw_members(site: &Site, name: &str, text: &[u8]) {
    edit_policy(site, |d| statement(d, name)["@@raw"] = json!(0));
    splice_raw(site, text);
}

/// Adds a statement for another scope whose `signatureVerification` is the raw `text`.
fn raw_verification(site: &Site, text: &str) {
    add_statement(
        site,
        json!({"name": "mine", "registryScopes": [OTHER_SCOPE], "@@raw": 0,
        "trustStores": ["ca:site"], "trustedIdentities": ["*"]}),
    );
    splice_raw(site, text.as_bytes());
}

/// Sets the trusted identities of statement `name`.
fn identities(site: &Site, name: &str, ids: &[&str]) {
    edit_policy(site, |d| {
        statement(d, name)["trustedIdentities"] = json!(ids)
    });
}

/// Writes `text` as another certificate file of the site's store.
fn site_store_file(site: &Site, text: &str) {
    let path = site.config().join("truststore/x509/ca/site/extra.crt");
    fs::write(path, text).unwrap();
}

/// The keyrite store of lineage A on a host.
fn a_store(w: &World, site: &Site) -> PathBuf {
    site.config()
        .join("truststore/x509/ca")
        .join(format!("keyrite-{}", w.a.root_fingerprint()))
}

/// What a scenario does to its copy of the base host.
type Setup = Box<dyn Fn(&World, &Site)>;

/// One scenario: a name, the signer whose artifact is verified, the repository, and what is
/// done to a copy of the base host first.
struct Scenario {
    name: &'static str,
    signer: &'static str,
    scope: &'static str,
    setup: Setup,
}

fn scenario(
    name: &'static str,
    signer: &'static str,
    scope: &'static str,
    setup: impl Fn(&World, &Site) + 'static,
) -> Scenario {
    Scenario {
        name,
        signer,
        scope,
        setup: Box::new(setup),
    }
}

/// Adds the site's statement `s` (JSON) to the host's policy.
fn add_statement(site: &Site, s: Value) {
    edit_policy(site, |doc| {
        doc["trustPolicies"].as_array_mut().unwrap().push(s)
    });
}

fn strict(name: &str, scope: &str, stores: &[&str], ids: &[&str]) -> Value {
    json!({
        "name": name, "registryScopes": [scope],
        "signatureVerification": {"level": "strict"},
        "trustStores": stores, "trustedIdentities": ids,
    })
}

fn scenarios() -> Vec<Scenario> {
    let none = |_: &World, _: &Site| {};
    let mut s = vec![
        // What keyrite installed, as it is.
        scenario("delegate of the lineage", "a", A_SCOPE, none),
        scenario("revoked (keyCompromise)", "b", A_SCOPE, none),
        scenario("expired delegate", "short", A_SCOPE, none),
        scenario("revoked (certificateHold)", "held", A_SCOPE, none),
        scenario("revoked, invalidity date ahead", "inv", A_SCOPE, none),
        scenario("successor's delegate in the overlap", "n", A_SCOPE, none),
        scenario("second lineage", "bx", B_SCOPE, none),
        scenario("A's delegate under B's scope", "a", B_SCOPE, none),
        scenario("B's delegate under A's scope", "bx", A_SCOPE, none),
        scenario("site's own CA and statement", "s-good", SITE_SCOPE, none),
        scenario(
            "site CRL entry removeFromCRL",
            "s-removed",
            SITE_SCOPE,
            none,
        ),
        scenario("no statement for the scope", "a", OTHER_SCOPE, none),
    ];
    // Documents notation rejects whole (and one it accepts).
    s.extend([
        scenario("overlapping DNs in one statement", "a", A_SCOPE, |_, h| {
            add_statement(h, strict("mine", OTHER_SCOPE, &["ca:site"], &[PUBLISHER, "x509.subject: C=US, ST=WA, O=Publisher, CN=a"]))
        }),
        scenario("overlapping DNs across statements", "a", A_SCOPE, |_, h| {
            add_statement(h, strict("mine", OTHER_SCOPE, &["ca:site"], &["x509.subject: C=US, ST=WA, O=Publisher, CN=a"]))
        }),
        scenario("skip with an override", "a", A_SCOPE, |_, h| {
            add_statement(h, json!({"name": "mine", "registryScopes": [OTHER_SCOPE],
                "signatureVerification": {"level": "skip", "override": {"revocation": "log"}}}))
        }),
        scenario("malformed scope elsewhere", "a", A_SCOPE, |_, h| {
            add_statement(h, strict("mine", "registry.example/team/*", &["ca:site"], &["*"]))
        }),
        scenario("one scope in two statements", "a", A_SCOPE, |_, h| {
            add_statement(h, strict("mine", A_SCOPE, &["ca:site"], &["*"]))
        }),
        scenario("'*' beside another scope", "a", A_SCOPE, |_, h| {
            add_statement(h, json!({"name": "mine", "registryScopes": ["*", OTHER_SCOPE],
                "signatureVerification": {"level": "strict"}, "trustStores": ["ca:site"], "trustedIdentities": ["*"]}))
        }),
        scenario("two statements of one name", "a", A_SCOPE, |_, h| {
            add_statement(h, strict("prod", OTHER_SCOPE, &["ca:site"], &["*"]))
        }),
        scenario("identity with =#", "a", A_SCOPE, |_, h| {
            add_statement(h, strict("mine", OTHER_SCOPE, &["ca:site"], &["x509.subject: C=US, ST=WA, O=#0403414243"]))
        }),
        scenario("unknown trust store type", "a", A_SCOPE, |_, h| {
            add_statement(h, strict("mine", OTHER_SCOPE, &["foo:site"], &["*"]))
        }),
        scenario("integrity overridden", "a", A_SCOPE, |_, h| {
            add_statement(h, json!({"name": "mine", "registryScopes": [OTHER_SCOPE],
                "signatureVerification": {"level": "strict", "override": {"integrity": "log"}},
                "trustStores": ["ca:site"], "trustedIdentities": ["*"]}))
        }),
        scenario("document version 2.0", "a", A_SCOPE, |_, h| {
            edit_policy(h, |d| d["version"] = json!("2.0"))
        }),
    ]);
    // Levels and overrides.
    s.extend([
        scenario("permissive logs revocation", "b", A_SCOPE, |_, h| {
            edit_policy(h, |d| statement(d, "prod")["signatureVerification"] = json!({"level": "permissive"}))
        }),
        scenario("permissive logs expiry", "short", A_SCOPE, |_, h| {
            edit_policy(h, |d| statement(d, "prod")["signatureVerification"] = json!({"level": "permissive"}))
        }),
        scenario("audit logs authenticity", "bx", A_SCOPE, |_, h| {
            edit_policy(h, |d| statement(d, "prod")["signatureVerification"] = json!({"level": "audit"}))
        }),
        scenario("override revocation log", "b", A_SCOPE, |_, h| {
            edit_policy(h, |d| statement(d, "prod")["signatureVerification"]["override"] = json!({"revocation": "log"}))
        }),
        scenario("override revocation skip", "b", A_SCOPE, |_, h| {
            edit_policy(h, |d| statement(d, "prod")["signatureVerification"]["override"] = json!({"revocation": "skip"}))
        }),
        scenario("override authenticTimestamp log", "short", A_SCOPE, |_, h| {
            edit_policy(h, |d| statement(d, "prod")["signatureVerification"]["override"] = json!({"authenticTimestamp": "log"}))
        }),
        scenario("wildcard statement that skips", "a", OTHER_SCOPE, |_, h| {
            add_statement(h, json!({"name": "rest", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}))
        }),
        scenario("wildcard statement with A's store", "a", OTHER_SCOPE, |w, h| {
            let store = format!("ca:keyrite-{}", w.a.root_fingerprint());
            add_statement(h, strict("rest", "*", &[&store], &["*"]))
        }),
    ]);
    // Identities.
    s.extend([
        scenario("lower-case cn never matches", "a", A_SCOPE, |_, h| {
            edit_policy(h, |d| {
                statement(d, "prod")["trustedIdentities"] =
                    json!(["x509.subject: C=US, ST=WA, O=Publisher, cn=a"])
            })
        }),
        scenario("S is read as ST", "a", A_SCOPE, |_, h| {
            edit_policy(h, |d| {
                statement(d, "prod")["trustedIdentities"] =
                    json!(["x509.subject: C=US, S=WA, O=Publisher, CN=a"])
            })
        }),
        scenario("exact identity", "a", A_SCOPE, |_, h| {
            edit_policy(h, |d| {
                statement(d, "prod")["trustedIdentities"] =
                    json!(["x509.subject: C=US, ST=WA, O=Publisher, CN=a"])
            })
        }),
        scenario(
            "identity checked before revocation",
            "b",
            A_SCOPE,
            |_, h| {
                edit_policy(h, |d| {
                    statement(d, "prod")["trustedIdentities"] =
                        json!(["x509.subject: C=US, ST=WA, O=Publisher, CN=a"])
                })
            },
        ),
        scenario("another organisation", "a", A_SCOPE, |_, h| {
            edit_policy(h, |d| {
                statement(d, "prod")["trustedIdentities"] =
                    json!(["x509.subject: C=US, ST=WA, O=Other"])
            })
        }),
    ]);
    // Statements with TSA roots.
    let with_tsa = |rule: Option<&'static str>| {
        move |w: &World, h: &Site| {
            let dir = h.config().join("truststore/x509/tsa/sitetsa");
            fs::create_dir_all(&dir).unwrap();
            fs::copy(&w.tsa_root, dir.join("tsa.crt")).unwrap();
            edit_policy(h, |d| {
                let s = statement(d, "prod");
                s["trustStores"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("tsa:sitetsa"));
                if let Some(r) = rule {
                    s["signatureVerification"]["verifyTimestamp"] = json!(r);
                }
            })
        }
    };
    s.extend([
        scenario("tsa store, timestamp always", "a", A_SCOPE, with_tsa(None)),
        scenario(
            "tsa store, afterCertExpiry, valid",
            "a",
            A_SCOPE,
            with_tsa(Some("afterCertExpiry")),
        ),
        scenario(
            "tsa store, afterCertExpiry, expired",
            "short",
            A_SCOPE,
            with_tsa(Some("afterCertExpiry")),
        ),
        scenario(
            "missing tsa store, afterCertExpiry",
            "a",
            A_SCOPE,
            |_, h| {
                edit_policy(h, |d| {
                    let s = statement(d, "prod");
                    s["trustStores"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!("tsa:nowhere"));
                    s["signatureVerification"]["verifyTimestamp"] = json!("afterCertExpiry");
                })
            },
        ),
    ]);
    // Trust stores as notation reads them.
    s.extend([
        scenario("root as DER in the site store", "a", SITE_SCOPE, |w, h| {
            let der = h.config().join("truststore/x509/ca/site/a-root.der");
            run_ok(
                std::process::Command::new("openssl")
                    .args(["x509", "-outform", "DER", "-in"])
                    .arg(&w.a.root)
                    .arg("-out")
                    .arg(der),
            );
        }),
        scenario("two roots in one PEM file", "a", SITE_SCOPE, |w, h| {
            let both = [
                fs::read(&w.site_ca.root).unwrap(),
                fs::read(&w.a.root).unwrap(),
            ]
            .concat();
            fs::write(
                h.config().join("truststore/x509/ca/site/site-root.crt"),
                both,
            )
            .unwrap();
        }),
        scenario("a README in keyrite's store", "a", A_SCOPE, |w, h| {
            fs::write(a_store(w, h).join("README"), "roots of lineage A\n").unwrap();
        }),
        scenario(
            "a store the statement names is missing",
            "a",
            A_SCOPE,
            |_, h| {
                edit_policy(h, |d| {
                    statement(d, "prod")["trustStores"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!("ca:missing"))
                })
            },
        ),
        scenario(
            "root only in a signingAuthority store",
            "a",
            SITE_SCOPE,
            |w, h| {
                let dir = h.config().join("truststore/x509/signingAuthority/sa");
                fs::create_dir_all(&dir).unwrap();
                fs::copy(&w.a.root, dir.join("a.crt")).unwrap();
                edit_policy(h, |d| {
                    statement(d, "site")["trustStores"] = json!(["signingAuthority:sa"])
                })
            },
        ),
        scenario("a directory inside the store", "a", A_SCOPE, |w, h| {
            fs::create_dir(a_store(w, h).join("old")).unwrap();
        }),
        scenario("the store is a link", "a", SITE_SCOPE, |_, h| {
            let store = h.config().join("truststore/x509/ca/site");
            let real = h.config().join("site-store");
            fs::rename(&store, &real).unwrap();
            std::os::unix::fs::symlink(&real, &store).unwrap();
        }),
        scenario("only trustpolicy.oci.json", "a", A_SCOPE, |_, h| {
            let _ = fs::remove_file(h.config().join("trustpolicy.oci.json"));
            fs::rename(
                h.config().join("trustpolicy.json"),
                h.config().join("trustpolicy.oci.json"),
            )
            .unwrap();
        }),
    ]);
    // CRLs in the cache.
    s.extend([
        scenario("missing CRL", "a", A_SCOPE, |_, h| {
            fs::remove_file(h.crl_cache_path(CRL_URL)).unwrap();
        }),
        scenario("missing CRL, revocation logged", "a", A_SCOPE, |_, h| {
            fs::remove_file(h.crl_cache_path(CRL_URL)).unwrap();
            edit_policy(h, |d| {
                statement(d, "prod")["signatureVerification"]["override"] =
                    json!({"revocation": "log"})
            })
        }),
        scenario("stale CRL", "s-good", SITE_SCOPE, |w, h| {
            cache_crl(h, SITE_URL, &w.stale_crl)
        }),
        scenario(
            "another issuer's CRL under the URL",
            "a",
            A_SCOPE,
            |w, h| cache_crl(h, CRL_URL, &w.b_crl),
        ),
        scenario("a cache entry that is not one", "a", A_SCOPE, |_, h| {
            fs::write(h.crl_cache_path(CRL_URL), "{\"baseCRL\": 42}").unwrap();
        }),
    ]);
    s.extend(subject_scenarios());
    s.extend(json_scenarios());
    s.extend(store_scenarios());
    s.extend(crl_scenarios());
    // What notation checks first.
    s.extend([
        scenario("tsa store, revoked delegate", "b", A_SCOPE, with_tsa(None)),
        scenario("tsa store, missing CRL", "a", A_SCOPE, move |w, h| {
            with_tsa(None)(w, h);
            fs::remove_file(h.crl_cache_path(CRL_URL)).unwrap();
        }),
    ]);
    // Rotation: after the overlap the old root is gone.
    s.extend([
        scenario(
            "old root's delegate after the overlap",
            "a",
            A_SCOPE,
            |w, h| {
                let (ok, text) = h.install(&w.after_overlap);
                assert!(ok, "{text}");
            },
        ),
        scenario(
            "successor's delegate after the overlap",
            "n",
            A_SCOPE,
            |w, h| {
                let (ok, text) = h.install(&w.after_overlap);
                assert!(ok, "{text}");
            },
        ),
    ]);
    s
}

/// Trusted identities against subjects as Go renders them.
fn subject_scenarios() -> Vec<Scenario> {
    let odd_ids =
        |ids: &'static [&'static str]| move |_: &World, h: &Site| identities(h, "odd", ids);
    vec![
        scenario("OU= reads as absent and matches", "a", A_SCOPE, |_, h| {
            identities(h, "prod", &["x509.subject: C=US, ST=WA, O=Publisher, OU="])
        }),
        scenario("OU= makes identities overlap", "a", A_SCOPE, |_, h| {
            identities(
                h,
                "prod",
                &[
                    "x509.subject: C=US, ST=WA, O=Publisher, OU=",
                    "x509.subject: C=US, ST=WA, O=Publisher, CN=a",
                ],
            )
        }),
        scenario(
            "\\ff is a byte, not U+FFFD",
            "o-fffd",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=\\ff"]),
        ),
        scenario(
            "\\ef\\bf\\bd spells U+FFFD",
            "o-fffd",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=\\ef\\bf\\bd"]),
        ),
        scenario(
            "BMPString, its NUL dropped",
            "o-bmp",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=Odd"]),
        ),
        scenario(
            "BMPString, NUL not in the value",
            "o-bmp",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=Odd\\00"]),
        ),
        scenario(
            "two CNs, the last counts",
            "o-twocn",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=Odd, CN=second"]),
        ),
        scenario(
            "two CNs, the first does not",
            "o-twocn",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=Odd, CN=first"]),
        ),
        scenario(
            "NumericString postal code",
            "o-postal",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=Odd, POSTALCODE=98052"]),
        ),
        scenario(
            "PrintableString with &",
            "o-amp",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=AT&T"]),
        ),
        scenario(
            "T61String read as Latin-1",
            "o-t61",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=Odd, CN=café"]),
        ),
        scenario(
            "e-mail attribute in the subject",
            "o-email",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=Odd"]),
        ),
        scenario(
            "e-mail attribute under its OID",
            "o-email",
            ODD_SCOPE,
            odd_ids(&["x509.subject: C=US, ST=WA, O=Odd, 1.2.840.113549.1.9.1=a@b.example"]),
        ),
    ]
}

/// Policies as Go's JSON decoder reads them.
fn json_scenarios() -> Vec<Scenario> {
    let other = r#""trustedIdentities":["x509.subject: C=US, ST=WA, O=Other"]"#;
    vec![
        scenario("long s folds into a key", "a", A_SCOPE, move |_, h| {
            raw_members(
                h,
                "prod",
                other.replace("trusted", "tru\u{17f}ted").as_bytes(),
            )
        }),
        scenario("a key in another case, later", "a", A_SCOPE, move |_, h| {
            raw_members(h, "prod", other.replace("trusted", "TRUSTED").as_bytes())
        }),
        scenario("a repeated key, the last counts", "a", A_SCOPE, |_, h| {
            raw_verification(
                h,
                r#""signatureVerification":{"level":"loose","Level":"strict","level":"loose"}"#,
            )
        }),
        scenario(
            "signatureVerification twice merges",
            "a",
            A_SCOPE,
            |_, h| {
                raw_verification(
                    h,
                    r#""signatureVerification":{"level":"strict","override":{"integrity":"log"}},"signatureVerification":{"level":"strict"}"#,
                )
            },
        ),
        scenario("override twice merges", "a", A_SCOPE, |_, h| {
            raw_verification(
                h,
                r#""signatureVerification":{"level":"strict","override":{"integrity":"log"},"override":{"authenticity":"log"}}"#,
            )
        }),
        scenario("an array decoded over the last", "a", A_SCOPE, |_, h| {
            raw_members(h, "prod", br#""trustedIdentities":[null]"#)
        }),
        scenario("invalid UTF-8 in a string", "a", A_SCOPE, |_, h| {
            raw_members(h, "prod", b"\"note\":\"\xff\xfe\"")
        }),
        scenario("a lone surrogate escape", "a", A_SCOPE, |_, h| {
            raw_members(h, "prod", br#""note":"\ud800""#)
        }),
        scenario("a policy over 4 MiB", "a", A_SCOPE, |_, h| {
            let pad = format!(r#""note":"{}""#, "x".repeat(5 << 20));
            raw_members(h, "prod", pad.as_bytes())
        }),
        scenario("nesting 200 deep, unknown field", "a", A_SCOPE, |_, h| {
            let deep = format!(r#""note":{}{}"#, "[".repeat(200), "]".repeat(200));
            raw_members(h, "prod", deep.as_bytes())
        }),
    ]
}

/// Trust store files as Go's PEM decoder and certificate parser read them.
fn store_scenarios() -> Vec<Scenario> {
    let block = |before: &'static str, after: &'static str| {
        move |w: &World, h: &Site| {
            let body = w.odd.root_base64();
            site_store_file(
                h,
                &format!(
                    "{before}-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----{after}\n"
                ),
            )
        }
    };
    let odd_cert = |file: &'static str, serial: &'static [u8], cn: Attr| {
        move |w: &World, h: &Site| {
            let cert = w.odd.self_signed(file, serial, &[cn]);
            fs::copy(cert, h.config().join("truststore/x509/ca/site/odd.crt")).unwrap();
        }
    };
    vec![
        scenario(
            "PEM END line with text after",
            "s-good",
            SITE_SCOPE,
            block("", "junk"),
        ),
        scenario(
            "PEM BEGIN after text",
            "s-good",
            SITE_SCOPE,
            block("junk", ""),
        ),
        scenario(
            "PEM header inside the body",
            "s-good",
            SITE_SCOPE,
            |w, h| {
                let body = w.odd.root_base64().replacen('\n', "\nNote: hello\n", 1);
                site_store_file(
                    h,
                    &format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"),
                )
            },
        ),
        scenario(
            "PEM headers, CRLF, a broken block first",
            "s-good",
            SITE_SCOPE,
            |w, h| {
                let body = w.odd.root_base64().replace('\n', "\r\n");
                let broken = format!(
                    "-----BEGIN CERTIFICATE-----\r\n{body}\r\n-----END CERTIFICATE----- x\r\n"
                );
                let good = format!(
                    "-----BEGIN CERTIFICATE-----\r\nNote: hello\r\n{body}\r\n-----END CERTIFICATE-----  \r\n"
                );
                site_store_file(h, &(broken + &good))
            },
        ),
        scenario(
            "store cert, PrintableString with _",
            "s-good",
            SITE_SCOPE,
            odd_cert(
                "underscore.crt",
                &[0x4d],
                ("2.5.4.3", odd::PRINTABLE, b"odd_name"),
            ),
        ),
        scenario(
            "store cert, negative serial",
            "s-good",
            SITE_SCOPE,
            odd_cert(
                "negative.crt",
                &[0xff, 0x12, 0x34],
                ("2.5.4.3", odd::UTF8, b"neg"),
            ),
        ),
    ]
}

/// CRLs and cache entries as notation reads them.
fn crl_scenarios() -> Vec<Scenario> {
    let entry = |url: &'static str, text: fn(&str) -> String| {
        move |w: &World, h: &Site| {
            let b64 = data_encoding::BASE64.encode(&fs::read(&w.odd_crls.good).unwrap());
            let path = h.crl_cache_path(url);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text(&b64)).unwrap();
        }
    };
    vec![
        scenario(
            "delta CRL that copies the base",
            "o-plain",
            ODD_SCOPE,
            |w, h| cache_delta(h, ODD_URL, &w.odd_crls.good, &w.odd_crls.good),
        ),
        scenario(
            "delta CRL revokes the leaf",
            "o-plain",
            ODD_SCOPE,
            |w, h| cache_delta(h, ODD_URL, &w.odd_crls.good, &w.odd_crls.delta_plain),
        ),
        scenario(
            "freshest CRL, delta cached",
            "o-fresh",
            ODD_SCOPE,
            |w, h| cache_delta(h, ODD_URL, &w.odd_crls.good, &w.odd_crls.delta_other),
        ),
        scenario("freshest CRL, no delta", "o-fresh", ODD_SCOPE, |_, _| {}),
        scenario(
            "CRL outer algorithm differs",
            "o-plain",
            ODD_SCOPE,
            |w, h| cache_crl(h, ODD_URL, &w.odd_crls.other_outer_algorithm),
        ),
        scenario("v1 CRL", "o-plain", ODD_SCOPE, |w, h| {
            cache_crl(h, ODD_URL, &w.odd_crls.v1)
        }),
        scenario(
            "https:// CDP read from the cache",
            "o-https",
            ODD_SCOPE,
            entry(ODD_HTTPS_URL, |b| format!(r#"{{"baseCRL":"{b}"}}"#)),
        ),
        scenario(
            "HTTP:// CDP read from the cache",
            "o-upper",
            ODD_SCOPE,
            entry(ODD_UPPER_URL, |b| format!(r#"{{"baseCRL":"{b}"}}"#)),
        ),
        scenario(
            "a DNS name before the CRL URL",
            "o-dns",
            ODD_SCOPE,
            |_, _| {},
        ),
        scenario(
            "cache entry key BaseCRL",
            "o-plain",
            ODD_SCOPE,
            entry(ODD_URL, |b| format!(r#"{{"BaseCRL":"{b}"}}"#)),
        ),
        scenario(
            "cache entry base64 with \\n",
            "o-plain",
            ODD_SCOPE,
            entry(ODD_URL, |b| {
                let lines: Vec<String> = b
                    .as_bytes()
                    .chunks(64)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                format!(r#"{{"baseCRL":"{}"}}"#, lines.join("\\n"))
            }),
        ),
        scenario(
            "chain file with 76-column lines",
            "o-plain",
            ODD_SCOPE,
            |_, _| {},
        ),
    ]
}

fn check_word(code: i32) -> &'static str {
    match code {
        0 => "trusted",
        2 => "untrusted",
        3 => "expired",
        4 => "revoked",
        5 => "timestamp-required",
        _ => "error",
    }
}

#[test]
fn check_reaches_notations_verdict_in_every_scenario() {
    let Some(n) = notation::find("check_reaches_notations_verdict_in_every_scenario") else {
        return;
    };
    let w = build_world(&n);
    // The short-lived delegate must have expired before the scenarios run.
    std::thread::sleep(w.short_expired.saturating_duration_since(Instant::now()));
    let scenarios = scenarios();
    assert!(scenarios.len() >= 40, "{} scenarios", scenarios.len());
    let mut rows = Vec::new();
    for s in &scenarios {
        let host = w.base.duplicate();
        (s.setup)(&w, &host);
        let (layout, digest, chain) = w.signed(s.signer);
        let dirs = Dirs {
            config: host.config(),
            cache: host.cache(),
            libexec: host.state().join("libexec"),
        };
        let said = n.verify(&dirs, layout, digest, s.scope);
        let (code, text) = host.check(chain, &["--scope", s.scope]);
        rows.push((s.name, check_word(code), said.word, text, said.text));
    }
    println!(
        "{:<44} {:<20} {:<20}",
        "scenario", "keyrite-import check", "notation verify"
    );
    let mut disagreements = Vec::new();
    for (name, ours, theirs, text, said) in &rows {
        let mark = if ours == theirs { "" } else { "  <-- DISAGREE" };
        println!("{name:<44} {ours:<20} {theirs:<20}{mark}");
        if std::env::var_os("KEYRITE_DIFFERENTIAL_DETAIL").is_some() {
            let said = said
                .lines()
                .filter(|l| {
                    l.contains("level=error")
                        || l.starts_with("Error")
                        || l.starts_with("Successfully")
                        || l.starts_with("Trust policy")
                })
                .collect::<Vec<_>>()
                .join(" | ");
            println!("    check:    {}\n    notation: {said}", text.trim());
        }
        if ours != theirs {
            disagreements.push(format!("{name}:\n  check: {text}\n  notation: {said}"));
        }
    }
    println!(
        "{} scenarios, {} agree",
        rows.len(),
        rows.len() - disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
