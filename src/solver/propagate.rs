//! Arc consistency over domains: removes every version that a fact rules out given what is still
//! possible for the component it names, until nothing changes. Sound (it removes only versions
//! that no platform within the domains can contain), not complete: a domain that survives may
//! still hold no platform, which the search finds out.

use std::collections::VecDeque;

use super::compile::{Compiled, bits};

/// Why a domain bit was removed: what the search's conflict analysis walks back from a dead end
/// to the decisions that caused it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Why {
    /// Before the search (the query, exclusions, the first propagation): no decision.
    Root,
    /// The decision of the level it was removed at.
    Decision,
    /// Edge `e`: this version of `from` allows nothing that is left of `to`.
    Facts(u32),
    /// Edge `e`: `from` must be present and no version of it that is left allows this bit of `to`.
    Allowed(u32),
    /// Capability `k`: this version requires it and none of its providers can be present.
    NoProvider(u32),
    /// Learned clause `i` of the search: every other component it names is outside its set there.
    Learned(u32),
}

/// Per domain bit (component `c`, bit `b` at `base[c] + b`): why it was last removed, and at
/// which decision level (0: before any decision).
#[derive(Debug)]
pub(crate) struct Reasons {
    /// Per component: index of its bit 0.
    pub base: Vec<usize>,
    /// Per bit.
    pub why: Vec<Why>,
    /// Per bit: the decision level it was removed at.
    pub level: Vec<u32>,
    /// The level that removals recorded now belong to.
    pub now: u32,
}

impl Reasons {
    /// Every bit of `cc`'s domains, removed at the root.
    pub fn new(cc: &Compiled<'_>) -> Self {
        let mut base = Vec::with_capacity(cc.len());
        let mut n = 0;
        for c in 0..cc.len() {
            base.push(n);
            n += cc.nv[c] + 1;
        }
        Reasons {
            base,
            why: vec![Why::Root; n],
            level: vec![0; n],
            now: 0,
        }
    }

    /// Records why bit `b` of component `c` was removed (at the current level).
    pub fn set(&mut self, c: usize, b: usize, why: Why) {
        self.why[self.base[c] + b] = why;
        self.level[self.base[c] + b] = self.now;
    }
}

/// Components whose domain changed and whose neighbours must be revisited.
#[derive(Debug)]
pub(crate) struct Queue {
    items: VecDeque<usize>,
    queued: Vec<bool>,
    scratch: Vec<u64>,
    /// Whether a change found while propagating is propagated further (always, except in the
    /// tests that weaken propagation on purpose to exercise the search's recovery).
    cascade: bool,
    /// The component whose domain became empty in the last failed propagation.
    pub wiped: usize,
    /// When set, why each bit was removed (the search's conflict analysis).
    pub reasons: Option<Reasons>,
    /// With `reasons`: the components scheduled since the last [`Queue::take_touched`] (the
    /// search's learned clauses watch them).
    touched: Vec<usize>,
    is_touched: Vec<bool>,
}

impl Queue {
    /// An empty queue for `n` components.
    pub fn new(n: usize, cascade: bool) -> Self {
        Queue {
            items: VecDeque::new(),
            queued: vec![false; n],
            scratch: Vec::new(),
            cascade,
            wiped: 0,
            reasons: None,
            touched: Vec::new(),
            is_touched: vec![false; n],
        }
    }

    /// Schedules component `c` (its domain changed).
    pub fn push(&mut self, c: usize) {
        if self.reasons.is_some() && !self.is_touched[c] {
            self.is_touched[c] = true;
            self.touched.push(c);
        }
        if !self.queued[c] {
            self.queued[c] = true;
            self.items.push_back(c);
        }
    }

    /// Schedules component `c` after a change found while propagating.
    fn push_found(&mut self, c: usize) {
        if self.cascade {
            self.push(c);
        } else if self.reasons.is_some() && !self.is_touched[c] {
            self.is_touched[c] = true;
            self.touched.push(c);
        }
    }

    /// Moves the components scheduled since the last call into `out` (cleared first).
    pub fn take_touched(&mut self, out: &mut Vec<usize>) {
        out.clear();
        for &c in &self.touched {
            self.is_touched[c] = false;
        }
        out.append(&mut self.touched);
    }

    fn pop(&mut self) -> Option<usize> {
        let c = self.items.pop_front()?;
        self.queued[c] = false;
        Some(c)
    }

    /// Drops every scheduled component (after a conflict found outside propagation).
    pub fn clear_pending(&mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        while self.pop().is_some() {}
    }
}

fn words(cc: &Compiled<'_>, c: usize) -> usize {
    cc.nv[c] / 64 + 1
}

/// Propagates until nothing changes. `roots` are capabilities the query needs a provider of.
/// Returns `false` when some domain becomes empty (no platform fits).
pub(crate) fn propagate(cc: &Compiled<'_>, d: &mut [u64], roots: &[usize], q: &mut Queue) -> bool {
    let ok = run(cc, d, roots, q);
    if !ok {
        q.clear();
    }
    ok
}

fn run(cc: &Compiled<'_>, d: &mut [u64], roots: &[usize], q: &mut Queue) -> bool {
    while let Some(x) = q.pop() {
        let (ox, wx, nx) = (cc.off[x], words(cc, x), cc.nv[x]);
        // 1. facts about x: versions of other components that x can no longer meet
        for &e in &cc.in_edges[x] {
            let edge = &cc.edges[e];
            let c = edge.from;
            let (oc, wc) = (cc.off[c], words(cc, c));
            if !bits::meets(
                &d[oc..oc + wc],
                &cc.sets[edge.with_fact..edge.with_fact + wc],
            ) {
                continue;
            }
            let mut changed = false;
            for &(v, a) in &edge.facts {
                if bits::has(&d[oc..oc + wc], v)
                    && !bits::meets(&cc.sets[a..a + wx], &d[ox..ox + wx])
                {
                    bits::clear(&mut d[oc..oc + wc], v);
                    if let Some(r) = &mut q.reasons {
                        r.set(c, v, Why::Facts(e as u32));
                    }
                    changed = true;
                }
            }
            if changed {
                if bits::empty(&d[oc..oc + wc]) {
                    q.wiped = c;
                    return false;
                }
                q.push_found(c);
            }
        }
        // 2. facts of x's versions: what they leave possible for the components they name
        if !bits::has(&d[ox..ox + wx], nx) {
            for &e in &cc.out_edges[x] {
                let edge = &cc.edges[e];
                let t = edge.to;
                let wf = &cc.sets[edge.with_fact..edge.with_fact + wx];
                if d[ox..ox + wx].iter().zip(wf).any(|(a, b)| a & !b != 0) {
                    // a possible version of x says nothing about t
                    continue;
                }
                let (ot, wt) = (cc.off[t], words(cc, t));
                q.scratch.clear();
                q.scratch.resize(wt, 0);
                for &(v, a) in &edge.facts {
                    if bits::has(&d[ox..ox + wx], v) {
                        for (u, s) in q.scratch.iter_mut().zip(&cc.sets[a..a + wt]) {
                            *u |= s;
                        }
                    }
                }
                if let Some(r) = &mut q.reasons {
                    for (w, (x, s)) in d[ot..ot + wt].iter().zip(&q.scratch).enumerate() {
                        let mut gone = x & !s;
                        while gone != 0 {
                            r.set(
                                t,
                                w * 64 + gone.trailing_zeros() as usize,
                                Why::Allowed(e as u32),
                            );
                            gone &= gone - 1;
                        }
                    }
                }
                if bits::and(&mut d[ot..ot + wt], &q.scratch) {
                    if bits::empty(&d[ot..ot + wt]) {
                        q.wiped = t;
                        return false;
                    }
                    q.push_found(t);
                }
            }
        }
        // 3. capabilities x provides, once x can no longer be present
        if !bits::any_below(&d[ox..ox + wx], nx) {
            for &k in &cc.provides[x] {
                let alive: Vec<usize> = cc.caps[k]
                    .providers
                    .iter()
                    .copied()
                    .filter(|p| bits::any_below(cc.slice(d, *p), cc.nv[*p]))
                    .collect();
                if roots.contains(&k) && !root_cap(cc, d, &alive, q) {
                    q.wiped = x;
                    return false;
                }
                if !alive.is_empty() {
                    continue;
                }
                for &(c, v) in &cc.caps[k].users {
                    let (oc, wc) = (cc.off[c], words(cc, c));
                    if bits::clear(&mut d[oc..oc + wc], v) {
                        if let Some(r) = &mut q.reasons {
                            r.set(c, v, Why::NoProvider(k as u32));
                        }
                        if bits::empty(&d[oc..oc + wc]) {
                            q.wiped = c;
                            return false;
                        }
                        q.push_found(c);
                    }
                }
            }
        }
    }
    true
}

/// A capability the query needs: at least one provider stays possible, and when only one does it
/// must be present. (Not recorded in [`Reasons`]: the search passes no roots.)
fn root_cap(cc: &Compiled<'_>, d: &mut [u64], alive: &[usize], q: &mut Queue) -> bool {
    match alive {
        [] => false,
        [p] => {
            if bits::clear(cc.slice_mut(d, *p), cc.nv[*p]) {
                q.push_found(*p);
            }
            true
        }
        _ => true,
    }
}
