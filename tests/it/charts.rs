//! Test harness: Helm charts and release manifests made here (never upstream's), packaged with the
//! real `helm`, and a content store (`blobs/sha256/<hex>`) holding them the way `bundle pin` and a
//! bundle do — charts as `.tgz` blobs or as OCI manifests (config, a provenance layer and the chart
//! layer, the provenance layer first), manifests as their bytes.
//!
//! The charts stand in for each component's upstream chart: they render the component's locked
//! images (by tag, as upstream charts do) in a Deployment, carry CRDs with real schemas where the
//! platform's glue objects need them, render a ServiceMonitor only when the
//! `monitoring.coreos.com/v1/ServiceMonitor` API exists (as upstream charts do), put the values they
//! were given into a ConfigMap (so tests can see the wiring), and one of them has a sub-chart.
//!
//! Needs `helm` (v3.8+ or v4) on PATH; without it a test prints a skip message and returns, unless
//! `CI` is set, when it fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bundle::lock::Lock;
use bundle::render::artifacts::{Artifacts, ChartRef, ManifestRef, Store, Wanted};

use crate::support::sha256;

pub use crate::support::charts::ChartDir;

/// The helm binary (`$BUNDLE_HELM`, `target/tools/bin/helm` or `helm` on PATH).
pub fn helm_bin() -> PathBuf {
    crate::support::charts::helm_bin().unwrap_or_else(|| PathBuf::from("helm"))
}

/// kubectl 1.35 (for `kubectl kustomize`): `$BUNDLE_KUBECTL`, `target/tools/bin/kubectl` (where
/// ./scripts/test installs it) or `kubectl-1.35` on PATH; prints why not (and fails under CI).
pub fn kubectl(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BUNDLE_KUBECTL").map(PathBuf::from),
        Some(crate::support::root().join("target/tools/bin/kubectl")),
        Some(PathBuf::from("kubectl-1.35")),
    ];
    for c in candidates.into_iter().flatten() {
        if Command::new(&c)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: kubectl is not installed (./scripts/test installs it)"
    );
    eprintln!("skip {test}: kubectl is not installed (./scripts/test installs it)");
    None
}

/// Whether `helm` runs here; prints why not (and fails under CI).
pub fn helm_available(test: &str) -> bool {
    crate::support::charts::require_helm(test).is_some()
}

/// A content store under construction.
pub struct StoreDir {
    pub root: PathBuf,
}

impl StoreDir {
    pub fn new(root: &Path) -> StoreDir {
        std::fs::create_dir_all(root.join("blobs").join("sha256")).unwrap();
        StoreDir {
            root: root.to_path_buf(),
        }
    }

    /// Stores bytes; returns `sha256:<hex>`.
    pub fn put(&self, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        let hex = d.trim_start_matches("sha256:");
        std::fs::write(self.root.join("blobs").join("sha256").join(hex), bytes).unwrap();
        d
    }

    /// A classic chart: the `.tgz` itself; the digest is its sha256.
    pub fn classic_chart(&self, tgz: &Path) -> String {
        self.put(&std::fs::read(tgz).unwrap())
    }

    /// An OCI chart: config, a provenance layer (first) and the chart layer; the digest is the
    /// manifest's.
    pub fn oci_chart(&self, tgz: &Path, name: &str, version: &str) -> String {
        let bytes = std::fs::read(tgz).unwrap();
        let layer = self.put(&bytes);
        let config = format!(r#"{{"name":"{name}","version":"{version}","apiVersion":"v2"}}"#);
        let config_digest = self.put(config.as_bytes());
        let prov = format!("-----BEGIN PGP SIGNED MESSAGE-----\nname: {name}\n");
        let prov_digest = self.put(prov.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.cncf.helm.chart.provenance.v1.prov","digest":"{prov_digest}","size":{}}},{{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"{layer}","size":{}}}]}}"#,
            config.len(),
            prov.len(),
            bytes.len()
        );
        self.put(manifest.as_bytes())
    }

    pub fn store(&self) -> Store {
        Store::new(&self.root)
    }
}

/// One component's harness artifacts.
#[derive(Default)]
pub struct Made {
    pub wanted: BTreeMap<String, Wanted>,
}

impl Made {
    pub fn chart(&mut self, component: &str, chart: ChartRef) {
        self.wanted
            .entry(component.to_string())
            .or_default()
            .charts
            .push(chart);
    }

    pub fn manifest(&mut self, component: &str, m: ManifestRef) {
        self.wanted
            .entry(component.to_string())
            .or_default()
            .manifests
            .push(m);
    }

    pub fn artifacts(&self, store: &Store) -> Artifacts {
        store
            .artifacts(&self.wanted)
            .expect("every artifact is in the store")
    }
}

/// A CRD with a schema: `properties` is the YAML of `spec.properties` (indented for its place).
pub fn crd(group: &str, kind: &str, plural: &str, scope: &str, spec_properties: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  scope: {scope}
  names:
    kind: {kind}
    listKind: {kind}List
    plural: {plural}
    singular: {singular}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {{type: string}}
            kind: {{type: string}}
            metadata: {{type: object}}
            spec:
              type: object
              properties:
{spec_properties}
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
",
        singular = kind.to_lowercase()
    )
}

/// Indents every line of `text` by `n` spaces.
pub fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{}{l}", " ".repeat(n))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Schemas (the fields the platform's glue objects use, and more) for the CRDs of the harness.
pub mod schemas {
    /// ServiceMonitor `spec`.
    pub const SERVICE_MONITOR: &str = "selector:
  type: object
  properties:
    matchLabels: {type: object, additionalProperties: {type: string}}
endpoints:
  type: array
  items:
    type: object
    properties:
      port: {type: string}
      path: {type: string}
      interval: {type: string}
jobLabel: {type: string}
namespaceSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
";
    /// Prometheus `spec`.
    pub const PROMETHEUS: &str = "image: {type: string}
version: {type: string}
replicas: {type: integer, minimum: 0}
serviceAccountName: {type: string}
retention: {type: string}
serviceMonitorSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
serviceMonitorNamespaceSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
podMonitorSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
podMonitorNamespaceSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
ruleSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
ruleNamespaceSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
alerting:
  type: object
  properties:
    alertmanagers:
      type: array
      items:
        type: object
        required: [name, namespace]
        properties:
          name: {type: string}
          namespace: {type: string}
          port: {x-kubernetes-int-or-string: true}
          apiVersion: {type: string, enum: [v1, v2, V1, V2]}
resources: {type: object, x-kubernetes-preserve-unknown-fields: true}
securityContext: {type: object, x-kubernetes-preserve-unknown-fields: true}
";
    /// Alertmanager `spec`.
    pub const ALERTMANAGER: &str = "image: {type: string}
version: {type: string}
replicas: {type: integer, minimum: 0}
serviceAccountName: {type: string}
alertmanagerConfigSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
alertmanagerConfigNamespaceSelector: {type: object, x-kubernetes-preserve-unknown-fields: true}
resources: {type: object, x-kubernetes-preserve-unknown-fields: true}
securityContext: {type: object, x-kubernetes-preserve-unknown-fields: true}
";
    /// ClusterIssuer `spec`.
    pub const ISSUER: &str =
        "selfSigned: {type: object, x-kubernetes-preserve-unknown-fields: true}
ca:
  type: object
  required: [secretName]
  properties:
    secretName: {type: string}
";
    /// Certificate `spec`.
    pub const CERTIFICATE: &str = "isCA: {type: boolean}
commonName: {type: string}
secretName: {type: string}
duration: {type: string}
privateKey:
  type: object
  properties:
    algorithm: {type: string, enum: [RSA, ECDSA, Ed25519]}
    size: {type: integer}
issuerRef:
  type: object
  required: [name]
  properties:
    group: {type: string}
    kind: {type: string}
    name: {type: string}
dnsNames: {type: array, items: {type: string}}
";
    /// Installation `spec` (operator.tigera.io).
    pub const INSTALLATION: &str = "registry: {type: string}
imagePath: {type: string}
imagePrefix: {type: string}
flexVolumePath: {type: string}
kubeletVolumePluginPath: {type: string}
calicoNetwork:
  type: object
  properties:
    ipPools:
      type: array
      items:
        type: object
        required: [cidr]
        properties:
          cidr: {type: string}
          encapsulation: {type: string, enum: [IPIPCrossSubnet, IPIP, VXLAN, VXLANCrossSubnet, None]}
          natOutgoing: {type: string, enum: [Enabled, Disabled]}
          nodeSelector: {type: string}
";
    /// ImageSet `spec`.
    pub const IMAGESET: &str = "images:
  type: array
  items:
    type: object
    required: [image, digest]
    properties:
      image: {type: string}
      digest: {type: string}
";
}

/// The CustomResourceDefinitions (with the schemas in [`schemas`]) that upstream's artifacts of
/// `component` bring and the platform's glue objects use, as a YAML stream (empty for the others).
pub fn glue_crds(component: &str) -> String {
    let kinds: &[(&str, &str, &str, &str, &str)] = match component {
        "cert-manager" => &[
            (
                "cert-manager.io",
                "ClusterIssuer",
                "clusterissuers",
                "Cluster",
                schemas::ISSUER,
            ),
            (
                "cert-manager.io",
                "Certificate",
                "certificates",
                "Namespaced",
                schemas::CERTIFICATE,
            ),
        ],
        "calico" => &[
            (
                "operator.tigera.io",
                "Installation",
                "installations",
                "Cluster",
                schemas::INSTALLATION,
            ),
            (
                "operator.tigera.io",
                "ImageSet",
                "imagesets",
                "Cluster",
                schemas::IMAGESET,
            ),
        ],
        "prometheus-operator" => &[
            (
                "monitoring.coreos.com",
                "Prometheus",
                "prometheuses",
                "Namespaced",
                schemas::PROMETHEUS,
            ),
            (
                "monitoring.coreos.com",
                "Alertmanager",
                "alertmanagers",
                "Namespaced",
                schemas::ALERTMANAGER,
            ),
            (
                "monitoring.coreos.com",
                "ServiceMonitor",
                "servicemonitors",
                "Namespaced",
                schemas::SERVICE_MONITOR,
            ),
        ],
        _ => &[],
    };
    let mut s = String::new();
    for (group, kind, plural, scope, spec) in kinds {
        s.push_str("---\n");
        s.push_str(&crd(group, kind, plural, scope, &indent(spec, 16)));
    }
    s
}

/// Which chart stands for a component in the harness (the real catalog's chart name).
pub fn chart_name(component: &str) -> &str {
    match component {
        "calico" => "tigera-operator",
        "node-exporter" => "prometheus-node-exporter",
        other => other,
    }
}

/// Harness artifacts for every component of `lock` that has artifacts upstream: a chart per
/// component (OCI for some, classic for others), prometheus-operator as a release manifest.
/// `version` for every chart is the component's version.
pub fn platform(lock: &Lock, base: &Path) -> (StoreDir, Made) {
    let store = StoreDir::new(&base.join("store"));
    let pkgs = base.join("packages");
    let mut made = Made::default();
    let control_plane = ["kubernetes", "etcd", "coredns", "pause"];
    for (n, c) in lock.components.iter().enumerate() {
        if control_plane.contains(&c.name.as_str()) {
            continue;
        }
        let version = c.version.to_string();
        let refs: Vec<String> = c.images.iter().map(|i| i.reference.to_string()).collect();
        let images: Vec<&str> = refs.iter().map(String::as_str).collect();
        if c.name == "prometheus-operator" {
            let m = operator_manifest(&images);
            let digest = store.put(m.as_bytes());
            made.manifest(
                &c.name,
                ManifestRef {
                    url: format!(
                        "https://github.com/prometheus-operator/prometheus-operator/releases/download/v{version}/bundle.yaml"
                    ),
                    digest,
                },
            );
            continue;
        }
        let name = chart_name(&c.name);
        let chart = ChartDir::new(base, name, &version, &version);
        chart.template("workload.yaml", &deployment("{{ .Release.Name }}", &images));
        chart.template(
            "values.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-values\n  namespace: {{ .Release.Namespace }}\ndata:\n  values.yaml: {{ toYaml .Values | quote }}\n",
        );
        chart.template(
            "servicemonitor.yaml",
            "{{- if .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1/ServiceMonitor\" }}\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\nspec:\n  selector:\n    matchLabels:\n      app: {{ .Release.Name }}\n  endpoints:\n    - port: metrics\n{{- end }}\n",
        );
        let crds = glue_crds(&c.name);
        if !crds.is_empty() {
            chart.crd("glue.yaml", &crds);
        }
        if c.name == "calico" {
            chart.template(
                "installation.yaml",
                "apiVersion: operator.tigera.io/v1\nkind: Installation\nmetadata:\n  name: default\nspec:\n{{ omit .Values.installation \"enabled\" | toYaml | indent 2 }}\n",
            );
        }
        let tgz = chart.package(&helm_bin(), &pkgs);
        // Alternate OCI and classic charts so that both are read.
        let (repository, digest) = if n % 2 == 0 {
            (
                format!("oci://registry.example.test/charts/{}", c.name),
                store.oci_chart(&tgz, name, &version),
            )
        } else {
            (
                format!("https://charts.example.test/{}", c.name),
                store.classic_chart(&tgz),
            )
        };
        made.chart(
            &c.name,
            ChartRef {
                name: name.to_string(),
                repository,
                version,
                digest,
            },
        );
    }
    (store, made)
}

/// A Deployment running every image of `images` (by the reference as given).
pub fn deployment(name: &str, images: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {{{{ .Release.Namespace }}}}\nspec:\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n"
    );
    for (i, image) in images.iter().enumerate() {
        s.push_str(&format!("        - name: c{i}\n          image: {image}\n"));
    }
    s
}

/// prometheus-operator's release manifest as the harness makes it: the CRDs the glue uses (with
/// schemas) and the operator Deployment, which takes the config reloader image as a flag.
pub fn operator_manifest(images: &[&str]) -> String {
    let operator = images
        .iter()
        .find(|i| i.contains("/prometheus-operator:"))
        .expect("the operator image");
    let reloader = images
        .iter()
        .find(|i| i.contains("/prometheus-config-reloader:"))
        .expect("the reloader image");
    let mut s = glue_crds("prometheus-operator");
    s.push_str(&format!(
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: prometheus-operator\n  namespace: default\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: prometheus-operator\n  namespace: default\nspec:\n  selector:\n    matchLabels:\n      app: prometheus-operator\n  template:\n    metadata:\n      labels:\n        app: prometheus-operator\n    spec:\n      serviceAccountName: prometheus-operator\n      containers:\n        - name: prometheus-operator\n          image: {operator}\n          args:\n            - --kubelet-service=kube-system/kubelet\n            - --prometheus-config-reloader={reloader}\n"
    ));
    s
}

/// What `bundle pin` would leave behind for the lock in `dir/bundle.lock`, with harness artifacts in
/// place of upstream's: the lock rewritten with every component's harness charts and release
/// manifests (with digests), and the cache (`dir/store`) holding them. Returns the cache directory.
pub fn pin_harness(dir: &Path) -> PathBuf {
    use bundle::lock::{LockedChart, LockedManifest};
    use bundle::types::{ChartRef as Coordinates, Digest};
    let path = dir.join("bundle.lock");
    let mut lock = Lock::parse(&std::fs::read_to_string(&path).unwrap(), "bundle.lock").unwrap();
    let (store, made) = platform(&lock, dir);
    for c in &mut lock.components {
        c.charts.clear();
        c.manifests.clear();
        let Some(w) = made.wanted.get(&c.name) else {
            continue;
        };
        for ch in &w.charts {
            c.charts.push(LockedChart {
                chart: Coordinates::parse(&ch.repository, &ch.name, &ch.version).unwrap(),
                digest: Some(Digest::parse(&ch.digest).unwrap()),
            });
        }
        for m in &w.manifests {
            c.manifests.push(LockedManifest {
                url: m.url.clone(),
                digest: Some(Digest::parse(&m.digest).unwrap()),
            });
        }
    }
    std::fs::write(&path, lock.to_yaml()).unwrap();
    store.root
}
