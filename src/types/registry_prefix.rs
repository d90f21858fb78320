//! `HOST[:PORT][/PREFIX]`: a place inside a registry, parsed once (the target of `--registry-mirror`,
//! `bundle render --registry`, `bundle mirror --to`).

use std::fmt;
use std::str::FromStr;

use super::ImageRef;
use super::grammar::{ReferenceError, check_host, check_path};

/// A registry host and a path prefix inside it (possibly empty), e.g. `harbor.local/platform/k8s`.
/// The host is lower-case; the prefix is valid repository path components.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistryPrefix {
    host: String,
    prefix: String,
}

/// A `HOST[:PORT][/PREFIX]` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}`: {reason}")]
pub struct RegistryPrefixError {
    /// The value as given.
    pub given: String,
    /// What is wrong with it.
    pub reason: ReferenceError,
}

impl RegistryPrefix {
    /// Parses `HOST[:PORT][/PREFIX]` (no scheme; a trailing `/` is ignored).
    pub fn parse(given: &str) -> Result<RegistryPrefix, RegistryPrefixError> {
        let err = |reason: ReferenceError| RegistryPrefixError {
            given: given.to_string(),
            reason,
        };
        if given.contains("://") {
            return Err(err(ReferenceError::Scheme));
        }
        let trimmed = given.trim_end_matches('/');
        let (host, prefix) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let host = host.to_ascii_lowercase();
        if host.is_empty() {
            return Err(err(ReferenceError::NoHost));
        }
        check_host(&host).map_err(err)?;
        if !prefix.is_empty() {
            check_path(prefix).map_err(err)?;
        }
        Ok(RegistryPrefix {
            host,
            prefix: prefix.to_string(),
        })
    }

    /// `HOST[:PORT]`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path prefix, possibly empty.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The first component of the prefix (a Harbor project), if any.
    pub fn first_component(&self) -> Option<&str> {
        self.prefix.split('/').next().filter(|p| !p.is_empty())
    }

    /// `PREFIX/REPOSITORY` (just `REPOSITORY` without a prefix): a repository path inside the host.
    pub fn repository(&self, repository: &str) -> String {
        if self.prefix.is_empty() {
            repository.to_string()
        } else {
            format!("{}/{repository}", self.prefix)
        }
    }

    /// `PREFIX/REGISTRY/REPOSITORY` for `image` (or `PREFIX/REPOSITORY` with `strip_registry`): where
    /// a mirror keeps an image of another registry, the path containerd asks for through `hosts.toml`.
    pub fn repository_for(&self, image: &ImageRef, strip_registry: bool) -> String {
        if strip_registry {
            self.repository(image.repository())
        } else {
            self.repository(&image.name())
        }
    }
}

impl fmt::Display for RegistryPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

impl FromStr for RegistryPrefix {
    type Err = RegistryPrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegistryPrefix::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let p = RegistryPrefix::parse("Harbor.local:8443/platform/k8s/").unwrap();
        assert_eq!(p.host(), "harbor.local:8443");
        assert_eq!(p.prefix(), "platform/k8s");
        assert_eq!(p.first_component(), Some("platform"));
        assert_eq!(p.to_string(), "harbor.local:8443/platform/k8s");
        let image = ImageRef::parse("docker.io/traefik:v3").unwrap();
        assert_eq!(
            p.repository_for(&image, false),
            "platform/k8s/docker.io/library/traefik"
        );
        assert_eq!(
            p.repository_for(&image, true),
            "platform/k8s/library/traefik"
        );
        let bare = RegistryPrefix::parse("h:5000").unwrap();
        assert_eq!((bare.prefix(), bare.first_component()), ("", None));
        assert_eq!(bare.repository("a/b"), "a/b");
        for bad in [
            "https://h/p",
            "h:99999/p",
            "h:0/p",
            "h/P",
            "",
            "/p",
            "h//p",
            "bad_host/p",
        ] {
            assert!(RegistryPrefix::parse(bad).is_err(), "{bad}");
        }
    }
}
