//! The whole path on the real, embedded catalog: `solve` → `pin` against a real registry that mirrors
//! every upstream registry → `render` (the manifests validate against the Kubernetes schemas of the
//! chosen version, every image pinned to the digest the registry serves) → `export --airgap` →
//! `verify` → `mirror` into a second, empty registry (the far side) → every digest intact there.

use std::collections::{BTreeMap, BTreeSet};

use bundle::lock::Lock;
use bundle::types::{Digest, ImageRef};

use crate::render::validate_or_skip;
use crate::support::tempdir;
use crate::support::{Kind, Registry, Variant, bundle_env, image};

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

    let mut args: Vec<String> = vec!["pin".into(), "--insecure-registry".into(), reg.host.clone()];
    for r in &registries {
        args.push("--registry-mirror".into());
        args.push(format!("{r}={}/{r}", reg.host));
    }
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let r = bundle_env(&dir, &args, None, &[]);
    assert_eq!(r.code, 0, "pin: {}\n{}", r.stdout, r.stderr);
    let pinned = Lock::parse(
        &std::fs::read_to_string(dir.join("bundle.lock")).unwrap(),
        "bundle.lock",
    )
    .unwrap();
    for c in &pinned.components {
        for i in &c.images {
            assert_eq!(
                i.digest.as_ref().map(Digest::to_string).as_ref(),
                served.get(&i.reference.to_string()),
                "{}",
                i.reference
            );
        }
    }

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

    // the air gap: export everything into one archive, verify it, mirror it into an empty registry
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
    // the manifests written for the far side pull from it
    let far_out = std::fs::read_to_string(dir.join("far").join("kustomization.yaml"));
    assert!(far_out.is_ok(), "mirror -o wrote manifests");
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
