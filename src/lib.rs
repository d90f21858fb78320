//! `bundle` ships a compatibility-validated Kubernetes platform into clusters that may have no
//! internet: it solves the newest set of component versions that are really compatible with each
//! other from a catalog of published upstream facts, explains conflicts with their sources, and
//! writes the result as a lock file.
//!
//! Data flows `catalog` → `solver` → `lock`; `cli` is the only layer that prints.

pub mod airgap;
pub mod catalog;
pub mod cli;
pub mod input;
pub mod jobs;
pub mod lock;
pub mod matrix;
pub mod oci;
pub mod pin;
pub mod progress;
pub mod render;
pub mod signatures;
pub mod solver;
pub mod trace;
pub mod types;
pub mod upgrade;
