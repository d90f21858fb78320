//! Reading catalog files strictly into a [`Catalog`].

use std::path::Path;

use crate::trace::Phase;
use crate::types::Sha256Hasher;

use super::component::{component, date};
use super::diagnostics::{Diagnostic, LoadError};
use super::parse::FileCtx;
use super::platform::PlatformSpec;
use super::wire;
use super::{Capability, Catalog, Profile};

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
    // Bounded, regular files only (the message names the file and the limit).
    let read = |path: &Path| {
        crate::input::read_text(path, crate::input::Kind::CatalogFile).map_err(|e| LoadError {
            diagnostics: vec![Diagnostic {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                field: None,
                message: e.problem.to_string(),
                hint: None,
            }],
        })
    };
    let top = dir.join("catalog.yaml");
    // Anything there (a FIFO, a directory) is read, and refused, by `read` with its reason.
    if std::fs::symlink_metadata(&top).is_err() {
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
    let reading = Phase::start("catalog load: read files");
    let mut files = Vec::new();
    files.push(("catalog.yaml".to_string(), read(&top)?));
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
            let text = read(&p)?;
            files.push((format!("{sub}/{name}"), text));
        }
    }
    reading.end();
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
pub(super) fn from_files_with_prefix(
    origin: &str,
    mut files: Vec<(String, String)>,
    shown: &str,
) -> Result<Catalog, LoadError> {
    let hashing = Phase::start("catalog load: digest");
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256Hasher::new();
    for (path, text) in &files {
        hasher.update(path.as_bytes());
        hasher.update(&[0]);
        hasher.update(text.as_bytes());
        hasher.update(&[0]);
    }
    let digest = hasher.finish().to_string();
    hashing.end();
    let parsing = Phase::start("catalog load: parse and check files");

    let mut diags = Vec::new();
    let mut capabilities = Vec::new();
    let mut components = Vec::new();
    let mut profiles = Vec::new();
    let mut saw_catalog = false;
    let mut checked = None;
    for (out, mut file_diags) in map_files(&files, |(path, text)| read_file(path, text, shown)) {
        diags.append(&mut file_diags);
        match out {
            FileOut::Catalog(date, mut caps) => {
                saw_catalog = true;
                checked = date;
                capabilities.append(&mut caps);
            }
            FileOut::Component(c) => components.push(*c),
            FileOut::Profile(p) => profiles.push(p),
            FileOut::Nothing => {}
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
    parsing.end();
    let _building = Phase::start("catalog load: build");
    let mut catalog = Catalog::from_parts(capabilities, components);
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    catalog.profiles = profiles;
    catalog.checked = checked;
    catalog.digest = digest;
    catalog.origin = origin.to_string();
    catalog.files = files
        .into_iter()
        .map(|(path, text)| SourceFile { path, text })
        .collect();
    Ok(catalog)
}

/// What one file of the catalog contributes.
enum FileOut {
    /// `catalog.yaml`: its `checked` date and its capabilities.
    Catalog(Option<crate::types::Date>, Vec<Capability>),
    Component(Box<super::Component>),
    Profile(Profile),
    /// Not a catalog file, or a file with errors (in its diagnostics).
    Nothing,
}

/// Parses and validates one file (its kind from its place in the catalog), with its diagnostics.
fn read_file(path: &str, text: &str, shown: &str) -> (FileOut, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let ctx = FileCtx {
        shown: format!("{shown}{path}"),
        text,
    };
    let out = if path == "catalog.yaml" {
        match ctx.parse_kind::<wire::CatalogFile>("Catalog", |f| (&f.api_version, &f.kind)) {
            Ok(f) => {
                let checked = f.checked.as_ref().and_then(|d| date(&ctx, d, &mut diags));
                let caps = f
                    .capabilities
                    .into_iter()
                    .map(|c| Capability {
                        name: c.name.value,
                        description: c.description,
                    })
                    .collect();
                FileOut::Catalog(checked, caps)
            }
            Err(d) => {
                diags.push(d);
                FileOut::Nothing
            }
        }
    } else if path.starts_with("components/") {
        match ctx.parse_kind::<wire::ComponentFile>("Component", |f| (&f.api_version, &f.kind)) {
            Ok(f) => {
                let stem = path
                    .trim_start_matches("components/")
                    .trim_end_matches(".yaml")
                    .trim_end_matches(".yml");
                component(&ctx, path, stem, f, &mut diags)
                    .map_or(FileOut::Nothing, |c| FileOut::Component(Box::new(c)))
            }
            Err(d) => {
                diags.push(d);
                FileOut::Nothing
            }
        }
    } else if path.starts_with("profiles/") {
        match PlatformSpec::parse_with_name(text, &ctx.shown) {
            Ok(spec) => {
                let name = path
                    .trim_start_matches("profiles/")
                    .trim_end_matches(".yaml")
                    .trim_end_matches(".yml")
                    .to_string();
                FileOut::Profile(Profile { name, spec })
            }
            Err(mut e) => {
                diags.append(&mut e.diagnostics);
                FileOut::Nothing
            }
        }
    } else {
        FileOut::Nothing
    };
    (out, diags)
}

/// Below this many files a catalog is read on one thread (threads would cost more than they save).
const FILES_PER_THREAD: usize = 64;

/// `f` over every file, in file order; a large catalog is read on every core (YAML parsing is
/// most of the time it takes to load, and files are independent).
fn map_files<T: Send>(
    files: &[(String, String)],
    f: impl Fn(&(String, String)) -> T + Sync,
) -> Vec<T> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(files.len() / FILES_PER_THREAD).max(1);
    if threads == 1 {
        return files.iter().map(&f).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a catalog reader thread panicked"))
            .collect()
    })
}
