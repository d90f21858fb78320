//! What an export does, worked out without the network: the images of the lock, which platforms of an
//! index are kept, which blobs are fetched from where, and the `index.json` that names the result.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::{Cause, ImageFailure};
use crate::airgap::format::{
    BUNDLE_FORMAT_VERSION, COMPONENT_ANNOTATION, FORMAT_VERSION_ANNOTATION,
    ORIGINAL_DIGEST_ANNOTATION,
};
use crate::oci::Source;
use crate::oci::media_types::REF_NAME_ANNOTATION;
use crate::oci::wire::{Descriptor, Index, Platform};
use crate::types::{Digest, ImageRef};

/// One distinct image of the lock, pinned.
#[derive(Debug, Clone)]
pub(super) struct Image {
    /// As the lock names it (canonical; the `ref.name` it gets in the bundle).
    pub reference: ImageRef,
    /// The components that use it.
    pub components: Vec<String>,
    /// Its manifest (or index) digest.
    pub digest: Digest,
}

impl Image {
    pub(super) fn failed(&self, cause: Arc<Cause>) -> ImageFailure {
        ImageFailure {
            reference: self.reference.clone(),
            components: self.components.clone(),
            cause,
        }
    }
}

/// One image once its manifests are in the layout: its top manifest (as it goes into `index.json`)
/// and the blobs it needs.
#[derive(Debug)]
pub(super) struct Planned {
    pub image: Image,
    /// Media type, digest and size of the top manifest as stored (a filtered index has its own).
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// For an index filtered to fewer platforms: the upstream digest.
    pub original: Option<Digest>,
    /// Config and layer blobs, in manifest order, each once.
    pub blobs: Vec<(Digest, u64)>,
    /// The digests of the platform manifests of an index that are kept (empty for a manifest).
    pub children: Vec<Digest>,
    /// Where its blobs come from.
    pub source: Source,
    pub manifests_fetched: usize,
    pub manifests_reused: usize,
}

/// Which entries of an index are kept for `platforms` (all of them when none are asked for).
pub(super) fn kept(entries: &[Descriptor], platforms: &[Platform]) -> Vec<bool> {
    entries
        .iter()
        .map(|d| {
            platforms.is_empty()
                || d.platform
                    .as_ref()
                    .is_some_and(|p| platforms.iter().any(|w| w.matches(p)))
        })
        .collect()
}

/// The index `bytes` with only the kept entries, annotated with the digest it was filtered from.
/// Everything else of the upstream document is kept as it is.
pub(super) fn filter_index(
    bytes: &[u8],
    keep: &[bool],
    original: &Digest,
) -> Result<Vec<u8>, String> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let obj = v.as_object_mut().ok_or("the index is not a JSON object")?;
    let entries = obj
        .get("manifests")
        .and_then(|m| m.as_array())
        .ok_or("the index has no manifests")?;
    let kept: Vec<Value> = entries
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(e, _)| e.clone())
        .collect();
    obj.insert("manifests".into(), Value::Array(kept));
    let annotations = obj
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(
            ORIGINAL_DIGEST_ANNOTATION.into(),
            Value::String(original.to_string()),
        );
    }
    serde_json::to_vec(&v).map_err(|e| e.to_string())
}

/// A blob to fetch: from the first image (by reference) that needs it.
#[derive(Debug, Clone)]
pub(super) struct BlobJob {
    pub digest: Digest,
    pub size: u64,
    pub source: Source,
}

/// Every blob of the planned images, each once, sorted by digest.
pub(super) fn blob_jobs(planned: &[Planned]) -> Vec<BlobJob> {
    let mut jobs: BTreeMap<&Digest, BlobJob> = BTreeMap::new();
    for p in planned {
        for (digest, size) in &p.blobs {
            jobs.entry(digest).or_insert_with(|| BlobJob {
                digest: digest.clone(),
                size: *size,
                source: p.source.clone(),
            });
        }
    }
    jobs.into_values().collect()
}

/// Adds `more` to `jobs` (a blob already there is not added again), sorted by digest.
pub(super) fn add_jobs(jobs: &mut Vec<BlobJob>, more: Vec<BlobJob>) {
    for job in more {
        if !jobs.iter().any(|j| j.digest == job.digest) {
            jobs.push(job);
        }
    }
    jobs.sort_by(|a, b| a.digest.cmp(&b.digest));
}

/// The images whose blobs all made it, and a failure for each of the others (the cause of its first
/// failed blob).
pub(super) fn settle(
    planned: Vec<Planned>,
    failed_blobs: &BTreeMap<Digest, Arc<Cause>>,
) -> (Vec<Planned>, Vec<ImageFailure>) {
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for p in planned {
        match p.blobs.iter().find_map(|(d, _)| failed_blobs.get(d)) {
            Some(cause) => failures.push(p.image.failed(cause.clone())),
            None => ok.push(p),
        }
    }
    (ok, failures)
}

/// The bundle's `index.json`: one entry per image (named by its canonical reference, with its
/// components and, for a filtered index, the upstream digest) and one per chart and release
/// manifests artifact (`artifacts`, named already), sorted by name, then the platform artifact.
pub(super) fn index_document(
    images: &[Planned],
    artifacts: Vec<(String, Descriptor)>,
    platform_artifact: Descriptor,
) -> Index {
    let mut entries: Vec<(String, Descriptor)> = images
        .iter()
        .map(|p| {
            let name = p.image.reference.to_string();
            let mut d = Descriptor::new(&p.media_type, &p.digest, p.size);
            d.annotations
                .insert(REF_NAME_ANNOTATION.into(), name.clone());
            d.annotations
                .insert(COMPONENT_ANNOTATION.into(), p.image.components.join(","));
            if let Some(o) = &p.original {
                d.annotations
                    .insert(ORIGINAL_DIGEST_ANNOTATION.into(), o.to_string());
            }
            (name, d)
        })
        .collect();
    entries.extend(artifacts);
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut manifests: Vec<Descriptor> = entries.into_iter().map(|(_, d)| d).collect();
    manifests.push(platform_artifact);
    Index::new(
        manifests,
        BTreeMap::from([(
            FORMAT_VERSION_ANNOTATION.to_string(),
            BUNDLE_FORMAT_VERSION.to_string(),
        )]),
    )
}

/// The digests of blobs this run hashed (fetched, or found and rehashed): the final check need not
/// read them again.
pub(super) type Hashed = BTreeSet<String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_index_keeps_entries_and_records_origin() {
        let original = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:a","size":1},{"digest":"sha256:b","size":2}]}"#;
        let from = Digest::sha256_of(original);
        let out = filter_index(original, &[false, true], &from).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(v["manifests"][0]["digest"], "sha256:b");
        assert_eq!(v["annotations"][ORIGINAL_DIGEST_ANNOTATION], from.as_str());
        assert_eq!(out, filter_index(original, &[false, true], &from).unwrap());
    }

    #[test]
    fn platforms_kept() {
        let entry = |p: &str| {
            let mut d = Descriptor::new("x", &Digest::sha256_of(p.as_bytes()), 1);
            d.platform = Some(p.parse().unwrap());
            d
        };
        let entries = [entry("linux/amd64"), entry("linux/arm64")];
        assert_eq!(kept(&entries, &[]), [true, true]);
        assert_eq!(
            kept(&entries, &["linux/arm64".parse().unwrap()]),
            [false, true]
        );
    }
}
