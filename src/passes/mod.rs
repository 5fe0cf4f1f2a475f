//! Pass framework: the registry of rewrite passes, the fixpoint driver that plans passes over
//! parsed modules in parallel, splices their edits into the original text, re-parses every
//! changed module (reverting it on failure), and the serialisable report of what happened.

pub mod alias;
pub mod data_args;
pub mod field_index;
pub mod object_get;
pub mod precompute;
pub mod scan_to_lookup;
pub mod scope;

use std::collections::{BTreeMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::rego::{self, BundleFacts, DataView, ModuleSource, ParsedModule};

/// One replacement of the byte range `[start, end)` of a module's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub replacement: String,
}

/// A candidate a pass saw but did not rewrite, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declined {
    /// Byte offset of the candidate in the module's text.
    pub at: usize,
    pub reason: String,
}

/// What a pass wants to do to one module.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub edits: Vec<Edit>,
    pub declined: Vec<Declined>,
    /// Byte ranges of candidates this pass will rewrite in a later round (after an edit of this
    /// round, e.g. a generated function, lands). Used by `check` to report them as rewritable.
    pub pending: Vec<(usize, usize)>,
    /// Documents this plan's edits read from the reserved path (name under it, compact JSON).
    /// Stored when the edits are applied; only planned when [`Context::world`] has a reserved
    /// path. The same name must always carry the same document.
    pub generated: Vec<(String, Vec<u8>)>,
}

fn edits_clash(o: &Edit, e: &Edit) -> bool {
    let zero = |x: &Edit| x.start == x.end;
    if zero(o) || zero(e) {
        o.start > e.start && o.start < e.end || e.start > o.start && e.start < o.end
    } else {
        e.start < o.end && o.start < e.end
    }
}

impl Plan {
    /// Add an edit unless it overlaps one already planned (a nested candidate is left for the
    /// next round, where it is planned against the rewritten text). Returns whether it was added.
    pub fn push_edit(&mut self, e: Edit) -> bool {
        let clash = self.edits.iter().any(|o| edits_clash(o, &e));
        if !clash {
            self.edits.push(e);
        }
        !clash
    }

    /// Add a group of edits that only make sense together: all of them, or none when one
    /// overlaps an edit already planned or another of the group. Returns whether they were added.
    pub fn push_edits(&mut self, group: Vec<Edit>) -> bool {
        let clash = group.iter().enumerate().any(|(i, e)| {
            self.edits.iter().any(|o| edits_clash(o, e))
                || group[..i].iter().any(|o| edits_clash(o, e))
        });
        if !clash {
            self.edits.extend(group);
        }
        !clash
    }

    pub fn decline(&mut self, at: usize, reason: impl Into<String>) {
        self.declined.push(Declined {
            at,
            reason: reason.into(),
        });
    }
}

/// Everything a pass may read while planning.
pub struct Context<'a> {
    pub data: &'a dyn DataView,
    pub facts: &'a BundleFacts,
    /// All parsed modules of the bundle (modules that failed to parse are listed in `facts`).
    pub modules: &'a [ParsedModule],
    /// The closed world the user declared with entrypoints, if any.
    pub world: Option<&'a ClosedWorld>,
}

/// What `-e/--entrypoint` (or `# METADATA` `entrypoint: true`) declares: clients query only
/// these paths and never replace data with `with`, so rewrites that hold only for the bundle's
/// own data (indexes, precomputed values) and pruning are allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedWorld {
    /// Entrypoint paths (segments after `data`).
    pub entrypoints: Vec<Vec<String>>,
    /// Where generated documents go (segments after `data`), or why there is no such place.
    pub reserved: Result<Vec<String>, String>,
}

impl ClosedWorld {
    /// The reserved path, or why there is none.
    pub fn reserved(&self) -> Result<&[String], &str> {
        match &self.reserved {
            Ok(p) => Ok(p),
            Err(e) => Err(e),
        }
    }
}

/// A rewrite pass. Planning is read-only; the driver applies the edits.
pub trait Pass: Sync {
    /// Kebab-case id used on the command line and in reports.
    fn id(&self) -> &'static str;
    /// One-line description.
    fn describe(&self) -> &'static str;
    fn plan(&self, module: &ParsedModule, cx: &Context) -> Plan;
}

/// Every pass, in the order the driver gives them precedence.
pub const PASSES: &[&dyn Pass] = &[
    &object_get::ObjectGet,
    &data_args::DataArgs,
    &scan_to_lookup::ScanToLookup,
    &alias::Alias,
    &field_index::FieldIndex,
];

/// Ids of all passes.
pub fn pass_ids() -> Vec<&'static str> {
    PASSES
        .iter()
        .map(|p| p.id())
        .chain([precompute::ID])
        .collect()
}

/// A pass id given by the user that no pass has.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("unknown pass `{0}` (known: object-get, data-args, scan-to-lookup, alias, field-index, precompute)")]
pub struct UnknownPass(pub String);

/// Which passes run, and how much the report explains.
#[derive(Clone, Debug)]
pub struct PassOptions {
    /// Only these passes (None: all).
    pub only: Option<Vec<String>>,
    /// Never these passes.
    pub skip: Vec<String>,
    /// Keep every declined candidate with its reason in the report (else only their count).
    pub explain: bool,
    /// Upper bound on driver rounds (each round applies at most one pass per module).
    pub max_iterations: usize,
    /// The closed world declared by entrypoints (None: open world, the default).
    pub world: Option<ClosedWorld>,
}

impl Default for PassOptions {
    fn default() -> Self {
        Self {
            only: None,
            skip: Vec::new(),
            explain: true,
            max_iterations: 64,
            world: None,
        }
    }
}

impl PassOptions {
    /// Check that every id named in `only`/`skip` exists.
    pub fn validate(&self) -> Result<(), UnknownPass> {
        let ids = pass_ids();
        for id in self.only.iter().flatten().chain(self.skip.iter()) {
            if !ids.contains(&id.as_str()) {
                return Err(UnknownPass(id.clone()));
            }
        }
        Ok(())
    }

    pub(crate) fn enabled(&self, id: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == id))
            && !self.skip.iter().any(|x| x == id)
    }
}

/// One applied edit.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Rewrite {
    pub pass: String,
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub before: String,
    pub after: String,
}

/// One candidate left unchanged.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Decline {
    pub pass: String,
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub reason: String,
}

/// A module carried through unchanged because it could not be analysed.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub message: String,
}

/// A pass produced text that does not parse, or overlapping edits: the module was reverted.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Bug {
    pub pass: String,
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Everything `run` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PassReport {
    pub rewrites: Vec<Rewrite>,
    pub declined: Vec<Decline>,
    /// Number of declined candidates (also when `explain` is off and `declined` is empty).
    pub declined_count: usize,
    pub warnings: Vec<Warning>,
    pub bugs: Vec<Bug>,
    /// Driver rounds run (the last one found nothing more to do unless the bound was hit).
    pub iterations: usize,
    /// True when the round bound was hit before a fixpoint.
    pub hit_iteration_limit: bool,
    /// Documents the applied rewrites read from the reserved path: name → compact JSON.
    #[serde(skip)]
    pub generated: BTreeMap<String, Vec<u8>>,
    /// Names and sizes of `generated`, for the report.
    pub generated_docs: Vec<GeneratedDoc>,
}

impl PassReport {
    /// Record one applied edit of `pass` in module `pm` per edit, in source order.
    pub fn record_rewrites(&mut self, pass: &str, pm: &ParsedModule, edits: &[Edit]) {
        let mut sorted: Vec<&Edit> = edits.iter().collect();
        sorted.sort_by_key(|e| (e.start, e.end));
        for e in sorted {
            let (line, col) = pm.line_col(e.start);
            self.rewrites.push(Rewrite {
                pass: pass.to_string(),
                file: pm.path.clone(),
                line,
                col,
                before: pm.text[e.start..e.end].to_string(),
                after: e.replacement.clone(),
            });
        }
    }

    /// Refresh `generated_docs` from `generated`.
    pub fn list_generated(&mut self) {
        self.generated_docs = self
            .generated
            .iter()
            .map(|(name, doc)| GeneratedDoc {
                name: name.clone(),
                bytes: doc.len(),
            })
            .collect();
    }
}

/// One document regopt generated under the reserved path.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GeneratedDoc {
    pub name: String,
    pub bytes: usize,
}

/// Parse every module; Ok modules in order, plus (file, reason) of failures.
pub fn parse_all(modules: &[ModuleSource]) -> (Vec<ParsedModule>, Vec<(String, String)>) {
    let results: Vec<_> = modules.par_iter().map(rego::parse_module).collect();
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (m, r) in modules.iter().zip(results) {
        match r {
            Ok(p) => ok.push(p),
            Err(e) => bad.push((m.path.clone(), e.to_string())),
        }
    }
    (ok, bad)
}

/// Plan every enabled pass over every parsed module (modules in parallel). Result per parsed
/// module: (pass index into PASSES, plan).
pub fn plan_all(
    parsed: &[ParsedModule],
    data: &dyn DataView,
    facts: &BundleFacts,
    opts: &PassOptions,
) -> Vec<Vec<(usize, Plan)>> {
    let cx = Context {
        data,
        facts,
        modules: parsed,
        world: opts.world.as_ref(),
    };
    parsed
        .par_iter()
        .map(|m| {
            PASSES
                .iter()
                .enumerate()
                .filter(|(_, p)| opts.enabled(p.id()))
                .map(|(i, p)| (i, p.plan(m, &cx)))
                .collect()
        })
        .collect()
}

/// Apply sorted, non-overlapping edits. Err describes the first bad edit.
pub fn apply_edits(text: &str, edits: &[Edit]) -> Result<String, (usize, String)> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for e in sorted {
        if e.start > e.end || e.end > text.len() {
            return Err((e.start, "edit out of bounds".into()));
        }
        if !text.is_char_boundary(e.start) || !text.is_char_boundary(e.end) {
            return Err((e.start, "edit not on a character boundary".into()));
        }
        if e.start < pos {
            return Err((e.start, "overlapping edits".into()));
        }
        out.push_str(&text[pos..e.start]);
        out.push_str(&e.replacement);
        pos = e.end;
    }
    out.push_str(&text[pos..]);
    Ok(out)
}

/// Rewrite `modules` in place with every enabled pass until nothing changes (or the round bound
/// is hit). A round applies, per module, the edits of the first pass that has any; every changed
/// module is re-parsed and reverted (with a bug report) if it no longer parses.
pub fn run(modules: &mut [ModuleSource], data: &dyn DataView, opts: &PassOptions) -> PassReport {
    let mut report = PassReport::default();
    let mut disabled: HashSet<(usize, String)> = HashSet::new();
    let mut warned = false;
    for round in 0..opts.max_iterations.max(1) {
        report.iterations = round + 1;
        let (parsed, bad) = parse_all(modules);
        if !warned {
            warned = true;
            for (file, why) in &bad {
                report.warnings.push(Warning {
                    file: file.clone(),
                    message: format!("carried through unchanged: {why}"),
                });
            }
        }
        let facts = BundleFacts::build(&parsed, &bad);
        let plans = plan_all(&parsed, data, &facts, opts);
        let mut changed = false;
        let mut declines = Vec::new();
        for (pm, plans) in parsed.iter().zip(plans) {
            let idx = modules
                .iter()
                .position(|m| m.path == pm.path)
                .unwrap_or_default();
            for (pi, plan) in &plans {
                for d in &plan.declined {
                    let (line, col) = pm.line_col(d.at);
                    declines.push(Decline {
                        pass: PASSES[*pi].id().to_string(),
                        file: pm.path.clone(),
                        line,
                        col,
                        reason: d.reason.clone(),
                    });
                }
            }
            let chosen = plans.iter().find(|(pi, p)| {
                !p.edits.is_empty() && !disabled.contains(&(idx, PASSES[*pi].id().to_string()))
            });
            let Some((pi, plan)) = chosen else { continue };
            let pass = PASSES[*pi].id().to_string();
            let bug = |at: usize, message: String| {
                let (line, col) = pm.line_col(at);
                Bug {
                    pass: pass.clone(),
                    file: pm.path.clone(),
                    line,
                    col,
                    message,
                }
            };
            let new_text = match apply_edits(&pm.text, &plan.edits) {
                Ok(t) => t,
                Err((at, why)) => {
                    report.bugs.push(bug(at, why));
                    disabled.insert((idx, pass.clone()));
                    continue;
                }
            };
            let candidate = ModuleSource {
                path: pm.path.clone(),
                text: new_text,
                version: pm.version,
            };
            if let Err(e) = rego::parse_module(&candidate) {
                let at = plan.edits.first().map(|e| e.start).unwrap_or(0);
                report
                    .bugs
                    .push(bug(at, format!("rewritten module does not parse: {e}")));
                disabled.insert((idx, pass.clone()));
                continue;
            }
            report.record_rewrites(&pass, pm, &plan.edits);
            for (name, doc) in &plan.generated {
                report.generated.insert(name.clone(), doc.clone());
            }
            modules[idx].text = candidate.text;
            changed = true;
        }
        if !changed {
            report.list_generated();
            report.declined_count = declines.len();
            if opts.explain {
                report.declined = declines;
            }
            return report;
        }
    }
    report.hit_iteration_limit = true;
    report
}

/// Short stable hash (8 hex digits) of some strings, for generated names.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..4])
}

/// Identifier-safe rendering of a data path for generated names (`a.b-c` gives `a_b_c`).
pub fn name_part(path: &[String]) -> String {
    let mut s: String = path
        .join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    s.truncate(40);
    s
}

/// Prefix of every name regopt generates.
pub const GENERATED_PREFIX: &str = "__regopt_";

/// Text of all rules named `name` in the module, concatenated (to recognise an existing helper).
pub fn rules_text(module: &ParsedModule, name: &str) -> Option<String> {
    let mut out = String::new();
    for rule in &module.module.policy {
        if rego::ast::simple_rule_name(rule).as_deref() == Some(name) {
            let (s, e) = rego::ast::rule_range(rule);
            out.push_str(&module.text[s..e]);
            out.push('\n');
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether two rule texts are the same up to whitespace and comment lines (helpers with several
/// definitions are compared as the concatenation of their rules).
pub fn same_text(a: &str, b: &str) -> bool {
    let words = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    words(a) == words(b)
}

/// Comment line marking a `data-args` copy: specialised user code that the passes still rewrite
/// (unlike regopt's other generated helpers, which they leave alone).
pub const COPY_MARK: &str = "# regopt data-args:";

/// Whether the first definition of rule `name` in `m` is preceded by a comment line starting with
/// `mark`: Some(true) it is, Some(false) a rule of that name exists without it, None no rule.
pub fn marked(m: &ParsedModule, name: &str, mark: &str) -> Option<bool> {
    let rule = m
        .module
        .policy
        .iter()
        .find(|r| rego::ast::simple_rule_name(r).as_deref() == Some(name))?;
    let (s, _) = rego::ast::rule_range(rule);
    let prev_line = m.text[..s]
        .trim_end_matches(['\n', '\r', ' ', '\t'])
        .rsplit('\n')
        .next()
        .unwrap_or("");
    Some(prev_line.trim_start().starts_with(mark))
}

/// Names of the `data-args` copies in `m`.
pub fn copy_names(m: &ParsedModule) -> HashSet<String> {
    m.module
        .policy
        .iter()
        .filter_map(|r| rego::ast::simple_rule_name(r))
        .filter(|n| n.starts_with(GENERATED_PREFIX))
        .filter(|n| marked(m, n, COPY_MARK) == Some(true))
        .collect()
}

/// Whether a pass should look into `rule`: user rules and `data-args` copies (`copies`, from
/// [`copy_names`]), not regopt's own helpers — their fallback branches hold the original costly
/// forms on purpose (a query-level `with data.P as …` is served by them).
pub fn is_user_code(rule: &regorus::unstable::Rule, copies: &HashSet<String>) -> bool {
    match rego::ast::simple_rule_name(rule) {
        Some(n) if n.starts_with(GENERATED_PREFIX) => copies.contains(&n),
        _ => true,
    }
}

/// The type test builtin for a kind of document (`is_object` for an object, ...).
pub fn kind_test(kind: rego::DataKind) -> &'static str {
    match kind {
        rego::DataKind::Null => "is_null",
        rego::DataKind::Bool => "is_boolean",
        rego::DataKind::Number => "is_number",
        rego::DataKind::String => "is_string",
        rego::DataKind::Array => "is_array",
        rego::DataKind::Object => "is_object",
    }
}

/// Result of asking for a generated helper in a module.
pub enum HelperSlot {
    /// Append the helper text.
    Add,
    /// An identical helper is already there (earlier round or earlier run).
    Present,
}

/// Decide whether a helper `name` with exactly `text` can be added to (or is already in) the
/// module, or why not (the name is taken by something else).
pub fn helper_slot(
    module: &ParsedModule,
    cx: &Context,
    name: &str,
    text: &str,
) -> Result<HelperSlot, String> {
    if let Some(existing) = rules_text(module, name) {
        if same_text(&existing, text) {
            return Ok(HelperSlot::Present);
        }
        return Err(format!(
            "generated name {name} is already used by a different rule"
        ));
    }
    if rego::ast::all_idents(module).contains(name)
        || cx.facts.package_defines(&module.package, name)
    {
        return Err(format!("generated name {name} is already used"));
    }
    Ok(HelperSlot::Add)
}

/// Append-at-end edit for generated helper rules.
pub fn append_edit(module: &ParsedModule, text: &str) -> Edit {
    let sep = if module.text.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    Edit {
        start: module.text.len(),
        end: module.text.len(),
        replacement: format!("{sep}{text}\n"),
    }
}

/// Names of variables the rule declares locally (assignment targets, `some`, `every`, function
/// arguments): a local named like a builtin namespace (e.g. `object`) changes what a call means.
pub fn rule_locals(rule: &regorus::unstable::Rule) -> HashSet<String> {
    use rego::ast::{var_name, walk_expr, walk_rule, Node};
    use regorus::unstable::{Expr, Literal};
    let mut out = HashSet::new();
    let add_vars = |e: &regorus::unstable::Ref<Expr>, out: &mut HashSet<String>| {
        walk_expr(e, &mut |n| {
            if let Node::Expr(x) = n {
                if let Some(v) = var_name(x) {
                    out.insert(v.to_string());
                }
            }
        })
    };
    if let regorus::unstable::Rule::Spec { head, .. } = rule {
        for a in rego::ast::head_parts(head).1 {
            add_vars(a, &mut out);
        }
    }
    let mut found: Vec<regorus::unstable::Ref<Expr>> = Vec::new();
    walk_rule(rule, &mut |n| match n {
        Node::Expr(e) => {
            if let Expr::AssignExpr { lhs, .. } = e.as_ref() {
                found.push(lhs.clone());
            }
        }
        Node::Stmt(s) => match &s.literal {
            Literal::SomeVars { vars, .. } => {
                for v in vars {
                    out.insert(v.text().to_string());
                }
            }
            Literal::SomeIn { key, value, .. } => {
                if let Some(k) = key {
                    found.push(k.clone());
                }
                found.push(value.clone());
            }
            Literal::Every { key, value, .. } => {
                for v in key.iter().chain([value]) {
                    out.insert(v.text().to_string());
                }
            }
            _ => {}
        },
        Node::Query(_) => {}
    });
    for e in &found {
        add_vars(e, &mut out);
    }
    out
}

/// Render a function definition in the module's syntax: `head := value if { body }` (v1 /
/// `rego.v1`) or `head = value { body }` (v0). `branches` are (value, body lines) chained with
/// `else`; an empty body becomes `true` (v0 needs a body after `else = value`), except for a
/// last `else` in v1, which is written `else := value`.
pub fn render_function(v1: bool, head: &str, branches: &[(&str, Vec<String>)]) -> String {
    let mut s = String::new();
    for (i, (value, body)) in branches.iter().enumerate() {
        if i == 0 {
            s.push_str(head);
            s.push(' ');
        } else {
            s.push_str(" else ");
        }
        s.push_str(if v1 { ":= " } else { "= " });
        s.push_str(value);
        if v1 && i > 0 && i + 1 == branches.len() && body.is_empty() {
            break;
        }
        s.push(' ');
        if v1 {
            s.push_str("if ");
        }
        s.push_str("{\n");
        if body.is_empty() {
            s.push_str("\ttrue\n");
        }
        for l in body {
            s.push('\t');
            s.push_str(l);
            s.push('\n');
        }
        s.push('}');
    }
    s
}

/// Name of the index helper for `data.<path>` in module `m` (see [`idx_helper_text`]).
pub fn idx_helper_name(m: &ParsedModule, path: &[String]) -> String {
    format!(
        "{GENERATED_PREFIX}idx_{}_{}",
        name_part(path),
        short_hash(&[&m.path, &path.join("\u{1}")])
    )
}

/// Text of the index helper for `data.<path>` (an object in the bundle): `k` when
/// `data.<path>[k]` finds what indexing the bound VALUE of `data.<path>` by `k` finds, else
/// undefined. A reference into base data matches a number index against a string key
/// (`data.rules[1]` finds key "1") where the value does not. So: a string `k` passes; any `k`
/// passes when `data.<path>` is not an object (only a query-level `with` can make it one, and a
/// replaced document is indexed as a value); a non-string `k` into an object passes only when
/// the object has exactly that key (`object.get` on a one-step path does not convert keys: the
/// two defaults agree only when the key is there) — never for the bundle's data, whose keys
/// are strings, but for a `with`-replaced `{1: "one"}`.
pub fn idx_helper_text(v1: bool, name: &str, path: &[String]) -> String {
    let p = rego::ast::render_data_path(path);
    let k = "__regopt_k";
    render_function(
        v1,
        &format!("{name}({k})"),
        &[
            (k, vec![format!("is_string({k})")]),
            (k, vec![format!("not is_object({p})")]),
            (
                k,
                vec![format!(
                    "object.get({p}, [{k}], 0) == object.get({p}, [{k}], 1)"
                )],
            ),
        ],
    )
}

/// Builtins the index helper calls (they must not be shadowed or mocked where it is used).
pub const IDX_BUILTINS: &[&[&str]] = &[&["is_string"], &["is_object"], &["object", "get"]];

/// Edits adding the index helpers for `paths` to `m` (none for helpers already there), or why
/// one cannot be added. `added` holds helper names planned earlier in this round.
pub fn idx_helper_edits(
    m: &ParsedModule,
    cx: &Context,
    paths: &[Vec<String>],
    added: &HashSet<String>,
) -> Result<Vec<(String, Edit)>, String> {
    let mut out: Vec<(String, Edit)> = Vec::new();
    for path in paths {
        let name = idx_helper_name(m, path);
        let text = idx_helper_text(m.v1_syntax, &name, path);
        if let HelperSlot::Add = helper_slot(m, cx, &name, &text)? {
            if !added.contains(&name) && !out.iter().any(|(n, _)| *n == name) {
                let comment = format!(
                    "# regopt: an index into {} that matches keys as on its value\n",
                    rego::ast::render_data_path(path)
                );
                out.push((name, append_edit(m, &format!("{comment}{text}"))));
            }
        }
    }
    Ok(out)
}

/// Edits replacing every use of variable `var` in `rule` by the data reference `data.<path>`.
pub struct Substitution {
    pub edits: Vec<Edit>,
    /// Data paths whose dynamic indexes were wrapped in their index helper
    /// ([`idx_helper_name`]); the caller adds the helpers.
    pub idx_paths: Vec<Vec<String>>,
    /// With `guard_bound`: the variables of `bound` used as dynamic indexes, left unwrapped;
    /// the caller must make sure they are strings (and the indexed documents objects).
    pub guarded: Vec<String>,
}

fn int_like(s: &str) -> bool {
    s.trim().parse::<f64>().is_ok() || s.starts_with(|c: char| c.is_ascii_digit() || c == '-')
}

/// Replace the uses of `var` (bound to the value of `data.<path>`) by the reference itself.
///
/// OPA difference this guards against (checked on v1.20.2): a reference into base data is
/// looked up in the store, which matches a NUMBER index against a string key (`data.rules[1]`
/// finds key "1", and a string "1" may index an array), whereas a variable bound to the value
/// does not (`m[1]` is undefined). So: whole uses are replaced freely; `.field` / `["lit"]`
/// segments are kept only where the data says the node is an object or the key is not
/// number-like; a dynamic index is allowed only directly into an object node and only when it
/// is certainly bound (a parameter listed in `bound`, or an `input`/`data` reference), and it
/// is then wrapped in the node's index helper ([`idx_helper_text`]), so a number index finds
/// what it finds in the value — also when a query-level `with` replaces the document — except
/// under `not`, where OPA hoists the helper call out of the negation (then declined). Static
/// segments on a `with`-replaced document are looked up as in a value, like on the variable.
/// `skip` lists start offsets of occurrences to leave alone (e.g. the declaration itself).
/// With `guard_bound`, an index that is a variable of `bound` is left as it is and listed in
/// [`Substitution::guarded`]: the caller guarantees it is a string and the document an object
/// (`data-args` guards its copy with `is_string(k)` and `is_object(data.P)`).
#[allow(clippy::too_many_arguments)]
pub fn substitute_var(
    m: &ParsedModule,
    cx: &Context,
    rule: &regorus::unstable::Rule,
    var: &str,
    path: &[String],
    bound: &HashSet<String>,
    skip: &HashSet<usize>,
    guard_bound: bool,
) -> Result<Substitution, String> {
    use rego::ast::{expr_range, var_name, walk_rule, Node};
    use regorus::unstable::Expr;
    use std::collections::HashMap;
    let mut exprs: Vec<&Expr> = Vec::new();
    walk_rule(rule, &mut |n| {
        if let Node::Expr(e) = n {
            exprs.push(e.as_ref());
        }
    });
    let mut parent: HashMap<*const Expr, &Expr> = HashMap::new();
    for e in &exprs {
        for c in rego::ast::children(e) {
            parent.insert(c.as_ref() as *const Expr, e);
        }
    }
    // Negated expressions: OPA evaluates a call nested in a term of a `not` expression before
    // the negation (`not data.P[f(k)]` is undefined when `f(k)` is), so no guard may go there.
    let mut negated: Vec<(usize, usize)> = Vec::new();
    walk_rule(rule, &mut |n| {
        if let Node::Stmt(s) = n {
            if let regorus::unstable::Literal::NotExpr { expr, .. } = &s.literal {
                negated.push(expr_range(expr));
            }
        }
    });
    let data_ref = rego::ast::render_data_path(path);
    let mut out = Substitution {
        edits: Vec::new(),
        idx_paths: Vec::new(),
        guarded: Vec::new(),
    };
    for e in &exprs {
        if var_name(e) != Some(var) {
            continue;
        }
        let (vs, ve) = expr_range(e);
        if skip.contains(&vs) {
            continue;
        }
        let at = |s: &str| format!("{s} (at byte {vs})");
        out.edits.push(Edit {
            start: vs,
            end: ve,
            replacement: data_ref.clone(),
        });
        // Climb the reference chain rooted at this variable.
        let mut cur: &Expr = e;
        let mut known: Option<Vec<String>> = Some(path.to_vec());
        while let Some(p) = parent.get(&(cur as *const Expr)).copied() {
            let (is_root, seg) = match p {
                Expr::RefDot { refr, field, .. } => (
                    std::ptr::eq(refr.as_ref(), cur),
                    Ok(field.0.text().to_string()),
                ),
                Expr::RefBrack { refr, index, .. } => (
                    std::ptr::eq(refr.as_ref(), cur),
                    match rego::ast::string_lit(index) {
                        Some(s) => Ok(s),
                        None => Err(index),
                    },
                ),
                _ => (false, Ok(String::new())),
            };
            if !is_root {
                break;
            }
            match seg {
                Ok(s) => {
                    let kind = known.as_ref().and_then(|k| cx.data.kind_at(k));
                    if kind != Some(rego::DataKind::Object) && int_like(&s) {
                        return Err(at(&format!(
                            "{var} is indexed by the number-like key \"{s}\" where the data is not known to be an object"
                        )));
                    }
                    known = known.map(|mut k| {
                        k.push(s);
                        k
                    });
                }
                Err(index) => {
                    let node = known
                        .clone()
                        .filter(|k| cx.data.kind_at(k) == Some(rego::DataKind::Object));
                    let Some(node) = node else {
                        return Err(at(&format!(
                            "{var} is indexed dynamically where the data is not known to be an object"
                        )));
                    };
                    let certainly_bound = match index.as_ref() {
                        Expr::Var { span, .. } => bound.contains(span.text()),
                        other => rego::ast::static_path(other).is_some_and(|p| {
                            matches!(p.first().map(String::as_str), Some("input" | "data"))
                        }),
                    };
                    if !certainly_bound {
                        return Err(at(&format!(
                            "{var} is indexed by `{}`, which may be an iteration variable or a non-string",
                            &m.text[expr_range(index).0..expr_range(index).1]
                        )));
                    }
                    let (is, ie) = expr_range(index);
                    if guard_bound && node == path {
                        if let Expr::Var { span, .. } = index.as_ref() {
                            if bound.contains(span.text()) {
                                if !out.guarded.iter().any(|g| g == span.text()) {
                                    out.guarded.push(span.text().to_string());
                                }
                                known = None;
                                cur = p;
                                continue;
                            }
                        }
                    }
                    if negated.iter().any(|(a, b)| *a <= is && ie <= *b) {
                        return Err(at(&format!(
                            "{var} is indexed by `{}` under `not`, where OPA would evaluate the index guard outside the negation",
                            &m.text[is..ie]
                        )));
                    }
                    out.edits.push(Edit {
                        start: is,
                        end: ie,
                        replacement: format!("{}({})", idx_helper_name(m, &node), &m.text[is..ie]),
                    });
                    if !out.idx_paths.contains(&node) {
                        out.idx_paths.push(node);
                    }
                    known = None;
                }
            }
            cur = p;
        }
    }
    Ok(out)
}
