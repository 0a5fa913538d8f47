//! keyrite-import killed (SIGKILL) at random moments of an install that changes several files
//! in several directories: notation must only ever see the old install or the new one, and the
//! next keyrite-import command must finish or clear what the crash left.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ceremony::*;
use common::*;

type Snapshot = BTreeMap<PathBuf, (u32, Vec<u8>)>;

/// Milliseconds the importer sleeps after each filesystem step of an install.
const PAUSE_MS: &str = "6";
const TRIALS: u64 = 200;
const STAGING: &str = ".keyrite-import-staging";

/// The site's temporary directory, which holds its config, cache and state directories.
fn site_root(site: &Site) -> PathBuf {
    site.config().parent().expect("site root").to_owned()
}

/// Replaces every `installed_at` in installed.json (the install's wall-clock time) by a
/// placeholder, so installs of the same bundle at different seconds compare equal.
fn normalise_installed(bytes: &[u8]) -> Vec<u8> {
    fn scrub(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "installed_at" {
                        *v = serde_json::Value::String("-".into());
                    } else {
                        scrub(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    let mut doc: serde_json::Value = serde_json::from_slice(bytes).expect("installed.json parses");
    scrub(&mut doc);
    serde_json::to_vec_pretty(&doc).expect("serialise")
}

/// The site's snapshot with paths relative to its root and installed.json's install times
/// normalised.
fn relative(site: &Site) -> Snapshot {
    let root = site_root(site);
    site.snapshot()
        .into_iter()
        .map(|(path, (mode, content))| {
            let rel = path.strip_prefix(&root).expect("under the site").to_owned();
            let content = if rel == Path::new("state/installed.json") {
                normalise_installed(&content)
            } else {
                content
            };
            (rel, (mode, content))
        })
        .collect()
}

/// What notation (and the installed record) show, without the importer's staging trees.
fn visible(snap: &Snapshot) -> Snapshot {
    // Staging directories and the journal not yet renamed into place are what an
    // uncommitted install leaves; recovery clears both.
    snap.iter()
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == STAGING))
        .filter(|(p, _)| !p.ends_with("state/journal.json.tmp"))
        .map(|(p, v)| (p.clone(), v.clone()))
        .collect()
}

fn describe(snap: &Snapshot, old: &Snapshot, new: &Snapshot) -> String {
    let mut out = String::new();
    for (name, other) in [("OLD", old), ("NEW", new)] {
        out.push_str(&format!("differences from {name}:\n"));
        for p in snap
            .keys()
            .chain(other.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            match (snap.get(p), other.get(p)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(_), Some(_)) => out.push_str(&format!("  changed {}\n", p.display())),
                (Some(_), None) => out.push_str(&format!("  extra   {}\n", p.display())),
                (None, _) => out.push_str(&format!("  missing {}\n", p.display())),
            }
        }
    }
    out
}

/// Puts the template's config, cache and state directories back in the site.
fn restore(template: &Path, root: &Path) {
    for d in ["notation-config", "notation-cache", "state"] {
        let p = root.join(d);
        if p.exists() {
            fs::remove_dir_all(&p).expect("remove site dir");
        }
    }
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", template.display()))
            .arg(root),
    );
}

struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        for _ in 0..4 {
            rng.next();
        }
        rng
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn staging_left(site: &Site) -> Vec<PathBuf> {
    [site.config(), site.cache(), site.state()]
        .into_iter()
        .map(|r| r.join(STAGING))
        .filter(|p| p.exists())
        .collect()
}

/// Everything under the staging directories, relative to the site's root.
fn staging_contents(site: &Site) -> Vec<PathBuf> {
    let root = site_root(site);
    let mut out = Vec::new();
    let mut todo = staging_left(site);
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        }
        out.push(p.strip_prefix(&root).unwrap().to_owned());
    }
    out.sort();
    out
}

fn spawn_install(site: &Site, bundle: &Path) -> std::process::Child {
    site.import()
        .arg("install")
        .arg(bundle)
        .env("KEYRITE_IMPORT_STEP_PAUSE_MS", PAUSE_MS)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn keyrite-import")
}

fn policy_file(dir: &Path, name: &str, identities: &[&str]) -> String {
    let path = dir.join(name);
    let ids: Vec<String> = identities.iter().map(|i| format!("\"{i}\"")).collect();
    fs::write(
        &path,
        format!(
            "[[statement]]\nname = \"keyrite-prod\"\nregistry_scopes = [\"registry.example/prod/app\"]\nlevel = \"strict\"\ntrusted_identities = [{}]\n",
            ids.join(", ")
        ),
    )
    .expect("write policy");
    path.display().to_string()
}

#[test]
fn an_install_killed_at_any_moment_leaves_the_old_or_the_new_state() {
    let started = Instant::now();
    let c = Ceremony::new("import-crash");
    let (successor, successor_uri) = c.successor();
    let lineage = c.root_fingerprint();
    let dir = c.hsm.dir();
    // v2 trusts one more identity, so both trust policy files change too.
    let p1 = policy_file(
        dir,
        "policy-1.toml",
        &["x509.subject: C=US, ST=WA, O=Publisher, CN=a"],
    );
    let p2 = policy_file(
        dir,
        "policy-2.toml",
        &[
            "x509.subject: C=US, ST=WA, O=Publisher, CN=a",
            "x509.subject: C=US, ST=WA, O=Publisher, CN=b",
        ],
    );
    let (ok, text, v1) = c.trust_bundle("trust-1.bundle", 1, &["--policy", &p1]);
    assert!(ok, "{text}");
    let successor_arg = successor.display().to_string();
    let (ok, text, v2) = c.trust_bundle(
        "trust-2.bundle",
        2,
        &[
            "--add-root",
            &successor_arg,
            "--cosign",
            &successor_uri,
            "--policy",
            &p2,
        ],
    );
    assert!(ok, "{text}");

    // The site: the user's own statement in both policy files (a site whose hosts run
    // notation 1.3 and the next major), then v1 merged into each.
    let site = Site::new();
    let root = site_root(&site);
    site.pin(&lineage);
    fs::create_dir_all(site.config()).unwrap();
    let user = serde_json::to_vec_pretty(&serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "user-dev",
            "registryScopes": ["registry.example/dev/app"],
            "signatureVerification": { "level": "audit" },
            "trustStores": ["ca:user-store"],
            "trustedIdentities": ["*"],
        }],
    }))
    .unwrap();
    for file in ["trustpolicy.json", "trustpolicy.oci.json"] {
        fs::write(site.config().join(file), &user).unwrap();
    }
    let (ok, text) = site.install(&v1);
    assert!(ok, "{text}");
    let template = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", root.display()))
            .arg(template.path()),
    );
    let old = relative(&site);
    assert!(staging_left(&site).is_empty());

    // NEW, and how long an uninterrupted install takes with the pauses.
    let mut new: Option<Snapshot> = None;
    let mut full = Duration::ZERO;
    for _ in 0..3 {
        restore(template.path(), &root);
        let t = Instant::now();
        let status = spawn_install(&site, &v2).wait().unwrap();
        full = full.max(t.elapsed());
        assert!(status.success(), "{status:?}");
        let snap = relative(&site);
        if let Some(n) = &new {
            assert_eq!(&snap, n, "two uninterrupted installs differ");
        }
        new = Some(snap);
    }
    let new = new.unwrap();
    let changed: Vec<&PathBuf> = new
        .iter()
        .filter(|(p, v)| old.get(*p) != Some(v))
        .map(|(p, _)| p)
        .collect();
    for want in [
        "notation-config/trustpolicy.json",
        "notation-config/trustpolicy.oci.json",
        "state/installed.json",
    ] {
        assert!(
            changed.contains(&&PathBuf::from(want)),
            "{want}: {changed:?}"
        );
    }
    let store =
        PathBuf::from("notation-config/truststore/x509/ca").join(format!("keyrite-{lineage}"));
    assert!(
        changed.iter().any(|p| p.parent() == Some(store.as_path())),
        "{changed:?}"
    );
    let user_policy = String::from_utf8(
        new[&PathBuf::from("notation-config/trustpolicy.json")]
            .1
            .clone(),
    )
    .unwrap();
    assert!(
        user_policy.contains("user-dev") && user_policy.contains("CN=b"),
        "{user_policy}"
    );
    eprintln!(
        "an uninterrupted install with {PAUSE_MS} ms pauses takes {full:?}; it changes {changed:?}"
    );

    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    let mut retried = 0;
    let range = full.as_micros() as u64 + full.as_micros() as u64 / 10;
    for trial in 0..TRIALS {
        restore(template.path(), &root);
        let mut rng = XorShift::new(trial + 1);
        let delay = Duration::from_micros(rng.next() % range);
        let mut child = spawn_install(&site, &v2);
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let killed = status.signal() == Some(9);
        if !killed {
            assert!(status.success(), "trial {trial}: {status:?}");
        }

        // (a) What a crash left, before anything recovers it.
        let journal = site.state().join("journal.json").exists();
        let raw_staging = staging_contents(&site);
        let staged = !raw_staging.is_empty() || site.state().join("journal.json.tmp").exists();
        let raw = relative(&site);
        let raw_visible = visible(&raw);
        let raw_is = if raw_visible == old {
            "OLD"
        } else if raw_visible == new {
            "NEW"
        } else {
            "mixed"
        };
        if !journal {
            assert!(
                raw_is != "mixed",
                "trial {trial} (killed after {delay:?}): no journal but a mixed state\n{}",
                describe(&raw_visible, &old, &new)
            );
        }

        // (b) The next command recovers: old or new, exactly, with no staging left.
        let mut cmd = site.import();
        if trial % 2 == 0 {
            cmd.arg("status");
        } else {
            cmd.arg("recover");
        }
        let (ok, text) = run(&mut cmd);
        assert!(ok, "trial {trial}: {text}");
        let left = staging_contents(&site);
        assert!(
            left.is_empty(),
            "trial {trial} (killed {killed} after {delay:?}, raw {raw_is}, journal {journal}, staging before recovery {raw_staging:?}): staging left: {left:?}"
        );
        let after = visible(&relative(&site));
        assert!(!site.state().join("journal.json").exists());
        assert!(!site.state().join("journal.json.tmp").exists());
        let after_is = if after == old {
            "OLD"
        } else if after == new {
            "NEW"
        } else {
            panic!(
                "trial {trial} (killed after {delay:?}, raw {raw_is}, journal {journal}): recovery left a mixed state\n{}",
                describe(&after, &old, &new)
            )
        };
        // A committed journal rolls forward; without one, recovery changes nothing notation sees.
        if journal {
            assert_eq!(
                after_is, "NEW",
                "trial {trial}: a committed journal was undone"
            );
        } else {
            assert_eq!(
                after_is, raw_is,
                "trial {trial}: recovery changed the state"
            );
        }
        *counts
            .entry(match (killed, journal, after_is) {
                (false, _, _) => "finished before the kill",
                (true, true, _) => "killed mid-apply (journal), recovered to NEW",
                (true, false, "NEW") => "killed after apply, NEW",
                (true, false, _) if staged => "killed while staging, recovered to OLD",
                (true, false, _) => "killed before staging, OLD",
            })
            .or_default() += 1;
        *counts.entry(after_is).or_default() += 1;

        // An interrupted install leaves nothing that blocks a retry.
        if after_is == "OLD" && retried < 3 {
            retried += 1;
            let (ok, text) = site.install(&v2);
            assert!(ok, "trial {trial}: the retry failed: {text}");
            assert_eq!(relative(&site), new, "trial {trial}: the retry");
            assert!(staging_left(&site).is_empty(), "trial {trial}: the retry");
            let (ok, text) = run(site.import().arg("status"));
            assert!(ok, "trial {trial}: {text}");
        }
    }
    eprintln!("{TRIALS} trials in {:?}: {counts:#?}", started.elapsed());
    assert!(counts.get("OLD").copied().unwrap_or(0) >= 1, "{counts:?}");
    assert!(counts.get("NEW").copied().unwrap_or(0) >= 1, "{counts:?}");
    assert!(
        counts
            .get("killed mid-apply (journal), recovered to NEW")
            .copied()
            .unwrap_or(0)
            >= 5,
        "{counts:?}"
    );
    assert!(
        counts
            .get("killed while staging, recovered to OLD")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{counts:?}"
    );
    assert!(retried >= 1);
}

/// An empty staging directory, as a kill between `mkdir .keyrite-import-staging` and
/// `mkdir .keyrite-import-staging/<txn>` leaves it, is removed by recovery.
#[test]
fn recovery_removes_an_empty_staging_directory() {
    let site = Site::new();
    for root in [site.config(), site.cache(), site.state()] {
        fs::create_dir_all(root.join(STAGING)).unwrap();
    }
    let (ok, text) = run(site.import().arg("recover"));
    assert!(ok, "{text}");
    assert_eq!(staging_left(&site), Vec::<PathBuf>::new());
}
