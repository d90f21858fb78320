//! The compiled catalog the solver searches (each fact of each release as the set of the other
//! component's versions it allows, computed by binary search over sorted versions) against the
//! facts as written, asked version by version with `VersionReq::matches`: on the real catalog, on
//! the benchmarks' synthetic catalogs of every shape, and on one whose ranges use every operator
//! and whose releases also constrain and conflict.

use bundle::catalog::{Catalog, Conflict, Constraint};
use bundle::solver;
use bundle::types::VersionReq;

use crate::support::synthetic::{self, Shape};

type Fact = (usize, usize, usize, Vec<bool>);

/// The facts of `catalog` read the plain way: per release and component named, the intersection of
/// what each `requires` (its range), `constrains` (its range, or absence) and `conflicts`
/// (absence only) allows.
fn expected(catalog: &Catalog) -> Vec<Fact> {
    let mut out: Vec<Fact> = Vec::new();
    for (i, c) in catalog.components.iter().enumerate() {
        for (v, r) in c.versions.iter().enumerate() {
            let mut facts: Vec<Fact> = Vec::new();
            let mut restrict = |name: &str, range: Option<&VersionReq>, absent: bool| {
                let Some(t) = catalog.component_index(name).filter(|t| *t != i) else {
                    return;
                };
                let versions = &catalog.components[t].versions;
                let mut allowed: Vec<bool> = versions
                    .iter()
                    .map(|x| range.is_some_and(|range| range.matches(&x.version)))
                    .collect();
                allowed.push(absent);
                match facts.iter_mut().find(|f| f.2 == t) {
                    Some(f) => f.3.iter_mut().zip(&allowed).for_each(|(a, b)| *a &= b),
                    None => facts.push((i, v, t, allowed)),
                }
            };
            for x in &r.requires {
                restrict(&x.name, Some(&x.range), false);
            }
            for x in &r.constrains {
                restrict(&x.name, Some(&x.range), true);
            }
            for x in &r.conflicts {
                restrict(&x.name, None, true);
            }
            out.extend(facts);
        }
    }
    out.sort();
    out
}

fn compare(label: &str, catalog: &Catalog) {
    let want = expected(catalog);
    let mut got = solver::compiled_facts(catalog);
    got.sort();
    assert!(!want.is_empty(), "{label}: no facts to compare");
    assert_eq!(got.len(), want.len(), "{label}: number of facts");
    for (g, w) in got.iter().zip(&want) {
        let name = |c: usize| &catalog.components[c].name;
        assert_eq!(
            g,
            w,
            "{label}: {} {} about {}",
            name(w.0),
            catalog.components[w.0].versions[w.1].version,
            name(w.2)
        );
    }
}

#[test]
fn compiled_facts_are_the_facts_as_written_on_the_real_catalog() {
    compare(
        "real catalog",
        &Catalog::embedded().expect("embedded catalog"),
    );
}

#[test]
fn compiled_facts_are_the_facts_as_written_on_synthetic_catalogs() {
    for shape in [Shape::Lower, Shape::Any, Shape::Planted] {
        for unsat in [false, true] {
            let label = format!("60×20 {shape:?} unsat={unsat}");
            compare(&label, &synthetic::synthetic(60, 20, unsat, shape));
        }
    }
}

#[test]
fn compiled_facts_are_the_facts_as_written_with_every_operator() {
    let mut catalog = synthetic::synthetic(30, 12, false, Shape::Any);
    let forms = [
        "~{a}.0",
        "^{a}",
        "={a}.0.0",
        ">{a}.0.0",
        "<={a}.0.0",
        "<{a}.0.0",
        ">={a}.0.0, <{b}.0.0",
        "*",
        "={a}",
        "^{a}.0, <={b}.0.0",
        ">{b}.0.0, <{a}.0.0",
        "~{a}",
    ];
    let mut k = 0usize;
    let names: Vec<String> = catalog.components.iter().map(|c| c.name.clone()).collect();
    for c in &mut catalog.components {
        for r in &mut c.versions {
            for x in &mut r.requires {
                if x.name == "kubernetes" {
                    continue;
                }
                k += 1;
                let (a, b) = (k % 13, k % 13 + k % 5);
                let text = forms[k % forms.len()]
                    .replace("{a}", &a.to_string())
                    .replace("{b}", &b.to_string());
                x.range = VersionReq::parse_strict(&text).expect(&text);
            }
            let other = &names[1 + k % (names.len() - 1)];
            if *other != c.name && k.is_multiple_of(3) {
                r.constrains.push(Constraint {
                    name: other.clone(),
                    range: VersionReq::parse_strict(&format!(">={}.0.0", k % 9)).unwrap(),
                    source: None,
                    note: None,
                    line: 0,
                });
            }
            if *other != c.name && k % 7 == 1 {
                r.conflicts.push(Conflict {
                    name: other.clone(),
                    source: None,
                    note: None,
                    line: 0,
                });
            }
        }
    }
    compare("every operator", &catalog);
}
