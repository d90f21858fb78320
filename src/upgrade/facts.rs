//! Fact lines shared by the planner and the explanations of its steps.

use super::Model;
use crate::catalog::KUBERNETES;
use crate::solver::FactLine;

/// The Kubernetes upgrade facts as fact lines.
pub(super) fn kube_rule_facts(m: &Model<'_>) -> Vec<FactLine> {
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

/// The facts without repeats, in their first order.
pub(super) fn dedup(facts: Vec<FactLine>) -> Vec<FactLine> {
    let mut out: Vec<FactLine> = Vec::new();
    for f in facts {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}
