//! The platform a bundle carries (FORMAT.md section 6): the lock it was exported from and the
//! rendering `bundle export` stored next to it (canonical image references, pinned by digest).
//!
//! This is what the disconnected side works from: `bundle mirror … -o DIR` and `bundle render
//! --bundle PATH --registry …` read it here and only move the images to the mirror
//! ([`crate::render::relocate`]), in Rust, without `helm`. Reading streams through an archive (a
//! `.tar` or `.tar.zst` is not extracted): `index.json`, then the platform artifact's manifest, then
//! its two layers, each checked against its digest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path};

use super::archive::ReadError;
use super::format::{
    LOCK_MEDIA_TYPE, MANIFESTS_MEDIA_TYPE, MAX_DOCUMENT_SIZE, MAX_LOCK_SIZE, is_platform_artifact,
};
use super::scan;
use crate::lock::{Lock, LockError};
use crate::oci::wire::{Descriptor, Index, Manifest};
use crate::types::Digest;

/// The largest rendering read (an uncompressed tar of YAML files).
pub const MAX_RENDERED_SIZE: u64 = 256 * 1024 * 1024;

/// What a bundle carries besides images, charts and manifests.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The lock the bundle was exported from.
    pub lock: Lock,
    /// The rendering stored with it: relative path → file text.
    pub files: BTreeMap<String, String>,
}

/// The platform of a bundle cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The bundle cannot be read at all.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The bundle lacks part of its platform artifact, or a part is damaged.
    #[error("{path}: {message}")]
    Bundle {
        /// The bundle.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The stored lock does not parse.
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// Reads the lock and the stored rendering of the bundle at `path` (directory, `.tar` or `.tar.zst`).
pub fn read(path: &Path) -> Result<Stored, PlatformError> {
    let bad = |message: String| PlatformError::Bundle {
        path: path.display().to_string(),
        message,
    };
    let index = scan::index_bytes(path)?.ok_or_else(|| bad("no index.json".to_string()))?;
    let index: Index = serde_json::from_slice(&index)
        .map_err(|e| bad(format!("index.json is not an OCI image index: {e}")))?;
    let entry =
        index
            .manifests
            .iter()
            .find(|d| is_platform_artifact(d))
            .ok_or_else(|| {
                bad("no platform artifact (the lock and the rendered manifests): was it written by \
                 `bundle export`?"
                .to_string())
            })?;
    let digest = digest_of(entry).map_err(&bad)?;
    let manifest = one(path, &digest, MAX_DOCUMENT_SIZE).map_err(&bad)?;
    let manifest: Manifest = serde_json::from_slice(&manifest).map_err(|e| {
        bad(format!(
            "the platform artifact {digest} is not an OCI manifest: {e}"
        ))
    })?;
    let layer = |media_type: &str| -> Result<Digest, PlatformError> {
        let l = manifest
            .layers
            .iter()
            .find(|l| l.media_type == media_type)
            .ok_or_else(|| bad(format!("the platform artifact has no {media_type} layer")))?;
        digest_of(l).map_err(&bad)
    };
    let (lock_digest, tar_digest) = (layer(LOCK_MEDIA_TYPE)?, layer(MANIFESTS_MEDIA_TYPE)?);
    let wanted = BTreeSet::from([lock_digest.clone(), tar_digest.clone()]);
    let mut blobs = scan::fetch(path, &wanted, MAX_RENDERED_SIZE.max(MAX_LOCK_SIZE))?;
    let missing = |d: &Digest| {
        bad(format!(
            "blob {d} of the platform artifact is missing, corrupt or too large"
        ))
    };
    let lock_bytes = blobs
        .remove(&lock_digest)
        .ok_or_else(|| missing(&lock_digest))?;
    let tar = blobs
        .remove(&tar_digest)
        .ok_or_else(|| missing(&tar_digest))?;
    let text = String::from_utf8(lock_bytes).map_err(|_| bad("the lock is not UTF-8".into()))?;
    let lock = Lock::parse(&text, &format!("{}:bundle.lock", path.display()))?;
    let files = untar(&tar).map_err(|e| bad(format!("the rendered manifests: {e}")))?;
    Ok(Stored { lock, files })
}

fn digest_of(d: &Descriptor) -> Result<Digest, String> {
    d.digest().map_err(|e| e.to_string())
}

fn one(path: &Path, digest: &Digest, limit: u64) -> Result<Vec<u8>, String> {
    let wanted = BTreeSet::from([digest.clone()]);
    scan::fetch(path, &wanted, limit)
        .map_err(|e| e.to_string())?
        .remove(digest)
        .ok_or_else(|| format!("blob {digest} is missing, corrupt or too large"))
}

/// The files of a rendering's tar: regular files with relative paths that stay inside (no `..`,
/// no absolute path), UTF-8 text.
pub fn untar(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let name = path.display().to_string();
        match entry.header().entry_type() {
            tar::EntryType::Regular => {}
            tar::EntryType::Directory => continue,
            other => return Err(format!("{name}: not a regular file ({other:?})")),
        }
        if !path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(format!("{name}: the path leaves the rendering's directory"));
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| format!("{name}: {e}"))?;
        let rel = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/");
        out.insert(rel, text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untar_reads_what_pack_writes_and_refuses_escapes() {
        let files = BTreeMap::from([
            ("a/b.yaml".to_string(), "x: 1\n".to_string()),
            ("kustomization.yaml".to_string(), "k: v\n".to_string()),
        ]);
        let tar = crate::airgap::pack::tar_files(&files).unwrap();
        assert_eq!(untar(&tar).unwrap(), files);

        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        // `append_data` refuses `..`; write the name into the header by hand.
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../x.yaml");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let bad = b.into_inner().unwrap();
        assert!(
            untar(&bad).unwrap_err().contains("leaves"),
            "escape refused"
        );
    }
}
