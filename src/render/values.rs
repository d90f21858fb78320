//! What templates see (the values templates for upstream's charts and the glue templates), and
//! which templates exist.
//!
//! The context is the whole locked platform: `kubernetes` (`version`, `major`, `minor`),
//! `components` (every rendered component by name: `name`, `version`, `namespace`, `images`),
//! `provides` (capability → the component that provides it), `namespaces`, `network`
//! (`pod_cidr`, `service_cidr`, `cluster_domain`, shared with the kubeadm configuration),
//! `kubeadm`, `mirror` (`HOST/PREFIX` or none) and `delivery` (`manifests` or `flux`).
//! Each template also sees `this` (its own component); a values template sees `chart`
//! (`name`, `version`, `repository`) and `release` (`name`, `namespace`).
//!
//! An image (`components.X.images.<last path component>`) has `reference` (as the lock has it),
//! `registry`, `path` (`jetstack/cert-manager-controller`), `owner` (`jetstack`), `name`,
//! `repository` (`registry/path`), `tag`, `digest` (`sha256:…`, or none with `--allow-tags`),
//! `hex` (the digest without `sha256:`) and `ref` (`repository@digest`). With `--delivery
//! manifests` the registry is upstream's (images are moved to the mirror after rendering); with
//! `--delivery flux` nothing renders the charts here, so `registry` already is
//! `MIRROR/REGISTRY`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::artifacts::ChartRef;
use super::image::{ImageRef, RegistryPrefix as Mirror};
use super::{Delivery, RenderError};
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::types::Version;

/// The pod network; kubeadm's `networking.podSubnet` and the CNI's pool agree on it.
pub(crate) const POD_CIDR: &str = "10.244.0.0/16";
/// kubeadm's default service network.
pub(crate) const SERVICE_CIDR: &str = "10.96.0.0/12";
/// kubeadm's default cluster domain.
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";

/// The namespace a component's charts are installed into (release manifests keep their own).
pub(crate) fn namespace_of(component: &str) -> &'static str {
    match component {
        "calico" => "tigera-operator",
        "cilium" => "kube-system",
        "traefik" => "traefik",
        "ingress-nginx" => "ingress-nginx",
        "cert-manager" => "cert-manager",
        "loki" | "alloy" | "fluent-bit" => "logging",
        "kyverno" => "kyverno",
        "velero" => "velero",
        "metallb" => "metallb-system",
        "flux" => "flux-system",
        _ => "monitoring",
    }
}

/// The template context.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// The platform as templates see it.
    pub json: Value,
}

/// One image as templates see it.
fn image_json(
    r: &ImageRef,
    reference: &str,
    digest: Option<&str>,
    mirror: Option<&Mirror>,
) -> Value {
    let registry = match mirror {
        Some(m) => format!("{}/{}", m, r.registry()),
        None => r.registry().to_string(),
    };
    let path = r.repository();
    let (owner, name) = path.rsplit_once('/').unwrap_or(("", path));
    let repository = format!("{registry}/{path}");
    let pinned = match digest {
        Some(d) => format!("{repository}@{d}"),
        None => format!("{repository}:{}", r.tag().unwrap_or("latest")),
    };
    json!({
        "reference": reference,
        "registry": registry,
        "path": path,
        "owner": owner,
        "name": name,
        "repository": repository,
        "tag": r.tag(),
        "digest": digest,
        "hex": digest.and_then(|d| d.strip_prefix("sha256:")),
        "ref": pinned,
    })
}

/// Builds the context for the components in `rendered` (plus the control plane).
pub(crate) fn build(
    lock: &Lock,
    catalog: &Catalog,
    rendered: &BTreeSet<String>,
    mirror: Option<&Mirror>,
    delivery: Delivery,
    allow_tags: bool,
) -> Result<Context, RenderError> {
    // Templates address images through the location they are pulled from only in flux mode.
    let image_mirror = match delivery {
        Delivery::Flux => mirror,
        Delivery::Manifests => None,
    };
    let mut unpinned = Vec::new();
    let mut components = serde_json::Map::new();
    let mut provides = serde_json::Map::new();
    let mut namespaces = BTreeSet::new();
    for c in &lock.components {
        let mut images = serde_json::Map::new();
        for i in &c.images {
            let r = &i.reference;
            let digest = match &i.digest {
                Some(d) => Some(d.as_str()),
                None => {
                    unpinned.push(i.reference.to_string());
                    None
                }
            };
            let role = r.base_name().to_string();
            let v = image_json(r, &r.to_string(), digest, image_mirror);
            if images.insert(role.clone(), v).is_some() {
                return Err(RenderError::DuplicateRole {
                    component: c.name.clone(),
                    role,
                });
            }
        }
        let control_plane = super::CONTROL_PLANE.contains(&c.name.as_str());
        if !(control_plane || rendered.contains(&c.name)) {
            continue;
        }
        let ns = namespace_of(&c.name);
        if rendered.contains(&c.name) {
            namespaces.insert(ns);
        }
        components.insert(
            c.name.clone(),
            json!({
                "name": c.name,
                "version": c.version.to_string(),
                "namespace": ns,
                "images": images,
            }),
        );
        if let Some(comp) = catalog.component(&c.name) {
            for cap in &comp.provides {
                provides
                    .entry(cap.clone())
                    .or_insert_with(|| Value::String(c.name.clone()));
            }
        }
    }
    if !unpinned.is_empty() && !allow_tags {
        unpinned.sort();
        return Err(RenderError::Unpinned { images: unpinned });
    }
    namespaces.remove("kube-system");
    let k = &lock.kubernetes;
    let json = json!({
        "kubernetes": {"version": k.to_string(), "major": k.major(), "minor": k.minor()},
        "catalog": lock.catalog,
        "components": components,
        "provides": provides,
        "namespaces": namespaces.into_iter().collect::<Vec<_>>(),
        "network": {
            "pod_cidr": POD_CIDR,
            "service_cidr": SERVICE_CIDR,
            "cluster_domain": CLUSTER_DOMAIN,
        },
        "kubeadm": super::context::kubeadm_json(lock, mirror),
        "mirror": mirror.map(|m| m.to_string()),
        "delivery": match delivery {
            Delivery::Manifests => "manifests",
            Delivery::Flux => "flux",
        },
    });
    Ok(Context { json })
}

/// The context of the kubeadm template alone (what the disconnected side needs to move it).
pub(crate) fn kubeadm_context(lock: &Lock, mirror: Option<&Mirror>) -> Value {
    let k = &lock.kubernetes;
    json!({
        "kubernetes": {"version": k.to_string(), "major": k.major(), "minor": k.minor()},
        "network": {
            "pod_cidr": POD_CIDR,
            "service_cidr": SERVICE_CIDR,
            "cluster_domain": CLUSTER_DOMAIN,
        },
        "kubeadm": super::context::kubeadm_json(lock, mirror),
    })
}

impl Context {
    /// The context of one component's templates (`this`), and of one of its charts.
    pub(crate) fn scoped(&self, component: &str, chart: Option<&ChartRef>) -> Value {
        let mut v = self.json.clone();
        if let Value::Object(m) = &mut v {
            let this = m
                .get("components")
                .and_then(|c| c.get(component))
                .cloned()
                .unwrap_or(Value::Null);
            let ns = this.get("namespace").cloned().unwrap_or(Value::Null);
            m.insert("this".to_string(), this);
            if let Some(c) = chart {
                m.insert(
                    "chart".to_string(),
                    json!({"name": c.name, "version": c.version, "repository": c.repository}),
                );
                m.insert(
                    "release".to_string(),
                    json!({"name": component, "namespace": ns}),
                );
            }
        }
        v
    }
}

/// Template function `version_at_least(version, minimum)`: whether `version` ≥ `minimum`. Both
/// may start with `v` and carry a pre-release or build suffix, which is ignored
/// (`v1.21.2`, `18.11.0`, `v3.7.0-rc.2`).
pub(crate) fn version_at_least(version: &str, minimum: &str) -> Result<bool, minijinja::Error> {
    let p = |s: &str| {
        let core = s
            .trim_start_matches('v')
            .split(['-', '+'])
            .next()
            .unwrap_or("");
        let mut parts = core.split('.');
        let mut n = || parts.next().map(|x| x.parse::<u64>());
        match (n(), n(), n()) {
            (Some(Ok(a)), Some(Ok(b)), None) => Ok(Version::new(a, b, 0)),
            (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => Ok(Version::new(a, b, c)),
            _ => Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("version_at_least: `{s}` is not a version"),
            )),
        }
    };
    Ok(p(version)? >= p(minimum)?)
}

/// One embedded template.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template {
    /// Its component (a directory under `templates/`).
    pub component: &'static str,
    /// The file name under `templates/<component>/`.
    pub file: &'static str,
    /// The text.
    pub source: &'static str,
}

impl Template {
    /// `component/file`, as minijinja and error messages name it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.component, self.file)
    }

    /// For a values template `values.yaml.j2` (the component's chart) or
    /// `values-<chart>.yaml.j2`: the chart name it is for (`None` = any chart of the component).
    pub fn values_for(&self) -> Option<Option<&'static str>> {
        if self.file == "values.yaml.j2" {
            return Some(None);
        }
        self.file
            .strip_prefix("values-")
            .and_then(|f| f.strip_suffix(".yaml.j2"))
            .map(Some)
    }
}

macro_rules! t {
    ($c:literal, $f:literal) => {
        Template {
            component: $c,
            file: $f,
            source: include_str!(concat!("../../templates/", $c, "/", $f)),
        }
    };
}

/// Macros shared by the templates (`{% import "_macros.j2" as m %}`).
pub(crate) const MACROS: &str = include_str!("../../templates/_macros.j2");

/// Values templates (`values*.yaml.j2`) and glue objects (`*.yaml.j2`): what bundle adds to
/// upstream's charts and manifests.
pub(crate) const TEMPLATES: &[Template] = &[
    t!("alertmanager", "operator-resources.yaml.j2"),
    t!("alertmanager", "values.yaml.j2"),
    t!("alloy", "values.yaml.j2"),
    t!("calico", "imageset.yaml.j2"),
    t!("calico", "values-tigera-operator.yaml.j2"),
    t!("cert-manager", "issuers.yaml.j2"),
    t!("cert-manager", "values.yaml.j2"),
    t!("cilium", "values.yaml.j2"),
    t!("fluent-bit", "values.yaml.j2"),
    t!("grafana", "values.yaml.j2"),
    t!("ingress-nginx", "values.yaml.j2"),
    t!("kube-state-metrics", "values.yaml.j2"),
    t!("loki", "values.yaml.j2"),
    t!("node-exporter", "values.yaml.j2"),
    t!("prometheus", "operator-resources.yaml.j2"),
    t!("prometheus", "values.yaml.j2"),
    t!("traefik", "values.yaml.j2"),
    t!("velero", "values.yaml.j2"),
];

/// The platform's namespaces (always rendered).
pub(crate) const NAMESPACES: Template = t!("namespaces", "namespaces.yaml.j2");
/// The kubeadm `ClusterConfiguration` (not a cluster object).
pub(crate) const KUBEADM: Template = t!("kubeadm", "cluster-configuration.yaml.j2");

/// The values template for a component's chart, if any.
pub(crate) fn values_template(component: &str, chart: &str) -> Option<&'static Template> {
    let mine = || TEMPLATES.iter().filter(move |t| t.component == component);
    mine()
        .find(|t| t.values_for() == Some(Some(chart)))
        .or_else(|| mine().find(|t| t.values_for() == Some(None)))
}

/// The glue templates of a component.
pub(crate) fn glue_templates(component: &str) -> impl Iterator<Item = &'static Template> {
    TEMPLATES
        .iter()
        .filter(move |t| t.component == component && t.values_for().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_loosely() {
        assert!(version_at_least("v1.21.2", "1.15.0").unwrap());
        assert!(!version_at_least("v1.14.7", "1.15.0").unwrap());
        assert!(version_at_least("18.11.0", "6.0.0").unwrap());
        assert!(version_at_least("v3.7.0-rc.2", "3.7").unwrap());
        assert!(version_at_least("x", "1.0.0").is_err());
    }

    #[test]
    fn values_templates_by_chart() {
        assert!(values_template("cert-manager", "cert-manager").is_some());
        assert!(values_template("calico", "tigera-operator").is_some());
        assert!(values_template("calico", "crd.projectcalico.org.v1").is_none());
        assert!(values_template("nothing", "x").is_none());
        assert!(glue_templates("cert-manager").all(|t| t.file == "issuers.yaml.j2"));
    }
}
