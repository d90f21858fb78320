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
//! Dead ends jump back (conflict-directed backjumping): propagation records why it removed each
//! version ([`Why`]); when every value of a variable fails, the decisions those reasons lead back
//! to form a conflict set, and the search returns straight to the latest of them instead of
//! trying every value of the decisions in between, none of which can help. Each conflict set is
//! also kept as a nogood (those decisions cannot hold together): once all but one of its decisions
//! hold, the last one is ruled out before it is tried, so the search never meets a conflict twice.

use super::compile::{Compiled, bits};
use super::propagate::{Queue, Reasons, Why, propagate};
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

/// A decision as a nogood names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lit {
    /// Component `.0` is settled at version index `.1`.
    Is(usize, usize),
    /// Component `.0` is present (chosen as a provider).
    Present(usize),
}

impl Lit {
    fn comp(self) -> usize {
        match self {
            Lit::Is(c, _) | Lit::Present(c) => c,
        }
    }
}

/// Nogoods longer than this are not kept (they rarely prune, and cost a check each).
const MAX_NOGOOD: usize = 48;

struct Frame {
    var: Var,
    values: Vec<usize>,
    next: usize,
    /// The value whose effects are applied, if any.
    applied: Option<usize>,
    /// The domains before this decision.
    before: Vec<u64>,
    /// The depths of the decisions that the failed values of this variable lead back to.
    conf: Vec<u64>,
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
    propagations: usize,
    /// Per component: the depth it was fixed at.
    depth_of: Vec<usize>,
    /// Conflict analysis: the bits still to explain, and which bits are done (by epoch).
    todo: Vec<(usize, usize)>,
    seen: Vec<u32>,
    epoch: u32,
    /// Words of a set of depths.
    depth_words: usize,
    /// Learned nogoods, and per component the nogoods that name it.
    nogoods: Vec<Vec<Lit>>,
    occurs: Vec<Vec<u32>>,
    /// The nogood that the last failed decision completed, if that was the failure.
    violated: Option<usize>,
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
        propagations: 0,
        depth_of: vec![0; cc.len()],
        todo: Vec::new(),
        seen: Vec::new(),
        epoch: 0,
        depth_words: 0,
        nogoods: Vec::new(),
        occurs: vec![Vec::new(); cc.len()],
        violated: None,
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
    st.depth_words = (cc.len() + cc.caps.len() + st.any_of.len()) / 64 + 1;
    st.run(d)
}

impl State<'_, '_> {
    fn run(&mut self, mut d: Vec<u64>) -> Outcome {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            // the next variable, or a complete assignment
            match self.next_var() {
                None => return self.finish(&d, &stack),
                Some(var) => {
                    let values = self.values(var, &d);
                    stack.push(Frame {
                        var,
                        values,
                        next: 0,
                        applied: None,
                        before: d.clone(),
                        conf: vec![0; self.depth_words],
                    });
                }
            }
            // the next value that propagation does not refute, jumping back as needed
            loop {
                let depth = stack.len() - 1;
                let top = &mut stack[depth];
                if let Some(v) = top.applied.take() {
                    let var = top.var;
                    self.undo(var, v);
                }
                let top = &mut stack[depth];
                if top.next == top.values.len() {
                    let Some(h) = self.exhausted(&mut stack) else {
                        return Outcome::Nothing;
                    };
                    // jump back to depth h: the decisions in between cannot help
                    stack.truncate(h + 1);
                    continue;
                }
                if self.propagations >= self.goal.budget {
                    return Outcome::GaveUp;
                }
                let v = top.values[top.next];
                top.next += 1;
                d.copy_from_slice(&top.before);
                let var = top.var;
                self.violated = None;
                if self.assign(var, v, &mut d, depth) {
                    self.apply(var, v, depth);
                    if self.learned(var, v, &mut d) {
                        stack[depth].applied = Some(v);
                        break;
                    }
                    self.undo(var, v);
                }
                let mut conf = vec![0; self.depth_words];
                match self.violated {
                    Some(i) => self.nogood_reasons(i, None, &mut conf),
                    None => {
                        let wiped = self.queue.wiped;
                        self.todo
                            .extend((0..=self.cc.nv[wiped]).map(|b| (wiped, b)));
                    }
                }
                self.walk(&d, &mut conf);
                bits::clear(&mut conf, depth);
                bits::or(&mut stack[depth].conf, &conf);
            }
        }
    }

    /// The top frame has no value left: its conflict set (the failures of its values, and why the
    /// values it never had were gone), merged into the frame of the latest decision in it, whose
    /// depth is returned; the frames above that one are undone. `None`: the conflict needs no
    /// decision at all, nothing fits.
    fn exhausted(&mut self, stack: &mut Vec<Frame>) -> Option<usize> {
        let depth = stack.len() - 1;
        let top = stack.pop().expect("a frame");
        let mut conf = top.conf;
        let cc = self.cc;
        match top.var {
            Var::Comp(c) => {
                if bits::has(cc.slice(&top.before, c), cc.nv[c]) {
                    // absence was still possible: no precise reason, go back one decision
                    (0..depth).for_each(|t| bits::set(&mut conf, t));
                }
                let s = cc.slice(&top.before, c);
                self.todo
                    .extend((0..=cc.nv[c]).filter(|b| !bits::has(s, *b)).map(|b| (c, b)));
            }
            Var::AnyOf(j) => {
                let list = self.any_of[j];
                self.missing_providers(list, &top.before);
            }
            Var::Cap(k) => {
                self.missing_providers(&cc.caps[k].providers, &top.before);
                // the earliest settled version that requires the capability
                let needs = (0..cc.len())
                    .filter(|c| self.fixed[*c].is_some_and(|v| cc.req_caps[*c][v].contains(&k)))
                    .map(|c| self.depth_of[c])
                    .min();
                if let Some(t) = needs {
                    bits::set(&mut conf, t);
                }
            }
        }
        self.walk(&top.before, &mut conf);
        bits::clear(&mut conf, depth);
        let h = (0..depth).rev().find(|t| bits::has(&conf, *t))?;
        self.learn(stack, &conf, h);
        while stack.len() > h + 1 {
            let f = stack.pop().expect("deeper than h");
            if let Some(v) = f.applied {
                self.undo(f.var, v);
            }
        }
        bits::clear(&mut conf, h);
        bits::or(&mut stack[h].conf, &conf);
        Some(h)
    }

    /// Keeps the decisions at the depths in `conf` (`h` the latest) as a nogood.
    fn learn(&mut self, stack: &[Frame], conf: &[u64], h: usize) {
        let lits: Vec<Lit> = (0..=h)
            .filter(|t| bits::has(conf, *t))
            .filter_map(|t| {
                let f = &stack[t];
                f.applied.map(|v| match f.var {
                    Var::Comp(c) => Lit::Is(c, v),
                    Var::AnyOf(_) | Var::Cap(_) => Lit::Present(v),
                })
            })
            .take(MAX_NOGOOD + 1)
            .collect();
        if lits.len() > MAX_NOGOOD {
            return;
        }
        let i = self.nogoods.len() as u32;
        for l in &lits {
            let c = l.comp();
            if self.occurs[c].last() != Some(&i) {
                self.occurs[c].push(i);
            }
        }
        self.nogoods.push(lits);
    }

    /// Whether a literal holds (`Some(true)`), cannot hold (`Some(false)`) or is open in `d`.
    fn holds(&self, l: Lit, d: &[u64]) -> Option<bool> {
        let cc = self.cc;
        match l {
            Lit::Is(c, v) => match self.fixed[c] {
                Some(x) => Some(x == v),
                None if !bits::has(cc.slice(d, c), v) => Some(false),
                None => None,
            },
            Lit::Present(p) => {
                let s = cc.slice(d, p);
                if !bits::has(s, cc.nv[p]) {
                    Some(true)
                } else if !bits::any_below(s, cc.nv[p]) {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }

    /// After decision `var = v`: every nogood naming it whose other decisions all hold rules out
    /// its last one (or, when that one holds too, refutes the decision: `violated`). Whether
    /// anything is left.
    fn learned(&mut self, var: Var, v: usize, d: &mut [u64]) -> bool {
        let cc = self.cc;
        let key = match var {
            Var::Comp(c) => c,
            Var::AnyOf(_) | Var::Cap(_) => v,
        };
        let mut changed = false;
        for n in 0..self.occurs[key].len() {
            let i = self.occurs[key][n] as usize;
            let mut open = None;
            let mut unit = true;
            for &l in &self.nogoods[i] {
                match self.holds(l, d) {
                    Some(true) => {}
                    Some(false) => {
                        unit = false;
                        break;
                    }
                    None if open.is_none() => open = Some(l),
                    None => {
                        unit = false;
                        break;
                    }
                }
            }
            if !unit {
                continue;
            }
            let Some(l) = open else {
                self.violated = Some(i);
                return false;
            };
            let reasons = self
                .queue
                .reasons
                .as_mut()
                .expect("the search records reasons");
            let why = Why::Nogood(i as u32);
            let c = l.comp();
            let s = cc.slice_mut(d, c);
            match l {
                Lit::Is(_, b) => {
                    reasons.set(c, b, why);
                    bits::clear(s, b);
                }
                Lit::Present(_) => {
                    for b in 0..cc.nv[c] {
                        if bits::clear(s, b) {
                            reasons.set(c, b, why);
                        }
                    }
                }
            }
            if bits::empty(s) {
                self.queue.wiped = c;
                return false;
            }
            self.queue.push(c);
            changed = true;
        }
        !changed || propagate(cc, d, &[], &mut self.queue)
    }

    /// The reasons of nogood `i`'s decisions, but for the one it ruled out (`out`: the removed
    /// bit of that component): depths into `conf`, presences into the walk.
    fn nogood_reasons(&mut self, i: usize, out: Option<(usize, usize)>, conf: &mut [u64]) {
        let cc = self.cc;
        let lits = &self.nogoods[i];
        let ruled_out = |l: Lit| match (l, out) {
            (_, None) => false,
            (Lit::Is(c, v), Some((x, b))) => c == x && v == b,
            (Lit::Present(c), Some((x, b))) => {
                c == x && b < cc.nv[c] && !lits.contains(&Lit::Is(c, b))
            }
        };
        for &l in lits {
            if ruled_out(l) {
                continue;
            }
            match l {
                Lit::Is(c, _) => bits::set(conf, self.depth_of[c]),
                Lit::Present(p) => self.todo.push((p, cc.nv[p])),
            }
        }
    }

    /// Schedules, for the conflict analysis, every version of every provider in `list` that
    /// cannot be present in `d`.
    fn missing_providers(&mut self, list: &[usize], d: &[u64]) {
        let cc = self.cc;
        for &p in list {
            if !bits::any_below(cc.slice(d, p), cc.nv[p]) {
                self.todo.extend((0..cc.nv[p]).map(|b| (p, b)));
            }
        }
    }

    /// Walks the reasons of the scheduled removed bits back to decisions, adding their depths to
    /// `conf`. `d`: the domains the bits were removed from.
    fn walk(&mut self, d: &[u64], conf: &mut [u64]) {
        let cc = self.cc;
        self.epoch += 1;
        while let Some((c, b)) = self.todo.pop() {
            let reasons = self
                .queue
                .reasons
                .as_ref()
                .expect("the search records reasons");
            let i = reasons.base[c] + b;
            if self.seen[i] == self.epoch {
                continue;
            }
            self.seen[i] = self.epoch;
            match reasons.why[i] {
                Why::Root => {}
                Why::Decision(t) => bits::set(conf, t as usize),
                Why::Facts(e) => {
                    // version b of `from` allows nothing left of `to`: why those are gone
                    let edge = &cc.edges[e as usize];
                    let Ok(f) = edge.facts.binary_search_by_key(&b, |x| x.0) else {
                        continue;
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
                    let s = cc.slice(d, from);
                    let wf = &cc.sets[edge.with_fact..edge.with_fact + cc.nv[from] / 64 + 1];
                    self.todo.push((from, cc.nv[from]));
                    for w in (0..cc.nv[from]).filter(|w| !bits::has(s, *w)) {
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
                Why::Nogood(n) => {
                    self.nogood_reasons(n as usize, Some((c, b)), conf);
                }
                Why::NoProvider(k) => {
                    for &p in &cc.caps[k as usize].providers {
                        self.todo.extend((0..cc.nv[p]).map(|v| (p, v)));
                    }
                }
            }
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

    /// Restricts `d` to the decision and propagates; whether anything is left.
    fn assign(&mut self, var: Var, v: usize, d: &mut [u64], depth: usize) -> bool {
        let cc = self.cc;
        self.propagations += 1;
        let why = Why::Decision(depth as u32);
        let reasons = self
            .queue
            .reasons
            .as_mut()
            .expect("the search records reasons");
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
                reasons.set(v, cc.nv[v], why);
                bits::clear(s, cc.nv[v]);
                if bits::empty(s) {
                    self.queue.wiped = v;
                    return false;
                }
                v
            }
        };
        self.queue.push(c);
        propagate(cc, d, &[], &mut self.queue)
    }

    fn apply(&mut self, var: Var, v: usize, depth: usize) {
        match var {
            Var::Comp(c) => {
                self.fixed[c] = Some(v);
                self.depth_of[c] = depth;
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
    fn finish(&mut self, d: &[u64], stack: &[Frame]) -> Outcome {
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
        let decisions = stack
            .iter()
            .map(|f| {
                let v = f
                    .applied
                    .expect("every frame on a complete path is decided");
                match f.var {
                    Var::Comp(c) => Decision::Version(c, v),
                    Var::AnyOf(j) => Decision::AnyOf(j, v),
                    Var::Cap(k) => Decision::Cap(k, v),
                }
            })
            .collect();
        Outcome::Found(decisions, self.fixed.clone())
    }
}
