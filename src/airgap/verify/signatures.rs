//! `bundle verify --signatures`: upstream's cosign signatures carried in the bundle (`.sig` referrers,
//! `airgap/FORMAT.md` section 12), checked from the bundle alone with the public keys given: each
//! simple-signing layer must name the image's digest (its subject) and its signature must verify with
//! one of the keys. An image with no signature is reported unsigned, not refused; an image whose
//! signatures all fail is a problem naming it. Keyless signatures (a certificate in the layer) are
//! reported, not checked: that needs the Sigstore trust root, which this build does not carry.

use super::{Problem, Report};
use crate::airgap::format::{
    EntryKind, REFERRER_SCHEME_ANNOTATION, REFERRER_SUBJECT_ANNOTATION, ReferrerScheme, entry_name,
};
use crate::airgap::scan::Scan;
use crate::airgap::signing::{self, PublicKey};
use crate::oci::media_types::REF_NAME_ANNOTATION;
use crate::oci::wire::{Index, Manifest};

pub use crate::signatures::{CERTIFICATE_ANNOTATION, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};

/// How one image's signatures checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A signature naming the image verifies with the key of this id.
    Verified(String),
    /// No cosign signature is carried for it.
    Unsigned,
    /// Only keyless signatures, not checked here.
    Keyless,
    /// Signatures are carried and none holds: why.
    Failed(String),
}

/// One image and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSignatures {
    /// The image (`org.opencontainers.image.ref.name`).
    pub image: String,
    /// How they checked out.
    pub outcome: Outcome,
}

/// One simple-signing layer, read.
struct Layer {
    tag: String,
    subject: String,
    payload: Option<Vec<u8>>,
    signature: Option<String>,
    keyless: bool,
}

/// Checks every image's cosign signatures with `keys`; failures become problems of `report`.
pub fn check(scan: &Scan, keys: &[PublicKey], report: &mut Report) -> Vec<ImageSignatures> {
    let Some(index) = scan
        .index
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Index>(b).ok())
    else {
        return Vec::new();
    };
    let mut by_image: std::collections::BTreeMap<String, Vec<Layer>> = Default::default();
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
        let of = entry
            .annotation(crate::airgap::format::REFERRER_OF_ANNOTATION)
            .unwrap_or_default();
        let subject = entry
            .annotation(REFERRER_SUBJECT_ANNOTATION)
            .unwrap_or_default();
        let tag = name.rsplit_once(':').map_or(name, |(_, t)| t).to_string();
        let Some(m) = scan
            .document(&entry.digest)
            .and_then(|d| serde_json::from_slice::<Manifest>(d).ok())
        else {
            continue;
        };
        for l in m.layers.iter().filter(|l| l.media_type == SIMPLE_SIGNING) {
            by_image.entry(of.to_string()).or_default().push(Layer {
                tag: tag.clone(),
                subject: subject.to_string(),
                payload: scan.document(&l.digest).map(<[u8]>::to_vec),
                signature: l.annotation(SIGNATURE_ANNOTATION).map(str::to_string),
                keyless: l.annotation(CERTIFICATE_ANNOTATION).is_some(),
            });
        }
    }
    let mut out = Vec::new();
    for entry in &index.manifests {
        if EntryKind::of(entry) != EntryKind::Image {
            continue;
        }
        let Some(image) = entry.annotation(REF_NAME_ANNOTATION) else {
            continue;
        };
        let outcome = match by_image.get(image) {
            None => Outcome::Unsigned,
            Some(layers) => judge(layers, keys),
        };
        if let Outcome::Failed(why) = &outcome {
            report.problems.push(Problem {
                subject: image.to_string(),
                message: why.clone(),
            });
        }
        out.push(ImageSignatures {
            image: image.to_string(),
            outcome,
        });
    }
    out
}

/// The outcome of an image's signature layers.
fn judge(layers: &[Layer], keys: &[PublicKey]) -> Outcome {
    let mut why = Vec::new();
    for l in layers {
        if l.keyless {
            continue;
        }
        let (Some(payload), Some(signature)) = (&l.payload, &l.signature) else {
            why.push(format!(
                "{}: a signature layer without its payload or signature",
                l.tag
            ));
            continue;
        };
        let named = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| {
                v["critical"]["image"]["docker-manifest-digest"]
                    .as_str()
                    .map(str::to_string)
            });
        if named.as_deref() != Some(l.subject.as_str()) {
            why.push(format!(
                "{}: signs {}, not this image's {}",
                l.tag,
                named.as_deref().unwrap_or("nothing"),
                l.subject
            ));
            continue;
        }
        match keys
            .iter()
            .find(|k| signing::verify_cosign(k, payload, signature))
        {
            Some(k) => return Outcome::Verified(k.id()),
            None => why.push(format!(
                "{}: the signature does not verify with the key(s) given (sha256 {})",
                l.tag,
                keys.iter()
                    .map(PublicKey::id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    if why.is_empty() {
        Outcome::Keyless
    } else {
        Outcome::Failed(format!("no valid signature: {}", why.join("; ")))
    }
}
