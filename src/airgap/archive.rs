//! Reading a bundle's container safely: a directory, a `.tar` or a `.tar.zst` (told apart by
//! content), walked entry by entry as a stream.
//!
//! Every entry is classified by its path before anything is done with it: an absolute path, a `..`
//! component, a link or a device is refused (noted and skipped), so no entry can reach outside the
//! bundle; anything else that is not a plain part of an OCI layout is noted as an [`EntryNote`]. The
//! readers built on the walk (the `scan` and `extract` modules beside this one) decide what to make
//! of the notes.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::format::Form;
use super::parts::{self, PartsProblem};
use crate::oci::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE};

/// The first bytes of a zstd frame.
pub(super) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The bundle could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The bundle is truncated or corrupt: an entry (or the archive itself) cannot be read to its
    /// end. Found while reading, so it is a negative answer about the bundle, not bad usage.
    #[error("{path}: the bundle is damaged: {message}")]
    Damaged {
        /// The bundle.
        path: String,
        /// What cannot be read.
        message: String,
    },
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
    /// A part of a split archive is missing, has the wrong size or is corrupt: the bundle is incomplete.
    #[error("{path}: {message}")]
    Part {
        /// The part.
        path: String,
        /// What is wrong, and what to do.
        message: String,
    },
}

impl From<PartsProblem> for ReadError {
    fn from(p: PartsProblem) -> Self {
        match p {
            PartsProblem::Malformed(path, message) => ReadError::NotABundle {
                path: path.display().to_string(),
                message,
            },
            PartsProblem::Part(path, message) => ReadError::Part {
                path: path.display().to_string(),
                message,
            },
        }
    }
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
    /// A part of a split archive does not match its parts file (named by its file name).
    BadPart {
        /// The part's file name.
        part: String,
        /// What is wrong.
        message: String,
    },
    /// An entry could not be read (the archive is truncated or corrupt at this point).
    Unreadable {
        /// The entry's path, or `archive` when the archive itself broke.
        entry: String,
        /// The cause.
        message: String,
    },
}

/// Where an entry belongs in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Place {
    Layout,
    Index,
    /// The bundle's signature ([`super::signing::SIGNATURE_FILE`]).
    Signature,
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
        [f] if *f == super::signing::SIGNATURE_FILE && !is_dir => Place::Signature,
        [a] if is_dir && *a == blob_parts[0] => Place::Dir,
        [a, b] if is_dir && *a == blob_parts[0] && *b == blob_parts[1] => Place::Dir,
        [a, b, name] if !is_dir && *a == blob_parts[0] && *b == blob_parts[1] => {
            Place::Blob((*name).to_string())
        }
        _ => Place::Unexpected,
    }
}

/// Reads a small file whole, refusing more than `limit` bytes.
pub(super) fn read_small(r: &mut dyn Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut v = Vec::new();
    r.take(limit + 1).read_to_end(&mut v)?;
    Ok((v.len() as u64 <= limit).then_some(v))
}

/// One entry as the walk hands it over.
/// The start of an error from the tar reader, which may quote the bytes it could not read.
fn first_words(message: &str) -> &str {
    let line = message.lines().next().unwrap_or_default();
    let line = line.split(" when getting").next().unwrap_or(line);
    match line.char_indices().nth(100) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// Read buffer for hashing and copying.
const CHUNK: usize = 64 * 1024;

/// Why [`for_each_chunk`] stopped early.
pub(super) enum ChunkError {
    /// Reading the stream failed.
    Read(io::Error),
    /// The caller's function failed.
    Sink(io::Error),
}

/// Reads `r` to its end in pieces of at most 64 KiB, handing each to `f`; returns the bytes read.
/// Never holds more than one piece in memory.
pub(super) fn for_each_chunk(
    r: &mut dyn Read,
    f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64, ChunkError> {
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(size),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ChunkError::Read(e)),
        };
        f(&buf[..n]).map_err(ChunkError::Sink)?;
        size += n as u64;
    }
}

pub(super) struct Entry<'a> {
    /// Path as stored (relative, `/`-separated).
    pub(super) path: String,
    pub(super) place: Place,
    /// Declared size.
    pub(super) size: u64,
    /// Its content (opened lazily for a directory).
    pub(super) reader: &'a mut dyn Read,
    /// Where its content starts in the archive file: set by [`walk_in_place`] for a plain `.tar`.
    pub(super) offset: Option<u64>,
}

/// A file opened on first read.
pub(super) struct LazyFile {
    path: PathBuf,
    file: Option<File>,
}

impl LazyFile {
    pub(super) fn new(path: PathBuf) -> LazyFile {
        LazyFile { path, file: None }
    }
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

pub(super) fn io_err(path: &Path, source: io::Error) -> ReadError {
    ReadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Finds out how `path` is stored. A split archive (its parts file, or its first part) is the form of
/// its parts together.
pub fn detect(path: &Path) -> Result<Form, ReadError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.is_dir() {
        return Ok(Form::Directory);
    }
    if meta.is_file()
        && let Some(set) = parts::open(path).map_err(ReadError::from)?
    {
        let magic = set.first_bytes(4).map_err(|e| io_err(path, e))?;
        return Ok(if magic == ZSTD_MAGIC {
            Form::TarZst
        } else {
            Form::Tar
        });
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
        Form::TarZst
    } else {
        Form::Tar
    })
}

/// Walks every entry of the bundle at `path`, in storage order, calling `f` for each. Unreadable
/// archives end the walk with an [`EntryNote::Unreadable`] pushed to `notes` (or [`ReadError::NotABundle`]
/// when not even one entry could be read).
pub(super) fn walk(
    path: &Path,
    container: Form,
    notes: &mut Vec<EntryNote>,
    f: &mut dyn FnMut(Entry<'_>, &mut Vec<EntryNote>),
) -> Result<(), ReadError> {
    walk_with(path, container, false, notes, f)
}

/// [`walk`], but a plain `.tar` file (not split, not compressed) is read in place: what `f` does not
/// read of an entry is skipped with a seek, never read, and every entry carries its offset in the
/// file. Returns whether the archive was read in place.
pub(super) fn walk_in_place(
    path: &Path,
    container: Form,
    notes: &mut Vec<EntryNote>,
    f: &mut dyn FnMut(Entry<'_>, &mut Vec<EntryNote>),
) -> Result<bool, ReadError> {
    let in_place = container == Form::Tar && parts::open(path).map_err(ReadError::from)?.is_none();
    walk_with(path, container, in_place, notes, f)?;
    Ok(in_place)
}

fn walk_with(
    path: &Path,
    container: Form,
    in_place: bool,
    notes: &mut Vec<EntryNote>,
    f: &mut dyn FnMut(Entry<'_>, &mut Vec<EntryNote>),
) -> Result<(), ReadError> {
    if in_place {
        let file =
            io::BufReader::with_capacity(CHUNK, File::open(path).map_err(|e| io_err(path, e))?);
        let mut archive = tar::Archive::new(file);
        let entries = archive.entries_with_seek().map_err(|e| io_err(path, e))?;
        return walk_entries(path, entries, true, notes, f);
    }
    if container == Form::Directory {
        return walk_dir(path, path, notes, f);
    }
    let (stream, check): (Box<dyn Read>, _) = match parts::open(path).map_err(ReadError::from)? {
        Some(set) => {
            let (reader, check) = set.reader();
            (Box::new(reader), Some(check))
        }
        None => (
            Box::new(File::open(path).map_err(|e| io_err(path, e))?),
            None,
        ),
    };
    let result = match container {
        Form::TarZst => match zstd::stream::read::Decoder::new(stream) {
            Ok(decoder) => walk_tar(path, decoder, notes, f),
            Err(e) => Err(io_err(path, e)),
        },
        _ => walk_tar(path, io::BufReader::with_capacity(CHUNK, stream), notes, f),
    };
    // Every part is read to its end and checked against the parts file, whatever the walk read.
    let bad = check.map(|c| c.finish()).unwrap_or_default();
    match (result, bad.first()) {
        (Err(_), Some(first)) => Err(ReadError::Part {
            path: first.part.clone(),
            message: first.message.clone(),
        }),
        (result, _) => {
            notes.extend(bad.into_iter().map(|b| EntryNote::BadPart {
                part: b.part,
                message: b.message,
            }));
            result
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
                offset: None,
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
    walk_entries(path, entries, false, notes, f)
}

/// The entries of a tar archive, each classified and handed to `f` (with its offset when `offsets`).
fn walk_entries<R: Read>(
    path: &Path,
    entries: tar::Entries<'_, R>,
    offsets: bool,
    notes: &mut Vec<EntryNote>,
    f: &mut dyn FnMut(Entry<'_>, &mut Vec<EntryNote>),
) -> Result<(), ReadError> {
    let mut seen = 0usize;
    let mut last = String::new();
    for item in entries {
        let mut entry = match item {
            Ok(e) => e,
            Err(e) => {
                if seen == 0 {
                    return Err(ReadError::NotABundle {
                        path: path.display().to_string(),
                        message: format!("not a tar archive ({})", first_words(&e.to_string())),
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
            place => {
                let offset = offsets.then(|| entry.raw_file_position());
                f(
                    Entry {
                        path: raw,
                        place,
                        size,
                        reader: &mut entry,
                        offset,
                    },
                    notes,
                )
            }
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

#[cfg(test)]
pub(super) mod tests {
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
    pub(crate) fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
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
}
