//! Finding an image's Sigstore bundles at its registry (for `pin --verify-signatures`): the OCI 1.1
//! referrers of its digest ([`Source::referrers`], or the referrers tag schema `sha256-<hex>` where
//! the registry has no referrers API) whose `artifactType` is a bundle's, and the bundle layer of
//! each (small: at most [`MAX_BUNDLE`] bytes, checked against its digest).

use super::bundle::{BundleSignature, is_bundle_media_type};
use crate::oci::Source;
use crate::oci::wire::{Descriptor, Index, Manifest};
use crate::types::Digest;

/// The largest bundle read (a bundle is a few kilobytes).
pub const MAX_BUNDLE: u64 = 1 << 20;

/// The referrers of `subject`: the API's answer, else the tag schema's index.
async fn listed(source: &Source, subject: &Digest) -> Result<Vec<Descriptor>, String> {
    let found = source
        .referrers(subject)
        .await
        .map_err(|e| format!("its referrers: {e}"))?;
    if !found.is_empty() {
        return Ok(found);
    }
    let tag = subject.as_str().replacen(':', "-", 1);
    let Some(index) = source
        .tagged_manifest(&tag)
        .await
        .map_err(|e| format!("its referrers tag {tag}: {e}"))?
    else {
        return Ok(Vec::new());
    };
    serde_json::from_slice::<Index>(&index.bytes)
        .map(|i| i.manifests)
        .map_err(|e| format!("its referrers tag {tag} is not an image index: {e}"))
}

/// The Sigstore bundles referring to `subject` in `source`'s repository (none: no such referrer).
/// The error says what could not be read.
pub async fn sigstore_bundles(
    source: &Source,
    subject: &Digest,
) -> Result<Vec<BundleSignature>, String> {
    let mut out = Vec::new();
    for d in listed(source, subject).await? {
        if !d.artifact_type.as_deref().is_some_and(is_bundle_media_type) {
            continue;
        }
        let digest = d.digest().map_err(|e| format!("a referrer: {e}"))?;
        let pulled = source
            .manifest(&digest)
            .await
            .map_err(|e| format!("the referrer {digest}: {e}"))?;
        let manifest: Manifest = serde_json::from_slice(&pulled.bytes)
            .map_err(|e| format!("the referrer {digest} is not an image manifest: {e}"))?;
        if manifest
            .subject
            .as_ref()
            .is_some_and(|s| s.digest != subject.as_str())
        {
            continue;
        }
        for layer in manifest
            .layers
            .iter()
            .filter(|l| is_bundle_media_type(&l.media_type))
        {
            let bytes = match layer.size <= MAX_BUNDLE {
                true => Some(
                    super::discover::small_blob(source, layer, "bundle")
                        .await
                        .map_err(|e| format!("{digest}: {e}"))?,
                ),
                false => None,
            };
            out.push(BundleSignature::new(
                digest.as_str(),
                subject.as_str(),
                bytes.flatten(),
            ));
        }
    }
    Ok(out)
}
