//! Container image references: `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`, parsed once, without regexes.
//!
//! The grammar is the distribution reference grammar (`distribution/reference`, as containerd and
//! Docker read it), with its Docker Hub normalisation: a bare name is `docker.io/library/NAME`, a
//! first path component without a `.` or `:` (and other than `localhost`) is a Docker Hub
//! namespace, and Docker Hub's other names (`index.docker.io`, `registry-1.docker.io`) are
//! `docker.io`.

use std::fmt;
use std::str::FromStr;

use super::digest::Digest;
use super::grammar::{ReferenceError, check_host, check_repository, check_tag};

/// The registry Docker Hub images come from when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";

/// Docker Hub goes by several names; this returns `docker.io` for all of them and any other host
/// unchanged.
pub fn normalize_registry(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
        h => h,
    }
}

/// A validated container image reference split into its parts.
///
/// Always normalised: the registry is explicit (`docker.io` for Docker Hub) and Docker Hub
/// official images carry their `library/` namespace, so two spellings of one image compare equal
/// and [`Display`](fmt::Display) writes the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// An image reference that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image reference `{reference}`: {reason}")]
pub struct ImageRefError {
    /// The reference as given.
    pub reference: String,
    /// What is wrong with it.
    pub reason: ReferenceError,
}

impl ImageRef {
    /// Parses `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`.
    ///
    /// `REGISTRY` is a host name or `[IPv6]` address with an optional `:PORT`; it is taken as the
    /// registry when it contains a `.` or a `:` or is `localhost`, otherwise the whole name is a
    /// Docker Hub repository. `REPOSITORY` is lower-case path components (`[a-z0-9]` separated by
    /// `.`, `_`, `__` or dashes), `TAG` is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` and `DIGEST` is
    /// `sha256:`, `sha384:` or `sha512:` with the matching number of lower-case hex digits.
    pub fn parse(reference: &str) -> Result<ImageRef, ImageRefError> {
        let err = |reason: ReferenceError| ImageRefError {
            reference: reference.to_string(),
            reason,
        };
        if reference.is_empty() {
            return Err(err(ReferenceError::Empty));
        }
        if reference.chars().any(char::is_whitespace) {
            return Err(err(ReferenceError::WhiteSpace));
        }
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => {
                let digest = Digest::parse(digest).map_err(|e| err(e.into()))?;
                (name, Some(digest))
            }
            None => (reference, None),
        };
        let (name, tag) = match name.rfind(':') {
            Some(i) if !name[i..].contains('/') => (&name[..i], Some(&name[i + 1..])),
            _ => (name, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(err)?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                check_host(first).map_err(err)?;
                (normalize_registry(first), rest)
            }
            _ => (DOCKER_HUB, name),
        };
        check_repository(repository).map_err(err)?;
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        Ok(ImageRef {
            registry: registry.to_string(),
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry, e.g. `registry.k8s.io`, `127.0.0.1:5000` or `docker.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository inside the registry, e.g. `coredns/coredns` or `library/nginx`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, when the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), when the reference has one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same image pinned to `digest` (the tag is kept, for people to read).
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same image without its digest.
    pub fn without_digest(&self) -> ImageRef {
        ImageRef {
            digest: None,
            ..self.clone()
        }
    }

    /// `REGISTRY/REPOSITORY`: the reference without its tag and digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The last path component of the repository (`coredns` for `coredns/coredns`).
    pub fn base_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, String, Option<String>, Option<String>) {
        let r = ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}"));
        (
            r.registry().to_string(),
            r.repository().to_string(),
            r.tag().map(str::to_string),
            r.digest().map(|d| d.to_string()),
        )
    }

    fn reason(s: &str) -> String {
        let e = ImageRef::parse(s).expect_err(s);
        assert_eq!(e.reference, s);
        assert!(e.to_string().contains(&format!("`{s}`")), "{e}");
        e.reason.to_string()
    }

    #[test]
    fn registries_repositories_and_tags() {
        let r = ImageRef::parse("registry.k8s.io/coredns/coredns:v1.14.2").unwrap();
        assert_eq!(r.registry(), "registry.k8s.io");
        assert_eq!(r.repository(), "coredns/coredns");
        assert_eq!(r.tag(), Some("v1.14.2"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.name(), "registry.k8s.io/coredns/coredns");
        assert_eq!(r.base_name(), "coredns");
        assert_eq!(
            parts("127.0.0.1:5000/a/b:1"),
            (
                "127.0.0.1:5000".into(),
                "a/b".into(),
                Some("1".into()),
                None
            )
        );
        assert_eq!(
            parts("localhost:5000/x/y"),
            ("localhost:5000".into(), "x/y".into(), None, None)
        );
        assert_eq!(
            parts("localhost/x"),
            ("localhost".into(), "x".into(), None, None)
        );
        assert_eq!(
            parts("[::1]:5000/x:2"),
            ("[::1]:5000".into(), "x".into(), Some("2".into()), None)
        );
        assert_eq!(
            parts("a.b.c/d.e__f-g--h/i_j:_T.x-Y"),
            (
                "a.b.c".into(),
                "d.e__f-g--h/i_j".into(),
                Some("_T.x-Y".into()),
                None
            )
        );
    }

    #[test]
    fn docker_hub_is_normalised() {
        for (given, want) in [
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            ("docker.io/traefik:v3", "docker.io/library/traefik:v3"),
            ("index.docker.io/traefik:v3", "docker.io/library/traefik:v3"),
            ("registry-1.docker.io/nginx", "docker.io/library/nginx"),
            ("grafana/loki:3.7.8", "docker.io/grafana/loki:3.7.8"),
            ("index.docker.io/grafana/loki", "docker.io/grafana/loki"),
            // No dot, no port, not localhost: a Docker Hub namespace, not a host.
            ("myhost/app:1", "docker.io/myhost/app:1"),
            // `test.com:5000` without a path is a Docker Hub name with a tag.
            ("test.com:5000", "docker.io/library/test.com:5000"),
        ] {
            assert_eq!(ImageRef::parse(given).unwrap().to_string(), want, "{given}");
        }
        assert_eq!(
            ImageRef::parse("nginx").unwrap(),
            ImageRef::parse("index.docker.io/library/nginx").unwrap()
        );
        assert_eq!(normalize_registry("registry-1.docker.io"), "docker.io");
        assert_eq!(normalize_registry("quay.io"), "quay.io");
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let r = ImageRef::parse(&format!("quay.io/x/y@{d}")).unwrap();
        assert_eq!(
            (r.tag(), r.digest().map(|d| d.as_str())),
            (None, Some(d.as_str()))
        );
        assert_eq!(r.to_string(), format!("quay.io/x/y@{d}"));
        let r = ImageRef::parse(&format!("127.0.0.1:5000/y:v1@{d}")).unwrap();
        assert_eq!(
            (r.tag(), r.digest().map(|d| d.as_str())),
            (Some("v1"), Some(d.as_str()))
        );
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/y:v1@{d}"));
        let sha512 = format!("sha512:{}", "a".repeat(128));
        assert!(ImageRef::parse(&format!("quay.io/x@{sha512}")).is_ok());

        assert!(reason("quay.io/x@sha256:abc").contains("64 lower-case hex"));
        assert!(reason(&format!("quay.io/x@sha256:{}", "A".repeat(64))).contains("hex"));
        assert!(reason(&format!("quay.io/x@md5:{}", "a".repeat(32))).contains("unsupported"));
        assert!(reason("quay.io/x@").contains("not a digest"));
        assert!(reason(&format!("quay.io/x@{d}@{d}")).contains("digest"));
    }

    #[test]
    fn rejects_bad_references() {
        assert_eq!(reason(""), "empty");
        assert!(reason("quay.io/x y:1").contains("white space"));
        assert!(reason("quay.io/Upper/x:1").contains("lower-case"));
        assert!(reason("Upper:1").contains("lower-case"));
        assert!(reason("quay.io/x:").contains("empty tag"));
        assert!(reason("quay.io/x:-bad").contains("not a valid tag"));
        assert!(reason(&format!("quay.io/x:{}", "t".repeat(129))).contains("not a valid tag"));
        assert!(reason("quay.io/").contains("empty repository"));
        assert!(reason("quay.io/a//b").contains("empty path component"));
        assert!(reason("quay.io/a/").contains("empty path component"));
        assert!(reason("/a").contains("empty path component"));
        assert!(reason(":1").contains("empty repository"));
        assert!(reason("quay.io/-a").contains("not a valid path component"));
        assert!(reason("quay.io/a..b").contains("not a valid path component"));
        assert!(reason("quay.io/a___b").contains("not a valid path component"));
        assert!(reason("quay.io:/a").contains("port"));
        assert!(reason("quay.io:50x0/a").contains("port"));
        assert!(reason("bad_host.io/a").contains("registry host"));
        assert!(reason("-bad.io/a").contains("registry host"));
        assert!(reason("[::1/a").contains("registry host"));
        assert!(reason(&format!("quay.io/{}", "a".repeat(256))).contains("longer than"));
        assert!("NOT valid".parse::<ImageRef>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "registry.k8s.io/pause:3.10",
            "127.0.0.1:5000/a/b:1",
            "docker.io/library/nginx",
            "localhost/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let r: ImageRef = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
            assert_eq!(r.to_string().parse::<ImageRef>().unwrap(), r);
        }
    }
}
