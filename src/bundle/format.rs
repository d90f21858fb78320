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
