//! Stage `precompute`: in the closed world (entrypoints given), a rule whose value depends only
//! on the bundle's own data and on allowlisted pure builtins is evaluated once at optimize time
//! (regorus, in process) and replaced by its value — a Rego literal when small, else a document
//! under the reserved path that the rule reads directly. A closed comprehension inside a rule
//! body (`idx := {k: v | some k, v in data.rules}`) is replaced the same way.
//!
//! It runs once per optimize run, before the fixpoint passes ([`super::run`]), on the original
//! modules: every candidate is evaluated in one engine built from the unchanged bundle, so a
//! rule that reads another candidate sees the other's original value. The engine is built only
//! when at least one candidate passes the static checks. See docs/passes/precompute.md.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::num::{NonZeroU32, NonZeroUsize};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use regorus::unstable::{ArithOp, Expr, Literal, Ref, Rule};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, PolicyLengthConfig, Value};
use sha2::{Digest, Sha256};

use super::{parse_all, Bug, Decline, Edit, PassOptions, PassReport, GENERATED_PREFIX};
use crate::rego::ast::{self, Node};
use crate::rego::refs::{self, DataPath, PackageRules};
use crate::rego::{self, BundleFacts, DataView, ModuleSource, ParsedModule, RegoVersion};

/// Id of the stage (for `--only` / `--skip` and reports).
pub const ID: &str = "precompute";

/// Time regorus may spend evaluating one candidate.
const EVAL_TIMEOUT: Duration = Duration::from_secs(20);

/// Builtins whose regorus implementation gives what OPA v1.x gives for every argument of the
/// types that bundle data can hold (no floats: numbers are checked to be exact integers). Anything
/// non-deterministic (`http.send`, `time.now_ns`, `rand.*`, `uuid.*`, `opa.runtime`, `print`) is
/// deliberately absent, and so are builtins whose result depends on the ordering of mixed types
/// (`sort`, `max`, `min`: regorus orders sets before objects, OPA after).
pub const ALLOWLIST: &[&str] = &[
    "count",
    "object.keys",
    "object.get",
    "array.concat",
    "concat",
    "lower",
    "upper",
    "startswith",
    "endswith",
    "contains",
    "split",
    "trim",
    "trim_space",
    "trim_prefix",
    "trim_suffix",
    "trim_left",
    "trim_right",
    "is_string",
    "is_number",
    "is_boolean",
    "is_array",
    "is_object",
    "is_set",
    "is_null",
    "type_name",
    "union",
    "intersection",
    "set",
];

/// Allowlisted builtins that are only exact on ASCII text.
const ASCII_ONLY: &[&str] = &[
    "lower",
    "upper",
    "trim_space",
    "trim",
    "trim_left",
    "trim_right",
];

/// A rule group: all rules of a package whose head starts with one name.
type GroupKey = (Vec<String>, String);

/// What a data-only group reads, transitively.
#[derive(Clone, Debug, Default)]
struct Deps {
    /// Base-data paths.
    base: BTreeSet<DataPath>,
    /// Rule groups (including the group itself).
    groups: BTreeSet<GroupKey>,
    /// Builtins called.
    builtins: BTreeSet<String>,
}

struct Analysis<'a> {
    modules: &'a [ParsedModule],
    data: &'a dyn DataView,
    facts: BundleFacts,
    rules: PackageRules,
    /// Group → (module index, rule index) of each definition.
    groups: BTreeMap<GroupKey, Vec<(usize, usize)>>,
    memo: HashMap<GroupKey, Result<Deps, String>>,
    visiting: HashSet<GroupKey>,
    numbers: HashMap<DataPath, Result<(), String>>,
    /// Base documents with non-ASCII text.
    non_ascii: HashSet<DataPath>,
}

fn group_path(k: &GroupKey) -> DataPath {
    let mut p = k.0.clone();
    p.push(k.1.clone());
    p
}

fn show(p: &[String]) -> String {
    ast::render_data_path(p)
}

impl<'a> Analysis<'a> {
    fn new(modules: &'a [ParsedModule], data: &'a dyn DataView) -> Self {
        let mut groups: BTreeMap<GroupKey, Vec<(usize, usize)>> = BTreeMap::new();
        for (mi, m) in modules.iter().enumerate() {
            for (ri, rule) in m.module.policy.iter().enumerate() {
                if let Some(first) = ast::static_prefix(ast::rule_ref(rule)).first() {
                    groups
                        .entry((m.package.clone(), first.clone()))
                        .or_default()
                        .push((mi, ri));
                }
            }
        }
        Analysis {
            modules,
            data,
            facts: BundleFacts::build(modules, &[]),
            rules: PackageRules::build(modules),
            groups,
            memo: HashMap::new(),
            visiting: HashSet::new(),
            numbers: HashMap::new(),
            non_ascii: HashSet::new(),
        }
    }

    /// Whether a group is data-only (transitively), with what it reads, or why not.
    fn group(&mut self, key: &GroupKey) -> Result<Deps, String> {
        if let Some(r) = self.memo.get(key) {
            return r.clone();
        }
        if !self.visiting.insert(key.clone()) {
            return Err(format!("{} is recursive", show(&group_path(key))));
        }
        let defs = self.groups.get(key).cloned().unwrap_or_default();
        let mut deps = Deps::default();
        deps.groups.insert(key.clone());
        let mut result = Ok(());
        let modules = self.modules;
        for (mi, ri) in defs {
            let m = &modules[mi];
            let rule = &m.module.policy[ri];
            let own = group_path(key);
            if let Some(v) = self.shadowing(m, rule) {
                result = Err(v);
                break;
            }
            let part = self.scan(m, |f| ast::walk_rule(rule, f), &own);
            match part {
                Ok(d) => {
                    deps.base.extend(d.base);
                    deps.groups.extend(d.groups);
                    deps.builtins.extend(d.builtins);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.visiting.remove(key);
        let out = result.map(|_| deps);
        self.memo.insert(key.clone(), out.clone());
        out
    }

    /// A local variable of `rule` named like a rule of its package or an import: OPA scopes it
    /// locally, regorus may resolve it to the rule (seen: `some u` with a rule `u`).
    fn shadowing(&self, m: &ParsedModule, rule: &Rule) -> Option<String> {
        let locals = super::rule_locals(rule);
        let mut names: Vec<&String> = locals
            .iter()
            .filter(|v| {
                self.facts.package_defines(&m.package, v) || m.imports.iter().any(|i| &i.name == *v)
            })
            .collect();
        names.sort();
        names.first().map(|v| {
            format!("the local variable {v} has the name of a rule or import, which regorus may resolve differently from OPA")
        })
    }

    /// Check the nodes `walk` visits in module `m` (a rule or an expression): no input, no
    /// `with`, allowlisted builtins and operators, reads only of bundle data and data-only rules.
    /// `own` is the group being checked (its own head is not a read).
    fn scan<'n>(
        &mut self,
        m: &'n ParsedModule,
        walk: impl Fn(&mut dyn FnMut(Node<'n>)),
        own: &[String],
    ) -> Result<Deps, String> {
        let input_names: HashSet<String> = m
            .imports
            .iter()
            .filter(|i| i.path.first().map(String::as_str) == Some("input"))
            .map(|i| i.name.clone())
            .chain(["input".to_string()])
            .collect();
        let mut problem: Option<String> = None;
        let mut calls: Vec<Vec<String>> = Vec::new();
        walk(&mut |n| {
            if problem.is_some() {
                return;
            }
            match n {
                Node::Stmt(s) => {
                    if !s.with_mods.is_empty() {
                        problem = Some("uses `with`".into());
                    }
                }
                Node::Expr(e) => match e.as_ref() {
                    Expr::Var { span, .. } if input_names.contains(span.text()) => {
                        problem = Some("depends on input".into());
                    }
                    Expr::ArithExpr {
                        op: ArithOp::Div, ..
                    } => problem = Some("operator / is not on the precompute allowlist".into()),
                    Expr::ArithExpr {
                        op: ArithOp::Mod, ..
                    } => problem = Some("operator % is not on the precompute allowlist".into()),
                    Expr::Call { fcn, .. } => match ast::static_path(fcn) {
                        Some(p) => calls.push(p),
                        None => problem = Some("calls a function that is not a name".into()),
                    },
                    _ => {}
                },
                Node::Query(_) => {}
            }
        });
        if let Some(p) = problem {
            return Err(p);
        }
        let mut deps = Deps::default();
        let mut reads: BTreeSet<DataPath> = refs::reads_of(m, &self.rules, &walk);
        for c in calls {
            if let Some(p) = refs::resolve(m, &self.rules, &c) {
                reads.insert(p);
                continue;
            }
            let name = c.join(".");
            if !ALLOWLIST.contains(&name.as_str()) {
                return Err(format!("builtin {name} is not on the precompute allowlist"));
            }
            let parts: Vec<&str> = c.iter().map(String::as_str).collect();
            if let Some(w) = self.facts.function_mocked(&parts) {
                return Err(format!(
                    "`with {}` at {}:{}:{} may replace the builtin {name}",
                    w.target.join("."),
                    w.file,
                    w.line,
                    w.col
                ));
            }
            deps.builtins.insert(name);
        }
        for p in reads {
            if !own.is_empty() && p == own {
                continue;
            }
            self.read(&p, &mut deps)?;
        }
        Ok(deps)
    }

    /// Classify one read: a data-only rule group, or bundle-owned base data.
    fn read(&mut self, p: &DataPath, deps: &mut Deps) -> Result<(), String> {
        if p.is_empty() {
            return Err("reads all of data".into());
        }
        let hits: Vec<GroupKey> = self
            .groups
            .keys()
            .filter(|k| refs::overlaps(&group_path(k), p))
            .cloned()
            .collect();
        if !hits.is_empty() {
            for k in hits {
                if p.len() < group_path(&k).len() {
                    return Err(format!(
                        "reads {} as a whole, which includes rules",
                        show(p)
                    ));
                }
                let d = self
                    .group(&k)
                    .map_err(|e| format!("uses {} , which {e}", show(&group_path(&k))))?;
                deps.base.extend(d.base);
                deps.groups.extend(d.groups);
                deps.builtins.extend(d.builtins);
            }
            return Ok(());
        }
        if let Some(pk) = self
            .modules
            .iter()
            .find(|m| m.package.starts_with(p))
            .map(|m| m.package.clone())
        {
            return Err(format!(
                "reads {} as a whole, which includes the package {}",
                show(p),
                show(&pk)
            ));
        }
        if !self.data.owned(p) {
            return Err(format!(
                "reads {}, which is outside the bundle's manifest roots",
                show(p)
            ));
        }
        if self.data.kind_at(p).is_none() {
            return Err(format!("reads {}, which no data file defines", show(p)));
        }
        self.number_texts(p)?;
        deps.base.insert(p.clone());
        Ok(())
    }

    /// Every number in the base document at `p` is written as an integer regorus keeps exactly.
    fn number_texts(&mut self, p: &DataPath) -> Result<(), String> {
        if let Some(r) = self.numbers.get(p) {
            return r.clone();
        }
        let r = match self.data.json_at(p) {
            None => Err(format!("the data at {} cannot be read", show(p))),
            Some(json) => {
                if json.iter().any(|b| !b.is_ascii()) || json.windows(2).any(|w| w == b"\\u") {
                    self.non_ascii.insert(p.clone());
                }
                match inexact_number(&json) {
                    Some(n) => Err(format!(
                        "{} contains the number {n}, which regorus may not represent as OPA does",
                        show(p)
                    )),
                    None => Ok(()),
                }
            }
        };
        self.numbers.insert(p.clone(), r.clone());
        r
    }

    /// Builtins that agree with OPA only on ASCII text (Rust and Go case-map and trim other
    /// characters differently: `upper("ß")`, a final `Σ`): declined when the data read or
    /// the module's text has anything else.
    fn text_conflict(&self, deps: &Deps, texts: &[&str]) -> Option<String> {
        let b = deps
            .builtins
            .iter()
            .find(|b| ASCII_ONLY.contains(&b.as_str()))?;
        if let Some(p) = deps.base.iter().find(|p| self.non_ascii.contains(*p)) {
            return Some(format!(
                "builtin {b} agrees with OPA only on ASCII text, and {} has other characters",
                show(p)
            ));
        }
        if texts.iter().any(|t| !t.is_ascii()) {
            return Some(format!(
                "builtin {b} agrees with OPA only on ASCII text, and the module has other characters"
            ));
        }
        None
    }

    /// `with` targets elsewhere in the bundle that could change what the dependencies give.
    fn with_conflict(&self, deps: &Deps) -> Option<String> {
        let paths: Vec<DataPath> = deps
            .base
            .iter()
            .cloned()
            .chain(deps.groups.iter().map(group_path))
            .collect();
        for w in &self.facts.with_targets {
            let hit = match w.target.first().map(String::as_str) {
                Some("data") => paths.iter().any(|p| refs::overlaps(&w.target[1..], p)),
                Some("input") | None => false,
                Some(_) => {
                    let last = w.target.last().cloned().unwrap_or_default();
                    deps.groups.iter().any(|g| g.1 == last)
                }
            };
            if hit {
                return Some(format!(
                    "`with {}` at {}:{}:{} may change what it reads",
                    w.target.join("."),
                    w.file,
                    w.line,
                    w.col
                ));
            }
        }
        None
    }
}

/// The first number in compact JSON whose text is not a canonical integer below 2^53.
fn inexact_number(json: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    if json[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let s = i;
                while i < json.len()
                    && matches!(json[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let t = String::from_utf8_lossy(&json[s..i]).to_string();
                if !canonical_int(&t) {
                    return Some(t);
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn canonical_int(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return false;
    }
    if t == "-0" {
        return false;
    }
    digits.len() <= 16 && digits.parse::<u64>().is_ok_and(|n| n < (1u64 << 53))
}

/// Render a regorus value as a Rego literal (`json`: as JSON, failing on sets and non-string
/// keys). Numbers must be integers below 2^53 in magnitude.
pub fn render(v: &Value, json: bool, out: &mut String) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let exact = n
                .as_i64()
                .filter(|i| n.is_integer() && i.unsigned_abs() < (1u64 << 53));
            match exact {
                Some(i) => out.push_str(&i.to_string()),
                None => {
                    return Err(format!(
                        "the value contains the number {}, not an integer below 2^53",
                        n.format_decimal()
                    ))
                }
            }
        }
        Value::String(s) => {
            out.push_str(&serde_json::to_string(s.as_ref()).map_err(|e| e.to_string())?)
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(if json { "," } else { ", " });
                }
                render(x, json, out)?;
            }
            out.push(']');
        }
        Value::Set(s) => {
            if json {
                return Err("the value holds a set inside, which JSON cannot hold".into());
            }
            if s.is_empty() {
                out.push_str("set()");
            } else {
                out.push('{');
                for (i, x) in s.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    render(x, json, out)?;
                }
                out.push('}');
            }
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(if json { "," } else { ", " });
                }
                if json && !matches!(k, Value::String(_)) {
                    return Err("the value has an object with a non-string key".into());
                }
                render(k, json, out)?;
                out.push_str(if json { ":" } else { ": " });
                render(x, json, out)?;
            }
            out.push('}');
        }
        Value::Undefined => return Err("the value is undefined in part".into()),
    }
    Ok(())
}

/// What a candidate is replaced with.
enum Replacement {
    /// Rego literal text.
    Literal(String),
    /// The value is a base document as it stands: a reference to it.
    Reference(String),
    /// A generated document (name, JSON) and the expression reading it.
    Document(String, Vec<u8>, String),
}

/// Whether a large value is exactly the base document at `p` (e.g. `{k: v | some k, v in
/// data.rules}`): then the rule reads that document instead of a stored copy.
fn same_as_base(v: &Value, data: &dyn DataView, p: &[String]) -> bool {
    // Cheap filter first: same kind and number of members (parsing 15 MB takes a while).
    let n = match (v, data.kind_at(p)) {
        (Value::Object(o), Some(rego::DataKind::Object)) => o.len(),
        (Value::Array(a), Some(rego::DataKind::Array)) => a.len(),
        _ => return false,
    };
    if data.size_at(p).map(|s| s.1) != Some(n as u64) {
        return false;
    }
    // `v` was evaluated, so `evaluate` found no number regorus cannot read in the whole data.
    data.json_at(p)
        .and_then(|j| Value::from_json_str(&String::from_utf8_lossy(&j)).ok())
        .is_some_and(|b| &b == v)
}

fn doc_name(json: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(json);
    format!("pre_{}", hex::encode(&h.finalize()[..8]))
}

/// Variable of the set comprehension that rebuilds a large set from its stored array.
const SET_VAR: &str = "__regopt_x";

/// What replaces a value. OPA's type checker types a reference into base data as `any` but a
/// literal by its shape (`["a"]` is `array[string]`), so an inlined literal can turn a use that
/// the original left to evaluation (undefined, or a runtime error) into a compile error that
/// stops the bundle from loading. So values go to the reserved path, where a reference reads
/// them typed `any`; a literal is inlined only for rules that are boolean-typed anyway
/// (`boolean_rule`) — and when there is no reserved path, anything else is declined.
fn replacement(
    v: &Value,
    reserved: Result<&[String], &str>,
    boolean_rule: bool,
) -> Result<Replacement, String> {
    if boolean_rule && matches!(v, Value::Bool(_)) {
        let mut lit = String::new();
        render(v, false, &mut lit)?;
        return Ok(Replacement::Literal(lit));
    }
    let reserved = reserved.map_err(|why| {
        format!(
            "an inlined literal would be typed more precisely than the original by OPA's type checker, and there is no reserved path to store the value: {why}"
        )
    })?;
    // A set of strings is stored as an object `{elem: true}`, so that one element is looked up
    // directly (`r[x]`, a partial set with `x` bound); other sets as an array.
    let string_set = matches!(v, Value::Set(s) if s.iter().all(|e| matches!(e, Value::String(_))));
    let (elems, set) = match v {
        Value::Set(s) if string_set => {
            let mut obj = Value::new_object();
            if let Ok(map) = obj.as_object_mut() {
                for e in s.iter() {
                    map.insert(e.clone(), Value::Bool(true));
                }
            }
            (obj, true)
        }
        Value::Set(s) => (Value::from(s.iter().cloned().collect::<Vec<_>>()), true),
        other => (other.clone(), false),
    };
    let mut json = String::new();
    render(&elems, true, &mut json)?;
    let json = json.into_bytes();
    let name = doc_name(&json);
    let mut p = reserved.to_vec();
    p.push(name.clone());
    let r = show(&p);
    let expr = match (set, string_set) {
        (true, true) => format!("{{{SET_VAR} | {r}[{SET_VAR}]}}"),
        (true, false) => format!("{{{SET_VAR} | {SET_VAR} := {r}[_]}}"),
        _ => r,
    };
    Ok(Replacement::Document(name, json, expr))
}

fn bool_lit(e: &Expr) -> bool {
    matches!(e, Expr::Bool { .. })
}

/// Whether every definition of a rule gives a boolean literal (`r if …`, `r := true if …`,
/// `default r := false`, `else := false`): OPA types it `boolean` either way.
fn boolean_rule(rules: &[&Rule]) -> bool {
    rules.iter().all(|r| match r {
        Rule::Spec { head, bodies, .. } => match head {
            regorus::unstable::RuleHead::Compr { refr, assign, .. } => {
                matches!(refr.as_ref(), Expr::Var { .. })
                    && assign.as_ref().is_none_or(|a| bool_lit(&a.value))
                    && bodies
                        .iter()
                        .all(|b| b.assign.as_ref().is_none_or(|a| bool_lit(&a.value)))
            }
            _ => false,
        },
        Rule::Default { value, args, .. } => args.is_empty() && bool_lit(value),
    })
}

impl Replacement {
    fn text(&self) -> &str {
        match self {
            Replacement::Literal(s) | Replacement::Reference(s) => s,
            Replacement::Document(_, _, e) => e,
        }
    }
}

/// One planned candidate.
struct Candidate {
    module: usize,
    /// Byte offset for reports.
    at: usize,
    kind: CandidateKind,
    /// Query regorus evaluates (`data.<pkg>.<name>`).
    query: String,
    /// Base documents it reads (transitively).
    base: Vec<DataPath>,
    /// A rule OPA types `boolean` whatever its bodies (see [`boolean_rule`]).
    boolean: bool,
}

enum CandidateKind {
    /// Replace all definitions (ranges) of the rule `name` by `name := value`.
    Rule {
        name: String,
        ranges: Vec<(usize, usize)>,
        /// A partial set rule (`r contains x if …`, v0 `r[x] { … }`): OPA evaluates it for one
        /// bound element without building the set, so it must stay a partial set.
        partial_set: bool,
        /// The module is written in v1 syntax (`contains`/`if` available).
        v1: bool,
    },
    /// Replace the comprehension at this range; evaluated through `eval_rule` appended to the
    /// module given to regorus.
    Compr {
        range: (usize, usize),
        eval_rule: String,
    },
}

/// Whether an expression is a literal value already (no variables, references or calls).
fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::String { .. }
        | Expr::RawString { .. }
        | Expr::Number { .. }
        | Expr::Bool { .. }
        | Expr::Null { .. } => true,
        Expr::Array { items, .. } | Expr::Set { items, .. } => items.iter().all(|x| is_literal(x)),
        Expr::Object { fields, .. } => fields
            .iter()
            .all(|(_, k, v)| is_literal(k) && is_literal(v)),
        Expr::Call { fcn, params, .. } => {
            ast::static_path(fcn).is_some_and(|p| p == ["set"]) && params.is_empty()
        }
        Expr::UnaryExpr { expr, .. } => matches!(expr.as_ref(), Expr::Number { .. }),
        _ => false,
    }
}

/// Whether a group is already in precomputed form (a single `r := <literal>`).
fn already_literal(rules: &[&Rule]) -> bool {
    if rules.len() != 1 {
        return false;
    }
    match rules[0] {
        Rule::Spec { head, bodies, .. } => {
            let (refr, args, assign, key) = ast::head_parts(head);
            matches!(refr.as_ref(), Expr::Var { .. })
                && args.is_empty()
                && key.is_none()
                && bodies.iter().all(|b| b.query.stmts.is_empty())
                && assign.is_some_and(|v| is_literal(v))
        }
        Rule::Default { .. } => false,
    }
}

/// Whether a group is a single `r := data.<static path>` (a direct reference already).
fn already_reference(rules: &[&Rule]) -> bool {
    match rules {
        [Rule::Spec { head, bodies, .. }] => {
            let (refr, args, assign, key) = ast::head_parts(head);
            matches!(refr.as_ref(), Expr::Var { .. })
                && args.is_empty()
                && key.is_none()
                && bodies.iter().all(|b| b.query.stmts.is_empty())
                && assign.is_some_and(|v| ast::data_path(v).is_some())
        }
        _ => false,
    }
}

/// Whether a METADATA comment block sits right before `start`.
fn has_metadata_before(text: &str, start: usize) -> bool {
    let before = &text[..start];
    for line in before.trim_end().rsplit('\n') {
        let t = line.trim();
        if !t.starts_with('#') {
            return false;
        }
        if t.trim_start_matches('#').trim() == "METADATA" {
            return true;
        }
    }
    false
}

/// Names in the expression tree that are variables (not `data`, imports, rules of the package,
/// nor the root of a called function's name).
fn local_vars<'n>(
    m: &ParsedModule,
    rules: &PackageRules,
    walk: impl FnOnce(&mut dyn FnMut(Node<'n>)),
) -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    let mut fcn_roots: HashSet<(u32, u32)> = HashSet::new();
    walk(&mut |n| match n {
        Node::Expr(e) => match e.as_ref() {
            Expr::Call { fcn, .. } => {
                let mut f: &Expr = fcn;
                loop {
                    match f {
                        Expr::RefDot { refr, .. } => f = refr,
                        Expr::Var { span, .. } => {
                            fcn_roots.insert((span.start, span.end));
                            break;
                        }
                        _ => break,
                    }
                }
            }
            Expr::Var { span, .. } => {
                let t = span.text();
                if fcn_roots.contains(&(span.start, span.end))
                    || t == "_"
                    || t == "data"
                    || t == "input"
                    || m.imports.iter().any(|i| i.name == t)
                    || rules.defines(&m.package, t)
                {
                    return;
                }
                vars.insert(t.to_string());
            }
            _ => {}
        },
        Node::Stmt(s) => match &s.literal {
            Literal::SomeVars { vars: vs, .. } => {
                for v in vs {
                    vars.insert(v.text().to_string());
                }
            }
            Literal::Every { key, value, .. } => {
                for v in key.iter().chain([value]) {
                    vars.insert(v.text().to_string());
                }
            }
            _ => {}
        },
        Node::Query(_) => {}
    });
    vars
}

/// Run the stage over `modules` (changed in place). Does nothing in the open world or when the
/// stage is not enabled.
pub fn run(modules: &mut [ModuleSource], data: &dyn DataView, opts: &PassOptions) -> PassReport {
    let mut report = PassReport::default();
    let Some(world) = opts.world.as_ref() else {
        return report;
    };
    if !opts.enabled(ID) {
        return report;
    }
    let (parsed, unparsed) = parse_all(modules);
    if !unparsed.is_empty() {
        return report;
    }
    let reserved = world.reserved().map(<[String]>::to_vec);
    let mut an = Analysis::new(&parsed, data);
    let mut declines: Vec<(usize, usize, String)> = Vec::new();
    let mut cands: Vec<Candidate> = Vec::new();
    let mut replaced: HashSet<(usize, usize)> = HashSet::new();
    let mut rule_declined: HashMap<(usize, usize), String> = HashMap::new();
    let keys: Vec<GroupKey> = an.groups.keys().cloned().collect();
    for key in &keys {
        let defs = an.groups[key].clone();
        let (mi, ri) = defs[0];
        let m = &parsed[mi];
        let at = ast::rule_range(&m.module.policy[ri]).0;
        let rules: Vec<&Rule> = defs
            .iter()
            .map(|(a, b)| parsed[*a].module.policy[*b].as_ref())
            .collect();
        if key.1.starts_with(GENERATED_PREFIX)
            || rules.iter().any(|r| ast::is_function(r))
            || already_literal(&rules)
            || already_reference(&rules)
        {
            continue;
        }
        let path = group_path(key);
        let mut check = || -> Result<Deps, String> {
            if defs.iter().any(|(a, _)| *a != mi) {
                return Err(format!("{} is defined in several files", show(&path)));
            }
            if data.kind_at(&path).is_some() {
                return Err(format!("data files also define {}", show(&path)));
            }
            if let Some(pk) = parsed.iter().find(|x| x.package.starts_with(&path)) {
                return Err(format!("the package {} is inside it", show(&pk.package)));
            }
            for (_, b) in defs.iter().skip(1) {
                let (s, _) = ast::rule_range(&m.module.policy[*b]);
                if has_metadata_before(&m.text, s) {
                    return Err("a definition other than the first has a METADATA block".into());
                }
            }
            let deps = an.group(key)?;
            // Nothing read from data: a constant already; precomputing gains nothing.
            if deps.base.is_empty() {
                return Err(String::new());
            }
            if let Ok(r) = &reserved {
                if deps.base.iter().all(|p| p.starts_with(r)) {
                    return Err(String::new());
                }
            }
            if let Some(w) = an.with_conflict(&deps) {
                return Err(w);
            }
            let texts: Vec<&str> = deps
                .groups
                .iter()
                .flat_map(|g| an.groups.get(g).into_iter().flatten())
                .map(|(x, _)| parsed[*x].text.as_str())
                .collect();
            if let Some(w) = an.text_conflict(&deps, &texts) {
                return Err(w);
            }
            Ok(deps)
        };
        match check() {
            Ok(deps) => {
                let ranges: Vec<(usize, usize)> = defs
                    .iter()
                    .map(|(_, b)| ast::rule_range(&m.module.policy[*b]))
                    .collect();
                for d in &defs {
                    replaced.insert(*d);
                }
                cands.push(Candidate {
                    module: mi,
                    at,
                    kind: CandidateKind::Rule {
                        name: key.1.clone(),
                        ranges,
                        partial_set: rules.iter().any(|r| {
                            matches!(
                                r,
                                Rule::Spec {
                                    head: regorus::unstable::RuleHead::Set { .. },
                                    ..
                                }
                            )
                        }),
                        v1: m.v1_syntax,
                    },
                    query: show(&path),
                    base: deps.base.into_iter().collect(),
                    boolean: boolean_rule(&rules),
                });
            }
            Err(e) if e.is_empty() => {}
            Err(e) => {
                for d in &defs {
                    rule_declined.insert(*d, e.clone());
                }
                declines.push((mi, at, e));
            }
        }
    }
    // Closed comprehensions in the bodies of rules that stay.
    let mut n_compr = 0usize;
    for (mi, m) in parsed.iter().enumerate() {
        for (ri, rule) in m.module.policy.iter().enumerate() {
            if replaced.contains(&(mi, ri)) {
                continue;
            }
            if ast::simple_rule_name(rule).is_some_and(|n| n.starts_with(GENERATED_PREFIX)) {
                continue;
            }
            let mut comprs: Vec<&Ref<Expr>> = Vec::new();
            ast::walk_rule(rule, &mut |n| {
                if let Node::Expr(e) = n {
                    if matches!(
                        e.as_ref(),
                        Expr::ArrayCompr { .. } | Expr::SetCompr { .. } | Expr::ObjectCompr { .. }
                    ) {
                        comprs.push(e);
                    }
                }
            });
            let mut taken: Vec<(usize, usize)> = Vec::new();
            let all_ranges: Vec<(usize, usize)> =
                comprs.iter().map(|c| ast::expr_range(c)).collect();
            for c in comprs {
                let range = ast::expr_range(c);
                if taken.iter().any(|(s, e)| *s <= range.0 && range.1 <= *e) {
                    continue;
                }
                let inside = local_vars(m, &an.rules, |f| ast::walk_expr(c, f));
                // Occurrences in sibling comprehensions (neither inside this one nor around it)
                // do not count: a variable there is bound at rule level only if it also occurs
                // outside every comprehension, which counts.
                let within = |r: (usize, usize), o: (usize, usize)| r.0 >= o.0 && r.1 <= o.1;
                let siblings: Vec<(usize, usize)> = all_ranges
                    .iter()
                    .copied()
                    .filter(|o| !within(range, *o) && !within(*o, range))
                    .collect();
                let skip =
                    |r: (usize, usize)| within(r, range) || siblings.iter().any(|o| within(r, *o));
                let mut outside: BTreeSet<String> = BTreeSet::new();
                ast::walk_rule(rule, &mut |n| match n {
                    Node::Expr(e) => {
                        let r = ast::expr_range(e);
                        if skip(r) {
                            return;
                        }
                        if let Some(v) = ast::var_name(e) {
                            outside.insert(v.to_string());
                        }
                    }
                    Node::Stmt(s) => {
                        let r = ast::stmt_range(s);
                        if skip(r) {
                            return;
                        }
                        if let Literal::SomeVars { vars, .. } = &s.literal {
                            for v in vars {
                                outside.insert(v.text().to_string());
                            }
                        }
                        if let Literal::Every { key, value, .. } = &s.literal {
                            for v in key.iter().chain([value]) {
                                outside.insert(v.text().to_string());
                            }
                        }
                    }
                    Node::Query(_) => {}
                });
                let shared: Vec<&String> = inside.intersection(&outside).collect();
                let result = if let Some(v) = shared.first() {
                    Err(format!(
                        "the comprehension's variable {v} is also used elsewhere in the rule"
                    ))
                } else if let Some(v) = an.shadowing(m, rule) {
                    Err(v)
                } else {
                    an.scan(m, |f| ast::walk_expr(c, f), &[]).and_then(|deps| {
                        if let Ok(r) = &reserved {
                            if !deps.base.is_empty() && deps.base.iter().all(|p| p.starts_with(r)) {
                                return Err(String::new());
                            }
                        }
                        if deps.base.is_empty() {
                            return Err(String::new());
                        }
                        let mut texts: Vec<&str> = deps
                            .groups
                            .iter()
                            .flat_map(|g| an.groups.get(g).into_iter().flatten())
                            .map(|(x, _)| parsed[*x].text.as_str())
                            .collect();
                        texts.push(&m.text);
                        match an
                            .with_conflict(&deps)
                            .or_else(|| an.text_conflict(&deps, &texts))
                        {
                            Some(w) => Err(w),
                            None => Ok(deps),
                        }
                    })
                };
                match result {
                    Ok(deps) => {
                        taken.push(range);
                        n_compr += 1;
                        let name = format!("{GENERATED_PREFIX}pre_eval_{n_compr}");
                        let mut p = m.package.clone();
                        p.push(name.clone());
                        cands.push(Candidate {
                            module: mi,
                            at: range.0,
                            kind: CandidateKind::Compr {
                                range,
                                eval_rule: format!("{name} := {}", &m.text[range.0..range.1]),
                            },
                            query: show(&p),
                            base: deps.base.into_iter().collect(),
                            boolean: false,
                        });
                    }
                    Err(e) if e.is_empty() => {}
                    Err(e) => {
                        // Only comprehensions that read data are worth a reason.
                        let reads = refs::expr_reads(m, &an.rules, c);
                        let same_as_rule = rule_declined.get(&(mi, ri)) == Some(&e);
                        if !reads.is_empty() && !same_as_rule {
                            declines.push((mi, range.0, e));
                        }
                    }
                }
            }
        }
    }
    // Evaluate.
    let mut edits: BTreeMap<usize, Vec<(usize, Edit)>> = BTreeMap::new();
    let mut generated: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if !cands.is_empty() {
        let values = evaluate(modules, &parsed, data, &cands);
        for (c, v) in cands.iter().zip(values) {
            let m = &parsed[c.module];
            let value = v.as_ref().ok().cloned();
            let rep = v.and_then(|v| {
                if v == Value::Undefined {
                    return Err("the value is undefined; the rule is kept as it is".into());
                }
                if let [only] = c.base.as_slice() {
                    if same_as_base(&v, data, only) {
                        return Ok(Replacement::Reference(show(only)));
                    }
                }
                replacement(&v, world.reserved(), c.boolean)
            });
            let rep = match rep {
                Ok(r) => r,
                Err(e) => {
                    declines.push((c.module, c.at, e));
                    continue;
                }
            };
            let list = edits.entry(c.module).or_default();
            match &c.kind {
                CandidateKind::Rule {
                    name,
                    ranges,
                    partial_set,
                    v1,
                } => {
                    // A partial set stays one: OPA then looks a bound element up directly
                    // instead of building the set (which `name := {…}` would do per query).
                    let head = if *partial_set {
                        match (&value, &rep) {
                            (Some(Value::Set(s)), Replacement::Document(doc, _, _))
                                if s.iter().all(|e| matches!(e, Value::String(_))) =>
                            {
                                let mut p = world.reserved().map(<[String]>::to_vec).unwrap_or_default();
                                p.push(doc.clone());
                                let r = show(&p);
                                Ok(if *v1 {
                                    format!("{name} contains {SET_VAR} if {r}[{SET_VAR}]")
                                } else {
                                    format!("{name}[{SET_VAR}] {{ {r}[{SET_VAR}] }}")
                                })
                            }
                            _ => Err("a partial set of non-string elements: OPA looks one element up without building the set, a stored copy would have to be scanned".to_string()),
                        }
                    } else {
                        Ok(format!("{name} := {}", rep.text()))
                    };
                    let head = match head {
                        Ok(h) => h,
                        Err(e) => {
                            declines.push((c.module, c.at, e));
                            continue;
                        }
                    };
                    for (i, (s, e)) in ranges.iter().enumerate() {
                        let (text, e) = if i == 0 {
                            (head.clone(), *e)
                        } else {
                            // A removed definition takes its line break with it, and the
                            // blank line after it when one precedes it.
                            let after = &m.text[*e..];
                            let mut end = *e + usize::from(after.starts_with('\n'));
                            if m.text[..*s].ends_with("\n\n") && m.text[end..].starts_with('\n') {
                                end += 1;
                            }
                            (String::new(), end)
                        };
                        list.push((
                            c.at,
                            Edit {
                                start: *s,
                                end: e,
                                replacement: text,
                            },
                        ));
                    }
                }
                CandidateKind::Compr { range, .. } => list.push((
                    c.at,
                    Edit {
                        start: range.0,
                        end: range.1,
                        replacement: rep.text().to_string(),
                    },
                )),
            }
            if let Replacement::Document(name, json, _) = rep {
                generated.insert(name, json);
            }
        }
    }
    // Apply per module; a module that no longer parses is reverted.
    for (mi, list) in edits {
        let pm = &parsed[mi];
        let plain: Vec<Edit> = list.iter().map(|(_, e)| e.clone()).collect();
        let bug = |at: usize, message: String| {
            let (line, col) = pm.line_col(at);
            Bug {
                pass: ID.to_string(),
                file: pm.path.clone(),
                line,
                col,
                message,
            }
        };
        let text = match super::apply_edits(&pm.text, &plain) {
            Ok(t) => t,
            Err((at, why)) => {
                report.bugs.push(bug(at, why));
                continue;
            }
        };
        let idx = modules.iter().position(|x| x.path == pm.path);
        let Some(idx) = idx else { continue };
        let candidate = ModuleSource {
            path: pm.path.clone(),
            text,
            version: pm.version,
        };
        if let Err(e) = rego::parse_module(&candidate) {
            let at = plain.first().map(|e| e.start).unwrap_or(0);
            report
                .bugs
                .push(bug(at, format!("rewritten module does not parse: {e}")));
            continue;
        }
        report.record_rewrites(ID, pm, &plain);
        // Only documents the applied edits read are kept.
        for e in &plain {
            for (name, json) in &generated {
                if e.replacement.contains(name.as_str()) {
                    report.generated.insert(name.clone(), json.clone());
                }
            }
        }
        modules[idx].text = candidate.text;
    }
    declines.sort_by_key(|a| (a.0, a.1));
    report.declined_count = declines.len();
    if opts.explain {
        for (mi, at, reason) in declines {
            let pm = &parsed[mi];
            let (line, col) = pm.line_col(at);
            report.declined.push(Decline {
                pass: ID.to_string(),
                file: pm.path.clone(),
                line,
                col,
                reason,
            });
        }
    }
    report.iterations = 1;
    report
}

/// Evaluate every candidate in one regorus engine over the original bundle.
fn evaluate(
    modules: &[ModuleSource],
    parsed: &[ParsedModule],
    data: &dyn DataView,
    cands: &[Candidate],
) -> Vec<Result<Value, String>> {
    let mut extra: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in cands {
        if let CandidateKind::Compr { eval_rule, .. } = &c.kind {
            extra
                .entry(parsed[c.module].path.as_str())
                .or_default()
                .push(eval_rule);
        }
    }
    let engine = catch_unwind(AssertUnwindSafe(|| -> Result<Engine, String> {
        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(true);
        engine.set_policy_length_config(PolicyLengthConfig {
            max_col: NonZeroU32::new(1_000_000_000).unwrap_or(NonZeroU32::MIN),
            max_file_bytes: NonZeroUsize::new(256 << 20).unwrap_or(NonZeroUsize::MIN),
            max_lines: NonZeroUsize::new(10_000_000).unwrap_or(NonZeroUsize::MIN),
        });
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: EVAL_TIMEOUT,
            check_interval: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
        });
        for m in modules {
            let mut text = m.text.clone();
            for r in extra.get(m.path.as_str()).into_iter().flatten() {
                text.push_str("\n\n");
                text.push_str(r);
                text.push('\n');
            }
            // Every module passed `parse_module` (`run` stops at one that did not), which
            // bounds number literals as regorus needs; the data is checked below.
            engine.set_rego_v0(m.version == RegoVersion::V0);
            engine
                .add_policy(m.path.clone(), text)
                .map_err(|e| one_line(&e.to_string()))?;
        }
        let json = data.json_at(&[]).unwrap_or_else(|| b"{}".to_vec());
        let json = String::from_utf8_lossy(&json);
        if let Some((_, why)) = crate::rego::unreadable_number(&json) {
            return Err(format!("data: {why}"));
        }
        let value = Value::from_json_str(&json).map_err(|e| one_line(&e.to_string()))?;
        engine
            .add_data(value)
            .map_err(|e| one_line(&e.to_string()))?;
        Ok(engine)
    }));
    let mut engine = match engine {
        Ok(Ok(e)) => e,
        Ok(Err(why)) => {
            let why = format!("regorus cannot load the bundle: {why}");
            return cands.iter().map(|_| Err(why.clone())).collect();
        }
        Err(_) => {
            return cands
                .iter()
                .map(|_| Err("regorus panicked loading the bundle".to_string()))
                .collect();
        }
    };
    let mut out = Vec::with_capacity(cands.len());
    for c in cands {
        let r = catch_unwind(AssertUnwindSafe(|| engine.eval_rule(c.query.clone())));
        out.push(match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!(
                "evaluation fails in regorus: {}",
                one_line(&e.to_string())
            )),
            Err(_) => Err("regorus panicked evaluating it".into()),
        });
        if matches!(out.last(), Some(Err(e)) if e.contains("panicked")) {
            // The engine may be left broken: decline the rest.
            while out.len() < cands.len() {
                out.push(Err("an earlier evaluation panicked in regorus".into()));
            }
            break;
        }
    }
    out
}

fn one_line(s: &str) -> String {
    let t: String = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    t.chars().take(300).collect()
}

/// Merge the stage's report into the fixpoint passes' report (stage first).
pub fn merge(stage: PassReport, into: &mut PassReport) {
    let mut rewrites = stage.rewrites;
    rewrites.append(&mut into.rewrites);
    into.rewrites = rewrites;
    let mut declined = stage.declined;
    declined.append(&mut into.declined);
    into.declined = declined;
    into.declined_count += stage.declined_count;
    let mut bugs = stage.bugs;
    bugs.append(&mut into.bugs);
    into.bugs = bugs;
    for (k, v) in stage.generated {
        into.generated.insert(k, v);
    }
    into.list_generated();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_texts() {
        for ok in ["0", "7", "-12", "9007199254740991"] {
            assert!(canonical_int(ok), "{ok}");
        }
        for bad in [
            "1.0",
            "1e2",
            "1.10",
            "-0",
            "01",
            "9007199254740992",
            "1E2",
            "",
        ] {
            assert!(!canonical_int(bad), "{bad}");
        }
        assert_eq!(inexact_number(br#"{"a":"1.5","b":[1,2,-3]}"#), None);
        assert_eq!(
            inexact_number(br#"{"a\"1.5":1,"b":[1,2.50]}"#),
            Some("2.50".to_string())
        );
    }

    #[test]
    fn rendering() {
        let v = Value::from_json_str(r#"{"b":[1,"x\"\n"],"a":null,"c":{"d":true}}"#).unwrap();
        let mut s = String::new();
        render(&v, true, &mut s).unwrap();
        assert_eq!(s, r#"{"a":null,"b":[1,"x\"\n"],"c":{"d":true}}"#);
        let mut set = String::new();
        render(&Value::new_set(), false, &mut set).unwrap();
        assert_eq!(set, "set()");
        assert!(render(&Value::new_set(), true, &mut String::new()).is_err());
        let f = Value::from_json_str("[1.5]").unwrap();
        assert!(render(&f, true, &mut String::new()).is_err());
        let big = Value::from_json_str("[9007199254740993]").unwrap();
        assert!(render(&big, true, &mut String::new()).is_err());
    }

    #[test]
    fn stored_sets_are_rebuilt() {
        // A set of strings: an object looked up by element.
        let mut s = std::collections::BTreeSet::new();
        s.insert(Value::from("a"));
        let v = Value::from(s);
        let r = replacement(&v, Ok(&["__regopt__".to_string()]), false).unwrap();
        match r {
            Replacement::Document(name, json, expr) => {
                assert_eq!(json, br#"{"a":true}"#.to_vec());
                assert_eq!(
                    expr,
                    format!("{{__regopt_x | data.__regopt__.{name}[__regopt_x]}}")
                );
            }
            _ => panic!("not stored"),
        }
        // Any other set: an array.
        let mut n = std::collections::BTreeSet::new();
        n.insert(Value::from(1u64));
        let r = replacement(&Value::from(n), Ok(&["__regopt__".to_string()]), false).unwrap();
        match r {
            Replacement::Document(name, json, expr) => {
                assert_eq!(json, b"[1]".to_vec());
                assert_eq!(
                    expr,
                    format!("{{__regopt_x | __regopt_x := data.__regopt__.{name}[_]}}")
                );
            }
            _ => panic!("not stored"),
        }
        assert!(replacement(&v, Err("none"), false).is_err());
        let t = replacement(&Value::Bool(true), Err("none"), true).unwrap();
        assert_eq!(t.text(), "true");
    }
}
