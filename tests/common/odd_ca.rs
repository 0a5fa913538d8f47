//! A certificate authority written in DER by hand, for what no CA tool makes on request and
//! what Go reads its own way: subjects with T61String, BMPString, NumericString, a
//! PrintableString with `&`, two CNs or an e-mail attribute; distribution points with an
//! `https://` or upper-case URL or a DNS name first; a freshest-CRL extension; delta CRLs; and
//! certificates and CRLs Go's parser refuses (a negative serial, a PrintableString with `_`,
//! signature algorithms that differ inside and outside the signed part, a v1 CRL).
//!
//! Keys come from `openssl genpkey` (P-256, PKCS#8); every certificate and CRL is assembled
//! here and signed with ECDSA-SHA256 by the p256 crate. Certificates are written as PEM with
//! 76-column lines, which notation reads as well as 64.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::Encode;
use der::asn1::{ObjectIdentifier, UtcTime};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use signature::Signer;

use super::run_ok;

/// An attribute of a name: OID, string tag, value bytes.
pub type Attr = (&'static str, u8, &'static [u8]);

/// UTF8String, PrintableString, T61String, IA5String, BMPString, NumericString.
pub const UTF8: u8 = 0x0c;
pub const PRINTABLE: u8 = 0x13;
pub const T61: u8 = 0x14;
pub const IA5: u8 = 0x16;
pub const BMP: u8 = 0x1e;
pub const NUMERIC: u8 = 0x12;

const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";

/// A DER element: `tag`, then the concatenated `parts`.
pub fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let body = parts.concat();
    let len = body.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend(body);
    out
}

pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, parts)
}

pub fn oid(dotted: &str) -> Vec<u8> {
    ObjectIdentifier::new_unwrap(dotted).to_der().unwrap()
}

/// A minimal DER INTEGER of a non-negative number.
pub fn int(n: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|&b| b == 0)
        .collect();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    tlv(0x02, &[&bytes])
}

fn time(offset_secs: i64) -> Vec<u8> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let at = now.as_secs() as i64 + offset_secs;
    UtcTime::from_unix_duration(Duration::from_secs(at as u64))
        .unwrap()
        .to_der()
        .unwrap()
}

/// A Name of one attribute per RDN.
pub fn name(attrs: &[Attr]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attrs
        .iter()
        .map(|(o, tag, value)| tlv(0x31, &[&seq(&[&oid(o), &tlv(*tag, &[value])])]))
        .collect();
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    seq(&refs)
}

/// An extension: OID, critical or not, value.
pub fn ext(o: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let flag = if critical {
        tlv(0x01, &[&[0xff]])
    } else {
        vec![]
    };
    seq(&[&oid(o), &flag, &tlv(0x04, &[value])])
}

/// A CRL distribution points value (or a freshest CRL one): one point whose full name is
/// `names`, each (GeneralName tag, text): 0x86 a URI, 0x82 a DNS name.
pub fn distribution_points(names: &[(u8, &str)]) -> Vec<u8> {
    let names: Vec<Vec<u8>> = names
        .iter()
        .map(|(tag, text)| tlv(*tag, &[text.as_bytes()]))
        .collect();
    let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    seq(&[&seq(&[&tlv(0xa0, &[&tlv(0xa0, &refs)])])])
}

fn new_key(path: &Path) -> SigningKey {
    run_ok(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-out"])
            .arg(path),
    );
    let (_, der) = der::pem::decode_vec(&fs::read(path).unwrap()).unwrap();
    SigningKey::from_pkcs8_der(&der).unwrap()
}

fn spki(key: &SigningKey) -> Vec<u8> {
    key.verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn sign(key: &SigningKey, tbs: &[u8]) -> Vec<u8> {
    let sig: DerSignature = key.try_sign(tbs).unwrap();
    sig.as_bytes().to_vec()
}

/// PEM with 76-column lines.
pub fn pem(der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The root's subject.
pub const ROOT_SUBJECT: [Attr; 4] = [
    ("2.5.4.6", PRINTABLE, b"US"),
    ("2.5.4.8", UTF8, b"WA"),
    ("2.5.4.10", UTF8, b"Odd"),
    ("2.5.4.3", UTF8, b"Odd Root"),
];

/// A CA made of hand-written DER: a P-256 root, leaves that share one key, and CRLs.
pub struct OddCa {
    dir: PathBuf,
    key: SigningKey,
    subject: Vec<u8>,
    leaf_key: SigningKey,
    /// The root certificate (PEM).
    pub root: PathBuf,
    /// The leaves' private key (PKCS#8 PEM), for notation's signingkeys.json.
    pub leaf_key_file: PathBuf,
}

/// A signed certificate or CRL: SEQUENCE { tbs, algorithm, BIT STRING signature }.
fn signed(key: &SigningKey, tbs: &[u8], outer_alg: &str) -> Vec<u8> {
    let sig = sign(key, tbs);
    seq(&[tbs, &seq(&[&oid(outer_alg)]), &tlv(0x03, &[&[0], &sig])])
}

/// A certificate's TBS: v3, `serial` (INTEGER contents), ECDSA-SHA256.
fn tbs_certificate(
    serial: &[u8],
    issuer: &[u8],
    subject: &[u8],
    spki: &[u8],
    exts: &[Vec<u8>],
) -> Vec<u8> {
    let exts: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
    seq(&[
        &tlv(0xa0, &[&int(2)]),
        &tlv(0x02, &[serial]),
        &seq(&[&oid(ECDSA_SHA256)]),
        issuer,
        &seq(&[&time(-3600), &time(30 * 86400)]),
        subject,
        spki,
        &tlv(0xa3, &[&seq(&exts)]),
    ])
}

impl OddCa {
    /// A new CA in `dir`.
    pub fn new(dir: &Path) -> OddCa {
        fs::create_dir_all(dir).unwrap();
        let key = new_key(&dir.join("root.key"));
        let leaf_key_file = dir.join("leaf.key");
        let leaf_key = new_key(&leaf_key_file);
        let subject = name(&ROOT_SUBJECT);
        let exts = [
            ext("2.5.29.19", true, &seq(&[&tlv(0x01, &[&[0xff]])])),
            // keyCertSign and cRLSign.
            ext("2.5.29.15", true, &tlv(0x03, &[&[1, 0x06]])),
        ];
        let tbs = tbs_certificate(&[0x10, 0x00], &subject, &subject, &spki(&key), &exts);
        let root = dir.join("root.crt");
        fs::write(&root, pem(&signed(&key, &tbs, ECDSA_SHA256))).unwrap();
        OddCa {
            dir: dir.to_owned(),
            key,
            subject,
            leaf_key,
            root,
            leaf_key_file,
        }
    }

    /// Issues leaf `file` with `serial`, `subject` and `extra` extensions (a critical
    /// digitalSignature keyUsage and codeSigning are always there); returns its chain (leaf,
    /// root) as PEM.
    pub fn leaf(&self, file: &str, serial: u64, subject: &[Attr], extra: &[Vec<u8>]) -> PathBuf {
        let mut exts = vec![
            ext("2.5.29.15", true, &tlv(0x03, &[&[7, 0x80]])),
            ext("2.5.29.37", false, &seq(&[&oid("1.3.6.1.5.5.7.3.3")])),
        ];
        exts.extend_from_slice(extra);
        let serial = &int(serial)[2..];
        let tbs = tbs_certificate(
            serial,
            &self.subject,
            &name(subject),
            &spki(&self.leaf_key),
            &exts,
        );
        let cert = signed(&self.key, &tbs, ECDSA_SHA256);
        let chain = self.dir.join(format!("{file}.chain.pem"));
        fs::write(
            &chain,
            pem(&cert) + &fs::read_to_string(&self.root).unwrap(),
        )
        .unwrap();
        chain
    }

    /// A CRL `file` (DER) numbered `number` revoking `revoked` serials (keyCompromise), with
    /// `extra` CRL extensions; `v1` leaves out the version, `outer_alg` is the algorithm
    /// named outside the signed part.
    pub fn crl(
        &self,
        file: &str,
        number: u64,
        revoked: &[u64],
        extra: &[Vec<u8>],
        v1: bool,
        outer_alg: &str,
    ) -> PathBuf {
        let entries: Vec<Vec<u8>> = revoked
            .iter()
            .map(|s| {
                let reason = ext("2.5.29.21", false, &tlv(0x0a, &[&[1]]));
                seq(&[&int(*s), &time(-1800), &seq(&[&reason])])
            })
            .collect();
        let entries: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let mut exts = vec![ext("2.5.29.20", false, &int(number))];
        exts.extend_from_slice(extra);
        let exts: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
        let version = if v1 { vec![] } else { int(1) };
        let list = if entries.is_empty() {
            vec![]
        } else {
            seq(&entries)
        };
        let tbs = seq(&[
            &version,
            &seq(&[&oid(ECDSA_SHA256)]),
            &self.subject,
            &time(-3600),
            &time(7 * 86400),
            &list,
            &tlv(0xa0, &[&seq(&exts)]),
        ]);
        let path = self.dir.join(file);
        fs::write(&path, signed(&self.key, &tbs, outer_alg)).unwrap();
        path
    }

    /// A plain v2 CRL numbered `number` revoking `revoked`.
    pub fn plain_crl(&self, file: &str, number: u64, revoked: &[u64]) -> PathBuf {
        self.crl(file, number, revoked, &[], false, ECDSA_SHA256)
    }

    /// A delta CRL numbered `number` over base CRL `base`, revoking `revoked`.
    pub fn delta_crl(&self, file: &str, number: u64, base: u64, revoked: &[u64]) -> PathBuf {
        let indicator = ext("2.5.29.27", true, &int(base));
        self.crl(file, number, revoked, &[indicator], false, ECDSA_SHA256)
    }

    /// The CRL of [`OddCa::plain_crl`] with ECDSA-SHA384 named outside the signed part.
    pub fn crl_with_other_outer_algorithm(&self, file: &str) -> PathBuf {
        self.crl(file, 1, &[], &[], false, ECDSA_SHA384)
    }

    /// A v1 CRL (no version field).
    pub fn v1_crl(&self, file: &str) -> PathBuf {
        self.crl(file, 1, &[], &[], true, ECDSA_SHA256)
    }

    /// A self-signed CA certificate (PEM) with `subject` and `serial` (INTEGER contents, as
    /// given: `[0xff, ..]` is negative).
    pub fn self_signed(&self, file: &str, serial: &[u8], subject: &[Attr]) -> PathBuf {
        let subject = name(subject);
        let exts = [
            ext("2.5.29.19", true, &seq(&[&tlv(0x01, &[&[0xff]])])),
            ext("2.5.29.15", true, &tlv(0x03, &[&[1, 0x06]])),
        ];
        let tbs = tbs_certificate(serial, &subject, &subject, &spki(&self.key), &exts);
        let path = self.dir.join(file);
        fs::write(&path, pem(&signed(&self.key, &tbs, ECDSA_SHA256))).unwrap();
        path
    }

    /// The root certificate's base64 body, to write PEM variants of it.
    pub fn root_base64(&self) -> String {
        let text = fs::read_to_string(&self.root).unwrap();
        text.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
