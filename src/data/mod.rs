//! Bundle data: the JSON compactor and navigator, YAML conversion, the merged
//! data tree, and subtree statistics.

pub mod json;
pub mod stats;
pub mod strip;
pub mod tree;
pub mod view;
pub mod yaml;

pub use tree::DataTree;
