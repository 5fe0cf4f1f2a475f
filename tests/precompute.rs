//! The `precompute` stage: rule shapes it replaces, every reason it declines, the open world,
//! idempotence, determinism, and real-OPA (v1.20.2) differential runs over generated bundles
//! (several data shapes: matches, none, wrong types, empty collections, conflicts, large values
//! stored under the reserved path) — original vs optimized on entrypoint queries × inputs.

mod common;
mod diff_support;

use common::oracle;
use diff_support::Files;
use regopt::bundle::read::from_entries;
use regopt::bundle::ReadOptions;
use regopt::passes::PassOptions;
use regopt::pipeline::{module_sources, optimize_bundle, OptimizeOptions};
use serde_json::{json, Value};

struct Out {
    files: Files,
    /// (before, after) of precompute rewrites.
    rewrites: Vec<(String, String)>,
    /// Rewrites of any pass.
    all_rewrites: usize,
    declines: Vec<String>,
    notes: Vec<String>,
}

impl Out {
    fn module(&self, path: &str) -> String {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }

    fn file(&self, path: &str) -> Option<String> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
    }

    /// The stored document the module line `<lhs> := …data.__regopt__.pre_X…` (or the partial
    /// set `<lhs> contains …`) reads. A set of strings is stored as an object `{elem: true}`
    /// (looked up by element); it is returned here as its elements, in order.
    fn stored(&self, module: &str, lhs: &str) -> Value {
        let m = self.module(module);
        let line = m
            .lines()
            .find(|l| {
                let l = l.trim_start();
                l.starts_with(&format!("{lhs} := "))
                    || l.starts_with(&format!("{lhs} contains "))
                    || l.starts_with(&format!("{lhs}[__regopt_x]"))
            })
            .unwrap_or_else(|| panic!("no `{lhs} := ` in {m}"));
        let at = line
            .find("data.__regopt__.pre_")
            .unwrap_or_else(|| panic!("{line}"));
        let name: String = line[at + "data.__regopt__.".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let gen: Value =
            serde_json::from_str(&self.file("__regopt__/data.json").expect("generated")).unwrap();
        let doc = gen[&name].clone();
        if line.contains(&format!("{name}[__regopt_x]")) {
            let obj = doc
                .as_object()
                .expect("a set of strings is stored as an object");
            assert!(obj.values().all(|v| v == &Value::Bool(true)), "{doc}");
            return Value::Array(obj.keys().map(|k| Value::String(k.clone())).collect());
        }
        doc
    }

    fn declined(&self, needle: &str) -> bool {
        self.declines.iter().any(|d| d.contains(needle))
    }
}

/// A data-only set of admin names, looked up with the input.
const ADMINS_POLICY: &str =
    "package p\nadmins := {u.name | some u in data.users; u.role == \"admin\"}\nallow if input.user in admins\n";

fn files(modules: &[(&str, &str)], data: Value, manifest: Option<Value>) -> Files {
    let mut f: Files = Vec::new();
    if let Some(m) = manifest {
        f.push((".manifest".into(), m.to_string().into_bytes()));
    }
    f.push(("data.json".into(), data.to_string().into_bytes()));
    for (p, t) in modules {
        f.push((p.to_string(), t.as_bytes().to_vec()));
    }
    f
}

fn optimize(f: &Files, entrypoints: &[&str]) -> Out {
    let read = ReadOptions::default();
    let mut bundle = from_entries(f.iter().cloned(), &read).expect("bundle reads");
    let opts = OptimizeOptions {
        entrypoints: entrypoints
            .iter()
            .map(|e| regopt::world::parse_entrypoint(e).unwrap())
            .collect(),
        passes: PassOptions {
            explain: true,
            ..PassOptions::default()
        },
        ..OptimizeOptions::default()
    };
    let report = optimize_bundle(&mut bundle, &opts).expect("optimize");
    let passes = report.passes.clone().unwrap_or(Value::Null);
    let list = |k: &str| passes[k].as_array().cloned().unwrap_or_default();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let rewrites = list("rewrites")
        .iter()
        .filter(|r| r["pass"] == "precompute")
        .map(|r| (s(&r["before"]), s(&r["after"])))
        .collect();
    let declines = list("declined")
        .iter()
        .filter(|r| r["pass"] == "precompute")
        .map(|r| format!("{}:{}: {}", r["line"], r["col"], s(&r["reason"])))
        .collect();
    assert!(list("bugs").is_empty(), "pass bugs: {:?}", list("bugs"));
    let _ = module_sources(&bundle);
    Out {
        files: bundle
            .files
            .iter()
            .map(|f| (f.path.clone(), f.bytes.clone()))
            .collect(),
        rewrites,
        all_rewrites: list("rewrites").len(),
        declines,
        notes: report.notes.clone(),
    }
}

fn users() -> Value {
    json!({
        "users": [
            {"name": "alice", "role": "admin"},
            {"name": "bob", "role": "dev"},
            {"name": "carol", "role": "admin"}
        ],
        "rules": {"a": {"x": 1}, "b": {"x": 2}}
    })
}

fn one(module: &str) -> Out {
    optimize(&files(&[("p.rego", module)], users(), None), &["p/allow"])
}

#[test]
fn complete_rule_with_comprehension_value() {
    let o = one(ADMINS_POLICY);
    assert!(
        o.module("p.rego")
            .contains("admins := {__regopt_x | data.__regopt__.pre_"),
        "{}",
        o.module("p.rego")
    );
    assert_eq!(o.stored("p.rego", "admins"), json!(["alice", "carol"]));
    assert_eq!(o.rewrites.len(), 1);
    assert!(o.declined("depends on input"), "{:?}", o.declines);
}

#[test]
fn default_and_conditional_definitions_become_one() {
    let o = one("package p\ndefault n := 0\nn := count(data.users) if count(data.users) > 1\nallow if n > input.k\n");
    let m = o.module("p.rego");
    assert_eq!(o.stored("p.rego", "n"), json!(3), "{m}");
    assert!(!m.contains("default"), "{m}");
    assert_eq!(m.matches("n := ").count(), 1, "{m}");
}

#[test]
fn else_chain() {
    let o = one("package p\nlevel := 1 if count(data.users) > 5\nelse := 2 if count(data.users) > 2\nelse := 3\nallow if level == input.level\n");
    let m = o.module("p.rego");
    assert_eq!(o.stored("p.rego", "level"), json!(2), "{m}");
    assert!(!m.contains("else"), "{m}");
}

#[test]
fn partial_set_and_object_rules() {
    let o = one("package p\nnames contains u.name if some u in data.users\nbyname[u.name] := u.role if some u in data.users\nallow if byname[input.user] == \"admin\"\n");
    let m = o.module("p.rego");
    assert_eq!(
        o.stored("p.rego", "names"),
        json!(["alice", "bob", "carol"]),
        "{m}"
    );
    assert_eq!(
        o.stored("p.rego", "byname"),
        json!({"alice": "admin", "bob": "dev", "carol": "admin"}),
        "{m}"
    );
}

#[test]
fn comprehension_in_body() {
    let o = one("package p\nallow if {\n\tidx := {k: v | some k, v in data.rules}\n\tidx[input.rule].x == 1\n}\n");
    let m = o.module("p.rego");
    // The value is data.rules itself: the rule reads it instead of a copy (then `alias`
    // turns `idx[...]` into a direct lookup).
    assert!(!m.contains("some k, v in data.rules"), "{m}");
    assert!(m.contains("data.rules["), "{m}");
}

#[test]
fn boolean_rules_are_inlined() {
    let o = one("package p\ndefault any_admin := false\nany_admin if {\n\tsome u in data.users\n\tu.role == \"admin\"\n}\nallow if any_admin\n");
    let m = o.module("p.rego");
    assert!(m.contains("any_admin := true\n"), "{m} {:?}", o.declines);
    assert!(!m.contains("default"), "{m}");
}

#[test]
fn comprehension_in_body_stored() {
    let o = one("package p\nallow if {\n\tadmins := {u.name | some u in data.users; u.role == \"admin\"}\n\tinput.user in admins\n}\n");
    let m = o.module("p.rego");
    assert!(
        m.contains("admins := {__regopt_x | data.__regopt__.pre_"),
        "{m}"
    );
    assert_eq!(o.stored("p.rego", "admins"), json!(["alice", "carol"]));
}

#[test]
fn local_named_like_a_rule_is_declined() {
    let o = one("package p\nu := 1\nnames := {u.name | some u in data.users}\nallow if input.user in names\n");
    assert!(
        o.declined("the local variable u has the name of a rule"),
        "{:?}",
        o.declines
    );
}

#[test]
fn sibling_comprehensions_with_the_same_variable() {
    let o = one("package p\nallow if {\n\ta := {u.name | some u in data.users; u.role == \"admin\"}\n\tb := {u.name | some u in data.users; u.role == \"dev\"}\n\tinput.user in a\n\tnot input.user in b\n}\n");
    assert_eq!(o.rewrites.len(), 2, "{:?} {:?}", o.rewrites, o.declines);
    assert_eq!(o.stored("p.rego", "a"), json!(["alice", "carol"]));
    assert_eq!(o.stored("p.rego", "b"), json!(["bob"]));
}

#[test]
fn comprehension_sharing_a_variable_is_declined() {
    let o = one("package p\nallow if {\n\tsome u in data.users\n\tnames := {u.name | some u2 in data.users; u2.role == u.role}\n\tinput.user in names\n}\n");
    assert!(o.rewrites.is_empty(), "{:?}", o.rewrites);
    assert!(
        o.declined("variable u is also used elsewhere"),
        "{:?}",
        o.declines
    );
}

#[test]
fn v0_module() {
    let f = files(
        &[(
            "p.rego",
            "package p\nadmins[u.name] { u := data.users[_]; u.role == \"admin\" }\nallow { admins[input.user] }\nlevel = 1 { count(data.users) > 5 } else = 2\n",
        )],
        users(),
        Some(json!({"rego_version": 0})),
    );
    let o = optimize(&f, &["p/allow"]);
    let m = o.module("p.rego");
    assert_eq!(
        o.stored("p.rego", "admins"),
        json!(["alice", "carol"]),
        "{m}"
    );
    assert_eq!(o.stored("p.rego", "level"), json!(2), "{m}");
}

fn many_users(n: usize) -> Value {
    let users: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("user{i:05}"), "role": if i % 3 == 0 {"admin"} else {"dev"}}))
        .collect();
    let rules: serde_json::Map<String, Value> =
        (0..n).map(|i| (format!("r{i}"), json!({"x": i}))).collect();
    json!({"users": users, "rules": rules})
}

#[test]
fn large_values_go_to_the_reserved_path() {
    let f = files(
        &[(
            "p.rego",
            "package p\nadmins := {u.name | some u in data.users; u.role == \"admin\"}\nlist := [u.name | some u in data.users]\nallow if input.user in admins\nallow if {\n\tidx := {k: v | some k, v in data.rules}\n\tidx[input.rule].x == 1\n}\n",
        )],
        many_users(2000),
        None,
    );
    let o = optimize(&f, &["p/allow"]);
    let m = o.module("p.rego");
    assert!(
        m.contains("admins := {__regopt_x | data.__regopt__.pre_"),
        "{m}"
    );
    assert!(m.contains("list := data.__regopt__.pre_"), "{m}");
    // The comprehension's value is data.rules itself: read it, do not copy it.
    assert!(!m.contains("some k, v in data.rules"), "{m}");
    let gen = o.file("__regopt__/data.json").expect("generated documents");
    let v: Value = serde_json::from_str(&gen).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2, "{}", &gen[..200]);
}

#[test]
fn large_value_without_reserved_path_is_declined() {
    // A rule reading all of data.users's parent would see the reserved path: the bundle owns
    // only `p` and `users`, and the reserved candidates conflict with a package read as whole.
    let f = files(
        &[(
            "p.rego",
            "package p\nlist := [u.name | some u in data.users]\nallow if input.user in list\nall := data.p\n",
        )],
        json!({"users": many_users(2000)["users"]}),
        Some(json!({"roots": ["p", "users"]})),
    );
    let o = optimize(&f, &["p/allow"]);
    assert!(o.rewrites.is_empty(), "{:?}", o.rewrites);
    assert!(
        o.declined("no reserved path"),
        "{:?} {:?}",
        o.declines,
        o.notes
    );
}

#[test]
fn declines_input_with_and_nondeterminism() {
    let m = "package p\n\
a := input.x\n\
b := count(data.users) if { true with input as {} }\n\
c := time.now_ns()\n\
d := http.send({\"method\": \"get\", \"url\": \"http://localhost\"})\n\
e := rand.intn(\"k\", count(data.users))\n\
f := x if { print(data.users); x := 1 }\n\
g := sprintf(\"%d\", [count(data.users)])\n\
h := count(data.users) / 2\n\
i := count(data.users)\n\
allow if input.user\n\
allow if i with data.users as []\n";
    let o = one(m);
    for needle in [
        "depends on input",
        "uses `with`",
        "builtin time.now_ns is not on the precompute allowlist",
        "builtin http.send is not on the precompute allowlist",
        "builtin rand.intn is not on the precompute allowlist",
        "builtin print is not on the precompute allowlist",
        "builtin sprintf is not on the precompute allowlist",
        "operator / is not on the precompute allowlist",
        "`with data.users` at p.rego:12",
    ] {
        assert!(o.declined(needle), "{needle}: {:#?}", o.declines);
    }
    assert!(o.rewrites.is_empty(), "{:?}", o.rewrites);
}

#[test]
fn declines_inexact_numbers_errors_and_undefined() {
    let mut f = files(
        &[(
            "p.rego",
            "package p\nws := [u.w | some u in data.users]\nc := count(data.n)\nund := data.s[5]\nallow if input.x\n",
        )],
        json!({}),
        None,
    );
    // Raw text: the number must keep its trailing zero.
    f[0].1 = br#"{"users": [{"name": "a", "w": 1.10}], "n": 5, "s": [1, 2]}"#.to_vec();
    let o = optimize(&f, &["p/allow"]);
    assert!(o.declined("contains the number 1.10"), "{:#?}", o.declines);
    assert!(
        o.declined("evaluation fails in regorus"),
        "{:#?}",
        o.declines
    );
    assert!(o.declined("the value is undefined"), "{:#?}", o.declines);
    assert!(o.rewrites.is_empty(), "{:?}", o.rewrites);
}

#[test]
fn case_mapping_needs_ascii_text() {
    let f = files(
        &[(
            "p.rego",
            "package p\nup := [upper(u) | some u in data.names]\nallow if input.x in up\n",
        )],
        json!({"names": ["straße", "abc"]}),
        None,
    );
    let o = optimize(&f, &["p/allow"]);
    assert!(o.rewrites.is_empty(), "{:?}", o.rewrites);
    assert!(
        o.declined("builtin upper agrees with OPA only on ASCII text"),
        "{:?}",
        o.declines
    );
    let f = files(
        &[(
            "p.rego",
            "package p\nup := [upper(u) | some u in data.names]\nallow if input.x in up\n",
        )],
        json!({"names": ["strasse", "abc"]}),
        None,
    );
    let o = optimize(&f, &["p/allow"]);
    assert_eq!(o.stored("p.rego", "up"), json!(["STRASSE", "ABC"]));
}

#[test]
fn constants_are_left_alone() {
    let o = one("package p\ndefault limit := 10\nsum3 := 1 + 2\nallow if input.n < limit + sum3\n");
    assert!(o.rewrites.is_empty(), "{:?}", o.rewrites);
    assert!(!o.declined("limit"), "{:?}", o.declines);
}

#[test]
fn pass_selection() {
    let only = PassOptions {
        only: Some(vec!["precompute".into()]),
        ..PassOptions::default()
    };
    assert!(only.validate().is_ok());
    let f = files(&[("p.rego", ADMINS_POLICY)], users(), None);
    let read = ReadOptions::default();
    // Without precompute, field-index would index the scan instead: skip it too.
    let skip_both = vec!["precompute".to_string(), "field-index".to_string()];
    for (skip, want) in [(vec![], 1), (skip_both, 0)] {
        let mut bundle = from_entries(f.iter().cloned(), &read).unwrap();
        let opts = OptimizeOptions {
            entrypoints: vec![vec!["p".into(), "allow".into()]],
            passes: PassOptions {
                skip,
                ..PassOptions::default()
            },
            ..OptimizeOptions::default()
        };
        let report = optimize_bundle(&mut bundle, &opts).unwrap();
        assert_eq!(report.rewrites, want);
    }
}

#[test]
fn reserved_path_is_not_placed_under_an_array() {
    let f = files(
        &[(
            "p.rego",
            "package p.r\nadmins := {u.name | some u in data.p.x.users; u.role == \"admin\"}\nallow if input.user in admins\n",
        )],
        json!({"a": [1, 2], "p": {"x": {"users": [{"name": "u", "role": "admin"}]}}}),
        Some(json!({"roots": ["a", "p"]})),
    );
    let o = optimize(&f, &["p/r/allow"]);
    assert_eq!(o.rewrites.len(), 1, "{:?}", o.declines);
    assert!(o.file("a/__regopt__/data.json").is_none());
    assert!(o.file("p/__regopt__/data.json").is_some());
}

#[test]
fn open_world_does_nothing() {
    let f = files(&[("p.rego", ADMINS_POLICY)], users(), None);
    let o = optimize(&f, &[]);
    assert!(o.rewrites.is_empty());
    assert!(o.declines.is_empty(), "{:?}", o.declines);
}

#[test]
fn idempotent_and_deterministic() {
    for data in [users(), many_users(2000)] {
        let f = files(
            &[(
                "p.rego",
                "package p\nadmins := {u.name | some u in data.users; u.role == \"admin\"}\nlist := [u.name | some u in data.users]\nn := count(data.users)\nallow if input.user in admins\nallow if {\n\tidx := {k: v | some k, v in data.rules}\n\tidx[input.rule].x == 1\n}\n",
            )],
            data,
            None,
        );
        let a = optimize(&f, &["p/allow"]);
        let b = optimize(&f, &["p/allow"]);
        assert_eq!(a.files, b.files, "two runs differ");
        assert!(!a.rewrites.is_empty());
        let again = optimize(&a.files, &["p/allow"]);
        assert!(again.rewrites.is_empty(), "{:?}", again.rewrites);
        let third = optimize(&again.files, &["p/allow"]);
        assert_eq!(third.all_rewrites, 0, "not at a fixpoint");
        assert_eq!(again.files, third.files);
    }
}

// ---- real OPA

const POLICY: &str = r#"package t

admins := {u.name | some u in data.users; u.role == "admin"}

default level := 0

level := 1 if count(data.users) > 5
else := 2 if count(data.users) > 1

names contains u.name if some u in data.users

byname[u.name] := u.role if some u in data.users

role_of_alice := r if {
	some u in data.users
	u.name == "alice"
	r := u.role
}

upper_names := [upper(u.name) | some u in data.users]

keys := object.keys(data.rules)

n_rules := count(data.rules)

allow if input.user in admins

allow if {
	idx := {k: v | some k, v in data.rules}
	idx[input.rule].x == 1
}

allow if {
	input.level == level
	startswith(input.user, "a")
}

has_rule if data.rules[input.rule]

sib if {
	a := {u.name | some u in data.users; u.role == "admin"}
	b := {u.name | some u in data.users; u.role == "dev"}
	input.user in a
	not input.user in b
}

f(x) := {u.name | some u in data.users; u.role == x}

g(x) := count({k | some k, _ in data.rules}) + x

gq := g(1)

fq := f(input.role)
"#;

const QUERIES: &[&str] = &[
    "data.t.allow",
    "data.t.admins",
    "data.t.level",
    "data.t.names",
    "data.t.byname",
    "data.t.role_of_alice",
    "data.t.upper_names",
    "data.t.keys",
    "data.t.n_rules",
    "data.t.has_rule",
    "data.t.sib",
    "data.t.gq",
    "data.t.fq",
    "data.t.g(2)",
];

fn data_shapes() -> Vec<(&'static str, Value)> {
    vec![
        ("several matches", users()),
        (
            "no admin",
            json!({"users": [{"name": "bob", "role": "dev"}], "rules": {"a": {"x": 2}}}),
        ),
        ("empty", json!({"users": [], "rules": {}})),
        (
            "wrong types",
            json!({"users": "alice", "rules": ["a", "b"]}),
        ),
        (
            "entries of wrong types",
            json!({"users": [1, {"name": 2, "role": "admin"}, {"role": "admin"}, null], "rules": {"a": 1, "b": {"x": "1"}}}),
        ),
        (
            "conflicting roles",
            json!({"users": [{"name": "alice", "role": "admin"}, {"name": "alice", "role": "dev"}], "rules": {"a": {"x": 1}}}),
        ),
        (
            "users object",
            json!({"users": {"alice": {"name": "alice", "role": "admin"}}, "rules": {"a": {"x": 1}}}),
        ),
        ("large", many_users(1500)),
        (
            "awkward strings",
            json!({"users": [
                {"name": "a\"b", "role": "admin"},
                {"name": "line\nbreak\ttab", "role": "admin"},
                {"name": "ünïcödé ✓ 𝄞", "role": "admin"},
                {"name": "nul\u{0}x", "role": "dev"},
                {"name": "", "role": "admin"},
                {"name": "\\back/slash\u{2028}", "role": "dev"}
            ], "rules": {"k\"ey": {"x": 1}, "": {"x": 2}, "ü": {"x": 1}}}),
        ),
        (
            "big and negative numbers",
            json!({"users": [{"name": "n", "role": "admin", "id": 9007199254740993_u64}, {"name": "m", "role": "dev", "id": -5}], "rules": {"a": {"x": -1}}}),
        ),
    ]
}

fn inputs() -> Vec<String> {
    [
        r#"{"user": "alice", "rule": "a", "level": 2, "role": "admin"}"#,
        r#"{"user": "bob", "rule": "b", "level": 1}"#,
        r#"{"user": "user00003", "rule": "r7", "level": 1}"#,
        r#"{"user": 1, "rule": 1, "level": "2"}"#,
        r#"{}"#,
        "__none__",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Set operators, `every`, `not`, more builtins, a rule reading other rules, a function.
const POLICY2: &str = r#"package t

import data.lib

admin_names := {u.name | some u in data.users; u.role == "admin"}

dev_names := {u.name | some u in data.users; u.role == "dev"}

both := admin_names & dev_names

either := admin_names | dev_names

only_admin := admin_names - dev_names

all_named if {
	every u in data.users {
		is_string(u.name)
	}
}

no_root if not "root" in admin_names

csv := concat(",", sort_free)

sort_free := [n | some n in admin_names]

parts := split(data.config.path, "/")

has_tmp if contains(data.config.path, "tmp")

limit := object.get(data.config, "limit", 10)

joined := array.concat(data.config.extra, [count(data.users)])

labels[u.name] := lib.label(u) if some u in data.users

kinds := {type_name(u) | some u in data.users}

allow if input.user in either
allow if limit > count(input.items)
"#;

const LIB: &str = r#"package lib

label(u) := concat(":", [u.name, u.role])
"#;

const QUERIES2: &[&str] = &[
    "data.t.allow",
    "data.t.both",
    "data.t.either",
    "data.t.only_admin",
    "data.t.all_named",
    "data.t.no_root",
    "data.t.csv",
    "data.t.parts",
    "data.t.has_tmp",
    "data.t.limit",
    "data.t.joined",
    "data.t.labels",
    "data.t.kinds",
];

fn data_shapes2() -> Vec<(&'static str, Value)> {
    let cfg = json!({"path": "/var/tmp/x", "limit": 3, "extra": ["a"]});
    let with = |users: Value, config: Value| json!({"users": users, "config": config});
    vec![
        ("several", with(users()["users"].clone(), cfg.clone())),
        (
            "overlap",
            with(
                json!([{"name": "a", "role": "admin"}, {"name": "a", "role": "dev"}, {"name": "root", "role": "admin"}]),
                json!({"path": "", "extra": []}),
            ),
        ),
        ("empty", with(json!([]), json!({}))),
        (
            "wrong types",
            with(
                json!([{"name": 1, "role": "admin"}, "x", {"role": "dev"}]),
                json!({"path": 7, "limit": "3", "extra": "no"}),
            ),
        ),
        (
            "config not an object",
            with(users()["users"].clone(), json!(["path"])),
        ),
        ("large", with(many_users(1200)["users"].clone(), cfg)),
    ]
}

fn inputs2() -> Vec<String> {
    [
        r#"{"user": "alice", "items": [1, 2]}"#,
        r#"{"user": "user00003", "items": []}"#,
        r#"{"user": "a", "items": "x"}"#,
        r#"{"items": [1, 2, 3, 4, 5]}"#,
        "__none__",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn entry_of(queries: &[&str]) -> Vec<String> {
    queries
        .iter()
        .filter(|q| !q.contains('('))
        .map(|q| q.trim_start_matches("data.").replace('.', "/"))
        .collect()
}

#[test]
fn real_opa_differential() {
    let mut cases = Vec::new();
    let mut rewritten = 0usize;
    let entry = entry_of(QUERIES);
    let entry: Vec<&str> = entry.iter().map(String::as_str).collect();
    let entry2 = entry_of(QUERIES2);
    let entry2: Vec<&str> = entry2.iter().map(String::as_str).collect();
    for (name, data) in data_shapes2() {
        for roots in [
            None,
            Some(json!({"roots": ["t", "lib", "users", "config"]})),
        ] {
            let f = files(
                &[("t.rego", POLICY2), ("lib.rego", LIB)],
                data.clone(),
                roots.clone(),
            );
            let o = optimize(&f, &entry2);
            rewritten += o.rewrites.len();
            let again = optimize(&o.files, &entry2);
            assert!(
                again.rewrites.is_empty(),
                "{name}: second run rewrites {:?}",
                again.rewrites
            );
            cases.push(json!({
                "name": format!("policy2 / {name} / roots {}", roots.is_some()),
                "a": diff_support::files_side(&f),
                "b": diff_support::files_side(&o.files),
                "queries": QUERIES2,
                "inputs": inputs2(),
            }));
        }
    }
    for (name, data) in data_shapes() {
        let f = files(&[("t.rego", POLICY)], data, None);
        let o = optimize(&f, &entry);
        rewritten += o.rewrites.len();
        let again = optimize(&o.files, &entry);
        assert!(
            again.rewrites.is_empty(),
            "{name}: second run rewrites {:?}",
            again.rewrites
        );
        cases.push(json!({
            "name": name,
            "a": diff_support::files_side(&f),
            "b": diff_support::files_side(&o.files),
            "queries": QUERIES,
            "inputs": inputs(),
        }));
    }
    assert!(rewritten >= 100, "only {rewritten} precompute rewrites");
    let Some(oracle) = oracle::engine() else {
        return;
    };
    let results = oracle.batch(&json!({ "cases": cases }));
    let mut evaluations = 0;
    let mut bad = Vec::new();
    for r in &results {
        evaluations += r.evaluations;
        if !r.loaded_and_agree() {
            bad.push(format!(
                "{}: {:?} {:?}\n{}",
                r.name,
                r.load_error_a,
                r.load_error_b,
                r.differences.join("\n")
            ));
        }
    }
    println!(
        "precompute real-OPA differential: {} bundles, {evaluations} evaluations per side, {rewritten} rewrites, {} differing bundles",
        results.len(),
        bad.len()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}
