//! Every reviewed script in ceremony-scripts/, run by the engine against SoftHSM2 tokens in
//! the order a root's life needs them, each transcript verified, and the bundles they export
//! installed by keyrite-import; the root made inside one token, with no backup; a backup below
//! the minimum, refused unless the site gives its reason, which the transcript records; and
//! the printable summary a ceremony leaves.

mod common;

use std::fs;
use std::path::Path;

use common::ceremony::{Site, openssl_csr};
use common::script_env::{Env, EveryoneConfirms, script, step_entries, step_field, verify};
use common::*;
use keyrite::ceremony::engine::{Ceremony, SUMMARY, TRANSCRIPT};
use keyrite::ceremony::script::load_script;
use serde_json::Value;

/// Checks `summary.md` against the script and the transcript: every step's title in order,
/// each followed (before the next heading) by the roles that confirmed it and by the path and
/// SHA-256 of each artefact its transcript entry records it wrote.
fn assert_summary(out: &Path, script_file: &str) {
    let summary = fs::read_to_string(out.join(SUMMARY)).unwrap();
    let (script, _) = load_script(&script(script_file)).unwrap();
    let steps = step_entries(out);
    assert_eq!(steps.len(), script.steps.len(), "{steps:#?}");
    let confirmed = step_field(&steps, "confirmed_by");
    let outputs = step_field(&steps, "outputs");
    let inputs = step_field(&steps, "inputs");
    assert!(
        outputs.iter().any(|o| !o.is_empty()) && inputs.iter().any(|i| !i.is_empty()),
        "no step recorded an artefact it read and one it wrote: {steps:#?}"
    );
    let mut rest = summary.as_str();
    for (i, step) in script.steps.iter().enumerate() {
        assert_eq!(steps[i]["title"], step.title.as_str(), "{:#}", steps[i]);
        let at = rest.find(&step.title).unwrap_or_else(|| {
            panic!(
                "step {} '{}' is missing or out of order:\n{summary}",
                i + 1,
                step.title
            )
        });
        rest = &rest[at + step.title.len()..];
        let section = &rest[..rest.find("\n#").unwrap_or(rest.len())];

        let roles: Vec<&str> = confirmed[i].iter().map(|r| r.as_str().unwrap()).collect();
        assert_eq!(roles, step.confirm, "{:#}", steps[i]);
        let listed = section
            .lines()
            .find_map(|l| l.strip_prefix("- confirmed by: "))
            .unwrap_or_else(|| panic!("no confirmations for '{}':\n{section}", step.title));
        assert_eq!(
            listed.split(", ").collect::<Vec<_>>(),
            roles,
            "'{}'",
            step.title
        );

        for (a, read) in outputs[i]
            .iter()
            .map(|a| (a, false))
            .chain(inputs[i].iter().map(|a| (a, true)))
        {
            let (path, digest) = (a["path"].as_str().unwrap(), a["sha256"].as_str().unwrap());
            assert_eq!(digest.len(), 64, "{a:#}");
            assert!(
                section.lines().any(|l| l.starts_with("- read ") == read
                    && l.contains(path)
                    && l.contains(digest)),
                "'{}' does not list {} {path} with SHA-256 {digest}:\n{section}",
                step.title,
                if read { "the input" } else { "the output" }
            );
        }
    }
}

fn cards(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut cards: Vec<(String, Vec<u8>)> = fs::read_dir(out.join("02-root-create"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    cards.sort();
    cards
}

#[test]
fn the_reviewed_scripts_take_a_root_through_its_life() {
    let env = Env::new(&["backup", "successor", "recovered"]);
    let _in_process = env.enter();

    // 1. The backed-up root.
    let backup = format!("backup_tokens = [\"{}\"]\n", env.token("backup"));
    let first = env.run("root", "root-creation-backed-up.toml", &backup, &[]);
    let root = first.join("02-root-create/root.crt");
    verify(&first, &root);
    assert_summary(&first, "root-creation-backed-up.toml");
    let root_line = format!(
        "root_cert = \"{}\"\nroot_sha256 = \"{}\"\n",
        root.display(),
        sha256_hex_of_cert(&root)
    );
    let all_cards = cards(&first);
    let as_input = |n: usize| -> Vec<(&str, &[u8])> {
        all_cards
            .iter()
            .take(n)
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
            .collect()
    };

    // 2. A custody audit with every card brought back.
    let audit = env.run("audit", "custody-audit.toml", &root_line, &as_input(5));
    verify(&audit, &root);

    // 3. Recovery from three cards into a new token, which then holds a sound root key.
    let dir = env.hsm.dir().join("recovery");
    fs::create_dir_all(dir.join("in")).unwrap();
    for (name, bytes) in as_input(3) {
        fs::write(dir.join("in").join(name), bytes).unwrap();
    }
    fs::write(
        dir.join("profile.toml"),
        format!(
            "module = \"{SOFTHSM_MODULE}\"\nroot_token = \"{}\"\ninput = \"{}\"\noutput = \"{}\"\n{root_line}",
            env.token("recovered"),
            dir.join("in").display(),
            dir.join("out").display()
        ),
    )
    .unwrap();
    Ceremony::open(&script("share-recovery.toml"), &dir.join("profile.toml"))
        .unwrap()
        .run(&mut EveryoneConfirms)
        .unwrap();
    verify(&dir.join("out"), &root);
    let (ok, text) = run(env
        .hsm
        .command()
        .args(["token", "audit", &env.token("recovered")]));
    assert!(ok, "{text}");

    // 4. A publisher's certificate, 5. a CRL, 6. the bundles.
    let csr = openssl_csr(
        env.hsm.dir(),
        "publisher",
        "/C=US/ST=WA/O=Publisher/CN=release",
    );
    let delegate = env.run(
        "delegate",
        "delegate-issuance.toml",
        &root_line,
        &[("publisher.csr", &fs::read(&csr).unwrap())],
    );
    verify(&delegate, &root);
    let chain = delegate.join("02-delegate-issue/publisher.chain.pem");
    let crl = env.run("crl", "crl-issuance.toml", &root_line, &[]);
    verify(&crl, &root);
    let policy = b"[[statement]]\nname = \"releases\"\nregistry_scopes = [\"registry.example.internal/releases/app\"]\nlevel = \"strict\"\ntrusted_identities = [\"x509.subject: C=US, ST=WA, O=Publisher, CN=release\"]\n";
    let export = env.run(
        "export",
        "bundle-export.toml",
        &root_line,
        &[("policy.toml", policy)],
    );
    verify(&export, &root);

    // 7. Rotation: a successor on its own token, introduced by a bundle both roots sign.
    let rotation_extra = format!(
        "{root_line}successor_token = \"{}\"\n",
        env.token("successor")
    );
    let rotation = env.run("rotation", "root-rotation.toml", &rotation_extra, &[]);
    verify(&rotation, &root);

    // An air-gapped site installs what the ceremonies exported, in order.
    let site = Site::new();
    site.pin(&common::ceremony::fingerprint(&root));
    for bundle in [
        export.join("02-bundle-trust/trust-v1.bundle"),
        export.join("03-bundle-revocation/revocation-v1.bundle"),
        rotation.join("02-bundle-trust/trust-v2.bundle"),
    ] {
        let (ok, text) = site.install(&bundle);
        assert!(ok, "{}: {text}", bundle.display());
    }
    let store = site
        .config()
        .join("truststore/x509/ca")
        .join(format!("keyrite-{}", common::ceremony::fingerprint(&root)));
    assert_eq!(fs::read_dir(store).unwrap().count(), 2);
    let (code, text) = site.check(&chain, &[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn the_token_only_script_makes_a_root_key_that_never_leaves_its_token() {
    let env = Env::new(&[]);
    let _in_process = env.enter();
    let out = env.run("token-only", "root-creation-token-only.toml", "", &[]);
    let root = out.join("02-root-create/root.crt");

    let (ok, text) = openssl_verify_self_signed(&root);
    assert!(ok, "{text}");

    // The token itself says the key was generated there and can never leave it.
    let audit = env
        .hsm
        .command()
        .args(["token", "audit", &env.token("primary"), "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&audit.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&audit.stderr));
    });
    assert!(audit.status.success(), "{report:#}");
    assert_eq!(report["origin"], "generated-on-token", "{report:#}");
    for (attr, want) in [
        ("local", true),
        ("always_sensitive", true),
        ("never_extractable", true),
        ("extractable", false),
    ] {
        assert_eq!(report[attr], want, "{attr}: {report:#}");
    }

    // The script is below the minimum backup: the reason it gives was shown and recorded.
    let (shipped, _) = load_script(&script("root-creation-token-only.toml")).unwrap();
    let reason = shipped.steps[1].with["below_minimum"].as_str().unwrap();
    assert_below_minimum_recorded(
        &out,
        "no backup: the root key would live on one token",
        reason,
    );

    // No share card: none recorded, none written; the step wrote the root's files alone.
    let steps = step_entries(&out);
    let roles: Vec<&Value> = step_field(&steps, "outputs")
        .into_iter()
        .flatten()
        .map(|a| &a["role"])
        .collect();
    assert_eq!(roles, ["root-cert", "root-fingerprint"], "{steps:#?}");
    assert!(cards(&out).is_empty());
    let mut written: Vec<String> = fs::read_dir(out.join("02-root-create"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["root.crt", "root.fingerprint"]);

    let (ok, text) = run(env
        .hsm
        .command()
        .args(["transcript", "verify"])
        .arg(out.join(TRANSCRIPT))
        .arg("--root-cert")
        .args([&root, &out.join("02-root-create/root.fingerprint")]));
    assert!(ok && text.contains("Transcript verified"), "{text}");
}

/// Asserts that the root-create step of the ceremony in `out` ran below the minimum backup
/// (`lacks`) for the site's `reason`: shown to the roles before they confirmed, in the step's
/// transcript entry and in the printed summary.
fn assert_below_minimum_recorded(out: &Path, lacks: &str, reason: &str) {
    let steps = step_entries(out);
    let root = steps
        .iter()
        .find(|s| s["action"] == "root-create")
        .unwrap_or_else(|| panic!("no root-create step: {steps:#?}"));
    let line = format!("BELOW THE MINIMUM BACKUP: {lacks}");
    let summary = root["summary"].as_str().unwrap();
    assert!(
        summary.contains(&line) && summary.contains(&format!("the site's reason: {reason}")),
        "{root:#}"
    );
    let shown = root["shown"].as_array().unwrap();
    assert_eq!(shown.len(), 1, "{root:#}");
    let shown = shown[0].as_str().unwrap();
    assert!(
        shown.starts_with(&line) && shown.ends_with(reason),
        "{root:#}"
    );
    let printed = fs::read_to_string(out.join(SUMMARY)).unwrap();
    assert!(printed.contains(shown), "{printed}");
}

/// The shipped script `file` as text, with each `(from, to)` replaced; each `from` must be
/// there.
fn edited(file: &str, edits: &[(&str, &str)]) -> String {
    edits.iter().fold(
        fs::read_to_string(script(file)).unwrap(),
        |text, (from, to)| {
            assert!(text.contains(from), "{file} has no {from:?}");
            text.replacen(from, to, 1)
        },
    )
}

/// The backed-up script's root creation, where an override goes.
const BACKED_UP_ROOT_STEP: &str =
    "action = \"root-create\"\nconfirm = [\"administrator\", \"witness\", \"officer\"]\n";

/// The backed-up script with its shares lowered to `shares` (custodians alice, bob, …) and,
/// when given, the site's reason to go below the minimum.
fn backed_up_with(shares: &str, custodians: &[&str], reason: Option<&str>) -> String {
    let override_line = reason
        .map(|r| format!("{BACKED_UP_ROOT_STEP}with = {{ below_minimum = \"{r}\" }}\n"))
        .unwrap_or_else(|| BACKED_UP_ROOT_STEP.to_owned());
    edited(
        "root-creation-backed-up.toml",
        &[
            ("shares = \"3-of-5\"", &format!("shares = \"{shares}\"")),
            (
                "custodians = [\"alice\", \"bob\", \"carol\", \"dave\", \"erin\"]",
                &format!("custodians = {custodians:?}"),
            ),
            (BACKED_UP_ROOT_STEP, &override_line),
        ],
    )
}

#[test]
fn a_backup_below_the_minimum_is_refused_at_load_with_nothing_written_and_no_key_made() {
    let env = Env::new(&[]);
    let _in_process = env.enter();
    let token_only = fs::read_to_string(script("root-creation-token-only.toml")).unwrap();
    let without_reason: String = token_only
        .lines()
        .filter(|l| !l.starts_with("with = { below_minimum"))
        .map(|l| format!("{l}\n"))
        .collect();
    let rule = "the minimum is a Shamir backup, shares = \"T-of-N\" with T >= 2 (no card alone \
                is the key) and N >= T+1 (one card may be lost)";
    let override_named = "sets below_minimum = \"<the site's reason>\" in this step's `with`";
    let t1 = "bad --shares '1-of-2': with T = 1 every card alone would be the root key: give \
              T-of-N with 2 <= T <= N <= 16";
    let cases = [
        (
            "no-shares",
            without_reason,
            vec![
                "no backup: the root key would live on one token, and losing that token means \
                 a new root that every site pins again. Refused: ",
                rule,
                override_named,
            ],
        ),
        (
            "1-of-2",
            backed_up_with("1-of-2", &["alice", "bob"], None),
            vec![t1],
        ),
        // No override lowers T below 2: keyrite never makes such a split.
        (
            "1-of-2-overridden",
            backed_up_with("1-of-2", &["alice", "bob"], Some("one card per site")),
            vec![t1],
        ),
        (
            "2-of-2",
            backed_up_with("2-of-2", &["alice", "bob"], None),
            vec![
                "shares 2-of-2 leave no spare card: losing any one card, or its custodian, \
                 loses the backup. Refused: ",
                rule,
                override_named,
            ],
        ),
    ];
    for (name, text, phrases) in cases {
        let file = env.hsm.dir().join(format!("{name}.toml"));
        fs::write(&file, text).unwrap();
        let profile = env.profile(name, "", &[]);
        let err = Ceremony::open(&file, &profile)
            .err()
            .unwrap_or_else(|| panic!("{name}: the script loaded"))
            .to_string();
        assert!(
            err.contains("step 2 ('Create the root', root-create): "),
            "{name}: {err}"
        );
        for phrase in phrases {
            assert!(err.contains(phrase), "{name}: no {phrase:?} in:\n{err}");
        }
        let out = env.hsm.dir().join(name).join("out");
        assert!(!out.exists(), "{name}: {} was made", out.display());
    }
    assert_eq!(count_objects(&env.hsm), 0, "a key was made on the token");
}

#[test]
fn a_backup_below_the_minimum_runs_with_the_sites_reason_and_the_transcript_records_it() {
    let env = Env::new(&[]);
    let _in_process = env.enter();
    let reason = "two custodians only, both on site; a third joins at the next audit";
    let file = env.hsm.dir().join("two-of-two.toml");
    fs::write(
        &file,
        backed_up_with("2-of-2", &["alice", "bob"], Some(reason)),
    )
    .unwrap();
    let out = env.run_script("two-of-two", &file, "", &[]);
    verify(&out, &out.join("02-root-create/root.crt"));
    assert_below_minimum_recorded(&out, "shares 2-of-2 leave no spare card", reason);
    assert_eq!(cards(&out).len(), 2);

    // An override is for one step that needs it, with a reason in one line.
    let refused = [
        (
            backed_up_with(
                "3-of-5",
                &["alice", "bob", "carol", "dave", "erin"],
                Some("habit"),
            ),
            "below_minimum is set, but the backup meets the minimum: remove it",
        ),
        (
            backed_up_with("2-of-2", &["alice", "bob"], Some(" ")),
            "below_minimum must give the site's reason, in one line of text",
        ),
        (
            backed_up_with("2-of-2", &["alice", "bob"], Some("one\\nand two")),
            "below_minimum must give the site's reason, in one line of text",
        ),
        (
            edited(
                "root-creation-token-only.toml",
                &[("[parameters]\n", "[parameters]\nbelow_minimum = \"x\"\n")],
            ),
            "[parameters] sets below_minimum: set it in the `with` of the root-create step it \
             excuses",
        ),
    ];
    for (n, (text, phrase)) in refused.into_iter().enumerate() {
        let file = env.hsm.dir().join(format!("refused-{n}.toml"));
        fs::write(&file, text).unwrap();
        let err = load_script(&file).err().unwrap().to_string();
        assert!(err.contains(phrase), "{n}: {err}");
    }
}

/// The SHA-256 of a certificate file's DER, as root.fingerprint gives it.
fn sha256_hex_of_cert(path: &Path) -> String {
    use der::Encode;
    let cert = keyrite::pki::read_certificate(path).unwrap();
    keyrite::fingerprint::Fingerprint::of(&cert.to_der().unwrap()).hex()
}
