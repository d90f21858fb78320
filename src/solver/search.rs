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
//! at which decision level ([`Why`]); a conflict's bits of the latest level are replaced by their
//! reasons until only the bits that level's decision removed are left. The result is a clause
//! over domain bits (one of them must stay possible) that the facts imply, so it prunes no
//! platform: the search jumps back to the level where the clause rules out the failed value and
//! goes on from there, and the clause, watched on two of its components, prunes every later
//! branch where it applies. Decisions still follow policy order and preference, and a value is
//! only ever removed when no platform within the decisions before it contains it, so the first
//! complete assignment is still the policy's answer.

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
}

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
    watches: Vec<Vec<u32>>,
    touched: Vec<usize>,
    /// Conflict analysis: the bits still to explain, which are done (by epoch), and the clause
    /// being built (bits per domain word, and the components it names).
    todo: Vec<(usize, usize)>,
    seen: Vec<u32>,
    epoch: u32,
    acc: Vec<u64>,
    acc_comps: Vec<usize>,
    stats: Stats,
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
        stats: Stats::default(),
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
    let trace = std::env::var_os("BUNDLE_SOLVER_TRACE").is_some();
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
            match self.snaps.get_mut(self.frames.len()) {
                Some(s) => s.copy_from_slice(&d),
                None => self.snaps.push(d.clone()),
            }
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

    /// Learns from conflicts and jumps back until propagation holds again; `Some` when the search
    /// ends (nothing fits, or the budget is spent).
    fn settle(&mut self, mut conflict: Conflict, d: &mut [u64]) -> Option<Outcome> {
        loop {
            self.stats.conflicts += 1;
            self.propagations += 1;
            if self.propagations >= self.goal.budget {
                return Some(Outcome::GaveUp);
            }
            let bits = self.conflict_bits(conflict);
            match self.analyze(bits) {
                None => return Some(Outcome::Nothing),
                Some((x, h)) => {
                    self.stats.jumped += self.frames.len() - h;
                    self.jump(h, d);
                    let i = self.add_clause(x, h);
                    match x {
                        Some(x) => {
                            self.unit(i, x, d);
                            match self.propagate_all(d) {
                                None => return None,
                                Some(c) => conflict = c,
                            }
                        }
                        // no decision of the conflict's level is in it: the clause fails at `h`
                        None => conflict = Conflict::Clause(i),
                    }
                }
            }
        }
    }

    /// The bits of a conflict, all of them gone.
    fn conflict_bits(&self, conflict: Conflict) -> Vec<(usize, usize)> {
        match conflict {
            Conflict::Wiped(c) => (0..=self.cc.nv[c]).map(|b| (c, b)).collect(),
            Conflict::Clause(i) => self.clause_bits(i, None).collect(),
            Conflict::Bits(b) => b,
        }
    }

    /// The bits of clause `i`, but those of component `skip`.
    fn clause_bits(&self, i: usize, skip: Option<usize>) -> impl Iterator<Item = (usize, usize)> {
        self.clauses[i]
            .lits
            .iter()
            .filter(move |l| Some(l.0 as usize) != skip)
            .flat_map(|&(c, w, m)| {
                let mut m = m;
                std::iter::from_fn(move || {
                    (m != 0).then(|| {
                        let b = m.trailing_zeros() as usize;
                        m &= m - 1;
                        (c as usize, w as usize * 64 + b)
                    })
                })
            })
    }

    /// Conflict analysis: the conflict's bits at the latest level they were removed at are
    /// replaced by their reasons until only bits the decision of that level removed are left (its
    /// component is the first value); bits of earlier levels stay as they are and bits removed
    /// before any decision are dropped. What is left is a clause implied by the facts (one of
    /// those bits must be possible), kept in `acc`. Returns the decision's component (if the
    /// clause names it) and the level to jump back to: the latest at which another component of
    /// the clause lost its last bit in it. `None`: the conflict holds before any decision.
    fn analyze(&mut self, bits: Vec<(usize, usize)>) -> Option<(Option<usize>, usize)> {
        let r = self.queue.reasons.as_ref().expect("reasons");
        let at = |(c, b): (usize, usize)| r.level[r.base[c] + b];
        let top = bits.iter().map(|x| at(*x)).max().unwrap_or(0);
        if top == 0 {
            return None;
        }
        self.epoch += 1;
        self.todo = bits;
        while let Some((c, b)) = self.todo.pop() {
            let r = self.queue.reasons.as_ref().expect("reasons");
            let i = r.base[c] + b;
            if self.seen[i] == self.epoch {
                continue;
            }
            self.seen[i] = self.epoch;
            let (lv, why) = (r.level[i], r.why[i]);
            if lv == 0 {
                continue;
            }
            if lv < top || matches!(why, Why::Decision) {
                let w = self.cc.off[c] + b / 64;
                if !self.acc_comps.contains(&c) {
                    self.acc_comps.push(c);
                }
                self.acc[w] |= 1 << (b % 64);
                continue;
            }
            self.explain(c, b, why);
        }
        let r = self.queue.reasons.as_ref().expect("reasons");
        let mut x = None;
        let mut h = 0;
        for &c in &self.acc_comps {
            let s = self.cc.slice(&self.acc, c);
            for b in (0..=self.cc.nv[c]).filter(|b| bits::has(s, *b)) {
                let lv = r.level[r.base[c] + b];
                if lv == top {
                    x = Some(c);
                }
            }
        }
        for &c in &self.acc_comps {
            if Some(c) == x {
                continue;
            }
            let s = self.cc.slice(&self.acc, c);
            for b in (0..=self.cc.nv[c]).filter(|b| bits::has(s, *b)) {
                h = h.max(r.level[r.base[c] + b] as usize);
            }
        }
        if x.is_none() {
            h = top as usize - 1;
        }
        Some((x, h))
    }

    /// Schedules the bits whose removal made propagation remove bit `b` of component `c`.
    fn explain(&mut self, c: usize, b: usize, why: Why) {
        let cc = self.cc;
        match why {
            Why::Root | Why::Decision => {}
            Why::Facts(e) => {
                // version b of `from` allows nothing left of `to`
                let edge = &cc.edges[e as usize];
                let Ok(f) = edge.facts.binary_search_by_key(&b, |x| x.0) else {
                    return;
                };
                let a = edge.facts[f].1;
                let allowed = &cc.sets[a..a + cc.nv[edge.to] / 64 + 1];
                self.todo.extend(
                    (0..=cc.nv[edge.to])
                        .filter(|u| bits::has(allowed, *u))
                        .map(|u| (edge.to, u)),
                );
            }
            Why::Allowed(e) => {
                // `from` must be present and none of its versions left allows bit b of `to`
                let edge = &cc.edges[e as usize];
                let from = edge.from;
                let wf = &cc.sets[edge.with_fact..edge.with_fact + cc.nv[from] / 64 + 1];
                self.todo.push((from, cc.nv[from]));
                for w in 0..cc.nv[from] {
                    let supports = !bits::has(wf, w)
                        || edge
                            .facts
                            .binary_search_by_key(&w, |x| x.0)
                            .is_ok_and(|f| bits::has(&cc.sets[edge.facts[f].1..], b));
                    if supports {
                        self.todo.push((from, w));
                    }
                }
            }
            Why::NoProvider(k) => {
                for &p in &cc.caps[k as usize].providers {
                    self.todo.extend((0..cc.nv[p]).map(|v| (p, v)));
                }
            }
            Why::Learned(i) => {
                for &(x, w, m) in &self.clauses[i as usize].lits {
                    if x as usize == c {
                        continue;
                    }
                    let mut m = m;
                    while m != 0 {
                        let b = w as usize * 64 + m.trailing_zeros() as usize;
                        m &= m - 1;
                        self.todo.push((x as usize, b));
                    }
                }
            }
        }
    }

    /// Jumps back to level `h`: the decisions after it undone, its domains restored.
    fn jump(&mut self, h: usize, d: &mut [u64]) {
        while self.frames.len() > h {
            let f = self.frames.pop().expect("deeper than h");
            self.undo(f.var, f.value);
        }
        d.copy_from_slice(&self.snaps[h]);
        self.sup.seen.copy_from_slice(d);
        self.reasons().now = h as u32;
    }

    /// Keeps the clause built in `acc` (cleared after), watching `x` and the component of the
    /// clause that lost its last bit latest; its index.
    fn add_clause(&mut self, x: Option<usize>, h: usize) -> usize {
        let cc = self.cc;
        self.acc_comps.sort_unstable();
        let mut lits = Vec::new();
        let mut other = None;
        let r = self.queue.reasons.as_ref().expect("reasons");
        for &c in &self.acc_comps {
            let o = cc.off[c];
            for w in 0..cc.nv[c] / 64 + 1 {
                let m = std::mem::take(&mut self.acc[o + w]);
                if m != 0 {
                    lits.push((c as u32, w as u32, m));
                    self.stats.learned_bits += m.count_ones() as usize;
                }
            }
        }
        // the watched other component: one whose bits include one removed at level h
        for &(c, w, m) in &lits {
            if Some(c as usize) == x || other.is_some() {
                continue;
            }
            let mut m = m;
            while m != 0 {
                let b = w as usize * 64 + m.trailing_zeros() as usize;
                m &= m - 1;
                if r.level[r.base[c as usize] + b] as usize == h {
                    other = Some(c as usize);
                    break;
                }
            }
        }
        self.acc_comps.clear();
        let first = x.or(other).unwrap_or(lits[0].0 as usize);
        let second = other.or(x).unwrap_or(first);
        let i = self.clauses.len();
        self.clauses.push(Clause {
            lits,
            watch: [first as u32, second as u32],
        });
        self.watches[first].push(i as u32);
        if second != first {
            self.watches[second].push(i as u32);
        }
        self.stats.learned += 1;
        i
    }

    /// Whether clause `i` still has a bit of component `c` possible in `d`.
    fn holds(&self, i: usize, c: usize, d: &[u64]) -> bool {
        let o = self.cc.off[c];
        let lits = &self.clauses[i].lits;
        let from = lits.partition_point(|l| (l.0 as usize) < c);
        lits[from..]
            .iter()
            .take_while(|l| l.0 as usize == c)
            .any(|&(_, w, m)| d[o + w as usize] & m != 0)
    }

    /// Clause `i` has no bit left but those of component `x`: `x` keeps only those.
    fn unit(&mut self, i: usize, x: usize, d: &mut [u64]) {
        let cc = self.cc;
        let mut keep = vec![0u64; cc.nv[x] / 64 + 1];
        for &(c, w, m) in &self.clauses[i].lits {
            if c as usize == x {
                keep[w as usize] |= m;
            }
        }
        let s = cc.slice_mut(d, x);
        let mut gone = Vec::new();
        for (w, (a, k)) in s.iter_mut().zip(&keep).enumerate() {
            let mut g = *a & !k;
            *a &= k;
            while g != 0 {
                gone.push(w * 64 + g.trailing_zeros() as usize);
                g &= g - 1;
            }
        }
        if gone.is_empty() {
            return;
        }
        self.stats.units += 1;
        let r = self.reasons();
        for b in gone {
            r.set(x, b, Why::Learned(i as u32));
        }
        self.queue.push(x);
    }

    /// Propagation to a fixpoint: arc consistency, then the learned clauses watching a component
    /// that changed, until nothing changes.
    fn propagate_all(&mut self, d: &mut [u64]) -> Option<Conflict> {
        let mut touched = std::mem::take(&mut self.touched);
        let out = loop {
            if !propagate_watched(self.cc, d, &mut self.queue, &mut self.sup) {
                self.queue.take_touched(&mut touched);
                break Some(Conflict::Wiped(self.queue.wiped));
            }
            self.queue.take_touched(&mut touched);
            if touched.is_empty() {
                break None;
            }
            if let Some(i) = touched.iter().find_map(|&c| self.watch(c, d)) {
                self.queue.take_touched(&mut touched);
                self.queue.clear_pending();
                break Some(Conflict::Clause(i));
            }
        };
        self.touched = touched;
        out
    }

    /// The clauses watching component `c`, after `c` lost bits: each moves its watch to another
    /// component that still has a bit of it, or restricts its other watched component (unit), or
    /// is the conflict (returned).
    fn watch(&mut self, c: usize, d: &mut [u64]) -> Option<usize> {
        let mut k = 0;
        while k < self.watches[c].len() {
            let i = self.watches[c][k] as usize;
            if self.holds(i, c, d) {
                k += 1;
                continue;
            }
            let [a, b] = self.clauses[i].watch;
            let other = if a as usize == c { b } else { a } as usize;
            let replacement = self.clauses[i]
                .lits
                .iter()
                .map(|l| l.0 as usize)
                .find(|&x| x != c && x != other && self.holds(i, x, d));
            if let Some(x) = replacement {
                let cl = &mut self.clauses[i];
                if cl.watch[0] as usize == c {
                    cl.watch[0] = x as u32;
                } else {
                    cl.watch[1] = x as u32;
                }
                self.watches[c].swap_remove(k);
                self.watches[x].push(i as u32);
                continue;
            }
            if other == c || !self.holds(i, other, d) {
                return Some(i);
            }
            self.unit(i, other, d);
            k += 1;
        }
        None
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
