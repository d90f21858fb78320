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
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::types::{Version, VersionReq};

use super::query::Set;

/// Work space of [`Compiled::new`], reused from one component to the next.
struct Scratch<'c> {
    /// Component name → index (a hash lookup: the catalog's binary search compares names).
    index: HashMap<&'c str, usize>,
    /// Every component's versions, one after the other (binary searches stay in a small array).
    versions: Vec<Version>,
    /// Per component: where its versions start in `versions`.
    first: Vec<usize>,
    /// The facts of the component being compiled: `(target, version, offset in words)`.
    facts: Vec<(usize, usize, usize)>,
    /// Their allowed sets.
    words: Vec<u64>,
}

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

/// The compiled catalog: its tables, computed once per catalog ([`Compiled::new`] keeps them in
/// the catalog's memo), and the catalog they come from.
#[derive(Debug)]
pub(crate) struct Compiled<'c> {
    /// The catalog.
    pub catalog: &'c Catalog,
    /// Its tables.
    tables: Arc<Tables>,
}

impl std::ops::Deref for Compiled<'_> {
    type Target = Tables;
    fn deref(&self) -> &Tables {
        &self.tables
    }
}

/// The catalog as bit sets (see the module docs).
#[derive(Debug)]
pub(crate) struct Tables {
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
    /// The compiled `catalog`: compiled on the first call for this catalog, then shared (every
    /// oracle over one catalog, whatever its exclusions, searches the same tables).
    pub fn new(catalog: &'c Catalog) -> Self {
        let tables = catalog.solver_memo.get_or_init(|| {
            let start = std::time::Instant::now();
            let tables = Tables::new(catalog);
            if crate::trace::enabled() {
                eprintln!(
                    "solver compile: {:.1} ms ({} components, {} facts)",
                    start.elapsed().as_secs_f64() * 1e3,
                    tables.len(),
                    tables.facts.len()
                );
            }
            Arc::new(tables)
        });
        let tables = Arc::clone(tables)
            .downcast::<Tables>()
            .expect("the catalog's solver memo holds compiled tables");
        Compiled { catalog, tables }
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
}

impl Tables {
    /// Compiles `catalog`.
    pub(crate) fn new(catalog: &Catalog) -> Self {
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
        let mut cc = Tables {
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
        let mut scratch = Scratch {
            index: (catalog.components.iter().enumerate())
                .map(|(i, c)| (c.name.as_str(), i))
                .collect(),
            versions: (catalog.components.iter())
                .flat_map(|c| c.versions.iter().map(|r| r.version.clone()))
                .collect(),
            first: (catalog.components.iter())
                .scan(0, |at, c| {
                    *at += c.versions.len();
                    Some(*at - c.versions.len())
                })
                .collect(),
            facts: Vec::new(),
            words: Vec::new(),
        };
        for i in 0..n {
            cc.compile_component(catalog, i, &mut scratch);
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
        // per release, the edges it has a fact in, in edge order (a counting sort)
        let mut count = vec![0u32; bits + 1];
        self.facts
            .reserve_exact(self.edges.iter().map(|e| e.facts.len()).sum());
        for (e, edge) in self.edges.iter().enumerate() {
            for &(v, a) in &edge.facts {
                self.facts.push(Fact {
                    from: edge.from as u32,
                    v: v as u32,
                    to: edge.to as u32,
                    set: a as u32,
                    edge: e as u32,
                });
                count[self.bit_base[edge.from] + v + 1] += 1;
            }
        }
        for i in 0..bits {
            count[i + 1] += count[i];
        }
        self.ver_start = count.clone();
        self.ver_edges = vec![0; self.facts.len()];
        for f in &self.facts {
            let i = self.bit_base[f.from as usize] + f.v as usize;
            self.ver_edges[count[i] as usize] = f.edge;
            count[i] += 1;
        }
    }

    /// The edges release `v` of component `c` has a fact in.
    pub fn release_edges(&self, c: usize, v: usize) -> &[u32] {
        let i = self.bit_base[c] + v;
        &self.ver_edges[self.ver_start[i] as usize..self.ver_start[i + 1] as usize]
    }

    /// Compiles the facts of component `i`'s releases into edges.
    fn compile_component(&mut self, catalog: &Catalog, i: usize, scratch: &mut Scratch<'_>) {
        let c = &catalog.components[i];
        scratch.facts.clear();
        scratch.words.clear();
        let mut comps_of = Vec::with_capacity(c.versions.len());
        let mut caps_of = Vec::with_capacity(c.versions.len());
        for v in 0..c.versions.len() {
            let (comps, caps) = self.release_facts(catalog, i, v, scratch);
            comps_of.push(comps);
            caps_of.push(caps);
        }
        self.req_comps.push(comps_of);
        self.req_caps.push(caps_of);
        // by target, then version (a stable sort: the facts were made version by version)
        scratch.facts.sort_by_key(|f| f.0);
        let mut k = 0;
        while k < scratch.facts.len() {
            let t = scratch.facts[k].0;
            let w = words_for(self.nv[t]);
            let with_fact = self.sets.len();
            self.sets.resize(with_fact + words_for(self.nv[i]), 0);
            let run = scratch.facts[k..].iter().take_while(|f| f.0 == t).count();
            let mut facts = Vec::with_capacity(run);
            while let Some(&(_, v, at)) = scratch.facts.get(k).filter(|f| f.0 == t) {
                self.sets[with_fact + v / 64] |= 1 << (v % 64);
                facts.push((v, self.sets.len()));
                self.sets.extend_from_slice(&scratch.words[at..at + w]);
                k += 1;
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

    /// Adds the facts of release `v` of component `i` to `scratch`, one per component they name
    /// (the allowed set of its domain bits: several facts about one component allow the
    /// intersection), and returns the components and capabilities its `requires` name.
    fn release_facts(
        &mut self,
        catalog: &Catalog,
        i: usize,
        v: usize,
        scratch: &mut Scratch<'_>,
    ) -> (Vec<usize>, Vec<usize>) {
        let c = &catalog.components[i];
        let r = &c.versions[v];
        let first = scratch.facts.len();
        let mut comps = Vec::with_capacity(r.requires.len());
        let mut caps = Vec::new();
        for x in &r.requires {
            match scratch.index.get(x.name.as_str()).copied() {
                // a self-reference is a catalog error (`catalog check` reports it)
                Some(t) if t == i => {}
                Some(t) => {
                    self.restrict(scratch, first, v, t, Some(&x.range), false);
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
            if let Some(t) = scratch
                .index
                .get(x.name.as_str())
                .copied()
                .filter(|t| *t != i)
            {
                self.restrict(scratch, first, v, t, Some(&x.range), true);
            }
        }
        for x in &r.conflicts {
            if let Some(t) = scratch
                .index
                .get(x.name.as_str())
                .copied()
                .filter(|t| *t != i)
            {
                self.restrict(scratch, first, v, t, None, true);
            }
        }
        comps.sort_unstable();
        comps.dedup();
        caps.sort_unstable();
        caps.dedup();
        (comps, caps)
    }

    /// Restricts what release `v` (whose facts start at `scratch.facts[first]`) allows of component
    /// `t` to the versions in `range` (none when `None`), and absence when `absent`.
    fn restrict(
        &self,
        scratch: &mut Scratch<'_>,
        first: usize,
        v: usize,
        t: usize,
        range: Option<&VersionReq>,
        absent: bool,
    ) {
        let w = words_for(self.nv[t]);
        let mut set = [0u64; 4];
        let mut big = Vec::new();
        let set: &mut [u64] = if w <= set.len() {
            &mut set[..w]
        } else {
            big.resize(w, 0);
            &mut big
        };
        if let Some(range) = range {
            let at = scratch.first[t];
            versions_in(&scratch.versions[at..at + self.nv[t]], range, set);
        }
        if absent {
            set[self.nv[t] / 64] |= 1 << (self.nv[t] % 64);
        }
        match scratch.facts[first..].iter().find(|f| f.0 == t) {
            Some(&(_, _, at)) => {
                for (a, b) in scratch.words[at..at + w].iter_mut().zip(set.iter()) {
                    *a &= b;
                }
            }
            None => {
                scratch.facts.push((t, v, scratch.words.len()));
                scratch.words.extend_from_slice(set);
            }
        }
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

    /// Every fact as `(component, version index, component it is about, allowed)`, edge by edge:
    /// `allowed[b]` says whether the fact allows domain bit `b` of the other component (its
    /// versions, then absence).
    pub fn allowed(&self) -> Vec<(usize, usize, usize, Vec<bool>)> {
        self.facts
            .iter()
            .map(|f| {
                let (to, set) = (f.to as usize, f.set as usize);
                let bits = (0..=self.nv[to])
                    .map(|b| bits::has(&self.sets[set..], b))
                    .collect();
                (f.from as usize, f.v as usize, to, bits)
            })
            .collect()
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

/// Sets in `out` (a set over a component's domain bits) its versions (`versions`, oldest first)
/// in `range`: a run of bits found by binary search ([`VersionReq::span`]), else version by
/// version.
fn versions_in(versions: &[Version], range: &VersionReq, out: &mut [u64]) {
    match range.span(versions.len(), |v| &versions[v]) {
        Some(run) => {
            for v in run {
                out[v / 64] |= 1 << (v % 64);
            }
        }
        None => {
            for (v, version) in versions.iter().enumerate() {
                if range.matches(version) {
                    out[v / 64] |= 1 << (v % 64);
                }
            }
        }
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
