//! What the publisher's tools refuse, and how: notation-keyrite answers every bad request with
//! notation's error code on stderr (exit 1, nothing on stdout, no secret in either), a chain
//! recorded for another key is never used or recorded, keygen refuses before it makes anything,
//! and install-plugin never overwrites a plugin unasked.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::ceremony::Ceremony;
use common::*;
use data_encoding::BASE64;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The passphrase the publisher's key file is sealed to.
const PASSPHRASE: &str = "correct horse battery staple";
/// A passphrase that does not open it.
const WRONG_PASSPHRASE: &str = "Tr0ub4dor&3 opens nothing";
/// A user PIN the fixture tokens do not have.
const WRONG_PIN: &str = "654321";

/// Runs `cmd` with stdin closed: (exit status, stdout, stderr).
fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Panics if any of `secrets` appears in `texts`.
fn assert_no_secret(case: &str, secrets: &[String], texts: &[&str]) {
    for secret in secrets {
        for text in texts {
            assert!(
                !text.contains(secret.as_str()),
                "{case}: a secret appears in the output:\n{text}"
            );
        }
    }
}

/// Checks a plugin answer is a refusal with `code` as notation reads it: exit status 1,
/// nothing on stdout, exactly `{"errorCode", "errorMessage"}` on stderr, no secret anywhere.
/// Returns the message.
fn assert_refused(
    case: &str,
    (status, out, err): &(i32, String, String),
    code: &str,
    secrets: &[String],
) -> String {
    assert_no_secret(case, secrets, &[out, err]);
    assert_eq!(*status, 1, "{case}: exit status; stderr: {err}");
    assert!(out.is_empty(), "{case}: stdout must be empty: {out}");
    let answer: Value = serde_json::from_str(err.trim())
        .unwrap_or_else(|e| panic!("{case}: stderr is not one JSON object ({e}): {err}"));
    let fields = answer.as_object().expect("an object");
    assert_eq!(fields.len(), 2, "{case}: {err}");
    assert_eq!(answer["errorCode"], json!(code), "{case}: {err}");
    let message = answer["errorMessage"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{case}: {err}");
    message.to_owned()
}

/// The describe-key request notation sends.
fn describe_request(key_id: &str) -> Value {
    json!({"contractVersion": "1.0", "keyId": key_id, "pluginConfig": {}})
}

/// `request` without `field`.
fn without(mut request: Value, field: &str) -> Value {
    request.as_object_mut().unwrap().remove(field);
    request
}

/// `request` with `field` set to `value`.
fn with(mut request: Value, field: &str, value: &str) -> Value {
    request[field] = json!(value);
    request
}

/// A payload as notation sends it: the JWS signing input, base64.
fn payload() -> String {
    BASE64.encode(b"eyJhbGciOiJFUzI1NiJ9.eyJ0YXJnZXRBcnRpZmFjdCI6e319")
}

/// `pkcs11:` URI of key `object` on `token`, reading the PIN from `pin_file`.
fn key_uri(token: &impl Token, object: &str, pin_file: &Path) -> String {
    format!(
        "pkcs11:token={};object={object}?pin-source=file:{}",
        token.label(),
        pin_file.display()
    )
}

/// A publisher with two keys ready to sign: a P-256 key file sealed to [`PASSPHRASE`] and a
/// P-384 key on a SoftHSM2 token, each with the chain the ceremony issued for it recorded.
struct Publisher {
    pki: Ceremony,
    token: SoftHsm,
    dir: TempDir,
    /// An X25519 identity file handed to the plugin, and its secret.
    identity_file: PathBuf,
    identity_secret: String,
}

impl Publisher {
    fn new(name: &str) -> Publisher {
        let pki = Ceremony::new(&format!("{name}-root"));
        let token = SoftHsm::new(&format!("{name}-hsm"));
        let dir = tempfile::tempdir().unwrap();
        let identity = age::x25519::Identity::generate();
        let identity_secret = {
            use age::secrecy::ExposeSecret;
            identity.to_string().expose_secret().to_owned()
        };
        let identity_file = dir.path().join("identity.txt");
        fs::write(&identity_file, format!("{identity_secret}\n")).unwrap();
        fs::create_dir(dir.path().join("keys")).unwrap();
        let publisher = Publisher {
            pki,
            token,
            dir,
            identity_file,
            identity_secret,
        };
        for (key_id, alg) in [
            (publisher.file_uri(), "p256"),
            (publisher.token_uri(), "p384"),
        ] {
            let csr = publisher.csr(alg);
            let mut keygen = publisher.keyrite();
            keygen
                .args(["publisher", "keygen", "--key", &key_id, "--algorithm", alg])
                .args(["--subject", &format!("C=US,ST=WA,O=Publisher,CN={alg}")])
                .arg("--out")
                .arg(&csr);
            if key_id.starts_with("file:") {
                keygen.args(["--scrypt-work-factor", "14"]);
            }
            run_ok(&mut keygen);
            publisher
                .pki
                .issue(&csr, &publisher.dir.path().join("issued"));
            run_ok(
                publisher
                    .keyrite()
                    .args(["publisher", "install-chain", "--key", &key_id, "--chain"])
                    .arg(publisher.issued_chain(alg)),
            );
        }
        publisher
    }

    /// The CSR keygen wrote for the `alg` key.
    fn csr(&self, alg: &str) -> PathBuf {
        self.dir.path().join(format!("{alg}.csr"))
    }

    /// The chain the ceremony issued for the `alg` key.
    fn issued_chain(&self, alg: &str) -> PathBuf {
        self.dir
            .path()
            .join("issued")
            .join(format!("{alg}.chain.pem"))
    }

    /// The key file.
    fn file_key(&self) -> PathBuf {
        self.dir.path().join("keys/signer.key")
    }

    /// The key file's id.
    fn file_uri(&self) -> String {
        format!("file:{}", self.file_key().display())
    }

    /// The token key's id, with the right PIN file.
    fn token_uri(&self) -> String {
        key_uri(&self.token, "signer", &self.token.pin_file())
    }

    /// The directory where token keys' chains are recorded.
    fn chains(&self) -> PathBuf {
        self.dir.path().join("chains")
    }

    /// What keyrite and the plugin need: the token's module and configuration, the chains
    /// directory, the key file's passphrase and an identity file.
    fn envs(&self) -> Vec<(&'static str, String)> {
        let mut envs = self.token.envs();
        envs.extend([
            ("KEYRITE_PKCS11_MODULE", SOFTHSM_MODULE.to_owned()),
            ("KEYRITE_CHAINS", self.chains().display().to_string()),
            ("KEYRITE_KEY_PASSPHRASE", PASSPHRASE.to_owned()),
            (
                "KEYRITE_AGE_IDENTITY",
                self.identity_file.display().to_string(),
            ),
        ]);
        envs
    }

    /// Every secret the fixture knows, right or wrong: none may ever be printed.
    fn secrets(&self) -> Vec<String> {
        vec![
            USER_PIN.to_owned(),
            WRONG_PIN.to_owned(),
            PASSPHRASE.to_owned(),
            WRONG_PASSPHRASE.to_owned(),
            self.identity_secret.clone(),
        ]
    }

    /// keyrite with [`Self::envs`].
    fn keyrite(&self) -> Command {
        let mut cmd = self.token.command();
        cmd.env_remove("KEYRITE_PASSPHRASE").envs(self.envs());
        cmd
    }

    /// Asserts the key signs for notation: describe-key and generate-signature succeed.
    fn assert_signs(&self, key_id: &str, spec: &str, hash: &str) {
        let envs = self.envs();
        let (status, out, err) = notation_keyrite(
            &["describe-key"],
            describe_request(key_id).to_string().as_bytes(),
            &envs,
        );
        assert_eq!(status, 0, "describe-key {key_id}: {err}");
        let described: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(described, json!({"keyId": key_id, "keySpec": spec}));
        let request = signature_request(key_id, spec, hash, &payload());
        let (status, out, err) = notation_keyrite(
            &["generate-signature"],
            request.to_string().as_bytes(),
            &envs,
        );
        assert_eq!(status, 0, "generate-signature {key_id}: {err}");
        let answer: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(answer["keyId"], json!(key_id));
        assert!(answer["signature"].is_string(), "{out}");
        assert_eq!(answer["certificateChain"].as_array().map(Vec::len), Some(2));
        assert_no_secret(key_id, &self.secrets(), &[&out, &err]);
    }
}

/// One bad request and the refusal it must get.
struct Case {
    name: String,
    args: Vec<&'static str>,
    request: Vec<u8>,
    envs: Vec<(&'static str, String)>,
    code: &'static str,
    /// A phrase the error message must contain.
    says: String,
}

/// notation-keyrite refuses malformed requests, unknown commands, other contract versions,
/// unknown key ids, a keySpec or hashAlgorithm that does not fit the key, and a wrong or
/// missing passphrase with notation's error codes (exit 1, empty stdout, no secret printed);
/// one wrong PIN is ACCESS_DENIED and leaves the token usable; both keys still sign afterwards.
#[test]
fn plugin_refuses_bad_requests_with_notations_error_codes() {
    let publisher = Publisher::new("requests");
    let envs = publisher.envs();
    let secrets = publisher.secrets();
    let file = publisher.file_uri();
    let token = publisher.token_uri();
    let good_file_sig = signature_request(&file, "EC-256", "SHA-256", &payload());
    let good_token_sig = signature_request(&token, "EC-384", "SHA-384", &payload());
    let absent_file = format!(
        "file:{}",
        publisher.dir.path().join("keys/absent.key").display()
    );
    let absent_object = key_uri(&publisher.token, "absent", &publisher.token.pin_file());
    let absent_token = format!(
        "pkcs11:token=absent-token;object=signer?pin-source=file:{}",
        publisher.token.pin_file().display()
    );
    let case = |name: &str, command: &'static str, request: Vec<u8>, code, says: &str| Case {
        name: name.to_owned(),
        args: vec![command],
        request,
        envs: envs.clone(),
        code,
        says: says.to_owned(),
    };
    let json_case = |name: &str, command, request: Value, code, says: &str| {
        case(name, command, request.to_string().into_bytes(), code, says)
    };
    const VALIDATION: &str = "VALIDATION_ERROR";
    let mut cases = vec![
        // 1. Malformed JSON.
        case(
            "truncated describe-key",
            "describe-key",
            br#"{"contractVersion":"#.to_vec(),
            VALIDATION,
            "not valid JSON",
        ),
        case(
            "truncated generate-signature",
            "generate-signature",
            br#"{"contractVersion":"#.to_vec(),
            VALIDATION,
            "not valid JSON",
        ),
        case(
            "truncated get-plugin-metadata",
            "get-plugin-metadata",
            br#"{"pluginConfig":"#.to_vec(),
            VALIDATION,
            "not valid JSON",
        ),
        case(
            "empty request",
            "describe-key",
            Vec::new(),
            VALIDATION,
            "not valid JSON",
        ),
        // 3. Unknown or missing command.
        json_case(
            "unknown command",
            "sign-everything",
            good_file_sig.clone(),
            VALIDATION,
            "unknown command 'sign-everything'",
        ),
        Case {
            name: "no command".into(),
            args: Vec::new(),
            request: good_file_sig.to_string().into_bytes(),
            envs: envs.clone(),
            code: VALIDATION,
            says: "usage: notation-keyrite COMMAND".into(),
        },
        Case {
            name: "two commands".into(),
            args: vec!["describe-key", "generate-signature"],
            request: describe_request(&file).to_string().into_bytes(),
            envs: envs.clone(),
            code: VALIDATION,
            says: "usage: notation-keyrite COMMAND".into(),
        },
        // 5. Key ids that name no key.
        json_case(
            "keyId neither pkcs11: nor file:",
            "describe-key",
            describe_request("vault:transit/signer"),
            VALIDATION,
            "is not a key URI",
        ),
        json_case(
            "keyId neither pkcs11: nor file: (sign)",
            "generate-signature",
            signature_request("/keys/signer.key", "EC-256", "SHA-256", &payload()),
            VALIDATION,
            "is not a key URI",
        ),
        json_case(
            "key file that does not exist",
            "describe-key",
            describe_request(&absent_file),
            VALIDATION,
            "unknown key",
        ),
        json_case(
            "key file that does not exist (sign)",
            "generate-signature",
            signature_request(&absent_file, "EC-256", "SHA-256", &payload()),
            VALIDATION,
            "unknown key",
        ),
        json_case(
            "object label not on the token",
            "describe-key",
            describe_request(&absent_object),
            VALIDATION,
            "no private key on token",
        ),
        json_case(
            "object label not on the token (sign)",
            "generate-signature",
            signature_request(&absent_object, "EC-384", "SHA-384", &payload()),
            VALIDATION,
            "no private key on token",
        ),
        json_case(
            "token that is not there",
            "describe-key",
            describe_request(&absent_token),
            VALIDATION,
            "no token matches",
        ),
        // 6. keySpec or hashAlgorithm that does not fit the key.
        json_case(
            "EC-384 keySpec for the P-256 key",
            "generate-signature",
            with(good_file_sig.clone(), "keySpec", "EC-384"),
            VALIDATION,
            "keySpec 'EC-384' does not match the key, which is EC-256",
        ),
        json_case(
            "RSA-2048 keySpec for the P-256 key",
            "generate-signature",
            with(good_file_sig.clone(), "keySpec", "RSA-2048"),
            VALIDATION,
            "keySpec 'RSA-2048' does not match the key, which is EC-256",
        ),
        json_case(
            "SHA-512 with EC-256",
            "generate-signature",
            with(good_file_sig.clone(), "hashAlgorithm", "SHA-512"),
            VALIDATION,
            "hashAlgorithm 'SHA-512' does not go with EC-256",
        ),
        json_case(
            "EC-256 keySpec for the P-384 token key",
            "generate-signature",
            with(good_token_sig.clone(), "keySpec", "EC-256"),
            VALIDATION,
            "keySpec 'EC-256' does not match the key, which is EC-384",
        ),
        json_case(
            "SHA-256 with EC-384",
            "generate-signature",
            with(good_token_sig.clone(), "hashAlgorithm", "SHA-256"),
            VALIDATION,
            "hashAlgorithm 'SHA-256' does not go with EC-384",
        ),
        json_case(
            "payload that is not base64",
            "generate-signature",
            with(good_file_sig.clone(), "payload", "not base64!"),
            VALIDATION,
            "payload is not base64",
        ),
        json_case(
            "empty payload",
            "generate-signature",
            with(good_file_sig.clone(), "payload", ""),
            VALIDATION,
            "payload is empty",
        ),
    ];
    // 2. Missing fields and 4. other contract versions, for both keys.
    for (store, good_sig) in [("file", &good_file_sig), ("token", &good_token_sig)] {
        let describe = describe_request(good_sig["keyId"].as_str().unwrap());
        for field in ["keyId", "contractVersion"] {
            cases.push(json_case(
                &format!("{store}: describe-key without {field}"),
                "describe-key",
                without(describe.clone(), field),
                VALIDATION,
                &format!("missing field `{field}`"),
            ));
        }
        for field in [
            "payload",
            "hashAlgorithm",
            "keySpec",
            "keyId",
            "contractVersion",
        ] {
            cases.push(json_case(
                &format!("{store}: generate-signature without {field}"),
                "generate-signature",
                without(good_sig.clone(), field),
                VALIDATION,
                &format!("missing field `{field}`"),
            ));
        }
        for (command, request) in [
            ("describe-key", &describe),
            ("generate-signature", good_sig),
        ] {
            cases.push(json_case(
                &format!("{store}: {command} for contract 2.0"),
                command,
                with(request.clone(), "contractVersion", "2.0"),
                "UNSUPPORTED_CONTRACT_VERSION",
                "contract version '2.0' is not supported",
            ));
        }
    }
    // 8. A wrong or missing passphrase for the key file.
    let mut wrong_passphrase = envs.clone();
    wrong_passphrase.retain(|(k, _)| *k != "KEYRITE_KEY_PASSPHRASE");
    let no_passphrase = wrong_passphrase.clone();
    wrong_passphrase.push(("KEYRITE_KEY_PASSPHRASE", WRONG_PASSPHRASE.to_owned()));
    for (name, envs) in [
        ("wrong passphrase", wrong_passphrase),
        ("no passphrase", no_passphrase),
    ] {
        cases.push(Case {
            name: name.into(),
            args: vec!["generate-signature"],
            request: good_file_sig.to_string().into_bytes(),
            envs,
            code: "ACCESS_DENIED",
            says: "passphrase".into(),
        });
    }

    let mut failures = Vec::new();
    for case in &cases {
        let answer = notation_keyrite(&case.args, &case.request, &case.envs);
        let outcome = std::panic::catch_unwind(|| {
            let message = assert_refused(&case.name, &answer, case.code, &secrets);
            assert!(
                message.contains(&case.says),
                "{}: the message does not say {:?}: {message}",
                case.name,
                case.says
            );
        });
        // Every case runs; the failures are reported together at the end.
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| format!("{}: {answer:?}", case.name));
            failures.push(why);
        }
    }

    // Under notation there is no --module flag and no terminal: the messages say what to set
    // in the plugin's environment, never to pass a flag or type a secret.
    let mut no_module = envs.clone();
    no_module.retain(|(k, _)| *k != "KEYRITE_PKCS11_MODULE");
    let mut no_passphrase = envs.clone();
    no_passphrase.retain(|(k, _)| *k != "KEYRITE_KEY_PASSPHRASE");
    for (name, envs, request, says) in [
        (
            "no module",
            no_module,
            good_token_sig.clone(),
            "set KEYRITE_PKCS11_MODULE in the environment notation runs in",
        ),
        (
            "no passphrase",
            no_passphrase,
            good_file_sig.clone(),
            "KEYRITE_KEY_PASSPHRASE",
        ),
    ] {
        let answer = notation_keyrite(
            &["generate-signature"],
            &request.to_string().into_bytes(),
            &envs,
        );
        let message = assert_refused(
            name,
            &answer,
            if name == "no module" {
                "ERROR"
            } else {
                "ACCESS_DENIED"
            },
            &secrets,
        );
        if !message.contains(says) || message.contains("--module") || message.contains("typed") {
            failures.push(format!("{name}: {message}"));
        }
    }

    // A key whose chain was never recorded: the command to run quotes the key id, whose ';'
    // and '?' the shell would otherwise take.
    let unrecorded = format!(
        "file:{}",
        publisher.dir.path().join("keys/unrecorded.key").display()
    );
    run_ok(
        publisher
            .keyrite()
            .args([
                "publisher",
                "keygen",
                "--key",
                &unrecorded,
                "--algorithm",
                "p256",
            ])
            .args(["--subject", "C=US,ST=WA,O=Publisher,CN=unrecorded"])
            .args(["--scrypt-work-factor", "14", "--out"])
            .arg(publisher.dir.path().join("unrecorded.csr")),
    );
    let answer = notation_keyrite(
        &["generate-signature"],
        &signature_request(&unrecorded, "EC-256", "SHA-256", &payload())
            .to_string()
            .into_bytes(),
        &envs,
    );
    let message = assert_refused("unrecorded chain", &answer, "ERROR", &secrets);
    if !message.contains(&format!("install-chain --key '{unrecorded}'")) {
        failures.push(format!("unrecorded chain: {message}"));
    }

    // 7. One wrong PIN: ACCESS_DENIED, and the token still opens with the right one after.
    let wrong_pin_file = publisher.dir.path().join("wrong.pin");
    fs::write(&wrong_pin_file, WRONG_PIN).unwrap();
    let wrong_pin_key = key_uri(&publisher.token, "signer", &wrong_pin_file);
    let answer = notation_keyrite(
        &["generate-signature"],
        signature_request(&wrong_pin_key, "EC-384", "SHA-384", &payload())
            .to_string()
            .as_bytes(),
        &envs,
    );
    let message = assert_refused("wrong PIN", &answer, "ACCESS_DENIED", &secrets);
    assert!(message.contains("wrong PIN"), "{message}");

    // Nothing refused above changed either key or its chain.
    publisher.assert_signs(&token, "EC-384", "SHA-384");
    publisher.assert_signs(&file, "EC-256", "SHA-256");
    assert!(
        failures.is_empty(),
        "{} of {} cases were not refused as notation expects:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A key id's `module-path` is data from notation's configuration: the plugin loads it only
/// from a system module directory, a directory `KEYRITE_PKCS11_MODULE_DIRS` lists, or when
/// `KEYRITE_PKCS11_MODULE` names it, and refuses anything else before loading it. A PIN file
/// is read only when it is a regular file no larger than a PIN needs.
#[test]
fn plugin_loads_a_key_ids_module_only_from_allowed_places_and_reads_pin_files_bounded() {
    let token = SoftHsm::new("module-hsm");
    let secrets = [USER_PIN.to_owned()];
    let pin = token.pin_file();
    let scratch = tempfile::tempdir().unwrap();
    // Not a shared object: were it loaded, the loader would be the one to refuse it.
    let planted = scratch.path().join("libplanted-pkcs11.so");
    fs::write(&planted, b"not a shared object\n").unwrap();
    let key_id = |module: &str, pin: &Path| {
        format!(
            "pkcs11:token={};object=absent?module-path={module}&pin-source=file:{}",
            token.label(),
            pin.display()
        )
    };
    let describe = |key: &str, extra: &[(&'static str, String)]| {
        let mut envs = token.envs();
        envs.extend_from_slice(extra);
        notation_keyrite(
            &["describe-key"],
            describe_request(key).to_string().as_bytes(),
            &envs,
        )
    };
    let planted_id = key_id(&planted.display().to_string(), &pin);

    // Outside the allowed places: refused by the rule, not by the loader.
    for (case, key) in [
        ("module in a scratch directory", planted_id.clone()),
        ("relative module path", key_id("libplanted-pkcs11.so", &pin)),
    ] {
        let message = assert_refused(case, &describe(&key, &[]), "VALIDATION_ERROR", &secrets);
        assert!(
            message.contains("a key id may name only a module in a system module directory")
                && message.contains("KEYRITE_PKCS11_MODULE_DIRS")
                && !message.contains("is not a PKCS#11 module"),
            "{case}: {message}"
        );
    }
    let spy = format!(
        "/usr/lib/{}-linux-gnu/pkcs11/pkcs11-spy.so",
        std::env::consts::ARCH
    );
    if Path::new(&spy).exists() {
        let message = assert_refused(
            "pkcs11-spy",
            &describe(&key_id(&spy, &pin), &[]),
            "VALIDATION_ERROR",
            &secrets,
        );
        assert!(message.contains("logs every call"), "{message}");
    }

    // Allowed by the plugin's environment: now it is the loader that refuses the file.
    let dirs = (
        "KEYRITE_PKCS11_MODULE_DIRS",
        scratch.path().display().to_string(),
    );
    let named = ("KEYRITE_PKCS11_MODULE", planted.display().to_string());
    for (case, env) in [("listed directory", dirs), ("named module", named)] {
        let message = assert_refused(case, &describe(&planted_id, &[env]), "ERROR", &secrets);
        assert!(
            message.contains("is not a PKCS#11 module"),
            "{case}: {message}"
        );
    }

    // A system module directory: SoftHSM2 is loaded and the token opened with the PIN.
    let message = assert_refused(
        "SoftHSM2 by module-path",
        &describe(&key_id(SOFTHSM_MODULE, &pin), &[]),
        "VALIDATION_ERROR",
        &secrets,
    );
    assert!(message.contains("no private key on token"), "{message}");

    // PIN files: one far larger than a PIN, and a link to the right one, are refused unread.
    let module = [("KEYRITE_PKCS11_MODULE", SOFTHSM_MODULE.to_owned())];
    let large = scratch.path().join("large.pin");
    fs::write(&large, format!("{USER_PIN}\n").repeat(1000)).unwrap();
    let linked = scratch.path().join("linked.pin");
    std::os::unix::fs::symlink(&pin, &linked).unwrap();
    for (case, file, says) in [
        ("oversized PIN file", &large, "more than the 4096"),
        ("linked PIN file", &linked, "is a symbolic link"),
    ] {
        let key = format!(
            "pkcs11:token={};object=absent?pin-source=file:{}",
            token.label(),
            file.display()
        );
        let message = assert_refused(case, &describe(&key, &module), "ACCESS_DENIED", &secrets);
        assert!(
            message.contains("PIN file") && message.contains(says),
            "{case}: {message}"
        );
    }
}

/// A chain whose leaf is another key is refused by install-chain (with or without
/// --replace, the record left byte-identical) and, planted over the record, by
/// generate-signature with ERROR; recording the right chain again makes the key sign.
#[test]
fn a_chain_for_another_key_is_never_used_or_recorded() {
    let publisher = Publisher::new("chains");
    let secrets = publisher.secrets();
    let foreign = publisher.pki.chain("a");
    let token_record = {
        let mut records: Vec<PathBuf> = fs::read_dir(publisher.chains())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(records.len(), 1, "{records:?}");
        records.remove(0)
    };
    let mut file_record = publisher.file_key().into_os_string();
    file_record.push(".chain.pem");
    for (key_id, alg, spec, hash, record) in [
        (
            publisher.file_uri(),
            "p256",
            "EC-256",
            "SHA-256",
            PathBuf::from(file_record),
        ),
        (
            publisher.token_uri(),
            "p384",
            "EC-384",
            "SHA-384",
            token_record,
        ),
    ] {
        let recorded = fs::read(&record).unwrap();
        for replace in [false, true] {
            let mut install = publisher.keyrite();
            install
                .args(["publisher", "install-chain", "--key", &key_id, "--chain"])
                .arg(&foreign);
            if replace {
                install.arg("--replace");
            }
            let (status, out, err) = output(&mut install);
            assert_no_secret(&key_id, &secrets, &[&out, &err]);
            assert_ne!(status, 0, "{key_id} (--replace: {replace}): {out}");
            assert!(
                err.contains("is for another key"),
                "{key_id} (--replace: {replace}): {err}"
            );
            assert_eq!(
                fs::read(&record).unwrap(),
                recorded,
                "{key_id}: the record changed"
            );
        }

        fs::copy(&foreign, &record).unwrap();
        let answer = notation_keyrite(
            &["generate-signature"],
            signature_request(&key_id, spec, hash, &payload())
                .to_string()
                .as_bytes(),
            &publisher.envs(),
        );
        let message = assert_refused(&key_id, &answer, "ERROR", &secrets);
        assert!(
            message.contains("the recorded chain") && message.contains("is for another key"),
            "{message}"
        );

        run_ok(
            publisher
                .keyrite()
                .args(["publisher", "install-chain", "--key", &key_id, "--replace"])
                .arg("--chain")
                .arg(publisher.issued_chain(alg)),
        );
        publisher.assert_signs(&key_id, spec, hash);
    }
}

/// Every file under `dir` with its content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A token and an empty work directory for keygen refusals.
struct KeygenSite {
    token: SoftHsm,
}

impl KeygenSite {
    fn new(label: &str) -> KeygenSite {
        let site = KeygenSite {
            token: SoftHsm::new(label),
        };
        fs::create_dir(site.work()).unwrap();
        site
    }

    /// Where keygen writes.
    fn work(&self) -> PathBuf {
        self.token.dir().join("work")
    }

    /// A key file's id in the work directory.
    fn file_uri(&self, name: &str) -> String {
        format!("file:{}", self.work().join(name).display())
    }

    /// A token key's id.
    fn token_uri(&self, object: &str) -> String {
        key_uri(&self.token, object, &self.token.pin_file())
    }

    /// `keyrite publisher keygen`: (exit status, stdout, stderr), secrets checked absent.
    fn keygen(&self, key: &str, alg: &str, subject: &str, out: &str) -> (i32, String, String) {
        let mut cmd = self.token.command();
        cmd.env_remove("KEYRITE_PASSPHRASE")
            .env("KEYRITE_KEY_PASSPHRASE", PASSPHRASE)
            .args(["publisher", "keygen", "--key", key, "--algorithm", alg])
            .args(["--subject", subject, "--out"])
            .arg(self.work().join(out));
        if key.starts_with("file:") {
            cmd.args(["--scrypt-work-factor", "14"]);
        }
        let answer = output(&mut cmd);
        let secrets = [USER_PIN.to_owned(), PASSPHRASE.to_owned()];
        assert_no_secret(key, &secrets, &[&answer.1, &answer.2]);
        answer
    }

    /// Runs a keygen that must be refused saying `says`, and checks it made nothing: the
    /// work directory and the token's objects are as they were.
    fn assert_refused(&self, key: &str, alg: &str, subject: &str, out: &str, says: &str) {
        let files = snapshot(&self.work());
        let objects = count_objects(&self.token);
        let (status, stdout, stderr) = self.keygen(key, alg, subject, out);
        let case = format!("keygen {key} {alg} '{subject}' --out {out}");
        assert_ne!(status, 0, "{case}: {stdout}");
        assert!(
            stderr.contains(says),
            "{case}: stderr lacks {says:?}: {stderr}"
        );
        assert_eq!(snapshot(&self.work()), files, "{case}: files changed");
        assert_eq!(count_objects(&self.token), objects, "{case}: token changed");
    }
}

/// keygen refuses a subject notation would reject (no C/ST/O, no O, a three-letter country), for
/// file and token keys, before making any key, file or token object.
#[test]
fn keygen_refuses_a_subject_notation_would_reject() {
    let site = KeygenSite::new("subject-hsm");
    for key in [site.file_uri("signer.key"), site.token_uri("signer")] {
        site.assert_refused(
            &key,
            "p256",
            "CN=no-country",
            "signer.csr",
            "notation requires C, ST and O",
        );
        site.assert_refused(
            &key,
            "p384",
            "C=US,ST=WA,CN=no-organization",
            "signer.csr",
            "O missing: notation requires",
        );
        site.assert_refused(
            &key,
            "p256",
            "C=USA,ST=WA,O=Org,CN=three-letter-country",
            "signer.csr",
            "C is 3 characters",
        );
    }
    assert_eq!(count_objects(&site.token), 0);
    assert!(snapshot(&site.work()).is_empty());
}

/// keygen refuses an existing CSR file (and, for a file key, an existing key file) before
/// making a key: the existing file is unchanged, nothing else is written, the token is as it was.
#[test]
fn keygen_refuses_an_existing_output_file() {
    let site = KeygenSite::new("existing-hsm");
    let earlier = site.work().join("signer.csr");
    fs::write(&earlier, "an earlier request\n").unwrap();
    for key in [site.file_uri("signer.key"), site.token_uri("signer")] {
        site.assert_refused(
            &key,
            "p256",
            "C=US,ST=WA,O=Org,CN=signer",
            "signer.csr",
            "already exists",
        );
    }
    fs::write(site.work().join("old.key"), "an earlier key\n").unwrap();
    site.assert_refused(
        &site.file_uri("old.key"),
        "p256",
        "C=US,ST=WA,O=Org,CN=signer",
        "old.csr",
        "already exists",
    );
    assert_eq!(
        fs::read_to_string(&earlier).unwrap(),
        "an earlier request\n"
    );
    assert_eq!(count_objects(&site.token), 0);
}

/// keygen refuses a label already on the token: the second keygen makes no object and no CSR,
/// and the first key is still the one the label finds.
#[test]
fn keygen_refuses_a_label_already_on_the_token() {
    let site = KeygenSite::new("label-hsm");
    let key = site.token_uri("signer");
    let (status, _, err) = site.keygen(&key, "p384", "C=US,ST=WA,O=Org,CN=first", "first.csr");
    assert_eq!(status, 0, "{err}");
    assert_eq!(count_objects(&site.token), 2, "a private and a public key");
    site.assert_refused(
        &key,
        "p256",
        "C=US,ST=WA,O=Org,CN=second",
        "second.csr",
        "already holds an object with",
    );
    let mut envs = site.token.envs();
    envs.push(("KEYRITE_PKCS11_MODULE", SOFTHSM_MODULE.to_owned()));
    let (status, out, err) = notation_keyrite(
        &["describe-key"],
        describe_request(&key).to_string().as_bytes(),
        &envs,
    );
    assert_eq!(status, 0, "{err}");
    let described: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(described, json!({"keyId": key, "keySpec": "EC-384"}));
}

/// keygen refuses algorithms notation-keyrite does not offer (ed25519, rsa1024) for file and
/// token keys, making nothing.
#[test]
fn keygen_refuses_unsupported_algorithms() {
    let site = KeygenSite::new("algorithm-hsm");
    for key in [site.file_uri("signer.key"), site.token_uri("signer")] {
        for alg in ["ed25519", "rsa1024"] {
            site.assert_refused(
                &key,
                alg,
                "C=US,ST=WA,O=Org,CN=signer",
                "signer.csr",
                &format!("unknown key algorithm '{alg}'"),
            );
        }
    }
    assert_eq!(count_objects(&site.token), 0);
    assert!(snapshot(&site.work()).is_empty());
}

/// install-plugin copies the built notation-keyrite to DIR/plugins/keyrite as a regular
/// executable file; a second install without --replace is refused and leaves the installed
/// file alone; with --replace it installs the build again.
#[test]
fn install_plugin_copies_the_plugin_and_overwrites_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("notation");
    let installed = config.join("plugins/keyrite/notation-keyrite");
    let built = fs::read(common::plugin_binary()).unwrap();
    let install = |replace: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite"));
        cmd.env_remove("NOTATION_CONFIG")
            .args(["publisher", "install-plugin", "--notation-config"])
            .arg(&config);
        if replace {
            cmd.arg("--replace");
        }
        output(&mut cmd)
    };
    let assert_installed = || {
        let meta = fs::symlink_metadata(&installed).unwrap();
        assert!(meta.file_type().is_file(), "a regular file, not a link");
        assert_eq!(meta.permissions().mode() & 0o111, 0o111, "executable");
        assert!(fs::read(&installed).unwrap() == built, "the built plugin");
    };

    let (status, _, err) = install(false);
    assert_eq!(status, 0, "{err}");
    assert_installed();

    // An older build stands in for what is installed: a refused install must leave it.
    let older = b"#!/bin/sh\necho an older build\n";
    fs::write(&installed, older).unwrap();
    let (status, out, err) = install(false);
    assert_ne!(status, 0, "{out}");
    assert!(err.contains("give --replace"), "{err}");
    assert_eq!(fs::read(&installed).unwrap(), older);

    let (status, _, err) = install(true);
    assert_eq!(status, 0, "{err}");
    assert_installed();
}
