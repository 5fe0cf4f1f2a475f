//! The fixed optimize pipeline: read → passes → write, with the report.

use std::path::Path;
use std::time::Instant;

use crate::bundle::{self, Bundle, FileKind, ReadOptions, WriteOptions};
use crate::error::{Error, Result};
use crate::report::{Report, StageTime};

/// Everything `optimize` can be asked to do.
#[derive(Clone, Debug, Default)]
pub struct OptimizeOptions {
    /// Reading limits.
    pub read: ReadOptions,
    /// Output shape.
    pub write: WriteOptions,
    /// Remove `.signatures.json` when the optimized bundle would no longer
    /// match it, instead of refusing.
    pub drop_signatures: bool,
}

/// Optimize a bundle in memory. Returns the report; `bundle` is changed in place.
pub fn optimize_bundle(bundle: &mut Bundle, opts: &OptimizeOptions) -> Result<Report> {
    let mut report = Report::default();
    if let Some(p) = bundle.pass_through() {
        report.pass_through = Some(p.reason().to_string());
        report.record_sizes(bundle);
        return Ok(report);
    }
    // Rewrite passes plug in here; they report the module paths they changed.
    let changed_modules: Vec<String> = Vec::new();
    check_signatures(bundle, &changed_modules, opts, &mut report)?;
    report.record_sizes(bundle);
    Ok(report)
}

/// A signed bundle stays valid when only data files were compacted: OPA hashes
/// `data.json`, `data.yaml` and `.manifest` over their parsed, key-sorted
/// content (bundle/verify.go), which compaction does not change. Any other
/// changed file breaks the signature, so we refuse unless told to drop it.
fn check_signatures(
    bundle: &mut Bundle,
    changed: &[String],
    opts: &OptimizeOptions,
    report: &mut Report,
) -> Result<()> {
    let signed = bundle.files.iter().any(|f| f.kind == FileKind::Signatures);
    if !signed {
        return Ok(());
    }
    if changed.is_empty() {
        report
            .notes
            .push("signature kept: only data files were compacted, and OPA's digests of data files are over their parsed content".into());
        return Ok(());
    }
    if opts.drop_signatures {
        bundle.files.retain(|f| f.kind != FileKind::Signatures);
        report
            .notes
            .push(format!("signatures dropped: {} rewritten file(s) no longer match them", changed.len()));
        return Ok(());
    }
    Err(Error::Signed {
        files: changed.len(),
    })
}

/// Read `input`, optimize, write `output` atomically.
pub fn optimize_path(input: &Path, output: &Path, opts: &OptimizeOptions) -> Result<Report> {
    if same_file(input, output) {
        return Err(Error::Output {
            path: output.to_path_buf(),
            problem: "is the input bundle; write the optimized bundle elsewhere".into(),
        });
    }
    let t = Instant::now();
    let mut bundle = bundle::read_path(input, &opts.read)?;
    if bundle.pass_through().is_some() {
        // Pass-through bundles are written byte for byte: read again keeping
        // data files as they are.
        let mut keep = opts.read.clone();
        keep.keep_data_bytes = true;
        bundle = bundle::read_path(input, &keep)?;
    }
    let read_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut report = optimize_bundle(&mut bundle, opts)?;
    let pass_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    bundle::write_path(&bundle, output, &opts.write)?;
    let write_ms = t.elapsed().as_secs_f64() * 1e3;
    report.timings = vec![
        StageTime { stage: "read", millis: read_ms },
        StageTime { stage: "passes", millis: pass_ms },
        StageTime { stage: "write", millis: write_ms },
    ];
    if input.is_file() {
        report.input_bytes = std::fs::metadata(input).ok().map(|m| m.len());
    }
    if output.is_file() {
        report.output_bytes = std::fs::metadata(output).ok().map(|m| m.len());
    }
    Ok(report)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
