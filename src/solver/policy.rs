//! The selection policy on top of the satisfiability oracle.

use std::collections::BTreeMap;

use crate::catalog::{Catalog, KUBERNETES};
use crate::types::{Date, Version};

use super::exclusions::request_exclusions;
use super::explain::explain_with;
use super::request::{Request, need_for};
use super::sat::{Assignment, Need, Oracle, Query, Set};
use super::search::{Decision, Outcome};
use super::{Chosen, SolveError, SolveProgress};

/// How a component's version was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The newest version that fits beside everything settled before it.
    Newest {
        /// Component.
        name: String,
        /// Version.
        version: Version,
    },
    /// Kept from the existing lock (minimal change).
    Kept {
        /// Component.
        name: String,
        /// Version.
        version: Version,
    },
    /// The provider chosen for a capability the request names.
    Provider {
        /// Capability.
        capability: String,
        /// The component chosen.
        name: String,
    },
}

/// A solved platform.
#[derive(Debug, Clone)]
pub struct Solution {
    /// The chosen Kubernetes version.
    pub kubernetes: Version,
    /// Every chosen component (Kubernetes included), sorted by name.
    pub components: Vec<Chosen>,
    /// The decisions, in the order they were taken.
    pub steps: Vec<Step>,
    /// What ran to find it.
    pub runs: Runs,
}

/// What ran to find a [`Solution`]: the search over the compiled catalog, `resolvo`, or both (the
/// search gave up and the policy was settled one decision at a time with `resolvo`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Runs {
    /// Searches over the compiled catalog ([`super::search`]): 1 for [`solve`], 0 for
    /// [`solve_by_checks`] called directly.
    pub searches: usize,
    /// Whether the search gave up (its budget of propagations spent), so `resolvo` found the answer.
    pub search_gave_up: bool,
    /// `resolvo` runs (the oracle's checks): 0 when the search found the answer.
    pub resolvo: usize,
}

impl Solution {
    /// The chosen version of `name`, if it is in the platform.
    pub fn version_of(&self, name: &str) -> Option<&Version> {
        self.components
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.version)
    }

    /// Chosen releases that reach end of life within `days` after `as_of` (or already have).
    pub fn lifecycle_warnings(
        &self,
        catalog: &Catalog,
        as_of: Date,
        days: i64,
    ) -> Vec<(String, Version, String)> {
        let horizon = as_of.add_days(days);
        let mut out = Vec::new();
        for c in &self.components {
            let Some(r) = catalog
                .component(&c.name)
                .and_then(|x| x.release(&c.version))
            else {
                continue;
            };
            if let Some(dead) = r.lifecycle.dead_on(as_of) {
                out.push((c.name.clone(), c.version.clone(), format!("is {dead}")));
            } else if let Some(eol) = r.lifecycle.end_of_life.filter(|e| *e <= horizon) {
                out.push((
                    c.name.clone(),
                    c.version.clone(),
                    format!(
                        "reaches end of life on {eol} ({} days after {as_of})",
                        eol.days() - as_of.days()
                    ),
                ));
            }
        }
        out
    }
}

/// Solves the request under the policy described in the module docs.
///
/// `prefer` holds versions from an existing lock to keep where they still fit.
///
/// The policy runs as one search over the compiled catalog ([`super::search`]); when that search
/// gives up (its budget of propagations spent), the answer comes from settling one decision at a
/// time with `resolvo` ([`solve_by_checks`]), which gives the same answer.
pub fn solve(
    catalog: &Catalog,
    request: &Request,
    prefer: &BTreeMap<String, Version>,
) -> Result<Solution, SolveError> {
    solve_reporting(catalog, request, prefer, &|_| {})
}

/// [`solve`], telling `progress` how a long solve goes (see [`SolveProgress`]).
pub fn solve_reporting(
    catalog: &Catalog,
    request: &Request,
    prefer: &BTreeMap<String, Version>,
    progress: &dyn Fn(SolveProgress),
) -> Result<Solution, SolveError> {
    request.validate(catalog)?;
    let oracle = Oracle::new(catalog, request_exclusions(catalog, request));
    let q = request.query(catalog);
    let kept: Vec<Option<usize>> = catalog
        .components
        .iter()
        .map(|c| {
            prefer
                .get(&c.name)
                .and_then(|v| c.versions.iter().position(|r| &r.version == v))
        })
        .collect();
    let locked: Vec<bool> = catalog
        .components
        .iter()
        .map(|c| prefer.contains_key(&c.name))
        .collect();
    match oracle.search(&q, &kept, &locked, progress) {
        Outcome::Found(decisions, fixed) => {
            let mut s = solution(&oracle, request, &kept, &decisions, &fixed);
            s.runs = Runs {
                searches: 1,
                search_gave_up: false,
                resolvo: oracle.calls(),
            };
            Ok(s)
        }
        Outcome::Nothing => Err(SolveError::Unsatisfiable(Box::new(explain_with(
            &oracle, request,
        )))),
        Outcome::GaveUp => {
            progress(SolveProgress::FallingBack);
            settle_by_checks(catalog, request, prefer, progress).map(|mut s| {
                s.runs.searches += 1;
                s.runs.search_gave_up = true;
                s
            })
        }
    }
}

/// The solution a completed search found: its decisions as steps.
fn solution(
    oracle: &Oracle<'_>,
    request: &Request,
    kept: &[Option<usize>],
    decisions: &[Decision],
    fixed: &[Option<usize>],
) -> Solution {
    let catalog = oracle.catalog();
    let request_caps: Vec<&str> = request
        .with
        .iter()
        .filter(|w| matches!(need_for(catalog, w), Need::AnyOf(_)))
        .map(|w| w.name.as_str())
        .collect();
    let name = |c: usize| catalog.components[c].name.clone();
    let steps = decisions
        .iter()
        .map(|d| match *d {
            Decision::Version(c, v) => {
                let version = catalog.components[c].versions[v].version.clone();
                if kept[c] == Some(v) {
                    Step::Kept {
                        name: name(c),
                        version,
                    }
                } else {
                    Step::Newest {
                        name: name(c),
                        version,
                    }
                }
            }
            Decision::AnyOf(j, p) => Step::Provider {
                capability: request_caps[j].to_string(),
                name: name(p),
            },
            Decision::Cap(k, p) => Step::Provider {
                capability: oracle.capability_name(k).to_string(),
                name: name(p),
            },
        })
        .collect();
    solution_of(catalog, fixed, steps, Runs::default())
}

/// The solution an assignment (`fixed`: per component the index of its version, if any) stands for,
/// with the steps that led to it.
fn solution_of(
    catalog: &Catalog,
    fixed: &[Option<usize>],
    steps: Vec<Step>,
    runs: Runs,
) -> Solution {
    let components: Vec<Chosen> = fixed
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            v.map(|v| Chosen {
                name: catalog.components[i].name.clone(),
                version: catalog.components[i].versions[v].version.clone(),
            })
        })
        .collect();
    let kubernetes = components
        .iter()
        .find(|c| c.name == KUBERNETES)
        .map(|c| c.version.clone())
        .unwrap_or_else(|| Version::new(0, 0, 0));
    Solution {
        kubernetes,
        components,
        steps,
        runs,
    }
}

/// The policy settled one decision at a time, each checked by the oracle (propagation, then
/// `resolvo`): the reference the search is tested against, and its fallback.
#[doc(hidden)]
pub fn solve_by_checks(
    catalog: &Catalog,
    request: &Request,
    prefer: &BTreeMap<String, Version>,
) -> Result<Solution, SolveError> {
    request.validate(catalog)?;
    settle_by_checks(catalog, request, prefer, &|_| {})
}

/// [`solve_by_checks`] after the request was validated, telling `progress` of each component
/// settled.
fn settle_by_checks(
    catalog: &Catalog,
    request: &Request,
    prefer: &BTreeMap<String, Version>,
    progress: &dyn Fn(SolveProgress),
) -> Result<Solution, SolveError> {
    let oracle = Oracle::new(catalog, request_exclusions(catalog, request));
    let mut q = request.query(catalog);
    let Some(mut cur) = oracle.check(&q) else {
        return Err(SolveError::Unsatisfiable(Box::new(explain_with(
            &oracle, request,
        ))));
    };
    let mut state = Settle {
        oracle: &oracle,
        catalog,
        prefer,
        settled: vec![false; catalog.components.len()],
        fixed: vec![None; catalog.components.len()],
        mentioned_by: mentioned_by(catalog),
        steps: Vec::new(),
    };
    if let Some(k) = catalog.component_index(KUBERNETES) {
        state.settle(k, &mut q, &mut cur);
    }
    for w in &request.with {
        if catalog.component(&w.name).is_some() {
            continue;
        }
        let Need::AnyOf(mut providers) = need_for(catalog, w) else {
            continue;
        };
        // a provider kept from the lock first, then name order (catalog order is name order)
        providers.sort_by_key(|p| !prefer.contains_key(&catalog.components[*p].name));
        for p in providers {
            let mut trial = q.clone();
            trial.needs.push(Need::One(p, Set::Any));
            if let Some(a) = oracle.check(&trial) {
                q = trial;
                cur = a;
                state.steps.push(Step::Provider {
                    capability: w.name.clone(),
                    name: catalog.components[p].name.clone(),
                });
                break;
            }
        }
    }
    let mut last_report = std::time::Instant::now();
    // Settle, in name order, the components that have entered the platform: named by the request,
    // chosen as a provider, or required by a version settled before. A component that the current
    // assignment merely happens to contain has not entered: fixing it would make it a requirement
    // that nothing in the request or the platform asks for.
    loop {
        if let Some(i) = (0..catalog.components.len())
            .find(|i| !state.settled[*i] && state.entered(*i, &q) && cur[*i].is_some())
        {
            state.settle(i, &mut q, &mut cur);
            if last_report.elapsed() >= super::search::REPORT_EVERY {
                last_report = std::time::Instant::now();
                progress(SolveProgress::Checking {
                    settled: state.settled.iter().filter(|s| **s).count(),
                    entered: (0..catalog.components.len())
                        .filter(|i| state.entered(*i, &q))
                        .count(),
                });
            }
            continue;
        }
        // A capability that a settled version requires and no settled component provides: its
        // first provider in name order that fits (a provider kept from the lock first).
        let Some(capability) = state.open_capability() else {
            break;
        };
        let mut providers = state.oracle.providers(&capability).unwrap_or_default();
        providers.sort_by_key(|p| !prefer.contains_key(&catalog.components[*p].name));
        let mut chosen = false;
        for p in providers {
            let mut trial = q.clone();
            trial.needs.push(Need::One(p, Set::Any));
            if let Some(a) = oracle.check(&trial) {
                q = trial;
                cur = a;
                state.steps.push(Step::Provider {
                    capability: capability.clone(),
                    name: catalog.components[p].name.clone(),
                });
                chosen = true;
                break;
            }
        }
        if !chosen {
            // cannot happen: the current assignment meets the requirement with some provider
            break;
        }
    }
    let runs = Runs {
        resolvo: oracle.calls(),
        ..Runs::default()
    };
    Ok(solution_of(catalog, &state.fixed, state.steps, runs))
}

struct Settle<'a, 'c> {
    oracle: &'a Oracle<'c>,
    catalog: &'c Catalog,
    prefer: &'a BTreeMap<String, Version>,
    settled: Vec<bool>,
    /// The version index each settled component is fixed at.
    fixed: Vec<Option<usize>>,
    /// For each component, the components whose releases name it in a fact.
    mentioned_by: Vec<Vec<usize>>,
    steps: Vec<Step>,
}

/// For each component index, the indices of components whose releases name it.
fn mentioned_by(catalog: &Catalog) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); catalog.components.len()];
    for (s, c) in catalog.components.iter().enumerate() {
        let mut named: Vec<usize> = c
            .versions
            .iter()
            .flat_map(|r| {
                r.requires
                    .iter()
                    .chain(r.constrains.iter())
                    .map(|x| x.name.as_str())
                    .chain(r.conflicts.iter().map(|x| x.name.as_str()))
            })
            .filter_map(|n| catalog.component_index(n))
            .collect();
        named.sort_unstable();
        named.dedup();
        for t in named {
            out[t].push(s);
        }
    }
    out
}

impl Settle<'_, '_> {
    /// Whether component `i` has entered the platform: the query requires it (the request, a
    /// chosen provider, Kubernetes) or a settled version requires it by name.
    fn entered(&self, i: usize, q: &Query) -> bool {
        let name = &self.catalog.components[i].name;
        q.needs
            .iter()
            .any(|n| matches!(n, Need::One(c, _) if *c == i))
            || self.fixed.iter().enumerate().any(|(s, v)| {
                v.is_some_and(|v| {
                    self.catalog.components[s].versions[v]
                        .requires
                        .iter()
                        .any(|r| &r.name == name)
                })
            })
    }

    /// The first capability (in name order) that a settled version requires and no settled
    /// component provides.
    fn open_capability(&self) -> Option<String> {
        let cat = self.catalog;
        let provided = |cap: &str| {
            self.fixed
                .iter()
                .enumerate()
                .any(|(s, v)| v.is_some() && cat.components[s].provides.iter().any(|p| p == cap))
        };
        self.fixed
            .iter()
            .enumerate()
            .filter_map(|(s, v)| v.map(|v| &cat.components[s].versions[v]))
            .flat_map(|r| r.requires.iter())
            .map(|r| r.name.as_str())
            .filter(|n| cat.component_index(n).is_none() && !provided(n))
            .min()
            .map(str::to_string)
    }

    /// Fixes component `i` at the kept or newest version that fits beside everything settled so far.
    fn settle(&mut self, i: usize, q: &mut Query, cur: &mut Assignment) {
        let comp = &self.catalog.components[i];
        self.settled[i] = true;
        if let Some(pv) = self.prefer.get(&comp.name) {
            let mut trial = q.clone();
            trial.needs.push(Need::One(i, Set::Exact(pv.clone())));
            if let Some(a) = self.oracle.check(&trial) {
                *cur = a;
                let v = cur[i].expect("a kept component is present");
                self.fix(i, v, q, true);
                return;
            }
        }
        loop {
            let Some(v) = cur[i] else { return };
            let version = comp.versions[v].version.clone();
            // nothing newer that could be chosen beside what is settled: no need to ask the solver
            let newer_possible = comp.versions.iter().enumerate().any(|(w, r)| {
                r.version > version
                    && self.oracle.excluded(i, w).is_none()
                    && q.limits
                        .iter()
                        .all(|(c, s)| *c != i || s.contains(&r.version))
                    && q.needs.iter().all(|n| match n {
                        Need::One(c, s) => *c != i || s.contains(&r.version),
                        Need::AnyOf(_) => true,
                    })
                    && self.fits_settled(i, w)
            });
            if !newer_possible {
                self.fix(i, v, q, false);
                return;
            }
            let mut trial = q.clone();
            trial.needs.push(Need::One(i, Set::Above(version.clone())));
            match self.oracle.check(&trial) {
                Some(a) => *cur = a,
                None => {
                    self.fix(i, v, q, false);
                    return;
                }
            }
        }
    }

    /// Records that component `i` is settled at version index `v`.
    fn fix(&mut self, i: usize, v: usize, q: &mut Query, kept: bool) {
        let comp = &self.catalog.components[i];
        let version = comp.versions[v].version.clone();
        q.needs.push(Need::One(i, Set::Exact(version.clone())));
        self.fixed[i] = Some(v);
        let name = comp.name.clone();
        self.steps.push(if kept {
            Step::Kept { name, version }
        } else {
            Step::Newest { name, version }
        });
    }

    /// Whether version index `w` of component `i` is compatible, fact by fact, with every settled
    /// component (a cheap test that spares solver runs; the solver still has the last word).
    fn fits_settled(&self, i: usize, w: usize) -> bool {
        let cat = self.catalog;
        let comp = &cat.components[i];
        let r = &comp.versions[w];
        let fixed_version = |name: &str| {
            cat.component_index(name)
                .and_then(|s| self.fixed[s].map(|x| &cat.components[s].versions[x].version))
        };
        for c in r.requires.iter().chain(r.constrains.iter()) {
            if fixed_version(&c.name).is_some_and(|v| !c.range.matches(v)) {
                return false;
            }
        }
        if r.conflicts.iter().any(|c| fixed_version(&c.name).is_some()) {
            return false;
        }
        for &s in &self.mentioned_by[i] {
            let Some(x) = self.fixed[s] else { continue };
            let rs = &cat.components[s].versions[x];
            for c in rs.requires.iter().chain(rs.constrains.iter()) {
                if c.name == comp.name && !c.range.matches(&r.version) {
                    return false;
                }
            }
            if rs.conflicts.iter().any(|c| c.name == comp.name) {
                return false;
            }
        }
        true
    }
}
