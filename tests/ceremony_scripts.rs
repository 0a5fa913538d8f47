//! Every reviewed script in ceremony-scripts/, run by the engine against SoftHSM2 tokens in
//! the order a root's life needs them, each transcript verified, and the bundles they export
//! installed by keyrite-import.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::ceremony::{Site, openssl_csr};
use common::*;
use keyrite::ceremony::actions::StepOutcome;
use keyrite::ceremony::engine::{Ceremony, Confirmer, TRANSCRIPT};
use keyrite::ceremony::script::{Script, Step};
use keyrite::ceremony::transcript;
use keyrite::fingerprint::Fingerprint;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ceremony-scripts")
        .join(name)
}

/// Every role present confirms every step, as the people in the room would (a real, not a
/// rehearsal, profile: batch confirmation refuses those).
struct EveryoneConfirms;

impl Confirmer for EveryoneConfirms {
    fn confirm_script(&mut self, script: &Script, _: &Fingerprint) -> Option<Vec<String>> {
        Some(script.roles.keys().cloned().collect())
    }
    fn confirm_step(&mut self, _: usize, step: &Step) -> Result<Vec<String>, String> {
        Ok(step.confirm.clone())
    }
    fn step_done(&mut self, _: usize, _: &Step, _: &StepOutcome) {}
    fn notice(&mut self, _: &str) {}
}

struct Env {
    hsm: SoftHsm,
    ledger: PathBuf,
}

impl Env {
    fn token(&self, label: &str) -> String {
        format!(
            "pkcs11:token={label};object=keyrite-root?pin-source=file:{}",
            self.hsm.pin_file().display()
        )
    }

    /// Writes a profile for ceremony `name` (input `name/in`, output `name/out`) and runs
    /// `script` to the end; returns the output directory.
    fn run(&self, name: &str, script_file: &str, extra: &str, input: &[(&str, &[u8])]) -> PathBuf {
        let dir = self.hsm.dir().join(name);
        fs::create_dir_all(dir.join("in")).unwrap();
        for (file, bytes) in input {
            fs::write(dir.join("in").join(file), bytes).unwrap();
        }
        let profile = dir.join("profile.toml");
        fs::write(
            &profile,
            format!(
                "module = \"{SOFTHSM_MODULE}\"\nroot_token = \"{}\"\ninput = \"{}\"\noutput = \"{}\"\nledger = \"{}\"\n{extra}",
                self.token("primary"),
                dir.join("in").display(),
                dir.join("out").display(),
                self.ledger.display()
            ),
        )
        .unwrap();
        let mut ceremony = Ceremony::open(&script(script_file), &profile).unwrap();
        let finished = ceremony
            .run(&mut EveryoneConfirms)
            .unwrap_or_else(|e| panic!("{script_file}: {e}"));
        let out = dir.join("out");
        assert_eq!(finished.transcript, out.join(TRANSCRIPT));
        out
    }
}

fn verify(out: &Path, root: &Path) {
    transcript::verify(&out.join(TRANSCRIPT), root, &[])
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
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
    let hsm = SoftHsm::new("primary");
    for label in ["backup", "successor", "recovered"] {
        hsm.add_token(label);
    }
    // SAFETY: the only test in this binary; no other thread reads the environment.
    unsafe {
        std::env::set_var("SOFTHSM2_CONF", hsm.conf());
        std::env::remove_var("KEYRITE_REHEARSAL");
        std::env::remove_var("KEYRITE_PIN");
    }
    let env = Env {
        ledger: hsm.dir().join("ledger"),
        hsm,
    };

    // 1. The backed-up root.
    let backup = format!("backup_tokens = [\"{}\"]\n", env.token("backup"));
    let first = env.run("root", "root-creation-backed-up.toml", &backup, &[]);
    let root = first.join("02-root-create/root.crt");
    verify(&first, &root);
    let root_line = format!("root_cert = \"{}\"\n", root.display());
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
