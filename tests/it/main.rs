//! Integration tests: one binary, one module per concern.

mod bundle;
mod catalog;
mod common;
mod e2e;
mod matrix;
mod oracle;
mod pin;
mod registry;
mod render;
mod solve;
