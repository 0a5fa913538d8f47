//! A site's first hour with keyrite-import: pins made from the ceremony's own file, seen and
//! undone (`pin --file`, `pins`, `unpin`, pins in `status`); a state bound to the notation
//! directories it serves; `install --repair`; reading commands for any user; and each mistake
//! a newcomer makes (a key SHA-256 pinned for a certificate's, a mistyped word, a leaf for a
//! chain, a mistyped scope) answered with what is wrong and what to do.

mod common;

use std::fs;

use common::ceremony::{Ceremony, Site};
use common::*;

/// A trust bundle `name` of `version` whose policy trusts `CN=signer` for registry.example/app.
fn trust_bundle_with_policy(pki: &Ceremony, name: &str, version: u64) -> std::path::PathBuf {
    let policy = pki.hsm.dir().join("policy.toml");
    fs::write(
        &policy,
        "[[statement]]\nname = \"apps\"\nregistry_scopes = [\"registry.example/app\"]\nlevel = \"strict\"\ntrusted_identities = [\"x509.subject: C=US, ST=WA, O=Publisher, CN=signer\"]\n",
    )
    .unwrap();
    let (ok, text, bundle) =
        pki.trust_bundle(name, version, &["--policy", policy.to_str().unwrap()]);
    assert!(ok, "{text}");
    bundle
}

#[test]
fn a_pin_is_made_from_root_fingerprint_seen_in_pins_and_status_and_undone() {
    let pki = Ceremony::new("pins-file");
    let site = Site::new();
    let fp_file = pki.root.with_file_name("root.fingerprint");
    assert!(
        fp_file.is_file(),
        "root create writes {}",
        fp_file.display()
    );
    let text = fs::read_to_string(&fp_file).unwrap();
    let hex = pki.root_fingerprint();

    // The ceremony's file, by --file and as `"$(cat root.fingerprint)"`.
    let (ok, out) = run(site
        .import()
        .args(["pin", "--scope", "registry.example/team/", "--file"])
        .arg(&fp_file));
    assert!(ok && out.contains("Pinned:") && out.contains(&hex), "{out}");
    let (ok, out) = run(site
        .import()
        .args(["pin", &text, "--scope", "registry.example/team/"]));
    assert!(ok && out.contains("Already pinned:"), "{out}");

    // Listed with its words and what it binds, and in status (text and JSON).
    let (ok, out) = run(site.import().arg("pins"));
    assert!(ok, "{out}");
    let words = keyrite::fingerprint::Fingerprint::parse(&hex)
        .unwrap()
        .words();
    assert!(
        out.contains(&hex)
            && out.contains(&words[..8].join(" "))
            && out.contains("registry.example/team/"),
        "{out}"
    );
    let (_, out) = site.status(&[]);
    assert!(out.contains("Pin") && out.contains(&hex), "{out}");
    let (_, out) = site.status(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["pins"][0]["root"], hex, "{json}");

    // Unpinned while nothing is installed; then there is nothing to unpin.
    let (ok, out) = run(site.import().args(["unpin", &hex]));
    assert!(ok && out.contains("Unpinned:"), "{out}");
    let (ok, out) = run(site.import().args(["unpin", &hex]));
    assert!(
        !ok && out.contains("is not pinned here (pinned: none)"),
        "{out}"
    );
    assert!(site.log().iter().any(|l| l.contains("\"event\":\"unpin\"")));
}

#[test]
fn a_lineage_in_use_is_unpinned_only_with_force() {
    let pki = Ceremony::new("pins-force");
    let site = Site::new();
    site.pin(&pki.root_fingerprint());
    let (ok, text, bundle) = pki.trust_bundle("trust.bundle", 1, &[]);
    assert!(ok, "{text}");
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    let before = site.snapshot();
    let (ok, out) = run(site.import().args(["unpin", &pki.root_fingerprint()]));
    assert!(
        !ok && out.contains("has bundles installed under this pin") && out.contains("--force"),
        "{out}"
    );
    assert!(
        before == site.snapshot(),
        "a refused unpin changed the site"
    );
    let (ok, out) = run(site
        .import()
        .args(["unpin", "--force", &pki.root_fingerprint()]));
    assert!(ok, "{out}");
    assert!(
        site.log()
            .iter()
            .any(|l| l.contains("\"event\":\"unpin\"") && l.contains("\"forced\":true"))
    );
}

#[test]
fn a_pinned_key_sha256_and_a_mistyped_word_are_named_for_what_they_are() {
    let pki = Ceremony::new("pins-key");
    let site = Site::new();
    let fp_file = pki.root.with_file_name("root.fingerprint");
    let text = fs::read_to_string(&fp_file).unwrap();
    let key_sha256 = text
        .lines()
        .find_map(|l| l.strip_prefix("key-sha256: "))
        .unwrap()
        .to_owned();
    // The key's SHA-256, as share cards show it, pinned for the certificate's.
    site.pin(&key_sha256);
    let (ok, text, bundle) = pki.trust_bundle("trust.bundle", 1, &[]);
    assert!(ok, "{text}");
    let before = site.snapshot();
    let (ok, out) = site.install(&bundle);
    assert!(!ok, "{out}");
    assert!(
        out.contains("is the SHA-256 of the signing root's key")
            && out.contains(&format!("keyrite-import unpin {key_sha256}")),
        "{out}"
    );
    assert!(
        before == site.snapshot(),
        "a refused install changed the site"
    );

    // One word mistyped: named with its position; nothing pinned.
    let mut words = keyrite::fingerprint::Fingerprint::parse(&pki.root_fingerprint())
        .unwrap()
        .words();
    words[6] = format!("{}x", words[6]);
    let mut args = vec!["pin".to_owned()];
    args.extend(words.iter().cloned());
    args.extend(["--scope".into(), "*".into()]);
    let (ok, out) = run(site.import().args(&args));
    assert!(
        !ok && out.contains(&format!("word 7 '{}' is not a fingerprint word", words[6])),
        "{out}"
    );
    let (_, out) = run(site.import().arg("pins"));
    assert!(!out.contains(&pki.root_fingerprint()), "{out}");
}

#[test]
fn check_says_to_pass_the_chain_and_which_scopes_there_are() {
    let pki = Ceremony::new("check-words");
    pki.delegate("signer");
    let site = Site::new();
    site.pin_with(&pki.root_fingerprint(), &["--scope", "registry.example/"]);
    let bundle = trust_bundle_with_policy(&pki, "trust.bundle", 1);
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    // The leaf alone, where the chain belongs.
    let (code, out) = site.check(&pki.hsm.dir().join("issued/signer.crt"), &[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("pass the whole chain, leaf then root"),
        "{out}"
    );
    // A scope with a typo lists the scopes there are.
    let (code, out) = site.check(&pki.chain("signer"), &["--scope", "registry.example/ap"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("no trust policy statement applies to registry.example/ap")
            && out.contains("the statements' scopes are: registry.example/app"),
        "{out}"
    );
    // The right scope reaches the statement (no CRL is installed here: that is what it says).
    let (code, out) = site.check(&pki.chain("signer"), &["--scope", "registry.example/app"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("revocation status"), "{out}");
}

#[test]
fn a_state_serves_the_notation_directories_it_was_bound_to() {
    let pki = Ceremony::new("state-bound");
    let site = Site::new();
    site.pin(&pki.root_fingerprint());
    let (ok, text, bundle) = pki.trust_bundle("trust.bundle", 1, &[]);
    assert!(ok, "{text}");
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    // A second notation configuration with the same state: refused, naming both, and
    // nothing there or in the state changes.
    let other = tempfile::tempdir().unwrap();
    let before = site.snapshot();
    let (ok, out) = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_keyrite-import"))
            .env_remove("NOTATION_CONFIG")
            .env_remove("NOTATION_CACHE")
            .arg("--notation-config")
            .arg(other.path().join("config"))
            .arg("--notation-cache")
            .arg(other.path().join("cache"))
            .arg("--state")
            .arg(site.state())
            .arg("install")
            .arg(&bundle),
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("serves notation config")
            && out.contains(&other.path().join("config").display().to_string())
            && out.contains("--state DIR"),
        "{out}"
    );
    assert!(!out.contains("already installed"), "{out}");
    assert!(before == site.snapshot());
    assert!(!other.path().join("config").exists());
}

#[test]
fn install_repair_writes_keyrites_files_again_and_says_which() {
    let pki = Ceremony::new("repair");
    let site = Site::new();
    site.pin(&pki.root_fingerprint());
    let v1 = trust_bundle_with_policy(&pki, "trust-1.bundle", 1);
    let v2 = trust_bundle_with_policy(&pki, "trust-2.bundle", 2);
    let (ok, text) = site.install(&v1);
    assert!(ok, "{text}");
    let clean = site.snapshot();
    // Nothing changed: nothing to repair, nothing written.
    let (ok, out) = run(site.import().args(["install", "--repair"]).arg(&v1));
    assert!(ok && out.contains("Nothing to repair"), "{out}");
    assert!(clean == site.snapshot());
    // A root in the trust store edited by hand: status says how to repair it.
    let store = site.config().join("truststore/x509/ca");
    let cert = fs::read_dir(
        fs::read_dir(&store)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap()
    .next()
    .unwrap()
    .unwrap()
    .path();
    fs::write(&cert, "edited").unwrap();
    let (code, out) = site.status(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("changed by hand") && out.contains("install --repair"),
        "{out}"
    );
    // A plain reinstall says it is installed and how to repair; --repair with another
    // version is refused; with the bundle installed, it restores the file, naming it.
    let (ok, out) = site.install(&v1);
    assert!(!ok && out.contains("install --repair FILE"), "{out}");
    let (ok, out) = run(site.import().args(["install", "--repair"]).arg(&v2));
    assert!(
        !ok && out.contains("--repair re-applies the trust bundle installed, version 1"),
        "{out}"
    );
    let (ok, out) = run(site.import().args(["install", "--repair"]).arg(&v1));
    assert!(
        ok && out.contains(&format!("restored {}", cert.display())),
        "{out}"
    );
    assert!(
        clean == site.snapshot(),
        "the repaired site is not what the install made"
    );
    let (code, out) = site.status(&[]);
    assert_eq!(code, 0, "{out}");
    // keyrite's statement edited in the trust policy: repaired too.
    let policy = site.config().join("trustpolicy.json");
    let text = fs::read_to_string(&policy).unwrap();
    fs::write(&policy, text.replacen("\"strict\"", "\"permissive\"", 1)).unwrap();
    let (code, out) = site.status(&[]);
    assert!(
        code == 2 && out.contains("was changed or removed by hand"),
        "{out}"
    );
    let (ok, out) = run(site.import().args(["install", "--repair"]).arg(&v1));
    assert!(
        ok && out.contains(&format!("restored {}", policy.display())),
        "{out}"
    );
    assert!(
        clean == site.snapshot(),
        "the repaired policy is not what the install wrote"
    );
}

/// `keyrite-import ARGS` on `site` run as the user nobody (uid 65534), as another user of the
/// host would run it.
fn as_nobody(site: &Site, args: &[&str]) -> (bool, String) {
    let import = site.import();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(import.get_program())
        .args(import.get_args())
        .args(args)
        .env_remove("NOTATION_CONFIG")
        .env_remove("NOTATION_CACHE");
    run(&mut cmd)
}

#[test]
fn reading_commands_work_for_any_user_who_can_read_the_files() {
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "reading_commands_work_for_any_user_who_can_read_the_files: SKIPPED: needs root to run as another user"
        );
        return;
    }
    let pki = Ceremony::new("read-only");
    pki.delegate("reader");
    let site = Site::new();
    site.pin(&pki.root_fingerprint());
    let (ok, text, bundle) = pki.trust_bundle("trust.bundle", 1, &[]);
    assert!(ok, "{text}");
    let (ok, text) = site.install(&bundle);
    assert!(ok, "{text}");
    // The site shares read access with the host's users; a user brings a chain to check.
    let top = site.state().parent().unwrap().to_owned();
    let chain = top.join("reader.chain.pem");
    fs::copy(pki.chain("reader"), &chain).unwrap();
    run_ok(
        std::process::Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(&top),
    );
    let before = site.snapshot();
    for args in [vec!["status"], vec!["pins"], vec!["status", "--json"]] {
        let (ok, out) = as_nobody(&site, &args);
        assert!(ok, "{args:?} as another user: {out}");
        assert!(out.contains(&pki.root_fingerprint()), "{args:?}: {out}");
    }
    // No revocation bundle here: check answers with notation's verdict, not an error.
    let (_, out) = as_nobody(&site, &["check", chain.to_str().unwrap()]);
    assert!(
        out.starts_with("untrusted:") && out.contains("revocation status"),
        "{out}"
    );
    assert!(
        before == site.snapshot(),
        "a reading command changed the site"
    );
    // Writing is for the owner: the refusal says whose it is and what to do.
    let (ok, out) = as_nobody(&site, &["install", bundle.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("it belongs to uid 0, and keyrite-import runs as uid 65534")
            && out.contains("Run it as that user"),
        "{out}"
    );
    assert!(before == site.snapshot());
}

#[test]
fn a_policy_clash_names_the_file_it_is_in() {
    let pki = Ceremony::new("clash-file");
    let site = Site::new();
    site.pin(&pki.root_fingerprint());
    let bundle = trust_bundle_with_policy(&pki, "trust.bundle", 1);
    // Both policy files exist; only the OCI one has a statement of the site's named "apps".
    fs::create_dir_all(site.config()).unwrap();
    let site_statement = |name: &str| {
        serde_json::json!({"version": "1.0", "trustPolicies": [{
            "name": name, "registryScopes": ["registry.example/other"],
            "signatureVerification": {"level": "skip"}, "trustStores": [], "trustedIdentities": []
        }]})
        .to_string()
    };
    fs::write(
        site.config().join("trustpolicy.json"),
        site_statement("mine"),
    )
    .unwrap();
    fs::write(
        site.config().join("trustpolicy.oci.json"),
        site_statement("apps"),
    )
    .unwrap();
    let before = site.snapshot();
    let (ok, out) = site.install(&bundle);
    assert!(!ok, "{out}");
    assert!(
        out.contains("trustpolicy.oci.json:") && out.contains("'apps'"),
        "{out}"
    );
    assert!(!out.contains("trustpolicy.json:"), "{out}");
    assert!(before == site.snapshot());
}

#[test]
fn a_write_the_user_may_not_make_says_whose_directory_it_is() {
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "a_write_the_user_may_not_make_says_whose_directory_it_is: SKIPPED: needs root to run as another user"
        );
        return;
    }
    let pki = Ceremony::new("denied");
    let site = Site::new();
    let top = site.state().parent().unwrap().to_owned();
    run_ok(std::process::Command::new("chmod").args(["755"]).arg(&top));
    // The site is nobody's own; only its CRL cache directory was made by root.
    for dir in [site.config(), site.cache(), site.state()] {
        fs::create_dir_all(&dir).unwrap();
        run_ok(
            std::process::Command::new("chown")
                .arg("65534:65534")
                .arg(&dir),
        );
    }
    fs::create_dir_all(site.cache().join("crl")).unwrap();
    let (ok, text, trust) = pki.trust_bundle("trust.bundle", 1, &[]);
    assert!(ok, "{text}");
    let crl = pki.crl("root.crl", &[]);
    let revocation = pki.revocation_bundle("revocation.bundle", &crl, 1);
    let (trust_copy, revocation_copy) = (top.join("trust.bundle"), top.join("revocation.bundle"));
    fs::copy(&trust, &trust_copy).unwrap();
    fs::copy(&revocation, &revocation_copy).unwrap();
    run_ok(
        std::process::Command::new("chmod")
            .arg("644")
            .arg(&trust_copy)
            .arg(&revocation_copy),
    );
    let (ok, out) = as_nobody(&site, &["pin", &pki.root_fingerprint(), "--scope", "*"]);
    assert!(ok, "{out}");
    let (ok, out) = as_nobody(&site, &["install", trust_copy.to_str().unwrap()]);
    assert!(ok, "{out}");
    let before = site.snapshot();
    let (ok, out) = as_nobody(&site, &["install", revocation_copy.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("permission denied to uid 65534 (it belongs to uid 0)")
            && out.contains("--notation-cache"),
        "{out}"
    );
    assert!(!out.contains("(os error 13)"), "{out}");
    assert!(
        before == site.snapshot(),
        "a refused install changed the site"
    );
}
