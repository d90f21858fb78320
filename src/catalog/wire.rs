//! The catalog files as they are written (serde mirrors of the YAML). Validated into
//! [`super::Catalog`] by `load`; nothing outside this module sees these types.

use serde::Deserialize;

pub use super::fast::Spanned;

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
    /// The date the catalog's facts were last checked against their sources.
    #[serde(default)]
    pub checked: Option<Spanned<String>>,
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
    #[serde(default)]
    pub support_policy: Option<Spanned<SupportPolicyWire>>,
    #[serde(default)]
    pub upgrade: Option<Spanned<UpgradeWire>>,
    /// How upstream signs its artifacts, per version range (issue 18 item 3).
    #[serde(default)]
    pub signing: Vec<SigningWire>,
    pub versions: Vec<VersionWire>,
}

/// One `signing:` entry: a version range, the artifacts it covers (optionally only some
/// repositories), exactly one of `keyless`, `key` and `anyOf`, where the signatures are stored when
/// not next to the artifacts, with its source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SigningWire {
    pub versions: Spanned<String>,
    pub artifacts: Spanned<SignedArtifactsWire>,
    #[serde(default)]
    pub keyless: Option<Spanned<KeylessWire>>,
    #[serde(default)]
    pub key: Option<Spanned<KeyWire>>,
    #[serde(default)]
    pub any_of: Option<Spanned<Vec<SignerWire>>>,
    #[serde(default)]
    pub repositories: Vec<Spanned<String>>,
    #[serde(default)]
    pub signature_repository: Option<Spanned<String>>,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// `images | charts | imagesAndCharts`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignedArtifactsWire {
    Images,
    Charts,
    ImagesAndCharts,
}

/// One item of `anyOf`: exactly one of `keyless` and `key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignerWire {
    #[serde(default)]
    pub keyless: Option<Spanned<KeylessWire>>,
    #[serde(default)]
    pub key: Option<Spanned<KeyWire>>,
}

/// `keyless: {identity | identityPattern, issuer}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeylessWire {
    #[serde(default)]
    pub identity: Option<Spanned<String>>,
    #[serde(default)]
    pub identity_pattern: Option<Spanned<String>>,
    pub issuer: Spanned<String>,
}

/// `key: {pem}` or `key: {url, sha256}`, with the signature's `digest` (default sha256).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyWire {
    #[serde(default)]
    pub pem: Option<Spanned<String>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    #[serde(default)]
    pub digest: Option<Spanned<String>>,
}

/// `upgrade: {rules, versionSkew}`: upstream's published upgrade rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpgradeWire {
    #[serde(default)]
    pub rules: Vec<Spanned<UpgradeRuleWire>>,
    #[serde(default)]
    pub version_skew: Option<Spanned<VersionSkewWire>>,
}

/// One rule: exactly one of `minorSteps`, `latestPatchFirst`, `to`+`from`; with its source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpgradeRuleWire {
    #[serde(default)]
    pub minor_steps: Option<Spanned<u64>>,
    #[serde(default)]
    pub latest_patch_first: Option<Spanned<bool>>,
    #[serde(default)]
    pub to: Option<Spanned<String>>,
    #[serde(default)]
    pub from: Option<Spanned<String>>,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// `versionSkew: {reference, parts, source, note}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VersionSkewWire {
    pub reference: Spanned<String>,
    pub parts: Vec<SkewPartWire>,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// One part under the skew policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SkewPartWire {
    pub name: Spanned<String>,
    pub order: Spanned<u32>,
    pub runs_on: RunsOnWire,
    #[serde(default)]
    pub behind: u64,
    #[serde(default)]
    pub ahead: u64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunsOnWire {
    ControlPlane,
    Nodes,
}

/// `supportPolicy: {endOfLife: N+2, source, note}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SupportPolicyWire {
    pub end_of_life: Spanned<String>,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
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
    #[serde(default)]
    pub kubernetes: Option<Spanned<KubernetesWire>>,
    #[serde(default)]
    pub charts: Vec<ChartWire>,
    #[serde(default)]
    pub manifests: Vec<ManifestWire>,
    #[serde(default)]
    pub no_artifacts: Option<Spanned<NoArtifactsWire>>,
}

/// `kubernetes: {status: independent|untested, note, source}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesWire {
    pub status: Spanned<KubernetesStatusWire>,
    pub note: String,
    pub source: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesStatusWire {
    Independent,
    Untested,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartWire {
    pub repository: Spanned<String>,
    pub name: Spanned<String>,
    pub version: Spanned<String>,
    pub app_version: Spanned<String>,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ManifestWire {
    pub url: Spanned<String>,
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NoArtifactsWire {
    pub text: String,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LifecycleWire {
    pub released: Option<Spanned<String>>,
    pub end_of_life: Option<Spanned<String>>,
    pub retired: Option<Spanned<String>>,
    #[serde(default)]
    pub tagged: Option<Spanned<String>>,
    pub source: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
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
    pub allow_untested: bool,
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
