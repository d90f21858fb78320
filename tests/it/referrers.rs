//! Signatures, attestations and SBOMs across the air gap (issue 18), against the real registry
//! (distribution 2.8, which has no referrers API: `GET /v2/<name>/referrers/<digest>` answers 404, so
//! OCI 1.1 referrers are found through the referrers tag schema's `sha256-<hex>` index) and cosign's
//! tag scheme: found by `export`, carried byte for byte, listed by `inspect`, checked by `verify`,
//! mirrored and found again at the target (read back with skopeo).

use std::path::Path;

use serde_json::Value;

use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::referrers::{
    SIGNATURE_ANNOTATION, SIMPLE_SIGNING, cosign_attestation, cosign_manifest, cosign_signature,
    mirror_to_site, referrers_index, sbom, signing_key, simple_signing_payload, tag_of,
};
use crate::support::{Image, Run, SOURCE, Variant, World, bundle_env};

/// What the harness attached to the world's images.
struct Attached {
    /// `team/app:v1`'s SBOM, an OCI 1.1 referrer listed by its referrers tag index.
    sbom: Image,
    index: Image,
    /// `team/app:v1`'s cosign signature (`.sig` tag).
    signature: Image,
    /// The attestation of `team/multi:v2`'s first platform manifest (`.att` tag).
    attestation: Image,
}

fn attach(world: &World) -> Attached {
    let reg = &world.registry;
    let app = &world.pushed["team/app:v1"];
    let child = &world.pushed["team/multi:v2"].children[0];
    let sbom = sbom(app, "app");
    reg.push_untagged("team/app", &sbom);
    let index = referrers_index(&[&sbom], &["application/spdx+json"]);
    reg.push(&format!("team/app:{}", tag_of(&app.digest, None)), &index);
    let payload = simple_signing_payload(&format!("{SOURCE}/team/app"), &app.digest);
    let signature = cosign_manifest(&[(
        SIMPLE_SIGNING,
        payload,
        serde_json::json!({ SIGNATURE_ANNOTATION: "MEUCIQDplaceholder" }),
    )]);
    reg.push(
        &format!("team/app:{}", tag_of(&app.digest, Some("sig"))),
        &signature,
    );
    let attestation = cosign_attestation();
    reg.push(
        &format!("team/multi:{}", tag_of(&child.digest, Some("att"))),
        &attestation,
    );
    Attached {
        sbom,
        index,
        signature,
        attestation,
    }
}

fn export(world: &World, out: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--airgap", "-o", out, "-q"];
    args.extend_from_slice(extra);
    world.run("export", &args, None)
}

/// The referrers entries of a bundle directory's `index.json`, by name.
fn referrer_entries(dir: &Path) -> std::collections::BTreeMap<String, Value> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["annotations"]["dev.bundle.referrer.subject"].is_null())
        .map(|e| {
            let name = e["annotations"]["dev.bundle.ref.name"].as_str().unwrap();
            (name.to_string(), e.clone())
        })
        .collect()
}

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

#[test]
fn referrers_are_carried_byte_for_byte_listed_verified_and_mirrored() {
    let Some(world) = World::new(Variant::Plain, "referrers", "", &[]) else {
        return;
    };
    let a = attach(&world);
    let app = &world.pushed["team/app:v1"];
    let child = &world.pushed["team/multi:v2"].children[0];
    let r = export(&world, "out", &[]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let out = world.dir.join("out");

    // One entry per referrers index and cosign tag, each linked to its subject and image.
    let entries = referrer_entries(&out);
    let app_ref = format!("{SOURCE}/team/app");
    let expected = [
        (
            format!("{app_ref}:{}", tag_of(&app.digest, None)),
            &a.index,
            &app.digest,
            "referrers",
        ),
        (
            format!("{app_ref}:{}", tag_of(&app.digest, Some("sig"))),
            &a.signature,
            &app.digest,
            "cosign",
        ),
        (
            format!("{SOURCE}/team/multi:{}", tag_of(&child.digest, Some("att"))),
            &a.attestation,
            &child.digest,
            "cosign",
        ),
    ];
    assert_eq!(
        entries.keys().cloned().collect::<Vec<_>>(),
        expected.iter().map(|e| e.0.clone()).collect::<Vec<_>>()
    );
    for (name, image, subject, scheme) in &expected {
        let e = &entries[name];
        assert_eq!(e["digest"], image.digest.as_str(), "{name}");
        assert_eq!(
            e["annotations"]["dev.bundle.referrer.subject"],
            subject.as_str()
        );
        assert_eq!(e["annotations"]["dev.bundle.referrer.scheme"], *scheme);
        // Byte for byte: the manifest and every blob as upstream served them.
        assert_eq!(blob(&out, &image.digest), image.manifest, "{name}");
        for (d, bytes) in &image.blobs {
            assert_eq!(&blob(&out, d), bytes, "{name}: blob {d}");
        }
    }
    assert_eq!(blob(&out, &a.sbom.digest), a.sbom.manifest);
    for (d, bytes) in &a.sbom.blobs {
        assert_eq!(&blob(&out, d), bytes);
    }

    // inspect lists them per image, with sizes; verify checks them like any content.
    let r = bundle_env(
        &world.dir,
        &["inspect", "out", "--format", "json"],
        None,
        &[],
    );
    assert_eq!(r.code, 0, "inspect: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let rows: Vec<(String, String, u64)> = v["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["image"].as_str().unwrap().to_string(),
                x["digest"].as_str().unwrap().to_string(),
                x["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let sbom_bytes =
        (a.sbom.manifest.len() + a.sbom.blobs.iter().map(|b| b.1.len()).sum::<usize>()) as u64;
    assert!(
        rows.contains(&(format!("{app_ref}:v1"), a.sbom.digest.clone(), sbom_bytes)),
        "{rows:?}"
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    let r = bundle_env(&world.dir, &["inspect", "out"], None, &[]);
    assert!(r.stdout.contains("application/spdx+json"), "{}", r.stdout);
    let r = bundle_env(&world.dir, &["verify", "out"], None, &[]);
    assert_eq!(r.code, 0, "verify: {}{}", r.stdout, r.stderr);

    // Mirrored after their subjects, found again at the target under the same tags.
    let Some((target, r)) = mirror_to_site(&world, "referrers mirror") else {
        return;
    };
    assert!(
        r.stdout.contains(", 3 referrers entries in "),
        "{}",
        r.stdout
    );
    for (name, image, _, _) in &expected {
        let path = format!("site/{name}");
        if let Some(d) = target.skopeo_digest(&path) {
            assert_eq!(d, image.digest, "{path} at the target");
        }
    }
    let sbom_at = format!("site/{app_ref}@{}", a.sbom.digest);
    if let Some(d) = target.skopeo_digest(&sbom_at) {
        assert_eq!(d, a.sbom.digest);
    }

    // --no-referrers leaves them out.
    let r = export(&world, "bare", &["--no-referrers"]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    assert!(referrer_entries(&world.dir.join("bare")).is_empty());
}

#[test]
fn a_listed_referrer_that_cannot_be_fetched_fails_the_export() {
    let Some(world) = World::new(Variant::Plain, "referrers unfetchable", "", &[]) else {
        return;
    };
    let a = attach(&world);
    // The SBOM's manifest goes away; the referrers index still lists it.
    let hex = a.sbom.digest.trim_start_matches("sha256:");
    let link = world
        .registry
        .dir
        .join("storage/docker/registry/v2/repositories/team/app/_manifests/revisions/sha256")
        .join(hex);
    std::fs::remove_dir_all(&link).unwrap();
    let r = export(&world, "out", &[]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains(&format!("{SOURCE}/team/app:v1")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&a.sbom.digest), "{}", r.stderr);
    assert!(!world.dir.join("out/index.json").exists());
}

#[test]
fn the_referrers_api_is_read_where_the_registry_has_it() {
    let Some(world) = World::new(Variant::Plain, "referrers api", "", &[]) else {
        return;
    };
    // distribution 2.8 has no referrers API: a proxy in front answers it, as a registry with the API
    // would; the SBOM is pushed by digest only (no referrers tag).
    let app = &world.pushed["team/app:v1"];
    let sbom = sbom(app, "app");
    world.registry.push_untagged("team/app", &sbom);
    let mut listed = crate::support::referrers::descriptor(&sbom);
    listed["artifactType"] = "application/spdx+json".into();
    let answer = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [listed],
    });
    let faults = Faults {
        canned: vec![(
            format!("/v2/team/app/referrers/{}", app.digest),
            "application/vnd.oci.image.index.v1+json".to_string(),
            serde_json::to_vec(&answer).unwrap(),
        )],
        ..Faults::default()
    };
    let proxy = FaultProxy::start(&world.registry.host, faults);
    let r = world.run_through(&proxy.host, "export", &["--airgap", "-o", "out", "-q"]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let asked = format!("GET /v2/team/app/referrers/{}", app.digest);
    assert!(
        proxy.requests().iter().any(|q| q.starts_with(&asked)),
        "{:?}",
        proxy.requests()
    );
    let out = world.dir.join("out");
    let entries = referrer_entries(&out);
    let name = format!("{SOURCE}/team/app:{}", tag_of(&app.digest, None));
    let entry = &entries[&name];
    assert_eq!(
        entry["annotations"]["dev.bundle.referrer.scheme"],
        "referrers"
    );
    // The index made from the API's answer lists the SBOM, which is carried byte for byte.
    let index: Value =
        serde_json::from_slice(&blob(&out, entry["digest"].as_str().unwrap())).unwrap();
    assert_eq!(index["manifests"][0]["digest"], sbom.digest.as_str());
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/spdx+json"
    );
    assert_eq!(blob(&out, &sbom.digest), sbom.manifest);
}

#[test]
fn upstream_signatures_are_checked_from_the_bundle_alone() {
    let Some(world) = World::new(Variant::Plain, "upstream signatures", "", &[]) else {
        return;
    };
    let (key, public) = signing_key(11);
    let (_, other) = signing_key(12);
    std::fs::write(world.dir.join("upstream.pub"), public).unwrap();
    std::fs::write(world.dir.join("other.pub"), other).unwrap();
    let reg = &world.registry;
    let app = &world.pushed["team/app:v1"];
    let multi = &world.pushed["team/multi:v2"];
    let good = cosign_signature(&key, &format!("{SOURCE}/team/app"), &app.digest, false);
    reg.push(
        &format!("team/app:{}", tag_of(&app.digest, Some("sig"))),
        &good,
    );
    let bad = cosign_signature(&key, &format!("{SOURCE}/team/multi"), &multi.digest, true);
    reg.push(
        &format!("team/multi:{}", tag_of(&multi.digest, Some("sig"))),
        &bad,
    );
    let r = export(&world, "out", &[]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);

    // With upstream's key: the app verifies, the tampered signature is refused naming its image,
    // the others are unsigned (listed, not refused).
    let args = [
        "verify",
        "out",
        "--signatures",
        "--signature-key",
        "upstream.pub",
    ];
    let r = bundle_env(&world.dir, &args, None, &[]);
    crate::messages::snap("verify_upstream_signatures", &r);
    let mut json = args.to_vec();
    json.extend(["--format", "json"]);
    let r = bundle_env(&world.dir, &json, None, &[]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let outcome = |image: &str| {
        v["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["image"] == image)
            .map(|s| s["outcome"].as_str().unwrap().to_string())
    };
    assert_eq!(
        outcome(&format!("{SOURCE}/team/app:v1")).as_deref(),
        Some("verified")
    );
    assert_eq!(
        outcome(&format!("{SOURCE}/team/multi:v2")).as_deref(),
        Some("failed")
    );
    assert_eq!(
        outcome(&format!("{SOURCE}/legacy/tool:1.0")).as_deref(),
        Some("unsigned")
    );

    // export --verify-signatures checks them online, before the bundle is called good.
    let r = export(
        &world,
        "checked",
        &["--verify-signatures", "--signature-key", "upstream.pub"],
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("{SOURCE}/team/multi:v2: no valid signature")),
        "{}",
        r.stderr
    );

    // Another identity (key): the app's signature is refused too, naming the image.
    let r = bundle_env(
        &world.dir,
        &[
            "verify",
            "out",
            "--signatures",
            "--signature-key",
            "other.pub",
        ],
        None,
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("{SOURCE}/team/app:v1: no valid signature")),
        "{}",
        r.stdout
    );
}
