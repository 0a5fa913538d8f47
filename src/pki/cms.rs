//! Signatures by roots as CMS SignedData (RFC 5652), one SignerInfo per signing root, with the
//! content inside (bundles) or detached (transcripts), so `openssl cms -verify` checks them as
//! keyrite does.
//!
//! The `cms` crate holds the ASN.1 types; the SignerInfos are assembled here because its
//! builder signs with in-memory keys only, and a root key signs on its token.

use der::asn1::{OctetString, SetOfVec, UtcTime};
use der::oid::ObjectIdentifier;
use der::{Any, DateTime, Decode, Encode};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo,
};

use crate::keys::{HashAlgorithm, KeySigner, PublicKey, SignatureScheme};

/// A signature that cannot be decoded or does not check out.
#[derive(Debug, thiserror::Error)]
pub enum CmsError {
    /// The structure is damaged or not of the form keyrite writes.
    #[error("{0}")]
    Envelope(String),
    /// A signature does not verify.
    #[error("{0}")]
    Signature(String),
    /// The signature itself is intact and the signer's, but it covers other content: what it
    /// was made over was changed afterwards.
    #[error("{message}")]
    ContentDiffers {
        /// What differs, in a sentence.
        message: String,
        /// The certificate of the signer whose signature is intact.
        signer: Box<Certificate>,
    },
    /// A signing key is not its certificate's key.
    #[error("{0}")]
    Signer(String),
    /// The key could not sign.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// An encoding failure in keyrite's own data.
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
}

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn digest_identifier(hash: HashAlgorithm) -> spki::AlgorithmIdentifierOwned {
    // RFC 5754: the SHA-2 digest identifiers have absent parameters.
    spki::AlgorithmIdentifierOwned {
        oid: hash.oid(),
        parameters: None,
    }
}

/// The digestAlgorithms of a SignedData: each signer's digest identifier, once.
fn digest_set(
    algorithms: impl Iterator<Item = spki::AlgorithmIdentifierOwned>,
) -> Result<SetOfVec<spki::AlgorithmIdentifierOwned>, der::Error> {
    let mut unique = Vec::new();
    for a in algorithms {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    SetOfVec::try_from(unique)
}

/// Wraps `payload` in a SignedData signed by every `(signer, certificate)` pair, each
/// signature made on the signer's token and verified before it is used.
pub fn sign(
    payload: &[u8],
    signers: &[(&dyn KeySigner, &Certificate)],
    signing_time: DateTime,
) -> Result<Vec<u8>, CmsError> {
    signed_data(payload, signers, signing_time, true)
}

/// A detached signature over `content`: a SignedData without the content in it.
pub fn sign_detached(
    content: &[u8],
    signers: &[(&dyn KeySigner, &Certificate)],
    signing_time: DateTime,
) -> Result<Vec<u8>, CmsError> {
    signed_data(content, signers, signing_time, false)
}

fn signed_data(
    payload: &[u8],
    signers: &[(&dyn KeySigner, &Certificate)],
    signing_time: DateTime,
    attached: bool,
) -> Result<Vec<u8>, CmsError> {
    let mut signer_infos = SetOfVec::new();
    let mut certificates = SetOfVec::new();
    for (signer, cert) in signers {
        let scheme = signer.scheme();
        let hash = scheme.hash();
        let cert_key = PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info())
            .map_err(|e| CmsError::Signer(format!("a signing root's certificate: {e}")))?;
        if &cert_key != signer.public_key() {
            return Err(CmsError::Signer(format!(
                "the key on the token is not the key of the certificate for {}: give the token URI of that root's key",
                crate::pki::name::display_name(cert.tbs_certificate().subject())
            )));
        }
        let signed_attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
            attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA)?)?,
            attribute(
                ID_SIGNING_TIME,
                Any::encode_from(&UtcTime::from_date_time(signing_time)?)?,
            )?,
            attribute(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(hash.digest(payload))?)?,
            )?,
        ])?;
        let signature = signer.sign(&signed_attrs.to_der()?)?;
        signer_infos.insert(SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: cert.tbs_certificate().issuer().clone(),
                serial_number: cert.tbs_certificate().serial_number().clone(),
            }),
            digest_alg: digest_identifier(hash),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: scheme.algorithm_identifier(),
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        })?;
        certificates.insert(CertificateChoices::Certificate((*cert).clone()))?;
    }
    let digest_algorithms = digest_set(
        signer_infos
            .iter()
            .map(|si: &SignerInfo| si.digest_alg.clone()),
    )?;
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: if attached {
                Some(Any::encode_from(&OctetString::new(payload)?)?)
            } else {
                None
            },
        },
        certificates: Some(CertificateSet(certificates)),
        crls: None,
        signer_infos: cms::signed_data::SignerInfos(signer_infos),
    };
    Ok(ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed)?,
    }
    .to_der()?)
}

/// A SignedData whose every signature checked out: the payload and the certificates that signed it.
pub struct Opened {
    /// The payload the signatures cover.
    pub payload: Vec<u8>,
    /// The certificate of each signer, in the envelope's order.
    pub signers: Vec<Certificate>,
}

/// Decodes a SignedData with its content inside and verifies every SignerInfo against the
/// certificate it names. Nothing is trusted yet: the caller decides whether the signers are
/// roots it accepts.
pub fn open(der: &[u8]) -> Result<Opened, CmsError> {
    let signed = decode(der)?;
    let payload = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| CmsError::Envelope("the SignedData carries no payload".into()))?
        .decode_as::<OctetString>()
        .map_err(|e| CmsError::Envelope(format!("the payload does not decode ({e})")))?
        .into_bytes()
        .into_vec();
    let signers = verify(signed, &payload)?;
    Ok(Opened { payload, signers })
}

/// Verifies a detached signature over `content`; returns the signers' certificates.
pub fn open_detached(der: &[u8], content: &[u8]) -> Result<Vec<Certificate>, CmsError> {
    let signed = decode(der)?;
    if signed.encap_content_info.econtent.is_some() {
        return Err(CmsError::Envelope("the signature is not detached".into()));
    }
    verify(signed, content)
}

fn decode(der: &[u8]) -> Result<SignedData, CmsError> {
    let bad = |what: &str| CmsError::Envelope(what.to_owned());
    let info =
        ContentInfo::from_der(der).map_err(|e| bad(&format!("not a CMS structure ({e})")))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(bad("not a CMS SignedData"));
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|e| bad(&format!("the SignedData does not decode ({e})")))?;
    // Every field the signatures do not cover must still be exactly what keyrite writes, so
    // that no bit of the file can change without the file being refused.
    if signed.version != CmsVersion::V1
        || signed.encap_content_info.econtent_type != ID_DATA
        || signed.crls.is_some()
    {
        return Err(bad("the SignedData is not of the form keyrite writes"));
    }
    // The ContentInfo holds the SignedData as raw bytes, and decoding sorts every SET OF:
    // the SignedData encoded again must be those very bytes, or the file was not canonical
    // DER (reordered sets, other length forms).
    if Any::encode_from(&signed).ok().as_ref() != Some(&info.content) {
        return Err(bad("the SignedData is not in canonical DER"));
    }
    Ok(signed)
}

fn verify(signed: SignedData, payload: &[u8]) -> Result<Vec<Certificate>, CmsError> {
    let certs: Vec<Certificate> = signed
        .certificates
        .map(|set| set.0.into_vec())
        .unwrap_or_default()
        .into_iter()
        .map(|c| match c {
            CertificateChoices::Certificate(c) => Ok(c),
            CertificateChoices::Other(_) => Err(CmsError::Envelope(
                "the SignedData carries a certificate format keyrite does not write".into(),
            )),
        })
        .collect::<Result<_, _>>()?;
    let infos = signed.signer_infos.0.into_vec();
    if infos.is_empty() {
        return Err(CmsError::Signature("there is no signature".into()));
    }
    let digests = digest_set(infos.iter().map(|si| si.digest_alg.clone()))
        .map_err(|e| CmsError::Envelope(format!("the SignedData does not decode ({e})")))?;
    if signed.digest_algorithms != digests || certs.len() != infos.len() {
        return Err(CmsError::Envelope(
            "the SignedData is not of the form keyrite writes (its digest algorithms or certificates do not match its signers)".into(),
        ));
    }
    let mut signers = Vec::new();
    for si in infos {
        if si.version != CmsVersion::V1 {
            return Err(CmsError::Envelope(
                "a signer's record is not of the form keyrite writes".into(),
            ));
        }
        let SignerIdentifier::IssuerAndSerialNumber(id) = &si.sid else {
            return Err(CmsError::Envelope(
                "a signer is named by key identifier, which keyrite does not write".into(),
            ));
        };
        let cert = certs
            .iter()
            .find(|c| {
                c.tbs_certificate().issuer() == &id.issuer
                    && c.tbs_certificate().serial_number() == &id.serial_number
            })
            .ok_or_else(|| CmsError::Signature("a signer's certificate is missing".into()))?;
        verify_signer_info(&si, cert, payload)?;
        if signers.contains(cert) {
            return Err(CmsError::Signature("one root signed twice".into()));
        }
        signers.push(cert.clone());
    }
    Ok(signers)
}

fn verify_signer_info(si: &SignerInfo, cert: &Certificate, payload: &[u8]) -> Result<(), CmsError> {
    let who = crate::pki::name::display_name(cert.tbs_certificate().subject());
    let fail = |why: &str| CmsError::Signature(format!("the signature by {who} {why}"));
    // Signers are roots: a certificate that is not intact and self-signed was damaged.
    crate::pki::verify::issued_by(cert, cert).map_err(|e| {
        fail(&format!(
            "comes with a certificate that is not an intact self-signed root ({e})"
        ))
    })?;
    let scheme = SignatureScheme::from_algorithm_identifier(&si.signature_algorithm)
        .ok_or_else(|| fail("uses an algorithm keyrite does not accept"))?;
    if si.digest_alg != digest_identifier(scheme.hash()) || si.unsigned_attrs.is_some() {
        return Err(fail("is not of the form keyrite writes"));
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| fail("has no signed attributes"))?;
    let single = |oid: ObjectIdentifier| -> Result<&Any, CmsError> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => {
                a.values.get(0).ok_or_else(|| fail("is malformed"))
            }
            _ => Err(fail("lacks a required signed attribute")),
        }
    };
    let content_type: ObjectIdentifier = single(ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(|_| fail("has a malformed content type"))?;
    if content_type != ID_DATA {
        return Err(fail("covers another content type"));
    }
    let digest: OctetString = single(ID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(|_| fail("has a malformed message digest"))?;
    // The signature over the attributes first: only then does a digest that differs say that
    // the content changed after signing, rather than that the signature is damaged.
    let key = PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info())
        .map_err(|e| fail(&format!("names a key keyrite cannot use ({e})")))?;
    let message = attrs.to_der().map_err(|_| fail("is malformed"))?;
    key.verify(scheme, &message, si.signature.as_bytes())
        .map_err(|_| fail("does not verify"))?;
    if digest.as_bytes() != scheme.hash().digest(payload).as_slice() {
        return Err(CmsError::ContentDiffers {
            message: format!(
                "the signature by {who} is intact but covers other content: it changed after signing"
            ),
            signer: Box::new(cert.clone()),
        });
    }
    Ok(())
}
