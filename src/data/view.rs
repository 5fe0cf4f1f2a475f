//! The bundle's merged data seen through the passes' [`DataView`] trait.

use crate::bundle::manifest::roots_contain_segments;
use crate::data::json::Kind;
use crate::data::tree::DataTree;
use crate::rego::facts::{DataKind, DataView};

/// Facts about a bundle's data for the rewrite passes.
pub struct BundleData<'a> {
    tree: DataTree<'a>,
    roots: Vec<String>,
}

impl<'a> BundleData<'a> {
    /// Wrap a merged data tree and the manifest roots in force.
    pub fn new(tree: DataTree<'a>, roots: Vec<String>) -> Self {
        BundleData { tree, roots }
    }
}

fn kind(k: Kind) -> DataKind {
    match k {
        Kind::Null => DataKind::Null,
        Kind::Bool => DataKind::Bool,
        Kind::Number => DataKind::Number,
        Kind::String => DataKind::String,
        Kind::Array => DataKind::Array,
        Kind::Object => DataKind::Object,
    }
}

impl DataView for BundleData<'_> {
    fn kind_at(&self, path: &[String]) -> Option<DataKind> {
        self.tree.get(path).map(|l| kind(l.kind()))
    }

    fn size_at(&self, path: &[String]) -> Option<(u64, u64)> {
        self.tree.get(path).map(|l| l.size())
    }

    fn owned(&self, path: &[String]) -> bool {
        roots_contain_segments(&self.roots, path)
    }

    fn json_at(&self, path: &[String]) -> Option<Vec<u8>> {
        self.tree.get(path).map(|l| l.to_json())
    }
}
