//! The catalog facts of issues 13 and 11: the relation to Kubernetes, artifacts, tag dates, the
//! support policy, machine-checkable sources and the catalog's age. Fixtures as in `catalog.rs`
//! (`tests/fixtures/catalogs/{lint,malformed}/CASE` laid over `good/`).

use bundle::catalog::{Catalog, KubernetesRelation};
use bundle::types::Date;

use crate::catalog::{
    Place, catalogs, json, lint_case, malformed, on_good, overlaid, scrub, with_catalog,
};
use crate::support::copy_dir;

// ---------------------------------------------------------------------------------------------
// The model the solver and the matrix read.

#[test]
fn every_relation_is_in_the_model() {
    let cat = Catalog::from_dir(&catalogs("good")).unwrap();
    let rel = |c: &str, v: &str| {
        cat.component(c)
            .unwrap()
            .release(&v.parse().unwrap())
            .unwrap()
            .kubernetes
            .clone()
    };
    match rel("alpha", "0.2.3") {
        KubernetesRelation::Range {
            range,
            source,
            line,
        } => {
            assert_eq!(range.as_str(), ">=1.11.0, <1.13.0");
            assert_eq!(source.as_deref(), Some("https://example.com/alpha/compat"));
            assert_eq!(line, 33);
        }
        other => panic!("alpha 0.2.3: {other:?}"),
    }
    match rel("delta", "0.10.0") {
        KubernetesRelation::Untested(s) => {
            assert_eq!(s.note, "the compatibility table stops at 0.9");
            assert_eq!(s.source, "https://example.com/delta/compat");
            assert_eq!(s.line, 24);
        }
        other => panic!("delta 0.10.0: {other:?}"),
    }
    assert!(rel("delta", "0.10.0").is_untested());
    assert!(matches!(
        rel("eta", "4.0.2"),
        KubernetesRelation::Independent(_)
    ));
    assert!(!rel("eta", "4.0.2").is_untested());
    assert_eq!(rel("kubernetes", "1.10.0"), KubernetesRelation::Itself);

    let eta = cat.component("eta").unwrap();
    assert_eq!(eta.support_policy.as_ref().unwrap().end_of_life_after, 1);
    let a = &cat
        .component("alpha")
        .unwrap()
        .release(&"0.2.3".parse().unwrap())
        .unwrap()
        .artifacts;
    assert_eq!(a.charts.len(), 1);
    assert!(!a.charts[0].is_oci());
    assert_eq!(
        a.charts[0].coordinates(),
        "https://charts.example.com/alpha alpha-agent 12.4.0"
    );
    let beta = &cat.component("beta").unwrap().versions[0].artifacts;
    assert_eq!(beta.manifests.len(), 2);
    assert_eq!(
        beta.manifests[0].sha256.as_deref(),
        Some("2".repeat(64).as_str())
    );
    assert_eq!(beta.manifests[1].sha256, None);
    assert_eq!(cat.checked, Some("2031-06-01".parse::<Date>().unwrap()));
}

#[test]
fn show_json_states_relation_artifacts_and_policy() {
    let r = on_good(&["catalog", "show", "delta", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(
        v["versions"][0]["kubernetes"],
        serde_json::json!({"status": "range", "range": ">=1.10.0, <1.13.0", "source": "https://example.com/delta/compat"})
    );
    assert_eq!(
        v["versions"][1]["kubernetes"],
        serde_json::json!({"status": "untested", "note": "the compatibility table stops at 0.9", "source": "https://example.com/delta/compat"})
    );
    assert_eq!(v["versions"][1]["lifecycle"]["tagged"], "2030-08-31");
    assert_eq!(
        v["versions"][1]["noArtifacts"]["text"],
        "installed by the synthetic installer from its own configuration"
    );
    let r = on_good(&["catalog", "show", "alpha", "--format", "json"]);
    let v = json(&r.stdout);
    assert_eq!(
        v["versions"][1]["charts"][0],
        serde_json::json!({
            "repository": "https://charts.example.com/alpha", "name": "alpha-agent", "version": "12.4.0",
            "appVersion": "0.2.2", "source": "https://charts.example.com/alpha/index.yaml",
            "note": "the chart for 0.2.3 was never published; 12.4.0 (0.2.2) installs 0.2.3 with its image tag set",
        })
    );
    let r = on_good(&["catalog", "show", "eta", "--format", "json"]);
    let v = json(&r.stdout);
    assert_eq!(v["supportPolicy"]["endOfLife"], "N+1");
    assert_eq!(v["versions"][0]["kubernetes"]["status"], "independent");
}

// ---------------------------------------------------------------------------------------------
// Lint rules.

#[test]
fn lint_kubernetes_relation() {
    lint_case(
        "kubernetes-relation",
        &[
            "[CATALOG]/components/delta.yaml:8: delta 0.9.0: no relation to Kubernetes stated: add a `requires` on kubernetes with the published range, or `kubernetes: {status: independent|untested, note, source}`",
            "[CATALOG]/components/delta.yaml:16: delta 0.10.0: `kubernetes: untested` has no source",
            "[CATALOG]/components/delta.yaml:16: delta 0.10.0: `kubernetes: untested` needs a note saying why",
        ],
    );
}

#[test]
fn lint_artifacts() {
    lint_case(
        "artifacts",
        &[
            "[CATALOG]/components/alpha.yaml:16: alpha 0.1.0: chart `alpha` 0.1.0: repository `http://charts.example.com/alpha`: use https:// (charts are fetched with TLS)",
            "[CATALOG]/components/alpha.yaml:21: alpha 0.1.0: chart `alpha` 0.1.0: write the repository without `/index.yaml`",
            "[CATALOG]/components/alpha.yaml:26: alpha 0.1.0: chart `charts/alpha` 0.1.0: appVersion `0.0.9` is not 0.1.0: add a `note` saying why this chart is the one for 0.1.0",
            "[CATALOG]/components/alpha.yaml:26: alpha 0.1.0: chart `charts/alpha` 0.1.0: not a chart name (the repository holds the path; the name is its last part)",
            "[CATALOG]/components/alpha.yaml:26: alpha 0.1.0: chart `charts/alpha` 0.1.0: repository `charts.example.com/alpha` is neither oci://… nor https://…",
            "[CATALOG]/components/alpha.yaml:36: alpha 0.1.0: chart `alpha` 0.1.0: listed twice",
            "[CATALOG]/components/alpha.yaml:42: alpha 0.1.0: manifest `http://example.com/alpha/0.1.0/alpha.yaml`: use https:// (manifests are fetched with TLS)",
            "[CATALOG]/components/alpha.yaml:44: alpha 0.1.0: manifest `https://example.com/alpha/0.1.0/crds.yaml`: write `sha256:` as the 64 hex digits alone, without the `sha256:` prefix",
            "[CATALOG]/components/alpha.yaml:47: alpha 0.1.0: manifest `https://example.com/alpha/0.1.0/extra.yaml`: `22222222222222222222222222222222222222222222222222222222222222` is not a SHA-256 (64 lower-case hex digits)",
            "[CATALOG]/components/alpha.yaml:50: alpha 0.1.0: manifest `https://example.com/alpha/0.1.0/extra.yaml`: listed twice",
            "[CATALOG]/components/alpha.yaml:53: alpha 0.1.0: `noArtifacts` beside charts or manifests: keep one or the other",
            "[CATALOG]/components/alpha.yaml:55: alpha 0.2.3: no artifacts: list the `charts` or `manifests` upstream publishes for it, or say why there are none in `noArtifacts: {text, source}`",
        ],
    );
}

#[test]
fn lint_release_date_against_tag_date() {
    // 0.9.0: two days apart without a note; 0.10.0: twelve days apart, explained in a note.
    lint_case(
        "tag-date",
        &[
            "[CATALOG]/components/delta.yaml:10: delta 0.9.0: released 2030-05-01 but tagged 2030-05-03 (2 days apart): add `lifecycle.note` saying which date is right and why",
        ],
    );
}

#[test]
fn lint_support_policy() {
    // EOL = release of N+2. 4.0.2: EOL six weeks before 4.2 shipped; 4.1.0: no EOL although 4.3
    // shipped; 4.2.0: EOL a day after 4.4 shipped (within a day: fine); 4.3.1: an LTS line, said in
    // a note; 4.4.0 and later: N+2 is not in the catalog, not judged.
    lint_case(
        "support-policy",
        &[
            "[CATALOG]/components/eta.yaml:13: eta 4.0.2: end of life 2030-06-01, but by the support policy (EOL = release of N+2) it is 2030-07-15, when 4.2 was released: fix the date, or add `lifecycle.note` saying why this line differs",
            "[CATALOG]/components/eta.yaml:27: eta 4.1.0: no end of life, but by the support policy (EOL = release of N+2) it ended on 2030-09-15, when 4.3 was released: add `endOfLife`, or `lifecycle.note` saying why not",
        ],
    );
}

#[test]
fn lint_checked_date_missing() {
    lint_case(
        "checked",
        &[
            "[CATALOG]/catalog.yaml:1: catalog.yaml does not say when its facts were last checked: add `checked: YYYY-MM-DD`",
        ],
    );
}

#[test]
fn lint_release_after_checked_date() {
    lint_case(
        "released-after-checked",
        &[
            "[CATALOG]/components/delta.yaml:20: delta 0.10.0: released 2030-09-01, after the catalog was checked (2030-06-30): update `checked` in catalog.yaml",
            "[CATALOG]/components/delta.yaml:20: delta 0.10.0: tagged 2030-08-31, after the catalog was checked (2030-06-30): update `checked` in catalog.yaml",
            "[CATALOG]/components/eta.yaml:30: eta 4.1.0: released 2030-07-15, after the catalog was checked (2030-06-30): update `checked` in catalog.yaml",
        ],
    );
}

const SOURCE_PROBLEMS: [&str; 5] = [
    "[CATALOG]/components/gamma.yaml:8: gamma note: source `the maintainers said so on a call`: free text: put prose in `note`, keep only URLs and owner/repo:path@commit here",
    "[CATALOG]/components/gamma.yaml:13: gamma 3.1.0 lifecycle: source `example/gamma:README.md@main`: `@` must name a commit (7 to 40 hex digits), not a branch or tag",
    "[CATALOG]/components/gamma.yaml:17: gamma 3.1.0 requires kubernetes: source `example/gamma:docs/compat.md`: owner/repo:path without `@commit`",
    "[CATALOG]/components/gamma.yaml:21: gamma 3.1.0 constrains beta: source `https://example.com/gamma/compat ;`: free text: put prose in `note`, keep only URLs and owner/repo:path@commit here",
    "[CATALOG]/components/gamma.yaml:25: gamma 3.1.0 conflicts delta: source `gamma-docs:compat.md@0123abc`: neither a URL nor owner/repo:path@commit",
];

#[test]
fn lint_sources_in_a_migrated_file() {
    lint_case("sources", &SOURCE_PROBLEMS);
}

#[test]
fn check_sources_lists_only_sources() {
    let dir = overlaid("lint", "sources");
    let r = with_catalog(&dir, &["catalog", "check", "--sources"]);
    assert_eq!(r.code, 1, "{r:?}");
    let out = scrub(&r.stdout, &dir);
    assert_eq!(out.lines().collect::<Vec<_>>(), SOURCE_PROBLEMS);
    assert_eq!(
        r.stderr,
        "5 source(s) are not a URL or owner/repo:path@commit\n"
    );

    let r = on_good(&["catalog", "check", "--sources"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "every source is a URL or owner/repo:path@commit\n"
    );
}

/// A file that uses none of the new fields (as the catalog's files did before issues 13 and 11)
/// is not clean: a version without a relation to Kubernetes, a version without artifacts and a
/// free-text source are problems like every other (they were warnings while the files were
/// migrated); `--sources` lists the source alone.
#[test]
fn lint_file_without_the_new_fields() {
    lint_case(
        "no-new-fields",
        &[
            "[CATALOG]/components/beta.yaml:8: beta 2.0.1: no artifacts: list the `charts` or `manifests` upstream publishes for it, or say why there are none in `noArtifacts: {text, source}`",
            "[CATALOG]/components/beta.yaml:13: beta 2.0.1 requires cni: source `the install guide`: free text: put prose in `note`, keep only URLs and owner/repo:path@commit here",
            "[CATALOG]/components/beta.yaml:18: beta 2.1.0: no artifacts: list the `charts` or `manifests` upstream publishes for it, or say why there are none in `noArtifacts: {text, source}`",
            "[CATALOG]/components/beta.yaml:18: beta 2.1.0: no relation to Kubernetes stated: add a `requires` on kubernetes with the published range, or `kubernetes: {status: independent|untested, note, source}`",
        ],
    );
    let dir = overlaid("lint", "no-new-fields");
    let r = with_catalog(&dir, &["catalog", "check", "--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let v = json(&scrub(&r.stdout, &dir));
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 4);
    let r = with_catalog(&dir, &["catalog", "check", "--sources"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
}

// ---------------------------------------------------------------------------------------------
// Facts that cannot be read: load errors with place and hint.

fn malformed_snapshot(case: &str, place: Place) {
    let err = malformed(case, place);
    insta::assert_snapshot!(format!("malformed_{}", case.replace('-', "_")), err);
}

#[test]
fn malformed_range_and_kubernetes_block() {
    malformed_snapshot(
        "kubernetes-twice",
        Place {
            file: "components/delta.yaml",
            line: 14,
            column: 15,
            field: Some("versions[0].kubernetes.status"),
        },
    );
}

#[test]
fn malformed_kubernetes_block_on_kubernetes() {
    malformed_snapshot(
        "kubernetes-on-kubernetes",
        Place {
            file: "components/kubernetes.yaml",
            line: 10,
            column: 15,
            field: Some("versions[0].kubernetes.status"),
        },
    );
}

#[test]
fn malformed_kubernetes_status() {
    malformed_snapshot(
        "kubernetes-bad-status",
        Place {
            file: "components/beta.yaml",
            line: 10,
            column: 15,
            field: Some("versions[0].kubernetes.status"),
        },
    );
}

#[test]
fn malformed_support_policy() {
    malformed_snapshot(
        "support-policy-bad",
        Place {
            file: "components/eta.yaml",
            line: 8,
            column: 14,
            field: Some("supportPolicy.endOfLife"),
        },
    );
}

#[test]
fn malformed_chart_without_app_version() {
    malformed_snapshot(
        "chart-missing-field",
        Place {
            file: "components/gamma.yaml",
            line: 19,
            column: 9,
            field: Some("versions[0].charts[0]"),
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The catalog's age.

/// A copy of the good fixture whose facts were checked on `checked`.
fn checked_on(checked: &str) -> crate::support::TempDir {
    let dir = crate::support::tempdir().child("catalog");
    copy_dir(&catalogs("good"), &dir);
    let top = dir.join("catalog.yaml");
    let text = std::fs::read_to_string(&top).unwrap();
    std::fs::write(
        &top,
        text.replace("checked: 2031-06-01", &format!("checked: {checked}")),
    )
    .unwrap();
    dir
}

#[test]
fn solve_warns_once_when_the_catalog_is_stale() {
    let dir = checked_on("2031-06-01");
    let tmp = crate::support::tempdir();
    let out = tmp.join("bundle.lock");
    let out = out.display().to_string();
    // 91 days after the check: stale.
    let r = with_catalog(
        &dir,
        &[
            "solve",
            "--allow-eol",
            "--as-of",
            "2031-08-31",
            "--output",
            &out,
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("last checked"))
        .collect();
    assert_eq!(
        warnings,
        [
            "warning: the catalog's facts were last checked on 2031-06-01 (91 days before 2031-08-31): newer releases, ranges and end-of-life dates may be missing"
        ],
        "{}",
        r.stderr
    );
    // `why` judges lifecycle on the lock's date: the same warning.
    let r = with_catalog(&dir, &["why", "gamma", "--lock", &out]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr.matches("last checked on 2031-06-01").count(), 1);

    // 90 days: not yet.
    let r = with_catalog(
        &dir,
        &[
            "solve",
            "--allow-eol",
            "--as-of",
            "2031-08-30",
            "--output",
            &out,
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("last checked"), "{}", r.stderr);
}

#[test]
fn show_reports_the_catalogs_age() {
    let dir = checked_on("2031-06-01");
    let r = with_catalog(
        &dir,
        &[
            "catalog",
            "show",
            "--format",
            "json",
            "--as-of",
            "2031-10-01",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(
        v["age"],
        serde_json::json!({"checked": "2031-06-01", "asOf": "2031-10-01", "ageDays": 122, "stale": true, "staleAfterDays": 90})
    );
    assert!(
        r.stderr.contains("122 days before 2031-10-01"),
        "{}",
        r.stderr
    );

    let r = with_catalog(&dir, &["catalog", "show", "--as-of", "2031-06-11"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("checked: 2031-06-01\nage: 10 days on 2031-06-11\n"),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr, "");

    let r = with_catalog(&dir, &["catalog", "list", "--format", "json"]);
    assert_eq!(json(&r.stdout)["catalog"]["checked"], "2031-06-01");

    let r = with_catalog(&dir, &["catalog", "show", "--as-of", "June"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--as-of"), "{}", r.stderr);
}

#[test]
fn real_catalog_states_when_it_was_checked() {
    let cat = Catalog::embedded().unwrap();
    let checked = cat.checked.expect("catalog/catalog.yaml states `checked`");
    // every release date in the catalog is on or before it
    for c in &cat.components {
        for r in &c.versions {
            if let Some(d) = r.lifecycle.released {
                assert!(d <= checked, "{} {} released {d}", c.name, r.version);
            }
        }
    }
}

/// The catalog travels as a tar archive (inside a bundle) and reads back as the same catalog.
#[test]
fn real_catalog_round_trips_through_a_tar() {
    let cat = Catalog::embedded().unwrap();
    let tar = cat.write_tar(Vec::new()).unwrap();
    let back = Catalog::from_tar("bundle.tar", &tar[..]).unwrap();
    assert_eq!(back.digest, cat.digest);
    assert_eq!(back.components.len(), cat.components.len());
    assert_eq!(back.checked, cat.checked);
    assert_eq!(back.write_tar(Vec::new()).unwrap(), tar, "deterministic");
    // what `tar` itself lists
    let dir = crate::support::tempdir();
    std::fs::write(dir.join("c.tar"), &tar).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(dir.join("c.tar"))
        .output()
        .expect("tar runs");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.lines().any(|l| l == "catalog.yaml"), "{listed}");
    assert!(
        listed.lines().any(|l| l == "components/cert-manager.yaml"),
        "{listed}"
    );
}

/// `solve --locked` compares the solution, not what `bundle pin` (or `export`, whose bundle carries
/// the pinned lock) filled in: digests of images, charts and release manifests that the fresh
/// solution leaves open are taken from the lock; a different version still fails.
#[test]
fn solve_locked_accepts_a_pinned_lock() {
    let tmp = crate::support::tempdir();
    let out = tmp.join("bundle.lock").display().to_string();
    let solve = |extra: &[&str]| {
        let mut args = vec!["solve", "--allow-eol", "--as-of", "2031-06-01", "-o", &out];
        args.extend_from_slice(extra);
        on_good(&args)
    };
    let r = solve(&[]);
    assert_eq!(r.code, 0, "{r:?}");
    let solved = std::fs::read_to_string(&out).unwrap();
    // what pin does: a digest under every chart version and manifest url that has none
    let digest = format!("sha256:{}", "a".repeat(64));
    let mut pinned = String::new();
    let mut filled = 0;
    let lines: Vec<&str> = solved.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        pinned.push_str(l);
        pinned.push('\n');
        let t = l.trim_start();
        let indent = l.len() - t.len();
        let next_is_digest = lines
            .get(i + 1)
            .is_some_and(|n| n.trim_start().starts_with("digest:"));
        if (t.starts_with("version:") && indent >= 8 || t.starts_with("- url:")) && !next_is_digest
        {
            let pad = if t.starts_with("- url:") {
                indent + 2
            } else {
                indent
            };
            pinned.push_str(&format!("{}digest: {digest}\n", " ".repeat(pad)));
            filled += 1;
        }
    }
    assert!(filled >= 2, "no chart or manifest to pin in\n{solved}");
    std::fs::write(&out, &pinned).unwrap();
    let r = solve(&["--locked"]);
    assert_eq!(r.code, 0, "{r:?}\n{pinned}");
    // a lock whose versions the catalog no longer chooses still fails
    let other = pinned.replacen("version: 0.2.3", "version: 0.1.0", 1);
    assert_ne!(other, pinned, "{pinned}");
    std::fs::write(&out, &other).unwrap();
    let r = solve(&["--locked"]);
    assert_eq!(r.code, 1, "{r:?}");
}
