//! The rows of `bundle pin`: one per distinct image, chart or release manifest of the lock, with
//! what upstream served for it and its status.

use crate::cli::Failure;
use crate::oci::PullError;
use crate::pin::{self, ArtifactError};
use crate::types::{ChartRef, Digest, Version};

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Image,
    Chart,
    Manifest,
}

/// Why a row failed.
pub(super) enum RowError {
    Pull(PullError),
    Artifact(ArtifactError),
}

impl RowError {
    pub(super) fn pull(&self) -> Option<&PullError> {
        match self {
            RowError::Pull(p) | RowError::Artifact(ArtifactError::Pull(p)) => Some(p),
            RowError::Artifact(ArtifactError::Repository(e)) => match e.as_ref() {
                ArtifactError::Pull(p) => Some(p),
                _ => None,
            },
            RowError::Artifact(_) => None,
        }
    }

    pub(super) fn failure(&self) -> Failure {
        match self {
            RowError::Pull(p) => Failure::from(p),
            RowError::Artifact(a) => Failure::from(a),
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowError::Pull(e) => e.fmt(f),
            RowError::Artifact(e) => e.fmt(f),
        }
    }
}

/// One distinct image, chart or manifest of the lock and what upstream said.
pub(super) struct Row {
    pub(super) kind: Kind,
    /// The image reference, the chart (`NAME VERSION (REPOSITORY)`) or the manifest's URL.
    pub(super) name: String,
    pub(super) users: Vec<(String, Version)>,
    pub(super) locked: Option<Digest>,
    /// Where it was fetched from (`None` when not asked).
    pub(super) fetched: Option<String>,
    /// What upstream serves (`None` when not asked, or on error).
    pub(super) served: Option<Digest>,
    pub(super) error: Option<RowError>,
    /// The chart, for charts.
    pub(super) chart: Option<ChartRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    New,
    Unchanged,
    Ok,
    Mismatch,
    Missing,
    Error,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Unchanged => "unchanged",
            Status::Ok => "ok",
            Status::Mismatch => "mismatch",
            Status::Missing => "missing",
            Status::Error => "error",
        }
    }
}

impl Row {
    pub(super) fn status(&self, check: bool) -> Status {
        if self.error.is_some() {
            return Status::Error;
        }
        match (self.locked.as_ref(), self.served.as_ref()) {
            (None, _) if check => Status::Missing,
            (None, Some(_)) => Status::New,
            (Some(l), Some(s)) if l == s => {
                if check {
                    Status::Ok
                } else {
                    Status::Unchanged
                }
            }
            (Some(_), Some(_)) => Status::Mismatch,
            (_, None) => Status::Missing,
        }
    }

    pub(super) fn fetched(&self) -> String {
        self.fetched.clone().unwrap_or_else(|| self.name.clone())
    }

    /// `name version` of every component using it.
    pub(super) fn components(&self) -> String {
        let users: Vec<String> = self.users.iter().map(|(n, v)| format!("{n} {v}")).collect();
        users.join(", ")
    }

    /// What a changed digest means, for this kind.
    pub(super) fn moved(&self, published: bool) -> &'static str {
        match (self.kind, self.chart.as_ref().is_some_and(ChartRef::is_oci)) {
            (Kind::Image, _) | (Kind::Chart, true) => "tag moved or mirror tampered",
            (Kind::Chart, false) => {
                "the repository re-published the chart with other content, or the mirror serves other content"
            }
            (Kind::Manifest, _) if published => {
                "the catalog's digest is upstream's published checksum: the mirror serves other content, \
                 or upstream changed the file"
            }
            (Kind::Manifest, _) => {
                "the file changed upstream since it was pinned, or the mirror serves other content"
            }
        }
    }
}

pub(super) type ArtifactOutcome = (Option<String>, Option<Digest>, Option<RowError>);

pub(super) fn artifact_result(
    f: Option<(String, Result<pin::Found, ArtifactError>)>,
) -> ArtifactOutcome {
    match f {
        None => (None, None, None),
        Some((fetched, Ok(found))) => (Some(fetched), Some(found.digest), None),
        Some((fetched, Err(e))) => (Some(fetched), None, Some(RowError::Artifact(e))),
    }
}
