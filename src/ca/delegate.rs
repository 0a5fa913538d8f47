//! Delegate issuance: a publisher's CSR in, a certificate and its chain out, signed by the
//! root key on the token and recorded in the ledger.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use der::{DateTime, Encode};
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;
use x509_cert::Certificate;
use x509_cert::serial_number::SerialNumber;

use super::CaError;
use super::issuer::{issuer_facts, open_root_signer};
use crate::ca::ledger::{Issued, Ledger};
use crate::fingerprint::Fingerprint;
use crate::keys::sha256;
use crate::keys::token::{Pkcs11Uri, Token, TokenSigner};
use crate::pki::check::{CertProfile, Issuer};
use crate::pki::csr::show::describe;
use crate::pki::csr::{Csr, Intake, csr_digest, parse_csr_file, read_csr_file, review};
use crate::pki::issue::issue;
use crate::pki::name::{ascii_escaped, display_name};
use crate::pki::profile::{DelegateKind, DelegateProfile};
use crate::pki::serial_hex;
use crate::pki::validity::Period;
use crate::pki::{pem, read_certificate};
use crate::sys::input::InputFile;
use crate::sys::output;

/// What a delegate issuance needs.
pub struct DelegateRequest<'a> {
    /// The root key's token and object.
    pub token: &'a Pkcs11Uri,
    /// `--module`, when given.
    pub module: Option<&'a Path>,
    /// The root certificate.
    pub root_cert: &'a Path,
    /// The publisher's CSR (PEM or DER). [`plan_delegate`] reads it once; what is signed
    /// comes from the bytes it read.
    pub csr: &'a Path,
    /// Signing or CA.
    pub kind: DelegateKind,
    /// How long the certificate is valid (never beyond the root).
    pub validity: Period,
    /// The http:// URL the CRL for this certificate will be published at.
    pub crl_url: Option<&'a str>,
    /// The ledger directory.
    pub ledger: &'a Path,
    /// Where `<name>.crt` and `<name>.chain.pem` go.
    pub out_dir: &'a Path,
    /// Issue even when another key holds an active certificate for the same subject (a key
    /// rollover where both keys must sign for a while).
    pub allow_shared_subject: bool,
    /// Issue even when the CSR's key holds an active certificate for another subject (one key
    /// shared by two publishers or build systems, or a publisher renamed before its old
    /// certificate is revoked).
    pub allow_shared_key: bool,
}

/// What a delegate issuance made.
pub struct DelegateOutcome {
    /// The certificate (PEM).
    pub cert_path: PathBuf,
    /// The chain, leaf then root (PEM).
    pub chain_path: PathBuf,
    /// The ledger entry.
    pub issued: Issued,
    /// What the CSR checks asked officers to look at (look-alike letters in the subject, …).
    pub warnings: Vec<String>,
}

/// What the root will sign for a delegate request, decided before the token is touched: the
/// checked CSR, the certificate's validity and file names, and the lines officers read before
/// they confirm. [`issue_delegate`] signs exactly this.
pub struct DelegatePlan {
    root: Certificate,
    issuer: Issuer,
    csr_file: InputFile,
    csr: Csr,
    warnings: Vec<String>,
    name: String,
    not_before: DateTime,
    not_after: DateTime,
    lines: Vec<String>,
}

impl DelegatePlan {
    /// What will be signed, a line each, for officers to read before the root signs: the
    /// subject in ASCII, the key and its SHA-256 as hex and words, the names requested, the
    /// validity, the CRL distribution point, the CSR file's SHA-256 and every warning.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The CSR file as it was read, once: what the certificate is made from.
    pub fn csr_file(&self) -> &InputFile {
        &self.csr_file
    }
}

/// Checks a delegate request (the root certificate, the CSR and every rule it is held to, the
/// validity, the CRL URL, the output files) and decides what the root will sign.
pub fn plan_delegate(req: &DelegateRequest<'_>) -> Result<DelegatePlan, CaError> {
    let root = read_certificate(req.root_cert)?;
    let issuer = issuer_facts(&root)?;
    let csr_file = read_csr_file(req.csr)?;
    let csr = parse_csr_file(&csr_file)?;
    let intake = Intake {
        kind: req.kind,
        root_subject: Some(&issuer.subject),
    };
    let review = review(&csr, &intake);
    let shown = describe(&csr, &intake, &review);
    let warnings = review.into_result(req.csr)?;
    check_request(req)?;
    let name = output_name(req.csr)?;
    output::preflight(req.out_dir, &[&cert_file(&name), &chain_file(&name)])?;
    let not_before = DateTime::from_system_time(SystemTime::now())?;
    let not_after = req.validity.end_from(not_before)?;
    if not_after.unix_duration() > issuer.not_after.to_unix_duration() {
        return Err(CaError::Refused(format!(
            "--validity would end on {not_after}, after the root expires ({}): choose a shorter validity",
            issuer.not_after
        )));
    }
    let mut lines = vec![
        format!(
            "{} delegate, signed by {}",
            profile_name(req.kind),
            ascii_escaped(&display_name(&issuer.subject))
        ),
        format!("CSR file: {}", req.csr.display()),
        "CSR file SHA-256:".to_owned(),
        format!("  {}", Fingerprint::of(&csr_file.bytes).hex()),
    ];
    lines.extend(shown.lines().map(str::to_owned));
    lines.push(format!("valid:    {not_before} to {not_after}"));
    lines.push(format!(
        "CRL distribution point: {}",
        req.crl_url.unwrap_or("none")
    ));
    for (allowed, what) in [
        (
            req.allow_shared_subject,
            "a subject another key holds is issued (--allow-subject-held-by-another-key)",
        ),
        (
            req.allow_shared_key,
            "a key certified for another subject is issued \
             (--allow-key-certified-for-another-subject)",
        ),
    ] {
        if allowed {
            lines.push(format!("override: {what}"));
        }
    }
    Ok(DelegatePlan {
        root,
        issuer,
        csr_file,
        csr,
        warnings,
        name,
        not_before,
        not_after,
        lines,
    })
}

/// Issues the delegate certificate `plan` describes, signed by the root key on the token; it
/// is recorded in the ledger as soon as it is signed and verified.
pub fn issue_delegate(
    req: &DelegateRequest<'_>,
    plan: DelegatePlan,
) -> Result<DelegateOutcome, CaError> {
    let DelegatePlan {
        root,
        issuer,
        csr,
        warnings,
        name,
        not_before,
        not_after,
        ..
    } = plan;
    let token = Token::open(req.token, req.module)?;
    let signer = open_root_signer(&token, req.token, &root)?;
    let mut ledger = Ledger::open(req.ledger, req.root_cert, &root.to_der()?, true, &token)?;
    let now = DateTime::from_system_time(SystemTime::now())?;
    let subject = display_name(&csr.request.info.subject);
    let key_sha256 = hex::encode(sha256(&csr.request.info.public_key.to_der()?));
    let holders = subject_holders(&ledger, &subject, &key_sha256, now);
    let mut warnings = warnings;
    // Each override is the officers' decision: it goes into the outcome, and so into the
    // transcript.
    if !holders.is_empty() {
        if !req.allow_shared_subject {
            return Err(held_subject(&subject, &holders));
        }
        warnings.push(format!(
            "issued although the subject is held by another key's active certificate (serial \
             {}): the override allows it; both keys now sign as that subject",
            holders.join(", ")
        ));
    }
    let others = key_holders(&ledger, &subject, &key_sha256, now);
    if !others.is_empty() {
        if !req.allow_shared_key {
            return Err(shared_key(&others));
        }
        warnings.push(format!(
            "issued although the key holds an active certificate for another subject ({}): \
             the override allows it; the key now signs as each subject",
            others.join("; ")
        ));
    }
    let serial = loop {
        let candidate: SerialNumber = SerialNumber::generate(&mut UnwrapErr(SysRng));
        if !ledger.knows_serial(&serial_hex(&candidate)) {
            break candidate;
        }
    };
    let serial_text = serial_hex(&serial);
    let validity = x509_cert::time::Validity::new(not_before.into(), not_after.into());
    let der = sign(req, &csr, &issuer, serial, validity, &signer)?;
    let issued = Issued {
        serial: serial_text,
        subject,
        key_sha256,
        profile: profile_name(req.kind).into(),
        not_before: not_before.to_string(),
        not_after: not_after.to_string(),
        csr_sha256: hex::encode(csr_digest(&csr)),
        cert_sha256: hex::encode(sha256(&der)),
        issued_at: now.to_string(),
    };
    // Recorded before the files are written: a signed certificate is always in the ledger,
    // so it can be revoked even if writing it fails.
    ledger.record(issued.clone())?;
    let leaf = pem("CERTIFICATE", &der)?;
    let chain = format!("{leaf}{}", pem("CERTIFICATE", &root.to_der()?)?);
    let (cert_file, chain_file) = (cert_file(&name), chain_file(&name));
    output::write_new_files(
        req.out_dir,
        &[
            (&cert_file, leaf.as_bytes(), output::PUBLIC),
            (&chain_file, chain.as_bytes(), output::PUBLIC),
        ],
    )
    .map_err(|e| {
        CaError::Refused(format!(
            "{e}. The certificate (serial {}, SHA-256 {}) was signed and recorded in the ledger \
             but not written: revoke it with `crl issue --revoke {}` and issue a new one",
            issued.serial, issued.cert_sha256, issued.serial
        ))
    })?;
    Ok(DelegateOutcome {
        cert_path: req.out_dir.join(cert_file),
        chain_path: req.out_dir.join(chain_file),
        issued,
        warnings,
    })
}

fn cert_file(name: &str) -> String {
    format!("{name}.crt")
}

fn chain_file(name: &str) -> String {
    format!("{name}.chain.pem")
}

/// The profile's name as the ledger records it.
fn profile_name(kind: DelegateKind) -> &'static str {
    match kind {
        DelegateKind::Signing => "signing",
        DelegateKind::Ca => "ca",
    }
}

/// Refuses a request whose profile and CRL URL do not fit together.
fn check_request(req: &DelegateRequest<'_>) -> Result<(), CaError> {
    if req.kind == DelegateKind::Ca && req.crl_url.is_none() {
        return Err(CaError::Refused(
            "a delegate CA needs --crl-url: without a CRL distribution point notation treats it \
             as never revocable"
                .into(),
        ));
    }
    if let Some(url) = req.crl_url
        && !url.starts_with("http://")
    {
        return Err(CaError::Refused(format!(
            "--crl-url {url}: notation fetches CRLs over plain http:// only (the CRL is signed)"
        )));
    }
    Ok(())
}

/// The active certificates in the ledger: issued, not revoked, not expired.
fn active<'l>(ledger: &'l Ledger<'_>, now: DateTime) -> impl Iterator<Item = &'l Issued> {
    ledger
        .issued()
        .iter()
        .filter(|i| !ledger.revoked().iter().any(|r| r.serial == i.serial))
        // A date the ledger cannot read counts as unexpired.
        .filter(move |i| {
            i.not_after
                .parse::<DateTime>()
                .map_or(true, |t| t.unix_duration() > now.unix_duration())
        })
}

/// The serials of the active certificates that another key holds for `subject`: every trust
/// policy naming the subject would trust both keys.
fn subject_holders(ledger: &Ledger, subject: &str, key_sha256: &str, now: DateTime) -> Vec<String> {
    active(ledger, now)
        .filter(|i| i.subject == subject && i.key_sha256 != key_sha256)
        .map(|i| i.serial.clone())
        .collect()
}

/// The active certificates (`serial <s> for <subject>`) the key `key_sha256` holds for
/// another subject than `subject`: one key shared between publishers, so a leak of it, or a
/// revocation, is every one of theirs.
fn key_holders(ledger: &Ledger, subject: &str, key_sha256: &str, now: DateTime) -> Vec<String> {
    active(ledger, now)
        .filter(|i| i.key_sha256 == key_sha256 && i.subject != subject)
        .map(|i| format!("serial {} for {}", i.serial, ascii_escaped(&i.subject)))
        .collect()
}

/// The refusal of a subject `holders` (serials) hold.
fn held_subject(subject: &str, holders: &[String]) -> CaError {
    CaError::Refused(format!(
        "the subject {} is held by another key, with active certificate serial {}: every trust \
         policy naming the subject would trust both keys. Revoke that certificate first, or, \
         when both keys must sign for a while (a key rollover), pass \
         --allow-subject-held-by-another-key (allow_subject_held_by_another_key = true in a \
         ceremony step)",
        ascii_escaped(subject),
        holders.join(", ")
    ))
}

/// The refusal of a key that already holds certificates (`holders`) for other subjects.
fn shared_key(holders: &[String]) -> CaError {
    CaError::Refused(format!(
        "the CSR's key holds an active certificate for another subject ({}): one delegate key \
         per publisher or build system, so that a leak or a revocation touches one of them. \
         Have the publisher make a new key for this subject, or revoke the other certificate \
         first; when the site decides to share the key, pass \
         --allow-key-certified-for-another-subject (allow_key_certified_for_another_subject = \
         true in a ceremony step)",
        holders.join("; ")
    ))
}

/// The name the certificate files take: the CSR file's stem, when it is a safe file name.
fn output_name(csr: &Path) -> Result<String, CaError> {
    csr.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .map(str::to_owned)
        .ok_or_else(|| {
            CaError::Refused(format!(
                "the CSR file name {} must be letters, digits, '-', '_' or '.', as the certificate is named after it",
                csr.display()
            ))
        })
}

/// Builds the delegate's certificate from the CSR, checks it, and has the root sign it.
fn sign(
    req: &DelegateRequest<'_>,
    csr: &Csr,
    issuer: &Issuer,
    serial: SerialNumber,
    validity: x509_cert::time::Validity,
    signer: &TokenSigner<'_>,
) -> Result<Vec<u8>, CaError> {
    let profile = DelegateProfile {
        kind: req.kind,
        subject: csr.request.info.subject.clone(),
        issuer: issuer.subject.clone(),
        issuer_key_id: issuer.key_id.clone(),
        crl_url: req.crl_url.map(str::to_owned),
        subject_alt_name: csr.subject_alt_name(),
    };
    let check_as = match req.kind {
        DelegateKind::Signing => CertProfile::Signing(issuer),
        DelegateKind::Ca => CertProfile::DelegateCa(issuer),
    };
    Ok(issue(
        profile,
        check_as,
        serial,
        validity,
        csr.request.info.public_key.clone(),
        signer,
    )?)
}
