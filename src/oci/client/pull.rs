//! Resolving and pulling through one [`Source`]: a tag's digest, manifests by digest, blobs.
//!
//! A [`Source`] comes from [`super::Registries::source`] (mirrors, insecure hosts, extra CA
//! certificates and credentials already applied). Manifests come back as the exact bytes the registry
//! served, with their media type, checked against the digest they were asked by. Blobs are streamed
//! into any [`AsyncWrite`] as they arrive: the caller hashes and stores them (nothing holds a whole
//! blob in memory); this module checks the size, the caller's writer the digest, so each byte is
//! hashed once on its way in.
//!
//! [`Source::manifest_into`] and [`Source::blob_into`] copy content into a content store (an OCI
//! layout: a bundle being exported, or the pin cache of charts), reusing what is there and intact:
//! the one way images and OCI charts are fetched to disk.

use std::sync::Arc;

use futures_util::StreamExt as _;
use oci_client::Reference;
use oci_client::client::BlobResponse;
use oci_client::errors::{DigestError, OciDistributionError};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::error::ResolveError;
use super::host::{Host, classify, with_scheme};
use super::mirror::Located;
use super::retry::Failed;
use crate::oci::layout::{Layout, LayoutError, Present};
use crate::oci::max_manifest_bytes;
use crate::oci::media_types::MANIFEST_MEDIA_TYPES;
use crate::oci::wire::media_type_of;
use crate::types::{Digest, ImageRef};

/// A manifest (or index) as the registry served it.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// `sha256:` of `bytes` (equal to the digest asked for).
    pub digest: Digest,
    /// Its media type (from the `mediaType` field, or inferred from its shape for OCI manifests
    /// that omit it).
    pub media_type: String,
}

/// A pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The registry could not be reached, refused, or does not have the content.
    #[error(transparent)]
    Registry(#[from] ResolveError),
    /// The bytes received do not hash to the digest asked for.
    #[error("{fetched}: the registry sent content hashing to {actual}")]
    DigestMismatch {
        /// Where it was fetched from.
        fetched: String,
        /// The digest asked for.
        digest: String,
        /// The digest of what arrived (as the registry's client or our hash says it).
        actual: String,
    },
    /// More or fewer bytes than the descriptor says.
    #[error("{fetched}: expected {expected} bytes, the registry sent {actual}")]
    SizeMismatch {
        /// Where it was fetched from.
        fetched: String,
        /// The digest asked for.
        digest: String,
        /// The size in the descriptor.
        expected: u64,
        /// Bytes received (at least; the transfer stops once past `expected`).
        actual: u64,
    },
    /// More bytes than this kind of content may have.
    #[error("{fetched}: {size} bytes or more, more than the {limit} bytes accepted here")]
    TooLarge {
        /// Where it was fetched from.
        fetched: String,
        /// Bytes announced or received (at least).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest that cannot be used.
    #[error("{fetched}: {detail}")]
    BadManifest {
        /// Where it was fetched from.
        fetched: String,
        /// What is wrong.
        detail: String,
    },
    /// Writing what arrived failed (disk full, permissions).
    #[error("{fetched}: writing failed: {source}")]
    Write {
        /// Where it was fetched from.
        fetched: String,
        /// The digest.
        digest: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl PullError {
    /// Whether credentials are the matter (HTTP 401/403, or unreadable credentials).
    pub fn is_auth(&self) -> bool {
        matches!(self, PullError::Registry(e) if e.is_auth())
    }

    /// Whether another attempt may succeed: no connection (refused, reset, timed out), a status
    /// that says "later" (`5xx`, `429`, `408`), a body cut short. Pulls are `GET` and `HEAD`
    /// requests: repeating one changes nothing on the registry.
    pub fn is_transient(&self) -> bool {
        match self {
            PullError::Registry(ResolveError::Unreachable { detail, .. }) => {
                !detail.contains("does not speak TLS")
            }
            PullError::Registry(ResolveError::Unavailable { .. }) => true,
            PullError::SizeMismatch {
                expected, actual, ..
            } => actual < expected,
            _ => false,
        }
    }

    /// This error as the last of `attempts`: the count goes into the message.
    fn after(self, attempts: u32) -> PullError {
        match self {
            PullError::Registry(ResolveError::Unavailable {
                registry,
                fetched,
                status,
                ..
            }) => PullError::Registry(ResolveError::Unavailable {
                registry,
                fetched,
                status,
                attempts,
            }),
            PullError::Registry(ResolveError::Unreachable { registry, detail }) if attempts > 1 => {
                PullError::Registry(ResolveError::Unreachable {
                    registry,
                    detail: format!("{detail} (gave up after {attempts} attempts)"),
                })
            }
            other => other,
        }
    }
}

/// Where one image is fetched from: the mirrored reference and the client for its registry. Cheap
/// to clone; share it between tasks.
#[derive(Clone)]
pub struct Source {
    /// The reference as the lock names it.
    pub reference: ImageRef,
    /// Where it is fetched from, after mirroring.
    pub fetched: String,
    pub(super) fetch: Reference,
    pub(super) host: Arc<Host>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("reference", &self.reference)
            .field("fetched", &self.fetched)
            .finish_non_exhaustive()
    }
}

impl Source {
    pub(super) fn new(reference: ImageRef, located: Located, host: Arc<Host>) -> Source {
        Source {
            reference,
            fetched: located.fetch_text,
            fetch: located.fetch,
            host,
        }
    }

    /// Runs one pull operation under the run's retry policy ([`super::RetryPolicy`]): transient
    /// failures ([`PullError::is_transient`]) are tried again after a backoff with jitter; the last
    /// error says how many attempts were made.
    pub async fn retried<T, F, Fut>(&self, mut op: F) -> Result<T, PullError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, PullError>>,
    {
        self.host
            .retry
            .run(|_| {
                let attempt = op();
                async move {
                    attempt.await.map_err(|e| {
                        if e.is_transient() {
                            Failed::transient(e, None)
                        } else {
                            Failed::fatal(e)
                        }
                    })
                }
            })
            .await
            .map_err(|(e, n)| e.after(n))
    }

    /// The digest the reference's tag points to now (a `HEAD` request; the registry's answer is
    /// checked to be a sha256 digest). For a multi-platform image, the index's digest. Retried.
    pub async fn resolve(&self) -> Result<Digest, PullError> {
        self.retried(|| self.resolve_once()).await
    }

    async fn resolve_once(&self) -> Result<Digest, PullError> {
        let host = &self.host;
        let fetch = &self.fetch;
        let answer = with_scheme(host, |c| async move {
            c.fetch_manifest_digest(fetch, &host.auth).await
        })
        .await;
        let digest = answer.map_err(|e| classify(e, host, &self.fetched))?;
        Digest::parse_sha256(&digest).map_err(|_| {
            PullError::Registry(ResolveError::Protocol {
                registry: host.registry.clone(),
                fetched: self.fetched.clone(),
                detail: format!(
                    "the registry answered digest `{}`, not a sha256 digest",
                    digest.chars().take(100).collect::<String>()
                ),
            })
        })
    }

    /// The manifest (or index) `digest` of this repository, byte for byte. Retried.
    pub async fn manifest(&self, digest: &Digest) -> Result<Pulled, PullError> {
        self.retried(|| self.manifest_once(digest)).await
    }

    async fn manifest_once(&self, digest: &Digest) -> Result<Pulled, PullError> {
        let source = self;
        let host = &source.host;
        let by_digest = Reference::with_digest(
            source.fetch.registry().to_string(),
            source.fetch.repository().to_string(),
            digest.to_string(),
        );
        let fetched = format!("{}@{digest}", source.fetched_repository());
        let r = &by_digest;
        let answer = with_scheme(host, |c| async move {
            c.pull_manifest_raw(r, &host.auth, MANIFEST_MEDIA_TYPES)
                .await
        })
        .await;
        let (bytes, _) = answer.map_err(|e| match e {
            OciDistributionError::DigestError(DigestError::VerificationError {
                expected,
                actual,
            }) => PullError::DigestMismatch {
                fetched: fetched.clone(),
                digest: expected,
                actual,
            },
            e => PullError::Registry(classify(e, host, &fetched)),
        })?;
        check_manifest_size(&fetched, bytes.len())?;
        let actual = Digest::sha256_of(&bytes);
        if actual != *digest {
            return Err(PullError::DigestMismatch {
                fetched,
                digest: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let media_type = media_type_of(&bytes).map_err(|detail| PullError::BadManifest {
            fetched: fetched.clone(),
            detail: detail.to_string(),
        })?;
        Ok(Pulled {
            bytes: bytes.to_vec(),
            digest: actual,
            media_type,
        })
    }

    /// Streams blob `digest` (of `size` bytes) of `source`'s repository into `out`, checking the size
    /// on the way. The digest is `out`'s to check: it sees every byte, hashes them once, and must not
    /// keep the blob unless they hash to `digest` (the bundle layout's `BlobWriter` does exactly that).
    /// On error `out` may hold a prefix (the caller discards it).
    pub async fn blob<W: AsyncWrite + Unpin>(
        &self,
        digest: &Digest,
        size: u64,
        out: W,
    ) -> Result<(), PullError> {
        let source = self;
        let host = &source.host;
        let fetched = source.blob_location(digest);
        if !digest.is_sha256() {
            return Err(PullError::BadManifest {
                fetched,
                detail: format!("`{digest}` is not a sha256 digest"),
            });
        }
        // Blob requests carry no manifest fetch before them on a fresh host: settle the credentials
        // (and, for an insecure host, the scheme) as a manifest fetch would.
        host.tls
            .store_auth_if_needed(source.fetch.resolve_registry(), &host.auth)
            .await;
        if let Some(p) = &host.plain {
            p.store_auth_if_needed(source.fetch.resolve_registry(), &host.auth)
                .await;
        }
        // `Range: bytes=0-` asks for the whole blob; a registry that honours ranges answers 206, and
        // oci-client hands such a stream over without hashing it (it cannot know it is the whole
        // blob). The writer hashes every byte and checks the digest before it names the blob, so
        // that is the one hash on the way in. A 200 answer (ranges ignored) comes back as a stream
        // oci-client verifies as well: still correct, one hash more. An empty blob, or a 416 answer,
        // is fetched without a range.
        //
        // An insecure host whose scheme no earlier request settled (a resumed export whose
        // manifests are all in the layout already) is tried over TLS, then plain HTTP, as manifests
        // are.
        let fetch = &source.fetch;
        let answer = with_scheme(host, |client| async move {
            if size == 0 {
                return client.pull_blob_stream(fetch, digest.as_str()).await;
            }
            match client
                .pull_blob_stream_partial(fetch, digest.as_str(), 0, None)
                .await
            {
                Ok(BlobResponse::Full(s) | BlobResponse::Partial(s)) => Ok(s),
                Err(OciDistributionError::ServerError { code: 416, .. }) => {
                    client.pull_blob_stream(fetch, digest.as_str()).await
                }
                Err(e) => Err(e),
            }
        })
        .await;
        let stream = answer.map_err(|e| match e {
            OciDistributionError::DigestError(DigestError::VerificationError {
                actual, ..
            }) => PullError::DigestMismatch {
                fetched: fetched.clone(),
                digest: digest.to_string(),
                actual,
            },
            e => PullError::Registry(classify(e, host, &fetched)),
        })?;
        if let Some(announced) = stream.content_length.filter(|n| *n != size) {
            return Err(PullError::SizeMismatch {
                fetched,
                digest: digest.to_string(),
                expected: size,
                actual: announced,
            });
        }
        let mut stream = stream.stream;
        let mut out = out;
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| stream_error(e, host, &fetched, digest.as_str()))?;
            written = written.saturating_add(chunk.len() as u64);
            if written > size {
                return Err(PullError::SizeMismatch {
                    fetched,
                    digest: digest.to_string(),
                    expected: size,
                    actual: written,
                });
            }
            out.write_all(&chunk)
                .await
                .map_err(|source| PullError::Write {
                    fetched: fetched.clone(),
                    digest: digest.to_string(),
                    source,
                })?;
        }
        out.flush().await.map_err(|source| PullError::Write {
            fetched: fetched.clone(),
            digest: digest.to_string(),
            source,
        })?;
        if written != size {
            return Err(PullError::SizeMismatch {
                fetched,
                digest: digest.to_string(),
                expected: size,
                actual: written,
            });
        }
        Ok(())
    }
}

/// Refuses a manifest over the run's limit ([`max_manifest_bytes`]), saying how to raise it.
pub(super) fn check_manifest_size(fetched: &str, len: usize) -> Result<(), PullError> {
    if len as u64 <= max_manifest_bytes() {
        return Ok(());
    }
    Err(PullError::BadManifest {
        fetched: fetched.to_string(),
        detail: format!(
            "manifest of {len} bytes, more than the {} bytes accepted; {}",
            max_manifest_bytes(),
            crate::input::Kind::Manifest.raise_hint()
        ),
    })
}

/// An error in the middle of a blob's body: the connection failed, or (for a stream oci-client
/// verifies) the content does not hash to the digest.
fn stream_error(e: std::io::Error, host: &Host, fetched: &str, digest: &str) -> PullError {
    let inner = match e.into_inner() {
        Some(inner) => inner,
        None => {
            return PullError::Registry(ResolveError::Unreachable {
                registry: host.registry.clone(),
                detail: "the connection failed while the blob was sent".to_string(),
            });
        }
    };
    let inner = match inner.downcast::<DigestError>() {
        Ok(d) => {
            let actual = match *d {
                DigestError::VerificationError { actual, .. } => actual,
                other => other.to_string(),
            };
            return PullError::DigestMismatch {
                fetched: fetched.to_string(),
                digest: digest.to_string(),
                actual,
            };
        }
        Err(other) => other,
    };
    match inner.downcast::<reqwest::Error>() {
        Ok(r) => PullError::Registry(classify(
            OciDistributionError::RequestError(*r),
            host,
            fetched,
        )),
        Err(other) => PullError::Registry(ResolveError::Unreachable {
            registry: host.registry.clone(),
            detail: other.to_string(),
        }),
    }
}

impl Source {
    /// Manifest (or index) `digest` from `store` when it is there and intact, else from the registry
    /// (then stored, byte for byte); whether it was fetched.
    pub async fn manifest_into(
        &self,
        store: &Layout,
        digest: &Digest,
    ) -> Result<(Pulled, bool), PullError> {
        let write = |e: LayoutError| self.write_error(digest, e);
        if let Some(bytes) = store
            .read_small_blob(digest, max_manifest_bytes())
            .map_err(write)?
            && let Ok(media_type) = media_type_of(&bytes)
        {
            let pulled = Pulled {
                bytes,
                digest: digest.clone(),
                media_type,
            };
            return Ok((pulled, false));
        }
        let m = self.manifest(digest).await?;
        store.write_small_blob(&m.bytes).map_err(write)?;
        Ok((m, true))
    }

    /// Blob `digest` of `size` bytes into `store`, unless it is there already with the right size and
    /// digest (rehashed); `Ok(true)` when it was fetched. Streamed, hashed once on the way, named only
    /// once verified, retried.
    pub async fn blob_into(
        &self,
        store: &Arc<Layout>,
        digest: &Digest,
        size: u64,
    ) -> Result<bool, PullError> {
        let (l, d) = (store.clone(), digest.clone());
        let present = tokio::task::spawn_blocking(move || l.check_blob(&d, size))
            .await
            .map_err(|e| self.write_error(digest, std::io::Error::other(e.to_string())))?
            .map_err(|e| self.write_error(digest, e))?;
        if present == Present::Yes {
            return Ok(false);
        }
        // Retried (see [`Source::retried`]): each attempt starts the blob again in a fresh writer,
        // a transfer cut short is discarded.
        self.retried(|| async {
            let mut w = store
                .blob_writer(digest, size)
                .await
                .map_err(|e| self.write_error(digest, e))?;
            match self.blob(digest, size, &mut w).await {
                // The writer hashed every byte: the one check of the content.
                Ok(()) => match w.commit().await {
                    Ok(_) => Ok(true),
                    Err(LayoutError::Mismatch { actual, .. }) => Err(PullError::DigestMismatch {
                        fetched: self.blob_location(digest),
                        digest: digest.to_string(),
                        actual: actual.to_string(),
                    }),
                    Err(e) => Err(self.write_error(digest, e)),
                },
                Err(e) => {
                    w.discard().await;
                    Err(e)
                }
            }
        })
        .await
    }

    pub(super) fn write_error(&self, digest: &Digest, e: impl std::fmt::Display) -> PullError {
        PullError::Write {
            fetched: self.blob_location(digest),
            digest: digest.to_string(),
            source: std::io::Error::other(e.to_string()),
        }
    }

    /// `registry/repository` as fetched (no tag or digest).
    pub(super) fn fetched_repository(&self) -> String {
        format!("{}/{}", self.fetch.registry(), self.fetch.repository())
    }

    /// `registry/repository@digest` as fetched: where blob `digest` comes from, for messages.
    pub fn blob_location(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.fetched_repository())
    }
}
