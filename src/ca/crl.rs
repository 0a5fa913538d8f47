//! Revocation lists signed by the root key on the token, with a CRL number that only grows
//! and every revocation the ledger holds.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use der::asn1::{GeneralizedTime, OctetString};
use der::oid::AssociatedOid;
use der::{DateTime, Encode};
use x509_cert::Certificate;
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use super::CaError;
use super::issuer::{issuer_facts, open_root_signer};
use super::ledger::{Ledger, Revoked};
pub use super::revocation::{Revocation, RevocationError};
use crate::keys::KeySigner;
use crate::keys::token::{Pkcs11Uri, Token};
use crate::pki::check::Issuer;
use crate::pki::crl::{self, check_crl, tbs_cert_list, verify_crl};
use crate::pki::name::{ascii_escaped, display_name};
use crate::pki::validity::Period;
use crate::pki::{PkiError, pem, read_certificate};
use crate::sys::output;

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

fn entry(r: &Revoked) -> Result<RevokedCert, CaError> {
    let serial =
        SerialNumber::new(&hex::decode(&r.serial).map_err(|e| CaError::Refused(e.to_string()))?)?;
    let revoked_at = DateTime::from_str(&r.revoked_at).map_err(|_| {
        CaError::Refused(format!(
            "the ledger's revocation date '{}' does not parse",
            r.revoked_at
        ))
    })?;
    let mut exts = Vec::new();
    let reason = crl::reason_named(&r.reason).ok_or_else(|| {
        CaError::Refused(format!("the ledger holds an unknown reason '{}'", r.reason))
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
            CaError::Refused(format!("the ledger's invalidity date '{d}' does not parse"))
        })?;
        exts.push(Extension {
            extn_id: crl::ID_CE_INVALIDITY_DATE,
            critical: false,
            extn_value: OctetString::new(GeneralizedTime::from_date_time(date).to_der()?)?,
        });
    }
    Ok(RevokedCert {
        serial_number: serial,
        revocation_date: Time::from(revoked_at),
        crl_entry_extensions: (!exts.is_empty()).then_some(exts),
    })
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

/// What the root will sign for a CRL request, decided from the ledger the root token
/// vouches for: the CRL numbers, each CRL's window, the revocations the ledger holds and the
/// new ones, and the lines officers read before they confirm. [`issue_crls`] signs exactly
/// this; it keeps the token open (and logged in) until then.
pub struct CrlPlan {
    token: Token,
    root: Certificate,
    issuer: Issuer,
    /// The ledger's CRL number the plan follows.
    after: u64,
    carried: Vec<Revoked>,
    new: Vec<Revoked>,
    windows: Vec<(DateTime, DateTime)>,
    lines: Vec<String>,
}

impl CrlPlan {
    /// What will be signed, a line each: the CRL numbers and windows, how many entries each
    /// CRL carries, and the serials added since the last CRL.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// Checks a CRL request against the ledger and decides what the root will sign. The token is
/// opened and logged in to read the ledger's record.
pub fn plan_crls(req: &CrlRequest<'_>) -> Result<CrlPlan, CaError> {
    let root: Certificate = read_certificate(req.root_cert)?;
    let issuer = issuer_facts(&root)?;
    let now = DateTime::from_system_time(SystemTime::now())?;
    let windows = windows(req, &issuer, now)?;
    let token = Token::open(req.token, req.module)?;
    token.login(req.token)?;
    let ledger = Ledger::open(req.ledger, req.root_cert, &root.to_der()?, false, &token)?;
    let after = ledger.crl_number();
    let first_number = after
        .checked_add(1)
        .filter(|_| after.checked_add(u64::from(req.series)).is_some())
        .ok_or_else(|| {
            CaError::Refused(format!(
                "the ledger's CRL number {after} leaves no room for {} more: this root can \
                 issue no more CRLs; rotate the root",
                req.series
            ))
        })?;
    check_outputs(req, first_number, windows.len())?;
    let new = new_revocations(req, &ledger, now)?;
    let carried = ledger.revoked().to_vec();
    drop(ledger);
    let mut lines = vec![format!(
        "signed by {}",
        ascii_escaped(&display_name(&issuer.subject))
    )];
    for (i, (this_update, next_update)) in windows.iter().enumerate() {
        lines.push(format!(
            "CRL number {}: valid {this_update} to {next_update}",
            first_number + i as u64
        ));
    }
    lines.push(format!(
        "entries: {} (the ledger's {} revocations, {} new)",
        carried.len() + new.len(),
        carried.len(),
        new.len()
    ));
    if new.is_empty() {
        lines.push(format!("added since CRL {after}: none"));
    } else {
        lines.push(format!("added since CRL {after}:"));
        lines.extend(new.iter().map(|r| {
            format!(
                "  serial {} ({}{})",
                r.serial,
                r.reason,
                r.invalidity_date
                    .as_deref()
                    .map(|d| format!(", invalid since {d}"))
                    .unwrap_or_default()
            )
        }));
    }
    lines.push("removed: none (the ledger only grows; every CRL carries every revocation)".into());
    Ok(CrlPlan {
        token,
        root,
        issuer,
        after,
        carried,
        new,
        windows,
        lines,
    })
}

/// Issues the CRLs `plan` describes, signed by the root key on the token. A ledger that
/// changed since the plan was made is refused: the CRLs would not be the ones shown.
pub fn issue_crls(req: &CrlRequest<'_>, plan: CrlPlan) -> Result<Vec<IssuedCrl>, CaError> {
    let CrlPlan {
        token,
        root,
        issuer,
        after,
        carried,
        new,
        windows,
        ..
    } = plan;
    let signer = open_root_signer(&token, req.token, &root)?;
    let mut ledger = Ledger::open(req.ledger, req.root_cert, &root.to_der()?, false, &token)?;
    if ledger.crl_number() != after || ledger.revoked() != carried.as_slice() {
        return Err(CaError::Refused(format!(
            "the ledger changed since what is to be signed was shown (its CRL number is now {}, \
             was {after}): nothing was signed; issue the CRL again and check what is shown",
            ledger.crl_number()
        )));
    }
    let first_number = after + 1; // checked by plan_crls, as is the last below
    let last = after + windows.len() as u64;
    check_outputs(req, first_number, windows.len())?;
    let mut all = carried;
    all.extend(new.iter().cloned());
    let entries = all.iter().map(entry).collect::<Result<Vec<_>, _>>()?;

    let mut signed = Vec::new();
    for (i, (this_update, next_update)) in windows.iter().enumerate() {
        let number = first_number + i as u64;
        let der = sign_crl(
            &issuer,
            &signer,
            number,
            (*this_update, *next_update),
            entries.clone(),
        )?;
        signed.push((number, *this_update, *next_update, der));
    }
    // Recorded before the files are written: a CRL number is never used twice.
    ledger.record_crls(new, last)?;
    signed
        .into_iter()
        .map(|(number, this_update, next_update, der)| {
            write_crl(req, number, &der).map(|files| IssuedCrl {
                number,
                this_update: this_update.to_string(),
                next_update: next_update.to_string(),
                files,
            })
        })
        .collect()
}

/// The (thisUpdate, nextUpdate) window of each CRL to sign, none outliving the root and none
/// leaving a gap before the next.
fn windows(
    req: &CrlRequest<'_>,
    issuer: &Issuer,
    now: DateTime,
) -> Result<Vec<(DateTime, DateTime)>, CaError> {
    if req.series == 0 {
        return Err(CaError::Refused("--series must be at least 1".into()));
    }
    let period = match (req.series > 1, req.period) {
        (true, None) => {
            return Err(CaError::Refused(
                "--series needs --period, the distance between the CRLs".into(),
            ));
        }
        (_, p) => p,
    };
    let mut windows = Vec::new();
    let mut start = now;
    for _ in 0..req.series {
        let end = req.next_update.end_from(start)?;
        if end.unix_duration() > issuer.not_after.to_unix_duration() {
            return Err(CaError::Refused(format!(
                "a CRL valid until {end} would outlive the root (valid until {}): shorten --next-update or the series",
                issuer.not_after
            )));
        }
        windows.push((start, end));
        if let Some(p) = period {
            let next = p.end_from(start)?;
            if next.unix_duration() > end.unix_duration() {
                return Err(CaError::Refused(
                    "--period is longer than --next-update: the CRLs of the series would leave gaps".into(),
                ));
            }
            start = next;
        }
    }
    Ok(windows)
}

/// The files CRL `number` is written to: the DER file, and the PEM file when asked for.
fn crl_files(req: &CrlRequest<'_>, number: u64) -> Vec<PathBuf> {
    let path = series_path(req.out, number, req.series > 1);
    let mut files = vec![path.clone()];
    if req.pem {
        files.push(path.with_extension("pem"));
    }
    files
}

/// Refuses, before anything is signed, outputs that exist or that would be written twice.
fn check_outputs(req: &CrlRequest<'_>, first_number: u64, count: usize) -> Result<(), CaError> {
    let files: Vec<PathBuf> = (0..count as u64)
        .flat_map(|i| crl_files(req, first_number + i))
        .collect();
    for (i, f) in files.iter().enumerate() {
        if f.symlink_metadata().is_ok() {
            return Err(output::OutputError::Exists(f.clone()).into());
        }
        if files[..i].contains(f) {
            return Err(CaError::Refused(format!(
                "{} would be written twice: give --out a name ending in .crl when asking for --pem",
                f.display()
            )));
        }
    }
    Ok(())
}

/// The ledger entries for the request's new revocations, each checked against the ledger.
fn new_revocations(
    req: &CrlRequest<'_>,
    ledger: &Ledger,
    now: DateTime,
) -> Result<Vec<Revoked>, CaError> {
    let mut new: Vec<Revoked> = Vec::new();
    for r in req.revoke {
        if new.iter().any(|n| n.serial == r.serial) {
            return Err(CaError::Refused(format!(
                "serial {} is given twice in --revoke: give each serial once",
                r.serial
            )));
        }
        if let Some(old) = ledger.revoked().iter().find(|o| o.serial == r.serial) {
            return Err(CaError::Refused(format!(
                "serial {} is already revoked ({}, {}); every CRL carries it already",
                r.serial, old.reason, old.revoked_at
            )));
        }
        if !req.force_unknown && !ledger.knows_serial(&r.serial) {
            return Err(CaError::Refused(format!(
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
    Ok(new)
}

/// Builds CRL `number`, checks it, has the root sign it, and verifies the result.
fn sign_crl(
    issuer: &Issuer,
    signer: &dyn KeySigner,
    number: u64,
    (this_update, next_update): (DateTime, DateTime),
    entries: Vec<RevokedCert>,
) -> Result<Vec<u8>, CaError> {
    let tbs = tbs_cert_list(
        issuer,
        signer.scheme(),
        number,
        this_update,
        next_update,
        entries,
    )?;
    let problems = check_crl(&tbs, issuer, signer.scheme());
    if !problems.is_empty() {
        return Err(PkiError::Profile {
            stage: "before signing",
            problems,
        }
        .into());
    }
    let signature = signer.sign(&tbs.to_der()?)?;
    let crl = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: signer.scheme().algorithm_identifier(),
        signature: der::asn1::BitString::from_bytes(&signature)?,
    };
    let der = crl.to_der()?;
    verify_crl(&der, issuer, signer.public_key(), signer.scheme())?;
    Ok(der)
}

/// Writes CRL `number` (and its PEM copy, when asked for); returns the files written.
fn write_crl(req: &CrlRequest<'_>, number: u64, der: &[u8]) -> Result<Vec<PathBuf>, CaError> {
    let path = series_path(req.out, number, req.series > 1);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CaError::Refused(format!("{} is not a file name", path.display())))?
        .to_owned();
    let pem_name = Path::new(&name).with_extension("pem").display().to_string();
    let pem = pem("X509 CRL", der)?;
    let mut set: Vec<(&str, &[u8], u32)> = vec![(&name, der, output::PUBLIC)];
    if req.pem {
        set.push((&pem_name, pem.as_bytes(), output::PUBLIC));
    }
    output::write_new_files(dir, &set).map_err(|e| {
        CaError::Refused(format!(
            "{e}. CRL {number} was signed and it and the new revocations were recorded in the \
             ledger: run `crl issue` again without --revoke to get a CRL that carries them"
        ))
    })?;
    let mut files = vec![dir.join(&name)];
    if req.pem {
        files.push(dir.join(&pem_name));
    }
    Ok(files)
}
