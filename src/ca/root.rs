//! The root of trust: creating the root key and its self-signed certificate (inside one token,
//! or in memory with a Shamir backup and imported into several tokens), and recovering it from
//! shares into a new token.

use std::path::{Path, PathBuf};

use der::Encode;
use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use super::CaError;
use crate::fingerprint::Fingerprint;
use crate::keys::memory::MemoryKey;
use crate::keys::token::{
    KeyAudit, KeyOrigin, KeyTemplate, Pkcs11Uri, Token, TokenError, TokenKey, TokenSigner, pin,
};
use crate::keys::{KeyAlgorithm, KeySigner, PublicKey, sha256};
use crate::pki::PkiError;
use crate::pki::check::CertProfile;
use crate::pki::issue::issue;
use crate::pki::name::display_name;
use crate::pki::profile::RootProfile;
use crate::pki::validity::Period;
use crate::shares::{self, Custodian, Threshold};
use crate::sys::output;

/// The root certificate's file name in the output directory.
pub const ROOT_CERT_FILE: &str = "root.crt";
/// The fingerprint file's name in the output directory.
pub const ROOT_FINGERPRINT_FILE: &str = "root.fingerprint";
/// The key label used when the token URI names no object.
pub const DEFAULT_KEY_LABEL: &str = "keyrite-root";

/// The label a new root key carries until its certificate is written. Only the attempt that
/// made it knows its id; a key under this label is no root, and undoing an interrupted attempt
/// removes only such keys.
pub fn pending_label(id: &[u8]) -> String {
    format!("keyrite-pending-{}", hex::encode(id))
}

/// What a root creation needs.
pub struct RootRequest<'a> {
    /// The tokens (and optionally object label and id) the key goes to: exactly one in
    /// token-only mode; a primary and any backups in backed-up mode.
    pub tokens: &'a [Pkcs11Uri],
    /// `--module`, when given.
    pub module: Option<&'a Path>,
    /// The root's subject (and issuer).
    pub subject: Name,
    /// How long the root is valid.
    pub validity: Period,
    /// The key algorithm.
    pub algorithm: KeyAlgorithm,
    /// Where root.crt, root.fingerprint and share cards go.
    pub out_dir: &'a Path,
}

/// The Shamir backup a backed-up root gets.
pub struct Backup {
    /// T-of-N.
    pub threshold: Threshold,
    /// One per share, in index order.
    pub custodians: Vec<Custodian>,
}

/// The minimum backup a root should have, as a ceremony script states it.
pub const MINIMUM_BACKUP: &str = "the minimum is a Shamir backup, shares = \"T-of-N\" with \
    T >= 2 (no card alone is the key) and N >= T+1 (one card may be lost); see docs/keys.md";

/// What a root with the backup `threshold` (`None`: no backup) lacks against
/// [`MINIMUM_BACKUP`], or `None` when it meets it. A threshold below 2 never parses.
pub fn below_minimum_backup(threshold: Option<Threshold>) -> Option<String> {
    match threshold {
        None => Some(
            "no backup: the root key would live on one token, and losing that token means a \
             new root that every site pins again"
                .into(),
        ),
        Some(t) if t.n <= t.t => Some(format!(
            "shares {}-of-{} leave no spare card: losing any one card, or its custodian, loses \
             the backup",
            t.t, t.n
        )),
        Some(_) => None,
    }
}

/// A key placed on a token.
pub struct PlacedKey {
    /// A URI naming it (no PIN).
    pub uri: Pkcs11Uri,
    /// Its attributes as the token reports them.
    pub audit: KeyAudit,
}

/// What a root creation made.
pub struct RootOutcome {
    /// The certificate file.
    pub cert_path: PathBuf,
    /// The fingerprint file.
    pub fingerprint_path: PathBuf,
    /// SHA-256 of the certificate's DER.
    pub fingerprint: Fingerprint,
    /// The key on each token.
    pub keys: Vec<PlacedKey>,
    /// Share card files, when backed up.
    pub cards: Vec<PathBuf>,
    /// The subject, as written.
    pub subject: String,
    /// Serial number in hex.
    pub serial: String,
    /// notAfter.
    pub not_after: String,
}

/// A token opened and logged in, with the template its new key will get (under its pending
/// label) and the label it takes once it is the root.
pub(super) struct Target<'a> {
    pub(super) token: Token,
    uri: &'a Pkcs11Uri,
    pub(super) template: KeyTemplate,
    label: String,
}

impl Target<'_> {
    /// Gives a placed key its final label: from now on it is the root's key, and its token
    /// records that the root's ledger is empty.
    pub(super) fn confirm(&self, placed: &mut PlacedKey, key: &TokenKey) -> Result<(), CaError> {
        crate::ca::ledger::start_record(&self.token, &key.public_key)?;
        self.token.relabel_key(key, &self.label)?;
        placed.uri = self.uri.for_object(&self.label, &key.id);
        Ok(())
    }
}

/// Opens and logs in to every token, and checks each can take and use the new key, before
/// any key exists. Two URIs that reach the same token are refused: a backup on the same
/// device is no backup.
pub(super) fn open_targets<'a>(
    uris: &'a [Pkcs11Uri],
    module: Option<&Path>,
    alg: KeyAlgorithm,
) -> Result<Vec<Target<'a>>, CaError> {
    alg.check_ca_key().map_err(CaError::Refused)?;
    let targets = uris
        .iter()
        .map(|uri| {
            let token = Token::open(uri, module)?;
            token.login(uri)?;
            token.check_can_sign(alg.signature_scheme())?;
            let label = uri
                .object
                .clone()
                .unwrap_or_else(|| DEFAULT_KEY_LABEL.to_owned());
            let id = uri
                .id
                .clone()
                .unwrap_or_else(|| random_bytes::<16>().to_vec());
            let template = KeyTemplate {
                label: pending_label(&id),
                id,
                notation: false,
            };
            token.ensure_unused(&KeyTemplate {
                label: label.clone(),
                ..template.clone()
            })?;
            token.ensure_unused(&template)?;
            Ok(Target {
                token,
                uri,
                template,
                label,
            })
        })
        .collect::<Result<Vec<_>, CaError>>()?;
    for (i, a) in targets.iter().enumerate() {
        if let Some(b) = targets[..i]
            .iter()
            .find(|b| (b.token.label(), b.token.serial()) == (a.token.label(), a.token.serial()))
        {
            return Err(CaError::Refused(format!(
                "{} and {} reach the same token ('{}', serial {}): each --token must be a different device",
                b.uri,
                a.uri,
                a.token.label(),
                a.token.serial()
            )));
        }
    }
    Ok(targets)
}

/// Audits a key just placed on a token and proves it signs (the signature is verified in
/// software); refuses a key whose protection or origin is not `want`.
pub(super) fn check_placed(
    target: &Target<'_>,
    key: &TokenKey,
    want: KeyOrigin,
) -> Result<PlacedKey, CaError> {
    let audit = target.token.audit(key)?;
    if !audit.is_sound() {
        return Err(TokenError::WeakKey(audit.problems.join("; ")).into());
    }
    if audit.origin != want {
        return Err(TokenError::WeakKey(format!(
            "the token reports the key's origin as {:?} (CKA_LOCAL, CKA_ALWAYS_SENSITIVE, \
             CKA_NEVER_EXTRACTABLE), not {want:?}",
            audit.origin
        ))
        .into());
    }
    TokenSigner::new(&target.token, key.clone())?.sign(b"keyrite: the key signs on this token")?;
    Ok(PlacedKey {
        uri: target.uri.for_object(&key.label, &key.id),
        audit,
    })
}

/// Removes keys placed by a step that then failed, trying every one; names each that could
/// not be removed after `cause`.
pub(super) fn undo(placed: &[(&Target<'_>, TokenKey)], cause: CaError) -> CaError {
    let cleanups: Vec<_> = placed
        .iter()
        .filter_map(|(target, key)| target.token.destroy_key(key).err())
        .collect();
    if cleanups.is_empty() {
        cause
    } else {
        CaError::Cleanup {
            cause: Box::new(cause),
            cleanups,
        }
    }
}

/// Issues the self-signed root certificate with `signer`.
fn issue_root(
    req: &RootRequest<'_>,
    signer: &dyn KeySigner,
) -> Result<(Vec<u8>, String, String), CaError> {
    let serial = SerialNumber::generate(&mut UnwrapErr(SysRng));
    let serial_hex = hex::encode(serial.as_bytes());
    let validity = req.validity.validity_from_now()?;
    let not_after = validity.not_after.to_string();
    let der = issue(
        RootProfile {
            subject: req.subject.clone(),
        },
        CertProfile::Root,
        serial,
        validity,
        signer.public_key().to_spki()?,
        signer,
    )?;
    Ok((der, serial_hex, not_after))
}

/// The root certificate and fingerprint files, ready to write.
fn root_files(der: &[u8], key: &PublicKey) -> Result<(String, String, Fingerprint), CaError> {
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
        .map_err(|e| PkiError::Build(format!("PEM encoding: {e}")))?;
    let fingerprint = Fingerprint::of(der);
    let key_fingerprint = Fingerprint(sha256(&key.to_spki()?.to_der()?));
    let mut text = format!(
        "# SHA-256 of root.crt (DER)\nsha256: {}\nwords: {}\n\
         # SHA-256 of the root's public key (SubjectPublicKeyInfo), as share cards show it\n\
         key-sha256: {}\nkey-words: {}\n",
        fingerprint.hex(),
        fingerprint.words().join(" "),
        key_fingerprint.hex(),
        key_fingerprint.words().join(" "),
    );
    if pin::is_rehearsal() {
        text.push_str("rehearsal: this root was made in a rehearsal and must never be trusted\n");
    }
    Ok((pem, text, fingerprint))
}

/// Creates the root key inside one token (never extractable) and its certificate. Every
/// check runs before anything is written; if a step after key generation fails, the new key
/// is removed from the token again.
pub fn create_token_only(req: &RootRequest<'_>) -> Result<RootOutcome, CaError> {
    let [uri] = req.tokens else {
        return Err(CaError::Refused(
            "token-only mode makes the key inside exactly one token: give one --token".into(),
        ));
    };
    output::preflight(req.out_dir, &[ROOT_CERT_FILE, ROOT_FINGERPRINT_FILE])?;
    let targets = open_targets(std::slice::from_ref(uri), req.module, req.algorithm)?;
    let target = &targets[0];
    let key = target.token.generate_key(req.algorithm, &target.template)?;
    let made = (|| {
        let mut placed = check_placed(target, &key, KeyOrigin::GeneratedOnToken)?;
        let signer = TokenSigner::new(&target.token, key.clone())?;
        let (der, serial, not_after) = issue_root(req, &signer)?;
        let (pem, fingerprint_text, fingerprint) = root_files(&der, &key.public_key)?;
        output::write_new_files(
            req.out_dir,
            &[
                (ROOT_CERT_FILE, pem.as_bytes(), output::PUBLIC),
                (
                    ROOT_FINGERPRINT_FILE,
                    fingerprint_text.as_bytes(),
                    output::PUBLIC,
                ),
            ],
        )?;
        target.confirm(&mut placed, &key)?;
        Ok(RootOutcome {
            cert_path: req.out_dir.join(ROOT_CERT_FILE),
            fingerprint_path: req.out_dir.join(ROOT_FINGERPRINT_FILE),
            fingerprint,
            keys: vec![placed],
            cards: Vec::new(),
            subject: display_name(&req.subject),
            serial,
            not_after,
        })
    })();
    made.map_err(|e| undo(&[(target, key.clone())], e))
}

/// Creates the root key in memory, certifies it, splits it T-of-N onto custodians' cards,
/// imports it into every token, and writes everything at once. The key exists only in
/// zeroizing buffers and is gone when this returns. On any failure, keys already imported are
/// removed and nothing is written.
pub fn create_backed_up(req: &RootRequest<'_>, backup: &Backup) -> Result<RootOutcome, CaError> {
    if req.tokens.is_empty() {
        return Err(CaError::Refused(
            "give at least one --token for the root key".into(),
        ));
    }
    let card_names = shares::card_file_names(&backup.custodians, backup.threshold.n)?;
    let mut names: Vec<String> = vec![ROOT_CERT_FILE.into(), ROOT_FINGERPRINT_FILE.into()];
    names.extend(card_names.iter().map(|p| p.display().to_string()));
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    output::preflight(req.out_dir, &name_refs)?;
    let targets = open_targets(req.tokens, req.module, req.algorithm)?;

    let key = MemoryKey::generate(req.algorithm)?;
    let (der, serial, not_after) = issue_root(req, &key)?;
    let cards = shares::split(
        &key,
        backup.threshold,
        &backup.custodians,
        pin::is_rehearsal(),
    )?;
    let (pem, fingerprint_text, fingerprint) = root_files(&der, key.public_key())?;

    let mut placed = Vec::new();
    let mut keys = Vec::new();
    for target in &targets {
        let scalar = key.scalar();
        let imported =
            target
                .token
                .import_ec_key(req.algorithm, &scalar, key.public_key(), &target.template);
        match imported {
            Ok(k) => placed.push((target, k)),
            Err(e) => return Err(undo(&placed, e.into())),
        }
        let (target, k) = &placed[placed.len() - 1];
        match check_placed(target, k, KeyOrigin::Imported) {
            Ok(p) => keys.push(p),
            Err(e) => return Err(undo(&placed, e)),
        }
    }
    drop(key);
    // The crash tests kill a root creation here: keys on the tokens, no file written yet.
    crate::sys::crash_points::pause("KEYRITE_ROOT_PLACED_PAUSE_MS");

    let mut files: Vec<(String, &[u8], u32)> = vec![
        (ROOT_CERT_FILE.into(), pem.as_bytes(), output::PUBLIC),
        (
            ROOT_FINGERPRINT_FILE.into(),
            fingerprint_text.as_bytes(),
            output::PUBLIC,
        ),
    ];
    // Cards hold shares: readable by their owner only until handed out.
    for card in &cards {
        files.push((format!("{}.png", card.stem), &card.png, output::PRIVATE));
        files.push((
            format!("{}.svg", card.stem),
            card.svg.as_bytes(),
            output::PRIVATE,
        ));
    }
    let file_refs: Vec<(&str, &[u8], u32)> =
        files.iter().map(|(n, c, m)| (n.as_str(), *c, *m)).collect();
    if let Err(e) = output::write_new_files(req.out_dir, &file_refs) {
        return Err(undo(&placed, e.into()));
    }
    for i in 0..placed.len() {
        let (target, key) = &placed[i];
        if let Err(e) = target.confirm(&mut keys[i], key) {
            return Err(undo(&placed, e));
        }
    }
    Ok(RootOutcome {
        cert_path: req.out_dir.join(ROOT_CERT_FILE),
        fingerprint_path: req.out_dir.join(ROOT_FINGERPRINT_FILE),
        fingerprint,
        keys,
        cards: card_names.iter().map(|n| req.out_dir.join(n)).collect(),
        subject: display_name(&req.subject),
        serial,
        not_after,
    })
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    UnwrapErr(SysRng).fill_bytes(&mut out);
    out
}
