//! Solver benchmarks: the default profile on the real catalog, and synthetic catalogs of
//! components × versions with dense constraints, satisfiable and not.
//!
//! `cargo bench --bench solve`; results in benches/README.md.

use std::collections::BTreeMap;
use std::hint::black_box;

use bundle::catalog::{
    Artifacts, Capability, Catalog, Component, Constraint, KubernetesRelation, Lifecycle, Release,
    WithSpec,
};
use bundle::solver::{self, Request};
use bundle::types::{Date, Version, VersionReq};
use criterion::{Criterion, criterion_group, criterion_main};

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn constraint(name: String, range: String) -> Constraint {
    Constraint {
        name,
        range: VersionReq::parse_strict(&range).unwrap(),
        source: Some("synthetic".into()),
        note: None,
        line: 0,
    }
}

/// `n` components × `m` versions, plus Kubernetes with 8 minors. Every version requires a window
/// of Kubernetes minors and a window of versions of two lower-numbered components (dense, acyclic).
/// With `unsat`, the last component additionally requires a Kubernetes minor that no version of
/// component 0 supports beside it.
pub fn synthetic(n: usize, m: usize, unsat: bool) -> Catalog {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let lifecycle = || Lifecycle {
        released: None,
        end_of_life: None,
        retired: None,
        source: None,
        line: 0,
        ..Lifecycle::default()
    };
    let release = |version: Version, requires: Vec<Constraint>| Release {
        version,
        line: 0,
        lifecycle: lifecycle(),
        requires,
        constrains: vec![],
        conflicts: vec![],
        images: vec![],
        kubernetes: KubernetesRelation::Unstated,
        artifacts: Artifacts::default(),
    };
    let mut comps = vec![Component {
        name: "kubernetes".into(),
        description: String::new(),
        homepage: String::new(),
        provides: vec![],
        notes: vec![],
        support_policy: None,
        upgrade: Default::default(),
        versions: (0..8)
            .map(|k| release(Version::new(1, 30 + k, 0), vec![]))
            .collect(),
        file: String::new(),
    }];
    // a planted solution keeps the satisfiable case satisfiable: Kubernetes 1.33 and version
    // `hidden[c]` of each component meet each other's constraints; other versions are random
    let mut hidden = Vec::with_capacity(n);
    for c in 0..n {
        hidden.push(rng.below(m as u64));
        let mut versions = Vec::new();
        for v in 0..m {
            let planted = v as u64 == hidden[c];
            let width = 2 + rng.below(3);
            let lo = if planted {
                3 - rng.below(width.min(4))
            } else {
                rng.below(6)
            };
            let mut requires = vec![constraint(
                "kubernetes".into(),
                format!(">=1.{}.0, <1.{}.0", 30 + lo, 30 + lo + width),
            )];
            if c > 0 {
                for _ in 0..2 {
                    let t = rng.below(c as u64) as usize;
                    let span = 1 + rng.below(m as u64 / 2 + 1);
                    let a = if planted {
                        hidden[t].saturating_sub(rng.below(span))
                    } else {
                        rng.below(m as u64)
                    };
                    requires.push(constraint(
                        format!("c{t:04}"),
                        format!(">={a}.0.0, <{}.0.0", a + span),
                    ));
                }
            }
            if unsat && c == n - 1 {
                requires.push(constraint("c0000".into(), format!(">={m}.0.0")));
            }
            versions.push(release(Version::new(v as u64, 0, 0), requires));
        }
        comps.push(Component {
            name: format!("c{c:04}"),
            description: String::new(),
            homepage: String::new(),
            provides: vec![],
            notes: vec![],
            support_policy: None,
            upgrade: Default::default(),
            versions,
            file: String::new(),
        });
    }
    Catalog::from_parts(Vec::<Capability>::new(), comps)
}

fn request_all(catalog: &Catalog) -> Request {
    Request {
        kubernetes: VersionReq::any(),
        with: catalog
            .components
            .iter()
            .filter(|c| c.name != "kubernetes")
            .map(|c| WithSpec {
                name: c.name.clone(),
                range: VersionReq::any(),
            })
            .collect(),
        without: vec![],
        allow_eol: false,
        allow_untested: false,
        as_of: Date::new(2026, 11, 26).unwrap(),
    }
}

fn benches(c: &mut Criterion) {
    let real = Catalog::embedded().expect("embedded catalog");
    let spec = real
        .profile("default")
        .expect("default profile")
        .spec
        .clone();
    let req = Request::from_spec(&spec, Date::new(2026, 11, 26).unwrap());
    let mut g = c.benchmark_group("solve");
    g.sample_size(20);
    g.bench_function("default profile, real catalog", |b| {
        b.iter(|| solver::solve(black_box(&real), black_box(&req), &BTreeMap::new()).unwrap())
    });
    g.bench_function("load embedded catalog", |b| {
        b.iter(|| Catalog::embedded().unwrap())
    });
    // The large synthetic sizes take minutes per iteration (see benches/README.md): opt in.
    let sizes: &[(usize, usize)] = if std::env::var_os("BUNDLE_BENCH_LARGE").is_some() {
        &[(100, 20), (500, 50), (1000, 50)]
    } else {
        &[(100, 20)]
    };
    for &(n, m) in sizes {
        for unsat in [false, true] {
            let cat = synthetic(n, m, unsat);
            let req = request_all(&cat);
            let label = format!("{n}x{m} {}", if unsat { "unsat" } else { "sat" });
            g.sample_size(10);
            g.bench_function(&label, |b| {
                b.iter(|| {
                    let r = solver::solve(black_box(&cat), black_box(&req), &BTreeMap::new());
                    assert_eq!(r.is_ok(), !unsat);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(solve_benches, benches);
criterion_main!(solve_benches);
