//! `kind: Platform`: a request for a platform, from a catalog profile or a user's `platform.yaml`.

use super::diagnostics::{Diagnostic, LoadError};
use super::parse::FileCtx;
use super::wire::{PlatformFile, WithWire};
use crate::types::{Date, VersionReq, WithSpec};

/// A platform request as written in a `kind: Platform` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    /// The Kubernetes range (`*` = newest allowed).
    pub kubernetes: VersionReq,
    /// Wanted components and capabilities, in file order.
    pub with: Vec<WithSpec>,
    /// Components never to choose.
    pub without: Vec<String>,
    /// Whether end-of-life and retired versions may be chosen.
    pub allow_eol: bool,
    /// Whether `untested` versions (no published Kubernetes range) may be chosen.
    pub allow_untested: bool,
    /// The date lifecycle is judged on, if fixed in the file.
    pub as_of: Option<Date>,
}

impl PlatformSpec {
    /// Reads a `kind: Platform` document; `file` names it in errors.
    pub fn parse_with_name(text: &str, file: &str) -> Result<Self, LoadError> {
        let ctx = FileCtx {
            shown: file.to_string(),
            text,
        };
        let one = |d: Diagnostic| LoadError {
            diagnostics: vec![d],
        };
        let f: PlatformFile = ctx
            .parse_kind("Platform", |f: &PlatformFile| (&f.api_version, &f.kind))
            .map_err(one)?;
        let mut diags = Vec::new();
        let kubernetes = match &f.kubernetes {
            None => VersionReq::any(),
            Some(k) => match VersionReq::parse_lenient(&k.value) {
                Ok(r) => r,
                Err(e) => {
                    diags.push(ctx.at(
                        k,
                        e.to_string(),
                        Some("e.g. \"~1.35\" or \">=1.33, <1.36\"".into()),
                    ));
                    VersionReq::any()
                }
            },
        };
        let mut with = Vec::new();
        for w in f.with {
            let parsed = match w {
                WithWire::Name(n) => WithSpec::parse(&n).map_err(|e| e.to_string()),
                WithWire::Full(full) => match full.range {
                    None => WithSpec::parse(&full.name).map_err(|e| e.to_string()),
                    Some(r) => VersionReq::parse_lenient(&r)
                        .map(|range| WithSpec {
                            name: full.name.clone(),
                            range,
                        })
                        .map_err(|e| e.to_string()),
                },
            };
            match parsed {
                Ok(w) => with.push(w),
                Err(message) => diags.push(Diagnostic {
                    file: file.to_string(),
                    line: 0,
                    column: 0,
                    field: Some("with".to_string()),
                    message,
                    hint: None,
                }),
            }
        }
        let as_of = match &f.as_of {
            None => None,
            Some(s) => match s.value.parse::<Date>() {
                Ok(d) => Some(d),
                Err(e) => {
                    diags.push(ctx.at(s, e.to_string(), None));
                    None
                }
            },
        };
        if !diags.is_empty() {
            return Err(LoadError { diagnostics: diags });
        }
        Ok(PlatformSpec {
            kubernetes,
            with,
            without: f.without.into_iter().map(|s| s.value).collect(),
            allow_eol: f.allow_eol,
            allow_untested: f.allow_untested,
            as_of,
        })
    }
}
