//! `bundle render`: the locked platform as digest-pinned Kubernetes manifests.

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::render::{self, Options, RenderError};
use crate::types::RegistryPrefix;

/// Arguments of `bundle render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The lock to render.
    #[arg(long, default_value = "bundle.lock", value_name = "PATH")]
    lock: PathBuf,
    /// Output directory (`<component>/*.yaml`, `kustomization.yaml`, `kubeadm/`, `airgap/`).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        required_unless_present = "check"
    )]
    output: Option<PathBuf>,
    /// Rewrite every image to a mirror, `HOST[:PORT]/PREFIX/<source-registry>/<repository>`, and write
    /// containerd `hosts.toml` files for it under `DIR/airgap/certs.d/`.
    #[arg(long, value_name = "HOST[:PORT]/PREFIX")]
    registry: Option<String>,
    /// Render images without a digest as `REPOSITORY:TAG` instead of failing.
    #[arg(long)]
    allow_tags: bool,
    /// Render in memory and report problems (exit 1 on any); write nothing.
    #[arg(long)]
    check: bool,
}

pub(super) fn run(catalog: &Catalog, args: RenderArgs) -> Result<(), Failure> {
    let text = std::fs::read_to_string(&args.lock).map_err(|e| {
        let f = Failure::usage(format!("{}: {e}", args.lock.display()));
        if e.kind() == std::io::ErrorKind::NotFound {
            f.hint("run `bundle solve` (and `bundle pin`) first, or point --lock at a lock file")
        } else {
            f
        }
    })?;
    let lock = Lock::parse(&text, &args.lock.display().to_string())
        .map_err(|e| Failure::usage(e.to_string()))?;
    let mirror = match &args.registry {
        Some(r) => Some(RegistryPrefix::parse(r).map_err(|e| {
            Failure::usage(format!("--registry: {e}")).hint("e.g. --registry harbor.local/platform")
        })?),
        None => None,
    };
    let opts = Options {
        mirror,
        allow_tags: args.allow_tags,
    };
    let out = match render::render(&lock, catalog, &opts) {
        Ok(o) => o,
        Err(RenderError::Unpinned { images }) => {
            eprintln!(
                "error: {} image(s) in {} have no digest:",
                images.len(),
                args.lock.display()
            );
            for i in &images {
                eprintln!("  {i}");
            }
            eprintln!(
                "  hint: run `bundle pin` to resolve their digests, or pass --allow-tags to render tags"
            );
            return Err(Failure::negative());
        }
        Err(e @ RenderError::Template { .. }) => {
            return Err(Failure::usage(e.to_string()).hint(
                "templates address images by the last part of their repository name; \
                 a lock from another catalog may lack one",
            ));
        }
        Err(e) => {
            return Err(Failure::usage(e.to_string()).hint(format!(
                "fix {} (or re-create it with `bundle solve` and `bundle pin`)",
                args.lock.display()
            )));
        }
    };
    for s in &out.unrendered {
        eprintln!("note: {} is not rendered: {}", s.name, s.reason);
    }
    if !out.problems.is_empty() {
        eprintln!(
            "error: the rendered manifests have {} problem(s):",
            out.problems.len()
        );
        for p in &out.problems {
            eprintln!("  {p}");
        }
        if !args.check {
            eprintln!("  nothing was written");
        }
        return Err(Failure::negative());
    }
    let manifests = out
        .files
        .keys()
        .filter(|k| {
            k.ends_with(".yaml") && *k != "kustomization.yaml" && !k.starts_with("kubeadm/")
        })
        .count();
    if args.check {
        outln!(
            "ok: {} files ({manifests} manifests) for Kubernetes {} render cleanly",
            out.files.len(),
            lock.kubernetes
        );
        return Ok(());
    }
    let Some(dir) = &args.output else {
        return Err(Failure::usage("-o DIR is required (or pass --check)"));
    };
    render::write(&out, dir).map_err(|e| Failure::usage(e.to_string()))?;
    outln!(
        "wrote {} files ({manifests} manifests) to {} for Kubernetes {}",
        out.files.len(),
        dir.display(),
        lock.kubernetes
    );
    outln!("  install: kubectl apply -k {}", dir.display());
    if out.files.contains_key("kubeadm/cluster-configuration.yaml") {
        outln!(
            "  control plane: kubeadm init --config {}",
            dir.join("kubeadm")
                .join("cluster-configuration.yaml")
                .display()
        );
    }
    if opts.mirror.is_some() {
        outln!(
            "  containerd: copy {} to /etc/containerd/certs.d/",
            dir.join("airgap").join("certs.d").display()
        );
    }
    Ok(())
}
