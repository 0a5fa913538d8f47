//! Distinguished names as notation reads them: a trusted identity's `x509.subject:` value,
//! parsed by go-ldap's `ParseDN` under notation's rules, and a signing certificate's subject,
//! which notation renders with Go's `pkix.Name.String` and parses the same way.
//!
//! Written here rather than with a DN crate: what matters is to reproduce go-ldap v3.4.10's
//! quirks exactly (`;` separates RDNs like `,`, types keep their case, `\XX` hex escapes),
//! which a standards-minded parser would correct.

use std::collections::BTreeMap;

use der::asn1::{Any, Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use der::{Tag, Tagged};
use x509_cert::name::Name;

/// A parsed DN: attribute type, as written, to its value.
pub type Dn = BTreeMap<String, String>;

/// The attribute types Go names when it renders a subject; every other type becomes an
/// `OID=#hex` value, which notation refuses.
pub const GO_ATTRIBUTE_NAMES: [(&str, &str); 9] = [
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
];

/// notation's `ParseDistinguishedName`: no `=#` anywhere, RFC 4514 syntax as go-ldap reads
/// it, one attribute per RDN, `S` read as `ST`, no type twice, and C, ST and O present.
pub fn parse(text: &str) -> Result<Dn, String> {
    if text.contains("=#") {
        return Err(format!(
            "'{text}' contains \"=#\", which notation does not support in x509.subject identities"
        ));
    }
    let rdns = ldap_parse(text).map_err(|e| {
        format!(
            "'{text}' does not parse as a distinguished name ({e}); a valid one contains C, ST (or S) and O and follows RFC 4514"
        )
    })?;
    let mut dn = Dn::new();
    for rdn in rdns {
        if rdn.len() > 1 {
            return Err(format!(
                "'{text}' has a multi-valued RDN, which notation does not support"
            ));
        }
        for (kind, value) in rdn {
            let kind = if kind == "S" { "ST".to_owned() } else { kind };
            if dn.get(&kind).is_some_and(|v| !v.is_empty()) {
                return Err(format!("'{text}' has {kind} twice"));
            }
            dn.insert(kind, value);
        }
    }
    for field in ["C", "ST", "O"] {
        if dn.get(field).is_none_or(|v| v.is_empty()) {
            return Err(format!(
                "'{text}' has no {field}: notation requires C, ST (or S) and O"
            ));
        }
    }
    Ok(dn)
}

/// Whether every attribute of `identity` is in `subject` with the same value: notation's
/// `IsSubsetDN`.
pub fn is_subset(identity: &Dn, subject: &Dn) -> bool {
    identity.iter().all(|(k, v)| subject.get(k) == Some(v))
}

/// The attribute types of `dn` that no certificate subject can ever carry as Go renders it
/// (a lower-case `cn`, an `E`, a dotted OID): an identity naming one never matches.
pub fn unmatchable_types(dn: &Dn) -> Vec<String> {
    dn.keys()
        .filter(|k| !GO_ATTRIBUTE_NAMES.iter().any(|(_, name)| name == k))
        .cloned()
        .collect()
}

/// A signing certificate's subject as notation sees it: rendered as Go renders it, then
/// parsed by [`parse`]. Attributes Go does not name, a type that appears twice (Go renders
/// it as a multi-valued RDN) or a missing C, ST or O make it unusable for trusted identities.
pub fn subject(name: &Name) -> Result<Dn, String> {
    let mut fields: Vec<(&str, Vec<String>)> = Vec::new();
    for atv in name.iter_rdn().flat_map(|rdn| rdn.iter()) {
        let oid = atv.oid.to_string();
        let Some((_, kind)) = GO_ATTRIBUTE_NAMES.iter().find(|(o, _)| *o == oid) else {
            return Err(format!(
                "the subject has attribute {oid}, which notation renders as {oid}=#… and cannot match against a trusted identity"
            ));
        };
        let value = value_string(&atv.value)
            .ok_or_else(|| format!("the subject's {kind} is not a string notation reads"))?;
        match fields.iter_mut().find(|(k, _)| k == kind) {
            Some((_, values)) => values.push(value),
            None => fields.push((kind, vec![value])),
        }
    }
    let mut rendered = Vec::new();
    for (kind, values) in &fields {
        if values.len() > 1 {
            return Err(format!(
                "the subject has {kind} {} times, which notation renders as a multi-valued RDN",
                values.len()
            ));
        }
        rendered.push(format!("{kind}={}", go_escape(&values[0])));
    }
    parse(&rendered.join(",")).map_err(|e| format!("the subject as notation renders it: {e}"))
}

/// A DirectoryString's text, for the string types Go's certificate parser accepts.
pub fn value_string(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::Utf8String => Utf8StringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::Ia5String => Ia5StringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::TeletexString => TeletexStringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::BmpString => {
            let units: Vec<u16> = value
                .value()
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// Go's RFC 2253 escaping of a value in `RDNSequence.String`.
fn go_escape(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => i == 0 || i == last,
            '#' => i == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// go-ldap's `ParseDN`: RDNs end at an unescaped `,` or `;`, a `+` adds an attribute to the
/// RDN, the type is what stands before the first unescaped `=`.
fn ldap_parse(text: &str) -> Result<Vec<Vec<(String, String)>>, String> {
    let mut rdns = Vec::new();
    if text.trim().is_empty() {
        return Ok(rdns);
    }
    let bytes = text.as_bytes();
    let mut rdn = Vec::new();
    let mut kind: Option<String> = None;
    let mut start = 0;
    let mut escaping = false;
    for (i, &c) in bytes.iter().enumerate() {
        if escaping {
            escaping = false;
        } else if c == b'\\' {
            escaping = true;
        } else if c == b'=' && kind.as_ref().is_none_or(String::is_empty) {
            kind = Some(ldap_decode(&text[start..i])?);
            start = i + 1;
        } else if matches!(c, b',' | b'+' | b';') {
            let k = kind.take().filter(|k| !k.is_empty());
            let Some(k) = k else {
                return Err("incomplete type, value pair".into());
            };
            rdn.push((k, ldap_value(&text[start..i])?));
            start = i + 1;
            if c != b'+' {
                rdns.push(std::mem::take(&mut rdn));
            }
        }
    }
    let Some(k) = kind.filter(|k| !k.is_empty()) else {
        return Err("DN ended with incomplete type, value pair".into());
    };
    rdn.push((k, ldap_value(&text[start..])?));
    rdns.push(rdn);
    Ok(rdns)
}

/// A value: `#` and hex is BER (refused before this by the `=#` rule, and where it slips
/// through, refused here), anything else decoded as a string.
fn ldap_value(raw: &str) -> Result<String, String> {
    if raw.starts_with('#') {
        return Err("a BER-encoded (#…) value".into());
    }
    ldap_decode(raw)
}

/// go-ldap's `decodeString`: spaces trimmed (a trailing escaped space kept), `\X` for a
/// special character, `\XX` for a byte in hex.
fn ldap_decode(raw: &str) -> Result<String, String> {
    let mut s = raw.trim_matches(' ').to_owned();
    if s.ends_with('\\') && raw.ends_with(' ') {
        s.push(' ');
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            i += 1;
            continue;
        }
        let Some(&next) = chars.get(i + 1) else {
            return Err(format!("a corrupted escape in '{s}'"));
        };
        if matches!(
            next,
            ' ' | '"' | '#' | '+' | ',' | ';' | '<' | '=' | '>' | '\\'
        ) {
            let mut buf = [0u8; 4];
            out.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
            i += 2;
            continue;
        }
        let hex: String = chars.iter().skip(i + 1).take(2).collect();
        let byte = (hex.len() == 2)
            .then(|| u8::from_str_radix(&hex, 16).ok())
            .flatten()
            .ok_or_else(|| format!("a bad escape '\\{hex}' in '{s}'"))?;
        out.push(byte);
        i += 3;
    }
    // Go's strings hold bytes; a value that is not UTF-8 still compares byte for byte.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_identities_as_notation_does() {
        let dn = parse(" C=US, S=WA, O=Acme\\, Inc., CN=release signer ").unwrap();
        assert_eq!(dn["ST"], "WA");
        assert_eq!(dn["O"], "Acme, Inc.");
        assert_eq!(dn["CN"], "release signer");
        assert_eq!(parse("C=US;ST=WA;O=A").unwrap().len(), 3);
        assert_eq!(parse("C=US,ST=WA,O=A\\2C B").unwrap()["O"], "A, B");
        for bad in [
            "C=US,ST=WA",
            "C=US,ST=WA,O=A,O=B",
            "C=US+ST=WA,O=A",
            "C=US,ST=WA,O=#0403414243",
            "C=US,ST=WA,O=A,",
            "=US,ST=WA,O=A",
            "c=US,ST=WA,O=A",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // Lower-case types parse (with C, ST and O present) but can never match.
        let odd = parse("C=US,ST=WA,O=A,cn=x").unwrap();
        assert_eq!(unmatchable_types(&odd), vec!["cn".to_owned()]);
    }
}
