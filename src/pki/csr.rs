//! CSR intake: a publisher's certificate request is read (PEM with any line wrap, or DER),
//! its own signature verified, and its key and subject held against what notation accepts,
//! before anything is issued for it.

mod rules;
pub mod show;

pub use rules::{
    Intake, Review, check_general_name, describe_general_name, extension_name, review,
};

use std::path::Path;

use crate::sys::input::{InputError, InputFile, Links};

use der::asn1::ObjectIdentifier;
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq};

use super::profile::DelegateKind;
use crate::keys::{HashAlgorithm, KeySigner, PublicKey};

/// CSRs larger than this are refused unread: a real one is a few kilobytes.
pub const MAX_CSR_BYTES: u64 = 64 * 1024;

const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_EMAIL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1");

/// A CSR that decodes, holds a key notation accepts and verifies under it. What it asks for
/// is judged by [`review`] before anything is issued for it.
pub struct Csr {
    /// The request as parsed.
    pub request: CertReq,
    /// Its DER (what the ledger records a digest of).
    pub der: Vec<u8>,
    /// The requester's key.
    pub key: PublicKey,
    /// Every extension the request asks for, in the order written.
    pub requested: Vec<Extension>,
    /// What is malformed in its extensionRequest attributes; [`review`] refuses each.
    attribute_problems: Vec<String>,
}

impl Csr {
    /// The subjectAltName it asks for, as the certificate would carry it (not critical: the
    /// subject is never empty).
    pub fn subject_alt_name(&self) -> Option<Extension> {
        self.requested
            .iter()
            .find(|e| e.extn_id == SubjectAltName::OID)
            .map(|e| Extension {
                critical: false,
                ..e.clone()
            })
    }
}

/// A CSR refused at intake.
#[derive(Debug, thiserror::Error)]
#[error("CSR {path} refused: {reason}")]
pub struct CsrError {
    /// The file.
    pub path: String,
    /// What is wrong and what to do.
    pub reason: String,
}

/// Builds a PKCS#10 request for `subject` with `signer`'s key, signed by it.
pub fn build_csr(subject: &Name, signer: &dyn KeySigner) -> Result<Vec<u8>, super::PkiError> {
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: subject.clone(),
        public_key: signer.public_key().to_spki()?,
        attributes: Default::default(),
    };
    let signature = signer.sign(&info.to_der()?)?;
    let request = CertReq {
        info,
        algorithm: signer.scheme().algorithm_identifier(),
        signature: der::asn1::BitString::from_bytes(&signature)?,
    };
    Ok(request.to_der()?)
}

/// Reads the CSR at `path` and checks that it is one: it decodes, its key is one notation
/// accepts, and its own signature verifies. What it asks for is judged by [`review`].
pub fn read_csr(path: &Path) -> Result<Csr, CsrError> {
    parse_csr_file(&read_csr_file(path)?)
}

/// Reads a CSR file once, without following a link or blocking on a FIFO, its size checked
/// first; [`parse_csr_file`] checks what it holds.
pub fn read_csr_file(path: &Path) -> Result<InputFile, CsrError> {
    InputFile::read(path, MAX_CSR_BYTES, Links::Refuse).map_err(|e| CsrError {
        path: path.display().to_string(),
        reason: match e {
            InputError::TooLarge { size, .. } => format!(
                "it is {size} bytes; a CSR is a few kilobytes (the limit is {MAX_CSR_BYTES})"
            ),
            other => format!("cannot read it ({other})"),
        },
    })
}

/// Checks the CSR a file held (PEM or DER) as [`read_csr`] does.
pub fn parse_csr_file(file: &InputFile) -> Result<Csr, CsrError> {
    let fail = |reason: String| CsrError {
        path: file.path.display().to_string(),
        reason,
    };
    decode(&file.bytes).map_err(fail)
}

/// Checks a CSR's bytes (PEM with any line wrap, or DER) as [`read_csr`] does a file's;
/// `Err` says what is wrong. What it asks for is judged by [`review`].
pub fn decode(bytes: &[u8]) -> Result<Csr, String> {
    decode_csr(to_der(bytes)?)
}

/// Checks a DER CSR as [`read_csr`] does a file's, then [`review`]s it for the signing
/// profile; `Err` says what is wrong.
pub fn parse_csr(der: Vec<u8>) -> Result<Csr, String> {
    let csr = decode_csr(der)?;
    let review = review(
        &csr,
        &Intake {
            kind: DelegateKind::Signing,
            root_subject: None,
        },
    );
    if review.refusals.is_empty() {
        Ok(csr)
    } else {
        Err(review.refusals.join("; "))
    }
}

/// Decodes a DER CSR, checks its key and its own signature, and collects the extensions it
/// asks for.
fn decode_csr(der: Vec<u8>) -> Result<Csr, String> {
    let fail = |reason: String| reason;
    let request = CertReq::from_der(&der).map_err(|e| {
        fail(format!(
            "it is not a PKCS#10 certificate request in PEM or DER ({e}): give the .csr the publisher made"
        ))
    })?;
    let key = PublicKey::from_spki(&request.info.public_key).map_err(|e| {
        fail(format!(
            "{e}; notation accepts RSA-2048/3072/4096 and EC P-256/384/521"
        ))
    })?;
    check_leaf_key(&key).map_err(&fail)?;
    check_key_encoding(&request.info.public_key, &key).map_err(&fail)?;
    // The signature covers the CertificationRequestInfo exactly as the requester encoded it;
    // re-encoding could reorder a SET OF and make a good signature look bad.
    let info = RawCsr::from_der(&der)
        .map_err(|e| fail(format!("it is not a PKCS#10 certificate request ({e})")))?
        .info
        .to_der()
        .map_err(|e| fail(format!("its request info does not re-encode ({e})")))?;
    let signature = request
        .signature
        .as_bytes()
        .ok_or_else(|| fail("its signature is not a whole number of bytes".into()))?;
    verify_signature(&key, &request.algorithm, &info, signature).map_err(&fail)?;
    let (requested, attribute_problems) = requested_extensions(&request);
    Ok(Csr {
        request,
        der,
        key,
        requested,
        attribute_problems,
    })
}

/// The extensions in a request's extensionRequest, and what is malformed about it: PKCS#9
/// makes extensionRequest a single-valued attribute, and RFC 2986 a SET of at least one value.
fn requested_extensions(request: &CertReq) -> (Vec<Extension>, Vec<String>) {
    let mut extensions = Vec::new();
    let mut problems = Vec::new();
    let attributes: Vec<_> = request
        .info
        .attributes
        .iter()
        .filter(|a| a.oid == ExtensionReq::OID)
        .collect();
    if attributes.len() > 1 {
        problems.push(format!(
            "it has {} extensionRequest attributes where PKCS#9 allows one, so which extensions \
             it asks for is ambiguous: make the CSR with all its extensions in one request",
            attributes.len()
        ));
    }
    for attr in attributes {
        match attr.values.len() {
            0 => problems.push(
                "its extensionRequest attribute is an empty SET (RFC 2986 requires one value): \
                 make the CSR again with a standard tool such as openssl"
                    .into(),
            ),
            1 => {}
            n => problems.push(format!(
                "its extensionRequest attribute holds {n} values where PKCS#9 allows one: make \
                 the CSR with all its extensions in one request"
            )),
        }
        for value in attr.values.iter() {
            match value.decode_as::<ExtensionReq>() {
                Ok(req) => extensions.extend(req.0),
                Err(e) => problems.push(format!("its extension request does not decode ({e})")),
            }
        }
    }
    (extensions, problems)
}

/// PEM (any line length, any line endings) or DER to DER. der's own PEM reader wants
/// 64-column lines, and CSRs from other tools are often wrapped at 76: the base64 body is
/// decoded here instead.
fn to_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let Some(begin) = text.find("-----BEGIN ") else {
        return Ok(bytes.to_vec());
    };
    let rest = &text[begin..];
    let label_end = rest[11..].find("-----").ok_or("its PEM header is broken")? + 11;
    let label = &rest[11..label_end];
    if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
        return Err(format!("it is a PEM '{label}', not a CERTIFICATE REQUEST"));
    }
    let body_start = label_end + 5;
    let end = rest[body_start..]
        .find("-----END ")
        .ok_or("its PEM has no END line")?
        + body_start;
    let body: String = rest[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    data_encoding::BASE64
        .decode(body.as_bytes())
        .map_err(|e| format!("its PEM body is not base64 ({e})"))
}

/// The outer CSR with the request info kept as the requester encoded it.
#[derive(der::Sequence)]
struct RawCsr<'a> {
    info: der::asn1::AnyRef<'a>,
    algorithm: AlgorithmIdentifierOwned,
    signature: der::asn1::BitString,
}

/// RSASSA-PSS-params (RFC 4055), with the salt length as wide as RFC 4055 allows: OpenSSL
/// writes 350 and more for 3072- and 4096-bit keys, which the pkcs1 crate's u8 cannot hold.
#[derive(der::Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_len: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// Refuses key encodings Go (and so notation) cannot read: compressed EC points, and RSA
/// keys whose algorithm parameters are not NULL.
fn check_key_encoding(
    spki: &spki::SubjectPublicKeyInfoOwned,
    key: &PublicKey,
) -> Result<(), String> {
    let bits = spki.subject_public_key.raw_bytes();
    let field = match key {
        PublicKey::P256(_) => 32,
        PublicKey::P384(_) => 48,
        PublicKey::P521(_) => 66,
        PublicKey::Rsa(_) => {
            return match &spki.algorithm.parameters {
                Some(p) if p.is_null() => Ok(()),
                _ => Err("its RSA key's algorithm parameters are not NULL, which notation cannot read: make the CSR with a standard tool such as openssl".into()),
            };
        }
    };
    if bits.first() == Some(&0x04) && bits.len() == 1 + 2 * field {
        Ok(())
    } else {
        Err("its EC public key is a compressed point, which notation cannot read: make the CSR from a key in uncompressed form".into())
    }
}

/// Refuses keys notation refuses for signing certificates.
pub fn check_leaf_key(key: &PublicKey) -> Result<(), String> {
    use rsa::traits::PublicKeyParts;
    match key {
        PublicKey::Rsa(k) if ![2048, 3072, 4096].contains(&k.n().bit_width()) => Err(format!(
            "its key is {}; notation accepts RSA-2048/3072/4096 and EC P-256/384/521",
            key.describe()
        )),
        _ => Ok(()),
    }
}

fn hash_of(oid: &ObjectIdentifier) -> Option<HashAlgorithm> {
    [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ]
    .into_iter()
    .find(|h| h.oid() == *oid)
}

/// Verifies a CSR's self-signature: ECDSA with SHA-256/384/512 on any accepted curve, RSA
/// PKCS#1 v1.5 with SHA-256/384/512, or RSASSA-PSS with those hashes and MGF1.
fn verify_signature(
    key: &PublicKey,
    alg: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let unsupported = || unsupported(alg);
    let hash_named = |table: [(&str, HashAlgorithm); 3]| {
        let oid = alg.oid.to_string();
        table.into_iter().find(|(o, _)| *o == oid).map(|(_, h)| h)
    };
    let ecdsa = hash_named([
        ("1.2.840.10045.4.3.2", HashAlgorithm::Sha256),
        ("1.2.840.10045.4.3.3", HashAlgorithm::Sha384),
        ("1.2.840.10045.4.3.4", HashAlgorithm::Sha512),
    ]);
    if let Some(hash) = ecdsa {
        return verify_ecdsa(key, hash, message, signature);
    }
    let PublicKey::Rsa(rsa_key) = key else {
        return Err(unsupported());
    };
    let pkcs1 = hash_named([
        ("1.2.840.113549.1.1.11", HashAlgorithm::Sha256),
        ("1.2.840.113549.1.1.12", HashAlgorithm::Sha384),
        ("1.2.840.113549.1.1.13", HashAlgorithm::Sha512),
    ]);
    if let Some(hash) = pkcs1 {
        let padding = match hash {
            HashAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
            HashAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
            HashAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
        };
        return rsa_key
            .verify(padding, &hash.digest(message), signature)
            .map_err(|_| bad_signature());
    }
    if alg.oid != OID_RSASSA_PSS {
        return Err(unsupported());
    }
    let (hash, salt) = pss_params(alg)?;
    let digest = hash.digest(message);
    let verified = match hash {
        HashAlgorithm::Sha256 => rsa_key.verify(
            rsa::pss::Pss::<Sha256>::new_with_salt(salt),
            &digest,
            signature,
        ),
        HashAlgorithm::Sha384 => rsa_key.verify(
            rsa::pss::Pss::<Sha384>::new_with_salt(salt),
            &digest,
            signature,
        ),
        HashAlgorithm::Sha512 => rsa_key.verify(
            rsa::pss::Pss::<Sha512>::new_with_salt(salt),
            &digest,
            signature,
        ),
    };
    verified.map_err(|_| bad_signature())
}

fn unsupported(alg: &AlgorithmIdentifierOwned) -> String {
    format!(
        "its signature algorithm {} is not one keyrite accepts (ECDSA, RSA PKCS#1 v1.5 or PSS, with SHA-256/384/512)",
        alg.oid
    )
}

fn bad_signature() -> String {
    "its own signature does not verify: the request was altered or not signed by its key".into()
}

/// Verifies an ECDSA signature (DER) over `message` hashed with `hash`.
fn verify_ecdsa(
    key: &PublicKey,
    hash: HashAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let digest = hash.digest(message);
    let ok = match key {
        PublicKey::P256(k) => p256::ecdsa::Signature::from_der(signature)
            .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok()),
        PublicKey::P384(k) => p384::ecdsa::Signature::from_der(signature)
            .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok()),
        PublicKey::P521(k) => p521::ecdsa::Signature::from_der(signature)
            .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok()),
        PublicKey::Rsa(_) => return Err("it pairs an RSA key with an ECDSA signature".into()),
    };
    if ok { Ok(()) } else { Err(bad_signature()) }
}

/// The hash and salt length of RSASSA-PSS parameters keyrite accepts: MGF1 with the same
/// hash, trailer field 1, and SHA-256/384/512 (never SHA-1).
fn pss_params(alg: &AlgorithmIdentifierOwned) -> Result<(HashAlgorithm, usize), String> {
    let params = alg
        .parameters
        .as_ref()
        .ok_or("its RSASSA-PSS signature has no parameters")?
        .to_der()
        .map_err(|e| e.to_string())?;
    let params = PssParams::from_der(&params)
        .map_err(|e| format!("its RSASSA-PSS parameters do not decode ({e})"))?;
    // Absent hash and mask generation mean SHA-1, which is refused.
    let hash = params
        .hash
        .as_ref()
        .and_then(|h| hash_of(&h.oid))
        .ok_or_else(|| unsupported(alg))?;
    let mgf_hash = params
        .mask_gen
        .as_ref()
        .filter(|m| m.oid == OID_MGF1)
        .and_then(|m| m.parameters.as_ref())
        .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
        .and_then(|h| hash_of(&h.oid));
    if mgf_hash != Some(hash) {
        return Err(
            "its RSASSA-PSS signature uses a mask generation other than MGF1 with the same hash"
                .into(),
        );
    }
    if params.trailer_field.unwrap_or(1) != 1 {
        return Err("its RSASSA-PSS trailer field is not 1".into());
    }
    let salt = usize::try_from(params.salt_len.unwrap_or(20))
        .map_err(|_| "its PSS salt length is absurd")?;
    Ok((hash, salt))
}

/// SHA-256 of the CSR's DER, as the ledger records it.
pub fn csr_digest(csr: &Csr) -> [u8; 32] {
    Sha256::digest(&csr.der).into()
}
