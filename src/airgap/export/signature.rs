//! The bundle's signature file (`--sign-key`), written next to `index.json` once the index is;
//! removed first, so that a re-run never leaves a signature of an earlier index.

use crate::airgap::signing::{self, PrivateKey, SIGNATURE_FILE};
use crate::oci::{Layout, LayoutError};

/// Removes a signature file left by an earlier run.
pub(super) fn remove(layout: &Layout) -> Result<(), LayoutError> {
    let path = layout.root().join(SIGNATURE_FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LayoutError::Io { path, source: e })
        }
        _ => Ok(()),
    }
}

/// Signs `index` (the bytes of `index.json`) with `key`, when there is one.
pub(super) fn write(
    layout: &Layout,
    key: Option<&PrivateKey>,
    index: &[u8],
) -> Result<(), LayoutError> {
    let Some(key) = key else { return Ok(()) };
    let path = layout.root().join(SIGNATURE_FILE);
    std::fs::write(&path, signing::sign(key, index))
        .map_err(|e| LayoutError::Io { path, source: e })
}
