//! Integration tests: one binary, one module per concern.

mod bundle;
mod catalog;
mod catalog_facts;
mod common;
mod e2e;
mod export;
mod faultproxy;
mod matrix;
mod mirror;
mod oracle;
mod pin;
mod registry;
mod render;
mod solve;
mod tokenserver;
mod verify;
