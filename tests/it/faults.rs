//! Faults on the requests `reliability.rs` does not reach: the referrers lookups of `export` (the OCI
//! 1.1 referrers API, referrers and cosign tags), through the harness's fault proxy. Each ends with
//! the same run or the rerun complete and `bundle verify` clean; every final message is snapshotted
//! (`messages::snap`: ports, paths, digests and times replaced).

use std::time::{Duration, Instant};

use crate::messages::snap;
use crate::reliability::assert_verifies;
use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::referrers::{descriptor, sbom};
use crate::support::{Variant, World};

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
