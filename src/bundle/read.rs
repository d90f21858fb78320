//! Reading a bundle safely: a directory, a `.tar` or a `.tar.zst`, always as a stream.
//!
//! [`scan`] walks every entry once: each blob is hashed while it streams past (never held whole in
//! memory), small JSON documents (manifests, indexes, configs: at most [`MAX_DOCUMENT_SIZE`]) are kept,
//! and everything odd about an entry is recorded as an [`EntryNote`] rather than acted on. Scanning
//! never writes to disk: an archive entry with an absolute path, a `..` component, or that is a link or
//! a device is refused (noted and skipped), so no entry can reach outside the bundle.
//!
//! [`fetch`] reads a few named blobs back (the lock, for `inspect`), checked against their digests.
//!
//! [`extract`] is the one function that writes: it unpacks an archive into a new directory (for
//! `mirror`, which pushes blobs from files), under the same refusal rules, hashing every blob.
//!
//! The OCI wire types ([`Descriptor`], [`Manifest`], [`Index`]) mirror the files and are shared by
//! `verify` and `inspect`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::Digest as _;

use super::format::{BLOBS_DIR, INDEX_FILE, MAX_DOCUMENT_SIZE, MAX_INDEX_SIZE, OCI_LAYOUT_FILE};

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// Read buffer for hashing.
const CHUNK: usize = 64 * 1024;

/// How a bundle is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// An OCI image layout directory.
    Directory,
    /// A tar of that directory.
    Tar,
    /// A zstd-compressed tar.
    TarZstd,
}

impl Container {
    /// A short name: `directory`, `tar`, `tar.zst`.
    pub fn name(self) -> &'static str {
        match self {
            Container::Directory => "directory",
            Container::Tar => "tar",
            Container::TarZstd => "tar.zst",
        }
    }
}

/// The bundle could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading the path failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The path is not a bundle (not an OCI image layout, not a tar of one).
    #[error("{path}: {message}")]
    NotABundle {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
}

/// One blob file found under `blobs/sha256/`.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The `sha256:<hex>` of its content, as hashed while reading.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its content, when it looked like a JSON document (first non-blank byte `{`) of at most
    /// [`MAX_DOCUMENT_SIZE`] bytes.
    pub document: Option<Vec<u8>>,
    /// Set when the content could not be read to the end (the digest and size are then partial).
    pub read_error: Option<String>,
}

/// Something about one entry of the bundle that is not a plain part of an OCI layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryNote {
    /// Refused and skipped: an absolute path, a `..` component, a link, a device (never written anywhere).
    Refused {
        /// The entry's path as stored.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// A file the layout does not define (kept out of every check).
    Unexpected {
        /// The entry's path.
        entry: String,
    },
    /// A blob file whose name is not 64 lower-case hex digits.
    Misnamed {
        /// The entry's path.
        entry: String,
    },
    /// The same path twice in an archive (the later one is ignored).
    Duplicate {
        /// The entry's path.
        entry: String,
    },
    /// A file too large to be what its name says (`index.json`, `oci-layout`).
    TooLarge {
        /// The entry's path.
        entry: String,
        /// Its size.
        size: u64,
    },
    /// An entry could not be read (the archive is truncated or corrupt at this point).
    Unreadable {
        /// The entry's path, or `archive` when the archive itself broke.
        entry: String,
        /// The cause.
        message: String,
    },
}

/// Everything [`scan`] found in a bundle.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The path scanned.
    pub path: PathBuf,
    /// How it is stored.
    pub container: Container,
    /// The content of `oci-layout`, if present.
    pub oci_layout: Option<Vec<u8>>,
    /// The content of `index.json`, if present.
    pub index: Option<Vec<u8>>,
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

/// Where an entry belongs in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Layout,
    Index,
    /// `blobs/sha256/<name>`.
    Blob(String),
    /// A directory on the way (`blobs/`, `blobs/sha256/`), or the root.
    Dir,
    Unexpected,
    Refused(String),
}

/// Classifies an entry path (`/`-separated, as stored) and whether it is a directory.
fn classify(path: &str, is_dir: bool) -> Place {
    if path.starts_with('/') || path.starts_with('\\') {
        return Place::Refused("absolute path".to_string());
    }
    let parts: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Place::Refused("path contains `..`".to_string());
    }
    if parts
        .first()
        .is_some_and(|p| p.len() >= 2 && p.as_bytes()[1] == b':')
    {
        return Place::Refused("absolute path (drive letter)".to_string());
    }
    let blob_parts: Vec<&str> = BLOBS_DIR.split('/').collect();
    match parts.as_slice() {
        [] => Place::Dir,
        [f] if *f == OCI_LAYOUT_FILE && !is_dir => Place::Layout,
        [f] if *f == INDEX_FILE && !is_dir => Place::Index,
        [a] if is_dir && *a == blob_parts[0] => Place::Dir,
        [a, b] if is_dir && *a == blob_parts[0] && *b == blob_parts[1] => Place::Dir,
        [a, b, name] if !is_dir && *a == blob_parts[0] && *b == blob_parts[1] => {
            Place::Blob((*name).to_string())
        }
        _ => Place::Unexpected,
    }
}

/// Whether `name` is 64 lower-case hex digits.
fn is_hex64(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Hex of a hash.
fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Hashes a stream to its end, keeping the content when it looks like a small JSON document (or
/// always, up to `keep_limit`, when `keep_all`).
fn hash_stream(r: &mut dyn Read, declared: u64, keep_all: bool, keep_limit: u64) -> Blob {
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    let mut keep: Option<Vec<u8>> = (declared <= keep_limit).then(Vec::new);
    let mut first_seen = false;
    let mut read_error = None;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read_error = Some(e.to_string());
                break;
            }
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        size += n as u64;
        if !keep_all && !first_seen {
            if let Some(b) = chunk.iter().find(|b| !b.is_ascii_whitespace()) {
                first_seen = true;
                if *b != b'{' {
                    keep = None;
                }
            }
        }
        if size > keep_limit {
            keep = None;
        }
        if let Some(k) = keep.as_mut() {
            k.extend_from_slice(chunk);
        }
    }
    if !keep_all && !first_seen {
        keep = None;
    }
    Blob {
        digest: format!("sha256:{}", hex(&hasher.finalize())),
        size,
        document: keep,
        read_error,
    }
}

/// Reads a small file whole, refusing more than `limit` bytes.
fn read_small(r: &mut dyn Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut v = Vec::new();
    r.take(limit + 1).read_to_end(&mut v)?;
    Ok((v.len() as u64 <= limit).then_some(v))
}

/// One entry as the walk hands it over.
struct Entry<'a> {
    /// Path as stored (relative, `/`-separated).
    path: String,
    place: Place,
    /// Declared size.
    size: u64,
    /// Its content (opened lazily for a directory).
    reader: &'a mut dyn Read,
}

/// A file opened on first read.
struct LazyFile {
    path: PathBuf,
    file: Option<File>,
}

impl Read for LazyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.file.is_none() {
            self.file = Some(File::open(&self.path)?);
        }
        match self.file.as_mut() {
            Some(f) => f.read(buf),
            None => Ok(0),
        }
    }
}

fn io_err(path: &Path, source: io::Error) -> ReadError {
    ReadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Finds out how `path` is stored.
pub fn detect(path: &Path) -> Result<Container, ReadError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.is_dir() {
        return Ok(Container::Directory);
    }
    if !meta.is_file() {
        return Err(ReadError::NotABundle {
            path: path.display().to_string(),
            message: "neither a directory nor a file".to_string(),
        });
    }
    let mut magic = [0u8; 4];
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut got = 0;
    while got < magic.len() {
        match f.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(path, e)),
        }
    }
    Ok(if got == 4 && magic == ZSTD_MAGIC {
        Container::TarZstd
    } else {
        Container::Tar
    })
}

/// Walks every entry of the bundle at `path`, in storage order, calling `f` for each. Unreadable
/// archives end the walk with an [`EntryNote::Unreadable`] pushed to `notes` (or [`ReadError::NotABundle`]
/// when not even one entry could be read).
fn walk(
    path: &Path,
    container: Container,
    notes: &mut Vec<EntryNote>,
    f: &mut dyn FnMut(Entry<'_>, &mut Vec<EntryNote>),
) -> Result<(), ReadError> {
    match container {
        Container::Directory => walk_dir(path, path, notes, f),
        Container::Tar => {
            let file = File::open(path).map_err(|e| io_err(path, e))?;
            walk_tar(path, io::BufReader::new(file), notes, f)
        }
        Container::TarZstd => {
            let file = File::open(path).map_err(|e| io_err(path, e))?;
            let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| io_err(path, e))?;
            walk_tar(path, decoder, notes, f)
        }
    }
}

fn walk_dir(
    root: &Path,
    dir: &Path,
    notes: &mut Vec<EntryNote>,
    f: &mut dyn FnMut(Entry<'_>, &mut Vec<EntryNote>),
) -> Result<(), ReadError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io_err(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = p
            .strip_prefix(root)
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| p.to_string_lossy().into_owned());
        let meta = std::fs::symlink_metadata(&p).map_err(|e| io_err(&p, e))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            notes.push(EntryNote::Refused {
                entry: rel,
                reason: "a symbolic link (not followed)".to_string(),
            });
            continue;
        }
        if ft.is_dir() {
            match classify(&rel, true) {
                Place::Dir => walk_dir(root, &p, notes, f)?,
                _ => notes.push(EntryNote::Unexpected { entry: rel }),
            }
            continue;
        }
        if !ft.is_file() {
            notes.push(EntryNote::Refused {
                entry: rel,
                reason: "not a regular file (device, fifo or socket)".to_string(),
            });
            continue;
        }
        let place = classify(&rel, false);
        let mut reader = LazyFile {
            path: p.clone(),
            file: None,
        };
        f(
            Entry {
                path: rel,
                place,
                size: meta.len(),
                reader: &mut reader,
            },
            notes,
        );
    }
    Ok(())
}

fn walk_tar<R: Read>(
    path: &Path,
    reader: R,
    notes: &mut Vec<EntryNote>,
    f: &mut dyn FnMut(Entry<'_>, &mut Vec<EntryNote>),
) -> Result<(), ReadError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| io_err(path, e))?;
    let mut seen = 0usize;
    let mut last = String::new();
    for item in entries {
        let mut entry = match item {
            Ok(e) => e,
            Err(e) => {
                if seen == 0 {
                    return Err(ReadError::NotABundle {
                        path: path.display().to_string(),
                        message: format!("not a tar archive: {e}"),
                    });
                }
                notes.push(EntryNote::Unreadable {
                    entry: if last.is_empty() {
                        "archive".to_string()
                    } else {
                        format!("archive after `{last}`")
                    },
                    message: e.to_string(),
                });
                return Ok(());
            }
        };
        seen += 1;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        last.clone_from(&raw);
        let kind = entry.header().entry_type();
        let size = entry.header().size().unwrap_or(0);
        use tar::EntryType as T;
        if kind == T::XGlobalHeader {
            continue; // pax global attributes: metadata for the archive, not a file
        }
        let refuse = match kind {
            T::Regular | T::Continuous | T::Directory => None,
            T::Symlink => Some("a symbolic link".to_string()),
            T::Link => Some("a hard link".to_string()),
            T::Char | T::Block => Some("a device".to_string()),
            T::Fifo => Some("a fifo".to_string()),
            other => Some(format!("an entry of type {:?}", other.as_byte() as char)),
        };
        let place = match (refuse, classify(&raw, kind == T::Directory)) {
            (_, Place::Refused(r)) => Place::Refused(r),
            (Some(r), _) => Place::Refused(r),
            (None, p) => p,
        };
        match place {
            Place::Refused(reason) => notes.push(EntryNote::Refused { entry: raw, reason }),
            Place::Dir => {}
            Place::Unexpected if kind == T::Directory => {
                notes.push(EntryNote::Unexpected { entry: raw })
            }
            place => f(
                Entry {
                    path: raw,
                    place,
                    size,
                    reader: &mut entry,
                },
                notes,
            ),
        }
    }
    if seen == 0 {
        return Err(ReadError::NotABundle {
            path: path.display().to_string(),
            message: "an empty archive".to_string(),
        });
    }
    Ok(())
}

/// Reads the bundle at `path` (directory, `.tar` or `.tar.zst`, told apart by content): hashes every
/// blob while streaming and keeps the small JSON documents.
///
/// Fails with [`ReadError::NotABundle`] when the path holds neither `oci-layout` nor `index.json`.
pub fn scan(path: &Path) -> Result<Scan, ReadError> {
    let container = detect(path)?;
    let mut scan = Scan {
        path: path.to_path_buf(),
        container,
        oci_layout: None,
        index: None,
        blobs: BTreeMap::new(),
        notes: Vec::new(),
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut notes = Vec::new();
    {
        let Scan {
            oci_layout,
            index,
            blobs,
            ..
        } = &mut scan;
        let mut visit = |e: Entry<'_>, notes: &mut Vec<EntryNote>| {
            let key = match &e.place {
                Place::Blob(n) => format!("{BLOBS_DIR}/{n}"),
                Place::Layout => OCI_LAYOUT_FILE.to_string(),
                Place::Index => INDEX_FILE.to_string(),
                _ => e.path.clone(),
            };
            if !seen.insert(key) {
                notes.push(EntryNote::Duplicate { entry: e.path });
                return;
            }
            match e.place {
                Place::Layout | Place::Index => {
                    let slot = if e.place == Place::Layout {
                        &mut *oci_layout
                    } else {
                        &mut *index
                    };
                    match read_small(e.reader, MAX_INDEX_SIZE) {
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
                    if !is_hex64(&name) {
                        notes.push(EntryNote::Misnamed {
                            entry: e.path.clone(),
                        });
                    }
                    let blob = hash_stream(e.reader, e.size, false, MAX_DOCUMENT_SIZE);
                    blobs.insert(format!("sha256:{name}"), blob);
                }
                Place::Unexpected => notes.push(EntryNote::Unexpected { entry: e.path }),
                Place::Dir | Place::Refused(_) => {}
            }
        };
        walk(path, container, &mut notes, &mut visit)?;
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
    Ok(scan)
}

/// Reads the blobs named by `digests` (`sha256:<hex>`) from the bundle at `path`, each up to `limit`
/// bytes and only when its content matches its digest. Missing, larger or corrupt blobs are left out.
pub fn fetch(
    path: &Path,
    digests: &BTreeSet<String>,
    limit: u64,
) -> Result<BTreeMap<String, Vec<u8>>, ReadError> {
    let container = detect(path)?;
    let mut out = BTreeMap::new();
    if container == Container::Directory {
        for d in digests {
            let Some(hexpart) = d.strip_prefix("sha256:").filter(|h| is_hex64(h)) else {
                continue;
            };
            let p = path.join(BLOBS_DIR).join(hexpart);
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if !meta.is_file() || meta.len() > limit {
                continue;
            }
            let mut r = LazyFile {
                path: p,
                file: None,
            };
            let blob = hash_stream(&mut r, meta.len(), true, limit);
            if blob.read_error.is_none() && &blob.digest == d {
                if let Some(doc) = blob.document {
                    out.insert(d.clone(), doc);
                }
            }
        }
        return Ok(out);
    }
    let mut notes = Vec::new();
    let mut visit = |e: Entry<'_>, _: &mut Vec<EntryNote>| {
        if let Place::Blob(name) = &e.place {
            let d = format!("sha256:{name}");
            if digests.contains(&d) && !out.contains_key(&d) && e.size <= limit {
                let blob = hash_stream(e.reader, e.size, true, limit);
                if blob.read_error.is_none() && blob.digest == d {
                    if let Some(doc) = blob.document {
                        out.insert(d, doc);
                    }
                }
            }
        }
    };
    walk(path, container, &mut notes, &mut visit)?;
    Ok(out)
}

/// The bytes of the bundle's `index.json` (at most [`MAX_INDEX_SIZE`]), `None` when it has none: read
/// from the file for a directory, found by streaming through an archive.
pub fn index_bytes(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    let container = detect(path)?;
    let mut found: Option<Vec<u8>> = None;
    let mut failed: Option<io::Error> = None;
    let mut notes = Vec::new();
    let mut visit = |e: Entry<'_>, _: &mut Vec<EntryNote>| {
        if e.place == Place::Index && found.is_none() && failed.is_none() {
            match read_small(e.reader, MAX_INDEX_SIZE) {
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
fn copy_hashed(r: &mut dyn Read, dest: &Path) -> Result<(String, u64), ExtractError> {
    use std::io::Write as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|e| write_err(dest, e))?;
    let mut out = io::BufWriter::with_capacity(CHUNK, file);
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ExtractError::Corrupt {
                    archive: String::new(),
                    entry: String::new(),
                    message: format!("cannot be read to its end: {e}"),
                });
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| write_err(dest, e))?;
        size += n as u64;
    }
    out.flush().map_err(|e| write_err(dest, e))?;
    Ok((format!("sha256:{}", hex(&hasher.finalize())), size))
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
    let container = detect(archive)?;
    if container == Container::Directory {
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
                Place::Blob(hexname) if is_hex64(hexname) => {
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
                    Ok((digest, _)) if digest != format!("sha256:{hexname}") => Err(corrupt(
                        format!("its content has digest {digest}, not the one its name says"),
                    )),
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
    if let Some(err) = failed {
        return Err(err);
    }
    for note in &notes {
        match note {
            EntryNote::Refused { entry, reason } => {
                return Err(ExtractError::Refused {
                    archive: name,
                    entry: entry.clone(),
                    reason: reason.clone(),
                });
            }
            EntryNote::Unreadable { entry, message } => {
                return Err(ExtractError::Corrupt {
                    archive: name,
                    entry: entry.clone(),
                    message: message.clone(),
                });
            }
            _ => {}
        }
    }
    if !seen.contains(INDEX_FILE) || !seen.contains(OCI_LAYOUT_FILE) {
        return Err(ReadError::NotABundle {
            path: name,
            message: format!(
                "not an OCI image layout: no `{OCI_LAYOUT_FILE}` or no `{INDEX_FILE}`"
            ),
        }
        .into());
    }
    Ok(done)
}

/// An OCI content descriptor (image-spec `descriptor.md`); Docker schema2 descriptors have the same shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// `algorithm:hex` of the content.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The platform, on entries of an index.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// The artifact type, when it is an artifact manifest.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Where a non-distributable layer may be fetched from.
    #[serde(default)]
    pub urls: Vec<String>,
}

/// A platform (of an index entry or an image config).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest: OCI image manifest or Docker schema2 manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (required for Docker, optional for OCI).
    #[serde(default)]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An index: OCI image index, Docker manifest list, or the layout's `index.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type (required for Docker lists, optional for OCI).
    #[serde(default)]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The image config fields `inspect` reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigPlatform {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default)]
    pub variant: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        assert_eq!(classify("oci-layout", false), Place::Layout);
        assert_eq!(classify("./index.json", false), Place::Index);
        assert_eq!(classify("blobs/sha256/", true), Place::Dir);
        assert_eq!(
            classify("./blobs/sha256/ab", false),
            Place::Blob("ab".to_string())
        );
        assert!(matches!(classify("/etc/passwd", false), Place::Refused(_)));
        assert!(matches!(classify("../escape", false), Place::Refused(_)));
        assert!(matches!(
            classify("blobs/../../x", false),
            Place::Refused(_)
        ));
        assert!(matches!(classify("C:\\x", false), Place::Refused(_)));
        assert_eq!(classify("README", false), Place::Unexpected);
    }

    /// A tar of `(path, kind, content)` entries, names written raw (so `..` and `/` survive).
    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bundle-read-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn extracts_a_layout_and_refuses_what_could_escape() {
        let blob = b"{\"a\":1}";
        let digest = crate::oci::sha256_digest(blob);
        let blob_name = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
        let good = [
            ("oci-layout", tar::EntryType::Regular, &b"{}"[..]),
            ("index.json", tar::EntryType::Regular, &b"{}"[..]),
            ("blobs/", tar::EntryType::Directory, &b""[..]),
            (blob_name.as_str(), tar::EntryType::Regular, &blob[..]),
            ("README", tar::EntryType::Regular, &b"skipped"[..]),
        ];
        let dir = scratch("extract");
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
        let _ = std::fs::remove_dir_all(&dir);
    }

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
