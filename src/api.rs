//! The library API for embedding regopt in another program (a bundle server, a build tool).
//!
//! Every function here is a plain call: nothing is printed, nothing global is read or kept
//! (no environment variables, no current directory beyond the paths given, no caches), and
//! everything may be called from many threads at once. Work inside one call is spread over
//! rayon's thread pool.
//!
//! The steps are [`read_bundle`] (or [`read_bundle_from`] for any `Read`), [`optimize`], and
//! [`write_bundle`] (or [`write_bundle_to`] for any `Write`); [`optimize_archive`] does all
//! three on bytes in memory, and [`verify`] compares two bundles in the regorus engine.
//!
//! ```
//! use regopt::api::{self, OptimizeOptions, ReadOptions, WriteOptions};
//!
//! # fn main() -> regopt::Result<()> {
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
//! let mut bundle = api::read_bundle(dir, &ReadOptions::default())?;
//! let report = api::optimize(&mut bundle, &OptimizeOptions::default())?;
//! assert!(report.rewrites > 0);
//! let archive: Vec<u8> = api::write_bundle_to(&bundle, Vec::new(), &WriteOptions::default())?;
//! assert_eq!(&archive[..2], &[0x1f, 0x8b]); // gzip
//! # Ok(())
//! # }
//! ```

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use crate::bundle::{Bundle, OutputFormat, ReadOptions, WriteOptions};
pub use crate::error::{Error, Result};
pub use crate::pipeline::OptimizeOptions;
pub use crate::report::Report;
pub use crate::verify::{VerifyOptions, VerifyReport};

use crate::bundle::{self, read, write};

/// Read a bundle from a `.tar.gz` file or a directory, validating it as OPA's loader does.
///
/// ```
/// use regopt::api::{self, ReadOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
/// let bundle = api::read_bundle(dir, &ReadOptions::default())?;
/// assert!(bundle.files.iter().any(|f| f.path == "authz/policy.rego"));
/// # Ok(())
/// # }
/// ```
pub fn read_bundle(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Bundle> {
    bundle::read_path(path.as_ref(), opts)
}

/// Read a bundle from a gzip-compressed tar stream: a file, a socket, an HTTP body, bytes.
///
/// ```
/// use regopt::api::{self, ReadOptions, WriteOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
/// let bundle = api::read_bundle(dir, &ReadOptions::default())?;
/// let archive = api::write_bundle_to(&bundle, Vec::new(), &WriteOptions::default())?;
///
/// let again = api::read_bundle_from(&archive[..], &ReadOptions::default())?;
/// assert_eq!(again.files.len(), bundle.files.len());
/// # Ok(())
/// # }
/// ```
pub fn read_bundle_from<R: Read + Send>(reader: R, opts: &ReadOptions) -> Result<Bundle> {
    read::read_tar_gz(BufReader::with_capacity(1 << 20, reader), opts)
}

/// Build a bundle from `(name, bytes)` pairs in memory (names as in an archive:
/// `authz/policy.rego`, `/data.json`); the same checks apply as when reading an archive.
///
/// ```
/// use regopt::api::{self, ReadOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let files = vec![
///     ("data.json".to_string(), br#"{"rules": {"a": 1}}"#.to_vec()),
///     ("p.rego".to_string(), b"package p\nx := data.rules.a\n".to_vec()),
/// ];
/// let bundle = api::read_bundle_files(files, &ReadOptions::default())?;
/// assert_eq!(bundle.files.len(), 2);
/// # Ok(())
/// # }
/// ```
pub fn read_bundle_files<I>(files: I, opts: &ReadOptions) -> Result<Bundle>
where
    I: IntoIterator<Item = (String, Vec<u8>)>,
{
    read::from_entries(files, opts)
}

/// Optimize a bundle in place: run the rewrite passes (and, with
/// [`OptimizeOptions::verify`], compare the result with the original in regorus). Returns the
/// report: sizes per file kind, every rewrite and declined candidate, notes.
///
/// ```
/// use regopt::api::{self, OptimizeOptions, ReadOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
/// let mut bundle = api::read_bundle(dir, &ReadOptions::default())?;
/// let report = api::optimize(&mut bundle, &OptimizeOptions::default())?;
/// let (before, after) = report.totals();
/// assert!(after < before);
/// assert!(report.rewrites >= 5);
/// # Ok(())
/// # }
/// ```
pub fn optimize(bundle: &mut Bundle, opts: &OptimizeOptions) -> Result<Report> {
    crate::pipeline::optimize_bundle(bundle, opts)
}

/// Write a bundle to a path, atomically: a `.tar.gz`/`.tgz`/`.gz` name (or
/// [`WriteOptions::format`]) gives a deterministic archive, anything else a directory.
///
/// ```
/// use regopt::api::{self, ReadOptions, WriteOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
/// let bundle = api::read_bundle(dir, &ReadOptions::default())?;
/// let out = tempfile::tempdir().expect("temporary directory");
/// let target = out.path().join("sample.tar.gz");
/// api::write_bundle(&bundle, &target, &WriteOptions::default())?;
/// assert!(target.is_file());
/// # Ok(())
/// # }
/// ```
pub fn write_bundle(bundle: &Bundle, path: impl AsRef<Path>, opts: &WriteOptions) -> Result<()> {
    bundle::write_path(bundle, path.as_ref(), opts)
}

/// Write a bundle as a deterministic `.tar.gz` stream to any writer and give the writer back.
/// [`WriteOptions::format`] is ignored (a stream is always an archive).
///
/// ```
/// use regopt::api::{self, ReadOptions, WriteOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
/// let bundle = api::read_bundle(dir, &ReadOptions::default())?;
/// let a = api::write_bundle_to(&bundle, Vec::new(), &WriteOptions::default())?;
/// let b = api::write_bundle_to(&bundle, Vec::new(), &WriteOptions::default())?;
/// assert_eq!(a, b); // deterministic
/// # Ok(())
/// # }
/// ```
pub fn write_bundle_to<W: Write>(bundle: &Bundle, writer: W, opts: &WriteOptions) -> Result<W> {
    let entries = write::output_entries(bundle, opts)?;
    write::write_tar_gz(&entries, writer, opts.compression_level).map_err(|source| Error::Io {
        path: PathBuf::from("<output stream>"),
        source,
    })
}

/// The result of [`optimize_archive`] and [`optimize_files`].
#[derive(Debug)]
pub struct Optimized {
    /// The optimized bundle.
    pub bundle: Bundle,
    /// It as a deterministic `.tar.gz`.
    pub archive: Vec<u8>,
    /// What was done (sizes, rewrites, notes, time per stage).
    pub report: Report,
}

/// Read a `.tar.gz` bundle from bytes, optimize it and write the result as `.tar.gz` bytes.
/// Bundles that are passed through (delta bundles, compiled policy) keep their data files
/// byte for byte, as `regopt optimize` does.
///
/// ```
/// use regopt::api::{self, OptimizeOptions, ReadOptions, WriteOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
/// // The sample as an archive, its pretty-printed data.json kept as it is.
/// let keep = ReadOptions { keep_data_bytes: true, ..ReadOptions::default() };
/// let original = api::read_bundle(dir, &keep)?;
/// let input = api::write_bundle_to(&original, Vec::new(), &WriteOptions::default())?;
///
/// let out = api::optimize_archive(&input, &OptimizeOptions::default())?;
/// assert!(out.report.rewrites > 0);
/// let (before, after) = out.report.totals(); // uncompressed bytes
/// assert!(after < before);
/// assert_eq!(out.report.output_bytes, Some(out.archive.len() as u64));
/// # Ok(())
/// # }
/// ```
pub fn optimize_archive(input: &[u8], opts: &OptimizeOptions) -> Result<Optimized> {
    let t = Instant::now();
    let mut bundle = read_bundle_from(input, &opts.read)?;
    if bundle.pass_through().is_some() {
        let mut keep = opts.read.clone();
        keep.keep_data_bytes = true;
        bundle = read_bundle_from(input, &keep)?;
    }
    let read_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut out = finish(bundle, opts, read_ms)?;
    out.report.input_bytes = Some(input.len() as u64);
    Ok(out)
}

/// Like [`optimize_archive`], for a bundle given as `(name, bytes)` files (a directory read
/// into memory).
///
/// ```
/// use regopt::api::{self, OptimizeOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let files = vec![
///     ("rules/data.json".to_string(), br#"{"a": {"allow": true}}"#.to_vec()),
///     (
///         "p.rego".to_string(),
///         b"package p\nallow := object.get(data.rules, input.rule, {}).allow\n".to_vec(),
///     ),
/// ];
/// let out = api::optimize_files(files, &OptimizeOptions::default())?;
/// assert!(out.report.rewrites >= 1);
/// # Ok(())
/// # }
/// ```
pub fn optimize_files(files: Vec<(String, Vec<u8>)>, opts: &OptimizeOptions) -> Result<Optimized> {
    let t = Instant::now();
    let input_bytes: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
    let mut bundle = read::from_entries(files.iter().cloned(), &opts.read)?;
    if bundle.pass_through().is_some() {
        let mut keep = opts.read.clone();
        keep.keep_data_bytes = true;
        bundle = read::from_entries(files, &keep)?;
    }
    let read_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut out = finish(bundle, opts, read_ms)?;
    out.report.input_bytes = Some(input_bytes);
    Ok(out)
}

fn finish(mut bundle: Bundle, opts: &OptimizeOptions, read_ms: f64) -> Result<Optimized> {
    let t = Instant::now();
    let mut report = optimize(&mut bundle, opts)?;
    let pass_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let archive = write_bundle_to(&bundle, Vec::new(), &opts.write)?;
    let write_ms = t.elapsed().as_secs_f64() * 1e3;
    report.set_timings(read_ms, pass_ms, write_ms);
    report.output_bytes = Some(archive.len() as u64);
    Ok(Optimized {
        bundle,
        archive,
        report,
    })
}

/// Read `input` (archive or directory), optimize, and write `output` atomically, as
/// `regopt optimize` does.
///
/// ```
/// use regopt::api::{self, OptimizeOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
/// let out = tempfile::tempdir().expect("temporary directory");
/// let target = out.path().join("sample.opt.tar.gz");
/// let report = api::optimize_path(dir, &target, &OptimizeOptions::default())?;
/// assert_eq!(report.output_bytes, Some(std::fs::metadata(&target).unwrap().len()));
/// # Ok(())
/// # }
/// ```
pub fn optimize_path(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    opts: &OptimizeOptions,
) -> Result<Report> {
    crate::pipeline::optimize_path(input.as_ref(), output.as_ref(), opts)
}

/// Evaluate two bundles in the regorus engine on the same queries and inputs and list every
/// query/input pair whose outcome (value, undefined, error) differs.
///
/// ```
/// use regopt::api::{self, OptimizeOptions, ReadOptions, VerifyOptions};
///
/// # fn main() -> regopt::Result<()> {
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundles/sample");
/// let original = api::read_bundle(dir, &ReadOptions::default())?;
/// let mut optimized = api::read_bundle(dir, &ReadOptions::default())?;
/// api::optimize(&mut optimized, &OptimizeOptions::default())?;
///
/// let opts = VerifyOptions {
///     entrypoints: vec!["authz/allow".into(), "authz/decision".into()],
///     max_inputs: 40,
///     ..VerifyOptions::default()
/// };
/// let report = api::verify(&original, &optimized, &opts)?;
/// assert!(report.agrees(), "{}", report.render());
/// assert_eq!(report.compared, 2 * report.inputs);
/// # Ok(())
/// # }
/// ```
pub fn verify(original: &Bundle, optimized: &Bundle, opts: &VerifyOptions) -> Result<VerifyReport> {
    crate::verify::verify_bundles(original, optimized, opts)
}
