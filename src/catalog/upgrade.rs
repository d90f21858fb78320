//! How upstream says a component is upgraded (`upgrade:` in a component file): rules on which
//! versions an upgrade may go between, and — for Kubernetes — the version-skew policy between the
//! parts of the control plane and the nodes. `bundle plan` reads these facts; none is in code.
//! `catalog/FORMAT.md` ("Upgrade rules") describes how they are written.

use super::diagnostics::Diagnostic;
use super::parse::FileCtx;
use super::wire::{self, Spanned};
use crate::types::{Version, VersionReq};

/// A component's published upgrade rules (empty when upstream publishes none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upgrade {
    /// Rules every single upgrade of the component must keep.
    pub rules: Vec<UpgradeRule>,
    /// The version-skew policy between the component's parts (only Kubernetes has one).
    pub skew: Option<VersionSkew>,
}

impl Upgrade {
    /// Whether the file states any upgrade fact.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.skew.is_none()
    }

    /// The rules that forbid an upgrade from `from` straight to `to` (both versions of this
    /// component), given the catalog's versions of it (`lines`, oldest first): empty when the
    /// upgrade is allowed.
    pub fn broken_by<'a>(
        &'a self,
        from: &Version,
        to: &Version,
        lines: &[Version],
    ) -> Vec<&'a UpgradeRule> {
        self.rules
            .iter()
            .filter(|r| !r.allows(from, to, lines))
            .collect()
    }
}

/// One published upgrade rule, with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRule {
    /// What the rule says.
    pub kind: UpgradeRuleKind,
    /// Where upstream says it.
    pub source: String,
    /// A remark for people.
    pub note: Option<String>,
    /// Line of the rule in the component file.
    pub line: u32,
}

/// The kinds of upgrade rule upstream projects publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeRuleKind {
    /// An upgrade moves at most this many minor versions ("one minor version at a time": 1).
    MinorSteps(u64),
    /// Before a minor upgrade, move to the latest patch of the current minor (the catalog's
    /// version of that line) first.
    LatestPatchFirst,
    /// An upgrade to a version in `to` must start from a version in `from` ("upgrade to 1.15
    /// from 1.14.x"; "upgrade through 1.10 first").
    From {
        /// The versions the rule is about.
        to: VersionReq,
        /// Where an upgrade to them may start.
        from: VersionReq,
    },
}

impl UpgradeRule {
    /// Whether an upgrade from `from` straight to `to` keeps this rule. `lines` are the catalog's
    /// versions of the component, oldest first (a major version change counts the minors between
    /// the last line of the old major and the new version).
    pub fn allows(&self, from: &Version, to: &Version, lines: &[Version]) -> bool {
        if to <= from {
            return true;
        }
        match &self.kind {
            UpgradeRuleKind::MinorSteps(k) => minors_between(from, to, lines) <= *k,
            UpgradeRuleKind::LatestPatchFirst => {
                same_line(from, to) || !lines.iter().any(|l| same_line(l, from) && l > from)
            }
            UpgradeRuleKind::From { to: t, from: f } => !t.matches(to) || f.matches(from),
        }
    }
}

impl std::fmt::Display for UpgradeRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            UpgradeRuleKind::MinorSteps(1) => write!(f, "upgrades one minor version at a time"),
            UpgradeRuleKind::MinorSteps(k) => {
                write!(f, "upgrades at most {k} minor versions at a time")
            }
            UpgradeRuleKind::LatestPatchFirst => write!(
                f,
                "moves to the latest patch of its current minor before a minor upgrade"
            ),
            UpgradeRuleKind::From { to, from } => {
                write!(f, "upgrades to {to} only from {from}")
            }
        }
    }
}

/// Whether two versions are of the same minor line.
pub fn same_line(a: &Version, b: &Version) -> bool {
    a.major() == b.major() && a.minor() == b.minor()
}

/// How many minor versions an upgrade from `from` to `to` moves. Within a major version, the
/// difference of the minors; across a major version, the catalog lines after `from` up to the
/// minor of `to` (each line counts once).
fn minors_between(from: &Version, to: &Version, lines: &[Version]) -> u64 {
    if from.major() == to.major() {
        return to.minor().saturating_sub(from.minor());
    }
    let mut seen: Vec<(u64, u64)> = lines
        .iter()
        .filter(|l| {
            *l > from && !same_line(l, from) && (l.major(), l.minor()) <= (to.major(), to.minor())
        })
        .map(|l| (l.major(), l.minor()))
        .collect();
    seen.dedup();
    (seen.len() as u64).max(1)
}

/// The version-skew policy between the parts of a component (Kubernetes: kube-apiserver, the
/// controller manager and scheduler, kubelet and kube-proxy), in minor versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSkew {
    /// The part every other part is measured against (`kube-apiserver`).
    pub reference: String,
    /// The parts, each with its place in the upgrade order and its allowed skew.
    pub parts: Vec<SkewPart>,
    /// Where upstream publishes the policy.
    pub source: String,
    /// A remark for people.
    pub note: Option<String>,
    /// Line of the `versionSkew:` block's first field.
    pub line: u32,
}

/// One part of a component under a version-skew policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkewPart {
    /// Its name (`kubelet`).
    pub name: String,
    /// Its place in the upgrade order: parts with a lower number are upgraded first; parts with
    /// the same number in any order.
    pub order: u32,
    /// Where it runs.
    pub runs_on: RunsOn,
    /// At most this many minor versions older than the reference part.
    pub behind: u64,
    /// At most this many minor versions newer than the reference part.
    pub ahead: u64,
}

/// Where a part of Kubernetes runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunsOn {
    /// On the control-plane nodes.
    ControlPlane,
    /// On every node.
    Nodes,
}

impl std::fmt::Display for RunsOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunsOn::ControlPlane => "control plane",
            RunsOn::Nodes => "nodes",
        })
    }
}

/// One state during an upgrade of the parts from one minor to another: which parts have moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// The order number of the parts that move in this phase.
    pub order: u32,
    /// Their names.
    pub parts: Vec<String>,
    /// Where they run (the later of their places when they differ).
    pub runs_on: RunsOn,
    /// After the phase: each part that is not at the reference's minor, with how many minors it
    /// is behind (negative: ahead) and the policy's limit in that direction.
    pub skew: Vec<PartSkew>,
}

/// The skew of one part against the reference after a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSkew {
    /// The part.
    pub part: String,
    /// Minors behind the reference (negative: ahead of it).
    pub behind: i64,
    /// The policy's limit in that direction.
    pub limit: u64,
}

impl PartSkew {
    /// Whether the policy allows it.
    pub fn holds(&self) -> bool {
        if self.behind >= 0 {
            self.behind as u64 <= self.limit
        } else {
            self.behind.unsigned_abs() <= self.limit
        }
    }
}

impl VersionSkew {
    /// The phases of an upgrade of every part from minor `from` to minor `to` (same major), in
    /// the policy's order, each with the skew it leaves behind.
    pub fn phases(&self, from: u64, to: u64) -> Vec<Phase> {
        let mut orders: Vec<u32> = self.parts.iter().map(|p| p.order).collect();
        orders.sort_unstable();
        orders.dedup();
        let reference_order = self
            .parts
            .iter()
            .find(|p| p.name == self.reference)
            .map(|p| p.order)
            .unwrap_or(0);
        orders
            .iter()
            .map(|&o| {
                let minor = |p: &SkewPart| if p.order <= o { to } else { from } as i64;
                let reference = if reference_order <= o { to } else { from } as i64;
                let moving: Vec<&SkewPart> = self.parts.iter().filter(|p| p.order == o).collect();
                Phase {
                    order: o,
                    parts: moving.iter().map(|p| p.name.clone()).collect(),
                    runs_on: moving
                        .iter()
                        .map(|p| p.runs_on)
                        .max()
                        .unwrap_or(RunsOn::ControlPlane),
                    skew: self
                        .parts
                        .iter()
                        .filter(|p| p.name != self.reference && minor(p) != reference)
                        .map(|p| {
                            let behind = reference - minor(p);
                            PartSkew {
                                part: p.name.clone(),
                                behind,
                                limit: if behind >= 0 { p.behind } else { p.ahead },
                            }
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// The most minor versions one upgrade can move while the policy holds after every phase
    /// (0: the parts cannot be upgraded at all under it).
    pub fn max_minor_step(&self) -> u64 {
        let limit = self
            .parts
            .iter()
            .map(|p| p.behind.max(p.ahead))
            .max()
            .unwrap_or(0)
            + 1;
        (1..=limit)
            .take_while(|d| {
                self.phases(0, *d)
                    .iter()
                    .all(|ph| ph.skew.iter().all(PartSkew::holds))
            })
            .last()
            .unwrap_or(0)
    }
}

/// Reads the `upgrade:` block of component `component`, recording problems in `diags`.
pub(super) fn upgrade(
    ctx: &FileCtx<'_>,
    component: &str,
    w: Spanned<wire::UpgradeWire>,
    diags: &mut Vec<Diagnostic>,
) -> Upgrade {
    let w = w.value;
    let mut rules = Vec::new();
    for r in w.rules {
        if let Some(rule) = rule(ctx, r, diags) {
            rules.push(rule);
        }
    }
    let skew = w.version_skew.and_then(|s| {
        if component != super::KUBERNETES {
            diags.push(ctx.at(
                &s,
                format!("`versionSkew` is the policy between the parts of Kubernetes; `{component}` takes none"),
                Some("state this component's own upgrade rules under `upgrade.rules`".to_string()),
            ));
            return None;
        }
        skew(ctx, s, diags)
    });
    Upgrade { rules, skew }
}

fn rule(
    ctx: &FileCtx<'_>,
    r: Spanned<wire::UpgradeRuleWire>,
    diags: &mut Vec<Diagnostic>,
) -> Option<UpgradeRule> {
    let line = r.referenced.line() as u32;
    let at = r.clone();
    let r = r.value;
    let range =
        |s: &Spanned<String>, diags: &mut Vec<Diagnostic>| match VersionReq::parse_strict(&s.value)
        {
            Ok(x) => Some(x),
            Err(e) => {
                diags.push(ctx.at(
                    s,
                    e.to_string(),
                    Some("write ranges like \">=1.14.0, <1.15.0\"".to_string()),
                ));
                None
            }
        };
    let kinds = usize::from(r.minor_steps.is_some())
        + usize::from(r.latest_patch_first.is_some())
        + usize::from(r.to.is_some() || r.from.is_some());
    if kinds != 1 {
        diags.push(ctx.at(
            &at,
            if kinds == 0 {
                "an upgrade rule says nothing: give `minorSteps`, `latestPatchFirst` or `to` with `from`".to_string()
            } else {
                "an upgrade rule states more than one kind: one of `minorSteps`, `latestPatchFirst`, `to`+`from` per rule".to_string()
            },
            Some("write each rule as its own list entry, each with its source".to_string()),
        ));
        return None;
    }
    let kind = if let Some(k) = r.minor_steps {
        if k.value == 0 {
            diags.push(ctx.at(
                &k,
                "`minorSteps: 0` would forbid every minor upgrade".to_string(),
                Some("write `minorSteps: 1` for \"one minor version at a time\"".to_string()),
            ));
            return None;
        }
        UpgradeRuleKind::MinorSteps(k.value)
    } else if let Some(b) = r.latest_patch_first {
        if !b.value {
            diags.push(ctx.at(
                &b,
                "`latestPatchFirst: false` states no rule".to_string(),
                Some("leave the rule out where upstream does not ask for it".to_string()),
            ));
            return None;
        }
        UpgradeRuleKind::LatestPatchFirst
    } else {
        let (Some(t), Some(f)) = (r.to, r.from) else {
            diags.push(ctx.at(
                &at,
                "a `to`/`from` rule needs both: the versions it is about and where an upgrade to them may start".to_string(),
                Some("e.g. `to: \">=1.15.0, <1.16.0\"` and `from: \">=1.14.0\"`".to_string()),
            ));
            return None;
        };
        let (t, f) = (range(&t, diags)?, range(&f, diags)?);
        UpgradeRuleKind::From { to: t, from: f }
    };
    Some(UpgradeRule {
        kind,
        source: r.source,
        note: r.note,
        line,
    })
}

fn skew(
    ctx: &FileCtx<'_>,
    s: Spanned<wire::VersionSkewWire>,
    diags: &mut Vec<Diagnostic>,
) -> Option<VersionSkew> {
    let line = s.referenced.line() as u32;
    let s = s.value;
    let before = diags.len();
    let mut parts: Vec<SkewPart> = Vec::new();
    for p in s.parts {
        if parts.iter().any(|x| x.name == p.name.value) {
            diags.push(ctx.at(
                &p.name,
                format!("part `{}` is listed twice", p.name.value),
                None,
            ));
            continue;
        }
        if p.order.value == 0 {
            diags.push(ctx.at(
                &p.order,
                "`order` counts from 1 (the parts upgraded first)".to_string(),
                None,
            ));
        }
        parts.push(SkewPart {
            name: p.name.value,
            order: p.order.value,
            runs_on: match p.runs_on {
                wire::RunsOnWire::ControlPlane => RunsOn::ControlPlane,
                wire::RunsOnWire::Nodes => RunsOn::Nodes,
            },
            behind: p.behind,
            ahead: p.ahead,
        });
    }
    match parts.iter().find(|p| p.name == s.reference.value) {
        None => diags.push(ctx.at(
            &s.reference,
            format!(
                "the reference `{}` is not one of the parts",
                s.reference.value
            ),
            Some("list the reference part (kube-apiserver) under `parts` too".to_string()),
        )),
        Some(r) if r.behind != 0 || r.ahead != 0 => diags.push(
            ctx.at(
                &s.reference,
                "the reference part is the measure of the others: it takes no `behind`/`ahead`"
                    .to_string(),
                None,
            ),
        ),
        Some(_) => {}
    }
    if diags.len() > before {
        return None;
    }
    Some(VersionSkew {
        reference: s.reference.value,
        parts,
        source: s.source,
        note: s.note,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse_strict(s).unwrap()
    }

    fn rule(kind: UpgradeRuleKind) -> UpgradeRule {
        UpgradeRule {
            kind,
            source: "https://example.org".into(),
            note: None,
            line: 1,
        }
    }

    #[test]
    fn minor_steps() {
        let lines = [
            v("1.14.7"),
            v("1.15.5"),
            v("1.16.5"),
            v("2.0.1"),
            v("2.1.0"),
        ];
        let r = rule(UpgradeRuleKind::MinorSteps(1));
        assert!(r.allows(&v("1.14.2"), &v("1.14.7"), &lines));
        assert!(r.allows(&v("1.14.7"), &v("1.15.5"), &lines));
        assert!(!r.allows(&v("1.14.7"), &v("1.16.5"), &lines));
        // across a major version: the catalog lines in between count
        assert!(r.allows(&v("1.16.5"), &v("2.0.1"), &lines));
        assert!(!r.allows(&v("1.15.5"), &v("2.0.1"), &lines));
        assert!(!r.allows(&v("1.16.5"), &v("2.1.0"), &lines));
        // a downgrade is not an upgrade
        assert!(r.allows(&v("1.16.5"), &v("1.14.7"), &lines));
    }

    #[test]
    fn latest_patch_first() {
        let lines = [v("1.14.7"), v("1.15.5")];
        let r = rule(UpgradeRuleKind::LatestPatchFirst);
        assert!(!r.allows(&v("1.14.2"), &v("1.15.5"), &lines));
        assert!(r.allows(&v("1.14.2"), &v("1.14.7"), &lines));
        assert!(r.allows(&v("1.14.7"), &v("1.15.5"), &lines));
    }

    #[test]
    fn from_rule() {
        let r = rule(UpgradeRuleKind::From {
            to: VersionReq::parse_strict(">=1.15.0, <1.16.0").unwrap(),
            from: VersionReq::parse_strict(">=1.14.0").unwrap(),
        });
        assert!(r.allows(&v("1.14.1"), &v("1.15.2"), &[]));
        assert!(!r.allows(&v("1.13.2"), &v("1.15.2"), &[]));
        assert!(r.allows(&v("1.13.2"), &v("1.14.1"), &[]));
    }

    fn kube_skew(kcm_behind: u64) -> VersionSkew {
        let part = |name: &str, order, runs_on, behind| SkewPart {
            name: name.into(),
            order,
            runs_on,
            behind,
            ahead: 0,
        };
        VersionSkew {
            reference: "kube-apiserver".into(),
            parts: vec![
                part("kube-apiserver", 1, RunsOn::ControlPlane, 0),
                part(
                    "kube-controller-manager",
                    2,
                    RunsOn::ControlPlane,
                    kcm_behind,
                ),
                part("kube-scheduler", 2, RunsOn::ControlPlane, kcm_behind),
                part("kubelet", 3, RunsOn::Nodes, 3),
                part("kube-proxy", 4, RunsOn::Nodes, 3),
            ],
            source: "https://kubernetes.io/releases/version-skew-policy/".into(),
            note: None,
            line: 1,
        }
    }

    #[test]
    fn skew_phases_and_the_largest_step() {
        let s = kube_skew(1);
        let phases = s.phases(31, 32);
        assert_eq!(phases.len(), 4);
        assert_eq!(phases[0].parts, ["kube-apiserver"]);
        // after the apiserver moved, everything else is one minor behind, which the policy allows
        assert_eq!(phases[0].skew.len(), 4);
        assert!(phases[0].skew.iter().all(|p| p.behind == 1 && p.holds()));
        assert_eq!(phases[3].skew, []);
        assert_eq!(phases[2].runs_on, RunsOn::Nodes);
        // two minors at once leave the controller manager two behind
        assert!(s.phases(31, 33)[0].skew.iter().any(|p| !p.holds()));
        assert_eq!(s.max_minor_step(), 1);
        assert_eq!(kube_skew(0).max_minor_step(), 0);
        assert_eq!(kube_skew(2).max_minor_step(), 2);
    }
}
