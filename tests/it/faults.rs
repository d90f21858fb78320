//! The cells of the fault matrix (docs/reliability.md) that `reliability.rs` and `mirror.rs` leave
//! empty: faults on the referrers lookups of `export`, on the chart pulls of `pin` (stall, reset,
//! 503 storm, the registry killed and restarted), on `mirror` (stall, 503 storm, the registry killed
//! and restarted) and a token that expires mid-export; real processes behind the harness's fault
//! proxy. Each ends with the same run or the rerun complete and the result checked (`bundle verify`
//! clean, the lock a run without faults writes, every digest at the mirror with its whole tree, no
//! tag over an incomplete tree after a failed run); every final message of a failed run is snapshotted
//! (`messages::snap`: ports, paths, digests and times replaced).

use std::time::{Duration, Instant};

use crate::artifacts::Upstream;
use crate::messages::snap;
use crate::mirror::{
    TestBundle, assert_mirrored, assert_tree, mirror, served, standard_bundle, target_repo,
};
use crate::reliability::{assert_verifies, wait_for};
use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::referrers::{descriptor, sbom};
use crate::support::token_server::{Policy, TokenServer};
use crate::support::{Registry, Run, Variant, World, bundle_env, tempdir};

/// [`snap`] with two more things replaced that vary between runs and say nothing about `bundle`:
/// how the peer's end of a connection the proxy dropped reads (closed before the answer, or reset:
/// timing), and a bare 64-digit hex name (not a `sha256:` digest, which `snap` replaces itself: a spooled blob's file, named by the digest of a random
/// synthetic image).
pub(crate) fn snap_scrubbed(name: &str, r: &Run) {
    let rules = [
        (
            r"connection closed before message completed|Connection reset by peer \(os error \d+\)",
            "[the connection dropped]",
        ),
        (r"([^:0-9a-f])[0-9a-f]{64}\b", "$1[HEX]"),
    ];
    let mut stderr = r.stderr.clone();
    for (pattern, replacement) in rules {
        stderr = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&stderr, replacement)
            .into_owned();
    }
    let r = Run {
        code: r.code,
        stdout: r.stdout.clone(),
        stderr,
    };
    snap(name, &r);
}

/// `r` with the repository of the first failed upload blanked: which repository's upload meets a fault
/// first varies between runs (blobs of equal size go in any order).
fn first_repository_scrubbed(r: &Run) -> Run {
    let rules = [
        (r"(upload \S+ to [^/ ]+)/[^: ]+:", "$1/[REPOSITORY]:"),
        (
            r"(/v2/[^/ ]+)/\S+?/blobs/uploads/",
            "$1/[REPOSITORY]/blobs/uploads/",
        ),
    ];
    let mut stderr = r.stderr.clone();
    for (pattern, replacement) in rules {
        stderr = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&stderr, replacement)
            .into_owned();
    }
    Run {
        code: r.code,
        stdout: r.stdout.clone(),
        stderr,
    }
}

/// Requests whose `METHOD PATH` contains `matching`, in order, with when they arrived.
fn matching(proxy: &FaultProxy, matching: &str) -> Vec<(Instant, String)> {
    proxy
        .timed_requests()
        .into_iter()
        .filter(|(_, r)| r.contains(matching))
        .collect()
}

/// The referrers requests of an export (the registry's referrers API, answered by the proxy in front
/// of distribution 2.8, which lacks it) meet a 503 storm, then a 429 with `Retry-After`: both are
/// retried like pulls (they went through oci-client, which retried neither nor read the header);
/// a storm longer than `--retries` fails with the status named, and the rerun completes.
#[test]
fn referrers_lookups_ride_out_503s_and_429_with_retry_after() {
    let Some(w) = World::new(Variant::Plain, "faults_referrers", "", &[]) else {
        return;
    };
    let r = w.run("pin", &["-q"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let app = &w.pushed["team/app:v1"];
    let sbom = sbom(app, "app");
    w.registry.push_untagged("team/app", &sbom);
    let mut listed = descriptor(&sbom);
    listed["artifactType"] = "application/spdx+json".into();
    let answer = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [listed],
    });
    let api = format!("/v2/team/app/referrers/{}", app.digest);
    let canned = vec![(
        api.clone(),
        "application/vnd.oci.image.index.v1+json".to_string(),
        serde_json::to_vec(&answer).unwrap(),
    )];
    // Three 503s on referrers requests: retried, the SBOM carried.
    let proxy = FaultProxy::start(
        &w.registry.host,
        Faults {
            fail_first: 3,
            fail_status: 503,
            matching: Some("/referrers/".into()),
            canned: canned.clone(),
            ..Faults::default()
        },
    );
    let r = w.run_through(&proxy.host, "export", &["--airgap", "-o", "a", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let asked = matching(&proxy, "/referrers/");
    assert!(asked.len() >= 4, "{asked:?}");
    assert_verifies(&w, "a");
    let sbom_file = w
        .dir
        .join("a/blobs/sha256")
        .join(sbom.digest.trim_start_matches("sha256:"));
    assert_eq!(std::fs::read(sbom_file).unwrap(), sbom.manifest);

    // A 429 with `Retry-After: 2` on the API: waited out as told, not the policy's 250 ms.
    proxy.set_faults(Faults {
        fail_first: 1,
        fail_status: 429,
        retry_after: Some(2),
        matching: Some(api.clone()),
        canned: canned.clone(),
        ..Faults::default()
    });
    proxy.clear();
    let r = w.run_through(&proxy.host, "export", &["--airgap", "-o", "b", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let asked = matching(&proxy, &api);
    assert!(asked.len() >= 2, "{asked:?}");
    let waited = asked[1].0.duration_since(asked[0].0);
    assert!(
        waited >= Duration::from_millis(1900),
        "asked again after {waited:?}, before the 2 s the registry asked for"
    );
    assert_verifies(&w, "b");

    // A storm longer than the attempts allowed: exit 1 naming the status and the attempts; nothing
    // tagged in a bundle; the rerun completes.
    proxy.set_faults(Faults {
        fail_first: 1000,
        fail_status: 503,
        matching: Some(api.clone()),
        canned: canned.clone(),
        ..Faults::default()
    });
    let args = ["--airgap", "-o", "c", "--retries", "2", "--jobs", "1", "-q"];
    let r = w.run_through(&proxy.host, "export", &args);
    snap("faults_referrers_503_storm", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!w.dir.join("c/index.json").exists());
    proxy.set_faults(Faults {
        canned,
        ..Faults::default()
    });
    let r = w.run_through(&proxy.host, "export", &["--airgap", "-o", "c", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_verifies(&w, "c");
}

/// `bundle pin` of the chart world (`artifacts::Upstream`: OCI charts and images in a registry,
/// a classic repository and release manifests on an HTTP server) with the registry reached through
/// `host` (a fault proxy), into the world's cache.
fn pin_charts_through(up: &Upstream, host: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["--catalog".into(), up.catalog(), "pin".into()];
    args.extend(
        up.mirrors()
            .into_iter()
            .map(|a| a.replace(&up.registry.host, host)),
    );
    args.extend(["--cache-dir".into(), up.cache().display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run_args(dir: &std::path::Path, args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bundle_env(dir, &args, None, &[])
}

/// Puts the solved lock back and empties the cache, so that a pin fetches every chart blob again.
fn unpinned(up: &Upstream, solved: &str) {
    std::fs::write(up.dir.join("bundle.lock"), solved).unwrap();
    let _ = std::fs::remove_dir_all(up.cache());
}

/// `pin` reads manifests and, for OCI charts, their blobs (into the cache). A stalled manifest or
/// blob request times out under `--timeout` and is tried again; downloads cut off in the middle are
/// fetched again from their first byte; the registry killed in the middle of a run stops it with
/// exit 1 and the lock untouched, and once the registry is back the rerun completes. Every run that
/// completes writes the lock a run without faults writes, and the cache holds every chart blob.
#[test]
fn pin_rides_out_stalls_and_resets_and_completes_after_the_registry_is_killed_and_restarted() {
    let Some(mut up) = Upstream::start("faults_pin_charts") else {
        return;
    };
    let solved = up.lock_text();
    let r = up.run("pin", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let expected = up.lock_text();
    let web = up.chart_digest("web");
    let proxy = FaultProxy::start(&up.registry.host, Faults::default());

    // A stall on the first manifest request, then on the first blob request.
    for what in ["/manifests/", "/blobs/"] {
        unpinned(&up, &solved);
        proxy.set_faults(Faults {
            stall: Some(Duration::from_secs(3)),
            stall_first: 1,
            matching: Some(what.into()),
            ..Faults::default()
        });
        proxy.clear();
        let args = pin_charts_through(&up, &proxy.host, &["--timeout", "1", "-q"]);
        let r = run_args(&up.dir, &args);
        assert_eq!(r.code, 0, "stall on {what}: {}", r.stderr);
        assert_eq!(up.lock_text(), expected, "stall on {what}");
        let asked = matching(&proxy, what);
        assert!(
            asked[1..].iter().any(|(_, r)| *r == asked[0].1),
            "the stalled {} was sent again: {asked:?}",
            asked[0].1
        );
        assert!(up.in_cache(&web));
    }

    // Downloads cut off after 100 bytes of their body (the chart blobs among them).
    unpinned(&up, &solved);
    proxy.set_faults(Faults {
        reset_downloads: 4,
        reset_download_after: 100,
        ..Faults::default()
    });
    let r = run_args(&up.dir, &pin_charts_through(&up, &proxy.host, &["-q"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(up.lock_text(), expected);
    assert!(up.in_cache(&web));

    // A 503 storm on the chart manifests longer than --retries: exit 1 naming the status and the
    // attempts, the lock untouched; the rerun completes.
    unpinned(&up, &solved);
    proxy.set_faults(Faults {
        fail_first: 1000,
        fail_status: 503,
        matching: Some("/v2/charts.example.test/".into()),
        ..Faults::default()
    });
    let args = pin_charts_through(&up, &proxy.host, &["--retries", "2", "--jobs", "1", "-q"]);
    let r = run_args(&up.dir, &args);
    snap("faults_pin_503_storm", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(up.lock_text(), solved, "the lock is as it was");
    proxy.set_faults(Faults::default());
    let r = run_args(&up.dir, &pin_charts_through(&up, &proxy.host, &["-q"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(up.lock_text(), expected);

    // The registry killed while the first chart blob request is held: exit 1, the lock untouched.
    unpinned(&up, &solved);
    proxy.set_faults(Faults {
        stall: Some(Duration::from_secs(2)),
        stall_first: 1,
        matching: Some("/blobs/".into()),
        ..Faults::default()
    });
    proxy.clear();
    let args = pin_charts_through(&up, &proxy.host, &["--retries", "2", "--jobs", "1", "-q"]);
    let dir = up.dir.to_path_buf();
    let run = std::thread::spawn(move || run_args(&dir, &args));
    wait_for("a blob request", || {
        proxy.requests().iter().any(|r| r.contains("/blobs/"))
    });
    up.registry.kill();
    let r = run.join().unwrap();
    snap_scrubbed("faults_pin_registry_killed", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(up.lock_text(), solved, "the lock is as it was");
    // Back again: the rerun completes.
    up.registry.restart();
    proxy.set_faults(Faults::default());
    let r = run_args(&up.dir, &pin_charts_through(&up, &proxy.host, &["-q"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(up.lock_text(), expected);
    assert!(up.in_cache(&web));
}

/// No tag under `project` points at a tree the registry does not hold whole.
fn assert_no_incomplete_tag(reg: &Registry, project: &str, bundle: &TestBundle) {
    for (reference, img) in &bundle.images {
        let (repo, tag) = target_repo(project, reference);
        if served(reg, &repo, &tag).is_some() {
            assert_tree(reg, &repo, img);
        }
    }
}

/// `mirror` meets a stalled upload (timed out under `--timeout`, tried again), a `503` storm longer
/// than `--retries` (exit 1, no tag over an incomplete tree, the rerun completes) and the target
/// registry killed in the middle of a push and started again (the same).
#[test]
fn mirror_rides_out_a_stall_and_completes_after_a_503_storm_and_a_registry_killed_and_restarted() {
    let Some(mut reg) = Registry::start(Variant::Plain, "faults_mirror") else {
        return;
    };
    let bundle = standard_bundle();
    let dir = tempdir();
    let proxy = FaultProxy::start(
        &reg.host,
        Faults {
            stall: Some(Duration::from_secs(3)),
            stall_first: 1,
            matching: Some("/blobs/uploads/".into()),
            ..Faults::default()
        },
    );
    let insecure = ["--insecure-registry", proxy.host.as_str()];
    let flags = [&insecure[..], &["--timeout", "1"]].concat();
    let to = format!("{}/stall", proxy.host);
    let r = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_mirrored(&reg, "stall", &bundle);

    // A storm on every upload.
    proxy.set_faults(Faults {
        fail_first: 1000,
        fail_status: 503,
        matching: Some("/blobs/uploads/".into()),
        ..Faults::default()
    });
    let failing = [
        &insecure[..],
        &["--retries", "2", "--max-backoff", "1", "--jobs", "1", "-q"],
    ]
    .concat();
    let to = format!("{}/storm", proxy.host);
    let r = mirror(&dir, &bundle, &to, &failing);
    snap("faults_mirror_503_storm", &first_repository_scrubbed(&r));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_no_incomplete_tag(&reg, "storm", &bundle);
    proxy.set_faults(Faults::default());
    let r = mirror(&dir, &bundle, &to, &insecure);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_mirrored(&reg, "storm", &bundle);

    // The registry killed while the first upload is held.
    proxy.set_faults(Faults {
        stall: Some(Duration::from_secs(2)),
        stall_first: 1,
        matching: Some("/blobs/uploads/".into()),
        ..Faults::default()
    });
    proxy.clear();
    let to = format!("{}/killed", proxy.host);
    let mut args: Vec<String> = vec![
        "mirror".into(),
        bundle.dir.display().to_string(),
        "--to".into(),
        to.clone(),
    ];
    args.extend(failing.iter().map(|s| s.to_string()));
    let cwd = dir.to_path_buf();
    let run = std::thread::spawn(move || run_args(&cwd, &args));
    wait_for("an upload", || {
        proxy
            .requests()
            .iter()
            .any(|r| r.contains("/blobs/uploads/"))
    });
    reg.kill();
    let r = run.join().unwrap();
    snap_scrubbed(
        "faults_mirror_registry_killed",
        &first_repository_scrubbed(&r),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    reg.restart();
    assert_no_incomplete_tag(&reg, "killed", &bundle);
    let r = mirror(&dir, &bundle, &to, &insecure);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_mirrored(&reg, "killed", &bundle);
}

/// How many tokens the service issued for one set of scopes, at most (more than one: renewed).
fn most_tokens_for_one_scope(tokens: &TokenServer) -> usize {
    let mut counts = std::collections::BTreeMap::new();
    for i in tokens
        .issued()
        .iter()
        .filter(|i| i.status == 200 && !i.scopes.is_empty())
    {
        *counts.entry(i.scopes.join(" ")).or_insert(0usize) += 1;
    }
    counts.into_values().max().unwrap_or(0)
}

/// Tokens that expire in the middle of an `export` (one second's lifetime; the requests for the
/// multi-platform image, about ten in one repository, each held 300 ms, so that its token expires
/// while they go on) are renewed: the export completes and verifies. (`mirror`'s share:
/// `mirror::mirror_with_token_auth_renews_tokens_that_expire_mid_run`; `pin` sends one request per
/// image repository, so a token of its never outlives its use.)
#[test]
fn an_export_renews_tokens_that_expire_mid_run() {
    let (user, password) = ("puller", "pull-s3cret");
    let policy = Policy {
        lifetime: Duration::from_secs(1),
        ..Policy::default()
    };
    let Some(tokens) = TokenServer::start(user, password, policy, "faults_token_expiry") else {
        return;
    };
    let Some(w) = World::new(tokens.variant(), "faults_token_expiry", "", &[]) else {
        return;
    };
    let r = w.run(
        "pin",
        &["-q", "--username", user, "--password-stdin"],
        Some(password),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let proxy = FaultProxy::start(
        &w.registry.host,
        Faults {
            stall: Some(Duration::from_millis(300)),
            matching: Some("/team/multi/".into()),
            ..Faults::default()
        },
    );
    tokens.clear();
    let more = [
        "--airgap",
        "-o",
        "t.tar",
        "--jobs",
        "1",
        "-q",
        "--username",
        user,
        "--password-stdin",
    ];
    let args = w.args_through(&proxy.host, "export", &more);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = bundle_env(&w.dir, &args, Some(password), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        most_tokens_for_one_scope(&tokens) > 1,
        "{:?}",
        tokens.issued()
    );
    assert_verifies(&w, "t.tar");
}
