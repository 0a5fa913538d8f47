//! `keyrite crl issue`: CRLs signed by the root key on a SoftHSM2 token, judged by OpenSSL,
//! GnuTLS certtool and pkilint, revoking exactly what the ledger says.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::ceremony::{Ceremony, openssl_csr};
use common::*;

/// `keyrite crl issue` and the ledger, on the ceremony's root.
impl Ceremony {
    fn leaf(&self, name: &str) -> PathBuf {
        self.hsm.dir().join("issued").join(format!("{name}.crt"))
    }

    fn issue_crl(&self, out: &Path, extra: &[&str]) -> (bool, String) {
        self.issue_crl_with_ledger(&self.ledger, out, extra)
    }

    fn issue_crl_with_ledger(&self, ledger: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
        run(self
            .hsm
            .command()
            .args(["crl", "issue", "--token", &self.root_key_uri()])
            .arg("--root-cert")
            .arg(&self.root)
            .arg("--ledger")
            .arg(ledger)
            .args(["--next-update", "90d", "--out"])
            .arg(out)
            .args(extra))
    }

    fn ledger_bytes(&self) -> Vec<u8> {
        fs::read(self.ledger.join("ledger.json")).unwrap()
    }
}

fn crl_text(der: &Path) -> String {
    run_ok(
        Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(der),
    )
}

#[test]
fn a_crl_passes_the_verifiers_and_revokes_exactly_its_serial() {
    let pki = Ceremony::new("crl-verify");
    let out = pki.hsm.dir().join("root.crl");
    let revoked = pki.serial("a");
    let (ok, text) = pki.issue_crl(
        &out,
        &[
            "--pem",
            "--revoke",
            &format!("{revoked}:keyCompromise:2026-11-01"),
        ],
    );
    assert!(ok, "{text}");
    let pem = out.with_extension("pem");

    run_ok(
        Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-verify", "-CAfile"])
            .arg(&pki.root)
            .arg("-in")
            .arg(&out),
    );
    let verified = run_ok(
        Command::new("certtool")
            .args(["--verify-crl", "--load-ca-certificate"])
            .arg(&pki.root)
            .arg("--infile")
            .arg(&pem),
    );
    assert!(verified.contains("Verified"), "{verified}");
    let (ok, lint) = run(Command::new(venv_tool("lint_crl"))
        .args(["lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING"])
        .arg(&pem));
    assert!(ok && lint.trim().is_empty(), "pkilint:\n{lint}");

    let crl = crl_text(&out);
    assert!(crl.contains("Version 2"), "{crl}");
    assert!(
        crl.contains("X509v3 CRL Number: \n                1\n"),
        "{crl}"
    );
    assert!(crl.contains(&format!("Serial Number: {revoked}")), "{crl}");
    assert!(crl.contains("Key Compromise"), "{crl}");
    assert!(crl.contains("Invalidity Date"), "{crl}");
    assert!(!crl.contains(&pki.serial("b")), "{crl}");
    // The CRL's AKI is the root's SKI.
    let root_text = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectKeyIdentifier", "-in"])
            .arg(&pki.root),
    );
    let ski = root_text.lines().last().unwrap().trim();
    assert!(
        crl.contains(&format!(
            "X509v3 Authority Key Identifier: \n                {ski}"
        )),
        "root SKI {ski}:\n{crl}"
    );

    // The revoked delegate fails with the CRL loaded; the other passes.
    let openssl = |leaf: &Path| {
        run(Command::new("openssl")
            .args(["verify", "-x509_strict", "-crl_check", "-CAfile"])
            .arg(&pki.root)
            .arg("-CRLfile")
            .arg(&pem)
            .arg(leaf))
    };
    let (ok, text) = openssl(&pki.leaf("a"));
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (ok, text) = openssl(&pki.leaf("b"));
    assert!(ok, "{text}");
    let certtool = |leaf: &Path| {
        run(Command::new("certtool")
            .args(["--verify", "--verify-purpose", "1.3.6.1.5.5.7.3.3"])
            .arg("--load-ca-certificate")
            .arg(&pki.root)
            .arg("--load-crl")
            .arg(&pem)
            .arg("--infile")
            .arg(leaf))
    };
    let (ok, text) = certtool(&pki.leaf("a"));
    assert!(!ok && text.contains("revoked"), "{text}");
    let (ok, text) = certtool(&pki.leaf("b"));
    assert!(ok, "{text}");
}

#[test]
fn crl_numbers_grow_and_revocations_accumulate() {
    let pki = Ceremony::new("crl-grow");
    let first = pki.hsm.dir().join("first.crl");
    let second = pki.hsm.dir().join("second.crl");
    let (a, b) = (pki.serial("a"), pki.serial("b"));
    let (ok, text) = pki.issue_crl(&first, &["--revoke", &format!("{a}:superseded")]);
    assert!(ok, "{text}");
    let (ok, text) = pki.issue_crl(&second, &["--revoke", &b]);
    assert!(ok, "{text}");
    // Before signing, what the root signs: the number, what it carries and what is new.
    for shown in [
        "keyrite: the root signs:".to_owned(),
        "CRL number 2: valid ".to_owned(),
        "entries: 2 (the ledger's 1 revocations, 1 new)".to_owned(),
        "added since CRL 1:".to_owned(),
        format!("serial {} (unspecified)", b.to_lowercase()),
        "removed: none".to_owned(),
    ] {
        assert!(text.contains(&shown), "{shown}:\n{text}");
    }
    let crl = crl_text(&second);
    assert!(
        crl.contains("X509v3 CRL Number: \n                2\n"),
        "{crl}"
    );
    assert!(crl.contains(&format!("Serial Number: {a}")), "{crl}");
    assert!(crl.contains(&format!("Serial Number: {b}")), "{crl}");
    // unspecified carries no reason code (RFC 5280 5.3.1); superseded does.
    assert_eq!(crl.matches("CRL Reason Code").count(), 1, "{crl}");
    let ledger: serde_json::Value = serde_json::from_slice(&pki.ledger_bytes()).unwrap();
    assert_eq!(ledger["crl_number"], 2);
    assert_eq!(ledger["revoked"].as_array().unwrap().len(), 2);
    // A CRL with nothing new still gets the next number and carries both.
    let third = pki.hsm.dir().join("third.crl");
    let (ok, text) = pki.issue_crl(&third, &[]);
    assert!(ok, "{text}");
    assert!(crl_text(&third).contains("X509v3 CRL Number: \n                3\n"));
}

#[test]
fn unknown_serials_reasons_and_repeats_are_refused_and_nothing_changes() {
    let pki = Ceremony::new("crl-refuse");
    let out = pki.hsm.dir().join("root.crl");
    let before = pki.ledger_bytes();
    for (revoke, expected) in [
        ("0badc0ffee", "serial 0badc0ffee is not in the ledger"),
        (
            &format!("{}:bogus", pki.serial("a")),
            "unknown reason 'bogus'",
        ),
        (
            &format!("{}:removeFromCRL", pki.serial("a")),
            "unknown reason 'removeFromCRL'",
        ),
        ("xyz", "the serial must be hex"),
        (
            &format!("{}:keyCompromise:yesterday", pki.serial("a")),
            "invalidity date 'yesterday'",
        ),
    ] {
        let (ok, text) = pki.issue_crl(&out, &["--revoke", revoke]);
        assert!(!ok, "{revoke}: {text}");
        assert!(
            text.contains(expected),
            "{revoke}: expected {expected:?} in\n{text}"
        );
        assert!(!out.exists(), "{revoke}: a CRL was written");
        assert_eq!(pki.ledger_bytes(), before, "{revoke}: the ledger changed");
    }
    // --force-unknown revokes a serial the ledger never saw.
    let (ok, text) = pki.issue_crl(&out, &["--revoke", "0badc0ffee", "--force-unknown"]);
    assert!(ok, "{text}");
    assert!(crl_text(&out).contains("BADC0FFEE"));
    // The same serial twice in one run is refused.
    let twice = pki.hsm.dir().join("twice.crl");
    let (a, b) = (pki.serial("a"), pki.serial("a").to_lowercase());
    let (ok, text) = pki.issue_crl(
        &twice,
        &["--revoke", &a, "--revoke", &format!("{b}:superseded")],
    );
    assert!(!ok && text.contains("is given twice"), "{text}");
    assert!(!twice.exists());
    // Revoking it again is refused; so is writing over the CRL.
    let again = pki.hsm.dir().join("again.crl");
    let (ok, text) = pki.issue_crl(&again, &["--revoke", "badc0ffee", "--force-unknown"]);
    assert!(!ok && text.contains("already revoked"), "{text}");
    let (ok, text) = pki.issue_crl(&out, &[]);
    assert!(!ok && text.contains("root.crl already exists"), "{text}");
}

#[test]
fn a_series_pre_signs_consecutive_crls() {
    let pki = Ceremony::new("crl-series");
    let out = pki.hsm.dir().join("root.crl");
    let (ok, text) = pki.issue_crl(
        &out,
        &[
            "--revoke",
            &pki.serial("b"),
            "--series",
            "3",
            "--period",
            "30d",
        ],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("a certificate revoked after this ceremony needs a new CRL"),
        "{text}"
    );
    let mut updates = Vec::new();
    for n in 1..=3 {
        let file = pki.hsm.dir().join(format!("root.{n}.crl"));
        let crl = crl_text(&file);
        assert!(
            crl.contains(&format!("X509v3 CRL Number: \n                {n}\n")),
            "{crl}"
        );
        assert!(
            crl.contains(&format!("Serial Number: {}", pki.serial("b"))),
            "{crl}"
        );
        let last = crl
            .lines()
            .find(|l| l.contains("Last Update"))
            .unwrap()
            .to_owned();
        updates.push(last);
        run_ok(
            Command::new("openssl")
                .args(["crl", "-inform", "DER", "-noout", "-verify", "-CAfile"])
                .arg(&pki.root)
                .arg("-in")
                .arg(&file),
        );
    }
    updates.dedup();
    assert_eq!(updates.len(), 3, "each CRL has its own window: {updates:?}");
    let ledger: serde_json::Value = serde_json::from_slice(&pki.ledger_bytes()).unwrap();
    assert_eq!(ledger["crl_number"], 3);

    // A period longer than a CRL's validity would leave gaps.
    let gap = pki.hsm.dir().join("gap.crl");
    let (ok, text) = pki.issue_crl(&gap, &["--series", "2", "--period", "120d"]);
    assert!(!ok && text.contains("would leave gaps"), "{text}");
    let (ok, text) = pki.issue_crl(&gap, &["--series", "2"]);
    assert!(!ok && text.contains("--series needs --period"), "{text}");
}

#[test]
fn a_crl_needs_the_ceremonys_own_ledger() {
    let pki = Ceremony::new("crl-ledger");
    let out = pki.hsm.dir().join("root.crl");
    let (ok, text) = pki.issue_crl_with_ledger(&pki.hsm.dir().join("no-such-ledger"), &out, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("there is no ledger in"), "{text}");
    assert!(!out.exists());
    assert!(
        !pki.hsm.dir().join("no-such-ledger").exists(),
        "no empty ledger was started"
    );
}

/// The ledger as JSON, edited by `change`, written back as an attacker holding the output
/// medium would.
fn edit_ledger(pki: &Ceremony, change: impl FnOnce(&mut serde_json::Value)) {
    let mut ledger: serde_json::Value = serde_json::from_slice(&pki.ledger_bytes()).unwrap();
    change(&mut ledger);
    fs::write(
        pki.ledger.join("ledger.json"),
        serde_json::to_vec_pretty(&ledger).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_ledger_changed_on_the_medium_never_has_the_root_sign_a_crl() {
    let pki = Ceremony::new("crl-tamper");
    let revoked = pki.serial("a");
    let first = pki.hsm.dir().join("first.crl");
    let older = pki.ledger_bytes();
    let (ok, text) = pki.issue_crl(&first, &["--revoke", &format!("{revoked}:keyCompromise")]);
    assert!(ok, "{text}");
    let honest = pki.ledger_bytes();
    let out = pki.hsm.dir().join("second.crl");
    let refused = |what: &str, expected: &[&str]| {
        let tampered = pki.ledger_bytes();
        let (ok, text) = pki.issue_crl(&out, &[]);
        assert!(!ok, "{what}: the root signed a CRL from it:\n{text}");
        assert!(
            text.contains("is not the one root token 'crl-tamper' recorded"),
            "{what}: {text}"
        );
        for e in expected {
            assert!(text.contains(e), "{what}: expected '{e}' in: {text}");
        }
        assert!(!out.exists(), "{what}: a CRL was written");
        assert_eq!(
            pki.ledger_bytes(),
            tampered,
            "{what}: the ledger was rewritten"
        );
        fs::write(pki.ledger.join("ledger.json"), &honest).unwrap();
    };

    // The revoked publisher un-revoked by the root itself: no revocations, CRL number 0.
    edit_ledger(&pki, |l| {
        l["revoked"] = serde_json::json!([]);
        l["crl_number"] = serde_json::json!(0);
    });
    refused(
        "revocations dropped",
        &[
            "its CRL number is 0, the token's record says 1",
            "it lists 0 revocations, the record 1",
        ],
    );
    // A CRL number at the top, so that the next one wraps to 0.
    edit_ledger(&pki, |l| l["crl_number"] = serde_json::json!(u64::MAX));
    refused(
        "CRL number at 2^64-1",
        &["its CRL number is 18446744073709551615"],
    );
    // An older copy of the ledger, as it was before the revocation.
    fs::write(pki.ledger.join("ledger.json"), &older).unwrap();
    refused("an older copy", &["it lists 0 revocations, the record 1"]);
    // A change the counts do not show (a revocation's reason) is caught by the digest.
    edit_ledger(&pki, |l| {
        l["revoked"][0]["reason"] = serde_json::json!("superseded")
    });
    refused("a reason changed", &["its contents changed"]);
    // The ledger removed: the token still knows there was one.
    fs::remove_file(pki.ledger.join("ledger.json")).unwrap();
    let (ok, text) = pki.issue_crl(&out, &[]);
    assert!(!ok && text.contains("there is no ledger in"), "{text}");
    assert!(!out.exists());
    fs::write(pki.ledger.join("ledger.json"), &honest).unwrap();

    // The honest ledger still works, and the next CRL still lists the revoked serial.
    let (ok, text) = pki.issue_crl(&out, &[]);
    assert!(ok, "{text}");
    let crl = crl_text(&out);
    assert!(
        crl.contains("X509v3 CRL Number: \n                2\n"),
        "{crl}"
    );
    assert!(crl.contains(&format!("Serial Number: {revoked}")), "{crl}");
}

#[test]
fn a_ledger_the_token_has_no_record_of_is_adopted_only_as_the_last_crl_says() {
    let pki = Ceremony::new("crl-adopt");
    let revoked = pki.serial("a");
    let first = pki.hsm.dir().join("first.crl");
    let (ok, text) = pki.issue_crl(&first, &["--revoke", &revoked]);
    assert!(ok, "{text}");
    let honest = pki.ledger_bytes();
    // The token's record of the ledger is lost (a replaced token, or a ledger kept before
    // records): pkcs11-tool removes the data object.
    let root_key_sha256 = {
        use der::Encode;
        let root = keyrite::pki::read_certificate(&pki.root).unwrap();
        let spki = root
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap();
        hex::encode(keyrite::keys::sha256(&spki))
    };
    run_ok(
        Command::new("pkcs11-tool")
            .envs(pki.hsm.envs())
            .args(["--module", SOFTHSM_MODULE, "--token-label", "crl-adopt"])
            .args([
                "--login",
                "--pin",
                USER_PIN,
                "--delete-object",
                "--type",
                "data",
            ])
            .args(["--label", &format!("keyrite:ledger-{root_key_sha256}")]),
    );
    let out = pki.hsm.dir().join("second.crl");
    let (ok, text) = pki.issue_crl(&out, &[]);
    assert!(!ok && text.contains("keyrite ledger adopt"), "{text}");
    assert!(!out.exists());
    // Nor does a deleted ledger start a new one (a fork the token would then vouch for).
    let aside = pki.hsm.dir().join("ledger.json.aside");
    fs::rename(pki.ledger.join("ledger.json"), &aside).unwrap();
    let csr = openssl_csr(pki.hsm.dir(), "fork", "/C=US/ST=WA/O=Publisher/CN=fork");
    let (ok, text) = run(pki
        .hsm
        .command()
        .args(["delegate", "issue", "--token", &pki.root_key_uri()])
        .arg("--root-cert")
        .arg(&pki.root)
        .arg("--csr")
        .arg(&csr)
        .arg("--ledger")
        .arg(&pki.ledger)
        .args(["--profile", "signing", "--validity", "30d", "--out"])
        .arg(pki.hsm.dir().join("forked")));
    assert!(!ok && text.contains("keyrite ledger adopt"), "{text}");
    assert!(!pki.ledger.join("ledger.json").exists());
    fs::rename(&aside, pki.ledger.join("ledger.json")).unwrap();

    let adopt = |extra: &[&std::ffi::OsStr]| {
        run(pki
            .hsm
            .command()
            .args(["ledger", "adopt", "--token", &pki.root_key_uri()])
            .arg("--root-cert")
            .arg(&pki.root)
            .arg("--ledger")
            .arg(&pki.ledger)
            .args(["--last-crl-number", "1"])
            .args(extra))
    };
    // Without the last CRL, a ledger with revocations cannot be checked.
    let (ok, text) = adopt(&[]);
    assert!(!ok && text.contains("give CRL 1 with --last-crl"), "{text}");
    // A ledger made to say no CRL was ever issued: the paper log's number is not the medium's.
    edit_ledger(&pki, |l| {
        l["revoked"] = serde_json::json!([]);
        l["crl_number"] = serde_json::json!(0);
    });
    let (ok, text) = adopt(&[]);
    assert!(
        !ok && text.contains("it says the last CRL is number 0, the paper log 1"),
        "{text}"
    );
    fs::write(pki.ledger.join("ledger.json"), &honest).unwrap();
    // A ledger whose revocation was dropped does not match what the root signed.
    let with_crl = [std::ffi::OsStr::new("--last-crl"), first.as_os_str()];
    edit_ledger(&pki, |l| l["revoked"] = serde_json::json!([]));
    let (ok, text) = adopt(&with_crl);
    assert!(
        !ok && text.contains("its revocations are not the CRL's: the CRL lists 1 it does not")
            && text.to_lowercase().contains(&revoked.to_lowercase()),
        "{text}"
    );
    let (ok, text) = pki.issue_crl(&out, &[]);
    assert!(!ok, "adopted after a refusal: {text}");
    // The ledger as the root's CRL says it is.
    fs::write(pki.ledger.join("ledger.json"), &honest).unwrap();
    let (ok, text) = adopt(&with_crl);
    assert!(
        ok && text.contains("CRL number 1, 2 issued certificates, 1 revocations"),
        "{text}"
    );
    let (ok, text) = adopt(&with_crl);
    assert!(!ok && text.contains("nothing to adopt"), "{text}");
    let (ok, text) = pki.issue_crl(&out, &[]);
    assert!(ok, "{text}");
    assert!(crl_text(&out).contains(&format!("Serial Number: {revoked}")));
}
