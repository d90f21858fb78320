//! Rendering the locked platform into digest-pinned Kubernetes manifests.
//!
//! [`render`] turns a [`Lock`] into a set of files, entirely in memory: one directory per
//! component (`<component>/*.yaml`, from the minijinja templates under `templates/`, rendered with
//! strict undefined behaviour), `namespaces/namespaces.yaml`, a sorted `kustomization.yaml`, the
//! kubeadm `ClusterConfiguration` under `kubeadm/` and, with a mirror, containerd `hosts.toml`
//! files under `airgap/certs.d/`. Every template sees the whole platform, so components are wired
//! to each other (Grafana's data sources, the log shipper's Loki endpoint, ServiceMonitors for what
//! is installed, a cert-manager issuer for the ingress controller).
//!
//! The output is then checked ([`validate`]): every document parses and names its apiVersion,
//! kind and metadata.name; no API version is one the locked Kubernetes no longer serves
//! ([`removed_apis`]); every `image:` is pinned by digest. Same lock, same bytes.

pub mod artifacts;
mod checks;
mod context;
pub mod engine;
pub mod flux;
pub mod helm;
pub mod image;
pub(crate) mod images;
pub mod removed_apis;
mod schema;
mod templates;
mod validate;
mod values;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub use image::{ImageRef, ImageRefError, RegistryPrefix, hosts_toml};
pub use validate::{Problem, validate};

use crate::catalog::Catalog;
use crate::lock::Lock;

/// What `render` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Rewrite every image to this mirror, and write containerd `hosts.toml` files for it.
    pub mirror: Option<RegistryPrefix>,
    /// Render images without a digest as `REPOSITORY:TAG` instead of failing.
    pub allow_tags: bool,
}

/// How the platform reaches the cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Delivery {
    /// Rendered objects, installed with `kubectl apply -k`.
    #[default]
    Manifests,
    /// Flux objects (OCIRepository + HelmRelease per chart) that install the charts from the
    /// mirror; release manifests and glue objects as plain files.
    Flux,
}

/// The rendered platform, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Relative path (with `/`) → file contents, sorted by path.
    pub files: BTreeMap<String, String>,
    /// Components of the lock that are left out, and why (not an error).
    pub unrendered: Vec<Skipped>,
    /// Problems found by [`validate`]; empty when the output is good.
    pub problems: Vec<Problem>,
    /// Every image the platform uses and the objects that use it (sorted by image).
    pub images: Vec<ImageUse>,
    /// Things worth knowing about this render (not problems).
    pub notes: Vec<String>,
}

/// An image of the rendered platform.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageUse {
    /// Where it is pulled from (`[MIRROR/]REGISTRY/REPOSITORY@sha256:…`).
    pub image: String,
    /// The reference in the lock.
    pub reference: String,
    /// The component it belongs to.
    pub component: String,
    /// The objects that use it.
    pub users: Vec<ImageUser>,
}

/// An object that uses an image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageUser {
    /// The file.
    pub file: String,
    /// The 1-based document in the file.
    pub document: usize,
    /// Kind.
    pub kind: String,
    /// Namespace, for namespaced objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Field path of the reference.
    pub path: String,
}

/// A component of the lock that was not rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The component.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// Components rendered only beside another: (component, needs, why).
const NEEDS: &[(&str, &str, &str)] = &[
    (
        "alertmanager",
        "prometheus-operator",
        "its Alertmanager resource is run by prometheus-operator",
    ),
    ("alloy", "loki", "it ships logs to Loki"),
    ("fluent-bit", "loki", "it ships logs to Loki"),
    (
        "prometheus",
        "prometheus-operator",
        "its Prometheus resource is run by prometheus-operator",
    ),
];

/// Why a component of `lock` is not rendered, or `None` when it is (or is part of the control plane).
fn skip_reason(lock: &Lock, name: &str) -> Option<String> {
    if CONTROL_PLANE.contains(&name) {
        return None;
    }
    if !renderable().contains(&name) {
        return Some("no templates for it yet".to_string());
    }
    NEEDS
        .iter()
        .filter(|(c, _, _)| *c == name)
        .find(|(_, need, _)| !lock.components.iter().any(|x| x.name == *need))
        .map(|(_, need, why)| format!("needs {need}, which is not in the lock ({why})"))
}

/// Whether `name` is in the lock and gets manifests.
pub(crate) fn renders(lock: &Lock, name: &str) -> bool {
    !CONTROL_PLANE.contains(&name)
        && lock.components.iter().any(|x| x.name == name)
        && skip_reason(lock, name).is_none()
}

/// Rendering could not start or a template failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    /// Images without a digest, and tags are not allowed.
    #[error("{} image(s) in the lock have no digest: {}", images.len(), images.join(", "))]
    Unpinned {
        /// The references.
        images: Vec<String>,
    },
    /// Two images of one component end in the same repository name.
    #[error(
        "component {component} has two images named `{role}`; templates address images by that name"
    )]
    DuplicateRole {
        /// The component.
        component: String,
        /// The repository's last path component.
        role: String,
    },
    /// Helm is missing, too old or failed on a chart.
    #[error(transparent)]
    Helm(#[from] helm::HelmError),
    /// A chart or manifest is not in the content store, or is unusable.
    #[error(transparent)]
    Artifact(#[from] artifacts::ArtifactError),
    /// A chart's output or a release manifest is not YAML.
    #[error("{origin}: {message}")]
    Unparsable {
        /// Which chart or manifest.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// Flux objects cannot be written for a chart.
    #[error("--delivery flux: chart {chart}: {message}")]
    Flux {
        /// The chart.
        chart: String,
        /// Why.
        message: String,
    },
    /// A template failed (a missing image role or value, or a bug in the template).
    #[error("template {template}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        /// The template name.
        template: String,
        /// The line, when known.
        line: Option<usize>,
        /// What went wrong.
        message: String,
    },
}

/// Components that are part of the control plane: rendered as the kubeadm configuration, not as
/// manifests.
pub const CONTROL_PLANE: &[&str] = &["coredns", "etcd", "kubernetes", "pause"];

/// The first line of every rendered file.
pub const GENERATED_HEADER: &str = "# @generated by `bundle render` from bundle.lock. Do not edit: change the lock or the templates.";

/// Components that have templates.
pub fn renderable() -> Vec<&'static str> {
    let mut v: Vec<&str> = templates::TEMPLATES.iter().map(|t| t.component).collect();
    v.dedup();
    v
}

/// Renders the locked platform (see the module docs), then validates it.
pub fn render(lock: &Lock, catalog: &Catalog, opts: &Options) -> Result<Output, RenderError> {
    let ctx = context::build(lock, catalog, opts)?;
    let env = environment()?;
    let value = minijinja::Value::from(minijinja::value::Serde(&ctx.json));

    let mut files = BTreeMap::new();
    let mut manifests = Vec::new();
    let mut todo: Vec<&templates::Template> = vec![&templates::NAMESPACES];
    todo.extend(
        templates::TEMPLATES
            .iter()
            .filter(|t| renders(lock, t.component)),
    );
    for t in todo {
        let text = render_one(&env, t, &value)?;
        if text.trim().is_empty() {
            continue;
        }
        let path = format!("{}/{}.yaml", t.component, t.file);
        manifests.push(path.clone());
        files.insert(path, text);
    }
    if lock.components.iter().any(|x| x.name == "kubernetes") {
        let t = &templates::KUBEADM;
        let text = render_one(&env, t, &value)?;
        files.insert(format!("{}/{}.yaml", t.component, t.file), text);
    }
    if let Some(m) = &opts.mirror {
        for registry in &ctx.registries {
            files.insert(
                format!("airgap/certs.d/{registry}/hosts.toml"),
                hosts_toml(m, registry),
            );
        }
    }
    manifests.sort();
    let mut k = format!(
        "{GENERATED_HEADER}\n# Install: kubectl apply -k . (apply a second time if custom resources were refused \
         while their CRDs were still being established).\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
    );
    for m in &manifests {
        k.push_str(&format!("  - {m}\n"));
    }
    files.insert("kustomization.yaml".to_string(), k);

    let unrendered = lock
        .components
        .iter()
        .filter_map(|c| {
            skip_reason(lock, &c.name).map(|reason| Skipped {
                name: c.name.clone(),
                reason,
            })
        })
        .collect();
    let mut out = Output {
        files,
        unrendered,
        problems: Vec::new(),
        images: Vec::new(),
        notes: Vec::new(),
    };
    out.problems = validate(&out, &lock.kubernetes, opts.allow_tags);
    Ok(out)
}

fn environment() -> Result<Environment<'static>, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| template_error("(syntax)", &e))?;
    env.set_syntax(syntax);
    env.add_function("version_at_least", context::version_at_least);
    env.add_template("_macros.j2", templates::MACROS)
        .map_err(|e| template_error("_macros.j2", &e))?;
    for t in templates::TEMPLATES
        .iter()
        .chain([&templates::NAMESPACES, &templates::KUBEADM])
    {
        env.add_template_owned(t.name(), t.source)
            .map_err(|e| template_error(&t.name(), &e))?;
    }
    Ok(env)
}

fn render_one(
    env: &Environment<'static>,
    t: &templates::Template,
    ctx: &minijinja::Value,
) -> Result<String, RenderError> {
    let name = t.name();
    let body = env
        .get_template(&name)
        .and_then(|tpl| tpl.render(ctx))
        .map_err(|e| template_error(&name, &e))?;
    if body.trim().is_empty() {
        return Ok(String::new());
    }
    let mut text = format!("{GENERATED_HEADER}\n# Template: templates/{name}\n");
    text.push_str(body.trim_start_matches('\n'));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

pub(crate) fn template_error(name: &str, e: &minijinja::Error) -> RenderError {
    let mut message = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    RenderError::Template {
        template: e.name().unwrap_or(name).to_string(),
        line: e.line(),
        message,
    }
}

/// Writes the output under `dir` (creating directories); returns the paths written.
/// Files already in `dir` that this render does not produce are left alone.
pub fn write(out: &Output, dir: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let mut written = Vec::new();
    for (rel, text) in &out.files {
        let path = rel.split('/').fold(dir.to_path_buf(), |p, s| p.join(s));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| WriteError {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| WriteError {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// A rendered file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    /// The path.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}
