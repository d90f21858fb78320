//! What a bundle carries for the far side of the air gap: its lock, the catalog the lock was solved
//! against and the rendering `bundle export` made, layers of the platform artifact
//! ([`LOCK_MEDIA_TYPE`]; [`CATALOG_MEDIA_TYPE`], the deterministic tar of [`Catalog::write_tar`];
//! [`MANIFESTS_MEDIA_TYPE`]). `--catalog BUNDLE` and `--lock BUNDLE` read them, so that `why`,
//! `matrix` and `solve --locked` need nothing but the bundle; `mirror -o` and `render --bundle` move
//! the rendering to a mirror without helm ([`rendered`], then [`crate::render::relocate`]).
//!
//! Reading goes `index.json` → the platform artifact's manifest → the layer, each blob checked
//! against its digest; an archive is streamed once per step (never unpacked, never held whole).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path};

use super::archive::{ReadError, ZSTD_MAGIC};
use super::format::{
    CATALOG_MEDIA_TYPE, CATALOG_TITLE, LOCK_MEDIA_TYPE, LOCK_TITLE, MANIFESTS_MEDIA_TYPE,
    PLATFORM_REF_NAME, is_platform_artifact, lock_too_large, max_document_size, max_lock_size,
};
use super::scan;
use crate::catalog::{Catalog, LoadError, MAX_ARCHIVE_BYTES};
use crate::lock::{Lock, LockError};
use crate::oci::layout::{INDEX_FILE, OCI_LAYOUT_FILE};
use crate::oci::wire::{Descriptor, Index, Manifest};
use crate::types::Digest;

/// Why the lock or the catalog of a bundle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CarriedError {
    /// The bundle could not be read, or is not one.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A document on the way (`index.json`, the platform artifact's manifest) is missing or broken.
    #[error("{path}: {message}")]
    Bundle {
        /// The bundle.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The bundle was exported without its catalog (by a `bundle` older than this format).
    #[error(
        "{path}: this bundle carries no catalog (it was exported by an older `bundle`); \
         give the catalog it was solved against as a directory"
    )]
    NoCatalog {
        /// The bundle.
        path: String,
    },
    /// The catalog layer is there but does not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The lock layer is there but does not parse.
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// Whether `path` looks like a bundle: a directory with `oci-layout` or `index.json` and no
/// `catalog.yaml`, or a file that starts like a zstd stream or a tar archive (`ustar` at byte 257),
/// or a split archive (its parts file or first part) whose first part does. A lock file or a
/// catalog directory is not.
pub fn is_bundle(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.is_dir() {
        return !path.join("catalog.yaml").exists()
            && (path.join(OCI_LAYOUT_FILE).is_file() || path.join(INDEX_FILE).is_file());
    }
    // Only a regular file is opened: opening a FIFO would wait for a writer (the lock reader then
    // refuses it by name).
    if !meta.is_file() {
        return false;
    }
    let head = match super::parts::open(path) {
        Ok(Some(set)) => set.first_bytes(262).ok(),
        Ok(None) => {
            let mut head = Vec::with_capacity(262);
            std::fs::File::open(path)
                .and_then(|f| f.take(262).read_to_end(&mut head))
                .ok()
                .map(|_| head)
        }
        Err(_) => None,
    };
    head.is_some_and(|h| h.starts_with(&ZSTD_MAGIC) || h.get(257..262) == Some(b"ustar"))
}

fn bad(path: &Path, message: impl Into<String>) -> CarriedError {
    CarriedError::Bundle {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// One blob of the bundle at `path`, checked against `digest`, at most `limit` bytes.
fn blob(path: &Path, digest: &Digest, limit: u64, what: &str) -> Result<Vec<u8>, CarriedError> {
    let mut found = scan::fetch(path, &BTreeSet::from([digest.clone()]), limit)?;
    found.remove(digest).ok_or_else(|| {
        bad(
            path,
            format!("{what} {digest} is missing, corrupt or larger than {limit} bytes"),
        )
    })
}

/// The digest of the layer of type `media_type` of the bundle's platform artifact; `None` when it
/// has none.
pub fn layer_digest(path: &Path, media_type: &str) -> Result<Option<Digest>, CarriedError> {
    layer(path, media_type)?
        .map(|l| {
            l.digest()
                .map_err(|e| bad(path, format!("the {media_type} layer: {e}")))
        })
        .transpose()
}

/// The layer of type `media_type` of the bundle's platform artifact; `None` when it has none.
fn layer(path: &Path, media_type: &str) -> Result<Option<Descriptor>, CarriedError> {
    let index = scan::index_bytes(path)?.ok_or_else(|| bad(path, format!("no {INDEX_FILE}")))?;
    let index: Index = serde_json::from_slice(&index)
        .map_err(|e| bad(path, format!("{INDEX_FILE} is not an OCI image index: {e}")))?;
    let entry = index
        .manifests
        .iter()
        .find(|d| is_platform_artifact(d))
        .ok_or_else(|| bad(path, format!("no platform artifact ({PLATFORM_REF_NAME})")))?;
    let digest = entry
        .digest()
        .map_err(|e| bad(path, format!("the platform artifact's entry: {e}")))?;
    let manifest = blob(
        path,
        &digest,
        max_document_size(),
        "the platform artifact's manifest",
    )?;
    let manifest: Manifest = serde_json::from_slice(&manifest).map_err(|e| {
        bad(
            path,
            format!("the platform artifact's manifest {digest}: {e}"),
        )
    })?;
    Ok(manifest.layer(media_type).cloned())
}

/// Reads the lock the bundle at `path` carries; messages name it `PATH:bundle.lock`.
pub fn lock(path: &Path) -> Result<Lock, CarriedError> {
    let layer = layer(path, LOCK_MEDIA_TYPE)?.ok_or_else(|| {
        bad(
            path,
            format!("the platform artifact has no {LOCK_MEDIA_TYPE} layer"),
        )
    })?;
    if layer.size > max_lock_size() {
        return Err(bad(path, lock_too_large(layer.size)));
    }
    let digest = layer
        .digest()
        .map_err(|e| bad(path, format!("the {LOCK_MEDIA_TYPE} layer: {e}")))?;
    let bytes = blob(path, &digest, max_lock_size(), "the lock")?;
    let text = String::from_utf8(bytes).map_err(|_| bad(path, "the lock is not UTF-8 text"))?;
    Ok(Lock::parse(
        &text,
        &format!("{}:{LOCK_TITLE}", path.display()),
    )?)
}

/// Reads the catalog the bundle at `path` (directory, `.tar` or `.tar.zst`) carries. Its origin is
/// `PATH:catalog.tar`, so messages name the bundle and the file inside the catalog.
pub fn catalog(path: &Path) -> Result<Catalog, CarriedError> {
    let digest =
        layer_digest(path, CATALOG_MEDIA_TYPE)?.ok_or_else(|| CarriedError::NoCatalog {
            path: path.display().to_string(),
        })?;
    let bytes = blob(path, &digest, MAX_ARCHIVE_BYTES, "the catalog layer")?;
    let origin = format!("{}:{CATALOG_TITLE}", path.display());
    Ok(Catalog::from_tar(&origin, &bytes[..])?)
}

/// The largest rendering read (an uncompressed tar of YAML files).
pub const MAX_RENDERED_SIZE: u64 = 256 * 1024 * 1024;

/// Reads the rendering the bundle at `path` carries: relative path → file text.
pub fn rendered(path: &Path) -> Result<BTreeMap<String, String>, CarriedError> {
    let digest = layer_digest(path, MANIFESTS_MEDIA_TYPE)?.ok_or_else(|| {
        bad(
            path,
            format!("the platform artifact has no {MANIFESTS_MEDIA_TYPE} layer"),
        )
    })?;
    let tar = blob(path, &digest, MAX_RENDERED_SIZE, "the rendered manifests")?;
    untar(&tar).map_err(|e| bad(path, format!("the rendered manifests: {e}")))
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

    #[test]
    fn tells_bundles_from_locks_and_catalog_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let catalog = dir.join("catalog");
        let layout = dir.join("layout");
        std::fs::create_dir_all(&catalog).unwrap();
        std::fs::create_dir_all(&layout).unwrap();
        std::fs::write(catalog.join("catalog.yaml"), "kind: Catalog\n").unwrap();
        std::fs::write(layout.join(OCI_LAYOUT_FILE), "{}").unwrap();
        std::fs::write(dir.join("bundle.lock"), "version: 1\n".repeat(40)).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        b.append_data(&mut h, "oci-layout", &b"{}"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        std::fs::write(dir.join("b.tar"), &tar).unwrap();
        std::fs::write(
            dir.join("b.tar.zst"),
            zstd::encode_all(&tar[..], 3).unwrap(),
        )
        .unwrap();

        assert!(is_bundle(&layout));
        assert!(is_bundle(&dir.join("b.tar")));
        assert!(is_bundle(&dir.join("b.tar.zst")));
        assert!(!is_bundle(&catalog));
        assert!(!is_bundle(&dir.join("bundle.lock")));
        assert!(!is_bundle(&dir.join("missing")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
