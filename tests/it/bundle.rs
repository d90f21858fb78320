//! `bundle export`, `verify` and `inspect` against a real registry.
