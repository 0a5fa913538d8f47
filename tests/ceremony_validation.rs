//! Scripts are checked whole when they load, so a reviewed script runs as it reads; and a
//! transcript is resumed only with the script and profile it was started with.

mod common;

use std::fs;
use std::path::Path;

use common::in_process::InProcess;
use common::{SoftHsm, USER_PIN};

use keyrite::ceremony::engine::{Ceremony, Confirmer};
use keyrite::ceremony::script::load_script;

const HEAD: &str =
    "name = \"v\"\ntitle = \"Validation\"\n[roles]\nadministrator = \"Ceremony administrator\"\n";

fn load(dir: &Path, body: &str) -> String {
    let path = dir.join("script.toml");
    fs::write(&path, format!("{HEAD}{body}")).unwrap();
    match load_script(&path) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn typos_and_bad_values_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let step = |action: &str, with: &str| {
        format!(
            "[[step]]\ntitle = \"S\"\ninstruction = \"I\"\naction = \"{action}\"\nconfirm = [\"administrator\"]\nwith = {{ {with} }}\n"
        )
    };
    let cases = [
        (
            step(
                "bundle-trust",
                "trust_version = 1, trust_expires = \"1y\", add_sucessor = true",
            ),
            "add_sucessor",
        ),
        (
            format!("[parameters]\nvalidty = \"1y\"\n{}", step("note", "")),
            "validty",
        ),
        (
            step(
                "root-create",
                "subject = \"C=US,ST=WA,O=E,CN=R\", validity = \"1y\", custodians = [\"a\", \"b\"]",
            ),
            "without shares",
        ),
        (
            step(
                "root-create",
                "subject = \"C=US,ST=WA,O=E,CN=R\", validity = \"1yr\"",
            ),
            "validity",
        ),
        (
            step(
                "root-create",
                "subject = \"C=US,O=E,CN=R\", validity = \"1y\"",
            ),
            "ST missing",
        ),
        (
            step(
                "root-create",
                "subject = \"C=US,ST=WA,O=E,CN=R\", validity = \"1y\", shares = \"3-of-5\", custodians = [\"a\"]",
            ),
            "needs 5 custodians",
        ),
        (
            step(
                "delegate-issue",
                "name = \"p\", profile = \"CA\", delegate_validity = \"1y\", crl_url = \"http://c/r.crl\"",
            ),
            "signing or ca",
        ),
        (
            step(
                "delegate-issue",
                "name = \"../p\", delegate_validity = \"1y\", crl_url = \"http://c/r.crl\"",
            ),
            "plain file name",
        ),
        (
            step(
                "delegate-issue",
                "name = \"p\", delegate_validity = \"1y\", crl_url = \"https://c/r.crl\"",
            ),
            "http://",
        ),
        (
            step(
                "crl-issue",
                "revoke = [\"serial:xyz\"], crl_next_update = \"30d\"",
            ),
            "serial:<hex>",
        ),
        (
            step("bundle-trust", "trust_version = 0, trust_expires = \"1y\""),
            "starts at 1",
        ),
    ];
    for (body, phrase) in cases {
        let err = load(dir.path(), &body);
        assert!(
            err.contains(phrase),
            "expected '{phrase}' for:\n{body}\ngot: {err}"
        );
    }
    assert_eq!(
        load(
            dir.path(),
            &step(
                "crl-issue",
                "revoke = [\"serial:0a1b\", \"publisher\"], crl_next_update = \"30d\""
            )
        ),
        ""
    );
    // A delegate step may carry the overrides the README names for it.
    assert_eq!(
        load(
            dir.path(),
            &step(
                "delegate-issue",
                "name = \"p\", delegate_validity = \"1y\", crl_url = \"http://c/r.crl\", \
                 allow_subject_held_by_another_key = true, \
                 allow_key_certified_for_another_subject = true"
            )
        ),
        ""
    );
}

struct Stop;

impl Confirmer for Stop {
    fn confirm_script(
        &mut self,
        _: &keyrite::ceremony::script::Script,
        _: &keyrite::fingerprint::Fingerprint,
    ) -> Option<Vec<String>> {
        Some(vec!["administrator".into()])
    }
    fn confirm_step(
        &mut self,
        _: usize,
        _: &keyrite::ceremony::script::Step,
        _: &[String],
    ) -> Result<Vec<String>, String> {
        Err("stopped for the test".into())
    }
    fn step_done(
        &mut self,
        _: usize,
        _: &keyrite::ceremony::script::Step,
        _: &keyrite::ceremony::actions::StepOutcome,
    ) {
    }
    fn notice(&mut self, _: &str) {}
}

#[test]
fn a_transcript_resumes_only_with_its_own_script_and_profile_and_real_profiles_refuse_stand_ins() {
    let hsm = SoftHsm::new("x");
    let _module = InProcess::enter(&hsm, &["KEYRITE_PIN"]);
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("user.pin");
    fs::write(&pin, USER_PIN).unwrap();
    let script = dir.path().join("script.toml");
    let note = "[[step]]\ntitle = \"S\"\ninstruction = \"I\"\naction = \"note\"\nconfirm = [\"administrator\"]\n";
    fs::write(&script, format!("{HEAD}{note}")).unwrap();
    let profile = dir.path().join("profile.toml");
    fs::write(
        &profile,
        format!(
            "module = \"/usr/lib/softhsm/libsofthsm2.so\"\nroot_token = \"pkcs11:token=x?pin-source=file:{}\"\ninput = \"{1}/in\"\noutput = \"{1}/out\"\n",
            pin.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let err = Ceremony::open(&script, &profile)
        .unwrap()
        .run(&mut Stop)
        .err()
        .unwrap();
    assert!(err.to_string().contains("stopped for the test"), "{err}");
    let transcript = dir.path().join("out/transcript.jsonl");
    let before = fs::read(&transcript).unwrap();
    fs::write(&script, format!("{HEAD}# reviewed again\n{note}")).unwrap();
    let err = Ceremony::open(&script, &profile).err().unwrap().to_string();
    assert!(err.contains("belongs to another ceremony"), "{err}");
    assert_eq!(fs::read(&transcript).unwrap(), before);

    // A stand-in publisher key is for rehearsals only: refused before anything starts.
    let other = dir.path().join("publisher.toml");
    fs::write(&other, format!("{HEAD}[[step]]\ntitle = \"K\"\ninstruction = \"I\"\naction = \"publisher-key\"\nconfirm = [\"administrator\"]\nwith = {{ name = \"p\", publisher_subject = \"C=US,ST=WA,O=P,CN=p\" }}\n")).unwrap();
    let profile2 = dir.path().join("profile2.toml");
    fs::write(
        &profile2,
        fs::read_to_string(&profile)
            .unwrap()
            .replace("/out", "/out2"),
    )
    .unwrap();
    let err = Ceremony::open(&other, &profile2).err().unwrap().to_string();
    assert!(err.contains("only a rehearsal profile"), "{err}");
    assert!(!dir.path().join("out2/transcript.jsonl").exists());
}

#[test]
fn a_missing_output_medium_or_an_occupied_mount_point_stops_the_ceremony_before_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.toml");
    fs::write(
        &script,
        format!("{HEAD}[[step]]\ntitle = \"S\"\ninstruction = \"I\"\naction = \"note\"\nconfirm = [\"administrator\"]\n"),
    )
    .unwrap();
    let profile = |name: &str, output: &str, device: &str| {
        let path = dir.path().join(name);
        fs::write(
            &path,
            format!(
                "module = \"/usr/lib/softhsm/libsofthsm2.so\"\nroot_token = \"pkcs11:token=x\"\ninput = \"{}/in\"\noutput = \"{output}\"\noutput_device = \"{device}\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        path
    };
    let out = dir.path().join("out");
    // No stick with that label (nor that device) is attached.
    for device in ["LABEL=KEYRITE-ABSENT", "/dev/keyrite-absent"] {
        let err = Ceremony::open(
            &script,
            &profile("absent.toml", &out.display().to_string(), device),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains(&format!(
                "the output medium {device} is not attached: insert it"
            )),
            "{err}"
        );
        assert!(!out.exists(), "{}", out.display());
    }
    // Something is mounted there already: keyrite does not write into it.
    let err = Ceremony::open(&script, &profile("busy.toml", "/proc", "/dev/null"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("/proc is already a mount point"), "{err}");
    assert!(!Path::new("/proc/transcript.jsonl").exists());
}
