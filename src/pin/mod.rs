//! Pinning: what the lock names by tag, resolved to content digests. Used by `bundle pin` (which
//! records the digests in the lock) and by `bundle export` (which pins what the lock leaves open, for
//! the bundle only).
//!
//! Pinning is planned from the lock without the network ([`images`]: every distinct image, who uses
//! it, the digest the lock holds), carried out on the job runner ([`resolve`]), and applied to a lock
//! ([`apply`]); what to make of a digest that differs from the lock's (a moved tag) is the caller's
//! to say.
//!
//! Charts and release manifests (issue 11) come in beside [`images`]: each kind of artifact gets its
//! own module here with the same three steps, and fetched content goes into a content store of the
//! same shape as an OCI layout ([`crate::oci::Layout`]: `blobs/sha256/<hex>`), so that export and
//! render find it by digest.

mod images;

pub use images::{Resolved, Wanted, apply, images, resolve};

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
