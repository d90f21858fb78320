//! Pushing to one registry: blobs (streamed from disk), manifests by digest, tags, cross-repository
//! mounts, Harbor projects. Speaks the OCI distribution API directly, because the mirror needs what a
//! general client hides: `Retry-After`, the difference between `201` and `202` on a mount, tokens for
//! several scopes at once, and re-authentication when a token expires in the middle of a long push.
//!
//! Auth follows the registry's challenge on `GET /v2/`: none, HTTP Basic, or Bearer tokens from the
//! realm it names (Harbor's `/service/token`, distribution's token auth), fetched with the credentials
//! as Basic auth (a robot account `robot$name` is just a user name). Tokens are cached per scope until
//! they expire; a `401` on a cached token fetches a new one once before giving up.
//!
//! Every operation is retried (see [`RetryPolicy`]) on connection errors, `5xx` and `429`.

pub(super) mod read;
pub(super) mod session;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

/// The largest piece of a file read at a time into an upload's body.
const BODY_PIECE: usize = 256 * 1024;

pub use self::session::Scope;
use self::session::{
    Attempt, AuthState, Challenge, Scheme, header, location, read_limited, with_query,
};
use super::auth::{CredentialError, Credentials};
use super::error::SetupError;
use super::error::error_chain;
use super::retry::RetryPolicy;
use super::{CONNECT_TIMEOUT, USER_AGENT};
use crate::oci::media_types::MANIFEST_MEDIA_TYPES;
use crate::types::Digest;

/// Blobs up to this size go in one `PUT`; bigger ones in `PATCH` chunks of this size. Memory per
/// upload in flight is bounded by it.
pub const CHUNK_SIZE: usize = 4 * 1024 * 1024;
/// How long a read may stall before a push request fails, unless the run says otherwise.
pub(super) const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A push operation failed. Names the registry and what was being done; never a credential.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// The registry refused the credentials, or the account may not do this.
    #[error("{registry}: {} may not {action} ({status})", account_text(.account))]
    Denied {
        /// The registry.
        registry: String,
        /// The account (user name), `None` when anonymous.
        account: Option<String>,
        /// What it may not do (`push to repository platform/x`, `log in`, `create projects`).
        action: String,
        /// `401 Unauthorized`, `403 Forbidden`, or the token service's answer.
        status: String,
    },
    /// The registry's TLS certificate could not be verified.
    #[error("{registry}: TLS certificate verification failed: {detail}")]
    Tls {
        /// The registry.
        registry: String,
        /// The TLS library's words.
        detail: String,
    },
    /// No answer, after every retry (connection refused or reset, timeouts, 5xx, 429).
    #[error("{registry}: {what}: {detail} (gave up after {attempts} attempt(s))")]
    Unavailable {
        /// The registry.
        registry: String,
        /// What was being done.
        what: String,
        /// The last error.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The registry answered something this client cannot use, or refused the content.
    #[error("{registry}: {what}: {detail}")]
    Protocol {
        /// The registry.
        registry: String,
        /// What was being done.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A local file could not be read.
    #[error("{}: {detail}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The credentials could not be looked up.
    #[error("{registry}: cannot read credentials: {source}")]
    Credentials {
        /// The registry.
        registry: String,
        /// What went wrong (never a secret).
        source: CredentialError,
    },
}

fn account_text(account: &Option<String>) -> String {
    match account {
        Some(a) => format!("account `{a}`"),
        None => "an anonymous client (no credentials given)".to_string(),
    }
}

impl PushError {
    /// Whether the error is about credentials or permissions.
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            PushError::Denied { .. } | PushError::Credentials { .. }
        )
    }
}

/// How a blob got to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// It was there already.
    Present,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Uploaded (this many bytes).
    Uploaded(u64),
}

/// What `create_project` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectOutcome {
    /// Created (201).
    Created,
    /// It existed already (409).
    Exists,
}

/// A client that pushes to one registry.
pub struct PushClient {
    registry: String,
    credentials: Option<Credentials>,
    tls: reqwest::Client,
    plain: Option<reqwest::Client>,
    scheme: Mutex<Option<Scheme>>,
    auth: Mutex<AuthState>,
    retry: RetryPolicy,
    /// Manifest media types accepted when reading one back.
    accept: HeaderValue,
}

impl std::fmt::Debug for PushClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushClient")
            .field("registry", &self.registry)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl PushClient {
    /// A client for `registry` (`HOST[:PORT]`) with `credentials`; `insecure`: plain HTTP or TLS
    /// without verification; `roots`: CA certificates trusted besides the system's. Built by
    /// [`super::Registries::push_client`], which looks the credentials up.
    pub(super) fn new(
        registry: &str,
        credentials: Option<Credentials>,
        insecure: bool,
        roots: &[reqwest::Certificate],
        retry: RetryPolicy,
        read_timeout: std::time::Duration,
    ) -> Result<Self, SetupError> {
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .danger_accept_invalid_certs(insecure)
                .tls_certs_merge(roots.to_vec())
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(read_timeout)
                .user_agent(USER_AGENT)
                .build()
                .map_err(|e| SetupError::Client {
                    message: error_chain(&e),
                })
        };
        let tls = build(insecure)?;
        let plain = if insecure { Some(build(true)?) } else { None };
        Ok(PushClient {
            registry: registry.to_string(),
            credentials,
            tls,
            plain,
            scheme: Mutex::new(if insecure { None } else { Some(Scheme::Https) }),
            auth: Mutex::new(AuthState {
                challenge: Challenge::Unknown,
                tokens: HashMap::new(),
            }),
            retry,
            accept: HeaderValue::from_str(&MANIFEST_MEDIA_TYPES.join(", "))
                .unwrap_or_else(|_| HeaderValue::from_static("*/*")),
        })
    }

    /// The registry (`HOST[:PORT]`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The account used, if any (a user name, never the secret).
    pub fn account(&self) -> Option<&str> {
        self.credentials.as_ref().map(|c| c.username.as_str())
    }

    /// Whether the blob is in the repository (`HEAD`).
    pub async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, PushError> {
        let path = format!("v2/{repository}/blobs/{digest}");
        let scope = Scope::Push(repository.to_string());
        self.with_retry(&format!("HEAD {path}"), || async {
            let r = self.send(Method::HEAD, &path, &scope, |b| b).await?;
            match r.status() {
                s if s.is_success() => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                StatusCode::FORBIDDEN => Err(Attempt::fatal(self.denied(&scope, "403 Forbidden"))),
                _ => Err(self.status_error(&format!("HEAD {path}"), r).await),
            }
        })
        .await
    }

    /// Mounts a blob from another repository of this registry. `Ok(false)` when the registry does not
    /// (a `202`, or Harbor's `401` for a source the account may not pull): upload it then.
    pub async fn mount_blob(
        &self,
        repository: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<bool, PushError> {
        let path = format!("v2/{repository}/blobs/uploads/?mount={digest}&from={from}");
        let scope = Scope::Mount(repository.to_string(), from.to_string());
        let result = self
            .with_retry(&format!("mount {digest} into {repository}"), || async {
                let r = self
                    .send(Method::POST, &path, &scope, |b| {
                        b.header(reqwest::header::CONTENT_LENGTH, "0")
                    })
                    .await?;
                match r.status() {
                    StatusCode::CREATED => Ok(true),
                    s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                        Err(self.status_error("mount", r).await)
                    }
                    StatusCode::ACCEPTED => {
                        // An upload session was opened instead: cancel it (best effort).
                        if let Some(loc) = location(&r) {
                            let _ = self.send(Method::DELETE, &loc, &scope, |b| b).await;
                        }
                        Ok(false)
                    }
                    _ => Ok(false),
                }
            })
            .await;
        match result {
            Err(PushError::Denied { .. }) => Ok(false),
            other => other,
        }
    }

    /// Uploads a blob from a file (its `size` bytes from `offset`: a blob file, or an entry of an
    /// archive read in place), checking that the registry stored it under `digest`.
    pub async fn upload_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        file: &Path,
        offset: u64,
    ) -> Result<u64, PushError> {
        self.with_retry(&format!("upload {digest} to {repository}"), || {
            self.upload_once(repository, digest, size, file, offset)
        })
        .await
    }

    async fn upload_once(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        file: &Path,
        offset: u64,
    ) -> Result<u64, Attempt> {
        let scope = Scope::Push(repository.to_string());
        let what = format!("upload {digest} to {repository}");
        let io = |e: std::io::Error| {
            Attempt::fatal(PushError::Io {
                path: file.to_path_buf(),
                detail: e.to_string(),
            })
        };
        let r = self
            .send(
                Method::POST,
                &format!("v2/{repository}/blobs/uploads/"),
                &scope,
                |b| b.header(reqwest::header::CONTENT_LENGTH, "0"),
            )
            .await?;
        if r.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(&what, r).await);
        }
        let mut loc =
            location(&r).ok_or_else(|| self.protocol(&what, "202 without a Location header"))?;
        // The file must hold the whole range; a read failing later fails the request (retried).
        let have = std::fs::metadata(file).map_err(io)?.len();
        if have < offset.saturating_add(size) {
            return Err(io(std::io::Error::other(format!(
                "{have} bytes, too short for {size} bytes from offset {offset}"
            ))));
        }
        let mut sent: u64 = 0;
        // Chunks while more than one chunk remains; the rest goes with the closing PUT. Every body is
        // streamed from the file in pieces (memory stays flat whatever the chunk size); a resend
        // after a 401 reads the same range again.
        while size - sent > CHUNK_SIZE as u64 {
            let end = sent + CHUNK_SIZE as u64 - 1;
            let at = offset + sent;
            let r = self
                .send(Method::PATCH, &loc, &scope, |b| {
                    b.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .header(reqwest::header::CONTENT_RANGE, format!("{sent}-{end}"))
                        .header(reqwest::header::CONTENT_LENGTH, CHUNK_SIZE.to_string())
                        .body(file_body(file, at, CHUNK_SIZE as u64))
                })
                .await?;
            if r.status() != StatusCode::ACCEPTED {
                return Err(self.status_error(&what, r).await);
            }
            loc = location(&r).unwrap_or(loc);
            sent += CHUNK_SIZE as u64;
        }
        let rest = size - sent;
        let at = offset + sent;
        let put = with_query(&loc, "digest", digest.as_str())
            .ok_or_else(|| self.protocol(&what, format!("bad upload location `{loc}`")))?;
        let r = self
            .send(Method::PUT, &put, &scope, |b| {
                b.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, rest.to_string())
                    .body(file_body(file, at, rest))
            })
            .await?;
        if r.status() != StatusCode::CREATED {
            return Err(self.status_error(&what, r).await);
        }
        if let Some(d) = header(&r, "docker-content-digest")
            && d != digest.as_str()
        {
            return Err(Attempt::fatal(
                self.protocol(&what, format!("the registry stored the blob as {d}")),
            ));
        }
        Ok(size)
    }

    /// Pushes a blob: skipped when present, mounted from `mount_from` when given and allowed,
    /// uploaded otherwise.
    pub async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        file: &Path,
        mount_from: Option<&str>,
    ) -> Result<BlobOutcome, PushError> {
        if self.blob_exists(repository, digest).await? {
            return Ok(BlobOutcome::Present);
        }
        if let Some(from) = mount_from
            && self.mount_blob(repository, from, digest).await?
        {
            return Ok(BlobOutcome::Mounted);
        }
        self.upload_blob(repository, digest, size, file, 0)
            .await
            .map(BlobOutcome::Uploaded)
    }

    /// The digest the registry serves for `reference` (a tag or digest), `None` when absent (`HEAD`).
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, PushError> {
        let path = format!("v2/{repository}/manifests/{reference}");
        let scope = Scope::Push(repository.to_string());
        let what = format!("HEAD {path}");
        self.with_retry(&what, || async {
            let r = self
                .send(Method::HEAD, &path, &scope, |b| {
                    b.header(reqwest::header::ACCEPT, self.accept.clone())
                })
                .await?;
            match r.status() {
                s if s.is_success() => Ok(Some(
                    header(&r, "docker-content-digest").unwrap_or_default(),
                )),
                StatusCode::NOT_FOUND => Ok(None),
                _ => Err(self.status_error(&what, r).await),
            }
        })
        .await
    }

    /// Pushes manifest bytes as they are, under `reference` (a digest or a tag), with their media type.
    pub async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), PushError> {
        let path = format!("v2/{repository}/manifests/{reference}");
        let scope = Scope::Push(repository.to_string());
        let what = format!("PUT {path}");
        let expected = Digest::sha256_of(bytes).to_string();
        let content_type = HeaderValue::from_str(media_type)
            .map_err(|_| self.protocol(&what, format!("media type `{media_type}`")))?;
        self.with_retry(&what, || async {
            let r = self
                .send(Method::PUT, &path, &scope, |b| {
                    b.header(reqwest::header::CONTENT_TYPE, content_type.clone())
                        .body(bytes.to_vec())
                })
                .await?;
            if r.status() != StatusCode::CREATED {
                return Err(self.status_error(&what, r).await);
            }
            match header(&r, "docker-content-digest") {
                Some(d) if d != expected => Err(Attempt::fatal(self.protocol(
                    &what,
                    format!("the registry stored it as {d}, not {expected}"),
                ))),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Reads a manifest back and returns the digest of the bytes served (`GET`); `None` when absent.
    pub async fn fetch_manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, PushError> {
        let path = format!("v2/{repository}/manifests/{reference}");
        let scope = Scope::Pull(repository.to_string());
        let what = format!("GET {path}");
        self.with_retry(&what, || async {
            let r = self
                .send(Method::GET, &path, &scope, |b| {
                    b.header(reqwest::header::ACCEPT, self.accept.clone())
                })
                .await?;
            match r.status() {
                s if s.is_success() => {
                    let body = read_limited(r, crate::oci::max_manifest_bytes() as usize)
                        .await
                        .map_err(|e| self.network(&what, &e))?;
                    Ok(Some(Digest::sha256_of(&body).to_string()))
                }
                StatusCode::NOT_FOUND => Ok(None),
                _ => Err(self.status_error(&what, r).await),
            }
        })
        .await
    }

    /// Creates a private Harbor project (`POST /api/v2.0/projects`, Basic auth).
    pub async fn create_project(&self, project: &str) -> Result<ProjectOutcome, PushError> {
        let what = format!("create Harbor project {project}");
        self.with_retry(&what, || async {
            let (client, base) = self.base()?;
            let url = self.url(&base, "api/v2.0/projects")?;
            let body =
                serde_json::json!({"project_name": project, "metadata": {"public": "false"}});
            let mut req = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
            if let Some(c) = &self.credentials {
                req = req.basic_auth(&c.username, Some(c.password.expose()));
            }
            let r = req.send().await.map_err(|e| self.network(&what, &e))?;
            match r.status() {
                StatusCode::CREATED => Ok(ProjectOutcome::Created),
                StatusCode::CONFLICT => Ok(ProjectOutcome::Exists),
                s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                    Err(Attempt::fatal(PushError::Denied {
                        registry: self.registry.clone(),
                        account: self.account().map(str::to_string),
                        action: "create projects".to_string(),
                        status: s.to_string(),
                    }))
                }
                StatusCode::NOT_FOUND => Err(Attempt::fatal(self.protocol(
                    &what,
                    "404: this registry has no Harbor API (create the project by other means)",
                ))),
                _ => Err(self.status_error(&what, r).await),
            }
        })
        .await
    }
}

/// A request body of `len` bytes of `file` from `offset`, read in pieces of at most [`BODY_PIECE`] as
/// the connection takes them: never held whole.
fn file_body(file: &Path, offset: u64, len: u64) -> reqwest::Body {
    let path = file.to_path_buf();
    let pieces = futures_util::stream::try_unfold((None, len), move |(f, left)| {
        let path = path.clone();
        async move {
            if left == 0 {
                return Ok(None);
            }
            let mut f: tokio::fs::File = match f {
                Some(f) => f,
                None => {
                    let mut f = tokio::fs::File::open(&path).await?;
                    f.seek(std::io::SeekFrom::Start(offset)).await?;
                    f
                }
            };
            let n = left.min(BODY_PIECE as u64) as usize;
            let mut buf = vec![0u8; n];
            f.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(Some((bytes::Bytes::from(buf), (Some(f), left - n as u64))))
        }
    });
    reqwest::Body::wrap_stream(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_show_secrets() {
        let e = PushError::Denied {
            registry: "r".into(),
            account: Some("robot$ci".into()),
            action: "push to repository p/x".into(),
            status: "401 Unauthorized".into(),
        };
        assert_eq!(
            e.to_string(),
            "r: account `robot$ci` may not push to repository p/x (401 Unauthorized)"
        );
    }
}
