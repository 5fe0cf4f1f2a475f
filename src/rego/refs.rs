//! Which data paths each rule may read: every reference rooted at `data` (directly, through an
//! import, or through the name of a rule of the same package), every call of a user function,
//! reduced to the static prefix of the reference. A dynamic segment (`data.a[x].b`) ends the
//! prefix, so the whole of `data.a` counts as read; the bare `data` reads everything.
//!
//! The result over-approximates: a local variable that happens to share a rule's name counts as a
//! read of that rule. Analyses built on it (pruning, the reserved path, precompute) only ever
//! keep more or rewrite less because of that.

use std::collections::{BTreeSet, HashMap, HashSet};

use regorus::unstable::{Expr, Rule};

use super::ast::{self, Node};
use super::ParsedModule;

/// A data path read by a rule (segments after `data`; empty: the whole of `data`).
pub type DataPath = Vec<String>;

/// Rule names defined per package, over all modules of the bundle.
#[derive(Clone, Debug, Default)]
pub struct PackageRules {
    by_package: HashMap<Vec<String>, HashSet<String>>,
}

impl PackageRules {
    pub fn build(modules: &[ParsedModule]) -> Self {
        let mut by_package: HashMap<Vec<String>, HashSet<String>> = HashMap::new();
        for m in modules {
            let names = by_package.entry(m.package.clone()).or_default();
            for rule in &m.module.policy {
                if let Some(first) = ast::static_prefix(ast::rule_ref(rule)).first() {
                    names.insert(first.clone());
                }
            }
        }
        PackageRules { by_package }
    }

    /// Whether some rule of `package` has the first head segment `name`.
    pub fn defines(&self, package: &[String], name: &str) -> bool {
        self.by_package
            .get(package)
            .is_some_and(|s| s.contains(name))
    }
}

/// Data path a rule defines: its package plus the static prefix of its head
/// (`a.b[x] contains ...` in package `p` defines `p.a.b`).
pub fn rule_path(m: &ParsedModule, rule: &Rule) -> DataPath {
    let mut p = m.package.clone();
    p.extend(ast::static_prefix(ast::rule_ref(rule)));
    p
}

/// How a reference reaches `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// Written `data.…`.
    Data,
    /// Through the import with this name.
    Import(String),
    /// Through the name of a rule of the same package.
    RuleName,
}

/// Resolve the leading static part of a reference to a data path, if it is one.
pub fn resolve(m: &ParsedModule, rules: &PackageRules, prefix: &[String]) -> Option<DataPath> {
    resolve_via(m, rules, prefix).map(|(p, _)| p)
}

/// [`resolve`], also saying how the reference reaches `data`.
pub fn resolve_via(
    m: &ParsedModule,
    rules: &PackageRules,
    prefix: &[String],
) -> Option<(DataPath, Via)> {
    let first = prefix.first()?;
    if first == "data" {
        return Some((prefix[1..].to_vec(), Via::Data));
    }
    if first == "input" {
        return None;
    }
    if let Some(imp) = m.imports.iter().find(|i| &i.name == first) {
        if imp.path.first().map(String::as_str) == Some("data") {
            let mut p = imp.path[1..].to_vec();
            p.extend(prefix[1..].iter().cloned());
            return Some((p, Via::Import(first.clone())));
        }
        return None;
    }
    if rules.defines(&m.package, first) {
        let mut p = m.package.clone();
        p.extend(prefix.iter().cloned());
        return Some((p, Via::RuleName));
    }
    None
}

/// Whether `e` is the root or an inner link of a reference chain (`a` and `a.b` in `a.b.c`).
/// Record the spans of the inner links of a reference chain (`a` and `a.b` in `a.b.c`).
pub fn chain_links(e: &Expr, out: &mut HashSet<(u32, u32)>) {
    match e {
        Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => {
            let s = refr.span();
            out.insert((s.start, s.end));
            chain_links(refr, out);
        }
        _ => {}
    }
}

/// Every data path `rule` may read (sorted, deduplicated, prefixes kept as given).
pub fn rule_reads(m: &ParsedModule, rules: &PackageRules, rule: &Rule) -> BTreeSet<DataPath> {
    reads_of(m, rules, |f| ast::walk_rule(rule, f))
}

/// Every data path an expression (e.g. a comprehension) may read, as [`rule_reads`].
pub fn expr_reads(
    m: &ParsedModule,
    rules: &PackageRules,
    e: &regorus::unstable::Ref<Expr>,
) -> BTreeSet<DataPath> {
    reads_of(m, rules, |f| ast::walk_expr(e, f))
}

/// Every data path the nodes `walk` visits may read, as [`rule_reads`].
pub fn reads_of<'a>(
    m: &ParsedModule,
    rules: &PackageRules,
    walk: impl FnOnce(&mut dyn FnMut(Node<'a>)),
) -> BTreeSet<DataPath> {
    let mut out = BTreeSet::new();
    // Inner links of reference chains are covered by the whole chain; skip them.
    let mut inner: HashSet<(u32, u32)> = HashSet::new();
    walk(&mut |n| {
        let Node::Expr(e) = n else { return };
        let s = e.span();
        if inner.contains(&(s.start, s.end))
            && matches!(
                e.as_ref(),
                Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. }
            )
        {
            chain_links(e, &mut inner);
            return;
        }
        match e.as_ref() {
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => {
                chain_links(e, &mut inner);
                let prefix = ast::static_prefix(e);
                if let Some(p) = resolve(m, rules, &prefix) {
                    out.insert(p);
                }
            }
            Expr::Call { fcn, .. } => {
                // The function part is walked as an expression too; a user function in this
                // package or under data is resolved there. Nothing more to do here.
                let _ = fcn;
            }
            _ => {}
        }
    });
    out
}

/// Every data path any rule of the module may read.
pub fn module_reads(m: &ParsedModule, rules: &PackageRules) -> BTreeSet<DataPath> {
    let mut out = BTreeSet::new();
    for rule in &m.module.policy {
        out.extend(rule_reads(m, rules, rule));
    }
    out
}

/// Whether two data paths overlap (one is a prefix of the other).
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Why `reserved` cannot hold regopt's generated documents, if it cannot: some rule reads a
/// proper prefix of it as a whole (so the generated documents would show up in its value), a
/// rule defines a path overlapping it, or an entrypoint is a prefix of it. A package above it
/// alone is no conflict: only reading the package's document as a whole would show them, and
/// that is a read (or an entrypoint) checked here.
pub fn reserved_conflict(
    modules: &[ParsedModule],
    reserved: &[String],
    entrypoints: &[DataPath],
) -> Option<String> {
    let rules = PackageRules::build(modules);
    for m in modules {
        for rule in &m.module.policy {
            let defined = rule_path(m, rule);
            if overlaps(&defined, reserved) {
                return Some(format!(
                    "a rule in {} defines {}, which overlaps {}",
                    m.path,
                    ast::render_data_path(&defined),
                    ast::render_data_path(reserved)
                ));
            }
            for read in rule_reads(m, &rules, rule) {
                if read.len() < reserved.len() && reserved.starts_with(&read) {
                    let (line, _) = m.line_col(ast::rule_range(rule).0);
                    return Some(format!(
                        "{}:{line} reads {} as a whole, which would include {}",
                        m.path,
                        ast::render_data_path(&read),
                        ast::render_data_path(reserved)
                    ));
                }
            }
        }
    }
    if let Some(e) = entrypoints
        .iter()
        .find(|e| e.len() < reserved.len() && reserved.starts_with(e))
    {
        return Some(format!(
            "entrypoint {} contains {}",
            ast::render_data_path(e),
            ast::render_data_path(reserved)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rego::{parse_module, ModuleSource, RegoVersion};

    fn parsed(text: &str) -> ParsedModule {
        parse_module(&ModuleSource::new(
            "p.rego".to_string(),
            text.to_string(),
            RegoVersion::V1,
        ))
        .unwrap()
    }

    fn reads(text: &str) -> Vec<String> {
        let m = parsed(text);
        let rules = PackageRules::build(std::slice::from_ref(&m));
        module_reads(&m, &rules)
            .into_iter()
            .map(|p| p.join("."))
            .collect()
    }

    #[test]
    fn static_dynamic_import_and_local_rule_reads() {
        let r = reads(
            "package p\nimport data.lib as l\nimport data.users\n\
             a := data.x.y.z\nb if data.m[input.k].n == 1\nc := l.f(1)\n\
             d if users[_].admin\ne if a\nf := object.get(data.o, \"k\", 1)\n",
        );
        assert_eq!(
            r,
            vec!["lib.f", "m", "o", "p.a", "p.b", "p.c", "p.d", "p.e", "p.f", "users", "x.y.z"]
        );
    }

    #[test]
    fn bare_data_reads_everything() {
        assert!(reads("package p\na := data\n").contains(&String::new()));
        assert!(reads("package p\na := data[input.k]\n").contains(&String::new()));
    }

    #[test]
    fn reserved_path_conflicts() {
        let m = parsed("package p\na := data.rules[input.k]\nb := data.other.__regopt__.x\n");
        let ok = reserved_conflict(
            std::slice::from_ref(&m),
            &["other".into(), "__regopt__".into()],
            &[],
        );
        assert_eq!(ok, None);
        let m2 = parsed("package p\na := data.rules\n");
        let bad = reserved_conflict(
            std::slice::from_ref(&m2),
            &["rules".into(), "__regopt__".into()],
            &[],
        );
        assert!(bad.unwrap().contains("reads data.rules as a whole"));
        let m3 = parsed("package rules\n__regopt__ := 1\n");
        assert!(reserved_conflict(
            std::slice::from_ref(&m3),
            &["rules".into(), "__regopt__".into()],
            &[]
        )
        .is_some());
        assert!(
            reserved_conflict(&[], &["r".into(), "__regopt__".into()], &[vec!["r".into()]])
                .is_some()
        );
    }
}
