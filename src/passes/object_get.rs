//! Pass `object-get`: `object.get(data.P, k, d)` on a bundle-owned object base document becomes a
//! call to a generated helper that looks the key up directly (`data.P[k]`), so no OPA version
//! converts the whole of `data.P` to AST for the call.
//!
//! OPA behaviour matched (edge_semantics_v1.20.2.md, column "f guarded"): a stored
//! false/null/0/{} is returned; a missing string key gives the default; a non-string key
//! (number, boolean, null, object, array path) goes to the original `object.get`, because
//! `data.P[1]` would find key "1" where `object.get` gives the default, and an array key is a
//! path. An undefined key or default makes the helper call undefined, like the builtin call.
//! A literal path of strings, `object.get(data.P, ["a", "b"], d)`, becomes a helper reading
//! `data.P.a.b` directly while `data.P.a` is an object (then the walk is exactly the lookup),
//! else the original call.
//! The direct branches also require `is_object(data.P)`: a query-level `with data.P as …`
//! (invisible here) may replace the object by anything, and then the original `object.get`
//! runs — with its type error on a non-object, and its key matching on `{1: "one"}`.

use std::collections::HashSet;

use regorus::unstable::{Expr, Rule};

use super::{
    append_edit, copy_names, helper_slot, is_user_code, name_part, render_function, rule_locals,
    short_hash, Context, Edit, HelperSlot, Plan,
};
use crate::rego::ast::{self, Node};
use crate::rego::facts::is_builtin_call;
use crate::rego::ParsedModule;

pub struct ObjectGet;

/// Name prefix of the helpers this pass generates (their bodies call `object.get` on purpose).
pub const HELPER_PREFIX: &str = "__regopt_get_";

/// Text of the helper for `data.<path>`, in the module's syntax.
pub fn helper_text(v1: bool, name: &str, path: &[String]) -> String {
    let p = ast::render_data_path(path);
    let k = "__regopt_k";
    let d = "__regopt_d";
    let v = "__regopt_v";
    render_function(
        v1,
        &format!("{name}({k}, {d})"),
        &[
            (
                v,
                vec![
                    format!("is_object({p})"),
                    format!("is_string({k})"),
                    format!("{v} := {p}[{k}]"),
                ],
            ),
            (
                d,
                vec![format!("is_object({p})"), format!("is_string({k})")],
            ),
            (v, vec![format!("{v} := object.get({p}, {k}, {d})")]),
        ],
    )
}

/// The segments of a literal path key `["a", "b"]`: a non-empty array of string literals.
fn literal_string_path(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Array { items, .. } if !items.is_empty() => {
            items.iter().map(|x| ast::string_lit(x)).collect()
        }
        _ => None,
    }
}

/// Text of the helper for `object.get(data.<base>, [<segs>], d)`, a literal path of strings:
/// the direct branches read `data.<base>.<segs>` once the document holding the last segment is
/// an object (a path step on anything else, or a missing step, is the original call's business:
/// an array step, a type error on a non-object `data.<base>`, the default).
pub fn path_helper_text(v1: bool, name: &str, base: &[String], segs: &[String]) -> String {
    let mut full = base.to_vec();
    full.extend(segs.iter().cloned());
    let parent = ast::render_data_path(&full[..full.len() - 1]);
    let target = ast::render_data_path(&full);
    let literal = segs
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(", ");
    let d = "__regopt_d";
    let v = "__regopt_v";
    render_function(
        v1,
        &format!("{name}({d})"),
        &[
            (
                v,
                vec![format!("is_object({parent})"), format!("{v} := {target}")],
            ),
            (d, vec![format!("is_object({parent})")]),
            (
                v,
                vec![format!(
                    "{v} := object.get({}, [{literal}], {d})",
                    ast::render_data_path(base)
                )],
            ),
        ],
    )
}

/// Why a call to the builtin `object.get`/`is_string` might not mean the builtin here.
pub fn builtin_shadowed(
    module: &ParsedModule,
    cx: &Context,
    rule: &Rule,
    names: &[&[&str]],
) -> Option<String> {
    let locals = rule_locals(rule);
    for name in names {
        if let Some(w) = cx.facts.function_mocked(name) {
            return Some(format!(
                "`with {}` at {}:{}:{} may replace {}",
                w.target.join("."),
                w.file,
                w.line,
                w.col,
                name.join(".")
            ));
        }
        let root = name[0];
        if locals.contains(root) {
            return Some(format!("a local variable `{root}` shadows the builtin"));
        }
        if module.imports.iter().any(|i| i.name == root) {
            return Some(format!("an import named `{root}` shadows the builtin"));
        }
        if cx.facts.package_defines(&module.package, root) {
            return Some(format!(
                "package {} defines a rule `{root}`",
                module.package.join(".")
            ));
        }
    }
    None
}

impl super::Pass for ObjectGet {
    fn id(&self) -> &'static str {
        "object-get"
    }

    fn describe(&self) -> &'static str {
        "object.get(data.P, k, d) on a bundle-owned object -> direct lookup helper"
    }

    fn plan(&self, m: &ParsedModule, cx: &Context) -> Plan {
        let mut plan = Plan::default();
        let mut added: HashSet<String> = HashSet::new();
        let copies = copy_names(m);
        for rule in &m.module.policy {
            // Generated helpers call object.get on purpose (their fallback branches); data-args
            // copies are user code and are rewritten.
            if matches!(rule.as_ref(), Rule::Default { .. }) || !is_user_code(rule, &copies) {
                continue;
            }
            let mut calls: Vec<&Expr> = Vec::new();
            ast::walk_rule(rule, &mut |n| {
                if let Node::Expr(e) = n {
                    if is_builtin_call(e, &["object", "get"]).is_some_and(|p| p.len() == 3) {
                        calls.push(e);
                    }
                }
            });
            for call in calls {
                let Some(params) = is_builtin_call(call, &["object", "get"]) else {
                    continue;
                };
                let (start, end) = ast::expr_range(call);
                let Some(path) = ast::data_path(&params[0]) else {
                    // Not a static data reference: not a candidate.
                    continue;
                };
                if let Err(why) = cx.facts.plain_base_object(cx.data, &path) {
                    plan.decline(start, why);
                    continue;
                }
                if let Some(why) = builtin_shadowed(
                    m,
                    cx,
                    rule,
                    &[&["object", "get"], &["is_string"], &["is_object"]],
                ) {
                    plan.decline(start, why);
                    continue;
                }
                // A literal path of strings reads one document below data.P; its parent must
                // be a plain object of the bundle too.
                let segs = literal_string_path(&params[1]);
                let (name, text, shown) = match &segs {
                    Some(segs) => {
                        let mut full = path.clone();
                        full.extend(segs.iter().cloned());
                        if let Err(why) =
                            cx.facts.plain_base_object(cx.data, &full[..full.len() - 1])
                        {
                            plan.decline(start, format!("path key: {why}"));
                            continue;
                        }
                        let name = format!(
                            "{HELPER_PREFIX}{}_{}",
                            name_part(&full),
                            short_hash(&[&m.path, "path", &full.join("\u{1}")])
                        );
                        let text = path_helper_text(m.v1_syntax, &name, &path, segs);
                        let literal: Vec<String> = segs
                            .iter()
                            .map(|s| serde_json::to_string(s).unwrap_or_default())
                            .collect();
                        let shown =
                            format!("{}, [{}]", ast::render_data_path(&path), literal.join(", "));
                        (name, text, shown)
                    }
                    None => {
                        let name = format!(
                            "{HELPER_PREFIX}{}_{}",
                            name_part(&path),
                            short_hash(&[&m.path, &path.join("\u{1}")])
                        );
                        let text = helper_text(m.v1_syntax, &name, &path);
                        (name, text, format!("{}, k", ast::render_data_path(&path)))
                    }
                };
                let slot = match helper_slot(m, cx, &name, &text) {
                    Ok(s) => s,
                    Err(why) => {
                        plan.decline(start, why);
                        continue;
                    }
                };
                let arg = |e: &Expr| {
                    let (s, t) = ast::expr_range(e);
                    m.text[s..t].to_string()
                };
                let replacement = if segs.is_some() {
                    format!("{name}({})", arg(&params[2]))
                } else {
                    format!("{name}({}, {})", arg(&params[1]), arg(&params[2]))
                };
                if plan.push_edit(Edit {
                    start,
                    end,
                    replacement,
                }) && matches!(slot, HelperSlot::Add)
                    && added.insert(name.clone())
                {
                    let comment = format!(
                        "# regopt object-get: object.get({shown}, d) without copying the object\n"
                    );
                    plan.edits.push(append_edit(m, &format!("{comment}{text}")));
                }
            }
        }
        plan
    }
}
