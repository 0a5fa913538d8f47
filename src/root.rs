//! The root of trust: creating the root key and its self-signed certificate.

use std::path::{Path, PathBuf};

use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use crate::Error;
use crate::fingerprint::Fingerprint;
use crate::output;
use crate::pki::check::CertProfile;
use crate::pki::issue::issue;
use crate::pki::name::display_name;
use crate::pki::profile::RootProfile;
use crate::pki::validity::Period;
use crate::signer::{KeyAlgorithm, KeySigner};
use crate::token::{KeyAudit, KeyOrigin, KeyTemplate, Pkcs11Uri, Token, TokenSigner, pin};

/// The root certificate's file name in the output directory.
pub const ROOT_CERT_FILE: &str = "root.crt";
/// The fingerprint file's name in the output directory.
pub const ROOT_FINGERPRINT_FILE: &str = "root.fingerprint";
/// The key label used when the token URI names no object.
pub const DEFAULT_KEY_LABEL: &str = "keyrite-root";

/// What a root creation needs.
pub struct RootRequest<'a> {
    /// The token (and optionally object label and id) to create the key on.
    pub token: &'a Pkcs11Uri,
    /// `--module`, when given.
    pub module: Option<&'a Path>,
    /// The root's subject (and issuer).
    pub subject: Name,
    /// How long the root is valid.
    pub validity: Period,
    /// The key algorithm.
    pub algorithm: KeyAlgorithm,
    /// Where root.crt and root.fingerprint go.
    pub out_dir: &'a Path,
}

/// What a root creation made.
pub struct RootOutcome {
    /// The certificate file.
    pub cert_path: PathBuf,
    /// The fingerprint file.
    pub fingerprint_path: PathBuf,
    /// SHA-256 of the certificate's DER.
    pub fingerprint: Fingerprint,
    /// A URI naming the new key (no PIN).
    pub key_uri: Pkcs11Uri,
    /// The key's attributes as the token reports them.
    pub audit: KeyAudit,
    /// The subject, as written.
    pub subject: String,
    /// Serial number in hex.
    pub serial: String,
    /// notAfter.
    pub not_after: String,
}

/// Creates the root key inside the token (never extractable) and its certificate. Every
/// check runs before anything is written; if a step after key generation fails, the new key
/// is removed from the token again.
pub fn create_token_only(req: &RootRequest<'_>) -> Result<RootOutcome, Error> {
    output::preflight(req.out_dir, &[ROOT_CERT_FILE, ROOT_FINGERPRINT_FILE])?;
    let token = Token::open(req.token, req.module)?;
    token.login(req.token)?;
    let template = KeyTemplate {
        label: req
            .token
            .object
            .clone()
            .unwrap_or_else(|| DEFAULT_KEY_LABEL.to_owned()),
        id: match &req.token.id {
            Some(id) => id.clone(),
            None => random_bytes::<16>().to_vec(),
        },
    };
    token.check_can_sign(req.algorithm.signature_scheme())?;
    let key = token.generate_key(req.algorithm, &template)?;
    match certify(&token, req, &key) {
        Ok(outcome) => Ok(outcome),
        Err(e) => match token.destroy_key(&key) {
            Ok(()) => Err(e),
            Err(cleanup) => Err(Error::Cleanup {
                cause: Box::new(e),
                cleanup,
            }),
        },
    }
}

fn certify(
    token: &Token,
    req: &RootRequest<'_>,
    key: &crate::token::TokenKey,
) -> Result<RootOutcome, Error> {
    let audit = token.audit(key)?;
    if !audit.is_sound() {
        return Err(Error::WeakKey(audit.problems.join("; ")));
    }
    if audit.origin != KeyOrigin::GeneratedOnToken {
        return Err(Error::WeakKey(
            "the token does not report the key as generated inside it (CKA_LOCAL, \
             CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE), which token-only mode requires"
                .into(),
        ));
    }
    let signer = TokenSigner::new(token, key.clone())?;
    let serial = SerialNumber::generate(&mut UnwrapErr(SysRng));
    let serial_hex = hex::encode(serial.as_bytes());
    let validity = req.validity.validity_from_now()?;
    let not_after = validity.not_after.to_string();
    let spki = signer.public_key().to_spki()?;
    let der = issue(
        RootProfile {
            subject: req.subject.clone(),
        },
        CertProfile::Root,
        serial,
        validity,
        spki,
        &signer,
    )?;
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
        .map_err(|e| crate::pki::PkiError::Build(format!("PEM encoding: {e}")))?;
    let fingerprint = Fingerprint::of(&der);
    let fingerprint_text = fingerprint_file(&fingerprint);
    output::write_new_files(
        req.out_dir,
        &[
            (ROOT_CERT_FILE, pem.as_bytes()),
            (ROOT_FINGERPRINT_FILE, fingerprint_text.as_bytes()),
        ],
        0o644,
    )?;
    Ok(RootOutcome {
        cert_path: req.out_dir.join(ROOT_CERT_FILE),
        fingerprint_path: req.out_dir.join(ROOT_FINGERPRINT_FILE),
        fingerprint,
        key_uri: req.token.for_object(&key.label, &key.id),
        audit,
        subject: display_name(&req.subject),
        serial: serial_hex,
        not_after,
    })
}

/// The text of root.fingerprint: hex, then the words, marked when it is a rehearsal.
fn fingerprint_file(fp: &Fingerprint) -> String {
    let mut text = format!(
        "# SHA-256 of root.crt (DER)\nsha256: {}\nwords: {}\n",
        fp.hex(),
        fp.words().join(" ")
    );
    if pin::is_rehearsal() {
        text.push_str("rehearsal: this root was made in a rehearsal and must never be trusted\n");
    }
    text
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    UnwrapErr(SysRng).fill_bytes(&mut out);
    out
}
