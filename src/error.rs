//! Typed errors of the library, their hints and the exit code each maps to.
//!
//! The library never prints. The binary renders an error once as
//! `regopt: <bundle>: <problem>` followed by the hint, and exits with
//! [`Error::exit_code`]. `docs/cli.md` lists every code.

use std::io;
use std::path::PathBuf;

use crate::data::json::JsonError;

/// Everything that can go wrong while reading, optimizing or writing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input or output could not be read or written by the operating system.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory that failed.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The gzip stream or the tar archive inside it is damaged or truncated.
    #[error("archive is corrupt: {detail}")]
    CorruptArchive {
        /// What was wrong, e.g. `invalid gzip header` or `truncated tar entry 'a/data.json'`.
        detail: String,
    },

    /// A tar entry or directory entry whose name or type is not safe to accept:
    /// `..` components, NUL bytes, empty components, links, devices.
    #[error("{entry}: {problem}")]
    UnsafeEntry {
        /// The entry name as found in the archive.
        entry: String,
        /// Why it was refused.
        problem: String,
    },

    /// Two entries normalise to the same bundle path.
    #[error("{entry}: duplicate path in bundle (also given as '{first}')")]
    DuplicateEntry {
        /// The second entry's name.
        entry: String,
        /// The first entry's name.
        first: String,
    },

    /// One file is larger than the per-file size limit (OPA's `size_limit_bytes`).
    #[error("{file}: size {size} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge {
        /// The file inside the bundle.
        file: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in force.
        limit: u64,
    },

    /// The archive expands to more bytes than the total limit (a gzip bomb guard).
    #[error("bundle expands to more than {limit} bytes")]
    TotalTooLarge {
        /// The limit in force.
        limit: u64,
    },

    /// The archive has more entries than the entry-count limit.
    #[error("bundle has more than {limit} entries")]
    TooManyEntries {
        /// The limit in force.
        limit: u64,
    },

    /// A data file is not valid JSON (or is nested too deeply).
    #[error("{file}: {error}")]
    Json {
        /// The data file.
        file: String,
        /// Where and what.
        error: JsonError,
    },

    /// A `data.yaml`/`data.yml` file is not valid YAML.
    #[error("{file}: invalid yaml: {message}")]
    Yaml {
        /// The data file.
        file: String,
        /// The parser's message.
        message: String,
    },

    /// A `data.yaml` nested deeper than the YAML parser allows (128 levels).
    #[error("{file}: yaml nested deeper than 128 levels")]
    YamlTooDeep {
        /// The data file.
        file: String,
    },

    /// A root `data.json` holds something other than an object.
    #[error("{file}: root data document must be an object, found {found}")]
    RootNotObject {
        /// The data file.
        file: String,
        /// The JSON type found.
        found: String,
    },

    /// Two data files define the same path and not both as objects.
    #[error(
        "{second}: data conflict at data.{path}: also defined by {first}, and not both as objects"
    )]
    DataConflict {
        /// The data path, dotted.
        path: String,
        /// The file read first.
        first: String,
        /// The file read second.
        second: String,
    },

    /// The `.manifest` is not valid JSON or has a field of the wrong type.
    #[error("{file}: invalid manifest: {message}")]
    Manifest {
        /// The manifest file.
        file: String,
        /// What is wrong.
        message: String,
    },

    /// More than one `.manifest` file.
    #[error("{second}: second manifest in bundle (first: {first})")]
    SecondManifest {
        /// The first manifest file.
        first: String,
        /// The second manifest file.
        second: String,
    },

    /// Two manifest roots overlap, which OPA refuses.
    #[error(".manifest: manifest has overlapped roots: '{first}' and '{second}'")]
    OverlappingRoots {
        /// One root.
        first: String,
        /// The other root.
        second: String,
    },

    /// Data lies outside the manifest's roots.
    #[error("{file}: manifest roots {roots} do not permit data at path '/{path}'")]
    DataOutsideRoots {
        /// The data file that holds it.
        file: String,
        /// The roots, as OPA prints them.
        roots: String,
        /// The data path, slash separated.
        path: String,
    },

    /// A module's package lies outside the manifest's roots.
    #[error("{file}: manifest roots {roots} do not permit package '{package}'")]
    PackageOutsideRoots {
        /// The module file.
        file: String,
        /// The roots, as OPA prints them.
        roots: String,
        /// The package path.
        package: String,
    },

    /// A `.rego` file that is not UTF-8 or has no readable `package` clause.
    #[error("{file}: {problem}")]
    InvalidModule {
        /// The module file.
        file: String,
        /// What is wrong.
        problem: String,
    },

    /// The output target is not usable (e.g. it is the input itself).
    #[error("{}: {problem}", path.display())]
    Output {
        /// The output path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// The input is signed and the optimized bundle would no longer match its
    /// signature (recomputed over the output, as OPA would).
    #[error(
        "bundle is signed and the optimized bundle would no longer match its signature: {detail}"
    )]
    Signed {
        /// Which file changed or what differs.
        detail: String,
    },

    /// `.signatures.json` or its token cannot be used: not JSON, not exactly
    /// one JWT, a malformed token, an unsupported algorithm or plugin, or no
    /// signature at all when a verification key is given.
    #[error("{file}: {problem}")]
    SignatureFormat {
        /// The signatures file.
        file: String,
        /// What is wrong.
        problem: String,
    },

    /// The token's signature does not verify with the verification key.
    #[error("{file}: the {algorithm} signature does not verify with the verification key")]
    SignatureInvalid {
        /// The signatures file.
        file: String,
        /// The token's algorithm.
        algorithm: String,
    },

    /// The token names a key id other than `--verification-key-id`.
    #[error("{file}: the token was signed with key id '{found}', but --verification-key-id is '{expected}'")]
    KeyIdMismatch {
        /// The signatures file.
        file: String,
        /// `--verification-key-id`.
        expected: String,
        /// The token's `kid` header (or its deprecated `keyid` claim).
        found: String,
    },

    /// The token's `scope` claim is not the one required (`--scope`, or none).
    #[error("{file}: scope mismatch: the token's scope is {found}, expected {expected}")]
    ScopeMismatch {
        /// The signatures file.
        file: String,
        /// The scope required, quoted, or `none`.
        expected: String,
        /// The token's scope, quoted, or `none`.
        found: String,
    },

    /// A file's digest differs from the one its signature lists.
    #[error("{file}: digest mismatch ({algorithm}): the signature lists {expected}, the file has {actual}")]
    DigestMismatch {
        /// The file inside the bundle, as the signature names it.
        file: String,
        /// The digest algorithm.
        algorithm: String,
        /// Hex digest listed in the signature.
        expected: String,
        /// Hex digest of the file.
        actual: String,
    },

    /// A file of the bundle is not listed in its signature.
    #[error("{file}: file is not included in the bundle signature")]
    FileNotSigned {
        /// The file inside the bundle.
        file: String,
    },

    /// The signature lists files that the bundle does not have.
    #[error("file(s) {files} listed in the bundle signature but not found in the bundle")]
    SignedFileMissing {
        /// The missing files, comma separated.
        files: String,
    },

    /// A signing or verification key, or the claims file, cannot be used.
    #[error("{what}: {problem}")]
    SigningKey {
        /// Which flag's value (e.g. `--signing-key keys/rsa.pem`).
        what: String,
        /// Why.
        problem: String,
    },

    /// A digest cannot be computed the way OPA does: an algorithm OPA does
    /// not know, or a structured file OPA itself could not decode (or whose
    /// decoding regopt cannot reproduce exactly).
    #[error("{file}: cannot compute its digest as OPA does: {problem}")]
    DigestUnsupported {
        /// The file inside the bundle.
        file: String,
        /// Why.
        problem: String,
    },

    /// `optimize --verify`: the optimized bundle evaluates differently from the original in
    /// regorus, so nothing was written.
    #[error(
        "optimized bundle differs from the original in regorus on {differences} of {compared} query/input pairs; nothing written"
    )]
    VerifyFailed {
        /// Pairs that differ.
        differences: usize,
        /// Pairs compared.
        compared: usize,
        /// Everything the verification found.
        report: Box<crate::verify::VerifyReport>,
    },

    /// An inputs file (`verify --inputs`) is not valid JSON lines.
    #[error("{}:{line}: {message}", path.display())]
    Inputs {
        /// The inputs file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },

    /// A rewrite produced a module that no longer parses: a bug in regopt.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Exit codes, one per kind of error; `docs/cli.md` documents them.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// `check` found something at `--fail-on` level or above.
    pub const FINDINGS: i32 = 1;
    /// Command-line usage error (from clap).
    pub const USAGE: i32 = 2;
    /// The input or output could not be read or written.
    pub const IO: i32 = 3;
    /// Corrupt gzip or truncated/damaged tar.
    pub const CORRUPT_ARCHIVE: i32 = 4;
    /// Unsafe or duplicate archive entry.
    pub const UNSAFE_ENTRY: i32 = 5;
    /// A size, entry-count or nesting limit was exceeded.
    pub const LIMIT: i32 = 6;
    /// A data file is invalid (JSON/YAML syntax, root not an object).
    pub const INVALID_DATA: i32 = 7;
    /// Two data files conflict.
    pub const DATA_CONFLICT: i32 = 8;
    /// The manifest is invalid (syntax, field types, overlapping roots, second manifest).
    pub const INVALID_MANIFEST: i32 = 9;
    /// Data or a package lies outside the manifest roots.
    pub const OUTSIDE_ROOTS: i32 = 10;
    /// A module is not UTF-8 or has no package clause.
    pub const INVALID_MODULE: i32 = 11;
    /// The output path is not usable.
    pub const OUTPUT: i32 = 12;
    /// A signed bundle would no longer match its signature.
    pub const SIGNED: i32 = 20;
    /// `.signatures.json` is malformed, missing (with a verification key),
    /// or uses an unsupported algorithm.
    pub const SIGNATURE_FORMAT: i32 = 21;
    /// The signature does not verify with the verification key.
    pub const SIGNATURE_INVALID: i32 = 22;
    /// The token's key id is not `--verification-key-id`.
    pub const KEY_ID_MISMATCH: i32 = 23;
    /// The token's scope is not the one required.
    pub const SCOPE_MISMATCH: i32 = 24;
    /// A file's digest differs from its signature (tampered file).
    pub const DIGEST_MISMATCH: i32 = 25;
    /// A file is not listed in the signature (extra file).
    pub const FILE_NOT_SIGNED: i32 = 26;
    /// A file listed in the signature is missing.
    pub const SIGNED_FILE_MISSING: i32 = 27;
    /// A signing or verification key, or the claims file, cannot be used.
    pub const SIGNING_KEY: i32 = 28;
    /// A digest cannot be computed as OPA does.
    pub const DIGEST_UNSUPPORTED: i32 = 29;
    /// `optimize --verify`: the optimized bundle differs from the original in regorus.
    pub const VERIFY_FAILED: i32 = 30;
    /// A bug in regopt.
    pub const INTERNAL: i32 = 70;
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        use crate::data::json::JsonErrorKind;
        match self {
            Error::Io { .. } => exit::IO,
            Error::CorruptArchive { .. } => exit::CORRUPT_ARCHIVE,
            Error::UnsafeEntry { .. } | Error::DuplicateEntry { .. } => exit::UNSAFE_ENTRY,
            Error::FileTooLarge { .. }
            | Error::TotalTooLarge { .. }
            | Error::TooManyEntries { .. } => exit::LIMIT,
            Error::Json { error, .. } if matches!(error.kind, JsonErrorKind::TooDeep { .. }) => {
                exit::LIMIT
            }
            Error::YamlTooDeep { .. } => exit::LIMIT,
            Error::Json { .. } | Error::Yaml { .. } | Error::RootNotObject { .. } => {
                exit::INVALID_DATA
            }
            Error::DataConflict { .. } => exit::DATA_CONFLICT,
            Error::Manifest { .. }
            | Error::SecondManifest { .. }
            | Error::OverlappingRoots { .. } => exit::INVALID_MANIFEST,
            Error::DataOutsideRoots { .. } | Error::PackageOutsideRoots { .. } => {
                exit::OUTSIDE_ROOTS
            }
            Error::InvalidModule { .. } => exit::INVALID_MODULE,
            Error::Output { .. } => exit::OUTPUT,
            Error::Signed { .. } => exit::SIGNED,
            Error::SignatureFormat { .. } => exit::SIGNATURE_FORMAT,
            Error::SignatureInvalid { .. } => exit::SIGNATURE_INVALID,
            Error::KeyIdMismatch { .. } => exit::KEY_ID_MISMATCH,
            Error::ScopeMismatch { .. } => exit::SCOPE_MISMATCH,
            Error::DigestMismatch { .. } => exit::DIGEST_MISMATCH,
            Error::FileNotSigned { .. } => exit::FILE_NOT_SIGNED,
            Error::SignedFileMissing { .. } => exit::SIGNED_FILE_MISSING,
            Error::SigningKey { .. } => exit::SIGNING_KEY,
            Error::DigestUnsupported { .. } => exit::DIGEST_UNSUPPORTED,
            Error::VerifyFailed { .. } => exit::VERIFY_FAILED,
            Error::Inputs { .. } => exit::USAGE,
            Error::Internal(_) => exit::INTERNAL,
        }
    }

    /// A line telling the user what to do about it.
    pub fn hint(&self) -> Option<String> {
        use crate::data::json::JsonErrorKind;
        let s = match self {
            Error::Io { .. } => "check that the path exists and is readable (or its directory writable)",
            Error::CorruptArchive { .. } => {
                "the file is not a complete .tar.gz bundle; rebuild it with `opa build` or check the download"
            }
            Error::UnsafeEntry { .. } => {
                "bundles may hold only regular files with relative names; rebuild the bundle without links, devices or `..`"
            }
            Error::DuplicateEntry { .. } => "remove one of the two entries and rebuild the bundle",
            Error::FileTooLarge { .. } => "raise the limit with --size-limit BYTES if the file is expected to be this large",
            Error::TotalTooLarge { .. } => "raise the limit with --max-total-size BYTES if the bundle is expected to be this large",
            Error::TooManyEntries { .. } => "raise the limit with --max-entries N if the bundle is expected to have this many files",
            Error::Json { error, .. } if matches!(error.kind, JsonErrorKind::TooDeep { .. }) => {
                "flatten the document; regopt refuses data nested this deeply"
            }
            Error::Json { .. } => "fix the JSON syntax at the position given (OPA would refuse this file too)",
            Error::Yaml { .. } => "fix the YAML syntax (OPA would refuse this file too)",
            Error::YamlTooDeep { .. } => {
                "regopt reads YAML data at most 128 levels deep; write deeper documents as data.json (limit: --max-depth)"
            }
            Error::RootNotObject { .. } => "a data.json at the bundle root must hold an object; move the value under a key or a directory",
            Error::DataConflict { .. } => "two data files set the same key; keep it in one file (OPA refuses this bundle too)",
            Error::Manifest { .. } | Error::SecondManifest { .. } => {
                "see https://www.openpolicyagent.org/docs/management-bundles#bundle-file-format for the manifest fields"
            }
            Error::OverlappingRoots { .. } => "make the manifest roots disjoint (OPA refuses this bundle too)",
            Error::DataOutsideRoots { .. } | Error::PackageOutsideRoots { .. } => {
                "check bundle directory structure, or add the path to the manifest roots"
            }
            Error::InvalidModule { .. } => "every .rego file must be UTF-8 and start with a package clause",
            Error::Output { .. } => "choose another output path with -o",
            Error::Signed { .. } => {
                "pass --signing-key KEY to re-sign, or --drop-signatures to write an unsigned bundle"
            }
            Error::SignatureFormat { .. } => {
                "the signatures file must be {\"signatures\": [\"<one JWT>\"]} as `opa build --signing-key` or `opa sign` writes it; see docs/signatures.md"
            }
            Error::SignatureInvalid { .. } => {
                "check that --verification-key is the public key (or HMAC secret) matching the key the bundle was signed with; the bundle may have been re-signed or forged"
            }
            Error::KeyIdMismatch { .. } => "pass the key id the bundle was signed with to --verification-key-id, or check that the bundle comes from the expected signer",
            Error::ScopeMismatch { .. } => "pass the scope the bundle was signed with to --scope (OPA requires an exact match, and no scope when --scope is not given)",
            Error::DigestMismatch { .. } => {
                "the file was changed after signing (or the signature is for another bundle); rebuild and re-sign it"
            }
            Error::FileNotSigned { .. } => {
                "the file was added after signing; remove it, re-sign, or exclude it with --exclude-files-verify GLOB"
            }
            Error::SignedFileMissing { .. } => "the bundle lost files after signing; rebuild and re-sign it",
            Error::SigningKey { .. } => {
                "RS*/PS* take an RSA PEM key, ES256/384/512 an EC PEM key on P-256/P-384/P-521, HS* a shared secret; verification takes the public key"
            }
            Error::DigestUnsupported { .. } => {
                "OPA cannot load this file either, or regopt cannot reproduce its digest exactly; see docs/signatures.md"
            }
            Error::VerifyFailed { .. } => {
                "this is a bug in a rewrite pass; please report it with the bundle, and optimize with --skip-pass ID for the pass named in the differences meanwhile"
            }
            Error::Inputs { .. } => "each line must be one JSON document, or __none__ for no input",
            Error::Internal(_) => "please report this with the bundle (or a reduced copy) that triggers it",
        };
        Some(s.to_string())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
