//! Resolving references to manifest digests, many at a time.
//!
//! Also home of what every registry client of this crate shares ([`Host`], [`with_scheme`],
//! [`classify`], CA and credential loading), used by [`super::pull`] as well.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::auth::{self, Credentials};
use super::error::{ResolveError, SetupError};
use super::reference::{Located, Mirror, locate};

/// How registries are reached.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Per-registry rewrites, first match wins.
    pub mirrors: Vec<Mirror>,
    /// Hosts (`HOST` or `HOST:PORT`, as contacted after mirroring) reached over plain HTTP or TLS
    /// without verification. Every other host is verified.
    pub insecure: Vec<String>,
    /// PEM files with CA certificates trusted in addition to the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Credentials for every registry contacted; when absent, the auth files are searched.
    pub credentials: Option<Credentials>,
    /// Auth files to search, in order (missing ones are skipped).
    pub auth_files: Vec<PathBuf>,
    /// How many references are resolved at the same time (at least 1).
    pub concurrency: usize,
}

/// A resolved reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The manifest digest (`sha256:…`): for a multi-architecture image, the index's.
    pub digest: String,
}

/// The result for one reference.
#[derive(Debug)]
pub struct Outcome {
    /// The reference as asked.
    pub reference: String,
    /// Where it was fetched from (after mirroring; equal to `reference` without a mirror).
    pub fetched: String,
    /// The digest, or why there is none.
    pub result: Result<Resolved, ResolveError>,
}

/// Told about each result as it arrives (on the calling thread).
pub trait Progress {
    /// `done` of `total` references are resolved; `outcome` is the latest.
    fn resolved(&self, done: usize, total: usize, outcome: &Outcome);
}

/// Resolves references to digests.
#[derive(Debug)]
pub struct Resolver {
    options: RegistryOptions,
    roots: Vec<Certificate>,
}

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
}

const SCHEME_UNKNOWN: u8 = 0;
const SCHEME_HTTPS: u8 = 1;
const SCHEME_HTTP: u8 = 2;

/// A registry and the credentials used there: the key under which a [`Host`] is shared.
pub(super) type HostKey = (String, Option<Credentials>);

impl Host {
    /// The clients for `registry` with `credentials` (no network). `insecure`: plain HTTP or TLS
    /// without verification; `roots`: extra CA certificates.
    pub(super) fn new(
        registry: String,
        credentials: Option<&Credentials>,
        insecure: bool,
        roots: &[Certificate],
    ) -> Result<Host, SetupError> {
        let auth = match credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.expose().to_string()),
            None => RegistryAuth::Anonymous,
        };
        Ok(Host {
            registry,
            auth,
            tls: build_client(roots, ClientProtocol::Https, insecure)?,
            plain: if insecure {
                Some(build_client(roots, ClientProtocol::Http, true)?)
            } else {
                None
            },
            scheme: AtomicU8::new(SCHEME_UNKNOWN),
        })
    }

    /// The client to use once the scheme is settled (TLS until plain HTTP is known to answer).
    pub(super) fn client(&self) -> &Client {
        match (&self.plain, self.scheme.load(Ordering::SeqCst)) {
            (Some(plain), SCHEME_HTTP) => plain,
            _ => &self.tls,
        }
    }
}

/// Runs `op` with the host's client; for an insecure host whose scheme is not known yet, TLS without
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

/// Reads the CA files: every `-----BEGIN CERTIFICATE-----` block of each; a file without one is an error.
pub(super) fn load_roots(ca_files: &[PathBuf]) -> Result<Vec<Certificate>, SetupError> {
    let mut roots = Vec::new();
    for path in ca_files {
        let text = std::fs::read_to_string(path).map_err(|source| SetupError::CaFile {
            path: path.clone(),
            source,
        })?;
        let before = roots.len();
        roots.extend(pem_certificates(&text).into_iter().map(|data| Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        }));
        if roots.len() == before {
            return Err(SetupError::CaFileEmpty { path: path.clone() });
        }
    }
    Ok(roots)
}

/// The credentials for `located`: the ones given for every registry, else those of the auth files.
pub(super) fn credentials_for(
    options: &RegistryOptions,
    located: &Located,
) -> Result<Option<Credentials>, ResolveError> {
    match &options.credentials {
        Some(c) => Ok(Some(c.clone())),
        None => auth::lookup(
            located.fetch.resolve_registry(),
            located.fetch.repository(),
            &options.auth_files,
        )
        .map_err(|detail| ResolveError::Credentials {
            registry: located.fetch.registry().to_string(),
            detail,
        }),
    }
}

/// Whether `registry` (as contacted) is one of the `insecure` hosts: `HOST:PORT` matches exactly,
/// `HOST` alone matches any port; an `http://` or `https://` prefix and a trailing `/` are ignored.
pub(super) fn is_insecure(insecure: &[String], registry: &str) -> bool {
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
) -> Result<Client, SetupError> {
    let config = ClientConfig {
        protocol,
        accept_invalid_certificates: insecure,
        extra_root_certificates: roots.to_vec(),
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

struct Job {
    reference: String,
    located: Result<(Located, usize), ResolveError>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

impl Resolver {
    /// Checks the options and reads the CA files.
    pub fn new(options: RegistryOptions) -> Result<Self, SetupError> {
        let roots = load_roots(&options.ca_files)?;
        Ok(Resolver { options, roots })
    }

    /// Where `reference` is fetched from after mirroring (no network).
    pub fn fetched_as(&self, reference: &str) -> Result<String, ResolveError> {
        locate(reference, &self.options.mirrors).map(|l| l.fetch_text)
    }

    /// Resolves every reference, at most `concurrency` at a time; `progress` hears of each result.
    /// The outcomes come back in the order of `references`.
    pub fn resolve_all(
        &self,
        references: &[String],
        progress: &dyn Progress,
    ) -> Result<Vec<Outcome>, SetupError> {
        let mut hosts: Vec<Arc<Host>> = Vec::new();
        let mut host_keys: Vec<HostKey> = Vec::new();
        let mut jobs = Vec::with_capacity(references.len());
        for reference in references {
            let located = match locate(reference, &self.options.mirrors) {
                Ok(l) => l,
                Err(e) => {
                    jobs.push(Job {
                        reference: reference.clone(),
                        located: Err(e),
                    });
                    continue;
                }
            };
            let registry = located.fetch.registry().to_string();
            let creds = match credentials_for(&self.options, &located) {
                Ok(c) => c,
                Err(e) => {
                    jobs.push(Job {
                        reference: reference.clone(),
                        located: Err(e),
                    });
                    continue;
                }
            };
            let key = (registry.clone(), creds);
            let index = match host_keys.iter().position(|k| k == &key) {
                Some(i) => i,
                None => {
                    let insecure = is_insecure(&self.options.insecure, &registry);
                    hosts.push(Arc::new(Host::new(
                        registry.clone(),
                        key.1.as_ref(),
                        insecure,
                        &self.roots,
                    )?));
                    host_keys.push(key);
                    hosts.len() - 1
                }
            };
            jobs.push(Job {
                reference: reference.clone(),
                located: Ok((located, index)),
            });
        }

        let total = jobs.len();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(SetupError::Runtime)?;
        let jobs = Arc::new(jobs);
        let hosts = Arc::new(hosts);
        let next = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
        let workers = self.options.concurrency.clamp(1, 64).min(total.max(1));
        for _ in 0..workers {
            let (jobs, hosts, next, tx) = (jobs.clone(), hosts.clone(), next.clone(), tx.clone());
            runtime.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    let outcome = run_job(job, &hosts).await;
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut slots: Vec<Option<Outcome>> = (0..total).map(|_| None).collect();
        let mut done = 0;
        for (i, outcome) in rx {
            done += 1;
            progress.resolved(done, total, &outcome);
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(outcome);
            }
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
        // A worker that died (it cannot panic on network input, but be safe) leaves its slot empty.
        Ok(slots
            .into_iter()
            .zip(jobs.iter())
            .map(|(slot, job)| {
                slot.unwrap_or_else(|| Outcome {
                    reference: job.reference.clone(),
                    fetched: job.reference.clone(),
                    result: Err(ResolveError::Protocol {
                        registry: String::new(),
                        fetched: job.reference.clone(),
                        detail: "internal error: no result".to_string(),
                    }),
                })
            })
            .collect())
    }
}

async fn run_job(job: &Job, hosts: &[Arc<Host>]) -> Outcome {
    let (located, index) = match &job.located {
        Ok(x) => x,
        Err(e) => {
            return Outcome {
                reference: job.reference.clone(),
                fetched: job.reference.clone(),
                result: Err(e.clone()),
            };
        }
    };
    let result = match hosts.get(*index) {
        Some(host) => resolve_one(host, &located.fetch, &located.fetch_text).await,
        None => Err(ResolveError::Protocol {
            registry: located.fetch.registry().to_string(),
            fetched: located.fetch_text.clone(),
            detail: "internal error: no client".to_string(),
        }),
    };
    Outcome {
        reference: job.reference.clone(),
        fetched: located.fetch_text.clone(),
        result,
    }
}

async fn resolve_one(
    host: &Host,
    fetch: &Reference,
    fetch_text: &str,
) -> Result<Resolved, ResolveError> {
    let answer = with_scheme(host, |c| async move {
        c.fetch_manifest_digest(fetch, &host.auth).await
    })
    .await;
    let digest = answer.map_err(|e| classify(e, host, fetch_text))?;
    if !super::is_sha256_digest(&digest) {
        return Err(ResolveError::Protocol {
            registry: host.registry.clone(),
            fetched: fetch_text.to_string(),
            detail: format!(
                "the registry answered digest `{}`, not a sha256 digest",
                digest.chars().take(100).collect::<String>()
            ),
        });
    }
    Ok(Resolved { digest })
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

/// An error and its causes, `: `-separated.
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

/// The innermost cause of an error.
pub(super) fn deepest(e: &(dyn std::error::Error + 'static)) -> String {
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

fn has_port(host: &str) -> bool {
    host_part(host) != host
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

    #[test]
    fn bad_references_fail_without_network() {
        struct Quiet;
        impl Progress for Quiet {
            fn resolved(&self, _: usize, _: usize, _: &Outcome) {}
        }
        let r = Resolver::new(RegistryOptions::default()).unwrap();
        let out = r.resolve_all(&["NOT valid".to_string()], &Quiet).unwrap();
        assert!(matches!(
            out[0].result,
            Err(ResolveError::InvalidReference { .. })
        ));
    }
}
