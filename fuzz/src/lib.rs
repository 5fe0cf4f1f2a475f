//! Shared pieces of the regopt fuzz targets: the reading limits every target uses, and the
//! structured policy generator of `rego_generated` (see `docs/robustness.md`).

pub mod eval;
pub mod gen;

use regopt::bundle::ReadOptions;
use regopt::data::json;

/// Largest single file a fuzzed bundle may hold (the CLI's `--size-limit`, scaled down).
pub const SIZE_LIMIT: u64 = 1 << 20;
/// Largest total uncompressed size of a fuzzed bundle (`--max-total-size`, scaled down).
pub const MAX_TOTAL_SIZE: u64 = 8 << 20;
/// Largest number of archive entries (`--max-entries`, scaled down).
pub const MAX_ENTRIES: u64 = 1000;

/// The reader's limits under fuzzing: the CLI's own checks, with values small enough that a
/// legitimate-but-large input cannot exhaust the fuzzer's memory (`-rss_limit_mb=2048`). The
/// JSON nesting limit is the CLI's default (`--max-depth 1000`).
pub fn read_options() -> ReadOptions {
    ReadOptions {
        size_limit: SIZE_LIMIT,
        max_total_size: MAX_TOTAL_SIZE,
        max_entries: MAX_ENTRIES,
        json: json::Limits::default(),
        keep_data_bytes: false,
    }
}

/// Whether `REGOPT_FUZZ_SHOW` is set: targets then print what they derived from an input
/// (rendered policies, results), for reproducing a crash by hand.
pub fn show() -> bool {
    std::env::var_os("REGOPT_FUZZ_SHOW").is_some()
}
