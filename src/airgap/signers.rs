//! What a bundle carries to check upstream's signatures offline (`airgap/FORMAT.md`, section 14):
//! the Sigstore trust root the export used, byte for byte ([`TRUST_ROOT_MEDIA_TYPE`]), and the
//! signing policies of the bundle's components as the catalog resolved them for their locked
//! versions ([`POLICIES_MEDIA_TYPE`]), as layers of the platform artifact — blobs like every other,
//! rehashed by `verify`. `verify --signatures` needs nothing else: no catalog, no network, no flags.

use crate::airgap::format::is_platform_artifact;
use crate::airgap::scan::Scan;
use crate::oci::wire::{Index, Manifest};
use crate::signatures::TrustRoot;
use crate::types::SigningPolicy;

/// Media type of the trust root layer: Sigstore's own for `trusted_root.json`.
pub const TRUST_ROOT_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// Title of the trust root layer.
pub const TRUST_ROOT_TITLE: &str = "trusted_root.json";
/// Media type of the signing policies layer: `{"policies": [SigningPolicy…]}`.
pub const POLICIES_MEDIA_TYPE: &str = "application/vnd.bundle.signing-policies.v1+json";
/// Title of the signing policies layer.
pub const POLICIES_TITLE: &str = "signing-policies.json";

/// The signing policies layer's document.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PoliciesDoc {
    policies: Vec<SigningPolicy>,
}

/// What a bundle carries for signature checks.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    /// The trust root (absent: the export was given none).
    pub trust_root: Option<TrustRoot>,
    /// The signing policies of its components (empty: upstream declares nothing for them).
    pub policies: Vec<SigningPolicy>,
}

/// Reads them from a scanned bundle. A layer that is there but cannot be read is an error (the
/// message says which); a bundle without them carries nothing (older bundles, or nothing declared).
pub fn read(scan: &Scan) -> Result<Carried, String> {
    let Some(manifest) = scan
        .index
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Index>(b).ok())
        .and_then(|i| i.manifests.into_iter().find(is_platform_artifact))
        .and_then(|d| scan.document(&d.digest))
        .and_then(|b| serde_json::from_slice::<Manifest>(b).ok())
    else {
        return Ok(Carried::default());
    };
    let layer = |media_type: &str, title: &str| -> Result<Option<&[u8]>, String> {
        match manifest.layers.iter().find(|l| l.media_type == media_type) {
            None => Ok(None),
            Some(l) => scan.document(&l.digest).map(Some).ok_or_else(|| {
                format!("the {title} layer {} is missing or not readable", l.digest)
            }),
        }
    };
    let trust_root = layer(TRUST_ROOT_MEDIA_TYPE, TRUST_ROOT_TITLE)?
        .map(|b| TrustRoot::parse(b).map_err(|e| format!("the carried {TRUST_ROOT_TITLE}: {e}")))
        .transpose()?;
    let policies = layer(POLICIES_MEDIA_TYPE, POLICIES_TITLE)?
        .map(|b| {
            serde_json::from_slice::<PoliciesDoc>(b)
                .map_err(|e| format!("the carried {POLICIES_TITLE}: {e}"))
        })
        .transpose()?
        .unwrap_or_default()
        .policies;
    Ok(Carried {
        trust_root,
        policies,
    })
}

impl Carried {
    /// The layers to add to the platform artifact: (media type, bytes, title); none when there is
    /// nothing to carry.
    pub fn layers(&self) -> Vec<(&'static str, Vec<u8>, &'static str)> {
        let mut out = Vec::new();
        if let Some(t) = &self.trust_root {
            out.push((TRUST_ROOT_MEDIA_TYPE, t.bytes.clone(), TRUST_ROOT_TITLE));
        }
        if !self.policies.is_empty() {
            let doc = PoliciesDoc {
                policies: self.policies.clone(),
            };
            let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
            bytes.push(b'\n');
            out.push((POLICIES_MEDIA_TYPE, bytes, POLICIES_TITLE));
        }
        out
    }

    /// The policies covering an image of `components` (its [`crate::airgap::format::COMPONENT_ANNOTATION`])
    /// in `repository` (`REGISTRY/REPOSITORY`): a declaration limited to named repositories covers no other.
    pub fn for_image(&self, components: &[&str], repository: &str) -> Vec<SigningPolicy> {
        self.policies
            .iter()
            .filter(|p| {
                p.artifacts.images()
                    && components.contains(&p.component.as_str())
                    && p.covers(repository)
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Identity, SignedArtifacts, Signer};

    fn policy(repositories: &[&str]) -> SigningPolicy {
        SigningPolicy {
            component: "app".to_string(),
            version: "1.0.0".to_string(),
            artifacts: SignedArtifacts::Images,
            signers: vec![Signer::Keyless {
                identity: Identity::Exact("someone@example.invalid".to_string()),
                issuer: "https://issuer.example.invalid".to_string(),
            }],
            source: "https://example.invalid/signing".to_string(),
            repositories: repositories.iter().map(|r| r.to_string()).collect(),
            signature_repository: None,
        }
    }

    #[test]
    fn an_image_outside_a_declarations_repositories_is_not_judged_by_it() {
        let carried = Carried {
            trust_root: None,
            policies: vec![policy(&["ex.io/app/server"]), policy(&[])],
        };
        assert_eq!(carried.for_image(&["app"], "ex.io/app/server").len(), 2);
        assert_eq!(
            carried.for_image(&["app"], "ex.io/third-party/envoy").len(),
            1
        );
        assert_eq!(carried.for_image(&["other"], "ex.io/app/server").len(), 0);
    }
}
