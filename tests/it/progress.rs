//! Progress people can read (issue 15, item 3): on a terminal (a real pseudo-terminal, see
//! `support::pty`) `export`, `mirror`, `verify` and `pin` draw bars that appear, advance and finish at
//! their total; without a terminal the plain lines (and a heartbeat on a long phase) come and no escape
//! code does; `--quiet` shows no progress either way; `--format json` keeps standard output JSON.
//!
//! The registries sit behind a proxy that holds each blob request a little (`--jobs 1`), so that a run
//! lasts long enough for a bar to be drawn between two blobs. Frames are the lines drawn on the
//! terminal, escape codes removed, rates, ETAs and elapsed times masked.

use std::time::Duration;

use regex::Regex;

use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::pty::bundle_on_terminal;
use crate::support::world::catalog;
use crate::support::{Registry, Variant, World, bundle_env};

/// Every blob request held 60 ms.
fn slow_blobs(upstream: &str) -> FaultProxy {
    FaultProxy::start(
        upstream,
        Faults {
            stall: Some(Duration::from_millis(60)),
            matching: Some("/blobs/".into()),
            ..Faults::default()
        },
    )
}

/// The width of the terminals the tests run on.
const COLUMNS: u16 = 100;

/// The lines drawn on the terminal in order (each redraw of a bar is one), escape codes removed,
/// what changes from run to run masked. A line that fills the width wraps on its own, as a terminal
/// wraps it.
fn frames(terminal: &str) -> Vec<String> {
    let csi = Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    let masks = [
        (r"\d+(\.\d+)? ?[KMGT]?i?B/s", "[RATE]"),
        (r"ETA \S+", "ETA [ETA]"),
        (r"· \d+[a-z]+( \d+[a-z]+)?$", "· [ELAPSED]"),
    ]
    .map(|(p, r)| (Regex::new(p).unwrap(), r));
    csi.replace_all(terminal, "\n")
        .split(['\r', '\n'])
        .flat_map(|piece| {
            let chars: Vec<char> = piece.chars().collect();
            chars
                .chunks(usize::from(COLUMNS))
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
        })
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            masks.iter().fold(l.to_string(), |l, (re, r)| {
                re.replace_all(&l, *r).into_owned()
            })
        })
        .collect()
}

/// One drawing of a bar: items done and total, bytes done and total as drawn, the bar itself.
#[derive(Debug)]
struct Drawn {
    done: usize,
    total: usize,
    bytes: Option<(String, String)>,
    bar: String,
}

/// Every drawing of the bar of `phase` counting `unit`; bytes when `bytes`.
fn drawings(frames: &[String], phase: &str, unit: &str, bytes: bool) -> Vec<Drawn> {
    let size = r"[\d.]+ [KMGT]?i?B";
    let pattern = if bytes {
        format!(
            r"^\s*{phase} \[(?P<bar>[#>-]+)\] (?P<b>{size})/(?P<bt>{size}) \[RATE\] ETA \[ETA\] · (?P<n>\d+)/(?P<of>\d+) {unit}$"
        )
    } else {
        format!(
            r"^\s*{phase} \[(?P<bar>[#>-]+)\] (?P<n>\d+)/(?P<of>\d+) {unit} ETA \[ETA\] · \[ELAPSED\]$"
        )
    };
    let re = Regex::new(&pattern).unwrap();
    frames
        .iter()
        .filter_map(|f| re.captures(f))
        .map(|c| Drawn {
            done: c["n"].parse().unwrap(),
            total: c["of"].parse().unwrap(),
            bytes: bytes.then(|| (c["b"].to_string(), c["bt"].to_string())),
            bar: c["bar"].to_string(),
        })
        .collect()
}

/// The bar of `phase` appears, advances (is drawn at least once between its start and its end,
/// never going back) and finishes at its total, bar full. Returns its total.
fn assert_bar_runs_to_total(frames: &[String], phase: &str, unit: &str, bytes: bool) -> usize {
    let drawn = drawings(frames, phase, unit, bytes);
    let shown = || frames.join("\n");
    assert!(!drawn.is_empty(), "no `{phase}` bar drawn:\n{}", shown());
    assert!(
        drawn.windows(2).all(|w| w[0].done <= w[1].done),
        "the `{phase}` bar went back: {drawn:?}"
    );
    assert!(
        drawn.iter().any(|d| d.done > 0 && d.done < d.total),
        "the `{phase}` bar was never drawn between start and end: {drawn:?}"
    );
    let last = drawn.last().unwrap();
    assert_eq!(last.done, last.total, "{phase} did not finish: {drawn:?}");
    assert!(last.bar.chars().all(|c| c == '#'), "{phase}: {last:?}");
    if let Some((done, total)) = &last.bytes {
        assert_eq!(done, total, "{phase}: bytes not at total: {last:?}");
    }
    last.total
}

fn text_of(frames: &[String]) -> String {
    frames.join("\n")
}

#[test]
fn export_mirror_and_verify_draw_bars_on_a_terminal() {
    let test = "export_mirror_and_verify_draw_bars_on_a_terminal";
    let Some(w) = World::new(Variant::Plain, test, "", &[]) else {
        return;
    };
    let near = slow_blobs(&w.registry.host);
    let args = w.args_through(
        &near.host,
        "export",
        &["--airgap", "-o", "out", "--jobs", "1", "--format", "json"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(run) = bundle_on_terminal(&w.dir, &args, &[], COLUMNS, test) else {
        return;
    };
    let shown = frames(&run.terminal);
    assert_eq!(run.code, 0, "{}", text_of(&shown));
    // Standard output is the JSON summary alone: the bars went to the terminal.
    let summary: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", run.stdout));
    assert!(summary["images"].as_u64().unwrap() > 0, "{summary}");
    assert!(!run.stdout.contains('\x1b'), "{}", run.stdout);
    let blobs = assert_bar_runs_to_total(&shown, "blobs", "blobs", true);
    assert!(blobs > 3, "{blobs}");
    let images = drawings(&shown, "manifests", "images", false);
    assert!(
        images
            .last()
            .is_some_and(|d| d.done == d.total && d.total == 5),
        "{images:?}\n{}",
        text_of(&shown)
    );

    // An archive output: the pack bar names the archive and finishes.
    let args = w.args_through(&w.registry.host, "export", &["--airgap", "-o", "out.tar"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(run) = bundle_on_terminal(&w.dir, &args, &[], COLUMNS, test) else {
        return;
    };
    let shown = frames(&run.terminal);
    assert_eq!(run.code, 0, "{}", text_of(&shown));
    let pack = Regex::new(r"^\s*pack \[#+\] 1/1 out\.tar ETA").unwrap();
    assert!(
        shown.iter().any(|f| pack.is_match(f)),
        "{}",
        text_of(&shown)
    );

    // verify rehashes a directory bundle with a bar of known size.
    let Some(run) = bundle_on_terminal(&w.dir, &["verify", "out"], &[], COLUMNS, test) else {
        return;
    };
    let shown = frames(&run.terminal);
    assert_eq!(run.code, 0, "{}", text_of(&shown));
    let drawn = drawings(&shown, "rehash", "blobs", true);
    let last = drawn
        .last()
        .unwrap_or_else(|| panic!("{}", text_of(&shown)));
    assert_eq!(
        (last.done, last.bytes.as_ref().map(|b| &b.0)),
        (last.total, last.bytes.as_ref().map(|b| &b.1))
    );

    // mirror into a second registry, also slow for blobs.
    let Some(far) = Registry::start(Variant::Plain, test) else {
        return;
    };
    let far_proxy = slow_blobs(&far.host);
    let to = format!("{}/platform", far_proxy.host);
    let catalog = catalog();
    let args = [
        "--catalog",
        &catalog,
        "mirror",
        "out",
        "--to",
        &to,
        "--insecure-registry",
        &far_proxy.host,
        "--jobs",
        "1",
        "--format",
        "json",
    ];
    let Some(run) = bundle_on_terminal(&w.dir, &args, &[], COLUMNS, test) else {
        return;
    };
    let shown = frames(&run.terminal);
    assert_eq!(run.code, 0, "{}", text_of(&shown));
    let summary: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", run.stdout));
    assert!(
        summary["blobs"]["pushed"].as_u64().unwrap() > 3,
        "{summary}"
    );
    assert_bar_runs_to_total(&shown, "blobs", "blobs", true);
    let tags = drawings(&shown, "tags", "tags", false);
    assert!(
        tags.last()
            .is_some_and(|d| d.done == d.total && d.total > 0),
        "{tags:?}\n{}",
        text_of(&shown)
    );
}

#[test]
fn pin_draws_a_bar_per_phase_with_its_lines_above() {
    let test = "pin_draws_a_bar_per_phase_with_its_lines_above";
    let Some(w) = World::new(Variant::Plain, test, "", &[]) else {
        return;
    };
    let args = w.args_through(&w.registry.host, "pin", &["--format", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(run) = bundle_on_terminal(&w.dir, &args, &[], COLUMNS, test) else {
        return;
    };
    let shown = frames(&run.terminal);
    assert_eq!(run.code, 0, "{}", text_of(&shown));
    serde_json::from_str::<serde_json::Value>(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", run.stdout));
    let resolve = drawings(&shown, "resolve", "images", false);
    assert!(
        resolve
            .last()
            .is_some_and(|d| d.done == 5 && d.total == 5 && !d.bar.contains('-')),
        "{resolve:?}\n{}",
        text_of(&shown)
    );
    // Each image's digest is printed once above the bars, not lost in a redraw.
    let pinned =
        Regex::new(r"^pinned [1-5]/5 registry\.example\.test/\S+ sha256:[0-9a-f]+").unwrap();
    let mut lines: Vec<&str> = shown
        .iter()
        .filter(|f| pinned.is_match(f))
        .map(|f| f.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), 5, "{}", text_of(&shown));
}

#[test]
fn plain_lines_without_a_terminal_and_nothing_when_quiet() {
    let test = "plain_lines_without_a_terminal_and_nothing_when_quiet";
    let Some(w) = World::new(Variant::Plain, test, "", &[]) else {
        return;
    };
    let near = slow_blobs(&w.registry.host);
    let export = |extra: &[&str], env: &[(&str, &str)]| {
        let args = w.args_through(&near.host, "export", extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bundle_env(&w.dir, &args, None, env)
    };
    // Not a terminal: plain lines at each phase change, and a heartbeat on a phase that runs long.
    let beat = [("BUNDLE_PROGRESS_INTERVAL", "0.2")];
    let run = export(&["--airgap", "-o", "out", "--jobs", "1"], &beat);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{}", run.stderr);
    for line in ["manifests: 5 images to fetch", "manifests of 5/5 images"] {
        assert!(
            run.stderr.lines().any(|l| l == line),
            "no {line:?}:\n{}",
            run.stderr
        );
    }
    let patterns = [
        r"(?m)^blobs: \d+ to fetch or reuse \([\d.]+ [KM]?i?B\)$",
        r"(?m)^fetched (\d+)/(\d+) blobs, [\d.]+ MiB$",
        r"(?m)^blobs: \d+/\d+ blobs, [\d.]+ [KM]?i?B/[\d.]+ [KM]?i?B \(\d+ s\)$",
    ];
    for p in patterns {
        assert!(
            Regex::new(p).unwrap().is_match(&run.stderr),
            "no {p}:\n{}",
            run.stderr
        );
    }

    // --quiet: no progress at all (the summary and notes stay).
    let run = export(&["--airgap", "-o", "quiet", "--jobs", "1", "-q"], &beat);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for start in ["fetched ", "blobs:", "manifests", "pinned "] {
        assert!(
            !run.stderr.lines().any(|l| l.starts_with(start)),
            "{start} with -q:\n{}",
            run.stderr
        );
    }
    let args = w.args_through(&near.host, "export", &["--airgap", "-o", "quiet2", "-q"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(run) = bundle_on_terminal(&w.dir, &args, &[], COLUMNS, test) else {
        return;
    };
    assert_eq!(run.code, 0, "{}", run.terminal);
    assert!(!run.terminal.contains('\x1b'), "{:?}", run.terminal);
    assert!(!run.terminal.contains("blobs ["), "{}", run.terminal);

    // mirror: lines without a terminal, nothing with -q on a terminal.
    let Some(far) = Registry::start(Variant::Plain, test) else {
        return;
    };
    let to = format!("{}/platform", far.host);
    let catalog = catalog();
    let mirror = |extra: &[&'static str]| {
        let mut args: Vec<&str> = vec![
            "--catalog",
            catalog.as_str(),
            "mirror",
            "out",
            "--to",
            to.as_str(),
            "--insecure-registry",
            far.host.as_str(),
        ];
        args.extend_from_slice(extra);
        args
    };
    let run = bundle_env(&w.dir, &mirror(&[]), None, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{}", run.stderr);
    assert!(
        Regex::new(r"(?m)^blobs: \d+ to check$")
            .unwrap()
            .is_match(&run.stderr),
        "{}",
        run.stderr
    );
    let Some(run) = bundle_on_terminal(&w.dir, &mirror(&["-q"]), &[], COLUMNS, test) else {
        return;
    };
    assert_eq!(run.code, 0, "{}", run.terminal);
    assert!(!run.terminal.contains('\x1b'), "{:?}", run.terminal);
    assert!(!run.terminal.contains("to check"), "{}", run.terminal);
    assert!(!run.terminal.contains("mirroring"), "{}", run.terminal);
}
