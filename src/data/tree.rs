//! The bundle's data as OPA sees it: every data file mounted at its directory
//! path and merged.
//!
//! Merging follows OPA's `internal/merge.InterfaceMaps`: the same key from two
//! files is a conflict unless both values are objects, which then merge
//! recursively. The tree is lazy: a file's document stays a [`RawValue`] over
//! its compact bytes and is only opened into a [`Node::Dir`] where another file
//! lands inside it, so building it costs little even for large data.

use std::collections::BTreeMap;

use super::json::{write_string, Kind, RawValue};
use crate::bundle::manifest::{path_leads_to_root, roots_contain};
use crate::bundle::{kind_name, BundleFile};
use crate::error::{Error, Result};

/// A node of the merged data tree.
#[derive(Clone, Debug)]
pub enum Node<'a> {
    /// A document taken whole from one file.
    Leaf {
        /// The document.
        value: RawValue<'a>,
        /// Index of the file it comes from.
        file: usize,
    },
    /// An object assembled from several files (or the path above a file).
    Dir {
        /// Members, by key.
        children: BTreeMap<String, Node<'a>>,
        /// The first file that contributed to this object.
        file: usize,
    },
}

/// The merged data of a bundle.
#[derive(Debug)]
pub struct DataTree<'a> {
    root: Node<'a>,
    files: Vec<&'a str>,
}

impl<'a> Node<'a> {
    fn kind(&self) -> Kind {
        match self {
            Node::Leaf { value, .. } => value.kind(),
            Node::Dir { .. } => Kind::Object,
        }
    }

    fn file(&self) -> usize {
        match self {
            Node::Leaf { file, .. } | Node::Dir { file, .. } => *file,
        }
    }

    /// Open a leaf object into a `Dir` so another file can merge into it.
    fn open(&mut self) {
        if let Node::Leaf { value, file } = *self {
            if value.kind() == Kind::Object {
                let mut children = BTreeMap::new();
                for (k, v) in value.members() {
                    children.insert(k.into_owned(), Node::Leaf { value: v, file });
                }
                *self = Node::Dir { children, file };
            }
        }
    }
}

fn dotted(path: &[String]) -> String {
    path.join(".")
}

impl<'a> DataTree<'a> {
    /// Mount and merge every data file (in path order, as given).
    pub fn build(all: &'a [BundleFile]) -> Result<DataTree<'a>> {
        let mut tree = DataTree {
            root: Node::Dir {
                children: BTreeMap::new(),
                file: usize::MAX,
            },
            files: Vec::new(),
        };
        for f in all {
            let Some(value) = f.data_value() else {
                continue;
            };
            let idx = tree.files.len();
            tree.files.push(&f.path);
            let segs = f.data_segments();
            if segs.is_empty() && value.kind() != Kind::Object {
                return Err(Error::RootNotObject {
                    file: f.path.clone(),
                    found: kind_name(value.kind()).to_string(),
                });
            }
            tree.insert(&segs, value, idx)?;
        }
        Ok(tree)
    }

    fn file_name(&self, idx: usize) -> String {
        self.files
            .get(idx)
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    fn insert(&mut self, segs: &[String], value: RawValue<'a>, file: usize) -> Result<()> {
        let mut node = &mut self.root;
        let mut walked: Vec<String> = Vec::new();
        for seg in segs {
            node.open();
            let first = node.file();
            match node {
                Node::Dir { children, .. } => {
                    walked.push(seg.clone());
                    node = children.entry(seg.clone()).or_insert_with(|| Node::Dir {
                        children: BTreeMap::new(),
                        file,
                    });
                }
                Node::Leaf { .. } => {
                    return Err(Error::DataConflict {
                        path: dotted(&walked),
                        first: self
                            .files
                            .get(first)
                            .map(|s| s.to_string())
                            .unwrap_or_default(),
                        second: self.files[file].to_string(),
                    });
                }
            }
        }
        // `node` is where the file's document goes. A fresh, empty Dir made
        // above just takes the value.
        if let Node::Dir { children, file: f } = node {
            if children.is_empty() && *f == file {
                *node = Node::Leaf { value, file };
                return Ok(());
            }
        }
        let files = self.files.clone();
        merge_into(node, value, file, &mut walked, &files)
    }

    /// The document at `path` (segments after `data`), if the data defines it.
    pub fn get(&self, path: &[String]) -> Option<Lookup<'a, '_>> {
        let mut node = &self.root;
        for (i, seg) in path.iter().enumerate() {
            match node {
                Node::Dir { children, .. } => node = children.get(seg)?,
                Node::Leaf { value, .. } => {
                    let mut v = *value;
                    for s in &path[i..] {
                        v = v.get(s)?;
                    }
                    return Some(Lookup::Raw(v));
                }
            }
        }
        Some(match node {
            Node::Leaf { value, .. } => Lookup::Raw(*value),
            Node::Dir { .. } => Lookup::Node(node),
        })
    }

    /// The root node.
    pub fn root(&self) -> &Node<'a> {
        &self.root
    }

    /// OPA's `validateAndInjectDefaults` data check: every document must lie
    /// inside a root; objects on the way to a root are walked into.
    pub fn check_roots(&self, roots: &[String], roots_display: &str) -> Result<()> {
        let mut stack: Vec<(Vec<String>, NodeRef<'a, '_>)> =
            vec![(Vec::new(), NodeRef::Node(&self.root))];
        while let Some((path, node)) = stack.pop() {
            let p = path.join("/");
            if roots_contain(roots, &p) {
                continue;
            }
            let is_object = node.kind() == Kind::Object;
            if is_object && path_leads_to_root(roots, &p) {
                match node {
                    NodeRef::Node(Node::Dir { children, .. }) => {
                        for (k, child) in children {
                            let mut cp = path.clone();
                            cp.push(k.clone());
                            stack.push((cp, NodeRef::Node(child)));
                        }
                    }
                    NodeRef::Node(Node::Leaf { value, file }) => {
                        for (k, v) in value.members() {
                            let mut cp = path.clone();
                            cp.push(k.into_owned());
                            stack.push((cp, NodeRef::Raw(v, *file)));
                        }
                    }
                    NodeRef::Raw(value, file) => {
                        for (k, v) in value.members() {
                            let mut cp = path.clone();
                            cp.push(k.into_owned());
                            stack.push((cp, NodeRef::Raw(v, file)));
                        }
                    }
                }
                continue;
            }
            return Err(Error::DataOutsideRoots {
                file: self.file_name(node.file()),
                roots: roots_display.to_string(),
                path: p,
            });
        }
        Ok(())
    }

    /// Write the whole merged document as compact JSON (`--merge-data`).
    /// Keys of assembled objects come out sorted; documents taken whole from
    /// one file keep their bytes.
    pub fn write_merged(&self, out: &mut Vec<u8>) {
        write_node(&self.root, out);
    }
}

fn write_node(node: &Node<'_>, out: &mut Vec<u8>) {
    match node {
        Node::Leaf { value, .. } => out.extend_from_slice(value.as_bytes()),
        Node::Dir { children, .. } => {
            out.push(b'{');
            for (i, (k, child)) in children.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_node(child, out);
            }
            out.push(b'}');
        }
    }
}

/// A result of [`DataTree::get`].
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a, 't> {
    /// A document inside one file.
    Raw(RawValue<'a>),
    /// An object assembled from several files.
    Node(&'t Node<'a>),
}

impl Lookup<'_, '_> {
    /// JSON kind of the document.
    pub fn kind(&self) -> Kind {
        match self {
            Lookup::Raw(v) => v.kind(),
            Lookup::Node(n) => n.kind(),
        }
    }

    /// Compact JSON text of the document.
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            Lookup::Raw(v) => v.as_bytes().to_vec(),
            Lookup::Node(n) => {
                let mut out = Vec::new();
                write_node(n, &mut out);
                out
            }
        }
    }

    /// (compact bytes, keys or elements) of the document.
    pub fn size(&self) -> (u64, u64) {
        match self {
            Lookup::Raw(v) => (v.as_bytes().len() as u64, v.len() as u64),
            Lookup::Node(n) => {
                let mut out = Vec::new();
                write_node(n, &mut out);
                let count = match n {
                    Node::Dir { children, .. } => children.len() as u64,
                    Node::Leaf { value, .. } => value.len() as u64,
                };
                (out.len() as u64, count)
            }
        }
    }
}

#[derive(Clone, Copy)]
enum NodeRef<'a, 't> {
    Node(&'t Node<'a>),
    Raw(RawValue<'a>, usize),
}

impl NodeRef<'_, '_> {
    fn kind(&self) -> Kind {
        match self {
            NodeRef::Node(n) => n.kind(),
            NodeRef::Raw(v, _) => v.kind(),
        }
    }
    fn file(&self) -> usize {
        match self {
            NodeRef::Node(n) => n.file(),
            NodeRef::Raw(_, f) => *f,
        }
    }
}

/// Merge `value` (from `file`) into `node`, as `merge.InterfaceMaps` does.
fn merge_into<'a>(
    node: &mut Node<'a>,
    value: RawValue<'a>,
    file: usize,
    path: &mut Vec<String>,
    files: &[&str],
) -> Result<()> {
    node.open();
    let first = node.file();
    let conflict = |path: &[String]| Error::DataConflict {
        path: dotted(path),
        first: files.get(first).map(|s| s.to_string()).unwrap_or_default(),
        second: files[file].to_string(),
    };
    let Node::Dir { children, .. } = node else {
        return Err(conflict(path));
    };
    if value.kind() != Kind::Object {
        return Err(conflict(path));
    }
    for (k, v) in value.members() {
        let k = k.into_owned();
        match children.get_mut(&k) {
            None => {
                children.insert(k, Node::Leaf { value: v, file });
            }
            Some(existing) => {
                path.push(k);
                if existing.kind() != Kind::Object || v.kind() != Kind::Object {
                    let first = existing.file();
                    return Err(Error::DataConflict {
                        path: dotted(path),
                        first: files.get(first).map(|s| s.to_string()).unwrap_or_default(),
                        second: files[file].to_string(),
                    });
                }
                merge_into(existing, v, file, path, files)?;
                path.pop();
            }
        }
    }
    Ok(())
}
