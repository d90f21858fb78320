//! From an old platform to a new one, one valid step at a time (`bundle plan`).
//!
//! Pure: an old platform, a target platform and the catalog in; ordered steps out, each step's
//! platform a solution in which every catalog fact holds. How Kubernetes may move comes from the
//! catalog's facts, not from code: its `upgrade.rules` (kube-apiserver does not skip minors) and
//! its `versionSkew` policy, under which the parts move phase by phase (control plane before
//! nodes) and the largest step the policy allows is computed. Every other component follows its
//! own published upgrade rules (one minor at a time, upgrade from x.y only, latest patch first).
//!
//! **Steps.** Kubernetes moves one allowed step at a time towards the target's minor (the newest
//! patch of each minor in between, the target's version at the end). Before each such step,
//! components whose version does not support the next Kubernetes move — in *prepare* steps, to a
//! version that supports both the current and the next Kubernetes (the newest such up to their
//! target version), together with whatever their new versions need; upgrade rules can make that
//! several steps. The *Kubernetes* step moves the control plane, the versions the new Kubernetes
//! pins (kubeadm's etcd, CoreDNS and pause), and nothing else where it can. At the end, *finish*
//! steps move every component on to its target version, within its upgrade rules. Components move
//! only when they must or to reach the target (minimal change: the search keeps a component where
//! it is whenever that fits).
//!
//! **No path.** Where no version of a component supports both the current and the next
//! Kubernetes (or its rules allow no way there), it moves in the Kubernetes step itself: the
//! least disruptive way through, marked [`Reason::Together`] with the facts that block. A finish
//! that only a jump against a component's upgrade rules reaches is marked
//! [`Reason::AgainstRule`]. Where not even that gives a platform, the plan stops
//! ([`Plan::stuck`]) with the facts that do not hold.

mod model;
mod search;

use std::collections::BTreeMap;

use crate::catalog::{Catalog, KUBERNETES, Phase, UpgradeRuleKind};
use crate::solver::{Chosen, FactLine};
use crate::types::Version;

use model::{Broken, Model, State};

/// At most this many prepare steps before one Kubernetes step, and finish steps at the end.
const MAX_STEPS: usize = 32;
/// At most this many versions are listed when explaining why none fits.
const MAX_LISTED: usize = 6;

/// A plan: the steps from the old platform to the target, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The old platform.
    pub from: Vec<Chosen>,
    /// The target platform.
    pub to: Vec<Chosen>,
    /// The steps, in order; the last one's platform is the target unless the plan is stuck.
    pub steps: Vec<PlanStep>,
    /// Why the plan stops before the target, when it does.
    pub stuck: Option<Stuck>,
}

impl Plan {
    /// Whether every step keeps every published fact and rule: the plan reaches the target and
    /// nothing moves together with the control plane or against its upgrade rules.
    pub fn complete(&self) -> bool {
        self.stuck.is_none()
            && self
                .steps
                .iter()
                .all(|s| s.changes.iter().all(|c| !c.reason.disruptive()))
    }
}

/// One step: the platform after it is a solution of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// What kind of step it is.
    pub kind: StepKind,
    /// The Kubernetes version after the step.
    pub kubernetes: Version,
    /// What moves, in component name order.
    pub changes: Vec<Change>,
    /// For a Kubernetes step: its phases in the skew policy's order, each with the skew it leaves.
    pub phases: Vec<Phase>,
    /// The whole platform after the step, in name order.
    pub platform: Vec<Chosen>,
}

/// The kinds of step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Components move so that the next Kubernetes step can happen.
    Prepare {
        /// The Kubernetes version that comes next.
        next: Version,
    },
    /// Kubernetes moves (control plane, then nodes).
    Kubernetes {
        /// The version before the step.
        from: Version,
    },
    /// Components move on to their target versions.
    Finish,
}

/// One component's move in a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The component.
    pub name: String,
    /// Its version before the step (`None`: it is added).
    pub from: Option<Version>,
    /// Its version after the step (`None`: it is removed).
    pub to: Option<Version>,
    /// Why it moves.
    pub reason: Reason,
    /// The catalog facts behind the reason, each with its source.
    pub facts: Vec<FactLine>,
}

/// Why a component moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Kubernetes itself: control plane, then nodes.
    ControlPlane,
    /// The new Kubernetes version requires it at this version (kubeadm's pins).
    PinnedBy,
    /// Its version does not support the next Kubernetes; the new one supports both.
    Unsupported,
    /// Its version does not support the next Kubernetes, and its upgrade rules make it stop here
    /// on the way to one that does.
    OnTheWay,
    /// Another component's move needs it (the facts say which).
    Along,
    /// Moves in the Kubernetes step itself although its old version does not support the new
    /// Kubernetes (or the new version the old one): no version supports both, or none is
    /// reachable within its upgrade rules. The least disruptive way through; not compatible
    /// during the step.
    Together,
    /// To reach the target version.
    Target,
    /// To reach the target version in a jump that breaks the component's upgrade rules (no
    /// version on the way supports the target Kubernetes).
    AgainstRule,
    /// Not in the target platform.
    Removed,
    /// In the target platform, added here.
    Added,
}

impl Reason {
    /// Whether the move breaks a published fact or rule while it happens.
    pub fn disruptive(&self) -> bool {
        matches!(self, Reason::Together | Reason::AgainstRule)
    }

    /// One word for tables and JSON.
    pub fn word(&self) -> &'static str {
        match self {
            Reason::ControlPlane => "control-plane",
            Reason::PinnedBy => "pinned",
            Reason::Unsupported => "unsupported",
            Reason::OnTheWay => "on-the-way",
            Reason::Along => "along",
            Reason::Together => "together",
            Reason::Target => "target",
            Reason::AgainstRule => "against-rule",
            Reason::Removed => "removed",
            Reason::Added => "added",
        }
    }
}

/// Why the plan stops before the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The Kubernetes version the plan reached.
    pub kubernetes: Version,
    /// The Kubernetes version it could not move to (`None`: the finish failed).
    pub next: Option<Version>,
    /// What went wrong, for people.
    pub message: String,
    /// The facts that do not hold.
    pub facts: Vec<FactLine>,
}

/// The plan cannot even start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A platform names a component the catalog does not have.
    #[error("the {which} platform has `{name}`, which is not a component in the catalog")]
    UnknownComponent {
        /// `old` or `target`.
        which: &'static str,
        /// The name.
        name: String,
    },
    /// A version whose minor line the catalog does not have: its facts are unknown.
    #[error(
        "the {which} platform has {name} {version}, and the catalog has no {name} {line} line to take its facts from"
    )]
    UnknownLine {
        /// `old` or `target`.
        which: &'static str,
        /// The component.
        name: String,
        /// Its version.
        version: Version,
        /// `MAJOR.MINOR`.
        line: String,
    },
    /// A platform without Kubernetes, or a catalog without it.
    #[error("the {0} platform has no Kubernetes version")]
    NoKubernetes(&'static str),
    /// The target's Kubernetes is older than the old platform's.
    #[error(
        "the target's Kubernetes {to} is older than the old platform's {from}: a plan only moves forward"
    )]
    Backwards {
        /// The old platform's version.
        from: Version,
        /// The target's version.
        to: Version,
    },
    /// The catalog's Kubernetes facts allow no upgrade at all.
    #[error("the catalog's Kubernetes upgrade facts allow not even one minor per step")]
    NoKubernetesStep {
        /// The facts.
        facts: Vec<FactLine>,
    },
}

/// Plans the way from `from` to `to` (name → version, Kubernetes included). Every step's
/// platform contains each name of `keep` (components or capabilities, typically what both
/// requests ask for).
pub fn plan(
    catalog: &Catalog,
    from: &BTreeMap<String, Version>,
    to: &BTreeMap<String, Version>,
    keep: &[String],
) -> Result<Plan, PlanError> {
    let kube = catalog
        .component_index(KUBERNETES)
        .ok_or(PlanError::NoKubernetes("catalog's"))?;
    let model = Model::new(catalog, kube, keep.to_vec());
    let start = state_of(&model, from, "old")?;
    let target = state_of(&model, to, "target")?;
    let (Some(k0), Some(kt)) = (start[kube].clone(), target[kube].clone()) else {
        return Err(PlanError::NoKubernetes(if start[kube].is_none() {
            "old"
        } else {
            "target"
        }));
    };
    if kt < k0 {
        return Err(PlanError::Backwards { from: k0, to: kt });
    }
    let step = kube_step(&model)?;
    let mut p = Planner {
        m: &model,
        target,
        steps: Vec::new(),
    };
    let stuck = p.run(start, step);
    Ok(Plan {
        from: chosen(&model, &state_of(&model, from, "old")?),
        to: chosen(&model, &p.target),
        steps: p.steps,
        stuck,
    })
}

/// The state of a platform given by name → version, checked against the catalog.
fn state_of(
    m: &Model<'_>,
    p: &BTreeMap<String, Version>,
    which: &'static str,
) -> Result<State, PlanError> {
    let mut st: State = vec![None; m.catalog.components.len()];
    for (name, v) in p {
        let i = m
            .catalog
            .component_index(name)
            .ok_or_else(|| PlanError::UnknownComponent {
                which,
                name: name.clone(),
            })?;
        if m.release(i, v).is_none() {
            return Err(PlanError::UnknownLine {
                which,
                name: name.clone(),
                version: v.clone(),
                line: v.minor_string(),
            });
        }
        st[i] = Some(v.clone());
    }
    Ok(st)
}

fn chosen(m: &Model<'_>, st: &[Option<Version>]) -> Vec<Chosen> {
    st.iter()
        .enumerate()
        .filter_map(|(i, v)| {
            v.as_ref().map(|v| Chosen {
                name: m.name(i).to_string(),
                version: v.clone(),
            })
        })
        .collect()
}

/// The most Kubernetes minors one step may move: the smallest `minorSteps` rule and what the
/// skew policy allows; unlimited without either.
fn kube_step(m: &Model<'_>) -> Result<u64, PlanError> {
    let up = &m.comp(m.kube).upgrade;
    let mut step = u64::MAX;
    for r in &up.rules {
        if let UpgradeRuleKind::MinorSteps(k) = r.kind {
            step = step.min(k);
        }
    }
    if let Some(s) = &up.skew {
        step = step.min(s.max_minor_step());
    }
    if step == 0 {
        return Err(PlanError::NoKubernetesStep {
            facts: kube_rule_facts(m),
        });
    }
    Ok(step)
}

/// The Kubernetes upgrade facts as fact lines.
fn kube_rule_facts(m: &Model<'_>) -> Vec<FactLine> {
    let up = &m.comp(m.kube).upgrade;
    let mut out: Vec<FactLine> = up
        .rules
        .iter()
        .map(|r| FactLine {
            subject: KUBERNETES.to_string(),
            text: r.to_string(),
            source: Some(r.source.clone()),
        })
        .collect();
    if let Some(s) = &up.skew {
        let parts: Vec<String> = s
            .parts
            .iter()
            .filter(|p| p.name != s.reference)
            .map(|p| format!("{} at most {} behind", p.name, p.behind))
            .collect();
        out.push(FactLine {
            subject: KUBERNETES.to_string(),
            text: format!(
                "version skew against {}: {}, none newer",
                s.reference,
                parts.join(", ")
            ),
            source: Some(s.source.clone()),
        });
    }
    out
}

struct Planner<'m, 'c> {
    m: &'m Model<'c>,
    target: State,
    steps: Vec<PlanStep>,
}

/// Order for candidate versions: those that satisfy `pref` first, newest first within each group.
fn ordered(mut vs: Vec<Version>, pref: impl Fn(&Version) -> bool) -> Vec<Version> {
    vs.sort_by(|a, b| pref(b).cmp(&pref(a)).then(b.cmp(a)));
    vs
}

impl Planner<'_, '_> {
    fn run(&mut self, start: State, step: u64) -> Option<Stuck> {
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
    fn pinned(&self, kn: &Version) -> Vec<usize> {
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
    fn bound(&self, i: usize, from: &Version) -> Version {
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
                    if let Some(a) = &st[i] {
                        if pins.contains(a) {
                            d.push(Some(a.clone()));
                        }
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

    /// The step from `a` to `b`, with a reason and its facts for every change.
    fn step(&self, kind: StepKind, a: &State, b: &State, kn: Option<&Version>) -> PlanStep {
        let m = self.m;
        let kube = m.kube;
        let k = a[kube].clone().expect("Kubernetes stays");
        let mut changes = Vec::new();
        for i in 0..a.len() {
            if a[i] == b[i] {
                continue;
            }
            let (reason, facts) = self.why(&kind, i, a, b, &k, kn);
            changes.push(Change {
                name: m.name(i).to_string(),
                from: a[i].clone(),
                to: b[i].clone(),
                reason,
                facts,
            });
        }
        changes.sort_by_key(|c: &Change| match c.reason {
            Reason::ControlPlane => 0,
            Reason::PinnedBy => 1,
            _ => 2,
        });
        let phases = match (&kind, &m.comp(kube).upgrade.skew, &b[kube]) {
            (StepKind::Kubernetes { from }, Some(s), Some(to)) if from.major() == to.major() => {
                s.phases(from.minor(), to.minor())
            }
            _ => Vec::new(),
        };
        PlanStep {
            kubernetes: b[kube].clone().expect("Kubernetes stays"),
            kind,
            changes,
            phases,
            platform: chosen(m, b),
        }
    }

    fn why(
        &self,
        kind: &StepKind,
        i: usize,
        a: &State,
        b: &State,
        k: &Version,
        kn: Option<&Version>,
    ) -> (Reason, Vec<FactLine>) {
        let m = self.m;
        let kube = m.kube;
        let (old, new) = (&a[i], &b[i]);
        // the facts that would break if `i` had not moved
        let involving = || {
            let mut undo = b.clone();
            undo[i] = old.clone();
            let facts: Vec<FactLine> = m
                .broken(&undo)
                .into_iter()
                .filter(|x: &Broken| {
                    x.owner == Some(i)
                        || x.other == Some(i)
                        || x.owner.is_none() && x.other.is_none()
                })
                .map(|x| x.line)
                .collect();
            dedup(facts)
        };
        if i == kube {
            let mut facts = kube_rule_facts(m);
            facts.retain(|f| !f.text.is_empty());
            return (Reason::ControlPlane, facts);
        }
        match kind {
            StepKind::Finish => match (old, new) {
                (Some(_), None) => (Reason::Removed, Vec::new()),
                (None, Some(_)) => (Reason::Added, Vec::new()),
                (Some(x), Some(y)) => {
                    let rules: Vec<FactLine> = m
                        .comp(i)
                        .upgrade
                        .broken_by(x, y, &m.lines(i))
                        .into_iter()
                        .map(|r| FactLine {
                            subject: m.name(i).to_string(),
                            text: r.to_string(),
                            source: Some(r.source.clone()),
                        })
                        .collect();
                    if rules.is_empty() {
                        (Reason::Target, Vec::new())
                    } else {
                        (Reason::AgainstRule, rules)
                    }
                }
                (None, None) => (Reason::Target, Vec::new()),
            },
            StepKind::Kubernetes { .. } => {
                let kn = kn.expect("a Kubernetes step has its version");
                if self.pinned(kn).contains(&i) {
                    let name = m.name(i);
                    let facts = m
                        .release(kube, kn)
                        .map(|r| {
                            r.requires
                                .iter()
                                .filter(|c| c.name == name)
                                .map(|c| FactLine {
                                    subject: format!("kubernetes {kn}"),
                                    text: format!("requires {name} {}", c.range),
                                    source: c.source.clone(),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    return (Reason::PinnedBy, facts);
                }
                if new.is_none() && self.target[i].is_none() {
                    return (Reason::Removed, involving());
                }
                if old.is_none() {
                    return (Reason::Added, involving());
                }
                (
                    Reason::Together,
                    self.no_version_fits_both(i, old.as_ref(), new.as_ref(), k, kn),
                )
            }
            StepKind::Prepare { next } => match (old, new) {
                (Some(x), None) => {
                    let mut f = m
                        .pair(i, x, kube, Some(next))
                        .into_iter()
                        .map(|b| b.line)
                        .collect::<Vec<_>>();
                    f.extend(involving());
                    (Reason::Removed, dedup(f))
                }
                (None, Some(_)) => (Reason::Added, involving()),
                (Some(x), Some(y)) if !m.fits_kube(i, x, next) => {
                    let mut f: Vec<FactLine> = m
                        .pair(i, x, kube, Some(next))
                        .into_iter()
                        .map(|b| b.line)
                        .collect();
                    if m.fits_kube(i, y, next) {
                        f.extend(m.kube_fact(i, y));
                        (Reason::Unsupported, dedup(f))
                    } else {
                        f.extend(m.comp(i).upgrade.rules.iter().map(|r| FactLine {
                            subject: m.name(i).to_string(),
                            text: r.to_string(),
                            source: Some(r.source.clone()),
                        }));
                        (Reason::OnTheWay, dedup(f))
                    }
                }
                _ => (Reason::Along, involving()),
            },
        }
    }

    /// Why component `i` (at `old`) could not move before Kubernetes `kn` to `new` or a version
    /// on the way: the old version's fact about `kn`, and for each later version up to `new` the
    /// fact or rule that rules it out before `kn` (its fact about `k`, or `kn`, or an upgrade rule).
    fn no_version_fits_both(
        &self,
        i: usize,
        old: Option<&Version>,
        new: Option<&Version>,
        k: &Version,
        kn: &Version,
    ) -> Vec<FactLine> {
        let m = self.m;
        let Some(old) = old else { return Vec::new() };
        let rule = |r: &crate::catalog::UpgradeRule| FactLine {
            subject: m.name(i).to_string(),
            text: r.to_string(),
            source: Some(r.source.clone()),
        };
        let mut facts: Vec<FactLine> = m
            .pair(i, old, m.kube, Some(kn))
            .into_iter()
            .map(|b| b.line)
            .collect();
        let upto = new.cloned().unwrap_or_else(|| self.bound(i, old));
        for w in m.between(i, old, &upto).iter().rev().take(MAX_LISTED) {
            let now = m.pair(i, w, m.kube, Some(k));
            if !now.is_empty() {
                facts.extend(now.into_iter().map(|b| b.line));
            } else if !m.fits_kube(i, w, kn) {
                facts.extend(m.pair(i, w, m.kube, Some(kn)).into_iter().map(|b| b.line));
            } else if !m.hop_allowed(i, old, w) {
                facts.extend(
                    m.comp(i)
                        .upgrade
                        .broken_by(old, w, &m.lines(i))
                        .into_iter()
                        .map(rule),
                );
            }
        }
        dedup(facts)
    }
}

fn dedup(facts: Vec<FactLine>) -> Vec<FactLine> {
    let mut out: Vec<FactLine> = Vec::new();
    for f in facts {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}
