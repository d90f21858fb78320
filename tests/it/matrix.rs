//! Matrix tests.
