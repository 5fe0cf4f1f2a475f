//! AST helpers over the regorus AST: exact byte ranges (regorus string spans exclude quotes and
//! parent spans end before a trailing string's closing quote), static reference paths, and
//! walkers that visit every expression, statement and query of a rule.

use regorus::unstable::{Expr, Literal, LiteralStmt, Query, Ref, Rule, RuleHead};

/// A byte range `[start, end)` into a module's text.
pub type Range = (usize, usize);

fn span_range(s: &regorus::unstable::Span) -> Range {
    (s.start as usize, s.end as usize)
}

fn union(a: Range, b: Range) -> Range {
    (a.0.min(b.0), a.1.max(b.1))
}

/// Exact source range of an expression, including quotes of string literals anywhere at its edges.
pub fn expr_range(e: &Expr) -> Range {
    match e {
        // String spans exclude the quotes / backticks.
        Expr::String { span, .. } | Expr::RawString { span, .. } => {
            let (s, t) = span_range(span);
            (s.saturating_sub(1), t + 1)
        }
        _ => {
            let mut r = span_range(e.span());
            for c in children(e) {
                r = union(r, expr_range(c));
            }
            r
        }
    }
}

/// Direct child expressions of `e` (not descending into comprehension queries).
pub fn children(e: &Expr) -> Vec<&Ref<Expr>> {
    match e {
        Expr::Array { items, .. } | Expr::Set { items, .. } => items.iter().collect(),
        Expr::Object { fields, .. } => fields.iter().flat_map(|(_, k, v)| [k, v]).collect(),
        Expr::ArrayCompr { term, .. } | Expr::SetCompr { term, .. } => vec![term],
        Expr::ObjectCompr { key, value, .. } => vec![key, value],
        Expr::Call { fcn, params, .. } => std::iter::once(fcn).chain(params.iter()).collect(),
        Expr::UnaryExpr { expr, .. } => vec![expr],
        Expr::RefDot { refr, .. } => vec![refr],
        Expr::RefBrack { refr, index, .. } => vec![refr, index],
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => vec![lhs, rhs],
        Expr::Membership {
            key,
            value,
            collection,
            ..
        } => key.iter().chain([value, collection]).collect(),
        _ => vec![],
    }
}

/// Exact source range of a statement (literal plus `with` modifiers).
pub fn stmt_range(s: &LiteralStmt) -> Range {
    let mut r = span_range(&s.span);
    match &s.literal {
        Literal::SomeVars { span, .. } => r = union(r, span_range(span)),
        Literal::SomeIn {
            key,
            value,
            collection,
            ..
        } => {
            for e in key.iter().chain([value, collection]) {
                r = union(r, expr_range(e));
            }
        }
        Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
            r = union(r, expr_range(expr))
        }
        Literal::Every { domain, query, .. } => {
            r = union(r, expr_range(domain));
            r = union(r, span_range(&query.span));
        }
    }
    for w in &s.with_mods {
        r = union(r, span_range(&w.span));
        r = union(r, expr_range(&w.r#as));
    }
    r
}

/// Exact source range of a whole rule (head, all bodies, `else` branches).
pub fn rule_range(rule: &Rule) -> Range {
    let mut r = span_range(rule.span());
    match rule {
        Rule::Spec { head, bodies, .. } => {
            let (refr, args, assign, key) = head_parts(head);
            r = union(r, expr_range(refr));
            for a in args {
                r = union(r, expr_range(a));
            }
            if let Some(v) = assign {
                r = union(r, expr_range(v));
            }
            if let Some(k) = key {
                r = union(r, expr_range(k));
            }
            for b in bodies {
                r = union(r, span_range(&b.span));
                if let Some(a) = &b.assign {
                    r = union(r, expr_range(&a.value));
                }
                for s in &b.query.stmts {
                    r = union(r, stmt_range(s));
                }
            }
        }
        Rule::Default { value, .. } => r = union(r, expr_range(value)),
    }
    r
}

/// (head ref, args, assigned value, set key) of a rule head.
pub type HeadParts<'a> = (
    &'a Ref<Expr>,
    &'a [Ref<Expr>],
    Option<&'a Ref<Expr>>,
    Option<&'a Ref<Expr>>,
);

/// Split a rule head into its parts.
pub fn head_parts(head: &RuleHead) -> HeadParts<'_> {
    match head {
        RuleHead::Compr { refr, assign, .. } => {
            (refr, &[], assign.as_ref().map(|a| &a.value), None)
        }
        RuleHead::Set { refr, key, .. } => (refr, &[], None, key.as_ref()),
        RuleHead::Func {
            refr, args, assign, ..
        } => (refr, args, assign.as_ref().map(|a| &a.value), None),
    }
}

/// The head reference of any rule (including `default` rules).
pub fn rule_ref(rule: &Rule) -> &Ref<Expr> {
    match rule {
        Rule::Spec { head, .. } => head_parts(head).0,
        Rule::Default { refr, .. } => refr,
    }
}

/// Name of a rule whose head is a plain identifier (`f`, `allow`), else None.
pub fn simple_rule_name(rule: &Rule) -> Option<String> {
    match rule_ref(rule).as_ref() {
        Expr::Var { span, .. } => Some(span.text().to_string()),
        _ => None,
    }
}

/// Whether the rule is a function (has an argument list).
pub fn is_function(rule: &Rule) -> bool {
    match rule {
        Rule::Spec { head, .. } => matches!(head, RuleHead::Func { .. }),
        Rule::Default { args, .. } => !args.is_empty(),
    }
}

/// Text of a string literal value, if `e` is one.
pub fn string_lit(e: &Expr) -> Option<String> {
    match e {
        Expr::String { value, .. } | Expr::RawString { value, .. } => {
            value.as_string().ok().map(|s| s.as_ref().to_string())
        }
        _ => None,
    }
}

/// Name of a variable expression.
pub fn var_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Var { span, .. } => Some(span.text()),
        _ => None,
    }
}

/// Static path of a reference made of a variable, `.field`s and `["string"]` indexes:
/// `data.a["b"].c` gives `["data","a","b","c"]`. None for anything dynamic.
pub fn static_path(e: &Expr) -> Option<Vec<String>> {
    let mut out = Vec::new();
    fn go(e: &Expr, out: &mut Vec<String>) -> Option<()> {
        match e {
            Expr::Var { span, .. } => out.push(span.text().to_string()),
            Expr::RefDot { refr, field, .. } => {
                go(refr, out)?;
                out.push(field.0.text().to_string());
            }
            Expr::RefBrack { refr, index, .. } => {
                go(refr, out)?;
                out.push(string_lit(index)?);
            }
            _ => return None,
        }
        Some(())
    }
    go(e, &mut out)?;
    Some(out)
}

/// The leading static part of a reference (`data.a[x].b` gives `["data","a"]`).
pub fn static_prefix(e: &Expr) -> Vec<String> {
    fn go(e: &Expr, out: &mut Vec<String>) -> bool {
        match e {
            Expr::Var { span, .. } => {
                out.push(span.text().to_string());
                true
            }
            Expr::RefDot { refr, field, .. } if go(refr, out) => {
                out.push(field.0.text().to_string());
                true
            }
            Expr::RefBrack { refr, index, .. } if go(refr, out) => match string_lit(index) {
                Some(s) => {
                    out.push(s);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
    let mut out = Vec::new();
    go(e, &mut out);
    out
}

/// Data path of a static `data....` reference, without the leading `data`.
pub fn data_path(e: &Expr) -> Option<Vec<String>> {
    let p = static_path(e)?;
    if p.first().map(String::as_str) == Some("data") {
        Some(p[1..].to_vec())
    } else {
        None
    }
}

/// Render a data path as Rego (`data.a.b`, or `data.a["x-y"]` for non-identifier keys).
pub fn render_data_path(path: &[String]) -> String {
    let mut s = String::from("data");
    for seg in path {
        if is_ident(seg) && !is_keyword(seg) {
            s.push('.');
            s.push_str(seg);
        } else {
            s.push('[');
            s.push_str(&serde_json::to_string(seg).unwrap_or_default());
            s.push(']');
        }
    }
    s
}

/// Whether `s` is a Rego identifier.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "as" | "default"
            | "else"
            | "false"
            | "import"
            | "package"
            | "not"
            | "null"
            | "true"
            | "with"
            | "some"
            | "in"
            | "every"
            | "if"
            | "contains"
    )
}

/// A node met while walking a rule.
#[derive(Clone, Copy)]
pub enum Node<'a> {
    Expr(&'a Ref<Expr>),
    Stmt(&'a LiteralStmt),
    Query(&'a Query),
}

/// Visit every expression, statement and query of a rule in source order (pre-order),
/// descending into comprehensions, `every` bodies and `with` modifiers.
pub fn walk_rule<'a>(rule: &'a Rule, f: &mut dyn FnMut(Node<'a>)) {
    match rule {
        Rule::Spec { head, bodies, .. } => {
            let (refr, args, assign, key) = head_parts(head);
            walk_expr(refr, f);
            for a in args {
                walk_expr(a, f);
            }
            if let Some(k) = key {
                walk_expr(k, f);
            }
            if let Some(v) = assign {
                walk_expr(v, f);
            }
            for b in bodies {
                walk_query(&b.query, f);
                if let Some(a) = &b.assign {
                    walk_expr(&a.value, f);
                }
            }
        }
        Rule::Default {
            refr, args, value, ..
        } => {
            walk_expr(refr, f);
            for a in args {
                walk_expr(a, f);
            }
            walk_expr(value, f);
        }
    }
}

/// Visit a query and everything inside it.
pub fn walk_query<'a>(q: &'a Query, f: &mut dyn FnMut(Node<'a>)) {
    f(Node::Query(q));
    for s in &q.stmts {
        f(Node::Stmt(s));
        match &s.literal {
            Literal::SomeVars { .. } => {}
            Literal::SomeIn {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(k) = key {
                    walk_expr(k, f);
                }
                walk_expr(value, f);
                walk_expr(collection, f);
            }
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => walk_expr(expr, f),
            Literal::Every { domain, query, .. } => {
                walk_expr(domain, f);
                walk_query(query, f);
            }
        }
        for w in &s.with_mods {
            walk_expr(&w.refr, f);
            walk_expr(&w.r#as, f);
        }
    }
}

/// Visit an expression and everything inside it (including comprehension queries).
pub fn walk_expr<'a>(e: &'a Ref<Expr>, f: &mut dyn FnMut(Node<'a>)) {
    f(Node::Expr(e));
    match e.as_ref() {
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            walk_expr(term, f);
            walk_query(query, f);
        }
        Expr::ObjectCompr {
            key, value, query, ..
        } => {
            walk_expr(key, f);
            walk_expr(value, f);
            walk_query(query, f);
        }
        other => {
            for c in children(other) {
                walk_expr(c, f);
            }
        }
    }
}

/// All variable names used anywhere in a module (rule names, locals, arguments, imports).
pub fn all_idents(m: &super::ParsedModule) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for rule in &m.module.policy {
        walk_rule(rule, &mut |n| match n {
            Node::Expr(e) => {
                if let Some(v) = var_name(e) {
                    out.insert(v.to_string());
                }
            }
            Node::Stmt(s) => {
                if let Literal::SomeVars { vars, .. } = &s.literal {
                    for v in vars {
                        out.insert(v.text().to_string());
                    }
                }
                if let Literal::Every { key, value, .. } = &s.literal {
                    for v in key.iter().chain([value]) {
                        out.insert(v.text().to_string());
                    }
                }
            }
            Node::Query(_) => {}
        });
    }
    for i in &m.imports {
        out.insert(i.name.clone());
    }
    out
}

/// Full call name of a call expression's function part (`object.get`, `f`, `data.lib.f`).
pub fn call_name(e: &Expr) -> Option<(Vec<String>, &[Ref<Expr>])> {
    match e {
        Expr::Call { fcn, params, .. } => Some((static_path(fcn)?, params.as_slice())),
        _ => None,
    }
}
