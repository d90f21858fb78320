//! The base of a delta export (`--since OLD`) and what the delta leaves out because of it.
//!
//! A base is a bundle (directory, archive or split archive: read whole, every blob hashed), a lock
//! file, or a directory of locks (a plan written by `bundle plan -o DIR`: every `*.lock` in it). For a
//! lock, its images are pinned as an export pins them and their manifests fetched (small documents,
//! into a scratch layout removed afterwards) to learn their blobs; layers are never downloaded. Its
//! charts and release manifests are had as an export has them (from the cache, else from upstream
//! into the cache) and laid out as the bundle of that lock would hold them (into a scratch layout,
//! removed afterwards), so that a base lock leaves out exactly what the equivalent base bundle does:
//! images, charts and release manifests alike. The base lock's digest is that of the lock the
//! bundle of it would carry (every image, chart and manifest digest pinned).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::plan::{BlobJob, Planned};
use super::{ExportError, fetch, pin_images, upstream};
use crate::airgap::delta::{Base, Reached, is_bundle, reach, read_base_bundle};
use crate::jobs::Runner;
use crate::lock::Lock;
use crate::oci::layout::blob_path;
use crate::oci::wire::{Index, Platform};
use crate::oci::{Layout, Registries};
use crate::progress::Progress;
use crate::types::Digest;

fn base_error(path: &Path, message: impl Into<String>) -> ExportError {
    ExportError::Base {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The lock files a `--since`/`--plan` path stands for: the file itself, or every `*.lock` of a
/// directory in name order (`01-….lock`, `02-….lock`, … as `bundle plan -o DIR` writes them).
pub(crate) fn lock_files(path: &Path) -> Result<Vec<PathBuf>, ExportError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| base_error(path, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "lock"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(base_error(
            path,
            "a directory with no *.lock file and no bundle (index.json)",
        ));
    }
    Ok(files)
}

/// Reads a lock file.
pub(crate) fn read_lock(path: &Path) -> Result<Lock, ExportError> {
    let text = std::fs::read_to_string(path).map_err(|e| base_error(path, e.to_string()))?;
    Lock::parse(&text, &path.display().to_string()).map_err(|e| base_error(path, e.to_string()))
}

/// Where the base is read: the registries, the cache of charts and manifests, a scratch directory.
pub(super) struct Reader<'a> {
    pub registries: &'a Arc<Registries>,
    pub runner: &'a Runner,
    pub platforms: &'a Arc<Vec<Platform>>,
    /// The cache of charts and release manifests.
    pub store: &'a Arc<Layout>,
    /// Removed afterwards.
    pub scratch: &'a Path,
    pub progress: &'a dyn Progress,
}

/// What the far side already holds from `since` (see the module docs).
pub(super) fn base(since: &[PathBuf], r: &Reader) -> Result<Base, ExportError> {
    let mut base = Base::default();
    let mut images = Vec::new();
    // Base locks with their images pinned, and where their digests go in `base.of.locks`.
    let mut locks: Vec<(PathBuf, Lock, usize)> = Vec::new();
    for path in since {
        if is_bundle(path) {
            let read = read_base_bundle(path).map_err(|e| base_error(path, e.to_string()))?;
            base.add(&read.reached);
            base.of.indexes.push(read.index_digest.to_string());
            if let Some(l) = read.lock_digest {
                base.of.locks.push(l);
            }
            base.of.names.push(file_name(path));
            continue;
        }
        for file in lock_files(path)? {
            let lock = read_lock(&file)?;
            let (wanted, pinned, _) = pin_images(&lock, r.registries, r.runner, r.progress)
                .map_err(|e| match e {
                    ExportError::Pin(f) => base_error(
                        &file,
                        format!(
                            "{} image(s) of the base could not be pinned (first: {}: {})",
                            f.len(),
                            f[0].reference,
                            f[0].cause
                        ),
                    ),
                    other => other,
                })?;
            locks.push((file.clone(), pinned, base.of.locks.len()));
            base.of.locks.push(String::new());
            base.of.names.push(file_name(&file));
            images.extend(wanted);
        }
    }
    if !locks.is_empty() {
        let (reached, digests) = artifacts_of(&locks, r)?;
        base.add(&reached);
        for ((_, _, at), digest) in locks.iter().zip(digests) {
            base.of.locks[*at] = digest;
        }
    }
    if !images.is_empty() {
        // One image once, whichever base lock named it.
        let mut seen = BTreeSet::new();
        images.retain(|i| seen.insert((i.reference.to_string(), i.digest.clone())));
        let layout = Arc::new(Layout::create(r.scratch)?);
        let fetched = fetch::manifests(
            r.registries,
            r.runner,
            &layout,
            images,
            r.platforms,
            r.progress,
        );
        let _ = std::fs::remove_dir_all(r.scratch);
        if let Some(f) = fetched.failures.first() {
            return Err(base_error(
                Path::new(&f.reference.to_string()),
                format!("an image of the base could not be read: {}", f.cause),
            ));
        }
        base.add(&reached_of(&fetched.planned));
    }
    Ok(base)
}

/// The charts and release manifests of the base locks as the bundle of them holds them (laid out
/// in the scratch directory, removed afterwards), and each lock's digest as that bundle carries it
/// (every digest pinned).
fn artifacts_of(
    locks: &[(PathBuf, Lock, usize)],
    r: &Reader,
) -> Result<(BTreeMap<String, Reached>, Vec<String>), ExportError> {
    let first = &locks[0].0;
    let all: Vec<Lock> = locks.iter().map(|(_, l, _)| l.clone()).collect();
    let (all, _) = upstream::fetch(&all, r.registries, r.runner, r.store, r.progress).map_err(
        |e| match e {
            ExportError::Artifacts(f) => base_error(
                first,
                format!(
                    "{} chart(s) or manifest(s) of the base could not be had (first: {}: {})",
                    f.len(),
                    f[0].what,
                    f[0].error
                ),
            ),
            ExportError::Lock(e) => base_error(first, e.to_string()),
            other => other,
        },
    )?;
    let digests = all
        .iter()
        .map(|l| Digest::sha256_of(l.to_yaml().as_bytes()).to_string())
        .collect();
    let layout = Layout::create(r.scratch)?;
    let entries = upstream::write(&layout, r.store, &all);
    let reached = entries.map(|entries| {
        let index = Index::new(
            entries.into_iter().map(|(_, d)| d).collect(),
            BTreeMap::new(),
        );
        reach(&index, &document_in(layout.root()))
    });
    let _ = std::fs::remove_dir_all(r.scratch);
    Ok((reached?, digests))
}

/// Reads a manifest or index of the layout at `root` by digest (`None` when absent or too large).
fn document_in(root: &Path) -> impl Fn(&str) -> Option<Vec<u8>> + '_ {
    move |d: &str| {
        let digest = Digest::parse_sha256(d).ok()?;
        let path = blob_path(root, &digest);
        let meta = std::fs::metadata(&path).ok()?;
        (meta.len() <= crate::airgap::format::max_document_size())
            .then(|| std::fs::read(&path).ok())
            .flatten()
    }
}

/// The blobs of planned images with the repositories they are used in.
fn reached_of(planned: &[Planned]) -> BTreeMap<String, Reached> {
    let mut out: BTreeMap<String, Reached> = BTreeMap::new();
    for p in planned {
        let repository = p.image.reference.name();
        for (digest, size) in &p.blobs {
            let r = out.entry(digest.to_string()).or_default();
            r.size = *size;
            r.repositories.insert(repository.clone());
        }
    }
    out
}

/// The blob jobs the delta still needs: those the base does not hold for every repository that uses
/// them.
pub(super) fn still_needed(jobs: Vec<BlobJob>, planned: &[Planned], base: &Base) -> Vec<BlobJob> {
    let used = reached_of(planned);
    jobs.into_iter()
        .filter(|j| {
            let repositories = used
                .get(j.digest.as_str())
                .map(|r| r.repositories.clone())
                .unwrap_or_default();
            !base.covers(j.digest.as_str(), &repositories)
        })
        .collect()
}

/// Removes from the layout every config and layer of `index` that the base holds for every repository
/// that uses it (whatever put it there: this run, an earlier run resumed, a chart copied in); returns
/// how many blobs the delta leaves to its base and their bytes.
pub(super) fn leave_out(layout: &Layout, index: &Index, base: &Base) -> (usize, u64) {
    let root = layout.root();
    let mut count = 0;
    let mut bytes = 0;
    for (digest, r) in reach(index, &document_in(root)) {
        if r.document || r.platform || !base.covers(&digest, &r.repositories) {
            continue;
        }
        count += 1;
        bytes += r.size;
        if let Ok(d) = Digest::parse_sha256(&digest) {
            let _ = std::fs::remove_file(blob_path(root, &d));
        }
    }
    (count, bytes)
}
