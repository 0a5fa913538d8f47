//! `keyrite delegate issue` on a SoftHSM root: delegates from CSRs that openssl made, for
//! every key type notation accepts, judged by verifiers keyrite did not write (openssl
//! `-x509_strict`, GnuTLS certtool with the code-signing purpose, pkilint at `-s WARNING`);
//! a delegate CA that really issues; and every bad CSR or input refused with a clear error,
//! nothing written and no serial consumed.

mod common;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use der::Encode;
use der::asn1::{Ia5String, SetOfVec};
use der::oid::AssociatedOid;
use keyrite::fingerprint::Fingerprint;
use keyrite::keys::memory::MemoryKey;
use keyrite::keys::{KeyAlgorithm, KeySigner};
use keyrite::pki::csr::read_csr;
use keyrite::pki::name::parse_subject;
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq};

const ROOT_SUBJECT: &str = "C=US,ST=WA,O=Example,CN=Root";
const CRL_URL: &str = "http://crl.example.com/root.crl";

/// A root made by `keyrite root create` on its own SoftHSM token, and a scratch directory
/// that lives as long as the token.
struct Root {
    hsm: SoftHsm,
    cert: PathBuf,
}

impl Root {
    /// Creates token `label` and a P-384 root on it valid for `validity`.
    fn new(label: &str, validity: &str) -> Root {
        let hsm = SoftHsm::new(label);
        let out = hsm.dir().join("root");
        run_ok(
            hsm.command()
                .args(["root", "create", "--token", &hsm.pin_uri()])
                .args(["--subject", ROOT_SUBJECT, "--validity", validity, "--out"])
                .arg(&out),
        );
        fs::create_dir(hsm.dir().join("work")).expect("work dir");
        Root {
            cert: out.join("root.crt"),
            hsm,
        }
    }

    /// The scratch directory for CSRs, keys, outputs and ledgers.
    fn work(&self) -> PathBuf {
        self.hsm.dir().join("work")
    }

    /// The root key's URI, as `delegate issue` takes it.
    fn key_uri(&self) -> String {
        format!(
            "pkcs11:token={};object=keyrite-root?pin-source=file:{}",
            self.hsm.label(),
            self.hsm.pin_file().display()
        )
    }

    /// `keyrite delegate issue` with this root's key and `root_cert`, with no profile or
    /// validity yet.
    fn delegate_issue(&self, root_cert: &Path, csr: &Path, ledger: &Path, out: &Path) -> Command {
        let mut cmd = self.hsm.command();
        cmd.args([
            "delegate",
            "issue",
            "--token",
            &self.key_uri(),
            "--root-cert",
        ])
        .arg(root_cert)
        .arg("--csr")
        .arg(csr)
        .arg("--ledger")
        .arg(ledger)
        .arg("--out")
        .arg(out);
        cmd
    }

    /// Runs `keyrite delegate issue` against this root's own certificate.
    fn issue(
        &self,
        csr: &Path,
        profile: &str,
        validity: &str,
        extra: &[&str],
        ledger: &Path,
        out: &Path,
    ) -> (bool, String) {
        run(self
            .delegate_issue(&self.cert, csr, ledger, out)
            .args(["--profile", profile, "--validity", validity])
            .args(extra))
    }
}

/// Makes a CSR `DIR/<name>.csr` (and its key `DIR/<name>.key`) with `openssl req`.
/// `key_args` chooses the key and signature (e.g. `-newkey rsa:2048`); `subject` is in
/// openssl's `/C=US/ST=WA/...` form.
fn make_csr<S: AsRef<OsStr>>(dir: &Path, name: &str, key_args: &[S], subject: &str) -> PathBuf {
    let csr = dir.join(format!("{name}.csr"));
    run_ok(
        Command::new("openssl")
            .args(["req", "-new"])
            .args(key_args)
            .args(["-nodes", "-keyout"])
            .arg(dir.join(format!("{name}.key")))
            .args(["-subj", subject, "-out"])
            .arg(&csr),
    );
    csr
}

/// `-newkey` arguments for an EC key on `curve`.
fn ec(curve: &str) -> Vec<String> {
    vec![
        "-newkey".into(),
        "ec".into(),
        "-pkeyopt".into(),
        format!("ec_paramgen_curve:{curve}"),
    ]
}

/// A publisher subject with common name `cn`.
fn publisher(cn: &str) -> String {
    format!("/C=US/ST=WA/O=Publisher/CN={cn}")
}

/// The DER form of a PEM CSR, written by openssl.
fn csr_to_der(csr: &Path, der: &Path) -> Vec<u8> {
    run_ok(
        Command::new("openssl")
            .args(["req", "-outform", "DER", "-in"])
            .arg(csr)
            .arg("-out")
            .arg(der),
    );
    fs::read(der).expect("DER CSR")
}

/// `openssl x509 -noout -text` of a certificate.
fn openssl_text(pem: &Path) -> String {
    run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(pem),
    )
}

/// `openssl verify -x509_strict -CAfile root [-untrusted ca] leaf`.
fn openssl_verify(root: &Path, untrusted: Option<&Path>, leaf: &Path) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.args(["verify", "-x509_strict", "-CAfile"]).arg(root);
    if let Some(ca) = untrusted {
        cmd.arg("-untrusted").arg(ca);
    }
    let (ok, text) = run(cmd.arg(leaf));
    (ok && text.contains(": OK"), text)
}

/// GnuTLS `certtool --verify` of `chain` against `root` for the code-signing purpose.
fn certtool_verify_code_signing(root: &Path, chain: &Path) -> (bool, String) {
    let (ok, text) = run(Command::new("certtool")
        .args(["--verify", "--load-ca-certificate"])
        .arg(root)
        .args(["--verify-purpose", "1.3.6.1.5.5.7.3.3", "--infile"])
        .arg(chain));
    (ok && text.contains("Verified"), text)
}

/// pkilint's issuer/subject chain linter at `-s WARNING`; success is exit 0, no output.
fn pkilint_pair(issuer: &Path, subject: &Path) -> (bool, String) {
    let (ok, text) = run(
        Command::new(venv_tool("lint_pkix_signer_signee_cert_chain"))
            .args(["lint", "-s", "WARNING"])
            .arg(issuer)
            .arg(subject),
    );
    (ok && text.trim().is_empty(), text)
}

/// An extension in `openssl x509 -text` output: whether it is critical, and its body lines
/// (trimmed, joined by `\n`). `name` is the header, e.g. `X509v3 Key Usage`.
fn extension(text: &str, name: &str) -> Option<(bool, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let header = format!("{name}:");
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&header))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let critical = lines[at].trim_end().ends_with("critical");
    let body: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| indent(l) > indent(lines[at]))
        .map(|l| l.trim())
        .collect();
    Some((critical, body.join("\n")))
}

/// The value of the first `label:` line (e.g. `Issuer`, `Subject`) in openssl's text.
fn field(text: &str, label: &str) -> Option<String> {
    let prefix = format!("{label}:");
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(&prefix))
        .map(|v| v.trim().to_owned())
}

/// The subject key identifier of a certificate, as openssl prints it.
fn key_id(text: &str, name: &str) -> Option<String> {
    extension(text, name).map(|(_, body)| body.trim_start_matches("keyid:").to_owned())
}

/// A certificate's serial (lowercase hex, no leading zeros) and DER SHA-256, from openssl.
fn serial_and_fingerprint(pem: &Path) -> (String, String) {
    let text = run_ok(
        Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-serial",
                "-fingerprint",
                "-sha256",
                "-in",
            ])
            .arg(pem),
    );
    let serial = text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap_or_default();
    let fp = text
        .lines()
        .find_map(|l| l.split_once("Fingerprint="))
        .map(|(_, v)| v.replace(':', ""))
        .unwrap_or_default();
    (
        serial.to_lowercase().trim_start_matches('0').to_owned(),
        fp.to_lowercase(),
    )
}

/// The public key of a certificate or CSR, as openssl prints it in PEM.
fn public_key(kind: &str, file: &Path) -> String {
    run_ok(
        Command::new("openssl")
            .args([kind, "-noout", "-pubkey", "-in"])
            .arg(file),
    )
}

/// The `issued` entries of the ledger in `dir` (empty when there is no ledger.json).
fn ledger_entries(dir: &Path) -> Vec<serde_json::Value> {
    match fs::read(dir.join("ledger.json")) {
        Ok(bytes) => {
            let ledger: serde_json::Value =
                serde_json::from_slice(&bytes).expect("ledger.json is JSON");
            ledger["issued"]
                .as_array()
                .expect("issued is a list")
                .clone()
        }
        Err(_) => Vec::new(),
    }
}

/// The names of the files in `dir` (empty when it does not exist).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Problems found while checking many cases, reported together.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} problem(s):\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}

/// Checks everything a signing delegate `<name>.crt` in `out` must be, issued by `root`.
/// Checks `cert` against `root` with `openssl verify -x509_strict`, `lint_pkix_cert` and the
/// root→cert pair lint, all at `-s WARNING`.
fn check_verifiers(p: &mut Problems, what: &str, root: &Path, cert: &Path) {
    let (ok, text) = openssl_verify(root, None, cert);
    p.check(ok, || {
        format!("{what}: openssl verify -x509_strict failed:\n{text}")
    });
    let (ok, text) = pkilint_cert(cert);
    p.check(ok, || {
        format!("{what}: lint_pkix_cert -s WARNING found:\n{text}")
    });
    let (ok, text) = pkilint_pair(root, cert);
    p.check(ok, || {
        format!("{what}: lint_pkix_signer_signee_cert_chain -s WARNING root→cert found:\n{text}")
    });
}

fn check_signing_delegate(p: &mut Problems, root: &Root, csr: &Path, name: &str, out: &Path) {
    let leaf = out.join(format!("{name}.crt"));
    let chain = out.join(format!("{name}.chain.pem"));

    check_verifiers(p, name, &root.cert, &leaf);
    let (ok, text) = certtool_verify_code_signing(&root.cert, &chain);
    p.check(ok, || {
        format!("{name}: certtool --verify (code signing) failed:\n{text}")
    });

    let leaf_pem = fs::read_to_string(&leaf).unwrap_or_default();
    let root_pem = fs::read_to_string(&root.cert).unwrap();
    let chain_pem = fs::read_to_string(&chain).unwrap_or_default();
    p.check(chain_pem == format!("{leaf_pem}{root_pem}"), || {
        format!("{name}: the chain is not the leaf then root.crt:\n{chain_pem}")
    });
    p.check(public_key("x509", &leaf) == public_key("req", csr), || {
        format!("{name}: the certificate's key is not the CSR's")
    });

    let cert = openssl_text(&leaf);
    let root_text = openssl_text(&root.cert);
    let expect = |p: &mut Problems, ext: &str, critical: bool, body: &str| {
        let got = extension(&cert, ext);
        p.check(got == Some((critical, body.to_owned())), || {
            format!("{name}: {ext} should be critical={critical} {body:?}, is {got:?}:\n{cert}")
        });
    };
    expect(p, "X509v3 Key Usage", true, "Digital Signature");
    expect(p, "X509v3 Extended Key Usage", false, "Code Signing");
    expect(p, "X509v3 Basic Constraints", true, "CA:FALSE");
    expect(
        p,
        "X509v3 CRL Distribution Points",
        false,
        &format!("Full Name:\nURI:{CRL_URL}"),
    );
    p.check(
        extension(&cert, "X509v3 Subject Key Identifier").is_some_and(|(c, b)| !c && !b.is_empty()),
        || format!("{name}: no (non-critical) Subject Key Identifier:\n{cert}"),
    );
    let aki = key_id(&cert, "X509v3 Authority Key Identifier");
    let root_ski = key_id(&root_text, "X509v3 Subject Key Identifier");
    p.check(aki.is_some() && aki == root_ski, || {
        format!("{name}: Authority Key Identifier {aki:?} is not the root's SKI {root_ski:?}")
    });
    p.check(
        !cert.contains("Authority Information Access") && !cert.contains("OCSP"),
        || format!("{name}: carries AIA/OCSP:\n{cert}"),
    );
    let issuer = field(&cert, "Issuer");
    let root_subject = field(&root_text, "Subject");
    p.check(issuer.is_some() && issuer == root_subject, || {
        format!("{name}: Issuer {issuer:?} is not the root's Subject {root_subject:?}")
    });
}

#[test]
fn delegates_for_every_key_type_pass_openssl_certtool_and_pkilint() {
    let root = Root::new("deleg-all", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let out = work.join("out");
    let rsa = |bits: &str| vec!["-newkey".to_owned(), format!("rsa:{bits}")];
    // (name, key and signature arguments, the CSR's signature algorithm as openssl shows it)
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("rsa2048", rsa("2048"), "sha256WithRSAEncryption"),
        ("rsa3072", rsa("3072"), "sha256WithRSAEncryption"),
        ("rsa4096", rsa("4096"), "sha256WithRSAEncryption"),
        ("p256", ec("P-256"), "ecdsa-with-SHA256"),
        ("p384", ec("P-384"), "ecdsa-with-SHA256"),
        ("p521", ec("P-521"), "ecdsa-with-SHA256"),
        (
            "rsa2048-pss",
            [
                rsa("2048"),
                [
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:32",
                    "-sha256",
                ]
                .map(String::from)
                .to_vec(),
            ]
            .concat(),
            "rsassaPss",
        ),
        (
            "p384-sha512",
            [ec("P-384"), vec!["-sha512".into()]].concat(),
            "ecdsa-with-SHA512",
        ),
    ];

    let mut p = Problems::default();
    let mut issued = Vec::new();
    for (name, key_args, csr_signature) in &cases {
        let csr = make_csr(&work, name, key_args, &publisher(name));
        let csr_text = run_ok(
            Command::new("openssl")
                .args(["req", "-noout", "-text", "-in"])
                .arg(&csr),
        );
        assert!(
            csr_text.contains(&format!("Signature Algorithm: {csr_signature}")),
            "{name}: openssl did not make the CSR intended:\n{csr_text}"
        );
        let (ok, text) = root.issue(
            &csr,
            "signing",
            "1y",
            &["--crl-url", CRL_URL],
            &ledger,
            &out,
        );
        p.check(ok, || format!("{name}: delegate issue failed:\n{text}"));
        if ok {
            check_signing_delegate(&mut p, &root, &csr, name, &out);
            issued.push(*name);
        }
    }

    // One ledger entry per issuance: the certificate's serial and digest, signing profile.
    let entries = ledger_entries(&ledger);
    p.check(entries.len() == issued.len(), || {
        format!(
            "ledger has {} entries for {} issuances",
            entries.len(),
            issued.len()
        )
    });
    let serials: HashSet<&str> = entries
        .iter()
        .filter_map(|e| e["serial"].as_str())
        .collect();
    p.check(serials.len() == entries.len(), || {
        format!("ledger serials are not distinct: {entries:#?}")
    });
    for name in issued {
        let (serial, fp) = serial_and_fingerprint(&out.join(format!("{name}.crt")));
        let entry = entries.iter().find(|e| e["cert_sha256"] == fp.as_str());
        p.check(
            entry.is_some_and(|e| {
                e["profile"] == "signing"
                    && e["serial"].as_str().map(|s| s.trim_start_matches('0')) == Some(&serial)
                    && e["subject"] == format!("C=US, ST=WA, O=Publisher, CN={name}").as_str()
            }),
            || format!("{name}: no signing ledger entry with serial {serial}, SHA-256 {fp}: {entries:#?}"),
        );
    }
    p.assert_none();
}

#[test]
fn a_delegate_ca_is_pathlen_0_and_can_sign_a_leaf_that_verifies_through_it() {
    let root = Root::new("deleg-ca", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let out = work.join("out");
    let csr = make_csr(
        &work,
        "build-ca",
        &ec("P-384"),
        "/C=US/ST=WA/O=Publisher/CN=Build CA",
    );
    let (ok, text) = root.issue(&csr, "ca", "1y", &["--crl-url", CRL_URL], &ledger, &out);
    assert!(ok, "{text}");
    let delegate = out.join("build-ca.crt");

    let mut p = Problems::default();
    let cert = openssl_text(&delegate);
    let root_text = openssl_text(&root.cert);
    for (ext, critical, body) in [
        ("X509v3 Basic Constraints", true, "CA:TRUE, pathlen:0"),
        ("X509v3 Key Usage", true, "Certificate Sign, CRL Sign"),
        (
            "X509v3 CRL Distribution Points",
            false,
            format!("Full Name:\nURI:{CRL_URL}").as_str(),
        ),
    ] {
        let got = extension(&cert, ext);
        p.check(got == Some((critical, body.to_owned())), || {
            format!("{ext} should be critical={critical} {body:?}, is {got:?}:\n{cert}")
        });
    }
    p.check(
        extension(&cert, "X509v3 Extended Key Usage").is_none(),
        || format!("a delegate CA carries an EKU:\n{cert}"),
    );
    p.check(
        extension(&cert, "X509v3 Subject Key Identifier").is_some(),
        || format!("no Subject Key Identifier:\n{cert}"),
    );
    let aki = key_id(&cert, "X509v3 Authority Key Identifier");
    let root_ski = key_id(&root_text, "X509v3 Subject Key Identifier");
    p.check(aki.is_some() && aki == root_ski, || {
        format!("Authority Key Identifier {aki:?} is not the root's SKI {root_ski:?}")
    });
    p.check(
        field(&cert, "Issuer") == field(&root_text, "Subject"),
        || format!("the issuer is not the root's subject:\n{cert}"),
    );
    check_verifiers(&mut p, "the delegate CA", &root.cert, &delegate);
    let chain_pem = fs::read_to_string(out.join("build-ca.chain.pem")).unwrap();
    let delegate_pem = fs::read_to_string(&delegate).unwrap();
    p.check(
        chain_pem == format!("{delegate_pem}{}", fs::read_to_string(&root.cert).unwrap()),
        || format!("the chain is not the delegate CA then root.crt:\n{chain_pem}"),
    );
    let entries = ledger_entries(&ledger);
    p.check(entries.len() == 1 && entries[0]["profile"] == "ca", || {
        format!("the ledger should hold one ca entry: {entries:#?}")
    });

    // The publisher's build system issues a signing leaf from the delegate CA with openssl.
    let leaf_csr = make_csr(&work, "leaf", &ec("P-256"), &publisher("release-signer"));
    let extfile = work.join("leaf.ext");
    fs::write(
        &extfile,
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = codeSigning\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid\n",
    )
    .unwrap();
    let leaf = work.join("leaf.crt");
    run_ok(
        Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(&leaf_csr)
            .arg("-CA")
            .arg(&delegate)
            .arg("-CAkey")
            .arg(work.join("build-ca.key"))
            .args(["-set_serial", "0x5a17c0ffee", "-days", "30", "-sha384"])
            .arg("-extfile")
            .arg(&extfile)
            .arg("-out")
            .arg(&leaf),
    );
    let (ok, text) = openssl_verify(&root.cert, Some(&delegate), &leaf);
    p.check(ok, || {
        format!("openssl verify -x509_strict root → delegate CA → leaf failed:\n{text}")
    });
    let full_chain = work.join("leaf.chain.pem");
    fs::write(
        &full_chain,
        format!("{}{chain_pem}", fs::read_to_string(&leaf).unwrap()),
    )
    .unwrap();
    let (ok, text) = certtool_verify_code_signing(&root.cert, &full_chain);
    p.check(ok, || {
        format!("certtool --verify (code signing) root → delegate CA → leaf failed:\n{text}")
    });
    p.assert_none();
}

#[test]
fn validity_cannot_outlive_the_root() {
    let root = Root::new("deleg-short", "1y");
    let work = root.work();
    let ledger = work.join("ledger");
    let out = work.join("out");
    let csr = make_csr(&work, "p256", &ec("P-256"), &publisher("p256"));
    let (ok, text) = root.issue(&csr, "signing", "2y", &[], &ledger, &out);
    assert!(!ok, "a 2y delegate under a 1y root was issued:\n{text}");
    assert!(text.contains("keyrite: error:"), "{text}");
    assert!(text.contains("after the root expires"), "{text}");
    assert_eq!(files_in(&out), Vec::<String>::new(), "{text}");
    assert_eq!(ledger_entries(&ledger), Vec::<serde_json::Value>::new());

    // Within the root's lifetime the same CSR is issued: it was the validity that was refused.
    let (ok, text) = root.issue(&csr, "signing", "90d", &[], &ledger, &out);
    assert!(ok, "{text}");
    assert_eq!(ledger_entries(&ledger).len(), 1);
}

/// How a bad CSR file is made.
enum BadCsr {
    /// `openssl req` with these key arguments and this subject (and extra arguments).
    Openssl(Vec<String>, String),
    /// These bytes.
    Bytes(Vec<u8>),
    /// A committed fixture.
    Fixture(PathBuf),
}

#[test]
fn bad_csrs_are_refused_with_a_reason_nothing_written_and_no_serial_consumed() {
    let root = Root::new("deleg-bad", "20y");
    let work = root.work();
    let ledger = work.join("ledger");

    // One good issuance first, so the ledger exists and its bytes can be compared.
    let good = make_csr(&work, "good", &ec("P-256"), &publisher("good"));
    let (ok, text) = root.issue(&good, "signing", "1y", &[], &ledger, &work.join("good-out"));
    assert!(ok, "{text}");
    let ledger_before = fs::read(ledger.join("ledger.json")).expect("ledger.json");

    let good_der = csr_to_der(&good, &work.join("good.der"));
    let mut bad_signature = good_der.clone();
    *bad_signature.last_mut().unwrap() ^= 0x01;
    let truncated = good_der[..good_der.len() / 2].to_vec();
    let mut huge = fs::read(&good).unwrap();
    huge.resize(64 * 1024 + 1, b'\n');
    let garbage: Vec<u8> = (0u8..=255).cycle().skip(7).step_by(3).take(700).collect();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rsa8192.csr");
    // A P-256 key written in compressed form, which Go (and notation) cannot read.
    let plain_key = work.join("compressed-plain.key");
    let compressed_key = work.join("compressed.key");
    run_ok(
        Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&plain_key),
    );
    run_ok(
        Command::new("openssl")
            .args(["ec", "-conv_form", "compressed", "-in"])
            .arg(&plain_key)
            .arg("-out")
            .arg(&compressed_key),
    );
    let compressed_csr = work.join("compressed-made.csr");
    run_ok(
        Command::new("openssl")
            .args(["req", "-new", "-key"])
            .arg(&compressed_key)
            .args(["-subj", &publisher("compressed"), "-out"])
            .arg(&compressed_csr),
    );
    let compressed = fs::read(&compressed_csr).unwrap();
    let subject = |s: &str| s.to_owned();
    let openssl = |key: Vec<String>, subj: String| BadCsr::Openssl(key, subj);
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let cases: Vec<(&str, BadCsr, &str)> = vec![
        (
            "bad-signature.der",
            BadCsr::Bytes(bad_signature),
            "does not verify",
        ),
        (
            "rsa1024.csr",
            openssl(args(&["-newkey", "rsa:1024"]), publisher("rsa1024")),
            "RSA-1024",
        ),
        ("rsa8192.csr", BadCsr::Fixture(fixture), "RSA-8192"),
        (
            "ed25519.csr",
            openssl(args(&["-newkey", "ed25519"]), publisher("ed25519")),
            "Ed25519",
        ),
        (
            "secp256k1.csr",
            openssl(ec("secp256k1"), publisher("k1")),
            "secp256k1",
        ),
        (
            "no-o.csr",
            openssl(ec("P-256"), subject("/C=US/ST=WA/CN=no-o")),
            "O missing",
        ),
        (
            "two-ou.csr",
            openssl(ec("P-256"), subject("/C=US/ST=WA/O=P/OU=a/OU=b/CN=x")),
            "appears more than once",
        ),
        (
            "email.csr",
            openssl(
                ec("P-256"),
                subject("/C=US/ST=WA/O=P/CN=x/emailAddress=signer@example.com"),
            ),
            "e-mail address",
        ),
        (
            "multi-rdn.csr",
            openssl(
                [ec("P-256"), args(&["-multivalue-rdn"])].concat(),
                subject("/C=US/ST=WA/O=P/CN=a+OU=b"),
            ),
            "multi-valued",
        ),
        ("garbage.csr", BadCsr::Bytes(garbage), "not a PKCS#10"),
        ("truncated.der", BadCsr::Bytes(truncated), "not a PKCS#10"),
        ("huge.csr", BadCsr::Bytes(huge), "a few kilobytes"),
        (
            "compressed.csr",
            BadCsr::Bytes(compressed),
            "compressed point",
        ),
        (
            "wants-ca.csr",
            openssl(
                [
                    ec("P-256"),
                    args(&["-addext", "basicConstraints=critical,CA:TRUE"]),
                ]
                .concat(),
                publisher("wants-ca"),
            ),
            "asks for a CA certificate",
        ),
    ];

    let mut p = Problems::default();
    for (file, how, reason) in cases {
        check_refused(&mut p, &root, &ledger, &ledger_before, file, how, reason);
    }
    p.assert_none();
}

/// Makes the bad CSR `file` as `how` says, has `keyrite delegate issue` (signing profile) try
/// it, and checks that it was refused with an error naming the file and saying `reason`
/// without writing a certificate, changing the ledger (`ledger_before`) or echoing a hidden
/// character.
fn check_refused(
    p: &mut Problems,
    root: &Root,
    ledger: &Path,
    ledger_before: &[u8],
    file: &str,
    how: BadCsr,
    reason: &str,
) {
    let work = root.work();
    let stem = file.rsplit_once('.').unwrap().0;
    let csr = match how {
        BadCsr::Openssl(key, subj) => make_csr(&work, stem, &key, &subj),
        BadCsr::Bytes(bytes) => {
            let path = work.join(file);
            fs::write(&path, bytes).unwrap();
            path
        }
        BadCsr::Fixture(path) => path,
    };
    let out = work.join(format!("out-{stem}"));
    let (ok, text) = root.issue(&csr, "signing", "1y", &["--crl-url", CRL_URL], ledger, &out);
    p.check(!ok, || format!("{file}: was issued:\n{text}"));
    p.check(
        text.contains("keyrite: error:") && text.contains(file) && text.contains(reason),
        || format!("{file}: the error should name the file and say {reason:?}:\n{text}"),
    );
    p.check(!text.chars().any(is_hidden), || {
        format!("{file}: the error echoes a hidden character: {text:?}")
    });
    let written = files_in(&out);
    p.check(written.is_empty(), || {
        format!("{file}: files were written: {written:?}")
    });
    let ledger_now = fs::read(ledger.join("ledger.json")).unwrap_or_default();
    p.check(ledger_now == ledger_before, || {
        format!(
            "{file}: the ledger changed:\n{}",
            String::from_utf8_lossy(&ledger_now)
        )
    });
}

/// Characters an error must never write out: controls but newline, format characters that
/// hide or reorder text, and line and paragraph separators.
fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

#[test]
fn a_csr_wrapped_at_76_columns_and_a_der_csr_are_accepted() {
    let root = Root::new("deleg-forms", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let out = work.join("out");
    let csr = make_csr(&work, "original", &ec("P-384"), &publisher("forms"));
    let der = csr_to_der(&csr, &work.join("der-form.der"));

    let base64 = data_encoding::BASE64.encode(&der);
    let mut wrapped = String::from("-----BEGIN CERTIFICATE REQUEST-----\r\n");
    for line in base64.as_bytes().chunks(76) {
        wrapped.push_str(std::str::from_utf8(line).unwrap());
        wrapped.push_str("\r\n");
    }
    wrapped.push_str("-----END CERTIFICATE REQUEST-----\r\n");
    assert!(
        wrapped
            .lines()
            .nth(1)
            .is_some_and(|l| l.trim_end().len() == 76),
        "{wrapped}"
    );
    let wrapped_path = work.join("wrapped76.csr");
    fs::write(&wrapped_path, &wrapped).unwrap();

    for (path, name) in [
        (wrapped_path, "wrapped76"),
        (work.join("der-form.der"), "der-form"),
    ] {
        let (ok, text) = root.issue(&path, "signing", "1y", &[], &ledger, &out);
        assert!(ok, "{name}: {text}");
        let cert = out.join(format!("{name}.crt"));
        let (ok, text) = openssl_verify(&root.cert, None, &cert);
        assert!(ok, "{name}: {text}");
        assert_eq!(public_key("x509", &cert), public_key("req", &csr), "{name}");
    }
    assert_eq!(ledger_entries(&ledger).len(), 2);
}

#[test]
fn an_existing_output_is_never_overwritten() {
    let root = Root::new("deleg-exists", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let out = work.join("out");
    let csr = make_csr(&work, "signer", &ec("P-256"), &publisher("signer"));
    let (ok, text) = root.issue(&csr, "signing", "1y", &[], &ledger, &out);
    assert!(ok, "{text}");
    let cert_before = fs::read(out.join("signer.crt")).unwrap();
    let chain_before = fs::read(out.join("signer.chain.pem")).unwrap();
    let ledger_before = fs::read(ledger.join("ledger.json")).unwrap();

    // The same CSR into the same directory: both outputs exist.
    let (ok, text) = root.issue(&csr, "signing", "1y", &[], &ledger, &out);
    assert!(!ok, "{text}");
    assert!(
        text.contains("keyrite: error:") && text.contains("already exists"),
        "{text}"
    );
    assert_eq!(fs::read(out.join("signer.crt")).unwrap(), cert_before);
    assert_eq!(
        fs::read(out.join("signer.chain.pem")).unwrap(),
        chain_before
    );
    assert_eq!(fs::read(ledger.join("ledger.json")).unwrap(), ledger_before);

    // Only the chain exists: it is kept, and the certificate is not written beside it.
    let other = work.join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("signer.chain.pem"), "someone's file\n").unwrap();
    let (ok, text) = root.issue(&csr, "signing", "1y", &[], &ledger, &other);
    assert!(!ok, "{text}");
    assert!(
        text.contains("signer.chain.pem") && text.contains("already exists"),
        "{text}"
    );
    assert_eq!(
        fs::read_to_string(other.join("signer.chain.pem")).unwrap(),
        "someone's file\n"
    );
    assert_eq!(files_in(&other), ["signer.chain.pem"]);
    assert_eq!(fs::read(ledger.join("ledger.json")).unwrap(), ledger_before);
}

#[test]
fn an_output_directory_that_is_a_link_is_refused_and_nothing_written_through_it() {
    let root = Root::new("deleg-outlink", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let csr = make_csr(&work, "signer", &ec("P-256"), &publisher("signer"));
    let (ok, text) = root.issue(&csr, "signing", "1y", &[], &ledger, &work.join("first"));
    assert!(ok, "{text}");
    let ledger_before = fs::read(ledger.join("ledger.json")).unwrap();

    let elsewhere = work.join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let link = work.join("out");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let (ok, text) = root.issue(&csr, "signing", "1y", &[], &ledger, &link);
    assert!(!ok, "{text}");
    assert!(
        text.contains("keyrite: error:")
            && text.contains("is a symbolic link")
            && text.contains("give the directory's own path"),
        "{text}"
    );
    assert!(
        files_in(&elsewhere).is_empty(),
        "{:?}",
        files_in(&elsewhere)
    );
    // Refused before the token signed anything: no serial consumed.
    assert_eq!(fs::read(ledger.join("ledger.json")).unwrap(), ledger_before);
}

#[test]
fn a_root_key_that_is_not_the_root_certificates_is_refused() {
    let root = Root::new("deleg-key-a", "20y");
    // Another root with the same subject, made on another token: only its key differs.
    let other = Root::new("deleg-key-b", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let out = work.join("out");
    let csr = make_csr(&work, "signer", &ec("P-256"), &publisher("signer"));
    let (ok, text) = run(root.delegate_issue(&other.cert, &csr, &ledger, &out).args([
        "--profile",
        "signing",
        "--validity",
        "1y",
    ]));
    assert!(
        !ok,
        "issued with a key that is not the root certificate's:\n{text}"
    );
    assert!(text.contains("keyrite: error:"), "{text}");
    assert!(text.contains("not the root certificate's key"), "{text}");
    assert_eq!(files_in(&out), Vec::<String>::new());
    assert_eq!(ledger_entries(&ledger), Vec::<serde_json::Value>::new());
}

#[test]
fn a_certificate_that_only_carries_the_root_key_is_not_the_root() {
    // The attack: a certificate with the root's public key but another subject, another key
    // identifier and a validity to 9966, self-issued by the attacker's own key. Were it taken
    // as the root, delegates would carry its issuer name and could outlive the real root.
    let root = Root::new("deleg-forged", "20y");
    let work = root.work();
    let public = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(&root.cert)
        .output()
        .unwrap();
    fs::write(work.join("root.pub"), &public.stdout).unwrap();
    run_ok(
        Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
            ])
            .arg(work.join("attacker.key")),
    );
    fs::write(
        work.join("ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
    )
    .unwrap();
    let forged = work.join("forged.crt");
    run_ok(
        Command::new("openssl")
            .args([
                "x509",
                "-new",
                "-subj",
                "/C=US/ST=WA/O=Example/CN=Evil Root",
                "-days",
                "2900000",
            ])
            .arg("-key")
            .arg(work.join("attacker.key"))
            .arg("-force_pubkey")
            .arg(work.join("root.pub"))
            .arg("-extfile")
            .arg(work.join("ext"))
            .arg("-out")
            .arg(&forged),
    );
    let ledger = work.join("ledger");
    let out = work.join("out");
    let csr = make_csr(&work, "signer", &ec("P-256"), &publisher("signer"));
    let (ok, text) = run(root.delegate_issue(&forged, &csr, &ledger, &out).args([
        "--profile",
        "signing",
        "--validity",
        "1y",
    ]));
    assert!(!ok, "issued under a forged root certificate:\n{text}");
    assert!(
        text.contains("the root certificate given is not the root")
            && text.contains("signature is bad"),
        "{text}"
    );
    assert_eq!(files_in(&out), Vec::<String>::new());
    assert_eq!(ledger_entries(&ledger), Vec::<serde_json::Value>::new());
    // The real root certificate still issues from the same CSR.
    let (ok, text) = root.issue(&csr, "signing", "1y", &[], &ledger, &out);
    assert!(ok, "{text}");
}

#[test]
fn an_rsa_pss_csr_with_openssls_default_salt_is_accepted() {
    // OpenSSL 3 signs PSS with the longest salt the key allows (350 bytes for RSA-3072),
    // more than a one-byte salt length field holds.
    let root = Root::new("deleg-pss", "20y");
    let work = root.work();
    let key_args = [
        "-newkey",
        "rsa:3072",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sha256",
    ];
    let csr = make_csr(&work, "pss3072", &key_args, &publisher("pss3072"));
    let (ok, text) = root.issue(
        &csr,
        "signing",
        "1y",
        &[],
        &work.join("ledger"),
        &work.join("out"),
    );
    assert!(ok, "{text}");
}

#[test]
fn a_delegate_ca_without_a_crl_url_is_refused() {
    let root = Root::new("deleg-ca-cdp", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let out = work.join("out");
    let csr = make_csr(&work, "ca", &ec("P-384"), &publisher("ca"));
    let (ok, text) = root.issue(&csr, "ca", "1y", &[], &ledger, &out);
    assert!(!ok, "{text}");
    assert!(text.contains("a delegate CA needs --crl-url"), "{text}");
    assert_eq!(files_in(&out), Vec::<String>::new());
    assert!(!ledger.join("ledger.json").exists());
}

#[test]
fn a_ledger_of_another_root_is_refused() {
    let first = Root::new("deleg-ledger-a", "20y");
    let second = Root::new("deleg-ledger-b", "20y");
    let ledger = first.work().join("ledger");
    let csr = make_csr(&first.work(), "pub", &ec("P-256"), &publisher("pub"));
    let (ok, text) = first.issue(
        &csr,
        "signing",
        "1y",
        &[],
        &ledger,
        &first.work().join("out"),
    );
    assert!(ok, "{text}");
    let before = fs::read(ledger.join("ledger.json")).unwrap();
    let csr_b = make_csr(&second.work(), "pub", &ec("P-256"), &publisher("pub"));
    let (ok, text) = second.issue(
        &csr_b,
        "signing",
        "1y",
        &[],
        &ledger,
        &second.work().join("out"),
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("belongs to the root certificate with SHA-256"),
        "{text}"
    );
    assert_eq!(fs::read(ledger.join("ledger.json")).unwrap(), before);
}

/// An extension holding `value`'s DER.
fn der_extension<T: der::Encode + der::oid::AssociatedOid>(value: &T, critical: bool) -> Extension {
    Extension {
        extn_id: T::OID,
        critical,
        extn_value: der::asn1::OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

/// An extensionRequest attribute with one value per list in `values` (PKCS#9 allows exactly
/// one).
fn extension_request(values: Vec<Vec<Extension>>) -> Attribute {
    let values: Vec<der::Any> = values
        .into_iter()
        .map(|exts| der::Any::encode_from(&ExtensionReq(exts)).unwrap())
        .collect();
    Attribute {
        oid: ExtensionReq::OID,
        values: SetOfVec::try_from(values).unwrap(),
    }
}

/// A CSR for `subject` carrying `attributes` exactly as given, signed by a fresh P-256 key:
/// what a tool that ignores PKCS#10's rules, or an attacker, could hand the ceremony.
fn raw_csr(subject: &str, attributes: Vec<Attribute>) -> Vec<u8> {
    let key = MemoryKey::generate(KeyAlgorithm::P256).unwrap();
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: parse_subject(subject).unwrap(),
        public_key: key.public_key().to_spki().unwrap(),
        attributes: SetOfVec::try_from(attributes).unwrap(),
    };
    let signature = key.sign(&info.to_der().unwrap()).unwrap();
    CertReq {
        info,
        algorithm: key.scheme().algorithm_identifier(),
        signature: der::asn1::BitString::from_bytes(&signature).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn csrs_that_ask_more_than_the_profile_allows_are_refused_naming_the_rule() {
    let root = Root::new("deleg-rules", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let good = make_csr(&work, "good", &ec("P-256"), &publisher("good"));
    let (ok, text) = root.issue(&good, "signing", "1y", &[], &ledger, &work.join("good-out"));
    assert!(ok, "{text}");
    let ledger_before = fs::read(ledger.join("ledger.json")).expect("ledger.json");

    let pub_subject = "C=US,ST=WA,O=Publisher,CN=rules";
    let email = |s: &str| GeneralName::Rfc822Name(Ia5String::new(s).unwrap());
    let san = |names: Vec<GeneralName>| der_extension(&SubjectAltName(names), false);
    let one_request = |exts: Vec<Extension>| {
        BadCsr::Bytes(raw_csr(pub_subject, vec![extension_request(vec![exts])]))
    };
    let ca_false = der_extension(
        &BasicConstraints {
            ca: false,
            path_len_constraint: None,
        },
        true,
    );
    let ca_true = der_extension(
        &BasicConstraints {
            ca: true,
            path_len_constraint: None,
        },
        true,
    );
    let addext = |ext: &str, cn: &str| {
        BadCsr::Openssl(
            [ec("P-256"), vec!["-addext".into(), ext.into()]].concat(),
            publisher(cn),
        )
    };
    let subject_with = |value: &str| {
        BadCsr::Openssl(
            [ec("P-256"), vec!["-utf8".into()]].concat(),
            format!("/C=US/ST=WA/O=Publisher/CN={value}"),
        )
    };

    let cases: Vec<(&str, BadCsr, &str)> = vec![
        // subjectAltName: only e-mail addresses and URIs, never empty, never the root.
        (
            "san-wildcard-dns.csr",
            addext("subjectAltName=DNS:*.example.com", "wildcard"),
            "dNSName *.example.com: a wildcard DNS name",
        ),
        (
            "san-root-dirname.der",
            one_request(vec![san(vec![GeneralName::DirectoryName(
                parse_subject(ROOT_SUBJECT).unwrap(),
            )])]),
            "directoryName C=US, ST=WA, O=Example, CN=Root: it is the root's own subject",
        ),
        (
            "san-upn.csr",
            addext(
                "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:admin@example.com",
                "upn",
            ),
            "otherName 1.3.6.1.4.1.311.20.2.3: it is a logon or directory identity",
        ),
        (
            "san-empty.der",
            one_request(vec![san(vec![])]),
            "its subjectAltName is empty",
        ),
        // The request's structure.
        (
            "two-sans.der",
            one_request(vec![
                san(vec![email("a@example.com")]),
                san(vec![email("b@example.com")]),
            ]),
            "subjectAltName (2.5.29.17) more than once",
        ),
        (
            "two-basic-constraints.der",
            one_request(vec![ca_true, ca_false.clone()]),
            "basicConstraints (2.5.29.19) more than once",
        ),
        (
            "empty-extension-request.der",
            BadCsr::Bytes(raw_csr(pub_subject, vec![extension_request(vec![])])),
            "its extensionRequest attribute is an empty SET",
        ),
        (
            "two-extension-requests.der",
            BadCsr::Bytes(raw_csr(
                pub_subject,
                vec![
                    extension_request(vec![vec![ca_false]]),
                    extension_request(vec![vec![san(vec![email("a@example.com")])]]),
                ],
            )),
            "it has 2 extensionRequest attributes",
        ),
        (
            "unknown-critical.csr",
            addext("1.3.6.1.4.1.99999.1=critical,DER:0500", "critical"),
            "extension 1.3.6.1.4.1.99999.1 marked critical",
        ),
        // Subjects: hidden characters named by code point, and the root's own subject.
        (
            "zero-width.csr",
            subject_with("release\u{200B}signer"),
            "CN holds a Unicode format character (U+200B)",
        ),
        (
            "right-to-left-override.csr",
            subject_with("rel\u{202E}ease"),
            "CN holds a Unicode format character (U+202E)",
        ),
        (
            "first-strong-isolate.csr",
            subject_with("rel\u{2068}ease\u{2069}"),
            "CN holds a Unicode format character (U+2068)",
        ),
        (
            "left-to-right-mark.csr",
            subject_with("release\u{200E}"),
            "CN holds a Unicode format character (U+200E)",
        ),
        (
            "line-separator.csr",
            subject_with("release\u{2028}signer"),
            "CN holds a line or paragraph separator (U+2028)",
        ),
        (
            "control.csr",
            subject_with("release\u{7}signer"),
            "CN holds a control character (U+0007)",
        ),
        (
            "root-subject.csr",
            BadCsr::Openssl(ec("P-256"), "/C=US/ST=WA/O=Example/CN=Root".into()),
            "its subject is the root's own subject",
        ),
    ];
    let mut p = Problems::default();
    for (file, how, reason) in cases {
        check_refused(&mut p, &root, &ledger, &ledger_before, file, how, reason);
    }
    p.assert_none();
}

#[test]
fn a_subject_held_by_another_key_is_refused_unless_allowed() {
    let root = Root::new("deleg-held", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    // "Exаmple" with a Cyrillic а: issued, with a warning that names the code point.
    let subject = "/C=US/ST=WA/O=Ex\u{0430}mple/CN=release-signer";
    let utf8 = [ec("P-256"), vec!["-utf8".into()]].concat();
    let first = make_csr(&work, "first", &utf8, subject);
    let (ok, text) = root.issue(
        &first,
        "signing",
        "1y",
        &[],
        &ledger,
        &work.join("first-out"),
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("keyrite: warning:")
            && text.contains("mixes Latin and Cyrillic letters (U+0430"),
        "the mixed scripts should be a warning:\n{text}"
    );
    // Before signing, what the root signs: the subject in ASCII and the key's SHA-256.
    assert!(
        text.contains("keyrite: the root signs:")
            && text.contains("subject:  C=US, ST=WA, O=Ex\\u{0430}mple, CN=release-signer")
            && text.contains("key SHA-256 (SubjectPublicKeyInfo):"),
        "the preview should come before signing:\n{text}"
    );
    assert!(
        !text.contains('\u{0430}') || text.contains("subject:"),
        "{text}"
    );
    let serial = ledger_entries(&ledger)[0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let ledger_before = fs::read(ledger.join("ledger.json")).unwrap();

    // Another key, same subject: refused, naming the serial that holds it.
    let second = make_csr(&work, "second", &utf8, subject);
    let out = work.join("second-out");
    let (ok, text) = root.issue(&second, "signing", "1y", &[], &ledger, &out);
    assert!(!ok, "{text}");
    assert!(
        text.contains("is held by another key")
            && text.contains(&serial)
            && text.contains("--allow-subject-held-by-another-key"),
        "{text}"
    );
    assert!(files_in(&out).is_empty());
    assert_eq!(fs::read(ledger.join("ledger.json")).unwrap(), ledger_before);

    // The same key again (a renewal) needs no override.
    let renewal = work.join("renewal.csr");
    run_ok(
        Command::new("openssl")
            .args(["req", "-new", "-utf8", "-key"])
            .arg(work.join("first.key"))
            .args(["-subj", subject, "-out"])
            .arg(&renewal),
    );
    let (ok, text) = root.issue(
        &renewal,
        "signing",
        "1y",
        &[],
        &ledger,
        &work.join("renewal-out"),
    );
    assert!(ok, "{text}");

    // The override issues the second key.
    let (ok, text) = root.issue(
        &second,
        "signing",
        "1y",
        &["--allow-subject-held-by-another-key"],
        &ledger,
        &out,
    );
    assert!(ok, "{text}");
    // The override is said, naming the certificate the other key holds.
    assert!(
        text.contains("issued although the subject is held by another key's active certificate"),
        "{text}"
    );
    assert_eq!(ledger_entries(&ledger).len(), 3);
}

#[test]
fn a_key_certified_for_another_subject_is_refused_unless_allowed() {
    let root = Root::new("deleg-shared-key", "20y");
    let work = root.work();
    let ledger = work.join("ledger");
    let first = make_csr(&work, "team-a", &ec("P-256"), &publisher("team-a"));
    let (ok, text) = root.issue(&first, "signing", "1y", &[], &ledger, &work.join("a-out"));
    assert!(ok, "{text}");
    let serial = ledger_entries(&ledger)[0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let ledger_before = fs::read(ledger.join("ledger.json")).unwrap();

    // Team B's CSR made with team A's key: one delegate key for two publishers.
    let shared = work.join("team-b.csr");
    run_ok(
        Command::new("openssl")
            .args(["req", "-new", "-key"])
            .arg(work.join("team-a.key"))
            .args(["-subj", &publisher("team-b"), "-out"])
            .arg(&shared),
    );
    let out = work.join("b-out");
    let (ok, text) = root.issue(&shared, "signing", "1y", &[], &ledger, &out);
    assert!(!ok, "{text}");
    for want in [
        format!(
            "the CSR's key holds an active certificate for another subject (serial {serial} \
             for C=US, ST=WA, O=Publisher, CN=team-a): one delegate key per publisher or build \
             system"
        ),
        "--allow-key-certified-for-another-subject".to_owned(),
    ] {
        assert!(text.contains(&want), "no {want:?} in:\n{text}");
    }
    assert!(files_in(&out).is_empty());
    assert_eq!(fs::read(ledger.join("ledger.json")).unwrap(), ledger_before);

    // The override issues it, says so before the root signs, and warns after.
    let (ok, text) = root.issue(
        &shared,
        "signing",
        "1y",
        &["--allow-key-certified-for-another-subject"],
        &ledger,
        &out,
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("override: a key certified for another subject is issued")
            && text.contains(&format!(
                "issued although the key holds an active certificate for another subject \
                 (serial {serial} for C=US, ST=WA, O=Publisher, CN=team-a)"
            )),
        "{text}"
    );
    assert_eq!(ledger_entries(&ledger).len(), 2);
}

/// `keyrite csr show FILE` and its output and success.
fn csr_show(csr: &Path) -> (bool, String) {
    run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .args(["csr", "show"])
        .arg(csr))
}

#[test]
fn csr_show_prints_the_subject_key_words_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let csr = make_csr(
        dir.path(),
        "shown",
        &[
            ec("P-384"),
            args(&[
                "-addext",
                "subjectAltName=email:signer@example.com,URI:https://example.com/pub",
            ]),
        ]
        .concat(),
        &publisher("shown"),
    );
    let (ok, text) = csr_show(&csr);
    assert!(ok, "{text}");
    let read = read_csr(&csr).unwrap();
    let fp = Fingerprint::of(&read.request.info.public_key.to_der().unwrap());
    for want in [
        "subject:  C=US, ST=WA, O=Publisher, CN=shown".to_owned(),
        "EC P-384".to_owned(),
        fp.hex(),
        fp.words()[..8].join(" "),
        "subjectAltName: carried into the certificate".to_owned(),
        "rfc822Name signer@example.com".to_owned(),
        "URI https://example.com/pub".to_owned(),
    ] {
        assert!(
            text.contains(&want),
            "csr show should print {want:?}:\n{text}"
        );
    }
    assert!(!text.contains("refused:"), "{text}");
}

#[test]
fn csr_show_escapes_a_bidi_subject_and_lists_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let csr = make_csr(
        dir.path(),
        "bidi",
        &[ec("P-256"), args(&["-utf8"])].concat(),
        "/C=US/ST=WA/O=Publisher/CN=rel\u{202E}ease",
    );
    let (ok, text) = csr_show(&csr);
    assert!(!ok, "a refused CSR should exit non-zero:\n{text}");
    assert!(text.contains("CN=rel\\u{202E}ease"), "{text}");
    assert!(
        text.contains("refused:") && text.contains("(U+202E)"),
        "{text}"
    );
    assert!(
        !text.chars().any(is_hidden),
        "the raw character is echoed: {text:?}"
    );
}

/// Owned strings of `a`.
fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}
