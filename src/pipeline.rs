//! The fixed optimize pipeline: read → passes → write, with the report.

use std::path::Path;
use std::time::Instant;

use crate::bundle::{self, Bundle, FileKind, ReadOptions, WriteOptions};
use crate::data::view::BundleData;
use crate::error::{Error, Result};
use crate::passes::{self, PassOptions};
use crate::rego::{ModuleSource, RegoVersion};
use crate::report::Report;
use crate::sign;

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
    /// Verifying the input's signature and signing the output (`--verification-key`,
    /// `--signing-key`, ...); see [`crate::sign`].
    pub sign: crate::sign::SignOptions,
    /// `--verify`: evaluate the original and the optimized bundle in regorus and fail with
    /// [`Error::VerifyFailed`] on any difference.
    pub verify: Option<crate::verify::VerifyOptions>,
    /// `-e/--entrypoint` paths (segments after `data`): declares the closed world.
    pub entrypoints: Vec<Vec<String>>,
    /// `--prune-data`: with entrypoints, drop data no entrypoint can read.
    pub prune_data: bool,
    /// `--dedup-min-bytes`: with entrypoints, smallest duplicate document (compact bytes) that
    /// dedup considers; None: [`crate::dedup::DEFAULT_MIN_BYTES`], `Some(0)`: no dedup.
    pub dedup_min_bytes: Option<usize>,
}

/// Optimize a bundle in memory. Returns the report; `bundle` is changed in place.
pub fn optimize_bundle(bundle: &mut Bundle, opts: &OptimizeOptions) -> Result<Report> {
    let mut report = Report::default();
    let signed_input = check_input_signature(bundle, opts, &mut report)?;
    if let Some(p) = bundle.pass_through() {
        report.pass_through = Some(p.reason().to_string());
        finish_signatures(bundle, signed_input.as_ref(), &[], opts, &mut report)?;
        report.record_sizes(bundle);
        return Ok(report);
    }
    let original = opts
        .verify
        .as_ref()
        .map(|_| crate::verify::snapshot(bundle));
    let changed_modules = run_passes(bundle, opts, &mut report)?;
    finish_signatures(
        bundle,
        signed_input.as_ref(),
        &changed_modules,
        opts,
        &mut report,
    )?;
    if let (Some(v), Some(original)) = (&opts.verify, &original) {
        // In a closed world only the entrypoints are queried (pruned data is visible elsewhere).
        let mut v = v.clone();
        if let (Some(w), true) = (
            &report.world,
            v.entrypoints.is_empty() && v.queries.is_empty(),
        ) {
            v.entrypoints = w.entrypoints.clone();
        }
        crate::verify::verify_step(original, bundle, &v, &mut report)?;
    }
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
        if !opts.entrypoints.is_empty() {
            report
                .notes
                .push("entrypoints given, but the bundle has no modules".into());
        }
        return Ok(Vec::new());
    }
    let mut pass_opts = opts.passes.clone();
    let mut generated = std::collections::BTreeMap::new();
    {
        let (parsed, unparsed) = passes::parse_all(&modules);
        let world = crate::world::closed_world(bundle, &parsed, &unparsed, &opts.entrypoints);
        if let Some(w) = &world {
            match &w.reserved {
                Ok(r) => generated = crate::world::existing_generated(bundle, r),
                Err(why) => report.notes.push(format!(
                    "closed world: {why}; no index or precomputed document is stored"
                )),
            }
        } else if opts.prune_data {
            report.notes.push(
                "--prune-data ignored: no entrypoint was given (-e or # METADATA entrypoint: true), so clients may read any data".into(),
            );
        }
        report.world = world.as_ref().map(|w| crate::report::WorldReport {
            entrypoints: w
                .entrypoints
                .iter()
                .map(|e| crate::rego::ast::render_data_path(e))
                .collect(),
            reserved: w
                .reserved
                .as_ref()
                .ok()
                .map(|r| crate::rego::ast::render_data_path(r)),
        });
        pass_opts.world = world;
    }
    let stage = {
        let data = BundleData::new(bundle.data_tree()?, bundle.roots());
        passes::precompute::run(&mut modules, &data, &pass_opts)
    };
    if let (Some(Ok(reserved)), false) = (
        pass_opts.world.as_ref().map(|w| &w.reserved),
        stage.generated.is_empty(),
    ) {
        // The passes after the stage see the documents it generated.
        let mut docs = generated.clone();
        docs.extend(stage.generated.clone());
        crate::world::store_generated(bundle, reserved, &docs);
    }
    let pass_report = {
        let data = BundleData::new(bundle.data_tree()?, bundle.roots());
        let mut r = passes::run(&mut modules, &data, &pass_opts);
        passes::precompute::merge(stage, &mut r);
        r
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
    if let Some(Ok(reserved)) = pass_opts.world.as_ref().map(|w| &w.reserved) {
        generated.extend(pass_report.generated.clone());
        crate::world::store_generated(bundle, reserved, &generated);
    }
    if let Some(w) = &pass_opts.world {
        let min = opts
            .dedup_min_bytes
            .unwrap_or(crate::dedup::DEFAULT_MIN_BYTES);
        if min > 0 {
            report.dedup = Some(crate::dedup::run(bundle, &mut modules, w, min));
        }
        if opts.prune_data {
            report.prune = Some(crate::prune::run(bundle, &modules, w));
        }
    }
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

/// With `--verification-key`, verify the input's signature as OPA would
/// (before anything changes). Then capture what a kept signature covers, so
/// that [`finish_signatures`] can prove it still holds for the output.
fn check_input_signature(
    bundle: &Bundle,
    opts: &OptimizeOptions,
    report: &mut Report,
) -> Result<Option<sign::SignedInput>> {
    if opts.sign.verification_key.is_some() {
        let v = sign::verify_bundle(bundle, &opts.sign)?;
        report.notes.push(format!(
            "signature verified: {} {} file(s) match{}{}",
            v.algorithm,
            v.files_checked,
            v.key_id
                .as_ref()
                .map(|k| format!(", key id '{k}'"))
                .unwrap_or_default(),
            if v.files_excluded > 0 {
                format!(", {} excluded by --exclude-files-verify", v.files_excluded)
            } else {
                String::new()
            }
        ));
    }
    if opts.sign.signing_key.is_some() {
        // The output gets a new signature; the old one need not be proven.
        return Ok(None);
    }
    sign::capture_signed_input(bundle)
}

/// Sign the output with `--signing-key`; otherwise keep the input's
/// signature only if every digest it lists, recomputed over the output
/// exactly as OPA would, still matches (and the file set is the same). A
/// signature that would not hold is dropped with `--drop-signatures`, else
/// refused: regopt never writes a broken signature.
fn finish_signatures(
    bundle: &mut Bundle,
    signed_input: Option<&sign::SignedInput>,
    changed: &[String],
    opts: &OptimizeOptions,
    report: &mut Report,
) -> Result<()> {
    if opts.sign.signing_key.is_some() {
        let old = bundle
            .files
            .iter()
            .find(|f| f.kind == FileKind::Signatures)
            .map(|f| (f.name.clone(), f.path.clone(), f.original_size));
        bundle.files.retain(|f| f.kind != FileKind::Signatures);
        let (bytes, count) = {
            let entries = bundle::write::output_entries(bundle, &opts.write)?;
            let refs: Vec<(String, &[u8])> = entries
                .iter()
                .map(|(n, b)| (n.clone(), b.as_ref()))
                .collect();
            sign::sign_entries(&refs, opts.write.format, &opts.sign)?
        };
        let (name, path, original_size) = old.unwrap_or_else(|| {
            (
                sign::SIGNATURES_NAME.to_string(),
                sign::SIGNATURES_NAME.trim_start_matches('/').to_string(),
                0,
            )
        });
        let at = bundle.files.partition_point(|f| f.path < path);
        bundle.files.insert(
            at,
            bundle::BundleFile {
                path,
                name,
                kind: FileKind::Signatures,
                bytes,
                original_size,
                compact_json: None,
            },
        );
        report.notes.push(format!(
            "signed: {count} file(s), {}{}",
            opts.sign.signing_alg,
            opts.sign
                .signing_key_id
                .as_ref()
                .map(|k| format!(", key id '{k}'"))
                .unwrap_or_default()
        ));
        return Ok(());
    }
    let Some(input) = signed_input else {
        return Ok(());
    };
    let kept = {
        let entries = bundle::write::output_entries(bundle, &opts.write)?;
        let refs: Vec<(String, &[u8])> = entries
            .iter()
            .map(|(n, b)| (n.clone(), b.as_ref()))
            .collect();
        sign::check_kept(input, &refs, opts.write.format)
    };
    match kept {
        Ok(n) => {
            report.notes.push(format!(
                "signature kept: all {n} digest(s) it lists match the output, recomputed as OPA does"
            ));
            Ok(())
        }
        Err(reason) if opts.drop_signatures => {
            bundle.files.retain(|f| f.kind != FileKind::Signatures);
            report.notes.push(format!(
                "signatures dropped: {reason}{}",
                if changed.is_empty() {
                    String::new()
                } else {
                    format!(" ({} module(s) rewritten)", changed.len())
                }
            ));
            Ok(())
        }
        Err(reason) => Err(Error::Signed { detail: reason }),
    }
}

/// Read `input`, optimize, write `output` atomically.
pub fn optimize_path(input: &Path, output: &Path, opts: &OptimizeOptions) -> Result<Report> {
    // Signatures name files as OPA will read them back, which depends on the
    // output shape: settle it before optimizing.
    let resolved;
    let opts = if opts.write.format.is_none() {
        let mut o = opts.clone();
        o.write.format = Some(bundle::OutputFormat::infer(output));
        resolved = o;
        &resolved
    } else {
        opts
    };
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
    report.set_timings(read_ms, pass_ms, write_ms);
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
