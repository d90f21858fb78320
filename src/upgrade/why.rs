//! Why each component moves in a step: the reason and the catalog facts behind it.

use super::facts::{dedup, kube_rule_facts};
use super::model::{Broken, State};
use super::planner::Planner;
use super::{Change, PlanStep, Reason, StepKind, chosen};
use crate::solver::FactLine;
use crate::types::Version;

/// At most this many versions are listed when explaining why none fits.
const MAX_LISTED: usize = 6;

impl Planner<'_, '_> {
    /// The step from `a` to `b`, with a reason and its facts for every change.
    pub(super) fn step(
        &self,
        kind: StepKind,
        a: &State,
        b: &State,
        kn: Option<&Version>,
    ) -> PlanStep {
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

    /// Why component `i` moves from `a` to `b` in a step of `kind` (from Kubernetes `k`, to `kn`
    /// in a Kubernetes step), and the facts behind it.
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
        if i == m.kube {
            let mut facts = kube_rule_facts(m);
            facts.retain(|f| !f.text.is_empty());
            return (Reason::ControlPlane, facts);
        }
        match kind {
            StepKind::Finish => self.why_finish(i, &a[i], &b[i]),
            StepKind::Kubernetes { .. } => {
                let kn = kn.expect("a Kubernetes step has its version");
                self.why_with_kubernetes(i, a, b, k, kn)
            }
            StepKind::Prepare { next } => self.why_before(i, a, b, next),
        }
    }

    /// The facts that would break if `i` had not moved from `old` in `b`.
    fn involving(&self, i: usize, old: &Option<Version>, b: &State) -> Vec<FactLine> {
        let mut undo = b.clone();
        undo[i] = old.clone();
        let facts: Vec<FactLine> = self
            .m
            .broken(&undo)
            .into_iter()
            .filter(|x: &Broken| {
                x.owner == Some(i) || x.other == Some(i) || x.owner.is_none() && x.other.is_none()
            })
            .map(|x| x.line)
            .collect();
        dedup(facts)
    }

    /// An upgrade rule of component `i`, as a fact.
    fn rule_fact(&self, i: usize, r: &crate::catalog::UpgradeRule) -> FactLine {
        FactLine {
            subject: self.m.name(i).to_string(),
            text: r.to_string(),
            source: Some(r.source.clone()),
        }
    }

    /// The last step, to the target: added, removed, or moved (against an upgrade rule or not).
    fn why_finish(
        &self,
        i: usize,
        old: &Option<Version>,
        new: &Option<Version>,
    ) -> (Reason, Vec<FactLine>) {
        match (old, new) {
            (Some(_), None) => (Reason::Removed, Vec::new()),
            (None, Some(_)) => (Reason::Added, Vec::new()),
            (Some(x), Some(y)) => {
                let rules: Vec<FactLine> = self
                    .m
                    .comp(i)
                    .upgrade
                    .broken_by(x, y, &self.m.lines(i))
                    .into_iter()
                    .map(|r| self.rule_fact(i, r))
                    .collect();
                if rules.is_empty() {
                    (Reason::Target, Vec::new())
                } else {
                    (Reason::AgainstRule, rules)
                }
            }
            (None, None) => (Reason::Target, Vec::new()),
        }
    }

    /// A step of Kubernetes from `k` to `kn`: pinned by Kubernetes, added, removed, or moved with it.
    fn why_with_kubernetes(
        &self,
        i: usize,
        a: &State,
        b: &State,
        k: &Version,
        kn: &Version,
    ) -> (Reason, Vec<FactLine>) {
        let m = self.m;
        let (old, new) = (&a[i], &b[i]);
        if self.pinned(kn).contains(&i) {
            let name = m.name(i);
            let facts = m
                .release(m.kube, kn)
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
            return (Reason::Removed, self.involving(i, old, b));
        }
        if old.is_none() {
            return (Reason::Added, self.involving(i, old, b));
        }
        (
            Reason::Together,
            self.no_version_fits_both(i, old.as_ref(), new.as_ref(), k, kn),
        )
    }

    /// A step before Kubernetes moves to `next`: what does not support `next` moves (or goes) first.
    fn why_before(
        &self,
        i: usize,
        a: &State,
        b: &State,
        next: &Version,
    ) -> (Reason, Vec<FactLine>) {
        let m = self.m;
        let kube = m.kube;
        let (old, new) = (&a[i], &b[i]);
        match (old, new) {
            (Some(x), None) => {
                let mut f = m
                    .pair(i, x, kube, Some(next))
                    .into_iter()
                    .map(|b| b.line)
                    .collect::<Vec<_>>();
                f.extend(self.involving(i, old, b));
                (Reason::Removed, dedup(f))
            }
            (None, Some(_)) => (Reason::Added, self.involving(i, old, b)),
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
                    f.extend(m.comp(i).upgrade.rules.iter().map(|r| self.rule_fact(i, r)));
                    (Reason::OnTheWay, dedup(f))
                }
            }
            _ => (Reason::Along, self.involving(i, old, b)),
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
