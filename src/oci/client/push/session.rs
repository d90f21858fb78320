//! The conversation with one registry: scheme (TLS or plain HTTP for an insecure host), auth
//! challenges and tokens per scope, retries, and what an answer means.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::{PushClient, PushError};
use crate::oci::client::error::{deepest, error_chain};
use crate::oci::client::retry::{Failed, parse_retry_after};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Https,
    Http,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    Unknown,
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Clone)]
pub(super) struct Token {
    value: String,
    expires: Instant,
}

pub(super) struct AuthState {
    pub(super) challenge: Challenge,
    pub(super) tokens: HashMap<String, Token>,
}

/// What a token fetch is called in errors.
pub(crate) const TOKEN_REQUEST: &str = "token request";

/// One failed attempt: retried or not.
pub(super) type Attempt = Failed<PushError>;

impl From<PushError> for Attempt {
    fn from(error: PushError) -> Self {
        Attempt::fatal(error)
    }
}

/// The most scopes one token request names ([`PushClient::prefetch_push_tokens`]).
const SCOPES_PER_TOKEN: usize = 32;

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
    pub(super) fn denied(&self, scope: &Scope, status: impl Into<String>) -> PushError {
        PushError::Denied {
            registry: self.registry.clone(),
            account: self.account().map(str::to_string),
            action: scope.action(),
            status: status.into(),
        }
    }

    pub(super) fn base(&self) -> Result<(reqwest::Client, Url), PushError> {
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

    pub(super) fn url(&self, base: &Url, path: &str) -> Result<Url, PushError> {
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

    pub(super) async fn login_once(&self) -> Result<(), Attempt> {
        let known = self.scheme.lock().map(|s| *s).unwrap_or(None);
        let plain_probe = match (known, &self.plain) {
            (None, Some(plain)) => speaks_plain_http(plain, &self.registry).await,
            _ => false,
        };
        if plain_probe {
            self.set_scheme(Scheme::Http);
        }
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

    /// Whether this is an insecure host whose scheme (TLS or plain HTTP) no request settled yet.
    pub(super) fn scheme_unknown(&self) -> bool {
        self.plain.is_some() && self.scheme.lock().map(|s| s.is_none()).unwrap_or(true)
    }

    pub(super) fn set_scheme(&self, s: Scheme) {
        if let Ok(mut g) = self.scheme.lock() {
            *g = Some(s);
        }
    }

    pub(super) fn set_challenge(&self, c: Challenge) {
        if let Ok(mut g) = self.auth.lock() {
            g.challenge = c;
        }
    }

    pub(super) fn challenge(&self) -> Challenge {
        self.auth
            .lock()
            .map(|g| g.challenge.clone())
            .unwrap_or(Challenge::Unknown)
    }

    /// A token for `scope`, from the cache unless `fresh` or expired.
    pub(super) async fn token(
        &self,
        scope: &Scope,
        fresh: bool,
    ) -> Result<Option<String>, Attempt> {
        if !matches!(self.challenge(), Challenge::Bearer { .. }) {
            return Ok(None);
        }
        let key = scope.params().join(" ");
        if !fresh
            && let Ok(g) = self.auth.lock()
            && let Some(t) = g.tokens.get(&key)
            && t.expires > Instant::now()
        {
            return Ok(Some(t.value.clone()));
        }
        let Some(token) = self.fetch_token(&scope.params(), scope).await? else {
            return Ok(None);
        };
        let value = token.value.clone();
        if let Ok(mut g) = self.auth.lock() {
            g.tokens.insert(key, token);
        }
        Ok(Some(value))
    }

    /// One request to the token service for the scopes `params` (`scope` names them in a refusal);
    /// `None` when the registry does not want tokens.
    async fn fetch_token(
        &self,
        params: &[String],
        scope: &Scope,
    ) -> Result<Option<Token>, Attempt> {
        let Challenge::Bearer { realm, service } = self.challenge() else {
            return Ok(None);
        };
        let what = TOKEN_REQUEST;
        let mut url = Url::parse(&realm).map_err(|e| {
            self.protocol(what, format!("the token realm `{realm}` is not a URL: {e}"))
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = &service {
                q.append_pair("service", s);
            }
            for p in params {
                q.append_pair("scope", p);
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
        Ok(Some(Token { value, expires }))
    }

    /// Asks the token service for push tokens of many repositories at once (a request names up to
    /// [`SCOPES_PER_TOKEN`] scopes; Harbor's and distribution's token services grant several) and
    /// caches each under its repository's scope, so that a run touching N repositories makes a few
    /// token requests, not N. Nothing to do when the registry does not want tokens; a failure is left
    /// to the requests themselves (each asks for its own token then).
    pub async fn prefetch_push_tokens(&self, repositories: &[String]) {
        if !matches!(self.challenge(), Challenge::Bearer { .. }) || self.credentials.is_none() {
            return;
        }
        for batch in repositories.chunks(SCOPES_PER_TOKEN) {
            let scopes: Vec<Scope> = batch.iter().map(|r| Scope::Push(r.clone())).collect();
            let params: Vec<String> = scopes.iter().flat_map(Scope::params).collect();
            let Ok(Some(token)) = self.fetch_token(&params, &Scope::None).await else {
                return;
            };
            if let Ok(mut g) = self.auth.lock() {
                for scope in &scopes {
                    g.tokens.insert(scope.params().join(" "), token.clone());
                }
            }
        }
    }

    pub(super) fn forget_token(&self, scope: &Scope) {
        if let Ok(mut g) = self.auth.lock() {
            g.tokens.remove(&scope.params().join(" "));
        }
    }

    /// Sends one request with auth; on `401` learns the challenge, gets a fresh token and sends once more.
    /// `path` is relative to the registry root, or an absolute URL (an upload location).
    pub(super) async fn send(
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

    pub(super) async fn with_retry<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, PushError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        self.retry
            .run(|_| op())
            .await
            .map_err(|(error, n)| match error {
                // Given up: say what was being done and how often it was tried.
                PushError::Unavailable { detail, .. } => PushError::Unavailable {
                    registry: self.registry.clone(),
                    what: what.to_string(),
                    detail,
                    attempts: n,
                },
                other => other,
            })
    }

    pub(super) fn protocol(&self, what: &str, detail: impl Into<String>) -> PushError {
        PushError::Protocol {
            registry: self.registry.clone(),
            what: what.to_string(),
            detail: detail.into(),
        }
    }

    pub(super) fn network(&self, what: &str, e: &reqwest::Error) -> Attempt {
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
        // No connection, a timeout: the cause itself says it best (`Connection refused`).
        let detail = if e.is_connect() || e.is_timeout() {
            deepest(e)
        } else {
            chain
        };
        Attempt {
            error: PushError::Unavailable {
                registry: self.registry.clone(),
                what: what.to_string(),
                detail,
                attempts: 1,
            },
            transient: true,
            retry_after: None,
        }
    }

    /// An unexpected status: transient for 5xx/429 (with `Retry-After`), otherwise the registry's words.
    pub(super) async fn status_error(&self, what: &str, response: Response) -> Attempt {
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

pub(super) fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

pub(super) fn location(r: &Response) -> Option<String> {
    header(r, "location").filter(|l| !l.is_empty())
}

/// Adds `key=value` to a location that may be relative (`/v2/…?_state=…`) or absolute.
pub(super) fn with_query(location: &str, key: &str, value: &str) -> Option<String> {
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

pub(crate) async fn read_limited(
    mut response: Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
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
pub(super) fn registry_words(body: &[u8]) -> String {
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

/// Whether `registry` answers `GET http://REGISTRY/v2/` as a registry does (200, or 401 asking for
/// credentials): then it speaks plain HTTP on that port, and no TLS handshake needs to be tried.
/// Anything else (a TLS port answering 400 to plain HTTP, no answer) says nothing. No credentials are
/// sent. Trying plain HTTP first saves the TLS probe's cost on a plain host: a failed handshake, and
/// the TLS library's first use (seeding its random generator: ~60 ms of CPU).
pub(crate) async fn speaks_plain_http(client: &reqwest::Client, registry: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(&format!("http://{registry}/v2/")) else {
        return false;
    };
    match client.get(url).send().await {
        Ok(r) => matches!(
            r.status(),
            reqwest::StatusCode::OK | reqwest::StatusCode::UNAUTHORIZED
        ),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

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
}
