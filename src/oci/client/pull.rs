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

use reqwest::Method;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::error::ResolveError;
use super::error::deepest;
use super::host::{Host, status_text};
use super::mirror::Located;
use super::push::PushError;
use super::push::read::ReadFailure;
use super::push::session::{TOKEN_REQUEST, read_limited};
use super::retry::Failed;
use crate::oci::layout::{Layout, LayoutError, Present};
use crate::oci::max_manifest_bytes;
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
    pub(super) fetch: ImageRef,
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

    /// Runs one pull operation whose attempts say themselves whether another may succeed and how
    /// long the registry asked to wait (`Retry-After`, honoured up to the policy's longest wait),
    /// under the run's retry policy; the last error says how many attempts were made.
    pub(super) async fn attempts<T, F, Fut>(&self, mut op: F) -> Result<T, PullError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failed<PullError>>>,
    {
        self.host
            .retry
            .run(|_| op())
            .await
            .map_err(|(e, n)| e.after(n))
    }

    /// The digest the reference's tag points to now (a `HEAD` request; the registry's answer is
    /// checked to be a sha256 digest; a registry that sends no `Docker-Content-Digest` is asked for
    /// the manifest, which is hashed). For a multi-platform image, the index's digest. Retried.
    pub async fn resolve(&self) -> Result<Digest, PullError> {
        self.attempts(|| self.resolve_once()).await
    }

    async fn resolve_once(&self) -> Result<Digest, Failed<PullError>> {
        let target = self
            .fetch
            .digest()
            .map(Digest::as_str)
            .or(self.fetch.tag())
            .unwrap_or("latest")
            .to_string();
        let path = format!("v2/{}/manifests/{target}", self.fetch.repository());
        let head = self.read(Method::HEAD, &path, true, &self.fetched).await?;
        let announced = head
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .map(str::to_string);
        let digest = match announced {
            Some(d) => d,
            None => {
                let get = self.read(Method::GET, &path, true, &self.fetched).await?;
                let bytes = self.body(get, &self.fetched).await?;
                Digest::sha256_of(&bytes).to_string()
            }
        };
        Digest::parse_sha256(&digest).map_err(|_| {
            Failed::fatal(PullError::Registry(ResolveError::Protocol {
                registry: self.host.registry.clone(),
                fetched: self.fetched.clone(),
                detail: format!(
                    "the registry answered digest `{}`, not a sha256 digest",
                    digest.chars().take(100).collect::<String>()
                ),
            }))
        })
    }

    /// The manifest (or index) `digest` of this repository, byte for byte. Retried.
    pub async fn manifest(&self, digest: &Digest) -> Result<Pulled, PullError> {
        self.attempts(|| self.manifest_once(digest)).await
    }

    async fn manifest_once(&self, digest: &Digest) -> Result<Pulled, Failed<PullError>> {
        let fetched = format!("{}@{digest}", self.fetched_repository());
        let path = format!("v2/{}/manifests/{digest}", self.fetch.repository());
        let response = self.read(Method::GET, &path, true, &fetched).await?;
        let bytes = self.body(response, &fetched).await?;
        let actual = Digest::sha256_of(&bytes);
        if actual != *digest {
            return Err(Failed::fatal(PullError::DigestMismatch {
                fetched,
                digest: digest.to_string(),
                actual: actual.to_string(),
            }));
        }
        let media_type = media_type_of(&bytes).map_err(|detail| {
            Failed::fatal(PullError::BadManifest {
                fetched: fetched.clone(),
                detail: detail.to_string(),
            })
        })?;
        Ok(Pulled {
            bytes,
            digest: actual,
            media_type,
        })
    }

    /// One request of a pull through the registry conversation ([`super::PushClient::read`]), its
    /// failure in a pull's words.
    pub(super) async fn read(
        &self,
        method: Method,
        path: &str,
        manifest: bool,
        fetched: &str,
    ) -> Result<reqwest::Response, Failed<PullError>> {
        self.host
            .session
            .read(method, path, self.fetch.repository(), manifest)
            .await
            .map_err(|f| read_failure(f, &self.host, fetched))
    }

    /// A manifest's body, at most the run's manifest limit ([`max_manifest_bytes`]).
    pub(super) async fn body(
        &self,
        response: reqwest::Response,
        fetched: &str,
    ) -> Result<Vec<u8>, Failed<PullError>> {
        let limit = max_manifest_bytes();
        if let Some(n) = response.content_length().filter(|n| *n > limit) {
            return Err(Failed::fatal(too_large_manifest(fetched, n)));
        }
        let bytes = read_limited(response, limit as usize + 1)
            .await
            .map_err(|e| cut_short(&self.host, &e))?;
        check_manifest_size(fetched, bytes.len()).map_err(Failed::fatal)?;
        Ok(bytes)
    }

    /// Streams blob `digest` (of `size` bytes) of `source`'s repository into `out`, checking the size
    /// on the way. The digest is `out`'s to check: it sees every byte, hashes them once, and must not
    /// keep the blob unless they hash to `digest` (the bundle layout's `BlobWriter` does exactly that).
    /// On error `out` may hold a prefix (the caller discards it). One attempt; [`Source::blob_into`]
    /// retries.
    pub async fn blob<W: AsyncWrite + Unpin>(
        &self,
        digest: &Digest,
        size: u64,
        out: W,
    ) -> Result<(), PullError> {
        self.blob_once(digest, size, out).await.map_err(|f| f.error)
    }

    async fn blob_once<W: AsyncWrite + Unpin>(
        &self,
        digest: &Digest,
        size: u64,
        mut out: W,
    ) -> Result<(), Failed<PullError>> {
        let fetched = self.blob_location(digest);
        if !digest.is_sha256() {
            return Err(Failed::fatal(PullError::BadManifest {
                fetched,
                detail: format!("`{digest}` is not a sha256 digest"),
            }));
        }
        let path = format!("v2/{}/blobs/{digest}", self.fetch.repository());
        let mut response = self.read(Method::GET, &path, false, &fetched).await?;
        let size_mismatch = |actual: u64| {
            attempt(PullError::SizeMismatch {
                fetched: fetched.clone(),
                digest: digest.to_string(),
                expected: size,
                actual,
            })
        };
        if let Some(announced) = response.content_length().filter(|n| *n != size) {
            return Err(size_mismatch(announced));
        }
        let write = |source: std::io::Error| {
            Failed::fatal(PullError::Write {
                fetched: fetched.clone(),
                digest: digest.to_string(),
                source,
            })
        };
        let mut written = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| cut_short(&self.host, &e))?
        {
            written = written.saturating_add(chunk.len() as u64);
            if written > size {
                return Err(size_mismatch(written));
            }
            out.write_all(&chunk).await.map_err(write)?;
        }
        out.flush().await.map_err(write)?;
        if written != size {
            return Err(size_mismatch(written));
        }
        Ok(())
    }
}

/// A failure as one attempt: worth another when [`PullError::is_transient`] says so.
fn attempt(e: PullError) -> Failed<PullError> {
    if e.is_transient() {
        Failed::transient(e, None)
    } else {
        Failed::fatal(e)
    }
}

/// The connection failed while an answer's body was coming: worth another attempt.
fn cut_short(host: &Host, e: &reqwest::Error) -> Failed<PullError> {
    Failed::transient(
        PullError::Registry(ResolveError::Unreachable {
            registry: host.registry.clone(),
            detail: format!("the connection failed during the transfer: {}", deepest(e)),
        }),
        None,
    )
}

/// A read that failed, in a pull's words: the registry's status (401/403 denied, 404 not found,
/// 5xx/429/408 unavailable), or what stopped the request before the registry answered (no
/// connection, TLS, the token service, refused credentials).
fn read_failure(f: Failed<ReadFailure>, host: &Host, fetched: &str) -> Failed<PullError> {
    let registry = host.registry.clone();
    let fetched = fetched.to_string();
    let anonymous = host.session.account().is_none();
    let unauthorized = |status: String| ResolveError::Unauthorized {
        registry: registry.clone(),
        fetched: fetched.clone(),
        status,
        anonymous,
    };
    let error = match f.error {
        ReadFailure::Status { status, said } => {
            let text = status_text(status.as_u16(), &said);
            match status.as_u16() {
                401 => unauthorized("401 Unauthorized".to_string()),
                403 => unauthorized("403 Forbidden".to_string()),
                404 => ResolveError::NotFound { registry, fetched },
                _ if f.transient => ResolveError::Unavailable {
                    registry,
                    fetched,
                    status: text,
                    attempts: 1,
                },
                _ => ResolveError::Protocol {
                    registry,
                    fetched,
                    detail: text,
                },
            }
        }
        ReadFailure::Session(e) => match e {
            PushError::Denied { status, .. } => unauthorized(status),
            PushError::Tls { detail, .. } => ResolveError::Tls { registry, detail },
            PushError::Credentials { source, .. } => ResolveError::Credentials { registry, source },
            // A status that says "later", from the registry's `/v2/` or its token service.
            PushError::Unavailable { what, detail, .. } if detail.starts_with("HTTP ") => {
                ResolveError::Unavailable {
                    registry,
                    fetched,
                    status: if what == TOKEN_REQUEST {
                        format!("the token service answered {detail}")
                    } else {
                        detail
                    },
                    attempts: 1,
                }
            }
            PushError::Unavailable { detail, .. } => ResolveError::Unreachable { registry, detail },
            PushError::Protocol { what, detail, .. } => ResolveError::Protocol {
                registry,
                fetched,
                detail: format!("{what}: {detail}"),
            },
            PushError::Io { detail, .. } => ResolveError::Protocol {
                registry,
                fetched,
                detail,
            },
        },
    };
    Failed {
        error: PullError::Registry(error),
        transient: f.transient,
        retry_after: f.retry_after,
    }
}

/// Refuses a manifest over the run's limit ([`max_manifest_bytes`]), saying how to raise it.
fn check_manifest_size(fetched: &str, len: usize) -> Result<(), PullError> {
    if len as u64 <= max_manifest_bytes() {
        return Ok(());
    }
    Err(too_large_manifest(fetched, len as u64))
}

fn too_large_manifest(fetched: &str, len: u64) -> PullError {
    PullError::BadManifest {
        fetched: fetched.to_string(),
        detail: format!(
            "manifest of {len} bytes, more than the {} bytes accepted; {}",
            max_manifest_bytes(),
            crate::input::Kind::Manifest.raise_hint()
        ),
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
        self.attempts(|| async {
            let mut w = store
                .blob_writer(digest, size)
                .await
                .map_err(|e| Failed::fatal(self.write_error(digest, e)))?;
            match self.blob_once(digest, size, &mut w).await {
                // The writer hashed every byte: the one check of the content.
                Ok(()) => match w.commit().await {
                    Ok(_) => Ok(true),
                    Err(LayoutError::Mismatch { actual, .. }) => {
                        Err(Failed::fatal(PullError::DigestMismatch {
                            fetched: self.blob_location(digest),
                            digest: digest.to_string(),
                            actual: actual.to_string(),
                        }))
                    }
                    Err(e) => Err(Failed::fatal(self.write_error(digest, e))),
                },
                Err(f) => {
                    w.discard().await;
                    Err(f)
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
