//! `bundle plan` (issue 14.1) and the catalog's upgrade facts it reads: fixture catalogs where a
//! component must move before the control plane, where two move together, where no path exists;
//! upstream's upgrade rules and the version-skew policy as facts; the command's table, JSON and
//! step locks; a property test over random catalogs; a snapshot of a real-catalog plan.

use std::collections::BTreeMap;

use bundle::catalog::{Catalog, UpgradeRuleKind, lint};
use bundle::lock::Lock;
use bundle::solver::{self, Request};
use bundle::types::{Version, VersionReq, WithSpec};
use bundle::upgrade::{Plan, PlanError, Reason, StepKind, plan};
use proptest::prelude::*;

use crate::support::{Run, TempDir, bundle_in, fixture, tempdir};

// ---------------------------------------------------------------------------------------------
// Fixture catalogs, written inline: a Kubernetes with the real catalog's kind of upgrade facts
// (one minor at a time; skew policy with the controller manager one minor behind at most) and
// small components around it.

const CATALOG_YAML: &str = "apiVersion: bundle/v1
kind: Catalog
checked: 2026-11-27
capabilities:
  - name: cni
    description: pod network
";

/// The upgrade block of the fixture Kubernetes: `rules` and the controller manager's `behind`.
fn kube_yaml(rules: bool, kcm_behind: u64, versions: &[&str]) -> String {
    let mut s = String::from(
        "apiVersion: bundle/v1
kind: Component
name: kubernetes
description: fixture
homepage: https://example.org
upgrade:
",
    );
    if rules {
        s.push_str(
            "  rules:
    - minorSteps: 1
      source: https://example.org/skew
",
        );
    }
    s.push_str(&format!(
        "  versionSkew:
    reference: kube-apiserver
    parts:
      - {{name: kube-apiserver, order: 1, runsOn: control-plane}}
      - {{name: kube-controller-manager, order: 2, runsOn: control-plane, behind: {kcm_behind}}}
      - {{name: kubelet, order: 3, runsOn: nodes, behind: 3}}
    source: https://example.org/skew
versions:
"
    ));
    for v in versions {
        s.push_str(&format!("  - version: {v}\n"));
    }
    s
}

/// A component file: `versions` are (version, kubernetes range, more YAML lines under the version).
fn comp_yaml(name: &str, head: &str, versions: &[(&str, &str, &str)]) -> String {
    let mut s = format!(
        "apiVersion: bundle/v1
kind: Component
name: {name}
description: fixture
homepage: https://example.org
{head}versions:
"
    );
    for (v, k, more) in versions {
        s.push_str(&format!("  - version: {v}\n    requires:\n"));
        s.push_str(&format!(
            "      - {{name: kubernetes, range: \"{k}\", source: \"https://example.org/{name}\"}}\n"
        ));
        s.push_str(more);
    }
    s
}

const KUBES: [&str; 4] = ["1.30.0", "1.31.0", "1.32.0", "1.33.0"];

fn catalog_of(kube: String, comps: &[String]) -> Catalog {
    let mut files = vec![
        ("catalog.yaml".to_string(), CATALOG_YAML.to_string()),
        ("components/kubernetes.yaml".to_string(), kube),
    ];
    for c in comps {
        let name = c
            .lines()
            .find_map(|l| l.strip_prefix("name: "))
            .unwrap()
            .to_string();
        files.push((format!("components/{name}.yaml"), c.clone()));
    }
    Catalog::from_files("memory", files).unwrap_or_else(|e| panic!("{e}"))
}

fn catalog(comps: &[String]) -> Catalog {
    catalog_of(kube_yaml(true, 1, &KUBES), comps)
}

fn v(s: &str) -> Version {
    Version::parse_strict(s).unwrap()
}

fn platform(pairs: &[(&str, &str)]) -> BTreeMap<String, Version> {
    pairs.iter().map(|(n, x)| (n.to_string(), v(x))).collect()
}

/// The platforms of the plan as `name version` lines per step, for compact assertions.
fn moves(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| {
            let kind = match &s.kind {
                StepKind::Prepare { .. } => "prepare",
                StepKind::Kubernetes { .. } => "kubernetes",
                StepKind::Finish => "finish",
            };
            let changes: Vec<String> = s
                .changes
                .iter()
                .map(|c| {
                    let v = |v: &Option<Version>| v.as_ref().map_or("-".into(), |v| v.to_string());
                    format!(
                        "{} {}->{} {}",
                        c.name,
                        v(&c.from),
                        v(&c.to),
                        c.reason.word()
                    )
                })
                .collect();
            format!("{kind}: {}", changes.join(", "))
        })
        .collect()
}

/// Whether every fact holds in a platform (independent of the planner and the solver): each
/// version's requirements, constraints and conflicts; lines taken as the planner does (the
/// catalog version, or the release of the same minor).
fn holds(cat: &Catalog, p: &[(String, Version)]) -> Result<(), String> {
    let get = |n: &str| p.iter().find(|(x, _)| x == n).map(|(_, v)| v);
    for (name, ver) in p {
        let comp = cat.component(name).ok_or(format!("{name} unknown"))?;
        let r =
            comp.release(ver)
                .or_else(|| {
                    comp.versions.iter().rev().find(|r| {
                        r.version.major() == ver.major() && r.version.minor() == ver.minor()
                    })
                })
                .ok_or(format!("{name} {ver}: no line"))?;
        for c in &r.requires {
            match cat.component(&c.name) {
                Some(_) => {
                    if !get(&c.name).is_some_and(|x| c.range.matches(x)) {
                        return Err(format!("{name} {ver} requires {} {}", c.name, c.range));
                    }
                }
                None => {
                    let provided = p.iter().any(|(n, _)| {
                        cat.component(n)
                            .is_some_and(|x| x.provides.iter().any(|q| q == &c.name))
                    });
                    if !provided {
                        return Err(format!("{name} {ver} requires a {}", c.name));
                    }
                }
            }
        }
        for c in &r.constrains {
            if get(&c.name).is_some_and(|x| !c.range.matches(x)) {
                return Err(format!("{name} {ver} constrains {} {}", c.name, c.range));
            }
        }
        for c in &r.conflicts {
            if get(&c.name).is_some() {
                return Err(format!("{name} {ver} conflicts with {}", c.name));
            }
        }
    }
    Ok(())
}

/// Checks what every plan must keep: each step's platform is a solution (facts hold, and the
/// solver itself finds exactly that platform when every version is asked for), each change starts
/// where the step before ended, Kubernetes moves at most one minor per step and never back, and a
/// plan that is not stuck ends at the target.
fn check_plan(cat: &Catalog, p: &Plan) -> Result<(), String> {
    let mut before: Vec<(String, Version)> = p
        .from
        .iter()
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect();
    for (n, s) in p.steps.iter().enumerate() {
        let after: Vec<(String, Version)> = s
            .platform
            .iter()
            .map(|c| (c.name.clone(), c.version.clone()))
            .collect();
        holds(cat, &after).map_err(|e| format!("step {}: {e}", n + 1))?;
        let request = Request {
            kubernetes: VersionReq::exact(&s.kubernetes),
            with: after
                .iter()
                .filter(|(n, _)| n != "kubernetes")
                .map(|(n, x)| WithSpec {
                    name: n.clone(),
                    range: VersionReq::exact(x),
                })
                .collect(),
            without: vec![],
            allow_eol: true,
            allow_untested: false,
            as_of: "2026-11-27".parse().unwrap(),
        };
        let only_catalog_versions = after
            .iter()
            .all(|(n, x)| cat.component(n).unwrap().release(x).is_some());
        if only_catalog_versions {
            let sol = solver::solve(cat, &request, &BTreeMap::new())
                .map_err(|e| format!("step {}: the solver refuses the platform: {e}", n + 1))?;
            let got: Vec<(String, Version)> = sol
                .components
                .iter()
                .map(|c| (c.name.clone(), c.version.clone()))
                .collect();
            if got != after {
                return Err(format!("step {}: the solver adds or drops: {got:?}", n + 1));
            }
        }
        let kb = before
            .iter()
            .find(|(n, _)| n == "kubernetes")
            .unwrap()
            .1
            .clone();
        let ka = s.kubernetes.clone();
        if ka < kb || ka.minor() > kb.minor() + 1 {
            return Err(format!("step {}: Kubernetes {kb} -> {ka}", n + 1));
        }
        for c in &s.changes {
            let was = before
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, v)| v.clone());
            let is = after
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, v)| v.clone());
            if was != c.from || is != c.to || c.from == c.to {
                return Err(format!("step {}: change {c:?} does not match", n + 1));
            }
        }
        let changed = before.len() != after.len() || before.iter().zip(&after).any(|(a, b)| a != b);
        if !changed {
            return Err(format!("step {}: nothing moves", n + 1));
        }
        before = after;
    }
    if p.stuck.is_none() {
        let to: Vec<(String, Version)> =
            p.to.iter()
                .map(|c| (c.name.clone(), c.version.clone()))
                .collect();
        if before != to {
            return Err(format!("the plan ends at {before:?}, not at the target"));
        }
    }
    Ok(())
}

const SRC: &str = "https://example.org/src";

// ---------------------------------------------------------------------------------------------
// The catalog's upgrade facts.

#[test]
fn real_catalog_states_the_skew_policy_and_upgrade_rules() {
    let cat = Catalog::embedded().unwrap();
    let k = &cat.component("kubernetes").unwrap().upgrade;
    let skew = k.skew.as_ref().expect("kubernetes states its skew policy");
    assert_eq!(skew.reference, "kube-apiserver");
    let behind = |n: &str| skew.parts.iter().find(|p| p.name == n).unwrap().behind;
    assert_eq!(behind("kubelet"), 3);
    assert_eq!(behind("kube-proxy"), 3);
    assert_eq!(behind("kube-controller-manager"), 1);
    assert_eq!(behind("kube-scheduler"), 1);
    assert!(
        skew.parts.iter().all(|p| p.ahead == 0),
        "no part may be newer"
    );
    assert!(skew.source.contains("version-skew-policy"));
    assert_eq!(skew.max_minor_step(), 1);
    assert!(
        k.rules
            .iter()
            .any(|r| r.kind == UpgradeRuleKind::MinorSteps(1))
    );
    for name in ["cert-manager", "cilium"] {
        let up = &cat.component(name).unwrap().upgrade;
        assert!(
            up.rules
                .iter()
                .any(|r| r.kind == UpgradeRuleKind::MinorSteps(1)),
            "{name}"
        );
    }
    let velero = &cat.component("velero").unwrap().upgrade;
    assert!(velero.rules.len() >= 4);
    assert!(
        velero
            .rules
            .iter()
            .all(|r| matches!(r.kind, UpgradeRuleKind::From { .. }) && !r.source.is_empty())
    );
    assert!(lint::check(&cat).is_empty());
}

/// Loads a catalog whose fixture Kubernetes file has `upgrade` as its upgrade block.
fn load_with(file: &str, text: &str) -> Result<Catalog, String> {
    let mut files = vec![
        ("catalog.yaml".to_string(), CATALOG_YAML.to_string()),
        (
            "components/kubernetes.yaml".to_string(),
            kube_yaml(true, 1, &KUBES),
        ),
    ];
    files.retain(|(p, _)| p != file);
    files.push((file.to_string(), text.to_string()));
    Catalog::from_files("memory", files).map_err(|e| e.to_string())
}

#[test]
fn malformed_upgrade_facts_name_file_line_and_field() {
    let app = |block: &str| comp_yaml("app", block, &[("1.0.0", ">=1.30.0", "")]);
    let cases = [
        (
            "upgrade:\n  rules:\n    - minorSteps: 1\n      latestPatchFirst: true\n      source: x\n",
            "components/app.yaml:8:7: upgrade.rules[0].minorSteps: an upgrade rule states more than one kind",
        ),
        (
            "upgrade:\n  rules:\n    - source: x\n",
            "an upgrade rule says nothing",
        ),
        (
            "upgrade:\n  rules:\n    - minorSteps: 0\n      source: x\n",
            "components/app.yaml:8:19: upgrade.rules[0].minorSteps: `minorSteps: 0` would forbid every minor upgrade",
        ),
        (
            "upgrade:\n  rules:\n    - to: \">=1.0.0\"\n      source: x\n",
            "needs both",
        ),
        (
            "upgrade:\n  rules:\n    - to: \"1.0\"\n      from: \">=0.9.0\"\n      source: x\n",
            "components/app.yaml:8:11: upgrade.rules[0].to: `1.0` is not a version range",
        ),
        (
            "upgrade:\n  rules:\n    - minorStep: 1\n      source: x\n",
            "unknown field `minorStep`",
        ),
        (
            "upgrade:\n  versionSkew:\n    reference: a\n    parts:\n      - {name: a, order: 1, runsOn: nodes}\n    source: x\n",
            "`versionSkew` is the policy between the parts of Kubernetes; `app` takes none",
        ),
    ];
    for (block, want) in cases {
        let err = load_with("components/app.yaml", &app(block)).unwrap_err();
        assert!(err.contains(want), "{block}\n→ {err}");
    }
    let kube = |parts: &str| {
        format!(
            "apiVersion: bundle/v1\nkind: Component\nname: kubernetes\ndescription: x\nhomepage: https://example.org\n\
             upgrade:\n  versionSkew:\n    reference: kube-apiserver\n    parts:\n{parts}    source: x\nversions:\n  - version: 1.30.0\n"
        )
    };
    let err = load_with(
        "components/kubernetes.yaml",
        &kube("      - {name: kubelet, order: 1, runsOn: nodes, behind: 3}\n"),
    )
    .unwrap_err();
    assert!(
        err.contains(
            "upgrade.versionSkew.reference: the reference `kube-apiserver` is not one of the parts"
        ),
        "{err}"
    );
    let err = load_with(
        "components/kubernetes.yaml",
        &kube("      - {name: kube-apiserver, order: 1, runsOn: edge}\n"),
    )
    .unwrap_err();
    assert!(
        err.contains("components/kubernetes.yaml:10:50: upgrade.versionSkew.parts[0]: unknown variant `edge`, expected one of control-plane, nodes"),
        "{err}"
    );
}

#[test]
fn lint_reports_rules_that_cannot_apply() {
    let app = comp_yaml(
        "app",
        "upgrade:\n  rules:\n    - to: \">=2.0.0\"\n      from: \">=1.0.0\"\n      source: not a url\n",
        &[("1.0.0", ">=1.30.0", "")],
    );
    let cat = catalog_of(kube_yaml(true, 0, &KUBES), &[app]);
    let problems: Vec<String> = lint::check(&cat).iter().map(|d| d.to_string()).collect();
    assert!(
        problems.iter().any(|p| p
            .contains("components/app.yaml:8: app: upgrade rule `to: >=2.0.0` matches no version")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains(
            "components/kubernetes.yaml:11: kubernetes: under this versionSkew no upgrade order keeps the policy"
        )),
        "{problems:?}"
    );
    let sources: Vec<String> = lint::sources::check(&cat)
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert!(
        sources.iter().any(|p| p
            .contains("upgrade rule (upgrades to >=2.0.0 only from >=1.0.0): source `not a url`")),
        "{sources:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Plans on fixture catalogs.

#[test]
fn a_component_moves_before_the_control_plane() {
    let app = comp_yaml(
        "app",
        "",
        &[
            ("1.0.0", ">=1.29.0, <1.31.0", ""),
            ("1.1.0", ">=1.30.0, <1.32.0", ""),
            ("1.2.0", ">=1.31.0, <1.33.0", ""),
            ("1.3.0", ">=1.32.0, <1.34.0", ""),
        ],
    );
    let cat = catalog(&[app]);
    let from = platform(&[("kubernetes", "1.30.0"), ("app", "1.0.0")]);
    let to = platform(&[("kubernetes", "1.32.0"), ("app", "1.3.0")]);
    let p = plan(&cat, &from, &to, &["app".into()]).unwrap();
    check_plan(&cat, &p).unwrap();
    assert_eq!(
        moves(&p),
        [
            "prepare: app 1.0.0->1.1.0 unsupported",
            "kubernetes: kubernetes 1.30.0->1.31.0 control-plane",
            "prepare: app 1.1.0->1.2.0 unsupported",
            "kubernetes: kubernetes 1.31.0->1.32.0 control-plane",
            "finish: app 1.2.0->1.3.0 target",
        ]
    );
    assert!(p.complete());
    // the prepare step names the fact that blocks and the one that makes the new version fit
    let facts: Vec<String> = p.steps[0].changes[0]
        .facts
        .iter()
        .map(|f| format!("{} {}", f.subject, f.text))
        .collect();
    assert_eq!(
        facts,
        [
            "app 1.0.0 requires kubernetes >=1.29.0, <1.31.0",
            "app 1.1.0 requires kubernetes >=1.30.0, <1.32.0"
        ]
    );
    // the Kubernetes step goes control plane first, nodes last, within the skew policy
    let phases = &p.steps[1].phases;
    assert_eq!(phases.len(), 3);
    assert_eq!(phases[0].parts, ["kube-apiserver"]);
    assert_eq!(phases[2].parts, ["kubelet"]);
    assert!(phases.iter().all(|ph| ph.skew.iter().all(|s| s.holds())));
    assert_eq!(phases[0].skew.len(), 2, "{phases:?}");
}

#[test]
fn two_components_move_together_before_the_control_plane() {
    // app 2 needs lib 2, and lib 2 refuses app 1: neither can move alone
    let app = comp_yaml(
        "app",
        "",
        &[
            (
                "1.0.0",
                ">=1.29.0, <1.31.0",
                "      - {name: lib, range: \"<2.0.0\", source: \"https://example.org/app\"}\n",
            ),
            (
                "2.0.0",
                ">=1.30.0, <1.32.0",
                "      - {name: lib, range: \">=2.0.0\", source: \"https://example.org/app\"}\n",
            ),
        ],
    );
    let lib = comp_yaml(
        "lib",
        "",
        &[
            ("1.0.0", ">=1.29.0", ""),
            (
                "2.0.0",
                ">=1.29.0",
                "    constrains:\n      - {name: app, range: \">=2.0.0\", source: \"https://example.org/lib\"}\n",
            ),
        ],
    );
    let cat = catalog(&[app, lib]);
    let from = platform(&[("kubernetes", "1.30.0"), ("app", "1.0.0"), ("lib", "1.0.0")]);
    let to = platform(&[("kubernetes", "1.31.0"), ("app", "2.0.0"), ("lib", "2.0.0")]);
    let p = plan(&cat, &from, &to, &["app".into()]).unwrap();
    check_plan(&cat, &p).unwrap();
    assert_eq!(
        moves(&p),
        [
            "prepare: app 1.0.0->2.0.0 unsupported, lib 1.0.0->2.0.0 along",
            "kubernetes: kubernetes 1.30.0->1.31.0 control-plane",
        ]
    );
    let lib_facts: Vec<String> = p.steps[0].changes[1]
        .facts
        .iter()
        .map(|f| format!("{} {}", f.subject, f.text))
        .collect();
    assert_eq!(lib_facts, ["app 2.0.0 requires lib >=2.0.0"]);
    assert!(p.complete());
}

#[test]
fn without_a_path_the_component_moves_with_the_control_plane() {
    let app = comp_yaml(
        "app",
        "",
        &[
            ("1.0.0", ">=1.29.0, <1.31.0", ""),
            ("2.0.0", ">=1.31.0, <1.33.0", ""),
        ],
    );
    let cat = catalog(&[app]);
    let from = platform(&[("kubernetes", "1.30.0"), ("app", "1.0.0")]);
    let to = platform(&[("kubernetes", "1.31.0"), ("app", "2.0.0")]);
    let p = plan(&cat, &from, &to, &["app".into()]).unwrap();
    check_plan(&cat, &p).unwrap();
    assert_eq!(
        moves(&p),
        ["kubernetes: kubernetes 1.30.0->1.31.0 control-plane, app 1.0.0->2.0.0 together"]
    );
    assert!(!p.complete());
    let change = &p.steps[0].changes[1];
    assert!(change.reason.disruptive());
    let facts: Vec<String> = change
        .facts
        .iter()
        .map(|f| {
            format!(
                "{} {} ({})",
                f.subject,
                f.text,
                f.source.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            "app 1.0.0 requires kubernetes >=1.29.0, <1.31.0 (https://example.org/app)",
            "app 2.0.0 requires kubernetes >=1.31.0, <1.33.0 (https://example.org/app)",
        ]
    );
}

#[test]
fn one_minor_at_a_time_makes_stops_on_the_way() {
    let app = comp_yaml(
        "app",
        &format!("upgrade:\n  rules:\n    - minorSteps: 1\n      source: {SRC}\n"),
        &[
            ("1.0.0", ">=1.29.0, <1.31.0", ""),
            ("1.1.0", ">=1.29.0, <1.31.0", ""),
            ("1.2.0", ">=1.30.0, <1.32.0", ""),
            ("1.3.0", ">=1.30.0, <1.34.0", ""),
        ],
    );
    let cat = catalog(&[app]);
    let from = platform(&[("kubernetes", "1.30.0"), ("app", "1.0.0")]);
    let to = platform(&[("kubernetes", "1.31.0"), ("app", "1.3.0")]);
    let p = plan(&cat, &from, &to, &[]).unwrap();
    check_plan(&cat, &p).unwrap();
    assert_eq!(
        moves(&p),
        [
            "prepare: app 1.0.0->1.1.0 on-the-way",
            "prepare: app 1.1.0->1.2.0 unsupported",
            "kubernetes: kubernetes 1.30.0->1.31.0 control-plane",
            "finish: app 1.2.0->1.3.0 target",
        ]
    );
    let rule = p.steps[0].changes[0].facts.last().unwrap();
    assert_eq!(rule.text, "upgrades one minor version at a time");
    assert_eq!(rule.source.as_deref(), Some(SRC));
    // without the rule, one move is enough (the newest version that supports both minors)
    let free = comp_yaml(
        "app",
        "",
        &[
            ("1.0.0", ">=1.29.0, <1.31.0", ""),
            ("1.1.0", ">=1.29.0, <1.31.0", ""),
            ("1.2.0", ">=1.30.0, <1.32.0", ""),
            ("1.3.0", ">=1.30.0, <1.34.0", ""),
        ],
    );
    let cat = catalog(&[free]);
    let p = plan(&cat, &from, &to, &[]).unwrap();
    assert_eq!(
        moves(&p),
        [
            "prepare: app 1.0.0->1.3.0 unsupported",
            "kubernetes: kubernetes 1.30.0->1.31.0 control-plane",
        ]
    );
}

#[test]
fn upgrade_from_and_latest_patch_first_rules() {
    // 1.2 may only be reached from 1.1; from an old patch of 1.0, the latest 1.0 patch comes first
    let app = comp_yaml(
        "app",
        &format!(
            "upgrade:\n  rules:\n    - latestPatchFirst: true\n      source: {SRC}\n    - to: \">=1.2.0, <1.3.0\"\n      from: \">=1.1.0\"\n      source: {SRC}\n"
        ),
        &[
            ("1.0.5", ">=1.29.0, <1.33.0", ""),
            ("1.1.3", ">=1.29.0, <1.33.0", ""),
            ("1.2.0", ">=1.29.0, <1.34.0", ""),
        ],
    );
    let cat = catalog(&[app]);
    let from = platform(&[("kubernetes", "1.30.0"), ("app", "1.0.1")]);
    let to = platform(&[("kubernetes", "1.30.0"), ("app", "1.2.0")]);
    let p = plan(&cat, &from, &to, &[]).unwrap();
    check_plan(&cat, &p).unwrap();
    assert_eq!(
        moves(&p),
        [
            "finish: app 1.0.1->1.0.5 target",
            "finish: app 1.0.5->1.1.3 target",
            "finish: app 1.1.3->1.2.0 target",
        ]
    );
    assert!(p.complete());
}

#[test]
fn the_skew_facts_set_the_kubernetes_step() {
    let app = comp_yaml("app", "", &[("1.0.0", ">=1.29.0", "")]);
    let from = platform(&[("kubernetes", "1.30.0"), ("app", "1.0.0")]);
    let to = platform(&[("kubernetes", "1.33.0"), ("app", "1.0.0")]);
    let kube_minors =
        |p: &Plan| -> Vec<String> { p.steps.iter().map(|s| s.kubernetes.to_string()).collect() };
    // the real policy: one minor at a time
    let p = plan(&catalog(std::slice::from_ref(&app)), &from, &to, &[]).unwrap();
    assert_eq!(kube_minors(&p), ["1.31.0", "1.32.0", "1.33.0"]);
    // a policy that lets the controller manager lag two minors (and no minorSteps rule): two per step
    let two = catalog_of(kube_yaml(false, 2, &KUBES), std::slice::from_ref(&app));
    let p = plan(&two, &from, &to, &[]).unwrap();
    assert_eq!(kube_minors(&p), ["1.32.0", "1.33.0"]);
    assert!(
        p.steps[0].phases[0]
            .skew
            .iter()
            .any(|s| s.behind == 2 && s.holds())
    );
    // a policy under which no order works: no plan, with the facts
    let none = catalog_of(kube_yaml(false, 0, &KUBES), &[app]);
    match plan(&none, &from, &to, &[]) {
        Err(PlanError::NoKubernetesStep { facts }) => {
            assert!(
                facts[0]
                    .text
                    .contains("kube-controller-manager at most 0 behind")
            );
            assert_eq!(facts[0].source.as_deref(), Some("https://example.org/skew"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_provider_is_replaced_before_the_minor_it_lacks() {
    let provides = "provides: [cni]\n";
    let net_a = comp_yaml("net-a", provides, &[("1.0.0", ">=1.29.0, <1.31.0", "")]);
    let net_b = comp_yaml("net-b", provides, &[("2.0.0", ">=1.30.0, <1.33.0", "")]);
    let cat = catalog(&[net_a, net_b]);
    let from = platform(&[("kubernetes", "1.30.0"), ("net-a", "1.0.0")]);
    let to = platform(&[("kubernetes", "1.31.0"), ("net-b", "2.0.0")]);
    let p = plan(&cat, &from, &to, &["cni".into()]).unwrap();
    check_plan(&cat, &p).unwrap();
    assert_eq!(
        moves(&p),
        [
            "prepare: net-a 1.0.0->- removed, net-b -->2.0.0 added",
            "kubernetes: kubernetes 1.30.0->1.31.0 control-plane",
        ]
    );
    // without `cni` to keep, nothing forces the new provider in before the finish
    let p = plan(&cat, &from, &to, &[]).unwrap();
    assert_eq!(p.steps[0].changes[0].reason, Reason::Removed);
    assert!(p.steps[0].changes.iter().all(|c| c.name != "net-b"));
}

#[test]
fn stuck_where_nothing_supports_the_next_minor() {
    // app has no version for 1.32 at all, and the plan must keep it
    let app = comp_yaml(
        "app",
        "",
        &[
            ("1.0.0", ">=1.30.0, <1.32.0", ""),
            ("3.0.0", ">=1.33.0", ""),
        ],
    );
    let cat = catalog(&[app]);
    let from = platform(&[("kubernetes", "1.30.0"), ("app", "1.0.0")]);
    let to = platform(&[("kubernetes", "1.33.0"), ("app", "3.0.0")]);
    let p = plan(&cat, &from, &to, &["app".into()]).unwrap();
    check_plan(&cat, &p).unwrap();
    let stuck = p.stuck.as_ref().expect("no way through 1.32");
    assert_eq!(stuck.kubernetes, v("1.31.0"));
    assert_eq!(stuck.next, Some(v("1.32.0")));
    let facts: Vec<String> = stuck
        .facts
        .iter()
        .map(|f| format!("{} {}", f.subject, f.text))
        .collect();
    assert!(
        facts.contains(&"app 1.0.0 requires kubernetes >=1.30.0, <1.32.0".to_string()),
        "{facts:?}"
    );
    assert!(!p.complete());
}

#[test]
fn errors_before_planning() {
    let app = comp_yaml("app", "", &[("1.0.0", ">=1.29.0", "")]);
    let cat = catalog(&[app]);
    let old = platform(&[("kubernetes", "1.32.0"), ("app", "1.0.0")]);
    let new = platform(&[("kubernetes", "1.31.0"), ("app", "1.0.0")]);
    assert!(matches!(
        plan(&cat, &old, &new, &[]),
        Err(PlanError::Backwards { .. })
    ));
    let odd = platform(&[("kubernetes", "1.30.0"), ("app", "0.9.0")]);
    let e = plan(&cat, &odd, &new, &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the old platform has app 0.9.0, and the catalog has no app 0.9 line to take its facts from"
    );
    let unknown = platform(&[("kubernetes", "1.30.0"), ("nope", "1.0.0")]);
    assert!(matches!(
        plan(&cat, &unknown, &new, &[]),
        Err(PlanError::UnknownComponent { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Property: for random catalogs, every step of a plan is a solution and Kubernetes moves at most
// one minor per step.

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A random catalog: Kubernetes 1.0–1.5 with the fixture's upgrade facts, three components with
/// two to four versions each, each version supporting a window of Kubernetes minors and maybe
/// requiring or constraining a lower-numbered component; some components upgrade one minor at a time.
fn random_catalog(rng: &mut Rng) -> Catalog {
    let kubes: Vec<String> = (0..6).map(|m| format!("1.{m}.0")).collect();
    let kube_refs: Vec<&str> = kubes.iter().map(String::as_str).collect();
    let mut comps = Vec::new();
    for c in 0..3 {
        let name = format!("c{c}");
        let head = if rng.below(3) == 0 {
            format!("upgrade:\n  rules:\n    - minorSteps: 1\n      source: {SRC}\n")
        } else {
            String::new()
        };
        let n = 2 + rng.below(3);
        let mut lo = rng.below(2);
        let mut versions: Vec<(String, String, String)> = Vec::new();
        for i in 0..n {
            let hi = (lo + 1 + rng.below(3)).min(6);
            let mut more = String::new();
            if c > 0 && rng.below(3) == 0 {
                let other = rng.below(c);
                let min = 1 + rng.below(2);
                let kind = if rng.below(2) == 0 {
                    "requires"
                } else {
                    "constrains"
                };
                if kind == "requires" {
                    more = format!(
                        "      - {{name: c{other}, range: \">=1.{min}.0\", source: \"{SRC}\"}}\n"
                    );
                } else {
                    more = format!(
                        "    constrains:\n      - {{name: c{other}, range: \">=1.{min}.0\", source: \"{SRC}\"}}\n"
                    );
                }
            }
            versions.push((format!("1.{i}.0"), format!(">=1.{lo}.0, <1.{hi}.0"), more));
            lo = (lo + rng.below(2)).min(5);
        }
        let v: Vec<(&str, &str, &str)> = versions
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        comps.push(comp_yaml(&name, &head, &v));
    }
    catalog_of(kube_yaml(true, 1, &kube_refs), &comps)
}

fn request_for(kubernetes: &str) -> Request {
    Request {
        kubernetes: VersionReq::parse_strict(kubernetes).unwrap(),
        with: ["c0", "c1", "c2"]
            .iter()
            .map(|n| WithSpec {
                name: n.to_string(),
                range: VersionReq::any(),
            })
            .collect(),
        without: vec![],
        allow_eol: true,
        allow_untested: false,
        as_of: "2026-11-27".parse().unwrap(),
    }
}

fn check_random(seed: u64) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let cat = random_catalog(&mut rng);
    let start_minor = rng.below(2);
    let as_map = |s: &solver::Solution| -> BTreeMap<String, Version> {
        s.components
            .iter()
            .map(|c| (c.name.clone(), c.version.clone()))
            .collect()
    };
    // the old platform: an early Kubernetes minor, each component lowered to its oldest version
    // that still keeps every fact (one at a time)
    let Ok(newest_old) = solver::solve(
        &cat,
        &request_for(&format!("~1.{start_minor}")),
        &BTreeMap::new(),
    ) else {
        return Ok(());
    };
    let mut old = as_map(&newest_old);
    let names: Vec<String> = old.keys().filter(|n| *n != "kubernetes").cloned().collect();
    for name in names {
        for r in &cat.component(&name).unwrap().versions {
            let mut trial = old.clone();
            trial.insert(name.clone(), r.version.clone());
            let list: Vec<(String, Version)> = trial.clone().into_iter().collect();
            if holds(&cat, &list).is_ok() {
                old = trial;
                break;
            }
        }
    }
    let Ok(target) = solver::solve(&cat, &request_for("*"), &BTreeMap::new()) else {
        return Ok(());
    };
    let target = as_map(&target);
    if target["kubernetes"] < old["kubernetes"] {
        return Ok(());
    }
    let keep: Vec<String> = vec!["c0".into(), "c1".into(), "c2".into()];
    let p = plan(&cat, &old, &target, &keep)
        .map_err(|e| TestCaseError::fail(format!("plan refused: {e}")))?;
    check_plan(&cat, &p).map_err(|e| TestCaseError::fail(format!("{e}\n{:#?}", moves(&p))))?;
    // every minor in between is visited, in order
    let minors: Vec<u64> = p
        .steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Kubernetes { .. }))
        .map(|s| s.kubernetes.minor())
        .collect();
    if p.stuck.is_none() {
        let want: Vec<u64> =
            (old["kubernetes"].minor() + 1..=target["kubernetes"].minor()).collect();
        prop_assert_eq!(minors, want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn every_step_of_a_random_plan_is_a_solution(seed in any::<u64>()) {
        check_random(seed)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The command: table, JSON, one lock per step, exit codes.

/// A fixture catalog directory for the command tests: `app` must move before 1.31, `kms` has no
/// path (single-minor ranges, as kube-state-metrics publishes), `net-a` leaves for `net-b`.
fn command_catalog() -> TempDir {
    let dir = tempdir().child("catalog");
    std::fs::create_dir_all(dir.join("components")).unwrap();
    std::fs::write(dir.join("catalog.yaml"), CATALOG_YAML).unwrap();
    let image = |name: &str, v: &str| {
        format!("    images:\n      - reference: registry.example.org/{name}:v{v}\n")
    };
    let mut kube = kube_yaml(true, 1, &[]);
    for k in ["1.30.0", "1.31.0", "1.32.0"] {
        kube.push_str(&format!("  - version: {k}\n{}", image("kube-apiserver", k)));
    }
    std::fs::write(dir.join("components/kubernetes.yaml"), kube).unwrap();
    let files = [
        comp_yaml(
            "app",
            "",
            &[
                ("1.0.0", ">=1.29.0, <1.31.0", &image("app", "1.0.0")),
                ("1.1.0", ">=1.30.0, <1.33.0", &image("app", "1.1.0")),
            ],
        ),
        comp_yaml(
            "kms",
            "",
            &[
                ("2.0.0", ">=1.30.0, <1.31.0", &image("kms", "2.0.0")),
                ("2.1.0", ">=1.31.0, <1.32.0", &image("kms", "2.1.0")),
                ("2.2.0", ">=1.32.0, <1.33.0", &image("kms", "2.2.0")),
            ],
        ),
        comp_yaml(
            "net-a",
            "provides: [cni]\n",
            &[("1.0.0", ">=1.29.0, <1.32.0", &image("net-a", "1.0.0"))],
        ),
        comp_yaml(
            "net-b",
            "provides: [cni]\n",
            &[("2.0.0", ">=1.30.0, <1.33.0", &image("net-b", "2.0.0"))],
        ),
    ];
    for f in files {
        let name = f
            .lines()
            .find_map(|l| l.strip_prefix("name: "))
            .unwrap()
            .to_string();
        std::fs::write(dir.join(format!("components/{name}.yaml")), f).unwrap();
    }
    dir
}

fn run(dir: &std::path::Path, catalog: &std::path::Path, args: &[&str]) -> Run {
    let cat = catalog.display().to_string();
    let mut all = vec!["--catalog", cat.as_str()];
    all.extend_from_slice(args);
    bundle_in(dir, &all)
}

/// The old lock of the command tests: Kubernetes 1.30 with app, kms and net-a.
/// (app at its oldest version, which does not support 1.31; the request names app without a range)
fn old_lock(dir: &std::path::Path, catalog: &std::path::Path) {
    let r = run(
        dir,
        catalog,
        &[
            "solve",
            "--kubernetes",
            "~1.30",
            "--with",
            "app@=1.0.0",
            "--with",
            "kms",
            "--with",
            "net-a",
            "--with",
            "cni",
            "-o",
            "old.lock",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = dir.join("old.lock");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("- \"app@=1.0.0\"\n"), "{text}");
    std::fs::write(&path, text.replace("- \"app@=1.0.0\"\n", "- app\n")).unwrap();
}

#[test]
fn command_writes_one_lock_per_step_that_solve_reproduces() {
    let dir = tempdir();
    let cat = command_catalog();
    old_lock(&dir, &cat);
    let r = run(
        &dir,
        &cat,
        &[
            "plan",
            "--from",
            "old.lock",
            "--without",
            "net-a",
            "--with",
            "cni",
            "-o",
            "steps",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: no fully compatible path"),
        "{}",
        r.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(json["to"]["kubernetes"], "1.32.0");
    let steps = json["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["lock"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "01-before-kubernetes-1.31.lock",
            "02-kubernetes-1.31.0.lock",
            "03-before-kubernetes-1.32.lock",
            "04-kubernetes-1.32.0.lock",
        ]
    );
    // kms has no version for two minors at once: it moves with the control plane, marked
    let kms = &steps[1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "kms")
        .unwrap();
    assert_eq!(kms["reason"], "together");
    assert_eq!(kms["disruptive"], true);
    assert_eq!(kms["facts"][0]["source"], "https://example.org/kms");
    assert_eq!(steps[1]["phases"][0]["parts"][0], "kube-apiserver");
    assert_eq!(steps[1]["phases"][2]["runsOn"], "nodes");
    let mut listed: Vec<String> = std::fs::read_dir(dir.join("steps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert_eq!(listed[4], "plan.json");
    let old = Lock::parse(
        &std::fs::read_to_string(dir.join("old.lock")).unwrap(),
        "old",
    )
    .unwrap();
    for (i, name) in names.iter().enumerate() {
        let text = std::fs::read_to_string(dir.join("steps").join(name)).unwrap();
        let lock = Lock::parse(&text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(lock.kubernetes.to_string(), steps[i]["kubernetes"]);
        // unchanged components keep the old lock's entries byte for byte (digests included)
        for c in &lock.components {
            if let Some(o) = old
                .components
                .iter()
                .find(|o| o.name == c.name && o.version == c.version)
            {
                assert_eq!(o, c);
            }
            assert!(
                !c.images.is_empty() || c.name == "kubernetes",
                "{name}: {} has images",
                c.name
            );
        }
        // each step's lock is exactly what `bundle solve` makes of its own request
        let r = run(&dir.join("steps"), &cat, &["solve", "--locked", "-o", name]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
    // a second plan into the same directory replaces the step locks of the first
    std::fs::write(dir.join("steps/07-stale.lock"), "x").unwrap();
    let r = run(
        &dir,
        &cat,
        &[
            "plan",
            "--from",
            "old.lock",
            "--to",
            "steps/02-kubernetes-1.31.0.lock",
            "-o",
            "steps",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut listed: Vec<String> = std::fs::read_dir(dir.join("steps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "01-before-kubernetes-1.31.lock",
            "02-kubernetes-1.31.0.lock",
            "plan.json"
        ]
    );
}

#[test]
fn command_table_marks_what_moves_with_the_control_plane() {
    let dir = tempdir();
    let cat = command_catalog();
    old_lock(&dir, &cat);
    let r = run(
        &dir,
        &cat,
        &["plan", "--from", "old.lock", "--kubernetes", "~1.31"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"sha256:[0-9a-f]{12}", "sha256:[digest]");
    s.bind(|| insta::assert_snapshot!("plan_fixture_table", r.stdout));
}

#[test]
fn command_target_keeps_the_old_provider_where_it_fits() {
    // a fresh solve would pick net-a for `cni` (name order); the old platform runs net-b
    let dir = tempdir();
    let cat = command_catalog();
    let r = run(
        &dir,
        &cat,
        &[
            "solve",
            "--kubernetes",
            "~1.30",
            "--with",
            "cni",
            "--with",
            "net-b",
            "-o",
            "old.lock",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(dir.join("old.lock")).unwrap();
    std::fs::write(dir.join("old.lock"), text.replace("    - net-b\n", "")).unwrap();
    let fresh = run(
        &dir,
        &cat,
        &[
            "solve",
            "--kubernetes",
            "~1.31",
            "--with",
            "cni",
            "-o",
            "fresh.lock",
        ],
    );
    assert!(fresh.stdout.contains("net-a"), "{}", fresh.stdout);
    let r = run(
        &dir,
        &cat,
        &[
            "plan",
            "--from",
            "old.lock",
            "--kubernetes",
            "~1.31",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let target: Vec<&str> = json["to"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(target, ["kubernetes", "net-b"]);
    assert_eq!(json["to"]["kubernetes"], "1.31.0");
}

#[test]
fn command_refuses_what_it_cannot_plan() {
    let dir = tempdir();
    let cat = command_catalog();
    old_lock(&dir, &cat);
    // request flags and a target lock exclude each other
    let r = run(
        &dir,
        &cat,
        &[
            "plan", "--from", "old.lock", "--to", "old.lock", "--with", "app",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    // a target older than the old platform
    let r = run(
        &dir,
        &cat,
        &[
            "solve",
            "--kubernetes",
            "~1.30",
            "--with",
            "app",
            "--as-of",
            "2026-11-27",
            "-o",
            "older.lock",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(dir.join("old.lock")).unwrap();
    std::fs::write(dir.join("newer.lock"), text.replace("1.30.0", "1.31.0")).unwrap();
    let r = run(
        &dir,
        &cat,
        &["plan", "--from", "newer.lock", "--to", "older.lock"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("older than the old platform's 1.31.0"),
        "{}",
        r.stderr
    );
    // a lock from another catalog, with a line this one does not have
    std::fs::write(
        dir.join("odd.lock"),
        text.replace("version: 1.0.0", "version: 0.9.0"),
    )
    .unwrap();
    let r = run(&dir, &cat, &["plan", "--from", "odd.lock"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("hint: the lock was written from another catalog"),
        "{}",
        r.stderr
    );
    // a target that no platform satisfies: explained like `solve` does
    let r = run(
        &dir,
        &cat,
        &["plan", "--from", "old.lock", "--kubernetes", ">=1.40"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("no platform satisfies the request"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// The real catalog.

#[test]
fn real_catalog_plan_from_kubernetes_1_31_to_the_newest() {
    let dir = tempdir();
    let old = fixture("plan/k131.lock");
    let r = bundle_in(
        &dir,
        &["plan", "--from", old.to_str().unwrap(), "-o", "steps"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // sources are left out: research on the catalog re-reads them often; what moves, when and
    // why (the facts' text) is what this snapshot holds
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"sha256:[0-9a-f]{12}", "sha256:[digest]");
    s.add_filter(r"(?m)^      source: .*$", "      source: [source]");
    s.bind(|| insta::assert_snapshot!("plan_real_catalog_from_1_31", r.stdout));
    // every step's lock reads back, and every step's platform keeps the catalog's facts
    let cat = Catalog::embedded().unwrap();
    let json = std::fs::read_to_string(dir.join("steps/plan.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut minor = 31;
    for step in json["steps"].as_array().unwrap() {
        let name = step["lock"].as_str().unwrap();
        let text = std::fs::read_to_string(dir.join("steps").join(name)).unwrap();
        let lock = Lock::parse(&text, name).unwrap();
        let platform: Vec<(String, Version)> = lock
            .components
            .iter()
            .map(|c| (c.name.clone(), c.version.clone()))
            .collect();
        holds(&cat, &platform).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = lock.kubernetes.minor();
        assert!(
            m == minor || m == minor + 1,
            "{name}: Kubernetes {}",
            lock.kubernetes
        );
        minor = m;
    }
}
