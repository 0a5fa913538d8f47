//! The bad-input corpus: every file under `tests/bad-inputs/<kind>/` is fed to the code that
//! reads that kind of input where a person hands it to keyrite, and must be refused with an
//! error that contains what the kind's `expected.toml` says, and that does not echo secret
//! material. The corpus cannot rot: every file must be in its manifest, every manifest entry
//! must exist, the valid starting points the inputs were made from must still be accepted, and
//! the README's counts must be the corpus's. `tests/bad-inputs/README.md` says how the inputs
//! were made and how to add one.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use data_encoding::BASE32_NOPAD;
use keyrite::bundle::make::{
    CrlSource, RevocationRequest, TrustRequest, make_revocation, make_trust,
};
use keyrite::bundle::{Bundle, Payload};
use keyrite::ca::delegate::{DelegateRequest, plan_delegate};
use keyrite::ceremony::script::{load_profile, load_script};
use keyrite::import::site::{Site, SiteOptions};
use keyrite::keys::PublicKey;
use keyrite::keys::seal::Openers;
use keyrite::keys::token::Pkcs11Uri;
use keyrite::pki::profile::DelegateKind;
use keyrite::pki::read_certificate;
use keyrite::shares::record::ShareRecord;
use keyrite::shares::{RootIdentity, read_presented};

/// The passphrase the corpus's passphrase-sealed share cards were sealed to (their shares are
/// random bytes, not a key's).
const CARD_PASSPHRASE: &str = "bad-inputs passphrase";

/// A CDP URL the CRL and policy inputs are declared with.
const CRL_URL: &str = "http://crl.example.internal/root.crl";

/// A PKCS#11 module path that does not exist: an input that passes every check reaches the
/// token and is stopped there, which the tests tell from a refusal.
const NO_MODULE: &str = "/nonexistent/keyrite-bad-inputs/pkcs11.so";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-inputs")
}

/// What every kind's reader is given besides the input: the corpus's root certificate, and
/// a scratch directory for outputs that are never written.
struct Context {
    root_cert: PathBuf,
    root_key: PublicKey,
    token: Pkcs11Uri,
    scratch: tempfile::TempDir,
}

impl Context {
    fn new() -> Self {
        let root_cert = corpus().join("context/root.crt");
        let root = read_certificate(&root_cert).expect("context/root.crt");
        let root_key = PublicKey::from_spki(root.tbs_certificate().subject_public_key_info())
            .expect("the context root's key");
        Self {
            root_cert,
            root_key,
            token: "pkcs11:token=bad-inputs;object=keyrite-root"
                .parse()
                .unwrap(),
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh directory inside the scratch directory.
    fn fresh_dir(&self) -> PathBuf {
        tempfile::tempdir_in(self.scratch.path()).unwrap().keep()
    }

    fn csr(&self, path: &Path) -> Result<(), String> {
        let dir = self.fresh_dir();
        plan_delegate(&DelegateRequest {
            token: &self.token,
            module: Some(Path::new(NO_MODULE)),
            root_cert: &self.root_cert,
            csr: path,
            kind: DelegateKind::Signing,
            validity: "1y".parse().unwrap(),
            crl_url: Some(CRL_URL),
            ledger: &dir.join("ledger"),
            out_dir: &dir,
            allow_shared_subject: false,
            allow_shared_key: false,
        })
        .map(drop)
        .map_err(|e| e.to_string())
    }

    fn share_text(&self, path: &Path) -> Result<(), String> {
        let identity = RootIdentity::of(&self.root_key).unwrap();
        let openers = Openers {
            identities: vec![age::x25519::Identity::generate()],
            passphrase: Some(CARD_PASSPHRASE.to_owned().into()),
        };
        read_presented(path, &openers, &identity).record.map(drop)
    }

    fn share_record(&self, path: &Path) -> Result<(), String> {
        let identity = RootIdentity::of(&self.root_key).unwrap();
        let record = ShareRecord::from_der(&fs::read(path).unwrap()).map_err(|e| e.to_string())?;
        record
            .verify(&self.root_key, &identity.key_sha256)
            .map_err(|e| e.to_string())
    }

    fn bundle(&self, path: &Path) -> Result<(), String> {
        Bundle::read(path).map(drop).map_err(|e| e.to_string())
    }

    fn payload(&self, path: &Path) -> Result<(), String> {
        Payload::from_json(&fs::read(path).unwrap())
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn crl(&self, path: &Path) -> Result<(), String> {
        let crls = [CrlSource {
            path: path.to_owned(),
            urls: vec![CRL_URL.into()],
        }];
        make_revocation(&RevocationRequest {
            token: &self.token,
            module: Some(Path::new(NO_MODULE)),
            root_cert: &self.root_cert,
            lineage: None,
            crls: &crls,
            crl_issuers: &[],
            third_party_crls: &[],
            version: 1,
            out: &self.fresh_dir().join("revocation.bundle"),
        })
        .map(drop)
        .map_err(|e| e.to_string())
    }

    fn script(&self, path: &Path) -> Result<(), String> {
        load_script(path).map(drop).map_err(|e| e.to_string())
    }

    fn profile(&self, path: &Path) -> Result<(), String> {
        load_profile(path).map(drop).map_err(|e| e.to_string())
    }

    fn policy(&self, path: &Path) -> Result<(), String> {
        make_trust(&TrustRequest {
            token: &self.token,
            module: Some(Path::new(NO_MODULE)),
            root_cert: &self.root_cert,
            lineage: None,
            add_roots: &[],
            cosign: &[],
            retire_signing_root: false,
            tsa_roots: &[],
            tsa_certs: &[],
            policy: Some(path),
            crl_urls: &[CRL_URL.into()],
            third_parties: &[],
            version: 1,
            expires: "1y".parse().unwrap(),
            out: &self.fresh_dir().join("trust.bundle"),
        })
        .map(drop)
        .map_err(|e| e.to_string())
    }

    fn site(&self, path: &Path) -> Result<(), String> {
        Site::resolve(&SiteOptions {
            config: Some(path.to_owned()),
            ..SiteOptions::default()
        })
        .map(drop)
        .map_err(|e| e.to_string())
    }
}

type Reader = fn(&Context, &Path) -> Result<(), String>;

const KINDS: [&str; 10] = [
    "csr",
    "share-text",
    "share-record",
    "bundle",
    "payload",
    "crl",
    "script",
    "profile",
    "policy",
    "site",
];

fn reader(kind: &str) -> Option<Reader> {
    Some(match kind {
        "csr" => Context::csr,
        "share-text" => Context::share_text,
        "share-record" => Context::share_record,
        "bundle" => Context::bundle,
        "payload" => Context::payload,
        "crl" => Context::crl,
        "script" => Context::script,
        "profile" => Context::profile,
        "policy" => Context::policy,
        "site" => Context::site,
        _ => return None,
    })
}

/// An input that got past every check and was stopped only at the token, which does not
/// exist: the reader accepted it.
fn reached_the_token(error: &str) -> bool {
    error.contains(NO_MODULE)
}

/// The kind's manifest: file name → what its error must contain.
fn manifest(kind: &str) -> BTreeMap<String, String> {
    let path = corpus().join(kind).join("expected.toml");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    table
        .into_iter()
        .map(|(name, v)| {
            let expected = v
                .as_str()
                .unwrap_or_else(|| panic!("{kind}/expected.toml: {name} is not a string"));
            assert!(
                !expected.is_empty(),
                "{kind}/expected.toml: {name} expects nothing"
            );
            (name, expected.to_owned())
        })
        .collect()
}

/// The kind's inputs, checked against its manifest both ways.
fn inputs(kind: &str) -> Vec<(PathBuf, String)> {
    let expected = manifest(kind);
    let dir = corpus().join(kind);
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "expected.toml")
        .collect();
    files.sort();
    let unlisted: Vec<&String> = files
        .iter()
        .filter(|f| !expected.contains_key(*f))
        .collect();
    assert!(
        unlisted.is_empty(),
        "{kind}: files not in expected.toml: {unlisted:?}"
    );
    let missing: Vec<&String> = expected.keys().filter(|n| !files.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "{kind}: expected.toml names missing files: {missing:?}"
    );
    expected
        .into_iter()
        .map(|(name, substring)| (dir.join(name), substring))
        .collect()
}

/// What of an input an error must never repeat: words marked `SECRET-…` in any input; for a
/// share, every eight characters of its base32 text and every eight bytes of its DER.
fn secrets(kind: &str, input: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(input);
    let mut out: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("SECRET-"))
        .map(str::to_owned)
        .collect();
    match kind {
        "share-text" => {
            let body = share_text_body(&text);
            let chars: Vec<char> = body.chars().collect();
            out.extend(chars.windows(8).map(|w| w.iter().collect()));
        }
        "share-record" => {
            out.extend(input.windows(8).map(hex::encode));
            out.extend(input.windows(8).map(|w| BASE32_NOPAD.encode(w)));
        }
        _ => {}
    }
    out
}

/// The base32 characters of a share's text in `text`: what follows `KRS1` or `KRE1` on a QR
/// line, and the groups of typed lines (`NN/TT  ABCD … ABCD  CHCK`).
fn share_text_body(text: &str) -> String {
    let base32 = |c: char| c.is_ascii_alphabetic() || ('2'..='7').contains(&c);
    let mut body = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [label, groups @ .., _check] = words.as_slice()
            && label.contains('/')
        {
            body.extend(groups.iter().flat_map(|g| g.chars()));
            continue;
        }
        let upper = line.to_ascii_uppercase();
        for prefix in ["KRS1", "KRE1"] {
            for (at, _) in upper.match_indices(prefix) {
                body.extend(upper[at + 4..].chars().take_while(|c| base32(*c)));
            }
        }
    }
    body.to_ascii_uppercase()
}

/// Feeds every input of `kind` to `read`; fails listing every input that was accepted, refused
/// for another reason than its manifest says, or whose error repeated a secret.
fn every_input_is_refused(kind: &str, read: Reader) {
    let cx = Context::new();
    let inputs = inputs(kind);
    let mut wrong = Vec::new();
    for (path, expected) in &inputs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let error = match read(&cx, path) {
            Ok(()) => {
                wrong.push(format!("{kind}/{name}: ACCEPTED (expected \"{expected}\")"));
                continue;
            }
            Err(e) if reached_the_token(&e) => {
                wrong.push(format!(
                    "{kind}/{name}: ACCEPTED, stopped only at the token ({e})"
                ));
                continue;
            }
            Err(e) => e,
        };
        if !error.contains(expected.as_str()) {
            wrong.push(format!(
                "{kind}/{name}: expected \"{expected}\", got: {error}"
            ));
        }
        let input = fs::read(path).unwrap();
        let compact: String = error.split_whitespace().collect::<String>();
        let upper = compact.to_ascii_uppercase();
        let lower = compact.to_ascii_lowercase();
        if let Some(s) = secrets(kind, &input).iter().find(|s| {
            error.contains(s.as_str()) || upper.contains(s.as_str()) || lower.contains(s.as_str())
        }) {
            wrong.push(format!(
                "{kind}/{name}: the error repeats secret material '{s}': {error}"
            ));
        }
    }
    println!("{kind}: {} bad inputs refused", inputs.len());
    assert!(
        wrong.is_empty(),
        "{} of {} {kind} inputs:\n{}",
        wrong.len(),
        inputs.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_bad_csr_is_refused_before_the_token_is_opened() {
    every_input_is_refused("csr", Context::csr);
}

#[test]
fn every_bad_share_text_or_card_is_refused_without_quoting_the_share() {
    every_input_is_refused("share-text", Context::share_text);
}

#[test]
fn every_bad_share_record_is_refused_without_quoting_the_share() {
    every_input_is_refused("share-record", Context::share_record);
}

#[test]
fn every_bad_bundle_is_refused() {
    every_input_is_refused("bundle", Context::bundle);
}

#[test]
fn every_bad_payload_is_refused() {
    every_input_is_refused("payload", Context::payload);
}

#[test]
fn every_bad_crl_is_refused_before_the_token_is_opened() {
    every_input_is_refused("crl", Context::crl);
}

#[test]
fn every_bad_ceremony_script_is_refused_before_anything_starts() {
    every_input_is_refused("script", Context::script);
}

#[test]
fn every_bad_ceremony_profile_is_refused() {
    every_input_is_refused("profile", Context::profile);
}

#[test]
fn every_bad_trust_policy_is_refused_before_the_token_is_opened() {
    every_input_is_refused("policy", Context::policy);
}

#[test]
fn every_bad_site_config_is_refused() {
    every_input_is_refused("site", Context::site);
}

/// The starting points the inputs were made from are accepted, so each input is refused for
/// what was done to it.
#[test]
fn the_valid_starting_points_are_accepted() {
    let cx = Context::new();
    let dir = corpus().join("valid");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut wrong = Vec::new();
    for name in &names {
        let kind = KINDS
            .into_iter()
            .filter(|k| name.starts_with(&format!("{k}-")) || name.starts_with(&format!("{k}.")))
            .max_by_key(|k| k.len())
            .unwrap_or("");
        let read = reader(kind).unwrap_or_else(|| {
            panic!("valid/{name}: no kind '{kind}' (name it <kind>-<what>.<ext>)")
        });
        match read(&cx, &dir.join(name)) {
            Ok(()) => {}
            Err(e) if reached_the_token(&e) => {}
            Err(e) => wrong.push(format!("valid/{name}: {e}")),
        }
    }
    println!("{} valid starting points accepted", names.len());
    assert!(wrong.is_empty(), "refused:\n{}", wrong.join("\n"));
}

/// Inputs that cannot be committed (too large, links, FIFOs) are made here and refused by
/// size or kind before a byte is parsed.
#[test]
fn inputs_made_at_run_time_are_refused() {
    let cx = Context::new();
    let dir = cx.fresh_dir();
    let big = |name: &str, size: usize| {
        let path = dir.join(name);
        fs::write(&path, vec![b'A'; size]).unwrap();
        path
    };
    let fifo = |name: &str| {
        let path = dir.join(name);
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    };
    let zero = |name: &str| {
        let link = dir.join(name);
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        link
    };
    let cases: [(&str, Reader, PathBuf, &str); 12] = [
        (
            "csr",
            Context::csr,
            big("oversize.csr", 64 * 1024 + 1),
            "it is 65537 bytes; a CSR is a few kilobytes (the limit is 65536)",
        ),
        (
            "bundle",
            Context::bundle,
            big("oversize.bundle", 8 * 1024 * 1024 + 1),
            "the bundle is 8388609 bytes, more than the 8388608 a bundle may be",
        ),
        (
            "site",
            Context::site,
            big("oversize-site.toml", 1024 * 1024 + 1),
            "is 1048577 bytes, more than the 1048576 such a file may be",
        ),
        (
            "bundle",
            Context::bundle,
            {
                let link = dir.join("link.bundle");
                std::os::unix::fs::symlink(corpus().join("valid/bundle-trust.bundle"), &link)
                    .unwrap();
                link
            },
            "is a symbolic link: give the file itself",
        ),
        // A FIFO would block the reader for ever, a link to /dev/zero exhaust its memory.
        (
            "csr",
            Context::csr,
            fifo("fifo.csr"),
            "is not a regular file",
        ),
        ("csr", Context::csr, zero("zero.csr"), "is a symbolic link"),
        (
            "share-text",
            Context::share_text,
            fifo("fifo.txt"),
            "is not a regular file",
        ),
        (
            "share-text",
            Context::share_text,
            zero("zero.txt"),
            "is a symbolic link",
        ),
        (
            "script",
            Context::script,
            fifo("fifo-script.toml"),
            "is not a regular file",
        ),
        (
            "profile",
            Context::profile,
            zero("zero-profile.toml"),
            "is a symbolic link",
        ),
        (
            "policy",
            Context::policy,
            fifo("fifo-policy.toml"),
            "is not a regular file",
        ),
        (
            "policy",
            Context::policy,
            zero("zero-policy.toml"),
            "is a symbolic link",
        ),
    ];
    for (kind, read, path, expected) in &cases {
        let error = read(&cx, path).expect_err(&format!("{kind} {} accepted", path.display()));
        assert!(
            error.contains(expected),
            "{kind} {}: {error}",
            path.display()
        );
    }
    println!("{} inputs made at run time refused", cases.len());
}

/// The counts in tests/bad-inputs/README.md are the corpus's.
#[test]
fn the_readme_counts_match_the_corpus() {
    let readme = fs::read_to_string(corpus().join("README.md")).unwrap();
    let mut total = 0;
    for kind in KINDS {
        let n = inputs(kind).len();
        total += n;
        let row = format!("| `{kind}` | {n} |");
        assert!(readme.contains(&row), "README.md lacks the row '{row}'");
        println!("{kind}: {n}");
    }
    println!("total: {total}");
    assert!(
        readme.contains(&format!("| **total** | **{total}** |")),
        "README.md's total is not {total}"
    );
}
