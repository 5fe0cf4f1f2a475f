//! Rego front end: parses each module with byte spans (regorus parser), records its package and
//! imports, and refuses modules too deeply nested to analyse. Edits are spliced into the original
//! text by byte range (comments are dropped by the parser, so nothing is ever re-printed).

pub mod ast;
pub mod facts;
pub mod refs;

use std::num::{NonZeroU32, NonZeroUsize};

use regorus::unstable::{Module, Parser, Source};
use serde::{Deserialize, Serialize};

pub use facts::{BundleFacts, DataKind, DataView, JsonDataView};

/// Rego language version of one module, as declared by the bundle manifest
/// (`rego_version` / `file_rego_versions`; OPA 1.x defaults to v1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum RegoVersion {
    V0,
    #[default]
    V1,
}

/// One policy file of a bundle, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSource {
    /// Path inside the bundle (used in reports and to derive stable helper names).
    pub path: String,
    pub text: String,
    pub version: RegoVersion,
}

impl ModuleSource {
    pub fn new(path: impl Into<String>, text: impl Into<String>, version: RegoVersion) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
            version,
        }
    }
}

/// An `import` of a module: the imported path (e.g. `["data","lib"]`) and the name it binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportInfo {
    pub path: Vec<String>,
    /// The local name: the `as` alias, or the last path segment.
    pub name: String,
}

/// A successfully parsed module.
pub struct ParsedModule {
    pub path: String,
    pub text: String,
    pub version: RegoVersion,
    /// The regorus AST; every node carries a byte span into `text`.
    pub module: Module,
    /// Package path without the leading `data` (e.g. `["authz","rules"]`).
    pub package: Vec<String>,
    pub imports: Vec<ImportInfo>,
    /// Whether the module is parsed with v1 keywords/syntax (a v1 module, or a v0 module that
    /// imports `rego.v1`): generated code must then use `if` and `contains`.
    pub v1_syntax: bool,
}

impl std::fmt::Debug for ParsedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedModule")
            .field("path", &self.path)
            .field("package", &self.package)
            .finish_non_exhaustive()
    }
}

/// Why a module could not be analysed. Such a module is carried through unchanged.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error(
        "{path}:{line}: too deeply nested to analyse ({depth} levels of brackets; limit {limit})"
    )]
    TooDeep {
        path: String,
        line: usize,
        depth: usize,
        limit: usize,
    },
    #[error("{path}:{line}: NUL byte in the module; OPA ignores everything after it, so regopt leaves the module alone")]
    NulByte { path: String, line: usize },
    #[error("{path}:{line}: number {number} has more than {MAX_NUMBER_DIGITS} digits or an exponent above {MAX_NUMBER_EXPONENT}; regorus would take unbounded time to read it, so regopt leaves the module alone")]
    HugeNumber {
        path: String,
        line: usize,
        number: String,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
}

/// Literal nesting above this depth is refused: the regorus parser backtracks on `[`/`{` and its
/// time grows about 4x per level (depth 20 takes ~35 s).
pub const MAX_NESTING: usize = 12;

/// Largest module accepted, in bytes (regorus' own default is 1 MiB).
const MAX_FILE_BYTES: usize = 256 * 1024 * 1024;
const MAX_LINES: usize = 10_000_000;
const MAX_COL: u32 = 1_000_000_000;

/// Number literals with more digits than this (integer and fraction together) are refused:
/// regorus turns every literal into a big integer, in time that grows with the square of its
/// digits (a million digits take ~5 s). No float64 needs more than 800.
pub const MAX_NUMBER_DIGITS: u64 = 1_000;

/// Number literals whose exponent is above this (either sign) are refused: regorus computes
/// `10^exponent` exactly, and `4E444444444` never finishes (a fuzz finding).
pub const MAX_NUMBER_EXPONENT: u64 = 1_000;

/// What the pre-scan of a module or a JSON text found regorus could not handle in bounded time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanProblem {
    /// Bracket nesting above the limit: (depth, line).
    TooDeep(usize, usize),
    /// A number literal beyond [`MAX_NUMBER_DIGITS`] or [`MAX_NUMBER_EXPONENT`]: its line and
    /// its first characters.
    HugeNumber(usize, String),
}

/// One pass over Rego (or JSON) text outside strings, raw strings, comments and identifiers:
/// the first bracket nesting above `nesting` or number literal regorus could not read in
/// bounded time. JSON has none of `#`, backquotes or identifiers with digits, so the same scan
/// serves data documents.
pub fn prescan(text: &str, nesting: usize) -> Option<ScanProblem> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    let mut line = 1usize;
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' | b'(' => {
                depth += 1;
                if depth > nesting {
                    return Some(ScanProblem::TooDeep(depth, line));
                }
            }
            b']' | b'}' | b')' => depth = depth.saturating_sub(1),
            c if c == b'_' || c.is_ascii_alphabetic() => {
                while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                continue;
            }
            c if c.is_ascii_digit() => {
                let start = i;
                let (end, huge) = number_at(b, i);
                if huge {
                    let shown = &text[start..end.min(start + 24)];
                    let more = if end > start + 24 { "…" } else { "" };
                    return Some(ScanProblem::HugeNumber(line, format!("{shown}{more}")));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The end of the number literal starting at `b[i]` (a digit), read as regorus' lexer does
/// (digits, `.` and digits, `e`/`E`, a sign and digits), and whether it is beyond the limits.
fn number_at(b: &[u8], mut i: usize) -> (usize, bool) {
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        s
    };
    let mut count = {
        let s = digits(&mut i);
        (i - s) as u64
    };
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        let s = digits(&mut i);
        count += (i - s) as u64;
    }
    let mut exponent = 0u64;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let s = digits(&mut i);
        for &d in &b[s..i] {
            exponent = exponent
                .saturating_mul(10)
                .saturating_add(u64::from(d - b'0'));
        }
    }
    (
        i,
        count > MAX_NUMBER_DIGITS || exponent > MAX_NUMBER_EXPONENT,
    )
}

/// Parse one module. v0 modules are parsed with v0 keywords (regorus may print a warning to
/// stderr itself when a v0 module uses `if` without importing it; the module then fails to
/// parse here as it would in OPA).
pub fn parse_module(src: &ModuleSource) -> Result<ParsedModule, ParseError> {
    // OPA's scanner (and regorus' lexer) stop reading at a NUL byte; any edit planned against
    // such a module could land after it and be silently dropped, so it is not analysed.
    if let Some(pos) = src.text.find('\0') {
        return Err(ParseError::NulByte {
            path: src.path.clone(),
            line: line_col(&src.text, pos).0,
        });
    }
    match prescan(&src.text, MAX_NESTING) {
        Some(ScanProblem::TooDeep(depth, line)) => {
            return Err(ParseError::TooDeep {
                path: src.path.clone(),
                line,
                depth,
                limit: MAX_NESTING,
            })
        }
        Some(ScanProblem::HugeNumber(line, number)) => {
            return Err(ParseError::HugeNumber {
                path: src.path.clone(),
                line,
                number,
            })
        }
        None => {}
    }
    let syntax = |e: String| ParseError::Syntax {
        path: src.path.clone(),
        message: e.trim().to_string(),
    };
    let source = Source::from_contents_with_limits(
        src.path.clone(),
        src.text.clone(),
        NonZeroUsize::new(MAX_FILE_BYTES).unwrap_or(NonZeroUsize::MIN),
        NonZeroUsize::new(MAX_LINES).unwrap_or(NonZeroUsize::MIN),
    )
    .map_err(|e| syntax(e.to_string()))?;
    let mut parser = Parser::new(&source).map_err(|e| syntax(e.to_string()))?;
    parser.set_max_col(NonZeroU32::new(MAX_COL).unwrap_or(NonZeroU32::MIN));
    if src.version == RegoVersion::V1 {
        parser.enable_rego_v1().map_err(|e| syntax(e.to_string()))?;
    }
    let module = parser.parse().map_err(|e| syntax(e.to_string()))?;
    let package = ast::static_path(&module.package.refr)
        .ok_or_else(|| syntax("package path is not a static reference".into()))?;
    // regorus keeps the package path without `data`; strip it if present for safety.
    let package = match package.first().map(String::as_str) {
        Some("data") => package[1..].to_vec(),
        _ => package,
    };
    let mut imports = Vec::new();
    for imp in &module.imports {
        let path = ast::static_path(&imp.refr)
            .ok_or_else(|| syntax("import path is not a static reference".into()))?;
        let name = match &imp.r#as {
            Some(s) => s.text().to_string(),
            None => path.last().cloned().unwrap_or_default(),
        };
        imports.push(ImportInfo { path, name });
    }
    let v1_syntax = src.version == RegoVersion::V1 || module.rego_v1;
    Ok(ParsedModule {
        path: src.path.clone(),
        text: src.text.clone(),
        version: src.version,
        module,
        package,
        imports,
        v1_syntax,
    })
}

impl ParsedModule {
    /// 1-based (line, column) of a byte offset (column counted in characters).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.text, offset)
    }

    /// Whether the module imports `future.keywords` (all) or `future.keywords.<kw>`.
    pub fn has_future_keyword(&self, kw: &str) -> bool {
        self.imports.iter().any(|i| {
            i.path.len() >= 2
                && i.path[0] == "future"
                && i.path[1] == "keywords"
                && (i.path.len() == 2 || i.path[2] == kw)
        })
    }
}

/// 1-based (line, column) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = match before.rfind('\n') {
        Some(p) => before[p + 1..].chars().count() + 1,
        None => before.chars().count() + 1,
    };
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Why regorus could not read `text` (a module, a data document or an input) in bounded time,
/// if so: the line and a message naming a number beyond [`MAX_NUMBER_DIGITS`] or
/// [`MAX_NUMBER_EXPONENT`]. (`parse_module` applies the same bound through [`prescan`].)
pub fn unreadable_number(text: &str) -> Option<(usize, String)> {
    match prescan(text, usize::MAX) {
        Some(ScanProblem::HugeNumber(line, number)) => Some((line, format!(
            "number {number} has more than {MAX_NUMBER_DIGITS} digits or an exponent above {MAX_NUMBER_EXPONENT}, which regorus would take unbounded time to read"
        ))),
        _ => None,
    }
}
