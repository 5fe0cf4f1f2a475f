//! Golden bundle tests: every folder `testdata/golden/<pass>-<case>/` holds `input/` (modules +
//! data.json), `expected/` (modules after `regopt::passes::run`), `queries` (one query a line)
//! and `inputs.jsonl` (one input a line; `__none__` = no input). The test checks the rewrite
//! against expected/ (`BLESS=1` regenerates it), idempotence (running on expected/ changes
//! nothing), and that regorus gives the same result before and after on every query × input —
//! and, for v1 cases, that real OPA v1.20.2 does too (input/ vs expected/ through
//! tests/common/oracle.rs; the engine reads Rego v1 only). An optional `rego_version` file
//! containing `v0` marks v0 modules. Cases with an `entrypoints` file (a closed world: the whole
//! pipeline with precompute, dedup and pruning) are run by tests/prune_dedup.rs instead.

mod common;
mod passes_support;

use std::fs;
use std::path::{Path, PathBuf};

use regopt::passes::{self, PassOptions};
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
        let view = JsonDataView::new(data.clone());
        let report = passes::run(&mut after, &view, &PassOptions::default());
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
            if case.join("input/data.json").exists() {
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
        let r2 = passes::run(&mut again, &view, &PassOptions::default());
        if again != expected || !r2.rewrites.is_empty() {
            failures.push(format!("{name}: not idempotent: {:#?}", r2.rewrites));
        }
        // Differential check in regorus.
        let queries = common::read_lines(&case.join("queries"));
        let inputs = common::read_lines(&case.join("inputs.jsonl"));
        if version == RegoVersion::V1 {
            oracle_cases.push(serde_json::json!({
                "name": name,
                "a": case.join("input"),
                "b": expected_dir,
                "queries": queries,
                "inputs": inputs,
            }));
        }
        for q in &queries {
            for line in &inputs {
                let inp: Option<serde_json::Value> = if line == "__none__" {
                    None
                } else {
                    Some(serde_json::from_str(line).unwrap())
                };
                let a = passes_support::eval(&before, &data, inp.as_ref(), q);
                let b = passes_support::eval(&after, &data, inp.as_ref(), q);
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
    failures.extend(common::oracle::golden_failures(&oracle, &oracle_cases));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
