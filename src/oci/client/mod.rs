//! The one registry client setup of a run: [`Registries`], built once from [`RegistryOptions`] and
//! shared by every task that resolves, pulls or pushes.
//!
//! - **TLS**: CA files are read once; every host is verified except the ones named insecure (plain
//!   HTTP, or TLS without verification, for that host only).
//! - **Mirrors**: [`RegistryMirror`] rewrites a source registry to another host and path, as
//!   containerd's `hosts.toml` does; the lock keeps the upstream references.
//! - **Credentials**: given for every registry, or looked up in auth files (containers/Docker format,
//!   credential helpers included), each file read once and each helper asked once per run.
//! - **Clients**: one conversation per registry and credentials, kept for the run, speaks the
//!   distribution API itself ([`PushClient`]: scheme, auth challenges, tokens per scope): pushes, and
//!   the reads of pulls ([`Source`]: resolve a tag, manifests, blobs), because retries need what a
//!   general client hides (every status, `Retry-After`, the token service's own failures); the
//!   referrers lookups (`referrers`) too.
//! - **Plain HTTP(S)** downloads (a classic chart repository's `index.yaml` and `.tgz`, release
//!   manifests) go through the same options, with [`UrlMirror`]s instead of registry mirrors (see
//!   `http`).
//!
//! Nothing here prints, and nothing here starts a runtime: the caller's job runner drives the futures.

mod auth;
mod error;
mod host;
mod http;
mod mirror;
mod pull;
mod push;
mod referrers;
mod retry;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use auth::{CredentialError, Credentials, EntryProblem, Password};
pub use error::{ResolveError, SetupError};
pub use http::{Downloaded, UrlMirror, UrlMirrorParseError};
pub use mirror::{RegistryMirror, RegistryMirrorParseError};
pub use pull::{PullError, Pulled, Source};
pub use push::{BlobOutcome, CHUNK_SIZE, ProjectOutcome, PushClient, PushError, Scope};
pub use retry::RetryPolicy;

use self::auth::CredentialStore;
use self::host::{Host, is_insecure, pem_certificates};
use self::mirror::locate;
use crate::types::ImageRef;

/// How long a connection may take to open.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("bundle/", env!("CARGO_PKG_VERSION"));

/// How registries are reached.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Per-registry rewrites, first match wins.
    pub mirrors: Vec<RegistryMirror>,
    /// URL prefix rewrites for HTTP(S) downloads, longest match wins.
    pub url_mirrors: Vec<UrlMirror>,
    /// Hosts (`HOST` or `HOST:PORT`, as contacted after mirroring) reached over plain HTTP or TLS
    /// without verification. Every other host is verified.
    pub insecure: Vec<String>,
    /// PEM files with CA certificates trusted in addition to the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Credentials for every registry contacted; when absent, the auth files are searched.
    pub credentials: Option<Credentials>,
    /// Auth files to search, in order (missing ones are skipped).
    pub auth_files: Vec<PathBuf>,
    /// How every request is retried (resolve, pull, push, token fetch, downloads).
    pub retry: RetryPolicy,
    /// How long a request may wait for the next bytes before it fails (and is retried); `None`:
    /// 60 s for pulls, 120 s for pushes (a registry may take a while to answer a large upload).
    pub read_timeout: Option<Duration>,
}

/// The registry clients of one run (see the module docs); share it between tasks (`Send + Sync`).
pub struct Registries {
    options: RegistryOptions,
    /// The extra CA certificates, one PEM block each.
    roots: Vec<Vec<u8>>,
    credentials: CredentialStore,
    /// The registry conversations of pulls, by registry and credentials.
    hosts: Mutex<Vec<(HostKey, Arc<Host>)>>,
    /// The HTTP clients for downloads, built on first use.
    http: http::HttpSlot,
}

/// A registry and the credentials used there: the key under which a [`Host`] is shared.
type HostKey = (String, Option<Credentials>);

impl std::fmt::Debug for Registries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registries")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Registries {
    /// Checks the options and reads the CA files (no network).
    pub fn new(options: RegistryOptions) -> Result<Registries, SetupError> {
        let mut roots = Vec::new();
        for path in &options.ca_files {
            let text = crate::input::read_text(path, crate::input::Kind::CaFile).map_err(|e| {
                SetupError::CaFile {
                    path: path.clone(),
                    source: e.into_io(),
                }
            })?;
            let blocks = pem_certificates(&text);
            if blocks.is_empty() {
                return Err(SetupError::CaFileEmpty { path: path.clone() });
            }
            for block in &blocks {
                reqwest::Certificate::from_pem(block).map_err(|e| SetupError::Client {
                    message: format!("{}: {e}", path.display()),
                })?;
            }
            roots.extend(blocks);
        }
        let credentials =
            CredentialStore::new(options.credentials.clone(), options.auth_files.clone());
        Ok(Registries {
            options,
            roots,
            credentials,
            hosts: Mutex::new(Vec::new()),
            http: http::HttpSlot::new(),
        })
    }

    /// The options it was built from.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Whether `host` (as contacted) is reached without TLS verification.
    pub fn is_insecure(&self, host: &str) -> bool {
        is_insecure(&self.options.insecure, host)
    }

    /// Where `reference` is fetched from after mirroring (no network).
    pub fn fetched_as(&self, reference: &ImageRef) -> Result<String, ResolveError> {
        locate(reference, &self.options.mirrors).map(|l| l.fetch_text)
    }

    /// Where `reference` is fetched from, with the client and credentials for it (no network).
    pub fn source(&self, reference: &ImageRef) -> Result<Source, ResolveError> {
        let located = locate(reference, &self.options.mirrors)?;
        let registry = located.fetch.registry().to_string();
        let credentials = self
            .credentials
            .lookup(
                mirror::api_host(located.fetch.registry()),
                located.fetch.repository(),
            )
            .map_err(|source| ResolveError::Credentials {
                registry: registry.clone(),
                source,
            })?;
        let key: HostKey = (registry.clone(), credentials);
        let internal = |detail: String| ResolveError::Protocol {
            registry: registry.clone(),
            fetched: located.fetch_text.clone(),
            detail,
        };
        let mut hosts = self
            .hosts
            .lock()
            .map_err(|_| internal("internal error: client table poisoned".to_string()))?;
        let host = match hosts.iter().find(|(k, _)| k == &key) {
            Some((_, h)) => h.clone(),
            None => {
                let insecure = self.is_insecure(&registry);
                let read_timeout = self.options.read_timeout.unwrap_or(host::READ_TIMEOUT);
                let session = PushClient::new(
                    mirror::api_host(located.fetch.registry()),
                    key.1.clone(),
                    insecure,
                    &self.reqwest_roots().map_err(|e| internal(e.to_string()))?,
                    self.options.retry,
                    read_timeout,
                )
                .map_err(|e| internal(e.to_string()))?;
                let host = Host {
                    registry: registry.clone(),
                    retry: self.options.retry,
                    session,
                };
                let host = Arc::new(host);
                hosts.push((key, host.clone()));
                host
            }
        };
        Ok(Source::new(reference.clone(), located, host))
    }

    /// The extra CA certificates, for reqwest.
    fn reqwest_roots(&self) -> Result<Vec<reqwest::Certificate>, SetupError> {
        self.roots
            .iter()
            .map(|pem| {
                reqwest::Certificate::from_pem(pem).map_err(|e| SetupError::Client {
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// A client that pushes to `registry` (`HOST[:PORT]`), with the credentials for
    /// `repository_hint` (auth files may store them per repository path: the project, typically).
    pub fn push_client(
        &self,
        registry: &str,
        repository_hint: &str,
    ) -> Result<PushClient, PushError> {
        let credentials = self
            .credentials
            .lookup(registry, repository_hint)
            .map_err(|source| PushError::Credentials {
                registry: registry.to_string(),
                source,
            })?;
        let setup = |e: SetupError| PushError::Protocol {
            registry: registry.to_string(),
            what: "setting up the client".to_string(),
            detail: e.to_string(),
        };
        let roots = self.reqwest_roots().map_err(setup)?;
        PushClient::new(
            registry,
            credentials,
            self.is_insecure(registry),
            &roots,
            self.options.retry,
            self.options.read_timeout.unwrap_or(push::READ_TIMEOUT),
        )
        .map_err(setup)
    }
}

/// [`Registries`] and [`Source`] are shared between tasks.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Registries>();
    is::<Source>();
}
