//! The data loader on arbitrary bytes: the strict JSON compactor (`data.json`, `.manifest`)
//! with the CLI's nesting limit, lazy navigation and the canonical form over what it accepts,
//! and the YAML loader (`data.yaml`).
//!
//! Properties:
//! - `compact` never panics; on success its output compacts to itself, byte for byte;
//! - whatever serde_json (a second, independent strict parser) accepts within the nesting
//!   limit, `compact` accepts too, and both read the same value from input and output;
//! - navigation over the output (`walk`, `members`, `elements`, `get`, `len`, scalars) never
//!   panics and agrees with serde_json on member and element counts;
//! - `to_canonical` gives valid compact JSON with the same value, and is idempotent;
//! - stripping whitespace while reading (`strip::Stripper`, fed in pieces of any size) never
//!   changes the outcome: the stripped text compacts to the same bytes, or fails too;
//! - the YAML loader never panics; on success its JSON is compact and valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regopt::data::json::{self, compact, to_canonical, walk, Kind, Limits, RawValue};
use regopt::data::strip::Stripper;
use regopt::data::yaml;

/// Nesting limit: the CLI's default (`--max-depth 1000`).
const LIMITS: Limits = Limits {
    max_depth: json::DEFAULT_MAX_DEPTH,
};

fn serde_parse(bytes: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(bytes).ok()
}

fn recompacts_to_itself(out: &[u8], what: &str) {
    let mut again = Vec::new();
    compact(out, &LIMITS, &mut again)
        .unwrap_or_else(|e| panic!("{what} does not compact again: {e}"));
    assert_eq!(again, out, "{what} is not a fixed point of compact");
}

/// Navigate everything below `v`; returns the number of values visited.
fn navigate(v: RawValue<'_>) -> usize {
    let mut visited = 0usize;
    walk(v, &mut |_path, value| {
        visited += 1;
        let _ = value.as_bool();
        let _ = value.as_number_text();
        let _ = value.as_str();
        let _ = value.is_empty();
        match value.kind() {
            Kind::Object => {
                let n = value.len();
                let mut count = 0;
                for (k, _) in value.members() {
                    count += 1;
                    // The first member with a key is the one `get` finds (keys are unique).
                    assert!(value.get(&k).is_some(), "get({k:?}) misses a member");
                }
                assert_eq!(n, count, "len() disagrees with members()");
            }
            Kind::Array => {
                assert_eq!(value.len(), value.elements().count());
            }
            _ => {}
        }
        true
    });
    visited
}

fn serde_count(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(serde_count).sum(),
        serde_json::Value::Object(o) => o.values().map(serde_count).sum(),
        _ => 0,
    }
}

fn check_json(data: &[u8]) {
    let mut out = b"prefix".to_vec();
    let r = compact(data, &LIMITS, &mut out);
    let reference = serde_parse(data);
    let Ok(()) = r else {
        assert_eq!(out, b"prefix", "compact changed its output on error");
        if let Some(v) = reference {
            // serde_json reads this (within its own 128 levels); compact refused it.
            panic!("serde_json accepts what compact refuses ({r:?}): {v}");
        }
        return;
    };
    assert!(
        out.starts_with(b"prefix"),
        "compact dropped what was in its output"
    );
    let out = &out[b"prefix".len()..];
    recompacts_to_itself(out, "compact output");

    let value = RawValue::new_unchecked(out);
    let visited = navigate(value);
    let from_out = serde_parse(out);
    if let Some(reference) = &reference {
        let from_out = from_out
            .as_ref()
            .unwrap_or_else(|| panic!("serde_json reads the input but not compact's output"));
        assert_eq!(from_out, reference, "compact changed the value");
        assert_eq!(
            visited,
            serde_count(reference),
            "walk visits a different number of values"
        );
    }

    let mut canon = Vec::new();
    to_canonical(value, &mut canon);
    recompacts_to_itself(&canon, "canonical form");
    let mut canon2 = Vec::new();
    to_canonical(RawValue::new_unchecked(&canon), &mut canon2);
    assert_eq!(canon2, canon, "to_canonical is not idempotent");
    if let (Some(a), Some(b)) = (&from_out, serde_parse(&canon)) {
        // Lone surrogates decode to U+FFFD in the canonical form, as in Go; serde_json
        // refuses them, so only compare when both parse.
        assert_eq!(&b, a, "canonical form changed the value");
    } else if from_out.is_some() {
        // serde_json read compact's output, so it is within its nesting limit and free of
        // lone surrogates: the canonical form must read too.
        panic!("serde_json reads compact's output but not its canonical form");
    }
}

/// What the reader does with a large data file: strip while reading, then
/// compact. The piece size comes from the first byte, so boundaries fall
/// inside strings, escapes and whitespace runs.
fn check_strip(data: &[u8]) {
    let piece = 1 + usize::from(data.first().copied().unwrap_or(0) % 17);
    let mut stripper = Stripper::default();
    let mut stripped = Vec::new();
    for p in data.chunks(piece) {
        stripper.feed(p, &mut stripped);
    }
    let mut direct = Vec::new();
    let direct = compact(data, &LIMITS, &mut direct).map(|()| direct);
    let mut via = Vec::new();
    let via = compact(&stripped, &LIMITS, &mut via).map(|()| via);
    match (&direct, &via) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "stripping changed the compact form"),
        (Err(_), Err(_)) => {}
        _ => panic!("stripping changed validity: direct {direct:?}, stripped {via:?}"),
    }
}

fn check_yaml(data: &[u8]) {
    if let Ok(j) = yaml::to_json(data, &LIMITS) {
        recompacts_to_itself(&j, "YAML loader output");
        navigate(RawValue::new_unchecked(&j));
    }
}

fuzz_target!(|data: &[u8]| {
    check_json(data);
    check_strip(data);
    check_yaml(data);
});
