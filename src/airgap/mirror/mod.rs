//! `bundle mirror`: push a bundle into Harbor or any OCI registry on the far side of the air gap.
//!
//! 1. [`prepare`], without the network: the bundle's structure is read ([`source::structure`]:
//!    `index.json`, every manifest, index and config, every blob's size; layers are not read) and
//!    checked ([`super::verify::check`]: references, sizes, media types, the small documents'
//!    digests); a bundle with a problem is refused before anything is pushed. Then it is planned
//!    ([`plan::plan`]): every image of `index.json` mapped to its target repository
//!    (`PROJECT[/PREFIX]/<source-registry>/<repository>`, or without the source registry),
//!    collisions and names registries cannot hold refused, and per repository the blobs, the
//!    manifests (children before parents), the tags and the roots of the trees.
//! 2. [`mirror`] asks the target what it lacks, top-down ([`target`]): a tag that already points at
//!    the bundle's digest stands for its whole tree, so a re-mirror costs about a request per tag;
//!    only the trees that differ are walked. The blobs the target lacks are then read from the
//!    bundle and hashed, all of them before anything is pushed ([`source::Store::prepare`]: a
//!    directory's files and a `.tar`'s entries where they are, a `.tar.zst` streamed with only
//!    those blobs written to a spool directory), so a corrupt bundle never produces a blob, a
//!    manifest or a tag at the target. Then, on the job runner and in order ([`push`]): blobs
//!    (mounted from a repository of the target that holds them, uploaded otherwise), image
//!    manifests, indexes (by digest, byte for byte, with their media types), and only then the
//!    tags. A failure stops the run before any tag is written, so no tag ever points at something
//!    missing; a rerun pushes only what is missing. `--verify-remote` walks every tree down to its
//!    blobs and reads every manifest and tag back.

mod for_mirror;
mod open;
mod plan;
mod push;
mod source;
mod target;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub use for_mirror::render_for_plan;
pub use plan::{Image, Plan, RepositoryPlan, StoredManifest, plan};
pub use source::{Located, Store, structure};

use super::format::EntryKind;
use super::signing::{PublicKey, SIGNATURE_FILE};
use super::verify::{self, Problem, VerifyError};
use crate::jobs::Runner;
use crate::lock::LockError;
use crate::oci::{ProjectOutcome, PushError, Registries};
use crate::progress::Progress;
use crate::render::{self, RenderError};
use crate::types::RegistryPrefix;
use source::Prepared;

/// Reads `--to`: `HOST[:PORT]/PROJECT[/PREFIX]` (a project is required: Harbor keeps repositories
/// in projects).
pub fn parse_target(given: &str) -> Result<RegistryPrefix, MirrorError> {
    let target = RegistryPrefix::parse(given).map_err(|e| MirrorError::Target {
        given: given.to_string(),
        reason: e.reason.to_string(),
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
    /// Refuse the bundle unless it is signed by this key (`--require-signature --key`).
    pub require_signature: Option<PublicKey>,
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
    /// Helm charts.
    pub charts: usize,
    /// Release manifests artifacts (one per component version).
    pub release_manifests: usize,
    /// Referrers entries (signatures, attestations, SBOMs: a referrers index or a cosign tag each).
    pub referrers: usize,
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
    /// For a delta: blobs left to the base, found in the target before anything was pushed.
    pub blobs_from_base: usize,
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
    /// A signature was required (`--require-signature --key`) and the bundle has none, or one that
    /// does not verify with the key; nothing was pushed.
    #[error("{path}: {message}; nothing was pushed")]
    Signature {
        /// The bundle.
        path: String,
        /// What is wrong with its signature.
        message: String,
    },
    /// The bundle's content cannot be mirrored as it is.
    #[error("{path}: {message}")]
    Bundle {
        /// The file concerned.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The archive could not be extracted into its work directory (a full disk, permissions): the
    /// operation failed; nothing was pushed.
    #[error("{path}: {message}")]
    WorkDir {
        /// The directory or file written.
        path: String,
        /// What failed.
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
    /// Pushing failed; `missing` says what the registry still lacks. No tag was written for anything missing.
    #[error("{error}")]
    Push {
        /// The first error.
        error: Box<PushError>,
        /// What is still missing.
        missing: Box<Missing>,
    },
    /// A delta whose base is not (all) in the target: nothing was pushed.
    #[error("the target lacks {} blob(s) that this delta leaves to its base {base}; nothing was pushed", missing.len())]
    BaseMissing {
        /// The base, in words.
        base: String,
        /// `repository@digest` of each blob missing.
        missing: Vec<String>,
    },
    /// `--verify-remote` found manifests that differ or are absent.
    #[error("the registry does not serve what was pushed: {}", problems.join("; "))]
    RemoteMismatch {
        /// One line per problem.
        problems: Vec<String>,
    },
    /// `-o DIR`: the bundle's lock cannot be read.
    #[error("rendering for the mirror: {0}")]
    Lock(#[from] LockError),
    /// `-o DIR`: the bundle's lock does not render.
    #[error("rendering for the mirror: {0}")]
    Render(#[from] RenderError),
    /// `-o DIR`: the rendered manifests have problems.
    #[error("rendering for the mirror: the manifests have {} problem(s): {}", .0.len(), .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    RenderProblems(Vec<render::Problem>),
}

/// Checks the bundle's structure and works out the plan: everything that is done before the network.
/// Layers are not read here (see the module docs).
pub fn prepare(bundle: &Path, options: &MirrorOptions) -> Result<Plan, MirrorError> {
    let (scan, store) = source::structure(bundle)?;
    let mut report = verify::check(&scan);
    verify::check_signature(&scan, options.require_signature.as_ref(), &mut report);
    if let Some(p) = report.problems.iter().find(|p| p.subject == SIGNATURE_FILE) {
        return Err(MirrorError::Signature {
            path: bundle.display().to_string(),
            message: format!("refused, {}", p.message),
        });
    }
    if !report.problems.is_empty() {
        return Err(MirrorError::Corrupt {
            path: bundle.display().to_string(),
            problems: report.problems,
        });
    }
    let mut plan = plan::plan_from(&scan, &options.target, options.strip_registry_host)?;
    plan.store = Some(store);
    Ok(plan)
}

/// Pushes the bundle (checked and planned by [`prepare`]) into the target registry, reached through
/// `registries`, on `runner`.
pub fn mirror(
    bundle: &Path,
    plan: &Plan,
    options: &MirrorOptions,
    registries: &Registries,
    runner: &Runner,
    progress: &dyn Progress,
) -> Result<Summary, MirrorError> {
    let started = Instant::now();
    let push_err = |error: PushError| MirrorError::Push {
        error: Box::new(error),
        missing: Box::new(push::everything(plan)),
    };
    let store = match &plan.store {
        Some(store) => store.clone(),
        None => source::structure(bundle)?.1,
    };
    let target = &options.target;
    let project = target.first_component().unwrap_or_default();
    let client = registries
        .push_client(target.host(), project)
        .map_err(push_err)?;
    let mut summary = Summary {
        target: target.to_string(),
        repositories: plan.repositories.len(),
        images: plan.count(EntryKind::Image),
        charts: plan.count(EntryKind::Chart),
        release_manifests: plan.count(EntryKind::ReleaseManifests),
        referrers: plan.count(EntryKind::Referrers),
        seconds: 0.0,
        ..Summary::default()
    };
    runner.block_on(client.login()).map_err(push_err)?;
    if options.create_project {
        let outcome = runner
            .block_on(client.create_project(project))
            .map_err(push_err)?;
        summary.project_created = Some(outcome == ProjectOutcome::Created);
    }
    // Behind token auth: a few token requests for every repository of the plan, not one each.
    let repositories: Vec<String> = plan.repositories.keys().cloned().collect();
    runner.block_on(client.prefetch_push_tokens(&repositories));
    if let Some(of) = &plan.delta {
        summary.blobs_from_base = base_present(&client, runner, plan, of)?;
    }
    let ctx = Arc::new(push::Ctx {
        client,
        manifests: plan.manifests.clone(),
        store,
        located: Default::default(),
    });
    let mut run = push::Run {
        runner,
        ctx,
        plan,
        progress,
        summary,
        outcomes: push::Outcomes::default(),
        todo: Default::default(),
    };
    run.find_missing(options.verify_remote);
    if let Some(error) = run.outcomes.first_error.take() {
        return Err(push_err(error));
    }
    // Every blob to upload, read and checked before anything is pushed.
    let _prepared: Prepared = prepare_blobs(&run)?;
    run.blobs();
    run.manifests();
    run.tags();
    if let Some(error) = run.outcomes.first_error.take() {
        return Err(MirrorError::Push {
            error: Box::new(error),
            missing: Box::new(std::mem::take(&mut run.outcomes.missing)),
        });
    }
    if options.verify_remote {
        let (problems, checked) = run.verify_remote();
        if !problems.is_empty() {
            return Err(MirrorError::RemoteMismatch { problems });
        }
        run.summary.verified_remote = Some(checked);
    }
    run.summary.seconds = started.elapsed().as_secs_f64();
    Ok(run.summary)
}

/// Reads and checks the blobs the target lacks that no repository of it holds (those are
/// uploaded; the others are mounted, and read only if the registry refuses the mount). From a
/// stream every blob the target lacks is read, since the stream cannot be read again later.
fn prepare_blobs(run: &push::Run<'_>) -> Result<Prepared, MirrorError> {
    let held = run.held();
    let stream = matches!(run.ctx.store, Store::Stream { .. });
    let mut wanted = std::collections::BTreeMap::new();
    for r in run.todo.values() {
        for (digest, size) in &r.blobs {
            if stream || !held.contains_key(digest) {
                wanted.insert(digest.clone(), *size);
            }
        }
    }
    let prepared = run.ctx.store.prepare(&wanted, run.progress)?;
    let _ = run.ctx.located.set(prepared.located.clone());
    Ok(prepared)
}

/// A delta: every blob it leaves to its base must already be in the repository it is needed in
/// (checked with `HEAD`, before anything is pushed). Returns how many there are.
fn base_present(
    client: &crate::oci::PushClient,
    runner: &Runner,
    plan: &Plan,
    of: &crate::airgap::delta::DeltaOf,
) -> Result<usize, MirrorError> {
    let mut missing = Vec::new();
    let mut count = 0;
    for (repository, r) in &plan.repositories {
        for digest in r.from_base.keys() {
            count += 1;
            let present = runner
                .block_on(client.blob_exists(repository, digest))
                .map_err(|error| MirrorError::Push {
                    error: Box::new(error),
                    missing: Box::new(push::everything(plan)),
                })?;
            if !present {
                missing.push(format!("{repository}@{digest}"));
            }
        }
    }
    if missing.is_empty() {
        Ok(count)
    } else {
        Err(MirrorError::BaseMissing {
            base: of.describe(),
            missing,
        })
    }
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
}
