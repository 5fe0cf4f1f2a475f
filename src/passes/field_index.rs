//! Pass `field-index` (closed world only): a scan of a bundle-owned collection that keeps the
//! elements whose field `f` equals a value known before the scan,
//!
//! ```rego
//! some r in data.users          # or: some i, r in data.users / r := data.users[_]
//! r.email == input.email        # or: input.email == r.email
//! ```
//!
//! becomes a lookup in an index built at optimize time and stored under the reserved path:
//!
//! ```rego
//! __regopt_i_<h> := data.<reserved>.idx_users_<h>[input.email][_]; r := data.users[__regopt_i_<h>]
//! r.email == input.email
//! ```
//!
//! The index maps each string value of `f` to the positions (array indexes, or object keys in
//! the sorted order OPA iterates them) of the elements holding it, in iteration order, so the
//! same elements are visited in the same order. The filter statement stays, so the index only
//! narrows the candidates: a number `e` that finds the string key `"1"` (OPA's lookup of a
//! number in a base document) still fails `r.f == e` as it did. Declined when: the world is
//! open (a query-time `with data.users as …` would make the index stale); the collection is not
//! a plain bundle-owned array/object; some element has a non-string `f`; the filter is not the
//! statement right after the scan (a statement in between could fail on an element the index
//! skips); the compared value is not a string literal or a static `input` reference; a `with`
//! modifies either statement.

use std::collections::BTreeMap;

use regorus::unstable::{AssignOp, BoolOp, Expr, Literal, LiteralStmt, Ref, Rule};

use super::scope;
use super::{name_part, short_hash, Context, Edit, Plan, GENERATED_PREFIX};
use crate::data::json::{self, Kind, RawValue};
use crate::rego::ast;
use crate::rego::facts::DataKind;
use crate::rego::ParsedModule;

pub struct FieldIndex;

impl super::Pass for FieldIndex {
    fn id(&self) -> &'static str {
        "field-index"
    }

    fn describe(&self) -> &'static str {
        "scans of data.P keeping elements with r.f == e -> lookup in an index built at optimize time (closed world)"
    }

    fn plan(&self, m: &ParsedModule, cx: &Context) -> Plan {
        let mut plan = Plan::default();
        let Some(world) = cx.world else {
            return plan;
        };
        for rule in &m.module.policy {
            if matches!(rule.as_ref(), Rule::Default { .. })
                || ast::simple_rule_name(rule).is_some_and(|n| n.starts_with(GENERATED_PREFIX))
            {
                continue;
            }
            for qi in scope::rule_queries(rule) {
                let stmts = &qi.query.stmts;
                for idx in 0..stmts.len() {
                    if let Some(lookup) = field_lookup_at(&stmts[idx]) {
                        plan_field_lookup(m, cx, rule, &qi, idx, lookup, &mut plan);
                        continue;
                    }
                    let Some(scan) = scan_at(&stmts[idx]) else {
                        continue;
                    };
                    let at = ast::stmt_range(&stmts[idx]).0;
                    let filter = stmts.get(idx + 1).and_then(|s| filter_of(s, scan.value));
                    let Some((field, other)) = filter else {
                        // Only report scans that look like a field lookup further on.
                        if stmts[idx + 1..]
                            .iter()
                            .any(|s| filter_of(s, scan.value).is_some())
                        {
                            plan.decline(
                                at,
                                "the field comparison is not the statement right after the scan; a statement in between could fail on an element the index would skip",
                            );
                        }
                        continue;
                    };
                    let reserved = match world.reserved() {
                        Ok(r) => r,
                        Err(why) => {
                            plan.decline(at, why.to_string());
                            continue;
                        }
                    };
                    if !stmts[idx].with_mods.is_empty() || !stmts[idx + 1].with_mods.is_empty() {
                        plan.decline(at, "a `with` modifies the scan or the comparison");
                        continue;
                    }
                    if let Some(why) =
                        scope::binds_root("the scan", scan.key.into_iter().chain([scan.value]))
                    {
                        plan.decline(at, why);
                        continue;
                    }
                    if !independent(other) {
                        plan.decline(
                            at,
                            "the compared value is not a string literal or a static input reference",
                        );
                        continue;
                    }
                    let kind = match cx.facts.plain_base_doc(cx.data, &scan.path) {
                        Ok(k) => k,
                        Err(why) => {
                            plan.decline(at, why);
                            continue;
                        }
                    };
                    if !matches!(kind, DataKind::Array | DataKind::Object) {
                        plan.decline(
                            at,
                            format!(
                                "{} is a {}, not a collection",
                                ast::render_data_path(&scan.path),
                                kind.name()
                            ),
                        );
                        continue;
                    }
                    let Some(raw) = cx.data.json_at(&scan.path) else {
                        plan.decline(at, "the collection's data is not available");
                        continue;
                    };
                    let doc = match build_index(&raw, &field) {
                        Ok(d) => d,
                        Err(why) => {
                            plan.decline(at, why);
                            continue;
                        }
                    };
                    let h = short_hash(&[&scan.path.join("\u{1}"), &field]);
                    let name = format!("idx_{}_{}", name_part(&scan.path), h);
                    let mut idx_path = reserved.to_vec();
                    idx_path.push(name.clone());
                    let var = scan.key.map(str::to_string).unwrap_or_else(|| {
                        format!(
                            "{GENERATED_PREFIX}i_{}",
                            short_hash(&[&m.path, &at.to_string()])
                        )
                    });
                    let (os, oe) = ast::expr_range(other);
                    let (ss, se) = ast::stmt_range(&stmts[idx]);
                    let sep = scope::stmt_sep(&m.text, ss);
                    let p = ast::render_data_path(&scan.path);
                    let replacement = format!(
                        "{var} := {}[{}][_]{sep}{} := {p}[{var}]",
                        ast::render_data_path(&idx_path),
                        &m.text[os..oe],
                        scan.value,
                    );
                    if plan.push_edit(Edit {
                        start: ss,
                        end: se,
                        replacement,
                    }) {
                        plan.generated.push((name, doc));
                    }
                }
            }
        }
        plan
    }
}

/// The statement `data.P[i].f == e` (or `e == data.P[i].f`, `data.P[_]["f"] == e`).
struct FieldLookup<'a> {
    path: Vec<String>,
    /// Source range of the index variable (`_` included).
    var_range: (usize, usize),
    field: String,
    other: &'a Expr,
}

fn field_lookup_at(s: &LiteralStmt) -> Option<FieldLookup<'_>> {
    let (lhs, rhs) = eq_sides(s)?;
    let side = |x: &'_ Expr| -> Option<(Vec<String>, String, usize, usize)> {
        let (inner, field) = match x {
            Expr::RefDot { refr, field, .. } => (refr, field.0.text().to_string()),
            Expr::RefBrack { refr, index, .. } => (refr, ast::string_lit(index)?),
            _ => return None,
        };
        let Expr::RefBrack { refr, index, .. } = inner.as_ref() else {
            return None;
        };
        ast::var_name(index)?;
        let (vs, ve) = ast::expr_range(index);
        Some((ast::data_path(refr)?, field, vs, ve))
    };
    let (found, other) = match side(lhs) {
        Some(f) => (f, rhs.as_ref()),
        None => (side(rhs)?, lhs.as_ref()),
    };
    let (path, field, vs, ve) = found;
    Some(FieldLookup {
        path,
        var_range: (vs, ve),
        field,
        other,
    })
}

/// Plan `data.P[i].f == e`: bind `i` from the index first (`i = IDX[e][_]`), keep the statement.
fn plan_field_lookup(
    m: &ParsedModule,
    cx: &Context,
    rule: &Rule,
    qi: &scope::QueryInfo,
    idx: usize,
    lookup: FieldLookup<'_>,
    plan: &mut Plan,
) {
    let Some(world) = cx.world else { return };
    let stmts = &qi.query.stmts;
    let stmt = &stmts[idx];
    let (ss, se) = ast::stmt_range(stmt);
    let var = &m.text[lookup.var_range.0..lookup.var_range.1];
    if var.starts_with(GENERATED_PREFIX) {
        // Already rewritten (the index variable is regopt's own).
        return;
    }
    let reserved = match world.reserved() {
        Ok(r) => r,
        Err(why) => {
            plan.decline(ss, why.to_string());
            return;
        }
    };
    if !stmt.with_mods.is_empty() {
        plan.decline(ss, "a `with` modifies the comparison");
        return;
    }
    if !independent(lookup.other) {
        plan.decline(
            ss,
            "the compared value is not a string literal or a static input reference",
        );
        return;
    }
    if var != "_" {
        // `i` must be unbound here: no earlier use in this query or around it (a `some i`
        // declaration of this query is fine), not a rule or import name.
        if cx.facts.package_defines(&m.package, var) || m.imports.iter().any(|i| i.name == var) {
            plan.decline(ss, format!("`{var}` names a rule or an import"));
            return;
        }
        let mut allowed: Vec<(usize, usize)> = vec![(ss, qi.range.1.max(se))];
        for s in &stmts[..idx] {
            if let Literal::SomeVars { vars, .. } = &s.literal {
                if vars.iter().any(|v| v.text() == var) {
                    allowed.push(ast::stmt_range(s));
                }
            }
        }
        if scope::occurrence_outside(rule, qi, var, &allowed).is_some() {
            plan.decline(
                ss,
                format!(
                    "`{var}` may be bound before the comparison, so it is a lookup, not a scan"
                ),
            );
            return;
        }
    }
    let kind = match cx.facts.plain_base_doc(cx.data, &lookup.path) {
        Ok(k) => k,
        Err(why) => {
            plan.decline(ss, why);
            return;
        }
    };
    if !matches!(kind, DataKind::Array | DataKind::Object) {
        return;
    }
    let Some(raw) = cx.data.json_at(&lookup.path) else {
        return;
    };
    let doc = match build_index(&raw, &lookup.field) {
        Ok(d) => d,
        Err(why) => {
            plan.decline(ss, why);
            return;
        }
    };
    let h = short_hash(&[&lookup.path.join("\u{1}"), &lookup.field]);
    let name = format!("idx_{}_{}", name_part(&lookup.path), h);
    let mut idx_path = reserved.to_vec();
    idx_path.push(name.clone());
    let (os, oe) = ast::expr_range(lookup.other);
    let sep = scope::stmt_sep(&m.text, ss);
    let index = format!(
        "{}[{}][_]",
        ast::render_data_path(&idx_path),
        &m.text[os..oe]
    );
    let mut group = Vec::new();
    let bind = if var == "_" {
        let fresh = format!(
            "{GENERATED_PREFIX}i_{}",
            short_hash(&[&m.path, &ss.to_string()])
        );
        group.push(Edit {
            start: lookup.var_range.0,
            end: lookup.var_range.1,
            replacement: fresh.clone(),
        });
        format!("{fresh} := {index}")
    } else {
        format!("{var} = {index}")
    };
    // A body written without braces (`allow if data.P[_].f == e`) holds one statement: give it
    // braces so that it can hold two.
    let before = m.text[..ss].trim_end();
    let braceless = stmts.len() == 1
        && before.ends_with("if")
        && before[..before.len() - 2]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
    if braceless {
        group.push(Edit {
            start: ss,
            end: ss,
            replacement: format!("{{ {bind}; "),
        });
        group.push(Edit {
            start: se,
            end: se,
            replacement: " }".to_string(),
        });
    } else {
        group.push(Edit {
            start: ss,
            end: ss,
            replacement: format!("{bind}{sep}"),
        });
    }
    if plan.push_edits(group) {
        plan.generated.push((name, doc));
    }
}

/// A scan statement: `some v in data.P`, `some k, v in data.P` or `v := data.P[_]`.
struct Scan<'a> {
    key: Option<&'a str>,
    value: &'a str,
    path: Vec<String>,
}

fn scan_at(s: &LiteralStmt) -> Option<Scan<'_>> {
    match &s.literal {
        Literal::SomeIn {
            key,
            value,
            collection,
            ..
        } => {
            let value = ast::var_name(value)?;
            let key = match key {
                Some(k) => match ast::var_name(k)? {
                    "_" => None,
                    k => Some(k),
                },
                None => None,
            };
            if value == "_" || key == Some(value) {
                return None;
            }
            Some(Scan {
                key,
                value,
                path: ast::data_path(collection)?,
            })
        }
        Literal::Expr { expr, .. } => {
            let Expr::AssignExpr {
                op: AssignOp::ColEq,
                lhs,
                rhs,
                ..
            } = expr.as_ref()
            else {
                return None;
            };
            let value = ast::var_name(lhs)?;
            let Expr::RefBrack { refr, index, .. } = rhs.as_ref() else {
                return None;
            };
            if ast::var_name(index) != Some("_") || value == "_" {
                return None;
            }
            Some(Scan {
                key: None,
                value,
                path: ast::data_path(refr)?,
            })
        }
        _ => None,
    }
}

/// The two sides of a statement `a == b` (no `not`).
fn eq_sides(s: &LiteralStmt) -> Option<(&Ref<Expr>, &Ref<Expr>)> {
    let Literal::Expr { expr, .. } = &s.literal else {
        return None;
    };
    match expr.as_ref() {
        Expr::BoolExpr {
            op: BoolOp::Eq,
            lhs,
            rhs,
            ..
        } => Some((lhs, rhs)),
        _ => None,
    }
}

/// `v.f == e` or `e == v.f` (also `v["f"]`): (f, e).
fn filter_of<'a>(s: &'a LiteralStmt, v: &str) -> Option<(String, &'a Expr)> {
    let (lhs, rhs) = eq_sides(s)?;
    let field = |x: &Expr| -> Option<String> {
        let p = ast::static_path(x)?;
        (p.len() == 2 && p[0] == v).then(|| p[1].clone())
    };
    if let Some(f) = field(lhs) {
        return Some((f, rhs.as_ref()));
    }
    field(rhs).map(|f| (f, lhs.as_ref()))
}

/// A value that is known before the scan and cannot fail: a string literal or a static
/// reference into `input`.
fn independent(e: &Expr) -> bool {
    if ast::string_lit(e).is_some() {
        return true;
    }
    ast::static_path(e).is_some_and(|p| p.first().map(String::as_str) == Some("input"))
}

/// The index of a collection's elements by their string field `field`: compact JSON
/// `{"value": [position, ...], ...}` with positions in iteration order.
fn build_index(raw: &[u8], field: &str) -> Result<Vec<u8>, String> {
    let v = RawValue::new_unchecked(raw);
    let mut groups: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut add = |pos: &dyn Fn(&mut Vec<u8>), el: RawValue<'_>| -> Result<(), String> {
        if el.kind() != Kind::Object {
            return Ok(());
        }
        let Some(f) = el.get(field) else {
            return Ok(());
        };
        let Some(s) = f.as_str() else {
            return Err(format!(
                "field `{field}` holds a {} in some element; only string fields are indexed",
                crate::bundle::kind_name(f.kind())
            ));
        };
        let list = groups.entry(s.into_owned()).or_default();
        list.push(if list.is_empty() { b'[' } else { b',' });
        pos(list);
        Ok(())
    };
    match v.kind() {
        Kind::Array => {
            for (i, el) in v.elements().enumerate() {
                add(&|out: &mut Vec<u8>| out.extend(i.to_string().bytes()), el)?;
            }
        }
        Kind::Object => {
            let mut members: Vec<(String, RawValue<'_>)> =
                v.members().map(|(k, el)| (k.into_owned(), el)).collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, el) in members {
                add(&|out: &mut Vec<u8>| json::write_string(out, &k), el)?;
            }
        }
        _ => return Err("not a collection".into()),
    }
    for list in groups.values_mut() {
        list.push(b']');
    }
    let mut out = Vec::new();
    json::write_object(
        &mut out,
        groups.iter().map(|(k, list)| (k.as_str(), list.as_slice())),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_of_array_and_object() {
        let a = br#"[{"f":"x"},{"f":"y"},3,{"g":1},{"f":"x"}]"#;
        assert_eq!(
            String::from_utf8(build_index(a, "f").unwrap()).unwrap(),
            r#"{"x":[0,4],"y":[1]}"#
        );
        let o = br#"{"b":{"f":"x"},"a":{"f":"x"},"c":{"f":"z"}}"#;
        assert_eq!(
            String::from_utf8(build_index(o, "f").unwrap()).unwrap(),
            r#"{"x":["a","b"],"z":["c"]}"#
        );
        assert!(build_index(br#"[{"f":1}]"#, "f").is_err());
        assert_eq!(build_index(b"[]", "f").unwrap(), b"{}");
    }
}
