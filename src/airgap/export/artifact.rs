//! The bundle's own artifact: the lock, the rendered manifests and the catalog the lock was solved
//! against, as an OCI artifact with an empty config, found in `index.json` by its `artifactType`
//! ([`PLATFORM_ARTIFACT_TYPE`]).

use std::collections::BTreeMap;

use crate::airgap::format::{
    CATALOG_MEDIA_TYPE, CATALOG_TITLE, LOCK_MEDIA_TYPE, LOCK_TITLE, MANIFESTS_MEDIA_TYPE,
    MANIFESTS_TITLE, PLAN_MEDIA_TYPE, PLAN_TITLE, PLATFORM_ARTIFACT_TYPE,
};
use crate::airgap::pack;
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::oci::media_types::{
    CREATED_ANNOTATION, OCI_EMPTY, OCI_EMPTY_CONTENT, OCI_MANIFEST, TITLE_ANNOTATION,
};
use crate::oci::wire::{Descriptor, Manifest, to_json};
use crate::oci::{Layout, LayoutError};

/// Writes the lock, the rendered manifests, the catalog (and for a whole plan, a tar of its step
/// locks), what signature checks need (the trust root and signing policies, when there are any) and
/// the artifact manifest; returns its `index.json` entry.
pub(super) fn write_platform_artifact(
    layout: &Layout,
    lock: &Lock,
    files: &BTreeMap<String, String>,
    catalog: &Catalog,
    steps: &BTreeMap<String, String>,
    signers: &crate::airgap::signers::Carried,
) -> Result<Descriptor, LayoutError> {
    let lock_bytes = lock.to_yaml().into_bytes();
    let io = |source| LayoutError::Io {
        path: layout.root().to_path_buf(),
        source,
    };
    let tar = pack::tar_files(files).map_err(io)?;
    let catalog_tar = catalog.write_tar(Vec::new()).map_err(io)?;
    let empty = layout.write_small_blob(OCI_EMPTY_CONTENT)?;
    let layer = |media_type: &str, bytes: &[u8], title: &str| -> Result<Descriptor, LayoutError> {
        let digest = layout.write_small_blob(bytes)?;
        let mut d = Descriptor::new(media_type, &digest, bytes.len() as u64);
        d.annotations
            .insert(TITLE_ANNOTATION.to_string(), title.to_string());
        Ok(d)
    };
    let mut config = Descriptor::new(OCI_EMPTY, &empty, OCI_EMPTY_CONTENT.len() as u64);
    config.data = Some("e30=".to_string());
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        artifact_type: Some(PLATFORM_ARTIFACT_TYPE.to_string()),
        config,
        layers: {
            let mut layers = vec![
                layer(LOCK_MEDIA_TYPE, &lock_bytes, LOCK_TITLE)?,
                layer(MANIFESTS_MEDIA_TYPE, &tar, MANIFESTS_TITLE)?,
                layer(CATALOG_MEDIA_TYPE, &catalog_tar, CATALOG_TITLE)?,
            ];
            if !steps.is_empty() {
                let plan = pack::tar_files(steps).map_err(|source| LayoutError::Io {
                    path: layout.root().to_path_buf(),
                    source,
                })?;
                layers.push(layer(PLAN_MEDIA_TYPE, &plan, PLAN_TITLE)?);
            }
            for (media_type, bytes, title) in signers.layers() {
                layers.push(layer(media_type, &bytes, title)?);
            }
            layers
        },
        subject: None,
        annotations: BTreeMap::from([(
            CREATED_ANNOTATION.to_string(),
            "1970-01-01T00:00:00Z".to_string(),
        )]),
    };
    let bytes = to_json(&manifest);
    let digest = layout.write_small_blob(&bytes)?;
    // Found by its artifactType, not named: `ctr images import` unpacks every named entry as an
    // image, and an artifact cannot be unpacked.
    let mut entry = Descriptor::new(OCI_MANIFEST, &digest, bytes.len() as u64);
    entry.artifact_type = Some(PLATFORM_ARTIFACT_TYPE.to_string());
    Ok(entry)
}
