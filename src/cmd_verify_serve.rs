//! The `verify` and `serve` subcommands of the binary.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use regopt::bundle::{self, WriteOptions};
use regopt::error::exit;
use regopt::passes::PassOptions;
use regopt::pipeline::OptimizeOptions;
use regopt::serve::{LogLevel, ServeOptions, Server};
use regopt::verify::{self, VerifyOptions};
use regopt::Error;

use super::{on, Failure, LimitArgs};
use crate::progress::Progress;

#[derive(Clone, Copy, ValueEnum)]
pub enum VerifyFormat {
    Pretty,
    Json,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The original bundle: a .tar.gz file or a directory.
    original: PathBuf,
    /// The optimized bundle: a .tar.gz file or a directory.
    optimized: PathBuf,
    /// Inputs as JSON lines (one document per line; `__none__` for no input). Default: generated
    /// from the bundle.
    #[arg(long, value_name = "FILE")]
    inputs: Option<PathBuf>,
    /// Evaluate this entrypoint, as `opa build -e` takes it (`authz/allow`) or as a reference
    /// (`data.authz.allow`); repeatable. Default: every rule and every package.
    #[arg(short = 'e', long = "entrypoint", value_name = "ENTRYPOINT")]
    entrypoints: Vec<String>,
    /// Evaluate this Rego query (repeatable). With -e or --query only those are evaluated.
    #[arg(long = "query", value_name = "QUERY")]
    queries: Vec<String>,
    /// How many inputs to generate at most (without --inputs).
    #[arg(long, value_name = "N", default_value_t = verify::DEFAULT_MAX_INPUTS)]
    max_inputs: usize,
    /// Time limit of one evaluation, in seconds (one that runs out is reported, not counted).
    #[arg(long, value_name = "SECS", default_value_t = verify::DEFAULT_TIMEOUT.as_secs())]
    timeout: u64,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "pretty")]
    format: VerifyFormat,
    /// Print nothing when every pair agrees.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

pub fn run_verify(a: VerifyArgs) -> Result<i32, Failure> {
    let read = a.limits.read_options();
    let inputs = match &a.inputs {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| Failure {
                subject: None,
                error: Error::Io {
                    path: path.clone(),
                    source,
                },
            })?;
            let parsed = verify::parse_inputs(&text).map_err(|(line, message)| Failure {
                subject: None,
                error: Error::Inputs {
                    path: path.clone(),
                    line,
                    message,
                },
            })?;
            Some(parsed)
        }
    };
    let original = bundle::read_path(&a.original, &read).map_err(on(&a.original))?;
    let optimized = bundle::read_path(&a.optimized, &read).map_err(on(&a.optimized))?;
    let bar = Progress::bar(0, "evaluating", a.quiet);
    let opts = VerifyOptions {
        entrypoints: a.entrypoints,
        queries: a.queries,
        inputs,
        max_inputs: a.max_inputs,
        timeout: Duration::from_secs(a.timeout.max(1)),
        progress: bar.callback(),
    };
    let report = verify::verify_bundles(&original, &optimized, &opts).map_err(on(&a.original))?;
    bar.finish();
    match a.format {
        VerifyFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        ),
        VerifyFormat::Pretty => {
            if !(a.quiet && report.agrees()) {
                print!("{}", report.render());
            }
        }
    }
    Ok(if report.agrees() {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

#[derive(Args)]
pub struct ServeArgs {
    /// Directory of source bundles: each NAME.tar.gz (or .tgz) file and each subdirectory NAME
    /// is served at /bundles/NAME.
    #[arg(long, value_name = "DIR")]
    source: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8181")]
    listen: String,
    /// How often to look for changed sources, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    poll_interval_ms: u64,
    /// Longest time a long-poll request is held (whatever `Prefer: wait=N` asks), in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    max_wait: u64,
    /// Check each optimized bundle against its source in regorus; one that differs is not
    /// served (the previous version stays).
    #[arg(long)]
    verify: bool,
    /// Write all data as one /data.json, as `opa build` does.
    #[arg(long)]
    merge_data: bool,
    /// gzip compression level, 0 (none) to 9 (best).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    compression_level: u32,
    /// Serve an unsigned bundle when a source is signed and its signature would no longer match.
    #[arg(long)]
    drop_signatures: bool,
    /// Run only this rewrite pass (repeatable).
    #[arg(long = "pass", value_name = "ID")]
    pass: Vec<String>,
    /// Do not run this rewrite pass (repeatable).
    #[arg(long = "skip-pass", value_name = "ID")]
    skip_pass: Vec<String>,
    /// Log only errors.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

pub fn run_serve(a: ServeArgs) -> Result<i32, Failure> {
    let optimize = OptimizeOptions {
        read: a.limits.read_options(),
        write: WriteOptions {
            compression_level: a.compression_level,
            merge_data: a.merge_data,
            format: None,
        },
        drop_signatures: a.drop_signatures,
        passes: PassOptions {
            only: if a.pass.is_empty() {
                None
            } else {
                Some(a.pass.clone())
            },
            skip: a.skip_pass.clone(),
            ..PassOptions::default()
        },
        verify: a.verify.then(VerifyOptions::default),
        ..OptimizeOptions::default()
    };
    if let Err(e) = optimize.passes.validate() {
        eprintln!("regopt: {e}");
        return Ok(exit::USAGE);
    }
    let quiet = a.quiet;
    let log: regopt::serve::LogFn = Arc::new(move |level, line| {
        if level == LogLevel::Error || !quiet {
            eprintln!("regopt serve: {line}");
        }
    });
    let server = Server::start(ServeOptions {
        source: a.source.clone(),
        listen: a.listen.clone(),
        optimize,
        poll_interval: Duration::from_millis(a.poll_interval_ms.max(10)),
        max_wait: Duration::from_secs(a.max_wait),
        log: Some(log),
        ..ServeOptions::default()
    })
    .map_err(|error| Failure {
        subject: None,
        error,
    })?;
    if !quiet {
        eprintln!(
            "regopt serve: serving the bundles in {} at http://{}/bundles/{{name}}",
            a.source.display(),
            server.local_addr()
        );
    }
    // Runs until the process is stopped (SIGINT/SIGTERM end it; nothing is written to disk).
    server.wait();
    Ok(exit::OK)
}
