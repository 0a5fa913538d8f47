//! What keyrite writes is what notation accepts: the ceremony refuses to sign a policy
//! statement notation would reject or that could never match, the importer refuses a merge
//! that would leave a trust policy notation rejects, a TSA root notation accepts is accepted,
//! and a host restored under other paths keeps working.

mod common;

use std::fs;
use std::process::Command;

use common::ceremony::{Ceremony, Site};
use common::*;

fn statement(scopes: &str, identities: &str) -> String {
    format!(
        "[[statement]]\nname = \"prod\"\nregistry_scopes = {scopes}\nlevel = \"strict\"\ntrusted_identities = {identities}\n"
    )
}

#[test]
fn the_ceremony_refuses_statements_notation_would_reject_or_never_match() {
    let c = Ceremony::new("rules-make");
    let ok_scope = r#"["registry.example/prod/app"]"#;
    let cases = [
        (
            statement(
                ok_scope,
                r#"["x509.subject: C=US, ST=WA, O=Publisher, cn=a"]"#,
            ),
            "names cn, which no certificate subject carries",
        ),
        (
            statement(
                ok_scope,
                r#"["x509.subject: C=US, ST=WA, O=Publisher, E=a@example.com"]"#,
            ),
            "names E, which no certificate subject carries",
        ),
        (
            statement(
                ok_scope,
                r#"["x509.subject: C=US, ST=WA, O=Publisher", "x509.subject: C=US, ST=WA, O=Publisher, CN=a"]"#,
            ),
            "overlap",
        ),
        (
            statement(ok_scope, r#"["x509.subject: C=US, O=Publisher, CN=a"]"#),
            "has no ST",
        ),
        (
            statement(ok_scope, r#"["x509.subject: C=US, ST=WA, O=#0403414243"]"#),
            "=#",
        ),
        (
            statement(ok_scope, r#"["x509.subject: C=US+ST=WA, O=Publisher"]"#),
            "multi-valued RDN",
        ),
        (
            statement(r#"["registry.example/team/*"]"#, r#"["*"]"#),
            "has a wildcard",
        ),
        (
            statement(r#"["registry.example/app:v1"]"#, r#"["*"]"#),
            "is not a fully qualified repository",
        ),
        (
            statement(r#"["*", "registry.example/app"]"#, r#"["*"]"#),
            "'*' must be the statement's only scope",
        ),
        (
            statement(
                ok_scope,
                r#"["*", "x509.subject: C=US, ST=WA, O=Publisher"]"#,
            ),
            "'*' must be the only trusted identity",
        ),
    ];
    for (i, (toml, says)) in cases.iter().enumerate() {
        let policy = c.hsm.dir().join(format!("policy-{i}.toml"));
        fs::write(&policy, toml).unwrap();
        let name = format!("trust-{i}.bundle");
        let (ok, text, out) = c.trust_bundle(&name, 1, &["--policy", policy.to_str().unwrap()]);
        assert!(!ok && text.contains(says), "{toml}\n{text}");
        assert!(!out.exists(), "{name} was written");
    }
    // The same statement with an identity notation can match is signed.
    let policy = c.hsm.dir().join("policy-good.toml");
    fs::write(
        &policy,
        statement(ok_scope, r#"["x509.subject: C=US, S=WA, O=Publisher"]"#),
    )
    .unwrap();
    let (ok, text, _) = c.trust_bundle(
        "trust-good.bundle",
        1,
        &["--policy", policy.to_str().unwrap()],
    );
    assert!(ok, "{text}");
}

#[test]
fn a_merge_notation_would_reject_is_refused_before_anything_is_written() {
    let c = Ceremony::new("rules-merge");
    let policy = c.hsm.dir().join("policy.toml");
    fs::write(
        &policy,
        statement(
            r#"["registry.example/prod/app"]"#,
            r#"["x509.subject: C=US, ST=WA, O=Publisher"]"#,
        ),
    )
    .unwrap();
    let (ok, text, trust) =
        c.trust_bundle("trust-1.bundle", 1, &["--policy", policy.to_str().unwrap()]);
    assert!(ok, "{text}");
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    fs::create_dir_all(site.config()).unwrap();
    let user = |s: &str| {
        fs::write(
            site.config().join("trustpolicy.json"),
            format!(r#"{{"version":"1.0","trustPolicies":[{s}]}}"#),
        )
        .unwrap()
    };
    let mine = |scope: &str, ids: &str| {
        format!(
            r#"{{"name":"mine","registryScopes":["{scope}"],"signatureVerification":{{"level":"strict"}},"trustStores":["ca:mine"],"trustedIdentities":{ids}}}"#
        )
    };
    for (doc, says) in [
        // The site's own statement already breaks a rule: notation rejects the document whole.
        (
            mine(
                "registry.example/mine",
                r#"["x509.subject: C=US, ST=WA, O=A", "x509.subject: C=US, ST=WA, O=A, CN=B"]"#,
            ),
            "overlap",
        ),
        (mine("registry.example/team/*", r#"["*"]"#), "wildcard"),
        // The merge would put one scope in two statements.
        (
            mine("registry.example/prod/app", r#"["*"]"#),
            "already covers",
        ),
    ] {
        user(&doc);
        let before = site.snapshot();
        let (ok, text) = site.install(&trust);
        assert!(!ok && text.contains(says), "{doc}\n{text}");
        assert_eq!(site.snapshot(), before, "{doc}: the refusal changed files");
    }
    // Beside a statement notation accepts, the bundle installs.
    user(&mine(
        "registry.example/mine",
        r#"["x509.subject: C=US, ST=WA, O=Publisher, CN=a"]"#,
    ));
    let (ok, text) = site.install(&trust);
    assert!(ok, "{text}");
}

#[test]
fn a_tsa_root_on_p384_signed_with_sha256_is_accepted() {
    let c = Ceremony::new("rules-tsa");
    let tsa = c.hsm.dir().join("tsa-384.crt");
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
            ])
            .args(["-sha256", "-nodes", "-keyout"])
            .arg(c.hsm.dir().join("tsa-384.key"))
            .args([
                "-subj",
                "/C=US/O=Example TSA/CN=TSA Root P-384",
                "-days",
                "365",
            ])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out"])
            .arg(&tsa),
    );
    let text = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&tsa),
    );
    assert!(
        text.contains("ecdsa-with-SHA256") && text.contains("P-384"),
        "{text}"
    );
    let policy = c.hsm.dir().join("policy.toml");
    fs::write(
        &policy,
        "[[statement]]\nname = \"prod\"\nregistry_scopes = [\"registry.example/prod/app\"]\n\
         level = \"strict\"\ntrusted_identities = [\"*\"]\n",
    )
    .unwrap();
    let (ok, text, trust) = c.trust_bundle(
        "trust-1.bundle",
        1,
        &[
            "--tsa-root",
            tsa.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    let (ok, text) = site.install(&trust);
    assert!(ok, "{text}");
}

/// A TSA certificate notation's tsa store could not end a timestamp's chain in is refused at
/// the ceremony, naming the rule, and no bundle is written.
#[test]
fn a_tsa_root_notation_would_not_use_is_refused_at_the_ceremony() {
    let c = Ceremony::new("rules-tsa-refused");
    let dir = c.hsm.dir().join("tsa-refused");
    fs::create_dir_all(&dir).unwrap();
    let make = |name: &str, key: &[&str], digest: &str, extensions: &[&str]| {
        let out = dir.join(format!("{name}.crt"));
        let mut cmd = Command::new("openssl");
        cmd.args(["req", "-x509", "-newkey"])
            .args(key)
            .args(["-nodes", digest, "-keyout"])
            .arg(dir.join(format!("{name}.key")))
            .args([
                "-subj",
                &format!("/C=US/O=Example TSA/CN={name}"),
                "-days",
                "30",
            ]);
        for e in extensions {
            cmd.args(["-addext", e]);
        }
        run_ok(cmd.arg("-out").arg(&out));
        out
    };
    let ca = [
        "basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    let cases = [
        (
            make(
                "tsa-signer",
                &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                "-sha256",
                &[
                    "basicConstraints=critical,CA:FALSE",
                    "keyUsage=critical,digitalSignature",
                    "extendedKeyUsage=critical,timeStamping",
                ],
            ),
            "it is a TSA's timestamping certificate, not its root",
        ),
        (
            make(
                "no-key-usage",
                &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                "-sha256",
                &["basicConstraints=critical,CA:TRUE"],
            ),
            "is not a CA certificate",
        ),
        (make("rsa-1024", &["rsa:1024"], "-sha256", &ca), "1024"),
        (make("sha1", &["rsa:2048"], "-sha1", &ca), "SHA-1 with RSA"),
    ];
    for (cert, says) in &cases {
        let (ok, text, bundle) = c.trust_bundle(
            "trust-tsa.bundle",
            1,
            &["--tsa-root", cert.to_str().unwrap()],
        );
        assert!(!ok, "{}: {text}", cert.display());
        assert!(
            text.contains(says) && text.contains("tsa store"),
            "{}: {text}",
            cert.display()
        );
        assert!(!bundle.exists(), "{}: a bundle was written", cert.display());
    }
}

#[test]
fn a_host_restored_under_other_paths_keeps_working() {
    let c = Ceremony::new("rules-restore");
    let (ok, text, v1) = c.trust_bundle("trust-1.bundle", 1, &[]);
    assert!(ok, "{text}");
    let (ok, text, v2) = c.trust_bundle("trust-2.bundle", 2, &[]);
    assert!(ok, "{text}");
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    let (ok, text) = site.install(&v1);
    assert!(ok, "{text}");
    // Restored from a backup under other paths: status finds nothing changed by hand, and the
    // next bundle installs.
    let restored = site.duplicate();
    let (code, text) = restored.status(&[]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("by hand"), "{text}");
    let (ok, text) = restored.install(&v2);
    assert!(ok, "{text}");

    // A record of format 1 (absolute paths) is read with its paths made relative.
    let legacy = site.duplicate();
    let record = legacy.state().join("installed.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&record).unwrap()).unwrap();
    doc["version"] = 1.into();
    let config = legacy.config().display().to_string();
    let files: serde_json::Map<String, serde_json::Value> = doc["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                format!("{config}/{}", k.trim_start_matches("config/")),
                v.clone(),
            )
        })
        .collect();
    doc["files"] = files.into();
    doc["policy_files"] = serde_json::json!([]);
    fs::write(&record, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (code, text) = legacy.status(&[]);
    assert_eq!(code, 0, "{text}");
    let (ok, text) = legacy.install(&v2);
    assert!(ok, "{text}");
}
