//! regopt: make OPA bundles smaller and their policies cheap to evaluate,
//! with exactly the same decisions.
//!
//! The pipeline is fixed: [`bundle::read_path`] reads and validates a bundle
//! (as OPA's loader does, with safety limits), [`pipeline::optimize_bundle`]
//! rewrites it, and [`bundle::write_path`] writes it deterministically and
//! atomically.

pub mod api;
pub mod bundle;
pub mod check;
pub mod data;
pub mod dedup;
pub mod error;
pub mod inspect;
pub mod passes;
pub mod pipeline;
pub mod prune;
pub mod rego;
pub mod report;
pub mod serve;
pub mod sign;
pub mod verify;
pub mod world;

pub use error::{Error, Result};
