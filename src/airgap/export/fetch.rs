//! Carrying the export's plan out on the job runner: every image's manifests, then every blob, into
//! the layout. A manifest or blob already in the layout and intact is reused (that is how an
//! interrupted export resumes); the others are fetched by digest and stored byte for byte.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::plan::{BlobJob, Hashed, Image, Planned, filter_index, kept};
use super::{Cause, ImageFailure};
use crate::jobs::{Flow, Runner};
use crate::oci::media_types::is_index;
use crate::oci::wire::{Index, Manifest, Platform};
use crate::oci::{Layout, Pulled, Registries, Source};
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::types::Digest;

/// What fetching the manifests gave.
pub(super) struct Manifests {
    pub planned: Vec<Planned>,
    pub failures: Vec<ImageFailure>,
}

/// Fetches (or finds) the manifests of every image ([`Phase::Manifests`]).
pub(super) fn manifests(
    registries: &Registries,
    runner: &Runner,
    layout: &Arc<Layout>,
    images: Vec<Image>,
    platforms: &Arc<Vec<Platform>>,
    progress: &dyn Progress,
) -> Manifests {
    let report = PhaseReport::start(progress, Phase::Manifests, images.len(), 0);
    let mut out = Manifests {
        planned: Vec::new(),
        failures: Vec::new(),
    };
    runner.run(
        images,
        |image| {
            report.started(&image.reference.to_string(), None);
            let source = registries.source(&image.reference);
            let (layout, platforms) = (layout.clone(), platforms.clone());
            async move {
                let result = match source {
                    Ok(source) => plan_image(source, &layout, &platforms, &image).await,
                    Err(e) => Err(Cause::Pull(e.into())),
                };
                (image, result)
            }
        },
        |(image, result)| {
            let item = image.reference.to_string();
            match result {
                Ok(p) => {
                    report.finished(&item, Outcome::Done, 0, 0);
                    out.planned.push(p);
                }
                Err(cause) => {
                    report.finished(&item, Outcome::Failed, 0, 0);
                    out.failures.push(image.failed(Arc::new(cause)));
                }
            }
            Flow::Continue
        },
    );
    report.end();
    out.planned.sort_by_key(|p| p.image.reference.to_string());
    out
}

/// A manifest from the layout when there and intact, else from the registry (then stored); whether
/// it was fetched.
async fn get_manifest(
    source: &Source,
    layout: &Layout,
    digest: &Digest,
) -> Result<(Pulled, bool), Cause> {
    Ok(source.manifest_into(layout, digest).await?)
}

fn unsupported(source: &Source, what: String) -> Cause {
    Cause::Unsupported(format!("{}: {what}", source.fetched))
}

fn parse<T: serde::de::DeserializeOwned>(
    source: &Source,
    m: &Pulled,
    kind: &str,
) -> Result<T, Cause> {
    serde_json::from_slice(&m.bytes)
        .map_err(|e| unsupported(source, format!("{kind} {}: {e}", m.digest)))
}

fn digest_of(source: &Source, d: &crate::oci::Descriptor) -> Result<Digest, Cause> {
    d.digest().map_err(|_| {
        unsupported(
            source,
            format!("descriptor digest `{}` is not sha256", d.digest),
        )
    })
}

/// Fetches (or finds) the manifests of one image, filters an index to `platforms`, and lists its
/// blobs.
async fn plan_image(
    source: Source,
    layout: &Layout,
    platforms: &[Platform],
    image: &Image,
) -> Result<Planned, Cause> {
    let (top, fetched) = get_manifest(&source, layout, &image.digest).await?;
    let mut planned = Planned {
        image: image.clone(),
        media_type: top.media_type.clone(),
        digest: top.digest.clone(),
        size: top.bytes.len() as u64,
        original: None,
        blobs: Vec::new(),
        children: Vec::new(),
        source: source.clone(),
        manifests_fetched: usize::from(fetched),
        manifests_reused: usize::from(!fetched),
    };
    let manifests = if is_index(&top.media_type) {
        plan_index(&source, layout, platforms, top, &mut planned).await?
    } else {
        vec![top]
    };
    for m in &manifests {
        let manifest: Manifest = parse(&source, m, "manifest")?;
        for d in manifest.blobs() {
            let digest = digest_of(&source, d)?;
            if !planned.blobs.iter().any(|(b, _)| *b == digest) {
                planned.blobs.push((digest, d.size));
            }
        }
    }
    Ok(planned)
}

/// The platform manifests of index `top` that `platforms` keep; a filtered index is written to the
/// layout and becomes the image's top manifest.
async fn plan_index(
    source: &Source,
    layout: &Layout,
    platforms: &[Platform],
    top: Pulled,
    planned: &mut Planned,
) -> Result<Vec<Pulled>, Cause> {
    let index: Index = parse(source, &top, "index")?;
    let keep = kept(&index.manifests, platforms);
    if !keep.iter().any(|k| *k) {
        let asked: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
        return Err(unsupported(
            source,
            format!(
                "no manifest of index {} is for {}",
                top.digest,
                asked.join(", ")
            ),
        ));
    }
    let mut children = Vec::new();
    for (d, _) in index.manifests.iter().zip(&keep).filter(|(_, k)| **k) {
        let digest = digest_of(source, d)?;
        let (child, fetched) = get_manifest(source, layout, &digest).await?;
        if fetched {
            planned.manifests_fetched += 1;
        } else {
            planned.manifests_reused += 1;
        }
        if is_index(&child.media_type) {
            return Err(unsupported(
                source,
                format!("index {} nests another index {}", top.digest, child.digest),
            ));
        }
        planned.children.push(child.digest.clone());
        children.push(child);
    }
    if keep.iter().any(|k| !*k) {
        let filtered =
            filter_index(&top.bytes, &keep, &top.digest).map_err(|e| unsupported(source, e))?;
        planned.digest = layout.write_small_blob(&filtered)?;
        planned.original = Some(top.digest.clone());
        planned.size = filtered.len() as u64;
    }
    Ok(children)
}

/// What fetching the blobs gave.
#[derive(Default)]
pub(super) struct Blobs {
    pub fetched: usize,
    pub reused: usize,
    pub bytes_fetched: u64,
    pub failed: BTreeMap<Digest, Arc<Cause>>,
    pub hashed: Hashed,
}

/// Fetches (or finds) every blob ([`Phase::Blobs`]).
pub(super) fn blobs(
    runner: &Runner,
    layout: &Arc<Layout>,
    mut jobs: Vec<BlobJob>,
    progress: &dyn Progress,
) -> Blobs {
    // Largest first: a big layer started last would be the run's tail, one stream alone on the wire.
    jobs.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.digest.cmp(&b.digest)));
    let bytes: u64 = jobs.iter().map(|j| j.size).sum();
    let report = PhaseReport::start(progress, Phase::Blobs, jobs.len(), bytes);
    let mut out = Blobs::default();
    runner.run(
        jobs,
        |job| {
            report.started(job.digest.as_str(), Some(job.size));
            let layout = layout.clone();
            async move {
                let result = fetch_blob(&layout, &job).await;
                (job, result)
            }
        },
        |(job, result)| {
            let item = job.digest.as_str();
            match result {
                Ok(true) => {
                    out.fetched += 1;
                    out.bytes_fetched += job.size;
                    out.hashed.insert(job.digest.to_string());
                    report.finished(item, Outcome::Done, job.size, job.size);
                }
                Ok(false) => {
                    out.reused += 1;
                    out.hashed.insert(job.digest.to_string());
                    report.finished(item, Outcome::Reused, job.size, 0);
                }
                Err(cause) => {
                    report.finished(item, Outcome::Failed, 0, 0);
                    out.failed.insert(job.digest, Arc::new(cause));
                }
            }
            Flow::Continue
        },
    );
    report.end();
    out
}

/// One blob into the layout; `Ok(true)` when fetched, `Ok(false)` when it was there already.
async fn fetch_blob(layout: &Arc<Layout>, job: &BlobJob) -> Result<bool, Cause> {
    Ok(job.source.blob_into(layout, &job.digest, job.size).await?)
}
