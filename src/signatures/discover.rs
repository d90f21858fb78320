//! Finding an image's cosign signatures at its registry (for `pin --verify-signatures`): the
//! `sha256-<hex>.sig` tag of each digest, read with [`Source::tagged_manifest`] (the discovery in
//! `oci/client/referrers.rs`), and the simple-signing payload of each of its layers (small: at most
//! [`MAX_PAYLOAD`] bytes, checked against its digest).

use super::{CosignSignature, SIMPLE_SIGNING};
use crate::oci::Source;
use crate::oci::wire::Manifest;
use crate::types::Digest;

/// The largest simple-signing payload read (cosign's are a few hundred bytes).
pub const MAX_PAYLOAD: u64 = 1 << 20;

/// The cosign signatures of `subject` in `source`'s repository (none: no `.sig` tag). The error says
/// what could not be read.
pub async fn cosign_signatures(
    source: &Source,
    subject: &Digest,
) -> Result<Vec<CosignSignature>, String> {
    let tag = format!("{}.sig", subject.as_str().replacen(':', "-", 1));
    let Some(top) = source
        .tagged_manifest(&tag)
        .await
        .map_err(|e| format!("its signature tag {tag}: {e}"))?
    else {
        return Ok(Vec::new());
    };
    let manifest: Manifest = serde_json::from_slice(&top.bytes)
        .map_err(|e| format!("its signature tag {tag} is not an image manifest: {e}"))?;
    let mut out = Vec::new();
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING)
    {
        let payload = match layer.size <= MAX_PAYLOAD {
            true => payload(source, layer)
                .await
                .map_err(|e| format!("{tag}: {e}"))?,
            false => None,
        };
        out.push(CosignSignature::from_annotations(
            &tag,
            subject.as_str(),
            payload,
            |k| layer.annotation(k),
        ));
    }
    Ok(out)
}

/// A payload blob, fetched and checked against its digest.
async fn payload(
    source: &Source,
    layer: &crate::oci::wire::Descriptor,
) -> Result<Option<Vec<u8>>, String> {
    let digest = layer.digest().map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    source
        .blob(&digest, layer.size, &mut bytes)
        .await
        .map_err(|e| format!("the payload {digest}: {e}"))?;
    Ok((Digest::sha256_of(&bytes) == digest).then_some(bytes))
}
