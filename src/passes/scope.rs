//! Scope helpers shared by the body-local rewrites (`scan-to-lookup`, `alias`): which query a
//! statement belongs to, where a variable occurs in a rule, which variables are certainly bound at
//! a point, and how to delete a statement or add one next to another without breaking the layout.

use std::collections::{HashMap, HashSet};

use regorus::unstable::{Expr, Literal, LiteralStmt, Query, Ref, Rule, RuleHead};

use super::Edit;
use crate::rego::ast::{self, Node, Range};
use crate::rego::ParsedModule;

/// A query of a rule: a top-level body (index into the rule's bodies) or a nested query
/// (comprehension or `every` body).
pub struct QueryInfo<'a> {
    pub query: &'a Query,
    pub body: Option<usize>,
    /// Source range of the query (all its statements).
    pub range: Range,
    /// For a comprehension query: the ranges of its term (or key and value), evaluated in its
    /// scope.
    pub term: Vec<Range>,
}

/// Source range of a query: the union of its span and its statements.
pub fn query_range(q: &Query) -> Range {
    let mut r = (q.span.start as usize, q.span.end as usize);
    for s in &q.stmts {
        let (a, b) = ast::stmt_range(s);
        r = (r.0.min(a), r.1.max(b));
    }
    r
}

/// Every query of a rule, top-level bodies first.
pub fn rule_queries(rule: &Rule) -> Vec<QueryInfo<'_>> {
    let mut out: Vec<QueryInfo> = Vec::new();
    let bodies: Vec<&Query> = match rule {
        Rule::Spec { bodies, .. } => bodies.iter().map(|b| b.query.as_ref()).collect(),
        Rule::Default { .. } => Vec::new(),
    };
    let mut terms: Vec<(*const Query, Vec<Range>)> = Vec::new();
    ast::walk_rule(rule, &mut |n| {
        if let Node::Expr(e) = n {
            match e.as_ref() {
                Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                    terms.push((query.as_ref() as *const Query, vec![ast::expr_range(term)]));
                }
                Expr::ObjectCompr {
                    key, value, query, ..
                } => terms.push((
                    query.as_ref() as *const Query,
                    vec![ast::expr_range(key), ast::expr_range(value)],
                )),
                _ => {}
            }
        }
    });
    ast::walk_rule(rule, &mut |n| {
        if let Node::Query(q) = n {
            let body = bodies.iter().position(|b| std::ptr::eq(*b, q));
            let term = terms
                .iter()
                .find(|(p, _)| std::ptr::eq(*p, q))
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            out.push(QueryInfo {
                query: q,
                body,
                range: query_range(q),
                term,
            });
        }
    });
    out
}

/// Start offsets of every occurrence of variable `name` in the rule (expressions, `some`
/// declarations, `every` key/value).
pub fn var_occurrences(rule: &Rule, name: &str) -> Vec<usize> {
    let mut out = Vec::new();
    ast::walk_rule(rule, &mut |n| match n {
        Node::Expr(e) => {
            if ast::var_name(e) == Some(name) {
                out.push(ast::expr_range(e).0);
            }
        }
        Node::Stmt(s) => match &s.literal {
            Literal::SomeVars { vars, .. } => {
                for v in vars.iter().filter(|v| v.text() == name) {
                    out.push(v.start as usize);
                }
            }
            Literal::Every { key, value, .. } => {
                for v in key.iter().chain([value]).filter(|v| v.text() == name) {
                    out.push(v.start as usize);
                }
            }
            _ => {}
        },
        Node::Query(_) => {}
    });
    out.sort_unstable();
    out.dedup();
    out
}

/// Variable names occurring anywhere in an expression (including nested comprehensions), not
/// counting `_` and the names of called functions.
pub fn expr_vars(e: &Ref<Expr>) -> HashSet<String> {
    let mut out = HashSet::new();
    vars_of_expr(e, &mut out);
    out
}

/// Variable names occurring anywhere in a statement (including nested queries and `with`), not
/// counting `_` and the names of called functions.
pub fn stmt_vars(s: &LiteralStmt) -> HashSet<String> {
    let mut out = HashSet::new();
    vars_of_stmt(s, &mut out);
    out
}

fn vars_of_expr(e: &Expr, out: &mut HashSet<String>) {
    match e {
        Expr::Var { span, .. } => {
            if span.text() != "_" {
                out.insert(span.text().to_string());
            }
        }
        Expr::Call { params, .. } => {
            for p in params {
                vars_of_expr(p, out);
            }
        }
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            vars_of_expr(term, out);
            vars_of_query(query, out);
        }
        Expr::ObjectCompr {
            key, value, query, ..
        } => {
            vars_of_expr(key, out);
            vars_of_expr(value, out);
            vars_of_query(query, out);
        }
        other => {
            for c in ast::children(other) {
                vars_of_expr(c, out);
            }
        }
    }
}

fn vars_of_query(q: &Query, out: &mut HashSet<String>) {
    for s in &q.stmts {
        vars_of_stmt(s, out);
    }
}

fn vars_of_stmt(s: &LiteralStmt, out: &mut HashSet<String>) {
    match &s.literal {
        Literal::SomeVars { vars, .. } => {
            out.extend(vars.iter().map(|v| v.text().to_string()));
        }
        Literal::SomeIn {
            key,
            value,
            collection,
            ..
        } => {
            for e in key.iter().chain([value, collection]) {
                vars_of_expr(e, out);
            }
        }
        Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => vars_of_expr(expr, out),
        Literal::Every {
            key,
            value,
            domain,
            query,
            ..
        } => {
            out.extend(key.iter().chain([value]).map(|v| v.text().to_string()));
            vars_of_expr(domain, out);
            vars_of_query(query, out);
        }
    }
    for w in &s.with_mods {
        vars_of_expr(&w.refr, out);
        vars_of_expr(&w.r#as, out);
    }
}

/// Variables that may get their values through `seeds`: the closure over the statements of `q`
/// (except those at the indexes in `skip`) of "shares a statement with a tainted variable".
/// The document roots `data` and `input` never carry a binding and are left out.
pub fn tainted(q: &Query, seeds: &HashSet<String>, skip: &[usize]) -> HashSet<String> {
    let per_stmt: Vec<HashSet<String>> = q
        .stmts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if skip.contains(&i) || matches!(s.literal, Literal::SomeVars { .. }) {
                // `some x` declares, it binds nothing.
                HashSet::new()
            } else {
                let mut v = stmt_vars(s);
                v.remove("data");
                v.remove("input");
                v
            }
        })
        .collect();
    let mut t = seeds.clone();
    loop {
        let before = t.len();
        for vars in &per_stmt {
            if vars.iter().any(|v| t.contains(v)) {
                t.extend(vars.iter().cloned());
            }
        }
        if t.len() == before {
            return t;
        }
    }
}

/// Ranges of the rule head a top-level body `body` binds variables for: the head reference of a
/// non-function rule, its value and set key for the first body (for every body when the rule has
/// no `else`), and the body's own `else` value. Function arguments are never included.
pub fn head_ranges(rule: &Rule, body: usize) -> Vec<Range> {
    let Rule::Spec { head, bodies, .. } = rule else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let has_else = bodies.iter().any(|b| b.is_else);
    if body == 0 || !has_else {
        let (refr, args, assign, key) = ast::head_parts(head);
        if args.is_empty() && !matches!(head, RuleHead::Func { .. }) {
            out.push(ast::expr_range(refr));
        }
        out.extend(assign.map(|v| ast::expr_range(v)));
        out.extend(key.map(|k| ast::expr_range(k)));
    }
    if let Some(a) = bodies.get(body).and_then(|b| b.assign.as_ref()) {
        out.push(ast::expr_range(&a.value));
    }
    out
}

/// Ranges of the other top-level bodies of the rule (their queries and `else` values): separate
/// scopes, so a variable of the same name there is a different variable.
fn other_body_ranges(rule: &Rule, body: Option<usize>) -> Vec<Range> {
    let Rule::Spec { bodies, .. } = rule else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        if Some(i) == body {
            continue;
        }
        out.push(query_range(&b.query));
        if let Some(a) = &b.assign {
            out.push(ast::expr_range(&a.value));
        }
    }
    out
}

fn inside(r: &Range, at: usize) -> bool {
    r.0 <= at && at < r.1
}

/// The first occurrence of `name` in `rule` that is not in `allowed`, not in the head ranges
/// the query `qi` binds (when it is a top-level body) or its comprehension term, and not in
/// another top-level body.
pub fn occurrence_outside(
    rule: &Rule,
    qi: &QueryInfo,
    name: &str,
    allowed: &[Range],
) -> Option<usize> {
    let mut ok: Vec<Range> = allowed.to_vec();
    ok.extend(qi.term.iter().copied());
    if let Some(b) = qi.body {
        ok.extend(head_ranges(rule, b));
    }
    let others = other_body_ranges(rule, qi.body);
    var_occurrences(rule, name).into_iter().find(|at| {
        let allowed_here = ok.iter().any(|r| inside(r, *at));
        let other_body = qi.body.is_some() && others.iter().any(|r| inside(r, *at));
        !(allowed_here || other_body)
    })
}

/// Where variables are certainly bound in a rule: for each query, the variables its direct
/// statements bind unconditionally (`x := ...` targets, `some ... in` key/value, `every`
/// key/value for its body), plus function arguments; each with the offset from which it is
/// bound (the end of the binding statement, or the start of the `every` body). A name bound at more than one place in the rule is left out.
pub struct Bindings {
    /// Query range -> (name, offset of the binding).
    per_query: Vec<(Range, Vec<(String, usize)>)>,
    /// Function arguments (bound in every top-level body).
    args: Vec<(String, usize)>,
    /// Names bound at more than one place, or declared by plain `some x` (not bound by it).
    ambiguous: HashSet<String>,
}

impl Bindings {
    pub fn of(rule: &Rule) -> Bindings {
        let mut count: HashMap<String, usize> = HashMap::new();
        let mut ambiguous = HashSet::new();
        let mut per_query = Vec::new();
        let mut args = Vec::new();
        if let Rule::Spec { head, .. } = rule {
            for a in ast::head_parts(head).1 {
                for v in expr_vars(a) {
                    *count.entry(v.clone()).or_default() += 1;
                    args.push((v, ast::expr_range(a).0));
                }
            }
        }
        let mut every_bodies: Vec<(&Query, Vec<(String, usize)>)> = Vec::new();
        for qi in rule_queries(rule) {
            let mut bound = Vec::new();
            for s in &qi.query.stmts {
                match &s.literal {
                    Literal::Expr { expr, .. } => {
                        if let Expr::AssignExpr {
                            op: regorus::unstable::AssignOp::ColEq,
                            lhs,
                            ..
                        } = expr.as_ref()
                        {
                            for v in expr_vars(lhs) {
                                bound.push((v, ast::stmt_range(s).1));
                            }
                        }
                    }
                    Literal::SomeIn { key, value, .. } => {
                        for e in key.iter().chain([value]) {
                            for v in expr_vars(e) {
                                bound.push((v, ast::stmt_range(s).1));
                            }
                        }
                    }
                    Literal::SomeVars { vars, .. } => {
                        for v in vars {
                            ambiguous.insert(v.text().to_string());
                        }
                    }
                    Literal::Every {
                        key, value, query, ..
                    } => {
                        let body_start = query_range(query).0;
                        let b: Vec<(String, usize)> = key
                            .iter()
                            .chain([value])
                            .map(|v| (v.text().to_string(), body_start))
                            .collect();
                        every_bodies.push((query, b));
                    }
                    Literal::NotExpr { .. } => {}
                }
            }
            for (v, _) in &bound {
                *count.entry(v.clone()).or_default() += 1;
            }
            per_query.push((qi.range, bound));
        }
        for (q, b) in every_bodies {
            for (v, _) in &b {
                *count.entry(v.clone()).or_default() += 1;
            }
            let r = query_range(q);
            match per_query.iter_mut().find(|(qr, _)| *qr == r) {
                Some((_, list)) => list.extend(b),
                None => per_query.push((r, b)),
            }
        }
        for (v, n) in count {
            if n > 1 {
                ambiguous.insert(v);
            }
        }
        Bindings {
            per_query,
            args,
            ambiguous,
        }
    }

    /// Whether variable `name` is certainly bound once all of the query with range `q` has run
    /// (for uses in the rule head): bound directly by that query, or a function argument.
    pub fn bound_after(&self, name: &str, q: Range) -> bool {
        if name == "_" || self.ambiguous.contains(name) {
            return false;
        }
        self.args.iter().any(|(v, _)| v == name)
            || self
                .per_query
                .iter()
                .any(|(r, vars)| *r == q && vars.iter().any(|(v, _)| v == name))
    }

    /// Whether variable `name` is certainly bound where it occurs at offset `at`: bound (once in
    /// the whole rule) by a query enclosing `at`, before `at`, or a function argument.
    pub fn bound_at(&self, name: &str, at: usize) -> bool {
        if name == "_" || self.ambiguous.contains(name) {
            return false;
        }
        if self.args.iter().any(|(v, _)| v == name) {
            return true;
        }
        self.per_query
            .iter()
            .any(|(r, vars)| inside(r, at) && vars.iter().any(|(v, off)| v == name && *off <= at))
    }
}

/// The text separating a new statement inserted after the statement starting at `start`: a
/// newline with the same indentation when that statement starts its line, else `; `.
pub fn stmt_sep(text: &str, start: usize) -> String {
    let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
    let before = &text[line_start..start];
    if before.chars().all(|c| c == ' ' || c == '\t') {
        format!("\n{before}")
    } else {
        "; ".to_string()
    }
}

/// The text separating statements inserted *before* the statement starting at `start` from it:
/// as [`stmt_sep`], except `; ` when that statement begins with a character that could continue
/// the inserted one across a line break (`-x`, `+x`, `(…)`, `[…]`, `.…`): after a newline the
/// parser would read `guard\n-x` as `guard - x`.
pub fn sep_before_stmt(text: &str, start: usize) -> String {
    if could_continue(text, start) {
        "; ".to_string()
    } else {
        stmt_sep(text, start)
    }
}

/// Whether the statement starting at `start` begins with a character that could continue an
/// expression on the line before it (see [`sep_before_stmt`]).
pub fn could_continue(text: &str, start: usize) -> bool {
    matches!(
        text[start..].chars().next(),
        Some('-' | '+' | '(' | '[' | '.')
    )
}

/// An edit deleting statement `idx` of query `q`, keeping the layout valid: its whole line when
/// it is alone on it, else the statement with a neighbouring `;`, else it becomes `true` (also
/// when it is the query's only statement).
pub fn remove_stmt_edit(m: &ParsedModule, q: &Query, idx: usize) -> Edit {
    let mut edit = remove_stmt_range(m, q, idx);
    // The first statement's separator may open a later line (`{\n\ta\n;\tb`): removing `a`
    // must take the `;` too, or the body would begin with it. (After an earlier statement a
    // `;` on its own line still separates, so only the first statement needs this.)
    if idx == 0 && edit.replacement.is_empty() {
        let text = m.text.as_str();
        let gap = skip_blank_and_comments(text, edit.end);
        if text[gap..].starts_with(';') {
            let rest = &text[gap + 1..];
            let skip = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            // Keep the removed line's indentation for the statement that takes its place.
            let s = ast::stmt_range(&q.stmts[idx]).0;
            let indent = text[edit.start.min(s)..s].trim_start_matches(['\r', '\n']);
            let indent = if indent.chars().all(|c| c == ' ' || c == '\t') {
                indent
            } else {
                ""
            };
            let between = text[edit.end..gap].trim_end_matches([' ', '\t']);
            edit.replacement = format!("{between}{indent}");
            edit.end = gap + 1 + skip;
        }
    }
    edit
}

/// The first byte at or after `at` that is neither whitespace nor inside a `#` comment.
fn skip_blank_and_comments(text: &str, mut at: usize) -> usize {
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if !trimmed.starts_with('#') {
            return at;
        }
        at += trimmed.find('\n').unwrap_or(trimmed.len());
    }
}

/// The removal [`remove_stmt_edit`] starts from: the statement with the separator and
/// whitespace that go with it, or `true` in its place where no removal is known to parse.
fn remove_stmt_range(m: &ParsedModule, q: &Query, idx: usize) -> Edit {
    let text = m.text.as_str();
    let (s, e) = ast::stmt_range(&q.stmts[idx]);
    let replace_true = Edit {
        start: s,
        end: e,
        replacement: "true".to_string(),
    };
    if q.stmts.len() <= 1 {
        return replace_true;
    }
    let line_start = text[..s].rfind('\n').map_or(0, |p| p + 1);
    let line_end = text[e..].find('\n').map_or(text.len(), |p| e + p);
    let before = &text[line_start..s];
    let after = &text[e..line_end];
    let blank = |t: &str| t.chars().all(|c| c == ' ' || c == '\t' || c == '\r');
    let edit = |start: usize, end: usize| Edit {
        start,
        end,
        replacement: String::new(),
    };
    let after_trim = after.trim_start_matches([' ', '\t']);
    if blank(before) && blank(after) {
        let end = (line_end + 1).min(text.len());
        return edit(line_start, end);
    }
    if after_trim.starts_with(';') {
        let semi = e + (after.len() - after_trim.len());
        let rest = &text[semi + 1..];
        let skip = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        return edit(s, semi + 1 + skip);
    }
    let before_trim = before.trim_end_matches([' ', '\t']);
    if before_trim.ends_with(';') {
        return edit(line_start + before_trim.len() - 1, e);
    }
    if blank(before) && after_trim.starts_with('#') {
        return edit(s, e + (after.len() - after_trim.len()));
    }
    if (before_trim.ends_with('{') || before_trim.ends_with('|')) && blank(after) {
        // First statement after an opening brace, next statement on a later line.
        let rest = &text[e..];
        let skip = rest.len() - rest.trim_start().len();
        return edit(s, e + skip);
    }
    if blank(before) && (after_trim.starts_with('}') || after_trim.starts_with(']')) && idx > 0 {
        // Last statement, closing bracket on its line: join onto the previous statement.
        let prev_end = ast::stmt_range(&q.stmts[idx - 1]).1;
        if text[prev_end..s].trim().is_empty() {
            return edit(prev_end, e);
        }
    }
    replace_true
}

/// Why a rewrite may not bind `vars` anew: `some k, data in …` parses, but OPA refuses a module
/// that binds a root document's name, and a rewrite's `data := …` would not even parse.
pub fn binds_root<'a>(what: &str, vars: impl IntoIterator<Item = &'a str>) -> Option<String> {
    vars.into_iter()
        .find(|v| matches!(*v, "data" | "input"))
        .map(|root| {
            format!(
                "{what} binds the variable `{root}`, which names a root document (OPA refuses it)"
            )
        })
}
