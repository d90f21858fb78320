//! `bundle verify`: rehash every blob, check sizes, media types and that every reference is present.
//! [`verify_with`] can leave out blobs the caller has just hashed (an export checking what it wrote).
//!
//! API contract (used by `export`, which verifies what it wrote, and later by `mirror`, which refuses a
//! corrupt bundle before pushing anything): [`verify`] reads a bundle at a path (directory, `.tar` or
//! `.tar.zst`) and returns a [`Report`]; the bundle is sound when `report.problems` is empty.
//!
//! The bundle is read once, as a stream ([`super::read::scan`]): blobs are hashed as they pass, small JSON
//! documents are kept, and the references are checked at the end, from `index.json` down through every
//! index and manifest. The format is described in `airgap/FORMAT.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::format::{
    BLOBS_DIR, BUNDLE_FORMAT_VERSION, COMPONENT_ANNOTATION, DOCKER_CONFIG, DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER_PREFIX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, FORMAT_VERSION_ANNOTATION,
    INDEX_FILE, LOCK_MEDIA_TYPE, MANIFESTS_MEDIA_TYPE, MAX_DOCUMENT_SIZE, MAX_INDEX_SIZE,
    OCI_CONFIG, OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_LAYOUT_FILE, OCI_LAYOUT_VERSION,
    OCI_MANIFEST, OCI_NONDISTRIBUTABLE_PREFIX, ORIGINAL_DIGEST_ANNOTATION, PLATFORM_ARTIFACT_TYPE,
    PLATFORM_REF_NAME, REF_NAME_ANNOTATION,
};
use super::read::{self, Descriptor, EntryNote, Index, Manifest, ReadError, Scan};
use crate::oci::is_sha256_digest;

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
}

impl From<ReadError> for VerifyError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io { path, source } => VerifyError::Io { path, source },
            ReadError::NotABundle { path, message } => VerifyError::NotABundle { path, message },
        }
    }
}

/// How much [`verify_with`] reads.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Which blobs are rehashed.
    pub rehash: Rehash,
}

/// Which blobs [`verify_with`] rehashes.
#[derive(Debug, Clone, Default)]
pub enum Rehash {
    /// Every blob (what `bundle verify` does).
    #[default]
    All,
    /// Every blob but these digests, whose content the caller has just hashed as it wrote them (an
    /// export). Their presence, size and place in the graph are checked, and documents among them
    /// (at most [`MAX_DOCUMENT_SIZE`] bytes) are read for the checks that need their content; they are
    /// not hashed again. Applies to a directory bundle of the plain shape an export writes; anything
    /// else (an archive, a stray file, a link) is read and rehashed whole.
    AllBut(BTreeSet<String>),
}

/// Verifies the bundle at `path`, rehashing every blob.
pub fn verify(path: &Path) -> Result<Report, VerifyError> {
    verify_with(path, &Options::default())
}

/// Verifies the bundle at `path`, rehashing the blobs `options` says.
pub fn verify_with(path: &Path, options: &Options) -> Result<Report, VerifyError> {
    if let Rehash::AllBut(trusted) = &options.rehash
        && let Some((scan, not_read)) = scan_plain_directory(path, trusted)
    {
        let mut report = check(&scan);
        report.trusted = not_read;
        return Ok(report);
    }
    let scan = read::scan(path)?;
    Ok(check(&scan))
}

/// A [`Scan`] of a directory bundle that holds exactly `oci-layout`, `index.json` and regular files
/// named by 64 hex digits under `blobs/sha256/` (the shape an export writes), without hashing the
/// `trusted` blobs; with the number of blobs not hashed. `None` for anything else, or on any read
/// error: the caller then scans the usual way, which notes every oddity.
fn scan_plain_directory(path: &Path, trusted: &BTreeSet<String>) -> Option<(Scan, usize)> {
    use std::fs;
    if read::detect(path).ok()? != read::Container::Directory {
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
    if names(path)? != top
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
        container: read::Container::Directory,
        oci_layout: Some(small(&path.join(OCI_LAYOUT_FILE), MAX_INDEX_SIZE)?),
        index: Some(small(&path.join(INDEX_FILE), MAX_INDEX_SIZE)?),
        blobs: BTreeMap::new(),
        notes: Vec::new(),
    };
    let mut not_read = 0;
    for name in names(&blobs_dir)? {
        if !(name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))) {
            return None;
        }
        let file = blobs_dir.join(&name);
        let meta = fs::symlink_metadata(&file).ok()?;
        if !meta.file_type().is_file() {
            return None;
        }
        let digest = format!("sha256:{name}");
        let size = meta.len();
        let is_json = |b: &[u8]| b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
        let blob = if trusted.contains(&digest) {
            // Not hashed again; read only when it may be a document the check needs.
            not_read += 1;
            let document = if size <= MAX_DOCUMENT_SIZE {
                Some(fs::read(&file).ok()?).filter(|b| is_json(b))
            } else {
                None
            };
            read::Blob {
                digest: digest.clone(),
                size,
                document,
                read_error: None,
            }
        } else if size <= MAX_DOCUMENT_SIZE {
            let bytes = fs::read(&file).ok()?;
            read::Blob {
                digest: crate::oci::sha256_digest(&bytes),
                size: bytes.len() as u64,
                document: Some(bytes).filter(|b| is_json(b)),
                read_error: None,
            }
        } else {
            read::Blob {
                digest: super::layout::hash_file(&file).ok()?,
                size,
                document: None,
                read_error: None,
            }
        };
        scan.blobs.insert(digest, blob);
    }
    Some((scan, not_read))
}

/// Checks what [`read::scan`] found. Pure: no I/O.
pub fn check(scan: &Scan) -> Report {
    let mut c = Checker {
        scan,
        problems: Vec::new(),
        warnings: Vec::new(),
        referenced: BTreeSet::new(),
        visited: BTreeSet::new(),
        corrupt_reported: BTreeSet::new(),
    };
    c.notes();
    c.layout();
    let images = c.index();
    c.orphans();
    let mut problems = c.problems;
    dedup(&mut problems);
    let mut warnings = c.warnings;
    dedup(&mut warnings);
    Report {
        problems,
        warnings,
        images,
        blobs: scan.blobs.len(),
        bytes: scan.bytes(),
        trusted: 0,
        container: scan.container.name().to_string(),
    }
}

fn dedup(v: &mut Vec<Problem>) {
    let mut seen = BTreeSet::new();
    v.retain(|p| seen.insert((p.subject.clone(), p.message.clone())));
}

/// Which kind of document refers to a descriptor, and as what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// An entry of `index.json`.
    Top,
    /// An entry of an OCI index.
    OciChild,
    /// An entry of a Docker manifest list.
    DockerChild,
    /// The config of an OCI manifest.
    OciConfig,
    /// A layer of an OCI manifest.
    OciLayer,
    /// The config of a Docker manifest.
    DockerConfig,
    /// A layer of a Docker manifest.
    DockerLayer,
}

impl Role {
    fn noun(self) -> &'static str {
        match self {
            Role::Top => "index.json entry",
            Role::OciChild => "index entry",
            Role::DockerChild => "manifest list entry",
            Role::OciConfig | Role::DockerConfig => "config",
            Role::OciLayer | Role::DockerLayer => "layer",
        }
    }
}

struct Checker<'a> {
    scan: &'a Scan,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    /// Digests named by some descriptor.
    referenced: BTreeSet<String>,
    /// Manifests and indexes already checked.
    visited: BTreeSet<String>,
    corrupt_reported: BTreeSet<String>,
}

fn is_manifest_type(mt: &str) -> bool {
    mt == OCI_MANIFEST || mt == DOCKER_MANIFEST
}

fn is_index_type(mt: &str) -> bool {
    mt == OCI_INDEX || mt == DOCKER_MANIFEST_LIST
}

fn short(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

impl Checker<'_> {
    fn problem(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            subject: subject.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem {
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// What reading noticed about entries.
    fn notes(&mut self) {
        for n in &self.scan.notes {
            match n {
                EntryNote::Refused { entry, reason } => self.problem(
                    entry.clone(),
                    format!("unsafe entry refused: {reason} (not read, nothing written)"),
                ),
                EntryNote::Unexpected { entry } => {
                    self.warn(entry.clone(), "not part of an OCI image layout (ignored)")
                }
                EntryNote::Misnamed { entry } => self.warn(
                    entry.clone(),
                    "misnamed blob file: the name is not 64 lower-case hex digits",
                ),
                EntryNote::Duplicate { entry } => self.problem(
                    entry.clone(),
                    "stored twice in the archive (the later copy was ignored)",
                ),
                EntryNote::TooLarge { entry, size } => {
                    self.problem(entry.clone(), format!("implausibly large ({size} bytes)"))
                }
                EntryNote::Unreadable { entry, message } => {
                    self.problem(entry.clone(), format!("could not be read: {message}"))
                }
            }
        }
        for (name, blob) in &self.scan.blobs {
            if let Some(e) = &blob.read_error {
                let (s, m) = (name.clone(), format!("could not be read to the end: {e}"));
                self.problem(s, m);
            }
        }
    }

    fn layout(&mut self) {
        let Some(bytes) = &self.scan.oci_layout else {
            self.problem(OCI_LAYOUT_FILE, "missing: not an OCI image layout");
            return;
        };
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Err(e) => self.problem(OCI_LAYOUT_FILE, format!("not JSON: {e}")),
            Ok(v) => match v.get("imageLayoutVersion").and_then(|x| x.as_str()) {
                Some(OCI_LAYOUT_VERSION) => {}
                Some(other) => self.problem(
                    OCI_LAYOUT_FILE,
                    format!(
                        "imageLayoutVersion is {other:?}; this bundle reads {OCI_LAYOUT_VERSION:?}"
                    ),
                ),
                None => self.problem(
                    OCI_LAYOUT_FILE,
                    "no imageLayoutVersion: not an OCI image layout marker",
                ),
            },
        }
    }

    /// Checks `index.json` and everything it reaches; returns the number of entries.
    fn index(&mut self) -> usize {
        let Some(bytes) = &self.scan.index else {
            self.problem(INDEX_FILE, "missing: the bundle has no top-level index");
            return 0;
        };
        let index: Index = match serde_json::from_slice(bytes) {
            Ok(i) => i,
            Err(e) => {
                self.problem(INDEX_FILE, format!("not an OCI image index: {e}"));
                return 0;
            }
        };
        if index.schema_version != 2 {
            self.problem(
                INDEX_FILE,
                format!("schemaVersion is {} (expected 2)", index.schema_version),
            );
        }
        if let Some(mt) = index.media_type.as_deref().filter(|m| *m != OCI_INDEX) {
            self.problem(
                INDEX_FILE,
                format!("mediaType is {mt} (expected {OCI_INDEX})"),
            );
        }
        match index.annotations.get(FORMAT_VERSION_ANNOTATION) {
            Some(v) if v == BUNDLE_FORMAT_VERSION => {}
            Some(v) => self.problem(
                INDEX_FILE,
                format!(
                    "bundle format version {v:?} is not supported (this build reads {BUNDLE_FORMAT_VERSION:?})"
                ),
            ),
            None => self.warn(
                INDEX_FILE,
                format!(
                    "no `{FORMAT_VERSION_ANNOTATION}` annotation: a plain OCI layout, not written by `bundle export`"
                ),
            ),
        }
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut platform = None;
        for (i, d) in index.manifests.iter().enumerate() {
            let name = d.annotations.get(REF_NAME_ANNOTATION).cloned();
            let subject = name
                .clone()
                .unwrap_or_else(|| format!("{INDEX_FILE} manifests[{i}]"));
            match &name {
                None => self.problem(
                    subject.clone(),
                    format!("no `{REF_NAME_ANNOTATION}` annotation: the image cannot be named"),
                ),
                Some(n) => {
                    if let Some(j) = names.insert(n.clone(), i) {
                        self.problem(
                            subject.clone(),
                            format!("named twice in {INDEX_FILE} (manifests[{j}] and [{i}])"),
                        );
                    }
                }
            }
            let is_platform = name.as_deref() == Some(PLATFORM_REF_NAME);
            if is_platform {
                platform = Some(d);
            } else if !d.annotations.contains_key(COMPONENT_ANNOTATION) {
                self.warn(
                    subject.clone(),
                    format!("no `{COMPONENT_ANNOTATION}` annotation"),
                );
            }
            if let Some(orig) = d.annotations.get(ORIGINAL_DIGEST_ANNOTATION) {
                if !is_sha256_digest(orig) {
                    self.problem(
                        subject.clone(),
                        format!("`{ORIGINAL_DIGEST_ANNOTATION}` is not a sha256 digest: {orig:?}"),
                    );
                } else if !is_index_type(&d.media_type) {
                    self.problem(
                        subject.clone(),
                        format!(
                            "`{ORIGINAL_DIGEST_ANNOTATION}` on a {} (only filtered indexes carry it)",
                            d.media_type
                        ),
                    );
                }
            }
            self.descriptor(d, Role::Top, &subject);
        }
        match platform {
            None => self.problem(
                INDEX_FILE,
                format!("no platform artifact (`{REF_NAME_ANNOTATION}` = {PLATFORM_REF_NAME})"),
            ),
            Some(d) => self.platform_artifact(d),
        }
        index.manifests.len()
    }

    /// Checks one descriptor: digest form, presence, size, content digest, media type for its role; then
    /// descends into manifests and indexes. `context` names the image (for messages).
    fn descriptor(&mut self, d: &Descriptor, role: Role, context: &str) {
        let subject = d.digest.clone();
        if !is_sha256_digest(&d.digest) {
            self.problem(
                context,
                format!(
                    "{} digest {:?} is not a sha256 digest (sha256:<64 lower-case hex>)",
                    role.noun(),
                    d.digest
                ),
            );
            return;
        }
        self.referenced.insert(d.digest.clone());
        self.role_media_type(d, role, context);
        let Some(blob) = self.scan.blobs.get(&d.digest) else {
            let optional = d.media_type == DOCKER_FOREIGN_LAYER
                || d.media_type.starts_with(OCI_NONDISTRIBUTABLE_PREFIX);
            let msg = format!("{} of {context} is missing ({})", role.noun(), d.media_type);
            if optional {
                self.warn(subject, format!("{msg}; non-distributable, allowed"));
            } else {
                self.problem(subject, msg);
            }
            return;
        };
        if blob.size != d.size {
            self.problem(
                subject.clone(),
                format!(
                    "size mismatch: {} of {context} says {} bytes, the blob has {}",
                    role.noun(),
                    d.size,
                    blob.size
                ),
            );
        }
        if blob.digest != d.digest
            && blob.read_error.is_none()
            && self.corrupt_reported.insert(d.digest.clone())
        {
            self.problem(
                subject.clone(),
                format!("corrupt: the content hashes to {}", blob.digest),
            );
        }
        if is_manifest_type(&d.media_type) || is_index_type(&d.media_type) {
            if !self.visited.insert(d.digest.clone()) {
                return;
            }
            let Some(doc) = blob.document.as_deref() else {
                let why = if blob.size > MAX_DOCUMENT_SIZE {
                    format!("larger than {MAX_DOCUMENT_SIZE} bytes")
                } else {
                    "not a JSON object".to_string()
                };
                self.problem(subject, format!("{} of {context} is {why}", d.media_type));
                return;
            };
            if is_manifest_type(&d.media_type) {
                self.manifest(d, doc, context);
            } else {
                self.child_index(d, doc, context);
            }
        } else if matches!(role, Role::OciConfig | Role::DockerConfig)
            && (d.media_type == OCI_CONFIG || d.media_type == DOCKER_CONFIG)
            && blob.document.is_none()
        {
            self.problem(
                subject,
                format!(
                    "config of {context} ({}) is not a JSON object",
                    d.media_type
                ),
            );
        }
    }

    /// The media type a descriptor may have where it stands.
    fn role_media_type(&mut self, d: &Descriptor, role: Role, context: &str) {
        let mt = d.media_type.as_str();
        let subject = d.digest.clone();
        match role {
            Role::Top => {
                if !is_manifest_type(mt) && !is_index_type(mt) {
                    self.problem(
                        context,
                        format!(
                            "{INDEX_FILE} entry has media type {mt:?}: not a manifest or an index"
                        ),
                    );
                }
            }
            Role::OciChild => {
                if !is_manifest_type(mt) && !is_index_type(mt) {
                    self.warn(
                        subject,
                        format!(
                            "index entry of {context} has unknown media type {mt:?} (not checked)"
                        ),
                    );
                }
            }
            Role::DockerChild => {
                if mt != DOCKER_MANIFEST {
                    self.problem(
                        subject,
                        format!(
                            "manifest list of {context} names a {mt}: a Docker manifest list holds only {DOCKER_MANIFEST}"
                        ),
                    );
                }
            }
            Role::DockerConfig => {
                if mt != DOCKER_CONFIG {
                    self.problem(
                        subject,
                        format!(
                            "config of the Docker manifest of {context} has media type {mt} (expected {DOCKER_CONFIG})"
                        ),
                    );
                }
            }
            Role::DockerLayer => {
                if !mt.starts_with(DOCKER_LAYER_PREFIX) {
                    self.problem(
                        subject,
                        format!(
                            "layer of the Docker manifest of {context} has media type {mt} (expected {DOCKER_LAYER_PREFIX}…)"
                        ),
                    );
                }
            }
            Role::OciConfig | Role::OciLayer => {
                if is_manifest_type(mt) || is_index_type(mt) {
                    self.problem(
                        subject,
                        format!(
                            "{} of {context} has a manifest media type {mt}",
                            role.noun()
                        ),
                    );
                } else if mt.starts_with("application/vnd.docker.") {
                    self.warn(
                        subject,
                        format!(
                            "{} of the OCI manifest of {context} has a Docker media type {mt}",
                            role.noun()
                        ),
                    );
                }
            }
        }
    }

    /// The document's own `mediaType` agrees with the descriptor that named it.
    fn own_media_type(&mut self, d: &Descriptor, own: Option<&str>, context: &str) {
        let docker = d.media_type.starts_with("application/vnd.docker.");
        match own {
            Some(m) if m != d.media_type => self.problem(
                d.digest.clone(),
                format!(
                    "{context}: the descriptor says {} but the document says mediaType {m}",
                    d.media_type
                ),
            ),
            None if docker => self.problem(
                d.digest.clone(),
                format!(
                    "{context}: a {} must carry its mediaType (a Docker type without it is ambiguous)",
                    d.media_type
                ),
            ),
            _ => {}
        }
    }

    fn manifest(&mut self, d: &Descriptor, doc: &[u8], context: &str) {
        let m: Manifest = match serde_json::from_slice(doc) {
            Ok(m) => m,
            Err(e) => {
                self.problem(
                    d.digest.clone(),
                    format!("{context}: not a valid {}: {e}", d.media_type),
                );
                return;
            }
        };
        if m.schema_version != 2 {
            self.problem(
                d.digest.clone(),
                format!(
                    "{context}: schemaVersion is {} (expected 2)",
                    m.schema_version
                ),
            );
        }
        self.own_media_type(d, m.media_type.as_deref(), context);
        let docker = d.media_type == DOCKER_MANIFEST;
        let (cfg, layer) = if docker {
            (Role::DockerConfig, Role::DockerLayer)
        } else {
            (Role::OciConfig, Role::OciLayer)
        };
        self.descriptor(&m.config, cfg, context);
        for l in &m.layers {
            self.descriptor(l, layer, context);
        }
        if let Some(s) = &m.subject {
            if is_sha256_digest(&s.digest) {
                self.referenced.insert(s.digest.clone());
            }
        }
    }

    fn child_index(&mut self, d: &Descriptor, doc: &[u8], context: &str) {
        let i: Index = match serde_json::from_slice(doc) {
            Ok(i) => i,
            Err(e) => {
                self.problem(
                    d.digest.clone(),
                    format!("{context}: not a valid {}: {e}", d.media_type),
                );
                return;
            }
        };
        if i.schema_version != 2 {
            self.problem(
                d.digest.clone(),
                format!(
                    "{context}: schemaVersion is {} (expected 2)",
                    i.schema_version
                ),
            );
        }
        self.own_media_type(d, i.media_type.as_deref(), context);
        let role = if d.media_type == DOCKER_MANIFEST_LIST {
            Role::DockerChild
        } else {
            Role::OciChild
        };
        for c in &i.manifests {
            self.descriptor(c, role, context);
        }
    }

    fn platform_artifact(&mut self, d: &Descriptor) {
        let subject = PLATFORM_REF_NAME;
        if d.media_type != OCI_MANIFEST {
            self.problem(
                subject,
                format!("has media type {} (expected {OCI_MANIFEST})", d.media_type),
            );
            return;
        }
        let Some(doc) = self.scan.document(&d.digest) else {
            return; // missing or unreadable: already reported
        };
        let Ok(m) = serde_json::from_slice::<Manifest>(doc) else {
            return; // already reported
        };
        let at = m.artifact_type.as_deref().or(d.artifact_type.as_deref());
        if at != Some(PLATFORM_ARTIFACT_TYPE) {
            self.problem(
                subject,
                format!("artifactType is {at:?} (expected {PLATFORM_ARTIFACT_TYPE})"),
            );
        }
        if m.config.media_type != OCI_EMPTY || m.config.digest != OCI_EMPTY_DIGEST {
            self.problem(
                subject,
                format!(
                    "config is {} {} (expected the empty descriptor {OCI_EMPTY} {})",
                    m.config.media_type,
                    short(&m.config.digest),
                    short(OCI_EMPTY_DIGEST)
                ),
            );
        }
        for want in [LOCK_MEDIA_TYPE, MANIFESTS_MEDIA_TYPE] {
            let n = m.layers.iter().filter(|l| l.media_type == want).count();
            if n != 1 {
                self.problem(
                    subject,
                    format!("has {n} layers of type {want} (expected 1)"),
                );
            }
        }
    }

    fn orphans(&mut self) {
        let scan = self.scan;
        for (name, blob) in &scan.blobs {
            if self.referenced.contains(name) {
                continue;
            }
            let mut msg =
                "orphaned: not referenced by index.json or any manifest or index".to_string();
            if &blob.digest != name && blob.read_error.is_none() {
                msg.push_str(&format!(
                    "; misnamed: its content hashes to {}",
                    blob.digest
                ));
            }
            self.warn(name.clone(), msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_blobs_are_not_rehashed_in_a_plain_directory() {
        let root = std::env::temp_dir().join(format!("bundle-verify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let blobs = root.join(BLOBS_DIR);
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(root.join(OCI_LAYOUT_FILE), b"{}").unwrap();
        std::fs::write(root.join(INDEX_FILE), b"{}").unwrap();
        // A blob whose content does not match its name (same size): only a rehash notices.
        let digest = crate::oci::sha256_digest(b"hello");
        std::fs::write(blobs.join(&digest[7..]), b"hellx").unwrap();
        let misnamed = |r: &Report| r.warnings.iter().any(|w| w.message.contains("misnamed"));

        let full = verify(&root).unwrap();
        assert!(misnamed(&full), "{:?}", full.warnings);
        assert_eq!(full.trusted, 0);

        let trusting = Options {
            rehash: Rehash::AllBut(BTreeSet::from([digest.clone()])),
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
        let _ = std::fs::remove_dir_all(&root);
    }
}
