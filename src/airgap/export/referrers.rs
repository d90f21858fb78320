//! Upstream's referrers of every exported image — signatures, attestations, SBOMs — found and
//! carried byte for byte (`airgap/FORMAT.md`, section 12).
//!
//! For each image, the subjects are its top manifest (unless the index was filtered to fewer
//! platforms: the upstream index is not in the bundle) and each kept platform manifest. For each
//! subject:
//!
//! - **OCI 1.1 referrers**: the registry's referrers API, or where it has none (404) the referrers
//!   tag schema (`sha256-<hex>`, an index). The bundle stores one referrers index per subject: the
//!   upstream tag's index as it was served when it lists everything the API does, else an index
//!   made from the API's answer (sorted by digest; deterministic). Each referrer manifest it lists
//!   is fetched by digest, with its blobs.
//! - **cosign's tag scheme**: `sha256-<hex>.sig`, `.att`, `.sbom`, each manifest as it was served,
//!   with its blobs.
//!
//! Both in the image's own repository and in every signature repository its signing policies
//! declare (`signatureRepository`, cosign's `COSIGN_REPOSITORY`, which holds the signatures,
//! attestations and SBOMs of cosign's tag scheme, and cosign v3's Sigstore bundles as referrers of
//! the image's digest), stored under that repository's name so that `mirror` puts them at its mapped
//! target.
//!
//! A referrer that was listed or tagged but cannot be fetched fails the image: nothing is dropped
//! silently.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::plan::{BlobJob, Image, Planned};
use super::{Cause, ImageFailure};
use crate::airgap::format::{
    COMPONENT_ANNOTATION, COSIGN_SUFFIXES, NAME_ANNOTATION, REFERRER_OF_ANNOTATION,
    REFERRER_SCHEME_ANNOTATION, REFERRER_SUBJECT_ANNOTATION, ReferrerScheme, referrers_tag,
};
use crate::airgap::signers::Carried;
use crate::jobs::{Flow, Runner};
use crate::lock::Lock;
use crate::oci::media_types::{OCI_INDEX, is_index};
use crate::oci::wire::{Descriptor, Index, Manifest, to_json};
use crate::oci::{Layout, Pulled, Registries, Source};
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::types::{Digest, ImageRef, SigningPolicy};

/// One referrers entry of the bundle: a referrers index or a cosign-tagged manifest, stored.
#[derive(Debug, Clone)]
pub(super) struct Found {
    /// The image whose manifest is the subject.
    pub image: Image,
    /// The subject's digest.
    pub subject: Digest,
    pub scheme: ReferrerScheme,
    /// The tag it goes by (`sha256-<hex>`, `sha256-<hex>.sig`, …).
    pub tag: String,
    /// The repository it was found in and goes to, when not the image's own: the declared
    /// signature repository (`signatureRepository`, cosign's `COSIGN_REPOSITORY`).
    pub repository: Option<String>,
    /// The stored top document.
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// Config and layer blobs of the manifests it reaches.
    pub blobs: Vec<(Digest, u64)>,
    /// Where its blobs come from.
    pub source: Source,
}

impl Found {
    /// Its `index.json` entry: name (`REGISTRY/REPOSITORY:TAG`) and descriptor.
    pub(super) fn entry(&self) -> (String, Descriptor) {
        let repository = self
            .repository
            .clone()
            .unwrap_or_else(|| self.image.reference.name());
        let name = format!("{repository}:{}", self.tag);
        let mut d = Descriptor::new(&self.media_type, &self.digest, self.size);
        let a = &mut d.annotations;
        a.insert(NAME_ANNOTATION.into(), name.clone());
        a.insert(REFERRER_SUBJECT_ANNOTATION.into(), self.subject.to_string());
        a.insert(
            REFERRER_OF_ANNOTATION.into(),
            self.image.reference.to_string(),
        );
        a.insert(
            REFERRER_SCHEME_ANNOTATION.into(),
            self.scheme.name().to_string(),
        );
        a.insert(COMPONENT_ANNOTATION.into(), self.image.components.join(","));
        (name, d)
    }
}

/// What discovery gave.
#[derive(Debug, Default)]
pub(super) struct Discovered {
    pub found: Vec<Found>,
    pub failures: Vec<ImageFailure>,
}

impl Discovered {
    /// The blobs of every referrer, as jobs.
    pub(super) fn blob_jobs(&self) -> Vec<BlobJob> {
        self.found
            .iter()
            .flat_map(|f| {
                f.blobs.iter().map(|(digest, size)| BlobJob {
                    digest: digest.clone(),
                    size: *size,
                    source: f.source.clone(),
                })
            })
            .collect()
    }
}

impl Discovered {
    /// The referrers whose blobs all made it, and a failure for each image of the others (and for
    /// each image whose discovery failed).
    pub(super) fn settle(
        self,
        failed_blobs: &BTreeMap<Digest, Arc<Cause>>,
    ) -> (Vec<Found>, Vec<ImageFailure>) {
        let mut failures = self.failures;
        let mut ok = Vec::new();
        for f in self.found {
            match f.blobs.iter().find_map(|(d, _)| failed_blobs.get(d)) {
                Some(cause) => {
                    let cause = Cause::Referrer(format!(
                        "{} {} of {}: {cause}",
                        f.scheme.name(),
                        f.tag,
                        f.image.reference
                    ));
                    failures.push(f.image.failed(Arc::new(cause)));
                }
                None => ok.push(f),
            }
        }
        (ok, failures)
    }
}

/// An image or OCI chart whose referrers are looked for: where from, and its subjects.
pub(super) struct Job {
    image: Image,
    source: Result<Source, String>,
    subjects: Vec<Digest>,
    /// The declared signature repositories of the image (name, where from).
    elsewhere: Vec<(String, Result<Source, String>)>,
}

/// The signature repositories `policies` declare for an artifact of `components` in `repository`
/// (images, or OCI charts with `chart`), each once, with where each is fetched from.
fn signature_repositories(
    policies: &[SigningPolicy],
    components: &[String],
    repository: &str,
    chart: bool,
    registries: &Registries,
) -> Vec<(String, Result<Source, String>)> {
    let mut names: Vec<&str> = policies
        .iter()
        .filter(|p| components.contains(&p.component) && p.covers(repository))
        .filter(|p| match chart {
            true => p.artifacts.charts(),
            false => p.artifacts.images(),
        })
        .filter_map(|p| p.signature_repository.as_deref())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let source = ImageRef::parse(name)
                .map_err(|e| e.to_string())
                .and_then(|r| registries.source(&r).map_err(|e| e.to_string()));
            (name.to_string(), source)
        })
        .collect()
}

/// The jobs: every planned image (its top manifest unless filtered, and its platform manifests),
/// then every chart of `lock` pulled from an OCI registry (its manifest), each once; each also
/// looks in the signature repositories `policies` declare for it.
pub(super) fn jobs(
    planned: &[Planned],
    lock: &Lock,
    registries: &Registries,
    signers: &Carried,
) -> Vec<Job> {
    let policies = &signers.policies;
    let mut jobs: Vec<Job> = planned
        .iter()
        .map(|p| {
            let mut subjects = p.children.clone();
            if p.original.is_none() {
                subjects.insert(0, p.digest.clone());
            }
            let (image, source) = (p.image.clone(), Ok(p.source.clone()));
            let elsewhere = signature_repositories(
                policies,
                &image.components,
                &image.reference.name(),
                false,
                registries,
            );
            Job {
                image,
                source,
                subjects,
                elsewhere,
            }
        })
        .collect();
    let mut charts: BTreeMap<String, Job> = BTreeMap::new();
    for c in &lock.components {
        for ch in c.charts.iter().filter(|ch| ch.chart.is_oci()) {
            let Some(digest) = &ch.digest else { continue };
            let reference = ch.chart.reference();
            if let Some(job) = charts.get_mut(&reference.to_string()) {
                job.image.components.push(c.name.clone());
                continue;
            }
            let image = Image {
                reference: reference.clone(),
                components: vec![c.name.clone()],
                digest: digest.clone(),
            };
            let source = registries.source(reference).map_err(|e| e.to_string());
            let subjects = vec![digest.clone()];
            charts.insert(
                reference.to_string(),
                Job {
                    image,
                    source,
                    subjects,
                    elsewhere: Vec::new(),
                },
            );
        }
    }
    for job in charts.values_mut() {
        let repository = job.image.reference.name();
        let components = job.image.components.clone();
        job.elsewhere =
            signature_repositories(policies, &components, &repository, true, registries);
    }
    jobs.extend(charts.into_values());
    jobs
}

/// Finds and stores the referrers of every image and OCI chart ([`Phase::Referrers`]).
pub(super) fn discover(
    runner: &Runner,
    layout: &Arc<Layout>,
    jobs: Vec<Job>,
    progress: &dyn Progress,
) -> Discovered {
    let report = PhaseReport::start(progress, Phase::Referrers, jobs.len(), 0);
    let mut out = Discovered::default();
    runner.run(
        jobs,
        |Job {
             image,
             source,
             subjects,
             elsewhere,
         }| {
            report.started(&image.reference.to_string(), None);
            let layout = layout.clone();
            async move {
                let mut result = match source {
                    Ok(source) => of_image(&source, &layout, &image, &subjects).await,
                    Err(e) => Err(Cause::Referrer(e)),
                };
                for (repository, source) in elsewhere {
                    let Ok(found) = &mut result else { break };
                    let more = match source {
                        Ok(source) => {
                            elsewhere_of(&source, &layout, &image, &subjects, &repository).await
                        }
                        Err(e) => Err(Cause::Referrer(format!(
                            "its signature repository {repository}: {e}"
                        ))),
                    };
                    match more {
                        Ok(more) => found.extend(more),
                        Err(cause) => result = Err(cause),
                    }
                }
                (image, result)
            }
        },
        |(image, result)| {
            let item = image.reference.to_string();
            match result {
                Ok(found) => {
                    report.finished(&item, Outcome::Done, 0, 0);
                    out.found.extend(found);
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
    out.found.sort_by(|a, b| {
        (&a.image.reference.to_string(), &a.tag).cmp(&(&b.image.reference.to_string(), &b.tag))
    });
    out
}

fn failed(source: &Source, subject: &Digest, what: &str, e: impl std::fmt::Display) -> Cause {
    Cause::Referrer(format!(
        "{}@{subject}: {what} could not be fetched: {e}",
        source.fetched
    ))
}

/// The referrers of one image's subjects.
async fn of_image(
    source: &Source,
    layout: &Layout,
    image: &Image,
    subjects: &[Digest],
) -> Result<Vec<Found>, Cause> {
    let mut found = Vec::new();
    for subject in subjects {
        if let Some(f) = oci_referrers(source, layout, image, subject).await? {
            found.push(f);
        }
    }
    found.extend(cosign_tags(source, layout, image, subjects, None).await?);
    Ok(found)
}

/// The referrers of one image's subjects in its declared signature `repository` (`source`): cosign
/// v3 with `COSIGN_REPOSITORY` puts Sigstore bundles there as OCI referrers of the image's digest,
/// cosign v2 its tag scheme; each stored under that repository's name.
async fn elsewhere_of(
    source: &Source,
    layout: &Layout,
    image: &Image,
    subjects: &[Digest],
    repository: &str,
) -> Result<Vec<Found>, Cause> {
    let mut found = Vec::new();
    for subject in subjects {
        if let Some(mut f) = oci_referrers(source, layout, image, subject).await? {
            f.repository = Some(repository.to_string());
            found.push(f);
        }
    }
    found.extend(cosign_tags(source, layout, image, subjects, Some(repository)).await?);
    Ok(found)
}

/// The cosign-tagged manifests (`.sig`, `.att`, `.sbom`) of `subjects` in `source`'s repository:
/// the image's own (`repository` `None`), or its declared signature repository.
async fn cosign_tags(
    source: &Source,
    layout: &Layout,
    image: &Image,
    subjects: &[Digest],
    repository: Option<&str>,
) -> Result<Vec<Found>, Cause> {
    let mut found = Vec::new();
    for subject in subjects {
        for (suffix, noun) in COSIGN_SUFFIXES {
            let tag = referrers_tag(subject, Some(suffix));
            let tagged = source
                .tagged_manifest(&tag)
                .await
                .map_err(|e| failed(source, subject, &format!("its cosign {noun} {tag}"), e))?;
            let Some(top) = tagged else { continue };
            let what = format!("its cosign {noun} {tag}");
            layout
                .write_small_blob(&top.bytes)
                .map_err(|e| failed(source, subject, &what, e))?;
            let blobs = reached(source, layout, &top)
                .await
                .map_err(|e| failed(source, subject, &what, e))?;
            let mut f = stored(
                image,
                subject,
                ReferrerScheme::Cosign,
                tag,
                &top,
                blobs,
                source,
            );
            f.repository = repository.map(str::to_string);
            found.push(f);
        }
    }
    Ok(found)
}

fn stored(
    image: &Image,
    subject: &Digest,
    scheme: ReferrerScheme,
    tag: String,
    top: &Pulled,
    blobs: Vec<(Digest, u64)>,
    source: &Source,
) -> Found {
    Found {
        image: image.clone(),
        subject: subject.clone(),
        scheme,
        tag,
        repository: None,
        media_type: top.media_type.clone(),
        digest: top.digest.clone(),
        size: top.bytes.len() as u64,
        blobs,
        source: source.clone(),
    }
}

/// The OCI 1.1 referrers of `subject`, as one stored referrers index (`None`: there are none).
async fn oci_referrers(
    source: &Source,
    layout: &Layout,
    image: &Image,
    subject: &Digest,
) -> Result<Option<Found>, Cause> {
    let tag = referrers_tag(subject, None);
    let what = "its referrers";
    let listed = source
        .referrers(subject)
        .await
        .map_err(|e| failed(source, subject, what, e))?;
    let upstream = source
        .tagged_manifest(&tag)
        .await
        .map_err(|e| failed(source, subject, &format!("its referrers tag {tag}"), e))?
        .filter(|p| is_index(&p.media_type));
    let upstream_index = upstream
        .as_ref()
        .and_then(|p| serde_json::from_slice::<Index>(&p.bytes).ok());
    if listed.is_empty()
        && upstream_index
            .as_ref()
            .is_none_or(|i| i.manifests.is_empty())
    {
        return Ok(None);
    }
    let top = match (upstream, upstream_index) {
        (Some(p), Some(index))
            if listed
                .iter()
                .all(|l| index.manifests.iter().any(|m| m.digest == l.digest)) =>
        {
            p
        }
        _ => {
            let mut manifests = listed.clone();
            manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
            manifests.dedup_by(|a, b| a.digest == b.digest);
            let bytes = to_json(&Index::new(manifests, Default::default()));
            Pulled {
                digest: Digest::sha256_of(&bytes),
                bytes,
                media_type: OCI_INDEX.to_string(),
            }
        }
    };
    layout
        .write_small_blob(&top.bytes)
        .map_err(|e| failed(source, subject, what, e))?;
    let blobs = reached(source, layout, &top)
        .await
        .map_err(|e| failed(source, subject, what, e))?;
    Ok(Some(stored(
        image,
        subject,
        ReferrerScheme::Referrers,
        tag,
        &top,
        blobs,
        source,
    )))
}

/// Fetches what `top` references into the layout: for an index, each listed manifest (by digest,
/// size checked) and its blobs, one level deep; for a manifest, nothing (its blobs are returned).
async fn reached(
    source: &Source,
    layout: &Layout,
    top: &Pulled,
) -> Result<Vec<(Digest, u64)>, String> {
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    let add = |m: &Manifest, blobs: &mut Vec<(Digest, u64)>| -> Result<(), String> {
        for d in m.blobs() {
            let digest = d
                .digest()
                .map_err(|_| format!("descriptor digest `{}` is not sha256", d.digest))?;
            if !blobs.iter().any(|(b, _)| *b == digest) {
                blobs.push((digest, d.size));
            }
        }
        Ok(())
    };
    if !is_index(&top.media_type) {
        let m: Manifest = serde_json::from_slice(&top.bytes)
            .map_err(|e| format!("manifest {}: {e}", top.digest))?;
        add(&m, &mut blobs)?;
        return Ok(blobs);
    }
    let index: Index =
        serde_json::from_slice(&top.bytes).map_err(|e| format!("index {}: {e}", top.digest))?;
    for d in &index.manifests {
        let digest = d
            .digest()
            .map_err(|_| format!("descriptor digest `{}` is not sha256", d.digest))?;
        let (child, _) = source
            .manifest_into(layout, &digest)
            .await
            .map_err(|e| format!("referrer {digest}: {e}"))?;
        if child.bytes.len() as u64 != d.size {
            return Err(format!(
                "referrer {digest}: {} bytes, the referrers index says {}",
                child.bytes.len(),
                d.size
            ));
        }
        if is_index(&child.media_type) {
            return Err(format!("referrer {digest} is an index of indexes"));
        }
        let m: Manifest =
            serde_json::from_slice(&child.bytes).map_err(|e| format!("referrer {digest}: {e}"))?;
        add(&m, &mut blobs)?;
    }
    Ok(blobs)
}
