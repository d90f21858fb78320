//! Images: tag → manifest digest (for a multi-platform image, its index's digest).

use std::collections::BTreeMap;

use super::PinError;
use crate::jobs::{Flow, Runner};
use crate::lock::Lock;
use crate::oci::{PullError, Registries};
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::types::{Digest, ImageRef, Version};

/// One distinct image of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The image, as the lock names it (tag, no digest).
    pub reference: ImageRef,
    /// The components that use it, with their versions, in lock order.
    pub users: Vec<(String, Version)>,
    /// The digest the lock holds for it, if any.
    pub locked: Option<Digest>,
}

impl Wanted {
    /// The names of the components that use it.
    pub fn component_names(&self) -> Vec<String> {
        self.users.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// Every distinct image of `lock`, sorted by reference; refused when one image is locked with two
/// digests.
pub fn images(lock: &Lock) -> Result<Vec<Wanted>, PinError> {
    let mut by_ref: BTreeMap<String, Wanted> = BTreeMap::new();
    for c in &lock.components {
        for i in &c.images {
            let w = by_ref
                .entry(i.reference.to_string())
                .or_insert_with(|| Wanted {
                    reference: i.reference.clone(),
                    users: Vec::new(),
                    locked: None,
                });
            if !w.users.iter().any(|(n, _)| n == &c.name) {
                w.users.push((c.name.clone(), c.version.clone()));
            }
            match (&w.locked, &i.digest) {
                (Some(a), Some(b)) if a != b => {
                    return Err(PinError::TwoDigests {
                        reference: i.reference.to_string(),
                        first: a.to_string(),
                        second: b.to_string(),
                    });
                }
                (None, Some(b)) => w.locked = Some(b.clone()),
                _ => {}
            }
        }
    }
    Ok(by_ref.into_values().collect())
}

/// What the registry said about one image.
#[derive(Debug)]
pub struct Resolved {
    /// The image.
    pub reference: ImageRef,
    /// Where it was asked (after mirroring; the reference itself without a mirror).
    pub fetched: String,
    /// The digest its tag points to now, or why there is none.
    pub result: Result<Digest, PullError>,
}

/// Resolves every reference to the digest its tag points to now, on `runner`; `progress` hears of
/// each result ([`Phase::Resolve`]). The results come back in the order of `references`.
pub fn resolve(
    registries: &Registries,
    runner: &Runner,
    references: &[ImageRef],
    progress: &dyn Progress,
) -> Vec<Resolved> {
    let report = PhaseReport::start(progress, Phase::Resolve, references.len(), 0);
    let mut slots: Vec<Option<Resolved>> = references.iter().map(|_| None).collect();
    let jobs: Vec<(usize, ImageRef)> = references.iter().cloned().enumerate().collect();
    runner.run(
        jobs,
        |(i, reference)| {
            report.started(&reference.to_string(), None);
            let source = registries.source(&reference);
            async move {
                let (fetched, result) = match source {
                    Ok(s) => (s.fetched.clone(), s.resolve().await),
                    Err(e) => (reference.to_string(), Err(PullError::Registry(e))),
                };
                (
                    i,
                    Resolved {
                        reference,
                        fetched,
                        result,
                    },
                )
            }
        },
        |(i, resolved)| {
            let outcome = match &resolved.result {
                Ok(d) => Outcome::Resolved(d),
                Err(_) => Outcome::Failed,
            };
            report.finished(&resolved.reference.to_string(), outcome, 0, 0);
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(resolved);
            }
            Flow::Continue
        },
    );
    report.end();
    slots.into_iter().flatten().collect()
}

/// `lock` with the digest of every image named in `digests` set to it.
pub fn apply(lock: &Lock, digests: &BTreeMap<ImageRef, Digest>) -> Lock {
    let mut pinned = lock.clone();
    for c in &mut pinned.components {
        for i in &mut c.images {
            if let Some(d) = digests.get(&i.reference) {
                i.digest = Some(d.clone());
            }
        }
    }
    pinned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{LockedComponent, LockedImage, LockedRequest};
    use crate::types::VersionReq;

    fn lock(images: &[(&str, &str, Option<Digest>)]) -> Lock {
        Lock {
            catalog: String::new(),
            request: LockedRequest {
                kubernetes: VersionReq::any(),
                with: Vec::new(),
                without: Vec::new(),
                allow_eol: false,
                allow_untested: false,
                as_of: None,
            },
            kubernetes: Version::new(1, 35, 0),
            components: images
                .iter()
                .map(|(name, r, d)| LockedComponent {
                    name: name.to_string(),
                    version: Version::new(1, 0, 0),
                    untested: false,
                    images: vec![LockedImage {
                        reference: ImageRef::parse(r).unwrap(),
                        digest: d.clone(),
                    }],
                    charts: Vec::new(),
                    manifests: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn distinct_images_with_their_users_and_one_digest() {
        let d = Digest::sha256_of(b"a");
        let l = lock(&[
            ("a", "docker.io/traefik:v3", None),
            ("b", "docker.io/library/traefik:v3", Some(d.clone())),
            ("c", "quay.io/x/y:1", None),
        ]);
        let wanted = images(&l).unwrap();
        assert_eq!(wanted.len(), 2);
        assert_eq!(
            wanted[0].reference.to_string(),
            "docker.io/library/traefik:v3"
        );
        assert_eq!(wanted[0].component_names(), ["a", "b"]);
        assert_eq!(wanted[0].locked, Some(d.clone()));

        let other = Digest::sha256_of(b"b");
        let two = lock(&[
            ("a", "quay.io/x/y:1", Some(d.clone())),
            ("b", "quay.io/x/y:1", Some(other.clone())),
        ]);
        assert!(matches!(images(&two), Err(PinError::TwoDigests { .. })));

        let pinned = apply(
            &l,
            &BTreeMap::from([(wanted[1].reference.clone(), other.clone())]),
        );
        assert_eq!(pinned.components[2].images[0].digest, Some(other));
        assert_eq!(pinned.components[0].images[0].digest, None);
    }
}
