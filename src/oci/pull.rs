//! Pulling manifests and blobs by digest, for `bundle export`.
//!
//! A [`Puller`] reaches registries exactly as the [`Resolver`](super::Resolver) does (mirrors, insecure
//! hosts, extra CA certificates, credentials given or looked up in auth files). Manifests come back as
//! the exact bytes the registry served, with their media type, checked against the digest they were
//! asked by. Blobs are streamed into any [`AsyncWrite`] as they arrive: the caller hashes and stores them
//! (nothing holds a whole blob in memory); oci-client checks the digest, this module the size.
//!
//! Everything here is safe to share between tasks: one [`Puller`] serves every concurrent pull.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::io::AsyncWrite;

use super::auth::{self, Credentials};
use super::error::{ResolveError, SetupError};
use super::reference::locate;
use super::resolve::RegistryOptions;

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

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

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

/// One registry with one set of credentials.
struct Host {
    registry: String,
    auth: RegistryAuth,
    tls: Client,
    plain: Option<Client>,
    /// 0 unknown, 1 https, 2 http.
    scheme: AtomicU8,
}

impl Host {
    fn client(&self) -> &Client {
        match (&self.plain, self.scheme.load(Ordering::SeqCst)) {
            (Some(plain), 2) => plain,
            _ => &self.tls,
        }
    }
}

/// A registry and the credentials used there.
type HostKey = (String, Option<Credentials>);

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
        let mut roots = Vec::new();
        for path in &options.ca_files {
            let text = std::fs::read_to_string(path).map_err(|source| SetupError::CaFile {
                path: path.clone(),
                source,
            })?;
            let found = pem_certificates(&text);
            if found.is_empty() {
                return Err(SetupError::CaFileEmpty { path: path.clone() });
            }
            roots.extend(found.into_iter().map(|data| Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            }));
        }
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
        let creds = match &self.options.credentials {
            Some(c) => Some(c.clone()),
            None => auth::lookup(
                located.fetch.resolve_registry(),
                located.fetch.repository(),
                &self.options.auth_files,
            )
            .map_err(|detail| ResolveError::Credentials {
                registry: registry.clone(),
                detail,
            })?,
        };
        let key = (registry.clone(), creds);
        let mut hosts = self.hosts.lock().map_err(|_| ResolveError::Protocol {
            registry: registry.clone(),
            fetched: located.fetch_text.clone(),
            detail: "internal error: client table poisoned".to_string(),
        })?;
        let host = match hosts.iter().find(|(k, _)| k == &key) {
            Some((_, h)) => h.clone(),
            None => {
                let insecure = self.is_insecure(&registry);
                let setup = |e: SetupError| ResolveError::Protocol {
                    registry: registry.clone(),
                    fetched: located.fetch_text.clone(),
                    detail: e.to_string(),
                };
                let auth = match &key.1 {
                    Some(c) => {
                        RegistryAuth::Basic(c.username.clone(), c.password.expose().to_string())
                    }
                    None => RegistryAuth::Anonymous,
                };
                let host = Arc::new(Host {
                    registry: registry.clone(),
                    auth,
                    tls: self
                        .client(ClientProtocol::Https, insecure)
                        .map_err(setup)?,
                    plain: if insecure {
                        Some(self.client(ClientProtocol::Http, true).map_err(setup)?)
                    } else {
                        None
                    },
                    scheme: AtomicU8::new(0),
                });
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

    fn is_insecure(&self, registry: &str) -> bool {
        let host = host_part(registry);
        self.options
            .insecure
            .iter()
            .map(|i| i.trim_end_matches('/'))
            .map(|i| {
                i.strip_prefix("http://")
                    .or_else(|| i.strip_prefix("https://"))
                    .unwrap_or(i)
            })
            .any(|i| i == registry || (host_part(i) == i && i == host))
    }

    fn client(&self, protocol: ClientProtocol, insecure: bool) -> Result<Client, SetupError> {
        let config = ClientConfig {
            protocol,
            accept_invalid_certificates: insecure,
            extra_root_certificates: self.roots.clone(),
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            platform_resolver: None,
            user_agent: concat!("bundle/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        Client::try_from(config).map_err(|e| SetupError::Client {
            message: e.to_string(),
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

    /// Streams blob `digest` (of `size` bytes) of `source`'s repository into `out`, checking size and
    /// digest on the way. `out` sees every byte; on error it may hold a prefix (the caller discards it).
    pub async fn blob<W: AsyncWrite + Unpin>(
        &self,
        source: &Source,
        digest: &str,
        size: u64,
        out: W,
    ) -> Result<(), PullError> {
        let host = &source.host;
        let fetched = format!("{}@{digest}", source.fetched_repository());
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
        let mut checker = Checked {
            inner: out,
            written: 0,
            limit: size,
            overflow: false,
        };
        let result = host
            .client()
            .pull_blob(&source.fetch, digest, &mut checker)
            .await;
        let overflow = checker.overflow;
        let written = checker.written;
        match result {
            Ok(()) => {}
            Err(_) if overflow => {
                return Err(PullError::SizeMismatch {
                    fetched,
                    digest: digest.to_string(),
                    expected: size,
                    actual: written,
                });
            }
            Err(OciDistributionError::DigestError(DigestError::VerificationError {
                actual,
                ..
            })) => {
                return Err(PullError::DigestMismatch {
                    fetched,
                    digest: digest.to_string(),
                    actual,
                });
            }
            Err(OciDistributionError::IoError(source)) => {
                return Err(PullError::Write {
                    fetched,
                    digest: digest.to_string(),
                    source,
                });
            }
            Err(e) => return Err(PullError::Registry(classify(e, host, &fetched))),
        }
        if written != size {
            return Err(PullError::SizeMismatch {
                fetched,
                digest: digest.to_string(),
                expected: size,
                actual: written,
            });
        }
        // oci-client has checked the digest of the stream (and the registry's `Docker-Content-Digest`);
        // the writer (the layout) hashes what it stored and checks it again before naming it.
        Ok(())
    }
}

impl Source {
    /// `registry/repository` as fetched (no tag or digest).
    fn fetched_repository(&self) -> String {
        format!("{}/{}", self.fetch.registry(), self.fetch.repository())
    }
}

/// Runs `op` with the host's client; for an insecure host whose scheme is not known yet, TLS without
/// verification first, then plain HTTP, remembering which one answered.
async fn with_scheme<'a, T, F, Fut>(host: &'a Host, op: F) -> Result<T, OciDistributionError>
where
    F: Fn(&'a Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
{
    let Some(plain) = &host.plain else {
        return op(&host.tls).await;
    };
    match host.scheme.load(Ordering::SeqCst) {
        1 => op(&host.tls).await,
        2 => op(plain).await,
        _ => match op(&host.tls).await {
            Err(OciDistributionError::RequestError(tls_err)) => match op(plain).await {
                Err(OciDistributionError::RequestError(_)) => {
                    Err(OciDistributionError::RequestError(tls_err))
                }
                other => {
                    host.scheme.store(2, Ordering::SeqCst);
                    other
                }
            },
            other => {
                host.scheme.store(1, Ordering::SeqCst);
                other
            }
        },
    }
}

/// A writer that counts and refuses bytes past the expected size.
struct Checked<W> {
    inner: W,
    written: u64,
    limit: u64,
    overflow: bool,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Checked<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.written.saturating_add(buf.len() as u64) > this.limit {
            this.overflow = true;
            this.written = this.written.saturating_add(buf.len() as u64);
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "more bytes than the descriptor's size",
            )));
        }
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.written += n.min(buf.len()) as u64;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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

/// Turns a client error into one that names the registry (as `pin` reports them).
fn classify(e: OciDistributionError, host: &Host, fetched: &str) -> ResolveError {
    let registry = host.registry.clone();
    let anonymous = matches!(host.auth, RegistryAuth::Anonymous);
    let unauthorized = |status: &str| ResolveError::Unauthorized {
        registry: registry.clone(),
        fetched: fetched.to_string(),
        status: status.to_string(),
        anonymous,
    };
    let not_found = || ResolveError::NotFound {
        registry: registry.clone(),
        fetched: fetched.to_string(),
    };
    let protocol = |detail: String| ResolveError::Protocol {
        registry: registry.clone(),
        fetched: fetched.to_string(),
        detail,
    };
    match e {
        OciDistributionError::UnauthorizedError { .. } => unauthorized("401 Unauthorized"),
        OciDistributionError::AuthenticationFailure(_) => {
            unauthorized("the token service refused the credentials")
        }
        OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.contains(&&OciErrorCode::Unauthorized) {
                unauthorized("401 Unauthorized")
            } else if codes.contains(&&OciErrorCode::Denied) {
                unauthorized("403 Forbidden")
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::BlobUnknown
                )
            }) {
                not_found()
            } else {
                let msgs: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}: {}", e.code, e.message))
                    .collect();
                protocol(format!("the registry answered: {}", msgs.join("; ")))
            }
        }
        OciDistributionError::ServerError { code, message, .. } => match code {
            401 => unauthorized("401 Unauthorized"),
            403 => unauthorized("403 Forbidden"),
            404 => not_found(),
            _ => protocol(format!(
                "HTTP {code}: {}",
                message.trim().chars().take(200).collect::<String>()
            )),
        },
        OciDistributionError::RequestError(err) => {
            let chain = error_chain(&err);
            let lower = chain.to_ascii_lowercase();
            if lower.contains("certificate") || lower.contains("unknownissuer") {
                ResolveError::Tls {
                    registry,
                    detail: deepest(&err),
                }
            } else if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
                ResolveError::Unreachable {
                    registry,
                    detail: "the TLS handshake failed: the server does not speak TLS on this port \
                             (a plain-HTTP registry must be declared insecure)"
                        .to_string(),
                }
            } else if err.is_connect() || err.is_timeout() {
                ResolveError::Unreachable {
                    registry,
                    detail: deepest(&err),
                }
            } else {
                ResolveError::Unreachable {
                    registry,
                    detail: chain,
                }
            }
        }
        other => protocol(other.to_string()),
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

fn deepest(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

fn host_part(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry
            .find(']')
            .map(|i| &registry[..=i])
            .unwrap_or(registry);
    }
    registry
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(registry)
}

/// The `-----BEGIN CERTIFICATE-----` blocks of a PEM file, each as its own PEM text.
fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        let mut block = rest[start..end].to_string();
        block.push('\n');
        out.push(block.into_bytes());
        rest = &rest[end..];
    }
    out
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

    #[test]
    fn insecure_hosts() {
        let p = Puller::new(RegistryOptions {
            insecure: vec!["127.0.0.1:5001".into(), "mirror.local".into()],
            ..RegistryOptions::default()
        })
        .unwrap();
        assert!(p.is_insecure("127.0.0.1:5001"));
        assert!(!p.is_insecure("127.0.0.1:5002"));
        assert!(p.is_insecure("mirror.local:443"));
    }

    #[tokio::test]
    async fn checked_writer_refuses_overflow() {
        use tokio::io::AsyncWriteExt as _;
        let mut sink = Vec::new();
        let mut c = Checked {
            inner: &mut sink,
            written: 0,
            limit: 3,
            overflow: false,
        };
        c.write_all(b"abc").await.unwrap();
        assert!(c.write_all(b"d").await.is_err());
        assert!(c.overflow);
    }
}
