//! `bundle solve` and `bundle why`: real-catalog facts, snapshots on a synthetic catalog, lock behaviour.

use crate::support::{Run, bundle, bundle_in, fixture, tempdir};

fn fixture_catalog() -> String {
    fixture("solve/catalog").display().to_string()
}

/// Runs `bundle --catalog <solve fixture> solve ARGS --as-of 2025-01-15` in `dir`.
fn solve_fixture(dir: &std::path::Path, args: &[&str]) -> Run {
    let cat = fixture_catalog();
    let mut all = vec!["--catalog", cat.as_str(), "solve", "--as-of", "2025-01-15"];
    all.extend_from_slice(args);
    bundle_in(dir, &all)
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"sha256:[0-9a-f]{12,64}", "sha256:[digest]");
    s.add_filter(r"bundle-it-[0-9]+-[0-9]+", "[tmp]");
    s
}

// ---------------------------------------------------------------------------------------------
// Snapshots on the synthetic catalog (stable: they change only when the output format changes).

#[test]
fn table_and_lock_snapshot() {
    let dir = tempdir();
    let r = solve_fixture(&dir, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    settings().bind(|| {
        insta::assert_snapshot!("fixture_table", r.stdout);
        insta::assert_snapshot!("fixture_lock", lock);
    });
}

#[test]
fn json_output_is_the_lock() {
    let dir = tempdir();
    let r = solve_fixture(&dir, &["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["kubernetes"], "1.32.3");
    let names: Vec<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "components are sorted");
    // the store is pinned by the control plane: it is there although nobody asked for it
    assert!(names.contains(&"store"));
    // the unrequested alternative provider is not added
    assert!(!names.contains(&"net-b"));
}

fn explanation(args: &[&str]) -> String {
    let dir = tempdir();
    let r = solve_fixture(&dir, args);
    assert_eq!(r.code, 1, "unsatisfiable is exit 1; stderr: {}", r.stderr);
    assert!(
        !dir.join("bundle.lock").exists(),
        "nothing is written when nothing fits"
    );
    r.stderr
}

#[test]
fn explanation_kubernetes_range_against_component() {
    let text = explanation(&[
        "--kubernetes",
        ">=1.32",
        "--with",
        "net-b",
        "--with",
        "gate",
        "--allow-eol",
    ]);
    assert!(text.contains("--kubernetes '>=1.32'"), "{text}");
    assert!(text.contains("--with gate"), "{text}");
    assert!(
        !text.contains("--with net-b\n"),
        "net-b is not part of the conflict: {text}"
    );
    assert!(
        text.contains("https://example.invalid/gate/supported-versions"),
        "{text}"
    );
    settings().bind(|| insta::assert_snapshot!("explain_k8s_range", text));
}

#[test]
fn explanation_retired_component() {
    let text = explanation(&["--with", "gate"]);
    assert!(text.contains("retired on 2024-12-01"), "{text}");
    assert!(text.contains("--allow-eol"), "{text}");
    assert!(text.contains("pick router"), "{text}");
    settings().bind(|| insta::assert_snapshot!("explain_retired", text));
}

#[test]
fn explanation_end_of_life_kubernetes_minor() {
    let text = explanation(&["--kubernetes", "~1.30"]);
    assert!(
        text.contains("end of life since 2024-12-31") || text.contains("end of life"),
        "{text}"
    );
    settings().bind(|| insta::assert_snapshot!("explain_eol_minor", text));
}

#[test]
fn explanation_conflicting_providers() {
    let text = explanation(&["--with", "net-a", "--with", "net-b"]);
    assert!(text.contains("cannot run beside net-b"), "{text}");
    assert!(
        text.contains("https://example.invalid/net-a/one-cni"),
        "{text}"
    );
    settings().bind(|| insta::assert_snapshot!("explain_conflict", text));
}

#[test]
fn explanation_constrains() {
    // dash 11 accepts only logstore >=2.0.0, and logstore 2.0 needs Kubernetes >=1.31.
    let text = explanation(&["--with", "dash@>=11", "--with", "logstore@<2"]);
    assert!(text.contains("allows logstore only in >=2.0.0"), "{text}");
    settings().bind(|| insta::assert_snapshot!("explain_constrains", text));
}

#[test]
fn explanation_indirect_through_kubernetes() {
    let text = explanation(&[
        "--with",
        "net-a@<2.1",
        "--with",
        "logstore@>=2",
        "--allow-eol",
    ]);
    assert!(text.contains("--with net-a@<2.1"), "{text}");
    assert!(text.contains("--with logstore@>=2"), "{text}");
    settings().bind(|| insta::assert_snapshot!("explain_indirect", text));
}

#[test]
fn explanation_without() {
    let text = explanation(&["--with", "ingress-controller", "--without", "router"]);
    assert!(text.contains("--without router"), "{text}");
    settings().bind(|| insta::assert_snapshot!("explain_without", text));
}

#[test]
fn explanation_as_json() {
    let dir = tempdir();
    let r = solve_fixture(
        &dir,
        &["--with", "net-a", "--with", "net-b", "--format", "json"],
    );
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["satisfiable"], false);
    assert_eq!(v["core"].as_array().unwrap().len(), 2);
    assert!(v["facts"][0]["source"].is_string());
}

// ---------------------------------------------------------------------------------------------
// Untested versions (mesh 1.1.0 states `kubernetes: {status: untested}`; probe needs it).

#[test]
fn untested_versions_are_left_out_unless_allowed() {
    let dir = tempdir();
    // mesh 1.0.0 runs on Kubernetes <1.32 only: leaving out the untested 1.1.0 costs the newest
    // Kubernetes, and the solver pays it
    let r = solve_fixture(&dir, &["--with", "mesh"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    assert!(lock.contains("kubernetes: 1.31.2"), "{lock}");
    assert!(
        lock.contains("- name: mesh\n    version: 1.0.0\n"),
        "{lock}"
    );
    assert!(!lock.contains("untested"), "{lock}");
    // why: the newer version is untested, with the statement's source
    let cat = fixture_catalog();
    let why = bundle_in(&dir, &["--catalog", &cat, "why", "mesh"]);
    assert_eq!(why.code, 0, "{}", why.stderr);
    assert!(
        why.stdout
            .contains("mesh 1.1.0 is untested: upstream publishes no Kubernetes range for it"),
        "{}",
        why.stdout
    );
    assert!(
        why.stdout.contains("https://example.invalid/mesh/support"),
        "{}",
        why.stdout
    );

    // allowed: the newest of everything, and the lock says what was allowed and what is untested
    let dir = tempdir();
    let r = solve_fixture(&dir, &["--with", "mesh", "--allow-untested"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("1.1.0 (untested)"), "{}", r.stdout);
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    assert!(lock.contains("kubernetes: 1.32.3"), "{lock}");
    assert!(lock.contains("  allowUntested: true\n"), "{lock}");
    assert!(
        lock.contains("- name: mesh\n    version: 1.1.0\n    untested: true\n"),
        "{lock}"
    );
    assert_eq!(lock.matches("untested: true").count(), 1, "{lock}");
    // the lock's own request is re-solved: it allows untested versions, so nothing changes
    let r = solve_fixture(&dir, &["--locked"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = solve_fixture(&dir, &["--locked", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["request"]["allowUntested"], true);
    let mesh = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mesh")
        .unwrap();
    assert_eq!(mesh["untested"], true);

    // a request file says the same with `allowUntested: true`
    let dir = tempdir();
    std::fs::write(
        dir.join("platform.yaml"),
        "apiVersion: bundle/v1\nkind: Platform\nwith: [probe]\nallowUntested: true\n",
    )
    .unwrap();
    let r = solve_fixture(&dir, &["-f", "platform.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    assert!(
        lock.contains("- name: mesh\n    version: 1.1.0\n    untested: true\n"),
        "{lock}"
    );
    assert!(
        lock.contains("- name: probe\n    version: 2.0.0\n"),
        "{lock}"
    );
}

#[test]
fn explanation_untested() {
    // probe 2.0.0 states a Kubernetes range itself, but needs mesh >=1.1.0, which is untested
    let text = explanation(&["--with", "probe"]);
    assert!(text.contains("probe 2.0.0 requires mesh >=1.1.0"), "{text}");
    assert!(
        text.contains("mesh 1.1.0 is untested: upstream publishes no Kubernetes range for it"),
        "{text}"
    );
    assert!(text.contains("--allow-untested"), "{text}");
    assert!(!text.contains("--allow-eol"), "{text}");
    settings().bind(|| insta::assert_snapshot!("explain_untested", text));

    // asking for the untested version itself names it
    let text = explanation(&["--with", "mesh@>=1.1"]);
    assert!(
        text.contains("mesh 1.1.0 is untested: upstream publishes no Kubernetes range for it"),
        "{text}"
    );
    assert!(
        text.contains("source: https://example.invalid/mesh/support"),
        "{text}"
    );

    let dir = tempdir();
    let r = solve_fixture(&dir, &["--with", "probe", "--format", "json"]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["untestedIsTheReason"], true);
    assert_eq!(v["endOfLifeIsTheReason"], false);
}

// ---------------------------------------------------------------------------------------------
// Lock behaviour.

#[test]
fn resolve_keeps_locked_versions_and_upgrade_moves_on() {
    let dir = tempdir();
    // an older platform first: Kubernetes 1.31 with dash 10
    let r = solve_fixture(
        &dir,
        &["--kubernetes", "~1.31", "--with", "dash@<11", "--allow-eol"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // the same components, wider request: locked versions still fit, so they stay
    let r = solve_fixture(&dir, &["--with", "dash", "--allow-eol"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    assert!(lock.contains("kubernetes: 1.31.2"), "{lock}");
    assert!(lock.contains("version: 10.0.0"), "{lock}");
    assert!(r.stdout.contains("kept"), "{}", r.stdout);
    // --locked passes while nothing changes
    let r = solve_fixture(&dir, &["--with", "dash", "--allow-eol", "--locked"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // one package moves; Kubernetes stays
    let r = solve_fixture(
        &dir,
        &["--with", "dash", "--allow-eol", "--upgrade-package", "dash"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    assert!(lock.contains("version: 11.0.0"), "{lock}");
    assert!(lock.contains("kubernetes: 1.31.2"), "{lock}");
    // --upgrade moves everything, but --locked refuses and writes nothing
    let before = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    let r = solve_fixture(
        &dir,
        &["--with", "dash", "--allow-eol", "--upgrade", "--locked"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("kubernetes 1.31.2 -> 1.32.3"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("bundle.lock")).unwrap(),
        before
    );
    let r = solve_fixture(&dir, &["--with", "dash", "--allow-eol", "--upgrade"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    assert!(lock.contains("kubernetes: 1.32.3"), "{lock}");
}

#[test]
fn without_flags_an_existing_lock_is_solved_again() {
    let dir = tempdir();
    let r = solve_fixture(&dir, &["--with", "router"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    let r = solve_fixture(&dir, &["--locked"]);
    assert_eq!(
        r.code, 0,
        "the lock's own request is re-solved: {}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("bundle.lock")).unwrap(),
        first
    );
}

#[test]
fn same_input_same_bytes() {
    let a = tempdir();
    let b = tempdir();
    assert_eq!(solve_fixture(&a, &[]).code, 0);
    assert_eq!(solve_fixture(&b, &[]).code, 0);
    assert_eq!(
        std::fs::read(a.join("bundle.lock")).unwrap(),
        std::fs::read(b.join("bundle.lock")).unwrap()
    );
}

#[test]
fn a_broken_lock_is_refused_and_kept() {
    let dir = tempdir();
    std::fs::write(dir.join("bundle.lock"), "version: 9\n").unwrap();
    let r = solve_fixture(&dir, &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("version 9 is not supported"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("bundle.lock")).unwrap(),
        "version: 9\n"
    );
}

#[test]
fn why_names_the_constraint_that_holds_back() {
    let dir = tempdir();
    let r = solve_fixture(
        &dir,
        &["--kubernetes", "~1.30", "--with", "router", "--allow-eol"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cat = fixture_catalog();
    let r = bundle_in(&dir, &["--catalog", &cat, "why", "router"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("router is at 3.0.0"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("requires kubernetes >=1.31.0, and the platform has kubernetes 1.30.4"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("https://example.invalid/router/chart"),
        "{}",
        r.stdout
    );
    let r = bundle_in(&dir, &["--catalog", &cat, "why", "dash"]);
    assert_eq!(r.code, 2, "not in the platform is bad input");
}

// ---------------------------------------------------------------------------------------------
// Bad input.

#[test]
fn unknown_names_get_suggestions() {
    let r = bundle(&["solve", "--with", "cert-manger"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did you mean `cert-manager`"),
        "{}",
        r.stderr
    );
    let r = bundle(&["solve", "--without", "calcio"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`calico`"), "{}", r.stderr);
    let r = bundle(&["solve", "--kubernetes", "banana"]);
    assert_eq!(r.code, 2);
    let r = bundle(&["solve", "--as-of", "2026-02-30"]);
    assert_eq!(r.code, 2);
    let r = bundle(&["solve", "--with", "cni@>=1.0"]);
    assert_eq!(r.code, 2, "a capability takes no range");
}

#[test]
fn request_file() {
    let dir = tempdir();
    std::fs::write(
        dir.join("platform.yaml"),
        "apiVersion: bundle/v1\nkind: Platform\nkubernetes: \"~1.31\"\nwith:\n  - name: router\n    range: \">=3.0\"\nallowEol: true\n",
    )
    .unwrap();
    let r = solve_fixture(&dir, &["-f", "platform.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Kubernetes 1.31.2"), "{}", r.stdout);
    std::fs::write(
        dir.join("bad.yaml"),
        "apiVersion: bundle/v1\nkind: Platform\nwith: 3\n",
    )
    .unwrap();
    let r = solve_fixture(&dir, &["-f", "bad.yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("bad.yaml:3:7"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// The real, embedded catalog: each case names the published fact it checks.

fn real(args: &[&str]) -> (Run, String) {
    let dir = tempdir();
    let r = bundle_in(&dir, args);
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap_or_default();
    (r, lock)
}

fn locked_version(lock: &str, name: &str) -> String {
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == format!("- name: {name}") {
            return lines
                .next()
                .unwrap()
                .trim()
                .trim_start_matches("version: ")
                .to_string();
        }
    }
    panic!("{name} not in lock:\n{lock}");
}

#[test]
fn real_default_profile_solves() {
    let (r, lock) = real(&["solve", "--as-of", "2026-11-26"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for cap_provider in [
        &["calico", "cilium"][..],
        &["traefik", "ingress-nginx"],
        &["fluent-bit", "alloy"],
    ] {
        assert!(
            cap_provider
                .iter()
                .any(|p| lock.contains(&format!("- name: {p}\n"))),
            "one of {cap_provider:?} in {lock}"
        );
    }
    for name in [
        "cert-manager",
        "prometheus",
        "grafana",
        "loki",
        "etcd",
        "coredns",
        "pause",
    ] {
        locked_version(&lock, name);
    }
    // ingress-nginx was retired in March 2026 (kubernetes/ingress-nginx README): not chosen by default
    assert!(!lock.contains("- name: ingress-nginx"), "{lock}");
}

#[test]
fn real_cert_manager_on_kubernetes_1_29() {
    // cert-manager supported releases (cert-manager.io/docs/releases): 1.18 supports 1.29 → 1.33,
    // 1.19 supports 1.31 → 1.35; so the newest that runs on 1.29 is 1.18.
    let (r, lock) = real(&[
        "solve",
        "--kubernetes",
        "~1.29",
        "--with",
        "cert-manager",
        "--allow-eol",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        locked_version(&lock, "cert-manager").starts_with("1.18."),
        "{lock}"
    );
    assert!(
        locked_version(&lock, "kubernetes").starts_with("1.29."),
        "{lock}"
    );
}

#[test]
fn real_kubeadm_pins_etcd_coredns_pause() {
    // kubeadm for Kubernetes 1.33 pins CoreDNS v1.12.0 and pause 3.10
    // (kubernetes/minikube pkg/minikube/constants/constants_kubeadm_images.go)
    let (r, lock) = real(&["solve", "--kubernetes", "~1.33", "--allow-eol"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(locked_version(&lock, "coredns"), "1.12.0");
    assert_eq!(locked_version(&lock, "pause"), "3.10.0");
    assert!(lock.contains("registry.k8s.io/pause:3.10\n"), "{lock}");
}

#[test]
fn real_ingress_nginx_on_1_36_is_unsatisfiable_and_names_both() {
    // ingress-nginx v1.15 is tested on Kubernetes 1.31–1.35 (kubernetes/ingress-nginx README)
    let (r, _) = real(&[
        "solve",
        "--kubernetes",
        ">=1.36",
        "--with",
        "ingress-nginx",
        "--allow-eol",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--kubernetes '>=1.36'"), "{}", r.stderr);
    assert!(r.stderr.contains("--with ingress-nginx"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("ingress-nginx 1.15.1 requires kubernetes >=1.31.0, <1.36.0"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("kubernetes/ingress-nginx"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("pick traefik"), "{}", r.stderr);
}

#[test]
fn real_retired_ingress_nginx_needs_allow_eol() {
    // ingress-nginx was retired on 2026-03-24
    let (r, _) = real(&["solve", "--with", "ingress-nginx", "--as-of", "2026-11-26"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("retired on 2026-03-24"), "{}", r.stderr);
    assert!(r.stderr.contains("--allow-eol"), "{}", r.stderr);
    let (r, lock) = real(&["solve", "--with", "ingress-nginx", "--as-of", "2026-01-15"]);
    assert_eq!(
        r.code, 0,
        "before the retirement it is allowed: {}",
        r.stderr
    );
    assert!(lock.contains("- name: ingress-nginx"));
}

#[test]
fn real_distribution_versions_count_as_base() {
    let (r, lock) = real(&["solve", "--kubernetes", "1.34.6-eks-1-34-5", "--allow-eol"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let k = locked_version(&lock, "kubernetes");
    assert!(k.starts_with("1.34."), "{k}");
    let patch: u32 = k.rsplit('.').next().unwrap().parse().unwrap();
    assert!(patch >= 6, "{k}");
}

/// A request made of these items, with the flags of `like`.
fn request_of(
    items: &[bundle::solver::RequestItem],
    like: &bundle::solver::Request,
) -> bundle::solver::Request {
    use bundle::solver::RequestItem;
    bundle::solver::Request {
        kubernetes: items
            .iter()
            .find_map(|i| match i {
                RequestItem::Kubernetes(k) => Some(k.clone()),
                _ => None,
            })
            .unwrap_or_else(bundle::types::VersionReq::any),
        with: items
            .iter()
            .filter_map(|i| match i {
                RequestItem::With(w) => Some(w.clone()),
                _ => None,
            })
            .collect(),
        without: items
            .iter()
            .filter_map(|i| match i {
                RequestItem::Without(n) => Some(n.clone()),
                _ => None,
            })
            .collect(),
        ..like.clone()
    }
}

/// The preferred minimal conflict of `req`, the slow way: every item in turn from the last,
/// dropped when the rest still fails (with end-of-life and untested versions allowed when the
/// request fails even so, as the explanation does).
fn preferred_core(
    cat: &bundle::catalog::Catalog,
    req: &bundle::solver::Request,
) -> Vec<bundle::solver::RequestItem> {
    use bundle::solver::{request_exclusions, sat::Oracle};
    let fails = |r: &bundle::solver::Request| {
        !Oracle::new(cat, request_exclusions(cat, r)).feasible(&r.query(cat))
    };
    let lax = bundle::solver::Request {
        allow_eol: true,
        allow_untested: true,
        ..req.clone()
    };
    let like = if fails(&lax) { &lax } else { req };
    let mut items = req.items();
    if fails(&request_of(&[], like)) {
        return Vec::new();
    }
    for i in (0..items.len()).rev() {
        let mut fewer = items.clone();
        fewer.remove(i);
        if fails(&request_of(&fewer, like)) {
            items = fewer;
        }
    }
    items
}

#[test]
fn real_catalog_cores_are_the_preferred_minimal_conflicts() {
    use bundle::catalog::{Catalog, WithSpec};
    use bundle::solver::{Request, SolveError, solve};
    use bundle::types::VersionReq;
    let cat = Catalog::embedded().unwrap();
    let default = &cat.profile("default").expect("a default profile").spec;
    let every: Vec<WithSpec> = cat
        .components
        .iter()
        .filter(|c| c.name != "kubernetes")
        .map(|c| WithSpec {
            name: c.name.clone(),
            range: VersionReq::any(),
        })
        .collect();
    let minors: std::collections::BTreeSet<String> = cat
        .component("kubernetes")
        .unwrap()
        .versions
        .iter()
        .map(|v| v.version.minor_string())
        .collect();
    let mut unsat = 0;
    for minor in &minors {
        for with in [&default.with, &every] {
            for allow_eol in [false, true] {
                let req = Request {
                    kubernetes: VersionReq::parse_strict(&format!("~{minor}")).unwrap(),
                    with: with.clone(),
                    without: Vec::new(),
                    allow_eol,
                    allow_untested: false,
                    as_of: "2026-11-26".parse().unwrap(),
                };
                let Err(SolveError::Unsatisfiable(ex)) =
                    solve(&cat, &req, &std::collections::BTreeMap::new())
                else {
                    continue;
                };
                unsat += 1;
                assert_eq!(
                    ex.core,
                    preferred_core(&cat, &req),
                    "~{minor}, allow_eol {allow_eol}"
                );
            }
        }
    }
    assert!(unsat >= 4, "only {unsat} unsatisfiable requests");
}

/// When the search spends its budget (here: none at all), `bundle solve` says so once and the
/// fallback, one decision at a time, gives the same lock byte for byte.
#[test]
fn the_fallback_is_announced_and_gives_the_same_lock() {
    let cat = fixture_catalog();
    for (catalog, as_of) in [(None, "2026-11-26"), (Some(cat.as_str()), "2025-01-15")] {
        let mut args = Vec::new();
        if let Some(c) = catalog {
            args.extend(["--catalog", c]);
        }
        args.extend(["solve", "--as-of", as_of]);
        let (a, b) = (tempdir(), tempdir());
        let searched = crate::support::bundle_env(&a, &args, None, &[]);
        let fallback =
            crate::support::bundle_env(&b, &args, None, &[("BUNDLE_SOLVER_BUDGET", "0")]);
        assert_eq!(searched.code, 0, "{catalog:?}: {}", searched.stderr);
        assert_eq!(fallback.code, 0, "{catalog:?}: {}", fallback.stderr);
        let note = "the search did not settle the platform within its budget";
        assert!(!searched.stderr.contains(note), "{}", searched.stderr);
        assert_eq!(
            fallback.stderr.matches(note).count(),
            1,
            "{catalog:?}: {}",
            fallback.stderr
        );
        assert_eq!(
            std::fs::read(a.join("bundle.lock")).unwrap(),
            std::fs::read(b.join("bundle.lock")).unwrap(),
            "{catalog:?}: the fallback's lock differs"
        );
    }
}
