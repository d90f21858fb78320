//! Solve tests.
