//! docs/publisher.md, run as written: every `sh` block, in order, in one shell on a fresh
//! home directory, offline, with the real notation. A command the page shows that does not
//! work fails this test.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::notation;
use common::tsa::{HANDLER, Tsa};

/// The page's `sh` blocks, in order.
fn doc_commands() -> String {
    let page = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/publisher.md"))
        .expect("docs/publisher.md");
    let mut commands = String::new();
    let mut inside = false;
    for line in page.lines() {
        match (inside, line.trim_end()) {
            (false, "```sh") => inside = true,
            (true, "```") => inside = false,
            (true, l) => {
                commands.push_str(l);
                commands.push('\n');
            }
            _ => {}
        }
    }
    assert!(!inside, "docs/publisher.md has an unclosed sh block");
    commands
}

#[test]
fn the_publishers_path_runs_as_written() {
    let Some(n) = notation::find("the_publishers_path_runs_as_written") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let bin = tmp.path().join("bin");
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(n.path(), bin.join("notation")).unwrap();
    let image = tmp.path().join("image");
    let digest = notation::oci_layout(&image, "publisher-doc");
    let keyrite_dir = Path::new(env!("CARGO_BIN_EXE_keyrite")).parent().unwrap();
    // The TSA section's TSA, started inside the script's network namespace, where only its
    // loopback exists.
    let tsa = Tsa::prepare(&tmp.path().join("tsa"));
    let script = format!(
        "set -euo pipefail\n\
         ip link set lo up 2>/dev/null || true\n\
         python3 -c \"$TSA_HANDLER\" \"$TSA_CONF\" > \"$TSA_PORT\" &\n\
         TSA_PID=$!\n\
         trap 'kill $TSA_PID' EXIT\n\
         for _ in $(seq 100); do [ -s \"$TSA_PORT\" ] && break; sleep 0.1; done\n\
         export TSA_URL=\"http://127.0.0.1:$(cat \"$TSA_PORT\")/\"\n\
         set -x\n{}",
        doc_commands()
    );
    let mut cmd = if notation::can_unshare() {
        let mut c = Command::new("unshare");
        c.args(["-n", "bash", "-c", &script]);
        c
    } else {
        let mut c = Command::new("bash");
        c.args(["-c", &script]);
        c
    };
    let out = cmd
        .env_clear()
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", bin.display(), keyrite_dir.display()),
        )
        .env("HOME", &home)
        .env("R", tmp.path().join("rehearsal"))
        .env("IMAGE", format!("{}@{digest}", image.display()))
        .env("TSA_HANDLER", HANDLER)
        .env("TSA_CONF", &tsa.conf)
        .env("TSA_ROOT", &tsa.root)
        .env("TSA_PORT", tmp.path().join("tsa.port"))
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .output()
        .expect("run bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "docs/publisher.md as written failed:\n{text}"
    );
    // Each key signed, and the signatures verify offline where the bundles are installed.
    assert_eq!(text.matches("Successfully signed").count(), 5, "{text}");
    assert!(text.contains("trusted:"), "keyrite-import check:\n{text}");
    assert!(text.contains("Successfully verified signature"), "{text}");
    // The site trusts the TSA under keyrite's default rule, and says so.
    assert!(
        text.contains("example-builds: trusts tsa:keyrite-")
            && text.contains(
                "under verifyTimestamp afterCertExpiry: a signature needs a timestamp once"
            ),
        "{text}"
    );
    assert!(
        text.contains("timestamp: under verifyTimestamp afterCertExpiry"),
        "{text}"
    );
}
