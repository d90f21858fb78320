//! Reading `bundle.lock`: the version first (a specific error for a format this build does not
//! read), then the whole file strictly, every value validated where it is read.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{LOCK_VERSION, Lock, LockedComponent, LockedImage, LockedRequest};
use crate::types::{Date, Digest, ImageRef, Version, VersionReq, WithSpec};

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
        "{path}: lock format version {found} is not supported (this bundle reads version {LOCK_VERSION})"
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
        let (line, column) = e
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((0, 0));
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("").trim();
        let message = first
            .strip_prefix("error: ")
            .unwrap_or(first)
            .split_once(": ")
            .filter(|(h, _)| h.starts_with("line "))
            .map(|(_, r)| r.to_string())
            .unwrap_or_else(|| first.to_string());
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
}

impl Lock {
    /// Reads a lock; `path` names it in errors. Image references come back normalised (see
    /// [`ImageRef`]), digests validated.
    pub fn parse(text: &str, path: &str) -> Result<Lock, LockError> {
        let ctx = Ctx { path };
        let head: LockHead = serde_saphyr::from_str(text).map_err(|e| ctx.syntax(e))?;
        match head.version {
            Some(v) if v == u64::from(LOCK_VERSION) => {}
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
        }
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
            components.push(LockedComponent {
                version: ctx.version(&c.version)?,
                name: c.name,
                untested: c.untested,
                images,
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
