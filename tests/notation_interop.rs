//! The real notation signs with keyrite's delegate chains (as a local key, and through
//! notation-keyrite with a token key and an age-sealed key file, in JWS and COSE) and verifies
//! against the trust store, trust policy and CRL cache keyrite-import installed from real
//! bundles: a good delegate is trusted, a revoked one refused as revoked, and a rotated
//! lineage verifies through the overlap and after it.

mod common;

use std::fs;
use std::path::Path;

use common::ceremony::{CRL_URL, Ceremony, Site};
use common::notation::{self, Dirs, Notation, build_machine, sign_local};
use common::*;

/// The repository the bundles' statement covers.
const SCOPE: &str = "registry.example/prod/app";
/// The CDP URL of the successor root's delegates.
const SUCCESSOR_CRL_URL: &str = "http://crl.example.com/successor.crl";

const POLICY: &str = r#"[[statement]]
name = "prod"
registry_scopes = ["registry.example/prod/app"]
level = "strict"
trusted_identities = ["x509.subject: C=US, ST=WA, O=Publisher"]
"#;

/// A site with keyrite's lineage pinned, its trust bundle `trust` and revocation bundle
/// `revocation` installed; notation's directories are the site's.
fn site_with(c: &Ceremony, bundles: &[&Path]) -> (Site, Dirs) {
    let site = Site::new();
    site.pin(&c.root_fingerprint());
    for b in bundles {
        let (ok, text) = site.install(b);
        assert!(ok, "{text}");
    }
    let dirs = site.notation_dirs();
    (site, dirs)
}

fn policy_file(c: &Ceremony) -> String {
    let path = c.hsm.dir().join("policy.toml");
    fs::write(&path, POLICY).unwrap();
    path.display().to_string()
}

#[test]
fn notation_verifies_keyrite_delegates_and_refuses_a_revoked_one() {
    let Some(n) = notation::find("notation_verifies_keyrite_delegates_and_refuses_a_revoked_one")
    else {
        return;
    };
    let c = Ceremony::new("interop");
    let crl = c.crl("root.crl", &[c.serial("b")]);
    let policy = policy_file(&c);
    let (ok, text, trust) = c.trust_bundle("trust-1.bundle", 1, &["--policy", &policy]);
    assert!(ok, "{text}");
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let (site, dirs) = site_with(&c, &[&trust, &revocation]);

    for format in ["jws", "cose"] {
        let good = sign_local(&n, &c, "a", format);
        let said = n.verify(&dirs, &good.layout, &good.digest, SCOPE);
        assert_eq!(said.word, "trusted", "a {format}: {}", said.text);
        let (code, text) = site.check(&c.chain("a"), &["--scope", SCOPE]);
        assert_eq!(code, 0, "{text}");

        let revoked = sign_local(&n, &c, "b", format);
        let said = n.verify(&dirs, &revoked.layout, &revoked.digest, SCOPE);
        assert_eq!(said.word, "revoked", "b {format}: {}", said.text);
        let (code, text) = site.check(&c.chain("b"), &["--scope", SCOPE]);
        assert_eq!(code, 4, "{text}");
    }
    // Outside the statement's scope notation verifies nothing.
    let other = sign_local(&n, &c, "a", "jws");
    let said = n.verify(
        &dirs,
        &other.layout,
        &other.digest,
        "registry.example/other",
    );
    assert_eq!(said.word, "untrusted", "{}", said.text);
    assert!(
        said.text.contains("no applicable trust policy"),
        "{}",
        said.text
    );
}

/// A publisher key `key_id` certified by the ceremony (see [`Ceremony::publisher_key`]), then
/// `notation key add --plugin keyrite`, and a signature in each format verified on the site.
fn sign_through_plugin(
    n: &Notation,
    c: &Ceremony,
    dirs: &Dirs,
    key_id: &str,
    algorithm: &str,
    envs: &[(&str, String)],
) {
    c.publisher_key(key_id, algorithm, envs);
    let b = build_machine(algorithm);
    let plugin_dir = b.dirs.libexec.join("plugins/keyrite");
    fs::create_dir_all(&plugin_dir).unwrap();
    fs::copy(plugin_binary(), plugin_dir.join("notation-keyrite")).unwrap();
    let (ok, text) = n.run(
        &b.dirs,
        envs,
        &[
            "key", "add", "--plugin", "keyrite", "--id", key_id, algorithm,
        ],
    );
    assert!(ok, "notation key add: {text}");
    for format in ["jws", "cose"] {
        let (ok, text) = n.sign(&b.dirs, envs, &b.layout, &b.digest, algorithm, format);
        assert!(
            ok,
            "notation sign through the plugin ({algorithm}, {format}): {text}"
        );
        let said = n.verify(dirs, &b.layout, &b.digest, SCOPE);
        assert_eq!(said.word, "trusted", "{algorithm} {format}: {}", said.text);
    }
}

#[test]
fn notation_signs_through_the_plugin_with_token_and_sealed_file_keys() {
    let Some(n) =
        notation::find("notation_signs_through_the_plugin_with_token_and_sealed_file_keys")
    else {
        return;
    };
    let c = Ceremony::new("interop-plugin");
    let crl = c.crl("root.crl", &[]);
    let policy = policy_file(&c);
    let (ok, text, trust) = c.trust_bundle("trust-1.bundle", 1, &["--policy", &policy]);
    assert!(ok, "{text}");
    let revocation = c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let (_site, dirs) = site_with(&c, &[&trust, &revocation]);
    let chains = c.hsm.dir().join("chains");

    // A P-384 key on the token: the plugin logs in with the PIN file the key id names.
    let mut envs: Vec<(&str, String)> = c.hsm.envs();
    envs.push(("KEYRITE_PKCS11_MODULE", SOFTHSM_MODULE.to_owned()));
    envs.push(("KEYRITE_CHAINS", chains.display().to_string()));
    let token_key = format!(
        "pkcs11:token={};object=publisher-p384?pin-source=file:{}",
        c.hsm.label(),
        c.hsm.pin_file().display()
    );
    sign_through_plugin(&n, &c, &dirs, &token_key, "p384", &envs);

    // An RSA-3072 key sealed with age to a passphrase.
    let file_key = format!("file:{}", c.hsm.dir().join("publisher-rsa.key").display());
    envs.push((
        "KEYRITE_KEY_PASSPHRASE",
        "correct horse battery staple".into(),
    ));
    sign_through_plugin(&n, &c, &dirs, &file_key, "rsa3072", &envs);
}

#[test]
fn a_rotated_lineage_verifies_through_the_overlap_and_after_it() {
    let Some(n) = notation::find("a_rotated_lineage_verifies_through_the_overlap_and_after_it")
    else {
        return;
    };
    let c = Ceremony::new("interop-rotation");
    let (successor, successor_uri) = c.successor();
    let lineage = c.root_fingerprint();
    let policy = policy_file(&c);
    let successor_arg = successor.display().to_string();
    let (ok, text, v1) = c.trust_bundle("trust-1.bundle", 1, &["--policy", &policy]);
    assert!(ok, "{text}");
    let (ok, text, v2) = c.trust_bundle(
        "trust-2.bundle",
        2,
        &[
            "--policy",
            &policy,
            "--add-root",
            &successor_arg,
            "--cosign",
            &successor_uri,
            "--crl-url",
            SUCCESSOR_CRL_URL,
        ],
    );
    assert!(ok, "{text}");
    let successor_root = c.successor_issuer(&successor, &successor_uri);
    c.delegate_under(&successor_root, "n", SUCCESSOR_CRL_URL);
    let old_crl = c.crl("old.crl", &[]);
    let successor_crl = c.crl_by(&successor_root, "successor.crl", &[], "20d");
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
    let (site, dirs) = site_with(&c, &[&v1, &v2, &revocation]);
    let old = sign_local(&n, &c, "a", "jws");
    let new = sign_local(&n, &c, "n", "jws");
    for (b, name) in [(&old, "a"), (&new, "n")] {
        let said = n.verify(&dirs, &b.layout, &b.digest, SCOPE);
        assert_eq!(said.word, "trusted", "{name} in the overlap: {}", said.text);
    }

    // v3, signed by the successor alone, drops the old root.
    let v3 = c.bundle_path("trust-3.bundle");
    run_ok(
        c.hsm
            .command()
            .args(["bundle", "trust", "--token", &successor_uri])
            .args(["--root-cert", &successor_arg, "--policy", &policy])
            .args(["--crl-url", CRL_URL, "--crl-url", SUCCESSOR_CRL_URL])
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
    let (ok, text) = site.install(&v3);
    assert!(ok, "{text}");
    let said = n.verify(&dirs, &old.layout, &old.digest, SCOPE);
    assert_eq!(said.word, "untrusted", "a after the overlap: {}", said.text);
    let (code, text) = site.check(&c.chain("a"), &["--scope", SCOPE]);
    assert_eq!(code, 2, "{text}");
    let said = n.verify(&dirs, &new.layout, &new.digest, SCOPE);
    assert_eq!(said.word, "trusted", "n after the overlap: {}", said.text);
    let (code, text) = site.check(&c.chain("n"), &["--scope", SCOPE]);
    assert_eq!(code, 0, "{text}");
}
