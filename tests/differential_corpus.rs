//! Optimizing never changes a decision, on the conformance cases of OPA and of regorus.
//!
//! The corpus lives beside the repository, in `<repo>/../shared/corpus/` (override with
//! `REGOPT_CORPUS`): `opa-cases/` (OPA's YAML conformance cases, Rego v1) and
//! `regorus-cases/` (regorus' interpreter cases, mostly Rego v0). For every case the bundle
//! (modules `m0.rego`, `m1.rego`, …, `data.json`, and a `.manifest` only for Rego v0 modules) is
//! optimized in process (`from_entries` → `optimize_bundle`, default options), then:
//!
//! - cases whose modules are all Rego v1 are evaluated in real OPA (one oracle batch for all:
//!   original vs optimized, the case's query and input): values, undefined and errors must match;
//!   both sides failing to load with the same error counts as agreement (OPA rejects some cases
//!   by design);
//! - every case is evaluated in regorus before and after (the only engine for v0 cases): the
//!   result rows must match; an error on both sides counts as agreement.
//!
//! A case regopt's front end cannot analyse (a module that does not parse, so the bundle is
//! carried through unchanged) is listed with its reason in the summary, never skipped silently.
//! A regorus-only difference on a case that real OPA also ran and agreed on is a regorus
//! deviation from OPA, not a regopt bug: it is printed but not counted (regorus is the judge
//! only where OPA cannot run).

mod common;
mod diff_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::oracle;
use diff_support::regorus_eval::{self, Outcome, Request};
use diff_support::{Files, Optimized};
use regopt::rego::{parse_module, ModuleSource, RegoVersion};
use serde_json::{json, Value};

/// Cases known to differ, by case id (`<set>/<file>#<index>`), with the reason. They are still
/// evaluated, printed and counted; by default they still fail the test (set
/// `REGOPT_ALLOW_KNOWN_FAILURES=1` to let them pass while a fix is pending).
const KNOWN_FAILURES: &[(&str, &str)] = &[];

const SETS: &[&str] = &["opa-cases", "regorus-cases"];

/// One YAML conformance case, reduced to what the comparison needs.
struct Case {
    /// `<set>/<file>#<index>`.
    id: String,
    set: &'static str,
    note: String,
    modules: Vec<String>,
    /// The base document (an object), if the case has one.
    data: Option<Value>,
    query: String,
    /// JSON text of each input; None = no input document.
    inputs: Vec<Option<String>>,
    /// regorus' strict builtin errors (the OPA oracle is always strict).
    strict: bool,
}

/// A case built and optimized.
struct Built {
    case: Case,
    files: Files,
    opt: Optimized,
    /// Every module is Rego v1 (so real OPA can evaluate the case).
    all_v1: bool,
}

fn corpus_dir() -> PathBuf {
    match std::env::var_os("REGOPT_CORPUS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => common::repo_root().join("..").join("shared").join("corpus"),
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("read corpus directory").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

fn to_json(v: &serde_yaml::Value) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| format!("YAML value is not JSON: {e}"))
}

/// A case as written in YAML; keys this suite does not use (`want_result`, `error`, …) are
/// ignored without being decoded (some hold integers beyond 64 bits that `serde_yaml::Value`
/// refuses).
#[derive(serde::Deserialize)]
struct RawFile {
    cases: Vec<RawCase>,
}

#[derive(serde::Deserialize)]
struct RawCase {
    note: Option<String>,
    query: Option<String>,
    modules: Option<Vec<String>>,
    data: Option<serde_yaml::Value>,
    input: Option<serde_yaml::Value>,
    input_term: Option<String>,
    strict: Option<bool>,
}

/// The cases of one YAML file; a file or case that cannot be read becomes a `not analysable`
/// entry (id, reason).
/// Every case of every set under `root`, and the (id, reason) of those that could not be built.
fn load_corpus(root: &Path) -> (Vec<Case>, Vec<(String, String)>) {
    let mut cases = Vec::new();
    let mut refused = Vec::new();
    for set in SETS {
        let dir = root.join(set);
        let mut files = Vec::new();
        yaml_files(&dir, &mut files);
        for f in &files {
            load_cases(set, &dir, f, &mut cases, &mut refused);
        }
    }
    (cases, refused)
}

fn load_cases(
    set: &'static str,
    root: &Path,
    file: &Path,
    cases: &mut Vec<Case>,
    refused: &mut Vec<(String, String)>,
) {
    let rel = file
        .strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/");
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let doc: RawFile = match serde_yaml::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            refused.push((format!("{set}/{rel}"), format!("YAML does not parse: {e}")));
            return;
        }
    };
    for (i, c) in doc.cases.into_iter().enumerate() {
        let id = format!("{set}/{rel}#{i}");
        match case_of(set, &id, c) {
            Ok(case) => cases.push(case),
            Err(why) => refused.push((id, why)),
        }
    }
}

fn case_of(set: &'static str, id: &str, c: RawCase) -> Result<Case, String> {
    let note = c.note.unwrap_or_default();
    let mut query = c.query.ok_or("no query")?;
    let modules = c.modules.ok_or("no modules")?;
    let data = match &c.data {
        None | Some(serde_yaml::Value::Null) => None,
        Some(d) => match to_json(d)? {
            Value::Object(o) => Some(Value::Object(o)),
            other => return Err(format!("data is not an object: {other}")),
        },
    };
    let mut inputs = Vec::new();
    if let Some(input) = &c.input {
        let v = to_json(input)?;
        // regorus' harness: {"many!": [...]} is a list of inputs, one evaluation each
        match v.get("many!").and_then(Value::as_array) {
            Some(many) => inputs.extend(many.iter().map(|i| Some(i.to_string()))),
            None => inputs.push(Some(v.to_string())),
        }
    } else if let Some(term) = c.input_term {
        if serde_json::from_str::<Value>(&term).is_ok() {
            inputs.push(Some(term));
        } else {
            // a Rego term that is not JSON (e.g. holds a set): give it with `with`
            query = format!("{query} with input as {term}");
            inputs.push(None);
        }
    } else {
        inputs.push(None);
    }
    Ok(Case {
        id: id.to_string(),
        set,
        note,
        modules,
        data,
        query,
        inputs,
        strict: c.strict.unwrap_or(true),
    })
}

/// The bundle of a case: modules, data, and a manifest when some module is Rego v0.
/// Each module's version is the one that parses, v1 first; a module that parses in neither is
/// given v1 (regopt then carries the bundle through unchanged, and OPA decides).
fn bundle_files(case: &Case) -> (Files, bool) {
    let mut files: Files = Vec::new();
    let mut versions = Vec::new();
    for (i, src) in case.modules.iter().enumerate() {
        let path = format!("m{i}.rego");
        let parses =
            |v: RegoVersion| parse_module(&ModuleSource::new(path.clone(), src.clone(), v)).is_ok();
        let v0 = !parses(RegoVersion::V1) && parses(RegoVersion::V0);
        versions.push((path.clone(), v0));
        files.push((path, src.clone().into_bytes()));
    }
    if let Some(d) = &case.data {
        files.push(("data.json".into(), d.to_string().into_bytes()));
    }
    let v0_count = versions.iter().filter(|(_, v0)| *v0).count();
    if v0_count == versions.len() && v0_count > 0 {
        files.push((".manifest".into(), br#"{"rego_version":0}"#.to_vec()));
    } else if v0_count > 0 {
        let per_file: serde_json::Map<String, Value> = versions
            .iter()
            .filter(|(_, v0)| *v0)
            .map(|(p, _)| (p.clone(), json!(0)))
            .collect();
        let manifest = json!({ "rego_version": 1, "file_rego_versions": per_file });
        files.push((".manifest".into(), manifest.to_string().into_bytes()));
    }
    (files, v0_count == 0)
}

/// A reason grouped for the summary: the `error:` line of a parser message if there is one,
/// with file names, positions and quoted details cut.
fn reason_group(reason: &str) -> String {
    let line = reason
        .lines()
        .find_map(|l| l.split_once("error:").map(|(_, rest)| rest))
        .unwrap_or_else(|| reason.lines().next().unwrap_or_default());
    let mut s = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' || c == '`' {
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
            }
            s.push('…');
        } else {
            s.push(c);
        }
    }
    let words: Vec<String> = s
        .split_whitespace()
        .filter(|w| !w.contains(".rego"))
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit())
                && w.chars()
                    .all(|c| c.is_ascii_digit() || ":.,[]()".contains(c))
            {
                "N".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    diff_support::one_line(&words.join(" "), 110)
}

/// OPA lists several compile errors in an order that varies between runs (Go map order), so
/// two load errors are the same when they have the same lines, locations cut, in any order.
fn same_load_errors(a: &str, b: &str) -> bool {
    fn lines(s: &str) -> Vec<String> {
        let mut v: Vec<String> = s
            .lines()
            .filter(|l| !l.starts_with('\t'))
            .map(|l| {
                l.split_whitespace()
                    .filter(|w| !w.contains(".rego:"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|l| !l.is_empty())
            .collect();
        v.sort();
        v
    }
    lines(a) == lines(b)
}

fn known_failure(id: &str) -> Option<&'static str> {
    KNOWN_FAILURES
        .iter()
        .find(|(k, _)| *k == id)
        .map(|(_, why)| *why)
}

/// One difference found: case, engine, what differs (with the optimized modules, to debug).
struct Difference {
    id: String,
    engine: &'static str,
    detail: String,
}

#[test]
fn optimizing_corpus_cases_never_changes_a_decision() {
    let started = Instant::now();
    let root = corpus_dir();
    let missing: Vec<String> = SETS
        .iter()
        .map(|s| root.join(s))
        .filter(|p| !p.is_dir())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        let what = format!("corpus not found at {}", missing.join(", "));
        if diff_support::in_ci() {
            panic!("{what} (CI needs the shared corpus beside the checkout, or REGOPT_CORPUS)");
        }
        println!("skipped: {what}");
        return;
    }

    // ---- load every case
    let (cases, refused) = load_corpus(&root);
    let found = cases.len() + refused.len();
    assert!(found > 0, "no cases under {}", root.display());

    // ---- build and optimize in process
    let mut built = Vec::new();
    let mut not_analysable: Vec<(String, String)> = Vec::new();
    let mut bugs: Vec<(String, String)> = Vec::new();
    let (mut check_findings, mut check_rewritable) = (0, 0);
    let mut check_mismatches: Vec<String> = Vec::new();
    let mut check_not_rewritten: BTreeMap<String, usize> = BTreeMap::new();
    for case in cases {
        let (files, all_v1) = bundle_files(&case);
        match diff_support::optimize(&files) {
            Ok(opt) => {
                for w in &opt.warnings {
                    not_analysable.push((case.id.clone(), w.clone()));
                }
                if let Some(p) = &opt.pass_through {
                    not_analysable.push((case.id.clone(), format!("passed through: {p}")));
                }
                for b in &opt.bugs {
                    bugs.push((case.id.clone(), b.clone()));
                }
                // `regopt check` consistency: a finding marked rewritable is rewritten
                match regopt::pipeline::check_bundle(&opt.original) {
                    Ok(findings) => {
                        check_findings += findings.len();
                        for f in findings.iter().filter(|f| f.rewritten_by.is_none()) {
                            let why = f
                                .not_rewritten_because
                                .as_deref()
                                .unwrap_or("no reason given");
                            *check_not_rewritten
                                .entry(format!("{}: {}", f.pattern, reason_group(why)))
                                .or_insert(0) += 1;
                        }
                        for f in findings.iter().filter(|f| f.rewritten_by.is_some()) {
                            check_rewritable += 1;
                            if !opt
                                .rewrites
                                .iter()
                                .any(|r| r.file == f.file && r.line == f.line)
                            {
                                check_mismatches.push(format!(
                                    "{}: check says {}:{}:{} `{}` is rewritten by {}, but optimize made no rewrite at that line",
                                    case.id,
                                    f.file,
                                    f.line,
                                    f.col,
                                    f.snippet,
                                    f.rewritten_by.as_deref().unwrap_or_default()
                                ));
                            }
                        }
                    }
                    Err(e) => check_mismatches.push(format!("{}: check fails: {e}", case.id)),
                }
                built.push(Built {
                    case,
                    files,
                    opt,
                    all_v1,
                });
            }
            Err(e) => {
                not_analysable.push((case.id.clone(), format!("regopt refuses the bundle: {e}")))
            }
        }
    }
    let optimize_time = started.elapsed();

    // ---- real OPA: one batch for every v1 case, in the background while regorus runs
    let engine = oracle::engine();
    let mut opa_cases = Vec::new();
    let mut opa_index = Vec::new();
    for (i, b) in built.iter().enumerate() {
        if !b.all_v1 {
            continue;
        }
        let inputs: Vec<Value> = b
            .case
            .inputs
            .iter()
            .map(|i| Value::String(i.clone().unwrap_or_else(|| "__none__".into())))
            .collect();
        opa_cases.push(json!({
            "name": b.case.id,
            "a": diff_support::files_side(&b.files),
            "b": diff_support::files_side(&b.opt.files),
            "queries": [b.case.query],
            "inputs": inputs,
        }));
        opa_index.push(i);
    }
    let opa_run = engine.map(|oracle| {
        let spec = json!({ "cases": opa_cases });
        std::thread::spawn(move || {
            let t = Instant::now();
            let results = oracle.batch(&spec);
            (results, t.elapsed())
        })
    });

    // ---- regorus, before and after, every case (a big stack: deep rules recurse)
    let regorus_jobs: Vec<_> = built
        .iter()
        .map(|b| {
            (
                b.opt.original_modules(),
                diff_support::data_documents(&b.files),
                b.opt.modules(),
                diff_support::data_documents(&b.opt.files),
                b.case.query.clone(),
                b.case.inputs.clone(),
                b.case.strict,
            )
        })
        .collect();
    let t_regorus = Instant::now();
    let regorus_results: Vec<(Vec<Outcome>, Vec<Outcome>)> = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            regorus_jobs
                .iter()
                .map(|(ma, da, mb, db, query, inputs, strict)| {
                    let reqs: Vec<Request> = inputs
                        .iter()
                        .map(|i| Request {
                            query,
                            input: i.as_deref(),
                        })
                        .collect();
                    (
                        regorus_eval::eval_all(ma, da, *strict, &reqs),
                        regorus_eval::eval_all(mb, db, *strict, &reqs),
                    )
                })
                .collect()
        })
        .expect("spawn the regorus thread")
        .join()
        .expect("regorus thread");
    let regorus_time = t_regorus.elapsed();

    let (opa_results, opa_time) = match opa_run {
        Some(h) => {
            let (r, t) = h.join().expect("oracle thread");
            (Some(r), Some(t))
        }
        None => (None, None),
    };

    // ---- compare
    let mut differences: Vec<Difference> = Vec::new();
    let mut opa_agree: BTreeMap<usize, bool> = BTreeMap::new();
    let mut opa_evaluations = 0;
    let mut opa_both_fail = 0;
    let mut opa_both_fail_reordered = 0;
    let mut opa_one_side_fails = 0;
    if let Some(results) = &opa_results {
        assert_eq!(results.len(), opa_index.len(), "oracle answered every case");
        for (r, &i) in results.iter().zip(&opa_index) {
            let b = &built[i];
            assert_eq!(r.name, b.case.id, "oracle results are in spec order");
            opa_evaluations += r.evaluations;
            if r.both_failed_same {
                opa_both_fail += 1;
            }
            if r.load_error_a.is_some() != r.load_error_b.is_some() {
                opa_one_side_fails += 1;
            }
            let mut clean = r.differences.is_empty();
            if let (false, Some(ea), Some(eb)) = (clean, &r.load_error_a, &r.load_error_b) {
                if same_load_errors(ea, eb) {
                    clean = true;
                    opa_both_fail_reordered += 1;
                }
            }
            opa_agree.insert(i, clean);
            if !clean {
                differences.push(Difference {
                    id: b.case.id.clone(),
                    engine: "OPA",
                    detail: format!("{}\n{}", r.differences.join("\n"), describe(b)),
                });
            }
        }
    }
    let mut regorus_evaluations = 0;
    let mut regorus_deviations = Vec::new();
    for (i, (b, (oa, ob))) in built.iter().zip(&regorus_results).enumerate() {
        regorus_evaluations += oa.len();
        let mut lines = Vec::new();
        for ((input, a), bb) in b.case.inputs.iter().zip(oa).zip(ob) {
            if !a.agrees(bb) {
                lines.push(format!(
                    "{} with input {}\n  A: {}\n  B: {}",
                    b.case.query,
                    input.as_deref().unwrap_or("__none__"),
                    a.show(),
                    bb.show()
                ));
            }
        }
        if lines.is_empty() {
            continue;
        }
        let detail = format!("{}\n{}", lines.join("\n"), describe(b));
        if opa_agree.get(&i) == Some(&true) {
            regorus_deviations.push(Difference {
                id: b.case.id.clone(),
                engine: "regorus",
                detail,
            });
        } else {
            differences.push(Difference {
                id: b.case.id.clone(),
                engine: "regorus",
                detail,
            });
        }
    }

    // ---- summary
    let rewritten: Vec<&Built> = built
        .iter()
        .filter(|b| !b.opt.rewrites.is_empty())
        .collect();
    let total_rewrites: usize = built.iter().map(|b| b.opt.rewrites.len()).sum();
    let mut by_pass: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &built {
        for r in &b.opt.rewrites {
            *by_pass.entry(r.pass.as_str()).or_default() += 1;
        }
    }
    let per_set = |set: &str| built.iter().filter(|b| b.case.set == set).count();
    println!("== differential corpus: {}", root.display());
    println!(
        "cases found: {found} ({} opa-cases, {} regorus-cases built; {} unreadable)",
        per_set("opa-cases"),
        per_set("regorus-cases"),
        refused.len()
    );
    match (&opa_results, opa_time) {
        (Some(_), Some(t)) => println!(
            "run in OPA: {} cases (every module Rego v1), {opa_evaluations} evaluations in {:.1} s; \
             {opa_both_fail} fail to load on both sides with the same error, \
             {opa_both_fail_reordered} more with the same errors in another order (agreement)",
            opa_index.len(),
            t.as_secs_f64()
        ),
        _ => println!("run in OPA: none (real OPA engine unavailable, see above)"),
    }
    println!(
        "run in regorus: {} cases ({} with a Rego v0 module: regorus only), {regorus_evaluations} \
         evaluations per side in {:.1} s",
        built.len(),
        built.iter().filter(|b| !b.all_v1).count(),
        regorus_time.as_secs_f64()
    );
    println!(
        "rewrites made: {} cases with >= 1 rewrite, {total_rewrites} rewrites {:?}",
        rewritten.len(),
        by_pass
    );
    for b in &rewritten {
        let passes: Vec<String> = b
            .opt
            .rewrites
            .iter()
            .map(|r| format!("{}@{}:{}", r.pass, r.file, r.line))
            .collect();
        println!(
            "  rewritten: {} ({}): {}",
            b.case.id,
            b.case.note,
            passes.join(", ")
        );
    }
    println!(
        "regopt check: {check_findings} findings, {check_rewritable} marked rewritable, {} of those without a rewrite at their line",
        check_mismatches.len()
    );
    for (why, n) in &check_not_rewritten {
        println!("  [{n}] not rewritten: {why}");
    }
    for m in &check_mismatches {
        println!("  CHECK MISMATCH {m}");
    }
    if opa_one_side_fails > 0 {
        println!(
            "OPA cases where only one side loads: {opa_one_side_fails} (counted as differences)"
        );
    }
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (id, why) in refused.iter().chain(&not_analysable) {
        groups.entry(reason_group(why)).or_default().push(id);
    }
    let unanalysable_cases: std::collections::BTreeSet<&str> = refused
        .iter()
        .chain(&not_analysable)
        .map(|(id, _)| id.as_str())
        .collect();
    println!(
        "cases not analysable: {} ({} reasons; carried through unchanged, still evaluated when built)",
        unanalysable_cases.len(),
        groups.len()
    );
    for (why, ids) in &groups {
        let shown: Vec<&str> = ids.iter().take(4).copied().collect();
        let more = if ids.len() > 4 {
            format!(", … {} more", ids.len() - 4)
        } else {
            String::new()
        };
        println!("  [{}] {why}: {}{more}", ids.len(), shown.join(", "));
    }
    if std::env::var_os("REGOPT_CORPUS_VERBOSE").is_some() {
        for (id, why) in refused.iter().chain(&not_analysable) {
            println!("    {id}: {}", diff_support::one_line(why, 300));
        }
    }
    if !regorus_deviations.is_empty() {
        println!(
            "regorus-only differences where real OPA agrees (regorus deviates from OPA; not counted): {}",
            regorus_deviations.len()
        );
        for d in &regorus_deviations {
            println!("  {}: {}", d.id, d.detail.replace('\n', "\n    "));
        }
    }
    for (id, b) in &bugs {
        println!("PASS BUG (module reverted) in {id}: {b}");
    }
    let known: Vec<&Difference> = differences
        .iter()
        .filter(|d| known_failure(&d.id).is_some())
        .collect();
    println!(
        "differences found: {} ({} in the known-failures list)",
        differences.len(),
        known.len()
    );
    for d in &differences {
        let tag = match known_failure(&d.id) {
            Some(why) => format!("KNOWN FAILURE ({why})"),
            None => "DIFFERENCE".to_string(),
        };
        println!(
            "{tag} [{}] {}:\n  {}",
            d.engine,
            d.id,
            d.detail.replace('\n', "\n  ")
        );
    }
    println!(
        "time: optimize {:.1} s, total {:.1} s",
        optimize_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    let failing: Vec<&str> = differences
        .iter()
        .filter(|d| known_failure(&d.id).is_none() || !diff_support::known_failures_allowed())
        .map(|d| d.id.as_str())
        .collect();
    assert!(
        failing.is_empty(),
        "optimizing changed decisions in {} case(s): {}",
        failing.len(),
        failing.join(", ")
    );
    assert!(
        check_mismatches.is_empty(),
        "{} `regopt check` findings marked rewritable were not rewritten (see CHECK MISMATCH lines)",
        check_mismatches.len()
    );
    assert!(
        bugs.is_empty(),
        "a pass produced an unparsable rewrite in {} case(s) (see PASS BUG lines)",
        bugs.len()
    );
}

/// The case and its optimized modules, to debug a difference.
fn describe(b: &Built) -> String {
    let mut s = format!(
        "case note: {}\nquery: {}\nrewrites:",
        b.case.note, b.case.query
    );
    for r in &b.opt.rewrites {
        s.push_str(&format!(
            "\n  {} {}:{}:{}: `{}` -> `{}`",
            r.pass,
            r.file,
            r.line,
            r.col,
            diff_support::one_line(&r.before, 100),
            diff_support::one_line(&r.after, 100)
        ));
    }
    for (path, text) in b.opt.module_texts() {
        s.push_str(&format!("\n--- optimized {path}\n{text}"));
    }
    s
}

/// The closed world over the corpus: each v1 case whose query is a plain `data.…` path is
/// optimized again with that path as its entrypoint (`-e`), so precompute, field-index and dedup
/// run over every conformance policy (with `--prune-data` as well), and real OPA must decide the
/// query alike on both sides — values, undefined and errors. Precompute evaluates in regorus, so
/// this is where a regorus/OPA difference in a builtin would show.
#[test]
fn closed_world_corpus_cases_never_change_a_decision() {
    let root = corpus_dir();
    if SETS.iter().any(|s| !root.join(s).is_dir()) {
        if diff_support::in_ci() {
            panic!("corpus not found at {}", root.display());
        }
        println!("skipped: corpus not found at {}", root.display());
        return;
    }
    let (cases, _) = load_corpus(&root);
    let mut batch = Vec::new();
    let (mut tried, mut changed, mut rewrites, mut pruned) = (0, 0, 0, 0);
    let mut stages: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        let (files, all_v1) = bundle_files(case);
        let path = case.query.trim();
        if !all_v1 || !path.starts_with("data.") || path.contains(' ') {
            continue;
        }
        let Ok(entry) = regopt::world::parse_entrypoint(path) else {
            continue;
        };
        if entry.iter().any(|s| !regopt::rego::ast::is_ident(s)) {
            continue;
        }
        tried += 1;
        let opts = regopt::pipeline::OptimizeOptions {
            entrypoints: vec![entry],
            prune_data: true,
            ..Default::default()
        };
        let Ok(opt) = diff_support::optimize_with(&files, &opts) else {
            continue;
        };
        assert!(opt.bugs.is_empty(), "{}: pass bugs {:?}", case.id, opt.bugs);
        if opt.files == files {
            continue;
        }
        // Only what optimize changed beyond compaction: a rewrite, pruned or generated data.
        let compacted = diff_support::optimize(&files)
            .map(|o| o.files)
            .unwrap_or_default();
        if opt.files == compacted {
            continue;
        }
        changed += 1;
        rewrites += opt.rewrites.len();
        for r in &opt.rewrites {
            *stages.entry(r.pass.clone()).or_insert(0) += 1;
        }
        let data_of = |f: &Files| {
            f.iter()
                .find(|(p, _)| p == "data.json")
                .map(|(_, b)| b.clone())
        };
        if data_of(&opt.files) != data_of(&files) {
            pruned += 1;
        }
        let inputs: Vec<Value> = case
            .inputs
            .iter()
            .map(|i| Value::String(i.clone().unwrap_or_else(|| "__none__".into())))
            .collect();
        batch.push(json!({
            "name": case.id,
            "a": diff_support::files_side(&files),
            "b": diff_support::files_side(&opt.files),
            "queries": [case.query],
            "inputs": inputs,
        }));
    }
    println!(
        "closed world: {tried} cases with a data path query, {changed} changed by optimize -e <query> --prune-data ({rewrites} rewrites {stages:?}, data changed in {pruned})"
    );
    let Some(engine) = oracle::engine() else {
        return;
    };
    let results = engine.batch(&json!({ "cases": batch }));
    let mut failures = Vec::new();
    let mut evaluations = 0;
    for r in &results {
        evaluations += r.evaluations;
        let same_errors = match (&r.load_error_a, &r.load_error_b) {
            (Some(a), Some(b)) => r.both_failed_same || same_load_errors(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same_errors || !r.differences.is_empty() {
            failures.push(format!(
                "{}: load A {:?}, load B {:?}, differences {:?}",
                r.name, r.load_error_a, r.load_error_b, r.differences
            ));
        }
    }
    println!(
        "closed world in real OPA: {} cases, {evaluations} evaluations per side, {} differ",
        results.len(),
        failures.len()
    );
    assert_eq!(results.len(), batch.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
