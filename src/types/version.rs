//! Versions and version ranges, with the two reading rules of `bundle`:
//! strict for the catalog, lenient (distribution suffixes dropped) for what users type.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// Why a version or range could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The text is not a version at all.
    #[error("`{text}` is not a version: {reason}")]
    Invalid {
        /// What was given.
        text: String,
        /// Why it was refused.
        reason: String,
    },
    /// The text is not a range.
    #[error("`{text}` is not a version range: {reason}")]
    InvalidRange {
        /// What was given.
        text: String,
        /// Why it was refused.
        reason: String,
    },
}

/// A release version: `MAJOR.MINOR.PATCH`, no pre-release, no build metadata.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(semver::Version);

impl Version {
    /// Builds a version from its three numbers.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version(semver::Version::new(major, minor, patch))
    }

    /// Reads a catalog version: exactly `MAJOR.MINOR.PATCH`, nothing else.
    pub fn parse_strict(text: &str) -> Result<Self, VersionError> {
        let invalid = |reason: &str| VersionError::Invalid {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        if text.starts_with('v') {
            return Err(invalid("write it without the leading `v`"));
        }
        let v = semver::Version::parse(text).map_err(|e| invalid(&e.to_string()))?;
        if !v.pre.is_empty() || !v.build.is_empty() {
            return Err(invalid(
                "catalog versions are plain releases (MAJOR.MINOR.PATCH) without pre-release or build suffix",
            ));
        }
        Ok(Version(v))
    }

    /// Reads a version the way a user or a cluster writes it, and returns its base version.
    ///
    /// `v1.30.2` → `1.30.2`; `1.34.6-eks-1-34-5` → `1.34.6`; `1.30.2+rke2r1` → `1.30.2`;
    /// `1.31.4-gke.1000` → `1.31.4`; `1.35` → `1.35.0`. A real pre-release (`-alpha`, `-beta`, `-rc`)
    /// is refused, because no catalog version is a pre-release.
    pub fn parse_lenient(text: &str) -> Result<Self, VersionError> {
        let (base, had_suffix) = base_version_text(text);
        let invalid = |reason: &str| VersionError::Invalid {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        if had_suffix == Suffix::PreRelease {
            return Err(invalid(
                "pre-releases (alpha, beta, rc) are not in the catalog; give a released version",
            ));
        }
        let parts: Vec<&str> = base.split('.').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(invalid("expected MAJOR.MINOR[.PATCH]"));
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            nums[i] = p
                .parse()
                .map_err(|_| invalid("expected numbers separated by dots"))?;
        }
        if parts.len() < 2 {
            return Err(invalid("expected at least MAJOR.MINOR"));
        }
        Ok(Version::new(nums[0], nums[1], nums[2]))
    }

    /// The major number.
    pub fn major(&self) -> u64 {
        self.0.major
    }
    /// The minor number.
    pub fn minor(&self) -> u64 {
        self.0.minor
    }
    /// The patch number.
    pub fn patch(&self) -> u64 {
        self.0.patch
    }
    /// `MAJOR.MINOR`, e.g. `1.35` — how Kubernetes minors are named.
    pub fn minor_string(&self) -> String {
        format!("{}.{}", self.0.major, self.0.minor)
    }
    pub(crate) fn as_semver(&self) -> &semver::Version {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse_strict(s)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Suffix {
    None,
    Dropped,
    PreRelease,
}

/// Splits a user-written version into its base text and what kind of suffix it had.
fn base_version_text(text: &str) -> (&str, Suffix) {
    let text = text.trim();
    let text = text.strip_prefix('v').unwrap_or(text);
    let (text, build) = match text.split_once('+') {
        Some((base, _)) => (base, true),
        None => (text, false),
    };
    match text.split_once('-') {
        Some((base, pre)) => {
            let lower = pre.to_ascii_lowercase();
            if ["alpha", "beta", "rc"].iter().any(|p| lower.starts_with(p)) {
                (base, Suffix::PreRelease)
            } else {
                (base, Suffix::Dropped)
            }
        }
        None if build => (text, Suffix::Dropped),
        None => (text, Suffix::None),
    }
}

/// A version range: comma-separated comparators, with the semantics of `semver::VersionReq`.
///
/// The original text is kept for messages, so a fact is quoted as the catalog wrote it.
#[derive(Debug, Clone)]
pub struct VersionReq {
    req: semver::VersionReq,
    text: String,
}

impl PartialEq for VersionReq {
    fn eq(&self, other: &Self) -> bool {
        self.req == other.req
    }
}
impl Eq for VersionReq {}
impl std::hash::Hash for VersionReq {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.req.hash(state)
    }
}

const OPERATORS: [&str; 8] = [">=", "<=", ">", "<", "=", "^", "~", "*"];

impl VersionReq {
    /// Every version.
    pub fn any() -> Self {
        VersionReq {
            req: semver::VersionReq::STAR,
            text: "*".to_string(),
        }
    }

    /// Exactly this version.
    pub fn exact(v: &Version) -> Self {
        Self::parse_strict(&format!("={v}")).expect("an exact range of a valid version parses")
    }

    /// Reads a catalog range: every comparator must name its operator (`>=1.29.0`, not `1.29`).
    pub fn parse_strict(text: &str) -> Result<Self, VersionError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(VersionError::InvalidRange {
                text: text.to_string(),
                reason: "the range is empty; write `*` for any version".to_string(),
            });
        }
        for part in trimmed.split(',') {
            let part = part.trim();
            if !OPERATORS.iter().any(|op| part.starts_with(op)) {
                return Err(VersionError::InvalidRange {
                    text: text.to_string(),
                    reason: format!(
                        "comparator `{part}` has no operator; write `>={part}`, `={part}`, `~{part}` or `^{part}`"
                    ),
                });
            }
        }
        let req = semver::VersionReq::parse(trimmed).map_err(|e| VersionError::InvalidRange {
            text: text.to_string(),
            reason: e.to_string(),
        })?;
        Ok(VersionReq {
            req,
            text: trimmed.to_string(),
        })
    }

    /// Reads a range the way a user writes it.
    ///
    /// Each comparator's version is read as its base version (see [`Version::parse_lenient`]), and a
    /// comparator without an operator means "this minor, at least this patch": `1.35` → `~1.35`,
    /// `1.34.6-eks-1-34-5` → `~1.34.6` (that is `>=1.34.6, <1.35.0`).
    pub fn parse_lenient(text: &str) -> Result<Self, VersionError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(VersionError::InvalidRange {
                text: text.to_string(),
                reason: "the range is empty; write `*` for any version".to_string(),
            });
        }
        let mut parts = Vec::new();
        for part in trimmed.split(',') {
            let part = part.trim();
            if part == "*" {
                parts.push("*".to_string());
                continue;
            }
            let op = OPERATORS
                .iter()
                .find(|op| part.starts_with(**op))
                .copied()
                .unwrap_or("");
            let rest = part[op.len()..].trim();
            if rest.contains('*') || rest.contains('x') && !rest.contains('-') {
                // wildcards such as 1.35.* are passed to semver as they are
                parts.push(format!("{op}{rest}"));
                continue;
            }
            let (base, suffix) = base_version_text(rest);
            if suffix == Suffix::PreRelease {
                return Err(VersionError::InvalidRange {
                    text: text.to_string(),
                    reason: format!("`{rest}` is a pre-release; the catalog holds releases only"),
                });
            }
            if base.split('.').any(|n| n.parse::<u64>().is_err()) {
                return Err(VersionError::InvalidRange {
                    text: text.to_string(),
                    reason: format!("`{rest}` is not a version"),
                });
            }
            let op = if op.is_empty() { "~" } else { op };
            parts.push(format!("{op}{base}"));
        }
        let normalized = parts.join(", ");
        let req =
            semver::VersionReq::parse(&normalized).map_err(|e| VersionError::InvalidRange {
                text: text.to_string(),
                reason: e.to_string(),
            })?;
        Ok(VersionReq {
            req,
            text: normalized,
        })
    }

    /// Whether `v` is in the range.
    pub fn matches(&self, v: &Version) -> bool {
        self.req.matches(v.as_semver())
    }

    /// The versions in the range among `n` versions sorted oldest first (`at(i)` is the `i`-th), as
    /// the index range `lo..hi` of those that [`VersionReq::matches`] accepts, found by binary
    /// search: each comparator accepts one contiguous run of releases (versions without
    /// pre-release), so the range does too. The run's ends are checked with
    /// [`VersionReq::matches`] itself; `None` when a comparator names a pre-release or an end
    /// disagrees (then ask [`VersionReq::matches`] version by version).
    pub fn span<'v>(&self, n: usize, at: impl Fn(usize) -> &'v Version) -> Option<Range<usize>> {
        let key = |i: usize| {
            let v = at(i).as_semver();
            (v.major, v.minor, v.patch)
        };
        // first index whose version is at least `b`
        let first_from = |b: (u64, u64, u64)| {
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if key(mid) < b {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let (mut lo, mut hi) = (0, n);
        for c in &self.req.comparators {
            let (from, below) = comparator_bounds(c)?;
            if let Some(b) = from {
                lo = lo.max(first_from(b));
            }
            if let Some(b) = below {
                hi = hi.min(first_from(b));
            }
        }
        let hi = hi.max(lo);
        let accepts = |i: usize| self.matches(at(i));
        let ends_agree = if lo < hi {
            accepts(lo) && accepts(hi - 1)
        } else {
            lo == n || !accepts(lo)
        } && (lo == 0 || !accepts(lo - 1))
            && (hi == n || !accepts(hi));
        ends_agree.then_some(lo..hi)
    }

    /// Whether this is `*`.
    pub fn is_any(&self) -> bool {
        self.req == semver::VersionReq::STAR
    }

    /// The range as written (normalised for user input).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The releases `comparator` accepts, as `(from, below)`: at least `from` (when bounded below) and
/// less than `below` (when bounded above), with semver's meaning of each operator and of missing
/// parts (`>1.2` is `>=1.3.0`, `<=1.2` is `<1.3.0`, `^0.2` is `>=0.2.0, <0.3.0`, …). `None` for a
/// comparator that names a pre-release, or an operator semver added later.
#[allow(clippy::type_complexity)]
fn comparator_bounds(
    c: &semver::Comparator,
) -> Option<(Option<(u64, u64, u64)>, Option<(u64, u64, u64)>)> {
    use semver::Op;
    if !c.pre.is_empty() {
        return None;
    }
    let (major, minor, patch) = (c.major, c.minor, c.patch);
    let at = (major, minor.unwrap_or(0), patch.unwrap_or(0));
    // just past every version the comparator's own (possibly partial) version stands for
    let past = match (minor, patch) {
        (None, _) => (major + 1, 0, 0),
        (Some(m), None) => (major, m + 1, 0),
        (Some(m), Some(p)) => (major, m, p + 1),
    };
    Some(match c.op {
        Op::Exact | Op::Wildcard => (Some(at), Some(past)),
        Op::Greater => (Some(past), None),
        Op::GreaterEq => (Some(at), None),
        Op::Less => (None, Some(at)),
        Op::LessEq => (None, Some(past)),
        Op::Tilde => (
            Some(at),
            Some(match minor {
                None => (major + 1, 0, 0),
                Some(m) => (major, m + 1, 0),
            }),
        ),
        Op::Caret => (
            Some(at),
            Some(match (major, minor, patch) {
                (0, Some(0), Some(p)) => (0, 0, p + 1),
                (0, Some(m), _) => (0, m + 1, 0),
                (0, None, _) => (1, 0, 0),
                (m, _, _) => (m + 1, 0, 0),
            }),
        ),
        _ => return None,
    })
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_refuses_prefix_and_suffixes() {
        assert!(Version::parse_strict("1.30.2").is_ok());
        assert!(Version::parse_strict("v1.30.2").is_err());
        assert!(Version::parse_strict("1.30").is_err());
        assert!(Version::parse_strict("1.30.2-rc.1").is_err());
        assert!(Version::parse_strict("1.30.2+rke2r1").is_err());
    }

    #[test]
    fn lenient_reads_distribution_versions_as_base() {
        let v = |s| Version::parse_lenient(s).unwrap().to_string();
        assert_eq!(v("v1.30.2"), "1.30.2");
        assert_eq!(v("1.34.6-eks-1-34-5"), "1.34.6");
        assert_eq!(v("1.30.2+rke2r1"), "1.30.2");
        assert_eq!(v("v1.31.4-gke.1000"), "1.31.4");
        assert_eq!(v("1.35"), "1.35.0");
        assert!(Version::parse_lenient("1.36.0-rc.0").is_err());
        assert!(Version::parse_lenient("banana").is_err());
    }

    #[test]
    fn strict_ranges_need_operators() {
        assert!(VersionReq::parse_strict(">=1.29.0, <1.34.0").is_ok());
        assert!(VersionReq::parse_strict("1.29").is_err());
        assert!(VersionReq::parse_strict(">=1.29.0, 1.33").is_err());
        assert!(VersionReq::parse_strict("").is_err());
        assert!(VersionReq::parse_strict("*").unwrap().is_any());
    }

    #[test]
    fn lenient_ranges() {
        let r = VersionReq::parse_lenient("1.34.6-eks-1-34-5").unwrap();
        assert!(r.matches(&Version::new(1, 34, 11)));
        assert!(r.matches(&Version::new(1, 34, 6)));
        assert!(!r.matches(&Version::new(1, 34, 5)));
        assert!(!r.matches(&Version::new(1, 35, 0)));
        let r = VersionReq::parse_lenient("~1.33").unwrap();
        assert!(r.matches(&Version::new(1, 33, 13)));
        assert!(!r.matches(&Version::new(1, 34, 0)));
        let r = VersionReq::parse_lenient(">=1.32, <1.35").unwrap();
        assert!(r.matches(&Version::new(1, 34, 11)));
        assert!(!r.matches(&Version::new(1, 35, 0)));
        let r = VersionReq::parse_lenient(">=v1.30.2+rke2r1").unwrap();
        assert!(r.matches(&Version::new(1, 30, 2)));
        assert!(VersionReq::parse_lenient(">=1.36.0-rc.1").is_err());
    }

    #[test]
    fn span_is_the_run_matches_accepts() {
        let mut versions = Vec::new();
        for major in 0..3 {
            for minor in [0, 1, 2, 5] {
                for patch in [0, 1, 3] {
                    versions.push(Version::new(major, minor, patch));
                }
            }
        }
        let mut ranges = vec!["*".to_string()];
        for op in ["=", ">", ">=", "<", "<=", "~", "^", ""] {
            for v in [
                "0", "0.0", "0.1", "0.0.1", "1", "1.1", "1.2.3", "1.5.0", "2.5.3", "3.0.0",
            ] {
                ranges.push(format!("{op}{v}"));
            }
        }
        ranges.extend(
            [
                "1.*",
                "1.1.*",
                "0.*",
                ">=0.1.0, <2.1.0",
                ">1.0.0, <=1.5.1",
                ">=2.0.0, <1.0.0",
            ]
            .map(String::from),
        );
        ranges.extend(["^1.1, ~1.1.1", ">=1.2.0-rc.1"].map(String::from));
        for text in &ranges {
            let r = VersionReq {
                req: semver::VersionReq::parse(text).unwrap(),
                text: text.clone(),
            };
            for n in [0, 1, 7, versions.len()] {
                let list = &versions[versions.len() - n..];
                let want: Vec<usize> = (0..n).filter(|i| r.matches(&list[*i])).collect();
                match r.span(n, |i| &list[i]) {
                    Some(span) => assert_eq!(span.collect::<Vec<_>>(), want, "{text} over {n}"),
                    None => assert!(
                        text.contains('-'),
                        "{text}: only pre-release comparators decline"
                    ),
                }
            }
        }
    }
}
