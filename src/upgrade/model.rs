//! The catalog as the planner reads it: platforms as one optional version per component, the
//! catalog release whose facts a version has, and the facts that hold or break between two
//! components or in a whole platform.

use crate::catalog::{Catalog, Component, KUBERNETES, Release, same_line};
use crate::solver::FactLine;
use crate::types::Version;

/// A platform: per catalog component (by index), its version or `None` when it is not installed.
pub(crate) type State = Vec<Option<Version>>;

/// One broken fact in a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broken {
    /// The component whose fact it is (index), `None` for a requirement of the plan itself.
    pub owner: Option<usize>,
    /// The other component the fact names, when it names one.
    pub other: Option<usize>,
    /// The fact as people read it.
    pub line: FactLine,
}

/// The catalog, indexed for planning.
pub(crate) struct Model<'c> {
    pub catalog: &'c Catalog,
    /// Index of the Kubernetes component.
    pub kube: usize,
    /// Names (components or capabilities) every platform of the plan must contain.
    pub keep: Vec<String>,
}

/// What a fact says about the other component.
enum Says<'a> {
    Requires(&'a crate::types::VersionReq),
    Constrains(&'a crate::types::VersionReq),
    Conflicts,
}

impl<'c> Model<'c> {
    pub fn new(catalog: &'c Catalog, kube: usize, keep: Vec<String>) -> Self {
        Model {
            catalog,
            kube,
            keep,
        }
    }

    pub fn comp(&self, i: usize) -> &'c Component {
        &self.catalog.components[i]
    }

    pub fn name(&self, i: usize) -> &'c str {
        &self.catalog.components[i].name
    }

    /// The catalog release whose facts version `v` of component `i` has: the version itself, or
    /// else the release of the same minor line (for Kubernetes, which lists several patches per
    /// minor, the newest at or below `v`). `None` when the catalog has no such line.
    pub fn release(&self, i: usize, v: &Version) -> Option<&'c Release> {
        let comp = self.comp(i);
        if let Some(r) = comp.release(v) {
            return Some(r);
        }
        let line: Vec<&Release> = comp
            .versions
            .iter()
            .filter(|r| same_line(&r.version, v))
            .collect();
        line.iter()
            .rev()
            .find(|r| &r.version <= v)
            .or_else(|| line.first())
            .copied()
    }

    /// Every fact between `a` (component `i` at `va`) and component `j` at `vb` (absent: `None`)
    /// that does not hold, from both sides.
    pub fn pair(&self, i: usize, va: &Version, j: usize, vb: Option<&Version>) -> Vec<Broken> {
        let mut out = Vec::new();
        self.one_side(i, va, j, vb, &mut out);
        if let Some(vb) = vb {
            self.one_side(j, vb, i, Some(va), &mut out);
        }
        out
    }

    /// The facts of `i` at `va` about `j` at `vb` that do not hold.
    fn one_side(
        &self,
        i: usize,
        va: &Version,
        j: usize,
        vb: Option<&Version>,
        out: &mut Vec<Broken>,
    ) {
        let Some(r) = self.release(i, va) else { return };
        let other = self.name(j);
        let facts = r
            .requires
            .iter()
            .filter(|c| c.name == other)
            .map(|c| (Says::Requires(&c.range), &c.source, c.note.as_deref()))
            .chain(
                r.constrains
                    .iter()
                    .filter(|c| c.name == other)
                    .map(|c| (Says::Constrains(&c.range), &c.source, c.note.as_deref())),
            )
            .chain(
                r.conflicts
                    .iter()
                    .filter(|c| c.name == other)
                    .map(|c| (Says::Conflicts, &c.source, c.note.as_deref())),
            );
        for (says, source, _) in facts {
            let (ok, text) = match says {
                Says::Requires(range) => (
                    vb.is_some_and(|v| range.matches(v)),
                    format!("requires {other} {range}"),
                ),
                Says::Constrains(range) => (
                    vb.is_none_or(|v| range.matches(v)),
                    format!("constrains {other} to {range}"),
                ),
                Says::Conflicts => (vb.is_none(), format!("conflicts with {other}")),
            };
            if !ok {
                out.push(Broken {
                    owner: Some(i),
                    other: Some(j),
                    line: FactLine {
                        subject: format!("{} {va}", self.name(i)),
                        text,
                        source: source.clone(),
                    },
                });
            }
        }
    }

    /// Whether component `i` at `v` fits Kubernetes at `k`, fact by fact.
    pub fn fits_kube(&self, i: usize, v: &Version, k: &Version) -> bool {
        i == self.kube || self.pair(i, v, self.kube, Some(k)).is_empty()
    }

    /// Whether a capability is provided by a component present in `st`.
    fn provided(&self, st: &[Option<Version>], capability: &str) -> bool {
        self.catalog
            .components
            .iter()
            .enumerate()
            .any(|(i, c)| st[i].is_some() && c.provides.iter().any(|p| p == capability))
    }

    /// Every fact that does not hold in the whole platform `st`, and every name of `keep` that is
    /// missing.
    pub fn broken(&self, st: &[Option<Version>]) -> Vec<Broken> {
        let mut out = Vec::new();
        for (i, v) in st.iter().enumerate() {
            let Some(v) = v else { continue };
            for (j, w) in st.iter().enumerate() {
                if j != i {
                    self.one_side(i, v, j, w.as_ref(), &mut out);
                }
            }
            if let Some(r) = self.release(i, v) {
                for c in &r.requires {
                    if self.catalog.component(&c.name).is_none() && !self.provided(st, &c.name) {
                        out.push(Broken {
                            owner: Some(i),
                            other: None,
                            line: FactLine {
                                subject: format!("{} {v}", self.name(i)),
                                text: format!(
                                    "requires a {} (no component that provides it)",
                                    c.name
                                ),
                                source: c.source.clone(),
                            },
                        });
                    }
                }
            }
        }
        for k in &self.keep {
            let present = match self.catalog.component_index(k) {
                Some(i) => st[i].is_some(),
                None => self.provided(st, k),
            };
            if !present {
                out.push(Broken {
                    owner: None,
                    other: self.catalog.component_index(k),
                    line: FactLine {
                        subject: "request".to_string(),
                        text: format!("wants {k} in every step"),
                        source: None,
                    },
                });
            }
        }
        out
    }

    /// Whether `keep` and the capability requirements of the versions fixed so far can still be
    /// met: for each, a provider is present or still open (`open[i]`: not decided yet and able to
    /// be present).
    pub fn capabilities_possible(
        &self,
        st: &[Option<Version>],
        decided: usize,
        open: &[bool],
    ) -> bool {
        let possible = |cap: &str| {
            self.catalog.components.iter().enumerate().any(|(i, c)| {
                c.provides.iter().any(|p| p == cap)
                    && if i < decided {
                        st[i].is_some()
                    } else {
                        open[i]
                    }
            })
        };
        for k in &self.keep {
            let ok = match self.catalog.component_index(k) {
                Some(i) => {
                    if i < decided {
                        st[i].is_some()
                    } else {
                        open[i]
                    }
                }
                None => possible(k),
            };
            if !ok {
                return false;
            }
        }
        for (i, v) in st.iter().enumerate().take(decided) {
            let Some(v) = v else { continue };
            if let Some(r) = self.release(i, v) {
                for c in &r.requires {
                    if self.catalog.component(&c.name).is_none() && !possible(&c.name) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The catalog versions of component `i` after `from` (exclusive) up to `bound` (inclusive),
    /// with `bound` itself when it is not a catalog version; oldest first.
    pub fn between(&self, i: usize, from: &Version, bound: &Version) -> Vec<Version> {
        let mut out: Vec<Version> = self
            .comp(i)
            .versions
            .iter()
            .map(|r| r.version.clone())
            .filter(|v| v > from && v <= bound)
            .collect();
        if bound > from && !out.contains(bound) {
            out.push(bound.clone());
            out.sort();
        }
        out
    }

    /// The catalog versions of component `i`, oldest first.
    pub fn lines(&self, i: usize) -> Vec<Version> {
        self.comp(i)
            .versions
            .iter()
            .map(|r| r.version.clone())
            .collect()
    }

    /// Whether upstream's upgrade rules allow moving component `i` from `a` straight to `b`.
    pub fn hop_allowed(&self, i: usize, a: &Version, b: &Version) -> bool {
        self.comp(i)
            .upgrade
            .broken_by(a, b, &self.lines(i))
            .is_empty()
    }

    /// The Kubernetes facts of component `i` at `v`: its `requires kubernetes` range, as a fact line.
    pub fn kube_fact(&self, i: usize, v: &Version) -> Option<FactLine> {
        let r = self.release(i, v)?;
        r.requires
            .iter()
            .find(|c| c.name == KUBERNETES)
            .map(|c| FactLine {
                subject: format!("{} {v}", self.name(i)),
                text: format!("requires kubernetes {}", c.range),
                source: c.source.clone(),
            })
    }
}
