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

    for name in ["a", "b", "held", "inv", "n"] {
        let key = a.hsm.dir().join(format!("{name}.key"));
        sign(leak(name), key, a.chain(name));
    }
    sign("bx", b.hsm.dir().join("bx.key"), b.chain("bx"));
    sign("s-good", site_ca.key("s-good"), s_good);
    sign("s-removed", site_ca.key("s-removed"), s_removed);
    World {
        a,
        _b: b,
        short_expired,
        site_ca,
        after_overlap,
        b_crl,
        stale_crl,
        tsa_root: tsa.root.clone(),
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
