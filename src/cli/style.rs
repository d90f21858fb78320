//! What progress drawing needs to know of a command and a phase, shared by the plain lines and the
//! bars: which command draws ([`Style`]) and what a phase counts ([`unit`]).

use crate::progress::Phase;

/// Which command's lines to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `pin`: one line per image, `pinned`/`checked` N/M.
    Pin {
        /// `bundle pin --check`.
        check: bool,
    },
    /// `export`: pinned images, manifests done, blobs at most about once a second, packing.
    Export,
    /// `mirror`: one line per phase.
    Mirror,
    /// `verify`: only the heartbeat (the summary says the rest).
    Verify,
}

/// What the phase counts, for people (`12/40 blobs`).
pub(crate) fn unit(phase: Phase) -> &'static str {
    match phase {
        Phase::Resolve | Phase::Manifests | Phase::Referrers => "images",
        Phase::ChartIndexes => "repositories",
        Phase::Artifacts | Phase::UsedImages => "charts and manifests",
        Phase::Blobs
        | Phase::PushBlobs
        | Phase::MountBlobs
        | Phase::Rehash
        | Phase::CheckBlobs
        | Phase::ReadBlobs => "blobs",
        Phase::Pack => "archives",
        Phase::PushManifests | Phase::VerifyRemote | Phase::CheckManifests => "manifests",
        Phase::PushIndexes => "indexes",
        Phase::PushTags | Phase::CheckTags => "tags",
    }
}
