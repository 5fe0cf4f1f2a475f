//! Helpers shared by the differential suites (`differential_corpus`, `differential_edges`):
//! optimizing an in-memory bundle through the library exactly as `regopt optimize` does,
//! turning bundles into sides of an oracle batch spec, and evaluating bundles in regorus.
#![allow(dead_code)] // each test binary uses its own subset

pub mod regorus_eval;

use std::collections::BTreeMap;

use regopt::bundle::read::from_entries;
use regopt::bundle::{Bundle, ReadOptions};
use regopt::pipeline::{module_sources, optimize_bundle, OptimizeOptions};
use regopt::rego::ModuleSource;
use serde_json::{json, Value};

/// Whether this run is CI (`CI` set and not empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Whether the known-failures lists of the suites may pass the test (the lead's switch;
/// by default a known failure still fails the test).
pub fn known_failures_allowed() -> bool {
    std::env::var("REGOPT_ALLOW_KNOWN_FAILURES")
        .is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A bundle as (path, bytes) entries, in the order given.
pub type Files = Vec<(String, Vec<u8>)>;

/// One applied rewrite, as listed in the optimize report.
#[derive(Clone, Debug)]
pub struct RewriteInfo {
    pub pass: String,
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub before: String,
    pub after: String,
}

/// The result of optimizing a bundle in process.
pub struct Optimized {
    /// The original bundle as read (for `check`, module versions).
    pub original: Bundle,
    /// The optimized bundle.
    pub bundle: Bundle,
    /// Every file of the optimized bundle, as it would be written.
    pub files: Files,
    pub rewrites: Vec<RewriteInfo>,
    /// Modules carried through unchanged because they could not be analysed.
    pub warnings: Vec<String>,
    /// Pass bugs (a rewrite that did not parse; the module was reverted).
    pub bugs: Vec<String>,
    /// The report's notes.
    pub notes: Vec<String>,
    /// Why the bundle was passed through without optimization, if it was.
    pub pass_through: Option<String>,
}

impl Optimized {
    /// Text of every module of the optimized bundle, by path.
    pub fn module_texts(&self) -> BTreeMap<String, String> {
        module_sources(&self.bundle)
            .into_iter()
            .map(|m| (m.path, m.text))
            .collect()
    }

    pub fn modules(&self) -> Vec<ModuleSource> {
        module_sources(&self.bundle)
    }

    pub fn original_modules(&self) -> Vec<ModuleSource> {
        module_sources(&self.original)
    }
}

/// Read `files` with `from_entries` and optimize with default options, as `regopt optimize`
/// does in memory. Err: the reader or the pipeline refused the bundle (the message).
pub fn optimize(files: &Files) -> Result<Optimized, String> {
    optimize_with(files, &OptimizeOptions::default())
}

/// [`optimize`] with options (entrypoints, pruning, pass selection).
pub fn optimize_with(files: &Files, opts: &OptimizeOptions) -> Result<Optimized, String> {
    let read = ReadOptions::default();
    let original = from_entries(files.iter().cloned(), &read).map_err(|e| format!("read: {e}"))?;
    let mut bundle =
        from_entries(files.iter().cloned(), &read).map_err(|e| format!("read: {e}"))?;
    let report = optimize_bundle(&mut bundle, opts).map_err(|e| format!("optimize: {e}"))?;
    let passes = report.passes.clone().unwrap_or(Value::Null);
    let list = |key: &str| passes[key].as_array().cloned().unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let num = |v: &Value| v.as_u64().unwrap_or(0) as usize;
    let rewrites: Vec<RewriteInfo> = list("rewrites")
        .iter()
        .map(|r| RewriteInfo {
            pass: text(&r["pass"]),
            file: text(&r["file"]),
            line: num(&r["line"]),
            col: num(&r["col"]),
            before: text(&r["before"]),
            after: text(&r["after"]),
        })
        .collect();
    assert_eq!(
        rewrites.len(),
        report.rewrites,
        "report.rewrites disagrees with the pass report's list"
    );
    let warnings = list("warnings")
        .iter()
        .map(|w| format!("{}: {}", text(&w["file"]), text(&w["message"])))
        .collect();
    let bugs = list("bugs")
        .iter()
        .map(|b| {
            format!(
                "pass {} at {}:{}:{}: {}",
                text(&b["pass"]),
                text(&b["file"]),
                num(&b["line"]),
                num(&b["col"]),
                text(&b["message"])
            )
        })
        .collect();
    let files = bundle
        .files
        .iter()
        .map(|f| (f.path.clone(), f.bytes.clone()))
        .collect();
    Ok(Optimized {
        original,
        bundle,
        files,
        rewrites,
        warnings,
        bugs,
        notes: report.notes.clone(),
        pass_through: report.pass_through.clone(),
    })
}

/// A side of an oracle batch spec: `{"files": {path: text}}`.
pub fn files_side(files: &Files) -> Value {
    let mut map = serde_json::Map::new();
    for (path, bytes) in files {
        map.insert(
            path.clone(),
            Value::String(String::from_utf8_lossy(bytes).into_owned()),
        );
    }
    json!({ "files": map })
}

/// The data files of a bundle as JSON documents rooted at `data` (each data file wrapped in
/// its directory path), for engines that take data as one document per call.
pub fn data_documents(files: &Files) -> Vec<String> {
    files
        .iter()
        .filter(|(p, _)| p == "data.json" || p.ends_with("/data.json"))
        .map(|(p, bytes)| {
            let dir: Vec<&str> = p
                .trim_end_matches("data.json")
                .split('/')
                .filter(|s| !s.is_empty())
                .collect();
            let mut doc = String::from_utf8_lossy(bytes).into_owned();
            for seg in dir.iter().rev() {
                doc = format!("{{{}:{doc}}}", Value::String(seg.to_string()));
            }
            doc
        })
        .collect()
}

/// Short one-line rendering of a text (for summaries).
pub fn one_line(s: &str, max: usize) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        s
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}
