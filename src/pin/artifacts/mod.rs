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
//!
//! The module is laid out by step: [`wanted`] plans from the lock (no network), `classic` reads
//! classic repositories (`index.yaml`, `.tgz`), `content` fetches OCI charts and release manifests
//! and checks what the store holds; [`fetch`] here runs them all on the job runner.

mod classic;
mod content;
mod wanted;

pub use wanted::{WantedChart, WantedManifest, charts, manifests};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use classic::{FetchedIndex, classic_chart, fetch_indexes};
use content::{holds, manifest, oci_chart};

use crate::jobs::{Flow, Runner};
use crate::lock::Lock;
use crate::oci::{Layout, PullError, Registries};
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::types::{ChartRef, Digest};

/// The largest packaged chart (`.tgz`) downloaded.
pub const MAX_CHART_BYTES: u64 = 64 * 1024 * 1024;
/// The largest release manifest downloaded.
pub const MAX_RELEASE_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

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
