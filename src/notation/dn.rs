//! Distinguished names as notation reads them: a trusted identity's `x509.subject:` value,
//! parsed by go-ldap's `ParseDN` under notation's rules, and a signing certificate's subject,
//! which notation renders with Go's `pkix.Name.String` and parses the same way.
//!
//! Written here rather than with a DN crate: what matters is to reproduce go-ldap v3.4.10's
//! quirks exactly (`;` separates RDNs like `,`, types keep their case, `\XX` hex escapes that
//! may leave bytes that are not UTF-8) and Go's rendering (which attributes it names, which it
//! drops, in what order), which a standards-minded implementation would correct.

use std::collections::BTreeMap;

use der::Encode;
use der::asn1::ObjectIdentifier;
use x509_cert::name::Name;

use super::go::x509::{self as gox509, STRING_TAGS};

/// A parsed DN: attribute type, as written, to its value. Both are bytes: an escape such as
/// `\ff` leaves a value that is not UTF-8, and Go compares strings byte for byte.
pub type Dn = BTreeMap<Vec<u8>, Vec<u8>>;

/// The attribute types Go names when it renders a subject; every other type is rendered as
/// its dotted OID.
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

/// notation's `ParseDistinguishedName`: [`parse_name`], and C, ST and O present and not empty.
pub fn parse(text: &str) -> Result<Dn, String> {
    let dn = parse_name(text)?;
    for field in ["C", "ST", "O"] {
        if dn.get(field.as_bytes()).is_none_or(|v| v.is_empty()) {
            return Err(format!(
                "'{text}' has no {field}: notation requires C, ST (or S) and O"
            ));
        }
    }
    Ok(dn)
}

/// A distinguished name under notation's syntax rules, whatever attributes it has: no `=#`
/// anywhere, RFC 4514 syntax as go-ldap reads it, one attribute per RDN, `S` read as `ST`, no
/// type twice (unless its first value is empty).
pub fn parse_name(text: &str) -> Result<Dn, String> {
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
            let kind = if kind == b"S" { b"ST".to_vec() } else { kind };
            if dn.get(&kind).is_some_and(|v| !v.is_empty()) {
                return Err(format!("'{text}' has {} twice", show(&kind)));
            }
            dn.insert(kind, value);
        }
    }
    Ok(dn)
}

/// Bytes of a DN for a message.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether every attribute of `identity` has the same value in `subject`: notation's
/// `IsSubsetDN`, which reads a type the subject lacks as the empty string (so `OU=` matches
/// a subject without OU).
pub fn is_subset(identity: &Dn, subject: &Dn) -> bool {
    identity
        .iter()
        .all(|(k, v)| subject.get(k).map_or(v.is_empty(), |s| s == v))
}

/// Whether Go can render attribute type `kind` in a subject: one of its names, or the dotted
/// OID of a type it does not name.
fn go_renders(kind: &[u8]) -> bool {
    let Ok(kind) = std::str::from_utf8(kind) else {
        return false;
    };
    if GO_ATTRIBUTE_NAMES.iter().any(|(_, name)| *name == kind) {
        return true;
    }
    let dotted = kind.split('.').count() >= 2
        && kind.split('.').all(|arc| {
            !arc.is_empty()
                && arc.bytes().all(|b| b.is_ascii_digit())
                && (arc == "0" || !arc.starts_with('0'))
        });
    dotted && !GO_ATTRIBUTE_NAMES.iter().any(|(oid, _)| *oid == kind)
}

/// The attribute types of `dn` with a value that no certificate subject can carry as Go
/// renders it (a lower-case `cn`, an `E`, `2.5.4.3` for CN): an identity naming one never
/// matches. A dotted OID of a type Go does not name (`1.2.840.113549.1.9.1`) can match.
pub fn unmatchable_types(dn: &Dn) -> Vec<String> {
    dn.iter()
        .filter(|(k, v)| !v.is_empty() && !go_renders(k))
        .map(|(k, _)| show(k))
        .collect()
}

/// A signing certificate's subject as notation sees it: rendered as Go renders it, then
/// parsed by [`parse`].
pub fn subject(name: &Name) -> Result<Dn, String> {
    let rendered = go_name_string(name)?;
    parse(&rendered).map_err(|e| format!("the subject as notation renders it: {e}"))
}

/// A certificate subject as Go renders it, read with [`parse_name`]: for matching a name
/// that is not a signing identity (a TLS client's), where notation's required C, ST and O do
/// not apply.
pub fn subject_name(name: &Name) -> Result<Dn, String> {
    parse_name(&go_name_string(name)?)
}

/// Go's `pkix.Name.String()` of a name as its certificate parser fills it: the attributes it
/// does not name first (each its own RDN, a string as itself, anything else `OID=#hex`),
/// then C, ST, L, STREET, POSTALCODE, O and OU (several values of one type in one RDN), the
/// last CN and the last SERIALNUMBER; a named type with a value that is not a string is
/// dropped; printed from the last RDN to the first.
pub fn go_name_string(name: &Name) -> Result<String, String> {
    let der = name.to_der().map_err(|e| e.to_string())?;
    let mut input = der.as_slice();
    let seq = gox509::read_any(&mut input)?;
    let mut rdns: Vec<String> = Vec::new();
    let mut named: [Vec<String>; 9] = Default::default();
    for attr in gox509::name_attributes(seq.value)?.iter().flatten() {
        let oid = ObjectIdentifier::from_bytes(attr.oid)
            .map_err(|e| format!("an attribute type does not parse ({e})"))?
            .to_string();
        let text = if STRING_TAGS.contains(&attr.value.tag) {
            Some(
                gox509::name_string(attr.value.tag, attr.value.value)
                    .map_err(|e| format!("Go cannot parse the subject: {e}"))?,
            )
        } else {
            None
        };
        match GO_ATTRIBUTE_NAMES.iter().position(|(o, _)| *o == oid) {
            Some(i) => named[i].extend(text),
            None => rdns.push(match text {
                Some(t) => format!("{oid}={}", go_escape(&t)),
                // Go's asn1.Marshal refuses a nil (NULL) value, which then prints as <nil>.
                None if attr.value.tag == 0x05 => format!("{oid}={}", go_escape("<nil>")),
                None => format!("{oid}=#{}", hex::encode(attr.value.raw)),
            }),
        }
    }
    for (i, (_, kind)) in GO_ATTRIBUTE_NAMES.iter().enumerate() {
        let values = &named[i];
        // CN and SERIALNUMBER hold one string, the last one read, and only when not empty.
        let values: Vec<&String> = if matches!(*kind, "CN" | "SERIALNUMBER") {
            values
                .last()
                .filter(|v| !v.is_empty())
                .into_iter()
                .collect()
        } else {
            values.iter().collect()
        };
        if !values.is_empty() {
            let rdn: Vec<String> = values
                .iter()
                .map(|v| format!("{kind}={}", go_escape(v)))
                .collect();
            rdns.push(rdn.join("+"));
        }
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

/// Go's escaping of a value in `RDNSequence.String`.
fn go_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (k, c) in value.char_indices() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == value.len() - 1,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An attribute type and value as go-ldap decodes them.
type Attribute = (Vec<u8>, Vec<u8>);

/// go-ldap's `ParseDN`: RDNs end at an unescaped `,` or `;`, a `+` adds an attribute to the
/// RDN, the type is what stands before the first unescaped `=`.
fn ldap_parse(text: &str) -> Result<Vec<Vec<Attribute>>, String> {
    let mut rdns = Vec::new();
    if text.trim().is_empty() {
        return Ok(rdns);
    }
    let mut rdn = Vec::new();
    let mut kind: Option<Vec<u8>> = None;
    let mut start = 0;
    let mut escaping = false;
    for (i, c) in text.bytes().enumerate() {
        if escaping {
            escaping = false;
        } else if c == b'\\' {
            escaping = true;
        } else if c == b'=' && kind.as_ref().is_none_or(Vec::is_empty) {
            kind = Some(ldap_decode(&text[start..i])?);
            start = i + 1;
        } else if matches!(c, b',' | b'+' | b';') {
            let Some(k) = kind.take().filter(|k| !k.is_empty()) else {
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
fn ldap_value(raw: &str) -> Result<Vec<u8>, String> {
    if raw.starts_with('#') {
        return Err("a BER-encoded (#…) value".into());
    }
    ldap_decode(raw)
}

/// go-ldap's `decodeString`: spaces trimmed (a trailing escaped space kept), `\X` for a
/// special character, `\XX` for a byte in hex, whatever bytes that leaves.
fn ldap_decode(raw: &str) -> Result<Vec<u8>, String> {
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
            out.push(next as u8);
            i += 2;
            continue;
        }
        let pair = chars.get(i + 1..i + 3).unwrap_or_default();
        let byte = match pair {
            [h, l] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let digit = |c: &char| c.to_digit(16).unwrap_or(0) as u8;
                digit(h) << 4 | digit(l)
            }
            _ => return Err(format!("a bad escape after '\\' in '{s}'")),
        };
        out.push(byte);
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use der::Decode;

    use super::*;

    fn get<'a>(dn: &'a Dn, kind: &str) -> &'a [u8] {
        dn.get(kind.as_bytes())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    #[test]
    fn reads_identities_as_notation_does() {
        let dn = parse(" C=US, S=WA, O=Acme\\, Inc., CN=release signer ").unwrap();
        assert_eq!(get(&dn, "ST"), b"WA");
        assert_eq!(get(&dn, "O"), b"Acme, Inc.");
        assert_eq!(get(&dn, "CN"), b"release signer");
        assert_eq!(parse("C=US;ST=WA;O=A").unwrap().len(), 3);
        assert_eq!(get(&parse("C=US,ST=WA,O=A\\2C B").unwrap(), "O"), b"A, B");
        // A hex escape may leave bytes that are not UTF-8; they are kept as they are.
        assert_eq!(get(&parse("C=US,ST=WA,O=\\ff").unwrap(), "O"), b"\xff");
        // A type whose first value is empty may come again.
        assert_eq!(get(&parse("C=US,ST=WA,O=,O=B").unwrap(), "O"), b"B");
        for bad in [
            "C=US,ST=WA",
            "C=US,ST=WA,O=A,O=B",
            "C=US+ST=WA,O=A",
            "C=US,ST=WA,O=#0403414243",
            "C=US,ST=WA,O=A,",
            "=US,ST=WA,O=A",
            "c=US,ST=WA,O=A",
            "C=US,ST=WA,O=\\f",
            "C=US,ST=WA,O=\\zz",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // Lower-case types parse (with C, ST and O present) but can never match; a dotted
        // OID Go does not name can.
        let odd = parse("C=US,ST=WA,O=A,cn=x,E=a@b,2.5.4.3=y,1.2.840.113549.1.9.1=a@b").unwrap();
        assert_eq!(unmatchable_types(&odd), ["2.5.4.3", "E", "cn"]);
    }

    #[test]
    fn a_missing_attribute_reads_as_empty() {
        let with_ou = parse("C=US, ST=WA, O=Acme, OU=").unwrap();
        let with_cn = parse("C=US, ST=WA, O=Acme, CN=signer").unwrap();
        assert!(is_subset(&with_ou, &with_cn));
        assert!(!is_subset(&with_cn, &with_ou));
    }

    /// A DER Name of single-attribute RDNs: (OID, string tag, value).
    fn name(attrs: &[(&str, u8, &[u8])]) -> Name {
        let tlv = |tag: u8, body: &[u8]| {
            let mut out = vec![tag, body.len() as u8];
            out.extend_from_slice(body);
            out
        };
        let mut rdns = Vec::new();
        for (oid, tag, value) in attrs {
            let oid = ObjectIdentifier::new_unwrap(oid);
            let atv = [tlv(0x06, oid.as_bytes()), tlv(*tag, value)].concat();
            rdns.extend(tlv(0x31, &tlv(0x30, &atv)));
        }
        Name::from_der(&tlv(0x30, &rdns)).unwrap()
    }

    #[test]
    fn subjects_render_as_go_renders_them() {
        let base: [(&str, u8, &[u8]); 3] = [
            ("2.5.4.6", 0x13, b"US"),
            ("2.5.4.8", 0x0c, b"WA"),
            ("2.5.4.10", 0x13, b"AT&T"),
        ];
        let more = |extra: &[(&'static str, u8, &'static [u8])]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            go_name_string(&name(&all)).unwrap()
        };
        assert_eq!(more(&[]), "O=AT&T,ST=WA,C=US");
        // Two CNs: the last; an unnamed type as its OID, printed last.
        assert_eq!(
            more(&[
                ("1.2.840.113549.1.9.1", 0x16, b"a@b.example"),
                ("2.5.4.3", 0x0c, b"first"),
                ("2.5.4.3", 0x0c, b"second"),
            ]),
            "CN=second,O=AT&T,ST=WA,C=US,1.2.840.113549.1.9.1=a@b.example"
        );
        // T61String as Latin-1, NumericString, BMPString without its terminator.
        assert_eq!(
            more(&[
                ("2.5.4.17", 0x12, b"98052"),
                ("2.5.4.3", 0x14, b"caf\xe9"),
                ("2.5.4.11", 0x1e, &[0, b'A', 0, 0]),
            ]),
            "CN=café,OU=A,O=AT&T,POSTALCODE=98052,ST=WA,C=US"
        );
        // Two OUs make one multi-valued RDN, which notation refuses.
        let two_ou = more(&[("2.5.4.11", 0x0c, b"a"), ("2.5.4.11", 0x0c, b"b")]);
        assert_eq!(two_ou, "OU=a+OU=b,O=AT&T,ST=WA,C=US");
        assert!(parse(&two_ou).is_err());
        // A PrintableString Go refuses makes the certificate unreadable.
        let odd = name(&[("2.5.4.3", 0x13, b"odd_name")]);
        assert!(go_name_string(&odd).is_err());
    }
}
