//! The Rego front end and every rewrite pass on arbitrary text.
//!
//! The input is UTF-8 text of one or more parts separated by a line `#---`; a part whose first
//! non-blank character is `{` is the bundle's data (JSON, else the default data below), every
//! other part is a module (`# v0` as its first line makes it a Rego v0 module). So a `.rego`
//! file alone is a valid input, and seeds can carry a golden case's data.
//!
//! Properties: parsing, `check` and `passes::run` never panic or hang; the driver reports no
//! bug (a pass whose rewrite does not parse, or whose edits are out of bounds or overlap); the
//! driver reaches a fixpoint within its round bound; every module that parsed still parses
//! after the rewrite; and optimizing the optimized modules again rewrites nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regopt::passes::{self, PassOptions};
use regopt::rego::{parse_module, JsonDataView, ModuleSource, RegoVersion};
use serde_json::json;

/// Largest module text fed to the parser: the passes are linear-ish in it, and a few KiB
/// exercise every construct (matches `-max_len` in `.ci/fuzz`).
const MAX_TEXT: usize = 16 << 10;

fn default_data() -> serde_json::Value {
    json!({
        "rules": {"k": "v", "1": "one", "": "empty", "a.b": "dotted", "a": {"b": 1},
                  "f": false, "n": null, "z": 0, "o": {}},
        "roles": {"admin": {"perms": ["read"], "level": 3}, "viewer": false},
        "users": {"alice": {"role": "admin"}, "1": null},
        "arr": [1, 2],
        "str": "s",
    })
}

fn split(text: &str) -> (Vec<ModuleSource>, Option<serde_json::Value>) {
    let mut modules = Vec::new();
    let mut data = None;
    for (i, part) in text.split("\n#---\n").enumerate().take(4) {
        if part.trim_start().starts_with('{') {
            if data.is_none() {
                data = serde_json::from_str(part).ok();
            }
            continue;
        }
        let version = if part.starts_with("# v0") {
            RegoVersion::V0
        } else {
            RegoVersion::V1
        };
        modules.push(ModuleSource::new(format!("m{i}.rego"), part, version));
    }
    (modules, data)
}

fuzz_target!(|bytes: &[u8]| {
    if bytes.len() > MAX_TEXT {
        return;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let (mut modules, data) = split(text);
    let parsed_before: Vec<bool> = modules.iter().map(|m| parse_module(m).is_ok()).collect();
    if !parsed_before.iter().any(|&ok| ok) {
        return;
    }
    let data = JsonDataView::new(data.unwrap_or_else(default_data));
    let _ = regopt::check::check(&modules, &data);

    let original = modules.clone();
    let opts = PassOptions::default();
    let report = passes::run(&mut modules, &data, &opts);
    let show = |why: &str| {
        format!(
            "{why}\n--- report: {report:?}\n--- before:\n{}\n--- after:\n{}",
            original
                .iter()
                .map(|m| m.text.as_str())
                .collect::<Vec<_>>()
                .join("\n#---\n"),
            modules
                .iter()
                .map(|m| m.text.as_str())
                .collect::<Vec<_>>()
                .join("\n#---\n"),
        )
    };
    assert!(
        report.bugs.is_empty(),
        "{}",
        show("the pass driver reported bugs")
    );
    assert!(
        !report.hit_iteration_limit,
        "{}",
        show("no fixpoint within the round bound")
    );
    for (m, ok) in modules.iter().zip(&parsed_before) {
        if *ok {
            if let Err(e) = parse_module(m) {
                panic!("{}", show(&format!("rewritten module does not parse: {e}")));
            }
        } else {
            assert_eq!(
                m.text,
                original
                    .iter()
                    .find(|o| o.path == m.path)
                    .map(|o| o.text.as_str())
                    .unwrap_or(""),
                "a module that did not parse was changed"
            );
        }
    }
    if !report.rewrites.is_empty() {
        let mut again = modules.clone();
        let second = passes::run(&mut again, &data, &opts);
        assert!(
            second.bugs.is_empty(),
            "{}",
            show("second run reported bugs")
        );
        assert!(
            second.rewrites.is_empty(),
            "{}\n--- second run: {:?}",
            show("optimizing the optimized modules rewrote again"),
            second.rewrites
        );
    }
});
