//! The template context: the whole locked platform, with images already pinned and rewritten.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::image::{ImageRef, repository_on};
use super::{Options, RenderError};
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::types::{Digest, Version};

/// The namespace each rendered component is installed in.
pub(crate) fn namespace_of(component: &str) -> &'static str {
    match component {
        "calico" | "cilium" => "kube-system",
        "traefik" => "traefik",
        "cert-manager" => "cert-manager",
        "loki" | "alloy" | "fluent-bit" => "logging",
        _ => "monitoring",
    }
}

/// The pod network; kubeadm's `networking.podSubnet` and the CNI's pool agree on it.
const POD_CIDR: &str = "10.244.0.0/16";
/// kubeadm's default service network.
const SERVICE_CIDR: &str = "10.96.0.0/12";
/// kubeadm's default cluster domain.
const CLUSTER_DOMAIN: &str = "cluster.local";

/// The context and what the renderer needs besides it.
pub(crate) struct Context {
    /// What templates see.
    pub json: Value,
    /// Source registries of every image (for `hosts.toml`), sorted.
    pub registries: BTreeSet<String>,
}

pub(crate) fn build(
    lock: &Lock,
    catalog: &Catalog,
    opts: &Options,
) -> Result<Context, RenderError> {
    let mirror = opts.mirror.as_ref();
    let mut unpinned = Vec::new();
    let mut registries = BTreeSet::new();
    let mut components = serde_json::Map::new();
    let mut provides = serde_json::Map::new();
    let mut namespaces = BTreeSet::new();
    let mut parsed: BTreeMap<String, Vec<(ImageRef, Option<Digest>)>> = BTreeMap::new();
    for c in &lock.components {
        let mut images = serde_json::Map::new();
        let mut tags = serde_json::Map::new();
        let mut list = Vec::new();
        for i in &c.images {
            let r = i.reference.clone();
            registries.insert(r.registry().to_string());
            let repo = repository_on(&r, mirror);
            let rendered = match &i.digest {
                Some(d) => format!("{repo}@{d}"),
                None => {
                    unpinned.push(i.reference.to_string());
                    format!("{repo}:{}", r.tag().unwrap_or("latest"))
                }
            };
            let role = r.base_name().to_string();
            if images
                .insert(role.clone(), Value::String(rendered))
                .is_some()
            {
                return Err(RenderError::DuplicateRole {
                    component: c.name.clone(),
                    role,
                });
            }
            tags.insert(role, json!(r.tag()));
            list.push((r, i.digest.clone()));
        }
        parsed.insert(c.name.clone(), list);
        let ns = namespace_of(&c.name);
        if super::renders(lock, &c.name) {
            namespaces.insert(ns);
        }
        if !(super::CONTROL_PLANE.contains(&c.name.as_str()) || super::renders(lock, &c.name)) {
            // Left out: templates must not wire to it.
            continue;
        }
        components.insert(
            c.name.clone(),
            json!({
                "name": c.name,
                "version": c.version.to_string(),
                "namespace": ns,
                "images": images,
                "tags": tags,
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
    if !unpinned.is_empty() && !opts.allow_tags {
        unpinned.sort();
        return Err(RenderError::Unpinned { images: unpinned });
    }
    namespaces.remove("kube-system");
    let k = &lock.kubernetes;
    let kubeadm = kubeadm(lock, &parsed, opts);
    let json = json!({
        "kubernetes": {
            "version": k.to_string(),
            "major": k.major(),
            "minor": k.minor(),
        },
        "catalog": lock.catalog,
        "components": components,
        "provides": provides,
        "namespaces": namespaces.into_iter().collect::<Vec<_>>(),
        "network": {
            "pod_cidr": POD_CIDR,
            "service_cidr": SERVICE_CIDR,
            "cluster_domain": CLUSTER_DOMAIN,
        },
        "kubeadm": kubeadm,
        "mirror": mirror.map(|m| m.to_string()),
    });
    Ok(Context { json, registries })
}

/// Values for the kubeadm `ClusterConfiguration` of `lock`, images on `mirror`.
pub(crate) fn kubeadm_json(lock: &Lock, mirror: Option<&super::RegistryPrefix>) -> Value {
    let mut parsed: BTreeMap<String, Vec<(ImageRef, Option<crate::types::Digest>)>> =
        BTreeMap::new();
    for c in &lock.components {
        let list = c
            .images
            .iter()
            .map(|i| (i.reference.clone(), i.digest.clone()))
            .collect();
        parsed.insert(c.name.clone(), list);
    }
    let opts = Options {
        mirror: mirror.cloned(),
        allow_tags: true,
    };
    kubeadm(lock, &parsed, &opts)
}

/// Values for the kubeadm `ClusterConfiguration`: kubeadm takes repositories and tags (it cannot
/// take digests), so the digests are listed for the reader.
fn kubeadm(
    lock: &Lock,
    parsed: &BTreeMap<String, Vec<(ImageRef, Option<Digest>)>>,
    opts: &Options,
) -> Value {
    let mirror = opts.mirror.as_ref();
    let parent = |r: &ImageRef| {
        let full = repository_on(r, mirror);
        full.rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .unwrap_or(full)
    };
    let first = |name: &str| parsed.get(name).and_then(|v| v.first());
    let image_repository = first("kubernetes")
        .map(|(r, _)| parent(r))
        .unwrap_or_else(|| {
            ImageRef::parse("registry.k8s.io/kube-apiserver")
                .map(|r| parent(&r))
                .unwrap_or_default()
        });
    let part = |name: &str| match first(name) {
        Some((r, _)) => json!({"repository": parent(r), "tag": r.tag()}),
        None => Value::Null,
    };
    let mut digests = Vec::new();
    for name in ["kubernetes", "etcd", "coredns", "pause"] {
        for (r, d) in parsed.get(name).into_iter().flatten() {
            digests.push(json!({
                "image": format!("{}:{}", repository_on(r, mirror), r.tag().unwrap_or("latest")),
                "digest": d,
            }));
        }
    }
    let v = &lock.kubernetes;
    // kubeadm.k8s.io/v1beta4 is served from kubeadm v1.31 on; v1beta3 before it.
    // Source: https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/
    let api_version = if (v.major(), v.minor()) >= (1, 31) {
        "kubeadm.k8s.io/v1beta4"
    } else {
        "kubeadm.k8s.io/v1beta3"
    };
    json!({
        "api_version": api_version,
        "image_repository": image_repository,
        "etcd": part("etcd"),
        "dns": part("coredns"),
        "pause": part("pause"),
        "digests": digests,
    })
}

/// Template function `version_at_least(version, minimum)`: whether `version` ≥ `minimum`
/// (plain `MAJOR.MINOR.PATCH`).
pub(crate) fn version_at_least(version: &str, minimum: &str) -> Result<bool, minijinja::Error> {
    let p = |s: &str| {
        Version::parse_strict(s).map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("version_at_least: `{s}`: {e}"),
            )
        })
    };
    Ok(p(version)? >= p(minimum)?)
}
