//! Issue 13.6: every `source` is machine-checkable — URLs and `owner/repo:path@commit`, several
//! separated by ` ; ` — so that a fact can be re-checked by a program, not only by a person.

use super::problem;
use crate::catalog::{Catalog, Component, Diagnostic, source_part_problem, source_parts};

/// Every sourced fact of a component: (line, what it is, its source).
pub fn sourced_facts(comp: &Component) -> Vec<(u32, String, &str)> {
    let mut out: Vec<(u32, String, &str)> = Vec::new();
    for n in &comp.notes {
        out.push((
            n.line,
            "note".to_string(),
            n.source.as_deref().unwrap_or(""),
        ));
    }
    if let Some(p) = &comp.support_policy {
        out.push((p.line, "supportPolicy".to_string(), &p.source));
    }
    for r in &comp.upgrade.rules {
        out.push((r.line, format!("upgrade rule ({r})"), &r.source));
    }
    if let Some(s) = &comp.upgrade.skew {
        out.push((s.line, "versionSkew".to_string(), &s.source));
    }
    for d in &comp.signing {
        out.push((d.line, format!("signing {}", d.versions), &d.source));
    }
    for r in &comp.versions {
        let v = &r.version;
        if let Some(s) = &r.lifecycle.source {
            out.push((r.lifecycle.line, format!("{v} lifecycle"), s));
        }
        for (kind, list) in [("requires", &r.requires), ("constrains", &r.constrains)] {
            for c in list {
                if let Some(s) = &c.source {
                    out.push((c.line, format!("{v} {kind} {}", c.name), s));
                }
            }
        }
        for c in &r.conflicts {
            if let Some(s) = &c.source {
                out.push((c.line, format!("{v} conflicts {}", c.name), s));
            }
        }
        if let Some(s) = r.kubernetes.statement() {
            out.push((
                s.line,
                format!("{v} kubernetes: {}", r.kubernetes.kind()),
                &s.source,
            ));
        }
        for i in &r.images {
            if let Some(s) = &i.source {
                out.push((i.line, format!("{v} image {}", i.reference), s));
            }
        }
        for c in &r.artifacts.charts {
            out.push((
                c.line,
                format!("{v} chart {} {}", c.name, c.version),
                &c.source,
            ));
        }
        for m in &r.artifacts.manifests {
            out.push((m.line, format!("{v} manifest {}", m.url), &m.source));
        }
        if let Some(n) = &r.artifacts.none {
            out.push((n.line, format!("{v} noArtifacts"), &n.source));
        }
    }
    out
}

/// The sources of `comp` that are not machine-checkable, one problem per bad part. Empty sources
/// are left to the rules that require a source.
pub fn component(comp: &Component) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (line, what, source) in sourced_facts(comp) {
        if source.trim().is_empty() {
            continue;
        }
        for part in source_parts(source) {
            if let Some(why) = source_part_problem(part) {
                out.push(problem(
                    &comp.file,
                    line,
                    format!("{} {what}: source `{part}`: {why}", comp.name),
                ));
            }
        }
    }
    out
}

/// `bundle catalog check --sources`: every source part that is not a URL or `owner/repo:path@commit`.
pub fn check(catalog: &Catalog) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = catalog.components.iter().flat_map(component).collect();
    out.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    out
}
