//! One chart or release manifest: what the store already holds, an OCI chart copied like an image,
//! a release manifest downloaded; each checked to be what it claims.

use std::sync::Arc;

use super::{
    ArtifactError, Ctx, Found, MAX_RELEASE_MANIFEST_BYTES, Mode, WantedChart, WantedManifest,
};
use crate::oci::chart::{ChartMetadata, chart_layer, metadata_of_config};
use crate::oci::wire::Manifest;
use crate::oci::{Layout, Present, PullError, Registries, max_manifest_bytes};
use crate::types::{ChartRef, Digest};

/// Whether the store holds `digest` intact (rehashed; a corrupt copy is removed). Blocking.
pub(super) fn holds(store: &Layout, digest: &Digest) -> Result<bool, String> {
    let path = store.blob_path(digest).map_err(|e| e.to_string())?;
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(false);
    };
    store
        .check_blob(digest, meta.len())
        .map(|p| p == Present::Yes)
        .map_err(|e| e.to_string())
}

/// [`holds`], on a blocking thread.
pub(super) async fn in_store(store: &Arc<Layout>, digest: &Digest) -> Result<bool, ArtifactError> {
    let (s, d) = (store.clone(), digest.clone());
    tokio::task::spawn_blocking(move || holds(&s, &d))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|detail| ArtifactError::Store {
            path: store.root().display().to_string(),
            detail,
        })
}

/// The name and version a chart's metadata must have.
pub(super) fn check_metadata(
    fetched: &str,
    want: &ChartRef,
    found: Result<ChartMetadata, String>,
) -> Result<(), ArtifactError> {
    let not = |detail: String| ArtifactError::NotTheChart {
        fetched: fetched.to_string(),
        detail,
    };
    let m = found.map_err(not)?;
    if m.name != want.name() || m.version != want.version() {
        return Err(not(format!(
            "this is chart {} {}, not {} {}",
            m.name,
            m.version,
            want.name(),
            want.version()
        )));
    }
    Ok(())
}

pub(super) async fn oci_chart(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedChart,
) -> Result<Found, ArtifactError> {
    let source = registries
        .source(wanted.chart.reference())
        .map_err(PullError::from)?;
    let digest = match (ctx.mode, &wanted.locked) {
        (Mode::Locked, Some(d)) => d.clone(),
        _ => source.resolve().await?,
    };
    let differs = wanted.locked.as_ref().is_some_and(|l| *l != digest);
    if ctx.mode == Mode::Check || (ctx.mode == Mode::Pin && differs) {
        return Ok(Found {
            digest,
            stored: false,
            downloaded: 0,
        });
    }
    let (pulled, fetched) = source.manifest_into(&ctx.store, &digest).await?;
    let mut downloaded = if fetched {
        pulled.bytes.len() as u64
    } else {
        0
    };
    let not = |detail: String| ArtifactError::NotTheChart {
        fetched: source.blob_location(&digest),
        detail,
    };
    let manifest: Manifest = serde_json::from_slice(&pulled.bytes)
        .map_err(|e| not(format!("not an OCI manifest ({}): {e}", pulled.media_type)))?;
    chart_layer(&manifest).map_err(|e| not(e.0))?;
    for blob in manifest.blobs() {
        let d = blob
            .digest()
            .map_err(|_| not(format!("descriptor digest `{}` is not sha256", blob.digest)))?;
        if source.blob_into(&ctx.store, &d, blob.size).await? {
            downloaded += blob.size;
        }
    }
    let config = manifest
        .config
        .digest()
        .ok()
        .and_then(|d| {
            ctx.store
                .read_small_blob(&d, max_manifest_bytes())
                .ok()
                .flatten()
        })
        .ok_or_else(|| not("its config could not be read back from the store".to_string()))?;
    check_metadata(
        &source.blob_location(&digest),
        &wanted.chart,
        metadata_of_config(&config).map_err(|e| e.0),
    )?;
    Ok(Found {
        digest,
        stored: true,
        downloaded,
    })
}

pub(super) async fn manifest(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedManifest,
) -> Result<Found, ArtifactError> {
    if ctx.mode == Mode::Locked
        && let Some(l) = &wanted.locked
        && in_store(&ctx.store, l).await?
    {
        return Ok(Found {
            digest: l.clone(),
            stored: true,
            downloaded: 0,
        });
    }
    let got = registries
        .download(&wanted.url, &ctx.store, MAX_RELEASE_MANIFEST_BYTES)
        .await?;
    if ctx.mode == Mode::Locked
        && let Some(l) = wanted.locked.as_ref().filter(|l| **l != got.digest)
    {
        return Err(ArtifactError::Changed {
            fetched: got.fetched,
            locked: l.clone(),
            actual: got.digest,
        });
    }
    Ok(Found {
        digest: got.digest,
        stored: true,
        downloaded: got.size,
    })
}
