//! Reading a bundle from a `.tar.gz` or a directory, with OPA's rules and
//! regopt's safety limits.
//!
//! Entries are read into memory, never unpacked. Names are checked before
//! anything else (no `..`, NUL, empty components, links or devices), sizes are
//! checked against the limits before any data is buffered, and the whole
//! decompressed stream is bounded, so a gzip bomb is refused early. Data files
//! are compacted in parallel while the archive is still being read.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Mutex;

use flate2::bufread::MultiGzDecoder;

use super::manifest::{roots_contain, Manifest};
use super::tar::{EntryType, TarError, TarReader};
use super::{package, Bundle, BundleFile, FileKind};
use crate::data::json;
use crate::error::{Error, Result};

/// Default per-file size limit: OPA's `DefaultSizeLimitBytes` (1 GiB).
pub const DEFAULT_SIZE_LIMIT: u64 = 1 << 30;
/// Default limit on the total uncompressed size of a bundle (4 GiB).
pub const DEFAULT_MAX_TOTAL_SIZE: u64 = 4 << 30;
/// Default limit on the number of archive entries.
pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

/// Limits and switches for reading a bundle.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Largest size of one file, in bytes (OPA's `size_limit_bytes`).
    pub size_limit: u64,
    /// Largest total uncompressed size (all entries, headers included).
    pub max_total_size: u64,
    /// Largest number of archive entries (directories included).
    pub max_entries: u64,
    /// JSON nesting limit for data files and the manifest.
    pub json: json::Limits,
    /// Keep `data.json` bytes as read (validated, with a compact copy for
    /// analysis) instead of replacing them by their compact form.
    pub keep_data_bytes: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            size_limit: DEFAULT_SIZE_LIMIT,
            max_total_size: DEFAULT_MAX_TOTAL_SIZE,
            max_entries: DEFAULT_MAX_ENTRIES,
            json: json::Limits::default(),
            keep_data_bytes: false,
        }
    }
}

/// `data.json` files at least this large are stripped of whitespace while
/// they are read ([`crate::data::strip`]), so a pretty-printed file is never
/// held at its full size. Smaller ones are read whole and compacted on the
/// thread pool.
const STRIP_MIN: u64 = 1 << 20;

/// How a read ended. Stripping while reading moves the positions of JSON
/// errors (they are found in the stripped text), so a read that strips and
/// meets invalid JSON in a stripped file asks to be done again without
/// stripping, which reports the error at its place in the file.
#[allow(clippy::large_enum_variant)] // one value per read, returned at once
enum Outcome {
    Done(Result<Bundle>),
    Relocate,
}

/// Read a bundle from a directory or a `.tar.gz` file.
///
/// Large `data.json` files are stripped of whitespace while they are read;
/// when one of them is invalid, the bundle is read again without stripping so
/// that the error names its exact line and column.
pub fn read_path(path: &Path, opts: &ReadOptions) -> Result<Bundle> {
    let meta = fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let read = |strip: bool| {
        if meta.is_dir() {
            read_dir_with(path, opts, strip)
        } else {
            match fs::File::open(path) {
                Ok(file) => {
                    read_tar_gz_with(BufReader::with_capacity(256 << 10, file), opts, strip)
                }
                Err(source) => Outcome::Done(Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })),
            }
        }
    };
    match read(true) {
        Outcome::Done(r) => r,
        Outcome::Relocate => match read(false) {
            Outcome::Done(r) => r,
            Outcome::Relocate => unreachable!("a read without stripping never relocates"),
        },
    }
}

/// A reader that refuses to yield more than `limit` bytes in total.
struct Bounded<R> {
    inner: R,
    read: u64,
    limit: u64,
}

/// Marker carried inside an `io::Error` when [`Bounded`] trips.
#[derive(Debug)]
struct OverLimit;
impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("total size limit exceeded")
    }
}
impl std::error::Error for OverLimit {}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(OverLimit));
        }
        Ok(n)
    }
}

fn archive_error(e: TarError, limit: u64) -> Error {
    match e {
        TarError::Truncated(what) => Error::CorruptArchive {
            detail: format!("truncated archive (stream ends inside {what})"),
        },
        TarError::BadHeader(d) => Error::CorruptArchive {
            detail: format!("invalid tar header: {d}"),
        },
        TarError::BadExtension(d) => Error::CorruptArchive {
            detail: format!("invalid tar extension record: {d}"),
        },
        TarError::Io(e) => io_archive_error(e, limit),
    }
}

fn io_archive_error(e: io::Error, limit: u64) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<OverLimit>()) {
        return Error::TotalTooLarge { limit };
    }
    let detail = match e.kind() {
        io::ErrorKind::UnexpectedEof => "truncated gzip stream".to_string(),
        _ => format!("invalid gzip data: {e}"),
    };
    Error::CorruptArchive { detail }
}

/// Read a bundle from a gzip-compressed tar stream.
///
/// The stream cannot be read twice, so data files are read whole (see
/// [`read_path`], which strips large ones while reading).
pub fn read_tar_gz<R: io::BufRead + Send>(input: R, opts: &ReadOptions) -> Result<Bundle> {
    match read_tar_gz_with(input, opts, false) {
        Outcome::Done(r) => r,
        Outcome::Relocate => unreachable!("a read without stripping never relocates"),
    }
}

fn read_tar_gz_with<R: io::BufRead + Send>(input: R, opts: &ReadOptions, strip: bool) -> Outcome {
    let limit = opts.max_total_size;
    let gz = MultiGzDecoder::new(input);
    let bounded = Bounded {
        inner: gz,
        read: 0,
        limit,
    };
    let mut tar = TarReader::new(bounded);
    let collector = Collector::new(opts);
    let mut entries: u64 = 0;
    let mut total: u64 = 0;
    let scanned = rayon::scope(|scope| -> Result<()> {
        loop {
            let entry = match tar.next_entry() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => return Err(archive_error(e, limit)),
            };
            entries += 1;
            if entries > opts.max_entries {
                return Err(Error::TooManyEntries {
                    limit: opts.max_entries,
                });
            }
            let raw_name =
                String::from_utf8(entry.name.clone()).map_err(|_| Error::UnsafeEntry {
                    entry: String::from_utf8_lossy(&entry.name).into_owned(),
                    problem: "name is not valid UTF-8".into(),
                })?;
            match entry.kind {
                EntryType::Directory => {
                    normalize(raw_name.trim_end_matches('/'), true)?;
                    continue;
                }
                EntryType::File => {}
                EntryType::Symlink => {
                    return Err(unsafe_entry(
                        &raw_name,
                        "symbolic links are not allowed in a bundle",
                    ))
                }
                EntryType::HardLink => {
                    return Err(unsafe_entry(
                        &raw_name,
                        "hard links are not allowed in a bundle",
                    ))
                }
                EntryType::Device => {
                    return Err(unsafe_entry(
                        &raw_name,
                        "device and FIFO entries are not allowed in a bundle",
                    ))
                }
                EntryType::Other(t) => {
                    return Err(unsafe_entry(
                        &raw_name,
                        &format!(
                            "unsupported tar entry type '{}'",
                            char::from(t).escape_default()
                        ),
                    ))
                }
            }
            let path = normalize(&raw_name, false)?;
            if entry.size > opts.size_limit {
                return Err(Error::FileTooLarge {
                    file: path,
                    size: entry.size,
                    limit: opts.size_limit,
                });
            }
            total = total.saturating_add(entry.size);
            if total > limit {
                return Err(Error::TotalTooLarge { limit });
            }
            collector.claim(&path, &raw_name)?;
            let stripped = strip && collector.strips(&path, entry.size);
            let read = if stripped {
                tar.read_data_stripped(entry.size)
            } else {
                tar.read_data(entry.size)
            };
            let bytes = read.map_err(|e| match e {
                TarError::Truncated(_) => Error::CorruptArchive {
                    detail: format!(
                        "truncated tar entry '{raw_name}' (stream ends inside its data)"
                    ),
                },
                e => archive_error(e, limit),
            })?;
            collector.spawn(scope, path, raw_name, bytes, entry.size, stripped);
        }
        // Read the rest of the stream so that the gzip trailer (CRC, length)
        // is verified; still bounded by the total limit.
        io::copy(tar.inner_mut(), &mut io::sink()).map_err(|e| io_archive_error(e, limit))?;
        Ok(())
    });
    if let Err(e) = scanned {
        return Outcome::Done(Err(e));
    }
    collector.finish()
}

/// Read a bundle from a directory tree.
pub fn read_dir(root: &Path, opts: &ReadOptions) -> Result<Bundle> {
    match read_dir_with(root, opts, false) {
        Outcome::Done(r) => r,
        Outcome::Relocate => unreachable!("a read without stripping never relocates"),
    }
}

fn read_dir_with(root: &Path, opts: &ReadOptions, strip: bool) -> Outcome {
    let mut found = Vec::new();
    if let Err(e) = walk(root, root, &mut found, opts, &mut 0) {
        return Outcome::Done(Err(e));
    }
    found.sort();
    let collector = Collector::new(opts);
    let mut total: u64 = 0;
    let scanned = rayon::scope(|scope| -> Result<()> {
        for (rel, listed) in found {
            let full = root.join(&rel);
            let io_error = |source| Error::Io {
                path: full.clone(),
                source,
            };
            let stripped = strip && collector.strips(&rel, listed);
            let (bytes, size) = if stripped {
                let file = fs::File::open(&full).map_err(io_error)?;
                // Bounded by the size limit, even if the file grew since it was listed.
                let mut bytes = Vec::with_capacity(usize::try_from(listed).unwrap_or(0));
                let size = crate::data::strip::strip_reader(
                    file.take(opts.size_limit.saturating_add(1)),
                    &mut bytes,
                )
                .map_err(io_error)?;
                (bytes, size)
            } else {
                let bytes = fs::read(&full).map_err(io_error)?;
                let size = bytes.len() as u64;
                (bytes, size)
            };
            if size > opts.size_limit {
                return Err(Error::FileTooLarge {
                    file: rel,
                    size,
                    limit: opts.size_limit,
                });
            }
            total += size;
            if total > opts.max_total_size {
                return Err(Error::TotalTooLarge {
                    limit: opts.max_total_size,
                });
            }
            collector.claim(&rel, &rel)?;
            collector.spawn(scope, rel.clone(), rel, bytes, size, stripped);
        }
        Ok(())
    });
    if let Err(e) = scanned {
        return Outcome::Done(Err(e));
    }
    collector.finish()
}

/// Collects the regular files below `dir` as (path relative to `root`, size when listed).
fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, u64)>,
    opts: &ReadOptions,
    count: &mut u64,
) -> Result<()> {
    let rd = fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for item in rd {
        let item = item.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = item.path();
        let rel_os = path.strip_prefix(root).unwrap_or(&path);
        let rel = rel_os
            .to_str()
            .ok_or_else(|| unsafe_entry(&rel_os.to_string_lossy(), "name is not valid UTF-8"))?
            .replace(std::path::MAIN_SEPARATOR, "/");
        *count += 1;
        if *count > opts.max_entries {
            return Err(Error::TooManyEntries {
                limit: opts.max_entries,
            });
        }
        let meta = fs::symlink_metadata(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            return Err(unsafe_entry(
                &rel,
                "symbolic links are not allowed in a bundle",
            ));
        } else if ft.is_dir() {
            walk(root, &path, out, opts, count)?;
        } else if ft.is_file() {
            if meta.len() > opts.size_limit {
                return Err(Error::FileTooLarge {
                    file: rel,
                    size: meta.len(),
                    limit: opts.size_limit,
                });
            }
            out.push((rel, meta.len()));
        } else {
            return Err(unsafe_entry(
                &rel,
                "device, FIFO and socket files are not allowed in a bundle",
            ));
        }
    }
    Ok(())
}

fn unsafe_entry(name: &str, problem: &str) -> Error {
    Error::UnsafeEntry {
        entry: name.to_string(),
        problem: problem.to_string(),
    }
}

/// Turn an archive name into a bundle path: a leading `/` (as `opa build`
/// writes) and leading `./` are accepted; `..`, `.`, empty components and NUL
/// bytes are refused.
pub fn normalize(name: &str, is_dir: bool) -> Result<String> {
    if name.contains('\0') {
        return Err(unsafe_entry(name, "name contains a NUL byte"));
    }
    let mut rest = name.trim_start_matches('/');
    while let Some(r) = rest.strip_prefix("./") {
        rest = r.trim_start_matches('/');
    }
    if rest.is_empty() || rest == "." {
        if is_dir {
            return Ok(String::new());
        }
        return Err(unsafe_entry(name, "empty file name"));
    }
    for comp in rest.split('/') {
        match comp {
            "" => return Err(unsafe_entry(name, "name has an empty path component")),
            ".." => return Err(unsafe_entry(name, "name escapes the bundle with '..'")),
            "." => return Err(unsafe_entry(name, "name has a '.' path component")),
            _ => {}
        }
    }
    Ok(rest.to_string())
}

/// Bytes of files read but not processed yet that may be in flight on the pool while the next
/// file is read. A file that would exceed it is processed by the reading thread itself, so the
/// reader holds at most this much unprocessed data besides the file it is working on: on a
/// 15 MB bundle whose largest data file is 11 MB, reading the next file while that one is
/// compacted raised peak memory from 1.35× to 1.75× the data size.
const IN_FLIGHT_BUDGET: usize = 8 << 20;

/// Gathers files as they are read and processes each on the rayon pool.
struct Collector<'o> {
    opts: &'o ReadOptions,
    seen: Mutex<HashMap<String, String>>,
    done: Mutex<Vec<Result<BundleFile>>>,
    in_flight: std::sync::atomic::AtomicUsize,
    /// A file stripped while read turned out not to be valid JSON.
    strip_failed: std::sync::atomic::AtomicBool,
}

impl<'o> Collector<'o> {
    fn new(opts: &'o ReadOptions) -> Self {
        Collector {
            opts,
            seen: Mutex::new(HashMap::new()),
            done: Mutex::new(Vec::new()),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            strip_failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn claim(&self, path: &str, name: &str) -> Result<()> {
        let mut seen = self.seen.lock().expect("collector lock");
        if let Some(first) = seen.get(path) {
            return Err(Error::DuplicateEntry {
                entry: name.to_string(),
                first: first.clone(),
            });
        }
        seen.insert(path.to_string(), name.to_string());
        Ok(())
    }

    /// Whether the file at `path`, of `size` bytes, is to be stripped of
    /// whitespace while it is read.
    fn strips(&self, path: &str, size: u64) -> bool {
        size >= STRIP_MIN && !self.opts.keep_data_bytes && FileKind::of(path) == FileKind::DataJson
    }

    /// Processes a file read as `bytes` (stripped of whitespace while read
    /// if `stripped`), `original_size` bytes long in the bundle.
    fn spawn<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        path: String,
        name: String,
        bytes: Vec<u8>,
        original_size: u64,
        stripped: bool,
    ) {
        use std::sync::atomic::Ordering;
        let size = bytes.len();
        let record = move |r: Result<BundleFile>| {
            if stripped && matches!(r, Err(Error::Json { .. })) {
                self.strip_failed.store(true, Ordering::Release);
            }
            self.done.lock().expect("collector lock").push(r);
        };
        let busy = self.in_flight.load(Ordering::Acquire);
        if busy.saturating_add(size) > IN_FLIGHT_BUDGET {
            // Process it here: the next file is read only when this one is done.
            record(process(path, name, bytes, original_size, self.opts));
            return;
        }
        self.in_flight.fetch_add(size, Ordering::AcqRel);
        scope.spawn(move |_| {
            let r = process(path, name, bytes, original_size, self.opts);
            self.in_flight.fetch_sub(size, Ordering::AcqRel);
            record(r);
        });
    }

    fn finish(self) -> Outcome {
        if self.strip_failed.load(std::sync::atomic::Ordering::Acquire) {
            return Outcome::Relocate;
        }
        Outcome::Done(self.collect())
    }

    fn collect(self) -> Result<Bundle> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for r in self.done.into_inner().expect("collector lock") {
            match r {
                Ok(f) => files.push(f),
                Err(e) => errors.push(e),
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        if !errors.is_empty() {
            // Deterministic: report the error of the first file by path.
            errors.sort_by_key(|e| e.to_string());
            return Err(errors.swap_remove(0));
        }
        assemble(files, &self.opts.json)
    }
}

/// Validate and convert one file according to its kind.
fn process(
    path: String,
    name: String,
    bytes: Vec<u8>,
    original_size: u64,
    opts: &ReadOptions,
) -> Result<BundleFile> {
    let kind = FileKind::of(&path);
    let mut file = BundleFile {
        path,
        name,
        kind,
        bytes: Vec::new(),
        original_size,
        compact_json: None,
    };
    match kind {
        FileKind::DataJson => {
            let json_error = |error| Error::Json {
                file: file.path.clone(),
                error,
            };
            if opts.keep_data_bytes {
                let mut out = Vec::with_capacity(bytes.len());
                json::compact(&bytes, &opts.json, &mut out).map_err(json_error)?;
                out.shrink_to_fit();
                file.compact_json = Some(out);
                file.bytes = bytes;
            } else {
                // In place, so the file is never held twice (raw and compact).
                let mut bytes = bytes;
                json::compact_in_place(&mut bytes, &opts.json).map_err(json_error)?;
                bytes.shrink_to_fit();
                file.bytes = bytes;
            }
        }
        FileKind::DataYaml => {
            let j = crate::data::yaml::to_json(&bytes, &opts.json).map_err(|message| {
                if message.contains("recursion limit exceeded") {
                    Error::YamlTooDeep {
                        file: file.path.clone(),
                    }
                } else {
                    Error::Yaml {
                        file: file.path.clone(),
                        message,
                    }
                }
            })?;
            file.compact_json = Some(j);
            file.bytes = bytes;
        }
        FileKind::Module => {
            if let Err(e) = std::str::from_utf8(&bytes) {
                return Err(Error::InvalidModule {
                    file: file.path.clone(),
                    problem: format!(
                        "module is not valid UTF-8 (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                });
            }
            file.bytes = bytes;
        }
        _ => file.bytes = bytes,
    }
    Ok(file)
}

/// Build a [`Bundle`] from processed files: manifest, data merge, roots.
pub(crate) fn assemble(files: Vec<BundleFile>, limits: &json::Limits) -> Result<Bundle> {
    let mut manifest: Option<Manifest> = None;
    for f in files.iter().filter(|f| f.kind == FileKind::Manifest) {
        if let Some(m) = &manifest {
            return Err(Error::SecondManifest {
                first: m.path.clone(),
                second: f.path.clone(),
            });
        }
        manifest = Some(Manifest::parse_with_limits(&f.path, &f.bytes, limits)?);
    }
    let bundle = Bundle { files, manifest };
    let tree = bundle.data_tree()?;
    if let Some(m) = &bundle.manifest {
        tree.check_roots(&m.roots, &m.roots_display())?;
        for f in bundle.files_of(FileKind::Module) {
            let text = std::str::from_utf8(&f.bytes).unwrap_or_default();
            if let Some(pkg) = package::package_path(text) {
                let p = pkg.join("/");
                if !roots_contain(&m.roots, &p) {
                    return Err(Error::PackageOutsideRoots {
                        file: f.path.clone(),
                        roots: m.roots_display(),
                        package: pkg.join("."),
                    });
                }
            }
        }
    }
    drop(tree);
    Ok(bundle)
}

/// Build a bundle from in-memory `(name, bytes)` pairs, as tests and
/// embedders do; the same checks as reading an archive apply.
pub fn from_entries<I>(entries: I, opts: &ReadOptions) -> Result<Bundle>
where
    I: IntoIterator<Item = (String, Vec<u8>)>,
{
    let collector = Collector::new(opts);
    let mut processed = Vec::new();
    for (name, bytes) in entries {
        let path = normalize(&name, false)?;
        if bytes.len() as u64 > opts.size_limit {
            return Err(Error::FileTooLarge {
                file: path,
                size: bytes.len() as u64,
                limit: opts.size_limit,
            });
        }
        collector.claim(&path, &name)?;
        let size = bytes.len() as u64;
        processed.push(process(path, name, bytes, size, opts));
    }
    *collector.done.lock().expect("collector lock") = processed;
    collector.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(normalize("/data.json", false).unwrap(), "data.json");
        assert_eq!(normalize("./a/data.json", false).unwrap(), "a/data.json");
        assert!(normalize("../x", false).is_err());
        assert!(normalize("/../x", false).is_err());
        assert!(normalize("a//b", false).is_err());
        assert!(normalize("a/./b", false).is_err());
        assert!(normalize("a\0b", false).is_err());
        assert!(normalize("", false).is_err());
    }

    fn entries(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(n, c)| (n.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn data_conflicts_name_both_files() {
        let e = from_entries(
            entries(&[("data.json", r#"{"a":{"b":1}}"#), ("a/b/data.json", "2")]),
            &ReadOptions::default(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("data.json") && msg.contains("a/b/data.json") && msg.contains("a.b"),
            "{msg}"
        );
    }

    #[test]
    fn objects_merge_across_files() {
        let b = from_entries(
            entries(&[
                ("data.json", r#"{"a":{"x":1}}"#),
                ("a/data.json", r#"{"y":2}"#),
            ]),
            &ReadOptions::default(),
        )
        .unwrap();
        let tree = b.data_tree().unwrap();
        assert!(tree.get(&["a".into(), "x".into()]).is_some());
        assert!(tree.get(&["a".into(), "y".into()]).is_some());
    }

    #[test]
    fn roots_are_enforced() {
        let e = from_entries(
            entries(&[(".manifest", r#"{"roots":["a"]}"#), ("b/data.json", "1")]),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::DataOutsideRoots { .. }), "{e}");
        let e = from_entries(
            entries(&[
                (".manifest", r#"{"roots":["a"]}"#),
                ("x.rego", "package b\n"),
            ]),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::PackageOutsideRoots { .. }), "{e}");
        assert!(from_entries(
            entries(&[
                (".manifest", r#"{"roots":["a/b"]}"#),
                ("data.json", r#"{"a":{"b":{"c":1}}}"#)
            ]),
            &ReadOptions::default(),
        )
        .is_ok());
    }

    #[test]
    fn root_data_must_be_object() {
        let e =
            from_entries(entries(&[("data.json", "[1]")]), &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::RootNotObject { .. }), "{e}");
    }

    #[test]
    fn duplicates_after_normalisation() {
        let e = from_entries(
            entries(&[("/data.json", "{}"), ("data.json", "{}")]),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::DuplicateEntry { .. }), "{e}");
    }
}
