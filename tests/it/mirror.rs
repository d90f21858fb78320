//! `bundle mirror` against real registry processes (distribution 2.8 on 127.0.0.1), directly and
//! through the fault-injecting proxy: digests intact, reruns push nothing, corrupt bundles push
//! nothing, Basic auth, token auth as Harbor does it (short-lived tokens renewed mid-run, a refused
//! cross-repository mount), TLS, 5xx/429/connection resets, a registry that goes away mid-run.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::token_server::{Issued, Policy, TokenServer};
use crate::support::{Image, Kind, Registry, Variant, bundle_env, image};
use crate::support::{Run, TempDir, tempdir};

const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A bundle directory (OCI image layout) holding images under their original references.
pub(crate) struct TestBundle {
    pub(crate) dir: PathBuf,
    pub(crate) images: Vec<(String, Image)>,
    /// The temporary directory the bundle was made in, when it owns one.
    _tmp: Option<TempDir>,
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
    let digest = crate::support::sha256(bytes);
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
    let tmp = tempdir();
    let dir = tmp.join("bundle");
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
        _tmp: Some(tmp),
    }
}

/// A multi-arch OCI index, a Docker schema2 image, an OCI image, and the index again under a second
/// name (its blobs go to two repositories: the second gets them by cross-repository mount).
pub(crate) fn standard_bundle() -> TestBundle {
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
pub(crate) fn target_repo(project: &str, reference: &str) -> (String, String) {
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
        Variant::Basic { user, password } | Variant::Token { user, password, .. } => {
            RegistryAuth::Basic(user.clone(), password.clone())
        }
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
pub(crate) fn served(reg: &Registry, repo: &str, reference: &str) -> Option<String> {
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
            .map(|(bytes, _)| crate::support::sha256(&bytes))
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
pub(crate) fn assert_mirrored(reg: &Registry, project: &str, bundle: &TestBundle) {
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

pub(crate) fn assert_tree(reg: &Registry, repo: &str, img: &Image) {
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

pub(crate) fn mirror(dir: &Path, bundle: &TestBundle, to: &str, extra: &[&str]) -> Run {
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

    // A re-mirror asks for the tags only: no blob is looked up, and none is read (every layer of
    // the bundle is damaged now, keeping its size: reading one would refuse the bundle).
    for (_, img) in &bundle.images {
        damage_layers(&bundle.dir, img);
    }
    proxy.clear();
    let quick = [
        "--insecure-registry",
        proxy.host.as_str(),
        "--format",
        "json",
    ];
    let second = mirror(&dir, &bundle, &to, &quick);
    assert_eq!(second.code, 0, "{second:?}");
    let s = json(&second);
    assert_eq!(s["blobs"]["pushed"], 0, "{s}");
    assert_eq!(s["blobs"]["mounted"], 0, "{s}");
    assert_eq!(s["manifests"]["pushed"], 0, "{s}");
    assert_eq!(s["tags"]["pushed"], 0, "{s}");
    assert_eq!(s["tags"]["skipped"], 5, "{s}");
    let requests = proxy.requests();
    let manifest_heads = requests
        .iter()
        .filter(|r| r.starts_with("HEAD ") && r.contains("/manifests/"))
        .count();
    assert_eq!(manifest_heads, 5, "one HEAD per tag: {requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| !r.contains("/blobs/") && !r.contains("/manifests/sha256:")),
        "{requests:?}"
    );

    // --verify-remote walks every tree down to its blobs (HEAD only), and still pushes nothing.
    proxy.clear();
    let third = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(third.code, 0, "{third:?}");
    let s = json(&third);
    assert_eq!(s["blobs"]["pushed"], 0, "{s}");
    assert_eq!(s["manifests"]["pushed"], 0, "{s}");
    assert_eq!(proxy.uploads_started(), 0, "{:?}", proxy.requests());
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("HEAD ") && r.contains("/blobs/")),
        "{:?}",
        proxy.requests()
    );
    assert!(
        !proxy.requests().iter().any(|r| r.starts_with("PUT ")),
        "{:?}",
        proxy.requests()
    );
}

/// Flips a byte in every layer of `img` (and of its children) in the bundle directory, keeping sizes:
/// only a read of the content can tell.
fn damage_layers(dir: &Path, img: &Image) {
    for (digest, _) in img.blobs.iter().skip(1) {
        let path = dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 20;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    for child in &img.children {
        damage_layers(dir, child);
    }
}

/// Requests that write to the registry.
fn writes(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("HEAD ") && !r.starts_with("GET "))
        .collect()
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
    // As a directory, and as a `.tar` read in place.
    let archive = dir.join("corrupt.tar");
    pack(&bundle.dir, &archive, false);
    for (what, path) in [("directory", bundle.dir.clone()), ("tar", archive)] {
        proxy.clear();
        let corrupt = TestBundle {
            dir: path,
            images: Vec::new(),
            _tmp: None,
        };
        let run = mirror(
            &dir,
            &corrupt,
            &format!("{}/platform", proxy.host),
            &["--insecure-registry", &proxy.host],
        );
        assert_eq!(run.code, 1, "{what}: {run:?}");
        assert!(run.stderr.contains("corrupt"), "{what}: {}", run.stderr);
        assert!(run.stderr.contains(&layer[..19]), "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains("nothing was pushed"),
            "{what}: {}",
            run.stderr
        );
        // The target was asked what it lacks (HEAD), and nothing was written: no blob, no manifest,
        // no tag.
        assert_eq!(writes(&proxy), Vec::<String>::new(), "{what}");
        assert_eq!(leftovers(&dir), Vec::<String>::new(), "{what}");
    }
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
    assert_eq!(wrong.code, 1, "{wrong:?}");
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

/// `mirror` with `--username USER --password-stdin`.
fn mirror_as(
    dir: &Path,
    bundle: &TestBundle,
    to: &str,
    user: &str,
    password: &str,
    extra: &[&str],
) -> Run {
    let mut args = vec![
        "mirror",
        bundle.dir.to_str().unwrap(),
        "--to",
        to,
        "--username",
        user,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    bundle_env(dir, &args, Some(&format!("{password}\n")), &[])
}

/// How many tokens were issued to `user` for the same scopes, at most.
fn most_tokens_for_one_scope(issued: &[Issued], user: &str) -> usize {
    let mut counts = std::collections::BTreeMap::new();
    for i in issued
        .iter()
        .filter(|i| i.status == 200 && i.account.as_deref() == Some(user) && !i.scopes.is_empty())
    {
        *counts.entry(i.scopes.join(" ")).or_insert(0usize) += 1;
    }
    counts.into_values().max().unwrap_or(0)
}

#[test]
fn mirror_with_token_auth_renews_tokens_that_expire_mid_run() {
    let (user, password) = ("robot$platform+ci", "t0ken-s3cret");
    let policy = Policy {
        lifetime: std::time::Duration::from_secs(1),
        ..Policy::default()
    };
    let Some((tokens, reg)) =
        TokenServer::with_registry(user, password, policy, "mirror token auth")
    else {
        return;
    };
    // Every request held 40 ms: a run takes several token lifetimes. One job at a time, so that a
    // second token for the same scope means a renewal, not two workers asking at once.
    let proxy = FaultProxy::start(
        &reg.host,
        Faults {
            stall: Some(std::time::Duration::from_millis(40)),
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let to = format!("{}/platform", proxy.host);
    let flags = ["--insecure-registry", proxy.host.as_str(), "--jobs", "1"];
    let bundle = standard_bundle();

    // No credentials: the token grants nothing, the registry refuses (a failed operation: exit 1); nothing tagged.
    let run = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&proxy.host), "{}", run.stderr);
    let (repo, tag) = target_repo("platform", &bundle.images[0].0);
    assert_eq!(served(&reg, &repo, &tag), None, "nothing tagged");

    // Tokens said to live 1 s (and refused by the registry after that): renewed before they expire.
    tokens.clear();
    let started = std::time::Instant::now();
    let run = mirror_as(&dir, &bundle, &to, user, password, &flags);
    assert_eq!(run.code, 0, "{run:?}\n{}", reg.log());
    assert!(!run.stderr.contains(password) && !run.stdout.contains(password));
    assert!(
        started.elapsed() > std::time::Duration::from_secs(2),
        "the run was too quick to outlive a token"
    );
    assert!(
        most_tokens_for_one_scope(&tokens.issued(), user) >= 2,
        "no token was renewed: {:?}",
        tokens.issued()
    );
    assert_mirrored(&reg, "platform", &bundle);

    // Tokens said to live an hour but refused by the registry after 1 s: the 401 fetches a new one.
    tokens.set_policy(Policy {
        lifetime: std::time::Duration::from_secs(1),
        claimed_expires_in: Some(3600),
        ..Policy::default()
    });
    tokens.clear();
    let bundle = standard_bundle();
    let run = mirror_as(&dir, &bundle, &to, user, password, &flags);
    assert_eq!(run.code, 0, "{run:?}\n{}", reg.log());
    assert!(
        most_tokens_for_one_scope(&tokens.issued(), user) >= 2,
        "no token was renewed after a 401: {:?}",
        tokens.issued()
    );
    assert_mirrored(&reg, "platform", &bundle);
}

#[test]
fn mirror_with_token_auth_uploads_when_a_cross_repo_mount_is_refused() {
    let (user, password) = ("robot$platform+ci", "t0ken-s3cret");
    let policy = Policy {
        refuse_cross_repo_pull: true,
        ..Policy::default()
    };
    let Some((tokens, reg)) =
        TokenServer::with_registry(user, password, policy, "mirror token mount")
    else {
        return;
    };
    let proxy = FaultProxy::start(&reg.host, Faults::default());
    let dir = tempdir();
    let to = format!("{}/platform", proxy.host);
    let bundle = standard_bundle();
    let run = mirror_as(
        &dir,
        &bundle,
        &to,
        user,
        password,
        &[
            "--insecure-registry",
            proxy.host.as_str(),
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}\n{}", reg.log());
    let s = json(&run);
    assert_eq!(s["blobs"]["mounted"], 0, "{s}");
    // The mounts were tried, refused (pull on the source not granted), and uploaded instead.
    let mounts = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.contains("mount="))
        .count();
    assert!(mounts >= 4, "{:?}", proxy.requests());
    assert!(
        tokens
            .issued()
            .iter()
            .any(|i| i.scopes.len() == 2 && i.granted.iter().any(|g| g.ends_with(':'))),
        "{:?}",
        tokens.issued()
    );
    assert!(proxy.uploads_started() >= mounts, "{:?}", proxy.requests());
    assert_mirrored(&reg, "platform", &bundle);

    // A re-mirror behind token auth: one token request covers every repository (after the login's),
    // and the registry is asked for the tags only.
    tokens.clear();
    proxy.clear();
    let again = mirror_as(
        &dir,
        &bundle,
        &to,
        user,
        password,
        &[
            "--insecure-registry",
            proxy.host.as_str(),
            "--format",
            "json",
        ],
    );
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(json(&again)["tags"]["skipped"], 5);
    let issued = tokens.issued();
    assert!(issued.len() <= 2, "{issued:?}");
    assert!(issued.iter().any(|i| i.scopes.len() == 5), "{issued:?}");
    let requests = proxy.requests();
    assert!(
        requests.iter().all(
            |r| r.starts_with("GET /v2/") || (r.starts_with("HEAD ") && !r.contains("sha256:"))
        ),
        "{requests:?}"
    );
}

/// Packs a bundle directory as `bundle export` does (FORMAT.md §2): `oci-layout`, `index.json`,
/// `blobs/`, `blobs/sha256/`, then the blobs by name; GNU headers, mtime 0, modes 0644/0755;
/// zstd-compressed (level 3) when `zstd`.
fn pack(layout: &Path, out: &Path, zstd: bool) {
    fn build<W: std::io::Write>(layout: &Path, w: W) -> W {
        let mut b = tar::Builder::new(w);
        let mut add = |name: &str, data: Option<Vec<u8>>| {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            match data {
                Some(bytes) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(bytes.len() as u64);
                    h.set_cksum();
                    b.append_data(&mut h, name, bytes.as_slice()).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    h.set_cksum();
                    b.append_data(&mut h, name, std::io::empty()).unwrap();
                }
            }
        };
        for f in ["oci-layout", "index.json"] {
            add(f, Some(std::fs::read(layout.join(f)).unwrap()));
        }
        add("blobs/", None);
        add("blobs/sha256/", None);
        let mut names: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let bytes = std::fs::read(layout.join("blobs/sha256").join(&n)).unwrap();
            add(&format!("blobs/sha256/{n}"), Some(bytes));
        }
        b.into_inner().unwrap()
    }
    let file = std::fs::File::create(out).unwrap();
    if zstd {
        build(layout, zstd::stream::write::Encoder::new(file, 3).unwrap())
            .finish()
            .unwrap();
    } else {
        build(layout, file);
    }
}

/// Files and directories in `dir` whose name holds `.mirror` (a work directory or its lock left behind).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".mirror"))
        .collect()
}

#[test]
fn mirror_from_tar_and_tar_zst_bundles() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror archives") else {
        return;
    };
    let dir = tempdir();
    for (zstd, name, project) in [
        (false, "platform.tar", "from-tar"),
        (true, "platform.tar.zst", "from-zst"),
    ] {
        let bundle = standard_bundle();
        let archive = dir.join(name);
        pack(&bundle.dir, &archive, zstd);
        let as_archive = TestBundle {
            dir: archive.clone(),
            images: bundle.images.clone(),
            _tmp: None,
        };
        let to = format!("{}/{project}", reg.host);
        let run = mirror(
            &dir,
            &as_archive,
            &to,
            &[
                "--insecure-registry",
                &reg.host,
                "--format",
                "json",
                "--verify-remote",
            ],
        );
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let s = json(&run);
        assert_eq!(s["tags"]["pushed"], 5, "{name}: {s}");
        assert_mirrored(&reg, project, &as_archive);
        assert_eq!(leftovers(&dir), Vec::<String>::new(), "{name}");
        // A rerun from the archive pushes nothing.
        let again = mirror(
            &dir,
            &as_archive,
            &to,
            &["--insecure-registry", &reg.host, "--format", "json"],
        );
        assert_eq!(again.code, 0, "{name}: {again:?}");
        assert_eq!(json(&again)["blobs"]["pushed"], 0, "{name}");
        assert_eq!(leftovers(&dir), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn mirror_refuses_an_unsafe_or_corrupt_archive_and_writes_nothing_outside() {
    let bundle = standard_bundle();
    let dir = tempdir();
    let archive = dir.join("evil.tar");
    pack(&bundle.dir, &archive, false);
    // Append a `../escape` entry and a symbolic link before the end-of-archive blocks.
    let mut bytes = std::fs::read(&archive).unwrap();
    while bytes.len() >= 512 && bytes[bytes.len() - 512..].iter().all(|b| *b == 0) {
        bytes.truncate(bytes.len() - 512);
    }
    let mut extra = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(4);
    h.set_cksum();
    extra.append(&h, &b"boom"[..]).unwrap();
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_size(0);
    l.set_mode(0o777);
    extra
        .append_link(&mut l, "blobs/link", "/etc/passwd")
        .unwrap();
    bytes.extend(extra.into_inner().unwrap());
    std::fs::write(&archive, bytes).unwrap();
    let evil = TestBundle {
        dir: archive,
        images: Vec::new(),
        _tmp: None,
    };
    let run = mirror(
        &dir,
        &evil,
        "127.0.0.1:9/p",
        &["--insecure-registry", "127.0.0.1:9"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("nothing was pushed"), "{}", run.stderr);
    assert!(!dir.parent().unwrap().join("escape").exists());
    assert!(!dir.join("escape").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());

    // A flipped byte in a layer of a .tar.zst: refused when the layers to push are read, before
    // anything is pushed; the spool is removed.
    let Some(reg) = Registry::start(Variant::Plain, "mirror corrupt zst") else {
        return;
    };
    let proxy = FaultProxy::start(&reg.host, Faults::default());
    let bundle = standard_bundle();
    let (_, img) = &bundle.images[1];
    damage_layers(&bundle.dir, img);
    let archive = dir.join("corrupt.tar.zst");
    pack(&bundle.dir, &archive, true);
    let corrupt = TestBundle {
        dir: archive,
        images: Vec::new(),
        _tmp: None,
    };
    let run = mirror(
        &dir,
        &corrupt,
        &format!("{}/p", proxy.host),
        &["--insecure-registry", &proxy.host],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("corrupt"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was pushed"), "{}", run.stderr);
    assert_eq!(writes(&proxy), Vec::<String>::new());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn mirror_with_output_renders_images_on_the_mirror_and_hosts_toml() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror -o") else {
        return;
    };
    let catalog = crate::support::fixture("registry-catalog");
    let catalog = catalog.to_str().unwrap();
    let dir = tempdir();
    let r = bundle_env(&dir, &["--catalog", catalog, "solve"], None, &[]);
    assert_eq!(r.code, 0, "solve: {}", r.stderr);
    // The images of the pin catalog, pinned in the lock to what the bundle holds.
    let images: Vec<(&str, Image)> = vec![
        (
            "registry.example.test/kube/apiserver:v1.30.0",
            image(Kind::OciImage),
        ),
        ("registry.example.test/team/app:v1", image(Kind::OciImage)),
        ("registry.example.test/team/multi:v2", image(Kind::OciIndex)),
        (
            "registry.example.test/legacy/tool:1.0",
            image(Kind::DockerImage),
        ),
        (
            "registry.example.test/legacy/multi:1.0",
            image(Kind::DockerList),
        ),
    ];
    let mut lock = String::new();
    for line in std::fs::read_to_string(dir.join("bundle.lock"))
        .unwrap()
        .lines()
    {
        lock.push_str(line);
        lock.push('\n');
        if let Some(reference) = line.trim().strip_prefix("- reference: ") {
            let (_, img) = images
                .iter()
                .find(|(r, _)| *r == reference)
                .unwrap_or_else(|| panic!("{reference} is not in the test's images"));
            lock.push_str(&format!("        digest: {}\n", img.digest));
        }
    }
    let bundle = make_bundle_with_lock(images, &lock);
    let out = dir.join("out");
    let to = format!("{}/platform/site", reg.host);
    let run = bundle_env(
        &dir,
        &[
            "--catalog",
            catalog,
            "mirror",
            bundle.dir.to_str().unwrap(),
            "--to",
            &to,
            "--insecure-registry",
            &reg.host,
            "-o",
            out.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_mirrored(&reg, "platform/site", &bundle);

    // containerd: pulls of registry.example.test/… go to the mirror, under the project's path.
    let hosts =
        std::fs::read_to_string(out.join("airgap/certs.d/registry.example.test/hosts.toml"))
            .unwrap_or_else(|e| panic!("{e}: {run:?}"));
    assert!(hosts.contains(&reg.host), "{hosts}");
    assert!(hosts.contains("platform/site"), "{hosts}");
    // Every image the rendered files name is on the mirror, pinned by the digest the bundle holds.
    let mut texts = String::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                texts.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut named = 0;
    for (reference, img) in &bundle.images {
        let (name, _) = reference.rsplit_once(':').unwrap();
        let on_mirror = format!("{to}/{name}");
        if texts.contains(&on_mirror) {
            named += 1;
            assert!(
                texts.contains(&format!("{on_mirror}@{}", img.digest))
                    || texts.contains(&img.digest),
                "{on_mirror} without its digest"
            );
        }
    }
    assert!(
        !texts.contains("image: registry.example.test/"),
        "an image left on the source registry:\n{texts}"
    );
    assert!(named >= 1, "no image rendered:\n{texts}");
    // kubeadm pulls the control plane from the mirror, and the digest it must get is the bundle's.
    let kubeadm = std::fs::read_to_string(out.join("kubeadm/cluster-configuration.yaml")).unwrap();
    assert!(
        kubeadm.contains(&format!(
            "imageRepository: \"{to}/registry.example.test/kube\""
        )),
        "{kubeadm}"
    );
    let apiserver = &bundle.images[0].1.digest;
    assert!(
        kubeadm.contains(&format!(
            "{to}/registry.example.test/kube/apiserver:v1.30.0 @ {apiserver}"
        )),
        "{kubeadm}"
    );

    // The same from a .tar.zst bundle (the lock read from the archive): the same files.
    let archive = dir.join("platform.tar.zst");
    pack(&bundle.dir, &archive, true);
    let out_zst = dir.join("out-zst");
    let run = bundle_env(
        &dir,
        &[
            "--catalog",
            catalog,
            "mirror",
            archive.to_str().unwrap(),
            "--to",
            &to,
            "--insecure-registry",
            &reg.host,
            "-o",
            out_zst.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    for f in [
        "kubeadm/cluster-configuration.yaml",
        "airgap/certs.d/registry.example.test/hosts.toml",
    ] {
        assert_eq!(
            std::fs::read_to_string(out_zst.join(f)).unwrap(),
            std::fs::read_to_string(out.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

/// A stand-in for Harbor's front: answers `POST /api/v2.0/projects` itself (201 the first time for a
/// name, 409 after; 403 for the `reader` account) and splices every other connection to the registry.
struct HarborFront {
    host: String,
    created: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl HarborFront {
    fn start(upstream: &str) -> HarborFront {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let created = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (upstream, seen) = (upstream.to_string(), created.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (upstream, seen) = (upstream.clone(), seen.clone());
                std::thread::spawn(move || {
                    // read the request head (and, for the project API, its small body)
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    if head.starts_with("POST /api/v2.0/projects ") {
                        let end = head.find("\r\n\r\n").unwrap() + 4;
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        while buf.len() < end + len {
                            match conn.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body: serde_json::Value =
                            serde_json::from_slice(&buf[end..end + len]).unwrap_or_default();
                        let name = body["project_name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        // Basic cmVhZGVyOnB3 = reader:pw, an account that may not create projects
                        let status = if head.contains("cmVhZGVyOnB3") {
                            "403 Forbidden"
                        } else {
                            let mut s = seen.lock().unwrap();
                            if s.contains(&name) {
                                "409 Conflict"
                            } else {
                                s.push(name);
                                "201 Created"
                            }
                        };
                        let _ = write!(
                            conn,
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        return;
                    }
                    // one request per connection: the registry answers `Connection: close`, so the
                    // client opens a new connection (seen here first) for its next request
                    let end = head.find("\r\n\r\n").unwrap();
                    let mut forwarded = String::new();
                    for (i, line) in head[..end].split("\r\n").enumerate() {
                        if i > 0 && line.to_ascii_lowercase().starts_with("connection:") {
                            continue;
                        }
                        forwarded.push_str(line);
                        forwarded.push_str("\r\n");
                        if i == 0 {
                            forwarded.push_str("Connection: close\r\n");
                        }
                    }
                    forwarded.push_str("\r\n");
                    let mut out = forwarded.into_bytes();
                    out.extend_from_slice(&buf[end + 4..]);
                    let buf = out;
                    let Ok(mut up) = std::net::TcpStream::connect(&upstream) else {
                        return;
                    };
                    if up.write_all(&buf).is_err() {
                        return;
                    }
                    let (mut c2, mut u2) = (conn.try_clone().unwrap(), up.try_clone().unwrap());
                    let t = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut u2, &mut c2);
                        let _ = c2.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut conn, &mut up);
                    let _ = up.shutdown(std::net::Shutdown::Write);
                    let _ = t.join();
                });
            }
        });
        HarborFront { host, created }
    }
}

#[test]
fn create_project_through_the_harbor_api_then_push() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror --create-project") else {
        return;
    };
    let front = HarborFront::start(&reg.host);
    let bundle = standard_bundle();
    let dir = tempdir();
    let to = format!("{}/platform", front.host);
    let flags = [
        "--insecure-registry",
        front.host.as_str(),
        "--create-project",
        "--format",
        "json",
    ];
    let run = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(front.created.lock().unwrap().as_slice(), ["platform"]);
    assert_mirrored(&reg, "platform", &bundle);
    // the project exists now (409): still fine
    let again = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(again.code, 0, "{again:?}");
    // an account that may not create projects: exit 2, the account and the action named, nothing pushed
    let denied = bundle_env(
        &dir,
        &[
            "mirror",
            bundle.dir.to_str().unwrap(),
            "--to",
            &format!("{}/other", front.host),
            "--insecure-registry",
            &front.host,
            "--create-project",
            "--username",
            "reader",
            "--password-stdin",
        ],
        Some("pw"),
        &[],
    );
    assert_eq!(denied.code, 1, "{denied:?}");
    assert!(
        denied.stderr.contains("create projects"),
        "{}",
        denied.stderr
    );
    assert!(denied.stderr.contains("reader"), "{}", denied.stderr);
    assert!(
        !denied.stderr.contains("pw\n"),
        "the password is never printed"
    );
}

/// Starts `bundle mirror ARCHIVE` through a proxy that holds every blob upload, and waits until the
/// first upload is under way.
fn mirror_until_first_upload(
    dir: &Path,
    archive: &Path,
    reg: &Registry,
) -> (std::process::Child, FaultProxy) {
    let proxy = FaultProxy::start(
        &reg.host,
        Faults {
            stall: Some(std::time::Duration::from_secs(30)),
            stall_first: 1000,
            matching: Some("/blobs/uploads/".to_string()),
            ..Faults::default()
        },
    );
    let to = format!("{}/held", proxy.host);
    let archive_arg = archive.display().to_string();
    let child = crate::support::spawn_bundle(
        dir,
        &[
            "mirror",
            &archive_arg,
            "--to",
            &to,
            "--insecure-registry",
            &proxy.host,
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while proxy.uploads_started() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "mirror never started an upload: {:?}",
            proxy.requests()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (child, proxy)
}

#[test]
fn a_tar_is_read_in_place_and_a_tar_zst_spools_only_the_blobs_it_pushes() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror in place") else {
        return;
    };
    let bundle = standard_bundle();
    let orphan: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let orphan_hex = crate::support::sha256(&orphan)
        .trim_start_matches("sha256:")
        .to_string();
    std::fs::write(bundle.dir.join("blobs/sha256").join(&orphan_hex), &orphan).unwrap();
    let dir = tempdir();

    // A `.tar` mid-push: nothing but the archive next to it (no extracted copy, no work directory).
    let tar = dir.join("platform.tar");
    pack(&bundle.dir, &tar, false);
    let (mut child, proxy) = mirror_until_first_upload(&dir, &tar, &reg);
    let files: Vec<String> = std::fs::read_dir(&*dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(proxy);
    assert_eq!(files, vec!["platform.tar".to_string()]);

    // A `.tar.zst` mid-push: its spool holds the blobs the target lacks (here: every config and
    // layer), never the orphan, never a manifest or `index.json`.
    let zst = dir.join("orphan.tar.zst");
    pack(&bundle.dir, &zst, true);
    let (mut child, proxy) = mirror_until_first_upload(&dir, &zst, &reg);
    let spool = dir.join(".orphan.tar.zst.mirror.d");
    let spooled: std::collections::BTreeSet<String> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    child.kill().unwrap(); // SIGKILL: no destructor runs, the spool stays behind
    child.wait().unwrap();
    drop(proxy);
    fn blobs_of(img: &Image, out: &mut std::collections::BTreeSet<String>) {
        for (d, _) in &img.blobs {
            out.insert(d.trim_start_matches("sha256:").to_string());
        }
        for c in &img.children {
            blobs_of(c, out);
        }
    }
    let mut expected = std::collections::BTreeSet::new();
    for (_, img) in &bundle.images {
        blobs_of(img, &mut expected);
    }
    assert_eq!(spooled, expected);
    assert!(!spooled.contains(&orphan_hex));

    // The rerun removes what the killed run left, mirrors everything, and leaves nothing behind.
    let as_archive = TestBundle {
        dir: zst.clone(),
        images: bundle.images.clone(),
        _tmp: None,
    };
    let to = format!("{}/held", reg.host);
    let run = mirror(&dir, &as_archive, &to, &["--insecure-registry", &reg.host]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_mirrored(&reg, "held", &as_archive);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn a_tag_that_points_elsewhere_gets_only_its_tree_walked() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror one tree") else {
        return;
    };
    let proxy = FaultProxy::start(&reg.host, Faults::default());
    let bundle = standard_bundle();
    // The target first gets the same images, but nginx:1.27 as another image.
    let mut other: Vec<(&str, Image)> = bundle
        .images
        .iter()
        .map(|(r, i)| (r.as_str(), i.clone()))
        .collect();
    other[1].1 = image(Kind::DockerImage);
    let other = make_bundle(other);
    let dir = tempdir();
    let to = format!("{}/platform", proxy.host);
    let flags = [
        "--insecure-registry",
        proxy.host.as_str(),
        "--format",
        "json",
    ];
    let first = mirror(&dir, &other, &to, &flags);
    assert_eq!(first.code, 0, "{first:?}");

    proxy.clear();
    let run = mirror(&dir, &bundle, &to, &flags);
    assert_eq!(run.code, 0, "{run:?}");
    let s = json(&run);
    assert_eq!(s["tags"]["pushed"], 1, "{s}");
    assert_eq!(s["tags"]["skipped"], 4, "{s}");
    assert_eq!(s["manifests"]["pushed"], 1, "{s}");
    let (_, nginx) = &bundle.images[1];
    assert_eq!(
        s["blobs"]["pushed"].as_u64().unwrap() as usize,
        nginx.blobs.len(),
        "{s}"
    );
    assert_mirrored(&reg, "platform", &bundle);
    // Every request past the tags' HEADs is about nginx.
    let nginx_repo = "/v2/platform/docker.io/library/nginx/";
    for r in proxy.requests() {
        let tag_head =
            r.starts_with("HEAD ") && r.contains("/manifests/") && !r.contains("sha256:");
        assert!(tag_head || r.contains(nginx_repo) || r == "GET /v2/", "{r}");
    }
}

#[test]
fn a_layer_larger_than_an_upload_chunk_is_streamed_from_a_tar_in_pieces_and_survives_a_reset() {
    let Some(reg) = Registry::start(Variant::Plain, "mirror big layer") else {
        return;
    };
    // An image with a 9 MiB layer (more than two upload chunks; no registry checks the content
    // of a layer), packed as a `.tar`: the layer is read at its offset in the archive.
    let mut img = image(Kind::OciImage);
    let layer: Vec<u8> = (0..9 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let layer_digest = crate::support::sha256(&layer);
    let mut manifest: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    manifest["layers"][1] = serde_json::json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": layer_digest,
        "size": layer.len(),
    });
    img.manifest = serde_json::to_vec(&manifest).unwrap();
    img.digest = crate::support::sha256(&img.manifest);
    img.blobs[2] = (layer_digest.clone(), layer);
    let bundle = make_bundle(vec![("quay.io/example/big:1.0", img)]);
    let dir = tempdir();
    let tar = dir.join("big.tar");
    pack(&bundle.dir, &tar, false);
    // The first upload that carries more than 1 MiB is cut off after 1 MiB; the retry completes.
    let proxy = FaultProxy::start(
        &reg.host,
        Faults {
            reset_uploads: 1,
            reset_after_bytes: 1024 * 1024,
            ..Faults::default()
        },
    );
    let as_tar = TestBundle {
        dir: tar,
        images: bundle.images.clone(),
        _tmp: None,
    };
    let to = format!("{}/big", proxy.host);
    let run = mirror(
        &dir,
        &as_tar,
        &to,
        &["--insecure-registry", &proxy.host, "--format", "json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let requests = proxy.requests();
    assert!(
        requests.iter().filter(|r| r.starts_with("PATCH ")).count() >= 2,
        "{requests:?}"
    );
    assert_mirrored(&reg, "big", &as_tar);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}
