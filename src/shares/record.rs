//! The share record: what one custodian holds, and the root key's signature that lets anyone
//! with the root certificate check it alone.
//!
//! ```text
//! ShareRecord ::= SEQUENCE {
//!   body          ShareBody,
//!   authenticator OCTET STRING   -- the root key's X.509-style signature over DER(body)
//! }
//! ShareBody ::= SEQUENCE {
//!   version         INTEGER (1),
//!   setId           OCTET STRING (SIZE (16)),
//!   rootKey         OCTET STRING (SIZE (32)),  -- SHA-256 of the root's SubjectPublicKeyInfo
//!   threshold       INTEGER (2..16),
//!   count           INTEGER (2..16),
//!   index           INTEGER (1..16),
//!   custodian       UTF8String,
//!   created         GeneralizedTime,
//!   share           OCTET STRING             -- blahaj share: x (= index) then y bytes
//! }
//! ```
//!
//! Encoding and decoding go through borrowed wire types, so the share bytes are never copied
//! into a buffer that is not zeroized.

use std::fmt;

use der::asn1::{GeneralizedTime, OctetStringRef};
use der::{Decode, Encode, Sequence};
use zeroize::Zeroizing;

use crate::keys::{KeySigner, PublicKey};

/// The record format this code writes and reads.
pub const RECORD_VERSION: u8 = 1;
/// The largest share set keyrite makes.
pub const MAX_SHARES: u8 = 16;

#[derive(Sequence)]
struct BodyWire<'a> {
    version: u8,
    set_id: &'a OctetStringRef,
    root_key: &'a OctetStringRef,
    threshold: u8,
    count: u8,
    index: u8,
    custodian: String,
    created: GeneralizedTime,
    share: &'a OctetStringRef,
}

#[derive(Sequence)]
struct RecordWire<'a> {
    body: BodyWire<'a>,
    authenticator: &'a OctetStringRef,
}

/// The signed fields of a share.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareBody {
    /// Identifies the set the share belongs to.
    pub set_id: [u8; 16],
    /// SHA-256 of the root's SubjectPublicKeyInfo.
    pub root_key: [u8; 32],
    /// Shares needed to recover.
    pub threshold: u8,
    /// Shares in the set.
    pub count: u8,
    /// This share's index, 1..=count.
    pub index: u8,
    /// Who holds it.
    pub custodian: String,
    /// When the set was made.
    pub created: GeneralizedTime,
    /// The share itself (blahaj's encoding: x, then the y bytes).
    pub share: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ShareBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ShareBody(set {}, {} of {}, threshold {}, custodian {:?})",
            hex::encode(self.set_id),
            self.index,
            self.count,
            self.threshold,
            self.custodian
        )
    }
}

impl ShareBody {
    fn wire(&self) -> Result<BodyWire<'_>, der::Error> {
        Ok(BodyWire {
            version: RECORD_VERSION,
            set_id: OctetStringRef::new(&self.set_id)?,
            root_key: OctetStringRef::new(&self.root_key)?,
            threshold: self.threshold,
            count: self.count,
            index: self.index,
            custodian: self.custodian.clone(),
            created: self.created,
            share: OctetStringRef::new(&self.share)?,
        })
    }

    /// The DER the authenticator signs.
    pub fn to_der(&self) -> Result<Zeroizing<Vec<u8>>, der::Error> {
        self.wire()?.to_der().map(Zeroizing::new)
    }
}

/// A share record and its authenticator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRecord {
    /// The signed fields.
    pub body: ShareBody,
    /// The root key's signature over the DER of `body`.
    pub authenticator: Vec<u8>,
}

/// A record that is malformed or whose authenticator does not verify.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);

impl ShareRecord {
    /// Signs `body` with the root key.
    pub fn sign(body: ShareBody, root: &dyn KeySigner) -> Result<Self, super::ShareError> {
        let authenticator = root.sign(&body.to_der()?)?;
        Ok(Self {
            body,
            authenticator,
        })
    }

    /// The record's DER, which the QR code and typed text carry.
    pub fn to_der(&self) -> Result<Zeroizing<Vec<u8>>, der::Error> {
        RecordWire {
            body: self.body.wire()?,
            authenticator: OctetStringRef::new(&self.authenticator)?,
        }
        .to_der()
        .map(Zeroizing::new)
    }

    /// Reads a record from DER; the authenticator is checked by [`ShareRecord::verify`].
    pub fn from_der(der: &[u8]) -> Result<Self, RecordError> {
        let wire = RecordWire::from_der(der)
            .map_err(|e| RecordError(format!("the record does not decode ({e})")))?;
        let b = wire.body;
        if b.version != RECORD_VERSION {
            return Err(RecordError(format!(
                "record format version {} is not one this keyrite reads ({RECORD_VERSION})",
                b.version
            )));
        }
        let fixed = |what: &str, bytes: &[u8], len: usize| {
            if bytes.len() == len {
                Ok(())
            } else {
                Err(RecordError(format!(
                    "its {what} is {} bytes, not {len}",
                    bytes.len()
                )))
            }
        };
        fixed("set id", b.set_id.as_bytes(), 16)?;
        fixed("root key fingerprint", b.root_key.as_bytes(), 32)?;
        let mut set_id = [0u8; 16];
        set_id.copy_from_slice(b.set_id.as_bytes());
        let mut root_key = [0u8; 32];
        root_key.copy_from_slice(b.root_key.as_bytes());
        Ok(Self {
            body: ShareBody {
                set_id,
                root_key,
                threshold: b.threshold,
                count: b.count,
                index: b.index,
                custodian: b.custodian,
                created: b.created,
                share: Zeroizing::new(b.share.as_bytes().to_vec()),
            },
            authenticator: wire.authenticator.as_bytes().to_vec(),
        })
    }

    /// Checks the record alone against the root: the root key fingerprint, the authenticator,
    /// and that the fields agree with each other.
    pub fn verify(&self, root: &PublicKey, root_key_sha256: &[u8; 32]) -> Result<(), RecordError> {
        let b = &self.body;
        if &b.root_key != root_key_sha256 {
            return Err(RecordError(
                "it belongs to another root key: its root key fingerprint is not the root certificate's".into(),
            ));
        }
        let scheme = root
            .algorithm()
            .map(|a| a.signature_scheme())
            .ok_or_else(|| {
                RecordError("the root key's algorithm is not one keyrite uses".into())
            })?;
        let der = b
            .to_der()
            .map_err(|e| RecordError(format!("the record does not re-encode ({e})")))?;
        root.verify(scheme, &der, &self.authenticator).map_err(|_| {
            RecordError(
                "its authenticator does not verify under the root key: the record was altered or forged".into(),
            )
        })?;
        if !(2..=MAX_SHARES).contains(&b.count) || !(2..=b.count).contains(&b.threshold) {
            return Err(RecordError(format!(
                "it claims an impossible {}-of-{} set",
                b.threshold, b.count
            )));
        }
        if !(1..=b.count).contains(&b.index) || b.share.first() != Some(&b.index) {
            return Err(RecordError(format!(
                "its index {} does not match its share bytes",
                b.index
            )));
        }
        Ok(())
    }
}
