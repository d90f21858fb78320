//! `bundle catalog check`: consistency rules over a loaded catalog.
//!
//! Every rule reports `file:line: message`. Whether each release's own requirements can be met at
//! all needs the solver, so that rule lives in `solver::lint_satisfiable`.
//!
//! Every rule is strict: a version that states no relation to Kubernetes, a version without
//! artifacts (and without a `noArtifacts` note) and a source that is not machine-checkable are
//! problems like every other (issues 13 and 11).

mod facts;
pub mod sources;

use std::collections::{BTreeMap, BTreeSet};

use super::{Catalog, Component, Diagnostic, Release, UpgradeRuleKind};
use crate::types::Digest;

/// Where rules put their findings.
pub(super) struct Out {
    problems: Vec<Diagnostic>,
}

impl Out {
    fn push(&mut self, d: Diagnostic) {
        self.problems.push(d);
    }
}

/// The first line (1-based) of `file` at or after the line that starts with `after` that contains
/// `needle` as a word; 1 when not found (the file as a whole).
fn line_of(catalog: &Catalog, file: &str, after: &str, needle: &str) -> u32 {
    let Some(text) = catalog
        .files
        .iter()
        .find(|f| f.path == file)
        .map(|f| f.text.as_str())
    else {
        return 1;
    };
    let mut started = after.is_empty();
    for (i, l) in text.lines().enumerate() {
        if !started && l.trim_start().starts_with(after) {
            started = true;
        }
        let is_word = |w: &str| w == needle;
        if started
            && l.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.' || c == '_'))
                .any(is_word)
        {
            return i as u32 + 1;
        }
    }
    1
}

fn problem(file: &str, line: u32, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line,
        column: 0,
        field: None,
        message,
        hint: None,
    }
}

/// Runs every static rule; an empty list means the catalog is clean.
pub fn check(catalog: &Catalog) -> Vec<Diagnostic> {
    let mut all = Out {
        problems: rules(catalog),
    };
    facts::checked(catalog, &mut all);
    for comp in &catalog.components {
        for r in &comp.versions {
            let who = format!("{} {}", comp.name, r.version);
            facts::relation(comp, r, &who, &mut all);
            facts::artifacts(comp, r, &who, &mut all);
            facts::tagged(comp, r, &who, &mut all);
        }
        facts::policy(comp, &mut all);
        all.problems.extend(super::signing::lint(comp));
        all.problems.extend(sources::component(comp));
    }
    let mut problems = all.problems;
    problems.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    problems
}

/// The rules on capabilities, profiles, constraints and images.
fn rules(catalog: &Catalog) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let caps: BTreeSet<&str> = catalog
        .capabilities
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut seen_caps = BTreeSet::new();
    for c in &catalog.capabilities {
        let line = line_of(catalog, "catalog.yaml", "", &c.name);
        if !seen_caps.insert(c.name.as_str()) {
            out.push(problem(
                "catalog.yaml",
                line,
                format!("capability `{}` is declared twice", c.name),
            ));
        }
        if catalog.component(&c.name).is_some() {
            out.push(problem(
                "catalog.yaml",
                line,
                format!("`{}` is both a capability and a component name", c.name),
            ));
        }
    }
    for comp in &catalog.components {
        check_component(catalog, &caps, comp, &mut out);
    }
    for p in &catalog.profiles {
        let file = catalog
            .files
            .iter()
            .map(|f| f.path.clone())
            .find(|f| {
                f.strip_prefix("profiles/")
                    .and_then(|n| n.strip_suffix(".yaml").or_else(|| n.strip_suffix(".yml")))
                    == Some(p.name.as_str())
            })
            .unwrap_or_else(|| format!("profiles/{}.yaml", p.name));
        for w in &p.spec.with {
            let wl = line_of(catalog, &file, "with", &w.name);
            if catalog.component(&w.name).is_none() && !caps.contains(w.name.as_str()) {
                out.push(problem(
                    &file,
                    wl,
                    format!(
                        "`with` names `{}`, which is neither a component nor a capability",
                        w.name
                    ),
                ));
            } else if caps.contains(w.name.as_str()) && catalog.providers(&w.name).is_empty() {
                out.push(problem(
                    &file,
                    wl,
                    format!("no component provides capability `{}`", w.name),
                ));
            }
        }
        for w in &p.spec.without {
            if catalog.component(w).is_none() {
                out.push(problem(
                    &file,
                    line_of(catalog, &file, "without", w),
                    format!("`without` names `{w}`, which is not a component"),
                ));
            }
        }
    }
    out.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    out
}

fn check_component(
    catalog: &Catalog,
    caps: &BTreeSet<&str>,
    comp: &Component,
    out: &mut Vec<Diagnostic>,
) {
    let file = comp.file.as_str();
    for p in &comp.provides {
        if !caps.contains(p.as_str()) {
            out.push(problem(
                file,
                line_of(catalog, file, "provides", p),
                format!("`provides` names `{p}`, which is not a capability in catalog.yaml"),
            ));
        }
    }
    if comp.versions.is_empty() {
        out.push(problem(
            file,
            1,
            format!("component `{}` has no versions", comp.name),
        ));
    }
    for n in &comp.notes {
        if n.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
            out.push(problem(file, n.line, "note without a source".to_string()));
        }
    }
    for r in &comp.upgrade.rules {
        if r.source.trim().is_empty() {
            out.push(problem(
                file,
                r.line,
                format!("{}: upgrade rule without a source", comp.name),
            ));
        }
        if let UpgradeRuleKind::From { to, .. } = &r.kind
            && !comp.versions.iter().any(|v| to.matches(&v.version))
        {
            out.push(problem(
                file,
                r.line,
                format!(
                    "{}: upgrade rule `to: {to}` matches no version of {} in the catalog",
                    comp.name, comp.name
                ),
            ));
        }
    }
    if let Some(s) = &comp.upgrade.skew {
        if s.source.trim().is_empty() {
            out.push(problem(
                file,
                s.line,
                format!("{}: versionSkew without a source", comp.name),
            ));
        }
        if s.max_minor_step() == 0 {
            out.push(problem(
                file,
                s.line,
                format!(
                    "{}: under this versionSkew no upgrade order keeps the policy, not even one minor at a time",
                    comp.name
                ),
            ));
        }
    }
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for r in &comp.versions {
        if let Some(first) = seen.insert(r.version.to_string(), r.line) {
            out.push(problem(
                file,
                r.line,
                format!("duplicate version {} (first at line {first})", r.version),
            ));
        }
        check_release(catalog, caps, comp, r, out);
    }
}

fn check_release(
    catalog: &Catalog,
    caps: &BTreeSet<&str>,
    comp: &Component,
    r: &Release,
    out: &mut Vec<Diagnostic>,
) {
    let file = comp.file.as_str();
    let who = format!("{} {}", comp.name, r.version);
    let lc = &r.lifecycle;
    let has_dates = lc.released.is_some()
        || lc.end_of_life.is_some()
        || lc.retired.is_some()
        || lc.tagged.is_some();
    if has_dates && lc.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
        out.push(problem(
            file,
            lc.line,
            format!("{who}: lifecycle dates without a source"),
        ));
    }
    if let Some(released) = lc.released {
        for (what, date) in [("end of life", lc.end_of_life), ("retired", lc.retired)] {
            if let Some(d) = date.filter(|d| *d < released) {
                out.push(problem(
                    file,
                    lc.line,
                    format!("{who}: {what} {d} is before the release date {released}"),
                ));
            }
        }
    }
    for (kind, list) in [("requires", &r.requires), ("constrains", &r.constrains)] {
        for c in list {
            if c.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
                out.push(problem(
                    file,
                    c.line,
                    format!("{who}: `{kind} {}` has no source", c.name),
                ));
            }
            if c.name == comp.name {
                out.push(problem(
                    file,
                    c.line,
                    format!("{who}: `{kind}` names the component itself"),
                ));
                continue;
            }
            match catalog.component(&c.name) {
                Some(target) => {
                    if !target.versions.iter().any(|v| c.range.matches(&v.version)) {
                        out.push(problem(
                            file,
                            c.line,
                            format!(
                                "{who}: `{kind} {} {}` matches no version of {} in the catalog",
                                c.name, c.range, c.name
                            ),
                        ));
                    }
                }
                None if caps.contains(c.name.as_str()) => {
                    if kind == "constrains" {
                        out.push(problem(
                            file,
                            c.line,
                            format!("{who}: `constrains` must name a component, and `{}` is a capability", c.name),
                        ));
                    } else if !c.range.is_any() {
                        out.push(problem(
                            file,
                            c.line,
                            format!("{who}: a requirement on capability `{}` takes range \"*\", not `{}`", c.name, c.range),
                        ));
                    }
                }
                None => out.push(problem(
                    file,
                    c.line,
                    format!("{who}: `{kind}` names unknown component `{}`", c.name),
                )),
            }
        }
    }
    for c in &r.conflicts {
        if c.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
            out.push(problem(
                file,
                c.line,
                format!("{who}: `conflicts {}` has no source", c.name),
            ));
        }
        if catalog.component(&c.name).is_none() {
            out.push(problem(
                file,
                c.line,
                format!("{who}: `conflicts` names unknown component `{}`", c.name),
            ));
        } else if c.name == comp.name {
            out.push(problem(
                file,
                c.line,
                format!("{who}: `conflicts` names the component itself"),
            ));
        }
    }
    check_images(file, &who, r, out);
}

/// Image references and their digests.
fn check_images(file: &str, who: &str, r: &Release, out: &mut Vec<Diagnostic>) {
    for img in &r.images {
        if let Some(msg) = image_problem(&img.reference) {
            out.push(problem(
                file,
                img.line,
                format!("{who}: image `{}`: {msg}", img.reference),
            ));
        }
        if let Some(d) = &img.digest {
            if Digest::parse_sha256(d).is_err() {
                out.push(problem(
                    file,
                    img.line,
                    format!("{who}: image `{}`: malformed digest `{d}` (expected sha256: and 64 lower-case hex digits)", img.reference),
                ));
            }
            if img.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
                out.push(problem(
                    file,
                    img.line,
                    format!("{who}: image `{}`: a digest needs a source", img.reference),
                ));
            }
        }
    }
}

/// What is wrong with an image reference, if anything (it must carry a tag; digests go in `digest`).
pub fn image_problem(reference: &str) -> Option<&'static str> {
    if reference.contains('@') {
        return Some("put the digest in `digest:`, not in the reference");
    }
    if reference.is_empty() || reference.contains(char::is_whitespace) {
        return Some("not an image reference");
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.split_once(':') {
        None => Some("no tag"),
        Some((repo, tag)) if repo.is_empty() || tag.is_empty() => Some("no tag"),
        Some(_)
            if !reference.contains('/')
                || !reference
                    .split('/')
                    .next()
                    .is_some_and(|h| h.contains('.') || h.contains(':') || h == "localhost") =>
        {
            Some("give the registry host in full (e.g. docker.io/…), so that mirrors map it")
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(
            image_problem("quay.io/jetstack/cert-manager-controller:v1.21.1"),
            None
        );
        assert_eq!(image_problem("registry.k8s.io/pause:3.10"), None);
        assert_eq!(image_problem("127.0.0.1:5000/x/y:1"), None);
        assert_eq!(
            image_problem("quay.io/jetstack/cert-manager-controller"),
            Some("no tag")
        );
        assert_eq!(image_problem("127.0.0.1:5000/x/y"), Some("no tag"));
        assert!(image_problem("grafana/grafana:13.0.2").is_some());
        assert!(image_problem("quay.io/a/b:1@sha256:00").is_some());
    }
}
