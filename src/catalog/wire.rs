//! The catalog files as they are written (serde mirrors of the YAML). Validated into
//! [`super::Catalog`] by `load`; nothing outside this module sees these types.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// The `apiVersion` every catalog file carries.
pub const API_VERSION: &str = "bundle/v1";

/// Only `apiVersion` and `kind`, read first so a wrong kind gets its own message.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub api_version: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CatalogFile {
    pub api_version: String,
    pub kind: String,
    pub capabilities: Vec<CapabilityWire>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CapabilityWire {
    pub name: Spanned<String>,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComponentFile {
    pub api_version: String,
    pub kind: String,
    pub name: Spanned<String>,
    pub description: String,
    pub homepage: String,
    #[serde(default)]
    pub provides: Vec<Spanned<String>>,
    #[serde(default)]
    pub notes: Vec<NoteWire>,
    pub versions: Vec<VersionWire>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NoteWire {
    pub text: Spanned<String>,
    pub source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VersionWire {
    pub version: Spanned<String>,
    #[serde(default)]
    pub lifecycle: Option<Spanned<LifecycleWire>>,
    #[serde(default)]
    pub requires: Vec<ConstraintWire>,
    #[serde(default)]
    pub constrains: Vec<ConstraintWire>,
    #[serde(default)]
    pub conflicts: Vec<ConflictWire>,
    #[serde(default)]
    pub images: Vec<ImageWire>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LifecycleWire {
    pub released: Option<Spanned<String>>,
    pub end_of_life: Option<Spanned<String>>,
    pub retired: Option<Spanned<String>>,
    pub source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConstraintWire {
    pub name: Spanned<String>,
    pub range: Spanned<String>,
    pub source: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConflictWire {
    pub name: Spanned<String>,
    pub source: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageWire {
    pub reference: Spanned<String>,
    pub digest: Option<Spanned<String>>,
    pub source: Option<String>,
}

/// A `kind: Platform` file: a catalog profile or a user's `platform.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlatformFile {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub kubernetes: Option<Spanned<String>>,
    #[serde(default)]
    pub with: Vec<WithWire>,
    #[serde(default)]
    pub without: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_eol: bool,
    #[serde(default)]
    pub as_of: Option<Spanned<String>>,
}

/// One `with` entry: `cni` or `{name: cert-manager, range: ">=1.19.0"}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WithWire {
    /// Just a name (`NAME` or `NAME@RANGE`).
    Name(String),
    /// A name with a range.
    Full(WithFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WithFull {
    pub name: String,
    #[serde(default)]
    pub range: Option<String>,
}
