//! Scripted ceremonies: `keyrite rehearse --batch` end to end (manifest, root, transcript and
//! its signature checked by keyrite and by OpenSSL), tampering with the transcript and its
//! artefacts, a rehearsal killed (SIGKILL) mid-ceremony and resumed, and inputs refused before
//! anything starts.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use keyrite::ceremony::CeremonyError;
use keyrite::ceremony::actions::StepOutcome;
use keyrite::ceremony::engine::{Ceremony, Confirmer};
use keyrite::ceremony::script::{Script, Step};
use keyrite::fingerprint::Fingerprint;
use serde_json::Value;

/// The transcript's path inside a rehearsal directory.
const TRANSCRIPT: &str = "out/transcript.jsonl";
/// How long a killed-rehearsal test waits for the transcript to reach the point it kills at.
const POLL_TIMEOUT: Duration = Duration::from_secs(60);

/// `keyrite`, without a PIN or a step pause from the caller's environment.
fn keyrite() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite"));
    cmd.env_remove("KEYRITE_PIN")
        .env_remove("KEYRITE_CEREMONY_STEP_PAUSE_MS");
    cmd
}

/// `keyrite rehearse --batch --out DIR`: whether it exited 0, and its output.
fn rehearse(dir: &Path) -> (bool, String) {
    run(keyrite().args(["rehearse", "--batch", "--out"]).arg(dir))
}

/// A finished rehearsal in a new temporary directory.
fn rehearsed() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, text) = rehearse(&tmp.path().join("r"));
    assert!(ok, "rehearse --batch failed:\n{text}");
    tmp
}

/// The rehearsal directory inside a [`rehearsed`] temporary directory.
fn rdir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("r")
}

fn manifest(dir: &Path) -> Value {
    let text = fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest.json is JSON")
}

/// The paths listed under `key` in the manifest (an array of paths).
fn listed(m: &Value, key: &str) -> Vec<PathBuf> {
    m[key]
        .as_array()
        .unwrap_or_else(|| panic!("manifest has no array {key}: {m:#}"))
        .iter()
        .map(|v| PathBuf::from(v.as_str().expect("a path")))
        .collect()
}

/// Every artefact the manifest lists by role (its arrays; the transcript, its signature and
/// the summary are not artefacts the transcript can record).
fn manifest_artefacts(dir: &Path) -> Vec<PathBuf> {
    let m = manifest(dir);
    m.as_object()
        .expect("manifest is an object")
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .map(|v| PathBuf::from(v.as_str().expect("a path")))
        .collect()
}

fn root_cert(dir: &Path) -> PathBuf {
    let roots = listed(&manifest(dir), "root_cert");
    assert_eq!(roots.len(), 1, "{roots:?}");
    roots[0].clone()
}

/// `keyrite transcript verify DIR/out/transcript.jsonl --root-cert ROOT ARTEFACT...`.
fn verify(dir: &Path, root: &Path, artefacts: &[PathBuf]) -> (bool, String) {
    run(keyrite()
        .args(["transcript", "verify"])
        .arg(dir.join(TRANSCRIPT))
        .arg("--root-cert")
        .arg(root)
        .args(artefacts))
}

/// Asserts that the transcript verifies with every artefact of the manifest.
fn assert_verifies(dir: &Path) {
    let (ok, text) = verify(dir, &root_cert(dir), &manifest_artefacts(dir));
    assert!(ok && text.contains("Transcript verified"), "{text}");
}

/// The complete lines of a transcript (none if it does not exist yet).
fn lines(path: &Path) -> Vec<String> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    };
    // A line still being written has no newline yet: only complete ones count.
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    complete.lines().map(str::to_owned).collect()
}

fn entries(path: &Path) -> Vec<Value> {
    lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Checks a resumed transcript: one start, exactly one step entry for each step 1..=11, an end.
fn assert_each_step_once(dir: &Path) {
    let all = entries(&dir.join(TRANSCRIPT));
    let kind = |k: &str| all.iter().filter(|e| e["kind"] == k).count();
    assert_eq!(kind("start"), 1, "{all:#?}");
    assert_eq!(kind("end"), 1, "{all:#?}");
    assert_eq!(all.last().unwrap()["kind"], "end");
    for n in 1..=11u64 {
        let steps = all
            .iter()
            .filter(|e| e["kind"] == "step" && e["step"] == n)
            .count();
        assert_eq!(steps, 1, "step {n} has {steps} step entries: {all:#?}");
    }
    assert_eq!(kind("step"), 11, "{all:#?}");
}

/// Starts a rehearsal that pauses 150 ms after each begin and step entry, polls its transcript
/// until `ready` says so, kills it (SIGKILL) and returns the transcript's lines at that point.
fn kill_rehearsal_when(dir: &Path, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut child = keyrite()
        .env("KEYRITE_CEREMONY_STEP_PAUSE_MS", "150")
        .args(["rehearse", "--batch", "--out"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn keyrite rehearse");
    let transcript = dir.join(TRANSCRIPT);
    let start = Instant::now();
    loop {
        let now = lines(&transcript);
        if ready(&now) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the rehearsal ended ({status}) before the kill point: {now:#?}");
        }
        if start.elapsed() > POLL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the kill point never came: {now:#?}");
        }
        sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill the rehearsal");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status}");
    let left = lines(&transcript);
    assert!(
        !left.iter().any(|l| l.contains(r#""kind":"end""#)),
        "the killed ceremony has an end entry: {left:#?}"
    );
    assert!(!dir.join("out/transcript.jsonl.p7s").exists());
    left
}

/// Replaces one byte of `path` (a printable one, by another printable one).
fn change_one_byte(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    fs::write(path, bytes).unwrap();
}

#[test]
fn rehearse_batch_end_to_end_then_tampering_is_caught() {
    let tmp = rehearsed();
    let dir = rdir(&tmp);
    let m = manifest(&dir);
    assert_eq!(m["rehearsal"], true, "{m:#}");
    // The round trip: a throwaway site pinned the root by its words, installed both bundles,
    // and judged publisher A trusted and publisher B revoked for the policy's repository.
    let site = fs::read_to_string(dir.join("site.md")).unwrap();
    assert!(
        site.contains("installed trust bundle version 1")
            && site.contains("installed revocation bundle version 1"),
        "{site}"
    );
    assert!(
        site.contains("publisher-a signing for registry.example.internal/releases/app: trusted:"),
        "{site}"
    );
    assert!(
        site.contains("publisher-b signing for registry.example.internal/releases/app: revoked:"),
        "{site}"
    );
    assert_eq!(
        m["site"],
        dir.join("site.md").display().to_string(),
        "{m:#}"
    );

    // What the manifest lists, and that it all exists.
    let count = |key: &str, n: usize| {
        let files = listed(&m, key);
        assert_eq!(files.len(), n, "{key}: {files:?}");
        for f in &files {
            assert!(f.is_file(), "{key}: {} does not exist", f.display());
        }
        files
    };
    let root = count("root_cert", 1).remove(0);
    let cards = count("share_cards", 10);
    for ext in ["png", "svg"] {
        let n = cards
            .iter()
            .filter(|c| c.extension().is_some_and(|e| e == ext))
            .count();
        assert_eq!(n, 5, "{ext} cards: {cards:?}");
    }
    count("publisher_keys", 2);
    let certs = count("delegate_certs", 2);
    count("delegate_chains", 2);
    let crl = count("crls", 1).remove(0);
    count("trust_bundles", 1);
    count("revocation_bundles", 1);
    for key in ["transcript", "transcript_signature", "summary"] {
        let f = Path::new(m[key].as_str().unwrap_or_else(|| panic!("{key}: {m:#}")));
        assert!(f.is_file(), "{key}: {} does not exist", f.display());
    }
    let transcript = dir.join(TRANSCRIPT);
    assert_eq!(Path::new(m["transcript"].as_str().unwrap()), transcript);
    assert_eq!(
        Path::new(m["transcript_signature"].as_str().unwrap()),
        dir.join("out/transcript.jsonl.p7s")
    );

    // The root and the delegates are marked as a rehearsal's, and so is the transcript.
    for cert in std::iter::once(&root).chain(&certs) {
        let subject = run_ok(
            Command::new("openssl")
                .args(["x509", "-noout", "-subject", "-in"])
                .arg(cert),
        );
        assert!(subject.contains("CN = REHEARSAL"), "{subject}");
    }
    let first = &lines(&transcript)[0];
    assert!(first.contains(r#""rehearsal":true"#), "{first}");
    assert_eq!(entries(&transcript)[0]["kind"], "start");

    // keyrite and OpenSSL accept the transcript, its signature and every artefact.
    let artefacts = manifest_artefacts(&dir);
    let (ok, text) = verify(&dir, &root, &artefacts);
    assert!(ok, "{text}");
    for a in &artefacts {
        assert!(
            text.contains(&format!("{} matches entry", a.display())),
            "{}: {text}",
            a.display()
        );
    }
    run_ok(
        Command::new("openssl")
            .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
            .arg(dir.join("out/transcript.jsonl.p7s"))
            .arg("-content")
            .arg(&transcript)
            .arg("-CAfile")
            .arg(&root)
            .args(["-purpose", "any", "-out", "/dev/null"]),
    );

    // The CRL revokes publisher B and not publisher A.
    let crl_pem = tmp.path().join("crl.pem");
    run_ok(
        Command::new("openssl")
            .args(["crl", "-inform", "DER", "-in"])
            .arg(&crl)
            .arg("-out")
            .arg(&crl_pem),
    );
    let cert = |name: &str| {
        certs
            .iter()
            .find(|c| c.file_name().is_some_and(|n| n == name))
            .unwrap_or_else(|| panic!("no {name} in {certs:?}"))
            .clone()
    };
    let crl_verify = |c: &Path| {
        run(Command::new("openssl")
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(&root)
            .arg("-CRLfile")
            .arg(&crl_pem)
            .arg(c))
    };
    let (ok, text) = crl_verify(&cert("publisher-a.crt"));
    assert!(ok && text.contains(": OK"), "{text}");
    let (ok, text) = crl_verify(&cert("publisher-b.crt"));
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    // Tampering, each case on the original transcript.
    let original = fs::read(&transcript).unwrap();
    let orig_lines = lines(&transcript);
    assert_eq!(orig_lines.len(), 24, "{orig_lines:#?}");
    let tampered = |edit: &dyn Fn(&mut Vec<String>)| -> (bool, String) {
        let mut l = orig_lines.clone();
        edit(&mut l);
        fs::write(&transcript, format!("{}\n", l.join("\n"))).unwrap();
        let result = verify(&dir, &root, &[]);
        fs::write(&transcript, &original).unwrap();
        result
    };

    // (a) A step's summary in line 5 (entry 4) rewritten, still valid JSON: entry 5 no longer
    // follows it.
    let (ok, text) = tampered(&|l: &mut Vec<String>| {
        let e: Value = serde_json::from_str(&l[4]).unwrap();
        assert_eq!(e["kind"], "step", "{e}");
        let summary = serde_json::to_string(&e["summary"]).unwrap();
        let edited = l[4].replace(
            &format!(r#""summary":{summary}"#),
            r#""summary":"nothing happened here""#,
        );
        assert_ne!(edited, l[4]);
        serde_json::from_str::<Value>(&edited).expect("still JSON");
        l[4] = edited;
    });
    assert!(!ok, "an edited summary verified: {text}");
    assert!(
        text.contains("entry 5") && text.contains("does not follow"),
        "{text}"
    );

    // (b) The end entry edited: nothing follows it, so the chain cannot tell; its count of
    // steps no longer matches the steps, and a change that keeps the count breaks the signature.
    let (ok, text) = tampered(&|l: &mut Vec<String>| {
        let last = l.last_mut().unwrap();
        assert!(last.contains(r#""kind":"end""#), "{last}");
        let edited = last.replace(r#""steps":11"#, r#""steps":12"#);
        assert_ne!(&edited, last);
        *last = edited;
    });
    assert!(!ok, "an edited end entry verified: {text}");
    assert!(
        text.contains("entry 23") && text.contains("12 steps"),
        "{text}"
    );
    let (ok, text) = tampered(&|l: &mut Vec<String>| {
        let last = l.last_mut().unwrap();
        let edited = last.replacen(r#""time":"2"#, r#""time":"1"#, 1);
        assert_ne!(&edited, last);
        *last = edited;
    });
    assert!(!ok, "an edited end entry verified: {text}");
    assert!(
        text.contains("entry 23 (the last) was changed after the transcript was signed"),
        "{text}"
    );

    // (c) Two entries swapped.
    let (ok, text) = tampered(&|l: &mut Vec<String>| l.swap(5, 6));
    assert!(!ok, "swapped entries verified: {text}");
    assert!(
        text.contains("entry 5") && text.contains("reordered"),
        "{text}"
    );

    // Restored: it verifies again.
    assert_eq!(fs::read(&transcript).unwrap(), original);
    let (ok, text) = verify(&dir, &root, &[]);
    assert!(ok, "{text}");

    // (d) One byte of an artefact changed: the entry that recorded it is named.
    let a_crt = cert("publisher-a.crt");
    let recorded_by = entries(&transcript)
        .iter()
        .find(|e| {
            e["kind"] == "step"
                && e["outputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["path"].as_str().unwrap().ends_with("/publisher-a.crt"))
        })
        .map(|e| e["seq"].as_u64().unwrap())
        .expect("an entry records publisher-a.crt");
    let good = fs::read(&a_crt).unwrap();
    change_one_byte(&a_crt);
    let (ok, text) = verify(&dir, &root, std::slice::from_ref(&a_crt));
    fs::write(&a_crt, &good).unwrap();
    assert!(!ok, "a changed artefact verified: {text}");
    assert!(
        text.contains(&format!("entry {recorded_by} ")) && text.contains("differs"),
        "{text}"
    );

    // (e) The root of another rehearsal.
    let other = rehearsed();
    let other_root = root_cert(&rdir(&other));
    let (ok, text) = verify(&dir, &other_root, &[]);
    assert!(!ok, "verified against another root: {text}");
    assert!(text.contains("not signed by the root"), "{text}");

    // After all that, the untouched rehearsal still verifies in full.
    assert_verifies(&dir);
}

/// Every signing step records what its roles were shown before they confirmed it, and the
/// root signed what was shown: each delegate's key, as hex and words, is the issued
/// certificate's key; the CSR is recorded from the bytes the certificate was made from; the
/// CRL adds exactly the revoked serial; the bundles name the root and the CRL they carry.
#[test]
fn each_signing_step_records_what_was_shown_and_the_root_signed_that() {
    use der::Encode;
    use keyrite::pki::name::{ascii_escaped, display_name};

    let tmp = rehearsed();
    let dir = rdir(&tmp);
    let out = dir.join("out");
    let all = entries(&dir.join(TRANSCRIPT));
    let steps = |action: &str| -> Vec<&Value> {
        all.iter()
            .filter(|e| e["kind"] == "step" && e["action"] == action)
            .collect()
    };
    let shown = |e: &Value| -> Vec<String> {
        e["shown"]
            .as_array()
            .unwrap_or_else(|| panic!("no lines shown: {e}"))
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect()
    };
    let artefact = |e: &Value, list: &str, role: &str| -> (PathBuf, String) {
        let a = e[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["role"] == role)
            .unwrap_or_else(|| panic!("no {role} in {list}: {e}"));
        (
            out.join(a["path"].as_str().unwrap()),
            a["sha256"].as_str().unwrap().to_owned(),
        )
    };
    let ledger: Value =
        serde_json::from_str(&fs::read_to_string(out.join("ledger/ledger.json")).unwrap()).unwrap();

    let delegates = steps("delegate-issue");
    assert_eq!(delegates.len(), 2, "{all:#?}");
    for step in delegates {
        let lines = shown(step);
        let (cert_path, _) = artefact(step, "outputs", "delegate-cert");
        let cert = keyrite::pki::read_certificate(&cert_path).unwrap();
        let tbs = cert.tbs_certificate();
        let key = Fingerprint::of(&tbs.subject_public_key_info().to_der().unwrap());
        for line in std::iter::once(key.hex()).chain(key.words_block().lines().map(str::to_owned)) {
            assert!(
                lines.contains(&format!("  {line}")),
                "the issued key's '{line}' was not shown: {lines:#?}"
            );
        }
        let subject = ascii_escaped(&display_name(tbs.subject()));
        assert!(
            lines.contains(&format!("subject:  {subject}")),
            "{lines:#?}"
        );
        // The CSR recorded is the file's bytes as read, shown by their SHA-256; the ledger's
        // entry for the certificate was made from that same CSR and key.
        let (csr_path, csr_sha256) = artefact(step, "inputs", "csr");
        assert_eq!(
            Fingerprint::of(&fs::read(&csr_path).unwrap()).hex(),
            csr_sha256
        );
        assert!(lines.contains(&format!("  {csr_sha256}")), "{lines:#?}");
        let csr = keyrite::pki::csr::read_csr(&csr_path).unwrap();
        assert_eq!(&csr.request.info.public_key, tbs.subject_public_key_info());
        let serial = keyrite::pki::serial_hex(tbs.serial_number());
        let issued = ledger["issued"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["serial"] == serial.as_str())
            .unwrap_or_else(|| panic!("serial {serial} is not in the ledger: {ledger:#}"));
        assert_eq!(issued["csr_sha256"], Fingerprint::of(&csr.der).hex());
        assert_eq!(issued["key_sha256"], key.hex());
        // The validity shown is the certificate's.
        let valid = format!(
            "valid:    {} to {}",
            issued["not_before"].as_str().unwrap(),
            issued["not_after"].as_str().unwrap()
        );
        assert!(lines.contains(&valid), "{valid}: {lines:#?}");
    }

    let revoked = ledger["revoked"][0]["serial"].as_str().unwrap().to_owned();
    let crl = shown(steps("crl-issue")[0]);
    for want in [
        "added since CRL 0:".to_owned(),
        format!("  serial {revoked} (unspecified)"),
        "entries: 1 (the ledger's 0 revocations, 1 new)".to_owned(),
    ] {
        assert!(crl.contains(&want), "{want}: {crl:#?}");
    }
    assert!(
        crl.iter().any(|l| l.starts_with("CRL number 1: valid ")),
        "{crl:#?}"
    );
    assert!(
        crl.iter().any(|l| l.starts_with("removed: none")),
        "{crl:#?}"
    );

    let root = Fingerprint::of(
        &keyrite::pki::read_certificate(&root_cert(&dir))
            .unwrap()
            .to_der()
            .unwrap(),
    );
    let trust = shown(steps("bundle-trust")[0]);
    assert!(
        trust.contains(&format!("lineage: {}", root.hex())),
        "{trust:#?}"
    );
    assert!(
        trust.contains(&format!("  {}", root.words()[..8].join(" "))),
        "{trust:#?}"
    );
    let revocation = shown(steps("bundle-revocation")[0]);
    assert!(
        revocation.iter().any(|l| l.starts_with("CRL number 1 (")),
        "{revocation:#?}"
    );
    // The revocation bundle's CRL is recorded from the bytes the bundle carries.
    let (crl_path, crl_sha256) = artefact(steps("bundle-revocation")[0], "inputs", "crl");
    assert_eq!(
        Fingerprint::of(&fs::read(crl_path).unwrap()).hex(),
        crl_sha256
    );

    let summary = fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("Shown before confirmation"), "{summary}");
}

#[test]
fn rehearsal_killed_past_root_creation_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    let left = kill_rehearsal_when(&dir, |l| l.len() >= 9);
    assert!(left.len() >= 9, "{left:#?}");

    let (ok, text) = rehearse(&dir);
    assert!(ok, "the resumed rehearsal failed:\n{text}");
    assert!(text.contains("Resuming"), "{text}");
    assert_verifies(&dir);
    assert_each_step_once(&dir);
    // What was there before the kill is still the transcript's beginning.
    let after = lines(&dir.join(TRANSCRIPT));
    assert_eq!(after[..left.len()], left[..]);
}

/// The number of key objects (private and public) on the rehearsal's root and backup tokens,
/// as pkcs11-tool lists them; the root token's records (data objects) are not counted.
fn token_objects(dir: &Path) -> Vec<usize> {
    let pin = fs::read_to_string(dir.join("softhsm/user.pin")).unwrap_or_default();
    ["rehearsal-root", "rehearsal-backup"]
        .iter()
        .map(|label| {
            let out = Command::new("pkcs11-tool")
                .env("SOFTHSM2_CONF", dir.join("softhsm/softhsm2.conf"))
                .args(["--module", "/usr/lib/softhsm/libsofthsm2.so"])
                .args(["--token-label", label, "--login", "--pin", pin.trim()])
                .arg("--list-objects")
                .output()
                .expect("run pkcs11-tool");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| {
                    l.starts_with("Private Key Object") || l.starts_with("Public Key Object")
                })
                .count()
        })
        .collect()
}

/// The number of object files in each of the rehearsal's SoftHSM2 token directories, read
/// without opening a session (for polling while keyrite works on the tokens).
fn token_files(dir: &Path) -> Vec<usize> {
    fs::read_dir(dir.join("softhsm/tokens"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|t| {
            fs::read_dir(t.path())
                .into_iter()
                .flatten()
                .flatten()
                .filter(|f| {
                    f.file_name() != "token.object"
                        && f.path().extension().is_some_and(|e| e == "object")
                })
                .count()
        })
        .collect()
}

#[test]
fn a_root_creation_killed_with_its_keys_on_the_tokens_is_redone_with_them_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    let mut child = keyrite()
        .env("KEYRITE_ROOT_PLACED_PAUSE_MS", "60000")
        .args(["rehearse", "--batch", "--out"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn keyrite rehearse");
    // Both tokens hold the imported key pair (the backup token, imported last, holds nothing
    // else): the root creation is past its imports.
    let start = Instant::now();
    while !matches!(token_files(&dir)[..], [a, b] if a >= 2 && b >= 2) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the rehearsal ended first"
        );
        assert!(start.elapsed() < POLL_TIMEOUT, "the keys never appeared");
        sleep(Duration::from_millis(20));
    }
    // An object file appears before its attributes are written; the pause after the imports
    // lasts a minute, so half a second later the process is inside it.
    sleep(Duration::from_millis(500));
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    let left = entries(&dir.join(TRANSCRIPT));
    let last = left.last().unwrap();
    assert!(
        last["kind"] == "begin" && last["action"] == "root-create",
        "{left:#?}"
    );
    let key_id = last["key_id"].as_str().unwrap().to_owned();
    assert_eq!(token_objects(&dir), [2, 2]);

    let (ok, text) = rehearse(&dir);
    assert!(ok, "the resumed rehearsal failed:\n{text}");
    assert_verifies(&dir);
    assert_each_step_once(&dir);
    let all = entries(&dir.join(TRANSCRIPT));
    let step = all
        .iter()
        .find(|e| e["kind"] == "step" && e["action"] == "root-create")
        .unwrap();
    let summary = step["summary"].as_str().unwrap();
    assert_eq!(
        summary
            .matches(&format!(
                "first removed the unfinished attempt's key 'keyrite-pending-{key_id}' (2 objects)"
            ))
            .count(),
        2,
        "{summary}"
    );
    assert!(
        all.iter()
            .any(|e| e["kind"] == "exception"
                && e["text"].as_str().unwrap().contains("never certified")),
        "{all:#?}"
    );
    // Each token holds the new root's pair only.
    assert_eq!(token_objects(&dir), [2, 2]);
}

#[test]
fn rehearsal_killed_after_a_begin_records_the_interruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    let begun = |l: &[String]| -> Option<(u64, String)> {
        let e: Value = serde_json::from_str(l.last()?).ok()?;
        (e["kind"] == "begin" && e["step"].as_u64()? >= 5).then(|| {
            (
                e["step"].as_u64().unwrap(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
    };
    let left = kill_rehearsal_when(&dir, |l| begun(l).is_some());
    let (n, action) = begun(&left).expect("killed right after a begin entry");

    // The kill lands in the pause after the begin entry, before the step writes anything;
    // leave what a step killed halfway through writing would have left in its directory.
    let step_dir = dir.join(format!("out/{n:02}-{action}"));
    fs::create_dir_all(&step_dir).unwrap();
    fs::write(step_dir.join("half-written.partial"), b"interrupted").unwrap();

    let (ok, text) = rehearse(&dir);
    assert!(ok, "the resumed rehearsal failed:\n{text}");
    assert!(text.contains("Resuming"), "{text}");
    assert!(text.contains("interrupted"), "{text}");

    let all = entries(&dir.join(TRANSCRIPT));
    let exception = all
        .iter()
        .find(|e| e["kind"] == "exception")
        .unwrap_or_else(|| panic!("no exception entry: {all:#?}"));
    assert_eq!(exception["step"], n, "{exception}");
    assert!(
        exception["text"]
            .as_str()
            .unwrap()
            .contains("was interrupted"),
        "{exception}"
    );
    assert_eq!(
        exception["seq"].as_u64().unwrap() as usize,
        left.len(),
        "the exception is the first entry the resumed run writes: {all:#?}"
    );

    let prefix = format!("{n:02}-{action}.interrupted-");
    let aside: Vec<PathBuf> = fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    assert_eq!(aside.len(), 1, "no {prefix}* in out/: {aside:?}");
    assert!(aside[0].join("half-written.partial").is_file());
    assert!(!step_dir.join("half-written.partial").exists());
    assert!(step_dir.is_dir(), "step {n} was not run again");

    assert_verifies(&dir);
    assert_each_step_once(&dir);
}

#[test]
fn a_link_planted_as_a_step_directory_is_refused_before_the_step_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    // Stopped after the note (step 1), before the root creation began.
    kill_rehearsal_when(&dir, |l| {
        l.last()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
            .is_some_and(|e| e["kind"] == "step" && e["step"] == 1)
    });
    // Whoever had the output medium points the root creation's directory elsewhere.
    let elsewhere = tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let step_dir = dir.join("out/02-root-create");
    std::os::unix::fs::symlink(&elsewhere, &step_dir).unwrap();

    let (ok, text) = rehearse(&dir);
    assert!(!ok, "the root creation wrote through a link:\n{text}");
    assert!(
        text.contains("02-root-create is a symbolic link") && text.contains("never through a link"),
        "{text}"
    );
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(token_objects(&dir), [0, 0], "a key was made");
    let all = entries(&dir.join(TRANSCRIPT));
    assert!(
        !all.iter().any(|e| e["kind"] == "begin" && e["step"] == 2),
        "step 2 began: {all:#?}"
    );
    let last = all.last().unwrap();
    assert!(
        last["kind"] == "exception" && last["step"] == 2,
        "the refusal is not recorded: {all:#?}"
    );

    // With the link gone, the ceremony resumes and finishes.
    fs::remove_file(&step_dir).unwrap();
    let (ok, text) = rehearse(&dir);
    assert!(ok, "the resumed rehearsal failed:\n{text}");
    assert_verifies(&dir);
    assert_each_step_once(&dir);
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn transcript_of_another_ceremony_is_refused_and_left_alone() {
    let tmp = rehearsed();
    let dir = rdir(&tmp);
    let transcript = dir.join(TRANSCRIPT);
    let before = fs::read(&transcript).unwrap();

    let script = dir.join("script.toml");
    let text = fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("# The whole lifecycle"), "{text}");
    fs::write(&script, text.replacen("# The whole", "# the whole", 1)).unwrap();

    let (ok, out) = rehearse(&dir);
    assert!(!ok, "a changed script resumed a ceremony:\n{out}");
    assert!(out.contains("is not a rehearsal of this script"), "{out}");
    assert_eq!(fs::read(&transcript).unwrap(), before);
}

// Library-level refusals: nothing starts, no transcript is written.

const SCRIPT: &str = r#"# A small ceremony for the refusal tests.
name = "refusals"
title = "Refusals"

[roles]
administrator = "Runs the ceremony"
witness = "Watches it"

[[step]]
title = "Prepare the room"
instruction = "Check the room."
action = "note"
confirm = ["administrator", "witness"]

[[step]]
title = "Create the root"
instruction = "Make the root on the token."
action = "root-create"
confirm = ["administrator", "witness"]
with = { subject = "C=US,ST=WA,O=Example,CN=Refusal Root", validity = "1y", below_minimum = "a test root, thrown away" }
"#;

/// A script and a profile (module `module`) in a temporary directory; the profile's output
/// directory is `out` there.
struct Files {
    tmp: tempfile::TempDir,
    script: PathBuf,
    profile: PathBuf,
}

impl Files {
    fn new(script: &str, module: &str) -> Files {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("input");
        fs::create_dir(&input).unwrap();
        let profile = format!(
            "module = \"{module}\"\nroot_token = \"pkcs11:token=x\"\ninput = \"{}\"\noutput = \"{}\"\n",
            input.display(),
            tmp.path().join("out").display()
        );
        let files = Files {
            script: tmp.path().join("script.toml"),
            profile: tmp.path().join("profile.toml"),
            tmp,
        };
        fs::write(&files.script, script).unwrap();
        fs::write(&files.profile, profile).unwrap();
        files
    }

    fn transcript(&self) -> PathBuf {
        self.tmp.path().join("out").join("transcript.jsonl")
    }

    /// `Ceremony::open`'s error, which must come.
    fn open_err(&self) -> String {
        let err = match Ceremony::open(&self.script, &self.profile) {
            Ok(_) => panic!("the ceremony opened"),
            Err(e) => e.to_string(),
        };
        assert!(
            !self.transcript().exists(),
            "a refused ceremony wrote a transcript"
        );
        err
    }
}

fn softhsm_module() -> &'static str {
    assert!(
        Path::new(SOFTHSM_MODULE).is_file(),
        "{SOFTHSM_MODULE} is missing (scripts/test installs SoftHSM2)"
    );
    SOFTHSM_MODULE
}

#[test]
fn script_with_an_unknown_action_is_refused() {
    let f = Files::new(
        &SCRIPT.replacen(r#"action = "note""#, r#"action = "launch-missiles""#, 1),
        softhsm_module(),
    );
    let err = f.open_err();
    assert!(
        err.contains("unknown variant") && err.contains("launch-missiles"),
        "{err}"
    );
}

#[test]
fn step_without_a_confirming_role_is_refused() {
    let f = Files::new(
        &SCRIPT.replacen(
            r#"confirm = ["administrator", "witness"]"#,
            "confirm = []",
            1,
        ),
        softhsm_module(),
    );
    let err = f.open_err();
    assert!(err.contains("names no confirming role"), "{err}");
    assert!(err.contains("step 1"), "{err}");
}

#[test]
fn step_confirmed_by_an_undefined_role_is_refused() {
    let f = Files::new(
        &SCRIPT.replacen(
            r#"confirm = ["administrator", "witness"]
with"#,
            r#"confirm = ["administrator", "auditor"]
with"#,
            1,
        ),
        softhsm_module(),
    );
    let err = f.open_err();
    assert!(err.contains("which [roles] does not define"), "{err}");
    assert!(err.contains("step 2") && err.contains("auditor"), "{err}");
}

#[test]
fn profile_with_a_missing_module_is_refused() {
    let f = Files::new(SCRIPT, "/nonexistent/libpkcs11-module.so");
    let err = f.open_err();
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("/nonexistent/libpkcs11-module.so"), "{err}");
}

/// An administrator who rejects the script's hash; nothing else may be asked.
struct Rejecting {
    shown: Option<Fingerprint>,
}

impl Confirmer for Rejecting {
    fn confirm_script(&mut self, _: &Script, hash: &Fingerprint) -> Option<Vec<String>> {
        self.shown = Some(*hash);
        None
    }
    fn confirm_step(&mut self, n: usize, _: &Step, _: &[String]) -> Result<Vec<String>, String> {
        panic!("step {n} was offered after the script's hash was rejected")
    }
    fn step_done(&mut self, n: usize, _: &Step, _: &StepOutcome) {
        panic!("step {n} ran after the script's hash was rejected")
    }
    fn notice(&mut self, _: &str) {}
}

#[test]
fn rejected_script_hash_starts_nothing() {
    let f = Files::new(SCRIPT, softhsm_module());
    let mut ceremony = Ceremony::open(&f.script, &f.profile)
        .unwrap_or_else(|e| panic!("a good script and profile were refused: {e}"));
    assert!(!ceremony.is_resumed());
    let expected = Fingerprint::of(SCRIPT.as_bytes());
    assert_eq!(ceremony.script_hash, expected);

    let mut confirmer = Rejecting { shown: None };
    let result = ceremony.run(&mut confirmer);
    assert!(
        matches!(result, Err(CeremonyError::HashRejected)),
        "{:?}",
        result.err()
    );
    assert_eq!(confirmer.shown, Some(expected));
    assert!(
        !f.transcript().exists(),
        "a rejected ceremony wrote a transcript"
    );
}

/// A USB stick stand-in: an ext4 image with `label` on a loop device, detached (and unmounted
/// from wherever the test mounted it) when dropped.
struct Stick {
    device: String,
    mounted: Option<PathBuf>,
}

impl Stick {
    fn new(dir: &Path, name: &str, label: &str) -> Stick {
        let image = dir.join(name);
        fs::File::create(&image).unwrap().set_len(16 << 20).unwrap();
        run_ok(
            Command::new("mkfs.ext4")
                .args(["-q", "-L", label])
                .arg(&image),
        );
        let device = run_ok(Command::new("losetup").args(["-f", "--show"]).arg(&image))
            .trim()
            .to_owned();
        Stick {
            device,
            mounted: None,
        }
    }

    /// Mounts it read-only at `at`, as the site that receives it would.
    fn mount(&mut self, at: &Path) {
        fs::create_dir_all(at).unwrap();
        run_ok(
            Command::new("mount")
                .args(["-o", "ro", &self.device])
                .arg(at),
        );
        self.mounted = Some(at.to_owned());
    }
}

impl Drop for Stick {
    fn drop(&mut self) {
        if let Some(at) = &self.mounted {
            let _ = Command::new("umount").arg(at).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
    }
}

#[test]
fn a_rehearsal_writes_its_records_to_the_output_stick_and_unmounts_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A label no other medium on the machine carries (ext4 labels hold 16 bytes).
    let label = format!("KR-{:08x}", std::process::id());
    let mut stick = Stick::new(tmp.path(), "stick.img", &label);
    let device = format!("LABEL={label}");
    let dir = tmp.path().join("r");
    let out = dir.join("out");
    let with_stick = |dir: &Path| {
        run(keyrite()
            .args(["rehearse", "--batch", "--out"])
            .arg(dir)
            .args(["--output-device", &device]))
    };

    // Two media with the ceremony's label: neither is chosen.
    let second = Stick::new(tmp.path(), "second.img", &label);
    let (ok, text) = with_stick(&dir);
    assert!(!ok && text.contains("more than one medium"), "{text}");
    assert!(!dir.join(TRANSCRIPT).exists());
    drop(second);

    let (ok, text) = with_stick(&dir);
    assert!(ok, "{text}");
    // Unmounted at the end: nothing of the ceremony is left on the machine's own disk.
    let (mounted, _) = run(Command::new("mountpoint").arg("-q").arg(&out));
    assert!(!mounted, "{} is still mounted", out.display());
    assert!(!dir.join(TRANSCRIPT).exists());
    // Run again without the stick, the rehearsal does not quietly write to the host's disk.
    let (ok, text) = rehearse(&dir);
    assert!(
        !ok && text.contains("resume it with the same --output-device"),
        "{text}"
    );
    assert!(!dir.join(TRANSCRIPT).exists());
    // On the stick, the transcript and its artefacts verify.
    let received = tmp.path().join("received");
    stick.mount(&received);
    let (ok, text) = run(keyrite()
        .args(["transcript", "verify"])
        .arg(received.join("transcript.jsonl"))
        .arg("--root-cert")
        .arg(received.join("02-root-create/root.crt"))
        .arg(received.join("02-root-create/root.fingerprint")));
    assert!(ok && text.contains("Transcript verified"), "{text}");
}

#[test]
fn a_resumed_root_creation_never_removes_a_key_that_was_not_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    // Killed after the root creation's begin entry, before it touched a token (as when the
    // power fails while an officer is at the PIN prompt).
    let left = kill_rehearsal_when(&dir, |l| {
        l.last()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
            .is_some_and(|e| e["kind"] == "begin" && e["action"] == "root-create")
    });
    let begin: Value = serde_json::from_str(left.last().unwrap()).unwrap();
    assert_eq!(begin["key_id"].as_str().map(str::len), Some(32), "{begin}");
    assert_eq!(token_objects(&dir), [0, 0]);
    // A key under the root's label that this attempt did not make: one the token already held.
    run_ok(
        Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", dir.join("softhsm/softhsm2.conf"))
            .args(["--module", "/usr/lib/softhsm/libsofthsm2.so"])
            .args(["--token-label", "rehearsal-root", "--login", "--pin"])
            .arg(
                fs::read_to_string(dir.join("softhsm/user.pin"))
                    .unwrap()
                    .trim(),
            )
            .args(["--keypairgen", "--key-type", "EC:secp384r1"])
            .args(["--label", "keyrite-root", "--id", "0102"]),
    );
    let held = token_objects(&dir);
    assert_eq!(held.iter().sum::<usize>(), 2, "{held:?}");

    let (ok, text) = rehearse(&dir);
    assert!(
        !ok,
        "the root creation ran over a key it did not make:\n{text}"
    );
    assert!(text.contains("label 'keyrite-root'"), "{text}");
    assert_eq!(
        token_objects(&dir),
        held,
        "the key the token held was touched"
    );
}

/// Every file under `dir` with its contents, the token state aside.
fn files_under(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut all = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                all.insert(p.clone(), fs::read(&p).unwrap());
            }
        }
    }
    all
}

/// Re-links a transcript's entries after an edit, as anyone can: each `prev` the SHA-256 of
/// the line before, each `seq` its position.
fn rechain(entries: &[Value]) -> String {
    let mut prev = String::new();
    let mut text = String::new();
    for (i, e) in entries.iter().enumerate() {
        let mut e = e.clone();
        e["seq"] = Value::from(i);
        e["prev"] = Value::String(prev);
        let line = serde_json::to_string(&e).unwrap();
        prev = hex::encode(keyrite::keys::sha256(line.as_bytes()));
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[test]
fn a_resumed_ceremony_believes_only_the_transcript_its_root_token_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    // Interrupted with the root made and certified, and later steps to run: in the pause after
    // a step's begin entry, once the token has recorded that entry as the head (a kill between
    // writing a line and recording it leaves the line pending, and a resume may then go either
    // way, as if the line had never been written).
    let seen = std::cell::Cell::new(None::<(usize, Instant)>);
    let left = kill_rehearsal_when(&dir, |l| {
        let ready = l.len() >= 9
            && l.iter()
                .any(|e| e.contains(r#""kind":"step""#) && e.contains(r#""action":"root-create""#))
            && l.last().is_some_and(|e| e.contains(r#""kind":"begin""#));
        match seen.get() {
            Some((n, at)) if ready && n == l.len() => at.elapsed() >= Duration::from_millis(40),
            _ => {
                seen.set(ready.then(|| (l.len(), Instant::now())));
                false
            }
        }
    });
    let transcript = dir.join(TRANSCRIPT);
    let honest = fs::read(&transcript).unwrap();
    let honest_entries = entries(&transcript);
    let out_before = files_under(&dir.join("out"));
    let keys_before = token_objects(&dir);
    assert_eq!(keys_before, [2, 2], "the root key on both tokens");
    let root_key_id = honest_entries
        .iter()
        .find(|e| e["kind"] == "begin" && e["action"] == "root-create")
        .and_then(|e| e["key_id"].as_str())
        .unwrap()
        .to_owned();

    let refused = |what: &str, planted: String, expected: &str| {
        fs::write(&transcript, &planted).unwrap();
        let (ok, text) = rehearse(&dir);
        assert!(!ok, "{what}: the ceremony resumed from it:\n{text}");
        assert!(
            text.contains("is not the transcript this ceremony wrote") && text.contains(expected),
            "{what}: expected '{expected}' in:\n{text}"
        );
        assert!(
            !dir.join("out/transcript.jsonl.p7s").exists(),
            "{what}: signed"
        );
        assert_eq!(
            token_objects(&dir),
            keys_before,
            "{what}: token keys changed"
        );
        assert_eq!(
            fs::read(&transcript).unwrap(),
            planted.as_bytes(),
            "{what}: rewritten"
        );
        let mut out_after = files_under(&dir.join("out"));
        out_after.insert(transcript.clone(), honest.clone());
        assert!(out_after == out_before, "{what}: the output medium changed");
        fs::write(&transcript, &honest).unwrap();
    };

    // A step's confirmations changed, the chain recomputed.
    let mut edited = honest_entries.clone();
    let step = edited.iter_mut().find(|e| e["kind"] == "step").unwrap();
    step["confirmed_by"] = serde_json::json!(["administrator"]);
    refused(
        "confirmed_by changed",
        rechain(&edited),
        "an entry was changed",
    );
    // The last entry dropped.
    refused(
        "an entry dropped",
        rechain(&honest_entries[..honest_entries.len() - 1]),
        "1 entries are missing or were replaced",
    );
    // A made-up delegate step whose output is a certificate the root never signed.
    let mut lengthened = honest_entries.clone();
    lengthened.push(serde_json::json!({
        "seq": 0, "time": "2026-12-07T00:00:00Z", "prev": "", "kind": "step", "step": 7,
        "title": "Issue the delegate", "action": "delegate-issue",
        "confirmed_by": ["administrator", "witness"], "inputs": [],
        "outputs": [{"role": "delegate-cert", "path": "07-delegate-issue/evil.crt",
                     "sha256": "00".repeat(32)}],
        "summary": "issued"
    }));
    refused(
        "a step added",
        rechain(&lengthened),
        &format!(
            "entries {} to {} were added outside the ceremony",
            left.len(),
            left.len()
        ),
    );
    // Planted: this ceremony's start and a root creation's begin with the real root's key
    // id, as copied from a published transcript. Resumed, it would remove that root's key.
    let planted = [
        honest_entries[0].clone(),
        serde_json::json!({
            "seq": 1, "time": "2026-12-07T00:00:00Z", "prev": "", "kind": "begin", "step": 2,
            "action": "root-create", "key_id": root_key_id
        }),
    ];
    refused(
        "a planted begin",
        rechain(&planted),
        "entries are missing or were replaced",
    );
    // A transcript of a ceremony the token never recorded.
    let mut other = planted.clone();
    other[0]["ceremony_id"] = Value::String("00".repeat(16));
    fs::write(&transcript, rechain(&other)).unwrap();
    let (ok, text) = rehearse(&dir);
    assert!(!ok && text.contains("has no record of"), "{text}");
    assert_eq!(token_objects(&dir), keys_before);
    fs::write(&transcript, &honest).unwrap();

    // The transcript the token recorded resumes, and the whole rehearsal verifies.
    let (ok, text) = rehearse(&dir);
    assert!(ok, "the honest transcript did not resume:\n{text}");
    assert!(text.contains("the root token recorded"), "{text}");
    assert_verifies(&dir);
    assert_each_step_once(&dir);
}

#[test]
fn a_ceremony_is_never_restarted_replayed_or_left_unsigned_by_what_the_medium_says() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    let transcript = dir.join(TRANSCRIPT);
    let left = kill_rehearsal_when(&dir, |l| l.len() >= 9);
    let honest = fs::read(&transcript).unwrap();
    let keys = token_objects(&dir);

    // The transcript removed from the medium: a fresh start would forget the steps done.
    fs::remove_file(&transcript).unwrap();
    let (ok, text) = rehearse(&dir);
    assert!(
        !ok,
        "a new ceremony started over an unfinished one:\n{text}"
    );
    assert!(text.contains("has another ceremony under way"), "{text}");
    assert!(!transcript.exists(), "a transcript was started");
    assert_eq!(token_objects(&dir), keys);
    fs::write(&transcript, &honest).unwrap();

    // A signature planted beside the transcript does not stand for the root's.
    let signature = dir.join("out/transcript.jsonl.p7s");
    fs::write(&signature, b"not a signature").unwrap();
    let (ok, text) = rehearse(&dir);
    assert!(!ok, "the ceremony ended on a planted signature:\n{text}");
    assert!(
        text.contains("is there but is not the root's signature of this transcript"),
        "{text}"
    );
    assert!(!dir.join("out/summary.md").exists());
    fs::remove_file(&signature).unwrap();
    let (ok, text) = rehearse(&dir);
    assert!(ok, "{text}");
    assert_verifies(&dir);
    assert!(entries(&transcript).len() > left.len());

    // Finished, the ceremony is forgotten by the token: its transcript, signature and outputs
    // brought back (as for a routine ceremony run with the same script) are not "resumed".
    fs::remove_file(dir.join("out/summary.md")).unwrap();
    let (ok, text) = rehearse(&dir);
    assert!(!ok, "a finished ceremony was taken up again:\n{text}");
    assert!(text.contains("is a finished ceremony"), "{text}");
    assert!(!dir.join("out/summary.md").exists());
}

#[test]
fn officers_may_abandon_an_interrupted_ceremony_and_start_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    kill_rehearsal_when(&dir, |l| l.len() >= 4);
    fs::remove_file(dir.join(TRANSCRIPT)).unwrap();
    let abandon = || {
        run(keyrite()
            .env("SOFTHSM2_CONF", dir.join("softhsm/softhsm2.conf"))
            .env("KEYRITE_REHEARSAL", "1")
            .args(["transcript", "abandon", "--profile"])
            .arg(dir.join("profile.toml")))
    };
    let (ok, text) = abandon();
    assert!(
        ok && text.contains("Abandoned ceremony 'lifecycle'"),
        "{text}"
    );
    assert!(text.contains("its transcript at"), "{text}");
    let (ok, text) = abandon();
    assert!(ok && text.contains("nothing to abandon"), "{text}");
    // The interrupted attempt's step directories are still on the medium: a new ceremony
    // refuses to write over them, so the officers clear the medium first.
    fs::remove_dir_all(dir.join("out")).unwrap();
    let (ok, text) = rehearse(&dir);
    assert!(ok, "{text}");
    assert_verifies(&dir);
}
