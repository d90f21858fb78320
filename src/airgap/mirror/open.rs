//! The spool directory of a streamed archive (`.tar.zst`, split): where the blobs that must be
//! pushed are written, and only those (see `source.rs`); it lives as long as the run.
//!
//! The work directory has a fixed name, `.<name>.mirror.d` next to the archive (or
//! `bundle-mirror-<hash of the archive's path>.d` under the temporary directory when the archive's
//! directory is not writable), held with a lock file beside it: a run that was killed leaves it
//! behind, and the next run of the same bundle finds it and removes it before spooling again, so
//! at most one spool ever exists.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use super::MirrorError;
use crate::types::Digest;

/// A directory holding the blobs of an archive bundle to push, and the lock that says a run uses it; both
/// removed on drop.
#[derive(Debug)]
pub(super) struct Workdir {
    pub(super) path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// The work directory's path and its lock file's path, for a candidate parent directory.
fn names(parent: &Path, leaf: &str) -> (PathBuf, PathBuf) {
    (
        parent.join(format!("{leaf}.d")),
        parent.join(format!("{leaf}.lock")),
    )
}

/// Takes the work directory for `archive`: the first place where its lock file can be created
/// (beside the archive, else under the temporary directory); a directory left there by a killed
/// run is removed. Another run mirroring the same archive holds the lock: that is refused.
pub(super) fn workdir_for(archive: &Path) -> Result<Workdir, MirrorError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".to_string());
    let beside = archive.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let absolute = std::path::absolute(archive).unwrap_or_else(|_| archive.to_path_buf());
    let hashed = Digest::sha256_of(absolute.to_string_lossy().as_bytes());
    let mut candidates = Vec::new();
    if let Some(dir) = beside {
        candidates.push(names(dir, &format!(".{name}.mirror")));
    }
    candidates.push(names(
        &std::env::temp_dir(),
        &format!("bundle-mirror-{}", &hashed.hex()[..16]),
    ));
    let mut last = None;
    for (dir, lock_path) in candidates {
        let lock = match File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
        {
            Ok(f) => f,
            Err(e) => {
                last = Some((lock_path, e));
                continue;
            }
        };
        // `File::try_lock` is Rust 1.89; the crate already needs 1.88 (let chains), and the toolchain
        // it is built with is newer than both.
        #[allow(clippy::incompatible_msrv)]
        let locked = lock.try_lock();
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(MirrorError::Bundle {
                    path: archive.display().to_string(),
                    message: format!(
                        "another `bundle mirror` of this bundle is running (it holds {}); \
                         wait for it to finish",
                        lock_path.display()
                    ),
                });
            }
            Err(TryLockError::Error(e)) => {
                last = Some((lock_path, e));
                continue;
            }
        }
        // Whatever is there was left by a run that was killed: remove it.
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                last = Some((dir, e));
                continue;
            }
        }
        return Ok(Workdir {
            path: dir,
            lock_path,
            _lock: lock,
        });
    }
    let (path, e) = last.unwrap_or_else(|| {
        (
            std::env::temp_dir(),
            std::io::Error::other("no place to write to"),
        )
    });
    Err(MirrorError::WorkDir {
        path: path.display().to_string(),
        message: format!("cannot create a directory for the blobs to push: {e}"),
    })
}
