//! Pulling manifests and blobs by digest, for `bundle export`.
//!
//! A [`Puller`] reaches registries exactly as the [`Resolver`](super::Resolver) does (mirrors, insecure
//! hosts, extra CA certificates, credentials given or looked up in auth files). Manifests come back as
//! the exact bytes the registry served, with their media type, checked against the digest they were
//! asked by. Blobs are streamed into any [`AsyncWrite`] as they arrive: the caller hashes and stores them
//! (nothing holds a whole blob in memory); this module checks the size, the caller's writer the
//! digest, so each byte is hashed once on its way in.
//!
//! Everything here is safe to share between tasks: one [`Puller`] serves every concurrent pull.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use oci_client::Reference;
use oci_client::client::{BlobResponse, Certificate};
use oci_client::errors::{DigestError, OciDistributionError};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::error::{ResolveError, SetupError};
use super::reference::locate;
use super::resolve::{
    Host, HostKey, RegistryOptions, classify, credentials_for, is_insecure, load_roots, with_scheme,
};

/// Manifest media types asked for (`Accept`), in order of preference.
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest accepted (the OCI distribution spec asks registries to accept at least 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A manifest as the registry served it.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// `sha256:` of `bytes` (equal to the digest asked for).
    pub digest: String,
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
    #[error("{fetched}: {digest}: the registry sent content hashing to {actual}")]
    DigestMismatch {
        /// Where it was fetched from.
        fetched: String,
        /// The digest asked for.
        digest: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// More or fewer bytes than the descriptor says.
    #[error("{fetched}: {digest}: expected {expected} bytes, the registry sent {actual}")]
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
    /// A manifest that cannot be used.
    #[error("{fetched}: {detail}")]
    BadManifest {
        /// Where it was fetched from.
        fetched: String,
        /// What is wrong.
        detail: String,
    },
    /// Writing what arrived failed (disk full, permissions).
    #[error("{fetched}: {digest}: writing failed: {source}")]
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
}

/// Where one repository is fetched from: the mirrored reference and the client for its registry.
#[derive(Clone)]
pub struct Source {
    /// The reference as written in the lock.
    pub reference: String,
    /// Where it is fetched from, after mirroring.
    pub fetched: String,
    fetch: Reference,
    host: Arc<Host>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("reference", &self.reference)
            .field("fetched", &self.fetched)
            .finish_non_exhaustive()
    }
}

/// Pulls manifests and blobs; share it (it is `Send + Sync`) between tasks.
pub struct Puller {
    options: RegistryOptions,
    roots: Vec<Certificate>,
    hosts: Mutex<Vec<(HostKey, Arc<Host>)>>,
}

impl std::fmt::Debug for Puller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Puller")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Puller {
    /// Checks the options and reads the CA files (no network).
    pub fn new(options: RegistryOptions) -> Result<Self, SetupError> {
        let roots = load_roots(&options.ca_files)?;
        Ok(Puller {
            options,
            roots,
            hosts: Mutex::new(Vec::new()),
        })
    }

    /// Where `reference` is fetched from, with its credentials looked up (no network).
    pub fn source(&self, reference: &str) -> Result<Source, PullError> {
        let located = locate(reference, &self.options.mirrors)?;
        let registry = located.fetch.registry().to_string();
        let key: HostKey = (registry.clone(), credentials_for(&self.options, &located)?);
        let mut hosts = self.hosts.lock().map_err(|_| ResolveError::Protocol {
            registry: registry.clone(),
            fetched: located.fetch_text.clone(),
            detail: "internal error: client table poisoned".to_string(),
        })?;
        let host = match hosts.iter().find(|(k, _)| k == &key) {
            Some((_, h)) => h.clone(),
            None => {
                let insecure = is_insecure(&self.options.insecure, &registry);
                let host = Host::new(registry.clone(), key.1.as_ref(), insecure, &self.roots)
                    .map_err(|e| ResolveError::Protocol {
                        registry: registry.clone(),
                        fetched: located.fetch_text.clone(),
                        detail: e.to_string(),
                    })?;
                let host = Arc::new(host);
                hosts.push((key, host.clone()));
                host
            }
        };
        Ok(Source {
            reference: reference.to_string(),
            fetched: located.fetch_text,
            fetch: located.fetch,
            host,
        })
    }

    /// The digest `source`'s tag points to now (a `HEAD` request; the registry's answer is checked to be
    /// a sha256 digest).
    pub async fn resolve(&self, source: &Source) -> Result<String, PullError> {
        let host = &source.host;
        let fetch = &source.fetch;
        let answer = with_scheme(host, |c| async move {
            c.fetch_manifest_digest(fetch, &host.auth).await
        })
        .await;
        let digest = answer.map_err(|e| classify(e, host, &source.fetched))?;
        if !super::is_sha256_digest(&digest) {
            return Err(PullError::BadManifest {
                fetched: source.fetched.clone(),
                detail: format!(
                    "the registry answered digest `{}`, not a sha256 digest",
                    digest.chars().take(100).collect::<String>()
                ),
            });
        }
        Ok(digest)
    }

    /// The manifest `digest` of `source`'s repository, byte for byte.
    pub async fn manifest(&self, source: &Source, digest: &str) -> Result<Manifest, PullError> {
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
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(PullError::BadManifest {
                fetched,
                detail: format!(
                    "manifest of {} bytes (more than {MAX_MANIFEST_BYTES})",
                    bytes.len()
                ),
            });
        }
        let actual = super::sha256_digest(&bytes);
        if actual != digest {
            return Err(PullError::DigestMismatch {
                fetched,
                digest: digest.to_string(),
                actual,
            });
        }
        let media_type = media_type_of(&bytes).map_err(|detail| PullError::BadManifest {
            fetched: fetched.clone(),
            detail,
        })?;
        Ok(Manifest {
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
        source: &Source,
        digest: &str,
        size: u64,
        out: W,
    ) -> Result<(), PullError> {
        let host = &source.host;
        let fetched = source.blob_location(digest);
        if !super::is_sha256_digest(digest) {
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
        let client = host.client();
        // `Range: bytes=0-` asks for the whole blob; a registry that honours ranges answers 206, and
        // oci-client hands such a stream over without hashing it (it cannot know it is the whole
        // blob). The writer hashes every byte and checks the digest before it names the blob, so
        // that is the one hash on the way in. A 200 answer (ranges ignored) comes back as a stream
        // oci-client verifies as well: still correct, one hash more. An empty blob, or a 416 answer,
        // is fetched without a range.
        let answer = if size == 0 {
            client.pull_blob_stream(&source.fetch, digest).await
        } else {
            match client
                .pull_blob_stream_partial(&source.fetch, digest, 0, None)
                .await
            {
                Ok(BlobResponse::Full(s) | BlobResponse::Partial(s)) => Ok(s),
                Err(OciDistributionError::ServerError { code: 416, .. }) => {
                    client.pull_blob_stream(&source.fetch, digest).await
                }
                Err(e) => Err(e),
            }
        };
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
            let chunk = chunk.map_err(|e| stream_error(e, host, &fetched, digest))?;
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
    /// `registry/repository` as fetched (no tag or digest).
    fn fetched_repository(&self) -> String {
        format!("{}/{}", self.fetch.registry(), self.fetch.repository())
    }

    /// `registry/repository@digest` as fetched: where blob `digest` comes from, for messages.
    pub fn blob_location(&self, digest: &str) -> String {
        format!("{}@{digest}", self.fetched_repository())
    }
}

/// The media type of a manifest: its `mediaType` field, or for an OCI manifest without one, inferred
/// from its shape (`manifests` → index, `config` → image manifest).
pub fn media_type_of(bytes: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        schema_version: Option<i64>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let shape: Shape =
        serde_json::from_slice(bytes).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    if shape.schema_version != Some(2) {
        return Err(format!(
            "schemaVersion {} is not supported (only 2)",
            shape
                .schema_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "missing".into())
        ));
    }
    match (shape.media_type, shape.manifests, shape.config) {
        (Some(m), _, _) => Ok(m),
        (None, Some(_), _) => Ok(OCI_INDEX.to_string()),
        (None, None, Some(_)) => Ok(OCI_MANIFEST.to_string()),
        (None, None, None) => Err("neither an index nor an image manifest".to_string()),
    }
}

/// [`Puller`] and [`Source`] are shared between tasks.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Puller>();
    is::<Source>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            OCI_INDEX
        );
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"config":{}}"#).unwrap(),
            OCI_MANIFEST
        );
        assert_eq!(
            media_type_of(
                format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}"}}"#).as_bytes()
            )
            .unwrap(),
            DOCKER_MANIFEST
        );
        assert!(media_type_of(br#"{"schemaVersion":1}"#).is_err());
        assert!(media_type_of(b"nope").is_err());
    }
}
