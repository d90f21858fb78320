//! Pinning: what the lock names by tag, resolved to content digests. Used by `bundle pin` (which
//! records the digests in the lock) and by `bundle export` (which pins what the lock leaves open, for
//! the bundle only).
//!
//! Pinning is planned from the lock without the network ([`images`]: every distinct image, who uses
//! it, the digest the lock holds), carried out on the job runner ([`resolve`]), and applied to a lock
//! ([`apply`]); what to make of a digest that differs from the lock's (a moved tag) is the caller's
//! to say.
//!
//! Charts and release manifests come in beside [`images`] with the same three steps ([`artifacts`]:
//! [`charts`]/[`manifests`], [`fetch`], [`apply_artifacts`]); their content goes into a content store
//! of the same shape as an OCI layout ([`crate::oci::Layout`]: `blobs/sha256/<hex>`), the cache
//! ([`default_cache_dir`]), so that export and render find it by digest and never fetch it twice.

mod artifacts;
mod images;
mod used;

use std::path::PathBuf;

pub use artifacts::{
    ArtifactError, FetchedChart, FetchedManifest, Found, MAX_CHART_BYTES,
    MAX_RELEASE_MANIFEST_BYTES, Mode, WantedChart, WantedManifest, apply_artifacts, charts, fetch,
    manifests,
};
pub use images::{Resolved, Wanted, apply, images, resolve};
pub use used::{Unlisted, UsedImages, used_images};

/// The cache of fetched charts and release manifests when none is named: `$XDG_CACHE_HOME/bundle`,
/// else `$HOME/.cache/bundle` (`None` when neither variable is set). `BUNDLE_CACHE_DIR` and
/// `--cache-dir` name another one (the command line reads them).
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CACHE_HOME")
        .map(|d| d.join("bundle"))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("bundle")))
}

/// The lock cannot be pinned as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// One image is locked with two digests (by two components).
    #[error("{reference} is locked with two digests, {first} and {second}")]
    TwoDigests {
        /// The image.
        reference: String,
        /// One digest.
        first: String,
        /// The other.
        second: String,
    },
}
