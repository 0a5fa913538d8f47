//! Shared fixtures for the integration tests: real PKCS#11 tokens (SoftHSM2, SoftHSM2 behind
//! `p11-kit server`, swtpm with tpm2-pkcs11) and verifiers written by others (OpenSSL, GnuTLS
//! certtool, pkilint). Every tool is required: a missing one fails the test, never skips it.
//! `scripts/test` installs all of them.
//!
//! Findings on Debian 12 that shape these fixtures:
//! - SoftHSM2 always shows one extra free slot beside each initialised token, and slot ids are
//!   random: tokens are selected by label (`pkcs11-tool --token-label`, `pkcs11:token=`).
//! - `p11-kit server` prints shell `export` lines on stdout and forks one `p11-kit remote` per
//!   client connection; slot ids behind the proxy differ from SoftHSM's own (e.g. 0x11).
//! - tpm2-pkcs11 1.9.0 needs `TPM2_PKCS11_STORE` (its sqlite store, created on first use with a
//!   harmless "Cannot prepare version query" warning, hidden by `TPM2_PKCS11_LOG_LEVEL=0`) and
//!   `TPM2_PKCS11_TCTI`; the TSS2 libraries log WARNING/ERROR lines on stderr for every TPM
//!   error (e.g. a wrong PIN), silenced by `TSS2_LOG=all+NONE`. Its tokens all have serial
//!   `0000000000000000` and a model padded with NULs (`SW%20%20%20TPM%00...` in a URI), so
//!   select them by label. It always lists one extra uninitialised slot.
//! - A wrong PIN on tpm2-pkcs11 counts against the TPM's dictionary-attack lockout: a fresh
//!   swtpm locks after 3 failures for 1000 s, after which even the right PIN gets
//!   CKR_PIN_LOCKED. `SwTpm` therefore turns DA lockout off with `tpm2_dictionarylockout`.
//! - The TSS `swtpm:host=H,port=P` TCTI (used by tpm2-pkcs11 and tpm2-tools) sends commands to
//!   port P and control messages to port P+1: swtpm's `--ctrl` port must be the next one.
//! - swtpm serves one client connection at a time: a second process opening the token waits
//!   until the first closes it.
//! - `pkcs11-tool --read-object --type pubkey` (OpenSC 0.23) fails with "cannot create
//!   EVP_PKEY" for EC keys on every token here; read `EC_POINT` from `--list-objects` instead.
//! - pkilint: a self-signed P-384 root with critical basicConstraints CA:TRUE, critical
//!   keyUsage keyCertSign+cRLSign and a SHA-1 (method 1) subjectKeyIdentifier is clean at
//!   `-s WARNING`, with or without authorityKeyIdentifier, with UTF8String or PrintableString
//!   names. Findings seen: no SKI on a CA is `pkix.certificate_skid_ca_missing` (ERROR);
//!   non-critical basicConstraints is ERROR, non-critical keyUsage is WARNING; a SKI that is
//!   not a SHA-1 of the key is `pkix.unknown_subject_key_identifier_calculation_method`
//!   (NOTICE, not gated).
#![allow(dead_code)]

pub mod ceremony;
pub mod in_process;
pub mod memory_root;
pub mod notation;
pub mod odd_ca;
pub mod openssl_ca;
pub mod script_env;
pub mod signd;
pub mod tsa;

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// SoftHSM2's PKCS#11 module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Security officer PIN of every fixture token.
pub const SO_PIN: &str = "87654321";
/// User PIN of every fixture token.
pub const USER_PIN: &str = "123456";

/// How long a fixture waits for a daemon to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Path of a library in Debian's multiarch directory, e.g. `/usr/lib/x86_64-linux-gnu/REL`.
fn multiarch_lib(rel: &str) -> PathBuf {
    PathBuf::from(format!(
        "/usr/lib/{}-linux-gnu/{rel}",
        std::env::consts::ARCH
    ))
}

/// p11-kit's client module, which reaches a `p11-kit server` socket.
pub fn p11kit_client_module() -> PathBuf {
    multiarch_lib("pkcs11/p11-kit-client.so")
}

/// tpm2-pkcs11's module.
pub fn tpm2_pkcs11_module() -> PathBuf {
    multiarch_lib("pkcs11/libtpm2_pkcs11.so")
}

/// OpenSSL's PKCS#11 engine (libp11), which lets `openssl` sign with a key on a token.
pub fn openssl_pkcs11_engine() -> PathBuf {
    multiarch_lib("engines-3/pkcs11.so")
}

/// Runs `cmd` and returns whether it exited 0, with stdout and stderr together.
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/test installs the tools)"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Runs `cmd`, panicking with its output unless it exits 0; returns the output.
pub fn run_ok(cmd: &mut Command) -> String {
    let (ok, text) = run(cmd);
    assert!(ok, "{cmd:?} failed:\n{text}");
    text
}

/// Percent-encodes `s` for a PKCS#11 URI (RFC 7512), keeping unreserved characters and `/:`.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A PKCS#11 token the tests can point keyrite and pkcs11-tool at.
pub trait Token {
    /// The PKCS#11 module that reaches the token.
    fn module(&self) -> PathBuf;
    /// Environment variables the module needs.
    fn envs(&self) -> Vec<(&'static str, String)>;
    /// The token label.
    fn label(&self) -> &str;
    /// A private scratch directory that lives as long as the fixture.
    fn dir(&self) -> &Path;

    /// The user PIN.
    fn pin(&self) -> &str {
        USER_PIN
    }

    /// Writes the user PIN to a mode-0600 file in the scratch directory and returns its path.
    fn pin_file(&self) -> PathBuf {
        let path = self.dir().join("user.pin");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .expect("write PIN file");
        f.write_all(self.pin().as_bytes()).expect("write PIN file");
        path
    }

    /// `pkcs11:token=LABEL?pin-source=file:/path` with a freshly written PIN file.
    fn pin_uri(&self) -> String {
        let pin = self.pin_file();
        format!(
            "pkcs11:token={}?pin-source={}",
            pct(self.label()),
            pct(&format!("file:{}", pin.display()))
        )
    }

    /// The keyrite binary with the token's environment and `KEYRITE_PKCS11_MODULE` set.
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite"));
        cmd.env_remove("KEYRITE_PIN")
            .env_remove("KEYRITE_REHEARSAL")
            .envs(self.envs())
            .env("KEYRITE_PKCS11_MODULE", self.module());
        cmd
    }

    /// `pkcs11-tool` on this token (selected by label) with the token's environment.
    fn pkcs11_tool(&self) -> Command {
        let mut cmd = Command::new("pkcs11-tool");
        cmd.envs(self.envs())
            .arg("--module")
            .arg(self.module())
            .args(["--token-label", self.label()]);
        cmd
    }
}

/// The text of `pkcs11-tool --login --list-objects` on `token` (private objects included).
pub fn pkcs11_tool_list_objects(token: &impl Token) -> String {
    run_ok(
        token
            .pkcs11_tool()
            .args(["--login", "--pin", token.pin(), "--list-objects"]),
    )
}

/// How many objects (keys, certificates, data objects) `token` holds.
pub fn count_objects(token: &impl Token) -> usize {
    const HEADS: [&str; 6] = [
        "Private Key Object",
        "Public Key Object",
        "Secret Key Object",
        "Certificate Object",
        "Data object",
        "Profile object",
    ];
    pkcs11_tool_list_objects(token)
        .lines()
        .filter(|l| HEADS.iter().any(|h| l.starts_with(h)))
        .count()
}

/// A SoftHSM2 token in a private token directory.
pub struct SoftHsm {
    dir: TempDir,
    label: String,
}

impl SoftHsm {
    /// Creates a token directory and initialises a token `label` with `SO_PIN` and `USER_PIN`.
    pub fn new(label: &str) -> SoftHsm {
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        fs::create_dir(&tokens).expect("token dir");
        fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("softhsm2.conf");
        let hsm = SoftHsm {
            dir,
            label: label.to_owned(),
        };
        hsm.add_token(label);
        hsm
    }

    /// Initialises one more token `label` in the same token directory, with the same PINs.
    pub fn add_token(&self, label: &str) {
        run_ok(Command::new("softhsm2-util").envs(self.envs()).args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ]));
    }

    /// Path of the `SOFTHSM2_CONF` file.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }
}

impl Token for SoftHsm {
    fn module(&self) -> PathBuf {
        PathBuf::from(SOFTHSM_MODULE)
    }
    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![("SOFTHSM2_CONF", self.conf().display().to_string())]
    }
    fn label(&self) -> &str {
        &self.label
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A SoftHSM2 token reached through `p11-kit server` and p11-kit's client module, as a
/// network HSM would be.
pub struct P11KitServer {
    /// The token behind the server, for direct checks that bypass the proxy.
    pub softhsm: SoftHsm,
    dir: TempDir,
    child: Child,
}

impl P11KitServer {
    /// Serves `softhsm`'s token on a Unix socket; the server is killed on drop.
    pub fn start(softhsm: SoftHsm) -> P11KitServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("p11-kit.sock");
        let log = fs::File::create(dir.path().join("server.log")).expect("server log");
        let child = Command::new("p11-kit")
            .envs(softhsm.envs())
            .args(["server", "-f", "--provider", SOFTHSM_MODULE, "-n"])
            .arg(&socket)
            .arg(format!("pkcs11:token={}", pct(softhsm.label())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot run p11-kit (scripts/test installs p11-kit)");
        let mut server = P11KitServer {
            softhsm,
            dir,
            child,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while UnixStream::connect(&socket).is_err() {
            let exited = server.child.try_wait().expect("p11-kit server status");
            if exited.is_some() || Instant::now() > deadline {
                let log = fs::read_to_string(server.dir.path().join("server.log"));
                panic!("p11-kit server did not listen on {socket:?} ({exited:?}): {log:?}");
            }
            sleep(Duration::from_millis(20));
        }
        server
    }

    /// Path of the server's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("p11-kit.sock")
    }
}

impl Drop for P11KitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Token for P11KitServer {
    fn module(&self) -> PathBuf {
        p11kit_client_module()
    }
    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![(
            "P11_KIT_SERVER_ADDRESS",
            format!("unix:path={}", self.socket().display()),
        )]
    }
    fn label(&self) -> &str {
        self.softhsm.label()
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A software TPM 2.0 (swtpm) with a tpm2-pkcs11 token, a second PKCS#11 implementation.
pub struct SwTpm {
    dir: TempDir,
    child: Child,
    port: u16,
    label: String,
}

/// A loopback TCP port `p` such that `p` and `p + 1` were both free a moment ago.
fn free_port_pair() -> u16 {
    loop {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = first.local_addr().expect("local addr").port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

impl SwTpm {
    /// Starts swtpm on free loopback ports, turns DA lockout off and initialises token `label`
    /// with `SO_PIN` and `USER_PIN`; swtpm is killed on drop.
    pub fn new(label: &str) -> SwTpm {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["state", "store"] {
            fs::create_dir(dir.path().join(sub)).expect("swtpm dirs");
        }
        let (child, port) = Self::spawn(dir.path());
        let tpm = SwTpm {
            dir,
            child,
            port,
            label: label.to_owned(),
        };
        run_ok(
            Command::new("tpm2_dictionarylockout")
                .env("TPM2TOOLS_TCTI", tpm.tcti())
                .env("TSS2_LOG", "all+NONE")
                .args(["--setup-parameters", "--max-tries=4294967295"])
                .args(["--recovery-time=0", "--lockout-recovery-time=0"]),
        );
        run_ok(
            Command::new("pkcs11-tool")
                .envs(tpm.envs())
                .arg("--module")
                .arg(tpm.module())
                .args(["--init-token", "--label", label, "--so-pin", SO_PIN]),
        );
        run_ok(tpm.pkcs11_tool().args([
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            SO_PIN,
            "--init-pin",
            "--pin",
            USER_PIN,
        ]));
        tpm
    }

    /// Spawns swtpm, retrying with new ports if one was taken meanwhile; returns it and its port.
    fn spawn(dir: &Path) -> (Child, u16) {
        let mut last_log = String::new();
        for _ in 0..5 {
            // The TSS "swtpm" TCTI takes one port and uses the next one for swtpm's control
            // channel, so the two must be adjacent.
            let port = free_port_pair();
            let ctrl = port + 1;
            let log = fs::File::create(dir.join("swtpm.log")).expect("swtpm log");
            let mut child = Command::new("swtpm")
                .args(["socket", "--tpm2", "--tpmstate"])
                .arg(format!("dir={}", dir.join("state").display()))
                .arg("--server")
                .arg(format!("type=tcp,bindaddr=127.0.0.1,port={port}"))
                .arg("--ctrl")
                .arg(format!("type=tcp,bindaddr=127.0.0.1,port={ctrl}"))
                .args(["--flags", "not-need-init,startup-clear"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("swtpm log"))
                .stderr(log)
                .spawn()
                .expect("cannot run swtpm (scripts/test installs swtpm)");
            let deadline = Instant::now() + STARTUP_TIMEOUT;
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return (child, port);
                }
                if child.try_wait().expect("swtpm status").is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = fs::read_to_string(dir.join("swtpm.log")).unwrap_or_default();
                    break;
                }
                sleep(Duration::from_millis(20));
            }
        }
        panic!("swtpm did not start: {last_log}");
    }

    /// The TCTI string that reaches this swtpm.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }
}

impl Drop for SwTpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Token for SwTpm {
    fn module(&self) -> PathBuf {
        tpm2_pkcs11_module()
    }
    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "TPM2_PKCS11_STORE",
                self.dir.path().join("store").display().to_string(),
            ),
            ("TPM2_PKCS11_TCTI", self.tcti()),
            ("TPM2_PKCS11_LOG_LEVEL", "0".to_owned()),
            ("TSS2_LOG", "all+NONE".to_owned()),
        ]
    }
    fn label(&self) -> &str {
        &self.label
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `openssl verify -x509_strict` of a self-signed certificate against itself.
pub fn openssl_verify_self_signed(pem: &Path) -> (bool, String) {
    run(Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(pem)
        .arg(pem))
}

/// GnuTLS `certtool --verify` of a self-signed certificate against itself.
pub fn certtool_verify_self_signed(pem: &Path) -> (bool, String) {
    run(Command::new("certtool")
        .args(["--verify", "--load-ca-certificate"])
        .arg(pem)
        .arg("--infile")
        .arg(pem))
}

/// A tool from the Python venv named by `KEYRITE_VENV` (made by `scripts/test`).
pub fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("KEYRITE_VENV")
        .expect("KEYRITE_VENV is not set: run the tests with scripts/test");
    let tool = Path::new(&venv).join("bin").join(name);
    assert!(
        tool.is_file(),
        "{} is missing: run scripts/test to install it",
        tool.display()
    );
    tool
}

/// pkilint's RFC 5280 linter at `-s WARNING`; success means exit 0 and no finding printed.
pub fn pkilint_cert(pem: &Path) -> (bool, String) {
    let (ok, text) = run(Command::new(venv_tool("lint_pkix_cert"))
        .args(["lint", "-s", "WARNING"])
        .arg(pem));
    (ok && text.trim().is_empty(), text)
}

/// What the pane's shell prints, followed by the status, when keyrite exits.
const EXIT_LINE: &str = "keyrite exited with status ";

/// keyrite running in a tmux session on a private server socket, as an officer would run
/// it in a terminal; the session is killed on drop.
pub struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    /// Starts `keyrite ARGS` on `hsm`'s token in a 120x40 terminal; the pane stays open after
    /// keyrite exits so its last screen can be read.
    pub fn start(hsm: &SoftHsm, args: &[&str]) -> Tmux {
        Tmux::start_sized(hsm, (120, 40), &[], args)
    }

    /// Starts `keyrite ARGS` in a `width`x`height` terminal with `hsm`'s environment and
    /// `envs`.
    pub fn start_sized(
        hsm: &SoftHsm,
        (width, height): (u16, u16),
        envs: &[(&str, &str)],
        args: &[&str],
    ) -> Tmux {
        let tmux = Tmux {
            socket: hsm.dir().join("tmux.sock"),
        };
        let mut cmd = tmux.tmux();
        cmd.args([
            "new-session",
            "-d",
            "-s",
            "ceremony",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
        for (k, v) in envs {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg("-e")
            .arg(format!("KEYRITE_PKCS11_MODULE={SOFTHSM_MODULE}"));
        for (k, v) in hsm.envs() {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        // A shell reports keyrite's exit status on the screen: tmux's own "Pane is dead"
        // line needs tmux to reap the process, which it sometimes misses under load.
        cmd.args([
            "sh",
            "-c",
            &format!("\"$0\" \"$@\"; echo \"{EXIT_LINE}$?\""),
        ])
        .arg(env!("CARGO_BIN_EXE_keyrite"))
        .args(args)
        .env_remove("KEYRITE_PIN")
        .env_remove("KEYRITE_REHEARSAL")
        .env_remove("KEYRITE_PASSPHRASE");
        run_ok(&mut cmd);
        run_ok(
            tmux.tmux()
                .args(["set-option", "-t", "ceremony", "remain-on-exit", "on"]),
        );
        tmux
    }

    /// tmux on this session's server.
    pub fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket);
        cmd
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        run_ok(self.tmux().args(["capture-pane", "-p", "-t", "ceremony"]))
    }

    /// Waits up to 30 s for `text` on a settled screen and returns the screen. A screen
    /// counts as settled when it is unchanged 100 ms later: a capture can catch tmux
    /// halfway through a frame, with the new text drawn and the old cells below it not yet.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_for_any(&[text]).1
    }

    /// Waits as `wait_for` does for the first of `texts` to show; returns its index and the
    /// screen.
    pub fn wait_for_any(&self, texts: &[&str]) -> (usize, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if let Some(i) = texts.iter().position(|t| screen.contains(t)) {
                sleep(Duration::from_millis(100));
                if self.screen() == screen {
                    return (i, screen);
                }
            }
            assert!(
                Instant::now() < deadline,
                "waited for {texts:?}; screen:\n{screen}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// Waits for keyrite to exit and returns its exit status.
    pub fn wait_exit(&self) -> i32 {
        let screen = self.wait_for(EXIT_LINE);
        let line = screen.lines().find(|l| l.contains(EXIT_LINE)).unwrap();
        line.trim()
            .trim_start_matches(EXIT_LINE)
            .parse()
            .unwrap_or_else(|_| panic!("no exit status in {line:?}"))
    }

    /// Types `text` and Enter.
    pub fn type_line(&self, text: &str) {
        run_ok(
            self.tmux()
                .args(["send-keys", "-t", "ceremony", "-l", text]),
        );
        run_ok(self.tmux().args(["send-keys", "-t", "ceremony", "Enter"]));
    }

    /// The pid of keyrite, the child of the pane's shell.
    pub fn pid(&self) -> String {
        let shell = run_ok(
            self.tmux()
                .args(["list-panes", "-t", "ceremony", "-F", "#{pane_pid}"]),
        );
        run_ok(Command::new("pgrep").args(["-P", shell.trim()]))
            .trim()
            .to_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

impl Tmux {
    /// Sends tmux key names (`Enter`, `y`, `Escape`), one after another.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            run_ok(self.tmux().args(["send-keys", "-t", "ceremony", k]));
        }
    }
}

/// The built `notation-keyrite`: the plugin is its own workspace package, built beside
/// keyrite (`cargo test` builds the whole workspace).
pub fn plugin_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_keyrite")).with_file_name("notation-keyrite");
    assert!(
        path.is_file(),
        "{} is not built: run the tests with `cargo test --workspace` (scripts/test does)",
        path.display()
    );
    path
}

/// The `keyrite-signd` binary built beside `keyrite` (a binary of another workspace package).
pub fn signd_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_keyrite")).with_file_name("keyrite-signd");
    assert!(
        path.is_file(),
        "{} is not built: run the tests with `cargo test --workspace` (scripts/test does)",
        path.display()
    );
    path
}

/// Runs `notation-keyrite ARGS` with `request` on stdin and only `envs` of keyrite's secrets
/// set: (exit status, stdout, stderr).
pub fn notation_keyrite(
    args: &[&str],
    request: &[u8],
    envs: &[(&str, String)],
) -> (i32, String, String) {
    let mut child = Command::new(plugin_binary())
        .args(args)
        .env_remove("KEYRITE_PIN")
        .env_remove("KEYRITE_KEY_PASSPHRASE")
        .env_remove("KEYRITE_AGE_IDENTITY")
        .env_remove("KEYRITE_PASSPHRASE")
        .env_remove("KEYRITE_REHEARSAL")
        .env_remove("KEYRITE_PKCS11_MODULE")
        .env_remove("KEYRITE_PKCS11_MODULE_DIRS")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run notation-keyrite");
    // The plugin may refuse before it reads the request; a closed pipe is not a failure here.
    let _ = child.stdin.take().unwrap().write_all(request);
    let out = child.wait_with_output().expect("notation-keyrite output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The generate-signature request notation sends; `payload` is already base64.
pub fn signature_request(
    key_id: &str,
    key_spec: &str,
    hash: &str,
    payload: &str,
) -> serde_json::Value {
    serde_json::json!({
        "contractVersion": "1.0",
        "keyId": key_id,
        "pluginConfig": {},
        "keySpec": key_spec,
        "hashAlgorithm": hash,
        "payload": payload,
    })
}
