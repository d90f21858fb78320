//! The solver against a brute-force oracle over small random catalogs.
//!
//! For every random catalog and request: `solve` and exhaustive search agree on satisfiable vs
//! not; a returned platform satisfies every constraint; every component in it is there because the
//! request or another component needs it; and no decision of the policy could have been newer
//! (or an earlier provider in name order) given the decisions taken before it.

use std::collections::BTreeMap;

use bundle::catalog::{
    Artifacts, Capability, Catalog, Component, Conflict, Constraint, KubernetesRelation, Lifecycle,
    Release, Statement, WithSpec,
};
use bundle::solver::{self, Request, SolveError, Step};
use bundle::types::{Date, Version, VersionReq};
use proptest::prelude::*;

/// A tiny deterministic generator, so one `u64` describes a whole case (and shrinks to it).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const CAP: &str = "cap";
const NAMES: [&str; 4] = ["kubernetes", "c1", "c2", "c3"];

fn range(rng: &mut Rng, kube: bool) -> VersionReq {
    let v = |rng: &mut Rng| {
        if kube {
            format!("1.{}.0", rng.below(4))
        } else {
            format!("{}.0.0", 1 + rng.below(3))
        }
    };
    let text = match rng.below(5) {
        0 => "*".to_string(),
        1 => format!(">={}", v(rng)),
        2 => format!("<{}", v(rng)),
        3 => format!("={}", v(rng)),
        _ => {
            let (a, b) = (v(rng), v(rng));
            format!(">={a}, <={b}")
        }
    };
    VersionReq::parse_strict(&text).unwrap()
}

fn constraint(name: &str, range: VersionReq) -> Constraint {
    Constraint {
        name: name.to_string(),
        range,
        source: Some("test".into()),
        note: None,
        line: 0,
    }
}

fn catalog(rng: &mut Rng) -> Catalog {
    let mut comps = Vec::new();
    let dead = "2020-01-01".parse::<Date>().unwrap();
    for (ci, name) in NAMES.iter().enumerate() {
        let kube = ci == 0;
        let count = 1 + rng.below(3) as usize;
        let mut versions = Vec::new();
        for vi in 0..count {
            let version = if kube {
                Version::new(1, vi as u64 + rng.below(2) * 3, 0)
            } else {
                Version::new(vi as u64 + 1, 0, 0)
            };
            if versions.iter().any(|r: &Release| r.version == version) {
                continue;
            }
            let mut requires = Vec::new();
            let mut constrains = Vec::new();
            let mut conflicts = Vec::new();
            for _ in 0..rng.below(3) {
                let t = rng.below(5) as usize;
                if t == ci {
                    continue;
                }
                match (t, rng.below(3)) {
                    (4, _) => requires.push(constraint(CAP, VersionReq::any())),
                    (t, 0) => requires.push(constraint(NAMES[t], range(rng, t == 0))),
                    (t, 1) => constrains.push(constraint(NAMES[t], range(rng, t == 0))),
                    (t, _) if t != 0 => conflicts.push(Conflict {
                        name: NAMES[t].to_string(),
                        source: Some("test".into()),
                        note: None,
                        line: 0,
                    }),
                    _ => {}
                }
            }
            versions.push(Release {
                version,
                line: 0,
                lifecycle: Lifecycle {
                    released: None,
                    end_of_life: rng.chance(20).then_some(dead),
                    retired: None,
                    source: Some("test".into()),
                    line: 0,
                    ..Lifecycle::default()
                },
                requires,
                constrains,
                conflicts,
                images: vec![],
                // untested: never chosen unless the request allows untested versions
                kubernetes: if !kube && rng.chance(20) {
                    KubernetesRelation::Untested(Statement {
                        note: "no published range".into(),
                        source: "test".into(),
                        line: 0,
                    })
                } else {
                    KubernetesRelation::Unstated
                },
                artifacts: Artifacts::default(),
            });
        }
        comps.push(Component {
            name: name.to_string(),
            description: String::new(),
            homepage: String::new(),
            provides: if !kube && rng.chance(50) {
                vec![CAP.to_string()]
            } else {
                vec![]
            },
            notes: vec![],
            support_policy: None,
            upgrade: Default::default(),
            signing: vec![],
            versions,
            file: format!("components/{name}.yaml"),
        });
    }
    Catalog::from_parts(
        vec![Capability {
            name: CAP.into(),
            description: String::new(),
        }],
        comps,
    )
}

fn request(rng: &mut Rng) -> Request {
    let mut with = Vec::new();
    let mut without = Vec::new();
    for n in ["c1", "c2", "c3", CAP] {
        match rng.below(4) {
            0 => with.push(WithSpec {
                name: n.into(),
                range: if n != CAP && rng.chance(40) {
                    range(rng, false)
                } else {
                    VersionReq::any()
                },
            }),
            1 if n != CAP => without.push(n.to_string()),
            _ => {}
        }
    }
    Request {
        kubernetes: if rng.chance(50) {
            range(rng, true)
        } else {
            VersionReq::any()
        },
        with,
        without,
        allow_eol: rng.chance(30),
        allow_untested: rng.chance(30),
        as_of: "2025-01-01".parse().unwrap(),
    }
}

/// A candidate platform: per component, the chosen version index.
type Assign = Vec<Option<usize>>;

fn all_assignments(cat: &Catalog) -> Vec<Assign> {
    let mut out: Vec<Assign> = vec![vec![]];
    for c in &cat.components {
        let mut next = Vec::new();
        for a in &out {
            for choice in std::iter::once(None).chain((0..c.versions.len()).map(Some)) {
                let mut b = a.clone();
                b.push(choice);
                next.push(b);
            }
        }
        out = next;
    }
    out
}

fn version<'a>(cat: &'a Catalog, a: &Assign, name: &str) -> Option<&'a Version> {
    let i = cat.component_index(name)?;
    a[i].map(|v| &cat.components[i].versions[v].version)
}

fn providers_present(cat: &Catalog, a: &Assign, cap: &str) -> bool {
    cat.components
        .iter()
        .enumerate()
        .any(|(i, c)| a[i].is_some() && c.provides.iter().any(|p| p == cap))
}

fn valid(cat: &Catalog, req: &Request, a: &Assign) -> bool {
    let Some(k) = version(cat, a, "kubernetes") else {
        return false;
    };
    if !req.kubernetes.matches(k) {
        return false;
    }
    for w in &req.with {
        let ok = match cat.component(&w.name) {
            Some(_) => version(cat, a, &w.name).is_some_and(|v| w.range.matches(v)),
            None => providers_present(cat, a, &w.name),
        };
        if !ok {
            return false;
        }
    }
    if req.without.iter().any(|n| version(cat, a, n).is_some()) {
        return false;
    }
    for (i, c) in cat.components.iter().enumerate() {
        let Some(v) = a[i] else { continue };
        let r = &c.versions[v];
        if !req.allow_eol && r.lifecycle.dead_on(req.as_of).is_some() {
            return false;
        }
        if !req.allow_untested && r.kubernetes.is_untested() {
            return false;
        }
        for x in &r.requires {
            let ok = match cat.component(&x.name) {
                Some(_) => version(cat, a, &x.name).is_some_and(|v| x.range.matches(v)),
                None => providers_present(cat, a, &x.name),
            };
            if !ok {
                return false;
            }
        }
        for x in &r.constrains {
            if version(cat, a, &x.name).is_some_and(|v| !x.range.matches(v)) {
                return false;
            }
        }
        if r.conflicts
            .iter()
            .any(|x| version(cat, a, &x.name).is_some())
        {
            return false;
        }
    }
    true
}

/// Every present component is asked for, provides an asked-for capability, or is required by
/// another present component.
fn justified(cat: &Catalog, req: &Request, a: &Assign) -> bool {
    cat.components.iter().enumerate().all(|(i, c)| {
        if a[i].is_none() || c.name == "kubernetes" {
            return true;
        }
        let asked = req
            .with
            .iter()
            .any(|w| w.name == c.name || c.provides.contains(&w.name));
        let needed = cat.components.iter().enumerate().any(|(j, o)| {
            j != i
                && a[j].is_some_and(|v| {
                    o.versions[v]
                        .requires
                        .iter()
                        .any(|x| x.name == c.name || c.provides.contains(&x.name))
                })
        });
        asked || needed
    })
}

fn check(seed: u64) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let cat = catalog(&mut rng);
    let req = request(&mut rng);
    let all = all_assignments(&cat);
    let exists = all.iter().any(|a| valid(&cat, &req, a));
    let result = solver::solve(&cat, &req, &BTreeMap::new());
    let sol = match result {
        Err(SolveError::Unsatisfiable(_)) => {
            prop_assert!(
                !exists,
                "solve says unsatisfiable, brute force found a platform"
            );
            return Ok(());
        }
        Err(SolveError::Request(e)) => {
            return Err(TestCaseError::fail(format!("request refused: {e}")));
        }
        Ok(s) => s,
    };
    prop_assert!(exists);
    let assign: Assign = cat
        .components
        .iter()
        .map(|c| {
            sol.version_of(&c.name)
                .map(|v| c.versions.iter().position(|r| &r.version == v).unwrap())
        })
        .collect();
    prop_assert!(
        valid(&cat, &req, &assign),
        "the returned platform breaks a constraint"
    );
    prop_assert!(
        justified(&cat, &req, &assign),
        "a component was added that nothing needs"
    );
    // same input, same answer
    let again = solver::solve(&cat, &req, &BTreeMap::new()).unwrap();
    prop_assert_eq!(&again.components, &sol.components);
    // policy: no decision could have been better given the ones before it
    // decisions so far: component index and its version (None: just present)
    let mut prefix: Vec<(usize, Option<Version>)> = Vec::new();
    let holds = |a: &Assign, prefix: &[(usize, Option<Version>)]| {
        prefix.iter().all(|(i, v)| match (a[*i], v) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(x), Some(v)) => &cat.components[*i].versions[x].version == v,
        })
    };
    for step in &sol.steps {
        let fits_prefix = |a: &Assign| valid(&cat, &req, a) && holds(a, &prefix);
        match step {
            Step::Newest { name, version: v } | Step::Kept { name, version: v } => {
                let better = all
                    .iter()
                    .any(|a| fits_prefix(a) && version(&cat, a, name).is_some_and(|x| x > v));
                prop_assert!(
                    !better,
                    "{} {} is not the newest that fits after {:?}",
                    name,
                    v,
                    sol.steps
                );
                prefix.push((cat.component_index(name).unwrap(), Some(v.clone())));
            }
            Step::Provider { capability, name } => {
                for p in cat.providers(capability) {
                    if p.name.as_str() >= name.as_str() {
                        break;
                    }
                    let earlier = all
                        .iter()
                        .any(|a| fits_prefix(a) && version(&cat, a, &p.name).is_some());
                    prop_assert!(!earlier, "provider {} fits but {} was chosen", p.name, name);
                }
                prefix.push((cat.component_index(name).unwrap(), None));
            }
        }
    }
    // every component in the platform was settled by a step
    for c in &sol.components {
        prop_assert!(
            sol.steps.iter().any(|s| matches!(s, Step::Newest { name, .. } | Step::Kept { name, .. } if name == &c.name)),
            "{} was never settled", c.name
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn solve_agrees_with_brute_force(seed in any::<u64>()) {
        check(seed)?;
    }
}

#[test]
fn explanations_exist_for_every_unsatisfiable_case() {
    let mut rng = Rng(0x5eed);
    let mut unsat = 0;
    let mut untested = 0;
    for _ in 0..200 {
        let seed = rng.next();
        let mut r = Rng(seed | 1);
        let cat = catalog(&mut r);
        let req = request(&mut r);
        if let Err(SolveError::Unsatisfiable(ex)) = solver::solve(&cat, &req, &BTreeMap::new()) {
            unsat += 1;
            // the core is a real conflict: solving just the core fails too
            let core = Request {
                kubernetes: ex
                    .core
                    .iter()
                    .find_map(|i| match i {
                        solver::RequestItem::Kubernetes(k) => Some(k.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(VersionReq::any),
                with: ex
                    .core
                    .iter()
                    .filter_map(|i| match i {
                        solver::RequestItem::With(w) => Some(w.clone()),
                        _ => None,
                    })
                    .collect(),
                without: ex
                    .core
                    .iter()
                    .filter_map(|i| match i {
                        solver::RequestItem::Without(n) => Some(n.clone()),
                        _ => None,
                    })
                    .collect(),
                allow_eol: req.allow_eol,
                allow_untested: req.allow_untested,
                as_of: req.as_of,
            };
            let core_req = core;
            let core_fails = solver::solve(&cat, &core_req, &BTreeMap::new()).is_err();
            let lax_fails = solver::solve(
                &cat,
                &Request {
                    allow_eol: true,
                    allow_untested: true,
                    ..core_req.clone()
                },
                &BTreeMap::new(),
            )
            .is_err();
            assert!(
                core_fails || lax_fails,
                "the core of seed {seed} is not a conflict"
            );
            assert!(
                !ex.facts.is_empty(),
                "seed {seed}: no facts for {req:?}\n{ex:#?}\n{cat:#?}"
            );
            // allowing untested versions alone would make it fit: the explanation names one
            if ex.untested_is_reason && !ex.eol_is_reason {
                untested += 1;
                assert!(
                    ex.facts.iter().any(|f| f.text.contains("untested"))
                        && ex.hints.iter().any(|h| h.contains("--allow-untested")),
                    "seed {seed}: untested versions are the reason but not named\n{ex:#?}\n{cat:#?}"
                );
            }
        }
    }
    assert!(
        unsat > 10 && untested > 2,
        "the generator makes enough unsatisfiable cases ({unsat}, {untested} for untested versions)"
    );
}

/// A random lock for `cat`: some components at one of their versions, some at a version the
/// catalog does not have.
fn lock(rng: &mut Rng, cat: &Catalog) -> BTreeMap<String, Version> {
    let mut out = BTreeMap::new();
    for c in &cat.components {
        if rng.chance(50) && !c.versions.is_empty() {
            let v = if rng.chance(85) {
                c.versions[rng.below(c.versions.len() as u64) as usize]
                    .version
                    .clone()
            } else {
                Version::new(99, 0, 0)
            };
            out.insert(c.name.clone(), v);
        }
    }
    out
}

/// The search and the reference (one decision at a time, each checked by `resolvo`) take the same
/// decisions, with and without a lock to keep versions from, and agree on unsatisfiable requests.
#[test]
fn search_takes_the_same_decisions_as_settling_one_at_a_time() {
    let mut rng = Rng(0x0dd5_eed5);
    let (mut solved, mut kept) = (0, 0);
    for _ in 0..400 {
        let seed = rng.next();
        let mut r = Rng(seed | 1);
        let cat = catalog(&mut r);
        let req = request(&mut r);
        let prefer = lock(&mut r, &cat);
        for prefer in [BTreeMap::new(), prefer] {
            let fast = solver::solve(&cat, &req, &prefer);
            let reference = solver::solve_by_checks(&cat, &req, &prefer);
            match (fast, reference) {
                (Ok(a), Ok(b)) => {
                    solved += 1;
                    kept += a
                        .steps
                        .iter()
                        .filter(|s| matches!(s, Step::Kept { .. }))
                        .count();
                    assert_eq!(a.components, b.components, "seed {seed}, lock {prefer:?}");
                    assert_eq!(a.steps, b.steps, "seed {seed}, lock {prefer:?}");
                }
                (Err(SolveError::Unsatisfiable(_)), Err(SolveError::Unsatisfiable(_))) => {}
                (a, b) => panic!(
                    "seed {seed}: search {:?}, reference {:?}",
                    a.map(|s| s.components),
                    b.map(|s| s.components)
                ),
            }
        }
    }
    assert!(
        solved > 200 && kept > 50,
        "enough cases ({solved} solved, {kept} kept)"
    );
}
