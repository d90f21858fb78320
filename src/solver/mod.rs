//! From a request and a catalog to a platform: the newest set of versions that are really
//! compatible, or an explanation of why none is.
//!
//! Kubernetes is a package like any other. [`sat`] wraps `resolvo` as a yes/no oracle; [`solve`]
//! applies the selection policy on top of it, [`explain`] turns a failure into facts with sources.
//!
//! **Policy.** The newest Kubernetes the whole request allows; then, for each capability the request
//! names, the first provider in name order that fits; then the newest version of each component in
//! name order, among the components that have entered the platform: named by the request, chosen as
//! a provider, or required by a version settled before (so a dependency is settled after what
//! requires it, and nothing enters that nothing asks for). A capability that a settled version
//! requires and no settled component provides gets its first provider in name order that fits.
//! Versions taken from an existing lock are kept where they still fit (minimal change). End-of-life and
//! retired versions are excluded unless `allow_eol`, and so are `untested` versions (upstream publishes
//! no Kubernetes range for them) unless `allow_untested`. The answer is a pure function of its inputs.

mod compile;
mod exclusions;
mod explain;
mod minimal;
mod policy;
mod propagate;
mod query;
mod refute;
mod request;
pub mod sat;
mod search;
mod why;

pub use exclusions::exclusions as lifecycle_exclusions;
pub use exclusions::{UNTESTED_REASON, request_exclusions};
pub use explain::{Explanation, FactLine, explain};
pub use policy::{Runs, Solution, Step, solve, solve_by_checks, solve_reporting};
pub use request::{Request, RequestError, RequestItem};
pub use why::{HeldBack, why};

use crate::catalog::{Catalog, Diagnostic};
use crate::types::Version;

/// What a long solve reports as it goes ([`solve_reporting`]); the library never prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolveProgress {
    /// The search, about once every quarter second after its first second: the decisions on its
    /// current path, the components that have entered the platform so far, and the dead ends it
    /// has learned from.
    Searching {
        /// Decisions on the current path (components settled, providers chosen).
        settled: usize,
        /// Components that have entered the platform so far.
        entered: usize,
        /// Dead ends learned from so far.
        dead_ends: usize,
    },
    /// The search spent its budget: the answer now comes from settling one decision at a time,
    /// each checked by `resolvo` (the same answer; on a large catalog near its satisfiability
    /// threshold this can take minutes).
    FallingBack,
    /// The fallback settled another component.
    Checking {
        /// Components settled so far.
        settled: usize,
        /// Components that have entered the platform so far.
        entered: usize,
    },
}

/// The platform could not be solved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SolveError {
    /// The request names something the catalog does not have, or is contradictory.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Nothing fits; the explanation says why.
    #[error("no platform satisfies the request")]
    Unsatisfiable(Box<Explanation>),
}

/// Catalog lint rule that needs the solver: a release whose own requirements can never be met
/// (with every release allowed, end of life or not).
pub fn lint_satisfiable(catalog: &Catalog) -> Vec<Diagnostic> {
    let excluded = catalog
        .components
        .iter()
        .map(|c| vec![None; c.versions.len()])
        .collect();
    let oracle = sat::Oracle::new(catalog, excluded);
    let mut out = Vec::new();
    for (ci, c) in catalog.components.iter().enumerate() {
        for r in &c.versions {
            let q = sat::Query {
                needs: vec![sat::Need::One(ci, sat::Set::Exact(r.version.clone()))],
                limits: vec![],
            };
            if !oracle.feasible(&q) {
                let culprits: Vec<String> = r
                    .requires
                    .iter()
                    .filter(|c| {
                        let need = match catalog.component_index(&c.name) {
                            Some(t) => sat::Need::One(t, sat::Set::Range(c.range.clone())),
                            None => sat::Need::AnyOf(
                                oracle
                                    .providers(&c.name)
                                    .map(|p| p.to_vec())
                                    .unwrap_or_default(),
                            ),
                        };
                        !oracle.feasible(&sat::Query {
                            needs: vec![need],
                            limits: vec![],
                        })
                    })
                    .map(|c| format!("`requires {} {}`", c.name, c.range))
                    .collect();
                let why = if culprits.is_empty() {
                    "its requirements exclude each other".to_string()
                } else {
                    format!("{} cannot be met", culprits.join(" and "))
                };
                out.push(Diagnostic {
                    file: c.file.clone(),
                    line: r.line,
                    column: 0,
                    field: None,
                    message: format!("{} {}: can never be installed: {why}", c.name, r.version),
                    hint: None,
                });
            }
        }
    }
    out
}

/// Every fact of `catalog` as the solver compiles it: `(component, version index, component it is
/// about, allowed)`, where `allowed[b]` says whether it allows version `b` of the other component
/// (the last entry: its absence). Several facts of one release about one component are one entry
/// (their intersection). For tests that compare the compiled catalog with the facts as written.
#[doc(hidden)]
pub fn compiled_facts(catalog: &Catalog) -> Vec<(usize, usize, usize, Vec<bool>)> {
    compile::Compiled::new(catalog).allowed()
}

/// A chosen component version, resolved against the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Component name.
    pub name: String,
    /// Chosen version.
    pub version: Version,
}
