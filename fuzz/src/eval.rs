//! Evaluating a rendered case in regorus, in process: the outcome of every query, as a sorted
//! set of result rows or an error (two errors agree whatever their text, which names
//! locations that a rewrite moves).

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

/// What one query gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Result rows (expression values and bindings as JSON), sorted and deduplicated; empty
    /// means undefined.
    Rows(Vec<String>),
    Error(String),
}

impl Outcome {
    /// The same decision: equal rows, or both errors.
    pub fn agrees(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Error(_), Outcome::Error(_)) => true,
            (a, b) => a == b,
        }
    }
}

/// Time bound of one evaluation (generated policies evaluate in microseconds).
pub const EVAL_LIMIT: Duration = Duration::from_secs(5);

/// Load `modules` (Rego v1) and `data` into a fresh engine and evaluate every query with
/// `input` (None: no input document). A load failure is the outcome of every query.
pub fn eval(
    modules: &[(String, String)],
    data: Option<&str>,
    input: Option<&str>,
    queries: &[String],
    strict: bool,
) -> Vec<Outcome> {
    let mut engine = Engine::new();
    engine.set_strict_builtin_errors(strict);
    engine.set_gather_prints(true);
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: EVAL_LIMIT,
        check_interval: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
    });
    let load = (|| -> Result<(), String> {
        for (path, text) in modules {
            engine
                .add_policy(path.clone(), text.clone())
                .map_err(|e| format!("load {path}: {e}"))?;
        }
        if let Some(d) = data {
            engine
                .add_data(Value::from_json_str(d).map_err(|e| format!("data: {e}"))?)
                .map_err(|e| format!("data: {e}"))?;
        }
        match input {
            Some(i) => engine
                .set_input_json(i)
                .map(|_| ())
                .map_err(|e| format!("input: {e}")),
            None => {
                engine.set_input(Value::Undefined);
                Ok(())
            }
        }
    })();
    if let Err(e) = load {
        return vec![Outcome::Error(e); queries.len()];
    }
    queries
        .iter()
        .map(|q| match engine.eval_query(q.clone(), false) {
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
        })
        .collect()
}
