//! A small PKI made with keyrite on a SoftHSM2 token (root, delegates `a` and `b`, CRLs and
//! bundles), and an air-gapped site's notation directories for keyrite-import.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::{SoftHsm, Token, run, run_ok};

/// The CDP URL every delegate of the ceremony's root carries.
pub const CRL_URL: &str = "http://crl.example.com/root.crl";

/// A root that issues delegates, CRLs and bundles: its certificate, its key's URI (with a PIN
/// file) and its ledger directory.
pub struct Issuer {
    /// The root certificate.
    pub cert: PathBuf,
    /// The root key's URI.
    pub key_uri: String,
    /// The ledger directory.
    pub ledger: PathBuf,
}

/// A root on a SoftHSM2 token (object `keyrite-root`) with signing delegates `a` and `b`.
pub struct Ceremony {
    /// The token.
    pub hsm: SoftHsm,
    /// The root certificate.
    pub root: PathBuf,
    /// The ledger directory.
    pub ledger: PathBuf,
}

impl Ceremony {
    /// Creates the root `CN=<label>` and the two delegates.
    pub fn new(label: &str) -> Ceremony {
        let hsm = SoftHsm::new(label);
        let out = hsm.dir().join("root");
        run_ok(
            hsm.command()
                .args(["root", "create", "--token", &hsm.pin_uri()])
                .args(["--subject", &format!("C=US,ST=WA,O=Example,CN={label}")])
                .args(["--validity", "5y", "--out"])
                .arg(&out),
        );
        let c = Ceremony {
            root: out.join("root.crt"),
            ledger: hsm.dir().join("ledger"),
            hsm,
        };
        for name in ["a", "b"] {
            c.delegate(name);
        }
        c
    }

    /// A second root key and certificate on the same token (object `successor`), for
    /// rotation; returns its certificate and its key's URI.
    pub fn successor(&self) -> (PathBuf, String) {
        let out = self.hsm.dir().join("successor");
        let uri = format!(
            "pkcs11:token={};object=successor?pin-source=file:{}",
            self.hsm.label(),
            self.hsm.pin_file().display()
        );
        run_ok(
            self.hsm
                .command()
                .args(["root", "create", "--token", &uri])
                .args(["--subject", "C=US,ST=WA,O=Example,CN=Successor Root"])
                .args(["--validity", "5y", "--out"])
                .arg(&out),
        );
        (out.join("root.crt"), uri)
    }

    /// The successor root (made by [`Ceremony::successor`]) as an [`Issuer`], with its own
    /// ledger.
    pub fn successor_issuer(&self, cert: &Path, key_uri: &str) -> Issuer {
        Issuer {
            cert: cert.to_owned(),
            key_uri: key_uri.to_owned(),
            ledger: self.hsm.dir().join("successor-ledger"),
        }
    }

    /// Issues signing delegate `name` (its key made by openssl) under the root.
    pub fn delegate(&self, name: &str) {
        self.delegate_under(&self.root_issuer(), name, CRL_URL);
    }

    /// Issues signing delegate `name` (its key made by openssl) under `issuer`, with the CRL
    /// distribution point `crl_url`; its chain is [`Ceremony::chain`] like the root's
    /// delegates'.
    pub fn delegate_under(&self, issuer: &Issuer, name: &str, crl_url: &str) {
        let csr = openssl_csr(
            self.hsm.dir(),
            name,
            &format!("/C=US/ST=WA/O=Publisher/CN={name}"),
        );
        self.issue_under(issuer, &csr, crl_url, &self.hsm.dir().join("issued"));
    }

    /// Issues a one-year signing certificate for `csr` into `out` (`NAME.crt`,
    /// `NAME.chain.pem`), with the CRL distribution point `CRL_URL`.
    pub fn issue(&self, csr: &Path, out: &Path) {
        self.issue_under(&self.root_issuer(), csr, CRL_URL, out);
    }

    /// Issues a one-year signing certificate for `csr` under `issuer` into `out`, with the CRL
    /// distribution point `crl_url`.
    pub fn issue_under(&self, issuer: &Issuer, csr: &Path, crl_url: &str, out: &Path) {
        self.issue_for(issuer, csr, crl_url, "1y", out);
    }

    /// Issues signing delegate `name` with `subject` (its key made by openssl) under the
    /// root, valid for `validity`; its chain is [`Ceremony::chain`].
    pub fn delegate_with(&self, name: &str, subject: &str, validity: &str) {
        let csr = openssl_csr(self.hsm.dir(), name, subject);
        self.issue_for(
            &self.root_issuer(),
            &csr,
            CRL_URL,
            validity,
            &self.hsm.dir().join("issued"),
        );
    }

    /// Issues a signing certificate for `csr` under `issuer` into `out`, valid for
    /// `validity`, with the CRL distribution point `crl_url`.
    pub fn issue_for(
        &self,
        issuer: &Issuer,
        csr: &Path,
        crl_url: &str,
        validity: &str,
        out: &Path,
    ) {
        run_ok(
            self.hsm
                .command()
                .args(["delegate", "issue", "--token", &issuer.key_uri])
                .arg("--root-cert")
                .arg(&issuer.cert)
                .arg("--csr")
                .arg(csr)
                .args(["--profile", "signing", "--validity", validity])
                .args(["--crl-url", crl_url])
                .arg("--ledger")
                .arg(&issuer.ledger)
                .arg("--out")
                .arg(out),
        );
    }

    /// A publisher key at `key_id` made by `keyrite publisher keygen` (`algorithm` `p384`,
    /// `rsa3072`, …; a key file sealed to `KEYRITE_KEY_PASSPHRASE` from `envs` with a light
    /// work factor), certified by this ceremony with subject `C=US,ST=WA,O=Publisher,
    /// CN=plugin-ALGORITHM`, and its chain recorded by `publisher install-chain`; returns the
    /// chain file.
    pub fn publisher_key(&self, key_id: &str, algorithm: &str, envs: &[(&str, String)]) -> PathBuf {
        let work = self.hsm.dir().join(format!("plugin-{algorithm}"));
        fs::create_dir_all(&work).unwrap();
        let csr = work.join(format!("{algorithm}.csr"));
        let mut keygen = Command::new(env!("CARGO_BIN_EXE_keyrite"));
        keygen
            .env_remove("KEYRITE_PIN")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .args([
                "publisher",
                "keygen",
                "--key",
                key_id,
                "--algorithm",
                algorithm,
            ])
            .args([
                "--subject",
                &format!("C=US,ST=WA,O=Publisher,CN=plugin-{algorithm}"),
            ])
            .arg("--out")
            .arg(&csr);
        if key_id.starts_with("file:") {
            keygen.args(["--scrypt-work-factor", "14"]);
        }
        run_ok(&mut keygen);
        self.issue(&csr, &work);
        let chain = work.join(format!("{algorithm}.chain.pem"));
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_keyrite"))
                .env_remove("KEYRITE_PIN")
                .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
                .args(["publisher", "install-chain", "--key", key_id, "--chain"])
                .arg(&chain),
        );
        chain
    }

    /// The ceremony's root as an [`Issuer`].
    pub fn root_issuer(&self) -> Issuer {
        Issuer {
            cert: self.root.clone(),
            key_uri: self.root_key_uri(),
            ledger: self.ledger.clone(),
        }
    }

    /// The root key's URI with a PIN file.
    pub fn root_key_uri(&self) -> String {
        format!(
            "pkcs11:token={};object=keyrite-root?pin-source=file:{}",
            self.hsm.label(),
            self.hsm.pin_file().display()
        )
    }

    /// Delegate `name`'s chain (leaf, root), PEM.
    pub fn chain(&self, name: &str) -> PathBuf {
        self.hsm
            .dir()
            .join("issued")
            .join(format!("{name}.chain.pem"))
    }

    /// Delegate `name`'s serial, as openssl prints it.
    pub fn serial(&self, name: &str) -> String {
        run_ok(
            Command::new("openssl")
                .args(["x509", "-noout", "-serial", "-in"])
                .arg(self.hsm.dir().join("issued").join(format!("{name}.crt"))),
        )
        .trim()
        .trim_start_matches("serial=")
        .to_owned()
    }

    /// Issues a CRL `file` of the root, valid 30 days, revoking `revoke` (serials) and
    /// returns its path.
    pub fn crl(&self, file: &str, revoke: &[String]) -> PathBuf {
        self.crl_by(&self.root_issuer(), file, revoke, "30d")
    }

    /// Issues a CRL `file` of `issuer` with `--next-update next_update`, revoking `revoke`
    /// (serials), and returns its path.
    pub fn crl_by(
        &self,
        issuer: &Issuer,
        file: &str,
        revoke: &[String],
        next_update: &str,
    ) -> PathBuf {
        let out = self.hsm.dir().join(file);
        let mut cmd = self.hsm.command();
        cmd.args(["crl", "issue", "--token", &issuer.key_uri])
            .arg("--root-cert")
            .arg(&issuer.cert)
            .arg("--ledger")
            .arg(&issuer.ledger)
            .args(["--next-update", next_update, "--out"])
            .arg(&out);
        for r in revoke {
            cmd.args(["--revoke", r]);
        }
        run_ok(&mut cmd);
        out
    }

    /// The path of bundle `name` (not yet made).
    pub fn bundle_path(&self, name: &str) -> PathBuf {
        self.hsm.dir().join("bundles").join(name)
    }

    /// `keyrite bundle trust` signed by the root, version `version`, into `name`, declaring
    /// `CRL_URL`, with `extra` arguments.
    pub fn trust_bundle(
        &self,
        name: &str,
        version: u64,
        extra: &[&str],
    ) -> (bool, String, PathBuf) {
        self.trust_bundle_declaring(name, version, &[CRL_URL], extra)
    }

    /// `keyrite bundle trust` signed by the root, version `version`, into `name`, declaring
    /// `urls`, with `extra` arguments.
    pub fn trust_bundle_declaring(
        &self,
        name: &str,
        version: u64,
        urls: &[&str],
        extra: &[&str],
    ) -> (bool, String, PathBuf) {
        self.trust_bundle_expiring(name, version, "1y", urls, extra)
    }

    /// `keyrite bundle trust` signed by the root, version `version`, expiring after
    /// `expires` (a period: `1y`, `5s`), declaring `urls`, with `extra` arguments.
    pub fn trust_bundle_expiring(
        &self,
        name: &str,
        version: u64,
        expires: &str,
        urls: &[&str],
        extra: &[&str],
    ) -> (bool, String, PathBuf) {
        let mut args = vec!["--expires", expires];
        for u in urls {
            args.extend(["--crl-url", u]);
        }
        args.extend(extra);
        self.bundle("trust", &self.root_issuer(), name, version, &args)
    }

    /// `keyrite bundle revocation` carrying `crl` for `CRL_URL`, version `version`, into
    /// `name`.
    pub fn revocation_bundle(&self, name: &str, crl: &Path, version: u64) -> PathBuf {
        let crl = crl.to_str().expect("a UTF-8 path");
        let (ok, text, out) = self.revocation_bundle_by(
            &self.root_issuer(),
            name,
            version,
            &["--crl", crl, "--crl-url", CRL_URL],
        );
        assert!(ok, "{text}");
        out
    }

    /// `keyrite bundle revocation` signed by `signer`, version `version`, into `name`, with
    /// `extra` arguments (the `--crl` and `--crl-url` pairs among them).
    pub fn revocation_bundle_by(
        &self,
        signer: &Issuer,
        name: &str,
        version: u64,
        extra: &[&str],
    ) -> (bool, String, PathBuf) {
        self.bundle("revocation", signer, name, version, extra)
    }

    /// `keyrite bundle KIND` signed by `signer`, version `version`, into `name`, with `extra`
    /// arguments: (success, output, the bundle's path).
    fn bundle(
        &self,
        kind: &str,
        signer: &Issuer,
        name: &str,
        version: u64,
        extra: &[&str],
    ) -> (bool, String, PathBuf) {
        let out = self.bundle_path(name);
        let (ok, text) = run(self
            .hsm
            .command()
            .args(["bundle", kind, "--token", &signer.key_uri])
            .arg("--root-cert")
            .arg(&signer.cert)
            .args(["--version", &version.to_string(), "--out"])
            .arg(&out)
            .args(extra));
        (ok, text, out)
    }

    /// SHA-256 of the root certificate's DER, hex: the lineage.
    pub fn root_fingerprint(&self) -> String {
        fingerprint(&self.root)
    }
}

/// A publisher's P-256 key (`DIR/NAME.key`) and CSR (`DIR/NAME.csr`) made by openssl, as a
/// publisher would; returns the CSR's path.
pub fn openssl_csr(dir: &Path, name: &str, subject: &str) -> PathBuf {
    let csr = dir.join(format!("{name}.csr"));
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-keyout"])
            .arg(dir.join(format!("{name}.key")))
            .args(["-subj", subject, "-out"])
            .arg(&csr),
    );
    csr
}

/// SHA-256 of a PEM certificate's DER, hex, computed by openssl.
pub fn fingerprint(cert: &Path) -> String {
    run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
    )
    .trim()
    .rsplit('=')
    .next()
    .unwrap_or_default()
    .replace(':', "")
    .to_lowercase()
}

/// An air-gapped host's notation config and cache directories and keyrite-import's state.
pub struct Site {
    dir: TempDir,
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

impl Site {
    /// Empty directories.
    pub fn new() -> Site {
        Site {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A copy of this site in new directories: the same files, under other paths, as a host
    /// restored from a backup or a golden image has them.
    pub fn duplicate(&self) -> Site {
        let copy = Site::new();
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", self.dir.path().display()))
                .arg(copy.dir.path()),
        );
        copy
    }

    /// `{NOTATION_CONFIG}`.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("notation-config")
    }

    /// `{NOTATION_CACHE}`.
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("notation-cache")
    }

    /// keyrite-import's state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// keyrite-import with this site's directories.
    pub fn import(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite-import"));
        cmd.env_remove("NOTATION_CONFIG")
            .env_remove("NOTATION_CACHE")
            .arg("--notation-config")
            .arg(self.config())
            .arg("--notation-cache")
            .arg(self.cache())
            .arg("--state")
            .arg(self.state());
        cmd
    }

    /// `keyrite-import pin FINGERPRINT --scope '*'`: the lineage the root starts, granted
    /// every registry.
    pub fn pin(&self, fingerprint: &str) {
        self.pin_with(fingerprint, &["--scope", "*"]);
    }

    /// `keyrite-import pin FINGERPRINT ARGS` (`--scope`, `--lineage`, `--on-expiry`).
    pub fn pin_with(&self, fingerprint: &str, args: &[&str]) {
        run_ok(self.import().args(["pin", fingerprint]).args(args));
    }

    /// notation's directories on this site: its config and cache, and a libexec of its own.
    pub fn notation_dirs(&self) -> super::notation::Dirs {
        super::notation::Dirs {
            config: self.config(),
            cache: self.cache(),
            libexec: self.state().join("libexec"),
        }
    }

    /// `keyrite-import install FILE`.
    pub fn install(&self, bundle: &Path) -> (bool, String) {
        run(self.import().arg("install").arg(bundle))
    }

    /// `keyrite-import check CHAIN` → (exit code, output).
    pub fn check(&self, chain: &Path, extra: &[&str]) -> (i32, String) {
        code_and_output(self.import().arg("check").arg(chain).args(extra))
    }

    /// `keyrite-import status` → (exit code, output).
    pub fn status(&self, extra: &[&str]) -> (i32, String) {
        code_and_output(self.import().arg("status").args(extra))
    }

    /// Every file, directory and link under the notation config and cache and the state
    /// directory, with its mode and content (a link's target): what a refusal must leave as
    /// it was. The log, append-only, is left out ([`Site::assert_refused`] checks it apart),
    /// and so are the empty lock file and the state directory a first command makes to hold
    /// them.
    pub fn snapshot(&self) -> Snapshot {
        let mut map = BTreeMap::new();
        for root in [self.config(), self.cache(), self.state()] {
            walk(&root, &mut map);
        }
        for kept_apart in ["log.jsonl", "lock"] {
            map.remove(&self.state().join(kept_apart));
        }
        if map.keys().filter(|p| p.starts_with(self.state())).count() == 1 {
            map.remove(&self.state());
        }
        map
    }

    /// How many refusals the log holds.
    pub fn refusals(&self) -> usize {
        self.log()
            .iter()
            .filter(|l| l.contains("\"event\":\"refuse\""))
            .count()
    }

    /// Installs `file`, which must be refused with `phrase` in the output, every file under
    /// the notation config and cache and the state directory byte for byte as it was, and
    /// the log grown by exactly one refusal (its reason carrying the phrase too). Returns
    /// the output.
    pub fn assert_refused(&self, file: &Path, phrase: &str) -> String {
        let before = self.snapshot();
        let log_before = fs::read(self.state().join("log.jsonl")).unwrap_or_default();
        let (ok, text) = self.install(file);
        assert!(!ok, "{} was installed:\n{text}", file.display());
        assert!(
            text.contains(phrase),
            "{}: expected '{phrase}' in:\n{text}",
            file.display()
        );
        let after = self.snapshot();
        assert!(
            before == after,
            "refusing {} changed the tree:\n{}",
            file.display(),
            snapshot_diff(&before, &after)
        );
        let log_after = fs::read(self.state().join("log.jsonl")).unwrap_or_default();
        assert!(
            log_after.starts_with(&log_before),
            "the log was rewritten, not appended to"
        );
        let added = String::from_utf8(log_after[log_before.len()..].to_vec()).unwrap();
        assert_eq!(added.lines().count(), 1, "{added}");
        let last: serde_json::Value = serde_json::from_str(added.trim()).expect("a JSON log line");
        assert_eq!(last["event"], "refuse", "{last}");
        assert!(
            last["reason"].as_str().is_some_and(|r| r.contains(phrase)),
            "{last}"
        );
        text
    }

    /// Where notation's CRL cache keeps the CRL for [`CRL_URL`].
    pub fn crl_cache_entry(&self) -> PathBuf {
        self.crl_cache_path(CRL_URL)
    }

    /// Where notation's CRL cache keeps the CRL for `url`: the SHA-256 of the URL, computed
    /// by coreutils.
    pub fn crl_cache_path(&self, url: &str) -> PathBuf {
        let hash =
            run_ok(Command::new("sh").args(["-c", &format!("printf %s '{url}' | sha256sum")]));
        self.cache().join("crl").join(&hash[..64])
    }

    /// The log's lines.
    pub fn log(&self) -> Vec<String> {
        fs::read_to_string(self.state().join("log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs `cmd` → (exit code, stdout and stderr).
fn code_and_output(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("run keyrite-import");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every path under some directories with its mode and content.
pub type Snapshot = BTreeMap<PathBuf, (u32, Vec<u8>)>;

/// What differs between two snapshots, for a readable failure.
pub fn snapshot_diff(before: &Snapshot, after: &Snapshot) -> String {
    let mut out = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => out.push(format!("removed: {}", path.display())),
            Some(e) if e.0 != entry.0 => out.push(format!(
                "mode changed: {} {:o} -> {:o}",
                path.display(),
                entry.0,
                e.0
            )),
            Some(e) if e.1 != entry.1 => out.push(format!("content changed: {}", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("added: {}", path.display()));
    }
    out.join("\n")
}

fn walk(path: &Path, map: &mut Snapshot) {
    let Ok(meta) = path.symlink_metadata() else {
        return;
    };
    let mode = meta.permissions().mode();
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).expect("read link");
        map.insert(
            path.to_owned(),
            (mode, target.into_os_string().into_encoded_bytes()),
        );
    } else if meta.is_dir() {
        map.insert(path.to_owned(), (mode, Vec::new()));
        let mut entries: Vec<_> = fs::read_dir(path)
            .expect("read dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            walk(&e, map);
        }
    } else if meta.len() > 64 * 1024 * 1024 {
        // A sparse file planted to exhaust a reader: its size stands for its content.
        map.insert(
            path.to_owned(),
            (mode, format!("{} bytes", meta.len()).into()),
        );
    } else {
        map.insert(path.to_owned(), (mode, fs::read(path).expect("read file")));
    }
}
