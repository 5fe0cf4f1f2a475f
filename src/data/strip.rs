//! Whitespace stripping of JSON text while it is being read, so that a
//! pretty-printed data file is never held in memory at its full size.
//!
//! [`Stripper`] drops JSON whitespace (space, tab, CR, LF) outside strings and
//! copies everything else. It does not validate: its output is then
//! validated and compacted by [`super::json::compact_in_place`]. It never
//! changes the token sequence, so the output is valid JSON exactly when the
//! input is, and it compacts to the same bytes: a whitespace run between two
//! bytes that could belong to one token (`1 2`, `tr ue`) is replaced by one
//! space instead of being dropped. Only the *positions* of errors differ, so a
//! reader that strips while reading re-reads the file without stripping when
//! its output fails validation (see `bundle::read`).

use std::io::{self, Read};

/// Streaming state: where the previous chunk ended.
#[derive(Default)]
pub struct Stripper {
    in_string: bool,
    /// Inside a string, just after a backslash.
    escaped: bool,
    /// Outside strings, whitespace was skipped since the last copied byte.
    pending_ws: bool,
    /// The last copied byte could be part of a number or a literal.
    last_word: bool,
}

/// Bytes that can be part of a token other than a string or punctuation (a
/// number, `true`/`false`/`null`, or garbage that validation will reject).
#[inline]
fn is_word(b: u8) -> bool {
    !matches!(b, b'{' | b'}' | b'[' | b']' | b':' | b',' | b'"')
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Stripper {
    /// Appends the stripped form of `chunk`, the next piece of the input, to
    /// `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        let n = chunk.len();
        while i < n {
            if self.in_string {
                if self.escaped {
                    out.push(chunk[i]);
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                    None => {
                        out.extend_from_slice(&chunk[i..]);
                        return;
                    }
                    Some(p) => {
                        let j = i + p;
                        out.extend_from_slice(&chunk[i..=j]);
                        if chunk[j] == b'"' {
                            self.in_string = false;
                            self.last_word = false;
                        } else {
                            self.escaped = true;
                        }
                        i = j + 1;
                    }
                }
                continue;
            }
            // Outside strings: skip a whitespace run, then copy up to the
            // next whitespace or quote.
            while i < n && is_ws(chunk[i]) {
                self.pending_ws = true;
                i += 1;
            }
            if i == n {
                return;
            }
            let b = chunk[i];
            if self.pending_ws && self.last_word && is_word(b) {
                out.push(b' ');
            }
            self.pending_ws = false;
            let start = i;
            while i < n && !is_ws(chunk[i]) && chunk[i] != b'"' {
                i += 1;
            }
            if i > start {
                out.extend_from_slice(&chunk[start..i]);
                self.last_word = is_word(chunk[i - 1]);
            }
            if i < n && chunk[i] == b'"' {
                out.push(b'"');
                self.in_string = true;
                i += 1;
            }
        }
    }
}

/// Reads `input` to its end through a [`Stripper`], appending to `out`.
/// Returns the number of input bytes read.
pub fn strip_reader<R: Read>(mut input: R, out: &mut Vec<u8>) -> io::Result<u64> {
    let mut s = Stripper::default();
    let mut chunk = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        s.feed(&chunk[..n], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::json::{compact, Limits};

    fn strip_in(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut s = Stripper::default();
        let mut out = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            s.feed(c, &mut out);
        }
        out
    }

    /// Validity and the compact form are those of the unstripped text, at
    /// every chunk size (state carried across chunk boundaries).
    #[test]
    fn stripping_keeps_validity_and_compact_form() {
        let cases: &[&str] = &[
            "{\n  \"a\": [1, 2, 3],\n  \"b\": \"x y\\\" \\\\ z\"\n}\n",
            "  [ true , false , null , -1.5e+3 , \"\\u00e9 \" ]  ",
            "[1 2]",
            "[tr ue]",
            "[\"a\" \"b\"]",
            "{\"a\" : 1 \"b\": 2}",
            "1 2",
            "\"unterminated",
            "\"x\\",
            "\"a\nb\"",
            "\t\r\n",
            "",
            "\u{feff}{}",
            "{\"k\": \"\\\\\"} ",
            "[1,\n]",
            "[- 1]",
            "[1 .5]",
            "[\"\\ \"]",
        ];
        for case in cases {
            let mut want = Vec::new();
            let want = compact(case.as_bytes(), &Limits::default(), &mut want).map(|()| want);
            for chunk in [1, 2, 3, 5, 64] {
                let stripped = strip_in(case.as_bytes(), chunk);
                let mut got = Vec::new();
                let got = compact(&stripped, &Limits::default(), &mut got).map(|()| got);
                assert_eq!(
                    want.is_ok(),
                    got.is_ok(),
                    "{case:?} chunk {chunk}: stripped {:?}",
                    String::from_utf8_lossy(&stripped)
                );
                if let (Ok(w), Ok(g)) = (&want, &got) {
                    assert_eq!(w, g, "{case:?} chunk {chunk}");
                }
            }
        }
    }

    #[test]
    fn pretty_text_is_stripped_to_compact_text() {
        let pretty = b"{\n  \"rules\": {\n    \"r1\": {\"id\": \"r 1\", \"n\": 12345678901234567890}\n  }\n}\n";
        assert_eq!(
            strip_in(pretty, 7),
            b"{\"rules\":{\"r1\":{\"id\":\"r 1\",\"n\":12345678901234567890}}}".to_vec()
        );
        let mut out = Vec::new();
        let n = strip_reader(&pretty[..], &mut out).unwrap();
        assert_eq!(n, pretty.len() as u64);
        assert_eq!(out, strip_in(pretty, 1));
    }
}
