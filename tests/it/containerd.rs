//! A real client reads the bundle: an exported `.tar` is imported into a real containerd
//! (`ctr images import --all-platforms`), and every image of the lock must be there under its
//! canonical name with the digest the lock holds. A Docker Hub official image written the short way in
//! the catalog (`docker.io/traefik`) must arrive as `docker.io/library/traefik`, the name a node asks
//! for; `skopeo` must find it by that name in an exported directory too.

use std::collections::BTreeMap;
use std::process::Command;

use bundle::lock::Lock;

use crate::support::containerd::Containerd;
use crate::support::{
    IMAGES, Kind, Registry, SOURCE, Variant, bundle_env, copy_dir, fixture, image, require, tempdir,
};

/// A component of the fixture catalog whose image is a Docker Hub official image, spelled short.
const HUB_COMPONENT: &str = "apiVersion: bundle/v1
kind: Component
name: proxy
description: Synthetic proxy shipped as a Docker Hub official image (short spelling, as upstream docs write it)
homepage: https://example.test/proxy
provides: [ingress]
versions:
  - version: 3.7.11
    requires:
      - name: kubernetes
        range: \">=1.30.0\"
        source: https://example.test/proxy/compat
    images:
      - reference: docker.io/traefik:v3.7.11
";

#[test]
fn containerd_imports_every_image_under_its_canonical_name() {
    let test = "containerd_imports_every_image_under_its_canonical_name";
    let Some(reg) = Registry::start(Variant::Plain, test) else {
        return;
    };
    let Some(containerd) = Containerd::start(test) else {
        return;
    };
    let dir = tempdir();
    let catalog = dir.join("catalog");
    copy_dir(&fixture("registry-catalog"), &catalog);
    std::fs::write(catalog.join("components/proxy.yaml"), HUB_COMPONENT).unwrap();

    // Upstream content: the fixture images under registry.example.test, traefik under docker.io, all
    // served by one registry through two mirrors.
    let mut pushed: BTreeMap<String, String> = BTreeMap::new();
    for (repo, kind) in IMAGES {
        let img = image(kind);
        reg.push(&format!("{SOURCE}/{repo}"), &img);
        pushed.insert(format!("{SOURCE}/{repo}"), img.digest);
    }
    let traefik = image(Kind::OciIndex);
    reg.push("docker.io/library/traefik:v3.7.11", &traefik);
    pushed.insert(
        "docker.io/library/traefik:v3.7.11".to_string(),
        traefik.digest.clone(),
    );

    let cat = catalog.to_str().unwrap();
    let r = bundle_env(
        &dir,
        &[
            "--catalog",
            cat,
            "solve",
            "--profile",
            "default",
            "--with",
            "proxy",
        ],
        None,
        &[],
    );
    assert_eq!(r.code, 0, "solve: {}", r.stderr);
    let mirrors = [
        format!("{SOURCE}={}/{SOURCE}", reg.host),
        format!("docker.io={}/docker.io", reg.host),
    ];
    let mut args = vec![
        "--catalog",
        cat,
        "pin",
        "-q",
        "--insecure-registry",
        &reg.host,
    ];
    for m in &mirrors {
        args.extend(["--registry-mirror", m.as_str()]);
    }
    let r = bundle_env(&dir, &args, None, &[]);
    assert_eq!(r.code, 0, "pin: {}", r.stderr);
    let lock = Lock::parse(
        &std::fs::read_to_string(dir.join("bundle.lock")).unwrap(),
        "bundle.lock",
    )
    .unwrap();
    let locked: BTreeMap<String, String> = lock
        .components
        .iter()
        .flat_map(|c| &c.images)
        .map(|i| {
            let digest = i.digest.as_ref().expect("pinned").to_string();
            (i.reference.to_string(), digest)
        })
        .collect();
    assert_eq!(locked, pushed, "the lock names every image canonically");

    args[2] = "export";
    args[3] = "--airgap";
    let mut export = args.clone();
    export.extend(["-o", "platform.tar"]);
    let r = bundle_env(&dir, &export, None, &[]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);

    containerd.import(&dir.join("platform.tar"));
    let imported: BTreeMap<String, String> = containerd.images().into_iter().collect();
    for (reference, digest) in &locked {
        assert_eq!(
            imported.get(reference),
            Some(digest),
            "{reference} in containerd: {imported:?}"
        );
    }
    assert!(
        !imported.contains_key("docker.io/traefik:v3.7.11"),
        "the short name is not an image name: {imported:?}"
    );

    // skopeo finds it by the name a node asks for, in a directory bundle.
    if !require("skopeo", "skopeo", test) {
        return;
    }
    let mut export = args.clone();
    export.extend(["-o", "layout"]);
    let r = bundle_env(&dir, &export, None, &[]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!(
            "oci:{}:docker.io/library/traefik:v3.7.11",
            dir.join("layout").display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(crate::support::sha256(&out.stdout), traefik.digest);
}
