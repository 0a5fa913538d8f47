//! Distinguished names under the Notary Project's rules: C, ST and O present; only C, O, OU,
//! CN, SERIALNUMBER, L, ST, STREET, POSTALCODE; each at most once; one attribute per RDN.
//!
//! Names are written and shown in DER order, the way notation prints trusted identities:
//! `C=US, ST=WA, O=Example, CN=Root`.

use der::asn1::{Any, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

/// An attribute type allowed in a Notary Project subject.
struct NameAttribute {
    short: &'static str,
    oid: ObjectIdentifier,
    /// RFC 5280 upper bound on the value's length, in characters.
    max_len: usize,
    /// PrintableString rather than UTF8String.
    printable: bool,
}

const ATTRIBUTES: &[NameAttribute] = &[
    NameAttribute {
        short: "C",
        oid: ObjectIdentifier::new_unwrap("2.5.4.6"),
        max_len: 2,
        printable: true,
    },
    NameAttribute {
        short: "ST",
        oid: ObjectIdentifier::new_unwrap("2.5.4.8"),
        max_len: 128,
        printable: false,
    },
    NameAttribute {
        short: "L",
        oid: ObjectIdentifier::new_unwrap("2.5.4.7"),
        max_len: 128,
        printable: false,
    },
    NameAttribute {
        short: "STREET",
        oid: ObjectIdentifier::new_unwrap("2.5.4.9"),
        max_len: 128,
        printable: false,
    },
    NameAttribute {
        short: "POSTALCODE",
        oid: ObjectIdentifier::new_unwrap("2.5.4.17"),
        max_len: 40,
        printable: false,
    },
    NameAttribute {
        short: "O",
        oid: ObjectIdentifier::new_unwrap("2.5.4.10"),
        max_len: 64,
        printable: false,
    },
    NameAttribute {
        short: "OU",
        oid: ObjectIdentifier::new_unwrap("2.5.4.11"),
        max_len: 64,
        printable: false,
    },
    NameAttribute {
        short: "CN",
        oid: ObjectIdentifier::new_unwrap("2.5.4.3"),
        max_len: 64,
        printable: false,
    },
    NameAttribute {
        short: "SERIALNUMBER",
        oid: ObjectIdentifier::new_unwrap("2.5.4.5"),
        max_len: 64,
        printable: true,
    },
];

const REQUIRED: &[&str] = &["C", "ST", "O"];

/// A subject that breaks the rules.
#[derive(Debug, thiserror::Error)]
#[error("bad subject '{subject}': {reason}")]
pub struct NameError {
    /// The subject as given or shown.
    pub subject: String,
    /// What is wrong, and what to do.
    pub reason: String,
}

/// Parses `C=US,ST=WA,O=Example,CN=Root` (commas and `+` inside values escaped with `\`) into a
/// Name that follows the Notary Project rules. The attributes stay in the order written.
pub fn parse_subject(text: &str) -> Result<Name, NameError> {
    let fail = |reason: String| NameError {
        subject: ascii_escaped(text),
        reason,
    };
    let mut rdns = RdnSequence::default();
    for part in split_unescaped(text, ',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(fail("empty attribute (two commas in a row?)".into()));
        }
        if split_unescaped(part, '+').count() > 1 {
            return Err(fail(format!(
                "'{part}' is a multi-valued RDN, which notation refuses: put each attribute on its own"
            )));
        }
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| fail(format!("'{part}' is not TYPE=value")))?;
        let key = key.trim().to_ascii_uppercase();
        let value = unescape(value.trim()).map_err(&fail)?;
        if matches!(key.as_str(), "E" | "EMAIL" | "EMAILADDRESS") {
            return Err(fail(
                "an e-mail address belongs in the subjectAltName, never in the subject".into(),
            ));
        }
        let attr = ATTRIBUTES.iter().find(|a| a.short == key).ok_or_else(|| {
            fail(format!(
                "attribute type '{key}' is not allowed; use only {}",
                allowed_list()
            ))
        })?;
        let encoded = if attr.printable {
            PrintableStringRef::new(&value).and_then(|s| Any::encode_from(&s))
        } else {
            Utf8StringRef::new(&value).and_then(|s| Any::encode_from(&s))
        }
        .map_err(|_| {
            fail(format!(
                "{key}={value} has characters a PrintableString cannot hold (letters, digits, space and '()+,-./:=? only)"
            ))
        })?;
        let atv = AttributeTypeAndValue {
            oid: attr.oid,
            value: encoded,
        };
        let rdn = RelativeDistinguishedName::try_from(vec![atv])
            .map_err(|e| fail(format!("cannot encode {key}: {e}")))?;
        rdns.push(rdn);
    }
    let name = rdns
        .to_der()
        .and_then(|der| Name::from_der(&der))
        .map_err(|e| fail(format!("cannot encode the name: {e}")))?;
    let mut problems = hidden_characters(&name);
    problems.extend(check_subject(&name));
    if let Some(first) = problems.into_iter().next() {
        return Err(fail(first));
    }
    Ok(name)
}

/// Every way `name` breaks the Notary Project subject rules (empty when it follows them).
pub fn check_subject(name: &Name) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for rdn in name.iter_rdn() {
        if rdn.len() != 1 {
            problems.push("multi-valued RDNs are not allowed".into());
        }
        for atv in rdn.iter() {
            let Some(attr) = ATTRIBUTES.iter().find(|a| a.oid == atv.oid) else {
                problems.push(format!(
                    "attribute {} is not allowed; use only {}",
                    atv.oid,
                    allowed_list()
                ));
                continue;
            };
            if seen.contains(&attr.short) {
                problems.push(format!("{} appears more than once", attr.short));
            }
            seen.push(attr.short);
            // RFC 5280 DirectoryString: UTF8String or PrintableString (Go writes the latter
            // whenever it can); C and SERIALNUMBER are PrintableString only.
            let tag = atv.value.tag();
            let ok = tag == Tag::PrintableString || (!attr.printable && tag == Tag::Utf8String);
            if !ok {
                problems.push(format!(
                    "{} is a {tag}; use {}",
                    attr.short,
                    if attr.printable {
                        "PrintableString"
                    } else {
                        "UTF8String or PrintableString"
                    }
                ));
            }
            let text = value_text(&atv.value).unwrap_or_default();
            let len = text.chars().count();
            if len == 0 {
                problems.push(format!("{} is empty", attr.short));
            } else if len > attr.max_len {
                problems.push(format!(
                    "{} is {len} characters; RFC 5280 allows at most {}",
                    attr.short, attr.max_len
                ));
            }
            if attr.short == "C" && !(len == 2 && text.chars().all(|c| c.is_ascii_uppercase())) {
                problems.push(format!(
                    "C={} is not a two-letter ISO 3166 country code such as US or DE",
                    ascii_escaped(&text)
                ));
            }
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|r| !seen.contains(r))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} missing: notation requires C, ST and O in every subject",
            missing.join(", ")
        ));
    }
    problems
}

/// Every attribute of `name` that holds a character a reader cannot see or that changes how
/// the text around it reads: control characters, line and paragraph separators (U+2028,
/// U+2029) and Unicode format characters (general category Cf: zero-width characters, bidi
/// overrides and isolates, U+200E/U+200F, …). Each is named by attribute and code point, never
/// written out.
pub fn hidden_characters(name: &Name) -> Vec<String> {
    let mut problems = Vec::new();
    for atv in name.iter() {
        let text = value_text(&atv.value).unwrap_or_default();
        let Some((c, what)) = text.chars().find_map(|c| hidden(c).map(|what| (c, what))) else {
            continue;
        };
        problems.push(format!(
            "{} holds {what} ({}), which hides or reorders what a reader sees",
            attribute_short(atv),
            code_point(c)
        ));
    }
    problems
}

/// What kind of hidden character `c` is, if it is one.
fn hidden(c: char) -> Option<&'static str> {
    if c.is_control() {
        Some("a control character")
    } else if matches!(c, '\u{2028}' | '\u{2029}') {
        Some("a line or paragraph separator")
    } else if FORMAT_CHARACTERS
        .iter()
        .any(|(low, high)| (*low..=*high).contains(&c))
    {
        Some("a Unicode format character")
    } else {
        None
    }
}

/// Unicode general category Cf (format characters), as of Unicode 15.1. Written out rather
/// than taken from a crate: the category is small and stable, and the list is the whole rule.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// A character as `U+XXXX`.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// `text` in printable ASCII: every other character written as `\u{XXXX}`, so that nothing
/// hidden or look-alike reaches a terminal unmarked.
pub fn ascii_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        }
    }
    out
}

/// `text` with every hidden character (control, format, line separator; a newline aside)
/// written as `\u{XXXX}`: for messages that may carry text from an input, so that an input
/// cannot drive the terminal or reorder what the officers read.
pub fn hidden_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c != '\n' && hidden(c).is_some() {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Warnings about look-alike letters: an attribute whose letters come from more than one of
/// the Latin, Greek and Cyrillic scripts (a Cyrillic "е" in a Latin name reads the same and
/// is another name). Letters of other scripts are not counted, so "Example 株式会社" passes.
pub fn mixed_scripts(name: &Name) -> Vec<String> {
    let mut warnings = Vec::new();
    for atv in name.iter() {
        let text = value_text(&atv.value).unwrap_or_default();
        let mut first: Option<Script> = None;
        for c in text.chars() {
            let Some(script) = script(c) else { continue };
            match first {
                None => first = Some(script),
                Some(s) if s != script => {
                    warnings.push(format!(
                        "{} mixes {} and {} letters ({} is {}): is it a look-alike of another \
                         name? Confirm the subject with the publisher before the root signs",
                        attribute_short(atv),
                        s.name(),
                        script.name(),
                        code_point(c),
                        script.name()
                    ));
                    break;
                }
                Some(_) => {}
            }
        }
    }
    warnings
}

/// The scripts whose letters are confused with one another.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

impl Script {
    fn name(self) -> &'static str {
        match self {
            Self::Latin => "Latin",
            Self::Greek => "Greek",
            Self::Cyrillic => "Cyrillic",
        }
    }
}

/// The script of a letter, by Unicode block; `None` for anything else. A small table rather
/// than a crate: only these three scripts are told apart, and their blocks do not change.
fn script(c: char) -> Option<Script> {
    let u = u32::from(c);
    if !c.is_alphabetic() {
        return None;
    }
    match u {
        0x41..=0x5A
        | 0x61..=0x7A
        | 0xC0..=0x24F
        | 0x1E00..=0x1EFF
        | 0x2C60..=0x2C7F
        | 0xA720..=0xA7FF
        | 0xFF21..=0xFF3A
        | 0xFF41..=0xFF5A => Some(Script::Latin),
        0x370..=0x3FF | 0x1F00..=0x1FFF => Some(Script::Greek),
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => {
            Some(Script::Cyrillic)
        }
        _ => None,
    }
}

/// An attribute's short name (`CN`), or its OID when it is not one notation allows.
fn attribute_short(atv: &AttributeTypeAndValue) -> String {
    ATTRIBUTES
        .iter()
        .find(|a| a.oid == atv.oid)
        .map_or_else(|| atv.oid.to_string(), |a| a.short.to_owned())
}

/// Shows a name in DER order, as notation's trusted identities do: `C=US, ST=WA, O=Example`.
pub fn display_name(name: &Name) -> String {
    name.iter_rdn()
        .flat_map(|rdn| rdn.iter())
        .map(|atv| {
            let key = attribute_short(atv);
            let value = value_text(&atv.value).unwrap_or_else(|| "#…".into());
            format!("{key}={}", escape(&value))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn value_text(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::Utf8String => Utf8StringRef::try_from(value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        _ => None,
    }
}

fn allowed_list() -> String {
    ATTRIBUTES
        .iter()
        .map(|a| a.short)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits at `sep` where it is not escaped by a backslash.
fn split_unescaped(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts.into_iter()
}

/// Characters RFC 4514 lets (or makes) a backslash escape.
const ESCAPABLE: &[char] = &[',', '+', '"', '\\', '<', '>', ';', '=', '#', ' '];

/// Undoes `\,`-style escapes; hex escapes (`\C3\A9`) are refused rather than guessed at.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(next) if ESCAPABLE.contains(&next) => out.push(next),
            Some(_) => {
                return Err(format!(
                    "'{s}' has a backslash before an ordinary character (hex escapes are not \
                     supported): write the character itself, UTF-8 is fine"
                ));
            }
            None => return Err(format!("'{s}' ends in a lone backslash")),
        }
    }
    Ok(out)
}

/// Escapes a value for display the way RFC 4514 requires, so that a parser such as
/// notation's reads back the same value.
fn escape(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_written_order_and_encodings() {
        let name = parse_subject("C=US, ST=Washington, O=Example\\, Inc., CN=Root CA").unwrap();
        assert_eq!(
            display_name(&name),
            "C=US, ST=Washington, O=Example\\, Inc., CN=Root CA"
        );
        let first = name.iter().next().unwrap();
        assert_eq!(first.value.tag(), Tag::PrintableString);
    }

    #[test]
    fn refuses_what_notation_refuses() {
        for (bad, why) in [
            ("C=US,O=Example,CN=x", "ST missing"),
            ("C=US,ST=WA,CN=x", "O missing"),
            ("C=US,ST=WA,O=A,O=B", "O appears more than once"),
            ("C=US,ST=WA,O=A,CN=a+OU=b", "multi-valued RDN"),
            ("C=US,ST=WA,O=A,E=a@b.c", "subjectAltName"),
            ("C=US,ST=WA,O=A,DC=example", "'DC' is not allowed"),
            ("C=USA,ST=WA,O=A", "at most 2"),
            ("C=us,ST=WA,O=A", "two-letter"),
            ("C=US,ST=WA,O=", "O is empty"),
            ("C=US,,ST=WA,O=A", "empty attribute"),
            ("C=US,ST=WA,O=A,CN", "not TYPE=value"),
            (
                "C=US,ST=WA,O=Soci\\C3\\A9t\\C3\\A9",
                "hex escapes are not supported",
            ),
            ("C=US,ST=WA,O=A\\", "lone backslash"),
        ] {
            let e = parse_subject(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn display_escapes_what_rfc_4514_requires() {
        let name = parse_subject("C=US,ST=WA,O=A\\+B\\; \\<c\\>,CN=\\#1 Société").unwrap();
        assert_eq!(
            display_name(&name),
            "C=US, ST=WA, O=A\\+B\\; \\<c\\>, CN=\\#1 Société"
        );
    }

    #[test]
    fn refuses_overlong_values() {
        let long = "x".repeat(65);
        let e = parse_subject(&format!("C=US,ST=WA,O=A,CN={long}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 64"), "{e}");
    }
}
