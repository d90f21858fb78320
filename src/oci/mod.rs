//! Everything OCI, once: the media types ([`media_types`]), the documents ([`wire`]), the image layout
//! on disk ([`layout`]), and the registry client ([`client`]: resolve, pull, push; mirrors, TLS,
//! credentials). The only module that touches the network.
//!
//! The digest of a multi-platform image is the digest of its index (manifest list), not of one
//! platform's manifest: that is what a pin holds, so that every node pulls the same bytes.
//!
//! Images, Helm charts (OCI artifacts with Helm's media types) and the bundle's own artifacts all
//! travel through the same types: a manifest is a [`wire::Manifest`] whatever it carries, a blob is
//! stored and found by its digest in a [`layout::Layout`].

pub mod chart;
pub mod client;
pub mod layout;
pub mod media_types;
pub mod wire;

pub use client::{
    BlobOutcome, CHUNK_SIZE, CredentialError, Credentials, Downloaded, Password, ProjectOutcome,
    PullError, Pulled, PushClient, PushError, Registries, RegistryMirror, RegistryMirrorParseError,
    RegistryOptions, ResolveError, RetryPolicy, Scope, SetupError, Source, UrlMirror,
    UrlMirrorParseError,
};
pub use layout::{Layout, LayoutError, Present};
pub use wire::{Descriptor, DocumentError, Index, Manifest, Platform, PlatformParseError};

/// The largest manifest, image index or config accepted, from a registry or in a bundle: 4 MiB (the
/// OCI distribution spec asks registries to accept at least that) unless raised for the run
/// (`BUNDLE_MAX_MANIFEST_SIZE`, [`crate::input::Kind::Manifest`]).
pub fn max_manifest_bytes() -> u64 {
    crate::input::Kind::Manifest.limit()
}
