//! `bundle inspect`: what is in a bundle — the lock it was exported from, the images per component with
//! their digests, sizes and platforms, and upstream's charts and release manifests per component with
//! their sizes.
//!
//! Inspection does not judge (that is `verify`): it reads what is there and leaves out what is missing.
//! Sizes count unique blobs: an image's size is the sum of the blobs it reaches (manifests, configs,
//! layers), each once; the total counts every blob reached by any image once; shared bytes are the
//! bytes of blobs reached by more than one image.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::archive::ReadError;
use super::format::{
    CHART_REPOSITORY_ANNOTATION, COMPONENT_ANNOTATION, EntryKind, FORMAT_VERSION_ANNOTATION,
    LOCK_MEDIA_TYPE, ORIGINAL_DIGEST_ANNOTATION, PLATFORM_REF_NAME, REFERRER_OF_ANNOTATION,
    REFERRER_SCHEME_ANNOTATION, REFERRER_SUBJECT_ANNOTATION, SOURCE_URL_ANNOTATION, entry_name,
    is_platform_artifact,
};
use super::scan::{self, Scan};
use crate::lock::Lock;
use crate::oci::layout::INDEX_FILE;
use crate::oci::media_types::{
    DOCKER_REFERENCE_TYPE_ANNOTATION, REF_NAME_ANNOTATION, TITLE_ANNOTATION, is_index,
};
use crate::oci::wire::{Descriptor, Index, Manifest, Platform};
use crate::types::Digest;

/// The lock found in the platform artifact.
#[derive(Debug, Clone)]
pub enum LockStatus {
    /// Read and parsed.
    Found(Box<Lock>),
    /// The bundle has no platform artifact, or it has no lock layer.
    Missing,
    /// There, but could not be read or parsed (the reason).
    Unreadable(String),
}

/// One image (an entry of `index.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Full original reference (`org.opencontainers.image.ref.name`).
    pub reference: String,
    /// The components it belongs to (`dev.bundle.component`, comma-separated when an image is shared),
    /// sorted; empty when not annotated.
    pub components: Vec<String>,
    /// Digest of its manifest or index, as stored.
    pub digest: String,
    /// Media type of that manifest or index.
    pub media_type: String,
    /// For an index filtered to fewer platforms: the digest of the upstream index.
    pub original_digest: Option<String>,
    /// Its platforms (`linux/amd64`, `linux/arm64/v8`), sorted; attestation manifests left out.
    pub platforms: Vec<String>,
    /// Bytes of the unique blobs it reaches (present ones).
    pub bytes: u64,
    /// Number of those blobs.
    pub blobs: usize,
}

/// A chart or a component version's release manifests (an entry of `index.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// [`EntryKind::Chart`] or [`EntryKind::ReleaseManifests`].
    pub kind: EntryKind,
    /// Its name (`REGISTRY/REPOSITORY:TAG`, the tag a mirror gives it).
    pub name: String,
    /// The components it belongs to, sorted.
    pub components: Vec<String>,
    /// Digest of its manifest.
    pub digest: String,
    /// A chart's repository, as the lock names it.
    pub repository: Option<String>,
    /// Its files: a chart's `.tgz` (and provenance), each release manifest.
    pub files: Vec<ArtifactFile>,
    /// Bytes of the unique blobs it reaches (manifest, config, files).
    pub bytes: u64,
}

/// One file of an [`Artifact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Its title (file name), when it has one.
    pub title: Option<String>,
    /// Where upstream publishes it (release manifests).
    pub url: Option<String>,
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub bytes: u64,
}

/// One referrer of an image (a signature, an attestation, an SBOM…): a manifest listed by a
/// referrers entry of `index.json`, or a cosign-tagged manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The image it belongs to (the entry holding its subject).
    pub of: String,
    /// The manifest it refers to.
    pub subject: String,
    /// `referrers` (OCI 1.1) or `cosign` (tag scheme).
    pub scheme: String,
    /// The tag it is mirrored under (`sha256-<hex>`, `sha256-<hex>.sig`, …).
    pub tag: String,
    /// What it is: its `artifactType`, else its first layer's media type.
    pub artifact_type: String,
    /// Its manifest's digest.
    pub digest: String,
    /// Bytes of its manifest and blobs (present ones).
    pub bytes: u64,
}

/// What is in a bundle.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// How it is stored: `directory`, `tar`, `tar.zst`.
    pub container: String,
    /// `dev.bundle.format-version` from `index.json`.
    pub format_version: Option<String>,
    /// The lock.
    pub lock: LockStatus,
    /// Digest of the platform artifact's manifest.
    pub platform_artifact: Option<String>,
    /// Images, sorted by component then reference (the platform artifact is not an image).
    pub images: Vec<Image>,
    /// Charts and release manifests, sorted by component then name.
    pub artifacts: Vec<Artifact>,
    /// Upstream's referrers of the images, sorted by image, tag and digest.
    pub referrers: Vec<Referrer>,
    /// Bytes of every blob reached by some image, each counted once.
    pub total_bytes: u64,
    /// Bytes of the blobs reached by more than one image, each counted once.
    pub shared_bytes: u64,
    /// Bytes of all blob files in the bundle (platform artifact and orphans included).
    pub blob_bytes: u64,
    /// Number of blob files.
    pub blob_count: usize,
    /// A plan bundle's steps (`bundle export --plan`), each with the charts and release manifests
    /// its lock names and whether the bundle holds them (empty for a bundle of one lock); or why the
    /// step locks cannot be read.
    pub steps: Result<Vec<super::steps::Step>, String>,
    /// The trust root and signing policies carried for signature checks (`airgap/FORMAT.md`
    /// section 14), or why they cannot be read.
    pub signers: Result<super::signers::Carried, String>,
}

/// What of the bundle could not be read to its end (a truncated or corrupt archive, an I/O error),
/// or was refused unread (a FIFO, device, socket or link where a blob or `index.json` should be — the
/// scan never opens one, so nothing blocks — or a directory named as one), if anything:
/// inspecting what is left would show a partial bundle as if it were whole.
fn damage(scan: &Scan) -> Option<String> {
    use super::archive::EntryNote;
    let unreadable = scan.notes.iter().find_map(|n| match n {
        EntryNote::Unreadable { entry, message } => {
            Some(format!("{entry} cannot be read: {message}"))
        }
        EntryNote::Refused { entry, reason } => {
            Some(format!("{entry} is refused unread: {reason}"))
        }
        EntryNote::Unexpected { entry } if is_layout_file(entry) => Some(format!(
            "{entry} is not a regular file (a directory where a file should be)"
        )),
        _ => None,
    });
    unreadable.or_else(|| {
        scan.blobs.iter().find_map(|(name, b)| {
            b.read_error
                .as_ref()
                .map(|e| format!("blob {name} cannot be read to its end: {e}"))
        })
    })
}

/// Whether `entry` names a file of the layout that inspection reads (`index.json` or a blob
/// `blobs/sha256/<64 hex>`, a trailing `/` allowed).
fn is_layout_file(entry: &str) -> bool {
    let entry = entry.trim_end_matches('/');
    entry == INDEX_FILE
        || entry
            .strip_prefix("blobs/sha256/")
            .is_some_and(|hex| Digest::from_sha256_hex(hex).is_ok())
}

/// Reads what is in the bundle at `path`.
pub fn inspect(path: &Path) -> Result<Inspection, ReadError> {
    let scan = scan::scan(path)?;
    if let Some(message) = damage(&scan) {
        return Err(ReadError::Damaged {
            path: path.display().to_string(),
            message,
        });
    }
    let not_bundle = |message: String| ReadError::NotABundle {
        path: path.display().to_string(),
        message,
    };
    let bytes = scan
        .index
        .as_deref()
        .ok_or_else(|| not_bundle(format!("no {INDEX_FILE}")))?;
    let index: Index = serde_json::from_slice(bytes)
        .map_err(|e| not_bundle(format!("{INDEX_FILE} is not an OCI image index: {e}")))?;

    let mut images = Vec::new();
    let mut artifacts = Vec::new();
    let mut referrers = Vec::new();
    let mut reach: Vec<BTreeSet<String>> = Vec::new();
    let mut platform_artifact = None;
    let mut lock_digest = None;
    for d in &index.manifests {
        let reference = d.annotations.get(REF_NAME_ANNOTATION).cloned();
        if is_platform_artifact(d) {
            platform_artifact = Some(d.digest.clone());
            lock_digest = scan
                .document(&d.digest)
                .and_then(|doc| serde_json::from_slice::<Manifest>(doc).ok())
                .and_then(|m| {
                    m.layers
                        .iter()
                        .find(|l| l.media_type == LOCK_MEDIA_TYPE)
                        .and_then(|l| Some((l.digest().ok()?, l.size)))
                });
            continue;
        }
        if EntryKind::of(d) == EntryKind::Referrers {
            referrers.extend(referrers_of(&scan, d));
            continue;
        }
        if matches!(
            EntryKind::of(d),
            EntryKind::Chart | EntryKind::ReleaseManifests
        ) {
            artifacts.push(artifact(&scan, d));
            continue;
        }
        let mut blobs = BTreeSet::new();
        reachable(&scan, d, &mut blobs, 0);
        let mut platforms: Vec<String> = platforms(&scan, d).into_iter().collect();
        platforms.sort();
        images.push(Image {
            reference: reference.unwrap_or_else(|| "(unnamed)".to_string()),
            components: components(d),
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            original_digest: d.annotations.get(ORIGINAL_DIGEST_ANNOTATION).cloned(),
            platforms,
            bytes: blobs.iter().map(|b| size_of(&scan, b)).sum(),
            blobs: blobs.len(),
        });
        reach.push(blobs);
    }
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for set in &reach {
        for b in set {
            *uses.entry(b.as_str()).or_default() += 1;
        }
    }
    let total_bytes = uses.keys().map(|b| size_of(&scan, b)).sum();
    let shared_bytes = uses
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(b, _)| size_of(&scan, b))
        .sum();
    images.sort_by(|a, b| (&a.components, &a.reference).cmp(&(&b.components, &b.reference)));
    artifacts.sort_by(|a, b| (&a.components, &a.name).cmp(&(&b.components, &b.name)));
    referrers.sort_by(|a, b| (&a.of, &a.tag, &a.digest).cmp(&(&b.of, &b.tag, &b.digest)));

    let lock = match lock_digest {
        None => LockStatus::Missing,
        Some((d, size)) => read_lock(path, &d, size),
    };
    Ok(Inspection {
        container: scan.container.name().to_string(),
        format_version: index.annotations.get(FORMAT_VERSION_ANNOTATION).cloned(),
        lock,
        platform_artifact,
        images,
        artifacts,
        referrers,
        total_bytes,
        shared_bytes,
        blob_bytes: scan.bytes(),
        blob_count: scan.blobs.len(),
        signers: super::signers::read(&scan),
        steps: super::steps::read(path, &scan, &index),
    })
}

/// The referrers of a referrers entry: each manifest its index lists, or the cosign-tagged manifest
/// itself.
fn referrers_of(scan: &Scan, d: &Descriptor) -> Vec<Referrer> {
    let tag = entry_name(d)
        .and_then(|n| n.rsplit_once(':'))
        .map_or_else(String::new, |(_, t)| t.to_string());
    let row = |m: &Descriptor| {
        let mut blobs = BTreeSet::new();
        reachable(scan, m, &mut blobs, 0);
        let doc = scan
            .document(&m.digest)
            .and_then(|doc| serde_json::from_slice::<Manifest>(doc).ok());
        let artifact_type = m
            .artifact_type
            .clone()
            .or_else(|| doc.as_ref().and_then(|x| x.artifact_type.clone()))
            .or_else(|| doc.and_then(|x| x.layers.first().map(|l| l.media_type.clone())))
            .unwrap_or_else(|| "-".to_string());
        Referrer {
            of: d
                .annotation(REFERRER_OF_ANNOTATION)
                .unwrap_or("-")
                .to_string(),
            subject: d
                .annotation(REFERRER_SUBJECT_ANNOTATION)
                .unwrap_or("-")
                .to_string(),
            scheme: d
                .annotation(REFERRER_SCHEME_ANNOTATION)
                .unwrap_or("-")
                .to_string(),
            tag: tag.clone(),
            artifact_type,
            digest: m.digest.clone(),
            bytes: blobs.iter().map(|b| size_of(scan, b)).sum(),
        }
    };
    match scan
        .document(&d.digest)
        .filter(|_| is_index(&d.media_type))
        .and_then(|doc| serde_json::from_slice::<Index>(doc).ok())
    {
        Some(index) => index.manifests.iter().map(row).collect(),
        None => vec![row(d)],
    }
}

/// A chart or release manifests entry: its name, components and files with their sizes.
fn artifact(scan: &Scan, d: &Descriptor) -> Artifact {
    let mut blobs = BTreeSet::new();
    reachable(scan, d, &mut blobs, 0);
    let files = scan
        .document(&d.digest)
        .and_then(|doc| serde_json::from_slice::<Manifest>(doc).ok())
        .map(|m| {
            m.layers
                .iter()
                .map(|l| ArtifactFile {
                    title: l.annotation(TITLE_ANNOTATION).map(str::to_string),
                    url: l.annotation(SOURCE_URL_ANNOTATION).map(str::to_string),
                    media_type: l.media_type.clone(),
                    digest: l.digest.clone(),
                    bytes: size_of(scan, &l.digest),
                })
                .collect()
        })
        .unwrap_or_default();
    Artifact {
        kind: EntryKind::of(d),
        name: entry_name(d).unwrap_or("(unnamed)").to_string(),
        components: components(d),
        digest: d.digest.clone(),
        repository: d
            .annotation(CHART_REPOSITORY_ANNOTATION)
            .map(str::to_string),
        files,
        bytes: blobs.iter().map(|b| size_of(scan, b)).sum(),
    }
}

fn read_lock(path: &Path, digest: &Digest, size: u64) -> LockStatus {
    let limit = super::format::max_lock_size();
    if size > limit {
        return LockStatus::Unreadable(super::format::lock_too_large(size));
    }
    let wanted = BTreeSet::from([digest.clone()]);
    let found = match scan::fetch(path, &wanted, limit) {
        Ok(f) => f,
        Err(e) => return LockStatus::Unreadable(e.to_string()),
    };
    let Some(bytes) = found.get(digest) else {
        return LockStatus::Unreadable(format!(
            "the lock blob {digest} is missing, corrupt or larger than {limit} bytes"
        ));
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return LockStatus::Unreadable(format!("the lock blob {digest} is not UTF-8 text"));
    };
    match Lock::parse(text, &format!("{PLATFORM_REF_NAME}:bundle.lock")) {
        Ok(l) => LockStatus::Found(Box::new(l)),
        Err(e) => LockStatus::Unreadable(e.to_string()),
    }
}

/// The components named by an entry's `dev.bundle.component` annotation.
fn components(d: &Descriptor) -> Vec<String> {
    let mut v: Vec<String> = d
        .annotations
        .get(COMPONENT_ANNOTATION)
        .map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

fn size_of(scan: &Scan, digest: &str) -> u64 {
    scan.blobs.get(digest).map_or(0, |b| b.size)
}

/// Nesting limit for indexes of indexes (a cycle cannot be built with digests, but stay bounded).
const MAX_DEPTH: usize = 8;

/// Every present blob reached from `d`.
fn reachable(scan: &Scan, d: &Descriptor, out: &mut BTreeSet<String>, depth: usize) {
    if depth > MAX_DEPTH || !scan.blobs.contains_key(&d.digest) || !out.insert(d.digest.clone()) {
        return;
    }
    let Some(doc) = scan.document(&d.digest) else {
        return;
    };
    if let Ok(m) = serde_json::from_slice::<Manifest>(doc) {
        for x in std::iter::once(&m.config).chain(&m.layers) {
            if scan.blobs.contains_key(&x.digest) {
                out.insert(x.digest.clone());
            }
        }
    } else if let Ok(i) = serde_json::from_slice::<Index>(doc) {
        for c in &i.manifests {
            reachable(scan, c, out, depth + 1);
        }
    }
}

/// The platforms of the image named by `d`.
fn platforms(scan: &Scan, d: &Descriptor) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_platforms(scan, d, &mut out, 0);
    out
}

fn collect_platforms(scan: &Scan, d: &Descriptor, out: &mut BTreeSet<String>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(doc) = scan.document(&d.digest) else {
        if let Some(p) = d.platform.as_ref().filter(|p| p.is_runnable()) {
            out.insert(p.to_string());
        }
        return;
    };
    if let Ok(m) = serde_json::from_slice::<Manifest>(doc) {
        if let Some(p) = d.platform.as_ref().filter(|p| p.is_runnable()) {
            out.insert(p.to_string());
        } else if let Some(p) = scan
            .document(&m.config.digest)
            .and_then(|c| serde_json::from_slice::<Platform>(c).ok())
            .filter(Platform::is_runnable)
        {
            out.insert(p.to_string());
        }
    } else if let Ok(i) = serde_json::from_slice::<Index>(doc) {
        for c in &i.manifests {
            if c.annotations.contains_key(DOCKER_REFERENCE_TYPE_ANNOTATION) {
                continue; // an attestation, not a platform
            }
            collect_platforms(scan, c, out, depth + 1);
        }
    }
}
