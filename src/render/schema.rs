//! Checking custom resources against the `openAPIV3Schema` of their CustomResourceDefinition.
//!
//! CRD schemas are *structural* OpenAPI v3 schemas (Kubernetes "Specifying a structural schema"):
//! every field has a type, `properties`/`additionalProperties`/`items` describe what may appear,
//! and `anyOf`/`allOf`/`oneOf`/`not` only add value checks. This module checks what the API server
//! checks from the schema itself: types (with `nullable`, `x-kubernetes-int-or-string`,
//! `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-embedded-resource`), unknown fields (as
//! `kubectl apply` with its default `--validate=strict` reports them), `required`, `enum`,
//! numeric and length bounds and the junctors. Not checked: `pattern`, `format`, and CEL rules
//! (`x-kubernetes-validations`), which need a regular-expression and a CEL engine.

use serde_json::Value;

/// A violation: the field path (`spec.replicas`, `spec.ports[0].name`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// Where.
    pub path: String,
    /// What.
    pub message: String,
}

/// Checks a whole custom resource (`apiVersion`, `kind` and `metadata` are the API server's and
/// are not checked against the schema, as for any object).
pub(crate) fn check_resource(schema: &Value, object: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(obj) = object.as_object() else {
        out.push(Violation {
            path: String::new(),
            message: "the object is not a mapping".to_string(),
        });
        return out;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    for (k, v) in obj {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(k)) {
            Some(s) => check(s, v, k, true, &mut out),
            None if preserve => {}
            None => out.push(Violation {
                path: k.clone(),
                message: "unknown field (not in the CRD's schema)".to_string(),
            }),
        }
    }
    required(schema, obj, "", &mut out);
    out
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn required(
    schema: &Value,
    obj: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<Violation>,
) {
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if obj.get(r).is_none_or(Value::is_null) {
            out.push(Violation {
                path: child(path, r),
                message: "required field is missing".to_string(),
            });
        }
    }
}

/// `strict`: unknown fields are violations (off inside junctor branches, which describe only part
/// of an object).
fn check(schema: &Value, v: &Value, path: &str, strict: bool, out: &mut Vec<Violation>) {
    if v.is_null() {
        // The API server drops nulls of non-nullable fields before validating; nothing to check.
        return;
    }
    let int_or_string = flag(schema, "x-kubernetes-int-or-string");
    let ty = schema.get("type").and_then(Value::as_str);
    let actual = type_name(v);
    let type_ok = if int_or_string {
        matches!(actual, "integer" | "string")
    } else {
        match ty {
            None => true,
            Some("number") => matches!(actual, "number" | "integer"),
            Some("integer") => actual == "integer" || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            Some(t) => t == actual,
        }
    };
    if !type_ok {
        let want = if int_or_string {
            "integer or string"
        } else {
            ty.unwrap_or("?")
        };
        out.push(Violation {
            path: path.to_string(),
            message: format!("must be {want}, not {actual}"),
        });
        return;
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        let allowed: Vec<String> = e.iter().map(Value::to_string).collect();
        out.push(Violation {
            path: path.to_string(),
            message: format!("{v} is not one of {}", allowed.join(", ")),
        });
    }
    bounds(schema, v, path, out);
    match v {
        Value::Object(obj) => {
            let embedded = flag(schema, "x-kubernetes-embedded-resource");
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, x) in obj {
                let p = child(path, k);
                if let Some(s) = props.and_then(|m| m.get(k)) {
                    check(s, x, &p, strict, out);
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    check(a, x, &p, strict, out);
                } else if additional.and_then(Value::as_bool) == Some(true)
                    || preserve
                    || (embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    || !strict
                {
                } else {
                    out.push(Violation {
                        path: p,
                        message: "unknown field (not in the CRD's schema)".to_string(),
                    });
                }
            }
            required(schema, obj, path, out);
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, x) in items.iter().enumerate() {
                    check(s, x, &format!("{path}[{i}]"), strict, out);
                }
            }
        }
        _ => {}
    }
    junctors(schema, v, path, out);
}

fn bounds(schema: &Value, v: &Value, path: &str, out: &mut Vec<Violation>) {
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    let int = |k: &str| schema.get(k).and_then(Value::as_u64);
    let mut bad = |message: String| {
        out.push(Violation {
            path: path.to_string(),
            message,
        })
    };
    if let Some(x) = v.as_f64() {
        let excl_min = flag(schema, "exclusiveMinimum");
        let excl_max = flag(schema, "exclusiveMaximum");
        if let Some(m) = num("minimum")
            && (x < m || (excl_min && x == m))
        {
            bad(format!("{x} is less than the minimum {m}"));
        }
        if let Some(m) = num("maximum")
            && (x > m || (excl_max && x == m))
        {
            bad(format!("{x} is more than the maximum {m}"));
        }
    }
    let len = match v {
        Value::String(s) => Some((
            s.chars().count() as u64,
            "minLength",
            "maxLength",
            "characters",
        )),
        Value::Array(a) => Some((a.len() as u64, "minItems", "maxItems", "items")),
        Value::Object(o) => Some((
            o.len() as u64,
            "minProperties",
            "maxProperties",
            "properties",
        )),
        _ => None,
    };
    if let Some((n, min, max, what)) = len {
        if let Some(m) = int(min)
            && n < m
        {
            bad(format!("has {n} {what}, fewer than {m}"));
        }
        if let Some(m) = int(max)
            && n > m
        {
            bad(format!("has {n} {what}, more than {m}"));
        }
    }
}

fn passes(schema: &Value, v: &Value, path: &str) -> bool {
    let mut tmp = Vec::new();
    check(schema, v, path, false, &mut tmp);
    tmp.is_empty()
}

fn junctors(schema: &Value, v: &Value, path: &str, out: &mut Vec<Violation>) {
    let list = |k: &str| schema.get(k).and_then(Value::as_array);
    if let Some(all) = list("allOf") {
        for s in all {
            check(s, v, path, false, out);
        }
    }
    if let Some(any) = list("anyOf")
        && !any.iter().any(|s| passes(s, v, path))
    {
        out.push(Violation {
            path: path.to_string(),
            message: "matches none of the schema's anyOf alternatives".to_string(),
        });
    }
    if let Some(one) = list("oneOf") {
        let n = one.iter().filter(|s| passes(s, v, path)).count();
        if n != 1 {
            out.push(Violation {
                path: path.to_string(),
                message: format!(
                    "matches {n} of the schema's oneOf alternatives (must be exactly one)"
                ),
            });
        }
    }
    if let Some(not) = schema.get("not")
        && passes(not, v, path)
    {
        out.push(Violation {
            path: path.to_string(),
            message: "matches the schema's `not`".to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "minLength": 1},
                        "replicas": {"type": "integer", "minimum": 0},
                        "port": {"x-kubernetes-int-or-string": true},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "ports": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                        "either": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                                   "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}
                    }
                }
            }
        })
    }

    #[test]
    fn a_valid_resource_passes() {
        let r = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
            "spec": {"image": "i", "replicas": 2, "port": "http", "mode": "a", "labels": {"x": "y"},
                     "extra": {"anything": [1]}, "ports": [{"name": "p"}], "either": {"a": "1"}}});
        assert_eq!(check_resource(&schema(), &r), vec![]);
    }

    #[test]
    fn violations_name_their_paths() {
        let r = json!({"spec": {"replicas": "two", "port": 1.5, "mode": "c", "labels": {"x": 1},
                      "ports": [{"name": "p", "nope": 1}], "either": {"a": "1", "b": "2"}, "typo": 1},
                       "status2": {}});
        let v: Vec<String> = check_resource(&schema(), &r)
            .into_iter()
            .map(|v| format!("{}: {}", v.path, v.message))
            .collect();
        let want = [
            "spec.replicas: must be integer, not string",
            "spec.port: must be integer or string, not number",
            "spec.mode: \"c\" is not one of \"a\", \"b\"",
            "spec.labels.x: must be string, not integer",
            "spec.ports[0].nope: unknown field (not in the CRD's schema)",
            "spec.either: matches 2 of the schema's oneOf alternatives (must be exactly one)",
            "spec.typo: unknown field (not in the CRD's schema)",
            "spec.image: required field is missing",
            "status2: unknown field (not in the CRD's schema)",
        ];
        for w in want {
            assert!(v.iter().any(|x| x == w), "missing `{w}` in {v:#?}");
        }
        assert_eq!(v.len(), want.len(), "{v:#?}");
    }
}
