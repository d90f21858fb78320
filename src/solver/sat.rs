//! The satisfiability oracle: one call = propagation over the compiled catalog, then (unless that
//! already refutes the query) one `resolvo` run over the versions propagation leaves.
//!
//! This is the only file that knows `resolvo`; everything above it (policy, explanations, matrix)
//! talks to [`Oracle::check`].

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use resolvo::utils::Pool;
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider,
    HintDependenciesAvailable, Interner, KnownDependencies, NameId, Problem, Requirement,
    SolvableId, Solver, SolverCache, StringId, UnsolvableOrCancelled, VersionSetId,
    VersionSetUnionId,
};

use crate::catalog::Catalog;
use crate::types::{Version, VersionReq};

use super::compile::{Compiled, bits};
use super::propagate::{Queue, propagate};
use super::query::Witnesses;
pub use super::query::{Assignment, Need, Query, Set};
use super::search::{Goal, Outcome, search};

impl resolvo::utils::VersionSet for Set {
    type V = Rec;
}

/// Per component, per version: why the release may not be chosen (`None`: it may).
type Exclusions = Vec<Vec<Option<String>>>;

/// A solvable: one version of one component.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rec {
    comp: usize,
    ver: usize,
    version: Version,
}

impl fmt::Display for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.version)
    }
}

/// Propagations a search may make (plus 20 per component) before it gives up for `resolvo`.
const SEARCH_BUDGET: usize = 20_000;

/// The search's budget of propagations for a compiled catalog of `n` components: `SEARCH_BUDGET`
/// plus 20 per component, or `BUNDLE_SOLVER_BUDGET` when set (the tests use it to run the
/// fallback on small catalogs).
fn search_budget(n: usize) -> usize {
    std::env::var("BUNDLE_SOLVER_BUDGET")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(SEARCH_BUDGET + 20 * n)
}

/// Solves queries over one catalog with one set of excluded versions.
///
/// [`Oracle::check`] solves each query over the versions propagation leaves for it (a fresh, small
/// `resolvo` problem); one `resolvo` solver over the whole catalog is kept for the conflict reports
/// of [`Oracle::check_with_report`].
pub struct Oracle<'c> {
    catalog: &'c Catalog,
    /// Per component, per version: why it is excluded.
    excluded: Rc<Exclusions>,
    /// Capability name → provider indices.
    capabilities: Rc<HashMap<&'c str, Vec<usize>>>,
    /// The `resolvo` solver over the whole catalog, made on first use (only conflict reports
    /// need it).
    solver: std::cell::OnceCell<std::cell::RefCell<Solver<Provider<'c>>>>,
    calls: std::cell::Cell<usize>,
    /// The catalog as bit sets, for propagation before each check.
    compiled: Compiled<'c>,
    /// The domain with every version that is not excluded, and absence.
    base: Vec<u64>,
    /// Platforms that earlier [`Oracle::feasible`] calls found.
    witnesses: std::cell::RefCell<Witnesses>,
}

impl<'c> Oracle<'c> {
    /// An oracle where `excluded[c][v]` gives the reason version `v` of component `c` may not be chosen.
    pub fn new(catalog: &'c Catalog, excluded: Exclusions) -> Self {
        let _phase = crate::trace::Phase::start("solver oracle setup");
        let mut capabilities: HashMap<&'c str, Vec<usize>> = HashMap::new();
        for (i, c) in catalog.components.iter().enumerate() {
            for p in &c.provides {
                capabilities.entry(p.as_str()).or_default().push(i);
            }
        }
        let compiled = Compiled::new(catalog);
        let mut base = compiled.full_domain();
        for (c, row) in excluded.iter().enumerate() {
            for (v, why) in row.iter().enumerate() {
                if why.is_some() {
                    bits::clear(compiled.slice_mut(&mut base, c), v);
                }
            }
        }
        Oracle {
            catalog,
            excluded: Rc::new(excluded),
            capabilities: Rc::new(capabilities),
            solver: std::cell::OnceCell::new(),
            calls: std::cell::Cell::new(0),
            compiled,
            base,
            witnesses: Default::default(),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &'c Catalog {
        self.catalog
    }

    /// Why this version is excluded, if it is.
    pub fn excluded(&self, comp: usize, ver: usize) -> Option<String> {
        self.excluded
            .get(comp)
            .and_then(|v| v.get(ver))
            .and_then(|r| r.clone())
    }

    /// Providers of a capability.
    pub fn providers(&self, capability: &str) -> Option<Vec<usize>> {
        self.capabilities.get(capability).cloned()
    }

    /// How many solver runs this oracle has made.
    pub fn calls(&self) -> usize {
        self.calls.get()
    }

    /// Solves the query: `Some(assignment)` if a platform exists, `None` if not.
    ///
    /// Arc consistency first removes every version that no platform for the query can contain
    /// (often refuting the query without a solver run); `resolvo` then solves over the versions
    /// that are left, a much smaller problem than the whole catalog once versions are settled.
    pub fn check(&self, q: &Query) -> Option<Assignment> {
        self.calls.set(self.calls.get() + 1);
        let d = self.domains(q)?;
        let provider = Provider::new(
            self.catalog,
            Rc::clone(&self.excluded),
            Rc::clone(&self.capabilities),
            Some((&self.compiled, d)),
        );
        let mut solver = Solver::new(provider);
        solve_with(&mut solver, self.catalog, q).ok()
    }

    /// The policy's search for query `q` (see [`super::search`]): `prefer` and `locked` per
    /// component, from a lock.
    pub(crate) fn search(
        &self,
        q: &Query,
        prefer: &[Option<usize>],
        locked: &[bool],
        progress: &dyn Fn(super::SolveProgress),
    ) -> Outcome {
        let Some(d) = self.domains(q) else {
            return Outcome::Nothing;
        };
        let goal = Goal {
            query: q,
            first: self.catalog.component_index(crate::catalog::KUBERNETES),
            prefer,
            locked,
            budget: search_budget(self.compiled.len()),
            progress,
        };
        search(&self.compiled, d, &goal)
    }

    /// Whether propagation alone refutes `q`, and if so from which of its restrictions: indices
    /// into `q.needs`, then `q.needs.len() + j` for limit `j` (see [`super::refute`]).
    pub(crate) fn refute(&self, q: &Query) -> Option<Vec<usize>> {
        super::refute::refute(&self.compiled, &self.base, q)
    }

    /// The name of capability `k` (an index of the compiled catalog, as [`Outcome`] gives it).
    pub(crate) fn capability_name(&self, k: usize) -> &str {
        &self.compiled.cap_names[k]
    }

    /// Whether a platform exists for `q`: yes at once when a platform found by an earlier call
    /// fits it ([`Witnesses`]), else the search, and `resolvo` ([`Oracle::check`]) when the search
    /// gives up. The search tries the versions of the platforms found before first
    /// ([`Witnesses::near`]): a query that differs from one of them in a few components (the
    /// explanation's checks of one fact beside the rest of the core) searches only around those.
    /// Only the order of the search changes, so the answer is the same.
    pub fn feasible(&self, q: &Query) -> bool {
        if self.witnesses.borrow().fits(self.catalog, q) {
            return true;
        }
        let n = self.compiled.len();
        let q = &self.reachable_only(q);
        let near = self.witnesses.borrow().near(n);
        let found = match self.search(q, &near, &vec![false; n], &|_| {}) {
            Outcome::Found(_, platform) => Some(platform),
            Outcome::Nothing => None,
            Outcome::GaveUp => self.check(q),
        };
        found.map(|p| self.witnesses.borrow_mut().keep(p)).is_some()
    }

    /// `q` with every component it cannot lead to limited to absence: one that is neither needed
    /// nor required (directly, or as a provider of a required capability) by any version of one
    /// it leads to. A platform for `q` keeps one when the components it leads to are taken out, so
    /// the answer is the same, and propagation no longer visits the rest of the catalog.
    fn reachable_only(&self, q: &Query) -> Query {
        let cc = &self.compiled;
        let mut seen = vec![false; cc.len()];
        let mut todo: Vec<usize> = Vec::new();
        for need in &q.needs {
            match need {
                Need::One(c, _) => todo.push(*c),
                Need::AnyOf(ps) => todo.extend(ps),
            }
        }
        while let Some(c) = todo.pop() {
            if std::mem::replace(&mut seen[c], true) {
                continue;
            }
            for v in 0..cc.nv[c] {
                todo.extend(&cc.req_comps[c][v]);
                for &k in &cc.req_caps[c][v] {
                    todo.extend(&cc.caps[k].providers);
                }
            }
        }
        let mut out = q.clone();
        out.limits.extend(
            (0..cc.len())
                .filter(|c| !seen[*c])
                .map(|c| (c, Set::Nothing)),
        );
        out
    }

    /// The domains left for query `q` after propagation; `None` when propagation shows that no
    /// platform fits.
    fn domains(&self, q: &Query) -> Option<Vec<u64>> {
        let cc = &self.compiled;
        let mut d = self.base.clone();
        for need in &q.needs {
            if let Need::One(c, set) = need {
                let allowed = cc.set_bits(*c, set);
                bits::and(cc.slice_mut(&mut d, *c), &allowed);
            }
        }
        for (c, set) in &q.limits {
            let mut allowed = cc.set_bits(*c, set);
            bits::set(&mut allowed, cc.nv[*c]);
            bits::and(cc.slice_mut(&mut d, *c), &allowed);
        }
        // releases requiring a capability that no component can provide
        for cap in &cc.caps {
            let alive = cap
                .providers
                .iter()
                .any(|p| bits::any_below(cc.slice(&d, *p), cc.nv[*p]));
            if !alive {
                for &(c, v) in &cap.users {
                    bits::clear(cc.slice_mut(&mut d, c), v);
                }
            }
        }
        let mut queue = Queue::new(cc.len(), true);
        for c in 0..cc.len() {
            if bits::empty(cc.slice(&d, c)) {
                return None;
            }
            queue.push(c);
        }
        // a capability the query needs: one of its providers must stay possible
        for need in &q.needs {
            if let Need::AnyOf(ps) = need
                && !ps
                    .iter()
                    .any(|p| bits::any_below(cc.slice(&d, *p), cc.nv[*p]))
            {
                return None;
            }
        }
        propagate(cc, &mut d, &[], &mut queue).then_some(d)
    }

    /// Solves the query and, when nothing fits, returns resolvo's own account of the conflict.
    pub fn check_with_report(&self, q: &Query) -> Result<Assignment, String> {
        self.run(q)
    }

    fn run(&self, q: &Query) -> Result<Assignment, String> {
        self.calls.set(self.calls.get() + 1);
        let mut solver = self
            .solver
            .get_or_init(|| {
                std::cell::RefCell::new(Solver::new(Provider::new(
                    self.catalog,
                    Rc::clone(&self.excluded),
                    Rc::clone(&self.capabilities),
                    None,
                )))
            })
            .borrow_mut();
        solve_with(&mut solver, self.catalog, q)
    }
}

/// One `resolvo` run of query `q`.
fn solve_with(
    solver: &mut Solver<Provider<'_>>,
    catalog: &Catalog,
    q: &Query,
) -> Result<Assignment, String> {
    let provider = solver.provider();
    let mut requirements = Vec::new();
    for need in &q.needs {
        let req = match need {
            Need::One(c, set) => Requirement::Single(provider.set(*c, set.clone())),
            Need::AnyOf(cs) => provider.union(cs),
        };
        requirements.push(ConditionalRequirement {
            condition: None,
            requirement: req,
        });
    }
    let constraints = q
        .limits
        .iter()
        .map(|(c, s)| provider.set(*c, s.clone()))
        .collect();
    let problem = Problem::new()
        .requirements(requirements)
        .constraints(constraints);
    match solver.solve(problem) {
        Ok(ids) => {
            let mut out = vec![None; catalog.components.len()];
            for id in ids {
                let rec = &solver.provider().pool.resolve_solvable(id).record;
                out[rec.comp] = Some(rec.ver);
            }
            Ok(out)
        }
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
            Err(conflict.display_user_friendly(solver).to_string())
        }
        Err(UnsolvableOrCancelled::Cancelled(_)) => Err("cancelled".to_string()),
    }
}

struct Provider<'c> {
    catalog: &'c Catalog,
    /// Per component, per version: why it is excluded (dead releases without `--allow-eol`).
    excluded: Rc<Exclusions>,
    /// Capability name → provider indices.
    capabilities: Rc<HashMap<&'c str, Vec<usize>>>,
    pool: Pool<Set, String>,
    names: Vec<NameId>,
    comp_of: HashMap<NameId, usize>,
    /// When set, the only versions offered as candidates: those left in these domains.
    domains: Option<(&'c Compiled<'c>, Vec<u64>)>,
}

impl<'c> Provider<'c> {
    fn new(
        catalog: &'c Catalog,
        excluded: Rc<Exclusions>,
        capabilities: Rc<HashMap<&'c str, Vec<usize>>>,
        domains: Option<(&'c Compiled<'c>, Vec<u64>)>,
    ) -> Self {
        let pool = Pool::new();
        let mut names = Vec::with_capacity(catalog.components.len());
        let mut comp_of = HashMap::new();
        for (i, c) in catalog.components.iter().enumerate() {
            let id = pool.intern_package_name(c.name.clone());
            names.push(id);
            comp_of.insert(id, i);
        }
        Provider {
            catalog,
            excluded,
            capabilities,
            pool,
            names,
            comp_of,
            domains,
        }
    }

    fn set(&self, comp: usize, set: Set) -> VersionSetId {
        self.pool.intern_version_set(self.names[comp], set)
    }

    fn union(&self, comps: &[usize]) -> Requirement {
        match comps.split_first() {
            None => {
                // a capability nobody provides: a requirement nothing can meet
                let name = self.pool.intern_package_name("(no provider)".to_string());
                Requirement::Single(self.pool.intern_version_set(name, Set::Any))
            }
            Some((first, rest)) => {
                let first = self.set(*first, Set::Any);
                let others: Vec<VersionSetId> =
                    rest.iter().map(|c| self.set(*c, Set::Any)).collect();
                let id: VersionSetUnionId = self
                    .pool
                    .intern_version_set_union(first, others.into_iter());
                Requirement::Union(id)
            }
        }
    }

    /// The requirement for `requires NAME RANGE` from a catalog release.
    fn requirement(&self, name: &str, range: &VersionReq) -> Requirement {
        if let Some(c) = self.catalog.component_index(name) {
            return Requirement::Single(self.set(c, Set::Range(range.clone())));
        }
        match self.capabilities.get(name) {
            Some(cs) => self.union(cs),
            None => self.union(&[]),
        }
    }
}

impl Interner for Provider<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl fmt::Display + '_ {
        let s = self.pool.resolve_solvable(solvable);
        format!(
            "{} {}",
            self.pool.resolve_package_name(s.name),
            s.record.version
        )
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl fmt::Display + '_ {
        let Some(first) = solvables.first() else {
            return String::new();
        };
        let name = self
            .pool
            .resolve_package_name(self.pool.resolve_solvable(*first).name);
        let mut versions: Vec<&Version> = solvables
            .iter()
            .map(|s| &self.pool.resolve_solvable(*s).record.version)
            .collect();
        versions.sort();
        let list: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
        format!("{name} {}", list.join(" | "))
    }

    fn display_name(&self, name: NameId) -> impl fmt::Display + '_ {
        self.pool.resolve_package_name(name).clone()
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl fmt::Display + '_ {
        self.pool.resolve_version_set(version_set).to_string()
    }

    fn display_string(&self, string_id: StringId) -> impl fmt::Display + '_ {
        self.pool.resolve_string(string_id).to_owned()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.pool.resolve_version_set_package_name(version_set)
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.pool.resolve_solvable(solvable).name
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        self.pool.resolve_version_set_union(version_set_union)
    }

    fn resolve_condition(&self, condition: ConditionId) -> Condition {
        self.pool.resolve_condition(condition).clone()
    }
}

impl DependencyProvider for Provider<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let set = self.pool.resolve_version_set(version_set);
        candidates
            .iter()
            .copied()
            .filter(|s| set.contains(&self.pool.resolve_solvable(*s).record.version) != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates> {
        let comp = *self.comp_of.get(&name)?;
        let component = &self.catalog.components[comp];
        let mut candidates = Candidates {
            candidates: Vec::with_capacity(component.versions.len()),
            hint_dependencies_available: HintDependenciesAvailable::All,
            ..Candidates::default()
        };
        for (ver, r) in component.versions.iter().enumerate() {
            if let Some((cc, d)) = &self.domains
                && !bits::has(cc.slice(d, comp), ver)
            {
                continue;
            }
            let id = self.pool.intern_solvable(
                name,
                Rec {
                    comp,
                    ver,
                    version: r.version.clone(),
                },
            );
            candidates.candidates.push(id);
            if let Some(Some(reason)) = self.excluded.get(comp).and_then(|v| v.get(ver)) {
                candidates
                    .excluded
                    .push((id, self.pool.intern_string(reason.clone())));
            }
        }
        Some(candidates)
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        solvables.sort_by(|a, b| {
            let a = &self.pool.resolve_solvable(*a).record.version;
            let b = &self.pool.resolve_solvable(*b).record.version;
            b.cmp(a)
        });
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let rec = &self.pool.resolve_solvable(solvable).record;
        let release = &self.catalog.components[rec.comp].versions[rec.ver];
        let mut deps = KnownDependencies::default();
        // A fact naming the component itself is a catalog error (`catalog check` reports it); the
        // solver ignores it rather than feed resolvo a clause over a single package.
        let own = &self.catalog.components[rec.comp].name;
        for r in release.requires.iter().filter(|r| &r.name != own) {
            deps.requirements.push(ConditionalRequirement {
                condition: None,
                requirement: self.requirement(&r.name, &r.range),
            });
        }
        for c in release.constrains.iter().filter(|c| &c.name != own) {
            if let Some(i) = self.catalog.component_index(&c.name) {
                deps.constrains
                    .push(self.set(i, Set::Range(c.range.clone())));
            }
        }
        for c in release.conflicts.iter().filter(|c| &c.name != own) {
            if let Some(i) = self.catalog.component_index(&c.name) {
                deps.constrains.push(self.set(i, Set::Nothing));
            }
        }
        Dependencies::Known(deps)
    }
}
