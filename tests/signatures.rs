//! Bundle signatures: digests exactly as OPA computes them, sign → verify
//! for every algorithm, each verification failure with its own error and
//! exit code, and `regopt optimize` on signed bundles (kept, refused,
//! re-signed, dropped). Test keys: `testdata/keys/` (made with openssl, for
//! tests only).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use regopt::bundle::{self, read::from_entries, Bundle, ReadOptions};
use regopt::error::{exit, Error};
use regopt::sign::hash::{canonical_document, file_digest, hashed_bytes, HashAlg};
use regopt::sign::{self, SigAlg, SignOptions};

fn key(name: &str) -> String {
    common::testdata()
        .join("keys")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

const HS_SECRET: &str = "correct horse battery staple";

/// The private key (or secret) that signs with `alg`, and the public key
/// (or secret) that verifies.
fn keys_for(alg: SigAlg) -> (String, String) {
    match alg {
        SigAlg::HS256 | SigAlg::HS384 | SigAlg::HS512 => (HS_SECRET.into(), HS_SECRET.into()),
        SigAlg::ES256 => (key("ec256.pem"), key("ec256.pub.pem")),
        SigAlg::ES384 => (key("ec384.pem"), key("ec384.pub.pem")),
        SigAlg::ES512 => (key("ec521.pem"), key("ec521.pub.pem")),
        _ => (key("rsa.pem"), key("rsa.pub.pem")),
    }
}

// ---------------------------------------------------------------------------
// Golden digests
// ---------------------------------------------------------------------------

/// A data.json with everything that could be encoded differently: pretty
/// printing, unsorted and nested keys, a key above ASCII, `<>&`, control
/// characters (short escapes, `\u00xx`, raw DEL), U+2028/U+2029, an escaped
/// surrogate pair, `\/`, a 29-digit integer, `1.10`, `1E2` and `-0`.
const TRICKY_JSON: &str = r#"{
  "z": {"b": 1, "a": [true, null]},
  "é": "\u003c>&",
  "ctl": "\u0001\b\f\n\r\t\u001f\u007f",
  "ls": "\u2028 ",
  "uni": "\ud83d\ude00 snow ☃",
  "esc": "\/\"\\",
  "big": 12345678901234567890123456789,
  "dec": 1.10,
  "exp": 1E2,
  "neg": -0
}"#;

/// The bytes OPA's hasher is fed for TRICKY_JSON, derived by hand from
/// `v1/bundle/hash.go` and `verify.go`:
/// - `util.Unmarshal` decodes with `UseNumber`: numbers stay `json.Number`
///   with their text (`12345678901234567890123456789`, `1.10`, `1E2`, `-0`);
///   strings are decoded (`\u003c` is `<`, `\/` is `/`, the surrogate pair
///   is U+1F600).
/// - `walk` writes an object as `{`, keys in `sort.Strings` (byte) order —
///   big, ctl, dec, esc, exp, ls, neg, uni, z, then `é` (0xC3 sorts after
///   ASCII) — each `key:value`, `,` between, `}`; arrays `[`…`]`; no space.
/// - every key and scalar goes through `json.Encoder` with
///   `SetEscapeHTML(false)`: `<>&` verbatim; `"` and `\` escaped; `\b \f \n
///   \r \t` short; other bytes below 0x20 as `\u00xx`; DEL (0x7f) raw;
///   U+2028/U+2029 as `\u2028`/`\u2029`; other non-ASCII raw UTF-8;
///   `json.Number` as its text.
const TRICKY_CANONICAL: &str = "{\"big\":12345678901234567890123456789,\
\"ctl\":\"\\u0001\\b\\f\\n\\r\\t\\u001f\u{7f}\",\
\"dec\":1.10,\"esc\":\"/\\\"\\\\\",\"exp\":1E2,\"ls\":\"\\u2028\\u2029\",\"neg\":-0,\
\"uni\":\"\u{1F600} snow \u{2603}\",\"z\":{\"a\":[true,null],\"b\":1},\"é\":\"<>&\"}";

/// Digests of TRICKY_CANONICAL with every algorithm OPA accepts, computed
/// with `openssl dgst` (an independent implementation) over those bytes.
const TRICKY_DIGESTS: [(HashAlg, &str); 8] = [
    (HashAlg::Md5, "1c71c3922df37ba0f16ce1b779c7a982"),
    (HashAlg::Sha1, "c992c8ba0bd6b5bf4db92933d456eceb13f1e192"),
    (
        HashAlg::Sha224,
        "135640d921ee5c81fbd340d6e87ae344f3deaaaca3727d6a197068db",
    ),
    (
        HashAlg::Sha256,
        "db752b8519c44a3bbc99a7371613cc7e4758fcb5e0f58e86b9f8644130611d48",
    ),
    (
        HashAlg::Sha384,
        "138ac87f77f63ebf0848a922c50d75633b2743f2b7b8ea604f2d6c8dcacb4eeafb08a5646c3ff0f6ece6beaa176a3fbb",
    ),
    (
        HashAlg::Sha512,
        "95f086d17387ccf402b4486dc73110255cc9a5d0041a88118792b2cb9bcbeba75e9a51f0a7e670173e632c1ac10c1c450ee730ada9a70861b5017bc03941b1a6",
    ),
    (
        HashAlg::Sha512_224,
        "5b166a9d105a0726929051f97cf2e37cecb386f8f1049543192dae45",
    ),
    (
        HashAlg::Sha512_256,
        "12af6013a48a8569485a25e4359d0ac14aad3ea0fcae1460f859c4619ebb5a57",
    ),
];

#[test]
fn golden_digests_of_tricky_json() {
    // The LS separator in the source is a literal U+2028 followed by U+2029.
    let source = TRICKY_JSON.replace("\\u2028 ", "\u{2028}\u{2029}");
    let canon = hashed_bytes("data.json", source.as_bytes()).unwrap();
    assert_eq!(String::from_utf8_lossy(&canon), TRICKY_CANONICAL);
    for (alg, want) in TRICKY_DIGESTS {
        assert_eq!(
            hex::encode(file_digest("a/data.json", source.as_bytes(), alg).unwrap()),
            want,
            "{}",
            alg.name()
        );
    }
    // The same document compact, or with its keys in another order, hashes
    // the same: the digest is over content, not layout.
    let mut compact = Vec::new();
    regopt::data::json::compact(source.as_bytes(), &Default::default(), &mut compact).unwrap();
    assert_eq!(
        file_digest("data.json", &compact, HashAlg::Sha256).unwrap(),
        file_digest("data.json", source.as_bytes(), HashAlg::Sha256).unwrap()
    );
    // Number text is part of the digest: 1.1 is not 1.10.
    assert_ne!(
        canonical_document(br#"{"n":1.1}"#).unwrap(),
        canonical_document(br#"{"n":1.10}"#).unwrap()
    );
}

#[test]
fn golden_digest_of_manifest_and_raw_files() {
    let manifest = b"{\n  \"revision\": \"r1\",\n  \"roots\": [\"rules\", \"authz\"],\n  \"metadata\": {\"b\": 1, \"a\": \"x\"}\n}\n";
    // Keys sorted at every level; arrays keep their order.
    let canon = br#"{"metadata":{"a":"x","b":1},"revision":"r1","roots":["rules","authz"]}"#;
    assert_eq!(hashed_bytes(".manifest", manifest).unwrap().as_ref(), canon);
    assert_eq!(
        file_digest(".manifest", manifest, HashAlg::Sha256).unwrap(),
        HashAlg::Sha256.digest(canon)
    );
    // Modules, data.yml (not structured in OPA) and unknown files: raw bytes.
    for name in ["p/p.rego", "x/data.yml", "README.md", "x.manifest"] {
        assert_eq!(
            file_digest(name, manifest, HashAlg::Sha256).unwrap(),
            HashAlg::Sha256.digest(manifest),
            "{name}"
        );
    }
}

/// A data.yaml whose scalars resolve differently under YAML 1.1 (go-yaml v2,
/// which OPA uses through sigs.k8s.io/yaml) than under YAML 1.2.
const TRICKY_YAML: &str = "# comment\n\
z:\n  b: 1\n  a: [yes, ~, 017, 0x1F, 1_000, 1.10, .5, 1e3]\n\
big: 12345678901234567890123456789\n\
\"quoted\": \"<>&\\u2028\"\n\
on: off\n\
plain: hello world\n\
date: 2024-01-02\n";

/// Derived by hand from go-yaml v2's `resolve` and sigs.k8s.io/yaml:
/// `yes` → true, `~` → null, `017` → 15 (octal), `0x1F` → 31, `1_000` →
/// 1000, `1.10` → float64 1.1 marshalled as `1.1`, `.5` → `0.5`, `1e3` →
/// `1000`, the 29-digit integer overflows int64/uint64 and becomes a
/// float64 marshalled in `e` form (≥ 1e21) as `1.2345678901234568e+28`,
/// the key `on` is the boolean true and becomes the key `"true"`, `off` is
/// false, the date stays a string; then the JSON is hashed as any
/// structured document (sorted keys, U+2028 escaped, `<>&` raw).
const TRICKY_YAML_CANONICAL: &str = "{\"big\":1.2345678901234568e+28,\"date\":\"2024-01-02\",\
\"plain\":\"hello world\",\"quoted\":\"<>&\\u2028\",\"true\":false,\
\"z\":{\"a\":[true,null,15,31,1000,1.1,0.5,1000],\"b\":1}}";

#[test]
fn golden_digest_of_tricky_yaml() {
    let canon = hashed_bytes("x/data.yaml", TRICKY_YAML.as_bytes()).unwrap();
    assert_eq!(String::from_utf8_lossy(&canon), TRICKY_YAML_CANONICAL);
    assert_eq!(
        file_digest("x/data.yaml", TRICKY_YAML.as_bytes(), HashAlg::Sha256).unwrap(),
        HashAlg::Sha256.digest(TRICKY_YAML_CANONICAL.as_bytes())
    );
    // A data.yaml that is valid JSON is read as JSON (util.Unmarshal tries
    // JSON first), so its number text is kept.
    assert_eq!(
        hashed_bytes("data.yaml", b"{\"n\": 1.10}")
            .unwrap()
            .as_ref(),
        br#"{"n":1.10}"#
    );
}

// ---------------------------------------------------------------------------
// Sign → verify
// ---------------------------------------------------------------------------

fn sample_entries() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "/.manifest".into(),
            b"{\"revision\": \"r1\", \"roots\": [\"rules\", \"authz\"]}".to_vec(),
        ),
        (
            "/data.json".into(),
            b"{\"rules\": {\"a\": {\"x\": 1.10}, \"b\": \"<&>\"}}\n".to_vec(),
        ),
        (
            "/authz/policy.rego".into(),
            b"package authz\n\nallow if data.rules[input.k]\n".to_vec(),
        ),
        ("/authz/data.yaml".into(), b"limit: 017\nok: yes\n".to_vec()),
        ("/README.md".into(), b"not bundle content\n".to_vec()),
    ]
}

fn bundle_of(entries: &[(String, Vec<u8>)]) -> Bundle {
    from_entries(entries.iter().cloned(), &ReadOptions::default()).unwrap()
}

/// Sign the files of `entries` (as a tarball names them) and return the
/// entries with `/.signatures.json` added.
fn signed(entries: &[(String, Vec<u8>)], opts: &SignOptions) -> Vec<(String, Vec<u8>)> {
    let refs: Vec<(String, &[u8])> = entries.iter().map(|(n, b)| (n.clone(), &b[..])).collect();
    let (sig, n) = sign::sign_entries(&refs, None, opts).unwrap();
    assert_eq!(n, entries.len());
    let mut out = entries.to_vec();
    out.push(("/.signatures.json".into(), sig));
    out
}

fn sign_opts(alg: SigAlg) -> SignOptions {
    SignOptions {
        signing_key: Some(keys_for(alg).0),
        signing_alg: alg,
        ..Default::default()
    }
}

fn verify_opts(alg: SigAlg) -> SignOptions {
    SignOptions {
        verification_key: Some(keys_for(alg).1),
        ..Default::default()
    }
}

#[test]
fn sign_then_verify_round_trips_for_every_algorithm() {
    let entries = sample_entries();
    for alg in SigAlg::ALL {
        let b = bundle_of(&signed(&entries, &sign_opts(alg)));
        let v = sign::verify_bundle(&b, &verify_opts(alg)).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(v.algorithm, alg);
        assert_eq!(v.files_checked, entries.len(), "{alg}");
        // The token's header names the algorithm and nothing else.
        let sig = &b
            .files
            .iter()
            .find(|f| f.path == ".signatures.json")
            .unwrap()
            .bytes;
        let token = sign::parse_signatures_file("s", sig).unwrap();
        let header = sign::jwt::b64_decode(token.split('.').next().unwrap()).unwrap();
        assert_eq!(header, format!("{{\"alg\":\"{alg}\"}}").into_bytes());
        // Another key of the same kind does not verify it.
        let wrong = match alg.family() {
            sign::jwt::KeyFamily::Hmac => "another secret".to_string(),
            sign::jwt::KeyFamily::Rsa => key("rsa2.pub.pem"),
            sign::jwt::KeyFamily::Ec => match alg {
                SigAlg::ES256 => key("ec384.pub.pem"),
                _ => key("ec256.pub.pem"),
            },
        };
        let err = sign::verify_bundle(
            &b,
            &SignOptions {
                verification_key: Some(wrong),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::SignatureInvalid { .. } | Error::SigningKey { .. }
            ),
            "{alg}: {err}"
        );
    }
}

#[test]
fn sec1_ec_and_pkcs1_rsa_private_keys_sign_too() {
    let entries = sample_entries();
    for (alg, private, public) in [
        (SigAlg::ES256, "ec256.sec1.pem", "ec256.pub.pem"),
        (SigAlg::ES384, "ec384.sec1.pem", "ec384.pub.pem"),
        (SigAlg::ES512, "ec521.sec1.pem", "ec521.pub.pem"),
        (SigAlg::RS256, "rsa.pkcs1.pem", "rsa.pub.pem"),
    ] {
        let opts = SignOptions {
            signing_key: Some(key(private)),
            signing_alg: alg,
            ..Default::default()
        };
        let b = bundle_of(&signed(&entries, &opts));
        sign::verify_bundle(
            &b,
            &SignOptions {
                verification_key: Some(key(public)),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{alg} {private}: {e}"));
    }
}

#[test]
fn key_id_scope_and_claims() {
    let entries = sample_entries();
    let claims = common::temp_dir();
    let claims_file = claims.path().join("claims.json");
    std::fs::write(
        &claims_file,
        br#"{"iss": "ci", "iat": 1700000000, "x": {"b": 1, "a": 2}}"#,
    )
    .unwrap();
    let opts = SignOptions {
        signing_key: Some(key("ec256.pem")),
        signing_alg: SigAlg::ES256,
        signing_key_id: Some("k1".into()),
        scope: Some("write".into()),
        claims_file: Some(claims_file.clone()),
        ..Default::default()
    };
    let b = bundle_of(&signed(&entries, &opts));
    let sig = &b
        .files
        .iter()
        .find(|f| f.path == ".signatures.json")
        .unwrap()
        .bytes;
    let token = sign::parse_signatures_file("s", sig).unwrap();
    let payload = sign::jwt::b64_decode(token.split('.').nth(1).unwrap()).unwrap();
    let payload = String::from_utf8(payload).unwrap();
    // Sorted keys, claims canonical, no keyid claim with a claims file (as OPA).
    assert!(
        payload.starts_with("{\"files\":[{\"name\":\".manifest\",\"hash\":"),
        "{payload}"
    );
    assert!(
        payload.ends_with(
            ",\"iat\":1700000000,\"iss\":\"ci\",\"scope\":\"write\",\"x\":{\"a\":2,\"b\":1}}"
        ),
        "{payload}"
    );
    let verify = |id: Option<&str>, scope: Option<&str>| {
        sign::verify_bundle(
            &b,
            &SignOptions {
                verification_key: Some(key("ec256.pub.pem")),
                verification_key_id: id.map(String::from),
                scope: scope.map(String::from),
                ..Default::default()
            },
        )
    };
    let v = verify(Some("k1"), Some("write")).unwrap();
    assert_eq!(v.key_id.as_deref(), Some("k1"));
    let e = verify(Some("k2"), Some("write")).unwrap_err();
    assert!(matches!(e, Error::KeyIdMismatch { .. }), "{e}");
    assert_eq!(e.exit_code(), exit::KEY_ID_MISMATCH);
    let e = verify(Some("k1"), Some("read")).unwrap_err();
    assert!(matches!(e, Error::ScopeMismatch { .. }), "{e}");
    assert_eq!(e.exit_code(), exit::SCOPE_MISMATCH);
    // No --scope: the token must carry none (OPA compares with "").
    let e = verify(Some("k1"), None).unwrap_err();
    assert!(matches!(e, Error::ScopeMismatch { .. }), "{e}");
    // A claims file may not replace the digests.
    std::fs::write(&claims_file, br#"{"files": []}"#).unwrap();
    let refs: Vec<(String, &[u8])> = entries.iter().map(|(n, b)| (n.clone(), &b[..])).collect();
    let e = sign::sign_entries(&refs, None, &opts).unwrap_err();
    assert_eq!(e.exit_code(), exit::SIGNING_KEY, "{e}");
}

// ---------------------------------------------------------------------------
// Each verification failure: its own error and exit code
// ---------------------------------------------------------------------------

fn rs256_signed() -> Vec<(String, Vec<u8>)> {
    signed(&sample_entries(), &sign_opts(SigAlg::RS256))
}

fn verify_err(entries: &[(String, Vec<u8>)], opts: &SignOptions) -> Error {
    sign::verify_bundle(&bundle_of(entries), opts).unwrap_err()
}

#[test]
fn each_failure_has_its_own_error_and_exit_code() {
    let good = rs256_signed();
    let opts = verify_opts(SigAlg::RS256);

    // Tampered file.
    let mut t = good.clone();
    t[2].1 = b"package authz\n\nallow := true\n".to_vec();
    let e = verify_err(&t, &opts);
    assert!(
        matches!(&e, Error::DigestMismatch { file, .. } if file == "authz/policy.rego"),
        "{e}"
    );
    assert_eq!(e.exit_code(), exit::DIGEST_MISMATCH);
    assert!(e.to_string().contains("the signature lists "), "{e}");

    // Tampered data: a changed value, not a reformatting.
    let mut t = good.clone();
    t[1].1 = b"{\"rules\": {\"a\": {\"x\": 1.1}, \"b\": \"<&>\"}}".to_vec();
    let e = verify_err(&t, &opts);
    assert!(
        matches!(&e, Error::DigestMismatch { file, .. } if file == "data.json"),
        "{e}"
    );

    // Extra file.
    let mut t = good.clone();
    t.push(("/extra.txt".into(), b"x".to_vec()));
    let e = verify_err(&t, &opts);
    assert!(
        matches!(&e, Error::FileNotSigned { file } if file == "extra.txt"),
        "{e}"
    );
    assert_eq!(e.exit_code(), exit::FILE_NOT_SIGNED);
    // ... unless excluded from verification.
    let excluded = SignOptions {
        exclude_files_verify: vec!["*.txt".into()],
        ..opts.clone()
    };
    let v = sign::verify_bundle(&bundle_of(&t), &excluded).unwrap();
    assert_eq!(v.files_excluded, 1);

    // Missing file.
    let mut t = good.clone();
    t.remove(4);
    let e = verify_err(&t, &opts);
    assert!(
        matches!(&e, Error::SignedFileMissing { files } if files == "README.md"),
        "{e}"
    );
    assert_eq!(e.exit_code(), exit::SIGNED_FILE_MISSING);

    // Wrong key.
    let e = verify_err(
        &good,
        &SignOptions {
            verification_key: Some(key("rsa2.pub.pem")),
            ..Default::default()
        },
    );
    assert!(matches!(e, Error::SignatureInvalid { .. }), "{e}");
    assert_eq!(e.exit_code(), exit::SIGNATURE_INVALID);

    // Wrong scope.
    let e = verify_err(
        &good,
        &SignOptions {
            scope: Some("write".into()),
            ..opts.clone()
        },
    );
    assert_eq!(e.exit_code(), exit::SCOPE_MISMATCH, "{e}");

    // Wrong key id (the token names k1).
    let with_kid = signed(
        &sample_entries(),
        &SignOptions {
            signing_key_id: Some("k1".into()),
            ..sign_opts(SigAlg::RS256)
        },
    );
    let e = verify_err(
        &with_kid,
        &SignOptions {
            verification_key_id: Some("other".into()),
            ..opts.clone()
        },
    );
    assert_eq!(e.exit_code(), exit::KEY_ID_MISMATCH, "{e}");

    // Malformed or missing signatures file.
    let mut t = good.clone();
    t.last_mut().unwrap().1 = br#"{"signatures": ["a.b", "c.d"]}"#.to_vec();
    assert_eq!(verify_err(&t, &opts).exit_code(), exit::SIGNATURE_FORMAT);
    let e = verify_err(&sample_entries(), &opts);
    assert_eq!(e.exit_code(), exit::SIGNATURE_FORMAT, "{e}");

    // An HS256 token checked against a public key: refused as a key problem
    // (a public key must never serve as an HMAC secret).
    let refs: Vec<(String, &[u8])> = vec![("/a.rego".into(), &b"package a"[..])];
    let e = sign::sign_entries(
        &refs,
        None,
        &SignOptions {
            signing_key: Some(key("rsa.pub.pem")),
            signing_alg: SigAlg::HS256,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), exit::SIGNING_KEY, "{e}");
    let hs = signed(&sample_entries(), &sign_opts(SigAlg::HS256));
    let e = verify_err(&hs, &verify_opts(SigAlg::RS256));
    assert!(matches!(e, Error::SigningKey { .. }), "{e}");
    assert_eq!(e.exit_code(), exit::SIGNING_KEY);

    // A digest algorithm OPA does not know.
    let payload = r#"{"files":[{"name":"a.rego","hash":"00","algorithm":"SHA3-256"}]}"#;
    let token = format!(
        "{}.{}",
        sign::jwt::b64_encode(br#"{"alg":"HS256"}"#),
        sign::jwt::b64_encode(payload.as_bytes())
    );
    let sig = sign::jwt::sign(SigAlg::HS256, HS_SECRET.as_bytes(), token.as_bytes()).unwrap();
    let t = vec![
        ("a.rego".to_string(), b"package a\n".to_vec()),
        (
            ".signatures.json".to_string(),
            format!("{{\"signatures\":[\"{token}.{sig}\"]}}").into_bytes(),
        ),
    ];
    let e = verify_err(&t, &verify_opts(SigAlg::HS256));
    assert!(matches!(e, Error::DigestUnsupported { .. }), "{e}");
    assert_eq!(e.exit_code(), exit::DIGEST_UNSUPPORTED);
}

#[test]
fn every_digest_algorithm_is_accepted_when_verifying() {
    // OPA signs with SHA-256, but verifies whatever algorithm a file lists.
    let entries = sample_entries();
    let files: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| {
            let alg = HashAlg::ALL[i % HashAlg::ALL.len()];
            let name = name.trim_start_matches('/');
            format!(
                "{{\"name\":\"{name}\",\"hash\":\"{}\",\"algorithm\":\"{}\"}}",
                hex::encode(file_digest(name, bytes, alg).unwrap()),
                alg.name()
            )
        })
        .collect();
    let payload = format!("{{\"files\":[{}]}}", files.join(","));
    let input = format!(
        "{}.{}",
        sign::jwt::b64_encode(br#"{"alg":"HS512"}"#),
        sign::jwt::b64_encode(payload.as_bytes())
    );
    let sig = sign::jwt::sign(SigAlg::HS512, HS_SECRET.as_bytes(), input.as_bytes()).unwrap();
    let mut t = entries.clone();
    t.push((
        "/.signatures.json".into(),
        format!("{{\"signatures\":[\"{input}.{sig}\"]}}").into_bytes(),
    ));
    sign::verify_bundle(&bundle_of(&t), &verify_opts(SigAlg::HS512)).unwrap();
}

// ---------------------------------------------------------------------------
// regopt optimize on signed bundles
// ---------------------------------------------------------------------------

fn regopt(args: &[&str]) -> Output {
    Command::new(common::regopt_bin())
        .args(args)
        .output()
        .expect("run regopt")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Write `entries` as a bundle directory.
fn write_dir(dir: &Path, entries: &[(String, Vec<u8>)]) -> PathBuf {
    for (name, bytes) in entries {
        let p = dir.join(name.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    dir.to_path_buf()
}

/// A bundle the passes leave alone (only data is compacted) and one whose
/// module the object-get pass rewrites.
fn optimizable(rewrite: bool) -> Vec<(String, Vec<u8>)> {
    let policy: &[u8] = if rewrite {
        b"package authz\n\ndecision := object.get(data.rules, input.k, \"d\")\n"
    } else {
        b"package authz\n\ndecision := data.rules[input.k]\n"
    };
    vec![
        (
            ".manifest".into(),
            b"{\n  \"revision\": \"r1\",\n  \"roots\": [\"rules\", \"authz\"]\n}\n".to_vec(),
        ),
        (
            "rules/data.json".into(),
            b"{\n    \"a\": \"allow\",\n    \"b\": {\"n\": 1.10, \"s\": \"<&>\"}\n}\n".to_vec(),
        ),
        ("authz/policy.rego".into(), policy.to_vec()),
    ]
}

fn read(path: &Path) -> Bundle {
    bundle::read_path(path, &ReadOptions::default()).unwrap()
}

#[test]
fn optimize_keeps_a_signature_that_still_holds_and_verifies_it() {
    let tmp = common::temp_dir();
    let input = write_dir(
        &tmp.path().join("in"),
        &signed(&optimizable(false), &sign_opts(SigAlg::ES256)),
    );
    let out = tmp.path().join("out.tar.gz");
    let pub_key = key("ec256.pub.pem");
    let o = regopt(&[
        "optimize",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--verification-key",
        &pub_key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("signature verified: ES256 3 file(s) match"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("signature kept: all 3 digest(s)"),
        "{}",
        stderr(&o)
    );
    let b = read(&out);
    // The data was compacted, yet the kept signature verifies.
    let data = b
        .files
        .iter()
        .find(|f| f.path == "rules/data.json")
        .unwrap();
    assert_eq!(data.bytes, br#"{"a":"allow","b":{"n":1.10,"s":"<&>"}}"#);
    sign::verify_bundle(&b, &verify_opts(SigAlg::ES256)).unwrap();
    // And regopt verifies its own output as an input, too.
    let again = tmp.path().join("again.tar.gz");
    let o = regopt(&[
        "optimize",
        out.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
        "--verification-key",
        &pub_key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn optimize_refuses_resigns_or_drops_when_a_module_is_rewritten() {
    let tmp = common::temp_dir();
    let input = write_dir(
        &tmp.path().join("in"),
        &signed(&optimizable(true), &sign_opts(SigAlg::RS256)),
    );
    let input = input.to_str().unwrap();
    let out = tmp.path().join("out.tar.gz");
    let out_s = out.to_str().unwrap();

    // Refused: the rewritten module would break the signature.
    let o = regopt(&["optimize", input, "-o", out_s]);
    assert_eq!(o.status.code(), Some(exit::SIGNED), "{}", stderr(&o));
    assert!(stderr(&o).contains("authz/policy.rego"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "hint: pass --signing-key KEY to re-sign, or --drop-signatures to write an unsigned bundle"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "nothing is written on refusal");

    // Re-signed: the new signature covers the rewritten output.
    let o = regopt(&[
        "optimize",
        input,
        "-o",
        out_s,
        "--verification-key",
        &key("rsa.pub.pem"),
        "--signing-key",
        &key("ec384.pem"),
        "--signing-alg",
        "ES384",
        "--signing-key-id",
        "k2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("signed: 3 file(s), ES384, key id 'k2'"),
        "{}",
        stderr(&o)
    );
    let b = read(&out);
    let policy = b
        .files
        .iter()
        .find(|f| f.path == "authz/policy.rego")
        .unwrap();
    assert!(
        !policy.bytes.starts_with(&optimizable(true)[2].1),
        "module was rewritten"
    );
    let v = sign::verify_bundle(
        &b,
        &SignOptions {
            verification_key: Some(key("ec384.pub.pem")),
            verification_key_id: Some("k2".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(v.files_checked, 3);

    // Re-signed into a directory: names as OPA's directory loader sees them.
    let out_dir = tmp.path().join("outdir");
    let o = regopt(&[
        "optimize",
        input,
        "-o",
        out_dir.to_str().unwrap(),
        "--signing-key",
        HS_SECRET,
        "--signing-alg",
        "HS256",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    sign::verify_bundle(&read(&out_dir), &verify_opts(SigAlg::HS256)).unwrap();

    // Dropped.
    let dropped = tmp.path().join("dropped.tar.gz");
    let o = regopt(&[
        "optimize",
        input,
        "-o",
        dropped.to_str().unwrap(),
        "--drop-signatures",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("signatures dropped"), "{}", stderr(&o));
    assert!(read(&dropped)
        .files
        .iter()
        .all(|f| f.path != ".signatures.json"));
}

#[test]
fn optimize_exit_codes_for_bad_input_signatures() {
    let tmp = common::temp_dir();
    let mut entries = signed(&optimizable(false), &sign_opts(SigAlg::PS256));
    entries[1].1 = b"{\"a\": \"deny\", \"b\": {\"n\": 1.10, \"s\": \"<&>\"}}".to_vec();
    let input = write_dir(&tmp.path().join("in"), &entries);
    let out = tmp.path().join("out.tar.gz");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "optimize",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        regopt(&args)
    };
    let pubk = key("rsa.pub.pem");
    let o = run(&["--verification-key", &pubk]);
    assert_eq!(
        o.status.code(),
        Some(exit::DIGEST_MISMATCH),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("rules/data.json: digest mismatch (SHA-256)"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--verification-key", &key("rsa2.pub.pem")]);
    assert_eq!(
        o.status.code(),
        Some(exit::SIGNATURE_INVALID),
        "{}",
        stderr(&o)
    );
    let o = run(&["--verification-key", &pubk, "--scope", "s"]);
    assert_eq!(
        o.status.code(),
        Some(exit::SCOPE_MISMATCH),
        "{}",
        stderr(&o)
    );
    // Without a verification key the tampered input is not trusted either:
    // the signature it carries does not match, so it cannot be kept.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(exit::SIGNED), "{}", stderr(&o));
    // A bad glob is a usage error.
    let o = run(&["--verification-key", &pubk, "--exclude-files-verify", "[x"]);
    assert_eq!(o.status.code(), Some(exit::USAGE), "{}", stderr(&o));
    // An unknown algorithm is a usage error too.
    let o = run(&["--signing-key", &pubk, "--signing-alg", "none"]);
    assert_eq!(o.status.code(), Some(exit::USAGE), "{}", stderr(&o));
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------
// Cross-check with the real OPA engine (v1.20.2): its io.jwt.verify_*
// built-ins (lestrrat-go/jwx, as OPA's bundle verifier) accept regopt's
// tokens, and its yaml.unmarshal (sigs.k8s.io/yaml over go-yaml v2, as
// util.Unmarshal) decodes TRICKY_YAML to the value hashed above.
// ---------------------------------------------------------------------------

#[test]
fn real_opa_accepts_regopt_tokens_and_agrees_on_yaml() {
    let Some(oracle) = common::oracle::engine() else {
        return;
    };
    let mut cases = Vec::new();
    for alg in SigAlg::ALL {
        let b = bundle_of(&signed(&sample_entries(), &sign_opts(alg)));
        let sig = &b
            .files
            .iter()
            .find(|f| f.path == ".signatures.json")
            .unwrap()
            .bytes;
        let token = sign::parse_signatures_file("s", sig).unwrap();
        let verify_key = match alg.family() {
            sign::jwt::KeyFamily::Hmac => HS_SECRET.to_string(),
            _ => std::fs::read_to_string(keys_for(alg).1).unwrap(),
        };
        // The same token with one signature character changed.
        let at = token.rfind('.').unwrap() + 1;
        let flipped = if &token[at..at + 1] == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
        let f = format!("io.jwt.verify_{}", alg.name().to_lowercase());
        cases.push(serde_json::json!({
            "name": alg.name(),
            "a": {"modules": {"t.rego": format!(
                "package t\n\nok := {f}(data.token, data.key)\nbad := {f}(data.tampered, data.key)\n"
            )}, "data": {"token": token, "tampered": tampered, "key": verify_key}},
            "b": {"modules": {"t.rego": "package t\n\nok := true\nbad := false\n"}, "data": null},
            "queries": ["data.t.ok", "data.t.bad"],
            "inputs": ["__none__"],
        }));
    }
    // yaml.unmarshal then json.marshal (sorted keys, number text kept, HTML
    // escaped by Go's json.Marshal) must give TRICKY_YAML_CANONICAL with
    // `<>&` escaped as json.Marshal does.
    let marshalled = TRICKY_YAML_CANONICAL
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    cases.push(serde_json::json!({
        "name": "yaml",
        "a": {"modules": {"t.rego": "package t\n\nv := json.marshal(yaml.unmarshal(data.y))\n"},
              "data": {"y": TRICKY_YAML}},
        "b": {"modules": {"t.rego": "package t\n\nv := data.want\n"}, "data": {"want": marshalled}},
        "queries": ["data.t.v"],
        "inputs": ["__none__"],
    }));
    let results = oracle.batch(&serde_json::json!({ "cases": cases }));
    for r in &results {
        assert!(
            r.load_error_a.is_none() && r.load_error_b.is_none() && r.evaluations > 0,
            "{}: {:?} {:?}",
            r.name,
            r.load_error_a,
            r.load_error_b
        );
        assert!(r.differences.is_empty(), "{}: {:?}", r.name, r.differences);
    }
    assert_eq!(results.len(), SigAlg::ALL.len() + 1);
}
