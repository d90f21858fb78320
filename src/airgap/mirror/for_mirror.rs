//! `mirror -o DIR`: the bundle's own lock, rendered with every image at the mirror.

use std::path::Path;

use super::MirrorError;
use super::open::read_small;
use super::plan::Plan;
use crate::airgap::format::{
    LOCK_MEDIA_TYPE, MAX_DOCUMENT_SIZE, MAX_INDEX_SIZE, MAX_LOCK_SIZE, PLATFORM_REF_NAME,
    is_platform_artifact,
};
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::oci::layout::{INDEX_FILE, blob_path};
use crate::oci::wire::{Descriptor, Index, Manifest};
use crate::render;
use crate::types::RegistryPrefix;

/// Renders the lock of a bundle already planned by [`super::prepare`] (read from the plan's
/// directory: an archive's extraction, or the bundle directory itself) for the mirror `target`.
pub fn render_for_plan(
    plan: &Plan,
    target: &RegistryPrefix,
    catalog: &Catalog,
) -> Result<render::Output, MirrorError> {
    let lock = lock_from_dir(&plan.root)?;
    let options = render::Options {
        mirror: Some(target.clone()),
        allow_tags: false,
    };
    let out = render::render(&lock, catalog, &options)?;
    if !out.problems.is_empty() {
        return Err(MirrorError::RenderProblems(out.problems));
    }
    Ok(out)
}

fn bad(path: &Path, message: impl Into<String>) -> MirrorError {
    MirrorError::Bundle {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Reads one blob named by `d` (at most `limit` bytes); says where it was read from.
fn blob(root: &Path, d: &Descriptor, limit: u64) -> Result<(String, Vec<u8>), MirrorError> {
    let digest = d
        .digest()
        .map_err(|e| bad(&root.join(INDEX_FILE), e.to_string()))?;
    let path = blob_path(root, &digest);
    Ok((path.display().to_string(), read_small(&path, limit)?))
}

/// Finds the lock through `index.json` → the platform artifact → its lock layer.
fn lock_from_dir(root: &Path) -> Result<Lock, MirrorError> {
    let index_path = root.join(INDEX_FILE);
    let index: Index = serde_json::from_slice(&read_small(&index_path, MAX_INDEX_SIZE)?)
        .map_err(|e| bad(&index_path, e.to_string()))?;
    let entry = index
        .manifests
        .iter()
        .find(|d| is_platform_artifact(d))
        .ok_or_else(|| {
            bad(
                &index_path,
                format!("no platform artifact ({PLATFORM_REF_NAME}) to render from"),
            )
        })?;
    let (manifest_label, manifest) = blob(root, entry, MAX_DOCUMENT_SIZE)?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest).map_err(|e| MirrorError::Bundle {
            path: manifest_label.clone(),
            message: e.to_string(),
        })?;
    let layer = manifest
        .layer(LOCK_MEDIA_TYPE)
        .ok_or_else(|| MirrorError::Bundle {
            path: manifest_label,
            message: format!("no {LOCK_MEDIA_TYPE} layer"),
        })?;
    let (lock_label, bytes) = blob(root, layer, MAX_LOCK_SIZE)?;
    let text = String::from_utf8(bytes).map_err(|_| MirrorError::Bundle {
        path: lock_label.clone(),
        message: "the lock is not UTF-8".to_string(),
    })?;
    Ok(Lock::parse(&text, &lock_label)?)
}
