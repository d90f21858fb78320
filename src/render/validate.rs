//! Checks on rendered output: documents parse, name themselves, use served APIs, pin images.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Output;
use super::image::is_pinned;
use super::removed_apis::removed;
use crate::types::Version;

/// A problem in the rendered output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (relative to the output directory).
    pub file: String,
    /// The 1-based document within the file, when the problem is in one.
    pub document: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.document {
            Some(d) => write!(f, "{} (document {d}): {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Checks every manifest of `out` for Kubernetes `kubernetes`: each YAML document parses, has
/// `apiVersion`, `kind` and `metadata.name`, uses no API version removed by that Kubernetes, and
/// (unless `allow_tags`) every `image` value is `REPOSITORY@sha256:…`. No object is defined twice.
/// The kubeadm configuration must parse and name its apiVersion and kind.
pub fn validate(out: &Output, kubernetes: &Version, allow_tags: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(String, String, String, String), String> = BTreeMap::new();
    for (file, text) in &out.files {
        if !file.ends_with(".yaml") {
            continue;
        }
        let mut problem = |document: Option<usize>, message: String| {
            problems.push(Problem {
                file: file.clone(),
                document,
                message,
            })
        };
        let docs: Vec<Value> = match serde_saphyr::from_multiple(text) {
            Ok(d) => d,
            Err(e) => {
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                problem(None, format!("not valid YAML: {first}"));
                continue;
            }
        };
        let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
        if docs.is_empty() {
            problem(None, "no documents".to_string());
        }
        for (i, doc) in docs.iter().enumerate() {
            let n = Some(i + 1);
            let str_at = |path: &[&str]| {
                path.iter()
                    .try_fold(doc, |v, k| v.get(k))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            let (Some(api), Some(kind)) = (str_at(&["apiVersion"]), str_at(&["kind"])) else {
                problem(n, "missing apiVersion or kind".to_string());
                continue;
            };
            if file == "kustomization.yaml" || file.starts_with("kubeadm/") {
                continue;
            }
            let Some(name) = str_at(&["metadata", "name"]) else {
                problem(n, format!("{kind} has no metadata.name"));
                continue;
            };
            if let Some(r) = removed(api, kind, kubernetes.major(), kubernetes.minor()) {
                problem(
                    n,
                    format!(
                        "{kind} {name}: {api} is not served by Kubernetes {}.{} (removed in {}.{}); use {}",
                        kubernetes.major(),
                        kubernetes.minor(),
                        r.removed_in.0,
                        r.removed_in.1,
                        r.replacement
                    ),
                );
            }
            let group = api
                .rsplit_once('/')
                .map(|(g, _)| g)
                .unwrap_or("")
                .to_string();
            let ns = str_at(&["metadata", "namespace"]).unwrap_or("").to_string();
            let key = (group, kind.to_string(), ns, name.to_string());
            if let Some(other) = seen.insert(key, file.clone()) {
                problem(n, format!("{kind} {name} is also defined in {other}"));
            }
            if !allow_tags {
                let mut images = Vec::new();
                collect_images(doc, &mut images);
                for image in images {
                    if !is_pinned(&image) {
                        problem(
                            n,
                            format!("{kind} {name}: image `{image}` is not pinned by digest"),
                        );
                    }
                }
            }
        }
    }
    problems
}

/// Every string under an `image` key, anywhere in the document.
fn collect_images(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(s) if k == "image" => out.push(s.clone()),
                    _ => collect_images(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_images(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(files: &[(&str, &str)]) -> Output {
        Output {
            files: files
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            unrendered: vec![],
            problems: vec![],
            images: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn finds_problems() {
        let o = out(&[
            (
                "a/x.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: quay.io/x:1\n",
            ),
            (
                "a/y.yaml",
                "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata:\n  name: f\n---\nkind: X\n",
            ),
            ("a/z.yaml", "a: [\n"),
        ]);
        let p = validate(&o, &Version::new(1, 32, 0), false);
        let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 4, "{text:#?}");
        assert!(text[0].contains("not pinned"));
        assert!(text[1].contains("removed in 1.32"));
        assert!(text[2].contains("missing apiVersion"));
        assert!(text[3].contains("not valid YAML"));
        assert_eq!(validate(&o, &Version::new(1, 32, 0), true).len(), 3);
    }
}
