//! Validated value types shared by every layer, parsed once where data enters: versions, ranges,
//! dates, content digests, image references, chart coordinates, registry prefixes, wanted components, declared
//! signers.

mod chart_ref;
mod date;
mod digest;
pub mod grammar;
mod image_ref;
mod registry_prefix;
mod signing;
mod version;
mod with_spec;
mod yaml_error;

pub use chart_ref::{ChartRef, ChartRefError, tag_of};
pub use date::{Date, DateError};
pub use digest::{Algorithm, Digest, DigestError, Sha256Hasher};
pub use grammar::ReferenceError;
pub use image_ref::{DOCKER_HUB, ImageRef, ImageRefError, normalize_registry};
pub use registry_prefix::{RegistryPrefix, RegistryPrefixError};
pub use signing::{
    Identity, PublicKeySource, SignatureDigest, SignedArtifacts, Signer, SigningPolicy,
};
pub use version::{Version, VersionError, VersionReq};
pub use with_spec::{WithSpec, WithSpecError};
pub use yaml_error::yaml_error;
