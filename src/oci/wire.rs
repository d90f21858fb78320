//! The OCI documents as they are written (image-spec v1.1 `descriptor.md`, `manifest.md`,
//! `image-index.md`; Docker schema2 manifests and lists have the same shape): one definition of
//! each, used to read and to write.
//!
//! Wire types stay close to the files: a digest is kept as the text found, so that a reader can say
//! which descriptor is wrong instead of refusing the whole document; [`Descriptor::digest`] parses
//! it into a [`Digest`] where it is used.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::media_types::{OCI_INDEX, OCI_MANIFEST};
use crate::types::{Digest, DigestError};

/// A content descriptor: what a manifest or an index says about one piece of content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// `algorithm:hex` of the content, as written.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Where a non-distributable layer may be fetched from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The content itself, base64 (the empty descriptor carries `e30=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The platform, on entries of an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type, on an entry that names an artifact manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `size` bytes of `media_type` content hashing to `digest`.
    pub fn new(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            data: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// The digest, when it is a `sha256:` digest (the only kind a bundle holds).
    pub fn digest(&self) -> Result<Digest, DigestError> {
        Digest::parse_sha256(&self.digest)
    }

    /// The annotation `key`, if present.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// A platform: `os/architecture[/variant]` (an index entry's, an image config's, or one asked for
/// with `--platform`, e.g. `linux/amd64`, `linux/arm/v7`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Whether `other` is this platform; a variant not asked for matches any.
    pub fn matches(&self, other: &Platform) -> bool {
        other.os == self.os
            && other.architecture == self.architecture
            && match &self.variant {
                None => true,
                Some(v) => other.variant.as_deref() == Some(v.as_str()),
            }
    }

    /// Whether it names a platform something runs on (not an attestation's `unknown/unknown`).
    pub fn is_runnable(&self) -> bool {
        !self.os.is_empty() && !self.architecture.is_empty() && self.os != "unknown"
    }
}

/// A `--platform` value that is not `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}`: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7")]
pub struct PlatformParseError(String);

impl FromStr for Platform {
    type Err = PlatformParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        let parts: Vec<&str> = s.split('/').collect();
        let (os, architecture, variant) = match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => (os, arch, None),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => (os, arch, Some(v.to_string())),
            _ => return Err(PlatformParseError(s.to_string())),
        };
        Ok(Platform {
            architecture: architecture.to_string(),
            os: os.to_string(),
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker schema2), or an OCI artifact manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (required for Docker, optional for OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// The config and the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// The first layer of `media_type` (chart content is found by type, never by position).
    pub fn layer(&self, media_type: &str) -> Option<&Descriptor> {
        self.layers.iter().find(|l| l.media_type == media_type)
    }
}

/// An index: OCI image index, Docker manifest list, or an OCI layout's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type (required for Docker lists, optional for OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// An OCI index of `manifests` with `annotations`.
    pub fn new(manifests: Vec<Descriptor>, annotations: BTreeMap<String, String>) -> Index {
        Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_string()),
            manifests,
            annotations,
        }
    }
}

/// A manifest or index document this crate cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Not JSON.
    #[error("the manifest is not JSON: {0}")]
    NotJson(String),
    /// Another `schemaVersion` than 2 (or none).
    #[error("schemaVersion {} is not supported (only 2)", .0.map(|v| v.to_string()).unwrap_or_else(|| "missing".to_string()))]
    SchemaVersion(Option<i64>),
    /// Neither `manifests` nor `config`, and no `mediaType`.
    #[error("neither an index nor an image manifest")]
    Shape,
}

/// What every manifest and index document has.
pub trait Document: serde::de::DeserializeOwned {
    /// `schemaVersion` (2 for every document this crate reads).
    fn schema_version(&self) -> u32;
    /// The document's own `mediaType`, when it has one.
    fn media_type(&self) -> Option<&str>;
}

impl Document for Manifest {
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
    fn media_type(&self) -> Option<&str> {
        self.media_type.as_deref()
    }
}

impl Document for Index {
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
    fn media_type(&self) -> Option<&str> {
        self.media_type.as_deref()
    }
}

/// The media type of a manifest or index document: its `mediaType` field, or for an OCI document
/// without one, its shape (`manifests` → index, `config` → image manifest).
pub fn media_type_of(bytes: &[u8]) -> Result<String, DocumentError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        schema_version: Option<i64>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let shape: Shape =
        serde_json::from_slice(bytes).map_err(|e| DocumentError::NotJson(e.to_string()))?;
    if shape.schema_version != Some(2) {
        return Err(DocumentError::SchemaVersion(shape.schema_version));
    }
    match (shape.media_type, shape.manifests, shape.config) {
        (Some(m), _, _) => Ok(m),
        (None, Some(_), _) => Ok(OCI_INDEX.to_string()),
        (None, None, Some(_)) => Ok(OCI_MANIFEST.to_string()),
        (None, None, None) => Err(DocumentError::Shape),
    }
}

/// A document as JSON bytes (pretty-printed, deterministic: fields in declaration order, maps sorted).
pub fn to_json<T: Serialize>(document: &T) -> Vec<u8> {
    // Serialising these types cannot fail: every key is a string and every value plain data.
    serde_json::to_vec_pretty(document).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media_types::DOCKER_MANIFEST;

    #[test]
    fn media_types_by_field_or_shape() {
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            OCI_INDEX
        );
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"config":{}}"#).unwrap(),
            OCI_MANIFEST
        );
        assert_eq!(
            media_type_of(
                format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}"}}"#).as_bytes()
            )
            .unwrap(),
            DOCKER_MANIFEST
        );
        assert!(media_type_of(br#"{"schemaVersion":1}"#).is_err());
        assert!(media_type_of(b"nope").is_err());
    }

    #[test]
    fn platforms_parse_and_match() {
        let p: Platform = "linux/arm64".parse().unwrap();
        let wire = |os: &str, a: &str, v: Option<&str>| Platform {
            os: os.into(),
            architecture: a.into(),
            variant: v.map(Into::into),
        };
        assert!(p.matches(&wire("linux", "arm64", Some("v8"))));
        assert!(!p.matches(&wire("linux", "amd64", None)));
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        assert_eq!(v7.to_string(), "linux/arm/v7");
        assert!(v7.matches(&wire("linux", "arm", Some("v7"))));
        assert!(!v7.matches(&wire("linux", "arm", Some("v6"))));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
        assert!(!wire("unknown", "unknown", None).is_runnable());
    }

    #[test]
    fn documents_round_trip() {
        let d = Descriptor::new(OCI_MANIFEST, &Digest::sha256_of(b"m"), 1);
        let index = Index::new(vec![d.clone()], BTreeMap::new());
        let back: Index = serde_json::from_slice(&to_json(&index)).unwrap();
        assert_eq!(back, index);
        assert_eq!(back.manifests[0].digest().unwrap(), Digest::sha256_of(b"m"));
        let text = String::from_utf8(to_json(&d)).unwrap();
        assert!(
            !text.contains("urls") && !text.contains("platform"),
            "{text}"
        );
    }
}
