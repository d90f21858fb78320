//! The whole path on the real, embedded catalog: `solve` → `pin` against a real registry that mirrors
//! every upstream registry, and an HTTP server that mirrors every upstream download site (charts and
//! release manifests at the catalog's coordinates, made by the harness) → `render` (the manifests validate against the Kubernetes schemas of the
//! chosen version, every image pinned to the digest the registry serves) → `export --airgap` →
//! `verify` → `mirror` into a second, empty registry (the far side) → every digest intact there, and
//! `helm pull` reads every chart of the platform from it.

use std::collections::{BTreeMap, BTreeSet};

use bundle::catalog::Catalog;
use bundle::lock::Lock;
use bundle::types::{Digest, ImageRef};

use crate::charts::glue_crds;
use crate::render::{read_tree, validate_or_skip};
use crate::support::charts::{
    chart_tgz_with_crds, helm_pull, index_yaml, oci_chart, release_manifest, require_helm,
};
use crate::support::http::HttpServer;
use crate::support::tempdir;
use crate::support::{Kind, Registry, Variant, bundle_env, image, sha256};

/// `registry.k8s.io/pause:3.10` → (`registry.k8s.io`, `pause:3.10`): the lock holds canonical
/// references (Docker Hub's implicit `library/` explicit), as registries and containerd see the path.
fn split(reference: &ImageRef) -> (String, String) {
    let tag = reference.tag().expect("the lock's references carry tags");
    (
        reference.registry().to_string(),
        format!("{}:{tag}", reference.repository()),
    )
}

#[test]
fn solve_pin_render_validate_on_the_real_catalog() {
    let Some(helm) = require_helm("e2e") else {
        return;
    };
    let Some(reg) = Registry::start(Variant::Plain, "e2e") else {
        return;
    };
    let dir = tempdir();
    let r = bundle_env(&dir, &["solve", "--as-of", "2026-11-26"], None, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The catalog publishes digests for a few images (the real upstream ones); the local registry
    // serves synthetic content, so this test lets pin fill every digest from the mirror.
    let text = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("digest:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("bundle.lock"), &text).unwrap();
    let lock = Lock::parse(&text, "bundle.lock").unwrap();

    // every image of the platform, pushed under <registry>/<repository>:<tag> (one multi-arch index each)
    let mut served: BTreeMap<String, String> = BTreeMap::new();
    let mut registries = BTreeSet::new();
    for c in &lock.components {
        for i in &c.images {
            let (registry, rest) = split(&i.reference);
            let img = image(Kind::OciIndex);
            reg.push(&format!("{registry}/{rest}"), &img);
            served.insert(i.reference.to_string(), img.digest.clone());
            registries.insert(registry);
        }
    }
    assert!(
        registries.len() >= 3,
        "images come from several registries: {registries:?}"
    );

    // every chart and release manifest the lock names, made by the harness at the catalog's
    // coordinates: OCI charts pushed to the registry, classic ones in an index.yaml and release
    // manifests on the HTTP server. Each runs the component's own images (so the check of the images
    // artifacts use finds every one in the catalog).
    let http = HttpServer::start();
    let mut url_hosts: BTreeSet<String> = BTreeSet::new();
    let mut charts: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new(); // reference → (digest, .tgz)
    let mut classic: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    let mut manifests: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut oci_charts = 0;
    for c in &lock.components {
        let images: Vec<String> = c.images.iter().map(|i| i.reference.to_string()).collect();
        let images: Vec<&str> = images.iter().map(String::as_str).collect();
        for ch in &c.charts {
            let (name, version) = (ch.chart.name(), ch.chart.version());
            // with the CRDs upstream's chart brings that the platform's glue objects use
            let crds = glue_crds(&c.name);
            let tgz = chart_tgz_with_crds(name, version, &c.version.to_string(), &images, &crds);
            let reference = ch.chart.reference().to_string();
            if ch.chart.is_oci() {
                let artifact = oci_chart(&tgz, name, version, false);
                reg.push(&reference, &artifact);
                registries.insert(ch.chart.reference().registry().to_string());
                charts.insert(reference, (artifact.digest.clone(), tgz));
                oci_charts += 1;
            } else {
                let rest = ch
                    .chart
                    .repository()
                    .split_once("://")
                    .unwrap()
                    .1
                    .to_string();
                url_hosts.insert(rest.split('/').next().unwrap().to_string());
                let file = format!("{name}-{version}.tgz");
                http.put(&format!("/{rest}/{file}"), tgz.clone());
                classic.entry(rest).or_default().push((
                    name.to_string(),
                    version.to_string(),
                    sha256(&tgz),
                ));
                charts.insert(reference, (sha256(&tgz), tgz));
            }
        }
        for m in &c.manifests {
            let rest = m.url.split_once("://").unwrap().1;
            url_hosts.insert(rest.split('/').next().unwrap().to_string());
            let text = format!(
                "{}---\n{}",
                release_manifest(&c.name, &images),
                glue_crds(&c.name)
            );
            let text = text.into_bytes();
            http.put(&format!("/{rest}"), text.clone());
            manifests.insert(m.url.clone(), text);
        }
    }
    for (rest, entries) in &classic {
        let files: Vec<String> = entries
            .iter()
            .map(|(n, v, _)| format!("{n}-{v}.tgz"))
            .collect();
        let rows: Vec<(&str, &str, &str, Option<&str>)> = entries
            .iter()
            .zip(&files)
            .map(|((n, v, d), f)| (n.as_str(), v.as_str(), f.as_str(), Some(d.as_str())))
            .collect();
        http.put(&format!("/{rest}/index.yaml"), index_yaml(&rows));
    }
    assert!(
        oci_charts >= 5 && charts.len() > oci_charts && manifests.len() >= 3,
        "the default platform has OCI and classic charts and release manifests: {:?} {:?}",
        charts.keys(),
        manifests.keys()
    );
    let url_mirrors: Vec<String> = url_hosts
        .iter()
        .flat_map(|h| {
            [
                "--url-mirror".to_string(),
                format!("https://{h}={}/{h}", http.url()),
            ]
        })
        .collect();

    let mut args: Vec<String> = vec!["pin".into(), "--insecure-registry".into(), reg.host.clone()];
    for r in &registries {
        args.push("--registry-mirror".into());
        args.push(format!("{r}={}/{r}", reg.host));
    }
    args.extend(url_mirrors.iter().cloned());
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let r = bundle_env(&dir, &args, None, &[]);
    assert_eq!(r.code, 0, "pin: {}\n{}", r.stdout, r.stderr);
    let pinned = Lock::parse(
        &std::fs::read_to_string(dir.join("bundle.lock")).unwrap(),
        "bundle.lock",
    )
    .unwrap();
    let catalog = Catalog::embedded().unwrap();
    for c in &pinned.components {
        for i in &c.images {
            assert_eq!(
                i.digest.as_ref().map(Digest::to_string).as_ref(),
                served.get(&i.reference.to_string()),
                "{}",
                i.reference
            );
        }
        // every component names a chart or a release manifest, pinned to what was served, unless
        // the catalog says why there is none (kubeadm installs coredns, etcd, pause)
        let none = catalog
            .component(&c.name)
            .and_then(|x| x.release(&c.version))
            .is_some_and(|r| r.artifacts.none.is_some());
        assert!(
            c.has_artifacts() != none,
            "{} {}: a chart or manifest, or the catalog's note why there is none",
            c.name,
            c.version
        );
        for ch in &c.charts {
            assert_eq!(
                ch.digest.as_ref().map(Digest::to_string).as_ref(),
                charts
                    .get(&ch.chart.reference().to_string())
                    .map(|(d, _)| d),
                "chart {}",
                ch.chart
            );
        }
        for m in &c.manifests {
            assert_eq!(
                m.digest.as_ref().map(Digest::to_string),
                manifests.get(&m.url).map(|t| sha256(t)),
                "manifest {}",
                m.url
            );
        }
    }
    let requests = http.requests().len();

    let r = bundle_env(&dir, &["render", "-o", "out"], None, &[]);
    assert_eq!(r.code, 0, "render: {}\n{}", r.stdout, r.stderr);
    let out = dir.join("out");
    // every image line in every manifest is pinned to a digest the registry serves
    let digests: BTreeSet<&String> = served.values().collect();
    let mut images = 0;
    for entry in walk(&out) {
        let text = std::fs::read_to_string(&entry).unwrap();
        for line in text.lines() {
            let l = line.trim_start().trim_start_matches("- ");
            if let Some(img) = l.strip_prefix("image:") {
                let img = img.trim().trim_matches('"');
                if img.starts_with('{') || !(img.contains(':') || img.contains('@')) {
                    // a CRD's schema (`image: {type: string}`), or a Calico ImageSet's image name
                    // (its digest is the next field; render checks it against the lock)
                    continue;
                }
                let (_, digest) = img
                    .split_once('@')
                    .unwrap_or_else(|| panic!("unpinned image {img} in {}", entry.display()));
                assert!(
                    digests.contains(&digest.to_string()),
                    "{img} is not a digest the registry serves"
                );
                images += 1;
            }
        }
    }
    assert!(images >= 10, "the platform has images ({images})");
    validate_or_skip(&out, &pinned.kubernetes.to_string());

    // the air gap: export everything into one archive, verify it, mirror it into an empty registry.
    // Charts and manifests come from the cache pin filled: no --url-mirror, and no download.
    let mut args: Vec<String> = vec![
        "export".into(),
        "--airgap".into(),
        "-o".into(),
        "platform.tar.zst".into(),
        "--quiet".into(),
        "--insecure-registry".into(),
        reg.host.clone(),
    ];
    for r in &registries {
        args.push("--registry-mirror".into());
        args.push(format!("{r}={}/{r}", reg.host));
    }
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let r = bundle_env(&dir, &args, None, &[]);
    assert_eq!(r.code, 0, "export: {}\n{}", r.stdout, r.stderr);
    assert_eq!(http.requests().len(), requests, "export reads the cache");
    let r = bundle_env(&dir, &["verify", "platform.tar.zst"], None, &[]);
    assert_eq!(r.code, 0, "verify: {}\n{}", r.stdout, r.stderr);

    let Some(far) = Registry::start(Variant::Plain, "e2e far side") else {
        return;
    };
    let to = format!("{}/platform", far.host);
    let r = bundle_env(
        &dir,
        &[
            "mirror",
            "platform.tar.zst",
            "--to",
            &to,
            "--insecure-registry",
            &far.host,
            "-o",
            "far",
        ],
        None,
        &[],
    );
    assert_eq!(r.code, 0, "mirror: {}\n{}", r.stdout, r.stderr);
    // every image is on the far side under <project>/<source registry>/<repository>, same digest
    for (reference, digest) in &served {
        let (registry, rest) = split(&ImageRef::parse(reference).unwrap());
        let (repo, _tag) = rest.rsplit_once(':').unwrap();
        let Some(got) = far.skopeo_digest(&format!("platform/{registry}/{repo}@{digest}")) else {
            return; // skopeo not installed (the harness already said so)
        };
        assert_eq!(&got, digest, "{reference} on the far side");
    }
    // helm pulls every chart of the platform from the far side, byte for byte; an OCI chart keeps
    // its digest there
    let pulled = dir.join("pulled");
    for (reference, (digest, tgz)) in &charts {
        let parsed = ImageRef::parse(reference).unwrap();
        let (registry, rest) = split(&parsed);
        let (repo, tag) = rest.rsplit_once(':').unwrap();
        let repository = format!("platform/{registry}/{repo}");
        let got = helm_pull(&helm, &far.host, &repository, tag, &pulled);
        assert!(&got == tgz, "helm pull {repository} --version {tag}");
        if !classic.keys().any(|k| reference.starts_with(k.as_str()))
            && let Some(d) = far.skopeo_digest(&format!("{repository}:{tag}"))
        {
            assert_eq!(&d, digest, "{reference} on the far side");
        }
    }
    // the manifests written for the far side pull from it
    let far_out = std::fs::read_to_string(dir.join("far").join("kustomization.yaml"));
    assert!(far_out.is_ok(), "mirror -o wrote manifests");
    let far_files = read_tree(&dir.join("far"));
    assert!(
        far_files
            .values()
            .any(|t| t.contains(&format!("image: {to}/"))),
        "mirror -o moved the images to the mirror"
    );

    // the far side has no helm: `render --bundle` moves the rendering the bundle carries to the
    // mirror, in Rust, exactly as `mirror -o` did; a render that needs helm says what to install
    let no_helm = [("PATH", "/usr/bin:/bin"), ("BUNDLE_HELM", "")];
    let r = bundle_env(
        &dir,
        &[
            "render",
            "--bundle",
            "platform.tar.zst",
            "--registry",
            &to,
            "-o",
            "far-render",
        ],
        None,
        &no_helm,
    );
    assert_eq!(r.code, 0, "render --bundle: {}\n{}", r.stdout, r.stderr);
    assert_eq!(read_tree(&dir.join("far-render")), far_files);
    let r = bundle_env(&dir, &["render", "-o", "needs-helm"], None, &no_helm);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("helm is needed") && r.stderr.contains("install Helm"),
        "{}",
        r.stderr
    );

    // Flux delivery, no helm needed: every OCIRepository names a chart the mirror serves, by the
    // digest it serves it under (a classic chart as the OCI artifact the bundle wrapped it in)
    let r = bundle_env(
        &dir,
        &[
            "render",
            "--delivery",
            "flux",
            "--registry",
            &to,
            "-o",
            "flux",
        ],
        None,
        &no_helm,
    );
    assert_eq!(
        r.code, 0,
        "render --delivery flux: {}\n{}",
        r.stdout, r.stderr
    );
    let mut sources = 0;
    for (file, text) in read_tree(&dir.join("flux")) {
        if !file.ends_with(".flux.yaml") {
            continue;
        }
        for d in serde_saphyr::from_multiple::<serde_json::Value>(&text).unwrap() {
            if d["kind"] != "OCIRepository" {
                continue;
            }
            let url = d["spec"]["url"].as_str().unwrap();
            let digest = d["spec"]["ref"]["digest"].as_str().unwrap();
            let repository = url
                .strip_prefix(&format!("oci://{}/", far.host))
                .unwrap_or_else(|| panic!("{url} is on the mirror"));
            let got = far.skopeo_digest(&format!("{repository}@{digest}"));
            assert_eq!(got.as_deref(), Some(digest), "{file}: {url}@{digest}");
            sources += 1;
        }
    }
    // (Prometheus and Alertmanager run under prometheus-operator: their charts are not installed)
    assert!(sources >= 8, "{sources} OCIRepositories");

    // the same Flux objects from a bundle directory (a content store too), without helm
    let mut args: Vec<String> = vec![
        "export".into(),
        "--airgap".into(),
        "-o".into(),
        "platform-dir".into(),
        "--quiet".into(),
        "--insecure-registry".into(),
        reg.host.clone(),
    ];
    for r in &registries {
        args.push("--registry-mirror".into());
        args.push(format!("{r}={}/{r}", reg.host));
    }
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let r = bundle_env(&dir, &args, None, &[]);
    assert_eq!(
        r.code, 0,
        "export to a directory: {}\n{}",
        r.stdout, r.stderr
    );
    let r = bundle_env(
        &dir,
        &[
            "render",
            "--bundle",
            "platform-dir",
            "--delivery",
            "flux",
            "--registry",
            &to,
            "-o",
            "flux-from-bundle",
        ],
        None,
        &no_helm,
    );
    assert_eq!(
        r.code, 0,
        "render --bundle DIR --delivery flux: {}",
        r.stderr
    );
    assert_eq!(
        read_tree(&dir.join("flux-from-bundle")),
        read_tree(&dir.join("flux"))
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
    out
}
