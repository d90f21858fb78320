//! The explanation of a failed solve: resolvo's own report is added by `--verbose` only (it is
//! computed only then), after the same explanation.

use crate::support::{bundle_in, fixture, tempdir};

/// `bundle solve ARGS` on the solve fixture catalog, expected to fail: its stderr.
fn unsatisfiable(args: &[&str]) -> String {
    let dir = tempdir();
    let cat = fixture("solve/catalog").display().to_string();
    let mut all = vec!["--catalog", cat.as_str(), "solve", "--as-of", "2025-01-15"];
    all.extend_from_slice(args);
    let r = bundle_in(&dir, &all);
    assert_eq!(r.code, 1, "unsatisfiable is exit 1; stderr: {}", r.stderr);
    r.stderr
}

#[test]
fn verbose_adds_the_solver_report_after_the_same_explanation() {
    let request = [
        "--kubernetes",
        ">=1.32",
        "--with",
        "net-b",
        "--with",
        "gate",
        "--allow-eol",
    ];
    let plain = unsatisfiable(&request);
    assert!(!plain.contains("solver report:"), "{plain}");
    let mut with_verbose = request.to_vec();
    with_verbose.push("--verbose");
    let verbose = unsatisfiable(&with_verbose);
    let (head, report) = verbose
        .split_once("\nsolver report:\n")
        .unwrap_or_else(|| panic!("no solver report with --verbose: {verbose}"));
    assert_eq!(head, plain, "--verbose changes nothing before the report");
    // resolvo's account names the components of the core (gate's versions need older Kubernetes)
    assert!(report.contains("gate"), "{report}");
    assert!(report.contains("kubernetes"), "{report}");
}
