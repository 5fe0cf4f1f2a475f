//! Pass `data-args`: a user function called with a data subtree as an argument
//! (`lookup(data.rules, k, d)`) gets a specialised copy that references `data.rules` directly,
//! with that parameter removed, and a dispatcher the call is redirected to. OPA converts a whole
//! data subtree to AST whenever it is passed to a user function (400–800 ms at 15 MB); a
//! reference to a base document inside the body behaves exactly like the bound value, but is
//! read lazily.
//!
//! The dispatcher has two disjoint definitions: while `data.rules` has the type it has in the
//! bundle (`is_object(data.rules)`, a cheap lazy check) it calls the copy; otherwise — only a
//! query-level `with data.rules as …`, invisible to the passes, can make it so — it calls the
//! original function with `data.rules`, exactly as the call site did. Dynamic indexes in the
//! copy go through `__regopt_idx_*` (see `passes::idx_helper_text`), so number keys behave as on
//! the bound value for the bundle's data and for a `with`-replaced object alike.
//!
//! Two rounds: the module defining the function first gains the copy and the dispatcher
//! (because some call site in the bundle asks for them), then call sites are redirected once
//! they exist, so a call never points at a function that is not there. Chains of helpers are
//! handled by later rounds, since the copy's body calls the next helper with the data
//! reference. Dispatchers are never rewritten (their fallback calls the original on purpose).

use std::collections::{BTreeMap, HashSet};

use regorus::unstable::{Expr, Literal, Ref, Rule};

use super::{
    append_edit, copy_names, idx_helper_edits, is_user_code, kind_test, marked, name_part,
    render_function, short_hash, substitute_var, Context, Edit, Plan, COPY_MARK, GENERATED_PREFIX,
    IDX_BUILTINS,
};
use crate::rego::ast::{self, Node};
use crate::rego::{DataKind, ParsedModule};

pub struct DataArgs;

/// Comment line marking a dispatcher (never rewritten: it calls the original function).
const DISPATCH_MARK: &str = "# regopt data-args dispatch:";

/// A requested specialisation: function `name` in `package`, with the data paths for the
/// argument positions that receive a static data reference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SpecKey {
    package: Vec<String>,
    name: String,
    args: Vec<(usize, Vec<String>)>,
}

impl SpecKey {
    /// Name of the dispatcher (what call sites call).
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

    /// Name of the specialised copy (what the dispatcher calls while the data has its type).
    fn copy_name(&self) -> String {
        format!("{}_direct", self.spec_name())
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
        // Dispatchers call the original function with the data on purpose; other helpers
        // call no user function.
        if !is_user_code(rule, &copies) {
            continue;
        }
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
            out.push((
                rule.as_ref(),
                CallSite {
                    call,
                    fcn,
                    params,
                    key: SpecKey {
                        package,
                        name,
                        args,
                    },
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

/// What a specialisation needs: the copy's text, the index helpers it calls, the type of each
/// data argument in the bundle (the dispatcher's guard) and the original arity.
struct Spec {
    text: String,
    idx_paths: Vec<Vec<String>>,
    kinds: Vec<(Vec<String>, DataKind)>,
    arity: usize,
}

/// Build the specialised copy of `key.name` in module `m`, or say why not.
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
    let spec = key.copy_name();
    let mut defs = Vec::new();
    let mut arity: Option<usize> = None;
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
        let kept: Vec<String> = args
            .iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, a)| {
                let (s, e) = ast::expr_range(a);
                m.text[s..e].to_string()
            })
            .collect();
        // OPA has no zero-argument functions: keep a placeholder parameter.
        let kept_text = if kept.is_empty() {
            "_".to_string()
        } else {
            kept.join(", ")
        };
        if let Rule::Default { op, value, .. } = rule.as_ref() {
            let op = match op {
                regorus::unstable::AssignOp::Eq => "=",
                regorus::unstable::AssignOp::ColEq => ":=",
            };
            let (vs, ve) = ast::expr_range(value);
            defs.push(format!(
                "default {spec}({kept_text}) {op} {}",
                &m.text[vs..ve]
            ));
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
        // Edits relative to the rule text.
        let mut edits: Vec<Edit> = Vec::new();
        let (ns, ne) = ast::expr_range(ast::rule_ref(rule));
        edits.push(Edit {
            start: ns - rs,
            end: ne - rs,
            replacement: spec.clone(),
        });
        if let (Some(first), Some(last)) = (args.first(), args.last()) {
            edits.push(Edit {
                start: ast::expr_range(first).0 - rs,
                end: ast::expr_range(last).1 - rs,
                replacement: kept_text.clone(),
            });
        }
        let head_args: HashSet<usize> = args.iter().map(|a| ast::expr_range(a).0).collect();
        let bound: HashSet<String> = args
            .iter()
            .filter_map(|a| ast::var_name(a))
            .filter(|v| !subst.contains_key(*v) && !declared.contains(*v) && *v != "_")
            .map(str::to_string)
            .collect();
        for (i, path) in &key.args {
            let Some(v) = ast::var_name(&args[*i]).filter(|v| *v != "_") else {
                continue;
            };
            let sub = substitute_var(m, cx, rule, v, path, &bound, &head_args)
                .map_err(|why| format!("in {fname}: {why}"))?;
            for p in sub.idx_paths {
                if !idx_paths.contains(&p) {
                    idx_paths.push(p);
                }
            }
            edits.extend(sub.edits.into_iter().map(|e| Edit {
                start: e.start - rs,
                end: e.end - rs,
                replacement: e.replacement,
            }));
        }
        let text = super::apply_edits(&m.text[rs..re], &edits)
            .map_err(|(_, why)| format!("internal: cannot specialise {fname}: {why}"))?;
        defs.push(text);
    }
    if defs.is_empty() {
        return Err(format!("{fname} has no definition here"));
    }
    let mut kinds = Vec::new();
    for (_, path) in &key.args {
        kinds.push((path.clone(), cx.facts.plain_base_doc(cx.data, path)?));
    }
    // The generated code calls these builtins: none may be mocked or shadowed.
    let mut builtins: Vec<&[&str]> = Vec::new();
    for (_, k) in &kinds {
        builtins.push(match k {
            DataKind::Null => &["is_null"],
            DataKind::Bool => &["is_boolean"],
            DataKind::Number => &["is_number"],
            DataKind::String => &["is_string"],
            DataKind::Array => &["is_array"],
            DataKind::Object => &["is_object"],
        });
    }
    if !idx_paths.is_empty() {
        builtins.extend_from_slice(IDX_BUILTINS);
    }
    if let Some(rule) = m.module.policy.first() {
        if let Some(why) = super::object_get::builtin_shadowed(m, cx, rule, &builtins) {
            return Err(why);
        }
    }
    Ok(Spec {
        text: defs.join("\n\n"),
        idx_paths,
        kinds,
        arity: arity.unwrap_or(0),
    })
}

/// Text of the dispatcher for `key`: the copy while every data argument has the type it has in
/// the bundle, else the original function with the data arguments, as the call site had it.
/// The definitions are disjoint (definition i: the first i guards hold and guard i fails), so
/// no two can give conflicting values; a data argument that is undefined (its document
/// replaced away) fails every guard and its negation alike, leaving the call undefined as the
/// original call with an undefined argument is.
fn dispatch_text(v1: bool, key: &SpecKey, spec: &Spec) -> String {
    let kept = spec.arity.saturating_sub(key.args.len());
    let params: Vec<String> = (1..=kept).map(|i| format!("__regopt_a{i}")).collect();
    let head = format!(
        "{}({})",
        key.spec_name(),
        if params.is_empty() {
            "_".to_string()
        } else {
            params.join(", ")
        }
    );
    let copy_call = format!(
        "{}({})",
        key.copy_name(),
        if params.is_empty() {
            "0".to_string()
        } else {
            params.join(", ")
        }
    );
    let mut orig_args: Vec<String> = Vec::new();
    let mut next = params.iter();
    for i in 0..spec.arity {
        match key.args.iter().find(|(j, _)| *j == i) {
            Some((_, p)) => orig_args.push(ast::render_data_path(p)),
            None => orig_args.push(next.next().cloned().unwrap_or_default()),
        }
    }
    let orig_call = format!("{}({})", key.name, orig_args.join(", "));
    let guards: Vec<String> = spec
        .kinds
        .iter()
        .map(|(p, k)| format!("{}({})", kind_test(*k), ast::render_data_path(p)))
        .collect();
    let r = "__regopt_r";
    let mut fast = guards.clone();
    fast.push(format!("{r} := {copy_call}"));
    let mut defs = vec![render_function(v1, &head, &[(r, fast)])];
    for i in 0..guards.len() {
        let mut body: Vec<String> = guards[..i].to_vec();
        body.push(format!("not {}", guards[i]));
        body.push(format!("{r} := {orig_call}"));
        defs.push(render_function(v1, &head, &[(r, body)]));
    }
    defs.join("\n\n")
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

/// The comment line before a dispatcher.
fn dispatch_comment(key: &SpecKey, spec: &Spec) -> String {
    let paths: Vec<String> = spec
        .kinds
        .iter()
        .map(|(p, k)| format!("{} is {}", ast::render_data_path(p), kind_article(*k)))
        .collect();
    format!(
        "{DISPATCH_MARK} {} -> the copy below while {}, else {} itself (a query-level `with` replaced the data)\n",
        key.name,
        paths.join(" and "),
        key.name
    )
}

fn kind_article(k: DataKind) -> String {
    let article = if matches!(k, DataKind::Array | DataKind::Object) {
        "an"
    } else {
        "a"
    };
    format!("{article} {}", k.name())
}

/// Whether the copy and the dispatcher for `key` are both in `def` (Ok(true)), neither or only
/// one of them (Ok(false)), or a name is taken by something that is not ours (Err).
fn spec_state(def: &ParsedModule, key: &SpecKey) -> Result<bool, String> {
    let copy = marked(def, &key.copy_name(), COPY_MARK);
    let disp = marked(def, &key.spec_name(), DISPATCH_MARK);
    for (state, name) in [(copy, key.copy_name()), (disp, key.spec_name())] {
        if state == Some(false) {
            return Err(format!("generated name {name} is already used"));
        }
    }
    Ok(copy.is_some() && disp.is_some())
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
            if spec_state(m, key) != Ok(false) {
                continue; // present, or declined at the call site
            }
            let Ok(spec) = spec_text(m, cx, key) else {
                continue; // declined at the call site
            };
            let idents = ast::all_idents(m);
            let mut group: Vec<(String, Edit)> = Vec::new();
            let copy = key.copy_name();
            if marked(m, &copy, COPY_MARK).is_none() {
                if idents.contains(&copy) {
                    continue;
                }
                match idx_helper_edits(m, cx, &spec.idx_paths, &added) {
                    Ok(edits) => group.extend(edits),
                    Err(_) => continue,
                }
                group.push((
                    copy.clone(),
                    append_edit(m, &format!("{}{}", copy_comment(key), spec.text)),
                ));
            }
            let disp = key.spec_name();
            if marked(m, &disp, DISPATCH_MARK).is_none() {
                if idents.contains(&disp) {
                    continue;
                }
                let text = dispatch_text(m.v1_syntax, key, &spec);
                group.push((
                    disp.clone(),
                    append_edit(m, &format!("{}{text}", dispatch_comment(key, &spec))),
                ));
            }
            for (name, e) in group {
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
            match spec_state(def, &site.key) {
                Ok(true) => {}
                Err(why) => {
                    plan.decline(start, why);
                    continue;
                }
                Ok(false) => {
                    match spec_text(def, cx, &site.key) {
                        Err(why) => plan.decline(start, why),
                        Ok(_) => plan.pending.push((start, end)),
                    }
                    // Otherwise the copy and the dispatcher are added this round; the call is
                    // redirected next round.
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
