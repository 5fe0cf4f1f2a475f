//! The library API: read from a path or any `Read`, optimize, write to a path or any `Write`;
//! no printing, no global state, usable from many threads at once.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use regopt::api::{self, OptimizeOptions, ReadOptions, WriteOptions};
use regopt::Error;

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bundles/sample")
}

fn optimized_bytes() -> (Vec<u8>, usize) {
    let mut b = api::read_bundle(sample_dir(), &ReadOptions::default()).unwrap();
    let report = api::optimize(&mut b, &OptimizeOptions::default()).unwrap();
    let bytes = api::write_bundle_to(&b, Vec::new(), &WriteOptions::default()).unwrap();
    (bytes, report.rewrites)
}

#[test]
fn eight_threads_optimize_at_once_and_agree() {
    let (expected, rewrites) = optimized_bytes();
    assert!(rewrites > 0);
    let input = {
        let b = api::read_bundle(sample_dir(), &ReadOptions::default()).unwrap();
        api::write_bundle_to(&b, Vec::new(), &WriteOptions::default()).unwrap()
    };
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (barrier, input, expected) = (&barrier, &input, &expected);
                s.spawn(move || {
                    barrier.wait();
                    for _ in 0..3 {
                        // Half the threads go through a path, half through bytes in memory.
                        let out = if i % 2 == 0 {
                            let mut b =
                                api::read_bundle(sample_dir(), &ReadOptions::default()).unwrap();
                            let r = api::optimize(&mut b, &OptimizeOptions::default()).unwrap();
                            assert_eq!(r.rewrites, rewrites);
                            api::write_bundle_to(&b, Vec::new(), &WriteOptions::default()).unwrap()
                        } else {
                            let o =
                                api::optimize_archive(input, &OptimizeOptions::default()).unwrap();
                            assert_eq!(o.report.rewrites, rewrites);
                            o.archive
                        };
                        assert_eq!(&out, expected, "thread {i}: same bytes as alone");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread finished without panicking");
        }
    });
}

#[test]
fn read_from_any_reader_and_write_to_any_writer() {
    let (bytes, _) = optimized_bytes();
    // A reader that hands out a few bytes at a time.
    struct Trickle(Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7);
            self.0.read(&mut buf[..n])
        }
    }
    let b = api::read_bundle_from(Trickle(Cursor::new(bytes.clone())), &ReadOptions::default())
        .unwrap();
    let again = api::write_bundle_to(&b, Vec::new(), &WriteOptions::default()).unwrap();
    assert_eq!(again, bytes, "reading and writing back is the identity");

    // A file as writer, and write_bundle to a path give the same bytes.
    let tmp = tempfile::tempdir().unwrap();
    let f = std::fs::File::create(tmp.path().join("w.tar.gz")).unwrap();
    api::write_bundle_to(&b, f, &WriteOptions::default()).unwrap();
    api::write_bundle(&b, tmp.path().join("p.tar.gz"), &WriteOptions::default()).unwrap();
    let w = std::fs::read(tmp.path().join("w.tar.gz")).unwrap();
    let p = std::fs::read(tmp.path().join("p.tar.gz")).unwrap();
    assert_eq!(w, p);
    assert_eq!(w, bytes);

    // A directory target.
    api::write_bundle(&b, tmp.path().join("dir"), &WriteOptions::default()).unwrap();
    assert!(tmp.path().join("dir/authz/policy.rego").is_file());
    let from_dir = api::read_bundle(tmp.path().join("dir"), &ReadOptions::default()).unwrap();
    assert_eq!(from_dir.files.len(), b.files.len());
}

#[test]
fn structured_report() {
    let (bytes, _) = optimized_bytes();
    let input = {
        let b = api::read_bundle(sample_dir(), &ReadOptions::default()).unwrap();
        api::write_bundle_to(&b, Vec::new(), &WriteOptions::default()).unwrap()
    };
    let o = api::optimize_archive(&input, &OptimizeOptions::default()).unwrap();
    assert_eq!(o.archive, bytes);
    let r = &o.report;
    assert_eq!(r.input_bytes, Some(input.len() as u64));
    assert_eq!(r.output_bytes, Some(bytes.len() as u64));
    let stages: Vec<&str> = r.timings.iter().map(|t| t.stage).collect();
    assert_eq!(stages, ["read", "passes", "write"]);
    assert!(r.sizes.contains_key("rego") && r.sizes.contains_key("data.json"));
    let passes = r.passes.as_ref().expect("pass report");
    assert_eq!(
        passes["rewrites"].as_array().map(Vec::len),
        Some(r.rewrites)
    );
    // The report serializes for machines.
    let v = serde_json::to_value(r).unwrap();
    assert!(v["sizes"]["rego"]["bytes_after"].as_u64().unwrap() > 0);
}

#[test]
fn pass_through_bundles_keep_their_bytes() {
    let data = "{\n  \"a\": 1\n}\n";
    let files = vec![
        ("data.json".to_string(), data.as_bytes().to_vec()),
        ("patch.json".to_string(), br#"{"data": []}"#.to_vec()),
    ];
    let o = api::optimize_files(files, &OptimizeOptions::default()).unwrap();
    assert!(o.report.pass_through.is_some());
    let back = api::read_bundle_from(
        &o.archive[..],
        &ReadOptions {
            keep_data_bytes: true,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    let f = back.files.iter().find(|f| f.path == "data.json").unwrap();
    assert_eq!(f.bytes, data.as_bytes());
}

#[test]
fn errors_are_values_not_output() {
    let e = api::read_bundle_from(&b"not a gzip stream"[..], &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::CorruptArchive { .. }), "{e}");
    assert_eq!(e.exit_code(), 4);
    let e = api::optimize_archive(b"", &OptimizeOptions::default()).unwrap_err();
    assert!(matches!(e, Error::CorruptArchive { .. }), "{e}");
    let e = api::read_bundle("/nonexistent/regopt/bundle", &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    let e = api::optimize_files(
        vec![("data.json".into(), b"[1]".to_vec())],
        &OptimizeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::RootNotObject { .. }), "{e}");
}

#[test]
fn optimize_path_as_the_cli_does() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.tar.gz");
    let r = api::optimize_path(sample_dir(), &out, &OptimizeOptions::default()).unwrap();
    let (bytes, rewrites) = optimized_bytes();
    assert_eq!(r.rewrites, rewrites);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}
