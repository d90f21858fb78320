//! OCI registry access: resolve references to digests; mirrors, TLS, credentials. The only module that touches the network.
//!
//! - [`RegistryOptions`] says how registries are reached: per-registry mirrors
//!   ([`Mirror`], as containerd's `hosts.toml` rewrites a source registry to another host and path),
//!   insecure hosts (plain HTTP, or TLS without verification, for that host only), extra CA certificates
//!   and credentials ([`Credentials`], or auth files in the containers/Docker format).
//! - [`Resolver::resolve_all`] resolves many references to their manifest digests in parallel (bounded),
//!   reporting each result through [`Progress`] as it arrives: the library never prints.
//!
//! The digest of a multi-architecture image is the digest of its index (manifest list), not of one platform's
//! manifest: that is what a pin must hold so that every node pulls the same bytes.

mod auth;
mod error;
pub mod pull;
mod push;
mod reference;
mod resolve;
mod retry;

pub use auth::{Credentials, Password};
pub use error::{ResolveError, SetupError};
pub use push::{
    BlobOutcome, CHUNK_SIZE, ProjectOutcome, PushClient, PushError, PushOptions, Scope,
};
pub use reference::{Mirror, MirrorParseError};
pub use resolve::{Outcome, Progress, RegistryOptions, Resolved, Resolver};
pub use retry::RetryPolicy;

/// Whether `s` is a `sha256:` digest (see [`crate::types::Digest`]).
pub fn is_sha256_digest(s: &str) -> bool {
    crate::types::Digest::parse_sha256(s).is_ok()
}

/// The `sha256:…` digest of some bytes (a manifest as served).
pub fn sha256_digest(bytes: &[u8]) -> String {
    crate::types::Digest::sha256_of(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_sha256_digest(&sha256_digest(b"x")));
        assert!(!is_sha256_digest("sha256:ABC"));
        assert!(!is_sha256_digest(&format!("sha512:{}", "a".repeat(64))));
    }
}
