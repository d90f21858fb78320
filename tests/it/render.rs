//! `bundle render`: pinned images, the mirror, determinism, wiring, snapshots, and validation of the
//! rendered platform against the Kubernetes schemas of each minor (`scripts/validate-manifests`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use sha2::{Digest as _, Sha256};

use crate::support::{TempDir, bundle_in, root, tempdir};

const AS_OF: &str = "2026-11-26";

/// Made-up digest for a reference: `sha256:` + the hex sha256 of the reference text.
fn fake_digest(reference: &str) -> String {
    let h = Sha256::digest(reference.as_bytes());
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Adds a made-up digest to every image entry of a lock that has none (test data only).
fn pin_fake(lock: &str) -> String {
    let mut out = String::new();
    let mut lines = lock.lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let has_digest = lines
            .peek()
            .is_some_and(|l| l.trim_start().starts_with("digest:"));
        if let (Some((indent, reference)), false) = (line.split_once("- reference: "), has_digest) {
            out.push_str(&format!(
                "{indent}  digest: {}\n",
                fake_digest(reference.trim())
            ));
        }
    }
    out
}

/// Solves in a fresh directory (`bundle solve --as-of AS_OF --profile default ARGS`), writes `bundle.lock` with
/// made-up image digests and harness charts and manifests (in the cache `store/`, as `bundle pin` leaves
/// it) and returns the directory, or `None` when the request does not solve.
fn solved(args: &[&str]) -> Option<TempDir> {
    let dir = tempdir();
    let mut a = vec![
        "solve",
        "--as-of",
        AS_OF,
        "-o",
        "tags.lock",
        "--profile",
        "default",
    ];
    a.extend_from_slice(args);
    let r = bundle_in(&dir, &a);
    if r.code != 0 {
        return None;
    }
    let text = std::fs::read_to_string(dir.join("tags.lock")).unwrap();
    std::fs::write(dir.join("bundle.lock"), pin_fake(&text)).unwrap();
    // Harness charts and manifests stand in for upstream's, in the cache `dir/store`.
    crate::charts::pin_harness(&dir);
    Some(dir)
}

fn default_platform() -> TempDir {
    solved(&[]).expect("the default platform solves")
}

/// Every file under `dir` (relative path with `/` → text).
pub(crate) fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The values of `image:` lines (not CRD schemas' `image: {type: string}`, nor a Calico ImageSet's
/// image names, which carry no tag or digest).
fn image_lines(files: &BTreeMap<String, String>) -> Vec<String> {
    files
        .values()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            l.trim()
                .trim_start_matches("- ")
                .strip_prefix("image: ")
                .map(str::to_string)
        })
        .filter(|v| !v.starts_with('{') && (v.contains(':') || v.contains('@')))
        .collect()
}

fn render(dir: &Path, args: &[&str]) -> (crate::support::Run, BTreeMap<String, String>) {
    let _ = std::fs::remove_dir_all(dir.join("out"));
    let mut a = vec!["render", "-o", "out", "--cache-dir", "store"];
    a.extend_from_slice(args);
    let r = bundle_in(dir, &a);
    let files = if dir.join("out").is_dir() {
        read_tree(&dir.join("out"))
    } else {
        BTreeMap::new()
    };
    (r, files)
}

/// `"<64 hex>"` → `"[HEX]"`.
fn bare_hex(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        if part.len() == 64 && part.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push_str("[HEX]");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn scrub_digests(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Bare hex digests too (Grafana's chart takes `sha: <hex>`).
    let s = &bare_hex(s);
    let mut rest = s.as_str();
    while let Some(i) = rest.find("sha256:") {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let hex = &tail[7..];
        let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
        if n == 64 {
            out.push_str("sha256:[DIGEST]");
            rest = &hex[64..];
        } else {
            out.push_str("sha256:");
            rest = hex;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn default_platform_is_pinned_and_complete() {
    let dir = default_platform();
    let (r, files) = render(&dir, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("kubectl apply --server-side -k out"),
        "{}",
        r.stdout
    );
    let images = image_lines(&files);
    assert!(images.len() >= 14, "{images:?}");
    for i in &images {
        let (repo, digest) = i
            .split_once('@')
            .unwrap_or_else(|| panic!("not pinned: {i}"));
        assert!(digest.starts_with("sha256:") && digest.len() == 71, "{i}");
        assert!(
            !repo.rsplit('/').next().unwrap().contains(':'),
            "tag kept: {i}"
        );
    }
    for want in [
        "kustomization.yaml",
        "kubeadm/cluster-configuration.yaml",
        "namespaces/namespaces.yaml",
        "grafana/grafana.yaml",
        "loki/loki.yaml",
        "prometheus/operator-resources.yaml",
        "prometheus-operator/crds.yaml",
        "prometheus-operator/bundle.yaml",
        "cert-manager/crds.yaml",
        "cert-manager/issuers.yaml",
        "traefik/traefik.yaml",
    ] {
        assert!(
            files.contains_key(want),
            "{want} missing: {:?}",
            files.keys()
        );
    }
    // The kustomization lists every manifest once, not the kubeadm configuration: namespaces first,
    // then the CRDs, then the rest (each group sorted).
    let k = &files["kustomization.yaml"];
    let listed: Vec<&str> = k.lines().filter_map(|l| l.strip_prefix("  - ")).collect();
    let mut manifests: Vec<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|f| {
            f.ends_with(".yaml") && *f != "kustomization.yaml" && !f.starts_with("kubeadm/")
        })
        .collect();
    let rank = |f: &str| {
        (
            !f.starts_with("namespaces/"),
            !f.ends_with("/crds.yaml"),
            f.to_string(),
        )
    };
    manifests.sort_by_key(|f| rank(f));
    assert_eq!(listed, manifests);
    assert_eq!(listed[0], "namespaces/namespaces.yaml");
    // Every file names where its objects come from.
    assert!(files["grafana/grafana.yaml"].contains("# From: chart grafana "));
    assert!(files["prometheus-operator/bundle.yaml"].contains("# From: release manifest "));
}

#[test]
fn check_renders_in_memory() {
    let dir = default_platform();
    // helm runs with homes in a temporary directory of the run's own, removed when it is done.
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let r = crate::support::bundle_env(
        &dir,
        &["render", "--check", "--cache-dir", "store"],
        None,
        &[("TMPDIR", tmp.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("ok: "), "{}", r.stdout);
    assert!(!dir.join("out").exists());
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

#[test]
fn output_is_byte_identical() {
    let dir = default_platform();
    let (r1, a) = render(&dir, &["--registry", "harbor.local/platform"]);
    let (r2, b) = render(&dir, &["--registry", "harbor.local/platform"]);
    assert_eq!((r1.code, r2.code), (0, 0));
    assert_eq!(a, b);
}

#[test]
fn registry_rewrites_images_and_writes_hosts_toml() {
    let dir = default_platform();
    let (r, files) = render(&dir, &["--registry", "harbor.local/platform"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for i in image_lines(&files) {
        assert!(i.starts_with("harbor.local/platform/"), "{i}");
    }
    let images = image_lines(&files);
    assert!(
        images
            .iter()
            .any(|i| i.starts_with("harbor.local/platform/quay.io/prometheus/prometheus@sha256:")),
        "{images:?}"
    );
    assert!(
        images
            .iter()
            .any(|i| i.starts_with("harbor.local/platform/docker.io/grafana/grafana@sha256:"))
    );
    let k8s = &files["airgap/certs.d/registry.k8s.io/hosts.toml"];
    assert!(k8s.contains("server = \"https://registry.k8s.io\""));
    assert!(k8s.contains("[host.\"https://harbor.local/v2/platform/registry.k8s.io\"]"));
    assert!(k8s.contains("capabilities = [\"pull\", \"resolve\"]"));
    assert!(k8s.contains("override_path = true"));
    assert!(files.contains_key("airgap/certs.d/docker.io/hosts.toml"));
    assert!(files.contains_key("airgap/certs.d/quay.io/hosts.toml"));
    let kubeadm = &files["kubeadm/cluster-configuration.yaml"];
    assert!(kubeadm.contains("imageRepository: \"harbor.local/platform/registry.k8s.io\""));
    assert!(kubeadm.contains("imageRepository: \"harbor.local/platform/registry.k8s.io/coredns\""));
    assert!(
        !files.contains_key("kustomization.yaml")
            || !files["kustomization.yaml"].contains("airgap")
    );

    let bad = bundle_in(
        &dir,
        &["render", "-o", "x", "--registry", "https://harbor.local/p"],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("without a scheme"), "{}", bad.stderr);
}

#[test]
fn image_without_digest_fails_unless_tags_are_allowed() {
    let dir = default_platform();
    let text = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    let grafana_digest = text
        .lines()
        .skip_while(|l| !l.contains("reference: docker.io/grafana/grafana:"))
        .nth(1)
        .unwrap()
        .to_string();
    std::fs::write(
        dir.join("bundle.lock"),
        text.replace(&format!("{grafana_digest}\n"), ""),
    )
    .unwrap();
    let (r, files) = render(&dir, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("1 image(s)"), "{}", r.stderr);
    assert!(
        r.stderr.contains("docker.io/grafana/grafana:"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("bundle pin"), "{}", r.stderr);
    assert!(files.is_empty());

    let (r, files) = render(&dir, &["--allow-tags"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let images = image_lines(&files);
    assert!(
        images
            .iter()
            .any(|i| i.starts_with("docker.io/grafana/grafana:")),
        "{images:?}"
    );
}

#[test]
fn missing_or_bad_lock_is_a_usage_error() {
    let dir = tempdir();
    let r = bundle_in(&dir, &["render", "-o", "out"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("bundle solve"), "{}", r.stderr);
    std::fs::write(dir.join("bundle.lock"), "version: 1\nnot: a lock\n").unwrap();
    let r = bundle_in(&dir, &["render", "-o", "out"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_chart_missing_from_the_cache_says_to_pin() {
    let dir = default_platform();
    let r = bundle_in(&dir, &["render", "-o", "out", "--cache-dir", "empty"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("is not in empty") && r.stderr.contains("bundle pin"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("out").exists(), "nothing written");
}

/// The data sources Grafana's values give it (type → url).
fn grafana_datasources(files: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let v = values_given(files, "grafana/grafana.yaml");
    v["datasources"]["datasources.yaml"]["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["type"].as_str().unwrap().to_string(),
                d["url"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn grafana_names_loki_only_when_loki_is_in_the_lock() {
    let with = default_platform();
    let (r, files) = render(&with, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ds = grafana_datasources(&files);
    assert_eq!(ds["loki"], "http://loki.logging.svc.cluster.local:3100");
    assert_eq!(
        ds["prometheus"],
        "http://prometheus.monitoring.svc.cluster.local:9090"
    );

    let without = solved(&["--without", "loki"]).expect("a platform without loki solves");
    let (r, files) = render(&without, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The log shipper has nothing to ship to: left out, with a note.
    assert!(
        r.stderr.contains("is not rendered: needs loki"),
        "{}",
        r.stderr
    );
    let ds = grafana_datasources(&files);
    assert!(!ds.contains_key("loki"), "{ds:?}");
    assert!(ds.contains_key("prometheus"));
    assert!(!files.keys().any(|f| f.starts_with("loki/")));
}

#[test]
fn the_other_cni_and_log_shipper_render() {
    // No tested Cilium runs on Kubernetes 1.36, which the default profile's kube-state-metrics
    // needs: Cilium 1.20 is `untested` (no published Kubernetes range), so allow it.
    let dir = solved(&[
        "--allow-untested",
        "--with",
        "cilium",
        "--with",
        "fluent-bit",
        "--without",
        "calico",
        "--without",
        "alloy",
    ])
    .expect("cilium + fluent-bit solves");
    let (r, files) = render(&dir, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cilium = values_given(&files, "cilium/cilium.yaml");
    assert_eq!(
        cilium["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"][0],
        "10.244.0.0/16"
    );
    let fb = values_given(&files, "fluent-bit/fluent-bit.yaml");
    assert!(
        fb.to_string().contains("loki.logging.svc.cluster.local"),
        "{fb}"
    );
    validate_or_skip(&dir.join("out"), &kubernetes_of(&dir));
}

#[test]
fn unrendered_components_are_named() {
    let Some(dir) = solved(&["--with", "velero"]) else {
        return;
    };
    let (r, _) = render(&dir, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("note: velero is not rendered"),
        "{}",
        r.stderr
    );
}

#[test]
fn snapshots() {
    let dir = default_platform();
    let (r, files) = render(&dir, &["--registry", "harbor.local/platform"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in [
        "kustomization.yaml",
        "kubeadm/cluster-configuration.yaml",
        "airgap/certs.d/registry.k8s.io/hosts.toml",
        "namespaces/namespaces.yaml",
        "cert-manager/issuers.yaml",
        "prometheus/operator-resources.yaml",
    ] {
        let name = f.replace(['/', '.'], "_");
        insta::assert_snapshot!(name, scrub_digests(&files[f]));
    }
    // The values our template gives Grafana's chart (the chart itself is the harness's).
    let values =
        serde_json::to_string_pretty(&values_given(&files, "grafana/grafana.yaml")).unwrap();
    insta::assert_snapshot!("grafana_values", scrub_digests(&values));
}

fn kubernetes_of(dir: &Path) -> String {
    let lock = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
    lock.lines()
        .find_map(|l| l.strip_prefix("kubernetes: "))
        .expect("kubernetes in the lock")
        .to_string()
}

/// Runs `scripts/validate-manifests DIR VERSION`; a validator that cannot be installed fails the
/// test under CI and is a skip elsewhere.
pub(crate) fn validate_or_skip(out: &Path, version: &str) -> bool {
    let r = Command::new(root().join("scripts").join("validate-manifests"))
        .arg(out)
        .arg(version)
        .env(
            "BUNDLE_VENV",
            std::env::var("BUNDLE_VENV")
                .unwrap_or_else(|_| root().join("target").join("venv").display().to_string()),
        )
        .output()
        .expect("scripts/validate-manifests runs");
    let stdout = String::from_utf8_lossy(&r.stdout);
    let stderr = String::from_utf8_lossy(&r.stderr);
    match r.status.code() {
        Some(0) => true,
        Some(3) if std::env::var_os("CI").is_none() => {
            eprintln!("skip: kubernetes-validate is not available here (no network?):\n{stderr}");
            false
        }
        _ => panic!(
            "validation of {} against {version} failed:\n{stdout}\n{stderr}",
            out.display()
        ),
    }
}

#[test]
fn default_platform_validates_against_its_kubernetes() {
    let dir = default_platform();
    let (r, _) = render(&dir, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    validate_or_skip(&dir.join("out"), &kubernetes_of(&dir));
}

#[test]
fn every_kubernetes_minor_validates() {
    let show = bundle_in(
        &tempdir(),
        &["catalog", "show", "kubernetes", "--format", "json"],
    );
    assert_eq!(show.code, 0, "{}", show.stderr);
    let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    let mut minors: Vec<String> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["version"].as_str())
        .map(|s| s.rsplit_once('.').unwrap().0.to_string())
        .collect();
    minors.dedup();
    let mut validated = 0;
    for minor in &minors {
        let Some(dir) = solved(&["--kubernetes", &format!("~{minor}"), "--allow-eol"]) else {
            eprintln!("kubernetes {minor}: the default platform does not solve; skipped");
            continue;
        };
        let (r, _) = render(&dir, &[]);
        assert_eq!(r.code, 0, "kubernetes {minor}: {}", r.stderr);
        if !validate_or_skip(&dir.join("out"), minor) {
            return;
        }
        validated += 1;
    }
    assert!(
        validated >= 3,
        "only {validated} minors validated of {minors:?}"
    );
}

// ---- the engine on harness-made charts (tests/it/charts.rs) ----

use bundle::lock::Lock;
use bundle::render::artifacts::{Artifacts, ChartRef, Store, wanted};
use bundle::render::engine::{Request, relocate, render as render_platform};
use bundle::render::{Delivery, Output, RegistryPrefix as Mirror};

use crate::charts::{ChartDir, crd, helm_available, indent, kubectl, platform};

const MIRROR: &str = "harbor.local/platform";

fn lock_of(dir: &Path) -> Lock {
    Lock::parse(
        &std::fs::read_to_string(dir.join("bundle.lock")).unwrap(),
        "bundle.lock",
    )
    .unwrap()
}

fn engine(lock: &Lock, artifacts: &Artifacts, mirror: Option<&str>, delivery: Delivery) -> Output {
    let catalog = bundle::catalog::Catalog::embedded().unwrap();
    let mirror = mirror.map(|m| Mirror::parse(m).unwrap());
    render_platform(&Request {
        lock,
        catalog: &catalog,
        artifacts,
        mirror: mirror.as_ref(),
        allow_tags: false,
        delivery,
    })
    .expect("the platform renders")
}

/// The default platform with harness charts for every component: (dir, lock, artifacts).
fn harness_platform() -> (TempDir, Lock, Artifacts) {
    let dir = default_platform();
    let lock = lock_of(&dir);
    let artifacts = Store::new(dir.join("store"))
        .artifacts(&wanted(&lock).unwrap())
        .unwrap();
    (dir, lock, artifacts)
}

/// Every document of a rendered file, parsed.
fn docs(files: &BTreeMap<String, String>, file: &str) -> Vec<serde_json::Value> {
    let text = files
        .get(file)
        .unwrap_or_else(|| panic!("{file} missing: {:?}", files.keys()));
    serde_saphyr::from_multiple::<serde_json::Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// The values a harness chart was rendered with (its `<release>-values` ConfigMap).
fn values_given(files: &BTreeMap<String, String>, file: &str) -> serde_json::Value {
    let cm = docs(files, file)
        .into_iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("-values")
        })
        .expect("the values ConfigMap");
    serde_saphyr::from_str(cm["data"]["values.yaml"].as_str().unwrap()).unwrap()
}

fn fail_on_problems(out: &Output) {
    let p: Vec<String> = out.problems.iter().map(|p| p.to_string()).collect();
    assert!(p.is_empty(), "problems:\n{}", p.join("\n"));
}

#[test]
fn engine_renders_the_default_platform_from_upstream_charts() {
    if !helm_available("engine_renders_the_default_platform_from_upstream_charts") {
        return;
    }
    let (_dir, lock, artifacts) = harness_platform();
    let out = engine(&lock, &artifacts, Some(MIRROR), Delivery::Manifests);
    fail_on_problems(&out);
    let f = &out.files;

    // Every image on the mirror, pinned by the lock's digest (no tag).
    let images = image_lines(f);
    assert!(images.len() >= 14, "{images:?}");
    for i in &images {
        let i = i.trim_matches('"');
        assert!(i.starts_with("harbor.local/platform/"), "{i}");
        let (repo, digest) = i
            .split_once('@')
            .unwrap_or_else(|| panic!("not pinned: {i}"));
        assert!(
            digest.len() == 71 && !repo.rsplit('/').next().unwrap().contains(':'),
            "{i}"
        );
    }
    // Images passed as flags are moved too (prometheus-operator's config reloader).
    let operator = &f["prometheus-operator/bundle.yaml"];
    assert!(
        operator.contains("- --prometheus-config-reloader=harbor.local/platform/quay.io/prometheus-operator/prometheus-config-reloader@sha256:"),
        "{operator}"
    );
    // The release manifest keeps its own namespace; its CRDs are separated and listed first.
    let k = &f["kustomization.yaml"];
    let listed: Vec<&str> = k.lines().filter_map(|l| l.strip_prefix("  - ")).collect();
    assert_eq!(listed[0], "namespaces/namespaces.yaml");
    let first_other = listed
        .iter()
        .position(|l| !l.ends_with("/crds.yaml") && !l.starts_with("namespaces/"))
        .unwrap();
    assert!(
        listed[1..first_other]
            .iter()
            .all(|l| l.ends_with("/crds.yaml")),
        "{listed:?}"
    );
    assert!(
        listed[first_other..]
            .iter()
            .all(|l| !l.ends_with("/crds.yaml")),
        "{listed:?}"
    );
    for want in [
        "cert-manager/crds.yaml",
        "prometheus-operator/crds.yaml",
        "calico/crds.yaml",
    ] {
        assert!(listed.contains(&want), "{want}: {listed:?}");
    }

    // ServiceMonitors appear because prometheus-operator's CRDs serve the API the charts ask about.
    for file in [
        "grafana/grafana.yaml",
        "loki/loki.yaml",
        "traefik/traefik.yaml",
    ] {
        assert!(
            docs(f, file).iter().any(|d| d["kind"] == "ServiceMonitor"),
            "{file}"
        );
    }
    // Wiring through the values: Grafana's data sources, the log shipper's Loki, the ingress issuer.
    let g = values_given(f, "grafana/grafana.yaml");
    let ds = &g["datasources"]["datasources.yaml"]["datasources"];
    let urls: Vec<&str> = ds
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["url"].as_str())
        .collect();
    assert!(
        urls.contains(&"http://prometheus.monitoring.svc.cluster.local:9090"),
        "{urls:?}"
    );
    assert!(
        urls.contains(&"http://loki.logging.svc.cluster.local:3100"),
        "{urls:?}"
    );
    assert_eq!(
        g["ingress"]["annotations"]["cert-manager.io/cluster-issuer"],
        "platform-ca"
    );
    assert_eq!(g["ingress"]["ingressClassName"], "traefik");
    assert_eq!(g["image"]["tag"], lock_image_tag(&lock, "grafana"));
    assert_eq!(g["serviceMonitor"]["enabled"], true);
    let shipper = values_given(f, "alloy/alloy.yaml");
    assert!(
        shipper["alloy"]["configMap"]["content"]
            .as_str()
            .unwrap()
            .contains("url = \"http://loki.logging.svc.cluster.local:3100/loki/api/v1/push\"")
    );
    let cm = values_given(f, "cert-manager/cert-manager.yaml");
    assert_eq!(cm["crds"]["enabled"], true);
    assert_eq!(cm["prometheus"]["servicemonitor"]["enabled"], true);
    // Calico: the pod CIDR kubeadm uses, the operator's registry on the mirror, every image by digest.
    let kubeadm = &f["kubeadm/cluster-configuration.yaml"];
    assert!(
        kubeadm.contains("podSubnet: \"10.244.0.0/16\""),
        "{kubeadm}"
    );
    let inst = docs(f, "calico/tigera-operator.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Installation")
        .expect("the Installation");
    assert_eq!(inst["spec"]["registry"], "harbor.local/platform/quay.io/");
    assert_eq!(
        inst["spec"]["calicoNetwork"]["ipPools"][0]["cidr"],
        "10.244.0.0/16"
    );
    let set = &docs(f, "calico/imageset.yaml")[0];
    assert_eq!(
        set["metadata"]["name"],
        format!("calico-v{}", lock_version(&lock, "calico"))
    );
    let calico = lock.components.iter().find(|c| c.name == "calico").unwrap();
    assert_eq!(
        set["spec"]["images"].as_array().unwrap().len(),
        calico.images.len()
    );
    for i in &calico.images {
        let path = i.reference.repository();
        assert!(
            set["spec"]["images"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["image"] == path && e["digest"] == i.digest.clone().unwrap().as_str()),
            "{path}"
        );
    }
    // Glue objects: the platform CA, Prometheus and Alertmanager run by the operator with the locked images.
    let prom = docs(f, "prometheus/operator-resources.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Prometheus")
        .unwrap();
    assert!(
        prom["spec"]["image"]
            .as_str()
            .unwrap()
            .starts_with("harbor.local/platform/quay.io/prometheus/prometheus@sha256:")
    );
    assert!(f.contains_key("cert-manager/issuers.yaml"));
    // --list-images: every image with the objects using it, the operator-created ones included.
    let node = out
        .images
        .iter()
        .find(|u| u.image.contains("calico/node@"))
        .expect("calico/node listed");
    assert!(
        node.image
            .starts_with("harbor.local/platform/quay.io/calico/node@sha256:"),
        "{node:?}"
    );
    assert!(
        node.users
            .iter()
            .any(|u| u.kind == "ImageSet" && u.path.starts_with("spec.images["))
    );
    let reloader = out
        .images
        .iter()
        .find(|u| u.image.contains("prometheus-config-reloader@"))
        .unwrap();
    assert_eq!(
        reloader.users[0].path,
        "spec.template.spec.containers[0].args[1]"
    );
    assert_eq!(reloader.users[0].file, "prometheus-operator/bundle.yaml");
    validate_or_skip_files(f, &lock.kubernetes.to_string());
}

fn lock_version(lock: &Lock, component: &str) -> String {
    lock.components
        .iter()
        .find(|c| c.name == component)
        .unwrap()
        .version
        .to_string()
}

fn lock_image_tag(lock: &Lock, component: &str) -> String {
    let c = lock
        .components
        .iter()
        .find(|c| c.name == component)
        .unwrap();
    c.images[0].reference.tag().unwrap().to_string()
}

/// Writes files under a fresh directory and runs `scripts/validate-manifests` on it.
fn validate_or_skip_files(files: &BTreeMap<String, String>, version: &str) {
    let dir = tempdir();
    write_tree(files, &dir);
    validate_or_skip(&dir, version);
}

fn write_tree(files: &BTreeMap<String, String>, dir: &Path) {
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn without_prometheus_operator_there_are_no_service_monitors() {
    if !helm_available("without_prometheus_operator_there_are_no_service_monitors") {
        return;
    }
    let dir =
        solved(&["--without", "prometheus-operator"]).expect("solves without prometheus-operator");
    let lock = lock_of(&dir);
    let (store, made) = platform(&lock, &dir);
    let out = engine(
        &lock,
        &made.artifacts(&store.store()),
        None,
        Delivery::Manifests,
    );
    fail_on_problems(&out);
    for (file, text) in &out.files {
        assert!(!text.contains("kind: ServiceMonitor"), "{file}");
    }
    let g = values_given(&out.files, "grafana/grafana.yaml");
    assert!(g.get("serviceMonitor").is_none(), "{g}");
    // Prometheus and Alertmanager come from their charts when no operator runs them.
    assert!(
        out.files.contains_key("prometheus/prometheus.yaml"),
        "{:?}",
        out.files.keys()
    );
    assert!(!out.files.contains_key("prometheus/operator-resources.yaml"));
}

#[test]
fn kubectl_kustomize_builds_both_deliveries() {
    if !helm_available("kubectl_kustomize_builds_both_deliveries") {
        return;
    }
    let Some(kubectl) = kubectl("kubectl_kustomize_builds_both_deliveries") else {
        return;
    };
    let (_dir, lock, artifacts) = harness_platform();
    let manifests = engine(&lock, &artifacts, Some(MIRROR), Delivery::Manifests);
    fail_on_problems(&manifests);
    let flux = engine(&lock, &artifacts, Some(MIRROR), Delivery::Flux);
    fail_on_problems(&flux);
    for (what, out) in [("manifests", &manifests), ("flux", &flux)] {
        let dir = tempdir();
        write_tree(&out.files, &dir);
        let r = Command::new(&kubectl)
            .arg("kustomize")
            .arg(&*dir)
            .output()
            .unwrap();
        let built = String::from_utf8_lossy(&r.stdout);
        assert!(
            r.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let kinds = built.lines().filter(|l| l.starts_with("kind: ")).count();
        assert!(kinds >= 20, "{what}: {kinds} objects");
        assert!(built.contains("kind: CustomResourceDefinition"), "{what}");
        if what == "flux" {
            assert!(built.contains("kind: HelmRelease") && built.contains("kind: OCIRepository"));
        }
    }
}

#[test]
fn flux_delivery_pins_charts_and_images_at_the_mirror() {
    let (_dir, lock, artifacts) =
        if helm_available("flux_delivery_pins_charts_and_images_at_the_mirror") {
            harness_platform()
        } else {
            return;
        };
    let out = engine(&lock, &artifacts, Some(MIRROR), Delivery::Flux);
    fail_on_problems(&out);
    let f = &out.files;
    let mut releases = 0;
    for (component, a) in &artifacts.components {
        if ["prometheus", "alertmanager"].contains(&component.as_str()) {
            continue; // run by prometheus-operator from glue resources
        }
        for ch in &a.charts {
            let file = format!("{component}/{}.flux.yaml", ch.chart.name);
            let d = docs(f, &file);
            let repo = d
                .iter()
                .find(|x| x["kind"] == "OCIRepository")
                .expect("OCIRepository");
            let rel = d
                .iter()
                .find(|x| x["kind"] == "HelmRelease")
                .expect("HelmRelease");
            assert_eq!(repo["apiVersion"], "source.toolkit.fluxcd.io/v1");
            assert_eq!(rel["apiVersion"], "helm.toolkit.fluxcd.io/v2");
            let url = repo["spec"]["url"].as_str().unwrap();
            assert!(
                url.starts_with("oci://harbor.local/platform/")
                    && url.ends_with(&format!("/{}", ch.chart.name)),
                "{url}"
            );
            assert_eq!(
                repo["spec"]["ref"]["digest"],
                ch.oci_digest.clone().unwrap().as_str()
            );
            assert_eq!(
                repo["spec"]["layerSelector"]["mediaType"],
                "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
            );
            assert_eq!(rel["spec"]["chartRef"]["kind"], "OCIRepository");
            assert_eq!(rel["spec"]["chartRef"]["name"], repo["metadata"]["name"]);
            assert!(rel["spec"]["interval"].is_string() && repo["spec"]["interval"].is_string());
            let images = rel["spec"]["postRenderers"][0]["kustomize"]["images"]
                .as_array()
                .unwrap();
            let locked = &lock
                .components
                .iter()
                .find(|c| &c.name == component)
                .unwrap()
                .images;
            for i in locked {
                let name = i.reference.name();
                let e = images
                    .iter()
                    .find(|e| e["name"] == name.as_str())
                    .unwrap_or_else(|| panic!("{name}"));
                assert_eq!(e["newName"], format!("harbor.local/platform/{name}"));
                assert_eq!(e["digest"], i.digest.clone().unwrap().as_str());
            }
            assert!(rel["spec"]["values"].is_object());
            releases += 1;
        }
    }
    assert!(releases >= 8, "{releases}");
    // The values are ours, with images already at the mirror (nothing renders them here).
    let g = docs(f, "grafana/grafana.flux.yaml")
        .into_iter()
        .find(|x| x["kind"] == "HelmRelease")
        .unwrap();
    assert_eq!(
        g["spec"]["values"]["image"]["registry"],
        "harbor.local/platform/docker.io"
    );
    // Release manifests and glue objects are plain files, pinned at the mirror.
    assert!(f["prometheus-operator/bundle.yaml"].contains(
        "image: harbor.local/platform/quay.io/prometheus-operator/prometheus-operator@sha256:"
    ));
    assert!(f.contains_key("cert-manager/issuers.yaml"));
    // No chart is rendered in this mode.
    assert!(!f.keys().any(|k| k.ends_with("/grafana.yaml")));
}

#[test]
fn output_is_deterministic_and_relocates_without_helm() {
    if !helm_available("output_is_deterministic_and_relocates_without_helm") {
        return;
    }
    let (_dir, lock, artifacts) = harness_platform();
    let a = engine(&lock, &artifacts, Some(MIRROR), Delivery::Manifests);
    let b = engine(&lock, &artifacts, Some(MIRROR), Delivery::Manifests);
    assert_eq!(a.files, b.files);
    // The canonical rendering (upstream registries, pinned) moved to the mirror in pure Rust is the
    // same as rendering for the mirror: what the disconnected side does without helm.
    let canonical = engine(&lock, &artifacts, None, Delivery::Manifests);
    fail_on_problems(&canonical);
    for i in image_lines(&canonical.files) {
        assert!(!i.starts_with("harbor.local"), "{i}");
    }
    let m = Mirror::parse(MIRROR).unwrap();
    let moved = relocate(&canonical.files, &lock, Some(&m)).unwrap();
    fail_on_problems(&moved);
    assert_eq!(moved.files, a.files);
    // And on to another mirror.
    let other = Mirror::parse("registry.site-b.internal:5000/p").unwrap();
    let again = relocate(&moved.files, &lock, Some(&other)).unwrap();
    fail_on_problems(&again);
    for i in image_lines(&again.files) {
        assert!(
            i.trim_matches('"')
                .starts_with("registry.site-b.internal:5000/p/"),
            "{i}"
        );
    }
}

/// The harness platform of the default lock, with `component`'s chart replaced by `chart`.
fn with_chart(component: &str, chart: &ChartDir, base: &Path, lock: &Lock) -> Artifacts {
    let tgz = chart.package(&crate::charts::helm_bin(), &base.join("pkg-one"));
    let (store, mut made) = platform(lock, &base.join("harness"));
    let digest = store.classic_chart(&tgz);
    made.wanted
        .get_mut(component)
        .expect("a chart for it")
        .charts = vec![ChartRef {
        name: component.to_string(),
        repository: "https://charts.example.test".to_string(),
        version: lock_version(lock, component),
        digest,
    }];
    made.artifacts(&store.store())
}

#[test]
fn every_workload_kind_and_custom_resource_image_is_pinned() {
    if !helm_available("every_workload_kind_and_custom_resource_image_is_pinned") {
        return;
    }
    let dir = default_platform();
    let lock = lock_of(&dir);
    let grafana = lock
        .components
        .iter()
        .find(|c| c.name == "grafana")
        .unwrap();
    let r = &grafana.images[0].reference.to_string(); // docker.io/grafana/grafana:TAG
    let tag = grafana.images[0].reference.tag().unwrap();
    let digest = grafana.images[0].digest.clone().unwrap();
    let short = format!("grafana/grafana:{tag}"); // Docker Hub's short spelling
    let pinned = format!("{r}@{digest}"); // tag and digest
    // A pod spec's containers, at indentation 0.
    let pod = format!(
        "initContainers:\n  - name: init\n    image: {short}\ncontainers:\n  - name: main\n    image: {r}\n    args: [\"--sidecar={r}\", \"--plain\"]\n    env:\n      - name: IMG\n        value: \"{r}\"\n"
    );
    let chart = ChartDir::new(&dir, "grafana", &lock_version(&lock, "grafana"), "x");
    let obj = |api: &str, kind: &str, spec: &str| {
        format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: w-{}\n  namespace: monitoring\nspec:\n{spec}",
            kind.to_lowercase()
        )
    };
    let workload = |extra: &str| {
        format!(
            "{extra}  selector: {{matchLabels: {{a: b}}}}\n  template:\n    metadata: {{labels: {{a: b}}}}\n    spec:\n{}",
            indent(&pod, 6)
        )
    };
    chart
        .template("deploy.yaml", &obj("apps/v1", "Deployment", &workload("")))
        .template("sts.yaml", &obj("apps/v1", "StatefulSet", &workload("  serviceName: s\n")))
        .template("ds.yaml", &obj("apps/v1", "DaemonSet", &workload("")))
        .template("rs.yaml", &obj("apps/v1", "ReplicaSet", &workload("")))
        .template(
            "job.yaml",
            &obj("batch/v1", "Job", &format!("  template:\n    spec:\n      restartPolicy: Never\n{}", indent(&pod, 6))),
        )
        .template(
            "cron.yaml",
            &obj(
                "batch/v1",
                "CronJob",
                &format!(
                    "  schedule: \"0 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n{}",
                    indent(&pod, 10)
                ),
            ),
        )
        .template(
            "pod.yaml",
            &obj("v1", "Pod", &format!("  containers:\n    - name: main\n      image: {r}\n  ephemeralContainers:\n    - name: debug\n      image: \"{pinned}\"\n")),
        )
        .template("cr.yaml", &format!("apiVersion: example.test/v1\nkind: Dashboard\nmetadata:\n  name: d\n  namespace: monitoring\nspec:\n  image: {short}\n  renderer:\n    image: {r}\n"))
        .crd("dashboards.yaml", &crd("example.test", "Dashboard", "dashboards", "Namespaced", &indent("image: {type: string}\nrenderer:\n  type: object\n  properties:\n    image: {type: string}\n", 16)));
    let artifacts = with_chart("grafana", &chart, &dir, &lock);
    let out = engine(&lock, &artifacts, Some(MIRROR), Delivery::Manifests);
    fail_on_problems(&out);
    let want = format!("harbor.local/platform/docker.io/grafana/grafana@{digest}");
    let text = &out.files["grafana/grafana.yaml"];
    for (i, l) in text.lines().enumerate() {
        if l.contains("grafana/grafana") {
            assert!(l.contains(&want), "line {}: {l}", i + 1);
        }
    }
    let uses = &out.images.iter().find(|u| u.image == want).unwrap().users;
    let kinds: BTreeSet<&str> = uses.iter().map(|u| u.kind.as_str()).collect();
    for k in [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
        "Pod",
        "Dashboard",
    ] {
        assert!(kinds.contains(k), "{k}: {kinds:?}");
    }
    let paths: BTreeSet<&str> = uses.iter().map(|u| u.path.as_str()).collect();
    for p in [
        "spec.jobTemplate.spec.template.spec.initContainers[0].image",
        "spec.jobTemplate.spec.template.spec.containers[0].args[0]",
        "spec.template.spec.containers[0].env[0].value",
        "spec.ephemeralContainers[0].image",
        "spec.image",
        "spec.renderer.image",
    ] {
        assert!(paths.contains(p), "{p}: {paths:?}");
    }
    // The non-image argument is untouched.
    assert!(text.contains("--plain"));
}

#[test]
fn problems_name_file_document_and_field() {
    if !helm_available("problems_name_file_document_and_field") {
        return;
    }
    let dir = default_platform();
    let lock = lock_of(&dir);
    let chart = ChartDir::new(&dir, "grafana", &lock_version(&lock, "grafana"), "x");
    chart
        .crd("widgets.yaml", &crd("example.test", "Widget", "widgets", "Namespaced", &indent("replicas: {type: integer, minimum: 1}\nmode: {type: string, enum: [a, b]}\n", 16)))
        .template("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n  namespace: monitoring\n")
        .template("b.yaml", "apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: monitoring\nspec:\n  replicas: \"two\"\n  mode: c\n  colour: red\n")
        .template("c.yaml", "apiVersion: example.test/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: monitoring\n")
        .template("d.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: monitoring\nspec:\n  containers:\n    - name: c\n      image: quay.io/not/locked:v1\n");
    let artifacts = with_chart("grafana", &chart, &dir, &lock);
    let out = engine(&lock, &artifacts, Some(MIRROR), Delivery::Manifests);
    let p: Vec<String> = out.problems.iter().map(|p| p.to_string()).collect();
    // Each problem names the document that has it (1-based, in the written file).
    let file = docs(&out.files, "grafana/grafana.yaml");
    let has = |kind: &str, name: &str, s: &str| {
        let n = file
            .iter()
            .position(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap()
            + 1;
        let want = format!("grafana/grafana.yaml (document {n}): {kind} {name}: {s}");
        assert!(
            p.iter().any(|x| x.contains(&want)),
            "`{want}` not in {p:#?}"
        );
    };
    has("Widget", "w", "spec.replicas: must be integer, not string");
    has("Widget", "w", "spec.mode: \"c\" is not one of \"a\", \"b\"");
    has("Widget", "w", "spec.colour: unknown field");
    has(
        "Gadget",
        "g",
        "no CustomResourceDefinition for Gadget in example.test",
    );
    has(
        "Pod",
        "p",
        "spec.containers[0].image: image `quay.io/not/locked:v1` is not in the lock",
    );
    assert_eq!(p.len(), 5, "{p:#?}");
}

#[test]
fn hooks_for_install_stay_tests_and_delete_hooks_go_and_subcharts_render() {
    if !helm_available("hooks_for_install_stay_tests_and_delete_hooks_go_and_subcharts_render") {
        return;
    }
    let dir = default_platform();
    let lock = lock_of(&dir);
    let r = &lock
        .components
        .iter()
        .find(|c| c.name == "grafana")
        .unwrap()
        .images[0]
        .reference;
    let job = |name: &str, hook: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: monitoring\n  annotations:\n    helm.sh/hook: {hook}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: c\n          image: {r}\n"
        )
    };
    let sub = ChartDir::new(&dir, "sidekick", "0.1.0", "0.1.0");
    sub.template("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-the-subchart\n  namespace: {{ .Release.Namespace }}\n");
    let sub_tgz = sub.package(&crate::charts::helm_bin(), &dir.join("pkg-sub"));
    let chart = ChartDir::new(&dir, "grafana", &lock_version(&lock, "grafana"), "x");
    chart
        .template(
            "install.yaml",
            &job("after-install", "post-install,post-upgrade"),
        )
        .template("delete.yaml", &job("before-delete", "pre-delete"))
        .template("test.yaml", &job("smoke-test", "test"))
        .dependency(&sub_tgz, "sidekick", "0.1.0", None);
    let artifacts = with_chart("grafana", &chart, &dir, &lock);
    let out = engine(&lock, &artifacts, None, Delivery::Manifests);
    fail_on_problems(&out);
    let text = &out.files["grafana/grafana.yaml"];
    assert!(text.contains("name: after-install"));
    assert!(!text.contains("name: before-delete"));
    assert!(!text.contains("name: smoke-test"));
    assert!(text.contains("name: from-the-subchart"));
    assert!(
        out.notes.iter().any(|n| n.contains("1 hook object")),
        "{:?}",
        out.notes
    );
}

#[test]
fn list_images_names_every_object_that_uses_an_image() {
    let dir = default_platform();
    let lock = lock_of(&dir);
    let locked: BTreeSet<String> = lock
        .components
        .iter()
        .flat_map(|c| c.images.iter().map(|i| i.reference.to_string()))
        .collect();
    let r = bundle_in(
        &dir,
        &[
            "render",
            "--list-images",
            "--format",
            "json",
            "--cache-dir",
            "store",
            "--registry",
            MIRROR,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !dir.join("out").exists(),
        "--list-images alone writes nothing"
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let images = v["images"].as_array().unwrap();
    assert!(images.len() >= 14, "{images:?}");
    let mut kinds = BTreeSet::new();
    for i in images {
        let image = i["image"].as_str().unwrap();
        assert!(
            image.starts_with("harbor.local/platform/") && image.contains("@sha256:"),
            "{image}"
        );
        assert!(locked.contains(i["reference"].as_str().unwrap()), "{i}");
        let users = i["users"].as_array().unwrap();
        assert!(!users.is_empty(), "{i}");
        for u in users {
            assert!(u["file"].as_str().unwrap().ends_with(".yaml"), "{u}");
            assert!(u["document"].as_u64().unwrap() >= 1, "{u}");
            assert!(!u["name"].as_str().unwrap().is_empty(), "{u}");
            kinds.insert((
                u["kind"].as_str().unwrap().to_string(),
                u["path"].as_str().unwrap().to_string(),
            ));
        }
    }
    // A custom resource's image field, an image passed as a flag, and the images Calico's operator
    // runs from its ImageSet are listed with the field that names them.
    assert!(
        kinds.contains(&("Prometheus".into(), "spec.image".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "Deployment".into(),
            "spec.template.spec.containers[0].args[1]".into()
        )),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(k, p)| k == "ImageSet" && p.starts_with("spec.images["))
    );

    // Text: an image, then the objects using it.
    let r = bundle_in(&dir, &["render", "--list-images", "--cache-dir", "store"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = r.stdout.lines().next().unwrap();
    assert!(
        first.contains("@sha256:") && first.contains("locked as "),
        "{first}"
    );
    assert!(
        r.stdout.contains("alloy/alloy.yaml (document 2): Deployment logging/alloy: spec.template.spec.containers[0].image"),
        "{}",
        r.stdout
    );
}

#[test]
fn flux_delivery_from_the_cli_needs_no_helm() {
    let dir = default_platform();
    let r = crate::support::bundle_env(
        &dir,
        &[
            "render",
            "-o",
            "out",
            "--cache-dir",
            "store",
            "--delivery",
            "flux",
            "--registry",
            MIRROR,
        ],
        None,
        &[("PATH", "/usr/bin:/bin"), ("BUNDLE_HELM", "")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("flux get helmreleases"), "{}", r.stdout);
    let files = read_tree(&dir.join("out"));
    let flux: Vec<&String> = files.keys().filter(|f| f.ends_with(".flux.yaml")).collect();
    assert!(flux.len() >= 8, "{flux:?}");
    // The kustomization installs them with the release manifests and glue objects.
    let k = &files["kustomization.yaml"];
    for f in &flux {
        assert!(k.contains(&format!("  - {f}\n")), "{f} in {k}");
    }
    assert!(k.contains("  - prometheus-operator/bundle.yaml\n"), "{k}");
    // Without --registry there is no mirror to pull the charts from by digest: still upstream's
    // coordinates, pinned.
    let r = crate::support::bundle_env(
        &dir,
        &[
            "render",
            "--check",
            "--cache-dir",
            "store",
            "--delivery",
            "flux",
        ],
        None,
        &[("PATH", "/usr/bin:/bin"), ("BUNDLE_HELM", "")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The manifests delivery needs helm, and says so.
    let r = crate::support::bundle_env(
        &dir,
        &["render", "--check", "--cache-dir", "store"],
        None,
        &[("PATH", "/usr/bin:/bin"), ("BUNDLE_HELM", "")],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("helm is needed"), "{}", r.stderr);
}
