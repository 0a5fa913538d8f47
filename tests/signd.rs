//! keyrite-signd end to end: a build host that holds no key reaches a signing host over mutual
//! TLS through notation-keyrite (requested exactly as notation requests it, and by the real
//! notation), each signature checked by openssl against the leaf and the chain against the
//! root; every refusal with its reason and its audit entry; a silent connection that delays no
//! one; a `kill -9` under load that leaves a log holding every signature a client received;
//! and a service that will not start on a bad configuration, key, chain or PIN.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use data_encoding::BASE64;
use der::Encode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use common::ceremony::{Ceremony, Site};
use common::notation::{self, build_machine};
use common::signd::{ClientCert, Hosts, Signd, TlsPki};
use common::*;

/// The repository the site's statement covers.
const SCOPE: &str = "registry.example/prod/app";

const POLICY: &str = r#"[[statement]]
name = "prod"
registry_scopes = ["registry.example/prod/app"]
level = "strict"
trusted_identities = ["x509.subject: C=US, ST=WA, O=Publisher"]
"#;

/// The passphrase the RSA key file is sealed to.
const PASSPHRASE: &str = "correct horse battery staple";

/// A real notation payload (tests/fixtures/notation-payloads), decoded.
fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/notation-payloads")
        .join(name);
    BASE64
        .decode(fs::read_to_string(path).unwrap().trim().as_bytes())
        .unwrap()
}

/// A ceremony, its two publisher keys on a signing host, the TLS PKI and a configuration.
struct World {
    hosts: Hosts,
    c: Ceremony,
    pki: TlsPki,
    dir: PathBuf,
    envs: Vec<(&'static str, String)>,
    p384_chain: PathBuf,
    rsa_chain: PathBuf,
    /// Clients: build-1 (both keys), build-2 (P-384, 2 a minute, manifests only), build-3
    /// (P-384, SBOMs only), unlisted (in no [[client]]).
    clients: BTreeMap<&'static str, ClientCert>,
}

impl World {
    fn new(label: &str) -> World {
        let hosts = Hosts::new();
        let c = Ceremony::new(label);
        let dir = c.hsm.dir().join("signing-host");
        fs::create_dir_all(&dir).unwrap();
        let mut envs: Vec<(&'static str, String)> = c.hsm.envs();
        envs.push(("KEYRITE_PKCS11_MODULE", SOFTHSM_MODULE.to_owned()));
        envs.push(("KEYRITE_CHAINS", dir.join("chains").display().to_string()));
        let p384_chain = c.publisher_key(&token_key(&c), "p384", &envs);
        let mut with_passphrase = envs.clone();
        with_passphrase.push(("KEYRITE_KEY_PASSPHRASE", PASSPHRASE.into()));
        let rsa_chain = c.publisher_key(&file_key(&c), "rsa3072", &with_passphrase);
        let passphrase = dir.join("rsa.passphrase");
        fs::write(&passphrase, format!("{PASSPHRASE}\n")).unwrap();
        let pki = TlsPki::new(&dir.join("tls"), &hosts);
        let mut clients = BTreeMap::new();
        for name in ["build-1", "build-2", "build-3", "unlisted"] {
            clients.insert(name, pki.client(&pki.client_ca, name, &[]));
        }
        World {
            hosts,
            c,
            pki,
            dir,
            envs,
            p384_chain,
            rsa_chain,
            clients,
        }
    }

    /// The configuration, with `limits` (lines of a `[limits]` table) and `extra` appended.
    fn config(&self, name: &str, limits: &str, extra: &str) -> PathBuf {
        let subject = |n: &str| format!("CN={n}, O=Example");
        let text = format!(
            r#"listen = "{ip}:0"
audit_log = "{dir}/{name}.audit.jsonl"
client_ca = ["{client_ca}"]

[tls]
chain = "{server_chain}"
key = "file:{server_key}"

[limits]
{limits}

[[key]]
name = "p384"
key = "{token_key}"
chain = "{p384_chain}"
sessions = 2

[[key]]
name = "rsa3072"
key = "{file_key}"
passphrase_file = "{dir}/rsa.passphrase"
sessions = 2

[[client]]
name = "build-1"
subject = "{s1}"
keys = ["p384", "rsa3072"]

[[client]]
name = "build-2"
subject = "{s2}"
keys = ["p384"]
rate_per_minute = 2
media_types = ["application/vnd.oci.image.manifest.v1+json"]

[[client]]
name = "build-3"
spki_sha256 = "{spki3}"
keys = ["p384"]
media_types = ["application/spdx+json"]
{extra}"#,
            ip = self.hosts.sign_ip(),
            dir = self.dir.display(),
            client_ca = self.pki.client_ca.root.display(),
            server_chain = self.pki.server_chain().display(),
            server_key = self.pki.server_key().display(),
            token_key = token_key(&self.c),
            p384_chain = self.p384_chain.display(),
            file_key = file_key(&self.c),
            s1 = subject("build-1"),
            s2 = subject("build-2"),
            spki3 = spki_sha256(&self.clients["build-3"].cert),
        );
        let path = self.dir.join(format!("{name}.toml"));
        fs::write(&path, text).unwrap();
        path
    }

    fn start(&self, name: &str, limits: &str) -> Signd {
        let config = self.config(name, limits, "");
        Signd::start(&self.hosts, &config, &self.envs).unwrap_or_else(|e| panic!("{e}"))
    }

    fn audit_log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.audit.jsonl"))
    }

    /// The plugin config a build host gives notation for `client`.
    fn plugin_config(&self, client: &str) -> BTreeMap<String, String> {
        let c = &self.clients[client];
        BTreeMap::from([
            ("client-cert".into(), c.cert.display().to_string()),
            ("client-key".into(), c.key_uri()),
            ("ca".into(), self.pki.server_ca.root.display().to_string()),
        ])
    }

    /// `notation-keyrite COMMAND` on the build host with `request`; (success, JSON answer).
    fn plugin(&self, command: &str, request: &Value) -> (bool, Value) {
        let mut child = self
            .hosts
            .on_build_host(&plugin_binary())
            .arg(command)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = if out.status.success() {
            out.stdout
        } else {
            out.stderr
        };
        let answer = serde_json::from_slice(&text).unwrap_or_else(|e| {
            panic!(
                "plugin answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&text)
            )
        });
        (out.status.success(), answer)
    }

    /// A generate-signature request as notation sends it.
    fn sign_request(
        &self,
        addr: &str,
        key: &str,
        spec: &str,
        hash: &str,
        payload: &[u8],
        client: &str,
    ) -> Value {
        json!({
            "contractVersion": "1.0",
            "keyId": format!("https://{addr}/v1/keys/{key}"),
            "keySpec": spec,
            "hashAlgorithm": hash,
            "payload": BASE64.encode(payload),
            "pluginConfig": self.plugin_config(client),
        })
    }

    /// curl on the build host: (curl's exit code, HTTP status, body, curl's stderr).
    fn curl(
        &self,
        addr: &str,
        client: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> (i32, u16, String, String) {
        let body_file = self.dir.join(format!("curl-body-{}", std::process::id()));
        let mut cmd = self.hosts.on_build_host(Path::new("/usr/bin/curl"));
        cmd.args([
            "-sS",
            "--tlsv1.3",
            "--max-time",
            "30",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
        ])
        .arg("--cacert")
        .arg(&self.pki.server_ca.root)
        .args(["-X", method])
        .arg(format!("https://{addr}{path}"));
        if let Some(name) = client {
            let c = &self
                .clients
                .get(name)
                .unwrap_or_else(|| panic!("client {name}"));
            cmd.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
        }
        if let Some(bytes) = body {
            let file = body_file.with_extension(format!("{}", bytes.len()));
            fs::write(&file, bytes).unwrap();
            cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(format!("@{}", file.display()));
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        (
            out.status.code().unwrap_or(-1),
            status.trim().parse().unwrap_or(0),
            body.to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn token_key(c: &Ceremony) -> String {
    format!(
        "pkcs11:token={};object=publisher-p384?pin-source=file:{}",
        c.hsm.label(),
        c.hsm.pin_file().display()
    )
}

fn file_key(c: &Ceremony) -> String {
    format!("file:{}", c.hsm.dir().join("publisher-rsa.key").display())
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo, as `spki_sha256` takes it.
fn spki_sha256(cert: &Path) -> String {
    let pem = fs::read(cert).unwrap();
    let cert = x509_cert::Certificate::load_pem_chain(&pem)
        .unwrap()
        .remove(0);
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    hex::encode(Sha256::digest(spki))
}

/// A sign request body for the API.
fn sign_body(payload: &[u8], spec: &str, hash: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "payload": BASE64.encode(payload),
        "hashAlgorithm": hash,
        "keySpec": spec,
    }))
    .unwrap()
}

/// The audit log's entries.
fn audit_entries(log: &Path) -> Vec<Value> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `keyrite-signd audit verify LOG`: (success, output).
fn audit_verify(log: &Path) -> (bool, String) {
    run(Command::new(signd_binary())
        .args(["audit", "verify"])
        .arg(log))
}

/// Checks a plugin answer with openssl: the signature over `payload` against the leaf's key,
/// the leaf against the ceremony's root.
fn openssl_verifies(dir: &Path, tag: &str, answer: &Value, payload: &[u8], root: &Path) {
    let chain: Vec<Vec<u8>> = answer["certificateChain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| BASE64.decode(c.as_str().unwrap().as_bytes()).unwrap())
        .collect();
    let leaf = dir.join(format!("{tag}.leaf.der"));
    fs::write(&leaf, &chain[0]).unwrap();
    let public = dir.join(format!("{tag}.pub.pem"));
    run_ok(
        Command::new("openssl")
            .args(["x509", "-inform", "DER", "-noout", "-pubkey", "-in"])
            .arg(&leaf)
            .arg("-out")
            .arg(&public),
    );
    let raw = BASE64
        .decode(answer["signature"].as_str().unwrap().as_bytes())
        .unwrap();
    let algorithm = answer["signingAlgorithm"].as_str().unwrap();
    let (digest, signature, pss) = match algorithm {
        "ECDSA-SHA-384" => ("-sha384", ecdsa_raw_to_der(&raw), false),
        "RSASSA-PSS-SHA-384" => ("-sha384", raw, true),
        other => panic!("unexpected signingAlgorithm {other}"),
    };
    let sig = dir.join(format!("{tag}.sig"));
    fs::write(&sig, signature).unwrap();
    let data = dir.join(format!("{tag}.payload"));
    fs::write(&data, payload).unwrap();
    let mut verify = Command::new("openssl");
    verify.args(["dgst", digest, "-verify"]).arg(&public);
    if pss {
        verify.args([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    let out = run_ok(verify.arg("-signature").arg(&sig).arg(&data));
    assert!(out.contains("Verified OK"), "{tag}: {out}");
    let leaf_pem = dir.join(format!("{tag}.leaf.pem"));
    run_ok(
        Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&leaf)
            .arg("-out")
            .arg(&leaf_pem),
    );
    let out = run_ok(
        Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(root)
            .arg(&leaf_pem),
    );
    assert!(out.contains(": OK"), "{tag}: {out}");
}

/// An ECDSA `r || s` as the DER ECDSA-Sig-Value openssl verifies (short lengths: P-384).
fn ecdsa_raw_to_der(raw: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let body = if v.first().is_none_or(|b| b & 0x80 != 0) {
            [vec![0], v].concat()
        } else {
            v
        };
        [vec![0x02, body.len() as u8], body].concat()
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [int(r), int(s)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

#[test]
fn notation_signs_through_the_signing_host_and_openssl_verifies_each_signature() {
    let Some(n) = notation::find(
        "notation_signs_through_the_signing_host_and_openssl_verifies_each_signature",
    ) else {
        return;
    };
    let w = World::new("signd-e2e");
    let mut signd = w.start("e2e", "");
    let addr = signd.addr.clone();

    // The plugin, requested exactly as notation requests it, with real notation payloads.
    let cases = [
        ("p384", "EC-384", "SHA-384", "jws-ec384.b64"),
        (
            "p384",
            "EC-384",
            "SHA-384",
            "cose-ec384-expiry-metadata.b64",
        ),
        ("rsa3072", "RSA-3072", "SHA-384", "cose-rsa3072.b64"),
        (
            "rsa3072",
            "RSA-3072",
            "SHA-384",
            "jws-rsa3072-expiry-metadata.b64",
        ),
    ];
    for (key, spec, hash, file) in cases {
        let describe = json!({
            "contractVersion": "1.0",
            "keyId": format!("https://{addr}/v1/keys/{key}"),
            "pluginConfig": w.plugin_config("build-1"),
        });
        let (ok, answer) = w.plugin("describe-key", &describe);
        assert!(ok, "describe-key {key}: {answer}");
        assert_eq!(answer["keySpec"], spec);
        let payload = fixture(file);
        let (ok, answer) = w.plugin(
            "generate-signature",
            &w.sign_request(&addr, key, spec, hash, &payload, "build-1"),
        );
        assert!(ok, "generate-signature {key} {file}: {answer}");
        openssl_verifies(&w.dir, file, &answer, &payload, &w.c.root);
    }

    // The real notation on the build host signs through the service; the site verifies.
    let policy = w.dir.join("policy.toml");
    fs::write(&policy, POLICY).unwrap();
    let (ok, text, trust) =
        w.c.trust_bundle("trust-1.bundle", 1, &["--policy", policy.to_str().unwrap()]);
    assert!(ok, "{text}");
    let crl = w.c.crl("root.crl", &[]);
    let revocation = w.c.revocation_bundle("revocation-1.bundle", &crl, 1);
    let site = Site::new();
    site.pin(&w.c.root_fingerprint());
    for b in [&trust, &revocation] {
        let (ok, text) = site.install(b);
        assert!(ok, "{text}");
    }
    let site_dirs = site.notation_dirs();
    let config = w.plugin_config("build-1");
    let plugin_config = format!(
        "client-cert={},client-key={},ca={}",
        config["client-cert"], config["client-key"], config["ca"]
    );
    let net = w.hosts.build_net();
    for key in ["p384", "rsa3072"] {
        let b = build_machine(key);
        let plugin_dir = b.dirs.libexec.join("plugins/keyrite");
        fs::create_dir_all(&plugin_dir).unwrap();
        fs::copy(plugin_binary(), plugin_dir.join("notation-keyrite")).unwrap();
        let id = format!("https://{addr}/v1/keys/{key}");
        let (ok, text) = n.run_on(
            &net,
            &b.dirs,
            &[],
            &[
                "key",
                "add",
                "--plugin",
                "keyrite",
                "--id",
                &id,
                "--plugin-config",
                &plugin_config,
                key,
            ],
        );
        assert!(ok, "notation key add {key}: {text}");
        for format in ["jws", "cose"] {
            let reference = format!("{}@{}", b.layout.display(), b.digest);
            let (ok, text) = n.run_on(
                &net,
                &b.dirs,
                &[],
                &[
                    "sign",
                    "--oci-layout",
                    &reference,
                    "--key",
                    key,
                    "--signature-format",
                    format,
                ],
            );
            assert!(
                ok,
                "notation sign through keyrite-signd ({key}, {format}): {text}"
            );
            let said = n.verify(&site_dirs, &b.layout, &b.digest, SCOPE);
            assert_eq!(said.word, "trusted", "{key} {format}: {}", said.text);
        }
    }

    assert!(signd.stop(), "SIGTERM: {}", signd.output());
    let log = w.audit_log("e2e");
    let (ok, text) = audit_verify(&log);
    assert!(ok, "{text}");
    let entries = audit_entries(&log);
    assert_eq!(entries.len(), 8, "{text}");
    for e in &entries {
        assert_eq!(e["verdict"], "signed", "{e}");
        assert!(
            e["client"].as_str().unwrap().contains("client=build-1"),
            "{e}"
        );
        assert!(
            e["artifactDigest"].as_str().unwrap().starts_with("sha256:"),
            "{e}"
        );
        assert!(
            e.get("payload").is_none(),
            "no payload bytes in the log: {e}"
        );
    }
}

/// One refused sign request: who, where, what, and the status, code and reason expected.
struct Case {
    client: &'static str,
    path: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    reason: &'static str,
}

impl Case {
    fn new(
        client: &'static str,
        path: &'static str,
        body: Vec<u8>,
        status: u16,
        code: &'static str,
        reason: &'static str,
    ) -> Case {
        Case {
            client,
            path,
            body,
            status,
            code,
            reason,
        }
    }
}

#[test]
fn each_refusal_gives_its_reason_signs_nothing_and_is_recorded_where_it_got_that_far() {
    let w = World::new("signd-refusals");
    let unlisted_other = w.pki.client(&w.pki.other_ca, "stranger", &[]);
    let expired = w.pki.client(
        &w.pki.client_ca,
        "expired",
        &["-startdate", "240101000000Z", "-enddate", "240201000000Z"],
    );
    let future = w.pki.client(
        &w.pki.client_ca,
        "future",
        &["-startdate", "400101000000Z", "-enddate", "400201000000Z"],
    );
    let mut w = w;
    w.clients.insert("stranger", unlisted_other);
    w.clients.insert("expired", expired);
    w.clients.insert("future", future);
    let signd = w.start("refusals", "");
    let addr = signd.addr.clone();
    let log = w.audit_log("refusals");
    let good = fixture("jws-ec384.b64");
    let sign_path = "/v1/keys/p384/sign";

    // Refused in the TLS handshake: nothing reaches HTTP, nothing is recorded.
    for (client, alert, service_says) in [
        (None, "alert", "peer sent no certificates"),
        (Some("stranger"), "unknown ca", "UnknownIssuer"),
        (Some("expired"), "certificate expired", "expired"),
        (Some("future"), "", "not valid"),
    ] {
        let before = audit_entries(&log).len();
        let body = sign_body(&good, "EC-384", "SHA-384");
        let (code, status, body, stderr) = w.curl(&addr, client, "POST", sign_path, Some(&body));
        assert_ne!(code, 0, "{client:?}: {status} {body}");
        assert_eq!(status, 0, "{client:?}: no HTTP answer: {body}");
        assert!(stderr.contains(alert), "{client:?}: {stderr}");
        assert_eq!(audit_entries(&log).len(), before, "{client:?}");
        let out = signd.output();
        assert!(
            out.lines()
                .any(|l| l.contains("refused in the TLS handshake") && l.contains(service_says)),
            "{client:?}: {out}"
        );
    }

    let tbs = {
        let pem = fs::read(&w.c.root).unwrap();
        let cert = x509_cert::Certificate::load_pem_chain(&pem)
            .unwrap()
            .remove(0);
        cert.tbs_certificate().to_der().unwrap()
    };
    let random: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let oversized = vec![b'x'; 200 * 1024];
    let cases: Vec<Case> = vec![
        Case::new(
            "unlisted",
            sign_path,
            sign_body(&good, "EC-384", "SHA-384"),
            403,
            "forbidden",
            "not one a [[client]] entry names",
        ),
        Case::new(
            "build-2",
            "/v1/keys/rsa3072/sign",
            sign_body(&fixture("cose-rsa3072.b64"), "RSA-3072", "SHA-384"),
            403,
            "forbidden",
            "not one this client may use",
        ),
        Case::new(
            "build-1",
            "/v1/keys/nosuch/sign",
            sign_body(&good, "EC-384", "SHA-384"),
            403,
            "forbidden",
            "not one this client may use",
        ),
        Case::new(
            "build-1",
            sign_path,
            sign_body(&tbs, "EC-384", "SHA-384"),
            400,
            "not-a-notation-payload",
            "not a notation",
        ),
        Case::new(
            "build-1",
            sign_path,
            sign_body(&random, "EC-384", "SHA-384"),
            400,
            "not-a-notation-payload",
            "not a notation",
        ),
        Case::new(
            "build-1",
            sign_path,
            sign_body(&fixture("cose-rsa3072.b64"), "EC-384", "SHA-384"),
            400,
            "not-a-notation-payload",
            "signs with ECDSA-SHA-384",
        ),
        Case::new(
            "build-1",
            sign_path,
            oversized,
            413,
            "too-large",
            "larger than 65536 bytes",
        ),
        Case::new(
            "build-1",
            sign_path,
            b"{\"payload\": ".to_vec(),
            400,
            "bad-request",
            "not a sign request",
        ),
        Case::new(
            "build-1",
            sign_path,
            sign_body(&good, "EC-384", "SHA-256"),
            400,
            "bad-request",
            "hashAlgorithm 'SHA-256' does not go with EC-384",
        ),
        Case::new(
            "build-1",
            sign_path,
            sign_body(&good, "RSA-3072", "SHA-384"),
            400,
            "bad-request",
            "keySpec 'RSA-3072' does not match the key, which is EC-384",
        ),
        Case::new(
            "build-3",
            sign_path,
            sign_body(&good, "EC-384", "SHA-384"),
            403,
            "forbidden",
            "may not sign artifacts of media type application/vnd.oci.image.manifest.v1+json",
        ),
    ];
    for Case {
        client,
        path,
        body,
        status,
        code,
        reason,
    } in &cases
    {
        let method = "POST";
        let before = audit_entries(&log).len();
        let (exit, got, answer, stderr) = w.curl(&addr, Some(client), method, path, Some(body));
        assert_eq!(exit, 0, "{client} {path}: {stderr}");
        assert_eq!(got, *status, "{client} {path} {reason}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["code"], *code, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(reason),
            "{answer}"
        );
        let entries = audit_entries(&log);
        assert_eq!(entries.len(), before + 1, "one entry for {client} {path}");
        let entry = entries.last().unwrap();
        assert_eq!(entry["verdict"], "refused");
        assert_eq!(entry["id"], answer["auditId"]);
        assert!(
            entry["reason"].as_str().unwrap().contains(reason),
            "{entry}"
        );
    }

    // A refusal's response may quote what was wrong; its audit entry names only the rule.
    let header = r#"{"alg":"ES384","cty":"text/plain; marker=PAYLOADBYTES","crit":["io.cncf.notary.signingScheme"],"io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2026-12-07T00:00:00Z"}"#;
    let jws = format!(
        "{}.{}",
        data_encoding::BASE64URL_NOPAD.encode(header.as_bytes()),
        data_encoding::BASE64URL_NOPAD.encode(b"{}")
    );
    let (_, status, answer, _) = w.curl(
        &addr,
        Some("build-1"),
        "POST",
        sign_path,
        Some(&sign_body(jws.as_bytes(), "EC-384", "SHA-384")),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("PAYLOADBYTES"), "{answer}");
    let entry = audit_entries(&log).pop().unwrap();
    assert_eq!(entry["verdict"], "refused");
    assert!(!entry.to_string().contains("PAYLOADBYTES"), "{entry}");
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .starts_with("not a notation payload: "),
        "{entry}"
    );

    // build-2 may sign twice a minute: the third is refused with Retry-After.
    for _ in 0..2 {
        let (_, status, answer, _) = w.curl(
            &addr,
            Some("build-2"),
            "POST",
            sign_path,
            Some(&sign_body(&good, "EC-384", "SHA-384")),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let (_, status, answer, _) = w.curl(
        &addr,
        Some("build-2"),
        "POST",
        sign_path,
        Some(&sign_body(&good, "EC-384", "SHA-384")),
    );
    assert_eq!(status, 429, "{answer}");
    assert!(answer.contains("rate limit"), "{answer}");

    // Nothing was signed but the two build-2 was allowed, and the log verifies.
    let (ok, text) = audit_verify(&log);
    assert!(ok, "{text}");
    let entries = audit_entries(&log);
    let signed: Vec<_> = entries
        .iter()
        .filter(|e| e["verdict"] == "signed")
        .collect();
    assert_eq!(signed.len(), 2, "{entries:?}");
    assert_eq!(entries.len(), cases.len() + 4);
    for e in &entries {
        let line = e.to_string();
        assert!(
            !line.contains(&BASE64.encode(&good)[..40]),
            "payload bytes in the log: {line}"
        );
    }
}

#[test]
fn a_silent_connection_does_not_delay_other_clients_and_is_cut_off() {
    let w = World::new("signd-silent");
    let signd = w.start("silent", "request_timeout_secs = 3");
    let addr = signd.addr.clone();
    // Raw TCP connections from the build host that never speak.
    // Connections from the build host that never speak: eight before the TLS handshake, and
    // eight that finish it (with build-1's certificate) and then send no request.
    let client = &w.clients["build-1"];
    let script = "import socket,ssl,sys,time\n\
        host,port=sys.argv[1].rsplit(':',1)\n\
        s=socket.create_connection((host,int(port)))\n\
        if sys.argv[2]=='tls':\n\
        \x20c=ssl.create_default_context(cafile=sys.argv[3])\n\
        \x20c.load_cert_chain(sys.argv[4],sys.argv[5])\n\
        \x20s=c.wrap_socket(s,server_hostname=host)\n\
        t=time.time()\n\
        try:\n\
        \x20s.recv(1)\n\
        except (ConnectionError,ssl.SSLError):\n\
        \x20pass\n\
        print('closed after %.1f s' % (time.time()-t))";
    let mut silent: Vec<std::process::Child> = (0..16)
        .map(|i| {
            w.hosts
                .on_build_host(Path::new("/usr/bin/python3"))
                .args(["-c", script, &addr, if i % 2 == 0 { "tcp" } else { "tls" }])
                .arg(&w.pki.server_ca.root)
                .arg(&client.cert)
                .arg(&client.key)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let good = fixture("jws-ec384.b64");
    for _ in 0..5 {
        let started = Instant::now();
        let (_, status, answer, _) = w.curl(
            &addr,
            Some("build-1"),
            "POST",
            "/v1/keys/p384/sign",
            Some(&sign_body(&good, "EC-384", "SHA-384")),
        );
        assert_eq!(
            status,
            200,
            "{answer} {:?}",
            audit_entries(&w.audit_log("silent"))
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a signature took {:?}",
            started.elapsed()
        );
    }
    // The service closes each silent connection once its handshake time is up.
    for child in &mut silent {
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "a silent connection is still open: {}",
                signd.output()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
    for child in silent {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("closed after"), "{text}");
    }
    assert!(
        signd.output().contains("no TLS handshake within 3 s"),
        "{}",
        signd.output()
    );
}

#[test]
fn kill_9_under_load_leaves_a_log_that_verifies_and_holds_every_signature_returned() {
    let w = Arc::new(World::new("signd-kill"));
    let mut signd = w.start("kill", "");
    let addr = signd.addr.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (w, stop, addr) = (Arc::clone(&w), Arc::clone(&stop), addr.clone());
            thread::spawn(move || {
                let (key, spec, file) = if i % 2 == 0 {
                    ("p384", "EC-384", "jws-ec384.b64")
                } else {
                    ("rsa3072", "RSA-3072", "cose-rsa3072.b64")
                };
                let payload = fixture(file);
                let body = sign_body(&payload, spec, "SHA-384");
                let mut received = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (_, status, answer, _) = w.curl(
                        &addr,
                        Some("build-1"),
                        "POST",
                        &format!("/v1/keys/{key}/sign"),
                        Some(&body),
                    );
                    if status == 200 {
                        let v: Value = serde_json::from_str(&answer).unwrap();
                        received.push((
                            v["auditId"].as_u64().unwrap(),
                            hex::encode(Sha256::digest(&payload)),
                        ));
                    } else if status == 0 {
                        break;
                    }
                }
                received
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while audit_entries(&w.audit_log("kill")).len() < 12 {
        assert!(Instant::now() < deadline, "no load: {}", signd.output());
        thread::sleep(Duration::from_millis(100));
    }
    signd.kill();
    stop.store(true, Ordering::Relaxed);
    let received: Vec<(u64, String)> = workers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    // Up to one answer per client may have been on its way when the service died.
    assert!(received.len() >= 8, "{}", received.len());
    let log = w.audit_log("kill");
    let (ok, text) = audit_verify(&log);
    assert!(ok, "{text}");
    let entries = audit_entries(&log);
    for (id, digest) in &received {
        let entry = entries
            .iter()
            .find(|e| e["id"] == *id)
            .unwrap_or_else(|| panic!("signature {id} a client received is not in the log"));
        assert_eq!(entry["verdict"], "signed");
        assert_eq!(entry["payloadSha256"], *digest);
    }
}

#[test]
fn the_service_does_not_start_on_a_bad_configuration_key_chain_or_pin() {
    let w = World::new("signd-start");
    let start = |name: &str, extra: &str, edit: &dyn Fn(String) -> String| {
        let config = w.config(name, "", extra);
        let text = edit(fs::read_to_string(&config).unwrap());
        fs::write(&config, text).unwrap();
        Signd::start(&w.hosts, &config, &w.envs)
            .err()
            .unwrap_or_else(|| panic!("{name} started"))
    };
    let keep = |t: String| t;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown-field",
            start("unknown-field", "colour = \"blue\"", &keep),
            "unknown field `colour`",
        ),
        (
            "chain-for-another-key",
            start("chain-for-another-key", "", &|t: String| {
                t.replace(
                    &w.p384_chain.display().to_string(),
                    &w.rsa_chain.display().to_string(),
                )
            }),
            "for another key",
        ),
        (
            "wrong-pin",
            {
                let pin = w.dir.join("wrong.pin");
                fs::write(&pin, "000000\n").unwrap();
                start("wrong-pin", "", &|t: String| {
                    t.replace(
                        &w.c.hsm.pin_file().display().to_string(),
                        &pin.display().to_string(),
                    )
                })
            },
            "PIN",
        ),
        (
            "wrong-passphrase",
            {
                let p = w.dir.join("wrong.passphrase");
                fs::write(&p, "not it\n").unwrap();
                start("wrong-passphrase", "", &|t: String| {
                    t.replace("rsa.passphrase", "wrong.passphrase")
                })
            },
            "rsa3072",
        ),
        (
            "unknown-key-for-client",
            start(
                "unknown-key-for-client",
                "[[client]]\nname = \"x\"\nsubject = \"CN=x\"\nkeys = [\"nosuch\"]\n",
                &keep,
            ),
            "which no [[key]] names",
        ),
    ];
    for (name, said, expected) in cases {
        assert!(said.contains(expected), "{name}: {said}");
        assert!(!said.contains("listening on"), "{name}: {said}");
        assert!(
            !said.contains(PASSPHRASE) && !said.contains(USER_PIN),
            "{name}: a secret in {said}"
        );
        assert!(
            !w.audit_log(name).exists() || audit_entries(&w.audit_log(name)).is_empty(),
            "{name}"
        );
    }
}

/// The ceremony station and the importer are built from the `keyrite` package: it must link
/// no TLS, HTTP or async runtime, which live in the signing service's and plugin's crates.
#[test]
fn the_ceremony_station_and_importer_link_no_network_code() {
    let tree = |package: &str| {
        run_ok(
            Command::new(env!("CARGO"))
                .args([
                    "tree",
                    "--offline",
                    "--locked",
                    "-e",
                    "normal",
                    "--prefix",
                    "none",
                    "-p",
                    package,
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR")),
        )
    };
    // TLS, HTTP and async runtimes. (mio is there, under crossterm, polling the terminal.)
    let network = [
        "tokio",
        "hyper",
        "rustls",
        "h2",
        "http",
        "reqwest",
        "ureq",
        "socket2",
        "openssl",
        "native-tls",
        "webpki",
    ];
    let linked = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| {
                network.contains(name) || network.iter().any(|n| name.starts_with(&format!("{n}-")))
            })
            .map(str::to_owned)
            .collect()
    };
    let keyrite = tree("keyrite");
    assert!(
        keyrite.lines().any(|l| l.starts_with("keyrite v")),
        "{keyrite}"
    );
    assert_eq!(
        linked(&keyrite),
        Vec::<String>::new(),
        "keyrite links network code:\n{keyrite}"
    );
    // The check can fail: the service's own tree has them.
    let signd = linked(&tree("keyrite-signd"));
    for name in ["tokio", "hyper", "rustls"] {
        assert!(signd.iter().any(|n| n == name), "{signd:?}");
    }
}

/// A `subject` identity is a certificate's whole subject: a certificate from the same CA whose
/// subject holds a client's attributes and one more `CN` (which notation's rendering of a
/// subject hides, keeping the last) is not that client.
#[test]
fn a_certificate_with_more_in_its_subject_than_a_client_is_not_that_client() {
    let mut w = World::new("signd-subject");
    w.pki.client_ca.issue(
        "two-cns",
        "/O=Example/CN=admin/CN=build-1",
        Some(
            "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
             extendedKeyUsage = clientAuth",
        ),
        &[],
    );
    let key = w.pki.client_ca.key("two-cns");
    let cert = key.with_extension("crt");
    let subject = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
            .arg(&cert),
    );
    assert!(
        subject.contains("CN=build-1,CN=admin,O=Example"),
        "{subject}"
    );
    w.clients.insert("two-cns", ClientCert { cert, key });
    let signd = w.start("subject", "");
    let body = sign_body(&fixture("jws-ec384.b64"), "EC-384", "SHA-384");
    let (_, status, answer, _) = w.curl(
        &signd.addr,
        Some("two-cns"),
        "POST",
        "/v1/keys/p384/sign",
        Some(&body),
    );
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("not one a [[client]] entry names"),
        "{answer}"
    );
    let (_, status, answer, _) = w.curl(
        &signd.addr,
        Some("build-1"),
        "POST",
        "/v1/keys/p384/sign",
        Some(&body),
    );
    assert_eq!(status, 200, "{answer}");
}

/// The audit log is one service's and always verifies: a second instance on it does not
/// start, a refusal quoting a key name as long as a request head allows is still an entry
/// `audit verify` reads, and once the log is deleted no signature leaves the service.
#[test]
fn the_audit_log_is_the_services_own_and_a_lost_log_withholds_signatures() {
    let w = World::new("signd-audit");
    let mut signd = w.start("audit", "");
    let addr = signd.addr.clone();
    let log = w.audit_log("audit");
    let second = w.config("audit-second", "", "");
    let text = fs::read_to_string(&second)
        .unwrap()
        .replace("audit-second.audit.jsonl", "audit.audit.jsonl");
    fs::write(&second, text).unwrap();
    let said = Signd::start(&w.hosts, &second, &w.envs)
        .err()
        .expect("a second instance started on the same audit log");
    assert!(said.contains("a log of its own"), "{said}");

    let body = sign_body(&fixture("jws-ec384.b64"), "EC-384", "SHA-384");
    let long = format!("/v1/keys/{}/sign", "k".repeat(60_000));
    let (_, status, answer, stderr) = w.curl(&addr, Some("build-1"), "POST", &long, Some(&body));
    assert_eq!(status, 403, "{stderr}");
    assert!(answer.contains("not one this client may use"));
    let (ok, text) = audit_verify(&log);
    assert!(ok, "a long key name broke the log: {text}");

    let sign_path = "/v1/keys/p384/sign";
    let (_, status, answer, _) = w.curl(&addr, Some("build-1"), "POST", sign_path, Some(&body));
    assert_eq!(status, 200, "{answer}");
    fs::remove_file(&log).unwrap();
    for _ in 0..2 {
        let (_, status, answer, _) = w.curl(&addr, Some("build-1"), "POST", sign_path, Some(&body));
        assert_eq!(status, 500, "signed with the audit log deleted: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["code"], "error", "{answer}");
        assert!(answer.get("signature").is_none(), "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("audit log"),
            "{answer}"
        );
    }
    assert!(signd.stop(), "{}", signd.output());
    assert!(
        signd.output().contains("no longer names the open log"),
        "{}",
        signd.output()
    );
}

#[test]
fn the_contrib_unit_passes_systemd_analyze() {
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    let dir = tempfile::tempdir().unwrap();
    // The unit as installed, with ExecStart naming the binary built here.
    let text = fs::read_to_string(contrib.join("keyrite-signd.service"))
        .unwrap()
        .replace(
            "/usr/local/bin/keyrite-signd",
            signd_binary().to_str().unwrap(),
        );
    for sandboxing in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "LoadCredential=",
    ] {
        assert!(text.contains(sandboxing), "the unit lacks {sandboxing}");
    }
    let unit = dir.path().join("keyrite-signd.service");
    fs::write(&unit, text).unwrap();
    let (ok, text) = run(Command::new("systemd-analyze").arg("verify").arg(&unit));
    assert!(ok && text.trim().is_empty(), "{text}");
}
