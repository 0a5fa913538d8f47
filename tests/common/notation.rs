//! The real notation CLI as a judge: found from `$NOTATION` or `PATH`, run hermetic (its own
//! config, cache and libexec directories, no inherited environment), offline (proxies that
//! go nowhere, and no network namespace where `unshare -n` works) and time-bounded.
//!
//! Without a notation, a test that needs one says so and passes, unless
//! `KEYRITE_REQUIRE_NOTATION=1` (CI sets it), which makes a missing notation a failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use super::Token;
use super::ceremony::Ceremony;

/// How long one notation command may take before it is killed.
const TIMEOUT_SECS: &str = "60";

/// A notation binary.
pub struct Notation {
    bin: PathBuf,
}

/// The notation to test against, or `None` (after saying why) when there is none and CI
/// does not require one.
pub fn find(test: &str) -> Option<Notation> {
    let bin = std::env::var_os("NOTATION")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("notation"))
                    .find(|p| p.is_file())
            })
        });
    match bin {
        Some(bin) => Some(Notation { bin }),
        None if std::env::var("KEYRITE_REQUIRE_NOTATION").as_deref() == Ok("1") => panic!(
            "{test}: KEYRITE_REQUIRE_NOTATION=1 but there is no notation: set NOTATION to the binary ../shared/notation/build prints"
        ),
        None => {
            eprintln!(
                "{test}: SKIPPED: no notation ($NOTATION unset and none on PATH); build one with ../shared/notation/build and export NOTATION"
            );
            None
        }
    }
}

impl Notation {
    /// The binary.
    pub fn path(&self) -> &Path {
        &self.bin
    }
}

/// Whether `unshare -n` works here (root, or user namespaces allowed).
pub fn can_unshare() -> bool {
    static CAN: OnceLock<bool> = OnceLock::new();
    *CAN.get_or_init(|| {
        Command::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The network a notation command runs on.
#[derive(Clone, Debug)]
pub enum Net {
    /// None at all where `unshare -n` works: a test that must not reach anything.
    Offline,
    /// A network namespace (`ip netns`), e.g. a build host that reaches a signing host.
    Namespace(String),
    /// This machine's own, for a service on loopback.
    Loopback,
}

/// A host's notation directories: config (trust store, policy, keys), cache (CRLs) and
/// libexec (plugins).
#[derive(Clone)]
pub struct Dirs {
    /// `{NOTATION_CONFIG}`.
    pub config: PathBuf,
    /// `{NOTATION_CACHE}`.
    pub cache: PathBuf,
    /// `{NOTATION_LIBEXEC}`.
    pub libexec: PathBuf,
}

impl Dirs {
    /// Directories under `root`.
    pub fn under(root: &Path) -> Dirs {
        Dirs {
            config: root.join("notation-config"),
            cache: root.join("notation-cache"),
            libexec: root.join("notation-libexec"),
        }
    }
}

/// What notation said about a signature: its verdict word as keyrite-import's check would
/// name it, and its output.
#[derive(Clone, Debug)]
pub struct Said {
    /// `trusted`, `untrusted`, `expired`, `revoked` or `timestamp-required`.
    pub word: &'static str,
    /// stdout and stderr.
    pub text: String,
}

impl Notation {
    /// `notation ARGS` for `dirs`, hermetic and offline, with `envs` added (a plugin's
    /// secrets and module).
    pub fn command(&self, dirs: &Dirs, envs: &[(&str, String)]) -> Command {
        self.command_on(&Net::Offline, dirs, envs)
    }

    /// `notation ARGS` for `dirs`, hermetic, on the network `net`.
    pub fn command_on(&self, net: &Net, dirs: &Dirs, envs: &[(&str, String)]) -> Command {
        let mut cmd = match net {
            Net::Offline if can_unshare() => {
                let mut c = Command::new("unshare");
                c.args(["-n", "timeout", "-k", "5", TIMEOUT_SECS]);
                c
            }
            Net::Namespace(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "timeout", "-k", "5", TIMEOUT_SECS]);
                c
            }
            Net::Offline | Net::Loopback => {
                let mut c = Command::new("timeout");
                c.args(["-k", "5", TIMEOUT_SECS]);
                c
            }
        };
        cmd.arg(&self.bin)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &dirs.config)
            .env("NOTATION_CONFIG", &dirs.config)
            .env("NOTATION_CACHE", &dirs.cache)
            .env("NOTATION_LIBEXEC", &dirs.libexec)
            .env("NOTATION_EXPERIMENTAL", "1")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs notation; (success, stdout and stderr).
    pub fn run(&self, dirs: &Dirs, envs: &[(&str, String)], args: &[&str]) -> (bool, String) {
        self.run_on(&Net::Offline, dirs, envs, args)
    }

    /// Runs notation on the network `net`; (success, stdout and stderr).
    pub fn run_on(
        &self,
        net: &Net,
        dirs: &Dirs,
        envs: &[(&str, String)],
        args: &[&str],
    ) -> (bool, String) {
        let out: Output = self
            .command_on(net, dirs, envs)
            .args(args)
            .output()
            .expect("run notation");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Registers a local key: `keyPath` a PKCS#8 PEM, `certPath` the chain leaf → root.
    pub fn add_local_key(&self, dirs: &Dirs, name: &str, key: &Path, chain: &Path) {
        fs::create_dir_all(&dirs.config).unwrap();
        let path = dirs.config.join("signingkeys.json");
        let mut doc: serde_json::Value = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::json!({"keys": []}));
        doc["keys"].as_array_mut().unwrap().push(serde_json::json!({
            "name": name, "keyPath": key, "certPath": chain,
        }));
        fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    }

    /// Signs `layout@digest` with key `key`, in `format` (`jws` or `cose`).
    pub fn sign(
        &self,
        dirs: &Dirs,
        envs: &[(&str, String)],
        layout: &Path,
        digest: &str,
        key: &str,
        format: &str,
    ) -> (bool, String) {
        let reference = format!("{}@{digest}", layout.display());
        self.run(
            dirs,
            envs,
            &[
                "sign",
                "--oci-layout",
                &reference,
                "--key",
                key,
                "--signature-format",
                format,
            ],
        )
    }

    /// `notation verify` of `layout@digest` as an artifact of `scope`, sorted into check's
    /// words by what notation reports.
    pub fn verify(&self, dirs: &Dirs, layout: &Path, digest: &str, scope: &str) -> Said {
        let reference = format!("{}@{digest}", layout.display());
        let (ok, text) = self.run(
            dirs,
            &[],
            &["verify", "-v", "--oci-layout", &reference, "--scope", scope],
        );
        let word = if ok {
            "trusted"
        } else if text.contains("is revoked") {
            "revoked"
        } else if text.contains("validity period, it was expired at") {
            "expired"
        } else if text.contains("no timestamp countersignature was found") {
            "timestamp-required"
        } else {
            "untrusted"
        };
        Said { word, text }
    }
}

/// An OCI image layout holding one small image (an empty config, no layers), for notation to
/// sign and verify offline; returns the manifest's digest (`sha256:…`).
pub fn oci_layout(dir: &Path, note: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |bytes: &[u8]| -> String {
        let digest = sha256_hex(bytes);
        fs::write(blobs.join(&digest), bytes).unwrap();
        digest
    };
    let config = format!(r#"{{"note":"{note}"}}"#);
    let config_digest = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let manifest_digest = put(manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest_digest}","size":{}}}]}}"#,
        manifest.len()
    );
    fs::write(dir.join("index.json"), index).unwrap();
    format!("sha256:{manifest_digest}")
}

/// SHA-256 of `bytes` in hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// A build machine: notation directories of its own and a layout to sign.
pub struct Build {
    _dir: tempfile::TempDir,
    pub dirs: Dirs,
    pub layout: PathBuf,
    pub digest: String,
}

pub fn build_machine(note: &str) -> Build {
    let dir = tempfile::tempdir().unwrap();
    let dirs = Dirs::under(dir.path());
    let layout = dir.path().join("layout");
    let digest = oci_layout(&layout, note);
    Build {
        _dir: dir,
        dirs,
        layout,
        digest,
    }
}

/// Signs a fresh layout with delegate `name`'s openssl key as a local notation key.
pub fn sign_local(n: &Notation, c: &Ceremony, name: &str, format: &str) -> Build {
    let b = build_machine(&format!("{name}-{format}"));
    n.add_local_key(
        &b.dirs,
        name,
        &c.hsm.dir().join(format!("{name}.key")),
        &c.chain(name),
    );
    let (ok, text) = n.sign(&b.dirs, &[], &b.layout, &b.digest, name, format);
    assert!(ok, "notation sign with {name}: {text}");
    b
}
