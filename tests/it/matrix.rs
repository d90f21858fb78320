//! Matrix tests: snapshots of the fixture matrix, agreement with `bundle solve` on the real
//! catalog, the baseline gate, and the HTML page in a real browser.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Run, TempDir, bundle, bundle_in, fixture, tempdir};

fn catalog() -> String {
    fixture("matrix").join("catalog").display().to_string()
}

/// `bundle --catalog <fixture> matrix ARGS`.
fn fixture_matrix(args: &[&str]) -> Run {
    let cat = catalog();
    let mut all = vec!["--catalog", cat.as_str(), "matrix"];
    all.extend_from_slice(args);
    bundle(&all)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

fn cell<'a>(m: &'a Value, component: &str, minor: &str) -> &'a Value {
    m["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|r| r["name"] == component)
        .unwrap_or_else(|| panic!("row {component}"))
        .get("cells")
        .and_then(|c| c.get(minor))
        .unwrap_or_else(|| panic!("cell {component} {minor}"))
}

#[test]
fn markdown_snapshot() {
    let r = fixture_matrix(&["--format", "markdown"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("matrix_fixture_markdown", r.stdout);
}

#[test]
fn json_snapshot() {
    let r = fixture_matrix(&["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("matrix_fixture_json", r.stdout);
}

#[test]
fn fixture_cells_follow_the_solver() {
    let r = fixture_matrix(&["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = json(&r.stdout);
    assert_eq!(m["version"], 1);
    assert_eq!(m["kubernetes"], serde_json::json!(["7.1", "7.2", "7.3"]));
    // Kubernetes is the columns, not a row; what it pins is a row like any component
    assert!(
        m["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "kubernetes")
    );
    assert_eq!(cell(&m, "keeper", "7.3")["version"], "0.3.0");
    // indirect: gamma 3 needs alpha 2, which needs Kubernetes 7.2 or later
    assert_eq!(cell(&m, "gamma", "7.1")["version"], "2.0.0");
    assert_eq!(cell(&m, "gamma", "7.2")["version"], "3.0.0");
    // any patch of the minor counts: epsilon 2 needs the keeper that only 7.1.0 pins
    assert_eq!(cell(&m, "epsilon", "7.1")["version"], "2.0.0");
    // retired versions are considered and marked with their date
    let b = cell(&m, "beta", "7.1");
    assert_eq!(b["version"], "0.5.0");
    assert_eq!(b["retired"], "2029-03-24");
    assert_eq!(b["newest"], true);
    assert_eq!(cell(&m, "alpha", "7.1")["eol"], "2031-05-01");
    assert_eq!(cell(&m, "alpha", "7.1")["newest"], false);
    // an empty cell carries the first fact and its source
    let d = cell(&m, "delta", "7.3");
    assert_eq!(d["version"], Value::Null);
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("delta 2.0.0 requires kubernetes"),
        "{d}"
    );
    assert_eq!(d["source"], "https://example.invalid/delta/support");
    // the platform table
    assert_eq!(m["platforms"]["7.2"]["kubernetes"], "7.2.1");
    assert_eq!(
        m["platforms"]["7.2"]["components"]["alpha"]["version"],
        "2.0.0"
    );
    assert!(
        m["platforms"]["7.3"]["conflict"]
            .as_str()
            .unwrap()
            .contains("--with delta")
    );
}

/// An untested version is shown only where nothing tested installs, and marked in every format;
/// a version that needs an untested release is marked too.
#[test]
fn untested_cells_are_marked() {
    let r = fixture_matrix(&["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = json(&r.stdout);
    // zeta 1.0.0 has a range up to 7.2; zeta 2.0.0 (newer) is untested
    for minor in ["7.1", "7.2"] {
        let z = cell(&m, "zeta", minor);
        assert_eq!(z["version"], "1.0.0", "{minor}");
        assert_eq!(z.get("untested"), None, "{minor}: {z}");
    }
    let z = cell(&m, "zeta", "7.3");
    assert_eq!(z["version"], "2.0.0");
    assert_eq!(z["untested"], true);
    // eta states a range itself but needs zeta 2.0.0
    for minor in ["7.1", "7.2", "7.3"] {
        assert_eq!(cell(&m, "eta", minor)["untested"], true, "{minor}");
    }
    assert_eq!(cell(&m, "alpha", "7.2").get("untested"), None);

    let md = fixture_matrix(&["--format", "markdown"]).stdout;
    assert!(
        md.contains("| zeta | 1.0.0 | 1.0.0 | **2.0.0**<br>untested |"),
        "{md}"
    );
    let html = fixture_matrix(&["--format", "html"]).stdout;
    assert!(
        html.contains("<td class=\"newest untested\""),
        "no untested cell in the HTML"
    );
    assert_eq!(
        html.matches(" untested\"").count(),
        4,
        "zeta 7.3 and eta ×3"
    );
}

/// With `--allow-untested` a cell shows the newest version that installs, tested or not, still
/// marked; the platform table may choose untested versions too.
#[test]
fn allow_untested_shows_the_newest_marked() {
    let r = fixture_matrix(&["--format", "json", "--allow-untested"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = json(&r.stdout);
    for minor in ["7.1", "7.2", "7.3"] {
        let z = cell(&m, "zeta", minor);
        assert_eq!(z["version"], "2.0.0", "{minor}");
        assert_eq!(z["untested"], true, "{minor}: {z}");
        assert_eq!(cell(&m, "eta", minor)["untested"], true, "{minor}");
    }
    assert_eq!(cell(&m, "alpha", "7.2").get("untested"), None);
    assert_eq!(m["request"]["allowUntested"], true);
    let plain = json(&fixture_matrix(&["--format", "json"]).stdout);
    assert_eq!(plain["request"].get("allowUntested"), None);
}

#[test]
fn kubernetes_range_narrows_the_columns() {
    let r = fixture_matrix(&["--format", "json", "--kubernetes", ">=7.2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = json(&r.stdout);
    assert_eq!(m["kubernetes"], serde_json::json!(["7.2", "7.3"]));
    assert_eq!(m["kubernetesRange"], ">=7.2");

    let r = fixture_matrix(&["--kubernetes", "~9.9"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("no Kubernetes version in the catalog matches"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("7.1, 7.2, 7.3"), "{}", r.stderr);

    let r = fixture_matrix(&["--kubernetes", "not-a-range"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
}

#[test]
fn github_strategy_has_one_entry_per_solvable_minor() {
    let r = fixture_matrix(&["--format", "github"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim_end().lines().count(),
        1,
        "one line for $GITHUB_OUTPUT"
    );
    let m = json(&r.stdout);
    let include = m["include"].as_array().unwrap();
    let minors: Vec<&str> = include
        .iter()
        .map(|e| e["minor"].as_str().unwrap())
        .collect();
    assert_eq!(minors, ["7.1", "7.2"]);
    assert_eq!(include[0]["kubernetes"], "7.1.3");
    assert_eq!(include[1]["components"]["gamma"], "3.0.0");
}

#[test]
fn request_file_replaces_the_profile() {
    let dir = tempdir();
    std::fs::write(
        dir.join("platform.yaml"),
        "apiVersion: bundle/v1\nkind: Platform\nwith:\n  - epsilon\n",
    )
    .unwrap();
    let cat = catalog();
    let r = bundle_in(
        &dir,
        &[
            "--catalog",
            &cat,
            "matrix",
            "--format",
            "json",
            "--request",
            "platform.yaml",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = json(&r.stdout);
    assert_eq!(m["request"]["from"], "platform.yaml");
    // solve takes the newest patch first: epsilon 1.0.0 beside 7.1.3 (the cell says 2.0.0, via 7.1.0)
    assert_eq!(m["platforms"]["7.1"]["kubernetes"], "7.1.3");
    assert_eq!(
        m["platforms"]["7.1"]["components"]["epsilon"]["version"],
        "1.0.0"
    );
    assert!(m["platforms"]["7.3"]["components"].is_object());

    std::fs::write(
        dir.join("bad.yaml"),
        "apiVersion: bundle/v1\nkind: Platform\nwith:\n  - epsilom\n",
    )
    .unwrap();
    let r = bundle_in(
        &dir,
        &["--catalog", &cat, "matrix", "--request", "bad.yaml"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`epsilom`"), "{}", r.stderr);
    assert!(r.stderr.contains("epsilon"), "did you mean: {}", r.stderr);

    let r = bundle_in(
        &dir,
        &["--catalog", &cat, "matrix", "--request", "missing.yaml"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.yaml"), "{}", r.stderr);
}

/// Writes the fixture matrix JSON, edited by `edit`, as the baseline `old.json` in a new directory.
fn baseline_with(edit: impl FnOnce(&mut Value)) -> TempDir {
    let r = fixture_matrix(&["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut m = json(&r.stdout);
    edit(&mut m);
    let dir = tempdir();
    std::fs::write(
        dir.join("old.json"),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
    dir
}

fn set_cell(m: &mut Value, component: &str, minor: &str, version: &str) {
    let rows = m["components"].as_array_mut().unwrap();
    let row = rows.iter_mut().find(|r| r["name"] == component).unwrap();
    row["cells"][minor] = serde_json::json!({ "version": version, "newest": true });
}

fn matrix_in(dir: &Path, args: &[&str]) -> Run {
    let cat = catalog();
    let mut all = vec!["--catalog", cat.as_str(), "matrix"];
    all.extend_from_slice(args);
    bundle_in(dir, &all)
}

#[test]
fn baseline_without_changes_passes() {
    let dir = baseline_with(|_| {});
    let r = matrix_in(&dir, &["--baseline", "old.json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("no regressions against old.json"),
        "{}",
        r.stdout
    );
}

#[test]
fn baseline_catches_an_injected_regression() {
    // the old matrix had a newer alpha on 7.2 and a delta on 7.3
    let dir = baseline_with(|m| {
        set_cell(m, "alpha", "7.2", "2.1.0");
        set_cell(m, "delta", "7.3", "2.0.0");
    });
    let r = matrix_in(
        &dir,
        &[
            "--format",
            "json",
            "-o",
            "new.json",
            "--baseline",
            "old.json",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("alpha on Kubernetes 7.2: 2.1.0 -> 2.0.0 (older)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("delta on Kubernetes 7.3: 2.0.0 -> none (lost: delta 2.0.0 requires"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("2 regressions against old.json"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("--allow-regressions"), "{}", r.stderr);
    // -o still writes the new matrix
    assert!(dir.join("new.json").exists());

    let r = matrix_in(&dir, &["--baseline", "old.json", "--allow-regressions"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("2 regressions"), "{}", r.stdout);
}

#[test]
fn baseline_improvements_are_not_regressions() {
    let dir = baseline_with(|m| set_cell(m, "gamma", "7.2", "2.0.0"));
    let r = matrix_in(&dir, &["--baseline", "old.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("gamma on Kubernetes 7.2: 2.0.0 -> 3.0.0 (newer)"),
        "{}",
        r.stdout
    );
}

#[test]
fn baseline_bad_input_exits_2_naming_the_file() {
    let dir = tempdir();
    let r = matrix_in(&dir, &["--baseline", "nowhere.json"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nowhere.json"), "{}", r.stderr);

    std::fs::write(dir.join("garbage.json"), "{ not json").unwrap();
    let r = matrix_in(&dir, &["--baseline", "garbage.json"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("garbage.json"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);

    std::fs::write(dir.join("future.json"), r#"{"version": 2}"#).unwrap();
    let r = matrix_in(&dir, &["--baseline", "future.json"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("version 2 is not supported"),
        "{}",
        r.stderr
    );

    let r = matrix_in(&dir, &["--allow-regressions"]);
    assert_eq!(r.code, 2, "--allow-regressions needs --baseline");
}

/// The version of `name` in a `bundle solve --format json` lock.
fn solved_version(run: &Run, name: &str) -> Option<String> {
    let lock = json(&run.stdout);
    lock["components"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["version"].as_str())
        .map(String::from)
}

fn solve(dir: &Path, minor: &str, with: &str, extra: &[&str]) -> Run {
    let range = format!("~{minor}");
    let mut args = vec![
        "solve",
        "--kubernetes",
        &range,
        "--with",
        with,
        "--allow-eol",
        "--format",
        "json",
        "-o",
        "x.lock",
    ];
    args.extend_from_slice(extra);
    bundle_in(dir, &args)
}

/// Whether a solved lock holds a release that is `untested` in the catalog.
fn holds_untested(run: &Run, catalog: &bundle::catalog::Catalog) -> bool {
    let lock = json(&run.stdout);
    lock["components"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            let (Some(name), Some(v)) = (c["name"].as_str(), c["version"].as_str()) else {
                return false;
            };
            catalog
                .component(name)
                .zip(v.parse().ok())
                .and_then(|(comp, v)| comp.release(&v))
                .is_some_and(|r| r.kubernetes.is_untested())
        })
    })
}

/// On the real catalog, cells agree with `bundle solve --kubernetes ~M --with C --allow-eol`.
///
/// `solve` maximizes the Kubernetes patch first, the matrix takes any patch of the minor; so the
/// check is: no cell ⇔ solve fails; else solve's version ≤ the cell, the cell itself solves, and
/// nothing newer than the cell does. Untested versions: a tested cell is the newest version that
/// installs without any untested release (a solver that still chooses untested versions may go
/// newer, but only with one in the lock); an untested cell installs (with `--allow-untested` where
/// the solver leaves untested versions out by default).
#[test]
fn real_catalog_cells_agree_with_solve() {
    let r = bundle(&["matrix", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = json(&r.stdout);
    let catalog = bundle::catalog::Catalog::embedded().unwrap();
    let minors: Vec<String> = m["kubernetes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let rows = m["components"].as_array().unwrap();
    assert!(minors.len() >= 3 && rows.len() >= 10);
    let dir = tempdir();
    let parse = |x: &str| semver::Version::parse(x).unwrap();
    let mut checked = 0;
    for (mi, minor) in minors.iter().enumerate() {
        for (ri, row) in rows.iter().enumerate() {
            // a deterministic sample that covers every row and every column
            if (ri + mi) % 4 != 0 {
                continue;
            }
            let name = row["name"].as_str().unwrap();
            let c = &row["cells"][minor.as_str()];
            let plain = solve(&dir, minor, name, &[]);
            let Some(v) = c["version"].as_str() else {
                assert_eq!(
                    plain.code, 1,
                    "{name} on {minor}: the matrix says none\n{}",
                    plain.stdout
                );
                checked += 1;
                continue;
            };
            let untested_cell = c["untested"] == true;
            // the flags under which the cell's version may be chosen
            let flags: &[&str] = if untested_cell && plain.code != 0 {
                &["--allow-untested"]
            } else {
                &[]
            };
            let run = if flags.is_empty() {
                plain
            } else {
                solve(&dir, minor, name, flags)
            };
            assert_eq!(
                run.code, 0,
                "{name} on {minor}: the matrix says {v}\n{}",
                run.stderr
            );
            let s = solved_version(&run, name).expect("in the lock");
            if parse(&s) > parse(v) {
                assert!(
                    !untested_cell && holds_untested(&run, &catalog),
                    "{name} on {minor}: solve {s} > cell {v}"
                );
            } else if s != v {
                let exact = solve(&dir, minor, &format!("{name}@={v}"), flags);
                assert_eq!(exact.code, 0, "{name}@={v} on {minor}\n{}", exact.stderr);
                assert_eq!(solved_version(&exact, name).as_deref(), Some(v));
            }
            let newer = solve(&dir, minor, &format!("{name}@>{v}"), flags);
            assert!(
                newer.code == 1 || (!untested_cell && holds_untested(&newer, &catalog)),
                "{name} newer than {v} on {minor} installs"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} pairs checked");
}

/// `chromium` on PATH, or `None` (a failure when `CI` is set).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("chromium"))
            .find(|c| c.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not on PATH, and CI is set: install it (apt-get install chromium)"
        );
        eprintln!("skipped: chromium is not on PATH (set CI to make this a failure)");
    }
    found
}

/// Runs headless chromium with `args` then `url`, killing it after 90 s; returns its stdout.
fn run_chromium(bin: &Path, args: &[String], url: &str) -> String {
    let profile = tempdir();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap_or_default()
}

#[test]
fn html_page_renders_in_chromium() {
    let dir = tempdir();
    let r = matrix_in(&dir, &["--format", "html", "-o", "matrix.html"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let html = std::fs::read_to_string(dir.join("matrix.html")).unwrap();
    // self-contained: no external assets
    for bad in ["<link", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(bad), "external asset: {bad}");
    }
    assert!(html.contains("position: sticky"));
    assert!(html.contains("id=\"filter\""));
    assert!(html.contains("title=\"no version of delta installs with Kubernetes 7.3:"));

    let Some(bin) = chromium() else { return };
    std::fs::write(
        dir.join("blank.html"),
        "<!doctype html><title>blank</title>",
    )
    .unwrap();
    let shot = |name: &str, page: &str| {
        let png = dir.join(name);
        run_chromium(
            &bin,
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1400,900".to_string(),
            ],
            &format!("file://{}", dir.join(page).display()),
        );
        std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0)
    };
    let blank = shot("blank.png", "blank.html");
    let page = shot("matrix.png", "matrix.html");
    assert!(page > 0, "no screenshot written");
    assert!(
        page > blank * 3,
        "the page looks blank: {page} bytes vs {blank} for a blank page"
    );

    let dom = run_chromium(
        &bin,
        &["--dump-dom".to_string()],
        &format!("file://{}", dir.join("matrix.html").display()),
    );
    assert!(dom.contains("<table id=\"components\">"), "{dom}");
    assert!(dom.contains("<tr data-name=\"gamma\">"), "{dom}");
    // the script ran: it counted the rows
    assert!(dom.contains(">8 components<"), "{dom}");
}
