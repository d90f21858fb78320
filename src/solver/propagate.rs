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
    /// Per bit: when it was removed (a clock that only moves forward; every bit one decision
    /// removes has the same time, see [`Reasons::group`]).
    pub stamp: Vec<u32>,
    clock: u32,
    grouped: bool,
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
            stamp: vec![0; n],
            clock: 1,
            grouped: false,
        }
    }

    /// Records why bit `b` of component `c` was removed (at the current level).
    pub fn set(&mut self, c: usize, b: usize, why: Why) {
        let i = self.base[c] + b;
        self.why[i] = why;
        self.level[i] = self.now;
        self.stamp[i] = self.clock;
        if !self.grouped {
            self.clock += 1;
        }
    }

    /// From `true` until `false`: the bits removed are one event (a decision), at one time.
    pub fn group(&mut self, on: bool) {
        self.grouped = on;
        if !on {
            self.clock += 1;
        }
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
        // 1. facts about x: versions of other components that x can no longer meet
        for &e in &cc.in_edges[x] {
            if !facts_about(cc, d, q, x, e) {
                return false;
            }
        }
        // 2. facts of x's versions: what they leave possible for the components they name
        let (ox, wx, nx) = (cc.off[x], words(cc, x), cc.nv[x]);
        if !bits::has(&d[ox..ox + wx], nx) {
            for &e in &cc.out_edges[x] {
                if !allowed(cc, d, q, e) {
                    return false;
                }
            }
        }
        // 3. capabilities x provides, once x can no longer be present
        if !provided(cc, d, roots, q, x) {
            return false;
        }
    }
    true
}

/// Edge `e` (facts about `x`): removes the versions of its `from` whose fact allows nothing left
/// of `x`. `false` when that empties `from`.
fn facts_about(cc: &Compiled<'_>, d: &mut [u64], q: &mut Queue, x: usize, e: usize) -> bool {
    let (ox, wx) = (cc.off[x], words(cc, x));
    let edge = &cc.edges[e];
    let c = edge.from;
    let (oc, wc) = (cc.off[c], words(cc, c));
    if !bits::meets(
        &d[oc..oc + wc],
        &cc.sets[edge.with_fact..edge.with_fact + wc],
    ) {
        return true;
    }
    let mut changed = false;
    for &(v, a) in &edge.facts {
        if bits::has(&d[oc..oc + wc], v) && !bits::meets(&cc.sets[a..a + wx], &d[ox..ox + wx]) {
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
    true
}

/// Edge `e`, once its `from` must be present: when every version of `from` left has a fact about
/// `to`, `to` keeps only what one of those facts allows. `false` when that empties `to`.
fn allowed(cc: &Compiled<'_>, d: &mut [u64], q: &mut Queue, e: usize) -> bool {
    let edge = &cc.edges[e];
    let (x, t) = (edge.from, edge.to);
    let (ox, wx) = (cc.off[x], words(cc, x));
    let wf = &cc.sets[edge.with_fact..edge.with_fact + wx];
    if d[ox..ox + wx].iter().zip(wf).any(|(a, b)| a & !b != 0) {
        // a possible version of x says nothing about t
        return true;
    }
    let (ot, wt) = (cc.off[t], words(cc, t));
    if d[ot..ot + wt].iter().map(|w| w.count_ones()).sum::<u32>() <= 1 {
        // a single bit left: every version of x left allows it (or rule 1 removes the version
        // when `t` is revisited), so the union cannot remove it
        return true;
    }
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
    true
}

/// The capabilities `x` provides, once `x` can no longer be present: a release that requires one
/// no provider of which can be present goes. `false` when a domain becomes empty (or a capability
/// in `roots` loses its last provider).
fn provided(cc: &Compiled<'_>, d: &mut [u64], roots: &[usize], q: &mut Queue, x: usize) -> bool {
    if bits::any_below(cc.slice(d, x), cc.nv[x]) {
        return true;
    }
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
    true
}

/// No fact watches this bit.
const NONE: u32 = u32::MAX;

/// Watched supports for the search's propagation: every fact of a release still possible watches
/// one bit of the component it is about that it allows and that is still possible (its support).
/// Only the facts watching a bit that goes are revisited: each either finds another support or
/// removes its release. Watches need no undoing when the search jumps back (domains only grow
/// then, so every support stays possible), only `seen` is reset to the restored domains.
#[derive(Debug, Default)]
pub(crate) struct Supports {
    /// Per domain bit (`Compiled::bit_base` indexing): the first fact watching it.
    head: Vec<u32>,
    /// Per fact: the next fact watching the same bit.
    next: Vec<u32>,
    /// The domains as last processed: the bits removed since are `seen & !d`.
    pub seen: Vec<u64>,
}

impl Supports {
    /// Watches for domains `d`. Every fact of a possible release needs a support there (`d` is
    /// arc consistent); a fact without one removes its release, and its component is scheduled.
    pub fn new(cc: &Compiled<'_>, d: &mut [u64], q: &mut Queue) -> Self {
        let bits_total = cc
            .bit_base
            .last()
            .map_or(0, |b| b + cc.nv[cc.len() - 1] + 1);
        let mut s = Supports {
            head: vec![NONE; bits_total],
            next: vec![NONE; cc.facts.len()],
            seen: d.to_vec(),
        };
        for (f, fact) in cc.facts.iter().enumerate() {
            let (c, v, t) = (fact.from as usize, fact.v as usize, fact.to as usize);
            if !bits::has(cc.slice(d, c), v) {
                continue;
            }
            match support(cc, d, fact) {
                Some(u) => s.link(cc, f, t, u),
                None => {
                    bits::clear(cc.slice_mut(d, c), v);
                    q.push(c);
                }
            }
        }
        s
    }

    fn link(&mut self, cc: &Compiled<'_>, f: usize, t: usize, u: usize) {
        let i = cc.bit_base[t] + u;
        self.next[f] = self.head[i];
        self.head[i] = f as u32;
    }

    /// Bit `u` of `x` went: the facts watching it find another support or remove their release.
    fn revisit(
        &mut self,
        cc: &Compiled<'_>,
        d: &mut [u64],
        q: &mut Queue,
        x: usize,
        u: usize,
    ) -> bool {
        let i = cc.bit_base[x] + u;
        let mut prev = NONE;
        let mut f = self.head[i];
        while f != NONE {
            let fact = cc.facts[f as usize];
            let next = self.next[f as usize];
            let (c, v) = (fact.from as usize, fact.v as usize);
            let (oc, wc) = (cc.off[c], words(cc, c));
            if !bits::has(&d[oc..oc + wc], v) {
                // its release is gone already: the watch can stay (both come back together)
                prev = f;
                f = next;
                continue;
            }
            if let Some(w) = support(cc, d, &fact) {
                if prev == NONE {
                    self.head[i] = next;
                } else {
                    self.next[prev as usize] = next;
                }
                self.link(cc, f as usize, x, w);
                f = next;
                continue;
            }
            bits::clear(&mut d[oc..oc + wc], v);
            if let Some(r) = &mut q.reasons {
                r.set(c, v, Why::Facts(fact.edge));
            }
            if bits::empty(&d[oc..oc + wc]) {
                q.wiped = c;
                return false;
            }
            q.push_found(c);
            prev = f;
            f = next;
        }
        true
    }
}

/// The newest bit of `fact.to` that the fact allows and `d` still holds.
fn support(cc: &Compiled<'_>, d: &[u64], fact: &super::compile::Fact) -> Option<usize> {
    let t = fact.to as usize;
    let (ot, wt) = (cc.off[t], words(cc, t));
    let a = fact.set as usize;
    (0..wt).rev().find_map(|w| {
        let m = cc.sets[a + w] & d[ot + w];
        (m != 0).then(|| w * 64 + 63 - m.leading_zeros() as usize)
    })
}

/// [`propagate`] for the search, with watched supports: after a component loses bits, only the
/// facts watching those bits are revisited, and only the edges of its oldest version left can
/// restrict what it names. The same fixpoint as [`propagate`].
pub(crate) fn propagate_watched(
    cc: &Compiled<'_>,
    d: &mut [u64],
    q: &mut Queue,
    s: &mut Supports,
) -> bool {
    let ok = run_watched(cc, d, q, s);
    if !ok {
        q.clear();
    }
    ok
}

fn run_watched(cc: &Compiled<'_>, d: &mut [u64], q: &mut Queue, s: &mut Supports) -> bool {
    while let Some(x) = q.pop() {
        let (ox, wx, nx) = (cc.off[x], words(cc, x), cc.nv[x]);
        // 1. the facts watching a bit of x that went
        for w in 0..wx {
            let mut gone = s.seen[ox + w] & !d[ox + w];
            s.seen[ox + w] = d[ox + w];
            while gone != 0 {
                let u = w * 64 + gone.trailing_zeros() as usize;
                gone &= gone - 1;
                if !s.revisit(cc, d, q, x, u) {
                    return false;
                }
            }
        }
        // 2. x must be present: only an edge its oldest version left has a fact in can be one
        //    where every version left has a fact
        if !bits::has(&d[ox..ox + wx], nx)
            && let Some(w) = (0..nx).find(|v| bits::has(&d[ox..ox + wx], *v))
        {
            for &e in cc.release_edges(x, w) {
                if !allowed(cc, d, q, e as usize) {
                    return false;
                }
            }
        }
        // 3. capabilities x provides, once x can no longer be present
        if !provided(cc, d, &[], q, x) {
            return false;
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
