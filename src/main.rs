//! The `regopt` binary: arguments → options → run → render the error once → exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use regopt::bundle::{self, OutputFormat, ReadOptions, WriteOptions};
use regopt::error::exit;
use regopt::inspect::{self, InspectOptions};
use regopt::passes::PassOptions;
use regopt::pipeline::{self, OptimizeOptions};
use regopt::Error;

mod cmd_verify_serve;
mod progress;

#[derive(Parser)]
#[command(
    name = "regopt",
    version,
    about = "Make OPA bundles smaller and their policies cheap to evaluate, with the same decisions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read a bundle, optimize it, write the result (atomically).
    Optimize(Box<OptimizeArgs>),
    /// Show what a bundle holds: manifest, files, largest and duplicate data.
    Inspect(InspectArgs),
    /// List every costly data access in the bundle's policies (for CI).
    Check(CheckArgs),
    /// Evaluate a bundle and its optimized form (regorus) and list every difference.
    Verify(cmd_verify_serve::VerifyArgs),
    /// Serve optimized versions of the bundles in a directory over OPA's bundle protocol.
    Serve(cmd_verify_serve::ServeArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Pretty,
    Json,
    Sarif,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Info,
    Warning,
    Error,
    Never,
}

#[derive(Args)]
struct CheckArgs {
    /// The bundle to check: a .tar.gz file or a directory.
    bundle: PathBuf,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "pretty")]
    format: CheckFormat,
    /// Exit 1 when a finding reaches this level.
    #[arg(long, value_name = "LEVEL", default_value = "error")]
    fail_on: FailOn,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args, Clone)]
struct LimitArgs {
    /// Largest size of one file in the bundle, in bytes (as OPA's size_limit_bytes).
    #[arg(long, value_name = "BYTES", default_value_t = bundle::read::DEFAULT_SIZE_LIMIT)]
    size_limit: u64,
    /// Largest total uncompressed size of the bundle, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = bundle::read::DEFAULT_MAX_TOTAL_SIZE)]
    max_total_size: u64,
    /// Largest number of entries in the archive.
    #[arg(long, value_name = "N", default_value_t = bundle::read::DEFAULT_MAX_ENTRIES)]
    max_entries: u64,
    /// Deepest nesting of arrays and objects accepted in data files.
    #[arg(long, value_name = "N", default_value_t = regopt::data::json::DEFAULT_MAX_DEPTH)]
    max_depth: usize,
}

impl LimitArgs {
    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            size_limit: self.size_limit,
            max_total_size: self.max_total_size,
            max_entries: self.max_entries,
            json: regopt::data::json::Limits {
                max_depth: self.max_depth,
            },
            keep_data_bytes: false,
        }
    }
}

/// Bundle signatures (see docs/signatures.md).
#[derive(Args, Clone)]
struct SignArgs {
    /// Verify the input's .signatures.json with this key first: a PEM public key or an HMAC
    /// secret (a file, or the text itself).
    #[arg(long, value_name = "KEY")]
    verification_key: Option<String>,
    /// The key id the input's token must name (its `kid` header or `keyid` claim), if it names one.
    #[arg(long, value_name = "ID")]
    verification_key_id: Option<String>,
    /// The scope the input's token must carry (none when not given); also written into a new signature.
    #[arg(long, value_name = "SCOPE")]
    scope: Option<String>,
    /// Do not check files matching this glob against the input's signature (repeatable, or comma separated).
    #[arg(long, value_name = "GLOB", value_delimiter = ',')]
    exclude_files_verify: Vec<String>,
    /// Sign the output with this key: a PEM private key or an HMAC secret (a file, or the text itself).
    #[arg(long, value_name = "KEY")]
    signing_key: Option<String>,
    /// Signing algorithm: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512.
    #[arg(long, value_name = "ALG", default_value = "RS256")]
    signing_alg: regopt::sign::SigAlg,
    /// Key id written as the token's `kid` header (and `keyid` claim).
    #[arg(long, value_name = "ID")]
    signing_key_id: Option<String>,
    /// JSON file of extra claims for the new signature's payload.
    #[arg(long, value_name = "FILE")]
    claims_file: Option<PathBuf>,
}

impl SignArgs {
    fn options(&self) -> regopt::sign::SignOptions {
        regopt::sign::SignOptions {
            verification_key: self.verification_key.clone(),
            verification_key_id: self.verification_key_id.clone(),
            scope: self.scope.clone(),
            exclude_files_verify: self.exclude_files_verify.clone(),
            signing_key: self.signing_key.clone(),
            signing_alg: self.signing_alg,
            signing_key_id: self.signing_key_id.clone(),
            claims_file: self.claims_file.clone(),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// A .tar.gz archive.
    #[value(name = "tar.gz")]
    TarGz,
    /// A directory.
    Dir,
}

#[derive(Args)]
struct OptimizeArgs {
    /// The bundle to optimize: a .tar.gz file or a directory.
    bundle: PathBuf,
    /// Where to write the optimized bundle (.tar.gz/.tgz: an archive; otherwise a directory).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Force the output shape instead of inferring it from the name.
    #[arg(long, value_name = "FORMAT")]
    output_format: Option<FormatArg>,
    /// Write all data as one /data.json, as `opa build` does.
    #[arg(long)]
    merge_data: bool,
    /// gzip compression level, 0 (none) to 9 (best).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    compression_level: u32,
    /// Write an unsigned bundle when the input is signed and its signature would no longer match.
    #[arg(long)]
    drop_signatures: bool,
    #[command(flatten)]
    sign: SignArgs,
    /// Run only this rewrite pass (repeatable); see docs/passes/.
    #[arg(long = "pass", value_name = "ID")]
    pass: Vec<String>,
    /// Do not run this rewrite pass (repeatable).
    #[arg(long = "skip-pass", value_name = "ID")]
    skip_pass: Vec<String>,
    /// Print every candidate a pass declined, with the reason.
    #[arg(long)]
    explain: bool,
    /// A path clients query, as in `opa build -e` (`authz/allow`; repeatable). Declares a closed
    /// world: only these paths are queried, never with `with data...`. Enables field indexes,
    /// precomputed rules and, with --prune-data, pruning. See docs/closed-world.md.
    #[arg(short = 'e', long = "entrypoint", value_name = "PATH")]
    entrypoint: Vec<String>,
    /// With entrypoints: drop every data document no entrypoint can read.
    #[arg(long)]
    prune_data: bool,
    /// With entrypoints: smallest duplicate data document (compact bytes) dedup considers;
    /// 0 turns dedup off.
    #[arg(long, value_name = "N")]
    dedup_min_bytes: Option<usize>,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
    /// Before writing, evaluate the original and the optimized bundle in regorus on generated
    /// inputs; on any difference write nothing and exit 30.
    #[arg(long)]
    verify: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum InspectFormat {
    Pretty,
    Json,
}

#[derive(Args)]
struct InspectArgs {
    /// The bundle to inspect: a .tar.gz file or a directory.
    bundle: PathBuf,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "pretty")]
    format: InspectFormat,
    /// How many of the largest data subtrees to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// How many levels below `data` to look for large subtrees.
    #[arg(long, value_name = "N", default_value_t = 4)]
    depth: usize,
    /// Smallest subtree, in compact bytes, considered when looking for duplicates.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    min_duplicate_bytes: usize,
    #[command(flatten)]
    limits: LimitArgs,
}

/// An error with the input it concerns, rendered once.
struct Failure {
    subject: Option<PathBuf>,
    error: Error,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Optimize(a) => run_optimize(*a),
        Command::Inspect(a) => run_inspect(a),
        Command::Check(a) => run_check(a),
        Command::Verify(a) => cmd_verify_serve::run_verify(a),
        Command::Serve(a) => cmd_verify_serve::run_serve(a),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(f) => {
            let mut err = std::io::stderr().lock();
            let subject = f
                .subject
                .map(|p| format!("{}: ", p.display()))
                .unwrap_or_default();
            // Entry names come from the bundle: never echo control bytes
            // (terminal escapes, NUL, newlines) raw.
            let message: String = format!("{subject}{}", f.error)
                .chars()
                .flat_map(|c| {
                    let escaped: Vec<char> = if c.is_control() {
                        c.escape_default().collect()
                    } else {
                        vec![c]
                    };
                    escaped
                })
                .collect();
            let _ = writeln!(err, "regopt: {message}");
            if let Some(h) = f.error.hint() {
                let _ = writeln!(err, "hint: {h}");
            }
            ExitCode::from(f.error.exit_code() as u8)
        }
    }
}

fn on(path: &Path) -> impl FnOnce(Error) -> Failure + '_ {
    move |error| {
        // I/O and output errors already name their path.
        let subject = match error {
            Error::Io { .. } | Error::Output { .. } => None,
            _ => Some(path.to_path_buf()),
        };
        Failure { subject, error }
    }
}

fn run_optimize(a: OptimizeArgs) -> Result<i32, Failure> {
    let opts = OptimizeOptions {
        read: a.limits.read_options(),
        write: WriteOptions {
            compression_level: a.compression_level,
            merge_data: a.merge_data,
            format: a.output_format.map(|f| match f {
                FormatArg::TarGz => OutputFormat::TarGz,
                FormatArg::Dir => OutputFormat::Dir,
            }),
        },
        drop_signatures: a.drop_signatures,
        sign: a.sign.options(),
        passes: PassOptions {
            only: if a.pass.is_empty() {
                None
            } else {
                Some(a.pass.clone())
            },
            skip: a.skip_pass.clone(),
            explain: true,
            ..PassOptions::default()
        },
        verify: a.verify.then(regopt::verify::VerifyOptions::default),
        ..OptimizeOptions::default()
    };
    if let Err(e) = opts.passes.validate() {
        eprintln!("regopt: {e}");
        return Ok(exit::USAGE);
    }
    let mut opts = opts;
    for e in &a.entrypoint {
        match regopt::world::parse_entrypoint(e) {
            Ok(p) => opts.entrypoints.push(p),
            Err(why) => {
                eprintln!("regopt: {why}\nhint: write entrypoints as `opa build -e` takes them: -e authz/allow");
                return Ok(exit::USAGE);
            }
        }
    }
    opts.prune_data = a.prune_data;
    opts.dedup_min_bytes = a.dedup_min_bytes;
    if let Err(e) = opts.sign.validate() {
        eprintln!("regopt: {e}");
        return Ok(exit::USAGE);
    }
    let spinner =
        progress::Progress::spinner(&format!("optimizing {}", a.bundle.display()), a.quiet);
    let result = pipeline::optimize_path(&a.bundle, &a.output, &opts);
    spinner.finish();
    if let Err(Error::VerifyFailed { report, .. }) = &result {
        eprint!("{}", report.render());
    }
    let report = result.map_err(on(&a.bundle))?;
    if let Some(path) = &a.report {
        let text = serde_json::to_vec_pretty(&report).expect("report serializes");
        std::fs::write(path, text).map_err(|source| Failure {
            subject: None,
            error: Error::Io {
                path: path.clone(),
                source,
            },
        })?;
    }
    if !a.quiet {
        if let Some(p) = &report.passes {
            eprint!("{}", render_passes(p, a.explain));
        }
        eprint!("{}", report.render());
        eprintln!("wrote {}", a.output.display());
    }
    Ok(exit::OK)
}

fn run_inspect(a: InspectArgs) -> Result<i32, Failure> {
    let bundle = bundle::read_path(&a.bundle, &a.limits.read_options()).map_err(on(&a.bundle))?;
    let opts = InspectOptions {
        top: a.top,
        depth: a.depth,
        min_duplicate_bytes: a.min_duplicate_bytes,
    };
    let i = inspect::inspect(&bundle, &opts);
    let text = match a.format {
        InspectFormat::Pretty => inspect::render_pretty(&i),
        InspectFormat::Json => {
            serde_json::to_string_pretty(&i).expect("inspection serializes") + "\n"
        }
    };
    print!("{text}");
    Ok(exit::OK)
}

/// Each rewrite (location, before, after) and, with `--explain`, each decline.
fn render_passes(p: &serde_json::Value, explain: bool) -> String {
    let mut s = String::new();
    let empty = Vec::new();
    let rewrites = p["rewrites"].as_array().unwrap_or(&empty);
    for r in rewrites {
        s.push_str(&format!(
            "rewrite [{}] {}:{}:{}\n  - {}\n  + {}\n",
            r["pass"].as_str().unwrap_or(""),
            r["file"].as_str().unwrap_or(""),
            r["line"],
            r["col"],
            one_line(r["before"].as_str().unwrap_or("")),
            one_line(r["after"].as_str().unwrap_or("")),
        ));
    }
    let declined = p["declined"].as_array().unwrap_or(&empty);
    if explain {
        for d in declined {
            s.push_str(&format!(
                "declined [{}] {}:{}:{}: {}\n",
                d["pass"].as_str().unwrap_or(""),
                d["file"].as_str().unwrap_or(""),
                d["line"],
                d["col"],
                d["reason"].as_str().unwrap_or("")
            ));
        }
    }
    let count = p["declined_count"]
        .as_u64()
        .unwrap_or(declined.len() as u64);
    s.push_str(&format!(
        "rewrites: {}, declined candidates: {}{}\n",
        rewrites.len(),
        count,
        if explain || count == 0 {
            ""
        } else {
            " (--explain lists them)"
        }
    ));
    s
}

fn one_line(s: &str) -> String {
    let flat: Vec<&str> = s.split_whitespace().collect();
    let t = flat.join(" ");
    if t.chars().count() > 160 {
        format!("{}...", t.chars().take(157).collect::<String>())
    } else {
        t
    }
}

fn run_check(a: CheckArgs) -> Result<i32, Failure> {
    use regopt::check::{self, Severity};
    let bundle = bundle::read_path(&a.bundle, &a.limits.read_options()).map_err(on(&a.bundle))?;
    let findings = pipeline::check_bundle(&bundle).map_err(on(&a.bundle))?;
    let text = match a.format {
        CheckFormat::Pretty => check::render_pretty(&findings),
        CheckFormat::Json => {
            serde_json::to_string_pretty(&findings).expect("findings serialize") + "\n"
        }
        CheckFormat::Sarif => {
            serde_json::to_string_pretty(&check::to_sarif(&findings)).expect("sarif serializes")
                + "\n"
        }
    };
    print!("{text}");
    let threshold = match a.fail_on {
        FailOn::Info => Some(Severity::Info),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Error => Some(Severity::Error),
        FailOn::Never => None,
    };
    let failed = threshold.is_some_and(|t| findings.iter().any(|f| f.severity >= t));
    Ok(if failed { exit::FINDINGS } else { exit::OK })
}
