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
                "its protected header's labels are repeated or not in deterministic order".into(),
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
