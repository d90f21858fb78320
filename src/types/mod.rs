//! Validated value types shared by every layer: versions, ranges, dates.

mod date;
mod version;

pub use date::{Date, DateError};
pub use version::{Version, VersionError, VersionReq};
