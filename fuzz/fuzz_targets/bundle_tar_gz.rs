//! The bundle reader on hostile input: `.tar.gz` bytes, plain tar (gzipped here, so mutations
//! reach the tar layer instead of breaking the deflate stream), and in-memory entries
//! (`from_entries`). Every outcome must be an error or a bundle; a bundle that was read must
//! survive the rest of the pipeline (data tree, merged data, inspect, optimize) and a write/read
//! round trip with the same files.
//!
//! The first input byte selects the mode (its low two bits):
//! - 0: the rest is a `.tar.gz` stream, read as `regopt optimize` reads a file;
//! - 1: the rest is a tar stream; it is gzipped (stored blocks) and read;
//! - 2: the rest is an `arbitrary` list of (name, bytes) entries for `from_entries`;
//! - 3: the rest is a tar stream split into two gzip members at a point the input chooses.
#![no_main]

use std::borrow::Cow;
use std::io::Write;

use arbitrary::{Arbitrary, Unstructured};
use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use regopt::bundle::read::{from_entries, read_tar_gz};
use regopt::bundle::write::{output_entries, write_tar_gz};
use regopt::bundle::{Bundle, WriteOptions};
use regopt::data::json;
use regopt::inspect::{inspect, InspectOptions};
use regopt::pipeline::{optimize_bundle, OptimizeOptions};
use regopt_fuzz::read_options;

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        let mut gz = GzEncoder::new(Vec::new(), Compression::none());
        gz.write_all(p).expect("in-memory gzip");
        out.extend(gz.finish().expect("in-memory gzip"));
    }
    out
}

/// Total module text above which the optimize step is skipped (the Rego front end and the
/// passes have their own targets; here it is the bundle-level wiring that matters).
const OPTIMIZE_MODULE_BYTES: usize = 16 << 10;

fn exercise(bundle: Bundle) {
    let opts = read_options();
    // The merged data is one valid JSON document, already compact.
    if let Ok(tree) = bundle.data_tree() {
        let mut merged = Vec::new();
        tree.write_merged(&mut merged);
        let mut again = Vec::new();
        json::compact(
            &merged,
            &json::Limits {
                max_depth: usize::MAX,
            },
            &mut again,
        )
        .unwrap_or_else(|e| panic!("merged data is not valid JSON: {e}"));
        assert_eq!(again, merged, "merged data is not compact");
    }
    let _ = bundle.pass_through();
    for f in &bundle.files {
        let _ = bundle.rego_version_of(f);
    }
    let _ = inspect(&bundle, &InspectOptions::default());

    // Write it as `regopt optimize` would and read it back: same files, same bytes.
    let entries = output_entries(&bundle, &WriteOptions::default())
        .unwrap_or_else(|e| panic!("a bundle that was read cannot be written: {e}"));
    let written = write_tar_gz(&entries, Vec::new(), 1).expect("in-memory write");
    let back = read_tar_gz(&written[..], &opts)
        .unwrap_or_else(|e| panic!("a written bundle does not read back: {e}"));
    let files = |b: &Bundle| -> Vec<(String, Vec<u8>)> {
        b.files
            .iter()
            .map(|f| (f.path.clone(), f.bytes.clone()))
            .collect()
    };
    assert_eq!(
        files(&back),
        files(&bundle),
        "write/read round trip changed the files"
    );

    // The whole optimize step on small bundles.
    let module_bytes: usize = bundle
        .files
        .iter()
        .filter(|f| f.kind == regopt::bundle::FileKind::Module)
        .map(|f| f.bytes.len())
        .sum();
    if module_bytes <= OPTIMIZE_MODULE_BYTES {
        let mut b = bundle;
        if let Ok(report) = optimize_bundle(&mut b, &OptimizeOptions::default()) {
            if let Some(passes) = &report.passes {
                let bugs = passes.get("bugs").and_then(|v| v.as_array());
                assert!(
                    bugs.is_none_or(|b| b.is_empty()),
                    "a pass produced an unparsable rewrite: {passes}"
                );
            }
            let entries: Vec<(String, Cow<'_, [u8]>)> =
                output_entries(&b, &WriteOptions::default()).expect("optimized bundle writes");
            let written = write_tar_gz(&entries, Vec::new(), 1).expect("in-memory write");
            read_tar_gz(&written[..], &opts)
                .unwrap_or_else(|e| panic!("an optimized bundle does not read back: {e}"));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let opts = read_options();
    let result = match mode & 3 {
        0 => read_tar_gz(rest, &opts),
        1 => read_tar_gz(&gzip(&[rest])[..], &opts),
        2 => {
            let u = Unstructured::new(rest);
            let Ok(entries) = Vec::<(String, Vec<u8>)>::arbitrary_take_rest(u) else {
                return;
            };
            from_entries(entries, &opts)
        }
        _ => {
            let cut = match rest.split_first() {
                Some((&c, r)) => (c as usize * r.len() / 255).min(r.len()),
                None => 0,
            };
            let r = rest.get(1..).unwrap_or_default();
            read_tar_gz(
                &gzip(&[&r[..cut.min(r.len())], &r[cut.min(r.len())..]])[..],
                &opts,
            )
        }
    };
    if let Ok(bundle) = result {
        exercise(bundle);
    }
});
