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

mod facts;
mod model;
mod planner;
mod search;
mod why;

use std::collections::BTreeMap;

use crate::catalog::{Catalog, KUBERNETES, Phase, UpgradeRuleKind};
use crate::solver::{Chosen, FactLine};
use crate::types::Version;

use facts::kube_rule_facts;
use model::{Model, State};
use planner::Planner;

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
