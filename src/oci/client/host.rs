//! One registry as the `pull` module reaches it through oci-client ([`Host`]: the clients for one
//! registry and one set of credentials, with the scheme of an insecure host found once), and what an
//! error of that client means ([`classify`]).

use std::sync::atomic::{AtomicU8, Ordering};

use oci_client::Client;
use oci_client::client::{Certificate, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;

use super::auth::Credentials;
use super::error::{ResolveError, SetupError, deepest, error_chain};
use super::push::PushClient;
use super::push::session::speaks_plain_http;
use super::retry::RetryPolicy;
use super::{CONNECT_TIMEOUT, USER_AGENT};

/// How long a read may stall before a request fails, unless the run says otherwise.
pub(super) const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Everything needed to talk to one registry with one set of credentials.
pub(super) struct Host {
    /// The registry as contacted (after mirroring).
    pub(super) registry: String,
    pub(super) auth: RegistryAuth,
    /// TLS (verified, or unverified for an insecure host).
    pub(super) tls: Client,
    /// Plain HTTP, for an insecure host only.
    pub(super) plain: Option<Client>,
    /// Which scheme answered an insecure host (`SCHEME_*`).
    scheme: AtomicU8,
    /// An insecure host's plain-HTTP probe, run once (see [`with_scheme`]).
    probe: Option<(reqwest::Client, tokio::sync::OnceCell<bool>)>,
    /// How requests to it are retried.
    pub(super) retry: RetryPolicy,
    /// The same registry and credentials in our own conversation with it: pulls of manifests and
    /// blobs and tag resolution go through it, seeing every status, `Retry-After` and token failure.
    pub(super) session: PushClient,
}

const SCHEME_UNKNOWN: u8 = 0;
const SCHEME_HTTPS: u8 = 1;
const SCHEME_HTTP: u8 = 2;

impl Host {
    /// The clients for `registry` with `credentials` (no network). `insecure`: plain HTTP or TLS
    /// without verification; `roots`: extra CA certificates.
    pub(super) fn new(
        registry: String,
        credentials: Option<&Credentials>,
        insecure: bool,
        roots: &[Certificate],
        retry: RetryPolicy,
        read_timeout: std::time::Duration,
        session: PushClient,
    ) -> Result<Host, SetupError> {
        let auth = match credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.expose().to_string()),
            None => RegistryAuth::Anonymous,
        };
        Ok(Host {
            registry,
            auth,
            tls: build_client(roots, ClientProtocol::Https, insecure, read_timeout)?,
            plain: if insecure {
                Some(build_client(
                    roots,
                    ClientProtocol::Http,
                    true,
                    read_timeout,
                )?)
            } else {
                None
            },
            scheme: AtomicU8::new(SCHEME_UNKNOWN),
            probe: if insecure {
                Some((probe_client()?, tokio::sync::OnceCell::new()))
            } else {
                None
            },
            retry,
            session,
        })
    }
}

/// A client for [`speaks_plain_http`]: no TLS is ever started with it.
pub(super) fn probe_client() -> Result<reqwest::Client, SetupError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CONNECT_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| SetupError::Client {
            message: e.to_string(),
        })
}

/// Runs `op` with the host's client; for an insecure host whose scheme is not known yet: plain HTTP
/// when the host answers it as a registry ([`speaks_plain_http`], probed once), else TLS without
/// verification first, then plain HTTP, remembering which one answered.
pub(super) async fn with_scheme<'a, T, F, Fut>(
    host: &'a Host,
    op: F,
) -> Result<T, OciDistributionError>
where
    F: Fn(&'a Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
{
    let Some(plain) = &host.plain else {
        return op(&host.tls).await;
    };
    if host.scheme.load(Ordering::SeqCst) == SCHEME_UNKNOWN
        && let Some((client, probed)) = &host.probe
        && *probed
            .get_or_init(|| speaks_plain_http(client, &host.registry))
            .await
    {
        host.scheme.store(SCHEME_HTTP, Ordering::SeqCst);
    }
    match host.scheme.load(Ordering::SeqCst) {
        SCHEME_HTTPS => op(&host.tls).await,
        SCHEME_HTTP => op(plain).await,
        _ => match op(&host.tls).await {
            Err(OciDistributionError::RequestError(tls_err)) => match op(plain).await {
                Err(OciDistributionError::RequestError(_)) => {
                    Err(OciDistributionError::RequestError(tls_err))
                }
                other => {
                    host.scheme.store(SCHEME_HTTP, Ordering::SeqCst);
                    other
                }
            },
            other => {
                host.scheme.store(SCHEME_HTTPS, Ordering::SeqCst);
                other
            }
        },
    }
}

/// Whether `registry` (as contacted) is one of the `insecure` hosts: `HOST:PORT` matches exactly,
/// `HOST` alone matches any port; an `http://` or `https://` prefix and a trailing `/` are ignored.
pub(crate) fn is_insecure(insecure: &[String], registry: &str) -> bool {
    let host = host_part(registry);
    insecure
        .iter()
        .map(|i| i.trim_end_matches('/'))
        .map(|i| {
            i.strip_prefix("http://")
                .or_else(|| i.strip_prefix("https://"))
                .unwrap_or(i)
        })
        .any(|i| i == registry || (!has_port(i) && i == host))
}

fn build_client(
    roots: &[Certificate],
    protocol: ClientProtocol,
    insecure: bool,
    read_timeout: std::time::Duration,
) -> Result<Client, SetupError> {
    let config = ClientConfig {
        protocol,
        accept_invalid_certificates: insecure,
        extra_root_certificates: roots.to_vec(),
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(read_timeout),
        platform_resolver: None,
        user_agent: USER_AGENT,
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|e| SetupError::Client {
        message: e.to_string(),
    })
}

/// Turns a client error into one that names the registry and says what to do (as `pin` reports them).
pub(super) fn classify(e: OciDistributionError, host: &Host, fetched: &str) -> ResolveError {
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
    // Statuses that say "later": retried, and named in the final error.
    let unavailable = |status: String| ResolveError::Unavailable {
        registry: registry.clone(),
        fetched: fetched.to_string(),
        status,
        attempts: 1,
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
                    .map(|e| format!("{}: {}", code_text(&e.code), e.message))
                    .collect();
                let said = msgs.join("; ");
                if codes.contains(&&OciErrorCode::Toomanyrequests) {
                    unavailable(format!("HTTP 429 Too Many Requests: {said}"))
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Other(o) if o == "UNAVAILABLE"))
                {
                    unavailable(format!("the registry is unavailable: {said}"))
                } else {
                    protocol(format!("the registry answered: {said}"))
                }
            }
        }
        OciDistributionError::ServerError { code, message, .. } => match code {
            401 => unauthorized("401 Unauthorized"),
            403 => unauthorized("403 Forbidden"),
            404 => not_found(),
            _ => {
                let text = status_text(code, &message);
                if code >= 500 || code == 429 || code == 408 {
                    unavailable(text)
                } else {
                    protocol(text)
                }
            }
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

/// `HTTP 503 Service Unavailable: what the registry said` (at most 200 printable characters of it).
pub(super) fn status_text(code: u16, message: &str) -> String {
    let status = reqwest::StatusCode::from_u16(code)
        .map(|s| s.to_string())
        .unwrap_or_else(|_| code.to_string());
    let said: String = message
        .trim()
        .chars()
        .take(200)
        .filter(|c| !c.is_control())
        .collect();
    if said.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {said}")
    }
}

/// A distribution error code as the spec spells it (`TOOMANYREQUESTS`, `UNAVAILABLE`).
fn code_text(code: &OciErrorCode) -> String {
    match code {
        OciErrorCode::Other(o) => o.clone(),
        known => serde_json::to_value(known)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{known:?}").to_ascii_uppercase()),
    }
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

fn has_port(host: &str) -> bool {
    host_part(host) != host
}

/// The `-----BEGIN CERTIFICATE-----` blocks of a PEM file, each as its own PEM text.
pub(super) fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_hosts_match_with_or_without_port() {
        let insecure = ["127.0.0.1:5001".to_string(), "http://mirror.local/".into()];
        assert!(is_insecure(&insecure, "127.0.0.1:5001"));
        assert!(!is_insecure(&insecure, "127.0.0.1:5002"));
        assert!(is_insecure(&insecure, "mirror.local:443"));
        assert!(is_insecure(&insecure, "mirror.local"));
        assert!(!is_insecure(&insecure, "quay.io"));
    }

    #[test]
    fn pem_blocks() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(text).len(), 2);
        assert!(pem_certificates("nothing").is_empty());
    }
}
