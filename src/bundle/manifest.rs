//! The `.manifest`: decoded field by field as OPA's Go struct decoding does,
//! while the original bytes are kept so that every field, known or not,
//! survives a round trip.

use serde_json::Value;

use crate::error::{Error, Result};

/// A bundle manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The manifest's path inside the bundle.
    pub path: String,
    /// The whole document (all fields, in their order).
    pub value: serde_json::Map<String, Value>,
    /// `revision` (empty when absent).
    pub revision: String,
    /// `roots`, normalised (`strings.Trim(root, "/")`); `[""]` when absent.
    pub roots: Vec<String>,
    /// Whether the manifest gives `roots` at all.
    pub roots_given: bool,
    /// `rego_version`, when given.
    pub rego_version: Option<u8>,
    /// `file_rego_versions`: glob pattern, version.
    pub file_rego_versions: Vec<(String, u8)>,
    /// Whether `wasm` resolvers are listed.
    pub has_wasm: bool,
    globs: Vec<globset::GlobMatcher>,
}

/// Go's encoding/json matches struct fields case-insensitively when there is
/// no exact match; the last matching key in the document wins.
fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = obj.get(name) {
        return Some(v);
    }
    obj.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .next_back()
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

impl Manifest {
    /// Decode a manifest, checking field types as OPA's decoder does and the
    /// roots as OPA's `validateAndInjectDefaults` does.
    pub fn parse(path: &str, bytes: &[u8]) -> Result<Manifest> {
        Manifest::parse_with_limits(path, bytes, &Default::default())
    }

    /// [`Manifest::parse`] with the nesting limit in force (`--max-depth`).
    pub fn parse_with_limits(
        path: &str,
        bytes: &[u8],
        limits: &crate::data::json::Limits,
    ) -> Result<Manifest> {
        let err = |message: String| Error::Manifest {
            file: path.to_string(),
            message,
        };
        // Validate syntax (and the nesting bound) with the data parser first,
        // so that a hostile manifest cannot recurse deeply in serde_json.
        let mut compact = Vec::new();
        crate::data::json::compact(bytes, limits, &mut compact).map_err(|e| err(e.to_string()))?;
        // Depth is already bounded by `compact` (--max-depth), so serde_json's
        // own 128-level limit would only refuse manifests OPA accepts.
        let mut de = serde_json::Deserializer::from_slice(&compact);
        de.disable_recursion_limit();
        let value: Value =
            serde::Deserialize::deserialize(&mut de).map_err(|e| err(e.to_string()))?;
        let obj = match value {
            Value::Object(o) => o,
            Value::Null => serde_json::Map::new(),
            other => {
                return Err(err(format!(
                    "expected an object, found {}",
                    type_name(&other)
                )))
            }
        };
        let revision = match field(&obj, "revision") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => {
                return Err(err(format!(
                    "revision must be a string, found {}",
                    type_name(v)
                )))
            }
        };
        let (roots, roots_given) = match field(&obj, "roots") {
            None | Some(Value::Null) => (vec![String::new()], false),
            Some(Value::Array(items)) => {
                let mut roots = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => roots.push(s.trim_matches('/').to_string()),
                        v => {
                            return Err(err(format!(
                                "roots must be strings, found {}",
                                type_name(v)
                            )))
                        }
                    }
                }
                (roots, true)
            }
            Some(v) => {
                return Err(err(format!(
                    "roots must be an array, found {}",
                    type_name(v)
                )))
            }
        };
        let rego_version = match field(&obj, "rego_version") {
            None | Some(Value::Null) => None,
            Some(v) => match int_of(v) {
                Some(0) => Some(0),
                Some(1) => Some(1),
                _ => return Err(err(format!("rego_version must be 0 or 1, found {v}"))),
            },
        };
        let mut file_rego_versions = Vec::new();
        let mut globs = Vec::new();
        match field(&obj, "file_rego_versions") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (pattern, v) in m {
                    let version = match int_of(v) {
                        Some(0) => 0,
                        Some(1) => 1,
                        _ => {
                            return Err(err(format!(
                                "file_rego_versions['{pattern}'] must be 0 or 1, found {v}"
                            )))
                        }
                    };
                    // OPA compiles these with gobwas/glob without separators:
                    // `*` also matches `/`.
                    let glob = globset::GlobBuilder::new(pattern)
                        .literal_separator(false)
                        .backslash_escape(true)
                        .build()
                        .map_err(|e| err(format!("file_rego_versions pattern '{pattern}': {e}")))?;
                    globs.push(glob.compile_matcher());
                    file_rego_versions.push((pattern.clone(), version));
                }
            }
            Some(v) => {
                return Err(err(format!(
                    "file_rego_versions must be an object, found {}",
                    type_name(v)
                )))
            }
        }
        let has_wasm = match field(&obj, "wasm") {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(v) => {
                return Err(err(format!(
                    "wasm must be an array, found {}",
                    type_name(v)
                )))
            }
        };
        match field(&obj, "metadata") {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(v) => {
                return Err(err(format!(
                    "metadata must be an object, found {}",
                    type_name(v)
                )))
            }
        }
        // OPA: "manifest has overlapped roots".
        for i in 0..roots.len() {
            for j in i + 1..roots.len() {
                if roots_overlap(&roots[i], &roots[j]) {
                    return Err(Error::OverlappingRoots {
                        first: roots[i].clone(),
                        second: roots[j].clone(),
                    });
                }
            }
        }
        Ok(Manifest {
            path: path.to_string(),
            value: obj,
            revision,
            roots,
            roots_given,
            rego_version,
            file_rego_versions,
            has_wasm,
            globs,
        })
    }

    /// The Rego version `file_rego_versions` or `rego_version` give a module.
    /// Patterns are matched against the name as read (OPA matches the path
    /// as it appears in the bundle, e.g. `/x.rego` from `opa build`), then
    /// against the normalised path with and without a leading `/`.
    pub fn rego_version_for(&self, name: &str, path: &str) -> Option<u8> {
        let slashed = format!("/{path}");
        for candidate in [name, path, slashed.as_str()] {
            for (glob, (_, v)) in self.globs.iter().zip(&self.file_rego_versions) {
                if glob.is_match(candidate) {
                    return Some(*v);
                }
            }
        }
        self.rego_version
    }

    /// The roots as OPA prints them in messages: `[a b]`.
    pub fn roots_display(&self) -> String {
        format!("[{}]", self.roots.join(" "))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').collect()
}

/// OPA's `rootContains`: the single empty root contains everything.
fn root_contains(root: &[&str], other: &[&str]) -> bool {
    if root.len() == 1 && root[0].is_empty() {
        return true;
    }
    root.len() <= other.len() && root.iter().zip(other).all(|(a, b)| a == b)
}

/// OPA's `RootPathsOverlap`.
pub fn roots_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (segments(a), segments(b));
    root_contains(&a, &b) || root_contains(&b, &a)
}

/// OPA's `RootPathsContain`: is `path` (slash separated) inside one of `roots`?
pub fn roots_contain(roots: &[String], path: &str) -> bool {
    let p = segments(path);
    roots.iter().any(|r| root_contains(&segments(r), &p))
}

/// Is `path` (segments) inside one of `roots`?
pub fn roots_contain_segments(roots: &[String], path: &[String]) -> bool {
    roots_contain(roots, &path.join("/"))
}

/// Is `path` a proper prefix of (or equal to) some root, so that an object at
/// `path` may hold data further down inside that root?
pub fn path_leads_to_root(roots: &[String], path: &str) -> bool {
    let p = segments(path);
    roots.iter().any(|r| root_contains(&p, &segments(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_survive_and_types_are_checked() {
        let m = Manifest::parse(
            ".manifest",
            br#"{"revision":"r1","roots":["/a/","b"],"rego_version":1,"metadata":{"k":1},"x":[1]}"#,
        )
        .unwrap();
        assert_eq!(m.revision, "r1");
        assert_eq!(m.roots, vec!["a", "b"]);
        assert_eq!(m.rego_version, Some(1));
        assert!(m.value.contains_key("x"));
        assert!(Manifest::parse(".manifest", br#"{"revision":1}"#).is_err());
        assert!(Manifest::parse(".manifest", br#"{"roots":"a"}"#).is_err());
        assert!(Manifest::parse(".manifest", br#"{"rego_version":2}"#).is_err());
        assert!(Manifest::parse(".manifest", b"{").is_err());
    }

    #[test]
    fn overlapping_roots_are_refused() {
        let e = Manifest::parse(".manifest", br#"{"roots":["a","a/b"]}"#).unwrap_err();
        assert!(matches!(e, Error::OverlappingRoots { .. }), "{e}");
        let e = Manifest::parse(".manifest", br#"{"roots":["","x"]}"#).unwrap_err();
        assert!(matches!(e, Error::OverlappingRoots { .. }), "{e}");
        assert!(Manifest::parse(".manifest", br#"{"roots":["a","ab"]}"#).is_ok());
    }

    #[test]
    fn file_rego_versions_match_names() {
        let m = Manifest::parse(
            ".manifest",
            br#"{"rego_version":1,"file_rego_versions":{"/old/*.rego":0}}"#,
        )
        .unwrap();
        assert_eq!(m.rego_version_for("/old/x.rego", "old/x.rego"), Some(0));
        assert_eq!(m.rego_version_for("old/x.rego", "old/x.rego"), Some(0));
        assert_eq!(m.rego_version_for("new/x.rego", "new/x.rego"), Some(1));
    }

    #[test]
    fn root_containment() {
        let roots = vec!["a/b".to_string()];
        assert!(roots_contain(&roots, "a/b/c"));
        assert!(!roots_contain(&roots, "a"));
        assert!(path_leads_to_root(&roots, "a"));
        assert!(!path_leads_to_root(&roots, "x"));
        assert!(roots_contain(&[String::new()], "anything"));
    }
}
