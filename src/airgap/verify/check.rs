//! The checks of `verify`, on what a scan found: pure, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use super::{Problem, Report};
use crate::airgap::archive::EntryNote;
use crate::airgap::delta::DeltaOf;
use crate::airgap::format::{
    CATALOG_MEDIA_TYPE, COMPONENT_ANNOTATION, EntryKind, FORMAT_VERSION_ANNOTATION,
    LOCK_MEDIA_TYPE, MANIFESTS_MEDIA_TYPE, NAME_ANNOTATION, ORIGINAL_DIGEST_ANNOTATION,
    PLATFORM_ARTIFACT_TYPE, PLATFORM_REF_NAME, READABLE_FORMAT_VERSIONS,
    REFERRER_SCHEME_ANNOTATION, REFERRER_SUBJECT_ANNOTATION, RELEASE_MANIFEST_MEDIA_TYPE,
    RELEASE_MANIFESTS_ARTIFACT_TYPE, ReferrerScheme, SOURCE_URL_ANNOTATION, entry_name,
    max_document_size,
};
use crate::airgap::scan::Scan;
use crate::oci::chart::{chart_layer, metadata_of_config};
use crate::oci::layout::{INDEX_FILE, OCI_LAYOUT_FILE, OCI_LAYOUT_VERSION};
use crate::oci::media_types::{
    DOCKER_CONFIG, DOCKER_LAYER_PREFIX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG,
    OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST, REF_NAME_ANNOTATION, is_docker, is_index,
    is_manifest, is_nondistributable,
};
use crate::oci::wire::{Descriptor, Document, Index, Manifest};
use crate::types::{Digest, ImageRef};

/// Checks what [`crate::airgap::scan::scan`] found. Pure: no I/O.
pub fn check(scan: &Scan) -> Report {
    let delta = scan
        .index
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Index>(b).ok())
        .and_then(|i| DeltaOf::of(&i));
    let mut c = Checker {
        scan,
        delta: delta.is_some(),
        from_base: BTreeMap::new(),
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
        delta,
        from_base: c.from_base,
        images,
        blobs: scan.blobs.len(),
        bytes: scan.bytes(),
        trusted: 0,
        container: scan.container.name().to_string(),
        ..Report::default()
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
    /// The bundle is a delta: configs and layers it leaves to its base may be absent.
    delta: bool,
    /// Blobs absent from a delta, left to its base: digest → size.
    from_base: BTreeMap<String, u64>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    /// Digests named by some descriptor.
    referenced: BTreeSet<String>,
    /// Manifests and indexes already checked.
    visited: BTreeSet<String>,
    corrupt_reported: BTreeSet<String>,
}

fn is_sha256(d: &str) -> bool {
    Digest::parse_sha256(d).is_ok()
}

/// `sha256:` and 12 hex digits of a digest as written (which may be malformed).
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
                EntryNote::TooLarge { entry, size } => self.problem(
                    entry.clone(),
                    format!(
                        "implausibly large ({size} bytes, the limit for an index is {}); {}",
                        crate::input::Kind::Index.limit(),
                        crate::input::Kind::Index.raise_hint()
                    ),
                ),
                EntryNote::BadPart { part, message } => self.problem(part.clone(), message.clone()),
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
            // An index over its limit is reported as such, not as missing.
            let too_large = self.scan.notes.iter().any(
                |n| matches!(n, EntryNote::TooLarge { entry, .. } if entry.ends_with(INDEX_FILE)),
            );
            if !too_large {
                self.problem(INDEX_FILE, "missing: the bundle has no top-level index");
            }
            return 0;
        };
        let index: Index = match serde_json::from_slice(bytes) {
            Ok(i) => i,
            Err(e) => {
                self.problem(INDEX_FILE, format!("not an OCI image index: {e}"));
                return 0;
            }
        };
        self.index_header(&index);
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut platform = None;
        for (i, d) in index.manifests.iter().enumerate() {
            if self.index_entry(i, d, &mut names) {
                platform = Some(d);
            }
        }
        match platform {
            None => self.problem(
                INDEX_FILE,
                format!("no platform artifact (artifactType {PLATFORM_ARTIFACT_TYPE})"),
            ),
            Some(d) => self.platform_artifact(d),
        }
        index.manifests.len()
    }

    /// `index.json`'s schema version, media type and bundle format version.
    fn index_header(&mut self, index: &Index) {
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
            Some(v) if READABLE_FORMAT_VERSIONS.contains(&v.as_str()) => {}
            Some(v) => self.problem(
                INDEX_FILE,
                format!(
                    "bundle format version {v:?} is not supported (this build reads {})",
                    READABLE_FORMAT_VERSIONS.join(", ")
                ),
            ),
            None => self.warn(
                INDEX_FILE,
                format!(
                    "no `{FORMAT_VERSION_ANNOTATION}` annotation: a plain OCI layout, not written by `bundle export`"
                ),
            ),
        }
    }

    /// Checks entry `i` of `index.json` (its name against `names`, the names seen so far; its
    /// annotations; what it reaches); returns whether it is the platform artifact.
    fn index_entry(
        &mut self,
        i: usize,
        d: &Descriptor,
        names: &mut BTreeMap<String, usize>,
    ) -> bool {
        let kind = EntryKind::of(d);
        let is_platform = kind == EntryKind::Platform;
        let name = entry_name(d).map(str::to_string);
        let subject = match (&name, is_platform) {
            (_, true) => PLATFORM_REF_NAME.to_string(),
            (Some(n), false) => n.clone(),
            (None, false) => format!("{INDEX_FILE} manifests[{i}]"),
        };
        match &name {
            None if is_platform => {}
            None => {
                let key = if kind == EntryKind::Image {
                    REF_NAME_ANNOTATION
                } else {
                    NAME_ANNOTATION
                };
                self.problem(
                    subject.clone(),
                    format!("no `{key}` annotation: the {} cannot be named", kind.noun()),
                )
            }
            Some(n) => self.entry_named(i, kind, n, &subject, names),
        }
        if !is_platform && !d.annotations.contains_key(COMPONENT_ANNOTATION) {
            self.warn(
                subject.clone(),
                format!("no `{COMPONENT_ANNOTATION}` annotation"),
            );
        }
        if let Some(orig) = d.annotations.get(ORIGINAL_DIGEST_ANNOTATION) {
            if !is_sha256(orig) {
                self.problem(
                    subject.clone(),
                    format!("`{ORIGINAL_DIGEST_ANNOTATION}` is not a sha256 digest: {orig:?}"),
                );
            } else if !is_index(&d.media_type) {
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
        match kind {
            EntryKind::Chart => self.chart(d, &subject),
            EntryKind::ReleaseManifests => self.release_manifests(d, &subject),
            EntryKind::Referrers => self.referrers(d, &subject),
            EntryKind::Image | EntryKind::Platform => {}
        }
        is_platform
    }

    /// An entry's name: an artifact's must be `REGISTRY/REPOSITORY:TAG`; no name twice.
    fn entry_named(
        &mut self,
        i: usize,
        kind: EntryKind,
        n: &str,
        subject: &str,
        names: &mut BTreeMap<String, usize>,
    ) {
        if kind != EntryKind::Image {
            let problem = match ImageRef::parse(n) {
                Ok(r) if r.tag().is_some() => None,
                Ok(_) => Some("no tag".to_string()),
                Err(e) => Some(e.reason.to_string()),
            };
            if let Some(reason) = problem {
                self.problem(
                    subject,
                    format!("`{NAME_ANNOTATION}` is not REGISTRY/REPOSITORY:TAG: {reason}"),
                );
            }
        }
        if let Some(j) = names.insert(n.to_string(), i) {
            self.problem(
                subject,
                format!("named twice in {INDEX_FILE} (manifests[{j}] and [{i}])"),
            );
        }
    }

    /// Checks one descriptor: digest form, presence, size, content digest, media type for its role; then
    /// descends into manifests and indexes. `context` names the image (for messages).
    fn descriptor(&mut self, d: &Descriptor, role: Role, context: &str) {
        let subject = d.digest.clone();
        if !is_sha256(&d.digest) {
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
            let document = is_manifest(&d.media_type) || is_index(&d.media_type);
            if self.delta && !document && role != Role::Top {
                self.from_base.insert(d.digest.clone(), d.size);
                return;
            }
            let optional = is_nondistributable(&d.media_type);
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
        if blob.digest.as_str() != d.digest
            && blob.read_error.is_none()
            && self.corrupt_reported.insert(d.digest.clone())
        {
            self.problem(
                subject.clone(),
                format!("corrupt: the content hashes to {}", blob.digest),
            );
        }
        if is_manifest(&d.media_type) || is_index(&d.media_type) {
            if !self.visited.insert(d.digest.clone()) {
                return;
            }
            let Some(doc) = blob.document.as_deref() else {
                let why = if blob.size > max_document_size() {
                    format!(
                        "larger than {} bytes, the limit for a manifest; {}",
                        max_document_size(),
                        crate::input::Kind::Manifest.raise_hint()
                    )
                } else {
                    "not a JSON object".to_string()
                };
                self.problem(subject, format!("{} of {context} is {why}", d.media_type));
                return;
            };
            if is_manifest(&d.media_type) {
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
                if !is_manifest(mt) && !is_index(mt) {
                    self.problem(
                        context,
                        format!(
                            "{INDEX_FILE} entry has media type {mt:?}: not a manifest or an index"
                        ),
                    );
                }
            }
            Role::OciChild => {
                if !is_manifest(mt) && !is_index(mt) {
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
                if is_manifest(mt) || is_index(mt) {
                    self.problem(
                        subject,
                        format!(
                            "{} of {context} has a manifest media type {mt}",
                            role.noun()
                        ),
                    );
                } else if is_docker(mt) {
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
        let docker = is_docker(&d.media_type);
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

    /// Parses a manifest or index document and checks what every document must be: schemaVersion 2,
    /// and its own mediaType, when present, the one its descriptor names.
    fn document<T: Document>(&mut self, d: &Descriptor, doc: &[u8], context: &str) -> Option<T> {
        let parsed: T = match serde_json::from_slice(doc) {
            Ok(p) => p,
            Err(e) => {
                self.problem(
                    d.digest.clone(),
                    format!("{context}: not a valid {}: {e}", d.media_type),
                );
                return None;
            }
        };
        if parsed.schema_version() != 2 {
            self.problem(
                d.digest.clone(),
                format!(
                    "{context}: schemaVersion is {} (expected 2)",
                    parsed.schema_version()
                ),
            );
        }
        self.own_media_type(d, parsed.media_type(), context);
        Some(parsed)
    }

    fn manifest(&mut self, d: &Descriptor, doc: &[u8], context: &str) {
        let Some(m) = self.document::<Manifest>(d, doc, context) else {
            return;
        };
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
        if let Some(s) = &m.subject
            && is_sha256(&s.digest)
        {
            self.referenced.insert(s.digest.clone());
        }
    }

    fn child_index(&mut self, d: &Descriptor, doc: &[u8], context: &str) {
        let Some(i) = self.document::<Index>(d, doc, context) else {
            return;
        };
        let role = if d.media_type == DOCKER_MANIFEST_LIST {
            Role::DockerChild
        } else {
            Role::OciChild
        };
        for c in &i.manifests {
            self.descriptor(c, role, context);
        }
    }

    /// The manifest an artifact entry names, when it is an OCI manifest that was read (problems with
    /// it are reported by [`Checker::descriptor`]).
    fn artifact_manifest(&mut self, d: &Descriptor, subject: &str) -> Option<Manifest> {
        if d.media_type != OCI_MANIFEST {
            self.problem(
                subject,
                format!("has media type {} (expected {OCI_MANIFEST})", d.media_type),
            );
            return None;
        }
        let doc = self.scan.document(&d.digest)?;
        serde_json::from_slice::<Manifest>(doc).ok()
    }

    /// Referrers of an image's manifest: their subject is a sha256 digest of a blob in the bundle, and
    /// the scheme is one this build knows.
    fn referrers(&mut self, d: &Descriptor, subject: &str) {
        let of = d
            .annotation(REFERRER_SUBJECT_ANNOTATION)
            .unwrap_or_default();
        if !is_sha256(of) {
            let m = format!("`{REFERRER_SUBJECT_ANNOTATION}` is not a sha256 digest: {of:?}");
            self.problem(subject, m);
        } else if !self.scan.blobs.contains_key(of) {
            self.problem(subject, format!("its subject {of} is not in the bundle"));
        }
        let scheme = d.annotation(REFERRER_SCHEME_ANNOTATION).unwrap_or_default();
        if ReferrerScheme::parse(scheme).is_none() {
            let m = format!("`{REFERRER_SCHEME_ANNOTATION}` {scheme:?} is not a known scheme");
            self.problem(subject, m);
        }
    }

    /// A Helm chart: Helm's config (chart metadata JSON) and exactly one chart layer.
    fn chart(&mut self, d: &Descriptor, subject: &str) {
        let Some(m) = self.artifact_manifest(d, subject) else {
            return;
        };
        if let Err(e) = chart_layer(&m) {
            self.problem(subject, e.0);
            return;
        }
        if let Some(config) = self.scan.document(&m.config.digest)
            && let Err(e) = metadata_of_config(config)
        {
            self.problem(m.config.digest.clone(), format!("{subject}: {}", e.0));
        }
    }

    /// A component version's release manifests: our artifact type, the empty config, one layer per
    /// file, each with the URL it came from.
    fn release_manifests(&mut self, d: &Descriptor, subject: &str) {
        let Some(m) = self.artifact_manifest(d, subject) else {
            return;
        };
        if m.artifact_type.as_deref() != Some(RELEASE_MANIFESTS_ARTIFACT_TYPE) {
            self.problem(
                subject,
                format!(
                    "artifactType is {:?} (expected {RELEASE_MANIFESTS_ARTIFACT_TYPE})",
                    m.artifact_type
                ),
            );
        }
        if m.config.media_type != OCI_EMPTY || m.config.digest != OCI_EMPTY_DIGEST {
            self.problem(
                subject,
                format!(
                    "config is {} (expected the empty descriptor)",
                    m.config.media_type
                ),
            );
        }
        if m.layers.is_empty() {
            self.problem(subject, "no release manifest in it");
        }
        for l in &m.layers {
            if l.media_type != RELEASE_MANIFEST_MEDIA_TYPE {
                self.problem(
                    l.digest.clone(),
                    format!(
                        "{subject}: a layer of type {} (expected {RELEASE_MANIFEST_MEDIA_TYPE})",
                        l.media_type
                    ),
                );
            } else if l.annotation(SOURCE_URL_ANNOTATION).is_none() {
                self.problem(
                    l.digest.clone(),
                    format!("{subject}: a release manifest without `{SOURCE_URL_ANNOTATION}`"),
                );
            }
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
        // the catalog: one, or none in a bundle written before bundles carried it
        let n = m
            .layers
            .iter()
            .filter(|l| l.media_type == CATALOG_MEDIA_TYPE)
            .count();
        if n > 1 {
            self.problem(
                subject,
                format!("has {n} layers of type {CATALOG_MEDIA_TYPE} (expected at most 1)"),
            );
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
            if blob.digest.as_str() != name && blob.read_error.is_none() {
                msg.push_str(&format!(
                    "; misnamed: its content hashes to {}",
                    blob.digest
                ));
            }
            self.warn(name.clone(), msg);
        }
    }
}
