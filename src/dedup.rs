//! Dedup of identical data subtrees in a closed world (entrypoints given).
//!
//! Identical documents of at least `min_bytes` compact bytes (equal canonical JSON: same values,
//! object key order aside; number text must match) are grouped by sha256. In each group the first
//! copy by path order that is plain base data is kept (A). Every other copy B is removed and
//! every reference to it rewritten from `data.B…` to `data.A…` when all of this holds:
//!
//! - B is plain base data: no rule's path overlaps it, no entrypoint overlaps it, it lies in one
//!   `data.json` file (no other data file is mounted at or below it, or holds it) and not under
//!   the reserved path of generated documents;
//! - no `with` modifier anywhere replaces a path overlapping A or B;
//! - no rule reads a proper prefix of B (its parent as a whole would lose a member);
//! - every reference at or below B is a static `data.…` reference in module text (not through an
//!   import, nor through a rule name of its package).
//!
//! Otherwise the copy is kept and the reason reported. Every changed module is parsed again;
//! a module that no longer parses is left as it was and its copies are kept (references already
//! pointing at A elsewhere stay valid: A and B hold the same value).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use regorus::unstable::{Expr, Rule};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bundle::{Bundle, FileKind};
use crate::data::json::{self, Kind, RawValue};
use crate::passes::{self, ClosedWorld, Edit};
use crate::prune::{self, Action};
use crate::rego::ast::{self, Node};
use crate::rego::refs::{self, DataPath, PackageRules, Via};
use crate::rego::{ModuleSource, ParsedModule};

/// Smallest document (compact bytes) considered, unless told otherwise.
pub const DEFAULT_MIN_BYTES: usize = 1024;

/// What dedup did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DedupReport {
    /// Smallest document considered (compact bytes).
    pub min_bytes: usize,
    /// Why nothing was deduplicated, if so.
    pub refused: Option<String>,
    /// Groups of identical documents found.
    pub groups: Vec<DedupGroup>,
    /// Copies removed, their references now pointing at the kept copy.
    pub rewritten: Vec<DedupCopy>,
    /// Copies kept, and why.
    pub declined: Vec<DedupDecline>,
    /// Compact data bytes saved.
    pub bytes_saved: u64,
}

/// Identical documents.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DedupGroup {
    pub sha256: String,
    /// Bytes of one copy (canonical JSON: compact, keys sorted).
    pub bytes: u64,
    /// Every copy, in path order.
    pub paths: Vec<String>,
    /// The copy the others are rewritten to (None: no copy is plain base data).
    pub kept: Option<String>,
}

/// A removed copy.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DedupCopy {
    pub path: String,
    pub into: String,
    /// References rewritten.
    pub references: usize,
}

/// A copy left in place.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DedupDecline {
    pub path: String,
    pub reason: String,
}

/// One reference chain of a rule, resolved to a data path.
pub(crate) struct Use<'a> {
    pub(crate) expr: &'a Expr,
    pub(crate) path: DataPath,
    pub(crate) via: Via,
}

/// Every reference chain of `rule` that resolves to data (the same chains
/// [`refs::rule_reads`] reads), and every `with` target resolved to data.
pub(crate) fn rule_uses<'a>(
    m: &'a ParsedModule,
    rules: &PackageRules,
    rule: &'a Rule,
) -> (Vec<Use<'a>>, Vec<DataPath>) {
    let mut uses = Vec::new();
    let mut withs = Vec::new();
    let mut inner: HashSet<(u32, u32)> = HashSet::new();
    ast::walk_rule(rule, &mut |n| match n {
        Node::Expr(e) => {
            if !matches!(
                e.as_ref(),
                Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. }
            ) {
                return;
            }
            let s = e.span();
            let is_inner = inner.contains(&(s.start, s.end));
            refs::chain_links(e, &mut inner);
            if is_inner {
                return;
            }
            if let Some((path, via)) = refs::resolve_via(m, rules, &ast::static_prefix(e)) {
                uses.push(Use {
                    expr: e.as_ref(),
                    path,
                    via,
                });
            }
        }
        Node::Stmt(s) => {
            for w in &s.with_mods {
                if let Some((p, _)) = refs::resolve_via(m, rules, &ast::static_prefix(&w.refr)) {
                    withs.push(p);
                }
            }
        }
        Node::Query(_) => {}
    });
    (uses, withs)
}

/// The link of a reference chain whose static path is exactly `want` (with `data`).
fn find_link<'a>(e: &'a Expr, want: &[String]) -> Option<&'a Expr> {
    let mut cur = e;
    loop {
        if ast::static_path(cur).as_deref() == Some(want) {
            return Some(cur);
        }
        match cur {
            Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => cur = refr.as_ref(),
            _ => return None,
        }
    }
}

/// A document found in a data file.
struct Copy {
    path: DataPath,
    file: usize,
    bytes: u64,
}

/// Documents of at least `min_bytes`, by canonical sha256 (objects are descended into; array
/// elements are not candidates).
fn find_copies(
    bundle: &Bundle,
    min_bytes: usize,
    reserved: Option<&[String]>,
) -> BTreeMap<[u8; 32], Vec<Copy>> {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    // The canonical form of a document holds the canonical form of each of its members
    // verbatim: canonicalize each file once and compare subtrees of that.
    let canons: Vec<Option<Vec<u8>>> = bundle
        .files
        .iter()
        .map(|f| {
            if !matches!(f.kind, FileKind::DataJson | FileKind::DataYaml) {
                return None;
            }
            let original = f.data_value()?;
            let mut canon = Vec::with_capacity(original.as_bytes().len());
            json::to_canonical(original, &mut canon);
            Some(canon)
        })
        .collect();
    // A cheap hash first (sha256 is slow without CPU support); equal bytes are confirmed below.
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    // (length, hash) → (canonical bytes, copy)
    type Buckets<'c> = HashMap<(usize, u64), Vec<(&'c [u8], Copy)>>;
    let mut buckets: Buckets<'_> = HashMap::new();
    for (fi, canon) in canons.iter().enumerate() {
        let Some(canon) = canon else { continue };
        let root = RawValue::new_unchecked(canon);
        let mut stack: Vec<(DataPath, RawValue<'_>)> =
            vec![(bundle.files[fi].data_segments(), root)];
        while let Some((path, v)) = stack.pop() {
            if v.as_bytes().len() < min_bytes || reserved.is_some_and(|r| path.starts_with(r)) {
                continue;
            }
            // Documents holding the reserved path are descended into, never candidates.
            if !path.is_empty() && !reserved.is_some_and(|r| refs::overlaps(r, &path)) {
                let b = v.as_bytes();
                buckets
                    .entry((b.len(), hasher.hash_one(b)))
                    .or_default()
                    .push((
                        b,
                        Copy {
                            path: path.clone(),
                            file: fi,
                            bytes: b.len() as u64,
                        },
                    ));
            }
            if v.kind() == Kind::Object {
                for (k, member) in v.members() {
                    let mut p = path.clone();
                    p.push(k.into_owned());
                    stack.push((p, member));
                }
            }
        }
    }
    let mut by_hash: BTreeMap<[u8; 32], Vec<Copy>> = BTreeMap::new();
    for (_, bucket) in buckets {
        if bucket.len() < 2 {
            continue;
        }
        let mut exact: Vec<(&[u8], Vec<Copy>)> = Vec::new();
        for (b, c) in bucket {
            match exact.iter_mut().find(|(x, _)| *x == b) {
                Some((_, cs)) => cs.push(c),
                None => exact.push((b, vec![c])),
            }
        }
        for (b, cs) in exact {
            if cs.len() > 1 {
                by_hash.insert(Sha256::digest(b).into(), cs);
            }
        }
    }
    by_hash
}

/// Whether the document at `path` in file `fi` is all of `data.<path>`: no other data file is
/// mounted at or below it, and none mounted above it holds anything there.
fn whole_in_file(bundle: &Bundle, fi: usize, path: &[String]) -> bool {
    bundle
        .files
        .iter()
        .enumerate()
        .all(|(i, f)| i == fi || !f.defines(path))
}

/// Deduplicate identical data documents; rewrites `modules` and the bundle's data in place.
pub fn run(
    bundle: &mut Bundle,
    modules: &mut [ModuleSource],
    world: &ClosedWorld,
    min_bytes: usize,
) -> DedupReport {
    let mut report = DedupReport {
        min_bytes,
        ..DedupReport::default()
    };
    let before = prune::json_bytes(bundle);
    let reserved = world.reserved().ok();
    let copies = find_copies(bundle, min_bytes, reserved);
    if copies.is_empty() {
        return report;
    }
    let (parsed, unparsed) = passes::parse_all(modules);
    // Groups: nested copies (inside another copy of any group) are not listed again.
    let members: HashSet<DataPath> = copies.values().flatten().map(|c| c.path.clone()).collect();
    let mut groups: Vec<([u8; 32], Vec<Copy>)> = copies
        .into_iter()
        .filter_map(|(h, cs)| {
            let mut cs: Vec<Copy> = cs
                .into_iter()
                .filter(|c| !(0..c.path.len()).any(|i| members.contains(&c.path[..i])))
                .collect();
            cs.sort_by(|a, b| a.path.cmp(&b.path));
            (cs.len() > 1).then_some((h, cs))
        })
        .collect();
    groups.sort_by(|a, b| a.1[0].path.cmp(&b.1[0].path));
    let render = |p: &[String]| ast::render_data_path(p);
    if let Some((file, why)) = unparsed.first() {
        report.refused = Some(format!(
            "module {file} could not be parsed ({why}), so its references are unknown"
        ));
    }

    // Facts over every rule of every module.
    let rules = PackageRules::build(&parsed);
    let mut rule_paths: Vec<(DataPath, String)> = Vec::new();
    let mut reads: Vec<(DataPath, String)> = Vec::new();
    let mut withs: Vec<(DataPath, String)> = Vec::new();
    // (module index, use)
    let mut uses: Vec<(usize, Use<'_>)> = Vec::new();
    for (mi, m) in parsed.iter().enumerate() {
        for rule in &m.module.policy {
            let (line, _) = m.line_col(ast::rule_range(rule).0);
            let at = format!("{}:{line}", m.path);
            rule_paths.push((refs::rule_path(m, rule), at.clone()));
            for r in refs::rule_reads(m, &rules, rule) {
                reads.push((r, at.clone()));
            }
            let (us, ws) = rule_uses(m, &rules, rule);
            for w in ws {
                withs.push((w, at.clone()));
            }
            uses.extend(us.into_iter().map(|u| (mi, u)));
        }
    }

    // Decide every copy; edits per module index, and which copies have edits in which module.
    let mut edits: BTreeMap<usize, Vec<Edit>> = BTreeMap::new();
    let mut accepted: Vec<(DataPath, DataPath, usize, usize, BTreeSet<usize>)> = Vec::new(); // (B, A, file, refs, modules)
    for (h, cs) in &groups {
        let plain = |c: &Copy| -> Result<(), String> {
            let p = &c.path;
            if let Some(e) = world.entrypoints.iter().find(|e| refs::overlaps(e, p)) {
                return Err(format!("entrypoint {} overlaps it", render(e)));
            }
            if let Some((r, at)) = rule_paths.iter().find(|(r, _)| refs::overlaps(r, p)) {
                return Err(format!("the rule at {at} defines {}", render(r)));
            }
            if !whole_in_file(bundle, c.file, p) {
                return Err("another data file holds data at or below it".into());
            }
            Ok(())
        };
        let keeper = cs.iter().find(|c| {
            let p = &c.path;
            // A copy read by an entrypoint is fine to keep; only rules and files matter.
            !rule_paths.iter().any(|(r, _)| refs::overlaps(r, p))
                && whole_in_file(bundle, c.file, p)
                && !withs.iter().any(|(w, _)| refs::overlaps(w, p))
        });
        report.groups.push(DedupGroup {
            sha256: hex::encode(h),
            bytes: cs[0].bytes,
            paths: cs.iter().map(|c| render(&c.path)).collect(),
            kept: keeper.map(|k| render(&k.path)),
        });
        let Some(a) = keeper else {
            for c in cs {
                report.declined.push(DedupDecline {
                    path: render(&c.path),
                    reason: "no copy in the group is plain base data (a rule, a `with` or another data file overlaps each)".into(),
                });
            }
            continue;
        };
        for b in cs.iter().filter(|c| c.path != a.path) {
            let decline = |reason: String| DedupDecline {
                path: render(&b.path),
                reason,
            };
            if let Some(why) = &report.refused {
                report.declined.push(decline(why.clone()));
                continue;
            }
            if bundle.files[b.file].kind != FileKind::DataJson {
                report.declined.push(decline(format!(
                    "it is in {}, a YAML file regopt writes byte for byte",
                    bundle.files[b.file].path
                )));
                continue;
            }
            if let Err(why) = plain(b) {
                report.declined.push(decline(why));
                continue;
            }
            if let Some((w, at)) = withs
                .iter()
                .find(|(w, _)| refs::overlaps(w, &b.path) || refs::overlaps(w, &a.path))
            {
                report
                    .declined
                    .push(decline(format!("a `with` at {at} replaces {}", render(w))));
                continue;
            }
            if let Some((r, at)) = reads
                .iter()
                .find(|(r, _)| r.len() < b.path.len() && b.path.starts_with(r))
            {
                report
                    .declined
                    .push(decline(format!("{at} reads {} as a whole", render(r))));
                continue;
            }
            let mut want = vec!["data".to_string()];
            want.extend(b.path.iter().cloned());
            let target = render(&a.path);
            let mut mine: Vec<(usize, Edit)> = Vec::new();
            let mut why: Option<String> = None;
            for (mi, u) in uses.iter().filter(|(_, u)| u.path.starts_with(&b.path)) {
                let m = &parsed[*mi];
                let (line, _) = m.line_col(ast::expr_range(u.expr).0);
                let link = match &u.via {
                    Via::Data => find_link(u.expr, &want),
                    Via::Import(name) => {
                        why = Some(format!(
                            "{}:{line} refers to it through the import `{name}`",
                            m.path
                        ));
                        break;
                    }
                    Via::RuleName => {
                        why = Some(format!(
                            "{}:{line} refers to it through a rule name of its package",
                            m.path
                        ));
                        break;
                    }
                };
                let Some(link) = link else {
                    why = Some(format!(
                        "{}:{line}: no static `data` reference to rewrite",
                        m.path
                    ));
                    break;
                };
                let (start, end) = ast::expr_range(link);
                mine.push((
                    *mi,
                    Edit {
                        start,
                        end,
                        replacement: target.clone(),
                    },
                ));
            }
            if let Some(why) = why {
                report.declined.push(decline(why));
                continue;
            }
            let mods: BTreeSet<usize> = mine.iter().map(|(mi, _)| *mi).collect();
            accepted.push((b.path.clone(), a.path.clone(), b.file, mine.len(), mods));
            for (mi, e) in mine {
                edits.entry(mi).or_default().push(e);
            }
        }
    }

    // Apply the edits; a module that no longer parses is left alone and its copies kept.
    let mut failed: HashSet<usize> = HashSet::new();
    let mut new_texts: HashMap<usize, String> = HashMap::new();
    for (mi, es) in &edits {
        let m = &parsed[*mi];
        let ok = passes::apply_edits(&m.text, es).ok().filter(|t| {
            crate::rego::parse_module(&ModuleSource::new(m.path.clone(), t.clone(), m.version))
                .is_ok()
        });
        match ok {
            Some(t) => {
                new_texts.insert(*mi, t);
            }
            None => {
                failed.insert(*mi);
            }
        }
    }
    for (mi, text) in new_texts {
        let path = &parsed[mi].path;
        if let Some(src) = modules.iter_mut().find(|s| &s.path == path) {
            src.text = text;
        }
    }
    let mut drop_by_file: BTreeMap<usize, BTreeSet<DataPath>> = BTreeMap::new();
    for (b, a, file, n, mods) in accepted {
        if let Some(mi) = mods.iter().find(|mi| failed.contains(mi)) {
            report.declined.push(DedupDecline {
                path: render(&b),
                reason: format!(
                    "internal: {} did not parse after the rewrite and was left unchanged",
                    parsed[*mi].path
                ),
            });
            continue;
        }
        report.rewritten.push(DedupCopy {
            path: render(&b),
            into: render(&a),
            references: n,
        });
        drop_by_file.entry(file).or_default().insert(b);
    }
    for (fi, drops) in drop_by_file {
        let f = &mut bundle.files[fi];
        let mount = f.data_segments();
        let decide = |p: &[String]| {
            if drops.contains(p) {
                Action::Drop
            } else if prune::has_extension(&drops, p) {
                Action::Descend
            } else {
                Action::Keep
            }
        };
        let Some(value) = f.data_value() else {
            continue;
        };
        if let Some((bytes, _)) = prune::filter_file(value, &mount, &decide) {
            f.bytes = bytes;
            f.compact_json = None;
        }
    }
    report.bytes_saved = before.saturating_sub(prune::json_bytes(bundle));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rego::{parse_module, RegoVersion};

    #[test]
    fn link_ranges_cover_the_data_prefix() {
        let text = "package p\na := data.b[\"c\"].x\nb := data.b.c[input.k]\nc := data.b[\"c\"]\n";
        let m = parse_module(&ModuleSource::new("p.rego", text, RegoVersion::V1)).unwrap();
        let rules = PackageRules::build(std::slice::from_ref(&m));
        let want: Vec<String> = ["data", "b", "c"].iter().map(|s| s.to_string()).collect();
        let mut got = Vec::new();
        for rule in &m.module.policy {
            let (uses, _) = rule_uses(&m, &rules, rule);
            for u in uses.iter().filter(|u| u.via == Via::Data) {
                let link = find_link(u.expr, &want).unwrap();
                let (s, e) = ast::expr_range(link);
                got.push(text[s..e].to_string());
            }
        }
        assert_eq!(got, vec!["data.b[\"c\"]", "data.b.c", "data.b[\"c\"]"]);
    }
}
