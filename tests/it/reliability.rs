//! Faults a flaky network, a registry and a disk inflict on `pin` and `export`, injected by real
//! processes (a registry on 127.0.0.1 behind the harness's fault proxy, `kill -9`, `ulimit -f`), each
//! ending with the same run or the rerun complete and `bundle verify` clean. `mirror`'s share is in
//! `mirror.rs`; what the user reads in each case is listed in docs/reliability.md.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::faults::snap_scrubbed;
use crate::messages::snap;
use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::token_server::TokenServer;
use crate::support::{Run, Variant, World, bundle_env, bundle_with_file_limit, spawn_bundle};

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

/// `bundle verify PATH` in the world's directory is clean.
pub(crate) fn assert_verifies(w: &World, path: &str) {
    let v = bundle_env(&w.dir, &["verify", path], None, &[]);
    assert_eq!(v.code, 0, "verify {path}: {}{}", v.stdout, v.stderr);
}

fn pinned(w: &World) {
    let r = w.run("pin", &["-q"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The first request whose `METHOD PATH` contains `matching` was answered with a `Retry-After` of
/// `wait`: the same request came again no sooner than that (the policy's own first wait is at most
/// 250 ms, so this fails when the header is ignored).
fn assert_waited_as_told(proxy: &FaultProxy, matching: &str, wait: Duration) {
    let log = proxy.timed_requests();
    let (i, (first_at, first)) = log
        .iter()
        .enumerate()
        .find(|(_, (_, r))| r.contains(matching))
        .expect("a matching request");
    let (again_at, _) = log[i + 1..]
        .iter()
        .find(|(_, r)| r == first)
        .unwrap_or_else(|| panic!("{first} was not sent again: {log:?}"));
    let waited = again_at.duration_since(*first_at);
    assert!(
        waited >= wait - Duration::from_millis(100),
        "{first} was sent again after {waited:?}, before the {wait:?} the registry asked for"
    );
}

/// Waits until `ready` holds (a run got far enough to be killed), at most 60 s.
pub(crate) fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pin_and_export_ride_out_503s_429s_resets_and_stalls() {
    let Some(w) = World::new(Variant::Plain, "pin_and_export_ride_out_faults", "", &[]) else {
        return;
    };
    // pin: the first four manifest requests are answered 503.
    let proxy = FaultProxy::start(
        &w.registry.host,
        Faults {
            fail_first: 4,
            fail_status: 503,
            matching: Some("/manifests/".into()),
            ..Faults::default()
        },
    );
    let r = w.run_through(&proxy.host, "pin", &["-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let through_faults = w.lock_text();
    // pin: a 429 with `Retry-After: 2` is waited out as told.
    proxy.set_faults(Faults {
        fail_first: 1,
        fail_status: 429,
        retry_after: Some(2),
        matching: Some("/manifests/".into()),
        ..Faults::default()
    });
    proxy.clear();
    w.reset_lock();
    let r = w.run_through(&proxy.host, "pin", &["-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_waited_as_told(&proxy, "/manifests/", Duration::from_secs(2));
    assert_eq!(w.lock_text(), through_faults);
    w.reset_lock();
    pinned(&w);
    assert_eq!(
        w.lock_text(),
        through_faults,
        "the same digests as without faults"
    );

    // export: 429 with Retry-After on the first three blob requests, two downloads cut off in the
    // middle of their body.
    proxy.set_faults(Faults {
        fail_first: 3,
        fail_status: 429,
        retry_after: Some(1),
        reset_downloads: 2,
        reset_download_after: 100,
        matching: Some("/blobs/".into()),
        ..Faults::default()
    });
    proxy.clear();
    let args = ["--airgap", "-o", "a.tar", "--format", "json"];
    let r = w.run_through(&proxy.host, "export", &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["verified"], "sound");
    assert_waited_as_told(&proxy, "/blobs/", Duration::from_secs(1));
    assert!(!r.stderr.contains("failed"), "{}", r.stderr);
    assert_verifies(&w, "a.tar");

    // A stalled blob request: it times out (--timeout) and is tried again.
    proxy.set_faults(Faults {
        stall: Some(Duration::from_secs(4)),
        stall_first: 1,
        matching: Some("/blobs/".into()),
        ..Faults::default()
    });
    let args = ["--airgap", "-o", "b", "--timeout", "1", "--format", "json"];
    let r = w.run_through(&proxy.host, "export", &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_verifies(&w, "b");

    // A 503 storm longer than the attempts allowed, asking for an hour's wait each time: the wait
    // is bounded by --max-backoff, then exit 1, the status and the count named.
    proxy.set_faults(Faults {
        fail_first: 1000,
        fail_status: 503,
        retry_after: Some(3600),
        matching: Some("/blobs/".into()),
        ..Faults::default()
    });
    let args = [
        "--airgap",
        "-o",
        "c",
        "--retries",
        "2",
        "--max-backoff",
        "1",
        "--jobs",
        "1",
        "-q",
    ];
    let started = Instant::now();
    let r = w.run_through(&proxy.host, "export", &args);
    snap("faults_export_503_storm", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "Retry-After is bounded"
    );
    // …and the rerun, once the registry answers, completes.
    proxy.set_faults(Faults::default());
    let r = w.run_through(&proxy.host, "export", &["--airgap", "-o", "c", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_verifies(&w, "c");
}

/// Issue 16 defect 1: a rerun whose manifests are all in the work directory fetches blobs first; over
/// plain HTTP (`--insecure-registry`) that must work as it does for manifests.
#[test]
fn an_export_resumes_from_a_plain_http_registry_that_went_away_and_came_back() {
    let Some(mut w) = World::new(Variant::Plain, "export_resumes_from_plain_http", "", &[]) else {
        return;
    };
    pinned(&w);
    // Every blob request is dropped: the manifests arrive, no blob does.
    let proxy = FaultProxy::start(
        &w.registry.host,
        Faults {
            drop_from: Some(0),
            matching: Some("/blobs/".into()),
            ..Faults::default()
        },
    );
    let args = [
        "--airgap",
        "-o",
        "x.tar",
        "--retries",
        "2",
        "--jobs",
        "1",
        "-q",
    ];
    let r = w.run_through(&proxy.host, "export", &args);
    snap_scrubbed("faults_export_registry_goes_away", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(w.dir.join("x.tar.partial.d").is_dir());
    drop(proxy);

    // The registry is killed: unreachable, exit 1.
    w.registry.kill();
    let r = w.run(
        "export",
        &[
            "--airgap",
            "-o",
            "x.tar",
            "--retries",
            "1",
            "--jobs",
            "1",
            "-q",
        ],
        None,
    );
    snap("faults_export_registry_killed", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);

    // Back again: the rerun takes every manifest from the work directory and fetches only blobs.
    w.registry.restart();
    let args = ["--airgap", "-o", "x.tar", "--format", "json", "-q"];
    let r = w.run("export", &args, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json(&r);
    assert_eq!(j["manifests"]["fetched"], 0, "{j}");
    assert_eq!(j["verified"], "sound", "{j}");
    assert!(!w.dir.join("x.tar.partial.d").exists());
    assert_verifies(&w, "x.tar");
}

#[test]
fn an_export_killed_with_sigkill_resumes() {
    let Some(w) = World::new(Variant::Plain, "export_killed_resumes", "", &[]) else {
        return;
    };
    pinned(&w);
    // Blob requests hang, so that the run is surely in the middle of its work when it is killed.
    let proxy = FaultProxy::start(
        &w.registry.host,
        Faults {
            stall: Some(Duration::from_secs(30)),
            matching: Some("/blobs/".into()),
            ..Faults::default()
        },
    );
    let args = w.args_through(
        &proxy.host,
        "export",
        &["--airgap", "-o", "k.tar.zst", "-q"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = spawn_bundle(&w.dir, &args);
    wait_for("a blob request", || {
        proxy.requests().iter().any(|r| r.contains("/blobs/"))
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(w.dir.join("k.tar.zst.partial.d").is_dir());
    assert!(!w.dir.join("k.tar.zst").exists());
    drop(proxy);

    let args = ["--airgap", "-o", "k.tar.zst", "--format", "json", "-q"];
    let r = w.run("export", &args, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(json(&r)["manifests"]["reused"].as_u64().unwrap() > 0);
    assert_verifies(&w, "k.tar.zst");
}

/// Largest blob in a layout directory.
fn largest_blob(layout: &Path) -> u64 {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap()
}

/// A full disk, as `ulimit -f` makes it (no root needed): exit 1 while fetching, packing or
/// extracting, with a hint; the rerun with room completes.
#[test]
fn a_full_disk_fails_with_exit_1_and_the_rerun_completes() {
    let Some(w) = World::new(Variant::Plain, "full_disk", "", &[]) else {
        return;
    };
    pinned(&w);
    let r = w.run("export", &["--airgap", "-o", "m", "-q"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let largest = largest_blob(&w.dir.join("m"));
    assert!(
        largest > 1024,
        "the fixture's largest blob is {largest} bytes"
    );
    let base = w.args_through(&w.registry.host, "export", &[]);
    let export_with_limit = |out: &str, kib: u64| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend(["--airgap", "-o", out, "--jobs", "1", "-q"]);
        bundle_with_file_limit(&w.dir, &args, kib)
    };

    // While fetching: the largest blob does not fit.
    let r = export_with_limit("f.tar", (largest - 1) / 1024);
    snap("faults_export_full_disk_fetching", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = w.run("export", &["--airgap", "-o", "f.tar", "-q"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_verifies(&w, "f.tar");

    // While packing: every blob fits, the archive does not.
    let r = export_with_limit("g.tar", largest / 1024 + 1);
    snap("faults_export_full_disk_packing", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = w.run(
        "export",
        &["--airgap", "-o", "g.tar", "--format", "json", "-q"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        json(&r)["blobs"]["fetched"],
        0,
        "resumed from the work directory"
    );

    // mirror of a `.tar`: read in place, nothing written, so a full disk does not matter.
    let mirror = |bundle: &str, project: &str, kib: Option<u64>| {
        let to = format!("{}/{project}", w.registry.host);
        let args = [
            "mirror",
            bundle,
            "--to",
            &to,
            "--insecure-registry",
            &w.registry.host,
            "--jobs",
            "1",
            "-q",
        ];
        match kib {
            Some(kib) => bundle_with_file_limit(&w.dir, &args, kib),
            None => bundle_env(&w.dir, &args, None, &[]),
        }
    };
    let r = mirror("f.tar", "full", Some(1));
    assert_eq!(r.code, 0, "{}", r.stderr);

    // mirror of a `.tar.zst`, while spooling the blobs to push: exit 1, nothing pushed, no work
    // directory left; the rerun completes.
    let r = w.run("export", &["--airgap", "-o", "z.tar.zst", "-q"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = mirror("z.tar.zst", "full-zst", Some(1));
    snap_scrubbed("faults_mirror_full_disk_spooling", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(&w.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".mirror"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let r = mirror("z.tar.zst", "full-zst", None);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// A token service that answers `503` for a moment during a pull is asked again, under the same
/// policy as every request, and the pin completes with the digests the registry serves.
#[test]
fn a_token_service_that_answers_503_is_asked_again() {
    let (user, password) = ("puller", "pull-s3cret");
    let policy = crate::support::token_server::Policy::default();
    let Some(tokens) = TokenServer::start(user, password, policy, "token_service_503") else {
        return;
    };
    let Some(w) = World::new(tokens.variant(), "token_service_503", "", &[]) else {
        return;
    };
    tokens.clear();
    tokens.unavailable_for(2);
    let r = w.run(
        "pin",
        &["-q", "--username", user, "--password-stdin"],
        Some(password),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let statuses: Vec<u16> = tokens.issued().iter().map(|i| i.status).collect();
    assert_eq!(&statuses[..3], [503, 503, 200], "{statuses:?}");
    let lock = w.lock_text();
    let images = w.solved.matches("reference:").count();
    assert!(images > 0);
    assert_eq!(lock.matches("digest: sha256:").count(), images, "{lock}");
}

/// `kill -9` of `bundle pin` in the middle of its work: the lock is left as it was (never half
/// written), and the rerun completes with the digests a run without faults writes.
#[test]
fn a_pin_killed_with_sigkill_leaves_the_lock_and_the_rerun_completes() {
    let Some(w) = World::new(Variant::Plain, "pin_killed_reruns", "", &[]) else {
        return;
    };
    pinned(&w);
    let expected = w.lock_text();
    w.reset_lock();
    let proxy = FaultProxy::start(
        &w.registry.host,
        Faults {
            stall: Some(Duration::from_secs(30)),
            matching: Some("/manifests/".into()),
            ..Faults::default()
        },
    );
    let args = w.args_through(&proxy.host, "pin", &["-q"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = spawn_bundle(&w.dir, &args);
    wait_for("a manifest request", || {
        proxy.requests().iter().any(|r| r.contains("/manifests/"))
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(w.lock_text(), w.solved, "the lock is as it was");
    drop(proxy);
    pinned(&w);
    assert_eq!(w.lock_text(), expected);
}

/// A full disk while `pin` writes the lock (`ulimit -f` below the lock's size): exit 1 with a hint,
/// the old lock intact and no temporary file left; the rerun with room completes.
#[test]
fn a_pin_on_a_full_disk_fails_with_exit_1_and_the_rerun_completes() {
    let Some(w) = World::new(Variant::Plain, "pin_full_disk", "", &[]) else {
        return;
    };
    pinned(&w);
    let expected = w.lock_text();
    assert!(
        expected.len() > 1024,
        "the lock is {} bytes",
        expected.len()
    );
    w.reset_lock();
    let args = w.args_through(&w.registry.host, "pin", &["-q"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = bundle_with_file_limit(&w.dir, &args, 1);
    snap("faults_pin_full_disk", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(w.lock_text(), w.solved, "the old lock is intact");
    let left: Vec<_> = std::fs::read_dir(&w.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    pinned(&w);
    assert_eq!(w.lock_text(), expected);
}
