//! A certificate authority run with `openssl ca`, for what keyrite rightly refuses to make:
//! a site's or a vendor's own PKI, CRL entries keyrite never writes (removeFromCRL), stale
//! CRLs and certificates with arbitrary dates.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::run_ok;

/// An openssl CA: a self-signed P-256 root with its key in a file, a database, and a CDP URL
/// its leaves carry.
pub struct OpensslCa {
    dir: PathBuf,
    /// The root certificate (PEM).
    pub root: PathBuf,
}

impl OpensslCa {
    /// A new CA in `dir` with subject `subject` (`/C=US/ST=WA/O=Site/CN=Site Root`) whose
    /// leaves carry `crl_url`.
    pub fn new(dir: &Path, subject: &str, crl_url: &str) -> OpensslCa {
        fs::create_dir_all(dir.join("new")).unwrap();
        fs::write(dir.join("index.txt"), "").unwrap();
        fs::write(dir.join("serial"), "1000\n").unwrap();
        fs::write(dir.join("crlnumber"), "1000\n").unwrap();
        fs::write(
            dir.join("ca.cnf"),
            format!(
                "[ca]\ndefault_ca = ca_default\n\
                 [ca_default]\ndir = {dir}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/new\n\
                 serial = $dir/serial\ncrlnumber = $dir/crlnumber\ncertificate = $dir/root.crt\n\
                 private_key = $dir/root.key\ndefault_md = sha256\npolicy = any\n\
                 unique_subject = no\npreserve = yes\ncopy_extensions = none\n\
                 default_days = 30\ndefault_crl_days = 30\n\
                 [any]\ncountryName = optional\nstateOrProvinceName = optional\n\
                 organizationName = optional\ncommonName = optional\n\
                 [leaf]\nbasicConstraints = critical,CA:FALSE\n\
                 keyUsage = critical,digitalSignature\nextendedKeyUsage = codeSigning\n\
                 subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\
                 crlDistributionPoints = URI:{crl_url}\n\
                 [crl_ext]\nauthorityKeyIdentifier = keyid\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        let root = dir.join("root.crt");
        run_ok(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout"])
                .arg(dir.join("root.key"))
                .args(["-subj", subject, "-days", "60"])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .args(["-addext", "subjectKeyIdentifier=hash", "-out"])
                .arg(&root),
        );
        OpensslCa {
            dir: dir.to_owned(),
            root,
        }
    }

    fn ca(&self) -> Command {
        let mut cmd = Command::new("openssl");
        cmd.args(["ca", "-batch", "-config"])
            .arg(self.dir.join("ca.cnf"));
        cmd
    }

    /// Issues leaf `name` with `subject`; its key is `DIR/NAME.key`, its certificate
    /// `DIR/NAME.crt`; returns its chain (leaf, root) `DIR/NAME.chain.pem`.
    pub fn leaf(&self, name: &str, subject: &str) -> PathBuf {
        self.issue(name, subject, None, &[])
    }

    /// Issues `name` as [`OpensslCa::leaf`] does, with the extensions `extensions` (lines of an
    /// openssl extension section) instead of a code-signing leaf's, and `openssl ca` date
    /// arguments (`-startdate 250101000000Z`, `-enddate …`, `-days N`).
    pub fn issue(
        &self,
        name: &str,
        subject: &str,
        extensions: Option<&str>,
        dates: &[&str],
    ) -> PathBuf {
        let csr = self.dir.join(format!("{name}.csr"));
        let cert = self.dir.join(format!("{name}.crt"));
        run_ok(
            Command::new("openssl")
                .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout"])
                .arg(self.dir.join(format!("{name}.key")))
                .args(["-subj", subject, "-out"])
                .arg(&csr),
        );
        let mut ca = self.ca();
        match extensions {
            Some(lines) => {
                let ext = self.dir.join(format!("{name}.ext"));
                fs::write(&ext, format!("[ext]\n{lines}\n")).unwrap();
                ca.arg("-extfile").arg(ext).args(["-extensions", "ext"]);
            }
            None => {
                ca.args(["-extensions", "leaf"]);
            }
        }
        run_ok(
            ca.args(dates)
                .args(["-notext", "-in"])
                .arg(&csr)
                .arg("-out")
                .arg(&cert),
        );
        let chain = self.dir.join(format!("{name}.chain.pem"));
        fs::write(
            &chain,
            [fs::read(&cert).unwrap(), fs::read(&self.root).unwrap()].concat(),
        )
        .unwrap();
        chain
    }

    /// The key of leaf `name`.
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    /// Revokes leaf `name` with openssl's revocation arguments (`-crl_reason
    /// removeFromCRL`, `-crl_hold …`, `-crl_compromise …`).
    pub fn revoke(&self, name: &str, how: &[&str]) {
        run_ok(
            self.ca()
                .arg("-revoke")
                .arg(self.dir.join(format!("{name}.crt")))
                .args(how),
        );
    }

    /// A CRL (DER) of every revocation so far, with `extra` arguments (dates).
    pub fn crl(&self, file: &str, extra: &[&str]) -> PathBuf {
        let pem = self.dir.join(format!("{file}.pem"));
        run_ok(
            self.ca()
                .args(["-gencrl", "-crlexts", "crl_ext"])
                .args(extra)
                .arg("-out")
                .arg(&pem),
        );
        let der = self.dir.join(file);
        run_ok(
            Command::new("openssl")
                .args(["crl", "-outform", "DER", "-in"])
                .arg(&pem)
                .arg("-out")
                .arg(&der),
        );
        der
    }
}
