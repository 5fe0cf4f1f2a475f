//! `regopt verify` and `optimize --verify`: both bundles evaluated in regorus, every
//! difference listed, modules regorus cannot load reported as not evaluable.

use std::path::{Path, PathBuf};
use std::process::Command;

use regopt::api::{self, OptimizeOptions, ReadOptions, VerifyOptions};
use regopt::bundle::Bundle;
use regopt::verify::{self, Outcome};
use regopt::Error;

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bundles/sample")
}

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, c)| (n.to_string(), c.as_bytes().to_vec()))
        .collect()
}

fn bundle(list: &[(&str, &str)]) -> Bundle {
    api::read_bundle_files(files(list), &ReadOptions::default()).expect("valid bundle")
}

/// Write `(name, text)` files into a new directory under `root`.
fn write_dir(root: &Path, name: &str, list: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(name);
    for (n, c) in list {
        let p = dir.join(n);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
    dir
}

fn regopt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_regopt"))
        .args(args)
        .output()
        .expect("run regopt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const DATA: &str =
    r#"{"rules": {"a": {"allow": true, "level": 3}, "b": {"allow": false, "level": 1}}}"#;

const ORIGINAL: &str = r#"package t

rule := object.get(data.rules, input.k, {})

allow if rule.allow

level := rule.level
"#;

/// A wrong "rewrite": undefined instead of `{}` for a missing key.
const BROKEN: &str = r#"package t

rule := data.rules[input.k]

allow if rule.allow

level := rule.level
"#;

#[test]
fn sample_and_its_optimized_form_agree() {
    let original = api::read_bundle(sample_dir(), &ReadOptions::default()).unwrap();
    let mut optimized = api::read_bundle(sample_dir(), &ReadOptions::default()).unwrap();
    let report = api::optimize(&mut optimized, &OptimizeOptions::default()).unwrap();
    assert!(report.rewrites >= 5);
    let r = api::verify(&original, &optimized, &VerifyOptions::default()).unwrap();
    assert!(r.agrees(), "{}", r.render());
    assert!(r.inputs_generated);
    assert!(r.not_evaluable.is_empty(), "{}", r.render());
    // every package and every rule of it
    for q in [
        "data.authz",
        "data.authz.allow",
        "data.authz.decision",
        "data.authz.matching",
    ] {
        assert!(r.queries.iter().any(|x| x == q), "{q} in {:?}", r.queries);
    }
    assert!(
        !r.queries.iter().any(|q| q.contains("lookup")),
        "functions are not queried"
    );
    assert_eq!(r.compared, r.queries.len() * r.inputs);
    assert_eq!(r.agreed, r.compared);
    assert!(r.inputs > 50 && r.inputs <= verify::DEFAULT_MAX_INPUTS);
}

#[test]
fn generated_inputs_use_real_keys_missing_keys_and_edges() {
    let b = bundle(&[
        ("rules/data.json", r#"{"x1": 1, "x2": 2}"#),
        (
            "p.rego",
            "package p\nv := data.rules[input.user.id]\nn if input.roles[_] == \"r\"\n",
        ),
    ]);
    let inputs = verify::generate_inputs(&b, 100).unwrap();
    assert_eq!(inputs[0], None, "no input first");
    assert_eq!(inputs[1].as_deref(), Some("{}"));
    let all: Vec<&str> = inputs.iter().flatten().map(String::as_str).collect();
    let has = |s: &str| all.iter().any(|i| i.contains(s));
    assert!(
        has(r#""id":"x1""#) && has(r#""id":"x2""#),
        "real keys: {all:?}"
    );
    assert!(has(r#""id":"__regopt_missing__""#), "a missing key");
    for edge in [
        r#""id":"""#,
        r#""id":1}"#,
        r#""id":"1""#,
        r#""id":true"#,
        r#""id":null"#,
        r#""id":[]"#,
    ] {
        assert!(has(edge), "{edge} in {all:?}");
    }
    // input.roles is iterated: arrays come first
    assert!(all[1].contains(r#""roles":["#), "{}", all[1]);
    let again = verify::generate_inputs(&b, 100).unwrap();
    assert_eq!(inputs, again, "deterministic");
    assert!(verify::generate_inputs(&b, 5).unwrap().len() <= 5);
}

#[test]
fn a_wrong_rewrite_is_found_with_the_input_that_shows_it() {
    let data = ("rules/data.json", DATA);
    let original = bundle(&[data, ("t.rego", ORIGINAL)]);
    let broken = bundle(&[data, ("t.rego", BROKEN)]);
    let r = api::verify(&original, &broken, &VerifyOptions::default()).unwrap();
    assert!(!r.agrees());
    let d = r
        .differences
        .iter()
        .find(|d| {
            d.query == "data.t.rule" && d.input.as_deref() == Some(r#"{"k":"__regopt_missing__"}"#)
        })
        .unwrap_or_else(|| panic!("missing-key difference in\n{}", r.render()));
    assert_eq!(d.original, Outcome::Value("{}".into()));
    assert_eq!(d.optimized, Outcome::Undefined);
    // every difference is listed, the package document's too
    assert!(r.differences.iter().any(|d| d.query == "data.t"));
    assert_eq!(
        r.agreed + r.differences.len() + r.inconclusive.len(),
        r.compared
    );
    let text = r.render();
    assert!(text.contains("difference: data.t.rule"), "{text}");
    assert!(
        text.contains("original:  {}") && text.contains("optimized: undefined"),
        "{text}"
    );
}

#[test]
fn errors_agree_whatever_their_message() {
    let original = bundle(&[("t.rego", "package t\nx := 1 / input.n\n")]);
    let other = bundle(&[("t.rego", "package t\n\nx := 1 / input.n\n")]);
    let opts = VerifyOptions {
        inputs: Some(vec![
            Some(r#"{"n": 0}"#.into()),
            Some(r#"{"n": "a"}"#.into()),
            Some(r#"{"n": 2}"#.into()),
        ]),
        ..VerifyOptions::default()
    };
    let r = api::verify(&original, &other, &opts).unwrap();
    assert!(r.agrees(), "{}", r.render());
    assert_eq!(r.compared, 2 * 3);
}

#[test]
fn error_against_value_is_a_difference() {
    let original = bundle(&[("t.rego", "package t\nx := 1 / input.n\n")]);
    let other = bundle(&[("t.rego", "package t\nx := 1 / input.n if input.n != 0\n")]);
    let opts = VerifyOptions {
        inputs: Some(vec![Some(r#"{"n": 0}"#.into())]),
        entrypoints: vec!["t/x".into()],
        ..VerifyOptions::default()
    };
    let r = api::verify(&original, &other, &opts).unwrap();
    assert_eq!(r.differences.len(), 1, "{}", r.render());
    assert!(matches!(r.differences[0].original, Outcome::Error(_)));
    assert_eq!(r.differences[0].optimized, Outcome::Undefined);
}

#[test]
fn modules_regorus_cannot_load_are_reported_not_counted() {
    let list = [
        ("ok/ok.rego", "package ok\nv := input.x\n"),
        (
            "bad/bad.rego",
            "package bad\nv := no_such_builtin(input.x)\n",
        ),
        ("uses/uses.rego", "package uses\nw := data.bad.v\n"),
    ];
    let a = bundle(&list);
    let b = bundle(&list);
    let r = api::verify(&a, &b, &VerifyOptions::default()).unwrap();
    assert!(r.agrees(), "{}", r.render());
    let ne: Vec<&str> = r.not_evaluable.iter().map(|n| n.query.as_str()).collect();
    assert!(
        ne.contains(&"data.bad") && ne.contains(&"data.bad.v"),
        "{ne:?}"
    );
    assert!(ne.contains(&"data.uses.w"), "dependents too: {ne:?}");
    assert!(!ne.contains(&"data.ok.v"), "{ne:?}");
    assert!(
        r.not_evaluable
            .iter()
            .all(|n| n.reason.contains("no_such_builtin")),
        "{:?}",
        r.not_evaluable
    );
    assert_eq!(
        r.compared,
        (r.queries.len() - r.not_evaluable.len()) * r.inputs
    );
    assert!(r.render().contains("not evaluable: data.bad.v"));

    // a module regorus refuses to load is left out on both sides, with its dependents
    let list = [
        ("ok/ok.rego", "package ok\nv := input.x\n"),
        ("odd/odd.rego", "package odd\nv := 1\nw := v + 1\n"),
        (
            "uses/uses.rego",
            "package uses\nimport data.odd\nw := odd.v\n",
        ),
    ];
    // a syntax error
    let mut odd = files(&list);
    odd[1].1 = b"package odd\nv := 1\nw := [\n".to_vec();
    let c = api::read_bundle_files(odd, &ReadOptions::default()).unwrap();
    let r = api::verify(&c, &c, &VerifyOptions::default()).unwrap();
    assert!(r.agrees());
    assert_eq!(r.excluded_modules.len(), 1, "{}", r.render());
    assert_eq!(r.excluded_modules[0].file, "odd/odd.rego");
    let ne: Vec<&str> = r.not_evaluable.iter().map(|n| n.query.as_str()).collect();
    assert!(
        ne.contains(&"data.odd") && ne.contains(&"data.uses.w"),
        "{}",
        r.render()
    );
    assert!(!ne.contains(&"data.ok.v"), "{ne:?}");
    assert!(
        r.render().contains("not loaded: odd/odd.rego"),
        "{}",
        r.render()
    );
}

#[test]
fn entrypoints_queries_and_given_inputs() {
    let original = bundle(&[("rules/data.json", DATA), ("t.rego", ORIGINAL)]);
    let opts = VerifyOptions {
        entrypoints: vec!["t/allow".into(), "data.t.level".into()],
        queries: vec!["count(data.rules)".into(), "x := data.t.level".into()],
        inputs: Some(vec![None, Some(r#"{"k":"a"}"#.into())]),
        ..VerifyOptions::default()
    };
    let r = api::verify(&original, &original, &opts).unwrap();
    assert_eq!(
        r.queries,
        vec![
            "data.t.allow",
            "data.t.level",
            "count(data.rules)",
            "x := data.t.level"
        ]
    );
    assert_eq!((r.inputs, r.compared), (2, 8));
    assert!(r.agrees());
    assert!(!r.inputs_generated);
}

#[test]
fn optimize_verify_step_refuses_on_a_difference() {
    let original = bundle(&[("rules/data.json", DATA), ("t.rego", ORIGINAL)]);
    let broken = bundle(&[("rules/data.json", DATA), ("t.rego", BROKEN)]);
    let mut report = regopt::report::Report::default();
    let e = verify::verify_step(&original, &broken, &VerifyOptions::default(), &mut report)
        .unwrap_err();
    assert_eq!(e.exit_code(), 30);
    assert!(e.to_string().contains("nothing written"), "{e}");
    let Error::VerifyFailed {
        report: r,
        differences,
        ..
    } = e
    else {
        panic!("VerifyFailed expected");
    };
    assert_eq!(differences, r.differences.len());
    verify::verify_step(&original, &original, &VerifyOptions::default(), &mut report).unwrap();
    assert!(
        report.notes.iter().any(|n| n.starts_with("verify: ")),
        "{:?}",
        report.notes
    );
}

#[test]
fn optimize_with_verify_in_the_library() {
    let mut b = api::read_bundle(sample_dir(), &ReadOptions::default()).unwrap();
    let opts = OptimizeOptions {
        verify: Some(VerifyOptions {
            max_inputs: 60,
            ..VerifyOptions::default()
        }),
        ..OptimizeOptions::default()
    };
    let report = api::optimize(&mut b, &opts).unwrap();
    assert!(report.rewrites >= 5);
    let note = report
        .notes
        .iter()
        .find(|n| n.starts_with("verify: "))
        .expect("verify note");
    assert!(note.contains("0 differ"), "{note}");
}

#[test]
fn cli_verify_agrees_on_the_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sample.opt.tar.gz");
    let sample = sample_dir();
    let (code, _, err) = regopt(&[
        "optimize",
        sample.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = regopt(&[
        "verify",
        sample.to_str().unwrap(),
        out.to_str().unwrap(),
        "--max-inputs",
        "50",
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("verify: 14 of 14 queries x 50 generated inputs: 700 pairs compared, 700 agree, 0 differ"), "{stdout}");

    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inputs/sample.jsonl");
    let (code, stdout, err) = regopt(&[
        "verify",
        sample.to_str().unwrap(),
        out.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "-e",
        "authz/allow",
        "-e",
        "authz/decision",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["inputs"], 30);
    assert_eq!(v["compared"], 60);
    assert_eq!(v["differences"].as_array().unwrap().len(), 0);

    let (code, stdout, _) = regopt(&[
        "verify",
        sample.to_str().unwrap(),
        out.to_str().unwrap(),
        "-q",
        "--max-inputs",
        "10",
    ]);
    assert_eq!((code, stdout.as_str()), (0, ""));
}

#[test]
fn cli_verify_lists_differences_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_dir(
        tmp.path(),
        "a",
        &[("rules/data.json", DATA), ("t.rego", ORIGINAL)],
    );
    let b = write_dir(
        tmp.path(),
        "b",
        &[("rules/data.json", DATA), ("t.rego", BROKEN)],
    );
    let (code, stdout, err) = regopt(&[
        "verify",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-e",
        "t/rule",
    ]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(stdout.contains("difference: data.t.rule\n  input:     {\"k\":\"__regopt_missing__\"}\n  original:  {}\n  optimized: undefined\n"), "{stdout}");
    assert!(stdout.contains("differ"), "{stdout}");

    let (code, json, _) = regopt(&[
        "verify",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-e",
        "t/rule",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let d = &v["differences"][0];
    assert_eq!(d["query"], "data.t.rule");
    assert!(d["original"].get("value").is_some() || d["original"].get("undefined").is_some());
}

#[test]
fn cli_verify_bad_inputs_file_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in.jsonl");
    std::fs::write(&inputs, "{\"k\": 1}\n{not json}\n").unwrap();
    let sample = sample_dir();
    let s = sample.to_str().unwrap();
    let (code, _, err) = regopt(&["verify", s, s, "--inputs", inputs.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("in.jsonl:2: invalid JSON"), "{err}");
    let (code, _, err) = regopt(&["verify", s, "/nonexistent/bundle.tar.gz"]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn cli_optimize_verify_writes_when_all_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.tar.gz");
    let sample = sample_dir();
    let (code, _, err) = regopt(&[
        "optimize",
        sample.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--verify",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_file());
    assert!(err.contains("note: verify: 14 of 14 queries"), "{err}");
}
