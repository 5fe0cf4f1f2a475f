//! `regopt serve` over real HTTP on 127.0.0.1 (ephemeral ports only): fetch, 304, a changed
//! source, 50 concurrent clients, a broken source, long polling, shutdown, the CLI.
//! Every loop and wait here is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use regopt::api::{self, OptimizeOptions, ReadOptions, WriteOptions};
use regopt::serve::{ServeOptions, Server, LONG_POLL_CONTENT_TYPE};
use sha2::{Digest, Sha256};

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn etag(&self) -> String {
        self.header("ETag").expect("ETag header").to_string()
    }
}

/// A minimal HTTP/1.1 client: one request per connection.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("Transfer-Encoding") && v.contains("chunked"));
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    if method == "HEAD" || status == 304 {
    } else if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).unwrap();
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "GET", path, headers)
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/bundles")
        .join(name)
}

/// The sample bundle as `.tar.gz` bytes, with an extra policy line to make versions differ.
fn sample_archive(extra: &str) -> Vec<u8> {
    let mut b = api::read_bundle(testdata("sample"), &ReadOptions::default()).unwrap();
    if !extra.is_empty() {
        let f = b
            .files
            .iter_mut()
            .find(|f| f.path == "authz/policy.rego")
            .unwrap();
        f.bytes.extend_from_slice(extra.as_bytes());
    }
    api::write_bundle_to(&b, Vec::new(), &WriteOptions::default()).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// Replace a file atomically (as a deployment would).
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

type Log = Arc<Mutex<Vec<String>>>;

fn start(dir: &Path) -> (Server, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let server = Server::start(ServeOptions {
        source: dir.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        poll_interval: Duration::from_millis(100),
        log: Some(Arc::new(move |level, line| {
            l.lock().unwrap().push(format!("{level:?}: {line}"))
        })),
        ..ServeOptions::default()
    })
    .expect("server starts");
    (server, log)
}

/// Poll `f` every 50 ms until it gives `Some`, for at most `secs` seconds.
fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fetch_304_and_change() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("authz.tar.gz");
    std::fs::write(&src, sample_archive("")).unwrap();
    copy_dir(&testdata("nested"), &tmp.path().join("nested"));
    let (server, log) = start(tmp.path());
    let addr = server.local_addr();

    let r = get(addr, "/bundles/authz", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/gzip"));
    let etag = r.etag();
    assert_eq!(
        etag,
        format!("\"{}\"", hex::encode(Sha256::digest(&r.body)))
    );
    // The body is the optimized bundle, exactly as the library makes it.
    let expected = api::optimize_archive(&sample_archive(""), &OptimizeOptions::default()).unwrap();
    assert_eq!(r.body, expected.archive);
    let served = api::read_bundle_from(&r.body[..], &ReadOptions::default()).unwrap();
    let policy = served
        .files
        .iter()
        .find(|f| f.path == "authz/policy.rego")
        .unwrap();
    assert!(String::from_utf8_lossy(&policy.bytes).contains("__regopt_"));

    // HEAD: same headers, no body.
    let h = request(addr, "HEAD", "/bundles/authz", &[]);
    assert_eq!((h.status, h.etag()), (200, etag.clone()));

    // Not modified.
    let r = get(addr, "/bundles/authz", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert_eq!(r.etag(), etag);
    assert!(r.body.is_empty());
    let r = get(addr, "/bundles/authz", &[("If-None-Match", "\"stale\"")]);
    assert_eq!(r.status, 200);

    // A directory source.
    let n = get(addr, "/bundles/nested", &[]);
    assert_eq!(n.status, 200, "{}", String::from_utf8_lossy(&n.body));
    assert!(api::read_bundle_from(&n.body[..], &ReadOptions::default()).is_ok());

    // The source changes: the next request gets the new version, with a new ETag.
    let optimizations = server.stats().optimizations;
    replace(&src, &sample_archive("\nextra_rule := 1\n"));
    let r = get(addr, "/bundles/authz", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 200);
    let etag2 = r.etag();
    assert_ne!(etag2, etag);
    let b = api::read_bundle_from(&r.body[..], &ReadOptions::default()).unwrap();
    let policy = b
        .files
        .iter()
        .find(|f| f.path == "authz/policy.rego")
        .unwrap();
    assert!(String::from_utf8_lossy(&policy.bytes).contains("extra_rule := 1"));
    assert_eq!(
        server.stats().optimizations,
        optimizations + 1,
        "optimized once"
    );

    // Back to the first version: served from the cache, with the first ETag.
    replace(&src, &sample_archive(""));
    let r = get(addr, "/bundles/authz", &[]);
    assert_eq!(r.etag(), etag);
    assert_eq!(server.stats().optimizations, optimizations + 1);
    assert!(server.stats().cache_hits >= 1);

    // A file inside a directory source changes.
    let ne = n.etag();
    std::fs::write(
        tmp.path().join("nested/policies/lib/extra.rego"),
        "package nested.lib\n\nextra := true\n",
    )
    .unwrap();
    let n2 = get(addr, "/bundles/nested", &[("If-None-Match", &ne)]);
    assert_eq!(n2.status, 200);
    assert_ne!(n2.etag(), ne);

    let lines = log.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Info: authz: optimized")),
        "{lines:?}"
    );
    server.shutdown();
}

#[test]
fn not_found_methods_and_health() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("authz.tar.gz"), sample_archive("")).unwrap();
    let (server, _) = start(tmp.path());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/bundles/nope", &[]).status, 404);
    assert_eq!(get(addr, "/bundles/", &[]).status, 404);
    assert_eq!(get(addr, "/bundles/..", &[]).status, 404);
    assert_eq!(get(addr, "/bundles/authz/x", &[]).status, 404);
    assert_eq!(get(addr, "/other", &[]).status, 404);
    assert_eq!(get(addr, "/health", &[]).status, 200);
    let r = request(addr, "POST", "/bundles/authz", &[("Content-Length", "0")]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    // query strings are ignored
    assert_eq!(get(addr, "/bundles/authz?x=1", &[]).status, 200);
    // a removed source is no longer served
    std::fs::remove_file(tmp.path().join("authz.tar.gz")).unwrap();
    assert_eq!(get(addr, "/bundles/authz", &[]).status, 404);
    server.shutdown();
}

#[test]
fn fifty_concurrent_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("authz.tar.gz");
    std::fs::write(&src, sample_archive("")).unwrap();
    let (server, _) = start(tmp.path());
    let addr = server.local_addr();
    let first = get(addr, "/bundles/authz", &[]);
    assert_eq!(first.status, 200);
    let before = server.stats().optimizations;
    // A new version, then 50 clients at once: all get it, and it is optimized once.
    replace(&src, &sample_archive("\nv2 := true\n"));
    let barrier = Arc::new(std::sync::Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                let r = get(addr, "/bundles/authz", &[]);
                (r.status, r.etag(), Sha256::digest(&r.body).to_vec())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        results.iter().all(|r| r.0 == 200),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert!(results
        .iter()
        .all(|r| r.1 == results[0].1 && r.2 == results[0].2));
    assert_ne!(results[0].1, first.etag());
    assert_eq!(
        server.stats().optimizations,
        before + 1,
        "one optimization for 50 clients"
    );
    assert!(server.stats().requests >= 51);
    server.shutdown();
}

#[test]
fn broken_source_500_then_last_good_version() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("b.tar.gz");
    std::fs::write(&src, b"this is not a gzip stream").unwrap();
    let (server, log) = start(tmp.path());
    let addr = server.local_addr();

    let r = get(addr, "/bundles/b", &[]);
    assert_eq!(r.status, 500);
    let msg = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        msg.contains("bundle 'b' cannot be served") && msg.contains("corrupt"),
        "{msg}"
    );

    replace(&src, &sample_archive(""));
    let good = get(addr, "/bundles/b", &[]);
    assert_eq!(good.status, 200);
    let etag = good.etag();

    // Broken again (a data file that is not JSON): the last good version stays.
    let bad = {
        let files = vec![
            ("data.json".to_string(), b"{\"a\": ".to_vec()),
            ("p.rego".to_string(), b"package p\n".to_vec()),
        ];
        let mut out = Vec::new();
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, bytes) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, &bytes[..]).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        out
    };
    replace(&src, &bad);
    let r = get(addr, "/bundles/b", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.etag(), etag);
    assert_eq!(r.body, good.body);
    let r = get(addr, "/bundles/b", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);

    let lines = log.lock().unwrap().clone();
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("Error: b: cannot optimize"))
        .collect();
    assert_eq!(
        errors.len(),
        2,
        "each distinct error logged once: {lines:?}"
    );
    assert!(
        errors[0].contains("nothing to serve until it is fixed"),
        "{lines:?}"
    );
    assert!(
        errors[1].contains("data.json") && errors[1].contains("still serving the previous version"),
        "{lines:?}"
    );
    server.shutdown();
}

#[test]
fn long_poll_answers_when_a_new_version_appears() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("authz.tar.gz");
    std::fs::write(&src, sample_archive("")).unwrap();
    let (server, _) = start(tmp.path());
    let addr = server.local_addr();

    // OPA's first long-poll request: no ETag yet; answered at once, with the content type
    // that keeps OPA long polling.
    let prefer = "modes=snapshot,delta;wait=20";
    let r = get(
        addr,
        "/bundles/authz",
        &[("Prefer", prefer), ("If-None-Match", "")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(LONG_POLL_CONTENT_TYPE));
    let etag = r.etag();

    // Nothing changes: 304 after about the time asked for.
    let t = Instant::now();
    let r = get(
        addr,
        "/bundles/authz",
        &[("Prefer", "wait=1"), ("If-None-Match", &etag)],
    );
    let waited = t.elapsed();
    assert_eq!(r.status, 304);
    assert_eq!(r.header("Content-Type"), Some(LONG_POLL_CONTENT_TYPE));
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // A change while the request is held: answered with the new version well before 20 s.
    let e = etag.clone();
    let held = std::thread::spawn(move || {
        let t = Instant::now();
        let r = get(
            addr,
            "/bundles/authz",
            &[("Prefer", prefer), ("If-None-Match", &e)],
        );
        (r, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(700));
    replace(&src, &sample_archive("\nchanged := true\n"));
    let (r, took) = held.join().unwrap();
    assert_eq!(r.status, 200);
    assert_ne!(r.etag(), etag);
    assert!(took < Duration::from_secs(10), "{took:?}");
    let b = api::read_bundle_from(&r.body[..], &ReadOptions::default()).unwrap();
    let policy = b
        .files
        .iter()
        .find(|f| f.path == "authz/policy.rego")
        .unwrap();
    assert!(String::from_utf8_lossy(&policy.bytes).contains("changed := true"));
    server.shutdown();
}

#[test]
fn shutdown_answers_held_requests_and_closes() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("authz.tar.gz"), sample_archive("")).unwrap();
    let (server, _) = start(tmp.path());
    let addr = server.local_addr();
    let etag = get(addr, "/bundles/authz", &[]).etag();
    let held = std::thread::spawn(move || {
        get(
            addr,
            "/bundles/authz",
            &[("Prefer", "wait=60"), ("If-None-Match", &etag)],
        )
        .status
    });
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    server.shutdown();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(held.join().unwrap(), 304);
    // The port no longer answers.
    eventually(5, || {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Err(_) => Some(()),
            Ok(mut s) => {
                // Accepted by a closing listener: nothing is answered.
                let _ = s.write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
                s.set_read_timeout(Some(Duration::from_millis(500))).ok();
                let mut buf = [0u8; 16];
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => Some(()),
                    Ok(_) => None,
                }
            }
        }
    });
}

#[test]
fn watcher_picks_up_new_bundles_without_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, log) = start(tmp.path());
    std::fs::write(tmp.path().join("late.tar.gz"), sample_archive("")).unwrap();
    eventually(20, || {
        let lines = log.lock().unwrap().clone();
        lines
            .iter()
            .any(|l| l.contains("late: optimized"))
            .then_some(())
    });
    let before = server.stats().optimizations;
    assert_eq!(get(server.local_addr(), "/bundles/late", &[]).status, 200);
    assert_eq!(
        server.stats().optimizations,
        before,
        "already optimized in the background"
    );
    server.shutdown();
}

#[test]
fn cli_serve_session() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("authz.tar.gz"), sample_archive("")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_regopt"))
        .args(["serve", "--source"])
        .arg(tmp.path())
        .args(["--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start regopt serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while addr.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(rest) = line.split("at http://").nth(1) {
                addr = rest
                    .split('/')
                    .next()
                    .and_then(|a| a.parse::<SocketAddr>().ok());
            }
        }
    }
    let result = std::panic::catch_unwind(|| {
        let addr = addr.expect("serve prints its address");
        let r = get(addr, "/bundles/authz", &[]);
        assert_eq!(r.status, 200);
        let r2 = get(addr, "/bundles/authz", &[("If-None-Match", &r.etag())]);
        assert_eq!(r2.status, 304);
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
