//! What `render` is asked to render.

use super::Delivery;
use super::artifacts::Artifacts;
use super::image::RegistryPrefix as Mirror;
use crate::catalog::Catalog;
use crate::lock::Lock;

/// What to render.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The lock.
    pub lock: &'a Lock,
    /// The catalog (capabilities of components).
    pub catalog: &'a Catalog,
    /// Upstream's artifacts of the locked components.
    pub artifacts: &'a Artifacts,
    /// The mirror images are pulled from (`None`: upstream's registries).
    pub mirror: Option<&'a Mirror>,
    /// Render images the lock has no digest for by tag.
    pub allow_tags: bool,
    /// Rendered objects, or Flux objects that install the charts in the cluster.
    pub delivery: Delivery,
}
