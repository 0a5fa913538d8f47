//! Trust bundles at the ceremony. Ceremony scripts run by the engine against SoftHSM2 tokens:
//! a vendor's root the site vouches for, its fingerprint shown and its CRL carried; a lineage's
//! TSA root, its timestamping certificate checked and each statement's timestamp rule shown to
//! the officers before the root signs, then written into a host's trust policy. And `keyrite
//! bundle trust` refusing a TSA certificate notation would refuse, or a timestamp rule the
//! bundle cannot keep, each with nothing written.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Token;
use common::ceremony::{Ceremony, Site, openssl_csr};
use common::script_env::{Env, step_entries, step_field, verify};
use keyrite::fingerprint::Fingerprint;

/// A ceremony script `name` that creates a test root, then runs `steps` (`[[step]]` tables).
fn script_after_root(name: &str, steps: &str) -> String {
    format!(
        r#"name = "{name}"
title = "A test ceremony"
[roles]
administrator = "Ceremony administrator"
[parameters]
crl_url = "http://crl.example.internal/root.crl"
[[step]]
title = "Create the root"
instruction = "Read the words."
action = "root-create"
confirm = ["administrator"]
with = {{ subject = "C=US,ST=WA,O=Example,CN={name}", algorithm = "p256", validity = "1y", below_minimum = "a test root" }}
{steps}"#
    )
}

#[test]
fn a_ceremony_vouches_for_a_vendor_root_showing_its_fingerprint_and_carries_its_crl() {
    use common::openssl_ca::OpensslCa;
    const VENDOR_URL: &str = "http://crl.vendor.example/root.crl";
    let env = Env::new(&[]);
    let _in_process = env.enter();
    let vendor = OpensslCa::new(
        &env.hsm.dir().join("vendor"),
        "/C=US/ST=WA/O=Vendor/CN=Vendor Root",
        VENDOR_URL,
    );
    let chain = vendor.leaf("app", "/C=US/ST=WA/O=Vendor/CN=Vendor App");
    let vendor_crl = vendor.crl("vendor.crl", &[]);
    let csr = openssl_csr(
        env.hsm.dir(),
        "publisher",
        "/C=US/ST=WA/O=Publisher/CN=release",
    );
    let file = env.hsm.dir().join("vendor.toml");
    fs::write(
        &file,
        script_after_root(
            "vendor-roots",
            &format!(
                r#"[[step]]
title = "Delegate"
instruction = "Sign."
action = "delegate-issue"
confirm = ["administrator"]
with = {{ name = "publisher", profile = "signing", delegate_validity = "30d" }}
[[step]]
title = "CRL"
instruction = "Sign."
action = "crl-issue"
confirm = ["administrator"]
with = {{ crl_next_update = "30d" }}
[[step]]
title = "Trust bundle"
instruction = "Compare the vendor's fingerprint with what it published."
action = "bundle-trust"
confirm = ["administrator"]
with = {{ trust_version = 1, trust_expires = "90d", third_parties = [{{ name = "acme", root = "acme.pem", scopes = ["registry.example/vendor/app"], crl_urls = ["{VENDOR_URL}"] }}] }}
[[step]]
title = "Revocation bundle"
instruction = "Sign."
action = "bundle-revocation"
confirm = ["administrator"]
with = {{ revocation_version = 1, third_party_crls = [{{ name = "acme", crl = "acme.crl", root = "acme.pem", urls = ["{VENDOR_URL}"] }}] }}
"#
            ),
        ),
    )
    .unwrap();
    let out = env.run_script(
        "vendor",
        &file,
        "",
        &[
            ("acme.pem", &fs::read(&vendor.root).unwrap()),
            ("acme.crl", &fs::read(&vendor_crl).unwrap()),
            ("publisher.csr", &fs::read(&csr).unwrap()),
        ],
    );
    let root = out.join("01-root-create/root.crt");
    verify(&out, &root);
    let steps = step_entries(&out);
    let fp = common::ceremony::fingerprint(&vendor.root);
    let words = Fingerprint::parse(&fp).unwrap().words_block();
    let shown: String = step_field(&steps, "shown")[3]
        .iter()
        .map(|l| format!("{}\n", l.as_str().unwrap()))
        .collect();
    assert!(shown.contains("third party 'acme' root"), "{shown}");
    assert!(shown.contains(&fp), "{shown}");
    for line in words.lines() {
        assert!(shown.contains(line.trim()), "{line}: {shown}");
    }
    let inputs = format!("{:?}", step_field(&steps, "inputs")[3]);
    assert!(inputs.contains("third-party-root"), "{inputs}");

    let site = Site::new();
    site.pin_with(
        &common::ceremony::fingerprint(&root),
        &["--scope", "registry.example/"],
    );
    for bundle in [
        out.join("04-bundle-trust/trust-v1.bundle"),
        out.join("05-bundle-revocation/revocation-v1.bundle"),
    ] {
        let (ok, text) = site.install(&bundle);
        assert!(ok, "{}: {text}", bundle.display());
    }
    let (code, text) = site.check(&chain, &["--scope", "registry.example/vendor/app"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn a_ceremony_shows_each_statements_timestamp_rule_and_checks_the_tsa_before_the_root_signs() {
    let env = Env::new(&[]);
    let _in_process = env.enter();
    let tsa = common::tsa::Tsa::prepare(&env.hsm.dir().join("tsa"));
    let file = env.hsm.dir().join("tsa.toml");
    fs::write(
        &file,
        script_after_root(
            "tsa-roots",
            r#"[[step]]
title = "Trust bundle"
instruction = "Read each statement's timestamp rule."
action = "bundle-trust"
confirm = ["administrator"]
with = { trust_version = 1, trust_expires = "90d", policy = "policy.toml", tsa_roots = ["tsa-root.pem"], tsa_certs = ["tsa.pem"] }
"#,
        ),
    )
    .unwrap();
    let policy = "[[statement]]\nname = \"prod\"\nregistry_scopes = [\"registry.example/prod/app\"]\n\
                  level = \"strict\"\ntrusted_identities = [\"*\"]\nverify_timestamp = \"always\"\n\
                  [[statement]]\nname = \"dev\"\nregistry_scopes = [\"registry.example/dev/app\"]\n\
                  level = \"strict\"\ntrusted_identities = [\"*\"]\n";
    let out = env.run_script(
        "tsa",
        &file,
        "",
        &[
            ("policy.toml", policy.as_bytes()),
            ("tsa-root.pem", &fs::read(&tsa.root).unwrap()),
            ("tsa.pem", &fs::read(&tsa.signer).unwrap()),
        ],
    );
    let root = out.join("01-root-create/root.crt");
    verify(&out, &root);
    let steps = step_entries(&out);
    let shown: String = step_field(&steps, "shown")[1]
        .iter()
        .map(|l| format!("{}\n", l.as_str().unwrap()))
        .collect();
    let statement = |name: &str| {
        let at = shown
            .find(&format!("statement '{name}'"))
            .unwrap_or_else(|| panic!("{name}: {shown}"));
        shown[at..].lines().nth(1).unwrap_or_default().to_owned()
    };
    assert!(
        statement("prod")
            .contains("timestamps: verifyTimestamp always: every signature must carry"),
        "{shown}"
    );
    assert!(
        statement("dev").contains("timestamps: verifyTimestamp afterCertExpiry: a signature needs"),
        "{shown}"
    );
    assert!(shown.contains("timestamping root tsa/"), "{shown}");
    assert!(
        shown.contains("TSA certificate C=US, O=Test TSA, CN=Test TSA, valid until ")
            && shown.contains(
                "meets notation's rules and chains to timestamping root C=US, O=Test TSA, CN=Test TSA Root"
            ),
        "{shown}"
    );
    assert!(
        shown.contains(
            "statement 'dev' names no verify_timestamp, so it gets keyrite's default, afterCertExpiry"
        ) && !shown.contains("statement 'prod' names no verify_timestamp"),
        "{shown}"
    );
    let inputs = format!("{:?}", step_field(&steps, "inputs")[1]);
    assert!(
        inputs.contains("\"tsa-root\"") && inputs.contains("\"tsa-cert\""),
        "{inputs}"
    );

    let site = Site::new();
    site.pin_with(
        &common::ceremony::fingerprint(&root),
        &["--scope", "registry.example/"],
    );
    let (ok, text) = site.install(&out.join("02-bundle-trust/trust-v1.bundle"));
    assert!(ok, "{text}");
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(site.config().join("trustpolicy.json")).unwrap()).unwrap();
    let rules: Vec<(&str, &str)> = doc["trustPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["signatureVerification"]["verifyTimestamp"]
                    .as_str()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [("prod", "always"), ("dev", "afterCertExpiry")],
        "{doc}"
    );
}

/// The repository the rule tests' statements cover.
const SCOPE: &str = "registry.example/prod/app";

/// A policy file in `dir` whose one statement names `rule`.
fn policy(dir: &Path, rule: &str) -> String {
    policy_with(dir, rule, &format!("verify_timestamp = \"{rule}\""))
}

/// A policy file `policy-LABEL.toml` in `dir` whose one statement ends with `line`.
fn policy_with(dir: &Path, label: &str, line: &str) -> String {
    let path = dir.join(format!("policy-{label}.toml"));
    fs::write(
        &path,
        format!(
            "[[statement]]\nname = \"prod\"\nregistry_scopes = [\"{SCOPE}\"]\nlevel = \"strict\"\n\
             trusted_identities = [\"*\"]\n{line}\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// A certificate issued by `issuer` (`DIR/NAME.crt` and `.key`) for a new key made with
/// openssl's `-newkey key`, with the extension lines `ext`; returns its path.
fn tsa_cert(dir: &Path, issuer: &str, name: &str, key: &str, ext: &str) -> PathBuf {
    tsa_cert_with(dir, issuer, name, key, ext, &[])
}

/// [`tsa_cert`] with more `openssl x509 -req` arguments (`-set_serial N`).
fn tsa_cert_with(
    dir: &Path,
    issuer: &str,
    name: &str,
    key: &str,
    ext: &str,
    args: &[&str],
) -> PathBuf {
    let csr = dir.join(format!("{name}.csr"));
    let out = dir.join(format!("{name}.crt"));
    let ext_file = dir.join(format!("{name}.ext"));
    fs::write(&ext_file, format!("[ext]\n{ext}\n")).unwrap();
    common::run_ok(
        Command::new("openssl")
            .args(["req", "-new", "-newkey", key, "-nodes", "-keyout"])
            .arg(dir.join(format!("{name}.key")))
            .args(["-subj", &format!("/C=US/O=Example TSA/CN={name}"), "-out"])
            .arg(&csr),
    );
    common::run_ok(
        Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(dir.join(format!("{issuer}.crt")))
            .arg("-CAkey")
            .arg(dir.join(format!("{issuer}.key")))
            .args(args)
            .args(["-days", "30", "-sha256", "-extfile"])
            .arg(&ext_file)
            .args(["-extensions", "ext", "-out"])
            .arg(&out),
    );
    out
}

/// A self-signed CA root `DIR/NAME.crt` for TSAs.
fn tsa_root(dir: &Path, name: &str) -> PathBuf {
    tsa_root_with(dir, name, &["basicConstraints=critical,CA:TRUE"])
}

/// A self-signed root `DIR/NAME.crt` with keyCertSign and the `-addext` extensions `ext`.
fn tsa_root_with(dir: &Path, name: &str, ext: &[&str]) -> PathBuf {
    let out = dir.join(format!("{name}.crt"));
    common::run_ok(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout"])
            .arg(dir.join(format!("{name}.key")))
            .args(["-subj", &format!("/C=US/O=Example TSA/CN={name}")])
            .args([
                "-days",
                "60",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ])
            .args(ext.iter().flat_map(|e| ["-addext", e]))
            .arg("-out")
            .arg(&out),
    );
    out
}

#[test]
fn a_tsa_certificate_notation_would_refuse_is_refused_at_the_ceremony() {
    let c = Ceremony::new("timestamps-tsa-cert");
    let dir = c.hsm.dir().join("tsa-certs");
    fs::create_dir_all(&dir).unwrap();
    let root = tsa_root(&dir, "tsa-root");
    tsa_root(&dir, "other-root");
    let ec = "ec:".to_owned()
        + &{
            let params = dir.join("p256.pem");
            common::run_ok(
                Command::new("openssl")
                    .args(["ecparam", "-name", "prime256v1", "-out"])
                    .arg(&params),
            );
            params.display().to_string()
        };
    let signer = "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                  extendedKeyUsage = critical,timeStamping";
    let policy = policy(&dir, "afterCertExpiry");
    let bundle_with = |root: &Path, cert: &Path| {
        c.trust_bundle(
            "trust-tsa-cert.bundle",
            1,
            &[
                "--policy",
                &policy,
                "--tsa-root",
                root.to_str().unwrap(),
                "--tsa-cert",
                cert.to_str().unwrap(),
            ],
        )
    };
    // A chain file: the certificates `parts` back to back.
    let chain = |name: &str, parts: &[&Path]| {
        let out = dir.join(name);
        fs::write(
            &out,
            parts
                .iter()
                .map(|p| fs::read(p).unwrap())
                .collect::<Vec<_>>()
                .concat(),
        )
        .unwrap();
        out
    };
    let intermediate_ext = "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign";
    let int = tsa_cert(&dir, "tsa-root", "int", &ec, intermediate_ext);
    let under_int = tsa_cert(&dir, "int", "under-int", &ec, signer);
    for (label, cert) in [
        (
            "a TSA certificate",
            tsa_cert(&dir, "tsa-root", "good", &ec, signer),
        ),
        (
            "one under an intermediate",
            chain("good-chain.pem", &[&under_int, &int]),
        ),
        (
            "one with its whole chain",
            chain("whole-chain.pem", &[&under_int, &int, &root]),
        ),
    ] {
        let (ok, text, bundle) = bundle_with(&root, &cert);
        assert!(ok && bundle.exists(), "{label}: {text}");
        fs::remove_file(&bundle).unwrap();
    }

    // Chains notation refuses above the TSA's certificate: a root whose path length allows
    // no intermediate, an intermediate or a root restricted to code signing.
    let short_root = tsa_root_with(
        &dir,
        "short-root",
        &["basicConstraints=critical,CA:TRUE,pathlen:0"],
    );
    let short_int = tsa_cert(&dir, "short-root", "short-int", &ec, intermediate_ext);
    let under_short = tsa_cert(&dir, "short-int", "under-short", &ec, signer);
    let code_int = tsa_cert(
        &dir,
        "tsa-root",
        "code-int",
        &ec,
        &format!("{intermediate_ext}\nextendedKeyUsage = codeSigning"),
    );
    let under_code = tsa_cert(&dir, "code-int", "under-code", &ec, signer);
    for (root, cert, says) in [
        (
            &short_root,
            chain("short.pem", &[&under_short, &short_int]),
            "allows 0 intermediate(s) below it (pathLenConstraint), but the TSA's chain has 1",
        ),
        (
            &root,
            chain("code.pem", &[&under_code, &code_int]),
            "code-int's extendedKeyUsage lists 1.3.6.1.5.5.7.3.3 without timeStamping",
        ),
        (
            &root,
            chain("root-first.pem", &[&int, &under_int]),
            "is a CA certificate, not a TSA's timestamping certificate",
        ),
    ] {
        let (ok, text, bundle) = bundle_with(root, &cert);
        assert!(!ok && text.contains(says), "{}: {text}", cert.display());
        assert!(!bundle.exists(), "{}: a bundle was written", cert.display());
    }
    let code_root = tsa_root_with(
        &dir,
        "code-root",
        &[
            "basicConstraints=critical,CA:TRUE",
            "extendedKeyUsage=codeSigning",
        ],
    );
    let (ok, text, bundle) = c.trust_bundle(
        "trust-code-root.bundle",
        1,
        &[
            "--policy",
            &policy,
            "--tsa-root",
            code_root.to_str().unwrap(),
        ],
    );
    assert!(
        !ok && text.contains("without timeStamping") && text.contains("tsa store"),
        "{text}"
    );
    assert!(!bundle.exists());
    let good = dir.join("good.crt");
    let (ok, text, bundle) = c.trust_bundle(
        "trust-no-root.bundle",
        1,
        &["--policy", &policy, "--tsa-cert", good.to_str().unwrap()],
    );
    assert!(
        !ok && text.contains("no TSA root is given to check it against"),
        "{text}"
    );
    assert!(!bundle.exists());
    let cases = [
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "eku-not-critical",
                &ec,
                &signer.replace("critical,timeStamping", "timeStamping"),
            ),
            "extendedKeyUsage is not marked critical",
        ),
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "eku-two",
                &ec,
                &signer.replace("timeStamping", "timeStamping,codeSigning"),
            ),
            "extendedKeyUsage lists 1.3.6.1.5.5.7.3.8, 1.3.6.1.5.5.7.3.3: notation requires timeStamping (1.3.6.1.5.5.7.3.8) alone",
        ),
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "eku-missing",
                &ec,
                "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature",
            ),
            "has no extendedKeyUsage",
        ),
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "key-usage-missing",
                &ec,
                "basicConstraints = critical,CA:FALSE\nextendedKeyUsage = critical,timeStamping",
            ),
            "has no keyUsage",
        ),
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "key-usage-encipherment",
                "rsa:2048",
                &signer.replace("digitalSignature", "digitalSignature,keyEncipherment"),
            ),
            "keyUsage allows keyEncipherment",
        ),
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "ca-true",
                &ec,
                &signer.replace("CA:FALSE", "CA:TRUE"),
            ),
            "is a CA certificate",
        ),
        (
            tsa_cert(&dir, "tsa-root", "rsa-1024", "rsa:1024", signer),
            "1024",
        ),
        (
            tsa_cert(&dir, "other-root", "other-root-signer", &ec, signer),
            "is not issued by any TSA root given",
        ),
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "with-cdp",
                &ec,
                &format!("{signer}\ncrlDistributionPoints = URI:http://crl.tsa.example/tsa.crl"),
            ),
            "carries a CRL distribution point: notation checks a TSA certificate's revocation",
        ),
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "with-ocsp",
                &ec,
                &format!("{signer}\nauthorityInfoAccess = OCSP;URI:http://ocsp.tsa.example"),
            ),
            "carries an OCSP URL",
        ),
        (
            tsa_cert(
                &dir,
                "tsa-root",
                "unknown-critical",
                &ec,
                &format!("{signer}\n1.2.3.4 = critical,ASN1:NULL"),
            ),
            "has a critical extension 1.2.3.4 that Go does not handle",
        ),
        (
            tsa_cert_with(
                &dir,
                "tsa-root",
                "negative-serial",
                &ec,
                signer,
                &["-set_serial", "-1234"],
            ),
            "Go refuses a certificate: negative serial number",
        ),
    ];
    for (cert, says) in &cases {
        let (ok, text, bundle) = bundle_with(&root, cert);
        assert!(!ok, "{}: {text}", cert.display());
        assert!(
            text.contains(says) && text.contains("notation would refuse the timestamps it signs"),
            "{}: {text}",
            cert.display()
        );
        assert!(!bundle.exists(), "{}: a bundle was written", cert.display());
    }

    // A TSA root must be self-signed: an intermediate CA is not one.
    let intermediate = tsa_cert(
        &dir,
        "tsa-root",
        "intermediate",
        &ec,
        "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign",
    );
    let (ok, text, bundle) = c.trust_bundle(
        "trust-intermediate.bundle",
        1,
        &["--tsa-root", intermediate.to_str().unwrap()],
    );
    assert!(!ok && text.contains("is not a self-signed root"), "{text}");
    assert!(!bundle.exists());
}

#[test]
fn a_timestamp_rule_the_bundle_cannot_keep_is_refused_with_nothing_written() {
    let c = Ceremony::new("timestamps-rules");
    let dir = c.hsm.dir().join("rules");
    fs::create_dir_all(&dir).unwrap();
    let root = tsa_root(&dir, "tsa-root").display().to_string();
    let vendor = tsa_root(&dir, "vendor-root").display().to_string();
    let vendor_tsa = tsa_root(&dir, "vendor-tsa").display().to_string();
    let legacy = policy_with(&dir, "legacy", "timestamps = true");
    let vendor_arg = format!("acme={vendor}");
    let vendor_scope = "acme=registry.example/vendor/app";
    // The vendor with its TSA root and the rule `rule`.
    let vendor_with_tsa = |rule: &str| -> Vec<String> {
        vec![
            "--third-party".into(),
            vendor_arg.clone(),
            "--third-party-scope".into(),
            vendor_scope.into(),
            "--third-party-tsa".into(),
            format!("acme={vendor_tsa}"),
            "--third-party-verify-timestamp".into(),
            format!("acme={rule}"),
        ]
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--policy".into(), policy(&dir, "always")],
            "verify_timestamp = \"always\", but the bundle carries no TSA root",
        ),
        (
            vec!["--tsa-root".into(), root.clone()],
            "--tsa-root is given, but no statement would trust it",
        ),
        (
            vec![
                "--tsa-root".into(),
                root.clone(),
                "--policy".into(),
                policy(&dir, "never"),
            ],
            "--tsa-root is given, but no statement would trust it",
        ),
        (
            vec![
                "--tsa-root".into(),
                root.clone(),
                "--policy".into(),
                legacy.clone(),
            ],
            "says timestamps, which keyrite no longer reads: write verify_timestamp",
        ),
        (
            vec![
                "--third-party".into(),
                vendor_arg.clone(),
                "--third-party-scope".into(),
                vendor_scope.into(),
                "--third-party-verify-timestamp".into(),
                "acme=always".into(),
            ],
            "third party 'acme' is given a timestamp rule but no TSA root",
        ),
        (vendor_with_tsa("never"), "would leave its TSA root unused"),
        (
            vendor_with_tsa("sometimes"),
            "'sometimes' is not a timestamp rule",
        ),
    ];
    for (args, says) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, text, bundle) = c.trust_bundle("trust-rule.bundle", 1, &args);
        assert!(!ok && text.contains(says), "{args:?}: {text}");
        assert!(!bundle.exists(), "{args:?}: a bundle was written");
    }

    // The vendor's TSA root with no rule named gets afterCertExpiry, in format 4.
    let (ok, text, bundle) = c.trust_bundle(
        "trust-vendor.bundle",
        1,
        &[
            "--third-party",
            &vendor_arg,
            "--third-party-scope",
            vendor_scope,
            "--third-party-tsa",
            &format!("acme={vendor_tsa}"),
        ],
    );
    assert!(ok, "{text}");
    let site = Site::new();
    site.pin_with(
        &c.root_fingerprint(),
        &["--scope", "registry.example/vendor/"],
    );
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(site.config().join("trustpolicy.json")).unwrap()).unwrap();
    let statement = &doc["trustPolicies"][0];
    assert_eq!(
        statement["signatureVerification"]["verifyTimestamp"], "afterCertExpiry",
        "{doc}"
    );
}

#[test]
fn a_script_whose_tsa_parameters_cannot_work_is_refused_when_it_loads() {
    let dir = tempfile::tempdir().unwrap();
    for (with, says) in [
        (
            r#"trust_version = 1, trust_expires = "90d", policy = "p.toml", tsa_certs = ["tsa.pem"]"#,
            "tsa_certs are checked against tsa_roots, and none is given",
        ),
        (
            r#"trust_version = 1, trust_expires = "90d", tsa_roots = ["root.pem"]"#,
            "tsa_roots are given without a policy",
        ),
        (
            r#"trust_version = 1, trust_expires = "90d", third_parties = [{ name = "acme", root = "a.pem", scopes = ["registry.example/v/app"], verify_timestamp = "always" }]"#,
            "third party 'acme' names a verify_timestamp rule but no tsa_root",
        ),
        (
            r#"trust_version = 1, trust_expires = "90d", third_parties = [{ name = "acme", root = "a.pem", scopes = ["registry.example/v/app"], tsa_root = "t.pem", verify_timestamp = "never" }]"#,
            "which would leave it unused",
        ),
        (
            r#"trust_version = 1, trust_expires = "90d", third_parties = [{ name = "acme", root = "a.pem", scopes = ["registry.example/v/app"], tsa_root = "t.pem", verify_timestamp = "sometimes" }]"#,
            "'sometimes' is not a timestamp rule",
        ),
    ] {
        let file = dir.path().join("script.toml");
        fs::write(
            &file,
            format!(
                "name = \"tsa\"\ntitle = \"TSA\"\n[roles]\nadministrator = \"Administrator\"\n\
                 [parameters]\ncrl_url = \"http://crl.example.internal/root.crl\"\n\
                 [[step]]\ntitle = \"Trust bundle\"\ninstruction = \"Read.\"\n\
                 action = \"bundle-trust\"\nconfirm = [\"administrator\"]\nwith = {{ {with} }}\n"
            ),
        )
        .unwrap();
        let err = keyrite::ceremony::script::load_script(&file)
            .map(drop)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{with}: {err}");
    }
}
