//! Golden bundle tests: every folder `testdata/golden/<pass>-<case>/` holds `input/` (modules +
//! data.json), `expected/` (modules after `regopt::passes::run`), `queries` (one query a line)
//! and `inputs.jsonl` (one input a line; `__none__` = no input). The test checks the rewrite
//! against expected/ (`BLESS=1` regenerates it), idempotence (running on expected/ changes
//! nothing), and that regorus gives the same result before and after on every query × input —
//! and, for v1 cases, that real OPA v1.20.2 does too (input/ vs expected/ through
//! tests/common/oracle.rs; the engine reads Rego v1 only). An optional `rego_version` file
//! containing `v0` marks v0 modules; an optional `entrypoints` file (one a line) declares the
//! closed world (reserved path `data.__regopt__`): the `precompute` stage runs first, and the
//! documents it generates are part of expected/data.json.

mod common;
mod passes_support;

use std::fs;
use std::path::{Path, PathBuf};

use regopt::passes::{self, ClosedWorld, PassOptions};
use regopt::rego::{JsonDataView, ModuleSource, RegoVersion};

fn rego_files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rego_files(&p, base, out);
        } else if p.extension().is_some_and(|e| e == "rego") {
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
        }
    }
}

fn load(dir: &Path, version: RegoVersion) -> Vec<ModuleSource> {
    let mut files = Vec::new();
    rego_files(dir, dir, &mut files);
    files
        .iter()
        .map(|rel| {
            ModuleSource::new(
                rel.to_string_lossy().to_string(),
                fs::read_to_string(dir.join(rel)).unwrap(),
                version,
            )
        })
        .collect()
}

/// Reserved path of closed-world cases (the in-memory data view owns all of `data`).
const RESERVED: &str = "__regopt__";

/// Options of a case: an optional `entrypoints` file (one a line) declares the closed world.
fn options(case: &Path) -> PassOptions {
    let world = fs::read_to_string(case.join("entrypoints"))
        .ok()
        .map(|t| ClosedWorld {
            entrypoints: t
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| regopt::world::parse_entrypoint(l).unwrap())
                .collect(),
            reserved: Ok(vec![RESERVED.to_string()]),
        });
    PassOptions {
        world,
        ..PassOptions::default()
    }
}

/// The precompute stage, then the passes (seeing the documents the stage generated), as the
/// pipeline runs them. Returns the report and the data with the generated documents.
fn run_all(
    modules: &mut [ModuleSource],
    data: &serde_json::Value,
    opts: &PassOptions,
) -> (passes::PassReport, serde_json::Value) {
    let stage = passes::precompute::run(modules, &JsonDataView::new(data.clone()), opts);
    let mut after_data = data.clone();
    if !stage.generated.is_empty() {
        let mut docs = after_data
            .get(RESERVED)
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        for (k, v) in &stage.generated {
            docs.insert(k.clone(), serde_json::from_slice(v).unwrap());
        }
        after_data[RESERVED] = serde_json::Value::Object(docs);
    }
    let mut report = passes::run(modules, &JsonDataView::new(after_data.clone()), opts);
    passes::precompute::merge(stage, &mut report);
    (report, after_data)
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden");
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let mut cases: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input").is_dir())
        // Closed-world cases (bundle level, with entrypoints) are run by tests/prune_dedup.rs.
        .filter(|p| !p.join("entrypoints").exists())
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no golden cases under {}",
        root.display()
    );
    let mut failures = Vec::new();
    let mut oracle_cases = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let version = match fs::read_to_string(case.join("rego_version")) {
            Ok(v) if v.trim() == "v0" => RegoVersion::V0,
            _ => RegoVersion::V1,
        };
        let data: serde_json::Value = fs::read_to_string(case.join("input/data.json"))
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap_or_else(|_| serde_json::json!({}));
        let before = load(&case.join("input"), version);
        let mut after = before.clone();
        let opts = options(case);
        // Documents generated under the reserved path (closed-world cases) join the data.
        let (report, after_data) = run_all(&mut after, &data, &opts);
        assert!(
            report.bugs.is_empty(),
            "{name}: pass bugs {:#?}",
            report.bugs
        );
        let expected_dir = case.join("expected");
        if bless {
            let _ = fs::remove_dir_all(&expected_dir);
            for m in &after {
                let p = expected_dir.join(&m.path);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, &m.text).unwrap();
            }
            if after_data != data {
                fs::write(
                    expected_dir.join("data.json"),
                    serde_json::to_string_pretty(&after_data).unwrap() + "\n",
                )
                .unwrap();
            } else if case.join("input/data.json").exists() {
                fs::copy(case.join("input/data.json"), expected_dir.join("data.json")).unwrap();
            }
            fs::write(
                case.join("report.json"),
                serde_json::to_string_pretty(&report).unwrap() + "\n",
            )
            .unwrap();
        }
        let expected = load(&expected_dir, version);
        if expected != after {
            failures.push(format!(
                "{name}: output differs from expected/ (run with BLESS=1)"
            ));
            continue;
        }
        // Idempotence.
        let mut again = expected.clone();
        let (r2, _) = run_all(&mut again, &after_data, &opts);
        if again != expected || !r2.rewrites.is_empty() {
            failures.push(format!("{name}: not idempotent: {:#?}", r2.rewrites));
        }
        // Differential check in regorus.
        let queries = fs::read_to_string(case.join("queries")).unwrap_or_default();
        let inputs = fs::read_to_string(case.join("inputs.jsonl")).unwrap_or_default();
        if version == RegoVersion::V1 {
            let lines = |t: &str| -> Vec<String> {
                t.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            };
            oracle_cases.push(serde_json::json!({
                "name": name,
                "a": case.join("input"),
                "b": expected_dir,
                "queries": lines(&queries),
                "inputs": lines(&inputs),
            }));
        }
        for q in queries.lines().filter(|l| !l.trim().is_empty()) {
            for line in inputs.lines().filter(|l| !l.trim().is_empty()) {
                let inp: Option<serde_json::Value> = if line.trim() == "__none__" {
                    None
                } else {
                    Some(serde_json::from_str(line).unwrap())
                };
                let a = passes_support::eval(&before, &data, inp.as_ref(), q);
                let b = passes_support::eval(&after, &after_data, inp.as_ref(), q);
                if a != b || a.contains("LOAD ERROR") {
                    failures.push(format!("{name}: {q} on {line}: before {a} after {b}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Differential check in real OPA (v1 cases).
    let Some(oracle) = common::oracle::engine() else {
        return;
    };
    let results = oracle.batch(&serde_json::json!({ "cases": oracle_cases }));
    assert_eq!(results.len(), oracle_cases.len());
    for r in &results {
        println!(
            "real OPA {}: {} evaluations, {} agree, {} defined, {} differences",
            r.name,
            r.evaluations,
            r.agree,
            r.defined,
            r.differences.len()
        );
        if r.load_error_a.is_some()
            || r.load_error_b.is_some()
            || !r.differences.is_empty()
            || r.evaluations == 0
        {
            failures.push(format!("{}: real OPA: {r:#?}", r.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
