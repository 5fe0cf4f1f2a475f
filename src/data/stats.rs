//! Subtree statistics for `inspect`: the largest documents by path and the
//! duplicate subtrees found by content hash (sha256 of the compact bytes).

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::json::{Kind, RawValue};
use crate::bundle::{kind_name, Bundle};

/// Size facts about one document in the data.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SubtreeStat {
    /// Rego reference, e.g. `data.rules["a-b"][3]`.
    pub path: String,
    /// JSON type.
    pub kind: &'static str,
    /// Compact bytes.
    pub bytes: u64,
    /// Keys (objects) or elements (arrays).
    pub children: u64,
}

/// Identical subtrees stored more than once.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DuplicateGroup {
    /// sha256 of the compact bytes, hex.
    pub sha256: String,
    /// Bytes of one copy.
    pub bytes: u64,
    /// Every path holding a copy.
    pub paths: Vec<String>,
    /// Bytes taken by the copies beyond the first.
    pub wasted: u64,
}

/// Render a data path as a Rego reference.
pub fn rego_ref(segs: &[Seg]) -> String {
    let mut s = String::from("data");
    for seg in segs {
        match seg {
            Seg::Key(k) if crate::rego::ast::is_ident(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Key(k) => {
                s.push('[');
                s.push_str(&serde_json::to_string(k).unwrap_or_default());
                s.push(']');
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// One step of a data path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    /// Object key.
    Key(String),
    /// Array index.
    Index(usize),
}

struct Visit<'a> {
    path: Vec<Seg>,
    value: RawValue<'a>,
}

/// Walk every data file; `f` sees each document with its full path and
/// depth below the file's mount point, and returns whether to descend.
fn walk_file<'a>(
    mount: &[String],
    root: RawValue<'a>,
    f: &mut dyn FnMut(&[Seg], usize, RawValue<'a>) -> bool,
) {
    let base: Vec<Seg> = mount.iter().cloned().map(Seg::Key).collect();
    let base_len = base.len();
    let mut stack = vec![Visit {
        path: base,
        value: root,
    }];
    while let Some(Visit { path, value }) = stack.pop() {
        let depth = path.len() - base_len;
        if !f(&path, depth, value) {
            continue;
        }
        match value.kind() {
            Kind::Object => {
                for (k, v) in value.members() {
                    let mut p = path.clone();
                    p.push(Seg::Key(k.into_owned()));
                    stack.push(Visit { path: p, value: v });
                }
            }
            Kind::Array => {
                for (i, v) in value.elements().enumerate() {
                    let mut p = path.clone();
                    p.push(Seg::Index(i));
                    stack.push(Visit { path: p, value: v });
                }
            }
            _ => {}
        }
    }
}

/// The largest documents at most `max_depth` levels below the data root,
/// biggest first.
pub fn largest(bundle: &Bundle, top: usize, max_depth: usize) -> Vec<SubtreeStat> {
    let mut all: Vec<SubtreeStat> = bundle
        .files
        .par_iter()
        .filter_map(|f| f.data_value().map(|v| (f.data_segments(), v)))
        .flat_map_iter(|(mount, root)| {
            let mut out = Vec::new();
            walk_file(&mount, root, &mut |path, _depth, v| {
                if path.is_empty() {
                    return true; // the data root itself is not interesting
                }
                out.push(SubtreeStat {
                    path: rego_ref(path),
                    kind: kind_name(v.kind()),
                    bytes: v.as_bytes().len() as u64,
                    children: v.len() as u64,
                });
                path.len() < max_depth
            });
            out
        })
        .collect();
    all.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    all.truncate(top);
    all
}

/// Groups of identical subtrees of at least `min_bytes`, largest waste first.
/// A copy nested inside another reported copy is not listed again.
pub fn duplicates(bundle: &Bundle, min_bytes: usize) -> Vec<DuplicateGroup> {
    let found: Vec<([u8; 32], Vec<Seg>, u64)> = bundle
        .files
        .par_iter()
        .filter_map(|f| f.data_value().map(|v| (f.data_segments(), v)))
        .flat_map_iter(|(mount, root)| {
            let mut out = Vec::new();
            walk_file(&mount, root, &mut |path, _depth, v| {
                let bytes = v.as_bytes();
                if bytes.len() < min_bytes {
                    return false; // nothing below can be large enough
                }
                let digest: [u8; 32] = Sha256::digest(bytes).into();
                out.push((digest, path.to_vec(), bytes.len() as u64));
                true
            });
            out
        })
        .collect();
    let mut by_hash: HashMap<[u8; 32], Vec<(Vec<Seg>, u64)>> = HashMap::new();
    for (h, p, n) in found {
        by_hash.entry(h).or_default().push((p, n));
    }
    by_hash.retain(|_, v| v.len() > 1);
    let members: HashSet<Vec<Seg>> = by_hash.values().flatten().map(|(p, _)| p.clone()).collect();
    let mut groups: Vec<DuplicateGroup> = by_hash
        .into_iter()
        .filter_map(|(h, copies)| {
            let bytes = copies[0].1;
            let mut paths: Vec<Vec<Seg>> = copies
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| !(1..p.len()).any(|i| members.contains(&p[..i])))
                .collect();
            if paths.len() < 2 {
                return None;
            }
            paths.sort_by_key(|p| rego_ref(p));
            let n = paths.len() as u64;
            Some(DuplicateGroup {
                sha256: hex::encode(h),
                bytes,
                paths: paths.iter().map(|p| rego_ref(p)).collect(),
                wasted: bytes * (n - 1),
            })
        })
        .collect();
    groups.sort_by(|a, b| b.wasted.cmp(&a.wasted).then_with(|| a.paths.cmp(&b.paths)));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::read::{from_entries, ReadOptions};

    #[test]
    fn finds_duplicates_once_at_the_top() {
        let big = format!("{{\"x\":\"{}\",\"y\":[1,2,3]}}", "z".repeat(300));
        let data = format!("{{\"a\":{big},\"b\":{big},\"c\":{{\"d\":{big}}}}}");
        let b = from_entries(
            vec![("data.json".to_string(), data.into_bytes())],
            &ReadOptions::default(),
        )
        .unwrap();
        let groups = duplicates(&b, 100);
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups[0].paths, vec!["data.a", "data.b", "data.c.d"]);
        assert_eq!(groups[0].wasted, 2 * groups[0].bytes);
    }

    #[test]
    fn largest_is_sorted_and_refs_are_rego() {
        let b = from_entries(
            vec![(
                "r/data.json".to_string(),
                br#"{"small":1,"big-key":{"a":[1,2,3,4,5,6,7,8,9]}}"#.to_vec(),
            )],
            &ReadOptions::default(),
        )
        .unwrap();
        let l = largest(&b, 3, 2);
        assert_eq!(l[0].path, "data.r");
        assert_eq!(l[1].path, "data.r[\"big-key\"]");
        assert!(l[0].bytes > l[1].bytes);
    }
}
