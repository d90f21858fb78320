//! The images upstream's artifacts use, compared with the images the catalog lists (issue 11 item 6).
//!
//! Every chart of a component is rendered with its default values (`helm template`, chart tests
//! skipped, for the locked Kubernetes version) and every release manifest is read as it is; every
//! `image` field of every object is collected — containers, init and ephemeral containers of every
//! workload kind, and `image` fields of custom resources (the same finder render uses,
//! [`crate::render::images`]) — and matched against the lock's images **of that component**. An image
//! the artifacts use that the component does not list would be missing on the far side of the air
//! gap: it is reported with the component, the artifact, the object and the field path.
//!
//! The check is one-directional: an image the catalog lists but no rendered object shows is fine
//! (operators start some at run time from their own lists or flags; chart hooks and tests add
//! others). Without `helm`, charts are not rendered and only release manifests are checked (the
//! caller says so).

use std::io::Read;
use std::path::PathBuf;

use crate::lock::{Lock, LockedChart, LockedComponent};
use crate::oci::Layout;
use crate::oci::chart::chart_layer;
use crate::oci::wire::Manifest;
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::render::helm::{Helm, Request};
use crate::render::images::{Index, Match, Place, find};
use crate::render::yaml::{Node, parse_stream};
use crate::types::Digest;

use super::artifacts::MAX_RELEASE_MANIFEST_BYTES;

/// An image an artifact uses that the catalog does not list for its component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlisted {
    /// The component and its version (`web 1.4.0`).
    pub component: String,
    /// The artifact: `chart NAME VERSION (REPOSITORY)` or `manifest URL`.
    pub artifact: String,
    /// The object: `KIND NAME` (`Deployment web`), with its namespace when it has one
    /// (`Deployment monitoring/web`).
    pub object: String,
    /// The field path in the object (`spec.template.spec.initContainers[0].image`).
    pub path: String,
    /// The image as the artifact names it.
    pub image: String,
}

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsedImages {
    /// Images used but not listed (the error).
    pub unlisted: Vec<Unlisted>,
    /// Charts rendered and checked.
    pub charts: usize,
    /// Release manifests checked.
    pub manifests: usize,
    /// Artifacts that could not be checked, and why (a chart that does not render with its default
    /// values, content missing from the store): warnings.
    pub unchecked: Vec<String>,
}

/// Checks every chart (when `helm` is given) and every release manifest of `lock` whose content is
/// in `store` (see the module docs), one [`Phase::UsedImages`] item each. Blocking: runs `helm` and
/// reads files.
pub fn used_images(
    lock: &Lock,
    store: &Layout,
    helm: Option<&Helm>,
    progress: &dyn Progress,
) -> UsedImages {
    let mut out = UsedImages::default();
    let items: usize = lock
        .components
        .iter()
        .map(|c| {
            let charts = if helm.is_some() {
                c.charts.iter().filter(|ch| ch.digest.is_some()).count()
            } else {
                0
            };
            charts + c.manifests.iter().filter(|m| m.digest.is_some()).count()
        })
        .sum();
    let report = PhaseReport::start(progress, Phase::UsedImages, items, 0);
    for c in &lock.components {
        if c.charts.is_empty() && c.manifests.is_empty() {
            continue;
        }
        let own = Lock {
            components: vec![c.clone()],
            ..lock.clone()
        };
        let index = Index::new(&own);
        let who = format!("{} {}", c.name, c.version);
        if let Some(helm) = helm {
            for ch in c.charts.iter().filter(|ch| ch.digest.is_some()) {
                let item = ch.chart.reference().to_string();
                report.started(&item, None);
                let before = out.unchecked.len();
                check_chart(helm, lock, store, c, ch, &index, &mut out);
                let outcome = if out.unchecked.len() == before {
                    Outcome::Done
                } else {
                    Outcome::Failed
                };
                report.finished(&item, outcome, 0, 0);
            }
        }
        for m in &c.manifests {
            let artifact = format!("manifest {}", m.url);
            let Some(digest) = &m.digest else { continue };
            report.started(&m.url, None);
            let outcome = match read_text(store, digest) {
                Ok(text) => {
                    out.manifests += 1;
                    check_stream(&text, &who, &artifact, &index, &mut out);
                    Outcome::Done
                }
                Err(e) => {
                    out.unchecked.push(format!("{who}: {artifact}: {e}"));
                    Outcome::Failed
                }
            };
            report.finished(&m.url, outcome, 0, 0);
        }
    }
    report.end();
    out
}

/// Renders one chart with its default values and checks what it renders.
fn check_chart(
    helm: &Helm,
    lock: &Lock,
    store: &Layout,
    c: &LockedComponent,
    ch: &LockedChart,
    index: &Index,
    out: &mut UsedImages,
) {
    let who = format!("{} {}", c.name, c.version);
    let artifact = format!("chart {}", ch.chart);
    let Some(digest) = &ch.digest else { return };
    let archive = match chart_archive(store, digest) {
        Ok(p) => p,
        Err(e) => {
            out.unchecked.push(format!("{who}: {artifact}: {e}"));
            return;
        }
    };
    let label = format!("{} {}", ch.chart.name(), ch.chart.version());
    let rendered = helm.template(&Request {
        release: ch.chart.name(),
        namespace: &c.name,
        archive: &archive,
        values: "",
        kube_version: &lock.kubernetes.to_string(),
        api_versions: &[],
        label: &label,
    });
    match rendered {
        Ok(text) => {
            out.charts += 1;
            check_stream(&text, &who, &artifact, index, out);
        }
        Err(e) => out.unchecked.push(format!(
            "{who}: {artifact} does not render with its default values, so the images it uses are \
             not checked: {}",
            first_line(&e.to_string())
        )),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s)
}

/// The `.tgz` of a chart whose lock digest is `digest`: the blob itself (a classic chart), or the
/// chart layer (by media type) of the OCI manifest it is.
fn chart_archive(store: &Layout, digest: &Digest) -> Result<PathBuf, String> {
    let path = store.blob_path(digest).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 2];
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|_| format!("{digest} is not in the cache ({})", store.root().display()))?;
    if magic == [0x1f, 0x8b] {
        return Ok(path);
    }
    let bytes = store
        .read_small_blob(digest, crate::oci::max_manifest_bytes())
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{digest} in the cache is neither a chart nor its OCI manifest"))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{digest}: not an OCI manifest: {e}"))?;
    let layer = chart_layer(&manifest).map_err(|e| e.0)?;
    let d = layer
        .digest()
        .map_err(|_| format!("chart layer `{}` is not a sha256 digest", layer.digest))?;
    let p = store.blob_path(&d).map_err(|e| e.to_string())?;
    if !p.is_file() {
        return Err(format!("its chart layer {d} is not in the cache"));
    }
    Ok(p)
}

/// A release manifest's text from the store.
fn read_text(store: &Layout, digest: &Digest) -> Result<String, String> {
    let bytes = store
        .read_small_blob(digest, MAX_RELEASE_MANIFEST_BYTES)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{digest} is not in the cache ({})", store.root().display()))?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Collects the images of every object of a YAML stream and records those `c` does not list.
fn check_stream(text: &str, who: &str, artifact: &str, index: &Index, out: &mut UsedImages) {
    let docs = match parse_stream(text) {
        Ok(d) => d,
        Err(e) => {
            out.unchecked.push(format!(
                "{who}: {artifact}: document {} is not YAML: {}",
                e.document, e.message
            ));
            return;
        }
    };
    for doc in docs {
        if is_chart_test(&doc.node) {
            continue;
        }
        let object = object_name(&doc.node);
        for f in find(&doc.node) {
            if f.place != Place::Field || f.text.trim().is_empty() {
                continue;
            }
            let listed = matches!(
                index.lookup_text(f.text.trim()),
                Some((_, Match::Locked(_) | Match::OtherDigest(..)))
            );
            if !listed {
                out.unlisted.push(Unlisted {
                    component: who.to_string(),
                    artifact: artifact.to_string(),
                    object: object.clone(),
                    path: f.path,
                    image: f.text,
                });
            }
        }
    }
}

/// A chart test (`helm.sh/hook: test`, or the older `test-success`/`test-failure`).
fn is_chart_test(node: &Node) -> bool {
    node.str_at(&["metadata", "annotations", "helm.sh/hook"])
        .is_some_and(|h| h.split(',').any(|p| p.trim().starts_with("test")))
}

/// `KIND [NAMESPACE/]NAME` of an object.
fn object_name(node: &Node) -> String {
    let kind = node.str_at(&["kind"]).unwrap_or("(no kind)");
    let name = node.str_at(&["metadata", "name"]).unwrap_or("(no name)");
    match node.str_at(&["metadata", "namespace"]) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    /// A lock of one component `app` with `images` and one release manifest of digest `manifest`
    /// (read from its text, as a lock file would be).
    fn lock_with(images: &[&str], manifest: &Digest) -> Lock {
        let mut text = format!(
            "version: 2\ncatalog: {}\nrequest:\n  kubernetes: \"*\"\n  with: []\n  without: []\n  \
             allowEol: false\nkubernetes: 1.35.0\ncomponents:\n  - name: app\n    version: 1.0.0\n    images:\n",
            Digest::sha256_of(b"catalog")
        );
        for i in images {
            text.push_str(&format!("      - reference: {i}\n"));
        }
        text.push_str(&format!(
            "    manifests:\n      - url: https://example.test/app.yaml\n        digest: {manifest}\n"
        ));
        Lock::parse(&text, "bundle.lock").unwrap()
    }

    #[test]
    fn unlisted_images_are_named_with_object_and_path() {
        let text = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: sys\n\
spec:\n  template:\n    spec:\n      initContainers:\n        - name: setup\n          image: busybox:1.36\n\
      containers:\n        - name: agent\n          image: example.test/app/agent:v1\n---\n\
apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\n  annotations:\n    helm.sh/hook: test\n\
spec:\n  containers:\n    - name: t\n      image: example.test/app/tester:v1\n---\n\
apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  image: example.test/app/widget:v2\n";
        let dir = tempfile::tempdir().unwrap();
        let store = Layout::create(dir.path()).unwrap();
        let d = store.write_small_blob(text.as_bytes()).unwrap();
        let lock = lock_with(
            &["example.test/app/agent:v1", "example.test/app/extra:v9"],
            &d,
        );
        let found = used_images(&lock, &store, None, &Quiet);
        assert_eq!(found.manifests, 1);
        assert!(found.unchecked.is_empty(), "{:?}", found.unchecked);
        let got: Vec<(String, String, String)> = found
            .unlisted
            .iter()
            .map(|u| (u.object.clone(), u.path.clone(), u.image.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "DaemonSet sys/agent".to_string(),
                    "spec.template.spec.initContainers[0].image".to_string(),
                    "busybox:1.36".to_string()
                ),
                (
                    "Widget w".to_string(),
                    "spec.image".to_string(),
                    "example.test/app/widget:v2".to_string()
                ),
            ],
            "the test pod is skipped; a listed image that is not used is fine"
        );
        assert_eq!(found.unlisted[0].component, "app 1.0.0");
        assert_eq!(
            found.unlisted[0].artifact,
            "manifest https://example.test/app.yaml"
        );
        // Docker Hub's short names match the canonical reference the lock holds.
        let lock = lock_with(
            &[
                "docker.io/library/busybox:1.36",
                "example.test/app/agent:v1",
                "example.test/app/widget:v2",
            ],
            &d,
        );
        assert!(used_images(&lock, &store, None, &Quiet).unlisted.is_empty());
    }
}
