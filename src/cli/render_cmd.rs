//! `bundle render`: the locked platform from upstream's charts and release manifests, every image
//! pinned by digest (at the mirror), as files `kubectl apply -k` installs, or as Flux objects.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::Failure;
use super::lockfile::read_lock;
use super::registry::CacheArgs;
use crate::airgap::carried::{self, CarriedError};
use crate::catalog::Catalog;
use crate::render::{self, Delivery, Options, Output, RenderError};
use crate::types::RegistryPrefix;

/// Arguments of `bundle render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The lock to render (its charts and manifests are read from the cache `bundle pin` filled).
    #[arg(
        long,
        default_value = "bundle.lock",
        value_name = "PATH",
        conflicts_with = "bundle"
    )]
    lock: PathBuf,
    /// Render from a bundle instead (`bundle export --airgap` output: directory, .tar or .tar.zst):
    /// its lock and the rendering stored in it, with the images moved to --registry. No helm needed.
    #[arg(long, value_name = "PATH")]
    bundle: Option<PathBuf>,
    /// Output directory (`kustomization.yaml`, `<component>/*.yaml`, `namespaces/`, `kubeadm/`,
    /// `airgap/`).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
    /// Pull every image from this mirror, as `HOST[:PORT]/PREFIX/<source-registry>/<repository>@sha256:…`,
    /// and write containerd `hosts.toml` files for it under `DIR/airgap/certs.d/`.
    #[arg(long, value_name = "HOST[:PORT]/PREFIX")]
    registry: Option<String>,
    /// `manifests`: upstream's objects rendered with `helm template` (needs helm v3.8+ or v4), for
    /// `kubectl apply -k`. `flux`: per chart an OCIRepository pinned by digest and a HelmRelease that
    /// Flux installs from the mirror (no helm needed here).
    #[arg(long, value_enum, default_value_t = DeliveryArg::Manifests)]
    delivery: DeliveryArg,
    /// Render images without a digest as `REPOSITORY:TAG` instead of failing.
    #[arg(long)]
    allow_tags: bool,
    /// Render in memory and report problems (exit 1 on any); write nothing.
    #[arg(long)]
    check: bool,
    /// Print every image the rendered platform uses and the objects that use it (with -o, write too).
    #[arg(long)]
    list_images: bool,
    /// Format of --list-images.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
    #[command(flatten)]
    cache: CacheArgs,
}

/// How the platform reaches the cluster.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DeliveryArg {
    /// Rendered objects, for `kubectl apply -k`.
    Manifests,
    /// Flux OCIRepository + HelmRelease objects per chart.
    Flux,
}

/// Formats of `--list-images`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    Text,
    Json,
}

pub(super) fn run(
    catalog: impl FnOnce() -> Result<Catalog, Failure>,
    args: RenderArgs,
) -> Result<(), Failure> {
    let opts = options(&args)?;
    let (out, kubernetes) = match &args.bundle {
        Some(path) => from_bundle(path, &opts, catalog)?,
        None => from_lock(&args, &opts, catalog)?,
    };
    for s in &out.unrendered {
        eprintln!("note: {} is not rendered: {}", s.name, s.reason);
    }
    for n in &out.notes {
        eprintln!("note: {n}");
    }
    if !out.problems.is_empty() {
        eprintln!(
            "error: the rendered platform has {} problem(s):",
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
    if args.list_images {
        list_images(&out, args.format);
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
            "ok: {} files ({manifests} manifests, {} images) for Kubernetes {kubernetes} render cleanly",
            out.files.len(),
            out.images.len(),
        );
        return Ok(());
    }
    let Some(dir) = &args.output else {
        return Ok(());
    };
    render::write(&out, dir).map_err(|e| Failure::usage(e.to_string()))?;
    say_written(&args, &opts, &out, dir, manifests, &kubernetes);
    Ok(())
}

/// The render options the flags ask for; refuses a run that would write nothing and a malformed
/// `--registry`.
fn options(args: &RenderArgs) -> Result<Options, Failure> {
    if args.output.is_none() && !args.check && !args.list_images {
        return Err(
            Failure::usage("-o DIR is required (or pass --check or --list-images)")
                .hint("e.g. bundle render -o platform/ --registry harbor.example.com/platform"),
        );
    }
    let mirror = match &args.registry {
        Some(r) => Some(RegistryPrefix::parse(r).map_err(|e| {
            Failure::usage(format!("--registry: {e}")).hint("e.g. --registry harbor.local/platform")
        })?),
        None => None,
    };
    let delivery = match args.delivery {
        DeliveryArg::Manifests => Delivery::Manifests,
        DeliveryArg::Flux => Delivery::Flux,
    };
    Ok(Options {
        mirror,
        allow_tags: args.allow_tags,
        delivery,
    })
}

/// The near side: the lock's charts and manifests from the cache, rendered; the Kubernetes version.
fn from_lock(
    args: &RenderArgs,
    opts: &Options,
    catalog: impl FnOnce() -> Result<Catalog, Failure>,
) -> Result<(Output, String), Failure> {
    let lock = read_lock(&args.lock)?;
    let store = args.cache.dir()?;
    let out = match render::render(&lock, &catalog()?, &store, opts) {
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
        Err(e) => return Err(e.into()),
    };
    Ok((out, lock.kubernetes.to_string()))
}

/// What was written to `dir`, and how to install it (on standard error when the image list is JSON
/// on standard output).
fn say_written(
    args: &RenderArgs,
    opts: &Options,
    out: &Output,
    dir: &std::path::Path,
    manifests: usize,
    kubernetes: &str,
) {
    let say = |line: String| {
        if args.list_images && args.format == ListFormat::Json {
            eprintln!("{line}");
        } else {
            outln!("{line}");
        }
    };
    say(format!(
        "wrote {} files ({manifests} manifests) to {} for Kubernetes {kubernetes}",
        out.files.len(),
        dir.display(),
    ));
    if out.files.contains_key("kubeadm/cluster-configuration.yaml") {
        say(format!(
            "  control plane: kubeadm init --config {}",
            dir.join("kubeadm")
                .join("cluster-configuration.yaml")
                .display()
        ));
    }
    if opts.mirror.is_some() {
        say(format!(
            "  containerd: copy {}/* to /etc/containerd/certs.d/",
            dir.join("airgap").join("certs.d").display()
        ));
    }
    say(match opts.delivery {
        Delivery::Manifests => format!(
            "  install: kubectl apply --server-side -k {} (again once CRDs and webhooks are up)",
            dir.display()
        ),
        Delivery::Flux => format!(
            "  install: kubectl apply --server-side -k {}, then `flux get helmreleases -A` \
             (helm-controller installs the charts from the mirror)",
            dir.display()
        ),
    });
}

/// The far side: the rendering the bundle carries, moved to the mirror (no helm); or, for Flux,
/// the Flux objects for the charts the bundle carries (a bundle directory is a content store).
fn from_bundle(
    path: &std::path::Path,
    opts: &Options,
    catalog: impl FnOnce() -> Result<Catalog, Failure>,
) -> Result<(Output, String), Failure> {
    let failure = |e: CarriedError| match e {
        CarriedError::Read(e) => e.into(),
        CarriedError::Lock(e) => e.into(),
        e => Failure::usage(e.to_string())
            .hint("`bundle verify` checks a bundle; `bundle inspect` shows what it holds"),
    };
    let lock = carried::lock(path).map_err(failure)?;
    let kubernetes = lock.kubernetes.to_string();
    let out = match opts.delivery {
        Delivery::Manifests => {
            let files = carried::rendered(path).map_err(failure)?;
            render::relocate(&files, &lock, opts.mirror.as_ref())?
        }
        Delivery::Flux => {
            if !path.is_dir() {
                return Err(Failure::usage(format!(
                    "--delivery flux --bundle {}: Flux objects are made from the charts in a bundle \
                     directory",
                    path.display()
                ))
                .hint("export to a directory (bundle export --airgap -o DIR), or extract the archive"));
            }
            // The catalog the lock was solved against travels in the bundle (older bundles: --catalog).
            let catalog = match carried::catalog(path) {
                Ok(c) => c,
                Err(CarriedError::NoCatalog { .. }) => catalog()?,
                Err(e) => return Err(failure(e)),
            };
            render::render(&lock, &catalog, path, opts)?
        }
    };
    Ok((out, kubernetes))
}

fn list_images(out: &Output, format: ListFormat) {
    match format {
        ListFormat::Json => {
            let v = serde_json::json!({ "images": out.images });
            outln!(
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".to_string())
            );
        }
        ListFormat::Text => {
            for i in &out.images {
                outln!("{}  ({}, locked as {})", i.image, i.component, i.reference);
                for u in &i.users {
                    let name = match &u.namespace {
                        Some(ns) => format!("{ns}/{}", u.name),
                        None => u.name.clone(),
                    };
                    outln!(
                        "  {} (document {}): {} {name}: {}",
                        u.file,
                        u.document,
                        u.kind,
                        u.path
                    );
                }
            }
        }
    }
}
