//! Integration tests: one binary, one module per concern; the harness (real registry, token service,
//! fault proxy, containerd, synthetic images, temporary directories) is in `support/`.

mod artifacts;
mod catalog;
mod catalog_facts;
mod catalog_signing;
mod charts;
mod compile;
mod containerd;
mod delta;
mod docs;
mod e2e;
mod explain;
mod export;
mod export_plan;
mod faults;
mod faults_input;
mod keyless;
mod matrix;
mod messages;
mod mirror;
mod oracle;
mod parts;
mod pin;
mod plan;
mod progress;
mod referrers;
mod reliability;
mod render;
mod shell;
mod signing;
mod signing_keys;
mod sigstore_bundle;
mod solve;
mod solver_runs;
mod support;
mod verify;
