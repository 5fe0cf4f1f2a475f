//! Strict JSON for bundle data files: validation and compaction that OPA (Go's
//! `encoding/json` with `UseNumber`) reads identically, lazy navigation over the
//! compact form, Go-compatible string encoding, canonical (sorted-key)
//! serialization for bundle hashing, and iterative subtree walking.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use memchr::memchr;
use thiserror::Error;

/// Default nesting limit for [`compact`]. Go's `encoding/json` scanner refuses
/// nesting deeper than 10000; data files never legitimately get near 1000.
pub const DEFAULT_MAX_DEPTH: usize = 1000;

/// Resource limits applied by [`compact`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of simultaneously open arrays/objects; the outermost
    /// container is depth 1.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// Why and where [`compact`] rejected its input.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("line {line} column {column}: {kind}")]
pub struct JsonError {
    /// Byte offset into the input.
    pub offset: usize,
    /// 1-based line number (lines end at `\n`).
    pub line: usize,
    /// 1-based column, counted in bytes.
    pub column: usize,
    pub kind: JsonErrorKind,
}

/// The kinds of malformed input [`compact`] reports.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum JsonErrorKind {
    #[error("unexpected end of input")]
    UnexpectedEof,
    #[error("{}", describe_byte(*.0))]
    UnexpectedByte(u8),
    #[error("invalid number")]
    InvalidNumber,
    #[error("invalid escape sequence in string")]
    InvalidEscape,
    #[error("control character in string")]
    ControlCharacterInString,
    #[error("invalid UTF-8 in string")]
    InvalidUtf8,
    #[error("nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("unexpected data after the top-level value")]
    TrailingData,
    #[error("byte order mark at start of input")]
    ByteOrderMark,
    #[error("empty input")]
    Empty,
    #[error("object keys longer than 4 GiB in all are not supported")]
    KeyTooLong,
}

fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("unexpected character '{}'", b as char)
    } else {
        format!("unexpected byte 0x{b:02x}")
    }
}

// ---------------------------------------------------------------------------
// Validation and compaction
// ---------------------------------------------------------------------------

/// Objects with at most this many members are checked for duplicate keys by
/// comparing key hashes pairwise; larger ones by sorting them.
const SMALL_OBJECT: usize = 32;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An error before line/column are known; those are computed only on failure
/// so the hot path never tracks newlines.
struct RawErr {
    offset: usize,
    kind: JsonErrorKind,
}

impl RawErr {
    #[cold]
    fn new(offset: usize, kind: JsonErrorKind) -> Self {
        RawErr { offset, kind }
    }

    #[cold]
    fn locate(self, input: &[u8]) -> JsonError {
        let before = &input[..self.offset.min(input.len())];
        let newlines = memchr::memchr_iter(b'\n', before).count();
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |p| p + 1);
        self.at(newlines, line_start)
    }

    /// The error, given how many newlines precede it and where its line
    /// starts.
    fn at(self, newlines: usize, line_start: usize) -> JsonError {
        JsonError {
            offset: self.offset,
            line: newlines + 1,
            column: self.offset - line_start + 1,
            kind: self.kind,
        }
    }
}

#[cold]
fn eof(b: &[u8]) -> RawErr {
    RawErr::new(b.len(), JsonErrorKind::UnexpectedEof)
}

#[cold]
fn unexpected(offset: usize, byte: u8) -> RawErr {
    RawErr::new(offset, JsonErrorKind::UnexpectedByte(byte))
}

/// Validates `input` as exactly one JSON value, as strictly as Go's
/// `encoding/json`, and appends its compact form to `out`.
///
/// Insignificant whitespace is dropped; number and string texts (escapes
/// included) are copied byte-exactly. Of duplicate object keys (compared after
/// decoding escapes) only the last member is kept, at its own position,
/// because that is what Go's map decoding ends up with. On error `out` is left
/// as it was.
///
/// One deliberate difference: invalid UTF-8 inside strings is an error here,
/// whereas Go silently replaces it with U+FFFD; copying it verbatim would
/// make the output mean something only by accident of the reader.
pub fn compact(input: &[u8], limits: &Limits, out: &mut Vec<u8>) -> Result<(), JsonError> {
    let base = out.len();
    match compact_append(input, out, limits.max_depth) {
        Ok(()) => Ok(()),
        Err(e) => {
            out.truncate(base);
            Err(e.locate(input))
        }
    }
}

/// [`compact`] without a second buffer: replaces the JSON text in `buf` by
/// its compact form, so that peak memory is the input alone.
///
/// The result is exactly that of [`compact`] into an empty vector: the same
/// bytes on success, the same error (kind, offset, line and column) on
/// failure. After a failure `buf` keeps its length but its content is
/// unspecified (partly overwritten by compact output).
pub fn compact_in_place(buf: &mut Vec<u8>, limits: &Limits) -> Result<(), JsonError> {
    let mut lines = LineLog::default();
    match compact_over(buf, &mut lines, limits.max_depth) {
        Ok(()) => Ok(()),
        Err(e) => Err(lines.locate(e, buf)),
    }
}

// The two instantiations of the parser, each a function of its own with the
// sink's parts as arguments (measured faster than inlining the parser into
// `compact`, whose error-path locals then compete for registers).

#[inline(never)]
fn compact_append(input: &[u8], out: &mut Vec<u8>, max_depth: usize) -> Result<(), RawErr> {
    compact_inner(&mut Append { input, out }, &mut (), max_depth)
}

#[inline(never)]
fn compact_over(buf: &mut Vec<u8>, lines: &mut LineLog, max_depth: usize) -> Result<(), RawErr> {
    compact_inner(&mut InPlace { buf, written: 0 }, lines, max_depth)
}

/// Where [`compact_inner`] reads its input and writes its output.
///
/// Output is the input with whitespace runs left out, written in input order,
/// so it never gets ahead of the input position: the output of input
/// `..i` is at most `i` bytes long. That is what lets [`InPlace`] write into
/// the buffer it reads.
trait Sink {
    /// The whole input. Bytes at and after the current run start (the `run`
    /// of [`ws`]) are always as they were in the original input.
    fn input(&self) -> &[u8];
    /// Length of the output so far (including any prefix of [`Append`]).
    fn written(&self) -> usize;
    /// Appends `input[from..to]` to the output.
    fn copy(&mut self, from: usize, to: usize);
    /// Hint: at most `n` more output bytes will be written.
    fn reserve(&mut self, n: usize);
    /// The output so far and the whole input.
    fn view(&self) -> (&[u8], &[u8]);
    /// The finished output, once all input is copied.
    fn finish(&mut self) -> &mut Vec<u8>;
}

/// Output appended to a separate vector ([`compact`]).
struct Append<'a> {
    input: &'a [u8],
    out: &'a mut Vec<u8>,
}

impl Sink for Append<'_> {
    #[inline(always)]
    fn input(&self) -> &[u8] {
        self.input
    }

    #[inline(always)]
    fn written(&self) -> usize {
        self.out.len()
    }

    #[inline(always)]
    fn copy(&mut self, from: usize, to: usize) {
        self.out.extend_from_slice(&self.input[from..to]);
    }

    fn reserve(&mut self, n: usize) {
        // The compact form is never longer than the input, so this is the
        // only allocation of `out`.
        self.out.reserve(n);
    }

    fn view(&self) -> (&[u8], &[u8]) {
        (self.out, self.input)
    }

    fn finish(&mut self) -> &mut Vec<u8> {
        self.out
    }
}

/// Output written over the input's own buffer ([`compact_in_place`]):
/// `buf[..written]` is output, `buf[written..]` still the original input.
struct InPlace<'a> {
    buf: &'a mut Vec<u8>,
    written: usize,
}

impl Sink for InPlace<'_> {
    #[inline(always)]
    fn input(&self) -> &[u8] {
        self.buf
    }

    #[inline(always)]
    fn written(&self) -> usize {
        self.written
    }

    #[inline(always)]
    fn copy(&mut self, from: usize, to: usize) {
        debug_assert!(self.written <= from && from <= to);
        // Nothing to move until the first whitespace has been dropped.
        if from != self.written {
            self.buf.copy_within(from..to, self.written);
        }
        self.written += to - from;
    }

    fn reserve(&mut self, _: usize) {}

    fn view(&self) -> (&[u8], &[u8]) {
        (&self.buf[..self.written], self.buf)
    }

    fn finish(&mut self) -> &mut Vec<u8> {
        self.buf.truncate(self.written);
        self.buf
    }
}

/// Told about the newlines in the whitespace that compaction drops, for
/// error positions after that input is overwritten ([`LineLog`]); `()`
/// ignores them.
trait Newlines {
    /// There is a newline at input offset `at`.
    fn newline(&mut self, at: usize);
    /// Input before `end` has been consumed, and the whitespace in it
    /// reported.
    fn skipped_to(&mut self, end: usize);
}

impl Newlines for () {
    #[inline(always)]
    fn newline(&mut self, _: usize) {}

    #[inline(always)]
    fn skipped_to(&mut self, _: usize) {}
}

/// The newlines of the input before `end` (the current run start), which
/// [`InPlace`] may have overwritten. They are exactly the newlines of the
/// dropped whitespace: the tokens before `end` were accepted, and no token
/// contains a raw newline (strings reject control characters).
#[derive(Default)]
struct LineLog {
    newlines: usize,
    /// Offset just after the last of them (0 if none).
    line_start: usize,
    end: usize,
}

impl Newlines for LineLog {
    #[inline(always)]
    fn newline(&mut self, at: usize) {
        self.newlines += 1;
        self.line_start = at + 1;
    }

    #[inline(always)]
    fn skipped_to(&mut self, end: usize) {
        self.end = end;
    }
}

impl LineLog {
    /// Locates `e` as [`RawErr::locate`] would in the original input, of
    /// which `buf[self.end..]` is intact. Errors are never reported before
    /// the current run start.
    #[cold]
    fn locate(&self, e: RawErr, buf: &[u8]) -> JsonError {
        debug_assert!(self.end <= e.offset);
        let tail = buf
            .get(self.end..e.offset.min(buf.len()))
            .unwrap_or_default();
        let newlines = self.newlines + memchr::memchr_iter(b'\n', tail).count();
        let line_start = memchr::memrchr(b'\n', tail).map_or(self.line_start, |p| self.end + p + 1);
        e.at(newlines, line_start)
    }
}

/// One open array or object.
#[derive(Clone, Copy)]
struct Frame {
    object: bool,
    /// Index into the member list where this object's members begin.
    members_start: usize,
    /// Length of the decoded-key buffer when this object opened.
    keybuf_start: usize,
}

/// One member of an open object, for duplicate-key detection. Its key's
/// [`key_hash`] is kept in a parallel vector so hashes are contiguous.
#[derive(Clone, Copy)]
struct Member {
    /// Output offset of the key's opening quote.
    start: usize,
    /// Length of the decoded key.
    key_len: u32,
    /// When the key has escapes, the offset of its decoded text in the
    /// decoded-key buffer; else `NOT_IN_BUF` (its raw text, at output offset
    /// `start + 1`, is its decoded text). 16 bytes a member: a 100,000-member
    /// object (a rules table keyed by id) costs 1.6 MB while it is open.
    buf_off: u32,
}

const NOT_IN_BUF: u32 = u32::MAX;

impl Member {
    #[inline]
    fn in_buf(&self) -> bool {
        self.buf_off != NOT_IN_BUF
    }

    #[inline]
    fn key_start(&self) -> usize {
        if self.in_buf() {
            self.buf_off as usize
        } else {
            self.start + 1
        }
    }

    #[inline]
    fn key_len(&self) -> usize {
        self.key_len as usize
    }
}

/// The members of a just-closed object, with what is needed to compare keys.
///
/// Unescaped keys are read from the output, not the input, since in place
/// the input is overwritten by then. Keys not copied yet are in `pending`,
/// the input run whose output will start at `output.len()`. A key is never
/// split between the two: runs are only cut at whitespace.
struct ObjectKeys<'x> {
    members: &'x [Member],
    hashes: &'x [u64],
    output: &'x [u8],
    pending: &'x [u8],
    decoded: &'x [u8],
}

impl ObjectKeys<'_> {
    #[inline]
    fn key(&self, k: usize) -> &[u8] {
        let m = &self.members[k];
        let ks = m.key_start();
        let (src, at) = if m.in_buf() {
            (self.decoded, ks)
        } else if ks < self.output.len() {
            (self.output, ks)
        } else {
            (self.pending, ks - self.output.len())
        };
        &src[at..at + m.key_len()]
    }

    #[inline]
    fn same(&self, x: usize, y: usize) -> bool {
        let len = self.members[x].key_len();
        self.hashes[x] == self.hashes[y]
            && len == self.members[y].key_len()
            && (len <= 8 || self.key(x) == self.key(y))
    }

    /// A total order consistent with key equality (not the byte order of
    /// keys; it only serves to group equal keys).
    fn cmp(&self, x: usize, y: usize) -> Ordering {
        let len = self.members[x].key_len();
        self.hashes[x]
            .cmp(&self.hashes[y])
            .then(len.cmp(&self.members[y].key_len()))
            .then_with(|| {
                if len <= 8 {
                    Ordering::Equal
                } else {
                    self.key(x).cmp(self.key(y))
                }
            })
    }
}

/// A cheap 64-bit key fingerprint. Each step `(h ^ word) * odd` (then a
/// rotation) is a bijection of `word`, so keys of at most 8 bytes with equal
/// lengths and equal hashes are equal.
#[inline]
fn key_hash(key: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = 0u64;
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .wrapping_mul(K)
            .rotate_left(23);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(buf))
            .wrapping_mul(K)
            .rotate_left(23);
    }
    h
}

/// Reusable buffers for duplicate detection.
#[derive(Default)]
struct Scratch {
    hashes: Vec<u64>,
    order: Vec<usize>,
}

/// Records, for every member of a just-closed object that a later member with
/// the same key supersedes, the output range to delete: from its key to the
/// start of the next member (the last member is never superseded, so the
/// range always includes exactly one trailing comma).
///
/// The common case (no two equal hashes) is a vectorizable scan of the
/// contiguous hashes, or a sort of plain integers for wide objects; only
/// objects with a hash collision take the exact, slower path.
fn find_duplicates(obj: &ObjectKeys<'_>, scratch: &mut Scratch, dead: &mut Vec<(usize, usize)>) {
    let (ms, hashes) = (obj.members, obj.hashes);
    let n = ms.len();
    if n < 2 {
        return;
    }
    if n <= SMALL_OBJECT {
        for k in 0..n - 1 {
            let h = hashes[k];
            // A fold rather than `any` so it vectorizes.
            if hashes[k + 1..].iter().fold(false, |acc, &x| acc | (x == h))
                && (k + 1..n).any(|j| obj.same(k, j))
            {
                dead.push((ms[k].start, ms[k + 1].start));
            }
        }
        return;
    }
    scratch.hashes.clear();
    scratch.hashes.extend_from_slice(hashes);
    scratch.hashes.sort_unstable();
    if scratch.hashes.windows(2).all(|w| w[0] != w[1]) {
        return;
    }
    // O(n log n) even for adversarial keys (no hash flooding possible).
    let order = &mut scratch.order;
    order.clear();
    order.extend(0..n);
    order.sort_unstable_by(|&x, &y| obj.cmp(x, y).then(x.cmp(&y)));
    for w in order.windows(2) {
        if obj.same(w[0], w[1]) {
            // Sorted by (key, index): all but the last of a group are dead.
            let k = w[0];
            dead.push((ms[k].start, ms[k + 1].start));
        }
    }
}

/// Deletes the superseded members in one pass at the end. Ranges are nested
/// or disjoint (a superseded value may itself contain superseded members),
/// and output offsets stay valid because nothing is deleted while parsing.
fn remove_ranges(out: &mut Vec<u8>, ranges: &mut [(usize, usize)]) {
    ranges.sort_unstable();
    let mut w = ranges[0].0;
    let mut read = w;
    for &(s, e) in ranges.iter() {
        if s >= read {
            out.copy_within(read..s, w);
            w += s - read;
            read = e;
        } else if e > read {
            read = e;
        }
    }
    let len = out.len();
    out.copy_within(read..len, w);
    w += len - read;
    out.truncate(w);
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Offset of the first non-whitespace byte at or after `i`. Only space, tab,
/// LF and CR are JSON whitespace (Go's `isSpace` agrees). Indentation runs
/// are skipped 8 bytes at a time.
/// Newlines are reported to `nl`.
#[inline(never)]
fn skip_ws_run<N: Newlines>(b: &[u8], mut i: usize, nl: &mut N) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        // Lowest lane that is not a space: exact, as no arithmetic is done.
        let not_space = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])) ^ (LO * b' ' as u64);
        if not_space == 0 {
            i += 8;
            continue;
        }
        i += (not_space.trailing_zeros() / 8) as usize;
        match b[i] {
            b'\n' => {
                nl.newline(i);
                i += 1;
            }
            b'\r' | b'\t' => i += 1,
            _ => return i,
        }
    }
    while let Some(&c @ (b' ' | b'\n' | b'\r' | b'\t')) = b.get(i) {
        if c == b'\n' {
            nl.newline(i);
        }
        i += 1;
    }
    i
}

/// Skips whitespace at `i`. Input is copied to `out` lazily, in runs between
/// whitespace: `b[*run..]` up to the current position is pending, so this
/// flushes it when (and only when) whitespace starts. The output offset of
/// input position `i` is thus `o.written() + (i - *run)`. Newlines in the
/// skipped whitespace are reported to `nl`.
#[inline(always)]
fn ws<S: Sink, N: Newlines>(o: &mut S, nl: &mut N, i: usize, run: &mut usize) -> usize {
    let b = o.input();
    // `next` is only read once `i` is known to be whitespace (most calls
    // return right away).
    let (Some(&c @ (b' ' | b'\n' | b'\r' | b'\t')), next) = (b.get(i), b.get(i + 1)) else {
        return i;
    };
    let next = next.copied();
    // In place this overwrites only input before `i`.
    o.copy(*run, i);
    if c == b'\n' {
        nl.newline(i);
    }
    // After a colon a single space is the common case.
    let j = match next {
        Some(d @ (b' ' | b'\n' | b'\r' | b'\t')) => {
            if d == b'\n' {
                nl.newline(i + 1);
            }
            skip_ws_run(o.input(), i + 2, nl)
        }
        _ => i + 1,
    };
    nl.skipped_to(j);
    *run = j;
    j
}

#[cold]
fn too_deep(offset: usize, limit: usize) -> RawErr {
    RawErr::new(offset, JsonErrorKind::TooDeep { limit })
}

/// The parser shared by [`compact`] and [`compact_in_place`], inlined into
/// `compact_append` and `compact_over`, its only caller per instantiation.
#[inline(always)]
fn compact_inner<S: Sink, N: Newlines>(
    o: &mut S,
    nl: &mut N,
    max_depth: usize,
) -> Result<(), RawErr> {
    let b = o.input();
    // Go's decoder does not skip a UTF-8 BOM: it is an invalid character.
    if b.starts_with(BOM) {
        return Err(RawErr::new(0, JsonErrorKind::ByteOrderMark));
    }
    let mut i = skip_ws_run(b, 0, nl);
    nl.skipped_to(i);
    if i == b.len() {
        return Err(RawErr::new(i, JsonErrorKind::Empty));
    }
    o.reserve(b.len() - i);
    let mut run = i;

    let mut frames: Vec<Frame> = Vec::new();
    let mut members: Vec<Member> = Vec::new();
    let mut hashes: Vec<u64> = Vec::new();
    let mut keybuf: Vec<u8> = Vec::new();
    let mut scratch = Scratch::default();
    let mut dead: Vec<(usize, usize)> = Vec::new();

    // An explicit state machine: `'value` checks one value at `i`, the inner
    // loop then closes containers and moves to the next member/element.
    // Nothing recurses, so depth costs heap (bounded by `max_depth`), never
    // call stack. Values are not copied here; see `ws`. The input is borrowed
    // anew after each `ws`, which may write output (in place: into the input).
    'value: loop {
        let b = o.input();
        let Some(&c) = b.get(i) else {
            return Err(eof(b));
        };
        match c {
            b'{' => {
                if frames.len() >= max_depth {
                    return Err(too_deep(i, max_depth));
                }
                i = ws(o, nl, i + 1, &mut run);
                match o.input().get(i).copied() {
                    Some(b'"') => {
                        frames.push(Frame {
                            object: true,
                            members_start: members.len(),
                            keybuf_start: keybuf.len(),
                        });
                        i = object_key(o, nl, i, &mut run, &mut members, &mut hashes, &mut keybuf)?;
                        continue 'value;
                    }
                    Some(b'}') => i += 1,
                    Some(x) => return Err(unexpected(i, x)),
                    None => return Err(eof(o.input())),
                }
            }
            b'[' => {
                if frames.len() >= max_depth {
                    return Err(too_deep(i, max_depth));
                }
                i = ws(o, nl, i + 1, &mut run);
                if o.input().get(i) == Some(&b']') {
                    i += 1;
                } else {
                    frames.push(Frame {
                        object: false,
                        members_start: 0,
                        keybuf_start: 0,
                    });
                    continue 'value;
                }
            }
            b'"' => i = scan_string(b, i)?.0,
            b'-' | b'0'..=b'9' => i = scan_number(b, i)?,
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            _ => return Err(unexpected(i, c)),
        }

        // A value just ended.
        loop {
            i = ws(o, nl, i, &mut run);
            let b = o.input();
            let Some(&frame) = frames.last() else {
                if i != b.len() {
                    return Err(RawErr::new(i, JsonErrorKind::TrailingData));
                }
                break 'value;
            };
            let Some(&c) = b.get(i) else {
                return Err(eof(b));
            };
            match (frame.object, c) {
                (_, b',') => {
                    i = ws(o, nl, i + 1, &mut run);
                    if frame.object {
                        match o.input().get(i).copied() {
                            Some(b'"') => {
                                i = object_key(
                                    o,
                                    nl,
                                    i,
                                    &mut run,
                                    &mut members,
                                    &mut hashes,
                                    &mut keybuf,
                                )?
                            }
                            Some(x) => return Err(unexpected(i, x)),
                            None => return Err(eof(o.input())),
                        }
                    }
                    continue 'value;
                }
                (true, b'}') => {
                    frames.pop();
                    let (output, input) = o.view();
                    let obj = ObjectKeys {
                        members: &members[frame.members_start..],
                        hashes: &hashes[frame.members_start..],
                        output,
                        pending: &input[run..i],
                        decoded: &keybuf,
                    };
                    find_duplicates(&obj, &mut scratch, &mut dead);
                    members.truncate(frame.members_start);
                    hashes.truncate(frame.members_start);
                    keybuf.truncate(frame.keybuf_start);
                    i += 1;
                }
                (false, b']') => {
                    frames.pop();
                    i += 1;
                }
                _ => return Err(unexpected(i, c)),
            }
        }
    }
    o.copy(run, i);

    let out = o.finish();
    if !dead.is_empty() {
        remove_ranges(out, &mut dead);
    }
    Ok(())
}

/// Checks an object key at `i` (an opening quote) and the following colon,
/// records the member, and returns the offset of the member's value.
#[inline(always)]
fn object_key<S: Sink, N: Newlines>(
    o: &mut S,
    nl: &mut N,
    i: usize,
    run: &mut usize,
    members: &mut Vec<Member>,
    hashes: &mut Vec<u64>,
    keybuf: &mut Vec<u8>,
) -> Result<usize, RawErr> {
    let start = o.written() + (i - *run);
    let b = o.input();
    let (end, escaped) = scan_string(b, i)?;
    let inner = &b[i + 1..end - 1];
    let (member, hash) = if escaped {
        // Go compares map keys after unquoting, so "a" and "\u0061" collide.
        let ks = keybuf.len();
        decode_into(inner, keybuf);
        let too_long = || RawErr::new(i, JsonErrorKind::KeyTooLong);
        let member = Member {
            start,
            key_len: u32::try_from(keybuf.len() - ks).map_err(|_| too_long())?,
            buf_off: u32::try_from(ks)
                .ok()
                .filter(|&o| o != NOT_IN_BUF)
                .ok_or_else(too_long)?,
        };
        (member, key_hash(&keybuf[ks..]))
    } else {
        let member = Member {
            start,
            key_len: u32::try_from(inner.len())
                .map_err(|_| RawErr::new(i, JsonErrorKind::KeyTooLong))?,
            buf_off: NOT_IN_BUF,
        };
        (member, key_hash(inner))
    };
    members.push(member);
    hashes.push(hash);
    let j = ws(o, nl, end, run);
    match o.input().get(j).copied() {
        Some(b':') => Ok(ws(o, nl, j + 1, run)),
        Some(x) => Err(unexpected(j, x)),
        None => Err(eof(o.input())),
    }
}

#[inline]
fn is_short_escape(c: u8) -> bool {
    matches!(c, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't')
}

/// The classic has-zero-byte trick: after `& HI`, the lowest flagged lane is
/// exactly the lowest zero lane of `x`; lanes above it may be false
/// positives (borrows), so only the lowest flag is meaningful.
#[inline(always)]
fn zero_lanes(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x
}

/// Lowest flagged lane (see [`zero_lanes`]) is the first byte of `w` that is
/// `"`, `\\` or below 0x20.
#[inline(always)]
fn string_stop_mask(w: u64) -> u64 {
    let has_ctrl = w.wrapping_sub(LO * 0x20) & !w;
    (zero_lanes(w ^ (LO * b'"' as u64)) | zero_lanes(w ^ (LO * b'\\' as u64)) | has_ctrl) & HI
}

/// Scans the string literal whose opening quote is at `i`; returns the offset
/// just past the closing quote and whether it contains escapes.
///
/// The fast path looks at 8 bytes at a time for `"`, `\\` and control
/// characters, remembers whether any non-ASCII byte went by, and validates
/// UTF-8 with `from_utf8` only then. Any problem defers to the byte-wise slow
/// path, which reports the first error in input order.
#[inline(always)]
fn scan_string(b: &[u8], i: usize) -> Result<(usize, bool), RawErr> {
    let start = i + 1;
    let mut j = start;
    let mut escaped = false;
    let mut high = 0u64;
    loop {
        while let Some(chunk) = b.get(j..j + 8) {
            let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            // May include bytes past the string's end; that only costs a
            // redundant UTF-8 check.
            high |= w;
            let stop = string_stop_mask(w);
            if stop != 0 {
                j += (stop.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
        }
        // `j` is at a stop byte, or fewer than 8 bytes remain.
        let Some(&c) = b.get(j) else {
            return scan_string_slow(b, i);
        };
        match c {
            b'"' => break,
            b'\\' => {
                escaped = true;
                match b.get(j + 1) {
                    Some(&e) if is_short_escape(e) => j += 2,
                    Some(b'u')
                        if b.get(j + 2..j + 6)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        j += 6
                    }
                    _ => return scan_string_slow(b, i),
                }
            }
            0..=0x1f => return scan_string_slow(b, i),
            _ => {
                high |= c as u64;
                j += 1;
            }
        }
    }
    if high & HI != 0 && std::str::from_utf8(&b[start..j]).is_err() {
        return scan_string_slow(b, i);
    }
    Ok((j + 1, escaped))
}

/// Width of the UTF-8 sequence introduced by lead byte `c`, 0 if `c` cannot
/// start one.
fn utf8_width(c: u8) -> usize {
    match c {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

#[cold]
#[inline(never)]
fn scan_string_slow(b: &[u8], i: usize) -> Result<(usize, bool), RawErr> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        let Some(&c) = b.get(j) else {
            return Err(eof(b));
        };
        match c {
            b'"' => return Ok((j + 1, escaped)),
            b'\\' => {
                escaped = true;
                match b.get(j + 1) {
                    None => return Err(eof(b)),
                    Some(&e) if is_short_escape(e) => j += 2,
                    Some(b'u') => {
                        for k in j + 2..j + 6 {
                            match b.get(k) {
                                None => return Err(eof(b)),
                                Some(h) if h.is_ascii_hexdigit() => {}
                                Some(_) => {
                                    return Err(RawErr::new(k, JsonErrorKind::InvalidEscape))
                                }
                            }
                        }
                        j += 6;
                    }
                    Some(_) => return Err(RawErr::new(j + 1, JsonErrorKind::InvalidEscape)),
                }
            }
            0..=0x1f => return Err(RawErr::new(j, JsonErrorKind::ControlCharacterInString)),
            0x20..=0x7f => j += 1,
            _ => {
                let w = utf8_width(c);
                let ok = w != 0
                    && b.get(j..j + w)
                        .is_some_and(|s| std::str::from_utf8(s).is_ok());
                if !ok {
                    return Err(RawErr::new(j, JsonErrorKind::InvalidUtf8));
                }
                j += w;
            }
        }
    }
}

#[inline(always)]
fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Checks RFC 8259 number grammar (the same grammar Go's scanner enforces)
/// starting at `i`; returns the offset just past the number. The text itself
/// is copied verbatim by the caller, since `UseNumber` keeps it verbatim too.
#[inline]
fn scan_number(b: &[u8], mut i: usize) -> Result<usize, RawErr> {
    if b[i] == b'-' {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => {
            i += 1;
            if b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(RawErr::new(i, JsonErrorKind::InvalidNumber));
            }
        }
        Some(b'1'..=b'9') => i = skip_digits(b, i + 1),
        Some(_) => return Err(RawErr::new(i, JsonErrorKind::InvalidNumber)),
        None => return Err(eof(b)),
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        match b.get(i) {
            Some(c) if c.is_ascii_digit() => i = skip_digits(b, i + 1),
            Some(_) => return Err(RawErr::new(i, JsonErrorKind::InvalidNumber)),
            None => return Err(eof(b)),
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        match b.get(i) {
            Some(c) if c.is_ascii_digit() => i = skip_digits(b, i + 1),
            Some(_) => return Err(RawErr::new(i, JsonErrorKind::InvalidNumber)),
            None => return Err(eof(b)),
        }
    }
    Ok(i)
}

#[inline]
fn literal(b: &[u8], i: usize, lit: &'static [u8]) -> Result<usize, RawErr> {
    if b.get(i..i + lit.len()) == Some(lit) {
        return Ok(i + lit.len());
    }
    for (k, &want) in lit.iter().enumerate() {
        match b.get(i + k) {
            None => return Err(eof(b)),
            Some(&got) if got != want => return Err(unexpected(i + k, got)),
            Some(_) => {}
        }
    }
    unreachable!("literal mismatch must have been found")
}

// ---------------------------------------------------------------------------
// String decoding and encoding
// ---------------------------------------------------------------------------

const REPLACEMENT: char = '\u{FFFD}';

fn hex4(s: &[u8], at: usize) -> Option<u32> {
    let h = s.get(at..at + 4)?;
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// Appends the decoded form of string contents `inner` to `dst`, resolving
/// escapes the way Go's `unquote` does: a valid surrogate pair becomes one
/// character, any other surrogate escape becomes U+FFFD (and a following
/// escape is then decoded on its own). Malformed escapes (impossible in
/// validated input) are kept literally rather than panicking.
fn decode_into(inner: &[u8], dst: &mut Vec<u8>) {
    let mut i = 0;
    while i < inner.len() {
        let Some(k) = memchr(b'\\', &inner[i..]) else {
            dst.extend_from_slice(&inner[i..]);
            return;
        };
        dst.extend_from_slice(&inner[i..i + k]);
        i += k;
        let Some(&e) = inner.get(i + 1) else {
            dst.push(b'\\');
            return;
        };
        let short = match e {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0C),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = short {
            dst.push(c);
            i += 2;
            continue;
        }
        if e == b'u' {
            if let Some(cp) = hex4(inner, i + 2) {
                i += 6;
                let ch = if (0xD800..0xDC00).contains(&cp) {
                    let lo = if inner.get(i) == Some(&b'\\') && inner.get(i + 1) == Some(&b'u') {
                        hex4(inner, i + 2)
                    } else {
                        None
                    };
                    match lo {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            i += 6;
                            char::from_u32(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00))
                                .unwrap_or(REPLACEMENT)
                        }
                        _ => REPLACEMENT,
                    }
                } else {
                    // Lone low surrogates also fail from_u32 -> U+FFFD.
                    char::from_u32(cp).unwrap_or(REPLACEMENT)
                };
                let mut buf = [0u8; 4];
                dst.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
        }
        dst.push(b'\\');
        i += 1;
    }
}

/// Decode the contents of a JSON string literal (without quotes) written by
/// [`compact`]. Borrows when there is nothing to decode. Invalid UTF-8
/// (impossible after `compact`) is replaced with U+FFFD, as Go does.
pub fn decode_string(inner: &[u8]) -> Cow<'_, str> {
    if memchr(b'\\', inner).is_none() {
        return match std::str::from_utf8(inner) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(inner),
        };
    }
    let mut buf = Vec::with_capacity(inner.len());
    decode_into(inner, &mut buf);
    match String::from_utf8(buf) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Write a JSON object whose member values are already compact JSON text, in the given order.
pub fn write_object<'a>(out: &mut Vec<u8>, members: impl IntoIterator<Item = (&'a str, &'a [u8])>) {
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, key);
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
}

/// Write `s` as a JSON string literal (with quotes) exactly as Go's
/// `encoding/json` does with `SetEscapeHTML(false)` (Go >= 1.22): `"` and `\`
/// backslash-escaped, `\b \f \n \r \t` as short escapes, other bytes below
/// 0x20 as `\u00xx` (lowercase hex), U+2028/U+2029 as `\u2028`/`\u2029`
/// (Go escapes them for JSONP safety even without HTML escaping), everything
/// else, including `<>&` and DEL, verbatim.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    write_string_bytes(out, s.as_bytes());
}

/// [`write_string`] for bytes known to be UTF-8 (bytes that are not would be
/// copied as they are).
fn write_string_bytes(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    loop {
        // Skip 8 bytes at a time to the next byte that may need escaping:
        // `"`, `\\`, control characters, and 0xE2 (lead byte of U+2028/9).
        while let Some(chunk) = b.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let m = string_stop_mask(w) | (zero_lanes(w ^ (LO * 0xE2)) & HI);
            if m != 0 {
                i += (m.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        let Some(&c) = b.get(i) else {
            break;
        };
        if c >= 0x20 && c != b'"' && c != b'\\' && c != 0xE2 {
            i += 1;
            continue;
        }
        if c == 0xE2 {
            // U+2028 is E2 80 A8, U+2029 is E2 80 A9.
            if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) {
                out.extend_from_slice(&b[start..i]);
                out.extend_from_slice(if b[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
            } else {
                i += 1;
            }
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 0xF) as usize],
            ]),
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------
// Lazy navigation over compact JSON
// ---------------------------------------------------------------------------

/// The JSON type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// The bytes of exactly one compact JSON value (as written by [`compact`]),
/// navigated lazily without building a tree.
///
/// Navigation never panics on bytes that are not compact valid JSON, but the
/// results are then unspecified.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RawValue<'a> {
    bytes: &'a [u8],
}

impl fmt::Debug for RawValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawValue")
            .field(&String::from_utf8_lossy(self.bytes))
            .finish()
    }
}

/// Cheap plausibility check for `RawValue::new_unchecked` debug assertions
/// (a full check would make nested navigation quadratic in debug builds).
fn plausible_value(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => b.len() >= 2,
        (Some(b'"'), Some(b'"')) => b.len() >= 2,
        (Some(b't'), _) => b == b"true",
        (Some(b'f'), _) => b == b"false",
        (Some(b'n'), _) => b == b"null",
        (Some(b'-' | b'0'..=b'9'), Some(l)) => l.is_ascii_digit(),
        _ => false,
    }
}

/// Offset just past the string literal starting at `i`, and whether it has
/// escapes; `None` if unterminated.
#[inline]
fn string_end(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = find_quote_or_backslash(b, j)?;
        if b[j] == b'"' {
            return Some((j + 1, escaped));
        }
        escaped = true;
        j += 2;
    }
}

/// Offset of the first `"` or `\\` at or after `j`. Most strings are short,
/// so 8-byte words beat a `memchr` call here.
#[inline]
fn find_quote_or_backslash(b: &[u8], mut j: usize) -> Option<usize> {
    while let Some(chunk) = b.get(j..j + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let m = (zero_lanes(w ^ (LO * b'"' as u64)) | zero_lanes(w ^ (LO * b'\\' as u64))) & HI;
        if m != 0 {
            return Some(j + (m.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    b.get(j..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|k| j + k)
}

/// Offset just past the array/object starting at `i`.
fn container_end(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                j = string_end(b, j)?.0;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// Offset just past the compact value starting at `i`.
#[inline]
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    let end = match *b.get(i)? {
        b'"' => string_end(b, i)?.0,
        b'{' | b'[' => container_end(b, i)?,
        b't' | b'n' => i + 4,
        b'f' => i + 5,
        _ => {
            let mut j = i + 1;
            while j < b.len() && matches!(b[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                j += 1;
            }
            j
        }
    };
    (end <= b.len()).then_some(end)
}

impl<'a> RawValue<'a> {
    /// Wrap bytes already validated by [`compact`] (no whitespace outside
    /// strings). Only debug builds check (cheaply) that they look like a value.
    pub fn new_unchecked(bytes: &'a [u8]) -> Self {
        debug_assert!(plausible_value(bytes), "not a compact JSON value");
        RawValue { bytes }
    }

    /// The compact JSON text of this value.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The JSON type, from the first byte (empty bytes count as null).
    pub fn kind(&self) -> Kind {
        match self.bytes.first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            _ => Kind::Null,
        }
    }

    /// Object member lookup by decoded key (so an escaped key in the data
    /// matches). `None` if not an object or no such key. Keys in `compact`
    /// output are unique, so the first match is the only one.
    pub fn get(&self, key: &str) -> Option<RawValue<'a>> {
        let mut it = self.members_raw();
        while let Some((k, escaped, v)) = it.next_raw() {
            let hit = if escaped {
                decode_string(k) == key
            } else {
                k == key.as_bytes()
            };
            if hit {
                return Some(v);
            }
        }
        None
    }

    fn members_raw(&self) -> Members<'a> {
        match self.kind() {
            Kind::Object => Members {
                b: self.bytes,
                pos: 1,
            },
            _ => Members { b: &[], pos: 0 },
        }
    }

    /// Iterate object members as (decoded key, value), in document order.
    /// Empty if not an object.
    pub fn members(&self) -> Members<'a> {
        self.members_raw()
    }

    /// Iterate object members as (key exactly as written, without its quotes; value), in
    /// document order. Empty if not an object. Copying the key text keeps its escapes as they
    /// were.
    pub fn members_raw_keys(&self) -> impl Iterator<Item = (&'a [u8], RawValue<'a>)> {
        let mut it = self.members_raw();
        std::iter::from_fn(move || it.next_raw().map(|(k, _, v)| (k, v)))
    }

    /// Iterate array elements. Empty if not an array.
    pub fn elements(&self) -> Elements<'a> {
        match self.kind() {
            Kind::Array => Elements {
                b: self.bytes,
                pos: 1,
            },
            _ => Elements { b: &[], pos: 0 },
        }
    }

    /// Number of members/elements (0 for scalars); O(size).
    pub fn len(&self) -> usize {
        match self.kind() {
            Kind::Object => {
                let mut it = self.members_raw();
                let mut n = 0;
                while it.next_raw().is_some() {
                    n += 1;
                }
                n
            }
            Kind::Array => self.elements().count(),
            _ => 0,
        }
    }

    /// True for empty arrays/objects and for scalars; O(1).
    pub fn is_empty(&self) -> bool {
        match self.kind() {
            Kind::Object | Kind::Array => matches!(self.bytes.get(1), Some(b'}' | b']') | None),
            _ => true,
        }
    }

    /// Decoded string value (`None` if not a string); surrogate pairs are
    /// combined and a lone surrogate decodes to U+FFFD, as in Go.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        match self.bytes {
            [b'"', inner @ .., b'"'] => Some(decode_string(inner)),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.bytes {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    /// Number text as written.
    pub fn as_number_text(&self) -> Option<&'a str> {
        match self.kind() {
            Kind::Number => std::str::from_utf8(self.bytes).ok(),
            _ => None,
        }
    }
}

/// Iterator over an object's members; see [`RawValue::members`].
#[derive(Clone, Debug)]
pub struct Members<'a> {
    b: &'a [u8],
    /// Offset of the next key's opening quote (or of the closing brace).
    pos: usize,
}

impl<'a> Members<'a> {
    /// The next member as (raw key contents, key has escapes, value).
    fn next_raw(&mut self) -> Option<(&'a [u8], bool, RawValue<'a>)> {
        let b = self.b;
        if b.get(self.pos) != Some(&b'"') {
            return None;
        }
        let Some((kend, escaped)) = string_end(b, self.pos) else {
            self.pos = b.len();
            return None;
        };
        let key = &b[self.pos + 1..kend - 1];
        let vstart = kend + 1; // skip ':'
        let Some(vend) = value_end(b, vstart) else {
            self.pos = b.len();
            return None;
        };
        self.pos = if b.get(vend) == Some(&b',') {
            vend + 1
        } else {
            vend
        };
        Some((
            key,
            escaped,
            RawValue {
                bytes: &b[vstart..vend],
            },
        ))
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (Cow<'a, str>, RawValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.next_raw().map(|(k, _, v)| (decode_string(k), v))
    }
}

/// Iterator over an array's elements; see [`RawValue::elements`].
#[derive(Clone, Debug)]
pub struct Elements<'a> {
    b: &'a [u8],
    /// Offset of the next element (or of the closing bracket).
    pos: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = RawValue<'a>;

    fn next(&mut self) -> Option<RawValue<'a>> {
        let b = self.b;
        match b.get(self.pos) {
            None | Some(b']') => return None,
            Some(_) => {}
        }
        let Some(end) = value_end(b, self.pos) else {
            self.pos = b.len();
            return None;
        };
        let v = RawValue {
            bytes: &b[self.pos..end],
        };
        self.pos = if b.get(end) == Some(&b',') {
            end + 1
        } else {
            end
        };
        Some(v)
    }
}

// ---------------------------------------------------------------------------
// Canonical form (bundle hashing)
// ---------------------------------------------------------------------------

/// Write `v` the way OPA's bundle hasher serializes decoded data: object keys
/// sorted by decoded bytes (Go's `sort.Strings`), no whitespace, numbers
/// verbatim (`json.Number`), strings decoded and re-encoded by
/// [`write_string`].
///
/// One forward pass without recursion: values are written in document order
/// and an object whose keys turn out unsorted is rearranged when it closes,
/// by moving its members' finished canonical texts.
pub fn to_canonical(v: RawValue<'_>, out: &mut Vec<u8>) {
    /// A member of an open object: where its decoded key lives and the
    /// output range of its `"key":value` text.
    struct Member {
        key_start: usize,
        key_len: usize,
        in_buf: bool,
        start: usize,
        end: usize,
    }
    struct Frame {
        object: bool,
        /// Output offset just after the opening bracket.
        out_start: usize,
        members_start: usize,
        keybuf_start: usize,
    }
    fn key<'x>(m: &Member, input: &'x [u8], keybuf: &'x [u8]) -> &'x [u8] {
        let src = if m.in_buf { keybuf } else { input };
        &src[m.key_start..m.key_start + m.key_len]
    }

    let b = v.as_bytes();
    let mut frames: Vec<Frame> = Vec::new();
    let mut members: Vec<Member> = Vec::new();
    let mut keybuf: Vec<u8> = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    let mut tmp: Vec<u8> = Vec::new();
    let mut expect_key = false;
    out.reserve(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'{' | b'[' => {
                out.push(c);
                frames.push(Frame {
                    object: c == b'{',
                    out_start: out.len(),
                    members_start: members.len(),
                    keybuf_start: keybuf.len(),
                });
                expect_key = c == b'{';
                i += 1;
            }
            b'}' | b']' => {
                i += 1;
                expect_key = false;
                let Some(f) = frames.pop() else {
                    continue;
                };
                if !f.object {
                    out.push(b']');
                    continue;
                }
                let ms = &mut members[f.members_start..];
                if let Some(last) = ms.last_mut() {
                    last.end = out.len();
                }
                let sorted = ms
                    .windows(2)
                    .all(|w| key(&w[0], b, &keybuf) <= key(&w[1], b, &keybuf));
                if !sorted {
                    order.clear();
                    order.extend(0..ms.len());
                    // Stable, and str order is byte order as in Go.
                    order.sort_by(|&x, &y| key(&ms[x], b, &keybuf).cmp(key(&ms[y], b, &keybuf)));
                    tmp.clear();
                    for (n, &k) in order.iter().enumerate() {
                        if n > 0 {
                            tmp.push(b',');
                        }
                        tmp.extend_from_slice(&out[ms[k].start..ms[k].end]);
                    }
                    out.truncate(f.out_start);
                    out.extend_from_slice(&tmp);
                }
                members.truncate(f.members_start);
                keybuf.truncate(f.keybuf_start);
                out.push(b'}');
            }
            b',' => {
                i += 1;
                if let Some(f) = frames.last() {
                    if f.object {
                        if members.len() > f.members_start {
                            if let Some(last) = members.last_mut() {
                                last.end = out.len();
                            }
                        }
                        expect_key = true;
                    }
                }
                out.push(b',');
            }
            b'"' => {
                let (end, escaped) = string_end(b, i).unwrap_or((b.len() + 1, true));
                let inner = b.get(i + 1..end - 1).unwrap_or_default();
                i = end;
                if expect_key {
                    expect_key = false;
                    let member = if escaped {
                        let ks = keybuf.len();
                        decode_into(inner, &mut keybuf);
                        Member {
                            key_start: ks,
                            key_len: keybuf.len() - ks,
                            in_buf: true,
                            start: out.len(),
                            end: out.len(),
                        }
                    } else {
                        Member {
                            key_start: i - inner.len() - 1,
                            key_len: inner.len(),
                            in_buf: false,
                            start: out.len(),
                            end: out.len(),
                        }
                    };
                    write_string_bytes(out, key(&member, b, &keybuf));
                    out.push(b':');
                    members.push(member);
                    if b.get(i) == Some(&b':') {
                        i += 1;
                    }
                } else if escaped {
                    write_string(out, &decode_string(inner));
                } else {
                    // Without escapes the decoded string is the raw text.
                    write_string_bytes(out, inner);
                }
            }
            _ => {
                // Numbers verbatim, literals as they are.
                let start = i;
                i += 1;
                while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-' | b'a'..=b'z') =
                    b.get(i)
                {
                    i += 1;
                }
                out.extend_from_slice(&b[start..i]);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Walking subtrees
// ---------------------------------------------------------------------------

/// One step of a path from a walked root to a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// Visit every value in `v` in pre-order with its path from `v` (empty for
/// `v` itself). The callback returns whether to descend into the value.
/// Iterative: depth costs heap, not stack.
pub fn walk<'a>(v: RawValue<'a>, f: &mut dyn FnMut(&[PathSeg<'a>], RawValue<'a>) -> bool) {
    enum Children<'a> {
        Object(Members<'a>),
        Array(Elements<'a>, usize),
    }

    fn children(v: RawValue<'_>) -> Option<Children<'_>> {
        match v.kind() {
            Kind::Object => Some(Children::Object(v.members())),
            Kind::Array => Some(Children::Array(v.elements(), 0)),
            _ => None,
        }
    }

    let mut path: Vec<PathSeg<'a>> = Vec::new();
    if !f(&path, v) {
        return;
    }
    let mut stack: Vec<Children<'a>> = children(v).into_iter().collect();
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Children::Object(members) => members.next().map(|(k, c)| (PathSeg::Key(k), c)),
            Children::Array(elements, index) => elements.next().map(|c| {
                *index += 1;
                (PathSeg::Index(*index - 1), c)
            }),
        };
        match next {
            Some((seg, child)) => {
                path.push(seg);
                let descend = f(&path, child);
                match children(child).filter(|_| descend) {
                    // Keep the segment: it names the container now on top.
                    Some(c) => stack.push(c),
                    None => {
                        path.pop();
                    }
                }
            }
            None => {
                stack.pop();
                // The root's iterator has no segment of its own.
                if !stack.is_empty() {
                    path.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn run(input: &str) -> Result<String, JsonError> {
        run_bytes(input.as_bytes())
    }

    /// [`compact`], checked against [`compact_in_place`].
    fn run_bytes(input: &[u8]) -> Result<String, JsonError> {
        let out = compact_both(input, &Limits::default())?;
        Ok(String::from_utf8(out).expect("compact output is UTF-8"))
    }

    fn ok(input: &str) -> String {
        run(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    fn err(input: &str) -> JsonError {
        run(input).expect_err(input)
    }

    fn kind_of(input: &[u8]) -> JsonErrorKind {
        run_bytes(input)
            .expect_err(&String::from_utf8_lossy(input))
            .kind
    }

    fn raw(s: &str) -> RawValue<'_> {
        RawValue::new_unchecked(s.as_bytes())
    }

    fn serde(b: &[u8]) -> Value {
        serde_json::from_slice(b).expect("serde_json parses")
    }

    // ---- compaction round trips ----

    const DOCS: &[&str] = &[
        "null",
        " true ",
        "\n\tfalse\r\n",
        "0",
        "-12.5e+3",
        r#""plain""#,
        "[]",
        "{}",
        "[ ]",
        "{ }",
        r#"{
  "users": [
    {
      "name": "alice",
      "roles": ["admin", "dev"],
      "age": 31,
      "score": -0.5,
      "meta": {}
    },
    {
      "name": "bob",
      "roles": [],
      "age": 1e2,
      "score": 1.10,
      "meta": { "nested": [ [ 1, 2 ], [ ], { "x": null } ] }
    }
  ],
  "flags": { "a": true, "b": false, "c": null },
  "big": 12345678901234567890123456789,
  "tiny": 1E-400,
  "unicode": "héllo wörld ✓ 😀"
}"#,
        "[1,[2,[3,[4,[5,[6]]]]]]",
        "[\n  {\"a\" : 1 , \"b\" :[ true , false ]}\t,\r\n  \"s p a c e s\"\n]",
    ];

    /// Reference compaction for valid input without duplicate keys: drop
    /// whitespace outside strings, byte by byte.
    fn naive_strip(doc: &str) -> String {
        let (mut out, mut in_str, mut esc) = (String::new(), false, false);
        for c in doc.chars() {
            if in_str {
                out.push(c);
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    in_str = false;
                }
            } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
                in_str = c == '"';
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn round_trip_preserves_value() {
        for doc in DOCS {
            let out = ok(doc);
            assert_eq!(serde(doc.as_bytes()), serde(out.as_bytes()), "{doc}");
            assert_eq!(out, naive_strip(doc), "{doc}");
            // Compaction is idempotent.
            assert_eq!(ok(&out), out);
        }
    }

    #[test]
    fn appends_to_out_and_restores_on_error() {
        let mut out = b"prefix:".to_vec();
        compact(b" [ 1 , 2 ] ", &Limits::default(), &mut out).unwrap();
        assert_eq!(out, b"prefix:[1,2]");
        let err = compact(b"[1, 2,]", &Limits::default(), &mut out).unwrap_err();
        assert_eq!(err.kind, JsonErrorKind::UnexpectedByte(b']'));
        assert_eq!(out, b"prefix:[1,2]");
        // Duplicate removal works with a non-empty prefix in `out` as well.
        compact(br#"{"a":1,"a":2}"#, &Limits::default(), &mut out).unwrap();
        assert_eq!(out, br#"prefix:[1,2]{"a":2}"#);
    }

    #[test]
    fn numbers_preserved_byte_exactly() {
        let nums = [
            "0",
            "-0",
            "1",
            "-1",
            "12345678901234567890123456789",
            "1.10",
            "1.0000000000000000000000001",
            "1E2",
            "1e2",
            "1e+2",
            "1E-2",
            "-0.0e-0",
            "1e999999",
            "0.5",
            "-9007199254740993",
        ];
        for n in nums {
            assert_eq!(ok(&format!("  {n}  ")), n);
            assert_eq!(ok(&format!("[ {n} , {n} ]")), format!("[{n},{n}]"));
            assert_eq!(ok(&format!("{{ \"k\" : {n} }}")), format!("{{\"k\":{n}}}"));
        }
    }

    #[test]
    fn strings_preserved_byte_exactly() {
        let strs = [
            r#""\u0041""#,
            r#""\"\\\/\b\f\n\r\t""#,
            r#""\uD83D\uDE00""#,
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\ud800\u0041""#,
            "\"h\u{e9}llo \u{1F600} \u{7f}\"",
            r#""""#,
            r#""<>&""#,
        ];
        for s in strs {
            assert_eq!(ok(&format!(" {s} ")), s);
            assert_eq!(ok(&format!("{{ {s} : {s} }}")), format!("{{{s}:{s}}}"));
        }
    }

    #[test]
    fn string_scanning_at_every_word_offset() {
        // The scanners work on 8-byte words; put the interesting byte at
        // every offset relative to word boundaries and to the input's end.
        for len in 0..40 {
            for pos in 0..len {
                let pad = |c: &str| format!("\"{}{c}{}\"", "a".repeat(pos), "b".repeat(len - pos));
                for special in ["\\n", "\\u00e9", "\\\"", "\u{e9}", "\u{1F600}", "\u{2028}"] {
                    let doc = pad(special);
                    assert_eq!(ok(&doc), doc);
                    assert_eq!(ok(&format!("[{doc},1]")), format!("[{doc},1]"));
                }
                let e = run_bytes(pad("\u{1}").as_bytes()).unwrap_err();
                assert_eq!(
                    (e.kind, e.offset),
                    (JsonErrorKind::ControlCharacterInString, pos + 1)
                );
                let mut bad = pad("").into_bytes();
                bad.insert(pos + 1, 0xC3);
                let e = run_bytes(&bad).unwrap_err();
                assert_eq!((e.kind, e.offset), (JsonErrorKind::InvalidUtf8, pos + 1));
                // Unterminated.
                let doc = pad("");
                let e = err(&doc[..doc.len() - 1]);
                assert_eq!(e.kind, JsonErrorKind::UnexpectedEof);
            }
        }
    }

    // ---- errors ----

    #[test]
    fn invalid_inputs_report_kind_and_offset() {
        use JsonErrorKind::*;
        let cases: &[(&[u8], JsonErrorKind, usize)] = &[
            (b"", Empty, 0),
            (b"  \n\t ", Empty, 5),
            (b"\xEF\xBB\xBF{}", ByteOrderMark, 0),
            (b"\xEF\xBB\xBF", ByteOrderMark, 0),
            (b"[", UnexpectedEof, 1),
            (b"{\"a\"", UnexpectedEof, 4),
            (b"{\"a\":", UnexpectedEof, 5),
            (b"\"abc", UnexpectedEof, 4),
            (b"\"ab\\", UnexpectedEof, 4),
            (b"\"\\u12", UnexpectedEof, 5),
            (b"tru", UnexpectedEof, 3),
            (b"-", UnexpectedEof, 1),
            (b"1.", UnexpectedEof, 2),
            (b"1e+", UnexpectedEof, 3),
            (b"[1,2", UnexpectedEof, 4),
            (b"trux", UnexpectedByte(b'x'), 3),
            (b"nul", UnexpectedEof, 3),
            (b"[1,]", UnexpectedByte(b']'), 3),
            (b"{\"a\":1,}", UnexpectedByte(b'}'), 7),
            (b"{,}", UnexpectedByte(b','), 1),
            (b"{\"a\" 1}", UnexpectedByte(b'1'), 5),
            (b"{\"a\":1 \"b\":2}", UnexpectedByte(b'"'), 7),
            (b"[1 2]", UnexpectedByte(b'2'), 3),
            (b"{1:2}", UnexpectedByte(b'1'), 1),
            (b"[1}", UnexpectedByte(b'}'), 2),
            (b"{\"a\":1]", UnexpectedByte(b']'), 6),
            (b"'a'", UnexpectedByte(b'\''), 0),
            (b"+1", UnexpectedByte(b'+'), 0),
            (b".5", UnexpectedByte(b'.'), 0),
            (b"NaN", UnexpectedByte(b'N'), 0),
            (b"Infinity", UnexpectedByte(b'I'), 0),
            (b"[\xff]", UnexpectedByte(0xff), 1),
            (b"0x10", TrailingData, 1),
            (b"1.5.3", TrailingData, 3),
            (b"01", InvalidNumber, 1),
            (b"-01", InvalidNumber, 2),
            (b"[00]", InvalidNumber, 2),
            (b"-a", InvalidNumber, 1),
            (b"-Infinity", InvalidNumber, 1),
            (b"1.e5", InvalidNumber, 2),
            (b"1.x", InvalidNumber, 2),
            (b"1e", UnexpectedEof, 2),
            (b"1ex", InvalidNumber, 2),
            (b"1e+x", InvalidNumber, 3),
            (b"[1.]", InvalidNumber, 3),
            (b"\"\\x\"", InvalidEscape, 2),
            (b"\"\\'\"", InvalidEscape, 2),
            (b"\"\\u12g4\"", InvalidEscape, 5),
            (b"\"\\U0041\"", InvalidEscape, 2),
            (b"\"a\nb\"", ControlCharacterInString, 2),
            (b"\"a\tb\"", ControlCharacterInString, 2),
            (b"\"\x00\"", ControlCharacterInString, 1),
            (b"\"\x1f\"", ControlCharacterInString, 1),
            (b"\"ab\xff\"", InvalidUtf8, 3),
            (b"\"\xc3\"", InvalidUtf8, 1),
            (b"\"\xed\xa0\x80\"", InvalidUtf8, 1),
            (b"\"\xc0\xaf\"", InvalidUtf8, 1),
            (b"{\"k\xfe\":1}", InvalidUtf8, 3),
            (b"1 2", TrailingData, 2),
            (b"{} {}", TrailingData, 3),
            (b"null x", TrailingData, 5),
            (b"[]]", TrailingData, 2),
        ];
        for (input, kind, offset) in cases {
            let e = run_bytes(input).expect_err(&String::from_utf8_lossy(input));
            assert_eq!(
                (&e.kind, e.offset),
                (kind, *offset),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn first_error_in_input_order_wins() {
        // A control character before a bad escape in the same string.
        let e = run_bytes(b"\"a\x01\\x\"").unwrap_err();
        assert_eq!(
            (e.kind, e.offset),
            (JsonErrorKind::ControlCharacterInString, 2)
        );
        // Invalid UTF-8 before a control character.
        let e = run_bytes(b"\"\xff\x01\"").unwrap_err();
        assert_eq!((e.kind, e.offset), (JsonErrorKind::InvalidUtf8, 1));
        // A control character before end of input.
        let e = run_bytes(b"\"ab\ncd").unwrap_err();
        assert_eq!(
            (e.kind, e.offset),
            (JsonErrorKind::ControlCharacterInString, 3)
        );
    }

    #[test]
    fn error_line_and_column() {
        let e = err("{\n  \"a\": 1,\n  \"b\": 01\n}");
        assert_eq!(e.kind, JsonErrorKind::InvalidNumber);
        assert_eq!((e.line, e.column), (3, 9));
        assert_eq!(e.to_string(), "line 3 column 9: invalid number");

        let e = err("[1,\n2,\n]");
        assert_eq!((e.line, e.column, e.offset), (3, 1, 7));
        assert_eq!(e.to_string(), "line 3 column 1: unexpected character ']'");

        let e = err("");
        assert_eq!((e.line, e.column), (1, 1));
        assert_eq!(e.to_string(), "line 1 column 1: empty input");

        let e = err("{\"a\":\n");
        assert_eq!(
            (e.kind.clone(), e.line, e.column),
            (JsonErrorKind::UnexpectedEof, 2, 1)
        );

        let e = run_bytes(b"[\r\n  \xff]").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(e.to_string(), "line 2 column 3: unexpected byte 0xff");
    }

    #[test]
    fn error_kind_messages() {
        use JsonErrorKind::*;
        let msgs = [
            (UnexpectedEof, "unexpected end of input"),
            (UnexpectedByte(b'x'), "unexpected character 'x'"),
            (UnexpectedByte(0x01), "unexpected byte 0x01"),
            (InvalidNumber, "invalid number"),
            (InvalidEscape, "invalid escape sequence in string"),
            (ControlCharacterInString, "control character in string"),
            (InvalidUtf8, "invalid UTF-8 in string"),
            (TooDeep { limit: 1000 }, "nesting deeper than 1000 levels"),
            (TrailingData, "unexpected data after the top-level value"),
            (ByteOrderMark, "byte order mark at start of input"),
            (Empty, "empty input"),
        ];
        for (kind, msg) in msgs {
            assert_eq!(kind.to_string(), msg);
        }
    }

    #[test]
    fn bom_and_trailing_data() {
        assert_eq!(kind_of(b"\xEF\xBB\xBF[]"), JsonErrorKind::ByteOrderMark);
        // A BOM anywhere else is just a stray byte.
        assert_eq!(
            kind_of(b" \xEF\xBB\xBF[]"),
            JsonErrorKind::UnexpectedByte(0xEF)
        );
        assert_eq!(kind_of(b"[] ,"), JsonErrorKind::TrailingData);
        assert_eq!(kind_of(b"{}\n{}\n"), JsonErrorKind::TrailingData);
        assert_eq!(kind_of(b"[]\x00"), JsonErrorKind::TrailingData);
        // Trailing whitespace is fine.
        assert_eq!(ok("[] \n\t\r\n"), "[]");
    }

    // ---- duplicates ----

    #[test]
    fn duplicate_keys_last_wins_at_last_position() {
        let cases = [
            (r#"{"a":1,"a":2}"#, r#"{"a":2}"#),
            (r#"{"a":1,"b":2,"a":3}"#, r#"{"b":2,"a":3}"#),
            (
                r#"{ "a" : 1 , "b" : 2 , "a" : 3 , "c" : 4 }"#,
                r#"{"b":2,"a":3,"c":4}"#,
            ),
            // Three occurrences.
            (r#"{"a":1,"a":2,"b":0,"a":3}"#, r#"{"b":0,"a":3}"#),
            // Keys compared after decoding escapes.
            (r#"{"a":1,"\u0061":2}"#, r#"{"\u0061":2}"#),
            (r#"{"\u0061":1,"a":2}"#, r#"{"a":2}"#),
            (r#"{"\/":1,"/":2,"x":3}"#, r#"{"/":2,"x":3}"#),
            (r#"{"é":1,"\u00e9":2}"#, r#"{"\u00e9":2}"#),
            (r#"{"😀":1,"\ud83d\ude00":2}"#, r#"{"\ud83d\ude00":2}"#),
            // Lone surrogates decode to U+FFFD, so they all collide (as in Go).
            (r#"{"\ud800":1,"\udbff":2,"�":3}"#, r#"{"�":3}"#),
            // Case and length matter.
            (r#"{"a":1,"A":2,"aa":3}"#, r#"{"a":1,"A":2,"aa":3}"#),
            (r#"{"a\u0000":1,"a":2}"#, r#"{"a\u0000":1,"a":2}"#),
            // Nested objects are deduplicated independently.
            (
                r#"{"a":{"x":1,"x":2},"b":{"x":3}}"#,
                r#"{"a":{"x":2},"b":{"x":3}}"#,
            ),
            // The superseded value is itself an object with duplicates.
            (
                r#"{"a":{"x":1,"x":2,"y":[{"z":1,"z":2}]},"b":0,"a":{"x":3,"x":4}}"#,
                r#"{"b":0,"a":{"x":4}}"#,
            ),
            // Duplicates inside the winning value.
            (
                r#"{"a":0,"a":{"x":1,"y":2,"x":3}}"#,
                r#"{"a":{"y":2,"x":3}}"#,
            ),
            // Duplicates at depth inside arrays.
            (
                r#"[[[{"k":[{"q":1,"q":{"q":2,"q":3}}],"k":[]}]]]"#,
                r#"[[[{"k":[]}]]]"#,
            ),
            (
                r#"[[[{"k":[{"q":1,"q":{"q":2,"q":3}}]}]]]"#,
                r#"[[[{"k":[{"q":{"q":3}}]}]]]"#,
            ),
            // Big superseded values.
            (
                r#"{"a":[1,2,3,{"b":[4,5,{"c":6}]}],"a":"s"}"#,
                r#"{"a":"s"}"#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), want, "{input}");
            // serde_json rejects lone surrogates; elsewhere its (last value
            // wins) reading must agree.
            if let Ok(v) = serde_json::from_str::<Value>(input) {
                assert_eq!(v, serde(want.as_bytes()), "{input}");
            }
        }
    }

    #[test]
    fn duplicate_keys_in_wide_objects() {
        // More members than SMALL_OBJECT exercises the sorting path,
        // including long keys that share their first 8 bytes.
        let mut input = String::from("{");
        let mut want_members = Vec::new();
        for i in 0..40 {
            if i > 0 {
                input.push(',');
            }
            let key = format!("attribute_{:03}", i % 25);
            input.push_str(&format!("\"{key}\": {i}"));
        }
        input.push('}');
        for i in 15..40 {
            want_members.push(format!("\"attribute_{:03}\":{i}", i % 25));
        }
        let want = format!("{{{}}}", want_members.join(","));
        assert_eq!(ok(&input), want);

        // Wide object with an escaped duplicate and short keys.
        let mut input = String::from("{");
        for i in 0..20 {
            input.push_str(&format!("\"k{i}\":{i},"));
        }
        input.push_str(r#""\u006b3":"dup"}"#);
        let out = ok(&input);
        assert!(!out.contains("\"k3\":3"), "{out}");
        assert!(out.ends_with(r#""k19":19,"\u006b3":"dup"}"#), "{out}");
        assert_eq!(raw(&out).len(), 20);
    }

    /// Two different 16-byte keys with equal [`key_hash`] (and length).
    /// Found by inverting the hash: for a chosen first word, the second word
    /// that cancels it is `step(0, w1') ^ step(0, w1) ^ w2`; this is the first
    /// digit-string `w1'` for which that word is printable.
    fn hash_collision() -> (String, String) {
        let (a, b) = ("collide_abcdefgh", "15120001Up%ib&kk");
        assert_eq!(key_hash(a.as_bytes()), key_hash(b.as_bytes()));
        (a.to_string(), b.to_string())
    }

    #[test]
    fn hash_collisions_are_not_duplicates() {
        let (a, b) = hash_collision();
        let (ja, jb) = (
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap(),
        );
        // Small object: pairwise path.
        let doc = format!("{{{ja}:1,{jb}:2}}");
        assert_eq!(ok(&doc), doc);
        let doc = format!("{{{ja}:1,{jb}:2,{ja}:3}}");
        assert_eq!(ok(&doc), format!("{{{jb}:2,{ja}:3}}"));
        // Wide object: sorting path.
        let filler: Vec<String> = (0..40).map(|i| format!("\"f{i}\":{i}")).collect();
        let doc = format!("{{{ja}:1,{},{jb}:2}}", filler.join(","));
        assert_eq!(ok(&doc), doc);
        let doc = format!("{{{ja}:1,{},{jb}:2,{ja}:3}}", filler.join(","));
        assert_eq!(ok(&doc), format!("{{{},{jb}:2,{ja}:3}}", filler.join(",")));
    }

    #[test]
    fn superseded_values_are_still_validated() {
        assert_eq!(
            kind_of(br#"{"a":[1,01],"a":2}"#),
            JsonErrorKind::InvalidNumber
        );
        assert_eq!(
            kind_of(b"{\"a\":\"\xff\",\"a\":2}"),
            JsonErrorKind::InvalidUtf8
        );
    }

    /// A generated document for model-based duplicate-key tests.
    enum Gen {
        Leaf(&'static str),
        Arr(Vec<Gen>),
        /// Members as (raw key text, decoded key, value).
        Obj(Vec<(String, String, Gen)>),
    }

    /// Keys whose raw forms differ but decode equal, to provoke duplicates.
    const KEY_POOL: &[(&str, &str)] = &[
        ("a", "a"),
        ("\\u0061", "a"),
        ("b", "b"),
        ("/", "/"),
        ("\\/", "/"),
        ("attribute_one", "attribute_one"),
        ("attribute_\\u006fne", "attribute_one"),
        ("attribute_onf", "attribute_onf"),
        ("\\ud800", "\u{fffd}"),
        ("\\uDBFF", "\u{fffd}"),
        ("\u{fffd}", "\u{fffd}"),
        ("\\ud83d\\ude00", "\u{1f600}"),
        ("\u{1f600}", "\u{1f600}"),
        ("", ""),
    ];

    const LEAVES: &[&str] = &[
        "1",
        "-0.5e3",
        "\"s\"",
        "\"\\u0041\"",
        "true",
        "null",
        "[]",
        "{}",
    ];

    fn gen(rng: &mut Rng, depth: usize) -> Gen {
        if depth == 0 || rng.below(3) == 0 {
            return Gen::Leaf(LEAVES[rng.below(LEAVES.len())]);
        }
        if rng.below(3) == 0 {
            return Gen::Arr((0..rng.below(4)).map(|_| gen(rng, depth - 1)).collect());
        }
        // Mostly small objects, sometimes wide ones beyond SMALL_OBJECT.
        let wide = depth >= 3 && rng.below(4) == 0;
        let n = if wide {
            20 + rng.below(50)
        } else {
            rng.below(6)
        };
        let members = (0..n)
            .map(|_| {
                let (raw, decoded) = if wide && rng.below(4) != 0 {
                    let k = format!("wide_key_{}", rng.below(80));
                    (k.clone(), k)
                } else {
                    let (r, d) = KEY_POOL[rng.below(KEY_POOL.len())];
                    (r.to_string(), d.to_string())
                };
                (raw, decoded, gen(rng, depth - 1))
            })
            .collect();
        Gen::Obj(members)
    }

    fn render_input(g: &Gen, rng: &mut Rng, out: &mut String) {
        const WS: &[&str] = &["", "", " ", "\n  ", "\t", "\r\n", "        "];
        let ws = |out: &mut String, rng: &mut Rng| out.push_str(WS[rng.below(WS.len())]);
        match g {
            Gen::Leaf(s) => out.push_str(s),
            Gen::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(out, rng);
                    render_input(item, rng, out);
                    ws(out, rng);
                }
                out.push(']');
            }
            Gen::Obj(members) => {
                out.push('{');
                for (i, (raw, _, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(out, rng);
                    out.push_str(&format!("\"{raw}\""));
                    ws(out, rng);
                    out.push(':');
                    ws(out, rng);
                    render_input(v, rng, out);
                    ws(out, rng);
                }
                out.push('}');
            }
        }
    }

    /// The model: a member survives iff no later member has the same
    /// decoded key.
    fn render_expected(g: &Gen, out: &mut String) {
        match g {
            Gen::Leaf(s) => out.push_str(s),
            Gen::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    render_expected(item, out);
                }
                out.push(']');
            }
            Gen::Obj(members) => {
                out.push('{');
                let mut first = true;
                for (k, (raw, decoded, v)) in members.iter().enumerate() {
                    if members[k + 1..].iter().any(|(_, d, _)| d == decoded) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&format!("\"{raw}\":"));
                    render_expected(v, out);
                }
                out.push('}');
            }
        }
    }

    #[test]
    fn duplicate_keys_match_model() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let mut dup_docs = 0;
        for _ in 0..1500 {
            let g = gen(&mut rng, 4);
            let mut input = String::new();
            render_input(&g, &mut rng, &mut input);
            let mut want = String::new();
            render_expected(&g, &mut want);
            let got = ok(&input);
            assert_eq!(got, want, "input: {input}");
            if want.len() < naive_strip(&input).len() {
                dup_docs += 1;
            }
        }
        assert!(dup_docs > 400, "only {dup_docs} documents had duplicates");
    }

    // ---- depth ----

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn depth_limit() {
        assert_eq!(ok(&nested(1000)), nested(1000));
        let e = err(&nested(1001));
        assert_eq!(e.kind, JsonErrorKind::TooDeep { limit: 1000 });
        assert_eq!(e.offset, 1000);
        let objs = format!("{}1{}", "{\"a\":".repeat(1001), "}".repeat(1001));
        assert_eq!(err(&objs).kind, JsonErrorKind::TooDeep { limit: 1000 });
        let objs = format!("{}1{}", "{\"a\":".repeat(1000), "}".repeat(1000));
        assert_eq!(ok(&objs), objs);

        let mut out = Vec::new();
        let zero = Limits { max_depth: 0 };
        assert!(compact(b"1", &zero, &mut out).is_ok());
        assert_eq!(
            compact(b"[]", &zero, &mut out).unwrap_err().kind,
            JsonErrorKind::TooDeep { limit: 0 }
        );
    }

    #[test]
    fn ten_million_deep_is_an_error_not_a_crash() {
        let input = vec![b'['; 10_000_000];
        let mut out = Vec::new();
        let e = compact(&input, &Limits::default(), &mut out).unwrap_err();
        assert_eq!(e.kind, JsonErrorKind::TooDeep { limit: 1000 });
        assert!(out.is_empty());
    }

    #[test]
    fn deep_nesting_uses_no_call_stack() {
        // With the limit raised, a million levels parse on the test thread.
        let depth = 1_000_000;
        let input = format!("{}{}{}", "[{\"k\":".repeat(depth), "0", "}]".repeat(depth));
        let mut out = Vec::new();
        let limits = Limits {
            max_depth: 2 * depth,
        };
        compact(input.as_bytes(), &limits, &mut out).unwrap();
        assert_eq!(out, input.as_bytes());
    }

    // ---- differential check against serde_json ----

    /// Small deterministic PRNG (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn mutations_agree_with_serde_json() {
        const ALPHABET: &[u8] = b"{}[]:,\" \n\t0123-+.eE\\/untrfalsex\x01\xc3\xa9\xff";
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0;
        for round in 0..20_000 {
            let seed = DOCS[round % DOCS.len()].as_bytes();
            let mut doc = seed.to_vec();
            for _ in 0..1 + rng.below(3) {
                let pos = rng.below(doc.len() + 1);
                let byte = ALPHABET[rng.below(ALPHABET.len())];
                match rng.below(3) {
                    0 => doc.insert(pos, byte),
                    1 if pos < doc.len() => {
                        doc.remove(pos);
                    }
                    _ if pos < doc.len() => doc[pos] = byte,
                    _ => doc.push(byte),
                }
            }
            let ours = run_bytes(&doc);
            let theirs = serde_json::from_slice::<Value>(&doc);
            match (&ours, &theirs) {
                (Ok(out), Ok(v)) => {
                    accepted += 1;
                    assert_eq!(
                        &serde(out.as_bytes()),
                        v,
                        "{:?}",
                        String::from_utf8_lossy(&doc)
                    );
                    assert_eq!(run(out).as_ref(), Ok(out));
                }
                (Err(_), Err(_)) => {}
                _ => panic!(
                    "disagreement on {:?}: ours {:?}, serde_json {:?}",
                    String::from_utf8_lossy(&doc),
                    ours,
                    theirs.map(|_| ())
                ),
            }
        }
        assert!(
            accepted > 1000,
            "only {accepted} mutated documents were valid"
        );
    }

    // ---- compact_in_place ----

    /// `compact_in_place` on a copy of `input`; checks that a failure keeps
    /// the buffer's length.
    fn in_place(input: &[u8], limits: &Limits) -> Result<Vec<u8>, JsonError> {
        let mut buf = input.to_vec();
        match compact_in_place(&mut buf, limits) {
            Ok(()) => Ok(buf),
            Err(e) => {
                assert_eq!(buf.len(), input.len(), "length changed on error");
                Err(e)
            }
        }
    }

    /// Both compactors on `input`; they must agree exactly, errors included
    /// (kind, offset, line, column).
    fn compact_both(input: &[u8], limits: &Limits) -> Result<Vec<u8>, JsonError> {
        let mut out = Vec::new();
        let want = compact(input, limits, &mut out).map(|()| out);
        let got = in_place(input, limits);
        assert_eq!(got, want, "input {:?}", String::from_utf8_lossy(input));
        want
    }

    /// Random JSON text for the differential test: valid unless corrupted
    /// later, in one of several whitespace styles, with duplicate keys
    /// (equal raw or equal only after decoding) at every depth.
    struct DocGen<'r> {
        rng: &'r mut Rng,
        out: Vec<u8>,
        /// 0: minified, 1: pretty with `nl` and `indent`, 2: random
        /// whitespace everywhere.
        style: usize,
        nl: &'static [u8],
        indent: &'static [u8],
    }

    impl DocGen<'_> {
        fn ws(&mut self) {
            if self.style != 2 {
                return;
            }
            const WS: &[u8] = b" \n\r\t";
            match self.rng.below(8) {
                0..=2 => {}
                3 => self.out.push(b' '),
                4 => self.out.extend_from_slice(b"\r\n\t"),
                5 => {
                    self.out.push(b'\n');
                    let n = self.rng.below(20);
                    self.out.extend(std::iter::repeat_n(b' ', n));
                }
                6 => {
                    for _ in 0..1 + self.rng.below(20) {
                        let c = WS[self.rng.below(WS.len())];
                        self.out.push(c);
                    }
                }
                _ => {
                    let n = 8 + self.rng.below(40);
                    self.out.extend(std::iter::repeat_n(b' ', n));
                    if self.rng.below(2) == 0 {
                        self.out.extend_from_slice(b"\n\n");
                    }
                }
            }
        }

        fn line(&mut self, depth: usize) {
            match self.style {
                1 => {
                    self.out.extend_from_slice(self.nl);
                    for _ in 0..depth {
                        self.out.extend_from_slice(self.indent);
                    }
                }
                2 => self.ws(),
                _ => {}
            }
        }

        fn colon(&mut self) {
            self.ws();
            self.out.push(b':');
            if self.style == 1 {
                self.out.push(b' ');
            }
            self.ws();
        }

        fn pick(&mut self, items: &[&str]) {
            let s = items[self.rng.below(items.len())];
            self.out.extend_from_slice(s.as_bytes());
        }

        fn string(&mut self) {
            const PIECES: &[&str] = &[
                "plain",
                " spaced text ",
                "\\n",
                "\\\"",
                "\\\\",
                "\\/",
                "\\u00e9",
                "\\uD83D\\uDE00",
                "\\ud800",
                "é",
                "✓",
                "😀",
                "\u{7f}",
                "\\t\\r\\b\\f",
                "0123456789abcdef",
            ];
            self.out.push(b'"');
            for _ in 0..self.rng.below(5) {
                self.pick(PIECES);
            }
            self.out.push(b'"');
        }

        fn number(&mut self) {
            match self.rng.below(6) {
                0 => self.pick(&["0", "-0", "1", "-1", "0.5", "1e5", "1E-400", "-0.0e+0"]),
                1 => {
                    // Big integers, beyond u64 and f64 precision.
                    if self.rng.below(2) == 0 {
                        self.out.push(b'-');
                    }
                    self.out.push(b'1' + self.rng.below(9) as u8);
                    for _ in 0..self.rng.below(40) {
                        self.out.push(b'0' + self.rng.below(10) as u8);
                    }
                }
                2 => {
                    let s = format!("{}.{:03}", self.rng.next() % 100_000, self.rng.below(1000));
                    self.out.extend_from_slice(s.as_bytes());
                }
                3 => {
                    let s = format!("{}e{}", self.rng.below(1000), self.rng.below(700));
                    self.out.extend_from_slice(s.as_bytes());
                }
                _ => {
                    let s = (self.rng.next() % 1_000_000).to_string();
                    self.out.extend_from_slice(s.as_bytes());
                }
            }
        }

        fn key(&mut self, wide: bool) {
            self.out.push(b'"');
            if wide && self.rng.below(3) != 0 {
                let s = format!("wide_key_{}", self.rng.below(60));
                self.out.extend_from_slice(s.as_bytes());
            } else if self.rng.below(4) == 0 {
                let s = format!("k{}", self.rng.below(6));
                self.out.extend_from_slice(s.as_bytes());
            } else {
                let (raw, _) = KEY_POOL[self.rng.below(KEY_POOL.len())];
                self.out.extend_from_slice(raw.as_bytes());
            }
            self.out.push(b'"');
        }

        fn value(&mut self, depth: usize, budget: usize) {
            let leaf = budget == 0 || self.rng.below(4) == 0;
            match if leaf {
                self.rng.below(5)
            } else {
                5 + self.rng.below(2)
            } {
                0 => self.string(),
                1 | 2 => self.number(),
                3 => self.pick(&["true", "false", "null"]),
                4 => {
                    let open = if self.rng.below(2) == 0 { b'[' } else { b'{' };
                    self.out.push(open);
                    self.ws();
                    self.out.push(if open == b'[' { b']' } else { b'}' });
                }
                5 => {
                    self.out.push(b'[');
                    let n = 1 + self.rng.below(if budget > 4 { 2 } else { 4 });
                    for k in 0..n {
                        if k > 0 {
                            self.ws();
                            self.out.push(b',');
                        }
                        self.line(depth + 1);
                        self.value(depth + 1, budget - 1);
                    }
                    self.line(depth);
                    self.out.push(b']');
                }
                _ => {
                    self.out.push(b'{');
                    let wide = budget >= 2 && self.rng.below(8) == 0;
                    let n = if wide {
                        30 + self.rng.below(60)
                    } else {
                        1 + self.rng.below(if budget > 4 { 2 } else { 5 })
                    };
                    for k in 0..n {
                        if k > 0 {
                            self.ws();
                            self.out.push(b',');
                        }
                        self.line(depth + 1);
                        self.key(wide);
                        self.colon();
                        let b = if wide { 0 } else { budget - 1 };
                        self.value(depth + 1, b);
                    }
                    self.line(depth);
                    self.out.push(b'}');
                }
            }
        }
    }

    fn random_document(rng: &mut Rng) -> Vec<u8> {
        let style = rng.below(3);
        let nl: &'static [u8] = if rng.below(3) == 0 { b"\r\n" } else { b"\n" };
        let indent: &'static [u8] = [&b"  "[..], b"    ", b"\t"][rng.below(3)];
        let mut g = DocGen {
            rng,
            out: Vec::new(),
            style,
            nl,
            indent,
        };
        g.ws();
        // Mostly small documents, some deep and narrow ones.
        let budget = if g.rng.below(8) == 0 {
            5 + g.rng.below(20)
        } else {
            1 + g.rng.below(4)
        };
        g.value(0, budget);
        g.ws();
        if g.style == 1 && g.rng.below(2) == 0 {
            g.out.extend_from_slice(nl);
        }
        g.out
    }

    #[test]
    fn in_place_matches_compact_on_generated_and_corrupted_documents() {
        const ALPHABET: &[u8] = b"{}[]:,\" \n\r\t0123-+.eE\\/untrfalsex\x01\x00\xc3\xa9\xff\xef";
        let mut rng = Rng(0x1A2B_3C4D_5E6F_7081);
        let (mut cases, mut valid, mut deduplicated, mut errors, mut multiline_errors) =
            (0, 0, 0, 0, 0);
        let mut bytes = 0;
        let mut kinds = std::collections::HashSet::new();
        for round in 0..20_000 {
            let doc = random_document(&mut rng);
            bytes += doc.len();
            // Mostly the default limit, sometimes one the document may hit.
            let limits = if round % 8 == 0 {
                Limits {
                    max_depth: rng.below(8),
                }
            } else {
                Limits::default()
            };
            cases += 1;
            match compact_both(&doc, &limits) {
                Ok(out) => {
                    valid += 1;
                    if limits == Limits::default() {
                        // serde_json refuses lone surrogate escapes.
                        if let Ok(v) = serde_json::from_slice::<Value>(&doc) {
                            assert_eq!(serde(&out), v, "{:?}", String::from_utf8_lossy(&doc));
                        }
                        if out.len() < naive_strip(&String::from_utf8_lossy(&doc)).len() {
                            deduplicated += 1;
                        }
                    }
                }
                Err(e) => {
                    assert!(
                        matches!(e.kind, JsonErrorKind::TooDeep { .. }),
                        "generated document rejected: {e}: {:?}",
                        String::from_utf8_lossy(&doc)
                    );
                }
            }
            // Corrupted variants: byte flips, insertions, deletions,
            // truncations, and combinations.
            for _ in 0..3 {
                let mut bad = doc.clone();
                for _ in 0..1 + rng.below(2) {
                    if bad.is_empty() {
                        break;
                    }
                    let pos = rng.below(bad.len());
                    let byte = ALPHABET[rng.below(ALPHABET.len())];
                    match rng.below(4) {
                        0 => bad[pos] = byte,
                        1 => bad.insert(pos, byte),
                        2 => {
                            bad.remove(pos);
                        }
                        _ => bad.truncate(pos),
                    }
                }
                cases += 1;
                if let Err(e) = compact_both(&bad, &Limits::default()) {
                    errors += 1;
                    if e.line > 1 {
                        multiline_errors += 1;
                    }
                    kinds.insert(std::mem::discriminant(&e.kind));
                }
            }
        }
        println!(
            "{cases} cases ({bytes} bytes generated): {valid} valid, {deduplicated} with duplicates, {errors} errors \
             ({multiline_errors} past line 1, {} kinds)",
            kinds.len()
        );
        assert!(cases >= 80_000, "{cases}");
        assert!(valid > 15_000, "only {valid} valid documents");
        assert!(deduplicated > 3_000, "only {deduplicated} had duplicates");
        assert!(errors > 30_000, "only {errors} errors");
        assert!(
            multiline_errors > 5_000,
            "only {multiline_errors} past line 1"
        );
        assert!(kinds.len() >= 8, "only {} error kinds", kinds.len());
    }

    #[test]
    fn in_place_error_positions_after_dropped_whitespace() {
        // Errors far behind lots of dropped whitespace, some of it newlines
        // whose input has been overwritten by then.
        let cases: &[(&[u8], (usize, usize))] = &[
            (b"{\n  \"a\": 1,\n  \"b\": 01\n}", (3, 9)),
            (b"[1,\n2,\n]", (3, 1)),
            (b"\n\n\n", (4, 1)),
            (b"{\"a\":\n", (2, 1)),
            (b"[\r\n  \xff]", (2, 3)),
            (b"[\n\n   1 ,\n\t\n  2 x", (5, 5)),
            (b"  [ 1 ,\n 2 ]   \n  3", (3, 3)),
            (
                b"{\"a\" : [ 1 ,\n 2 ] , \"a\" : {\n}\n , \"b\"\n\n:\"\x01\"}",
                (6, 3),
            ),
            (b"\xef\xbb\xbf[]", (1, 1)),
        ];
        for (input, (line, column)) in cases {
            let e = compact_both(input, &Limits::default()).unwrap_err();
            assert_eq!(
                (e.line, e.column),
                (*line, *column),
                "{:?}: {e}",
                String::from_utf8_lossy(input)
            );
        }
        // Spaces only before the line of the error, on a long line.
        let mut doc = b"[".to_vec();
        for k in 0..1000 {
            doc.extend_from_slice(format!("\n    {k}  ,  ").as_bytes());
        }
        doc.extend_from_slice(b"\n  tru ]");
        let e = compact_both(&doc, &Limits::default()).unwrap_err();
        assert_eq!((e.line, e.column), (1002, 6));
    }

    #[test]
    fn in_place_results() {
        let limits = Limits::default();
        let cases: &[(&str, &str)] = &[
            ("1", "1"),
            ("[1,2]", "[1,2]"),
            (" [ 1 , 2 ] \n", "[1,2]"),
            (r#"{"a":1,"a":2}"#, r#"{"a":2}"#),
            (
                "{\n \"attribute_one\": [1, {\"x\":1,\"x\":2}],\n \"attribute_\\u006fne\": 2\n}",
                r#"{"attribute_\u006fne":2}"#,
            ),
            (
                "{ \"a\" : { \"b\" : 1 , \"\\u0062\" : 2 } , \"c\" : 3 }",
                r#"{"a":{"\u0062":2},"c":3}"#,
            ),
        ];
        for (input, want) in cases {
            let mut buf = input.as_bytes().to_vec();
            compact_in_place(&mut buf, &limits).unwrap();
            assert_eq!(String::from_utf8(buf).unwrap(), *want, "{input:?}");
        }
        let e = compact_both(&vec![b'['; 10_000_000], &limits).unwrap_err();
        assert_eq!(e.kind, JsonErrorKind::TooDeep { limit: 1000 });
        let depth = 100_000;
        let input = format!("{}0{}", "[ {\"k\" :\n".repeat(depth), "}]".repeat(depth));
        let big = Limits {
            max_depth: 2 * depth,
        };
        let want = format!("{}0{}", "[{\"k\":".repeat(depth), "}]".repeat(depth));
        assert_eq!(
            compact_both(input.as_bytes(), &big).unwrap(),
            want.as_bytes()
        );
    }

    // ---- navigation ----

    const NAV: &str = r#"{"name":"al\"ice","n":-1.50,"t":true,"f":false,"z":null,"arr":[1,"two",[3],{"four":4},[]],"obj":{"x\u0079":"\ud83d\ude00 \u00e9\n","lone":"a\ud800b","empty":{}},"\u006bey":"escaped key"}"#;

    #[test]
    fn navigation_get_and_kinds() {
        let v = raw(NAV);
        assert_eq!(v.kind(), Kind::Object);
        assert_eq!(v.len(), 8);
        assert!(!v.is_empty());
        assert_eq!(v.get("name").unwrap().as_str().unwrap(), "al\"ice");
        assert_eq!(v.get("n").unwrap().as_number_text(), Some("-1.50"));
        assert_eq!(v.get("n").unwrap().kind(), Kind::Number);
        assert_eq!(v.get("t").unwrap().as_bool(), Some(true));
        assert_eq!(v.get("f").unwrap().as_bool(), Some(false));
        assert_eq!(v.get("z").unwrap().kind(), Kind::Null);
        assert_eq!(v.get("z").unwrap().as_bool(), None);
        assert_eq!(v.get("missing"), None);
        assert_eq!(v.get("key").unwrap().as_str().unwrap(), "escaped key");
        assert_eq!(v.get("\\u006bey"), None);
        let obj = v.get("obj").unwrap();
        assert_eq!(obj.get("xy").unwrap().as_str().unwrap(), "😀 é\n");
        assert_eq!(obj.get("lone").unwrap().as_str().unwrap(), "a\u{FFFD}b");
        assert!(obj.get("empty").unwrap().is_empty());
        assert_eq!(obj.get("empty").unwrap().len(), 0);
        assert_eq!(obj.get("empty").unwrap().as_bytes(), b"{}");
        // Scalars and arrays have no members.
        assert_eq!(v.get("arr").unwrap().get("0"), None);
        assert_eq!(v.get("n").unwrap().members().count(), 0);
        assert_eq!(v.get("n").unwrap().len(), 0);
        assert!(v.get("n").unwrap().is_empty());
        assert_eq!(v.elements().count(), 0);
        assert_eq!(v.as_str(), None);
        assert_eq!(v.as_number_text(), None);
    }

    #[test]
    fn navigation_members_and_elements() {
        let v = raw(NAV);
        let keys: Vec<_> = v.members().map(|(k, _)| k.into_owned()).collect();
        assert_eq!(keys, ["name", "n", "t", "f", "z", "arr", "obj", "key"]);
        assert!(matches!(v.members().next().unwrap().0, Cow::Borrowed(_)));
        let arr = v.get("arr").unwrap();
        assert_eq!(arr.kind(), Kind::Array);
        assert_eq!(arr.len(), 5);
        let els: Vec<_> = arr.elements().map(|e| e.as_bytes()).collect();
        assert_eq!(els, [&b"1"[..], b"\"two\"", b"[3]", b"{\"four\":4}", b"[]"]);
        let kinds: Vec<_> = arr.elements().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            [
                Kind::Number,
                Kind::String,
                Kind::Array,
                Kind::Object,
                Kind::Array
            ]
        );
        assert_eq!(
            arr.elements()
                .nth(3)
                .unwrap()
                .get("four")
                .unwrap()
                .as_number_text(),
            Some("4")
        );
        assert_eq!(raw("[]").elements().count(), 0);
        assert_eq!(raw("{}").members().count(), 0);
        assert!(raw("[]").is_empty());
        assert!(!raw("[0]").is_empty());
    }

    #[test]
    fn decode_string_escapes() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            (r#"\"\\\/\b\f\n\r\t"#, "\"\\/\u{8}\u{c}\n\r\t"),
            (r"\u0041\u00e9\u20AC", "Aé€"),
            (r"\ud83d\ude00", "😀"),
            (r"\uD83D\uDE00!", "😀!"),
            (r"\ud800", "\u{FFFD}"),
            (r"\udc00", "\u{FFFD}"),
            (r"\ude00\ud83d", "\u{FFFD}\u{FFFD}"),
            // A high surrogate followed by a non-surrogate escape: U+FFFD,
            // then the second escape decoded on its own (Go's unquote).
            (r"\ud800\u0041", "\u{FFFD}A"),
            (r"\ud800\ud800\udc00", "\u{FFFD}𐀀"),
            (r"\u0000", "\0"),
        ];
        for (inner, want) in cases {
            assert_eq!(decode_string(inner.as_bytes()), *want, "{inner}");
        }
        assert!(matches!(decode_string(b"abc"), Cow::Borrowed("abc")));
        assert_eq!(raw(r#""\ud83d\ude00""#).as_str().unwrap(), "😀");
    }

    #[test]
    fn navigation_on_compact_output() {
        let out = ok(DOCS[10]);
        let v = raw(&out);
        let users = v.get("users").unwrap();
        assert_eq!(users.len(), 2);
        let bob = users.elements().nth(1).unwrap();
        assert_eq!(bob.get("score").unwrap().as_number_text(), Some("1.10"));
        let nested = bob.get("meta").unwrap().get("nested").unwrap();
        assert_eq!(nested.as_bytes(), br#"[[1,2],[],{"x":null}]"#);
        assert_eq!(
            v.get("big").unwrap().as_number_text(),
            Some("12345678901234567890123456789")
        );
        assert_eq!(
            v.get("unicode").unwrap().as_str().unwrap(),
            "héllo wörld ✓ 😀"
        );
    }

    #[test]
    fn navigation_never_panics_on_garbage() {
        // `new_unchecked` only debug-asserts, so navigation must survive
        // bytes that are not compact JSON (results are unspecified).
        const ALPHABET: &[u8] = b"{}[]:,\"\\u0aeEtrn1-.x ";
        let mut rng = Rng(7);
        let seed = NAV.as_bytes();
        for _ in 0..5000 {
            let mut doc = seed.to_vec();
            for _ in 0..1 + rng.below(4) {
                let pos = rng.below(doc.len());
                match rng.below(3) {
                    0 => doc[pos] = ALPHABET[rng.below(ALPHABET.len())],
                    1 => doc.truncate(pos.max(1)),
                    _ => {
                        doc.remove(pos);
                    }
                }
                if doc.is_empty() {
                    doc.push(b'{');
                }
            }
            let v = RawValue { bytes: &doc };
            let _ = (v.kind(), v.len(), v.is_empty(), v.as_str(), v.as_bool());
            let _ = (v.get("obj"), v.get("key"), v.as_number_text());
            for (_, m) in v.members() {
                let _ = (m.len(), m.elements().count(), m.as_str());
            }
            let mut out = Vec::new();
            to_canonical(v, &mut out);
            let mut n = 0;
            walk(v, &mut |_, _| {
                n += 1;
                true
            });
        }
    }

    // ---- write_string ----

    #[test]
    fn write_string_matches_go() {
        // Expected outputs as produced by Go 1.22+ json.Encoder with
        // SetEscapeHTML(false).
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("abc", r#""abc""#),
            ("<>&", r#""<>&""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("/", r#""/""#),
            ("\n\r\t", r#""\n\r\t""#),
            ("\u{8}\u{c}", r#""\b\f""#),
            ("\u{1}\u{1f}\u{0}\u{b}", r#""\u0001\u001f\u0000\u000b""#),
            ("\u{7f}", "\"\u{7f}\""),
            ("\u{2028}x\u{2029}", r#""\u2028x\u2029""#),
            ("\u{2027}\u{202a}", "\"\u{2027}\u{202a}\""),
            ("héllo ✓ 😀 \u{FFFD}", "\"héllo ✓ 😀 \u{FFFD}\""),
            ("\u{85}\u{a0}", "\"\u{85}\u{a0}\""),
        ];
        for (s, want) in cases {
            let mut out = Vec::new();
            write_string(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{s:?}");
        }
        // Appends, never clears.
        let mut out = b"x".to_vec();
        write_string(&mut out, "y");
        assert_eq!(out, b"x\"y\"");
    }

    #[test]
    fn write_string_at_every_word_offset() {
        // Reference: Go's appendString, one character at a time.
        fn reference(s: &str) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{2028}' => out.push_str("\\u2028"),
                    '\u{2029}' => out.push_str("\\u2029"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let specials = [
            "\"",
            "\\",
            "\n",
            "\u{1f}",
            "\u{2028}",
            "\u{2029}",
            "\u{2027}",
            "\u{e2}",
            "\u{1F600}",
            "<",
        ];
        for len in 0..24 {
            for pos in 0..=len {
                for sp in specials {
                    let s = format!("{}{sp}{}", "x".repeat(pos), "y".repeat(len - pos));
                    let mut out = Vec::new();
                    write_string(&mut out, &s);
                    assert_eq!(String::from_utf8(out).unwrap(), reference(&s), "{s:?}");
                }
            }
        }
    }

    // ---- canonical form ----

    fn canonical(s: &str) -> String {
        let mut out = Vec::new();
        to_canonical(raw(s), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_sorts_keys_by_bytes() {
        assert_eq!(
            canonical(r#"{"é":1,"a":2,"B":3,"":4,"aa":5,"a\u0000":6}"#),
            r#"{"":4,"B":3,"a":2,"a\u0000":6,"aa":5,"é":1}"#
        );
        assert_eq!(
            canonical(r#"{"z":[{"b":1,"a":[{"d":1,"c":2}]},3],"y":{"\u0062":true,"a":null}}"#),
            r#"{"y":{"a":null,"b":true},"z":[{"a":[{"c":2,"d":1}],"b":1},3]}"#
        );
        // Strings are re-encoded from their decoded form, numbers verbatim.
        assert_eq!(
            canonical(r#"["\u0041\/\u00e9","\ud800","<\u2028>","\u0008\u0001",1.10,-0,1E2]"#),
            "[\"A/é\",\"\u{FFFD}\",\"<\\u2028>\",\"\\b\\u0001\",1.10,-0,1E2]"
        );
        assert_eq!(canonical("null"), "null");
        assert_eq!(canonical(r#""x""#), r#""x""#);
        assert_eq!(canonical("[]"), "[]");
        assert_eq!(canonical("{}"), "{}");
        // Surrogate-pair key sorts by its UTF-8 bytes (after U+FFFF keys).
        assert_eq!(
            canonical(r#"{"\ud83d\ude00":1,"\uffff":2}"#),
            "{\"\u{ffff}\":2,\"😀\":1}"
        );
    }

    /// Reference canonical form built on the navigation API (recursive;
    /// test documents are shallow).
    fn reference_canonical(v: RawValue<'_>, out: &mut Vec<u8>) {
        match v.kind() {
            Kind::Object => {
                let mut ms: Vec<_> = v.members().collect();
                ms.sort_by(|a, b| a.0.cmp(&b.0));
                out.push(b'{');
                for (n, (k, m)) in ms.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    write_string(out, k);
                    out.push(b':');
                    reference_canonical(*m, out);
                }
                out.push(b'}');
            }
            Kind::Array => {
                out.push(b'[');
                for (n, e) in v.elements().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    reference_canonical(e, out);
                }
                out.push(b']');
            }
            Kind::String => write_string(out, &v.as_str().unwrap()),
            _ => out.extend_from_slice(v.as_bytes()),
        }
    }

    #[test]
    fn canonical_matches_reference_on_generated_documents() {
        let mut rng = Rng(0x5EED);
        let mut changed = 0;
        for _ in 0..1000 {
            let g = gen(&mut rng, 4);
            let mut input = String::new();
            render_input(&g, &mut rng, &mut input);
            let compacted = ok(&input);
            let v = raw(&compacted);
            let (mut got, mut want) = (Vec::new(), Vec::new());
            to_canonical(v, &mut got);
            reference_canonical(v, &mut want);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{compacted}"
            );
            if got != compacted.as_bytes() {
                changed += 1;
            }
        }
        assert!(changed > 300, "only {changed} documents changed");
        let out = ok(DOCS[10]);
        let (mut got, mut want) = (Vec::new(), Vec::new());
        to_canonical(raw(&out), &mut got);
        reference_canonical(raw(&out), &mut want);
        assert_eq!(got, want);
    }

    #[test]
    fn canonical_deep_is_iterative() {
        let depth = DEFAULT_MAX_DEPTH;
        let s = format!("{}{}", "{\"k\":[".repeat(depth), "]}".repeat(depth));
        assert_eq!(canonical(&s), s);
    }

    // ---- walk ----

    #[test]
    fn walk_visits_pre_order_with_paths() {
        let v = raw(r#"{"a":[1,{"b":null}],"c\u0064":"s","e":{}}"#);
        let mut seen = Vec::new();
        walk(v, &mut |path, val| {
            let p: Vec<String> = path
                .iter()
                .map(|s| match s {
                    PathSeg::Key(k) => k.to_string(),
                    PathSeg::Index(i) => format!("#{i}"),
                })
                .collect();
            seen.push(format!(
                "{}={}",
                p.join("/"),
                String::from_utf8_lossy(val.as_bytes())
            ));
            true
        });
        assert_eq!(
            seen,
            [
                r#"={"a":[1,{"b":null}],"c\u0064":"s","e":{}}"#,
                r#"a=[1,{"b":null}]"#,
                "a/#0=1",
                r#"a/#1={"b":null}"#,
                "a/#1/b=null",
                r#"cd="s""#,
                "e={}",
            ]
        );
    }

    #[test]
    fn walk_can_skip_subtrees() {
        let v = raw(r#"{"skip":{"x":[1,2,3]},"keep":{"y":[4]}}"#);
        let mut paths = Vec::new();
        walk(v, &mut |path, _| {
            paths.push(path.to_vec());
            path.first() != Some(&PathSeg::Key(Cow::Borrowed("skip")))
        });
        let k = |s: &'static str| PathSeg::Key(Cow::Borrowed(s));
        assert_eq!(
            paths,
            vec![
                vec![],
                vec![k("skip")],
                vec![k("keep")],
                vec![k("keep"), k("y")],
                vec![k("keep"), k("y"), PathSeg::Index(0)],
            ]
        );
        // Not descending into the root visits only the root.
        let mut n = 0;
        walk(v, &mut |_, _| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn walk_deep_and_count() {
        let depth = DEFAULT_MAX_DEPTH;
        let s = format!("{}0{}", "[".repeat(depth), "]".repeat(depth));
        let mut max_path = 0;
        let mut values = 0;
        walk(raw(&s), &mut |path, _| {
            max_path = max_path.max(path.len());
            values += 1;
            true
        });
        assert_eq!((max_path, values), (depth, depth + 1));
    }

    // ---- micro benchmark ----

    /// Pretty-prints `v` with two-space indentation (like Go's MarshalIndent
    /// and OPA's `opa build` output), one element per line.
    fn pretty(v: &Value, indent: usize, out: &mut String) {
        let pad = |n: usize, out: &mut String| out.extend(std::iter::repeat_n(' ', n));
        match v {
            Value::Array(a) if !a.is_empty() => {
                out.push_str("[\n");
                for (i, e) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n");
                    }
                    pad(indent + 2, out);
                    pretty(e, indent + 2, out);
                }
                out.push('\n');
                pad(indent, out);
                out.push(']');
            }
            Value::Object(o) if !o.is_empty() => {
                out.push_str("{\n");
                for (i, (k, e)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n");
                    }
                    pad(indent + 2, out);
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(": ");
                    pretty(e, indent + 2, out);
                }
                out.push('\n');
                pad(indent, out);
                out.push('}');
            }
            _ => out.push_str(&serde_json::to_string(v).unwrap()),
        }
    }

    fn bench_document(target: usize) -> String {
        let mut rng = Rng(42);
        let mut s = String::with_capacity(target + (1 << 16));
        s.push_str("{\n  \"users\": [\n");
        let mut n = 0u64;
        while s.len() < target {
            if n > 0 {
                s.push_str(",\n");
            }
            let mut attrs = serde_json::Map::new();
            for k in 0..16 {
                attrs.insert(
                    format!("attribute_{k:02}"),
                    Value::String(format!("value-{}-{}", k, rng.next() % 1000)),
                );
            }
            let item = serde_json::json!({
                "id": n,
                "name": format!("user-{n}"),
                "email": format!("user.{n}@example.com"),
                "active": n.is_multiple_of(3),
                "score": (rng.next() % 100_000) as f64 / 100.0,
                "big": serde_json::from_str::<Value>("12345678901234567890").unwrap(),
                "description": "Lorem ipsum dolor sit amet, \"quoted\" \\ back\tslash, caf\u{e9} \u{1F600} and a fairly long tail of ordinary text",
                "roles": ["admin", "developer", "viewer"],
                "matrix": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                "limits": [{"cpu": 1.5, "memory": 2048}, {"cpu": 0.25, "memory": 512}],
                "attributes": attrs,
                "manager": Value::Null,
            });
            s.push_str("    ");
            pretty(&item, 4, &mut s);
            n += 1;
        }
        s.push_str("\n  ]\n}\n");
        s
    }

    #[test]
    #[ignore = "benchmark; run with --release -- --ignored --nocapture"]
    fn bench_compact_throughput() {
        fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
            (0..runs)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        }
        let doc = bench_document(50 << 20);
        let mb = doc.len() as f64 / 1e6;
        let limits = Limits::default();

        // As callers use it: a fresh output buffer each time (this includes
        // the page faults of first touching the output).
        let fresh = best_of(10, || {
            let mut out = Vec::new();
            compact(std::hint::black_box(doc.as_bytes()), &limits, &mut out).unwrap();
            std::hint::black_box(out);
        });
        // A reused, already faulted-in buffer: the parser alone.
        let mut out = Vec::new();
        let reused = best_of(10, || {
            out.clear();
            compact(std::hint::black_box(doc.as_bytes()), &limits, &mut out).unwrap();
        });
        println!(
            "compact: {mb:.1} MB pretty -> {:.1} MB compact; fresh buffer {:.0} MB/s, reused buffer {:.0} MB/s",
            out.len() as f64 / 1e6,
            mb / fresh,
            mb / reused
        );

        // In place, on a copy made outside the timing (no output pages to
        // fault in: compare with the fresh-buffer figure above).
        let in_place = |input: &[u8]| {
            (0..10)
                .map(|_| {
                    let mut buf = input.to_vec();
                    let t = std::time::Instant::now();
                    compact_in_place(std::hint::black_box(&mut buf), &limits).unwrap();
                    let e = t.elapsed().as_secs_f64();
                    assert_eq!(buf, out);
                    e
                })
                .fold(f64::INFINITY, f64::min)
        };
        let pretty_in_place = in_place(doc.as_bytes());
        // Already compact input: nothing to move.
        let cmb = out.len() as f64 / 1e6;
        let compact_in_place_t = in_place(&out);
        let mut again = Vec::new();
        let compact_again = best_of(10, || {
            again.clear();
            compact(std::hint::black_box(&out), &limits, &mut again).unwrap();
        });
        println!(
            "compact_in_place: pretty {:.0} MB/s; already compact {:.0} MB/s (compact, reused buffer: {:.0} MB/s)",
            mb / pretty_in_place,
            cmb / compact_in_place_t,
            cmb / compact_again
        );

        let v = RawValue::new_unchecked(&out);
        let mut canon = Vec::new();
        let t = best_of(3, || {
            canon.clear();
            to_canonical(v, &mut canon);
        });
        println!(
            "to_canonical: {:.0} MB/s of compact input",
            out.len() as f64 / 1e6 / t
        );
        let t = best_of(3, || {
            let mut n = 0usize;
            walk(v, &mut |_, _| {
                n += 1;
                true
            });
            std::hint::black_box(n);
        });
        println!(
            "walk: {:.0} MB/s of compact input",
            out.len() as f64 / 1e6 / t
        );
    }
}
