//! A publisher's key in each store (age-sealed file, SoftHSM2, SoftHSM2 behind p11-kit
//! server) and of each key type: keygen, CSR, delegate issuance, install-chain, then
//! notation-keyrite answering the requests notation sends. openssl verifies each signature
//! against the leaf, and the chain against the root. A CSR that openssl signed through its
//! PKCS#11 engine, as a KMS's own tooling would, is issued like keyrite's own.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::ceremony::Ceremony;
use common::*;
use data_encoding::{BASE64, BASE64URL_NOPAD};
use serde_json::{Value, json};

const PASSPHRASE: &str = "correct horse battery staple";

/// Every algorithm keygen offers, with notation's keySpec, hash and JWS alg for it.
const KEY_TYPES: [(&str, &str, &str, &str); 6] = [
    ("p256", "EC-256", "SHA-256", "ES256"),
    ("p384", "EC-384", "SHA-384", "ES384"),
    ("p521", "EC-521", "SHA-512", "ES512"),
    ("rsa2048", "RSA-2048", "SHA-256", "PS256"),
    ("rsa3072", "RSA-3072", "SHA-384", "PS384"),
    ("rsa4096", "RSA-4096", "SHA-512", "PS512"),
];

/// The JWS signing input notation hands a plugin: the protected header (with `alg` from the
/// keySpec) and the descriptor payload, each base64url, joined by a dot.
fn notation_signing_input(jws_alg: &str) -> Vec<u8> {
    let header = json!({
        "alg": jws_alg,
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": "2026-11-24T10:00:00Z",
    });
    let payload = json!({
        "targetArtifact": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
            "size": 528,
        }
    });
    format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(payload.to_string().as_bytes())
    )
    .into_bytes()
}

/// Verifies a raw plugin signature over `input` with openssl against `leaf`'s key.
fn openssl_verify_signature(
    dir: &Path,
    leaf: &Path,
    spec: &str,
    hash: &str,
    input: &[u8],
    raw: &[u8],
) {
    let public = dir.join("leaf-public.pem");
    fs::write(
        &public,
        run_ok(
            Command::new("openssl")
                .args(["x509", "-pubkey", "-noout", "-in"])
                .arg(leaf),
        ),
    )
    .unwrap();
    let data = dir.join("input.bin");
    fs::write(&data, input).unwrap();
    let signature = dir.join("signature.bin");
    let digest = format!("-{}", hash.replace('-', "").to_lowercase());
    let mut cmd = Command::new("openssl");
    cmd.args(["dgst", &digest, "-verify"]).arg(&public);
    if spec.starts_with("EC") {
        // notation's r || s, as the DER ECDSA-Sig-Value openssl reads, built by openssl itself.
        let (r, s) = raw.split_at(raw.len() / 2);
        let conf = dir.join("sig.asn1");
        fs::write(
            &conf,
            format!(
                "asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x{}\ns=INTEGER:0x{}\n",
                hex::encode(r),
                hex::encode(s)
            ),
        )
        .unwrap();
        run_ok(
            Command::new("openssl")
                .args(["asn1parse", "-noout", "-genconf"])
                .arg(&conf)
                .arg("-out")
                .arg(&signature),
        );
    } else {
        fs::write(&signature, raw).unwrap();
        cmd.args([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    let (ok, text) = run(cmd.arg("-signature").arg(&signature).arg(&data));
    assert!(ok && text.contains("Verified OK"), "{spec}: {text}");
}

/// Something that depends on the key algorithm's name.
type PerAlgorithm<'a, T> = Box<dyn Fn(&str) -> T + 'a>;

/// A key store under test: where keys go and what the plugin needs to open them.
struct Store<'a> {
    name: &'a str,
    /// The key URI for an algorithm.
    key_uri: PerAlgorithm<'a, String>,
    /// Extra keygen arguments for an algorithm.
    keygen_args: PerAlgorithm<'a, Vec<String>>,
    /// The environment of keyrite and the plugin.
    envs: Vec<(&'static str, String)>,
}

/// keygen → CSR → delegate issue → install-chain → describe-key → generate-signature, for
/// every key type in `store`.
fn sign_with_every_key_type(store: &Store<'_>) {
    let pki = Ceremony::new(&format!("{}-root", store.name));
    let work = pki.hsm.dir().join("publisher");
    fs::create_dir_all(&work).unwrap();
    for (alg, spec, hash, jws_alg) in KEY_TYPES {
        let key_id = (store.key_uri)(alg);
        let csr = work.join(format!("{alg}.csr"));
        let mut keygen = Command::new(env!("CARGO_BIN_EXE_keyrite"));
        keygen
            .env_remove("KEYRITE_PIN")
            .envs(store.envs.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["publisher", "keygen", "--key", &key_id, "--algorithm", alg])
            .args([
                "--subject",
                &format!("C=US,ST=WA,O=Publisher,CN=signer-{alg}"),
            ])
            .arg("--out")
            .arg(&csr)
            .args((store.keygen_args)(alg));
        let made = run_ok(&mut keygen);
        assert!(made.contains(&key_id), "{made}");
        run_ok(
            Command::new("openssl")
                .args(["req", "-verify", "-noout", "-in"])
                .arg(&csr),
        );

        pki.issue(&csr, &work);
        let mut install = Command::new(env!("CARGO_BIN_EXE_keyrite"));
        install
            .env_remove("KEYRITE_PIN")
            .envs(store.envs.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["publisher", "install-chain", "--key", &key_id, "--chain"])
            .arg(work.join(format!("{alg}.chain.pem")));
        run_ok(&mut install);

        let (status, out, err) = notation_keyrite(&["get-plugin-metadata"], b"{}", &store.envs);
        assert_eq!(status, 0, "{err}");
        let metadata: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(metadata["capabilities"], json!(["SIGNATURE_GENERATOR.RAW"]));
        assert_eq!(metadata["supportedContractVersions"], json!(["1.0"]));

        let describe = json!({"contractVersion": "1.0", "keyId": key_id, "pluginConfig": {}});
        let (status, out, err) = notation_keyrite(
            &["describe-key"],
            describe.to_string().as_bytes(),
            &store.envs,
        );
        assert_eq!(status, 0, "{alg}: {err}");
        let described: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            described,
            json!({"keyId": key_id, "keySpec": spec}),
            "{alg}"
        );

        let input = notation_signing_input(jws_alg);
        // notation base64-encodes the signing input once more for the plugin.
        let request = signature_request(&key_id, spec, hash, &BASE64.encode(&input))
            .to_string()
            .into_bytes();
        let (status, out, err) = notation_keyrite(&["generate-signature"], &request, &store.envs);
        assert_eq!(status, 0, "{alg}: {err}");
        assert!(err.is_empty(), "{err}");
        let answer: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(answer["keyId"], json!(key_id));
        let expected_alg = if spec.starts_with("EC") {
            format!("ECDSA-{hash}")
        } else {
            format!("RSASSA-PSS-{hash}")
        };
        assert_eq!(answer["signingAlgorithm"], json!(expected_alg));
        let raw = BASE64
            .decode(answer["signature"].as_str().unwrap().as_bytes())
            .unwrap();
        if spec.starts_with("EC") {
            let width = match spec {
                "EC-256" => 32,
                "EC-384" => 48,
                _ => 66,
            };
            assert_eq!(raw.len(), 2 * width, "{alg}: r || s is fixed width");
        }

        // The chain as notation would put it in the envelope: leaf first, root last.
        let chain: Vec<Vec<u8>> = answer["certificateChain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| BASE64.decode(c.as_str().unwrap().as_bytes()).unwrap())
            .collect();
        assert_eq!(chain.len(), 2, "{alg}");
        let leaf = der_to_pem(&work, &format!("{alg}-leaf"), &chain[0]);
        let root = der_to_pem(&work, &format!("{alg}-root"), &chain[1]);
        assert_eq!(
            fs::read_to_string(&root).unwrap(),
            fs::read_to_string(&pki.root).unwrap(),
            "the chain ends with the ceremony's root"
        );
        openssl_verify_signature(&work, &leaf, spec, hash, &input, &raw);
        run_ok(
            Command::new("openssl")
                .args(["verify", "-x509_strict", "-CAfile"])
                .arg(&pki.root)
                .arg(&leaf),
        );
    }
}

/// Writes a DER certificate as PEM with openssl and returns the path.
fn der_to_pem(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    let der_path = dir.join(format!("{name}.der"));
    fs::write(&der_path, der).unwrap();
    let pem = dir.join(format!("{name}.pem"));
    run_ok(
        Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&der_path)
            .arg("-out")
            .arg(&pem),
    );
    pem
}

#[test]
fn age_sealed_key_files_of_every_type_sign_for_notation() {
    let dir = tempfile::tempdir().unwrap();
    let identity = age::x25519::Identity::generate();
    let identity_file = dir.path().join("identity.txt");
    {
        use age::secrecy::ExposeSecret;
        fs::write(
            &identity_file,
            format!("{}\n", identity.to_string().expose_secret()),
        )
        .unwrap();
    }
    let recipient = identity.to_public().to_string();
    let keys = dir.path().join("keys");
    // Half the keys sealed to a passphrase, half to an X25519 recipient.
    let sealed_to_recipient = |alg: &str| matches!(alg, "p384" | "rsa2048" | "rsa4096");
    let store = Store {
        name: "file",
        key_uri: Box::new(|alg| format!("file:{}", keys.join(format!("{alg}.key")).display())),
        keygen_args: Box::new(|alg| {
            if sealed_to_recipient(alg) {
                vec!["--recipient".into(), recipient.clone()]
            } else {
                vec!["--scrypt-work-factor".into(), "14".into()]
            }
        }),
        envs: vec![
            ("KEYRITE_KEY_PASSPHRASE", PASSPHRASE.into()),
            ("KEYRITE_AGE_IDENTITY", identity_file.display().to_string()),
        ],
    };
    sign_with_every_key_type(&store);
    for (alg, ..) in KEY_TYPES {
        let key = fs::read(keys.join(format!("{alg}.key"))).unwrap();
        assert!(
            key.starts_with(b"age-encryption.org/v1\n"),
            "{alg} is sealed"
        );
        let header = String::from_utf8_lossy(&key[..key.len().min(200)]).into_owned();
        if sealed_to_recipient(alg) {
            assert!(header.contains("-> X25519 "), "{header}");
        } else {
            assert!(
                header.contains("-> scrypt ") && header.contains(" 14\n"),
                "{header}"
            );
        }
    }
}

/// The URI of publisher key `alg` on `token`, with its PIN file.
fn token_key_uri(token: &impl Token, alg: &str) -> String {
    format!(
        "pkcs11:token={};object=signer-{alg}?pin-source=file:{}",
        token.label(),
        token.pin_file().display()
    )
}

#[test]
fn softhsm_keys_of_every_type_sign_for_notation() {
    let token = SoftHsm::new("publisher-hsm");
    let chains = token.dir().join("chains");
    let mut envs = token.envs();
    envs.push(("KEYRITE_PKCS11_MODULE", SOFTHSM_MODULE.into()));
    envs.push(("KEYRITE_CHAINS", chains.display().to_string()));
    let store = Store {
        name: "softhsm",
        key_uri: Box::new(|alg| token_key_uri(&token, alg)),
        keygen_args: Box::new(|_| Vec::new()),
        envs,
    };
    sign_with_every_key_type(&store);
    // Generated inside the token: sensitive, never extractable, sign-only.
    let objects = pkcs11_tool_list_objects(&token);
    assert_eq!(objects.matches("never extractable").count(), 6, "{objects}");
    assert!(!objects.contains("decrypt"), "{objects}");
}

/// `openssl` with its PKCS#11 engine pointed at SoftHSM2 and `token`'s tokens.
fn openssl_through_pkcs11(token: &SoftHsm) -> Command {
    let engine = openssl_pkcs11_engine();
    assert!(
        engine.is_file(),
        "{} is missing: install libengine-pkcs11-openssl (scripts/test does)",
        engine.display()
    );
    let mut cmd = Command::new("openssl");
    cmd.envs(token.envs())
        .env("PKCS11_MODULE_PATH", SOFTHSM_MODULE);
    cmd
}

/// A delegate key in a cloud KMS may come to the ceremony as a CSR the KMS signed, not
/// keyrite: here openssl signs the CSR through its PKCS#11 engine with a P-384 key that
/// pkcs11-tool generated on a SoftHSM2 token, and `csr show` and `delegate issue` take it.
#[test]
fn a_csr_signed_outside_keyrite_through_openssls_pkcs11_engine_is_issued() {
    let pki = Ceremony::new("kms-root");
    let token = SoftHsm::new("kms");
    run_ok(token.pkcs11_tool().args([
        "--login",
        "--pin",
        token.pin(),
        "--keypairgen",
        "--key-type",
        "EC:secp384r1",
        "--label",
        "kms-signer",
        "--id",
        "6b6d73",
    ]));
    let key = |kind: &str| {
        format!(
            "pkcs11:token=kms;object=kms-signer;type={kind}?pin-source=file:{}",
            token.pin_file().display()
        )
    };
    let work = token.dir().join("work");
    fs::create_dir(&work).unwrap();
    let csr = work.join("kms-signer.csr");
    run_ok(
        openssl_through_pkcs11(&token)
            .args([
                "req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key",
            ])
            .arg(key("private"))
            .args(["-subj", "/C=US/ST=WA/O=Publisher/CN=kms-signer", "-sha384"])
            .arg("-out")
            .arg(&csr),
    );

    let (ok, shown) = run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .args(["csr", "show"])
        .arg(&csr));
    assert!(
        ok && shown.contains("subject:  C=US, ST=WA, O=Publisher, CN=kms-signer")
            && shown.contains("EC P-384")
            && !shown.contains("refused:"),
        "{shown}"
    );
    pki.issue(&csr, &work);
    let cert = work.join("kms-signer.crt");
    run_ok(
        Command::new("openssl")
            .args(["verify", "-x509_strict", "-CAfile"])
            .arg(&pki.root)
            .arg(&cert),
    );
    // The certificate is for the key on the token, as the engine reads it there.
    let on_token = run_ok(
        openssl_through_pkcs11(&token)
            .args([
                "pkey", "-engine", "pkcs11", "-inform", "engine", "-pubin", "-pubout", "-in",
            ])
            .arg(key("public")),
    );
    let certified = run_ok(
        Command::new("openssl")
            .args(["x509", "-pubkey", "-noout", "-in"])
            .arg(&cert),
    );
    assert!(
        on_token.contains(certified.trim()),
        "{on_token}\n{certified}"
    );
}

#[test]
fn keys_behind_p11_kit_server_sign_for_notation() {
    let server = P11KitServer::start(SoftHsm::new("network-hsm"));
    let chains = server.dir().join("chains");
    let mut envs = server.envs();
    envs.push((
        "KEYRITE_PKCS11_MODULE",
        server.module().display().to_string(),
    ));
    envs.push(("KEYRITE_CHAINS", chains.display().to_string()));
    let store = Store {
        name: "p11kit",
        key_uri: Box::new(|alg| token_key_uri(&server, alg)),
        keygen_args: Box::new(|_| Vec::new()),
        envs,
    };
    sign_with_every_key_type(&store);
    let objects = pkcs11_tool_list_objects(&server.softhsm);
    assert_eq!(objects.matches("never extractable").count(), 6, "{objects}");
}
