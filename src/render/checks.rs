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

use serde_json::Value;

use super::image::{RegistryPrefix as Mirror, is_pinned};
use super::images::{self, Index, Locked, Match};
use super::removed_apis::removed;
use super::yaml::{self, Node};
use super::{ImageUse, ImageUser, Problem};
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
    let mut problems = Vec::new();
    let parsed = parse_files(files, &mut problems);
    let installation_registry = installation_registry(&parsed, mirror, &mut problems);
    let mut documents = Documents {
        lock,
        index: Index::new(lock),
        crds: crds_of(&parsed),
        mirror,
        allow_tags,
        external,
        installation_registry,
        seen: BTreeMap::new(),
        uses: BTreeMap::new(),
        problems,
    };
    for (file, docs) in &parsed {
        let not_cluster = file == "kustomization.yaml" || file.starts_with("kubeadm/");
        for (i, d) in docs.iter().enumerate() {
            documents.document(file, i + 1, &d.node, not_cluster);
        }
    }
    Report {
        problems: documents.problems,
        images: documents.uses.into_values().collect(),
    }
}

/// Every `.yaml` file parsed into documents; a file that does not parse, or holds no document, is
/// a problem.
fn parse_files(
    files: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Vec<yaml::Doc>)> {
    let mut parsed = Vec::new();
    for (file, text) in files {
        if !file.ends_with(".yaml") {
            continue;
        }
        match yaml::parse_stream(text) {
            Ok(docs) => {
                if docs.is_empty() {
                    problems.push(problem(file, None, "no documents".to_string()));
                }
                parsed.push((file.clone(), docs));
            }
            Err(e) => problems.push(problem(
                file,
                Some(e.document),
                format!("not valid YAML: {}", e.message),
            )),
        }
    }
    parsed
}

/// The CRDs of the platform: (group, kind) → CRD.
fn crds_of(parsed: &[(String, Vec<yaml::Doc>)]) -> BTreeMap<(String, String), Crd> {
    let mut crds = BTreeMap::new();
    for (_, docs) in parsed {
        for d in docs {
            if let Some(c) = Crd::from(&d.node) {
                crds.insert((c.group.clone(), c.kind.clone()), c);
            }
        }
    }
    crds
}

/// Calico's Installation: the registry its operator pulls from (which must be on the mirror when
/// there is one).
fn installation_registry(
    parsed: &[(String, Vec<yaml::Doc>)],
    mirror: Option<&Mirror>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let mut found = None;
    for (file, docs) in parsed {
        for (i, d) in docs.iter().enumerate() {
            let Some((r, _)) = images::operator_registry(&d.node) else {
                continue;
            };
            found = Some(r.to_string());
            if let Some(m) = mirror
                && !r.starts_with(&format!("{m}/"))
            {
                problems.push(problem(
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
    found
}

/// The checks of one document after another, and what they collect on the way.
struct Documents<'a> {
    lock: &'a Lock,
    index: Index,
    crds: BTreeMap<(String, String), Crd>,
    mirror: Option<&'a Mirror>,
    allow_tags: bool,
    external: External,
    installation_registry: Option<String>,
    /// (group, kind, namespace, name) → the file that defines it.
    seen: BTreeMap<(String, String, String, String), String>,
    /// Every image and the objects that use it, by where it is pulled from.
    uses: BTreeMap<String, ImageUse>,
    problems: Vec<Problem>,
}

impl Documents<'_> {
    fn push(&mut self, file: &str, document: usize, message: String) {
        self.problems.push(problem(file, Some(document), message));
    }

    /// Document `n` of `file`; `not_cluster`: a file that is not applied to the cluster (only
    /// checked for apiVersion and kind).
    fn document(&mut self, file: &str, n: usize, node: &Node, not_cluster: bool) {
        let (Some(api), Some(kind)) = (node.str_at(&["apiVersion"]), node.str_at(&["kind"])) else {
            self.push(file, n, "missing apiVersion or kind".to_string());
            return;
        };
        if not_cluster {
            return;
        }
        let Some(name) = node.str_at(&["metadata", "name"]) else {
            self.push(file, n, format!("{kind} has no metadata.name"));
            return;
        };
        let kubernetes = &self.lock.kubernetes;
        if let Some(r) = removed(api, kind, kubernetes.major(), kubernetes.minor()) {
            let message = format!(
                "{kind} {name}: {api} is not served by Kubernetes {}.{} (removed in {}.{}); use {}",
                kubernetes.major(),
                kubernetes.minor(),
                r.removed_in.0,
                r.removed_in.1,
                r.replacement
            );
            self.push(file, n, message);
        }
        let group = group_of(api).to_string();
        let ns = node
            .str_at(&["metadata", "namespace"])
            .unwrap_or("")
            .to_string();
        let key = (group.clone(), kind.to_string(), ns, name.to_string());
        if let Some(other) = self.seen.insert(key, file.to_string()) {
            self.push(file, n, format!("{kind} {name} is also defined in {other}"));
        }
        if !BUILT_IN_GROUPS.contains(&group.as_str()) {
            self.custom_resource(file, n, node, api, &group);
        }
        self.images(file, n, node);
        if kind == "ImageSet" && group == "operator.tigera.io" {
            self.image_set(file, n, node, name);
        }
    }

    /// A custom resource against its CRD.
    fn custom_resource(&mut self, file: &str, n: usize, node: &Node, api: &str, group: &str) {
        let kind = node.str_at(&["kind"]).unwrap_or("");
        let name = node.str_at(&["metadata", "name"]).unwrap_or("");
        let version = api.rsplit_once('/').map(|(_, v)| v).unwrap_or(api);
        let mut found = Vec::new();
        match self.crds.get(&(group.to_string(), kind.to_string())) {
            None if self.external == External::FluxCharts => {}
            None => found.push(format!(
                "{kind} {name}: no CustomResourceDefinition for {kind} in {group} — it is not built \
                 into Kubernetes and the platform does not install it"
            )),
            Some(crd) => match crd.versions.iter().find(|v| v.name == version) {
                None => found.push(format!(
                    "{kind} {name}: the CRD serves no version {version} ({})",
                    crd.versions
                        .iter()
                        .map(|v| v.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some(v) if !v.served => found.push(format!(
                    "{kind} {name}: version {version} of the CRD is not served"
                )),
                Some(v) => {
                    if let Some(schema) = &v.schema {
                        for x in super::schema::check_resource(schema, &node.to_json()) {
                            found.push(format!("{kind} {name}: {}: {}", x.path, x.message));
                        }
                    }
                }
            },
        }
        for message in found {
            self.push(file, n, message);
        }
    }

    /// Every image of a document: in the lock, pinned, on the mirror.
    fn images(&mut self, file: &str, n: usize, node: &Node) {
        for f in images::find(node) {
            let locked = match self.index.lookup_text(&f.text) {
                Some((_, Match::Locked(l))) => Some(l.clone()),
                _ => None,
            };
            let Some(l) = locked else {
                let message = format!(
                    "{}: {}: image `{}` is not in the lock",
                    kind_name(node),
                    f.path,
                    f.text
                );
                self.push(file, n, message);
                continue;
            };
            let target = l.target(self.mirror);
            if f.text != target {
                let why = if !self.allow_tags && !is_pinned(&f.text) {
                    "is not pinned by digest"
                } else if self.mirror.is_some() {
                    "is not on the mirror"
                } else {
                    "is not the locked reference"
                };
                let message = format!(
                    "{}: {}: image `{}` {why} (want `{target}`)",
                    kind_name(node),
                    f.path,
                    f.text
                );
                self.push(file, n, message);
            }
            self.used(target, &l, use_of(file, n, node, &f.path));
        }
    }

    /// Images an operator creates from Calico's ImageSet.
    fn image_set(&mut self, file: &str, n: usize, node: &Node, name: &str) {
        let Some(Node::Seq(items)) = node.get("spec").and_then(|s| s.get("images")) else {
            return;
        };
        for (j, item) in items.iter().enumerate() {
            let (Some(image), Some(digest)) = (item.str_at(&["image"]), item.str_at(&["digest"]))
            else {
                continue;
            };
            let path = format!("spec.images[{j}]");
            let found = self
                .index
                .all()
                .iter()
                .find(|l| l.image.repository() == image && l.digest.as_deref() == Some(digest));
            let Some(l) = found.cloned() else {
                self.push(
                    file,
                    n,
                    format!("ImageSet {name}: {path}: {image}@{digest} is not in the lock"),
                );
                continue;
            };
            let from = self
                .installation_registry
                .clone()
                .unwrap_or_else(|| format!("{}/", l.image.registry()));
            let target = format!("{}{}@{digest}", from, l.image.repository());
            self.used(target, &l, use_of(file, n, node, &path));
        }
    }

    fn used(&mut self, target: String, l: &Locked, user: ImageUser) {
        self.uses
            .entry(target.clone())
            .or_insert_with(|| ImageUse {
                image: target,
                reference: l.reference.clone(),
                component: l.component.clone(),
                users: Vec::new(),
            })
            .users
            .push(user);
    }
}

fn problem(file: &str, document: Option<usize>, message: String) -> Problem {
    Problem {
        file: file.to_string(),
        document,
        message,
    }
}

/// A CustomResourceDefinition, as far as validation needs it.
#[derive(Debug, Clone)]
pub(crate) struct Crd {
    pub group: String,
    pub kind: String,
    pub versions: Vec<CrdVersion>,
}

#[derive(Debug, Clone)]
pub(crate) struct CrdVersion {
    pub name: String,
    pub served: bool,
    pub schema: Option<Value>,
}

impl Crd {
    pub(crate) fn from(node: &Node) -> Option<Crd> {
        if node.str_at(&["kind"]) != Some("CustomResourceDefinition")
            || !node
                .str_at(&["apiVersion"])
                .is_some_and(|a| a.starts_with("apiextensions.k8s.io/"))
        {
            return None;
        }
        let spec = node.get("spec")?;
        let group = spec.str_at(&["group"])?.to_string();
        let kind = spec.str_at(&["names", "kind"])?.to_string();
        let top_schema = spec
            .get("validation")
            .and_then(|v| v.get("openAPIV3Schema"))
            .map(Node::to_json);
        let mut versions = Vec::new();
        if let Some(Node::Seq(vs)) = spec.get("versions") {
            for v in vs {
                let Some(name) = v.str_at(&["name"]) else {
                    continue;
                };
                versions.push(CrdVersion {
                    name: name.to_string(),
                    served: !matches!(v.get("served"), Some(Node::Bool(false))),
                    schema: v
                        .get("schema")
                        .and_then(|s| s.get("openAPIV3Schema"))
                        .map(Node::to_json)
                        .or_else(|| top_schema.clone()),
                });
            }
        }
        Some(Crd {
            group,
            kind,
            versions,
        })
    }
}

/// `Kind name` of a document, for messages.
pub(crate) fn kind_name(node: &Node) -> String {
    format!(
        "{} {}",
        node.str_at(&["kind"]).unwrap_or("(no kind)"),
        node.str_at(&["metadata", "name"]).unwrap_or("(no name)")
    )
}

/// An image use, for `--list-images`.
pub(crate) fn use_of(file: &str, document: usize, node: &Node, path: &str) -> ImageUser {
    ImageUser {
        file: file.to_string(),
        document,
        kind: node.str_at(&["kind"]).unwrap_or("").to_string(),
        namespace: node.str_at(&["metadata", "namespace"]).map(str::to_string),
        name: node.str_at(&["metadata", "name"]).unwrap_or("").to_string(),
        path: path.to_string(),
    }
}
