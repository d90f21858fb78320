//! [`scan`]: every entry of a bundle once, each blob hashed while it streams past (never held whole
//! in memory), small JSON documents (manifests, indexes, configs: at most [`max_document_size`])
//! kept. Scanning never writes. [`fetch`] reads a few named blobs back (the lock, for `inspect`),
//! checked against their digests; [`index_bytes`] finds `index.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::archive::{
    ChunkError, Entry, EntryNote, LazyFile, Place, ReadError, detect, for_each_chunk, io_err,
    read_small, walk, walk_in_place,
};
use super::format::{Form, max_document_size, max_index_size};
use crate::oci::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE};
use crate::progress::{Outcome, Phase, PhaseReport, Progress, Quiet};
use crate::types::{Digest, Sha256Hasher};

/// One blob file found under `blobs/sha256/`.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The `sha256:<hex>` of its content, as hashed while reading.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its content, when it looked like a JSON document (first non-blank byte `{`) of at most
    /// [`max_document_size`] bytes.
    pub document: Option<Vec<u8>>,
    /// Set when the content could not be read to the end (the digest and size are then partial).
    pub read_error: Option<String>,
}

/// Everything [`scan`] found in a bundle.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The path scanned.
    pub path: PathBuf,
    /// How it is stored.
    pub container: Form,
    /// The content of `oci-layout`, if present.
    pub oci_layout: Option<Vec<u8>>,
    /// The content of `index.json`, if present.
    pub index: Option<Vec<u8>>,
    /// The content of the bundle's signature file, if present.
    pub signature: Option<Vec<u8>>,
    /// Blob files by the digest their name claims (`sha256:<file name>`); misnamed files are under
    /// `sha256:<file name>` too, and noted.
    pub blobs: BTreeMap<String, Blob>,
    /// What was odd, in the order found.
    pub notes: Vec<EntryNote>,
}

impl Scan {
    /// Total bytes hashed.
    pub fn bytes(&self) -> u64 {
        self.blobs.values().map(|b| b.size).sum()
    }

    /// The JSON document stored as blob `digest`, if it was kept.
    pub fn document(&self, digest: &str) -> Option<&[u8]> {
        self.blobs.get(digest).and_then(|b| b.document.as_deref())
    }
}

/// Hashes a stream to its end, keeping the content when it looks like a small JSON document (or
/// always, up to `keep_limit`, when `keep_all`).
pub(super) fn hash_stream(
    r: &mut dyn Read,
    declared: u64,
    keep_all: bool,
    keep_limit: u64,
) -> Blob {
    let mut hasher = Sha256Hasher::new();
    let mut keep: Option<Vec<u8>> = (declared <= keep_limit).then(Vec::new);
    let mut first_seen = false;
    let mut size = 0u64;
    let read = for_each_chunk(r, &mut |chunk| {
        hasher.update(chunk);
        size += chunk.len() as u64;
        if !keep_all
            && !first_seen
            && let Some(b) = chunk.iter().find(|b| !b.is_ascii_whitespace())
        {
            first_seen = true;
            if *b != b'{' {
                keep = None;
            }
        }
        if size > keep_limit {
            keep = None;
        }
        if let Some(k) = keep.as_mut() {
            k.extend_from_slice(chunk);
        }
        Ok(())
    });
    if !keep_all && !first_seen {
        keep = None;
    }
    Blob {
        digest: hasher.finish(),
        size,
        document: keep,
        read_error: match read {
            Err(ChunkError::Read(e) | ChunkError::Sink(e)) => Some(e.to_string()),
            Ok(_) => None,
        },
    }
}

/// Reads the bundle at `path` (directory, `.tar` or `.tar.zst`, told apart by content): hashes every
/// blob while streaming and keeps the small JSON documents.
///
/// Fails with [`ReadError::NotABundle`] when the path holds neither `oci-layout` nor `index.json`.
pub fn scan(path: &Path) -> Result<Scan, ReadError> {
    scan_reporting(path, &Quiet)
}

/// [`scan`], reporting each blob hashed to `progress` ([`Phase::Rehash`]; the totals are known
/// beforehand for a directory only).
pub fn scan_reporting(path: &Path, progress: &dyn Progress) -> Result<Scan, ReadError> {
    let (items, bytes) = match detect(path)? {
        Form::Directory => directory_blob_totals(path),
        _ => (0, 0),
    };
    let report = PhaseReport::start(progress, Phase::Rehash, items, bytes);
    let mut hash = |name: &str, e: Entry<'_>| {
        let blob = hash_stream(e.reader, e.size, false, max_document_size());
        let outcome = match blob.read_error {
            None => Outcome::Done,
            Some(_) => Outcome::Failed,
        };
        report.finished(&format!("sha256:{name}"), outcome, blob.size, 0);
        blob
    };
    let scanned = scan_with(path, false, &mut hash).map(|(scan, _)| scan);
    report.end();
    scanned
}

/// [`scan`] with the caller reading each blob entry (`read_blob` gets the file name under
/// `blobs/sha256/` and the entry, and says what the blob is); a plain `.tar` is read in place when
/// `in_place` (see [`walk_in_place`]). Returns the scan and whether it was read in place.
pub(super) fn scan_with(
    path: &Path,
    in_place: bool,
    read_blob: &mut dyn FnMut(&str, Entry<'_>) -> Blob,
) -> Result<(Scan, bool), ReadError> {
    let container = detect(path)?;
    let mut scan = Scan {
        path: path.to_path_buf(),
        container,
        oci_layout: None,
        index: None,
        signature: None,
        blobs: BTreeMap::new(),
        notes: Vec::new(),
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut notes = Vec::new();
    let mut read_in_place = false;
    {
        let Scan {
            oci_layout,
            index,
            signature,
            blobs,
            ..
        } = &mut scan;
        let mut visit = |e: Entry<'_>, notes: &mut Vec<EntryNote>| {
            let key = match &e.place {
                Place::Blob(n) => format!("{BLOBS_DIR}/{n}"),
                Place::Layout => OCI_LAYOUT_FILE.to_string(),
                Place::Index => INDEX_FILE.to_string(),
                Place::Signature => crate::airgap::signing::SIGNATURE_FILE.to_string(),
                _ => e.path.clone(),
            };
            if !seen.insert(key) {
                notes.push(EntryNote::Duplicate { entry: e.path });
                return;
            }
            match e.place.clone() {
                Place::Layout | Place::Index | Place::Signature => {
                    let slot = match e.place {
                        Place::Layout => &mut *oci_layout,
                        Place::Index => &mut *index,
                        _ => &mut *signature,
                    };
                    match read_small(e.reader, max_index_size()) {
                        Ok(Some(v)) => *slot = Some(v),
                        Ok(None) => notes.push(EntryNote::TooLarge {
                            entry: e.path,
                            size: e.size,
                        }),
                        Err(err) => notes.push(EntryNote::Unreadable {
                            entry: e.path,
                            message: err.to_string(),
                        }),
                    }
                }
                Place::Blob(name) => {
                    if Digest::from_sha256_hex(&name).is_err() {
                        notes.push(EntryNote::Misnamed {
                            entry: e.path.clone(),
                        });
                    }
                    let blob = read_blob(&name, e);
                    blobs.insert(format!("sha256:{name}"), blob);
                }
                Place::Unexpected => notes.push(EntryNote::Unexpected { entry: e.path }),
                Place::Dir | Place::Refused(_) => {}
            }
        };
        if in_place {
            read_in_place = walk_in_place(path, container, &mut notes, &mut visit)?;
        } else {
            walk(path, container, &mut notes, &mut visit)?;
        }
    }
    scan.notes = notes;
    if scan.oci_layout.is_none() && scan.index.is_none() {
        let refused = scan
            .notes
            .iter()
            .filter(|n| matches!(n, EntryNote::Refused { .. }))
            .count();
        return Err(ReadError::NotABundle {
            path: path.display().to_string(),
            message: format!(
                "not an OCI image layout: no `{OCI_LAYOUT_FILE}` and no `{INDEX_FILE}`{}",
                if refused > 0 {
                    format!(" ({refused} unsafe entries refused)")
                } else {
                    String::new()
                }
            ),
        });
    }
    Ok((scan, read_in_place))
}

/// The number and total size of the files under a directory bundle's `blobs/sha256/` (what a scan
/// will hash), from their metadata; (0, 0) when it cannot be listed.
fn directory_blob_totals(path: &Path) -> (usize, u64) {
    let Ok(entries) = std::fs::read_dir(path.join(BLOBS_DIR)) else {
        return (0, 0);
    };
    entries
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .fold((0, 0), |(n, bytes), m| (n + 1, bytes + m.len()))
}

/// Reads the blobs named by `digests` (`sha256:<hex>`) from the bundle at `path`, each up to `limit`
/// bytes and only when its content matches its digest. Missing, larger or corrupt blobs are left out.
pub fn fetch(
    path: &Path,
    digests: &BTreeSet<Digest>,
    limit: u64,
) -> Result<BTreeMap<Digest, Vec<u8>>, ReadError> {
    let container = detect(path)?;
    let mut out = BTreeMap::new();
    if container == Form::Directory {
        for d in digests {
            if !d.is_sha256() {
                continue;
            }
            let p = path.join(BLOBS_DIR).join(d.hex());
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if !meta.is_file() || meta.len() > limit {
                continue;
            }
            let mut r = LazyFile::new(p);
            let blob = hash_stream(&mut r, meta.len(), true, limit);
            if blob.read_error.is_none()
                && &blob.digest == d
                && let Some(doc) = blob.document
            {
                out.insert(d.clone(), doc);
            }
        }
        return Ok(out);
    }
    let mut notes = Vec::new();
    let mut visit = |e: Entry<'_>, _: &mut Vec<EntryNote>| {
        if let Place::Blob(name) = &e.place
            && let Ok(d) = Digest::from_sha256_hex(name)
            && digests.contains(&d)
            && !out.contains_key(&d)
            && e.size <= limit
        {
            let blob = hash_stream(e.reader, e.size, true, limit);
            if blob.read_error.is_none()
                && blob.digest == d
                && let Some(doc) = blob.document
            {
                out.insert(d, doc);
            }
        }
    };
    walk(path, container, &mut notes, &mut visit)?;
    Ok(out)
}

/// The bytes of the bundle's `index.json` (at most [`max_index_size`]), `None` when it has none: read
/// from the file for a directory, found by streaming through an archive.
pub fn index_bytes(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    let container = detect(path)?;
    let mut found: Option<Vec<u8>> = None;
    let mut failed: Option<io::Error> = None;
    let mut notes = Vec::new();
    let mut visit = |e: Entry<'_>, _: &mut Vec<EntryNote>| {
        if e.place == Place::Index && found.is_none() && failed.is_none() {
            match read_small(e.reader, max_index_size()) {
                Ok(v) => found = v,
                Err(err) => failed = Some(err),
            }
        }
    };
    walk(path, container, &mut notes, &mut visit)?;
    match failed {
        Some(err) => Err(io_err(path, err)),
        None => Ok(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_keeps_documents() {
        let b = hash_stream(&mut &b"  {\"a\":1}"[..], 9, false, 100);
        assert_eq!(b.size, 9);
        assert!(b.document.is_some());
        let b = hash_stream(&mut &b"\x1f\x8b..."[..], 5, false, 100);
        assert!(b.document.is_none());
        let b = hash_stream(&mut &b""[..], 0, false, 100);
        assert_eq!(
            b.digest,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
