//! Pass `alias`: `rs := data.P` (or `rs = data.P`) on a bundle-owned object base document, where
//! `rs` is only ever looked into (`rs.f`, `rs["f"]`, `rs[k]`, `rs[k].f...`), becomes
//! `type_name(data.P)` and every use becomes a reference into `data.P` itself. OPA copies a whole
//! base document into a value when a variable is bound to it; a reference into it reads only
//! the key asked for.
//!
//! OPA behaviour matched (v1.20.2): a reference into base data matches a NUMBER index against a
//! string key (`data.P[1]` finds key "1") where a variable bound to the object does not (`rs[1]`
//! is undefined), so a dynamic index becomes `__regopt_idx_<P>_<h>(k)`, which lets a key through
//! exactly when indexing the value would find it (`passes::idx_helper_text`; also when a
//! query-level `with data.P as …` replaces the document by an array or `{1: "one"}`); literal
//! string keys need no guard (`passes::substitute_var` refuses number-like keys where the data
//! is not known to be an object; a replaced document is looked up as a value anyway).
//! `rs := data.P` succeeds exactly when `data.P` is defined, which `type_name(data.P)` tests
//! without copying anything (a query-level `with` on a parent path may leave it undefined).
//! Declined when `rs` escapes: passed to a function, iterated (`rs[x]` with `x` not certainly
//! bound, `some x in rs`), compared, returned whole, used in `with`, declared twice, or used
//! before the assignment (`x := rs.a; rs = data.P`: OPA evaluates the assignment first).

use std::collections::{HashMap, HashSet};

use regorus::unstable::{AssignOp, Expr, Literal, Rule};

use super::object_get::builtin_shadowed;
use super::scope::{self, Bindings, QueryInfo};
use super::{
    idx_helper_edits, substitute_var, Context, Edit, Plan, GENERATED_PREFIX, IDX_BUILTINS,
};
use crate::rego::ast::{self, Node, Range};
use crate::rego::ParsedModule;

pub struct Alias;

/// `rs := data.P` / `rs = data.P` / `data.P = rs`: (rs, data path).
fn alias_of(expr: &Expr) -> Option<(&str, Vec<String>)> {
    let Expr::AssignExpr { op, lhs, rhs, .. } = expr else {
        return None;
    };
    let (var, refr) = match (ast::var_name(lhs), ast::data_path(rhs)) {
        (Some(v), Some(p)) => (v, p),
        _ if *op == AssignOp::Eq => (ast::var_name(rhs)?, ast::data_path(lhs)?),
        _ => return None,
    };
    (var != "_" && !refr.is_empty()).then_some((var, refr))
}

impl super::Pass for Alias {
    fn id(&self) -> &'static str {
        "alias"
    }

    fn describe(&self) -> &'static str {
        "rs := data.P used only as rs[k] / rs.f -> direct references data.P[k] / data.P.f"
    }

    fn plan(&self, m: &ParsedModule, cx: &Context) -> Plan {
        let mut plan = Plan::default();
        let mut added: HashSet<String> = HashSet::new();
        for rule in &m.module.policy {
            if matches!(rule.as_ref(), Rule::Default { .. })
                || ast::simple_rule_name(rule).is_some_and(|n| n.starts_with(GENERATED_PREFIX))
            {
                continue;
            }
            let bindings = Bindings::of(rule);
            for qi in scope::rule_queries(rule) {
                for idx in 0..qi.query.stmts.len() {
                    let s = &qi.query.stmts[idx];
                    let Literal::Expr { expr, .. } = &s.literal else {
                        continue;
                    };
                    let Some((rs, path)) = alias_of(expr) else {
                        continue;
                    };
                    let at = ast::stmt_range(s).0;
                    match plan_alias(m, cx, rule, &qi, idx, rs, &path, &bindings) {
                        Err(why) => plan.decline(at, why),
                        Ok((mut edits, idx_paths)) => {
                            let helpers = match idx_helper_edits(m, cx, &idx_paths, &added) {
                                Ok(h) => h,
                                Err(why) => {
                                    plan.decline(at, why);
                                    continue;
                                }
                            };
                            let names: Vec<String> =
                                helpers.iter().map(|(n, _)| n.clone()).collect();
                            edits.extend(helpers.into_iter().map(|(_, e)| e));
                            if plan.push_edits(edits) {
                                added.extend(names);
                            } else {
                                plan.decline(
                                    at,
                                    "the rewrite overlaps another rewrite of this round",
                                );
                            }
                        }
                    }
                }
            }
        }
        plan
    }
}

/// Edits for one alias (and the data paths whose index helpers it calls), or why not.
#[allow(clippy::too_many_arguments)]
fn plan_alias(
    m: &ParsedModule,
    cx: &Context,
    rule: &Rule,
    qi: &QueryInfo,
    idx: usize,
    rs: &str,
    path: &[String],
    bindings: &Bindings,
) -> Result<(Vec<Edit>, Vec<Vec<String>>), String> {
    let q = qi.query;
    let stmt = &q.stmts[idx];
    let data_ref = ast::render_data_path(path);
    if !stmt.with_mods.is_empty() {
        return Err("a `with` modifier applies to the assignment".into());
    }
    cx.facts.plain_base_object(cx.data, path)?;
    if cx.facts.package_defines(&m.package, rs) || m.imports.iter().any(|i| i.name == rs) {
        return Err(format!("{rs} is also the name of a rule or import"));
    }
    let (ss, se) = ast::stmt_range(stmt);
    let colon_eq = matches!(
        &stmt.literal,
        Literal::Expr { expr, .. }
            if matches!(expr.as_ref(), Expr::AssignExpr { op: AssignOp::ColEq, .. })
    );
    // Occurrences: inside this query (or the head parts this body binds); others must be in
    // other top-level bodies (a different variable there).
    if let Some(at) = scope::occurrence_outside(rule, qi, rs, &[qi.range]) {
        let (line, col) = m.line_col(at);
        return Err(format!(
            "{rs} is also used at {line}:{col}, outside the query that assigns it"
        ));
    }
    // Rule head parts this body binds, or the term of this comprehension.
    let mut head: Vec<Range> = qi
        .body
        .map(|b| scope::head_ranges(rule, b))
        .unwrap_or_default();
    head.extend(qi.term.iter().copied());
    let in_head = |at: usize| head.iter().any(|r| r.0 <= at && at < r.1);
    let in_scope = |at: usize| (qi.range.0 <= at && at < qi.range.1) || in_head(at);
    // Exactly one declaration of rs in its scope: this one.
    let occurrences = scope::var_occurrences(rule, rs);
    if occurrences
        .iter()
        .filter(|at| in_scope(**at) && !(ss <= **at && **at < se))
        .any(|at| declares_at(rule, rs, *at))
    {
        return Err(format!("{rs} is declared more than once in the rule"));
    }
    // The head of a rule with several independent bodies is shared by all of them.
    if let Rule::Spec { bodies, .. } = rule {
        if bodies.len() > 1
            && !bodies.iter().any(|b| b.is_else)
            && occurrences.iter().any(|at| in_head(*at))
        {
            return Err(format!(
                "{rs} is used in a rule head shared by several bodies"
            ));
        }
    }
    // Parents of every expression of the rule.
    let mut exprs: Vec<&Expr> = Vec::new();
    ast::walk_rule(rule, &mut |n| {
        if let Node::Expr(e) = n {
            exprs.push(e.as_ref());
        }
    });
    let mut parent: HashMap<*const Expr, &Expr> = HashMap::new();
    for e in &exprs {
        for c in ast::children(e) {
            parent.insert(c.as_ref() as *const Expr, e);
        }
    }
    // Statements with `with` modifiers: a guard call there would be evaluated under them.
    let mut with_stmts: Vec<Range> = Vec::new();
    ast::walk_rule(rule, &mut |n| {
        if let Node::Stmt(s) = n {
            if !s.with_mods.is_empty() {
                with_stmts.push(ast::stmt_range(s));
            }
        }
    });
    let mut skip: HashSet<usize> = HashSet::new();
    let mut bound: HashSet<String> = HashSet::new();
    let mut uses = 0usize;
    for e in &exprs {
        if ast::var_name(e) != Some(rs) {
            continue;
        }
        let (vs, _) = ast::expr_range(e);
        if (ss..se).contains(&vs) || !in_scope(vs) {
            skip.insert(vs);
            continue;
        }
        uses += 1;
        let (line, col) = m.line_col(vs);
        if colon_eq && vs < ss && !in_head(vs) {
            return Err(format!(
                "{rs} is used at {line}:{col}, before `:=` assigns it (OPA rejects this)"
            ));
        }
        if vs < ss && !in_head(vs) {
            // OPA evaluates `rs = data.P` before that use (safety reordering); without the
            // binding, that order cannot be kept when `data.P` is undefined.
            return Err(format!(
                "cannot guard against a query-time `with` replacing {data_ref}: {rs} is used at {line}:{col}, before the assignment"
            ));
        }
        if with_stmts.iter().any(|r| r.0 <= vs && vs < r.1) {
            return Err(format!(
                "{rs} is used at {line}:{col} in a statement with a `with` modifier"
            ));
        }
        // Must be the root of a reference with at least one segment.
        let mut cur: &Expr = e;
        let mut depth = 0;
        while let Some(p) = parent.get(&(cur as *const Expr)).copied() {
            match p {
                Expr::RefDot { refr, .. } if std::ptr::eq(refr.as_ref(), cur) => {}
                Expr::RefBrack { refr, index, .. } if std::ptr::eq(refr.as_ref(), cur) => {
                    if ast::string_lit(index).is_none() {
                        let name = ast::var_name(index);
                        let (is, _) = ast::expr_range(index);
                        let ok = match name {
                            Some(n) if (qi.range.0 <= is && is < qi.range.1) => {
                                bindings.bound_at(n, is)
                            }
                            Some(n) => bindings.bound_after(n, qi.range),
                            None => ast::static_path(index).is_some_and(|p| {
                                matches!(p.first().map(String::as_str), Some("input" | "data"))
                            }),
                        };
                        if !ok {
                            let (a, b) = ast::expr_range(index);
                            return Err(format!(
                                "{rs} is indexed at {line}:{col} by `{}`, which may be unbound (an iteration) or is not a plain variable or input/data reference",
                                &m.text[a..b]
                            ));
                        }
                        if let Some(n) = name {
                            bound.insert(n.to_string());
                        }
                    }
                }
                _ => break,
            }
            depth += 1;
            cur = p;
        }
        if depth == 0 {
            return Err(format!(
                "{rs} is used whole at {line}:{col} (passed on, compared, iterated or returned), not only looked into"
            ));
        }
    }
    if uses == 0 {
        return Err(format!("{rs} is never looked into: nothing to rewrite"));
    }
    let sub = substitute_var(m, cx, rule, rs, path, &bound, &skip, false)
        .map_err(|why| format!("{data_ref}: {why}"))?;
    let mut builtins: Vec<&[&str]> = vec![&["type_name"]];
    if !sub.idx_paths.is_empty() {
        builtins.extend_from_slice(IDX_BUILTINS);
    }
    if let Some(why) = builtin_shadowed(m, cx, rule, &builtins) {
        return Err(why);
    }
    let mut edits = sub.edits;
    // The assignment succeeds exactly when data.P is defined: keep that test, without the copy.
    edits.push(Edit {
        start: ss,
        end: se,
        replacement: format!("type_name({data_ref})"),
    });
    Ok((edits, sub.idx_paths))
}

/// Whether the occurrence of `name` at `at` declares it (`:=` target, `some`, `some ... in`,
/// `every`, function argument).
fn declares_at(rule: &Rule, name: &str, at: usize) -> bool {
    let mut found = false;
    let within = |e: &regorus::unstable::Ref<Expr>| {
        let (s, t) = ast::expr_range(e);
        s <= at && at < t
    };
    if let Rule::Spec { head, .. } = rule {
        if ast::head_parts(head).1.iter().any(within) {
            return true;
        }
    }
    ast::walk_rule(rule, &mut |n| match n {
        Node::Expr(e) => {
            if let Expr::AssignExpr {
                op: AssignOp::ColEq,
                lhs,
                ..
            } = e.as_ref()
            {
                found |= within(lhs);
            }
        }
        Node::Stmt(s) => match &s.literal {
            Literal::SomeVars { vars, .. } => {
                found |= vars
                    .iter()
                    .any(|v| v.text() == name && v.start as usize == at);
            }
            Literal::SomeIn { key, value, .. } => {
                found |= key.iter().chain([value]).any(within);
            }
            Literal::Every { key, value, .. } => {
                found |= key
                    .iter()
                    .chain([value])
                    .any(|v| v.text() == name && v.start as usize == at);
            }
            _ => {}
        },
        Node::Query(_) => {}
    });
    found
}
