//! Bounded reads of the files `bundle` parses: every one is opened as a regular file (never a FIFO,
//! a device or a directory, which could hang a run or feed it without end) and read up to a limit
//! suited to its kind, so that a wrong path costs a clear message, not gigabytes of memory.
//!
//! The limits are far above what `bundle` itself writes or a person edits (the largest catalog file
//! today is under 100 KiB); a file past one is refused with its name, its kind's limit and what to
//! do about it. Where a larger file can be legitimate (a catalog, a lock, a request, an index, a
//! manifest), the limit can be raised for a run ([`set_limit`]; the command line reads
//! [`Kind::env_var`]) and the message says how.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a file is read as, and how much of it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `catalog.yaml`, a component or profile file.
    CatalogFile,
    /// `bundle.lock`.
    Lock,
    /// A request (`bundle solve -f`).
    Request,
    /// A PEM file of CA certificates (`--ca-file`).
    CaFile,
    /// A container auth file (`auth.json`, Docker's `config.json`).
    AuthFile,
    /// An index: a bundle's `index.json` (and `oci-layout`), a chart repository's `index.yaml`.
    Index,
    /// A manifest, an image index or a config, from a registry or in a bundle (any small JSON
    /// document a bundle holds as a blob).
    Manifest,
    /// A PEM key file (`--sign-key`, `--key`).
    Key,
}

/// Every kind, in the order of [`Kind::slot`].
const KINDS: [Kind; 8] = [
    Kind::CatalogFile,
    Kind::Lock,
    Kind::Request,
    Kind::CaFile,
    Kind::AuthFile,
    Kind::Index,
    Kind::Manifest,
    Kind::Key,
];

/// Limits raised for this run ([`set_limit`]), by [`Kind::slot`]; 0: the default.
static RAISED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

impl Kind {
    /// Every kind of input.
    pub fn all() -> &'static [Kind] {
        &KINDS
    }

    fn slot(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The most bytes read for this kind: the default, unless raised for this run.
    pub fn limit(self) -> u64 {
        match RAISED[self.slot()].load(Ordering::Relaxed) {
            0 => self.default_limit(),
            n => n,
        }
    }

    /// The limit when none is set.
    pub fn default_limit(self) -> u64 {
        const MIB: u64 = 1 << 20;
        match self {
            Kind::CatalogFile => 8 * MIB,
            Kind::Lock => 32 * MIB,
            Kind::Request => MIB,
            Kind::CaFile => 4 * MIB,
            Kind::AuthFile => 4 * MIB,
            Kind::Index => 64 * MIB,
            Kind::Manifest => 4 * MIB,
            Kind::Key => MIB / 16,
        }
    }

    /// The environment variable that raises this kind's limit (`None`: a CA or auth file is never
    /// legitimately that large, its limit stays).
    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Kind::CatalogFile => Some("BUNDLE_MAX_CATALOG_FILE_SIZE"),
            Kind::Lock => Some("BUNDLE_MAX_LOCK_SIZE"),
            Kind::Request => Some("BUNDLE_MAX_REQUEST_SIZE"),
            Kind::Index => Some("BUNDLE_MAX_INDEX_SIZE"),
            Kind::Manifest => Some("BUNDLE_MAX_MANIFEST_SIZE"),
            Kind::CaFile | Kind::AuthFile | Kind::Key => None,
        }
    }

    /// How to raise the limit, for messages: `to read it, raise the limit with
    /// BUNDLE_MAX_LOCK_SIZE=SIZE (e.g. BUNDLE_MAX_LOCK_SIZE=64MiB)`; for a kind whose limit stays, that
    /// no such file is that large.
    pub fn raise_hint(self) -> String {
        match self.raise_with() {
            Some(how) => format!("to read it, {how}"),
            None => format!("no {} is that large", self.name()),
        }
    }

    /// `raise the limit with VAR=SIZE (e.g. VAR=64MiB)`, for a kind whose limit can be raised.
    fn raise_with(self) -> Option<String> {
        let var = self.env_var()?;
        let example = 2 * self.limit().div_ceil(1 << 20);
        Some(format!(
            "raise the limit with {var}=SIZE (e.g. {var}={example}MiB)"
        ))
    }

    /// The message for a file of this kind over its limit.
    fn too_large(self) -> String {
        let mut text = format!(
            "larger than {} ({} bytes), the limit for {}; is it the right file?",
            Human(self.limit()),
            self.limit(),
            self.with_article(),
        );
        if let Some(how) = self.raise_with() {
            text.push_str(&format!(" If it is, {how}"));
        }
        text
    }

    /// What the file is, with its article (`a lock`, `an auth file`).
    pub fn with_article(self) -> String {
        let name = self.name();
        if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            format!("an {name}")
        } else {
            format!("a {name}")
        }
    }

    /// What the file is, in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CatalogFile => "catalog file",
            Kind::Lock => "lock",
            Kind::Request => "request file",
            Kind::CaFile => "CA file",
            Kind::AuthFile => "auth file",
            Kind::Index => "index",
            Kind::Manifest => "manifest",
            Kind::Key => "key file",
        }
    }
}

/// Raises (or lowers) the limit of `kind` for the rest of the run; `bytes` 0 restores the default.
pub fn set_limit(kind: Kind, bytes: u64) {
    RAISED[kind.slot()].store(bytes, Ordering::Relaxed);
}

/// A file could not be read as what it should be.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", path.display(), problem)]
pub struct InputError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a file read by [`read`].
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// It could not be opened or read (missing, no permission, an I/O error).
    #[error("{0}")]
    Io(std::io::Error),
    /// A FIFO, a device, a socket or a directory where a regular file is expected.
    #[error("not a regular file ({what}); {} must be a regular file", kind.with_article())]
    NotAFile {
        /// What it is instead.
        what: &'static str,
        /// What it was to be read as.
        kind: Kind,
    },
    /// Larger than its kind's limit.
    #[error("{}", kind.too_large())]
    TooLarge {
        /// What it was to be read as.
        kind: Kind,
    },
    /// Not UTF-8 text.
    #[error("not UTF-8 text; {} is a text file", kind.with_article())]
    NotText {
        /// What it was to be read as.
        kind: Kind,
    },
}

impl InputError {
    fn new(path: &Path, problem: Problem) -> InputError {
        InputError {
            path: path.to_path_buf(),
            problem,
        }
    }

    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.problem, Problem::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    /// The problem as an I/O error (for errors that carry one).
    pub fn into_io(self) -> std::io::Error {
        match self.problem {
            Problem::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// Bytes for people, in binary units.
pub struct Human(pub u64);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1 << 20;
        if self.0 >= MIB && self.0 & (MIB - 1) == 0 {
            write!(f, "{} MiB", self.0 / MIB)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// What a path is, when it is not a regular file.
fn not_a_file(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a file")
}

/// Checks that `path` is a regular file (following symbolic links) without opening it: opening a
/// FIFO for reading would wait for a writer.
pub fn check_regular(path: &Path, kind: Kind) -> Result<std::fs::Metadata, InputError> {
    let meta = std::fs::metadata(path).map_err(|e| InputError::new(path, Problem::Io(e)))?;
    match not_a_file(&meta) {
        Some(what) => Err(InputError::new(path, Problem::NotAFile { what, kind })),
        None => Ok(meta),
    }
}

/// Reads `path`, a regular file of at most `kind`'s limit, whole.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, InputError> {
    let io = |e| InputError::new(path, Problem::Io(e));
    let meta = check_regular(path, kind)?;
    let limit = kind.limit();
    let too_large = || InputError::new(path, Problem::TooLarge { kind });
    if meta.len() > limit {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(io)?;
    // It may have been swapped between the check and the open: check what was opened.
    if let Some(what) = file.metadata().ok().as_ref().and_then(not_a_file) {
        return Err(InputError::new(path, Problem::NotAFile { what, kind }));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Reads `path` as UTF-8 text (see [`read`]).
pub fn read_text(path: &Path, kind: Kind) -> Result<String, InputError> {
    String::from_utf8(read(path, kind)?)
        .map_err(|_| InputError::new(path, Problem::NotText { kind }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_only_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("a.yaml");
        std::fs::write(&ok, "x: 1\n").unwrap();
        assert_eq!(read_text(&ok, Kind::Request).unwrap(), "x: 1\n");

        let e = read(dir.path(), Kind::Lock).unwrap_err();
        assert!(
            matches!(
                e.problem,
                Problem::NotAFile {
                    what: "a directory",
                    ..
                }
            ),
            "{e}"
        );

        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(Kind::Request.limit() + 1).unwrap();
        let e = read(&big, Kind::Request).unwrap_err().to_string();
        assert!(e.contains("big") && e.contains("1 MiB"), "{e}");
        assert!(e.contains("BUNDLE_MAX_REQUEST_SIZE=SIZE"), "{e}");

        #[cfg(unix)]
        {
            let e = read(Path::new("/dev/zero"), Kind::Lock).unwrap_err();
            assert!(
                matches!(
                    e.problem,
                    Problem::NotAFile {
                        what: "a device",
                        ..
                    }
                ),
                "{e}"
            );
        }
        let e = read(&dir.path().join("missing"), Kind::Lock).unwrap_err();
        assert!(e.is_not_found(), "{e}");

        let bin = dir.path().join("bin");
        std::fs::write(&bin, [0xff, 0xfe, 0]).unwrap();
        assert!(matches!(
            read_text(&bin, Kind::CaFile).unwrap_err().problem,
            Problem::NotText { .. }
        ));
    }
}
