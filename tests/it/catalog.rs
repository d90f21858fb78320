//! Catalog loading, lint and output tests.
//!
//! Fixtures live in `tests/fixtures/catalogs/`:
//! - `good/` is a small, valid, synthetic catalog (made-up names, versions, dates and URLs);
//! - `malformed/CASE/` and `lint/CASE/` hold only the files that differ from `good/`: a test copies
//!   `good/` to a temporary directory and lays the case's files over it.

use std::path::{Path, PathBuf};

use bundle::catalog::{Catalog, Diagnostic, lint};
use proptest::prelude::*;

use crate::support::{Run, TempDir, bundle, bundle_in, copy_dir, fixture, root, tempdir};

/// Placeholder for the temporary catalog directory in snapshots and expected output.
pub(crate) const PLACEHOLDER: &str = "[CATALOG]";

/// Path of the good fixture relative to the repository root (used so that output is stable).
const GOOD_REL: &str = "tests/fixtures/catalogs/good";

pub(crate) fn catalogs(name: &str) -> PathBuf {
    fixture("catalogs").join(name)
}

/// A temporary copy of `good/` with the files of `KIND/CASE/` laid over it.
pub(crate) fn overlaid(kind: &str, case: &str) -> TempDir {
    let overlay = catalogs(kind).join(case);
    assert!(overlay.is_dir(), "missing fixture {}", overlay.display());
    let dir = tempdir().child("catalog");
    copy_dir(&catalogs("good"), &dir);
    copy_dir(&overlay, &dir);
    dir
}

/// Replaces the temporary catalog directory by [`PLACEHOLDER`].
pub(crate) fn scrub(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), PLACEHOLDER)
}

/// Runs `bundle --catalog DIR ARGS` from the repository root.
pub(crate) fn with_catalog(dir: &Path, args: &[&str]) -> Run {
    let dir = dir.display().to_string();
    let mut all = vec!["--catalog", dir.as_str()];
    all.extend_from_slice(args);
    bundle_in(&root(), &all)
}

/// Runs `bundle --catalog tests/fixtures/catalogs/good ARGS` from the repository root.
pub(crate) fn on_good(args: &[&str]) -> Run {
    with_catalog(Path::new(GOOD_REL), args)
}

pub(crate) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The files of a catalog directory as `Catalog::from_files` takes them.
fn read_tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = vec![(
        "catalog.yaml".to_string(),
        std::fs::read_to_string(dir.join("catalog.yaml")).unwrap(),
    )];
    for sub in ["components", "profiles"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for n in names {
            let text = std::fs::read_to_string(dir.join(sub).join(&n)).unwrap();
            out.push((format!("{sub}/{n}"), text));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The good fixture: list and show output.

#[test]
fn good_fixture_is_clean() {
    let r = on_good(&["catalog", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr, "catalog is clean: 6 components, 11 versions\n");

    let r = on_good(&["catalog", "check", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(v["ok"], true);
    assert_eq!(v["problems"], serde_json::json!([]));
}

#[test]
fn list_table() {
    let r = on_good(&["catalog", "list"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn list_table_is_the_default_format() {
    assert_eq!(
        on_good(&["catalog", "list"]).stdout,
        on_good(&["catalog", "list", "--format", "table"]).stdout
    );
}

#[test]
fn list_json() {
    let r = on_good(&["catalog", "list", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    // The digest in the output is the one the library computes over the same files.
    let cat = Catalog::from_dir(&catalogs("good")).unwrap();
    assert_eq!(v["catalog"]["digest"], cat.digest.as_str());
    assert_eq!(v["catalog"]["origin"], GOOD_REL);
    let names: Vec<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["alpha", "beta", "delta", "eta", "gamma", "kubernetes"]
    );
    assert_eq!(
        v["capabilities"][0]["providers"],
        serde_json::json!(["alpha", "delta"])
    );
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn show_json_with_constraints_conflicts_and_lifecycle() {
    let r = on_good(&["catalog", "show", "gamma", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(v["versions"][0]["conflicts"][0]["name"], "delta");
    assert_eq!(v["versions"][0]["lifecycle"]["retired"], "2031-03-01");
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn show_json_with_notes_and_several_versions() {
    let r = on_good(&["catalog", "show", "alpha", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn show_json_with_digest() {
    let r = on_good(&["catalog", "show", "kubernetes", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    let versions: Vec<&str> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.10.0", "1.11.2", "1.12.0"], "oldest first");
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn show_yaml_is_the_file_itself() {
    for name in ["alpha", "beta", "delta", "gamma", "kubernetes"] {
        let file = catalogs("good").join(format!("components/{name}.yaml"));
        let r = on_good(&["catalog", "show", name]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(r.stdout, std::fs::read_to_string(&file).unwrap(), "{name}");
        assert_eq!(
            r.stdout,
            on_good(&["catalog", "show", name, "--format", "yaml"]).stdout
        );
    }
}

#[test]
fn show_unknown_component_suggests() {
    let r = on_good(&["catalog", "show", "gamm"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stdout, "");
    insta::assert_snapshot!(r.stderr);
}

#[test]
fn show_capability_names_its_providers() {
    let r = on_good(&["catalog", "show", "cni"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("hint: `cni` is a capability, provided by: alpha, delta"),
        "{}",
        r.stderr
    );
}

#[test]
fn not_a_catalog_directory() {
    let dir = tempdir();
    let r = with_catalog(&dir, &["catalog", "list"]);
    assert_eq!(r.code, 2, "{r:?}");
    let err = scrub(&r.stderr, &dir);
    assert!(
        err.contains("[CATALOG]: not a catalog: catalog.yaml is missing"),
        "{err}"
    );
    assert!(err.contains("hint: point --catalog"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Malformed catalogs: exit 2, `file:line:column: field: message` and a hint.

/// Expected place of the (single) problem of a malformed fixture.
pub(crate) struct Place {
    pub file: &'static str,
    pub line: u32,
    pub column: u32,
    pub field: Option<&'static str>,
}

/// Checks a malformed fixture through the binary and the library, and returns the scrubbed
/// stderr for the snapshot.
pub(crate) fn malformed(case: &str, place: Place) -> String {
    let dir = overlaid("malformed", case);

    let e = Catalog::from_dir(&dir).expect_err("a malformed catalog does not load");
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    let d = &e.diagnostics[0];
    assert_eq!(
        scrub(&d.file, &dir),
        format!("{PLACEHOLDER}/{}", place.file),
        "{d}"
    );
    assert_eq!((d.line, d.column), (place.line, place.column), "{d}");
    assert_eq!(d.field.as_deref(), place.field, "{d}");
    assert!(d.hint.as_deref().is_some_and(|h| !h.is_empty()), "{d}");

    let r = with_catalog(&dir, &["catalog", "check"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stdout, "");
    let err = scrub(&r.stderr, &dir);
    let at = match place.field {
        Some(f) => format!(
            "{PLACEHOLDER}/{}:{}:{}: {f}: ",
            place.file, place.line, place.column
        ),
        None => format!(
            "{PLACEHOLDER}/{}:{}:{}: ",
            place.file, place.line, place.column
        ),
    };
    assert!(err.contains(&at), "expected `{at}` in:\n{err}");
    assert!(err.contains("\n  hint: "), "{err}");

    // Every command reads the catalog first and fails the same way.
    let list = with_catalog(&dir, &["catalog", "list"]);
    assert_eq!(list.code, 2);
    assert_eq!(list.stderr, r.stderr);
    err
}

macro_rules! malformed_case {
    ($test:ident, $case:literal, $file:literal, $line:literal : $column:literal, $field:expr) => {
        #[test]
        fn $test() {
            let err = malformed(
                $case,
                Place {
                    file: $file,
                    line: $line,
                    column: $column,
                    field: $field,
                },
            );
            insta::assert_snapshot!(err);
        }
    };
}

malformed_case!(
    malformed_unknown_field,
    "unknown-field",
    "components/beta.yaml",
    5:1,
    Some("homepag")
);
malformed_case!(
    malformed_unknown_nested_field,
    "unknown-nested-field",
    "components/alpha.yaml",
    19:9,
    Some("versions[0].requires[0].sourc")
);
// The document root lacks `homepage`: the problem is placed at the start of the file.
malformed_case!(
    malformed_missing_field,
    "missing-field",
    "components/beta.yaml",
    1:1,
    Some("(top level)")
);
malformed_case!(
    malformed_wrong_type_list,
    "wrong-type-list",
    "components/beta.yaml",
    6:11,
    Some("provides")
);
malformed_case!(
    malformed_wrong_type_in_catalog_yaml,
    "catalog-wrong-type",
    "catalog.yaml",
    3:15,
    Some("capabilities")
);
malformed_case!(
    malformed_yaml_syntax,
    "yaml-syntax",
    "components/beta.yaml",
    14:16,
    Some("versions[0].requires[1].range")
);
malformed_case!(
    malformed_version_with_v,
    "version-with-v",
    "components/beta.yaml",
    8:14,
    Some("versions[0].version")
);
malformed_case!(
    malformed_range_without_operator,
    "range-without-operator",
    "components/beta.yaml",
    11:16,
    Some("versions[0].requires[0].range")
);
malformed_case!(
    malformed_bad_date,
    "bad-date",
    "components/gamma.yaml",
    10:17,
    Some("versions[0].lifecycle.released")
);
malformed_case!(
    malformed_wrong_api_version,
    "wrong-api-version",
    "components/gamma.yaml",
    1:13,
    Some("apiVersion")
);
malformed_case!(
    malformed_wrong_kind,
    "wrong-kind",
    "components/gamma.yaml",
    2:7,
    Some("kind")
);
malformed_case!(
    malformed_name_not_file_name,
    "name-not-file-name",
    "components/gamma.yaml",
    3:7,
    Some("name")
);
malformed_case!(
    malformed_empty_file,
    "empty-file",
    "components/gamma.yaml",
    1:1,
    None
);
malformed_case!(
    malformed_profile_bad_range,
    "profile-bad-range",
    "profiles/default.yaml",
    4:13,
    Some("kubernetes")
);

#[test]
fn malformed_every_problem_is_reported() {
    let dir = overlaid("malformed", "two-broken-files");
    let e = Catalog::from_dir(&dir).expect_err("does not load");
    let places: Vec<(String, u32, u32)> = e
        .diagnostics
        .iter()
        .map(|d| (scrub(&d.file, &dir), d.line, d.column))
        .collect();
    assert_eq!(
        places,
        [
            ("[CATALOG]/components/beta.yaml".to_string(), 5, 1),
            ("[CATALOG]/components/gamma.yaml".to_string(), 10, 17),
        ]
    );
    let r = with_catalog(&dir, &["catalog", "check"]);
    assert_eq!(r.code, 2, "{r:?}");
    insta::assert_snapshot!(scrub(&r.stderr, &dir));
}

// ---------------------------------------------------------------------------------------------
// Lint: `catalog check` exits 1 and prints `file:line: problem` for each rule.

/// Runs `catalog check` on a lint fixture and compares every printed line with `expected`.
pub(crate) fn lint_case(case: &str, expected: &[&str]) {
    let dir = overlaid("lint", case);
    let r = with_catalog(&dir, &["catalog", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let out = scrub(&r.stdout, &dir);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, expected, "output of `catalog check` on lint/{case}");
    assert_eq!(
        r.stderr,
        format!("{} problem(s) found\n", expected.len()),
        "{r:?}"
    );
    for l in &lines {
        let (place, _) = l
            .split_once(": ")
            .unwrap_or_else(|| panic!("no `file:line: ` in {l}"));
        let (file, line) = place.rsplit_once(':').unwrap();
        let path = dir.join(file.trim_start_matches("[CATALOG]/"));
        assert!(path.is_file(), "{l}: {} is not a file", path.display());
        line.parse::<u32>()
            .unwrap_or_else(|_| panic!("{l}: no line number"));
    }
}

#[test]
fn lint_unknown_component() {
    lint_case(
        "unknown-component",
        &[
            "[CATALOG]/components/gamma.yaml:8: gamma 3.1.0: can never be installed: `requires kubernetis ~1.11` cannot be met",
            "[CATALOG]/components/gamma.yaml:8: gamma 3.1.0: no relation to Kubernetes stated: add a `requires` on kubernetes with the published range, or `kubernetes: {status: independent|untested, note, source}`",
            "[CATALOG]/components/gamma.yaml:14: gamma 3.1.0: `requires` names unknown component `kubernetis`",
            "[CATALOG]/components/gamma.yaml:18: gamma 3.1.0: `constrains` names unknown component `zeta`",
            "[CATALOG]/components/gamma.yaml:22: gamma 3.1.0: `conflicts` names unknown component `epsilon`",
        ],
    );
}

#[test]
fn lint_range_matches_no_version() {
    lint_case(
        "range-matches-nothing",
        &[
            "[CATALOG]/components/gamma.yaml:8: gamma 3.1.0: can never be installed: `requires kubernetes >=1.20.0` cannot be met",
            "[CATALOG]/components/gamma.yaml:14: gamma 3.1.0: `requires kubernetes >=1.20.0` matches no version of kubernetes in the catalog",
        ],
    );
}

#[test]
fn lint_version_that_can_never_be_installed() {
    // gamma 3.1.0 requires kubernetes =1.12.0 and alpha =0.1.0, which requires kubernetes <1.12.0:
    // each requirement alone can be met, both together cannot.
    lint_case(
        "never-installable",
        &[
            "[CATALOG]/components/gamma.yaml:8: gamma 3.1.0: can never be installed: its requirements exclude each other",
        ],
    );
}

#[test]
fn lint_duplicate_version() {
    lint_case(
        "duplicate-version",
        &["[CATALOG]/components/alpha.yaml:23: duplicate version 0.1.0 (first at line 11)"],
    );
}

#[test]
fn lint_constraint_without_source() {
    lint_case(
        "requires-without-source",
        &["[CATALOG]/components/beta.yaml:10: beta 2.0.1: `requires kubernetes` has no source"],
    );
}

#[test]
fn lint_other_facts_without_source() {
    lint_case(
        "other-facts-without-source",
        &[
            "[CATALOG]/components/alpha.yaml:8: note without a source",
            "[CATALOG]/components/gamma.yaml:10: gamma 3.1.0: lifecycle dates without a source",
            "[CATALOG]/components/gamma.yaml:13: gamma 3.1.0: `requires kubernetes` has no source",
            "[CATALOG]/components/gamma.yaml:16: gamma 3.1.0: `constrains beta` has no source",
            "[CATALOG]/components/gamma.yaml:19: gamma 3.1.0: `conflicts delta` has no source",
            "[CATALOG]/components/kubernetes.yaml:21: kubernetes 1.11.2: image `registry.example.com/kube/apiserver:v1.11.2`: a digest needs a source",
        ],
    );
}

#[test]
fn lint_image_without_tag() {
    lint_case(
        "image-without-tag",
        &[
            "[CATALOG]/components/beta.yaml:17: beta 2.0.1: image `registry.example.com/beta/controller`: no tag",
            "[CATALOG]/components/beta.yaml:18: beta 2.0.1: image `registry.example.com/beta/webhook:`: no tag",
            "[CATALOG]/components/beta.yaml:19: beta 2.0.1: image `beta/certgen:2.0.1`: give the registry host in full (e.g. docker.io/…), so that mirrors map it",
            "[CATALOG]/components/beta.yaml:20: beta 2.0.1: image `registry.example.com/beta/init:2.0.1@sha256:2222222222222222222222222222222222222222222222222222222222222222`: put the digest in `digest:`, not in the reference",
        ],
    );
}

#[test]
fn lint_malformed_digest() {
    lint_case(
        "malformed-digest",
        &[
            "[CATALOG]/components/kubernetes.yaml:21: kubernetes 1.11.2: image `registry.example.com/kube/apiserver:v1.11.2`: malformed digest `sha256:111111111111111111111111111111111111111111111111111111111111111G` (expected sha256: and 64 lower-case hex digits)",
        ],
    );
}

#[test]
fn lint_lifecycle_out_of_order() {
    lint_case(
        "lifecycle-out-of-order",
        &[
            "[CATALOG]/components/alpha.yaml:13: alpha 0.1.0: end of life 2030-01-31 is before the release date 2030-02-01",
            "[CATALOG]/components/gamma.yaml:10: gamma 3.1.0: retired 2030-02-28 is before the release date 2030-03-01",
        ],
    );
}

#[test]
fn lint_provides_unknown_capability() {
    // The line is that of the file's start, not of `provides:` (line 6): see the report.
    lint_case(
        "provides-unknown-capability",
        &[
            "[CATALOG]/components/delta.yaml:6: `provides` names `cnii`, which is not a capability in catalog.yaml",
        ],
    );
}

#[test]
fn lint_profile_unknown_names() {
    // Profile problems carry no line (0): see the report.
    lint_case(
        "profile-unknown-names",
        &[
            "[CATALOG]/profiles/default.yaml:7: `with` names `ingress-controler`, which is neither a component nor a capability",
            "[CATALOG]/profiles/default.yaml:10: `without` names `deltaa`, which is not a component",
        ],
    );
}

#[test]
fn lint_capabilities() {
    lint_case(
        "capabilities",
        &[
            "[CATALOG]/catalog.yaml:5: capability `cni` is declared twice",
            "[CATALOG]/catalog.yaml:11: `gamma` is both a capability and a component name",
            "[CATALOG]/profiles/default.yaml:8: no component provides capability `storage`",
            "[CATALOG]/profiles/default.yaml:9: no component provides capability `gamma`",
        ],
    );
}

#[test]
fn lint_capability_misuse() {
    lint_case(
        "capability-misuse",
        &[
            "[CATALOG]/components/beta.yaml:13: beta 2.0.1: a requirement on capability `cni` takes range \"*\", not `>=1.0.0`",
            "[CATALOG]/components/gamma.yaml:18: gamma 3.1.0: `constrains` must name a component, and `cni` is a capability",
        ],
    );
}

#[test]
fn lint_self_reference() {
    lint_case(
        "self-reference",
        &[
            "[CATALOG]/components/gamma.yaml:17: gamma 3.1.0: `requires` names the component itself",
            "[CATALOG]/components/gamma.yaml:21: gamma 3.1.0: `constrains` names the component itself",
        ],
    );
}

#[test]
fn lint_conflicts_with_itself() {
    lint_case(
        "conflicts-self",
        &[
            "[CATALOG]/components/gamma.yaml:22: gamma 3.1.0: `conflicts` names the component itself",
        ],
    );
}

#[test]
fn lint_component_without_versions() {
    lint_case(
        "no-versions",
        &["[CATALOG]/components/delta.yaml:1: component `delta` has no versions"],
    );
}

#[test]
fn lint_json_format() {
    let dir = overlaid("lint", "lifecycle-out-of-order");
    let r = with_catalog(&dir, &["catalog", "check", "--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let v = json(&scrub(&r.stdout, &dir));
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["problems"][0],
        serde_json::json!({
            "file": "[CATALOG]/components/alpha.yaml",
            "line": 13,
            "message": "alpha 0.1.0: end of life 2030-01-31 is before the release date 2030-02-01",
        })
    );
    assert_eq!(v["problems"].as_array().unwrap().len(), 2);
}

#[test]
fn duplicate_component_across_yaml_and_yml_is_refused() {
    let dir = tempdir().child("catalog");
    copy_dir(&catalogs("good"), &dir);
    std::fs::copy(
        dir.join("components/alpha.yaml"),
        dir.join("components/alpha.yml"),
    )
    .unwrap();
    let r = with_catalog(&dir, &["catalog", "check"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("alpha.yml"),
        "{r:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The real catalog.

/// Every component the issue asks for.
const REQUIRED_COMPONENTS: [&str; 21] = [
    "kubernetes",
    "etcd",
    "coredns",
    "pause",
    "calico",
    "cilium",
    "ingress-nginx",
    "traefik",
    "cert-manager",
    "prometheus-operator",
    "prometheus",
    "alertmanager",
    "kube-state-metrics",
    "node-exporter",
    "grafana",
    "loki",
    "fluent-bit",
    "velero",
    "kyverno",
    "flux",
    "metallb",
];

#[test]
fn real_catalog_check_passes() {
    let r = bundle(&["catalog", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");
    // nothing but the verdict: no warnings either
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].starts_with("catalog is clean: "), "{}", r.stderr);
    // every source is machine-checkable (issue 13.6)
    let r = bundle(&["catalog", "check", "--sources"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");

    let dir = root().join("catalog");
    let r = with_catalog(&dir, &["catalog", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn real_catalog_lists_every_component() {
    let r = bundle(&["catalog", "list", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(v["catalog"]["origin"], "embedded");
    let components = v["components"].as_array().unwrap();
    assert!(components.len() >= 21, "{} components", components.len());
    let names: Vec<&str> = components
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for want in REQUIRED_COMPONENTS {
        assert!(names.contains(&want), "{want} is not in the catalog");
    }
    for c in components {
        assert!(
            !c["versions"].as_array().unwrap().is_empty(),
            "{} has no versions",
            c["name"]
        );
    }

    let table = bundle(&["catalog", "list"]);
    assert_eq!(table.code, 0, "{table:?}");
    let first_column: Vec<&str> = table
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for want in REQUIRED_COMPONENTS {
        assert!(first_column.contains(&want), "{want} is not in the table");
    }
    assert!(
        table
            .stdout
            .contains(&format!("{} components, ", names.len())),
        "{}",
        table.stdout
    );
}

#[test]
fn real_catalog_show_every_component() {
    let cat = Catalog::embedded().unwrap();
    for c in &cat.components {
        let r = bundle(&["catalog", "show", &c.name, "--format", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let v = json(&r.stdout);
        assert_eq!(v["name"], c.name.as_str());
        assert_eq!(
            v["versions"].as_array().unwrap().len(),
            c.versions.len(),
            "{}",
            c.name
        );
    }
}

#[test]
fn every_fact_in_the_real_catalog_has_a_source() {
    let cat = Catalog::embedded().unwrap();
    let sourced = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
    let mut missing = Vec::new();
    let mut counted = 0usize;
    for c in &cat.components {
        for n in &c.notes {
            counted += 1;
            if !sourced(&n.source) {
                missing.push(format!("{}:{}: note", c.file, n.line));
            }
        }
        for r in &c.versions {
            let lc = &r.lifecycle;
            if lc.released.is_some() || lc.end_of_life.is_some() || lc.retired.is_some() {
                counted += 1;
                if !sourced(&lc.source) {
                    missing.push(format!("{}:{}: lifecycle", c.file, lc.line));
                }
            }
            for (kind, list) in [("requires", &r.requires), ("constrains", &r.constrains)] {
                for x in list {
                    counted += 1;
                    if !sourced(&x.source) {
                        missing.push(format!("{}:{}: {kind} {}", c.file, x.line, x.name));
                    }
                }
            }
            for x in &r.conflicts {
                counted += 1;
                if !sourced(&x.source) {
                    missing.push(format!("{}:{}: conflicts {}", c.file, x.line, x.name));
                }
            }
            for i in &r.images {
                if let Some(d) = &i.digest {
                    counted += 1;
                    assert!(
                        bundle::types::Digest::parse_sha256(d).is_ok(),
                        "{}:{}: {d}",
                        c.file,
                        i.line
                    );
                    if !sourced(&i.source) {
                        missing.push(format!("{}:{}: digest of {}", c.file, i.line, i.reference));
                    }
                }
            }
        }
    }
    assert!(counted > 100, "only {counted} facts: is the catalog empty?");
    assert!(
        missing.is_empty(),
        "facts without a source:\n{}",
        missing.join("\n")
    );
}

#[test]
fn embedded_catalog_is_not_stale() {
    let embedded = Catalog::embedded().unwrap();
    let on_disk = Catalog::from_dir(&root().join("catalog")).unwrap();
    assert_eq!(
        embedded.digest, on_disk.digest,
        "the embedded catalog differs from catalog/: rebuild"
    );
    let paths = |c: &Catalog| c.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&embedded), paths(&on_disk));
    assert_eq!(embedded.origin, "embedded");
    assert!(embedded.digest.starts_with("sha256:") && embedded.digest.len() == 7 + 64);
}

#[test]
fn from_files_equals_from_dir() {
    let dir = catalogs("good");
    let a = Catalog::from_dir(&dir).unwrap();
    let b = Catalog::from_files("memory", read_tree(&dir)).unwrap();
    assert_eq!(a.digest, b.digest);
    let names = |c: &Catalog| {
        c.components
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&a), names(&b));
}

// ---------------------------------------------------------------------------------------------
// No input makes the loader panic, and every error names a file.

/// The good fixture's files (path, text).
fn good_files() -> Vec<(String, String)> {
    read_tree(&catalogs("good"))
}

/// Loads `files` and checks the result: no panic (the test fails if there is one), every error
/// names one of the files, and a catalog that loads can be linted.
fn load_checked(files: Vec<(String, String)>) -> Result<(), TestCaseError> {
    let paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    match Catalog::from_files("fuzz", files.clone()) {
        Ok(cat) => {
            for d in lint::check(&cat) {
                prop_assert!(!d.file.is_empty(), "lint problem without a file: {d}");
            }
        }
        Err(e) => {
            prop_assert!(!e.diagnostics.is_empty(), "an error without diagnostics");
            let _ = e.to_string();
            for d in &e.diagnostics {
                let Diagnostic { file, line, .. } = d;
                prop_assert!(
                    paths.contains(file),
                    "diagnostic names `{file}`, not one of the files: {d}"
                );
                let text = &files.iter().find(|(p, _)| p == file).unwrap().1;
                prop_assert!(
                    *line as usize <= text.lines().count() + 1,
                    "line {line} is past the end of {file}: {d}"
                );
            }
        }
    }
    Ok(())
}

/// One edit of a file's text.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    Indent(prop::sample::Index, bool),
    Insert(prop::sample::Index, String),
    ReplaceChar(prop::sample::Index, char),
    Truncate(prop::sample::Index),
}

/// Text that means something to YAML or to the catalog format.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            ":",
            ": ",
            "- ",
            "  ",
            "\t",
            "\"",
            "'",
            "[",
            "]",
            "{",
            "}",
            "#",
            ",",
            "&a ",
            "*a",
            "!!str ",
            "!!int ",
            "---\n",
            "...\n",
            "|\n",
            ">-\n",
            "~",
            "null",
            "true",
            "yes",
            "v",
            "1.2",
            "0",
            "-1",
            "99999999999999999999",
            "sha256:",
            "\n",
            "\r\n",
            "é",
            "\u{0}",
            "\u{feff}",
            "<<: *a\n",
            "? ",
            "%YAML 1.2\n",
            "versions:",
            "requires:",
            "- name: x\n",
            "range: \"*\"",
            "2024-13-01",
            "2024-02-29",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,12}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::DeleteLine),
        any::<prop::sample::Index>().prop_map(Mutation::DuplicateLine),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<prop::sample::Index>(), any::<bool>())
            .prop_map(|(i, more)| Mutation::Indent(i, more)),
        (any::<prop::sample::Index>(), token()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<prop::sample::Index>(), any::<char>())
            .prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let joined = |lines: Vec<String>| {
        let mut s = lines.join("\n");
        s.push('\n');
        s
    };
    // Char boundaries, so that edits inside the text never split a character.
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    match m {
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
            joined(lines)
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let k = i.index(lines.len());
            lines.insert(k, lines[k].clone());
            joined(lines)
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            joined(lines)
        }
        Mutation::Indent(i, more) if !lines.is_empty() => {
            let k = i.index(lines.len());
            if *more {
                lines[k].insert_str(0, "  ");
            } else if let Some(rest) = lines[k].strip_prefix("  ") {
                lines[k] = rest.to_string();
            }
            joined(lines)
        }
        Mutation::Insert(i, t) => {
            let at = boundaries[i.index(boundaries.len())];
            format!("{}{t}{}", &text[..at], &text[at..])
        }
        Mutation::ReplaceChar(i, c) if !text.is_empty() => {
            let k = i.index(boundaries.len() - 1);
            format!(
                "{}{c}{}",
                &text[..boundaries[k]],
                &text[boundaries[k + 1]..]
            )
        }
        Mutation::Truncate(i) => text[..boundaries[i.index(boundaries.len())]].to_string(),
        _ => text.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn loader_never_panics_on_random_text(
        which in any::<prop::sample::Index>(),
        text in prop_oneof![
            any::<String>(),
            "[ -~\n]{0,300}",
            // Valid header, random body.
            "[ -~\n]{0,300}".prop_map(|s| format!("apiVersion: bundle/v1\nkind: Component\n{s}")),
        ],
    ) {
        let mut files = good_files();
        let k = which.index(files.len());
        files[k].1 = text;
        load_checked(files)?;
    }

    #[test]
    fn loader_never_panics_on_mutated_files(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut files = good_files();
        let k = which.index(files.len());
        let mut text = files[k].1.clone();
        for m in &edits {
            text = apply(&text, m);
        }
        files[k].1 = text;
        load_checked(files)?;
    }
}

#[test]
fn mutations_do_edit() {
    // The mutation helper itself, so that the property tests above really test something.
    let text = "a: 1\nb: é\n";
    let idx = |n: usize| -> prop::sample::Index {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        loop {
            let i = any::<prop::sample::Index>()
                .new_tree(&mut runner)
                .unwrap()
                .current();
            if i.index(2) == n {
                return i;
            }
        }
    };
    assert_eq!(apply(text, &Mutation::DeleteLine(idx(0))), "b: é\n");
    assert_eq!(
        apply(text, &Mutation::DuplicateLine(idx(1))),
        "a: 1\nb: é\nb: é\n"
    );
    assert_eq!(
        apply(text, &Mutation::Indent(idx(1), true)),
        "a: 1\n  b: é\n"
    );
    assert_ne!(apply(text, &Mutation::Insert(idx(1), "#".into())), text);
    assert_ne!(apply(text, &Mutation::ReplaceChar(idx(1), 'x')), text);
}
