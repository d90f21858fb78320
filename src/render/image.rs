//! Image references: parsing, digest pinning and rewriting to a mirror registry.

use std::fmt;

/// The registry Docker Hub images come from when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";

/// A container image reference split into its parts.
///
/// Docker Hub references are normalised the way containerd and the distribution reference
/// library do (`docker.io/traefik` is `docker.io/library/traefik`), so that a mirror path and the
/// path containerd asks a mirror for through `hosts.toml` are the same.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageRef {
    /// The source registry, e.g. `registry.k8s.io` or `docker.io`.
    pub registry: String,
    /// The repository inside the registry, e.g. `coredns/coredns`.
    pub repository: String,
    /// The tag, when the reference has one.
    pub tag: Option<String>,
}

/// An image reference that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image reference `{reference}`: {reason}")]
pub struct ImageRefError {
    /// The reference as given.
    pub reference: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ImageRef {
    /// Parses `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]` (a digest in the reference is dropped: the
    /// lock's own digest field is what pins it).
    pub fn parse(reference: &str) -> Result<ImageRef, ImageRefError> {
        let err = |reason: &str| ImageRefError {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let name = reference.split('@').next().unwrap_or_default();
        if name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
            return Err(err("empty or contains white space"));
        }
        let (name, tag) = match name.rfind(':') {
            Some(i) if !name[i..].contains('/') => (&name[..i], Some(name[i + 1..].to_string())),
            _ => (name, None),
        };
        if tag.as_deref() == Some("") {
            return Err(err("empty tag"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty()
            || repository.split('/').any(str::is_empty)
            || repository
                .chars()
                .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c)))
        {
            return Err(err(
                "the repository must be lower-case [a-z0-9._-] path components",
            ));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag,
        })
    }

    /// The last path component of the repository (`cert-manager-controller`), the image's role
    /// within its component.
    pub fn role(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// `REGISTRY/REPOSITORY` on the source registry, or on the mirror when one is given.
    pub fn repository_on(&self, mirror: Option<&Mirror>) -> String {
        match mirror {
            Some(m) => format!("{}/{}/{}", m.base(), self.registry, self.repository),
            None => format!("{}/{}", self.registry, self.repository),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

/// Whether `s` is `sha256:` followed by 64 lower-case hex digits.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether an `image:` value in a manifest is pinned: `REPOSITORY@sha256:<64 hex>`, no tag.
pub fn is_pinned(image: &str) -> bool {
    match image.split_once('@') {
        Some((repo, digest)) => {
            is_sha256_digest(digest)
                && !repo.is_empty()
                && !repo.rsplit('/').next().unwrap_or("").contains(':')
        }
        None => false,
    }
}

/// A mirror registry: `HOST[:PORT][/PREFIX]`; images are rewritten to
/// `HOST[:PORT]/PREFIX/<source-registry>/<repository>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `HOST[:PORT]`.
    pub host: String,
    /// The path prefix inside the mirror (may be empty).
    pub prefix: String,
}

/// A `--registry` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("registry `{given}`: {reason}")]
pub struct MirrorError {
    /// The value as given.
    pub given: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Mirror {
    /// Parses `HOST[:PORT][/PREFIX]` (no scheme).
    pub fn parse(s: &str) -> Result<Mirror, MirrorError> {
        let err = |reason: &str| MirrorError {
            given: s.to_string(),
            reason: reason.to_string(),
        };
        if s.contains("://") {
            return Err(err(
                "give HOST[:PORT]/PREFIX without a scheme (containerd uses https)",
            ));
        }
        let trimmed = s.trim_end_matches('/');
        let (host, prefix) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
        {
            return Err(err(
                "the host must be a DNS name or IP address, with an optional :PORT",
            ));
        }
        if let Some((_, port)) = host.rsplit_once(':') {
            if port.parse::<u16>().is_err() {
                return Err(err("the port must be a number from 1 to 65535"));
            }
        }
        if !prefix.is_empty()
            && (prefix.split('/').any(str::is_empty)
                || prefix
                    .chars()
                    .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c))))
        {
            return Err(err(
                "the prefix must be lower-case [a-z0-9._-] path components",
            ));
        }
        Ok(Mirror {
            host: host.to_ascii_lowercase(),
            prefix: prefix.to_string(),
        })
    }

    /// `HOST[:PORT][/PREFIX]`.
    pub fn base(&self) -> String {
        if self.prefix.is_empty() {
            self.host.clone()
        } else {
            format!("{}/{}", self.host, self.prefix)
        }
    }

    /// The containerd `hosts.toml` for one source registry: pulls of `registry/…` go to the mirror
    /// at `/v2/PREFIX/registry/…` (`override_path`, since the path does not start at `/v2/`).
    ///
    /// Format: containerd `docs/hosts.md` (registry host namespace configuration).
    pub fn hosts_toml(&self, registry: &str) -> String {
        // Docker Hub's registry API is served from registry-1.docker.io, as containerd's own
        // hosts.md example shows; every other registry serves it from its own name.
        let server = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let path = if self.prefix.is_empty() {
            format!("v2/{registry}")
        } else {
            format!("v2/{}/{registry}", self.prefix)
        };
        format!(
            "# @generated by `bundle render --registry {base}`: pull {registry} images from the mirror.\n\
             # Install as /etc/containerd/certs.d/{registry}/hosts.toml (containerd config_path = \"/etc/containerd/certs.d\").\n\
             server = \"https://{server}\"\n\
             \n\
             [host.\"https://{host}/{path}\"]\n  \
             capabilities = [\"pull\", \"resolve\"]\n  \
             override_path = true\n",
            base = self.base(),
            host = self.host,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = ImageRef::parse("registry.k8s.io/coredns/coredns:v1.14.2").unwrap();
        assert_eq!(r.registry, "registry.k8s.io");
        assert_eq!(r.repository, "coredns/coredns");
        assert_eq!(r.tag.as_deref(), Some("v1.14.2"));
        assert_eq!(r.role(), "coredns");
        let r = ImageRef::parse("docker.io/traefik:v3.7.11").unwrap();
        assert_eq!(r.repository, "library/traefik");
        let r = ImageRef::parse("grafana/loki:3.7.8").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "grafana/loki")
        );
        let r = ImageRef::parse("localhost:5000/x/y").unwrap();
        assert_eq!((r.registry.as_str(), r.tag), ("localhost:5000", None));
        assert!(ImageRef::parse("").is_err());
        assert!(ImageRef::parse("quay.io/Upper/x:1").is_err());
        assert!(ImageRef::parse("quay.io/x:").is_err());
    }

    #[test]
    fn mirrors() {
        let m = Mirror::parse("harbor.local/platform").unwrap();
        let r = ImageRef::parse("registry.k8s.io/pause:3.10.2").unwrap();
        assert_eq!(
            r.repository_on(Some(&m)),
            "harbor.local/platform/registry.k8s.io/pause"
        );
        assert!(
            m.hosts_toml("registry.k8s.io")
                .contains("[host.\"https://harbor.local/v2/platform/registry.k8s.io\"]")
        );
        assert_eq!(Mirror::parse("h:5000").unwrap().base(), "h:5000");
        assert!(Mirror::parse("https://h/p").is_err());
        assert!(Mirror::parse("h:99999/p").is_err());
        assert!(Mirror::parse("h/P").is_err());
        assert!(Mirror::parse("").is_err());
    }

    #[test]
    fn pinned() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(is_pinned(&format!("quay.io/x/y@{d}")));
        assert!(is_pinned(&format!("localhost:5000/y@{d}")));
        assert!(!is_pinned(&format!("quay.io/x/y:v1@{d}")));
        assert!(!is_pinned("quay.io/x/y:v1"));
        assert!(!is_pinned("quay.io/x/y@sha256:abc"));
    }
}
