//! `bundle export --airgap`: every image of the lock, the lock and the rendered manifests, as one OCI
//! image layout (a directory, a `.tar` or a `.tar.zst`).
//!
//! The run, in order (each step stops the run on a fatal error, before anything is downloaded where it
//! can):
//!
//! 1. **Plan** ([`crate::pin::images`]): the distinct images of the lock, with their components and
//!    digests.
//! 2. **Pin** ([`crate::pin::resolve`]): images without a digest in the lock are resolved first; the
//!    lock stored in the bundle holds every digest (the lock file itself is not changed).
//! 3. **Charts and release manifests** ([`upstream::fetch`]): every one the lock names, by its
//!    digest, from the cache (`bundle pin` fills it) or else from upstream into the cache; the lock
//!    stored in the bundle holds every digest.
//! 4. **Render** the pinned lock in memory (tags refused): a lock that does not render fails here.
//! 5. **Manifests** ([`fetch::manifests`]): every image's manifest (and, for an index, each kept
//!    platform's manifest) is taken from the layout when already there and intact, else fetched by
//!    digest; stored byte for byte under its own media type, so no digest changes on the way through.
//!    With `platforms`, an index is rewritten to the kept platforms (a new digest); the upstream digest
//!    is recorded in the [`ORIGINAL_DIGEST_ANNOTATION`] of the new index and of its `index.json` entry.
//! 6. **Blobs** ([`fetch::blobs`]): configs and layers, deduplicated across images; a blob already in
//!    the layout with the right size and digest is reused (that is how an interrupted export resumes);
//!    the others are streamed from the registry to a temporary file while hashed, and renamed once
//!    verified.
//! 7. **Upstream's artifacts** ([`upstream::write`]): charts as Helm OCI artifacts (an OCI chart as
//!    it came, a classic one wrapped deterministically), each component version's release manifests
//!    as one artifact, copied from the cache.
//! 8. **Platform artifact**: the lock and a deterministic tar of the rendered manifests, as an OCI
//!    artifact ([`PLATFORM_ARTIFACT_TYPE`], empty config) named [`PLATFORM_REF_NAME`].
//! 9. **`index.json`**, written once, here, at the end; only when every image made it. Each image is
//!    named by its canonical reference (`docker.io/library/traefik:v3.7.11`), as containerd and
//!    `skopeo` look it up; each chart by its OCI reference, each release manifests artifact as
//!    `bundle.dev/manifests/<component>:<version>`.
//! 10. **Pack**: for `.tar`/`.tar.zst`, the layout is built in `PATH.partial.d/` (kept when the run
//!     fails, to resume) and archived deterministically at the end ([`super::pack`]).
//! 11. **Verify** the result with [`super::verify::verify_with`]: structure, sizes and references; blobs
//!     hashed by this run are not read again for a directory output.
//!
//! Manifests and blobs are fetched on the job runner; progress goes through [`Progress`].
//!
//! [`ORIGINAL_DIGEST_ANNOTATION`]: crate::airgap::format::ORIGINAL_DIGEST_ANNOTATION
//! [`PLATFORM_ARTIFACT_TYPE`]: crate::airgap::format::PLATFORM_ARTIFACT_TYPE
//! [`PLATFORM_REF_NAME`]: crate::airgap::format::PLATFORM_REF_NAME

mod artifact;
mod fetch;
mod plan;
mod referrers;
mod signature;
pub(crate) mod since;
mod upstream;

pub use upstream::{ArtifactFailure, Counts};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::format::{Form, work_dir};
use super::pack::{self, Compression, PackError};
use super::signing::{PrivateKey, PublicKey};
use super::verify::{Problem, Rehash, VerifyOptions};
use crate::catalog::Catalog;
use crate::jobs::Runner;
use crate::lock::Lock;
use crate::oci::{Layout, LayoutError, Platform, PullError, Registries};
use crate::pin::{self, PinError};
use crate::progress::{Phase, PhaseReport, Progress};
use crate::render::{self, RenderError};
use crate::types::ImageRef;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// A directory, `NAME.tar` or `NAME.tar.zst`.
    pub output: PathBuf,
    /// Keep only these platforms of multi-platform images (empty: all).
    pub platforms: Vec<Platform>,
    /// Split a `.tar`/`.tar.zst` output into parts of at most this many bytes (`--max-size`).
    pub max_size: Option<u64>,
    /// The cache of charts and release manifests (a content store; created when missing).
    pub cache_dir: PathBuf,
    /// Make a delta over these bases (`--since`): bundles, lock files, directories of locks.
    pub since: Vec<PathBuf>,
    /// For one bundle of a whole plan (`--plan DIR`): every step's lock by file name, in order; the
    /// lock exported is the last one. Their images are all in the bundle, and the platform artifact
    /// carries them (a tar of the step locks).
    pub plan: Vec<(String, Lock)>,
    /// Carry upstream's referrers of every image (signatures, attestations, SBOMs; on unless
    /// `--no-referrers`).
    pub referrers: bool,
    /// Sign the bundle's `index.json` with this key (`--sign-key`).
    pub sign: Option<PrivateKey>,
    /// Check upstream's cosign signatures of every image with these keys when the bundle is checked
    /// at the end (`--verify-signatures`): a signature that does not hold fails the export.
    pub signature_keys: Option<Vec<PublicKey>>,
    /// The trust root and the components' signing policies, stored in the platform artifact
    /// (`airgap/FORMAT.md` section 14) so that `verify --signatures` needs nothing else.
    pub signers: crate::airgap::signers::Carried,
}

/// What a delta leaves to its base.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaSummary {
    /// The base, in words.
    pub base: String,
    /// Blobs left out (the base holds them).
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
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
    /// A referrer (signature, attestation, SBOM) was found but could not be fetched.
    #[error("{0}")]
    Referrer(String),
}

/// An image that did not make it into the bundle.
#[derive(Debug, Clone)]
pub struct ImageFailure {
    /// The image, as the lock names it.
    pub reference: ImageRef,
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
    Problems(Vec<Problem>),
    /// The bundle could not be read back after writing.
    NotAvailable(String),
}

/// What an export did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The output written.
    pub output: PathBuf,
    /// Its form.
    pub form: Form,
    /// Images (distinct references) in the bundle; for an incomplete export, those that did not fail.
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
    /// For an archive split into parts (`--max-size`): the parts file and how many parts.
    pub parts: Option<(PathBuf, usize)>,
    /// For a delta (`--since`): what it leaves to its base.
    pub delta: Option<DeltaSummary>,
    /// Wall time.
    pub seconds: f64,
    /// Images that failed (empty on success).
    pub failures: Vec<ImageFailure>,
    /// Charts and release manifests in the bundle.
    pub upstream: Counts,
    /// Components that got no manifests (not an error), with the reason.
    pub unrendered: Vec<(String, String)>,
    /// The bundle's own check.
    pub verified: Option<Verified>,
}

/// The export could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The lock cannot be pinned as it is.
    #[error(transparent)]
    Lock(#[from] PinError),
    /// Images without a digest could not be pinned (nothing was fetched).
    #[error("{} image(s) could not be pinned", .0.len())]
    Pin(Vec<ImageFailure>),
    /// A `--since` base cannot be read.
    #[error("--since {path}: {message}")]
    Base {
        /// The base (or the image of a base lock).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The step locks of a `--plan` do not fit together.
    #[error("--plan: {0}")]
    Plan(String),
    /// Charts or release manifests could not be had (nothing was exported).
    #[error("{} chart(s) or manifest(s) could not be fetched", .0.len())]
    Artifacts(Vec<ArtifactFailure>),
    /// A chart or manifest in the cache cannot be put into the bundle.
    #[error("{0}")]
    Artifact(String),
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
    /// Some images failed; the layout keeps what was fetched (a re-run resumes), without `index.json`.
    #[error("{} image(s) could not be exported", .summary.failures.len())]
    Incomplete {
        /// What was done, with the failures.
        summary: Box<Summary>,
    },
}

/// Exports the locked platform (see the module docs). `catalog` is the one the lock was solved from
/// (for rendering; the bundle carries it next to the lock); registries are reached through `registries`, on `runner`.
///
/// The steps: pin (the lock and a plan's step locks), fetch the charts and release manifests,
/// render, read a delta's base, fetch the images' manifests then their blobs, write the artifacts
/// and `index.json`, pack, check what was written.
pub fn export(
    lock: &Lock,
    catalog: &Catalog,
    registries: &Arc<Registries>,
    runner: &Runner,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> Result<Summary, ExportError> {
    let started = Instant::now();
    let pinned = pin_all(lock, options, registries, runner, progress)?;
    let store = Arc::new(Layout::create(&options.cache_dir)?);
    let (lock, steps, upstream_counts) =
        with_artifacts(&pinned, registries, runner, &store, progress)?;

    // Render, before anything big is downloaded.
    // The charts are rendered here, where helm is; the far side only moves images to its mirror.
    let rendered = render::render(
        &lock,
        catalog,
        &options.cache_dir,
        &render::Options::default(),
    )?;
    if !rendered.problems.is_empty() {
        return Err(ExportError::RenderProblems(rendered.problems));
    }

    let layout = Arc::new(Layout::create(&work_dir(&options.output))?);
    layout.remove_index()?;
    signature::remove(&layout)?;
    let platforms = Arc::new(options.platforms.clone());
    let base = delta_base(options, registries, runner, &platforms, &store, progress)?;
    let manifests = fetch::manifests(
        registries,
        runner,
        &layout,
        pinned.images,
        &platforms,
        progress,
    );
    let found = match options.referrers {
        true => {
            let jobs = referrers::jobs(&manifests.planned, &lock, registries, &options.signers);
            referrers::discover(runner, &layout, jobs, progress)
        }
        false => referrers::Discovered::default(),
    };
    let mut jobs = plan::blob_jobs(&manifests.planned);
    if let Some(base) = &base {
        jobs = since::still_needed(jobs, &manifests.planned, base);
    }
    plan::add_jobs(&mut jobs, found.blob_jobs());
    let bytes: u64 = jobs.iter().map(|j| j.size).sum();
    let blob_count = jobs.len();
    let blobs = fetch::blobs(runner, &layout, jobs, progress);
    let (ok, blob_failures) = plan::settle(manifests.planned, &blobs.failed);
    let (found, referrer_failures) = found.settle(&blobs.failed);
    let mut failures = manifests.failures;
    failures.extend(blob_failures);
    failures.extend(referrer_failures);
    failures.sort_by_key(|f| f.reference.to_string());

    let mut summary = Summary {
        output: options.output.clone(),
        form: Form::of(&options.output),
        images: images_without_failures(&ok, &failures),
        pinned: pinned.references,
        manifests_fetched: ok.iter().map(|p| p.manifests_fetched).sum(),
        manifests_reused: ok.iter().map(|p| p.manifests_reused).sum(),
        blobs: blob_count,
        blobs_fetched: blobs.fetched,
        blobs_reused: blobs.reused,
        bytes,
        bytes_fetched: blobs.bytes_fetched,
        archive_bytes: None,
        parts: None,
        delta: None,
        seconds: 0.0,
        failures,
        upstream: upstream_counts,
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

    // Upstream's artifacts, the platform artifact, then index.json: once, here.
    let mut artifacts = upstream::write(&layout, &store, &steps.locks(&lock))?;
    artifacts.extend(found.iter().map(referrers::Found::entry));
    let (files, steps, sig) = (&rendered.files, &steps.yaml(), &options.signers);
    let artifact = artifact::write_platform_artifact(&layout, &lock, files, catalog, steps, sig)?;
    let mut index = plan::index_document(&ok, artifacts, artifact);
    if let Some(base) = &base {
        base.of.annotate(&mut index.annotations);
        let (blobs, bytes) = since::leave_out(&layout, &index, base);
        summary.delta = Some(DeltaSummary {
            base: base.of.describe(),
            blobs,
            bytes,
        });
    }
    let index = crate::oci::wire::to_json(&index);
    layout.write_index(&index)?;
    signature::write(&layout, options.sign.as_ref(), &index)?;
    let packed = pack_output(&layout, options, progress)?;
    summary.archive_bytes = packed.as_ref().map(|p| p.bytes);
    summary.parts = packed
        .and_then(|p| p.parts)
        .map(|(file, path)| (path, file.parts.len()));
    summary.verified = Some(check_written(&summary, options, blobs.hashed));
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The export's plan after pinning: every image of the lock and of a plan's step locks, pinned.
struct Pinned {
    /// Every image, once.
    images: Vec<plan::Image>,
    /// The lock with the digests pinned now.
    lock: Lock,
    /// The references pinned by this run, sorted.
    references: Vec<String>,
    /// A plan's step locks by file name, in order, images pinned.
    steps: Vec<(String, Lock)>,
}

/// A plan's step locks, every digest pinned (images, charts, release manifests).
struct Steps(Vec<(String, Lock)>);

impl Steps {
    /// The locks whose charts and release manifests go into the bundle: `lock`, then every step's.
    fn locks(&self, lock: &Lock) -> Vec<Lock> {
        let mut all = vec![lock.clone()];
        all.extend(self.0.iter().map(|(_, l)| l.clone()));
        all
    }

    /// The step locks as the platform artifact carries them (name → YAML).
    fn yaml(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(name, l)| (name.clone(), l.to_yaml()))
            .collect()
    }
}

/// The charts and release manifests of the lock and of every step lock, fetched into `store`
/// (each distinct one once); returns the lock and the step locks with every digest.
fn with_artifacts(
    pinned: &Pinned,
    registries: &Arc<Registries>,
    runner: &Runner,
    store: &Arc<Layout>,
    progress: &dyn Progress,
) -> Result<(Lock, Steps, upstream::Counts), ExportError> {
    let mut locks = vec![pinned.lock.clone()];
    locks.extend(pinned.steps.iter().map(|(_, l)| l.clone()));
    let (mut locks, counts) = upstream::fetch(&locks, registries, runner, store, progress)?;
    let lock = locks.remove(0);
    let names = pinned.steps.iter().map(|(n, _)| n.clone());
    Ok((lock, Steps(names.zip(locks).collect()), counts))
}

/// Pins the lock and every step lock of `--plan`, and gathers their images.
fn pin_all(
    lock: &Lock,
    options: &ExportOptions,
    registries: &Registries,
    runner: &Runner,
    progress: &dyn Progress,
) -> Result<Pinned, ExportError> {
    let (mut images, lock, mut references) = pin_images(lock, registries, runner, progress)?;
    let mut steps = Vec::new();
    for (name, step) in &options.plan {
        let (more, step, also) = pin_images(step, registries, runner, progress)?;
        merge_images(&mut images, more)?;
        references.extend(also);
        steps.push((name.clone(), step));
    }
    references.sort();
    references.dedup();
    Ok(Pinned {
        images,
        lock,
        references,
        steps,
    })
}

/// What the far side already holds, for a delta (`--since`); read through a scratch directory next
/// to the work directory, removed afterwards. `store` is the cache of charts and manifests.
fn delta_base(
    options: &ExportOptions,
    registries: &Arc<Registries>,
    runner: &Runner,
    platforms: &Arc<Vec<Platform>>,
    store: &Arc<Layout>,
    progress: &dyn Progress,
) -> Result<Option<crate::airgap::delta::Base>, ExportError> {
    if options.since.is_empty() {
        return Ok(None);
    }
    let mut scratch = work_dir(&options.output).into_os_string();
    scratch.push(".since.d");
    let scratch = PathBuf::from(scratch);
    let reader = since::Reader {
        registries,
        runner,
        platforms,
        store,
        scratch: &scratch,
        progress,
    };
    let base = since::base(&options.since, &reader);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(Some(base?))
}

/// Checks what was written: structure, sizes and references. In a directory, the blobs this run
/// has hashed are not read again; an archive is new bytes, read and rehashed whole.
fn check_written(summary: &Summary, options: &ExportOptions, hashed: plan::Hashed) -> Verified {
    let rehash = match summary.form {
        Form::Directory => Rehash::AllBut(hashed),
        Form::Tar | Form::TarZst => Rehash::All,
    };
    let written = summary
        .parts
        .as_ref()
        .map_or(options.output.as_path(), |(p, _)| p.as_path());
    let key = options.sign.as_ref().map(PrivateKey::public);
    match super::verify::verify_with(
        written,
        &VerifyOptions {
            rehash,
            key,
            signature_keys: options.signature_keys.clone(),
        },
    ) {
        Ok(r) if r.problems.is_empty() => Verified::Sound {
            blobs: r.blobs,
            trusted: r.trusted,
        },
        Ok(r) => Verified::Problems(r.problems),
        Err(e) => Verified::NotAvailable(e.to_string()),
    }
}

/// The images of the lock, every one pinned (those without a digest resolved now), the lock with
/// those digests, and the references pinned by this run.
fn pin_images(
    lock: &Lock,
    registries: &Registries,
    runner: &Runner,
    progress: &dyn Progress,
) -> Result<(Vec<plan::Image>, Lock, Vec<String>), ExportError> {
    let wanted = pin::images(lock)?;
    let open: Vec<ImageRef> = wanted
        .iter()
        .filter(|w| w.locked.is_none())
        .map(|w| w.reference.clone())
        .collect();
    let mut digests = BTreeMap::new();
    let mut failures = Vec::new();
    if !open.is_empty() {
        for r in pin::resolve(registries, runner, &open, progress) {
            match r.result {
                Ok(d) => {
                    digests.insert(r.reference, d);
                }
                Err(e) => {
                    let w = wanted.iter().find(|w| w.reference == r.reference);
                    failures.push(ImageFailure {
                        reference: r.reference,
                        components: w.map(|w| w.component_names()).unwrap_or_default(),
                        cause: Arc::new(Cause::Pull(e)),
                    });
                }
            }
        }
    }
    if !failures.is_empty() {
        failures.sort_by_key(|f| f.reference.to_string());
        return Err(ExportError::Pin(failures));
    }
    let images = wanted
        .iter()
        .filter_map(|w| {
            let digest = w
                .locked
                .clone()
                .or_else(|| digests.get(&w.reference).cloned())?;
            Some(plan::Image {
                reference: w.reference.clone(),
                components: w.component_names(),
                digest,
            })
        })
        .collect();
    let mut pinned: Vec<String> = digests.keys().map(|r| r.to_string()).collect();
    pinned.sort();
    Ok((images, pin::apply(lock, &digests), pinned))
}

/// Adds the images of another lock of a plan: one entry per reference (its components joined); the
/// same reference at two digests cannot be one bundle.
/// How many of the images `ok` did not fail in another way too (e.g. a referrer).
fn images_without_failures(ok: &[plan::Planned], failures: &[ImageFailure]) -> usize {
    let failed = failed_images(failures);
    ok.iter()
        .filter(|p| !failed.contains(&p.image.reference))
        .count()
}

/// The distinct images among `failures` (an image can fail more than once: a blob and a referrer).
pub fn failed_images(failures: &[ImageFailure]) -> std::collections::BTreeSet<&ImageRef> {
    failures.iter().map(|f| &f.reference).collect()
}

fn merge_images(images: &mut Vec<plan::Image>, more: Vec<plan::Image>) -> Result<(), ExportError> {
    for m in more {
        match images.iter_mut().find(|i| i.reference == m.reference) {
            Some(i) if i.digest != m.digest => {
                return Err(ExportError::Plan(format!(
                    "{} is pinned to {} in one step and {} in another; one bundle cannot hold both under one name",
                    m.reference, i.digest, m.digest
                )));
            }
            Some(i) => {
                for c in m.components {
                    if !i.components.contains(&c) {
                        i.components.push(c);
                    }
                }
                i.components.sort();
            }
            None => images.push(m),
        }
    }
    Ok(())
}

/// For a `.tar`/`.tar.zst` output, archives the layout ([`Phase::Pack`]), in parts when
/// [`ExportOptions::max_size`] says so, and removes the work directory; returns what was written.
fn pack_output(
    layout: &Layout,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> Result<Option<pack::Packed>, ExportError> {
    let compression = match Form::of(&options.output) {
        Form::Directory => return Ok(None),
        Form::Tar => Compression::None,
        Form::TarZst => Compression::Zstd,
    };
    let report = PhaseReport::start(progress, Phase::Pack, 1, 0);
    let item = options.output.display().to_string();
    report.started(&item, None);
    let packed = pack::pack_layout_split(
        layout.root(),
        &options.output,
        compression,
        options.max_size,
    )?;
    report.finished(&item, crate::progress::Outcome::Done, packed.bytes, 0);
    report.end();
    std::fs::remove_dir_all(layout.root()).map_err(|source| LayoutError::Io {
        path: layout.root().to_path_buf(),
        source,
    })?;
    Ok(Some(packed))
}
