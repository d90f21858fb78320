//! Writing an OCI image layout (image-spec v1.1 `image-layout.md`) safely and resumably: a
//! content store of `blobs/sha256/<hex>` files, byte for byte. A bundle is one; the pin cache of
//! charts and manifests (issue 11) has the same shape, so content is found by digest the same way in
//! both.
//!
//! - Every blob is written to `blobs/sha256/<hex>` + [`PARTIAL_SUFFIX`], hashed while written, and renamed
//!   to its final name only once its size and digest are right: a final name always holds the right bytes.
//! - A blob already under its final name is checked (size, then rehash) before it is reused; a wrong one
//!   is removed and fetched again. That is how an interrupted export resumes.
//! - `index.json` is written once, by [`Layout::write_index`], to a temporary name and renamed.

use std::fs;
use std::future::Future as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use crate::types::{Digest, Sha256Hasher};

/// The layout marker file.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The `imageLayoutVersion` this build reads and writes.
pub const OCI_LAYOUT_VERSION: &str = "1.0.0";
/// The marker's content.
pub const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
/// The top-level index.
pub const INDEX_FILE: &str = "index.json";
/// Where blobs live, by algorithm and hex digest.
pub const BLOBS_DIR: &str = "blobs/sha256";
/// Suffix of files being written; renamed to their final name once verified.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Writing the layout failed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// What was written does not match its descriptor (the temporary file is removed).
    #[error(
        "{digest}: {actual_size} bytes hashing to {actual} were written, expected {expected_size} bytes"
    )]
    Mismatch {
        /// The digest expected.
        digest: Digest,
        /// The digest of what was written.
        actual: Digest,
        /// The size expected.
        expected_size: u64,
        /// The size written.
        actual_size: u64,
    },
    /// Not a `sha256:` digest: no file name can be made from it.
    #[error("`{0}` is not a sha256 digest")]
    BadDigest(Digest),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An OCI image layout being written.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

/// Whether a blob is already in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Present {
    /// Under its final name with the right size and digest.
    Yes,
    /// Absent (or it was wrong and has been removed).
    No,
}

impl Layout {
    /// Opens (creating it if needed) the layout at `root`: the directories, the `oci-layout` marker,
    /// and no leftover temporary blobs from an interrupted run.
    pub fn create(root: &Path) -> Result<Layout, LayoutError> {
        let blobs = root.join(BLOBS_DIR);
        fs::create_dir_all(&blobs).map_err(io(&blobs))?;
        let marker = root.join(OCI_LAYOUT_FILE);
        if fs::read(&marker).ok().as_deref() != Some(OCI_LAYOUT_CONTENT.as_bytes()) {
            write_atomically(&marker, OCI_LAYOUT_CONTENT.as_bytes())?;
        }
        for entry in fs::read_dir(&blobs).map_err(io(&blobs))? {
            let entry = entry.map_err(io(&blobs))?;
            let path = entry.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(PARTIAL_SUFFIX))
            {
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(Layout {
            root: root.to_path_buf(),
        })
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `blobs/sha256/<hex>` for a `sha256:` digest.
    pub fn blob_path(&self, digest: &Digest) -> Result<PathBuf, LayoutError> {
        if !digest.is_sha256() {
            return Err(LayoutError::BadDigest(digest.clone()));
        }
        Ok(blob_path(&self.root, digest))
    }

    /// Whether blob `digest` of `size` bytes is in the layout (rehashed). A wrong file under that name
    /// is removed. Blocking: call it from a blocking context.
    pub fn check_blob(&self, digest: &Digest, size: u64) -> Result<Present, LayoutError> {
        let path = self.blob_path(digest)?;
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Present::No),
            Err(e) => return Err(io(&path)(e)),
        };
        if meta.is_file() && meta.len() == size && hash_file(&path)? == *digest {
            return Ok(Present::Yes);
        }
        fs::remove_file(&path).map_err(io(&path))?;
        Ok(Present::No)
    }

    /// Reads a small blob (a manifest) when present and right; `None` otherwise.
    pub fn read_small_blob(
        &self,
        digest: &Digest,
        max: u64,
    ) -> Result<Option<Vec<u8>>, LayoutError> {
        let path = self.blob_path(digest)?;
        match fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() <= max => {}
            _ => return Ok(None),
        }
        let bytes = fs::read(&path).map_err(io(&path))?;
        Ok((Digest::sha256_of(&bytes) == *digest).then_some(bytes))
    }

    /// Writes a small blob held in memory (a manifest, the lock); returns its digest. A blob already
    /// present is left as it is.
    pub fn write_small_blob(&self, bytes: &[u8]) -> Result<Digest, LayoutError> {
        let digest = Digest::sha256_of(bytes);
        let path = self.blob_path(&digest)?;
        if fs::read(&path).ok().as_deref() == Some(bytes) {
            return Ok(digest);
        }
        write_atomically(&path, bytes)?;
        Ok(digest)
    }

    /// A writer for blob `digest` of `size` bytes: writes to a temporary name, hashing as it goes;
    /// [`BlobWriter::commit`] renames it once verified.
    pub async fn blob_writer(&self, digest: &Digest, size: u64) -> Result<BlobWriter, LayoutError> {
        let path = self.blob_path(digest)?;
        let temp = with_suffix(&path, PARTIAL_SUFFIX);
        BlobWriter::open(temp, self.root.clone(), Some((digest.clone(), size))).await
    }

    /// A writer for a blob whose digest is not known before it is written (a download): hashed as
    /// it goes, named by that hash by [`BlobWriter::commit`]. Its temporary name is unique to this
    /// writer, so that several downloads into one store do not meet.
    pub async fn ingest_writer(&self) -> Result<BlobWriter, LayoutError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("ingest-{}-{n}{PARTIAL_SUFFIX}", std::process::id());
        let temp = self.root.join(BLOBS_DIR).join(name);
        BlobWriter::open(temp, self.root.clone(), None).await
    }

    /// Copies blob `digest` from `from` (another content store) unless this layout has it intact
    /// already; the copy is checked (size and hash) before it gets its name. Returns its size.
    /// Blocking: call it from a blocking context.
    pub fn copy_blob_from(&self, from: &Layout, digest: &Digest) -> Result<u64, LayoutError> {
        let source = from.blob_path(digest)?;
        let size = fs::metadata(&source).map_err(io(&source))?.len();
        if self.check_blob(digest, size)? == Present::Yes {
            return Ok(size);
        }
        let path = self.blob_path(digest)?;
        let temp = with_suffix(&path, PARTIAL_SUFFIX);
        fs::copy(&source, &temp).map_err(io(&temp))?;
        let actual = hash_file(&temp)?;
        let copied = fs::metadata(&temp).map_err(io(&temp))?.len();
        if actual != *digest || copied != size {
            let _ = fs::remove_file(&temp);
            return Err(LayoutError::Mismatch {
                digest: digest.clone(),
                actual,
                expected_size: size,
                actual_size: copied,
            });
        }
        fs::rename(&temp, &path).map_err(io(&temp))?;
        Ok(size)
    }

    /// Writes `index.json` (to a temporary name, then renamed over the old one).
    pub fn write_index(&self, bytes: &[u8]) -> Result<(), LayoutError> {
        write_atomically(&self.root.join(INDEX_FILE), bytes)
    }

    /// Removes `index.json` (a layout being rewritten is not a finished one).
    pub fn remove_index(&self) -> Result<(), LayoutError> {
        let path = self.root.join(INDEX_FILE);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }
}

/// How much a [`BlobWriter`] gathers before one write to the file (on a blocking thread). Two such
/// buffers per blob: one filling while the other is written.
const WRITE_CHUNK: usize = 512 * 1024;

/// A write of a full buffer, on a blocking thread: gives back the file, the buffer and the result.
type WriteTask = tokio::task::JoinHandle<(fs::File, Vec<u8>, std::io::Result<()>)>;

/// A blob being written; see [`Layout::blob_writer`].
///
/// Bytes are hashed as they arrive and copied once, into a buffer that goes to the file whole, on a
/// blocking thread, while the next one fills.
#[derive(Debug)]
pub struct BlobWriter {
    /// The temporary file; `None` while a write is in flight.
    file: Option<fs::File>,
    in_flight: Option<WriteTask>,
    /// Filling.
    buf: Vec<u8>,
    /// Written, cleared, ready to fill again.
    spare: Option<Vec<u8>>,
    hasher: Sha256Hasher,
    written: u64,
    /// The digest and size it must have, when known before writing.
    expected: Option<(Digest, u64)>,
    temp: PathBuf,
    /// The layout's root (the final name is `blobs/sha256/<hex>` under it).
    root: PathBuf,
}

impl BlobWriter {
    async fn open(
        temp: PathBuf,
        root: PathBuf,
        expected: Option<(Digest, u64)>,
    ) -> Result<BlobWriter, LayoutError> {
        let file = tokio::fs::File::create(&temp).await.map_err(io(&temp))?;
        Ok(BlobWriter {
            file: Some(file.into_std().await),
            in_flight: None,
            buf: Vec::with_capacity(WRITE_CHUNK),
            spare: None,
            hasher: Sha256Hasher::new(),
            written: 0,
            expected,
            temp,
            root,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes, checks size and digest (when they were given), and renames the blob to its final
    /// name; returns its digest. On a mismatch the temporary file is removed and nothing appears
    /// under the final name.
    pub async fn commit(mut self) -> Result<Digest, LayoutError> {
        if let Err(e) = self.flush().await {
            self.discard().await;
            return Err(io(&self.temp)(e));
        }
        let actual = self.hasher.digest();
        if let Some((digest, size)) = &self.expected
            && (actual != *digest || self.written != *size)
        {
            self.discard().await;
            return Err(LayoutError::Mismatch {
                digest: digest.clone(),
                actual,
                expected_size: *size,
                actual_size: self.written,
            });
        }
        self.file = None;
        let path = blob_path(&self.root, &actual);
        tokio::fs::rename(&self.temp, &path)
            .await
            .map_err(io(&self.temp))?;
        Ok(actual)
    }

    /// Removes the temporary file.
    pub async fn discard(&self) {
        let _ = tokio::fs::remove_file(&self.temp).await;
    }

    /// Waits for the write in flight, if any.
    fn poll_in_flight(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let Some(task) = self.in_flight.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let done = match Pin::new(task).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(done) => done,
        };
        self.in_flight = None;
        let (file, mut buf, result) = done.map_err(std::io::Error::other)?;
        self.file = Some(file);
        buf.clear();
        self.spare = Some(buf);
        Poll::Ready(result)
    }

    /// Sends the filled buffer to the file (no write may be in flight).
    fn start_write(&mut self) -> std::io::Result<()> {
        let Some(file) = self.file.take() else {
            return Err(std::io::Error::other("a failed write left no file"));
        };
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(WRITE_CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let result = (&file).write_all(&full);
            (file, full, result)
        }));
        Ok(())
    }
}

impl AsyncWrite for BlobWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.buf.len() >= WRITE_CHUNK {
            if let Err(e) = ready!(this.poll_in_flight(cx)) {
                return Poll::Ready(Err(e));
            }
            this.start_write()?;
        }
        let n = (WRITE_CHUNK - this.buf.len()).min(data.len());
        this.buf.extend_from_slice(&data[..n]);
        this.hasher.update(&data[..n]);
        this.written += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            ready!(this.poll_in_flight(cx))?;
            if this.buf.is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.start_write()?;
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `bytes` to `path` + [`PARTIAL_SUFFIX`], then renames it to `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    let temp = with_suffix(path, PARTIAL_SUFFIX);
    fs::write(&temp, bytes).map_err(io(&temp))?;
    fs::rename(&temp, path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        io(path)(e)
    })
}

/// `DIR/blobs/sha256/<hex>` for a `sha256:` digest.
pub fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(BLOBS_DIR).join(digest.hex())
}

/// `sha256:` of a file, read in 1 MiB pieces.
pub fn hash_file(path: &Path) -> Result<Digest, LayoutError> {
    let mut file = fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_appear_only_when_verified() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("layout");
        let layout = Layout::create(&root).unwrap();
        assert_eq!(
            fs::read_to_string(root.join(OCI_LAYOUT_FILE)).unwrap(),
            OCI_LAYOUT_CONTENT
        );
        let good = Digest::sha256_of(b"hello");
        let mut w = layout.blob_writer(&good, 5).await.unwrap();
        w.write_all(b"hello").await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(layout.check_blob(&good, 5).unwrap(), Present::Yes);

        let other = Digest::sha256_of(b"other");
        let mut w = layout.blob_writer(&other, 5).await.unwrap();
        w.write_all(b"hellp").await.unwrap();
        assert!(matches!(
            w.commit().await,
            Err(LayoutError::Mismatch { .. })
        ));
        assert!(!layout.blob_path(&other).unwrap().exists());
        let leftovers: Vec<_> = fs::read_dir(root.join(BLOBS_DIR))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(PARTIAL_SUFFIX))
            .collect();
        assert!(leftovers.is_empty());

        // A corrupted blob is noticed and removed.
        fs::write(layout.blob_path(&good).unwrap(), b"hellx").unwrap();
        assert_eq!(layout.check_blob(&good, 5).unwrap(), Present::No);
        assert!(!layout.blob_path(&good).unwrap().exists());
        let sha512 = Digest::parse(&format!("sha512:{}", "a".repeat(128))).unwrap();
        assert!(layout.blob_path(&sha512).is_err());
    }

    #[tokio::test]
    async fn ingested_blobs_are_named_by_their_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::create(tmp.path()).unwrap();
        let (mut a, mut b) = (
            layout.ingest_writer().await.unwrap(),
            layout.ingest_writer().await.unwrap(),
        );
        a.write_all(b"first").await.unwrap();
        b.write_all(b"second").await.unwrap();
        let da = a.commit().await.unwrap();
        assert_eq!(da, Digest::sha256_of(b"first"));
        assert_eq!(layout.check_blob(&da, 5).unwrap(), Present::Yes);
        b.discard().await;
        drop(b);
        let names: Vec<String> = fs::read_dir(tmp.path().join(BLOBS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [da.hex().to_string()]);
    }
}
