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
            i + 6 == b.len() && num(i + 1..i + 3, 23) && at(i + 3, b':') && num(i + 4..i + 6, 59)
        }
        _ => false,
    }
}
