//! The bad-input suite: hostile or broken bundles, built byte by byte in the
//! tests, fed to the real binary. Every case must be refused with its own exit
//! code, a message naming the bundle and the offending entry or path, a hint,
//! no panic, and nothing written: the output directory holds only the input.

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regopt::error::exit;
use support::*;
use tempfile::TempDir;

/// A bundle under test, alone in a fresh directory.
struct Case {
    dir: TempDir,
    input: PathBuf,
}

impl Case {
    fn tar_gz(bytes: &[u8]) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.tar.gz");
        std::fs::write(&input, bytes).unwrap();
        Case { dir, input }
    }

    fn directory(files: &[(&str, &[u8])]) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        write_tree(&input, files);
        Case { dir, input }
    }

    fn input_name(&self) -> String {
        self.input
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Run `optimize` to `out.tar.gz`, which must succeed; the archive written.
    fn optimized(&self) -> Archive {
        let out = self.out("out.tar.gz");
        run([
            os("optimize"),
            self.input.as_os_str(),
            os("-o"),
            out.as_os_str(),
        ])
        .success();
        read_tar_gz(&out)
    }

    /// Run `optimize` (to an archive and to a directory) and `inspect`; all
    /// must fail with `code`, render the error once with the bundle path, the
    /// fragments and a hint, and leave nothing beside the input.
    fn refused(&self, limits: &[&str], code: i32, fragments: &[&str]) -> Run {
        let mut first = None;
        for out in ["out.tar.gz", "out"] {
            let mut args: Vec<&OsStr> = vec![os("optimize"), self.input.as_os_str()];
            let target = self.out(out);
            args.extend([os("-o"), target.as_os_str()]);
            args.extend(limits.iter().map(|s| os(s)));
            let r = run(&args);
            self.check_failure(&r, code, fragments, &format!("optimize -o {out}"));
            assert_eq!(
                listing(self.dir.path()),
                vec![self.input_name()],
                "optimize -o {out} left files behind"
            );
            first.get_or_insert(r);
        }
        let mut args: Vec<&OsStr> = vec![os("inspect"), self.input.as_os_str()];
        args.extend(limits.iter().map(|s| os(s)));
        let r = run(&args);
        self.check_failure(&r, code, fragments, "inspect");
        assert_eq!(listing(self.dir.path()), vec![self.input_name()]);
        first.unwrap()
    }

    fn check_failure(&self, r: &Run, code: i32, fragments: &[&str], what: &str) {
        r.assert_no_panic();
        assert_eq!(
            r.code, code,
            "{what}: expected exit code {code}, got {}\nstderr:\n{}",
            r.code, r.stderr
        );
        assert!(
            r.stdout.is_empty(),
            "{what}: nothing on stdout on failure:\n{}",
            r.stdout
        );
        let first_line = r.stderr.lines().next().unwrap_or_default();
        let prefix = format!("regopt: {}", self.input.display());
        assert!(
            first_line.starts_with(&prefix),
            "{what}: the message must start with `{prefix}`:\n{}",
            r.stderr
        );
        for f in fragments {
            assert!(
                first_line.contains(f),
                "{what}: message lacks `{f}`:\n{}",
                r.stderr
            );
        }
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with("hint: ") && l.len() > "hint: ".len()),
            "{what}: no hint line:\n{}",
            r.stderr
        );
        assert_eq!(
            r.stderr.lines().count(),
            2,
            "{what}: one message and one hint:\n{}",
            r.stderr
        );
    }
}

fn small_bundle() -> TarBuilder {
    TarBuilder::new()
        .file(".manifest", br#"{"revision":"r1","roots":["a"]}"#)
        .file(
            "a/data.json",
            br#"{"x": [1, 2, 3], "y": "some text to compress"}"#,
        )
        .file(
            "a/policy.rego",
            b"package a\n\nallow if input.x == data.a.x[0]\n",
        )
}

/// A deterministic, poorly compressible byte sequence.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b'a' + (x % 26) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------
// gzip and tar damage
// ---------------------------------------------------------------------------

#[test]
fn random_bytes_are_a_corrupt_archive() {
    let case = Case::tar_gz(&noise(4096));
    case.refused(&[], exit::CORRUPT_ARCHIVE, &["archive is corrupt", "gzip"]);
}

#[test]
fn valid_gzip_header_then_garbage_is_a_corrupt_archive() {
    let mut bytes = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x07));
    let case = Case::tar_gz(&bytes);
    case.refused(&[], exit::CORRUPT_ARCHIVE, &["archive is corrupt"]);
}

#[test]
fn truncated_gzip_stream_is_a_corrupt_archive() {
    let gz = TarBuilder::new()
        .file("a/blob.txt", noise(64 * 1024))
        .tar_gz();
    let case = Case::tar_gz(&gz[..gz.len() / 2]);
    case.refused(
        &[],
        exit::CORRUPT_ARCHIVE,
        &["archive is corrupt", "truncated"],
    );
}

#[test]
fn missing_gzip_trailer_is_a_corrupt_archive() {
    // The tar inside is complete; only the CRC and length are cut off.
    let gz = small_bundle().tar_gz();
    let case = Case::tar_gz(&gz[..gz.len() - 8]);
    case.refused(
        &[],
        exit::CORRUPT_ARCHIVE,
        &["archive is corrupt", "truncated gzip"],
    );
}

#[test]
fn wrong_gzip_checksum_is_a_corrupt_archive() {
    let mut gz = small_bundle().tar_gz();
    let n = gz.len();
    gz[n - 8] ^= 0xff;
    let case = Case::tar_gz(&gz);
    case.refused(&[], exit::CORRUPT_ARCHIVE, &["archive is corrupt"]);
}

#[test]
fn tar_cut_inside_an_entry_is_a_corrupt_archive_naming_the_entry() {
    let tar = TarBuilder::new()
        .file("a/data.json", br#"{"k":1}"#)
        .file("a/blob.txt", noise(10_000))
        .unterminated();
    // Cut in the middle of blob.txt's data; the gzip stream itself is intact.
    let cut = 3 * BLOCK + 4000;
    let case = Case::tar_gz(&gzip(&tar[..cut]));
    case.refused(
        &[],
        exit::CORRUPT_ARCHIVE,
        &["archive is corrupt", "truncated", "a/blob.txt"],
    );
}

#[test]
fn tar_cut_inside_a_header_is_a_corrupt_archive() {
    let tar = small_bundle().unterminated();
    let case = Case::tar_gz(&gzip(&tar[..BLOCK + 200]));
    case.refused(
        &[],
        exit::CORRUPT_ARCHIVE,
        &["archive is corrupt", "truncated"],
    );
}

#[test]
fn wrong_header_checksum_is_a_corrupt_archive() {
    let h = Header::new(b"data.json", 2, b'0').corrupt(0, b"x");
    let case = Case::tar_gz(&TarBuilder::new().entry(h, b"{}").tar_gz());
    case.refused(
        &[],
        exit::CORRUPT_ARCHIVE,
        &["archive is corrupt", "checksum"],
    );
}

#[test]
fn non_octal_size_field_is_a_corrupt_archive() {
    let h = Header::new(b"data.json", 2, b'0').patch(124, b"0000000000z\0");
    let case = Case::tar_gz(&TarBuilder::new().entry(h, b"{}").tar_gz());
    case.refused(&[], exit::CORRUPT_ARCHIVE, &["archive is corrupt", "size"]);
}

#[test]
fn oversized_pax_record_is_refused_before_it_is_read() {
    // The header claims a 1 TiB extension record; only a few bytes follow.
    let h = Header::new(b"PaxHeaders/x", 0, b'x').patch(124, b"20000000000\0");
    let case = Case::tar_gz(&TarBuilder::new().entry(h, b"").tar_gz());
    case.refused(
        &[],
        exit::CORRUPT_ARCHIVE,
        &["archive is corrupt", "extension"],
    );
}

#[test]
fn malformed_pax_record_is_a_corrupt_archive() {
    let body = b"99 path=x\n";
    let h = Header::new(b"PaxHeaders/x", body.len() as u64, b'x');
    let case = Case::tar_gz(&TarBuilder::new().entry(h, body).file("x", b"1").tar_gz());
    case.refused(&[], exit::CORRUPT_ARCHIVE, &["archive is corrupt", "pax"]);
}

#[test]
fn empty_file_is_not_a_bundle() {
    let case = Case::tar_gz(b"");
    case.refused(&[], exit::CORRUPT_ARCHIVE, &["archive is corrupt"]);
}

#[test]
fn missing_bundle_path_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nope.tar.gz");
    let out = dir.path().join("out.tar.gz");
    let r = run([os("optimize"), input.as_os_str(), os("-o"), out.as_os_str()]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::IO, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with(&format!("regopt: {}", input.display())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("No such file"), "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l.starts_with("hint: ")),
        "{}",
        r.stderr
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    let r = run([os("inspect"), input.as_os_str()]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::IO, "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// Unsafe names and entry types
// ---------------------------------------------------------------------------

#[test]
fn dotdot_name_is_unsafe() {
    let case = Case::tar_gz(&small_bundle().file("../evil", b"x").tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["../evil", ".."]);
}

#[test]
fn rooted_dotdot_name_is_unsafe() {
    let case = Case::tar_gz(&small_bundle().file("/../evil", b"x").tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["/../evil", ".."]);
}

#[test]
fn dotdot_in_the_middle_is_unsafe() {
    let case = Case::tar_gz(
        &small_bundle()
            .file("a/../../evil/data.json", b"{}")
            .tar_gz(),
    );
    case.refused(&[], exit::UNSAFE_ENTRY, &["a/../../evil/data.json"]);
}

#[test]
fn empty_path_component_is_unsafe() {
    let case = Case::tar_gz(&small_bundle().file("a//b", b"x").tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["a//b", "empty path component"]);
}

#[test]
fn dot_path_component_is_unsafe() {
    let case = Case::tar_gz(&small_bundle().file("a/./b", b"x").tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["a/./b"]);
}

#[test]
fn nul_byte_in_pax_path_is_unsafe() {
    let case = Case::tar_gz(
        &small_bundle()
            .pax_file(b"a/x\0y.rego", b"a/xy.rego", b"package a\n")
            .tar_gz(),
    );
    case.refused(&[], exit::UNSAFE_ENTRY, &["NUL"]);
}

#[test]
fn pax_path_overriding_a_safe_name_is_checked() {
    // The ustar name is harmless; the PAX path that replaces it is not.
    let case = Case::tar_gz(
        &small_bundle()
            .pax_file(b"../evil.rego", b"harmless.txt", b"x")
            .tar_gz(),
    );
    case.refused(&[], exit::UNSAFE_ENTRY, &["../evil.rego"]);
}

#[test]
fn gnu_long_name_is_checked() {
    let name = format!("{}/../../../evil", "d".repeat(120));
    let case = Case::tar_gz(
        &small_bundle()
            .long_name_file(name.as_bytes(), b"x")
            .tar_gz(),
    );
    case.refused(&[], exit::UNSAFE_ENTRY, &["/../../../evil"]);
}

#[test]
fn ustar_prefix_is_checked() {
    let h = Header::new(b"evil", 1, b'0').prefix(b"..");
    let case = Case::tar_gz(&small_bundle().entry(h, b"x").tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["../evil"]);
}

#[test]
fn directory_entry_with_dotdot_is_unsafe() {
    let case = Case::tar_gz(&small_bundle().dir(b"../up/").tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["../up"]);
}

#[test]
fn invalid_utf8_name_is_unsafe() {
    let case = Case::tar_gz(&small_bundle().file(b"a/\xff\xfe.txt", b"x").tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["UTF-8"]);
}

#[test]
fn symlink_entry_is_unsafe() {
    let case = Case::tar_gz(
        &small_bundle()
            .symlink(b"a/data.json", b"/etc/passwd")
            .tar_gz(),
    );
    case.refused(&[], exit::UNSAFE_ENTRY, &["a/data.json", "symbolic link"]);
}

#[test]
fn hard_link_entry_is_unsafe() {
    let case = Case::tar_gz(
        &small_bundle()
            .hardlink(b"a/other.rego", b"a/policy.rego")
            .tar_gz(),
    );
    case.refused(&[], exit::UNSAFE_ENTRY, &["a/other.rego", "hard link"]);
}

#[test]
fn character_device_entry_is_unsafe() {
    let case = Case::tar_gz(&small_bundle().char_device(b"a/null").tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["a/null", "device"]);
}

#[test]
fn fifo_entry_is_unsafe() {
    let case = Case::tar_gz(
        &small_bundle()
            .entry(Header::new(b"a/pipe", 0, b'6'), b"")
            .tar_gz(),
    );
    case.refused(&[], exit::UNSAFE_ENTRY, &["a/pipe"]);
}

#[test]
fn unknown_entry_type_is_unsafe() {
    // 'S' is a GNU sparse file.
    let case = Case::tar_gz(
        &small_bundle()
            .entry(Header::new(b"a/sparse", 0, b'S'), b"")
            .tar_gz(),
    );
    case.refused(
        &[],
        exit::UNSAFE_ENTRY,
        &["a/sparse", "unsupported tar entry type"],
    );
}

#[test]
fn duplicate_entries_after_normalisation_are_refused() {
    let tar = TarBuilder::new()
        .file("data.json", br#"{"a":1}"#)
        .file("/data.json", br#"{"a":2}"#);
    let case = Case::tar_gz(&tar.tar_gz());
    case.refused(
        &[],
        exit::UNSAFE_ENTRY,
        &["/data.json", "duplicate", "'data.json'"],
    );
}

#[test]
fn exact_duplicate_entries_are_refused() {
    let tar = TarBuilder::new()
        .file("x.rego", b"package x\n")
        .file("x.rego", b"package y\n");
    let case = Case::tar_gz(&tar.tar_gz());
    case.refused(&[], exit::UNSAFE_ENTRY, &["x.rego", "duplicate"]);
}

#[test]
fn control_bytes_in_names_are_not_echoed_raw() {
    // A hostile name must not write terminal escape sequences or NUL bytes
    // to the user's terminal or logs.
    let case = Case::tar_gz(
        &small_bundle()
            .pax_file(b"\x1b[2J\x1b]0;owned\x07/../x\0", b"x", b"x")
            .tar_gz(),
    );
    let r = case.refused(&[], exit::UNSAFE_ENTRY, &[]);
    let bad: Vec<u8> = r
        .stderr_bytes
        .iter()
        .copied()
        .filter(|&b| b < 0x20 && b != b'\n')
        .collect();
    assert!(
        bad.is_empty(),
        "raw control bytes {bad:?} in stderr: {:?}",
        r.stderr
    );
}

#[test]
fn control_bytes_in_accepted_names_are_not_echoed_raw() {
    // A name that is otherwise acceptable (no NUL, no `..`) but carries an
    // escape sequence, reported through a later error (invalid JSON).
    let case = Case::tar_gz(
        &TarBuilder::new()
            .file("\x1b[31mred/data.json", b"{")
            .tar_gz(),
    );
    let r = case.refused(&[], exit::INVALID_DATA, &["red/data.json"]);
    assert!(
        !r.stderr_bytes.contains(&0x1b),
        "raw ESC in stderr: {:?}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------
// Limits: gzip bombs, entry counts, nesting
// ---------------------------------------------------------------------------

#[test]
fn cheap_gzip_helper_makes_valid_streams() {
    // The bombs below are built by the helper; make sure what it builds is a
    // real, CRC-checked gzip of a real tar, so refusals are due to the limits.
    let gz = zero_files_tar_gz(&[(b"z/a.bin", 2), (b"z/b.bin", 1)]);
    let tar = gunzip(&gz);
    let a = read_tar(&tar);
    assert_eq!(a.names(), vec!["z/a.bin", "z/b.bin"]);
    assert_eq!(a.files[0].data.len(), 2 << 20);
    assert!(a.files.iter().all(|f| f.data.iter().all(|&b| b == 0)));
    let case = Case::tar_gz(&gz);
    run([os("inspect"), case.input.as_os_str()]).success();
}

#[test]
fn gzip_bomb_single_entry_is_refused_by_size_limit() {
    let gz = zero_files_tar_gz(&[(b"bomb/data.json", 64)]);
    assert!(
        gz.len() < 1 << 20,
        "the bomb itself is small: {} bytes",
        gz.len()
    );
    let case = Case::tar_gz(&gz);
    case.refused(
        &["--size-limit", "1048576"],
        exit::LIMIT,
        &["bomb/data.json", "67108864", "1048576"],
    );
}

#[test]
fn size_limit_alone_decides_for_a_well_formed_zero_run() {
    // A smaller bomb of the same shape: refused under the limit, accepted
    // above it, so refusals above are the limit's doing (not a malformed
    // archive). Kept small because unoptimized builds inflate slowly.
    let gz = zero_files_tar_gz(&[(b"bomb/blob.bin", 4)]);
    let case = Case::tar_gz(&gz);
    case.refused(
        &["--size-limit", "1048576"],
        exit::LIMIT,
        &["bomb/blob.bin", "4194304", "1048576"],
    );
    let r = run([
        os("inspect"),
        os("--format"),
        os("json"),
        os("--size-limit"),
        os("4194304"),
        case.input.as_os_str(),
    ]);
    r.success();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["kinds"]["other"]["bytes"], 4 << 20);
}

#[test]
fn many_files_exceeding_total_size_are_refused() {
    let files: Vec<(Vec<u8>, usize)> = (0..12)
        .map(|i| (format!("blobs/f{i:02}.bin").into_bytes(), 1))
        .collect();
    let refs: Vec<(&[u8], usize)> = files.iter().map(|(n, s)| (n.as_slice(), *s)).collect();
    let case = Case::tar_gz(&zero_files_tar_gz(&refs));
    case.refused(&["--max-total-size", "8388608"], exit::LIMIT, &["8388608"]);
}

#[test]
fn too_many_entries_are_refused() {
    let mut t = TarBuilder::new();
    for i in 0..50 {
        t = t.file(format!("f/{i}.txt"), b"x");
    }
    let case = Case::tar_gz(&t.tar_gz());
    case.refused(
        &["--max-entries", "10"],
        exit::LIMIT,
        &["more than 10 entries"],
    );
}

#[test]
fn directory_entries_count_towards_max_entries() {
    let mut t = TarBuilder::new();
    for i in 0..20 {
        t = t.dir(format!("d{i}/").as_bytes());
    }
    let case = Case::tar_gz(&t.tar_gz());
    case.refused(
        &["--max-entries", "10"],
        exit::LIMIT,
        &["more than 10 entries"],
    );
}

/// With default limits, a ~1 MB archive whose one entry claims (and holds)
/// just over 1 GiB is refused from its header: quickly, and without the
/// gigabyte ever being allocated (the process runs with an address-space
/// limit well below 1 GiB where `sh` can set one).
#[test]
fn one_gib_entry_is_refused_quickly_without_allocating_it() {
    let gz = zero_files_tar_gz(&[(b"huge/data.json", 1025)]);
    assert!(gz.len() < 2 << 20, "archive is {} bytes", gz.len());
    let case = Case::tar_gz(&gz);
    let out = case.out("out.tar.gz");
    let start = Instant::now();
    let r = if cfg!(unix) && Path::new("/bin/sh").exists() {
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(r#"ulimit -v 786432 && exec "$0" "$@""#)
            .arg(bin())
            .args([
                os("optimize"),
                case.input.as_os_str(),
                os("-o"),
                out.as_os_str(),
            ])
            .env("RAYON_NUM_THREADS", "2");
        run_command(cmd)
    } else {
        run([
            os("optimize"),
            case.input.as_os_str(),
            os("-o"),
            out.as_os_str(),
        ])
    };
    let took = start.elapsed();
    r.assert_no_panic();
    assert_eq!(r.code, exit::LIMIT, "{}", r.stderr);
    assert!(r.stderr.contains("huge/data.json"), "{}", r.stderr);
    assert!(r.stderr.contains(&(1u64 << 30).to_string()), "{}", r.stderr);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(listing(case.dir.path()), vec!["in.tar.gz"]);
}

#[test]
fn ten_thousand_deep_json_is_a_limit_error() {
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let case = Case::tar_gz(&TarBuilder::new().file("deep/data.json", deep).tar_gz());
    case.refused(&[], exit::LIMIT, &["deep/data.json", "nesting"]);
}

#[test]
fn ten_thousand_deep_json_at_the_root_is_a_limit_error() {
    // An array at the root would also be refused as "not an object": the
    // depth limit must be reported first, before anything recursive looks at it.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let case = Case::tar_gz(&TarBuilder::new().file("data.json", deep).tar_gz());
    case.refused(&[], exit::LIMIT, &["data.json", "nesting"]);
}

#[test]
fn deep_manifest_is_refused_without_a_crash() {
    let deep = format!(
        "{{\"metadata\":{}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let case = Case::tar_gz(&TarBuilder::new().file(".manifest", deep).tar_gz());
    let r = case.refused(&[], exit::INVALID_MANIFEST, &[".manifest"]);
    assert!(r.stderr.contains("nesting"), "{}", r.stderr);
}

#[test]
fn max_depth_flag_is_enforced() {
    let doc = format!("{{\"a\":{}1{}}}", "[".repeat(20), "]".repeat(20));
    let case = Case::tar_gz(&TarBuilder::new().file("data.json", doc).tar_gz());
    case.refused(
        &["--max-depth", "10"],
        exit::LIMIT,
        &["data.json", "nesting"],
    );
}

#[test]
fn max_depth_flag_applies_to_the_manifest() {
    // docs/cli.md: --max-depth bounds "a data file or the manifest".
    let doc = format!(
        "{{\"metadata\":{{\"a\":{}1{}}}}}",
        "[".repeat(20),
        "]".repeat(20)
    );
    let case = Case::tar_gz(&TarBuilder::new().file(".manifest", &doc).tar_gz());
    let r = case.refused(
        &["--max-depth", "10"],
        exit::INVALID_MANIFEST,
        &[".manifest"],
    );
    assert!(r.stderr.contains("nesting"), "{}", r.stderr);
    // ... and that document is fine under the default limit.
    run([os("inspect"), case.input.as_os_str()]).success();
}

#[test]
fn nesting_within_the_default_limit_is_accepted() {
    // 500 levels is within the default --max-depth (1000): no other,
    // smaller, hidden limit may refuse it.
    let doc = format!("{{\"a\":{}1{}}}", "[".repeat(500), "]".repeat(500));
    let case = Case::tar_gz(&TarBuilder::new().file("data.json", &doc).tar_gz());
    assert_eq!(case.optimized().get("data.json").unwrap(), doc.as_bytes());
}

#[test]
fn manifest_nesting_within_the_default_limit_is_accepted() {
    // docs/cli.md: --max-depth (default 1000) bounds the manifest too; no
    // smaller hidden limit (serde_json's 128) may refuse 200 levels.
    let doc = format!(
        "{{\"metadata\":{{\"a\":{}1{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let case = Case::tar_gz(&TarBuilder::new().file(".manifest", &doc).tar_gz());
    let r = run([os("inspect"), case.input.as_os_str()]);
    r.success();
}

#[test]
fn yaml_nesting_is_bounded_at_128_levels() {
    // The YAML parser's own bound is 128 levels: 100 levels are read, 200
    // levels are a documented limit error (docs/cli.md), never a crash.
    let ok = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
    let case = Case::tar_gz(&TarBuilder::new().file("data.yaml", &ok).tar_gz());
    run([os("inspect"), case.input.as_os_str()]).success();
    let deep = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
    let case = Case::tar_gz(&TarBuilder::new().file("data.yaml", &deep).tar_gz());
    case.refused(&[], exit::LIMIT, &["data.yaml", "128 levels"]);
}

#[test]
fn deep_yaml_is_refused_without_a_crash() {
    let deep = format!("a: {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let case = Case::tar_gz(&TarBuilder::new().file("data.yaml", deep).tar_gz());
    let r = case.refused(&[], exit::LIMIT, &["data.yaml"]);
    assert!(r.stderr.contains("yaml"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// Content: modules, data, manifest
// ---------------------------------------------------------------------------

#[test]
fn invalid_utf8_in_a_module_is_refused() {
    let case = Case::tar_gz(
        &small_bundle()
            .file("a/bad.rego", b"package a\n# caf\xe9\n")
            .tar_gz(),
    );
    case.refused(
        &[],
        exit::INVALID_MODULE,
        &["a/bad.rego", "UTF-8", "offset 15"],
    );
}

#[test]
fn conflicting_data_files_are_refused() {
    let tar = TarBuilder::new()
        .file("data.json", br#"{"a":{"b":1}}"#)
        .file("a/b/data.json", br#"{"c":2}"#);
    let case = Case::tar_gz(&tar.tar_gz());
    let r = case.refused(
        &[],
        exit::DATA_CONFLICT,
        &["a/b/data.json", "data.a.b", "also defined by"],
    );
    // Both files are named.
    let without_nested = r.stderr.replace("a/b/data.json", "");
    assert!(without_nested.contains(": data.json"), "{}", r.stderr);
}

#[test]
fn conflicting_json_and_yaml_data_are_refused() {
    let tar = TarBuilder::new()
        .file("x/data.json", br#"{"k":1}"#)
        .file("x/data.yaml", b"k: 2\n");
    let case = Case::tar_gz(&tar.tar_gz());
    case.refused(&[], exit::DATA_CONFLICT, &["data.x.k"]);
}

#[test]
fn data_outside_the_roots_is_refused() {
    let tar = TarBuilder::new()
        .file(".manifest", br#"{"roots":["a"]}"#)
        .file("a/data.json", br#"{"ok":true}"#)
        .file("b/data.json", br#"{"no":true}"#);
    let case = Case::tar_gz(&tar.tar_gz());
    case.refused(&[], exit::OUTSIDE_ROOTS, &["b/data.json", "[a]", "'/b'"]);
}

#[test]
fn root_data_key_outside_the_roots_is_refused() {
    let tar = TarBuilder::new()
        .file(".manifest", br#"{"roots":["a"]}"#)
        .file("data.json", br#"{"a":{"ok":1},"c":{"no":1}}"#);
    let case = Case::tar_gz(&tar.tar_gz());
    case.refused(&[], exit::OUTSIDE_ROOTS, &["data.json", "'/c'"]);
}

#[test]
fn package_outside_the_roots_is_refused() {
    let tar = TarBuilder::new()
        .file(".manifest", br#"{"roots":["a"]}"#)
        .file("a/ok.rego", b"package a\n")
        .file("z/other.rego", b"# header\npackage b.c\n");
    let case = Case::tar_gz(&tar.tar_gz());
    case.refused(&[], exit::OUTSIDE_ROOTS, &["z/other.rego", "[a]", "'b.c'"]);
}

#[test]
fn overlapping_roots_are_refused() {
    let tar = TarBuilder::new()
        .file(".manifest", br#"{"roots":["a","a/b"]}"#)
        .file("a/data.json", b"{}");
    let case = Case::tar_gz(&tar.tar_gz());
    case.refused(
        &[],
        exit::INVALID_MANIFEST,
        &[".manifest", "overlapped roots", "'a'", "'a/b'"],
    );
}

#[test]
fn manifest_that_is_not_json_is_refused() {
    let case = Case::tar_gz(
        &TarBuilder::new()
            .file(".manifest", b"roots: [a]\n")
            .tar_gz(),
    );
    case.refused(
        &[],
        exit::INVALID_MANIFEST,
        &[".manifest", "invalid manifest"],
    );
}

#[test]
fn manifest_revision_number_is_refused() {
    let case = Case::tar_gz(
        &TarBuilder::new()
            .file(".manifest", br#"{"revision":7}"#)
            .tar_gz(),
    );
    case.refused(
        &[],
        exit::INVALID_MANIFEST,
        &[".manifest", "revision", "number"],
    );
}

#[test]
fn manifest_roots_string_is_refused() {
    let case = Case::tar_gz(
        &TarBuilder::new()
            .file(".manifest", br#"{"roots":"a"}"#)
            .tar_gz(),
    );
    case.refused(
        &[],
        exit::INVALID_MANIFEST,
        &[".manifest", "roots", "string"],
    );
}

#[test]
fn second_manifest_is_refused() {
    let tar = TarBuilder::new()
        .file(".manifest", b"{}")
        .file("sub/.manifest", b"{}");
    let case = Case::tar_gz(&tar.tar_gz());
    case.refused(
        &[],
        exit::INVALID_MANIFEST,
        &["sub/.manifest", "second manifest"],
    );
}

#[test]
fn root_data_array_is_refused() {
    let case = Case::tar_gz(&TarBuilder::new().file("/data.json", b"[1,2]").tar_gz());
    case.refused(
        &[],
        exit::INVALID_DATA,
        &["data.json", "must be an object", "array"],
    );
}

#[test]
fn invalid_json_reports_line_and_column() {
    let doc = b"{\n  \"a\": 1,\n  \"b\": tru\n}\n";
    let case = Case::tar_gz(&TarBuilder::new().file("x/data.json", doc).tar_gz());
    case.refused(
        &[],
        exit::INVALID_DATA,
        &["x/data.json", "line 3", "column"],
    );
}

#[test]
fn trailing_garbage_after_json_is_refused() {
    let case = Case::tar_gz(
        &TarBuilder::new()
            .file("x/data.json", b"{\"a\":1} {\"b\":2}")
            .tar_gz(),
    );
    case.refused(&[], exit::INVALID_DATA, &["x/data.json"]);
}

#[test]
fn invalid_yaml_is_refused() {
    let case = Case::tar_gz(
        &TarBuilder::new()
            .file("x/data.yaml", b"a: [1, 2\nb: }\n")
            .tar_gz(),
    );
    case.refused(&[], exit::INVALID_DATA, &["x/data.yaml", "invalid yaml"]);
}

// ---------------------------------------------------------------------------
// Directory bundles
// ---------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn symlink_in_a_directory_bundle_is_unsafe() {
    let case = Case::directory(&[("a/data.json", br#"{"x":1}"#)]);
    std::os::unix::fs::symlink("/etc/passwd", case.input.join("a/secret.txt")).unwrap();
    case.refused(&[], exit::UNSAFE_ENTRY, &["a/secret.txt", "symbolic link"]);
}

#[cfg(unix)]
#[test]
fn symlinked_directory_in_a_directory_bundle_is_unsafe() {
    let case = Case::directory(&[("a/data.json", br#"{"x":1}"#)]);
    std::os::unix::fs::symlink("/etc", case.input.join("etc")).unwrap();
    case.refused(&[], exit::UNSAFE_ENTRY, &["etc", "symbolic link"]);
}

#[cfg(unix)]
#[test]
fn fifo_in_a_directory_bundle_is_unsafe() {
    let case = Case::directory(&[("a/data.json", br#"{"x":1}"#)]);
    let fifo = case.input.join("a/pipe");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: mkfifo not available");
            return;
        }
    }
    case.refused(&[], exit::UNSAFE_ENTRY, &["a/pipe"]);
}

#[test]
fn invalid_json_in_a_directory_bundle_is_refused() {
    let case = Case::directory(&[("a/data.json", b"{\n\"x\": [1,,2]\n}")]);
    case.refused(
        &[],
        exit::INVALID_DATA,
        &["a/data.json", "line 2", "column"],
    );
}

#[test]
fn invalid_utf8_module_in_a_directory_bundle_is_refused() {
    let case = Case::directory(&[("p.rego", b"package p\n\xc3\x28\n")]);
    case.refused(&[], exit::INVALID_MODULE, &["p.rego", "UTF-8"]);
}

#[test]
fn conflicting_data_in_a_directory_bundle_is_refused() {
    let case = Case::directory(&[("data.json", br#"{"a":{"b":1}}"#), ("a/b/data.json", b"{}")]);
    case.refused(&[], exit::DATA_CONFLICT, &["a/b/data.json", "data.a.b"]);
}

#[test]
fn invalid_manifest_in_a_directory_bundle_is_refused() {
    let case = Case::directory(&[(".manifest", br#"{"roots":"a"}"#)]);
    case.refused(&[], exit::INVALID_MANIFEST, &[".manifest", "roots"]);
}

#[test]
fn oversized_file_in_a_directory_bundle_is_refused() {
    let case = Case::directory(&[("a/big.bin", &[7u8; 4096])]);
    case.refused(
        &["--size-limit", "1000"],
        exit::LIMIT,
        &["a/big.bin", "4096", "1000"],
    );
}

#[test]
fn too_many_files_in_a_directory_bundle_are_refused() {
    let names: Vec<String> = (0..30).map(|i| format!("f/{i}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let case = Case::directory(&files);
    case.refused(
        &["--max-entries", "10"],
        exit::LIMIT,
        &["more than 10 entries"],
    );
}

#[test]
fn deep_json_in_a_directory_bundle_is_a_limit_error() {
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let case = Case::directory(&[("d/data.json", deep.as_bytes())]);
    case.refused(&[], exit::LIMIT, &["d/data.json", "nesting"]);
}

// ---------------------------------------------------------------------------
// Atomic output
// ---------------------------------------------------------------------------

fn tmp_leftovers(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(".regopt-"))
        .collect()
}

#[test]
fn failed_optimize_leaves_an_existing_output_file_untouched() {
    let case = Case::tar_gz(&small_bundle().file("../evil", b"x").tar_gz());
    let out = case.out("out.tar.gz");
    let before = b"previous output, must survive".to_vec();
    std::fs::write(&out, &before).unwrap();
    let r = run([
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::UNSAFE_ENTRY, "{}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert!(tmp_leftovers(case.dir.path()).is_empty());
    assert_eq!(listing(case.dir.path()), vec!["in.tar.gz", "out.tar.gz"]);
}

#[test]
fn failed_optimize_leaves_an_existing_output_directory_untouched() {
    let case = Case::tar_gz(&TarBuilder::new().file("data.json", b"{").tar_gz());
    let out = case.out("out");
    write_tree(
        &out,
        &[("keep/me.txt", b"old"), ("data.json", b"{\"old\":true}")],
    );
    let before = tree(&out);
    let r = run([
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::INVALID_DATA, "{}", r.stderr);
    assert_eq!(tree(&out), before);
    assert!(tmp_leftovers(case.dir.path()).is_empty());
    assert_eq!(listing(case.dir.path()), vec!["in.tar.gz", "out"]);
}

#[test]
fn output_that_is_the_input_is_refused() {
    let gz = small_bundle().tar_gz();
    let case = Case::tar_gz(&gz);
    let r = run([
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        case.input.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::OUTPUT, "{}", r.stderr);
    assert!(r.stderr.contains("in.tar.gz"), "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l.starts_with("hint: ")),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&case.input).unwrap(), gz);
    assert_eq!(listing(case.dir.path()), vec!["in.tar.gz"]);
}

#[test]
fn archive_output_onto_an_existing_directory_is_refused() {
    let case = Case::tar_gz(&small_bundle().tar_gz());
    let out = case.out("out.tar.gz");
    write_tree(&out, &[("precious.txt", b"keep")]);
    let r = run([
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::OUTPUT, "{}", r.stderr);
    assert!(r.stderr.contains("out.tar.gz"), "{}", r.stderr);
    assert_eq!(
        tree(&out),
        vec![("precious.txt".to_string(), b"keep".to_vec())]
    );
    assert!(tmp_leftovers(case.dir.path()).is_empty());
}

#[test]
fn directory_output_onto_an_existing_file_is_refused() {
    let case = Case::tar_gz(&small_bundle().tar_gz());
    let out = case.out("outdir");
    std::fs::write(&out, b"a file").unwrap();
    let r = run([
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::OUTPUT, "{}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), b"a file");
    assert!(tmp_leftovers(case.dir.path()).is_empty());
}

#[test]
fn output_in_a_missing_directory_is_an_io_error() {
    let case = Case::tar_gz(&small_bundle().tar_gz());
    let out = case.out("no/such/dir/out.tar.gz");
    let r = run([
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::IO, "{}", r.stderr);
    assert!(r.stderr.contains("no/such/dir"), "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l.starts_with("hint: ")),
        "{}",
        r.stderr
    );
    assert_eq!(listing(case.dir.path()), vec!["in.tar.gz"]);
}

/// Run `regopt ARGS` with a small file-size limit (and SIGXFSZ ignored), so
/// that writing the output fails half way with EFBIG. `None` without `/bin/sh`.
fn run_with_small_file_limit(args: &[&OsStr]) -> Option<Run> {
    if !cfg!(unix) || !Path::new("/bin/sh").exists() {
        eprintln!("skipped: no /bin/sh to set a file-size limit");
        return None;
    }
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(r#"trap "" XFSZ && ulimit -f 16 && exec "$0" "$@""#)
        .arg(bin())
        .args(args);
    Some(run_command(cmd))
}

fn large_output_bundle() -> Vec<u8> {
    small_bundle()
        .file("a/blob.txt", noise(256 * 1024))
        .tar_gz()
}

#[test]
fn write_failure_half_way_leaves_an_existing_output_file_untouched() {
    let case = Case::tar_gz(&large_output_bundle());
    let out = case.out("out.tar.gz");
    std::fs::write(&out, b"old").unwrap();
    let Some(r) = run_with_small_file_limit(&[
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ]) else {
        return;
    };
    r.assert_no_panic();
    assert_eq!(r.code, exit::IO, "{}", r.stderr);
    assert!(r.stderr.contains("out.tar.gz"), "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l.starts_with("hint: ")),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    assert!(
        tmp_leftovers(case.dir.path()).is_empty(),
        "{:?}",
        listing(case.dir.path())
    );
    assert_eq!(listing(case.dir.path()), vec!["in.tar.gz", "out.tar.gz"]);
}

#[test]
fn write_failure_half_way_leaves_an_existing_output_directory_untouched() {
    let case = Case::tar_gz(&large_output_bundle());
    let out = case.out("out");
    write_tree(&out, &[("keep/me.txt", b"old")]);
    let before = tree(&out);
    let Some(r) = run_with_small_file_limit(&[
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ]) else {
        return;
    };
    r.assert_no_panic();
    assert_eq!(r.code, exit::IO, "{}", r.stderr);
    // The message names the file at the target, not in the temporary tree
    // that no longer exists.
    let shown = out.join("a/blob.txt");
    assert!(
        r.stderr.contains(&shown.display().to_string()),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(".regopt-"), "{}", r.stderr);
    assert_eq!(tree(&out), before);
    assert!(
        tmp_leftovers(case.dir.path()).is_empty(),
        "{:?}",
        listing(case.dir.path())
    );
    assert_eq!(listing(case.dir.path()), vec!["in.tar.gz", "out"]);
}

#[test]
fn output_directory_containing_the_input_archive_is_refused() {
    // `-o DIR` replaces DIR as a whole; when DIR holds the input bundle that
    // would delete the input. docs/cli.md: exit 12 for "the input itself".
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let gz = small_bundle().tar_gz();
    let input = work.join("in.tar.gz");
    std::fs::write(&input, &gz).unwrap();
    std::fs::write(work.join("notes.txt"), b"mine").unwrap();
    let r = run([
        os("optimize"),
        input.as_os_str(),
        os("-o"),
        work.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(
        std::fs::read(&input).ok().as_deref(),
        Some(gz.as_slice()),
        "the input bundle was deleted or changed (exit {}):\n{}",
        r.code,
        r.stderr
    );
    assert_eq!(r.code, exit::OUTPUT, "{}", r.stderr);
    assert_eq!(listing(&work), vec!["in.tar.gz", "notes.txt"]);
}

#[test]
fn output_directory_containing_the_input_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let input = work.join("bundle");
    write_tree(&input, &[("a/data.json", br#"{"x": 1}"#)]);
    let r = run([
        os("optimize"),
        input.as_os_str(),
        os("-o"),
        work.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(
        tree(&work),
        vec![("bundle/a/data.json".to_string(), br#"{"x": 1}"#.to_vec())],
        "the input bundle was deleted or changed (exit {}):\n{}",
        r.code,
        r.stderr
    );
    assert_eq!(r.code, exit::OUTPUT, "{}", r.stderr);
}

#[test]
fn file_and_directory_with_one_name_fail_cleanly_as_directory_output() {
    // An archive may hold both `a` and `a/data.json` (OPA reads it into
    // memory, so it is a valid bundle and archive output works), but no
    // directory tree can: directory output must fail without leaving anything.
    let case = Case::tar_gz(
        &TarBuilder::new()
            .file("a", b"file a")
            .file("a/data.json", br#"{"x":1}"#)
            .tar_gz(),
    );
    let out = case.out("out");
    let r = run([
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ]);
    r.assert_no_panic();
    assert_eq!(r.code, exit::IO, "{}", r.stderr);
    assert!(
        r.stderr.contains(&out.join("a").display().to_string()),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.lines().any(|l| l.starts_with("hint: ")),
        "{}",
        r.stderr
    );
    assert_eq!(listing(case.dir.path()), vec!["in.tar.gz"]);
    let tgz = case.out("out.tar.gz");
    run([
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        tgz.as_os_str(),
        os("-q"),
    ])
    .success();
    assert_eq!(read_tar_gz(&tgz).names(), vec!["a", "a/data.json"]);
}

// Data files of 1 MiB and more are stripped of whitespace while they are
// read (src/data/strip.rs); an error in one must still name its line and
// column in the file as written, and stripping must not make invalid JSON
// valid.

/// A pretty-printed object of `n` members over 1 MiB, one member per line
/// (line k + 1 holds member k), with `bad` spliced in place of member `at`.
fn big_pretty(n: usize, at: usize, bad: &str) -> String {
    let mut s = String::from("{\n");
    for k in 0..n {
        let sep = if k + 1 < n { "," } else { "" };
        if k == at {
            s.push_str(bad);
            s.push_str(sep);
        } else {
            s.push_str(&format!(
                "    \"key {k:06}\": {{ \"v\": [1, 2.50, \"a \\\" b\"] }}{sep}"
            ));
        }
        s.push('\n');
    }
    s.push_str("}\n");
    assert!(s.len() > 1 << 20, "must be large enough to be stripped");
    s
}

/// Where the unstripped reader (`json::compact` on the whole text) puts the
/// error: "line L column C".
fn exact_position(doc: &str) -> String {
    let e = regopt::data::json::compact(
        doc.as_bytes(),
        &regopt::data::json::Limits::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    format!("line {} column {}", e.line, e.column)
}

#[test]
fn syntax_error_in_a_large_pretty_file_names_its_exact_line_and_column() {
    // Member 30000 is on line 30002, with a stray `]` at column 36.
    let doc = big_pretty(40_000, 30_000, "    \"key 030000\": { \"v\": [1, 2, 3] ]");
    assert_eq!(exact_position(&doc), "line 30002 column 36");
    let at = "line 30002 column 36";
    let tgz = Case::tar_gz(&TarBuilder::new().file("big/data.json", &doc).tar_gz());
    let r = tgz.refused(&[], exit::INVALID_DATA, &["big/data.json", at, "']'"]);
    let dir = Case::directory(&[("big/data.json", doc.as_bytes())]);
    let d = dir.refused(&[], exit::INVALID_DATA, &["big/data.json", at]);
    // The same message (after the bundle path) either way.
    let tail = |s: &str| s.split_once("big/data.json").map(|(_, t)| t.to_string());
    assert_eq!(tail(&r.stderr), tail(&d.stderr));
}

#[test]
fn whitespace_between_two_tokens_in_a_large_file_stays_an_error() {
    // `[1 2]` must not become `[12]`, nor `tr ue` `true`, when whitespace is
    // dropped.
    for (at, bad, line) in [
        (12_345, "    \"key 012345\": [1 2]", "line 12347 "),
        (7, "    \"key 000007\": tr ue", "line 9 "),
        (8, "    \"key 000008\": [1, 2.5 e3]", "line 10 "),
    ] {
        let doc = big_pretty(40_000, at, bad);
        let exact = exact_position(&doc);
        assert!(exact.starts_with(line), "{exact}");
        let case = Case::tar_gz(&TarBuilder::new().file("big/data.json", &doc).tar_gz());
        case.refused(&[], exit::INVALID_DATA, &["big/data.json", &exact]);
    }
}

#[test]
fn deep_nesting_in_a_large_file_is_a_limit_error() {
    let deep = format!(
        "\"key 000009\": {}1{}",
        "[ ".repeat(2_000),
        " ]".repeat(2_000)
    );
    let doc = big_pretty(40_000, 9, &deep);
    let exact = exact_position(&doc);
    assert!(exact.starts_with("line 11 "), "{exact}");
    let case = Case::tar_gz(&TarBuilder::new().file("big/data.json", &doc).tar_gz());
    case.refused(&[], exit::LIMIT, &["big/data.json", "nesting", &exact]);
}

#[test]
fn large_pretty_file_is_written_compact_with_strings_intact() {
    let doc = big_pretty(
        40_000,
        3,
        "    \"key 000003\": \"  spaces\\t \\\\\\\" in  a string  \"",
    );
    let case = Case::tar_gz(&TarBuilder::new().file("big/data.json", &doc).tar_gz());
    let got = case.optimized().get("big/data.json").unwrap().to_vec();
    let want: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let back: serde_json::Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(back, want);
    let text = String::from_utf8(got).unwrap();
    assert!(
        text.contains(r#""key 000003":"  spaces\t \\\" in  a string  ""#),
        "string changed"
    );
    assert!(
        text.contains(r#""key 000004":{"v":[1,2.50,"a \" b"]}"#),
        "not compact"
    );
    assert!(!text.contains('\n'));
}

// ---------------------------------------------------------------------------------------------
// Huge number literals (regorus reads every literal as an exact big number)
// ---------------------------------------------------------------------------------------------

/// Run `regopt args`, failing the test if it has not ended within `limit` (the child is killed).
fn run_within(args: &[&OsStr], limit: Duration) -> Run {
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run regopt");
    let t0 = Instant::now();
    while child.try_wait().expect("wait for regopt").is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("regopt {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run::from_output(child.wait_with_output().expect("collect regopt output"))
}

/// `regopt optimize` of `case` into `out.tar.gz` with `extra` arguments, within 60 s; it must
/// succeed without a panic.
fn optimize_within(case: &Case, extra: &[&str]) -> (Run, PathBuf) {
    let out = case.out("out.tar.gz");
    let mut args = vec![
        os("optimize"),
        case.input.as_os_str(),
        os("-o"),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| os(a)));
    let r = run_within(&args, Duration::from_secs(60));
    r.assert_no_panic();
    assert_eq!(r.code, 0, "{}", r.stderr);
    (r, out)
}

/// A fuzz finding (rego_passes, a 40-minute local run): `4E444444444` in a module made the
/// regorus lexer compute 10^444444444 exactly, for ever. Such a module is now carried through
/// unchanged with a note, and data or inputs with such a number are "not evaluable" for
/// `--verify` (they reach regorus there) instead of hanging it. OPA itself reads them fine, so
/// none of this is an error.
#[test]
fn huge_number_literals_are_bounded() {
    let policy = b"package p\n\nallow if data.rules[input.k] == 1\n";
    for (module, data, note) in [
        (
            &b"package q\n\nx := 4E444444444\n"[..],
            &br#"{"rules": {"a": 1}}"#[..],
            "number 4E444444444 has more than 1000 digits or an exponent above 1000",
        ),
        (
            &b"package q\n\nx := 1e-99999999999\n"[..],
            &br#"{"rules": {"a": 1}}"#[..],
            "number 1e-99999999999 has more",
        ),
        (
            format!("package q\n\nx := {}\n", "7".repeat(1_001)).as_bytes(),
            &br#"{"rules": {"a": 1}}"#[..],
            "number 777777777777777777777777… has more",
        ),
        (
            &b"package q\n\nx := 1\n"[..],
            &br#"{"rules": {"a": 1, "b": 4E444444444}}"#[..],
            "regorus cannot load its data: number 4E444444444",
        ),
    ] {
        let case = Case::directory(&[("p.rego", policy), ("q.rego", module), ("data.json", data)]);
        let (r, out) = optimize_within(&case, &["--verify"]);
        assert!(
            r.stderr.contains(note),
            "expected {note:?} in:\n{}",
            r.stderr
        );
        let got = read_tar_gz(&out);
        assert_eq!(
            got.get("q.rego").unwrap(),
            module,
            "q.rego must be unchanged"
        );
    }
    // Closed world: precompute hands the data to regorus, and declines instead.
    let case = Case::directory(&[
        (
            "p.rego",
            b"package p\n\nadmins := {n | some n, u in data.users; u.admin}\nallow if admins[input.u]\n",
        ),
        ("data.json", br#"{"a": 4E444444444, "users": {"x": {"admin": true}}}"#),
    ]);
    let (r, _) = optimize_within(&case, &["-e", "p/allow", "--explain"]);
    assert!(
        r.stderr.contains("declined [precompute] p.rego:3:1: regorus cannot load the bundle: data: number 4E444444444"),
        "{}",
        r.stderr
    );
    // Numbers within the limits, and look-alikes in strings, comments and names, are analysed.
    let module = format!(
        "package q\n\n# 4E444444444\nx := [1e1000, 1E-1000, {}, \"9e99999\", `1e99999`]\nv1e99999 := 1\n",
        "7".repeat(1_000)
    );
    let case = Case::directory(&[("q.rego", module.as_bytes()), ("data.json", b"{}")]);
    let (r, _) = optimize_within(&case, &[]);
    assert!(
        !r.stderr.contains("carried through unchanged"),
        "{}",
        r.stderr
    );
}
