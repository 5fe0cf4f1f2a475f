//! The signature verifier and the hashing it relies on, on hostile input.
//!
//! The first input byte selects the mode (its value modulo 3):
//! - 0: the rest (after a key-choice byte) is a `.signatures.json`, put into a small bundle and
//!   verified as `regopt optimize --verification-key` does, with an HMAC secret or one of the
//!   test public keys (RSA, P-256, P-521); also what `optimize` does with a signature it does
//!   not verify (`capture_signed_input`, `check_kept`). Errors only, never a panic;
//! - 1: the rest is a structured document (`data.json`, `data.yaml`, `.manifest`): the
//!   canonical form OPA's hasher sees (Go-YAML decoder, JSON canonical form) and the digests.
//!   When the canonical form exists it is valid compact JSON and its own canonical form;
//! - 2: the rest is an `arbitrary` list of files: a bundle read from them, signed (HS256) as
//!   `optimize --signing-key` signs, written, read back, must verify with the same secret.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use regopt::bundle::read::{from_entries, read_tar_gz};
use regopt::bundle::write::{output_entries, write_tar_gz, OutputFormat};
use regopt::bundle::WriteOptions;
use regopt::data::json::{self, compact, Limits};
use regopt::sign::hash::{self, HashAlg};
use regopt::sign::jwt::SigAlg;
use regopt::sign::{
    capture_signed_input, check_kept, parse_signatures_file, parse_token, sign_entries,
    verify_bundle, SignOptions, SIGNATURES_NAME,
};
use regopt_fuzz::read_options;

/// An HMAC secret given as text (no file of that name exists where the fuzzer runs).
const SECRET: &str = "regopt-fuzz-hmac-secret";
const KEYS: [&str; 4] = [
    SECRET,
    include_str!("../../testdata/keys/rsa.pub.pem"),
    include_str!("../../testdata/keys/ec256.pub.pem"),
    include_str!("../../testdata/keys/ec521.pub.pem"),
];

fn verify_mode(rest: &[u8]) {
    let Some((&k, sig)) = rest.split_first() else {
        return;
    };
    let _ = parse_signatures_file(".signatures.json", sig)
        .and_then(|t| parse_token(".signatures.json", &t));
    let files = vec![
        (
            "/data.json".to_string(),
            br#"{"rules": {"k": "v", "1": 1}}"#.to_vec(),
        ),
        (
            "/p.rego".to_string(),
            b"package p\n\nr := data.rules[input.key]\n".to_vec(),
        ),
        ("/.signatures.json".to_string(), sig.to_vec()),
    ];
    let Ok(bundle) = from_entries(files, &read_options()) else {
        return;
    };
    let opts = SignOptions {
        verification_key: Some(KEYS[k as usize % KEYS.len()].to_string()),
        scope: (k & 0x10 != 0).then(|| "write".to_string()),
        exclude_files_verify: if k & 0x20 != 0 {
            vec!["*.rego".into()]
        } else {
            vec![]
        },
        ..SignOptions::default()
    };
    let _ = verify_bundle(&bundle, &opts);
    if let Ok(Some(input)) = capture_signed_input(&bundle) {
        if let Ok(entries) = output_entries(&bundle, &WriteOptions::default()) {
            let refs: Vec<(String, &[u8])> = entries
                .iter()
                .map(|(n, b)| (n.clone(), b.as_ref()))
                .collect();
            let _ = check_kept(&input, &refs, Some(OutputFormat::TarGz));
        }
    }
}

fn canonical_mode(doc: &[u8]) {
    if let Ok(canon) = hash::canonical_document(doc) {
        let mut again = Vec::new();
        compact(
            &canon,
            &Limits {
                max_depth: usize::MAX,
            },
            &mut again,
        )
        .unwrap_or_else(|e| panic!("canonical form is not valid JSON: {e}"));
        assert_eq!(again, canon, "canonical form is not compact");
        let mut canon2 = Vec::new();
        json::to_canonical(json::RawValue::new_unchecked(&canon), &mut canon2);
        assert_eq!(
            canon2, canon,
            "canonical form is not its own canonical form"
        );
    }
    let _ = regopt::sign::goyaml::to_canonical(doc);
    for name in ["data.json", "x/data.yaml", ".manifest", "p.rego"] {
        let _ = hash::file_digest(name, doc, HashAlg::Sha256);
    }
}

fn round_trip_mode(rest: &[u8]) {
    let Ok(entries) = Vec::<(String, Vec<u8>)>::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    let entries: Vec<(String, Vec<u8>)> = entries
        .into_iter()
        // Any name ending in `signatures.json` is a signatures file to OPA (suffix match).
        .filter(|(n, _)| !n.ends_with("signatures.json"))
        .take(16)
        .collect();
    let opts = read_options();
    let Ok(bundle) = from_entries(entries, &opts) else {
        return;
    };
    let Ok(out) = output_entries(&bundle, &WriteOptions::default()) else {
        return;
    };
    let refs: Vec<(String, &[u8])> = out.iter().map(|(n, b)| (n.clone(), b.as_ref())).collect();
    let sign = SignOptions {
        signing_key: Some(SECRET.to_string()),
        signing_alg: SigAlg::HS256,
        ..SignOptions::default()
    };
    // Refused when regopt cannot reproduce OPA's hash of a file exactly: then no signature.
    let Ok((sig, _)) = sign_entries(&refs, Some(OutputFormat::TarGz), &sign) else {
        return;
    };
    let mut all: Vec<(String, std::borrow::Cow<'_, [u8]>)> = out.clone();
    all.push((SIGNATURES_NAME.to_string(), std::borrow::Cow::Owned(sig)));
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let written = write_tar_gz(&all, Vec::new(), 1).expect("in-memory write");
    let back = read_tar_gz(&written[..], &opts)
        .unwrap_or_else(|e| panic!("a signed bundle does not read back: {e}"));
    let verify = SignOptions {
        verification_key: Some(SECRET.to_string()),
        ..SignOptions::default()
    };
    if let Err(e) = verify_bundle(&back, &verify) {
        panic!("a bundle regopt signed does not verify: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => verify_mode(rest),
        1 => canonical_mode(rest),
        _ => round_trip_mode(rest),
    }
});
