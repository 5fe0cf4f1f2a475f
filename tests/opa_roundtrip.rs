//! Optimized bundles must decide exactly like the originals in real OPA.
//!
//! For every sample bundle in testdata/bundles/<name>/, `regopt optimize`
//! writes an optimized .tar.gz, and the oracle (OPA v1.20.2) evaluates the
//! queries in testdata/inputs/<name>.queries on every input line of
//! testdata/inputs/<name>.jsonl against both: values, undefined and errors
//! must all match.

mod common;

use std::path::Path;
use std::process::Command;

use common::oracle;
use serde_json::json;

#[test]
fn optimized_sample_bundles_decide_like_the_originals() {
    let Some(oracle) = oracle::engine() else {
        return;
    };
    let bundles = common::sample_bundles();
    assert!(!bundles.is_empty(), "no bundles in testdata/bundles");
    let mut failures = Vec::new();
    for dir in &bundles {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let inputs_dir = common::testdata().join("inputs");
        let queries = common::read_lines(&inputs_dir.join(format!("{name}.queries")));
        let inputs = common::read_lines(&inputs_dir.join(format!("{name}.jsonl")));

        let tmp = common::temp_dir();
        let out = tmp.path().join("out.tar.gz");
        let run = Command::new(common::regopt_bin())
            .arg("optimize")
            .arg(dir)
            .arg("-o")
            .arg(&out)
            .output()
            .expect("run regopt");
        if !run.status.success() || !out.is_file() {
            failures.push(format!(
                "{name}: `regopt optimize {} -o {}` exited {} (output written: {}):\n{}",
                dir.display(),
                out.display(),
                run.status,
                out.is_file(),
                String::from_utf8_lossy(&run.stderr)
            ));
            continue;
        }

        let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
        let cmp = oracle.compare(dir, &out, &queries, &inputs);
        println!("{name}: {}", cmp.summary());
        if !cmp.is_clean() || cmp.defined == 0 {
            failures.push(format!(
                "{name}: optimized bundle does not decide like the original \
                 (or nothing was compared):\n{}",
                cmp.summary()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Guards the oracle itself: a bundle agrees with a tarball of itself, and
/// the differences that matter (number text, booleans vs numbers, undefined
/// vs a value, a bundle that no longer loads) are caught.
#[test]
fn oracle_sees_agreement_and_differences() {
    let Some(oracle) = oracle::engine() else {
        return;
    };
    let tmp = common::temp_dir();
    let mut cases = Vec::new();
    for dir in common::sample_bundles() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let tarball = tmp.path().join(format!("{name}.tar.gz"));
        write_tarball(&dir, &tarball);
        let inputs_dir = common::testdata().join("inputs");
        cases.push(json!({
            "name": format!("{name}: directory vs tarball"),
            "a": dir,
            "b": tarball,
            "queries": common::read_lines(&inputs_dir.join(format!("{name}.queries"))),
            "inputs": common::read_lines(&inputs_dir.join(format!("{name}.jsonl"))),
        }));
    }
    let module =
        |src: &str| json!({"modules": {"p.rego": format!("package p\n{src}\n")}, "data": null});
    for (name, a, b) in [
        ("number text", "r := 1", "r := 1.0"),
        ("boolean vs number", "r := true", "r := 1"),
        (
            "undefined vs value",
            "r := input.x",
            "r := object.get(input, \"x\", null)",
        ),
        ("only B loads badly", "r := 1", "r := x"),
    ] {
        cases.push(json!({
            "name": name, "a": module(a), "b": module(b), "queries": ["data.p.r"],
            "inputs": ["{}", "{\"x\": 1}", "__none__"],
        }));
    }
    let results = oracle.batch(&json!({ "cases": cases }));
    assert_eq!(results.len(), cases.len());
    for r in &results {
        let should_agree = r.name.contains("directory vs tarball");
        println!(
            "{}: {} evaluations, {} defined, {} differences",
            r.name,
            r.evaluations,
            r.defined,
            r.differences.len()
        );
        if should_agree {
            assert!(
                r.differences.is_empty()
                    && r.load_error_a.is_none()
                    && r.evaluations > 0
                    && r.defined > 0,
                "{}: expected agreement: {r:?}",
                r.name
            );
        } else {
            assert!(
                !r.differences.is_empty(),
                "{}: expected a difference: {r:?}",
                r.name
            );
        }
    }
}

/// A .tar.gz of `dir` with `./`-prefixed member names, as `tar czf x -C dir .` writes.
fn write_tarball(dir: &Path, out: &Path) {
    let file = std::fs::File::create(out).expect("create tarball");
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all(".", dir).expect("add bundle files");
    tar.into_inner()
        .expect("finish tar")
        .finish()
        .expect("finish gzip");
}
