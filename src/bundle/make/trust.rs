//! Trust bundles: the roots, TSA roots and policy statements a lineage's hosts trust.

use std::path::{Path, PathBuf};

use x509_cert::Certificate;

use super::{
    Made, MakeError, cert_entry, check_out, describe_payload, now, parse_policy, read_policy, seal,
    self_signed_root,
};
use crate::bundle::{FORMAT, Kind, Payload, Role, check_payload};
use crate::ca::issuer::open_root_signer;
use crate::fingerprint::Fingerprint;
use crate::keys::KeySigner;
use crate::keys::token::{Pkcs11Uri, Token, TokenSigner};
use crate::pki::validity::Period;
use crate::sys::input::InputFile;

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
    /// The trust policy statements (TOML). [`plan_trust`] reads the file once.
    pub policy: Option<&'a Path>,
    /// The CDP URLs the lineage's delegates carry: what its revocation bundles may fill.
    pub crl_urls: &'a [String],
    /// The bundle's version.
    pub version: u64,
    /// How long the bundle is valid.
    pub expires: Period,
    /// The bundle file.
    pub out: &'a Path,
}

/// A trust bundle's payload, built and checked, before anything is signed: what
/// [`seal_trust`] signs, and the lines officers read before they confirm.
pub struct TrustPlan {
    root: Certificate,
    policy_file: Option<InputFile>,
    added: Vec<(Certificate, Vec<u8>)>,
    payload: Payload,
    dir: PathBuf,
    name: String,
    lines: Vec<String>,
}

impl TrustPlan {
    /// What will be signed, a line each (see [`super::describe_payload`]).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The policy file as it was read, once: what the statements come from.
    pub fn policy_file(&self) -> Option<&InputFile> {
        self.policy_file.as_ref()
    }
}

/// Makes a trust bundle: the roots, TSA roots and policy statements, signed by the signing
/// root and every cosigning successor.
pub fn make_trust(req: &TrustRequest<'_>) -> Result<Made, MakeError> {
    seal_trust(req, plan_trust(req)?)
}

/// Builds and checks a trust bundle's payload; nothing is signed.
pub fn plan_trust(req: &TrustRequest<'_>) -> Result<TrustPlan, MakeError> {
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
    let policy_file = req.policy.map(read_policy).transpose()?;
    let policy = policy_file
        .as_ref()
        .map(parse_policy)
        .transpose()?
        .unwrap_or_default();
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
        crl_urls: req.crl_urls.to_vec(),
    };
    check_payload(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;
    let lines = describe_payload(&payload);
    Ok(TrustPlan {
        root,
        policy_file,
        added,
        payload,
        dir,
        name,
        lines,
    })
}

/// Signs the payload `plan` holds with the signing root and every cosigning successor, and
/// writes the bundle.
pub fn seal_trust(req: &TrustRequest<'_>, plan: TrustPlan) -> Result<Made, MakeError> {
    let TrustPlan {
        root,
        added,
        payload,
        dir,
        name,
        ..
    } = plan;
    let token = Token::open(req.token, req.module)?;
    let signer = open_root_signer(&token, req.token, &root)?;
    let cosign_tokens = req
        .cosign
        .iter()
        .map(|uri| Token::open(uri, req.module).map(|t| (uri, t)))
        .collect::<Result<Vec<_>, _>>()?;
    let cosigners = cosigners(&cosign_tokens, &added)?;
    let mut signers: Vec<(&dyn KeySigner, &Certificate)> = vec![(&signer, &root)];
    signers.extend(cosigners.iter().map(|(s, c)| (s as &dyn KeySigner, *c)));
    seal(payload, &signers, &dir, &name)
}

/// Each cosigning token's key, paired with the added root certificate it must be the key of.
fn cosigners<'t, 'c>(
    tokens: &'t [(&Pkcs11Uri, Token)],
    added: &'c [(Certificate, Vec<u8>)],
) -> Result<Vec<(TokenSigner<'t>, &'c Certificate)>, MakeError> {
    let mut cosigners = Vec::new();
    for (uri, token) in tokens {
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
    Ok(cosigners)
}
