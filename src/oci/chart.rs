//! Helm charts as OCI artifacts (Helm's `pkg/registry`): a manifest whose config is the chart's
//! `Chart.yaml` as JSON ([`HELM_CONFIG`]) and whose chart layer is the packaged `.tgz`, byte for byte
//! ([`HELM_CHART_CONTENT`]); a signed chart has a provenance layer too ([`HELM_PROVENANCE`]).
//!
//! - [`chart_layer`] finds the chart layer of a manifest by media type, never by position (a signed
//!   chart's provenance layer may come first);
//! - [`metadata_of_archive`] reads `Chart.yaml` out of a `.tgz` (gzip and tar, streamed; only the
//!   top-level `NAME/Chart.yaml`, at most [`MAX_CHART_YAML`] bytes);
//! - [`wrap`] makes the OCI artifact of a chart that came as a plain `.tgz` (a classic repository):
//!   deterministic — the same `.tgz` always gives the same manifest, config and digest — and shaped as
//!   `helm push` makes them, so that `helm pull oci://…` and Harbor read it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::media_types::{
    HELM_CHART_CONTENT, HELM_CONFIG, HELM_PROVENANCE, OCI_MANIFEST, TITLE_ANNOTATION,
};
use super::wire::{Descriptor, Manifest, to_json};
use crate::types::Digest;

/// The largest `Chart.yaml` read.
pub const MAX_CHART_YAML: u64 = 1024 * 1024;

/// Annotation of a manifest: the version of what it packages (OCI image-spec).
pub const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
/// Annotation of a manifest: a description of what it packages (OCI image-spec).
pub const DESCRIPTION_ANNOTATION: &str = "org.opencontainers.image.description";

/// A chart's `Chart.yaml`, as Helm's `chart.Metadata` has it (field order and omitted empty fields
/// as Helm writes the config of a chart it pushes). Numbers and booleans where Helm wants strings
/// are read as their text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartMetadata {
    /// Chart name.
    #[serde(default)]
    pub name: String,
    /// Project home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Source URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Chart version.
    #[serde(default)]
    pub version: String,
    /// One line about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Maintainers (as written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<serde_json::Value>,
    /// Icon URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// `v1` or `v2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Condition (for a sub-chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Tags (for a sub-chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// The version of the application it installs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Whether the chart is deprecated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Kubernetes versions it supports (a semver range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// Sub-charts (as written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<serde_json::Value>,
    /// `application` or `library`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A chart archive or artifact that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChartError(pub String);

/// The chart layer of a Helm chart manifest (found by media type), after checking that the manifest
/// is one: Helm's config type, exactly one chart layer, and nothing but Helm's layer types.
pub fn chart_layer(manifest: &Manifest) -> Result<&Descriptor, ChartError> {
    if manifest.config.media_type != HELM_CONFIG {
        return Err(ChartError(format!(
            "not a Helm chart: its config is {} (a chart's is {HELM_CONFIG})",
            manifest.config.media_type
        )));
    }
    if let Some(other) = manifest
        .layers
        .iter()
        .find(|l| l.media_type != HELM_CHART_CONTENT && l.media_type != HELM_PROVENANCE)
    {
        return Err(ChartError(format!(
            "a Helm chart holds no layer of type {}",
            other.media_type
        )));
    }
    let mut charts = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == HELM_CHART_CONTENT);
    match (charts.next(), charts.next()) {
        (Some(layer), None) => Ok(layer),
        (None, _) => Err(ChartError(format!(
            "a Helm chart manifest without a {HELM_CHART_CONTENT} layer"
        ))),
        (Some(_), Some(_)) => Err(ChartError(format!(
            "a Helm chart manifest with more than one {HELM_CHART_CONTENT} layer"
        ))),
    }
}

/// Reads a chart's config (Helm's JSON of `Chart.yaml`).
pub fn metadata_of_config(bytes: &[u8]) -> Result<ChartMetadata, ChartError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ChartError(format!(
            "the chart's config is not Helm's chart metadata: {e}"
        ))
    })
}

/// Reads the chart's own `Chart.yaml` (`NAME/Chart.yaml`, not a sub-chart's) from a packaged chart.
pub fn metadata_of_archive(path: &Path) -> Result<ChartMetadata, ChartError> {
    let bad = |what: String| ChartError(format!("{}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a packaged chart (.tgz): {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("not a packaged chart (.tgz): {e}")))?;
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parts: Vec<&str> = name.trim_start_matches("./").split('/').collect();
        if !matches!(parts.as_slice(), [dir, "Chart.yaml"] if !dir.is_empty()) {
            continue;
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("{name} is not a regular file")));
        }
        let mut text = String::new();
        entry
            .take(MAX_CHART_YAML + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        if text.len() as u64 > MAX_CHART_YAML {
            return Err(bad(format!("{name} is larger than {MAX_CHART_YAML} bytes")));
        }
        return parse_chart_yaml(&text).map_err(|e| bad(format!("{name}: {e}")));
    }
    Err(bad(
        "no NAME/Chart.yaml in the archive: not a packaged chart".to_string(),
    ))
}

/// Reads `Chart.yaml` text.
pub fn parse_chart_yaml(text: &str) -> Result<ChartMetadata, String> {
    from_yaml(text)
}

/// Reads YAML of Helm's (`Chart.yaml`, a repository's `index.yaml`) leniently: unknown fields are
/// ignored; an error is the parser's first line.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|e| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or("not YAML")
            .to_string()
    })
}

/// The config blob of a chart: its metadata as JSON, as `helm push` writes it.
pub fn config_json(metadata: &ChartMetadata) -> Vec<u8> {
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_vec(metadata).unwrap_or_default()
}

/// The OCI manifest of a packaged chart whose `.tgz` is `chart_digest` (`chart_size` bytes) and
/// whose config blob is `config` (from [`config_json`]): deterministic, no creation time.
pub fn wrap(
    metadata: &ChartMetadata,
    config: &[u8],
    chart_digest: &Digest,
    chart_size: u64,
) -> Vec<u8> {
    let config = Descriptor::new(HELM_CONFIG, &Digest::sha256_of(config), config.len() as u64);
    let mut layer = Descriptor::new(HELM_CHART_CONTENT, chart_digest, chart_size);
    layer.annotations.insert(
        TITLE_ANNOTATION.to_string(),
        format!("{}-{}.tgz", metadata.name, metadata.version),
    );
    let mut annotations = BTreeMap::from([
        (TITLE_ANNOTATION.to_string(), metadata.name.clone()),
        (VERSION_ANNOTATION.to_string(), metadata.version.clone()),
    ]);
    if let Some(d) = metadata.description.as_ref().filter(|d| !d.is_empty()) {
        annotations.insert(DESCRIPTION_ANNOTATION.to_string(), d.clone());
    }
    to_json(&Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        artifact_type: None,
        config,
        layers: vec![layer],
        subject: None,
        annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        for (name, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn reads_the_top_level_chart_yaml_and_wraps_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tgz");
        let bytes = tgz(&[
            (
                "demo/charts/sub/Chart.yaml",
                "apiVersion: v2\nname: sub\nversion: 9.9.9\n",
            ),
            (
                "demo/Chart.yaml",
                "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: 1.0\ndescription: a demo\n\
                 dependencies:\n  - name: sub\n    version: 9.9.9\nextra: ignored\n",
            ),
        ]);
        std::fs::write(&path, &bytes).unwrap();
        let m = metadata_of_archive(&path).unwrap();
        assert_eq!((m.name.as_str(), m.version.as_str()), ("demo", "1.2.3"));
        assert_eq!(m.app_version.as_deref(), Some("1.0"));
        let config = config_json(&m);
        let text = String::from_utf8(config.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"name":"demo","version":"1.2.3","description":"a demo","apiVersion":"v2","appVersion":"1.0""#),
            "{text}"
        );
        let d = Digest::sha256_of(&bytes);
        let one = wrap(&m, &config, &d, bytes.len() as u64);
        assert_eq!(one, wrap(&m, &config, &d, bytes.len() as u64));
        let manifest: Manifest = serde_json::from_slice(&one).unwrap();
        assert_eq!(chart_layer(&manifest).unwrap().digest, d.as_str());
        assert_eq!(metadata_of_config(&config).unwrap(), m);
    }

    #[test]
    fn chart_layer_by_media_type_and_refusals() {
        let d = |s: &str| Digest::sha256_of(s.as_bytes());
        let layer = |mt: &str, s: &str| Descriptor::new(mt, &d(s), 1);
        let manifest = |config: &str, layers: Vec<Descriptor>| Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(config, &d("c"), 1),
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        };
        let signed = manifest(
            HELM_CONFIG,
            vec![layer(HELM_PROVENANCE, "p"), layer(HELM_CHART_CONTENT, "t")],
        );
        assert_eq!(chart_layer(&signed).unwrap().digest, d("t").as_str());
        let image = manifest(
            super::super::media_types::OCI_CONFIG,
            vec![layer(HELM_CHART_CONTENT, "t")],
        );
        assert!(chart_layer(&image).is_err());
        let none = manifest(HELM_CONFIG, vec![layer(HELM_PROVENANCE, "p")]);
        assert!(chart_layer(&none).is_err());
        let odd = manifest(
            HELM_CONFIG,
            vec![
                layer("application/x-other", "x"),
                layer(HELM_CHART_CONTENT, "t"),
            ],
        );
        assert!(chart_layer(&odd).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tgz");
        std::fs::write(&path, b"not gzip").unwrap();
        assert!(metadata_of_archive(&path).is_err());
        std::fs::write(&path, tgz(&[("a/values.yaml", "{}")])).unwrap();
        assert!(
            metadata_of_archive(&path)
                .unwrap_err()
                .0
                .contains("no NAME/Chart.yaml")
        );
    }
}
