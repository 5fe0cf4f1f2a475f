//! `regopt check`: finds every costly access to a data subtree (one OPA converts to AST per query:
//! passing it to a user function, iterating, comparing or feeding it to whole-object builtins),
//! rates it by the subtree's size, and says which pass rewrites it or why none does. Renders
//! findings as text, JSON (serde) or a minimal SARIF 2.1.0 log.

use regorus::unstable::{BoolOp, Expr, Literal};
use serde::Serialize;

use crate::passes::{self, PassOptions, PASSES};
use crate::rego::ast::{self, Node};
use crate::rego::{BundleFacts, DataView, ModuleSource, ParsedModule};

/// How much a finding matters, from the size of the data subtree it copies per query.
/// Thresholds: `error` from 1 MiB, `warning` from 64 KiB, `info` below. `object.get` is at
/// most `info`: OPA ≥ 0.60 reads it lazily (≈0.08 ms at 15 MB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// Parse `info|warning|error` (for `--fail-on`).
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// Size at which a finding becomes a warning (bytes).
pub const WARNING_BYTES: u64 = 64 * 1024;
/// Size at which a finding becomes an error (bytes).
pub const ERROR_BYTES: u64 = 1024 * 1024;

/// One costly data access.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// Pattern id: `object-get`, `data-arg`, `iteration`, `membership`, `object-keys`,
    /// `whole-builtin`, `comparison`, `alias`.
    pub pattern: String,
    /// The source text of the access (cut to 120 characters).
    pub snippet: String,
    /// The data subtree, as Rego (`data.rules`).
    pub data_path: String,
    pub bytes: Option<u64>,
    pub keys: Option<u64>,
    pub severity: Severity,
    /// Id of the pass that rewrites this access, if one does.
    pub rewritten_by: Option<String>,
    /// Why no pass rewrites it.
    pub not_rewritten_because: Option<String>,
}

const WHOLE_BUILTINS: &[&[&str]] = &[
    &["object", "union"],
    &["object", "union_n"],
    &["object", "filter"],
    &["object", "remove"],
    &["object", "subset"],
    &["json", "filter"],
    &["json", "remove"],
    &["json", "patch"],
    &["walk"],
    &["count"],
];

fn severity(pattern: &str, bytes: Option<u64>) -> Severity {
    let b = bytes.unwrap_or(0);
    let s = if b >= ERROR_BYTES {
        Severity::Error
    } else if b >= WARNING_BYTES {
        Severity::Warning
    } else {
        Severity::Info
    };
    if pattern == "object-get" {
        Severity::Info
    } else {
        s
    }
}

struct Raw {
    range: (usize, usize),
    pattern: &'static str,
    path: Vec<String>,
}

fn scan_module(m: &ParsedModule, facts: &BundleFacts, data: &dyn DataView) -> Vec<Raw> {
    let mut out = Vec::new();
    let is_base = |p: &[String]| !p.is_empty() && data.kind_at(p).is_some();
    for rule in &m.module.policy {
        if ast::simple_rule_name(rule).is_some_and(|n| n.starts_with(passes::GENERATED_PREFIX)) {
            continue;
        }
        ast::walk_rule(rule, &mut |n| match n {
            Node::Expr(e) => {
                let range = ast::expr_range(e);
                match e.as_ref() {
                    Expr::Call { fcn, params, .. } => {
                        let Some(name) = ast::static_path(fcn) else {
                            return;
                        };
                        let name_ref: Vec<&str> = name.iter().map(String::as_str).collect();
                        for (i, p) in params.iter().enumerate() {
                            let Some(path) = ast::data_path(p) else {
                                continue;
                            };
                            if !is_base(&path) {
                                continue;
                            }
                            let pattern = if name_ref == ["object", "get"] && i == 0 {
                                "object-get"
                            } else if name_ref == ["object", "keys"] {
                                "object-keys"
                            } else if WHOLE_BUILTINS.contains(&name_ref.as_slice()) {
                                "whole-builtin"
                            } else if is_user_function(m, facts, &name) {
                                "data-arg"
                            } else {
                                continue;
                            };
                            out.push(Raw {
                                range,
                                pattern,
                                path,
                            });
                        }
                    }
                    Expr::BoolExpr {
                        op: BoolOp::Eq | BoolOp::Ne,
                        lhs,
                        rhs,
                        ..
                    } => {
                        for side in [lhs, rhs] {
                            if let Some(path) = ast::data_path(side).filter(|p| is_base(p)) {
                                out.push(Raw {
                                    range,
                                    pattern: "comparison",
                                    path,
                                });
                            }
                        }
                    }
                    Expr::Membership { collection, .. } => {
                        if let Some(path) = ast::data_path(collection).filter(|p| is_base(p)) {
                            out.push(Raw {
                                range,
                                pattern: "membership",
                                path,
                            });
                        }
                    }
                    Expr::AssignExpr { lhs, rhs, .. } if ast::var_name(lhs).is_some() => {
                        if let Some(path) = ast::data_path(rhs).filter(|p| is_base(p)) {
                            out.push(Raw {
                                range,
                                pattern: "alias",
                                path,
                            });
                        }
                    }
                    _ => {}
                }
            }
            Node::Stmt(s) => {
                if let Literal::SomeIn { collection, .. } = &s.literal {
                    if let Some(path) = ast::data_path(collection).filter(|p| is_base(p)) {
                        out.push(Raw {
                            range: ast::stmt_range(s),
                            pattern: "iteration",
                            path,
                        });
                    }
                }
            }
            Node::Query(_) => {}
        });
    }
    out
}

fn is_user_function(m: &ParsedModule, facts: &BundleFacts, name: &[String]) -> bool {
    let Some((last, prefix)) = name.split_last() else {
        return false;
    };
    let pkg: Option<Vec<String>> = match prefix.first().map(String::as_str) {
        None => Some(m.package.clone()),
        Some("data") => Some(prefix[1..].to_vec()),
        Some(first) => m.imports.iter().find(|i| i.name == first).and_then(|i| {
            (i.path.first().map(String::as_str) == Some("data")).then(|| {
                let mut p = i.path[1..].to_vec();
                p.extend(prefix[1..].iter().cloned());
                p
            })
        }),
    };
    pkg.is_some_and(|p| facts.package_defines(&p, last))
}

/// Every costly data access in the modules, with whether (and by which pass) `optimize`
/// rewrites it. Modules that do not parse are skipped (the pass decline reasons then say so).
pub fn check(modules: &[ModuleSource], data: &dyn DataView) -> Vec<Finding> {
    let (parsed, bad) = passes::parse_all(modules);
    let facts = BundleFacts::build(&parsed, &bad);
    let plans = passes::plan_all(&parsed, data, &facts, &PassOptions::default());
    let mut out = Vec::new();
    for (m, plans) in parsed.iter().zip(&plans) {
        for raw in scan_module(m, &facts, data) {
            let (s, e) = raw.range;
            let (line, col) = m.line_col(s);
            let size = data.size_at(&raw.path);
            let mut rewritten_by = None;
            let mut because = None;
            for (pi, plan) in plans {
                if plan
                    .edits
                    .iter()
                    .any(|x| x.start < x.end && x.start < e && s < x.end)
                    || plan.pending.iter().any(|x| x.0 < e && s < x.1)
                {
                    rewritten_by = Some(PASSES[*pi].id().to_string());
                    break;
                }
                if because.is_none() {
                    if let Some(d) = plan.declined.iter().find(|d| d.at >= s && d.at < e) {
                        because = Some(format!("{}: {}", PASSES[*pi].id(), d.reason));
                    }
                }
            }
            if rewritten_by.is_some() {
                because = None;
            } else if because.is_none() {
                because = Some(match raw.pattern {
                    "whole-builtin" | "comparison" | "membership" => {
                        "no pass rewrites this pattern: it needs the whole subtree".to_string()
                    }
                    _ => "no pass applies to this form".to_string(),
                });
            }
            let mut snippet: String = m.text[s..e].chars().take(120).collect();
            if snippet.len() < e - s {
                snippet.push('…');
            }
            out.push(Finding {
                file: m.path.clone(),
                line,
                col,
                pattern: raw.pattern.to_string(),
                snippet,
                data_path: ast::render_data_path(&raw.path),
                bytes: size.map(|x| x.0),
                keys: size.map(|x| x.1),
                severity: severity(raw.pattern, size.map(|x| x.0)),
                rewritten_by,
                not_rewritten_because: because,
            });
        }
    }
    out
}

/// Human-readable listing, one finding per line plus a summary.
pub fn render_pretty(findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let size = match (f.bytes, f.keys) {
            (Some(b), Some(k)) => format!(" ({b} bytes, {k} keys)"),
            _ => String::new(),
        };
        let fate = match (&f.rewritten_by, &f.not_rewritten_because) {
            (Some(p), _) => format!("optimize rewrites it ({p})"),
            (None, Some(why)) => format!("not rewritten: {why}"),
            (None, None) => "not rewritten".to_string(),
        };
        s.push_str(&format!(
            "{}:{}:{}: {}: {} on {}{}: `{}` — {}\n",
            f.file,
            f.line,
            f.col,
            f.severity.name(),
            f.pattern,
            f.data_path,
            size,
            f.snippet.replace('\n', " "),
            fate
        ));
    }
    let count = |sev| findings.iter().filter(|f| f.severity == sev).count();
    s.push_str(&format!(
        "{} findings: {} error, {} warning, {} info; {} rewritable by `regopt optimize`\n",
        findings.len(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        findings.iter().filter(|f| f.rewritten_by.is_some()).count()
    ));
    s
}

/// A minimal valid SARIF 2.1.0 log of the findings.
pub fn to_sarif(findings: &[Finding]) -> serde_json::Value {
    use serde_json::json;
    let mut rule_ids: Vec<&str> = findings.iter().map(|f| f.pattern.as_str()).collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<_> = rule_ids
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "shortDescription": { "text": format!("costly data access: {id}") }
            })
        })
        .collect();
    let results: Vec<_> = findings
        .iter()
        .map(|f| {
            let level = match f.severity {
                Severity::Info => "note",
                Severity::Warning => "warning",
                Severity::Error => "error",
            };
            let fate = match (&f.rewritten_by, &f.not_rewritten_because) {
                (Some(p), _) => format!("rewritten by pass {p}"),
                (None, Some(w)) => format!("not rewritten: {w}"),
                _ => "not rewritten".into(),
            };
            json!({
                "ruleId": f.pattern,
                "level": level,
                "message": { "text": format!("{} on {} ({} bytes): {}", f.pattern, f.data_path, f.bytes.unwrap_or(0), fate) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": f.file },
                        "region": { "startLine": f.line, "startColumn": f.col }
                    }
                }]
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": { "name": "regopt", "rules": rules } },
            "results": results
        }]
    })
}
