//! What the search and the oracle are asked: root requirements and constraints over component
//! indices, and the sets of versions they name.

use std::fmt;

use crate::types::{Version, VersionReq};

/// A set of versions of one component, as the solver sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Set {
    /// Every version.
    Any,
    /// No version: the component must be absent.
    Nothing,
    /// A catalog or user range.
    Range(VersionReq),
    /// Exactly this version.
    Exact(Version),
    /// Any version newer than this one.
    Above(Version),
}

impl Set {
    /// Whether `v` is in the set.
    pub fn contains(&self, v: &Version) -> bool {
        match self {
            Set::Any => true,
            Set::Nothing => false,
            Set::Range(r) => r.matches(v),
            Set::Exact(x) => x == v,
            Set::Above(x) => v > x,
        }
    }
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Set::Any => f.write_str("*"),
            Set::Nothing => f.write_str("(absent)"),
            Set::Range(r) => write!(f, "{r}"),
            Set::Exact(v) => write!(f, "={v}"),
            Set::Above(v) => write!(f, ">{v}"),
        }
    }
}

/// A root-level requirement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Need {
    /// Component (by index) in the set: it must be present.
    One(usize, Set),
    /// One of these components (any version): a capability.
    AnyOf(Vec<usize>),
}

/// What to solve: root requirements, root constraints and excluded versions.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Must hold.
    pub needs: Vec<Need>,
    /// If the component is present it must be in the set.
    pub limits: Vec<(usize, Set)>,
}

/// A chosen platform: for each component index, the index of its chosen version (or `None`).
pub type Assignment = Vec<Option<usize>>;
