//! The air-gapped bundle: `export` writes it, `verify` checks it, `inspect` shows it, `mirror` pushes
//! it into a registry. One verb per module; `export` and `mirror` are each a plan (what to fetch or
//! push, worked out first) carried out on the job runner. Every name the bundle adds to an OCI image
//! layout lives in [`format`]; the format is described in `airgap/FORMAT.md`.
//!
//! Reading a bundle (directory, `.tar` or `.tar.zst`) always goes through [`archive`] (the safe
//! walk), then [`scan`] (hash everything, keep the documents); `mirror` reads only the structure
//! first, then only the blobs it pushes (a `.tar` in place, never unpacked).

pub mod archive;
pub mod carried;
pub mod delta;
pub mod export;
pub mod format;
pub mod inspect;
pub mod mirror;
pub mod pack;
pub mod parts;
pub mod scan;
pub mod signers;
pub mod signing;
pub mod steps;
pub mod verify;
