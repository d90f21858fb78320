//! Upstream's artifacts for the locked components, as render reads them: each chart's `.tgz` and
//! each release manifest's bytes, found by digest in a content store (the pin cache, or a
//! bundle's OCI layout: both are `blobs/sha256/<hex>`), never from the network.
//!
//! A chart's digest is the OCI manifest digest for a chart pulled from an OCI registry (its chart
//! layer is taken by media type, never by position: signed charts carry a provenance layer that
//! may sort first) and the sha256 of the `.tgz` for a chart from a classic repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::types::Digest;

/// Helm's chart layer media type (defined once, in `oci::media_types`).
pub use crate::oci::media_types::HELM_CHART_CONTENT as CHART_LAYER_MEDIA_TYPE;
use crate::oci::media_types::HELM_CHART_CONTENT_LEGACY as LEGACY_CHART_LAYER_MEDIA_TYPE;
use crate::oci::wire::Manifest as OciManifest;

/// A chart as the lock names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChartRef {
    /// Chart name.
    pub name: String,
    /// `oci://HOST/PATH` (the chart is at `oci://HOST/PATH/NAME`) or a classic `https://…` repository.
    pub repository: String,
    /// Chart version, as upstream tags it.
    pub version: String,
    /// OCI manifest digest (OCI charts) or the `.tgz`'s sha256 (classic charts).
    pub digest: String,
}

impl ChartRef {
    /// Whether the chart came from an OCI registry.
    pub fn is_oci(&self) -> bool {
        self.repository.starts_with("oci://")
    }
}

/// A release manifest as the lock names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManifestRef {
    /// Where upstream publishes it.
    pub url: String,
    /// The sha256 of its bytes.
    pub digest: String,
}

impl ManifestRef {
    /// The file name the URL ends in (`bundle.yaml`), without query or fragment.
    pub fn file_name(&self) -> &str {
        let path = self.url.split(['?', '#']).next().unwrap_or(&self.url);
        path.rsplit('/').next().unwrap_or(path)
    }
}

/// A chart ready to render: its coordinates and where its `.tgz` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// Coordinates.
    pub chart: ChartRef,
    /// The packaged chart (`helm template` reads it as it is).
    pub archive: PathBuf,
    /// The digest of the chart's OCI manifest where it is known: the lock's digest for an OCI chart;
    /// for a classic chart, the manifest the bundle wraps it in (Flux pulls charts from OCI).
    pub oci_digest: Option<String>,
}

/// A release manifest ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Coordinates.
    pub manifest: ManifestRef,
    /// Its text.
    pub text: String,
}

/// What one component brings from upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentArtifacts {
    /// Helm charts, in the lock's order (a chart of CRDs comes before the chart that needs them).
    pub charts: Vec<Chart>,
    /// Release manifests, in the lock's order.
    pub manifests: Vec<Manifest>,
}

/// Upstream's artifacts per component name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Artifacts {
    /// Component name → artifacts.
    pub components: BTreeMap<String, ComponentArtifacts>,
}

/// The artifacts a component's lock entry names (the lock's `charts` and `manifests`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Charts.
    pub charts: Vec<ChartRef>,
    /// Manifests.
    pub manifests: Vec<ManifestRef>,
}

/// The charts and release manifests the lock names, per component (components without any are left
/// out). Every one must carry its digest: `bundle pin` records it when it fetches the artifact.
pub fn wanted(lock: &crate::lock::Lock) -> Result<BTreeMap<String, Wanted>, ArtifactError> {
    let mut out = BTreeMap::new();
    for c in &lock.components {
        if c.charts.is_empty() && c.manifests.is_empty() {
            continue;
        }
        let mut w = Wanted::default();
        for ch in &c.charts {
            let digest = ch.digest.as_ref().ok_or_else(|| ArtifactError::Unpinned {
                what: format!("chart {} of {}", ch.chart, c.name),
            })?;
            w.charts.push(ChartRef {
                name: ch.chart.name().to_string(),
                repository: ch.chart.repository().to_string(),
                version: ch.chart.version().to_string(),
                digest: digest.to_string(),
            });
        }
        for m in &c.manifests {
            let digest = m.digest.as_ref().ok_or_else(|| ArtifactError::Unpinned {
                what: format!("manifest {} of {}", m.url, c.name),
            })?;
            w.manifests.push(ManifestRef {
                url: m.url.clone(),
                digest: digest.to_string(),
            });
        }
        out.insert(c.name.clone(), w);
    }
    Ok(out)
}

/// The digest of the OCI manifest a bundle wraps a classic chart's `.tgz` in (deterministic, as
/// `bundle export` writes it): what a mirror serves and Flux pulls the chart by.
fn wrapped_digest(archive: &Path, tgz_digest: &str) -> Result<String, String> {
    use crate::oci::chart::{config_json, metadata_of_archive, wrap};
    let metadata = metadata_of_archive(archive).map_err(|e| e.0)?;
    let size = archive.metadata().map_err(|e| e.to_string())?.len();
    let digest = Digest::parse_sha256(tgz_digest).map_err(|e| e.to_string())?;
    let config = config_json(&metadata);
    let manifest = wrap(&metadata, &config, &digest, size);
    Ok(Digest::sha256_of(&manifest).to_string())
}

/// An artifact that cannot be read from the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// Not in the store.
    #[error(
        "{what} {digest} is not in {store} (run `bundle pin` to fetch it, or render from the bundle with --bundle)"
    )]
    Missing {
        /// Which artifact.
        what: String,
        /// Its digest.
        digest: String,
        /// The store.
        store: String,
    },
    /// The lock names it without a digest.
    #[error(
        "{what} has no digest in the lock (run `bundle pin` to pin it and fetch it into the cache)"
    )]
    Unpinned {
        /// Which artifact.
        what: String,
    },
    /// In the store but unusable.
    #[error("{what} ({path}): {reason}")]
    Bad {
        /// Which artifact.
        what: String,
        /// The blob.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A content-addressed store: `DIR/blobs/sha256/<hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

/// Manifests and indexes are small; anything bigger is a chart archive or a release manifest.
const MAX_OCI_MANIFEST: u64 = 4 << 20;

impl Store {
    /// A store rooted at `root` (the directory holding `blobs/`).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a blob (which may not exist).
    pub fn blob(&self, digest: &str) -> Option<PathBuf> {
        let d = Digest::parse_sha256(digest).ok()?;
        Some(self.root.join("blobs").join("sha256").join(d.hex()))
    }

    fn existing(&self, what: &str, digest: &str) -> Result<PathBuf, ArtifactError> {
        let path = self.blob(digest).ok_or_else(|| ArtifactError::Bad {
            what: what.to_string(),
            path: digest.to_string(),
            reason: "not a sha256 digest".to_string(),
        })?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(ArtifactError::Missing {
                what: what.to_string(),
                digest: digest.to_string(),
                store: self.root.display().to_string(),
            })
        }
    }

    /// The `.tgz` of a chart: the blob itself (classic chart), or the chart layer of the OCI
    /// manifest the digest names, selected by media type.
    pub fn chart_archive(&self, chart: &ChartRef) -> Result<PathBuf, ArtifactError> {
        let what = format!("chart {} {}", chart.name, chart.version);
        let path = self.existing(&what, &chart.digest)?;
        let bad = |reason: String| ArtifactError::Bad {
            what: what.clone(),
            path: path.display().to_string(),
            reason,
        };
        let len = path.metadata().map_err(|e| bad(e.to_string()))?.len();
        let mut head = [0u8; 2];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
            f.read_exact(&mut head).map_err(|e| bad(e.to_string()))?;
        }
        if head == [0x1f, 0x8b] {
            return Ok(path);
        }
        if len > MAX_OCI_MANIFEST {
            return Err(bad("neither a gzip archive nor an OCI manifest".to_string()));
        }
        let bytes = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
        let m: OciManifest = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("neither a gzip archive nor an OCI manifest: {e}")))?;
        let layer = m
            .layer(CHART_LAYER_MEDIA_TYPE)
            .or_else(|| m.layer(LEGACY_CHART_LAYER_MEDIA_TYPE))
            .ok_or_else(|| {
                bad(format!(
                    "the OCI manifest has no {CHART_LAYER_MEDIA_TYPE} layer"
                ))
            })?;
        self.existing(&format!("{what} (chart layer)"), &layer.digest)
    }

    /// A release manifest's text.
    pub fn manifest_text(&self, m: &ManifestRef) -> Result<String, ArtifactError> {
        let what = format!("manifest {}", m.url);
        let path = self.existing(&what, &m.digest)?;
        let bytes = std::fs::read(&path).map_err(|e| ArtifactError::Bad {
            what: what.clone(),
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        String::from_utf8(bytes).map_err(|_| ArtifactError::Bad {
            what,
            path: path.display().to_string(),
            reason: "not UTF-8 text".to_string(),
        })
    }

    /// Reads every wanted artifact, per component.
    pub fn artifacts(&self, wanted: &BTreeMap<String, Wanted>) -> Result<Artifacts, ArtifactError> {
        let mut out = Artifacts::default();
        for (component, w) in wanted {
            let mut c = ComponentArtifacts::default();
            for chart in &w.charts {
                let archive = self.chart_archive(chart)?;
                let oci_digest = if chart.is_oci() {
                    chart.digest.clone()
                } else {
                    wrapped_digest(&archive, &chart.digest).map_err(|reason| {
                        ArtifactError::Bad {
                            what: format!("chart {} {}", chart.name, chart.version),
                            path: archive.display().to_string(),
                            reason,
                        }
                    })?
                };
                c.charts.push(Chart {
                    chart: chart.clone(),
                    archive,
                    oci_digest: Some(oci_digest),
                });
            }
            for m in &w.manifests {
                c.manifests.push(Manifest {
                    manifest: m.clone(),
                    text: self.manifest_text(m)?,
                });
            }
            out.components.insert(component.clone(), c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};

    fn put(root: &Path, bytes: &[u8]) -> String {
        let hex: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    }

    #[test]
    fn finds_the_chart_layer_by_media_type() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let tgz = put(&root, &[0x1f, 0x8b, 8, 0, 1, 2, 3]);
        let prov = put(&root, b"-----BEGIN PGP SIGNED MESSAGE-----");
        let config = put(&root, b"{}");
        // The provenance layer first, as helm's digest sort often puts it.
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.cncf.helm.chart.provenance.v1.prov","digest":"{prov}","size":1}},{{"mediaType":"{CHART_LAYER_MEDIA_TYPE}","digest":"{tgz}","size":7}}]}}"#
        );
        let m = put(&root, manifest.as_bytes());
        let store = Store::new(&root);
        let chart = |digest: &str| ChartRef {
            name: "c".into(),
            repository: "oci://r/charts".into(),
            version: "1.0.0".into(),
            digest: digest.into(),
        };
        assert_eq!(
            store.chart_archive(&chart(&m)).unwrap(),
            store.blob(&tgz).unwrap()
        );
        assert_eq!(
            store.chart_archive(&chart(&tgz)).unwrap(),
            store.blob(&tgz).unwrap()
        );
        let missing = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            store.chart_archive(&chart(&missing)),
            Err(ArtifactError::Missing { .. })
        ));
        assert!(matches!(
            store.chart_archive(&chart(&prov)),
            Err(ArtifactError::Bad { .. })
        ));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn manifest_file_names() {
        let m = ManifestRef {
            url: "https://github.com/o/r/releases/download/v1/bundle.yaml?x=1".into(),
            digest: String::new(),
        };
        assert_eq!(m.file_name(), "bundle.yaml");
    }
}
