//! Reading catalog files strictly into a [`Catalog`].

use std::path::Path;

use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

use super::diagnostics::{Diagnostic, LoadError, field_path_at};
use super::platform::PlatformSpec;
use super::wire::{self, API_VERSION};
use super::{
    Capability, Catalog, Component, Conflict, Constraint, Image, Lifecycle, Note, Profile, Release,
};
use crate::types::{Date, Version, VersionReq};

/// A file of the catalog: its path relative to the catalog root and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// The file's text.
    pub text: String,
}

pub(super) fn from_dir(dir: &Path) -> Result<Catalog, LoadError> {
    let io_err = |path: &Path, e: std::io::Error| LoadError {
        diagnostics: vec![Diagnostic {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            field: None,
            message: e.to_string(),
            hint: None,
        }],
    };
    let top = dir.join("catalog.yaml");
    if !top.is_file() {
        return Err(LoadError {
            diagnostics: vec![Diagnostic {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
                field: None,
                message: "not a catalog: catalog.yaml is missing".to_string(),
                hint: Some(
                    "point --catalog (or BUNDLE_CATALOG) at the directory that holds catalog.yaml and components/"
                        .to_string(),
                ),
            }],
        });
    }
    let mut files = Vec::new();
    files.push((
        "catalog.yaml".to_string(),
        std::fs::read_to_string(&top).map_err(|e| io_err(&top, e))?,
    ));
    for sub in ["components", "profiles"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        let entries = std::fs::read_dir(&d).map_err(|e| io_err(&d, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&d, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let p = d.join(&name);
            let text = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
            files.push((format!("{sub}/{name}"), text));
        }
    }
    let origin = dir.display().to_string();
    from_files_with_prefix(&origin, files, &format!("{}/", dir.display()))
}

pub(super) fn from_files(origin: &str, files: Vec<(String, String)>) -> Result<Catalog, LoadError> {
    let prefix = if origin == "embedded" {
        "<embedded>/".to_string()
    } else {
        String::new()
    };
    from_files_with_prefix(origin, files, &prefix)
}

/// Builds the catalog; `shown` is prefixed to paths in messages.
fn from_files_with_prefix(
    origin: &str,
    mut files: Vec<(String, String)>,
    shown: &str,
) -> Result<Catalog, LoadError> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (path, text) in &files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let digest = format!("sha256:{}", hex(&hasher.finalize()));

    let mut diags = Vec::new();
    let mut capabilities = Vec::new();
    let mut components = Vec::new();
    let mut profiles = Vec::new();
    let mut saw_catalog = false;
    for (path, text) in &files {
        let ctx = FileCtx {
            shown: format!("{shown}{path}"),
            text,
        };
        let expected = if path == "catalog.yaml" {
            "Catalog"
        } else if path.starts_with("components/") {
            "Component"
        } else if path.starts_with("profiles/") {
            "Platform"
        } else {
            continue;
        };
        match expected {
            "Catalog" => {
                match ctx.parse_kind::<wire::CatalogFile>(expected, |f| (&f.api_version, &f.kind)) {
                    Ok(f) => {
                        saw_catalog = true;
                        for c in f.capabilities {
                            capabilities.push(Capability {
                                name: c.name.value,
                                description: c.description,
                            });
                        }
                    }
                    Err(d) => diags.push(d),
                }
            }
            "Component" => match ctx
                .parse_kind::<wire::ComponentFile>(expected, |f| (&f.api_version, &f.kind))
            {
                Ok(f) => {
                    let stem = path
                        .trim_start_matches("components/")
                        .trim_end_matches(".yaml")
                        .trim_end_matches(".yml");
                    if let Some(c) = component(&ctx, path, stem, f, &mut diags) {
                        components.push(c);
                    }
                }
                Err(d) => diags.push(d),
            },
            _ => match PlatformSpec::parse_with_name(text, &ctx.shown) {
                Ok(spec) => {
                    let name = path
                        .trim_start_matches("profiles/")
                        .trim_end_matches(".yaml")
                        .trim_end_matches(".yml")
                        .to_string();
                    profiles.push(Profile { name, spec });
                }
                Err(mut e) => diags.append(&mut e.diagnostics),
            },
        }
    }
    if !saw_catalog && diags.is_empty() {
        diags.push(Diagnostic {
            file: format!("{shown}catalog.yaml"),
            line: 0,
            column: 0,
            field: None,
            message: "catalog.yaml is missing".to_string(),
            hint: None,
        });
    }
    let mut by_name: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for c in &components {
        if let Some(first) = by_name.insert(c.name.as_str(), c.file.as_str()) {
            diags.push(Diagnostic {
                file: format!("{shown}{}", c.file),
                line: 1,
                column: 1,
                field: Some("name".to_string()),
                message: format!("component `{}` is already defined in {first}", c.name),
                hint: Some("keep one file per component".to_string()),
            });
        }
    }
    if !diags.is_empty() {
        return Err(LoadError { diagnostics: diags });
    }
    let mut catalog = Catalog::from_parts(capabilities, components);
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    catalog.profiles = profiles;
    catalog.digest = digest;
    catalog.origin = origin.to_string();
    catalog.files = files
        .into_iter()
        .map(|(path, text)| SourceFile { path, text })
        .collect();
    Ok(catalog)
}

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

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options::<T>(self.text, options)
            .map_err(|e| self.yaml_error(&e))
    }

    fn yaml_error(&self, e: &serde_saphyr::Error) -> Diagnostic {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((0, 0));
        let full = e.to_string();
        let first = full.lines().next().unwrap_or("").trim();
        let message = first
            .strip_prefix("error: ")
            .unwrap_or(first)
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("line "))
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_else(|| first.to_string());
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

fn component(
    ctx: &FileCtx<'_>,
    path: &str,
    stem: &str,
    f: wire::ComponentFile,
    diags: &mut Vec<Diagnostic>,
) -> Option<Component> {
    let before = diags.len();
    let name = f.name.value.clone();
    if !valid_name(&name) {
        diags.push(ctx.at(
            &f.name,
            format!("`{name}` is not a valid component name"),
            Some("use lower-case letters, digits and `-`".to_string()),
        ));
    } else if name != stem {
        diags.push(ctx.at(
            &f.name,
            format!("the component is named `{name}` but the file is `{stem}.yaml`"),
            Some(format!("rename the file to components/{name}.yaml")),
        ));
    }
    let mut versions = Vec::new();
    for v in f.versions {
        let version = match Version::parse_strict(&v.version.value) {
            Ok(x) => x,
            Err(e) => {
                diags.push(
                    ctx.at(
                        &v.version,
                        e.to_string(),
                        Some(
                            "catalog versions are MAJOR.MINOR.PATCH, e.g. `3.10.0` for pause 3.10"
                                .to_string(),
                        ),
                    ),
                );
                continue;
            }
        };
        let date = |s: &Spanned<String>, diags: &mut Vec<Diagnostic>| -> Option<Date> {
            match s.value.parse::<Date>() {
                Ok(d) => Some(d),
                Err(e) => {
                    diags.push(ctx.at(
                        s,
                        e.to_string(),
                        Some("write dates as YYYY-MM-DD".to_string()),
                    ));
                    None
                }
            }
        };
        let lifecycle = match &v.lifecycle {
            None => Lifecycle {
                released: None,
                end_of_life: None,
                retired: None,
                source: None,
                line: v.version.referenced.line() as u32,
            },
            Some(lc) => Lifecycle {
                released: lc.value.released.as_ref().and_then(|s| date(s, diags)),
                end_of_life: lc.value.end_of_life.as_ref().and_then(|s| date(s, diags)),
                retired: lc.value.retired.as_ref().and_then(|s| date(s, diags)),
                source: lc.value.source.clone(),
                line: lc.referenced.line() as u32,
            },
        };
        let constraint = |c: wire::ConstraintWire,
                          diags: &mut Vec<Diagnostic>|
         -> Option<Constraint> {
            match VersionReq::parse_strict(&c.range.value) {
                Ok(range) => Some(Constraint {
                    name: c.name.value,
                    range,
                    source: c.source,
                    note: c.note,
                    line: c.name.referenced.line() as u32,
                }),
                Err(e) => {
                    diags.push(ctx.at(
                        &c.range,
                        e.to_string(),
                        Some("write ranges like \">=1.29.0, <1.34.0\" or \"=3.6.8\"".to_string()),
                    ));
                    None
                }
            }
        };
        let requires = v
            .requires
            .into_iter()
            .filter_map(|c| constraint(c, diags))
            .collect();
        let constrains = v
            .constrains
            .into_iter()
            .filter_map(|c| constraint(c, diags))
            .collect();
        let conflicts = v
            .conflicts
            .into_iter()
            .map(|c| Conflict {
                line: c.name.referenced.line() as u32,
                name: c.name.value,
                source: c.source,
                note: c.note,
            })
            .collect();
        let images = v
            .images
            .into_iter()
            .map(|i| Image {
                line: i.reference.referenced.line() as u32,
                reference: i.reference.value,
                digest: i.digest.map(|d| d.value),
                source: i.source,
            })
            .collect();
        versions.push(Release {
            version,
            line: v.version.referenced.line() as u32,
            lifecycle,
            requires,
            constrains,
            conflicts,
            images,
        });
    }
    if diags.len() > before {
        return None;
    }
    Some(Component {
        name,
        description: f.description,
        homepage: f.homepage,
        provides: f.provides.into_iter().map(|p| p.value).collect(),
        notes: f
            .notes
            .into_iter()
            .map(|n| Note {
                line: n.text.referenced.line() as u32,
                text: n.text.value,
                source: n.source,
            })
            .collect(),
        versions,
        file: path.to_string(),
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
