//! `data.yaml` / `data.yml`: converted to JSON the way OPA's `util.Unmarshal`
//! (sigs.k8s.io/yaml) sees it, for analysis only — the YAML bytes themselves
//! are written back unchanged, so OPA reads exactly what it read before.

use serde_yaml::Value as Yaml;

use super::json::{self, write_string};

/// Convert YAML to compact JSON. Non-string mapping keys become their text,
/// as sigs.k8s.io/yaml does.
pub fn to_json(bytes: &[u8], limits: &json::Limits) -> Result<Vec<u8>, String> {
    // serde_yaml bounds recursion (128 levels) and alias expansion itself.
    let value: Yaml = serde_yaml::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    write(&value, &mut text)?;
    let mut out = Vec::with_capacity(text.len());
    json::compact(&text, limits, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn write(v: &Yaml, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Yaml::Null => out.extend_from_slice(b"null"),
        Yaml::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Yaml::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if !f.is_finite() {
                    return Err(format!("number {n} has no JSON form"));
                }
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Yaml::String(s) => write_string(out, s),
        Yaml::Sequence(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Yaml::Mapping(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Null => "null".to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    _ => return Err("mapping key must be a scalar".into()),
                };
                write_string(out, &key);
                out.push(b':');
                write(item, out)?;
            }
            out.push(b'}');
        }
        Yaml::Tagged(t) => write(&t.value, out)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_documents() {
        let j = to_json(b"a: 1\nb: [x, true, null]\n3: y\n", &Default::default()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v["a"], serde_json::json!(1));
        assert_eq!(v["b"], serde_json::json!(["x", true, null]));
        assert_eq!(v["3"], serde_json::json!("y"));
        assert!(to_json(b"a: [1\n", &Default::default()).is_err());
    }
}
