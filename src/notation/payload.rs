//! What notation v1.3.2 asks a signing plugin to sign, recognised strictly.
//!
//! A `SIGNATURE_GENERATOR.RAW` plugin (contract 1.0) receives, in a `generate-signature`
//! request, the bytes its key must sign: for a JWS envelope the JWS signing input
//! `BASE64URL(protected header) "." BASE64URL(payload)`, for a COSE envelope the CBOR
//! `Sig_structure` `["Signature1", protected, external_aad, payload]`. In both the payload is
//! notation's JSON `{"targetArtifact": descriptor}` with content type
//! [`NOTARY_PAYLOAD_MEDIA_TYPE`]. A signing service that holds a delegate key runs every request
//! through [`recognize`] and signs only what passes, so a stolen client credential cannot make it
//! sign an X.509 `TBSCertificate`, a CRL, another JWS or anything else.
//!
//! The rules are those of notation-core-go v1.3.0 (`signature/jws`, `signature/cose`), go-cose
//! v1.3.0 and notation-go v1.3.2 (`signer`, `internal/envelope`), narrowed to what notation
//! itself produces where the difference could matter to another verifier: every JSON object is
//! free of duplicate names, every CBOR item is in the core deterministic encoding go-cose writes,
//! and the target artifact carries only the fields notation keeps. Protected header fields that
//! notation-core-go treats as extended attributes (names it does not know) are accepted, as
//! notation-core-go accepts them, provided every name marked critical is present. Nothing here
//! says which key may sign: the caller compares [`SigningInput::signing_algorithm`] with its key.

mod cose;
mod jws;

use std::collections::HashSet;
use std::fmt;

use data_encoding::BASE64URL_NOPAD;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The content type of notation's signature payload, in the JWS `cty` header and the COSE
/// content type header (label 3).
pub const NOTARY_PAYLOAD_MEDIA_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";

/// Inputs longer than this are refused unread. notation's signing input for one descriptor is
/// well under 2 KiB; annotations make it larger, never near this.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// The signature envelope whose signing input was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeFormat {
    /// `application/jose+json`: the input is a JWS signing input.
    Jws,
    /// `application/cose`: the input is a COSE_Sign1 `Sig_structure`.
    Cose,
}

impl fmt::Display for EnvelopeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvelopeFormat::Jws => "JWS",
            EnvelopeFormat::Cose => "COSE",
        })
    }
}

/// The artifact a notation signature is for: the `targetArtifact` descriptor of the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetArtifact {
    /// The artifact's media type, e.g. `application/vnd.oci.image.manifest.v1+json`.
    pub media_type: String,
    /// The artifact's digest, `sha256:`, `sha384:` or `sha512:` and lowercase hex.
    pub digest: String,
    /// The artifact's size in bytes.
    pub size: u64,
}

/// A recognised notation signing input: what is being signed, how, and for which artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningInput {
    /// The envelope the signature will go into.
    pub format: EnvelopeFormat,
    /// The algorithm the protected header names, in notation's plugin naming:
    /// `ECDSA-SHA-256`, `ECDSA-SHA-384`, `ECDSA-SHA-512`, `RSASSA-PSS-SHA-256`,
    /// `RSASSA-PSS-SHA-384` or `RSASSA-PSS-SHA-512`.
    pub signing_algorithm: &'static str,
    /// The artifact the signature is for.
    pub target: TargetArtifact,
}

/// Why an input is not something notation asks a plugin to sign.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The input has no bytes.
    #[error("the payload is empty: notation never asks a plugin to sign nothing")]
    Empty,
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error(
        "the payload is {len} bytes, more than the {MAX_INPUT_BYTES} a notation signing input may have"
    )]
    TooLarge {
        /// The input's length.
        len: usize,
    },
    /// The input is one whole DER SEQUENCE, as an X.509 TBSCertificate or TBSCertList is.
    #[error(
        "the payload is not a notation signing input: it is DER (an X.509 structure?), not a JWS signing input or a COSE Sig_structure"
    )]
    Der,
    /// The input is neither base64url text nor a CBOR array.
    #[error(
        "the payload is not a notation signing input: it is neither a JWS signing input (BASE64URL(header).BASE64URL(payload)) nor a COSE Sig_structure"
    )]
    Unrecognized,
    /// The input is base64url text but not notation's JWS signing input.
    #[error("the payload is not a notation JWS signing input: {0}")]
    Jws(String),
    /// The input is a CBOR array but not notation's COSE Sig_structure.
    #[error("the payload is not a notation COSE Sig_structure: {0}")]
    Cose(String),
    /// The input is a COSE Sig_structure with bytes after its end.
    #[error(
        "the payload is not a notation COSE Sig_structure: {count} trailing bytes follow the Sig_structure"
    )]
    TrailingBytes {
        /// How many bytes follow the Sig_structure.
        count: usize,
    },
    /// The protected header names a content type other than notation's payload.
    #[error(
        "the payload is not a notation signing input: its {format} content type is {found}, not {NOTARY_PAYLOAD_MEDIA_TYPE}"
    )]
    ContentType {
        /// The envelope whose header names it.
        format: EnvelopeFormat,
        /// The content type found, quoted.
        found: String,
    },
    /// The signed payload is not notation's `{"targetArtifact": …}`.
    #[error("the signed payload is not notation's {{\"targetArtifact\": …}}: {0}")]
    Payload(String),
}

impl PayloadError {
    /// Which rule the input broke, in words that quote nothing of the input: for a record that
    /// must hold no payload bytes (the detailed message may quote a header value).
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Empty => "an empty payload",
            Self::TooLarge { .. } => "a payload larger than a notation signing input",
            Self::Der => "DER (an X.509 structure?), not a notation signing input",
            Self::Unrecognized => "neither a JWS signing input nor a COSE Sig_structure",
            Self::Jws(_) => "a JWS signing input that is not notation's",
            Self::Cose(_) | Self::TrailingBytes { .. } => {
                "a COSE Sig_structure that is not notation's"
            }
            Self::ContentType { .. } => "a content type other than notation's payload",
            Self::Payload(_) => "a signed payload that is not notation's {\"targetArtifact\": …}",
        }
    }
}

/// Recognises `input` as what notation v1.3.2 asks a `SIGNATURE_GENERATOR.RAW` plugin to sign,
/// or says why it is not. Never panics; reads nothing beyond `input`.
pub fn recognize(input: &[u8]) -> Result<SigningInput, PayloadError> {
    if input.is_empty() {
        return Err(PayloadError::Empty);
    }
    if input.len() > MAX_INPUT_BYTES {
        return Err(PayloadError::TooLarge { len: input.len() });
    }
    if is_one_der_sequence(input) {
        return Err(PayloadError::Der);
    }
    if input
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
    {
        return jws::recognize(input);
    }
    // A CBOR array (major type 4): a Sig_structure has four items.
    if input[0] >> 5 == 4 {
        return cose::recognize(input);
    }
    Err(PayloadError::Unrecognized)
}

/// Whether `input` is exactly one DER SEQUENCE (tag, definite length, contents, nothing after):
/// the shape of a TBSCertificate, a TBSCertList, a CSR's info or a CMS structure.
fn is_one_der_sequence(input: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = input else {
        return false;
    };
    let (len, rest) = match *first {
        n @ 0..=0x7f => (usize::from(n), rest),
        n @ 0x81..=0x84 => {
            let count = usize::from(n & 0x7f);
            let Some((digits, rest)) = rest.split_at_checked(count) else {
                return false;
            };
            let len = digits
                .iter()
                .fold(0usize, |acc, &d| (acc << 8) | usize::from(d));
            (len, rest)
        }
        _ => return false,
    };
    rest.len() == len
}

/// notation's signature algorithms: the JWS `alg`, the COSE `alg`, and the plugin's name.
const ALGORITHMS: [(&str, i64, &str); 6] = [
    ("PS256", -37, "RSASSA-PSS-SHA-256"),
    ("PS384", -38, "RSASSA-PSS-SHA-384"),
    ("PS512", -39, "RSASSA-PSS-SHA-512"),
    ("ES256", -7, "ECDSA-SHA-256"),
    ("ES384", -35, "ECDSA-SHA-384"),
    ("ES512", -36, "ECDSA-SHA-512"),
];

/// The protected header names (JWS) and text labels (COSE) notation-core-go gives a meaning.
const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
const EXPIRY: &str = "io.cncf.notary.expiry";

/// notation-core-go's signing schemes. `notation sign` uses `notary.x509`.
const SCHEME_X509: &str = "notary.x509";
const SCHEME_SIGNING_AUTHORITY: &str = "notary.x509.signingAuthority";

/// The time header a signing scheme requires, and the one it forbids.
fn scheme_times(scheme: &str) -> Option<(&'static str, &'static str)> {
    match scheme {
        SCHEME_X509 => Some((SIGNING_TIME, AUTHENTIC_SIGNING_TIME)),
        SCHEME_SIGNING_AUTHORITY => Some((AUTHENTIC_SIGNING_TIME, SIGNING_TIME)),
        _ => None,
    }
}

/// The names a protected header must mark critical (notation-core-go's `mustMarkedCrit`).
fn must_be_critical(scheme: &str, has_expiry: bool) -> Vec<&'static str> {
    let mut names = vec![SIGNING_SCHEME];
    if scheme == SCHEME_SIGNING_AUTHORITY {
        names.push(AUTHENTIC_SIGNING_TIME);
    }
    if has_expiry {
        names.push(EXPIRY);
    }
    names
}

/// The payload both envelopes carry: `{"targetArtifact": descriptor}`, the descriptor as
/// notation-go's `SanitizeTargetArtifact` leaves it (mediaType, digest, size, annotations).
fn target_artifact(payload: &[u8]) -> Result<TargetArtifact, PayloadError> {
    let bad = |m: String| PayloadError::Payload(m);
    let top = match Json::parse(payload) {
        Ok(Json::Object(fields)) => fields,
        Ok(_) => return Err(bad("it is not a JSON object".into())),
        Err(e) => return Err(bad(format!("it is not a JSON object: {e}"))),
    };
    if let Some((name, _)) = top.iter().find(|(n, _)| n != "targetArtifact") {
        return Err(bad(format!(
            "it has \"{}\" beside targetArtifact",
            name.escape_debug()
        )));
    }
    let descriptor = match top.first() {
        Some((_, Json::Object(fields))) => fields,
        Some(_) => return Err(bad("its targetArtifact is not a JSON object".into())),
        None => return Err(bad("it has no targetArtifact".into())),
    };
    let get = |name: &str| descriptor.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if let Some((name, _)) = descriptor
        .iter()
        .find(|(n, _)| !["mediaType", "digest", "size", "annotations"].contains(&n.as_str()))
    {
        return Err(bad(format!(
            "its targetArtifact has \"{}\", which notation never signs (it keeps mediaType, digest, size and annotations)",
            name.escape_debug()
        )));
    }
    let media_type = match get("mediaType") {
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            return Err(bad(
                "its targetArtifact's mediaType is not a non-empty string".into(),
            ));
        }
        None => return Err(bad("its targetArtifact has no mediaType".into())),
    };
    let digest = match get("digest") {
        Some(Json::String(s)) if is_digest(s) => s.clone(),
        Some(Json::String(s)) => {
            return Err(bad(format!(
                "its targetArtifact's digest \"{}\" is not sha256:, sha384: or sha512: and lowercase hex of that length",
                s.escape_debug()
            )));
        }
        Some(_) => return Err(bad("its targetArtifact's digest is not a string".into())),
        None => return Err(bad("its targetArtifact has no digest".into())),
    };
    let size = match get("size") {
        // Go's int64.
        Some(Json::Uint(n)) if i64::try_from(*n).is_ok() => *n,
        Some(_) => {
            return Err(bad(
                "its targetArtifact's size is not a non-negative integer".into(),
            ));
        }
        None => return Err(bad("its targetArtifact has no size".into())),
    };
    match get("annotations") {
        None => {}
        Some(Json::Object(fields)) if fields.iter().all(|(_, v)| matches!(v, Json::String(_))) => {}
        Some(_) => {
            return Err(bad(
                "its targetArtifact's annotations are not a map of strings".into(),
            ));
        }
    }
    Ok(TargetArtifact {
        media_type,
        digest,
        size,
    })
}

/// An OCI digest notation accepts: a registered algorithm and its lowercase hex encoding
/// (go-digest's `sha256`, `sha384`, `sha512`).
fn is_digest(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A JSON value whose objects keep their order and refuse a repeated name. Go's decoder keeps
/// the last of two equal names; another parser may keep the first, so notation's signing
/// input never has them and neither may what is recognised as one.
enum Json {
    Null,
    Bool,
    Int,
    Uint(u64),
    Float,
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// One JSON value taking all of `bytes` (whitespace aside), UTF-8, at most serde_json's
    /// nesting depth.
    fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Bool)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Int)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Uint(n))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Float)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields: Vec<(String, Json)> = Vec::new();
        let mut names = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !names.insert(name.clone()) {
                return Err(de::Error::custom(format!(
                    "the name \"{}\" appears twice in one object",
                    name.escape_debug()
                )));
            }
            let value = map.next_value()?;
            fields.push((name, value));
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests;
