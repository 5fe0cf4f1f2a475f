//! Data pruning in a closed world (`--prune-data` with entrypoints): drop every data document no
//! entrypoint can read.
//!
//! The dependency closure starts at the entrypoints: every rule (over all modules, as their text
//! stands after the passes) whose path overlaps a path of the worklist is reached, and every data
//! path it may read ([`refs::rule_reads`]: static prefixes, so `data.a[x].b` reads all of
//! `data.a` and `data[x]` or a bare `data` reads everything; `with data.x as` targets count as
//! reads) joins the worklist. Kept are the paths of the worklist plus the path of every rule
//! (base data at a rule's path decides whether OPA loads the bundle at all, so it stays).
//!
//! For the data itself each reference of a reached rule counts with its full pattern, dynamic
//! segments as wildcards (`data.users[x].name` reads `users.*.name`: field-level pruning; a
//! reference stopping at an element, `data.users[x]`, keeps elements whole). A data document at
//! path `p` is kept whole when a kept pattern matches a prefix of `p`, descended into when `p`
//! matches a proper prefix of a kept pattern (only objects are; anything else is kept whole),
//! and dropped otherwise. Kept members are copied byte for byte (key and value text as
//! written). Files are never deleted: one whose content is all dropped holds `{}`. A `data.yaml`
//! file is kept whole (regopt writes YAML byte for byte), and a note says so. Nothing is pruned
//! when a module could not be parsed.

use std::collections::{BTreeSet, VecDeque};

use serde::Serialize;

use crate::bundle::{Bundle, FileKind};
use crate::data::json::{Kind, RawValue};
use crate::passes::{self, ClosedWorld};
use crate::rego::ast;
use crate::rego::refs::{self, DataPath, PackageRules};
use crate::rego::{ModuleSource, ParsedModule};
use regorus::unstable::Expr;

/// How many dropped paths the report lists (the count covers all).
pub const MAX_LISTED: usize = 100;

/// What pruning did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneReport {
    /// Why nothing was pruned, if so.
    pub refused: Option<String>,
    /// Rules reached from the entrypoints, of all rules.
    pub rules_reached: usize,
    pub rules_total: usize,
    /// Number of read patterns kept (reads of reached rules with dynamic segments as
    /// wildcards, entrypoints, rule paths).
    pub kept_paths: usize,
    /// The topmost dropped documents, as Rego references (at most [`MAX_LISTED`]).
    pub dropped: Vec<String>,
    /// Number of topmost dropped documents.
    pub dropped_count: usize,
    /// Data files kept whole because they are YAML although some of their data is unreachable.
    pub yaml_kept: Vec<String>,
    /// Compact data bytes before and after pruning (`data.json` files).
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub bytes_saved: u64,
}

/// What to do with the document at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Keep,
    Drop,
    Descend,
}

/// Rewrite one document: members of objects the decision descends into are copied (key text as
/// written) unless dropped. `path` is the document's full data path. Dropped paths are pushed to
/// `dropped`. Returns whether anything was dropped.
pub(crate) fn filter_value(
    v: RawValue<'_>,
    path: &mut Vec<String>,
    decide: &dyn Fn(&[String]) -> Action,
    out: &mut Vec<u8>,
    dropped: &mut Vec<DataPath>,
) -> bool {
    if v.kind() != Kind::Object || decide(path) != Action::Descend {
        out.extend_from_slice(v.as_bytes());
        return false;
    }
    let mut any = false;
    let mut first = true;
    out.push(b'{');
    for (raw_key, member) in v.members_raw_keys() {
        path.push(crate::data::json::decode_string(raw_key).into_owned());
        match decide(path) {
            Action::Drop => {
                dropped.push(path.clone());
                any = true;
            }
            action => {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.push(b'"');
                out.extend_from_slice(raw_key);
                out.extend_from_slice(b"\":");
                if action == Action::Keep {
                    out.extend_from_slice(member.as_bytes());
                } else {
                    any |= filter_value(member, path, decide, out, dropped);
                }
            }
        }
        path.pop();
    }
    out.push(b'}');
    any
}

/// Filter a whole data file (its document is mounted at `mount`). None when nothing is dropped;
/// else the new compact bytes (`{}` when the whole document goes) and the dropped paths.
pub(crate) fn filter_file(
    value: RawValue<'_>,
    mount: &[String],
    decide: &dyn Fn(&[String]) -> Action,
) -> Option<(Vec<u8>, Vec<DataPath>)> {
    let mut dropped = Vec::new();
    let mut out = Vec::with_capacity(value.as_bytes().len());
    match decide(mount) {
        Action::Keep => return None,
        Action::Drop => {
            if value.kind() == Kind::Object && value.is_empty() {
                return None;
            }
            dropped.push(mount.to_vec());
            out.extend_from_slice(b"{}");
        }
        Action::Descend => {
            let mut path = mount.to_vec();
            if !filter_value(value, &mut path, decide, &mut out, &mut dropped) {
                return None;
            }
        }
    }
    Some((out, dropped))
}

/// Whether some path of `set` is a proper extension of `p`.
pub(crate) fn has_extension(set: &BTreeSet<DataPath>, p: &[String]) -> bool {
    set.range(p.to_vec()..)
        .take_while(|k| k.starts_with(p))
        .any(|k| k.len() > p.len())
}

/// The data paths the entrypoints may read.
pub fn closure(parsed: &[ParsedModule], entrypoints: &[DataPath]) -> Closure {
    let rules = PackageRules::build(parsed);
    let mut all: Vec<(DataPath, &ParsedModule, &regorus::unstable::Rule)> = Vec::new();
    for m in parsed {
        for r in &m.module.policy {
            all.push((refs::rule_path(m, r), m, r));
        }
    }
    let mut kept: BTreeSet<DataPath> = BTreeSet::new();
    let mut work: VecDeque<DataPath> = VecDeque::new();
    for e in entrypoints {
        if kept.insert(e.clone()) {
            work.push_back(e.clone());
        }
    }
    let mut reached = vec![false; all.len()];
    let mut n_reached = 0;
    while let Some(p) = work.pop_front() {
        for (i, (defined, m, rule)) in all.iter().enumerate() {
            if reached[i] || !refs::overlaps(defined, &p) {
                continue;
            }
            reached[i] = true;
            n_reached += 1;
            for read in refs::rule_reads(m, &rules, rule) {
                if kept.insert(read.clone()) {
                    work.push_back(read);
                }
            }
        }
    }
    for (defined, _, _) in &all {
        kept.insert(defined.clone());
    }
    let mut patterns: BTreeSet<Pattern> = BTreeSet::new();
    for e in entrypoints {
        patterns.insert(e.iter().cloned().map(Some).collect());
    }
    for (i, (defined, m, rule)) in all.iter().enumerate() {
        patterns.insert(defined.iter().cloned().map(Some).collect());
        if !reached[i] {
            continue;
        }
        let (uses, withs) = crate::dedup::rule_uses(m, &rules, rule);
        for u in uses {
            patterns.insert(use_pattern(u.expr, &u.path));
        }
        for w in withs {
            patterns.insert(w.into_iter().map(Some).collect());
        }
    }
    Closure {
        kept,
        patterns: Patterns::new(patterns),
        reached: n_reached,
        total: all.len(),
    }
}

/// A data path with wildcards (`None`) where a reference indexes dynamically.
pub type Pattern = Vec<Option<String>>;

/// The segments of a reference chain after its root (`None` for a dynamic index).
fn chain_segments(e: &Expr) -> Vec<Option<String>> {
    match e {
        Expr::RefDot { refr, field, .. } => {
            let mut v = chain_segments(refr);
            v.push(Some(field.0.text().to_string()));
            v
        }
        Expr::RefBrack { refr, index, .. } => {
            let mut v = chain_segments(refr);
            v.push(ast::string_lit(index));
            v
        }
        _ => Vec::new(),
    }
}

/// The full pattern a reference reads: its resolved static prefix, then every further segment
/// (`data.users[x].name` reads `users.*.name`; `data.users[x]` reads `users.*` whole).
fn use_pattern(e: &Expr, resolved: &[String]) -> Pattern {
    let static_len = ast::static_prefix(e).len().saturating_sub(1);
    let segs = chain_segments(e);
    let mut p: Pattern = resolved.iter().cloned().map(Some).collect();
    p.extend(segs.into_iter().skip(static_len));
    p
}

/// Read patterns as a trie (wildcard edges for dynamic segments).
#[derive(Debug, Default)]
pub struct Patterns {
    root: Node,
    count: usize,
}

#[derive(Debug, Default)]
struct Node {
    /// A pattern ends here.
    terminal: bool,
    children: std::collections::HashMap<String, Node>,
    any: Option<Box<Node>>,
}

impl Patterns {
    fn new(all: BTreeSet<Pattern>) -> Self {
        let mut out = Patterns {
            count: all.len(),
            ..Patterns::default()
        };
        for p in all {
            let mut n = &mut out.root;
            for seg in p {
                n = match seg {
                    Some(s) => n.children.entry(s).or_default(),
                    None => n.any.get_or_insert_with(Box::default),
                };
            }
            n.terminal = true;
        }
        out
    }

    /// Keep when a pattern matches a prefix of `p`; descend when `p` matches a proper prefix
    /// of a pattern; else drop.
    fn action(&self, p: &[String]) -> Action {
        if self.root.terminal {
            return Action::Keep;
        }
        let mut current: Vec<&Node> = vec![&self.root];
        for seg in p {
            let mut next: Vec<&Node> = Vec::new();
            for n in current {
                next.extend(n.children.get(seg));
                next.extend(n.any.as_deref());
            }
            if next.iter().any(|n| n.terminal) {
                return Action::Keep;
            }
            if next.is_empty() {
                return Action::Drop;
            }
            current = next;
        }
        Action::Descend
    }
}

/// What the entrypoints may read.
pub struct Closure {
    /// Static prefixes of every read of a reached rule, entrypoints and rule paths.
    pub kept: BTreeSet<DataPath>,
    /// The same reads with their dynamic segments as wildcards (field-level pruning).
    pub patterns: Patterns,
    pub reached: usize,
    pub total: usize,
}

/// Prune the bundle's data against the closure of `world`'s entrypoints, reading the modules
/// as `modules` has them.
pub fn run(bundle: &mut Bundle, modules: &[ModuleSource], world: &ClosedWorld) -> PruneReport {
    let mut report = PruneReport {
        bytes_before: json_bytes(bundle),
        ..PruneReport::default()
    };
    let (parsed, unparsed) = passes::parse_all(modules);
    if let Some((file, why)) = unparsed.first() {
        report.refused = Some(format!(
            "module {file} could not be parsed ({why}), so what it reads is unknown; no data was pruned"
        ));
        report.bytes_after = report.bytes_before;
        return report;
    }
    if let Some(e) = world
        .entrypoints
        .iter()
        .find(|e| !names_something(bundle, &parsed, e))
    {
        report.refused = Some(format!(
            "entrypoint {} names no rule and no data (a typo?); no data was pruned",
            ast::render_data_path(e)
        ));
        report.bytes_after = report.bytes_before;
        return report;
    }
    let c = closure(&parsed, &world.entrypoints);
    report.rules_reached = c.reached;
    report.rules_total = c.total;
    report.kept_paths = c.patterns.count;
    let decide = |p: &[String]| c.patterns.action(p);
    let mut dropped_all: Vec<DataPath> = Vec::new();
    for f in bundle.files.iter_mut() {
        if !matches!(f.kind, FileKind::DataJson | FileKind::DataYaml) {
            continue;
        }
        let mount = f.data_segments();
        let Some(value) = f.data_value() else {
            continue;
        };
        let Some((bytes, dropped)) = filter_file(value, &mount, &decide) else {
            continue;
        };
        if f.kind == FileKind::DataYaml {
            report.yaml_kept.push(f.path.clone());
            continue;
        }
        f.bytes = bytes;
        f.compact_json = None;
        dropped_all.extend(dropped);
    }
    report.dropped_count = dropped_all.len();
    if dropped_all.len() > MAX_LISTED {
        dropped_all.select_nth_unstable(MAX_LISTED);
        dropped_all.truncate(MAX_LISTED);
    }
    dropped_all.sort();
    report.dropped = dropped_all
        .iter()
        .take(MAX_LISTED)
        .map(|p| ast::render_data_path(p))
        .collect();
    report.bytes_after = json_bytes(bundle);
    report.bytes_saved = report.bytes_before.saturating_sub(report.bytes_after);
    report
}

/// Whether some rule's path or some data overlaps entrypoint `e`.
fn names_something(bundle: &Bundle, parsed: &[ParsedModule], e: &[String]) -> bool {
    let rule = parsed.iter().any(|m| {
        m.module
            .policy
            .iter()
            .any(|r| refs::overlaps(&refs::rule_path(m, r), e))
    });
    rule || bundle.files.iter().any(|f| f.defines(e))
}

/// Bytes of the `data.json` files as they will be written.
pub(crate) fn json_bytes(bundle: &Bundle) -> u64 {
    bundle
        .files_of(FileKind::DataJson)
        .map(|f| f.bytes.len() as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DataPath {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split('.').map(str::to_string).collect()
        }
    }

    fn run_filter(doc: &str, kept: &[&str]) -> (String, Vec<String>) {
        let kept: BTreeSet<Pattern> = kept
            .iter()
            .map(|k| p(k).into_iter().map(|s| (s != "*").then_some(s)).collect())
            .collect();
        let kept = Patterns::new(kept);
        let v = RawValue::new_unchecked(doc.as_bytes());
        match filter_file(v, &[], &|x| kept.action(x)) {
            None => (doc.to_string(), Vec::new()),
            Some((b, d)) => (
                String::from_utf8(b).unwrap(),
                d.iter().map(|x| x.join(".")).collect(),
            ),
        }
    }

    #[test]
    fn keeps_prefixes_descends_and_drops() {
        let doc = r#"{"a":{"b":1,"c":{"d":[1,2]}},"e\u0041":1.50,"f":"x"}"#;
        assert_eq!(run_filter(doc, &["a.c"]).0, r#"{"a":{"c":{"d":[1,2]}}}"#);
        assert_eq!(run_filter(doc, &["a.c"]).1, vec!["a.b", "eA", "f"]);
        assert_eq!(
            run_filter(doc, &["eA", "a.c.d.x"]).0,
            r#"{"a":{"c":{"d":[1,2]}},"e\u0041":1.50}"#
        );
        assert_eq!(run_filter(doc, &[""]).0, doc);
        assert_eq!(run_filter(doc, &["zz"]).0, "{}");
    }

    #[test]
    fn wildcards_keep_only_the_fields_read() {
        let doc = r#"{"u":{"a":{"n":1,"e":"x"},"b":{"e":"y"},"c":"s","d":[1]},"v":1}"#;
        assert_eq!(
            run_filter(doc, &["u.*.n"]).0,
            r#"{"u":{"a":{"n":1},"b":{},"c":"s","d":[1]}}"#
        );
        assert_eq!(
            run_filter(doc, &["u.*"]).0,
            r#"{"u":{"a":{"n":1,"e":"x"},"b":{"e":"y"},"c":"s","d":[1]}}"#
        );
        assert_eq!(
            run_filter(doc, &["*.a"]).0,
            r#"{"u":{"a":{"n":1,"e":"x"}},"v":1}"#
        );
    }
}
