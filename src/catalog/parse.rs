//! Reading one YAML file of the catalog strictly: parse errors become [`Diagnostic`]s that name the
//! file, the line and column and the field path. Used by `load` (catalog and component files) and by
//! `platform` (request files), which share nothing else.

use super::diagnostics::{Diagnostic, field_path_at};
use super::wire::{self, API_VERSION, Spanned};

/// One file being read: its name as shown to people and its text.
pub(super) struct FileCtx<'a> {
    pub shown: String,
    pub text: &'a str,
}

impl FileCtx<'_> {
    /// Parses a whole file of kind `expected`. The header (`apiVersion`, `kind`) is read on its own
    /// only when something is wrong, so that a wrong kind gets its own message.
    pub fn parse_kind<T: serde::de::DeserializeOwned>(
        &self,
        expected: &str,
        header: impl Fn(&T) -> (&String, &String),
    ) -> Result<T, Diagnostic> {
        match self.parse::<T>() {
            Ok(f) => {
                let (api, kind) = header(&f);
                if api != API_VERSION || kind != expected {
                    check_header(self, expected)?;
                }
                Ok(f)
            }
            Err(d) => {
                check_header(self, expected)?;
                Err(d)
            }
        }
    }

    /// Parses the whole file: with the fast reader where it can, else (and for every error) with
    /// serde-saphyr, whose messages name the place.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        if let Some(v) = super::fast::from_str(self.text) {
            return Ok(v);
        }
        serde_saphyr::from_str_with_options::<T>(self.text, saphyr_options())
            .map_err(|e| self.yaml_error(&e))
    }

    fn yaml_error(&self, e: &serde_saphyr::Error) -> Diagnostic {
        let (line, column, message) = crate::types::yaml_error(e);
        let message = if message.is_empty() {
            "the file is empty".to_string()
        } else {
            message
        };
        let hint = if message.contains("unknown field") {
            "check the spelling; catalog/FORMAT.md lists every field".to_string()
        } else if message.contains("missing field") {
            "add the field; catalog/FORMAT.md shows a complete example".to_string()
        } else if message.contains("expected sequence") {
            "this field takes a list (`- item` lines, or `[]` for none)".to_string()
        } else if message.contains("expected mapping") {
            "this field takes a mapping (`key: value` lines)".to_string()
        } else if message.contains("expected string") {
            "this field takes a single text value; quote it if it contains `:` or `#`".to_string()
        } else if message.contains("end of input") || message.contains("empty") {
            "the file must start with `apiVersion: bundle/v1` and `kind:`".to_string()
        } else {
            "fix the YAML at this place; catalog/FORMAT.md describes the format".to_string()
        };
        let (mut line, mut column) = (line, column);
        let mut field = field_path_at(self.text, line, column);
        if message.contains("missing field")
            && field
                .as_deref()
                .is_some_and(|f| !f.contains('.') && !f.ends_with(']'))
        {
            // a top-level field is missing: the document as a whole lacks it
            (line, column) = (1, 1);
        }
        if message.contains("missing field") {
            // the parser reports the last key it read; the missing field belongs to its mapping
            field = Some(
                match field
                    .as_deref()
                    .and_then(|f| f.rfind('.').map(|i| f[..i].to_string()))
                {
                    Some(parent) => parent,
                    None if field.as_deref().is_some_and(|f| f.ends_with(']')) => {
                        field.unwrap_or_default()
                    }
                    None => "(top level)".to_string(),
                },
            );
        }
        Diagnostic {
            file: self.shown.clone(),
            line,
            column,
            field,
            message,
            hint: Some(hint),
        }
    }

    pub fn at<T>(&self, s: &Spanned<T>, message: String, hint: Option<String>) -> Diagnostic {
        let line = s.referenced.line() as u32;
        let column = s.referenced.column() as u32;
        Diagnostic {
            file: self.shown.clone(),
            line,
            column,
            field: field_path_at(self.text, line, column),
            message,
            hint,
        }
    }
}

/// How serde-saphyr reads catalog files.
pub(super) fn saphyr_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

pub(super) fn check_header(ctx: &FileCtx<'_>, expected: &str) -> Result<(), Diagnostic> {
    let header: wire::Header = ctx.parse()?;
    let whole = |message: String, hint: &str| Diagnostic {
        file: ctx.shown.clone(),
        line: 1,
        column: 1,
        field: None,
        message,
        hint: Some(hint.to_string()),
    };
    match header.api_version {
        None => {
            return Err(whole(
                "missing field `apiVersion`".to_string(),
                &format!("start the file with `apiVersion: {API_VERSION}`"),
            ));
        }
        Some(v) if v.value != API_VERSION => {
            return Err(ctx.at(
                &v,
                format!(
                    "unsupported apiVersion `{}`: this bundle reads `{API_VERSION}`",
                    v.value
                ),
                Some(
                    "a newer bundle may read this file; otherwise write `apiVersion: bundle/v1`"
                        .to_string(),
                ),
            ));
        }
        Some(_) => {}
    }
    match header.kind {
        None => Err(whole(
            "missing field `kind`".to_string(),
            &format!("add `kind: {expected}`"),
        )),
        Some(k) if k.value != expected => Err(ctx.at(
            &k,
            format!("this file must have `kind: {expected}`, not `{}`", k.value),
            Some(format!(
                "files in this place of the catalog are of kind {expected}"
            )),
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod fast_tests;
