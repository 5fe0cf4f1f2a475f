//! Bundle signatures exactly as OPA computes and checks them
//! (`v1/bundle/{sign,verify,hash,keys}.go`): verifying the input's
//! `.signatures.json`, proving that a kept signature still matches the output,
//! and signing the output.
//!
//! A signature file is `{"signatures": ["<JWT>"]}` with exactly one JWS
//! compact token. Its payload is `{"files": [{"name", "hash", "algorithm"}],
//! "keyid"?, "scope"?, ...claims}`; OPA checks every bundle file (except
//! signature files) against the entry of the same name (the archive name
//! with one leading `/` removed), refuses files that are not listed and
//! listed files that are missing, and compares digests computed as
//! [`hash::file_digest`] does. See `docs/signatures.md`.

pub mod es512;
pub mod goyaml;
pub mod hash;
pub mod jwt;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use crate::bundle::{Bundle, FileKind, OutputFormat};
use crate::data::json::{self, Kind, RawValue};
use crate::error::{Error, Result};

pub use hash::HashAlg;
pub use jwt::SigAlg;

/// The name OPA writes the signatures file under.
pub const SIGNATURES_NAME: &str = "/.signatures.json";

/// Everything about signatures that `optimize` can be asked to do.
#[derive(Clone, Debug, Default)]
pub struct SignOptions {
    /// `--verification-key`: verify the input's signature with this key
    /// (a PEM public key or an HMAC secret: a file, or the text itself).
    pub verification_key: Option<String>,
    /// `--verification-key-id`: the key id the token must name, if it names one.
    pub verification_key_id: Option<String>,
    /// `--scope`: the scope the input's token must carry, and the scope
    /// claim written into a new signature.
    pub scope: Option<String>,
    /// `--exclude-files-verify`: files (Go `filepath.Match` globs) not
    /// checked against the input's signature.
    pub exclude_files_verify: Vec<String>,
    /// `--signing-key`: sign the output with this key (PEM private key or
    /// HMAC secret: a file, or the text itself).
    pub signing_key: Option<String>,
    /// `--signing-alg` (default RS256).
    pub signing_alg: SigAlg,
    /// `--signing-key-id`: the `kid` header (and `keyid` claim) of a new signature.
    pub signing_key_id: Option<String>,
    /// `--claims-file`: a JSON object of extra claims for a new signature.
    pub claims_file: Option<PathBuf>,
}

impl SignOptions {
    /// Check what can be checked before reading anything (the globs).
    pub fn validate(&self) -> std::result::Result<(), String> {
        exclude_matchers(&self.exclude_files_verify).map(|_| ())
    }
}

fn exclude_matchers(globs: &[String]) -> std::result::Result<Vec<globset::GlobMatcher>, String> {
    globs
        .iter()
        .map(|g| {
            globset::GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("--exclude-files-verify '{g}': {e}"))
        })
        .collect()
}

/// One entry of a token's `files` claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The file, as OPA looks it up (no leading `/`).
    pub name: String,
    /// Hex digest.
    pub hash: String,
    /// Digest algorithm name (`SHA-256`, ...).
    pub algorithm: String,
}

/// A parsed (not yet verified) token.
#[derive(Clone, Debug)]
pub struct Token {
    /// The header's `alg`.
    pub alg: String,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The payload's `keyid` claim (deprecated), if any.
    pub keyid: Option<String>,
    /// The payload's `scope` claim (empty when absent, as Go decodes it).
    pub scope: String,
    /// The payload's `files`, in order.
    pub files: Vec<FileEntry>,
    /// `base64(header).base64(payload)`: the signed bytes.
    pub signing_input: String,
    /// The base64url signature.
    pub signature: String,
}

impl Token {
    /// The files as OPA keeps them: by name, the last entry of a name wins.
    pub fn file_map(&self) -> BTreeMap<&str, &FileEntry> {
        self.files.iter().map(|f| (f.name.as_str(), f)).collect()
    }
}

/// The name OPA looks a file up by when it reads a bundle written under the
/// archive `name`: a tarball keeps names as written less one leading `/`; a
/// directory is walked, giving the path inside it.
pub fn signed_name(name: &str, format: Option<OutputFormat>) -> String {
    match format {
        Some(OutputFormat::Dir) => crate::bundle::read::normalize(name, false)
            .unwrap_or_else(|_| name.trim_start_matches('/').to_string()),
        _ => name.strip_prefix('/').unwrap_or(name).to_string(),
    }
}

fn format_err(file: &str, problem: impl Into<String>) -> Error {
    Error::SignatureFormat {
        file: file.to_string(),
        problem: problem.into(),
    }
}

/// Decode a JSON document as Go's `encoding/json` would for a struct: `None`
/// when not valid JSON.
fn compact_json(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    json::compact(bytes, &json::Limits { max_depth: 10_000 }, &mut out).ok()?;
    Some(out)
}

/// A struct field as Go's decoder finds it: the exact key, else the last key
/// equal under case folding.
fn field<'a>(obj: RawValue<'a>, name: &str) -> Option<RawValue<'a>> {
    let mut found = None;
    for (k, v) in obj.members() {
        if k == name {
            return obj.get(name);
        }
        if k.eq_ignore_ascii_case(name) {
            found = Some(v);
        }
    }
    found
}

/// A string field (`null` or absent: empty); `Err` when of another type.
fn string_field(obj: RawValue<'_>, name: &str) -> std::result::Result<String, String> {
    match field(obj, name) {
        None => Ok(String::new()),
        Some(v) => match v.kind() {
            Kind::Null => Ok(String::new()),
            Kind::String => Ok(v.as_str().unwrap_or_default().into_owned()),
            _ => Err(format!("'{name}' must be a string")),
        },
    }
}

/// The one token of a `.signatures.json`, as OPA's reader takes it (the
/// first JSON value is decoded; a plugin is not supported).
pub fn parse_signatures_file(file: &str, bytes: &[u8]) -> Result<String> {
    // Go's Decoder reads one value and ignores what follows.
    let mut stream =
        serde_json::Deserializer::from_slice(bytes).into_iter::<serde::de::IgnoredAny>();
    if !matches!(stream.next(), Some(Ok(_))) {
        return Err(format_err(
            file,
            "bundle load failed on signatures decode: not JSON",
        ));
    }
    let end = stream.byte_offset();
    let compact = compact_json(&bytes[..end])
        .ok_or_else(|| format_err(file, "bundle load failed on signatures decode: not JSON"))?;
    let v = RawValue::new_unchecked(&compact);
    if v.kind() != Kind::Object {
        return Err(format_err(
            file,
            "expected an object with a \"signatures\" list",
        ));
    }
    let plugin = string_field(v, "plugin").map_err(|p| format_err(file, p))?;
    if !plugin.is_empty() {
        return Err(format_err(
            file,
            format!(
                "signed with the custom plugin '{plugin}', which regopt cannot verify or re-create"
            ),
        ));
    }
    let mut tokens = Vec::new();
    match field(v, "signatures") {
        None => {}
        Some(s) if s.kind() == Kind::Null => {}
        Some(s) if s.kind() == Kind::Array => {
            for t in s.elements() {
                match t.kind() {
                    Kind::String => tokens.push(t.as_str().unwrap_or_default().into_owned()),
                    Kind::Null => tokens.push(String::new()),
                    _ => return Err(format_err(file, "\"signatures\" must hold strings")),
                }
            }
        }
        Some(_) => return Err(format_err(file, "\"signatures\" must be a list")),
    }
    match tokens.len() {
        0 => Err(format_err(file, "missing JWT (expected exactly one)")),
        1 => Ok(tokens.pop().unwrap_or_default()),
        _ => Err(format_err(
            file,
            "multiple JWTs not supported (expected exactly one)",
        )),
    }
}

/// Split and decode a JWS compact token (its signature is not checked).
pub fn parse_token(file: &str, token: &str) -> Result<Token> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts[..] else {
        return Err(format_err(
            file,
            "the token is not a JWS in compact form (three base64url parts separated by '.')",
        ));
    };
    let header = jwt::b64_decode(h)
        .ok_or_else(|| format_err(file, "failed to base64 decode JWT headers"))?;
    let header =
        compact_json(&header).ok_or_else(|| format_err(file, "failed to parse JWT headers"))?;
    let hv = RawValue::new_unchecked(&header);
    if hv.kind() != Kind::Object {
        return Err(format_err(
            file,
            "failed to parse JWT headers: not an object",
        ));
    }
    let alg = match hv.get("alg") {
        Some(a) if a.kind() == Kind::String => a.as_str().unwrap_or_default().into_owned(),
        _ => return Err(format_err(file, "the token header has no \"alg\"")),
    };
    let kid = match hv.get("kid") {
        Some(k) if k.kind() == Kind::String => {
            Some(k.as_str().unwrap_or_default().into_owned()).filter(|k| !k.is_empty())
        }
        _ => None,
    };
    let payload = jwt::b64_decode(p)
        .ok_or_else(|| format_err(file, "failed to base64 decode the JWT payload"))?;
    let payload =
        compact_json(&payload).ok_or_else(|| format_err(file, "the JWT payload is not JSON"))?;
    let pv = RawValue::new_unchecked(&payload);
    if pv.kind() != Kind::Object {
        return Err(format_err(file, "the JWT payload is not an object"));
    }
    let keyid = string_field(pv, "keyid").map_err(|e| format_err(file, e))?;
    let scope = string_field(pv, "scope").map_err(|e| format_err(file, e))?;
    string_field(pv, "iss").map_err(|e| format_err(file, e))?;
    if let Some(iat) = field(pv, "iat") {
        let ok = iat.kind() == Kind::Null
            || iat
                .as_number_text()
                .is_some_and(|t| t.parse::<i64>().is_ok());
        if !ok {
            return Err(format_err(file, "'iat' must be an integer"));
        }
    }
    let mut files = Vec::new();
    match field(pv, "files") {
        None => {}
        Some(f) if f.kind() == Kind::Null => {}
        Some(f) if f.kind() == Kind::Array => {
            for e in f.elements() {
                if e.kind() == Kind::Null {
                    files.push(FileEntry {
                        name: String::new(),
                        hash: String::new(),
                        algorithm: String::new(),
                    });
                    continue;
                }
                if e.kind() != Kind::Object {
                    return Err(format_err(file, "'files' entries must be objects"));
                }
                let get = |n: &str| string_field(e, n).map_err(|m| format_err(file, m));
                files.push(FileEntry {
                    name: get("name")?,
                    hash: get("hash")?,
                    algorithm: get("algorithm")?,
                });
            }
        }
        Some(_) => return Err(format_err(file, "'files' must be a list")),
    }
    Ok(Token {
        alg,
        kid,
        keyid: Some(keyid).filter(|k| !k.is_empty()),
        scope,
        files,
        signing_input: format!("{h}.{p}"),
        signature: s.to_string(),
    })
}

/// The bundle's signatures file, if any (one at most).
fn signatures_file(bundle: &Bundle) -> Result<Option<&crate::bundle::BundleFile>> {
    let mut it = bundle
        .files
        .iter()
        .filter(|f| f.kind == FileKind::Signatures);
    let first = it.next();
    if let Some(second) = it.next() {
        return Err(format_err(
            &second.path,
            format!(
                "a second signatures file (first: {})",
                first.map(|f| f.path.as_str()).unwrap_or("")
            ),
        ));
    }
    Ok(first)
}

/// The digest of one file compared with its entry.
fn check_entry(name: &str, bytes: &[u8], entry: &FileEntry) -> Result<()> {
    if entry.algorithm.is_empty() {
        return Err(Error::DigestUnsupported {
            file: name.to_string(),
            problem: "no hashing algorithm provided for the file".into(),
        });
    }
    let alg = HashAlg::from_name(&entry.algorithm).ok_or_else(|| Error::DigestUnsupported {
        file: name.to_string(),
        problem: format!("unsupported hashing algorithm: {}", entry.algorithm),
    })?;
    let want = hex::decode(&entry.hash).map_err(|_| {
        format_err(
            SIGNATURES_NAME.trim_start_matches('/'),
            format!("the digest listed for {name} is not hex: '{}'", entry.hash),
        )
    })?;
    let got = hash::file_digest(name, bytes, alg).map_err(|problem| Error::DigestUnsupported {
        file: name.to_string(),
        problem,
    })?;
    if want != got {
        return Err(Error::DigestMismatch {
            file: name.to_string(),
            algorithm: entry.algorithm.clone(),
            expected: hex::encode(&want),
            actual: hex::encode(&got),
        });
    }
    Ok(())
}

/// What [`verify_bundle`] found.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The token's algorithm.
    pub algorithm: SigAlg,
    /// The key id the token names, if any.
    pub key_id: Option<String>,
    /// Files checked against their digests.
    pub files_checked: usize,
    /// Files skipped by `--exclude-files-verify`.
    pub files_excluded: usize,
}

/// Verify the bundle's signature as OPA's reader does with a verification
/// key: exactly one token; its key id (when `--verification-key-id` is given
/// and the token names one); its signature; its scope; then every file.
pub fn verify_bundle(bundle: &Bundle, opts: &SignOptions) -> Result<Verified> {
    let Some(key_spec) = &opts.verification_key else {
        return Err(Error::Internal("verify_bundle without a key".into()));
    };
    let Some(sig) = signatures_file(bundle)? else {
        return Err(format_err(
            SIGNATURES_NAME.trim_start_matches('/'),
            "bundle missing .signatures.json file (a --verification-key was given)",
        ));
    };
    let file = sig.path.as_str();
    let token_text = parse_signatures_file(file, &sig.bytes)?;
    let token = parse_token(file, &token_text)?;
    let token_key_id = token.kid.clone().or_else(|| token.keyid.clone());
    if let (Some(expected), Some(found)) = (&opts.verification_key_id, &token_key_id) {
        if expected != found {
            return Err(Error::KeyIdMismatch {
                file: file.to_string(),
                expected: expected.clone(),
                found: found.clone(),
            });
        }
    }
    let alg = SigAlg::from_name(&token.alg)
        .ok_or_else(|| format_err(file, format!("unknown signature algorithm: {}", token.alg)))?;
    let key_err = |problem: String| Error::SigningKey {
        what: format!("--verification-key {key_spec}"),
        problem,
    };
    let key = jwt::read_key_material(key_spec).map_err(key_err)?;
    let ok = jwt::verify(alg, &key, token.signing_input.as_bytes(), &token.signature)
        .map_err(key_err)?;
    if !ok {
        return Err(Error::SignatureInvalid {
            file: file.to_string(),
            algorithm: alg.name().to_string(),
        });
    }
    let expected_scope = opts.scope.clone().unwrap_or_default();
    if token.scope != expected_scope {
        let show = |s: &str| {
            if s.is_empty() {
                "none".to_string()
            } else {
                format!("'{s}'")
            }
        };
        return Err(Error::ScopeMismatch {
            file: file.to_string(),
            expected: show(&expected_scope),
            found: show(&token.scope),
        });
    }
    let exclude =
        exclude_matchers(&opts.exclude_files_verify).map_err(|problem| Error::SigningKey {
            what: "--exclude-files-verify".into(),
            problem,
        })?;
    let mut listed = token.file_map();
    let (mut checked, mut excluded) = (0, 0);
    for f in &bundle.files {
        if f.kind == FileKind::Signatures {
            continue;
        }
        let name = signed_name(&f.name, None);
        if exclude.iter().any(|g| g.is_match(&name)) {
            listed.remove(name.as_str());
            excluded += 1;
            continue;
        }
        let Some(entry) = listed.remove(name.as_str()) else {
            return Err(Error::FileNotSigned { file: name });
        };
        check_entry(&name, &f.bytes, entry)?;
        checked += 1;
    }
    if !listed.is_empty() {
        let names: Vec<&str> = listed.keys().copied().collect();
        return Err(Error::SignedFileMissing {
            files: names.join(", "),
        });
    }
    Ok(Verified {
        algorithm: alg,
        key_id: token_key_id,
        files_checked: checked,
        files_excluded: excluded,
    })
}

/// What the input's signature covers, captured before the bundle changes, to
/// decide afterwards whether the signature can be kept.
#[derive(Clone, Debug)]
pub struct SignedInput {
    /// The signatures file's path.
    pub file: String,
    /// The token, or why it cannot be read.
    pub token: std::result::Result<Token, String>,
    /// Every non-signature file's signed name.
    pub names: BTreeSet<String>,
    /// Files the token does not list, with their bytes: they must stay
    /// byte-identical (OPA skipped them via exclusions, or the input was
    /// already invalid; either way nothing may change).
    pub unlisted: HashMap<String, Vec<u8>>,
}

/// Capture what [`check_kept`] needs; `None` for an unsigned bundle.
pub fn capture_signed_input(bundle: &Bundle) -> Result<Option<SignedInput>> {
    let Some(sig) = signatures_file(bundle)? else {
        return Ok(None);
    };
    let token = parse_signatures_file(&sig.path, &sig.bytes)
        .and_then(|t| parse_token(&sig.path, &t))
        .map_err(|e| e.to_string());
    let listed: BTreeSet<String> = match &token {
        Ok(t) => t.files.iter().map(|f| f.name.clone()).collect(),
        Err(_) => BTreeSet::new(),
    };
    let mut names = BTreeSet::new();
    let mut unlisted = HashMap::new();
    for f in bundle
        .files
        .iter()
        .filter(|f| f.kind != FileKind::Signatures)
    {
        let name = signed_name(&f.name, None);
        if token.is_ok() && !listed.contains(&name) {
            unlisted.insert(name.clone(), f.bytes.clone());
        }
        names.insert(name);
    }
    Ok(Some(SignedInput {
        file: sig.path.clone(),
        token,
        names,
        unlisted,
    }))
}

/// Prove that the input's signature is still valid for the output: the
/// same set of files, every digest the token lists recomputed over the
/// output bytes and equal, every unlisted file unchanged. `entries` are the
/// output files as they will be written (`(archive name, bytes)`).
pub fn check_kept(
    input: &SignedInput,
    entries: &[(String, &[u8])],
    format: Option<OutputFormat>,
) -> std::result::Result<usize, String> {
    let token = input
        .token
        .as_ref()
        .map_err(|e| format!("its token cannot be read ({e})"))?;
    let mut out: BTreeMap<String, &[u8]> = BTreeMap::new();
    for (name, bytes) in entries {
        if FileKind::of(name) == FileKind::Signatures {
            continue;
        }
        out.insert(signed_name(name, format), bytes);
    }
    let out_names: BTreeSet<String> = out.keys().cloned().collect();
    if out_names != input.names {
        let added: Vec<&str> = out_names
            .difference(&input.names)
            .map(String::as_str)
            .collect();
        let removed: Vec<&str> = input
            .names
            .difference(&out_names)
            .map(String::as_str)
            .collect();
        return Err(format!(
            "the output has other files than the input (added: [{}], removed: [{}])",
            added.join(", "),
            removed.join(", ")
        ));
    }
    let listed = token.file_map();
    for (name, entry) in &listed {
        let Some(bytes) = out.get(*name) else {
            return Err(format!(
                "{name} is listed in the signature but not in the bundle"
            ));
        };
        check_entry(name, bytes, entry).map_err(|e| e.to_string())?;
    }
    for (name, bytes) in &out {
        if listed.contains_key(name.as_str()) {
            continue;
        }
        if input.unlisted.get(name).map(Vec::as_slice) != Some(*bytes) {
            return Err(format!(
                "{name} is not covered by the signature and was changed"
            ));
        }
    }
    Ok(listed.len())
}

/// Escape `<`, `>` and `&` as Go's `json.Marshal` does (they occur only
/// inside strings in JSON text).
fn html_escape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        match b {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            _ => out.push(b),
        }
    }
    out
}

fn json_string(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    json::write_string(&mut out, s);
    out
}

/// The claims of `--claims-file`, each as canonical JSON text.
fn read_claims(path: &std::path::Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let err = |problem: String| Error::SigningKey {
        what: format!("--claims-file {}", path.display()),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let compact = compact_json(&bytes).ok_or_else(|| err("not valid JSON".into()))?;
    let v = RawValue::new_unchecked(&compact);
    if v.kind() != Kind::Object {
        return Err(err("must hold a JSON object".into()));
    }
    let mut claims = BTreeMap::new();
    for (k, value) in v.members() {
        let mut text = Vec::new();
        json::to_canonical(value, &mut text);
        claims.insert(k.into_owned(), text);
    }
    if claims.contains_key("files") {
        return Err(err(
            "must not set \"files\": that claim lists the bundle's digests".into(),
        ));
    }
    Ok(claims)
}

/// Sign the output: the files `entries` (`(archive name, bytes)`, signature
/// files skipped) as OPA reads them back from `format`. Returns the bytes
/// of the new `.signatures.json` (as `opa build`/`opa sign` write it) and
/// the number of files listed.
pub fn sign_entries(
    entries: &[(String, &[u8])],
    format: Option<OutputFormat>,
    opts: &SignOptions,
) -> Result<(Vec<u8>, usize)> {
    let Some(key_spec) = &opts.signing_key else {
        return Err(Error::Internal("sign_entries without a key".into()));
    };
    let alg = opts.signing_alg;
    let key_err = |problem: String| Error::SigningKey {
        what: format!("--signing-key {key_spec}"),
        problem,
    };
    let key = jwt::read_key_material(key_spec).map_err(key_err)?;

    // files: the digests, SHA-256 as OPA signs, in output order.
    let mut files = b"[".to_vec();
    let mut count = 0;
    for (name, bytes) in entries {
        if FileKind::of(name) == FileKind::Signatures {
            continue;
        }
        let signed = signed_name(name, format);
        let digest = hash::file_digest(&signed, bytes, HashAlg::Sha256).map_err(|problem| {
            Error::DigestUnsupported {
                file: signed.clone(),
                problem,
            }
        })?;
        if count > 0 {
            files.push(b',');
        }
        files.extend_from_slice(b"{\"name\":");
        files.extend_from_slice(&json_string(&signed));
        files.extend_from_slice(b",\"hash\":\"");
        files.extend_from_slice(hex::encode(digest).as_bytes());
        files.extend_from_slice(b"\",\"algorithm\":\"SHA-256\"}");
        count += 1;
    }
    files.push(b']');

    // The payload: Go marshals a map, so the claims come sorted by key.
    let mut members: BTreeMap<String, Vec<u8>> = match &opts.claims_file {
        Some(path) => read_claims(path)?,
        None => BTreeMap::new(),
    };
    if opts.claims_file.is_none() {
        if let Some(kid) = &opts.signing_key_id {
            // Deprecated, but OPA writes it when there is no claims file.
            members.insert("keyid".into(), json_string(kid));
        }
    }
    if let Some(scope) = &opts.scope {
        let text = json_string(scope);
        match members.get("scope") {
            Some(existing) if *existing != text => {
                return Err(Error::SigningKey {
                    what: "--scope".into(),
                    problem: format!(
                        "the claims file sets scope {}, which differs from --scope '{scope}'",
                        String::from_utf8_lossy(existing)
                    ),
                })
            }
            _ => {
                members.insert("scope".into(), text);
            }
        }
    }
    members.insert("files".into(), files);
    let mut payload = b"{".to_vec();
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            payload.push(b',');
        }
        payload.extend_from_slice(&json_string(k));
        payload.push(b':');
        payload.extend_from_slice(v);
    }
    payload.push(b'}');
    let payload = html_escape(&payload);

    let mut header = format!("{{\"alg\":\"{}\"", alg.name()).into_bytes();
    if let Some(kid) = &opts.signing_key_id {
        header.extend_from_slice(b",\"kid\":");
        header.extend_from_slice(&html_escape(&json_string(kid)));
    }
    header.push(b'}');

    let signing_input = format!("{}.{}", jwt::b64_encode(&header), jwt::b64_encode(&payload));
    let signature = jwt::sign(alg, &key, signing_input.as_bytes()).map_err(key_err)?;
    let token = format!("{signing_input}.{signature}");
    let file = format!("{{\n \"signatures\": [\n  \"{token}\"\n ]\n}}");
    Ok((file.into_bytes(), count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_file_needs_exactly_one_token() {
        assert!(parse_signatures_file("s", br#"{"signatures":[]}"#).is_err());
        assert!(parse_signatures_file("s", br#"{"signatures":["a","b"]}"#).is_err());
        assert!(parse_signatures_file("s", br#"{"plugin":"x","signatures":["a"]}"#).is_err());
        assert!(parse_signatures_file("s", b"nope").is_err());
        assert_eq!(
            parse_signatures_file("s", b"{\"Signatures\":[\"t\"]} trailing").unwrap(),
            "t"
        );
    }

    #[test]
    fn tokens_parse() {
        let t = parse_token(
            "s",
            "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJmaWxlcyI6W3sibmFtZSI6ImEiLCJoYXNoIjoiMDAiLCJhbGdvcml0aG0iOiJTSEEtMjU2In1dLCJzY29wZSI6IncifQ.c2ln",
        )
        .unwrap();
        assert_eq!(t.alg, "RS256");
        assert_eq!(t.kid.as_deref(), Some("k1"));
        assert_eq!(t.scope, "w");
        assert_eq!(t.files[0].name, "a");
        assert!(parse_token("s", "a.b").is_err());
        assert!(parse_token("s", "!!.e30.x").is_err());
    }

    #[test]
    fn signed_names_follow_the_loader() {
        assert_eq!(signed_name("/data.json", None), "data.json");
        assert_eq!(signed_name("./data.json", None), "./data.json");
        assert_eq!(
            signed_name("./data.json", Some(OutputFormat::Dir)),
            "data.json"
        );
        assert_eq!(
            signed_name("/a/b.rego", Some(OutputFormat::TarGz)),
            "a/b.rego"
        );
    }

    #[test]
    fn payload_is_sorted_and_html_escaped() {
        let opts = SignOptions {
            signing_key: Some("secret".into()),
            signing_alg: SigAlg::HS256,
            signing_key_id: Some("k<1>".into()),
            scope: Some("a&b".into()),
            ..Default::default()
        };
        let entries = vec![("/x/<y>.rego".to_string(), &b"p"[..])];
        let (file, n) = sign_entries(&entries, None, &opts).unwrap();
        assert_eq!(n, 1);
        let token = parse_signatures_file("s", &file).unwrap();
        let payload = jwt::b64_decode(token.split('.').nth(1).unwrap()).unwrap();
        let want = format!(
            "{{\"files\":[{{\"name\":\"x/\\u003cy\\u003e.rego\",\"hash\":\"{}\",\"algorithm\":\"SHA-256\"}}],\"keyid\":\"k\\u003c1\\u003e\",\"scope\":\"a\\u0026b\"}}",
            hex::encode(HashAlg::Sha256.digest(b"p"))
        );
        assert_eq!(String::from_utf8(payload).unwrap(), want);
        let header = jwt::b64_decode(token.split('.').next().unwrap()).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","kid":"k\u003c1\u003e"}"#);
        assert!(String::from_utf8(file)
            .unwrap()
            .starts_with("{\n \"signatures\": [\n  \"ey"));
    }
}
