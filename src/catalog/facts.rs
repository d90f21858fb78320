//! Per-version facts added by issues 13 and 11: how a release relates to Kubernetes, the artifacts
//! upstream publishes for installing it, and a component's support policy. `catalog/FORMAT.md`
//! describes how they are written.

use crate::types::VersionReq;

/// How a release relates to Kubernetes. Every version of every component but Kubernetes itself
/// states exactly one of a range, `independent` or `untested`; "nothing stated" is a problem that
/// `bundle catalog check` reports, never a silent "compatible with everything".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubernetesRelation {
    /// A `requires` entry on `kubernetes` gives the supported range. The entry itself stays in
    /// [`super::Release::requires`] (the solver reads it there like any other requirement); this is
    /// a copy of its range, source and line.
    Range {
        /// The supported Kubernetes versions.
        range: VersionReq,
        /// Where the range comes from.
        source: Option<String>,
        /// Line of the `requires` entry.
        line: u32,
    },
    /// Uses no Kubernetes API beyond stable built-in kinds (or is pinned by kubeadm per Kubernetes
    /// version): installs beside every Kubernetes version, said explicitly with why.
    Independent(Statement),
    /// Upstream publishes no Kubernetes range for this version although it talks to the API, or
    /// publishes a table that leaves this version out. Nothing is known: the solver does not choose
    /// such a version unless the request allows untested versions.
    Untested(Statement),
    /// The release is a Kubernetes version itself.
    Itself,
    /// The file states none of the three: `bundle catalog check` fails on it, so a clean catalog
    /// (the embedded one is) has none. In a catalog that is not clean the solver reads it as no
    /// constraint on Kubernetes, not as untested.
    Unstated,
}

impl KubernetesRelation {
    /// The relation of a release of component `component` whose requirements are `requires` and
    /// that states no `kubernetes:` block: a range when a requirement names Kubernetes.
    pub fn from_requires(component: &str, requires: &[super::Constraint]) -> Self {
        if component == super::KUBERNETES {
            return KubernetesRelation::Itself;
        }
        requires
            .iter()
            .find(|c| c.name == super::KUBERNETES)
            .map(|c| KubernetesRelation::Range {
                range: c.range.clone(),
                source: c.source.clone(),
                line: c.line,
            })
            .unwrap_or(KubernetesRelation::Unstated)
    }

    /// Whether the release is `untested`: the solver does not choose it unless untested versions
    /// are allowed, and the matrix marks it.
    pub fn is_untested(&self) -> bool {
        matches!(self, KubernetesRelation::Untested(_))
    }

    /// One word for tables and JSON: `range`, `independent`, `untested`, `kubernetes` or `unstated`.
    pub fn kind(&self) -> &'static str {
        match self {
            KubernetesRelation::Range { .. } => "range",
            KubernetesRelation::Independent(_) => "independent",
            KubernetesRelation::Untested(_) => "untested",
            KubernetesRelation::Itself => "kubernetes",
            KubernetesRelation::Unstated => "unstated",
        }
    }

    /// The explicit statement of an `independent` or `untested` release.
    pub fn statement(&self) -> Option<&Statement> {
        match self {
            KubernetesRelation::Independent(s) | KubernetesRelation::Untested(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for KubernetesRelation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubernetesRelation::Range { range, .. } => write!(f, "kubernetes {range}"),
            KubernetesRelation::Independent(_) => {
                write!(f, "independent of the Kubernetes version")
            }
            KubernetesRelation::Untested(_) => {
                write!(f, "untested: upstream publishes no Kubernetes range")
            }
            KubernetesRelation::Itself => write!(f, "a Kubernetes version"),
            KubernetesRelation::Unstated => write!(f, "no relation to Kubernetes stated"),
        }
    }
}

/// The why and the where of an `independent` or `untested` relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Why (for people).
    pub note: String,
    /// Where it comes from.
    pub source: String,
    /// Line of the `kubernetes:` block's first field.
    pub line: u32,
}

/// What upstream publishes for installing a release: Helm charts, release manifests, or a note
/// saying why there is neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Artifacts {
    /// Helm charts (render prefers a chart where there is one).
    pub charts: Vec<Chart>,
    /// Static release manifests.
    pub manifests: Vec<Manifest>,
    /// Why there is neither a chart nor a manifest.
    pub none: Option<NoArtifacts>,
}

impl Artifacts {
    /// Whether the file states anything about artifacts for this release.
    pub fn stated(&self) -> bool {
        !self.charts.is_empty() || !self.manifests.is_empty() || self.none.is_some()
    }
}

/// A Helm chart. A chart is identified by repository, name and version together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// `oci://registry/path` (the chart is at `oci://registry/path/NAME`) or a classic
    /// `https://…` repository with an `index.yaml`.
    pub repository: String,
    /// The chart's name.
    pub name: String,
    /// The chart version, exactly as upstream tags it.
    pub version: String,
    /// The chart's `appVersion` as its `Chart.yaml` says.
    pub app_version: String,
    /// Where the coordinates and the pairing come from.
    pub source: String,
    /// Why this chart belongs to the release when its `appVersion` is not the catalog version.
    pub note: Option<String>,
    /// Line of the entry.
    pub line: u32,
}

impl Chart {
    /// Whether the chart is pulled from an OCI registry.
    pub fn is_oci(&self) -> bool {
        self.repository.starts_with("oci://")
    }

    /// `oci://…/NAME:VERSION` or `https://…/ NAME VERSION`, for people.
    pub fn coordinates(&self) -> String {
        if self.is_oci() {
            format!(
                "{}/{}:{}",
                self.repository.trim_end_matches('/'),
                self.name,
                self.version
            )
        } else {
            format!("{} {} {}", self.repository, self.name, self.version)
        }
    }
}

/// A release manifest fetched by URL at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Where it is downloaded from.
    pub url: String,
    /// The SHA-256 upstream publishes for it (64 lower-case hex digits), if it publishes one.
    pub sha256: Option<String>,
    /// Where the URL (and the checksum) is published.
    pub source: String,
    /// Line of the entry.
    pub line: u32,
}

/// Why a release has neither a chart nor a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoArtifacts {
    /// The reason.
    pub text: String,
    /// Where it comes from.
    pub source: String,
    /// Line of the `noArtifacts:` block's first field.
    pub line: u32,
}

/// A component's published support policy: line `N` reaches its end of life when line `N+k`
/// (same major version) is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportPolicy {
    /// `k` in `N+k`.
    pub end_of_life_after: u64,
    /// Where the policy is published.
    pub source: String,
    /// A remark for people.
    pub note: Option<String>,
    /// Line of the `supportPolicy:` block's first field.
    pub line: u32,
}

/// The parts of a `source`: each a URL or `owner/repo:path@commit`, separated by ` ; `.
pub fn source_parts(source: &str) -> impl Iterator<Item = &str> {
    source.split(" ; ").map(str::trim)
}

/// What is wrong with one part of a `source`, if anything: it must be an `http(s)://` URL or
/// `owner/repo:path@commit` (commit: 7 to 40 hex digits), so that a machine can re-check it.
pub fn source_part_problem(part: &str) -> Option<&'static str> {
    if part.is_empty() {
        return Some("empty (two ` ; ` in a row, or a trailing one?)");
    }
    if part.contains(char::is_whitespace) {
        return Some(
            "free text: put prose in `note`, keep only URLs and owner/repo:path@commit here",
        );
    }
    if let Some(rest) = part
        .strip_prefix("https://")
        .or_else(|| part.strip_prefix("http://"))
    {
        return match rest.split('/').next() {
            Some(host) if host.contains('.') || host.starts_with("localhost") => None,
            _ => Some("not a URL: no host after the scheme"),
        };
    }
    let Some((repo, rest)) = part.split_once(':') else {
        return Some("neither a URL nor owner/repo:path@commit");
    };
    let mut owner_name = repo.splitn(2, '/');
    let repo_ok = |s: Option<&str>| {
        s.is_some_and(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
    };
    if !repo_ok(owner_name.next()) || !repo_ok(owner_name.next()) {
        return Some("neither a URL nor owner/repo:path@commit");
    }
    let Some((path, commit)) = rest.rsplit_once('@') else {
        return Some("owner/repo:path without `@commit`");
    };
    if path.is_empty() {
        return Some("owner/repo:path@commit without a path");
    }
    if !(7..=40).contains(&commit.len()) || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some("`@` must name a commit (7 to 40 hex digits), not a branch or tag");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_forms() {
        for ok in [
            "https://github.com/cert-manager/website/blob/master/content/docs/releases/README.md",
            "http://localhost:8080/x",
            "cert-manager/website:content/docs/releases/README.md@776e5db",
            "endoflife-date/release-data:releases/cilium.json@02d29498189a27902407623135ad2c87ed65ded4",
            "kubernetes/kubernetes:cmd/kubeadm/app/constants/constants.go@0123456789abcdef",
        ] {
            assert_eq!(source_part_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("the release notes", "free text"),
            (
                "cert-manager/website:README.md@master",
                "must name a commit",
            ),
            ("cert-manager/website:README.md", "without `@commit`"),
            ("cert-manager/website:@776e5db", "without a path"),
            ("website:README.md@776e5db", "neither"),
            ("https://", "no host"),
            ("", "empty"),
            ("README.md", "neither"),
        ] {
            let got = source_part_problem(bad).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(got.contains(why), "{bad}: {got}");
        }
        let parts: Vec<&str> = source_parts("https://a.io/x ; o/r:p@abcdef0").collect();
        assert_eq!(parts, ["https://a.io/x", "o/r:p@abcdef0"]);
    }
}
