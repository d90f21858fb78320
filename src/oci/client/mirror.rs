//! Registry mirrors (`--registry-mirror SOURCE=TARGET`) and where a reference is fetched from
//! (pure: no network).

use std::fmt;
use std::str::FromStr;

use super::error::ResolveError;
use crate::types::{ImageRef, RegistryPrefix, normalize_registry};

/// A per-registry rewrite `SOURCE=TARGET`: images of registry `SOURCE` are fetched from `TARGET`
/// (a host, optionally with a port and a path prefix), as containerd mirrors do.
///
/// `registry.k8s.io=127.0.0.1:5001/registry.k8s.io` fetches `registry.k8s.io/pause:3.10` as
/// `127.0.0.1:5001/registry.k8s.io/pause:3.10`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryMirror {
    source: String,
    target: RegistryPrefix,
}

/// A `--registry-mirror` value that is not `SOURCE=TARGET`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{value}`: {reason} (expected SOURCE=TARGET, e.g. registry.k8s.io=127.0.0.1:5001/registry.k8s.io)"
)]
pub struct RegistryMirrorParseError {
    value: String,
    reason: String,
}

impl RegistryMirror {
    /// The source registry (`docker.io` for Docker Hub).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The target: host, port and path prefix.
    pub fn target(&self) -> &RegistryPrefix {
        &self.target
    }
}

impl fmt::Display for RegistryMirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.source, self.target())
    }
}

impl FromStr for RegistryMirror {
    type Err = RegistryMirrorParseError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| RegistryMirrorParseError {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let (source, target) = value.split_once('=').ok_or_else(|| err("no `=`"))?;
        let source = source.trim();
        let target = target.trim().trim_end_matches('/');
        let target = target
            .strip_prefix("https://")
            .or_else(|| target.strip_prefix("http://"))
            .unwrap_or(target);
        if source.is_empty() || source.contains('/') {
            return Err(err(
                "SOURCE must be a registry host such as registry.k8s.io",
            ));
        }
        let target =
            RegistryPrefix::parse(target).map_err(|e| err(&format!("TARGET {}", e.reason)))?;
        Ok(RegistryMirror {
            source: normalize_registry(source).to_string(),
            target,
        })
    }
}

/// Where a reference is fetched from after mirroring.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    /// The reference to fetch (the mirror's, or the original).
    pub fetch: ImageRef,
    /// `fetch` as text.
    pub fetch_text: String,
}

/// Parses `reference` and applies the first mirror whose source is its registry.
///
/// A reference with neither a tag nor a digest means `:latest`.
pub(crate) fn locate(
    parsed: &ImageRef,
    mirrors: &[RegistryMirror],
) -> Result<Located, ResolveError> {
    let invalid = |message: String| ResolveError::InvalidReference {
        reference: parsed.to_string(),
        message,
    };
    let Some(m) = mirrors.iter().find(|m| m.source == parsed.registry()) else {
        return Ok(Located {
            fetch: parsed.clone(),
            fetch_text: parsed.to_string(),
        });
    };
    let mut text = format!(
        "{}/{}",
        m.target.host(),
        m.target.repository(parsed.repository())
    );
    match (parsed.tag(), parsed.digest()) {
        (None, None) => text.push_str(":latest"),
        (tag, digest) => {
            if let Some(t) = tag {
                text.push(':');
                text.push_str(t);
            }
            if let Some(d) = digest {
                text.push('@');
                text.push_str(d.as_str());
            }
        }
    }
    let mirrored = ImageRef::parse(&text)
        .map_err(|e| invalid(format!("mirrored as `{text}`: {}", e.reason)))?;
    if mirrored.registry() != normalize_registry(m.target.host()) {
        return Err(invalid(format!(
            "mirror {m}: `{text}` does not name registry {} (use a host with a dot or a port)",
            m.target.host()
        )));
    }
    Ok(Located {
        fetch: mirrored,
        fetch_text: text,
    })
}

/// The host that serves the distribution API of `registry` (as an [`ImageRef`] names it): Docker
/// Hub's images (`docker.io`) are served by `index.docker.io`; every other registry by itself.
pub(crate) fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" => "index.docker.io",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rewrites_host_and_prefix() {
        let m: RegistryMirror = "registry.k8s.io=127.0.0.1:5001/registry.k8s.io"
            .parse()
            .unwrap();
        let l = locate(
            &ImageRef::parse("registry.k8s.io/pause:3.10").unwrap(),
            &[m],
        )
        .unwrap();
        assert_eq!(l.fetch_text, "127.0.0.1:5001/registry.k8s.io/pause:3.10");
        assert_eq!(l.fetch.registry(), "127.0.0.1:5001");
        assert_eq!(l.fetch.repository(), "registry.k8s.io/pause");
        assert_eq!(l.fetch.tag(), Some("3.10"));
    }

    #[test]
    fn mirror_without_prefix_and_other_registries_untouched() {
        let m: RegistryMirror = "registry.example.test=localhost:5000".parse().unwrap();
        let l = locate(
            &ImageRef::parse("registry.example.test/team/app:v1").unwrap(),
            std::slice::from_ref(&m),
        )
        .unwrap();
        assert_eq!(l.fetch_text, "localhost:5000/team/app:v1");
        let l = locate(&ImageRef::parse("quay.io/x/y:1").unwrap(), &[m]).unwrap();
        assert_eq!(l.fetch_text, "quay.io/x/y:1");
    }

    #[test]
    fn docker_hub_names() {
        let m: RegistryMirror = "index.docker.io=mirror.local:5000/hub".parse().unwrap();
        assert_eq!(m.source(), "docker.io");
        let l = locate(&ImageRef::parse("nginx:1.27").unwrap(), &[m]).unwrap();
        assert_eq!(l.fetch_text, "mirror.local:5000/hub/library/nginx:1.27");
    }

    #[test]
    fn bad_mirrors() {
        for bad in ["registry.k8s.io", "=x:1", "a/b=x:1", "a=", "a=x:1//y"] {
            assert!(bad.parse::<RegistryMirror>().is_err(), "{bad}");
        }
    }
}
