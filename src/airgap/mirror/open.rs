//! A bundle as a directory to push from: a directory as it is, an archive extracted next to it (or
//! under the temporary directory when its directory is not writable) into a work directory that
//! lives as long as the plan made from it.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::MirrorError;
use crate::airgap::extract::{ExtractError, extract};
use crate::airgap::verify::Problem;

/// A directory holding an extracted archive bundle; removed on drop.
#[derive(Debug)]
pub(super) struct Workdir {
    pub(super) path: PathBuf,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A bundle ready to be read from files.
pub(super) struct Opened {
    pub(super) root: PathBuf,
    pub(super) workdir: Option<Arc<Workdir>>,
}

/// Where an archive is extracted: `.<name>.mirror-<pid>.d` next to it when that directory is
/// writable (the same disk the bundle was sized for), otherwise under the temporary directory.
fn workdir_for(archive: &Path) -> Result<PathBuf, MirrorError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".to_string());
    let leaf = format!(".{name}.mirror-{}.d", std::process::id());
    let beside = archive
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .map(|p| p.join(&leaf));
    let mut last = None;
    for candidate in beside.into_iter().chain([std::env::temp_dir().join(&leaf)]) {
        // Probe: the directory must be creatable (and must not exist yet).
        match std::fs::create_dir(&candidate) {
            Ok(()) => {
                let _ = std::fs::remove_dir(&candidate);
                return Ok(candidate);
            }
            Err(e) => last = Some((candidate, e)),
        }
    }
    let (path, e) = last.unwrap_or_else(|| {
        (
            std::env::temp_dir(),
            std::io::Error::other("no place to extract to"),
        )
    });
    Err(MirrorError::Bundle {
        path: path.display().to_string(),
        message: format!("cannot create a directory to extract the bundle into: {e}"),
    })
}

/// The bundle as a directory: a directory as it is, an archive extracted into a work directory.
pub(super) fn open_bundle(path: &Path) -> Result<Opened, MirrorError> {
    if path.is_dir() {
        return Ok(Opened {
            root: path.to_path_buf(),
            workdir: None,
        });
    }
    let dir = workdir_for(path)?;
    let guard = Workdir { path: dir.clone() };
    extract(path, &dir).map_err(|e| extract_error(path, e))?;
    Ok(Opened {
        root: dir,
        workdir: Some(Arc::new(guard)),
    })
}

fn extract_error(bundle: &Path, e: ExtractError) -> MirrorError {
    let corrupt = |subject: String, message: String| MirrorError::Corrupt {
        path: bundle.display().to_string(),
        problems: vec![Problem { subject, message }],
    };
    match e {
        ExtractError::Read(e) => MirrorError::Unreadable(e.into()),
        ExtractError::Refused { entry, reason, .. } => corrupt(entry, format!("refused: {reason}")),
        ExtractError::Corrupt { entry, message, .. } => corrupt(entry, message),
        ExtractError::Write { path, source } => MirrorError::Bundle {
            path,
            message: format!("extracting the bundle: {source}"),
        },
    }
}

/// Reads a small file whole, refusing more than `limit` bytes.
pub(super) fn read_small(path: &Path, limit: u64) -> Result<Vec<u8>, MirrorError> {
    let err = |message: String| MirrorError::Bundle {
        path: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(err(format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}
