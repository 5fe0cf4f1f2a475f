//! Evaluating a bundle's modules in regorus (in process), as a second engine beside real OPA
//! and the only one for Rego v0 modules (the OPA oracle reads v1 only).
//!
//! An outcome is the set of result rows (each row's expression values and bindings, as
//! canonical JSON; rows compared as a set, as the OPA oracle does, because a rewrite may change
//! the order in which rows are produced) or an error. Error messages are kept for display only:
//! two errors count as agreement (their text may differ by location).

use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use regopt::rego::{ModuleSource, RegoVersion};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

/// What one evaluation gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Result rows, sorted and deduplicated; empty = undefined.
    Rows(Vec<String>),
    /// Loading the modules/data or evaluating failed (message, for display).
    Error(String),
}

impl Outcome {
    /// Same decision: equal row sets, or both errors.
    pub fn agrees(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Error(_), Outcome::Error(_)) => true,
            (a, b) => a == b,
        }
    }

    pub fn show(&self) -> String {
        match self {
            Outcome::Rows(r) if r.is_empty() => "undefined".into(),
            Outcome::Rows(r) => super::one_line(&format!("[{}]", r.join(", ")), 600),
            Outcome::Error(e) => format!("error: {}", super::one_line(e, 600)),
        }
    }
}

/// One evaluation request: the query and the input (JSON text; None = no input document).
pub struct Request<'a> {
    pub query: &'a str,
    pub input: Option<&'a str>,
}

/// Builds an engine with `modules` (each parsed with its own Rego version) and the `data`
/// documents, then evaluates every request. A load failure is the outcome of every request.
/// Panics inside regorus are caught and become errors.
pub fn eval_all(
    modules: &[ModuleSource],
    data: &[String],
    strict: bool,
    requests: &[Request],
) -> Vec<Outcome> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        eval_all_inner(modules, data, strict, requests)
    }));
    match result {
        Ok(v) => v,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            vec![Outcome::Error(format!("regorus panicked: {msg}")); requests.len()]
        }
    }
}

fn eval_all_inner(
    modules: &[ModuleSource],
    data: &[String],
    strict: bool,
    requests: &[Request],
) -> Vec<Outcome> {
    let mut engine = Engine::new();
    engine.set_strict_builtin_errors(strict);
    // `print` output is gathered (and dropped) rather than written to stdout
    engine.set_gather_prints(true);
    // A bound on runaway evaluations: the corpus cases run in microseconds.
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: Duration::from_secs(20),
        check_interval: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
    });
    let mut load = || -> anyhow_like::Result<()> {
        for m in modules {
            engine.set_rego_v0(m.version == RegoVersion::V0);
            engine
                .add_policy(m.path.clone(), m.text.clone())
                .map_err(|e| format!("load {}: {e}", m.path))?;
        }
        for d in data {
            engine.add_data_json(d).map_err(|e| format!("data: {e}"))?;
        }
        Ok(())
    };
    if let Err(e) = load() {
        return vec![Outcome::Error(e); requests.len()];
    }
    requests
        .iter()
        .map(|r| {
            match r.input {
                Some(text) => {
                    if let Err(e) = engine.set_input_json(text) {
                        return Outcome::Error(format!("input: {e}"));
                    }
                }
                None => engine.set_input(Value::Undefined),
            }
            match engine.eval_query(r.query.to_string(), false) {
                Ok(results) => {
                    let mut rows: Vec<String> = results
                        .result
                        .iter()
                        .map(|row| {
                            let values: Vec<&Value> =
                                row.expressions.iter().map(|e| &e.value).collect();
                            serde_json::to_string(&(values, &row.bindings))
                                .unwrap_or_else(|e| format!("<unserialisable row: {e}>"))
                        })
                        .collect();
                    rows.sort();
                    rows.dedup();
                    Outcome::Rows(rows)
                }
                Err(e) => Outcome::Error(e.to_string()),
            }
        })
        .collect()
}

/// `Result` with a plain message (no anyhow dependency in the tests).
mod anyhow_like {
    pub type Result<T> = std::result::Result<T, String>;
}
