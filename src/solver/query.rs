//! What the search and the oracle are asked: root requirements and constraints over component
//! indices, and the sets of versions they name.

use std::fmt;

use crate::catalog::Catalog;
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

/// Platforms found by earlier checks of one oracle (each meets every catalog fact and every
/// exclusion of that oracle): a query that one of them meets has a platform without a search.
/// The explanation asks many questions whose answer is a platform already found.
#[derive(Debug, Default)]
pub(crate) struct Witnesses(Vec<Assignment>);

/// Witnesses kept per oracle (the newest ones).
const WITNESSES: usize = 32;

impl Witnesses {
    /// Whether a kept platform meets every need and limit of `q`.
    pub fn fits(&self, catalog: &Catalog, q: &Query) -> bool {
        let version =
            |a: &Assignment, c: usize| a[c].map(|v| &catalog.components[c].versions[v].version);
        self.0.iter().any(|a| {
            q.needs.iter().all(|n| match n {
                Need::One(c, set) => version(a, *c).is_some_and(|v| set.contains(v)),
                Need::AnyOf(ps) => ps.iter().any(|p| a[*p].is_some()),
            }) && q
                .limits
                .iter()
                .all(|(c, set)| version(a, *c).is_none_or(|v| set.contains(v)))
        })
    }

    /// Per component (of `n`), its version in the newest kept platform that has it: the
    /// preference of a search that should stay near the platforms found.
    pub fn near(&self, n: usize) -> Assignment {
        let mut out = vec![None; n];
        for a in self.0.iter().rev() {
            for (o, v) in out.iter_mut().zip(a) {
                if o.is_none() {
                    *o = *v;
                }
            }
        }
        out
    }

    /// Keeps platform `a` (dropping the oldest beyond the limit).
    pub fn keep(&mut self, a: Assignment) {
        if self.0.len() == WITNESSES {
            self.0.remove(0);
        }
        self.0.push(a);
    }
}
