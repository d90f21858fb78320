//! One registry as the `pull` module reaches it ([`Host`]: the registry conversation for one registry
//! and one set of credentials, with the run's retry policy), and how its answers and names are
//! written ([`status_text`], [`is_insecure`]).

use super::push::PushClient;
use super::retry::RetryPolicy;

/// How long a read may stall before a request fails, unless the run says otherwise.
pub(super) const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Everything needed to read from one registry with one set of credentials.
pub(super) struct Host {
    /// The registry as contacted (after mirroring).
    pub(super) registry: String,
    /// How requests to it are retried.
    pub(super) retry: RetryPolicy,
    /// The registry and credentials in our own conversation with it: resolving tags, pulling
    /// manifests and blobs, referrers and tags of referrers, seeing every status, `Retry-After` and
    /// token failure.
    pub(super) session: PushClient,
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
