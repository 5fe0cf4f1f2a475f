//! Helpers for the CLI-level suites (`tests/bad_input.rs`, `tests/cli.rs`):
//! a raw tar builder that can write any header (hostile names, links,
//! devices, PAX records, wrong checksums), a cheap gzip writer for large runs
//! of zeros (gzip bombs without compressing gigabytes), a raw tar reader that
//! exposes every header field, and a runner for the real `regopt` binary.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::{Compress, Compression, Crc, FlushCompress};

pub const BLOCK: usize = 512;

// ---------------------------------------------------------------------------
// Writing raw tar archives
// ---------------------------------------------------------------------------

/// A 512-byte tar header with every field under the test's control.
#[derive(Clone)]
pub struct Header(pub [u8; BLOCK]);

impl Header {
    /// A POSIX ustar header (`ustar\0` `00`) with mode 0644, uid/gid 0,
    /// mtime 0 and a correct checksum. `name` must fit in 100 bytes; use a
    /// PAX or GNU long-name record for longer ones.
    pub fn new(name: &[u8], size: u64, typeflag: u8) -> Header {
        assert!(
            name.len() <= 100,
            "name longer than 100 bytes: use pax_path or long_name"
        );
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name);
        octal(&mut h[100..108], 0o644);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 0);
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let mut hd = Header(h);
        hd.fix_checksum();
        hd
    }

    /// Set the link target (bytes 157..257) and recompute the checksum.
    pub fn link(mut self, target: &[u8]) -> Header {
        self.0[157..157 + target.len()].copy_from_slice(target);
        self.fix_checksum();
        self
    }

    /// Set the ustar prefix (bytes 345..500) and recompute the checksum.
    pub fn prefix(mut self, prefix: &[u8]) -> Header {
        self.0[345..345 + prefix.len()].copy_from_slice(prefix);
        self.fix_checksum();
        self
    }

    /// Overwrite raw bytes at `at` and recompute the checksum.
    pub fn patch(mut self, at: usize, bytes: &[u8]) -> Header {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
        self.fix_checksum();
        self
    }

    /// Overwrite raw bytes at `at` and leave the checksum as it was (wrong).
    pub fn corrupt(mut self, at: usize, bytes: &[u8]) -> Header {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }

    /// Recompute the checksum field from the current bytes.
    pub fn fix_checksum(&mut self) {
        let h = &mut self.0;
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
}

fn octal(field: &mut [u8], v: u64) {
    let width = field.len() - 1;
    let text = format!("{v:0width$o}");
    assert_eq!(
        text.len(),
        width,
        "value {v} does not fit an octal field of {width}"
    );
    field[..width].copy_from_slice(text.as_bytes());
    field[width] = 0;
}

fn pad_to_block(buf: &mut Vec<u8>) {
    let rem = buf.len() % BLOCK;
    if rem != 0 {
        buf.resize(buf.len() + BLOCK - rem, 0);
    }
}

/// One PAX record, `"<len> <key>=<value>\n"`, with the self-referential length.
pub fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} ").into_bytes();
    r.extend_from_slice(key);
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// Builds a tar stream entry by entry. Nothing is validated: this is how the
/// hostile archives are made.
#[derive(Default, Clone)]
pub struct TarBuilder {
    buf: Vec<u8>,
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder::default()
    }

    /// A header followed by `data`, padded to a block boundary. The header's
    /// size field is whatever it says; it need not match `data`.
    pub fn entry(mut self, header: Header, data: &[u8]) -> TarBuilder {
        self.buf.extend_from_slice(&header.0);
        self.buf.extend_from_slice(data);
        pad_to_block(&mut self.buf);
        self
    }

    /// A regular file ('0').
    pub fn file(self, name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> TarBuilder {
        let data = data.as_ref();
        self.entry(Header::new(name.as_ref(), data.len() as u64, b'0'), data)
    }

    /// A regular file whose name is carried by a PAX 'x' record (any length,
    /// any bytes); the ustar name field holds `placeholder`.
    pub fn pax_file(self, path: &[u8], placeholder: &[u8], data: &[u8]) -> TarBuilder {
        self.pax(&[(b"path", path)]).file(placeholder, data)
    }

    /// A regular file whose name is carried by a GNU 'L' long-name record.
    pub fn long_name_file(self, name: &[u8], data: &[u8]) -> TarBuilder {
        let mut long = name.to_vec();
        long.push(0);
        let short = &name[..name.len().min(100)];
        self.entry(
            Header::new(b"././@LongLink", long.len() as u64, b'L'),
            &long,
        )
        .file(short, data)
    }

    /// A PAX extended header ('x') holding `records`, applying to the next entry.
    pub fn pax(self, records: &[(&[u8], &[u8])]) -> TarBuilder {
        let mut body = Vec::new();
        for (k, v) in records {
            body.extend_from_slice(&pax_record(k, v));
        }
        self.entry(Header::new(b"PaxHeaders/x", body.len() as u64, b'x'), &body)
    }

    /// A symbolic link ('2').
    pub fn symlink(self, name: &[u8], target: &[u8]) -> TarBuilder {
        self.entry(Header::new(name, 0, b'2').link(target), &[])
    }

    /// A hard link ('1').
    pub fn hardlink(self, name: &[u8], target: &[u8]) -> TarBuilder {
        self.entry(Header::new(name, 0, b'1').link(target), &[])
    }

    /// A character device ('3'), major/minor 1/3 (`/dev/null`).
    pub fn char_device(self, name: &[u8]) -> TarBuilder {
        self.entry(
            Header::new(name, 0, b'3')
                .patch(329, b"0000001\0")
                .patch(337, b"0000003\0"),
            &[],
        )
    }

    /// A directory ('5').
    pub fn dir(self, name: &[u8]) -> TarBuilder {
        self.entry(Header::new(name, 0, b'5'), &[])
    }

    /// Arbitrary bytes, not padded.
    pub fn raw(mut self, bytes: &[u8]) -> TarBuilder {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// The stream so far, without an end-of-archive marker.
    pub fn unterminated(&self) -> Vec<u8> {
        self.buf.clone()
    }

    /// The stream with the two zero blocks that end an archive.
    pub fn tar(&self) -> Vec<u8> {
        let mut t = self.buf.clone();
        t.extend_from_slice(&[0u8; 2 * BLOCK]);
        t
    }

    /// The terminated archive, gzip-compressed.
    pub fn tar_gz(&self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

/// gzip `data` (one member, level 6).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Decompress a (possibly multi-member) gzip stream.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

const MIB: usize = 1 << 20;

/// A gzip stream built from independently deflated pieces, so that a long run
/// of zeros costs one compression of 1 MiB however long it is. Each piece is
/// a fresh raw-deflate stream ended with a full flush (non-final blocks,
/// byte-aligned, no back-references into earlier pieces), so concatenating
/// pieces is one valid deflate stream; the trailer's CRC is combined, not
/// recomputed over the whole.
pub struct CheapGz {
    out: Vec<u8>,
    crc: Crc,
    zero_piece: Option<(Vec<u8>, Crc)>,
}

fn deflate_piece(data: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(9), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(64 * 1024);
        }
        c.compress_vec(&data[consumed..], &mut out, flush).unwrap();
        if c.total_in() as usize == data.len() && out.capacity() > out.len() {
            // A flush is complete once there is output room left over.
            break;
        }
    }
    out
}

impl CheapGz {
    pub fn new() -> CheapGz {
        // magic, deflate, no flags, mtime 0, no extra flags, OS unknown
        let out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        CheapGz {
            out,
            crc: Crc::new(),
            zero_piece: None,
        }
    }

    /// Append arbitrary bytes.
    pub fn bytes(&mut self, data: &[u8]) -> &mut CheapGz {
        self.out
            .extend_from_slice(&deflate_piece(data, FlushCompress::Full));
        let mut c = Crc::new();
        c.update(data);
        self.crc.combine(&c);
        self
    }

    /// Append `n` MiB of zero bytes.
    pub fn zero_mib(&mut self, n: usize) -> &mut CheapGz {
        let (piece, crc) = self.zero_piece.get_or_insert_with(|| {
            let zeros = vec![0u8; MIB];
            let mut c = Crc::new();
            c.update(&zeros);
            (deflate_piece(&zeros, FlushCompress::Full), c)
        });
        for _ in 0..n {
            self.out.extend_from_slice(piece);
            self.crc.combine(crc);
        }
        self
    }

    /// End the deflate stream and write the trailer.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.extend_from_slice(&deflate_piece(&[], FlushCompress::Finish));
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
        out
    }
}

impl Default for CheapGz {
    fn default() -> Self {
        CheapGz::new()
    }
}

/// A `.tar.gz` holding regular files of `mib` MiB of zeros each, built
/// without compressing the zeros more than once.
pub fn zero_files_tar_gz(files: &[(&[u8], usize)]) -> Vec<u8> {
    let mut gz = CheapGz::new();
    for (name, mib) in files {
        gz.bytes(&Header::new(name, (mib * MIB) as u64, b'0').0);
        gz.zero_mib(*mib);
    }
    gz.bytes(&[0u8; 2 * BLOCK]);
    gz.finish()
}

// ---------------------------------------------------------------------------
// Reading tar archives back, every field visible
// ---------------------------------------------------------------------------

/// One header block of an archive as stored.
#[derive(Clone, Debug)]
pub struct RawHeader {
    pub name_field: Vec<u8>,
    pub typeflag: u8,
    pub mode: u64,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub magic: Vec<u8>,
}

/// One file of an archive: its full name (long-name and PAX records applied)
/// and its data.
#[derive(Clone, Debug)]
pub struct TarFile {
    pub name: String,
    pub data: Vec<u8>,
    /// The header that carries the file (not the long-name record before it).
    pub header: RawHeader,
}

/// An archive read back: every header (long-name records included) and the files.
#[derive(Clone, Debug, Default)]
pub struct Archive {
    pub headers: Vec<RawHeader>,
    pub files: Vec<TarFile>,
}

impl Archive {
    pub fn names(&self) -> Vec<String> {
        self.files.iter().map(|f| f.name.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.data.as_slice())
    }
}

fn cstr(field: &[u8]) -> Vec<u8> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field[..end].to_vec()
}

fn number(field: &[u8]) -> u64 {
    if field[0] & 0x80 != 0 {
        let mut v = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v * 256 + u64::from(b);
        }
        return v;
    }
    let text: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| ('0'..='7').contains(c))
        .collect();
    if text.is_empty() {
        0
    } else {
        u64::from_str_radix(&text, 8).unwrap()
    }
}

/// Parse an uncompressed tar stream strictly (checksums verified, end marker
/// required); panics on anything malformed.
pub fn read_tar(bytes: &[u8]) -> Archive {
    let mut a = Archive::default();
    let mut at = 0;
    let mut long_name: Option<Vec<u8>> = None;
    loop {
        assert!(
            at + BLOCK <= bytes.len(),
            "archive ends without an end marker"
        );
        let h = &bytes[at..at + BLOCK];
        at += BLOCK;
        if h.iter().all(|&b| b == 0) {
            assert!(
                bytes[at..].iter().all(|&b| b == 0) && bytes.len() - at >= BLOCK,
                "end marker must be two zero blocks"
            );
            break;
        }
        let stored = number(&h[148..156]);
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        assert_eq!(stored, sum, "header checksum at offset {}", at - BLOCK);
        let header = RawHeader {
            name_field: cstr(&h[0..100]),
            typeflag: h[156],
            mode: number(&h[100..108]),
            uid: number(&h[108..116]),
            gid: number(&h[116..124]),
            size: number(&h[124..136]),
            mtime: number(&h[136..148]),
            magic: h[257..265].to_vec(),
            uname: cstr(&h[265..297]),
            gname: cstr(&h[297..329]),
        };
        let size = header.size as usize;
        let data = bytes[at..at + size].to_vec();
        at += size.div_ceil(BLOCK) * BLOCK;
        a.headers.push(header.clone());
        match header.typeflag {
            b'L' => long_name = Some(cstr(&data)),
            b'0' | 0 => {
                let name = long_name
                    .take()
                    .unwrap_or_else(|| header.name_field.clone());
                a.files.push(TarFile {
                    name: String::from_utf8(name).expect("UTF-8 name"),
                    data,
                    header,
                });
            }
            other => panic!("unexpected entry type {:?} in output", other as char),
        }
    }
    a
}

/// Read a `.tar.gz` file back.
pub fn read_tar_gz(path: &Path) -> Archive {
    read_tar(&gunzip(&std::fs::read(path).unwrap()))
}

// ---------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------

/// Names in a directory (one level), sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every regular file under `root`, as (relative path with `/`, bytes), sorted.
pub fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Write `(relative path, bytes)` files under `root`, creating directories.
pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (rel, bytes) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// The outcome of one run of `regopt`.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Raw stderr, to check for control bytes.
    pub stderr_bytes: Vec<u8>,
}

/// `s` as an argument.
pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_regopt"))
}

/// Run `regopt` with `args` and extra environment variables.
pub fn run_env<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command(cmd)
}

/// Run a prepared command and collect its outcome; a death by signal fails the test.
pub fn run_command(mut cmd: Command) -> Run {
    Run::from_output(cmd.output().expect("run regopt"))
}

/// Run `regopt` with `args`.
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_env(args, &[])
}

impl Run {
    /// The outcome of a finished `regopt` process; panics if a signal ended it.
    pub fn from_output(out: std::process::Output) -> Run {
        let code = match out.status.code() {
            Some(c) => c,
            None => panic!(
                "regopt died from a signal: {:?}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        };
        Run {
            code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stderr_bytes: out.stderr,
        }
    }

    /// Panic with the whole outcome unless the run succeeded.
    pub fn success(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "regopt failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// No panic, no abort: the failure was handled.
    pub fn assert_no_panic(&self) {
        assert_ne!(self.code, 101, "regopt panicked:\n{}", self.stderr);
        assert!(
            !self.stderr.contains("panicked"),
            "regopt panicked:\n{}",
            self.stderr
        );
        assert!(
            self.code < 128,
            "regopt was killed (code {}):\n{}",
            self.code,
            self.stderr
        );
    }
}
