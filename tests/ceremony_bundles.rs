//! Bundle steps of ceremony scripts, run by the engine against SoftHSM2 tokens: a vendor's
//! root the site vouches for, its fingerprint shown and its CRL carried; and a lineage's TSA
//! root, its timestamping certificate checked and each statement's timestamp rule shown to the
//! officers before the root signs, then written into a host's trust policy.

mod common;

use std::fs;

use common::Token;
use common::ceremony::{Site, openssl_csr};
use common::script_env::{Env, step_entries, step_field, verify};
use keyrite::fingerprint::Fingerprint;

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
        format!(
            r#"name = "vendor-roots"
title = "A vendor's root for the site"
[roles]
administrator = "Ceremony administrator"
[parameters]
crl_url = "http://crl.example.internal/root.crl"
[[step]]
title = "Create the root"
instruction = "Read the words."
action = "root-create"
confirm = ["administrator"]
with = {{ subject = "C=US,ST=WA,O=Example,CN=Vendor Test Root", algorithm = "p256", validity = "1y", below_minimum = "a test root" }}
[[step]]
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
        r#"name = "tsa-roots"
title = "A TSA for the lineage"
[roles]
administrator = "Ceremony administrator"
[parameters]
crl_url = "http://crl.example.internal/root.crl"
[[step]]
title = "Create the root"
instruction = "Read the words."
action = "root-create"
confirm = ["administrator"]
with = { subject = "C=US,ST=WA,O=Example,CN=TSA Test Root", algorithm = "p256", validity = "1y", below_minimum = "a test root" }
[[step]]
title = "Trust bundle"
instruction = "Read each statement's timestamp rule."
action = "bundle-trust"
confirm = ["administrator"]
with = { trust_version = 1, trust_expires = "90d", policy = "policy.toml", tsa_roots = ["tsa-root.pem"], tsa_certs = ["tsa.pem"] }
"#,
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
        shown.contains("TSA certificate C=US, O=Test TSA, CN=Test TSA meets notation's rules"),
        "{shown}"
    );
    let inputs = format!("{:?}", step_field(&steps, "inputs")[1]);
    assert_eq!(inputs.matches("\"tsa\"").count(), 2, "{inputs}");

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
