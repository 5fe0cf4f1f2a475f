//! A small, defensive tar reader and a deterministic tar writer.
//!
//! regopt reads bundles from build pipelines and bundle servers, so the reader
//! trusts nothing: every header checksum is verified, extension records (GNU
//! long names, PAX) are size-bounded before they are buffered, and file data is
//! only ever read into memory after its size has been checked against the
//! limits. Nothing is unpacked to disk. The writer emits GNU-format headers with
//! fixed metadata (mode 0644, uid/gid 0, mtime 0, empty user/group names) so the
//! same entries always give the same bytes.

use std::borrow::Cow;
use std::io::{self, Read};

const BLOCK: usize = 512;
/// Extension records (long names, PAX headers) larger than this are refused:
/// they only carry names and a few numbers.
const MAX_EXTENSION: u64 = 1 << 20;
/// Largest entry size a header may give: Go's `archive/tar` reads sizes as `int64`.
const MAX_SIZE: u64 = i64::MAX as u64;

/// What a header says an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// A regular file (`'0'`, `'\0'`, or contiguous `'7'`).
    File,
    /// A directory (`'5'`).
    Directory,
    /// A symbolic link (`'2'`).
    Symlink,
    /// A hard link (`'1'`).
    HardLink,
    /// A character or block device or a FIFO (`'3'`, `'4'`, `'6'`).
    Device,
    /// Anything else (sparse files, volume labels, vendor types).
    Other(u8),
}

/// One entry of the archive as read: its raw name and, for files, the data.
#[derive(Debug)]
pub struct RawEntry {
    /// The name bytes exactly as stored (after applying long-name/PAX records).
    pub name: Vec<u8>,
    /// The entry's type.
    pub kind: EntryType,
    /// The size the header gives.
    pub size: u64,
}

/// Errors of the tar layer; the bundle reader turns them into [`crate::Error`].
#[derive(Debug)]
pub enum TarError {
    /// The stream ended inside a header or inside file data.
    Truncated(String),
    /// A header is not a tar header (bad checksum, bad number field).
    BadHeader(String),
    /// An extension record is too large or malformed.
    BadExtension(String),
    /// The underlying reader failed (e.g. corrupt gzip).
    Io(io::Error),
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

/// Reads entries one at a time from a stream.
pub struct TarReader<R: Read> {
    inner: R,
    /// Bytes of file data (plus padding) of the current entry not yet consumed.
    pending: u64,
    done: bool,
}

impl<R: Read> TarReader<R> {
    /// Start reading an archive.
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            pending: 0,
            done: false,
        }
    }

    /// Give back the underlying reader (e.g. to drain a gzip trailer).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The underlying stream.
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next entry's header, or `None` at the end of the archive. The caller
    /// either reads the data with [`TarReader::read_data`] or calls `next_entry`
    /// again, which skips it.
    pub fn next_entry(&mut self) -> Result<Option<RawEntry>, TarError> {
        if self.done {
            return Ok(None);
        }
        self.skip_pending()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut pax_path: Option<Vec<u8>> = None;
        let mut pax_size: Option<u64> = None;
        loop {
            let mut header = [0u8; BLOCK];
            if !read_block(&mut self.inner, &mut header)? {
                // Go's archive/tar accepts an archive that simply ends at a
                // header boundary; so do we.
                self.done = true;
                return Ok(None);
            }
            if header.iter().all(|&b| b == 0) {
                // End-of-archive marker (one or two zero blocks).
                self.done = true;
                return Ok(None);
            }
            verify_checksum(&header)?;
            // Go's archive/tar reads sizes as int64: a larger one is an invalid header (and
            // rounding it up to whole blocks must not overflow; found by fuzzing).
            let size = parse_number(&header[124..136])
                .filter(|&s| s <= MAX_SIZE)
                .ok_or_else(|| TarError::BadHeader("invalid size field".into()))?;
            let flag = header[156];
            match flag {
                b'L' | b'x' | b'g' | b'K' => {
                    if size > MAX_EXTENSION {
                        return Err(TarError::BadExtension(format!(
                            "extension record of {size} bytes (limit {MAX_EXTENSION})"
                        )));
                    }
                    let data = self.read_exact_padded(size)?;
                    match flag {
                        b'L' => {
                            let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                            long_name = Some(data[..end].to_vec());
                        }
                        b'x' => {
                            for (key, value) in parse_pax(&data)? {
                                match key.as_slice() {
                                    b"path" => pax_path = Some(value),
                                    b"size" => {
                                        let text = std::str::from_utf8(&value).ok();
                                        pax_size = Some(
                                            text.and_then(|t| t.parse::<u64>().ok())
                                                .filter(|&s| s <= MAX_SIZE)
                                                .ok_or_else(|| {
                                                    TarError::BadExtension(
                                                        "invalid pax size".into(),
                                                    )
                                                })?,
                                        );
                                    }
                                    _ => {}
                                }
                            }
                        }
                        // Global PAX headers and GNU long link names carry
                        // nothing a bundle needs.
                        _ => {}
                    }
                    continue;
                }
                _ => {}
            }
            let name = if let Some(p) = pax_path.take() {
                p
            } else if let Some(l) = long_name.take() {
                l
            } else {
                header_name(&header)
            };
            let size = pax_size.take().unwrap_or(size);
            let kind = match flag {
                b'0' | 0 | b'7' => EntryType::File,
                b'5' => EntryType::Directory,
                b'2' => EntryType::Symlink,
                b'1' => EntryType::HardLink,
                b'3' | b'4' | b'6' => EntryType::Device,
                other => EntryType::Other(other),
            };
            // Only regular files carry data in a well-formed archive, but a
            // header may claim a size for others too; skip it either way.
            self.pending = padded(size);
            return Ok(Some(RawEntry { name, kind, size }));
        }
    }

    /// Read the current entry's data (exactly `size` bytes).
    pub fn read_data(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        let data = self.read_exact_padded(size)?;
        self.pending = 0;
        Ok(data)
    }

    /// Read the current entry's data (exactly `size` bytes) as JSON text
    /// with whitespace outside strings dropped while it is decompressed
    /// ([`crate::data::strip`]), so the full text is never in memory.
    pub fn read_data_stripped(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        let len = entry_len(size)?;
        // Capacity for the worst case (nothing to strip); pages beyond what is
        // written are never touched, so they cost address space only.
        let mut data = Vec::with_capacity(len);
        let n = crate::data::strip::strip_reader((&mut self.inner).take(size), &mut data)
            .map_err(|e| truncated(e, "entry data"))?;
        if n < size {
            return Err(TarError::Truncated("entry data".into()));
        }
        self.skip_padding(size)?;
        self.pending = 0;
        Ok(data)
    }

    fn skip_padding(&mut self, size: u64) -> Result<(), TarError> {
        let pad = (padded(size) - size) as usize;
        if pad > 0 {
            let mut skip = [0u8; BLOCK];
            self.inner
                .read_exact(&mut skip[..pad])
                .map_err(|e| truncated(e, "entry padding"))?;
        }
        Ok(())
    }

    fn read_exact_padded(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        let len = entry_len(size)?;
        let mut data = vec![0u8; len];
        self.inner
            .read_exact(&mut data)
            .map_err(|e| truncated(e, "entry data"))?;
        self.skip_padding(size)?;
        Ok(data)
    }

    fn skip_pending(&mut self) -> Result<(), TarError> {
        if self.pending > 0 {
            let n = io::copy(&mut (&mut self.inner).take(self.pending), &mut io::sink())?;
            if n < self.pending {
                return Err(TarError::Truncated("entry data".into()));
            }
            self.pending = 0;
        }
        Ok(())
    }
}

/// An entry's size as a buffer length.
fn entry_len(size: u64) -> Result<usize, TarError> {
    usize::try_from(size)
        .map_err(|_| TarError::BadHeader(format!("entry size {size} does not fit in memory")))
}

fn truncated(e: io::Error, what: &str) -> TarError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        TarError::Truncated(what.into())
    } else {
        TarError::Io(e)
    }
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64) * BLOCK as u64
}

/// Read one 512-byte block; `Ok(false)` on a clean end of stream before it.
fn read_block<R: Read>(r: &mut R, buf: &mut [u8; BLOCK]) -> Result<bool, TarError> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                if got == 0 {
                    return Ok(false);
                }
                return Err(TarError::Truncated("header".into()));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TarError::Io(e)),
        }
    }
    Ok(true)
}

fn verify_checksum(h: &[u8; BLOCK]) -> Result<(), TarError> {
    let stored = parse_number(&h[148..156])
        .ok_or_else(|| TarError::BadHeader("invalid checksum field".into()))?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    // Go's archive/tar accepts either the unsigned or the signed sum.
    if stored == unsigned || i64::try_from(stored).ok() == Some(signed) {
        Ok(())
    } else {
        Err(TarError::BadHeader("header checksum mismatch".into()))
    }
}

/// Octal (NUL/space terminated) or GNU base-256 number field.
fn parse_number(field: &[u8]) -> Option<u64> {
    if let Some(&first) = field.first() {
        if first & 0x80 != 0 {
            // base-256: big-endian, first byte's top bit is the marker.
            if first & 0x40 != 0 {
                return None; // negative
            }
            let mut v: u64 = u64::from(first & 0x3f);
            for &b in &field[1..] {
                v = v.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            return Some(v);
        }
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ' || b == 0)
        .take_while(|&b| b != b' ' && b != 0)
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for b in text {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn header_name(h: &[u8; BLOCK]) -> Vec<u8> {
    let name = cstr(&h[0..100]);
    // POSIX ustar keeps a prefix in bytes 345..500; GNU ("ustar  \0") does not.
    if &h[257..263] == b"ustar\0" {
        let prefix = cstr(&h[345..500]);
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(name);
            return full;
        }
    }
    name.to_vec()
}

/// One PAX record: key and value bytes.
type PaxRecord = (Vec<u8>, Vec<u8>);

/// PAX records: `"<len> <key>=<value>\n"`.
fn parse_pax(mut data: &[u8]) -> Result<Vec<PaxRecord>, TarError> {
    let bad = || TarError::BadExtension("malformed pax record".into());
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let sp = data.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &data[sp + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        out.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        data = &data[len..];
    }
    Ok(out)
}

static ZEROS: [u8; BLOCK * 2] = [0u8; BLOCK * 2];

/// The tar stream of regular files `entries` (name, data), with the same bytes
/// as `tar` writes for regular files with fixed metadata, as a list of pieces whose concatenation is the
/// stream: headers owned, file data borrowed (never copied), padding and the
/// end-of-archive marker static zeros.
pub fn stream_pieces<'a, I>(entries: I) -> Vec<Cow<'a, [u8]>>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    fn padded_piece<'a>(out: &mut Vec<Cow<'a, [u8]>>, data: Cow<'a, [u8]>) {
        let pad = (padded(data.len() as u64) - data.len() as u64) as usize;
        out.push(data);
        if pad > 0 {
            out.push(Cow::Borrowed(&ZEROS[..pad]));
        }
    }
    let mut out = Vec::new();
    for (name, data) in entries {
        if name.len() > 100 {
            let mut long = name.to_vec();
            long.push(0);
            out.push(Cow::Owned(
                header(b"././@LongLink", long.len() as u64, b'L').to_vec(),
            ));
            padded_piece(&mut out, Cow::Owned(long));
            out.push(Cow::Owned(
                header(&name[..100], data.len() as u64, b'0').to_vec(),
            ));
        } else {
            out.push(Cow::Owned(header(name, data.len() as u64, b'0').to_vec()));
        }
        padded_piece(&mut out, Cow::Borrowed(data));
    }
    out.push(Cow::Borrowed(&ZEROS[..]));
    out
}

fn header(name: &[u8], size: u64, flag: u8) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    write_octal(&mut h[100..108], 0o644);
    write_octal(&mut h[108..116], 0);
    write_octal(&mut h[116..124], 0);
    if size < 0o77777777777 {
        write_octal(&mut h[124..136], size);
    } else {
        // GNU base-256 for sizes of 8 GiB and more.
        h[124] = 0x80;
        let bytes = size.to_be_bytes();
        h[128..136].copy_from_slice(&bytes);
    }
    write_octal(&mut h[136..148], 0);
    h[156] = flag;
    h[257..265].copy_from_slice(b"ustar  \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

fn write_octal(field: &mut [u8], v: u64) {
    let width = field.len() - 1;
    let text = format!("{v:0width$o}");
    field[..width].copy_from_slice(text.as_bytes());
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        stream_pieces(entries.iter().copied()).concat()
    }

    #[test]
    fn round_trip_short_and_long_names() {
        let long = vec![b'a'; 150];
        let bytes = archive(&[(b"/data.json", b"{}"), (&long, b"x")]);
        let mut r = TarReader::new(&bytes[..]);
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!(e.name, b"/data.json");
        assert_eq!(e.kind, EntryType::File);
        assert_eq!(r.read_data(e.size).unwrap(), b"{}");
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!(e.name, long);
        // data not read: next_entry must skip it
        assert!(r.next_entry().unwrap().is_none());
    }

    #[test]
    fn system_tar_reads_our_output() {
        let bytes = archive(&[(b"a/b.rego", b"package a.b\n")]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tar");
        std::fs::write(&path, &bytes).unwrap();
        let out = std::process::Command::new("tar")
            .arg("tvf")
            .arg(&path)
            .output();
        if let Ok(out) = out {
            let listing = String::from_utf8_lossy(&out.stdout);
            assert!(listing.contains("a/b.rego"), "{listing}");
            assert!(out.status.success());
        } else {
            eprintln!("skipped: no system tar to cross-check the writer");
        }
    }

    #[test]
    fn bad_checksum_is_refused() {
        let mut bytes = archive(&[(b"x", b"1")]);
        bytes[0] = b'y';
        let mut r = TarReader::new(&bytes[..]);
        assert!(matches!(r.next_entry(), Err(TarError::BadHeader(_))));
    }

    #[test]
    fn truncated_data_is_refused() {
        let bytes = archive(&[(b"x", &[7u8; 2000])]);
        let mut r = TarReader::new(&bytes[..1024]);
        let e = r.next_entry().unwrap().unwrap();
        assert!(matches!(r.read_data(e.size), Err(TarError::Truncated(_))));
    }

    #[test]
    fn huge_pax_record_is_refused_before_reading() {
        let mut h = header(b"pax", 1 << 40, b'x');
        // recompute checksum after changing nothing: header() already did
        h[0] = b'p';
        let mut r = TarReader::new(&h[..]);
        assert!(matches!(r.next_entry(), Err(TarError::BadExtension(_))));
    }

    #[test]
    fn numbers_octal_and_base256() {
        assert_eq!(parse_number(b"00000000012\0"), Some(10));
        assert_eq!(parse_number(b"   12 \0"), Some(10));
        assert_eq!(
            parse_number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
            Some(1 << 32)
        );
        assert_eq!(parse_number(b"9"), None);
    }
}
