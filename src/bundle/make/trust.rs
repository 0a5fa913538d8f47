//! Trust bundles: the roots, TSA roots and policy statements a lineage's hosts trust.

use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use der::{DateTime, Encode};
use x509_cert::Certificate;

use super::{
    Made, MakeError, TimestampChoice, cert_entry, check_out, describe_payload, now, parse_policy,
    read_policy, seal, self_signed_root,
};
use crate::bundle::{
    Entry, Kind, Payload, Role, ThirdParty, check_payload, valid_third_party_name,
};
use crate::ca::issuer::open_root_signer;
use crate::fingerprint::Fingerprint;
use crate::keys::KeySigner;
use crate::keys::token::{Pkcs11Uri, Token, TokenSigner};
use crate::notation::anchor::{Store, check_root};
use crate::notation::{store, tsa};
use crate::pki::name::ascii_escaped;
use crate::pki::name::display_name;
use crate::pki::validity::Period;
use crate::pki::{MAX_CERTIFICATE_BYTES, parse_certificate};
use crate::sys::input::{InputFile, Links};

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
    /// TSAs' timestamping certificates (each file the certificate, then any intermediates),
    /// checked against notation's rules and the TSA roots, and not carried: notation finds a
    /// TSA's certificate in each timestamp.
    pub tsa_certs: &'a [PathBuf],
    /// The trust policy statements (TOML). [`plan_trust`] reads the file once.
    pub policy: Option<&'a Path>,
    /// The CDP URLs the lineage's delegates carry: what its revocation bundles may fill.
    pub crl_urls: &'a [String],
    /// Third parties' roots the site vouches for.
    pub third_parties: &'a [ThirdPartySource],
    /// The bundle's version.
    pub version: u64,
    /// How long the bundle is valid.
    pub expires: Period,
    /// The bundle file.
    pub out: &'a Path,
}

/// A third party's root as the officers give it for a trust bundle.
#[derive(Clone, Debug, Default)]
pub struct ThirdPartySource {
    /// Its name: 1 to 32 lowercase letters, digits and '-'.
    pub name: String,
    /// Its root certificate (PEM or DER), as it published it.
    pub root: PathBuf,
    /// The repositories its signatures are trusted for (inside the lineage's grant).
    pub scopes: Vec<String>,
    /// The identities its signing certificates must match; `*` when none is given.
    pub identities: Vec<String>,
    /// Its timestamping root.
    pub tsa_root: Option<PathBuf>,
    /// The CDP URLs its certificates carry, which its CRLs may fill.
    pub crl_urls: Vec<String>,
    /// The rule its TSA root is used under; `afterCertExpiry` when a TSA root is given
    /// without one.
    pub verify_timestamp: Option<TimestampChoice>,
}

/// A trust bundle's payload, built and checked, before anything is signed: what
/// [`seal_trust`] signs, and the lines officers read before they confirm.
pub struct TrustPlan {
    root: Certificate,
    policy_file: Option<InputFile>,
    tsa_root_files: Vec<InputFile>,
    tsa_cert_files: Vec<InputFile>,
    third_party_files: Vec<InputFile>,
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

    /// The lineage's TSA root files as they were read, once.
    pub fn tsa_root_files(&self) -> &[InputFile] {
        &self.tsa_root_files
    }

    /// The TSA certificate files as they were read, once.
    pub fn tsa_cert_files(&self) -> &[InputFile] {
        &self.tsa_cert_files
    }

    /// The third parties' root and TSA root files as they were read, once.
    pub fn third_party_files(&self) -> &[InputFile] {
        &self.third_party_files
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
    let checked_at = now()?;
    let tsas = read_tsas(req, checked_at, &mut entries)?;
    let mut third_parties = Vec::new();
    let mut third_party_files = Vec::new();
    for source in req.third_parties {
        let (third, files) = third_party(source, &mut entries)?;
        third_parties.push(third);
        third_party_files.extend(files);
    }
    let policy_file = req.policy.map(read_policy).transpose()?;
    let has_tsa = !req.tsa_roots.is_empty();
    let (policy, defaulted) = policy_file
        .as_ref()
        .map(|f| parse_policy(f, has_tsa))
        .transpose()?
        .unwrap_or_default();
    if has_tsa && !policy.iter().any(|s| s.verify_timestamp.is_some()) {
        return Err(MakeError::Refused(
            "--tsa-root is given, but no statement would trust it (there is no --policy, or every statement says verify_timestamp = \"never\"): leave the TSA root out, or give a statement that trusts it".into(),
        ));
    }
    let issued = now()?;
    let expires = req.expires.end_from(issued)?;
    let payload = Payload {
        format: Payload::format_for(&entries, &policy, &third_parties),
        kind: Kind::Trust,
        lineage: lineage.hex(),
        version: req.version,
        issued_at: issued.to_string(),
        expires_at: expires.to_string(),
        entries,
        policy,
        crl_urls: req.crl_urls.to_vec(),
        third_parties,
    };
    check_payload(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;
    let mut lines = describe_payload(&payload);
    lines.extend(defaulted.iter().map(|name| {
        format!(
            "statement '{name}' names no verify_timestamp, so it gets keyrite's default, afterCertExpiry"
        )
    }));
    lines.extend(tsas.lines);
    Ok(TrustPlan {
        root,
        policy_file,
        tsa_root_files: tsas.root_files,
        tsa_cert_files: tsas.cert_files,
        third_party_files,
        added,
        payload,
        dir,
        name,
        lines,
    })
}

/// The lineage's TSA roots and TSAs' certificates, read once and checked: what officers are
/// told of them, and the files to record.
struct Tsas {
    root_files: Vec<InputFile>,
    cert_files: Vec<InputFile>,
    lines: Vec<String>,
}

/// Reads and checks the request's TSA roots, each a root notation would end a timestamp's
/// chain in, adding their entries to `entries`; then each TSA certificate, against notation's
/// rules and those roots. A root no certificate was checked against is said so.
fn read_tsas(
    req: &TrustRequest<'_>,
    checked_at: DateTime,
    entries: &mut Vec<Entry>,
) -> Result<Tsas, MakeError> {
    let mut tsas = Tsas {
        root_files: Vec::new(),
        cert_files: Vec::new(),
        lines: Vec::new(),
    };
    let mut roots = Vec::new();
    for path in req.tsa_roots {
        let file = InputFile::read(path, MAX_CERTIFICATE_BYTES, Links::Follow)
            .map_err(|e| MakeError::Refused(format!("TSA root: {e}")))?;
        let cert = parse_certificate(&file.bytes, path)?;
        check_root(&cert, checked_at, Store::Tsa).map_err(|why| {
            MakeError::Refused(format!(
                "TSA root {}: {why}; notation would not use it as a root of a tsa store",
                path.display()
            ))
        })?;
        let der = cert.to_der()?;
        let entry = cert_entry(Role::TsaRoot, "tsa", &der);
        if entries.iter().any(|e| e.name == entry.name) {
            return Err(MakeError::Refused(format!(
                "{} is given twice",
                path.display()
            )));
        }
        entries.push(entry);
        tsas.root_files.push(file);
        roots.push(cert);
    }
    let mut checked = vec![false; roots.len()];
    for path in req.tsa_certs {
        let file = InputFile::read(path, MAX_CERTIFICATE_BYTES, Links::Follow)
            .map_err(|e| MakeError::Refused(format!("TSA certificate: {e}")))?;
        let refused = |why: String| {
            MakeError::Refused(format!(
                "TSA certificate {}: {why}; notation would refuse the timestamps it signs",
                path.display()
            ))
        };
        let chain: Vec<Certificate> = store::parse_certificates(&file.bytes)
            .map_err(|e| {
                refused(if e.starts_with("Go refuses") {
                    e
                } else {
                    format!("{e} (give it in PEM, its intermediates after it)")
                })
            })?
            .into_iter()
            .map(|(cert, _)| cert)
            .collect();
        let root = tsa::check_chain(&chain, &roots, checked_at).map_err(refused)?;
        if let (Some(signer), Some(i)) = (chain.first(), roots.iter().position(|r| r == root)) {
            checked[i] = true;
            tsas.lines.push(format!(
                "TSA certificate {}, valid until {}, meets notation's rules and chains to timestamping root {}",
                subject(signer),
                signer.tbs_certificate().validity().not_after,
                subject(root)
            ));
        }
        tsas.cert_files.push(file);
    }
    for (root, _) in roots.iter().zip(checked).filter(|(_, c)| !c) {
        tsas.lines.push(format!(
            "timestamping root {}: no TSA certificate was checked against it (--tsa-cert checks the TSA's own certificate against notation's rules)",
            subject(root)
        ));
    }
    Ok(tsas)
}

/// A certificate's subject as officers read it.
fn subject(cert: &Certificate) -> String {
    ascii_escaped(&display_name(cert.tbs_certificate().subject()))
}

/// A third party's entry in the payload, its root (and TSA root) added to `entries` after
/// checking each is a root notation would use now; and the files read.
fn third_party(
    source: &ThirdPartySource,
    entries: &mut Vec<Entry>,
) -> Result<(ThirdParty, Vec<InputFile>), MakeError> {
    let name = &source.name;
    if !valid_third_party_name(name) {
        return Err(MakeError::Refused(format!(
            "third party name '{}' is not 1 to 32 lowercase letters, digits and '-': it names a trust store and files on every host, so give a plain name such as 'acme' or 'base-images'",
            ascii_escaped(name)
        )));
    }
    if entries.iter().any(|e| e.third_party() == Some(name)) {
        return Err(MakeError::Refused(format!(
            "third party '{name}' is given twice"
        )));
    }
    if source.scopes.is_empty() {
        return Err(MakeError::Refused(format!(
            "third party '{name}' has no scope: give --third-party-scope {name}=REGISTRY/REPOSITORY for each repository its signatures are trusted for"
        )));
    }
    let verify_timestamp = match (source.verify_timestamp, &source.tsa_root) {
        (Some(_), None) => {
            return Err(MakeError::Refused(format!(
                "third party '{name}' is given a timestamp rule but no TSA root: give --third-party-tsa {name}=TSA-ROOT.pem, or leave the rule out"
            )));
        }
        (Some(TimestampChoice::Never), Some(_)) => {
            return Err(MakeError::Refused(format!(
                "third party '{name}' is given a TSA root and the rule never, which would leave its TSA root unused: leave out one of the two"
            )));
        }
        (choice, tsa) => TimestampChoice::resolve(choice, tsa.is_some()),
    };
    let now = now()?;
    let mut files = Vec::new();
    for (role, path, kind) in [
        (Role::ThirdPartyRoot, Some(&source.root), Store::Ca),
        (
            Role::ThirdPartyTsaRoot,
            source.tsa_root.as_ref(),
            Store::Tsa,
        ),
    ] {
        let Some(path) = path else { continue };
        let file = InputFile::read(path, MAX_CERTIFICATE_BYTES, Links::Follow)
            .map_err(|e| MakeError::Refused(format!("third party '{name}': {e}")))?;
        let cert = parse_certificate(&file.bytes, path)?;
        check_root(&cert, now, kind).map_err(|why| {
            MakeError::Refused(format!(
                "third party '{name}' {} {}: {why}; notation would not use it as a root",
                if kind == Store::Ca {
                    "root"
                } else {
                    "TSA root"
                },
                path.display()
            ))
        })?;
        let der = cert.to_der()?;
        if let Some(e) = entries
            .iter()
            .find(|e| e.sha256 == Fingerprint::of(&der).hex())
        {
            return Err(MakeError::Refused(format!(
                "{} is already in the bundle as {}: a certificate is carried once, for one purpose",
                path.display(),
                e.name
            )));
        }
        entries.push(Entry {
            name: role.third_party_entry(name),
            role,
            sha256: Fingerprint::of(&der).hex(),
            der: BASE64.encode(&der),
            urls: Vec::new(),
        });
        files.push(file);
    }
    let identities = if source.identities.is_empty() {
        vec!["*".to_owned()]
    } else {
        source.identities.clone()
    };
    Ok((
        ThirdParty {
            name: name.clone(),
            registry_scopes: source.scopes.clone(),
            trusted_identities: identities,
            crl_urls: source.crl_urls.clone(),
            verify_timestamp,
        },
        files,
    ))
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
