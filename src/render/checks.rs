//! Checks on a rendered platform, file by file (used after every render and by `--check`):
//! every document parses and names its `apiVersion`, `kind` and `metadata.name`; no object is
//! defined twice; no API version is one the locked Kubernetes no longer serves; every custom
//! resource matches the `openAPIV3Schema` of its CRD from the same output (a custom resource whose
//! CRD is neither in the platform nor built in is a problem); every image is pinned by the lock's
//! digest, is in the lock and is pulled from the mirror when there is one. Problems name the file,
//! the document (1-based) and the field path.
//!
//! Built-in kinds are checked against the OpenAPI schemas of the locked Kubernetes minor by
//! `scripts/validate-manifests` (`kubernetes-validate`), which the test suite runs on every render.

use std::collections::BTreeMap;

use super::engine::{Crd, kind_name, use_of};
use super::image::{RegistryPrefix as Mirror, is_pinned};
use super::images::{self, Index, Match};
use super::removed_apis::removed;
use super::yaml::{self, Node};
use super::{ImageUse, Problem};
use crate::lock::Lock;

/// API groups Kubernetes itself serves (kinds of these groups need no CRD).
pub(crate) const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Kinds whose CRDs may come from outside the checked files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum External {
    /// Every CRD must be in the output.
    None,
    /// Flux delivery: the charts' CRDs arrive when Flux installs the charts, and Flux's own when
    /// the lock has no `flux` (a cluster that already runs Flux).
    FluxCharts,
}

/// What the checks found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    /// Problems.
    pub problems: Vec<Problem>,
    /// Every image and the objects that use it.
    pub images: Vec<ImageUse>,
}

fn group_of(api: &str) -> &str {
    api.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Checks every manifest in `files` (see the module docs).
pub(crate) fn check(
    files: &BTreeMap<String, String>,
    lock: &Lock,
    mirror: Option<&Mirror>,
    allow_tags: bool,
    external: External,
) -> Report {
    let kubernetes = &lock.kubernetes;
    let index = Index::new(lock);
    let mut report = Report::default();
    let mut parsed: Vec<(String, Vec<yaml::Doc>)> = Vec::new();
    for (file, text) in files {
        if !file.ends_with(".yaml") {
            continue;
        }
        match yaml::parse_stream(text) {
            Ok(docs) => {
                if docs.is_empty() {
                    report
                        .problems
                        .push(problem(file, None, "no documents".to_string()));
                }
                parsed.push((file.clone(), docs));
            }
            Err(e) => report.problems.push(problem(
                file,
                Some(e.document),
                format!("not valid YAML: {}", e.message),
            )),
        }
    }
    // CRDs of the platform: (group, kind) → CRD.
    let mut crds: BTreeMap<(String, String), Crd> = BTreeMap::new();
    for (_, docs) in &parsed {
        for d in docs {
            if let Some(c) = Crd::from(&d.node) {
                crds.insert((c.group.clone(), c.kind.clone()), c);
            }
        }
    }
    let mut seen: BTreeMap<(String, String, String, String), String> = BTreeMap::new();
    let mut uses: BTreeMap<String, ImageUse> = BTreeMap::new();
    // Calico's Installation: the registry its operator pulls from, and where it is written.
    let mut installation_registry: Option<String> = None;
    for (file, docs) in &parsed {
        for (i, d) in docs.iter().enumerate() {
            if let Some((r, _)) = images::operator_registry(&d.node) {
                installation_registry = Some(r.to_string());
                if let Some(m) = mirror {
                    if !r.starts_with(&format!("{m}/")) {
                        report.problems.push(problem(
                            file,
                            Some(i + 1),
                            format!(
                                "{}: spec.registry: `{r}` is not on the mirror {m}",
                                kind_name(&d.node)
                            ),
                        ));
                    }
                }
            }
        }
    }
    for (file, docs) in &parsed {
        let not_cluster = file == "kustomization.yaml" || file.starts_with("kubeadm/");
        for (i, d) in docs.iter().enumerate() {
            let n = i + 1;
            let node = &d.node;
            let mut push = |message: String| report.problems.push(problem(file, Some(n), message));
            let (Some(api), Some(kind)) = (node.str_at(&["apiVersion"]), node.str_at(&["kind"]))
            else {
                push("missing apiVersion or kind".to_string());
                continue;
            };
            if not_cluster {
                continue;
            }
            let Some(name) = node.str_at(&["metadata", "name"]) else {
                push(format!("{kind} has no metadata.name"));
                continue;
            };
            if let Some(r) = removed(api, kind, kubernetes.major(), kubernetes.minor()) {
                push(format!(
                    "{kind} {name}: {api} is not served by Kubernetes {}.{} (removed in {}.{}); use {}",
                    kubernetes.major(),
                    kubernetes.minor(),
                    r.removed_in.0,
                    r.removed_in.1,
                    r.replacement
                ));
            }
            let group = group_of(api).to_string();
            let ns = node
                .str_at(&["metadata", "namespace"])
                .unwrap_or("")
                .to_string();
            let key = (group.clone(), kind.to_string(), ns, name.to_string());
            if let Some(other) = seen.insert(key, file.clone()) {
                push(format!("{kind} {name} is also defined in {other}"));
            }
            // Custom resources against their CRD.
            if !BUILT_IN_GROUPS.contains(&group.as_str()) {
                let version = api.rsplit_once('/').map(|(_, v)| v).unwrap_or(api);
                match crds.get(&(group.clone(), kind.to_string())) {
                    None if external == External::FluxCharts => {}
                    None => push(format!(
                        "{kind} {name}: no CustomResourceDefinition for {kind} in {group} — it is not built \
                         into Kubernetes and the platform does not install it"
                    )),
                    Some(crd) => match crd.versions.iter().find(|v| v.name == version) {
                        None => push(format!(
                            "{kind} {name}: the CRD serves no version {version} ({})",
                            crd.versions
                                .iter()
                                .map(|v| v.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                        Some(v) if !v.served => push(format!(
                            "{kind} {name}: version {version} of the CRD is not served"
                        )),
                        Some(v) => {
                            if let Some(schema) = &v.schema {
                                for x in super::schema::check_resource(schema, &node.to_json()) {
                                    push(format!("{kind} {name}: {}: {}", x.path, x.message));
                                }
                            }
                        }
                    },
                }
            }
            // Images.
            for f in images::find(node) {
                let found = index.lookup_text(&f.text);
                let locked = match &found {
                    Some((_, Match::Locked(l))) => Some(*l),
                    _ => None,
                };
                let Some(l) = locked else {
                    push(format!(
                        "{}: {}: image `{}` is not in the lock",
                        kind_name(node),
                        f.path,
                        f.text
                    ));
                    continue;
                };
                let target = l.target(mirror);
                if f.text != target {
                    let why = if !allow_tags && !is_pinned(&f.text) {
                        "is not pinned by digest"
                    } else if mirror.is_some() {
                        "is not on the mirror"
                    } else {
                        "is not the locked reference"
                    };
                    push(format!(
                        "{}: {}: image `{}` {why} (want `{target}`)",
                        kind_name(node),
                        f.path,
                        f.text
                    ));
                }
                uses.entry(target.clone())
                    .or_insert_with(|| ImageUse {
                        image: target.clone(),
                        reference: l.reference.clone(),
                        component: l.component.clone(),
                        users: Vec::new(),
                    })
                    .users
                    .push(use_of(file, n, node, &f.path));
            }
            // Images an operator creates from an ImageSet.
            if kind == "ImageSet" && group == "operator.tigera.io" {
                if let Some(Node::Seq(items)) = node.get("spec").and_then(|s| s.get("images")) {
                    for (j, item) in items.iter().enumerate() {
                        let (Some(image), Some(digest)) =
                            (item.str_at(&["image"]), item.str_at(&["digest"]))
                        else {
                            continue;
                        };
                        let path = format!("spec.images[{j}]");
                        let Some(l) = index.all().iter().find(|l| {
                            l.image.repository() == image && l.digest.as_deref() == Some(digest)
                        }) else {
                            push(format!(
                                "ImageSet {name}: {path}: {image}@{digest} is not in the lock"
                            ));
                            continue;
                        };
                        let from = installation_registry
                            .clone()
                            .unwrap_or_else(|| format!("{}/", l.image.registry()));
                        let target = format!("{}{}@{digest}", from, l.image.repository());
                        uses.entry(target.clone())
                            .or_insert_with(|| ImageUse {
                                image: target.clone(),
                                reference: l.reference.clone(),
                                component: l.component.clone(),
                                users: Vec::new(),
                            })
                            .users
                            .push(use_of(file, n, node, &path));
                    }
                }
            }
        }
    }
    report.images = uses.into_values().collect();
    report
}

fn problem(file: &str, document: Option<usize>, message: String) -> Problem {
    Problem {
        file: file.to_string(),
        document,
        message,
    }
}
