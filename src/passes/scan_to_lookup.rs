//! Pass `scan-to-lookup` (membership form only so far): `e in object.keys(data.P)` on a
//! bundle-owned object becomes a call to a generated helper that looks `e` up directly, instead of
//! building the key set of the whole object per query (76 ms at 15 MB in OPA v1.20.2).
//!
//! OPA behaviour matched: `object.keys` gives the set of the object's (string) keys, so the
//! membership is true exactly when `e` is a string key of `data.P` — also when its value is
//! false/null — and false for any non-string `e` (`data.P[1]` would find key "1", hence the
//! `is_string` guard). An undefined `e` makes both the membership and the helper call undefined.
//! Not done yet: `some k, v in data.P; k == e`, `v := data.P[k]; k == e`,
//! `object.keys(data.P)[_] == e`.

use std::collections::HashSet;

use regorus::unstable::{Expr, Rule};

use super::object_get::builtin_shadowed;
use super::{
    append_edit, helper_slot, name_part, render_function, short_hash, Context, Edit, HelperSlot,
    Plan, GENERATED_PREFIX,
};
use crate::rego::ast::{self, Node};
use crate::rego::facts::is_builtin_call;
use crate::rego::ParsedModule;

pub struct ScanToLookup;

/// Name prefix of the key-membership helpers.
pub const HAS_PREFIX: &str = "__regopt_has_";

/// Text of the membership helper for `data.<path>`.
pub fn has_text(v1: bool, name: &str, path: &[String]) -> String {
    let p = ast::render_data_path(path);
    let k = "__regopt_k";
    render_function(
        v1,
        &format!("{name}({k})"),
        &[
            (
                "true",
                vec![format!("is_string({k})"), format!("_ = {p}[{k}]")],
            ),
            ("false", vec![]),
        ],
    )
}

impl super::Pass for ScanToLookup {
    fn id(&self) -> &'static str {
        "scan-to-lookup"
    }

    fn describe(&self) -> &'static str {
        "e in object.keys(data.P) -> direct key lookup"
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
                if let Some(why) =
                    builtin_shadowed(m, cx, rule, &[&["object", "keys"], &["is_string"]])
                {
                    plan.decline(start, why);
                    continue;
                }
                let name = format!(
                    "{HAS_PREFIX}{}_{}",
                    name_part(&path),
                    short_hash(&[&m.path, &path.join("\u{1}")])
                );
                let text = has_text(m.v1_syntax, &name, &path);
                let slot = match helper_slot(m, cx, &name, &text) {
                    Ok(s) => s,
                    Err(why) => {
                        plan.decline(start, why);
                        continue;
                    }
                };
                let (vs, ve) = ast::expr_range(value);
                if plan.push_edit(Edit {
                    start,
                    end,
                    replacement: format!("{name}({})", &m.text[vs..ve]),
                }) && matches!(slot, HelperSlot::Add)
                    && added.insert(name.clone())
                {
                    let comment = format!(
                        "# regopt scan-to-lookup: e in object.keys({}) without building the key set\n",
                        ast::render_data_path(&path)
                    );
                    plan.edits.push(append_edit(m, &format!("{comment}{text}")));
                }
            }
        }
        plan
    }
}
