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

    /// The input is signed and optimizing changes files its signature covers.
    #[error("bundle is signed and optimizing changes {files} file(s) its signature covers")]
    Signed {
        /// How many files changed.
        files: usize,
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
            Error::Signed { .. } => "pass --drop-signatures to write an unsigned bundle",
            Error::Internal(_) => "please report this with the bundle (or a reduced copy) that triggers it",
        };
        Some(s.to_string())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
