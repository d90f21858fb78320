//! Why nothing fits: the smallest conflicting part of the request, the catalog facts that clash
//! (each with its source), and what to do about it.
//!
//! resolvo's own conflict tree can leave out the decisive cause, so the explanation is built from
//! re-solves: drop request items one at a time to find a minimal conflicting core, then test each
//! fact of each candidate version against the rest of that core.

use crate::catalog::{Catalog, Component, KUBERNETES, Release};
use crate::types::{Date, Version};

use super::exclusions::{UNTESTED_REASON, request_exclusions};
use super::minimal::minimal_core;
use super::request::{Request, RequestItem, need_for};
use super::sat::{Need, Oracle, Query, Set};

/// One catalog fact in an explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactLine {
    /// What the fact is about, e.g. `ingress-nginx 1.13.9`.
    pub subject: String,
    /// The fact, e.g. `requires kubernetes >=1.29.0, <1.34.0`.
    pub text: String,
    /// Where it comes from.
    pub source: Option<String>,
}

/// An explained failure.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The smallest part of the request that already conflicts (empty: the catalog alone fails).
    pub core: Vec<RequestItem>,
    /// The catalog facts that clash, each with its source.
    pub facts: Vec<FactLine>,
    /// Whether the request would fit if end-of-life and retired releases were allowed.
    pub eol_is_reason: bool,
    /// Whether the request would fit if `untested` versions (no published Kubernetes range) were
    /// allowed. When both this and `eol_is_reason` hold, either flag alone may suffice or both may
    /// be needed; the hints say which.
    pub untested_is_reason: bool,
    /// What the user can do.
    pub hints: Vec<String>,
    /// The date lifecycle was judged on.
    pub as_of: Date,
    /// The request whose exclusions the core was found under (the request itself, or with
    /// end-of-life and untested releases allowed): [`Explanation::solver_report`] runs on it.
    report_request: Request,
}

impl Explanation {
    /// resolvo's own account of why the core conflicts (for `--verbose`). Computed on demand: it
    /// costs one more solve over the whole catalog, which nobody needs unless they ask for it.
    pub fn solver_report(&self, catalog: &Catalog) -> String {
        Oracle::new(catalog, request_exclusions(catalog, &self.report_request))
            .check_with_report(&Request::query_for(catalog, &self.core))
            .err()
            .unwrap_or_default()
    }
}

/// At most this many versions of one component are listed; the rest are summarised.
const MAX_VERSIONS: usize = 6;

/// Explains why `request` has no solution over `catalog`.
pub fn explain(catalog: &Catalog, request: &Request) -> Explanation {
    explain_with(
        &Oracle::new(catalog, request_exclusions(catalog, request)),
        request,
    )
}

/// [`explain`] with the oracle the solve used (the request's own exclusions).
pub(crate) fn explain_with(strict: &Oracle<'_>, request: &Request) -> Explanation {
    let catalog = strict.catalog();
    let lax_exclusions = request_exclusions(catalog, &relaxed(request, true, true));
    // a catalog without end-of-life or untested versions excludes the same versions either way
    let lax_owned;
    let lax = if (0..catalog.components.len()).all(|c| {
        (0..catalog.components[c].versions.len())
            .all(|v| strict.excluded(c, v) == lax_exclusions[c][v])
    }) {
        strict
    } else {
        lax_owned = Oracle::new(catalog, lax_exclusions);
        &lax_owned
    };
    let relaxable = !request.allow_eol || !request.allow_untested;
    // When the request fails even with end-of-life and untested releases allowed, the
    // compatibility facts are the real conflict: explain those, and mention lifecycle only as an
    // addition.
    let lax_fails = relaxable && !lax.feasible(&request.query(catalog));
    let oracle = if lax_fails { lax } else { strict };
    let items = request.items();
    let core = if !oracle.feasible(&Request::query_for(catalog, &[])) {
        Vec::new()
    } else {
        minimal_core(oracle, &items)
    };
    let relax = if relaxable && !lax_fails {
        relaxation(catalog, request)
    } else {
        Relax::Nothing
    };
    let (eol_is_reason, untested_is_reason) = match relax {
        Relax::Nothing => (false, false),
        Relax::Both => (true, true),
        Relax::Either { eol, untested } => (eol, untested),
    };

    let mut facts = core_facts(oracle, catalog, &core);
    if lax_fails {
        facts.extend(lifecycle_facts(strict, catalog, request, &core));
    }
    if untested_is_reason {
        untested_facts(strict, request, &core, eol_is_reason, &mut facts);
    }
    let hints = hints(catalog, request, oracle, &core, relax);
    Explanation {
        core,
        facts: merge(prune(facts)),
        eol_is_reason,
        untested_is_reason,
        hints,
        as_of: request.as_of,
        report_request: if lax_fails {
            relaxed(request, true, true)
        } else {
            request.clone()
        },
    }
}

/// `request` with end-of-life and/or untested releases allowed as well.
fn relaxed(request: &Request, allow_eol: bool, allow_untested: bool) -> Request {
    Request {
        allow_eol: request.allow_eol || allow_eol,
        allow_untested: request.allow_untested || allow_untested,
        ..request.clone()
    }
}

/// Which relaxation makes a request that fits with both fit: either flag alone, or only both
/// together.
fn relaxation(catalog: &Catalog, request: &Request) -> Relax {
    let passes = |eol: bool, untested: bool| {
        Oracle::new(
            catalog,
            request_exclusions(catalog, &relaxed(request, eol, untested)),
        )
        .feasible(&request.query(catalog))
    };
    let eol_alone = !request.allow_eol && passes(true, false);
    let untested_alone = !request.allow_untested && passes(false, true);
    if eol_alone || untested_alone {
        Relax::Either {
            eol: eol_alone,
            untested: untested_alone,
        }
    } else {
        Relax::Both
    }
}

/// The facts behind each item of the core (the catalog's Kubernetes versions when it is empty).
fn core_facts(oracle: &Oracle<'_>, catalog: &Catalog, core: &[RequestItem]) -> Vec<FactLine> {
    let mut facts = Vec::new();
    let k8s = catalog.component_index(KUBERNETES);
    if core.is_empty()
        && let Some(k) = k8s
    {
        facts.extend(version_facts(oracle, catalog, k, &Set::Any, &[], None));
    }
    for (idx, item) in core.iter().enumerate() {
        let rest: Vec<RequestItem> = core
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != idx)
            .map(|(_, it)| it.clone())
            .collect();
        match item {
            RequestItem::Kubernetes(r) => {
                if let Some(k) = k8s {
                    facts.extend(kubernetes_facts(oracle, catalog, k, r));
                }
            }
            RequestItem::With(w) => facts.extend(with_facts(oracle, catalog, core, &rest, w)),
            RequestItem::Without(n) => facts.push(FactLine {
                subject: "request".to_string(),
                text: format!("{n} may not be chosen (--without {n})"),
                source: None,
            }),
        }
    }
    facts
}

/// What a Kubernetes range of the request allows, and which of those versions are excluded.
fn kubernetes_facts(
    oracle: &Oracle<'_>,
    catalog: &Catalog,
    k: usize,
    r: &crate::types::VersionReq,
) -> Vec<FactLine> {
    let mut facts = Vec::new();
    let comp = &catalog.components[k];
    let matching: Vec<String> = comp
        .versions
        .iter()
        .filter(|v| r.matches(&v.version))
        .map(|v| v.version.to_string())
        .collect();
    facts.push(FactLine {
        subject: "request".to_string(),
        text: if matching.is_empty() {
            format!("kubernetes {r} matches no Kubernetes version in the catalog")
        } else {
            format!("kubernetes {r} allows {}", matching.join(", "))
        },
        source: None,
    });
    let dead: Vec<FactLine> = comp
        .versions
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, v)| r.matches(&v.version))
        .filter_map(|(vi, v)| {
            oracle.excluded(k, vi).map(|why| FactLine {
                subject: format!("kubernetes {}", v.version),
                text: format!("is {why}"),
                source: v.lifecycle.source.clone(),
            })
        })
        .take(MAX_VERSIONS)
        .collect();
    facts.extend(dead);
    facts
}

/// Why a wanted component (or each provider of a wanted capability) fails beside the rest of the
/// core.
fn with_facts(
    oracle: &Oracle<'_>,
    catalog: &Catalog,
    core: &[RequestItem],
    rest: &[RequestItem],
    w: &crate::catalog::WithSpec,
) -> Vec<FactLine> {
    let Need::AnyOf(providers) = need_for(catalog, w) else {
        let ci = catalog.component_index(&w.name).expect("validated");
        let set = if w.range.is_any() {
            Set::Any
        } else {
            Set::Range(w.range.clone())
        };
        return version_facts(oracle, catalog, ci, &set, rest, None);
    };
    let mut facts = Vec::new();
    if providers.is_empty() {
        facts.push(FactLine {
            subject: w.name.clone(),
            text: "is a capability that no component in the catalog provides".to_string(),
            source: None,
        });
    }
    for p in providers {
        let refused = core
            .iter()
            .any(|i| matches!(i, RequestItem::Without(n) if *n == catalog.components[p].name));
        if refused {
            continue;
        }
        facts.extend(version_facts(
            oracle,
            catalog,
            p,
            &Set::Any,
            rest,
            Some(&w.name),
        ));
    }
    facts
}

/// Lifecycle on top of a compatibility conflict: requested components with nothing alive left.
fn lifecycle_facts(
    strict: &Oracle<'_>,
    catalog: &Catalog,
    request: &Request,
    core: &[RequestItem],
) -> Vec<FactLine> {
    let mut facts = Vec::new();
    for item in core {
        let RequestItem::With(w) = item else { continue };
        let Some(ci) = catalog.component_index(&w.name) else {
            continue;
        };
        let comp = &catalog.components[ci];
        let alive = (0..comp.versions.len()).any(|v| strict.excluded(ci, v).is_none());
        if !alive && let Some(r) = comp.newest() {
            let why = strict
                .excluded(ci, comp.versions.len() - 1)
                .unwrap_or_default();
            let flags = match (
                r.lifecycle.dead_on(request.as_of).is_some() && !request.allow_eol,
                r.kubernetes.is_untested() && !request.allow_untested,
            ) {
                (true, true) => "--allow-eol and --allow-untested",
                (false, true) => "--allow-untested",
                _ => "--allow-eol",
            };
            facts.push(FactLine {
                subject: comp.name.clone(),
                text: format!("is also {why} (every version), so {flags} alone would not help"),
                source: exclusion_source(r, &why),
            });
        }
    }
    facts
}

/// The untested versions a platform would need, where no fact names them yet.
fn untested_facts(
    strict: &Oracle<'_>,
    request: &Request,
    core: &[RequestItem],
    eol_is_reason: bool,
    facts: &mut Vec<FactLine>,
) {
    let catalog = strict.catalog();
    let relaxed = Oracle::new(
        catalog,
        request_exclusions(catalog, &relaxed(request, eol_is_reason, true)),
    );
    let needed = relaxed
        .check(&Request::query_for(catalog, core))
        .unwrap_or_default();
    for (ci, v) in needed.iter().enumerate() {
        let Some(v) = *v else { continue };
        let r = &catalog.components[ci].versions[v];
        let subject = format!("{} {}", catalog.components[ci].name, r.version);
        let Some(why) = strict
            .excluded(ci, v)
            .filter(|w| w.contains(UNTESTED_REASON))
        else {
            continue;
        };
        if !facts.iter().any(|f: &FactLine| f.subject == subject) {
            facts.push(FactLine {
                subject,
                source: exclusion_source(r, &why),
                text: format!("is {why}"),
            });
        }
    }
}

/// Which of `--allow-eol` and `--allow-untested` would make a failed request fit.
#[derive(Debug, Clone, Copy)]
enum Relax {
    /// Neither (or both allowed already): the compatibility facts are the conflict.
    Nothing,
    /// Either flag that is `true` suffices on its own.
    Either { eol: bool, untested: bool },
    /// Only both together.
    Both,
}

/// The source of an exclusion: the lifecycle's for a dead release, the `untested` statement's for
/// an untested one (both for both).
fn exclusion_source(r: &Release, why: &str) -> Option<String> {
    let untested = why.contains(UNTESTED_REASON);
    let dead = why != UNTESTED_REASON;
    let statement = r
        .kubernetes
        .statement()
        .map(|s| s.source.clone())
        .filter(|_| untested);
    let lifecycle = r.lifecycle.source.clone().filter(|_| dead);
    match (lifecycle, statement) {
        (Some(a), Some(b)) => Some(format!("{a} ; {b}")),
        (a, b) => a.or(b),
    }
}

/// The fallback line for a version without a decisive fact of its own, removed when another fact
/// already names that component (the other side of a `conflicts` or `constrains`).
const NO_SINGLE_FACT: &str = "fits none of the combinations";

fn prune(facts: Vec<FactLine>) -> Vec<FactLine> {
    let named_elsewhere = |comp: &str, facts: &[FactLine]| {
        facts.iter().any(|f| {
            !f.text.starts_with(NO_SINGLE_FACT)
                && f.subject.split(' ').next() != Some(comp)
                && f.text.split([' ', ',', '(', ')']).any(|w| w == comp)
        })
    };
    let mut out: Vec<FactLine> = Vec::new();
    for f in &facts {
        let comp = f.subject.split(' ').next().unwrap_or_default();
        let superseded = f.text.starts_with(NO_SINGLE_FACT) && named_elsewhere(comp, &facts);
        if !superseded && !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

/// Merges consecutive facts that say the same thing about versions of one component.
fn merge(facts: Vec<FactLine>) -> Vec<FactLine> {
    let mut groups: Vec<(FactLine, usize)> = Vec::new();
    for f in facts {
        if let Some((last, n)) = groups.last_mut() {
            let same_comp = last.subject.split(' ').next() == f.subject.split(' ').next();
            if same_comp && last.text == f.text && f.subject.contains(' ') {
                let version = f.subject.split_once(' ').map(|x| x.1).unwrap_or_default();
                last.subject = format!("{}, {version}", last.subject);
                *n += 1;
                if let Some(src) = f.source {
                    match &mut last.source {
                        Some(s) => {
                            for part in src.split(" ; ") {
                                if !s.split(" ; ").any(|x| x == part) {
                                    s.push_str(" ; ");
                                    s.push_str(part);
                                }
                            }
                        }
                        None => last.source = Some(src),
                    }
                }
                continue;
            }
        }
        groups.push((f, 1));
    }
    groups
        .into_iter()
        .map(|(mut f, n)| {
            if n > 1 {
                for (one, many) in [
                    ("is ", "are "),
                    ("requires ", "require "),
                    ("allows ", "allow "),
                    ("fits ", "fit "),
                ] {
                    if let Some(rest) = f.text.strip_prefix(one) {
                        f.text = format!("{many}{rest}");
                        break;
                    }
                }
            }
            f
        })
        .collect()
}

/// Why each version of component `ci` (in `set`) fails beside `rest`.
fn version_facts(
    oracle: &Oracle<'_>,
    catalog: &Catalog,
    ci: usize,
    set: &Set,
    rest: &[RequestItem],
    capability: Option<&str>,
) -> Vec<FactLine> {
    let comp = &catalog.components[ci];
    let base = Request::query_for(catalog, rest);
    let mut out = Vec::new();
    let candidates: Vec<(usize, &Release)> = comp
        .versions
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, r)| set.contains(&r.version))
        .collect();
    if candidates.is_empty() {
        out.push(FactLine {
            subject: comp.name.clone(),
            text: format!("has no version in {set} (catalog: {})", list_versions(comp)),
            source: None,
        });
        return out;
    }
    let shown = candidates.len().min(MAX_VERSIONS);
    for (vi, r) in candidates.iter().take(shown) {
        let subject = format!("{} {}", comp.name, r.version);
        if let Some(why) = oracle.excluded(ci, *vi) {
            out.push(FactLine {
                subject,
                source: exclusion_source(r, &why),
                text: format!("is {why}"),
            });
            continue;
        }
        let decisive = decisive_facts(oracle, catalog, &base, r);
        if decisive.is_empty() {
            // No single fact of this release clashes; other releases' facts do (listed with them).
            let mut q = base.clone();
            q.needs.push(Need::One(ci, Set::Exact(r.version.clone())));
            if oracle.feasible(&q) {
                continue;
            }
            out.push(FactLine {
                subject: subject.clone(),
                text: format!(
                    "{NO_SINGLE_FACT} left by the rest of the request{}",
                    capability
                        .map(|c| format!(" (as the {c})"))
                        .unwrap_or_default()
                ),
                source: None,
            });
        }
        for (text, source, untested) in decisive {
            out.push(FactLine {
                subject: subject.clone(),
                text,
                source,
            });
            out.extend(untested);
        }
    }
    if candidates.len() > shown {
        out.push(FactLine {
            subject: comp.name.clone(),
            text: if candidates.len() - shown == 1 {
                format!("{} does not fit either", candidates[shown].1.version)
            } else {
                format!(
                    "{} older versions ({} … {}) do not fit either",
                    candidates.len() - shown,
                    candidates
                        .last()
                        .map(|c| c.1.version.to_string())
                        .unwrap_or_default(),
                    candidates[shown].1.version
                )
            },
            source: None,
        });
    }
    out
}

/// A decisive fact: its text, its source, and the untested versions that it would need.
type Decisive = (String, Option<String>, Vec<FactLine>);

/// The facts of release `r` that, each on its own, cannot hold beside `base`; a requirement that
/// only untested versions would meet names them.
fn decisive_facts(
    oracle: &Oracle<'_>,
    catalog: &Catalog,
    base: &Query,
    r: &Release,
) -> Vec<Decisive> {
    let mut out = Vec::new();
    for c in &r.requires {
        let mut q = base.clone();
        match catalog.component_index(&c.name) {
            Some(t) => q.needs.push(Need::One(t, Set::Range(c.range.clone()))),
            None => q.needs.push(Need::AnyOf(
                oracle
                    .providers(&c.name)
                    .map(|p| p.to_vec())
                    .unwrap_or_default(),
            )),
        }
        if !oracle.feasible(&q) {
            let text = if catalog.component(&c.name).is_some() {
                format!(
                    "requires {} {}{}",
                    c.name,
                    c.range,
                    held(catalog, &c.name, &c.range)
                )
            } else {
                format!("requires a {} provider", c.name)
            };
            out.push((
                text,
                c.source.clone(),
                untested_in(oracle, catalog, &c.name, &c.range),
            ));
        }
    }
    for c in &r.constrains {
        let Some(t) = catalog.component_index(&c.name) else {
            continue;
        };
        let mut q = base.clone();
        q.limits.push((t, Set::Range(c.range.clone())));
        if !oracle.feasible(&q) {
            out.push((
                format!("allows {} only in {}", c.name, c.range),
                c.source.clone(),
                Vec::new(),
            ));
        }
    }
    for c in &r.conflicts {
        let Some(t) = catalog.component_index(&c.name) else {
            continue;
        };
        let mut q = base.clone();
        q.limits.push((t, Set::Nothing));
        if !oracle.feasible(&q) {
            out.push((
                format!("cannot run beside {}", c.name),
                c.source.clone(),
                Vec::new(),
            ));
        }
    }
    out
}

/// The versions of `name` (a component, or the providers of a capability) in `range` that the
/// oracle excludes as untested, newest first, as fact lines.
fn untested_in(
    oracle: &Oracle<'_>,
    catalog: &Catalog,
    name: &str,
    range: &crate::types::VersionReq,
) -> Vec<FactLine> {
    let comps: Vec<usize> = match catalog.component_index(name) {
        Some(t) => vec![t],
        None => oracle.providers(name).unwrap_or_default(),
    };
    let mut out = Vec::new();
    for t in comps {
        let comp = &catalog.components[t];
        for (vi, v) in comp.versions.iter().enumerate().rev() {
            if !range.matches(&v.version) || !v.kubernetes.is_untested() {
                continue;
            }
            if let Some(why) = oracle
                .excluded(t, vi)
                .filter(|w| w.contains(UNTESTED_REASON))
            {
                out.push(FactLine {
                    subject: format!("{} {}", comp.name, v.version),
                    source: exclusion_source(v, &why),
                    text: format!("is {why}"),
                });
            }
        }
    }
    out.truncate(MAX_VERSIONS);
    out
}

/// For a Kubernetes range, the minors it covers, e.g. ` (Kubernetes 1.29 – 1.33)`.
fn held(catalog: &Catalog, name: &str, range: &crate::types::VersionReq) -> String {
    if name != KUBERNETES {
        return String::new();
    }
    let Some(k) = catalog.component(KUBERNETES) else {
        return String::new();
    };
    let minors: Vec<String> = k
        .versions
        .iter()
        .filter(|v| range.matches(&v.version))
        .map(|v| v.version.minor_string())
        .collect();
    match (minors.first(), minors.last()) {
        (Some(a), Some(b)) if a == b => format!(" (Kubernetes {a} only)"),
        (Some(a), Some(b)) => format!(" (Kubernetes {a} – {b})"),
        _ => String::new(),
    }
}

fn list_versions(c: &Component) -> String {
    let v: Vec<String> = c.versions.iter().map(|r| r.version.to_string()).collect();
    v.join(", ")
}

fn hints(
    catalog: &Catalog,
    request: &Request,
    oracle: &Oracle<'_>,
    core: &[RequestItem],
    relax: Relax,
) -> Vec<String> {
    let mut out = Vec::new();
    let eol_hint = format!(
        "the request fits only with end-of-life or retired releases (as of {}): add --allow-eol (or `allowEol: true`) to accept them, or drop what is dead from the request",
        request.as_of
    );
    let untested_hint = "the request fits only with untested versions (upstream publishes no Kubernetes range for them): add --allow-untested (or `allowUntested: true`) to accept them, or drop what needs them from the request";
    match relax {
        Relax::Nothing => {}
        Relax::Either { eol, untested } => {
            if eol {
                out.push(eol_hint);
            }
            if untested {
                out.push(untested_hint.to_string());
            }
        }
        Relax::Both => out.push(format!(
            "the request fits only with end-of-life or retired releases (as of {}) and untested versions (no published Kubernetes range) together: add --allow-eol and --allow-untested (or `allowEol: true` and `allowUntested: true`)",
            request.as_of
        )),
    }
    let relaxing_helps = !matches!(relax, Relax::Nothing);
    let k8s_item = core.iter().find_map(|i| match i {
        RequestItem::Kubernetes(r) => Some(r.clone()),
        _ => None,
    });
    for item in core {
        let RequestItem::With(w) = item else { continue };
        let Some(comp) = catalog.component(&w.name) else {
            continue;
        };
        let rest: Vec<RequestItem> = core.iter().filter(|i| *i != item).cloned().collect();
        if let Some(r) = &k8s_item {
            // the newest Kubernetes this component fits with, without the Kubernetes range
            let without_k8s: Vec<RequestItem> = core
                .iter()
                .filter(|i| !matches!(i, RequestItem::Kubernetes(_)))
                .cloned()
                .collect();
            if let Some(k) = catalog.component_index(KUBERNETES)
                && let Some(v) = newest_kubernetes(oracle, catalog, k, &without_k8s)
            {
                out.push(format!(
                        "{} fits Kubernetes up to {} here; drop `--kubernetes '{r}'` or ask for `--kubernetes ~{}`",
                        comp.name,
                        v.minor_string(),
                        v.minor_string()
                    ));
            }
        }
        for cap in &comp.provides {
            for p in catalog.providers(cap) {
                let already = core
                    .iter()
                    .any(|i| matches!(i, RequestItem::With(x) if x.name == p.name));
                if p.name == comp.name || already {
                    continue;
                }
                let mut alt = rest.clone();
                alt.push(RequestItem::With(crate::catalog::WithSpec {
                    name: p.name.clone(),
                    range: crate::types::VersionReq::any(),
                }));
                if oracle.feasible(&Request::query_for(catalog, &alt)) {
                    out.push(format!(
                        "or pick {} as the {cap} instead of {} (`--with {}`)",
                        p.name, comp.name, p.name
                    ));
                }
            }
        }
    }
    if core.len() > 1 {
        let list: Vec<String> = core.iter().map(|i| format!("`{i}`")).collect();
        out.push(format!(
            "these request items cannot hold together; drop or widen one of: {}",
            list.join(", ")
        ));
    }
    if core.is_empty() && !relaxing_helps {
        out.push(
            "the catalog itself has no installable Kubernetes version; run `bundle catalog check`"
                .to_string(),
        );
    }
    out
}

fn newest_kubernetes(
    oracle: &Oracle<'_>,
    catalog: &Catalog,
    k: usize,
    items: &[RequestItem],
) -> Option<Version> {
    let base = Request::query_for(catalog, items);
    catalog.components[k].versions.iter().rev().find_map(|v| {
        let mut q = base.clone();
        q.needs.push(Need::One(k, Set::Exact(v.version.clone())));
        oracle.feasible(&q).then(|| v.version.clone())
    })
}
