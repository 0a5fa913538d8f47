//! Revocation lists signed by the root key on the token: RFC 5280 v2 CRLs whose authority key
//! identifier is the root's subject key identifier, with a CRL number that only grows, and
//! every revocation the ledger holds.
//!
//! The TBSCertList is built here rather than with x509-cert's CRL builder, which copies the
//! issuer certificate's authority key identifier into the CRL: right only when the issuer has
//! one equal to its own key identifier (keyrite's root has none, as RFC 5280 allows).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use der::asn1::{GeneralizedTime, OctetString, Uint};
use der::oid::AssociatedOid;
use der::{DateTime, Decode, Encode};
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::Error;
use crate::delegate::{issuer_facts, open_root_signer};
use crate::ledger::{Ledger, Revoked};
use crate::output;
use crate::pki::check::Issuer;
use crate::pki::validity::Period;
use crate::pki::{PkiError, read_certificate};
use crate::signer::{KeySigner, PublicKey, SignatureScheme};
use crate::token::{Pkcs11Uri, Token};

const ID_CE_INVALIDITY_DATE: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.24");

/// The reasons keyrite revokes for (RFC 5280 5.3.1; removeFromCRL is for delta CRLs only).
const REASONS: &[(&str, CrlReason)] = &[
    ("unspecified", CrlReason::Unspecified),
    ("keyCompromise", CrlReason::KeyCompromise),
    ("cACompromise", CrlReason::CaCompromise),
    ("affiliationChanged", CrlReason::AffiliationChanged),
    ("superseded", CrlReason::Superseded),
    ("cessationOfOperation", CrlReason::CessationOfOperation),
    ("certificateHold", CrlReason::CertificateHold),
    ("privilegeWithdrawn", CrlReason::PrivilegeWithdrawn),
    ("aACompromise", CrlReason::AaCompromise),
];

/// A `--revoke SERIAL[:REASON[:INVALIDITY-DATE]]` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The reason's RFC 5280 name.
    pub reason: String,
    /// The invalidity date, when given.
    pub invalidity_date: Option<DateTime>,
}

/// A `--revoke` value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("bad --revoke '{value}': {reason}")]
pub struct RevocationError {
    /// The value.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for Revocation {
    type Err = RevocationError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| RevocationError {
            value: value.to_owned(),
            reason,
        };
        let mut parts = value.splitn(3, ':');
        let serial = parts.next().unwrap_or_default().to_ascii_lowercase();
        if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(fail(
                "the serial must be hex, as the ledger and `openssl x509 -serial` show it".into(),
            ));
        }
        // The ledger's form: the DER integer's content without leading zero octets.
        let serial = serial.trim_start_matches('0');
        let serial = if serial.len() % 2 == 1 {
            format!("0{serial}")
        } else {
            serial.to_owned()
        };
        let reason = match parts.next() {
            None | Some("") => "unspecified".to_owned(),
            Some(r) => REASONS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(r))
                .map(|(name, _)| (*name).to_owned())
                .ok_or_else(|| {
                    fail(format!(
                        "unknown reason '{r}': use one of {}",
                        REASONS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
        };
        let invalidity_date = parts
            .next()
            .map(|d| {
                let full = if d.len() == 10 {
                    format!("{d}T00:00:00Z")
                } else {
                    d.to_owned()
                };
                DateTime::from_str(&full).map_err(|_| {
                    fail(format!(
                        "invalidity date '{d}' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            serial,
            reason,
            invalidity_date,
        })
    }
}

/// What a CRL issuance needs.
pub struct CrlRequest<'a> {
    /// The root key's token and object.
    pub token: &'a Pkcs11Uri,
    /// `--module`, when given.
    pub module: Option<&'a Path>,
    /// The root certificate.
    pub root_cert: &'a Path,
    /// The ledger directory.
    pub ledger: &'a Path,
    /// New revocations.
    pub revoke: &'a [Revocation],
    /// Allow revoking serials the ledger does not know.
    pub force_unknown: bool,
    /// How long each CRL is valid.
    pub next_update: Period,
    /// Pre-sign this many consecutive CRLs, `period` apart (1 for a single CRL).
    pub series: u32,
    /// The distance between consecutive CRLs of a series.
    pub period: Option<Period>,
    /// The CRL file (a series numbers its files: `root.crl` → `root.7.crl`).
    pub out: &'a Path,
    /// Also write a PEM copy beside each DER file.
    pub pem: bool,
}

/// One CRL written.
pub struct IssuedCrl {
    /// Its CRL number.
    pub number: u64,
    /// thisUpdate.
    pub this_update: String,
    /// nextUpdate.
    pub next_update: String,
    /// The DER file (and the PEM file, when asked for).
    pub files: Vec<PathBuf>,
}

fn crl_time(t: DateTime) -> Time {
    Time::from(t)
}

fn entry(r: &Revoked) -> Result<RevokedCert, Error> {
    let serial =
        SerialNumber::new(&hex::decode(&r.serial).map_err(|e| Error::Usage(e.to_string()))?)?;
    let revoked_at = DateTime::from_str(&r.revoked_at).map_err(|_| {
        Error::Usage(format!(
            "the ledger's revocation date '{}' does not parse",
            r.revoked_at
        ))
    })?;
    let mut exts = Vec::new();
    let reason = REASONS
        .iter()
        .find(|(name, _)| *name == r.reason)
        .map(|(_, reason)| *reason)
        .ok_or_else(|| {
            Error::Usage(format!("the ledger holds an unknown reason '{}'", r.reason))
        })?;
    // RFC 5280 5.3.1: the reason code unspecified SHOULD be absent.
    if reason != CrlReason::Unspecified {
        exts.push(Extension {
            extn_id: CrlReason::OID,
            critical: false,
            extn_value: OctetString::new(reason.to_der()?)?,
        });
    }
    if let Some(d) = &r.invalidity_date {
        let date = DateTime::from_str(d).map_err(|_| {
            Error::Usage(format!("the ledger's invalidity date '{d}' does not parse"))
        })?;
        exts.push(Extension {
            extn_id: ID_CE_INVALIDITY_DATE,
            critical: false,
            extn_value: OctetString::new(GeneralizedTime::from_date_time(date).to_der()?)?,
        });
    }
    Ok(RevokedCert {
        serial_number: serial,
        revocation_date: crl_time(revoked_at),
        crl_entry_extensions: (!exts.is_empty()).then_some(exts),
    })
}

/// Builds one TBSCertList.
fn tbs_cert_list(
    issuer: &Issuer,
    scheme: SignatureScheme,
    number: u64,
    this_update: DateTime,
    next_update: DateTime,
    revoked: &[Revoked],
) -> Result<TbsCertList, Error> {
    let entries = revoked.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(issuer.key_id.clone())?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let crl_number = CrlNumber(Uint::new(&number.to_be_bytes())?);
    Ok(TbsCertList {
        version: Version::V2,
        signature: scheme.algorithm_identifier(),
        issuer: issuer.subject.clone(),
        this_update: crl_time(this_update),
        next_update: Some(crl_time(next_update)),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            Extension {
                extn_id: AuthorityKeyIdentifier::OID,
                critical: false,
                extn_value: OctetString::new(aki.to_der()?)?,
            },
            Extension {
                extn_id: CrlNumber::OID,
                critical: false,
                extn_value: OctetString::new(crl_number.to_der()?)?,
            },
        ]),
    })
}

/// Every way a CRL breaks RFC 5280 and notation's rules for the root's CRLs (empty when
/// sound).
pub fn check_crl(tbs: &TbsCertList, issuer: &Issuer, scheme: SignatureScheme) -> Vec<String> {
    let mut p = Vec::new();
    if tbs.version != Version::V2 {
        p.push("version is not v2".into());
    }
    if tbs.signature != scheme.algorithm_identifier() {
        p.push(format!("signature algorithm is not {scheme}"));
    }
    if tbs.issuer.to_der().ok() != issuer.subject.to_der().ok() {
        p.push("issuer is not the root's subject byte for byte".into());
    }
    match tbs.next_update {
        None => p.push("nextUpdate is missing (notation requires it)".into()),
        Some(next) if next.to_unix_duration() <= tbs.this_update.to_unix_duration() => {
            p.push("nextUpdate is not after thisUpdate".into())
        }
        _ => {}
    }
    let exts = tbs.crl_extensions.as_deref().unwrap_or_default();
    for ext in exts {
        if ext.critical {
            p.push(format!("CRL extension {} is critical", ext.extn_id));
        }
    }
    let aki = exts
        .iter()
        .find(|e| e.extn_id == AuthorityKeyIdentifier::OID)
        .and_then(|e| AuthorityKeyIdentifier::from_der(e.extn_value.as_bytes()).ok());
    if aki
        .and_then(|a| a.key_identifier)
        .map(|k| k.as_bytes().to_vec())
        != Some(issuer.key_id.clone())
    {
        p.push("authorityKeyIdentifier is not the root's subject key identifier".into());
    }
    match exts.iter().find(|e| e.extn_id == CrlNumber::OID) {
        Some(e) => match CrlNumber::from_der(e.extn_value.as_bytes()) {
            Ok(n) if n.0.as_bytes().len() > 20 => {
                p.push("cRLNumber is longer than 20 octets".into())
            }
            Ok(_) => {}
            Err(e) => p.push(format!("cRLNumber does not decode: {e}")),
        },
        None => p.push("cRLNumber is missing".into()),
    }
    for entry in tbs.revoked_certificates.as_deref().unwrap_or_default() {
        for ext in entry.crl_entry_extensions.as_deref().unwrap_or_default() {
            if ext.critical {
                p.push(format!("an entry extension {} is critical", ext.extn_id));
            }
        }
    }
    p
}

/// The file for CRL `number` of a series: `root.crl` → `root.7.crl`.
fn series_path(out: &Path, number: u64, series: bool) -> PathBuf {
    if !series {
        return out.to_owned();
    }
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("crl");
    let ext = out.extension().and_then(|s| s.to_str()).unwrap_or("crl");
    out.with_file_name(format!("{stem}.{number}.{ext}"))
}

/// Issues one CRL, or a series of consecutive ones, signed by the root key on the token.
pub fn issue_crls(req: &CrlRequest<'_>) -> Result<Vec<IssuedCrl>, Error> {
    let root: Certificate = read_certificate(req.root_cert)?;
    let issuer = issuer_facts(&root)?;
    if req.series == 0 {
        return Err(Error::Usage("--series must be at least 1".into()));
    }
    let series = req.series > 1;
    let period = match (series, req.period) {
        (true, None) => {
            return Err(Error::Usage(
                "--series needs --period, the distance between the CRLs".into(),
            ));
        }
        (_, p) => p,
    };
    let now = DateTime::from_system_time(SystemTime::now())?;
    let mut windows = Vec::new();
    let mut start = now;
    for _ in 0..req.series {
        let end = req.next_update.end_from(start)?;
        if end.unix_duration() > issuer.not_after.to_unix_duration() {
            return Err(Error::Usage(format!(
                "a CRL valid until {end} would outlive the root (valid until {}): shorten --next-update or the series",
                issuer.not_after
            )));
        }
        windows.push((start, end));
        if let Some(p) = period {
            let next = p.end_from(start)?;
            if next.unix_duration() > end.unix_duration() {
                return Err(Error::Usage(
                    "--period is longer than --next-update: the CRLs of the series would leave gaps".into(),
                ));
            }
            start = next;
        }
    }
    let mut ledger = Ledger::open(req.ledger, req.root_cert, &root.to_der()?, false)?;
    let first_number = ledger.crl_number() + 1;
    let mut files = Vec::new();
    for (i, _) in windows.iter().enumerate() {
        let number = first_number + i as u64;
        let path = series_path(req.out, number, series);
        files.push(path.clone());
        if req.pem {
            files.push(path.with_extension("pem"));
        }
    }
    for (i, f) in files.iter().enumerate() {
        if f.symlink_metadata().is_ok() {
            return Err(output::OutputError::Exists(f.clone()).into());
        }
        if files[..i].contains(f) {
            return Err(Error::Usage(format!(
                "{} would be written twice: give --out a name ending in .crl when asking for --pem",
                f.display()
            )));
        }
    }
    let mut new: Vec<Revoked> = Vec::new();
    for r in req.revoke {
        if new.iter().any(|n| n.serial == r.serial) {
            return Err(Error::Usage(format!(
                "serial {} is given twice in --revoke: give each serial once",
                r.serial
            )));
        }
        if let Some(old) = ledger.revoked().iter().find(|o| o.serial == r.serial) {
            return Err(Error::Usage(format!(
                "serial {} is already revoked ({}, {}); every CRL carries it already",
                r.serial, old.reason, old.revoked_at
            )));
        }
        if !req.force_unknown && !ledger.knows_serial(&r.serial) {
            return Err(Error::Usage(format!(
                "serial {} is not in the ledger: check it against `ledger.json`, or pass --force-unknown to revoke a certificate this ledger did not record",
                r.serial
            )));
        }
        new.push(Revoked {
            serial: r.serial.clone(),
            reason: r.reason.clone(),
            invalidity_date: r.invalidity_date.map(|d| d.to_string()),
            revoked_at: now.to_string(),
        });
    }
    let mut all = ledger.revoked().to_vec();
    all.extend(new.iter().cloned());

    let token = Token::open(req.token, req.module)?;
    let signer = open_root_signer(&token, req.token, &root)?;
    let root_key = signer.public_key().clone();
    let mut signed = Vec::new();
    for (i, (this_update, next_update)) in windows.iter().enumerate() {
        let number = first_number + i as u64;
        let tbs = tbs_cert_list(
            &issuer,
            signer.scheme(),
            number,
            *this_update,
            *next_update,
            &all,
        )?;
        let problems = check_crl(&tbs, &issuer, signer.scheme());
        if !problems.is_empty() {
            return Err(PkiError::Profile {
                stage: "before signing",
                problems,
            }
            .into());
        }
        let tbs_der = tbs.to_der()?;
        let signature = signer.sign(&tbs_der)?;
        let crl = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: signer.scheme().algorithm_identifier(),
            signature: der::asn1::BitString::from_bytes(&signature)?,
        };
        let der = crl.to_der()?;
        verify_crl(&der, &issuer, &root_key, signer.scheme())?;
        signed.push((number, *this_update, *next_update, der));
    }
    let last = first_number + u64::from(req.series) - 1;
    // Recorded before the files are written: a CRL number is never used twice.
    ledger.record_crls(new, last)?;
    let mut out = Vec::new();
    for (number, this_update, next_update, der) in signed {
        let path = series_path(req.out, number, series);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Usage(format!("{} is not a file name", path.display())))?
            .to_owned();
        let pem_name = Path::new(&name).with_extension("pem").display().to_string();
        let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &der)
            .map_err(|e| PkiError::Build(format!("PEM encoding: {e}")))?;
        let mut set: Vec<(&str, &[u8], u32)> = vec![(&name, &der, output::PUBLIC)];
        if req.pem {
            set.push((&pem_name, pem.as_bytes(), output::PUBLIC));
        }
        output::write_new_files(dir, &set).map_err(|e| {
            Error::Usage(format!(
                "{e}. CRL {number} was signed and it and the new revocations were recorded in the \
                 ledger: run `crl issue` again without --revoke to get a CRL that carries them"
            ))
        })?;
        let mut files = vec![dir.join(&name)];
        if req.pem {
            files.push(dir.join(&pem_name));
        }
        out.push(IssuedCrl {
            number,
            this_update: this_update.to_string(),
            next_update: next_update.to_string(),
            files,
        });
    }
    Ok(out)
}

/// Parses a signed CRL back, checks it again and verifies its signature under the root key.
fn verify_crl(
    der: &[u8],
    issuer: &Issuer,
    root: &PublicKey,
    scheme: SignatureScheme,
) -> Result<(), Error> {
    let crl = CertificateList::from_der(der)
        .map_err(|e| PkiError::Build(format!("the CRL does not parse back: {e}")))?;
    let mut problems = check_crl(&crl.tbs_cert_list, issuer, scheme);
    let tbs = crl.tbs_cert_list.to_der()?;
    if root
        .verify(scheme, &tbs, crl.signature.as_bytes().unwrap_or_default())
        .is_err()
    {
        problems.push("its signature does not verify under the root key".into());
    }
    if crl.to_der()?.as_slice() != der {
        problems.push("it does not re-encode to the same bytes".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PkiError::Profile {
            stage: "after signing",
            problems,
        }
        .into())
    }
}
