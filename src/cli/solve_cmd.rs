//! `bundle solve` and `bundle why`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::Failure;
use super::format::short_digest;
use super::lockfile::{chosen, lock_of, read_lock, read_lock_if_present, write_lock};
use super::table::render;
use crate::catalog::{Catalog, PlatformSpec, WithSpec};
use crate::lock::Lock;
use crate::solver::{self, Explanation, Request, SolveError};
use crate::trace::Phase;
use crate::types::{Date, Version, VersionReq};

/// Days ahead in which an end of life is reported as a warning.
const EOL_WARNING_DAYS: i64 = 90;

#[derive(Debug, Args)]
pub(crate) struct SolveArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Where to write the lock.
    #[arg(long, short = 'o', value_name = "PATH", default_value = "bundle.lock")]
    output: PathBuf,
    /// Output format: a table, or the lock as JSON.
    #[arg(long, value_enum, default_value_t = SolveFormat::Table)]
    format: SolveFormat,
    /// Ignore the versions in the existing lock: take the newest that fit.
    #[arg(long)]
    upgrade: bool,
    /// Let this component (and only it, besides what it needs) move to its newest fitting version.
    #[arg(long, value_name = "NAME")]
    upgrade_package: Vec<String>,
    /// Fail (exit 1) if the lock would change; write nothing. For CI.
    #[arg(long)]
    locked: bool,
    /// Print the solver's own conflict report too.
    #[arg(long, short = 'v')]
    verbose: bool,
}

/// What to solve for: a request file or profile, and flags on top (shared by `solve` and `plan`).
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// A request file (`kind: Platform`, see catalog/FORMAT.md). Flags add to it.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// Solve a profile of the catalog instead (`bundle catalog list` shows them).
    #[arg(long, value_name = "NAME", conflicts_with = "file")]
    pub(crate) profile: Option<String>,
    /// Kubernetes range, e.g. `~1.33`, `>=1.32, <1.35`; a cluster version such as
    /// `1.34.6-eks-1-34-5` or `v1.30.2+rke2r1` means that minor at that patch or later.
    #[arg(long, value_name = "RANGE")]
    pub(crate) kubernetes: Option<String>,
    /// A component or capability to include, optionally with a range: `cert-manager`,
    /// `ingress-controller` (any provider), `traefik@^3.6`. Repeatable.
    #[arg(long, value_name = "NAME[@RANGE]")]
    pub(crate) with: Vec<String>,
    /// A component never to choose. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub(crate) without: Vec<String>,
    /// Allow end-of-life and retired releases.
    #[arg(long)]
    pub(crate) allow_eol: bool,
    /// Allow `untested` versions: upstream publishes no Kubernetes range for them (or none that
    /// covers them), so nothing says they work with the chosen Kubernetes. Off by default.
    #[arg(long)]
    pub(crate) allow_untested: bool,
    /// Judge lifecycle on this date instead of today (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub(crate) as_of: Option<String>,
}

impl RequestArgs {
    /// Whether a request flag (`--kubernetes`, `--with`, `--without`) is given.
    pub(crate) fn flags_given(&self) -> bool {
        self.kubernetes.is_some() || !self.with.is_empty() || !self.without.is_empty()
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum SolveFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct WhyArgs {
    /// The component to explain.
    name: String,
    /// The lock to read.
    #[arg(long, default_value = "bundle.lock", value_name = "PATH")]
    lock: PathBuf,
}

fn parse_date(s: &str) -> Result<Date, Failure> {
    s.parse::<Date>()
        .map_err(|e| Failure::usage(format!("--as-of: {e}")))
}

/// Builds the request from (in order) the file or profile, or the lock's request (when no flag is
/// given, or `flags_extend_lock`), or the default profile; then the flags on top.
pub(crate) fn build_request(
    catalog: &Catalog,
    args: &RequestArgs,
    existing: Option<&Lock>,
    flags_extend_lock: bool,
    today: Date,
) -> Result<(Request, bool), Failure> {
    let flags_given = args.flags_given();
    let mut as_of_given = args.as_of.is_some();
    let mut request = if let Some(path) = &args.file {
        let text = crate::input::read_text(path, crate::input::Kind::Request)?;
        let spec = PlatformSpec::parse_with_name(&text, &path.display().to_string())
            .map_err(|e| Failure::usage(format!("the request file could not be read:\n{e}")))?;
        as_of_given |= spec.as_of.is_some();
        Request::from_spec(&spec, today)
    } else if let Some(name) = &args.profile {
        let p = catalog.profile(name).ok_or_else(|| {
            let names: Vec<&str> = catalog.profiles.iter().map(|p| p.name.as_str()).collect();
            Failure::usage(format!("the catalog has no profile `{name}`"))
                .hint(format!("profiles: {}", names.join(", ")))
        })?;
        Request::from_spec(&p.spec, today)
    } else if let (true, Some(lock)) = (!flags_given || flags_extend_lock, existing) {
        as_of_given |= lock.request.as_of.is_some();
        Request {
            kubernetes: lock.request.kubernetes.clone(),
            with: lock.request.with.clone(),
            without: lock.request.without.clone(),
            allow_eol: lock.request.allow_eol,
            allow_untested: lock.request.allow_untested,
            as_of: lock.request.as_of.unwrap_or(today),
        }
    } else if flags_given {
        Request {
            kubernetes: VersionReq::any(),
            with: Vec::new(),
            without: Vec::new(),
            allow_eol: false,
            allow_untested: false,
            as_of: today,
        }
    } else {
        let p = catalog.profile("default").ok_or_else(|| {
            Failure::usage("no request given and the catalog has no `default` profile")
                .hint("pass --with NAME (repeatable) or --file platform.yaml")
        })?;
        Request::from_spec(&p.spec, today)
    };
    if let Some(k) = &args.kubernetes {
        request.kubernetes = VersionReq::parse_lenient(k).map_err(|e| {
            Failure::usage(format!("--kubernetes: {e}"))
                .hint("e.g. --kubernetes '~1.35' or --kubernetes '>=1.32, <1.35'")
        })?;
    }
    for w in &args.with {
        let spec = WithSpec::parse(w).map_err(|e| Failure::usage(format!("--with: {e}")))?;
        request.with.retain(|x| x.name != spec.name);
        request.with.push(spec);
    }
    for w in &args.without {
        request.with.retain(|x| &x.name != w);
        if !request.without.contains(w) {
            request.without.push(w.clone());
        }
    }
    if args.allow_eol {
        request.allow_eol = true;
    }
    if args.allow_untested {
        request.allow_untested = true;
    }
    if let Some(d) = &args.as_of {
        request.as_of = parse_date(d)?;
    }
    Ok((request, as_of_given))
}

pub(super) fn solve(catalog: &Catalog, args: SolveArgs) -> Result<(), Failure> {
    let reading = Phase::start("read the existing lock and the request");
    let existing = read_lock_if_present(&args.output).map_err(|f| {
        f.hint(format!(
            "{} is left untouched; write elsewhere with -o",
            args.output.display()
        ))
    })?;
    let (request, as_of_given) = build_request(
        catalog,
        &args.request,
        existing.as_ref(),
        false,
        Date::today(),
    )?;
    super::catalog_cmd::warn_if_stale(catalog, request.as_of);
    let mut prefer: BTreeMap<String, Version> = BTreeMap::new();
    if let (Some(lock), false) = (&existing, args.upgrade) {
        for c in &lock.components {
            if !args.upgrade_package.contains(&c.name) {
                prefer.insert(c.name.clone(), c.version.clone());
            }
        }
    }
    for p in &args.upgrade_package {
        if catalog.component(p).is_none() {
            return Err(Failure::usage(format!(
                "--upgrade-package {p}: not a component in the catalog"
            )));
        }
    }
    reading.end();
    let solving = Phase::start("solve");
    let reporter = super::solve_progress::SolveReporter::new();
    let solved = solver::solve_reporting(catalog, &request, &prefer, &|e| reporter.event(e));
    reporter.finish();
    solving.end();
    let solution = match solved {
        Ok(s) => s,
        Err(SolveError::Request(e)) => {
            return Err(Failure::usage(e.to_string())
                .hint("`bundle catalog list` shows every component and capability"));
        }
        Err(SolveError::Unsatisfiable(ex)) => {
            if args.format == SolveFormat::Json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&explanation_json(&ex)).unwrap_or_default()
                );
            } else {
                eprint!(
                    "{}",
                    render_explanation(&ex, args.verbose.then_some(catalog))
                );
            }
            return Err(Failure::negative());
        }
    };
    if crate::trace::enabled() {
        eprintln!("{}", runs_line(&solution.runs));
    }
    let locking = Phase::start("lock: build");
    let lock = lock_of(catalog, &request, as_of_given, &solution)?;
    locking.end();
    if args.locked {
        let Some(old) = &existing else {
            eprintln!("error: --locked: {} does not exist", args.output.display());
            return Err(Failure::negative());
        };
        if old.to_yaml() != with_pins_of(&lock, old).to_yaml() {
            eprintln!("error: --locked: {} would change:", args.output.display());
            for line in lock_diff(old, &lock) {
                eprintln!("  {line}");
            }
            eprintln!("  hint: run `bundle solve` and commit the new lock");
            return Err(Failure::negative());
        }
    }
    let printing = Phase::start("print the summary");
    match args.format {
        SolveFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&lock.to_json()).unwrap_or_default()
        ),
        SolveFormat::Table => out!(
            "{}",
            render_solution(catalog, &request, &solution, existing.as_ref())
        ),
    }
    for (name, v, what) in solution.lifecycle_warnings(catalog, request.as_of, EOL_WARNING_DAYS) {
        eprintln!("warning: {name} {v} {what}");
    }
    printing.end();
    if !args.locked {
        let _writing = Phase::start("lock: write");
        write_lock(&args.output, &lock)?;
        eprintln!("wrote {}", args.output.display());
    }
    Ok(())
}

/// What ran to find the solution, as the trace (`BUNDLE_SOLVER_TRACE`) prints it.
fn runs_line(runs: &solver::Runs) -> String {
    let search = match (runs.searches, runs.search_gave_up) {
        (0, _) => "no search".to_string(),
        (n, true) => format!("{n} search (gave up)"),
        (n, false) => format!("{n} search (found the answer)"),
    };
    format!("solver runs: {search}, {} resolvo run(s)", runs.resolvo)
}

/// `new` with the digests `bundle pin` (or `export`) filled into `old` for the same images, charts
/// and release manifests of the same component versions: pinning resolves a solution, it does not change it, so `--locked`
/// accepts a pinned lock (a bundle's) that the catalog still solves to.
fn with_pins_of(new: &Lock, old: &Lock) -> Lock {
    let mut out = new.clone();
    for c in &mut out.components {
        let Some(o) = old
            .components
            .iter()
            .find(|o| o.name == c.name && o.version == c.version)
        else {
            continue;
        };
        for i in c.images.iter_mut().filter(|i| i.digest.is_none()) {
            i.digest = o
                .images
                .iter()
                .find(|x| x.reference == i.reference)
                .and_then(|x| x.digest.clone());
        }
        for ch in c.charts.iter_mut().filter(|ch| ch.digest.is_none()) {
            ch.digest = o
                .charts
                .iter()
                .find(|x| x.chart == ch.chart)
                .and_then(|x| x.digest.clone());
        }
        for m in c.manifests.iter_mut().filter(|m| m.digest.is_none()) {
            m.digest = o
                .manifests
                .iter()
                .find(|x| x.url == m.url)
                .and_then(|x| x.digest.clone());
        }
    }
    out
}

fn lock_diff(old: &Lock, new: &Lock) -> Vec<String> {
    let mut out = Vec::new();
    let o: BTreeMap<&str, &Version> = old
        .components
        .iter()
        .map(|c| (c.name.as_str(), &c.version))
        .collect();
    let n: BTreeMap<&str, &Version> = new
        .components
        .iter()
        .map(|c| (c.name.as_str(), &c.version))
        .collect();
    for (name, v) in &n {
        match o.get(name) {
            None => out.push(format!("+ {name} {v}")),
            Some(ov) if ov != v => out.push(format!("~ {name} {ov} -> {v}")),
            _ => {}
        }
    }
    for (name, v) in &o {
        if !n.contains_key(name) {
            out.push(format!("- {name} {v}"));
        }
    }
    if old.catalog != new.catalog {
        out.push(format!(
            "catalog {} -> {}",
            short_digest(&old.catalog),
            short_digest(&new.catalog)
        ));
    }
    if old.request != new.request {
        out.push("the request differs".to_string());
    }
    if out.is_empty() {
        out.push("image digests differ".to_string());
    }
    out
}

fn render_solution(
    catalog: &Catalog,
    request: &Request,
    solution: &solver::Solution,
    existing: Option<&Lock>,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Kubernetes {} with {} components (catalog {}, lifecycle as of {})\n\n",
        solution.kubernetes,
        solution.components.len() - 1,
        short_digest(&catalog.digest),
        request.as_of
    ));
    let old: BTreeMap<&str, &Version> = existing
        .map(|l| {
            l.components
                .iter()
                .map(|c| (c.name.as_str(), &c.version))
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = solution
        .components
        .iter()
        .map(|c| {
            let comp = catalog.component(&c.name);
            let r = comp.and_then(|x| x.release(&c.version));
            let newest = comp.and_then(|x| x.newest()).map(|n| &n.version);
            let status = if newest == Some(&c.version) {
                "newest".to_string()
            } else {
                format!(
                    "newest is {}",
                    newest.map(|v| v.to_string()).unwrap_or_default()
                )
            };
            let eol = r
                .map(|r| match (r.lifecycle.retired, r.lifecycle.end_of_life) {
                    (Some(d), _) => format!("retired {d}"),
                    (None, Some(d)) => d.to_string(),
                    _ => "-".to_string(),
                })
                .unwrap_or_default();
            let change = match old.get(c.name.as_str()) {
                Some(v) if *v == &c.version => "kept".to_string(),
                Some(v) => format!("was {v}"),
                None if existing.is_some() => "added".to_string(),
                None => String::new(),
            };
            let untested = r.is_some_and(|r| r.kubernetes.is_untested());
            vec![
                c.name.clone(),
                if untested {
                    format!("{} (untested)", c.version)
                } else {
                    c.version.to_string()
                },
                comp.map(|x| x.provides.join(", ")).unwrap_or_default(),
                eol,
                status,
                change,
            ]
        })
        .collect();
    out.push_str(&render(
        &[
            "COMPONENT",
            "VERSION",
            "PROVIDES",
            "END OF LIFE",
            "CATALOG",
            "LOCK",
        ],
        &rows,
    ));
    out
}

/// The explanation of a failed solve, as people read it.
/// `verbose`: the catalog, to add resolvo's own report (computed only then).
pub(crate) fn render_explanation(ex: &Explanation, verbose: Option<&Catalog>) -> String {
    let mut out = String::from("error: no platform satisfies the request\n\n");
    if ex.core.is_empty() {
        out.push_str(
            "Even an empty request fails: no Kubernetes version in the catalog can be chosen.\n",
        );
    } else {
        out.push_str("The smallest part of the request that already conflicts:\n");
        for item in &ex.core {
            out.push_str(&format!("  {item}\n"));
        }
    }
    if !ex.facts.is_empty() {
        out.push_str("\nBecause:\n");
        for f in &ex.facts {
            out.push_str(&format!("  - {} {}\n", f.subject, f.text));
            if let Some(s) = &f.source {
                out.push_str(&format!("      source: {s}\n"));
            }
        }
    }
    if !ex.hints.is_empty() {
        out.push('\n');
        for h in &ex.hints {
            out.push_str(&format!("hint: {h}\n"));
        }
    }
    if let Some(report) = verbose
        .map(|catalog| ex.solver_report(catalog))
        .filter(|r| !r.is_empty())
    {
        out.push_str("\nsolver report:\n");
        out.push_str(&report);
        out.push('\n');
    }
    out
}

pub(crate) fn explanation_json(ex: &Explanation) -> serde_json::Value {
    serde_json::json!({
        "satisfiable": false,
        "asOf": ex.as_of.to_string(),
        "core": ex.core.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        "facts": ex.facts.iter().map(|f| serde_json::json!({
            "subject": f.subject, "fact": f.text, "source": f.source,
        })).collect::<Vec<_>>(),
        "endOfLifeIsTheReason": ex.eol_is_reason,
        "untestedIsTheReason": ex.untested_is_reason,
        "hints": ex.hints,
    })
}

pub(super) fn why(catalog: &Catalog, args: WhyArgs) -> Result<(), Failure> {
    let lock = read_lock(&args.lock)?;
    let as_of = lock.request.as_of.unwrap_or_else(Date::today);
    super::catalog_cmd::warn_if_stale(catalog, as_of);
    let held = solver::why(
        catalog,
        &chosen(&lock),
        &args.name,
        lock.request.allow_eol,
        lock.request.allow_untested,
        as_of,
    )
    .map_err(|e| {
        Failure::usage(e).hint(format!(
            "{} lists the platform's components",
            args.lock.display()
        ))
    })?;
    outln!(
        "{} is at {} in {}.",
        held.name,
        held.version,
        args.lock.display()
    );
    if held.newer.is_empty() {
        outln!("That is the newest version in the catalog.");
        return Ok(());
    }
    for (v, facts) in &held.newer {
        if facts.is_empty() {
            outln!(
                "\n{} {v}: nothing in the locked platform rules it out; the lock keeps its version \
                 (minimal change) or the policy settled something else first.\n  \
                 hint: `bundle solve --upgrade-package {}` moves it on if it fits",
                held.name,
                held.name
            );
            continue;
        }
        outln!("\n{} {v} is not chosen because:", held.name);
        for f in facts {
            outln!("  - {} {}", f.subject, f.text);
            if let Some(s) = &f.source {
                outln!("      source: {s}");
            }
        }
    }
    Ok(())
}
