//! Helm charts and release manifests made by the harness (never upstream's), packaged with the real
//! `helm`, and the ways upstream publishes them: pushed to a registry as OCI charts (by `helm push`,
//! or by hand with a provenance layer first, as a signed chart has it), listed in a classic
//! repository's `index.yaml`, release manifests as files.
//!
//! A chart of the harness has what upstream charts have: `Chart.yaml` (name, version, appVersion),
//! `values.yaml` naming its images, templates with a Deployment (and an init container) using them,
//! a CRD with a real schema, a sub-chart dependency with a workload of its own, and a chart test pod
//! (`helm.sh/hook: test`).
//!
//! Needs `helm` (v3.8+ or v4): `$BUNDLE_HELM`, `target/tools/bin/helm` (where `./scripts/test` puts
//! it) or `helm` on PATH; without it a test prints a skip message and returns, unless `CI` is set,
//! when it fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::images::{Image, sha256};

/// Helm's media types, as `helm push` writes them.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// The chart layer.
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The provenance layer of a signed chart.
pub const HELM_PROV: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// The helm binary, when one runs here.
pub fn helm_bin() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BUNDLE_HELM").map(PathBuf::from),
        Some(super::root().join("target/tools/bin/helm")),
        Some(PathBuf::from("helm")),
    ];
    candidates.into_iter().flatten().find(|c| {
        Command::new(c)
            .args(["version", "--short"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The helm binary; `None` after a skip message (a failure under CI) when there is none.
pub fn require_helm(test: &str) -> Option<PathBuf> {
    let found = helm_bin();
    if found.is_none() {
        let msg = format!("{test}: helm is not installed (./scripts/test installs it)");
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("skipped: {msg}");
    }
    found
}

/// Runs helm; panics with its output when it fails.
pub fn helm(helm: &Path, args: &[&str]) -> String {
    let o = Command::new(helm)
        .args(args)
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("bundle-it-helm/config"),
        )
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("bundle-it-helm/cache"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("bundle-it-helm/data"),
        )
        .output()
        .expect("helm runs");
    assert!(
        o.status.success(),
        "helm {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A chart source directory being written.
pub struct ChartDir {
    pub dir: PathBuf,
    pub name: String,
    pub version: String,
}

impl ChartDir {
    /// `Chart.yaml` (apiVersion v2) with `name`, `version`, `appVersion`, and empty values.
    pub fn new(base: &Path, name: &str, version: &str, app_version: &str) -> ChartDir {
        let dir = base.join(format!("src-{name}-{version}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: {app_version:?}\n\
                 description: made by the bundle test harness\ntype: application\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("values.yaml"), "{}\n").unwrap();
        ChartDir {
            dir,
            name: name.to_string(),
            version: version.to_string(),
        }
    }

    /// Writes `values.yaml`.
    pub fn values(&self, text: &str) -> &ChartDir {
        std::fs::write(self.dir.join("values.yaml"), text).unwrap();
        self
    }

    /// Writes `templates/NAME`.
    pub fn template(&self, name: &str, text: &str) -> &ChartDir {
        let path = self.dir.join("templates").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Writes `crds/NAME`.
    pub fn crd(&self, name: &str, text: &str) -> &ChartDir {
        std::fs::create_dir_all(self.dir.join("crds")).unwrap();
        std::fs::write(self.dir.join("crds").join(name), text).unwrap();
        self
    }

    /// Adds the packaged chart `sub` as a dependency (under `charts/` and in `Chart.yaml`), enabled
    /// by `condition` when given.
    pub fn dependency(
        &self,
        sub: &Path,
        name: &str,
        version: &str,
        condition: Option<&str>,
    ) -> &ChartDir {
        std::fs::create_dir_all(self.dir.join("charts")).unwrap();
        std::fs::copy(
            sub,
            self.dir
                .join("charts")
                .join(format!("{name}-{version}.tgz")),
        )
        .unwrap();
        let mut c = std::fs::read_to_string(self.dir.join("Chart.yaml")).unwrap();
        if !c.contains("dependencies:") {
            c.push_str("dependencies:\n");
        }
        c.push_str(&format!(
            "  - name: {name}\n    version: {version}\n    repository: file://../{name}\n"
        ));
        if let Some(cond) = condition {
            c.push_str(&format!("    condition: {cond}\n"));
        }
        std::fs::write(self.dir.join("Chart.yaml"), c).unwrap();
        self
    }

    /// `helm package` into `out`; returns the `.tgz`.
    pub fn package(&self, helm_path: &Path, out: &Path) -> PathBuf {
        std::fs::create_dir_all(out).unwrap();
        let said = helm(
            helm_path,
            &[
                "package",
                self.dir.to_str().unwrap(),
                "--destination",
                out.to_str().unwrap(),
            ],
        );
        let path = PathBuf::from(said.trim().rsplit(": ").next().expect("helm says where"));
        assert!(path.is_file(), "{said}");
        path
    }
}

/// A CRD with a real schema (`spec.replicas` an integer from 1 to 5, `spec.image` a string).
pub fn crd(group: &str, kind: &str, plural: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  scope: Namespaced
  names:
    kind: {kind}
    plural: {plural}
    singular: {singular}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [spec]
          properties:
            spec:
              type: object
              required: [replicas]
              properties:
                replicas:
                  type: integer
                  minimum: 1
                  maximum: 5
                image:
                  type: string
",
        singular = kind.to_ascii_lowercase()
    )
}

/// A Deployment of `name` with a container per image of `images` (the first an init container),
/// each image from `.Values.images.<key>` — the way upstream charts name their images.
fn deployment(name: &str, keys: &[&str]) -> String {
    let mut containers = String::new();
    let mut init = String::new();
    for (i, key) in keys.iter().enumerate() {
        let entry =
            format!("        - name: {key}\n          image: \"{{{{ .Values.images.{key} }}}}\"\n");
        if i == 0 && keys.len() > 1 {
            init.push_str(&entry);
        } else {
            containers.push_str(&entry);
        }
    }
    let init = if init.is_empty() {
        String::new()
    } else {
        format!("      initContainers:\n{init}")
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
{init}      containers:
{containers}"
    )
}

/// What a harness chart uses.
pub struct AppChart<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub app_version: &'a str,
    /// `(values key, image reference)`, rendered in one Deployment.
    pub images: &'a [(&'a str, &'a str)],
    /// A sub-chart `(name, version, image)` with its own Deployment, enabled by default.
    pub sub: Option<(&'a str, &'a str, &'a str)>,
    /// The image of a chart test pod (`helm.sh/hook: test`), if any.
    pub test_image: Option<&'a str>,
    /// A custom resource of the chart's CRD with this `spec.image`, if any.
    pub custom_resource_image: Option<&'a str>,
    /// Extra text in `values.yaml` (to make another package of the same version).
    pub extra_values: &'a str,
}

impl AppChart<'_> {
    /// Writes and packages the chart (and its sub-chart) under `base`; returns the `.tgz`.
    pub fn package(&self, helm_path: &Path, base: &Path) -> PathBuf {
        let out = base.join("packages");
        let mut values = String::from("images:\n");
        for (key, image) in self.images {
            values.push_str(&format!("  {key}: {image}\n"));
        }
        if let Some(img) = self.test_image {
            values.push_str(&format!("testImage: {img}\n"));
        }
        if let Some(img) = self.custom_resource_image {
            values.push_str(&format!("widgetImage: {img}\n"));
        }
        values.push_str(self.extra_values);
        let keys: Vec<&str> = self.images.iter().map(|(k, _)| *k).collect();
        let chart = ChartDir::new(base, self.name, self.version, self.app_version);
        chart
            .values(&values)
            .template("deployment.yaml", &deployment(self.name, &keys))
            .crd("widgets.yaml", &crd("example.test", "Widget", "widgets"));
        if self.test_image.is_some() {
            chart.template(
                "tests/test-connection.yaml",
                &format!(
                    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}-test\n  annotations:\n    \
                     \"helm.sh/hook\": test\nspec:\n  restartPolicy: Never\n  containers:\n    - name: check\n      \
                     image: \"{{{{ .Values.testImage }}}}\"\n",
                    name = self.name
                ),
            );
        }
        if self.custom_resource_image.is_some() {
            chart.template(
                "widget.yaml",
                "apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: default\nspec:\n  replicas: 1\n  \
                 image: \"{{ .Values.widgetImage }}\"\n",
            );
        }
        if let Some((sub, sub_version, sub_image)) = self.sub {
            let s = ChartDir::new(base, sub, sub_version, sub_version);
            s.values(&format!("images:\n  main: {sub_image}\n"))
                .template("deployment.yaml", &deployment(sub, &["main"]));
            let tgz = s.package(helm_path, &base.join("sub-packages"));
            chart.dependency(&tgz, sub, sub_version, Some(&format!("{sub}.enabled")));
        }
        chart.package(helm_path, &out)
    }
}

/// The chart `tgz` as an OCI artifact the way Helm pushes one (config: `Chart.yaml` as JSON; the
/// chart layer), with a provenance layer first when `signed` — pushed with
/// [`super::Registry::push`].
pub fn oci_chart(tgz: &[u8], name: &str, version: &str, signed: bool) -> Image {
    let config = format!(
        r#"{{"name":"{name}","version":"{version}","description":"made by the bundle test harness","apiVersion":"v2","appVersion":"{version}","type":"application"}}"#
    )
    .into_bytes();
    let prov = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: {name}\nversion: {version}\n\nfiles:\n  {name}-{version}.tgz: {}\n-----BEGIN PGP SIGNATURE-----\nnot a real signature\n-----END PGP SIGNATURE-----\n",
        sha256(tgz)
    )
    .into_bytes();
    let descriptor = |media_type: &str, bytes: &[u8]| {
        format!(
            r#"{{"mediaType":"{media_type}","digest":"{}","size":{}}}"#,
            sha256(bytes),
            bytes.len()
        )
    };
    let mut layers = Vec::new();
    let mut blobs = vec![(sha256(&config), config.clone())];
    if signed {
        layers.push(descriptor(HELM_PROV, &prov));
        blobs.push((sha256(&prov), prov.clone()));
    }
    layers.push(descriptor(HELM_CHART, tgz));
    blobs.push((sha256(tgz), tgz.to_vec()));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}],"annotations":{{"org.opencontainers.image.title":"{name}","org.opencontainers.image.version":"{version}"}}}}"#,
        descriptor(HELM_CONFIG, &config),
        layers.join(",")
    )
    .into_bytes();
    Image {
        media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
        digest: sha256(&manifest),
        manifest,
        blobs,
        children: Vec::new(),
    }
}

/// A classic repository's `index.yaml` listing `(name, version, url, digest)` entries (a digest
/// left out when `None`).
pub fn index_yaml(entries: &[(&str, &str, &str, Option<&str>)]) -> String {
    let mut by_name: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (name, version, url, digest) in entries {
        let mut e = format!(
            "    - apiVersion: v2\n      name: {name}\n      version: {version}\n      created: \"2026-01-01T00:00:00Z\"\n      urls:\n        - {url}\n"
        );
        if let Some(d) = digest {
            e.push_str(&format!(
                "      digest: {}\n",
                d.trim_start_matches("sha256:")
            ));
        }
        by_name.entry(name).or_default().push(e);
    }
    let mut out = String::from("apiVersion: v1\nentries:\n");
    for (name, list) in by_name {
        out.push_str(&format!("  {name}:\n"));
        for e in list {
            out.push_str(&e);
        }
    }
    out.push_str("generated: \"2026-01-01T00:00:00Z\"\n");
    out
}

/// A release manifest: a Namespace, a Deployment of `images`, and the CRD.
pub fn release_manifest(name: &str, images: &[&str]) -> String {
    let keys: Vec<String> = (0..images.len()).map(|i| format!("c{i}")).collect();
    let mut deployment = deployment(name, &keys.iter().map(String::as_str).collect::<Vec<_>>());
    for (k, img) in keys.iter().zip(images) {
        deployment = deployment.replace(&format!("{{{{ .Values.images.{k} }}}}"), img);
    }
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}-system\n---\n{deployment}---\n{}",
        crd("example.test", "Gadget", "gadgets")
    )
}

/// `helm pull oci://HOST/REPOSITORY --version VERSION` from a plain-HTTP registry into `dir`; the
/// pulled `.tgz`'s bytes.
pub fn helm_pull(
    helm_path: &Path,
    host: &str,
    repository: &str,
    version: &str,
    dir: &Path,
) -> Vec<u8> {
    std::fs::create_dir_all(dir).unwrap();
    helm(
        helm_path,
        &[
            "pull",
            &format!("oci://{host}/{repository}"),
            "--version",
            version,
            "--plain-http",
            "--destination",
            dir.to_str().unwrap(),
        ],
    );
    let name = repository.rsplit('/').next().unwrap();
    std::fs::read(dir.join(format!("{name}-{version}.tgz"))).expect("helm pull wrote the chart")
}

/// A packaged chart made in process (no `helm`): `NAME/Chart.yaml` (name, version, appVersion),
/// `NAME/values.yaml` and a Deployment running `images` (the first an init container when there are
/// several) in `NAME/templates/`, as a deterministic `.tgz`.
pub fn chart_tgz(name: &str, version: &str, app_version: &str, images: &[&str]) -> Vec<u8> {
    chart_tgz_with_crds(name, version, app_version, images, "")
}

/// As [`chart_tgz`], with `crds` (a YAML stream of CustomResourceDefinitions, may be empty) in the
/// chart's `crds/` directory.
pub fn chart_tgz_with_crds(
    name: &str,
    version: &str,
    app_version: &str,
    images: &[&str],
    crds: &str,
) -> Vec<u8> {
    let keys: Vec<String> = (0..images.len()).map(|i| format!("c{i}")).collect();
    let mut values = String::from("images:\n");
    for (k, img) in keys.iter().zip(images) {
        values.push_str(&format!("  {k}: {img}\n"));
    }
    if images.is_empty() {
        values = "{}\n".to_string();
    }
    let mut files = vec![
        (
            "Chart.yaml".to_string(),
            format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: {app_version:?}\n\
                 description: made by the bundle test harness\ntype: application\n"
            ),
        ),
        ("values.yaml".to_string(), values),
    ];
    if !crds.is_empty() {
        files.push(("crds/crds.yaml".to_string(), crds.to_string()));
    }
    if !images.is_empty() {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        files.push((
            "templates/deployment.yaml".to_string(),
            deployment(name, &keys),
        ));
    }
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (path, text) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, format!("{name}/{path}"), text.as_bytes())
            .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}
