//! Bundles made on a SoftHSM2 token and installed by keyrite-import into temporary notation
//! directories: trust, revocation, rotation to a successor root, and root revocation. OpenSSL's
//! CMS verifier accepts every bundle.

mod common;

use std::fs;
use std::process::Command;

use common::ceremony::{CRL_URL, Ceremony, Site, fingerprint};
use common::*;

/// The CDP URL the successor root's delegates carry.
const SUCCESSOR_CRL_URL: &str = "http://crl.example.com/successor.crl";

fn openssl_cms_verify(bundle: &std::path::Path, root: &std::path::Path) -> (bool, String) {
    run(Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in",
        ])
        .arg(bundle)
        .arg("-CAfile")
        .arg(root)
        .args(["-out", "/dev/null"]))
}

#[test]
fn trust_and_revocation_bundles_install_and_check_judges_chains() {
    let c = Ceremony::new("import-e2e");
    let crl = c.crl("root.crl", &[c.serial("b")]);
    let (ok, text, trust) = c.trust_bundle("trust-1.bundle", 1, &[]);
    assert!(ok, "{text}");
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    for b in [&trust, &revocation] {
        let (ok, text) = openssl_cms_verify(b, &c.root);
        assert!(ok && text.contains("Verification successful"), "{text}");
    }

    let site = Site::new();
    site.pin(&c.root_fingerprint());
    let (ok, text) = site.install(&trust);
    assert!(ok, "{text}");
    // Before the CRL is installed, a delegate with a CDP has an unknown revocation status.
    let (code, text) = site.check(&c.chain("a"), &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unknown"), "{text}");

    let (ok, text) = site.install(&revocation);
    assert!(ok, "{text}");
    let (code, text) = site.check(&c.chain("a"), &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("trusted"), "{text}");
    let (code, text) = site.check(&c.chain("b"), &[]);
    assert_eq!(code, 4, "{text}");
    assert!(
        text.starts_with("revoked") && text.contains(&c.serial("b").to_lowercase()),
        "{text}"
    );
    // Expiry is judged before revocation: b, revoked, is reported expired in 2040 too.
    for name in ["a", "b"] {
        let (code, text) = site.check(&c.chain(name), &["--at", "2040-01-01"]);
        assert_eq!(code, 3, "{name}: {text}");
        assert!(text.starts_with("expired"), "{name}: {text}");
    }

    // What notation reads: the root in a ca store, and the CRL under the SHA-256 of its URL.
    let lineage = c.root_fingerprint();
    let store = site
        .config()
        .join("truststore/x509/ca")
        .join(format!("keyrite-{lineage}"));
    let files: Vec<_> = fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(fingerprint(&files[0]), lineage);
    let entry = site.crl_cache_entry();
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
    let der = data_encoding::BASE64
        .decode(json["baseCRL"].as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(der, fs::read(&crl).unwrap());

    // status lists the lineage and exits 0; a threshold beyond the CRL's life makes it 2.
    let (code, text) = site.status(&[]);
    assert!(code == 0 && text.contains(&lineage), "{text}");
    let (code, text) = site.status(&["--threshold", "60"]);
    assert_eq!(code, 2, "{text}");
    // A file put into keyrite's trust store by hand shows up in status, until it is removed.
    let stray = store.join("stray.crt");
    fs::write(&stray, fs::read(&c.root).unwrap()).unwrap();
    let (code, text) = site.status(&[]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("by hand") && text.contains("stray.crt"),
        "{text}"
    );
    fs::remove_file(&stray).unwrap();
    let (code, text) = site.status(&[]);
    assert_eq!(code, 0, "{text}");

    // A CRL with 10 days left falls within the default 14-day threshold, not within 5 days.
    let short = c.crl_by(&c.root_issuer(), "root-short.crl", &[], "10d");
    let revocation_2 = c.revocation_bundle("revocation-2.bundle", &short, 2);
    let (ok, text) = site.install(&revocation_2);
    assert!(ok, "{text}");
    let (code, text) = site.status(&[]);
    assert_eq!(code, 2, "{text}");
    // 10 days less the seconds since the CRL was issued, in whole days.
    let days_left = |line: &str| {
        ["9", "10"]
            .iter()
            .any(|d| line.contains(&format!("expires in {d} days")))
    };
    for what in ["revocation bundle v2 of lineage", "the CRL of root"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("ATTENTION: {what}")))
            .unwrap_or_else(|| panic!("no ATTENTION line for {what}:\n{text}"));
        assert!(days_left(line), "{line}");
    }
    let (code, text) = site.status(&["--threshold", "5"]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("ATTENTION"), "{text}");

    // A hand edit shows up in status.
    fs::write(&files[0], b"tampered").unwrap();
    let (code, text) = site.status(&[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("changed by hand"), "{text}");

    let log = site.log();
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("\"event\":\"install\""))
            .count(),
        3,
        "{log:?}"
    );
}

#[test]
fn the_importer_behaves_the_same_without_any_network() {
    let c = Ceremony::new("import-netns");
    let crl = c.crl("root.crl", &[c.serial("b")]);
    let (ok, text, trust) = c.trust_bundle("trust-1.bundle", 1, &[]);
    assert!(ok, "{text}");
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    // `unshare -n` puts the importer in a new network namespace with only a down loopback.
    let netns = |args: &[&std::ffi::OsStr]| {
        let mut cmd = Command::new("unshare");
        cmd.arg("-n").arg(env!("CARGO_BIN_EXE_keyrite-import"));
        cmd.arg("--notation-config").arg(site.config());
        cmd.arg("--notation-cache").arg(site.cache());
        cmd.arg("--state").arg(site.state());
        cmd.args(args);
        cmd.output().expect("unshare")
    };
    let probe = run_ok(Command::new("unshare").args(["-n", "cat", "/proc/net/dev"]));
    assert_eq!(
        probe.lines().filter(|l| l.contains(':')).count(),
        1,
        "{probe}"
    );
    for b in [&trust, &revocation] {
        let out = netns(&["install".as_ref(), b.as_os_str()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let a = netns(&["check".as_ref(), c.chain("a").as_os_str()]);
    let b = netns(&["check".as_ref(), c.chain("b").as_os_str()]);
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(4)));
}

#[test]
fn rotation_overlaps_then_drops_the_old_root_and_root_revocation_installs_the_successor() {
    let c = Ceremony::new("import-rotation");
    let (successor, successor_uri) = c.successor();
    let lineage = c.root_fingerprint();
    let (ok, text, v1) = c.trust_bundle("trust-1.bundle", 1, &[]);
    assert!(ok, "{text}");
    let successor_arg = successor.display().to_string();
    // v2: both roots, signed by both, declaring both roots' CRL URLs.
    let (ok, text, v2) = c.trust_bundle_declaring(
        "trust-2.bundle",
        2,
        &[CRL_URL, SUCCESSOR_CRL_URL],
        &["--add-root", &successor_arg, "--cosign", &successor_uri],
    );
    assert!(ok, "{text}");
    // OpenSSL checks every SignerInfo: each signer's root must be in the CA file.
    let both = c.hsm.dir().join("both-roots.pem");
    fs::write(
        &both,
        [fs::read(&c.root).unwrap(), fs::read(&successor).unwrap()].concat(),
    )
    .unwrap();
    let (ok, text) = openssl_cms_verify(&v2, &both);
    assert!(ok, "{text}");
    let (ok, text) = openssl_cms_verify(&v2, &c.root);
    assert!(!ok, "{text}");
    // A successor added without its signature is refused by the importer.
    let (ok, text, unproven) = c.trust_bundle(
        "trust-2-unproven.bundle",
        2,
        &["--add-root", &successor_arg],
    );
    assert!(ok, "{text}");
    // v3: signed by the successor alone, carrying only it.
    let v3 = c.bundle_path("trust-3.bundle");
    run_ok(
        c.hsm
            .command()
            .args([
                "bundle",
                "trust",
                "--token",
                &successor_uri,
                "--root-cert",
                &successor_arg,
            ])
            .args([
                "--lineage",
                &lineage,
                "--version",
                "3",
                "--expires",
                "1y",
                "--out",
            ])
            .arg(&v3),
    );

    let site = Site::new();
    site.pin(&lineage);
    assert!(site.install(&v1).0);
    let before = site.snapshot();
    let (ok, text) = site.install(&unproven);
    assert!(!ok && text.contains("did not sign"), "{text}");
    assert_eq!(site.snapshot(), before);
    let (ok, text) = site.install(&v2);
    assert!(ok, "{text}");
    let store = site
        .config()
        .join("truststore/x509/ca")
        .join(format!("keyrite-{lineage}"));
    assert_eq!(fs::read_dir(&store).unwrap().count(), 2);

    // During the overlap each root has delegates and a CRL: one revocation bundle, signed by
    // the successor, carries both CRLs, each for its own CDP URL.
    let successor_root = c.successor_issuer(&successor, &successor_uri);
    c.delegate_under(&successor_root, "n", SUCCESSOR_CRL_URL);
    let successor_crl = c.crl_by(&successor_root, "successor.crl", &[c.serial("n")], "20d");
    let old_crl = c.crl("old.crl", &[c.serial("b")]);
    let (ok, text, revocation) = c.revocation_bundle_by(
        &successor_root,
        "revocation-1.bundle",
        1,
        &[
            "--lineage",
            &lineage,
            "--crl",
            old_crl.to_str().unwrap(),
            "--crl-url",
            CRL_URL,
            "--crl",
            successor_crl.to_str().unwrap(),
            "--crl-url",
            SUCCESSOR_CRL_URL,
            "--crl-issuer",
            c.root.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    let (ok, text) = site.install(&revocation);
    assert!(ok, "{text}");
    for (name, want) in [("a", 0), ("b", 4), ("n", 4)] {
        let (code, text) = site.check(&c.chain(name), &[]);
        assert_eq!(code, want, "{name}: {text}");
    }
    let (_, text) = site.check(&c.chain("n"), &[]);
    assert!(
        text.starts_with("revoked") && text.contains(&c.serial("n").to_lowercase()),
        "{text}"
    );
    for (url, crl) in [(CRL_URL, &old_crl), (SUCCESSOR_CRL_URL, &successor_crl)] {
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(site.crl_cache_path(url)).unwrap()).unwrap();
        let der = data_encoding::BASE64
            .decode(json["baseCRL"].as_str().unwrap().as_bytes())
            .unwrap();
        assert_eq!(der, fs::read(crl).unwrap(), "{url}");
    }
    // The bundle expires with the earlier CRL, the successor's (20 days against 30).
    let next_update = |crl: &std::path::Path| {
        let der = fs::read(crl).unwrap();
        <x509_cert::crl::CertificateList as der::Decode>::from_der(&der)
            .unwrap()
            .tbs_cert_list
            .next_update
            .unwrap()
            .to_date_time()
    };
    let earlier = next_update(&successor_crl);
    assert!(earlier < next_update(&old_crl));
    let payload = keyrite::bundle::Bundle::decode(&fs::read(&revocation).unwrap())
        .unwrap()
        .payload;
    assert_eq!(payload.expires_at, earlier.to_string());

    let (ok, text) = site.install(&v3);
    assert!(ok, "{text}");
    let left: Vec<_> = fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| fingerprint(&e.path()))
        .collect();
    assert_eq!(left, vec![fingerprint(&successor)]);
    // The old root's delegates are no longer trusted.
    let (code, text) = site.check(&c.chain("a"), &[]);
    assert_eq!(code, 2, "{text}");
    // And the old root can no longer speak for the lineage.
    let (ok, text, v4) = c.trust_bundle("trust-4.bundle", 4, &[]);
    assert!(ok, "{text}");
    let (ok, text) = site.install(&v4);
    assert!(!ok && text.contains("was dropped from lineage"), "{text}");

    // Root revocation: the current root signs a bundle that removes it and installs the successor.
    let (ok, text, revoke) = c.trust_bundle(
        "trust-2-revoke.bundle",
        2,
        &[
            "--add-root",
            &successor_arg,
            "--cosign",
            &successor_uri,
            "--retire-signing-root",
        ],
    );
    assert!(ok, "{text}");
    let other = Site::new();
    other.pin(&lineage);
    assert!(other.install(&v1).0);
    let (ok, text) = other.install(&revoke);
    assert!(ok, "{text}");
    let other_store = other
        .config()
        .join("truststore/x509/ca")
        .join(format!("keyrite-{lineage}"));
    let left: Vec<_> = fs::read_dir(&other_store)
        .unwrap()
        .flatten()
        .map(|e| fingerprint(&e.path()))
        .collect();
    assert_eq!(left, vec![fingerprint(&successor)]);
}

#[test]
fn the_example_bundles_pass_openssl_and_keyrite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles/examples");
    let root = dir.join("rehearsal-root.crt");
    for name in ["trust-v1.bundle", "revocation-v1.bundle"] {
        let bundle = dir.join(name);
        // The documented command, with -no_check_time as bundles/README.md says for an
        // example whose rehearsal root has since expired.
        let (ok, text) = run(Command::new("openssl")
            .args([
                "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
            ])
            .arg("-no_check_time")
            .arg("-in")
            .arg(&bundle)
            .arg("-CAfile")
            .arg(&root)
            .args(["-out", "/dev/null"]));
        assert!(
            ok && text.contains("Verification successful"),
            "{name}: {text}"
        );
        let decoded = keyrite::bundle::Bundle::read(&bundle).unwrap();
        assert_eq!(decoded.payload.lineage, fingerprint(&root), "{name}");
    }
}

#[test]
fn a_site_config_pins_roots_and_installs_read_only_into_every_target() {
    use std::os::unix::fs::PermissionsExt;
    let c = Ceremony::new("import-site");
    let (ok, text, trust) = c.trust_bundle("trust-1.bundle", 1, &[]);
    assert!(ok, "{text}");
    let dir = tempfile::tempdir().unwrap();
    let target = |n: &str| dir.path().join(n);
    let config = dir.path().join("site.toml");
    fs::write(
        &config,
        format!(
            "state = \"{}\"\n\n[[pin]]\nroot = \"{}\"\nscopes = [\"registry.example/\"]\n\n[[target]]\nnotation_config = \"{}\"\nnotation_cache = \"{}\"\n\n[[target]]\nnotation_config = \"{}\"\nnotation_cache = \"{}\"\n",
            target("state").display(),
            c.root_fingerprint(),
            target("builder/config").display(),
            target("builder/cache").display(),
            target("deploy/config").display(),
            target("deploy/cache").display(),
        ),
    )
    .unwrap();
    let import = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite-import"));
        cmd.arg("--config").arg(&config);
        cmd
    };
    let (ok, text) = run(import().arg("install").arg(&trust));
    assert!(ok, "{text}");
    let store = format!("truststore/x509/ca/keyrite-{}", c.root_fingerprint());
    for user in ["builder", "deploy"] {
        let files: Vec<_> = fs::read_dir(target(user).join("config").join(&store))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(files.len(), 1, "{user}");
        let mode = files[0].metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444, "{user}");
    }
    // Pins come only from the site config.
    let (ok, text) = run(import().args(["pin", &"00".repeat(32), "--scope", "*"]));
    assert!(!ok && text.contains("site config"), "{text}");
    // A config that pins nothing, or pins in the old form that bound no lineage and granted
    // no registry, is refused before anything is read.
    let targets = "[[target]]\nnotation_config = \"/tmp/c\"\nnotation_cache = \"/tmp/d\"\n";
    for (pins, says) in [
        ("", "pins no lineage"),
        ("pins = []\n", "write one [[pin]] table per lineage"),
        (
            "[[pin]]\nroot = \"00\"\nscopes = [\"*\"]\n",
            "pin root '00'",
        ),
    ] {
        fs::write(&config, format!("state = \"/tmp/x\"\n{pins}{targets}")).unwrap();
        let (ok, text) = run(import().arg("status"));
        assert!(!ok && text.contains(says), "{pins}: {text}");
    }
}

#[test]
fn tsa_roots_and_policy_statements_land_where_notation_reads_them() {
    let c = Ceremony::new("import-tsa");
    // A timestamping authority's root, made by OpenSSL.
    let tsa = c.hsm.dir().join("tsa-root.crt");
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-keyout"])
            .arg(c.hsm.dir().join("tsa.key"))
            .args([
                "-subj",
                "/C=US/O=Example TSA/CN=Example TSA Root",
                "-days",
                "365",
            ])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out"])
            .arg(&tsa),
    );
    let policy = c.hsm.dir().join("policy.toml");
    fs::write(
        &policy,
        r#"[[statement]]
name = "prod"
registry_scopes = ["registry.example/prod/app"]
level = "strict"
trusted_identities = ["x509.subject: C=US, ST=WA, O=Publisher, CN=a"]
revocation = "enforce"
"#,
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
    // The user's own statement stays beside keyrite's.
    fs::create_dir_all(site.config()).unwrap();
    fs::write(
        site.config().join("trustpolicy.json"),
        r#"{"version":"1.0","trustPolicies":[{"name":"mine","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}"#,
    )
    .unwrap();
    site.pin(&c.root_fingerprint());
    let (ok, text) = site.install(&trust);
    assert!(ok, "{text}");
    let store = format!("keyrite-{}", c.root_fingerprint());
    let tsa_dir = site.config().join("truststore/x509/tsa").join(&store);
    let files: Vec<_> = fs::read_dir(&tsa_dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    assert_eq!(fingerprint(&files[0].path()), fingerprint(&tsa));
    // Only the file the site has is written: a trustpolicy.oci.json made beside it would
    // hide later edits of trustpolicy.json from notation's next major.
    assert!(!site.config().join("trustpolicy.oci.json").exists());
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(site.config().join("trustpolicy.json")).unwrap()).unwrap();
    let list = doc["trustPolicies"].as_array().unwrap();
    assert_eq!(list[0]["name"], "mine", "{doc}");
    let ours = &list[1];
    assert_eq!(
        ours["trustStores"],
        serde_json::json!([format!("ca:{store}"), format!("tsa:{store}")])
    );
    assert_eq!(
        ours["signatureVerification"]["override"]["revocation"],
        "enforce"
    );
    // A statement that names no rule trusts the bundle's TSA roots under afterCertExpiry.
    assert_eq!(
        ours["signatureVerification"]["verifyTimestamp"],
        "afterCertExpiry"
    );
    let out = site.import().args(["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["lineages"][0]["trust"]["roots"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{status}"
    );
    assert_eq!(
        status["lineages"][0]["trust"]["policy"],
        serde_json::json!(["prod"])
    );
    assert_eq!(
        status["lineages"][0]["trust"]["statements"],
        serde_json::json!([{"name": "prod", "tsa_stores": [format!("tsa:{store}")], "verify_timestamp": "afterCertExpiry"}])
    );
    assert_eq!(status["problems"], serde_json::json!([]));
}

#[test]
fn check_with_a_scope_judges_by_the_statement_notation_applies() {
    let c = Ceremony::new("import-scope");
    let policy = c.hsm.dir().join("policy.toml");
    fs::write(
        &policy,
        r#"[[statement]]
name = "prod"
registry_scopes = ["registry.example/prod"]
level = "strict"
trusted_identities = ["x509.subject: C=US, ST=WA, O=Publisher, CN=a"]

[[statement]]
name = "dev"
registry_scopes = ["registry.example/dev"]
level = "permissive"
trusted_identities = ["*"]

[[statement]]
name = "audit"
registry_scopes = ["registry.example/audit"]
level = "audit"
trusted_identities = ["*"]
"#,
    )
    .unwrap();
    let policy_arg = policy.display().to_string();
    let (ok, text, trust) = c.trust_bundle("trust-1.bundle", 1, &["--policy", &policy_arg]);
    assert!(ok, "{text}");
    let crl = c.crl("root.crl", &[c.serial("b")]);
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let site = Site::new();
    // Pinned by the words the root ceremony wrote down, as a site's officer reads them out.
    let record = fs::read_to_string(c.root.with_file_name("root.fingerprint")).unwrap();
    let words: Vec<&str> = record
        .lines()
        .find_map(|l| l.strip_prefix("words: "))
        .unwrap()
        .split(' ')
        .collect();
    assert_eq!(words.len(), 32, "{record}");
    let (ok, text) = run(site
        .import()
        .arg("pin")
        .args(&words)
        .args(["--scope", "registry.example/"]));
    assert!(ok && text.contains(&c.root_fingerprint()), "{text}");
    // A word from the wrong list (an even word in an odd place, as when one is skipped or
    // two are swapped) is refused.
    let mut typo = words.clone();
    typo[5] = "aardvark";
    let (ok, text) = run(site
        .import()
        .arg("pin")
        .args(&typo)
        .args(["--scope", "registry.example/"]));
    assert!(!ok && !text.contains("Pinned"), "{text}");
    // The user's own statement, which keyrite's are merged beside.
    fs::create_dir_all(site.config()).unwrap();
    fs::write(
        site.config().join("trustpolicy.json"),
        r#"{"version":"1.0","trustPolicies":[{"name":"legacy","registryScopes":["registry.example/legacy"],"signatureVerification":{"level":"skip"}}]}"#,
    )
    .unwrap();
    for b in [&trust, &revocation] {
        let (ok, text) = site.install(b);
        assert!(ok, "{text}");
    }
    let (a, b) = (c.chain("a"), c.chain("b"));
    let scope = |s: &'static str| ["--scope", s];

    // strict, identity CN=a: a is trusted; b is not a trusted identity, which notation finds
    // before it asks about revocation.
    let (code, text) = site.check(&a, &scope("registry.example/prod"));
    assert_eq!(code, 0, "{text}");
    let (code, text) = site.check(&b, &scope("registry.example/prod"));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("none of the trusted identities"), "{text}");
    let (code, text) = site.check(
        &a,
        &[&["--at", "2040-01-01"][..], &scope("registry.example/prod")].concat(),
    );
    assert_eq!(code, 3, "{text}");

    // permissive: validity and revocation are only logged.
    let (code, text) = site.check(&b, &scope("registry.example/dev"));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("only logs") && text.contains("revoked"),
        "{text}"
    );
    let (code, text) = site.check(
        &a,
        &[&["--at", "2040-01-01"][..], &scope("registry.example/dev")].concat(),
    );
    // Trusted by notation's rules; but by 2040 the trust bundle itself has expired, which
    // check says apart.
    assert_eq!(code, 6, "{text}");
    assert!(
        text.starts_with("trusted") && text.contains("ATTENTION") && text.contains("expired"),
        "{text}"
    );
    // Without a scope every check is enforced: b is revoked.
    let (code, text) = site.check(&b, &[]);
    assert_eq!(code, 4, "{text}");

    // skip: nothing is checked; no statement: nothing verifies.
    let (code, text) = site.check(&b, &scope("registry.example/legacy"));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("skips verification"), "{text}");
    let (code, text) = site.check(&a, &scope("other.example/app"));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no trust policy statement applies"), "{text}");
    // A reference with a tag or digest is not a scope.
    for reference in [
        "registry.example/prod:v1",
        "registry.example/prod@sha256:00",
    ] {
        let (code, text) = site.check(&a, &scope(reference));
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("without a tag or digest"), "{text}");
    }
    // Integrity is enforced at every level: a chain that does not link up is untrusted even
    // where the policy only logs authenticity.
    let broken = c.hsm.dir().join("broken.pem");
    let leaf_of = |chain: &std::path::Path| {
        let pem = fs::read_to_string(chain).unwrap();
        let end = pem.find("-----END CERTIFICATE-----").unwrap() + 26;
        pem[..end].to_owned()
    };
    fs::write(&broken, leaf_of(&a) + &leaf_of(&b)).unwrap();
    for s in ["registry.example/dev", "registry.example/audit"] {
        let (code, text) = site.check(&broken, &scope(s));
        assert_eq!(code, 2, "{s}: {text}");
        assert!(
            text.contains("is not issued by the next one"),
            "{s}: {text}"
        );
    }
    // audit logs authenticity: a chain whose root is in no trust store of the statement is
    // reported, not refused; strict refuses it.
    let foreign = Ceremony::new("import-scope-foreign");
    let (code, text) = site.check(&foreign.chain("a"), &scope("registry.example/audit"));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("only logs") && text.contains("trust stores"),
        "{text}"
    );
    let (code, text) = site.check(&foreign.chain("a"), &scope("registry.example/prod"));
    assert_eq!(code, 2, "{text}");
}

#[test]
fn the_contrib_enforce_units_pass_systemd_analyze() {
    let contrib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "keyrite-import-enforce.service",
        "keyrite-import-enforce.timer",
    ] {
        // The unit as installed, with ExecStart naming the binary built here.
        let text = fs::read_to_string(contrib.join(name)).unwrap().replace(
            "/usr/local/bin/keyrite-import",
            env!("CARGO_BIN_EXE_keyrite-import"),
        );
        fs::write(dir.path().join(name), text).unwrap();
    }
    let (ok, text) = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("keyrite-import-enforce.service"))
        .arg(dir.path().join("keyrite-import-enforce.timer")));
    assert!(ok && text.trim().is_empty(), "{text}");
}
