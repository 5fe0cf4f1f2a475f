//! Pass `scan-to-lookup`: a scan of a bundle-owned object base document that only looks for one
//! key becomes a direct lookup of that key. Four forms:
//!
//! 1. `e in object.keys(data.P)` becomes `__regopt_has_<P>_<h>(e)`, which looks `e` up directly
//!    instead of building the key set of the whole object per query (76 ms at 15 MB in OPA
//!    v1.20.2);
//! 2. `some k, v in data.P` followed in the same query by `k == e` (or `e == k`) becomes
//!    `k := __regopt_key_<P>_<h>(e)[_]` + `v := data.P[k]` at the place of the equality;
//! 3. `v := data.P[k]` (or `v = data.P[k]`, with `k` unbound, optionally declared by `some k`)
//!    followed by `k == e` becomes `k := __regopt_key_<P>_<h>(e)[_]` + the same statement;
//! 4. the statement `object.keys(data.P)[_] == e` becomes
//!    `__regopt_haskey_<P>_<h>(__regopt_keys_<P>_<h>(0), e)`.
//!
//! OPA behaviour matched (v1.20.2): the keys of a stored object are strings, so a scan matches
//! exactly when `e` is a string key — also when its value is false/null — and never for a
//! non-string `e`, whereas `data.P[1]` would find key "1". Every helper takes the direct path
//! only while `is_object(data.P)` holds and the key is a string; otherwise — a query-level
//! `with data.P as …` (invisible here) replaced the document, or the key has another type — it
//! evaluates the original form (`k in object.keys(data.P)`, a scan binding the key as found).
//! Where the scan stood, `__regopt_any_<P>_<h>(0)` keeps "the scan yields a row" when the
//! statements before the equality or `e` could fail. Everything the rewrite moves or drops is
//! checked so that evaluation order cannot change an error into a value or back: see
//! `docs/passes/scan-to-lookup.md` for the full list of conditions.

use std::collections::HashSet;

use regorus::unstable::{AssignOp, BoolOp, Expr, Literal, LiteralStmt, Query, Ref, Rule};

use super::object_get::builtin_shadowed;
use super::scope::{self, QueryInfo};
use super::{
    append_edit, helper_slot, name_part, render_function, short_hash, Context, Edit, HelperSlot,
    Plan, GENERATED_PREFIX,
};
use crate::rego::ast::{self, Node, Range};
use crate::rego::facts::is_builtin_call;
use crate::rego::ParsedModule;

pub struct ScanToLookup;

/// Name prefix of the key-membership helpers (`e in object.keys(data.P)`).
pub const HAS_PREFIX: &str = "__regopt_has_";

/// The helpers this pass generates, one of each per data path and module.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Helper {
    /// `e in object.keys(data.P)`: true/false.
    Has,
    /// The statement `object.keys(data.P)[_] == e`: `haskey(keys_ok(0), e)`, true when it holds.
    HasKey,
    /// Raises what `object.keys(data.P)` raises (its type error on a non-object), cheaply.
    KeysOk,
    /// The keys of `data.P` equal to `e`, as an array (at most one).
    Key,
    /// Whether a scan of `data.P` yields a row.
    Any,
}

impl Helper {
    fn prefix(self) -> &'static str {
        match self {
            Helper::Has => HAS_PREFIX,
            Helper::HasKey => "__regopt_haskey_",
            Helper::KeysOk => "__regopt_keys_",
            Helper::Key => "__regopt_key_",
            Helper::Any => "__regopt_any_",
        }
    }

    fn name(self, m: &ParsedModule, path: &[String]) -> String {
        format!(
            "{}{}_{}",
            self.prefix(),
            name_part(path),
            short_hash(&[&m.path, &path.join("\u{1}")])
        )
    }

    /// Builtins the helper calls.
    fn builtins(self) -> &'static [&'static [&'static str]] {
        match self {
            Helper::Has | Helper::HasKey => &[&["is_object"], &["is_string"], &["object", "keys"]],
            Helper::KeysOk => &[&["is_object"], &["object", "keys"]],
            Helper::Key => &[&["is_object"], &["is_string"]],
            Helper::Any => &[&["is_object"], &["count"]],
        }
    }

    fn comment(self, path: &[String]) -> String {
        let p = ast::render_data_path(path);
        match self {
            Helper::Has => format!("# regopt scan-to-lookup: e in object.keys({p}) without building the key set"),
            Helper::HasKey => format!("# regopt scan-to-lookup: object.keys({p})[_] == e without building the key set"),
            Helper::KeysOk => format!("# regopt scan-to-lookup: fails as object.keys({p}) does, without building the key set"),
            Helper::Key => format!("# regopt scan-to-lookup: the keys of {p} equal to e, looked up directly"),
            Helper::Any => format!("# regopt scan-to-lookup: a scan of {p} yields a row"),
        }
    }

    /// The helper's text. Each takes the direct path only while `data.P` is an object (and the
    /// key a string); otherwise — a query-level `with data.P as …` replaced the document, or
    /// the key is not a string — it evaluates the original form.
    fn text(self, v1: bool, name: &str, path: &[String]) -> String {
        let p = ast::render_data_path(path);
        let k = "__regopt_k";
        let direct =
            |last: String| vec![format!("is_object({p})"), format!("is_string({k})"), last];
        let guards = || vec![format!("is_object({p})"), format!("is_string({k})")];
        match self {
            Helper::Has => render_function(
                v1,
                &format!("{name}({k})"),
                &[
                    ("true", direct(format!("_ = {p}[{k}]"))),
                    ("false", guards()),
                    (
                        "__regopt_v",
                        vec![format!("__regopt_v := {k} in object.keys({p})")],
                    ),
                ],
            ),
            Helper::HasKey => render_function(
                v1,
                &format!("{name}(_, {k})"),
                &[
                    ("true", direct(format!("_ = {p}[{k}]"))),
                    ("false", guards()),
                    ("true", vec![format!("object.keys({p})[_] == {k}")]),
                ],
            ),
            Helper::KeysOk => render_function(
                v1,
                &format!("{name}(_)"),
                &[
                    ("true", vec![format!("is_object({p})")]),
                    (
                        "__regopt_ks",
                        vec![format!("__regopt_ks := object.keys({p})")],
                    ),
                ],
            ),
            Helper::Key => render_function(
                v1,
                &format!("{name}({k})"),
                &[
                    (
                        "__regopt_ks",
                        direct(format!("__regopt_ks := [{k} | _ = {p}[{k}]]")),
                    ),
                    (
                        &format!("[__regopt_x | _ = {p}[__regopt_x]; __regopt_x == {k}]"),
                        vec![],
                    ),
                ],
            ),
            Helper::Any => render_function(
                v1,
                &format!("{name}(_)"),
                &[
                    (
                        "true",
                        vec![format!("is_object({p})"), format!("count({p}) > 0")],
                    ),
                    ("true", vec![format!("_ = {p}[_]")]),
                ],
            ),
        }
    }
}

/// Helpers planned in this round (so each is appended once).
#[derive(Default)]
struct Added(HashSet<String>);

impl Added {
    /// The name of helper `h` for `path` and the edit adding it (none if present); Err when its
    /// name is taken or a builtin it calls may not mean the builtin in this rule.
    fn helper(
        &self,
        m: &ParsedModule,
        cx: &Context,
        rule: &Rule,
        h: Helper,
        path: &[String],
    ) -> Result<(String, Option<(String, Edit)>), String> {
        if let Some(why) = builtin_shadowed(m, cx, rule, h.builtins()) {
            return Err(why);
        }
        let name = h.name(m, path);
        let text = h.text(m.v1_syntax, &name, path);
        let slot = helper_slot(m, cx, &name, &text)?;
        let edit = (matches!(slot, HelperSlot::Add) && !self.0.contains(&name)).then(|| {
            (
                name.clone(),
                append_edit(m, &format!("{}\n{text}", h.comment(path))),
            )
        });
        Ok((name, edit))
    }

    /// Record the helper edits of a rewrite that was planned.
    fn commit(&mut self, plan: &mut Plan, helpers: Vec<(String, Edit)>) {
        for (name, e) in helpers {
            if self.0.insert(name) {
                plan.edits.push(e);
            }
        }
    }
}

impl super::Pass for ScanToLookup {
    fn id(&self) -> &'static str {
        "scan-to-lookup"
    }

    fn describe(&self) -> &'static str {
        "scans of data.P that look for one key (e in object.keys, some k, v in ...; k == e) -> direct key lookup"
    }

    fn plan(&self, m: &ParsedModule, cx: &Context) -> Plan {
        let mut plan = Plan::default();
        let mut added = Added::default();
        for rule in &m.module.policy {
            if matches!(rule.as_ref(), Rule::Default { .. })
                || ast::simple_rule_name(rule).is_some_and(|n| n.starts_with(GENERATED_PREFIX))
            {
                continue;
            }
            plan_membership(m, cx, rule, &mut plan, &mut added);
            plan_keys_index(m, cx, rule, &mut plan, &mut added);
            for qi in scope::rule_queries(rule) {
                for idx in 0..qi.query.stmts.len() {
                    if let Some(scan) = scan_at(m, qi.query, idx) {
                        plan_scan(m, cx, rule, &qi, scan, &mut plan, &mut added);
                    }
                }
            }
        }
        plan
    }
}

/// Form 1: `e in object.keys(data.P)`.
fn plan_membership(
    m: &ParsedModule,
    cx: &Context,
    rule: &Rule,
    plan: &mut Plan,
    added: &mut Added,
) {
    let mut found: Vec<(&Expr, &Expr, Vec<String>)> = Vec::new();
    ast::walk_rule(rule, &mut |n| {
        if let Node::Expr(e) = n {
            if let Expr::Membership {
                key: None,
                value,
                collection,
                ..
            } = e.as_ref()
            {
                if let Some(params) = is_builtin_call(collection, &["object", "keys"]) {
                    if let Some(path) = params.first().and_then(|p| ast::data_path(p)) {
                        if params.len() == 1 {
                            found.push((e.as_ref(), value.as_ref(), path));
                        }
                    }
                }
            }
        }
    });
    for (e, value, path) in found {
        let (start, end) = ast::expr_range(e);
        if let Err(why) = cx.facts.plain_base_object(cx.data, &path) {
            plan.decline(start, why);
            continue;
        }
        let (name, helper) = match added.helper(m, cx, rule, Helper::Has, &path) {
            Ok(x) => x,
            Err(why) => {
                plan.decline(start, why);
                continue;
            }
        };
        // `e` is evaluated before `object.keys` in both (OPA evaluates a call's arguments in
        // order), so an undefined or failing `e` ends evaluation alike.
        let (vs, ve) = ast::expr_range(value);
        if plan.push_edit(Edit {
            start,
            end,
            replacement: format!("{name}({})", &m.text[vs..ve]),
        }) {
            added.commit(plan, helper.into_iter().collect());
        }
    }
}

/// `object.keys(data.P)[_]` on one side of `==`: (data path, the other side, whether the keys
/// are the left side).
fn keys_index_eq(e: &Expr) -> Option<(Vec<String>, &Expr, bool)> {
    let Expr::BoolExpr {
        op: BoolOp::Eq,
        lhs,
        rhs,
        ..
    } = e
    else {
        return None;
    };
    let side = |x: &Expr| -> Option<Vec<String>> {
        let Expr::RefBrack { refr, index, .. } = x else {
            return None;
        };
        if ast::var_name(index) != Some("_") {
            return None;
        }
        let params = is_builtin_call(refr, &["object", "keys"])?;
        if params.len() != 1 {
            return None;
        }
        ast::data_path(&params[0])
    };
    if let Some(p) = side(lhs) {
        return Some((p, rhs.as_ref(), true));
    }
    side(rhs).map(|p| (p, lhs.as_ref(), false))
}

/// Whether `e` is a reference rooted at `input` or `data` with only literal indexes (what OPA's
/// rule index may look up before evaluating a body).
fn ground_root_ref(e: &Expr) -> bool {
    fn go(e: &Expr) -> bool {
        match e {
            Expr::Var { span, .. } => matches!(span.text(), "input" | "data"),
            Expr::RefDot { refr, .. } => go(refr),
            Expr::RefBrack { refr, index, .. } => {
                matches!(
                    index.as_ref(),
                    Expr::String { .. }
                        | Expr::RawString { .. }
                        | Expr::Number { .. }
                        | Expr::Bool { .. }
                        | Expr::Null { .. }
                ) && go(refr)
            }
            _ => false,
        }
    }
    go(e)
}

/// Whether `e` contains a function call.
fn has_call(e: &Expr) -> bool {
    let mut found = matches!(e, Expr::Call { .. });
    for c in ast::children(e) {
        ast::walk_expr(c, &mut |n| {
            if let Node::Expr(x) = n {
                found |= matches!(x.as_ref(), Expr::Call { .. });
            }
        });
    }
    found
}

/// Form 4: the statement `object.keys(data.P)[_] == e` (or its negation).
fn plan_keys_index(
    m: &ParsedModule,
    cx: &Context,
    rule: &Rule,
    plan: &mut Plan,
    added: &mut Added,
) {
    // Statement-level occurrences by start offset: Ok(has `with` modifiers), Err(negated).
    let mut stmt_level: Vec<(usize, Result<bool, ()>)> = Vec::new();
    ast::walk_rule(rule, &mut |n| {
        if let Node::Stmt(s) = n {
            match &s.literal {
                Literal::Expr { expr, .. } if keys_index_eq(expr).is_some() => {
                    stmt_level.push((ast::expr_range(expr).0, Ok(!s.with_mods.is_empty())));
                }
                Literal::NotExpr { expr, .. } if keys_index_eq(expr).is_some() => {
                    stmt_level.push((ast::expr_range(expr).0, Err(())));
                }
                _ => {}
            }
        }
    });
    let args = arg_names(rule);
    let mut found: Vec<&Expr> = Vec::new();
    ast::walk_rule(rule, &mut |n| {
        if let Node::Expr(e) = n {
            if keys_index_eq(e).is_some() {
                found.push(e.as_ref());
            }
        }
    });
    for e in found {
        let Some((path, other, keys_first)) = keys_index_eq(e) else {
            continue;
        };
        let (start, end) = ast::expr_range(e);
        match stmt_level.iter().find(|(s, _)| *s == start) {
            None => {
                plan.decline(
                    start,
                    "object.keys(...)[_] == e is used as a value, not as a condition",
                );
                continue;
            }
            Some((_, Ok(true))) => {
                plan.decline(start, "a `with` modifier applies to the statement");
                continue;
            }
            Some((_, Err(()))) => {
                // OPA v1.20.2 refuses `not object.keys(data.P)[_] == e` (var _ is unsafe): a
                // rewrite would turn a bundle that does not load into one that does.
                plan.decline(
                    start,
                    "under `not` OPA rejects this form (var _ is unsafe); left as it is",
                );
                continue;
            }
            Some(_) => {}
        }
        if let Err(why) = cx.facts.plain_base_object(cx.data, &path) {
            plan.decline(start, why);
            continue;
        }
        if let Some(why) = empty_reason(cx, &path).filter(|_| !error_free(other, &args)) {
            plan.decline(start, why);
            continue;
        }
        // OPA evaluates the calls of the statement in order (`object.keys(...)` among them)
        // before the references of `e`: with a query-level `with` making data.P a non-object,
        // object.keys' type error comes before an undefined `e` ends evaluation. The rewrite
        // `haskey(keys_ok(0), e)` keeps that order when the keys come first or `e` has no call.
        if !keys_first && has_call(other) {
            plan.decline(
                start,
                format!(
                    "cannot guard against a query-time `with` replacing {}: the compared value calls a function before object.keys",
                    ast::render_data_path(&path)
                ),
            );
            continue;
        }
        let mut helpers = Vec::new();
        let mut names = Vec::new();
        for h in [Helper::HasKey, Helper::KeysOk] {
            match added.helper(m, cx, rule, h, &path) {
                Ok((name, edit)) => {
                    names.push(name);
                    helpers.extend(edit);
                }
                Err(why) => {
                    plan.decline(start, why);
                    break;
                }
            }
        }
        if names.len() < 2 {
            continue;
        }
        let (os, oe) = ast::expr_range(other);
        let other_text = &m.text[os..oe];
        // OPA's rule index skips a body whose ground `input`/`data` reference is undefined when
        // that reference is compared with a variable — which a call argument becomes — before
        // evaluating anything; the original compares `e` with `keys[_]`, which is not indexed.
        // A comprehension around a bare reference keeps it out of the index.
        let e_arg = if ground_root_ref(other) {
            format!("[__regopt_e | __regopt_e := {other_text}][_]")
        } else {
            other_text.to_string()
        };
        if plan.push_edit(Edit {
            start,
            end,
            replacement: format!("{}({}(0), {e_arg})", names[0], names[1]),
        }) {
            added.commit(plan, helpers);
        }
    }
}

/// Why a scan of `data.<path>` that could raise an error before its equality is left alone
/// when the bundle's `data.<path>` is empty: the scan never yields a row (the original never
/// evaluates the compared value), so a rewrite has nothing to gain.
fn empty_reason(cx: &Context, path: &[String]) -> Option<String> {
    match cx.data.size_at(path) {
        Some((_, n)) if n > 0 => None,
        _ => Some(format!(
            "{} is empty: the original never evaluates the compared value and finds nothing, so nothing is gained",
            ast::render_data_path(path)
        )),
    }
}

/// Whether evaluating `e` can never raise an error: literals, and references rooted at `input`
/// or at a function argument (`args`) whose indexes are such expressions or `_`. (References
/// into `data` may evaluate rules, and calls or arithmetic may fail.)
fn error_free(e: &Expr, args: &HashSet<String>) -> bool {
    match e {
        Expr::String { .. }
        | Expr::RawString { .. }
        | Expr::Number { .. }
        | Expr::Bool { .. }
        | Expr::Null { .. } => true,
        Expr::Var { span, .. } => span.text() == "input" || args.contains(span.text()),
        Expr::RefDot { refr, .. } => error_free(refr, args),
        Expr::RefBrack { refr, index, .. } => {
            error_free(refr, args) && (ast::var_name(index) == Some("_") || error_free(index, args))
        }
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            items.iter().all(|i| error_free(i, args))
        }
        Expr::Object { fields, .. } => fields
            .iter()
            .all(|(_, k, v)| error_free(k, args) && error_free(v, args)),
        _ => false,
    }
}

/// Names of the rule's function arguments (plain variables only).
fn arg_names(rule: &Rule) -> HashSet<String> {
    match rule {
        Rule::Spec { head, .. } => ast::head_parts(head)
            .1
            .iter()
            .filter_map(|a| ast::var_name(a))
            .filter(|a| *a != "_")
            .map(str::to_string)
            .collect(),
        Rule::Default { .. } => HashSet::new(),
    }
}

/// A statement that iterates over the keys of `data.P`, binding the key variable `k`.
struct Scan {
    /// Index of the iterating statement in its query.
    idx: usize,
    /// The key variable.
    k: String,
    /// Other variables the statement binds (the value variable), `_` excluded.
    others: Vec<String>,
    path: Vec<String>,
    /// Form 2: text of the data reference and the value variable (None for `_`).
    some_in: Option<(String, Option<String>)>,
    /// Why the statement cannot be rewritten whatever follows (a pattern, `with`).
    blocked: Option<String>,
    /// Form 3 with static segments after `data.P[k]` (`v := data.P[k].f`): the statement may
    /// match no key even when `data.P` is not empty.
    trailing: bool,
}

/// The scan (form 2 or 3) that statement `idx` of `q` is, if any.
fn scan_at(m: &ParsedModule, q: &Query, idx: usize) -> Option<Scan> {
    let mut scan = scan_form(m, q, idx)?;
    if let Some(why) = scope::binds_root(
        "the scan",
        std::iter::once(scan.k.as_str()).chain(scan.others.iter().map(String::as_str)),
    ) {
        scan.blocked = Some(why);
    }
    Some(scan)
}

/// The scan at statement `idx` of `q`, as written (see `scan_at`).
fn scan_form(m: &ParsedModule, q: &Query, idx: usize) -> Option<Scan> {
    let s: &LiteralStmt = &q.stmts[idx];
    let with_reason =
        (!s.with_mods.is_empty()).then(|| "a `with` modifier applies to the scan".to_string());
    match &s.literal {
        Literal::SomeIn {
            key: Some(key),
            value,
            collection,
            ..
        } => {
            let path = ast::data_path(collection).filter(|p| !p.is_empty())?;
            let k = ast::var_name(key).filter(|k| *k != "_")?.to_string();
            let (cs, ce) = ast::expr_range(collection);
            let coll = m.text[cs..ce].to_string();
            let (v, blocked) = match ast::var_name(value) {
                Some(v) if v == k => return None,
                Some("_") => (None, with_reason),
                Some(v) => (Some(v.to_string()), with_reason),
                None => (
                    None,
                    Some("the value of the scan is a pattern, not a variable".to_string()),
                ),
            };
            Some(Scan {
                idx,
                k,
                others: v.iter().cloned().collect(),
                path,
                some_in: Some((coll, v)),
                blocked,
                trailing: false,
            })
        }
        Literal::Expr { expr, .. } => {
            let Expr::AssignExpr { op, lhs, rhs, .. } = expr.as_ref() else {
                return None;
            };
            let (var, refr) = match (ast::var_name(lhs), ast::var_name(rhs)) {
                (Some(v), _) => (v, rhs),
                (None, Some(v)) if *op == AssignOp::Eq => (v, lhs),
                _ => return None,
            };
            // Strip static segments after `data.P[k]`.
            let mut cur: &Expr = refr;
            let mut trailing = false;
            loop {
                match cur {
                    Expr::RefDot { refr, .. } => cur = refr,
                    Expr::RefBrack { refr, index, .. } if ast::string_lit(index).is_some() => {
                        cur = refr
                    }
                    _ => break,
                }
                trailing = true;
            }
            let Expr::RefBrack {
                refr: base, index, ..
            } = cur
            else {
                return None;
            };
            let path = ast::data_path(base).filter(|p| !p.is_empty())?;
            let k = ast::var_name(index).filter(|k| *k != "_")?.to_string();
            if var == k {
                return None;
            }
            Some(Scan {
                idx,
                k,
                others: (var != "_").then(|| var.to_string()).into_iter().collect(),
                path,
                some_in: None,
                blocked: with_reason,
                trailing,
            })
        }
        _ => None,
    }
}

/// Index of the first `k == e` / `e == k` statement after `from` in `q`, with `e`.
fn key_equality<'a>(q: &'a Query, from: usize, k: &str) -> Option<(usize, &'a Ref<Expr>)> {
    q.stmts
        .iter()
        .enumerate()
        .skip(from + 1)
        .find_map(|(i, s)| {
            let Literal::Expr { expr, .. } = &s.literal else {
                return None;
            };
            let Expr::BoolExpr {
                op: BoolOp::Eq,
                lhs,
                rhs,
                ..
            } = expr.as_ref()
            else {
                return None;
            };
            match (ast::var_name(lhs), ast::var_name(rhs)) {
                (Some(a), Some(b)) if a == k && b == k => None,
                (Some(a), _) if a == k => Some((i, rhs)),
                (_, Some(b)) if b == k => Some((i, lhs)),
                _ => None,
            }
        })
}

/// Forms 2 and 3.
fn plan_scan(
    m: &ParsedModule,
    cx: &Context,
    rule: &Rule,
    qi: &QueryInfo,
    scan: Scan,
    plan: &mut Plan,
    added: &mut Added,
) {
    let q = qi.query;
    let stmt = &q.stmts[scan.idx];
    let (ss, _) = ast::stmt_range(stmt);
    let k = scan.k.as_str();
    let Some((eq_idx, e)) = key_equality(q, scan.idx, k) else {
        // Form 3 without an equality is an ordinary lookup or iteration: not a candidate.
        if scan.some_in.is_some() && cx.data.kind_at(&scan.path).is_some() {
            plan.decline(
                ss,
                format!("the key {k} is not compared with `==` later in the same query, so the whole document is scanned"),
            );
        }
        return;
    };
    let decline = |plan: &mut Plan, why: String| plan.decline(ss, why);
    if let Some(why) = &scan.blocked {
        return decline(plan, why.clone());
    }
    if !q.stmts[eq_idx].with_mods.is_empty() {
        return decline(
            plan,
            format!("a `with` modifier applies to the equality on {k}"),
        );
    }
    if let Err(why) = cx.facts.plain_base_object(cx.data, &scan.path) {
        return decline(plan, why);
    }
    // The original evaluates `e` (and the statements between the scan and the equality) only
    // when the scan yields a row, once per row. When something evaluated there can fail, the
    // rewrite keeps a test that the scan yields a row (`__regopt_any_*`, also right for a
    // document a query-level `with` replaced) and then evaluates them once: the same outcome
    // when the scan yields every key (no trailing segments).
    let nothing_can_fail = eq_idx == scan.idx + 1 && error_free(e, &arg_names(rule));
    if !nothing_can_fail {
        if scan.trailing {
            return decline(
                plan,
                format!("the reference continues after {}[{k}], so the scan may match no key; the compared value (or a statement before it) could then raise an error the original never evaluates", ast::render_data_path(&scan.path)),
            );
        }
        if let Some(why) = empty_reason(cx, &scan.path) {
            return decline(plan, why);
        }
    }
    // Form 3: k must be an iteration variable of this query (declared here by `some k` or not
    // at all), not a rule, import or outer variable.
    let mut some_decl: Option<usize> = None;
    if scan.some_in.is_none() {
        if cx.facts.package_defines(&m.package, k) || m.imports.iter().any(|i| i.name == k) {
            return decline(
                plan,
                format!(
                    "{k} is also the name of a rule or import, so the reference may not iterate"
                ),
            );
        }
        some_decl = q.stmts[..scan.idx].iter().position(
            |s| matches!(&s.literal, Literal::SomeVars { vars, .. } if vars.iter().any(|v| v.text() == k)),
        );
        if some_decl.is_some_and(|d| !q.stmts[d].with_mods.is_empty()) {
            return decline(plan, "a `with` modifier applies to `some`".to_string());
        }
    }
    // The scan's variables.
    let mut bound: Vec<String> = vec![k.to_string()];
    bound.extend(scan.others.iter().cloned());
    let seeds: HashSet<String> = bound.iter().cloned().collect();
    let e_vars = scope::expr_vars(e);
    if let Some(v) = bound.iter().find(|v| e_vars.contains(*v)) {
        return decline(
            plan,
            format!("the value compared with {k} uses the scan's variable {v}"),
        );
    }
    let taint = scope::tainted(q, &seeds, &[eq_idx]);
    let first_tainted = |vars: &HashSet<String>| {
        let mut t: Vec<&String> = vars.iter().filter(|v| taint.contains(*v)).collect();
        t.sort();
        t.first().map(|v| v.to_string())
    };
    if let Some(v) = first_tainted(&e_vars) {
        return decline(
            plan,
            format!("the value compared with {k} may depend on the scan through {v}"),
        );
    }
    for s in &q.stmts[scan.idx + 1..eq_idx] {
        if let Some(v) = first_tainted(&scope::stmt_vars(s)) {
            let (at, _) = ast::stmt_range(s);
            let (line, col) = m.line_col(at);
            return decline(
                plan,
                format!("the statement at {line}:{col}, between the scan and the equality on {k}, uses {v}"),
            );
        }
    }
    // `some k` again after the scan (OPA: declared above).
    if let Some(v) = q.stmts[scan.idx + 1..]
        .iter()
        .find_map(|s| match &s.literal {
            Literal::SomeVars { vars, .. } => vars
                .iter()
                .find(|x| bound.iter().any(|b| b == x.text()))
                .map(|x| x.text().to_string()),
            _ => None,
        })
    {
        return decline(plan, format!("{v} is declared again by `some`"));
    }
    // Where the scan's variables may occur: the scan, its `some` declaration, the equality and
    // the statements after it (and the head parts this body binds).
    let mut allowed: Vec<Range> = vec![ast::stmt_range(stmt)];
    allowed.extend(some_decl.map(|d| ast::stmt_range(&q.stmts[d])));
    for s in &q.stmts[eq_idx..] {
        allowed.push(ast::stmt_range(s));
    }
    for v in &bound {
        if let Some(at) = scope::occurrence_outside(rule, qi, v, &allowed) {
            let (line, col) = m.line_col(at);
            return decline(
                plan,
                format!("{v} is also used at {line}:{col}, outside the scan, the equality and the statements after it"),
            );
        }
    }
    // The key: a string literal is looked up as it is (a `with`-replaced document is indexed
    // as a value, where "f" matches only the key "f", as the scan does); any other `e` goes
    // through `__regopt_key_*`, which looks a string up directly while data.P is an object
    // and else scans as the original did, binding the key as found (`1` for `1.0`).
    let (es, ee) = ast::expr_range(e);
    let e_text = &m.text[es..ee];
    let mut helpers: Vec<(String, Edit)> = Vec::new();
    let literal = ast::string_lit(e).is_some();
    let key_value = if literal {
        e_text.to_string()
    } else {
        match added.helper(m, cx, rule, Helper::Key, &scan.path) {
            Ok((name, h)) => {
                helpers.extend(h);
                format!("{name}({e_text})[_]")
            }
            Err(why) => return decline(plan, why),
        }
    };
    let lookup = match &scan.some_in {
        Some((coll, Some(v))) => Some(format!("{v} := {coll}[{k}]")),
        // The key helper yields keys of data.P only: no lookup left to do.
        Some((_, None)) if !literal => None,
        Some((coll, None)) => Some(format!("_ = {coll}[{k}]")),
        None => {
            let (s, t) = ast::stmt_range(stmt);
            Some(m.text[s..t].to_string())
        }
    };
    let (qs, qe) = ast::stmt_range(&q.stmts[eq_idx]);
    let sep = scope::stmt_sep(&m.text, qs);
    // Where the scan was: nothing when nothing evaluated before the equality can fail; else a
    // test that the scan yields a row (`__regopt_any_*`), so that a document replaced by `{}`,
    // a string or null at query time still ends evaluation there, as the empty scan did.
    let scan_edit = if nothing_can_fail {
        scope::remove_stmt_edit(m, q, scan.idx)
    } else {
        match added.helper(m, cx, rule, Helper::Any, &scan.path) {
            Ok((name, h)) => {
                helpers.extend(h);
                let (s, t) = ast::stmt_range(stmt);
                Edit {
                    start: s,
                    end: t,
                    replacement: format!("{name}(0)"),
                }
            }
            Err(why) => return decline(plan, why),
        }
    };
    let mut edits = vec![
        scan_edit,
        Edit {
            start: qs,
            end: qe,
            replacement: match lookup {
                Some(l) => format!("{k} := {key_value}{sep}{l}"),
                None => format!("{k} := {key_value}"),
            },
        },
    ];
    if let Some(d) = some_decl {
        let Literal::SomeVars { vars, .. } = &q.stmts[d].literal else {
            return;
        };
        let rest: Vec<&str> = vars.iter().map(|v| v.text()).filter(|v| *v != k).collect();
        if rest.is_empty() {
            edits.push(scope::remove_stmt_edit(m, q, d));
        } else {
            let (s, t) = ast::stmt_range(&q.stmts[d]);
            edits.push(Edit {
                start: s,
                end: t,
                replacement: format!("some {}", rest.join(", ")),
            });
        }
    }
    if plan.push_edits(edits) {
        added.commit(plan, helpers);
    } else {
        decline(
            plan,
            "the rewrite overlaps another rewrite of this round".to_string(),
        );
    }
}
