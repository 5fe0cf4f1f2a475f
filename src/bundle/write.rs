//! Writing a bundle: deterministic `.tar.gz` or a directory, always atomic.
//!
//! Entries are sorted by path and carry fixed metadata; the gzip stream is cut
//! into fixed 1 MiB pieces compressed in parallel as concatenated gzip members
//! (RFC 1952 allows several; Go's `gzip.Reader`, which OPA uses, reads them as
//! one stream). The cut points depend only on the bytes, never on the number of
//! threads, so the same input and flags give byte-identical output. Output
//! goes to a temporary file beside the target that is renamed into place only
//! when complete; on any error nothing is left behind.

use std::borrow::Cow;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use rayon::prelude::*;

use super::tar::TarWriter;
use super::{Bundle, FileKind};
use crate::error::{Error, Result};

/// Size of the independently compressed pieces of the gzip stream: small
/// enough that even a 10 MB bundle keeps both cores busy, large enough that
/// restarting the 32 KiB deflate window costs well under 1 % of the size.
const GZ_CHUNK: usize = 1 << 20;

/// Pieces compressed per parallel batch: bounds the memory held by the
/// writer; has no effect on the output bytes.
fn gz_batch() -> usize {
    (rayon::current_num_threads() * 2).max(2)
}

/// The shape of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// A gzip-compressed tar archive, as `opa build` writes.
    TarGz,
    /// A directory tree, as `opa run -b DIR` reads.
    Dir,
}

impl OutputFormat {
    /// `.tar.gz`, `.tgz` and `.gz` targets are archives; anything else is a directory.
    pub fn infer(path: &Path) -> OutputFormat {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".gz") {
            OutputFormat::TarGz
        } else {
            OutputFormat::Dir
        }
    }
}

/// How to write.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// gzip level 0–9 (default 6, as `opa build`).
    pub compression_level: u32,
    /// Write all data as one `/data.json` (as `opa build` does) instead of
    /// keeping the input's data files.
    pub merge_data: bool,
    /// Archive or directory; inferred from the target name when `None`.
    pub format: Option<OutputFormat>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression_level: 6,
            merge_data: false,
            format: None,
        }
    }
}

/// The files to write, sorted by path: `(archive name, bytes)`.
pub fn output_entries<'b>(
    bundle: &'b Bundle,
    opts: &WriteOptions,
) -> Result<Vec<(String, Cow<'b, [u8]>)>> {
    let mut out: Vec<(String, String, Cow<'b, [u8]>)> = Vec::new();
    for f in &bundle.files {
        if opts.merge_data && matches!(f.kind, FileKind::DataJson | FileKind::DataYaml) {
            continue;
        }
        out.push((f.path.clone(), f.name.clone(), Cow::Borrowed(&f.bytes)));
    }
    if opts.merge_data {
        let tree = bundle.data_tree()?;
        let mut merged = Vec::new();
        tree.write_merged(&mut merged);
        out.push(("data.json".into(), "/data.json".into(), Cow::Owned(merged)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out
        .into_iter()
        .map(|(_, name, bytes)| (name, bytes))
        .collect())
}

/// Write the bundle to `target` atomically, as an archive or a directory.
pub fn write_path(bundle: &Bundle, target: &Path, opts: &WriteOptions) -> Result<()> {
    let format = opts.format.unwrap_or_else(|| OutputFormat::infer(target));
    let entries = output_entries(bundle, opts)?;
    match format {
        OutputFormat::TarGz => write_archive_file(&entries, target, opts.compression_level),
        OutputFormat::Dir => write_directory(&entries, target),
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn write_archive_file(
    entries: &[(String, Cow<'_, [u8]>)],
    target: &Path,
    level: u32,
) -> Result<()> {
    if target.is_dir() {
        return Err(Error::Output {
            path: target.to_path_buf(),
            problem: "is a directory; an archive cannot replace it".into(),
        });
    }
    let parent = parent_of(target);
    let tmp = tempfile::Builder::new()
        .prefix(".regopt-")
        .suffix(".tmp")
        .tempfile_in(&parent)
        .map_err(io_err(&parent))?;
    {
        let file = io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        let file = write_tar_gz(entries, file, level).map_err(io_err(target))?;
        file.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .map_err(io_err(target))?;
    }
    set_mode(tmp.path(), 0o644).map_err(io_err(tmp.path()))?;
    tmp.persist(target).map_err(|e| Error::Io {
        path: target.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Write entries as a deterministic `.tar.gz` stream to `w`.
pub fn write_tar_gz<W: Write>(
    entries: &[(String, Cow<'_, [u8]>)],
    w: W,
    level: u32,
) -> io::Result<W> {
    let gz = ParallelGz::new(w, level);
    let mut tar = TarWriter::new(gz);
    for (name, bytes) in entries {
        tar.append_file(name.as_bytes(), bytes)?;
    }
    tar.finish()?.finish()
}

fn write_directory(entries: &[(String, Cow<'_, [u8]>)], target: &Path) -> Result<()> {
    if target.exists() && !target.is_dir() {
        return Err(Error::Output {
            path: target.to_path_buf(),
            problem: "exists and is not a directory".into(),
        });
    }
    let parent = parent_of(target);
    let tmp = tempfile::Builder::new()
        .prefix(".regopt-")
        .suffix(".tmp")
        .tempdir_in(&parent)
        .map_err(io_err(&parent))?;
    for (name, bytes) in entries {
        let rel = name.trim_start_matches('/');
        let path = tmp.path().join(rel);
        // Errors name the file at the target, not in the temporary tree
        // that is removed on failure.
        let shown = target.join(rel);
        if let Some(dir) = path.parent() {
            let shown_dir = shown.parent().unwrap_or(target);
            fs::create_dir_all(dir).map_err(io_err(shown_dir))?;
        }
        fs::write(&path, bytes).map_err(io_err(&shown))?;
    }
    set_mode(tmp.path(), 0o755).map_err(io_err(tmp.path()))?;
    if target.exists() {
        // Swap: move the old tree aside, move the new one in, then delete
        // the old one. A crash in between leaves both trees on disk, never a
        // half-written one at the target.
        let old = tempfile::Builder::new()
            .prefix(".regopt-old-")
            .tempdir_in(&parent)
            .map_err(io_err(&parent))?;
        let aside = old.path().join("previous");
        fs::rename(target, &aside).map_err(io_err(target))?;
        if let Err(source) = fs::rename(tmp.path(), target) {
            let _ = fs::rename(&aside, target);
            return Err(Error::Io {
                path: target.to_path_buf(),
                source,
            });
        }
        let _ = tmp.keep();
        drop(old); // removes the previous tree
    } else {
        fs::rename(tmp.path(), target).map_err(io_err(target))?;
        let _ = tmp.keep();
    }
    Ok(())
}

/// A gzip writer that compresses fixed-size pieces in parallel, each as its
/// own gzip member with a fixed header (no name, mtime 0, OS 255).
pub struct ParallelGz<W: Write> {
    inner: W,
    level: u32,
    current: Vec<u8>,
    full: Vec<Vec<u8>>,
}

impl<W: Write> ParallelGz<W> {
    /// Compress into `inner` at `level` (0–9).
    pub fn new(inner: W, level: u32) -> Self {
        ParallelGz {
            inner,
            level: level.min(9),
            current: Vec::with_capacity(GZ_CHUNK),
            full: Vec::new(),
        }
    }

    fn flush_batch(&mut self) -> io::Result<()> {
        let level = self.level;
        let compressed: Vec<io::Result<Vec<u8>>> = self
            .full
            .par_iter()
            .map(|c| gzip_member(c, level))
            .collect();
        for c in compressed {
            self.inner.write_all(&c?)?;
        }
        self.full.clear();
        Ok(())
    }

    /// Compress what is left and give back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.current.is_empty() || self.full.is_empty() {
            let last = std::mem::take(&mut self.current);
            self.full.push(last);
        }
        self.flush_batch()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

fn gzip_member(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let mut enc = GzBuilder::new().mtime(0).operating_system(255).write(
        Vec::with_capacity(data.len() / 3 + 64),
        Compression::new(level),
    );
    enc.write_all(data)?;
    enc.finish()
}

impl<W: Write> Write for ParallelGz<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let n = buf.len();
        while !buf.is_empty() {
            let room = GZ_CHUNK - self.current.len();
            let take = room.min(buf.len());
            self.current.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.current.len() == GZ_CHUNK {
                let full = std::mem::replace(&mut self.current, Vec::with_capacity(GZ_CHUNK));
                self.full.push(full);
                if self.full.len() >= gz_batch() {
                    self.flush_batch()?;
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Pieces are cut by size only; flushing early would change the output.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn parallel_gzip_is_one_readable_stream_and_deterministic() {
        let data: Vec<u8> = (0..(GZ_CHUNK * 2 + 1000))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut a = ParallelGz::new(Vec::new(), 6);
        a.write_all(&data).unwrap();
        let a = a.finish().unwrap();
        let mut b = ParallelGz::new(Vec::new(), 6);
        for piece in data.chunks(777) {
            b.write_all(piece).unwrap();
        }
        let b = b.finish().unwrap();
        assert_eq!(a, b, "output must not depend on write sizes");
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&a[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // fixed header: no mtime, OS 255
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[9], 255);
    }
}
