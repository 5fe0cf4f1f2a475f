//! Shared helpers for the pass tests: run the passes on in-memory modules and evaluate policies
//! before/after in regorus (in-process differential check; real-OPA checks use tests/common).
#![allow(dead_code)]

use regopt::passes::{self, PassOptions, PassReport};
use regopt::rego::{JsonDataView, ModuleSource, RegoVersion};
use serde_json::Value;

/// Optimize `files` (all of one Rego version) over `data`.
pub fn optimize(
    files: &[(&str, &str)],
    version: RegoVersion,
    data: &Value,
    only: Option<&[&str]>,
) -> (Vec<ModuleSource>, PassReport) {
    let mut mods: Vec<ModuleSource> = files
        .iter()
        .map(|(p, t)| ModuleSource::new(*p, *t, version))
        .collect();
    let opts = PassOptions {
        only: only.map(|o| o.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let view = JsonDataView::new(data.clone());
    let report = passes::run(&mut mods, &view, &opts);
    (mods, report)
}

/// Evaluate `query` in regorus (strict builtin errors, like the OPA oracle) and render the
/// outcome as canonical text: the sorted result values, `undefined`, or `ERROR`.
pub fn eval(modules: &[ModuleSource], data: &Value, input: Option<&Value>, query: &str) -> String {
    let mut e = regorus::Engine::new();
    e.set_strict_builtin_errors(true);
    if modules.iter().any(|m| m.version == RegoVersion::V0) {
        e.set_rego_v0(true);
    }
    for m in modules {
        if let Err(err) = e.add_policy(m.path.clone(), m.text.clone()) {
            return format!("LOAD ERROR {err}");
        }
    }
    if let Err(err) = e.add_data_json(&data.to_string()) {
        return format!("DATA ERROR {err}");
    }
    if let Some(i) = input {
        if e.set_input_json(&i.to_string()).is_err() {
            return "INPUT ERROR".into();
        }
    }
    match e.eval_query(query.to_string(), false) {
        Ok(r) => {
            let mut vals: Vec<String> = r
                .result
                .iter()
                .flat_map(|q| {
                    q.expressions
                        .iter()
                        .map(|x| x.value.to_json_str().unwrap_or_default())
                })
                .collect();
            vals.sort();
            if vals.is_empty() {
                "undefined".into()
            } else {
                vals.join(" | ")
            }
        }
        Err(_) => "ERROR".into(),
    }
}

/// Assert before/after agree on every (input) for `query`.
pub fn assert_same(
    before: &[ModuleSource],
    after: &[ModuleSource],
    data: &Value,
    inputs: &[Option<Value>],
    query: &str,
) {
    for inp in inputs {
        let a = eval(before, data, inp.as_ref(), query);
        let b = eval(after, data, inp.as_ref(), query);
        assert!(!a.contains("LOAD ERROR"), "original does not load: {a}");
        assert_eq!(
            a,
            b,
            "input {inp:?} query {query}\n--- after ---\n{}",
            after
                .iter()
                .map(|m| m.text.as_str())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
    }
}

/// The standard edge inputs: string keys present/missing, "" , number vs string, null, bool,
/// object, array paths, and no key at all.
pub fn key_inputs() -> Vec<Option<Value>> {
    use serde_json::json;
    let keys = [
        json!("k"),
        json!("f"),
        json!("n"),
        json!("z"),
        json!("missing"),
        json!(""),
        json!("1"),
        json!(1),
        json!(1.0),
        json!(null),
        json!(true),
        json!({"a": 1}),
        json!(["a", "b"]),
        json!(["a"]),
        json!(["a", "x"]),
        json!([]),
        json!(["a", "arr", 1]),
        json!("a.b"),
    ];
    let mut v: Vec<Option<Value>> = keys.iter().map(|k| Some(json!({ "key": k }))).collect();
    v.push(Some(json!({})));
    v.push(None);
    v
}

/// Edge data for data.rules: false/null/0/{} values, a "1" key, nested paths.
pub fn edge_rules() -> Value {
    serde_json::json!({
        "k": "kv", "f": false, "n": null, "z": 0, "e": {}, "1": "one", "": "empty",
        "a": {"b": 1, "arr": [10, 20]}, "a.b": "dotted"
    })
}

/// What a query-level `with data.rules as …` (given at evaluation time, not in the bundle, so no
/// pass sees it) may put in place of the bundle's object: other types, empty collections,
/// objects with other keys, and keys that are not strings.
pub const QUERY_MOCKS: &[&str] = &[
    r#"["x", "y"]"#,
    "[]",
    r#""str""#,
    "null",
    "0",
    "{}",
    r#"{"k"}"#,
    r#"{"k": "mocked", "1": "one", "a": {"b": 2}}"#,
    r#"{1: "one", "k": "mocked", ["a"]: "arr", null: "n", true: "t"}"#,
    r#"{1.0: "float", "a": {1: "nested"}}"#,
];

/// Every query again with each of [`QUERY_MOCKS`] replacing data.rules.
pub fn mocked_queries(queries: &[String]) -> Vec<String> {
    queries
        .iter()
        .flat_map(|q| {
            QUERY_MOCKS
                .iter()
                .map(move |m| format!("{q} with data.rules as {m}"))
        })
        .collect()
}
