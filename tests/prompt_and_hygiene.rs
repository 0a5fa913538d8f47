//! A PIN typed at the prompt, as an officer does it (in tmux): never echoed, and the process
//! that waits for it has core dumps off and its memory locked. Where the OS refuses to lock
//! memory, keyrite says so and carries on.

mod common;

use std::fs;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

/// A tmux session on a private server socket, killed on drop.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket);
        cmd
    }

    fn screen(&self) -> String {
        run_ok(self.tmux().args(["capture-pane", "-p", "-t", "ceremony"]))
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {text:?}; screen:\n{screen}"
            );
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

#[test]
fn a_pin_typed_at_the_prompt_is_not_echoed_and_the_waiting_process_is_hardened() {
    let hsm = SoftHsm::new("prompted");
    let out = hsm.dir().join("out");
    let tmux = Tmux {
        socket: hsm.dir().join("tmux.sock"),
    };
    let mut env = vec![(
        "KEYRITE_PKCS11_MODULE".to_owned(),
        SOFTHSM_MODULE.to_owned(),
    )];
    env.extend(hsm.envs().into_iter().map(|(k, v)| (k.to_owned(), v)));
    let mut cmd = tmux.tmux();
    cmd.args([
        "new-session",
        "-d",
        "-s",
        "ceremony",
        "-x",
        "120",
        "-y",
        "40",
    ]);
    for (k, v) in &env {
        cmd.arg("-e").arg(format!("{k}={v}"));
    }
    cmd.arg(env!("CARGO_BIN_EXE_keyrite"))
        .args(["root", "create", "--token", "pkcs11:token=prompted"])
        .args(["--subject", "C=US,ST=WA,O=Example,CN=Prompted Root"])
        .args(["--validity", "20y", "--out"])
        .arg(&out)
        .env_remove("KEYRITE_PIN")
        .env_remove("KEYRITE_REHEARSAL");
    run_ok(&mut cmd);
    // Keep the pane open after keyrite exits so its last screen can be read.
    run_ok(
        tmux.tmux()
            .args(["set-option", "-t", "ceremony", "remain-on-exit", "on"]),
    );
    tmux.wait_for("PIN for token 'prompted':");

    // The process waiting at the prompt: no core dumps, memory locked.
    let pid = run_ok(
        tmux.tmux()
            .args(["list-panes", "-t", "ceremony", "-F", "#{pane_pid}"]),
    );
    let pid = pid.trim();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(core.split_whitespace().nth(4) == Some("0"), "{core}");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Name:\tkeyrite"), "{status}");
    let locked: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap();
    assert!(locked > 0, "memory is not locked:\n{status}");

    run_ok(
        tmux.tmux()
            .args(["send-keys", "-t", "ceremony", USER_PIN, "Enter"]),
    );
    let screen = tmux.wait_for("Root CA created");
    assert!(!screen.contains(USER_PIN), "the PIN was echoed:\n{screen}");
    assert!(out.join("root.crt").exists());
}

#[test]
fn where_memory_cannot_be_locked_keyrite_says_so_and_carries_on() {
    let hsm = SoftHsm::new("unlocked");
    // An unprivileged user with a small RLIMIT_MEMLOCK cannot lock a whole process.
    let (ok, text) = run(Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .args(["prlimit", "--memlock=65536:65536"])
        .arg(env!("CARGO_BIN_EXE_keyrite"))
        .args(["token", "list", "--module", SOFTHSM_MODULE])
        .envs(hsm.envs()));
    assert!(
        text.contains("keyrite: note: memory not locked"),
        "expected a note about memory locking:\n{text}"
    );
    // It carried on: the module was loaded (the token directory is not readable by nobody,
    // so SoftHSM shows only its empty slot) and the command succeeded.
    assert!(ok, "{text}");
    assert!(
        text.contains("Module /usr/lib/softhsm/libsofthsm2.so"),
        "{text}"
    );
}
