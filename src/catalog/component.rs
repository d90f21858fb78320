//! One `kind: Component` file, parsed, turned into a [`Component`]. Problems that make a fact
//! unreadable (a bad date, range or policy, two relations to Kubernetes) are load errors here;
//! problems between readable facts are `lint`'s.

use super::diagnostics::Diagnostic;
use super::facts::{Artifacts, Chart, KubernetesRelation, Manifest, NoArtifacts, Statement};
use super::parse::FileCtx;
use super::wire::{self, KubernetesStatusWire, Spanned};
use super::{Component, Conflict, Constraint, Image, Lifecycle, Note, Release, SupportPolicy};
use crate::types::{Date, Version, VersionReq};

/// Reads a date, or records why it is not one.
pub(super) fn date(
    ctx: &FileCtx<'_>,
    s: &Spanned<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Date> {
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
}

fn line<T>(s: &Spanned<T>) -> u32 {
    s.referenced.line() as u32
}

/// The component of file `path` (stem `stem`), or `None` after recording its problems in `diags`.
pub(super) fn component(
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
    let support_policy = f.support_policy.and_then(|p| support_policy(ctx, p, diags));
    let upgrade = f
        .upgrade
        .map(|u| super::upgrade::upgrade(ctx, &name, u, diags))
        .unwrap_or_default();
    let signing = super::signing::declarations(ctx, f.signing, diags);
    let mut versions = Vec::with_capacity(f.versions.len());
    for v in f.versions {
        if let Some(r) = release(ctx, &name, v, diags) {
            versions.push(r);
        }
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
                line: line(&n.text),
                text: n.text.value,
                source: n.source,
            })
            .collect(),
        support_policy,
        upgrade,
        signing,
        versions,
        file: path.to_string(),
    })
}

/// `endOfLife: N+K` with K ≥ 1.
fn support_policy(
    ctx: &FileCtx<'_>,
    p: Spanned<wire::SupportPolicyWire>,
    diags: &mut Vec<Diagnostic>,
) -> Option<SupportPolicy> {
    let at = line(&p);
    let p = p.value;
    let text = p.end_of_life.value.trim();
    let k = text
        .strip_prefix(['N', 'n'])
        .and_then(|r| r.trim_start().strip_prefix('+'))
        .and_then(|k| k.trim().parse::<u64>().ok())
        .filter(|k| *k >= 1);
    match k {
        Some(k) => Some(SupportPolicy {
            end_of_life_after: k,
            source: p.source,
            note: p.note,
            line: at,
        }),
        None => {
            diags.push(ctx.at(
                &p.end_of_life,
                format!("`{text}` is not a support policy"),
                Some(
                    "write `endOfLife: N+2` when line N reaches its end of life as line N+2 is released"
                        .to_string(),
                ),
            ));
            None
        }
    }
}

fn release(
    ctx: &FileCtx<'_>,
    component: &str,
    v: wire::VersionWire,
    diags: &mut Vec<Diagnostic>,
) -> Option<Release> {
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
            return None;
        }
    };
    let lifecycle = match &v.lifecycle {
        None => Lifecycle {
            line: line(&v.version),
            ..Lifecycle::default()
        },
        Some(lc) => {
            let mut d = |s: &Option<Spanned<String>>| s.as_ref().and_then(|s| date(ctx, s, diags));
            Lifecycle {
                released: d(&lc.value.released),
                end_of_life: d(&lc.value.end_of_life),
                retired: d(&lc.value.retired),
                tagged: d(&lc.value.tagged),
                source: lc.value.source.clone(),
                note: lc.value.note.clone(),
                line: line(lc),
            }
        }
    };
    let mut constraint = |c: wire::ConstraintWire| -> Option<Constraint> {
        match VersionReq::parse_strict(&c.range.value) {
            Ok(range) => Some(Constraint {
                line: line(&c.name),
                name: c.name.value,
                range,
                source: c.source,
                note: c.note,
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
    let requires: Vec<Constraint> = v.requires.into_iter().filter_map(&mut constraint).collect();
    let constrains = v.constrains.into_iter().filter_map(constraint).collect();
    let kubernetes = relation(ctx, component, &requires, v.kubernetes, diags);
    let conflicts = v
        .conflicts
        .into_iter()
        .map(|c| Conflict {
            line: line(&c.name),
            name: c.name.value,
            source: c.source,
            note: c.note,
        })
        .collect();
    let images = v
        .images
        .into_iter()
        .map(|i| Image {
            line: line(&i.reference),
            reference: i.reference.value,
            digest: i.digest.map(|d| d.value),
            source: i.source,
        })
        .collect();
    let artifacts = artifacts(v.charts, v.manifests, v.no_artifacts);
    Some(Release {
        version,
        line: line(&v.version),
        lifecycle,
        requires,
        constrains,
        conflicts,
        images,
        kubernetes,
        artifacts,
    })
}

/// Charts, manifests and `noArtifacts` as the file states them (`lint` judges them).
fn artifacts(
    charts: Vec<wire::ChartWire>,
    manifests: Vec<wire::ManifestWire>,
    none: Option<Spanned<wire::NoArtifactsWire>>,
) -> Artifacts {
    Artifacts {
        charts: charts
            .into_iter()
            .map(|c| Chart {
                line: line(&c.repository).min(line(&c.name)),
                repository: c.repository.value,
                name: c.name.value,
                version: c.version.value,
                app_version: c.app_version.value,
                source: c.source,
                note: c.note,
            })
            .collect(),
        manifests: manifests
            .into_iter()
            .map(|m| Manifest {
                line: line(&m.url),
                url: m.url.value,
                sha256: m.sha256.map(|s| s.value),
                source: m.source,
            })
            .collect(),
        none: none.map(|n| NoArtifacts {
            line: line(&n),
            text: n.value.text,
            source: n.value.source,
        }),
    }
}

/// The release's relation to Kubernetes: exactly one of a `requires` range and a `kubernetes:`
/// block (none at all is `Unstated`, which `lint` reports).
fn relation(
    ctx: &FileCtx<'_>,
    component: &str,
    requires: &[Constraint],
    block: Option<Spanned<wire::KubernetesWire>>,
    diags: &mut Vec<Diagnostic>,
) -> KubernetesRelation {
    let from_requires = KubernetesRelation::from_requires(component, requires);
    let Some(block) = block else {
        return from_requires;
    };
    let at = line(&block);
    let b = block.value;
    match from_requires {
        KubernetesRelation::Itself => {
            diags.push(ctx.at(
                &b.status,
                "the kubernetes component takes no `kubernetes:` block".to_string(),
                Some("remove it: a Kubernetes version needs no relation to itself".to_string()),
            ));
            KubernetesRelation::Itself
        }
        KubernetesRelation::Range { line: rline, .. } => {
            diags.push(ctx.at(
                &b.status,
                format!(
                    "both a `requires` on kubernetes (line {rline}) and a `kubernetes:` block: state exactly one"
                ),
                Some(
                    "keep the range when upstream publishes one; `kubernetes: {status: …}` is for versions without"
                        .to_string(),
                ),
            ));
            from_requires
        }
        _ => {
            let statement = Statement {
                note: b.note,
                source: b.source,
                line: at,
            };
            match b.status.value {
                KubernetesStatusWire::Independent => KubernetesRelation::Independent(statement),
                KubernetesStatusWire::Untested => KubernetesRelation::Untested(statement),
            }
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}
