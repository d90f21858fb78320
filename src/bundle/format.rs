//! Every on-disk name of a bundle, in one place (the format is described in `airgap/FORMAT.md`).
//!
//! A bundle is an OCI image layout (image-spec v1.1 `image-layout.md`): `oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`; as a directory, a `.tar` of that directory, or a zstd-compressed `.tar.zst`.

/// Version of the bundle format this build writes (recorded in `index.json` annotations).
pub const BUNDLE_FORMAT_VERSION: &str = "1";
/// The layout marker file.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// Its content.
pub const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
/// The top-level index.
pub const INDEX_FILE: &str = "index.json";
/// Where blobs live, by algorithm and hex digest.
pub const BLOBS_DIR: &str = "blobs/sha256";
/// Annotation on each `index.json` entry: the image's full original reference
/// (`registry.k8s.io/ingress-nginx/controller:v1.13.9`), read by `skopeo inspect oci:PATH:<reference>`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// Annotation on each `index.json` entry: the component the image belongs to.
pub const COMPONENT_ANNOTATION: &str = "dev.bundle.component";
/// Annotation on a filtered index entry: the digest of the upstream index it was filtered from.
pub const ORIGINAL_DIGEST_ANNOTATION: &str = "dev.bundle.original-digest";
/// Annotation on `index.json` itself: the bundle format version.
pub const FORMAT_VERSION_ANNOTATION: &str = "dev.bundle.format-version";
/// `artifactType` of the artifact that carries the lock and the rendered manifests.
pub const PLATFORM_ARTIFACT_TYPE: &str = "application/vnd.bundle.platform.v1";
/// Media type of the lock layer inside that artifact.
pub const LOCK_MEDIA_TYPE: &str = "application/vnd.bundle.lock.v1+yaml";
/// Media type of the rendered-manifests layer (a deterministic tar of the render output).
pub const MANIFESTS_MEDIA_TYPE: &str = "application/vnd.bundle.manifests.v1.tar";
/// `org.opencontainers.image.ref.name` of the platform artifact in `index.json`.
pub const PLATFORM_REF_NAME: &str = "bundle.platform";
/// Suffix of files being written; renamed to their final name once verified.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// The limit on a JSON document (manifest, index, config) read into memory, as registries apply it.
pub const MAX_DOCUMENT_SIZE: u64 = 4 * 1024 * 1024;
/// The limit on `index.json` and `oci-layout` read into memory.
pub const MAX_INDEX_SIZE: u64 = 64 * 1024 * 1024;
/// The limit on the lock read from the platform artifact.
pub const MAX_LOCK_SIZE: u64 = 16 * 1024 * 1024;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The OCI empty descriptor's media type (content `{}`).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Digest of the OCI empty descriptor's content `{}`.
pub const OCI_EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// Prefix of OCI layers that registries may refuse to distribute (may be absent from a bundle).
pub const OCI_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";
/// Docker schema2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Prefix of Docker layer media types (`…diff.tar.gzip`, `…foreign.diff.tar.gzip`).
pub const DOCKER_LAYER_PREFIX: &str = "application/vnd.docker.image.rootfs.";
/// Docker foreign (non-distributable) layer media type.
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Annotation on a manifest descriptor marking a BuildKit attestation (not a runnable platform).
pub const DOCKER_REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";
/// The `imageLayoutVersion` this build reads and writes.
pub const OCI_LAYOUT_VERSION: &str = "1.0.0";
/// Suffix of the work directory next to a `.tar`/`.tar.zst` output (`PATH.partial.d/`), where the layout
/// is built before it is archived; kept when an export fails, so that a re-run resumes.
pub const WORKDIR_SUFFIX: &str = ".partial.d";
