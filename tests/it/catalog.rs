//! Catalog loading, lint and output tests.
