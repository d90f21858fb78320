//! What ran to find a solution (`Solution::runs`), and the trace line `bundle solve` prints about it
//! under `BUNDLE_SOLVER_TRACE`: the search's answer is not counted as zero runs.

use std::collections::BTreeMap;

use bundle::catalog::Catalog;
use bundle::solver::{self, Request, Runs};
use bundle::types::{VersionReq, WithSpec};

use crate::support::{bundle_env, fixture, tempdir};

fn request() -> Request {
    Request {
        kubernetes: VersionReq::any(),
        with: vec![WithSpec {
            name: "dash".to_string(),
            range: VersionReq::any(),
        }],
        without: Vec::new(),
        allow_eol: false,
        allow_untested: false,
        as_of: "2025-01-15".parse().unwrap(),
    }
}

#[test]
fn a_solution_says_whether_the_search_or_resolvo_found_it() {
    let catalog = Catalog::from_dir(&fixture("solve/catalog")).unwrap();
    let prefer = BTreeMap::new();
    let searched = solver::solve(&catalog, &request(), &prefer).unwrap();
    assert_eq!(
        searched.runs,
        Runs {
            searches: 1,
            search_gave_up: false,
            resolvo: 0,
        }
    );
    let settled = solver::solve_by_checks(&catalog, &request(), &prefer).unwrap();
    assert_eq!(settled.runs.searches, 0);
    assert!(settled.runs.resolvo > 0, "{:?}", settled.runs);
    assert_eq!(searched.components, settled.components);
}

#[test]
fn the_trace_names_what_ran() {
    let dir = tempdir();
    let cat = fixture("solve/catalog").display().to_string();
    let args = ["--catalog", &cat, "solve", "--as-of", "2025-01-15"];
    let r = bundle_env(&dir, &args, None, &[("BUNDLE_SOLVER_TRACE", "1")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("solver runs: 1 search (found the answer), 0 resolvo run(s)\n"),
        "{}",
        r.stderr
    );
    let r = bundle_env(&dir, &args, None, &[]);
    assert!(!r.stderr.contains("solver runs"), "{}", r.stderr);
    // a search without budget gives up at once, and the fallback's resolvo runs are counted
    let r = bundle_env(
        &dir,
        &args,
        None,
        &[("BUNDLE_SOLVER_TRACE", "1"), ("BUNDLE_SOLVER_BUDGET", "0")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("solver runs: "))
        .unwrap_or_else(|| panic!("no runs line: {}", r.stderr));
    assert!(
        line.starts_with("solver runs: 1 search (gave up), ") && !line.contains(" 0 resolvo"),
        "{line}"
    );
}
