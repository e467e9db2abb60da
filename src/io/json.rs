//! The JSON of safetensors headers: a strict reader of JSON text (RFC 8259), strings read
//! without copying (escapes decoded on the fly), and the escaping of strings for writing.
//!
//! Written for this crate rather than taken from a JSON crate: the header is read several
//! times over (once to check it, then once per tensor looked up) from a `&str`, without
//! allocating and without a scratch buffer for escaped names of any length, and every path
//! is under the crate's no-panic lints.

/// The deepest nesting of arrays and objects accepted (as `serde_json`'s default).
pub(crate) const MAX_DEPTH: u32 = 128;

/// A position in a text, moving forward only.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a [u8]) -> Self {
        Self { text, pos: 0 }
    }

    /// The position, in bytes from the start.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    pub(crate) fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    /// The next byte, consumed.
    pub(crate) fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.bump();
        Some(b)
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.bump();
        }
        found
    }

    pub(crate) fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.bump();
        }
    }

    /// Whitespace, then `b`.
    pub(crate) fn expect(&mut self, b: u8) -> Option<()> {
        self.skip_whitespace();
        self.eat(b).then_some(())
    }

    /// The whole text.
    pub(crate) fn text(&self) -> &'a [u8] {
        self.text
    }

    /// The bytes from `start` to the current position.
    fn since(&self, start: usize) -> &'a [u8] {
        self.text.get(start..self.pos).unwrap_or(&[])
    }
}

/// Checks that `text` is JSON text whose value is an object (RFC 8259; strings must hold no
/// unpaired surrogate escape); else the position of the first error. `text` is already known
/// to be UTF-8.
pub(crate) fn validate(text: &str) -> Result<(), usize> {
    let mut c = Cursor::new(text.as_bytes());
    if c.peek() != Some(b'{') {
        return Err(0);
    }
    // The open arrays and objects, one bit each (1: object), the innermost lowest.
    let mut stack: u128 = 0;
    let mut depth: u32 = 0;
    // Whether a value is expected next (else a `,` or a closing bracket).
    let mut want_value = true;
    loop {
        c.skip_whitespace();
        let at = c.pos();
        if want_value {
            match c.peek() {
                Some(open @ (b'{' | b'[')) => {
                    c.bump();
                    if depth >= MAX_DEPTH {
                        return Err(at);
                    }
                    depth = depth.saturating_add(1);
                    stack = (stack << 1) | u128::from(open == b'{');
                    c.skip_whitespace();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if c.eat(close) {
                        depth = depth.saturating_sub(1);
                        stack >>= 1;
                        want_value = false;
                    } else if open == b'{' {
                        key(&mut c)?;
                    }
                    continue;
                }
                Some(b'"') => string(&mut c).map(|_| ()).ok_or(c.pos())?,
                Some(b'-' | b'0'..=b'9') => number(&mut c).ok_or(c.pos())?,
                Some(b't') => literal(&mut c, b"true").ok_or(at)?,
                Some(b'f') => literal(&mut c, b"false").ok_or(at)?,
                Some(b'n') => literal(&mut c, b"null").ok_or(at)?,
                _ => return Err(at),
            }
            want_value = false;
        } else {
            if depth == 0 {
                return if c.peek().is_none() { Ok(()) } else { Err(at) };
            }
            let in_object = stack & 1 == 1;
            match (c.next_byte(), in_object) {
                (Some(b','), true) => {
                    key(&mut c)?;
                    want_value = true;
                }
                (Some(b','), false) => want_value = true,
                (Some(b'}'), true) | (Some(b']'), false) => {
                    depth = depth.saturating_sub(1);
                    stack >>= 1;
                }
                _ => return Err(at),
            }
        }
    }
}

/// A member's key and its colon, after whitespace.
fn key(c: &mut Cursor<'_>) -> Result<(), usize> {
    c.skip_whitespace();
    if c.peek() != Some(b'"') {
        return Err(c.pos());
    }
    string(c).ok_or(c.pos())?;
    c.expect(b':').ok_or(c.pos())
}

/// The literal `word` (`true`, `false`, `null`).
fn literal(c: &mut Cursor<'_>, word: &[u8]) -> Option<()> {
    for &w in word {
        if !c.eat(w) {
            return None;
        }
    }
    Some(())
}

/// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number(c: &mut Cursor<'_>) -> Option<()> {
    c.eat(b'-');
    if !c.eat(b'0') {
        digits(c)?;
    }
    if c.eat(b'.') {
        digits(c)?;
    }
    if c.eat(b'e') || c.eat(b'E') {
        if !c.eat(b'+') {
            c.eat(b'-');
        }
        digits(c)?;
    }
    Some(())
}

/// One or more digits (the cursor stays at the first byte that is not one).
fn digits(c: &mut Cursor<'_>) -> Option<()> {
    if !c.peek().is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        c.bump();
    }
    Some(())
}

/// A string, from its opening quote to past its closing one, checking its escapes; `None` at
/// the first error (the cursor stays there). The string's content, escapes undecoded.
pub(crate) fn string<'a>(c: &mut Cursor<'a>) -> Option<JsonStr<'a>> {
    if !c.eat(b'"') {
        return None;
    }
    let start = c.pos();
    loop {
        let before = c.pos();
        match c.next_byte()? {
            b'"' => {
                let raw = c.text.get(start..before)?;
                return core::str::from_utf8(raw).ok().map(JsonStr);
            }
            b'\\' => match c.next_byte()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                b'u' => {
                    let unit = hex4(c)?;
                    if (0xDC00..0xE000).contains(&unit) {
                        return None; // a low surrogate without its high one
                    }
                    if (0xD800..0xDC00).contains(&unit) {
                        let low = c.eat(b'\\').then(|| c.eat(b'u')).filter(|&u| u);
                        low?;
                        if !(0xDC00..0xE000).contains(&hex4(c)?) {
                            return None;
                        }
                    }
                }
                _ => return None,
            },
            0..=0x1F => return None,
            _ => {}
        }
    }
}

/// Four hexadecimal digits.
fn hex4(c: &mut Cursor<'_>) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..4 {
        let d = char::from(c.next_byte()?).to_digit(16)?;
        v = (v << 4) | d;
    }
    Some(v)
}

/// A non-negative integer that fits 64 bits, after whitespace: `Some(Ok(n))`; `Some(Err(()))`
/// for another number (negative, fractional, with an exponent, or too large); `None` if no
/// number is next.
pub(crate) fn unsigned(c: &mut Cursor<'_>) -> Option<Result<u64, ()>> {
    c.skip_whitespace();
    let start = c.pos();
    if !matches!(c.peek(), Some(b'-' | b'0'..=b'9')) {
        return None;
    }
    number(c)?;
    let mut n = 0u64;
    for &d in c.since(start) {
        let digit = match d {
            b'0'..=b'9' => u64::from(d.wrapping_sub(b'0')),
            _ => return Some(Err(())),
        };
        match n.checked_mul(10).and_then(|n| n.checked_add(digit)) {
            Some(next) => n = next,
            None => return Some(Err(())),
        }
    }
    Some(Ok(n))
}

/// The content of a JSON string as written in the text (between the quotes, escapes not
/// decoded), already checked. [`JsonStr::chars`] decodes it.
///
/// ```
/// use tinyprop::io::safetensors::SafeTensors;
/// // A tensor named `a"b`, written with an escape.
/// let header = br#"{"a\"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#;
/// let mut file = (header.len() as u64).to_le_bytes().to_vec();
/// file.extend_from_slice(header);
/// file.extend_from_slice(&1.5f32.to_le_bytes());
/// let st = SafeTensors::parse(&file).unwrap();
/// let t = st.tensors().next().unwrap();
/// assert_eq!(t.name().raw(), r#"a\"b"#);
/// assert!(t.name() == "a\"b");
/// assert_eq!(t.name().to_string(), "a\"b");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct JsonStr<'a>(&'a str);

impl<'a> JsonStr<'a> {
    /// The text as written in the file, escapes included.
    pub fn raw(&self) -> &'a str {
        self.0
    }

    /// The text itself, if it has no escapes (borrowed from the file).
    pub fn as_str(&self) -> Option<&'a str> {
        (!self.0.contains('\\')).then_some(self.0)
    }

    /// The characters, escapes decoded.
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a + use<'a> {
        let mut rest = self.0.chars();
        core::iter::from_fn(move || {
            let ch = rest.next()?;
            if ch != '\\' {
                return Some(ch);
            }
            Some(match rest.next()? {
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'u' => {
                    let high = hex_chars(&mut rest)?;
                    let code = if (0xD800..0xDC00).contains(&high) {
                        // Checked when read: a `\uDC00`..`\uDFFF` escape follows.
                        rest.next()?;
                        rest.next()?;
                        let low = hex_chars(&mut rest)?;
                        let hi = high.checked_sub(0xD800)?;
                        let lo = low.checked_sub(0xDC00)?;
                        0x10000u32
                            .checked_add(hi.checked_mul(0x400)?)?
                            .checked_add(lo)?
                    } else {
                        high
                    };
                    char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
                other => other, // `"`, `\`, `/`
            })
        })
    }
}

fn hex_chars(chars: &mut core::str::Chars<'_>) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..4 {
        v = (v << 4) | chars.next()?.to_digit(16)?;
    }
    Some(v)
}

impl PartialEq<str> for JsonStr<'_> {
    fn eq(&self, other: &str) -> bool {
        match self.as_str() {
            Some(s) => s == other,
            None => self.chars().eq(other.chars()),
        }
    }
}

impl PartialEq<&str> for JsonStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq for JsonStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || self.chars().eq(other.chars())
    }
}

impl core::fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use core::fmt::Write;
        self.chars().try_for_each(|ch| f.write_char(ch))
    }
}

/// Calls `put` with the pieces of `s` escaped as a JSON string's content: `"`, `\` and the
/// control characters escaped (these as `\u00XX`), everything else as it is.
pub(crate) fn escape(s: &str, mut put: impl FnMut(&[u8])) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: Option<[u8; 6]> = match b {
            b'"' | b'\\' => Some([b'\\', b, 0, 0, 0, 0]),
            0..=0x1F => {
                let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
                let lo = HEX.get(usize::from(b & 0xF)).copied().unwrap_or(b'0');
                Some([b'\\', b'u', b'0', b'0', hi, lo])
            }
            _ => None,
        };
        if let Some(e) = escaped {
            put(bytes.get(start..i).unwrap_or(&[]));
            let len = if e.get(1) == Some(&b'u') { 6 } else { 2 };
            put(e.get(..len).unwrap_or(&[]));
            start = i.saturating_add(1);
        }
    }
    put(bytes.get(start..).unwrap_or(&[]));
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    #[test]
    fn validates_json() {
        let good = [
            "{}",
            r#"{"a":1}"#,
            r#"{ "a" : [1, -2.5e+3, true, false, null, "x\u00e9\ud83d\ude00"], "b": {} }  "#,
            r#"{"a":[[[]]],"b":{"c":{"d":0}}}"#,
        ];
        for g in good {
            assert_eq!(validate(g), Ok(()), "{g}");
        }
        let bad = [
            ("", 0),
            ("[]", 0),
            (" {}", 0),
            ("{", 1),
            (r#"{"a":}"#, 5),
            (r#"{"a":1,}"#, 7),
            (r#"{"a":01}"#, 6),
            (r#"{"a":1.}"#, 7),
            (r#"{"a":"\ud800"}"#, 12),
            (r#"{"a":"\udc00"}"#, 12),
            ("{\"a\":\"\u{1}\"}", 7),
            (r#"{"a":tru}"#, 5),
            (r#"{"a":1} x"#, 8),
            (r#"{"a":[1}"#, 7),
            (r#"{"a" 1}"#, 5),
            (r#"{1:1}"#, 1),
        ];
        for (b, at) in bad {
            assert_eq!(validate(b), Err(at), "{b}");
        }
        let deep = String::from("{\"a\":") + &"[".repeat(127) + &"]".repeat(127) + "}";
        assert_eq!(validate(&deep), Ok(()));
        let deeper = String::from("{\"a\":") + &"[".repeat(128) + &"]".repeat(128) + "}";
        assert!(validate(&deeper).is_err());
    }

    #[test]
    fn decodes_and_escapes_strings() {
        let text = r#""a\"b\\c\/\n\u0041\ud83d\ude00é""#;
        let s = string(&mut Cursor::new(text.as_bytes())).unwrap();
        assert_eq!(s.to_string(), "a\"b\\c/\nA😀é");
        let mut out = Vec::new();
        escape("a\"b\\c\n\u{1f}é", |b| out.extend_from_slice(b));
        assert_eq!(out, r#"a\"b\\c\u000a\u001fé"#.as_bytes().to_vec());
    }

    #[test]
    fn reads_unsigned_integers() {
        let read = |s: &str| unsigned(&mut Cursor::new(s.as_bytes()));
        assert_eq!(read(" 42,"), Some(Ok(42)));
        assert_eq!(read("18446744073709551615"), Some(Ok(u64::MAX)));
        assert_eq!(read("18446744073709551616"), Some(Err(())));
        assert_eq!(read("-1"), Some(Err(())));
        assert_eq!(read("1.0"), Some(Err(())));
        assert_eq!(read("1e3"), Some(Err(())));
        assert_eq!(read("x"), None);
    }
}
