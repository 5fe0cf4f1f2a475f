//! The fixed optimize pipeline: read → passes → write, with the report.

use std::path::Path;
use std::time::Instant;

use crate::bundle::{self, Bundle, FileKind, ReadOptions, WriteOptions};
use crate::data::view::BundleData;
use crate::error::{Error, Result};
use crate::passes::{self, PassOptions};
use crate::rego::{ModuleSource, RegoVersion};
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
    /// Which rewrite passes run.
    pub passes: PassOptions,
}

/// Optimize a bundle in memory. Returns the report; `bundle` is changed in place.
pub fn optimize_bundle(bundle: &mut Bundle, opts: &OptimizeOptions) -> Result<Report> {
    let mut report = Report::default();
    if let Some(p) = bundle.pass_through() {
        report.pass_through = Some(p.reason().to_string());
        report.record_sizes(bundle);
        return Ok(report);
    }
    let changed_modules = run_passes(bundle, opts, &mut report)?;
    check_signatures(bundle, &changed_modules, opts, &mut report)?;
    report.record_sizes(bundle);
    Ok(report)
}

/// The bundle's modules as text, each with the Rego version OPA parses it with.
pub fn module_sources(bundle: &Bundle) -> Vec<ModuleSource> {
    bundle
        .files_of(FileKind::Module)
        .map(|f| {
            let version = if bundle.rego_version_of(f) == 0 {
                RegoVersion::V0
            } else {
                RegoVersion::V1
            };
            // Modules were checked to be UTF-8 when read.
            ModuleSource::new(
                f.path.clone(),
                String::from_utf8_lossy(&f.bytes).into_owned(),
                version,
            )
        })
        .collect()
}

/// `regopt check`: every costly data access in the bundle's modules.
pub fn check_bundle(bundle: &Bundle) -> Result<Vec<crate::check::Finding>> {
    let modules = module_sources(bundle);
    let data = BundleData::new(bundle.data_tree()?, bundle.roots());
    Ok(crate::check::check(&modules, &data))
}

/// Run the rewrite passes over every module and put the rewritten text back.
/// Returns the paths of the modules that changed.
fn run_passes(
    bundle: &mut Bundle,
    opts: &OptimizeOptions,
    report: &mut Report,
) -> Result<Vec<String>> {
    let mut modules = module_sources(bundle);
    if modules.is_empty() {
        return Ok(Vec::new());
    }
    let pass_report = {
        let data = BundleData::new(bundle.data_tree()?, bundle.roots());
        passes::run(&mut modules, &data, &opts.passes)
    };
    if let Some(bug) = pass_report.bugs.first() {
        report.notes.push(format!(
            "internal: pass {} produced an unparsable rewrite in {}:{}:{} ({}); that module was left unchanged",
            bug.pass, bug.file, bug.line, bug.col, bug.message
        ));
    }
    for w in &pass_report.warnings {
        report.notes.push(format!("{}: {}", w.file, w.message));
    }
    report.passes = Some(serde_json::to_value(&pass_report).expect("pass report serializes"));
    report.rewrites = pass_report.rewrites.len();
    let mut changed = Vec::new();
    for m in modules {
        if let Some(f) = bundle.files.iter_mut().find(|f| f.path == m.path) {
            if f.bytes != m.text.as_bytes() {
                f.bytes = m.text.into_bytes();
                changed.push(f.path.clone());
            }
        }
    }
    Ok(changed)
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
        report.notes.push(format!(
            "signatures dropped: {} rewritten file(s) no longer match them",
            changed.len()
        ));
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
    if contains(output, input) {
        return Err(Error::Output {
            path: output.to_path_buf(),
            problem: "contains the input bundle, which replacing it would delete; write the optimized bundle elsewhere".into(),
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
        StageTime {
            stage: "read",
            millis: read_ms,
        },
        StageTime {
            stage: "passes",
            millis: pass_ms,
        },
        StageTime {
            stage: "write",
            millis: write_ms,
        },
    ];
    if input.is_file() {
        report.input_bytes = std::fs::metadata(input).ok().map(|m| m.len());
    }
    if output.is_file() {
        report.output_bytes = std::fs::metadata(output).ok().map(|m| m.len());
    }
    Ok(report)
}

/// Whether `dir` is an existing directory that holds `path`.
fn contains(dir: &Path, path: &Path) -> bool {
    match (std::fs::canonicalize(dir), std::fs::canonicalize(path)) {
        (Ok(d), Ok(p)) => d.is_dir() && p.starts_with(&d),
        _ => false,
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
