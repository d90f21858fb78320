//! Charts and release manifests: coordinates → content digests, and the content into the store (the
//! pin cache, an OCI layout of `blobs/sha256/<hex>`), where export and render find it by digest.
//!
//! - An **OCI chart** is resolved like an image (its tag's manifest digest), then its manifest,
//!   config and layers are copied into the store by the same code that copies images
//!   ([`crate::oci::Source::manifest_into`], [`crate::oci::Source::blob_into`]). Its digest is the
//!   manifest's.
//! - A chart from a **classic repository** is found in the repository's `index.yaml` (fetched once
//!   per repository and run); its `.tgz` is downloaded into the store, checked against the index's
//!   `digest` when the index has one. Its digest is the `.tgz`'s sha256.
//! - A **release manifest** is downloaded into the store; its digest is the file's sha256 (the
//!   catalog's published checksum, when there is one, is already the lock's digest).
//!
//! Every chart is checked to be the chart it claims to be (Helm's media types; `Chart.yaml`'s name
//! and version equal to the coordinates). What to make of a digest that differs from the lock's is
//! the caller's to say, as for images ([`Mode`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::PinError;
use crate::jobs::{Flow, Runner};
use crate::lock::Lock;
use crate::oci::chart::{ChartMetadata, chart_layer, metadata_of_archive, metadata_of_config};
use crate::oci::wire::Manifest;
use crate::oci::{Layout, MAX_MANIFEST_BYTES, Present, PullError, Registries};
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::types::{ChartRef, Digest, Version};

/// The largest chart repository `index.yaml` read.
pub const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;
/// The largest packaged chart (`.tgz`) downloaded.
pub const MAX_CHART_BYTES: u64 = 64 * 1024 * 1024;
/// The largest release manifest downloaded.
pub const MAX_RELEASE_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// One distinct chart of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedChart {
    /// Repository, name and version.
    pub chart: ChartRef,
    /// The components that use it, with their versions, in lock order.
    pub users: Vec<(String, Version)>,
    /// The digest the lock holds for it, if any.
    pub locked: Option<Digest>,
}

/// One distinct release manifest of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedManifest {
    /// Where upstream publishes it.
    pub url: String,
    /// The components that use it, with their versions, in lock order.
    pub users: Vec<(String, Version)>,
    /// The digest the lock holds for it, if any.
    pub locked: Option<Digest>,
}

/// Adds a user and a locked digest to an entry; refuses two digests for one artifact.
fn add(
    users: &mut Vec<(String, Version)>,
    locked: &mut Option<Digest>,
    (name, version): (&str, &Version),
    digest: &Option<Digest>,
    what: &str,
) -> Result<(), PinError> {
    if !users.iter().any(|(n, _)| n == name) {
        users.push((name.to_string(), version.clone()));
    }
    match (&*locked, digest) {
        (Some(a), Some(b)) if a != b => Err(PinError::TwoDigests {
            reference: what.to_string(),
            first: a.to_string(),
            second: b.to_string(),
        }),
        (None, Some(b)) => {
            *locked = Some(b.clone());
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Every distinct chart of `lock`, in lock order; refused when one is locked with two digests.
pub fn charts(lock: &Lock) -> Result<Vec<WantedChart>, PinError> {
    let mut out: Vec<WantedChart> = Vec::new();
    for c in &lock.components {
        for ch in &c.charts {
            let i = match out.iter().position(|w| w.chart == ch.chart) {
                Some(i) => i,
                None => {
                    out.push(WantedChart {
                        chart: ch.chart.clone(),
                        users: Vec::new(),
                        locked: None,
                    });
                    out.len() - 1
                }
            };
            let w = &mut out[i];
            let what = ch.chart.to_string();
            add(
                &mut w.users,
                &mut w.locked,
                (&c.name, &c.version),
                &ch.digest,
                &what,
            )?;
        }
    }
    Ok(out)
}

/// Every distinct release manifest of `lock`, in lock order; refused when one is locked with two
/// digests.
pub fn manifests(lock: &Lock) -> Result<Vec<WantedManifest>, PinError> {
    let mut out: Vec<WantedManifest> = Vec::new();
    for c in &lock.components {
        for m in &c.manifests {
            let i = match out.iter().position(|w| w.url == m.url) {
                Some(i) => i,
                None => {
                    out.push(WantedManifest {
                        url: m.url.clone(),
                        users: Vec::new(),
                        locked: None,
                    });
                    out.len() - 1
                }
            };
            let w = &mut out[i];
            add(
                &mut w.users,
                &mut w.locked,
                (&c.name, &c.version),
                &m.digest,
                &m.url,
            )?;
        }
    }
    Ok(out)
}

/// What a fetch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `bundle pin`: what upstream serves now, with its content put into the store — unless its
    /// digest differs from the lock's (a moved tag, changed content: the caller refuses it).
    Pin,
    /// `bundle pin --check`: what upstream serves now; content is stored only where finding the
    /// digest meant downloading it anyway.
    Check,
    /// `bundle export`: the content of the lock's digest, from the store when it is there, else from
    /// upstream (and it must hash to the lock's digest). Without a digest in the lock, as [`Mode::Pin`].
    Locked,
}

/// What was found for one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its digest (see [`crate::lock::LockedChart::digest`], [`crate::lock::LockedManifest::digest`]).
    pub digest: Digest,
    /// Whether its content is in the store now.
    pub stored: bool,
    /// Bytes that came over the network for it (0: found in the store, or only resolved).
    pub downloaded: u64,
}

/// An artifact could not be fetched, or is not what it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The registry or server refused, failed or sent something else than asked.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// The repository's index does not list the chart at that version.
    #[error("{index}: no chart {name} at version {version} in the repository index{}", near_text(.near))]
    NotInIndex {
        /// The index, as fetched.
        index: String,
        /// Chart name.
        name: String,
        /// Chart version.
        version: String,
        /// Versions the index has for that name (a few, newest first in the index's order).
        near: Vec<String>,
    },
    /// The repository's index cannot be read.
    #[error("{index}: not a Helm repository index: {detail}")]
    BadIndex {
        /// The index, as fetched.
        index: String,
        /// What is wrong.
        detail: String,
    },
    /// The `.tgz` does not hash to the digest the repository's index publishes for it.
    #[error(
        "{fetched}: the repository index publishes sha256 {published}, the download hashes to {actual}"
    )]
    IndexDigest {
        /// Where it was fetched from.
        fetched: String,
        /// The index's digest.
        published: Digest,
        /// What arrived.
        actual: Digest,
    },
    /// The content is not a Helm chart, or another chart than the coordinates name.
    #[error("{fetched}: {detail}")]
    NotTheChart {
        /// Where it was fetched from.
        fetched: String,
        /// What is wrong.
        detail: String,
    },
    /// The content upstream serves now differs from the lock's (it changed since the lock was written).
    #[error("{fetched}: the lock has {locked} but the content served now hashes to {actual}")]
    Changed {
        /// Where it was fetched from.
        fetched: String,
        /// The lock's digest.
        locked: Digest,
        /// What arrived.
        actual: Digest,
    },
    /// The chart's repository index could not be fetched or read (shared by its charts).
    #[error(transparent)]
    Repository(Arc<ArtifactError>),
    /// The store could not be read or written.
    #[error("{path}: {detail}")]
    Store {
        /// The store (or blob) path.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

fn near_text(near: &[String]) -> String {
    if near.is_empty() {
        " (nor any version of that name)".to_string()
    } else {
        format!(" (it has {})", near.join(", "))
    }
}

impl ArtifactError {
    /// Whether credentials are the matter.
    pub fn is_auth(&self) -> bool {
        match self {
            ArtifactError::Pull(p) => p.is_auth(),
            ArtifactError::Repository(e) => e.is_auth(),
            _ => false,
        }
    }
}

/// What happened to one chart.
#[derive(Debug)]
pub struct FetchedChart {
    /// The chart.
    pub wanted: WantedChart,
    /// Where it was fetched from (after mirroring): the OCI reference, or the `.tgz` URL (the
    /// index's URL when the chart was not found in it).
    pub fetched: String,
    /// The result.
    pub result: Result<Found, ArtifactError>,
}

/// What happened to one release manifest.
#[derive(Debug)]
pub struct FetchedManifest {
    /// The manifest.
    pub wanted: WantedManifest,
    /// Where it was fetched from (after mirroring).
    pub fetched: String,
    /// The result.
    pub result: Result<Found, ArtifactError>,
}

/// One entry of a classic repository's `index.yaml` (the fields used here).
#[derive(Debug, Clone, Deserialize)]
struct IndexEntry {
    #[serde(default)]
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RepoIndex {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

/// A repository index as fetched: where from, and its entries.
struct FetchedIndex {
    fetched: String,
    index: RepoIndex,
}

/// Everything a job needs, shared between them.
struct Ctx {
    store: Arc<Layout>,
    mode: Mode,
    indexes: BTreeMap<String, Result<Arc<FetchedIndex>, Arc<ArtifactError>>>,
}

/// Fetches every chart and manifest as `mode` says, on `runner` ([`Phase::ChartIndexes`] for the
/// classic repositories' indexes, then [`Phase::Artifacts`]); the results come back in the order
/// given. `registries` must be shared (`Arc`): the jobs run on the runtime's threads.
pub fn fetch(
    registries: &Arc<Registries>,
    runner: &Runner,
    store: &Arc<Layout>,
    charts: &[WantedChart],
    manifests: &[WantedManifest],
    mode: Mode,
    progress: &dyn Progress,
) -> (Vec<FetchedChart>, Vec<FetchedManifest>) {
    // A repository's index is needed for a chart unless export finds its content in the store.
    let index_urls: BTreeSet<String> = charts
        .iter()
        .filter(|c| {
            mode != Mode::Locked
                || !c
                    .locked
                    .as_ref()
                    .is_some_and(|d| holds(store, d).unwrap_or(false))
        })
        .filter_map(|c| c.chart.index_url())
        .collect();
    let indexes = fetch_indexes(registries, runner, index_urls, progress);
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        mode,
        indexes,
    });
    enum Job {
        Chart(usize, WantedChart),
        Manifest(usize, WantedManifest),
    }
    enum Done {
        Chart(usize, FetchedChart),
        Manifest(usize, FetchedManifest),
    }
    let jobs: Vec<Job> = charts
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, c)| Job::Chart(i, c))
        .chain(
            manifests
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, m)| Job::Manifest(i, m)),
        )
        .collect();
    let report = PhaseReport::start(progress, Phase::Artifacts, jobs.len(), 0);
    let mut chart_slots: Vec<Option<FetchedChart>> = charts.iter().map(|_| None).collect();
    let mut manifest_slots: Vec<Option<FetchedManifest>> = manifests.iter().map(|_| None).collect();
    runner.run(
        jobs,
        |job| {
            let (ctx, registries) = (ctx.clone(), registries.clone());
            match job {
                Job::Chart(i, wanted) => {
                    report.started(&wanted.chart.reference().to_string(), None);
                    Box::pin(async move {
                        let (fetched, result) = chart(&registries, &ctx, &wanted).await;
                        Done::Chart(
                            i,
                            FetchedChart {
                                wanted,
                                fetched,
                                result,
                            },
                        )
                    })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = Done> + Send>>
                }
                Job::Manifest(i, wanted) => {
                    report.started(&wanted.url, None);
                    Box::pin(async move {
                        let fetched = registries.fetched_url(&wanted.url);
                        let result = manifest(&registries, &ctx, &wanted).await;
                        Done::Manifest(
                            i,
                            FetchedManifest {
                                wanted,
                                fetched,
                                result,
                            },
                        )
                    })
                }
            }
        },
        |done| {
            let (item, result) = match &done {
                Done::Chart(_, c) => (c.wanted.chart.reference().to_string(), &c.result),
                Done::Manifest(_, m) => (m.wanted.url.clone(), &m.result),
            };
            let (outcome, moved) = match result {
                Ok(f) if f.downloaded > 0 => (Outcome::Resolved(&f.digest), f.downloaded),
                Ok(f) => (Outcome::Resolved(&f.digest), 0),
                Err(_) => (Outcome::Failed, 0),
            };
            report.finished(&item, outcome, moved, moved);
            match done {
                Done::Chart(i, c) => chart_slots[i] = Some(c),
                Done::Manifest(i, m) => manifest_slots[i] = Some(m),
            }
            Flow::Continue
        },
    );
    report.end();
    (
        chart_slots.into_iter().flatten().collect(),
        manifest_slots.into_iter().flatten().collect(),
    )
}

/// Fetches and reads each classic repository's `index.yaml` once ([`Phase::ChartIndexes`]).
fn fetch_indexes(
    registries: &Arc<Registries>,
    runner: &Runner,
    urls: BTreeSet<String>,
    progress: &dyn Progress,
) -> BTreeMap<String, Result<Arc<FetchedIndex>, Arc<ArtifactError>>> {
    let mut out = BTreeMap::new();
    if urls.is_empty() {
        return out;
    }
    let report = PhaseReport::start(progress, Phase::ChartIndexes, urls.len(), 0);
    runner.run(
        urls,
        |url| {
            report.started(&url, None);
            let registries = registries.clone();
            async move {
                let result = index(&registries, &url)
                    .await
                    .map(Arc::new)
                    .map_err(Arc::new);
                (url, result)
            }
        },
        |(url, result)| {
            let outcome = if result.is_ok() {
                Outcome::Done
            } else {
                Outcome::Failed
            };
            report.finished(&url, outcome, 0, 0);
            out.insert(url, result);
            Flow::Continue
        },
    );
    report.end();
    out
}

async fn index(registries: &Registries, url: &str) -> Result<FetchedIndex, ArtifactError> {
    let (bytes, fetched) = registries.download_small(url, MAX_INDEX_BYTES).await?;
    let parsed = tokio::task::spawn_blocking(move || parse_index(&bytes))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    match parsed {
        Ok(index) => Ok(FetchedIndex { fetched, index }),
        Err(detail) => Err(ArtifactError::BadIndex {
            index: fetched,
            detail,
        }),
    }
}

fn parse_index(bytes: &[u8]) -> Result<RepoIndex, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    crate::oci::chart::from_yaml(text)
}

/// `url` of an index entry, resolved against the repository (as Helm does: relative to the
/// repository's URL, absolute when it has a scheme).
fn resolve_url(repository: &str, url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    if let Some(path) = url.strip_prefix('/') {
        let after_scheme = repository.find("://").map_or(0, |i| i + 3);
        let host_end = repository[after_scheme..]
            .find('/')
            .map_or(repository.len(), |i| after_scheme + i);
        return format!("{}/{path}", &repository[..host_end]);
    }
    format!("{}/{url}", repository.trim_end_matches('/'))
}

/// Whether the store holds `digest` intact (rehashed; a corrupt copy is removed). Blocking.
fn holds(store: &Layout, digest: &Digest) -> Result<bool, String> {
    let path = store.blob_path(digest).map_err(|e| e.to_string())?;
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(false);
    };
    store
        .check_blob(digest, meta.len())
        .map(|p| p == Present::Yes)
        .map_err(|e| e.to_string())
}

/// [`holds`], on a blocking thread.
async fn in_store(store: &Arc<Layout>, digest: &Digest) -> Result<bool, ArtifactError> {
    let (s, d) = (store.clone(), digest.clone());
    tokio::task::spawn_blocking(move || holds(&s, &d))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|detail| ArtifactError::Store {
            path: store.root().display().to_string(),
            detail,
        })
}

/// The name and version a chart's metadata must have.
fn check_metadata(
    fetched: &str,
    want: &ChartRef,
    found: Result<ChartMetadata, String>,
) -> Result<(), ArtifactError> {
    let not = |detail: String| ArtifactError::NotTheChart {
        fetched: fetched.to_string(),
        detail,
    };
    let m = found.map_err(not)?;
    if m.name != want.name() || m.version != want.version() {
        return Err(not(format!(
            "this is chart {} {}, not {} {}",
            m.name,
            m.version,
            want.name(),
            want.version()
        )));
    }
    Ok(())
}

/// One chart (see the module docs); where it was fetched from, and what was found.
async fn chart(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedChart,
) -> (String, Result<Found, ArtifactError>) {
    if wanted.chart.is_oci() {
        let fetched = registries
            .fetched_as(wanted.chart.reference())
            .unwrap_or_else(|_| wanted.chart.reference().to_string());
        (fetched, oci_chart(registries, ctx, wanted).await)
    } else {
        classic_chart(registries, ctx, wanted).await
    }
}

async fn oci_chart(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedChart,
) -> Result<Found, ArtifactError> {
    let source = registries
        .source(wanted.chart.reference())
        .map_err(PullError::from)?;
    let digest = match (ctx.mode, &wanted.locked) {
        (Mode::Locked, Some(d)) => d.clone(),
        _ => source.resolve().await?,
    };
    let differs = wanted.locked.as_ref().is_some_and(|l| *l != digest);
    if ctx.mode == Mode::Check || (ctx.mode == Mode::Pin && differs) {
        return Ok(Found {
            digest,
            stored: false,
            downloaded: 0,
        });
    }
    let (pulled, fetched) = source.manifest_into(&ctx.store, &digest).await?;
    let mut downloaded = if fetched {
        pulled.bytes.len() as u64
    } else {
        0
    };
    let not = |detail: String| ArtifactError::NotTheChart {
        fetched: source.blob_location(&digest),
        detail,
    };
    let manifest: Manifest = serde_json::from_slice(&pulled.bytes)
        .map_err(|e| not(format!("not an OCI manifest ({}): {e}", pulled.media_type)))?;
    chart_layer(&manifest).map_err(|e| not(e.0))?;
    for blob in manifest.blobs() {
        let d = blob
            .digest()
            .map_err(|_| not(format!("descriptor digest `{}` is not sha256", blob.digest)))?;
        if source.blob_into(&ctx.store, &d, blob.size).await? {
            downloaded += blob.size;
        }
    }
    let config = manifest
        .config
        .digest()
        .ok()
        .and_then(|d| {
            ctx.store
                .read_small_blob(&d, MAX_MANIFEST_BYTES as u64)
                .ok()
                .flatten()
        })
        .ok_or_else(|| not("its config could not be read back from the store".to_string()))?;
    check_metadata(
        &source.blob_location(&digest),
        &wanted.chart,
        metadata_of_config(&config).map_err(|e| e.0),
    )?;
    Ok(Found {
        digest,
        stored: true,
        downloaded,
    })
}

async fn classic_chart(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedChart,
) -> (String, Result<Found, ArtifactError>) {
    let index_url = wanted.chart.index_url().unwrap_or_default();
    if ctx.mode == Mode::Locked
        && let Some(l) = &wanted.locked
    {
        match in_store(&ctx.store, l).await {
            Ok(true) => {
                let found = Found {
                    digest: l.clone(),
                    stored: true,
                    downloaded: 0,
                };
                return (registries.fetched_url(&index_url), Ok(found));
            }
            Ok(false) => {}
            Err(e) => return (registries.fetched_url(&index_url), Err(e)),
        }
    }
    let index = match ctx.indexes.get(&index_url) {
        Some(Ok(i)) => i.clone(),
        Some(Err(e)) => {
            let fetched = registries.fetched_url(&index_url);
            return (fetched, Err(ArtifactError::Repository(e.clone())));
        }
        None => {
            let fetched = registries.fetched_url(&index_url);
            let e = ArtifactError::BadIndex {
                index: fetched.clone(),
                detail: "not fetched".to_string(),
            };
            return (fetched, Err(e));
        }
    };
    let versions = index.index.entries.get(wanted.chart.name());
    let Some(entry) = versions.and_then(|v| v.iter().find(|e| e.version == wanted.chart.version()))
    else {
        let near = versions
            .map(|v| v.iter().take(5).map(|e| e.version.clone()).collect())
            .unwrap_or_default();
        let e = ArtifactError::NotInIndex {
            index: index.fetched.clone(),
            name: wanted.chart.name().to_string(),
            version: wanted.chart.version().to_string(),
            near,
        };
        return (index.fetched.clone(), Err(e));
    };
    let Some(first) = entry.urls.first() else {
        let e = ArtifactError::BadIndex {
            index: index.fetched.clone(),
            detail: format!(
                "the entry for {} {} has no urls",
                wanted.chart.name(),
                wanted.chart.version()
            ),
        };
        return (index.fetched.clone(), Err(e));
    };
    let url = resolve_url(wanted.chart.repository(), first);
    let fetched = registries.fetched_url(&url);
    let published = match entry.digest.as_deref().filter(|d| !d.is_empty()) {
        None => None,
        Some(hex) => match Digest::from_sha256_hex(hex.trim_start_matches("sha256:")) {
            Ok(d) => Some(d),
            Err(e) => {
                let e = ArtifactError::BadIndex {
                    index: index.fetched.clone(),
                    detail: format!(
                        "the digest of {} {} is not a sha256: {e}",
                        wanted.chart.name(),
                        wanted.chart.version()
                    ),
                };
                return (fetched, Err(e));
            }
        },
    };
    let result = classic_content(registries, ctx, wanted, &url, &fetched, published).await;
    (fetched, result)
}

async fn classic_content(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedChart,
    url: &str,
    fetched: &str,
    published: Option<Digest>,
) -> Result<Found, ArtifactError> {
    let stored = |digest: Digest| Found {
        digest,
        stored: true,
        downloaded: 0,
    };
    // What can be said without downloading the .tgz.
    match (ctx.mode, &wanted.locked, &published) {
        (Mode::Locked, Some(l), _) if in_store(&ctx.store, l).await? => {
            return Ok(stored(l.clone()));
        }
        (Mode::Check, _, Some(p)) => {
            return Ok(Found {
                digest: p.clone(),
                stored: in_store(&ctx.store, p).await?,
                downloaded: 0,
            });
        }
        (Mode::Pin, Some(l), Some(p)) if l != p => {
            return Ok(Found {
                digest: p.clone(),
                stored: false,
                downloaded: 0,
            });
        }
        (Mode::Pin, _, Some(p)) if in_store(&ctx.store, p).await? => return Ok(stored(p.clone())),
        _ => {}
    }
    let got = registries
        .download(url, &ctx.store, MAX_CHART_BYTES)
        .await?;
    if let Some(p) = published.filter(|p| *p != got.digest) {
        return Err(ArtifactError::IndexDigest {
            fetched: fetched.to_string(),
            published: p,
            actual: got.digest,
        });
    }
    if ctx.mode == Mode::Locked
        && let Some(l) = wanted.locked.as_ref().filter(|l| **l != got.digest)
    {
        return Err(ArtifactError::Changed {
            fetched: fetched.to_string(),
            locked: l.clone(),
            actual: got.digest,
        });
    }
    let path: PathBuf = ctx
        .store
        .blob_path(&got.digest)
        .map_err(|e| ArtifactError::Store {
            path: ctx.store.root().display().to_string(),
            detail: e.to_string(),
        })?;
    let metadata = tokio::task::spawn_blocking(move || metadata_of_archive(&path).map_err(|e| e.0))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    check_metadata(fetched, &wanted.chart, metadata)?;
    Ok(Found {
        digest: got.digest,
        stored: true,
        downloaded: got.size,
    })
}

async fn manifest(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedManifest,
) -> Result<Found, ArtifactError> {
    if ctx.mode == Mode::Locked
        && let Some(l) = &wanted.locked
        && in_store(&ctx.store, l).await?
    {
        return Ok(Found {
            digest: l.clone(),
            stored: true,
            downloaded: 0,
        });
    }
    let got = registries
        .download(&wanted.url, &ctx.store, MAX_RELEASE_MANIFEST_BYTES)
        .await?;
    if ctx.mode == Mode::Locked
        && let Some(l) = wanted.locked.as_ref().filter(|l| **l != got.digest)
    {
        return Err(ArtifactError::Changed {
            fetched: got.fetched,
            locked: l.clone(),
            actual: got.digest,
        });
    }
    Ok(Found {
        digest: got.digest,
        stored: true,
        downloaded: got.size,
    })
}

/// `lock` with the digest of every chart and manifest named in `charts` / `manifests` set to it.
pub fn apply_artifacts(
    lock: &Lock,
    charts: &BTreeMap<ChartRef, Digest>,
    manifests: &BTreeMap<String, Digest>,
) -> Lock {
    let mut pinned = lock.clone();
    for c in &mut pinned.components {
        for ch in &mut c.charts {
            if let Some(d) = charts.get(&ch.chart) {
                ch.digest = Some(d.clone());
            }
        }
        for m in &mut c.manifests {
            if let Some(d) = manifests.get(&m.url) {
                m.digest = Some(d.clone());
            }
        }
    }
    pinned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_against_the_repository() {
        let repo = "https://charts.example.io/stable";
        assert_eq!(
            resolve_url(repo, "charts/x-1.0.0.tgz"),
            "https://charts.example.io/stable/charts/x-1.0.0.tgz"
        );
        assert_eq!(
            resolve_url(repo, "/dl/x-1.0.0.tgz"),
            "https://charts.example.io/dl/x-1.0.0.tgz"
        );
        assert_eq!(
            resolve_url(repo, "https://github.com/o/r/releases/download/v1/x.tgz"),
            "https://github.com/o/r/releases/download/v1/x.tgz"
        );
    }

    #[test]
    fn index_entries_are_read_leniently() {
        let index = parse_index(
            b"apiVersion: v1\nentries:\n  x:\n    - version: 1.0.0\n      urls: [x-1.0.0.tgz]\n      digest: abc\n      created: 2024-01-01T00:00:00Z\n      maintainers: [{name: a}]\ngenerated: now\n",
        )
        .unwrap();
        let e = &index.entries["x"][0];
        assert_eq!((e.version.as_str(), e.urls.len()), ("1.0.0", 1));
        assert_eq!(e.digest.as_deref(), Some("abc"));
        assert!(parse_index(b"entries: [").is_err());
    }
}
