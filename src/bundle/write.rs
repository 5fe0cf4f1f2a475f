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

use super::tar::stream_pieces;
use super::{Bundle, FileKind};
use crate::error::{Error, Result};

/// Size of the independently compressed pieces of the gzip stream: small
/// enough that even a 10 MB bundle keeps both cores busy, large enough that
/// restarting the 32 KiB deflate window costs well under 1 % of the size.
const GZ_CHUNK: usize = 1 << 20;

/// Pieces compressed per parallel batch, one per thread: bounds the memory
/// held by the writer (each piece held is 1 MiB); has no effect on the output
/// bytes.
fn gz_batch() -> usize {
    rayon::current_num_threads().max(1)
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
        // Compressed pieces are written whole; the buffer only gathers tar
        // headers and the small last piece.
        let file = io::BufWriter::with_capacity(64 << 10, tmp.as_file());
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
    let pieces = stream_pieces(entries.iter().map(|(n, b)| (n.as_bytes(), &b[..])));
    parallel_gzip(&pieces, w, level)
}

/// Compresses the concatenation of `pieces` into `w` as gzip members of
/// [`GZ_CHUNK`] input bytes each (the last one shorter), compressed in
/// parallel batches of [`gz_batch`] and written in order. The chunks are
/// slices of the pieces, never copied together: the only memory the writer
/// holds is the compressed output of one batch.
pub fn parallel_gzip<W: Write>(pieces: &[Cow<'_, [u8]>], mut w: W, level: u32) -> io::Result<W> {
    let level = level.min(9);
    let chunks = cut_chunks(pieces);
    for batch in chunks.chunks(gz_batch()) {
        let compressed: Vec<io::Result<Vec<u8>>> =
            batch.par_iter().map(|c| gzip_member(c, level)).collect();
        for c in compressed {
            w.write_all(&c?)?;
        }
    }
    w.flush()?;
    Ok(w)
}

/// The stream `pieces` cut into chunks of [`GZ_CHUNK`] bytes, each a list of
/// slices; at least one chunk (empty for an empty stream).
fn cut_chunks<'p>(pieces: &'p [Cow<'_, [u8]>]) -> Vec<Vec<&'p [u8]>> {
    let mut chunks = vec![Vec::new()];
    let mut room = GZ_CHUNK;
    for piece in pieces {
        let mut rest: &[u8] = piece;
        while !rest.is_empty() {
            if room == 0 {
                chunks.push(Vec::new());
                room = GZ_CHUNK;
            }
            let take = room.min(rest.len());
            chunks.last_mut().expect("one chunk").push(&rest[..take]);
            rest = &rest[take..];
            room -= take;
        }
    }
    chunks
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

/// Input is handed to the compressor in blocks of this size, counted from the
/// start of its chunk: the deflate output depends on how its input is split
/// into writes, and this makes the split depend on the bytes only, not on
/// where one file ends and the next begins.
const GZ_BLOCK: usize = 64 << 10;

/// One gzip member with a fixed header (no name, mtime 0, OS 255) holding
/// the concatenation of `slices`.
fn gzip_member(slices: &[&[u8]], level: u32) -> io::Result<Vec<u8>> {
    let len: usize = slices.iter().map(|s| s.len()).sum();
    let mut enc = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::with_capacity(len / 3 + 64), Compression::new(level));
    let mut block = Vec::with_capacity(GZ_BLOCK.min(len));
    for s in slices {
        let mut rest = *s;
        while !rest.is_empty() {
            let take = (GZ_BLOCK - block.len()).min(rest.len());
            block.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if block.len() == GZ_BLOCK {
                enc.write_all(&block)?;
                block.clear();
            }
        }
    }
    enc.write_all(&block)?;
    enc.finish()
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
        let whole = parallel_gzip(&[Cow::Borrowed(&data[..])], Vec::new(), 6).unwrap();
        // The same stream split into pieces at other places (not at chunk
        // boundaries) compresses to the same bytes.
        let split: Vec<Cow<'_, [u8]>> = data.chunks(777).map(Cow::Borrowed).collect();
        let b = parallel_gzip(&split, Vec::new(), 6).unwrap();
        assert_eq!(
            whole, b,
            "output must not depend on how the stream is split"
        );
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&whole[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // three members, each with the fixed header: no mtime, OS 255
        assert_eq!(&whole[4..8], &[0, 0, 0, 0]);
        assert_eq!(whole[9], 255);
        let members = whole
            .windows(4)
            .filter(|w| w == &[0x1f, 0x8b, 8, 0])
            .count();
        assert!(members >= 3, "expected one gzip member per 1 MiB chunk");
    }

    #[test]
    fn chunks_are_cut_at_fixed_offsets() {
        let a = vec![1u8; GZ_CHUNK - 10];
        let b = [2u8; 20];
        let pieces = [Cow::Borrowed(&a[..]), Cow::Borrowed(&b[..])];
        let chunks = cut_chunks(&pieces);
        let lens: Vec<usize> = chunks
            .iter()
            .map(|c| c.iter().map(|s| s.len()).sum())
            .collect();
        assert_eq!(lens, vec![GZ_CHUNK, 10]);
        assert_eq!(
            cut_chunks(&[]).len(),
            1,
            "an empty stream is one empty member"
        );
    }
}
