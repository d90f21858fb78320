//! `bundle verify`: rehash every blob, check sizes, media types and that every reference is present.
//! [`verify_with`] can leave out blobs the caller has just hashed (an export checking what it wrote).
//!
//! API contract (used by `export`, which verifies what it wrote, and later by `mirror`, which refuses a
//! corrupt bundle before pushing anything): [`verify`] reads a bundle at a path (directory, `.tar` or
//! `.tar.zst`) and returns a [`Report`]; the bundle is sound when `report.problems` is empty.
//!
//! The bundle is read once, as a stream ([`super::scan::scan`]): blobs are hashed as they pass, small JSON
//! documents are kept, and the references are checked at the end, from `index.json` down through every
//! index and manifest. The format is described in `airgap/FORMAT.md`.

mod check;
pub mod signatures;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use check::check;

use super::archive::ReadError;
use super::format::{Form, max_document_size, max_index_size};
use super::scan::{self, Blob, Scan};
use super::signing::{self, PublicKey, SIGNATURE_FILE, Signed};
use crate::oci::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE, hash_file};
use crate::types::Digest;

/// One thing wrong with a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What it is about: a blob digest, `index.json`, an image reference.
    pub subject: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every problem found (empty: the bundle is sound).
    pub problems: Vec<Problem>,
    /// Things worth knowing that do not make the bundle unsound (orphaned or misnamed blob files,
    /// unexpected files, absent non-distributable layers).
    pub warnings: Vec<Problem>,
    /// For a delta bundle: what it is a delta over.
    pub delta: Option<crate::airgap::delta::DeltaOf>,
    /// For a delta bundle: the configs and layers it leaves to its base (digest → size).
    pub from_base: BTreeMap<String, u64>,
    /// Images (entries of `index.json`) checked.
    pub images: usize,
    /// Blobs checked (every one rehashed, but for the `trusted` ones).
    pub blobs: usize,
    /// Bytes of all blobs.
    pub bytes: u64,
    /// Blobs whose content was not hashed again ([`Rehash::AllBut`]); 0 for [`verify`].
    pub trusted: usize,
    /// How the bundle is stored: `directory`, `tar` or `tar.zst`.
    pub container: String,
    /// What the bundle's signature file says (`None`: not signed, or unreadable — then a problem).
    pub signed: Option<Signed>,
    /// Whether that signature was checked with a key and holds.
    pub signature_checked: bool,
    /// Upstream's signatures per image (`--signatures`).
    pub signatures: Option<Vec<signatures::ImageSignatures>>,
}

impl Report {
    /// Whether the bundle is sound.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The bundle could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a bundle.
    #[error("{path}: {message}")]
    NotABundle {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
    /// A part of a split archive is missing or corrupt.
    #[error("{path}: {message}")]
    Part {
        /// The part.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl From<ReadError> for VerifyError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io { path, source } => VerifyError::Io { path, source },
            // verify reports damage as problems; only `inspect` stops at it.
            ReadError::Damaged { path, message } => VerifyError::Io {
                path,
                source: std::io::Error::other(message),
            },
            ReadError::NotABundle { path, message } => VerifyError::NotABundle { path, message },
            ReadError::Part { path, message } => VerifyError::Part { path, message },
        }
    }
}

/// How much [`verify_with`] reads.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Which blobs are rehashed.
    pub rehash: Rehash,
    /// Check the bundle's signature with this key (`--key`): an unsigned bundle, or one whose
    /// signature does not verify with it, is a problem.
    pub key: Option<PublicKey>,
    /// Check upstream's cosign signatures of every image with these keys (`--signatures`); `None`:
    /// not checked.
    pub signature_keys: Option<Vec<PublicKey>>,
}

/// Which blobs [`verify_with`] rehashes.
#[derive(Debug, Clone, Default)]
pub enum Rehash {
    /// Every blob (what `bundle verify` does).
    #[default]
    All,
    /// Every blob but these digests, whose content the caller has just hashed as it wrote them (an
    /// export). Their presence, size and place in the graph are checked, and documents among them
    /// (at most [`max_document_size`] bytes) are read for the checks that need their content; they are
    /// not hashed again. Applies to a directory bundle of the plain shape an export writes; anything
    /// else (an archive, a stray file, a link) is read and rehashed whole.
    AllBut(BTreeSet<String>),
}

/// Verifies the bundle at `path`, rehashing every blob.
pub fn verify(path: &Path) -> Result<Report, VerifyError> {
    verify_with(path, &VerifyOptions::default())
}

/// Verifies the bundle at `path`, rehashing every blob and reporting each one to `progress`
/// ([`crate::progress::Phase::Rehash`]); the signature checks of `options` too (its `rehash` is not
/// used: every blob is rehashed).
pub fn verify_reporting(
    path: &Path,
    options: &VerifyOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<Report, VerifyError> {
    let scan = scan::scan_reporting(path, progress)?;
    let mut report = check(&scan);
    plan_steps(&scan, &mut report);
    check_signature(&scan, options.key.as_ref(), &mut report);
    upstream_signatures(&scan, options, &mut report);
    Ok(report)
}

/// Verifies the bundle at `path`, rehashing the blobs `options` says.
pub fn verify_with(path: &Path, options: &VerifyOptions) -> Result<Report, VerifyError> {
    if let Rehash::AllBut(trusted) = &options.rehash
        && let Some((scan, not_read)) = scan_plain_directory(path, trusted)
    {
        let mut report = check(&scan);
        plan_steps(&scan, &mut report);
        report.trusted = not_read;
        check_signature(&scan, options.key.as_ref(), &mut report);
        upstream_signatures(&scan, options, &mut report);
        return Ok(report);
    }
    let scan = scan::scan(path)?;
    let mut report = check(&scan);
    plan_steps(&scan, &mut report);
    check_signature(&scan, options.key.as_ref(), &mut report);
    upstream_signatures(&scan, options, &mut report);
    Ok(report)
}

/// A plan bundle's steps: every chart and release manifest each step lock names must be in the
/// bundle at the lock's digest (else that step cannot be rendered from it), each missing one a
/// problem of its step.
fn plan_steps(scan: &Scan, report: &mut Report) {
    let Some(index) = scan
        .index
        .as_deref()
        .and_then(|b| serde_json::from_slice::<crate::oci::wire::Index>(b).ok())
    else {
        return; // reported by check
    };
    let steps = match super::steps::read(&scan.path, scan, &index) {
        Ok(steps) => steps,
        Err(message) => {
            report.problems.push(Problem {
                subject: super::format::PLAN_TITLE.to_string(),
                message,
            });
            return;
        }
    };
    for step in &steps {
        for need in step.missing() {
            report.problems.push(Problem {
                subject: format!("plan step {}", step.name),
                message: format!(
                    "{} {} ({}) is not in the bundle: the step cannot be rendered from it",
                    need.kind.noun(),
                    need.what,
                    need.digest
                        .as_deref()
                        .unwrap_or("no digest in the step lock")
                ),
            });
        }
    }
}

/// Upstream's signatures of the images, when asked for.
fn upstream_signatures(scan: &Scan, options: &VerifyOptions, report: &mut Report) {
    if let Some(keys) = &options.signature_keys {
        report.signatures = Some(signatures::check(scan, keys, report));
    }
}

/// The bundle's signature: what it claims (no key), or checked with `key` (an unsigned bundle, or
/// one whose signature does not hold, is then a problem of `report`).
pub fn check_signature(scan: &Scan, key: Option<&PublicKey>, report: &mut Report) {
    let mut problem = |message: String| {
        report.problems.push(Problem {
            subject: SIGNATURE_FILE.to_string(),
            message,
        })
    };
    let index = scan.index.as_deref().unwrap_or_default();
    let result = match (scan.signature.as_deref(), key) {
        (None, None) => return,
        (None, Some(k)) => {
            problem(format!(
                "the bundle is not signed (a signature by key sha256 {} was asked for)",
                k.id()
            ));
            return;
        }
        (Some(file), None) => signing::read(file),
        (Some(file), Some(k)) => signing::check(file, index, k),
    };
    match result {
        Ok(signed) => {
            report.signed = Some(signed);
            report.signature_checked = key.is_some();
        }
        Err(e) => problem(e),
    }
}

/// Checks a delta (verified by [`verify`], `report`) against its base bundle(s) at `bases`: each must be
/// one the delta records (by its `index.json` digest or its lock's digest), and together they must hold
/// every blob the delta leaves out, intact and of the right size. Returns the problems (empty: the
/// delta and its bases make a whole bundle).
pub fn check_bases(report: &Report, bases: &[&Path]) -> Result<Vec<Problem>, VerifyError> {
    let mut problems = Vec::new();
    let Some(of) = &report.delta else {
        problems.push(Problem {
            subject: INDEX_FILE.to_string(),
            message:
                "not a delta bundle: it records no base (--base checks a delta against its base)"
                    .to_string(),
        });
        return Ok(problems);
    };
    let mut present: BTreeMap<String, u64> = BTreeMap::new();
    for base in bases {
        let read = super::delta::read_base_bundle(base)?;
        let ours = of.indexes.iter().any(|d| d == read.index_digest.as_str())
            || read
                .lock_digest
                .as_ref()
                .is_some_and(|l| of.locks.iter().any(|d| d == l));
        if !ours {
            problems.push(Problem {
                subject: base.display().to_string(),
                message: format!(
                    "not a base of this delta: its index.json is {} and its lock {}; the delta is over {}",
                    read.index_digest,
                    read.lock_digest.as_deref().unwrap_or("absent"),
                    of.describe()
                ),
            });
        }
        present.extend(read.present);
    }
    for (digest, size) in &report.from_base {
        match present.get(digest) {
            Some(s) if s == size => {}
            Some(s) => problems.push(Problem {
                subject: digest.clone(),
                message: format!("left to the base, which has it with {s} bytes, not {size}"),
            }),
            None => problems.push(Problem {
                subject: digest.clone(),
                message: "left to the base, but the base does not hold it".to_string(),
            }),
        }
    }
    Ok(problems)
}

/// A [`Scan`] of a directory bundle that holds exactly `oci-layout`, `index.json` and regular files
/// named by 64 hex digits under `blobs/sha256/` (the shape an export writes), without hashing the
/// `trusted` blobs; with the number of blobs not hashed. `None` for anything else, or on any read
/// error: the caller then scans the usual way, which notes every oddity.
fn scan_plain_directory(path: &Path, trusted: &BTreeSet<String>) -> Option<(Scan, usize)> {
    use std::fs;
    if super::archive::detect(path).ok()? != Form::Directory {
        return None;
    }
    let plain_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir());
    let names = |p: &Path| -> Option<BTreeSet<String>> {
        fs::read_dir(p)
            .ok()?
            .map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
            .collect()
    };
    let (blobs_top, algorithm) = BLOBS_DIR.split_once('/')?;
    let top: BTreeSet<String> = [OCI_LAYOUT_FILE, INDEX_FILE, blobs_top]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let blobs_dir = path.join(BLOBS_DIR);
    let mut found = names(path)?;
    let signed = found.remove(SIGNATURE_FILE);
    if found != top
        || !plain_dir(&path.join(blobs_top))
        || names(&path.join(blobs_top))? != BTreeSet::from([algorithm.to_string()])
        || !plain_dir(&blobs_dir)
    {
        return None;
    }
    let small = |p: &Path, limit: u64| -> Option<Vec<u8>> {
        let m = fs::symlink_metadata(p).ok()?;
        (m.file_type().is_file() && m.len() <= limit)
            .then(|| fs::read(p).ok())
            .flatten()
    };
    let mut scan = Scan {
        path: path.to_path_buf(),
        container: Form::Directory,
        oci_layout: Some(small(&path.join(OCI_LAYOUT_FILE), max_index_size())?),
        index: Some(small(&path.join(INDEX_FILE), max_index_size())?),
        signature: match signed {
            true => Some(small(&path.join(SIGNATURE_FILE), max_index_size())?),
            false => None,
        },
        blobs: BTreeMap::new(),
        notes: Vec::new(),
    };
    let mut not_read = 0;
    for name in names(&blobs_dir)? {
        let digest = Digest::from_sha256_hex(&name).ok()?;
        let file = blobs_dir.join(&name);
        let meta = fs::symlink_metadata(&file).ok()?;
        if !meta.file_type().is_file() {
            return None;
        }
        let size = meta.len();
        let is_json = |b: &[u8]| b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
        let blob = if trusted.contains(digest.as_str()) {
            // Not hashed again; read only when it may be a document the check needs.
            not_read += 1;
            let document = if size <= max_document_size() {
                Some(fs::read(&file).ok()?).filter(|b| is_json(b))
            } else {
                None
            };
            Blob {
                digest: digest.clone(),
                size,
                document,
                read_error: None,
            }
        } else if size <= max_document_size() {
            let bytes = fs::read(&file).ok()?;
            Blob {
                digest: Digest::sha256_of(&bytes),
                size: bytes.len() as u64,
                document: Some(bytes).filter(|b| is_json(b)),
                read_error: None,
            }
        } else {
            Blob {
                digest: hash_file(&file).ok()?,
                size,
                document: None,
                read_error: None,
            }
        };
        scan.blobs.insert(digest.to_string(), blob);
    }
    Some((scan, not_read))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_blobs_are_not_rehashed_in_a_plain_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let blobs = root.join(BLOBS_DIR);
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(root.join(OCI_LAYOUT_FILE), b"{}").unwrap();
        std::fs::write(root.join(INDEX_FILE), b"{}").unwrap();
        // A blob whose content does not match its name (same size): only a rehash notices.
        let digest = Digest::sha256_of(b"hello").to_string();
        std::fs::write(blobs.join(&digest[7..]), b"hellx").unwrap();
        let misnamed = |r: &Report| r.warnings.iter().any(|w| w.message.contains("misnamed"));

        let full = verify(&root).unwrap();
        assert!(misnamed(&full), "{:?}", full.warnings);
        assert_eq!(full.trusted, 0);

        let trusting = VerifyOptions {
            rehash: Rehash::AllBut(BTreeSet::from([digest.clone()])),
            key: None,
            signature_keys: None,
        };
        let fast = verify_with(&root, &trusting).unwrap();
        assert!(!misnamed(&fast), "{:?}", fast.warnings);
        assert_eq!((fast.blobs, fast.trusted), (1, 1));
        assert_eq!(fast.problems, full.problems);

        // Anything but the plain shape is read the usual way, every blob rehashed.
        std::fs::write(root.join("stray.txt"), b"x").unwrap();
        let fallback = verify_with(&root, &trusting).unwrap();
        assert!(misnamed(&fallback), "{:?}", fallback.warnings);
        assert_eq!(fallback.trusted, 0);
    }
}
