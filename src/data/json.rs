//! TEMPORARY stub of the JSON compactor/navigator (replaced by the real module).
#![allow(dead_code, missing_docs)]
use std::borrow::Cow;

pub const DEFAULT_MAX_DEPTH: usize = 1000;
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_depth: usize,
}
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonErrorKind {
    #[error("invalid json")]
    Invalid,
    #[error("nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
}
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line} column {column}: {kind}")]
pub struct JsonError {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
    pub kind: JsonErrorKind,
}

pub fn compact(input: &[u8], limits: &Limits, out: &mut Vec<u8>) -> Result<(), JsonError> {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for &b in input {
        if in_str {
            if esc {
                esc = false
            } else if b == b'\\' {
                esc = true
            } else if b == b'"' {
                in_str = false
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'[' | b'{' => {
                    depth += 1;
                    max = max.max(depth)
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    if max > limits.max_depth {
        return Err(JsonError {
            offset: 0,
            line: 1,
            column: 1,
            kind: JsonErrorKind::TooDeep {
                limit: limits.max_depth,
            },
        });
    }
    let v: serde_json::Value = serde_json::from_slice(input).map_err(|e| JsonError {
        offset: 0,
        line: e.line(),
        column: e.column(),
        kind: JsonErrorKind::Invalid,
    })?;
    out.extend_from_slice(serde_json::to_string(&v).unwrap().as_bytes());
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawValue<'a> {
    bytes: &'a [u8],
}

fn end_of(b: &[u8], mut i: usize) -> usize {
    let (mut depth, mut in_str, mut esc) = (0i64, false, false);
    let start = i;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if esc {
                esc = false
            } else if c == b'\\' {
                esc = true
            } else if c == b'"' {
                in_str = false;
                if depth == 0 {
                    return i + 1;
                }
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    if depth == 0 {
                        return i;
                    }
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                b',' | b':' if depth == 0 => return i,
                _ => {}
            }
        }
        i += 1;
    }
    let _ = start;
    i
}

impl<'a> RawValue<'a> {
    pub fn new_unchecked(bytes: &'a [u8]) -> Self {
        RawValue { bytes }
    }
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn kind(&self) -> Kind {
        match self.bytes[0] {
            b'n' => Kind::Null,
            b't' | b'f' => Kind::Bool,
            b'"' => Kind::String,
            b'[' => Kind::Array,
            b'{' => Kind::Object,
            _ => Kind::Number,
        }
    }
    pub fn get(&self, key: &str) -> Option<RawValue<'a>> {
        self.members().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn members(&self) -> Members<'a> {
        Members {
            b: self.bytes,
            i: if self.kind() == Kind::Object {
                1
            } else {
                self.bytes.len()
            },
        }
    }
    pub fn elements(&self) -> Elements<'a> {
        Elements {
            b: self.bytes,
            i: if self.kind() == Kind::Array {
                1
            } else {
                self.bytes.len()
            },
        }
    }
    pub fn len(&self) -> usize {
        match self.kind() {
            Kind::Object => self.members().count(),
            Kind::Array => self.elements().count(),
            _ => 0,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        if self.kind() == Kind::String {
            Some(decode_string(&self.bytes[1..self.bytes.len() - 1]))
        } else {
            None
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self.bytes {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }
    pub fn as_number_text(&self) -> Option<&'a str> {
        if self.kind() == Kind::Number {
            std::str::from_utf8(self.bytes).ok()
        } else {
            None
        }
    }
}
pub struct Members<'a> {
    b: &'a [u8],
    i: usize,
}
impl<'a> Iterator for Members<'a> {
    type Item = (Cow<'a, str>, RawValue<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        if self.i >= b.len() || b[self.i] == b'}' {
            return None;
        }
        let ks = self.i;
        let ke = end_of(b, ks);
        let vs = ke + 1;
        let ve = end_of(b, vs);
        self.i = if ve < b.len() && b[ve] == b',' {
            ve + 1
        } else {
            b.len()
        };
        Some((
            decode_string(&b[ks + 1..ke - 1]),
            RawValue { bytes: &b[vs..ve] },
        ))
    }
}
pub struct Elements<'a> {
    b: &'a [u8],
    i: usize,
}
impl<'a> Iterator for Elements<'a> {
    type Item = RawValue<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        if self.i >= b.len() || b[self.i] == b']' {
            return None;
        }
        let vs = self.i;
        let ve = end_of(b, vs);
        self.i = if ve < b.len() && b[ve] == b',' {
            ve + 1
        } else {
            b.len()
        };
        Some(RawValue { bytes: &b[vs..ve] })
    }
}
pub fn decode_string(inner: &[u8]) -> Cow<'_, str> {
    let mut s = Vec::with_capacity(inner.len() + 2);
    s.push(b'"');
    s.extend_from_slice(inner);
    s.push(b'"');
    Cow::Owned(serde_json::from_slice::<String>(&s).unwrap_or_default())
}
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(serde_json::to_string(s).unwrap().as_bytes())
}
