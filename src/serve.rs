//! `regopt serve`: serve optimized versions of the bundles in a directory over OPA's bundle
//! download protocol, so that OPA's `services`/`bundles` configuration can point at it.
//!
//! Each `NAME.tar.gz` (or `NAME.tgz`) file and each subdirectory `NAME/` of the source
//! directory is a bundle, served at `GET /bundles/NAME`:
//!
//! - `200` with the optimized `.tar.gz`, an `ETag` (the quoted sha256 of the served bytes) and
//!   `Content-Type: application/gzip`;
//! - `304` when `If-None-Match` carries the current ETag;
//! - long polling: with `Prefer: wait=N` (OPA sends it when `long_polling_timeout_seconds` is
//!   set) and the current ETag, the request is held until a new version appears (then `200`)
//!   or N seconds pass (then `304`). Responses to such requests carry
//!   `Content-Type: application/vnd.openpolicyagent.bundles`, which is how OPA's downloader
//!   learns that the server supports long polling (without it OPA falls back to periodic
//!   polling);
//! - a source that fails to optimize keeps serving its last good version (the error is logged
//!   once); one that never optimized gives `500` with the message; an unknown name `404`.
//!
//! Sources are watched (every `poll_interval`, and on each request) by size and mtime; a
//! changed one is read, hashed (sha256 of its bytes) and optimized once: results are cached by
//! that hash, so reverting to an earlier version costs nothing and 50 clients asking at once
//! start one optimization.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::api;
use crate::error::{Error, Result};
use crate::pipeline::OptimizeOptions;

/// How much a log line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// A new version is served, a source was removed.
    Info,
    /// A source cannot be read or optimized.
    Error,
}

/// Receives one log line (no trailing newline).
pub type LogFn = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// The content type that tells OPA the server supports long polling.
pub const LONG_POLL_CONTENT_TYPE: &str = "application/vnd.openpolicyagent.bundles";

/// How to serve.
#[derive(Clone)]
pub struct ServeOptions {
    /// The directory holding the source bundles.
    pub source: PathBuf,
    /// Address to listen on, e.g. `127.0.0.1:8181` (port 0: any free port).
    pub listen: String,
    /// How each bundle is optimized.
    pub optimize: OptimizeOptions,
    /// How often the sources are checked for changes.
    pub poll_interval: Duration,
    /// The longest a long-poll request is held, whatever `Prefer: wait=N` asks.
    pub max_wait: Duration,
    /// Requests handled at once; more get `503`.
    pub max_concurrent: usize,
    /// Where log lines go (errors, new versions); `None`: nowhere.
    pub log: Option<LogFn>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            source: PathBuf::from("."),
            listen: "127.0.0.1:8181".into(),
            optimize: OptimizeOptions::default(),
            poll_interval: Duration::from_millis(250),
            max_wait: Duration::from_secs(300),
            max_concurrent: 512,
            log: None,
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("source", &self.source)
            .field("listen", &self.listen)
            .field("optimize", &self.optimize)
            .field("poll_interval", &self.poll_interval)
            .field("max_wait", &self.max_wait)
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

/// Counters, for tests and monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Optimizations run (cache misses).
    pub optimizations: u64,
    /// Source versions found in the cache.
    pub cache_hits: u64,
    /// Requests answered.
    pub requests: u64,
}

/// One optimized version of a bundle.
struct Version {
    archive: Vec<u8>,
    etag: String,
}

/// Where a bundle's source lives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Archive(PathBuf),
    Dir(PathBuf),
}

#[derive(Default)]
struct Entry {
    /// Size/mtime summary of the source when last read.
    fingerprint: Option<Vec<u8>>,
    /// sha256 of the source's bytes when last read.
    source_sha: Option<[u8; 32]>,
    /// The version being served.
    good: Option<Arc<Version>>,
    /// Why the current source cannot be served, if it cannot.
    error: Option<String>,
}

type Cached = std::result::Result<Arc<Version>, String>;

struct Cache {
    map: HashMap<[u8; 32], Cached>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

impl Cache {
    fn get(&self, k: &[u8; 32]) -> Option<Cached> {
        self.map.get(k).cloned()
    }

    fn put(&mut self, k: [u8; 32], v: Cached) {
        if self.map.insert(k, v).is_none() {
            self.order.push_back(k);
        }
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

struct State {
    bundles: HashMap<String, Entry>,
    cache: Cache,
}

struct Shared {
    opts: ServeOptions,
    state: Mutex<State>,
    /// Signalled whenever a bundle's state changes and on shutdown.
    changed: Condvar,
    shutdown: AtomicBool,
    /// Requests being handled.
    active: Mutex<usize>,
    idle: Condvar,
    /// One lock per bundle name: one refresh at a time.
    refreshing: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    optimizations: AtomicU64,
    cache_hits: AtomicU64,
    requests: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running bundle server. Dropping it shuts it down.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    http: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Check the source directory, bind the address and start serving (in background
    /// threads). Sources are optimized in the background right away.
    ///
    /// ```
    /// use regopt::serve::{ServeOptions, Server};
    ///
    /// # fn main() -> regopt::Result<()> {
    /// let dir = tempfile::tempdir().expect("temporary directory");
    /// let server = Server::start(ServeOptions {
    ///     source: dir.path().to_path_buf(),
    ///     listen: "127.0.0.1:0".into(),
    ///     ..ServeOptions::default()
    /// })?;
    /// assert!(server.local_addr().port() > 0);
    /// server.shutdown();
    /// # Ok(())
    /// # }
    /// ```
    pub fn start(opts: ServeOptions) -> Result<Server> {
        let meta = fs::metadata(&opts.source).map_err(|source| Error::Io {
            path: opts.source.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(Error::Io {
                path: opts.source.clone(),
                source: std::io::Error::other("not a directory"),
            });
        }
        let http = tiny_http::Server::http(opts.listen.as_str()).map_err(|e| Error::Io {
            path: PathBuf::from(&opts.listen),
            source: std::io::Error::other(e.to_string()),
        })?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::Internal("listening address is not an IP address".into()))?;
        let http = Arc::new(http);
        let shared = Arc::new(Shared {
            opts,
            state: Mutex::new(State {
                bundles: HashMap::new(),
                cache: Cache {
                    map: HashMap::new(),
                    order: VecDeque::new(),
                    cap: 32,
                },
            }),
            changed: Condvar::new(),
            shutdown: AtomicBool::new(false),
            active: Mutex::new(0),
            idle: Condvar::new(),
            refreshing: Mutex::new(HashMap::new()),
            optimizations: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        });
        let mut threads = Vec::new();
        {
            let shared = shared.clone();
            let http = http.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("regopt-serve-accept".into())
                    .spawn(move || accept_loop(&shared, &http))
                    .map_err(|e| Error::Internal(format!("cannot start a thread: {e}")))?,
            );
        }
        {
            let shared = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("regopt-serve-watch".into())
                    .spawn(move || watch_loop(&shared))
                    .map_err(|e| Error::Internal(format!("cannot start a thread: {e}")))?,
            );
        }
        Ok(Server {
            addr,
            shared,
            http,
            threads,
        })
    }

    /// The address the server listens on (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters since start.
    pub fn stats(&self) -> ServeStats {
        ServeStats {
            optimizations: self.shared.optimizations.load(Ordering::Relaxed),
            cache_hits: self.shared.cache_hits.load(Ordering::Relaxed),
            requests: self.shared.requests.load(Ordering::Relaxed),
        }
    }

    /// Block until [`Server::request_shutdown`] is called from another thread (the CLI waits
    /// here), then shut down.
    pub fn wait(self) {
        {
            let mut st = lock(&self.shared.state);
            while !self.shared.shutdown.load(Ordering::SeqCst) {
                st = self
                    .shared
                    .changed
                    .wait_timeout(st, Duration::from_millis(500))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
        self.shutdown();
    }

    /// A handle that asks the server to shut down from anywhere (a signal handler thread).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Stop accepting requests, answer held long polls (`304`), wait (at most 10 s) for the
    /// requests in flight, and stop the background threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _st = lock(&self.shared.state);
            self.shared.changed.notify_all();
        }
        self.http.unblock();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut active = lock(&self.shared.active);
        while *active > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            active = self
                .shared
                .idle
                .wait_timeout(active, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
        }
    }
}

/// Asks a [`Server`] to shut down; see [`Server::wait`].
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Ask the server to stop; [`Server::wait`] returns once it has.
    pub fn request_shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _st = lock(&self.shared.state);
        self.shared.changed.notify_all();
    }
}

impl Shared {
    fn log(&self, level: LogLevel, line: &str) {
        if let Some(l) = &self.opts.log {
            l(level, line);
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

/// A bundle name as it may appear in `/bundles/{name}`: one path segment, not hidden.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
}

/// The bundle names in the source directory.
fn scan(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    for item in rd.flatten() {
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        let Ok(ft) = item.file_type() else {
            continue;
        };
        let bundle = if ft.is_dir() {
            Some(name.as_str())
        } else if ft.is_file() {
            name.strip_suffix(".tar.gz")
                .or_else(|| name.strip_suffix(".tgz"))
        } else {
            None
        };
        if let Some(b) = bundle {
            if valid_name(b) {
                out.insert(b.to_string());
            }
        }
    }
    out
}

/// Where bundle `name` comes from; Err when both an archive and a directory claim it.
fn locate(dir: &Path, name: &str) -> std::result::Result<Option<Source>, String> {
    let mut found = Vec::new();
    for ext in [".tar.gz", ".tgz"] {
        let p = dir.join(format!("{name}{ext}"));
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
            found.push(Source::Archive(p));
        }
    }
    let d = dir.join(name);
    if fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir()) {
        found.push(Source::Dir(d));
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(format!(
            "more than one source for bundle '{name}' ({}); keep one",
            found
                .iter()
                .map(|s| match s {
                    Source::Archive(p) | Source::Dir(p) => p.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn mtime_nanos(m: &fs::Metadata) -> u128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Files of a directory source (relative, `/`-separated, sorted), without reading them.
fn list_dir(
    root: &Path,
    max_entries: u64,
) -> std::result::Result<Vec<(String, fs::Metadata)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut count: u64 = 0;
    while let Some(dir) = stack.pop() {
        let rd = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for item in rd {
            let item = item.map_err(|e| format!("{}: {e}", dir.display()))?;
            count += 1;
            if count > max_entries {
                return Err(format!("bundle has more than {max_entries} entries"));
            }
            let path = item.path();
            let meta =
                fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_str()
                .ok_or_else(|| format!("{}: name is not valid UTF-8", path.display()))?
                .replace(std::path::MAIN_SEPARATOR, "/");
            if meta.file_type().is_symlink() {
                return Err(format!("{rel}: symbolic links are not allowed in a bundle"));
            } else if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((rel, meta));
            } else {
                return Err(format!(
                    "{rel}: device, FIFO and socket files are not allowed in a bundle"
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A cheap summary of the source: sizes and mtimes.
fn fingerprint(src: &Source, max_entries: u64) -> std::result::Result<Vec<u8>, String> {
    let mut h = Sha256::new();
    match src {
        Source::Archive(p) => {
            let m = fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
            h.update(m.len().to_le_bytes());
            h.update(mtime_nanos(&m).to_le_bytes());
        }
        Source::Dir(d) => {
            let m = fs::metadata(d).map_err(|e| format!("{}: {e}", d.display()))?;
            h.update(mtime_nanos(&m).to_le_bytes());
            for (rel, m) in list_dir(d, max_entries)? {
                h.update(rel.as_bytes());
                h.update([0]);
                h.update(m.len().to_le_bytes());
                h.update(mtime_nanos(&m).to_le_bytes());
            }
        }
    }
    Ok(h.finalize().to_vec())
}

/// A source's content in memory.
enum Content {
    Archive(Vec<u8>),
    Files(Vec<(String, Vec<u8>)>),
}

impl Content {
    fn read(src: &Source, opts: &OptimizeOptions) -> std::result::Result<Content, String> {
        match src {
            Source::Archive(p) => {
                let len = fs::metadata(p)
                    .map_err(|e| format!("{}: {e}", p.display()))?
                    .len();
                if len > opts.read.max_total_size {
                    return Err(format!(
                        "bundle expands to more than {} bytes",
                        opts.read.max_total_size
                    ));
                }
                fs::read(p)
                    .map(Content::Archive)
                    .map_err(|e| format!("{}: {e}", p.display()))
            }
            Source::Dir(d) => {
                let mut files = Vec::new();
                let mut total: u64 = 0;
                for (rel, meta) in list_dir(d, opts.read.max_entries)? {
                    if meta.len() > opts.read.size_limit {
                        return Err(format!(
                            "{rel}: size {} bytes exceeds the limit of {} bytes",
                            meta.len(),
                            opts.read.size_limit
                        ));
                    }
                    total += meta.len();
                    if total > opts.read.max_total_size {
                        return Err(format!(
                            "bundle expands to more than {} bytes",
                            opts.read.max_total_size
                        ));
                    }
                    let bytes = fs::read(d.join(&rel))
                        .map_err(|e| format!("{}/{rel}: {e}", d.display()))?;
                    files.push((rel, bytes));
                }
                Ok(Content::Files(files))
            }
        }
    }

    fn sha256(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        match self {
            Content::Archive(b) => h.update(b),
            Content::Files(files) => {
                for (rel, bytes) in files {
                    h.update(rel.as_bytes());
                    h.update([0]);
                    h.update((bytes.len() as u64).to_le_bytes());
                    h.update(bytes);
                }
            }
        }
        h.finalize().into()
    }

    fn optimize(self, opts: &OptimizeOptions) -> Result<api::Optimized> {
        match self {
            Content::Archive(b) => api::optimize_archive(&b, opts),
            Content::Files(f) => api::optimize_files(f, opts),
        }
    }
}

fn error_text(e: &Error) -> String {
    let mut s = e.to_string();
    if let Some(h) = e.hint() {
        s.push_str(&format!(" (hint: {h})"));
    }
    s
}

impl Shared {
    fn refresh_lock(&self, name: &str) -> Arc<Mutex<()>> {
        lock(&self.refreshing)
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Bring bundle `name` up to date with its source.
    fn refresh(&self, name: &str) {
        let src = match locate(&self.opts.source, name) {
            Ok(Some(s)) => s,
            Ok(None) => {
                let mut st = lock(&self.state);
                if st.bundles.remove(name).is_some() {
                    self.log(
                        LogLevel::Info,
                        &format!("{name}: source removed; no longer served"),
                    );
                    self.changed.notify_all();
                }
                drop(st);
                lock(&self.refreshing).remove(name);
                return;
            }
            Err(why) => {
                self.set_error(name, why, None);
                return;
            }
        };
        let guard = self.refresh_lock(name);
        let _one_at_a_time = lock(&guard);
        let max_entries = self.opts.optimize.read.max_entries;
        let fp = match fingerprint(&src, max_entries) {
            Ok(f) => f,
            Err(why) => {
                self.set_error(name, why, None);
                return;
            }
        };
        {
            let st = lock(&self.state);
            if st
                .bundles
                .get(name)
                .is_some_and(|e| e.fingerprint.as_ref() == Some(&fp))
            {
                return;
            }
        }
        let content = match Content::read(&src, &self.opts.optimize) {
            Ok(c) => c,
            Err(why) => {
                self.set_error(name, why, None);
                return;
            }
        };
        let sha = content.sha256();
        let cached = {
            let mut st = lock(&self.state);
            let entry = st.bundles.entry(name.to_string()).or_default();
            if entry.source_sha == Some(sha) {
                entry.fingerprint = Some(fp);
                return;
            }
            st.cache.get(&sha)
        };
        let result = match cached {
            Some(r) => {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                r
            }
            None => {
                self.optimizations.fetch_add(1, Ordering::Relaxed);
                let r = match content.optimize(&self.opts.optimize) {
                    Ok(o) => {
                        let etag = format!("\"{}\"", hex::encode(Sha256::digest(&o.archive)));
                        let (before, after) = o.report.totals();
                        self.log(
                            LogLevel::Info,
                            &format!(
                            "{name}: optimized ({} rewrites, {before} -> {after} bytes uncompressed); etag {etag}",
                            o.report.rewrites
                        ),
                        );
                        Ok(Arc::new(Version {
                            archive: o.archive,
                            etag,
                        }))
                    }
                    Err(e) => Err(error_text(&e)),
                };
                lock(&self.state).cache.put(sha, r.clone());
                r
            }
        };
        match result {
            Ok(v) => {
                let mut st = lock(&self.state);
                let entry = st.bundles.entry(name.to_string()).or_default();
                entry.fingerprint = Some(fp);
                entry.source_sha = Some(sha);
                entry.error = None;
                entry.good = Some(v);
                self.changed.notify_all();
            }
            Err(why) => self.set_error(name, why, Some((fp, sha))),
        }
    }

    /// Record that bundle `name` cannot be served from its current source (logged once per
    /// distinct error); a last good version stays.
    fn set_error(&self, name: &str, why: String, read: Option<(Vec<u8>, [u8; 32])>) {
        let mut st = lock(&self.state);
        let entry = st.bundles.entry(name.to_string()).or_default();
        match read {
            Some((fp, sha)) => {
                entry.fingerprint = Some(fp);
                entry.source_sha = Some(sha);
            }
            None => {
                entry.fingerprint = None;
                entry.source_sha = None;
            }
        }
        if entry.error.as_deref() != Some(why.as_str()) {
            let still = match &entry.good {
                Some(v) => format!("; still serving the previous version (etag {})", v.etag),
                None => "; nothing to serve until it is fixed".to_string(),
            };
            self.log(
                LogLevel::Error,
                &format!("{name}: cannot optimize: {why}{still}"),
            );
            entry.error = Some(why);
        }
        self.changed.notify_all();
    }
}

fn watch_loop(shared: &Shared) {
    while !shared.stopping() {
        let mut names = scan(&shared.opts.source);
        names.extend(lock(&shared.state).bundles.keys().cloned());
        for name in names {
            if shared.stopping() {
                return;
            }
            shared.refresh(&name);
        }
        // Sleep in small steps so that shutdown is quick.
        let until = Instant::now() + shared.opts.poll_interval;
        while Instant::now() < until && !shared.stopping() {
            std::thread::sleep(
                until
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(50)),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn accept_loop(shared: &Arc<Shared>, http: &tiny_http::Server) {
    while !shared.stopping() {
        let rq = match http.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(rq)) => rq,
            Ok(None) => continue,
            Err(e) => {
                if shared.stopping() {
                    return;
                }
                shared.log(LogLevel::Error, &format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        {
            let mut active = lock(&shared.active);
            if *active >= shared.opts.max_concurrent {
                drop(active);
                let _ = rq.respond(text(503, "too many requests in flight; retry later\n"));
                continue;
            }
            *active += 1;
        }
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("regopt-serve-request".into())
            .spawn(move || {
                handle(&s, rq);
                let mut active = lock(&s.active);
                *active -= 1;
                s.idle.notify_all();
            });
        if spawned.is_err() {
            let mut active = lock(&shared.active);
            *active -= 1;
            shared.idle.notify_all();
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap_or_else(|_| {
        Header::from_bytes(&b"X-Invalid"[..], &b"1"[..]).expect("static header")
    })
}

fn text(code: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(StatusCode(code))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

/// The values of every header called `name`.
fn header_values<'r>(rq: &'r Request, name: &'static str) -> Vec<&'r str> {
    rq.headers()
        .iter()
        .filter(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
        .collect()
}

/// `Prefer: wait=N` (also inside `modes=snapshot,delta;wait=N`).
fn prefer_wait(rq: &Request) -> Option<u64> {
    header_values(rq, "Prefer").into_iter().find_map(|v| {
        v.split([';', ','])
            .find_map(|p| p.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok())
    })
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn none_match(rq: &Request, etag: &str) -> bool {
    header_values(rq, "If-None-Match").into_iter().any(|v| {
        v.split(',').any(|t| {
            let t = t.trim();
            let t = t.strip_prefix("W/").unwrap_or(t);
            t == etag || t == "*"
        })
    })
}

fn handle(shared: &Shared, rq: Request) {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if !matches!(rq.method(), Method::Get | Method::Head) {
        let _ = rq.respond(
            text(405, "only GET and HEAD are supported\n")
                .with_header(header("Allow", "GET, HEAD")),
        );
        return;
    }
    let path = rq.url().split('?').next().unwrap_or("").to_string();
    if path == "/health" {
        let _ = rq.respond(text(200, "ok\n"));
        return;
    }
    let Some(name) = path.strip_prefix("/bundles/") else {
        let _ = rq.respond(text(
            404,
            "not found; bundles are served at /bundles/{name}\n",
        ));
        return;
    };
    let name = name.to_string();
    if !valid_name(&name) {
        let _ = rq.respond(text(404, "no such bundle\n"));
        return;
    }
    shared.refresh(&name);
    serve_bundle(shared, rq, &name);
}

fn serve_bundle(shared: &Shared, rq: Request, name: &str) {
    let wait = prefer_wait(&rq);
    let long_poll = wait.is_some();
    let content_type = if long_poll {
        LONG_POLL_CONTENT_TYPE
    } else {
        "application/gzip"
    };
    let deadline =
        Instant::now() + Duration::from_secs(wait.unwrap_or(0)).min(shared.opts.max_wait);
    let mut st = lock(&shared.state);
    loop {
        let Some(entry) = st.bundles.get(name) else {
            drop(st);
            let _ = rq.respond(text(404, &format!("no bundle named '{name}'\n")));
            return;
        };
        let Some(v) = entry.good.clone() else {
            let why = entry
                .error
                .clone()
                .unwrap_or_else(|| "not optimized yet".to_string());
            drop(st);
            let _ = rq.respond(text(
                500,
                &format!("bundle '{name}' cannot be served: {why}\n"),
            ));
            return;
        };
        if !none_match(&rq, &v.etag) {
            drop(st);
            let body = v.archive.clone();
            let _ = rq.respond(
                Response::from_data(body)
                    .with_chunked_threshold(usize::MAX)
                    .with_header(header("Content-Type", content_type))
                    .with_header(header("ETag", &v.etag)),
            );
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.stopping() {
            drop(st);
            let mut resp = Response::empty(StatusCode(304)).with_header(header("ETag", &v.etag));
            if long_poll {
                // Older OPA versions also read the content type of a 304 to keep long polling.
                resp.add_header(header("Content-Type", LONG_POLL_CONTENT_TYPE));
            }
            let _ = rq.respond(resp);
            return;
        }
        st = shared
            .changed
            .wait_timeout(st, left.min(Duration::from_millis(500)))
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("authz"));
        assert!(valid_name("a.b-c_d"));
        assert!(!valid_name(""));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(".."));
    }

    #[test]
    fn scan_finds_archives_and_dirs() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.tar.gz"), b"x").unwrap();
        fs::write(d.path().join("b.tgz"), b"x").unwrap();
        fs::write(d.path().join("notes.txt"), b"x").unwrap();
        fs::create_dir(d.path().join("c")).unwrap();
        fs::create_dir(d.path().join(".git")).unwrap();
        let names: Vec<String> = scan(d.path()).into_iter().collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        fs::create_dir(d.path().join("a")).unwrap();
        assert!(locate(d.path(), "a").is_err());
        assert_eq!(
            locate(d.path(), "c").unwrap(),
            Some(Source::Dir(d.path().join("c")))
        );
        assert_eq!(locate(d.path(), "zzz").unwrap(), None);
    }
}
