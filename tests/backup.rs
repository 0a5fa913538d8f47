//! The Shamir backup of the root on SoftHSM2 tokens: `keyrite root create --mode backed-up`
//! puts one key on several tokens and writes share cards that zbarimg decodes; `root recover`
//! brings the key back from any T of the cards, in any of their forms, into a fresh token; and
//! every bad share is refused by name, with nothing imported and no file written.
//!
//! A keyrite process sees one `SOFTHSM2_CONF`, so a test that needs several tokens initialises
//! them all in one fixture's token directory ([`ExtraToken`]). Keys are checked independently
//! of keyrite: pkcs11-tool signs a SHA-384 digest on the token (SoftHSM has no combined
//! ECDSA-SHA384, so the host hashes) and openssl verifies it with the root certificate's key.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use age::secrecy::ExposeSecret;
use common::*;
use keyrite::shares::card::read_share_text;
use keyrite::shares::record::ShareRecord;
use keyrite::shares::text::{Payload, parse, qr_line, typed_lines};

const SUBJECT: &str = "C=US,ST=WA,O=Example Corp,CN=Example Root CA";
const NAMES: [&str; 5] = ["Alice", "Bob", "Carol", "Dave", "Erin"];
const PASSPHRASE: &str = "correct horse battery staple";
/// The environment in which keyrite takes a passphrase from `KEYRITE_PASSPHRASE`.
const REHEARSAL: [(&str, &str); 2] = [
    ("KEYRITE_REHEARSAL", "1"),
    ("KEYRITE_PASSPHRASE", PASSPHRASE),
];

/// A further token initialised in an existing SoftHSM fixture's token directory.
struct ExtraToken {
    conf: PathBuf,
    dir: PathBuf,
    label: String,
}

impl ExtraToken {
    fn init(hsm: &SoftHsm, label: &str) -> ExtraToken {
        run_ok(
            Command::new("softhsm2-util")
                .env("SOFTHSM2_CONF", hsm.conf())
                .args(["--init-token", "--free", "--label", label])
                .args(["--so-pin", SO_PIN, "--pin", USER_PIN]),
        );
        ExtraToken {
            conf: hsm.conf(),
            dir: hsm.dir().to_owned(),
            label: label.to_owned(),
        }
    }
}

impl Token for ExtraToken {
    fn module(&self) -> PathBuf {
        PathBuf::from(SOFTHSM_MODULE)
    }
    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![("SOFTHSM2_CONF", self.conf.display().to_string())]
    }
    fn label(&self) -> &str {
        &self.label
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Runs `keyrite root create --mode backed-up` into `out` on `tokens`.
fn create_backup(
    hsm: &SoftHsm,
    tokens: &[String],
    out: &Path,
    shares: &str,
    custodians: &[String],
    envs: &[(&str, &str)],
) -> (bool, String) {
    let mut cmd = hsm.command();
    cmd.args(["root", "create", "--mode", "backed-up", "--shares", shares])
        .args(["--subject", SUBJECT, "--validity", "20y", "--out"])
        .arg(out)
        .envs(envs.iter().copied());
    for t in tokens {
        cmd.arg("--token").arg(t);
    }
    for c in custodians {
        cmd.arg("--custodian").arg(c);
    }
    run(&mut cmd)
}

/// A 3-of-5 backup's output directory.
struct Backup {
    out: PathBuf,
}

impl Backup {
    /// Card `index` (1-based) as `ext` ("png" or "svg").
    fn card(&self, index: usize, ext: &str) -> PathBuf {
        self.out.join(format!(
            "share-{index}-of-5-{}.{ext}",
            NAMES[index - 1].to_lowercase()
        ))
    }

    fn cert(&self) -> PathBuf {
        self.out.join("root.crt")
    }
}

/// Makes a 3-of-5 backup on `tokens` into `out` with custodians `NAMES`, the ones in
/// `seals` (index, recipient) sealed; panics unless it succeeds.
fn backup(hsm: &SoftHsm, tokens: &[String], out: &Path, seals: &[(usize, &str)]) -> Backup {
    let custodians: Vec<String> = NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| match seals.iter().find(|(k, _)| *k == i + 1) {
            Some((_, to)) => format!("{n}={to}"),
            None => (*n).to_owned(),
        })
        .collect();
    let envs: &[(&str, &str)] = if seals.is_empty() { &[] } else { &REHEARSAL };
    let (ok, text) = create_backup(hsm, tokens, out, "3-of-5", &custodians, envs);
    assert!(ok, "backed-up root creation failed:\n{text}");
    Backup {
        out: out.to_owned(),
    }
}

/// Runs `keyrite root recover --root-cert CERT ARGS… SHARES…` with `token`'s environment.
fn recover(
    token: &impl Token,
    cert: &Path,
    args: &[&str],
    shares: &[PathBuf],
    envs: &[(&str, &str)],
) -> (bool, String) {
    run(token
        .command()
        .args(["root", "recover", "--root-cert"])
        .arg(cert)
        .args(args)
        .args(shares)
        .envs(envs.iter().copied()))
}

/// Runs `keyrite shares verify --root-cert CERT SHARES…`.
fn verify(token: &impl Token, cert: &Path, shares: &[PathBuf]) -> (bool, String) {
    run(token
        .command()
        .args(["shares", "verify", "--root-cert"])
        .arg(cert)
        .args(shares))
}

/// IDs (hex) of the private keys labelled `label` in `pkcs11-tool --list-objects` output.
fn private_key_ids(objects: &str, label: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let (mut private, mut labelled) = (false, false);
    for line in objects.lines() {
        if !line.starts_with(' ') {
            private = line.starts_with("Private Key Object");
            labelled = false;
            continue;
        }
        let line = line.trim();
        if let Some(l) = line.strip_prefix("label:") {
            labelled = l.trim() == label;
        } else if let Some(id) = line.strip_prefix("ID:")
            && private
            && labelled
        {
            ids.push(id.trim().to_owned());
        }
    }
    ids
}

/// Signs a SHA-384 digest with the `keyrite-root` private key on `token` through pkcs11-tool
/// (not keyrite) and checks with openssl that the signature verifies under the public key of
/// `cert`, and fails for another digest. Scratch files go to the fresh directory `work`.
fn assert_signs_for_root(token: &impl Token, cert: &Path, work: &Path) {
    fs::create_dir_all(work).unwrap();
    let objects = pkcs11_tool_list_objects(token);
    let ids = private_key_ids(&objects, "keyrite-root");
    assert_eq!(
        ids.len(),
        1,
        "token {} holds one private key keyrite-root:\n{objects}",
        token.label()
    );
    let message = work.join("message.txt");
    fs::write(&message, format!("signed on token {}", token.label())).unwrap();
    let digest = work.join("digest.bin");
    run_ok(
        Command::new("openssl")
            .args(["dgst", "-sha384", "-binary", "-out"])
            .arg(&digest)
            .arg(&message),
    );
    assert_eq!(fs::metadata(&digest).unwrap().len(), 48);
    let sig = work.join("sig.der");
    run_ok(
        token
            .pkcs11_tool()
            .args([
                "--login",
                "--pin",
                token.pin(),
                "--sign",
                "--mechanism",
                "ECDSA",
            ])
            .args([
                "--signature-format",
                "openssl",
                "--id",
                ids[0].as_str(),
                "-i",
            ])
            .arg(&digest)
            .arg("-o")
            .arg(&sig),
    );
    let public = work.join("root-public.pem");
    run_ok(
        Command::new("openssl")
            .args(["x509", "-pubkey", "-noout", "-in"])
            .arg(cert)
            .arg("-out")
            .arg(&public),
    );
    let pkeyutl_verify = |digest: &Path| {
        run(Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(&public)
            .arg("-in")
            .arg(digest)
            .arg("-sigfile")
            .arg(&sig))
    };
    let (ok, text) = pkeyutl_verify(&digest);
    assert!(
        ok && text.contains("Signature Verified Successfully"),
        "the signature by token {} does not verify with {}:\n{text}",
        token.label(),
        cert.display()
    );
    // The check is real: the same signature does not verify another digest.
    let mut other = fs::read(&digest).unwrap();
    other[0] ^= 1;
    let other_digest = work.join("other-digest.bin");
    fs::write(&other_digest, other).unwrap();
    let (ok, text) = pkeyutl_verify(&other_digest);
    assert!(
        !ok && !text.contains("Signature Verified Successfully"),
        "{text}"
    );
}

/// The text zbarimg decodes from `png`'s QR code (stdout only).
fn zbarimg(png: &Path) -> String {
    let out = Command::new("zbarimg")
        .args(["--nodbus", "--quiet", "--raw"])
        .arg(png)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run zbarimg (scripts/test installs zbar-tools)");
    assert!(
        out.status.success(),
        "zbarimg cannot decode {}: {}",
        png.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The record a plain card or text file carries, read through the library.
fn plain_record(path: &Path) -> ShareRecord {
    let text = read_share_text(path).unwrap();
    match parse(&text, "card").unwrap() {
        Payload::Plain(der) => ShareRecord::from_der(&der).unwrap(),
        Payload::Sealed(_) => panic!("{} is sealed", path.display()),
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` except token storage and the fixture's PIN file, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_owned();
            if path.is_dir() {
                if name != "tokens" {
                    dirs.push(path);
                }
            } else if name != "user.pin" {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_3_of_5_backup_lands_on_two_tokens_and_every_card_decodes() {
    let hsm = SoftHsm::new("primary");
    let second = ExtraToken::init(&hsm, "backup");
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let identity_file = hsm.dir().join("dave.age");
    fs::write(
        &identity_file,
        format!("{}\n", identity.to_string().expose_secret()),
    )
    .unwrap();

    let out = hsm.dir().join("out");
    let custodians: Vec<String> = vec![
        "Alice".into(),
        "Bob".into(),
        "Carol".into(),
        format!("Dave={recipient}"),
        "Erin=passphrase".into(),
    ];
    let (ok, text) = create_backup(
        &hsm,
        &[hsm.pin_uri(), second.pin_uri()],
        &out,
        "3-of-5",
        &custodians,
        &REHEARSAL,
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("key:          pkcs11:token=primary;"),
        "{text}"
    );
    assert!(
        text.contains("key:          pkcs11:token=backup;"),
        "{text}"
    );
    let b = Backup { out: out.clone() };

    let pem = b.cert();
    let (ok, text) = openssl_verify_self_signed(&pem);
    assert!(ok, "openssl verify refused the root:\n{text}");
    let (ok, text) = pkilint_cert(&pem);
    assert!(ok, "pkilint found problems:\n{text}");

    // Both tokens hold the key and sign with it, without keyrite.
    assert_signs_for_root(&hsm, &pem, &hsm.dir().join("sig-primary"));
    assert_signs_for_root(&second, &pem, &hsm.dir().join("sig-backup"));

    // Exactly the certificate, its fingerprint and ten card files; cards for their owner only.
    let mut expected = vec!["root.crt".to_owned(), "root.fingerprint".to_owned()];
    for i in 1..=5 {
        for ext in ["png", "svg"] {
            expected.push(b.card(i, ext).file_name().unwrap().to_string_lossy().into());
        }
    }
    expected.sort();
    assert_eq!(file_names(&out), expected);
    assert_eq!(mode(&pem), 0o644);
    for i in 1..=5 {
        for ext in ["png", "svg"] {
            assert_eq!(mode(&b.card(i, ext)), 0o600, "{}", b.card(i, ext).display());
        }
    }

    for i in 1..=5 {
        let (png, svg) = (b.card(i, "png"), b.card(i, "svg"));
        let scanned = zbarimg(&png);
        let from_png = read_share_text(&png).unwrap();
        let from_svg = read_share_text(&svg).unwrap();
        assert_eq!(scanned.trim(), from_png.trim(), "card {i}: QR vs PNG text");
        assert_eq!(scanned.trim(), from_svg.trim(), "card {i}: QR vs SVG text");
        let face = fs::read_to_string(&svg).unwrap();
        assert!(
            face.contains(&format!("Custodian: {}", NAMES[i - 1])),
            "{face}"
        );
        assert!(face.contains(&format!("Share {i} of 5")), "{face}");
        // The scanned text is the record: plain cards in clear, sealed ones age-encrypted.
        let der = match parse(scanned.trim(), "scan").unwrap() {
            Payload::Plain(der) => {
                assert!(i <= 3, "card {i} should be sealed");
                assert!(face.contains("NOT ENCRYPTED"), "{face}");
                der.to_vec()
            }
            Payload::Sealed(ct) => {
                assert!(i >= 4, "card {i} should be plain");
                assert!(!face.contains("NOT ENCRYPTED"), "{face}");
                if i == 4 {
                    assert!(face.contains(&recipient), "{face}");
                    age::decrypt(&identity, &ct).expect("Dave's identity opens his card")
                } else {
                    assert!(face.contains("passphrase"), "{face}");
                    continue;
                }
            }
        };
        let record = ShareRecord::from_der(&der).unwrap();
        assert_eq!(usize::from(record.body.index), i);
        assert_eq!(record.body.custodian, NAMES[i - 1]);
        assert_eq!((record.body.threshold, record.body.count), (3, 5));
    }

    // The sealed cards open: Carol's plain card, Dave's with his identity, Erin's with her
    // passphrase recover the key (without importing it).
    let (ok, text) = recover(
        &hsm,
        &pem,
        &[
            "--verify-only",
            "--identity",
            identity_file.to_str().unwrap(),
        ],
        &[b.card(3, "png"), b.card(4, "svg"), b.card(5, "png")],
        &REHEARSAL,
    );
    assert!(ok, "{text}");
    assert!(text.contains("Nothing was imported"), "{text}");
}

#[test]
fn every_3_subset_recovers_the_same_key_into_a_fresh_token() {
    let hsm = SoftHsm::new("primary");
    let b = backup(&hsm, &[hsm.pin_uri()], &hsm.dir().join("out"), &[]);
    let pem = b.cert();

    // Each card in four forms: PNG, SVG, the QR as zbarimg decodes it, and the typed lines.
    let forms_dir = hsm.dir().join("forms");
    fs::create_dir(&forms_dir).unwrap();
    let forms: Vec<[PathBuf; 4]> = (1..=5)
        .map(|i| {
            let scanned = zbarimg(&b.card(i, "png"));
            let qr_txt = forms_dir.join(format!("share-{i}-qr.txt"));
            fs::write(&qr_txt, &scanned).unwrap();
            let typed_txt = forms_dir.join(format!("share-{i}-typed.txt"));
            fs::write(&typed_txt, typed_lines(scanned.trim()).join("\n")).unwrap();
            [b.card(i, "png"), b.card(i, "svg"), qr_txt, typed_txt]
        })
        .collect();

    let mut subsets = Vec::new();
    for a in 1..=5 {
        for c in a + 1..=5 {
            for d in c + 1..=5 {
                subsets.push([a, c, d]);
            }
        }
    }
    assert_eq!(subsets.len(), 10);
    for (n, subset) in subsets.iter().enumerate() {
        let fresh = ExtraToken::init(&hsm, &format!("recovered-{n}"));
        let shares: Vec<PathBuf> = subset
            .iter()
            .enumerate()
            .map(|(pos, i)| forms[i - 1][(n + pos) % 4].clone())
            .collect();
        let (ok, text) = recover(&fresh, &pem, &["--token", &fresh.pin_uri()], &shares, &[]);
        assert!(ok, "subset {subset:?} from {shares:?}:\n{text}");
        assert!(
            text.contains(&format!("imported as pkcs11:token=recovered-{n};")),
            "{text}"
        );
        assert_signs_for_root(&fresh, &pem, &hsm.dir().join(format!("sig-{n}")));
    }
}

#[test]
fn verify_only_recovers_nothing_into_any_token() {
    let hsm = SoftHsm::new("primary");
    let b = backup(&hsm, &[hsm.pin_uri()], &hsm.dir().join("out"), &[]);
    let fresh = ExtraToken::init(&hsm, "untouched");
    let before = (count_objects(&hsm), count_objects(&fresh));
    let files = files_under(hsm.dir());
    let shares = [b.card(1, "png"), b.card(3, "svg"), b.card(5, "png")];

    let (ok, text) = recover(&hsm, &b.cert(), &["--verify-only"], &shares, &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("matches the root certificate. Nothing was imported"),
        "{text}"
    );
    // A --token given beside --verify-only is not imported into either.
    let (ok, text) = recover(
        &fresh,
        &b.cert(),
        &["--verify-only", "--token", &fresh.pin_uri()],
        &shares,
        &[],
    );
    assert!(ok, "{text}");
    assert!(text.contains("Nothing was imported"), "{text}");

    assert_eq!((count_objects(&hsm), count_objects(&fresh)), before);
    assert_eq!(before.1, 0);
    assert_eq!(files_under(hsm.dir()), files);
}

/// A backup on its own token, a fresh token to recover into, and a directory for crafted
/// share files.
struct Scene {
    hsm: SoftHsm,
    target: ExtraToken,
    b: Backup,
    work: PathBuf,
}

fn scene(seals: &[(usize, &str)]) -> Scene {
    let hsm = SoftHsm::new("primary");
    let b = backup(&hsm, &[hsm.pin_uri()], &hsm.dir().join("out"), seals);
    let target = ExtraToken::init(&hsm, "recovery");
    let work = hsm.dir().join("work");
    fs::create_dir(&work).unwrap();
    Scene {
        hsm,
        target,
        b,
        work,
    }
}

impl Scene {
    /// Asserts that recovering `shares` into the recovery token fails with every `expected`
    /// text in the error, and that no token object and no file were created.
    fn assert_recovery_refused(
        &self,
        shares: &[PathBuf],
        envs: &[(&str, &str)],
        expected: &[&str],
    ) -> String {
        let objects = (count_objects(&self.hsm), count_objects(&self.target));
        let files = files_under(self.hsm.dir());
        let (ok, text) = recover(
            &self.target,
            &self.b.cert(),
            &["--token", &self.target.pin_uri()],
            shares,
            envs,
        );
        assert!(!ok, "recovery from {shares:?} succeeded:\n{text}");
        assert!(text.contains("keyrite: error:"), "{text}");
        for e in expected {
            assert!(text.contains(e), "expected {e:?} in:\n{text}");
        }
        assert_eq!(
            (count_objects(&self.hsm), count_objects(&self.target)),
            objects,
            "token objects after {shares:?}"
        );
        assert_eq!(files_under(self.hsm.dir()), files, "files after {shares:?}");
        text
    }
}

/// The `BAD` line `shares verify` printed for `path`, asserting there is one.
fn bad_line<'a>(report: &'a str, path: &Path) -> &'a str {
    let name = path.display().to_string();
    report
        .lines()
        .find(|l| l.starts_with("BAD") && l.contains(&name))
        .unwrap_or_else(|| panic!("no BAD line for {name} in:\n{report}"))
}

#[test]
fn a_share_tampered_in_any_field_is_named_and_nothing_is_imported() {
    let s = scene(&[]);
    let good = plain_record(&s.b.card(1, "png"));
    let flip_last = |v: &mut [u8]| {
        let last = v.len() - 1;
        v[last] ^= 1;
    };
    let authenticator = "its authenticator does not verify under the root key";
    let mut cases: Vec<(&str, ShareRecord, &str)> = Vec::new();
    let mut r = good.clone();
    r.body.set_id[0] ^= 1;
    cases.push(("set_id", r, authenticator));
    let mut r = good.clone();
    r.body.root_key[0] ^= 1;
    cases.push(("root_key", r, "it belongs to another root key"));
    let mut r = good.clone();
    r.body.threshold = 2;
    cases.push(("threshold", r, authenticator));
    let mut r = good.clone();
    r.body.count = 6;
    cases.push(("count", r, authenticator));
    let mut r = good.clone();
    r.body.index = 2;
    cases.push(("index", r, authenticator));
    let mut r = good.clone();
    r.body.custodian = "Mallory".into();
    cases.push(("custodian", r, authenticator));
    let mut r = good.clone();
    r.body.created = der::asn1::GeneralizedTime::from_unix_duration(
        good.body.created.to_unix_duration() + Duration::from_secs(1),
    )
    .unwrap();
    cases.push(("created", r, authenticator));
    let mut r = good.clone();
    flip_last(&mut r.body.share);
    cases.push(("share", r, authenticator));
    let mut r = good.clone();
    flip_last(&mut r.authenticator);
    cases.push(("authenticator", r, authenticator));

    for (field, record, why) in cases {
        assert_ne!(record, good, "{field}");
        let path = s.work.join(format!("tampered-{field}.txt"));
        let der = record.to_der().unwrap();
        fs::write(&path, qr_line(&Payload::Plain(der.to_vec().into()))).unwrap();
        let name = path.display().to_string();
        s.assert_recovery_refused(
            &[path.clone(), s.b.card(2, "png"), s.b.card(3, "svg")],
            &[],
            &[&name, why],
        );
        let (ok, report) = verify(&s.hsm, &s.b.cert(), std::slice::from_ref(&path));
        assert!(!ok, "shares verify passed a tampered {field}:\n{report}");
        assert!(bad_line(&report, &path).contains(why), "{field}:\n{report}");
    }
}

#[test]
fn a_duplicated_share_is_dropped_and_does_not_count_toward_the_threshold() {
    let s = scene(&[]);
    let shares = [s.b.card(1, "png"), s.b.card(2, "png"), s.b.card(2, "svg")];
    let dropped = format!(
        "{}: share 2 of 5, custodian Bob (a duplicate of an index already presented; dropped)",
        s.b.card(2, "svg").display()
    );
    s.assert_recovery_refused(
        &shares,
        &[],
        &[
            "only 2 distinct share(s)",
            "(1, 2)",
            "3 are needed",
            &dropped,
        ],
    );
    let (_, report) = verify(&s.hsm, &s.b.cert(), &shares);
    let dup = s.b.card(2, "svg").display().to_string();
    let line = report
        .lines()
        .find(|l| l.contains(&dup))
        .unwrap_or_else(|| panic!("{dup} is not reported:\n{report}"));
    assert!(
        line.contains("duplicate") && line.contains("dropped"),
        "{report}"
    );
    assert!(report.contains("shares 1, 2 of 5 presented"), "{report}");
    assert!(report.contains("the threshold is NOT reached"), "{report}");
}

#[test]
fn t_minus_one_shares_do_not_recover() {
    let s = scene(&[]);
    let shares = [s.b.card(1, "png"), s.b.card(4, "svg")];
    s.assert_recovery_refused(
        &shares,
        &[],
        &["only 2 distinct share(s)", "(1, 4)", "3 are needed"],
    );
    let (_, report) = verify(&s.hsm, &s.b.cert(), &shares);
    assert!(report.contains("the threshold is NOT reached"), "{report}");
    // Not even with --verify-only.
    let (ok, text) = recover(&s.hsm, &s.b.cert(), &["--verify-only"], &shares, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("only 2 distinct share(s)"), "{text}");
}

#[test]
fn a_share_for_another_root_is_refused() {
    let s = scene(&[]);
    let other = ExtraToken::init(&s.hsm, "other-root");
    let other_b = backup(&s.hsm, &[other.pin_uri()], &s.hsm.dir().join("out-b"), &[]);
    let foreign = other_b.card(3, "png");
    let text = s.assert_recovery_refused(
        &[s.b.card(1, "png"), s.b.card(2, "png"), foreign.clone()],
        &[],
        &[
            &foreign.display().to_string(),
            "belongs to another root key",
        ],
    );
    // Only the foreign card is named as bad; the good ones are reported OK.
    let good = s.b.card(1, "png").display().to_string();
    assert!(text.contains(&format!("OK    {good}")), "{text}");
    assert!(!text.contains(&format!("BAD   {good}")), "{text}");
    let (ok, report) = verify(&s.hsm, &s.b.cert(), &[s.b.card(1, "png"), foreign.clone()]);
    assert!(!ok, "{report}");
    assert!(
        bad_line(&report, &foreign).contains("belongs to another root key"),
        "{report}"
    );
}

#[test]
fn a_typo_in_the_typed_text_is_caught_by_the_check() {
    let s = scene(&[]);
    let qr = read_share_text(&s.b.card(1, "png")).unwrap();
    let mut lines = typed_lines(qr.trim());
    // "02/17  ABCD EFGH …  CHCK": change the first character after the line number.
    let mut chars: Vec<char> = lines[1].chars().collect();
    chars[7] = if chars[7] == 'A' { 'B' } else { 'A' };
    lines[1] = chars.into_iter().collect();
    let path = s.work.join("alice-typed.txt");
    fs::write(&path, lines.join("\n")).unwrap();
    s.assert_recovery_refused(
        &[path.clone(), s.b.card(2, "png"), s.b.card(3, "png")],
        &[],
        &[&path.display().to_string(), "check does not match"],
    );
    // The error names the line, never its characters.
    let (_, text) = run(s
        .hsm
        .command()
        .args(["shares", "verify", "--root-cert"])
        .arg(s.b.cert())
        .arg(&path));
    assert!(
        !text.contains(&lines[1][7..20]),
        "the share was quoted:\n{text}"
    );
    let (ok, report) = verify(&s.hsm, &s.b.cert(), std::slice::from_ref(&path));
    assert!(!ok, "{report}");
    assert!(
        bad_line(&report, &path).contains("check does not match"),
        "{report}"
    );
}

#[test]
fn a_wrong_passphrase_is_refused_naming_the_card() {
    let s = scene(&[(3, "passphrase")]);
    let sealed = s.b.card(3, "png");
    s.assert_recovery_refused(
        &[s.b.card(1, "png"), s.b.card(2, "svg"), sealed.clone()],
        &[("KEYRITE_REHEARSAL", "1"), ("KEYRITE_PASSPHRASE", "wrong")],
        &[&sealed.display().to_string(), "wrong passphrase"],
    );
}

#[test]
fn a_file_that_is_not_a_card_is_refused() {
    let s = scene(&[]);
    let hello = s.work.join("hello.txt");
    fs::write(&hello, "hello\n").unwrap();
    s.assert_recovery_refused(
        &[s.b.card(1, "png"), s.b.card(2, "png"), hello.clone()],
        &[],
        &[&hello.display().to_string(), "is not a keyrite share"],
    );

    // An ordinary PNG: a grey gradient without keyrite's share text.
    let photo = s.work.join("photo.png");
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, 32, 32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    let pixels: Vec<u8> = (0..32 * 32).map(|i| (i % 256) as u8).collect();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    fs::write(&photo, bytes).unwrap();
    s.assert_recovery_refused(
        &[s.b.card(1, "png"), s.b.card(2, "png"), photo.clone()],
        &[],
        &[&photo.display().to_string(), "is not a keyrite share card"],
    );

    let (ok, report) = verify(&s.hsm, &s.b.cert(), &[hello.clone(), photo.clone()]);
    assert!(!ok, "{report}");
    bad_line(&report, &hello);
    bad_line(&report, &photo);
}

#[test]
fn t_or_n_out_of_range_is_refused_before_anything_is_made() {
    let hsm = SoftHsm::new("range");
    let custodians = |n: usize| -> Vec<String> { (1..=n).map(|i| format!("c{i}")).collect() };
    let cases = [
        ("1-of-3", 3, "bad --shares '1-of-3'"),
        ("4-of-3", 3, "bad --shares '4-of-3'"),
        ("2-of-17", 17, "bad --shares '2-of-17'"),
        ("3of5", 5, "bad --shares '3of5'"),
        (
            "3-of-5",
            4,
            "--shares 3-of-5 needs 5 --custodian, one per share; 4 given",
        ),
        (
            "3-of-5",
            6,
            "--shares 3-of-5 needs 5 --custodian, one per share; 6 given",
        ),
    ];
    for (n, (shares, count, expected)) in cases.into_iter().enumerate() {
        let out = hsm.dir().join(format!("out-{n}"));
        let (ok, text) = create_backup(
            &hsm,
            &[hsm.pin_uri()],
            &out,
            shares,
            &custodians(count),
            &[],
        );
        assert!(
            !ok,
            "--shares {shares} with {count} custodians succeeded:\n{text}"
        );
        assert!(text.contains("keyrite: error:"), "{text}");
        assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
        assert!(
            !out.exists() || file_names(&out).is_empty(),
            "files in {}",
            out.display()
        );
        assert_eq!(count_objects(&hsm), 0, "objects after --shares {shares}");
    }
}
