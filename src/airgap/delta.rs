//! Delta bundles: a bundle that leaves out the blobs its far side already has from an earlier
//! bundle (its *base*), while its `index.json` still names every image of its lock
//! (`airgap/FORMAT.md`, "Delta bundles").
//!
//! Which blobs may be left out is decided per repository: a config or layer is left out only when the
//! base had it for every repository (entry name without its tag) the new bundle uses it in, so that
//! a mirror finds it in the very repository it pushes the manifest to. Manifests and indexes are
//! never left out (the graph stays walkable from the delta alone), nor are the platform artifact's
//! blobs. Charts and release manifests are entries like images: their blobs are blobs.
//!
//! The delta says what it is a delta over in `index.json` annotations: the base bundles' `index.json`
//! digests, the base locks' digests (a bundle's lock layer is the lock's bytes, so both ways of naming
//! a base agree), and the names the bases were given by (for messages).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::archive::ReadError;
use super::format::{LOCK_MEDIA_TYPE, is_platform_artifact};
use super::scan;
use crate::oci::media_types::{REF_NAME_ANNOTATION, is_index, is_manifest};
use crate::oci::wire::{Descriptor, Index, Manifest};
use crate::types::{Digest, ImageRef};

/// Annotation on a delta's `index.json`: the `index.json` digests of the base bundles (`,`-separated).
pub const BASE_INDEXES_ANNOTATION: &str = "dev.bundle.delta.base-indexes";
/// Annotation on a delta's `index.json`: the sha256 digests of the base locks (`,`-separated).
pub const BASE_LOCKS_ANNOTATION: &str = "dev.bundle.delta.base-locks";
/// Annotation on a delta's `index.json`: the bases as they were given (file names, `,`-separated).
pub const BASE_NAMES_ANNOTATION: &str = "dev.bundle.delta.base-names";

/// What a delta records about its base(s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaOf {
    /// `index.json` digests of the base bundles (none when the bases were locks).
    pub indexes: Vec<String>,
    /// Digests of the base locks.
    pub locks: Vec<String>,
    /// The bases as given (file names).
    pub names: Vec<String>,
}

fn split(v: Option<&String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

impl DeltaOf {
    /// What `index` says it is a delta over; `None` for a whole bundle.
    pub fn of(index: &Index) -> Option<DeltaOf> {
        let a = &index.annotations;
        let d = DeltaOf {
            indexes: split(a.get(BASE_INDEXES_ANNOTATION)),
            locks: split(a.get(BASE_LOCKS_ANNOTATION)),
            names: split(a.get(BASE_NAMES_ANNOTATION)),
        };
        (!d.indexes.is_empty() || !d.locks.is_empty()).then_some(d)
    }

    /// Records it in `index.json` annotations.
    pub fn annotate(&self, annotations: &mut BTreeMap<String, String>) {
        for (key, list) in [
            (BASE_INDEXES_ANNOTATION, &self.indexes),
            (BASE_LOCKS_ANNOTATION, &self.locks),
            (BASE_NAMES_ANNOTATION, &self.names),
        ] {
            if !list.is_empty() {
                annotations.insert(key.to_string(), list.join(","));
            }
        }
    }

    /// The base in words: `platform-1.tar.zst (index sha256:…)`, for messages.
    pub fn describe(&self) -> String {
        let names = if self.names.is_empty() {
            "its base".to_string()
        } else {
            self.names.join(", ")
        };
        let ids = if self.indexes.is_empty() {
            self.locks
                .iter()
                .map(|d| format!("lock {d}"))
                .collect::<Vec<_>>()
        } else {
            self.indexes
                .iter()
                .map(|d| format!("index {d}"))
                .collect::<Vec<_>>()
        };
        format!("{names} ({})", ids.join(", "))
    }
}

/// A blob reached from the named entries of an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reached {
    /// Its size, as the descriptor says.
    pub size: u64,
    /// The repositories (entry names without tag or digest) it is used in.
    pub repositories: BTreeSet<String>,
    /// A manifest or an index (never left out of a bundle).
    pub document: bool,
    /// Part of the platform artifact (never left out).
    pub platform: bool,
}

/// The repository of an entry name: the name without its tag (`registry/repo`).
pub fn repository_of(name: &str) -> String {
    match ImageRef::parse(name) {
        Ok(r) => r.name(),
        Err(_) => name.split(['@', ':']).next().unwrap_or(name).to_string(),
    }
}

/// The name of an `index.json` entry (images by `ref.name`; named artifacts by whatever annotation the
/// format gives them): `None` for the platform artifact.
fn entry_name(entry: &Descriptor) -> Option<String> {
    if is_platform_artifact(entry) {
        return None;
    }
    entry
        .annotation(REF_NAME_ANNOTATION)
        .or_else(|| entry.annotation("dev.bundle.ref.name"))
        .map(str::to_string)
}

/// Every blob reachable from `index`, with the repositories it is used in; `doc` reads a manifest or
/// index by digest (`None` when absent: its references are then unknown).
pub fn reach(index: &Index, doc: &dyn Fn(&str) -> Option<Vec<u8>>) -> BTreeMap<String, Reached> {
    let mut out: BTreeMap<String, Reached> = BTreeMap::new();
    for entry in &index.manifests {
        let (repository, platform) = match entry_name(entry) {
            Some(n) => (Some(repository_of(&n)), false),
            None if is_platform_artifact(entry) => (None, true),
            None => continue,
        };
        let mut stack = vec![(entry.clone(), 0usize)];
        let mut seen = BTreeSet::new();
        while let Some((d, depth)) = stack.pop() {
            let is_doc = is_manifest(&d.media_type) || is_index(&d.media_type);
            let r = out.entry(d.digest.clone()).or_default();
            r.size = d.size;
            r.document |= is_doc;
            r.platform |= platform;
            if let Some(repo) = &repository {
                r.repositories.insert(repo.clone());
            }
            if !is_doc || depth > 8 || !seen.insert(d.digest.clone()) {
                continue;
            }
            let Some(bytes) = doc(&d.digest) else {
                continue;
            };
            if is_index(&d.media_type) {
                if let Ok(i) = serde_json::from_slice::<Index>(&bytes) {
                    stack.extend(i.manifests.into_iter().map(|c| (c, depth + 1)));
                }
            } else if let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) {
                stack.extend(m.blobs().cloned().map(|c| (c, depth + 1)));
            }
        }
    }
    out
}

/// What the far side already holds from the base(s) of a delta.
#[derive(Debug, Clone, Default)]
pub struct Base {
    /// Blob digest → the repositories the base holds it for.
    pub blobs: BTreeMap<String, BTreeSet<String>>,
    /// What the delta records about it.
    pub of: DeltaOf,
}

impl Base {
    /// Adds what a base holds: blobs by repository.
    pub fn add(&mut self, reached: &BTreeMap<String, Reached>) {
        for (digest, r) in reached {
            self.blobs
                .entry(digest.clone())
                .or_default()
                .extend(r.repositories.iter().cloned());
        }
    }

    /// Whether a blob used in `repositories` may be left out: the base holds it for every one of them.
    pub fn covers(&self, digest: &str, repositories: &BTreeSet<String>) -> bool {
        !repositories.is_empty()
            && self
                .blobs
                .get(digest)
                .is_some_and(|have| repositories.iter().all(|r| have.contains(r)))
    }
}

/// A base bundle read: what it holds, its `index.json` digest and its lock's digest.
#[derive(Debug, Clone)]
pub struct BaseBundle {
    /// Every blob present and intact in it, reached from its index, with its repositories.
    pub reached: BTreeMap<String, Reached>,
    /// Every blob file present and intact (digest → size), reached or not.
    pub present: BTreeMap<String, u64>,
    /// Digest of its `index.json`.
    pub index_digest: Digest,
    /// Digest of the lock in its platform artifact.
    pub lock_digest: Option<String>,
}

/// Reads a bundle given as a base (directory, archive or split archive): every blob hashed. A base
/// that is itself a delta holds, for this purpose, the blobs it leaves to its own base too.
pub fn read_base_bundle(path: &Path) -> Result<BaseBundle, ReadError> {
    let scan = scan::scan(path)?;
    let not_bundle = |message: String| ReadError::NotABundle {
        path: path.display().to_string(),
        message,
    };
    let bytes = scan
        .index
        .as_deref()
        .ok_or_else(|| not_bundle("no index.json".to_string()))?;
    let index: Index = serde_json::from_slice(bytes)
        .map_err(|e| not_bundle(format!("index.json is not an OCI image index: {e}")))?;
    let present: BTreeMap<String, u64> = scan
        .blobs
        .iter()
        .filter(|(name, b)| b.read_error.is_none() && b.digest.as_str() == name.as_str())
        .map(|(name, b)| (name.clone(), b.size))
        .collect();
    let doc = |d: &str| scan.document(d).map(<[u8]>::to_vec);
    let mut reached = reach(&index, &doc);
    // What the base holds; a base that is itself a delta also stands for the blobs it leaves to its own
    // base (a site that mirrored it has them: mirror checked).
    let is_delta = DeltaOf::of(&index).is_some();
    reached.retain(|d, r| {
        present.get(d) == Some(&r.size) || (is_delta && !r.document && !present.contains_key(d))
    });
    let lock_digest = index
        .manifests
        .iter()
        .find(|e| is_platform_artifact(e))
        .and_then(|e| scan.document(&e.digest))
        .and_then(|doc| serde_json::from_slice::<Manifest>(doc).ok())
        .and_then(|m| {
            m.layers
                .iter()
                .find(|l| l.media_type == LOCK_MEDIA_TYPE)
                .map(|l| l.digest.clone())
        });
    Ok(BaseBundle {
        reached,
        present,
        index_digest: Digest::sha256_of(bytes),
        lock_digest,
    })
}

/// Whether `path` is a bundle (a layout directory, or an archive or parts file) rather than a lock
/// file or a directory of locks.
pub fn is_bundle(path: &Path) -> bool {
    if path.is_dir() {
        return path.join(crate::oci::layout::INDEX_FILE).is_file();
    }
    match std::fs::File::open(path) {
        Ok(mut f) => {
            use std::io::Read as _;
            let mut head = [0u8; 512];
            let n = f.read(&mut head).unwrap_or(0);
            let head = &head[..n];
            // zstd, a tar header (ustar magic at 257), or a parts file
            head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
                || head.get(257..262) == Some(b"ustar")
                || String::from_utf8_lossy(head).contains(super::parts::PARTS_MEDIA_TYPE)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reads_its_base() {
        let of = DeltaOf {
            indexes: vec!["sha256:aa".into()],
            locks: vec!["sha256:bb".into(), "sha256:cc".into()],
            names: vec!["one.tar".into()],
        };
        let mut annotations = BTreeMap::new();
        of.annotate(&mut annotations);
        let index = Index::new(Vec::new(), annotations);
        assert_eq!(DeltaOf::of(&index), Some(of.clone()));
        assert!(of.describe().contains("one.tar (index sha256:aa)"));
        assert_eq!(DeltaOf::of(&Index::new(Vec::new(), BTreeMap::new())), None);
    }

    #[test]
    fn covers_only_where_the_base_had_it() {
        let mut base = Base::default();
        let r = |repos: &[&str]| Reached {
            size: 1,
            repositories: repos.iter().map(|s| s.to_string()).collect(),
            document: false,
            platform: false,
        };
        base.add(&BTreeMap::from([("sha256:1".to_string(), r(&["a/x"]))]));
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert!(base.covers("sha256:1", &set(&["a/x"])));
        assert!(!base.covers("sha256:1", &set(&["a/x", "a/y"])));
        assert!(!base.covers("sha256:2", &set(&["a/x"])));
        assert!(!base.covers("sha256:1", &set(&[])));
        assert_eq!(
            repository_of("registry.example.test/team/app:v1"),
            "registry.example.test/team/app"
        );
    }
}
