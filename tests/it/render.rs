//! `bundle render`.
