//! Making bundles at the ceremony: gather and check every entry, then sign on the tokens.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use data_encoding::BASE64;
use der::{DateTime, Decode, Encode};
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use super::{Entry, FORMAT, Kind, Payload, Role, Statement, check_payload, valid_cdp_url};
use crate::ca::delegate::open_root_signer;
use crate::fingerprint::Fingerprint;
use crate::keys::token::{Pkcs11Uri, Token, TokenSigner};
use crate::keys::{KeySigner, sha256};
use crate::pki::cms;
use crate::pki::read_certificate;
use crate::pki::validity::Period;
use crate::pki::verify::{crl_issued_by, issued_by};
use crate::sys::output;

/// Why a bundle was not made; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// The request cannot be carried out; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The root key could not be opened or is not the root certificate's.
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    /// The token refused or failed.
    #[error(transparent)]
    Token(#[from] crate::keys::token::TokenError),
    /// A signature could not be made.
    #[error(transparent)]
    Cms(#[from] cms::CmsError),
    /// A certificate could not be read.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// Writing the bundle failed.
    #[error(transparent)]
    Output(#[from] output::OutputError),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
}

/// What a trust bundle needs.
pub struct TrustRequest<'a> {
    /// The signing root's key.
    pub token: &'a Pkcs11Uri,
    /// `--module`, when given.
    pub module: Option<&'a Path>,
    /// The signing root's certificate.
    pub root_cert: &'a Path,
    /// The lineage, when the signing root did not start it.
    pub lineage: Option<Fingerprint>,
    /// Further roots to carry (a successor during a rotation).
    pub add_roots: &'a [PathBuf],
    /// Tokens of added roots that sign too (a successor proves it holds its key).
    pub cosign: &'a [Pkcs11Uri],
    /// Leave the signing root out of the bundle (root revocation or the end of an overlap).
    pub retire_signing_root: bool,
    /// Timestamping roots.
    pub tsa_roots: &'a [PathBuf],
    /// The trust policy statements (TOML).
    pub policy: Option<&'a Path>,
    /// The bundle's version.
    pub version: u64,
    /// How long the bundle is valid.
    pub expires: Period,
    /// The bundle file.
    pub out: &'a Path,
}

/// What a revocation bundle needs.
pub struct RevocationRequest<'a> {
    /// The signing root's key.
    pub token: &'a Pkcs11Uri,
    /// `--module`, when given.
    pub module: Option<&'a Path>,
    /// The signing root's certificate.
    pub root_cert: &'a Path,
    /// The lineage, when the signing root did not start it.
    pub lineage: Option<Fingerprint>,
    /// The CRLs, each with the CDP URLs it answers for: one per issuing root.
    pub crls: &'a [CrlSource],
    /// Other roots of the lineage whose CRLs the bundle carries (during a rotation's overlap).
    pub crl_issuers: &'a [PathBuf],
    /// The bundle's version.
    pub version: u64,
    /// The bundle file.
    pub out: &'a Path,
}

/// A CRL file (DER or PEM) and the CRL distribution point URLs it answers for.
pub struct CrlSource {
    /// The CRL file.
    pub path: PathBuf,
    /// The URLs the delegates of its issuer carry.
    pub urls: Vec<String>,
}

/// What was written.
pub struct Made {
    /// The payload as signed.
    pub payload: Payload,
    /// The bundle file's fingerprint.
    pub fingerprint: Fingerprint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default, rename = "statement")]
    statements: Vec<Statement>,
}

fn read_policy(path: &Path) -> Result<Vec<Statement>, MakeError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        MakeError::Refused(format!("cannot read the policy {}: {e}", path.display()))
    })?;
    let file: PolicyFile = toml::from_str(&text).map_err(|e| {
        MakeError::Refused(format!(
            "{} is not a keyrite trust policy: {e}(see bundles/README.md for its [[statement]] tables)",
            path.display()
        ))
    })?;
    if file.statements.is_empty() {
        return Err(MakeError::Refused(format!(
            "{} has no [[statement]]: give at least one or leave --policy out",
            path.display()
        )));
    }
    Ok(file.statements)
}

fn self_signed_root(path: &Path) -> Result<(Certificate, Vec<u8>), MakeError> {
    let cert = read_certificate(path)?;
    issued_by(&cert, &cert).map_err(|e| {
        MakeError::Refused(format!("{} is not a self-signed root: {e}", path.display()))
    })?;
    let der = cert.to_der()?;
    Ok((cert, der))
}

fn cert_entry(role: Role, prefix: &str, der: &[u8]) -> Entry {
    let fp = Fingerprint::of(der).hex();
    Entry {
        name: format!(
            "{}/{prefix}-{}.crt",
            if role == Role::Root { "ca" } else { "tsa" },
            &fp[..16]
        ),
        role,
        sha256: fp,
        der: BASE64.encode(der),
        urls: Vec::new(),
    }
}

fn now() -> Result<DateTime, MakeError> {
    // Whole seconds: the payload's times are RFC 3339 without fractions.
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| MakeError::Refused("the system clock is before 1970".into()))?;
    Ok(DateTime::from_unix_duration(
        std::time::Duration::from_secs(t.as_secs()),
    )?)
}

fn check_out(out: &Path) -> Result<(PathBuf, String), MakeError> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| MakeError::Refused(format!("--out {} names no file", out.display())))?
        .to_owned();
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    output::preflight(&dir, &[&name])?;
    Ok((dir, name))
}

/// Signs `payload` with every signer and writes it to `dir/name`.
fn seal(
    payload: Payload,
    signers: &[(&dyn KeySigner, &Certificate)],
    dir: &Path,
    name: &str,
) -> Result<Made, MakeError> {
    check_payload(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;
    let json =
        serde_json::to_vec_pretty(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;
    let issued = super::parse_time("issued_at", &payload.issued_at)
        .map_err(|e| MakeError::Refused(e.to_string()))?;
    let der = cms::sign(&json, signers, issued)?;
    // The envelope is checked as an importer will check it before it leaves the ceremony.
    super::Bundle::decode(&der)
        .map_err(|e| MakeError::Refused(format!("the bundle just made does not check out: {e}")))?;
    output::write_new_files(dir, &[(name, &der, output::PUBLIC)])?;
    Ok(Made {
        payload,
        fingerprint: Fingerprint::of(&der),
    })
}

/// Makes a trust bundle: the roots, TSA roots and policy statements, signed by the signing
/// root and every cosigning successor.
pub fn make_trust(req: &TrustRequest<'_>) -> Result<Made, MakeError> {
    let (dir, name) = check_out(req.out)?;
    let (root, root_der) = self_signed_root(req.root_cert)?;
    let lineage = req.lineage.unwrap_or_else(|| Fingerprint::of(&root_der));
    let mut entries = Vec::new();
    let mut added = Vec::new();
    if !req.retire_signing_root {
        entries.push(cert_entry(Role::Root, "root", &root_der));
    }
    for path in req.add_roots {
        let (cert, der) = self_signed_root(path)?;
        if der == root_der
            || added
                .iter()
                .any(|(_, d): &(Certificate, Vec<u8>)| *d == der)
        {
            return Err(MakeError::Refused(format!(
                "{} is given twice",
                path.display()
            )));
        }
        entries.push(cert_entry(Role::Root, "root", &der));
        added.push((cert, der));
    }
    if entries.is_empty() {
        return Err(MakeError::Refused(
            "--retire-signing-root leaves the bundle with no root: add the successor with --add-root".into(),
        ));
    }
    for path in req.tsa_roots {
        let (_, der) = self_signed_root(path)?;
        let entry = cert_entry(Role::TsaRoot, "tsa", &der);
        if entries.iter().any(|e| e.name == entry.name) {
            return Err(MakeError::Refused(format!(
                "{} is given twice",
                path.display()
            )));
        }
        entries.push(entry);
    }
    let policy = req.policy.map(read_policy).transpose()?.unwrap_or_default();
    let issued = now()?;
    let expires = req.expires.end_from(issued)?;
    let payload = Payload {
        format: FORMAT,
        kind: Kind::Trust,
        lineage: lineage.hex(),
        version: req.version,
        issued_at: issued.to_string(),
        expires_at: expires.to_string(),
        entries,
        policy,
    };
    check_payload(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;

    let token = Token::open(req.token, req.module)?;
    let signer = open_root_signer(&token, req.token, &root)?;
    let cosign_tokens = req
        .cosign
        .iter()
        .map(|uri| Token::open(uri, req.module).map(|t| (uri, t)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cosigners: Vec<(TokenSigner<'_>, &Certificate)> = Vec::new();
    for (uri, token) in &cosign_tokens {
        token.login(uri)?;
        let key = token.find_key(uri)?;
        let cert = added
            .iter()
            .map(|(c, _)| c)
            .find(|c| crate::pki::verify::subject_key(c).is_ok_and(|k| k == key.public_key))
            .ok_or_else(|| {
                MakeError::Refused(format!(
                    "the key {uri} names is not the key of any --add-root certificate: a cosigner proves it holds an added root's key"
                ))
            })?;
        cosigners.push((TokenSigner::new(token, key)?, cert));
    }
    let mut signers: Vec<(&dyn KeySigner, &Certificate)> = vec![(&signer, &root)];
    signers.extend(cosigners.iter().map(|(s, c)| (s as &dyn KeySigner, *c)));
    seal(payload, &signers, &dir, &name)
}

fn read_crl(path: &Path) -> Result<(CertificateList, Vec<u8>), MakeError> {
    use der::DecodePem;
    let bytes = std::fs::read(path)
        .map_err(|e| MakeError::Refused(format!("cannot read the CRL {}: {e}", path.display())))?;
    let crl = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateList::from_pem(&bytes)
    } else {
        CertificateList::from_der(&bytes)
    }
    .map_err(|e| {
        MakeError::Refused(format!(
            "{} is not a CRL in DER or PEM ({e})",
            path.display()
        ))
    })?;
    let der = crl.to_der()?;
    Ok((crl, der))
}

/// Makes a revocation bundle: one CRL per issuing root of the lineage (the signing root, and
/// during a rotation's overlap the other root), each with the CDP URLs it answers for. It
/// expires no later than the earliest nextUpdate.
pub fn make_revocation(req: &RevocationRequest<'_>) -> Result<Made, MakeError> {
    let (dir, name) = check_out(req.out)?;
    let (root, root_der) = self_signed_root(req.root_cert)?;
    let lineage = req.lineage.unwrap_or_else(|| Fingerprint::of(&root_der));
    let mut issuers = vec![(root.clone(), root_der)];
    for path in req.crl_issuers {
        let (cert, der) = self_signed_root(path)?;
        if issuers.iter().any(|(_, d)| *d == der) {
            return Err(MakeError::Refused(format!(
                "{} is given twice",
                path.display()
            )));
        }
        issuers.push((cert, der));
    }
    if req.crls.is_empty() {
        return Err(MakeError::Refused("give at least one --crl".into()));
    }
    let issued = now()?;
    let mut expires: Option<DateTime> = None;
    let mut entries: Vec<Entry> = Vec::new();
    for source in req.crls {
        let path = source.path.display();
        if source.urls.is_empty() {
            return Err(MakeError::Refused(format!(
                "give --crl-url after --crl {path} for every CRL distribution point URL its issuer's delegates carry"
            )));
        }
        if let Some(u) = source.urls.iter().find(|u| !valid_cdp_url(u)) {
            return Err(MakeError::Refused(format!(
                "--crl-url {u}: notation looks up http:// URLs only"
            )));
        }
        let (crl, der) = read_crl(&source.path)?;
        let (_, issuer_der) = issuers
            .iter()
            .find(|(c, _)| crl_issued_by(&crl, c).is_ok())
            .ok_or_else(|| {
                MakeError::Refused(format!(
                    "{path} was not issued by the signing root{}: give the issuing root of the lineage with --crl-issuer",
                    if req.crl_issuers.is_empty() { "" } else { " or any --crl-issuer" }
                ))
            })?;
        let next_update = crl
            .tbs_cert_list
            .next_update
            .map(|t| t.to_date_time())
            .ok_or_else(|| MakeError::Refused(format!("{path} has no nextUpdate")))?;
        if next_update <= issued {
            return Err(MakeError::Refused(format!(
                "{path} expired on {next_update}: issue a fresh CRL first"
            )));
        }
        expires = Some(expires.map_or(next_update, |e| e.min(next_update)));
        let entry_name = format!("crl/{}.crl", &Fingerprint::of(issuer_der).hex()[..16]);
        if entries.iter().any(|e| e.name == entry_name) {
            return Err(MakeError::Refused(format!(
                "{path} is a second CRL of the same root: the CRL cache holds one CRL per URL, so give only the root's newest"
            )));
        }
        let mut urls = source.urls.clone();
        urls.sort();
        urls.dedup();
        if let Some(u) = urls
            .iter()
            .find(|u| entries.iter().any(|e| e.urls.contains(u)))
        {
            return Err(MakeError::Refused(format!(
                "{u} is given for two CRLs: each URL is answered by one CRL"
            )));
        }
        entries.push(Entry {
            name: entry_name,
            role: Role::Crl,
            sha256: hex::encode(sha256(&der)),
            der: BASE64.encode(&der),
            urls,
        });
    }
    let expires = expires.ok_or_else(|| MakeError::Refused("give at least one --crl".into()))?;
    let payload = Payload {
        format: FORMAT,
        kind: Kind::Revocation,
        lineage: lineage.hex(),
        version: req.version,
        issued_at: issued.to_string(),
        expires_at: expires.to_string(),
        entries,
        policy: Vec::new(),
    };
    check_payload(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;
    let token = Token::open(req.token, req.module)?;
    let signer = open_root_signer(&token, req.token, &root)?;
    seal(payload, &[(&signer, &root)], &dir, &name)
}
