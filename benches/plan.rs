//! `bundle plan` from a Kubernetes 1.29 platform (tests/fixtures/plan/k129.lock) to the newest
//! platform for its request, on the real (embedded) catalog: the planner alone, and the whole
//! process as a user runs it (`bundle plan --from k129.lock -o DIR`).
//!
//! `cargo bench --bench plan`; results in benches/README.md.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use bundle::catalog::Catalog;
use bundle::lock::Lock;
use bundle::solver::{self, Request};
use bundle::types::{Version, VersionReq};
use criterion::{Criterion, criterion_group, criterion_main};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan/k129.lock")
}

fn versions(components: impl Iterator<Item = (String, Version)>) -> BTreeMap<String, Version> {
    components.collect()
}

fn bench(c: &mut Criterion) {
    let old = Lock::parse(&std::fs::read_to_string(fixture()).unwrap(), "k129.lock").unwrap();
    let from = versions(
        old.components
            .iter()
            .map(|c| (c.name.clone(), c.version.clone())),
    );
    let keep: Vec<String> = old.request.with.iter().map(|w| w.name.clone()).collect();
    let request = Request {
        kubernetes: VersionReq::any(),
        with: old.request.with.clone(),
        without: old.request.without.clone(),
        allow_eol: false,
        allow_untested: false,
        as_of: "2026-11-27".parse().unwrap(),
    };
    let catalog = Catalog::embedded().unwrap();
    let target = solver::solve(&catalog, &request, &BTreeMap::new()).unwrap();
    let to = versions(
        target
            .components
            .iter()
            .map(|c| (c.name.clone(), c.version.clone())),
    );
    let plan = bundle::upgrade::plan(&catalog, &from, &to, &keep).unwrap();
    assert!(plan.stuck.is_none());
    eprintln!(
        "plan 1.29 → {}: {} steps",
        target.kubernetes,
        plan.steps.len()
    );

    c.bench_function("plan 1.29 → newest: planner only", |b| {
        b.iter(|| black_box(bundle::upgrade::plan(&catalog, &from, &to, &keep).unwrap()))
    });
    c.bench_function(
        "plan 1.29 → newest: catalog load + target solve + planner",
        |b| {
            b.iter(|| {
                let catalog = Catalog::embedded().unwrap();
                let target = solver::solve(&catalog, &request, &BTreeMap::new()).unwrap();
                let to = versions(
                    target
                        .components
                        .iter()
                        .map(|c| (c.name.clone(), c.version.clone())),
                );
                black_box(bundle::upgrade::plan(&catalog, &from, &to, &keep).unwrap())
            })
        },
    );

    let out = std::env::temp_dir().join(format!("bundle-bench-plan-{}", std::process::id()));
    let mut g = c.benchmark_group("whole process");
    g.sample_size(30);
    g.bench_function("bundle plan --from k129.lock -o DIR", |b| {
        b.iter(|| {
            let st = Command::new(env!("CARGO_BIN_EXE_bundle"))
                .args(["plan", "--from"])
                .arg(fixture())
                .arg("-o")
                .arg(&out)
                .env_remove("BUNDLE_CATALOG")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&out);
}

criterion_group!(benches, bench);
criterion_main!(benches);
