//! Discovering what refers to a manifest ([`Source::referrers`], [`Source::tagged_manifest`]): the
//! OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`), the referrers tag schema
//! (`sha256-<hex>`, an index, for registries without the API) and tags in general (cosign's
//! `sha256-<hex>.sig`, `.att`, `.sbom`).

use oci_client::Reference;
use oci_client::errors::OciDistributionError;

use super::error::ResolveError;
use super::host::{classify, with_scheme};
use super::pull::{PullError, Pulled, Source, check_manifest_size};
use crate::oci::media_types::MANIFEST_MEDIA_TYPES;
use crate::oci::wire::{Descriptor, media_type_of};
use crate::types::Digest;

impl Source {
    /// The manifest (or index) tag `tag` of this repository points to, byte for byte; `None` when
    /// the registry has no such tag. Retried.
    pub async fn tagged_manifest(&self, tag: &str) -> Result<Option<Pulled>, PullError> {
        match self.retried(|| self.tagged_once(tag)).await {
            Ok(p) => Ok(Some(p)),
            Err(PullError::Registry(ResolveError::NotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn tagged_once(&self, tag: &str) -> Result<Pulled, PullError> {
        let host = &self.host;
        let by_tag = Reference::with_tag(
            self.fetch.registry().to_string(),
            self.fetch.repository().to_string(),
            tag.to_string(),
        );
        let fetched = format!("{}:{tag}", self.fetched_repository());
        let r = &by_tag;
        let answer = with_scheme(host, |c| async move {
            c.pull_manifest_raw(r, &host.auth, MANIFEST_MEDIA_TYPES)
                .await
        })
        .await;
        let (bytes, _) = answer.map_err(|e| PullError::Registry(classify(e, host, &fetched)))?;
        check_manifest_size(&fetched, bytes.len())?;
        let media_type = media_type_of(&bytes).map_err(|detail| PullError::BadManifest {
            fetched: fetched.clone(),
            detail: detail.to_string(),
        })?;
        Ok(Pulled {
            digest: Digest::sha256_of(&bytes),
            bytes: bytes.to_vec(),
            media_type,
        })
    }

    /// The referrers of `subject` as the registry's OCI 1.1 referrers API lists them (descriptors
    /// with their `artifactType` and annotations). A registry without the API answers 404 there;
    /// the referrers tag schema (`sha256-<hex>`) is then read instead, as the distribution spec
    /// says; no referrers at all is an empty list. Some registries without the API answer another
    /// client error (400, 405…) or an error code instead of 404: that too is "no API", an empty
    /// list (the caller reads the tag schema itself). Retried when the registry is unreachable or
    /// busy.
    pub async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, PullError> {
        self.retried(|| self.referrers_once(subject)).await
    }

    async fn referrers_once(&self, subject: &Digest) -> Result<Vec<Descriptor>, PullError> {
        let host = &self.host;
        let by_digest = Reference::with_digest(
            self.fetch.registry().to_string(),
            self.fetch.repository().to_string(),
            subject.to_string(),
        );
        let fetched = format!("{}/referrers/{subject}", self.fetched_repository());
        // The token for this repository (a no-op for anonymous access or one already held).
        let r = &by_digest;
        let answer = with_scheme(host, |c| async move {
            c.auth(r, &host.auth, oci_client::RegistryOperation::Pull)
                .await
                .map(|_| ())?;
            c.pull_referrers(r, None).await
        })
        .await;
        let index = match answer {
            Ok(i) => i,
            Err(OciDistributionError::ImageManifestNotFoundError(_)) => return Ok(Vec::new()),
            Err(e) => match classify(e, host, &fetched) {
                e @ (ResolveError::Unreachable { .. } | ResolveError::Unavailable { .. }) => {
                    return Err(PullError::Registry(e));
                }
                _ => return Ok(Vec::new()),
            },
        };
        index
            .manifests
            .iter()
            .map(|entry| {
                serde_json::to_value(entry)
                    .and_then(serde_json::from_value::<Descriptor>)
                    .map_err(|e| PullError::BadManifest {
                        fetched: fetched.clone(),
                        detail: format!("a referrers entry cannot be read: {e}"),
                    })
            })
            .collect()
    }
}
