//! Reading a bundle: its CMS envelope and signatures checked, its payload parsed and checked,
//! its entries decoded.

use std::path::Path;

use data_encoding::BASE64;
use der::Decode;
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use super::{
    BundleError, Entry, FORMAT, MAX_BUNDLE_BYTES, MIN_FORMAT, Payload, Role, check_payload,
};
use crate::fingerprint::Fingerprint;
use crate::keys::sha256;
use crate::sys::input::{InputError, Links};

/// A root, TSA root or CRL entry, decoded.
pub enum Item {
    /// A certificate (root or TSA root).
    Certificate(Box<Certificate>),
    /// A CRL.
    Crl(Box<CertificateList>),
}

/// A bundle whose envelope, signatures and payload all check out. Whether its signers and
/// lineage are trusted is for the importer to decide.
pub struct Bundle {
    /// The payload.
    pub payload: Payload,
    /// Every entry with its decoded DER, in payload order.
    pub items: Vec<(Entry, Vec<u8>, Item)>,
    /// The certificates that signed it.
    pub signers: Vec<Certificate>,
    /// SHA-256 of the whole file.
    pub file_sha256: Fingerprint,
}

impl Bundle {
    /// Reads, opens and checks a bundle file; nothing on disk is touched.
    pub fn read(path: &Path) -> Result<Self, BundleError> {
        let bytes = crate::sys::input::read(path, MAX_BUNDLE_BYTES, Links::Refuse).map_err(
            |e| match e {
                InputError::TooLarge { size, max, .. } => BundleError::TooLarge { size, max },
                other => BundleError::Input(other.to_string()),
            },
        )?;
        Self::decode(&bytes)
    }

    /// Opens and checks a bundle held in memory.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        let opened = crate::pki::cms::open(bytes).map_err(|e| match e {
            crate::pki::cms::CmsError::Envelope(m) => BundleError::Envelope(m),
            crate::pki::cms::CmsError::Signature(m)
            | crate::pki::cms::CmsError::ContentDiffers { message: m, .. } => {
                BundleError::Signature(m)
            }
            // Only signing makes the other errors.
            other => BundleError::Envelope(other.to_string()),
        })?;
        let payload = parse_payload(&opened.payload)?;
        let items = decode_entries(&payload)?;
        Ok(Self {
            payload,
            items,
            signers: opened.signers,
            file_sha256: Fingerprint::of(bytes),
        })
    }

    /// The root certificates the bundle carries.
    pub fn roots(&self) -> impl Iterator<Item = (&Entry, &[u8], &Certificate)> {
        self.certificates(Role::Root)
    }

    /// The TSA root certificates the bundle carries.
    pub fn tsa_roots(&self) -> impl Iterator<Item = (&Entry, &[u8], &Certificate)> {
        self.certificates(Role::TsaRoot)
    }

    /// A third party's root (`ThirdPartyRoot`) or TSA root (`ThirdPartyTsaRoot`), by name.
    pub fn third_party_cert(&self, name: &str, role: Role) -> Option<(&[u8], &Certificate)> {
        self.certificates(role)
            .find(|(e, _, _)| e.third_party() == Some(name))
            .map(|(_, der, cert)| (der, cert))
    }

    fn certificates(&self, role: Role) -> impl Iterator<Item = (&Entry, &[u8], &Certificate)> {
        self.items
            .iter()
            .filter_map(move |(e, der, item)| match item {
                Item::Certificate(c) if e.role == role => Some((e, der.as_slice(), c.as_ref())),
                _ => None,
            })
    }

    /// The CRLs the bundle carries.
    pub fn crls(&self) -> impl Iterator<Item = (&Entry, &[u8], &CertificateList)> {
        self.items.iter().filter_map(|(e, der, item)| match item {
            Item::Crl(c) => Some((e, der.as_slice(), c.as_ref())),
            Item::Certificate(_) => None,
        })
    }
}

impl Payload {
    /// Parses and checks a payload's JSON as [`Bundle::decode`] does once the envelope's
    /// signatures have checked out: its format, its fields, every rule of [`check_payload`],
    /// and each entry's base64, SHA-256 and DER. A payload can so be judged without signing it.
    pub fn from_json(json: &[u8]) -> Result<Self, BundleError> {
        let payload = parse_payload(json)?;
        decode_entries(&payload)?;
        Ok(payload)
    }
}

fn parse_payload(json: &[u8]) -> Result<Payload, BundleError> {
    #[derive(Deserialize)]
    struct Head {
        format: u64,
    }
    let head: Head = serde_json::from_slice(json)
        .map_err(|e| BundleError::Content(format!("the payload is not a keyrite bundle ({e})")))?;
    if head.format < u64::from(MIN_FORMAT) {
        return Err(BundleError::OldFormat(head.format));
    }
    if head.format > u64::from(FORMAT) {
        return Err(BundleError::UnknownFormat(head.format));
    }
    let payload: Payload = serde_json::from_slice(json)
        .map_err(|e| BundleError::Content(format!("the payload does not parse ({e})")))?;
    check_payload(&payload)?;
    Ok(payload)
}

fn decode_entries(p: &Payload) -> Result<Vec<(Entry, Vec<u8>, Item)>, BundleError> {
    p.entries
        .iter()
        .map(|e| {
            let bad = |m: &str| BundleError::Content(format!("entry '{}': {m}", e.name));
            let der = BASE64
                .decode(e.der.as_bytes())
                .map_err(|_| bad("its DER is not base64"))?;
            if hex::encode(sha256(&der)) != e.sha256 {
                return Err(bad("its SHA-256 does not match its content"));
            }
            let item = if e.role.is_crl() {
                Item::Crl(Box::new(
                    CertificateList::from_der(&der).map_err(|_| bad("not a DER CRL"))?,
                ))
            } else {
                Item::Certificate(Box::new(
                    Certificate::from_der(&der).map_err(|_| bad("not a DER certificate"))?,
                ))
            };
            Ok((e.clone(), der, item))
        })
        .collect()
}
