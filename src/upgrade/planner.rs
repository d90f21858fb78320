//! The planning loop: Kubernetes one allowed step at a time, the prepare steps before each, the
//! finish at the end; each step's platform is the first the search finds over domains that put
//! "stay" first wherever staying is allowed.

use super::facts::{dedup, kube_rule_facts};
use super::model::{Model, State};
use super::{PlanStep, StepKind, Stuck, search};
use crate::solver::FactLine;
use crate::types::Version;

/// At most this many prepare steps before one Kubernetes step, and finish steps at the end.
const MAX_STEPS: usize = 32;

pub(super) struct Planner<'m, 'c> {
    pub m: &'m Model<'c>,
    pub target: State,
    pub steps: Vec<PlanStep>,
}

/// Order for candidate versions: those that satisfy `pref` first, newest first within each group.
fn ordered(mut vs: Vec<Version>, pref: impl Fn(&Version) -> bool) -> Vec<Version> {
    vs.sort_by(|a, b| pref(b).cmp(&pref(a)).then(b.cmp(a)));
    vs
}

impl Planner<'_, '_> {
    pub fn run(&mut self, start: State, step: u64) -> Option<Stuck> {
        let kube = self.m.kube;
        let kt = self.target[kube].clone().expect("checked");
        let mut cur = start;
        loop {
            let k = cur[kube].clone().expect("Kubernetes stays");
            if k.major() == kt.major() && k.minor() == kt.minor() {
                if k != kt {
                    match self.advance(&cur, &kt) {
                        Ok((steps, next)) => {
                            self.steps.extend(steps);
                            cur = next;
                        }
                        Err(stuck) => return Some(*stuck),
                    }
                }
                break;
            }
            let minor = if k.major() == kt.major() {
                k.minor().saturating_add(step).min(kt.minor())
            } else {
                kt.minor()
            };
            let major = if k.major() == kt.major() {
                k.major()
            } else {
                kt.major()
            };
            let mut candidates: Vec<Version> = self
                .m
                .lines(kube)
                .into_iter()
                .filter(|v| v.major() == major && v.minor() == minor && *v != kt)
                .filter(|v| self.m.hop_allowed(kube, &k, v))
                .rev()
                .collect();
            if minor == kt.minor() && major == kt.major() {
                candidates.insert(0, kt.clone());
            }
            if candidates.is_empty() {
                return Some(Stuck {
                    kubernetes: k.clone(),
                    next: None,
                    message: format!(
                        "the catalog has no Kubernetes {major}.{minor} version that its upgrade rules allow after {k}"
                    ),
                    facts: kube_rule_facts(self.m),
                });
            }
            let mut last = None;
            let mut moved = false;
            for kn in &candidates {
                match self.advance(&cur, kn) {
                    Ok((steps, next)) => {
                        self.steps.extend(steps);
                        cur = next;
                        moved = true;
                        break;
                    }
                    Err(stuck) => {
                        last.get_or_insert(stuck);
                    }
                }
            }
            if !moved {
                return last.map(|b| *b);
            }
        }
        self.finish(cur)
    }

    /// Prepare steps and the Kubernetes step from `cur` to Kubernetes `kn`.
    fn advance(&self, cur: &State, kn: &Version) -> Result<(Vec<PlanStep>, State), Box<Stuck>> {
        let m = self.m;
        let kube = m.kube;
        let k = cur[kube].clone().expect("Kubernetes stays");
        let pinned = self.pinned(kn);
        let mut out = Vec::new();
        let mut st = cur.clone();
        for _ in 0..MAX_STEPS {
            let blocked: Vec<usize> = (0..st.len())
                .filter(|&i| {
                    i != kube
                        && !pinned.contains(&i)
                        && st[i].as_ref().is_some_and(|v| !m.fits_kube(i, v, kn))
                })
                .collect();
            if blocked.is_empty() {
                break;
            }
            let domains = self.prepare_domains(&st, &k, kn, &blocked);
            let Some(next) = search::first(m, &domains) else {
                break;
            };
            if next == st {
                break;
            }
            out.push(self.step(StepKind::Prepare { next: kn.clone() }, &st, &next, Some(kn)));
            st = next;
        }
        let domains = self.kube_domains(&st, kn, &pinned);
        let Some(next) = search::first(m, &domains) else {
            let mut naive = st.clone();
            naive[kube] = Some(kn.clone());
            for &i in &pinned {
                naive[i] = self.pin_versions(kn, i).into_iter().next();
            }
            let facts: Vec<FactLine> =
                dedup(m.broken(&naive).into_iter().map(|b| b.line).collect());
            return Err(Box::new(Stuck {
                kubernetes: k.clone(),
                next: Some(kn.clone()),
                message: format!(
                    "no platform at Kubernetes {kn} keeps the other components within their facts and upgrade rules"
                ),
                facts,
            }));
        };
        out.push(self.step(
            StepKind::Kubernetes { from: k.clone() },
            &st,
            &next,
            Some(kn),
        ));
        Ok((out, next))
    }

    /// Components that Kubernetes `kn` requires (kubeadm's pins).
    pub(super) fn pinned(&self, kn: &Version) -> Vec<usize> {
        let Some(r) = self.m.release(self.m.kube, kn) else {
            return Vec::new();
        };
        r.requires
            .iter()
            .filter_map(|c| self.m.catalog.component_index(&c.name))
            .collect()
    }

    /// The versions of component `i` that Kubernetes `kn` requires, newest first.
    fn pin_versions(&self, kn: &Version, i: usize) -> Vec<Version> {
        let Some(r) = self.m.release(self.m.kube, kn) else {
            return Vec::new();
        };
        let name = self.m.name(i);
        let mut vs: Vec<Version> = self
            .m
            .lines(i)
            .into_iter()
            .filter(|v| {
                r.requires
                    .iter()
                    .filter(|c| c.name == name)
                    .all(|c| c.range.matches(v))
            })
            .collect();
        vs.reverse();
        vs
    }

    /// How far component `i` may go before the finish: its target version, or — without one —
    /// its newest; never below `from`.
    pub(super) fn bound(&self, i: usize, from: &Version) -> Version {
        match &self.target[i] {
            Some(t) if t >= from => t.clone(),
            Some(_) => from.clone(),
            None => self
                .m
                .comp(i)
                .newest()
                .map(|r| r.version.clone())
                .filter(|n| n > from)
                .unwrap_or_else(|| from.clone()),
        }
    }

    /// One-hop successors of `i` from `a` (within its rules and bound) that fit every Kubernetes
    /// version in `ks`.
    fn succ(&self, i: usize, a: &Version, ks: &[&Version]) -> Vec<Version> {
        self.m
            .between(i, a, &self.bound(i, a))
            .into_iter()
            .filter(|w| self.m.hop_allowed(i, a, w))
            .filter(|w| ks.iter().all(|k| self.m.fits_kube(i, w, k)))
            .collect()
    }

    /// Whether, from `w`, hops that all fit `k` reach a version that also fits `kn`.
    fn reaches(&self, i: usize, w: &Version, k: &Version, kn: &Version) -> bool {
        let mut seen = vec![w.clone()];
        let mut queue = vec![w.clone()];
        while let Some(x) = queue.pop() {
            if self.m.fits_kube(i, &x, kn) {
                return true;
            }
            for y in self.succ(i, &x, &[k]) {
                if !seen.contains(&y) {
                    seen.push(y.clone());
                    queue.push(y);
                }
            }
        }
        false
    }

    /// Versions of a component that is not installed yet but is in the target, up to its target
    /// version, that fit `k`; those that also fit `kn` first.
    fn additions(&self, i: usize, t: &Version, k: &Version, kn: &Version) -> Vec<Option<Version>> {
        let vs: Vec<Version> = self
            .m
            .lines(i)
            .into_iter()
            .filter(|v| v < t)
            .chain(std::iter::once(t.clone()))
            .filter(|v| self.m.fits_kube(i, v, k))
            .collect();
        ordered(vs, |v| self.m.fits_kube(i, v, kn))
            .into_iter()
            .map(Some)
            .collect()
    }

    fn prepare_domains(
        &self,
        st: &State,
        k: &Version,
        kn: &Version,
        blocked: &[usize],
    ) -> Vec<Vec<Option<Version>>> {
        let m = self.m;
        (0..st.len())
            .map(|i| {
                if i == m.kube {
                    return vec![Some(k.clone())];
                }
                let leaving = self.target[i].is_none();
                let Some(a) = &st[i] else {
                    let mut d = vec![None];
                    if let Some(t) = &self.target[i] {
                        d.extend(self.additions(i, t, k, kn));
                    }
                    return d;
                };
                let one = self.succ(i, a, &[k]);
                if blocked.contains(&i) {
                    let mut d: Vec<Option<Version>> = Vec::new();
                    if leaving {
                        d.push(None);
                    }
                    let good: Vec<Version> = one
                        .iter()
                        .filter(|w| m.fits_kube(i, w, kn))
                        .cloned()
                        .collect();
                    let via: Vec<Version> = one
                        .iter()
                        .filter(|w| !m.fits_kube(i, w, kn) && self.reaches(i, w, k, kn))
                        .cloned()
                        .collect();
                    d.extend(ordered(good, |_| true).into_iter().map(Some));
                    d.extend(ordered(via, |_| true).into_iter().map(Some));
                    d.push(Some(a.clone()));
                    d
                } else {
                    let mut d = vec![Some(a.clone())];
                    if leaving {
                        d.push(None);
                    }
                    d.extend(
                        ordered(one, |w| m.fits_kube(i, w, kn))
                            .into_iter()
                            .map(Some),
                    );
                    d
                }
            })
            .collect()
    }

    fn kube_domains(
        &self,
        st: &State,
        kn: &Version,
        pinned: &[usize],
    ) -> Vec<Vec<Option<Version>>> {
        let m = self.m;
        (0..st.len())
            .map(|i| {
                if i == m.kube {
                    return vec![Some(kn.clone())];
                }
                if pinned.contains(&i) {
                    let pins = self.pin_versions(kn, i);
                    let mut d: Vec<Option<Version>> = Vec::new();
                    if let Some(a) = &st[i]
                        && pins.contains(a)
                    {
                        d.push(Some(a.clone()));
                    }
                    d.extend(pins.into_iter().map(Some));
                    return d;
                }
                let leaving = self.target[i].is_none();
                let Some(a) = &st[i] else {
                    let mut d = vec![None];
                    if let Some(t) = &self.target[i] {
                        d.extend(self.additions(i, t, kn, kn));
                    }
                    return d;
                };
                let one = self.succ(i, a, &[kn]);
                let mut d: Vec<Option<Version>> = Vec::new();
                if m.fits_kube(i, a, kn) {
                    d.push(Some(a.clone()));
                    if leaving {
                        d.push(None);
                    }
                    d.extend(ordered(one, |_| true).into_iter().map(Some));
                } else {
                    if leaving {
                        d.push(None);
                    }
                    d.extend(ordered(one.clone(), |_| true).into_iter().map(Some));
                    let jump: Vec<Version> = m
                        .between(i, a, &self.bound(i, a))
                        .into_iter()
                        .filter(|w| m.fits_kube(i, w, kn) && !one.contains(w))
                        .collect();
                    d.extend(ordered(jump, |_| true).into_iter().map(Some));
                    d.push(Some(a.clone()));
                }
                d
            })
            .collect()
    }

    fn finish_domains(&self, st: &State) -> Vec<Vec<Option<Version>>> {
        let m = self.m;
        let kt = self.target[m.kube].clone().expect("checked");
        (0..st.len())
            .map(|i| match (&st[i], &self.target[i]) {
                (a, t) if a == t => vec![a.clone()],
                (Some(a), None) => vec![None, Some(a.clone())],
                (None, Some(t)) => vec![Some(t.clone()), None],
                (Some(a), Some(t)) if t < a || m.hop_allowed(i, a, t) => {
                    vec![Some(t.clone()), Some(a.clone())]
                }
                (Some(a), Some(t)) => {
                    let toward: Vec<Version> = self
                        .succ(i, a, &[&kt])
                        .into_iter()
                        .filter(|w| self.reaches_target(i, w, t, &kt))
                        .collect();
                    let mut d: Vec<Option<Version>> =
                        ordered(toward, |_| true).into_iter().map(Some).collect();
                    d.push(Some(a.clone()));
                    d
                }
                (None, None) => vec![None],
            })
            .collect()
    }

    /// Whether hops that all fit `kt` lead from `w` to `t`.
    fn reaches_target(&self, i: usize, w: &Version, t: &Version, kt: &Version) -> bool {
        let mut seen = vec![w.clone()];
        let mut queue = vec![w.clone()];
        while let Some(x) = queue.pop() {
            if &x == t {
                return true;
            }
            for y in self.succ(i, &x, &[kt]) {
                if !seen.contains(&y) {
                    seen.push(y.clone());
                    queue.push(y);
                }
            }
        }
        false
    }

    fn finish(&mut self, mut cur: State) -> Option<Stuck> {
        for _ in 0..MAX_STEPS {
            if cur == self.target {
                return None;
            }
            let domains = self.finish_domains(&cur);
            let next = match search::first(self.m, &domains) {
                Some(next) if next != cur => next,
                _ => {
                    // no step within the rules makes progress: jump to the target (a solution)
                    let broken = self.m.broken(&self.target);
                    if !broken.is_empty() {
                        return Some(Stuck {
                            kubernetes: cur[self.m.kube].clone().expect("Kubernetes stays"),
                            next: None,
                            message: "the target platform itself breaks catalog facts".to_string(),
                            facts: dedup(broken.into_iter().map(|b| b.line).collect()),
                        });
                    }
                    self.target.clone()
                }
            };
            let step = self.step(StepKind::Finish, &cur, &next, None);
            self.steps.push(step);
            cur = next;
        }
        (cur != self.target).then(|| Stuck {
            kubernetes: cur[self.m.kube].clone().expect("Kubernetes stays"),
            next: None,
            message: "the finish takes more steps than the planner allows".to_string(),
            facts: Vec::new(),
        })
    }
}
