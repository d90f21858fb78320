//! The air-gapped bundle: export (plan + execute), verify, inspect. One verb per file; every on-disk
//! name of the bundle lives in [`format`].

pub mod format;
pub mod verify;
