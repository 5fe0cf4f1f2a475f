//! Reads a module's `package` clause without a full parse, for the manifest
//! roots check (OPA: "manifest roots [...] do not permit '...' in module").

/// The package path of a module (segments after `data`), or `None` when the
/// clause uses syntax this scanner does not follow (the caller then skips
/// the roots check for that module rather than refuse a bundle OPA accepts).
pub fn package_path(text: &str) -> Option<Vec<String>> {
    let b = text.as_bytes();
    let mut i = skip_space_and_comments(b, 0);
    if !b[i..].starts_with(b"package") {
        return None;
    }
    i += "package".len();
    if i >= b.len() || !b[i].is_ascii_whitespace() {
        return None;
    }
    i = skip_inline_space(b, i);
    let mut segs = Vec::new();
    let (first, mut j) = ident(b, i)?;
    segs.push(first);
    loop {
        match b.get(j) {
            Some(b'.') => {
                let (s, k) = ident(b, j + 1)?;
                segs.push(s);
                j = k;
            }
            Some(b'[') => {
                let k = j + 1;
                if b.get(k) != Some(&b'"') {
                    return None;
                }
                let end = k + 1 + b[k + 1..].iter().position(|&c| c == b'"' || c == b'\\')?;
                if b[end] != b'"' || b.get(end + 1) != Some(&b']') {
                    return None; // escapes inside: leave to the real parser
                }
                segs.push(text[k + 1..end].to_string());
                j = end + 2;
            }
            _ => break,
        }
    }
    // A leading `data` segment is how OPA writes the package ref internally;
    // `package data.x` is not valid Rego, so this is only defensive.
    Some(segs)
}

fn skip_space_and_comments(b: &[u8], mut i: usize) -> usize {
    // A UTF-8 byte-order mark is not Rego; stop there and let the caller fail.
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else {
            return i;
        }
    }
}

fn skip_inline_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

fn ident(b: &[u8], i: usize) -> Option<(String, usize)> {
    let start = i;
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    if j == start || b[start].is_ascii_digit() {
        return None;
    }
    Some((String::from_utf8(b[start..j].to_vec()).ok()?, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_forms() {
        assert_eq!(package_path("package a.b\n").unwrap(), vec!["a", "b"]);
        assert_eq!(
            package_path("# c\n\n  # d\npackage authz\nimport rego.v1").unwrap(),
            vec!["authz"]
        );
        assert_eq!(
            package_path("package a[\"b-c\"].d").unwrap(),
            vec!["a", "b-c", "d"]
        );
        assert!(package_path("allow := true").is_none());
        assert!(package_path("packagex").is_none());
    }
}
