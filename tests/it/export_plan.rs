//! The day-2 path with charts and release manifests: `bundle export --plan DIR` carries every step
//! lock's charts and release manifests (not only the last step's), and a delta whose base is given
//! as a lock (`--since OLD.lock`) leaves out the same charts and manifests as a delta over the
//! equivalent bundle. Against real peers on 127.0.0.1: a registry process serving the images and
//! the OCI charts (made by the harness), and the harness's HTTP server serving a classic chart
//! repository and the release manifests; the bundles are read back with our own `inspect` and by
//! their blob files, and mirrored into a second registry that `skopeo` reads.
//!
//! The catalog: `web` 1.0.0, 1.1.0, 1.2.0, each with its own OCI chart and release manifest (a
//! chart and a manifest that change at every step), and `stay` 2.0.0 with a classic chart (one that
//! stays the same).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::artifacts::KUBERNETES;
use crate::delta::blobs_in;
use crate::support::charts::{chart_tgz, index_yaml, oci_chart, release_manifest, require_helm};
use crate::support::http::HttpServer;
use crate::support::{
    Kind, Registry, Run, TempDir, Variant, bundle_env, image, patched, sha256, tempdir,
};

const WEB: [&str; 3] = ["1.0.0", "1.1.0", "1.2.0"];

fn manifest_url(version: &str) -> String {
    format!("https://downloads.example.test/web/v{version}/web.yaml")
}

fn web_component() -> String {
    let mut s = String::from(
        "apiVersion: bundle/v1\nkind: Component\nname: web\ndescription: Synthetic web\n\
         homepage: https://example.test/web\nprovides: [workload]\nversions:\n",
    );
    for v in WEB {
        s.push_str(&format!(
            "  - version: {v}
    requires:
      - name: kubernetes
        range: \">=1.30.0\"
        source: https://example.test/web/compat
    charts:
      - repository: oci://charts.example.test/team
        name: web
        version: {v}
        appVersion: {v}
        source: https://example.test/web/Chart.yaml
    manifests:
      - url: {url}
        source: https://example.test/releases
    images:
      - reference: registry.example.test/team/web:v{v}
",
            url = manifest_url(v)
        ));
    }
    s
}

const STAY: &str = "apiVersion: bundle/v1
kind: Component
name: stay
description: Synthetic stay
homepage: https://example.test/stay
provides: [workload]
versions:
  - version: 2.0.0
    requires:
      - name: kubernetes
        range: \">=1.30.0\"
        source: https://example.test/stay/compat
    charts:
      - repository: https://charts.example.test/stable
        name: stay
        version: 2.0.0
        appVersion: 2.0.0
        source: https://example.test/stay/Chart.yaml
    manifests:
      - url: https://downloads.example.test/stay/v2.0.0/stay.yaml
        source: https://example.test/releases
    images:
      - reference: registry.example.test/team/stay:v2
";

/// Upstream (a registry and an HTTP server), the catalog, and one lock per version of `web`
/// (`01-web-1.0.0.lock`, …) in a plan directory.
struct Day2 {
    registry: Registry,
    http: HttpServer,
    dir: TempDir,
    /// The step locks, as `bundle plan -o DIR` names them.
    plan: PathBuf,
    /// `web` version → the digest of its OCI chart as pushed.
    charts: Vec<(String, String)>,
    /// `web` version → the digest of its chart's `.tgz` (the chart layer).
    tgz: Vec<(String, String)>,
    /// The digest of each `web` version's image, in [`WEB`] order.
    images: Vec<String>,
    /// `stay`'s `.tgz` digest.
    stay: String,
    /// `stay`'s release manifest's digest.
    stay_manifest: String,
    /// `web` version → the digest of its release manifest.
    manifests: Vec<(String, String)>,
}

impl Day2 {
    fn start(test: &str) -> Option<Day2> {
        require_helm(test)?;
        let registry = Registry::start(Variant::Plain, test)?;
        let http = HttpServer::start();
        let dir = tempdir();
        let mut charts = Vec::new();
        let mut tgzs = Vec::new();
        let mut images = Vec::new();
        let mut web_image = image(Kind::OciImage);
        let mut manifests = Vec::new();
        for v in WEB {
            let img = format!("registry.example.test/team/web:v{v}");
            let tgz = chart_tgz("web", v, v, &[&img]);
            let artifact = oci_chart(&tgz, "web", v, false);
            registry.push(&format!("charts.example.test/team/web:{v}"), &artifact);
            charts.push((v.to_string(), artifact.digest.clone()));
            tgzs.push((v.to_string(), sha256(&tgz)));
            let text = release_manifest(&format!("web-{}", v.replace('.', "-")), &[&img]);
            let url = manifest_url(v);
            http.put(url.trim_start_matches("https:/"), text.clone().into_bytes());
            manifests.push((v.to_string(), sha256(text.as_bytes())));
            // each version's image its own (a config and a layer more than the one before)
            web_image = patched(&web_image);
            registry.push(&img, &web_image);
            images.push(web_image.digest.clone());
        }
        let stay_tgz = chart_tgz(
            "stay",
            "2.0.0",
            "2.0.0",
            &["registry.example.test/team/stay:v2"],
        );
        http.put(
            "/charts.example.test/stable/index.yaml",
            index_yaml(&[("stay", "2.0.0", "stay-2.0.0.tgz", Some(&sha256(&stay_tgz)))]),
        );
        http.put(
            "/charts.example.test/stable/stay-2.0.0.tgz",
            stay_tgz.clone(),
        );
        let stay_manifest = release_manifest("stay", &["registry.example.test/team/stay:v2"]);
        http.put(
            "/downloads.example.test/stay/v2.0.0/stay.yaml",
            stay_manifest.clone().into_bytes(),
        );
        for i in [
            "registry.example.test/team/stay:v2",
            "registry.example.test/kube/apiserver:v1.30.0",
        ] {
            registry.push(i, &image(Kind::OciImage));
        }
        let catalog = dir.join("catalog");
        std::fs::create_dir_all(catalog.join("components")).unwrap();
        std::fs::create_dir_all(catalog.join("profiles")).unwrap();
        std::fs::write(
            catalog.join("catalog.yaml"),
            "apiVersion: bundle/v1\nkind: Catalog\n# Synthetic fixture: names, versions and URLs are made up.\n\
             capabilities:\n  - name: workload\n    description: Synthetic workload capability\n",
        )
        .unwrap();
        std::fs::write(
            catalog.join("profiles/default.yaml"),
            "apiVersion: bundle/v1\nkind: Platform\nkubernetes: \"*\"\nwith: [web, stay]\nwithout: []\n",
        )
        .unwrap();
        for (name, text) in [
            ("kubernetes", KUBERNETES.to_string()),
            ("web", web_component()),
            ("stay", STAY.to_string()),
        ] {
            std::fs::write(catalog.join(format!("components/{name}.yaml")), text).unwrap();
        }
        let plan = dir.join("plan");
        std::fs::create_dir_all(&plan).unwrap();
        let d = Day2 {
            registry,
            http,
            plan,
            charts,
            tgz: tgzs,
            images,
            stay: sha256(&stay_tgz),
            stay_manifest: sha256(stay_manifest.as_bytes()),
            manifests,
            dir,
        };
        for (i, v) in WEB.iter().enumerate() {
            let out = d.plan.join(format!("0{}-web-{v}.lock", i + 1));
            let with = format!("web@={v}");
            let out_s = out.display().to_string();
            let r = d.run("solve", &["--with", &with, "--with", "stay", "-o", &out_s]);
            assert_eq!(r.code, 0, "solve web {v}: {}", r.stderr);
        }
        Some(d)
    }

    /// `bundle --catalog CATALOG COMMAND [mirrors and cache for export] EXTRA…` in the test's directory.
    fn run(&self, command: &str, extra: &[&str]) -> Run {
        let (reg, http) = (&self.registry.host, self.http.url());
        let mut args: Vec<String> = vec![
            "--catalog".into(),
            self.dir.join("catalog").display().to_string(),
            command.into(),
        ];
        if command == "export" {
            args.push("--airgap".into());
            args.extend(crate::artifacts::mirror_flags(reg, &http));
            args.extend([
                "--cache-dir".into(),
                self.dir.join("cache").display().to_string(),
            ]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bundle_env(&self.dir, &args, None, &[])
    }

    fn export(&self, extra: &[&str]) -> Run {
        let r = self.run("export", extra);
        assert_eq!(r.code, 0, "export {extra:?}: {}", r.stderr);
        r
    }

    /// The lock of step `i` (0-based).
    fn step(&self, i: usize) -> String {
        self.plan
            .join(format!("0{}-web-{}.lock", i + 1, WEB[i]))
            .display()
            .to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn inspect(&self, bundle: &str) -> serde_json::Value {
        let r = self.run("inspect", &[bundle, "--format", "json"]);
        assert_eq!(r.code, 0, "inspect {bundle}: {}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    }
}

/// The step lock `name` from the plan layer of the directory bundle at `dir`.
fn step_lock(dir: &Path, name: &str) -> String {
    use std::io::Read as _;
    let blob = |digest: &str| {
        std::fs::read(
            dir.join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let platform = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["artifactType"] == "application/vnd.bundle.platform.v1")
        .expect("the platform artifact");
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(platform["digest"].as_str().unwrap())).unwrap();
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.bundle.plan.v1.tar")
        .expect("the plan layer");
    let tar_bytes = blob(layer["digest"].as_str().unwrap());
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().display().to_string() == name {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return text;
        }
    }
    panic!("{name} is not in the plan layer")
}

/// Every file under `dir` (recursively), concatenated.
fn read_all(dir: &Path) -> std::io::Result<String> {
    let mut out = String::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.push_str(&read_all(&p)?);
        } else {
            out.push_str(&std::fs::read_to_string(&p)?);
        }
    }
    Ok(out)
}

/// `(name, digest)` of every chart and release manifests artifact `inspect` lists.
fn artifacts(inspection: &serde_json::Value) -> BTreeSet<(String, String)> {
    inspection["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_plan_bundle_carries_every_steps_charts_and_manifests() {
    let test = "a_plan_bundle_carries_every_steps_charts_and_manifests";
    let Some(d) = Day2::start(test) else {
        return;
    };
    let plan = d.plan.display().to_string();
    let r = d.export(&["--plan", &plan, "-o", "plan.tar"]);
    // messages about the exported lock name the plan, not `--lock`'s default
    assert!(
        r.stderr
            .contains(&format!("in the plan {plan} and were pinned")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("bundle.lock"), "{}", r.stderr);
    let r = d.run("verify", &["plan.tar"]);
    assert_eq!(r.code, 0, "verify: {}{}", r.stdout, r.stderr);
    let ins = d.inspect("plan.tar");
    let listed = artifacts(&ins);
    let blobs = blobs_in(&d.path("plan.tar"));
    for (v, digest) in &d.charts {
        let name = format!("charts.example.test/team/web:{v}");
        assert!(
            listed.contains(&(name.clone(), digest.clone())),
            "step chart {name} at {digest}: {listed:?}"
        );
        assert!(blobs.contains(digest), "{name}'s manifest in the tar");
    }
    for (v, digest) in &d.manifests {
        assert!(
            listed
                .iter()
                .any(|(n, _)| n == &format!("bundle.dev/manifests/web:{v}")),
            "web {v}'s release manifests: {listed:?}"
        );
        assert!(
            blobs.contains(digest),
            "web {v}'s release manifest in the tar"
        );
    }
    // the unchanged chart and manifest once: 3 web charts, 3 web release manifests artifacts, 1 stay
    // chart, 1 stay release manifests artifact
    assert_eq!(listed.len(), 8, "{listed:?}");
    assert!(blobs.contains(&d.stay_manifest));
    let stay: Vec<_> = ins["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "charts.example.test/stable/stay:2.0.0")
        .collect();
    assert_eq!(stay.len(), 1);
    assert_eq!(stay[0]["files"][0]["digest"], d.stay.as_str());

    // inspect says, per step, what its lock needs and that the bundle holds it
    let steps = ins["steps"].as_array().expect("a plan bundle's steps");
    assert_eq!(steps.len(), 3);
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step["name"], format!("0{}-web-{}.lock", i + 1, WEB[i]));
        let needs = step["needs"].as_array().unwrap();
        assert_eq!(
            needs.len(),
            4,
            "web and stay: a chart and a manifest each: {step}"
        );
        assert!(needs.iter().all(|n| n["present"] == true), "{step}");
        assert!(needs.iter().any(|n| n["digest"] == d.charts[i].1.as_str()));
        assert!(
            needs
                .iter()
                .any(|n| n["digest"] == d.manifests[i].1.as_str())
        );
    }
    let table = d.run("inspect", &["plan.tar"]);
    assert!(
        table.stdout.contains(
            "step 01-web-1.0.0.lock: kubernetes 1.30.0, 2 chart(s), 2 release manifest(s), all in the bundle"
        ),
        "{}",
        table.stdout
    );

    // The far side renders an intermediate step from the bundle alone: its lock from plan.tar, its
    // charts and manifests from the bundle's blobs (a content store, as the cache is).
    d.export(&["--plan", &plan, "-o", "plan.d"]);
    let step = step_lock(&d.path("plan.d"), "02-web-1.1.0.lock");
    std::fs::write(d.path("step-2.lock"), &step).unwrap();
    let r = d.run(
        "render",
        &[
            "--lock",
            "step-2.lock",
            "--cache-dir",
            "plan.d",
            "-o",
            "step-2",
        ],
    );
    assert_eq!(r.code, 0, "render step 2 from the bundle: {}", r.stderr);
    let rendered = read_all(&d.path("step-2")).unwrap();
    assert!(
        rendered.contains(&format!("registry.example.test/team/web@{}", d.images[1]))
            && !rendered.contains(&d.images[0]),
        "step 2's web image, pinned: {rendered}"
    );

    // verify names the step whose chart the bundle lacks
    let index_path = d.path("plan.d/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"].as_array_mut().unwrap().retain(|e| {
        e["annotations"]["dev.bundle.ref.name"] != "charts.example.test/team/web:1.0.0"
    });
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let r = d.run("verify", &["plan.d"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains("plan step 01-web-1.0.0.lock") && out.contains(&d.charts[0].1),
        "{out}"
    );

    // A far-side registry gets every step's chart (skopeo reads it back by tag).
    let Some(far) = Registry::start(Variant::Plain, test) else {
        return;
    };
    let to = format!("{}/platform", far.host);
    let r = d.run(
        "mirror",
        &["plan.tar", "--to", &to, "--insecure-registry", &far.host],
    );
    assert_eq!(r.code, 0, "mirror: {}{}", r.stdout, r.stderr);
    for (v, digest) in &d.charts {
        if let Some(got) = far.skopeo_digest(&format!("platform/charts.example.test/team/web:{v}"))
        {
            assert_eq!(&got, digest, "web chart {v} on the far side");
        }
    }
}

#[test]
fn a_delta_over_a_base_lock_leaves_out_what_the_delta_over_its_bundle_does() {
    let test = "a_delta_over_a_base_lock_leaves_out_what_the_delta_over_its_bundle_does";
    let Some(d) = Day2::start(test) else {
        return;
    };
    let (old, new) = (d.step(0), d.step(1));
    d.export(&["--lock", &old, "-o", "base.tar"]);
    d.export(&["--lock", &new, "--since", "base.tar", "-o", "by-bundle.tar"]);
    d.export(&["--lock", &new, "--since", &old, "-o", "by-lock.tar"]);
    let base = blobs_in(&d.path("base.tar"));
    let by_bundle = blobs_in(&d.path("by-bundle.tar"));
    let by_lock = blobs_in(&d.path("by-lock.tar"));
    assert_eq!(
        by_lock, by_bundle,
        "the same blobs travel, whichever way the base is named"
    );
    // the unchanged classic chart is left to the base; the changed chart and manifest travel
    assert!(base.contains(&d.stay) && !by_lock.contains(&d.stay));
    assert!(base.contains(&d.stay_manifest) && !by_lock.contains(&d.stay_manifest));
    assert!(by_lock.contains(&d.tgz[1].1), "web 1.1.0's chart layer");
    assert!(
        by_lock.contains(&d.manifests[1].1),
        "web 1.1.0's release manifest"
    );
    assert!(!base.contains(&d.tgz[1].1));
    // the delta over the lock names the lock the base bundle carries
    let r = d.run("verify", &["by-lock.tar", "--base", "base.tar"]);
    assert_eq!(r.code, 0, "verify --base: {}{}", r.stdout, r.stderr);
    // every chart the new step needs is listed (the unchanged one too: its manifest travels)
    let listed = artifacts(&d.inspect("by-lock.tar"));
    assert!(listed.contains(&(
        "charts.example.test/team/web:1.1.0".to_string(),
        d.charts[1].1.clone()
    )));
    assert!(
        listed
            .iter()
            .any(|(n, _)| n == "charts.example.test/stable/stay:2.0.0")
    );
    // the base then the delta mirror whole: skopeo reads both charts on the far side
    let Some(far) = Registry::start(Variant::Plain, test) else {
        return;
    };
    let to = format!("{}/site", far.host);
    for b in ["base.tar", "by-lock.tar"] {
        let r = d.run(
            "mirror",
            &[b, "--to", &to, "--insecure-registry", &far.host],
        );
        assert_eq!(r.code, 0, "mirror {b}: {}{}", r.stdout, r.stderr);
    }
    // skopeo_digest fails the test when the registry does not serve it (None: no skopeo here)
    if let Some(got) = far.skopeo_digest("site/charts.example.test/team/web:1.1.0") {
        assert_eq!(got, d.charts[1].1);
    }
    far.skopeo_digest("site/charts.example.test/stable/stay:2.0.0");
    far.skopeo_digest("site/bundle.dev/manifests/stay:2.0.0");
}
