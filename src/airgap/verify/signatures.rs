//! `bundle verify --signatures`: upstream's signatures carried in the bundle (cosign `.sig` entries
//! and Sigstore bundles among the OCI referrers, `airgap/FORMAT.md` section 12), checked from the bundle alone against the signers its components
//! declare, with the trust root it carries (section 14), and with any public keys given: see
//! [`crate::signatures`] for the checks. An image of a component that declares nothing is reported
//! unsigned, not refused; an image whose declared signers have no valid signature is a problem
//! naming it and what was expected.

use std::collections::{BTreeMap, BTreeSet};

use super::{Problem, Report};
use crate::airgap::format::{
    COMPONENT_ANNOTATION, EntryKind, REFERRER_OF_ANNOTATION, REFERRER_SCHEME_ANNOTATION,
    REFERRER_SUBJECT_ANNOTATION, ReferrerScheme, entry_name,
};
use crate::airgap::scan::Scan;
use crate::airgap::signers;
use crate::oci::media_types::REF_NAME_ANNOTATION;
use crate::oci::wire::{Descriptor, Index, Manifest};
use crate::signatures::bundle::is_bundle_media_type;
use crate::signatures::{BundleSignature, CosignSignature, Signers, judge_all, keys::PublicKey};
pub use crate::signatures::{
    CERTIFICATE_ANNOTATION, SIGNATURE_ANNOTATION, SIMPLE_SIGNING, Verdict,
};
use crate::types::ImageRef;

/// One image and how its signatures checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSignatures {
    /// The image (`org.opencontainers.image.ref.name`).
    pub image: String,
    /// How they checked out.
    pub outcome: Verdict,
}

/// The cosign signature layers carried for each image (by its name), each with its subject.
fn carried(scan: &Scan, index: &Index) -> BTreeMap<String, Vec<CosignSignature>> {
    let mut by_image: BTreeMap<String, Vec<CosignSignature>> = BTreeMap::new();
    for entry in &index.manifests {
        let cosign = entry
            .annotation(REFERRER_SCHEME_ANNOTATION)
            .and_then(ReferrerScheme::parse);
        let name = entry_name(entry).unwrap_or_default();
        if EntryKind::of(entry) != EntryKind::Referrers
            || cosign != Some(ReferrerScheme::Cosign)
            || !name.ends_with(".sig")
        {
            continue;
        }
        let of = entry.annotation(REFERRER_OF_ANNOTATION).unwrap_or_default();
        let subject = entry
            .annotation(REFERRER_SUBJECT_ANNOTATION)
            .unwrap_or_default();
        let tag = name.rsplit_once(':').map_or(name, |(_, t)| t);
        let Some(m) = scan
            .document(&entry.digest)
            .and_then(|d| serde_json::from_slice::<Manifest>(d).ok())
        else {
            continue;
        };
        for l in m.layers.iter().filter(|l| l.media_type == SIMPLE_SIGNING) {
            let payload = scan.document(&l.digest).map(<[u8]>::to_vec);
            let sig = CosignSignature::from_annotations(tag, subject, payload, |k| l.annotation(k));
            by_image.entry(of.to_string()).or_default().push(sig);
        }
    }
    by_image
}

/// The Sigstore bundles carried for each image (by its name): the bundle layers of the referrers
/// listed by each stored referrers index, each with its subject (a referrer whose own `subject`
/// names another manifest is left out).
fn carried_bundles(scan: &Scan, index: &Index) -> BTreeMap<String, Vec<BundleSignature>> {
    let mut by_image: BTreeMap<String, Vec<BundleSignature>> = BTreeMap::new();
    for entry in &index.manifests {
        let scheme = entry
            .annotation(REFERRER_SCHEME_ANNOTATION)
            .and_then(ReferrerScheme::parse);
        if EntryKind::of(entry) != EntryKind::Referrers || scheme != Some(ReferrerScheme::Referrers)
        {
            continue;
        }
        let of = entry.annotation(REFERRER_OF_ANNOTATION).unwrap_or_default();
        let subject = entry
            .annotation(REFERRER_SUBJECT_ANNOTATION)
            .unwrap_or_default();
        let Some(listed) = scan
            .document(&entry.digest)
            .and_then(|d| serde_json::from_slice::<Index>(d).ok())
        else {
            continue;
        };
        for referrer in &listed.manifests {
            let Some(m) = scan
                .document(&referrer.digest)
                .and_then(|d| serde_json::from_slice::<Manifest>(d).ok())
            else {
                continue;
            };
            if m.subject.as_ref().is_some_and(|s| s.digest != subject) {
                continue;
            }
            for l in m
                .layers
                .iter()
                .filter(|l| is_bundle_media_type(&l.media_type))
            {
                let bytes = scan.document(&l.digest).map(<[u8]>::to_vec);
                let b = BundleSignature::new(&referrer.digest, subject, bytes);
                by_image.entry(of.to_string()).or_default().push(b);
            }
        }
    }
    by_image
}

/// The digests a signature of `entry`'s image may name: its own and, for an index, its manifests'.
fn digests_of(scan: &Scan, entry: &Descriptor) -> BTreeSet<String> {
    let mut out = BTreeSet::from([entry.digest.clone()]);
    if let Some(index) = scan
        .document(&entry.digest)
        .and_then(|d| serde_json::from_slice::<Index>(d).ok())
    {
        out.extend(index.manifests.into_iter().map(|m| m.digest));
    }
    out
}

/// Checks every image's cosign signatures against its components' declared signers (carried in
/// the bundle) and `keys`; failures become problems of `report`.
pub fn check(scan: &Scan, keys: &[PublicKey], report: &mut Report) -> Vec<ImageSignatures> {
    let Some(index) = scan
        .index
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Index>(b).ok())
    else {
        return Vec::new();
    };
    let material = match signers::read(scan) {
        Ok(m) => m,
        Err(message) => {
            report.problems.push(Problem {
                subject: "platform artifact".to_string(),
                message,
            });
            return Vec::new();
        }
    };
    let mut by_image = carried(scan, &index);
    let mut bundles_by_image = carried_bundles(scan, &index);
    let mut out = Vec::new();
    for entry in &index.manifests {
        if EntryKind::of(entry) != EntryKind::Image {
            continue;
        }
        let Some(image) = entry.annotation(REF_NAME_ANNOTATION) else {
            continue;
        };
        let components: Vec<&str> = entry
            .annotation(COMPONENT_ANNOTATION)
            .map(|c| c.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let repository = ImageRef::parse(image).map(|r| r.name()).unwrap_or_default();
        let policies = material.for_image(&components, &repository);
        let own = digests_of(scan, entry);
        let mut sigs = by_image.remove(image).unwrap_or_default();
        // A signature of another image's digest never counts for this one.
        sigs.retain(|s| own.contains(&s.subject));
        let mut bundles = bundles_by_image.remove(image).unwrap_or_default();
        bundles.retain(|b| own.contains(&b.subject));
        let outcome = judge_all(
            &sigs,
            &bundles,
            Signers {
                policies: &policies,
                keys,
                trust: material.trust_root.as_ref(),
            },
        );
        if let Verdict::Failed { expected, why } = &outcome {
            report.problems.push(Problem {
                subject: image.to_string(),
                message: format!("no valid signature (expected {expected}): {why}"),
            });
        }
        out.push(ImageSignatures {
            image: image.to_string(),
            outcome,
        });
    }
    out
}
