//! `bundle export --airgap` against a real registry process (see `registry.rs`), read back with skopeo.
//!
//! Each test pushes synthetic images (OCI image, OCI index, Docker schema2 image, Docker manifest list)
//! under `registry.example.test` (reached through `--registry-mirror`), solves the synthetic catalog in
//! `tests/fixtures/registry-catalog` (the lock has no digests: export pins them first) and exports it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Kind, SOURCE, Variant, bundle_env, image, sha256};
use crate::support::{Run, World};

/// The world (see `support::World`) and what the export tests do in it.
struct Setup(World);

impl std::ops::Deref for Setup {
    type Target = World;
    fn deref(&self) -> &World {
        &self.0
    }
}

impl Setup {
    fn new(variant: Variant, test: &str, skip: &[&str]) -> Option<Setup> {
        World::new(variant, test, "", skip).map(Setup)
    }

    /// `bundle export --airgap` with the mirror, the catalog, and (for plain HTTP) --insecure-registry.
    fn export(&self, extra: &[&str]) -> Run {
        self.export_with(extra, None)
    }

    fn export_with(&self, extra: &[&str], stdin: Option<&str>) -> Run {
        let mut args = vec!["--airgap"];
        args.extend_from_slice(extra);
        self.run("export", &args, stdin)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// `index.json` entries by ref name (the platform artifact as `bundle.platform`).
fn entries(layout: &Path) -> BTreeMap<String, serde_json::Value> {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            // The platform artifact is found by its artifactType: it has no name (format 2).
            let name = match e["artifactType"].as_str() {
                Some("application/vnd.bundle.platform.v1") => {
                    assert!(e["annotations"]["org.opencontainers.image.ref.name"].is_null());
                    "bundle.platform"
                }
                _ => e["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap(),
            };
            (name.to_string(), e.clone())
        })
        .collect()
}

/// Every blob's name is its digest, and nothing is left half-written.
fn assert_blobs_sound(layout: &Path) {
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".partial"), "left over: {name}");
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(sha256(&bytes), format!("sha256:{name}"));
    }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn export_to_dir_tar_and_zst_read_by_skopeo() {
    let test = "export_to_dir_tar_and_zst_read_by_skopeo";
    let Some(s) = Setup::new(Variant::Plain, test, &[]) else {
        return;
    };
    let r = s.export(&["-o", "out", "--format", "json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, s.registry.log());
    assert!(r.stderr.contains("fetched "), "{}", r.stderr);
    let j = json(&r);
    assert_eq!(j["images"], 5);
    assert_eq!(j["pinned"].as_array().unwrap().len(), 5, "{j}");
    assert_eq!(j["blobs"]["reused"], 0);
    // 3 single images × 3 blobs + 2 indexes × 2 platforms × 3 blobs.
    assert_eq!(j["blobs"]["fetched"], 21, "{j}");

    let out = s.path("out");
    assert_eq!(
        std::fs::read_to_string(out.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert_blobs_sound(&out);
    let entries = entries(&out);
    assert_eq!(entries.len(), 6, "{entries:?}");
    for (repo, img) in &s.pushed {
        let e = &entries[&format!("{SOURCE}/{repo}")];
        // Byte for byte, under the original media type: digests never change (Docker ones included).
        assert_eq!(e["digest"], img.digest.as_str(), "{repo}");
        assert_eq!(e["mediaType"], img.media_type.as_str(), "{repo}");
        assert_eq!(
            std::fs::read(blob(&out, &img.digest)).unwrap(),
            img.manifest
        );
        assert!(e["annotations"]["dev.bundle.component"].is_string());
    }
    assert_eq!(
        entries[&format!("{SOURCE}/team/app:v1")]["annotations"]["dev.bundle.component"],
        "app"
    );

    // The platform artifact: the lock (pinned) and the rendered manifests.
    let platform = &entries["bundle.platform"];
    assert_eq!(
        platform["artifactType"],
        "application/vnd.bundle.platform.v1"
    );
    let manifest = read_json(&blob(&out, platform["digest"].as_str().unwrap()));
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["config"]["size"], 2);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.bundle.lock.v1+yaml"
    );
    assert_eq!(
        layers[1]["mediaType"],
        "application/vnd.bundle.manifests.v1.tar"
    );
    let lock = std::fs::read_to_string(blob(&out, layers[0]["digest"].as_str().unwrap())).unwrap();
    for img in s.pushed.values() {
        assert!(lock.contains(&img.digest), "{lock}");
    }
    let tar = std::fs::read(blob(&out, layers[1]["digest"].as_str().unwrap())).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"kustomization.yaml".to_string()),
        "{names:?}"
    );

    // Archives: the same lock gives the same bytes; .tar.zst holds that .tar.
    let r = s.export(&["-o", "a.tar", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = s.export(&["-o", "b.tar", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let a = std::fs::read(s.path("a.tar")).unwrap();
    assert!(
        a == std::fs::read(s.path("b.tar")).unwrap(),
        "two exports differ"
    );
    assert!(!s.path("a.tar.partial.d").exists());
    let r = s.export(&["-o", "c.tar.zst", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let zst = std::fs::read(s.path("c.tar.zst")).unwrap();
    assert!(zst.len() < a.len());
    assert!(
        zstd::decode_all(zst.as_slice()).unwrap() == a,
        ".tar.zst is not the .tar"
    );
    // The tar holds the same layout, with fixed metadata.
    let mut archive = tar::Archive::new(a.as_slice());
    let mut names = Vec::new();
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(
            (h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
            (0, 0, 0)
        );
        assert_eq!(h.username().unwrap(), Some(""));
        names.push(e.path().unwrap().display().to_string());
    }
    assert_eq!(&names[..2], ["oci-layout", "index.json"]);
    let untarred = s.path("untarred");
    std::fs::create_dir_all(&untarred).unwrap();
    tar::Archive::new(a.as_slice()).unpack(&untarred).unwrap();
    assert_eq!(
        std::fs::read(untarred.join("index.json")).unwrap(),
        std::fs::read(out.join("index.json")).unwrap()
    );

    if !crate::support::require("skopeo", "skopeo", test) {
        return;
    }
    for repo in ["team/app:v1", "team/multi:v2"] {
        let reference = format!("{SOURCE}/{repo}");
        let raw = run_ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            &format!("oci:{}:{reference}", out.display()),
        ]));
        assert_eq!(sha256(raw.as_bytes()), s.pushed[repo].digest, "{repo}");
        let target = s.path(&format!("copy-{}", repo.replace(['/', ':'], "-")));
        run_ok(Command::new("skopeo").args([
            "copy",
            "--override-arch",
            "amd64",
            "--override-os",
            "linux",
            &format!("oci:{}:{reference}", out.display()),
            &format!("dir:{}", target.display()),
        ]));
        assert!(target.join("manifest.json").is_file());
    }
}

#[test]
fn interrupted_export_resumes_fetching_only_what_is_missing() {
    let Some(s) = Setup::new(
        Variant::Plain,
        "interrupted_export_resumes_fetching_only_what_is_missing",
        &[],
    ) else {
        return;
    };
    let r = s.export(&["-o", "out", "-q", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let total = json(&r)["blobs"]["total"].as_u64().unwrap();
    let out = s.path("out");
    let app: serde_json::Value = serde_json::from_slice(&s.pushed["team/app:v1"].manifest).unwrap();
    let tool: serde_json::Value =
        serde_json::from_slice(&s.pushed["legacy/tool:1.0"].manifest).unwrap();
    let layer_a = app["layers"][0]["digest"].as_str().unwrap().to_string();
    let layer_b = tool["layers"][1]["digest"].as_str().unwrap().to_string();
    // A layer corrupted in place (same size): `bundle verify` on its own rehashes every blob and
    // notices; the next export rehashes it before reusing it, and fetches it again.
    let layer_c = tool["layers"][0]["digest"].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(blob(&out, &layer_c)).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(blob(&out, &layer_c), &bytes).unwrap();
    let v = bundle_env(&s.dir, &["verify", "out"], None, &[]);
    assert_ne!(v.code, 0, "{}", v.stdout);
    let said = format!("{}{}", v.stdout, v.stderr);
    assert!(
        said.contains(&layer_c) && said.contains("corrupt"),
        "{}\n{}",
        v.stdout,
        v.stderr
    );
    // As if stopped early: no index.json, two layers and one manifest missing, one blob half-written.
    std::fs::remove_file(out.join("index.json")).unwrap();
    std::fs::rename(blob(&out, &layer_a), {
        let mut p = blob(&out, &layer_a).into_os_string();
        p.push(".partial");
        p
    })
    .unwrap();
    std::fs::remove_file(blob(&out, &layer_b)).unwrap();
    std::fs::remove_file(blob(&out, &s.pushed["team/app:v1"].digest)).unwrap();
    // A corrupted blob under its final name is noticed and fetched again.
    let config = app["config"]["digest"].as_str().unwrap().to_string();
    std::fs::write(blob(&out, &config), b"garbage").unwrap();

    let r = s.export(&["-o", "out", "-q", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json(&r);
    assert_eq!(j["verified"], "sound", "{j}");
    assert_eq!(j["blobs"]["fetched"], 4, "{j}");
    assert_eq!(j["blobs"]["reused"], total - 4, "{j}");
    assert_eq!(j["manifests"]["fetched"], 1, "{j}");
    assert_blobs_sound(&out);
    assert_eq!(entries(&out).len(), 6);

    // A failed archive export keeps its work directory, and the next run resumes from it.
    let r = s.export(&["-o", "x.tar", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    crate::support::copy_dir(&out, &s.path("y.tar.partial.d"));
    let r = s.export(&["-o", "y.tar", "-q", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["blobs"]["fetched"], 0);
    assert!(std::fs::read(s.path("x.tar")).unwrap() == std::fs::read(s.path("y.tar")).unwrap());
}

#[test]
fn platform_subset_keeps_both_digests() {
    let Some(s) = Setup::new(Variant::Plain, "platform_subset_keeps_both_digests", &[]) else {
        return;
    };
    let r = s.export(&["-o", "out", "--platform", "linux/arm64", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["blobs"]["total"], 15);
    let out = s.path("out");
    let entries = entries(&out);
    for repo in ["team/multi:v2", "legacy/multi:1.0"] {
        let pushed = &s.pushed[repo];
        let e = &entries[&format!("{SOURCE}/{repo}")];
        assert_ne!(e["digest"], pushed.digest.as_str());
        assert_eq!(e["mediaType"], pushed.media_type.as_str());
        assert_eq!(
            e["annotations"]["dev.bundle.original-digest"],
            pushed.digest.as_str()
        );
        let filtered = read_json(&blob(&out, e["digest"].as_str().unwrap()));
        let kept = filtered["manifests"].as_array().unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0]["platform"]["architecture"], "arm64");
        assert_eq!(kept[0]["digest"], pushed.children[1].digest.as_str());
        assert_eq!(
            filtered["annotations"]["dev.bundle.original-digest"],
            pushed.digest.as_str()
        );
        assert!(!blob(&out, &pushed.children[0].digest).exists());
    }
    // Single-platform images are kept as they are: a Docker schema2 image keeps its digest.
    let tool = &entries[&format!("{SOURCE}/legacy/tool:1.0")];
    assert_eq!(tool["digest"], s.pushed["legacy/tool:1.0"].digest.as_str());
    assert_blobs_sound(&out);

    let r = s.export(&["-o", "none", "--platform", "windows/amd64", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("windows/amd64"), "{}", r.stderr);
}

#[test]
fn missing_tag_and_digest_mismatch_fail_cleanly() {
    let Some(s) = Setup::new(
        Variant::Plain,
        "missing_tag_and_digest_mismatch_fail_cleanly",
        &["team/app:v1"],
    ) else {
        return;
    };
    let r = s.export(&["-o", "out", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("{SOURCE}/team/app:v1")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("component app"), "{}", r.stderr);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);

    // Push it, then corrupt one of its layers in the registry's storage (same size, other bytes).
    let img = image(Kind::OciImage);
    s.registry.push("team/app:v1", &img);
    let (layer, bytes) = &img.blobs[1];
    s.registry.corrupt_blob(layer, bytes);

    let r = s.export(&["-o", "out", "--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("{SOURCE}/team/app:v1")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(layer), "{}", r.stderr);
    let j = json(&r);
    assert_eq!(j["ok"], false);
    assert_eq!(j["failures"].as_array().unwrap().len(), 1, "{j}");
    let out = s.path("out");
    assert!(!out.join("index.json").exists());
    assert!(!blob(&out, layer).exists());
    assert_blobs_sound(&out);
}

#[test]
fn basic_auth_and_tls() {
    let password = "s3cret-pass";
    let Some(s) = Setup::new(
        Variant::Basic {
            user: "alice".into(),
            password: password.into(),
        },
        "basic_auth_and_tls",
        &[],
    ) else {
        return;
    };
    let r = s.export(&["-o", "out", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&s.registry.host), "{}", r.stderr);
    assert!(r.stderr.contains("--username"), "{}", r.stderr);
    let r = s.export_with(
        &["-o", "out", "-q", "--username", "alice", "--password-stdin"],
        Some(password),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains(password));
    assert_eq!(entries(&s.path("out")).len(), 6);

    let Some(t) = Setup::new(Variant::Tls, "basic_auth_and_tls", &[]) else {
        return;
    };
    let ca = t.registry.ca_file.clone().unwrap();
    let r = t.export(&["-o", "out.tar.zst", "-q"]);
    assert_ne!(r.code, 0, "an unknown CA is refused: {}", r.stderr);
    let r = t.export(&["-o", "out.tar.zst", "-q", "--ca-file", ca.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(t.path("out.tar.zst").is_file());
}

/// Issue 13.5: the bundle carries the catalog its lock was solved against, next to the lock, so
/// that `why`, `matrix`, `catalog show` and `solve --locked` work from the bundle alone
/// (`--catalog BUNDLE`, `--lock BUNDLE`: directory, .tar.zst).
#[test]
fn bundle_carries_its_catalog() {
    let Some(s) = Setup::new(Variant::Plain, "bundle_carries_its_catalog", &[]) else {
        return;
    };
    let r = s.export(&["-o", "out", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("solved against"), "{}", r.stderr);
    let r = s.export(&["-o", "b.tar.zst", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The third layer of the platform artifact is the catalog's deterministic tar: the same
    // catalog (digest) as the lock names.
    let out = s.path("out");
    let manifest = read_json(&blob(
        &out,
        entries(&out)["bundle.platform"]["digest"].as_str().unwrap(),
    ));
    let layer = &manifest["layers"][2];
    assert_eq!(layer["mediaType"], "application/vnd.bundle.catalog.v1.tar");
    assert_eq!(
        layer["annotations"]["org.opencontainers.image.title"],
        "catalog.tar"
    );
    let tar = std::fs::read(blob(&out, layer["digest"].as_str().unwrap())).unwrap();
    let carried = bundle::catalog::Catalog::from_tar("catalog.tar", tar.as_slice()).unwrap();
    let given =
        bundle::catalog::Catalog::from_dir(Path::new(&crate::support::world::catalog())).unwrap();
    assert_eq!(carried.digest, given.digest);
    assert!(s.lock_text().contains(&given.digest), "{}", s.lock_text());

    // The far side: an empty directory with nothing but the bundle.
    let far = crate::support::tempdir();
    for b in [
        out.display().to_string(),
        s.path("b.tar.zst").display().to_string(),
    ] {
        let run = |args: &[&str]| {
            let mut all = vec!["--catalog", b.as_str()];
            all.extend_from_slice(args);
            crate::support::bundle_in(&far, &all)
        };
        let r = run(&["catalog", "list", "--format", "json"]);
        assert_eq!(r.code, 0, "{b}: {r:?}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["catalog"]["digest"],
            given.digest.as_str(),
            "{b}"
        );
        let r = run(&["why", "app", "--lock", &b]);
        assert_eq!(r.code, 0, "{b}: {r:?}");
        assert!(r.stdout.contains("app"), "{b}: {}", r.stdout);
        let r = run(&["matrix", "--format", "json"]);
        assert_eq!(r.code, 0, "{b}: {r:?}");
        // the bundle's lock was pinned by export: --locked compares the solution, not the pins
        let r = run(&["solve", "--locked", "-o", &b]);
        assert_eq!(r.code, 0, "{b}: {r:?}");
        // a lock is never written over a bundle
        let r = run(&["solve", "-o", &b]);
        assert_eq!(r.code, 2, "{b}: {r:?}");
        assert!(r.stderr.contains("is a bundle"), "{b}: {}", r.stderr);
    }
    assert!(out.join("index.json").is_file());
    assert!(
        std::fs::read_dir(far.as_ref() as &Path)
            .unwrap()
            .next()
            .is_none(),
        "nothing written on the far side"
    );

    // A different catalog is carried but named in a warning.
    let other = crate::support::tempdir().child("catalog");
    crate::support::copy_dir(Path::new(&crate::support::world::catalog()), &other);
    let app = other.join("components/app.yaml");
    let text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, format!("{text}\n# edited\n")).unwrap();
    let r = bundle_env(
        &s.dir,
        &[
            "--catalog",
            &other.display().to_string(),
            "export",
            "--airgap",
            "--registry-mirror",
            &s.mirror(),
            "--insecure-registry",
            &s.registry.host,
            "-o",
            "other",
            "-q",
        ],
        None,
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("was solved against catalog"),
        "{}",
        r.stderr
    );

    // A bundle without the catalog layer (exported before bundles carried it) says so.
    let old = s.path("out");
    let pm = blob(
        &old,
        entries(&old)["bundle.platform"]["digest"].as_str().unwrap(),
    );
    let mut m = read_json(&pm);
    m["layers"].as_array_mut().unwrap().truncate(2);
    let bytes = serde_json::to_vec(&m).unwrap();
    let digest = sha256(&bytes);
    std::fs::write(blob(&old, &digest), &bytes).unwrap();
    let index = old.join("index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    let was = entries(&old)["bundle.platform"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let size = std::fs::metadata(&pm).unwrap().len();
    let text = text.replace(&was, &digest).replace(
        &format!("\"size\":{size}"),
        &format!("\"size\":{}", bytes.len()),
    );
    std::fs::write(&index, text).unwrap();
    let r = crate::support::bundle_in(&far, &["--catalog", &old.display().to_string(), "matrix"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("carries no catalog"), "{}", r.stderr);
}
