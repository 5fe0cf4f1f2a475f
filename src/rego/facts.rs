//! Whole-bundle facts the passes rely on: the data view (kinds and sizes of base documents,
//! supplied by the caller), which data paths rules define, where `with` replaces data, input or
//! functions, and which modules failed to parse (then no whole-bundle fact can be trusted).

use std::collections::HashMap;

use regorus::unstable::{Expr, Rule};
use serde::{Deserialize, Serialize};

use super::ast::{self, Node};
use super::ParsedModule;

/// JSON kind of a base document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl DataKind {
    pub fn name(self) -> &'static str {
        match self {
            DataKind::Null => "null",
            DataKind::Bool => "boolean",
            DataKind::Number => "number",
            DataKind::String => "string",
            DataKind::Array => "array",
            DataKind::Object => "object",
        }
    }
}

/// What the passes may ask about the bundle's data. Paths are segments after `data`; each
/// segment is an object key (navigating through a non-object gives None).
pub trait DataView: Sync {
    /// JSON kind of the base document at `path` as stored in this bundle's data files; None when
    /// no data file defines that path.
    fn kind_at(&self, path: &[String]) -> Option<DataKind>;
    /// (serialized bytes, number of keys/elements) of that document, for reports.
    fn size_at(&self, path: &[String]) -> Option<(u64, u64)>;
    /// Whether `path` is inside the bundle's manifest roots (bundle-owned).
    fn owned(&self, path: &[String]) -> bool;
    /// Compact JSON text of the base document at `path` (number text as stored), for passes
    /// that build documents from the data (indexes). None when no data file defines it.
    fn json_at(&self, path: &[String]) -> Option<Vec<u8>> {
        let _ = path;
        None
    }
}

/// In-memory `DataView` over one JSON document (the merged `data` of a bundle). Every path is
/// owned unless `roots` is set.
#[derive(Clone, Debug)]
pub struct JsonDataView {
    pub data: serde_json::Value,
    /// Manifest roots as segment lists; None means the whole data tree is owned.
    pub roots: Option<Vec<Vec<String>>>,
}

impl JsonDataView {
    pub fn new(data: serde_json::Value) -> Self {
        Self { data, roots: None }
    }

    fn get(&self, path: &[String]) -> Option<&serde_json::Value> {
        let mut v = &self.data;
        for seg in path {
            v = v.as_object()?.get(seg)?;
        }
        Some(v)
    }
}

impl DataView for JsonDataView {
    fn kind_at(&self, path: &[String]) -> Option<DataKind> {
        Some(match self.get(path)? {
            serde_json::Value::Null => DataKind::Null,
            serde_json::Value::Bool(_) => DataKind::Bool,
            serde_json::Value::Number(_) => DataKind::Number,
            serde_json::Value::String(_) => DataKind::String,
            serde_json::Value::Array(_) => DataKind::Array,
            serde_json::Value::Object(_) => DataKind::Object,
        })
    }

    fn size_at(&self, path: &[String]) -> Option<(u64, u64)> {
        let v = self.get(path)?;
        let bytes = serde_json::to_vec(v).map(|b| b.len() as u64).unwrap_or(0);
        let n = match v {
            serde_json::Value::Array(a) => a.len() as u64,
            serde_json::Value::Object(o) => o.len() as u64,
            _ => 0,
        };
        Some((bytes, n))
    }

    fn json_at(&self, path: &[String]) -> Option<Vec<u8>> {
        serde_json::to_vec(self.get(path)?).ok()
    }

    fn owned(&self, path: &[String]) -> bool {
        match &self.roots {
            None => true,
            Some(roots) => roots.iter().any(|r| path.starts_with(r)),
        }
    }
}

/// A `with` modifier anywhere in the bundle, its target resolved through imports
/// (`["data","rules"]`, `["input"]`, `["object","get"]`, `["f"]`).
#[derive(Clone, Debug, Serialize)]
pub struct WithTarget {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub target: Vec<String>,
}

/// A data path defined by a rule or package (segments after `data`).
#[derive(Clone, Debug, Serialize)]
pub struct DefinedPath {
    pub path: Vec<String>,
    pub file: String,
}

/// Facts gathered from all modules of the bundle.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BundleFacts {
    /// (file, reason) of modules that could not be parsed.
    pub unparsed: Vec<(String, String)>,
    /// Data paths that packages and rule heads define (static prefixes).
    pub defined: Vec<DefinedPath>,
    pub with_targets: Vec<WithTarget>,
    /// Package path -> rule name -> files defining a rule of that name there.
    pub rules_by_package: HashMap<Vec<String>, HashMap<String, Vec<String>>>,
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

impl BundleFacts {
    /// Collect facts from the parsed modules; `unparsed` lists modules that failed to parse.
    pub fn build(modules: &[ParsedModule], unparsed: &[(String, String)]) -> Self {
        let mut f = BundleFacts {
            unparsed: unparsed.to_vec(),
            ..Default::default()
        };
        for m in modules {
            // The package itself: any rule in it makes data.<package> virtual; stay conservative.
            f.defined.push(DefinedPath {
                path: m.package.clone(),
                file: m.path.clone(),
            });
            for rule in &m.module.policy {
                let prefix = ast::static_prefix(ast::rule_ref(rule));
                let mut p = m.package.clone();
                p.extend(prefix.iter().cloned());
                if let Some(first) = prefix.first() {
                    f.rules_by_package
                        .entry(m.package.clone())
                        .or_default()
                        .entry(first.clone())
                        .or_default()
                        .push(m.path.clone());
                }
                f.defined.push(DefinedPath {
                    path: p,
                    file: m.path.clone(),
                });
                collect_withs(m, rule, &mut f.with_targets);
            }
        }
        f
    }

    /// Why whole-bundle reasoning is impossible (a module failed to parse), if it is.
    pub fn unparsed_reason(&self) -> Option<String> {
        self.unparsed
            .first()
            .map(|(file, why)| format!("module {file} could not be parsed: {why}"))
    }

    /// Ok when `data.<path>` is a bundle-owned base document of kind object that no rule extends
    /// and no `with` can replace; otherwise the reason it is not.
    pub fn plain_base_object(&self, data: &dyn DataView, path: &[String]) -> Result<(), String> {
        self.plain_base_doc(data, path).and_then(|k| {
            if k == DataKind::Object {
                Ok(())
            } else {
                let article = if k == DataKind::Array { "an" } else { "a" };
                Err(format!(
                    "{} is {article} {}, not an object",
                    ast::render_data_path(path),
                    k.name()
                ))
            }
        })
    }

    /// Ok(kind) when `data.<path>` is a defined, bundle-owned base document that no rule
    /// extends and no `with` can replace; otherwise the reason it is not.
    pub fn plain_base_doc(&self, data: &dyn DataView, path: &[String]) -> Result<DataKind, String> {
        if let Some(r) = self.unparsed_reason() {
            return Err(r);
        }
        let shown = ast::render_data_path(path);
        if path.is_empty() {
            return Err("the data root mixes all documents".into());
        }
        if !data.owned(path) {
            return Err(format!("{shown} is outside the bundle's manifest roots"));
        }
        let Some(kind) = data.kind_at(path) else {
            return Err(format!("no data file of the bundle defines {shown}"));
        };
        if let Some(d) = self.defined.iter().find(|d| overlaps(&d.path, path)) {
            return Err(format!(
                "{} (package or rule in {}) overlaps {shown}, so it mixes base and virtual documents",
                ast::render_data_path(&d.path),
                d.file
            ));
        }
        if let Some(w) = self.with_targets.iter().find(|w| {
            w.target.first().map(String::as_str) == Some("data") && overlaps(&w.target[1..], path)
        }) {
            return Err(format!(
                "`with {}` at {}:{}:{} may replace {shown}",
                w.target.join("."),
                w.file,
                w.line,
                w.col
            ));
        }
        Ok(kind)
    }

    /// A `with` that may replace a function whose last name segment is `name` (builtins such as
    /// `object.get` are matched on their full name as well).
    pub fn function_mocked(&self, name: &[&str]) -> Option<&WithTarget> {
        let last = name.last().copied().unwrap_or_default();
        self.with_targets.iter().find(|w| {
            let t: Vec<&str> = w.target.iter().map(String::as_str).collect();
            t == name || (t.first() != Some(&"input") && t.last() == Some(&last))
        })
    }

    /// Files (other than `file`) that define a rule named `name` in `package`.
    pub fn other_definers(&self, package: &[String], name: &str, file: &str) -> Vec<String> {
        self.rules_by_package
            .get(package)
            .and_then(|m| m.get(name))
            .map(|v| v.iter().filter(|f| *f != file).cloned().collect())
            .unwrap_or_default()
    }

    /// Whether any module of `package` defines a rule named `name`.
    pub fn package_defines(&self, package: &[String], name: &str) -> bool {
        self.rules_by_package
            .get(package)
            .is_some_and(|m| m.contains_key(name))
    }
}

fn collect_withs(m: &ParsedModule, rule: &Rule, out: &mut Vec<WithTarget>) {
    ast::walk_rule(rule, &mut |n| {
        if let Node::Stmt(s) = n {
            for w in &s.with_mods {
                let mut target = ast::static_prefix(&w.refr);
                if let Some(first) = target.first() {
                    if first != "data" && first != "input" {
                        if let Some(imp) = m.imports.iter().find(|i| &i.name == first) {
                            let mut t = imp.path.clone();
                            t.extend(target[1..].iter().cloned());
                            target = t;
                        }
                    }
                }
                let (line, col) = m.line_col(w.span.start as usize);
                out.push(WithTarget {
                    file: m.path.clone(),
                    line,
                    col,
                    target,
                });
            }
        }
    });
}

/// Whether `e` is a call to the builtin `name` (e.g. `["object","get"]`).
pub fn is_builtin_call<'a>(
    e: &'a Expr,
    name: &[&str],
) -> Option<&'a [regorus::unstable::Ref<Expr>]> {
    let (n, params) = ast::call_name(e)?;
    if n.iter().map(String::as_str).eq(name.iter().copied()) {
        Some(params)
    } else {
        None
    }
}
