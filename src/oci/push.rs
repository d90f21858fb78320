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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use tokio::io::AsyncReadExt as _;

use super::auth::{self, Credentials};
use super::error::SetupError;
use super::resolve::{deepest, error_chain};
use super::retry::{RetryPolicy, parse_retry_after};

/// Blobs up to this size go in one `PUT`; bigger ones in `PATCH` chunks of this size. Memory per
/// upload in flight is bounded by it.
pub const CHUNK_SIZE: usize = 4 * 1024 * 1024;
/// The most a manifest may weigh when read back (as registries limit it).
const MAX_MANIFEST: usize = 4 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Manifest media types accepted when reading one back.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// How to reach the target registry.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Reach the registry over plain HTTP, or TLS without verification.
    pub insecure: bool,
    /// PEM files with CA certificates trusted in addition to the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Credentials; when absent, `auth_files` are searched for the registry.
    pub credentials: Option<Credentials>,
    /// Auth files to search (containers-auth.json / Docker config.json).
    pub auth_files: Vec<PathBuf>,
    /// Retries.
    pub retry: RetryPolicy,
}

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
    #[error("{registry}: cannot read credentials: {detail}")]
    Credentials {
        /// The registry.
        registry: String,
        /// What went wrong (never a secret).
        detail: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Unknown,
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

struct Token {
    value: String,
    expires: Instant,
}

struct AuthState {
    challenge: Challenge,
    tokens: HashMap<String, Token>,
}

/// One failed attempt: retried or not.
struct Attempt {
    error: PushError,
    transient: bool,
    retry_after: Option<Duration>,
}

impl Attempt {
    fn fatal(error: PushError) -> Self {
        Attempt {
            error,
            transient: false,
            retry_after: None,
        }
    }
}

impl From<PushError> for Attempt {
    fn from(error: PushError) -> Self {
        Attempt::fatal(error)
    }
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
}

impl std::fmt::Debug for PushClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushClient")
            .field("registry", &self.registry)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Which scopes a request needs (token auth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// None (`/v2/`, Harbor's API).
    None,
    /// `repository:REPO:pull`.
    Pull(String),
    /// `repository:REPO:pull,push`.
    Push(String),
    /// Push to the first, pull from the second (a cross-repository mount).
    Mount(String, String),
}

impl Scope {
    fn params(&self) -> Vec<String> {
        match self {
            Scope::None => Vec::new(),
            Scope::Pull(r) => vec![format!("repository:{r}:pull")],
            Scope::Push(r) => vec![format!("repository:{r}:pull,push")],
            Scope::Mount(to, from) => vec![
                format!("repository:{to}:pull,push"),
                format!("repository:{from}:pull"),
            ],
        }
    }

    fn action(&self) -> String {
        match self {
            Scope::None => "log in".to_string(),
            Scope::Pull(r) => format!("pull from repository {r}"),
            Scope::Push(r) => format!("push to repository {r}"),
            Scope::Mount(to, from) => format!("mount blobs from {from} into {to}"),
        }
    }
}

impl PushClient {
    /// A client for `registry` (`HOST[:PORT]`). `repository_hint` selects credentials in auth files
    /// that are stored per repository path (the project, typically).
    pub fn new(
        registry: &str,
        repository_hint: &str,
        options: &PushOptions,
    ) -> Result<Self, PushError> {
        let credentials =
            match &options.credentials {
                Some(c) => Some(c.clone()),
                None => auth::lookup(registry, repository_hint, &options.auth_files).map_err(
                    |detail| PushError::Credentials {
                        registry: registry.to_string(),
                        detail,
                    },
                )?,
            };
        let setup = |e: SetupError| PushError::Protocol {
            registry: registry.to_string(),
            what: "setting up the client".to_string(),
            detail: e.to_string(),
        };
        let mut roots = Vec::new();
        for path in &options.ca_files {
            let pem = std::fs::read(path).map_err(|e| {
                setup(SetupError::CaFile {
                    path: path.clone(),
                    source: e,
                })
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                setup(SetupError::Client {
                    message: format!("{}: {e}", path.display()),
                })
            })?;
            if certs.is_empty() {
                return Err(setup(SetupError::CaFileEmpty { path: path.clone() }));
            }
            roots.extend(certs);
        }
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .danger_accept_invalid_certs(insecure)
                .tls_certs_merge(roots.clone())
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .user_agent(concat!("bundle/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| {
                    setup(SetupError::Client {
                        message: error_chain(&e),
                    })
                })
        };
        let tls = build(options.insecure)?;
        let plain = if options.insecure {
            Some(build(true)?)
        } else {
            None
        };
        Ok(PushClient {
            registry: registry.to_string(),
            credentials,
            tls,
            plain,
            scheme: Mutex::new(if options.insecure {
                None
            } else {
                Some(Scheme::Https)
            }),
            auth: Mutex::new(AuthState {
                challenge: Challenge::Unknown,
                tokens: HashMap::new(),
            }),
            retry: options.retry,
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

    fn denied(&self, scope: &Scope, status: impl Into<String>) -> PushError {
        PushError::Denied {
            registry: self.registry.clone(),
            account: self.account().map(str::to_string),
            action: scope.action(),
            status: status.into(),
        }
    }

    fn base(&self) -> Result<(reqwest::Client, Url), PushError> {
        let scheme = self.scheme.lock().map(|s| *s).unwrap_or(None);
        let (client, s) = match (scheme, &self.plain) {
            (Some(Scheme::Http), Some(plain)) => (plain.clone(), "http"),
            _ => (self.tls.clone(), "https"),
        };
        let url =
            Url::parse(&format!("{s}://{}/", self.registry)).map_err(|e| PushError::Protocol {
                registry: self.registry.clone(),
                what: "the registry address".to_string(),
                detail: e.to_string(),
            })?;
        Ok((client, url))
    }

    fn url(&self, base: &Url, path: &str) -> Result<Url, PushError> {
        base.join(path).map_err(|e| PushError::Protocol {
            registry: self.registry.clone(),
            what: path.to_string(),
            detail: e.to_string(),
        })
    }

    /// Checks that the registry answers and that the credentials are accepted (exchanging them for a
    /// token when it wants tokens). For an insecure host, finds out whether it speaks TLS.
    pub async fn login(&self) -> Result<(), PushError> {
        self.with_retry("GET /v2/", || self.login_once()).await
    }

    async fn login_once(&self) -> Result<(), Attempt> {
        let known = self.scheme.lock().map(|s| *s).unwrap_or(None);
        let response = match (known, &self.plain) {
            (None, Some(plain)) => {
                let https = Url::parse(&format!("https://{}/v2/", self.registry))
                    .map_err(|e| self.protocol("GET /v2/", e.to_string()))?;
                match self.tls.get(https).send().await {
                    Ok(r) => {
                        self.set_scheme(Scheme::Https);
                        r
                    }
                    Err(tls_err) => {
                        let http = Url::parse(&format!("http://{}/v2/", self.registry))
                            .map_err(|e| self.protocol("GET /v2/", e.to_string()))?;
                        match plain.get(http).send().await {
                            Ok(r) => {
                                self.set_scheme(Scheme::Http);
                                r
                            }
                            Err(_) => return Err(self.network("GET /v2/", &tls_err)),
                        }
                    }
                }
            }
            _ => {
                let (client, base) = self.base()?;
                let url = self.url(&base, "v2/")?;
                client
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| self.network("GET /v2/", &e))?
            }
        };
        let status = response.status();
        if status.is_success() {
            self.set_challenge(Challenge::None);
            return Ok(());
        }
        if status != StatusCode::UNAUTHORIZED {
            return Err(self.status_error("GET /v2/", response).await);
        }
        let challenge = parse_challenge(response.headers());
        self.set_challenge(challenge.clone());
        match challenge {
            Challenge::Bearer { .. } => {
                if self.credentials.is_some() {
                    self.token(&Scope::None, true).await?;
                }
                Ok(())
            }
            Challenge::Basic => {
                if self.credentials.is_none() {
                    return Err(Attempt::fatal(
                        self.denied(&Scope::None, "401 Unauthorized"),
                    ));
                }
                let r = self.send(Method::GET, "v2/", &Scope::None, |b| b).await?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(self.status_error("GET /v2/", r).await)
                }
            }
            Challenge::None | Challenge::Unknown => Err(Attempt::fatal(self.protocol(
                "GET /v2/",
                "401 without a usable WWW-Authenticate challenge",
            ))),
        }
    }

    fn set_scheme(&self, s: Scheme) {
        if let Ok(mut g) = self.scheme.lock() {
            *g = Some(s);
        }
    }

    fn set_challenge(&self, c: Challenge) {
        if let Ok(mut g) = self.auth.lock() {
            g.challenge = c;
        }
    }

    fn challenge(&self) -> Challenge {
        self.auth
            .lock()
            .map(|g| g.challenge.clone())
            .unwrap_or(Challenge::Unknown)
    }

    /// A token for `scope`, from the cache unless `fresh` or expired.
    async fn token(&self, scope: &Scope, fresh: bool) -> Result<Option<String>, Attempt> {
        let Challenge::Bearer { realm, service } = self.challenge() else {
            return Ok(None);
        };
        let key = scope.params().join(" ");
        if !fresh {
            if let Ok(g) = self.auth.lock() {
                if let Some(t) = g.tokens.get(&key) {
                    if t.expires > Instant::now() {
                        return Ok(Some(t.value.clone()));
                    }
                }
            }
        }
        let what = "token request";
        let mut url = Url::parse(&realm).map_err(|e| {
            self.protocol(what, format!("the token realm `{realm}` is not a URL: {e}"))
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = &service {
                q.append_pair("service", s);
            }
            for p in scope.params() {
                q.append_pair("scope", &p);
            }
            if let Some(c) = &self.credentials {
                q.append_pair("account", &c.username);
            }
        }
        let client = if url.scheme() == "http" {
            self.plain.clone().unwrap_or_else(|| self.tls.clone())
        } else {
            self.tls.clone()
        };
        let mut req = client.get(url);
        if let Some(c) = &self.credentials {
            req = req.basic_auth(&c.username, Some(c.password.expose()));
        }
        let started = Instant::now();
        let response = req.send().await.map_err(|e| self.network(what, &e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let login = Scope::None;
            return Err(Attempt::fatal(self.denied(
                if matches!(scope, Scope::None) {
                    &login
                } else {
                    scope
                },
                format!("the token service answered {status}"),
            )));
        }
        if !status.is_success() {
            return Err(self.status_error(what, response).await);
        }
        let body = read_limited(response, 1024 * 1024)
            .await
            .map_err(|e| self.network(what, &e))?;
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            self.protocol(what, format!("the token service's answer is not JSON: {e}"))
        })?;
        let Some(value) = answer.token.or(answer.access_token) else {
            return Err(Attempt::fatal(
                self.protocol(what, "the token service's answer holds no token"),
            ));
        };
        // Expire early: a token used at the very end of its life may be refused mid-request.
        let life = Duration::from_secs(answer.expires_in.unwrap_or(60).max(1));
        let margin = (life / 10).min(Duration::from_secs(30));
        let expires = started + life - margin;
        if let Ok(mut g) = self.auth.lock() {
            g.tokens.insert(
                key,
                Token {
                    value: value.clone(),
                    expires,
                },
            );
        }
        Ok(Some(value))
    }

    fn forget_token(&self, scope: &Scope) {
        if let Ok(mut g) = self.auth.lock() {
            g.tokens.remove(&scope.params().join(" "));
        }
    }

    /// Sends one request with auth; on `401` learns the challenge, gets a fresh token and sends once more.
    /// `path` is relative to the registry root, or an absolute URL (an upload location).
    async fn send(
        &self,
        method: Method,
        path: &str,
        scope: &Scope,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, Attempt> {
        let what = format!("{method} {}", short_path(path));
        let (client, base) = self.base()?;
        let url = self.url(&base, path)?;
        let mut fresh = false;
        loop {
            let mut req = client.request(method.clone(), url.clone());
            match self.challenge() {
                Challenge::Bearer { .. } => {
                    if let Some(t) = self.token(scope, fresh).await? {
                        req = req.bearer_auth(t);
                    }
                }
                Challenge::Basic | Challenge::Unknown => {
                    if let Some(c) = &self.credentials {
                        req = req.basic_auth(&c.username, Some(c.password.expose()));
                    }
                }
                Challenge::None => {}
            }
            let response = build(req)
                .send()
                .await
                .map_err(|e| self.network(&what, &e))?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            let challenge = parse_challenge(response.headers());
            if fresh || matches!(challenge, Challenge::None | Challenge::Unknown) {
                return Err(Attempt::fatal(self.denied(scope, "401 Unauthorized")));
            }
            let switched = challenge != self.challenge();
            self.set_challenge(challenge);
            self.forget_token(scope);
            if !switched && self.credentials.is_none() {
                return Err(Attempt::fatal(self.denied(scope, "401 Unauthorized")));
            }
            fresh = true;
        }
    }

    async fn with_retry<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, PushError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            match op().await {
                Ok(v) => return Ok(v),
                Err(a) if a.transient && n < attempts => {
                    tokio::time::sleep(self.retry.delay(n, a.retry_after)).await;
                }
                Err(a) if a.transient => {
                    let detail = match a.error {
                        PushError::Unavailable { detail, .. } => detail,
                        other => other.to_string(),
                    };
                    return Err(PushError::Unavailable {
                        registry: self.registry.clone(),
                        what: what.to_string(),
                        detail,
                        attempts: n,
                    });
                }
                Err(a) => return Err(a.error),
            }
        }
    }

    fn protocol(&self, what: &str, detail: impl Into<String>) -> PushError {
        PushError::Protocol {
            registry: self.registry.clone(),
            what: what.to_string(),
            detail: detail.into(),
        }
    }

    fn network(&self, what: &str, e: &reqwest::Error) -> Attempt {
        let chain = error_chain(e);
        let lower = chain.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("unknownissuer") {
            return Attempt::fatal(PushError::Tls {
                registry: self.registry.clone(),
                detail: deepest(e),
            });
        }
        if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
            return Attempt::fatal(PushError::Unavailable {
                registry: self.registry.clone(),
                what: what.to_string(),
                detail: "the TLS handshake failed: the server does not speak TLS on this port \
                         (a plain-HTTP registry must be declared insecure)"
                    .to_string(),
                attempts: 1,
            });
        }
        Attempt {
            error: PushError::Unavailable {
                registry: self.registry.clone(),
                what: what.to_string(),
                detail: chain,
                attempts: 1,
            },
            transient: true,
            retry_after: None,
        }
    }

    /// An unexpected status: transient for 5xx/429 (with `Retry-After`), otherwise the registry's words.
    async fn status_error(&self, what: &str, response: Response) -> Attempt {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_limited(response, 64 * 1024).await.unwrap_or_default();
        let said = registry_words(&body);
        let transient = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
        let detail = if said.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {said}")
        };
        Attempt {
            error: if transient {
                PushError::Unavailable {
                    registry: self.registry.clone(),
                    what: what.to_string(),
                    detail,
                    attempts: 1,
                }
            } else if status == StatusCode::FORBIDDEN {
                PushError::Denied {
                    registry: self.registry.clone(),
                    account: self.account().map(str::to_string),
                    action: what.to_string(),
                    status: detail,
                }
            } else {
                self.protocol(what, detail)
            },
            transient,
            retry_after,
        }
    }

    /// Whether the blob is in the repository (`HEAD`).
    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, PushError> {
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
        digest: &str,
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

    /// Uploads a blob from a file, checking that the registry stored it under `digest`.
    pub async fn upload_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        file: &Path,
    ) -> Result<u64, PushError> {
        self.with_retry(&format!("upload {digest} to {repository}"), || {
            self.upload_once(repository, digest, size, file)
        })
        .await
    }

    async fn upload_once(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        file: &Path,
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
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let mut sent: u64 = 0;
        let mut last: Vec<u8> = Vec::new();
        // Chunks while more than one chunk remains; the rest goes with the closing PUT. A chunk is
        // held once (`Bytes`: a retry re-sends the same buffer, it does not copy it).
        while size - sent > CHUNK_SIZE as u64 {
            let mut buf = vec![0u8; CHUNK_SIZE];
            f.read_exact(&mut buf).await.map_err(io)?;
            let buf = bytes::Bytes::from(buf);
            let end = sent + CHUNK_SIZE as u64 - 1;
            let r = self
                .send(Method::PATCH, &loc, &scope, |b| {
                    b.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .header(reqwest::header::CONTENT_RANGE, format!("{sent}-{end}"))
                        .header(reqwest::header::CONTENT_LENGTH, CHUNK_SIZE.to_string())
                        .body(buf.clone())
                })
                .await?;
            if r.status() != StatusCode::ACCEPTED {
                return Err(self.status_error(&what, r).await);
            }
            loc = location(&r).unwrap_or(loc);
            sent += CHUNK_SIZE as u64;
        }
        let rest = usize::try_from(size - sent).unwrap_or(CHUNK_SIZE);
        last.resize(rest, 0);
        f.read_exact(&mut last).await.map_err(io)?;
        let last = bytes::Bytes::from(last);
        let put = with_query(&loc, "digest", digest)
            .ok_or_else(|| self.protocol(&what, format!("bad upload location `{loc}`")))?;
        let r = self
            .send(Method::PUT, &put, &scope, |b| {
                b.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, last.len().to_string())
                    .body(last.clone())
            })
            .await?;
        if r.status() != StatusCode::CREATED {
            return Err(self.status_error(&what, r).await);
        }
        if let Some(d) = header(&r, "docker-content-digest") {
            if d != digest {
                return Err(Attempt::fatal(
                    self.protocol(&what, format!("the registry stored the blob as {d}")),
                ));
            }
        }
        Ok(size)
    }

    /// Pushes a blob: skipped when present, mounted from `mount_from` when given and allowed,
    /// uploaded otherwise.
    pub async fn push_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        file: &Path,
        mount_from: Option<&str>,
    ) -> Result<BlobOutcome, PushError> {
        if self.blob_exists(repository, digest).await? {
            return Ok(BlobOutcome::Present);
        }
        if let Some(from) = mount_from {
            if self.mount_blob(repository, from, digest).await? {
                return Ok(BlobOutcome::Mounted);
            }
        }
        self.upload_blob(repository, digest, size, file)
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
                    b.header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
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
        let expected = super::sha256_digest(bytes);
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
                    b.header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
                })
                .await?;
            match r.status() {
                s if s.is_success() => {
                    let body = read_limited(r, MAX_MANIFEST)
                        .await
                        .map_err(|e| self.network(&what, &e))?;
                    Ok(Some(super::sha256_digest(&body)))
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

fn parse_challenge(headers: &HeaderMap) -> Challenge {
    let mut basic = false;
    for value in headers.get_all(reqwest::header::WWW_AUTHENTICATE) {
        let Ok(text) = value.to_str() else { continue };
        let text = text.trim();
        let (kind, params) = text.split_once(' ').unwrap_or((text, ""));
        if kind.eq_ignore_ascii_case("bearer") {
            let params = parse_params(params);
            if let Some(realm) = params.get("realm") {
                return Challenge::Bearer {
                    realm: realm.clone(),
                    service: params.get("service").cloned(),
                };
            }
        } else if kind.eq_ignore_ascii_case("basic") {
            basic = true;
        }
    }
    if basic {
        Challenge::Basic
    } else {
        Challenge::None
    }
}

/// `realm="…",service="…",scope="a,b"` → map (quoted values may hold commas).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.insert(key, value);
        rest = tail.trim_start_matches([',', ' ']);
    }
    out
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

fn location(r: &Response) -> Option<String> {
    header(r, "location").filter(|l| !l.is_empty())
}

/// Adds `key=value` to a location that may be relative (`/v2/…?_state=…`) or absolute.
fn with_query(location: &str, key: &str, value: &str) -> Option<String> {
    let (base, had_base) = if location.starts_with('/') {
        (
            Url::parse(&format!("http://placeholder{location}")).ok()?,
            false,
        )
    } else {
        (Url::parse(location).ok()?, true)
    };
    let mut url = base;
    url.query_pairs_mut().append_pair(key, value);
    if had_base {
        Some(url.to_string())
    } else {
        let mut s = url.path().to_string();
        if let Some(q) = url.query() {
            s.push('?');
            s.push_str(q);
        }
        Some(s)
    }
}

fn short_path(path: &str) -> String {
    let p = path.split('?').next().unwrap_or(path);
    p.chars().take(200).collect()
}

async fn read_limited(mut response: Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > limit {
            out.extend_from_slice(&chunk[..limit - out.len()]);
            break;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The registry's error envelope (`{"errors":[{"code","message"}]}`) as one line, or the body's start.
fn registry_words(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<Envelope>(body) {
        return e
            .errors
            .iter()
            .map(|i| format!("{}: {}", i.code, i.message))
            .collect::<Vec<_>>()
            .join("; ")
            .chars()
            .take(300)
            .collect();
    }
    String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(200)
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:a/b:pull,push""#,
            ),
        );
        assert_eq!(
            parse_challenge(&h),
            Challenge::Bearer {
                realm: "https://h/service/token".into(),
                service: Some("harbor-registry".into())
            }
        );
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="x""#),
        );
        assert_eq!(parse_challenge(&h), Challenge::Basic);
        assert_eq!(parse_challenge(&HeaderMap::new()), Challenge::None);
    }

    #[test]
    fn locations_get_a_digest() {
        assert_eq!(
            with_query("/v2/a/blobs/uploads/u?_state=x", "digest", "sha256:ab").unwrap(),
            "/v2/a/blobs/uploads/u?_state=x&digest=sha256%3Aab"
        );
        assert_eq!(
            with_query("http://h:5000/v2/a/blobs/uploads/u", "digest", "d").unwrap(),
            "http://h:5000/v2/a/blobs/uploads/u?digest=d"
        );
    }

    #[test]
    fn scopes() {
        assert_eq!(
            Scope::Mount("p/a".into(), "p/b".into()).params(),
            ["repository:p/a:pull,push", "repository:p/b:pull"]
        );
    }

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
