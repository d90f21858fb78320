//! The kubeadm part of the template context: kubeadm takes image repositories and tags, not digests.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::image::{ImageRef, repository_on};
use crate::lock::Lock;
use crate::types::Digest;

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
    kubeadm(lock, &parsed, mirror)
}

/// Values for the kubeadm `ClusterConfiguration`: kubeadm takes repositories and tags (it cannot
/// take digests), so the digests are listed for the reader.
fn kubeadm(
    lock: &Lock,
    parsed: &BTreeMap<String, Vec<(ImageRef, Option<Digest>)>>,
    mirror: Option<&super::RegistryPrefix>,
) -> Value {
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
