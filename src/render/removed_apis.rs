//! API versions that Kubernetes no longer serves, by the minor release that removed them.
//!
//! Source: the Kubernetes Deprecated API Migration Guide,
//! <https://kubernetes.io/docs/reference/using-api/deprecation-guide/>. Only removals listed
//! there are carried here; a kind of `None` means every kind of that API version.

/// One removal: `api_version` (of `kind`, or of every kind) is not served from `removed_in` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovedApi {
    /// `group/version` (or `v1`-style core versions).
    pub api_version: &'static str,
    /// The kind, or `None` for every kind of the API version.
    pub kind: Option<&'static str>,
    /// The Kubernetes minor (`1.NN`) that no longer serves it.
    pub removed_in: (u64, u64),
    /// What to use instead.
    pub replacement: &'static str,
}

const fn r(
    api_version: &'static str,
    kind: Option<&'static str>,
    minor: u64,
    replacement: &'static str,
) -> RemovedApi {
    RemovedApi {
        api_version,
        kind,
        removed_in: (1, minor),
        replacement,
    }
}

/// The table (sorted by the release that removed them).
pub const REMOVED_APIS: &[RemovedApi] = &[
    // v1.16
    r("extensions/v1beta1", Some("DaemonSet"), 16, "apps/v1"),
    r("extensions/v1beta1", Some("Deployment"), 16, "apps/v1"),
    r("extensions/v1beta1", Some("ReplicaSet"), 16, "apps/v1"),
    r(
        "extensions/v1beta1",
        Some("NetworkPolicy"),
        16,
        "networking.k8s.io/v1",
    ),
    r(
        "extensions/v1beta1",
        Some("PodSecurityPolicy"),
        16,
        "policy/v1beta1 (itself removed in 1.25)",
    ),
    r("apps/v1beta1", None, 16, "apps/v1"),
    r("apps/v1beta2", None, 16, "apps/v1"),
    // v1.22
    r(
        "admissionregistration.k8s.io/v1beta1",
        None,
        22,
        "admissionregistration.k8s.io/v1",
    ),
    r(
        "apiextensions.k8s.io/v1beta1",
        None,
        22,
        "apiextensions.k8s.io/v1",
    ),
    r(
        "apiregistration.k8s.io/v1beta1",
        None,
        22,
        "apiregistration.k8s.io/v1",
    ),
    r(
        "authentication.k8s.io/v1beta1",
        Some("TokenReview"),
        22,
        "authentication.k8s.io/v1",
    ),
    r(
        "authorization.k8s.io/v1beta1",
        None,
        22,
        "authorization.k8s.io/v1",
    ),
    r(
        "certificates.k8s.io/v1beta1",
        None,
        22,
        "certificates.k8s.io/v1",
    ),
    r(
        "coordination.k8s.io/v1beta1",
        None,
        22,
        "coordination.k8s.io/v1",
    ),
    r(
        "extensions/v1beta1",
        Some("Ingress"),
        22,
        "networking.k8s.io/v1",
    ),
    r(
        "networking.k8s.io/v1beta1",
        Some("Ingress"),
        22,
        "networking.k8s.io/v1",
    ),
    r(
        "networking.k8s.io/v1beta1",
        Some("IngressClass"),
        22,
        "networking.k8s.io/v1",
    ),
    r(
        "rbac.authorization.k8s.io/v1beta1",
        None,
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    r(
        "scheduling.k8s.io/v1beta1",
        None,
        22,
        "scheduling.k8s.io/v1",
    ),
    r(
        "storage.k8s.io/v1beta1",
        Some("CSIDriver"),
        22,
        "storage.k8s.io/v1",
    ),
    r(
        "storage.k8s.io/v1beta1",
        Some("CSINode"),
        22,
        "storage.k8s.io/v1",
    ),
    r(
        "storage.k8s.io/v1beta1",
        Some("StorageClass"),
        22,
        "storage.k8s.io/v1",
    ),
    r(
        "storage.k8s.io/v1beta1",
        Some("VolumeAttachment"),
        22,
        "storage.k8s.io/v1",
    ),
    // v1.25
    r("batch/v1beta1", Some("CronJob"), 25, "batch/v1"),
    r(
        "discovery.k8s.io/v1beta1",
        Some("EndpointSlice"),
        25,
        "discovery.k8s.io/v1",
    ),
    r(
        "events.k8s.io/v1beta1",
        Some("Event"),
        25,
        "events.k8s.io/v1",
    ),
    r(
        "autoscaling/v2beta1",
        Some("HorizontalPodAutoscaler"),
        25,
        "autoscaling/v2",
    ),
    r(
        "policy/v1beta1",
        Some("PodDisruptionBudget"),
        25,
        "policy/v1",
    ),
    r(
        "policy/v1beta1",
        Some("PodSecurityPolicy"),
        25,
        "Pod Security Admission (no replacement API)",
    ),
    r(
        "node.k8s.io/v1beta1",
        Some("RuntimeClass"),
        25,
        "node.k8s.io/v1",
    ),
    // v1.26
    r(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        None,
        26,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    r(
        "autoscaling/v2beta2",
        Some("HorizontalPodAutoscaler"),
        26,
        "autoscaling/v2",
    ),
    // v1.27
    r(
        "storage.k8s.io/v1beta1",
        Some("CSIStorageCapacity"),
        27,
        "storage.k8s.io/v1",
    ),
    // v1.29
    r(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        None,
        29,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    // v1.32
    r(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        None,
        32,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
];

/// The removal that applies to `api_version`/`kind` on Kubernetes `major.minor`, if any.
pub fn removed(
    api_version: &str,
    kind: &str,
    major: u64,
    minor: u64,
) -> Option<&'static RemovedApi> {
    REMOVED_APIS.iter().find(|e| {
        e.api_version == api_version
            && e.kind.is_none_or(|k| k == kind)
            && (major, minor) >= e.removed_in
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_removals() {
        assert!(removed("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", 1, 32).is_some());
        assert!(removed("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", 1, 31).is_none());
        assert!(removed("policy/v1beta1", "PodSecurityPolicy", 1, 29).is_some());
        assert!(removed("apps/v1", "Deployment", 1, 37).is_none());
        let sorted = REMOVED_APIS
            .windows(2)
            .all(|w| w[0].removed_in <= w[1].removed_in);
        assert!(sorted);
    }
}
