//! The air-gapped bundle: export (plan + execute), verify, inspect. One verb per file; every on-disk
//! name of the bundle lives in [`format`](mod@format).

pub mod export;
pub mod format;
pub mod inspect;
pub mod layout;
pub mod mirror;
pub mod pack;
pub mod read;
pub mod verify;
