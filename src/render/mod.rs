//! Rendering the locked platform from upstream's charts and release manifests.
//!
//! [`render`] reads the charts and manifests the lock names from a content store (the cache `bundle
//! pin` fills, or a bundle's OCI layout: both `blobs/sha256/<hex>`), never from the network, and
//! hands them to the [`engine`]: `helm template` per chart with our values (`templates/<component>/
//! values*.yaml.j2`), release manifests as they are, glue objects no upstream artifact makes, every
//! image rewritten to the lock's digest (at the mirror, when there is one), grouped per component
//! with a `kustomization.yaml`, then checked ([`checks`]: documents, removed APIs, custom resources
//! against their CRDs' schemas, every image pinned and in the lock). `--delivery flux` writes Flux
//! objects instead of rendering charts. [`relocate`] moves a rendering to another mirror without
//! helm (what the disconnected side does with the rendering a bundle carries). Same lock and
//! options, same bytes.

pub mod artifacts;
mod checks;
mod context;
pub mod engine;
pub mod flux;
pub mod helm;
pub mod image;
pub(crate) mod images;
pub mod removed_apis;
mod request;
mod schema;
mod validate;
mod values;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use engine::relocate;
pub use image::{ImageRef, ImageRefError, RegistryPrefix, hosts_toml};
pub use validate::Problem;

use crate::catalog::Catalog;
use crate::lock::Lock;

/// What `render` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Rewrite every image to this mirror, and write containerd `hosts.toml` files for it.
    pub mirror: Option<RegistryPrefix>,
    /// Render images without a digest as `REPOSITORY:TAG` instead of failing.
    pub allow_tags: bool,
    /// Rendered objects, or Flux objects that install the charts in the cluster.
    pub delivery: Delivery,
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

/// Renders the locked platform (see the module docs) from the charts and release manifests in the
/// content store at `store`, then checks it. A chart or manifest the lock names without a digest, or
/// that is not in the store, is an error that says to run `bundle pin`.
pub fn render(
    lock: &Lock,
    catalog: &Catalog,
    store: &Path,
    opts: &Options,
) -> Result<Output, RenderError> {
    let artifacts = artifacts::Store::new(store).artifacts(&artifacts::wanted(lock)?)?;
    engine::render(&engine::Request {
        lock,
        catalog,
        artifacts: &artifacts,
        mirror: opts.mirror.as_ref(),
        allow_tags: opts.allow_tags,
        delivery: opts.delivery,
    })
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
