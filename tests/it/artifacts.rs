//! Upstream's charts and release manifests through pin, export, verify, inspect and mirror (issue 11),
//! against real peers on 127.0.0.1: a registry process serving OCI charts (one pushed by `helm push`,
//! one signed, its provenance layer first) and images, and an HTTP server of the harness serving a
//! classic chart repository (`index.yaml`, `.tgz`) and release manifests. Charts are made and packaged
//! by the real `helm`; `helm pull` reads the mirror at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bundle::lock::Lock;

use crate::support::charts::{
    AppChart, helm, helm_pull, index_yaml, oci_chart, release_manifest, require_helm,
};
use crate::support::http::HttpServer;
use crate::support::{Kind, Registry, Run, TempDir, Variant, bundle_env, image, sha256, tempdir};

const CATALOG_YAML: &str = "apiVersion: bundle/v1
kind: Catalog
# Synthetic fixture for the chart and manifest tests: names, versions and URLs are made up, not upstream
# facts. Images live under registry.example.test, OCI charts under charts.example.test, the classic
# repository at https://charts.example.test/stable and release manifests at https://downloads.example.test;
# the tests reach them through --registry-mirror and --url-mirror.
capabilities:
  - name: workload
    description: Synthetic workload capability
";

/// A Kubernetes component without artifacts, for the synthetic catalogs of the artifact tests
/// (also tests/it/export_plan.rs).
pub(crate) const KUBERNETES: &str = "apiVersion: bundle/v1
kind: Component
name: kubernetes
description: Synthetic orchestrator (not upstream data)
homepage: https://example.test/kubernetes
provides: []
versions:
  - version: 1.30.0
    noArtifacts:
      text: installed by the harness, not by charts
      source: https://example.test/kubernetes
    images:
      - reference: registry.example.test/kube/apiserver:v1.30.0
";

/// The release manifest of `web`.
const WEB_MANIFEST: &str = "https://downloads.example.test/web/v1.4.0/web-crds.yaml";

/// The release manifest of `classic` with the catalog publishing its sha256.
const PUBLISHED: &str = "https://downloads.example.test/classic/v3.1.0/classic.yaml";

/// One component file: `charts` and `manifests` as YAML list items (already indented), `images`.
fn component(name: &str, version: &str, charts: &str, manifests: &str, images: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: bundle/v1
kind: Component
name: {name}
description: Synthetic {name}
homepage: https://example.test/{name}
provides: [workload]
versions:
  - version: {version}
    requires:
      - name: kubernetes
        range: \">=1.30.0\"
        source: https://example.test/{name}/compat
"
    );
    if !charts.is_empty() {
        s.push_str("    charts:\n");
        s.push_str(charts);
    }
    if !manifests.is_empty() {
        s.push_str("    manifests:\n");
        s.push_str(manifests);
    }
    s.push_str("    images:\n");
    for i in images {
        s.push_str(&format!("      - reference: {i}\n"));
    }
    s
}

fn chart_item(repository: &str, name: &str, version: &str) -> String {
    format!(
        "      - repository: {repository}\n        name: {name}\n        version: {version}\n        \
         appVersion: {version}\n        source: https://example.test/{name}/Chart.yaml\n"
    )
}

fn manifest_item(url: &str, sha256: Option<&str>) -> String {
    let mut s = format!("      - url: {url}\n        source: https://example.test/releases\n");
    if let Some(d) = sha256 {
        s.push_str(&format!(
            "        sha256: {}\n",
            d.trim_start_matches("sha256:")
        ));
    }
    s
}

/// Pushes a cosign signature (tag scheme) of chart `REPOSITORY:VERSION`; returns it and its tag.
fn sign_chart(up: &Upstream, repository: &str, version: &str) -> (crate::support::Image, String) {
    use crate::support::referrers::{
        SIGNATURE_ANNOTATION, SIMPLE_SIGNING, cosign_manifest, simple_signing_payload, tag_of,
    };
    let digest = &up.pushed[&format!("{repository}:{version}")];
    let payload = simple_signing_payload(repository, digest);
    let annotations = serde_json::json!({ SIGNATURE_ANNOTATION: "MEUCIQDplaceholder" });
    let sig = cosign_manifest(&[(SIMPLE_SIGNING, payload, annotations)]);
    let tag = tag_of(digest, Some("sig"));
    up.registry.push(&format!("{repository}:{tag}"), &sig);
    (sig, tag)
}

/// The upstream side of every test: a registry and an HTTP server holding what the catalog names,
/// the catalog, a solved lock and a cache directory.
pub(crate) struct Upstream {
    pub(crate) registry: Registry,
    http: HttpServer,
    helm: PathBuf,
    /// Where `bundle` runs (holds `bundle.lock`), the catalog and the cache.
    pub(crate) dir: TempDir,
    /// `REPOSITORY:TAG` → digest of what was pushed.
    pushed: BTreeMap<String, String>,
    /// The packaged charts, by name.
    tgz: BTreeMap<String, Vec<u8>>,
    /// The release manifests, by URL.
    manifests: BTreeMap<String, Vec<u8>>,
}

impl Upstream {
    /// Publishes everything and solves the lock; `None` when a tool is missing (a failure under CI).
    pub(crate) fn start(test: &str) -> Option<Upstream> {
        let helm_path = require_helm(test)?;
        let registry = Registry::start(Variant::Plain, test)?;
        let http = HttpServer::start();
        let dir = tempdir();
        let work = dir.join("charts");
        let mut up = Upstream {
            registry,
            http,
            helm: helm_path,
            dir,
            pushed: BTreeMap::new(),
            tgz: BTreeMap::new(),
            manifests: BTreeMap::new(),
        };

        // web: an OCI chart pushed by `helm push`, with a sub-chart, a CRD, a test pod; a release manifest.
        let web = AppChart {
            name: "web",
            version: "1.4.0",
            app_version: "1.4.0",
            images: &[
                ("init", "registry.example.test/team/web-init:v1.4.0"),
                ("main", "registry.example.test/team/web:v1.4.0"),
            ],
            sub: Some(("cache", "7.0.0", "registry.example.test/team/cache:v7")),
            test_image: Some("registry.example.test/team/busybox:1.36"),
            custom_resource_image: Some("registry.example.test/team/widget:v1"),
            extra_values: "",
        }
        .package(&up.helm, &work);
        let target = format!("oci://{}/charts.example.test/team", up.registry.host);
        helm(
            &up.helm,
            &["push", web.to_str().unwrap(), &target, "--plain-http"],
        );
        up.tgz.insert("web".into(), std::fs::read(&web).unwrap());
        let web_manifest = release_manifest("web", &["registry.example.test/team/web:v1.4.0"]);
        up.serve_manifest(
            "https://downloads.example.test/web/v1.4.0/web-crds.yaml",
            web_manifest,
        );

        // signed: an OCI chart whose provenance layer comes first.
        let signed = AppChart {
            name: "signed",
            version: "2.0.0",
            app_version: "2.0.0",
            images: &[("main", "registry.example.test/team/signed:v2")],
            sub: None,
            test_image: None,
            custom_resource_image: None,
            extra_values: "",
        }
        .package(&up.helm, &work);
        let bytes = std::fs::read(&signed).unwrap();
        let artifact = oci_chart(&bytes, "signed", "2.0.0", true);
        up.registry
            .push("charts.example.test/team/signed:2.0.0", &artifact);
        up.pushed.insert(
            "charts.example.test/team/signed:2.0.0".into(),
            artifact.digest.clone(),
        );
        up.tgz.insert("signed".into(), bytes);

        // classic: a chart in a classic repository (index.yaml with its digest); two release
        // manifests, one with a checksum the catalog publishes.
        let classic = up.package_classic("");
        up.publish_classic(&classic, true);
        up.serve_manifest(
            PUBLISHED,
            release_manifest("classic", &["registry.example.test/team/classic:v3"]),
        );
        up.serve_manifest(
            "https://downloads.example.test/classic/v3.1.0/extras.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: classic-extras\ndata:\n  a: b\n"
                .into(),
        );

        let published = sha256(&up.manifests[PUBLISHED]);
        up.write_catalog(Some(&published));
        for reference in [
            "registry.example.test/kube/apiserver:v1.30.0",
            "registry.example.test/team/web:v1.4.0",
            "registry.example.test/team/web-init:v1.4.0",
            "registry.example.test/team/cache:v7",
            "registry.example.test/team/widget:v1",
            "registry.example.test/team/signed:v2",
            "registry.example.test/team/classic:v3",
        ] {
            up.registry.push(reference, &image(Kind::OciImage));
        }
        let r = up.run("solve", &[]);
        assert_eq!(r.code, 0, "solve: {}", r.stderr);
        Some(up)
    }

    fn package_classic(&self, extra_values: &str) -> Vec<u8> {
        let path = AppChart {
            name: "classic",
            version: "3.1.0",
            app_version: "3.1.0",
            images: &[("main", "registry.example.test/team/classic:v3")],
            sub: None,
            test_image: None,
            custom_resource_image: None,
            extra_values,
        }
        .package(&self.helm, &self.dir.join("charts"));
        std::fs::read(path).unwrap()
    }

    /// Serves `tgz` as classic 3.1.0 in the classic repository, listed with its digest or not.
    fn publish_classic(&mut self, tgz: &[u8], with_digest: bool) {
        let digest = sha256(tgz);
        let index = index_yaml(&[
            (
                "classic",
                "3.1.0",
                "classic-3.1.0.tgz",
                with_digest.then_some(digest.as_str()),
            ),
            ("classic", "3.0.0", "classic-3.0.0.tgz", None),
        ]);
        self.http
            .put("/charts.example.test/stable/index.yaml", index);
        self.http.put(
            "/charts.example.test/stable/classic-3.1.0.tgz",
            tgz.to_vec(),
        );
        self.tgz.insert("classic".into(), tgz.to_vec());
    }

    fn serve_manifest(&mut self, url: &str, text: String) {
        let path = url.trim_start_matches("https:/");
        self.http.put(path, text.clone().into_bytes());
        self.manifests.insert(url.to_string(), text.into_bytes());
    }

    /// The catalog, `classic`'s first manifest with `published` as its sha256.
    fn write_catalog(&self, published: Option<&str>) {
        let catalog = self.dir.join("catalog");
        std::fs::create_dir_all(catalog.join("components")).unwrap();
        std::fs::create_dir_all(catalog.join("profiles")).unwrap();
        std::fs::write(catalog.join("catalog.yaml"), CATALOG_YAML).unwrap();
        std::fs::write(
            catalog.join("profiles/default.yaml"),
            "apiVersion: bundle/v1\nkind: Platform\nkubernetes: \"*\"\nwith: [web, signed, classic]\nwithout: []\n",
        )
        .unwrap();
        let files = [
            ("kubernetes", KUBERNETES.to_string()),
            (
                "web",
                component(
                    "web",
                    "1.4.0",
                    &chart_item("oci://charts.example.test/team", "web", "1.4.0"),
                    &manifest_item(
                        "https://downloads.example.test/web/v1.4.0/web-crds.yaml",
                        None,
                    ),
                    &[
                        "registry.example.test/team/web:v1.4.0",
                        "registry.example.test/team/web-init:v1.4.0",
                        "registry.example.test/team/cache:v7",
                        "registry.example.test/team/widget:v1",
                    ],
                ),
            ),
            (
                "signed",
                component(
                    "signed",
                    "2.0.0",
                    &chart_item("oci://charts.example.test/team", "signed", "2.0.0"),
                    "",
                    &["registry.example.test/team/signed:v2"],
                ),
            ),
            (
                "classic",
                component(
                    "classic",
                    "3.1.0",
                    &chart_item("https://charts.example.test/stable", "classic", "3.1.0"),
                    &format!(
                        "{}{}",
                        manifest_item(PUBLISHED, published),
                        manifest_item(
                            "https://downloads.example.test/classic/v3.1.0/extras.yaml",
                            None
                        )
                    ),
                    &["registry.example.test/team/classic:v3"],
                ),
            ),
        ];
        for (name, text) in files {
            std::fs::write(catalog.join(format!("components/{name}.yaml")), text).unwrap();
        }
    }

    pub(crate) fn catalog(&self) -> String {
        self.dir.join("catalog").display().to_string()
    }

    pub(crate) fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// The mirror flags: images and OCI charts at the registry, URLs at the HTTP server.
    pub(crate) fn mirrors(&self) -> Vec<String> {
        mirror_flags(&self.registry.host, &self.http.url())
    }

    /// `bundle --catalog CATALOG COMMAND [mirrors and cache for pin/export] EXTRA…` in the world's
    /// directory.
    pub(crate) fn run(&self, command: &str, extra: &[&str]) -> Run {
        let catalog = self.catalog();
        let mut args: Vec<String> = vec!["--catalog".into(), catalog, command.into()];
        if matches!(command, "pin" | "export") {
            args.extend(self.mirrors());
            args.push("--cache-dir".into());
            args.push(self.cache().display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bundle_env(&self.dir, &args, None, &[])
    }

    fn lock(&self) -> Lock {
        Lock::parse(
            &std::fs::read_to_string(self.dir.join("bundle.lock")).unwrap(),
            "bundle.lock",
        )
        .unwrap()
    }

    pub(crate) fn lock_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("bundle.lock")).unwrap()
    }

    /// The digest the lock holds for chart `name`.
    pub(crate) fn chart_digest(&self, name: &str) -> String {
        self.lock()
            .components
            .iter()
            .flat_map(|c| &c.charts)
            .find(|c| c.chart.name() == name)
            .and_then(|c| c.digest.clone())
            .unwrap_or_else(|| panic!("chart {name} pinned:\n{}", self.lock_text()))
            .to_string()
    }

    /// The digest the lock holds for the manifest at `url`.
    fn manifest_digest(&self, url: &str) -> String {
        self.lock()
            .components
            .iter()
            .flat_map(|c| &c.manifests)
            .find(|m| m.url == url)
            .and_then(|m| m.digest.clone())
            .unwrap_or_else(|| panic!("manifest {url} pinned:\n{}", self.lock_text()))
            .to_string()
    }

    pub(crate) fn in_cache(&self, digest: &str) -> bool {
        blob(&self.cache(), digest).is_file()
    }
}

fn blob(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

#[test]
fn pin_fetches_charts_and_manifests_through_both_mirrors_into_the_cache() {
    let Some(up) =
        Upstream::start("pin_fetches_charts_and_manifests_through_both_mirrors_into_the_cache")
    else {
        return;
    };
    let solved = up.lock();
    let classic = solved
        .components
        .iter()
        .find(|c| c.name == "classic")
        .unwrap();
    assert_eq!(
        classic.charts.len(),
        1,
        "the lock names the catalog's chart"
    );
    assert_eq!(
        classic.manifests[0].digest.as_ref().map(|d| d.to_string()),
        Some(sha256(&up.manifests[PUBLISHED])),
        "a published checksum is the lock's digest from the start"
    );
    assert!(classic.manifests[1].digest.is_none());

    let r = up.run("pin", &[]);
    assert_eq!(r.code, 0, "pin: {}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("3 charts, 3 manifests"), "{}", r.stderr);
    // OCI charts: the manifest digest the registry serves (pushed by helm, and by hand).
    let web = up.chart_digest("web");
    if let Some(served) = up
        .registry
        .skopeo_digest("charts.example.test/team/web:1.4.0")
    {
        assert_eq!(web, served, "the OCI chart's digest is its manifest's");
    }
    assert_eq!(
        up.chart_digest("signed"),
        up.pushed["charts.example.test/team/signed:2.0.0"]
    );
    // The classic chart: the sha256 of its .tgz; release manifests: of their bytes.
    assert_eq!(up.chart_digest("classic"), sha256(&up.tgz["classic"]));
    for (url, bytes) in &up.manifests {
        assert_eq!(up.manifest_digest(url), sha256(bytes), "{url}");
    }
    // Everything is in the cache, by digest: the classic .tgz, the manifests, each OCI chart's
    // manifest, config and layers (the chart layer taken by media type even behind a provenance layer).
    assert!(up.in_cache(&up.chart_digest("classic")));
    for url in up.manifests.keys() {
        assert!(up.in_cache(&up.manifest_digest(url)), "{url}");
    }
    for name in ["web", "signed"] {
        assert!(up.in_cache(&up.chart_digest(name)), "{name}'s manifest");
        assert!(up.in_cache(&sha256(&up.tgz[name])), "{name}'s chart layer");
    }
    // Fetched through the mirrors: the HTTP server saw the index, the .tgz and the manifests.
    assert_eq!(up.http.served("/charts.example.test/stable/index.yaml"), 1);
    assert_eq!(
        up.http
            .served("/charts.example.test/stable/classic-3.1.0.tgz"),
        1
    );

    // The cache is reused: a second pin fetches no .tgz (the index publishes its digest) and
    // changes nothing; export fetches nothing over HTTP at all.
    up.http.clear();
    let before = up.lock_text();
    let r = up.run("pin", &[]);
    assert_eq!(r.code, 0, "second pin: {}", r.stderr);
    assert!(r.stderr.contains("already pinned"), "{}", r.stderr);
    assert_eq!(up.lock_text(), before);
    assert_eq!(
        up.http
            .served("/charts.example.test/stable/classic-3.1.0.tgz"),
        0
    );
    up.http.clear();
    let r = up.run("export", &["--airgap", "-o", "bundle-dir"]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    assert!(
        up.http.requests().is_empty(),
        "export reads charts and manifests from the cache: {:?}",
        up.http.requests()
    );
}

#[test]
fn changed_charts_and_manifests_are_refused_like_a_moved_tag() {
    let Some(mut up) = Upstream::start("changed_charts_and_manifests_are_refused_like_a_moved_tag")
    else {
        return;
    };
    let r = up.run("pin", &[]);
    assert_eq!(r.code, 0, "pin: {}", r.stderr);
    let pinned = up.lock_text();

    // Upstream re-publishes classic 3.1.0 with other content (its index updated to match), moves the
    // signed chart's tag, and edits a release manifest in place.
    let other = up.package_classic("extra: 1\n");
    assert_ne!(sha256(&other), up.chart_digest("classic"));
    up.publish_classic(&other, true);
    let moved = oci_chart(&up.tgz["web"], "signed", "2.0.0", true);
    up.registry
        .push("charts.example.test/team/signed:2.0.0", &moved);
    let extras = "https://downloads.example.test/classic/v3.1.0/extras.yaml";
    up.serve_manifest(extras, "# edited\n".to_string());

    for check in [false, true] {
        let r = if check {
            up.run("pin", &["--check"])
        } else {
            up.run("pin", &[])
        };
        assert_eq!(r.code, 1, "check={check}: {}", r.stderr);
        for (what, new) in [
            ("chart classic 3.1.0", sha256(&other)),
            ("chart signed 2.0.0", moved.digest.clone()),
            (&format!("manifest {extras}")[..], sha256(b"# edited\n")),
        ] {
            let line = r
                .stderr
                .lines()
                .find(|l| l.contains(what))
                .unwrap_or_else(|| panic!("{what} reported: {}", r.stderr));
            assert!(
                line.contains("the lock has") && line.contains(&new),
                "{what}: {line}"
            );
        }
        assert!(
            r.stderr.contains("tag moved or mirror tampered"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("re-published the chart"), "{}", r.stderr);
        assert_eq!(up.lock_text(), pinned, "the lock is left as it was");
    }

    // A classic .tgz that does not hash to the digest its repository's index publishes is refused
    // (here with no digest in the lock: pinned afresh).
    let classic_digest = format!("        digest: {}\n", up.chart_digest("classic"));
    std::fs::write(
        up.dir.join("bundle.lock"),
        pinned.replace(&classic_digest, ""),
    )
    .unwrap();
    let index = index_yaml(&[(
        "classic",
        "3.1.0",
        "classic-3.1.0.tgz",
        Some(&sha256(b"something else")),
    )]);
    up.http.put("/charts.example.test/stable/index.yaml", index);
    let r = up.run("pin", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("the repository index publishes sha256")
            && r.stderr.contains(&sha256(&other)),
        "{}",
        r.stderr
    );
}

#[test]
fn a_manifest_whose_published_checksum_does_not_match_is_refused() {
    let Some(mut up) =
        Upstream::start("a_manifest_whose_published_checksum_does_not_match_is_refused")
    else {
        return;
    };
    // The mirror serves another file under the URL whose sha256 upstream publishes (and the
    // catalog records): nothing is written, nothing exported.
    up.serve_manifest(PUBLISHED, "# not upstream's file\n".to_string());
    let before = up.lock_text();
    let r = up.run("pin", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("manifest {PUBLISHED}"))
            && r.stderr.contains("upstream's published checksum"),
        "{}",
        r.stderr
    );
    assert_eq!(up.lock_text(), before);
    let r = up.run("export", &["--airgap", "-o", "out"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(PUBLISHED) && r.stderr.contains("hashes to"),
        "{}",
        r.stderr
    );
    assert!(!up.dir.join("out/index.json").exists());
}

#[test]
fn export_verify_inspect_mirror_then_helm_pull_from_the_mirror() {
    let test = "export_verify_inspect_mirror_then_helm_pull_from_the_mirror";
    let Some(up) = Upstream::start(test) else {
        return;
    };
    let Some(far) = Registry::start(Variant::Plain, test) else {
        return;
    };
    let r = up.run("pin", &[]);
    assert_eq!(r.code, 0, "pin: {}", r.stderr);
    // The signed chart's cosign signature travels with it (issue 18).
    let (sig, sig_tag) = sign_chart(&up, "charts.example.test/team/signed", "2.0.0");
    let r = up.run("export", &["--airgap", "-o", "platform.tar"]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    assert!(
        r.stderr.contains("3 charts, 3 release manifests"),
        "{}",
        r.stderr
    );
    let r = up.run("verify", &["platform.tar"]);
    assert_eq!(r.code, 0, "verify: {}{}", r.stdout, r.stderr);

    // inspect lists the charts and every release manifest, per component, with sizes.
    let r = up.run("inspect", &["platform.tar", "--format", "json"]);
    assert_eq!(r.code, 0, "inspect: {}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["formatVersion"], "4");
    let artifacts = v["artifacts"].as_array().unwrap();
    let names: Vec<(&str, &str)> = artifacts
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("release manifests", "bundle.dev/manifests/classic:3.1.0"),
            ("chart", "charts.example.test/stable/classic:3.1.0"),
            ("chart", "charts.example.test/team/signed:2.0.0"),
            ("release manifests", "bundle.dev/manifests/web:1.4.0"),
            ("chart", "charts.example.test/team/web:1.4.0"),
        ],
        "per component, then by name"
    );
    let referrers = v["referrers"].as_array().unwrap();
    assert!(
        referrers
            .iter()
            .any(|x| x["image"] == "charts.example.test/team/signed:2.0.0"
                && x["digest"] == sig.digest.as_str()),
        "{referrers:?}"
    );
    let classic_chart = &artifacts[1];
    assert_eq!(classic_chart["components"][0], "classic");
    assert_eq!(
        classic_chart["repository"],
        "https://charts.example.test/stable"
    );
    assert_eq!(
        classic_chart["files"][0]["digest"].as_str().unwrap(),
        up.chart_digest("classic"),
        "a classic chart's .tgz is its chart layer, byte for byte"
    );
    let files = artifacts[0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for f in files {
        let url = f["url"].as_str().unwrap();
        assert_eq!(f["digest"].as_str().unwrap(), up.manifest_digest(url));
        assert_eq!(f["bytes"].as_u64().unwrap(), up.manifests[url].len() as u64);
    }
    assert_eq!(
        artifacts[4]["digest"].as_str().unwrap(),
        up.chart_digest("web"),
        "an OCI chart keeps its digest"
    );
    let table = up.run("inspect", &["platform.tar"]);
    assert!(
        table.stdout.contains("KIND") && table.stdout.contains(PUBLISHED),
        "{}",
        table.stdout
    );

    // A real containerd imports the bundle: charts and manifests are not taken for images.
    if let Some(containerd) = crate::support::containerd::Containerd::start(test) {
        containerd.import(&up.dir.join("platform.tar"));
        let names: Vec<String> = containerd.images().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names.len(),
            7,
            "the seven images and nothing else: {names:?}"
        );
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("registry.example.test/")),
            "{names:?}"
        );
    }

    // Wrapping a classic chart is deterministic: another export gives the same entry.
    let r = up.run("export", &["--airgap", "-o", "again"]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let again = up.run("inspect", &["again", "--format", "json"]);
    let w: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(w["artifacts"], v["artifacts"]);

    // mirror pushes charts and manifests with the images; helm pulls each chart from the mirror.
    let catalog = up.catalog();
    let r = bundle_env(
        &up.dir,
        &[
            "--catalog",
            &catalog,
            "mirror",
            "platform.tar",
            "--to",
            &format!("{}/platform", far.host),
            "--insecure-registry",
            &far.host,
            "--format",
            "json",
        ],
        None,
        &[],
    );
    assert_eq!(r.code, 0, "mirror: {}{}", r.stdout, r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (
            summary["charts"].as_u64(),
            summary["release_manifests"].as_u64()
        ),
        (Some(3), Some(2))
    );
    let pulled = up.dir.join("pulled");
    for (repository, version, name) in [
        ("platform/charts.example.test/team/web", "1.4.0", "web"),
        (
            "platform/charts.example.test/team/signed",
            "2.0.0",
            "signed",
        ),
        (
            "platform/charts.example.test/stable/classic",
            "3.1.0",
            "classic",
        ),
    ] {
        let tgz = helm_pull(&up.helm, &far.host, repository, version, &pulled);
        assert_eq!(
            tgz, up.tgz[name],
            "helm pull {repository} gives upstream's chart"
        );
        if let Some(d) = far.skopeo_digest(&format!("{repository}:{version}")) {
            let expected = if name == "classic" {
                artifacts[1]["digest"].as_str().unwrap().to_string()
            } else {
                up.chart_digest(name)
            };
            assert_eq!(
                d, expected,
                "{repository}: the mirror serves the bundle's manifest"
            );
        }
    }
    let at = format!("platform/charts.example.test/team/signed:{sig_tag}");
    if let Some(d) = far.skopeo_digest(&at) {
        assert_eq!(
            d, sig.digest,
            "the chart's signature is next to it at the mirror"
        );
    }
    if let Some(d) = far.skopeo_digest("platform/bundle.dev/manifests/classic:3.1.0") {
        assert_eq!(d, artifacts[0]["digest"].as_str().unwrap());
    }
}

#[test]
fn a_version_1_lock_is_read_and_upgraded_by_pin() {
    let Some(up) = Upstream::start("a_version_1_lock_is_read_and_upgraded_by_pin") else {
        return;
    };
    // A lock as a release before charts wrote it: version 1, images only (digest of one image kept).
    let v2 = up.lock_text();
    let mut v1 = String::new();
    let mut skipping = false;
    for line in v2.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with("charts:") || line.trim_start().starts_with("manifests:") {
            skipping = true;
            continue;
        }
        if skipping && indent > 4 {
            continue;
        }
        skipping = false;
        v1.push_str(if line == "version: 2" {
            "version: 1"
        } else {
            line
        });
        v1.push('\n');
    }
    assert!(
        v1.contains("\nversion: 1\n") && !v1.contains("charts:"),
        "{v1}"
    );
    std::fs::write(up.dir.join("bundle.lock"), &v1).unwrap();

    // Commands that only read it read it as version 2 without artifacts.
    let r = up.run("pin", &["--check"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(up.lock_text(), v1, "pin --check writes nothing");

    let r = up.run("pin", &[]);
    assert_eq!(r.code, 0, "pin: {}", r.stderr);
    assert!(
        r.stderr
            .contains("charts and manifests from the catalog for classic, signed, web"),
        "{}",
        r.stderr
    );
    let text = up.lock_text();
    assert!(text.contains("\nversion: 2\n"), "{text}");
    assert_eq!(up.chart_digest("classic"), sha256(&up.tgz["classic"]));
    assert_eq!(
        up.manifest_digest(PUBLISHED),
        sha256(&up.manifests[PUBLISHED])
    );
    let lock = up.lock();
    let kube = lock
        .components
        .iter()
        .find(|c| c.name == "kubernetes")
        .unwrap();
    assert!(!kube.has_artifacts(), "noArtifacts stays without");
}

#[test]
fn url_mirror_credentials_and_retries() {
    let Some(up) = Upstream::start("url_mirror_credentials_and_retries") else {
        return;
    };
    // The mirror wants credentials: without them, pin says so and names the host.
    up.http.require_basic(Some("robot:s3cret"));
    let r = up.run("pin", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&up.http.host) && r.stderr.contains("--password-stdin"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("s3cret"));
    // With them (sent to mirrored URLs), and through two 503 answers (retried), it pins.
    up.http.fail_next(2, 503);
    let catalog = up.catalog();
    let mut args: Vec<String> = vec!["--catalog".into(), catalog, "pin".into()];
    args.extend(up.mirrors());
    args.extend([
        "--cache-dir".into(),
        up.cache().display().to_string(),
        "--username".into(),
        "robot".into(),
        "--password-stdin".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = bundle_env(&up.dir, &args, Some("s3cret"), &[]);
    assert_eq!(r.code, 0, "pin: {}", r.stderr);
    assert!(!r.stderr.contains("s3cret") && !up.lock_text().contains("s3cret"));
    assert_eq!(up.chart_digest("classic"), sha256(&up.tgz["classic"]));
    let failed = up
        .http
        .requests()
        .iter()
        .filter(|l| l.ends_with(" 503"))
        .count();
    assert_eq!(failed, 2, "{:?}", up.http.requests());
}

/// Takes `image` out of `component`'s list in the catalog and solves again.
fn unlist(up: &Upstream, component: &str, image: &str) {
    let path = up.dir.join(format!("catalog/components/{component}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let line = format!("      - reference: {image}\n");
    assert!(
        text.contains(&line),
        "{image} in {component}'s catalog file"
    );
    std::fs::write(&path, text.replace(&line, "")).unwrap();
    let r = up.run("solve", &[]);
    assert_eq!(r.code, 0, "solve: {}", r.stderr);
}

#[test]
fn images_the_artifacts_use_but_the_catalog_does_not_list_are_errors() {
    let test = "images_the_artifacts_use_but_the_catalog_does_not_list_are_errors";
    let Some(up) = Upstream::start(test) else {
        return;
    };
    // Everything the charts and manifests use is listed (the chart test pod's busybox is not, and
    // need not be: chart tests are skipped).
    let r = up.run("pin", &[]);
    assert_eq!(r.code, 0, "pin: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("checked the images of 3 charts and 3 release manifests against the catalog"),
        "{}",
        r.stderr
    );
    // progress: each chart and manifest as it is pinned, then as its images are checked
    for line in [
        "pinned 6/6 ",
        "images used by 6/6 ",
        "images used by 1/6 charts.example.test/stable/classic:3.1.0",
    ] {
        assert!(r.stderr.contains(line), "{line} in {}", r.stderr);
    }

    // The sub-chart's image and the custom resource's image, missing from web's list: each named
    // with its component, chart, object and field path; the lock is left as it was.
    unlist(&up, "web", "registry.example.test/team/cache:v7");
    unlist(&up, "web", "registry.example.test/team/widget:v1");
    let without = up.lock_text();
    let r = up.run("pin", &["--format", "json"]);
    assert_eq!(r.code, 1, "pin: {}\n{}", r.stdout, r.stderr);
    let chart = "chart web 1.4.0 (oci://charts.example.test/team)";
    for line in [
        format!(
            "error: component web 1.4.0: {chart} uses image registry.example.test/team/cache:v7 that the catalog \
             does not list for it (Deployment cache: spec.template.spec.containers[0].image)"
        ),
        format!(
            "error: component web 1.4.0: {chart} uses image registry.example.test/team/widget:v1 that the catalog \
             does not list for it (Widget default: spec.image)"
        ),
    ] {
        assert!(r.stderr.contains(&line), "{line}\nin\n{}", r.stderr);
    }
    assert!(!r.stderr.contains("busybox"), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let unlisted = v["unlistedImages"].as_array().unwrap();
    assert_eq!(unlisted.len(), 2, "{unlisted:?}");
    assert_eq!(
        unlisted[0]["path"],
        "spec.template.spec.containers[0].image"
    );
    assert_eq!(unlisted[0]["component"], "web 1.4.0");
    assert_eq!(up.lock_text(), without, "the lock is left unchanged");

    // An image only a release manifest uses is found in it, with or without helm; without helm,
    // pin says the charts are not checked.
    up.write_catalog(Some(&sha256(&up.manifests[PUBLISHED])));
    unlist(&up, "web", "registry.example.test/team/web:v1.4.0");
    let no_helm = [("PATH", "/usr/bin:/bin"), ("BUNDLE_HELM", "")];
    let mut args: Vec<String> = vec!["--catalog".into(), up.catalog(), "pin".into()];
    args.extend(up.mirrors());
    args.extend(["--cache-dir".into(), up.cache().display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = bundle_env(&up.dir, &args, None, &no_helm);
    assert_eq!(r.code, 1, "pin: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("note: the images the charts use are not checked against the catalog"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "error: component web 1.4.0: manifest {WEB_MANIFEST} uses image registry.example.test/team/web:v1.4.0"
        )) && r.stderr.contains("(Deployment web: spec.template.spec.containers[0].image)"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("error: component web 1.4.0: chart"),
        "without helm the chart is not rendered: {}",
        r.stderr
    );
}

/// The mirror flags of the synthetic upstream: `registry.example.test` images and
/// `charts.example.test` OCI charts at registry `reg`, chart and download URLs at HTTP server `http`.
pub(crate) fn mirror_flags(reg: &str, http: &str) -> Vec<String> {
    vec![
        "--registry-mirror".into(),
        format!("registry.example.test={reg}/registry.example.test"),
        "--registry-mirror".into(),
        format!("charts.example.test={reg}/charts.example.test"),
        "--insecure-registry".into(),
        reg.to_string(),
        "--url-mirror".into(),
        format!("https://charts.example.test={http}/charts.example.test"),
        "--url-mirror".into(),
        format!("https://downloads.example.test={http}/downloads.example.test"),
    ]
}
