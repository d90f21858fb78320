//! [`extract`]: the one reader that writes. It unpacks an archive bundle into a new directory (for
//! `mirror`, which pushes blobs from files), under the walk's refusal rules, hashing every blob.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;

use super::archive::{
    ChunkError, Entry, EntryNote, Place, ReadError, detect, for_each_chunk, read_small, walk,
};
use super::format::{Form, MAX_INDEX_SIZE};
use crate::oci::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE};
use crate::types::{Digest, Sha256Hasher};

/// Why an archive bundle could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The archive could not be opened or is not a bundle.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// An entry breaks the archive rules (absolute path, `..`, link, device): nothing more is written.
    #[error("{archive}: entry `{entry}` refused: {reason}")]
    Refused {
        /// The archive.
        archive: String,
        /// The entry's path as stored.
        entry: String,
        /// Why.
        reason: String,
    },
    /// An entry is truncated, too large for what it is, or does not match its digest.
    #[error("{archive}: entry `{entry}`: {message}")]
    Corrupt {
        /// The archive.
        archive: String,
        /// The entry's path as stored.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// Writing under the target directory failed.
    #[error("{path}: {source}")]
    Write {
        /// The file or directory written.
        path: String,
        /// The cause.
        source: io::Error,
    },
}

/// What [`extract`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Files written (`oci-layout`, `index.json` and the blobs).
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
}

fn write_err(path: &Path, source: io::Error) -> ExtractError {
    ExtractError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// Copies `r` into a new file at `dest` (which must not exist), hashing on the way; returns the
/// `sha256:` digest and the size. Never holds more than one buffer in memory.
fn copy_hashed(r: &mut dyn Read, dest: &Path) -> Result<(Digest, u64), ExtractError> {
    use std::io::Write as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|e| write_err(dest, e))?;
    let mut out = io::BufWriter::with_capacity(64 * 1024, file);
    let mut hasher = Sha256Hasher::new();
    let size = for_each_chunk(r, &mut |chunk| {
        hasher.update(chunk);
        out.write_all(chunk)
    })
    .map_err(|e| match e {
        ChunkError::Read(e) => ExtractError::Corrupt {
            archive: String::new(),
            entry: String::new(),
            message: format!("cannot be read to its end: {e}"),
        },
        ChunkError::Sink(e) => write_err(dest, e),
    })?;
    out.flush().map_err(|e| write_err(dest, e))?;
    Ok((hasher.finish(), size))
}

/// Extracts the archive bundle at `archive` (`.tar` or `.tar.zst`, told apart by content) into the
/// directory `target`, which is created and must not exist yet.
///
/// The same rules as [`scan`]: an entry with an absolute path or a `..` component, or that is a link,
/// a device or a fifo, stops the extraction with [`ExtractError::Refused`]. Only the files of an OCI
/// layout are written (`oci-layout`, `index.json`, `blobs/sha256/<64 hex digits>`), at paths built
/// from those names, never from the entry's path, so nothing is written outside `target`; other
/// entries are skipped, as are later copies of a path. Blobs stream to disk (never whole in memory),
/// hashed on the way: one whose content does not match its name stops the extraction
/// ([`ExtractError::Corrupt`]). On error, what was written stays in `target` for the caller to remove.
pub fn extract(archive: &Path, target: &Path) -> Result<Extracted, ExtractError> {
    extract_except(archive, target, &BTreeSet::new())
}

/// [`extract`], leaving out the blobs named in `skip` (`sha256:<hex>`: the orphans `verify` found,
/// which nothing pushes). Their bytes are read past, never written.
pub fn extract_except(
    archive: &Path,
    target: &Path,
    skip: &BTreeSet<String>,
) -> Result<Extracted, ExtractError> {
    let container = detect(archive)?;
    if container == Form::Directory {
        return Err(ReadError::NotABundle {
            path: archive.display().to_string(),
            message: "a directory, not an archive: nothing to extract".to_string(),
        }
        .into());
    }
    std::fs::create_dir(target).map_err(|e| write_err(target, e))?;
    let blobs_dir = target.join(BLOBS_DIR);
    std::fs::create_dir_all(&blobs_dir).map_err(|e| write_err(&blobs_dir, e))?;
    let name = archive.display().to_string();
    let mut done = Extracted::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut failed: Option<ExtractError> = None;
    let mut notes = Vec::new();
    {
        let mut visit = |e: Entry<'_>, notes: &mut Vec<EntryNote>| {
            if failed.is_some() {
                return;
            }
            if let Some(EntryNote::Refused { entry, reason }) = notes
                .iter()
                .find(|n| matches!(n, EntryNote::Refused { .. }))
            {
                failed = Some(ExtractError::Refused {
                    archive: name.clone(),
                    entry: entry.clone(),
                    reason: reason.clone(),
                });
                return;
            }
            let corrupt = |message: String| ExtractError::Corrupt {
                archive: name.clone(),
                entry: e.path.clone(),
                message,
            };
            let (dest, key) = match &e.place {
                Place::Layout => (target.join(OCI_LAYOUT_FILE), OCI_LAYOUT_FILE.to_string()),
                Place::Index => (target.join(INDEX_FILE), INDEX_FILE.to_string()),
                Place::Blob(hexname) if skip.contains(&format!("sha256:{hexname}")) => return,
                Place::Blob(hexname) if Digest::from_sha256_hex(hexname).is_ok() => {
                    (blobs_dir.join(hexname), format!("{BLOBS_DIR}/{hexname}"))
                }
                // Misnamed blobs, files the layout does not define: not part of the bundle.
                _ => return,
            };
            if !seen.insert(key) {
                return;
            }
            let result = match &e.place {
                Place::Layout | Place::Index => match read_small(e.reader, MAX_INDEX_SIZE) {
                    Ok(Some(bytes)) => std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&dest)
                        .and_then(|mut f| io::Write::write_all(&mut f, &bytes))
                        .map(|()| bytes.len() as u64)
                        .map_err(|err| write_err(&dest, err)),
                    Ok(None) => Err(corrupt(format!("larger than {MAX_INDEX_SIZE} bytes"))),
                    Err(err) => Err(corrupt(format!("cannot be read to its end: {err}"))),
                },
                Place::Blob(hexname) => match copy_hashed(e.reader, &dest) {
                    Ok((digest, _)) if digest.hex() != hexname => Err(corrupt(format!(
                        "its content has digest {digest}, not the one its name says"
                    ))),
                    Ok((_, size)) if size != e.size => Err(corrupt(format!(
                        "{size} bytes read, the archive header says {}",
                        e.size
                    ))),
                    Ok((_, size)) => Ok(size),
                    Err(ExtractError::Corrupt { message, .. }) => Err(corrupt(message)),
                    Err(other) => Err(other),
                },
                _ => return,
            };
            match result {
                Ok(n) => {
                    done.files += 1;
                    done.bytes += n;
                }
                Err(err) => failed = Some(err),
            }
        };
        walk(archive, container, &mut notes, &mut visit)?;
    }
    match after_walk(&name, &notes, failed, &seen) {
        Some(err) => Err(err),
        None => Ok(done),
    }
}

/// What stops an extraction once the walk is over, in this order: a part that does not match its
/// parts file (it explains whatever else went wrong), the first failure of the walk, a refused or
/// unreadable entry, no `index.json` or `oci-layout`.
fn after_walk(
    name: &str,
    notes: &[EntryNote],
    failed: Option<ExtractError>,
    seen: &BTreeSet<String>,
) -> Option<ExtractError> {
    if let Some(EntryNote::BadPart { part, message }) = notes
        .iter()
        .find(|n| matches!(n, EntryNote::BadPart { .. }))
    {
        return Some(ExtractError::Corrupt {
            archive: name.to_string(),
            entry: part.clone(),
            message: message.clone(),
        });
    }
    if failed.is_some() {
        return failed;
    }
    for note in notes {
        match note {
            EntryNote::Refused { entry, reason } => {
                return Some(ExtractError::Refused {
                    archive: name.to_string(),
                    entry: entry.clone(),
                    reason: reason.clone(),
                });
            }
            EntryNote::Unreadable { entry, message } => {
                return Some(ExtractError::Corrupt {
                    archive: name.to_string(),
                    entry: entry.clone(),
                    message: message.clone(),
                });
            }
            _ => {}
        }
    }
    if !seen.contains(INDEX_FILE) || !seen.contains(OCI_LAYOUT_FILE) {
        return Some(
            ReadError::NotABundle {
                path: name.to_string(),
                message: format!(
                    "not an OCI image layout: no `{OCI_LAYOUT_FILE}` or no `{INDEX_FILE}`"
                ),
            }
            .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airgap::archive::tests::tar_of;

    #[test]
    fn extracts_a_layout_and_refuses_what_could_escape() {
        let blob = b"{\"a\":1}";
        let digest = Digest::sha256_of(blob);
        let blob_name = format!("blobs/sha256/{}", digest.hex());
        let good = [
            ("oci-layout", tar::EntryType::Regular, &b"{}"[..]),
            ("index.json", tar::EntryType::Regular, &b"{}"[..]),
            ("blobs/", tar::EntryType::Directory, &b""[..]),
            (blob_name.as_str(), tar::EntryType::Regular, &blob[..]),
            ("README", tar::EntryType::Regular, &b"skipped"[..]),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let archive = dir.join("b.tar");
        std::fs::write(&archive, tar_of(&good)).unwrap();
        let out = dir.join("out");
        let done = extract(&archive, &out).unwrap();
        assert_eq!(done.files, 3);
        assert_eq!(std::fs::read(out.join(&blob_name)).unwrap(), blob);
        assert!(!out.join("README").exists());
        // The target must be new.
        assert!(matches!(
            extract(&archive, &out),
            Err(ExtractError::Write { .. })
        ));

        for (bad, kind) in [
            ("../escape", tar::EntryType::Regular),
            ("/abs", tar::EntryType::Regular),
            ("blobs/sha256/x", tar::EntryType::Symlink),
            ("dev", tar::EntryType::Char),
        ] {
            let mut entries = good.to_vec();
            entries.insert(2, (bad, kind, &b""[..]));
            std::fs::write(&archive, tar_of(&entries)).unwrap();
            let out = dir.join(format!("out-{}", bad.len()));
            let r = extract(&archive, &out);
            assert!(
                matches!(r, Err(ExtractError::Refused { .. })),
                "{bad}: {r:?}"
            );
            assert!(!dir.join("escape").exists() && !Path::new("/abs").exists());
        }

        // Content that does not match its name.
        let mut entries = good.to_vec();
        entries[3].2 = b"{\"a\":2}";
        std::fs::write(&archive, tar_of(&entries)).unwrap();
        let r = extract(&archive, &dir.join("out-bad"));
        assert!(matches!(r, Err(ExtractError::Corrupt { .. })), "{r:?}");
    }
}
