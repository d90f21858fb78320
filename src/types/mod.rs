//! Validated value types shared by every layer: versions, ranges, dates, image references.

mod date;
mod digest;
mod image_ref;
mod version;

pub use date::{Date, DateError};
pub use digest::is_sha256_digest;
pub use image_ref::{DOCKER_HUB, ImageRef, ImageRefError, normalize_registry};
pub use version::{Version, VersionError, VersionReq};
