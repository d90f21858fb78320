//! What the target lacks, found top-down, so that a re-mirror costs about one request per tag.
//!
//! A registry accepts a manifest only when it holds everything the manifest references (blobs, child
//! manifests), so a tag that already points at exactly the digest the bundle has means the whole tree
//! below it is there: it is skipped without a request per blob and without reading the bundle.
//! Only the trees that differ are walked: their manifests are checked by digest (one that is present
//! again stands for its whole tree), and the blobs of the manifests the target lacks are checked
//! one by one. `--verify-remote` (`deep`) walks every tree to its blobs.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::RepositoryPlan;
use super::push::{Done, Job, Run};
use crate::oci::media_types::is_index;
use crate::progress::Phase;
use crate::types::Digest;

impl Run<'_> {
    /// Finds what the target lacks and sets `todo` to it (tags, manifests, blobs, per repository);
    /// what it holds is counted as skipped. On a failed request the run stops (`outcomes` has the
    /// error) and everything counts as lacking.
    pub(super) fn find_missing(&mut self, deep: bool) {
        let plan = self.plan;
        self.todo = plan
            .repositories
            .keys()
            .map(|r| (r.clone(), RepositoryPlan::default()))
            .collect();
        let present = self.check_tags();
        let mut roots: Vec<(String, Digest)> = Vec::new();
        for (repository, r) in &plan.repositories {
            for root in &r.roots {
                if deep || !present.contains(&(repository.clone(), root.clone())) {
                    roots.push((repository.clone(), root.clone()));
                }
            }
        }
        let blobs = self.check_trees(roots, deep);
        self.check_blobs(blobs);
        if self.outcomes.failed() {
            self.todo = plan.repositories.clone();
        }
        self.todo
            .retain(|_, t| !(t.blobs.is_empty() && t.manifests.is_empty() && t.tags.is_empty()));
        self.count_held();
    }

    /// One `HEAD` per tag; returns the trees a tag shows present (repository, root digest) and
    /// records the tags to write.
    fn check_tags(&mut self) -> BTreeSet<(String, Digest)> {
        let plan = self.plan;
        let mut jobs = Vec::new();
        for (repository, r) in &plan.repositories {
            for tag in r.tags.keys() {
                jobs.push(Job::Head {
                    repository: repository.clone(),
                    reference: tag.clone(),
                });
            }
        }
        let mut present = BTreeSet::new();
        for (job, result) in self.phase(true, Phase::CheckTags, jobs) {
            let Some((repository, reference)) = head_of(&job) else {
                continue;
            };
            let want = &plan.repositories[repository].tags[reference];
            match result {
                Some(Ok(Done::Checked(Some(got)))) if got == want.as_str() => {
                    present.insert((repository.clone(), want.clone()));
                }
                Some(Ok(_)) => {
                    let todo = self.todo.entry(repository.clone()).or_default();
                    todo.tags.insert(reference.clone(), want.clone());
                }
                failed => self.outcomes.note(&job, &failed),
            }
        }
        present
    }

    /// Walks the trees under `roots` a level at a time: each manifest looked up by digest (one the
    /// target holds stands for its tree, unless `deep`), the missing ones recorded. Returns the blob
    /// lookups of the manifests walked.
    fn check_trees(&mut self, mut frontier: Vec<(String, Digest)>, deep: bool) -> Vec<Job> {
        let plan = self.plan;
        let mut seen: BTreeSet<(String, Digest)> = frontier.iter().cloned().collect();
        let mut blobs: Vec<Job> = Vec::new();
        while !frontier.is_empty() && !self.outcomes.failed() {
            let jobs = frontier
                .drain(..)
                .map(|(repository, digest)| Job::Head {
                    repository,
                    reference: digest.to_string(),
                })
                .collect();
            for (job, result) in self.phase(true, Phase::CheckManifests, jobs) {
                let Some((repository, reference)) = head_of(&job) else {
                    continue;
                };
                let Ok(digest) = Digest::parse_sha256(reference) else {
                    continue;
                };
                let held = match result {
                    Some(Ok(Done::Checked(found))) => found.is_some(),
                    failed => {
                        self.outcomes.note(&job, &failed);
                        continue;
                    }
                };
                if held && !deep {
                    continue; // the registry holds it, so it holds everything below it
                }
                if !held {
                    let todo = self.todo.entry(repository.clone()).or_default();
                    todo.manifests.insert(digest.clone());
                }
                let Some(m) = plan.manifests.get(&digest) else {
                    continue;
                };
                let repo_plan = &plan.repositories[repository];
                for child in &m.references {
                    let Ok(d) = child.digest() else { continue };
                    if !seen.insert((repository.clone(), d.clone())) {
                        continue;
                    }
                    if is_index(&m.media_type) {
                        frontier.push((repository.clone(), d));
                    } else if repo_plan.blobs.contains_key(&d) {
                        blobs.push(Job::HeadBlob {
                            repository: repository.clone(),
                            digest: d,
                        });
                    }
                }
            }
        }
        blobs
    }

    /// Looks the blobs up; records the missing ones.
    fn check_blobs(&mut self, blobs: Vec<Job>) {
        let go = !self.outcomes.failed() && !blobs.is_empty();
        for (job, result) in self.phase(go, Phase::CheckBlobs, blobs) {
            let Job::HeadBlob { repository, digest } = &job else {
                continue;
            };
            match result {
                Some(Ok(Done::Exists(true))) => {}
                Some(Ok(_)) => {
                    let size = self.plan.repositories[repository].blobs[digest];
                    let todo = self.todo.entry(repository.clone()).or_default();
                    todo.blobs.insert(digest.clone(), size);
                }
                failed => self.outcomes.note(&job, &failed),
            }
        }
    }

    /// Counts what the target holds already as skipped.
    fn count_held(&mut self) {
        let total = |m: &BTreeMap<String, RepositoryPlan>, f: &dyn Fn(&RepositoryPlan) -> usize| {
            m.values().map(f).sum::<usize>()
        };
        let (plan, todo) = (&self.plan.repositories, &self.todo);
        self.summary.blobs_skipped +=
            total(plan, &|r| r.blobs.len()) - total(todo, &|r| r.blobs.len());
        self.summary.manifests_skipped +=
            total(plan, &|r| r.manifests.len()) - total(todo, &|r| r.manifests.len());
        self.summary.tags_skipped +=
            total(plan, &|r| r.tags.len()) - total(todo, &|r| r.tags.len());
    }
}

/// The repository and reference of a manifest lookup.
fn head_of(job: &Job) -> Option<(&String, &String)> {
    match job {
        Job::Head {
            repository,
            reference,
        } => Some((repository, reference)),
        _ => None,
    }
}
