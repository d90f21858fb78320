//! Reading `bundle.lock`: the version first (a specific error for a format this build does not
//! read), then the whole file strictly, every value validated where it is read. Version 1 has no
//! `charts` or `manifests`: it is read strictly as version 1 (those fields are unknown there) and
//! upgraded in memory to a version 2 lock without them.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    LOCK_VERSION, Lock, LockedChart, LockedComponent, LockedImage, LockedManifest, LockedRequest,
    OLDEST_LOCK_VERSION,
};
use crate::types::{ChartRef, Date, Digest, ImageRef, Version, VersionReq, WithSpec};

/// The lock could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LockError {
    /// Not YAML, not the lock's shape, or a value that does not parse.
    #[error("{path}:{line}:{column}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// Line (0 when unknown).
        line: u32,
        /// Column (0 when unknown).
        column: u32,
        /// What is wrong.
        message: String,
    },
    /// Written by another version of the format.
    #[error(
        "{path}: lock format version {found} is not supported (this bundle reads versions {OLDEST_LOCK_VERSION} to {LOCK_VERSION})"
    )]
    UnsupportedVersion {
        /// The file.
        path: String,
        /// The version found.
        found: u64,
    },
}

#[derive(Deserialize)]
struct LockHead {
    version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LockWire {
    #[allow(dead_code)]
    version: u64,
    catalog: String,
    request: RequestWire,
    kubernetes: Spanned<String>,
    components: Vec<ComponentWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestWire {
    kubernetes: Spanned<String>,
    #[serde(default)]
    with: Vec<Spanned<String>>,
    #[serde(default)]
    without: Vec<String>,
    #[serde(default)]
    allow_eol: bool,
    #[serde(default)]
    allow_untested: bool,
    #[serde(default)]
    as_of: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentWire {
    name: String,
    version: Spanned<String>,
    #[serde(default)]
    untested: bool,
    #[serde(default)]
    images: Vec<ImageWire>,
    #[serde(default)]
    charts: Option<Spanned<Vec<ChartWire>>>,
    #[serde(default)]
    manifests: Option<Spanned<Vec<ManifestWire>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChartWire {
    name: Spanned<String>,
    repository: String,
    version: String,
    #[serde(default)]
    digest: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestWire {
    url: Spanned<String>,
    #[serde(default)]
    digest: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageWire {
    reference: Spanned<String>,
    #[serde(default)]
    digest: Option<Spanned<String>>,
}

/// Where errors are reported: the file and a value's place in it.
struct Ctx<'a> {
    path: &'a str,
}

impl Ctx<'_> {
    fn at<T>(&self, s: &Spanned<T>, message: String) -> LockError {
        LockError::Malformed {
            path: self.path.to_string(),
            line: s.referenced.line() as u32,
            column: s.referenced.column() as u32,
            message,
        }
    }

    fn syntax(&self, e: serde_saphyr::Error) -> LockError {
        let (line, column, message) = crate::types::yaml_error(&e);
        LockError::Malformed {
            path: self.path.to_string(),
            line,
            column,
            message,
        }
    }

    fn version(&self, s: &Spanned<String>) -> Result<Version, LockError> {
        Version::parse_strict(&s.value).map_err(|e| self.at(s, e.to_string()))
    }

    fn image(&self, i: ImageWire) -> Result<LockedImage, LockError> {
        let reference = ImageRef::parse(&i.reference.value)
            .map_err(|e| self.at(&i.reference, e.to_string()))?;
        if reference.digest().is_some() {
            return Err(self.at(
                &i.reference,
                format!(
                    "image `{}`: the digest belongs in `digest:`, not in the reference",
                    i.reference.value
                ),
            ));
        }
        let digest = match &i.digest {
            Some(d) => Some(
                Digest::parse_sha256(&d.value)
                    .map_err(|e| self.at(d, format!("image `{}`: {e}", i.reference.value)))?,
            ),
            None => None,
        };
        Ok(LockedImage { reference, digest })
    }

    fn digest(&self, d: &Option<Spanned<String>>, what: &str) -> Result<Option<Digest>, LockError> {
        match d {
            Some(d) => Digest::parse_sha256(&d.value)
                .map(Some)
                .map_err(|e| self.at(d, format!("{what}: {e}"))),
            None => Ok(None),
        }
    }

    fn chart(&self, c: ChartWire) -> Result<LockedChart, LockError> {
        let chart = ChartRef::parse(&c.repository, &c.name.value, &c.version)
            .map_err(|e| self.at(&c.name, e.to_string()))?;
        let digest = self.digest(&c.digest, &format!("chart {}", c.name.value))?;
        Ok(LockedChart { chart, digest })
    }

    fn manifest(&self, m: ManifestWire) -> Result<LockedManifest, LockError> {
        let url = &m.url.value;
        let ok = ["https://", "http://"]
            .iter()
            .any(|s| url.strip_prefix(s).is_some_and(|r| !r.is_empty()))
            && !url.chars().any(char::is_whitespace);
        if !ok {
            return Err(self.at(
                &m.url,
                format!("manifest `{url}`: not an http:// or https:// URL"),
            ));
        }
        let digest = self.digest(&m.digest, &format!("manifest `{url}`"))?;
        Ok(LockedManifest {
            url: url.clone(),
            digest,
        })
    }

    /// `charts:`/`manifests:` in a lock whose version has none.
    fn not_in_version<T>(
        &self,
        field: &Option<Spanned<T>>,
        name: &str,
        version: u64,
    ) -> Result<(), LockError> {
        match field {
            Some(s) => Err(self.at(
                s,
                format!("unknown field `{name}`: lock format version {version} has no {name} (version 2 added them)"),
            )),
            None => Ok(()),
        }
    }
}

impl Lock {
    /// Reads a lock; `path` names it in errors. Image references come back normalised (see
    /// [`ImageRef`]), digests validated.
    pub fn parse(text: &str, path: &str) -> Result<Lock, LockError> {
        let ctx = Ctx { path };
        let head: LockHead = serde_saphyr::from_str(text).map_err(|e| ctx.syntax(e))?;
        let version = match head.version {
            Some(v) if (u64::from(OLDEST_LOCK_VERSION)..=u64::from(LOCK_VERSION)).contains(&v) => v,
            Some(v) => {
                return Err(LockError::UnsupportedVersion {
                    path: path.to_string(),
                    found: v,
                });
            }
            None => {
                return Err(LockError::Malformed {
                    path: path.to_string(),
                    line: 1,
                    column: 1,
                    message: "missing field `version`: this is not a bundle.lock".to_string(),
                });
            }
        };
        let w: LockWire = serde_saphyr::from_str(text).map_err(|e| ctx.syntax(e))?;
        let mut with = Vec::new();
        for x in &w.request.with {
            with.push(WithSpec::parse(&x.value).map_err(|e| ctx.at(x, e.to_string()))?);
        }
        let mut components = Vec::new();
        for c in w.components {
            let mut images = Vec::new();
            for i in c.images {
                images.push(ctx.image(i)?);
            }
            if version < 2 {
                ctx.not_in_version(&c.charts, "charts", version)?;
                ctx.not_in_version(&c.manifests, "manifests", version)?;
            }
            let mut charts = Vec::new();
            for ch in c.charts.map(|s| s.value).unwrap_or_default() {
                charts.push(ctx.chart(ch)?);
            }
            let mut manifests = Vec::new();
            for m in c.manifests.map(|s| s.value).unwrap_or_default() {
                manifests.push(ctx.manifest(m)?);
            }
            components.push(LockedComponent {
                version: ctx.version(&c.version)?,
                name: c.name,
                untested: c.untested,
                images,
                charts,
                manifests,
            });
        }
        let as_of = match &w.request.as_of {
            Some(d) => Some(
                d.value
                    .parse::<Date>()
                    .map_err(|e| ctx.at(d, e.to_string()))?,
            ),
            None => None,
        };
        let k = &w.request.kubernetes;
        Ok(Lock {
            catalog: w.catalog,
            request: LockedRequest {
                kubernetes: VersionReq::parse_lenient(&k.value)
                    .map_err(|e| ctx.at(k, e.to_string()))?,
                with,
                without: w.request.without,
                allow_eol: w.request.allow_eol,
                allow_untested: w.request.allow_untested,
                as_of,
            },
            kubernetes: ctx.version(&w.kubernetes)?,
            components,
        })
    }
}
