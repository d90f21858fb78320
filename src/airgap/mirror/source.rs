//! The bundle as `mirror` reads it, in two steps.
//!
//! 1. [`structure`]: `oci-layout`, `index.json`, every manifest, index and config (read and hashed)
//!    and every other blob's name and size, and for a plain `.tar` its offset in the file. Layers are
//!    not read: a directory's files are only listed and a `.tar`'s headers read (with a seek over
//!    each entry), then the documents are read where they are, following the references from
//!    `index.json`; a `.tar.zst` or a split archive is streamed once, its small JSON documents kept.
//! 2. [`Store::prepare`], once the target has said what it lacks: only the blobs that must be pushed
//!    are read, and each is hashed before anything is pushed. A directory's files and a `.tar`'s
//!    entries are read where they are (no copy); a `.tar.zst` or a split archive is streamed again and
//!    only those blobs are written, into a spool directory next to it (see [`super::open`]), removed
//!    when the run ends.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::MirrorError;
use super::open::{Workdir, workdir_for};
use crate::airgap::archive::{Entry, Place, detect, walk};
use crate::airgap::format::{Form, max_document_size};
use crate::airgap::parts;
use crate::airgap::scan::{Blob, Scan, hash_stream, scan_with};
use crate::airgap::verify::Problem;
use crate::oci::layout::blob_path;
use crate::oci::media_types::{is_index, is_manifest};
use crate::oci::wire::{Descriptor, Index, Manifest};
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::types::{Digest, Sha256Hasher};

/// Where the blobs of a bundle are read from.
#[derive(Debug, Clone)]
pub enum Store {
    /// A directory bundle: `blobs/sha256/<hex>` under it.
    Directory(PathBuf),
    /// A plain `.tar`: each blob at its offset in the file.
    InPlace {
        /// The archive.
        archive: PathBuf,
        /// Where each blob's content starts.
        offsets: HashMap<Digest, u64>,
    },
    /// A `.tar.zst` or a split archive: read as a stream.
    Stream {
        /// The archive (or its parts file, or first part).
        archive: PathBuf,
    },
}

/// A blob's content: a file and the offset it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file.
    pub path: PathBuf,
    /// Where the blob starts in it.
    pub offset: u64,
}

/// The blobs [`Store::prepare`] checked, and where each is; a spool directory lives as long as this.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Digest → where its (checked) content is.
    pub located: HashMap<Digest, Located>,
    /// The spool of a streamed archive (removed on drop).
    pub(super) _spool: Option<Workdir>,
}

/// Reads a bundle's structure without reading its layers (see the module docs).
pub fn structure(bundle: &Path) -> Result<(Scan, Store), MirrorError> {
    let form = detect(bundle).map_err(read_error)?;
    let split = form != Form::Directory
        && parts::open(bundle)
            .map_err(|p| read_error(p.into()))?
            .is_some();
    // A directory or a plain `.tar` is read where it is: the walk lists its blobs without reading
    // them, and the documents are read afterwards, following the references from `index.json`.
    let random_access = form == Form::Directory || (form == Form::Tar && !split);
    let mut offsets = HashMap::new();
    let mut read_blob = |name: &str, e: Entry<'_>| -> Blob {
        let claimed = Digest::from_sha256_hex(name).ok();
        if let (Some(offset), Some(d)) = (e.offset, &claimed) {
            offsets.insert(d.clone(), offset);
        }
        match claimed {
            Some(digest) if random_access => Blob {
                digest,
                size: e.size,
                document: None,
                read_error: None,
            },
            Some(digest) => peek(digest, e),
            None => hash_stream(e.reader, e.size, false, max_document_size()),
        }
    };
    let (mut scan, in_place) = scan_with(bundle, true, &mut read_blob).map_err(read_error)?;
    let store = match (form, in_place) {
        (Form::Directory, _) => Store::Directory(bundle.to_path_buf()),
        (_, true) => Store::InPlace {
            archive: bundle.to_path_buf(),
            offsets,
        },
        _ => Store::Stream {
            archive: bundle.to_path_buf(),
        },
    };
    if random_access {
        read_documents(&mut scan, &store);
    }
    Ok((scan, store))
}

/// Reads (and hashes) the documents the checks need, following the references from `index.json`:
/// every manifest and index, and every manifest's config. Layers are not read.
fn read_documents(scan: &mut Scan, store: &Store) {
    let Some(index) = scan
        .index
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Index>(b).ok())
    else {
        return;
    };
    let mut queue: Vec<Descriptor> = index.manifests;
    let mut done = BTreeSet::new();
    while let Some(d) = queue.pop() {
        if !done.insert(d.digest.clone()) {
            continue;
        }
        let index = is_index(&d.media_type);
        if !index && !is_manifest(&d.media_type) {
            continue;
        }
        let Some(bytes) = read_document(scan, store, &d.digest) else {
            continue;
        };
        if index {
            if let Ok(i) = serde_json::from_slice::<Index>(&bytes) {
                queue.extend(i.manifests);
            }
        } else if let Ok(m) = serde_json::from_slice::<Manifest>(&bytes)
            && done.insert(m.config.digest.clone())
        {
            read_document(scan, store, &m.config.digest);
        }
    }
}

/// Reads one blob of at most [`max_document_size`] bytes where it is, records its digest (and its
/// content when it is a JSON document) in the scan, and returns its bytes.
fn read_document(scan: &mut Scan, store: &Store, digest: &str) -> Option<Vec<u8>> {
    let blob = scan.blobs.get_mut(digest)?;
    let d = Digest::parse_sha256(digest).ok()?;
    if blob.size > max_document_size() {
        return None;
    }
    let at = store.locate(&d)?;
    let read = || -> io::Result<Vec<u8>> {
        let mut f = File::open(&at.path)?;
        f.seek(SeekFrom::Start(at.offset))?;
        let mut bytes = Vec::new();
        f.take(blob.size).read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    match read() {
        Ok(bytes) => {
            blob.digest = Digest::sha256_of(&bytes);
            blob.size = bytes.len() as u64;
            let json = bytes.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
            blob.document = json.then(|| bytes.clone());
            Some(bytes)
        }
        Err(e) => {
            blob.read_error = Some(e.to_string());
            None
        }
    }
}

fn read_error(e: crate::airgap::archive::ReadError) -> MirrorError {
    MirrorError::Unreadable(e.into())
}

/// A blob as the structure needs it: a small JSON document is read whole and hashed; anything else
/// (a layer) is taken for what its name says, its content left unread (checked when pushed).
fn peek(digest: Digest, e: Entry<'_>) -> Blob {
    let trusted = |digest: Digest| Blob {
        digest,
        size: e.size,
        document: None,
        read_error: None,
    };
    if e.size > max_document_size() || e.size == 0 {
        return trusted(digest);
    }
    let mut first = vec![0u8; e.size.min(64 * 1024) as usize];
    let mut got = 0;
    while got < first.len() {
        match e.reader.read(&mut first[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                return Blob {
                    read_error: Some(err.to_string()),
                    ..trusted(digest)
                };
            }
        }
    }
    first.truncate(got);
    match first.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b) if *b != b'{' => trusted(digest),
        _ => hash_stream(
            &mut (&first[..]).chain(e.reader),
            e.size,
            false,
            max_document_size(),
        ),
    }
}

/// A blob whose content does not hash to its digest (or has another size): the bundle is corrupt.
fn corrupt(bundle: &Path, digest: &Digest, message: String) -> MirrorError {
    MirrorError::Corrupt {
        path: bundle.display().to_string(),
        problems: vec![Problem {
            subject: digest.to_string(),
            message,
        }],
    }
}

/// Hashes `size` bytes of `path` from `offset`; `Ok(None)` when they hash to `digest`, else what is
/// wrong.
fn check_at(path: &Path, offset: u64, size: u64, digest: &Digest) -> io::Result<Option<String>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut r = f.take(size);
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n_total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        n_total += n as u64;
    }
    if n_total != size {
        return Ok(Some(format!(
            "truncated: {n_total} bytes where {size} were expected"
        )));
    }
    let got = hasher.finish();
    Ok((got != *digest).then(|| format!("corrupt: the content hashes to {got}")))
}

impl Store {
    /// Where a blob's content is, for a directory or an in-place `.tar` (`None` for a stream, or a
    /// blob the archive does not hold).
    pub fn locate(&self, digest: &Digest) -> Option<Located> {
        match self {
            Store::Directory(root) => Some(Located {
                path: blob_path(root, digest),
                offset: 0,
            }),
            Store::InPlace { archive, offsets } => offsets.get(digest).map(|o| Located {
                path: archive.clone(),
                offset: *o,
            }),
            Store::Stream { .. } => None,
        }
    }

    /// The bundle's path.
    pub fn path(&self) -> &Path {
        match self {
            Store::Directory(p) => p,
            Store::InPlace { archive, .. } | Store::Stream { archive } => archive,
        }
    }

    /// Reads and hashes the blobs `wanted` (digest → size) and says where each is; the first blob
    /// that does not match its digest fails the whole (nothing has been pushed yet). A stream is
    /// read once more and only these blobs are written, into a spool directory.
    pub fn prepare(
        &self,
        wanted: &BTreeMap<Digest, u64>,
        progress: &dyn Progress,
    ) -> Result<Prepared, MirrorError> {
        if wanted.is_empty() {
            return Ok(Prepared::default());
        }
        let report = PhaseReport::start(
            progress,
            Phase::ReadBlobs,
            wanted.len(),
            wanted.values().sum(),
        );
        let prepared = match self {
            Store::Stream { archive } => spool(archive, wanted, &report),
            _ => self.check_all(wanted, &report),
        };
        report.end();
        prepared
    }

    /// Hashes the blobs `wanted` where they are, a few at a time; stops at the first that fails.
    fn check_all(
        &self,
        wanted: &BTreeMap<Digest, u64>,
        report: &PhaseReport<'_>,
    ) -> Result<Prepared, MirrorError> {
        let items: Vec<(&Digest, u64)> = wanted.iter().map(|(d, s)| (d, *s)).collect();
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4)
            .min(items.len());
        let (tx, rx) = mpsc::channel::<(Digest, u64, Result<Located, MirrorError>)>();
        let mut located = HashMap::new();
        let mut failed = None;
        std::thread::scope(|s| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (items, next, stop) = (&items, &next, &stop);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((digest, size)) = items.get(i) else {
                            return;
                        };
                        let checked = self.check(digest, *size);
                        if tx.send(((*digest).clone(), *size, checked)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            for (digest, size, checked) in rx {
                let name = digest.to_string();
                match checked {
                    Ok(at) => {
                        report.finished(&name, Outcome::Done, size, 0);
                        located.insert(digest, at);
                    }
                    Err(e) => {
                        report.finished(&name, Outcome::Failed, size, 0);
                        stop.store(true, Ordering::Relaxed);
                        failed.get_or_insert(e);
                    }
                }
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(Prepared {
                located,
                _spool: None,
            }),
        }
    }

    /// Hashes one blob where it is (a directory or an in-place `.tar`).
    pub fn check(&self, digest: &Digest, size: u64) -> Result<Located, MirrorError> {
        let bundle = self.path();
        let at = self.locate(digest).ok_or_else(|| MirrorError::Bundle {
            path: bundle.display().to_string(),
            message: format!("{digest} is not in the bundle"),
        })?;
        match check_at(&at.path, at.offset, size, digest) {
            Ok(None) => Ok(at),
            Ok(Some(message)) => Err(corrupt(bundle, digest, message)),
            Err(e) => Err(MirrorError::Bundle {
                path: at.path.display().to_string(),
                message: format!("reading {digest}: {e}"),
            }),
        }
    }
}

/// Streams the archive and writes the blobs `wanted` (only those), each hashed on the way, into a
/// spool directory next to the archive.
fn spool(
    archive: &Path,
    wanted: &BTreeMap<Digest, u64>,
    report: &PhaseReport<'_>,
) -> Result<Prepared, MirrorError> {
    let workdir = workdir_for(archive)?;
    let dir = workdir.path.clone();
    let write_err = |path: &Path, e: io::Error| MirrorError::WorkDir {
        path: path.display().to_string(),
        message: format!("writing a blob to push: {e}"),
    };
    std::fs::create_dir_all(&dir).map_err(|e| write_err(&dir, e))?;
    let mut located = HashMap::new();
    let mut failed: Option<MirrorError> = None;
    let mut notes = Vec::new();
    let container = detect(archive).map_err(read_error)?;
    let mut visit = |e: Entry<'_>, _: &mut Vec<_>| {
        let Place::Blob(name) = &e.place else {
            return;
        };
        let Ok(digest) = Digest::from_sha256_hex(name) else {
            return;
        };
        if failed.is_some() || located.contains_key(&digest) {
            return;
        }
        let Some(size) = wanted.get(&digest) else {
            return;
        };
        let path = dir.join(digest.hex());
        let spooled = spool_one(e.reader, &path, *size);
        let outcome = match spooled {
            Ok(ref got) if *got == digest => Outcome::Done,
            _ => Outcome::Failed,
        };
        report.finished(digest.as_str(), outcome, *size, 0);
        match spooled {
            Ok(got) if got == digest => {
                located.insert(digest, Located { path, offset: 0 });
            }
            Ok(got) => {
                failed = Some(corrupt(
                    archive,
                    &digest,
                    format!("corrupt: the content hashes to {got}"),
                ))
            }
            Err((true, e)) => failed = Some(write_err(&path, e)),
            Err((false, e)) => {
                failed = Some(corrupt(archive, &digest, format!("could not be read: {e}")))
            }
        }
    };
    walk(archive, container, &mut notes, &mut visit).map_err(read_error)?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some((digest, _)) = wanted.iter().find(|(d, _)| !located.contains_key(*d)) {
        return Err(corrupt(
            archive,
            digest,
            "could not be read from the archive".to_string(),
        ));
    }
    Ok(Prepared {
        located,
        _spool: Some(workdir),
    })
}

/// Copies one entry into `path`, hashing it; its digest, or the error (`true`: writing failed).
fn spool_one(r: &mut dyn Read, path: &Path, size: u64) -> Result<Digest, (bool, io::Error)> {
    let mut out =
        io::BufWriter::with_capacity(256 * 1024, File::create(path).map_err(|e| (true, e))?);
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((false, e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| (true, e))?;
        total += n as u64;
    }
    out.flush().map_err(|e| (true, e))?;
    if total != size {
        return Err((
            false,
            io::Error::other(format!("{total} bytes where {size} were expected")),
        ));
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airgap::archive::tests::tar_of;
    use crate::airgap::verify::check;

    #[test]
    fn a_tar_is_read_in_place_and_blobs_are_checked_only_when_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let layer = b"a layer, never read by structure".to_vec();
        let digest = Digest::sha256_of(&layer);
        let name = format!("blobs/sha256/{}", digest.hex());
        let tar = tar_of(&[
            (
                "oci-layout",
                tar::EntryType::Regular,
                br#"{"imageLayoutVersion":"1.0.0"}"#,
            ),
            (&name, tar::EntryType::Regular, &layer),
            ("../escape", tar::EntryType::Regular, b"x"),
        ]);
        let path = tmp.path().join("b.tar");
        std::fs::write(&path, &tar).unwrap();
        let (scan, store) = structure(&path).unwrap();
        let Store::InPlace { offsets, .. } = &store else {
            panic!("{store:?}");
        };
        let at = offsets[&digest] as usize;
        assert_eq!(&tar[at..at + layer.len()], &layer[..]);
        // The unsafe entry is a problem of the structure, found without reading a layer.
        let report = check(&scan);
        assert!(
            report.problems.iter().any(|p| p.subject == "../escape"),
            "{:?}",
            report.problems
        );
        let wanted = BTreeMap::from([(digest.clone(), layer.len() as u64)]);
        let prepared = store.prepare(&wanted, &crate::progress::Quiet).unwrap();
        assert_eq!(prepared.located[&digest].offset, at as u64);

        // The same layer damaged (same size): the structure does not notice, preparing does.
        let mut bad = tar.clone();
        bad[at] ^= 0xff;
        std::fs::write(&path, &bad).unwrap();
        let (_, store) = structure(&path).unwrap();
        let err = store.prepare(&wanted, &crate::progress::Quiet).unwrap_err();
        assert!(matches!(err, MirrorError::Corrupt { .. }), "{err}");
    }
}
