//! Solver benchmarks: the default profile on the real catalog, and synthetic catalogs of
//! components × versions with dense constraints, satisfiable and not.
//!
//! `cargo bench --bench solve`; results in benches/README.md.

use std::collections::BTreeMap;
use std::hint::black_box;

use bundle::catalog::Catalog;
use bundle::solver::{self, Request};
use bundle::types::Date;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

#[path = "support/synthetic.rs"]
#[allow(dead_code)] // `write_dir` is for the catalog writer (examples/synthetic_catalog.rs)
mod synthetic;
use synthetic::{Shape, request_all};

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
    // Every solve gets a fresh clone of the catalog (made outside the timing): a catalog keeps
    // its compiled form for later solves in the process, and each figure includes compiling it.
    g.bench_function("default profile, real catalog", |b| {
        b.iter_batched(
            || real.clone(),
            |cat| {
                let s = solver::solve(black_box(&cat), black_box(&req), &BTreeMap::new());
                (s.unwrap(), cat)
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("load embedded catalog", |b| {
        b.iter(|| Catalog::embedded().unwrap())
    });
    // The large synthetic sizes take seconds per iteration: opt in. 1000 × 50 `lower` is left out:
    // there the search gives up and the fallback takes many minutes per solve (a near-threshold
    // random instance; CaDiCaL needs 10-35 s to find any platform on it, benches/README.md session 7).
    let sizes: &[(usize, usize, Shape)] = if std::env::var_os("BUNDLE_BENCH_LARGE").is_some() {
        &[
            (100, 20, Shape::Lower),
            (500, 50, Shape::Lower),
            (500, 50, Shape::Planted),
            (1000, 50, Shape::Planted),
        ]
    } else {
        &[(100, 20, Shape::Lower)]
    };
    for &(n, m, shape) in sizes {
        for unsat in [false, true] {
            let cat = synthetic::synthetic(n, m, unsat, shape);
            let req = request_all(&cat);
            let label = format!(
                "{n}x{m} {} {}",
                format!("{shape:?}").to_lowercase(),
                if unsat { "unsat" } else { "sat" }
            );
            g.sample_size(10);
            g.bench_function(&label, |b| {
                b.iter_batched(
                    || cat.clone(),
                    |cat| {
                        let r = solver::solve(black_box(&cat), black_box(&req), &BTreeMap::new());
                        assert_eq!(r.is_ok(), !unsat);
                        cat
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(solve_benches, benches);
criterion_main!(solve_benches);
