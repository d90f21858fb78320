//! `bundle plan`: from an old lock to a new platform, one valid step at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::Failure;
use super::format::short_digest;
use super::lockfile::{lock_of, locked_component, read_lock, write_file, write_lock};
use super::solve_cmd::{RequestArgs, build_request, explanation_json, render_explanation};
use super::table::render;
use crate::catalog::{Catalog, WithSpec};
use crate::lock::{Lock, LockedComponent, LockedRequest};
use crate::solver::{self, FactLine, Request, Solution, SolveError};
use crate::types::{Date, Version, VersionReq};
use crate::upgrade::{self, Change, Plan, PlanError, PlanStep, Reason, StepKind};

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The lock of the platform that runs today.
    #[arg(long, value_name = "OLD.lock")]
    from: PathBuf,
    /// The lock to arrive at. Without it, the target is the newest platform for the old lock's
    /// request (any Kubernetes version), changed by the request flags, or the request of
    /// -f/--profile instead.
    #[arg(
        long,
        value_name = "NEW.lock",
        conflicts_with_all = ["file", "profile", "kubernetes", "with", "without", "allow_eol", "allow_untested", "as_of"]
    )]
    to: Option<PathBuf>,
    #[command(flatten)]
    request: RequestArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    format: PlanFormat,
    /// Write one lock per step into DIR (`01-….lock`, `02-….lock`, … in order, each one a lock that
    /// pin, render and export take as it is) and the plan as `plan.json`. Locks of an earlier plan
    /// in DIR (`NN-….lock`) are replaced.
    #[arg(long, short = 'o', value_name = "DIR")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum PlanFormat {
    Table,
    Json,
}

/// The target of a plan: its lock, and the request every step keeps.
struct Target {
    lock: Lock,
    keep: Vec<String>,
    /// How the target was found, for people.
    what: String,
}

pub(super) fn run(catalog: &Catalog, args: PlanArgs) -> Result<(), Failure> {
    let old = read_lock(&args.from)?;
    let today = Date::today();
    let target = match &args.to {
        Some(path) => {
            let lock = read_lock(path)?;
            let keep = common_names(&old.request.with, &lock.request.with);
            Target {
                lock,
                keep,
                what: format!("the platform of {}", path.display()),
            }
        }
        None => solve_target(catalog, &args, &old, today)?,
    };
    let from = versions(&old);
    let to = versions(&target.lock);
    let plan = upgrade::plan(catalog, &from, &to, &target.keep).map_err(plan_failure)?;
    let locks = step_locks(catalog, &old, &target.lock, &plan)?;
    let names = lock_names(&plan);
    let json = plan_json(&args, &old, &target, &plan, &names);
    if let Some(dir) = &args.output {
        write_dir(dir, &names, &locks, &json)?;
    }
    match args.format {
        PlanFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        ),
        PlanFormat::Table => out!("{}", render_plan(catalog, &old, &target, &plan)),
    }
    if let Some(dir) = &args.output {
        eprintln!(
            "wrote {} step lock{} and plan.json to {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            dir.display()
        );
    }
    if let Some(stuck) = &plan.stuck {
        let mut f = Failure::failed(format!(
            "no way on from Kubernetes {}{}: {}",
            stuck.kubernetes,
            stuck
                .next
                .as_ref()
                .map(|n| format!(" to {n}"))
                .unwrap_or_default(),
            stuck.message
        ));
        if args.format == PlanFormat::Table && stuck.next.is_some() {
            f = f.hint(format!(
                "`bundle solve --kubernetes '={}' --allow-eol` with the same request explains what blocks that version",
                stuck.next.as_ref().map(|v| v.to_string()).unwrap_or_default()
            ));
        }
        return Err(f);
    }
    if !plan.complete() {
        eprintln!(
            "warning: no fully compatible path: the moves marked `!` break a published fact or upgrade rule while \
             they happen; this is the least disruptive way through (the facts are listed with each move)"
        );
    }
    Ok(())
}

/// Names in both lists of request items (what every step keeps).
fn common_names(a: &[WithSpec], b: &[WithSpec]) -> Vec<String> {
    a.iter()
        .filter(|w| b.iter().any(|x| x.name == w.name))
        .map(|w| w.name.clone())
        .collect()
}

fn versions(lock: &Lock) -> BTreeMap<String, Version> {
    lock.components
        .iter()
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect()
}

fn plan_failure(e: PlanError) -> Failure {
    let hint = match &e {
        PlanError::UnknownComponent { .. } | PlanError::UnknownLine { .. } => {
            "the lock was written from another catalog: plan with that catalog (--catalog DIR), or solve a new lock"
        }
        PlanError::Backwards { .. } => "give a newer target (--to NEW.lock or --kubernetes RANGE)",
        PlanError::NoKubernetes(_) => "a lock from `bundle solve` always has Kubernetes",
        PlanError::NoKubernetesStep { .. } => {
            "`bundle catalog check` reports the Kubernetes upgrade facts of the catalog"
        }
    };
    Failure::usage(e.to_string()).hint(hint)
}

/// The newest platform for the request, keeping the old lock's providers of the request's
/// capabilities where they still fit that Kubernetes version (a plan should not swap a CNI or an
/// ingress controller that still works).
fn solve_target(
    catalog: &Catalog,
    args: &PlanArgs,
    old: &Lock,
    today: Date,
) -> Result<Target, Failure> {
    let from_lock = args.request.file.is_none() && args.request.profile.is_none();
    let (mut request, mut as_of_given) =
        build_request(catalog, &args.request, Some(old), true, today)?;
    if from_lock {
        if args.request.kubernetes.is_none() {
            request.kubernetes = VersionReq::any();
        }
        if args.request.as_of.is_none() {
            request.as_of = today;
            as_of_given = false;
        }
    }
    super::catalog_cmd::warn_if_stale(catalog, request.as_of);
    let keep = common_names(&old.request.with, &request.with);
    let solution =
        newest_keeping_providers(catalog, &request, old, args.format == PlanFormat::Json)?;
    let lock = lock_of(catalog, &request, as_of_given, &solution)?;
    Ok(Target {
        lock,
        keep,
        what: if from_lock {
            "the newest platform for the old lock's request".to_string()
        } else {
            "the newest platform for the given request".to_string()
        },
    })
}

fn newest_keeping_providers(
    catalog: &Catalog,
    request: &Request,
    old: &Lock,
    json: bool,
) -> Result<Solution, Failure> {
    let unsolvable = |e: SolveError| match e {
        SolveError::Request(e) => Failure::usage(e.to_string())
            .hint("`bundle catalog list` shows every component and capability"),
        SolveError::Unsatisfiable(ex) => {
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&explanation_json(&ex)).unwrap_or_default()
                );
            } else {
                eprint!("{}", render_explanation(&ex, None));
            }
            Failure::failed("no target platform satisfies the request")
                .hint("change the request (--kubernetes, --with, --without) or give the target as --to NEW.lock")
        }
    };
    let newest = solver::solve(catalog, request, &BTreeMap::new()).map_err(unsolvable)?;
    let capabilities: Vec<&str> = request
        .with
        .iter()
        .filter(|w| catalog.capability(&w.name).is_some())
        .map(|w| w.name.as_str())
        .collect();
    let providers: Vec<String> = old
        .components
        .iter()
        .filter(|c| newest.version_of(&c.name).is_none())
        .filter(|c| {
            catalog.component(&c.name).is_some_and(|x| {
                x.provides
                    .iter()
                    .any(|p| capabilities.contains(&p.as_str()))
            })
        })
        .filter(|c| could_run(catalog, request, &c.name, &newest.kubernetes))
        .map(|c| c.name.clone())
        .collect();
    if providers.is_empty() {
        return Ok(newest);
    }
    let mut fixed = request.clone();
    fixed.kubernetes = VersionReq::exact(&newest.kubernetes);
    let mut best = None;
    for p in providers {
        // the provider stands in for the capabilities it provides (the solver would otherwise
        // still choose a provider of its own for them)
        let provides = catalog
            .component(&p)
            .map(|c| c.provides.clone())
            .unwrap_or_default();
        let mut trial = fixed.clone();
        trial.with.retain(|w| !provides.contains(&w.name));
        trial.with.push(WithSpec {
            name: p,
            range: VersionReq::any(),
        });
        if let Ok(s) = solver::solve(catalog, &trial, &BTreeMap::new()) {
            fixed = trial;
            best = Some(s);
        }
    }
    Ok(best.unwrap_or(newest))
}

/// Whether some version of component `name` could run on Kubernetes `k` under the request's
/// lifecycle rule, by its own facts (a cheap test that spares a failing solve and its explanation).
fn could_run(catalog: &Catalog, request: &Request, name: &str, k: &Version) -> bool {
    catalog.component(name).is_some_and(|c| {
        c.versions.iter().any(|r| {
            (request.allow_eol || r.lifecycle.dead_on(request.as_of).is_none())
                && (request.allow_untested || !r.kubernetes.is_untested())
                && r.requires
                    .iter()
                    .filter(|x| x.name == crate::catalog::KUBERNETES)
                    .all(|x| x.range.matches(k))
        })
    })
}

/// The lock of each step. A component at the version the old (or target) lock has keeps that
/// lock's entry — its digests included; others get their images from the catalog. The last step
/// of a plan that reaches the target is the target lock itself.
fn step_locks(
    catalog: &Catalog,
    old: &Lock,
    target: &Lock,
    plan: &Plan,
) -> Result<Vec<Lock>, Failure> {
    let entry = |name: &str, version: &Version| -> Result<LockedComponent, Failure> {
        let same = |l: &Lock| {
            l.components
                .iter()
                .find(|c| c.name == name && &c.version == version)
                .cloned()
        };
        match same(target).or_else(|| same(old)) {
            Some(c) => Ok(c),
            None => locked_component(catalog, name, version),
        }
    };
    let mut out = Vec::new();
    for (n, step) in plan.steps.iter().enumerate() {
        let last = n + 1 == plan.steps.len() && plan.stuck.is_none();
        if last {
            out.push(target.clone());
            continue;
        }
        let components = step
            .platform
            .iter()
            .map(|c| entry(&c.name, &c.version))
            .collect::<Result<Vec<_>, _>>()?;
        // the step's own request: its Kubernetes version, and what the old or the target request
        // names that this step has (a component present, a capability provided)
        let present = |name: &str| {
            step.platform.iter().any(|c| {
                c.name == name
                    || catalog
                        .component(&c.name)
                        .is_some_and(|x| x.provides.iter().any(|p| p == name))
            })
        };
        let mut with: Vec<WithSpec> = Vec::new();
        for w in target.request.with.iter().chain(&old.request.with) {
            if present(&w.name) && !with.iter().any(|x| x.name == w.name) {
                with.push(WithSpec {
                    name: w.name.clone(),
                    range: VersionReq::any(),
                });
            }
        }
        let without = target
            .request
            .without
            .iter()
            .filter(|n| !step.platform.iter().any(|c| &&c.name == n))
            .cloned()
            .collect();
        out.push(Lock {
            catalog: catalog.digest.clone(),
            request: LockedRequest {
                kubernetes: VersionReq::exact(&step.kubernetes),
                with,
                without,
                allow_eol: true,
                // a step that keeps an untested version (from the old lock) allows it, so that
                // `solve --locked` on the step's lock agrees with it
                allow_untested: target.request.allow_untested
                    || components.iter().any(|c| c.untested),
                as_of: target.request.as_of,
            },
            kubernetes: step.kubernetes.clone(),
            components,
        });
    }
    Ok(out)
}

/// `01-before-kubernetes-1.32.lock`, `02-kubernetes-1.32.11.lock`, …, `09-finish.lock`.
fn lock_names(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let what = match &s.kind {
                StepKind::Prepare { next } => format!("before-kubernetes-{}", next.minor_string()),
                StepKind::Kubernetes { .. } => format!("kubernetes-{}", s.kubernetes),
                StepKind::Finish => "finish".to_string(),
            };
            format!("{:02}-{what}.lock", n + 1)
        })
        .collect()
}

/// Whether a file name is one this command writes into a plan directory.
fn plan_file(name: &str) -> bool {
    let b = name.as_bytes();
    name == "plan.json"
        || (b.len() > 8
            && b[0].is_ascii_digit()
            && b[1].is_ascii_digit()
            && b[2] == b'-'
            && name.ends_with(".lock"))
}

fn write_dir(
    dir: &Path,
    names: &[String],
    locks: &[Lock],
    json: &serde_json::Value,
) -> Result<(), Failure> {
    let io = |p: &Path, e: std::io::Error| Failure::usage(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if plan_file(&name) && !names.contains(&name) {
            std::fs::remove_file(entry.path()).map_err(|e| io(&entry.path(), e))?;
        }
    }
    for (name, lock) in names.iter().zip(locks) {
        write_lock(&dir.join(name), lock)?;
    }
    let text = serde_json::to_string_pretty(json).unwrap_or_default() + "\n";
    write_file(&dir.join("plan.json"), text.as_bytes())
}

fn kind_word(k: &StepKind) -> &'static str {
    match k {
        StepKind::Prepare { .. } => "prepare",
        StepKind::Kubernetes { .. } => "kubernetes",
        StepKind::Finish => "finish",
    }
}

fn facts_json(facts: &[FactLine]) -> serde_json::Value {
    facts
        .iter()
        .map(|f| serde_json::json!({"subject": f.subject, "fact": f.text, "source": f.source}))
        .collect()
}

fn plan_json(
    args: &PlanArgs,
    old: &Lock,
    target: &Target,
    plan: &Plan,
    names: &[String],
) -> serde_json::Value {
    let platform = |p: &[solver::Chosen]| -> serde_json::Value {
        p.iter()
            .map(|c| serde_json::json!({"name": c.name, "version": c.version.to_string()}))
            .collect()
    };
    let v = |v: &Option<Version>| v.as_ref().map(|v| v.to_string());
    serde_json::json!({
        "complete": plan.complete(),
        "from": {
            "lock": args.from.display().to_string(),
            "kubernetes": old.kubernetes.to_string(),
            "components": platform(&plan.from),
        },
        "to": {
            "lock": args.to.as_ref().map(|p| p.display().to_string()),
            "target": target.what,
            "kubernetes": target.lock.kubernetes.to_string(),
            "components": platform(&plan.to),
        },
        "steps": plan.steps.iter().zip(names).enumerate().map(|(n, (s, name))| serde_json::json!({
            "step": n + 1,
            "kind": kind_word(&s.kind),
            "kubernetes": s.kubernetes.to_string(),
            "next": match &s.kind { StepKind::Prepare { next } => Some(next.to_string()), _ => None },
            "lock": args.output.as_ref().map(|_| name.clone()),
            "changes": s.changes.iter().map(|c| serde_json::json!({
                "component": c.name,
                "from": v(&c.from),
                "to": v(&c.to),
                "reason": c.reason.word(),
                "disruptive": c.reason.disruptive(),
                "why": why_text(s, c),
                "facts": facts_json(&c.facts),
            })).collect::<Vec<_>>(),
            "phases": s.phases.iter().map(|p| serde_json::json!({
                "order": p.order,
                "parts": p.parts,
                "runsOn": match p.runs_on { crate::catalog::RunsOn::ControlPlane => "control-plane", crate::catalog::RunsOn::Nodes => "nodes" },
                "skewAfter": p.skew.iter().map(|k| serde_json::json!({
                    "part": k.part, "behind": k.behind, "limit": k.limit, "holds": k.holds(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "platform": platform(&s.platform),
        })).collect::<Vec<_>>(),
        "stuck": plan.stuck.as_ref().map(|s| serde_json::json!({
            "kubernetes": s.kubernetes.to_string(),
            "next": v(&s.next),
            "message": s.message,
            "facts": facts_json(&s.facts),
        })),
    })
}

/// The control plane's phases in words: `control plane (kube-apiserver → kube-controller-manager,
/// kube-scheduler), then nodes (kubelet → kube-proxy)`.
fn phases_text(s: &PlanStep) -> String {
    let mut groups: Vec<(crate::catalog::RunsOn, Vec<String>)> = Vec::new();
    for p in &s.phases {
        match groups.last_mut() {
            Some((on, parts)) if *on == p.runs_on => parts.push(p.parts.join(", ")),
            _ => groups.push((p.runs_on, vec![p.parts.join(", ")])),
        }
    }
    groups
        .iter()
        .map(|(on, parts)| format!("{on} ({})", parts.join(" → ")))
        .collect::<Vec<_>>()
        .join(", then ")
}

fn minor(v: &Version) -> String {
    v.minor_string()
}

/// What a change does and why, in a few words (the facts follow as references).
fn why_text(s: &PlanStep, c: &Change) -> String {
    let next = match &s.kind {
        StepKind::Prepare { next } => Some(next),
        _ => None,
    };
    match c.reason {
        Reason::ControlPlane => {
            if s.phases.is_empty() {
                "Kubernetes".to_string()
            } else {
                let worst = s
                    .phases
                    .iter()
                    .flat_map(|p| p.skew.iter())
                    .map(|k| k.behind)
                    .max()
                    .unwrap_or(0);
                format!("{}; skew at most {worst} minor", phases_text(s))
            }
        }
        Reason::PinnedBy => format!("required by Kubernetes {}", s.kubernetes),
        Reason::Unsupported => format!(
            "does not support Kubernetes {}; the new version supports {} and {}",
            next.map(minor).unwrap_or_default(),
            minor(&s.kubernetes),
            next.map(minor).unwrap_or_default()
        ),
        Reason::OnTheWay => format!(
            "does not support Kubernetes {}; its upgrade rules stop here on the way",
            next.map(minor).unwrap_or_default()
        ),
        Reason::Along => "so that the facts of the other moves hold".to_string(),
        Reason::Together => format!(
            "with the control plane: no version it may move to supports both Kubernetes {} and {}",
            match &s.kind {
                StepKind::Kubernetes { from } => minor(from),
                _ => String::new(),
            },
            minor(&s.kubernetes)
        ),
        Reason::Target => "target version".to_string(),
        Reason::AgainstRule => "target version, in a jump against its upgrade rules".to_string(),
        Reason::Removed => match next {
            Some(n) => format!("not in the target; leaves before Kubernetes {}", minor(n)),
            None => "not in the target".to_string(),
        },
        Reason::Added => match next {
            Some(n) => format!(
                "in the target; comes before Kubernetes {}, as what it takes over leaves",
                minor(n)
            ),
            None => "in the target".to_string(),
        },
    }
}

fn render_plan(catalog: &Catalog, old: &Lock, target: &Target, plan: &Plan) -> String {
    let mut out = String::new();
    let n = plan.steps.len();
    out.push_str(&format!(
        "Plan from Kubernetes {} to {} in {n} step{} (target: {}; catalog {})\n\n",
        old.kubernetes,
        target.lock.kubernetes,
        if n == 1 { "" } else { "s" },
        target.what,
        short_digest(&catalog.digest),
    ));
    if n == 0 {
        out.push_str("Nothing to do: the old platform is the target.\n");
        return out;
    }
    let mut facts: Vec<FactLine> = Vec::new();
    let mut refs = |fs: &[FactLine]| -> String {
        fs.iter()
            .map(|f| {
                let i = match facts.iter().position(|x| x == f) {
                    Some(i) => i,
                    None => {
                        facts.push(f.clone());
                        facts.len() - 1
                    }
                };
                format!("[{}]", i + 1)
            })
            .collect::<Vec<_>>()
            .join("")
    };
    let mut rows = Vec::new();
    for (i, s) in plan.steps.iter().enumerate() {
        for (j, c) in s.changes.iter().enumerate() {
            let v = |v: &Option<Version>| v.as_ref().map(|v| v.to_string()).unwrap_or("-".into());
            let r = refs(&c.facts);
            rows.push(vec![
                if j == 0 {
                    (i + 1).to_string()
                } else {
                    String::new()
                },
                if j == 0 {
                    s.kubernetes.to_string()
                } else {
                    String::new()
                },
                format!(
                    "{}{}",
                    if c.reason.disruptive() { "! " } else { "" },
                    c.name
                ),
                format!("{} → {}", v(&c.from), v(&c.to)),
                if r.is_empty() {
                    why_text(s, c)
                } else {
                    format!("{} {r}", why_text(s, c))
                },
            ]);
        }
    }
    out.push_str(&render(
        &["STEP", "KUBERNETES", "COMPONENT", "FROM → TO", "WHY"],
        &rows,
    ));
    if !facts.is_empty() {
        out.push_str("\nFacts:\n");
        for (i, f) in facts.iter().enumerate() {
            out.push_str(&format!("  [{}] {} {}\n", i + 1, f.subject, f.text));
            if let Some(s) = &f.source {
                out.push_str(&format!("      source: {s}\n"));
            }
        }
    }
    if let Some(s) = &plan.stuck {
        out.push_str(&format!(
            "\nThe plan stops at Kubernetes {}{}: {}\n",
            s.kubernetes,
            s.next
                .as_ref()
                .map(|n| format!(" (next: {n})"))
                .unwrap_or_default(),
            s.message
        ));
        for f in &s.facts {
            out.push_str(&format!("  - {} {}\n", f.subject, f.text));
            if let Some(src) = &f.source {
                out.push_str(&format!("      source: {src}\n"));
            }
        }
    }
    out
}
