//! `bundle pin` against a real registry process.
