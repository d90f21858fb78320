//! `bundle mirror` against real registry processes (distribution 2.8 on 127.0.0.1), directly and
//! through the fault-injecting proxy: digests intact, reruns push nothing, corrupt bundles push
//! nothing, Basic auth, TLS, 5xx/429/connection resets, a registry that goes away mid-run.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::common::{Run, tempdir};
use crate::faultproxy::{FaultProxy, Faults};
use crate::registry::{Image, Kind, Registry, Variant, bundle_env, image};

const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A bundle directory (OCI image layout) holding images under their original references.
struct TestBundle {
    dir: PathBuf,
    images: Vec<(String, Image)>,
}

fn write_image(blobs: &Path, image: &Image) {
    for (digest, bytes) in &image.blobs {
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
    }
    for child in &image.children {
        write_image(blobs, child);
    }
    std::fs::write(
        blobs.join(image.digest.trim_start_matches("sha256:")),
        &image.manifest,
    )
    .unwrap();
}

/// Writes a blob, returns its descriptor.
fn put_blob(blobs: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let digest = crate::registry::sha256(bytes);
    std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

/// The bundle's platform artifact (the lock and a manifests tar), as `bundle export` writes it.
fn platform_artifact(blobs: &Path, lock: &str) -> serde_json::Value {
    let config = put_blob(blobs, "application/vnd.oci.empty.v1+json", b"{}");
    let lock = put_blob(
        blobs,
        "application/vnd.bundle.lock.v1+yaml",
        lock.as_bytes(),
    );
    let tar = put_blob(
        blobs,
        "application/vnd.bundle.manifests.v1.tar",
        &[0u8; 1024],
    );
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.bundle.platform.v1",
        "config": config,
        "layers": [lock, tar],
    }))
    .unwrap();
    let mut d = put_blob(
        blobs,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    d["artifactType"] = "application/vnd.bundle.platform.v1".into();
    d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "bundle.platform"});
    d
}

fn make_bundle(images: Vec<(&str, Image)>) -> TestBundle {
    make_bundle_with_lock(images, "# no lock\n")
}

fn make_bundle_with_lock(images: Vec<(&str, Image)>, lock: &str) -> TestBundle {
    let dir = tempdir().join("bundle");
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut entries = Vec::new();
    for (reference, img) in &images {
        write_image(&blobs, img);
        entries.push(serde_json::json!({
            "mediaType": img.media_type,
            "digest": img.digest,
            "size": img.manifest.len(),
            "annotations": {
                "org.opencontainers.image.ref.name": reference,
                "dev.bundle.component": "test",
            },
        }));
    }
    entries.push(platform_artifact(&blobs, lock));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
        "annotations": {"dev.bundle.format-version": "1"},
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
    TestBundle {
        dir,
        images: images
            .into_iter()
            .map(|(r, i)| (r.to_string(), i))
            .collect(),
    }
}

/// A multi-arch OCI index, a Docker schema2 image, an OCI image, and the index again under a second
/// name (its blobs go to two repositories: the second gets them by cross-repository mount).
fn standard_bundle() -> TestBundle {
    let pause = image(Kind::OciIndex);
    make_bundle(vec![
        ("registry.k8s.io/pause:3.10", pause.clone()),
        ("docker.io/library/nginx:1.27", image(Kind::DockerImage)),
        (
            "quay.io/jetstack/cert-manager-controller:v1.16.0",
            image(Kind::OciImage),
        ),
        ("ghcr.io/example/pause:3.10", pause),
        ("docker.io/library/busybox:1.37", image(Kind::DockerList)),
    ])
}

/// Where `reference` lands under `PROJECT` (default mapping).
fn target_repo(project: &str, reference: &str) -> (String, String) {
    let (name, tag) = reference.rsplit_once(':').unwrap();
    (format!("{project}/{name}"), tag.to_string())
}

fn client_for(reg: &Registry) -> (Client, RegistryAuth) {
    let mut config = ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    };
    if let Some(ca) = &reg.ca_file {
        config.protocol = ClientProtocol::Https;
        config.extra_root_certificates = vec![Certificate {
            encoding: CertificateEncoding::Pem,
            data: std::fs::read(ca).unwrap(),
        }];
    }
    let auth = match &reg.variant {
        Variant::Basic { user, password } => RegistryAuth::Basic(user.clone(), password.clone()),
        _ => RegistryAuth::Anonymous,
    };
    (Client::try_from(config).unwrap(), auth)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The digest of the bytes served for `repo` at `reference`, `None` when absent.
fn served(reg: &Registry, repo: &str, reference: &str) -> Option<String> {
    let (client, auth) = client_for(reg);
    let sep = if reference.starts_with("sha256:") {
        "@"
    } else {
        ":"
    };
    let r = Reference::from_str(&format!("{}/{repo}{sep}{reference}", reg.host)).unwrap();
    runtime().block_on(async {
        client
            .pull_manifest_raw(&r, &auth, &MANIFEST_TYPES)
            .await
            .ok()
            .map(|(bytes, _)| crate::registry::sha256(&bytes))
    })
}

fn blob_present(reg: &Registry, repo: &str, digest: &str) -> bool {
    let (client, auth) = client_for(reg);
    let r = Reference::from_str(&format!("{}/{repo}:x", reg.host)).unwrap();
    runtime().block_on(async {
        client
            .auth(&r, &auth, oci_client::RegistryOperation::Pull)
            .await
            .ok();
        client.blob_exists(&r, digest).await.unwrap_or(false)
    })
}

/// Every manifest (by tag and digest, children included) is served byte for byte and every blob is there.
fn assert_mirrored(reg: &Registry, project: &str, bundle: &TestBundle) {
    for (reference, img) in &bundle.images {
        let (repo, tag) = target_repo(project, reference);
        assert_eq!(
            served(reg, &repo, &tag).as_deref(),
            Some(img.digest.as_str()),
            "{repo}:{tag}"
        );
        assert_tree(reg, &repo, img);
    }
}

fn assert_tree(reg: &Registry, repo: &str, img: &Image) {
    assert_eq!(
        served(reg, repo, &img.digest).as_deref(),
        Some(img.digest.as_str()),
        "{repo}@{}",
        img.digest
    );
    for (digest, _) in &img.blobs {
        assert!(
            blob_present(reg, repo, digest),
            "{repo} lacks blob {digest}"
        );
    }
    for child in &img.children {
        assert_tree(reg, repo, child);
    }
}

fn mirror(dir: &Path, bundle: &TestBundle, to: &str, extra: &[&str]) -> Run {
    let mut args = vec!["mirror", bundle.dir.to_str().unwrap(), "--to", to];
    args.extend_from_slice(extra);
    bundle_env(dir, &args, None, &[])
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

#[test]
fn mirror_into_an_empty_registry_then_a_rerun_pushes_no_blob() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror") else {
        return;
    };
    let proxy = FaultProxy::start(&reg.host, Faults::default());
    let bundle = standard_bundle();
    let dir = tempdir();
    let to = format!("{}/platform", proxy.host);
    let flags = [
        "--insecure-registry",
        proxy.host.as_str(),
        "--format",
        "json",
        "--verify-remote",
        "--jobs",
        "4",
    ];
    let first = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(first.code, 0, "{first:?}");
    let s = json(&first);
    assert!(s["blobs"]["pushed"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["blobs"]["mounted"].as_u64().unwrap() >= 4,
        "the second pause repository mounts its blobs: {s}"
    );
    assert_eq!(s["tags"]["pushed"], 5, "{s}");
    assert!(s["verified_remote"].as_u64().unwrap() > 0);
    assert_mirrored(&reg, "platform", &bundle);
    // skopeo, another client, agrees on a Docker schema2 image and a multi-arch index.
    for (reference, img) in &bundle.images[..2] {
        let (repo, tag) = target_repo("platform", reference);
        if let Some(d) = reg.skopeo_digest(&format!("{repo}:{tag}")) {
            assert_eq!(d, img.digest);
        }
    }

    proxy.clear();
    let second = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(second.code, 0, "{second:?}");
    let s = json(&second);
    assert_eq!(s["blobs"]["pushed"], 0, "{s}");
    assert_eq!(s["blobs"]["mounted"], 0, "{s}");
    assert_eq!(s["manifests"]["pushed"], 0, "{s}");
    assert_eq!(s["tags"]["pushed"], 0, "{s}");
    assert_eq!(proxy.uploads_started(), 0, "{:?}", proxy.requests());
    assert!(
        !proxy.requests().iter().any(|r| r.starts_with("PUT ")),
        "{:?}",
        proxy.requests()
    );
}

#[test]
fn a_corrupt_bundle_pushes_nothing() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror corrupt") else {
        return;
    };
    let proxy = FaultProxy::start(&reg.host, Faults::default());
    let bundle = standard_bundle();
    let (_, img) = &bundle.images[1];
    let (layer, _) = &img.blobs[1];
    let path = bundle
        .dir
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let dir = tempdir();
    let run = mirror(
        &dir,
        &bundle,
        &format!("{}/platform", proxy.host),
        &["--insecure-registry", &proxy.host],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("corrupt"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was pushed"), "{}", run.stderr);
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[test]
fn names_are_checked_before_anything_is_pushed() {
    let bundle = make_bundle(vec![
        ("docker.io/library/pause:1", image(Kind::OciImage)),
        ("quay.io/library/pause:1", image(Kind::OciImage)),
    ]);
    let dir = tempdir();
    // Nothing listens on port 9: a run that got as far as the network would fail differently.
    let run = mirror(&dir, &bundle, "127.0.0.1:9/p", &["--strip-registry-host"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("p/library/pause") && run.stderr.contains("--strip-registry-host"),
        "{}",
        run.stderr
    );
    let long = format!("127.0.0.1:9/p/{}", "x".repeat(240));
    let run = mirror(&dir, &bundle, &long, &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("at most 255"), "{}", run.stderr);
}

#[test]
fn basic_auth_wrong_password_is_refused_then_the_right_one_works() {
    let variant = Variant::Basic {
        user: "robot$ci".into(),
        password: "s3cret-pass".into(),
    };
    let Some(reg) = Registry::start(variant, "mirror basic auth") else {
        return;
    };
    let bundle = standard_bundle();
    let dir = tempdir();
    let to = format!("{}/platform", reg.host);
    let args = |b: &TestBundle| {
        vec![
            "mirror".to_string(),
            b.dir.display().to_string(),
            "--to".into(),
            to.clone(),
            "--insecure-registry".into(),
            reg.host.clone(),
            "--username".into(),
            "robot$ci".into(),
            "--password-stdin".into(),
        ]
    };
    let a = args(&bundle);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let wrong = bundle_env(&dir, &a, Some("not-the-password\n"), &[]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains(&reg.host) && wrong.stderr.contains("robot$ci"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("not-the-password"));
    let (repo, tag) = target_repo("platform", &bundle.images[0].0);
    assert_eq!(served(&reg, &repo, &tag), None, "nothing tagged");

    let right = bundle_env(&dir, &a, Some("s3cret-pass\n"), &[]);
    assert_eq!(right.code, 0, "{right:?}");
    assert!(!right.stderr.contains("s3cret") && !right.stdout.contains("s3cret"));
    assert_mirrored(&reg, "platform", &bundle);
}

#[test]
fn tls_with_a_generated_ca() {
    let Some(reg) = Registry::start(Variant::Tls, "mirror tls") else {
        return;
    };
    let bundle = standard_bundle();
    let dir = tempdir();
    let to = format!("{}/platform/mirror", reg.host);
    let untrusted = mirror(&dir, &bundle, &to, &[]);
    assert_eq!(untrusted.code, 1, "{untrusted:?}");
    assert!(untrusted.stderr.contains("TLS"), "{}", untrusted.stderr);
    let ca = reg.ca_file.clone().unwrap();
    let run = mirror(
        &dir,
        &bundle,
        &to,
        &["--ca-file", ca.to_str().unwrap(), "--verify-remote"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_mirrored(&reg, "platform/mirror", &bundle);
}

#[test]
fn faults_are_retried_and_every_digest_matches() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror faults") else {
        return;
    };
    let proxy = FaultProxy::start(
        &reg.host,
        Faults {
            fail_first: 3,
            fail_status: 503,
            reset_uploads: 2,
            reset_after_bytes: 300,
            ..Faults::default()
        },
    );
    let bundle = standard_bundle();
    let dir = tempdir();
    let to = format!("{}/platform", proxy.host);
    let flags = [
        "--insecure-registry",
        proxy.host.as_str(),
        "--max-backoff",
        "1",
    ];
    let run = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(run.code, 0, "{run:?}");
    assert_mirrored(&reg, "platform", &bundle);

    // 429 with Retry-After: honoured (the run takes at least that long), then it goes on.
    let bundle = standard_bundle();
    proxy.set_faults(Faults {
        fail_first: 2,
        fail_status: 429,
        retry_after: Some(1),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let run = mirror(
        &dir,
        &bundle,
        &to,
        &["--insecure-registry", proxy.host.as_str()],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_mirrored(&reg, "platform", &bundle);
}

#[test]
fn a_registry_that_goes_away_leaves_no_dangling_tag_and_a_rerun_completes() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror interrupted") else {
        return;
    };
    let bundle = standard_bundle();
    let dir = tempdir();
    // Drop everything at several points of the run: during blobs, during manifests.
    let mut interrupted = 0;
    for drop_from in [12, 40, 58] {
        let proxy = FaultProxy::start(
            &reg.host,
            Faults {
                drop_from: Some(drop_from),
                ..Faults::default()
            },
        );
        let to = format!("{}/p{drop_from}", proxy.host);
        let flags = [
            "--insecure-registry",
            proxy.host.as_str(),
            "--retries",
            "2",
            "--max-backoff",
            "1",
        ];
        let run = mirror(&dir, &bundle, &to, &flags);
        let project = format!("p{drop_from}");
        if run.code == 0 {
            // The run finished before the cut: fine, but then everything is there.
            assert_mirrored(&reg, &project, &bundle);
            continue;
        }
        assert_eq!(run.code, 1, "{run:?}");
        interrupted += 1;
        assert!(
            run.stderr.contains("still missing") && run.stderr.contains(&proxy.host),
            "{}",
            run.stderr
        );
        // No tag points at a missing manifest or blob.
        for (reference, img) in &bundle.images {
            let (repo, tag) = target_repo(&project, reference);
            if served(&reg, &repo, &tag).is_some() {
                assert_tree(&reg, &repo, img);
            }
        }
        proxy.set_faults(Faults::default());
        let rerun = mirror(&dir, &bundle, &to, &flags);
        assert_eq!(rerun.code, 0, "{rerun:?}");
        assert_mirrored(&reg, &project, &bundle);
    }
    assert!(
        interrupted >= 2,
        "the proxy cut in too late to test anything"
    );
}
