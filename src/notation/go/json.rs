//! Go's `encoding/json` as notation v1.3.2 decodes with it (`json.NewDecoder(f).Decode(&v)`,
//! built with Go 1.27: the v1 API on the v2 engine, with every v1 default): the first JSON value
//! of the input, whatever follows it unread; every member of an object visited in document
//! order, a repeated key applied again (the last string wins, objects and maps merge, an
//! array is decoded over the elements already there); keys matched to struct fields by
//! `strings.EqualFold`; invalid UTF-8 and unpaired surrogate escapes in strings read as
//! U+FFFD; containers nested up to 10000 deep.
//!
//! Hand-written rather than with serde_json: serde_json refuses invalid UTF-8 and lone
//! surrogates, stops at 128 levels of nesting, and its `Map` keeps one value per key, so it
//! cannot visit repeated members as Go does. This module only reads the syntax; the callers
//! decode into their own types with [`string_into`], [`struct_into`], [`slice_into`] and
//! [`GoSlice`], which follow Go's rules for each kind of destination.

/// How deep containers may nest (jsontext's `maxNestingDepth`).
pub const MAX_DEPTH: usize = 10_000;

/// The kind of the next JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

/// A reader over one JSON text, value by value.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            pos: 0,
            depth: 0,
        }
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The kind of the next value, which is not consumed.
    pub fn peek(&mut self) -> Result<Kind, String> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            None => Err(self.error("unexpected end of input")),
            Some(b'n') => Ok(Kind::Null),
            Some(b't' | b'f') => Ok(Kind::Bool),
            Some(b'-' | b'0'..=b'9') => Ok(Kind::Number),
            Some(b'"') => Ok(Kind::String),
            Some(b'[') => Ok(Kind::Array),
            Some(b'{') => Ok(Kind::Object),
            Some(_) => Err(self.error("invalid character")),
        }
    }

    /// The error for a value of the wrong kind, as Go's decoder reports a type mismatch.
    pub fn mismatch(&mut self, wanted: &str) -> String {
        match self.peek() {
            Ok(kind) => self.error(&format!("{} where {wanted} belongs", kind.name())),
            Err(e) => e,
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        self.skip_whitespace();
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        if self.depth == MAX_DEPTH {
            return Err(self.error("nesting deeper than 10000"));
        }
        self.depth += 1;
        Ok(())
    }

    /// Consumes `null`.
    pub fn null(&mut self) -> Result<(), String> {
        self.literal("null")
    }

    /// Consumes a string and returns its text, as Go unquotes it.
    pub fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error("unterminated string"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => self.escape(&mut out)?,
                0..=0x1f => return Err(self.error("control character in string")),
                0x20..=0x7f => {
                    out.push(b as char);
                    self.pos += 1;
                }
                _ => {
                    let (c, width) = decode_rune(&self.bytes[self.pos..]);
                    out.push(c);
                    self.pos += width;
                }
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u16> {
        let digits = self.bytes.get(at..at + 4)?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }

    /// One escape sequence; an unpaired surrogate becomes U+FFFD and what follows it is read
    /// on its own, as Go's `AppendUnquote` does.
    fn escape(&mut self, out: &mut String) -> Result<(), String> {
        let simple = match self.bytes.get(self.pos + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self
                    .hex4(self.pos + 2)
                    .ok_or_else(|| self.error("invalid \\u escape"))?;
                self.pos += 6;
                let paired = (0xd800..0xdc00).contains(&unit)
                    && self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u");
                let low = paired.then(|| self.hex4(self.pos + 2)).flatten();
                match low.filter(|l| (0xdc00..0xe000).contains(l)) {
                    Some(low) => {
                        self.pos += 6;
                        let c = 0x10000
                            + ((u32::from(unit) - 0xd800) << 10)
                            + (u32::from(low) - 0xdc00);
                        out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                    }
                    None => out.push(char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}')),
                }
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(simple);
        self.pos += 2;
        Ok(())
    }

    /// Consumes a number and returns its text.
    pub fn number(&mut self) -> Result<&'a str, String> {
        self.skip_whitespace();
        let start = self.pos;
        let digits = |r: &mut Self| {
            let from = r.pos;
            while r.bytes.get(r.pos).is_some_and(u8::is_ascii_digit) {
                r.pos += 1;
            }
            r.pos > from
        };
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        if self.bytes.get(self.pos) == Some(&b'0') {
            self.pos += 1;
        } else if !digits(self) {
            return Err(self.error("invalid number"));
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
        }
        // Only ASCII was consumed.
        let bytes: &'a [u8] = self.bytes;
        std::str::from_utf8(&bytes[start..self.pos]).map_err(|e| e.to_string())
    }

    /// Consumes an object, calling `member` with each key in document order; `member` must
    /// consume the value.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, String) -> Result<(), String>,
    ) -> Result<(), String> {
        self.expect(b'{')?;
        self.enter()?;
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            member(self, key)?;
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// Consumes an array, calling `element` for each element; `element` must consume it.
    pub fn array(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        self.expect(b'[')?;
        self.enter()?;
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            element(self)?;
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    /// Consumes any value, checking its syntax, without recursion however deep it nests.
    pub fn skip(&mut self) -> Result<(), String> {
        let base = self.depth;
        // Whether a value is expected next (rather than a ',' or a closing bracket).
        let mut want_value = true;
        let mut closers: Vec<u8> = Vec::new();
        loop {
            if want_value {
                match self.peek()? {
                    Kind::Null => self.literal("null")?,
                    Kind::Bool => self.literal("true").or_else(|_| self.literal("false"))?,
                    Kind::Number => self.number().map(drop)?,
                    Kind::String => self.string().map(drop)?,
                    kind => {
                        self.pos += 1;
                        self.enter()?;
                        let close = if kind == Kind::Array { b']' } else { b'}' };
                        closers.push(close);
                        self.skip_whitespace();
                        if self.bytes.get(self.pos) == Some(&close) {
                            self.pos += 1;
                            self.depth -= 1;
                            closers.pop();
                        } else {
                            if close == b'}' {
                                self.string()?;
                                self.expect(b':')?;
                            }
                            continue;
                        }
                    }
                }
            }
            let Some(&close) = closers.last() else {
                debug_assert_eq!(self.depth, base);
                return Ok(());
            };
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    if close == b'}' {
                        self.string()?;
                        self.expect(b':')?;
                    }
                    want_value = true;
                }
                Some(&b) if b == close => {
                    self.pos += 1;
                    self.depth -= 1;
                    closers.pop();
                    want_value = false;
                }
                _ => return Err(self.error("expected ',' or a closing bracket")),
            }
        }
    }
}

/// The character at the start of `bytes` (which is not ASCII) and its width, or U+FFFD and
/// one byte when the bytes there are not UTF-8, as Go's `utf8.DecodeRune` reads them.
fn decode_rune(bytes: &[u8]) -> (char, usize) {
    let head = &bytes[..bytes.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
    };
    match valid.chars().next() {
        Some(c) => (c, c.len_utf8()),
        None => ('\u{fffd}', 1),
    }
}

/// Whether object key `key` names the struct field `field` (an ASCII name without `-` or
/// `_`): Go's `strings.EqualFold`, under which the long s (U+017F) folds to `s` and the
/// Kelvin sign (U+212A) to `k`, the only non-ASCII characters whose case folding reaches an
/// ASCII letter.
pub fn field_is(key: &str, field: &str) -> bool {
    let mut key_chars = key.chars();
    for f in field.chars() {
        let Some(k) = key_chars.next() else {
            return false;
        };
        let same = k.eq_ignore_ascii_case(&f)
            || (k == '\u{17f}' && f.eq_ignore_ascii_case(&'s'))
            || (k == '\u{212a}' && f.eq_ignore_ascii_case(&'k'));
        if !same {
            return false;
        }
    }
    key_chars.next().is_none()
}

/// Decodes a string into `dst` as Go does for a `string` field: `null` leaves it as it was.
pub fn string_into(r: &mut Reader<'_>, dst: &mut String) -> Result<(), String> {
    match r.peek()? {
        Kind::Null => r.null(),
        Kind::String => {
            *dst = r.string()?;
            Ok(())
        }
        _ => Err(r.mismatch("a string")),
    }
}

/// Decodes an object into a struct as Go does: `null` leaves it as it was, the members of an
/// object are applied over what is there (`member` decides what each key means).
pub fn struct_into(
    r: &mut Reader<'_>,
    member: impl FnMut(&mut Reader<'_>, String) -> Result<(), String>,
) -> Result<(), String> {
    match r.peek()? {
        Kind::Null => r.null(),
        Kind::Object => r.object(member),
        _ => Err(r.mismatch("an object")),
    }
}

/// A Go slice being decoded into: Go decodes an array over the slice's backing array, so an
/// element the array leaves `null` keeps what an earlier decode of the same field put there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoSlice<T> {
    backing: Vec<T>,
    len: usize,
    /// Whether the slice is nil (never decoded, or decoded from `null`) rather than empty.
    nil: bool,
}

impl<T> Default for GoSlice<T> {
    fn default() -> Self {
        GoSlice {
            backing: Vec::new(),
            len: 0,
            nil: true,
        }
    }
}

impl<T> GoSlice<T> {
    /// The slice's elements.
    pub fn as_slice(&self) -> &[T] {
        &self.backing[..self.len]
    }

    /// Whether the slice is nil rather than empty.
    pub fn is_nil(&self) -> bool {
        self.nil
    }

    /// A slice holding `items`, as decoded from a string.
    pub fn from_vec(items: Vec<T>) -> Self {
        GoSlice {
            len: items.len(),
            backing: items,
            nil: false,
        }
    }
}

/// Decodes an array into `dst` as Go's v1 decoder does: `null` makes the slice nil, `[]`
/// makes it empty (dropping its backing array), and each element is decoded over the value
/// already at its place in the backing array (a fresh place holds `T::default()`).
pub fn slice_into<T: Default>(
    r: &mut Reader<'_>,
    dst: &mut GoSlice<T>,
    mut element: impl FnMut(&mut Reader<'_>, &mut T) -> Result<(), String>,
) -> Result<(), String> {
    match r.peek()? {
        Kind::Null => {
            r.null()?;
            *dst = GoSlice::default();
            Ok(())
        }
        Kind::Array => {
            let mut i = 0;
            r.array(|r| {
                if i == dst.backing.len() {
                    dst.backing.push(T::default());
                }
                element(r, &mut dst.backing[i])?;
                i += 1;
                Ok(())
            })?;
            if i == 0 {
                dst.backing.clear();
            }
            dst.len = i;
            dst.nil = false;
            Ok(())
        }
        _ => Err(r.mismatch("an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(text: &str) -> Result<Vec<String>, String> {
        let mut r = Reader::new(text.as_bytes());
        let mut out = GoSlice::default();
        slice_into(&mut r, &mut out, string_into)?;
        Ok(out.as_slice().to_vec())
    }

    #[test]
    fn strings_read_as_go_reads_them() {
        assert_eq!(strings(r#"["a\u00e9\ud83d\ude00"]"#).unwrap(), ["aé😀"]);
        // Unpaired surrogates become U+FFFD, and what follows is read on its own.
        assert_eq!(
            strings(r#"["\ud800", "\ud800\u0041", "\udc00x"]"#).unwrap(),
            ["\u{fffd}", "\u{fffd}A", "\u{fffd}x"]
        );
        // Invalid UTF-8: one U+FFFD per byte Go cannot decode.
        let mut r = Reader::new(b"\"a\xe2\x82b\xff\"");
        assert_eq!(r.string().unwrap(), "a\u{fffd}\u{fffd}b\u{fffd}");
        for bad in [r#"["\ud800\uzzzz"]"#, r#"["\x"]"#, "[\"\u{1}\"]", r#"["a"#] {
            assert!(strings(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_fold_as_go_folds_them() {
        assert!(field_is("TRUSTSTORES", "trustStores"));
        assert!(field_is("tru\u{17f}tStores", "trustStores"));
        assert!(field_is("\u{212a}ind", "kind"));
        assert!(!field_is("trust_Stores", "trustStores"));
        assert!(!field_is("trustStore", "trustStores"));
        assert!(!field_is("trustStoresX", "trustStores"));
    }

    #[test]
    fn arrays_decode_over_what_is_there() {
        let mut r = Reader::new(br#"[["a","b","c"],["x"],[null,null,null],[],[null]]"#);
        let mut s: GoSlice<String> = GoSlice::default();
        let mut seen = Vec::new();
        r.array(|r| {
            slice_into(r, &mut s, string_into)?;
            seen.push(s.as_slice().to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen[1], ["x"]);
        assert_eq!(seen[2], ["x", "b", "c"]);
        assert!(seen[3].is_empty());
        assert_eq!(seen[4], [""]);
    }

    #[test]
    fn skipping_checks_syntax_and_depth() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(Reader::new(deep(MAX_DEPTH).as_bytes()).skip().is_ok());
        assert!(Reader::new(deep(MAX_DEPTH + 1).as_bytes()).skip().is_err());
        for good in [
            r#"{"a":[1,-0.5e+3,true,false,null,{"b":{}}],"c":"d"}"#,
            "[]",
            "{}",
        ] {
            assert!(Reader::new(good.as_bytes()).skip().is_ok(), "{good}");
        }
        for bad in [
            "[1,]",
            "{\"a\"}",
            "[01]",
            "{\"a\":1,}",
            "[tru]",
            "{1:2}",
            "[1 2]",
        ] {
            assert!(Reader::new(bad.as_bytes()).skip().is_err(), "{bad}");
        }
    }
}
