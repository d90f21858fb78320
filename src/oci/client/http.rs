//! Plain HTTP(S) downloads, for what upstream publishes outside registries: a classic Helm
//! repository's `index.yaml` and its `.tgz` charts, release manifests. Reached the way registries are:
//!
//! - **Mirrors**: [`UrlMirror`] (`--url-mirror PREFIX=PREFIX`) rewrites a URL prefix, the longest
//!   matching one winning; the lock keeps the upstream URL.
//! - **TLS**: the same extra CA files; a host named insecure (`--insecure-registry HOST[:PORT]`) is
//!   reached without certificate verification. An `http://` URL is plain HTTP, as written.
//! - **Credentials**: HTTP Basic, from the auth files for that host, or the ones given on the command
//!   line, which go only to URLs a mirror rewrote (the user's own server), never to upstream hosts.
//!   Redirects to another host drop them.
//! - **Retries**: connection errors, `5xx` and `429` (with `Retry-After`), and a body cut short, are
//!   retried with the run's [`super::RetryPolicy`]; each attempt starts the download again.
//!
//! Errors are the registry errors ([`PullError`], [`ResolveError`]), with the host as the registry.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use reqwest::StatusCode;
use tokio::io::AsyncWriteExt as _;

use super::Registries;
use super::error::ResolveError;
use super::error::{deepest, error_chain};
use super::pull::PullError;
use super::retry::{Failed, parse_retry_after};
use super::{CONNECT_TIMEOUT, USER_AGENT};
use crate::oci::layout::{BlobWriter, Layout, LayoutError};
use crate::types::Digest;

/// How long a read may stall before a download fails, unless the run says otherwise (`--timeout`).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A URL prefix rewrite `SOURCE=TARGET`: a URL that starts with `SOURCE` (at a path boundary) is
/// fetched from `TARGET` followed by the rest of the URL.
///
/// `https://charts.jetstack.io=http://127.0.0.1:8080/charts.jetstack.io` fetches
/// `https://charts.jetstack.io/index.yaml` as `http://127.0.0.1:8080/charts.jetstack.io/index.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlMirror {
    source: String,
    target: String,
}

/// A `--url-mirror` value that is not `SOURCE=TARGET`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{value}`: {reason} (expected SOURCE=TARGET URL prefixes, e.g. https://charts.jetstack.io=http://127.0.0.1:8080/charts.jetstack.io)"
)]
pub struct UrlMirrorParseError {
    value: String,
    reason: String,
}

impl UrlMirror {
    /// The upstream prefix.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What it is replaced with.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether `url` starts with the source prefix at a path boundary.
    fn matches(&self, url: &str) -> bool {
        url.strip_prefix(&self.source)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
    }
}

impl fmt::Display for UrlMirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.source, self.target)
    }
}

impl FromStr for UrlMirror {
    type Err = UrlMirrorParseError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| UrlMirrorParseError {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let (source, target) = value.split_once('=').ok_or_else(|| err("no `=`"))?;
        let (source, target) = (
            source.trim().trim_end_matches('/'),
            target.trim().trim_end_matches('/'),
        );
        for (which, v) in [("SOURCE", source), ("TARGET", target)] {
            let host = v
                .strip_prefix("https://")
                .or_else(|| v.strip_prefix("http://"))
                .ok_or_else(|| err(&format!("{which} must start with http:// or https://")))?;
            if host.is_empty() || host.starts_with('/') || v.contains(['?', '#', ' ']) {
                return Err(err(&format!(
                    "{which} must name a host (and a path), without query or fragment"
                )));
            }
        }
        Ok(UrlMirror {
            source: source.to_string(),
            target: target.to_string(),
        })
    }
}

/// `url` after the longest matching mirror's rewrite (unchanged when none matches), and whether it
/// was rewritten.
pub(crate) fn mirror_url(url: &str, mirrors: &[UrlMirror]) -> (String, bool) {
    match mirrors
        .iter()
        .filter(|m| m.matches(url))
        .max_by_key(|m| m.source.len())
    {
        Some(m) => (format!("{}{}", m.target, &url[m.source.len()..]), true),
        None => (url.to_string(), false),
    }
}

/// A download into a content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// `sha256:` of what arrived, the name it is stored under.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Where it was fetched from (after mirroring).
    pub fetched: String,
}

/// The HTTP clients of a run: one verifying certificates, one not (for insecure hosts).
pub(super) struct HttpClients {
    verified: reqwest::Client,
    unverified: reqwest::Client,
}

impl HttpClients {
    fn new(roots: &[Vec<u8>], read_timeout: std::time::Duration) -> Result<HttpClients, String> {
        let mut certs = Vec::new();
        for pem in roots {
            certs.push(reqwest::Certificate::from_pem(pem).map_err(|e| error_chain(&e))?);
        }
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .danger_accept_invalid_certs(insecure)
                .tls_certs_merge(certs.clone())
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(read_timeout)
                .user_agent(USER_AGENT)
                .build()
                .map_err(|e| error_chain(&e))
        };
        Ok(HttpClients {
            verified: build(false)?,
            unverified: build(true)?,
        })
    }
}

/// The client table of a run, built on first use.
pub(super) type HttpSlot = OnceLock<Result<HttpClients, String>>;

/// Where one URL is fetched from, and how.
struct Request<'a> {
    client: &'a reqwest::Client,
    fetched: String,
    host: String,
    auth: Option<(String, String)>,
}

impl Registries {
    /// Where `url` is fetched from after mirroring (no network).
    pub fn fetched_url(&self, url: &str) -> String {
        mirror_url(url, &self.options.url_mirrors).0
    }

    fn request(&self, url: &str) -> Result<Request<'_>, PullError> {
        let (fetched, mirrored) = mirror_url(url, &self.options.url_mirrors);
        let invalid = |message: String| {
            PullError::Registry(ResolveError::InvalidReference {
                reference: fetched.clone(),
                message,
            })
        };
        let parsed = reqwest::Url::parse(&fetched).map_err(|e| invalid(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("not an http:// or https:// URL".to_string()));
        }
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(invalid("no host".to_string())),
        };
        let clients = self
            .http
            .get_or_init(|| {
                HttpClients::new(
                    &self.roots,
                    self.options.read_timeout.unwrap_or(READ_TIMEOUT),
                )
            })
            .as_ref()
            .map_err(|message| {
                PullError::Registry(ResolveError::Protocol {
                    registry: host.clone(),
                    fetched: fetched.clone(),
                    detail: format!("cannot set up the HTTP client: {message}"),
                })
            })?;
        let client = if self.is_insecure(&host) {
            &clients.unverified
        } else {
            &clients.verified
        };
        let credentials = match (&self.options.credentials, mirrored) {
            (Some(given), true) => Some(given.clone()),
            _ => self
                .credentials
                .lookup(&host, parsed.path().trim_start_matches('/'))
                .map_err(|detail| {
                    PullError::Registry(ResolveError::Credentials {
                        registry: host.clone(),
                        source: detail,
                    })
                })?,
        };
        Ok(Request {
            client,
            fetched,
            host,
            auth: credentials.map(|c| (c.username.clone(), c.password.expose().to_string())),
        })
    }

    /// `GET url` (after mirroring) into memory, at most `limit` bytes; retried as the module docs
    /// say. Returns the bytes and where they came from.
    pub async fn download_small(
        &self,
        url: &str,
        limit: u64,
    ) -> Result<(Vec<u8>, String), PullError> {
        let request = self.request(url)?;
        let bytes = self
            .options
            .retry
            .run(|_| async {
                let mut out = Vec::new();
                request.get(limit, &mut out).await?;
                Ok(out)
            })
            .await
            .map_err(|(e, _)| e)?;
        Ok((bytes, request.fetched))
    }

    /// `GET url` (after mirroring) into `store`, at most `limit` bytes, hashed on the way and named by
    /// that hash; retried as the module docs say (each attempt writes a new temporary file, removed
    /// when it fails).
    pub async fn download(
        &self,
        url: &str,
        store: &Layout,
        limit: u64,
    ) -> Result<Downloaded, PullError> {
        let request = self.request(url)?;
        let write = |e: LayoutError| PullError::Write {
            fetched: request.fetched.clone(),
            digest: "(download)".to_string(),
            source: std::io::Error::other(e.to_string()),
        };
        let (digest, size) = self
            .options
            .retry
            .run(|_| async {
                let mut w: BlobWriter = store
                    .ingest_writer()
                    .await
                    .map_err(|e| Failed::fatal(write(e)))?;
                match request.get(limit, &mut w).await {
                    Ok(size) => {
                        let digest = w.commit().await.map_err(|e| Failed::fatal(write(e)))?;
                        Ok((digest, size))
                    }
                    Err(f) => {
                        w.discard().await;
                        Err(f)
                    }
                }
            })
            .await
            .map_err(|(e, _)| e)?;
        Ok(Downloaded {
            digest,
            size,
            fetched: request.fetched,
        })
    }
}

impl Request<'_> {
    /// One attempt: `GET` into `out`, at most `limit` bytes; returns the size.
    async fn get<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        limit: u64,
        out: &mut W,
    ) -> Result<u64, Failed<PullError>> {
        let mut req = self.client.get(&self.fetched);
        if let Some((user, password)) = &self.auth {
            req = req.basic_auth(user, Some(password));
        }
        let mut response = req.send().await.map_err(|e| self.network(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.status(status, &response));
        }
        let too_large = |n: u64| {
            Failed::fatal(PullError::TooLarge {
                fetched: self.fetched.clone(),
                size: n,
                limit,
            })
        };
        if let Some(n) = response.content_length().filter(|n| *n > limit) {
            return Err(too_large(n));
        }
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.network(&e))? {
            written += chunk.len() as u64;
            if written > limit {
                return Err(too_large(written));
            }
            out.write_all(&chunk).await.map_err(|source| {
                Failed::fatal(PullError::Write {
                    fetched: self.fetched.clone(),
                    digest: "(download)".to_string(),
                    source,
                })
            })?;
        }
        out.flush().await.map_err(|source| {
            Failed::fatal(PullError::Write {
                fetched: self.fetched.clone(),
                digest: "(download)".to_string(),
                source,
            })
        })?;
        Ok(written)
    }

    /// A transport error: TLS problems are final, everything else (refused, reset, timed out, a body
    /// cut short) is worth another attempt.
    fn network(&self, e: &reqwest::Error) -> Failed<PullError> {
        let chain = error_chain(e);
        let lower = chain.to_ascii_lowercase();
        let registry = self.host.clone();
        if lower.contains("certificate") || lower.contains("unknownissuer") {
            return Failed::fatal(PullError::Registry(ResolveError::Tls {
                registry,
                detail: deepest(e),
            }));
        }
        if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
            return Failed::fatal(PullError::Registry(ResolveError::Unreachable {
                registry,
                detail: "the TLS handshake failed: the server does not speak TLS on this port \
                         (use an http:// URL for a plain-HTTP server)"
                    .to_string(),
            }));
        }
        let detail = if e.is_connect() || e.is_timeout() {
            deepest(e)
        } else {
            chain
        };
        Failed::transient(
            PullError::Registry(ResolveError::Unreachable { registry, detail }),
            None,
        )
    }

    /// An answer other than `2xx`: `5xx` and `429` are worth another attempt (after `Retry-After`).
    fn status(&self, status: StatusCode, response: &reqwest::Response) -> Failed<PullError> {
        let registry = self.host.clone();
        let fetched = self.fetched.clone();
        let error = match status.as_u16() {
            404 | 410 => ResolveError::NotFound { registry, fetched },
            401 | 403 => ResolveError::Unauthorized {
                registry,
                fetched,
                status: status.to_string(),
                anonymous: self.auth.is_none(),
            },
            _ => ResolveError::Protocol {
                registry,
                fetched,
                detail: format!("HTTP {status}"),
            },
        };
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            Failed::transient(PullError::Registry(error), after)
        } else {
            Failed::fatal(PullError::Registry(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_at_a_boundary_wins() {
        let mirrors: Vec<UrlMirror> = [
            "https://github.com=http://127.0.0.1:1/gh",
            "https://github.com/projectcalico/=http://127.0.0.1:1/calico",
        ]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect();
        assert_eq!(
            mirror_url("https://github.com/projectcalico/calico/x.yaml", &mirrors),
            ("http://127.0.0.1:1/calico/calico/x.yaml".to_string(), true)
        );
        assert_eq!(
            mirror_url("https://github.com/fluxcd/flux2/y.yaml", &mirrors).0,
            "http://127.0.0.1:1/gh/fluxcd/flux2/y.yaml"
        );
        assert_eq!(
            mirror_url("https://github.community/z", &mirrors),
            ("https://github.community/z".to_string(), false)
        );
    }

    #[test]
    fn bad_mirrors() {
        for bad in [
            "https://a.io",
            "a.io=http://b.io",
            "https://a.io=b.io",
            "https://=http://b.io",
            "https://a.io=http://b.io/?x",
        ] {
            assert!(bad.parse::<UrlMirror>().is_err(), "{bad}");
        }
        let m: UrlMirror = "https://a.io/x/=http://b.io:8080/y/".parse().unwrap();
        assert_eq!(m.to_string(), "https://a.io/x=http://b.io:8080/y");
    }
}
