//! A YAML document as OPA's hasher sees it.
//!
//! For a structured file that is not JSON, OPA's `util.Unmarshal` calls
//! `sigs.k8s.io/yaml.YAMLToJSON`, which decodes with go.yaml.in/yaml/v2 into
//! `interface{}`, converts map keys to strings (`convertToJSONableObject`) and
//! marshals with `encoding/json`; that JSON is decoded again with `UseNumber`
//! and hashed in canonical form. Getting the same bytes needs YAML 1.1 scalar
//! resolution exactly as yaml v2's `resolve` does it (`yes` is `true`, `017`
//! is 15, `1_000` is 1000, `08` is the float 8, `1e400` stays a string, ...),
//! which YAML 1.2 parsers such as serde_yaml do not do. So this module reads
//! the events of libyaml (of which yaml v2 is a port) and re-implements the
//! v2 decoder's composition, merge keys, aliases (with its excessive-aliasing
//! guard), scalar resolution, the key conversion and Go's number formatting.
//!
//! Where the Go result is not deterministic (two distinct keys that convert
//! to the same string: Go's map iteration order decides) or is an error in Go
//! (NaN or infinite numbers, `null` or very large integer keys, unknown
//! anchors), this returns an error instead of a guess. An explicit
//! `!!timestamp` tag is refused too (Go validates it with `time.Parse`).

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use base64::Engine;
use unsafe_libyaml as unsafe_sys;

use crate::data::json::write_string;

/// Deepest nesting accepted (regopt's reader stops `data.yaml` at 128).
const MAX_DEPTH: usize = 512;

const TAG_STR: &str = "tag:yaml.org,2002:str";
const TAG_BOOL: &str = "tag:yaml.org,2002:bool";
const TAG_INT: &str = "tag:yaml.org,2002:int";
const TAG_FLOAT: &str = "tag:yaml.org,2002:float";
const TAG_NULL: &str = "tag:yaml.org,2002:null";
const TAG_TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";
const TAG_BINARY: &str = "tag:yaml.org,2002:binary";
const TAG_MERGE: &str = "tag:yaml.org,2002:merge";

/// Convert a YAML document to the canonical JSON bytes OPA hashes.
pub fn to_canonical(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let nodes = compose(bytes)?;
    let mut out = Vec::with_capacity(bytes.len());
    match nodes.root {
        None => out.extend_from_slice(b"null"),
        Some(root) => {
            let mut d = Decoder {
                nodes: &nodes.nodes,
                decode_count: 1, // the document node
                alias_count: 0,
                alias_depth: 0,
                active: HashSet::new(),
                depth: 0,
            };
            let value = d.unmarshal(root)?;
            write_value(&value, &mut out)?;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// libyaml events
// ---------------------------------------------------------------------------

enum Event {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias(Vec<u8>),
    Scalar {
        anchor: Option<Vec<u8>>,
        tag: Option<String>,
        value: Vec<u8>,
        implicit: bool,
    },
    SequenceStart {
        anchor: Option<Vec<u8>>,
    },
    SequenceEnd,
    MappingStart {
        anchor: Option<Vec<u8>>,
    },
    MappingEnd,
}

/// An initialised libyaml parser reading `'a` bytes.
struct Parser<'a> {
    sys: Box<MaybeUninit<unsafe_sys::yaml_parser_t>>,
    _input: PhantomData<&'a [u8]>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Result<Parser<'a>, String> {
        let mut sys = Box::new(MaybeUninit::<unsafe_sys::yaml_parser_t>::uninit());
        // SAFETY: `sys` is a heap allocation that never moves while the
        // parser lives; it is initialised here and deleted in `drop` only
        // when initialisation succeeded. The input outlives the parser
        // (`'a`).
        unsafe {
            let p = sys.as_mut_ptr();
            if unsafe_sys::yaml_parser_initialize(p).fail {
                return Err("cannot initialise the YAML parser".into());
            }
            unsafe_sys::yaml_parser_set_input_string(p, input.as_ptr(), input.len() as _);
        }
        Ok(Parser {
            sys,
            _input: PhantomData,
        })
    }

    fn next(&mut self) -> Result<Event, String> {
        // SAFETY: the parser is initialised (see `new`); the event is read
        // only after `yaml_parser_parse` succeeded, its pointers are copied
        // out before `yaml_event_delete` frees them.
        unsafe {
            let p = self.sys.as_mut_ptr();
            let mut ev = MaybeUninit::<unsafe_sys::yaml_event_t>::uninit();
            if unsafe_sys::yaml_parser_parse(p, ev.as_mut_ptr()).fail {
                let parser: &unsafe_sys::yaml_parser_t = &*p;
                let problem = if parser.problem.is_null() {
                    "invalid YAML".to_string()
                } else {
                    CStr::from_ptr(parser.problem)
                        .to_string_lossy()
                        .into_owned()
                };
                let mark = parser.problem_mark;
                return Err(format!(
                    "yaml: line {}, column {}: {problem}",
                    mark.line + 1,
                    mark.column + 1
                ));
            }
            let e = &*ev.as_ptr();
            let out = match e.type_ {
                unsafe_sys::YAML_STREAM_START_EVENT => Event::StreamStart,
                unsafe_sys::YAML_STREAM_END_EVENT => Event::StreamEnd,
                unsafe_sys::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
                unsafe_sys::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
                unsafe_sys::YAML_ALIAS_EVENT => {
                    Event::Alias(cbytes(e.data.alias.anchor).unwrap_or_default())
                }
                unsafe_sys::YAML_SCALAR_EVENT => {
                    let s = &e.data.scalar;
                    Event::Scalar {
                        anchor: cbytes(s.anchor),
                        tag: cbytes(s.tag).map(|t| String::from_utf8_lossy(&t).into_owned()),
                        value: std::slice::from_raw_parts(s.value, s.length as usize).to_vec(),
                        implicit: s.plain_implicit,
                    }
                }
                unsafe_sys::YAML_SEQUENCE_START_EVENT => Event::SequenceStart {
                    anchor: cbytes(e.data.sequence_start.anchor),
                },
                unsafe_sys::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
                unsafe_sys::YAML_MAPPING_START_EVENT => Event::MappingStart {
                    anchor: cbytes(e.data.mapping_start.anchor),
                },
                unsafe_sys::YAML_MAPPING_END_EVENT => Event::MappingEnd,
                _ => {
                    unsafe_sys::yaml_event_delete(ev.as_mut_ptr());
                    return Err("unexpected YAML event".into());
                }
            };
            unsafe_sys::yaml_event_delete(ev.as_mut_ptr());
            Ok(out)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: a `Parser` exists only after successful initialisation.
        unsafe { unsafe_sys::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

/// A NUL-terminated libyaml string, copied.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string.
unsafe fn cbytes(p: *const u8) -> Option<Vec<u8>> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p.cast()).to_bytes().to_vec())
    }
}

// ---------------------------------------------------------------------------
// Composition (yaml v2's parser.go): the first document as a node graph
// ---------------------------------------------------------------------------

enum Node {
    Scalar {
        value: Vec<u8>,
        tag: Option<String>,
        implicit: bool,
    },
    Sequence(Vec<usize>),
    /// Keys and values alternating.
    Mapping(Vec<usize>),
    /// An alias: its own index is its identity, the target is the anchored node.
    Alias {
        anchor: Vec<u8>,
        target: usize,
    },
}

struct Composed {
    nodes: Vec<Node>,
    root: Option<usize>,
}

fn compose(bytes: &[u8]) -> Result<Composed, String> {
    // yaml v2's newParser turns empty input into "\n".
    let input: &[u8] = if bytes.is_empty() { b"\n" } else { bytes };
    let mut parser = Parser::new(input)?;
    let mut nodes: Vec<Node> = Vec::new();
    match parser.next()? {
        Event::StreamStart => {}
        _ => return Err("yaml: expected the start of the stream".into()),
    }
    match parser.next()? {
        Event::StreamEnd => return Ok(Composed { nodes, root: None }),
        Event::DocumentStart => {}
        _ => return Err("yaml: expected a document".into()),
    }
    let mut anchors: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut stack: Vec<usize> = Vec::new();
    let root = loop {
        let event = parser.next()?;
        let (idx, opens, anchor) = match event {
            Event::Scalar {
                anchor,
                tag,
                value,
                implicit,
            } => {
                nodes.push(Node::Scalar {
                    value,
                    tag,
                    implicit,
                });
                (nodes.len() - 1, false, anchor)
            }
            Event::Alias(anchor) => {
                let Some(&target) = anchors.get(&anchor) else {
                    return Err(format!(
                        "yaml: unknown anchor '{}' referenced",
                        String::from_utf8_lossy(&anchor)
                    ));
                };
                nodes.push(Node::Alias { anchor, target });
                (nodes.len() - 1, false, None)
            }
            Event::SequenceStart { anchor } => {
                nodes.push(Node::Sequence(Vec::new()));
                (nodes.len() - 1, true, anchor)
            }
            Event::MappingStart { anchor } => {
                nodes.push(Node::Mapping(Vec::new()));
                (nodes.len() - 1, true, anchor)
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let done = stack.pop().ok_or("yaml: unbalanced collection end")?;
                match stack.last() {
                    Some(&parent) => {
                        attach(&mut nodes, parent, done);
                        continue;
                    }
                    None => break done,
                }
            }
            _ => return Err("yaml: unexpected event inside a document".into()),
        };
        // The anchor is registered when the node starts, as yaml v2 does, so
        // an alias inside its own anchored node refers to it.
        if let Some(a) = anchor {
            anchors.insert(a, idx);
        }
        if opens {
            if stack.len() >= MAX_DEPTH {
                return Err(format!("yaml: nested deeper than {MAX_DEPTH} levels"));
            }
            stack.push(idx);
            continue;
        }
        match stack.last() {
            Some(&parent) => attach(&mut nodes, parent, idx),
            None => break idx,
        }
    };
    match parser.next()? {
        Event::DocumentEnd => {}
        _ => return Err("yaml: expected the end of the document".into()),
    }
    Ok(Composed {
        nodes,
        root: Some(root),
    })
}

fn attach(nodes: &mut [Node], parent: usize, child: usize) {
    if let Node::Sequence(c) | Node::Mapping(c) = &mut nodes[parent] {
        c.push(child);
    }
}

// ---------------------------------------------------------------------------
// Decoding into Go values (yaml v2's decode.go with an interface{} target)
// ---------------------------------------------------------------------------

/// A value as yaml v2 decodes it into `interface{}` on a 64-bit machine.
#[derive(Clone, Debug)]
enum GoVal {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(Vec<u8>),
    Seq(Vec<GoVal>),
    Map(GoMap),
}

/// `map[interface{}]interface{}`: keys equal as Go interface values are.
#[derive(Clone, Debug, Default)]
struct GoMap {
    entries: Vec<(GoVal, GoVal)>,
    index: HashMap<KeyId, usize>,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum KeyId {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(u64),
    Str(Vec<u8>),
}

impl GoMap {
    fn insert(&mut self, k: GoVal, v: GoVal) {
        let id = match &k {
            GoVal::Null => Some(KeyId::Null),
            GoVal::Bool(b) => Some(KeyId::Bool(*b)),
            GoVal::Int(i) => Some(KeyId::Int(*i)),
            GoVal::Uint(u) => Some(KeyId::Uint(*u)),
            // NaN never equals itself: every NaN key is a new entry.
            GoVal::Float(f) if f.is_nan() => None,
            // +0 and -0 are equal keys.
            GoVal::Float(f) => Some(KeyId::Float((f + 0.0).to_bits())),
            GoVal::Str(s) => Some(KeyId::Str(s.clone())),
            GoVal::Seq(_) | GoVal::Map(_) => None,
        };
        if let Some(id) = id {
            if let Some(&i) = self.index.get(&id) {
                self.entries[i].1 = v;
                return;
            }
            self.index.insert(id, self.entries.len());
        }
        self.entries.push((k, v));
    }
}

// yaml v2's excessive-aliasing guard.
const ALIAS_RATIO_RANGE_LOW: usize = 400_000;
const ALIAS_RATIO_RANGE_HIGH: usize = 4_000_000;

fn allowed_alias_ratio(decode_count: usize) -> f64 {
    if decode_count <= ALIAS_RATIO_RANGE_LOW {
        0.99
    } else if decode_count >= ALIAS_RATIO_RANGE_HIGH {
        0.10
    } else {
        let range = (ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW) as f64;
        0.99 - 0.89 * ((decode_count - ALIAS_RATIO_RANGE_LOW) as f64 / range)
    }
}

struct Decoder<'n> {
    nodes: &'n [Node],
    decode_count: usize,
    alias_count: usize,
    alias_depth: usize,
    /// Alias nodes being expanded (yaml v2's `d.aliases`).
    active: HashSet<usize>,
    depth: usize,
}

impl Decoder<'_> {
    /// The bookkeeping at the top of yaml v2's `unmarshal`.
    fn count(&mut self) -> Result<(), String> {
        self.decode_count += 1;
        if self.alias_depth > 0 {
            self.alias_count += 1;
        }
        if self.alias_count > 100
            && self.decode_count > 1000
            && self.alias_count as f64 / self.decode_count as f64
                > allowed_alias_ratio(self.decode_count)
        {
            return Err("yaml: document contains excessive aliasing".into());
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("yaml: nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn unmarshal(&mut self, idx: usize) -> Result<GoVal, String> {
        self.count()?;
        self.enter()?;
        let nodes = self.nodes;
        let r = match &nodes[idx] {
            Node::Alias { anchor, target } => {
                self.begin_alias(idx, anchor)?;
                let r = self.unmarshal(*target);
                self.end_alias(idx);
                r
            }
            Node::Scalar {
                value,
                tag,
                implicit,
            } => scalar(value, tag.as_deref(), *implicit),
            Node::Sequence(children) => {
                let mut items = Vec::with_capacity(children.len());
                for &c in children {
                    items.push(self.unmarshal(c)?);
                }
                Ok(GoVal::Seq(items))
            }
            Node::Mapping(children) => {
                let mut m = GoMap::default();
                self.mapping(children, &mut m)?;
                Ok(GoVal::Map(m))
            }
        };
        self.depth -= 1;
        r
    }

    fn begin_alias(&mut self, idx: usize, anchor: &[u8]) -> Result<(), String> {
        if !self.active.insert(idx) {
            return Err(format!(
                "yaml: anchor '{}' value contains itself",
                String::from_utf8_lossy(anchor)
            ));
        }
        self.alias_depth += 1;
        Ok(())
    }

    fn end_alias(&mut self, idx: usize) {
        self.alias_depth -= 1;
        self.active.remove(&idx);
    }

    fn mapping(&mut self, children: &[usize], out: &mut GoMap) -> Result<(), String> {
        for pair in children.chunks(2) {
            let [k, v] = *pair else {
                return Err("yaml: mapping without a value".into());
            };
            if self.is_merge(k) {
                self.merge(v, out)?;
                continue;
            }
            let key = self.unmarshal(k)?;
            if matches!(key, GoVal::Map(_) | GoVal::Seq(_)) {
                return Err("yaml: invalid map key".into());
            }
            let value = self.unmarshal(v)?;
            out.insert(key, value);
        }
        Ok(())
    }

    fn is_merge(&self, idx: usize) -> bool {
        matches!(&self.nodes[idx], Node::Scalar { value, tag, implicit }
            if value == b"<<" && (*implicit || tag.as_deref() == Some(TAG_MERGE)))
    }

    fn is_mapping(&self, idx: usize) -> bool {
        match &self.nodes[idx] {
            Node::Mapping(_) => true,
            Node::Alias { target, .. } => matches!(self.nodes[*target], Node::Mapping(_)),
            _ => false,
        }
    }

    /// yaml v2's `merge`: mappings are decoded into the map being built, so
    /// their keys overwrite those already there; in a sequence, earlier
    /// mappings take precedence (they are merged last).
    fn merge(&mut self, idx: usize, out: &mut GoMap) -> Result<(), String> {
        const WANT_MAP: &str = "yaml: map merge requires map or sequence of maps as the value";
        let nodes = self.nodes;
        match &nodes[idx] {
            Node::Mapping(_) | Node::Alias { .. } if self.is_mapping(idx) => {
                self.merge_into(idx, out)
            }
            Node::Sequence(children) => {
                for &c in children.iter().rev() {
                    if !self.is_mapping(c) {
                        return Err(WANT_MAP.into());
                    }
                    self.merge_into(c, out)?;
                }
                Ok(())
            }
            _ => Err(WANT_MAP.into()),
        }
    }

    /// `d.unmarshal(n, out)` where `out` is the map being built.
    fn merge_into(&mut self, idx: usize, out: &mut GoMap) -> Result<(), String> {
        self.count()?;
        self.enter()?;
        let nodes = self.nodes;
        let r = match &nodes[idx] {
            Node::Alias { anchor, target } => {
                self.begin_alias(idx, anchor)?;
                let r = self.merge_into(*target, out);
                self.end_alias(idx);
                r
            }
            Node::Mapping(children) => self.mapping(children, out),
            _ => Err("yaml: map merge requires a map".into()),
        };
        self.depth -= 1;
        r
    }
}

/// yaml v2's `decoder.scalar` for an `interface{}` target.
fn scalar(value: &[u8], tag: Option<&str>, implicit: bool) -> Result<GoVal, String> {
    if tag.is_none() && !implicit {
        return Ok(GoVal::Str(value.to_vec()));
    }
    let text = String::from_utf8_lossy(value);
    let (rtag, resolved) = resolve(tag.unwrap_or(""), &text)?;
    if rtag == TAG_BINARY {
        let cleaned: Vec<u8> = value
            .iter()
            .copied()
            .filter(|&b| b != b'\n' && b != b'\r')
            .collect();
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        return engine
            .decode(cleaned)
            .map(GoVal::Str)
            .map_err(|_| "yaml: !!binary value contains invalid base64 data".to_string());
    }
    if rtag == TAG_TIMESTAMP {
        // Timestamps decode to their text when the target is interface{}.
        return Ok(GoVal::Str(value.to_vec()));
    }
    Ok(resolved)
}

fn resolvable(tag: &str) -> bool {
    matches!(
        tag,
        "" | TAG_STR | TAG_BOOL | TAG_INT | TAG_FLOAT | TAG_NULL | TAG_TIMESTAMP
    )
}

fn short_tag(tag: &str) -> String {
    match tag.strip_prefix("tag:yaml.org,2002:") {
        Some(s) => format!("!!{s}"),
        None => tag.to_string(),
    }
}

/// yaml v2's `resolve`, including its check of an explicit tag.
fn resolve(tag: &str, input: &str) -> Result<(String, GoVal), String> {
    if !resolvable(tag) {
        return Ok((tag.to_string(), GoVal::Str(input.as_bytes().to_vec())));
    }
    if tag == TAG_TIMESTAMP {
        return Err(format!(
            "yaml: explicit !!timestamp `{input}`: regopt does not reproduce Go's time.Parse"
        ));
    }
    let (rtag, out) = resolve_untagged(tag, input);
    if tag.is_empty() || tag == rtag || tag == TAG_STR {
        return Ok((rtag.to_string(), out));
    }
    if tag == TAG_FLOAT && rtag == TAG_INT {
        if let GoVal::Int(i) = out {
            return Ok((TAG_FLOAT.to_string(), GoVal::Float(i as f64)));
        }
    }
    Err(format!(
        "yaml: cannot decode {} `{input}` as a {}",
        short_tag(rtag),
        short_tag(tag)
    ))
}

fn resolve_untagged(tag: &str, input: &str) -> (&'static str, GoVal) {
    let str_val = || (TAG_STR, GoVal::Str(input.as_bytes().to_vec()));
    let hint = match input.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    };
    if hint == 0 || tag == TAG_STR {
        return str_val();
    }
    match input {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return (TAG_BOOL, GoVal::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return (TAG_BOOL, GoVal::Bool(false))
        }
        "" | "~" | "null" | "Null" | "NULL" => return (TAG_NULL, GoVal::Null),
        ".nan" | ".NaN" | ".NAN" => return (TAG_FLOAT, GoVal::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return (TAG_FLOAT, GoVal::Float(f64::INFINITY))
        }
        "-.inf" | "-.Inf" | "-.INF" => return (TAG_FLOAT, GoVal::Float(f64::NEG_INFINITY)),
        "<<" => return (TAG_MERGE, GoVal::Str(b"<<".to_vec())),
        _ => {}
    }
    match hint {
        b'.' if is_dot_float(input) => {
            if let Some(f) = go_parse_float(input) {
                return (TAG_FLOAT, GoVal::Float(f));
            }
        }
        b'D' | b'S' => {
            // (A timestamp-looking plain scalar decodes to its text, which
            // is also what it becomes when no other rule matches.)
            let plain: String = input.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return (TAG_INT, GoVal::Int(i));
            }
            if let Some(u) = go_parse_uint(&plain) {
                return (TAG_INT, GoVal::Uint(u));
            }
            if is_yaml_style_float(&plain) {
                if let Some(f) = go_parse_float(&plain) {
                    return (TAG_FLOAT, GoVal::Float(f));
                }
            }
            if let Some(bits) = plain.strip_prefix("0b") {
                if let Ok(i) = i64::from_str_radix(bits, 2) {
                    if !bits.starts_with(['+', '-']) {
                        return (TAG_INT, GoVal::Int(i));
                    }
                }
                if let Ok(u) = u64::from_str_radix(bits, 2) {
                    if !bits.starts_with('+') {
                        return (TAG_INT, GoVal::Uint(u));
                    }
                }
            } else if let Some(bits) = plain.strip_prefix("-0b") {
                if !bits.starts_with(['+', '-']) {
                    if let Ok(i) = i64::from_str_radix(&format!("-{bits}"), 2) {
                        return (TAG_INT, GoVal::Int(i));
                    }
                }
            }
        }
        _ => {}
    }
    str_val()
}

/// `^\.[0-9]+([eE][-+]?[0-9]+)?$`: what Go's ParseFloat accepts of a text
/// that starts with a dot (and is not `.inf`/`.nan`).
fn is_dot_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 1;
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return false;
    }
    exponent_rest(b, i)
}

fn exponent_rest(b: &[u8], mut i: usize) -> bool {
    if i == b.len() {
        return true;
    }
    if b[i] != b'e' && b[i] != b'E' {
        return false;
    }
    i += 1;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i > start && i == b.len()
}

/// yaml v2's `yamlStyleFloat`:
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    } else {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    exponent_rest(b, i)
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal texts: `None` where Go
/// reports an error (out of range: the result would be infinite).
fn go_parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Go's `strconv.ParseUint(s, 0, 64)` (underscores already removed): an
/// optional `0x`/`0o`/`0b` prefix, a leading `0` meaning octal.
fn go_parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let (base, digits) = if b.len() > 1 && b[0] == b'0' {
        match b[1] {
            b'x' | b'X' => (16, &s[2..]),
            b'o' | b'O' => (8, &s[2..]),
            b'b' | b'B' => (2, &s[2..]),
            _ => (8, &s[1..]),
        }
    } else {
        (10, s)
    };
    if digits.is_empty() || !digits.bytes().all(|c| (c as char).is_digit(base)) {
        return None;
    }
    u64::from_str_radix(digits, base).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(body)?;
    if neg {
        if u <= 1u64 << 63 {
            Some((u as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

// ---------------------------------------------------------------------------
// JSON (sigs.k8s.io/yaml's key conversion, encoding/json, then canonical)
// ---------------------------------------------------------------------------

fn write_value(v: &GoVal, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        GoVal::Null => out.extend_from_slice(b"null"),
        GoVal::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        GoVal::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        GoVal::Uint(u) => out.extend_from_slice(u.to_string().as_bytes()),
        GoVal::Float(f) => out.extend_from_slice(go_json_float(*f)?.as_bytes()),
        GoVal::Str(s) => write_string(out, &go_lossy(s)),
        GoVal::Seq(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        GoVal::Map(m) => {
            let mut members: Vec<(String, &GoVal)> = Vec::with_capacity(m.entries.len());
            for (k, v) in &m.entries {
                members.push((key_string(k)?, v));
            }
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            if let Some(w) = members.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(format!(
                    "yaml: two different keys both become \"{}\" in JSON; which one OPA keeps depends on Go's map order",
                    w[0].0
                ));
            }
            out.push(b'{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// sigs.k8s.io/yaml's `convertToJSONableObject` for a map key.
fn key_string(k: &GoVal) -> Result<String, String> {
    Ok(match k {
        GoVal::Str(s) => go_lossy(s),
        GoVal::Int(i) => i.to_string(),
        GoVal::Float(f) => go_format_g32(*f),
        GoVal::Bool(b) => b.to_string(),
        GoVal::Null => return Err("yaml: unsupported map key of type: <nil>".into()),
        GoVal::Uint(u) => return Err(format!("yaml: unsupported map key of type: uint64 ({u})")),
        GoVal::Seq(_) | GoVal::Map(_) => return Err("yaml: invalid map key".into()),
    })
}

/// A Go string as `encoding/json` writes it: each byte of invalid UTF-8
/// becomes U+FFFD.
fn go_lossy(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(after.len());
                for _ in 0..bad {
                    out.push('\u{FFFD}');
                }
                rest = &after[bad..];
            }
        }
    }
}

/// Shortest round-trip digits of a finite, non-negative float formatted by
/// Rust's `{:e}`: `(digits, decimal point position)`, as Go's `decimalSlice`
/// (`0.0` gives `("0", 1)`, which formats the same as Go's empty slice).
fn shortest_digits(e_repr: &str) -> (String, i32) {
    let (mantissa, exp) = e_repr.split_once('e').unwrap_or((e_repr, "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Go's `%e` body: `d.ddde±XX` with at least two exponent digits.
fn fmt_e(neg: bool, digits: &str, dp: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    let exp = dp - 1;
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    s
}

/// Go's `%f` with `prec` decimals of a digit string with decimal point `dp`.
fn fmt_f(neg: bool, digits: &str, dp: i32, prec: i32) -> String {
    let d = digits.as_bytes();
    let digit = |i: i32| -> char {
        if i >= 0 && (i as usize) < d.len() {
            d[i as usize] as char
        } else {
            '0'
        }
    };
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if dp > 0 {
        for i in 0..dp {
            s.push(digit(i));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            s.push(digit(dp + i));
        }
    }
    s
}

/// `encoding/json`'s float64 encoding.
fn go_json_float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!("json: unsupported value: {f}"));
    }
    let neg = f.is_sign_negative();
    let abs = f.abs();
    let (digits, dp) = shortest_digits(&format!("{abs:e}"));
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = fmt_e(neg, &digits, dp);
        // encoding/json: "clean up e-09 to e-9"
        let n = s.len();
        if n >= 4
            && s.as_bytes()[n - 4] == b'e'
            && s.as_bytes()[n - 3] == b'-'
            && s.as_bytes()[n - 2] == b'0'
        {
            s.remove(n - 2);
        }
        Ok(s)
    } else {
        let prec = (digits.len() as i32 - dp).max(0);
        Ok(fmt_f(neg, &digits, dp, prec))
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)` with sigs.k8s.io/yaml's
/// spelling of infinities and NaN.
fn go_format_g32(f: f64) -> String {
    let x = f as f32;
    if x.is_nan() {
        return ".nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let neg = x.is_sign_negative();
    let (digits, dp) = shortest_digits(&format!("{:e}", x.abs()));
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        fmt_e(neg, &digits, dp)
    } else {
        let prec = (digits.len() as i32 - dp).max(0);
        fmt_f(neg, &digits, dp, prec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(y: &str) -> String {
        String::from_utf8(to_canonical(y.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn yaml_1_1_scalars_resolve_as_in_go() {
        assert_eq!(
            canon("a: yes\nb: off\nc: ~\nd:\ne: 'yes'\nf: Null\ng: y\n"),
            r#"{"a":true,"b":false,"c":null,"d":null,"e":"yes","f":null,"g":true}"#
        );
        assert_eq!(
            canon("a: 017\nb: 0x1F\nc: 1_000\nd: 08\ne: 0o17\nf: -0b101\ng: +12\n"),
            r#"{"a":15,"b":31,"c":1000,"d":8,"e":15,"f":-5,"g":12}"#
        );
        assert_eq!(
            canon("a: 1.10\nb: 1e3\nc: .5\nd: 12345678901234567890123456789\ne: 1e400\nf: 18446744073709551615\ng: 1e21\nh: 0.0000001\ni: -0.0\n"),
            r#"{"a":1.1,"b":1000,"c":0.5,"d":1.2345678901234568e+28,"e":"1e400","f":18446744073709551615,"g":1e+21,"h":1e-7,"i":-0}"#
        );
        assert_eq!(
            canon("a: 2001-12-14\nb: 1:20\nc: \"1.10\"\nd: !!str 12\ne: !!float 3\n"),
            r#"{"a":"2001-12-14","b":"1:20","c":"1.10","d":"12","e":3}"#
        );
    }

    #[test]
    fn keys_convert_as_sigs_yaml_does() {
        assert_eq!(
            canon("1: a\n1.5: b\ntrue: c\nyes: d\n1000000.0: e\n0.00001: f\n"),
            r#"{"1":"a","1.5":"b","1e+06":"e","1e-05":"f","true":"d"}"#
        );
        assert!(to_canonical(b"~: a\n").is_err());
        assert!(to_canonical(b"1: a\n'1': b\n").is_err(), "ambiguous keys");
        assert!(to_canonical(b"18446744073709551615: a\n").is_err());
    }

    #[test]
    fn merges_aliases_and_errors() {
        // yaml v2 merges into the map being built: merged keys overwrite
        // earlier ones.
        assert_eq!(
            canon("base: &b {a: 1, b: 2}\nm:\n  b: 0\n  <<: *b\n  z: 3\n"),
            r#"{"base":{"a":1,"b":2},"m":{"a":1,"b":2,"z":3}}"#
        );
        // A plain `y` key is the boolean true in YAML 1.1.
        assert_eq!(canon("y: 2\n"), r#"{"true":2}"#);
        assert_eq!(canon("a: &a [1, 2]\nb: *a\n"), r#"{"a":[1,2],"b":[1,2]}"#);
        assert!(to_canonical(b"a: *nope\n").is_err());
        assert!(to_canonical(b"a: .nan\n").is_err());
        assert!(to_canonical(b"a: &x [*x]\n").is_err());
        assert_eq!(canon(""), "null");
        assert_eq!(canon("# only a comment\n"), "null");
        assert_eq!(canon("x\n---\ny\n"), r#""x""#);
        assert_eq!(
            canon("s: \"<&>\\u2028\\x01\"\n"),
            "{\"s\":\"<&>\\u2028\\u0001\"}"
        );
    }

    #[test]
    fn go_float_formatting() {
        for (f, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (1.5, "1.5"),
            (100.0, "100"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (1e-10, "1e-10"),
            (123456789.125, "123456789.125"),
        ] {
            assert_eq!(go_json_float(f).unwrap(), want, "{f}");
        }
        for (f, want) in [
            (1.0, "1"),
            (0.1, "0.1"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(go_format_g32(f), want, "{f}");
        }
    }
}
