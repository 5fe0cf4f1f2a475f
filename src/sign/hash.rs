//! File digests exactly as OPA's `v1/bundle/hash.go` and `verify.go` compute
//! them.
//!
//! OPA's `VerifyBundleFile` hashes a file in one of two ways, chosen by
//! `IsStructuredDoc`, which looks at the base name only:
//!
//! - `data.json`, `data.yaml`, `.manifest` (and `signatures.json`, which is
//!   never hashed since signature files are not bundle content): the bytes are
//!   decoded with `util.Unmarshal` (a UTF-8 BOM stripped; JSON with
//!   `UseNumber` when `json.Valid`, otherwise YAML through sigs.k8s.io/yaml,
//!   see [`super::goyaml`]) and the decoded value is fed to the hash by
//!   `walk`: objects as `{`, the keys in `sort.Strings` order each as
//!   `encodePrimitive(key)` `:` value, separated by `,`, then `}`; arrays as
//!   `[` elements separated by `,` `]`; every other value as
//!   `encodePrimitive(v)` — Go's `json.Encoder` with `SetEscapeHTML(false)`,
//!   trailing newline trimmed. A `json.Number` encodes as its text, so number
//!   text is kept verbatim. The bytes hashed are therefore exactly the
//!   canonical form [`crate::data::json::to_canonical`] writes.
//! - every other file (modules, `data.yml` — *not* structured in OPA —,
//!   wasm, plans, unknown files): the raw bytes.

use std::borrow::Cow;

use sha2::Digest;

use crate::data::json::{self, RawValue};

/// The digest algorithms OPA's `NewSignatureHasher` accepts, by the names a
/// signature's `files[].algorithm` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// `MD5`
    Md5,
    /// `SHA-1`
    Sha1,
    /// `SHA-224`
    Sha224,
    /// `SHA-256` (what OPA and regopt use when signing)
    Sha256,
    /// `SHA-384`
    Sha384,
    /// `SHA-512`
    Sha512,
    /// `SHA-512-224`
    Sha512_224,
    /// `SHA-512-256`
    Sha512_256,
}

impl HashAlg {
    /// Every algorithm, in OPA's order.
    pub const ALL: [HashAlg; 8] = [
        HashAlg::Md5,
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sha512_224,
        HashAlg::Sha512_256,
    ];

    /// The algorithm a signature names (exact, case-sensitive, as OPA).
    pub fn from_name(name: &str) -> Option<HashAlg> {
        HashAlg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The name OPA writes into signatures.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Md5 => "MD5",
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha224 => "SHA-224",
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
            HashAlg::Sha512_224 => "SHA-512-224",
            HashAlg::Sha512_256 => "SHA-512-256",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Md5 => md5::Md5::digest(data).to_vec(),
            HashAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            HashAlg::Sha224 => sha2::Sha224::digest(data).to_vec(),
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
            HashAlg::Sha512_224 => sha2::Sha512_224::digest(data).to_vec(),
            HashAlg::Sha512_256 => sha2::Sha512_256::digest(data).to_vec(),
        }
    }
}

/// OPA's `IsStructuredDoc`: the base name is `data.json`, `data.yaml`,
/// `signatures.json` or `.manifest` (exactly; `data.yml` and `x.manifest`
/// are hashed as raw bytes).
pub fn is_structured(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    matches!(
        base,
        "data.json" | "data.yaml" | "signatures.json" | ".manifest"
    )
}

/// Go's `encoding/json` scanner refuses nesting deeper than this; within it,
/// `json.Valid` is true for any well-formed document.
const GO_JSON_MAX_DEPTH: usize = 10_000;

/// OPA's `util.Unmarshal` followed by `walk`: the exact bytes the hasher sees
/// for a structured document. Errors where OPA's decoding fails (OPA then
/// refuses the bundle) or where regopt cannot reproduce the result exactly.
pub fn canonical_document(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut compact = Vec::with_capacity(bytes.len());
    let limits = json::Limits {
        max_depth: GO_JSON_MAX_DEPTH,
    };
    if json::compact(bytes, &limits, &mut compact).is_ok() {
        let mut out = Vec::with_capacity(compact.len());
        json::to_canonical(RawValue::new_unchecked(&compact), &mut out);
        return Ok(out);
    }
    drop(compact);
    super::goyaml::to_canonical(bytes)
}

/// The bytes OPA hashes for the file `name` holding `bytes`.
pub fn hashed_bytes<'a>(name: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, String> {
    if is_structured(name) {
        canonical_document(bytes).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(bytes))
    }
}

/// The digest OPA computes for the file `name` holding `bytes`.
pub fn file_digest(name: &str, bytes: &[u8], alg: HashAlg) -> Result<Vec<u8>, String> {
    Ok(alg.digest(&hashed_bytes(name, bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(b: &[u8]) -> String {
        hex::encode(HashAlg::Sha256.digest(b))
    }

    #[test]
    fn names_round_trip() {
        for a in HashAlg::ALL {
            assert_eq!(HashAlg::from_name(a.name()), Some(a));
        }
        assert_eq!(HashAlg::from_name("sha-256"), None);
        assert_eq!(HashAlg::from_name("SHA256"), None);
    }

    #[test]
    fn digest_lengths_and_known_values() {
        let lens: Vec<usize> = HashAlg::ALL.iter().map(|a| a.digest(b"").len()).collect();
        assert_eq!(lens, vec![16, 20, 28, 32, 48, 64, 28, 32]);
        // Well-known digests of "abc".
        assert_eq!(
            hex::encode(HashAlg::Md5.digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex::encode(HashAlg::Sha1.digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(HashAlg::Sha512_256.digest(b"abc")),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
        assert_eq!(
            hex::encode(HashAlg::Sha512_224.digest(b"abc")),
            "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa"
        );
        assert_eq!(
            hex::encode(HashAlg::Sha224.digest(b"abc")),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
    }

    #[test]
    fn structured_by_base_name_only() {
        for s in [
            "data.json",
            "a/b/data.json",
            "data.yaml",
            "x/.manifest",
            ".manifest",
        ] {
            assert!(is_structured(s), "{s}");
        }
        for s in [
            "data.yml",
            "x.manifest",
            "mydata.json",
            "p.rego",
            "policy.wasm",
        ] {
            assert!(!is_structured(s), "{s}");
        }
    }

    #[test]
    fn structured_files_hash_their_canonical_form() {
        let pretty = b"{\n  \"b\": [1.10, 2],\n  \"a\": \"<&>\"\n}\n";
        let canon = br#"{"a":"<&>","b":[1.10,2]}"#;
        assert_eq!(
            file_digest("data.json", pretty, HashAlg::Sha256).unwrap(),
            HashAlg::Sha256.digest(canon)
        );
        // A BOM is stripped, as util.Unmarshal does.
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(pretty);
        assert_eq!(
            sha256_hex(&hashed_bytes("data.json", &bom).unwrap()),
            sha256_hex(canon)
        );
        // Raw files are hashed as they are.
        assert_eq!(
            file_digest("data.yml", pretty, HashAlg::Sha256).unwrap(),
            HashAlg::Sha256.digest(pretty)
        );
        // data.yaml holding JSON is read as JSON (number text kept).
        assert_eq!(
            hashed_bytes("data.yaml", b"{\"n\": 1.10}")
                .unwrap()
                .as_ref(),
            br#"{"n":1.10}"#
        );
        // Duplicate keys: the last one wins, as in Go's map decoding.
        assert_eq!(
            hashed_bytes(".manifest", br#"{"r":"1","r":"2"}"#)
                .unwrap()
                .as_ref(),
            br#"{"r":"2"}"#
        );
    }
}
