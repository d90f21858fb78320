//! Reading from a registry in the same conversation as pushing: `HEAD` and `GET` of manifests and
//! `GET` of blobs and referrers, for pulls ([`crate::oci::Source`]). One attempt each, whose failure carries the
//! status and the registry's `Retry-After` (oci-client hides both) and says whether another attempt
//! may succeed; the caller runs the attempts under the run's retry policy. The token service is
//! asked as for a push, so its own `5xx` is a failure worth another attempt (oci-client goes on
//! without a token, and the registry's `401` then reads as a refusal).

use reqwest::header::ACCEPT;
use reqwest::{Method, Response, StatusCode};

use super::PushClient;
use super::session::{Attempt, Scope, read_limited, registry_words};
use crate::oci::client::retry::{Failed, parse_retry_after};

/// Why one read attempt failed.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// Before the registry answered this request: no connection, TLS, the token service, credentials
    /// refused (the push side's words for it).
    Session(super::PushError),
    /// The registry answered this status (not 2xx); `said` is its error envelope or the start of its
    /// body.
    Status {
        /// The status.
        status: StatusCode,
        /// What the registry said.
        said: String,
    },
}

impl PushClient {
    /// Sends `method` to `path` (relative to the registry root) with pull rights on `repository`,
    /// asking for manifests of the kinds this tool reads when `manifest`; the answer when it is 2xx.
    /// A host declared insecure is first asked `GET /v2/` once, to learn whether it speaks TLS.
    pub(crate) async fn read(
        &self,
        method: Method,
        path: &str,
        repository: &str,
        manifest: bool,
    ) -> Result<Response, Failed<ReadFailure>> {
        let session = |a: Attempt| Failed {
            error: ReadFailure::Session(a.error),
            transient: a.transient,
            retry_after: a.retry_after,
        };
        if self.scheme_unknown() {
            self.login_once().await.map_err(session)?;
        }
        let scope = Scope::Pull(repository.to_string());
        let response = self
            .send(method, path, &scope, |b| {
                if manifest {
                    b.header(ACCEPT, self.accept.clone())
                } else {
                    b
                }
            })
            .await
            .map_err(session)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let said = registry_words(&read_limited(response, 64 * 1024).await.unwrap_or_default());
        let transient = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        Err(Failed {
            error: ReadFailure::Status { status, said },
            transient,
            retry_after,
        })
    }
}
