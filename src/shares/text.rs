//! The text forms of a share: one line for a QR code, and the same characters as typeable
//! lines with a check on each line.
//!
//! The QR line is a prefix (`KRS1` for a plain record, `KRE1` for an age-encrypted one)
//! followed by the bytes in RFC 4648 base32 without padding: uppercase letters and digits
//! only, so the QR code uses its compact alphanumeric mode and nothing is case-sensitive when
//! typed. Typed lines look like `03/17  ABCD EFGH IJKL MNOP QRST UVWX  K3QZ`: the line number
//! and line count, six groups of four, and a CRC-16 of the label and the characters. A CRC-16
//! detects every error confined to 16 consecutive bits, so one mistyped character (5 bits) or
//! two swapped neighbours (10 bits) always fail the line's check; the label catches lines out
//! of order, and the count catches lines left out at the end.

use data_encoding::BASE32_NOPAD;
use zeroize::Zeroizing;

/// Prefix of a plain share record.
pub const PLAIN_PREFIX: &str = "KRS1";
/// Prefix of an age-encrypted share record.
pub const SEALED_PREFIX: &str = "KRE1";

const GROUP: usize = 4;
const GROUPS_PER_LINE: usize = 6;
const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// A share's payload: plain DER record bytes, or an age ciphertext of them. Both are held in
/// buffers zeroized on drop, and `Debug` shows only their length.
#[derive(Clone, PartialEq, Eq)]
pub enum Payload {
    /// The DER record, readable by anyone holding the card.
    Plain(Zeroizing<Vec<u8>>),
    /// An age file whose plaintext is the DER record.
    Sealed(Zeroizing<Vec<u8>>),
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Plain(b) => write!(f, "Payload::Plain({} bytes)", b.len()),
            Payload::Sealed(b) => write!(f, "Payload::Sealed({} bytes)", b.len()),
        }
    }
}

/// Text that is not a share in any of its forms.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TextError(pub String);

/// The single line a QR code carries.
pub fn qr_line(payload: &Payload) -> Zeroizing<String> {
    let (prefix, bytes) = match payload {
        Payload::Plain(b) => (PLAIN_PREFIX, b),
        Payload::Sealed(b) => (SEALED_PREFIX, b),
    };
    let mut line = Zeroizing::new(String::with_capacity(
        prefix.len() + BASE32_NOPAD.encode_len(bytes.len()),
    ));
    line.push_str(prefix);
    BASE32_NOPAD.encode_append(bytes, &mut line);
    line
}

/// The typeable lines for a QR line (zeroized on drop: a plain card's lines are its share).
pub fn typed_lines(qr: &str) -> Zeroizing<Vec<String>> {
    let per_line = GROUP * GROUPS_PER_LINE;
    let total = qr.len().div_ceil(per_line);
    let mut lines = Zeroizing::new(Vec::with_capacity(total));
    // The QR line is ASCII (prefix and base32), so byte chunks are character chunks.
    for (i, body) in qr.as_bytes().chunks(per_line).enumerate() {
        let label = format!("{:02}/{total:02}", i + 1);
        let mut line = String::with_capacity(label.len() + 2 + body.len() + body.len() / GROUP + 6);
        line.push_str(&label);
        line.push(' ');
        for group in body.chunks(GROUP) {
            line.push(' ');
            line.extend(group.iter().map(|b| char::from(*b)));
        }
        line.push_str("  ");
        line.push_str(&line_check(&label, body));
        lines.push(line);
    }
    lines
}

/// Four base32 characters of the CRC-16 of a line's label (`NN/TT`) and characters.
fn line_check(label: &str, body: &[u8]) -> String {
    let mut digest = CRC.digest();
    digest.update(label.as_bytes());
    digest.update(body);
    let crc = digest.finalize();
    // 16 bits in four base32 characters (the top four bits are zero).
    BASE32_NOPAD.encode(&[(crc >> 8) as u8, crc as u8, 0])[..4].to_owned()
}

/// Reads a share from text: a QR line (as a scanner decodes it) or typed lines. `what` names
/// the source in errors, which never quote the share's characters.
pub fn parse(text: &str, what: &str) -> Result<Payload, TextError> {
    let trimmed = text.trim();
    let single = !trimmed.contains(char::is_whitespace);
    let mut qr = if single {
        Zeroizing::new(trimmed.to_owned())
    } else {
        join_typed_lines(trimmed, what)?
    };
    qr.make_ascii_uppercase();
    parse_qr_line(&qr, what)
}

fn parse_qr_line(qr: &str, what: &str) -> Result<Payload, TextError> {
    let (sealed, body) = if let Some(b) = qr.strip_prefix(PLAIN_PREFIX) {
        (false, b)
    } else if let Some(b) = qr.strip_prefix(SEALED_PREFIX) {
        (true, b)
    } else {
        return Err(TextError(format!(
            "{what} is not a keyrite share: it should start with {PLAIN_PREFIX} or {SEALED_PREFIX}"
        )));
    };
    let bytes = Zeroizing::new(BASE32_NOPAD.decode(body.as_bytes()).map_err(|e| {
        TextError(format!(
            "{what} is not a complete share ({e}): check that no character is missing"
        ))
    })?);
    Ok(if sealed {
        Payload::Sealed(bytes)
    } else {
        Payload::Plain(bytes)
    })
}

fn join_typed_lines(text: &str, what: &str) -> Result<Zeroizing<String>, TextError> {
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    let mut body = Zeroizing::new(String::new());
    let mut expected = 1;
    let mut total = None;
    for (row, raw) in text.lines().enumerate() {
        let words: Vec<&str> = raw.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let bad = |why: &str| TextError(format!("{what}, text line {}: {why}", row + 1));
        let [label, groups @ .., check] = words.as_slice() else {
            return Err(bad(
                "expected a line number (NN/TT), groups of characters and a check",
            ));
        };
        let (n, t) = label
            .split_once('/')
            .and_then(|(n, t)| Some((n.parse::<usize>().ok()?, t.parse::<usize>().ok()?)))
            .ok_or_else(|| bad("it does not start with a line number such as 01/17"))?;
        if groups.is_empty() {
            return Err(bad(
                "expected groups of characters between the line number and the check",
            ));
        }
        if *total.get_or_insert(t) != t || n != expected {
            return Err(bad(&format!(
                "expected line {expected:02}/{:02} here: a line is missing or out of order",
                total.unwrap_or(t)
            )));
        }
        body.clear();
        for group in groups {
            body.push_str(group);
        }
        body.make_ascii_uppercase();
        if line_check(&format!("{n:02}/{t:02}"), body.as_bytes()) != check.to_ascii_uppercase() {
            return Err(bad(&format!(
                "line {n:02}/{t:02}: its check does not match: a character is mistyped or two are swapped"
            )));
        }
        out.push_str(&body);
        expected += 1;
    }
    match total {
        None => Err(TextError(format!("{what} holds no share text"))),
        Some(t) if expected <= t => Err(TextError(format!(
            "{what}: line {expected:02}/{t:02} is missing: type every line of the card"
        ))),
        Some(_) => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload {
        Payload::Plain(Zeroizing::new((0u8..=200).collect()))
    }

    #[test]
    fn qr_and_typed_forms_round_trip() {
        let qr = qr_line(&sample());
        assert!(
            qr.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_eq!(parse(&qr, "t").unwrap(), sample());
        let typed = typed_lines(&qr).join("\n");
        assert_eq!(parse(&typed, "t").unwrap(), sample());
        assert_eq!(parse(&typed.to_lowercase(), "t").unwrap(), sample());
    }

    #[test]
    fn every_single_substitution_and_neighbour_swap_is_caught() {
        let lines = typed_lines(&qr_line(&sample())).to_vec();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        for (li, line) in lines.iter().enumerate() {
            let chars: Vec<char> = line.chars().collect();
            // Positions of the payload characters (after the number, before the check).
            let start = 7;
            let end = chars.len() - 6;
            for pos in (start..end).filter(|p| chars[*p] != ' ') {
                for replacement in alphabet.chars().filter(|c| *c != chars[pos]) {
                    let mut bad = chars.clone();
                    bad[pos] = replacement;
                    let mut all = lines.clone();
                    all[li] = bad.iter().collect();
                    assert!(parse(&all.join("\n"), "t").is_err(), "{}", all[li]);
                }
                let next = (pos + 1..end).find(|p| chars[*p] != ' ');
                if let Some(next) = next.filter(|n| chars[*n] != chars[pos]) {
                    let mut bad = chars.clone();
                    bad.swap(pos, next);
                    let mut all = lines.clone();
                    all[li] = bad.iter().collect();
                    let err = parse(&all.join("\n"), "t").unwrap_err().to_string();
                    assert!(err.contains("check does not match"), "{err}");
                    assert!(
                        !err.contains(&all[li][7..20]),
                        "the share was quoted: {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn swapped_or_missing_lines_are_caught() {
        let lines = typed_lines(&qr_line(&sample())).to_vec();
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        let err = parse(&swapped.join("\n"), "card").unwrap_err().to_string();
        assert!(err.contains("expected line 02/"), "{err}");
        let last = lines.len();
        let err = parse(&lines[..last - 1].join("\n"), "card")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("line {last:02}/{last:02} is missing")),
            "{err}"
        );
    }

    #[test]
    fn foreign_text_is_refused() {
        let err = parse("hello", "notes.txt").unwrap_err().to_string();
        assert!(err.contains("notes.txt is not a keyrite share"), "{err}");
    }
}
