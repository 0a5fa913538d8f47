//! Checks that the shared fixtures and verifiers work on this machine, independently of keyrite.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;

/// Generates an EC P-384 key pair `label` on `token` with pkcs11-tool.
fn keypairgen_p384(token: &impl Token, label: &str) {
    run_ok(token.pkcs11_tool().args([
        "--login",
        "--pin",
        token.pin(),
        "--keypairgen",
        "--key-type",
        "EC:secp384r1",
        "--label",
        label,
    ]));
}

#[test]
fn softhsm_token_starts_empty_with_a_private_pin_file() {
    let hsm = SoftHsm::new("fixture-soft");
    assert_eq!(count_objects(&hsm), 0);
    let uri = hsm.pin_uri();
    let pin = hsm.dir().join("user.pin");
    assert_eq!(
        uri,
        format!(
            "pkcs11:token=fixture-soft?pin-source=file:{}",
            pin.display()
        )
    );
    assert_eq!(fs::read_to_string(&pin).unwrap(), USER_PIN);
    assert_eq!(
        fs::metadata(&pin).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn p11kit_server_forwards_key_generation() {
    let server = P11KitServer::start(SoftHsm::new("fixture-proxy"));
    let slots = run_ok(
        Command::new("pkcs11-tool")
            .envs(server.envs())
            .arg("--module")
            .arg(server.module())
            .arg("--list-slots"),
    );
    assert!(
        slots.contains("token label        : fixture-proxy"),
        "{slots}"
    );
    keypairgen_p384(&server, "through-proxy");
    assert_eq!(count_objects(&server), 2);
    assert_eq!(
        count_objects(&server.softhsm),
        2,
        "the key is on the SoftHSM token itself"
    );
}

#[test]
fn swtpm_signs_a_sha384_digest_with_a_p384_key() {
    let tpm = SwTpm::new("fixture-tpm");
    assert_eq!(count_objects(&tpm), 0);
    keypairgen_p384(&tpm, "tpm-key");
    let dir = tpm.dir();
    let digest = dir.join("digest");
    fs::write(&digest, [0x5a; 48]).unwrap();
    let sig = dir.join("sig.der");
    run_ok(
        tpm.pkcs11_tool()
            .args([
                "--login",
                "--pin",
                tpm.pin(),
                "--sign",
                "--mechanism",
                "ECDSA",
            ])
            .args(["--label", "tpm-key", "--signature-format", "openssl", "-i"])
            .arg(&digest)
            .arg("-o")
            .arg(&sig),
    );
    let spki = dir.join("pub.der");
    fs::write(&spki, p384_spki(&pkcs11_tool_list_objects(&tpm))).unwrap();
    run_ok(
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey"])
            .arg(&spki)
            .arg("-in")
            .arg(&digest)
            .arg("-sigfile")
            .arg(&sig),
    );
}

#[test]
fn swtpm_wrong_pins_do_not_lock_the_token() {
    let tpm = SwTpm::new("fixture-da");
    for _ in 0..5 {
        let (ok, _) = run(tpm
            .pkcs11_tool()
            .args(["--login", "--pin", "999999", "--list-objects"]));
        assert!(!ok, "a wrong PIN was accepted");
    }
    pkcs11_tool_list_objects(&tpm);
}

#[test]
fn verifiers_accept_an_openssl_root_and_pkilint_gates_on_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let good = openssl_root(dir.path(), "good", "critical,");
    for (name, (ok, out)) in [
        ("openssl", openssl_verify_self_signed(&good)),
        ("certtool", certtool_verify_self_signed(&good)),
        ("pkilint", pkilint_cert(&good)),
    ] {
        assert!(ok, "{name} rejected a well-formed root:\n{out}");
    }
    let (ok, out) = pkilint_cert(&openssl_root(dir.path(), "noncritical", ""));
    assert!(
        !ok && out.contains("pkix.basic_constraints_extension_not_critical"),
        "{out}"
    );
}

/// Makes a self-signed P-384 CA with OpenSSL; `crit` is `"critical,"` or `""` for its extensions.
fn openssl_root(dir: &Path, name: &str, crit: &str) -> std::path::PathBuf {
    let key = dir.join(format!("{name}.key"));
    let pem = dir.join(format!("{name}.pem"));
    run_ok(
        Command::new("openssl")
            .args(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out"])
            .arg(&key),
    );
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-x509",
                "-sha384",
                "-days",
                "3650",
                "-subj",
                "/CN=Fixture Root CA",
            ])
            .args(["-addext", &format!("basicConstraints={crit}CA:TRUE")])
            .args(["-addext", &format!("keyUsage={crit}keyCertSign,cRLSign")])
            .args(["-addext", "subjectKeyIdentifier=hash"])
            .args(["-addext", "authorityKeyIdentifier=none"])
            .arg("-key")
            .arg(&key)
            .arg("-out")
            .arg(&pem),
    );
    pem
}

/// The DER SubjectPublicKeyInfo of the first P-384 `EC_POINT` in pkcs11-tool's listing.
fn p384_spki(listing: &str) -> Vec<u8> {
    let point = listing
        .lines()
        .find_map(|l| l.trim().strip_prefix("EC_POINT:"))
        .expect("an EC_POINT in the listing")
        .trim();
    let point = point.strip_prefix("0461").unwrap_or(point); // DER OCTET STRING wrapping
    let hex = format!("3076301006072a8648ce3d020106052b81040022036200{point}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
