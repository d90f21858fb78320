//! Upstream's own artifacts in the bundle: every chart and release manifest of the lock.
//!
//! 1. [`fetch`]: the content of every chart and manifest, by the lock's digest, from the cache (the
//!    store `bundle pin` fills) or else from upstream into the cache, by the pin code
//!    ([`crate::pin::fetch`] in [`Mode::Locked`]); one without a digest in the lock is pinned for the
//!    bundle (as images are).
//! 2. [`write`]: copied into the layout as OCI artifacts, each an `index.json` entry told apart by
//!    its `artifactType` and named by [`NAME_ANNOTATION`] (`REGISTRY/REPOSITORY:TAG`):
//!    - a chart from an OCI registry as it came (manifest, config, layers: byte for byte, same digest);
//!    - a chart from a classic repository wrapped as Helm would push it ([`crate::oci::chart::wrap`]:
//!      deterministic, its `.tgz` the chart layer, unchanged);
//!    - each component version's release manifests as one artifact of
//!      [`RELEASE_MANIFESTS_ARTIFACT_TYPE`], one layer per file, byte for byte.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::ExportError;
use crate::airgap::format::{
    CHART_REPOSITORY_ANNOTATION, COMPONENT_ANNOTATION, NAME_ANNOTATION,
    RELEASE_MANIFEST_MEDIA_TYPE, RELEASE_MANIFESTS_ARTIFACT_TYPE, SOURCE_URL_ANNOTATION,
    release_manifests_name,
};
use crate::jobs::Runner;
use crate::lock::Lock;
use crate::oci::chart::{chart_layer, config_json, metadata_of_archive, wrap};
use crate::oci::media_types::{
    CREATED_ANNOTATION, HELM_CONFIG, OCI_EMPTY, OCI_EMPTY_CONTENT, OCI_MANIFEST, TITLE_ANNOTATION,
};
use crate::oci::wire::{Descriptor, Manifest, to_json};
use crate::oci::{Layout, LayoutError, Registries, max_manifest_bytes};
use crate::pin::{self, ArtifactError, Mode};
use crate::progress::Progress;
use crate::types::{ChartRef, Digest, Version};

/// A chart or manifest that could not be had.
#[derive(Debug)]
pub struct ArtifactFailure {
    /// The chart (`NAME VERSION (REPOSITORY)`) or the manifest's URL.
    pub what: String,
    /// The components using it.
    pub components: Vec<String>,
    /// Why.
    pub error: ArtifactError,
}

/// What the bundle holds of upstream's artifacts (counted for the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Charts.
    pub charts: usize,
    /// Release manifests (files).
    pub manifests: usize,
    /// Bytes downloaded for them by this export (0 when the cache had everything).
    pub downloaded: u64,
}

/// The content of every chart and manifest of `locks` (the lock exported, then a plan's step
/// locks) in `store`, each distinct one once (see the module docs); returns the locks with every
/// digest and what was counted (distinct charts and manifests of them all). A chart or manifest
/// locked with two digests in two of the locks is refused.
pub(super) fn fetch(
    locks: &[Lock],
    registries: &Arc<Registries>,
    runner: &Runner,
    store: &Arc<Layout>,
    progress: &dyn Progress,
) -> Result<(Vec<Lock>, Counts), ExportError> {
    let Some(all) = union(locks) else {
        return Ok((Vec::new(), Counts::default()));
    };
    let charts = pin::charts(&all)?;
    let manifests = pin::manifests(&all)?;
    if charts.is_empty() && manifests.is_empty() {
        return Ok((locks.to_vec(), Counts::default()));
    }
    let (fc, fm) = pin::fetch(
        registries,
        runner,
        store,
        &charts,
        &manifests,
        Mode::Locked,
        progress,
    );
    let names = |users: &[(String, Version)]| users.iter().map(|(n, _)| n.clone()).collect();
    let mut failures = Vec::new();
    let mut counts = Counts {
        charts: fc.len(),
        manifests: fm.len(),
        downloaded: 0,
    };
    let mut chart_digests: BTreeMap<ChartRef, Digest> = BTreeMap::new();
    for f in fc {
        match f.result {
            Ok(found) => {
                counts.downloaded += found.downloaded;
                chart_digests.insert(f.wanted.chart.clone(), found.digest);
            }
            Err(error) => failures.push(ArtifactFailure {
                what: format!("chart {}", f.wanted.chart),
                components: names(&f.wanted.users),
                error,
            }),
        }
    }
    let mut manifest_digests: BTreeMap<String, Digest> = BTreeMap::new();
    for f in fm {
        match f.result {
            Ok(found) => {
                counts.downloaded += found.downloaded;
                manifest_digests.insert(f.wanted.url.clone(), found.digest);
            }
            Err(error) => failures.push(ArtifactFailure {
                what: format!("manifest {}", f.wanted.url),
                components: names(&f.wanted.users),
                error,
            }),
        }
    }
    if !failures.is_empty() {
        return Err(ExportError::Artifacts(failures));
    }
    let locks = locks
        .iter()
        .map(|l| pin::apply_artifacts(l, &chart_digests, &manifest_digests))
        .collect();
    Ok((locks, counts))
}

/// One lock with the components of all of `locks` (the first one's header): what the pin code
/// deduplicates across a plan's steps.
fn union(locks: &[Lock]) -> Option<Lock> {
    let mut all = locks.first()?.clone();
    for l in &locks[1..] {
        all.components.extend(l.components.iter().cloned());
    }
    Some(all)
}

fn written(e: LayoutError) -> ExportError {
    ExportError::Layout(e)
}

/// Copies every chart and release manifest of `locks` (every digest present in `store`) into
/// `layout`, each distinct one once (the same name is the same content: [`fetch`] refused two
/// digests); returns their `index.json` entries, each with its `ref.name`.
pub(super) fn write(
    layout: &Layout,
    store: &Layout,
    locks: &[Lock],
) -> Result<Vec<(String, Descriptor)>, ExportError> {
    let mut charts: BTreeMap<String, (Descriptor, Vec<String>)> = BTreeMap::new();
    let mut entries: BTreeMap<String, Descriptor> = BTreeMap::new();
    for c in locks.iter().flat_map(|l| &l.components) {
        for ch in &c.charts {
            let name = ch.chart.reference().to_string();
            if let Some((_, users)) = charts.get_mut(&name) {
                if !users.contains(&c.name) {
                    users.push(c.name.clone());
                }
                continue;
            }
            let digest = ch
                .digest
                .clone()
                .ok_or_else(|| ExportError::Artifact(format!("chart {}: no digest", ch.chart)))?;
            let mut d = if ch.chart.is_oci() {
                copy_oci_chart(layout, store, &ch.chart, &digest)?
            } else {
                wrap_classic_chart(layout, store, &ch.chart, &digest)?
            };
            d.artifact_type = Some(HELM_CONFIG.to_string());
            d.annotations.insert(
                CHART_REPOSITORY_ANNOTATION.into(),
                ch.chart.repository().into(),
            );
            charts.insert(name, (d, vec![c.name.clone()]));
        }
        let name = release_manifests_name(&c.name, &c.version.to_string());
        if !c.manifests.is_empty() && !entries.contains_key(&name) {
            let mut d = release_manifests(layout, store, c)?;
            d.annotations
                .insert(COMPONENT_ANNOTATION.into(), c.name.clone());
            entries.insert(name, d);
        }
    }
    let mut entries: Vec<(String, Descriptor)> = entries.into_iter().collect();
    for (name, (mut d, users)) in charts {
        d.annotations
            .insert(COMPONENT_ANNOTATION.into(), users.join(","));
        entries.push((name, d));
    }
    for (name, d) in &mut entries {
        d.annotations.insert(NAME_ANNOTATION.into(), name.clone());
    }
    Ok(entries)
}

/// An OCI chart as it came: its manifest, config and layers copied from the store.
fn copy_oci_chart(
    layout: &Layout,
    store: &Layout,
    chart: &ChartRef,
    digest: &Digest,
) -> Result<Descriptor, ExportError> {
    let bad = |detail: String| ExportError::Artifact(format!("chart {chart} ({digest}): {detail}"));
    let bytes = store
        .read_small_blob(digest, max_manifest_bytes())
        .map_err(written)?
        .ok_or_else(|| bad("its manifest is not in the cache".to_string()))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not an OCI manifest: {e}")))?;
    chart_layer(&manifest).map_err(|e| bad(e.0))?;
    for blob in manifest.blobs() {
        let d = blob
            .digest()
            .map_err(|_| bad(format!("`{}` is not a sha256 digest", blob.digest)))?;
        layout.copy_blob_from(store, &d).map_err(written)?;
    }
    layout.copy_blob_from(store, digest).map_err(written)?;
    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    Ok(Descriptor::new(&media_type, digest, bytes.len() as u64))
}

/// A chart from a classic repository: its `.tgz` copied, wrapped as Helm pushes a chart.
fn wrap_classic_chart(
    layout: &Layout,
    store: &Layout,
    chart: &ChartRef,
    digest: &Digest,
) -> Result<Descriptor, ExportError> {
    let size = layout.copy_blob_from(store, digest).map_err(written)?;
    let path = layout.blob_path(digest).map_err(written)?;
    let metadata = metadata_of_archive(&path)
        .map_err(|e| ExportError::Artifact(format!("chart {chart}: {}", e.0)))?;
    let config = config_json(&metadata);
    layout.write_small_blob(&config).map_err(written)?;
    let manifest = wrap(&metadata, &config, digest, size);
    let d = layout.write_small_blob(&manifest).map_err(written)?;
    Ok(Descriptor::new(OCI_MANIFEST, &d, manifest.len() as u64))
}

/// A component version's release manifests as one artifact: each file a layer, byte for byte.
fn release_manifests(
    layout: &Layout,
    store: &Layout,
    component: &crate::lock::LockedComponent,
) -> Result<Descriptor, ExportError> {
    let mut layers = Vec::new();
    for m in &component.manifests {
        let digest = m
            .digest
            .clone()
            .ok_or_else(|| ExportError::Artifact(format!("manifest {}: no digest", m.url)))?;
        let size = layout.copy_blob_from(store, &digest).map_err(written)?;
        let mut d = Descriptor::new(RELEASE_MANIFEST_MEDIA_TYPE, &digest, size);
        d.annotations
            .insert(TITLE_ANNOTATION.into(), m.file_name().to_string());
        d.annotations
            .insert(SOURCE_URL_ANNOTATION.into(), m.url.clone());
        layers.push(d);
    }
    let empty = layout
        .write_small_blob(OCI_EMPTY_CONTENT)
        .map_err(written)?;
    let mut config = Descriptor::new(OCI_EMPTY, &empty, OCI_EMPTY_CONTENT.len() as u64);
    config.data = Some("e30=".to_string());
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        artifact_type: Some(RELEASE_MANIFESTS_ARTIFACT_TYPE.to_string()),
        config,
        layers,
        subject: None,
        annotations: BTreeMap::from([
            (
                CREATED_ANNOTATION.to_string(),
                "1970-01-01T00:00:00Z".to_string(),
            ),
            (COMPONENT_ANNOTATION.to_string(), component.name.clone()),
            (
                crate::oci::chart::VERSION_ANNOTATION.to_string(),
                component.version.to_string(),
            ),
        ]),
    };
    let bytes = to_json(&manifest);
    let digest = layout.write_small_blob(&bytes).map_err(written)?;
    let mut d = Descriptor::new(OCI_MANIFEST, &digest, bytes.len() as u64);
    d.artifact_type = Some(RELEASE_MANIFESTS_ARTIFACT_TYPE.to_string());
    Ok(d)
}
