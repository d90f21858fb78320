//! Finding an image's cosign signatures at its registry (for `pin --verify-signatures`): the
//! `sha256-<hex>.sig` tag of each digest, read with [`Source::tagged_manifest`] (the discovery in
//! `oci/client/referrers.rs`), and the simple-signing payload of each of its layers (small: at most
//! [`MAX_PAYLOAD`] bytes, checked against its digest); and the keys the catalog declares by URL
//! ([`fetch_keys`]).

use std::collections::BTreeMap;

use super::keys::SignerKey;
use super::{CosignSignature, SIMPLE_SIGNING};
use crate::oci::wire::Manifest;
use crate::oci::{Layout, Registries, Source};
use crate::types::{Digest, PublicKeySource, Signer, SigningPolicy};

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
            true => small_blob(source, layer, "payload")
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

/// A small blob (a signature payload, a Sigstore bundle), fetched and checked against its digest
/// (`None`: the bytes are not the digest's); `what` names it in an error.
pub(super) async fn small_blob(
    source: &Source,
    layer: &crate::oci::wire::Descriptor,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
    let digest = layer.digest().map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    source
        .blob(&digest, layer.size, &mut bytes)
        .await
        .map_err(|e| format!("the {what} {digest}: {e}"))?;
    Ok((Digest::sha256_of(&bytes) == digest).then_some(bytes))
}

/// The largest key file fetched (a PEM public key is a few hundred bytes; RSA 8192 under 2 KiB).
pub const MAX_KEY: u64 = 64 * 1024;

/// Why a key declared by URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFetchError {
    /// The component and version whose policy declares it.
    pub declared_by: String,
    /// The key's URL.
    pub url: String,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for KeyFetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the signing key of {} at {}: {}",
            self.declared_by, self.url, self.message
        )
    }
}

/// Fetches every key `policies` declare by URL (`key: {url, sha256}`; each URL once, through
/// `registries`' URL mirrors, CA files and retries; TLS verified as for every download), checks its
/// bytes against the declared sha256 and that it is a usable key, and fills in its PEM, so that the
/// policies a bundle carries verify offline. Keys already filled in are left as they are. A key
/// already in `cache` (the content store, by its sha256) is taken from there; a fetched one is
/// stored there. Without `registries`, only the cache is read, and keys not in it stay unfilled.
pub async fn fetch_keys(
    registries: Option<&Registries>,
    cache: Option<&Layout>,
    policies: &mut [SigningPolicy],
) -> Result<(), KeyFetchError> {
    let mut fetched: BTreeMap<String, String> = BTreeMap::new();
    for policy in policies.iter_mut() {
        let declared_by = format!("{} {}", policy.component, policy.version);
        for signer in policy.signers.iter_mut() {
            let Signer::Key {
                key: PublicKeySource::Url { url, sha256, pem },
                digest,
            } = signer
            else {
                continue;
            };
            if pem.is_some() {
                continue;
            }
            let failed = |message: String| KeyFetchError {
                declared_by: declared_by.clone(),
                url: url.clone(),
                message,
            };
            if let Some(text) = fetched.get(url.as_str()) {
                *pem = Some(text.clone());
                continue;
            }
            let cached = cache.and_then(|c| c.read_small_blob(sha256, MAX_KEY).ok().flatten());
            let (bytes, from) = match (cached, registries) {
                (Some(bytes), _) => (bytes, "the cache".to_string()),
                (None, None) => continue,
                (None, Some(registries)) => registries
                    .download_small(url, MAX_KEY)
                    .await
                    .map_err(|e| failed(format!("could not be fetched: {e}")))?,
            };
            let got = Digest::sha256_of(&bytes);
            if got != *sha256 {
                return Err(failed(format!(
                    "{from} served a file whose sha256 is {}, and the catalog declares {}",
                    got.hex(),
                    sha256.hex()
                )));
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| failed("the file is not PEM text".to_string()))?;
            SignerKey::from_pem(&text, *digest).map_err(failed)?;
            if let Some(cache) = cache {
                // A key that cannot be cached is fetched again next time: nothing is lost.
                let _ = cache.write_small_blob(text.as_bytes());
            }
            fetched.insert(url.clone(), text.clone());
            *pem = Some(text);
        }
    }
    Ok(())
}
