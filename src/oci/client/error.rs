//! Errors of registry access. They name the registry and the image, never a credential.

use std::path::PathBuf;

use super::auth::CredentialError;

/// The registry options could not be put to use (before any network access).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A CA file could not be read.
    #[error("CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CA file holds no PEM certificate.
    #[error("{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file")]
    CaFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// The HTTP client could not be built (e.g. a certificate is malformed).
    #[error("cannot set up the registry client: {message}")]
    Client {
        /// What went wrong.
        message: String,
    },
}

/// One reference could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    /// The reference does not parse, or its mirror rewrite does not.
    #[error("{reference}: not a valid image reference: {message}")]
    InvalidReference {
        /// The reference.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// The registry refused the credentials, or wants some (HTTP 401/403).
    #[error("{registry}: access denied ({status}) {}", if *.anonymous { "without credentials" } else { "with the credentials given" })]
    Unauthorized {
        /// The registry contacted.
        registry: String,
        /// The reference fetched.
        fetched: String,
        /// `401 Unauthorized`, `403 Forbidden`, or the registry's error code.
        status: String,
        /// Whether no credentials were sent.
        anonymous: bool,
    },
    /// The registry does not have this tag (or repository).
    #[error("{fetched}: not found on {registry}")]
    NotFound {
        /// The registry contacted.
        registry: String,
        /// The reference fetched.
        fetched: String,
    },
    /// The registry's TLS certificate could not be verified.
    #[error("{registry}: TLS certificate verification failed: {detail}")]
    Tls {
        /// The registry contacted.
        registry: String,
        /// The TLS library's words.
        detail: String,
    },
    /// No connection (refused, DNS, timeout).
    #[error("{registry}: unreachable: {detail}")]
    Unreachable {
        /// The registry contacted.
        registry: String,
        /// Why.
        detail: String,
    },
    /// The registry answered with a status that says "later" (`5xx`, `429`, `408`), on every
    /// attempt: the operation failed, a later run may succeed.
    #[error("{registry}: {fetched}: {status} (gave up after {attempts} attempt(s))")]
    Unavailable {
        /// The registry contacted.
        registry: String,
        /// The reference fetched.
        fetched: String,
        /// The HTTP status and what the registry said (`HTTP 503 Service Unavailable: …`).
        status: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The registry answered something this client cannot use.
    #[error("{registry}: {fetched}: {detail}")]
    Protocol {
        /// The registry contacted.
        registry: String,
        /// The reference fetched.
        fetched: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// The credentials for a registry could not be looked up.
    #[error("{registry}: cannot read credentials: {source}")]
    Credentials {
        /// The registry.
        registry: String,
        /// What went wrong (a file name, a helper name; never a secret).
        source: CredentialError,
    },
}

impl ResolveError {
    /// The registry contacted, when the error is about one.
    pub fn registry(&self) -> Option<&str> {
        match self {
            ResolveError::InvalidReference { .. } => None,
            ResolveError::Unauthorized { registry, .. }
            | ResolveError::NotFound { registry, .. }
            | ResolveError::Tls { registry, .. }
            | ResolveError::Unreachable { registry, .. }
            | ResolveError::Unavailable { registry, .. }
            | ResolveError::Protocol { registry, .. }
            | ResolveError::Credentials { registry, .. } => Some(registry),
        }
    }

    /// Whether this is a matter of credentials (bad usage/input rather than a negative answer).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ResolveError::Unauthorized { .. } | ResolveError::Credentials { .. }
        )
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
