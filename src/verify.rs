//! `regopt verify`: evaluate an original bundle and its optimized form in process (with the
//! regorus Rego engine) on the same queries and inputs, and list every query/input pair whose
//! outcome differs.
//!
//! An outcome is a value (compared as exact JSON text), `undefined`, or an error (two errors
//! agree whatever their messages say: a rewrite may move an error's location). regorus differs
//! from OPA on a few edge semantics; both bundles go through the same engine, so such
//! differences cancel out and only differences the optimization introduced remain.
//!
//! Queries are the given ones, or every rule and every package of the original bundle. Inputs
//! are the given ones (JSON lines), or generated from the bundle: for every `input` path the
//! policies read, values sampled from the data the policies look up with it (real keys, array
//! elements, scalars), plus missing and edge values (`""`, `1`, `"1"`, `true`, `null`, arrays,
//! objects), plus `{}` and no input at all.
//!
//! A module regorus cannot load is left out on both sides, and every query that reaches it is
//! reported as not evaluable, with the reason; it never counts as a difference and is never
//! silently skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::num::{NonZeroU32, NonZeroUsize};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use regorus::unstable::{BoolOp, Expr, Literal};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, PolicyLengthConfig, QueryResults, Value};
use serde::ser::SerializeMap;
use serde::Serialize;

use crate::bundle::package::package_path;
use crate::bundle::Bundle;
use crate::data::json::{Kind, RawValue};
use crate::data::tree::{DataTree, Node};
use crate::error::{Error, Result};
use crate::pipeline::module_sources;
use crate::rego::ast::{self, Node as AstNode};
use crate::rego::{parse_module, ModuleSource, ParsedModule, RegoVersion};
use crate::report::Report;

/// Called with (comparisons done, comparisons in total) while evaluating.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Default number of generated inputs.
pub const DEFAULT_MAX_INPUTS: usize = 200;
/// Default time limit of one evaluation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to evaluate.
#[derive(Clone)]
pub struct VerifyOptions {
    /// Entrypoints as `opa build -e` takes them (`authz/allow`), or references (`data.authz.allow`).
    pub entrypoints: Vec<String>,
    /// Further Rego queries, verbatim.
    pub queries: Vec<String>,
    /// The inputs (JSON text each; `None` = no input document). `None`: generate them.
    pub inputs: Option<Vec<Option<String>>>,
    /// How many inputs to generate at most.
    pub max_inputs: usize,
    /// Time limit of one evaluation; one that runs out is inconclusive, not a difference.
    pub timeout: Duration,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            entrypoints: Vec::new(),
            queries: Vec::new(),
            inputs: None,
            max_inputs: DEFAULT_MAX_INPUTS,
            timeout: DEFAULT_TIMEOUT,
            progress: None,
        }
    }
}

impl std::fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("entrypoints", &self.entrypoints)
            .field("queries", &self.queries)
            .field("inputs", &self.inputs.as_ref().map(Vec::len))
            .field("max_inputs", &self.max_inputs)
            .field("timeout", &self.timeout)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// The outcome of one query on one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A value, as canonical JSON text (several result rows: a sorted JSON array of rows).
    Value(String),
    /// No result.
    Undefined,
    /// An evaluation error (the message, for display).
    Error(String),
    /// The evaluation ran out of time (inconclusive).
    Timeout(String),
}

impl Outcome {
    /// A short, one-line rendering (long values cut).
    pub fn show(&self) -> String {
        match self {
            Outcome::Value(v) => cut(v, 400),
            Outcome::Undefined => "undefined".into(),
            Outcome::Error(e) => format!("error: {}", cut(e, 400)),
            Outcome::Timeout(e) => format!("timed out: {}", cut(e, 200)),
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Outcome::Value(v) => {
                let parsed: serde_json::Value = serde_json::from_str(v)
                    .unwrap_or_else(|_| serde_json::Value::String(v.clone()));
                m.serialize_entry("value", &parsed)?;
            }
            Outcome::Undefined => m.serialize_entry("undefined", &true)?,
            Outcome::Error(e) => m.serialize_entry("error", e)?,
            Outcome::Timeout(e) => m.serialize_entry("timeout", e)?,
        }
        m.end()
    }
}

/// One query/input pair whose outcomes differ (or could not be compared).
#[derive(Clone, Debug, Serialize)]
pub struct Difference {
    /// The query.
    pub query: String,
    /// The input as JSON text; `None`: no input document.
    #[serde(serialize_with = "ser_input")]
    pub input: Option<String>,
    /// Outcome on the original bundle.
    pub original: Outcome,
    /// Outcome on the optimized bundle.
    pub optimized: Outcome,
}

fn ser_input<S: serde::Serializer>(
    input: &Option<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match input {
        None => s.serialize_str("__none__"),
        Some(t) => {
            let v: serde_json::Value = serde_json::from_str(t).unwrap_or(serde_json::Value::Null);
            v.serialize(s)
        }
    }
}

/// A query regorus could not evaluate, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NotEvaluable {
    /// The query.
    pub query: String,
    /// Why.
    pub reason: String,
}

/// A module left out of both engines because regorus cannot load it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExcludedModule {
    /// The module's path in the bundle.
    pub file: String,
    /// Which bundle it failed in: `original` or `optimized`.
    pub side: &'static str,
    /// regorus' message.
    pub reason: String,
}

/// What a verification found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Every query, evaluable or not.
    pub queries: Vec<String>,
    /// Number of inputs.
    pub inputs: usize,
    /// Whether the inputs were generated from the bundle.
    pub inputs_generated: bool,
    /// Query/input pairs evaluated on both sides.
    pub compared: usize,
    /// Pairs whose outcomes agree.
    pub agreed: usize,
    /// Pairs whose outcomes differ.
    pub differences: Vec<Difference>,
    /// Pairs where an evaluation ran out of time (not counted either way).
    pub inconclusive: Vec<Difference>,
    /// Queries that could not be evaluated.
    pub not_evaluable: Vec<NotEvaluable>,
    /// Modules regorus could not load.
    pub excluded_modules: Vec<ExcludedModule>,
    /// Milliseconds spent.
    pub millis: f64,
}

impl VerifyReport {
    /// Whether every compared pair agrees.
    pub fn agrees(&self) -> bool {
        self.differences.is_empty()
    }

    /// One line: how many pairs were compared and how many differ.
    pub fn summary(&self) -> String {
        let evaluable = self.queries.len() - self.not_evaluable.len();
        let mut s = format!(
            "{} of {} queries x {} {} inputs: {} pairs compared, {} agree, {} differ",
            evaluable,
            self.queries.len(),
            self.inputs,
            if self.inputs_generated {
                "generated"
            } else {
                "given"
            },
            self.compared,
            self.agreed,
            self.differences.len()
        );
        if !self.inconclusive.is_empty() {
            s.push_str(&format!(", {} timed out", self.inconclusive.len()));
        }
        if !self.not_evaluable.is_empty() {
            s.push_str(&format!(
                ", {} not evaluable in regorus",
                self.not_evaluable.len()
            ));
        }
        s
    }

    /// Every difference, three lines each.
    pub fn render_differences(&self) -> String {
        let mut s = String::new();
        for d in &self.differences {
            s.push_str(&render_pair("difference", d));
        }
        s
    }

    /// The full human-readable report.
    pub fn render(&self) -> String {
        let mut s = self.render_differences();
        for d in &self.inconclusive {
            s.push_str(&render_pair("timed out", d));
        }
        for m in &self.excluded_modules {
            s.push_str(&format!(
                "not loaded: {} ({} bundle): {}\n",
                m.file, m.side, m.reason
            ));
        }
        for n in &self.not_evaluable {
            s.push_str(&format!("not evaluable: {}: {}\n", n.query, n.reason));
        }
        s.push_str(&format!("verify: {}\n", self.summary()));
        s
    }
}

fn render_pair(what: &str, d: &Difference) -> String {
    format!(
        "{what}: {}\n  input:     {}\n  original:  {}\n  optimized: {}\n",
        d.query,
        match &d.input {
            None => "(no input)".to_string(),
            Some(t) => cut(t, 400),
        },
        d.original.show(),
        d.optimized.show()
    )
}

fn cut(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        let head: String = flat.chars().take(max).collect();
        format!("{head}... ({} bytes)", s.len())
    } else {
        flat
    }
}

/// Parse a JSON-lines inputs file: one JSON document per line, `__none__` for no input,
/// blank lines skipped. Err: (1-based line, message).
pub fn parse_inputs(text: &str) -> std::result::Result<Vec<Option<String>>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t == "__none__" {
            out.push(None);
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(t) {
            Ok(_) => out.push(Some(t.to_string())),
            Err(e) => return Err((i + 1, format!("invalid JSON: {e}"))),
        }
    }
    Ok(out)
}

/// One query: its text and, when it is a plain `data` reference, the path it reads.
#[derive(Clone, Debug)]
struct Query {
    text: String,
    path: Option<Vec<String>>,
}

/// `authz/allow` → `data.authz.allow`; `data.x.y` is taken as it is.
pub fn entrypoint_query(e: &str) -> String {
    let t = e.trim();
    if t == "data" || t.starts_with("data.") || t.starts_with("data[") {
        return t.to_string();
    }
    let segs: Vec<String> = t
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    ast::render_data_path(&segs)
}

/// The path of a plain `data.a.b["c"]` query, if it is one.
fn query_path(text: &str) -> Option<Vec<String>> {
    let src = ModuleSource::new(
        "query.rego",
        format!("package __regopt_query\n__q := {text}\n"),
        RegoVersion::V1,
    );
    let m = parse_module(&src).ok()?;
    let rule = m.module.policy.first()?;
    let regorus::unstable::Rule::Spec { head, .. } = rule.as_ref() else {
        return None;
    };
    let (_, _, assign, _) = ast::head_parts(head);
    ast::data_path(assign?)
}

/// Every package of the bundle (`data.<pkg>`) and every non-function rule in it
/// (`data.<pkg>.<rule>`), in package order.
fn default_queries(modules: &[ModuleSource], parsed: &[Option<ParsedModule>]) -> Vec<Query> {
    let mut by_pkg: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (src, p) in modules.iter().zip(parsed) {
        match p {
            Some(m) => {
                let names = by_pkg.entry(m.package.clone()).or_default();
                for rule in &m.module.policy {
                    if ast::is_function(rule) {
                        continue;
                    }
                    if let Some(first) = ast::static_prefix(ast::rule_ref(rule)).first() {
                        if !names.contains(first) {
                            names.push(first.clone());
                        }
                    }
                }
            }
            None => {
                if let Some(pkg) = package_path(&src.text) {
                    by_pkg.entry(pkg).or_default();
                }
            }
        }
    }
    let mut out = Vec::new();
    for (pkg, names) in by_pkg {
        out.push(Query {
            text: ast::render_data_path(&pkg),
            path: Some(pkg.clone()),
        });
        for n in names {
            let mut p = pkg.clone();
            p.push(n);
            out.push(Query {
                text: ast::render_data_path(&p),
                path: Some(p),
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Input generation
// ---------------------------------------------------------------------------

/// A data path with wildcards (`data.P[_].f`), segments after `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Any,
}

type Pattern = Vec<Seg>;

/// How the policies use `input`: the paths they read and the data they look up with each.
#[derive(Default, Debug)]
struct Usage {
    inputs: BTreeSet<Vec<String>>,
    assoc: BTreeMap<Vec<String>, BTreeSet<Pattern>>,
    data: BTreeSet<Pattern>,
    /// Input paths iterated or searched (`some x in input.p`, `v in input.p`, `input.p[_]`).
    collections: BTreeSet<Vec<String>>,
    /// Input paths used in arithmetic or ordering comparisons.
    numbers: BTreeSet<Vec<String>>,
}

struct Resolver<'m> {
    m: &'m ParsedModule,
}

impl Resolver<'_> {
    /// `data.a[x].b` → `[a, _, b]` (import aliases of `data` resolved).
    fn data_pattern(&self, e: &Expr) -> Option<Pattern> {
        match e {
            Expr::Var { span, .. } => {
                let name = span.text();
                if name == "data" {
                    return Some(Vec::new());
                }
                let imp = self.m.imports.iter().find(|i| i.name == name)?;
                if imp.path.first().map(String::as_str) != Some("data") {
                    return None;
                }
                Some(imp.path[1..].iter().cloned().map(Seg::Key).collect())
            }
            Expr::RefDot { refr, field, .. } => {
                let mut p = self.data_pattern(refr)?;
                p.push(Seg::Key(field.0.text().to_string()));
                Some(p)
            }
            Expr::RefBrack { refr, index, .. } => {
                let mut p = self.data_pattern(refr)?;
                p.push(match ast::string_lit(index) {
                    Some(s) => Seg::Key(s),
                    None => Seg::Any,
                });
                Some(p)
            }
            Expr::Call { params, .. } => {
                // object.keys(data.P) and similar wrappers: the collection inside.
                let (name, _) = ast::call_name(e)?;
                let wrapper = matches!(
                    name.iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .as_slice(),
                    ["object", "keys"] | ["object", "values"]
                );
                if wrapper {
                    self.data_pattern(params.first()?)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// `input.a.b[x]` → `[a, b]` (import aliases of `input` resolved).
    fn input_path(&self, e: &Expr) -> Option<Vec<String>> {
        let p = ast::static_prefix(e);
        let first = p.first()?;
        if first == "input" {
            return Some(p[1..].to_vec());
        }
        let imp = self.m.imports.iter().find(|i| &i.name == first)?;
        if imp.path.first().map(String::as_str) != Some("input") {
            return None;
        }
        let mut out = imp.path[1..].to_vec();
        out.extend(p[1..].iter().cloned());
        Some(out)
    }

    /// The input paths read anywhere inside `e` (outermost references only).
    fn inputs_in(&self, e: &regorus::unstable::Ref<Expr>) -> Vec<Vec<String>> {
        let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
        ast::walk_expr(e, &mut |n| {
            if let AstNode::Expr(x) = n {
                if let Some(p) = self.input_path(x) {
                    found.insert(p);
                }
            }
        });
        maximal(&found)
    }

    /// The input path `e` is, if it is one (not merely contains one).
    fn input_itself(&self, e: &Expr) -> Option<Vec<String>> {
        match e {
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => self.input_path(e),
            _ => None,
        }
    }

    /// The full path of a called user function (`["data","lib","f"]`), if it resolves to one.
    fn function_path(&self, e: &Expr) -> Option<Vec<String>> {
        let (name, _) = ast::call_name(e)?;
        let first = name.first()?;
        if first == "data" {
            return Some(name);
        }
        if let Some(imp) = self.m.imports.iter().find(|i| &i.name == first) {
            let mut p = imp.path.clone();
            p.extend(name[1..].iter().cloned());
            return Some(p);
        }
        if name.len() == 1 {
            let mut p = vec!["data".to_string()];
            p.extend(self.m.package.iter().cloned());
            p.push(first.clone());
            return Some(p);
        }
        None
    }
}

/// Paths that are not a strict prefix of another path in the set.
fn maximal(paths: &BTreeSet<Vec<String>>) -> Vec<Vec<String>> {
    paths
        .iter()
        .filter(|p| !paths.iter().any(|q| q.len() > p.len() && q.starts_with(p)))
        .cloned()
        .collect()
}

fn collect_usage(modules: &[ParsedModule]) -> Usage {
    let mut u = Usage::default();
    // Data a user function iterates, by the function's full path, and the calls made with
    // input arguments: `lookup(input.k)` looks input.k up in what `lookup` iterates.
    let mut fn_collections: BTreeMap<Vec<String>, BTreeSet<Pattern>> = BTreeMap::new();
    let mut calls: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for m in modules {
        let r = Resolver { m };
        for rule in &m.module.policy {
            let mut rule_inputs: BTreeSet<Vec<String>> = BTreeSet::new();
            let mut collections: BTreeSet<Pattern> = BTreeSet::new();
            let mut direct: Vec<(Vec<String>, Pattern)> = Vec::new();
            let mut input_collections: Vec<Vec<String>> = Vec::new();
            let mut input_numbers: Vec<Vec<String>> = Vec::new();
            ast::walk_rule(rule, &mut |n| match n {
                AstNode::Expr(e) => {
                    if let Some(p) = r.input_path(e) {
                        rule_inputs.insert(p);
                    }
                    if let Some(p) = r.data_pattern(e) {
                        u.data.insert(p);
                    }
                    match e.as_ref() {
                        Expr::RefBrack { refr, index, .. } => {
                            if ast::string_lit(index).is_none() {
                                input_collections.extend(r.input_itself(refr));
                            }
                            if let Some(pat) = r.data_pattern(refr) {
                                if ast::string_lit(index).is_none() {
                                    collections.insert(pat.clone());
                                }
                                for ip in r.inputs_in(index) {
                                    direct.push((ip, pat.clone()));
                                }
                            }
                        }
                        Expr::Call { params, .. } => {
                            if let Some(f) = r.function_path(e) {
                                let args: Vec<Vec<String>> =
                                    params.iter().flat_map(|p| r.inputs_in(p)).collect();
                                if !args.is_empty() {
                                    calls.push((f, args));
                                }
                            }
                            let pats: Vec<Pattern> =
                                params.iter().filter_map(|p| r.data_pattern(p)).collect();
                            if !pats.is_empty() {
                                for p in params {
                                    if let Expr::Array { items, .. } = p.as_ref() {
                                        // object.get(data.P, [input.a, input.b], d): a path.
                                        for (depth, item) in items.iter().enumerate() {
                                            for ip in r.inputs_in(item) {
                                                for pat in &pats {
                                                    let mut deeper = pat.clone();
                                                    deeper.extend((0..depth).map(|_| Seg::Any));
                                                    direct.push((ip.clone(), deeper));
                                                }
                                            }
                                        }
                                    } else if r.data_pattern(p).is_none() {
                                        for ip in r.inputs_in(p) {
                                            for pat in &pats {
                                                direct.push((ip.clone(), pat.clone()));
                                            }
                                        }
                                    }
                                }
                                collections.extend(pats);
                            }
                        }
                        Expr::Membership {
                            key,
                            value,
                            collection,
                            ..
                        } => {
                            input_collections.extend(r.input_itself(collection));
                            if let Some(pat) = r.data_pattern(collection) {
                                for side in key.iter().chain([value]) {
                                    for ip in r.inputs_in(side) {
                                        direct.push((ip, pat.clone()));
                                    }
                                }
                                collections.insert(pat);
                            }
                        }
                        Expr::BoolExpr { op, lhs, rhs, .. } => {
                            if matches!(op, BoolOp::Lt | BoolOp::Le | BoolOp::Gt | BoolOp::Ge) {
                                input_numbers.extend(r.input_itself(lhs));
                                input_numbers.extend(r.input_itself(rhs));
                            }
                            if matches!(op, BoolOp::Eq | BoolOp::Ne) {
                                for (a, b) in [(lhs, rhs), (rhs, lhs)] {
                                    if let Some(pat) = r.data_pattern(a) {
                                        for ip in r.inputs_in(b) {
                                            direct.push((ip, pat.clone()));
                                        }
                                    }
                                }
                            }
                        }
                        Expr::ArithExpr { lhs, rhs, .. } => {
                            input_numbers.extend(r.input_itself(lhs));
                            input_numbers.extend(r.input_itself(rhs));
                        }
                        _ => {}
                    }
                }
                AstNode::Stmt(s) => match &s.literal {
                    Literal::SomeIn { collection, .. } => {
                        input_collections.extend(r.input_itself(collection));
                        if let Some(pat) = r.data_pattern(collection) {
                            collections.insert(pat);
                        }
                    }
                    Literal::Every { domain, .. } => {
                        input_collections.extend(r.input_itself(domain));
                        if let Some(pat) = r.data_pattern(domain) {
                            collections.insert(pat);
                        }
                    }
                    _ => {}
                },
                AstNode::Query(_) => {}
            });
            for (ip, pat) in direct {
                u.assoc.entry(ip).or_default().insert(pat);
            }
            // Iterations over data in the same rule: `some k, v in data.P; k == input.x`.
            for ip in maximal(&rule_inputs) {
                for pat in &collections {
                    u.assoc.entry(ip.clone()).or_default().insert(pat.clone());
                }
            }
            if ast::is_function(rule) {
                if let Some(name) = ast::static_prefix(ast::rule_ref(rule)).first() {
                    let mut p = vec!["data".to_string()];
                    p.extend(m.package.iter().cloned());
                    p.push(name.clone());
                    fn_collections
                        .entry(p)
                        .or_default()
                        .extend(collections.iter().cloned());
                }
            }
            u.inputs.extend(rule_inputs);
            u.collections.extend(input_collections);
            u.numbers.extend(input_numbers);
        }
    }
    for (f, args) in calls {
        if let Some(pats) = fn_collections.get(&f) {
            for ip in args {
                u.assoc.entry(ip).or_default().extend(pats.iter().cloned());
            }
        }
    }
    u
}

/// A place in the merged data.
#[derive(Clone, Copy)]
enum DNode<'a, 't> {
    Tree(&'t Node<'a>),
    Raw(RawValue<'a>),
}

impl<'a, 't> DNode<'a, 't> {
    fn resolve(self) -> DNode<'a, 't> {
        match self {
            DNode::Tree(Node::Leaf { value, .. }) => DNode::Raw(*value),
            other => other,
        }
    }

    fn child(self, key: &str) -> Option<DNode<'a, 't>> {
        match self.resolve() {
            DNode::Tree(Node::Dir { children, .. }) => children.get(key).map(DNode::Tree),
            DNode::Raw(v) => match v.kind() {
                Kind::Object => v.get(key).map(DNode::Raw),
                Kind::Array => key
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| v.elements().nth(i))
                    .map(DNode::Raw),
                _ => None,
            },
            DNode::Tree(Node::Leaf { .. }) => None,
        }
    }

    /// The first `limit` children.
    fn children(self, limit: usize) -> Vec<DNode<'a, 't>> {
        match self.resolve() {
            DNode::Tree(Node::Dir { children, .. }) => {
                children.values().take(limit).map(DNode::Tree).collect()
            }
            DNode::Raw(v) => match v.kind() {
                Kind::Object => v
                    .members()
                    .take(limit)
                    .map(|(_, c)| DNode::Raw(c))
                    .collect(),
                Kind::Array => v.elements().take(limit).map(DNode::Raw).collect(),
                _ => Vec::new(),
            },
            DNode::Tree(Node::Leaf { .. }) => Vec::new(),
        }
    }

    fn scalar(self) -> Option<serde_json::Value> {
        match self.resolve() {
            DNode::Raw(v) if !matches!(v.kind(), Kind::Object | Kind::Array) => {
                serde_json::from_slice(v.as_bytes()).ok()
            }
            _ => None,
        }
    }

    /// Keys of an object (first ones and some spread over it), elements and indexes of an
    /// array, or the scalar itself.
    fn sample_keys(self, n: usize) -> Vec<serde_json::Value> {
        let pick = |len: usize| -> Vec<usize> {
            let mut idx: Vec<usize> = (0..len.min(n.saturating_sub(2))).collect();
            if len > 0 {
                idx.push(len / 2);
                idx.push(len - 1);
            }
            idx.sort_unstable();
            idx.dedup();
            idx
        };
        match self.resolve() {
            DNode::Tree(Node::Dir { children, .. }) => {
                let keys: Vec<&String> = children.keys().collect();
                pick(keys.len())
                    .into_iter()
                    .map(|i| serde_json::Value::String(keys[i].clone()))
                    .collect()
            }
            DNode::Raw(v) => match v.kind() {
                Kind::Object => {
                    let keys: Vec<String> = v.members().map(|(k, _)| k.into_owned()).collect();
                    pick(keys.len())
                        .into_iter()
                        .map(|i| serde_json::Value::String(keys[i].clone()))
                        .collect()
                }
                Kind::Array => {
                    let mut out: Vec<serde_json::Value> = v
                        .elements()
                        .take(n)
                        .filter(|e| !matches!(e.kind(), Kind::Object | Kind::Array))
                        .filter_map(|e| serde_json::from_slice(e.as_bytes()).ok())
                        .collect();
                    let len = v.len();
                    out.push(serde_json::json!(0));
                    out.push(serde_json::json!(len));
                    out
                }
                _ => DNode::Raw(v).scalar().into_iter().collect(),
            },
            DNode::Tree(Node::Leaf { .. }) => Vec::new(),
        }
    }
}

/// The places a pattern reaches (a few children for each wildcard).
fn resolve_pattern<'a, 't>(tree: &'t DataTree<'a>, pat: &Pattern) -> Vec<DNode<'a, 't>> {
    let mut nodes = vec![DNode::Tree(tree.root())];
    for seg in pat {
        let mut next = Vec::new();
        for n in nodes {
            match seg {
                Seg::Key(k) => next.extend(n.child(k)),
                Seg::Any => next.extend(n.children(3)),
            }
        }
        next.truncate(9);
        nodes = next;
        if nodes.is_empty() {
            break;
        }
    }
    nodes
}

/// Scalars found below a place (breadth first, bounded).
fn sample_scalars(node: DNode<'_, '_>, out: &mut Vec<serde_json::Value>, max: usize) {
    let mut queue = std::collections::VecDeque::from([node]);
    let mut visited = 0;
    while let Some(n) = queue.pop_front() {
        visited += 1;
        if visited > 300 || out.len() >= max {
            return;
        }
        if let Some(s) = n.scalar() {
            let short = !matches!(&s, serde_json::Value::String(t) if t.len() > 64);
            if short && !out.contains(&s) {
                out.push(s);
            }
            continue;
        }
        queue.extend(n.children(8));
    }
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn set_path(root: &mut serde_json::Value, path: &[String], v: serde_json::Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = v;
        return;
    };
    let mut cur = root;
    for seg in parents {
        if !cur.is_object() {
            *cur = serde_json::json!({});
        }
        let serde_json::Value::Object(obj) = cur else {
            return;
        };
        cur = obj
            .entry(seg.clone())
            .or_insert_with(|| serde_json::json!({}));
    }
    if !cur.is_object() {
        *cur = serde_json::json!({});
    }
    if let serde_json::Value::Object(obj) = cur {
        obj.insert(last.clone(), v);
    }
}

/// Inputs for the bundle's policies: none, `{}`, then documents setting every input path the
/// policies read to sampled and edge values (one path varied at a time, then random mixes).
pub fn generate_inputs(bundle: &Bundle, max: usize) -> Result<Vec<Option<String>>> {
    let sources = module_sources(bundle);
    let parsed: Vec<ParsedModule> = sources
        .iter()
        .filter_map(|s| parse_module(s).ok())
        .collect();
    let usage = collect_usage(&parsed);
    let tree = bundle.data_tree()?;

    let mut scalars: Vec<serde_json::Value> = Vec::new();
    for pat in &usage.data {
        if pat.is_empty() {
            continue;
        }
        for n in resolve_pattern(&tree, pat) {
            sample_scalars(n, &mut scalars, 16);
        }
        if scalars.len() >= 16 {
            break;
        }
    }
    let missing = serde_json::json!("__regopt_missing__");
    let leaves = maximal(&usage.inputs);
    let mut pools: Vec<Vec<serde_json::Value>> = Vec::new();
    for leaf in &leaves {
        let mut real: Vec<serde_json::Value> = Vec::new();
        for (ip, pats) in &usage.assoc {
            // A lookup keyed by this path, or by a path inside it.
            if !(ip.starts_with(leaf) || leaf.starts_with(ip)) {
                continue;
            }
            for pat in pats {
                for n in resolve_pattern(&tree, pat) {
                    for k in n.sample_keys(6) {
                        if !real.contains(&k) {
                            real.push(k);
                        }
                    }
                }
            }
        }
        let is_collection = usage
            .collections
            .iter()
            .any(|c| c.starts_with(leaf) || leaf.starts_with(c));
        let is_number = usage.numbers.contains(leaf);
        let mut pool: Vec<serde_json::Value> = Vec::new();
        let strings: Vec<serde_json::Value> = real
            .iter()
            .chain(&scalars)
            .filter(|v| v.is_string())
            .take(3)
            .cloned()
            .collect();
        if is_collection {
            pool.push(serde_json::Value::Array(strings.clone()));
            pool.extend(strings.iter().take(2).map(|v| serde_json::json!([v])));
        }
        if is_number {
            pool.extend(scalars.iter().filter(|v| v.is_number()).take(4).cloned());
            pool.extend([serde_json::json!(0), serde_json::json!(1500)]);
        }
        pool.extend(real.iter().cloned());
        pool.extend(
            scalars
                .iter()
                .take(if real.is_empty() { 8 } else { 3 })
                .cloned(),
        );
        let first = real
            .first()
            .or(scalars.first())
            .cloned()
            .unwrap_or_else(|| missing.clone());
        pool.extend([
            missing.clone(),
            serde_json::json!(""),
            serde_json::json!(1),
            serde_json::json!("1"),
            serde_json::json!(true),
            serde_json::Value::Null,
            serde_json::json!([first.clone()]),
            serde_json::Value::Array(strings),
            serde_json::json!([]),
            serde_json::json!({}),
        ]);
        if let serde_json::Value::String(k) = &first {
            pool.push(serde_json::json!({ k.clone(): true }));
        }
        let mut seen = BTreeSet::new();
        pool.retain(|v| seen.insert(v.to_string()));
        pools.push(pool);
    }

    let mut out: Vec<Option<String>> = vec![None, Some("{}".to_string())];
    let mut seen: BTreeSet<String> = BTreeSet::from(["{}".to_string()]);
    let mut push = |v: &serde_json::Value, out: &mut Vec<Option<String>>| {
        let t = v.to_string();
        if out.len() < max.max(2) && seen.insert(t.clone()) {
            out.push(Some(t));
        }
    };
    if leaves.is_empty() {
        out.truncate(max.max(2));
        return Ok(out);
    }
    let build = |choice: &[usize]| {
        let mut doc = serde_json::json!({});
        for ((leaf, pool), &c) in leaves.iter().zip(&pools).zip(choice) {
            set_path(&mut doc, leaf, pool[c].clone());
        }
        doc
    };
    let base = vec![0usize; leaves.len()];
    push(&build(&base), &mut out);
    // One path varied at a time, round robin over the paths.
    let longest = pools.iter().map(Vec::len).max().unwrap_or(0);
    for i in 1..longest {
        for (l, pool) in pools.iter().enumerate() {
            if i < pool.len() {
                let mut c = base.clone();
                c[l] = i;
                push(&build(&c), &mut out);
            }
        }
    }
    // Random mixes, favouring real values.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..max.saturating_mul(4) {
        if out.len() >= max {
            break;
        }
        let c: Vec<usize> = pools
            .iter()
            .map(|p| {
                if rng.below(3) == 0 {
                    rng.below(p.len())
                } else {
                    rng.below(p.len().min(4))
                }
            })
            .collect();
        push(&build(&c), &mut out);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

enum LoadFailure {
    Module { file: String, message: String },
    Whole(String),
}

/// regorus' multi-line error as one line: `file:line:col: message`.
fn one_line_error(msg: &str) -> String {
    let loc = msg
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> ").map(str::trim));
    let text = msg
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error:").map(str::trim));
    match (loc, text) {
        (Some(l), Some(t)) => format!("{l}: {t}"),
        _ => msg.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn located_file(msg: &str, files: &BTreeSet<&str>) -> Option<String> {
    let loc = msg
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> ").map(str::trim))?;
    let mut parts = loc.rsplitn(3, ':');
    let _col = parts.next()?;
    let _line = parts.next()?;
    let file = parts.next()?;
    files.contains(file).then(|| file.to_string())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// A bundle's modules and data, ready to load into regorus.
struct Side {
    name: &'static str,
    modules: Vec<ModuleSource>,
    data: Value,
}

impl Side {
    fn new(name: &'static str, bundle: &Bundle) -> Result<std::result::Result<Side, String>> {
        let tree = bundle.data_tree()?;
        let mut merged = Vec::new();
        tree.write_merged(&mut merged);
        let text = String::from_utf8_lossy(&merged);
        if let Some((_, why)) = crate::rego::unreadable_number(&text) {
            return Ok(Err(format!(
                "{name} bundle: regorus cannot load its data: {why}"
            )));
        }
        let data = match catch_unwind(AssertUnwindSafe(|| Value::from_json_str(&text))) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                return Ok(Err(format!(
                    "{name} bundle: regorus cannot load its data: {}",
                    one_line_error(&e.to_string())
                )))
            }
            Err(p) => {
                return Ok(Err(format!(
                    "{name} bundle: regorus panicked loading its data: {}",
                    panic_message(&*p)
                )))
            }
        };
        Ok(Ok(Side {
            name,
            modules: module_sources(bundle),
            data,
        }))
    }

    fn load(
        &self,
        exclude: &BTreeMap<String, ExcludedModule>,
        timeout: Duration,
    ) -> std::result::Result<Engine, LoadFailure> {
        let files: BTreeSet<&str> = self.modules.iter().map(|m| m.path.as_str()).collect();
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut engine = Engine::new();
            engine.set_gather_prints(true);
            engine.set_policy_length_config(PolicyLengthConfig {
                max_col: NonZeroU32::new(1_000_000_000).unwrap_or(NonZeroU32::MIN),
                max_file_bytes: NonZeroUsize::new(256 << 20).unwrap_or(NonZeroUsize::MIN),
                max_lines: NonZeroUsize::new(10_000_000).unwrap_or(NonZeroUsize::MIN),
            });
            engine.set_execution_timer_config(ExecutionTimerConfig {
                limit: timeout,
                check_interval: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            });
            for m in &self.modules {
                if exclude.contains_key(&m.path) {
                    continue;
                }
                engine.set_rego_v0(m.version == RegoVersion::V0);
                if let Some((line, why)) = crate::rego::unreadable_number(&m.text) {
                    return Err(LoadFailure::Module {
                        file: m.path.clone(),
                        message: format!("line {line}: {why}"),
                    });
                }
                if let Err(e) = engine.add_policy(m.path.clone(), m.text.clone()) {
                    return Err(LoadFailure::Module {
                        file: m.path.clone(),
                        message: one_line_error(&e.to_string()),
                    });
                }
            }
            if let Err(e) = engine.add_data(self.data.clone()) {
                return Err(LoadFailure::Whole(format!(
                    "{} bundle: regorus cannot load its data: {}",
                    self.name,
                    one_line_error(&e.to_string())
                )));
            }
            // Compiles every module: unknown functions and the like show up here.
            if let Err(e) = engine.eval_query("true".to_string(), false) {
                let msg = e.to_string();
                return Err(match located_file(&msg, &files) {
                    Some(file) => LoadFailure::Module {
                        file,
                        message: one_line_error(&msg),
                    },
                    None => LoadFailure::Whole(format!(
                        "{} bundle: regorus cannot prepare its modules: {}",
                        self.name,
                        one_line_error(&msg)
                    )),
                });
            }
            let _ = engine.take_prints();
            Ok(engine)
        }));
        r.unwrap_or_else(|p| {
            Err(LoadFailure::Whole(format!(
                "{} bundle: regorus panicked loading it: {}",
                self.name,
                panic_message(&*p)
            )))
        })
    }
}

fn outcome_of(res: QueryResults) -> Outcome {
    let rows: Vec<String> = res
        .result
        .iter()
        .map(|row| {
            let bindings = serde_json::to_string(&row.bindings).unwrap_or_default();
            if row.expressions.len() == 1 && (bindings == "{}" || bindings == "null") {
                serde_json::to_string(&row.expressions[0].value).unwrap_or_default()
            } else {
                let values: Vec<&Value> = row.expressions.iter().map(|e| &e.value).collect();
                format!(
                    "{{\"expressions\":{},\"bindings\":{bindings}}}",
                    serde_json::to_string(&values).unwrap_or_default()
                )
            }
        })
        .collect();
    match rows.len() {
        0 => Outcome::Undefined,
        1 if res.result[0].expressions.len() == 1 => Outcome::Value(rows[0].clone()),
        _ => {
            let mut rows = rows;
            rows.sort();
            rows.dedup();
            Outcome::Value(format!("[{}]", rows.join(",")))
        }
    }
}

/// Evaluate one query; Err(outcome) when the engine may be left broken (a panic).
fn eval(
    engine: &mut Engine,
    query: &str,
    input: &Option<Value>,
) -> std::result::Result<Outcome, Outcome> {
    engine.set_input(input.clone().unwrap_or(Value::Undefined));
    let r = catch_unwind(AssertUnwindSafe(|| {
        engine.eval_query(query.to_string(), false)
    }));
    let out = match r {
        Err(p) => {
            return Err(Outcome::Error(format!(
                "regorus panicked: {}",
                panic_message(&*p)
            )))
        }
        Ok(Ok(res)) => outcome_of(res),
        Ok(Err(e)) => {
            let msg = e.to_string();
            if msg.contains("exceeded time limit") {
                Outcome::Timeout(one_line_error(&msg))
            } else {
                Outcome::Error(one_line_error(&msg))
            }
        }
    };
    let _ = engine.take_prints();
    Ok(out)
}

/// The package of every module (parsed, or read by the package scanner).
fn package_of(m: &ModuleSource, parsed: Option<&ParsedModule>) -> Option<Vec<String>> {
    parsed
        .map(|p| p.package.clone())
        .or_else(|| package_path(&m.text))
}

/// Packages that cannot be evaluated: those of excluded modules and, transitively, those
/// whose modules refer to them. Value: the reason.
fn tainted_packages(
    modules: &[ModuleSource],
    parsed: &[Option<ParsedModule>],
    excluded: &BTreeMap<String, ExcludedModule>,
) -> BTreeMap<Vec<String>, String> {
    let mut tainted: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for (m, p) in modules.iter().zip(parsed) {
        if let Some(x) = excluded.get(&m.path) {
            let pkg = package_of(m, p.as_ref()).unwrap_or_default();
            tainted.entry(pkg).or_insert_with(|| {
                format!(
                    "regorus cannot load module {} ({} bundle): {}",
                    x.file, x.side, x.reason
                )
            });
        }
    }
    for _ in 0..=modules.len() {
        let mut added = false;
        for (m, p) in modules.iter().zip(parsed) {
            let Some(pkg) = package_of(m, p.as_ref()) else {
                continue;
            };
            if tainted.contains_key(&pkg) {
                continue;
            }
            let hit = tainted.iter().find(|(t, _)| {
                let r = ast::render_data_path(t);
                !t.is_empty() && m.text.contains(&r)
            });
            if let Some((t, why)) = hit {
                let reason = format!("depends on {}: {why}", ast::render_data_path(t));
                tainted.insert(pkg, reason);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    tainted
}

fn query_taint(q: &Query, tainted: &BTreeMap<Vec<String>, String>) -> Option<String> {
    if tainted.is_empty() {
        return None;
    }
    match &q.path {
        Some(p) => tainted
            .iter()
            .find(|(t, _)| p.starts_with(t) || t.starts_with(p))
            .map(|(_, why)| why.clone()),
        None => tainted
            .iter()
            .find(|(t, _)| q.text.contains(&ast::render_data_path(t)))
            .map(|(_, why)| why.clone()),
    }
}

/// Evaluate `original` and `optimized` on the same queries and inputs and compare.
pub fn verify_bundles(
    original: &Bundle,
    optimized: &Bundle,
    opts: &VerifyOptions,
) -> Result<VerifyReport> {
    let start = Instant::now();
    let modules = module_sources(original);
    let parsed: Vec<Option<ParsedModule>> = modules.iter().map(|m| parse_module(m).ok()).collect();

    let mut queries: Vec<Query> = Vec::new();
    for e in &opts.entrypoints {
        let text = entrypoint_query(e);
        let path = query_path(&text);
        queries.push(Query { text, path });
    }
    for q in &opts.queries {
        queries.push(Query {
            text: q.clone(),
            path: query_path(q),
        });
    }
    if queries.is_empty() {
        queries = default_queries(&modules, &parsed);
    }
    let mut seen = BTreeSet::new();
    queries.retain(|q| seen.insert(q.text.clone()));

    let (inputs, generated) = match &opts.inputs {
        Some(i) => (i.clone(), false),
        None => (generate_inputs(original, opts.max_inputs)?, true),
    };
    let mut report = VerifyReport {
        queries: queries.iter().map(|q| q.text.clone()).collect(),
        inputs: inputs.len(),
        inputs_generated: generated,
        ..VerifyReport::default()
    };
    let finish = |mut r: VerifyReport| {
        r.millis = start.elapsed().as_secs_f64() * 1e3;
        Ok(r)
    };
    let all_not_evaluable = |r: &mut VerifyReport, why: &str| {
        r.not_evaluable = queries
            .iter()
            .map(|q| NotEvaluable {
                query: q.text.clone(),
                reason: why.to_string(),
            })
            .collect();
    };

    let sides = (
        Side::new("original", original)?,
        Side::new("optimized", optimized)?,
    );
    let (orig_side, opt_side) = match sides {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => {
            all_not_evaluable(&mut report, &why);
            return finish(report);
        }
    };

    // Load both, leaving out (on both sides) every module regorus refuses on either side.
    let mut excluded: BTreeMap<String, ExcludedModule> = BTreeMap::new();
    let limit = orig_side.modules.len() + opt_side.modules.len() + 2;
    let mut engines = None;
    for _ in 0..limit {
        let mut retry = false;
        let mut loaded = Vec::new();
        for side in [&orig_side, &opt_side] {
            match side.load(&excluded, opts.timeout) {
                Ok(e) => loaded.push(e),
                Err(LoadFailure::Module { file, message }) if !excluded.contains_key(&file) => {
                    excluded.insert(
                        file.clone(),
                        ExcludedModule {
                            file,
                            side: side.name,
                            reason: message,
                        },
                    );
                    retry = true;
                    break;
                }
                Err(LoadFailure::Module { file, message }) => {
                    all_not_evaluable(&mut report, &format!("{file}: {message}"));
                    report.excluded_modules = excluded.into_values().collect();
                    return finish(report);
                }
                Err(LoadFailure::Whole(why)) => {
                    all_not_evaluable(&mut report, &why);
                    report.excluded_modules = excluded.into_values().collect();
                    return finish(report);
                }
            }
        }
        if !retry {
            let mut it = loaded.into_iter();
            if let (Some(a), Some(b)) = (it.next(), it.next()) {
                engines = Some((a, b));
            }
            break;
        }
    }
    let Some((orig_engine, opt_engine)) = engines else {
        all_not_evaluable(&mut report, "regorus could not load the bundles");
        report.excluded_modules = excluded.into_values().collect();
        return finish(report);
    };

    let tainted = tainted_packages(&modules, &parsed, &excluded);
    report.excluded_modules = excluded.into_values().collect();
    let mut evaluable: Vec<&Query> = Vec::new();
    for q in &queries {
        match query_taint(q, &tainted) {
            Some(reason) => report.not_evaluable.push(NotEvaluable {
                query: q.text.clone(),
                reason,
            }),
            None => evaluable.push(q),
        }
    }

    let mut values: Vec<Option<Value>> = Vec::with_capacity(inputs.len());
    for (i, t) in inputs.iter().enumerate() {
        values.push(match t {
            None => None,
            Some(t) => {
                let unloadable = |why: String| {
                    Error::Internal(format!("input {} is not loadable by regorus: {why}", i + 1))
                };
                if let Some((_, why)) = crate::rego::unreadable_number(t) {
                    return Err(unloadable(why));
                }
                Some(Value::from_json_str(t).map_err(|e| unloadable(e.to_string()))?)
            }
        });
    }

    let total = (values.len() * evaluable.len()) as u64;
    let done = AtomicU64::new(0);
    let progress = opts.progress.clone();
    let per_input: Vec<Vec<Pair>> = values
        .par_iter()
        .enumerate()
        .map_init(
            || (orig_engine.clone(), opt_engine.clone()),
            |(a, b), (i, input)| {
                let mut pairs = Vec::new();
                for (qi, q) in evaluable.iter().enumerate() {
                    let oa = eval(a, &q.text, input).unwrap_or_else(|o| {
                        *a = orig_engine.clone();
                        o
                    });
                    let ob = eval(b, &q.text, input).unwrap_or_else(|o| {
                        *b = opt_engine.clone();
                        o
                    });
                    // Only what is needed later is kept: outcomes can be large documents.
                    let unsupported = [&oa, &ob].into_iter().find_map(|o| match o {
                        Outcome::Error(m) if is_unsupported(m) => Some(m.clone()),
                        _ => None,
                    });
                    let same = match (&oa, &ob) {
                        (Outcome::Error(_), Outcome::Error(_)) => true,
                        (x, y) => x == y,
                    };
                    pairs.push(Pair {
                        query: qi,
                        input: i,
                        outcomes: (!same).then_some((oa, ob)),
                        unsupported,
                    });
                    if let Some(p) = &progress {
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        p(n, total);
                    }
                }
                pairs
            },
        )
        .collect();
    let mut pairs: Vec<Pair> = per_input.into_iter().flatten().collect();
    pairs.sort_by_key(|p| (p.query, p.input));

    // A query that reaches a function regorus lacks (on either side, for any input) is not
    // evaluable: its errors would agree without saying anything.
    let mut unsupported: BTreeMap<usize, String> = BTreeMap::new();
    for p in &pairs {
        if let Some(m) = &p.unsupported {
            unsupported
                .entry(p.query)
                .or_insert_with(|| format!("regorus cannot evaluate it: {m}"));
        }
    }
    for (qi, reason) in &unsupported {
        report.not_evaluable.push(NotEvaluable {
            query: evaluable[*qi].text.clone(),
            reason: reason.clone(),
        });
    }
    let order: BTreeMap<&str, usize> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| (q.text.as_str(), i))
        .collect();
    report
        .not_evaluable
        .sort_by_key(|n| order.get(n.query.as_str()).copied().unwrap_or(usize::MAX));
    for p in pairs {
        if unsupported.contains_key(&p.query) {
            continue;
        }
        report.compared += 1;
        let Some((original, optimized)) = p.outcomes else {
            report.agreed += 1;
            continue;
        };
        let d = Difference {
            query: evaluable[p.query].text.clone(),
            input: inputs[p.input].clone(),
            original,
            optimized,
        };
        if matches!(d.original, Outcome::Timeout(_)) || matches!(d.optimized, Outcome::Timeout(_)) {
            report.inconclusive.push(d);
        } else {
            report.differences.push(d);
        }
    }
    finish(report)
}

/// One query on one input: the outcomes when they differ, and whether regorus lacked
/// something on either side.
struct Pair {
    query: usize,
    input: usize,
    outcomes: Option<(Outcome, Outcome)>,
    unsupported: Option<String>,
}

/// Whether an evaluation error says regorus lacks something (a builtin), rather than that the
/// policy fails.
fn is_unsupported(message: &str) -> bool {
    message.contains("could not find function")
}

/// Read a copy of a bundle to compare against after optimizing it in place.
pub fn snapshot(bundle: &Bundle) -> Bundle {
    Bundle {
        files: bundle.files.clone(),
        manifest: bundle.manifest.clone(),
    }
}

/// The `optimize --verify` step: compare the optimized bundle with the original; on any
/// difference fail with [`Error::VerifyFailed`], else note the result in the report.
pub fn verify_step(
    original: &Bundle,
    optimized: &Bundle,
    opts: &VerifyOptions,
    report: &mut Report,
) -> Result<()> {
    let r = verify_bundles(original, optimized, opts)?;
    if !r.agrees() {
        return Err(Error::VerifyFailed {
            differences: r.differences.len(),
            compared: r.compared,
            report: Box::new(r),
        });
    }
    report
        .notes
        .push(format!("verify: {} ({:.0} ms)", r.summary(), r.millis));
    for n in &r.not_evaluable {
        report
            .notes
            .push(format!("verify: not evaluable: {}: {}", n.query, n.reason));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entrypoints_become_references() {
        assert_eq!(entrypoint_query("authz/allow"), "data.authz.allow");
        assert_eq!(entrypoint_query("data.authz.allow"), "data.authz.allow");
        assert_eq!(entrypoint_query("a/x-y"), "data.a[\"x-y\"]");
        assert_eq!(
            query_path("data.a[\"x-y\"].b"),
            Some(vec!["a".into(), "x-y".into(), "b".into()])
        );
        assert_eq!(query_path("count(data.a)"), None);
    }

    #[test]
    fn inputs_file_lines() {
        let got = parse_inputs("{\"a\":1}\n\n__none__\n[1]\n").unwrap();
        assert_eq!(
            got,
            vec![Some("{\"a\":1}".into()), None, Some("[1]".into())]
        );
        assert_eq!(parse_inputs("{}\n{oops\n").unwrap_err().0, 2);
    }

    #[test]
    fn regorus_errors_become_one_line() {
        let msg =
            "\n--> b.rego:2:15\n  |\n2 | x := f(1)\n  |      ^\nerror: could not find function f";
        assert_eq!(
            one_line_error(msg),
            "b.rego:2:15: could not find function f"
        );
        let files = BTreeSet::from(["b.rego"]);
        assert_eq!(located_file(msg, &files), Some("b.rego".into()));
    }

    #[test]
    fn set_path_builds_objects() {
        let mut v = serde_json::json!({});
        set_path(&mut v, &["a".into(), "b".into()], serde_json::json!(1));
        set_path(&mut v, &["c".into()], serde_json::json!(2));
        assert_eq!(v, serde_json::json!({"a": {"b": 1}, "c": 2}));
    }
}
