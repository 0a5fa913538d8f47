//! Who is on the other end of a connection: the `[[client]]` entries, each recognised by its
//! certificate's whole subject or its SPKI SHA-256, with the keys, media types and rate it is
//! allowed.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::name::Name;

use keyrite::notation::dn::{self, Dn, GO_ATTRIBUTE_NAMES};
use keyrite::notation::go::x509::{self as gox509, STRING_TAGS};
use keyrite::pki::name::display_name;

use crate::config::ClientConfig;

/// How a `[[client]]` recognises its certificate.
enum Identity {
    /// All of the subject, in any order: equal to [`exact_subject`] of the certificate.
    Subject(Dn),
    /// The SHA-256 of its SubjectPublicKeyInfo.
    Spki([u8; 32]),
}

/// A `[[client]]`, with its rate-limit state.
pub struct Client {
    /// Its name, for the log.
    pub name: String,
    identity: Identity,
    /// The keys it may use.
    pub keys: BTreeSet<String>,
    /// The artifact media types it may sign for; any when `None`.
    pub media_types: Option<Vec<String>>,
    /// Its rate limit, when it has one.
    pub bucket: Option<Mutex<Bucket>>,
}

/// A token bucket: `per_minute` requests, refilled continuously. Written here rather than
/// taken from a rate-limiting crate: it is a dozen lines, per instance, with nothing to share.
pub struct Bucket {
    per_minute: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute),
            tokens: f64::from(per_minute),
            last: Instant::now(),
        }
    }

    /// Takes one token, or says in how many seconds one will be there.
    pub fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_minute / 60.0;
        self.tokens = (self.tokens + refill).min(self.per_minute);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) * 60.0 / self.per_minute).ceil() as u64)
        }
    }
}

/// The client on the other end of a connection, from its certificate.
#[derive(Clone)]
pub struct Peer {
    /// `subject=…; spki-sha256=…`, for the log.
    pub described: String,
    /// The `[[client]]` it is, if any: an index into the clients.
    pub client: Option<usize>,
}

impl Client {
    /// The client a `[[client]]` entry describes.
    pub fn new(c: &ClientConfig) -> Result<Self, String> {
        let identity = match (&c.subject, &c.spki_sha256) {
            (Some(s), _) => Identity::Subject(dn::parse_name(s)?),
            (None, Some(h)) => Identity::Spki(
                hex::decode(h)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| format!("client '{}': spki_sha256 is not 32 bytes", c.name))?,
            ),
            (None, None) => return Err(format!("client '{}' has no identity", c.name)),
        };
        Ok(Client {
            name: c.name.clone(),
            identity,
            keys: c.keys.iter().cloned().collect(),
            media_types: c.media_types.clone(),
            bucket: c.rate_per_minute.map(|r| Mutex::new(Bucket::new(r))),
        })
    }
}

/// Who presented `certs` (verified by rustls against the client CAs already), among `clients`.
pub fn identify(clients: &[Client], certs: Option<&[CertificateDer<'_>]>) -> Peer {
    let Some(cert) = certs
        .and_then(|c| c.first())
        .and_then(|der| Certificate::from_der(der).ok())
    else {
        return Peer {
            described: "a certificate that does not parse".into(),
            client: None,
        };
    };
    let tbs = cert.tbs_certificate();
    let spki: [u8; 32] = tbs
        .subject_public_key_info()
        .to_der()
        .map(|der| Sha256::digest(der).into())
        .unwrap_or_default();
    let subject = exact_subject(tbs.subject());
    let client = clients.iter().position(|c| match &c.identity {
        Identity::Spki(h) => *h == spki,
        Identity::Subject(want) => subject.as_ref() == Some(want),
    });
    let named = client.map_or_else(String::new, |i| format!("client={}; ", clients[i].name));
    Peer {
        described: format!(
            "{named}subject={}; spki-sha256={}",
            display_name(tbs.subject()),
            hex::encode(spki)
        ),
        client,
    }
}

/// A client certificate's subject as a `subject` identity names it, every attribute kept: a
/// type Go names by that name (`CN`, `O`, …), any other by its dotted OID, each value a string.
/// `None` when the subject cannot be named exactly so (a multi-valued RDN, a type twice, an
/// empty value, a value that is not a string), and then no `subject` identity matches it.
///
/// Not notation's rendering (Go's `pkix.Name.String`), which keeps only the last CN and drops
/// values that are not strings, and reads a missing type as empty: compared through it,
/// `CN=build-1, O=Example` would match a certificate whose subject also holds `CN=admin`.
fn exact_subject(name: &Name) -> Option<Dn> {
    let der = name.to_der().ok()?;
    let mut input = der.as_slice();
    let sequence = gox509::read_any(&mut input).ok()?;
    let mut subject = Dn::new();
    for rdn in gox509::name_attributes(sequence.value).ok()? {
        let [attribute] = rdn.as_slice() else {
            return None;
        };
        if !STRING_TAGS.contains(&attribute.value.tag) {
            return None;
        }
        let value = gox509::name_string(attribute.value.tag, attribute.value.value).ok()?;
        let oid = ObjectIdentifier::from_bytes(attribute.oid)
            .ok()?
            .to_string();
        let kind = GO_ATTRIBUTE_NAMES
            .iter()
            .find(|(o, _)| *o == oid)
            .map_or(oid.clone(), |(_, name)| (*name).to_owned());
        if value.is_empty()
            || subject
                .insert(kind.into_bytes(), value.into_bytes())
                .is_some()
        {
            return None;
        }
    }
    Some(subject)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn matches(identity: &str, certificate: &str) -> bool {
        let want = dn::parse_name(identity).expect("identity");
        let name = Name::from_str(certificate).expect("certificate subject");
        exact_subject(&name).as_ref() == Some(&want)
    }

    /// A `subject` identity is the certificate's whole subject: an extra attribute, a second CN
    /// (which Go's rendering hides, keeping the last) or a multi-valued RDN is another client.
    #[test]
    fn a_subject_identity_matches_exactly_that_subject() {
        let identity = "CN=build-1, O=Example";
        assert!(matches(identity, "CN=build-1,O=Example"));
        assert!(matches(identity, "O=Example,CN=build-1"));
        assert!(matches("O=Example, CN=build-1", "CN=build-1,O=Example"));
        for other in [
            "CN=build-1,CN=admin,O=Example",
            "CN=admin,CN=build-1,O=Example",
            "CN=build-1,OU=Other,O=Example",
            "CN=build-1+OU=Other,O=Example",
            "CN=build-1,O=Example,1.2.840.113549.1.9.1=a@example.com",
            "CN=build-1",
            "CN=build-1,O=Example,OU=",
            "CN=build-2,O=Example",
        ] {
            assert!(!matches(identity, other), "{identity} matched {other}");
        }
        assert!(matches(
            "CN=build-1, O=Example, 1.2.840.113549.1.9.1=a@example.com",
            "CN=build-1,O=Example,1.2.840.113549.1.9.1=a@example.com"
        ));
    }
}
