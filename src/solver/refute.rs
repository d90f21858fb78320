//! Propagation alone as a refutation that names its premises: when arc consistency over a query's
//! domains empties one of them, which of the query's root restrictions (its needs and limits) the
//! contradiction comes from.
//!
//! The explanation asks this before any search: an unsatisfiable request is usually refuted by
//! its first propagation, and the premises found are a conflicting subset of the request, so the
//! minimal conflict is looked for within it, mostly with propagations instead of searches.

use super::compile::{Compiled, bits};
use super::propagate::{Queue, Reasons, Why, propagate};
use super::query::{Need, Query};

/// The premises of a refutation: indices into the query's needs, then (after them) its limits.
/// `None` when propagation does not refute the query (it may still have no platform).
pub(crate) fn refute(cc: &Compiled<'_>, base: &[u64], q: &Query) -> Option<Vec<usize>> {
    let mut d = base.to_vec();
    let mut premises = Premises::new(cc);
    let needs = q.needs.iter().enumerate().filter_map(|(i, n)| match n {
        Need::One(c, set) => Some(((*c, cc.set_bits(*c, set)), i)),
        Need::AnyOf(_) => None,
    });
    let limits = q.limits.iter().enumerate().map(|(j, (c, set))| {
        let mut allowed = cc.set_bits(*c, set);
        bits::set(&mut allowed, cc.nv[*c]);
        ((*c, allowed), q.needs.len() + j)
    });
    for ((c, allowed), tag) in needs.chain(limits) {
        let s = cc.slice_mut(&mut d, c);
        for b in 0..=cc.nv[c] {
            if bits::has(s, b) && !bits::has(&allowed, b) {
                premises.tag[premises.reasons.base[c] + b] = Some(tag);
            }
        }
        bits::and(s, &allowed);
    }
    // releases requiring a capability that no component can provide
    for (k, cap) in cc.caps.iter().enumerate() {
        if !cap.providers.iter().any(|p| present(cc, &d, *p)) {
            for &(c, v) in &cap.users {
                if bits::clear(cc.slice_mut(&mut d, c), v) {
                    premises.reasons.set(c, v, Why::NoProvider(k as u32));
                }
            }
        }
    }
    if let Some(c) = (0..cc.len()).find(|c| bits::empty(cc.slice(&d, *c))) {
        return Some(premises.of_component(&d, c));
    }
    for (i, need) in q.needs.iter().enumerate() {
        if let Need::AnyOf(ps) = need
            && !ps.iter().any(|p| present(cc, &d, *p))
        {
            premises.tags.push(i);
            for &p in ps {
                premises.todo.extend((0..cc.nv[p]).map(|b| (p, b)));
            }
            return Some(premises.walk(&d));
        }
    }
    let mut queue = Queue::new(cc.len(), true);
    (0..cc.len()).for_each(|c| queue.push(c));
    queue.reasons = Some(premises.reasons);
    if propagate(cc, &mut d, &[], &mut queue) {
        return None;
    }
    premises.reasons = queue.reasons.take().expect("set above");
    Some(premises.of_component(&d, queue.wiped))
}

fn present(cc: &Compiled<'_>, d: &[u64], c: usize) -> bool {
    bits::any_below(cc.slice(d, c), cc.nv[c])
}

/// The walk from removed bits back to the restrictions that caused them.
struct Premises<'a, 'c> {
    cc: &'a Compiled<'c>,
    /// Why propagation removed each bit ([`Why::Root`]: before propagation).
    reasons: Reasons,
    /// Per bit removed before propagation: the restriction that removed it (`None`: the
    /// oracle's exclusions).
    tag: Vec<Option<usize>>,
    todo: Vec<(usize, usize)>,
    seen: Vec<bool>,
    tags: Vec<usize>,
}

impl<'a, 'c> Premises<'a, 'c> {
    fn new(cc: &'a Compiled<'c>) -> Self {
        let reasons = Reasons::new(cc);
        let n = reasons.why.len();
        Premises {
            cc,
            reasons,
            tag: vec![None; n],
            todo: Vec::new(),
            seen: vec![false; n],
            tags: Vec::new(),
        }
    }

    /// The premises of component `c`'s empty domain.
    fn of_component(mut self, d: &[u64], c: usize) -> Vec<usize> {
        self.todo.extend((0..=self.cc.nv[c]).map(|b| (c, b)));
        self.walk(d)
    }

    /// Follows the reasons of the scheduled bits (removed from `d`) to the restrictions.
    fn walk(mut self, d: &[u64]) -> Vec<usize> {
        let cc = self.cc;
        while let Some((c, b)) = self.todo.pop() {
            let i = self.reasons.base[c] + b;
            if std::mem::replace(&mut self.seen[i], true) {
                continue;
            }
            match self.reasons.why[i] {
                Why::Root => self.tags.extend(self.tag[i]),
                Why::Facts(e) => {
                    // version b of `from` allows none of what is left of `to`
                    let edge = &cc.edges[e as usize];
                    if let Ok(f) = edge.facts.binary_search_by_key(&b, |x| x.0) {
                        let allowed = &cc.sets[edge.facts[f].1..];
                        let to = edge.to;
                        self.todo.extend(
                            (0..=cc.nv[to])
                                .filter(|u| bits::has(allowed, *u))
                                .map(|u| (to, u)),
                        );
                    }
                }
                Why::Allowed(e) => {
                    // `from` must be present and none of its versions left allows bit b: every
                    // version of `from` that is gone, and its absence
                    let from = cc.edges[e as usize].from;
                    let s = cc.slice(d, from);
                    self.todo.extend(
                        (0..=cc.nv[from])
                            .filter(|w| !bits::has(s, *w))
                            .map(|w| (from, w)),
                    );
                }
                Why::NoProvider(k) => {
                    for &p in &cc.caps[k as usize].providers {
                        self.todo.extend((0..cc.nv[p]).map(|v| (p, v)));
                    }
                }
                // the search's own reasons; propagation alone records none of them
                _ => {}
            }
        }
        self.tags.sort_unstable();
        self.tags.dedup();
        self.tags
    }
}
