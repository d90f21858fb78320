//! `bundle export --airgap`: every image of the lock, the lock and the rendered manifests, as one OCI
//! image layout (a directory, a `.tar` or a `.tar.zst`).
//!
//! The run, in order (each step stops the run on a fatal error, before anything is downloaded where it can):
//!
//! 1. **Plan**: the distinct image references of the lock, with their components and digests.
//! 2. **Pin**: images without a digest in the lock are resolved (tag → digest) first; the lock stored in
//!    the bundle holds every digest (the lock file itself is not changed).
//! 3. **Render** the pinned lock in memory (tags refused): a lock that does not render fails here.
//! 4. **Manifests**: every image's manifest (and, for an index, each kept platform's manifest) is taken
//!    from the layout when already there and intact, else fetched by digest; stored byte for byte under
//!    its own media type (OCI or Docker schema2), so no digest changes on the way through. With
//!    `platforms`, an index is rewritten to the kept platforms (a new digest); the upstream digest is
//!    recorded in the [`ORIGINAL_DIGEST_ANNOTATION`] of the new index and of its `index.json` entry.
//! 5. **Blobs**: configs and layers, deduplicated across images; a blob already in the layout with the
//!    right size and digest is reused (that is how an interrupted export resumes); the others are
//!    streamed from the registry to a temporary file while hashed, and renamed once verified.
//! 6. **Platform artifact**: the lock and a deterministic tar of the rendered manifests, as an OCI
//!    artifact ([`PLATFORM_ARTIFACT_TYPE`], empty config) named [`PLATFORM_REF_NAME`].
//! 7. **`index.json`**, written once, here, at the end; only when every image made it.
//! 8. **Pack**: for `.tar`/`.tar.zst`, the layout is built in `PATH.partial.d/` (kept when the run
//!    fails, to resume) and archived deterministically at the end ([`super::pack`]).
//! 9. **Verify** the result with [`super::verify::verify_with`]: structure, sizes and references; blobs
//!    hashed by this run (every config and layer) are not read again for a directory output.
//!
//! Images and blobs are fetched in parallel (`jobs` at a time). The library never prints: progress goes
//! through [`Progress`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::format::{
    BUNDLE_FORMAT_VERSION, COMPONENT_ANNOTATION, FORMAT_VERSION_ANNOTATION, LOCK_MEDIA_TYPE,
    MANIFESTS_MEDIA_TYPE, ORIGINAL_DIGEST_ANNOTATION, PLATFORM_ARTIFACT_TYPE, PLATFORM_REF_NAME,
    REF_NAME_ANNOTATION, WORKDIR_SUFFIX,
};
use super::layout::{Layout, LayoutError, Present};
use super::pack::{self, Compression, PackError};
use super::verify::{Options as VerifyOptions, Rehash};
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::oci::pull::{
    DOCKER_LIST, MAX_MANIFEST_BYTES, Manifest, OCI_INDEX, OCI_MANIFEST, PullError, Puller, Source,
    media_type_of,
};
use crate::oci::{RegistryOptions, SetupError};
use crate::render::{self, RenderError};

/// Media type of the empty config of an artifact (image-spec 1.1 "empty descriptor").
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config's content.
pub const EMPTY_CONTENT: &[u8] = b"{}";
/// `org.opencontainers.image.title` on the artifact's layers.
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// What to export and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory, `NAME.tar` or `NAME.tar.zst`.
    pub output: PathBuf,
    /// Keep only these platforms of multi-platform images (empty: all).
    pub platforms: Vec<Platform>,
    /// How many images and blobs are fetched at the same time (at least 1).
    pub jobs: usize,
    /// How registries are reached.
    pub registry: RegistryOptions,
}

/// The form of the output, from its name.
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

/// A platform: `os/architecture[/variant]`, e.g. `linux/amd64`, `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`.
    pub architecture: String,
    /// `v7`, when given.
    pub variant: Option<String>,
}

/// A `--platform` value that is not `os/arch[/variant]`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}`: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7")]
pub struct PlatformParseError(String);

impl FromStr for Platform {
    type Err = PlatformParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(PlatformParseError(s.to_string())),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    fn matches(&self, p: &PlatformWire) -> bool {
        p.os == self.os
            && p.architecture == self.architecture
            && match &self.variant {
                None => true,
                Some(v) => p.variant.as_deref() == Some(v.as_str()),
            }
    }
}

/// What happens, as it happens (called on the thread that called [`export`]).
pub trait Progress {
    /// One event.
    fn event(&self, event: &Event<'_>);
}

/// A step of the export.
#[derive(Debug)]
pub enum Event<'a> {
    /// An image without a digest in the lock was pinned.
    Pinned {
        /// The reference.
        reference: &'a str,
        /// Its digest now.
        digest: &'a str,
    },
    /// The manifests of `done` of `total` images are in the layout.
    Manifests {
        /// Images done.
        done: usize,
        /// Images in all.
        total: usize,
    },
    /// A blob is in the layout (fetched, or found there already).
    Blob {
        /// Blobs done.
        done: usize,
        /// Blobs in all.
        total: usize,
        /// Bytes fetched so far.
        fetched_bytes: u64,
        /// Bytes in all blobs.
        total_bytes: u64,
    },
    /// Archiving the layout into the output.
    Packing {
        /// The archive.
        output: &'a Path,
    },
}

/// What went wrong for one image.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// Fetching failed (registry, digest or size mismatch).
    #[error(transparent)]
    Pull(#[from] PullError),
    /// Writing into the layout failed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A manifest names nothing this export can follow.
    #[error("{0}")]
    Unsupported(String),
}

/// An image that did not make it into the bundle.
#[derive(Debug, Clone)]
pub struct ImageFailure {
    /// The image reference, as in the lock.
    pub reference: String,
    /// The components using it.
    pub components: Vec<String>,
    /// Why (shared between the images a blob failure stops).
    pub cause: Arc<Cause>,
}

/// How the bundle's own check went.
#[derive(Debug, Clone)]
pub enum Verified {
    /// Sound: every reference present with the right size; every blob's content checked, either
    /// by the final check or, for the blobs this run fetched or reused, as it was written or reused.
    Sound {
        /// Blobs checked.
        blobs: usize,
        /// Of which not read again by the final check (hashed by this run already).
        trusted: usize,
    },
    /// Problems found (the export failed).
    Problems(Vec<super::verify::Problem>),
    /// `bundle verify` is not available in this build: the bundle was not checked after writing.
    NotAvailable(String),
}

/// What an export did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The output written.
    pub output: PathBuf,
    /// Its form.
    pub form: Form,
    /// Images (distinct references) in the bundle.
    pub images: usize,
    /// References pinned by this export (no digest in the lock).
    pub pinned: Vec<String>,
    /// Manifests (and indexes) fetched from a registry.
    pub manifests_fetched: usize,
    /// Manifests found in the layout already.
    pub manifests_reused: usize,
    /// Distinct config and layer blobs.
    pub blobs: usize,
    /// Of which fetched.
    pub blobs_fetched: usize,
    /// Of which found in the layout already.
    pub blobs_reused: usize,
    /// Bytes of all config and layer blobs.
    pub bytes: u64,
    /// Bytes fetched.
    pub bytes_fetched: u64,
    /// Size of the archive (`.tar`/`.tar.zst`), when one was written.
    pub archive_bytes: Option<u64>,
    /// Wall time.
    pub seconds: f64,
    /// Images that failed (empty on success).
    pub failures: Vec<ImageFailure>,
    /// Components that got no manifests (not an error), with the reason.
    pub unrendered: Vec<(String, String)>,
    /// The bundle's own check.
    pub verified: Option<Verified>,
}

/// The export could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The lock is not usable as it is.
    #[error("{0}")]
    Lock(String),
    /// The registry options could not be put to use.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Images without a digest could not be pinned (nothing was fetched).
    #[error("{} image(s) could not be pinned", .0.len())]
    Pin(Vec<ImageFailure>),
    /// The pinned lock does not render.
    #[error("the lock does not render: {0}")]
    Render(#[from] RenderError),
    /// The rendered manifests have problems.
    #[error("the rendered manifests have {} problem(s)", .0.len())]
    RenderProblems(Vec<render::Problem>),
    /// The layout could not be written.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The archive could not be written.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Some images failed; the layout keeps what was fetched (a re-run resumes), without `index.json`.
    #[error("{} image(s) could not be exported", .summary.failures.len())]
    Incomplete {
        /// What was done, with the failures.
        summary: Box<Summary>,
    },
}

/// One distinct image of the lock.
#[derive(Debug, Clone)]
struct Wanted {
    reference: String,
    components: Vec<String>,
    digest: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorWire {
    digest: String,
    size: u64,
    platform: Option<PlatformWire>,
}

#[derive(Debug, Deserialize)]
struct PlatformWire {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IndexWire {
    manifests: Vec<DescriptorWire>,
}

#[derive(Debug, Deserialize)]
struct ManifestWire {
    config: DescriptorWire,
    #[serde(default)]
    layers: Vec<DescriptorWire>,
}

/// One image, planned: its top manifest (as it goes into `index.json`) and the blobs it needs.
#[derive(Debug)]
struct Planned {
    reference: String,
    components: Vec<String>,
    media_type: String,
    digest: String,
    size: u64,
    original: Option<String>,
    blobs: Vec<(String, u64)>,
    source: Source,
    manifests_fetched: usize,
    manifests_reused: usize,
}

fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

fn unsupported(source: &Source, what: String) -> Cause {
    Cause::Unsupported(format!("{}: {what}", source.fetched))
}

/// A manifest from the layout when there and intact, else from the registry (then stored).
async fn get_manifest(
    puller: &Puller,
    layout: &Layout,
    source: &Source,
    digest: &str,
) -> Result<(Manifest, bool), Cause> {
    if let Some(bytes) = layout.read_small_blob(digest, MAX_MANIFEST_BYTES as u64)?
        && let Ok(media_type) = media_type_of(&bytes)
    {
        return Ok((
            Manifest {
                bytes,
                digest: digest.to_string(),
                media_type,
            },
            false,
        ));
    }
    let m = puller.manifest(source, digest).await?;
    layout.write_small_blob(&m.bytes)?;
    Ok((m, true))
}

fn check_descriptor(source: &Source, d: &DescriptorWire) -> Result<(), Cause> {
    if crate::oci::is_sha256_digest(&d.digest) {
        Ok(())
    } else {
        Err(unsupported(
            source,
            format!("descriptor digest `{}` is not sha256", d.digest),
        ))
    }
}

/// Fetches (or finds) the manifests of one image, filters an index to `platforms`, and lists its blobs.
async fn plan_image(
    puller: Arc<Puller>,
    layout: Arc<Layout>,
    platforms: Arc<Vec<Platform>>,
    wanted: Wanted,
    digest: String,
) -> Result<Planned, (Wanted, Cause)> {
    let fail = |w: &Wanted, c: Cause| (w.clone(), c);
    let source = puller
        .source(&wanted.reference)
        .map_err(|e| fail(&wanted, e.into()))?;
    let mut fetched = 0;
    let mut reused = 0;
    let (top, was_fetched) = get_manifest(&puller, &layout, &source, &digest)
        .await
        .map_err(|c| fail(&wanted, c))?;
    if was_fetched {
        fetched += 1
    } else {
        reused += 1
    }
    let mut blobs: Vec<(String, u64)> = Vec::new();
    let mut planned = Planned {
        reference: wanted.reference.clone(),
        components: wanted.components.clone(),
        media_type: top.media_type.clone(),
        digest: top.digest.clone(),
        size: top.bytes.len() as u64,
        original: None,
        blobs: Vec::new(),
        source: source.clone(),
        manifests_fetched: 0,
        manifests_reused: 0,
    };
    let mut images: Vec<Manifest> = Vec::new();
    if is_index(&top.media_type) {
        let index: IndexWire = serde_json::from_slice(&top.bytes).map_err(|e| {
            fail(
                &wanted,
                unsupported(&source, format!("index {}: {e}", top.digest)),
            )
        })?;
        let keep: Vec<bool> = index
            .manifests
            .iter()
            .map(|d| {
                platforms.is_empty()
                    || d.platform
                        .as_ref()
                        .is_some_and(|p| platforms.iter().any(|w| w.matches(p)))
            })
            .collect();
        if !keep.iter().any(|k| *k) {
            return Err(fail(
                &wanted,
                unsupported(
                    &source,
                    format!(
                        "no manifest of index {} is for {}",
                        top.digest,
                        platforms
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            ));
        }
        for (d, _) in index.manifests.iter().zip(&keep).filter(|(_, k)| **k) {
            check_descriptor(&source, d).map_err(|c| fail(&wanted, c))?;
            let (child, was_fetched) = get_manifest(&puller, &layout, &source, &d.digest)
                .await
                .map_err(|c| fail(&wanted, c))?;
            if was_fetched {
                fetched += 1
            } else {
                reused += 1
            }
            if is_index(&child.media_type) {
                return Err(fail(
                    &wanted,
                    unsupported(
                        &source,
                        format!("index {} nests another index {}", top.digest, child.digest),
                    ),
                ));
            }
            images.push(child);
        }
        if keep.iter().any(|k| !*k) {
            let filtered = filter_index(&top.bytes, &keep, &top.digest)
                .map_err(|e| fail(&wanted, unsupported(&source, e)))?;
            let digest = layout
                .write_small_blob(&filtered)
                .map_err(|e| fail(&wanted, e.into()))?;
            planned.original = Some(top.digest.clone());
            planned.digest = digest;
            planned.size = filtered.len() as u64;
        }
    } else {
        images.push(top);
    }
    for m in &images {
        let parsed: ManifestWire = serde_json::from_slice(&m.bytes).map_err(|e| {
            fail(
                &wanted,
                unsupported(&source, format!("manifest {}: {e}", m.digest)),
            )
        })?;
        for d in std::iter::once(&parsed.config).chain(&parsed.layers) {
            check_descriptor(&source, d).map_err(|c| fail(&wanted, c))?;
            if !blobs.iter().any(|(b, _)| b == &d.digest) {
                blobs.push((d.digest.clone(), d.size));
            }
        }
    }
    planned.blobs = blobs;
    planned.manifests_fetched = fetched;
    planned.manifests_reused = reused;
    Ok(planned)
}

/// The index `bytes` with only the kept entries, annotated with the digest it was filtered from.
fn filter_index(bytes: &[u8], keep: &[bool], original: &str) -> Result<Vec<u8>, String> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let obj = v.as_object_mut().ok_or("the index is not a JSON object")?;
    let entries = obj
        .get("manifests")
        .and_then(|m| m.as_array())
        .ok_or("the index has no manifests")?;
    let kept: Vec<Value> = entries
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(e, _)| e.clone())
        .collect();
    obj.insert("manifests".into(), Value::Array(kept));
    let annotations = obj
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(
            ORIGINAL_DIGEST_ANNOTATION.into(),
            Value::String(original.into()),
        );
    }
    serde_json::to_vec(&v).map_err(|e| e.to_string())
}

/// Runs `f` over `jobs`, `width` at a time on `runtime`; `each` hears of every result as it comes
/// (on this thread).
fn parallel<J, R, F, Fut>(
    runtime: &tokio::runtime::Runtime,
    jobs: Vec<J>,
    width: usize,
    f: F,
    mut each: impl FnMut(R),
) where
    J: Send + 'static,
    R: Send + 'static,
    F: Fn(J) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let width = width.clamp(1, 64).min(jobs.len().max(1));
    let queue = Arc::new(Mutex::new(
        jobs.into_iter().collect::<std::collections::VecDeque<J>>(),
    ));
    let f = Arc::new(f);
    let (tx, rx) = mpsc::channel::<R>();
    for _ in 0..width {
        let (queue, f, tx) = (queue.clone(), f.clone(), tx.clone());
        runtime.spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(job) = next else { break };
                if tx.send(f(job).await).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    for r in rx {
        each(r);
    }
}

/// The distinct images of the lock, sorted by reference.
fn wanted(lock: &Lock) -> Result<Vec<Wanted>, ExportError> {
    let mut by_ref: BTreeMap<String, Wanted> = BTreeMap::new();
    for c in &lock.components {
        for i in &c.images {
            let reference = i.reference.to_string();
            let w = by_ref.entry(reference.clone()).or_insert_with(|| Wanted {
                reference: reference.clone(),
                components: Vec::new(),
                digest: None,
            });
            if !w.components.contains(&c.name) {
                w.components.push(c.name.clone());
            }
            if let Some(d) = &i.digest {
                let d = d.to_string();
                match &w.digest {
                    Some(old) if *old != d => {
                        return Err(ExportError::Lock(format!(
                            "{} is locked with two digests, {old} and {d}",
                            i.reference
                        )));
                    }
                    _ => w.digest = Some(d),
                }
            }
        }
    }
    Ok(by_ref.into_values().collect())
}

/// Exports the locked platform (see the module docs). `catalog` is the one the lock was solved from
/// (for rendering).
pub fn export(
    lock: &Lock,
    catalog: &Catalog,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Summary, ExportError> {
    let started = Instant::now();
    let form = Form::of(&options.output);
    let mut wanted = wanted(lock)?;
    let puller = Arc::new(Puller::new(options.registry.clone())?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ExportError::Runtime)?;
    let jobs = options.jobs.max(1);

    // Pin.
    let unpinned: Vec<Wanted> = wanted
        .iter()
        .filter(|w| w.digest.is_none())
        .cloned()
        .collect();
    let mut pinned: Vec<String> = Vec::new();
    let mut pin_failures = Vec::new();
    {
        let p = puller.clone();
        parallel(
            &runtime,
            unpinned,
            jobs,
            move |w: Wanted| {
                let p = p.clone();
                async move {
                    let r = async {
                        let s = p.source(&w.reference)?;
                        p.resolve(&s).await
                    }
                    .await;
                    (w, r)
                }
            },
            |(w, r)| match r {
                Ok(d) => {
                    progress.event(&Event::Pinned {
                        reference: &w.reference,
                        digest: &d,
                    });
                    pinned.push(w.reference.clone());
                    if let Some(x) = wanted.iter_mut().find(|x| x.reference == w.reference) {
                        x.digest = Some(d);
                    }
                }
                Err(e) => pin_failures.push(ImageFailure {
                    reference: w.reference,
                    components: w.components,
                    cause: Arc::new(Cause::Pull(e)),
                }),
            },
        );
    }
    if !pin_failures.is_empty() {
        pin_failures.sort_by(|a, b| a.reference.cmp(&b.reference));
        return Err(ExportError::Pin(pin_failures));
    }
    pinned.sort();
    let mut lock = lock.clone();
    for c in &mut lock.components {
        for i in &mut c.images {
            if i.digest.is_none() {
                i.digest = wanted
                    .iter()
                    .find(|w| w.reference == i.reference.to_string())
                    .and_then(|w| w.digest.as_deref())
                    .and_then(|d| crate::types::Digest::parse_sha256(d).ok());
            }
        }
    }

    // Render, before anything big is downloaded.
    let rendered = render::render(
        &lock,
        catalog,
        &render::Options {
            mirror: None,
            allow_tags: false,
        },
    )?;
    if !rendered.problems.is_empty() {
        return Err(ExportError::RenderProblems(rendered.problems));
    }

    // Manifests.
    let layout = Arc::new(Layout::create(&work_dir(&options.output))?);
    layout.remove_index()?;
    let platforms = Arc::new(options.platforms.clone());
    let total_images = wanted.len();
    let mut planned: Vec<Planned> = Vec::new();
    let mut failures: Vec<ImageFailure> = Vec::new();
    {
        let (p, l, pl) = (puller.clone(), layout.clone(), platforms.clone());
        let jobs_list: Vec<(Wanted, String)> = wanted
            .iter()
            .filter_map(|w| w.digest.clone().map(|d| (w.clone(), d)))
            .collect();
        let mut done = 0;
        parallel(
            &runtime,
            jobs_list,
            jobs,
            move |(w, d): (Wanted, String)| plan_image(p.clone(), l.clone(), pl.clone(), w, d),
            |r| {
                done += 1;
                progress.event(&Event::Manifests {
                    done,
                    total: total_images,
                });
                match r {
                    Ok(p) => planned.push(p),
                    Err((w, cause)) => failures.push(ImageFailure {
                        reference: w.reference,
                        components: w.components,
                        cause: Arc::new(cause),
                    }),
                }
            },
        );
    }
    planned.sort_by(|a, b| a.reference.cmp(&b.reference));

    // Blobs, deduplicated; each fetched from the first image (by reference) that needs it.
    struct BlobJob {
        digest: String,
        size: u64,
        source: Source,
    }
    let mut blob_jobs: BTreeMap<String, BlobJob> = BTreeMap::new();
    for p in &planned {
        for (d, size) in &p.blobs {
            blob_jobs.entry(d.clone()).or_insert_with(|| BlobJob {
                digest: d.clone(),
                size: *size,
                source: p.source.clone(),
            });
        }
    }
    let total_blobs = blob_jobs.len();
    let total_bytes: u64 = blob_jobs.values().map(|b| b.size).sum();
    let (mut blobs_fetched, mut blobs_reused, mut bytes_fetched) = (0usize, 0usize, 0u64);
    let mut blob_failures: BTreeMap<String, Arc<Cause>> = BTreeMap::new();
    // Blobs this run hashed (fetched, or found and rehashed): the final check need not read them again.
    let mut hashed: BTreeSet<String> = BTreeSet::new();
    {
        let (p, l) = (puller.clone(), layout.clone());
        let mut done = 0;
        parallel(
            &runtime,
            blob_jobs.into_values().collect(),
            jobs,
            move |job: BlobJob| {
                let (p, l) = (p.clone(), l.clone());
                async move {
                    let r = fetch_blob(&p, &l, &job).await;
                    (job.digest, job.size, r)
                }
            },
            |(digest, size, r)| {
                done += 1;
                if r.is_ok() {
                    hashed.insert(digest.clone());
                }
                match r {
                    Ok(true) => {
                        blobs_fetched += 1;
                        bytes_fetched += size;
                    }
                    Ok(false) => blobs_reused += 1,
                    Err(c) => {
                        blob_failures.insert(digest, Arc::new(c));
                    }
                }
                progress.event(&Event::Blob {
                    done,
                    total: total_blobs,
                    fetched_bytes: bytes_fetched,
                    total_bytes,
                });
            },
        );
    }
    async fn fetch_blob(p: &Puller, l: &Arc<Layout>, job: &BlobJob) -> Result<bool, Cause> {
        let (l2, d, s) = (l.clone(), job.digest.clone(), job.size);
        let present = tokio::task::spawn_blocking(move || l2.check_blob(&d, s))
            .await
            .map_err(|e| Cause::Unsupported(format!("internal error: {e}")))??;
        if present == Present::Yes {
            return Ok(false);
        }
        let mut w = l.blob_writer(&job.digest, job.size).await?;
        match p.blob(&job.source, &job.digest, job.size, &mut w).await {
            // The writer hashed every byte: the one check of the content.
            Ok(()) => match w.commit().await {
                Ok(()) => Ok(true),
                Err(LayoutError::Mismatch { actual, .. }) => Err(PullError::DigestMismatch {
                    fetched: job.source.blob_location(&job.digest),
                    digest: job.digest.clone(),
                    actual,
                }
                .into()),
                Err(e) => Err(e.into()),
            },
            Err(e) => {
                w.discard().await;
                Err(e.into())
            }
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(1));

    // Images stopped by a blob.
    let mut ok_images: Vec<Planned> = Vec::new();
    for p in planned {
        match p.blobs.iter().find_map(|(d, _)| blob_failures.get(d)) {
            Some(cause) => failures.push(ImageFailure {
                reference: p.reference,
                components: p.components,
                cause: cause.clone(),
            }),
            None => ok_images.push(p),
        }
    }
    failures.sort_by(|a, b| a.reference.cmp(&b.reference));
    let manifests_fetched = ok_images.iter().map(|p| p.manifests_fetched).sum();
    let manifests_reused = ok_images.iter().map(|p| p.manifests_reused).sum();
    let mut summary = Summary {
        output: options.output.clone(),
        form,
        images: ok_images.len(),
        pinned,
        manifests_fetched,
        manifests_reused,
        blobs: total_blobs,
        blobs_fetched,
        blobs_reused,
        bytes: total_bytes,
        bytes_fetched,
        archive_bytes: None,
        seconds: 0.0,
        failures,
        unrendered: rendered
            .unrendered
            .iter()
            .map(|s| (s.name.clone(), s.reason.clone()))
            .collect(),
        verified: None,
    };
    if !summary.failures.is_empty() {
        summary.seconds = started.elapsed().as_secs_f64();
        return Err(ExportError::Incomplete {
            summary: Box::new(summary),
        });
    }

    // The platform artifact, then index.json: once, here.
    let artifact = write_platform_artifact(&layout, &lock, &rendered.files)?;
    let mut entries: Vec<(String, Value)> = ok_images
        .iter()
        .map(|p| {
            let mut annotations = serde_json::Map::new();
            annotations.insert(REF_NAME_ANNOTATION.into(), p.reference.clone().into());
            annotations.insert(COMPONENT_ANNOTATION.into(), p.components.join(",").into());
            if let Some(o) = &p.original {
                annotations.insert(ORIGINAL_DIGEST_ANNOTATION.into(), o.clone().into());
            }
            (
                p.reference.clone(),
                json!({
                    "mediaType": p.media_type,
                    "digest": p.digest,
                    "size": p.size,
                    "annotations": annotations,
                }),
            )
        })
        .collect();
    entries.push((PLATFORM_REF_NAME.to_string(), artifact));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        "annotations": { FORMAT_VERSION_ANNOTATION: BUNDLE_FORMAT_VERSION },
    });
    let index_bytes = serde_json::to_vec_pretty(&index).unwrap_or_default();
    layout.write_index(&index_bytes)?;

    // Pack.
    let checked_path = match form {
        Form::Directory => options.output.clone(),
        Form::Tar | Form::TarZst => {
            progress.event(&Event::Packing {
                output: &options.output,
            });
            let compression = if form == Form::TarZst {
                Compression::Zstd
            } else {
                Compression::None
            };
            summary.archive_bytes = Some(pack::pack_layout(
                layout.root(),
                &options.output,
                compression,
            )?);
            std::fs::remove_dir_all(layout.root()).map_err(|source| LayoutError::Io {
                path: layout.root().to_path_buf(),
                source,
            })?;
            options.output.clone()
        }
    };

    // Check what was written: structure, sizes and references. In a directory, the blobs this run has
    // hashed are not read again; an archive is new bytes (packed from the layout), read and rehashed
    // whole.
    let rehash = match form {
        Form::Directory => Rehash::AllBut(hashed),
        Form::Tar | Form::TarZst => Rehash::All,
    };
    let checked = super::verify::verify_with(&checked_path, &VerifyOptions { rehash });
    summary.verified = Some(match checked {
        Ok(r) if r.problems.is_empty() => Verified::Sound {
            blobs: r.blobs,
            trusted: r.trusted,
        },
        Ok(r) => Verified::Problems(r.problems),
        Err(e) => Verified::NotAvailable(e.to_string()),
    });
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Writes the lock, the rendered manifests and the artifact manifest; returns its `index.json` entry.
fn write_platform_artifact(
    layout: &Layout,
    lock: &Lock,
    files: &BTreeMap<String, String>,
) -> Result<Value, ExportError> {
    let lock_bytes = lock.to_yaml().into_bytes();
    let tar = pack::tar_files(files).map_err(|source| LayoutError::Io {
        path: layout.root().to_path_buf(),
        source,
    })?;
    let empty = layout.write_small_blob(EMPTY_CONTENT)?;
    let lock_digest = layout.write_small_blob(&lock_bytes)?;
    let tar_digest = layout.write_small_blob(&tar)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": PLATFORM_ARTIFACT_TYPE,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": empty,
            "size": EMPTY_CONTENT.len(),
            "data": "e30=",
        },
        "layers": [
            {
                "mediaType": LOCK_MEDIA_TYPE,
                "digest": lock_digest,
                "size": lock_bytes.len(),
                "annotations": { TITLE_ANNOTATION: "bundle.lock" },
            },
            {
                "mediaType": MANIFESTS_MEDIA_TYPE,
                "digest": tar_digest,
                "size": tar.len(),
                "annotations": { TITLE_ANNOTATION: "manifests.tar" },
            },
        ],
        "annotations": { "org.opencontainers.image.created": "1970-01-01T00:00:00Z" },
    });
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let digest = layout.write_small_blob(&bytes)?;
    Ok(json!({
        "mediaType": OCI_MANIFEST,
        "artifactType": PLATFORM_ARTIFACT_TYPE,
        "digest": digest,
        "size": bytes.len(),
        "annotations": { REF_NAME_ANNOTATION: PLATFORM_REF_NAME },
    }))
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

    #[test]
    fn platforms_parse_and_match() {
        let p: Platform = "linux/arm64".parse().unwrap();
        let wire = |os: &str, a: &str, v: Option<&str>| PlatformWire {
            os: os.into(),
            architecture: a.into(),
            variant: v.map(Into::into),
        };
        assert!(p.matches(&wire("linux", "arm64", Some("v8"))));
        assert!(!p.matches(&wire("linux", "amd64", None)));
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(v7.matches(&wire("linux", "arm", Some("v7"))));
        assert!(!v7.matches(&wire("linux", "arm", Some("v6"))));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn filtered_index_keeps_entries_and_records_origin() {
        let original = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:a","size":1},{"digest":"sha256:b","size":2}]}"#;
        let out = filter_index(original, &[false, true], "sha256:orig").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(v["manifests"][0]["digest"], "sha256:b");
        assert_eq!(v["annotations"][ORIGINAL_DIGEST_ANNOTATION], "sha256:orig");
        assert_eq!(
            out,
            filter_index(original, &[false, true], "sha256:orig").unwrap()
        );
    }
}
