//! The compatibility matrix: catalog × Kubernetes minors → JSON, Markdown, HTML.
//!
//! Two tables, both computed with the solver so that indirect constraints count:
//!
//! * **components × minors** ([`Matrix::rows`]): for each Kubernetes minor `1.NN` (every Kubernetes
//!   version in `~1.NN`) and each component, the newest version of the component that installs
//!   beside *some* Kubernetes version of that minor — or, when none does, the first catalog fact
//!   that rules it out, with its source;
//! * **platform × minors** ([`Matrix::platforms`]): a request (by default the catalog's `default`
//!   profile) solved for each minor with [`solver::solve`], or the conflict that prevents it.
//!
//! Every version is considered, end-of-life and retired ones included: lifecycle is *marked* with the
//! catalog's dates, never judged against today, so the matrix is a pure function of the catalog and
//! the request (the committed `docs/compatibility.md` stays current until the catalog changes).

mod baseline;
mod github;
mod html;
mod json;
mod markdown;

pub use baseline::{Change, ChangeKind, Comparison, compare};
pub use github::to_github;
pub use html::to_html;
pub use json::{
    CellFile, ComponentRow, FORMAT_VERSION, FactFile, KubernetesLine, MatrixFile, OrderedMap,
    PlatformFile, ReadError, RequestFile, to_json,
};
pub use markdown::to_markdown;

use std::collections::BTreeMap;

use crate::catalog::{Catalog, KUBERNETES, PlatformSpec, Release, WithSpec};
use crate::solver::sat::{Need, Oracle, Query, Set};
use crate::solver::{
    self, FactLine, Request, RequestError, RequestItem, SolveError, lifecycle_exclusions,
};
use crate::types::{Date, Version, VersionError, VersionReq};

/// Why the matrix could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MatrixError {
    /// The catalog has no `kubernetes` component, so there are no columns.
    #[error("the catalog has no `kubernetes` component, so the matrix has no columns")]
    NoKubernetes,
    /// `--kubernetes RANGE` matches no Kubernetes version in the catalog.
    #[error(
        "--kubernetes {range}: no Kubernetes version in the catalog matches (catalog minors: {minors})"
    )]
    NoMinorInRange {
        /// The range given.
        range: String,
        /// The minors the catalog has.
        minors: String,
    },
    /// A range could not be combined with a minor.
    #[error(transparent)]
    Range(#[from] VersionError),
    /// The platform request does not fit the catalog.
    #[error("the platform request: {0}")]
    Request(#[from] RequestError),
}

/// What to build the matrix for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only the minors with a Kubernetes version in this range (all minors when `None`).
    pub kubernetes: Option<VersionReq>,
    /// The platform solved per minor for the second table.
    pub request: PlatformSpec,
    /// Where the request comes from, for people: `profile default`, or the file name.
    pub request_label: String,
}

/// The date every solver call of the matrix judges lifecycle on. Together with `allow_eol = true`
/// nothing is excluded, so no cell depends on the day the matrix is built.
pub fn fixed_as_of() -> Date {
    Date::from_days(0)
}

/// A Kubernetes minor: one column of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minor {
    /// `1.35`.
    pub name: String,
    /// The range its cells are solved with: `~1.35` (narrowed by `--kubernetes`).
    pub range: VersionReq,
    /// The newest Kubernetes version of this minor in the catalog (in range).
    pub newest: Version,
    /// Lifecycle of that newest version.
    pub marks: Marks,
}

/// Lifecycle marks of a release, with the catalog's dates (never judged against today).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// The newest version of the component in the catalog.
    pub newest: bool,
    /// When the release line reaches (or reached) end of life.
    pub end_of_life: Option<Date>,
    /// When the whole project was retired.
    pub retired: Option<Date>,
    /// Untested: upstream publishes no Kubernetes range for the release (`kubernetes: {status:
    /// untested}`), or, in a cell, the release installs only beside an untested release it needs.
    /// The solver chooses such versions only when untested versions are allowed.
    pub untested: bool,
}

impl Marks {
    fn of(release: &Release, newest: bool) -> Self {
        Marks {
            newest,
            end_of_life: release.lifecycle.end_of_life,
            retired: release.lifecycle.retired,
            untested: release.kubernetes.is_untested(),
        }
    }

    /// `untested`, `retired 2026-03-24`, `EOL 2026-10-27`, several of them, or empty.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if self.untested {
            parts.push("untested".to_string());
        }
        if let Some(d) = self.retired {
            parts.push(format!("retired {d}"));
        }
        if let Some(d) = self.end_of_life {
            parts.push(format!("EOL {d}"));
        }
        parts.join(", ")
    }
}

/// Why a cell is empty: the first fact of the solver's explanation, with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `cert-manager 1.21.2 requires kubernetes >=1.33.0, <1.37.0 (Kubernetes 1.33 – 1.36)`.
    pub text: String,
    /// Where the fact comes from.
    pub source: Option<String>,
}

/// One cell: the newest installable version, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// This version installs with the minor, and no newer one does.
    Version {
        /// The version.
        version: Version,
        /// Its lifecycle marks.
        marks: Marks,
    },
    /// No version installs with the minor.
    None(Reason),
}

impl Cell {
    /// The version, if there is one.
    pub fn version(&self) -> Option<&Version> {
        match self {
            Cell::Version { version, .. } => Some(version),
            Cell::None(_) => None,
        }
    }
}

/// One row: a component and its cells, one per minor (in [`Matrix::minors`] order).
#[derive(Debug, Clone)]
pub struct Row {
    /// Component name.
    pub name: String,
    /// Capabilities it provides.
    pub provides: Vec<String>,
    /// One cell per minor.
    pub cells: Vec<Cell>,
}

/// A chosen component of a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// Component name.
    pub name: String,
    /// Chosen version.
    pub version: Version,
    /// Its lifecycle marks.
    pub marks: Marks,
}

/// The request solved for one minor.
#[derive(Debug, Clone)]
pub enum Platform {
    /// The platform the solver chooses.
    Solved {
        /// The chosen Kubernetes version.
        kubernetes: Version,
        /// Every other chosen component, in name order.
        components: Vec<Pick>,
    },
    /// Nothing fits.
    Conflict {
        /// One line for people: the conflicting core and the first fact.
        summary: String,
        /// The smallest part of the request that conflicts.
        core: Vec<String>,
        /// The facts that clash.
        facts: Vec<FactLine>,
    },
}

/// The whole matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Catalog digest (`sha256:…`).
    pub catalog: String,
    /// The `--kubernetes` range, if one narrowed the columns.
    pub kubernetes_range: Option<VersionReq>,
    /// The columns, oldest first.
    pub minors: Vec<Minor>,
    /// The rows, in name order (every component but Kubernetes).
    pub rows: Vec<Row>,
    /// The request of the second table.
    pub request: PlatformSpec,
    /// Where the request comes from.
    pub request_label: String,
    /// One per minor.
    pub platforms: Vec<Platform>,
}

impl Matrix {
    /// The names of the components in any solved platform, sorted: the rows of the platform table.
    pub fn platform_components(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .platforms
            .iter()
            .flat_map(|p| match p {
                Platform::Solved { components, .. } => {
                    components.iter().map(|c| c.name.as_str()).collect()
                }
                Platform::Conflict { .. } => Vec::new(),
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The minors whose platform does not solve, with the conflicting core and the clashing facts.
    pub fn conflicts(&self) -> Vec<(&Minor, &Vec<String>, &Vec<FactLine>)> {
        self.minors
            .iter()
            .zip(&self.platforms)
            .filter_map(|(minor, p)| match p {
                Platform::Conflict { core, facts, .. } => Some((minor, core, facts)),
                Platform::Solved { .. } => None,
            })
            .collect()
    }
}

/// Options for the catalog's `default` profile (an empty request when the catalog has none).
pub fn default_options(catalog: &Catalog) -> Options {
    match catalog.profile("default") {
        Some(p) => Options {
            kubernetes: None,
            request: p.spec.clone(),
            request_label: "profile default".to_string(),
        },
        None => Options {
            kubernetes: None,
            request: PlatformSpec {
                kubernetes: VersionReq::any(),
                with: Vec::new(),
                without: Vec::new(),
                allow_eol: true,
                allow_untested: false,
                as_of: None,
            },
            request_label: "empty request (the catalog has no default profile)".to_string(),
        },
    }
}

/// `~MINOR`, narrowed by `extra` unless that is `*`.
fn minor_range(minor: &str, extra: Option<&VersionReq>) -> Result<VersionReq, VersionError> {
    let base = VersionReq::parse_lenient(&format!("~{minor}"))?;
    match extra {
        Some(e) => narrow(&base, e),
        None => Ok(base),
    }
}

/// Both ranges at once (`a` alone when `b` is `*`).
fn narrow(a: &VersionReq, b: &VersionReq) -> Result<VersionReq, VersionError> {
    if b.is_any() {
        return Ok(a.clone());
    }
    VersionReq::parse_lenient(&format!("{a}, {b}"))
}

/// The Kubernetes minors of the catalog (in `range`), oldest first.
fn minors(catalog: &Catalog, range: Option<&VersionReq>) -> Result<Vec<Minor>, MatrixError> {
    let k = catalog
        .component(KUBERNETES)
        .ok_or(MatrixError::NoKubernetes)?;
    let mut by_minor: BTreeMap<(u64, u64), &Release> = BTreeMap::new();
    for r in &k.versions {
        if range.is_none_or(|x| x.matches(&r.version)) {
            // versions are sorted oldest first: the last one of a minor wins
            by_minor.insert((r.version.major(), r.version.minor()), r);
        }
    }
    if by_minor.is_empty() {
        let mut all: Vec<String> = k
            .versions
            .iter()
            .map(|v| v.version.minor_string())
            .collect();
        all.dedup();
        return Err(MatrixError::NoMinorInRange {
            range: range.map(|r| r.to_string()).unwrap_or_default(),
            minors: all.join(", "),
        });
    }
    let newest = k.newest().map(|n| n.version.clone());
    by_minor
        .into_values()
        .map(|r| {
            let name = r.version.minor_string();
            Ok(Minor {
                range: minor_range(&name, range)?,
                name,
                newest: r.version.clone(),
                marks: Marks::of(r, newest.as_ref() == Some(&r.version)),
            })
        })
        .collect()
}

/// Builds the matrix. Pure: the same catalog and options give the same matrix on any day.
pub fn build(catalog: &Catalog, options: &Options) -> Result<Matrix, MatrixError> {
    let as_of = fixed_as_of();
    let minors = minors(catalog, options.kubernetes.as_ref())?;
    let k = catalog
        .component_index(KUBERNETES)
        .ok_or(MatrixError::NoKubernetes)?;
    let platform_request = |m: &Minor| -> Result<Request, MatrixError> {
        Ok(Request {
            kubernetes: narrow(&m.range, &options.request.kubernetes)?,
            with: options.request.with.clone(),
            without: options.request.without.clone(),
            allow_eol: true,
            allow_untested: options.request.allow_untested,
            as_of,
        })
    };
    if let Some(m) = minors.first() {
        platform_request(m)?.validate(catalog)?;
    }

    let rows = component_rows(catalog, &minors, k, as_of, options.request.allow_untested);

    let mut platforms = Vec::with_capacity(minors.len());
    for m in &minors {
        let request = platform_request(m)?;
        platforms.push(match solver::solve(catalog, &request, &BTreeMap::new()) {
            Ok(s) => Platform::Solved {
                kubernetes: s.kubernetes.clone(),
                components: s
                    .components
                    .iter()
                    .filter(|c| c.name != KUBERNETES)
                    .map(|c| {
                        let comp = catalog.component(&c.name);
                        let marks = comp
                            .and_then(|x| x.release(&c.version))
                            .map(|r| {
                                Marks::of(
                                    r,
                                    comp.and_then(|x| x.newest()).map(|n| &n.version)
                                        == Some(&c.version),
                                )
                            })
                            .unwrap_or_default();
                        Pick {
                            name: c.name.clone(),
                            version: c.version.clone(),
                            marks,
                        }
                    })
                    .collect(),
            },
            Err(SolveError::Request(e)) => return Err(e.into()),
            Err(SolveError::Unsatisfiable(ex)) => {
                let core: Vec<String> = ex.core.iter().map(RequestItem::to_string).collect();
                let first = first_fact(&ex.facts)
                    .map(|f| format!(": {} {}", f.subject, f.text))
                    .unwrap_or_default();
                let summary = if core.is_empty() {
                    format!("no Kubernetes {} version can be installed{first}", m.name)
                } else {
                    format!("{}{first}", core.join(" + "))
                };
                Platform::Conflict {
                    summary,
                    core,
                    facts: ex.facts.clone(),
                }
            }
        });
    }

    Ok(Matrix {
        catalog: catalog.digest.clone(),
        kubernetes_range: options.kubernetes.clone(),
        minors,
        rows,
        request: options.request.clone(),
        request_label: options.request_label.clone(),
        platforms,
    })
}

/// The components × minors table: one row per component but Kubernetes (index `k`).
fn component_rows(
    catalog: &Catalog,
    minors: &[Minor],
    k: usize,
    as_of: Date,
    allow_untested: bool,
) -> Vec<Row> {
    let oracle = Oracle::new(catalog, lifecycle_exclusions(catalog, true, as_of));
    // Untested versions are excluded first: a cell shows what `bundle solve` chooses by default,
    // and an untested version (marked) only where nothing tested installs. With untested versions
    // allowed, a cell shows the newest that installs, tested or not (still marked when it needs an
    // untested release).
    let tested = untested_exclusions(catalog).map(|ex| Oracle::new(catalog, ex));
    let mut rows: Vec<Row> = catalog
        .components
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .map(|(_, c)| Row {
            name: c.name.clone(),
            provides: c.provides.clone(),
            cells: Vec::with_capacity(minors.len()),
        })
        .collect();
    for m in minors {
        let kube = Need::One(k, Set::Range(m.range.clone()));
        let mut row = rows.iter_mut();
        for (ci, comp) in catalog.components.iter().enumerate() {
            if ci == k {
                continue;
            }
            let Some(row) = row.next() else { break };
            let fit = match &tested {
                None => newest_fitting(&oracle, &kube, ci).map(|vi| (vi, false)),
                Some(t) if allow_untested => newest_fitting(&oracle, &kube, ci)
                    .map(|vi| (vi, !fits_exactly(t, &kube, ci, vi))),
                Some(t) => newest_fitting(t, &kube, ci)
                    .map(|vi| (vi, false))
                    .or_else(|| newest_fitting(&oracle, &kube, ci).map(|vi| (vi, true))),
            };
            let cell = match fit {
                Some((vi, untested)) => {
                    let r = &comp.versions[vi];
                    let mut marks = Marks::of(r, vi + 1 == comp.versions.len());
                    marks.untested |= untested;
                    Cell::Version {
                        version: r.version.clone(),
                        marks,
                    }
                }
                None => Cell::None(reason(catalog, m, &comp.name, as_of)),
            };
            row.cells.push(cell);
        }
    }
    rows
}

/// Exclusions of every untested version, or `None` when the catalog has none.
fn untested_exclusions(catalog: &Catalog) -> Option<Vec<Vec<Option<String>>>> {
    let ex: Vec<Vec<Option<String>>> = catalog
        .components
        .iter()
        .map(|c| {
            c.versions
                .iter()
                .map(|r| {
                    r.kubernetes
                        .is_untested()
                        .then(|| "untested: upstream publishes no Kubernetes range".to_string())
                })
                .collect()
        })
        .collect();
    ex.iter().flatten().any(Option::is_some).then_some(ex)
}

/// Whether version index `vi` of component `ci` installs beside `kube`.
fn fits_exactly(oracle: &Oracle<'_>, kube: &Need, ci: usize, vi: usize) -> bool {
    let version = oracle.catalog().components[ci].versions[vi].version.clone();
    oracle
        .check(&Query {
            needs: vec![kube.clone(), Need::One(ci, Set::Exact(version))],
            limits: vec![],
        })
        .is_some()
}

/// The newest version of component `ci` that installs beside `kube`.
///
/// Same answer as trying every version newest first with `needs: [kube, ci = v]`, in fewer runs:
/// one run finds some version, then "newer than the last one found" until nothing is.
fn newest_fitting(oracle: &Oracle<'_>, kube: &Need, ci: usize) -> Option<usize> {
    let comp = &oracle.catalog().components[ci];
    let query = |set: Set| Query {
        needs: vec![kube.clone(), Need::One(ci, set)],
        limits: vec![],
    };
    let mut best = oracle.check(&query(Set::Any))?[ci]?;
    while best + 1 < comp.versions.len() {
        match oracle
            .check(&query(Set::Above(comp.versions[best].version.clone())))
            .and_then(|a| a[ci])
        {
            Some(v) if v > best => best = v,
            _ => break,
        }
    }
    Some(best)
}

/// The first fact that is about the catalog rather than a restatement of the request.
fn first_fact(facts: &[FactLine]) -> Option<&FactLine> {
    facts
        .iter()
        .find(|f| f.subject != "request")
        .or_else(|| facts.first())
}

/// Why no version of `name` installs with minor `m`: the first fact of the solver's explanation.
fn reason(catalog: &Catalog, m: &Minor, name: &str, as_of: Date) -> Reason {
    let request = Request {
        kubernetes: m.range.clone(),
        with: vec![WithSpec {
            name: name.to_string(),
            range: VersionReq::any(),
        }],
        without: Vec::new(),
        allow_eol: true,
        // a cell is empty only when no version installs, untested ones included
        allow_untested: true,
        as_of,
    };
    let ex = solver::explain(catalog, &request);
    match first_fact(&ex.facts) {
        Some(f) => Reason {
            text: format!("{} {}", f.subject, f.text),
            source: f.source.clone(),
        },
        None => Reason {
            text: format!("no version of {name} installs with Kubernetes {}", m.name),
            source: None,
        },
    }
}
