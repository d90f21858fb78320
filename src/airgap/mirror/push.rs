//! Carrying a mirror plan out on the job runner, phase by phase: what the target lacks (found
//! top-down, `target.rs`), then blobs (each first into one repository, then mounted into the
//! others), image manifests, indexes level by level, tags, and optionally a read-back of everything.
//! Only what the target lacks is pushed; the first failure stops the run before any tag is written.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use super::plan::{Plan, RepositoryPlan, StoredManifest};
use super::source::{Located, Store};
use super::{Missing, Summary};
use crate::jobs::{Flow, Runner};
use crate::oci::{BlobOutcome, PushClient, PushError};
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::types::Digest;

/// One operation against the registry.
#[derive(Debug, Clone)]
pub(super) enum Job {
    Blob {
        repository: String,
        digest: Digest,
        size: u64,
        mount_from: Option<String>,
    },
    Manifest {
        repository: String,
        digest: Digest,
    },
    Tag {
        repository: String,
        tag: String,
        digest: Digest,
    },
    Check {
        repository: String,
        reference: String,
        digest: Digest,
    },
    /// Whether the target has a manifest (by digest or tag): `HEAD`.
    Head {
        repository: String,
        reference: String,
    },
    /// Whether the target has a blob: `HEAD`.
    HeadBlob {
        repository: String,
        digest: Digest,
    },
}

impl Job {
    /// `repository@digest` or `repository:tag`, for messages.
    pub(super) fn name(&self) -> String {
        match self {
            Job::Blob {
                repository, digest, ..
            }
            | Job::HeadBlob { repository, digest }
            | Job::Manifest { repository, digest } => format!("{repository}@{digest}"),
            Job::Head {
                repository,
                reference,
            } if reference.starts_with("sha256:") => format!("{repository}@{reference}"),
            Job::Head {
                repository,
                reference,
            } => format!("{repository}:{reference}"),
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

    /// The bytes a blob job carries (0 for the others), for progress.
    fn bytes(&self) -> u64 {
        match self {
            Job::Blob { size, .. } => *size,
            _ => 0,
        }
    }
}

/// What one operation found or did.
#[derive(Debug, Clone)]
pub(super) enum Done {
    Blob(BlobOutcome),
    /// Pushed (`true`) or already there.
    Pushed(bool),
    /// The digest the registry serves, if it has the reference.
    Checked(Option<String>),
    /// Whether the registry has the blob.
    Exists(bool),
}

/// A job and its result (`None`: not run, the run stopped first).
type Ran = (Job, Option<Result<Done, PushError>>);

/// What every job needs.
pub(super) struct Ctx {
    pub client: PushClient,
    pub manifests: BTreeMap<Digest, StoredManifest>,
    /// Where the bundle's blobs are.
    pub store: Store,
    /// The blobs read and checked before anything was pushed ([`Store::prepare`]), and where each is.
    pub located: OnceLock<HashMap<Digest, Located>>,
}

/// Where a blob to upload is: checked before the run pushed anything, or (a blob that was to be
/// mounted, and the registry would not) hashed now, before it is uploaded.
async fn content(ctx: &Arc<Ctx>, digest: &Digest, size: u64) -> Result<Located, PushError> {
    if let Some(at) = ctx.located.get().and_then(|l| l.get(digest)) {
        return Ok(at.clone());
    }
    let (c, d) = (ctx.clone(), digest.clone());
    let checked = tokio::task::spawn_blocking(move || c.store.check(&d, size)).await;
    match checked {
        Ok(Ok(at)) => Ok(at),
        Ok(Err(e)) => Err(PushError::Io {
            path: ctx.store.path().to_path_buf(),
            detail: e.to_string(),
        }),
        Err(e) => Err(PushError::Io {
            path: ctx.store.path().to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

async fn run_job(ctx: &Arc<Ctx>, job: &Job) -> Result<Done, PushError> {
    let c = &ctx.client;
    match job {
        // The target lacks the blob (found by `find_missing`): mount it, or upload it.
        Job::Blob {
            repository,
            digest,
            size,
            mount_from,
        } => {
            if let Some(from) = mount_from.as_deref()
                && c.mount_blob(repository, from, digest).await?
            {
                return Ok(Done::Blob(BlobOutcome::Mounted));
            }
            let at = content(ctx, digest, *size).await?;
            c.upload_blob(repository, digest, *size, &at.path, at.offset)
                .await
                .map(|n| Done::Blob(BlobOutcome::Uploaded(n)))
        }
        // Manifests and tags the target lacks (found by `find_missing`).
        Job::Manifest { repository, digest } => {
            push_manifest(ctx, repository, digest.as_str(), digest).await
        }
        Job::Tag {
            repository,
            tag,
            digest,
        } => push_manifest(ctx, repository, tag, digest).await,
        Job::Head {
            repository,
            reference,
        } => c
            .manifest_digest(repository, reference)
            .await
            .map(Done::Checked),
        Job::HeadBlob { repository, digest } => {
            c.blob_exists(repository, digest).await.map(Done::Exists)
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

async fn push_manifest(
    ctx: &Ctx,
    repository: &str,
    reference: &str,
    digest: &Digest,
) -> Result<Done, PushError> {
    let Some(m) = ctx.manifests.get(digest) else {
        return Ok(Done::Pushed(false));
    };
    ctx.client
        .push_manifest(repository, reference, &m.media_type, &m.bytes)
        .await
        .map(|()| Done::Pushed(true))
}

/// Runs one phase: every job, `runner.width()` in flight, stopping at the first error. Results in
/// job order.
pub(super) fn run_phase(
    runner: &Runner,
    ctx: &Arc<Ctx>,
    phase: Phase,
    jobs: Vec<Job>,
    progress: &dyn Progress,
) -> Vec<Ran> {
    let bytes = jobs.iter().map(Job::bytes).sum();
    let report = PhaseReport::start(progress, phase, jobs.len(), bytes);
    let mut results: Vec<Option<Result<Done, PushError>>> = jobs.iter().map(|_| None).collect();
    let indexed: Vec<(usize, Job)> = jobs.iter().cloned().enumerate().collect();
    runner.run(
        indexed,
        |(i, job)| {
            report.started(&job.name(), None);
            let ctx = ctx.clone();
            async move {
                let r = run_job(&ctx, &job).await;
                (i, job, r)
            }
        },
        |(i, job, r)| {
            let (outcome, moved) = match &r {
                Ok(Done::Blob(BlobOutcome::Uploaded(n))) => (Outcome::Done, *n),
                Ok(Done::Blob(_) | Done::Pushed(false) | Done::Exists(true)) => {
                    (Outcome::Reused, 0)
                }
                Ok(_) => (Outcome::Done, 0),
                Err(_) => (Outcome::Failed, 0),
            };
            let done = if outcome == Outcome::Failed {
                0
            } else {
                job.bytes()
            };
            report.finished(&job.name(), outcome, done, moved);
            let flow = if r.is_err() {
                Flow::Stop
            } else {
                Flow::Continue
            };
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(r);
            }
            flow
        },
    );
    report.end();
    jobs.into_iter().zip(results).collect()
}

/// The first error of a run and what is still missing on the registry.
#[derive(Default)]
pub(super) struct Outcomes {
    pub missing: Missing,
    pub first_error: Option<PushError>,
}

impl Outcomes {
    /// Records one job's result.
    pub(super) fn note(&mut self, job: &Job, result: &Option<Result<Done, PushError>>) {
        match result {
            Some(Ok(_)) => return,
            Some(Err(e)) if self.first_error.is_none() => self.first_error = Some(e.clone()),
            _ => {}
        }
        match job {
            Job::Blob { .. } => self.missing.blobs.push(job.name()),
            Job::Manifest { .. } => self.missing.manifests.push(job.name()),
            Job::Tag { .. } => self.missing.tags.push(job.name()),
            Job::Check { .. } | Job::Head { .. } | Job::HeadBlob { .. } => {}
        }
    }

    pub(super) fn failed(&self) -> bool {
        self.first_error.is_some()
    }

    /// Records the results of a phase that pushes manifests or tags: (pushed, already there).
    fn count(&mut self, results: &[Ran]) -> (usize, usize) {
        let (mut pushed, mut skipped) = (0, 0);
        for (job, r) in results {
            self.note(job, r);
            match r {
                Some(Ok(Done::Pushed(true))) => pushed += 1,
                Some(Ok(_)) => skipped += 1,
                _ => {}
            }
        }
        (pushed, skipped)
    }
}

/// One mirror run: the plan, where it goes, and what happened so far.
pub(super) struct Run<'a> {
    pub runner: &'a Runner,
    pub ctx: Arc<Ctx>,
    pub plan: &'a Plan,
    pub progress: &'a dyn Progress,
    pub summary: Summary,
    pub outcomes: Outcomes,
    /// What the target lacks, per repository (found by `find_missing`, target.rs): only this is pushed.
    pub todo: BTreeMap<String, RepositoryPlan>,
}

impl Run<'_> {
    /// One job per repository the target lacks something in, and what `f` makes of what it lacks.
    fn jobs(&self, f: impl Fn(&str, &RepositoryPlan) -> Vec<Job>) -> Vec<Job> {
        self.todo
            .iter()
            .flat_map(|(repository, r)| f(repository, r))
            .collect()
    }

    /// Runs a phase when `go`; otherwise reports every job as not run.
    pub(super) fn phase(&self, go: bool, phase: Phase, jobs: Vec<Job>) -> Vec<Ran> {
        if go {
            run_phase(self.runner, &self.ctx, phase, jobs, self.progress)
        } else {
            jobs.into_iter().map(|j| (j, None)).collect()
        }
    }

    /// Pushes the blobs the target lacks: mounted from a repository of the target that holds it,
    /// else each digest first into one repository, then everywhere else (mounting from there).
    pub(super) fn blobs(&mut self) {
        let held = self.held();
        let mut first_home: HashMap<Digest, String> = HashMap::new();
        let mut first_round = Vec::new();
        let mut second_round = Vec::new();
        for job in self.jobs(|repository, r| {
            r.blobs
                .iter()
                .map(|(digest, size)| Job::Blob {
                    repository: repository.to_string(),
                    digest: digest.clone(),
                    size: *size,
                    mount_from: None,
                })
                .collect()
        }) {
            let Job::Blob {
                repository, digest, ..
            } = &job
            else {
                continue;
            };
            if let Some(home) = held.get(digest) {
                let mut job = job.clone();
                if let Job::Blob { mount_from, .. } = &mut job {
                    *mount_from = Some(home.clone());
                }
                first_round.push(job);
                continue;
            }
            match first_home.get(digest) {
                None => {
                    first_home.insert(digest.clone(), repository.clone());
                    first_round.push(job);
                }
                Some(home) => {
                    let mut job = job.clone();
                    if let Job::Blob { mount_from, .. } = &mut job {
                        *mount_from = Some(home.clone());
                    }
                    second_round.push(job);
                }
            }
        }
        // Largest first: a big blob started last would be the run's tail, one upload alone.
        first_round.sort_by_key(|j| match j {
            Job::Blob { size, .. } => std::cmp::Reverse(*size),
            _ => std::cmp::Reverse(0),
        });
        let mut results = self.phase(true, Phase::PushBlobs, first_round);
        let go = results.iter().all(|(_, r)| matches!(r, Some(Ok(_))));
        results.extend(self.phase(go, Phase::MountBlobs, second_round));
        for (job, r) in &results {
            self.outcomes.note(job, r);
            if let Some(Ok(Done::Blob(o))) = r {
                match o {
                    BlobOutcome::Present => self.summary.blobs_skipped += 1,
                    BlobOutcome::Mounted => self.summary.blobs_mounted += 1,
                    BlobOutcome::Uploaded(n) => {
                        self.summary.blobs_pushed += 1;
                        self.summary.bytes += n;
                    }
                }
            }
        }
    }

    /// Pushes the manifests level by level: image manifests, then the indexes over them.
    pub(super) fn manifests(&mut self) {
        let max_level = self.plan.manifests.values().map(|m| m.level).max();
        for level in 0..=max_level.unwrap_or(0) {
            let manifests = &self.plan.manifests;
            let jobs = self.jobs(|repository, r| {
                r.manifests
                    .iter()
                    .filter(|d| manifests.get(*d).is_some_and(|m| m.level == level))
                    .map(|d| Job::Manifest {
                        repository: repository.to_string(),
                        digest: d.clone(),
                    })
                    .collect()
            });
            let phase = if level == 0 {
                Phase::PushManifests
            } else {
                Phase::PushIndexes
            };
            let go = !self.outcomes.failed() && self.outcomes.missing.blobs.is_empty();
            let results = self.phase(go, phase, jobs);
            let (pushed, skipped) = self.outcomes.count(&results);
            self.summary.manifests_pushed += pushed;
            self.summary.manifests_skipped += skipped;
        }
    }

    /// Writes the tags, only when everything under them is there.
    pub(super) fn tags(&mut self) {
        let jobs = self.jobs(|repository, r| {
            r.tags
                .iter()
                .map(|(tag, digest)| Job::Tag {
                    repository: repository.to_string(),
                    tag: tag.clone(),
                    digest: digest.clone(),
                })
                .collect()
        });
        let missing = &self.outcomes.missing;
        let go =
            !self.outcomes.failed() && missing.blobs.is_empty() && missing.manifests.is_empty();
        let results = self.phase(go, Phase::PushTags, jobs);
        let (pushed, skipped) = self.outcomes.count(&results);
        self.summary.tags_pushed += pushed;
        self.summary.tags_skipped += skipped;
    }

    /// Blobs the target already holds, and one repository of it that holds each (every blob of the
    /// plan's repositories that the target does not lack there).
    pub(super) fn held(&self) -> HashMap<Digest, String> {
        let mut held = HashMap::new();
        for (repository, r) in &self.plan.repositories {
            let lacks = self.todo.get(repository);
            for digest in r.blobs.keys() {
                if !lacks.is_some_and(|t| t.blobs.contains_key(digest)) {
                    held.entry(digest.clone())
                        .or_insert_with(|| repository.clone());
                }
            }
        }
        held
    }

    /// Reads every manifest and tag back; the problems found (empty: all intact) and how many were
    /// read.
    pub(super) fn verify_remote(&self) -> (Vec<String>, usize) {
        let all = |f: &dyn Fn(&str, &RepositoryPlan) -> Vec<Job>| -> Vec<Job> {
            self.plan
                .repositories
                .iter()
                .flat_map(|(repository, r)| f(repository, r))
                .collect()
        };
        let checks = all(&|repository, r| {
            let check = |reference: String, digest: &Digest| Job::Check {
                repository: repository.to_string(),
                reference,
                digest: digest.clone(),
            };
            let by_digest = r.manifests.iter().map(|d| check(d.to_string(), d));
            let by_tag = r.tags.iter().map(|(t, d)| check(t.clone(), d));
            by_digest.chain(by_tag).collect()
        });
        let results = self.phase(true, Phase::VerifyRemote, checks);
        let mut problems = Vec::new();
        for (job, r) in &results {
            let Job::Check { digest, .. } = job else {
                continue;
            };
            match r {
                Some(Ok(Done::Checked(Some(got)))) if got == digest.as_str() => {}
                Some(Ok(Done::Checked(Some(got)))) => {
                    problems.push(format!("{} serves {got}, expected {digest}", job.name()));
                }
                Some(Ok(_)) => problems.push(format!("{} is absent", job.name())),
                Some(Err(e)) => problems.push(format!("{}: {e}", job.name())),
                None => problems.push(format!("{}: not checked", job.name())),
            }
        }
        (problems, results.len())
    }
}

/// Everything the plan would put on the registry, as missing (a run that could not start).
pub(super) fn everything(plan: &Plan) -> Missing {
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
