//! The closed world: entrypoints from `-e/--entrypoint` and `# METADATA` `entrypoint: true`
//! annotations, the reserved data path where regopt stores the documents it generates
//! (indexes, precomputed values), and reading/writing those documents.
//!
//! Without entrypoints the world is open: a client may query any path of `data` and may replace
//! any document with `with` in its query, so nothing that holds only for the bundle's own data
//! is done (no index, no precomputed value, no pruning).

use std::collections::BTreeMap;

use crate::bundle::{Bundle, BundleFile, FileKind};
use crate::data::json::{self, Kind};
use crate::passes::ClosedWorld;
use crate::rego::refs::{self, DataPath};
use crate::rego::{ast, ParsedModule};

/// Last segment of the reserved path: `data.__regopt__` when the bundle owns all of `data`,
/// else `data.<root>.__regopt__` for the first root where nothing conflicts.
pub const RESERVED_KEY: &str = "__regopt__";

/// Parse an entrypoint as `opa build -e` takes it: `authz/allow`, also `data.authz.allow`,
/// `authz.allow` or `data/authz/allow`.
pub fn parse_entrypoint(s: &str) -> Result<DataPath, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("data/")
        .or_else(|| t.strip_prefix("data."))
        .unwrap_or(if t == "data" { "" } else { t });
    let segs: Vec<String> = if t.contains('/') {
        t.split('/').map(str::to_string).collect()
    } else {
        t.split('.').map(str::to_string).collect()
    };
    if segs.iter().any(String::is_empty) {
        return Err(format!(
            "entrypoint `{s}` is not a path such as `authz/allow` (empty segment)"
        ));
    }
    Ok(segs)
}

/// Entrypoints declared in a module's `# METADATA` blocks with `entrypoint: true`: the rule
/// (or, for a block before the `package` line, the package) that follows the block.
pub fn metadata_entrypoints(m: &ParsedModule) -> Vec<DataPath> {
    let mut out = Vec::new();
    let text = &m.text;
    let mut offset = 0usize;
    let mut in_block = false;
    let mut entry = false;
    let mut block_end = 0usize;
    let mut ends = Vec::new();
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if let Some(c) = t.strip_prefix('#') {
            let c = c.trim();
            if c == "METADATA" {
                if in_block && entry {
                    ends.push(block_end);
                }
                in_block = true;
                entry = false;
            } else if in_block && c.replace(' ', "") == "entrypoint:true" {
                entry = true;
            }
            block_end = offset + line.len();
        } else if in_block {
            if entry {
                ends.push(block_end);
            }
            in_block = false;
            entry = false;
        }
        offset += line.len();
    }
    if in_block && entry {
        ends.push(block_end);
    }
    let package_start = m.module.package.span.start as usize;
    for end in ends {
        if end <= package_start {
            out.push(m.package.clone());
            continue;
        }
        let next = m
            .module
            .policy
            .iter()
            .filter(|r| ast::rule_range(r).0 >= end)
            .min_by_key(|r| ast::rule_range(r).0);
        if let Some(rule) = next {
            out.push(refs::rule_path(m, rule));
        }
    }
    out
}

/// Build the closed world for a bundle: the entrypoints (given plus annotated) and the reserved
/// path. None when there are no entrypoints.
pub fn closed_world(
    bundle: &Bundle,
    parsed: &[ParsedModule],
    unparsed: &[(String, String)],
    given: &[DataPath],
) -> Option<ClosedWorld> {
    let mut entrypoints: Vec<DataPath> = given.to_vec();
    for m in parsed {
        entrypoints.extend(metadata_entrypoints(m));
    }
    entrypoints.sort();
    entrypoints.dedup();
    if entrypoints.is_empty() {
        return None;
    }
    let reserved = choose_reserved(bundle, parsed, unparsed, &entrypoints);
    Some(ClosedWorld {
        entrypoints,
        reserved,
    })
}

fn own_file_path(reserved: &[String]) -> String {
    format!("{}/data.json", reserved.join("/"))
}

fn choose_reserved(
    bundle: &Bundle,
    parsed: &[ParsedModule],
    unparsed: &[(String, String)],
    entrypoints: &[DataPath],
) -> Result<Vec<String>, String> {
    if let Some((file, why)) = unparsed.first() {
        return Err(format!("module {file} could not be parsed: {why}"));
    }
    let mut roots = bundle.roots();
    roots.sort();
    let candidates: Vec<Vec<String>> = if roots.iter().any(String::is_empty) {
        vec![vec![RESERVED_KEY.to_string()]]
    } else {
        roots
            .iter()
            .map(|r| {
                let mut p: Vec<String> = r.split('/').map(str::to_string).collect();
                p.push(RESERVED_KEY.to_string());
                p
            })
            .collect()
    };
    // An earlier run's reserved path (its own data file exists) comes first while it is still
    // usable: the choice depends on what the modules read, which the rewrites change.
    let mut candidates = candidates;
    candidates.sort_by_key(|c| {
        let own = own_file_path(c);
        !bundle.files.iter().any(|f| f.path == own)
    });
    let mut why = Vec::new();
    for c in candidates {
        let own = own_file_path(&c);
        let foreign = bundle.files.iter().find(|f| {
            matches!(f.kind, FileKind::DataJson | FileKind::DataYaml)
                && f.path != own
                && refs::overlaps(&f.data_segments(), &c)
                && (f.data_segments().len() >= c.len()
                    || f.data_value().is_some_and(|v| {
                        let mut v = v;
                        for seg in &c[f.data_segments().len()..] {
                            // A non-object on the way cannot take the documents (OPA refuses
                            // to merge `a/__regopt__/data.json` into an array at `a`).
                            if v.kind() != Kind::Object {
                                return true;
                            }
                            match v.get(seg) {
                                Some(x) => v = x,
                                None => return false,
                            }
                        }
                        true
                    }))
        });
        if let Some(f) = foreign {
            why.push(format!(
                "{}: data file {} already has data there",
                ast::render_data_path(&c),
                f.path
            ));
            continue;
        }
        match refs::reserved_conflict(parsed, &c, entrypoints) {
            Some(reason) => why.push(format!("{}: {reason}", ast::render_data_path(&c))),
            None => return Ok(c),
        }
    }
    Err(format!(
        "no reserved path for generated documents ({})",
        why.join("; ")
    ))
}

/// Documents regopt generated in an earlier run (the reserved path's own `data.json`).
pub fn existing_generated(bundle: &Bundle, reserved: &[String]) -> BTreeMap<String, Vec<u8>> {
    let own = own_file_path(reserved);
    let mut out = BTreeMap::new();
    if let Some(v) = bundle
        .files
        .iter()
        .find(|f| f.path == own)
        .and_then(BundleFile::data_value)
    {
        if v.kind() == Kind::Object {
            for (k, doc) in v.members() {
                out.insert(k.into_owned(), doc.as_bytes().to_vec());
            }
        }
    }
    out
}

/// Write the generated documents as the reserved path's own `data.json` (replacing an earlier
/// one). Nothing is written when `docs` is empty.
pub fn store_generated(bundle: &mut Bundle, reserved: &[String], docs: &BTreeMap<String, Vec<u8>>) {
    if docs.is_empty() {
        return;
    }
    let mut bytes = Vec::with_capacity(docs.values().map(|d| d.len() + 32).sum());
    json::write_object(
        &mut bytes,
        docs.iter()
            .map(|(name, doc)| (name.as_str(), doc.as_slice())),
    );
    debug_assert!(json::compact(&bytes, &json::Limits::default(), &mut Vec::new()).is_ok());
    let path = own_file_path(reserved);
    if let Some(f) = bundle.files.iter_mut().find(|f| f.path == path) {
        f.bytes = bytes;
        f.compact_json = None;
        return;
    }
    let at = bundle.files.partition_point(|f| f.path < path);
    bundle.files.insert(
        at,
        BundleFile {
            name: format!("/{path}"),
            path,
            kind: FileKind::DataJson,
            bytes,
            original_size: 0,
            compact_json: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rego::{parse_module, ModuleSource, RegoVersion};

    #[test]
    fn entrypoint_forms() {
        let want = vec!["authz".to_string(), "allow".to_string()];
        for s in [
            "authz/allow",
            "data.authz.allow",
            "authz.allow",
            "data/authz/allow",
        ] {
            assert_eq!(parse_entrypoint(s).unwrap(), want, "{s}");
        }
        assert!(parse_entrypoint("authz//allow").is_err());
    }

    #[test]
    fn metadata_entrypoints_found() {
        let text = "# METADATA\n# entrypoint: true\npackage p\n\n# METADATA\n# title: x\n# entrypoint: true\nallow if input.x\n\n# METADATA\n# title: y\nother := 1\n";
        let m = parse_module(&ModuleSource::new(
            "p.rego".to_string(),
            text.to_string(),
            RegoVersion::V1,
        ))
        .unwrap();
        let got = metadata_entrypoints(&m);
        assert_eq!(
            got,
            vec![
                vec!["p".to_string()],
                vec!["p".to_string(), "allow".to_string()]
            ]
        );
    }
}
