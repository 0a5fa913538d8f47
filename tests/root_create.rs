//! `keyrite root create` on real tokens, judged by verifiers keyrite did not write, and every
//! bad input the ceremony can meet, each refused with nothing written and nothing created.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

const SUBJECT: &str = "C=US,ST=WA,O=Example Corp,CN=Example Root CA";

/// Runs `keyrite root create` on `token` into `out`; returns (success, stdout+stderr).
fn create_root(token: &impl Token, uri: &str, out: &Path, extra: &[&str]) -> (bool, String) {
    run(token
        .command()
        .args(["root", "create", "--token", uri, "--subject", SUBJECT])
        .args(["--validity", "20y", "--out"])
        .arg(out)
        .args(extra))
}

/// Asserts that `pem` passes openssl -x509_strict, certtool and pkilint with no finding.
fn assert_verifiers_accept(pem: &Path) {
    let (ok, text) = openssl_verify_self_signed(pem);
    assert!(ok, "openssl verify refused the root:\n{text}");
    let (ok, text) = certtool_verify_self_signed(pem);
    assert!(ok, "certtool refused the root:\n{text}");
    let (ok, text) = pkilint_cert(pem);
    assert!(ok, "pkilint found problems:\n{text}");
}

/// `openssl x509 -text` of `pem`.
fn openssl_text(pem: &Path) -> String {
    run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(pem),
    )
}

/// SHA-256 of the certificate's DER, computed by openssl.
fn openssl_fingerprint(pem: &Path) -> String {
    let text = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(pem),
    );
    text.trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_lowercase()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn p384_root_on_softhsm_passes_openssl_certtool_and_pkilint() {
    let hsm = SoftHsm::new("root-p384");
    let out = hsm.dir().join("out");
    let (ok, text) = create_root(&hsm, &hsm.pin_uri(), &out, &[]);
    assert!(ok, "{text}");
    let pem = out.join("root.crt");
    assert_verifiers_accept(&pem);

    let cert = openssl_text(&pem);
    assert!(
        cert.contains("Signature Algorithm: ecdsa-with-SHA384"),
        "{cert}"
    );
    assert!(cert.contains("NIST CURVE: P-384"), "{cert}");
    assert!(
        cert.contains("X509v3 Basic Constraints: critical\n                CA:TRUE"),
        "{cert}"
    );
    assert!(
        cert.contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign\n"),
        "{cert}"
    );
    assert!(cert.contains("X509v3 Subject Key Identifier"), "{cert}");
    assert!(cert.contains("Version: 3 (0x2)"), "{cert}");
    assert!(
        cert.contains("Subject: C = US, ST = WA, O = Example Corp, CN = Example Root CA"),
        "{cert}"
    );

    // The fingerprint file carries the DER's SHA-256 as openssl computes it, and 32 words.
    let fp = fs::read_to_string(out.join("root.fingerprint")).unwrap();
    let hex = openssl_fingerprint(&pem);
    assert!(
        fp.contains(&format!("sha256: {hex}\n")),
        "{fp}\nopenssl: {hex}"
    );
    let words = fp.lines().find_map(|l| l.strip_prefix("words: ")).unwrap();
    assert_eq!(words.split(' ').count(), 32, "{fp}");
    assert!(text.contains(&hex), "the fingerprint is printed:\n{text}");
    assert!(text.contains("token-only"), "{text}");

    // Exactly the key pair and the root's empty-ledger record were created, and the audit
    // says the key was generated on the token.
    assert_eq!(count_objects(&hsm), 3);
    assert!(pkcs11_tool_list_objects(&hsm).contains("keyrite:ledger-"));
    let key_uri = format!(
        "pkcs11:token=root-p384;object=keyrite-root?pin-source=file:{}",
        hsm.pin_file().display()
    );
    let audit = run_ok(hsm.command().args(["token", "audit", "--json", &key_uri]));
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit["origin"], "generated-on-token", "{audit}");
    assert_eq!(audit["problems"].as_array().unwrap().len(), 0, "{audit}");
}

#[test]
fn every_root_algorithm_passes_the_verifiers() {
    for (alg, sig) in [
        ("p256", "ecdsa-with-SHA256"),
        ("p521", "ecdsa-with-SHA512"),
        ("rsa3072", "sha384WithRSAEncryption"),
        ("rsa4096", "sha512WithRSAEncryption"),
    ] {
        let hsm = SoftHsm::new(&format!("root-{alg}"));
        let out = hsm.dir().join("out");
        let (ok, text) = create_root(&hsm, &hsm.pin_uri(), &out, &["--algorithm", alg]);
        assert!(ok, "{alg}: {text}");
        let pem = out.join("root.crt");
        assert_verifiers_accept(&pem);
        let cert = openssl_text(&pem);
        assert!(
            cert.contains(&format!("Signature Algorithm: {sig}")),
            "{alg}: {cert}"
        );
    }
}

#[test]
fn root_through_a_p11kit_server_socket_lands_on_the_remote_token() {
    let server = P11KitServer::start(SoftHsm::new("root-remote"));
    let out = server.dir().join("out");
    let (ok, text) = create_root(&server, &server.pin_uri(), &out, &[]);
    assert!(ok, "{text}");
    assert_verifiers_accept(&out.join("root.crt"));
    // The key is on the SoftHSM token behind the socket.
    let objects = pkcs11_tool_list_objects(&server.softhsm);
    assert!(objects.contains("label:      keyrite-root"), "{objects}");
    assert_eq!(
        count_objects(&server.softhsm),
        3,
        "the key pair and the ledger record"
    );
}

#[test]
fn root_on_a_tpm_through_tpm2_pkcs11() {
    let tpm = SwTpm::new("root-tpm");
    let out = tpm.dir().join("out");
    let (ok, text) = create_root(&tpm, &tpm.pin_uri(), &out, &[]);
    assert!(ok, "{text}");
    assert_verifiers_accept(&out.join("root.crt"));
    assert!(text.contains("generated on the token"), "{text}");
}

#[test]
fn token_list_shows_the_token_and_the_mechanisms_keyrite_needs() {
    let hsm = SoftHsm::new("listed");
    let text = run_ok(hsm.command().args(["token", "list"]));
    assert!(text.contains("token:        listed"), "{text}");
    assert!(text.contains("manufacturer: SoftHSM project"), "{text}");
    assert!(text.contains("present  CKM_ECDSA "), "{text}");
    // SoftHSM has no combined ECDSA-SHA384: keyrite must say so and hash on the host.
    assert!(text.contains("absent   CKM_ECDSA_SHA384"), "{text}");
    let json = run_ok(hsm.command().args(["token", "list", "--json"]));
    let slots: serde_json::Value = serde_json::from_str(&json).unwrap();
    let slot = slots
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["label"] == "listed")
        .expect("the token is listed");
    assert!(slot["serial"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        slot["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "login-required")
    );
}

/// Asserts a refused root creation: the error names the problem, no output file exists, and
/// the token holds `objects_before` objects still.
fn assert_refused(
    token: &impl Token,
    outcome: (bool, String),
    expected: &str,
    out: &Path,
    files_before: usize,
    objects_before: usize,
) {
    let (ok, text) = outcome;
    assert!(
        !ok,
        "expected a refusal containing {expected:?}, got success:\n{text}"
    );
    assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
    assert!(text.contains("keyrite: error:"), "{text}");
    assert_eq!(
        files_in(out).len(),
        files_before,
        "files in {}",
        out.display()
    );
    assert_eq!(count_objects(token), objects_before, "objects on the token");
}

#[test]
fn a_wrong_pin_is_refused_once_with_the_tries_left_and_creates_nothing() {
    let hsm = SoftHsm::new("wrong-pin");
    let pin = hsm.dir().join("wrong.pin");
    fs::write(&pin, "000000\n").unwrap();
    let out = hsm.dir().join("out");
    let uri = format!("pkcs11:token=wrong-pin?pin-source=file:{}", pin.display());
    let outcome = create_root(&hsm, &uri, &out, &[]);
    assert!(
        outcome.1.contains("keyrite does not retry"),
        "{}",
        outcome.1
    );
    assert!(outcome.1.contains("the token reports"), "{}", outcome.1);
    assert!(
        !outcome.1.contains("000000"),
        "the PIN must never be echoed"
    );
    assert_refused(&hsm, outcome, "wrong PIN for token 'wrong-pin'", &out, 0, 0);
}

#[test]
fn a_missing_module_is_refused() {
    let hsm = SoftHsm::new("no-module");
    let out = hsm.dir().join("out");
    let outcome = create_root(
        &hsm,
        &hsm.pin_uri(),
        &out,
        &["--module", "/nonexistent/libpkcs11.so"],
    );
    assert_refused(
        &hsm,
        outcome,
        "PKCS#11 module /nonexistent/libpkcs11.so does not exist",
        &out,
        0,
        0,
    );
}

#[test]
fn a_library_that_is_not_pkcs11_is_refused() {
    let hsm = SoftHsm::new("not-module");
    let out = hsm.dir().join("out");
    let libz = format!("/usr/lib/{}-linux-gnu/libz.so.1", std::env::consts::ARCH);
    let outcome = create_root(&hsm, &hsm.pin_uri(), &out, &["--module", &libz]);
    assert_refused(&hsm, outcome, "is not a PKCS#11 module", &out, 0, 0);
    // A file that is not a library at all.
    let text_file = hsm.dir().join("module.txt");
    fs::write(&text_file, "not a library").unwrap();
    let outcome = create_root(
        &hsm,
        &hsm.pin_uri(),
        &out,
        &["--module", text_file.to_str().unwrap()],
    );
    assert_refused(&hsm, outcome, "is not a PKCS#11 module", &out, 0, 0);
}

#[test]
fn an_unknown_token_is_refused_naming_the_tokens_present() {
    let hsm = SoftHsm::new("present");
    let out = hsm.dir().join("out");
    let uri = format!(
        "pkcs11:token=absent?pin-source=file:{}",
        hsm.pin_file().display()
    );
    let outcome = create_root(&hsm, &uri, &out, &[]);
    assert!(outcome.1.contains("'present'"), "{}", outcome.1);
    assert_refused(
        &hsm,
        outcome,
        "no token matches pkcs11:token=absent",
        &out,
        0,
        0,
    );
}

#[test]
fn a_label_already_on_the_token_is_refused() {
    let hsm = SoftHsm::new("label-used");
    let first = hsm.dir().join("first");
    let (ok, text) = create_root(&hsm, &hsm.pin_uri(), &first, &[]);
    assert!(ok, "{text}");
    let second = hsm.dir().join("second");
    let outcome = create_root(&hsm, &hsm.pin_uri(), &second, &[]);
    assert_refused(
        &hsm,
        outcome,
        "already holds an object with label 'keyrite-root'",
        &second,
        0,
        3,
    );
}

#[test]
fn an_id_already_on_the_token_is_refused() {
    let hsm = SoftHsm::new("id-used");
    let pin = hsm.pin_file();
    let uri = |label: &str| {
        format!(
            "pkcs11:token=id-used;object={label};id=%01%02?pin-source=file:{}",
            pin.display()
        )
    };
    let (ok, text) = create_root(&hsm, &uri("a"), &hsm.dir().join("a"), &[]);
    assert!(ok, "{text}");
    let out = hsm.dir().join("b");
    let outcome = create_root(&hsm, &uri("b"), &out, &[]);
    assert_refused(
        &hsm,
        outcome,
        "already holds an object with id 0102",
        &out,
        0,
        3,
    );
}

#[test]
fn an_existing_output_is_never_overwritten() {
    let hsm = SoftHsm::new("existing-out");
    let out = hsm.dir().join("out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("root.crt"), "precious").unwrap();
    let outcome = create_root(&hsm, &hsm.pin_uri(), &out, &[]);
    assert_refused(&hsm, outcome, "root.crt already exists", &out, 1, 0);
    assert_eq!(
        fs::read_to_string(out.join("root.crt")).unwrap(),
        "precious"
    );
}

#[test]
fn a_subject_without_st_is_refused() {
    let hsm = SoftHsm::new("bad-subject");
    let out = hsm.dir().join("out");
    let outcome = run(hsm
        .command()
        .args(["root", "create", "--token", &hsm.pin_uri()])
        .args([
            "--subject",
            "C=US,O=Example,CN=Root",
            "--validity",
            "20y",
            "--out",
        ])
        .arg(&out));
    assert_refused(&hsm, outcome, "ST missing", &out, 0, 0);
    let outcome = run(hsm
        .command()
        .args(["root", "create", "--token", &hsm.pin_uri()])
        .args([
            "--subject",
            "C=US,ST=WA,O=Example,emailAddress=a@example.com",
        ])
        .args(["--validity", "20y", "--out"])
        .arg(&out));
    assert_refused(&hsm, outcome, "subjectAltName", &out, 0, 0);
}

#[test]
fn bad_uri_syntax_is_refused() {
    let hsm = SoftHsm::new("bad-uri");
    let out = hsm.dir().join("out");
    let outcome = create_root(&hsm, "pkcs11:token=bad-uri;labl=x", &out, &[]);
    assert_refused(
        &hsm,
        outcome,
        "bad PKCS#11 URI: unknown path attribute 'labl'",
        &out,
        0,
        0,
    );
    let outcome = create_root(&hsm, "token=bad-uri", &out, &[]);
    assert_refused(&hsm, outcome, "must start with 'pkcs11:'", &out, 0, 0);
}

#[test]
fn an_unknown_algorithm_is_refused() {
    let hsm = SoftHsm::new("bad-alg");
    let out = hsm.dir().join("out");
    let outcome = create_root(&hsm, &hsm.pin_uri(), &out, &["--algorithm", "ed25519"]);
    assert_refused(&hsm, outcome, "unknown key algorithm 'ed25519'", &out, 0, 0);
}

#[test]
fn a_bad_validity_is_refused() {
    let hsm = SoftHsm::new("bad-validity");
    let out = hsm.dir().join("out");
    let outcome = run(hsm
        .command()
        .args([
            "root",
            "create",
            "--token",
            &hsm.pin_uri(),
            "--subject",
            SUBJECT,
        ])
        .args(["--validity", "20 years", "--out"])
        .arg(&out));
    assert_refused(&hsm, outcome, "bad validity '20 years'", &out, 0, 0);
}

#[test]
fn a_pin_value_outside_a_rehearsal_is_refused() {
    let hsm = SoftHsm::new("pin-value");
    let out = hsm.dir().join("out");
    let uri = format!("pkcs11:token=pin-value?pin-value={USER_PIN}");
    let outcome = create_root(&hsm, &uri, &out, &[]);
    assert!(
        !outcome.1.contains(USER_PIN),
        "the PIN must never be echoed"
    );
    assert_refused(&hsm, outcome, "accepted only in a rehearsal", &out, 0, 0);

    // In a rehearsal it is accepted.
    let (ok, text) = run(hsm
        .command()
        .env("KEYRITE_REHEARSAL", "1")
        .args(["root", "create", "--token", &uri, "--subject", SUBJECT])
        .args(["--validity", "1y", "--out"])
        .arg(&out));
    assert!(ok, "{text}");
    let fp = fs::read_to_string(out.join("root.fingerprint")).unwrap();
    assert!(
        fp.contains("rehearsal"),
        "rehearsal artefacts are marked:\n{fp}"
    );
}

#[test]
fn without_a_pin_source_or_terminal_keyrite_says_how_to_give_the_pin() {
    let hsm = SoftHsm::new("no-pin");
    let out = hsm.dir().join("out");
    // setsid: no controlling terminal, as in CI; keyrite must not hang or guess.
    let mut cmd = Command::new("setsid");
    cmd.arg("-w")
        .arg(env!("CARGO_BIN_EXE_keyrite"))
        .env_remove("KEYRITE_PIN")
        .envs(hsm.envs())
        .env("KEYRITE_PKCS11_MODULE", hsm.module())
        .args([
            "root",
            "create",
            "--token",
            "pkcs11:token=no-pin",
            "--subject",
            SUBJECT,
        ])
        .args(["--validity", "20y", "--out"])
        .arg(&out)
        .stdin(Stdio::null());
    let outcome = run(&mut cmd);
    assert_refused(&hsm, outcome, "pin-source=file:PATH", &out, 0, 0);
}

#[test]
fn the_pin_can_come_from_the_environment() {
    let hsm = SoftHsm::new("env-pin");
    let out = hsm.dir().join("out");
    let (ok, text) = run(hsm
        .command()
        .env("KEYRITE_PIN", USER_PIN)
        .args([
            "root",
            "create",
            "--token",
            "pkcs11:token=env-pin",
            "--subject",
            SUBJECT,
        ])
        .args(["--validity", "20y", "--out"])
        .arg(&out));
    assert!(ok, "{text}");
    assert!(out.join("root.crt").exists());
}
