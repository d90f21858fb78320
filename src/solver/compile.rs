//! The catalog as the search sees it, computed once per catalog: every component's versions as
//! bit positions, and every fact of every release as the set of the other component's versions it
//! allows.
//!
//! A *domain* is a flat `[u64]` holding, per component, one bit per version (bit `v` = version
//! index `v`, oldest first) and one more bit for "absent". A fact of release `(c, v)` about
//! component `t` becomes the set of `t`'s domain bits it allows: `requires t R` allows the versions
//! in `R`; `constrains t R` those and "absent"; `conflicts t` only "absent"; several facts about the
//! same `t` allow the intersection.

use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::types::VersionReq;

use super::query::Set;

/// Words per set of `bits` bits.
fn words_for(bits: usize) -> usize {
    bits / 64 + 1
}

/// The facts of the releases of one component about one other component.
#[derive(Debug)]
pub(crate) struct Edge {
    /// The component whose releases state the facts.
    pub from: usize,
    /// The component they are about.
    pub to: usize,
    /// Per release of `from` with a fact about `to`: its version index and the offset in
    /// [`Compiled::sets`] of the allowed set (a domain slice of `to`).
    pub facts: Vec<(usize, usize)>,
    /// Offset in [`Compiled::sets`] of the versions of `from` that have a fact about `to`.
    pub with_fact: usize,
}

/// One fact, flattened: release `(from, v)` allows only the bits of `to` in the set at `set`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fact {
    /// The component whose release states it.
    pub from: u32,
    /// That release's version index.
    pub v: u32,
    /// The component it is about.
    pub to: u32,
    /// Offset in [`Compiled::sets`] of the allowed set.
    pub set: u32,
    /// Its edge (index in [`Compiled::edges`]).
    pub edge: u32,
}

/// A capability: who provides it, which releases require it.
#[derive(Debug)]
pub(crate) struct Cap {
    /// Providers, in name order.
    pub providers: Vec<usize>,
    /// `(component, version)` of every release that requires it.
    pub users: Vec<(usize, usize)>,
}

/// The compiled catalog.
#[derive(Debug)]
pub(crate) struct Compiled<'c> {
    /// The catalog.
    pub catalog: &'c Catalog,
    /// Per component: number of versions (the "absent" bit is bit `nv[c]`).
    pub nv: Vec<usize>,
    /// Per component: first word of its slice in a domain.
    pub off: Vec<usize>,
    /// Words in a whole domain.
    pub total: usize,
    /// Every edge.
    pub edges: Vec<Edge>,
    /// Per component: edges from it (facts of its releases).
    pub out_edges: Vec<Vec<usize>>,
    /// Per component: edges to it (facts about it).
    pub in_edges: Vec<Vec<usize>>,
    /// Arena of bit sets referred to by edges.
    pub sets: Vec<u64>,
    /// Capabilities required or provided anywhere.
    pub caps: Vec<Cap>,
    /// Capability name → index in `caps`.
    pub cap_index: HashMap<String, usize>,
    /// Capability names by index in `caps`.
    pub cap_names: Vec<String>,
    /// Per component: capabilities it provides.
    pub provides: Vec<Vec<usize>>,
    /// Per component, per version: components its `requires` name.
    pub req_comps: Vec<Vec<Vec<usize>>>,
    /// Per component, per version: capabilities its `requires` name.
    pub req_caps: Vec<Vec<Vec<usize>>>,
    /// Per component: the index of its bit 0 among every component's domain bits (versions and
    /// "absent", without word padding).
    pub bit_base: Vec<usize>,
    /// Every fact, edge by edge.
    pub facts: Vec<Fact>,
    /// Per release (index `bit_base[c] + v`): `ver_edges[ver_start[i]..ver_start[i + 1]]` are the
    /// edges it has a fact in.
    pub ver_start: Vec<u32>,
    /// See `ver_start`.
    pub ver_edges: Vec<u32>,
}

impl<'c> Compiled<'c> {
    /// Compiles `catalog`.
    pub fn new(catalog: &'c Catalog) -> Self {
        let n = catalog.components.len();
        let nv: Vec<usize> = catalog
            .components
            .iter()
            .map(|c| c.versions.len())
            .collect();
        let mut off = Vec::with_capacity(n);
        let mut total = 0;
        for &k in &nv {
            off.push(total);
            total += words_for(k);
        }
        let mut cc = Compiled {
            catalog,
            nv,
            off,
            total,
            edges: Vec::new(),
            out_edges: vec![Vec::new(); n],
            in_edges: vec![Vec::new(); n],
            sets: Vec::new(),
            caps: Vec::new(),
            cap_index: HashMap::new(),
            cap_names: Vec::new(),
            provides: vec![Vec::new(); n],
            req_comps: Vec::with_capacity(n),
            req_caps: Vec::with_capacity(n),
            bit_base: Vec::with_capacity(n),
            facts: Vec::new(),
            ver_start: Vec::new(),
            ver_edges: Vec::new(),
        };
        for (i, c) in catalog.components.iter().enumerate() {
            for p in &c.provides {
                let k = cc.cap(p);
                cc.caps[k].providers.push(i);
                cc.provides[i].push(k);
            }
        }
        // range → allowed versions, per target component (ranges repeat across releases)
        let mut range_bits: HashMap<(usize, &VersionReq), Vec<u64>> = HashMap::new();
        for i in 0..n {
            cc.compile_component(i, &mut range_bits);
        }
        cc.flatten();
        cc
    }

    /// Fills `bit_base`, `facts` and the per-release edge lists from the edges.
    fn flatten(&mut self) {
        let mut bits = 0;
        for &k in &self.nv {
            self.bit_base.push(bits);
            bits += k + 1;
        }
        let mut per_release: Vec<Vec<u32>> = vec![Vec::new(); bits];
        for (e, edge) in self.edges.iter().enumerate() {
            for &(v, a) in &edge.facts {
                self.facts.push(Fact {
                    from: edge.from as u32,
                    v: v as u32,
                    to: edge.to as u32,
                    set: a as u32,
                    edge: e as u32,
                });
                per_release[self.bit_base[edge.from] + v].push(e as u32);
            }
        }
        self.ver_start.reserve(bits + 1);
        for list in per_release {
            self.ver_start.push(self.ver_edges.len() as u32);
            self.ver_edges.extend(list);
        }
        self.ver_start.push(self.ver_edges.len() as u32);
    }

    /// The edges release `v` of component `c` has a fact in.
    pub fn release_edges(&self, c: usize, v: usize) -> &[u32] {
        let i = self.bit_base[c] + v;
        &self.ver_edges[self.ver_start[i] as usize..self.ver_start[i + 1] as usize]
    }

    /// Compiles the facts of component `i`'s releases into edges.
    fn compile_component(
        &mut self,
        i: usize,
        range_bits: &mut HashMap<(usize, &'c VersionReq), Vec<u64>>,
    ) {
        let catalog = self.catalog;
        let c = &catalog.components[i];
        // target → (version, allowed set) for this component's releases
        let mut per_target: HashMap<usize, Vec<(usize, Vec<u64>)>> = HashMap::new();
        let mut comps_of = Vec::with_capacity(c.versions.len());
        let mut caps_of = Vec::with_capacity(c.versions.len());
        for v in 0..c.versions.len() {
            let (facts, comps, caps) = self.release_facts(i, v, range_bits);
            for (t, set) in facts {
                per_target.entry(t).or_default().push((v, set));
            }
            comps_of.push(comps);
            caps_of.push(caps);
        }
        self.req_comps.push(comps_of);
        self.req_caps.push(caps_of);
        let mut targets: Vec<usize> = per_target.keys().copied().collect();
        targets.sort_unstable();
        for t in targets {
            let list = per_target.remove(&t).unwrap_or_default();
            let with_fact = self.sets.len();
            self.sets.resize(with_fact + words_for(self.nv[i]), 0);
            let mut facts = Vec::with_capacity(list.len());
            for (v, set) in list {
                self.sets[with_fact + v / 64] |= 1 << (v % 64);
                facts.push((v, self.sets.len()));
                self.sets.extend_from_slice(&set);
            }
            let e = self.edges.len();
            self.edges.push(Edge {
                from: i,
                to: t,
                facts,
                with_fact,
            });
            self.out_edges[i].push(e);
            self.in_edges[t].push(e);
        }
    }

    /// The facts of release `v` of component `i`, per component they name (the allowed set of its
    /// domain bits), and the components and capabilities its `requires` name.
    #[allow(clippy::type_complexity)]
    fn release_facts(
        &mut self,
        i: usize,
        v: usize,
        range_bits: &mut HashMap<(usize, &'c VersionReq), Vec<u64>>,
    ) -> (Vec<(usize, Vec<u64>)>, Vec<usize>, Vec<usize>) {
        let catalog = self.catalog;
        let c = &catalog.components[i];
        let r = &c.versions[v];
        let mut facts: Vec<(usize, Vec<u64>)> = Vec::new();
        let mut comps = Vec::new();
        let mut caps = Vec::new();
        let restrict = |t: usize, set: &[u64], facts: &mut Vec<(usize, Vec<u64>)>| match facts
            .iter_mut()
            .find(|(x, _)| *x == t)
        {
            Some((_, s)) => s.iter_mut().zip(set).for_each(|(a, b)| *a &= b),
            None => facts.push((t, set.to_vec())),
        };
        for x in &r.requires {
            if x.name == c.name {
                // a self-reference is a catalog error (`catalog check` reports it)
                continue;
            }
            match catalog.component_index(&x.name) {
                Some(t) => {
                    let set = range_bits
                        .entry((t, &x.range))
                        .or_insert_with(|| self.versions_in(t, &x.range, false));
                    restrict(t, set, &mut facts);
                    comps.push(t);
                }
                None => {
                    let k = self.cap(&x.name);
                    self.caps[k].users.push((i, v));
                    caps.push(k);
                }
            }
        }
        for x in &r.constrains {
            let Some(t) = catalog.component_index(&x.name).filter(|t| *t != i) else {
                continue;
            };
            let mut set = range_bits
                .entry((t, &x.range))
                .or_insert_with(|| self.versions_in(t, &x.range, false))
                .clone();
            self.set_bit(&mut set, t, self.nv[t]);
            restrict(t, &set, &mut facts);
        }
        for x in &r.conflicts {
            let Some(t) = catalog.component_index(&x.name).filter(|t| *t != i) else {
                continue;
            };
            let mut set = vec![0; words_for(self.nv[t])];
            self.set_bit(&mut set, t, self.nv[t]);
            restrict(t, &set, &mut facts);
        }
        comps.sort_unstable();
        comps.dedup();
        caps.sort_unstable();
        caps.dedup();
        (facts, comps, caps)
    }

    fn cap(&mut self, name: &str) -> usize {
        if let Some(k) = self.cap_index.get(name) {
            return *k;
        }
        let k = self.caps.len();
        self.caps.push(Cap {
            providers: Vec::new(),
            users: Vec::new(),
        });
        self.cap_index.insert(name.to_string(), k);
        self.cap_names.push(name.to_string());
        k
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.nv.len()
    }

    /// Component `c`'s slice of a domain.
    pub fn slice<'d>(&self, d: &'d [u64], c: usize) -> &'d [u64] {
        &d[self.off[c]..self.off[c] + words_for(self.nv[c])]
    }

    /// Component `c`'s slice of a domain, mutable.
    pub fn slice_mut<'d>(&self, d: &'d mut [u64], c: usize) -> &'d mut [u64] {
        &mut d[self.off[c]..self.off[c] + words_for(self.nv[c])]
    }

    /// Sets bit `b` in a set over component `c`'s domain bits.
    pub fn set_bit(&self, set: &mut [u64], _c: usize, b: usize) {
        set[b / 64] |= 1 << (b % 64);
    }

    /// The versions of `t` in `range` (without the "absent" bit).
    fn versions_in(&self, t: usize, range: &VersionReq, absent: bool) -> Vec<u64> {
        let mut set = vec![0; words_for(self.nv[t])];
        for (v, r) in self.catalog.components[t].versions.iter().enumerate() {
            if range.matches(&r.version) {
                set[v / 64] |= 1 << (v % 64);
            }
        }
        if absent {
            set[self.nv[t] / 64] |= 1 << (self.nv[t] % 64);
        }
        set
    }

    /// The versions of `c` in `set` (without the "absent" bit).
    pub fn set_bits(&self, c: usize, set: &Set) -> Vec<u64> {
        let mut out = vec![0; words_for(self.nv[c])];
        for (v, r) in self.catalog.components[c].versions.iter().enumerate() {
            if set.contains(&r.version) {
                out[v / 64] |= 1 << (v % 64);
            }
        }
        out
    }

    /// A domain where every version of every component is possible, and absence too.
    pub fn full_domain(&self) -> Vec<u64> {
        let mut d = vec![0; self.total];
        for c in 0..self.len() {
            let s = self.slice_mut(&mut d, c);
            for b in 0..=self.nv[c] {
                s[b / 64] |= 1 << (b % 64);
            }
        }
        d
    }
}

/// Bit helpers over domain slices.
pub(crate) mod bits {
    /// Whether bit `b` is set.
    pub fn has(s: &[u64], b: usize) -> bool {
        s[b / 64] & (1 << (b % 64)) != 0
    }
    /// Clears bit `b`; whether it was set.
    pub fn clear(s: &mut [u64], b: usize) -> bool {
        let was = has(s, b);
        s[b / 64] &= !(1 << (b % 64));
        was
    }
    /// Sets bit `b`.
    pub fn set(s: &mut [u64], b: usize) {
        s[b / 64] |= 1 << (b % 64);
    }
    /// Whether the two sets share a bit.
    pub fn meets(a: &[u64], b: &[u64]) -> bool {
        a.iter().zip(b).any(|(x, y)| x & y != 0)
    }
    /// `a &= b`; whether `a` changed.
    pub fn and(a: &mut [u64], b: &[u64]) -> bool {
        let mut changed = false;
        for (x, y) in a.iter_mut().zip(b) {
            let n = *x & y;
            changed |= n != *x;
            *x = n;
        }
        changed
    }
    /// Whether no bit is set.
    pub fn empty(s: &[u64]) -> bool {
        s.iter().all(|w| *w == 0)
    }
    /// Whether any of the first `n` bits (the versions) is set.
    pub fn any_below(s: &[u64], n: usize) -> bool {
        (0..n / 64).any(|w| s[w] != 0) || s[n / 64] & ((1u64 << (n % 64)) - 1) != 0
    }
}
