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

mod jws {
    //! The JWS signing input: `BASE64URL(UTF8(protected header)) "." BASE64URL(payload)`.

    use super::*;

    /// The names notation-core-go's JWS protected header type decodes (`headerKeys`). Go's
    /// JSON decoder matches them without regard to case, so a name equal to one of them but
    /// for case is refused rather than taken as an extended attribute.
    const KNOWN: [&str; 7] = [
        "alg",
        "cty",
        "crit",
        EXPIRY,
        SIGNING_TIME,
        SIGNING_SCHEME,
        AUTHENTIC_SIGNING_TIME,
    ];

    pub(super) fn recognize(input: &[u8]) -> Result<SigningInput, PayloadError> {
        let bad = |m: String| PayloadError::Jws(m);
        if input.contains(&b'=') {
            return Err(bad(
                "it is padded base64, where a JWS uses unpadded base64url".into(),
            ));
        }
        let parts: Vec<&[u8]> = input.split(|&b| b == b'.').collect();
        let [header, payload] = parts[..] else {
            return Err(bad(if parts.len() == 3 {
                "it has three dot-separated parts: it is a compact JWS carrying its signature, not the header.payload that is signed".into()
            } else {
                format!(
                    "it has {} dot-separated parts, not the two of header.payload",
                    parts.len()
                )
            }));
        };
        let header = BASE64URL_NOPAD
            .decode(header)
            .map_err(|e| bad(format!("its protected header is not base64url: {e}")))?;
        let payload = BASE64URL_NOPAD
            .decode(payload)
            .map_err(|e| bad(format!("its payload is not base64url: {e}")))?;
        let header = match Json::parse(&header) {
            Ok(Json::Object(fields)) => fields,
            Ok(_) => return Err(bad("its protected header is not a JSON object".into())),
            Err(e) => {
                return Err(bad(format!(
                    "its protected header is not a JSON object: {e}"
                )));
            }
        };
        let signing_algorithm = check_header(&header)?;
        let target = super::target_artifact(&payload)?;
        Ok(SigningInput {
            format: EnvelopeFormat::Jws,
            signing_algorithm,
            target,
        })
    }

    /// Checks the protected header as notation-core-go's `parseProtectedHeaders` and
    /// `validateProtectedHeaders` would, and notation-go's content type check; returns the
    /// algorithm's plugin name.
    fn check_header(header: &[(String, Json)]) -> Result<&'static str, PayloadError> {
        let bad = |m: String| PayloadError::Jws(m);
        for (name, _) in header {
            if let Some(known) = KNOWN
                .iter()
                .find(|k| k.eq_ignore_ascii_case(name) && **k != name)
            {
                return Err(bad(format!(
                    "its protected header has \"{name}\", which notation would read as \"{known}\""
                )));
            }
        }
        let get = |name: &str| header.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let text = |name: &str| -> Result<Option<&str>, PayloadError> {
            match get(name) {
                None => Ok(None),
                Some(Json::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(format!(
                    "its protected header's \"{name}\" is not a string"
                ))),
            }
        };

        let alg = text("alg")?.ok_or_else(|| bad("its protected header has no \"alg\"".into()))?;
        let signing_algorithm = ALGORITHMS
            .iter()
            .find(|(jws, _, _)| *jws == alg)
            .map(|(_, _, name)| *name)
            .ok_or_else(|| {
                bad(format!(
                    "its protected header's alg \"{alg}\" is none of notation's PS256, PS384, PS512, ES256, ES384, ES512"
                ))
            })?;

        let cty = text("cty")?
            .ok_or_else(|| bad("its protected header has no \"cty\" (content type)".into()))?;
        if cty != NOTARY_PAYLOAD_MEDIA_TYPE {
            return Err(PayloadError::ContentType {
                format: EnvelopeFormat::Jws,
                found: format!("\"{cty}\""),
            });
        }

        let scheme = text(SIGNING_SCHEME)?
            .ok_or_else(|| bad(format!("its protected header has no \"{SIGNING_SCHEME}\"")))?;
        let (time, not_time) = scheme_times(scheme).ok_or_else(|| {
            bad(format!(
                "its signing scheme \"{scheme}\" is neither {SCHEME_X509} nor {SCHEME_SIGNING_AUTHORITY}"
            ))
        })?;
        let when = text(time)?.ok_or_else(|| {
            bad(format!(
                "its protected header has no \"{time}\", which the {scheme} scheme requires"
            ))
        })?;
        check_time(time, when)?;
        if get(not_time).is_some() {
            return Err(bad(format!(
                "its protected header has \"{not_time}\", which the {scheme} scheme forbids"
            )));
        }
        let expiry = text(EXPIRY)?;
        if let Some(expiry) = expiry {
            check_time(EXPIRY, expiry)?;
        }

        let crit = match get("crit") {
            Some(Json::Array(items)) if !items.is_empty() => items,
            Some(_) => {
                return Err(bad(
                    "its protected header's \"crit\" is not a non-empty list of names".into(),
                ));
            }
            None => {
                return Err(bad(format!(
                    "its protected header has no \"crit\" (notation marks {SIGNING_SCHEME} critical)"
                )));
            }
        };
        let required = must_be_critical(scheme, expiry.is_some());
        let mut seen = HashSet::new();
        for item in crit {
            let Json::String(name) = item else {
                return Err(bad(
                    "its protected header's \"crit\" has an entry that is not a string".into(),
                ));
            };
            if !seen.insert(name.as_str()) {
                return Err(bad(format!(
                    "its protected header marks \"{name}\" critical twice"
                )));
            }
            // notation-core-go accepts in crit the names it requires there and extended
            // attributes that are present; any other name it knows is "not present" to it.
            let extended = !KNOWN.contains(&name.as_str()) && get(name).is_some();
            if !required.contains(&name.as_str()) && !extended {
                return Err(bad(format!(
                    "its protected header marks \"{name}\" critical, which notation-core-go refuses (absent, or a header it does not allow there)"
                )));
            }
        }
        if let Some(missing) = required.iter().find(|r| !seen.contains(**r)) {
            return Err(bad(format!(
                "its protected header does not mark \"{missing}\" critical"
            )));
        }
        Ok(signing_algorithm)
    }

    /// A time header: RFC 3339, as Go's `time.Time` reads it from JSON.
    fn check_time(name: &str, value: &str) -> Result<(), PayloadError> {
        if is_rfc3339(value) {
            Ok(())
        } else {
            Err(PayloadError::Jws(format!(
                "its protected header's \"{name}\" \"{value}\" is not an RFC 3339 time"
            )))
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, fields in range.
    fn is_rfc3339(s: &str) -> bool {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>, max: u32| -> bool {
            b.get(r).is_some_and(|d| {
                d.iter().all(u8::is_ascii_digit)
                    && d.iter()
                        .fold(0u32, |acc, &x| acc * 10 + u32::from(x - b'0'))
                        <= max
            })
        };
        let at = |i: usize, c: u8| b.get(i) == Some(&c);
        if !(num(0..4, 9999)
            && at(4, b'-')
            && num(5..7, 12)
            && at(7, b'-')
            && num(8..10, 31)
            && at(10, b'T')
            && num(11..13, 23)
            && at(13, b':')
            && num(14..16, 59)
            && at(16, b':')
            && num(17..19, 59))
        {
            return false;
        }
        if b.get(5..7) == Some(b"00") || b.get(8..10) == Some(b"00") {
            return false;
        }
        let mut i = 19;
        if at(i, b'.') {
            let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            if digits == 0 {
                return false;
            }
            i += 1 + digits;
        }
        match b.get(i) {
            Some(b'Z') => i + 1 == b.len(),
            Some(b'+' | b'-') => {
                i + 6 == b.len()
                    && num(i + 1..i + 3, 23)
                    && at(i + 3, b':')
                    && num(i + 4..i + 6, 59)
            }
            _ => false,
        }
    }
}

mod cose {
    //! The COSE_Sign1 `Sig_structure`: `["Signature1", protected, external_aad, payload]`.

    use ciborium::Value;

    use super::*;

    /// COSE header labels notation sets (RFC 9052): alg, crit, content type.
    const ALG: i128 = 1;
    const CRIT: i128 = 2;
    const CONTENT_TYPE: i128 = 3;

    /// CBOR tag 1: epoch-based date/time.
    const EPOCH_TIME_TAG: u64 = 1;

    pub(super) fn recognize(input: &[u8]) -> Result<SigningInput, PayloadError> {
        let bad = |m: String| PayloadError::Cose(m);
        let sig_structure = decode(input, "it")?;
        let Value::Array(items) = sig_structure else {
            return Err(bad("it is not a CBOR array".into()));
        };
        let [context, protected, external_aad, payload] = &items[..] else {
            return Err(bad(format!(
                "it is a CBOR array of {} items, not the four of [context, protected, external_aad, payload]",
                items.len()
            )));
        };
        match context {
            Value::Text(t) if t == "Signature1" => {}
            Value::Text(t) if t == "Signature" => {
                return Err(bad(
                    "its context is \"Signature\" (a COSE_Sign for several signers), not notation's \"Signature1\"".into(),
                ));
            }
            Value::Text(t) => {
                return Err(bad(format!(
                    "its context is \"{}\", not \"Signature1\"",
                    t.escape_debug()
                )));
            }
            _ => return Err(bad("its context is not the text \"Signature1\"".into())),
        }
        let Value::Bytes(protected) = protected else {
            return Err(bad("its protected header is not a byte string".into()));
        };
        match external_aad {
            Value::Bytes(aad) if aad.is_empty() => {}
            Value::Bytes(aad) => {
                return Err(bad(format!(
                    "its external_aad has {} bytes, where notation's is empty",
                    aad.len()
                )));
            }
            _ => return Err(bad("its external_aad is not a byte string".into())),
        }
        let Value::Bytes(payload) = payload else {
            return Err(bad("its payload is not a byte string".into()));
        };
        let signing_algorithm = check_protected(protected)?;
        let target = super::target_artifact(payload)?;
        Ok(SigningInput {
            format: EnvelopeFormat::Cose,
            signing_algorithm,
            target,
        })
    }

    /// One CBOR item taking all of `bytes`, in the core deterministic encoding (RFC 8949
    /// §4.2.1: shortest heads, definite lengths) that go-cose writes. `what` names it in errors.
    fn decode(bytes: &[u8], what: &str) -> Result<Value, PayloadError> {
        let mut rest = bytes;
        let value: Value = ciborium::de::from_reader(&mut rest)
            .map_err(|e| PayloadError::Cose(format!("{what} is not well-formed CBOR: {e}")))?;
        if !rest.is_empty() {
            return Err(if what == "it" {
                PayloadError::TrailingBytes { count: rest.len() }
            } else {
                PayloadError::Cose(format!("{} trailing bytes follow {what}", rest.len()))
            });
        }
        let consumed = &bytes[..bytes.len() - rest.len()];
        if encode(&value).as_deref() != Some(consumed) {
            return Err(PayloadError::Cose(format!(
                "{what} is not in the deterministic CBOR encoding notation writes"
            )));
        }
        Ok(value)
    }

    fn encode(value: &Value) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(value, &mut out).ok()?;
        Some(out)
    }

    /// A header label as notation-core-go and go-cose see it.
    #[derive(PartialEq, Eq, Hash, Clone)]
    enum Label {
        Int(i128),
        Text(String),
    }

    impl fmt::Display for Label {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Label::Int(n) => write!(f, "label {n}"),
                Label::Text(t) => write!(f, "\"{}\"", t.escape_debug()),
            }
        }
    }

    fn label(value: &Value) -> Option<Label> {
        match value {
            Value::Integer(n) => Some(Label::Int(i128::from(*n))),
            Value::Text(t) => Some(Label::Text(t.clone())),
            _ => None,
        }
    }

    /// Checks the protected header map as notation-core-go's `parseProtectedHeaders` and
    /// `validateCritHeaders` and go-cose's header validation would, and notation-go's content
    /// type check; returns the algorithm's plugin name.
    fn check_protected(protected: &[u8]) -> Result<&'static str, PayloadError> {
        let bad = |m: String| PayloadError::Cose(m);
        let Value::Map(entries) = decode(protected, "its protected header")? else {
            return Err(bad("its protected header is not a CBOR map".into()));
        };
        // Keys in the deterministic order (bytewise by encoding), which also rules out
        // duplicates, as go-cose's decoder does.
        let mut previous: Option<Vec<u8>> = None;
        let mut map: Vec<(Label, &Value)> = Vec::with_capacity(entries.len());
        for (key, value) in &entries {
            let encoded = encode(key).unwrap_or_default();
            if previous.as_ref().is_some_and(|p| *p >= encoded) {
                return Err(bad(
                    "its protected header's labels are repeated or not in deterministic order"
                        .into(),
                ));
            }
            previous = Some(encoded);
            let Some(key) = label(key) else {
                return Err(bad(
                    "its protected header has a label that is neither an integer nor text".into(),
                ));
            };
            if let Label::Int(n) = key
                && ![ALG, CRIT, CONTENT_TYPE].contains(&n)
            {
                return Err(bad(format!(
                    "its protected header has label {n}, which notation never sets"
                )));
            }
            map.push((key, value));
        }
        let get = |key: &Label| map.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        let text_label = |name: &str| Label::Text(name.to_owned());

        let signing_algorithm = match get(&Label::Int(ALG)) {
            None => return Err(bad("its protected header has no alg (label 1)".into())),
            Some(Value::Integer(n)) => {
                let n = i128::from(*n);
                ALGORITHMS
                    .iter()
                    .find(|(_, cose, _)| i128::from(*cose) == n)
                    .map(|(_, _, name)| *name)
                    .ok_or_else(|| {
                        bad(format!(
                            "its alg {n} is none of notation's -37 (PS256), -38 (PS384), -39 (PS512), -7 (ES256), -35 (ES384), -36 (ES512)"
                        ))
                    })?
            }
            Some(_) => return Err(bad("its alg (label 1) is not an integer".into())),
        };

        match get(&Label::Int(CONTENT_TYPE)) {
            None => {
                return Err(bad(
                    "its protected header has no content type (label 3)".into()
                ));
            }
            Some(Value::Text(t)) if t == NOTARY_PAYLOAD_MEDIA_TYPE => {}
            Some(Value::Text(t)) => {
                return Err(PayloadError::ContentType {
                    format: EnvelopeFormat::Cose,
                    found: format!("\"{}\"", t.escape_debug()),
                });
            }
            Some(Value::Integer(n)) => {
                return Err(PayloadError::ContentType {
                    format: EnvelopeFormat::Cose,
                    found: format!("CoAP content format {}", i128::from(*n)),
                });
            }
            Some(_) => return Err(bad("its content type (label 3) is not text".into())),
        }

        let scheme = match get(&text_label(SIGNING_SCHEME)) {
            Some(Value::Text(t)) => t.as_str(),
            Some(_) => return Err(bad(format!("its \"{SIGNING_SCHEME}\" is not text"))),
            None => {
                return Err(bad(format!(
                    "its protected header has no \"{SIGNING_SCHEME}\""
                )));
            }
        };
        let (time, not_time) = scheme_times(scheme).ok_or_else(|| {
            bad(format!(
                "its signing scheme \"{}\" is neither {SCHEME_X509} nor {SCHEME_SIGNING_AUTHORITY}",
                scheme.escape_debug()
            ))
        })?;
        match get(&text_label(time)) {
            Some(value) => check_time(time, value)?,
            None => {
                return Err(bad(format!(
                    "its protected header has no \"{time}\", which the {scheme} scheme requires"
                )));
            }
        }
        if get(&text_label(not_time)).is_some() {
            return Err(bad(format!(
                "its protected header has \"{not_time}\", which the {scheme} scheme forbids"
            )));
        }
        let expiry = get(&text_label(EXPIRY));
        if let Some(value) = expiry {
            check_time(EXPIRY, value)?;
        }

        let crit = match get(&Label::Int(CRIT)) {
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(_) => {
                return Err(bad(
                    "its crit (label 2) is not a non-empty list of labels".into()
                ));
            }
            None => {
                return Err(bad(format!(
                    "its protected header has no crit (label 2); notation marks \"{SIGNING_SCHEME}\" critical"
                )));
            }
        };
        let mut seen = HashSet::new();
        for item in crit {
            let Some(name) = label(item) else {
                return Err(bad(
                    "its crit (label 2) has an entry that is neither an integer nor text".into(),
                ));
            };
            if get(&name).is_none() {
                return Err(bad(format!(
                    "its protected header marks {name} critical but does not carry it"
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(bad(format!(
                    "its protected header marks {name} critical twice"
                )));
            }
        }
        for required in must_be_critical(scheme, expiry.is_some()) {
            if !seen.contains(&text_label(required)) {
                return Err(bad(format!(
                    "its protected header does not mark \"{required}\" critical"
                )));
            }
        }
        Ok(signing_algorithm)
    }

    /// A time header: tag 1 over integer seconds, as notation-core-go encodes it.
    fn check_time(name: &str, value: &Value) -> Result<(), PayloadError> {
        match value {
            Value::Tag(EPOCH_TIME_TAG, inner) if matches!(**inner, Value::Integer(_)) => Ok(()),
            _ => Err(PayloadError::Cose(format!(
                "its \"{name}\" is not a tag 1 date/time over integer seconds"
            ))),
        }
    }
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
mod tests {
    use super::*;

    /// Real generate-signature payloads from notation v1.3.2 (tests/fixtures/notation-payloads).
    const JWS_EC384: &str = include_str!("../../tests/fixtures/notation-payloads/jws-ec384.b64");
    const COSE_RSA3072: &str =
        include_str!("../../tests/fixtures/notation-payloads/cose-rsa3072.b64");
    const JWS_RSA3072_EXPIRY: &str =
        include_str!("../../tests/fixtures/notation-payloads/jws-rsa3072-expiry-metadata.b64");
    const COSE_EC384_EXPIRY: &str =
        include_str!("../../tests/fixtures/notation-payloads/cose-ec384-expiry-metadata.b64");

    /// The manifest every fixture signs.
    fn fixture_target() -> TargetArtifact {
        TargetArtifact {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: "sha256:56949ff7cfdfeacf3d236fe476e1d9951a01e23156e91fe16edd56ca10e36a09"
                .into(),
            size: 247,
        }
    }

    fn fixture(b64: &str) -> Vec<u8> {
        data_encoding::BASE64
            .decode(b64.trim().as_bytes())
            .expect("fixture is base64")
    }

    fn refusal(input: &[u8]) -> String {
        match recognize(input) {
            Ok(got) => panic!("recognised {got:?}"),
            Err(e) => e.to_string(),
        }
    }

    // JWS helpers: the header and payload JSON of a fixture, and a signing input from them.

    fn jws_parts(b64: &str) -> (serde_json::Value, serde_json::Value) {
        let input = fixture(b64);
        let text = String::from_utf8(input).expect("ASCII");
        let (h, p) = text.split_once('.').expect("two parts");
        let json = |s: &str| {
            serde_json::from_slice(&BASE64URL_NOPAD.decode(s.as_bytes()).expect("base64url"))
                .expect("JSON")
        };
        (json(h), json(p))
    }

    fn jws_from(header: &serde_json::Value, payload: &serde_json::Value) -> Vec<u8> {
        jws_raw(
            serde_json::to_string(header).expect("JSON").as_bytes(),
            serde_json::to_string(payload).expect("JSON").as_bytes(),
        )
    }

    fn jws_raw(header: &[u8], payload: &[u8]) -> Vec<u8> {
        format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(header),
            BASE64URL_NOPAD.encode(payload)
        )
        .into_bytes()
    }

    // COSE helpers: a fixture's Sig_structure items and protected map, and re-encoding.

    use ciborium::Value;

    fn cbor(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(value, &mut out).expect("encode");
        out
    }

    fn cose_items(b64: &str) -> Vec<Value> {
        let input = fixture(b64);
        match ciborium::de::from_reader::<Value, _>(&input[..]).expect("CBOR") {
            Value::Array(items) => items,
            _ => panic!("not an array"),
        }
    }

    fn cose_protected(items: &[Value]) -> Vec<(Value, Value)> {
        let Value::Bytes(p) = &items[1] else {
            panic!("protected not bytes")
        };
        match ciborium::de::from_reader::<Value, _>(&p[..]).expect("CBOR") {
            Value::Map(entries) => entries,
            _ => panic!("not a map"),
        }
    }

    fn with_protected(mut items: Vec<Value>, entries: Vec<(Value, Value)>) -> Vec<u8> {
        items[1] = Value::Bytes(cbor(&Value::Map(entries)));
        cbor(&Value::Array(items))
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    // Recognition of what notation really sends.

    #[test]
    fn notation_jws_ec384_signing_input_is_recognised() {
        let got = recognize(&fixture(JWS_EC384)).expect("recognised");
        assert_eq!(
            got,
            SigningInput {
                format: EnvelopeFormat::Jws,
                signing_algorithm: "ECDSA-SHA-384",
                target: fixture_target(),
            }
        );
    }

    #[test]
    fn notation_cose_rsa3072_sig_structure_is_recognised() {
        let got = recognize(&fixture(COSE_RSA3072)).expect("recognised");
        assert_eq!(
            got,
            SigningInput {
                format: EnvelopeFormat::Cose,
                signing_algorithm: "RSASSA-PSS-SHA-384",
                target: fixture_target(),
            }
        );
    }

    #[test]
    fn notation_jws_with_expiry_and_user_metadata_is_recognised() {
        let got = recognize(&fixture(JWS_RSA3072_EXPIRY)).expect("recognised");
        assert_eq!(got.format, EnvelopeFormat::Jws);
        assert_eq!(got.signing_algorithm, "RSASSA-PSS-SHA-384");
        assert_eq!(got.target, fixture_target());
    }

    #[test]
    fn notation_cose_with_expiry_and_user_metadata_is_recognised() {
        let got = recognize(&fixture(COSE_EC384_EXPIRY)).expect("recognised");
        assert_eq!(got.format, EnvelopeFormat::Cose);
        assert_eq!(got.signing_algorithm, "ECDSA-SHA-384");
        assert_eq!(got.target, fixture_target());
    }

    #[test]
    fn a_re_encoded_notation_jws_with_every_algorithm_is_recognised() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        for (alg, _, name) in ALGORITHMS {
            header["alg"] = alg.into();
            let got = recognize(&jws_from(&header, &payload)).expect("recognised");
            assert_eq!(got.signing_algorithm, name);
        }
    }

    #[test]
    fn a_notation_cose_with_every_algorithm_is_recognised() {
        let items = cose_items(COSE_RSA3072);
        for (_, alg, name) in ALGORITHMS {
            let mut entries = cose_protected(&items);
            entries[0].1 = Value::Integer(alg.into());
            let got = recognize(&with_protected(items.clone(), entries)).expect("recognised");
            assert_eq!(got.signing_algorithm, name);
        }
    }

    // Refusals of what is not a notation signing input.

    #[test]
    fn an_x509_tbs_certificate_is_refused_as_der() {
        use der::{Decode, DecodePem, Encode};
        let pem = include_str!("../../bundles/examples/rehearsal-root.crt");
        let cert = x509_cert::Certificate::from_pem(pem.as_bytes()).expect("certificate");
        let tbs = cert.tbs_certificate().to_der().expect("DER");
        assert!(x509_cert::certificate::TbsCertificate::from_der(&tbs).is_ok());
        assert_eq!(
            refusal(&tbs),
            "the payload is not a notation signing input: it is DER (an X.509 structure?), not a JWS signing input or a COSE Sig_structure"
        );
        // The whole certificate too.
        assert_eq!(refusal(&cert.to_der().expect("DER")), refusal(&tbs));
    }

    #[test]
    fn random_bytes_are_refused() {
        use sha2::{Digest, Sha256};
        let mut bytes = Vec::new();
        let mut block = Sha256::digest(b"keyrite payload random bytes").to_vec();
        while bytes.len() < 512 {
            bytes.extend_from_slice(&block);
            block = Sha256::digest(&block).to_vec();
        }
        bytes[0] = 0xa7; // not a DER SEQUENCE, not a CBOR array
        assert_eq!(
            refusal(&bytes),
            "the payload is not a notation signing input: it is neither a JWS signing input (BASE64URL(header).BASE64URL(payload)) nor a COSE Sig_structure"
        );
    }

    #[test]
    fn an_empty_payload_is_refused() {
        assert_eq!(
            refusal(b""),
            "the payload is empty: notation never asks a plugin to sign nothing"
        );
    }

    #[test]
    fn an_oversize_payload_is_refused_unread() {
        let mut input = fixture(JWS_EC384);
        input.resize(MAX_INPUT_BYTES + 1, b'A');
        assert_eq!(
            refusal(&input),
            "the payload is 65537 bytes, more than the 65536 a notation signing input may have"
        );
    }

    #[test]
    fn a_jws_with_another_content_type_is_refused() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        header["cty"] = "application/json".into();
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the payload is not a notation signing input: its JWS content type is \"application/json\", not application/vnd.cncf.notary.payload.v1+json"
        );
    }

    #[test]
    fn a_jws_without_crit_is_refused() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        header.as_object_mut().expect("object").remove("crit");
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the payload is not a notation JWS signing input: its protected header has no \"crit\" (notation marks io.cncf.notary.signingScheme critical)"
        );
    }

    #[test]
    fn a_jws_whose_crit_names_an_absent_header_is_refused() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        header["crit"] = serde_json::json!([SIGNING_SCHEME, "org.example.absent"]);
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the payload is not a notation JWS signing input: its protected header marks \"org.example.absent\" critical, which notation-core-go refuses (absent, or a header it does not allow there)"
        );
    }

    #[test]
    fn a_jws_with_expiry_not_marked_critical_is_refused() {
        let (mut header, payload) = jws_parts(JWS_RSA3072_EXPIRY);
        header["crit"] = serde_json::json!([SIGNING_SCHEME]);
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the payload is not a notation JWS signing input: its protected header does not mark \"io.cncf.notary.expiry\" critical"
        );
    }

    #[test]
    fn a_jws_with_an_extended_critical_attribute_that_is_present_is_recognised() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        header["org.example.extra"] = "x".into();
        header["crit"] = serde_json::json!([SIGNING_SCHEME, "org.example.extra"]);
        assert!(recognize(&jws_from(&header, &payload)).is_ok());
    }

    #[test]
    fn a_jws_with_a_header_name_differing_only_in_case_is_refused() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        header["CTY"] = "application/json".into();
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the payload is not a notation JWS signing input: its protected header has \"CTY\", which notation would read as \"cty\""
        );
    }

    #[test]
    fn a_jws_with_another_algorithm_is_refused() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        header["alg"] = "HS256".into();
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the payload is not a notation JWS signing input: its protected header's alg \"HS256\" is none of notation's PS256, PS384, PS512, ES256, ES384, ES512"
        );
    }

    #[test]
    fn a_jws_with_another_signing_scheme_is_refused() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        header[SIGNING_SCHEME] = "notary.other".into();
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the payload is not a notation JWS signing input: its signing scheme \"notary.other\" is neither notary.x509 nor notary.x509.signingAuthority"
        );
    }

    #[test]
    fn a_jws_without_a_signing_time_is_refused() {
        let (mut header, payload) = jws_parts(JWS_EC384);
        header.as_object_mut().expect("object").remove(SIGNING_TIME);
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the payload is not a notation JWS signing input: its protected header has no \"io.cncf.notary.signingTime\", which the notary.x509 scheme requires"
        );
    }

    #[test]
    fn a_jws_with_a_repeated_header_name_is_refused() {
        let (_, payload) = jws_parts(JWS_EC384);
        let header = fixture(JWS_EC384);
        let header = &header[..header.iter().position(|&b| b == b'.').expect("dot")];
        let mut json = BASE64URL_NOPAD.decode(header).expect("base64url");
        json.pop(); // the closing brace
        json.extend_from_slice(br#","cty":"application/json"}"#);
        let input = jws_raw(
            &json,
            serde_json::to_string(&payload).expect("JSON").as_bytes(),
        );
        let message = refusal(&input);
        assert!(
            message.starts_with(
                "the payload is not a notation JWS signing input: its protected header is not a JSON object: the name \"cty\" appears twice in one object"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_jws_payload_without_target_artifact_is_refused() {
        let (header, _) = jws_parts(JWS_EC384);
        let payload = serde_json::json!({"subject": fixture_target().digest});
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the signed payload is not notation's {\"targetArtifact\": …}: it has \"subject\" beside targetArtifact"
        );
        assert_eq!(
            refusal(&jws_from(&header, &serde_json::json!({}))),
            "the signed payload is not notation's {\"targetArtifact\": …}: it has no targetArtifact"
        );
    }

    #[test]
    fn a_jws_payload_with_an_extra_top_level_field_is_refused() {
        let (header, mut payload) = jws_parts(JWS_EC384);
        payload["iss"] = "https://issuer.example".into();
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the signed payload is not notation's {\"targetArtifact\": …}: it has \"iss\" beside targetArtifact"
        );
    }

    #[test]
    fn a_jws_payload_with_a_bad_digest_is_refused() {
        let (header, mut payload) = jws_parts(JWS_EC384);
        for digest in [
            "sha256:56949FF7CFDFEACF3D236FE476E1D9951A01E23156E91FE16EDD56CA10E36A09",
            "sha256:56949ff7",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "56949ff7cfdfeacf3d236fe476e1d9951a01e23156e91fe16edd56ca10e36a09",
        ] {
            payload["targetArtifact"]["digest"] = digest.into();
            assert_eq!(
                refusal(&jws_from(&header, &payload)),
                format!(
                    "the signed payload is not notation's {{\"targetArtifact\": …}}: its targetArtifact's digest \"{digest}\" is not sha256:, sha384: or sha512: and lowercase hex of that length"
                )
            );
        }
    }

    #[test]
    fn a_jws_payload_with_descriptor_fields_notation_drops_is_refused() {
        let (header, mut payload) = jws_parts(JWS_EC384);
        payload["targetArtifact"]["urls"] = serde_json::json!(["https://example.invalid/blob"]);
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the signed payload is not notation's {\"targetArtifact\": …}: its targetArtifact has \"urls\", which notation never signs (it keeps mediaType, digest, size and annotations)"
        );
    }

    #[test]
    fn a_jws_payload_with_a_negative_or_fractional_size_is_refused() {
        let (header, mut payload) = jws_parts(JWS_EC384);
        for size in [serde_json::json!(-1), serde_json::json!(1.5), "247".into()] {
            payload["targetArtifact"]["size"] = size;
            assert_eq!(
                refusal(&jws_from(&header, &payload)),
                "the signed payload is not notation's {\"targetArtifact\": …}: its targetArtifact's size is not a non-negative integer"
            );
        }
    }

    #[test]
    fn a_compact_jws_with_its_signature_is_refused() {
        let mut input = fixture(JWS_EC384);
        input.extend_from_slice(b".c2lnbmF0dXJl");
        assert_eq!(
            refusal(&input),
            "the payload is not a notation JWS signing input: it has three dot-separated parts: it is a compact JWS carrying its signature, not the header.payload that is signed"
        );
    }

    #[test]
    fn a_padded_jws_is_refused() {
        let mut input = fixture(JWS_EC384);
        input.extend_from_slice(b"==");
        assert_eq!(
            refusal(&input),
            "the payload is not a notation JWS signing input: it is padded base64, where a JWS uses unpadded base64url"
        );
    }

    #[test]
    fn a_cose_with_another_content_type_is_refused() {
        let items = cose_items(COSE_RSA3072);
        let mut entries = cose_protected(&items);
        let ct = entries
            .iter_mut()
            .find(|(k, _)| *k == Value::Integer(3.into()))
            .expect("content type");
        ct.1 = text("application/json");
        assert_eq!(
            refusal(&with_protected(items, entries)),
            "the payload is not a notation signing input: its COSE content type is \"application/json\", not application/vnd.cncf.notary.payload.v1+json"
        );
    }

    #[test]
    fn a_cose_with_external_aad_is_refused() {
        let mut items = cose_items(COSE_RSA3072);
        items[2] = Value::Bytes(b"aad".to_vec());
        assert_eq!(
            refusal(&cbor(&Value::Array(items))),
            "the payload is not a notation COSE Sig_structure: its external_aad has 3 bytes, where notation's is empty"
        );
    }

    #[test]
    fn a_cose_signature_context_instead_of_signature1_is_refused() {
        let mut items = cose_items(COSE_RSA3072);
        items[0] = text("Signature");
        // A COSE_Sign Sig_structure has a fifth item, sign_protected; refused either way.
        assert_eq!(
            refusal(&cbor(&Value::Array(items.clone()))),
            "the payload is not a notation COSE Sig_structure: its context is \"Signature\" (a COSE_Sign for several signers), not notation's \"Signature1\""
        );
        items.insert(2, Value::Bytes(Vec::new()));
        assert_eq!(
            refusal(&cbor(&Value::Array(items))),
            "the payload is not a notation COSE Sig_structure: it is a CBOR array of 5 items, not the four of [context, protected, external_aad, payload]"
        );
    }

    #[test]
    fn a_cose_with_trailing_bytes_is_refused() {
        let mut input = fixture(COSE_RSA3072);
        input.extend_from_slice(&[0x00, 0x00]);
        assert_eq!(
            refusal(&input),
            "the payload is not a notation COSE Sig_structure: 2 trailing bytes follow the Sig_structure"
        );
    }

    #[test]
    fn a_cose_without_critical_signing_scheme_is_refused() {
        let items = cose_items(COSE_RSA3072);
        let mut entries = cose_protected(&items);
        let crit = entries
            .iter_mut()
            .find(|(k, _)| *k == Value::Integer(2.into()))
            .expect("crit");
        crit.1 = Value::Array(vec![Value::Integer(3.into())]);
        assert_eq!(
            refusal(&with_protected(items, entries)),
            "the payload is not a notation COSE Sig_structure: its protected header does not mark \"io.cncf.notary.signingScheme\" critical"
        );
    }

    #[test]
    fn a_cose_signing_time_without_its_tag_is_refused() {
        let items = cose_items(COSE_RSA3072);
        let mut entries = cose_protected(&items);
        let time = entries
            .iter_mut()
            .find(|(k, _)| *k == text(SIGNING_TIME))
            .expect("signing time");
        let Value::Tag(1, inner) = time.1.clone() else {
            panic!("notation tags its signing time")
        };
        time.1 = *inner;
        assert_eq!(
            refusal(&with_protected(items, entries)),
            "the payload is not a notation COSE Sig_structure: its \"io.cncf.notary.signingTime\" is not a tag 1 date/time over integer seconds"
        );
    }

    #[test]
    fn a_cose_protected_header_out_of_deterministic_order_is_refused() {
        let items = cose_items(COSE_RSA3072);
        let mut entries = cose_protected(&items);
        entries.swap(0, 1);
        assert_eq!(
            refusal(&with_protected(items, entries)),
            "the payload is not a notation COSE Sig_structure: its protected header's labels are repeated or not in deterministic order"
        );
    }

    #[test]
    fn a_cose_with_a_registered_label_notation_never_sets_is_refused() {
        let items = cose_items(COSE_RSA3072);
        let mut entries = cose_protected(&items);
        entries.insert(3, (Value::Integer(4.into()), Value::Bytes(b"kid".to_vec())));
        assert_eq!(
            refusal(&with_protected(items, entries)),
            "the payload is not a notation COSE Sig_structure: its protected header has label 4, which notation never sets"
        );
    }

    #[test]
    fn a_cose_in_a_longer_encoding_is_refused() {
        // The array head 0x84 written as 0x98 0x04: the same value, not the shortest form.
        let input = fixture(COSE_RSA3072);
        let mut long = vec![0x98, 0x04];
        long.extend_from_slice(&input[1..]);
        assert_eq!(
            refusal(&long),
            "the payload is not a notation COSE Sig_structure: it is not in the deterministic CBOR encoding notation writes"
        );
    }

    #[test]
    fn no_truncation_or_bit_flip_of_a_real_input_panics() {
        for b64 in [
            JWS_EC384,
            COSE_RSA3072,
            JWS_RSA3072_EXPIRY,
            COSE_EC384_EXPIRY,
        ] {
            let input = fixture(b64);
            for len in 0..input.len() {
                assert!(recognize(&input[..len]).is_err(), "a prefix of {len} bytes");
            }
            for i in 0..input.len() {
                for bit in 0..8 {
                    let mut flipped = input.clone();
                    flipped[i] ^= 1 << bit;
                    let _ = recognize(&flipped);
                }
            }
        }
    }

    #[test]
    fn deeply_nested_inputs_are_refused_without_overflow() {
        let (header, _) = jws_parts(JWS_EC384);
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let input = jws_raw(
            serde_json::to_string(&header).expect("JSON").as_bytes(),
            deep.as_bytes(),
        );
        assert!(refusal(&input).starts_with("the signed payload is not notation's"));
        let mut cose = vec![0x84];
        cose.extend(std::iter::repeat_n(0x81u8, 20_000));
        assert!(recognize(&cose).is_err());
    }
}
