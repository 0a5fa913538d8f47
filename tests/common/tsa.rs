//! A local RFC 3161 timestamping authority for notation to call: `openssl ts -reply` behind a
//! small Python HTTP handler on 127.0.0.1, on a port the kernel picks, stopped when dropped.
//! Its root and signing certificate follow what notation's TSA client requires
//! (../shared/docs/timestamping.md): a self-signed CA root; a signer with keyUsage
//! digitalSignature and a critical extendedKeyUsage of timeStamping alone; no CDP or AIA;
//! `ess_cert_id_alg = sha256`, `signer_digest = sha256`, SHA-256/384/512 imprints, 1 s accuracy.
//! Both certificates are back-dated a day, as notation checks the timestamp's time against
//! every certificate of the chain.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::openssl_ca::OpensslCa;

/// The HTTP handler: one `openssl ts -reply` per POST, one at a time (openssl rewrites its
/// serial file), the reply as `application/timestamp-reply`.
pub const HANDLER: &str = r#"
import http.server, subprocess, sys, tempfile, threading, os
conf = sys.argv[1]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0'))
        query = self.rfile.read(n)
        with lock, tempfile.TemporaryDirectory() as d:
            q = os.path.join(d, 'q.tsq'); r = os.path.join(d, 'r.tsr')
            open(q, 'wb').write(query)
            p = subprocess.run(['openssl', 'ts', '-reply', '-config', conf, '-queryfile', q, '-out', r],
                               capture_output=True)
            if p.returncode != 0:
                sys.stderr.write(p.stderr.decode(errors='replace'))
                self.send_response(500); self.end_headers(); return
            reply = open(r, 'rb').read()
        self.send_response(200)
        self.send_header('Content-Type', 'application/timestamp-reply')
        self.send_header('Content-Length', str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *args):
        pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// A running TSA.
pub struct Tsa {
    child: Child,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    /// The TSA's root (PEM), for `--timestamp-root-cert` and a trust bundle's `--tsa-root`.
    pub root: PathBuf,
}

/// A TSA's certificates and `openssl ts` configuration, made but not started: what a shell
/// in another network namespace starts itself, with `python3 -c "$HANDLER" CONF`, which
/// prints the port it listens on.
pub struct Prepared {
    /// The `openssl ts` configuration the handler takes.
    pub conf: PathBuf,
    /// The TSA's root (PEM).
    pub root: PathBuf,
    /// The TSA's timestamping certificate (PEM), which its root issued.
    pub signer: PathBuf,
}

impl Tsa {
    /// Makes the TSA's certificates under `dir` and starts it.
    pub fn start(dir: &Path) -> Tsa {
        let prepared = Tsa::prepare(dir);
        let mut child = Command::new("python3")
            .args(["-c", HANDLER])
            .arg(&prepared.conf)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the TSA");
        let mut port = String::new();
        let mut out = child.stdout.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut byte = [0u8; 1];
        while !port.ends_with('\n') {
            assert!(Instant::now() < deadline, "the TSA did not start");
            match std::io::Read::read(&mut out, &mut byte) {
                Ok(1) => port.push(byte[0] as char),
                _ => sleep(Duration::from_millis(20)),
            }
        }
        Tsa {
            child,
            url: format!("http://127.0.0.1:{}/", port.trim()),
            root: prepared.root,
        }
    }

    /// Makes the TSA's certificates and configuration under `dir`, without starting it.
    pub fn prepare(dir: &Path) -> Prepared {
        let ca = OpensslCa::new(
            &dir.join("ca"),
            "/C=US/O=Test TSA/CN=Test TSA Root",
            "http://unused.example/crl",
        );
        let back_dated = ["-startdate", &day_ago(), "-days", "60"];
        ca.issue(
            "signer",
            "/C=US/O=Test TSA/CN=Test TSA",
            Some(
                "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                 extendedKeyUsage = critical,timeStamping\nsubjectKeyIdentifier = hash",
            ),
            &back_dated,
        );
        let conf = dir.join("ts.cnf");
        fs::write(
            &conf,
            format!(
                "[tsa]\ndefault_tsa = tsa1\n[tsa1]\nserial = {dir}/serial\ncrypto_device = builtin\n\
                 signer_cert = {dir}/ca/signer.crt\nsigner_key = {dir}/ca/signer.key\n\
                 signer_digest = sha256\ndefault_policy = 1.3.6.1.4.1.99999.1.1\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = yes\n\
                 tsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        fs::write(dir.join("serial"), "01\n").unwrap();
        Prepared {
            conf,
            root: ca.root.clone(),
            signer: dir.join("ca/signer.crt"),
        }
    }
}

/// `openssl ca -startdate` a day ago.
fn day_ago() -> String {
    let out = Command::new("date")
        .args(["-u", "-d", "1 day ago", "+%y%m%d%H%M%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Drop for Tsa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
