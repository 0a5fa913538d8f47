//! keyrite-signd as a build machine meets it: a signing host and a build host joined by a
//! veth pair, each its own network namespace (`ip netns`, when this machine allows it; both on
//! loopback otherwise), the service's and its clients' certificates from openssl CAs, and the
//! service started on the signing host with a configuration the test writes.
//!
//! Findings that shape it: `ip netns exec` needs root; a namespace's `lo` starts down; the
//! veth names must be unique in the first namespace while they are made, the addresses only
//! within each pair's namespaces.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::notation::Net;
use super::openssl_ca::OpensslCa;
use super::run_ok;

/// The signing host's address on the veth pair.
const SIGN_IP: &str = "10.77.0.2";
/// The build host's.
const BUILD_IP: &str = "10.77.0.1";

/// Two hosts: where the service runs and where notation runs.
pub struct Hosts {
    /// The namespaces, `(build, sign)`, when made.
    namespaces: Option<(String, String)>,
}

impl Hosts {
    /// Two namespaces joined by a veth pair, or loopback (saying why) when they cannot be made.
    pub fn new() -> Hosts {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        let (build, sign) = (format!("krs-build-{id}"), format!("krs-sign-{id}"));
        let (vb, vs) = (format!("kb{id}"), format!("ks{id}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &build],
            vec!["netns", "add", &sign],
            vec!["link", "add", &vb, "type", "veth", "peer", "name", &vs],
            vec!["link", "set", &vb, "netns", &build],
            vec!["link", "set", &vs, "netns", &sign],
            vec!["-n", &build, "addr", "add", "10.77.0.1/30", "dev", &vb],
            vec!["-n", &sign, "addr", "add", "10.77.0.2/30", "dev", &vs],
            vec!["-n", &build, "link", "set", &vb, "up"],
            vec!["-n", &sign, "link", "set", &vs, "up"],
            vec!["-n", &build, "link", "set", "lo", "up"],
            vec!["-n", &sign, "link", "set", "lo", "up"],
        ];
        let hosts = Hosts {
            namespaces: Some((build.clone(), sign.clone())),
        };
        for step in steps {
            let out = Command::new("ip").args(&step).output();
            let failed = match &out {
                Ok(o) if o.status.success() => None,
                Ok(o) => Some(String::from_utf8_lossy(&o.stderr).into_owned()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = failed {
                eprintln!(
                    "two network namespaces cannot be made here (ip {}: {}): build and signing \
                     hosts share loopback",
                    step.join(" "),
                    why.trim()
                );
                drop(hosts);
                return Hosts { namespaces: None };
            }
        }
        hosts
    }

    /// The signing host's address as clients reach it.
    pub fn sign_ip(&self) -> &'static str {
        if self.namespaces.is_some() {
            SIGN_IP
        } else {
            "127.0.0.1"
        }
    }

    /// The build host's address as the service sees it.
    pub fn build_ip(&self) -> &'static str {
        if self.namespaces.is_some() {
            BUILD_IP
        } else {
            "127.0.0.1"
        }
    }

    /// Where notation runs.
    pub fn build_net(&self) -> Net {
        match &self.namespaces {
            Some((build, _)) => Net::Namespace(build.clone()),
            None => Net::Loopback,
        }
    }

    /// `program` run on the signing host.
    pub fn on_sign_host(&self, program: &Path) -> Command {
        self.on(program, |(_, sign)| sign)
    }

    /// `program` run on the build host.
    pub fn on_build_host(&self, program: &Path) -> Command {
        self.on(program, |(build, _)| build)
    }

    fn on(&self, program: &Path, pick: fn(&(String, String)) -> &String) -> Command {
        match &self.namespaces {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", pick(ns)]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Some((build, sign)) = &self.namespaces {
            for ns in [build, sign] {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }
}

/// The TLS side: a CA for the service's certificate, one for clients' and a stranger's CA.
pub struct TlsPki {
    dir: PathBuf,
    /// Issues the service's certificate.
    pub server_ca: OpensslCa,
    /// Issues clients' certificates.
    pub client_ca: OpensslCa,
    /// A CA the service does not know.
    pub other_ca: OpensslCa,
}

/// A client's certificate chain file and its key (`file:` URI, with the `.pub` keyrite reads).
pub struct ClientCert {
    /// The certificate (PEM), alone.
    pub cert: PathBuf,
    /// The key file.
    pub key: PathBuf,
}

impl ClientCert {
    /// The key as a keyrite key URI.
    pub fn key_uri(&self) -> String {
        format!("file:{}", self.key.display())
    }
}

/// Writes the `.pub` beside an openssl key file, as keyrite's key files have.
fn public_beside(key: &Path) {
    let mut public = key.as_os_str().to_owned();
    public.push(".pub");
    run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(key)
            .arg("-out")
            .arg(PathBuf::from(public)),
    );
}

impl TlsPki {
    /// The three CAs under `dir`, and the service's certificate for `hosts`' signing address.
    pub fn new(dir: &Path, hosts: &Hosts) -> TlsPki {
        let ca = |name: &str, cn: &str| {
            OpensslCa::new(
                &dir.join(name),
                &format!("/O=Example/CN={cn}"),
                "http://unused.example/crl",
            )
        };
        let pki = TlsPki {
            dir: dir.to_owned(),
            server_ca: ca("server-ca", "Signing Host CA"),
            client_ca: ca("client-ca", "Build Clients CA"),
            other_ca: ca("other-ca", "Another CA"),
        };
        pki.server_ca.issue(
            "server",
            "/O=Example/CN=signing-host",
            Some(&format!(
                "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                 extendedKeyUsage = serverAuth\nsubjectAltName = IP:{},IP:127.0.0.1",
                hosts.sign_ip()
            )),
            &[],
        );
        public_beside(&pki.server_key());
        pki
    }

    /// The service's chain file (its certificate, then the CA).
    pub fn server_chain(&self) -> PathBuf {
        self.dir.join("server-ca/server.chain.pem")
    }

    /// The service's key file.
    pub fn server_key(&self) -> PathBuf {
        self.server_ca.key("server")
    }

    /// A client certificate `name` (`CN=name, O=Example`) from `ca` with the given `openssl
    /// ca` dates.
    pub fn client(&self, ca: &OpensslCa, name: &str, dates: &[&str]) -> ClientCert {
        ca.issue(
            name,
            &format!("/O=Example/CN={name}"),
            Some(
                "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                 extendedKeyUsage = clientAuth",
            ),
            dates,
        );
        let key = ca.key(name);
        public_beside(&key);
        ClientCert {
            cert: key.with_extension("crt"),
            key,
        }
    }
}

/// A running keyrite-signd.
pub struct Signd {
    child: Child,
    /// `IP:PORT` it listens on.
    pub addr: String,
    /// Its stderr, as a file.
    pub stderr: PathBuf,
}

impl Signd {
    /// Starts the service with `config` (whose `listen` has port 0) on the signing host and
    /// waits until it listens; `Err` with its output when it exits first.
    pub fn start(hosts: &Hosts, config: &Path, envs: &[(&str, String)]) -> Result<Signd, String> {
        let stderr = config.with_extension("stderr");
        let mut child = hosts
            .on_sign_host(&super::signd_binary())
            .arg("--config")
            .arg(config)
            .env_remove("KEYRITE_PIN")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start keyrite-signd");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = fs::read_to_string(&stderr).unwrap_or_default();
            if let Some(rest) = text.split("listening on ").nth(1) {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                return Ok(Signd {
                    child,
                    addr,
                    stderr,
                });
            }
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("exited {status}: {text}"));
            }
            assert!(
                Instant::now() < deadline,
                "keyrite-signd did not start: {text}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// The service's output so far.
    pub fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&self.stderr) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for it to exit; whether it exited 0.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                self.kill();
                return false;
            }
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Signd {
    fn drop(&mut self) {
        self.kill();
    }
}
