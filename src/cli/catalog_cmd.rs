//! `bundle catalog list | show | check`.

use serde_json::json;

use super::format::short_digest;
use super::table::render;
use super::{CheckFormat, Failure, ListFormat, ShowFormat};
use crate::catalog::{
    Catalog, Component, KubernetesRelation, Release, SigningDeclaration, lint, suggest,
};
use crate::solver::lint_satisfiable;
use crate::types::Date;

fn lifecycle_json(r: &Release) -> serde_json::Value {
    json!({
        "released": r.lifecycle.released.map(|d| d.to_string()),
        "tagged": r.lifecycle.tagged.map(|d| d.to_string()),
        "endOfLife": r.lifecycle.end_of_life.map(|d| d.to_string()),
        "retired": r.lifecycle.retired.map(|d| d.to_string()),
        "source": r.lifecycle.source,
        "note": r.lifecycle.note,
    })
}

fn kubernetes_json(k: &KubernetesRelation) -> serde_json::Value {
    match k {
        KubernetesRelation::Range { range, source, .. } => {
            json!({"status": "range", "range": range.as_str(), "source": source})
        }
        KubernetesRelation::Independent(s) | KubernetesRelation::Untested(s) => {
            json!({"status": k.kind(), "note": s.note, "source": s.source})
        }
        KubernetesRelation::Itself | KubernetesRelation::Unstated => json!({"status": k.kind()}),
    }
}

/// One `signing:` declaration, with the catalog's versions it holds for.
fn signing_json(c: &Component, d: &SigningDeclaration) -> serde_json::Value {
    json!({
        "versions": d.versions.as_str(),
        "artifacts": d.artifacts,
        "signers": d.signers,
        "repositories": d.repositories,
        "signatureRepository": d.signature_repository,
        "source": d.source,
        "note": d.note,
        "appliesTo": c.versions.iter().filter(|r| d.versions.matches(&r.version)).map(|r| r.version.to_string()).collect::<Vec<_>>(),
    })
}

/// The catalog's `checked` date and its age on `as_of`, for JSON output.
fn age_json(catalog: &Catalog, as_of: Date) -> serde_json::Value {
    match catalog.age(as_of) {
        Some(a) => json!({
            "checked": a.checked.to_string(),
            "asOf": a.as_of.to_string(),
            "ageDays": a.days,
            "stale": a.stale(),
            "staleAfterDays": crate::catalog::STALE_AFTER_DAYS,
        }),
        None => json!({"checked": null, "asOf": as_of.to_string()}),
    }
}

/// Prints the catalog's age warning on stderr, at most once per process, when its facts were
/// checked more than 90 days before `as_of`.
pub(super) fn warn_if_stale(catalog: &Catalog, as_of: Date) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if let Some(w) = catalog.age(as_of).and_then(|a| a.warning()) {
        ONCE.call_once(|| {
            eprintln!("warning: {w}");
            eprintln!(
                "  hint: use a newer bundle or catalog (--catalog DIR); `bundle catalog show` says how old this one is"
            );
        });
    }
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
                "catalog": {"origin": catalog.origin, "digest": catalog.digest, "checked": catalog.checked.map(|d| d.to_string())},
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

/// `catalog show` without a name: where the catalog comes from and how old its facts are.
fn show_catalog(catalog: &Catalog, format: ShowFormat, as_of: Date) {
    let versions: usize = catalog.components.iter().map(|c| c.versions.len()).sum();
    match format {
        ShowFormat::Json => {
            let v = json!({
                "origin": catalog.origin,
                "digest": catalog.digest,
                "age": age_json(catalog, as_of),
                "components": catalog.components.len(),
                "versions": versions,
            });
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        ShowFormat::Yaml => {
            outln!("origin: {}", catalog.origin);
            outln!("digest: {}", catalog.digest);
            match catalog.age(as_of) {
                Some(a) => {
                    outln!("checked: {}", a.checked);
                    outln!(
                        "age: {} days on {}{}",
                        a.days,
                        a.as_of,
                        if a.stale() {
                            format!(
                                " (stale: more than {} days)",
                                crate::catalog::STALE_AFTER_DAYS
                            )
                        } else {
                            String::new()
                        }
                    );
                }
                None => outln!("checked: unknown (catalog.yaml does not say)"),
            }
            outln!("components: {}", catalog.components.len());
            outln!("versions: {versions}");
        }
    }
    if let Some(w) = catalog.age(as_of).and_then(|a| a.warning()) {
        eprintln!("warning: {w}");
    }
}

pub(super) fn show(
    catalog: &Catalog,
    name: Option<&str>,
    format: ShowFormat,
    as_of: Option<&str>,
) -> Result<(), Failure> {
    let as_of = match as_of {
        Some(d) => d
            .parse::<Date>()
            .map_err(|e| Failure::usage(format!("--as-of: {e}")))?,
        None => Date::today(),
    };
    let Some(name) = name else {
        show_catalog(catalog, format, as_of);
        return Ok(());
    };
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
                "supportPolicy": c.support_policy.as_ref().map(|p| json!({
                    "endOfLife": format!("N+{}", p.end_of_life_after), "source": p.source, "note": p.note,
                })),
                "signing": c.signing.iter().map(|d| signing_json(c, d)).collect::<Vec<_>>(),
                "versions": c.versions.iter().map(|r| json!({
                    "version": r.version.to_string(),
                    "lifecycle": lifecycle_json(r),
                    "kubernetes": kubernetes_json(&r.kubernetes),
                    "requires": r.requires.iter().map(constraint).collect::<Vec<_>>(),
                    "constrains": r.constrains.iter().map(constraint).collect::<Vec<_>>(),
                    "conflicts": r.conflicts.iter().map(|x| json!({"name": x.name, "source": x.source, "note": x.note})).collect::<Vec<_>>(),
                    "images": r.images.iter().map(|i| json!({"reference": i.reference, "digest": i.digest, "source": i.source})).collect::<Vec<_>>(),
                    "charts": r.artifacts.charts.iter().map(|x| json!({
                        "repository": x.repository, "name": x.name, "version": x.version,
                        "appVersion": x.app_version, "source": x.source, "note": x.note,
                    })).collect::<Vec<_>>(),
                    "manifests": r.artifacts.manifests.iter().map(|x| json!({"url": x.url, "sha256": x.sha256, "source": x.source})).collect::<Vec<_>>(),
                    "noArtifacts": r.artifacts.none.as_ref().map(|x| json!({"text": x.text, "source": x.source})),
                })).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
    }
    Ok(())
}

pub(super) fn check(catalog: &Catalog, format: CheckFormat, sources: bool) -> Result<(), Failure> {
    let mut problems = if sources {
        lint::sources::check(catalog)
    } else {
        lint::check(catalog)
    };
    if !sources {
        problems.extend(lint_satisfiable(catalog));
    }
    problems.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    let root = if catalog.origin == "embedded" {
        "<embedded>/".to_string()
    } else {
        format!("{}/", catalog.origin.trim_end_matches('/'))
    };
    let entry = |p: &crate::catalog::Diagnostic| json!({"file": format!("{root}{}", p.file), "line": p.line, "message": p.message});
    match format {
        CheckFormat::Json => {
            let v = json!({
                "ok": problems.is_empty(),
                "problems": problems.iter().map(entry).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        CheckFormat::Text => {
            for p in &problems {
                outln!("{root}{}:{}: {}", p.file, p.line, p.message);
            }
            let versions: usize = catalog.components.iter().map(|c| c.versions.len()).sum();
            match (problems.is_empty(), sources) {
                (true, false) => eprintln!(
                    "catalog is clean: {} components, {versions} versions",
                    catalog.components.len()
                ),
                (true, true) => eprintln!("every source is a URL or owner/repo:path@commit"),
                (false, false) => eprintln!("{} problem(s) found", problems.len()),
                (false, true) => eprintln!(
                    "{} source(s) are not a URL or owner/repo:path@commit",
                    problems.len()
                ),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::negative())
    }
}
