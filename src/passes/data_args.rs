//! Pass `data-args`: a user function called with a data subtree as an argument
//! (`lookup(data.rules, k, d)`) gets a specialised copy that references `data.rules` directly,
//! with that parameter removed; the call is redirected to the copy. OPA converts a whole data
//! subtree to AST whenever it is passed to a user function (400–800 ms at 15 MB); a reference
//! to a base document inside the body behaves exactly like the bound value, but is read lazily.
//!
//! Two rounds: the module defining the function first gains the copy (because some call site in
//! the bundle asks for it), then call sites are redirected once the copy exists, so a call never
//! points at a function that is not there. Chains of helpers are handled by later rounds, since
//! the copy's body calls the next helper with the data reference.

use std::collections::{BTreeMap, HashSet};

use regorus::unstable::{Expr, Literal, Ref, Rule};

use super::{
    append_edit, helper_slot, name_part, short_hash, str_helper_name, str_helper_text,
    substitute_var, Context, Edit, HelperSlot, Plan, GENERATED_PREFIX,
};
use crate::rego::ast::{self, Node};
use crate::rego::ParsedModule;

pub struct DataArgs;

const MARK: &str = "# regopt data-args:";

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
    for rule in &m.module.policy {
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

/// Build the text of the specialised copy of `key.name` in module `m`, or say why not.
fn spec_text(m: &ParsedModule, cx: &Context, key: &SpecKey) -> Result<(String, bool), String> {
    let mut needs_str = false;
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
            needs_str |= sub.needs_str_helper;
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
    if needs_str {
        if let Some(rule) = m.module.policy.first() {
            if let Some(why) = super::object_get::builtin_shadowed(m, cx, rule, &[&["is_string"]]) {
                return Err(why);
            }
        }
    }
    Ok((defs.join("\n\n"), needs_str))
}

/// Whether a generated copy named `name` is already in module `m` (marked by our comment).
fn spec_present(m: &ParsedModule, name: &str) -> Option<bool> {
    let rule = m
        .module
        .policy
        .iter()
        .find(|r| ast::simple_rule_name(r).as_deref() == Some(name))?;
    let (s, _) = ast::rule_range(rule);
    let before = &m.text[..s];
    let prev_line = before
        .trim_end_matches(['\n', '\r', ' ', '\t'])
        .rsplit('\n')
        .next()
        .unwrap_or("");
    Some(prev_line.trim_start().starts_with(MARK))
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
            if spec_present(m, &name).is_some() {
                continue;
            }
            if ast::all_idents(m).contains(&name) {
                continue; // declined at the call site
            }
            if let Ok((text, needs_str)) = spec_text(m, cx, key) {
                if needs_str && !added.contains("str") {
                    let h = str_helper_text(m);
                    match helper_slot(m, cx, &str_helper_name(m), &h) {
                        Ok(HelperSlot::Add) => {
                            added.insert("str".to_string());
                            plan.edits.push(append_edit(m, &h));
                        }
                        Ok(HelperSlot::Present) => {}
                        Err(_) => continue,
                    }
                }
                if added.insert(name.clone()) {
                    let shown: Vec<String> = key
                        .args
                        .iter()
                        .map(|(i, p)| format!("argument {} = {}", i + 1, ast::render_data_path(p)))
                        .collect();
                    let comment = format!("{MARK} {} with {}\n", key.name, shown.join(", "));
                    plan.edits.push(append_edit(m, &format!("{comment}{text}")));
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
            match spec_present(def, &name) {
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
