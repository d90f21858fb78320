//! The templates, compiled into the binary (`templates/<component>/<file>.yaml.j2`).
//!
//! Adding a template: put the file under `templates/`, then add a line here.

/// One embedded template.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// The component it belongs to (a directory under `templates/`).
    pub component: &'static str,
    /// The file stem: `templates/<component>/<file>.yaml.j2` renders to `<component>/<file>.yaml`.
    pub file: &'static str,
    /// The template text.
    pub source: &'static str,
}

impl Template {
    /// The template's name, as minijinja and error messages show it.
    pub fn name(&self) -> String {
        format!("{}/{}.yaml.j2", self.component, self.file)
    }
}

macro_rules! t {
    ($c:literal, $f:literal) => {
        Template {
            component: $c,
            file: $f,
            source: include_str!(concat!("../../templates/", $c, "/", $f, ".yaml.j2")),
        }
    };
}

/// Macros shared by the templates (`{% import "_macros.j2" as m %}`).
pub const MACROS: &str = include_str!("../../templates/_macros.j2");

/// Every template, grouped by component.
pub const TEMPLATES: &[Template] = &[
    t!("alertmanager", "alertmanager"),
    t!("alloy", "alloy"),
    t!("calico", "crds"),
    t!("calico", "rbac"),
    t!("calico", "calico-node"),
    t!("calico", "kube-controllers"),
    t!("cert-manager", "crds"),
    t!("cert-manager", "rbac"),
    t!("cert-manager", "cert-manager"),
    t!("cert-manager", "webhook"),
    t!("cert-manager", "issuers"),
    t!("cilium", "rbac"),
    t!("cilium", "agent"),
    t!("cilium", "operator"),
    t!("fluent-bit", "fluent-bit"),
    t!("grafana", "grafana"),
    t!("kube-state-metrics", "kube-state-metrics"),
    t!("loki", "loki"),
    t!("node-exporter", "node-exporter"),
    t!("prometheus", "prometheus"),
    t!("prometheus-operator", "crds"),
    t!("prometheus-operator", "prometheus-operator"),
    t!("traefik", "traefik"),
];

/// The platform's namespaces (always rendered).
pub const NAMESPACES: Template = t!("namespaces", "namespaces");

/// The kubeadm `ClusterConfiguration` (rendered when Kubernetes is in the lock; not a cluster object).
pub const KUBEADM: Template = t!("kubeadm", "cluster-configuration");
