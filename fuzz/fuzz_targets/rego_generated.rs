//! Structured differential fuzzing of the rewrite passes: an `arbitrary` (policy, data, input)
//! triple built from the patterns the passes rewrite and the forms they must decline
//! (`regopt_fuzz::gen`), optimized in memory exactly as `regopt optimize` does (`from_entries`
//! then `optimize_bundle`), then the original and the optimized modules are evaluated in
//! regorus: every query must give the same rows, or both an error. The pass driver must report
//! no bug.
//!
//! `REGOPT_FUZZ_SHOW=1` prints each case; `REGOPT_FUZZ_EXPORT=DIR` writes each case as JSON
//! (`{modules, data, input, queries, strict}`) into DIR — run the binary over a corpus
//! directory with `-runs=0` to export it (see docs/robustness.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regopt::bundle::read::from_entries;
use regopt::pipeline::{module_sources, optimize_bundle, OptimizeOptions};
use regopt_fuzz::eval::eval;
use regopt_fuzz::gen::Case;
use regopt_fuzz::{read_options, show};

fuzz_target!(|case: Case| {
    let r = case.render();
    if show() {
        eprintln!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    }
    if let Some(dir) = std::env::var_os("REGOPT_FUZZ_EXPORT") {
        let text = serde_json::to_string_pretty(&r).unwrap_or_default();
        let name = format!("{:016x}.json", fxhash(text.as_bytes()));
        let _ = std::fs::write(std::path::Path::new(&dir).join(name), text);
    }
    let data_text = r.data.as_ref().map(|d| d.to_string());
    let mut entries: Vec<(String, Vec<u8>)> = r
        .modules
        .iter()
        .map(|(p, t)| (p.clone(), t.clone().into_bytes()))
        .collect();
    if let Some(d) = &data_text {
        entries.push(("data.json".into(), d.clone().into_bytes()));
    }
    let mut bundle = match from_entries(entries, &read_options()) {
        Ok(b) => b,
        // e.g. `package rules` beside a non-object data.rules: refused when read, as OPA does.
        Err(_) => return,
    };
    let report = optimize_bundle(&mut bundle, &OptimizeOptions::default())
        .unwrap_or_else(|e| panic!("optimize refused a bundle it read: {e}"));
    if let Some(passes) = &report.passes {
        let bugs = passes.get("bugs").and_then(|v| v.as_array());
        assert!(
            bugs.is_none_or(|b| b.is_empty()),
            "the pass driver reported bugs: {passes}"
        );
    }
    let optimized: Vec<(String, String)> = module_sources(&bundle)
        .into_iter()
        .map(|m| (m.path, m.text))
        .collect();
    let input_text = r.input.as_ref().map(|i| i.to_string());
    let before = eval(
        &r.modules,
        data_text.as_deref(),
        input_text.as_deref(),
        &r.queries,
        r.strict,
    );
    let after = eval(
        &optimized,
        data_text.as_deref(),
        input_text.as_deref(),
        &r.queries,
        r.strict,
    );
    if show() {
        eprintln!(
            "rewrites: {}\nbefore: {before:?}\nafter:  {after:?}",
            report.rewrites
        );
    }
    for ((q, a), b) in r.queries.iter().zip(&before).zip(&after) {
        if !a.agrees(b) {
            let modules: Vec<String> = optimized
                .iter()
                .map(|(p, t)| format!("--- {p}\n{t}"))
                .collect();
            panic!(
                "decision changed for {q} (strict={}):\n original:  {a:?}\n optimized: {b:?}\n\
                 case: {}\noptimized modules:\n{}",
                r.strict,
                serde_json::to_string_pretty(&r).unwrap_or_default(),
                modules.join("\n")
            );
        }
    }
});

/// A small stable hash for export file names.
fn fxhash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
