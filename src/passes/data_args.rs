//! Pass `data-args`: a user function called with a data subtree as an argument
//! (`lookup(data.rules, k, d)`) gets a specialised copy that references `data.rules` directly,
//! with that parameter removed; the call is redirected to the copy. OPA converts a whole data
//! subtree to AST whenever it is passed to a user function (400–800 ms at 15 MB); a reference to
//! a base document inside the body behaves exactly like the bound value, but is read lazily.
//!
//! Every body of the copy starts with guards: `data.rules` has the type it has in the bundle
//! (`is_object(data.rules)`, a cheap lazy check) and each parameter that indexes it directly is
//! a string. When a guard fails — only a query-level `with data.rules as …`, invisible to the
//! passes, can change the type, and a non-string key is a wrong-typed input — `else` branches
//! call the original function with `data.rules`, exactly as the call site did. Other dynamic
//! indexes go through `__regopt_idx_*` (see `passes::idx_helper_text`).
//!
//! Two rounds: the module defining the function first gains the copy (because some call site in
//! the bundle asks for it), then call sites are redirected once it exists, so a call never points
//! at a function that is not there. Chains of helpers are handled by later rounds, since the
//! copy's body calls the next helper with the data reference; the copy's own fallback call of
//! the original function is never redirected.

use std::collections::{BTreeMap, HashSet};

use regorus::unstable::{Expr, Literal, Ref, Rule};

use super::{
    append_edit, copy_names, idx_helper_edits, is_user_code, kind_test, marked, name_part,
    short_hash, substitute_var, Context, Edit, Plan, COPY_MARK, GENERATED_PREFIX, IDX_BUILTINS,
};
use crate::rego::ast::{self, Node};
use crate::rego::{DataKind, ParsedModule};

pub struct DataArgs;

/// A requested specialisation: function `name` in `package`, with the data paths for the
/// argument positions that receive a static data reference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SpecKey {
    package: Vec<String>,
    name: String,
    args: Vec<(usize, Vec<String>)>,
}

impl SpecKey {
    fn spec_name(&self) -> String {
        let key: Vec<String> = self
            .args
            .iter()
            .map(|(i, p)| format!("{i}={}", p.join("\u{1}")))
            .collect();
        let paths: Vec<String> = self.args.iter().map(|(_, p)| name_part(p)).collect();
        let mut base = format!("{GENERATED_PREFIX}{}_{}", self.name, paths.join("_"));
        base.truncate(60);
        format!(
            "{base}_{}",
            short_hash(&[&self.package.join("."), &self.name, &key.join(";")])
        )
    }
}

/// A call of a user function found in a module.
struct CallSite<'a> {
    call: &'a Expr,
    fcn: &'a Ref<Expr>,
    params: &'a [Ref<Expr>],
    key: SpecKey,
}

/// Resolve the function a call names to (package, rule name), if it is a user function.
fn resolve_call(m: &ParsedModule, cx: &Context, path: &[String]) -> Option<(Vec<String>, String)> {
    let (last, prefix) = path.split_last()?;
    let pkg: Vec<String> = match prefix.first().map(String::as_str) {
        None => m.package.clone(),
        Some("data") => prefix[1..].to_vec(),
        Some(first) => {
            let imp = m.imports.iter().find(|i| i.name == first)?;
            if imp.path.first().map(String::as_str) != Some("data") {
                return None;
            }
            let mut p = imp.path[1..].to_vec();
            p.extend(prefix[1..].iter().cloned());
            p
        }
    };
    cx.facts
        .package_defines(&pkg, last)
        .then(|| (pkg, last.clone()))
}

/// Every call in the module whose arguments include a static data reference to a user function.
fn call_sites<'a>(m: &'a ParsedModule, cx: &Context) -> Vec<(&'a Rule, CallSite<'a>)> {
    let mut out = Vec::new();
    let copies = copy_names(m);
    for rule in &m.module.policy {
        // regopt's other helpers call no user function.
        if !is_user_code(rule, &copies) {
            continue;
        }
        let rule_name = ast::simple_rule_name(rule);
        let mut calls: Vec<&Expr> = Vec::new();
        ast::walk_rule(rule, &mut |n| {
            if let Node::Expr(e) = n {
                if matches!(e.as_ref(), Expr::Call { .. }) {
                    calls.push(e);
                }
            }
        });
        for call in calls {
            let Expr::Call { fcn, params, .. } = call else {
                continue;
            };
            let Some(path) = ast::static_path(fcn) else {
                continue;
            };
            let Some((package, name)) = resolve_call(m, cx, &path) else {
                continue;
            };
            let args: Vec<(usize, Vec<String>)> = params
                .iter()
                .enumerate()
                .filter_map(|(i, p)| ast::data_path(p).map(|d| (i, d)))
                .collect();
            if args.is_empty() {
                continue;
            }
            let key = SpecKey {
                package,
                name,
                args,
            };
            if rule_name.as_deref() == Some(key.spec_name().as_str()) {
                continue; // a copy's fallback: the original function, on purpose
            }
            out.push((
                rule.as_ref(),
                CallSite {
                    call,
                    fcn,
                    params,
                    key,
                },
            ));
        }
    }
    out
}

/// The module that defines function `name` of `package`, or why it cannot be specialised.
fn defining_module<'a>(cx: &'a Context, key: &SpecKey) -> Result<&'a ParsedModule, String> {
    let mut found = cx.modules.iter().filter(|m| {
        m.package == key.package
            && m.module
                .policy
                .iter()
                .any(|r| ast::simple_rule_name(r).as_deref() == Some(&key.name))
    });
    let first = found
        .next()
        .ok_or_else(|| format!("function {} is not defined by a simple name", key.name))?;
    if let Some(other) = found.next() {
        return Err(format!(
            "function {} is defined in more than one module ({} and {})",
            key.name, first.path, other.path
        ));
    }
    Ok(first)
}

/// Variables declared inside a rule's bodies (not its head arguments).
fn body_declared(rule: &Rule) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut targets: Vec<Ref<Expr>> = Vec::new();
    ast::walk_rule(rule, &mut |n| match n {
        Node::Expr(e) => {
            if let Expr::AssignExpr { lhs, .. } = e.as_ref() {
                targets.push(lhs.clone());
            }
        }
        Node::Stmt(s) => match &s.literal {
            Literal::SomeVars { vars, .. } => {
                out.extend(vars.iter().map(|v| v.text().to_string()));
            }
            Literal::SomeIn { key, value, .. } => {
                targets.extend(key.iter().cloned());
                targets.push(value.clone());
            }
            Literal::Every { key, value, .. } => {
                out.extend(key.iter().chain([value]).map(|v| v.text().to_string()));
            }
            _ => {}
        },
        Node::Query(_) => {}
    });
    for t in &targets {
        ast::walk_expr(t, &mut |n| {
            if let Node::Expr(e) = n {
                if let Some(v) = ast::var_name(e) {
                    out.insert(v.to_string());
                }
            }
        });
    }
    out
}

/// A specialisation: the copy's text and the index helpers it calls.
struct Spec {
    text: String,
    idx_paths: Vec<Vec<String>>,
}

/// One definition of the function, with the edits (relative to its text) that specialise it.
struct Def<'a> {
    rule: &'a Rule,
    start: usize,
    end: usize,
    args: &'a [Ref<Expr>],
    edits: Vec<Edit>,
}

/// The statements that make the copy's direct path valid: each data argument has the type it
/// has in the bundle (`is_object(data.rules)`), each parameter indexing it directly is a string.
fn guards(key: &SpecKey, kinds: &[DataKind], strings: &[String]) -> Vec<String> {
    let mut g: Vec<String> = key
        .args
        .iter()
        .zip(kinds)
        .map(|((_, p), k)| format!("{}({})", kind_test(*k), ast::render_data_path(p)))
        .collect();
    g.extend(strings.iter().map(|s| format!("is_string({s})")));
    g
}

/// `else` branches (text to append to a definition) or whole definitions (`head` given) that
/// call the original function when a guard fails: branch i holds guards 0..i and fails guard
/// i, so they are disjoint and none runs while every guard holds.
fn fallback_text(v1: bool, head: Option<&str>, g: &[String], call: &str) -> String {
    let (op, kw) = if v1 { (":=", " if") } else { ("=", "") };
    let r = "__regopt_r";
    let mut out = String::new();
    for i in 0..g.len() {
        let mut body: Vec<String> = g[..i].to_vec();
        body.push(format!("not {}", g[i]));
        body.push(format!("{r} := {call}"));
        let body = body.iter().map(|l| format!("\t{l}\n")).collect::<String>();
        match head {
            Some(h) => out.push_str(&format!("\n\n{h} {op} {r}{kw} {{\n{body}}}")),
            None => out.push_str(&format!(" else {op} {r}{kw} {{\n{body}}}")),
        }
    }
    out
}

/// Build the specialised copy of `key.name` in module `m`, or say why not.
///
/// Every body of every definition starts with the guards (a body-less definition or `else`
/// gets one); when a guard fails — only a query-level `with data.P as …` can make the data
/// another type, and a non-string key is a wrong-typed input — `else` branches (or extra
/// definitions) call the original function with the data, exactly as the call site did.
fn spec_text(m: &ParsedModule, cx: &Context, key: &SpecKey) -> Result<Spec, String> {
    let mut idx_paths: Vec<Vec<String>> = Vec::new();
    let fname = &key.name;
    if let Some(w) = cx.facts.function_mocked(&[fname.as_str()]) {
        return Err(format!(
            "`with {}` at {}:{}:{} may replace {fname}",
            w.target.join("."),
            w.file,
            w.line,
            w.col
        ));
    }
    let drop: HashSet<usize> = key.args.iter().map(|(i, _)| *i).collect();
    let spec = key.spec_name();
    let mut defs: Vec<Def> = Vec::new();
    let mut arity: Option<usize> = None;
    // Positions of parameters that index a data argument directly (guarded by is_string).
    let mut string_positions: Vec<usize> = Vec::new();
    for rule in &m.module.policy {
        if ast::simple_rule_name(rule).as_deref() != Some(fname.as_str()) {
            continue;
        }
        if !ast::is_function(rule) {
            return Err(format!("{fname} is not a function"));
        }
        let (rs, re) = ast::rule_range(rule);
        let args: &[Ref<Expr>] = match rule.as_ref() {
            Rule::Spec { head, .. } => ast::head_parts(head).1,
            Rule::Default { args, .. } => args,
        };
        if *arity.get_or_insert(args.len()) != args.len() {
            return Err(format!("{fname} is defined with different arities"));
        }
        if key.args.iter().any(|(i, _)| *i >= args.len()) {
            return Err(format!(
                "the data argument is {fname}'s output argument, not a parameter"
            ));
        }
        if matches!(rule.as_ref(), Rule::Default { .. }) {
            defs.push(Def {
                rule,
                start: rs,
                end: re,
                args,
                edits: Vec::new(),
            });
            continue;
        }
        // Substitutions: parameter name -> data reference text.
        let mut subst: BTreeMap<String, String> = BTreeMap::new();
        for (i, path) in &key.args {
            match ast::var_name(&args[*i]) {
                Some("_") => {}
                Some(v) => {
                    subst.insert(v.to_string(), ast::render_data_path(path));
                }
                None => {
                    return Err(format!(
                        "parameter {} of {fname} is a pattern, not a variable",
                        i + 1
                    ))
                }
            }
        }
        let declared = body_declared(rule);
        for v in subst.keys() {
            if declared.contains(v) {
                return Err(format!(
                    "parameter {v} of {fname} is re-declared in its body"
                ));
            }
            let uses_in_args = args
                .iter()
                .filter(|a| {
                    let mut n = 0;
                    ast::walk_expr(a, &mut |x| {
                        if let Node::Expr(e) = x {
                            if ast::var_name(e) == Some(v) {
                                n += 1;
                            }
                        }
                    });
                    n > 0
                })
                .count();
            if uses_in_args > 1 {
                return Err(format!(
                    "parameter {v} of {fname} appears twice in its head"
                ));
            }
        }
        let head_args: HashSet<usize> = args.iter().map(|a| ast::expr_range(a).0).collect();
        let bound: HashSet<String> = args
            .iter()
            .filter_map(|a| ast::var_name(a))
            .filter(|v| !subst.contains_key(*v) && !declared.contains(*v) && *v != "_")
            .map(str::to_string)
            .collect();
        let mut edits: Vec<Edit> = Vec::new();
        for (i, path) in &key.args {
            let Some(v) = ast::var_name(&args[*i]).filter(|v| *v != "_") else {
                continue;
            };
            let sub = substitute_var(m, cx, rule, v, path, &bound, &head_args, true)
                .map_err(|why| format!("in {fname}: {why}"))?;
            for p in sub.idx_paths {
                if !idx_paths.contains(&p) {
                    idx_paths.push(p);
                }
            }
            for g in &sub.guarded {
                let pos = args
                    .iter()
                    .position(|a| ast::var_name(a) == Some(g.as_str()));
                if let Some(pos) = pos.filter(|p| !string_positions.contains(p)) {
                    string_positions.push(pos);
                }
            }
            edits.extend(sub.edits.into_iter().map(|e| Edit {
                start: e.start - rs,
                end: e.end - rs,
                replacement: e.replacement,
            }));
        }
        defs.push(Def {
            rule,
            start: rs,
            end: re,
            args,
            edits,
        });
    }
    if defs.is_empty() {
        return Err(format!("{fname} has no definition here"));
    }
    string_positions.sort();
    let mut kinds = Vec::new();
    for (_, path) in &key.args {
        kinds.push(cx.facts.plain_base_doc(cx.data, path)?);
    }
    // The generated code calls these builtins: none may be mocked or shadowed.
    let mut builtins: Vec<&[&str]> = Vec::new();
    for k in &kinds {
        builtins.push(match k {
            DataKind::Null => &["is_null"],
            DataKind::Bool => &["is_boolean"],
            DataKind::Number => &["is_number"],
            DataKind::String => &["is_string"],
            DataKind::Array => &["is_array"],
            DataKind::Object => &["is_object"],
        });
    }
    if !string_positions.is_empty() {
        builtins.push(&["is_string"]);
    }
    if !idx_paths.is_empty() {
        builtins.extend_from_slice(IDX_BUILTINS);
    }
    if let Some(rule) = m.module.policy.first() {
        if let Some(why) = super::object_get::builtin_shadowed(m, cx, rule, &builtins) {
            return Err(why);
        }
    }
    let v1 = m.v1_syntax;
    let arity = arity.unwrap_or(0);
    let kept_positions: Vec<usize> = (0..arity).filter(|i| !drop.contains(i)).collect();
    // The original call, with parameter texts `params` at the kept positions.
    let orig_call = |params: &[String]| -> String {
        let mut it = params.iter();
        let all: Vec<String> = (0..arity)
            .map(|i| match key.args.iter().find(|(j, _)| *j == i) {
                Some((_, p)) => ast::render_data_path(p),
                None => it.next().cloned().unwrap_or_default(),
            })
            .collect();
        format!("{fname}({})", all.join(", "))
    };
    // The definition that carries the fallback `else` branches: a single body chain (v0 query
    // blocks cannot be followed by `else`) whose kept parameters are variables (`_` renamed),
    // so that it applies to every call.
    let host = defs.iter().position(|d| match d.rule {
        Rule::Spec { bodies, .. } => {
            bodies.iter().skip(1).all(|b| b.is_else)
                && kept_positions
                    .iter()
                    .all(|i| ast::var_name(&d.args[*i]).is_some())
        }
        Rule::Default { .. } => false,
    });
    let mut texts = Vec::new();
    for (di, d) in defs.iter().enumerate() {
        let text = &m.text[d.start..d.end];
        // Parameter texts at the kept positions (`_` named where a guard or the fallback
        // needs to refer to it).
        let params: Vec<String> = kept_positions
            .iter()
            .map(|i| {
                let (s, e) = ast::expr_range(&d.args[*i]);
                let t = &m.text[s..e];
                if t == "_" && (string_positions.contains(i) || Some(di) == host) {
                    format!("__regopt_p{}", i + 1)
                } else {
                    t.to_string()
                }
            })
            .collect();
        let kept_text = if params.is_empty() {
            "_".to_string()
        } else {
            params.join(", ")
        };
        if let Rule::Default { op, value, .. } = d.rule {
            let op = match op {
                regorus::unstable::AssignOp::Eq => "=",
                regorus::unstable::AssignOp::ColEq => ":=",
            };
            let (vs, ve) = ast::expr_range(value);
            texts.push(format!(
                "default {spec}({kept_text}) {op} {}",
                &m.text[vs..ve]
            ));
            continue;
        }
        let Rule::Spec { bodies, .. } = d.rule else {
            continue;
        };
        let strings: Vec<String> = string_positions
            .iter()
            .map(|i| params[kept_positions.iter().position(|k| k == i).unwrap_or(0)].clone())
            .collect();
        let g = guards(key, &kinds, &strings);
        let mut edits = d.edits.clone();
        let (ns, ne) = ast::expr_range(ast::rule_ref(d.rule));
        edits.push(Edit {
            start: ns - d.start,
            end: ne - d.start,
            replacement: spec.clone(),
        });
        if let (Some(first), Some(last)) = (d.args.first(), d.args.last()) {
            edits.push(Edit {
                start: ast::expr_range(first).0 - d.start,
                end: ast::expr_range(last).1 - d.start,
                replacement: kept_text.clone(),
            });
        }
        let new_body = |g: &[String]| -> String {
            let lines: String = g.iter().map(|l| format!("\t{l}\n")).collect();
            if v1 {
                format!(" if {{\n{lines}}}")
            } else {
                format!(" {{\n{lines}}}")
            }
        };
        let insert = |at: usize, text: String| Edit {
            start: at - d.start,
            end: at - d.start,
            replacement: text,
        };
        if bodies.is_empty() {
            edits.push(insert(d.end, new_body(&g)));
        }
        for b in bodies {
            let q = &b.query;
            match q.stmts.first() {
                None => {
                    let Some(a) = &b.assign else { continue };
                    edits.push(insert(ast::expr_range(&a.value).1, new_body(&g)));
                }
                Some(first) => {
                    let (fs, _) = ast::stmt_range(first);
                    let qs = q.span.start as usize;
                    if m.text[qs.min(fs)..fs].contains('{') {
                        let sep = super::scope::stmt_sep(&m.text, fs);
                        let last = super::scope::sep_before_stmt(&m.text, fs);
                        edits.push(insert(fs, format!("{}{last}", g.join(&sep))));
                    } else {
                        // `if stmt` without braces: add them.
                        let last = if super::scope::could_continue(&m.text, fs) {
                            "; "
                        } else {
                            "\n\t"
                        };
                        edits.push(insert(fs, format!("{{\n\t{}{last}", g.join("\n\t"))));
                        edits.push(insert(q.span.end as usize, "\n}".to_string()));
                    }
                }
            }
        }
        if Some(di) == host {
            edits.push(insert(
                d.end,
                fallback_text(v1, None, &g, &orig_call(&params)),
            ));
        }
        let text = super::apply_edits(text, &edits)
            .map_err(|(_, why)| format!("internal: cannot specialise {fname}: {why}"))?;
        texts.push(text);
    }
    if host.is_none() {
        let params: Vec<String> = kept_positions
            .iter()
            .map(|i| format!("__regopt_a{}", i + 1))
            .collect();
        let strings: Vec<String> = string_positions
            .iter()
            .map(|i| format!("__regopt_a{}", i + 1))
            .collect();
        let g = guards(key, &kinds, &strings);
        let head = format!(
            "{spec}({})",
            if params.is_empty() {
                "_".to_string()
            } else {
                params.join(", ")
            }
        );
        let mut last = texts.pop().unwrap_or_default();
        last.push_str(&fallback_text(v1, Some(&head), &g, &orig_call(&params)));
        texts.push(last);
    }
    Ok(Spec {
        text: texts.join("\n\n"),
        idx_paths,
    })
}

/// The comment line before a copy.
fn copy_comment(key: &SpecKey) -> String {
    let shown: Vec<String> = key
        .args
        .iter()
        .map(|(i, p)| format!("argument {} = {}", i + 1, ast::render_data_path(p)))
        .collect();
    format!("{COPY_MARK} {} with {}\n", key.name, shown.join(", "))
}

impl super::Pass for DataArgs {
    fn id(&self) -> &'static str {
        "data-args"
    }

    fn describe(&self) -> &'static str {
        "user function called with data.P -> specialised copy that references data.P directly"
    }

    fn plan(&self, m: &ParsedModule, cx: &Context) -> Plan {
        let mut plan = Plan::default();
        // (a) Copies this module must provide, demanded by call sites anywhere in the bundle.
        let mut demanded: Vec<SpecKey> = Vec::new();
        for other in cx.modules {
            for (_, site) in call_sites(other, cx) {
                if site.key.package == m.package && !demanded.contains(&site.key) {
                    demanded.push(site.key);
                }
            }
        }
        demanded.sort();
        let mut added: HashSet<String> = HashSet::new();
        for key in &demanded {
            if key
                .args
                .iter()
                .any(|(_, p)| cx.facts.plain_base_doc(cx.data, p).is_err())
            {
                continue; // declined at the call site
            }
            let Ok(def) = defining_module(cx, key) else {
                continue;
            };
            if def.path != m.path {
                continue;
            }
            let name = key.spec_name();
            if marked(m, &name, COPY_MARK).is_some() || ast::all_idents(m).contains(&name) {
                continue; // present, or declined at the call site
            }
            let Ok(spec) = spec_text(m, cx, key) else {
                continue; // declined at the call site
            };
            let Ok(helpers) = idx_helper_edits(m, cx, &spec.idx_paths, &added) else {
                continue;
            };
            let copy = (
                name,
                append_edit(m, &format!("{}{}", copy_comment(key), spec.text)),
            );
            for (name, e) in helpers.into_iter().chain([copy]) {
                if added.insert(name) {
                    plan.edits.push(e);
                }
            }
        }
        // (b) Redirect this module's call sites to copies that already exist.
        for (_, site) in call_sites(m, cx) {
            let (start, end) = ast::expr_range(site.call);
            if let Some(bad) = site
                .key
                .args
                .iter()
                .find_map(|(_, p)| cx.facts.plain_base_doc(cx.data, p).err())
            {
                plan.decline(start, bad);
                continue;
            }
            let def = match defining_module(cx, &site.key) {
                Ok(d) => d,
                Err(why) => {
                    plan.decline(start, why);
                    continue;
                }
            };
            let name = site.key.spec_name();
            match marked(def, &name, COPY_MARK) {
                Some(true) => {}
                Some(false) => {
                    plan.decline(start, format!("generated name {name} is already used"));
                    continue;
                }
                None => {
                    match spec_text(def, cx, &site.key) {
                        Err(why) => plan.decline(start, why),
                        Ok(_) => plan.pending.push((start, end)),
                    }
                    // Otherwise the copy is added this round; the call is redirected next round.
                    continue;
                }
            }
            if let Some(w) = cx.facts.function_mocked(&[site.key.name.as_str()]) {
                plan.decline(
                    start,
                    format!(
                        "`with {}` at {}:{}:{} may replace {}",
                        w.target.join("."),
                        w.file,
                        w.line,
                        w.col,
                        site.key.name
                    ),
                );
                continue;
            }
            // Replace the last segment of the function name, keep its package prefix.
            let fcn_text = {
                let (fs, fe) = ast::expr_range(site.fcn);
                let full = &m.text[fs..fe];
                match full.rfind(site.key.name.as_str()) {
                    Some(p) if full.ends_with(site.key.name.as_str()) => {
                        format!("{}{name}", &full[..p])
                    }
                    _ => {
                        plan.decline(start, "function name written in an unusual form");
                        continue;
                    }
                }
            };
            let drop: HashSet<usize> = site.key.args.iter().map(|(i, _)| *i).collect();
            let kept: Vec<String> = site
                .params
                .iter()
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, p)| {
                    let (s, e) = ast::expr_range(p);
                    m.text[s..e].to_string()
                })
                .collect();
            // A copy whose parameters were all data references keeps one placeholder parameter.
            let arity_left = def
                .module
                .policy
                .iter()
                .find(|r| ast::simple_rule_name(r).as_deref() == Some(site.key.name.as_str()))
                .map(|r| match r.as_ref() {
                    Rule::Spec { head, .. } => ast::head_parts(head).1.len(),
                    Rule::Default { args, .. } => args.len(),
                })
                .unwrap_or(0)
                .saturating_sub(drop.len());
            let mut args = kept;
            if arity_left == 0 {
                args.insert(0, "0".to_string());
            }
            plan.push_edit(Edit {
                start,
                end,
                replacement: format!("{fcn_text}({})", args.join(", ")),
            });
        }
        plan
    }
}
