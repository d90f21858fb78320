//! `bundle mirror`: push a bundle into Harbor or any OCI registry on the far side of the air gap.
//!
//! 1. The bundle is verified first ([`super::verify::verify`]); a corrupt bundle is refused before
//!    anything is pushed.
//! 2. [`plan`] (no network) maps every image of `index.json` to its target repository
//!    (`PROJECT[/PREFIX]/<source-registry>/<repository>`, or without the source registry), refuses
//!    collisions and names registries cannot hold, and lists per repository the blobs, the manifests
//!    (children before parents) and the tags.
//! 3. [`mirror`] carries the plan out in order: blobs (skipped when present, mounted from another
//!    repository of the target when this run already put them there, uploaded otherwise), then image
//!    manifests, then indexes (all by digest, byte for byte, with their media types), and only then the
//!    tags. A failure stops the run before any tag is written, so no tag ever points at something
//!    missing; a rerun pushes only what is missing.
//!
//! Reading bundles: blobs are pushed from files. A directory bundle is read where it is; a `.tar` or
//! `.tar.zst` bundle is verified as an archive (one stream), then extracted by [`read::extract`] (same
//! refusal rules, every blob hashed again on the way) into a work directory next to the bundle, or
//! under the system's temporary directory when the bundle's directory is not writable. The work
//! directory lives as long as the [`Plan`] made from it and is removed when the plan is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::format;
use super::read::{self, ExtractError};
use super::verify::{self, Problem, VerifyError};
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::oci::{BlobOutcome, ProjectOutcome, PushClient, PushError, PushOptions};
use crate::render;
use crate::types::grammar::{MAX_REPOSITORY_LEN, valid_component};
use crate::types::{ImageRef, RegistryPrefix};

/// Reads `--to`: `HOST[:PORT]/PROJECT[/PREFIX]` (a project is required: Harbor keeps repositories
/// in projects).
pub fn parse_target(given: &str) -> Result<RegistryPrefix, MirrorError> {
    let target = RegistryPrefix::parse(given).map_err(|e| MirrorError::Target {
        given: given.to_string(),
        reason: e.reason,
    })?;
    if target.first_component().is_none() {
        return Err(MirrorError::Target {
            given: given.to_string(),
            reason:
                "a project is required: HOST[:PORT]/PROJECT[/PREFIX], e.g. harbor.local/platform"
                    .to_string(),
        });
    }
    Ok(target)
}

/// What `mirror` is asked to do.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Where to: `HOST[:PORT]/PROJECT[/PREFIX]` (see [`parse_target`]).
    pub target: RegistryPrefix,
    /// Map `<source-registry>/<repository>` to `<repository>` only.
    pub strip_registry_host: bool,
    /// Create the Harbor project first (201 created, 409 exists).
    pub create_project: bool,
    /// Read every manifest back afterwards and compare digests.
    pub verify_remote: bool,
    /// Operations in flight at once (at least 1).
    pub jobs: usize,
    /// How to reach the registry.
    pub push: PushOptions,
}

/// One image of the bundle and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The reference recorded in the bundle.
    pub source: String,
    /// The target repository (without host).
    pub repository: String,
    /// The tag pushed, when the reference has one.
    pub tag: Option<String>,
    /// The manifest (or index) digest.
    pub digest: String,
}

/// Everything one target repository receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryPlan {
    /// Blobs (configs and layers): digest → size.
    pub blobs: BTreeMap<String, u64>,
    /// Manifest digests (image manifests and indexes).
    pub manifests: BTreeSet<String>,
    /// Tag → manifest digest.
    pub tags: BTreeMap<String, String>,
}

/// A manifest as stored in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Media type it is pushed with.
    pub media_type: String,
    /// The bytes, exactly.
    pub bytes: Vec<u8>,
    /// 0 for an image manifest, 1 + the deepest child for an index.
    pub level: usize,
}

/// What will be pushed, worked out without the network.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The directory blobs are read from: the bundle itself, or where an archive was extracted.
    pub root: PathBuf,
    /// Keeps an archive's extraction alive while the plan is; removes it when the last clone drops.
    workdir: Option<Arc<Workdir>>,
    /// The images, in `index.json` order.
    pub images: Vec<Image>,
    /// Target repository → what it receives.
    pub repositories: BTreeMap<String, RepositoryPlan>,
    /// Every manifest, by digest.
    pub manifests: BTreeMap<String, Manifest>,
    /// `index.json` entries not pushed, and why (the bundle's own platform artifact).
    pub not_pushed: Vec<(String, String)>,
}

impl Plan {
    /// Where an archive bundle was extracted for this plan (removed when the plan is dropped); `None`
    /// for a directory bundle, read where it is.
    pub fn extracted_to(&self) -> Option<&Path> {
        self.workdir.as_ref().map(|w| w.path.as_path())
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

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The target.
    pub target: String,
    /// Repositories written to.
    pub repositories: usize,
    /// Images (tagged or by digest).
    pub images: usize,
    /// Blobs uploaded.
    pub blobs_pushed: usize,
    /// Blobs already there.
    pub blobs_skipped: usize,
    /// Blobs mounted from another repository.
    pub blobs_mounted: usize,
    /// Manifests pushed.
    pub manifests_pushed: usize,
    /// Manifests already there.
    pub manifests_skipped: usize,
    /// Tags written.
    pub tags_pushed: usize,
    /// Tags already pointing at the right digest.
    pub tags_skipped: usize,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// Manifests and tags read back and found intact (`--verify-remote`).
    pub verified_remote: Option<usize>,
    /// Whether the project was created (`Some(false)`: it existed).
    pub project_created: Option<bool>,
}

/// What is still missing on the registry after a failed run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Missing {
    /// `repository@digest` of blobs not confirmed.
    pub blobs: Vec<String>,
    /// `repository@digest` of manifests not confirmed.
    pub manifests: Vec<String>,
    /// `repository:tag` not written.
    pub tags: Vec<String>,
}

/// Why a mirror run failed.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// `--to` is not usable.
    #[error("--to `{given}`: {reason}")]
    Target {
        /// The value.
        given: String,
        /// What is wrong.
        reason: String,
    },
    /// The bundle could not be read.
    #[error(transparent)]
    Unreadable(#[from] VerifyError),
    /// The bundle failed verification; nothing was pushed.
    #[error("{path}: the bundle is corrupt ({} problem(s)); nothing was pushed", problems.len())]
    Corrupt {
        /// The bundle.
        path: String,
        /// What verify found.
        problems: Vec<Problem>,
    },
    /// The bundle's content cannot be mirrored as it is.
    #[error("{path}: {message}")]
    Bundle {
        /// The file concerned.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Two sources map to one target repository.
    #[error("{repository}: both {first} and {second} would be pushed there{}", if *.stripped { " (drop --strip-registry-host)" } else { "" })]
    Collision {
        /// The target repository.
        repository: String,
        /// One source.
        first: String,
        /// The other.
        second: String,
        /// Whether --strip-registry-host caused it.
        stripped: bool,
    },
    /// A target name the registry cannot hold.
    #[error("{name}: {reason}")]
    Name {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Pushing failed; `missing` says what the registry still lacks. No tag was written for anything missing.
    #[error("{error}")]
    Push {
        /// The first error.
        error: Box<PushError>,
        /// What is still missing.
        missing: Box<Missing>,
    },
    /// `--verify-remote` found manifests that differ or are absent.
    #[error("the registry does not serve what was pushed: {}", problems.join("; "))]
    RemoteMismatch {
        /// One line per problem.
        problems: Vec<String>,
    },
    /// `-o DIR`: the manifests could not be rendered or written.
    #[error("rendering for the mirror: {0}")]
    Render(String),
}

/// Told what happens (on the calling thread): the library never prints.
pub trait Progress {
    /// A phase starts with `total` operations.
    fn phase(&self, name: &str, total: usize);
    /// One operation of the phase is done (`done` of `total`).
    fn step(&self, name: &str, done: usize, total: usize);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &str, _: usize) {}
    fn step(&self, _: &str, _: usize, _: usize) {}
}

#[derive(Deserialize)]
struct IndexWire {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestWire {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// A directory holding an extracted archive bundle; removed on drop.
#[derive(Debug)]
struct Workdir {
    path: PathBuf,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A bundle ready to be read from files.
struct Opened {
    root: PathBuf,
    workdir: Option<Arc<Workdir>>,
}

/// Where an archive is extracted: `.<name>.mirror-<pid>.d` next to it when that directory is
/// writable (the same disk the bundle was sized for), otherwise under the temporary directory.
fn workdir_for(archive: &Path) -> Result<PathBuf, MirrorError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".to_string());
    let leaf = format!(".{name}.mirror-{}.d", std::process::id());
    let beside = archive
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .map(|p| p.join(&leaf));
    let mut last = None;
    for candidate in beside.into_iter().chain([std::env::temp_dir().join(&leaf)]) {
        // Probe: the directory must be creatable (and must not exist yet).
        match std::fs::create_dir(&candidate) {
            Ok(()) => {
                let _ = std::fs::remove_dir(&candidate);
                return Ok(candidate);
            }
            Err(e) => last = Some((candidate, e)),
        }
    }
    let (path, e) = last.unwrap_or_else(|| {
        (
            std::env::temp_dir(),
            std::io::Error::other("no place to extract to"),
        )
    });
    Err(MirrorError::Bundle {
        path: path.display().to_string(),
        message: format!("cannot create a directory to extract the bundle into: {e}"),
    })
}

/// The bundle as a directory: a directory as it is, an archive extracted into a work directory.
fn open_bundle(path: &Path) -> Result<Opened, MirrorError> {
    if path.is_dir() {
        return Ok(Opened {
            root: path.to_path_buf(),
            workdir: None,
        });
    }
    let dir = workdir_for(path)?;
    let guard = Workdir { path: dir.clone() };
    read::extract(path, &dir).map_err(|e| extract_error(path, e))?;
    Ok(Opened {
        root: dir,
        workdir: Some(Arc::new(guard)),
    })
}

fn extract_error(bundle: &Path, e: ExtractError) -> MirrorError {
    match e {
        ExtractError::Read(e) => MirrorError::Unreadable(e.into()),
        ExtractError::Refused { entry, reason, .. } => MirrorError::Corrupt {
            path: bundle.display().to_string(),
            problems: vec![Problem {
                subject: entry,
                message: format!("refused: {reason}"),
            }],
        },
        ExtractError::Corrupt { entry, message, .. } => MirrorError::Corrupt {
            path: bundle.display().to_string(),
            problems: vec![Problem {
                subject: entry,
                message,
            }],
        },
        ExtractError::Write { path, source } => MirrorError::Bundle {
            path,
            message: format!("extracting the bundle: {source}"),
        },
    }
}

fn blob_path(root: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    root.join(format::BLOBS_DIR).join(hex)
}

fn read_small(path: &Path, limit: u64) -> Result<Vec<u8>, MirrorError> {
    let err = |message: String| MirrorError::Bundle {
        path: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(err(format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

fn is_index_type(media_type: &str) -> bool {
    media_type == format::OCI_INDEX || media_type == format::DOCKER_MANIFEST_LIST
}

fn is_nondistributable(media_type: &str) -> bool {
    media_type.starts_with(format::OCI_NONDISTRIBUTABLE_PREFIX)
        || media_type == format::DOCKER_FOREIGN_LAYER
}

/// Works out what to push where (reads the bundle's `index.json` and manifests; no network).
pub fn plan(
    bundle: &Path,
    target: &RegistryPrefix,
    strip_registry_host: bool,
) -> Result<Plan, MirrorError> {
    let Opened { root, workdir } = open_bundle(bundle)?;
    let index_path = root.join(format::INDEX_FILE);
    let index_bytes = read_small(&index_path, format::MAX_INDEX_SIZE)?;
    let index: IndexWire =
        serde_json::from_slice(&index_bytes).map_err(|e| MirrorError::Bundle {
            path: index_path.display().to_string(),
            message: format!("not an OCI index: {e}"),
        })?;
    let mut plan = Plan {
        root: root.clone(),
        workdir,
        ..Plan::default()
    };
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    for entry in &index.manifests {
        let Some(name) = entry.annotations.get(format::REF_NAME_ANNOTATION) else {
            plan.not_pushed.push((
                entry.digest.clone(),
                format!("no {} annotation", format::REF_NAME_ANNOTATION),
            ));
            continue;
        };
        if name == format::PLATFORM_REF_NAME {
            plan.not_pushed.push((
                name.clone(),
                "the bundle's own platform artifact".to_string(),
            ));
            continue;
        }
        let image = ImageRef::parse(name).map_err(|e| MirrorError::Bundle {
            path: index_path.display().to_string(),
            message: e.to_string(),
        })?;
        let source = image.name();
        let repository = target.repository_for(&image, strip_registry_host);
        check_repository(&repository, image.registry(), strip_registry_host)?;
        if let Some(first) = sources.get(&repository) {
            if *first != source {
                return Err(MirrorError::Collision {
                    repository,
                    first: first.clone(),
                    second: source,
                    stripped: strip_registry_host,
                });
            }
        }
        sources.insert(repository.clone(), source);
        let repo = plan.repositories.entry(repository.clone()).or_default();
        walk(&root, entry, &mut plan.manifests, repo, 0)?;
        if let Some(tag) = image.tag() {
            if let Some(other) = repo.tags.insert(tag.to_string(), entry.digest.clone()) {
                if other != entry.digest {
                    return Err(MirrorError::Bundle {
                        path: index_path.display().to_string(),
                        message: format!(
                            "{name} appears twice with different digests ({other}, {})",
                            entry.digest
                        ),
                    });
                }
            }
        }
        plan.images.push(Image {
            source: name.clone(),
            repository,
            tag: image.tag().map(str::to_string),
            digest: entry.digest.clone(),
        });
    }
    Ok(plan)
}

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
    if let Some(bad) = repository.split('/').find(|c| !valid_component(c)) {
        let hint = if !stripped && bad == registry {
            " (the source registry is part of the path: use --strip-registry-host)"
        } else {
            ""
        };
        return Err(MirrorError::Name {
            name: repository.to_string(),
            reason: format!("`{bad}` is not a valid repository path component{hint}"),
        });
    }
    Ok(())
}

/// Reads a manifest (checking its digest), records it and, recursively, what it references.
fn walk(
    root: &Path,
    desc: &Descriptor,
    manifests: &mut BTreeMap<String, Manifest>,
    repo: &mut RepositoryPlan,
    depth: usize,
) -> Result<usize, MirrorError> {
    let path = blob_path(root, &desc.digest);
    let bad = |message: String| MirrorError::Bundle {
        path: path.display().to_string(),
        message,
    };
    if depth > 8 {
        return Err(bad("indexes nested more than 8 deep".to_string()));
    }
    if !crate::oci::is_sha256_digest(&desc.digest) {
        return Err(bad(format!("`{}` is not a sha256 digest", desc.digest)));
    }
    repo.manifests.insert(desc.digest.clone());
    if let Some(m) = manifests.get(&desc.digest) {
        let level = m.level;
        let bytes = m.bytes.clone();
        // Already read for another repository: record its references here too.
        let wire: ManifestWire = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        add_references(root, &wire, manifests, repo, depth)?;
        return Ok(level);
    }
    let bytes = read_small(&path, format::MAX_DOCUMENT_SIZE)?;
    if crate::oci::sha256_digest(&bytes) != desc.digest || bytes.len() as u64 != desc.size {
        return Err(bad(
            "the manifest does not match its digest or size".to_string()
        ));
    }
    let wire: ManifestWire =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a manifest: {e}")))?;
    let media_type = if desc.media_type.is_empty() {
        wire.media_type.clone().unwrap_or_default()
    } else {
        desc.media_type.clone()
    };
    if media_type.is_empty() {
        return Err(bad("the manifest has no media type".to_string()));
    }
    if is_index_type(&media_type) != wire.manifests.is_some() {
        return Err(bad(format!(
            "media type {media_type} does not fit the content"
        )));
    }
    let level = add_references(root, &wire, manifests, repo, depth)?;
    manifests.insert(
        desc.digest.clone(),
        Manifest {
            media_type,
            bytes,
            level,
        },
    );
    Ok(level)
}

fn add_references(
    root: &Path,
    wire: &ManifestWire,
    manifests: &mut BTreeMap<String, Manifest>,
    repo: &mut RepositoryPlan,
    depth: usize,
) -> Result<usize, MirrorError> {
    if let Some(children) = &wire.manifests {
        let mut level = 1;
        for child in children {
            level = level.max(1 + walk(root, child, manifests, repo, depth + 1)?);
        }
        return Ok(level);
    }
    for blob in wire.config.iter().chain(wire.layers.iter()) {
        let path = blob_path(root, &blob.digest);
        if !crate::oci::is_sha256_digest(&blob.digest) {
            return Err(MirrorError::Bundle {
                path: path.display().to_string(),
                message: format!("`{}` is not a sha256 digest", blob.digest),
            });
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == blob.size => {
                repo.blobs.insert(blob.digest.clone(), blob.size);
            }
            Ok(m) => {
                return Err(MirrorError::Bundle {
                    path: path.display().to_string(),
                    message: format!("{} bytes, the manifest says {}", m.len(), blob.size),
                });
            }
            Err(_) if is_nondistributable(&blob.media_type) => {}
            Err(e) => {
                return Err(MirrorError::Bundle {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(0)
}

/// Verifies the bundle and works out the plan: everything that is checked before the network.
///
/// An archive (`.tar`, `.tar.zst`) is verified as it is, then extracted next to it (see the module
/// docs); the extraction lives as long as the returned plan.
pub fn prepare(bundle: &Path, options: &MirrorOptions) -> Result<Plan, MirrorError> {
    let report = verify::verify(bundle)?;
    if !report.problems.is_empty() {
        return Err(MirrorError::Corrupt {
            path: bundle.display().to_string(),
            problems: report.problems,
        });
    }
    plan(bundle, &options.target, options.strip_registry_host)
}

#[derive(Debug, Clone)]
enum Job {
    Blob {
        repository: String,
        digest: String,
        size: u64,
        mount_from: Option<String>,
    },
    Manifest {
        repository: String,
        digest: String,
    },
    Tag {
        repository: String,
        tag: String,
        digest: String,
    },
    Check {
        repository: String,
        reference: String,
        digest: String,
    },
}

impl Job {
    fn name(&self) -> String {
        match self {
            Job::Blob {
                repository, digest, ..
            }
            | Job::Manifest { repository, digest } => format!("{repository}@{digest}"),
            Job::Tag {
                repository, tag, ..
            } => format!("{repository}:{tag}"),
            Job::Check {
                repository,
                reference,
                ..
            } => format!("{repository}@{reference}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Done {
    Blob(BlobOutcome),
    Pushed(bool),
    Checked(Option<String>),
}

struct Ctx {
    client: PushClient,
    root: PathBuf,
    manifests: BTreeMap<String, Manifest>,
    abort: AtomicBool,
}

async fn run_job(ctx: &Ctx, job: &Job) -> Result<Done, PushError> {
    let c = &ctx.client;
    match job {
        Job::Blob {
            repository,
            digest,
            size,
            mount_from,
        } => c
            .push_blob(
                repository,
                digest,
                *size,
                &blob_path(&ctx.root, digest),
                mount_from.as_deref(),
            )
            .await
            .map(Done::Blob),
        Job::Manifest { repository, digest } => {
            if c.manifest_digest(repository, digest).await?.is_some() {
                return Ok(Done::Pushed(false));
            }
            let Some(m) = ctx.manifests.get(digest) else {
                return Ok(Done::Pushed(false));
            };
            c.push_manifest(repository, digest, &m.media_type, &m.bytes)
                .await
                .map(|()| Done::Pushed(true))
        }
        Job::Tag {
            repository,
            tag,
            digest,
        } => {
            if c.manifest_digest(repository, tag).await?.as_deref() == Some(digest.as_str()) {
                return Ok(Done::Pushed(false));
            }
            let Some(m) = ctx.manifests.get(digest) else {
                return Ok(Done::Pushed(false));
            };
            c.push_manifest(repository, tag, &m.media_type, &m.bytes)
                .await
                .map(|()| Done::Pushed(true))
        }
        Job::Check {
            repository,
            reference,
            ..
        } => c
            .fetch_manifest_digest(repository, reference)
            .await
            .map(Done::Checked),
    }
}

/// Runs jobs with `workers` in flight; results in job order (`None`: not run, the phase was aborted).
fn run_phase(
    runtime: &tokio::runtime::Runtime,
    ctx: &Arc<Ctx>,
    name: &str,
    jobs: Vec<Job>,
    workers: usize,
    progress: &dyn Progress,
) -> Vec<(Job, Option<Result<Done, PushError>>)> {
    let total = jobs.len();
    progress.phase(name, total);
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<(usize, Result<Done, PushError>)>();
    for _ in 0..workers.clamp(1, 64).min(total.max(1)) {
        let (ctx, jobs, next, tx) = (ctx.clone(), jobs.clone(), next.clone(), tx.clone());
        runtime.spawn(async move {
            loop {
                if ctx.abort.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                let result = run_job(&ctx, job).await;
                if result.is_err() {
                    ctx.abort.store(true, Ordering::SeqCst);
                }
                if tx.send((i, result)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut results: Vec<Option<Result<Done, PushError>>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    for (i, r) in rx {
        done += 1;
        progress.step(name, done, total);
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(r);
        }
    }
    jobs.iter().cloned().zip(results).collect()
}

/// Pushes the bundle (verified and planned by [`prepare`]) into the target registry.
pub fn mirror(
    bundle: &Path,
    plan: &Plan,
    options: &MirrorOptions,
    progress: &dyn Progress,
) -> Result<Summary, MirrorError> {
    let started = Instant::now();
    // The plan's directory (kept alive by the plan); a default plan reads the bundle itself.
    let opened;
    let root = if plan.root.as_os_str().is_empty() {
        opened = open_bundle(bundle)?;
        opened.root.clone()
    } else {
        plan.root.clone()
    };
    let push_err = |error: PushError| MirrorError::Push {
        error: Box::new(error),
        missing: Box::new(everything(plan)),
    };
    let project = options.target.first_component().unwrap_or_default();
    let client =
        PushClient::new(options.target.host(), project, &options.push).map_err(push_err)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(MirrorError::Runtime)?;
    let mut summary = Summary {
        target: options.target.to_string(),
        repositories: plan.repositories.len(),
        images: plan.images.len(),
        ..Summary::default()
    };
    runtime.block_on(client.login()).map_err(push_err)?;
    if options.create_project {
        let outcome = runtime
            .block_on(client.create_project(project))
            .map_err(push_err)?;
        summary.project_created = Some(outcome == ProjectOutcome::Created);
    }
    let ctx = Arc::new(Ctx {
        client,
        root,
        manifests: plan.manifests.clone(),
        abort: AtomicBool::new(false),
    });
    let mut missing = Missing::default();
    let mut first_error: Option<PushError> = None;
    // Blobs: each digest first into one repository, then everywhere else (mounting from there).
    let mut first_home: HashMap<&str, &str> = HashMap::new();
    let mut first_round = Vec::new();
    let mut second_round = Vec::new();
    for (repository, r) in &plan.repositories {
        for (digest, size) in &r.blobs {
            let job = |mount_from: Option<String>| Job::Blob {
                repository: repository.clone(),
                digest: digest.clone(),
                size: *size,
                mount_from,
            };
            match first_home.get(digest.as_str()) {
                None => {
                    first_home.insert(digest, repository);
                    first_round.push(job(None));
                }
                Some(home) => second_round.push(job(Some(home.to_string()))),
            }
        }
    }
    let jobs = options.jobs.max(1);
    let mut blob_results = run_phase(&runtime, &ctx, "blobs", first_round, jobs, progress);
    if !ctx.abort.load(Ordering::SeqCst) {
        blob_results.extend(run_phase(
            &runtime,
            &ctx,
            "blobs (other repositories)",
            second_round,
            jobs,
            progress,
        ));
    } else {
        blob_results.extend(second_round.into_iter().map(|j| (j, None)));
    }
    for (job, r) in &blob_results {
        note(job, r, &mut missing, &mut first_error);
        if let Some(Ok(Done::Blob(o))) = r {
            match o {
                BlobOutcome::Present => summary.blobs_skipped += 1,
                BlobOutcome::Mounted => summary.blobs_mounted += 1,
                BlobOutcome::Uploaded(n) => {
                    summary.blobs_pushed += 1;
                    summary.bytes += n;
                }
            }
        }
    }

    // Manifests, level by level: image manifests, then indexes over them.
    let max_level = plan.manifests.values().map(|m| m.level).max().unwrap_or(0);
    for level in 0..=max_level {
        let jobs_here: Vec<Job> = plan
            .repositories
            .iter()
            .flat_map(|(repository, r)| {
                r.manifests
                    .iter()
                    .filter(|d| plan.manifests.get(*d).is_some_and(|m| m.level == level))
                    .map(|d| Job::Manifest {
                        repository: repository.clone(),
                        digest: d.clone(),
                    })
            })
            .collect();
        let name = if level == 0 { "manifests" } else { "indexes" };
        let results = if ctx.abort.load(Ordering::SeqCst) {
            jobs_here.into_iter().map(|j| (j, None)).collect()
        } else {
            run_phase(&runtime, &ctx, name, jobs_here, jobs, progress)
        };
        for (job, r) in &results {
            note(job, r, &mut missing, &mut first_error);
            match r {
                Some(Ok(Done::Pushed(true))) => summary.manifests_pushed += 1,
                Some(Ok(_)) => summary.manifests_skipped += 1,
                _ => {}
            }
        }
    }

    // Tags, only when everything under them is there.
    let tag_jobs: Vec<Job> = plan
        .repositories
        .iter()
        .flat_map(|(repository, r)| {
            r.tags.iter().map(|(tag, digest)| Job::Tag {
                repository: repository.clone(),
                tag: tag.clone(),
                digest: digest.clone(),
            })
        })
        .collect();
    let results = if ctx.abort.load(Ordering::SeqCst) || first_error.is_some() {
        tag_jobs.into_iter().map(|j| (j, None)).collect()
    } else {
        run_phase(&runtime, &ctx, "tags", tag_jobs, jobs, progress)
    };
    for (job, r) in &results {
        note(job, r, &mut missing, &mut first_error);
        match r {
            Some(Ok(Done::Pushed(true))) => summary.tags_pushed += 1,
            Some(Ok(_)) => summary.tags_skipped += 1,
            _ => {}
        }
    }
    if let Some(error) = first_error {
        runtime.shutdown_timeout(Duration::from_secs(1));
        return Err(MirrorError::Push {
            error: Box::new(error),
            missing: Box::new(missing),
        });
    }

    if options.verify_remote {
        let checks: Vec<Job> = plan
            .repositories
            .iter()
            .flat_map(|(repository, r)| {
                let by_digest = r.manifests.iter().map(|d| Job::Check {
                    repository: repository.clone(),
                    reference: d.clone(),
                    digest: d.clone(),
                });
                let by_tag = r.tags.iter().map(|(t, d)| Job::Check {
                    repository: repository.clone(),
                    reference: t.clone(),
                    digest: d.clone(),
                });
                by_digest.chain(by_tag).collect::<Vec<_>>()
            })
            .collect();
        let results = run_phase(&runtime, &ctx, "verify", checks, jobs, progress);
        let mut problems = Vec::new();
        for (job, r) in &results {
            let Job::Check { digest, .. } = job else {
                continue;
            };
            match r {
                Some(Ok(Done::Checked(Some(got)))) if got == digest => {}
                Some(Ok(Done::Checked(Some(got)))) => {
                    problems.push(format!("{} serves {got}, expected {digest}", job.name()));
                }
                Some(Ok(_)) => problems.push(format!("{} is absent", job.name())),
                Some(Err(e)) => problems.push(format!("{}: {e}", job.name())),
                None => problems.push(format!("{}: not checked", job.name())),
            }
        }
        if !problems.is_empty() {
            runtime.shutdown_timeout(Duration::from_secs(1));
            return Err(MirrorError::RemoteMismatch { problems });
        }
        summary.verified_remote = Some(results.len());
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn note(
    job: &Job,
    result: &Option<Result<Done, PushError>>,
    missing: &mut Missing,
    first_error: &mut Option<PushError>,
) {
    match result {
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            if first_error.is_none() {
                *first_error = Some(e.clone());
            }
            push_missing(missing, job);
        }
        None => push_missing(missing, job),
    }
}

fn push_missing(missing: &mut Missing, job: &Job) {
    match job {
        Job::Blob { .. } => missing.blobs.push(job.name()),
        Job::Manifest { .. } => missing.manifests.push(job.name()),
        Job::Tag { .. } => missing.tags.push(job.name()),
        Job::Check { .. } => {}
    }
}

fn everything(plan: &Plan) -> Missing {
    let mut m = Missing::default();
    for (repository, r) in &plan.repositories {
        m.blobs
            .extend(r.blobs.keys().map(|d| format!("{repository}@{d}")));
        m.manifests
            .extend(r.manifests.iter().map(|d| format!("{repository}@{d}")));
        m.tags
            .extend(r.tags.keys().map(|t| format!("{repository}:{t}")));
    }
    m
}

/// `-o DIR` for a bundle already planned by [`prepare`]: reads the lock from the plan's directory
/// (an archive's extraction, or the bundle directory itself).
pub fn render_for_plan(
    plan: &Plan,
    target: &RegistryPrefix,
    catalog: &Catalog,
) -> Result<render::Output, MirrorError> {
    let (label, text) = lock_from_dir(&plan.root)?;
    render_lock(&label, &text, target, catalog)
}

/// Reads a blob (digest, size limit) and says where it was read from.
type BlobReader<'a> = dyn FnMut(&str, u64) -> Result<(String, Vec<u8>), MirrorError> + 'a;

/// Finds the lock through `index.json` → the platform artifact → its lock layer. `blob` reads a blob
/// (digest, size limit) and says where from.
fn find_lock(
    index_label: &str,
    index_bytes: &[u8],
    blob: &mut BlobReader<'_>,
) -> Result<(String, String), MirrorError> {
    let index: IndexWire =
        serde_json::from_slice(index_bytes).map_err(|e| MirrorError::Bundle {
            path: index_label.to_string(),
            message: e.to_string(),
        })?;
    let entry = index
        .manifests
        .iter()
        .find(|d| {
            d.annotations
                .get(format::REF_NAME_ANNOTATION)
                .map(String::as_str)
                == Some(format::PLATFORM_REF_NAME)
        })
        .ok_or_else(|| MirrorError::Bundle {
            path: index_label.to_string(),
            message: format!(
                "no platform artifact ({}) to render from",
                format::PLATFORM_REF_NAME
            ),
        })?;
    let (manifest_label, manifest) = blob(&entry.digest, format::MAX_DOCUMENT_SIZE)?;
    let wire: ManifestWire =
        serde_json::from_slice(&manifest).map_err(|e| MirrorError::Bundle {
            path: manifest_label.clone(),
            message: e.to_string(),
        })?;
    let layer = wire
        .layers
        .iter()
        .find(|l| l.media_type == format::LOCK_MEDIA_TYPE)
        .ok_or_else(|| MirrorError::Bundle {
            path: manifest_label,
            message: format!("no {} layer", format::LOCK_MEDIA_TYPE),
        })?;
    let (lock_label, bytes) = blob(&layer.digest, format::MAX_LOCK_SIZE)?;
    let text = String::from_utf8(bytes).map_err(|_| MirrorError::Bundle {
        path: lock_label.clone(),
        message: "the lock is not UTF-8".to_string(),
    })?;
    Ok((lock_label, text))
}

fn lock_from_dir(root: &Path) -> Result<(String, String), MirrorError> {
    let index_path = root.join(format::INDEX_FILE);
    let index = read_small(&index_path, format::MAX_INDEX_SIZE)?;
    find_lock(
        &index_path.display().to_string(),
        &index,
        &mut |digest, limit| {
            if !crate::oci::is_sha256_digest(digest) {
                return Err(MirrorError::Bundle {
                    path: index_path.display().to_string(),
                    message: format!("`{digest}` is not a sha256 digest"),
                });
            }
            let path = blob_path(root, digest);
            Ok((path.display().to_string(), read_small(&path, limit)?))
        },
    )
}

fn render_lock(
    label: &str,
    text: &str,
    target: &RegistryPrefix,
    catalog: &Catalog,
) -> Result<render::Output, MirrorError> {
    let lock = Lock::parse(text, label).map_err(|e| MirrorError::Render(e.to_string()))?;
    let options = render::Options {
        mirror: Some(target.clone()),
        allow_tags: false,
    };
    let out =
        render::render(&lock, catalog, &options).map_err(|e| MirrorError::Render(e.to_string()))?;
    if !out.problems.is_empty() {
        let list: Vec<String> = out.problems.iter().map(|p| p.to_string()).collect();
        return Err(MirrorError::Render(list.join("; ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("harbor.local:8443/platform/k8s/").unwrap();
        assert_eq!(t.host(), "harbor.local:8443");
        assert_eq!(t.first_component(), Some("platform"));
        assert_eq!(t.to_string(), "harbor.local:8443/platform/k8s");
        for bad in ["harbor.local", "https://h/p", "h/Bad", "h:0/p"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

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
