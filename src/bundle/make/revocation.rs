//! Revocation bundles: the newest CRL of each issuing root of a lineage, with the CDP URLs each
//! answers for.

use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use der::{DateTime, Encode};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use super::{Made, MakeError, check_out, describe_payload, now, seal, self_signed_root};
use crate::bundle::{
    Entry, Kind, Payload, Role, check_payload, valid_cdp_url, valid_third_party_name,
};
use crate::ca::issuer::open_root_signer;
use crate::fingerprint::Fingerprint;
use crate::keys::sha256;
use crate::keys::token::{Pkcs11Uri, Token};
use crate::pki::name::ascii_escaped;
use crate::pki::verify::crl_issued_by;
use crate::sys::input::{InputFile, Links};

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
    /// Third parties' own CRLs, as they published them.
    pub third_party_crls: &'a [ThirdPartyCrlSource],
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

/// A third party's CRL as it published it, with its root (which must have signed it) and the
/// CDP URLs it answers for (declared for that third party in the lineage's trust bundle).
#[derive(Clone, Debug, Default)]
pub struct ThirdPartyCrlSource {
    /// The third party's name, as the trust bundle declares it.
    pub name: String,
    /// The CRL file (DER or PEM).
    pub crl: PathBuf,
    /// The third party's root certificate.
    pub root: PathBuf,
    /// The CDP URLs its certificates carry.
    pub urls: Vec<String>,
}

/// A CRL larger than this does not fit in a bundle.
const MAX_CRL_BYTES: u64 = crate::bundle::MAX_BUNDLE_BYTES;

/// Reads a CRL file once and parses it; the file and the CRL's DER.
fn read_crl(path: &Path) -> Result<(InputFile, CertificateList, Vec<u8>), MakeError> {
    let file = InputFile::read(path, MAX_CRL_BYTES, Links::Follow)
        .map_err(|e| MakeError::Refused(format!("the CRL: {e}")))?;
    let crl = crate::pki::crl::parse_crl(&file.bytes).map_err(|e| {
        MakeError::Refused(format!(
            "{} is not a CRL in DER or PEM ({e})",
            path.display()
        ))
    })?;
    let der = crl.to_der()?;
    Ok((file, crl, der))
}

/// A revocation bundle's payload, built and checked, before anything is signed: what
/// [`seal_revocation`] signs, and the lines officers read before they confirm.
pub struct RevocationPlan {
    root: Certificate,
    crl_files: Vec<InputFile>,
    payload: Payload,
    dir: PathBuf,
    name: String,
    lines: Vec<String>,
}

impl RevocationPlan {
    /// What will be signed, a line each (see [`super::describe_payload`]).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The CRL files as they were read, once: what the bundle carries.
    pub fn crl_files(&self) -> &[InputFile] {
        &self.crl_files
    }
}

/// Makes a revocation bundle: one CRL per issuing root of the lineage (the signing root, and
/// during a rotation's overlap the other root), each with the CDP URLs it answers for. It
/// expires no later than the earliest nextUpdate.
pub fn make_revocation(req: &RevocationRequest<'_>) -> Result<Made, MakeError> {
    seal_revocation(req, plan_revocation(req)?)
}

/// Builds and checks a revocation bundle's payload; nothing is signed.
pub fn plan_revocation(req: &RevocationRequest<'_>) -> Result<RevocationPlan, MakeError> {
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
    if req.crls.is_empty() && req.third_party_crls.is_empty() {
        return Err(MakeError::Refused("give at least one --crl".into()));
    }
    let issued = now()?;
    let mut expires: Option<DateTime> = None;
    let mut entries: Vec<Entry> = Vec::new();
    let mut crl_files = Vec::new();
    for source in req.crls {
        let (entry, next_update, file) =
            crl_entry(source, &issuers, req.crl_issuers, issued, &entries)?;
        expires = Some(expires.map_or(next_update, |e| e.min(next_update)));
        entries.push(entry);
        crl_files.push(file);
    }
    for source in req.third_party_crls {
        let (entry, next_update, file) = third_party_crl_entry(source, issued, &entries)?;
        expires = Some(expires.map_or(next_update, |e| e.min(next_update)));
        entries.push(entry);
        crl_files.push(file);
    }
    let expires = expires.ok_or_else(|| MakeError::Refused("give at least one --crl".into()))?;
    let payload = Payload {
        format: Payload::format_for(&entries, &[], &[]),
        kind: Kind::Revocation,
        lineage: lineage.hex(),
        version: req.version,
        issued_at: issued.to_string(),
        expires_at: expires.to_string(),
        entries,
        policy: Vec::new(),
        crl_urls: Vec::new(),
        third_parties: Vec::new(),
    };
    check_payload(&payload).map_err(|e| MakeError::Refused(e.to_string()))?;
    let lines = describe_payload(&payload);
    Ok(RevocationPlan {
        root,
        crl_files,
        payload,
        dir,
        name,
        lines,
    })
}

/// Signs the payload `plan` holds with the signing root and writes the bundle.
pub fn seal_revocation(
    req: &RevocationRequest<'_>,
    plan: RevocationPlan,
) -> Result<Made, MakeError> {
    let token = Token::open(req.token, req.module)?;
    let signer = open_root_signer(&token, req.token, &plan.root)?;
    seal(
        plan.payload,
        &[(&signer, &plan.root)],
        &plan.dir,
        &plan.name,
    )
}

/// The bundle entry for one `--crl` and its URLs, with the CRL's nextUpdate: issued by one of
/// `issuers`, fresh, the only CRL of its root, and the only one answering for its URLs.
/// The CRL's nextUpdate, once its dates are checked: encoded as RFC 5280 says, valid at
/// `issued` and not yet past.
fn check_dates(
    path: &Path,
    crl: &CertificateList,
    issued: DateTime,
) -> Result<DateTime, MakeError> {
    let path = path.display();
    let tbs = &crl.tbs_cert_list;
    // RFC 5280 5.1.2.4 and 5.1.2.5: dates through 2049 are UTCTime.
    if [Some(tbs.this_update), tbs.next_update]
        .iter()
        .flatten()
        .any(|t| {
            matches!(t, x509_cert::time::Time::GeneralTime(_)) && t.to_date_time().year() < 2050
        })
    {
        return Err(MakeError::Refused(format!(
            "{path} encodes a date before 2050 as GeneralizedTime, which RFC 5280 reserves for 2050 and later: have its issuer fix it"
        )));
    }
    let this_update = tbs.this_update.to_date_time();
    let next_update = tbs
        .next_update
        .map(|t| t.to_date_time())
        .ok_or_else(|| MakeError::Refused(format!("{path} has no nextUpdate")))?;
    if next_update <= this_update {
        return Err(MakeError::Refused(format!(
            "{path} has its nextUpdate ({next_update}) before its thisUpdate ({this_update}): it was never valid"
        )));
    }
    if this_update > issued {
        return Err(MakeError::Refused(format!(
            "{path} is not valid until {this_update}: check the issuer's clock and issue it again"
        )));
    }
    if next_update <= issued {
        return Err(MakeError::Refused(format!(
            "{path} expired on {next_update}: issue a fresh CRL first (for a third party's, obtain its current one)"
        )));
    }
    Ok(next_update)
}

/// The bundle entry for third party `source.name`'s CRL and its URLs, with its nextUpdate:
/// signed by the third party's root, in a form notation uses, fresh, one per third party.
fn third_party_crl_entry(
    source: &ThirdPartyCrlSource,
    issued: DateTime,
    entries: &[Entry],
) -> Result<(Entry, DateTime, InputFile), MakeError> {
    let name = &source.name;
    let path = source.crl.display();
    if !valid_third_party_name(name) {
        return Err(MakeError::Refused(format!(
            "third party name '{}' is not 1 to 32 lowercase letters, digits and '-'",
            ascii_escaped(name)
        )));
    }
    let entry_name = Role::ThirdPartyCrl.third_party_entry(name);
    if entries.iter().any(|e| e.name == entry_name) {
        return Err(MakeError::Refused(format!(
            "third party '{name}' is given two CRLs: the CRL cache holds one CRL per URL, so give its newest"
        )));
    }
    if source.urls.is_empty() {
        return Err(MakeError::Refused(format!(
            "give --third-party-crl-url {name}=URL for every CRL distribution point URL third party '{name}''s certificates carry (as its trust bundle declares them)"
        )));
    }
    if let Some(u) = source.urls.iter().find(|u| !valid_cdp_url(u)) {
        return Err(MakeError::Refused(format!(
            "--third-party-crl-url {name}={u}: notation looks up http:// URLs only"
        )));
    }
    let root = crate::pki::read_certificate(&source.root)?;
    let (file, crl, der) = read_crl(&source.crl)?;
    crl_issued_by(&crl, &root).map_err(|why| {
        MakeError::Refused(format!(
            "{path} was not signed by third party '{name}''s root {} ({why}): carry the CRL its root published, and check that the root is the one the trust bundle vouches for",
            source.root.display()
        ))
    })?;
    crate::pki::crl::check_crl_form(&crl, &root).map_err(|why| {
        MakeError::Refused(format!("{path}: {why}: keyrite-import would refuse it"))
    })?;
    let next_update = check_dates(&source.crl, &crl, issued)?;
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
    Ok((
        Entry {
            name: entry_name,
            role: Role::ThirdPartyCrl,
            sha256: hex::encode(sha256(&der)),
            der: BASE64.encode(&der),
            urls,
        },
        next_update,
        file,
    ))
}

fn crl_entry(
    source: &CrlSource,
    issuers: &[(Certificate, Vec<u8>)],
    crl_issuers: &[PathBuf],
    issued: DateTime,
    entries: &[Entry],
) -> Result<(Entry, DateTime, InputFile), MakeError> {
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
    let (file, crl, der) = read_crl(&source.path)?;
    let (issuer, issuer_der) = issuers
        .iter()
        .find(|(c, _)| crl_issued_by(&crl, c).is_ok())
        .ok_or_else(|| {
            MakeError::Refused(format!(
                "{path} was not issued by the signing root{}: give the issuing root of the lineage with --crl-issuer",
                if crl_issuers.is_empty() { "" } else { " or any --crl-issuer" }
            ))
        })?;
    crate::pki::crl::check_crl_form(&crl, issuer).map_err(|why| {
        MakeError::Refused(format!("{path}: {why}: keyrite-import would refuse it"))
    })?;
    let next_update = check_dates(&source.path, &crl, issued)?;
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
    Ok((
        Entry {
            name: entry_name,
            role: Role::Crl,
            sha256: hex::encode(sha256(&der)),
            der: BASE64.encode(&der),
            urls,
        },
        next_update,
        file,
    ))
}
