//! Closed-world data pruning (`--prune-data`) and dedup of identical documents: what is dropped
//! and kept through the library API, golden bundle cases (`testdata/golden/*/entrypoints`), and
//! generated bundles compared in real OPA v1.20.2 on the entrypoint queries (zero differences),
//! plus idempotence and determinism.

mod common;

use std::path::Path;

use regopt::bundle::read::from_entries;
use regopt::bundle::{self, Bundle, FileKind, OutputFormat, ReadOptions, WriteOptions};
use regopt::pipeline::{optimize_bundle, OptimizeOptions};
use regopt::report::Report;
use serde_json::{json, Value};

type Files = Vec<(String, Vec<u8>)>;

fn files(list: &[(&str, &str)]) -> Files {
    list.iter()
        .map(|(n, b)| (n.to_string(), b.as_bytes().to_vec()))
        .collect()
}

fn read(files: &Files) -> Bundle {
    from_entries(files.iter().cloned(), &ReadOptions::default()).expect("bundle reads")
}

/// Options for the prune/dedup cases: the other closed-world rewrites (`precompute`,
/// `field-index`) are off, so that what is kept and dropped depends on the policies as written
/// (a precomputed rule no longer reads the data it was computed from). The golden cases run
/// everything together ([`all_opts`]).
fn opts(entrypoints: &[&str], prune: bool) -> OptimizeOptions {
    let mut o = all_opts(entrypoints, prune);
    o.passes.skip = vec!["precompute".into(), "field-index".into()];
    o
}

/// Every pass and stage, as `regopt optimize -e …` runs them.
fn all_opts(entrypoints: &[&str], prune: bool) -> OptimizeOptions {
    OptimizeOptions {
        entrypoints: entrypoints
            .iter()
            .map(|e| regopt::world::parse_entrypoint(e).unwrap())
            .collect(),
        prune_data: prune,
        ..OptimizeOptions::default()
    }
}

fn optimize(files: &Files, entrypoints: &[&str], prune: bool) -> (Bundle, Report) {
    let mut b = read(files);
    let r = optimize_bundle(&mut b, &opts(entrypoints, prune)).expect("optimizes");
    (b, r)
}

fn file<'a>(b: &'a Bundle, path: &str) -> &'a [u8] {
    &b.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no file {path}"))
        .bytes
}

fn text(b: &Bundle, path: &str) -> String {
    String::from_utf8(file(b, path).to_vec()).unwrap()
}

fn value(b: &Bundle, path: &str) -> Value {
    serde_json::from_slice(file(b, path)).unwrap()
}

fn dropped(r: &Report) -> Vec<String> {
    r.prune.as_ref().expect("prune report").dropped.clone()
}

// ---------------------------------------------------------------------------------------------
// Pruning

#[test]
fn dynamic_ref_keeps_the_fields_read_below_it() {
    let f = files(&[
        (
            "p.rego",
            "package p\nallow if data.roles[input.r].admin == true\n",
        ),
        (
            "data.json",
            r#"{"roles":{"a":{"admin":true,"n":1.50},"b":{"admin":false}},"unused":{"x":[1,2]},"other":"s\u00e9"}"#,
        ),
    ]);
    let (b, r) = optimize(&f, &["p/allow"], true);
    // Field-level: every use of an element of data.roles reads `.admin` only.
    assert_eq!(
        text(&b, "data.json"),
        r#"{"roles":{"a":{"admin":true},"b":{"admin":false}}}"#
    );
    assert_eq!(
        dropped(&r),
        vec!["data.other", "data.roles.a.n", "data.unused"]
    );
    let p = r.prune.unwrap();
    assert!(p.bytes_saved > 0 && p.bytes_after + p.bytes_saved == p.bytes_before);
}

#[test]
fn an_element_used_whole_is_kept_whole() {
    for rule in [
        "allow if { r := data.roles[input.r]; r.admin }",
        "allow if { some r in data.roles; r.admin }",
        "allow if data.roles[input.r].admin\nn := count(data.roles[_])",
        "allow if data.roles[input.r][input.f]",
    ] {
        let f = files(&[
            ("p.rego", &format!("package p\n{rule}\n")),
            (
                "data.json",
                r#"{"roles":{"a":{"admin":true,"n":1.50},"b":{"admin":false}},"z":1}"#,
            ),
        ]);
        let (b, _) = optimize(&f, &["p"], true);
        assert_eq!(
            text(&b, "data.json"),
            r#"{"roles":{"a":{"admin":true,"n":1.50},"b":{"admin":false}}}"#,
            "{rule}"
        );
    }
}

#[test]
fn import_alias_is_followed() {
    let f = files(&[
        (
            "p.rego",
            "package p\nimport data.lib.users as u\nallow if u[input.x].ok\n",
        ),
        (
            "data.json",
            r#"{"lib":{"users":{"a":{"ok":true}},"groups":{"g":1}},"z":1}"#,
        ),
    ]);
    let (b, r) = optimize(&f, &["p/allow"], true);
    assert_eq!(
        text(&b, "data.json"),
        r#"{"lib":{"users":{"a":{"ok":true}}}}"#
    );
    assert_eq!(dropped(&r), vec!["data.lib.groups", "data.z"]);
}

#[test]
fn same_package_rule_chain_and_unreached_rules() {
    let f = files(&[
        (
            "p.rego",
            "package p\nallow if ok\nok if data.a.x == 1\nunused if data.b == 1\n",
        ),
        ("data.json", r#"{"a":{"x":1,"y":2},"b":3}"#),
    ]);
    let (b, r) = optimize(&f, &["p/allow"], true);
    assert_eq!(text(&b, "data.json"), r#"{"a":{"x":1}}"#);
    let p = r.prune.unwrap();
    assert_eq!((p.rules_reached, p.rules_total), (2, 3));
}

#[test]
fn cross_package_chain_through_a_function() {
    let f = files(&[
        ("p.rego", "package p\nallow if data.lib.check(input.id)\n"),
        (
            "lib.rego",
            "package lib\ncheck(x) if {\n\tdata.cfg.enabled\n\tx in data.cfg.ids\n}\nother if data.junk\n",
        ),
        (
            "data.json",
            r#"{"cfg":{"enabled":true,"ids":[1,2]},"junk":{"a":1}}"#,
        ),
    ]);
    let (b, r) = optimize(&f, &["p/allow"], true);
    assert_eq!(
        text(&b, "data.json"),
        r#"{"cfg":{"enabled":true,"ids":[1,2]}}"#
    );
    assert_eq!(dropped(&r), vec!["data.junk"]);
}

#[test]
fn bare_data_and_dynamic_root_keep_everything() {
    for rule in [
        "allow if data[input.k]",
        "allow if walk(data, [_, _])",
        "allow if { x := data; x.a }",
    ] {
        let f = files(&[
            ("p.rego", &format!("package p\n{rule}\n")),
            ("data.json", r#"{"a":1,"b":{"c":2}}"#),
        ]);
        let (b, r) = optimize(&f, &["p/allow"], true);
        assert_eq!(text(&b, "data.json"), r#"{"a":1,"b":{"c":2}}"#, "{rule}");
        assert!(dropped(&r).is_empty(), "{rule}");
    }
}

#[test]
fn with_targets_and_values_are_kept() {
    let f = files(&[
        (
            "p.rego",
            "package p\nallow if data.q.r with data.w.v as data.src\n",
        ),
        (
            "data.json",
            r#"{"q":{"r":true},"w":{"v":1,"u":2},"src":3,"gone":4}"#,
        ),
    ]);
    let (b, _) = optimize(&f, &["p/allow"], true);
    assert_eq!(
        text(&b, "data.json"),
        r#"{"q":{"r":true},"w":{"v":1},"src":3}"#
    );
}

#[test]
fn entrypoint_on_base_data_and_package_entrypoint() {
    let f = files(&[
        ("p.rego", "package p\nallow := true\n"),
        ("data.json", r#"{"cfg":{"x":1,"y":2},"p":{"base":1},"q":1}"#),
    ]);
    let (b, _) = optimize(&f, &["cfg/x", "p"], true);
    assert_eq!(text(&b, "data.json"), r#"{"cfg":{"x":1},"p":{"base":1}}"#);
}

#[test]
fn data_at_a_rule_path_stays() {
    // Base data where a rule is defined decides whether OPA loads the bundle: never pruned.
    let f = files(&[
        ("p.rego", "package p\nallow := true\nother := 1\n"),
        ("data.json", r#"{"p":{"other":{"x":1},"z":1}}"#),
    ]);
    let (b, _) = optimize(&f, &["p/allow"], true);
    assert_eq!(text(&b, "data.json"), r#"{"p":{"other":{"x":1}}}"#);
}

#[test]
fn files_are_kept_as_empty_objects_and_yaml_whole() {
    let f = files(&[
        ("p.rego", "package p\nallow if data.a.x\n"),
        ("a/data.json", r#"{"x":true,"y":false}"#),
        ("b/c/data.json", r#"{"big":[1,2,3]}"#),
        ("y/data.yaml", "k: 1\nl: 2\n"),
    ]);
    let (b, r) = optimize(&f, &["p/allow"], true);
    assert_eq!(text(&b, "a/data.json"), r#"{"x":true}"#);
    assert_eq!(text(&b, "b/c/data.json"), "{}");
    assert_eq!(text(&b, "y/data.yaml"), "k: 1\nl: 2\n");
    let p = r.prune.clone().unwrap();
    assert_eq!(p.yaml_kept, vec!["y/data.yaml"]);
    assert_eq!(p.dropped, vec!["data.a.y", "data.b.c"]);
    assert!(r.render().contains("kept whole (YAML): y/data.yaml"));
}

#[test]
fn unparsable_module_refuses_pruning() {
    let f = files(&[
        ("p.rego", "package p\nallow if data.a\n"),
        ("bad.rego", "package bad\nthis is not rego ((\n"),
        ("data.json", r#"{"a":1,"b":2}"#),
    ]);
    let (b, r) = optimize(&f, &["p/allow"], true);
    assert_eq!(text(&b, "data.json"), r#"{"a":1,"b":2}"#);
    let p = r.prune.unwrap();
    assert!(
        p.refused
            .as_deref()
            .unwrap()
            .contains("bad.rego could not be parsed"),
        "{p:?}"
    );
    assert!(p.dropped.is_empty());
}

#[test]
fn an_entrypoint_naming_nothing_refuses_pruning() {
    let f = files(&[
        ("p.rego", "package p\nallow if data.a\n"),
        ("data.json", r#"{"a":1,"b":2}"#),
    ]);
    let (b, r) = optimize(&f, &["p/allow", "p/alow"], true);
    assert_eq!(text(&b, "data.json"), r#"{"a":1,"b":2}"#);
    let why = r.prune.unwrap().refused.unwrap();
    assert!(
        why.contains("entrypoint data.p.alow names no rule and no data"),
        "{why}"
    );
}

#[test]
fn a_directory_holding_only_a_module_is_not_data_an_entrypoint_names() {
    // `q/policy.rego` declares package p: the directory q mounts no data, so `-e q` names
    // nothing (a module file under q once counted as data there).
    let f = files(&[
        ("q/policy.rego", "package p\nallow if data.a\n"),
        ("data.json", r#"{"a":1,"b":2}"#),
    ]);
    let (b, r) = optimize(&f, &["p/allow", "q"], true);
    assert_eq!(text(&b, "data.json"), r#"{"a":1,"b":2}"#);
    let why = r.prune.unwrap().refused.unwrap();
    assert!(
        why.contains("entrypoint data.q names no rule and no data"),
        "{why}"
    );
}

#[test]
fn no_entrypoints_prunes_nothing() {
    let f = files(&[
        ("p.rego", "package p\nallow if data.a\n"),
        ("data.json", r#"{"a":1,"b":2}"#),
    ]);
    let (b, r) = optimize(&f, &[], true);
    assert_eq!(text(&b, "data.json"), r#"{"a":1,"b":2}"#);
    assert!(r.prune.is_none() && r.dedup.is_none());
    assert!(
        r.notes.iter().any(|n| n.contains("--prune-data ignored")),
        "{:?}",
        r.notes
    );
}

#[test]
fn metadata_entrypoint_declares_the_world() {
    let f = files(&[
        (
            "p.rego",
            "package p\n\n# METADATA\n# entrypoint: true\nallow if data.a\n",
        ),
        ("data.json", r#"{"a":1,"b":2}"#),
    ]);
    let (b, _) = optimize(&f, &[], true);
    assert_eq!(text(&b, "data.json"), r#"{"a":1}"#);
}

#[test]
fn without_prune_data_nothing_is_pruned() {
    let f = files(&[
        ("p.rego", "package p\nallow if data.a\n"),
        ("data.json", r#"{"a":1,"b":2}"#),
    ]);
    let (b, r) = optimize(&f, &["p/allow"], false);
    assert_eq!(text(&b, "data.json"), r#"{"a":1,"b":2}"#);
    assert!(r.prune.is_none());
}

// ---------------------------------------------------------------------------------------------
// Dedup

fn big(seed: usize) -> String {
    let items: Vec<String> = (0..40)
        .map(|i| format!(r#""k{i}":{{"v":{},"name":"item-{seed}-{i}"}}"#, i * seed))
        .collect();
    format!("{{{}}}", items.join(","))
}

#[test]
fn dedup_rewrites_references_and_drops_the_copy() {
    let d = big(3);
    let f = files(&[
        (
            "p.rego",
            "package p\na := data.one[input.k].v\nb := data.two.inner[input.k].name\nc := data.two.inner[\"k1\"]\n",
        ),
        (
            "data.json",
            &format!(r#"{{"one":{d},"two":{{"inner":{d},"small":1}}}}"#),
        ),
    ]);
    let (b, r) = optimize(&f, &["p/a", "p/b", "p/c"], false);
    let module = text(&b, "p.rego");
    assert!(module.contains("b := data.one[input.k].name"), "{module}");
    assert!(module.contains("c := data.one[\"k1\"]"), "{module}");
    assert!(!module.contains("data.two.inner"), "{module}");
    let v = value(&b, "data.json");
    assert_eq!(v["two"], json!({"small": 1}));
    let dd = r.dedup.clone().unwrap();
    assert_eq!(dd.groups.len(), 1);
    assert_eq!(dd.groups[0].paths, vec!["data.one", "data.two.inner"]);
    assert_eq!(dd.groups[0].kept.as_deref(), Some("data.one"));
    assert_eq!(dd.rewritten.len(), 1);
    assert_eq!(dd.rewritten[0].references, 2);
    assert!(dd.bytes_saved as usize >= d.len());
    assert!(r.render().contains("dedup: 1 group(s)"));
}

fn declined_reason(files_: &Files, eps: &[&str]) -> String {
    let (_, r) = optimize(files_, eps, false);
    let dd = r.dedup.expect("dedup report");
    assert!(dd.rewritten.is_empty(), "{dd:?}");
    assert_eq!(dd.declined.len(), 1, "{dd:?}");
    dd.declined[0].reason.clone()
}

#[test]
fn dedup_declines() {
    let d = big(5);
    let data = format!(r#"{{"one":{d},"two":{{"inner":{d}}}}}"#);
    let case = |module: &str| {
        files(&[
            ("p.rego", &format!("package p\n{module}\n")),
            ("data.json", data.as_str()),
        ])
    };
    // The parent of the copy is read as a whole.
    let why = declined_reason(
        &case("a := data.one.k1\nn := count(data.two)"),
        &["p/a", "p/n"],
    );
    assert!(why.contains("reads data.two as a whole"), "{why}");
    // A reference through an import.
    let why = declined_reason(&case("import data.two.inner as t\na := t.k1"), &["p/a"]);
    assert!(why.contains("through the import `t`"), "{why}");
    // An entrypoint on the copy.
    let why = declined_reason(&case("a := data.one.k1"), &["p/a", "two/inner/k2"]);
    assert!(
        why.contains("entrypoint data.two.inner.k2 overlaps it"),
        "{why}"
    );
    // A `with` replacing the kept copy.
    let why = declined_reason(
        &case("a := data.two.inner.k1\nb if data.two.inner.k1 with data.one as {}"),
        &["p/a", "p/b"],
    );
    assert!(
        why.contains("a `with` at p.rego:3 replaces data.one"),
        "{why}"
    );
    // The copy lies in a YAML file.
    let yaml_files = files(&[
        ("p.rego", "package p\na := data.y.k1\nb := data.one.k2\n"),
        ("data.json", &format!(r#"{{"one":{d}}}"#)),
        ("y/data.yaml", &d),
    ]);
    let (b, r) = optimize(&yaml_files, &["p/a", "p/b"], false);
    let dd = r.dedup.unwrap();
    assert!(dd.rewritten.is_empty());
    assert!(dd.declined[0].reason.contains("YAML"), "{dd:?}");
    assert!(text(&b, "p.rego").contains("data.y.k1"));
}

#[test]
fn dedup_rule_path_overlap_declines_or_moves_the_keeper() {
    let d = big(7);
    // data.one overlaps package `one`: not plain, so data.two is kept instead.
    let f = files(&[
        ("p.rego", "package p\na := data.one.k1\nb := data.two.k1\n"),
        ("one.rego", "package one\nextra := 1\n"),
        ("data.json", &format!(r#"{{"one":{d},"two":{d}}}"#)),
    ]);
    let (b, r) = optimize(&f, &["p/a", "p/b"], false);
    let dd = r.dedup.unwrap();
    assert_eq!(dd.groups[0].kept.as_deref(), Some("data.two"));
    assert!(
        dd.declined[0].reason.contains("defines data.one.extra"),
        "{dd:?}"
    );
    assert!(text(&b, "p.rego").contains("a := data.one.k1"));
}

#[test]
fn dedup_min_bytes_zero_turns_it_off() {
    let d = big(2);
    let f = files(&[
        ("p.rego", "package p\na := data.two.k1\n"),
        ("data.json", &format!(r#"{{"one":{d},"two":{d}}}"#)),
    ]);
    let mut b = read(&f);
    let mut o = opts(&["p/a"], false);
    o.dedup_min_bytes = Some(0);
    let r = optimize_bundle(&mut b, &o).unwrap();
    assert!(r.dedup.is_none());
    assert!(text(&b, "p.rego").contains("data.two.k1"));
}

#[test]
fn dedup_then_prune_keeps_the_kept_copy() {
    let d = big(4);
    // Only the second copy is read; after dedup the first one is, and pruning keeps it.
    let f = files(&[
        ("p.rego", "package p\na := data.two[input.k]\n"),
        (
            "data.json",
            &format!(r#"{{"one":{d},"two":{d},"three":1}}"#),
        ),
    ]);
    let (b, r) = optimize(&f, &["p/a"], true);
    assert!(text(&b, "p.rego").contains("a := data.one[input.k]"));
    let v = value(&b, "data.json");
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["one"]
    );
    // data.two went in dedup, data.three in pruning.
    assert_eq!(r.dedup.unwrap().rewritten[0].path, "data.two");
    assert_eq!(r.prune.unwrap().dropped, vec!["data.three"]);
}

// ---------------------------------------------------------------------------------------------
// Generated bundles in real OPA

/// A tiny deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn obj(rng: &mut Rng, n: usize, prefix: &str) -> Value {
    let mut m = serde_json::Map::new();
    for i in 0..n {
        m.insert(
            format!("{prefix}{i}"),
            json!({
                "enabled": rng.below(3) != 0,
                "level": rng.below(10),
                "tags": [format!("t{}", rng.below(5)), format!("t{}", rng.below(5))],
                "label": format!("{prefix}-{i}-{}", rng.below(1000)),
            }),
        );
    }
    Value::Object(m)
}

struct Shape {
    name: &'static str,
    files: Files,
    entrypoints: Vec<&'static str>,
    inputs: Vec<String>,
    /// Whether pruning must drop something and dedup must rewrite something.
    expect_pruned: bool,
    expect_dedup: bool,
}

fn shapes() -> Vec<Shape> {
    let mut rng = Rng(42);
    let mut out = Vec::new();

    // 1. Authorization with lookups, unreferenced data, two identical catalogs.
    let users = obj(&mut rng, 20, "u");
    let roles = obj(&mut rng, 8, "r");
    let catalog = obj(&mut rng, 30, "item");
    let data = json!({
        "users": users, "roles": roles,
        "catalog_eu": catalog, "catalog_us": catalog,
        "regions": {"eu": {"enabled": true}, "us": {"enabled": false}},
        "regions_backup": obj(&mut rng, 30, "rb"),
        "audit_log": obj(&mut rng, 50, "a"),
    });
    let module = r#"package authz

default allow := false

allow if {
	data.users[input.user].enabled
	data.roles[input.role].level > 3
}

deny contains msg if {
	not data.users[input.user]
	msg := sprintf("unknown user %v", [input.user])
}

region_ok if data.regions[input.region].enabled

price_eu := data.catalog_eu[input.item].level

price_us := data.catalog_us[input.item].level

tags_us contains t if some t in data.catalog_us[input.item].tags

unused if data.audit_log[input.x]
"#;
    out.push(Shape {
        name: "authz",
        files: vec![
            ("authz/policy.rego".into(), module.as_bytes().to_vec()),
            ("data.json".into(), data.to_string().into_bytes()),
        ],
        entrypoints: vec![
            "authz/allow",
            "authz/deny",
            "authz/region_ok",
            "authz/price_eu",
            "authz/price_us",
            "authz/tags_us",
        ],
        inputs: vec![
            r#"{"user":"u1","role":"r2","region":"eu","item":"item3"}"#.into(),
            r#"{"user":"u7","role":"r5","region":"us","item":"item29"}"#.into(),
            r#"{"user":"nobody","role":"r0","region":"xx","item":"none"}"#.into(),
            r#"{"user":1,"role":null,"item":"1"}"#.into(),
            "{}".into(),
            "__none__".into(),
        ],
        expect_pruned: true,
        expect_dedup: true,
    });

    // 2. Library package behind an import alias, functions, `with`, a parent read as a whole.
    let tiers = obj(&mut rng, 25, "tier");
    let data = json!({
        "lists": {"members": ["ann", "bob", "cy"], "others": ["x"]},
        "tiers": tiers,
        "zarchive": {"tiers_copy": tiers, "note": "old"},
        "junk": obj(&mut rng, 40, "j"),
    });
    let main = r#"package main

import data.lib.util as u

decision := {"ok": ok, "limits": u.limits(input.tier)}

ok if u.member(input.user)

mocked if data.lib.util.member("zed") with data.lists.members as ["zed"]

n := count(data.zarchive)
"#;
    let lib = r#"package lib.util

member(x) if x in data.lists.members

limits(t) := data.tiers[t]

unused_fn(x) := data.junk[x]
"#;
    out.push(Shape {
        name: "library",
        files: vec![
            ("main/main.rego".into(), main.as_bytes().to_vec()),
            ("lib/util.rego".into(), lib.as_bytes().to_vec()),
            ("data.json".into(), data.to_string().into_bytes()),
        ],
        entrypoints: vec!["main/decision", "main/mocked", "main/n"],
        inputs: vec![
            r#"{"user":"ann","tier":"tier3"}"#.into(),
            r#"{"user":"zed","tier":"tier24"}"#.into(),
            r#"{"user":"bob","tier":"nope"}"#.into(),
            r#"{"tier":5}"#.into(),
            "__none__".into(),
        ],
        expect_pruned: true,
        expect_dedup: false,
    });

    // 3. Several data files, a YAML file, a package entrypoint that includes base data.
    let shared = obj(&mut rng, 20, "s");
    let a = json!({"x": {"on": true}, "big": shared, "unused": obj(&mut rng, 10, "q")});
    let root = json!({"big2": shared, "cfg": {"limit": 3, "debug": false}, "zz": [1, 2, 3]});
    let pdata = json!({"base": {"owner": "team"}, "spare": 1});
    let module = r#"package p

allow if {
	data.a.x.on
	input.n < data.cfg.limit
}

lookup := data.big2[input.k].label

other := data.a.big[input.k].level

keys := object.keys(data.b.c)
"#;
    out.push(Shape {
        name: "multifile",
        files: vec![
            ("p/policy.rego".into(), module.as_bytes().to_vec()),
            ("data.json".into(), root.to_string().into_bytes()),
            ("a/data.json".into(), a.to_string().into_bytes()),
            ("b/c/data.json".into(), br#"{"k1":1,"k2":{"z":2}}"#.to_vec()),
            (
                "d/data.json".into(),
                obj(&mut rng, 10, "d").to_string().into_bytes(),
            ),
            ("y/data.yaml".into(), b"unused: 1\nmore: [1, 2]\n".to_vec()),
            ("p/data.json".into(), pdata.to_string().into_bytes()),
        ],
        entrypoints: vec!["p"],
        inputs: vec![
            r#"{"n":1,"k":"s3"}"#.into(),
            r#"{"n":5,"k":"s19"}"#.into(),
            r#"{"n":"x","k":"missing"}"#.into(),
            "__none__".into(),
        ],
        expect_pruned: true,
        expect_dedup: true,
    });

    // 4. Dynamic references keep their whole static prefix; METADATA entrypoint, no -e.
    let data = json!({
        "stores": {"x": obj(&mut rng, 5, "x"), "y": {"v": 1}},
        "other": obj(&mut rng, 5, "o"),
    });
    let module = r#"package dyn

# METADATA
# entrypoint: true
pick := data.stores[input.root][input.key]
"#;
    out.push(Shape {
        name: "dynamic",
        files: vec![
            ("dyn.rego".into(), module.as_bytes().to_vec()),
            ("data.json".into(), data.to_string().into_bytes()),
        ],
        entrypoints: vec![],
        inputs: vec![
            r#"{"root":"x","key":"x1"}"#.into(),
            r#"{"root":"y","key":"v"}"#.into(),
            r#"{"root":"other","key":"o1"}"#.into(),
            "{}".into(),
        ],
        expect_pruned: true,
        expect_dedup: false,
    });
    // 5. Many forms: package read as a whole, object.get, comprehensions, every, ref heads,
    // keys needing brackets, a copy under a package path.
    let dup = obj(&mut rng, 15, "d");
    let data = json!({
        "cfg": {"a": {"b": 7}, "c": 1},
        "m": {"k1": 1, "k2": 2},
        "nums": [3, 4, 5],
        "odd-key": dup,
        "q": {"base": {"x": 1}},
        "r": {"dupe": dup, "small": true},
        "unused": obj(&mut rng, 10, "u"),
    });
    let q = r#"package q

allow if input.x == 1
"#;
    let module = r#"package forms

whole := data.q

got := object.get(data.cfg, ["a", "b"], 0)

keys := {k | some k, _ in data.m}

all_small if every n in data.nums { n < input.limit }

by.name[k] := v if some k, v in data.m

first := data["odd-key"][input.k].label

second := data.r.dupe[input.k].level
"#;
    out.push(Shape {
        name: "forms",
        files: vec![
            ("forms.rego".into(), module.as_bytes().to_vec()),
            ("q.rego".into(), q.as_bytes().to_vec()),
            ("data.json".into(), data.to_string().into_bytes()),
        ],
        entrypoints: vec![
            "forms/whole",
            "forms/got",
            "forms/keys",
            "forms/all_small",
            "forms/by",
            "forms/first",
            "forms/second",
        ],
        inputs: vec![
            r#"{"x":1,"limit":10,"k":"d3"}"#.into(),
            r#"{"x":2,"limit":4,"k":"d14"}"#.into(),
            r#"{"k":"zz"}"#.into(),
            "__none__".into(),
        ],
        expect_pruned: true,
        expect_dedup: true,
    });
    // 6. Field-level pruning: elements read through known fields only, with elements that are
    // not objects, lack the field, or sit under number-like keys.
    const ROLES: [&str; 3] = ["admin", "dev", "ops"];
    let mut users = serde_json::Map::new();
    for i in 0..30 {
        users.insert(
            format!("{i}"),
            json!({"name": format!("n{i}"), "role": ROLES[i % 3],
                   "email": format!("u{i}@x"), "bio": "x".repeat(20)}),
        );
    }
    users.insert("weird".into(), json!("not an object"));
    users.insert("empty".into(), json!({}));
    users.insert("arr".into(), json!([{"role": "admin"}]));
    let data = json!({"users": users, "teams": {"t1": {"lead": "0", "size": 3, "x": [1]}}});
    let module = r#"package fields

admins contains k if data.users[k].role == "admin"

name := data.users[input.id].name

missing if not data.users[input.id].role

by_number := data.users[1].name

lead_name := data.users[data.teams[input.team].lead].name

count_roles := count([r | r := data.users[_].role])
"#;
    out.push(Shape {
        name: "fields",
        files: vec![
            ("fields.rego".into(), module.as_bytes().to_vec()),
            ("data.json".into(), data.to_string().into_bytes()),
        ],
        entrypoints: vec![
            "fields/admins",
            "fields/name",
            "fields/missing",
            "fields/by_number",
            "fields/lead_name",
            "fields/count_roles",
        ],
        inputs: vec![
            r#"{"id":"3","team":"t1"}"#.into(),
            r#"{"id":"weird"}"#.into(),
            r#"{"id":"empty"}"#.into(),
            r#"{"id":"arr"}"#.into(),
            r#"{"id":3}"#.into(),
            "__none__".into(),
        ],
        expect_pruned: true,
        expect_dedup: false,
    });
    out
}

fn write_files(dir: &Path, files: &Files) {
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

fn bundle_files(b: &Bundle) -> Files {
    b.files
        .iter()
        .map(|f| (f.path.clone(), f.bytes.clone()))
        .collect()
}

fn entrypoint_queries(s: &Shape) -> Vec<String> {
    if s.entrypoints.is_empty() {
        return vec!["data.dyn.pick".into()];
    }
    s.entrypoints
        .iter()
        .map(|e| regopt::verify::entrypoint_query(e))
        .collect()
}

#[test]
fn generated_bundles_decide_the_same_in_real_opa() {
    let oracle = common::oracle::engine();
    if oracle.is_none() {
        println!("skipped the real-OPA comparison: no engine (see the message above)");
    }
    let mut failures = Vec::new();
    for s in shapes() {
        let (b, r) = optimize(&s.files, &s.entrypoints, true);
        let p = r.prune.as_ref().expect("prune ran");
        assert!(p.refused.is_none(), "{}: {p:?}", s.name);
        if s.expect_pruned {
            assert!(p.dropped_count > 0, "{}: nothing pruned: {p:?}", s.name);
        } else {
            assert_eq!(p.dropped_count, 0, "{}: {p:?}", s.name);
        }
        let dd = r.dedup.as_ref().expect("dedup ran");
        assert_eq!(
            !dd.rewritten.is_empty(),
            s.expect_dedup,
            "{}: {dd:?}",
            s.name
        );
        println!(
            "{}: data {} -> {} bytes after pruning ({} dropped), dedup saved {} ({} rewritten, {} declined)",
            s.name,
            p.bytes_before,
            p.bytes_after,
            p.dropped_count,
            dd.bytes_saved,
            dd.rewritten.len(),
            dd.declined.len()
        );

        // Idempotence: optimizing the output again changes nothing.
        let out = bundle_files(&b);
        let (b2, r2) = optimize(&out, &s.entrypoints, true);
        assert_eq!(bundle_files(&b2), out, "{}: not idempotent", s.name);
        assert_eq!(r2.prune.unwrap().dropped_count, 0);
        assert!(r2.dedup.unwrap().rewritten.is_empty());
        // Determinism.
        let (b3, _) = optimize(&s.files, &s.entrypoints, true);
        assert_eq!(bundle_files(&b3), out, "{}: not deterministic", s.name);

        let Some(oracle) = &oracle else { continue };
        let dir = common::temp_dir();
        let (orig, opt) = (dir.path().join("orig"), dir.path().join("opt"));
        write_files(&orig, &s.files);
        bundle::write_path(
            &b,
            &opt,
            &WriteOptions {
                format: Some(OutputFormat::Dir),
                ..WriteOptions::default()
            },
        )
        .unwrap();
        let queries = entrypoint_queries(&s);
        let qs: Vec<&str> = queries.iter().map(String::as_str).collect();
        let c = oracle.compare(&orig, &opt, &qs, &s.inputs);
        println!("real OPA {}: {}", s.name, c.summary());
        if !c.is_clean() {
            failures.push(format!("{}: {}", s.name, c.summary()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Golden cases with entrypoints

/// Every `testdata/golden/<case>/` with an `entrypoints` file (one a line): `input/` is a bundle
/// directory, `flags` may hold `prune-data`, `expected/` is the whole optimized bundle
/// (`BLESS=1` regenerates it). Checked: output = expected/, idempotence, and real OPA decides
/// `queries` (default: the entrypoints) on `inputs.jsonl` the same on input/ and expected/.
#[test]
fn golden_closed_world_cases() {
    let root = common::testdata().join("golden");
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("entrypoints").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no closed-world golden cases");
    let ropts = ReadOptions::default();
    let wopts = WriteOptions {
        format: Some(OutputFormat::Dir),
        ..WriteOptions::default()
    };
    let mut failures = Vec::new();
    let mut batch = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let eps = common::read_lines(&case.join("entrypoints"));
        let flags = std::fs::read_to_string(case.join("flags")).unwrap_or_default();
        let mut o = all_opts(&eps.iter().map(String::as_str).collect::<Vec<_>>(), false);
        o.prune_data = flags.split_whitespace().any(|f| f == "prune-data");
        let mut b = bundle::read_path(&case.join("input"), &ropts).unwrap();
        let report = optimize_bundle(&mut b, &o).unwrap();
        let expected = case.join("expected");
        if bless {
            bundle::write_path(&b, &expected, &wopts).unwrap();
            let mut r = serde_json::to_value(&report).unwrap();
            r["timings"] = json!([]);
            std::fs::write(
                case.join("report.json"),
                serde_json::to_string_pretty(&json!({"prune": r["prune"], "dedup": r["dedup"]}))
                    .unwrap()
                    + "\n",
            )
            .unwrap();
        }
        let want = bundle::read_path(&expected, &ropts).unwrap();
        if bundle_files(&want) != bundle_files(&b) {
            failures.push(format!("{name}: output differs from expected/ (BLESS=1)"));
            continue;
        }
        let mut again = bundle::read_path(&expected, &ropts).unwrap();
        optimize_bundle(&mut again, &o).unwrap();
        if bundle_files(&again) != bundle_files(&b) {
            failures.push(format!("{name}: not idempotent"));
        }
        let queries = if case.join("queries").is_file() {
            common::read_lines(&case.join("queries"))
        } else {
            eps.iter()
                .map(|e| regopt::verify::entrypoint_query(e))
                .collect()
        };
        let inputs = if case.join("inputs.jsonl").is_file() {
            common::read_lines(&case.join("inputs.jsonl"))
        } else {
            vec!["__none__".to_string()]
        };
        let version = std::fs::read_to_string(case.join("rego_version")).unwrap_or_default();
        if version.trim() == "0" || version.trim() == "v0" {
            println!("{name}: not compared in real OPA: its modules are Rego v0, and the oracle's OPA build reads v1 only (its golden output and idempotence were checked above)");
            continue;
        }
        batch.push(json!({
            "name": name,
            "a": case.join("input"),
            "b": expected,
            "queries": queries,
            "inputs": inputs,
        }));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let Some(oracle) = common::oracle::engine() else {
        println!("skipped the real-OPA comparison of the golden cases: no engine");
        return;
    };
    failures.extend(common::oracle::golden_failures(&oracle, &batch));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn data_file_kinds_untouched_without_world() {
    // Sanity: the data files of a bundle without a closed world are only compacted.
    let f = files(&[
        ("p.rego", "package p\nallow if data.a\n"),
        ("data.json", "{ \"a\" : 1 , \"b\" : 2 }"),
    ]);
    let (b, _) = optimize(&f, &[], false);
    assert_eq!(text(&b, "data.json"), r#"{"a":1,"b":2}"#);
    assert!(b.files.iter().any(|f| f.kind == FileKind::Module));
}

#[test]
fn cli_flags_summary_and_report() {
    let dir = common::temp_dir();
    let input = dir.path().join("in");
    let d = big(9);
    write_files(
        &input,
        &files(&[
            (
                "p/p.rego",
                "package p\nallow if data.a[input.k]\nb := data.c[input.k]\n",
            ),
            (
                "data.json",
                &format!(r#"{{"a":{{"x":1}},"b":2,"c":{d},"e":{d}}}"#),
            ),
        ]),
    );
    let out = dir.path().join("out");
    let report = dir.path().join("report.json");
    let run = std::process::Command::new(common::regopt_bin())
        .args(["optimize"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args([
            "-e",
            "p/allow",
            "-e",
            "data.p.b",
            "--prune-data",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("prune: 2 of 2 rules reachable, 1 document(s) dropped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dedup: 1 group(s) of identical documents, 1 copy(ies) removed"),
        "{stderr}"
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    // data.e went in dedup (nothing read it), data.b in pruning.
    assert_eq!(r["prune"]["dropped"], json!(["data.b"]));
    assert_eq!(r["dedup"]["rewritten"][0]["path"], "data.e");
    assert_eq!(
        r["world"]["entrypoints"],
        json!(["data.p.allow", "data.p.b"])
    );
    // 0 turns dedup off.
    let out2 = dir.path().join("out2");
    let run = std::process::Command::new(common::regopt_bin())
        .args(["optimize"])
        .arg(&input)
        .arg("-o")
        .arg(&out2)
        .args(["-e", "p/allow", "--dedup-min-bytes", "0"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert!(!String::from_utf8_lossy(&run.stderr).contains("dedup:"));
}
