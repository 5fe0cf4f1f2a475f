//! Shared pieces of the `harness = false` benchmarks: a small deterministic PRNG, a streaming
//! pretty-printing JSON writer, a deterministic `.tar.gz` writer, process measurement (wall
//! time, CPU time, peak RSS), the machine description and Markdown table rendering.
//!
//! Nothing here depends on the `regopt` library: the benchmarks drive the built binary, like a
//! user would.
#![allow(dead_code)]

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// paths

/// The crate root (where Cargo.toml is).
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/bench-data/` under the crate root, created if missing.
pub fn bench_data_dir() -> PathBuf {
    let d = manifest_dir().join("target").join("bench-data");
    fs::create_dir_all(&d).expect("create target/bench-data");
    d
}

/// The regopt binary to benchmark: `$REGOPT_BIN`, else the one Cargo built for this bench
/// (same profile as the bench, i.e. release).
pub fn regopt_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("REGOPT_BIN") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_BIN_EXE_regopt"))
}

/// A private copy of the regopt binary for one benchmark run, so a concurrent `cargo build`
/// replacing `target/release/regopt` cannot mix two builds into one table.
pub fn snapshot_bin(name: &str) -> PathBuf {
    let src = regopt_bin();
    let dst = bench_data_dir().join(format!("regopt-{name}"));
    let _ = fs::remove_file(&dst);
    fs::copy(&src, &dst)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), dst.display()));
    dst
}

// ---------------------------------------------------------------------------------------------
// command line

/// The few options the benches take (`cargo bench --bench X -- --sizes 15 --runs 3`).
/// Cargo passes `--bench` to harness=false benches; it and anything unknown is ignored with a
/// note, so `cargo bench` without a filter works.
#[derive(Debug, Default)]
pub struct Args {
    pub pairs: Vec<(String, String)>,
    pub flags: Vec<String>,
}

impl Args {
    pub fn parse(valued: &[&str], flags: &[&str]) -> Args {
        let mut out = Args::default();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (a.clone(), None),
            };
            if valued.contains(&name.as_str()) {
                let v = inline.or_else(|| it.next()).unwrap_or_else(|| {
                    eprintln!("{name} needs a value");
                    std::process::exit(2)
                });
                out.pairs.push((name, v));
            } else if flags.contains(&name.as_str()) {
                out.flags.push(name);
            } else if a == "--bench" {
                // passed by `cargo bench`
            } else {
                eprintln!("note: ignoring argument {a:?}");
            }
        }
        out
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("{name}: cannot parse {v:?}");
                std::process::exit(2)
            }),
        }
    }

    /// `--sizes 15,150` → [15, 150]; `default` when not given.
    pub fn sizes(&self, default: &[u64]) -> Vec<u64> {
        match self.get("--sizes") {
            None => default.to_vec(),
            Some(v) => v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .trim_end_matches("MB")
                        .trim_end_matches("mb")
                        .parse()
                        .unwrap_or_else(|_| {
                            eprintln!("--sizes: cannot parse {s:?}");
                            std::process::exit(2)
                        })
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// deterministic pseudo-random numbers (SplitMix64)

/// SplitMix64: tiny, fast, and the same sequence on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the tiny modulo bias does not matter here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// streaming pretty JSON (indent 2, like `json.dumps(indent=2)` / `jq .`)

/// Writes JSON text with two-space indentation straight into a byte buffer, without building
/// a tree. Keys, strings and numbers are written by the caller in order.
pub struct PrettyJson {
    pub out: Vec<u8>,
    /// Open containers: closing byte and number of members written so far.
    stack: Vec<(u8, usize)>,
    after_key: bool,
}

impl PrettyJson {
    pub fn new(capacity: usize) -> PrettyJson {
        PrettyJson {
            out: Vec::with_capacity(capacity),
            stack: Vec::new(),
            after_key: false,
        }
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    fn newline(&mut self) {
        self.out.push(b'\n');
        for _ in 0..self.stack.len() {
            self.out.extend_from_slice(b"  ");
        }
    }

    /// Separator and indentation before a member of the innermost container.
    fn member(&mut self) {
        if let Some(top) = self.stack.last_mut() {
            let first = top.1 == 0;
            top.1 += 1;
            if !first {
                self.out.push(b',');
            }
            self.newline();
        }
    }

    fn before_value(&mut self) {
        if self.after_key {
            self.after_key = false;
        } else {
            self.member();
        }
    }

    pub fn key(&mut self, k: &str) {
        self.member();
        escape_into(&mut self.out, k, false);
        self.out.extend_from_slice(b": ");
        self.after_key = true;
    }

    pub fn begin_object(&mut self) {
        self.before_value();
        self.out.push(b'{');
        self.stack.push((b'}', 0));
    }

    pub fn begin_array(&mut self) {
        self.before_value();
        self.out.push(b'[');
        self.stack.push((b']', 0));
    }

    pub fn end(&mut self) {
        let (close, n) = self.stack.pop().expect("end without begin");
        if n > 0 {
            self.newline();
        }
        self.out.push(close);
    }

    /// A number, boolean or null, written exactly as given.
    pub fn raw(&mut self, text: &str) {
        self.before_value();
        self.out.extend_from_slice(text.as_bytes());
    }

    pub fn int(&mut self, v: i64) {
        self.raw(&v.to_string());
    }

    /// A string; with `ascii_escapes`, non-ASCII characters are written as `\uXXXX`
    /// (surrogate pairs above the BMP), else as raw UTF-8.
    pub fn string(&mut self, s: &str, ascii_escapes: bool) {
        self.before_value();
        escape_into(&mut self.out, s, ascii_escapes);
    }

    pub fn finish(mut self) -> Vec<u8> {
        assert!(self.stack.is_empty(), "unclosed container");
        self.out.push(b'\n');
        self.out
    }
}

fn escape_into(out: &mut Vec<u8>, s: &str, ascii_escapes: bool) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\r' => out.extend_from_slice(b"\\r"),
            '/' if ascii_escapes => out.extend_from_slice(b"\\/"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ascii_escapes && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------------
// deterministic .tar.gz

/// Write `entries` (path, bytes) as a ustar archive with fixed metadata, gzip level `level`,
/// to `path` (through a temporary file renamed into place).
pub fn write_tar_gz(path: &Path, entries: &[(String, Vec<u8>)], level: u32) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let file = io::BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(file, flate2::Compression::new(level));
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        for (name, bytes) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, name, bytes.as_slice())?;
        }
        let gz = tar.into_inner()?;
        let mut file = gz.finish()?;
        file.flush()?;
    }
    fs::rename(&tmp, path)
}

// ---------------------------------------------------------------------------------------------
// running and measuring a process

/// What one run of a child process cost.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// Wall-clock seconds from spawn to reaping.
    pub wall_s: f64,
    /// User and system CPU seconds of the child (Linux; 0 elsewhere).
    pub user_s: f64,
    pub sys_s: f64,
    /// Peak resident set size of the child in bytes, if known.
    pub max_rss: Option<u64>,
    /// How the peak RSS was measured.
    pub rss_method: &'static str,
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Everything the child wrote to stderr (kept in a file, so it cannot block).
    pub stderr: String,
}

impl RunStats {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Run `cmd` (stdout discarded, stderr kept) and measure it.
pub fn run_measured(cmd: &mut Command) -> io::Result<RunStats> {
    let err_file = tempfile::tempfile()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err_file.try_clone()?));
    let mut stats = platform::spawn_and_wait(cmd)?;
    let mut f = err_file;
    use std::io::{Read, Seek};
    f.seek(io::SeekFrom::Start(0))?;
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    stats.stderr = s;
    Ok(stats)
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod platform {
    //! `wait4(2)` gives the child's own peak RSS (`ru_maxrss`, KiB) and CPU times exactly,
    //! with no helper program. The struct layout is Linux's on 64-bit targets (`long` = i64).
    use super::RunStats;
    use std::io;
    use std::process::Command;
    use std::time::Instant;

    #[repr(C)]
    #[derive(Default)]
    struct Timeval {
        sec: i64,
        usec: i64,
    }

    #[repr(C)]
    #[derive(Default)]
    struct Rusage {
        utime: Timeval,
        stime: Timeval,
        maxrss: i64,
        rest: [i64; 13],
    }

    extern "C" {
        fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    }

    pub fn spawn_and_wait(cmd: &mut Command) -> io::Result<RunStats> {
        let t = Instant::now();
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        let mut status = 0i32;
        let mut ru = Rusage::default();
        loop {
            // SAFETY: `status` and `ru` are valid, exclusively borrowed, and `Rusage` has the
            // layout of Linux's `struct rusage` on 64-bit targets. The child is ours and is not
            // waited for anywhere else (std's `Child` does not wait on drop).
            let r = unsafe { wait4(pid, &mut status, 0, &mut ru) };
            if r == pid {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let wall_s = t.elapsed().as_secs_f64();
        drop(child);
        let code = if status & 0x7f == 0 {
            Some((status >> 8) & 0xff)
        } else {
            None
        };
        Ok(RunStats {
            wall_s,
            user_s: ru.utime.sec as f64 + ru.utime.usec as f64 / 1e6,
            sys_s: ru.stime.sec as f64 + ru.stime.usec as f64 / 1e6,
            max_rss: Some(ru.maxrss as u64 * 1024),
            rss_method: "wait4 ru_maxrss",
            code,
            stderr: String::new(),
        })
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod platform {
    //! Elsewhere: poll `/proc/<pid>/status` VmHWM (a high-water mark, so a poll every few
    //! milliseconds misses only a peak reached in the child's last moments); no CPU times.
    use super::RunStats;
    use std::io;
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    pub fn spawn_and_wait(cmd: &mut Command) -> io::Result<RunStats> {
        let t = Instant::now();
        let mut child = cmd.spawn()?;
        let pid = child.id();
        let done = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let poller = {
            let (done, peak) = (done.clone(), peak.clone());
            std::thread::spawn(move || {
                let path = format!("/proc/{pid}/status");
                while !done.load(Ordering::Relaxed) {
                    if let Ok(s) = std::fs::read_to_string(&path) {
                        if let Some(kb) = super::status_field_kib(&s, "VmHWM") {
                            peak.fetch_max(kb * 1024, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let status = child.wait()?;
        let wall_s = t.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        let _ = poller.join();
        let p = peak.load(Ordering::Relaxed);
        Ok(RunStats {
            wall_s,
            max_rss: (p > 0).then_some(p),
            rss_method: "VmHWM polling",
            code: status.code(),
            ..RunStats::default()
        })
    }
}

/// A `kB` field of `/proc/*/status`.
pub fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then(|| v.split_whitespace().next()?.parse().ok())?
    })
}

/// Cross-check the peak RSS of a command with GNU time (`/usr/bin/time -f %M`), if present.
pub fn gnu_time_max_rss(program: &Path, args: &[&std::ffi::OsStr]) -> Option<u64> {
    let gt = Path::new("/usr/bin/time");
    if !gt.is_file() {
        return None;
    }
    let out = Command::new(gt)
        .arg("-f")
        .arg("%M")
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .last()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

// ---------------------------------------------------------------------------------------------
// statistics

pub fn min(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------------------------
// the machine

/// 1-minute load average.
pub fn load1() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// With `--wait-load X`, wait (up to `max`) until the 1-minute load is below X. Returns the
/// load when measuring starts.
pub fn wait_for_quiet(threshold: Option<f64>, max: Duration) -> Option<f64> {
    let Some(th) = threshold else { return load1() };
    let t = Instant::now();
    loop {
        let l = load1()?;
        if l < th {
            return Some(l);
        }
        if t.elapsed() >= max {
            eprintln!(
                "load {l:.2} still >= {th} after {:?}; measuring anyway",
                max
            );
            return Some(l);
        }
        eprintln!("load {l:.2} >= {th}, waiting...");
        std::thread::sleep(Duration::from_secs(20));
    }
}

pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `git rev-parse --short HEAD`, plus a note when the work tree has uncommitted changes
/// outside `benches/` (they are part of what was measured).
pub fn git_commit() -> String {
    let dir = manifest_dir();
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(&dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args([
            "status",
            "--porcelain",
            "--",
            "src",
            "Cargo.toml",
            "Cargo.lock",
        ])
        .current_dir(&dir)
        .output()
        .ok()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{head} (+ uncommitted changes in src/)")
    } else {
        head
    }
}

/// Current UTC time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The machine block printed above each table and stored in the JSON.
pub fn machine_json(load_start: Option<f64>) -> serde_json::Value {
    serde_json::json!({
        "date": utc_now(),
        "commit": git_commit(),
        "nproc": nproc(),
        "cpu": cpu_model(),
        "load1_at_start": load_start,
    })
}

// ---------------------------------------------------------------------------------------------
// output

/// A Markdown table with right-aligned columns after the first `left` ones.
pub fn markdown_table(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let n = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let cell = |i: usize, s: &str| {
        let pad = w[i].saturating_sub(s.chars().count());
        if i < left {
            format!("{s}{}", " ".repeat(pad))
        } else {
            format!("{}{s}", " ".repeat(pad))
        }
    };
    let mut out = String::new();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(
        header.iter().enumerate().map(|(i, h)| cell(i, h)).collect(),
    ));
    out.push_str(&line(
        (0..n)
            .map(|i| {
                let dashes = "-".repeat(w[i].max(3));
                if i < left {
                    dashes
                } else {
                    format!("{}:", &dashes[1..])
                }
            })
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(
            (0..n)
                .map(|i| cell(i, r.get(i).map(String::as_str).unwrap_or("")))
                .collect(),
        ));
    }
    out
}

pub fn write_json(path: &Path, v: &serde_json::Value) {
    let text = serde_json::to_string_pretty(v).expect("json") + "\n";
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Decimal megabytes (10^6 bytes).
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
