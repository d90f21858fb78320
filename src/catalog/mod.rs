//! The version catalog: components, their release lines and the published facts that bind them.
//!
//! Files are read strictly (the private `load` module), checked for consistency ([`lint`]), and turned into a
//! [`Catalog`] that the solver and the matrix work on. The file format is described in
//! `catalog/FORMAT.md`.

mod age;
mod archive;
mod component;
mod diagnostics;
mod embedded;
mod facts;
mod fast;
pub mod lint;
mod load;
mod parse;
mod platform;
mod signing;
mod upgrade;
mod wire;

pub use crate::types::WithSpec;
pub use age::{Age, STALE_AFTER_DAYS};
pub use archive::MAX_ARCHIVE_BYTES;
pub use diagnostics::{Diagnostic, LoadError};
pub use facts::{
    Artifacts, Chart, KubernetesRelation, Manifest, NoArtifacts, Statement, SupportPolicy,
    source_part_problem, source_parts,
};
pub use load::SourceFile;
pub use platform::PlatformSpec;
pub use signing::{SigningDeclaration, identity_pattern};
pub use upgrade::{
    PartSkew, Phase, RunsOn, SkewPart, Upgrade, UpgradeRule, UpgradeRuleKind, VersionSkew,
    same_line,
};
pub use wire::API_VERSION;

use crate::types::{Date, Version, VersionReq};

/// A capability that components provide (`cni`, `ingress-controller`, …).
#[derive(Debug, Clone)]
pub struct Capability {
    /// Its name.
    pub name: String,
    /// What it means.
    pub description: String,
}

/// A free-text fact that is not a constraint (for example "upstream publishes no matrix").
#[derive(Debug, Clone)]
pub struct Note {
    /// The fact.
    pub text: String,
    /// Where it comes from.
    pub source: Option<String>,
    /// Line in the component file.
    pub line: u32,
}

/// Where a fact stands in the catalog: file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Path relative to the catalog root, e.g. `components/cert-manager.yaml`.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// A component of the platform and its release lines.
#[derive(Debug, Clone)]
pub struct Component {
    /// Its name, e.g. `cert-manager`.
    pub name: String,
    /// One line on what it does.
    pub description: String,
    /// Its home page.
    pub homepage: String,
    /// Capabilities it provides.
    pub provides: Vec<String>,
    /// Facts that are not constraints.
    pub notes: Vec<Note>,
    /// When a release line reaches its end of life, by upstream's published policy.
    pub support_policy: Option<SupportPolicy>,
    /// How upstream says it is upgraded (empty when upstream publishes no rule).
    pub upgrade: Upgrade,
    /// How upstream signs its artifacts, per version range (empty: upstream declares nothing).
    pub signing: Vec<SigningDeclaration>,
    /// Its versions, oldest first.
    pub versions: Vec<Release>,
    /// The file it was read from.
    pub file: String,
}

impl Component {
    /// The release with exactly this version.
    pub fn release(&self, v: &Version) -> Option<&Release> {
        self.versions.iter().find(|r| &r.version == v)
    }
    /// The newest release.
    pub fn newest(&self) -> Option<&Release> {
        self.versions.last()
    }
}

/// Lifecycle dates of a release line.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// When the minor line first shipped, where a source gives it.
    pub released: Option<Date>,
    /// End of (security) support, when known.
    pub end_of_life: Option<Date>,
    /// When the whole project was retired, if it was.
    pub retired: Option<Date>,
    /// When the git tag of the line's first release (x.y.0) was created (an annotated tag's tagger
    /// date, a lightweight tag's commit date: git's `creatordate`), where the file gives it.
    pub tagged: Option<Date>,
    /// Where the dates come from.
    pub source: Option<String>,
    /// Why a date departs from what the rules expect (tag date, support policy), for people.
    pub note: Option<String>,
    /// Line of the first entry under `lifecycle:` (of `version:` when there is none).
    pub line: u32,
}

/// Why a release is not offered on a given date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dead {
    /// Past its end of life.
    EndOfLife(Date),
    /// The project was retired.
    Retired(Date),
}

impl std::fmt::Display for Dead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dead::EndOfLife(d) => write!(f, "end of life since {d}"),
            Dead::Retired(d) => write!(f, "retired on {d}"),
        }
    }
}

impl Lifecycle {
    /// Whether the release is dead on `as_of`, and why (retirement wins over end of life).
    pub fn dead_on(&self, as_of: Date) -> Option<Dead> {
        if let Some(r) = self.retired.filter(|r| *r <= as_of) {
            return Some(Dead::Retired(r));
        }
        self.end_of_life
            .filter(|e| *e <= as_of)
            .map(Dead::EndOfLife)
    }
}

/// One version of a component (the latest patch of a release line) with its facts.
#[derive(Debug, Clone)]
pub struct Release {
    /// The version.
    pub version: Version,
    /// Line of `version:` in the component file.
    pub line: u32,
    /// Its lifecycle (all fields empty when the file gives none).
    pub lifecycle: Lifecycle,
    /// Hard requirements.
    pub requires: Vec<Constraint>,
    /// Optional constraints: "if NAME is present, it must be in RANGE".
    pub constrains: Vec<Constraint>,
    /// Components it cannot run beside.
    pub conflicts: Vec<Conflict>,
    /// Container images.
    pub images: Vec<Image>,
    /// How it relates to Kubernetes (a copy of the range when a `requires` names Kubernetes).
    pub kubernetes: KubernetesRelation,
    /// Charts and release manifests upstream publishes for installing it.
    pub artifacts: Artifacts,
}

/// A `requires` or `constrains` fact.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// A component or a capability.
    pub name: String,
    /// The allowed versions.
    pub range: VersionReq,
    /// Where the fact comes from.
    pub source: Option<String>,
    /// A remark for people.
    pub note: Option<String>,
    /// Line of the entry.
    pub line: u32,
}

/// A `conflicts` fact.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// The component it cannot run beside.
    pub name: String,
    /// Where the fact comes from.
    pub source: Option<String>,
    /// A remark for people.
    pub note: Option<String>,
    /// Line of the entry.
    pub line: u32,
}

/// A container image of a release.
#[derive(Debug, Clone)]
pub struct Image {
    /// Full reference with tag, e.g. `quay.io/jetstack/cert-manager-controller:v1.21.1`.
    pub reference: String,
    /// `sha256:…`, only where upstream publishes it.
    pub digest: Option<String>,
    /// Where the digest comes from.
    pub source: Option<String>,
    /// Line of the entry.
    pub line: u32,
}

/// A named request shipped with the catalog (`profiles/<name>.yaml`).
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile name (file stem).
    pub name: String,
    /// The request.
    pub spec: PlatformSpec,
}

/// A loaded catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Capabilities, in file order.
    pub capabilities: Vec<Capability>,
    /// Components, sorted by name.
    pub components: Vec<Component>,
    /// Profiles, sorted by name.
    pub profiles: Vec<Profile>,
    /// The date the facts were last checked against their sources (`checked:` in catalog.yaml).
    pub checked: Option<Date>,
    /// `sha256:…` over every file (path and content), in path order.
    pub digest: String,
    /// Where it came from: a directory, or `embedded`.
    pub origin: String,
    /// The files read, for error messages.
    pub files: Vec<SourceFile>,
    /// What the solver computes once per catalog (its compiled form), kept for every later solve
    /// of this catalog in the process. A catalog is not changed once loaded or built: its fields
    /// are public to read.
    pub(crate) solver_memo: Memo,
}

/// A value computed from a catalog on first use and kept with it. A clone starts empty (the clone
/// may be changed before it is used).
#[derive(Default)]
pub(crate) struct Memo(std::sync::OnceLock<std::sync::Arc<dyn std::any::Any + Send + Sync>>);

impl Memo {
    /// The value, computed by `f` on the first call.
    pub(crate) fn get_or_init(
        &self,
        f: impl FnOnce() -> std::sync::Arc<dyn std::any::Any + Send + Sync>,
    ) -> &std::sync::Arc<dyn std::any::Any + Send + Sync> {
        self.0.get_or_init(f)
    }
}

impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Memo(kept)"
        } else {
            "Memo(empty)"
        })
    }
}

/// Name of the Kubernetes component, which the solver and the matrix treat as the platform's axis.
pub const KUBERNETES: &str = "kubernetes";

impl Catalog {
    /// The catalog built into the binary at compile time.
    pub fn embedded() -> Result<Catalog, LoadError> {
        load::from_files("embedded", embedded::files())
    }

    /// Reads the catalog in `dir`.
    pub fn from_dir(dir: &std::path::Path) -> Result<Catalog, LoadError> {
        load::from_dir(dir)
    }

    /// Reads a catalog from in-memory files (path relative to the root, content).
    pub fn from_files(origin: &str, files: Vec<(String, String)>) -> Result<Catalog, LoadError> {
        load::from_files(origin, files)
    }

    /// Builds a catalog from components directly (used by tests and benchmarks). A release whose
    /// relation to Kubernetes is [`KubernetesRelation::Unstated`] gets the one its `requires` imply
    /// (a range, or [`KubernetesRelation::Itself`] for Kubernetes).
    pub fn from_parts(capabilities: Vec<Capability>, mut components: Vec<Component>) -> Catalog {
        components.sort_by(|a, b| a.name.cmp(&b.name));
        for c in &mut components {
            c.versions.sort_by(|a, b| a.version.cmp(&b.version));
            for r in &mut c.versions {
                if r.kubernetes == KubernetesRelation::Unstated {
                    r.kubernetes = KubernetesRelation::from_requires(&c.name, &r.requires);
                }
            }
        }
        Catalog {
            capabilities,
            components,
            checked: None,
            profiles: Vec::new(),
            digest: String::new(),
            origin: "memory".to_string(),
            files: Vec::new(),
            solver_memo: Memo::default(),
        }
    }

    /// The component with this name.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.components[i])
    }

    /// Index of the component with this name.
    pub fn component_index(&self, name: &str) -> Option<usize> {
        self.components
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
    }

    /// The capability with this name.
    pub fn capability(&self, name: &str) -> Option<&Capability> {
        self.capabilities.iter().find(|c| c.name == name)
    }

    /// Components that provide `capability`, in name order.
    pub fn providers(&self, capability: &str) -> Vec<&Component> {
        self.components
            .iter()
            .filter(|c| c.provides.iter().any(|p| p == capability))
            .collect()
    }

    /// The profile with this name.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// Every component and capability name, for "did you mean" suggestions.
    pub fn known_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .components
            .iter()
            .map(|c| c.name.as_str())
            .chain(self.capabilities.iter().map(|c| c.name.as_str()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The closest known names to `name` (edit distance), for "did you mean …?".
pub fn suggest<'a>(name: &str, known: &[&'a str]) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(2) || k.contains(name))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["cert-manager", "cilium", "calico", "ingress-controller"];
        assert_eq!(suggest("cert-manger", &known), vec!["cert-manager"]);
        assert_eq!(suggest("cillium", &known), vec!["cilium"]);
        assert!(suggest("zzzzzzzz", &known).is_empty());
    }
}
