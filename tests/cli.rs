//! The happy path of the `regopt` binary: what `optimize` writes (bytes,
//! names, metadata, determinism), what it carries through untouched, what it
//! reports, and what `inspect --format json` shows.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use regopt::error::exit;
use serde_json::{json, Value};
use support::*;
use tempfile::TempDir;

/// Write `bytes` as `in.tar.gz` in a fresh directory.
fn input(bytes: &[u8]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.tar.gz");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// `regopt optimize IN -o OUT EXTRA...`, which must succeed.
fn optimize(input: &Path, out: &Path, extra: &[&str]) -> Run {
    optimize_env(input, out, extra, &[])
}

fn optimize_env(input: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec![os("optimize"), input.as_os_str(), os("-o"), out.as_os_str()];
    args.extend(extra.iter().map(|s| os(s)));
    let r = run_env(&args, env);
    r.success();
    r
}

/// `regopt inspect IN --format json`, parsed.
fn inspect_json(input: &Path, extra: &[&str]) -> Value {
    let mut args = vec![os("inspect"), input.as_os_str(), os("--format"), os("json")];
    args.extend(extra.iter().map(|s| os(s)));
    let r = run(&args);
    r.success();
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("inspect output is not JSON ({e}):\n{}", r.stdout))
}

/// A header with everything a build machine might leave in it: a mode,
/// owner, names and a timestamp that the output must not carry.
fn noisy_header(name: &str, size: usize) -> Header {
    Header::new(name.as_bytes(), size as u64, b'0')
        .patch(100, b"0100755\0")
        .patch(108, b"0001750\0")
        .patch(116, b"0001750\0")
        .patch(136, b"14524344040\0")
        .patch(265, b"alice\0")
        .patch(297, b"staff\0")
}

fn noisy_file(t: TarBuilder, name: &str, data: &[u8]) -> TarBuilder {
    t.entry(noisy_header(name, data.len()), data)
}

const MIXED_DATA: &[u8] = b"{\n  \"z\": {\n    \"admin\": \"root\"\n  },\n  \"b\": [1, 2, 3]\n}\n";

/// Several kinds of files, out of order, with noisy headers.
fn mixed_bundle() -> TarBuilder {
    let mut t = TarBuilder::new();
    t = noisy_file(
        t,
        "z/policy.rego",
        b"package z\n\nallow if input.user == data.z.admin\n",
    );
    t = noisy_file(t, "/data.json", MIXED_DATA);
    t = t.dir(b"a/");
    t = noisy_file(t, "a/data.yaml", b"# comment kept\nlist: [1, 2]\nname: x\n");
    t = noisy_file(t, "README.txt", b"  hello\r\n  world  \n");
    t = noisy_file(t, ".manifest", b"{\n  \"revision\": \"r1\"\n}\n");
    t = noisy_file(t, "m/b.rego", b"package m\n\nb := 1\n");
    t = noisy_file(t, "m/a.rego", b"package m\n\na := 1\n");
    t
}

/// Deterministic pseudo-random lowercase text.
fn noise(n: usize, seed: u32) -> String {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (b'a' + (x % 26) as u8) as char
        })
        .collect()
}

/// A bundle of a little over 4 MiB uncompressed, so the output spans two
/// independently compressed gzip pieces (4 MiB each). Mostly repetitive text:
/// unoptimized test builds compress it in reasonable time.
fn large_bundle() -> TarBuilder {
    let mut data = String::from("{");
    for i in 0..2_000 {
        if i > 0 {
            data.push_str(", ");
        }
        data.push_str(&format!("\"k{i:05}\": \"{}\"", noise(40, i + 1)));
    }
    data.push('}');
    let blob: String = (0..75_000)
        .map(|i| format!("line {i:07}: the quick brown fox jumps over the lazy dog\n"))
        .collect();
    assert!(blob.len() > 4 << 20);
    mixed_bundle()
        .file("big/data.json", data)
        .file("big/blob.txt", blob)
}

// ---------------------------------------------------------------------------
// Determinism and archive format
// ---------------------------------------------------------------------------

#[test]
fn optimize_is_byte_for_byte_deterministic() {
    let (dir, inp) = input(&large_bundle().tar_gz());
    let mut outputs = Vec::new();
    for (i, threads) in [None, None, Some("1"), Some("2")].into_iter().enumerate() {
        let out = dir.path().join(format!("out{i}.tar.gz"));
        let env: Vec<(&str, &str)> = threads
            .map(|t| ("RAYON_NUM_THREADS", t))
            .into_iter()
            .collect();
        optimize_env(&inp, &out, &["-q"], &env);
        outputs.push(std::fs::read(&out).unwrap());
    }
    for (i, o) in outputs.iter().enumerate().skip(1) {
        assert!(o == &outputs[0], "run {i} differs from run 0");
    }
    // gzip header: deflate, no flags (no file name), mtime 0.
    assert_eq!(&outputs[0][..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    // Several gzip members (the output is cut into pieces): the stream still
    // decodes to one tar.
    let members = outputs[0]
        .windows(4)
        .filter(|w| w == &[0x1f, 0x8b, 8, 0])
        .count();
    assert!(
        members >= 2,
        "expected several gzip members, found {members}"
    );
    let a = read_tar(&gunzip(&outputs[0]));
    assert!(a.get("big/blob.txt").is_some());
}

#[test]
fn entries_are_sorted_with_fixed_metadata() {
    let (dir, inp) = input(
        &mixed_bundle()
            .long_name_file(format!("l/{}.txt", "n".repeat(140)).as_bytes(), b"x")
            .tar_gz(),
    );
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    let a = read_tar_gz(&out);
    let keys: Vec<String> = a
        .names()
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "entries not sorted by path");
    assert!(
        !a.names().iter().any(|n| n.ends_with('/')),
        "no directory entries: {:?}",
        a.names()
    );
    assert!(
        a.headers.len() > a.files.len(),
        "the long name needs a record of its own"
    );
    for h in &a.headers {
        let name = String::from_utf8_lossy(&h.name_field);
        assert_eq!(h.mode, 0o644, "{name}: mode {:o}", h.mode);
        assert_eq!((h.uid, h.gid), (0, 0), "{name}");
        assert_eq!(h.mtime, 0, "{name}");
        assert!(
            h.uname.is_empty() && h.gname.is_empty(),
            "{name}: {:?}/{:?}",
            h.uname,
            h.gname
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "the archive file itself is 0644");
    }
}

#[test]
fn system_tar_shows_fixed_metadata() {
    let (dir, inp) = input(&mixed_bundle().tar_gz());
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    let Ok(o) = Command::new("tar")
        .arg("tvzf")
        .arg(&out)
        .env("TZ", "UTC")
        .output()
    else {
        eprintln!("skipped: no system tar");
        return;
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listing = String::from_utf8_lossy(&o.stdout);
    for line in listing.lines() {
        assert!(line.starts_with("-rw-r--r-- 0/0"), "{line}");
        assert!(line.contains("1970-01-01 00:00"), "{line}");
    }
    assert_eq!(listing.lines().count(), 7, "{listing}");
}

#[test]
fn archive_is_readable_by_system_tar_and_python() {
    let long = format!("deep/{}/{}.txt", "d".repeat(70), "f".repeat(70));
    let (dir, inp) = input(
        &large_bundle()
            .pax_file(long.as_bytes(), b"short", b"long")
            .tar_gz(),
    );
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    let mut ours: Vec<String> = read_tar_gz(&out)
        .names()
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    ours.sort();
    assert!(ours.contains(&long));
    let norm = |text: &str| {
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.trim_start_matches('/').to_string())
            .collect();
        v.sort();
        v
    };
    match Command::new("tar").arg("tzf").arg(&out).output() {
        Ok(o) => {
            assert!(
                o.status.success(),
                "tar: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(
                norm(&String::from_utf8_lossy(&o.stdout)),
                ours,
                "system tar"
            );
        }
        Err(_) => eprintln!("skipped: no system tar"),
    }
    let py = "import sys, tarfile\nwith tarfile.open(sys.argv[1]) as t:\n    for m in t.getmembers():\n        assert m.isfile() and m.mode == 0o644 and m.mtime == 0 and m.uid == 0, m\n        print(m.name)\n";
    match Command::new("python3").arg("-c").arg(py).arg(&out).output() {
        Ok(o) => {
            assert!(
                o.status.success(),
                "python: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(
                norm(&String::from_utf8_lossy(&o.stdout)),
                ours,
                "python tarfile"
            );
        }
        Err(_) => eprintln!("skipped: no python3"),
    }
}

#[test]
fn existing_output_archive_is_replaced() {
    let (dir, inp) = input(&mixed_bundle().tar_gz());
    let out = dir.path().join("out.tar.gz");
    std::fs::write(&out, b"old").unwrap();
    optimize(&inp, &out, &["-q"]);
    assert!(read_tar_gz(&out).get("README.txt").is_some());
    assert_eq!(listing(dir.path()), vec!["in.tar.gz", "out.tar.gz"]);
}

#[test]
fn compression_level_changes_size_not_content() {
    let (dir, inp) = input(
        &mixed_bundle()
            .file("pad.txt", "abc".repeat(10_000))
            .tar_gz(),
    );
    let fast = dir.path().join("l0.tgz");
    let best = dir.path().join("l9.tgz");
    optimize(&inp, &fast, &["-q", "--compression-level", "0"]);
    optimize(&inp, &best, &["-q", "--compression-level", "9"]);
    let (a, b) = (read_tar_gz(&fast), read_tar_gz(&best));
    assert_eq!(a.names(), b.names());
    for (x, y) in a.files.iter().zip(&b.files) {
        assert_eq!(x.data, y.data, "{}", x.name);
    }
    assert!(std::fs::metadata(&fast).unwrap().len() > std::fs::metadata(&best).unwrap().len());
}

// ---------------------------------------------------------------------------
// Content: what changes and what must not
// ---------------------------------------------------------------------------

#[test]
fn number_text_is_preserved_exactly() {
    let doc = b"{ \"n\": [ 12345678901234567890123456789, 1.10, 1E2, -0, 1e-7, 0.1e+010 ] }";
    let (dir, inp) = input(&TarBuilder::new().file("data.json", doc).tar_gz());
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    let got = read_tar_gz(&out).get("data.json").unwrap().to_vec();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        r#"{"n":[12345678901234567890123456789,1.10,1E2,-0,1e-7,0.1e+010]}"#
    );
}

#[test]
fn string_escapes_are_preserved_exactly() {
    let doc = br#"{ "s": "\u00e9\/\t\ud83d\ude00", "k\u0041": "caf\u00E9" }"#;
    let (dir, inp) = input(&TarBuilder::new().file("data.json", doc).tar_gz());
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    let got = read_tar_gz(&out).get("data.json").unwrap().to_vec();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        r#"{"s":"\u00e9\/\t\ud83d\ude00","k\u0041":"caf\u00E9"}"#
    );
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let (dir, inp) = input(
        &TarBuilder::new()
            .file("data.json", br#"{"a":1,"a":2}"#)
            .tar_gz(),
    );
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    assert_eq!(read_tar_gz(&out).get("data.json").unwrap(), br#"{"a":2}"#);
}

#[test]
fn data_json_is_compacted() {
    let (dir, inp) = input(&mixed_bundle().tar_gz());
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    assert_eq!(
        read_tar_gz(&out).get("/data.json").unwrap(),
        br#"{"z":{"admin":"root"},"b":[1,2,3]}"#
    );
}

#[test]
fn yaml_unknown_files_modules_and_manifest_are_carried_byte_identical() {
    let manifest = b"{\n  \"revision\": \"r9\",\n  \"roots\": [\"\"],\n  \"metadata\": {\"team\": \"x\"},\n  \"future_field\": [1, {\"y\": null}]\n}\n";
    let rego = b"package p\n\n# comment   \nallow if {\n\tinput.x == 1   \n}\n";
    let t = TarBuilder::new()
        .file(".manifest", manifest)
        .file(
            "p/data.yaml",
            b"# keep me\nkey:   value\nlist:\n  - 1\n  - 2\n",
        )
        .file("p/q/data.yml", b"a: 1\n")
        .file("README.txt", b"read me\r\n\r\n  ")
        .file("x/y.json", b"{ \"not\": \"data\" }\n")
        .file("p/mydata.json", b"[ 1 ]")
        .file("p/policy.rego", rego);
    let (dir, inp) = input(&t.tar_gz());
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    let a = read_tar_gz(&out);
    let src = read_tar(&gunzip(&t.tar_gz()));
    assert_eq!(a.names().len(), src.files.len());
    for f in &src.files {
        assert_eq!(
            a.get(&f.name),
            Some(f.data.as_slice()),
            "{} changed",
            f.name
        );
    }
}

#[test]
fn names_are_written_as_read() {
    let long = format!("{}/{}/data.json", "a".repeat(70), "b".repeat(70));
    assert!(long.len() > 140);
    let t = TarBuilder::new()
        .file("/data.json", br#"{"x":1}"#)
        .file("./dot/data.json", br#"{"y":2}"#)
        .file("/m/p.rego", b"package m\n")
        .pax_file(long.as_bytes(), b"placeholder", br#"{"z":3}"#);
    let (dir, inp) = input(&t.tar_gz());
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q"]);
    let a = read_tar_gz(&out);
    let mut names = a.names();
    names.sort();
    let mut want = vec![
        "/data.json".to_string(),
        "./dot/data.json".into(),
        "/m/p.rego".into(),
        long.clone(),
    ];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(a.get(&long).unwrap(), br#"{"z":3}"#);
}

#[test]
fn merge_data_writes_a_single_root_data_json() {
    let t = TarBuilder::new()
        .file("data.json", br#"{"a": {"x": 1}, "top": true}"#)
        .file("a/data.json", br#"{"y": 2}"#)
        .file("b/c/data.json", br#"[1, 2]"#)
        .file("d/data.yaml", b"k: v\nn: [1, 2]\n")
        .file("p.rego", b"package p\n")
        .file("notes.txt", b"n");
    let (dir, inp) = input(&t.tar_gz());
    let out = dir.path().join("out.tar.gz");
    optimize(&inp, &out, &["-q", "--merge-data"]);
    let a = read_tar_gz(&out);
    let mut names = a.names();
    names.sort();
    assert_eq!(names, vec!["/data.json", "notes.txt", "p.rego"]);
    let merged: Value = serde_json::from_slice(a.get("/data.json").unwrap()).unwrap();
    assert_eq!(
        merged,
        json!({"a": {"x": 1, "y": 2}, "top": true, "b": {"c": [1, 2]}, "d": {"k": "v", "n": [1, 2]}})
    );
}

#[test]
fn directory_output_holds_the_same_files_as_the_archive() {
    let (dir, inp) = input(&mixed_bundle().tar_gz());
    let tgz = dir.path().join("out.tar.gz");
    let outdir = dir.path().join("outdir");
    optimize(&inp, &tgz, &["-q"]);
    optimize(&inp, &outdir, &["-q"]);
    let mut from_archive: Vec<(String, Vec<u8>)> = read_tar_gz(&tgz)
        .files
        .into_iter()
        .map(|f| (f.name.trim_start_matches('/').to_string(), f.data))
        .collect();
    from_archive.sort();
    assert_eq!(tree(&outdir), from_archive);
    assert!(listing(dir.path())
        .iter()
        .all(|n| !n.starts_with(".regopt-")));
}

#[test]
fn existing_output_directory_is_replaced() {
    let (dir, inp) = input(&mixed_bundle().tar_gz());
    let outdir = dir.path().join("outdir");
    write_tree(
        &outdir,
        &[("stale/file.txt", b"old"), ("README.txt", b"old readme")],
    );
    optimize(&inp, &outdir, &["-q"]);
    let files = tree(&outdir);
    assert!(
        !files.iter().any(|(n, _)| n.starts_with("stale")),
        "{files:?}"
    );
    assert_eq!(
        files
            .iter()
            .find(|(n, _)| n == "README.txt")
            .map(|(_, b)| b.as_slice()),
        Some(&b"  hello\r\n  world  \n"[..])
    );
    assert_eq!(listing(dir.path()), vec!["in.tar.gz", "outdir"]);
}

#[test]
fn directory_input_gives_the_same_archive_as_tar_input() {
    let files: &[(&str, &[u8])] = &[
        ("data.json", b"{ \"a\" : 1 }"),
        ("x/data.yaml", b"b: 2\n"),
        ("x/p.rego", b"package x\n"),
        ("README.md", b"hi"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_tree(&src, files);
    let mut t = TarBuilder::new();
    for (n, b) in files {
        t = t.file(n, b);
    }
    let tgz = dir.path().join("in.tar.gz");
    std::fs::write(&tgz, t.tar_gz()).unwrap();
    let (o1, o2) = (dir.path().join("o1.tar.gz"), dir.path().join("o2.tar.gz"));
    optimize(&src, &o1, &["-q"]);
    optimize(&tgz, &o2, &["-q"]);
    assert_eq!(std::fs::read(&o1).unwrap(), std::fs::read(&o2).unwrap());
}

// ---------------------------------------------------------------------------
// Pass-through bundles
// ---------------------------------------------------------------------------

fn assert_same_files(input: &[u8], out: &Path) {
    let src = read_tar(&gunzip(input));
    let got = read_tar_gz(out);
    let mut a: Vec<(String, Vec<u8>)> = src.files.into_iter().map(|f| (f.name, f.data)).collect();
    let mut b: Vec<(String, Vec<u8>)> = got.files.into_iter().map(|f| (f.name, f.data)).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn delta_bundle_is_passed_through_unchanged() {
    let t = TarBuilder::new()
        .file(".manifest", b"{\n  \"revision\": \"d1\",\n  \"roots\": [\"a\"]\n}\n")
        .file(
            "patch.json",
            b"{\n  \"data\": [\n    {\"op\": \"upsert\", \"path\": \"/a/x\", \"value\": 1.10}\n  ]\n}\n",
        );
    let gz = t.tar_gz();
    let (dir, inp) = input(&gz);
    let out = dir.path().join("out.tar.gz");
    let r = optimize(&inp, &out, &[]);
    assert_same_files(&gz, &out);
    assert!(r.stderr.contains("no optimization applied"), "{}", r.stderr);
    assert!(r.stderr.contains("delta"), "{}", r.stderr);
}

#[test]
fn wasm_bundle_is_passed_through_unchanged() {
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend((0..3000u32).map(|i| (i * 7 % 251) as u8));
    let t = TarBuilder::new()
        .file(
            "/.manifest",
            br#"{"revision":"w","roots":["a"],"wasm":[{"entrypoint":"a/allow","module":"/policy.wasm"}]}"#,
        )
        .file("/policy.wasm", &wasm)
        .file("/data.json", b"{\n    \"a\": {\n        \"n\": 1.50\n    }\n}\n")
        .file("/a/a.rego", b"package a\n\nallow := true\n");
    let gz = t.tar_gz();
    let (dir, inp) = input(&gz);
    let out = dir.path().join("out.tar.gz");
    let r = optimize(&inp, &out, &[]);
    assert_same_files(&gz, &out);
    assert!(r.stderr.contains("no optimization applied"), "{}", r.stderr);
    // The summary must not claim the data shrank.
    let row = r
        .stderr
        .lines()
        .find(|l| l.starts_with("data.json"))
        .unwrap_or_default();
    assert!(row.contains("+0.0%"), "{}", r.stderr);
}

#[test]
fn wasm_bundle_directory_output_is_unchanged_too() {
    let t = TarBuilder::new()
        .file("policy.wasm", b"\0asm\x01\0\0\0")
        .file("data.json", b"{ \"a\" : 1 }\n");
    let (dir, inp) = input(&t.tar_gz());
    let out = dir.path().join("outdir");
    optimize(&inp, &out, &["-q"]);
    assert_eq!(
        tree(&out),
        vec![
            ("data.json".to_string(), b"{ \"a\" : 1 }\n".to_vec()),
            ("policy.wasm".to_string(), b"\0asm\x01\0\0\0".to_vec())
        ]
    );
}

// ---------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------

fn signed_bundle() -> TarBuilder {
    TarBuilder::new()
        .file("/.manifest", b"{\"revision\":\"s1\"}")
        .file(
            "/.signatures.json",
            br#"{"signatures":["eyJhbGciOiJSUzI1NiJ9.eyJmaWxlcyI6W119.c2ln"]}"#,
        )
        .file("/data.json", b"{\n  \"a\": [1, 2, 3]\n}\n")
        .file("/p/p.rego", b"package p\n\nallow := true\n")
}

#[test]
fn signed_bundle_keeps_its_signature_when_only_data_is_compacted() {
    let t = signed_bundle();
    let (dir, inp) = input(&t.tar_gz());
    let out = dir.path().join("out.tar.gz");
    let r = optimize(&inp, &out, &[]);
    assert!(r.stderr.contains("note: signature kept"), "{}", r.stderr);
    let a = read_tar_gz(&out);
    let src = read_tar(&t.tar());
    assert_eq!(
        a.get("/.signatures.json"),
        src.files
            .iter()
            .find(|f| f.name == "/.signatures.json")
            .map(|f| f.data.as_slice())
    );
    assert_eq!(a.get("/data.json").unwrap(), br#"{"a":[1,2,3]}"#);
    assert_eq!(a.get("/p/p.rego").unwrap(), b"package p\n\nallow := true\n");
    assert_eq!(a.get("/.manifest").unwrap(), b"{\"revision\":\"s1\"}");
}

#[test]
fn drop_signatures_keeps_signatures_that_still_match() {
    let (dir, inp) = input(&signed_bundle().tar_gz());
    let out = dir.path().join("out.tar.gz");
    let r = optimize(&inp, &out, &["--drop-signatures"]);
    assert!(r.stderr.contains("signature kept"), "{}", r.stderr);
    assert!(!r.stderr.contains("dropped"), "{}", r.stderr);
    assert!(read_tar_gz(&out).get("/.signatures.json").is_some());
}

// ---------------------------------------------------------------------------
// Report, summary, inspect
// ---------------------------------------------------------------------------

#[test]
fn report_file_is_json_with_sizes_per_kind() {
    let (dir, inp) = input(&mixed_bundle().tar_gz());
    let out = dir.path().join("out.tar.gz");
    let report = dir.path().join("report.json");
    let r = optimize(&inp, &out, &["-q", "--report", report.to_str().unwrap()]);
    assert!(
        r.stderr.is_empty() && r.stdout.is_empty(),
        "-q prints nothing: {}{}",
        r.stdout,
        r.stderr
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let sizes = &v["sizes"];
    let data = &sizes["data.json"];
    assert_eq!(data["files"], 1);
    assert_eq!(data["bytes_before"], MIXED_DATA.len());
    assert_eq!(
        data["bytes_after"],
        br#"{"z":{"admin":"root"},"b":[1,2,3]}"#.len()
    );
    assert_eq!(sizes["rego"]["files"], 3);
    assert_eq!(sizes["rego"]["bytes_before"], sizes["rego"]["bytes_after"]);
    assert_eq!(sizes["data.yaml"]["files"], 1);
    assert_eq!(sizes["other"]["files"], 1);
    assert_eq!(sizes["manifest"]["files"], 1);
    assert_eq!(v["input_bytes"], std::fs::metadata(&inp).unwrap().len());
    assert_eq!(v["output_bytes"], std::fs::metadata(&out).unwrap().len());
    assert!(v["pass_through"].is_null());
}

#[test]
fn summary_lists_kinds_and_the_output() {
    let (dir, inp) = input(&mixed_bundle().tar_gz());
    let out = dir.path().join("out.tar.gz");
    let r = optimize(&inp, &out, &[]);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    for kind in [
        "data.json",
        "data.yaml",
        "rego",
        "manifest",
        "other",
        "total",
    ] {
        assert!(
            r.stderr.lines().any(|l| l.starts_with(kind)),
            "no `{kind}` row:\n{}",
            r.stderr
        );
    }
    assert!(
        r.stderr.contains(&format!("wrote {}", out.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn inspect_json_reports_manifest_kinds_largest_duplicates_and_modules() {
    let blob = json!({"text": noise(2000, 3), "n": [1, 2, 3]});
    let data = json!({"copy1": blob, "nested": {"copy2": blob}, "small": 1});
    let t = TarBuilder::new()
        .file(
            ".manifest",
            br#"{"revision":"v7","roots":[""],"rego_version":0,"metadata":{"owner":"me"},"extra":true}"#,
        )
        .file("data.json", serde_json::to_vec_pretty(&data).unwrap())
        .file("authz/policy.rego", b"package authz.main\n\ndefault allow = false\nallow { input.x }\n")
        .file("README.md", b"hello");
    let (_dir, inp) = input(&t.tar_gz());
    let v = inspect_json(&inp, &[]);

    assert_eq!(
        v["manifest"],
        json!({"revision":"v7","roots":[""],"rego_version":0,"metadata":{"owner":"me"},"extra":true})
    );
    assert_eq!(v["kinds"]["data.json"]["files"], 1);
    assert_eq!(v["kinds"]["rego"]["files"], 1);
    assert_eq!(v["kinds"]["other"]["files"], 1);
    assert_eq!(v["kinds"]["manifest"]["files"], 1);

    let largest = v["largest"].as_array().unwrap();
    assert!(!largest.is_empty());
    let compact_blob = serde_json::to_vec(&blob).unwrap().len() as u64;
    assert!(
        largest[0]["bytes"].as_u64().unwrap() >= compact_blob,
        "{largest:?}"
    );
    assert!(
        largest.iter().any(|l| l["path"] == "data.copy1"),
        "{largest:?}"
    );

    let dups = v["duplicates"].as_array().unwrap();
    assert_eq!(
        dups.len(),
        1,
        "one group; nested copies not listed again: {dups:?}"
    );
    assert_eq!(dups[0]["paths"], json!(["data.copy1", "data.nested.copy2"]));
    assert_eq!(dups[0]["bytes"], compact_blob);
    assert_eq!(dups[0]["wasted"], compact_blob);
    assert_eq!(v["duplicate_bytes"], compact_blob);

    let modules = v["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 1);
    assert_eq!(modules[0]["path"], "authz/policy.rego");
    assert_eq!(modules[0]["package"], "authz.main");
    assert_eq!(modules[0]["rego_version"], 0);
}

#[test]
fn inspect_json_gives_rego_v1_by_default_and_per_file_versions() {
    let t = TarBuilder::new()
        .file(".manifest", br#"{"file_rego_versions":{"/old/*.rego":0}}"#)
        .file("/old/a.rego", b"package old\n\nallow { true }\n")
        .file("/new/b.rego", b"package new\n\nallow if true\n");
    let (_dir, inp) = input(&t.tar_gz());
    let v = inspect_json(&inp, &[]);
    let modules = v["modules"].as_array().unwrap();
    let version =
        |p: &str| modules.iter().find(|m| m["path"] == p).unwrap()["rego_version"].clone();
    assert_eq!(version("old/a.rego"), 0);
    assert_eq!(version("new/b.rego"), 1);
}

#[test]
fn inspect_pretty_names_the_pieces() {
    let (_dir, inp) = input(&mixed_bundle().tar_gz());
    let r = run([os("inspect"), inp.as_os_str()]);
    r.success();
    for needle in [
        "manifest:",
        "files by kind:",
        "modules:",
        "package m",
        "duplicate subtrees",
    ] {
        assert!(r.stdout.contains(needle), "no `{needle}`:\n{}", r.stdout);
    }
}

#[test]
fn inspect_json_marks_pass_through_bundles() {
    let t = TarBuilder::new().file("patch.json", br#"{"data":[]}"#);
    let (_dir, inp) = input(&t.tar_gz());
    let v = inspect_json(&inp, &[]);
    assert!(
        v["pass_through"]
            .as_str()
            .unwrap_or_default()
            .contains("delta"),
        "{v}"
    );
}

// ---------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------

#[test]
fn compression_level_out_of_range_is_a_usage_error() {
    let (dir, inp) = input(&mixed_bundle().tar_gz());
    let out = dir.path().join("out.tar.gz");
    let r = run([
        os("optimize"),
        inp.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--compression-level"),
        os("12"),
    ]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::USAGE, "{}", r.stderr);
    assert!(r.stderr.contains("12"), "{}", r.stderr);
    assert_eq!(listing(dir.path()), vec!["in.tar.gz"]);
}

#[test]
fn missing_output_flag_is_a_usage_error() {
    let (_dir, inp) = input(&mixed_bundle().tar_gz());
    let r = run([os("optimize"), inp.as_os_str()]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::USAGE, "{}", r.stderr);
}

#[test]
fn unknown_inspect_format_is_a_usage_error() {
    let (_dir, inp) = input(&mixed_bundle().tar_gz());
    let r = run([os("inspect"), inp.as_os_str(), os("--format"), os("xml")]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::USAGE, "{}", r.stderr);
}
