//! Helpers shared by the integration tests: paths, temp dirs, test data files.
#![allow(dead_code)] // each test binary uses its own subset

pub mod oracle;

use std::path::{Path, PathBuf};

/// The `regopt` binary built for this test run.
pub fn regopt_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_regopt"))
}

/// The crate root (where Cargo.toml, tests/ and testdata/ live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata() -> PathBuf {
    repo_root().join("testdata")
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("regopt-test-")
        .tempdir()
        .expect("create a temporary directory")
}

/// Every sample bundle directory under testdata/bundles, sorted by name.
pub fn sample_bundles() -> Vec<PathBuf> {
    let dir = testdata().join("bundles");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("read testdata/bundles").path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// The non-empty lines of a text file (a `.queries` or `.jsonl` file); lines
/// starting with `#` are comments.
pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(String::from)
        .collect()
}
