//! Helm chart coordinates: a repository, a chart name and a version, together (two different charts
//! may share a name and a version in two repositories), parsed once where they enter.
//!
//! A chart has one OCI reference wherever it travels ([`ChartRef::reference`]):
//!
//! - an OCI chart (`oci://quay.io/jetstack/charts`, `cert-manager`, `v1.21.2`) is the image reference
//!   Helm pulls it by: `quay.io/jetstack/charts/cert-manager:v1.21.2`;
//! - a chart from a classic repository (`https://charts.jetstack.io`) gets the reference its URL
//!   spells without the scheme: `charts.jetstack.io/cert-manager:v1.21.2` (lower-cased). That is the
//!   name under which a bundle carries it and a mirror serves it.
//!
//! In both, the tag is the chart version with `+` written `_` (tags cannot hold `+`; Helm does the
//! same when it pushes and pulls).

use std::fmt;

use super::ImageRef;
use super::grammar::check_tag;

/// A chart's coordinates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChartRef {
    repository: String,
    name: String,
    version: String,
    reference: ImageRef,
}

/// Chart coordinates that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chart {name} {version} from {repository}: {reason}")]
pub struct ChartRefError {
    /// The repository as given.
    pub repository: String,
    /// The name as given.
    pub name: String,
    /// The version as given.
    pub version: String,
    /// What is wrong.
    pub reason: String,
}

impl ChartRef {
    /// Reads `repository` (`oci://HOST[:PORT]/PATH` or `http(s)://HOST[:PORT][/PATH]`, a trailing `/`
    /// ignored), `name` and `version` (as upstream tags it).
    pub fn parse(repository: &str, name: &str, version: &str) -> Result<ChartRef, ChartRefError> {
        let err = |reason: String| ChartRefError {
            repository: repository.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            reason,
        };
        let trimmed = repository.trim_end_matches('/');
        let rest = ["oci://", "https://", "http://"]
            .iter()
            .find_map(|s| trimmed.strip_prefix(s))
            .ok_or_else(|| {
                err("the repository must start with oci://, https:// or http://".into())
            })?;
        if rest.is_empty() || rest.contains(['?', '#']) || rest.chars().any(char::is_whitespace) {
            return Err(err(
                "the repository must be a host and a path, without query or fragment".into(),
            ));
        }
        if trimmed.starts_with("oci://") && !rest.contains('/') {
            return Err(err(
                "an OCI repository names a path inside the registry (oci://HOST/PATH)".into(),
            ));
        }
        if name.is_empty() || name.contains('/') {
            return Err(err("the chart name must be one path component".into()));
        }
        if version.is_empty() {
            return Err(err("the chart version is empty".into()));
        }
        let tag = tag_of(version);
        check_tag(&tag).map_err(|e| err(format!("version as a tag: {e}")))?;
        let text = format!("{}/{name}:{tag}", rest.to_ascii_lowercase());
        let reference =
            ImageRef::parse(&text).map_err(|e| err(format!("as `{text}`: {}", e.reason)))?;
        if !text.starts_with(reference.registry()) {
            return Err(err(format!(
                "`{text}` does not start with a registry host (a host needs a `.` or a port)"
            )));
        }
        Ok(ChartRef {
            repository: trimmed.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            reference,
        })
    }

    /// The repository, without a trailing `/`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The chart's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version, exactly as upstream tags it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether the chart is pulled from an OCI registry.
    pub fn is_oci(&self) -> bool {
        self.repository.starts_with("oci://")
    }

    /// The chart's OCI reference (see the module docs): where Helm pulls an OCI chart, and the name a
    /// bundle and a mirror give any chart.
    pub fn reference(&self) -> &ImageRef {
        &self.reference
    }

    /// The URL of a classic repository's `index.yaml` (`None` for an OCI chart).
    pub fn index_url(&self) -> Option<String> {
        (!self.is_oci()).then(|| format!("{}/index.yaml", self.repository))
    }
}

/// The tag a chart version is stored under: `+` (not allowed in tags) written `_`, as Helm does.
pub fn tag_of(version: &str) -> String {
    version.replace('+', "_")
}

impl fmt::Display for ChartRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.name, self.version, self.repository)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_and_classic_references() {
        let oci =
            ChartRef::parse("oci://quay.io/jetstack/charts/", "cert-manager", "v1.21.2").unwrap();
        assert!(oci.is_oci());
        assert_eq!(oci.repository(), "oci://quay.io/jetstack/charts");
        assert_eq!(
            oci.reference().to_string(),
            "quay.io/jetstack/charts/cert-manager:v1.21.2"
        );
        assert_eq!(oci.index_url(), None);

        let classic =
            ChartRef::parse("https://charts.jetstack.io", "cert-manager", "v1.21.2").unwrap();
        assert!(!classic.is_oci());
        assert_eq!(
            classic.reference().to_string(),
            "charts.jetstack.io/cert-manager:v1.21.2"
        );
        assert_eq!(
            classic.index_url().unwrap(),
            "https://charts.jetstack.io/index.yaml"
        );
        let with_port =
            ChartRef::parse("http://127.0.0.1:8080/Repo", "x", "1.0.0+build.1").unwrap();
        assert_eq!(
            with_port.reference().to_string(),
            "127.0.0.1:8080/repo/x:1.0.0_build.1"
        );
    }

    #[test]
    fn refused() {
        for (repo, name, version) in [
            ("quay.io/x", "a", "1"),
            ("oci://quay.io", "a", "1"),
            ("https://", "a", "1"),
            ("https://h.io/?x=1", "a", "1"),
            ("https://h.io", "a/b", "1"),
            ("https://h.io", "a", ""),
            ("https://h.io", "a", "1 2"),
            ("https://localhost-without-dot", "a", "1"),
        ] {
            assert!(
                ChartRef::parse(repo, name, version).is_err(),
                "{repo} {name} {version}"
            );
        }
    }
}
