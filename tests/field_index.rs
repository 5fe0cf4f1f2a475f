//! Pass `field-index` (closed world): scans that keep the elements whose field equals a value
//! become index lookups. What is rewritten and declined (in process), and the same decisions in
//! real OPA v1.20.2 for every pattern × data shape × input (values, undefined and errors).

mod common;

use common::oracle;
use regopt::bundle::read::from_entries;
use regopt::bundle::ReadOptions;
use regopt::pipeline::{optimize_bundle, OptimizeOptions};
use serde_json::{json, Value};

type Files = Vec<(String, Vec<u8>)>;

const MANIFEST: &str = r#"{"roots": ["t", "users"]}"#;

struct Opt {
    files: Files,
    /// (pass, before) of every rewrite.
    rewrites: Vec<(String, String)>,
    /// Reasons of every decline.
    declined: Vec<String>,
    notes: Vec<String>,
}

fn optimize(files: &Files, entrypoints: &[&str]) -> Opt {
    let mut bundle = from_entries(files.iter().cloned(), &ReadOptions::default()).unwrap();
    let opts = OptimizeOptions {
        entrypoints: entrypoints
            .iter()
            .map(|e| regopt::world::parse_entrypoint(e).unwrap())
            .collect(),
        ..OptimizeOptions::default()
    };
    let report = optimize_bundle(&mut bundle, &opts).unwrap();
    let passes = report.passes.clone().unwrap_or(Value::Null);
    let list = |k: &str| passes[k].as_array().cloned().unwrap_or_default();
    let bugs = list("bugs");
    assert!(bugs.is_empty(), "pass bugs: {bugs:?}");
    Opt {
        files: bundle
            .files
            .iter()
            .map(|f| (f.path.clone(), f.bytes.clone()))
            .collect(),
        rewrites: list("rewrites")
            .iter()
            .map(|r| {
                (
                    r["pass"].as_str().unwrap().to_string(),
                    r["before"].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        declined: list("declined")
            .iter()
            .filter(|d| d["pass"] == "field-index")
            .map(|d| d["reason"].as_str().unwrap().to_string())
            .collect(),
        notes: report.notes,
    }
}

fn bundle(policy: &str, users: &Value) -> Files {
    vec![
        (".manifest".into(), MANIFEST.as_bytes().to_vec()),
        (
            "t/t.rego".into(),
            format!("package t\n\n{policy}").into_bytes(),
        ),
        (
            "users/data.json".into(),
            json!({ "list": users.clone(), "other": 1 })
                .to_string()
                .into_bytes(),
        ),
    ]
}

fn index_rewrites(o: &Opt) -> usize {
    o.rewrites
        .iter()
        .filter(|(p, _)| p == "field-index")
        .count()
}

/// Patterns: (name, policy, queries, rewritten where data.users.list is a collection whose
/// `email` fields are strings). Each reads the input somewhere: a rule that depends on data
/// alone is precomputed before field-index sees it.
const PATTERNS: &[(&str, &str, &[&str], bool)] = &[
    (
        "some-in-comprehension",
        "names := [r.name | some r in data.users.list; r.email == input.email]\n",
        &["data.t.names"],
        true,
    ),
    (
        "some-key-value-partial-set",
        "keys contains k if {\n\tsome k, r in data.users.list\n\tinput.email == r.email\n}\n",
        &["data.t.keys"],
        true,
    ),
    (
        "wildcard-assign-literal",
        "allow if {\n\tr := data.users.list[_]\n\tr.email == \"a@x\"\n\tr.role == object.get(input, \"role\", \"admin\")\n}\n",
        &["data.t.allow"],
        true,
    ),
    (
        "complete-rule-conflict",
        "first := n if {\n\tsome r in data.users.list\n\tr.email == input.email\n\tn := r.name\n}\n",
        &["data.t.first"],
        true,
    ),
    (
        "bracket-field-and-count",
        "n := count([r | some r in data.users.list; r[\"email\"] == input.email])\n",
        &["data.t.n"],
        true,
    ),
    (
        "object-iteration-order",
        "pairs := [[k, r.name] | some k, r in data.users.list; r.email == input.email]\n",
        &["data.t.pairs"],
        true,
    ),
    (
        "index-variable-lookup",
        "names := [data.users.list[i].name | data.users.list[i].email == input.email]\n",
        &["data.t.names"],
        true,
    ),
    (
        "wildcard-lookup",
        "allow if data.users.list[_].email == input.email\n",
        &["data.t.allow"],
        true,
    ),
    (
        "some-declared-index",
        "keys contains i if {\n\tsome i\n\tinput.email == data.users.list[i][\"email\"]\n}\n",
        &["data.t.keys"],
        true,
    ),
    (
        "bound-index-declines",
        "names := [n | i := 2; n := data.users.list[i].name; data.users.list[i].email == input.email]\n",
        &["data.t.names"],
        false,
    ),
    (
        "statement-between-declines",
        "names := [r.name | some r in data.users.list; startswith(r.name, \"A\"); r.email == input.email]\n",
        &["data.t.names"],
        false,
    ),
    (
        "variable-value-declines",
        "names := [r.name | x := input.email; some r in data.users.list; r.email == x]\n",
        &["data.t.names"],
        false,
    ),
    (
        "with-in-module-declines",
        "names := [r.name | some r in data.users.list; r.email == input.email]\nmocked := x if {\n\tx := names with data.users.list as [{\"email\": \"q\", \"name\": \"Q\"}]\n}\n",
        &["data.t.names", "data.t.mocked"],
        false,
    ),
];

fn data_shapes() -> Vec<(&'static str, Value)> {
    vec![
        (
            "several-matches",
            json!([
                {"email": "a@x", "role": "admin", "name": "A"},
                {"email": "b@x", "role": "dev", "name": "B"},
                {"email": "a@x", "role": "dev", "name": "A2"},
                {"name": "no-email"},
                "not-an-object",
                {"email": "1", "name": "one"},
                {"email": "", "name": "empty"}
            ]),
        ),
        ("empty", json!([])),
        (
            "object-collection",
            json!({
                "z": {"email": "a@x", "name": "Z"},
                "m": {"email": "c@x", "name": "M"},
                "a": {"email": "a@x", "name": "A"},
                "B": {"email": "1", "name": "B"}
            }),
        ),
        (
            "number-field",
            json!([{"email": 1, "name": "n"}, {"email": "a@x", "name": "A"}]),
        ),
        ("string", json!("a@x")),
    ]
}

fn inputs() -> Vec<String> {
    [
        r#"{"email": "a@x"}"#,
        r#"{"email": "b@x"}"#,
        r#"{"email": "1"}"#,
        r#"{"email": 1}"#,
        r#"{"email": ""}"#,
        r#"{"email": "nobody"}"#,
        r#"{"email": null}"#,
        r#"{"email": ["a@x"]}"#,
        r#"{}"#,
        "__none__",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn open_world_builds_no_index() {
    let files = bundle(PATTERNS[0].1, &data_shapes()[0].1);
    let o = optimize(&files, &[]);
    assert_eq!(index_rewrites(&o), 0);
    assert!(!o.files.iter().any(|(p, _)| p.contains("__regopt__")));
}

#[test]
fn index_document_holds_positions_in_iteration_order() {
    let files = bundle(PATTERNS[0].1, &data_shapes()[0].1);
    let o = optimize(&files, &["t/names"]);
    assert_eq!(index_rewrites(&o), 1, "{:?} {:?}", o.declined, o.notes);
    let (path, doc) = o
        .files
        .iter()
        .find(|(p, _)| p.ends_with("__regopt__/data.json"))
        .expect("generated documents");
    // The first root where nothing reads the parent as a whole.
    assert_eq!(path, "t/__regopt__/data.json");
    let doc: Value = serde_json::from_slice(doc).unwrap();
    let (_, idx) = doc.as_object().unwrap().iter().next().unwrap();
    assert_eq!(idx, &json!({"": [6], "1": [5], "a@x": [0, 2], "b@x": [1]}));
    // Idempotent and deterministic.
    let again = optimize(&o.files, &["t/names"]);
    assert_eq!(again.rewrites.len(), 0);
    assert_eq!(again.files, o.files);
    assert_eq!(optimize(&files, &["t/names"]).files, o.files);
}

#[test]
fn declines_say_why() {
    let shapes = data_shapes();
    let cases: &[(&str, &Value, &str)] = &[
        (
            PATTERNS[9].1,
            &shapes[0].1,
            "may be bound before the comparison",
        ),
        (
            PATTERNS[10].1,
            &shapes[0].1,
            "statement right after the scan",
        ),
        (
            PATTERNS[11].1,
            &shapes[0].1,
            "not a string literal or a static input",
        ),
        (PATTERNS[12].1, &shapes[0].1, "may replace data.users.list"),
        (
            PATTERNS[0].1,
            &shapes[3].1,
            "holds a number in some element",
        ),
        (PATTERNS[0].1, &shapes[4].1, "not a collection"),
        // regorus parses it, OPA refuses it, and `input := …` would not parse. (With `data`
        // the whole of data is read and no path is reserved for the index.)
        (
            "names := [1 | some input in data.users.list; input.email == \"a@x\"]\n",
            &shapes[0].1,
            "binds the variable `input`",
        ),
    ];
    for (policy, users, why) in cases {
        let o = optimize(&bundle(policy, users), &["t"]);
        assert_eq!(index_rewrites(&o), 0, "{policy}");
        assert!(
            o.declined.iter().any(|d| d.contains(why)),
            "{policy}: expected a decline containing {why:?}, got {:?}",
            o.declined
        );
    }
}

#[test]
fn no_reserved_path_no_index() {
    // Reading data.users as a whole makes data.users.__regopt__ unsafe, and `t` holds the
    // entrypoint: no reserved path, so nothing is indexed and the report says why.
    let policy = "names := [r.name | some r in data.users.list; r.email == input.email]\nall := data.users\n";
    let o = optimize(&bundle(policy, &data_shapes()[0].1), &["t"]);
    assert_eq!(index_rewrites(&o), 0);
    assert!(
        o.notes.iter().any(|n| n.contains("no reserved path")),
        "{:?}",
        o.notes
    );
    assert!(o.declined.iter().any(|d| d.contains("no reserved path")));
}

#[test]
fn same_decisions_in_real_opa() {
    let Some(engine) = oracle::engine() else {
        return;
    };
    let inputs = inputs();
    let mut cases = Vec::new();
    let mut rewritten = 0;
    let mut missing = Vec::new();
    for (name, policy, queries, rewrites) in PATTERNS {
        for (shape, users) in data_shapes() {
            let files = bundle(policy, &users);
            let o = optimize(&files, &["t"]);
            let n = index_rewrites(&o);
            rewritten += n;
            let indexable = matches!(shape, "several-matches" | "empty" | "object-collection");
            if *rewrites && indexable && n == 0 {
                missing.push(format!(
                    "{name} / {shape}: not rewritten ({:?})",
                    o.declined
                ));
            }
            if !*rewrites && n > 0 {
                missing.push(format!(
                    "{name} / {shape}: rewritten but should be declined"
                ));
            }
            let side = |f: &Files| {
                let mut map = serde_json::Map::new();
                for (p, b) in f {
                    map.insert(p.clone(), Value::String(String::from_utf8_lossy(b).into()));
                }
                json!({ "files": map })
            };
            cases.push(json!({
                "name": format!("{name} / {shape}"),
                "a": side(&files),
                "b": side(&o.files),
                "queries": queries,
                "inputs": inputs,
            }));
        }
    }
    let results = engine.batch(&json!({ "cases": cases }));
    let mut evaluations = 0;
    let mut failures = Vec::new();
    for r in &results {
        evaluations += r.evaluations;
        if !r.loaded_and_agree() {
            failures.push(format!(
                "{}: load A {:?}, load B {:?}, differences {:?}",
                r.name, r.load_error_a, r.load_error_b, r.differences
            ));
        }
    }
    println!(
        "field-index in real OPA: {} bundles, {evaluations} evaluations per side, {rewritten} index rewrites, {} differences",
        results.len(),
        failures.len()
    );
    assert_eq!(results.len(), cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(rewritten >= 25, "only {rewritten} rewrites");
}
