//! `bundle catalog list | show | check`.

use serde_json::json;

use super::table::render;
use super::{CheckFormat, Failure, ListFormat, ShowFormat};
use crate::catalog::{Catalog, Component, Release, lint, suggest};
use crate::solver::lint_satisfiable;

fn lifecycle_json(r: &Release) -> serde_json::Value {
    json!({
        "released": r.lifecycle.released.map(|d| d.to_string()),
        "endOfLife": r.lifecycle.end_of_life.map(|d| d.to_string()),
        "retired": r.lifecycle.retired.map(|d| d.to_string()),
        "source": r.lifecycle.source,
    })
}

fn lifecycle_cell(r: &Release) -> String {
    match (r.lifecycle.retired, r.lifecycle.end_of_life) {
        (Some(d), _) => format!("retired {d}"),
        (None, Some(d)) => format!("EOL {d}"),
        (None, None) => "-".to_string(),
    }
}

fn version_range(c: &Component) -> String {
    match (c.versions.first(), c.versions.last()) {
        (Some(a), Some(b)) if a.version == b.version => a.version.to_string(),
        (Some(a), Some(b)) => format!("{} … {}", a.version, b.version),
        _ => "-".to_string(),
    }
}

pub(super) fn list(catalog: &Catalog, format: ListFormat) -> Result<(), Failure> {
    match format {
        ListFormat::Json => {
            let v = json!({
                "catalog": {"origin": catalog.origin, "digest": catalog.digest},
                "capabilities": catalog.capabilities.iter().map(|c| json!({
                    "name": c.name,
                    "description": c.description,
                    "providers": catalog.providers(&c.name).iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "components": catalog.components.iter().map(|c| json!({
                    "name": c.name,
                    "description": c.description,
                    "homepage": c.homepage,
                    "provides": c.provides,
                    "versions": c.versions.iter().map(|r| json!({
                        "version": r.version.to_string(),
                        "lifecycle": lifecycle_json(r),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "profiles": catalog.profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = catalog
                .components
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.versions.len().to_string(),
                        version_range(c),
                        c.newest().map(lifecycle_cell).unwrap_or_default(),
                        if c.provides.is_empty() {
                            "-".to_string()
                        } else {
                            c.provides.join(", ")
                        },
                    ]
                })
                .collect();
            out!(
                "{}",
                render(
                    &[
                        "COMPONENT",
                        "LINES",
                        "VERSIONS",
                        "NEWEST LIFECYCLE",
                        "PROVIDES"
                    ],
                    &rows
                )
            );
            outln!();
            let rows: Vec<Vec<String>> = catalog
                .capabilities
                .iter()
                .map(|c| {
                    let p: Vec<&str> = catalog
                        .providers(&c.name)
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect();
                    vec![
                        c.name.clone(),
                        if p.is_empty() {
                            "-".into()
                        } else {
                            p.join(", ")
                        },
                    ]
                })
                .collect();
            out!("{}", render(&["CAPABILITY", "PROVIDERS"], &rows));
            outln!();
            outln!(
                "{} components, {} versions; catalog {} ({})",
                catalog.components.len(),
                catalog
                    .components
                    .iter()
                    .map(|c| c.versions.len())
                    .sum::<usize>(),
                short_digest(&catalog.digest),
                catalog.origin
            );
        }
    }
    Ok(())
}

pub(crate) fn short_digest(d: &str) -> String {
    d.get(..19).unwrap_or(d).to_string()
}

pub(super) fn show(catalog: &Catalog, name: &str, format: ShowFormat) -> Result<(), Failure> {
    let Some(c) = catalog.component(name) else {
        let names: Vec<&str> = catalog.components.iter().map(|c| c.name.as_str()).collect();
        let s = suggest(name, &names);
        let mut f = Failure::usage(format!("`{name}` is not a component in the catalog"));
        if !s.is_empty() {
            f = f.hint(format!("did you mean {}?", s.join(" or ")));
        }
        if catalog.capability(name).is_some() {
            let p: Vec<&str> = catalog
                .providers(name)
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            f = f.hint(format!(
                "`{name}` is a capability, provided by: {}",
                p.join(", ")
            ));
        }
        return Err(f.hint("`bundle catalog list` lists every component"));
    };
    match format {
        ShowFormat::Yaml => {
            let text = catalog
                .files
                .iter()
                .find(|f| f.path == c.file)
                .map(|f| f.text.as_str())
                .unwrap_or("");
            out!("{text}");
        }
        ShowFormat::Json => {
            let constraint = |x: &crate::catalog::Constraint| json!({"name": x.name, "range": x.range.as_str(), "source": x.source, "note": x.note});
            let v = json!({
                "name": c.name,
                "description": c.description,
                "homepage": c.homepage,
                "provides": c.provides,
                "notes": c.notes.iter().map(|n| json!({"text": n.text, "source": n.source})).collect::<Vec<_>>(),
                "versions": c.versions.iter().map(|r| json!({
                    "version": r.version.to_string(),
                    "lifecycle": lifecycle_json(r),
                    "requires": r.requires.iter().map(constraint).collect::<Vec<_>>(),
                    "constrains": r.constrains.iter().map(constraint).collect::<Vec<_>>(),
                    "conflicts": r.conflicts.iter().map(|x| json!({"name": x.name, "source": x.source, "note": x.note})).collect::<Vec<_>>(),
                    "images": r.images.iter().map(|i| json!({"reference": i.reference, "digest": i.digest, "source": i.source})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
    }
    Ok(())
}

pub(super) fn check(catalog: &Catalog, format: CheckFormat) -> Result<(), Failure> {
    let mut problems = lint::check(catalog);
    problems.extend(lint_satisfiable(catalog));
    problems.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    let root = if catalog.origin == "embedded" {
        "<embedded>/".to_string()
    } else {
        format!("{}/", catalog.origin.trim_end_matches('/'))
    };
    match format {
        CheckFormat::Json => {
            let v = json!({
                "ok": problems.is_empty(),
                "problems": problems.iter().map(|p| json!({
                    "file": format!("{root}{}", p.file), "line": p.line, "message": p.message,
                })).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        CheckFormat::Text => {
            for p in &problems {
                outln!("{root}{}:{}: {}", p.file, p.line, p.message);
            }
            if problems.is_empty() {
                eprintln!(
                    "catalog is clean: {} components, {} versions",
                    catalog.components.len(),
                    catalog
                        .components
                        .iter()
                        .map(|c| c.versions.len())
                        .sum::<usize>()
                );
            } else {
                eprintln!("{} problem(s) found", problems.len());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::negative())
    }
}
