//! Rules for the facts of issues 13 and 11: the relation to Kubernetes, artifacts, tag dates, the
//! support policy and the catalog's `checked` date.

use std::collections::BTreeSet;

use super::{Out, problem};
use crate::catalog::{Catalog, Component, KubernetesRelation, Release};

/// Days a date may be off (time zones, a tag pushed after midnight) before it counts as different.
const SLACK_DAYS: i64 = 1;

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// The relation to Kubernetes: stated, and with a note and a source when it is not a range.
pub(super) fn relation(comp: &Component, r: &Release, who: &str, out: &mut Out) {
    let file = comp.file.as_str();
    match &r.kubernetes {
        KubernetesRelation::Unstated => out.push(problem(
            file,
            r.line,
            format!(
                "{who}: no relation to Kubernetes stated: add a `requires` on kubernetes with the published \
                 range, or `kubernetes: {{status: independent|untested, note, source}}`"
            ),
        )),
        KubernetesRelation::Independent(s) | KubernetesRelation::Untested(s) => {
            let status = r.kubernetes.kind();
            if blank(&s.note) {
                out.push(problem(
                    file,
                    s.line,
                    format!("{who}: `kubernetes: {status}` needs a note saying why"),
                ));
            }
            if blank(&s.source) {
                out.push(problem(
                    file,
                    s.line,
                    format!("{who}: `kubernetes: {status}` has no source"),
                ));
            }
        }
        KubernetesRelation::Range { .. } | KubernetesRelation::Itself => {}
    }
}

/// Charts, manifests and `noArtifacts`.
pub(super) fn artifacts(comp: &Component, r: &Release, who: &str, out: &mut Out) {
    let file = comp.file.as_str();
    let a = &r.artifacts;
    if !a.stated() {
        out.push(problem(
            file,
            r.line,
            format!(
                "{who}: no artifacts: list the `charts` or `manifests` upstream publishes for it, or say why \
                 there are none in `noArtifacts: {{text, source}}`"
            ),
        ));
    }
    if let Some(n) = &a.none {
        if !a.charts.is_empty() || !a.manifests.is_empty() {
            out.push(problem(
                file,
                n.line,
                format!("{who}: `noArtifacts` beside charts or manifests: keep one or the other"),
            ));
        }
        if blank(&n.text) || blank(&n.source) {
            out.push(problem(
                file,
                n.line,
                format!("{who}: `noArtifacts` needs a text and a source"),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for c in &a.charts {
        let what = format!("{who}: chart `{}` {}", c.name, c.version);
        let mut bad = |msg: String| out.push(problem(file, c.line, format!("{what}: {msg}")));
        match c.repository.split_once("://") {
            Some(("oci" | "https", rest))
                if !rest.is_empty() && !rest.contains(char::is_whitespace) =>
            {
                if c.repository.ends_with("/index.yaml") {
                    bad("write the repository without `/index.yaml`".to_string());
                }
            }
            Some(("http", _)) => bad(format!(
                "repository `{}`: use https:// (charts are fetched with TLS)",
                c.repository
            )),
            _ => bad(format!(
                "repository `{}` is neither oci://… nor https://…",
                c.repository
            )),
        }
        if c.name.is_empty()
            || c.name.contains(['/', ':', '@'])
            || c.name.contains(char::is_whitespace)
        {
            bad(
                "not a chart name (the repository holds the path; the name is its last part)"
                    .to_string(),
            );
        }
        if c.version.is_empty() || c.version.contains(char::is_whitespace) {
            bad("not a chart version".to_string());
        }
        if blank(&c.app_version) {
            bad("`appVersion` is empty".to_string());
        } else if c.app_version.trim_start_matches('v') != r.version.to_string()
            && c.note.as_deref().is_none_or(blank)
        {
            bad(format!(
                "appVersion `{}` is not {}: add a `note` saying why this chart is the one for {}",
                c.app_version, r.version, r.version
            ));
        }
        if blank(&c.source) {
            bad("no source".to_string());
        }
        if !seen.insert((c.repository.trim_end_matches('/'), &c.name, &c.version)) {
            bad("listed twice".to_string());
        }
    }
    let mut urls = BTreeSet::new();
    for m in &a.manifests {
        let mut bad = |msg: String| {
            out.push(problem(
                file,
                m.line,
                format!("{who}: manifest `{}`: {msg}", m.url),
            ))
        };
        match m.url.strip_prefix("https://") {
            Some(rest) if rest.contains('/') && !m.url.contains(char::is_whitespace) => {}
            _ if m.url.starts_with("http://") => {
                bad("use https:// (manifests are fetched with TLS)".to_string())
            }
            _ => bad("not an https:// URL".to_string()),
        }
        if let Some(h) = &m.sha256 {
            if h.starts_with("sha256:") {
                bad(
                    "write `sha256:` as the 64 hex digits alone, without the `sha256:` prefix"
                        .to_string(),
                );
            } else if crate::types::Digest::from_sha256_hex(h).is_err() {
                bad(format!("`{h}` is not a SHA-256 (64 lower-case hex digits)"));
            }
        }
        if blank(&m.source) {
            bad("no source".to_string());
        }
        if !urls.insert(&m.url) {
            bad("listed twice".to_string());
        }
    }
}

/// The tag date against the release date.
pub(super) fn tagged(comp: &Component, r: &Release, who: &str, out: &mut Out) {
    let lc = &r.lifecycle;
    if let (Some(released), Some(tagged)) = (lc.released, lc.tagged) {
        let off = (released.days() - tagged.days()).abs();
        if off > SLACK_DAYS && lc.note.as_deref().is_none_or(blank) {
            out.push(problem(
                &comp.file,
                lc.line,
                format!(
                    "{who}: released {released} but tagged {tagged} ({off} days apart): \
                     add `lifecycle.note` saying which date is right and why"
                ),
            ));
        }
    }
}

/// The support policy: line N's end of life is the release of line N+k (same major).
pub(super) fn policy(comp: &Component, out: &mut Out) {
    let Some(p) = &comp.support_policy else {
        return;
    };
    let k = p.end_of_life_after;
    for r in &comp.versions {
        let later = comp.versions.iter().find(|x| {
            x.version.major() == r.version.major() && x.version.minor() == r.version.minor() + k
        });
        let Some((later, released)) = later.and_then(|l| l.lifecycle.released.map(|d| (l, d)))
        else {
            continue;
        };
        let lc = &r.lifecycle;
        if lc.note.as_deref().is_some_and(|n| !blank(n)) {
            continue;
        }
        let who = format!("{} {}", comp.name, r.version);
        let line_name = later.version.minor_string();
        let msg = match lc.end_of_life {
            Some(eol) if (eol.days() - released.days()).abs() > SLACK_DAYS => format!(
                "{who}: end of life {eol}, but by the support policy (EOL = release of N+{k}) it is {released}, \
                 when {line_name} was released: fix the date, or add `lifecycle.note` saying why this line differs"
            ),
            Some(_) => continue,
            None => format!(
                "{who}: no end of life, but by the support policy (EOL = release of N+{k}) it ended on {released}, \
                 when {line_name} was released: add `endOfLife`, or `lifecycle.note` saying why not"
            ),
        };
        out.push(problem(&comp.file, lc.line, msg));
    }
}

/// `checked:` is stated, and no release date is after it.
pub(super) fn checked(catalog: &Catalog, out: &mut Out) {
    let Some(checked) = catalog.checked else {
        out.push(problem(
            "catalog.yaml",
            1,
            "catalog.yaml does not say when its facts were last checked: add `checked: YYYY-MM-DD`"
                .to_string(),
        ));
        return;
    };
    for comp in &catalog.components {
        for r in &comp.versions {
            let lc = &r.lifecycle;
            for (what, d) in [("released", lc.released), ("tagged", lc.tagged)] {
                if let Some(d) = d.filter(|d| *d > checked) {
                    out.push(problem(
                        &comp.file,
                        lc.line,
                        format!(
                            "{} {}: {what} {d}, after the catalog was checked ({checked}): update `checked` in catalog.yaml",
                            comp.name, r.version
                        ),
                    ));
                }
            }
        }
    }
}
