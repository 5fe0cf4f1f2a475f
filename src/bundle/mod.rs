//! An OPA bundle in memory: its files, classified the way OPA's `v1/bundle`
//! loader classifies them, its manifest and its merged data.

pub mod manifest;
pub mod package;
pub mod read;
pub mod tar;
pub mod write;

use crate::data::json::{Kind, RawValue};
use crate::data::tree::DataTree;
use crate::error::Result;

pub use manifest::Manifest;
pub use read::{read_path, ReadOptions};
pub use write::{write_path, OutputFormat, WriteOptions};

/// What a file is, by OPA's rules (basename for data, suffix for modules and
/// the manifest, `signatures.json` suffix for signatures).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// `.manifest`
    Manifest,
    /// `data.json`
    DataJson,
    /// `data.yaml` or `data.yml`
    DataYaml,
    /// `*.rego`
    Module,
    /// `policy.wasm`
    Wasm,
    /// `plan.json`
    Plan,
    /// `patch.json` (delta bundles)
    Patch,
    /// `.signatures.json`
    Signatures,
    /// Anything else: carried through unchanged.
    Other,
}

impl FileKind {
    /// Classify a normalised bundle path.
    pub fn of(path: &str) -> FileKind {
        let base = path.rsplit('/').next().unwrap_or(path);
        // Order as in OPA's Reader.Read: signatures first (suffix match),
        // then .rego, wasm, plan, data, yaml, manifest (suffix match).
        if path.ends_with("signatures.json") {
            FileKind::Signatures
        } else if path.ends_with(".rego") {
            FileKind::Module
        } else if base == "policy.wasm" {
            FileKind::Wasm
        } else if base == "plan.json" {
            FileKind::Plan
        } else if base == "data.json" {
            FileKind::DataJson
        } else if base == "data.yaml" || base == "data.yml" {
            FileKind::DataYaml
        } else if path.ends_with(".manifest") {
            FileKind::Manifest
        } else if base == "patch.json" {
            FileKind::Patch
        } else {
            FileKind::Other
        }
    }

    /// Short human name used in reports.
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Manifest => "manifest",
            FileKind::DataJson => "data.json",
            FileKind::DataYaml => "data.yaml",
            FileKind::Module => "rego",
            FileKind::Wasm => "wasm",
            FileKind::Plan => "plan",
            FileKind::Patch => "patch",
            FileKind::Signatures => "signatures",
            FileKind::Other => "other",
        }
    }
}

/// One file of a bundle.
#[derive(Clone, Debug)]
pub struct BundleFile {
    /// Normalised path: no leading `/` or `./`, `/`-separated.
    pub path: String,
    /// The name exactly as it appeared in the input (e.g. `/data.json` as
    /// `opa build` writes it); the writer reuses it so that
    /// `file_rego_versions` patterns and signatures keep matching.
    pub name: String,
    /// What the file is.
    pub kind: FileKind,
    /// The bytes to write. For `data.json` this is the compact form (number
    /// text and string escapes preserved); for every other kind the original
    /// bytes.
    pub bytes: Vec<u8>,
    /// The size of the file as read.
    pub original_size: u64,
    /// The compact JSON form of a data file when `bytes` is not it: the JSON
    /// OPA derives from a `data.yaml`, or a `data.json` kept byte-for-byte
    /// (pass-through bundles). Used for analysis only.
    pub compact_json: Option<Vec<u8>>,
}

impl BundleFile {
    /// The data document this file holds (data files only).
    pub fn data_value(&self) -> Option<RawValue<'_>> {
        match (self.kind, &self.compact_json) {
            (FileKind::DataJson | FileKind::DataYaml, Some(j)) => Some(RawValue::new_unchecked(j)),
            (FileKind::DataJson, None) => Some(RawValue::new_unchecked(&self.bytes)),
            _ => None,
        }
    }

    /// Whether this is a data file that holds a value at or below `data.<path>`, or a value at a
    /// proper prefix of `path` that contains `path` (mounted at or below the path, or reaching it
    /// from above).
    pub fn defines(&self, path: &[String]) -> bool {
        if !matches!(self.kind, FileKind::DataJson | FileKind::DataYaml) {
            return false;
        }
        let mount = self.data_segments();
        if mount.starts_with(path) {
            return true;
        }
        if !path.starts_with(&mount) {
            return false;
        }
        let Some(mut v) = self.data_value() else {
            return false;
        };
        for seg in &path[mount.len()..] {
            match v.get(seg) {
                Some(x) => v = x,
                None => return false,
            }
        }
        true
    }

    /// The data path (segments after `data`) a data file is mounted at: its
    /// directory, with leading `/` and `.` characters trimmed as OPA's
    /// `getNormalizedPath` does.
    pub fn data_segments(&self) -> Vec<String> {
        data_segments_of(&self.path)
    }
}

/// OPA's `getNormalizedPath`: directory of the file, `TrimLeft(dir, "/.")`,
/// split on `/`.
pub fn data_segments_of(path: &str) -> Vec<String> {
    let dir = match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    };
    let dir = dir.trim_start_matches(['/', '.']);
    if dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').map(str::to_string).collect()
    }
}

/// Why no rewriting is applied to a bundle, if that is the case.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PassThrough {
    /// A delta bundle (`patch.json`): its patch operations are applied by OPA
    /// to data regopt never sees.
    Delta,
    /// A bundle with `policy.wasm` or `plan.json`: compiled policy that regopt
    /// cannot rewrite consistently.
    Compiled,
}

impl PassThrough {
    /// Human explanation for reports.
    pub fn reason(&self) -> &'static str {
        match self {
            PassThrough::Delta => {
                "delta bundle (patch.json): its patches apply to data outside this bundle, so it is passed through unchanged"
            }
            PassThrough::Compiled => {
                "bundle carries compiled policy (policy.wasm or plan.json) that must match the Rego, so it is passed through unchanged"
            }
        }
    }
}

/// A bundle read into memory.
#[derive(Debug)]
pub struct Bundle {
    /// Every file, sorted by path.
    pub files: Vec<BundleFile>,
    /// The parsed manifest, if the bundle has one.
    pub manifest: Option<Manifest>,
}

impl Bundle {
    /// The manifest roots in force (`[""]` when there is no manifest or it
    /// gives none), normalised as OPA does (no leading or trailing `/`).
    pub fn roots(&self) -> Vec<String> {
        self.manifest
            .as_ref()
            .map(|m| m.roots.clone())
            .unwrap_or_else(|| vec![String::new()])
    }

    /// Whether rewriting must be skipped, and why.
    pub fn pass_through(&self) -> Option<PassThrough> {
        if self.files.iter().any(|f| f.kind == FileKind::Patch) {
            Some(PassThrough::Delta)
        } else if self
            .files
            .iter()
            .any(|f| matches!(f.kind, FileKind::Wasm | FileKind::Plan))
            || self.manifest.as_ref().is_some_and(|m| m.has_wasm)
        {
            Some(PassThrough::Compiled)
        } else {
            None
        }
    }

    /// Merge every data file into one tree, as OPA does on load.
    pub fn data_tree(&self) -> Result<DataTree<'_>> {
        DataTree::build(&self.files)
    }

    /// Files of one kind.
    pub fn files_of(&self, kind: FileKind) -> impl Iterator<Item = &BundleFile> {
        self.files.iter().filter(move |f| f.kind == kind)
    }

    /// The Rego version a module is parsed with: `file_rego_versions` first,
    /// then the manifest's `rego_version`, else v1 (OPA 1.x default).
    pub fn rego_version_of(&self, file: &BundleFile) -> u8 {
        self.manifest
            .as_ref()
            .and_then(|m| m.rego_version_for(&file.name, &file.path))
            .unwrap_or(1)
    }

    /// Total bytes of the data files as they will be written.
    pub fn data_bytes(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| matches!(f.kind, FileKind::DataJson | FileKind::DataYaml))
            .map(|f| f.bytes.len() as u64)
            .sum()
    }
}

/// Name of a JSON kind as OPA's messages put it.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Null => "null",
        Kind::Bool => "boolean",
        Kind::Number => "number",
        Kind::String => "string",
        Kind::Array => "array",
        Kind::Object => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_opa() {
        assert_eq!(FileKind::of("data.json"), FileKind::DataJson);
        assert_eq!(FileKind::of("a/b/data.json"), FileKind::DataJson);
        assert_eq!(FileKind::of("a/data.yml"), FileKind::DataYaml);
        assert_eq!(FileKind::of("a/x.rego"), FileKind::Module);
        assert_eq!(FileKind::of(".manifest"), FileKind::Manifest);
        assert_eq!(FileKind::of(".signatures.json"), FileKind::Signatures);
        assert_eq!(FileKind::of("policy.wasm"), FileKind::Wasm);
        assert_eq!(FileKind::of("plan.json"), FileKind::Plan);
        assert_eq!(FileKind::of("patch.json"), FileKind::Patch);
        assert_eq!(FileKind::of("README.md"), FileKind::Other);
        assert_eq!(FileKind::of("mydata.json"), FileKind::Other);
    }

    #[test]
    fn data_segments_trim_like_opa() {
        assert_eq!(data_segments_of("data.json"), Vec::<String>::new());
        assert_eq!(data_segments_of("a/b/data.json"), vec!["a", "b"]);
        // OPA trims leading '/' and '.' characters from the directory.
        assert_eq!(data_segments_of(".hidden/data.json"), vec!["hidden"]);
    }
}
