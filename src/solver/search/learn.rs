//! Learning from dead ends: conflict analysis over domain bits, learned clauses watched on two
//! components, and jumping back (see the parent module's docs).

use super::super::compile::bits;
use super::super::propagate::{Why, propagate_watched};
use super::{Clause, Conflict, Outcome, State, Watch};

impl State<'_, '_> {
    /// Learns from conflicts and jumps back until propagation holds again; `Some` when the search
    /// ends (nothing fits, or the budget is spent).
    pub(super) fn settle(&mut self, mut conflict: Conflict, d: &mut [u64]) -> Option<Outcome> {
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
                    self.unit(i, x, d);
                    match self.propagate_all(d) {
                        None => return None,
                        Some(c) => conflict = c,
                    }
                }
            }
        }
    }

    /// The bits of a conflict, all of them gone.
    pub(super) fn conflict_bits(&self, conflict: Conflict) -> Vec<(usize, usize)> {
        match conflict {
            Conflict::Wiped(c) => (0..=self.cc.nv[c]).map(|b| (c, b)).collect(),
            Conflict::Clause(i) => self.clause_bits(i, None).collect(),
            Conflict::Bits(b) => b,
        }
    }

    /// The bits of clause `i`, but those of component `skip`.
    pub(super) fn clause_bits(
        &self,
        i: usize,
        skip: Option<usize>,
    ) -> impl Iterator<Item = (usize, usize)> {
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

    /// Conflict analysis (first unique implication point): the conflict's bits removed at the
    /// latest level they were removed at are replaced by their reasons, latest removal first,
    /// until one removal of that level is left (every bit one decision removed counts as one);
    /// bits of earlier levels stay as they are and bits removed before any decision are dropped.
    /// What is left is a clause implied by the facts (one of those bits must be possible), kept
    /// in `acc`. Returns the component of the one removal left and the level to jump back to:
    /// the latest at which another bit of the clause was removed. `None`: the conflict holds
    /// before any decision.
    pub(super) fn analyze(&mut self, bits: Vec<(usize, usize)>) -> Option<(usize, usize)> {
        let r = self.queue.reasons.as_ref().expect("reasons");
        let at = |(c, b): (usize, usize)| r.level[r.base[c] + b];
        let top = bits.iter().map(|x| at(*x)).max().unwrap_or(0);
        if top == 0 {
            return None;
        }
        self.epoch += 1;
        self.todo = bits;
        let mut latest = std::mem::take(&mut self.latest);
        latest.clear();
        let mut h = 0;
        let x = loop {
            // earlier levels go into the clause, the latest level waits to be explained
            while let Some((c, b)) = self.todo.pop() {
                let r = self.queue.reasons.as_ref().expect("reasons");
                let i = r.base[c] + b;
                if self.seen[i] == self.epoch {
                    continue;
                }
                self.seen[i] = self.epoch;
                let lv = r.level[i];
                if lv == 0 {
                    continue;
                }
                if lv < top {
                    h = h.max(lv as usize);
                    self.keep_bit(c, b);
                } else {
                    latest.push((r.stamp[i], c as u32, b as u32));
                }
            }
            let (s, c, b) = latest.pop().expect("the conflict has a bit of its level");
            let mut event = vec![(c as usize, b as usize)];
            while latest.peek().is_some_and(|e| e.0 == s) {
                let (_, c, b) = latest.pop().expect("peeked");
                event.push((c as usize, b as usize));
            }
            if latest.is_empty() {
                for &(c, b) in &event {
                    self.keep_bit(c, b);
                }
                break event[0].0;
            }
            for (c, b) in event {
                let r = self.queue.reasons.as_ref().expect("reasons");
                let why = r.why[r.base[c] + b];
                self.explain(c, b, why);
            }
        };
        self.latest = latest;
        Some((x, h))
    }

    /// Puts bit `b` of component `c` into the clause being built.
    fn keep_bit(&mut self, c: usize, b: usize) {
        let w = self.cc.off[c] + b / 64;
        if !self.acc_comps.contains(&c) {
            self.acc_comps.push(c);
        }
        self.acc[w] |= 1 << (b % 64);
    }

    /// Schedules the bits whose removal made propagation remove bit `b` of component `c`.
    pub(super) fn explain(&mut self, c: usize, b: usize, why: Why) {
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

    /// Jumps back to level `h` (below the current one): the decisions after it undone, its
    /// domains restored.
    pub(super) fn jump(&mut self, h: usize, d: &mut [u64]) {
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
    pub(super) fn add_clause(&mut self, x: usize, h: usize) -> usize {
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
            if c as usize == x || other.is_some() {
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
        let first = x;
        let second = other.unwrap_or(x);
        let i = self.clauses.len();
        self.clauses.push(Clause {
            lits,
            watch: [first as u32, second as u32],
        });
        self.watch_on(i, first);
        if second != first {
            self.watch_on(i, second);
        }
        self.stats.learned += 1;
        i
    }

    /// Adds clause `i` to the watches of component `c`, with its first run of bits of `c`.
    fn watch_on(&mut self, i: usize, c: usize) {
        let lits = &self.clauses[i].lits;
        let from = lits.partition_point(|l| (l.0 as usize) < c);
        let (_, word, mask) = lits[from];
        self.watches[c].push(Watch {
            clause: i as u32,
            word,
            mask,
        });
    }

    /// Whether the clause of watch `w` on component `c` still has a bit of `c` possible: the run
    /// the watch keeps decides, unless `c` has more than one word of bits.
    fn watch_holds(&self, w: &Watch, c: usize, d: &[u64]) -> bool {
        d[self.cc.off[c] + w.word as usize] & w.mask != 0
            || (self.cc.nv[c] >= 64 && self.holds(w.clause as usize, c, d))
    }

    /// Whether clause `i` still has a bit of component `c` possible in `d`.
    pub(super) fn holds(&self, i: usize, c: usize, d: &[u64]) -> bool {
        let o = self.cc.off[c];
        let lits = &self.clauses[i].lits;
        let from = lits.partition_point(|l| (l.0 as usize) < c);
        lits[from..]
            .iter()
            .take_while(|l| l.0 as usize == c)
            .any(|&(_, w, m)| d[o + w as usize] & m != 0)
    }

    /// Clause `i` has no bit left but those of component `x`: `x` keeps only those.
    pub(super) fn unit(&mut self, i: usize, x: usize, d: &mut [u64]) {
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
    pub(super) fn propagate_all(&mut self, d: &mut [u64]) -> Option<Conflict> {
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
    pub(super) fn watch(&mut self, c: usize, d: &mut [u64]) -> Option<usize> {
        let mut k = 0;
        while k < self.watches[c].len() {
            let w = self.watches[c][k];
            if self.watch_holds(&w, c, d) {
                k += 1;
                continue;
            }
            let i = w.clause as usize;
            let [a, b] = self.clauses[i].watch;
            let other = if a as usize == c { b } else { a } as usize;
            let cc = self.cc;
            let replacement = self.clauses[i]
                .lits
                .iter()
                .find(|&&(x, w, m)| {
                    let x = x as usize;
                    x != c && x != other && d[cc.off[x] + w as usize] & m != 0
                })
                .map(|l| l.0 as usize);
            if let Some(x) = replacement {
                let cl = &mut self.clauses[i];
                if cl.watch[0] as usize == c {
                    cl.watch[0] = x as u32;
                } else {
                    cl.watch[1] = x as u32;
                }
                self.watches[c].swap_remove(k);
                self.watch_on(i, x);
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
}
