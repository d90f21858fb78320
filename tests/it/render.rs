//! `bundle render`: pinned images, the mirror, determinism, wiring, snapshots, and validation of the
//! rendered platform against the Kubernetes schemas of each minor (`scripts/validate-manifests`).

use std::collections::BTreeMap;
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
/// made-up digests and returns the directory, or `None` when the request does not solve.
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
    Some(dir)
}

fn default_platform() -> TempDir {
    solved(&[]).expect("the default platform solves")
}

fn read_tree(dir: &Path) -> BTreeMap<String, String> {
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

fn image_lines(files: &BTreeMap<String, String>) -> Vec<String> {
    files
        .values()
        .flat_map(|t| t.lines())
        .filter_map(|l| l.trim().strip_prefix("image: ").map(str::to_string))
        .collect()
}

fn render(dir: &Path, args: &[&str]) -> (crate::support::Run, BTreeMap<String, String>) {
    let _ = std::fs::remove_dir_all(dir.join("out"));
    let mut a = vec!["render", "-o", "out"];
    a.extend_from_slice(args);
    let r = bundle_in(dir, &a);
    let files = if dir.join("out").is_dir() {
        read_tree(&dir.join("out"))
    } else {
        BTreeMap::new()
    };
    (r, files)
}

fn scrub_digests(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
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
        "prometheus/prometheus.yaml",
        "prometheus-operator/crds.yaml",
        "cert-manager/issuers.yaml",
        "traefik/traefik.yaml",
    ] {
        assert!(
            files.contains_key(want),
            "{want} missing: {:?}",
            files.keys()
        );
    }
    // The kustomization lists every manifest, sorted, and not the kubeadm configuration.
    let k = &files["kustomization.yaml"];
    let listed: Vec<&str> = k.lines().filter_map(|l| l.strip_prefix("  - ")).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    let manifests: Vec<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|f| *f != "kustomization.yaml" && !f.starts_with("kubeadm/"))
        .collect();
    assert_eq!(listed, manifests);
    // Prometheus scrapes what is installed.
    for sm in ["kube-state-metrics", "node-exporter", "alertmanager"] {
        let t = &files[&format!("{sm}/{sm}.yaml")];
        assert!(
            t.contains("kind: ServiceMonitor"),
            "{sm} has no ServiceMonitor"
        );
    }
    assert!(files["prometheus/prometheus.yaml"].contains("name: alertmanager"));
    // The ingress controller gets a certificate from the platform CA.
    assert!(files["grafana/grafana.yaml"].contains("cert-manager.io/cluster-issuer: platform-ca"));
    // The log shipper points at Loki's Service.
    let shipper = files
        .iter()
        .find(|(k, _)| k.starts_with("alloy/") || k.starts_with("fluent-bit/"))
        .map(|(_, v)| v)
        .expect("a log shipper");
    assert!(shipper.contains("loki.logging.svc.cluster.local"));
}

#[test]
fn check_renders_in_memory() {
    let dir = default_platform();
    let r = bundle_in(&dir, &["render", "--check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("ok: "), "{}", r.stdout);
    assert!(!dir.join("out").exists());
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
fn grafana_names_loki_only_when_loki_is_in_the_lock() {
    let with = default_platform();
    let (r, files) = render(&with, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ds = &files["grafana/grafana.yaml"];
    assert!(ds.contains("type: loki"));
    assert!(ds.contains("url: http://loki.logging.svc.cluster.local:3100"));

    let without = solved(&["--without", "loki"]).expect("a platform without loki solves");
    let (r, files) = render(&without, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The log shipper has nothing to ship to: left out, with a note.
    assert!(
        r.stderr.contains("is not rendered: needs loki"),
        "{}",
        r.stderr
    );
    let ds = &files["grafana/grafana.yaml"];
    assert!(!ds.to_lowercase().contains("loki"), "{ds}");
    assert!(ds.contains("type: prometheus"));
    assert!(!files.contains_key("loki/loki.yaml"));
}

#[test]
fn the_other_cni_and_log_shipper_render() {
    let dir = solved(&[
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
    assert!(files.contains_key("cilium/agent.yaml"));
    assert!(files.contains_key("fluent-bit/fluent-bit.yaml"));
    assert!(
        files["fluent-bit/fluent-bit.yaml"].contains("Host        loki.logging.svc.cluster.local")
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
        "grafana/grafana.yaml",
        "namespaces/namespaces.yaml",
    ] {
        let name = f.replace(['/', '.'], "_");
        insta::assert_snapshot!(name, scrub_digests(&files[f]));
    }
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
