//! The catalog compiled into the binary (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/embedded_catalog.rs"));

/// The embedded files: (path relative to the catalog root, content).
pub(super) fn files() -> Vec<(String, String)> {
    EMBEDDED_FILES
        .iter()
        .map(|(p, t)| ((*p).to_string(), (*t).to_string()))
        .collect()
}
