//! The policy's answers on synthetic catalogs of hundreds of components, proven by an independent
//! SAT solver (CaDiCaL, Debian package `cadical`), where the brute-force oracle (tests/it/oracle.rs)
//! cannot go.
//!
//! An answer is the policy's exactly when it meets every fact and no platform is preferred to it:
//! none that, for some component in the policy's order, has every earlier component at its chosen
//! version and this one at a version the policy prefers (the version kept from the lock, then
//! newer ones). That question goes to CaDiCaL as one formula, which it must prove unsatisfiable;
//! "nothing fits" must be unsatisfiable as a whole.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bundle::catalog::Catalog;
use bundle::solver::{self, Solution, SolveError};
use bundle::types::Version;

use crate::support::cnf::{self, Cnf};
use crate::support::synthetic::{self, Shape};
use crate::support::{require, tempdir};

/// CaDiCaL on `cnf` with `extra` clauses: the true variables of a model, or `None` when it proves
/// the clauses unsatisfiable.
fn solve_cnf(cnf: &Cnf, extra: &[Vec<i32>], file: &Path) -> Option<Vec<i32>> {
    std::fs::write(file, cnf.dimacs(extra)).expect("write the CNF");
    let out = Command::new("cadical")
        .arg("-q")
        .arg(file)
        .output()
        .expect("run cadical");
    match out.status.code() {
        Some(10) => Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("v "))
                .flat_map(|l| {
                    l.split_whitespace()
                        .map(|x| x.parse::<i32>().expect("a literal"))
                        .collect::<Vec<_>>()
                })
                .filter(|l| *l > 0)
                .collect(),
        ),
        Some(20) => None,
        other => panic!(
            "cadical {}: exit {other:?}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Every fact of every chosen version holds for the chosen versions.
fn assert_meets_every_fact(catalog: &Catalog, sol: &Solution, label: &str) {
    for c in &catalog.components {
        let v = sol
            .version_of(&c.name)
            .unwrap_or_else(|| panic!("{label}: {} is not in the answer", c.name));
        let release = c.release(v).expect("a version of the catalog");
        for need in &release.requires {
            let got = sol.version_of(&need.name);
            assert!(
                got.is_some_and(|g| need.range.matches(g)),
                "{label}: {} {v} requires {} {}, the answer has {got:?}",
                c.name,
                need.name,
                need.range
            );
        }
    }
}

/// The versions of a component the policy prefers to `chosen`: the version kept from the lock,
/// then newer ones (`versions` newest first).
fn preferred(versions: &[(Version, i32)], chosen: &Version, kept: Option<&Version>) -> Vec<i32> {
    let pos = versions
        .iter()
        .position(|x| &x.0 == chosen)
        .expect("a version of the catalog");
    let kept = kept.and_then(|k| versions.iter().find(|x| &x.0 == k));
    match kept {
        Some(k) if &k.0 == chosen => vec![],
        Some(k) => std::iter::once(k.1)
            .chain(versions[..pos].iter().map(|x| x.1).filter(|x| *x != k.1))
            .collect(),
        None => versions[..pos].iter().map(|x| x.1).collect(),
    }
}

/// Solves `catalog` (every component requested, `lock` kept where it fits) and has CaDiCaL prove
/// the answer is the policy's.
fn certify(catalog: &Catalog, lock: &BTreeMap<String, Version>, label: &str) {
    let mut cnf = cnf::encode(catalog);
    let dir = tempdir();
    let request = synthetic::request_all(catalog);
    let sol = match solver::solve(catalog, &request, lock) {
        Err(SolveError::Unsatisfiable(_)) => {
            assert!(
                solve_cnf(&cnf, &[], &dir.as_ref().join("all.cnf")).is_none(),
                "{label}: the solver says nothing fits, CaDiCaL finds a platform"
            );
            return;
        }
        Err(e) => panic!("{label}: {e}"),
        Ok(sol) => sol,
    };
    assert_meets_every_fact(catalog, &sol, label);
    // One question: is there a platform the policy prefers to the answer? `e_k`: every component
    // before position k is at its chosen version; `g_k`: so is everything before k, and component
    // k takes a version the policy prefers to its chosen one.
    let mut extra: Vec<Vec<i32>> = Vec::new();
    let mut fresh = || {
        cnf.vars += 1;
        cnf.vars
    };
    let mut e = fresh();
    extra.push(vec![e]);
    let mut some_g = Vec::new();
    let mut chosen_vars = Vec::new();
    for (name, versions) in &cnf.order {
        let chosen = sol.version_of(name).expect("every component is chosen");
        let better = preferred(versions, chosen, lock.get(name));
        if !better.is_empty() {
            let g = fresh();
            extra.push(vec![-g, e]);
            extra.push(std::iter::once(-g).chain(better).collect());
            some_g.push(g);
        }
        let x = versions.iter().find(|v| &v.0 == chosen).expect("chosen").1;
        chosen_vars.push((name.clone(), x));
        let next = fresh();
        extra.push(vec![-next, e]);
        extra.push(vec![-next, x]);
        e = next;
    }
    assert!(
        some_g.len() > cnf.order.len() / 4,
        "{label}: only {} of {} components have a version the policy prefers; the case proves little",
        some_g.len(),
        cnf.order.len()
    );
    extra.push(some_g);
    if let Some(model) = solve_cnf(&cnf, &extra, &dir.as_ref().join("preferred.cnf")) {
        let first = chosen_vars
            .iter()
            .find(|(_, x)| !model.contains(x))
            .map(|(name, _)| name.as_str());
        panic!(
            "{label}: CaDiCaL finds a platform the policy prefers to the answer; the first \
             component where it differs: {first:?}"
        );
    }
}

/// A lock to keep: every third component at its version in a platform CaDiCaL finds (any
/// platform, not the policy's: some of it fits next to the policy's choices and some does not),
/// every fifth other one at its oldest version (which rarely fits).
fn some_lock(catalog: &Catalog) -> BTreeMap<String, Version> {
    let cnf = cnf::encode(catalog);
    let dir = tempdir();
    let model = solve_cnf(&cnf, &[], &dir.as_ref().join("any.cnf")).expect("a platform");
    let mut lock = BTreeMap::new();
    for (i, (name, versions)) in cnf.order.iter().enumerate() {
        let v = if i % 3 == 1 {
            versions.iter().find(|v| model.contains(&v.1))
        } else if i % 5 == 2 {
            versions.last()
        } else {
            None
        };
        if let Some((v, _)) = v {
            lock.insert(name.clone(), v.clone());
        }
    }
    lock
}

#[test]
fn the_policy_answer_on_hundreds_of_components_is_proven_by_cadical() {
    if !require(
        "cadical",
        "cadical",
        "the_policy_answer_on_hundreds_of_components_is_proven_by_cadical",
    ) {
        return;
    }
    // Shape `any` is left out: near its threshold even CaDiCaL needs seconds to find any platform
    // (benches/README.md, "peer").
    for (n, m, shape) in [(300, 40, Shape::Lower), (300, 40, Shape::Planted)] {
        let catalog = synthetic::synthetic(n, m, false, shape);
        certify(&catalog, &BTreeMap::new(), &format!("{n}×{m} {shape:?}"));
        certify(
            &catalog,
            &some_lock(&catalog),
            &format!("{n}×{m} {shape:?} with a lock"),
        );
    }
    let catalog = synthetic::synthetic(300, 40, true, Shape::Lower);
    certify(&catalog, &BTreeMap::new(), "300×40 Lower unsatisfiable");
}
