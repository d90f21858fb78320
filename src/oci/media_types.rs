//! Every media type this crate reads or writes, in one place, and what each one is.
//!
//! Images come as OCI (image-spec v1.1) or Docker schema2 documents and are carried byte for byte
//! under their own media type. Helm charts travel as OCI artifacts with Helm's own config and layer
//! types (helm.sh `pkg/registry`), so that `helm pull oci://…` and Harbor read them.

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest (also the manifest of an OCI artifact).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The OCI empty descriptor (content `{}`), the config of an artifact that needs none.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Content of the OCI empty descriptor.
pub const OCI_EMPTY_CONTENT: &[u8] = b"{}";
/// Digest of [`OCI_EMPTY_CONTENT`].
pub const OCI_EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// Prefix of OCI layers that registries may refuse to distribute (may be absent from a bundle).
pub const OCI_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

/// Docker schema2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Prefix of Docker layer media types (`…diff.tar.gzip`, `…foreign.diff.tar.gzip`).
pub const DOCKER_LAYER_PREFIX: &str = "application/vnd.docker.image.rootfs.";
/// Docker foreign (non-distributable) layer.
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Prefix shared by every Docker media type.
pub const DOCKER_PREFIX: &str = "application/vnd.docker.";

/// Helm chart config (Chart.yaml as JSON), the config of a Helm OCI artifact.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm chart content: the chart's `.tgz`, byte for byte. Find it by this type, never by position.
pub const HELM_CHART_CONTENT: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Helm's deprecated chart content type (`helm pull` still accepts it).
pub const HELM_CHART_CONTENT_LEGACY: &str = "application/tar+gzip";
/// Helm provenance file (`.prov`), the signature layer of a signed chart.
pub const HELM_PROVENANCE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// Manifest media types asked for when fetching a manifest (`Accept`), in order of preference.
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// Annotation of a descriptor or manifest: the title of a layer (its file name).
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// Annotation of an `index.json` entry: the reference the entry is known by
/// (`registry.k8s.io/pause:3.10`), read by `skopeo`, `ctr import` and `oci:` transports.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// Annotation of a manifest: when it was created.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
/// Annotation on an index entry marking a BuildKit attestation (not a runnable platform).
pub const DOCKER_REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";

/// Whether `media_type` is an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Whether `media_type` is an image manifest (OCI or Docker schema2).
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether `media_type` is a Docker one.
pub fn is_docker(media_type: &str) -> bool {
    media_type.starts_with(DOCKER_PREFIX)
}

/// Whether a layer of `media_type` may be absent (registries may refuse to distribute it).
pub fn is_nondistributable(media_type: &str) -> bool {
    media_type.starts_with(OCI_NONDISTRIBUTABLE_PREFIX) || media_type == DOCKER_FOREIGN_LAYER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(is_index(OCI_INDEX) && is_index(DOCKER_MANIFEST_LIST) && !is_index(OCI_MANIFEST));
        assert!(is_manifest(DOCKER_MANIFEST) && !is_manifest(OCI_CONFIG));
        assert!(is_nondistributable(DOCKER_FOREIGN_LAYER));
        assert!(is_docker(DOCKER_CONFIG) && !is_docker(HELM_CONFIG));
        assert_eq!(
            crate::types::Digest::sha256_of(OCI_EMPTY_CONTENT).as_str(),
            OCI_EMPTY_DIGEST
        );
    }
}
