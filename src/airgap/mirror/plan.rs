//! What `mirror` pushes where, worked out from the bundle's files without the network: every image of
//! `index.json` mapped to its target repository, the blobs, manifests (children before parents) and
//! tags each repository receives; collisions and names registries cannot hold are refused here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::MirrorError;
use super::source::Store;
use crate::airgap::delta::DeltaOf;
use crate::airgap::format::{EntryKind, NAME_ANNOTATION, PLATFORM_REF_NAME, entry_name};
use crate::airgap::scan::Scan;
use crate::oci::layout::{INDEX_FILE, blob_path};
use crate::oci::media_types::{REF_NAME_ANNOTATION, is_index, is_nondistributable};
use crate::oci::wire::{Descriptor, Index, Manifest, media_type_of};
use crate::types::grammar::{MAX_REPOSITORY_LEN, valid_component};
use crate::types::{Digest, ImageRef, RegistryPrefix};

/// Indexes nested deeper than this are refused.
const MAX_DEPTH: usize = 8;

/// One image (or chart, or release manifests artifact) of the bundle and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// What it is.
    pub kind: EntryKind,
    /// The name recorded in the bundle.
    pub source: String,
    /// The target repository (without host).
    pub repository: String,
    /// The tag pushed, when the reference has one.
    pub tag: Option<String>,
    /// The manifest (or index) digest.
    pub digest: Digest,
}

/// Everything one target repository receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryPlan {
    /// Blobs (configs and layers): digest → size.
    pub blobs: BTreeMap<Digest, u64>,
    /// Manifest digests (image manifests and indexes).
    pub manifests: BTreeSet<Digest>,
    /// Tag → manifest digest.
    pub tags: BTreeMap<String, Digest>,
    /// The manifests (or indexes) at the top of the trees this repository receives: every entry of
    /// the bundle mapped here, tagged or not. What a tree holds is found from [`Plan::manifests`].
    pub roots: BTreeSet<Digest>,
    /// For a delta: the blobs it leaves to its base, which the repository must already hold
    /// (digest → size).
    pub from_base: BTreeMap<Digest, u64>,
}

/// A manifest as stored in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    /// Media type it is pushed with.
    pub media_type: String,
    /// The bytes, exactly.
    pub bytes: Vec<u8>,
    /// 0 for an image manifest, 1 + the deepest child for an index.
    pub level: usize,
    /// What it references: the blobs of a manifest, the children of an index.
    pub references: Vec<Descriptor>,
}

/// What will be pushed, worked out without the network.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The bundle (a directory, a `.tar`, a `.tar.zst`, a split archive).
    pub root: PathBuf,
    /// Where its blobs are read from when they must be pushed.
    pub store: Option<Store>,
    /// The images, in `index.json` order.
    pub images: Vec<Image>,
    /// Target repository → what it receives.
    pub repositories: BTreeMap<String, RepositoryPlan>,
    /// Every manifest, by digest.
    pub manifests: BTreeMap<Digest, StoredManifest>,
    /// `index.json` entries not pushed, and why (the bundle's own platform artifact).
    pub not_pushed: Vec<(String, String)>,
    /// For a delta bundle: what it is a delta over.
    pub delta: Option<DeltaOf>,
}

impl Plan {
    /// How many entries of `kind` are pushed.
    pub fn count(&self, kind: EntryKind) -> usize {
        self.images.iter().filter(|i| i.kind == kind).count()
    }

    /// Distinct blobs and their total size.
    pub fn blob_totals(&self) -> (usize, u64) {
        let mut seen = BTreeMap::new();
        for r in self.repositories.values() {
            seen.extend(r.blobs.iter());
        }
        (seen.len(), seen.values().copied().copied().sum())
    }
}

fn bad(path: &Path, message: impl Into<String>) -> MirrorError {
    MirrorError::Bundle {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Works out what to push where (reads the bundle's `index.json` and manifests; no network). The
/// bundle's blobs are not checked here: [`super::prepare`] does that.
pub fn plan(
    bundle: &Path,
    target: &RegistryPrefix,
    strip_registry_host: bool,
) -> Result<Plan, MirrorError> {
    let (scan, store) = super::source::structure(bundle)?;
    let mut plan = plan_from(&scan, target, strip_registry_host)?;
    plan.store = Some(store);
    Ok(plan)
}

/// [`plan`] from the structure of a bundle read by [`super::source::structure`].
pub(super) fn plan_from(
    scan: &Scan,
    target: &RegistryPrefix,
    strip_registry_host: bool,
) -> Result<Plan, MirrorError> {
    let root = scan.path.as_path();
    let index_path = root.join(INDEX_FILE);
    let index: Index = serde_json::from_slice(scan.index.as_deref().unwrap_or_default())
        .map_err(|e| bad(&index_path, format!("not an OCI index: {e}")))?;
    let delta = DeltaOf::of(&index);
    let is_delta = delta.is_some();
    let mut plan = Plan {
        root: root.to_path_buf(),
        delta,
        ..Plan::default()
    };
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    let mut referrer_entries = Vec::new();
    for entry in &index.manifests {
        let kind = EntryKind::of(entry);
        if kind == EntryKind::Platform {
            let why = "the bundle's own platform artifact".to_string();
            plan.not_pushed.push((PLATFORM_REF_NAME.to_string(), why));
            continue;
        }
        let Some(name) = entry_name(entry) else {
            let key = if kind == EntryKind::Image {
                REF_NAME_ANNOTATION
            } else {
                NAME_ANNOTATION
            };
            let why = format!("{} without a {key} annotation", kind.noun());
            plan.not_pushed.push((entry.digest.clone(), why));
            continue;
        };
        let image = ImageRef::parse(name).map_err(|e| bad(&index_path, e.to_string()))?;
        let repository = target.repository_for(&image, strip_registry_host);
        check_repository(&repository, image.registry(), strip_registry_host)?;
        let source = image.name();
        match sources.get(&repository) {
            Some(first) if *first != source => {
                return Err(MirrorError::Collision {
                    repository,
                    first: first.clone(),
                    second: source,
                    stripped: strip_registry_host,
                });
            }
            _ => sources.insert(repository.clone(), source),
        };
        let digest = manifest_digest(root, entry)?;
        let repo = plan.repositories.entry(repository.clone()).or_default();
        let known = plan.manifests.len();
        walk(scan, entry, &mut plan.manifests, repo, is_delta, 0)?;
        repo.roots.insert(digest.clone());
        if kind == EntryKind::Referrers && plan.manifests.len() > known {
            referrer_entries.push(entry.clone());
        }
        if let Some(tag) = image.tag()
            && let Some(other) = repo.tags.insert(tag.to_string(), digest.clone())
            && other != digest
        {
            return Err(bad(
                &index_path,
                format!("{name} appears twice with different digests ({other}, {digest})"),
            ));
        }
        plan.images.push(Image {
            kind,
            source: name.to_string(),
            repository,
            tag: image.tag().map(str::to_string),
            digest,
        });
    }
    after_subjects(&mut plan.manifests, &referrer_entries);
    Ok(plan)
}

/// Puts the manifests of referrers entries after every other manifest (their subjects): a level
/// above the highest of the others, so that a registry indexing `subject` fields sees the subject
/// first.
fn after_subjects(manifests: &mut BTreeMap<Digest, StoredManifest>, entries: &[Descriptor]) {
    let mut theirs = BTreeSet::new();
    for entry in entries {
        let Ok(top) = entry.digest() else { continue };
        let children = manifests
            .get(&top)
            .filter(|m| m.level > 0)
            .map(|m| {
                m.references
                    .iter()
                    .filter_map(|r| r.digest().ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        theirs.insert(top);
        theirs.extend(children);
    }
    let others = manifests
        .iter()
        .filter(|(d, _)| !theirs.contains(*d))
        .map(|(_, m)| m.level)
        .max();
    let offset = others.map_or(0, |l| l + 1);
    for d in &theirs {
        if let Some(m) = manifests.get_mut(d) {
            m.level += offset;
        }
    }
}

/// A target repository name registries can hold: at most [`MAX_REPOSITORY_LEN`] characters, valid
/// path components.
fn check_repository(repository: &str, registry: &str, stripped: bool) -> Result<(), MirrorError> {
    if repository.len() > MAX_REPOSITORY_LEN {
        return Err(MirrorError::Name {
            name: repository.to_string(),
            reason: format!(
                "{} characters; registries accept at most {MAX_REPOSITORY_LEN} (shorten the prefix{})",
                repository.len(),
                if stripped {
                    ""
                } else {
                    " or use --strip-registry-host"
                }
            ),
        });
    }
    if let Some(part) = repository.split('/').find(|c| !valid_component(c)) {
        let hint = if !stripped && part == registry {
            " (the source registry is part of the path: use --strip-registry-host)"
        } else {
            ""
        };
        return Err(MirrorError::Name {
            name: repository.to_string(),
            reason: format!("`{part}` is not a valid repository path component{hint}"),
        });
    }
    Ok(())
}

/// The digest of a descriptor that names a manifest in the bundle.
fn manifest_digest(root: &Path, d: &Descriptor) -> Result<Digest, MirrorError> {
    d.digest().map_err(|_| {
        bad(
            &root.join(INDEX_FILE),
            format!("`{}` is not a sha256 digest", d.digest),
        )
    })
}

/// Reads a manifest (checking its digest), records it and, recursively, what it references; returns
/// its level.
fn walk(
    scan: &Scan,
    desc: &Descriptor,
    manifests: &mut BTreeMap<Digest, StoredManifest>,
    repo: &mut RepositoryPlan,
    delta: bool,
    depth: usize,
) -> Result<usize, MirrorError> {
    let root = scan.path.as_path();
    let digest = manifest_digest(root, desc)?;
    let path = blob_path(root, &digest);
    if depth > MAX_DEPTH {
        return Err(bad(
            &path,
            format!("indexes nested more than {MAX_DEPTH} deep"),
        ));
    }
    repo.manifests.insert(digest.clone());
    if let Some(m) = manifests.get(&digest) {
        // Already read for another repository: record its references here too.
        let (level, references) = (m.level, m.references.clone());
        add_references(scan, level > 0, &references, manifests, repo, delta, depth)?;
        return Ok(level);
    }
    let bytes = scan
        .document(digest.as_str())
        .ok_or_else(|| bad(&path, "missing, or not a JSON document"))?
        .to_vec();
    if Digest::sha256_of(&bytes) != digest || bytes.len() as u64 != desc.size {
        return Err(bad(&path, "the manifest does not match its digest or size"));
    }
    let media_type = if desc.media_type.is_empty() {
        media_type_of(&bytes).map_err(|e| bad(&path, e.to_string()))?
    } else {
        desc.media_type.clone()
    };
    let references = if is_index(&media_type) {
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| {
            bad(
                &path,
                format!("media type {media_type} does not fit the content: {e}"),
            )
        })?;
        index.manifests
    } else {
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| bad(&path, format!("not a manifest: {e}")))?;
        m.blobs().cloned().collect()
    };
    let level = add_references(
        scan,
        is_index(&media_type),
        &references,
        manifests,
        repo,
        delta,
        depth,
    )?;
    manifests.insert(
        digest,
        StoredManifest {
            media_type,
            bytes,
            level,
            references,
        },
    );
    Ok(level)
}

/// Records what a manifest references: an index's children (walked), or a manifest's blobs (present
/// with their size; a non-distributable layer may be absent; in a delta, a blob left to the base).
fn add_references(
    scan: &Scan,
    index: bool,
    references: &[Descriptor],
    manifests: &mut BTreeMap<Digest, StoredManifest>,
    repo: &mut RepositoryPlan,
    delta: bool,
    depth: usize,
) -> Result<usize, MirrorError> {
    if index {
        let mut level = 1;
        for child in references {
            level = level.max(1 + walk(scan, child, manifests, repo, delta, depth + 1)?);
        }
        return Ok(level);
    }
    let root = scan.path.as_path();
    for blob in references {
        let digest = manifest_digest(root, blob)?;
        let path = blob_path(root, &digest);
        match scan.blobs.get(digest.as_str()) {
            Some(b) if b.size == blob.size => {
                repo.blobs.insert(digest, blob.size);
            }
            Some(b) => {
                let said = format!("{} bytes, the manifest says {}", b.size, blob.size);
                return Err(bad(&path, said));
            }
            None if is_nondistributable(&blob.media_type) => {}
            None if delta => {
                repo.from_base.insert(digest, blob.size);
            }
            None => return Err(bad(&path, "missing")),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_refused() {
        let long = format!("p/{}", "a".repeat(260));
        assert!(matches!(
            check_repository(&long, "r", false),
            Err(MirrorError::Name { .. })
        ));
        assert!(check_repository("p/registry.k8s.io/pause", "registry.k8s.io", false).is_ok());
        assert!(matches!(
            check_repository("p/127.0.0.1:5000/x", "127.0.0.1:5000", false),
            Err(MirrorError::Name { .. })
        ));
    }
}
