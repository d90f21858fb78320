//! `bundle why NAME`: why a component is at its version and not newer.

use crate::catalog::{Catalog, Release};
use crate::types::{Date, Version};

use super::Chosen;
use super::explain::FactLine;

/// Why a component is held back, version by newer version.
#[derive(Debug, Clone)]
pub struct HeldBack {
    /// The component.
    pub name: String,
    /// Its version in the platform.
    pub version: Version,
    /// Each newer catalog version (newest first) with the facts that keep it out.
    pub newer: Vec<(Version, Vec<FactLine>)>,
}

/// Explains why `name` is at its chosen version in `platform` and not at a newer one.
///
/// Every fact that rules a newer version out beside the rest of the platform is listed: its own
/// requirements that the platform does not meet, other components' constraints on it, and its
/// lifecycle (unless `allow_eol`) and its being `untested` (unless `allow_untested`).
pub fn why(
    catalog: &Catalog,
    platform: &[Chosen],
    name: &str,
    allow_eol: bool,
    allow_untested: bool,
    as_of: Date,
) -> Result<HeldBack, String> {
    let comp = catalog
        .component(name)
        .ok_or_else(|| format!("`{name}` is not a component in the catalog"))?;
    let current = platform
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.version.clone())
        .ok_or_else(|| format!("`{name}` is not in the platform"))?;
    let chosen = |n: &str| platform.iter().find(|c| c.name == n).map(|c| &c.version);
    let release_of = |c: &Chosen| -> Option<&Release> {
        catalog
            .component(&c.name)
            .and_then(|x| x.release(&c.version))
    };
    let mut newer = Vec::new();
    for r in comp.versions.iter().rev().filter(|r| r.version > current) {
        let subject = format!("{name} {}", r.version);
        let mut facts = Vec::new();
        if !allow_eol && let Some(dead) = r.lifecycle.dead_on(as_of) {
            facts.push(FactLine {
                subject: subject.clone(),
                text: format!("is {dead}"),
                source: r.lifecycle.source.clone(),
            });
        }
        if !allow_untested && r.kubernetes.is_untested() {
            facts.push(FactLine {
                subject: subject.clone(),
                text: format!("is {}", super::UNTESTED_REASON),
                source: r.kubernetes.statement().map(|s| s.source.clone()),
            });
        }
        for c in &r.requires {
            if let Some(v) = chosen(&c.name)
                && !c.range.matches(v)
            {
                facts.push(FactLine {
                    subject: subject.clone(),
                    text: format!(
                        "requires {} {}, and the platform has {} {v}",
                        c.name, c.range, c.name
                    ),
                    source: c.source.clone(),
                });
            }
        }
        for c in &r.constrains {
            if let Some(v) = chosen(&c.name)
                && !c.range.matches(v)
            {
                facts.push(FactLine {
                    subject: subject.clone(),
                    text: format!(
                        "allows {} only in {}, and the platform has {} {v}",
                        c.name, c.range, c.name
                    ),
                    source: c.source.clone(),
                });
            }
        }
        for c in &r.conflicts {
            if chosen(&c.name).is_some() {
                facts.push(FactLine {
                    subject: subject.clone(),
                    text: format!("cannot run beside {}, which is in the platform", c.name),
                    source: c.source.clone(),
                });
            }
        }
        for other in platform.iter().filter(|c| c.name != name) {
            let Some(or) = release_of(other) else {
                continue;
            };
            for c in or.requires.iter().chain(or.constrains.iter()) {
                if c.name == name && !c.range.matches(&r.version) {
                    facts.push(FactLine {
                        subject: format!("{} {}", other.name, other.version),
                        text: format!("allows {name} only in {}", c.range),
                        source: c.source.clone(),
                    });
                }
            }
        }
        newer.push((r.version.clone(), facts));
    }
    Ok(HeldBack {
        name: name.to_string(),
        version: current,
        newer,
    })
}
