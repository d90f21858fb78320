//! The JSON form of the matrix (format version [`FORMAT_VERSION`]), written by `bundle matrix
//! --format json` and read back by `--baseline`. Documented in `docs/compatibility.md`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Cell, Marks, Matrix, Platform};

/// The version of the JSON format. Readers refuse any other.
pub const FORMAT_VERSION: u32 = 1;

/// A JSON object whose keys keep their order (columns stay oldest → newest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedMap<T>(pub Vec<(String, T)>);

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<T> OrderedMap<T> {
    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<T: Serialize> Serialize for OrderedMap<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The whole matrix as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixFile {
    /// Format version, [`FORMAT_VERSION`].
    pub version: u32,
    /// Digest of the catalog the matrix was built from.
    #[serde(default)]
    pub catalog: String,
    /// The `--kubernetes` range, or `null` for every minor of the catalog.
    #[serde(default)]
    pub kubernetes_range: Option<String>,
    /// The columns: Kubernetes minors, oldest first.
    pub kubernetes: Vec<String>,
    /// Per minor: its newest Kubernetes version in the catalog and that version's lifecycle.
    #[serde(default)]
    pub kubernetes_lines: OrderedMap<KubernetesLine>,
    /// The rows.
    pub components: Vec<ComponentRow>,
    /// The request solved per minor for `platforms`.
    #[serde(default)]
    pub request: Option<RequestFile>,
    /// Per minor: the platform, or the conflict that prevents it.
    #[serde(default)]
    pub platforms: OrderedMap<PlatformFile>,
}

/// A Kubernetes minor (a column).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesLine {
    /// The newest version of this minor in the catalog, e.g. `1.35.9`.
    pub newest: String,
    /// Its end of life, if the catalog gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eol: Option<String>,
}

/// A row: one component.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRow {
    /// Component name.
    pub name: String,
    /// Capabilities it provides.
    #[serde(default)]
    pub provides: Vec<String>,
    /// Minor → cell.
    pub cells: OrderedMap<CellFile>,
}

/// A cell (also a component of a solved platform).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CellFile {
    /// The newest version that installs, or `null`.
    pub version: Option<String>,
    /// Whether it is the newest version of the component in the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<bool>,
    /// End of life of that release line (a date; past or future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eol: Option<String>,
    /// Date the project was retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<String>,
    /// `true` when the version is untested (no published Kubernetes range, for it or for a release
    /// it needs): the solver chooses it only when untested versions are allowed. Absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untested: bool,
    /// Why no version installs (only when `version` is `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where that fact comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The request of the platform table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestFile {
    /// `profile default`, or the request file's name.
    pub from: String,
    /// The request's own Kubernetes range (narrowed to each minor).
    pub kubernetes: String,
    /// Wanted components and capabilities.
    pub with: Vec<String>,
    /// Refused components.
    pub without: Vec<String>,
    /// Whether untested versions were allowed (`--allow-untested`); absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_untested: bool,
}

/// The platform for one minor, or its conflict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformFile {
    /// The chosen Kubernetes version (solved platforms only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
    /// Component → cell (solved platforms only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<OrderedMap<CellFile>>,
    /// One line: the conflicting part of the request and the first fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
    /// The smallest conflicting part of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<Vec<String>>,
    /// The facts that clash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Vec<FactFile>>,
}

/// A fact of a conflict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FactFile {
    /// What it is about.
    pub subject: String,
    /// The fact.
    pub fact: String,
    /// Where it comes from.
    pub source: Option<String>,
}

/// The JSON could not be read as a matrix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// Not JSON, or not the shape of a matrix.
    #[error("not a matrix JSON file: {0}")]
    Malformed(String),
    /// Another format version.
    #[error(
        "matrix format version {0} is not supported (this bundle reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u64),
}

fn marked(version: String, m: &Marks) -> CellFile {
    CellFile {
        version: Some(version),
        newest: Some(m.newest),
        eol: m.end_of_life.map(|d| d.to_string()),
        retired: m.retired.map(|d| d.to_string()),
        untested: m.untested,
        reason: None,
        source: None,
    }
}

impl MatrixFile {
    /// The JSON form of a matrix.
    pub fn from_matrix(m: &Matrix) -> Self {
        let cell = |c: &Cell| match c {
            Cell::Version { version, marks } => marked(version.to_string(), marks),
            Cell::None(r) => CellFile {
                version: None,
                newest: None,
                eol: None,
                retired: None,
                untested: false,
                reason: Some(r.text.clone()),
                source: r.source.clone(),
            },
        };
        MatrixFile {
            version: FORMAT_VERSION,
            catalog: m.catalog.clone(),
            kubernetes_range: m.kubernetes_range.as_ref().map(|r| r.to_string()),
            kubernetes: m.minors.iter().map(|x| x.name.clone()).collect(),
            kubernetes_lines: OrderedMap(
                m.minors
                    .iter()
                    .map(|x| {
                        (
                            x.name.clone(),
                            KubernetesLine {
                                newest: x.newest.to_string(),
                                eol: x.marks.end_of_life.map(|d| d.to_string()),
                            },
                        )
                    })
                    .collect(),
            ),
            components: m
                .rows
                .iter()
                .map(|r| ComponentRow {
                    name: r.name.clone(),
                    provides: r.provides.clone(),
                    cells: OrderedMap(
                        m.minors
                            .iter()
                            .zip(&r.cells)
                            .map(|(x, c)| (x.name.clone(), cell(c)))
                            .collect(),
                    ),
                })
                .collect(),
            request: Some(RequestFile {
                from: m.request_label.clone(),
                kubernetes: m.request.kubernetes.to_string(),
                with: m.request.with.iter().map(|w| w.to_string()).collect(),
                without: m.request.without.clone(),
                allow_untested: m.request.allow_untested,
            }),
            platforms: OrderedMap(
                m.minors
                    .iter()
                    .zip(&m.platforms)
                    .map(|(x, p)| {
                        let file = match p {
                            Platform::Solved {
                                kubernetes,
                                components,
                            } => PlatformFile {
                                kubernetes: Some(kubernetes.to_string()),
                                components: Some(OrderedMap(
                                    components
                                        .iter()
                                        .map(|c| {
                                            (
                                                c.name.clone(),
                                                marked(c.version.to_string(), &c.marks),
                                            )
                                        })
                                        .collect(),
                                )),
                                conflict: None,
                                core: None,
                                facts: None,
                            },
                            Platform::Conflict {
                                summary,
                                core,
                                facts,
                            } => PlatformFile {
                                kubernetes: None,
                                components: None,
                                conflict: Some(summary.clone()),
                                core: Some(core.clone()),
                                facts: Some(
                                    facts
                                        .iter()
                                        .map(|f| FactFile {
                                            subject: f.subject.clone(),
                                            fact: f.text.clone(),
                                            source: f.source.clone(),
                                        })
                                        .collect(),
                                ),
                            },
                        };
                        (x.name.clone(), file)
                    })
                    .collect(),
            ),
        }
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a matrix JSON file (any version is detected first, so a newer file gets its own error).
    pub fn parse(text: &str) -> Result<Self, ReadError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: Option<serde_json::Value>,
        }
        let v: VersionOnly =
            serde_json::from_str(text).map_err(|e| ReadError::Malformed(e.to_string()))?;
        match v.version.as_ref().and_then(|x| x.as_u64()) {
            Some(n) if n == u64::from(FORMAT_VERSION) => {}
            Some(n) => return Err(ReadError::UnsupportedVersion(n)),
            None => {
                return Err(ReadError::Malformed(
                    "no numeric `version` field at the top level".to_string(),
                ));
            }
        }
        serde_json::from_str(text).map_err(|e| ReadError::Malformed(e.to_string()))
    }
}

/// The matrix as pretty JSON (format version [`FORMAT_VERSION`]).
pub fn to_json(m: &Matrix) -> String {
    MatrixFile::from_matrix(m).to_json()
}
