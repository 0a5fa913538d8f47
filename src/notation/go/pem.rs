//! Go's `encoding/pem.Decode` (Go 1.27, which notation v1.3.2 is built with) and the
//! `base64.StdEncoding` decoding under it.
//!
//! Hand-written rather than with der's PEM reader: Go's rules are its own. A block is found by
//! the first `-----END ` line and the last `-----BEGIN ` before it, which must start the input
//! or a line; `Key: value` header lines may follow the BEGIN line only; the END line must
//! name the same type and carry nothing but spaces after its dashes; the body is base64 with
//! any line length, spaces and tabs dropped. A block that breaks a rule is skipped, not an
//! error: the search goes on after its END line.

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"\n-----END ";
const DASHES: &[u8] = b"-----";

/// A PEM block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The type its BEGIN line names (`CERTIFICATE`).
    pub kind: Vec<u8>,
    /// The decoded body.
    pub bytes: Vec<u8>,
}

/// Go's `getLine`: the line (without `\r\n` or `\n`, trailing spaces and tabs trimmed), the
/// rest after it, and how many bytes were consumed.
fn get_line(data: &[u8]) -> (&[u8], &[u8], usize) {
    let (line_end, next) = match data.iter().position(|&b| b == b'\n') {
        None => (data.len(), data.len()),
        Some(i) if i > 0 && data[i - 1] == b'\r' => (i - 1, i + 1),
        Some(i) => (i, i + 1),
    };
    let mut line = &data[..line_end];
    while let [head @ .., b' ' | b'\t'] = line {
        line = head;
    }
    (line, &data[next..], next)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The next PEM block of `data` and what follows it, or `None` when Go finds none.
pub fn decode(data: &[u8]) -> Option<(Block, &[u8])> {
    let mut rest = data;
    // Where the search resumes, relative to `rest`: just after a `-----END `.
    let mut resume: isize = 0;
    loop {
        let from = usize::try_from(resume).ok().filter(|&r| r <= rest.len())?;
        rest = &rest[from..];
        let end_at = find(rest, END)?;
        resume = (end_at + END.len()) as isize;
        let Some(begin) = rfind(&rest[..end_at], BEGIN) else {
            continue;
        };
        if begin > 0 && rest[begin - 1] != b'\n' {
            continue;
        }
        // From here `end` and `resume` follow `rest` as it advances.
        let skip = begin + BEGIN.len();
        rest = &rest[skip..];
        let mut end = end_at as isize - skip as isize;
        resume -= skip as isize;
        let (type_line, after, consumed) = get_line(rest);
        rest = after;
        end -= consumed as isize;
        resume -= consumed as isize;
        let Some(kind) = type_line.strip_suffix(DASHES) else {
            continue;
        };
        let mut headers = false;
        loop {
            if rest.is_empty() {
                return None;
            }
            let (line, next, consumed) = get_line(rest);
            if !line.contains(&b':') {
                break;
            }
            headers = true;
            rest = next;
            end -= consumed as isize;
            resume -= consumed as isize;
        }
        if headers && end < 0 {
            continue;
        }
        match block_at(rest, kind, end, resume) {
            Some(found) => return Some(found),
            None => continue,
        }
    }
}

/// The block whose body ends at `end` and whose END line's type starts at `trailer` in
/// `rest`, if its END line and body are as Go requires.
fn block_at<'a>(
    rest: &'a [u8],
    kind: &[u8],
    end: isize,
    trailer: isize,
) -> Option<(Block, &'a [u8])> {
    let trailer = usize::try_from(trailer).ok()?;
    let trailer_len = kind.len() + DASHES.len();
    let end_line = rest.get(trailer..trailer + trailer_len)?;
    if !end_line.starts_with(kind) || !end_line.ends_with(DASHES) {
        return None;
    }
    if !get_line(&rest[trailer + trailer_len..]).0.is_empty() {
        return None;
    }
    let bytes = match usize::try_from(end) {
        Ok(end) if end > 0 => {
            let body: Vec<u8> = rest[..end]
                .iter()
                .copied()
                .filter(|b| !matches!(b, b' ' | b'\t'))
                .collect();
            base64_std(&body).ok()?
        }
        _ => Vec::new(),
    };
    let after_end = usize::try_from(end + END.len() as isize - 1).ok()?;
    let (_, next, _) = get_line(&rest[after_end..]);
    Some((
        Block {
            kind: kind.to_vec(),
            bytes,
        },
        next,
    ))
}

fn symbol(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Go's `base64.StdEncoding.Decode`: `\r` and `\n` ignored anywhere, groups of four, `=`
/// padding only at the very end, and bits past the data ignored (Go's encoding is not strict).
pub fn base64_std(text: &[u8]) -> Result<Vec<u8>, String> {
    let symbols: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    if !symbols.len().is_multiple_of(4) {
        return Err("base64 that does not come in groups of four".into());
    }
    let groups = symbols.len() / 4;
    let mut out = Vec::with_capacity(groups * 3);
    for (i, group) in symbols.chunks_exact(4).enumerate() {
        let pad = group.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != groups) {
            return Err("base64 padding out of place".into());
        }
        let mut value = 0u32;
        for (j, &c) in group[..4 - pad].iter().enumerate() {
            let v = symbol(c).ok_or_else(|| format!("'{}' is not base64", c.escape_ascii()))?;
            value |= v << (18 - 6 * j);
        }
        let bytes = value.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(text: &str) -> Vec<Vec<u8>> {
        let mut rest = text.as_bytes();
        let mut out = Vec::new();
        while let Some((block, next)) = decode(rest) {
            out.push(block.bytes);
            rest = next;
        }
        out
    }

    #[test]
    fn blocks_follow_gos_rules() {
        let ok = "-----BEGIN X-----\nQUJD\n-----END X-----\n";
        assert_eq!(blocks(ok), vec![b"ABC".to_vec()]);
        // Any line length, spaces and tabs dropped, \r\n line ends, headers before the body.
        let loose = "junk\r\n-----BEGIN X-----  \r\nProc-Type: 4\r\nQU\t JD\r\nRA==\r\n-----END X----- \r\n";
        assert_eq!(blocks(loose), vec![b"ABCD".to_vec()]);
        for bad in [
            "-----BEGIN X-----\nQUJD\n-----END X-----junk\n",
            "-----BEGIN X-----\nQUJD\nNote: hello\nQUJD\n-----END X-----\n",
            "junk-----BEGIN X-----\nQUJD\n-----END X-----\n",
            "-----BEGIN X-----\nQUJD\n-----END Y-----\n",
            "-----BEGIN X-----\nQUJ\n-----END X-----\n",
        ] {
            assert!(blocks(bad).is_empty(), "{bad:?}");
        }
        // A broken block is skipped; the next one is found.
        let two = "-----BEGIN X-----\nQUJD\n-----END X-----junk\n-----BEGIN X-----\nREVG\n-----END X-----\n";
        assert_eq!(blocks(two), vec![b"DEF".to_vec()]);
        // An empty body is a block with no bytes.
        assert_eq!(
            blocks("-----BEGIN X-----\n-----END X-----\n"),
            vec![Vec::<u8>::new()]
        );
    }

    #[test]
    fn base64_follows_std_encoding() {
        assert_eq!(base64_std(b"QUJD\nRA==").unwrap(), b"ABCD");
        assert_eq!(base64_std(b"QR==").unwrap(), b"A");
        assert_eq!(base64_std(b"").unwrap(), b"");
        for bad in [&b"QQ"[..], b"QQ==QQ==", b"Q===", b"QQ=A", b"QU JD"] {
            assert!(base64_std(bad).is_err(), "{bad:?}");
        }
    }
}
