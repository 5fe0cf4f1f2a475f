//! `regopt inspect`: what a bundle holds — manifest, files by kind, the
//! largest data subtrees, duplicate subtrees, and each module's package.

use std::collections::BTreeMap;

use crate::bundle::{package, Bundle, FileKind};
use crate::data::stats::{self, DuplicateGroup, SubtreeStat};

/// Knobs for [`inspect`].
#[derive(Clone, Debug)]
pub struct InspectOptions {
    /// How many of the largest subtrees to list.
    pub top: usize,
    /// How deep below `data` to look for large subtrees.
    pub depth: usize,
    /// Smallest subtree (compact bytes) considered for duplicates.
    pub min_duplicate_bytes: usize,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            top: 20,
            depth: 4,
            min_duplicate_bytes: 1024,
        }
    }
}

/// Count and bytes of the files of one kind.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct KindSummary {
    /// Number of files.
    pub files: u64,
    /// Bytes as read.
    pub bytes: u64,
}

/// One module.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModuleInfo {
    /// Path in the bundle.
    pub path: String,
    /// Package (dotted), if the clause could be read.
    pub package: Option<String>,
    /// Rego version it is parsed with.
    pub rego_version: u8,
    /// Bytes.
    pub bytes: u64,
}

/// One file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileInfo {
    /// Path in the bundle.
    pub path: String,
    /// Kind.
    pub kind: FileKind,
    /// Bytes as read.
    pub bytes: u64,
}

/// Everything `inspect` reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Inspection {
    /// The manifest document, all fields, if there is one.
    pub manifest: Option<serde_json::Value>,
    /// Roots in force.
    pub roots: Vec<String>,
    /// Files per kind.
    pub kinds: BTreeMap<&'static str, KindSummary>,
    /// Every file.
    pub files: Vec<FileInfo>,
    /// Data bytes as read and in compact form.
    pub data_bytes: u64,
    /// Data bytes in compact form.
    pub data_compact_bytes: u64,
    /// The largest data subtrees.
    pub largest: Vec<SubtreeStat>,
    /// Duplicate subtrees.
    pub duplicates: Vec<DuplicateGroup>,
    /// Bytes the duplicates waste in total.
    pub duplicate_bytes: u64,
    /// Modules.
    pub modules: Vec<ModuleInfo>,
    /// Why optimize would pass this bundle through unchanged, if it would.
    pub pass_through: Option<String>,
}

/// Inspect a bundle.
pub fn inspect(bundle: &Bundle, opts: &InspectOptions) -> Inspection {
    let mut kinds: BTreeMap<&'static str, KindSummary> = BTreeMap::new();
    for f in &bundle.files {
        let k = kinds.entry(f.kind.label()).or_default();
        k.files += 1;
        k.bytes += f.original_size;
    }
    let data_files = bundle
        .files
        .iter()
        .filter(|f| matches!(f.kind, FileKind::DataJson | FileKind::DataYaml));
    let (data_bytes, data_compact_bytes) = data_files.fold((0, 0), |(a, b), f| {
        let compact = f
            .data_value()
            .map(|v| v.as_bytes().len() as u64)
            .unwrap_or(0);
        (a + f.original_size, b + compact)
    });
    let (largest, duplicates) = rayon::join(
        || stats::largest(bundle, opts.top, opts.depth),
        || stats::duplicates(bundle, opts.min_duplicate_bytes),
    );
    let modules = bundle
        .files_of(FileKind::Module)
        .map(|f| ModuleInfo {
            path: f.path.clone(),
            package: package::package_path(std::str::from_utf8(&f.bytes).unwrap_or_default())
                .map(|p| p.join(".")),
            rego_version: bundle.rego_version_of(f),
            bytes: f.original_size,
        })
        .collect();
    Inspection {
        manifest: bundle
            .manifest
            .as_ref()
            .map(|m| serde_json::Value::Object(m.value.clone())),
        roots: bundle.roots(),
        kinds,
        files: bundle
            .files
            .iter()
            .map(|f| FileInfo {
                path: f.path.clone(),
                kind: f.kind,
                bytes: f.original_size,
            })
            .collect(),
        data_bytes,
        data_compact_bytes,
        duplicate_bytes: duplicates.iter().map(|d| d.wasted).sum(),
        largest,
        duplicates,
        modules,
        pass_through: bundle.pass_through().map(|p| p.reason().to_string()),
    }
}

/// Human-readable rendering.
pub fn render_pretty(i: &Inspection) -> String {
    let mut s = String::new();
    match &i.manifest {
        Some(m) => {
            s.push_str("manifest:\n");
            if let serde_json::Value::Object(o) = m {
                for (k, v) in o {
                    s.push_str(&format!("  {k}: {v}\n"));
                }
            }
        }
        None => s.push_str("manifest: none (roots default to [\"\"])\n"),
    }
    s.push_str(&format!("roots: {:?}\n", i.roots));
    if let Some(p) = &i.pass_through {
        s.push_str(&format!("optimize: {p}\n"));
    }
    s.push_str("\nfiles by kind:\n");
    for (k, v) in &i.kinds {
        s.push_str(&format!(
            "  {k:<12} {:>6} files {:>14} bytes\n",
            v.files, v.bytes
        ));
    }
    s.push_str(&format!(
        "\ndata: {} bytes as read, {} bytes compact\n",
        i.data_bytes, i.data_compact_bytes
    ));
    if !i.largest.is_empty() {
        s.push_str("\nlargest data subtrees:\n");
        for l in &i.largest {
            let unit = if l.kind == "array" {
                "elements"
            } else {
                "keys"
            };
            let count = if matches!(l.kind, "array" | "object") {
                format!("{} {unit}", l.children)
            } else {
                l.kind.to_string()
            };
            s.push_str(&format!(
                "  {:>12} bytes  {:<16} {}\n",
                l.bytes, count, l.path
            ));
        }
    }
    if i.duplicates.is_empty() {
        s.push_str("\nduplicate subtrees: none\n");
    } else {
        s.push_str(&format!(
            "\nduplicate subtrees: {} groups, {} bytes wasted\n",
            i.duplicates.len(),
            i.duplicate_bytes
        ));
        for d in i.duplicates.iter().take(20) {
            s.push_str(&format!(
                "  {} copies of {} bytes (sha256 {}), {} bytes wasted:\n",
                d.paths.len(),
                d.bytes,
                &d.sha256[..12],
                d.wasted
            ));
            for p in d.paths.iter().take(10) {
                s.push_str(&format!("    {p}\n"));
            }
            if d.paths.len() > 10 {
                s.push_str(&format!("    ... {} more\n", d.paths.len() - 10));
            }
        }
    }
    if !i.modules.is_empty() {
        s.push_str("\nmodules:\n");
        for m in &i.modules {
            s.push_str(&format!(
                "  {}  package {}  rego.v{}  {} bytes\n",
                m.path,
                m.package.as_deref().unwrap_or("?"),
                m.rego_version,
                m.bytes
            ));
        }
    }
    s
}
