//! What an optimize run did, for the closing summary and `--report FILE.json`.

use std::collections::BTreeMap;

use crate::bundle::Bundle;

/// Bytes and file counts per kind of file.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct KindSizes {
    /// Number of files.
    pub files: u64,
    /// Bytes before optimizing.
    pub bytes_before: u64,
    /// Bytes after optimizing.
    pub bytes_after: u64,
}

/// Time spent in one stage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StageTime {
    /// Stage name: read, passes, write.
    pub stage: &'static str,
    /// Milliseconds.
    pub millis: f64,
}

/// The structured result of `optimize`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    /// Sizes per file kind (uncompressed).
    pub sizes: BTreeMap<&'static str, KindSizes>,
    /// Size of the input file (archive) if it was one.
    pub input_bytes: Option<u64>,
    /// Size of the output file (archive) if it is one.
    pub output_bytes: Option<u64>,
    /// Why the bundle was passed through without optimization, if it was.
    pub pass_through: Option<String>,
    /// Notes worth reading (warnings, decisions).
    pub notes: Vec<String>,
    /// Rewrites and declines of the rewrite passes.
    pub passes: Option<serde_json::Value>,
    /// Number of rewrites made.
    pub rewrites: usize,
    /// Time per stage.
    pub timings: Vec<StageTime>,
    /// The closed world declared by entrypoints, if any.
    pub world: Option<WorldReport>,
    /// Data pruning (`--prune-data` in a closed world).
    pub prune: Option<crate::prune::PruneReport>,
    /// Dedup of identical data documents (closed world).
    pub dedup: Option<crate::dedup::DedupReport>,
}

/// Entrypoints and the reserved path of a closed-world run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WorldReport {
    /// Entrypoints as data paths.
    pub entrypoints: Vec<String>,
    /// Where generated documents are stored (None: nowhere safe was found; see the notes).
    pub reserved: Option<String>,
}

impl Report {
    /// Record sizes of the bundle's files before (as read) and after (as they
    /// will be written).
    pub fn record_sizes(&mut self, bundle: &Bundle) {
        self.sizes.clear();
        for f in &bundle.files {
            let e = self.sizes.entry(f.kind.label()).or_default();
            e.files += 1;
            e.bytes_before += f.original_size;
            e.bytes_after += f.bytes.len() as u64;
        }
    }

    /// Record the time of the three stages, in milliseconds.
    pub fn set_timings(&mut self, read_ms: f64, passes_ms: f64, write_ms: f64) {
        self.timings = [
            ("read", read_ms),
            ("passes", passes_ms),
            ("write", write_ms),
        ]
        .into_iter()
        .map(|(stage, millis)| StageTime { stage, millis })
        .collect();
    }

    /// Total bytes before and after over all files.
    pub fn totals(&self) -> (u64, u64) {
        self.sizes
            .values()
            .fold((0, 0), |(b, a), k| (b + k.bytes_before, a + k.bytes_after))
    }

    /// Human-readable summary, several lines.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(p) = &self.pass_through {
            s.push_str(&format!("no optimization applied: {p}\n"));
        }
        s.push_str(&format!(
            "{:<12} {:>6} {:>14} {:>14} {:>8}\n",
            "kind", "files", "before", "after", "change"
        ));
        for (kind, k) in &self.sizes {
            s.push_str(&format!(
                "{:<12} {:>6} {:>14} {:>14} {:>8}\n",
                kind,
                k.files,
                k.bytes_before,
                k.bytes_after,
                percent(k.bytes_before, k.bytes_after)
            ));
        }
        let (b, a) = self.totals();
        s.push_str(&format!(
            "{:<12} {:>6} {:>14} {:>14} {:>8}\n",
            "total",
            "",
            b,
            a,
            percent(b, a)
        ));
        if let (Some(i), Some(o)) = (self.input_bytes, self.output_bytes) {
            s.push_str(&format!("archive: {i} -> {o} bytes ({})\n", percent(i, o)));
        }
        if let Some(p) = &self.prune {
            match &p.refused {
                Some(why) => s.push_str(&format!("prune: refused: {why}\n")),
                None => s.push_str(&format!(
                    "prune: {} of {} rules reachable, {} document(s) dropped, data {} -> {} bytes ({}){}\n",
                    p.rules_reached,
                    p.rules_total,
                    p.dropped_count,
                    p.bytes_before,
                    p.bytes_after,
                    percent(p.bytes_before, p.bytes_after),
                    if p.yaml_kept.is_empty() {
                        String::new()
                    } else {
                        format!("; kept whole (YAML): {}", p.yaml_kept.join(", "))
                    }
                )),
            }
        }
        if let Some(d) = self.dedup.as_ref().filter(|d| !d.groups.is_empty()) {
            s.push_str(&format!(
                "dedup: {} group(s) of identical documents, {} copy(ies) removed, {} kept, {} bytes saved\n",
                d.groups.len(),
                d.rewritten.len(),
                d.declined.len(),
                d.bytes_saved
            ));
        }
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        let times: Vec<String> = self
            .timings
            .iter()
            .map(|t| format!("{} {:.0} ms", t.stage, t.millis))
            .collect();
        if !times.is_empty() {
            s.push_str(&format!("time: {}\n", times.join(", ")));
        }
        s
    }
}

fn percent(before: u64, after: u64) -> String {
    if before == 0 {
        return "-".into();
    }
    let change = (after as f64 - before as f64) / before as f64 * 100.0;
    format!("{change:+.1}%")
}
