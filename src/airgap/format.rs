//! Every name a bundle adds to an OCI image layout, in one place (the format is described in
//! `airgap/FORMAT.md`; the layout's own names are in [`crate::oci::layout`], its media types in
//! [`crate::oci::media_types`]).
//!
//! A bundle is an OCI image layout (image-spec v1.1 `image-layout.md`): `oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`; as a directory, a `.tar` of that directory, or a zstd-compressed `.tar.zst`.

use std::path::{Path, PathBuf};

use crate::oci::media_types::{HELM_CONFIG, REF_NAME_ANNOTATION};
use crate::oci::wire::Descriptor;

/// Version of the bundle format this build writes (recorded in `index.json` annotations).
///
/// 4: upstream's referrers (signatures, attestations, SBOMs) of images are entries of `index.json`
/// ([`EntryKind::Referrers`], told apart by [`REFERRER_SUBJECT_ANNOTATION`]); a format-3 reader would
/// take them for unnamed images. 3: upstream's charts (Helm OCI artifacts) and release manifests (artifacts of
/// [`RELEASE_MANIFESTS_ARTIFACT_TYPE`]) are entries of `index.json`, told apart by their
/// `artifactType` and named by [`NAME_ANNOTATION`], not `ref.name` (for the same reason as the
/// platform artifact). 2: the platform artifact's `index.json` entry is found by its `artifactType` and carries no
/// `org.opencontainers.image.ref.name` (`ctr images import` unpacks every named entry as an image,
/// and an artifact cannot be unpacked); image names are canonical references. 1: the platform
/// artifact was named `bundle.platform`.
pub const BUNDLE_FORMAT_VERSION: &str = "4";
/// Every format version this build reads.
pub const READABLE_FORMAT_VERSIONS: &[&str] = &["1", "2", "3", "4"];
/// Annotation on each `index.json` entry: the component(s) the image belongs to (comma-separated).
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
/// What the platform artifact is called in messages (and its `org.opencontainers.image.ref.name` in a
/// format-1 bundle).
pub const PLATFORM_REF_NAME: &str = "bundle.platform";
/// Title annotations of the platform artifact's layers.
pub const LOCK_TITLE: &str = "bundle.lock";
/// See [`LOCK_TITLE`].
pub const MANIFESTS_TITLE: &str = "manifests.tar";
/// Media type of the catalog layer of the platform artifact: the catalog the lock was solved
/// against, as the deterministic tar of `Catalog::write_tar` (absent in bundles written before it).
pub const CATALOG_MEDIA_TYPE: &str = "application/vnd.bundle.catalog.v1.tar";
/// See [`LOCK_TITLE`].
pub const CATALOG_TITLE: &str = "catalog.tar";
/// Media type of the optional plan layer of the platform artifact (`bundle export --plan DIR`): a
/// deterministic tar of the plan's step locks, by file name.
pub const PLAN_MEDIA_TYPE: &str = "application/vnd.bundle.plan.v1.tar";
/// Title annotation of that layer.
pub const PLAN_TITLE: &str = "plan.tar";

/// `artifactType` of the artifact that carries one component version's release manifests (on the
/// manifest and on its `index.json` entry).
pub const RELEASE_MANIFESTS_ARTIFACT_TYPE: &str = "application/vnd.bundle.release-manifests.v1";
/// Media type of one release manifest in that artifact: the file, byte for byte as upstream
/// publishes it.
pub const RELEASE_MANIFEST_MEDIA_TYPE: &str = "application/vnd.bundle.release-manifest.v1+yaml";
/// Annotation on a release manifest layer: the URL upstream publishes it at (as the lock names it).
pub const SOURCE_URL_ANNOTATION: &str = "dev.bundle.source-url";
/// Annotation on a chart's `index.json` entry: its repository as the lock names it (`oci://…` or
/// `https://…`).
pub const CHART_REPOSITORY_ANNOTATION: &str = "dev.bundle.chart-repository";
/// Annotation on a chart's or release manifests artifact's `index.json` entry: its name,
/// `REGISTRY/REPOSITORY:TAG` as `org.opencontainers.image.ref.name` is for an image (a mirror pushes it
/// there). Not `ref.name` itself: `ctr images import` would take the entry for an image and fail to
/// unpack it.
pub const NAME_ANNOTATION: &str = "dev.bundle.ref.name";
/// The name release manifests artifacts go by, before `/<component>:<version>`
/// (`bundle.dev/manifests/calico:3.31.2`); a name, not a host anyone contacts.
pub const RELEASE_MANIFESTS_NAME: &str = "bundle.dev/manifests";

/// Annotation on a referrers entry of `index.json`: the digest of the manifest (or index) it refers
/// to, its subject (an image's top manifest or one of its platform manifests).
pub const REFERRER_SUBJECT_ANNOTATION: &str = "dev.bundle.referrer.subject";
/// Annotation on a referrers entry: the name of the `index.json` entry whose image holds the subject.
pub const REFERRER_OF_ANNOTATION: &str = "dev.bundle.referrer.of";
/// Annotation on a referrers entry: how upstream published it (a [`ReferrerScheme`] name).
pub const REFERRER_SCHEME_ANNOTATION: &str = "dev.bundle.referrer.scheme";

/// How a referrers entry was published upstream, and so how a mirror publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReferrerScheme {
    /// The OCI 1.1 referrers of the subject, as an OCI index in the referrers tag schema
    /// (`sha256-<hex>`): upstream's fallback tag as it was served, or made from the referrers API's
    /// answer when upstream has the API.
    Referrers,
    /// A cosign tag (`sha256-<hex>.sig`, `.att`, `.sbom`), the manifest as it was served.
    Cosign,
}

impl ReferrerScheme {
    /// `referrers`, `cosign`.
    pub fn name(self) -> &'static str {
        match self {
            ReferrerScheme::Referrers => "referrers",
            ReferrerScheme::Cosign => "cosign",
        }
    }

    /// The scheme a [`REFERRER_SCHEME_ANNOTATION`] value names.
    pub fn parse(s: &str) -> Option<ReferrerScheme> {
        match s {
            "referrers" => Some(ReferrerScheme::Referrers),
            "cosign" => Some(ReferrerScheme::Cosign),
            _ => None,
        }
    }
}

/// The suffixes of cosign's tag scheme (`sha256-<hex>.sig`, …), with what each holds.
pub const COSIGN_SUFFIXES: [(&str, &str); 3] = [
    ("sig", "signature"),
    ("att", "attestation"),
    ("sbom", "SBOM"),
];

/// The tag of `subject` in the referrers tag schema (`sha256-<hex>`); with a cosign suffix, the
/// cosign tag (`sha256-<hex>.sig`).
pub fn referrers_tag(subject: &crate::types::Digest, suffix: Option<&str>) -> String {
    let base = subject.as_str().replacen(':', "-", 1);
    match suffix {
        Some(s) => format!("{base}.{s}"),
        None => base,
    }
}

/// What an `index.json` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A container image (named by `org.opencontainers.image.ref.name`).
    Image,
    /// A Helm chart (`artifactType` Helm's config type; named by [`NAME_ANNOTATION`]).
    Chart,
    /// A component version's release manifests ([`RELEASE_MANIFESTS_ARTIFACT_TYPE`]; named by
    /// [`NAME_ANNOTATION`]).
    ReleaseManifests,
    /// The bundle's platform artifact (no name).
    Platform,
    /// Upstream's referrers of an image's manifest (signatures, attestations, SBOMs), in one of the
    /// [`ReferrerScheme`]s; carries [`REFERRER_SUBJECT_ANNOTATION`] and is named by
    /// [`NAME_ANNOTATION`] (`REGISTRY/REPOSITORY:sha256-<hex>[.sig|.att|.sbom]`).
    Referrers,
}

impl EntryKind {
    /// What an `index.json` entry is, by its `artifactType` (an entry without one is an image).
    pub fn of(entry: &Descriptor) -> EntryKind {
        if is_platform_artifact(entry) {
            return EntryKind::Platform;
        }
        if entry.annotation(REFERRER_SUBJECT_ANNOTATION).is_some() {
            return EntryKind::Referrers;
        }
        match entry.artifact_type.as_deref() {
            Some(HELM_CONFIG) => EntryKind::Chart,
            Some(RELEASE_MANIFESTS_ARTIFACT_TYPE) => EntryKind::ReleaseManifests,
            _ => EntryKind::Image,
        }
    }

    /// `image`, `chart`, `release manifests`, `platform artifact`.
    pub fn noun(self) -> &'static str {
        match self {
            EntryKind::Image => "image",
            EntryKind::Chart => "chart",
            EntryKind::ReleaseManifests => "release manifests",
            EntryKind::Platform => "platform artifact",
            EntryKind::Referrers => "referrers",
        }
    }
}

/// The name of an `index.json` entry (`REGISTRY/REPOSITORY:TAG`): `ref.name` for an image,
/// [`NAME_ANNOTATION`] for a chart or release manifests artifact; `None` for the platform artifact or
/// an entry without one.
pub fn entry_name(entry: &Descriptor) -> Option<&str> {
    match EntryKind::of(entry) {
        EntryKind::Image => entry.annotation(REF_NAME_ANNOTATION),
        EntryKind::Chart | EntryKind::ReleaseManifests | EntryKind::Referrers => {
            entry.annotation(NAME_ANNOTATION)
        }
        EntryKind::Platform => None,
    }
}

/// The name of a component version's release manifests artifact.
pub fn release_manifests_name(component: &str, version: &str) -> String {
    format!(
        "{RELEASE_MANIFESTS_NAME}/{component}:{}",
        crate::types::tag_of(version)
    )
}

/// The limit on a JSON document (manifest, index, config) read into memory, as registries apply it
/// ([`crate::oci::max_manifest_bytes`]).
pub fn max_document_size() -> u64 {
    crate::oci::max_manifest_bytes()
}

/// The limit on `index.json` and `oci-layout` read into memory: 64 MiB unless raised for the run
/// (`BUNDLE_MAX_INDEX_SIZE`, [`crate::input::Kind::Index`]).
pub fn max_index_size() -> u64 {
    crate::input::Kind::Index.limit()
}
/// The limit on the lock read from the platform artifact: a lock's limit, 32 MiB unless raised
/// for the run (`BUNDLE_MAX_LOCK_SIZE`, [`crate::input::Kind::Lock`]), the same as for `--lock`.
pub fn max_lock_size() -> u64 {
    crate::input::Kind::Lock.limit()
}

/// Why a bundle's lock of `size` bytes is not read: over [`max_lock_size`], and how to raise it.
pub fn lock_too_large(size: u64) -> String {
    let kind = crate::input::Kind::Lock;
    format!(
        "the lock is {size} bytes, more than {} bytes, the limit for {}; {}",
        max_lock_size(),
        kind.with_article(),
        kind.raise_hint()
    )
}

/// Suffix of the work directory next to a `.tar`/`.tar.zst` output (`PATH.partial.d/`), where the layout
/// is built before it is archived; kept when an export fails, so that a re-run resumes.
pub const WORKDIR_SUFFIX: &str = ".partial.d";

/// Whether an `index.json` entry is the bundle's platform artifact: by its `artifactType`, or in a
/// format-1 bundle by its name.
pub fn is_platform_artifact(entry: &Descriptor) -> bool {
    entry.artifact_type.as_deref() == Some(PLATFORM_ARTIFACT_TYPE)
        || entry.annotation(REF_NAME_ANNOTATION) == Some(PLATFORM_REF_NAME)
}

/// The form of a bundle written by `export`, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// An OCI image layout directory.
    Directory,
    /// A `.tar` of the layout.
    Tar,
    /// A zstd-compressed `.tar.zst` of the layout.
    TarZst,
}

impl Form {
    /// `.tar.zst` → [`Form::TarZst`], `.tar` → [`Form::Tar`], anything else a directory.
    pub fn of(path: &Path) -> Form {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".tar.zst") {
            Form::TarZst
        } else if name.ends_with(".tar") {
            Form::Tar
        } else {
            Form::Directory
        }
    }

    /// `directory`, `tar`, `tar.zst`.
    pub fn name(self) -> &'static str {
        match self {
            Form::Directory => "directory",
            Form::Tar => "tar",
            Form::TarZst => "tar.zst",
        }
    }
}

/// Where the layout is built for an output: the output itself for a directory, `PATH.partial.d/` next
/// to an archive.
pub fn work_dir(output: &Path) -> PathBuf {
    match Form::of(output) {
        Form::Directory => output.to_path_buf(),
        Form::Tar | Form::TarZst => {
            let mut name = output.file_name().unwrap_or_default().to_os_string();
            name.push(WORKDIR_SUFFIX);
            output.with_file_name(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_work_dirs() {
        assert_eq!(Form::of(Path::new("out")), Form::Directory);
        assert_eq!(Form::of(Path::new("a/b.tar")), Form::Tar);
        assert_eq!(Form::of(Path::new("b.TAR.ZST")), Form::TarZst);
        assert_eq!(
            work_dir(Path::new("x/b.tar")),
            PathBuf::from("x/b.tar.partial.d")
        );
        assert_eq!(work_dir(Path::new("x/dir")), PathBuf::from("x/dir"));
    }
}
