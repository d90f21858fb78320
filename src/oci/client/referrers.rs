//! Discovering what refers to a manifest ([`Source::referrers`], [`Source::tagged_manifest`]): the
//! OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`), the referrers tag schema
//! (`sha256-<hex>`, an index, for registries without the API) and tags in general (cosign's
//! `sha256-<hex>.sig`, `.att`, `.sbom`).
//!
//! Both go through the registry conversation the pulls use ([`Source::read`]), under the same retry
//! policy: a `5xx`, `429` (its `Retry-After` honoured) or `408` from the registry or its token
//! service, or a connection that fails, is tried again.

use reqwest::Method;

use super::error::ResolveError;
use super::pull::{PullError, Pulled, Source};
use super::retry::Failed;
use crate::oci::wire::{Descriptor, media_type_of};
use crate::types::Digest;

/// The part of a referrers answer (an image index) that is read: its entries.
#[derive(serde::Deserialize)]
struct Listed {
    #[serde(default)]
    manifests: Vec<serde_json::Value>,
}

impl Source {
    /// The manifest (or index) tag `tag` of this repository points to, byte for byte; `None` when
    /// the registry has no such tag. Retried.
    pub async fn tagged_manifest(&self, tag: &str) -> Result<Option<Pulled>, PullError> {
        match self.attempts(|| self.tagged_once(tag)).await {
            Ok(p) => Ok(Some(p)),
            Err(PullError::Registry(ResolveError::NotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn tagged_once(&self, tag: &str) -> Result<Pulled, Failed<PullError>> {
        let fetched = format!("{}:{tag}", self.fetched_repository());
        let path = format!("v2/{}/manifests/{tag}", self.fetch.repository());
        let response = self.read(Method::GET, &path, true, &fetched).await?;
        let bytes = self.body(response, &fetched).await?;
        let media_type = media_type_of(&bytes).map_err(|detail| {
            Failed::fatal(PullError::BadManifest {
                fetched: fetched.clone(),
                detail: detail.to_string(),
            })
        })?;
        Ok(Pulled {
            digest: Digest::sha256_of(&bytes),
            bytes,
            media_type,
        })
    }

    /// The referrers of `subject` as the registry's OCI 1.1 referrers API lists them (descriptors
    /// with their `artifactType` and annotations). A registry without the API answers 404 there;
    /// the referrers tag schema (`sha256-<hex>`) is then read instead, as the distribution spec
    /// says; no referrers at all is an empty list. Some registries without the API answer another
    /// client error (400, 405, 401…) instead of 404: that too is "no API", an empty list (the
    /// caller reads the tag schema itself). Retried when the registry (or its token service) is
    /// unreachable or busy, `Retry-After` honoured.
    pub async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, PullError> {
        self.attempts(|| self.referrers_once(subject)).await
    }

    async fn referrers_once(&self, subject: &Digest) -> Result<Vec<Descriptor>, Failed<PullError>> {
        let fetched = format!("{}/referrers/{subject}", self.fetched_repository());
        let path = format!("v2/{}/referrers/{subject}", self.fetch.repository());
        let response = match self.read(Method::GET, &path, true, &fetched).await {
            Ok(r) => r,
            Err(f) if f.transient => return Err(f),
            Err(f) => match f.error {
                PullError::Registry(
                    ResolveError::NotFound { .. }
                    | ResolveError::Protocol { .. }
                    | ResolveError::Unauthorized { .. },
                ) => return Ok(Vec::new()),
                _ => return Err(f),
            },
        };
        let bytes = self.body(response, &fetched).await?;
        let bad = |detail: String| {
            Failed::fatal(PullError::BadManifest {
                fetched: fetched.clone(),
                detail,
            })
        };
        let listed: Listed = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("the referrers answer is not an image index: {e}")))?;
        listed
            .manifests
            .into_iter()
            .map(|entry| {
                serde_json::from_value::<Descriptor>(entry)
                    .map_err(|e| bad(format!("a referrers entry cannot be read: {e}")))
            })
            .collect()
    }
}
