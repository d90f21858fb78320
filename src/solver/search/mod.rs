//! The policy as one depth-first search over the compiled catalog, maintaining arc consistency.
//!
//! Variables are taken in policy order (Kubernetes, the capabilities the query needs, then the
//! lowest-numbered component that has entered the platform, then the capability a settled version
//! needs and no settled component provides, lowest name first), values in policy preference order
//! (the version kept from the lock, then newest first; providers kept from the lock, then name
//! order). After each decision propagation removes every version that no platform within the
//! domains can contain, so a dead end costs a propagation. The first complete assignment the
//! search reaches is the policy's answer: every decision is the most preferred value whose subtree
//! holds a platform, which is exactly what settling one decision at a time with a complete
//! satisfiability check gives. An exhausted search proves that nothing fits. A search that needs
//! more than its budget of propagations gives up, and the caller falls back to `resolvo`.
//!
//! Dead ends are learned from, as a CDCL SAT solver does over the domain bits (one boolean per
//! version of a component, and one for "absent"): propagation records why it removed each bit and
//! at which decision level and when ([`Why`]); a conflict's bits of the latest level are replaced
//! by their reasons, latest removal first, until one removal of that level is left (its first
//! unique implication point, as in CDCL SAT solvers; the bits one decision removes count as one
//! removal), see [`learn`]. The result is a clause
//! over domain bits (one of them must stay possible) that the facts imply, so it prunes no
//! platform: the search jumps back to the level where the clause rules out the failed value and
//! goes on from there, and the clause, watched on two of its components, prunes every later
//! branch where it applies. Decisions still follow policy order and preference, and a value is
//! only ever removed when no platform within the decisions before it contains it, so the first
//! complete assignment is still the policy's answer.

mod learn;

use super::compile::{Compiled, bits};
use super::propagate::{Queue, Reasons, Supports, Why, propagate, propagate_watched};
use super::query::{Need, Query};

/// What the search is asked beyond the query's domains.
pub(crate) struct Goal<'a> {
    /// The query (its `Need::One` components have entered; its `Need::AnyOf` are decided in order).
    pub query: &'a Query,
    /// Decided first when it has entered: Kubernetes.
    pub first: Option<usize>,
    /// Per component: the version index to try first (kept from a lock).
    pub prefer: &'a [Option<usize>],
    /// Per component: whether a lock holds it (providers kept from the lock are tried first).
    pub locked: &'a [bool],
    /// Propagations allowed before giving up.
    pub budget: usize,
    /// Told how a long search goes.
    pub progress: &'a dyn Fn(super::SolveProgress),
}

/// A search reports how it goes after this long, then again each [`REPORT_EVERY`].
const REPORT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
/// How often a long search (or the fallback) reports how it goes.
pub(crate) const REPORT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// One decision of the search, in the order taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Component `.0` at version index `.1`.
    Version(usize, usize),
    /// The `.0`-th `Need::AnyOf` of the query is met by component `.1`.
    AnyOf(usize, usize),
    /// Capability `.0` (index in [`Compiled::caps`]), needed by a settled version, gets provider `.1`.
    Cap(usize, usize),
}

/// How a search ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The policy's answer: the decisions and, per component, its version index (absent: `None`).
    Found(Vec<Decision>, Vec<Option<usize>>),
    /// No platform fits.
    Nothing,
    /// The budget ran out (or the answer failed its final check): ask `resolvo`.
    GaveUp,
}

#[derive(Debug, Clone, Copy)]
enum Var {
    Comp(usize),
    AnyOf(usize),
    Cap(usize),
}

/// A learned clause: at least one of its domain bits is still possible. Its bits as runs
/// `(component, word of the component's slice, mask)`, sorted by component.
struct Clause {
    lits: Vec<(u32, u32, u64)>,
    /// The two components whose bits are watched (the same one twice for a clause over one).
    watch: [u32; 2],
}

/// A learned clause watching a component: the clause, and its first run of bits of that
/// component (word of the component's slice, mask), checked without reading the clause.
#[derive(Debug, Clone, Copy)]
struct Watch {
    clause: u32,
    word: u32,
    mask: u64,
}

/// One decision on the path: the variable and its value.
struct Frame {
    var: Var,
    value: usize,
}

/// What the last propagation ran into.
enum Conflict {
    /// This component has no bit left.
    Wiped(usize),
    /// Every bit of this learned clause is gone.
    Clause(usize),
    /// Every one of these bits is gone, and a fact says one of them must stay.
    Bits(Vec<(usize, usize)>),
}

/// Counters, printed to stderr when `BUNDLE_SOLVER_TRACE` is set.
#[derive(Debug, Default)]
struct Stats {
    decisions: usize,
    conflicts: usize,
    learned: usize,
    learned_bits: usize,
    units: usize,
    max_depth: usize,
    jumped: usize,
}

struct State<'a, 'c> {
    cc: &'a Compiled<'c>,
    goal: &'a Goal<'a>,
    any_of: Vec<&'a [usize]>,
    /// Per component: how many reasons it has to be in the platform (0: not entered).
    entered: Vec<u32>,
    fixed: Vec<Option<usize>>,
    any_done: usize,
    /// Per capability: its rank in name order.
    cap_rank: Vec<usize>,
    queue: Queue,
    /// The watched supports of propagation during the search.
    sup: Supports,
    propagations: usize,
    /// The decisions on the path; decision `k` (from 1) is at level `k`.
    frames: Vec<Frame>,
    /// Per level below the current one: the domains at that level (before the next decision);
    /// the first `frames.len()` are in use, the rest are kept for reuse.
    snaps: Vec<Vec<u64>>,
    /// Learned clauses, and per component the clauses watching it.
    clauses: Vec<Clause>,
    watches: Vec<Vec<Watch>>,
    touched: Vec<usize>,
    /// Conflict analysis: the bits still to explain, which are done (by epoch), and the clause
    /// being built (bits per domain word, and the components it names).
    todo: Vec<(usize, usize)>,
    seen: Vec<u32>,
    epoch: u32,
    acc: Vec<u64>,
    acc_comps: Vec<usize>,
    /// Conflict analysis: the bits of the latest level still to explain, latest removal first.
    latest: std::collections::BinaryHeap<(u32, u32, u32)>,
    stats: Stats,
    /// When the search started, and when it last reported how it goes.
    started: std::time::Instant,
    reported: Option<std::time::Instant>,
}

/// Runs the search from domains `d` (already propagated for the query).
pub(crate) fn search(cc: &Compiled<'_>, d: Vec<u64>, goal: &Goal<'_>) -> Outcome {
    let mut names: Vec<(&str, usize)> =
        cc.cap_index.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    names.sort_unstable();
    let mut cap_rank = vec![0; cc.caps.len()];
    for (rank, (_, k)) in names.iter().enumerate() {
        cap_rank[*k] = rank;
    }
    let mut st = State {
        cc,
        goal,
        any_of: Vec::new(),
        entered: vec![0; cc.len()],
        fixed: vec![None; cc.len()],
        any_done: 0,
        cap_rank,
        queue: Queue::new(cc.len(), true),
        sup: Supports::default(),
        propagations: 0,
        frames: Vec::new(),
        snaps: Vec::new(),
        clauses: Vec::new(),
        watches: vec![Vec::new(); cc.len()],
        touched: Vec::new(),
        todo: Vec::new(),
        seen: Vec::new(),
        epoch: 0,
        acc: vec![0; cc.total],
        acc_comps: Vec::new(),
        latest: Default::default(),
        stats: Stats::default(),
        started: std::time::Instant::now(),
        reported: None,
    };
    let reasons = Reasons::new(cc);
    st.seen = vec![0; reasons.why.len()];
    st.queue.reasons = Some(reasons);
    for need in &goal.query.needs {
        match need {
            Need::One(c, _) => st.entered[*c] += 1,
            Need::AnyOf(ps) => st.any_of.push(ps),
        }
    }
    let trace = crate::trace::enabled();
    let start = std::time::Instant::now();
    let mut d = d;
    st.sup = Supports::new(cc, &mut d, &mut st.queue);
    let out = if propagate_watched(cc, &mut d, &mut st.queue, &mut st.sup) {
        st.run(d)
    } else {
        Outcome::Nothing
    };
    if trace {
        let s = &st.stats;
        let what = match &out {
            Outcome::Found(..) => "found",
            Outcome::Nothing => "nothing fits",
            Outcome::GaveUp => "gave up",
        };
        eprintln!(
            "solver search: {what} in {:.1} ms; {} decisions, {} conflicts, {} clauses learned \
             ({:.1} bits each), {} clause units, max depth {}, {:.1} levels jumped per conflict",
            start.elapsed().as_secs_f64() * 1e3,
            s.decisions,
            s.conflicts,
            s.learned,
            s.learned_bits as f64 / s.learned.max(1) as f64,
            s.units,
            s.max_depth,
            s.jumped as f64 / s.conflicts.max(1) as f64,
        );
    }
    out
}

impl State<'_, '_> {
    fn reasons(&mut self) -> &mut Reasons {
        self.queue
            .reasons
            .as_mut()
            .expect("the search records reasons")
    }

    fn run(&mut self, mut d: Vec<u64>) -> Outcome {
        loop {
            let Some(var) = self.next_var() else {
                return self.finish(&d);
            };
            let Some(&v) = self.values(var, &d).first() else {
                // cannot happen with complete propagation (an entered component has lost its
                // "absent" bit, a needed capability its users): let `resolvo` answer
                let Var::AnyOf(j) = var else {
                    return Outcome::GaveUp;
                };
                let cc = self.cc;
                let bits = self.any_of[j]
                    .iter()
                    .flat_map(|&p| (0..cc.nv[p]).map(move |b| (p, b)))
                    .collect();
                match self.settle(Conflict::Bits(bits), &mut d) {
                    Some(o) => return o,
                    None => continue,
                }
            };
            if self.propagations >= self.goal.budget {
                return Outcome::GaveUp;
            }
            self.report();
            self.snapshot(&d);
            self.frames.push(Frame { var, value: v });
            let level = self.frames.len();
            self.stats.decisions += 1;
            self.stats.max_depth = self.stats.max_depth.max(level);
            self.apply(var, v);
            if let Some(conflict) = self.decide(var, v, &mut d, level)
                && let Some(o) = self.settle(conflict, &mut d)
            {
                return o;
            }
        }
    }

    /// Tells the goal's `progress` how the search goes, once [`REPORT_AFTER`] has passed and then
    /// each [`REPORT_EVERY`] (the clock is read every 256 decisions).
    fn report(&mut self) {
        if !self.stats.decisions.is_multiple_of(256) {
            return;
        }
        let now = std::time::Instant::now();
        let due = match self.reported {
            None => now.duration_since(self.started) >= REPORT_AFTER,
            Some(last) => now.duration_since(last) >= REPORT_EVERY,
        };
        if !due {
            return;
        }
        self.reported = Some(now);
        (self.goal.progress)(super::SolveProgress::Searching {
            settled: self.frames.len(),
            entered: self.entered.iter().filter(|e| **e > 0).count(),
            dead_ends: self.stats.conflicts,
        });
    }

    /// Keeps the domains of the current level before the next decision.
    fn snapshot(&mut self, d: &[u64]) {
        match self.snaps.get_mut(self.frames.len()) {
            Some(s) => s.copy_from_slice(d),
            None => self.snaps.push(d.to_vec()),
        }
    }

    /// The next variable in policy order; `None` when every entered component is settled and
    /// every needed capability provided.
    fn next_var(&self) -> Option<Var> {
        if let Some(k) = self.goal.first
            && self.entered[k] > 0
            && self.fixed[k].is_none()
        {
            return Some(Var::Comp(k));
        }
        if self.any_done < self.any_of.len() {
            return Some(Var::AnyOf(self.any_done));
        }
        if let Some(i) =
            (0..self.cc.len()).find(|i| self.entered[*i] > 0 && self.fixed[*i].is_none())
        {
            return Some(Var::Comp(i));
        }
        self.open_capability().map(Var::Cap)
    }

    /// The capability (lowest name first) that a settled version requires and no settled
    /// component provides.
    fn open_capability(&self) -> Option<usize> {
        let cc = self.cc;
        let mut provided = vec![false; cc.caps.len()];
        for (c, v) in self.fixed.iter().enumerate() {
            if v.is_some() {
                for &k in &cc.provides[c] {
                    provided[k] = true;
                }
            }
        }
        self.fixed
            .iter()
            .enumerate()
            .filter_map(|(c, v)| v.map(|v| &cc.req_caps[c][v]))
            .flatten()
            .copied()
            .filter(|k| !provided[*k])
            .min_by_key(|k| self.cap_rank[*k])
    }

    /// The values of `var` still possible in `d`, most preferred first.
    fn values(&self, var: Var, d: &[u64]) -> Vec<usize> {
        let cc = self.cc;
        let present = |p: &usize| bits::any_below(cc.slice(d, *p), cc.nv[*p]);
        let providers = |list: &[usize]| {
            let mut out: Vec<usize> = list.iter().copied().filter(present).collect();
            out.sort_by_key(|p| !self.goal.locked[*p]);
            out
        };
        match var {
            Var::Comp(c) => {
                let s = cc.slice(d, c);
                let kept = self.goal.prefer[c].filter(|v| bits::has(s, *v));
                kept.into_iter()
                    .chain(
                        (0..cc.nv[c])
                            .rev()
                            .filter(|v| bits::has(s, *v) && Some(*v) != kept),
                    )
                    .collect()
            }
            Var::AnyOf(j) => providers(self.any_of[j]),
            Var::Cap(k) => providers(&cc.caps[k].providers),
        }
    }

    /// Restricts `d` to the decision at `level` and propagates.
    fn decide(&mut self, var: Var, v: usize, d: &mut [u64], level: usize) -> Option<Conflict> {
        let cc = self.cc;
        self.propagations += 1;
        let why = Why::Decision;
        let reasons = self.reasons();
        reasons.now = level as u32;
        reasons.group(true);
        let c = match var {
            Var::Comp(c) => {
                let s = cc.slice_mut(d, c);
                for b in (0..=cc.nv[c]).filter(|b| *b != v && bits::has(s, *b)) {
                    reasons.set(c, b, why);
                }
                s.iter_mut().for_each(|w| *w = 0);
                bits::set(s, v);
                c
            }
            Var::AnyOf(_) | Var::Cap(_) => {
                let s = cc.slice_mut(d, v);
                if bits::clear(s, cc.nv[v]) {
                    reasons.set(v, cc.nv[v], why);
                }
                v
            }
        };
        reasons.group(false);
        self.queue.push(c);
        self.propagate_all(d)
    }

    fn apply(&mut self, var: Var, v: usize) {
        match var {
            Var::Comp(c) => {
                self.fixed[c] = Some(v);
                for &t in &self.cc.req_comps[c][v] {
                    self.entered[t] += 1;
                }
            }
            Var::AnyOf(_) => {
                self.any_done += 1;
                self.entered[v] += 1;
            }
            Var::Cap(_) => self.entered[v] += 1,
        }
    }

    fn undo(&mut self, var: Var, v: usize) {
        match var {
            Var::Comp(c) => {
                self.fixed[c] = None;
                for &t in &self.cc.req_comps[c][v] {
                    self.entered[t] -= 1;
                }
            }
            Var::AnyOf(_) => {
                self.any_done -= 1;
                self.entered[v] -= 1;
            }
            Var::Cap(_) => self.entered[v] -= 1,
        }
    }

    /// The complete assignment: every settled component at its version, every other absent,
    /// checked once more as a whole.
    fn finish(&mut self, d: &[u64]) -> Outcome {
        let cc = self.cc;
        let mut all = d.to_vec();
        for c in 0..cc.len() {
            if self.fixed[c].is_none() {
                let s = cc.slice_mut(&mut all, c);
                if !bits::has(s, cc.nv[c]) {
                    return Outcome::GaveUp;
                }
                s.iter_mut().for_each(|w| *w = 0);
                bits::set(s, cc.nv[c]);
            }
            self.queue.push(c);
        }
        if !propagate(cc, &mut all, &[], &mut self.queue) {
            return Outcome::GaveUp;
        }
        let decisions = self
            .frames
            .iter()
            .map(|f| match f.var {
                Var::Comp(c) => Decision::Version(c, f.value),
                Var::AnyOf(j) => Decision::AnyOf(j, f.value),
                Var::Cap(k) => Decision::Cap(k, f.value),
            })
            .collect();
        Outcome::Found(decisions, self.fixed.clone())
    }
}
