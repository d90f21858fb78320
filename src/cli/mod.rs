//! The command line: argument parsing, printing and exit codes. Nothing below this module prints.
//!
//! Exit codes (one table for every command, in [`error`]): 0 success; 1 a negative answer (lint
//! problems, unsatisfiable, lock out of date) or a failed operation (a registry refused or could not be
//! reached); 2 bad usage or bad input.

/// `println!` for command output: a closed pipe (`bundle … | head`) ends the process quietly.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($t)*) {
            $crate::cli::stdout_failed(e)
        }
    }};
}

/// `print!` for command output, see [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($t)*) {
            $crate::cli::stdout_failed(e)
        }
    }};
}

/// Standard output could not be written: quiet exit on a closed pipe, exit 2 otherwise.
pub(crate) fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(2);
}

mod bars;
mod catalog_cmd;
mod completions_cmd;
mod error;
mod examples;
mod export_cmd;
mod format;
mod inspect_cmd;
mod lockfile;
mod man_cmd;
mod matrix_cmd;
mod mirror_cmd;
mod pin_cmd;
mod pin_signatures;
mod plan_cmd;
mod progress;
mod registry;
mod render_cmd;
mod signing;
mod solve_cmd;
mod solve_progress;
mod style;
mod table;
mod verify_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::Catalog;

pub(crate) use error::Failure;

/// Solve, lock and ship a compatibility-validated Kubernetes platform.
///
/// `bundle` reads a catalog of published compatibility facts (every fact with its source), finds
/// the newest set of versions that really work together, and explains in plain words when none
/// does. Without `--catalog`, the catalog built into this binary is used.
#[derive(Debug, Parser)]
#[command(
    name = "bundle",
    version,
    propagate_version = true,
    max_term_width = 110,
    after_help = examples::BUNDLE,
    after_long_help = limits_help()
)]
pub struct Cli {
    /// Catalog directory (holding catalog.yaml, components/, profiles/), or a bundle written by
    /// `bundle export` (directory, .tar or .tar.zst): the catalog its lock was solved against, which
    /// the bundle carries. Default: the embedded catalog.
    #[arg(long, global = true, env = "BUNDLE_CATALOG", value_name = "DIR|BUNDLE")]
    catalog: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Look into the catalog: list components, show one, check it for problems.
    #[command(subcommand, after_help = examples::CATALOG)]
    Catalog(CatalogCommand),
    /// Solve the newest compatible platform and write bundle.lock.
    ///
    /// With no request (no file, no --kubernetes/--with/--without), an existing lock's request is
    /// solved again, or else the catalog's `default` profile. Versions in an existing lock are kept
    /// where they still fit; --upgrade and --upgrade-package move on.
    #[command(after_help = examples::SOLVE)]
    Solve(solve_cmd::SolveArgs),
    /// Explain why a component in the lock is at its version and not newer.
    #[command(after_help = examples::WHY)]
    Why(solve_cmd::WhyArgs),
    /// The compatibility matrix: every Kubernetes minor × every component, and the platform per minor.
    #[command(after_help = examples::MATRIX)]
    Matrix(matrix_cmd::MatrixArgs),
    /// Plan an upgrade from an old lock, one valid step at a time.
    ///
    /// Kubernetes moves one minor per step (control plane, then nodes, within the version-skew
    /// policy); components that do not support the next minor move before it; every step's
    /// platform is a solution of its own. Where no fully compatible path exists, the plan shows the
    /// least disruptive way, the moves marked `!`, and warns; exit 1 when no way reaches the target.
    #[command(after_help = examples::PLAN)]
    Plan(plan_cmd::PlanArgs),
    /// Resolve every image, chart and release manifest in the lock to its digest (tags move; digests
    /// do not).
    ///
    /// Charts (OCI: by manifest digest; classic: the .tgz through the repository's index.yaml, checked
    /// against its digest) and release manifests are fetched into the cache (--cache-dir,
    /// BUNDLE_CACHE_DIR), so that export and render never fetch them again; content that changed since
    /// the lock was written is refused like a moved tag. Then every chart is rendered with its default
    /// values (helm template, chart tests skipped) and every manifest read: an image they use that the
    /// catalog does not list for the component is an error (exit 1) naming the component, the
    /// artifact, the object and the field path. Without helm, only manifests are checked.
    #[command(after_help = examples::PIN)]
    Pin(pin_cmd::PinArgs),
    /// Render the locked platform from upstream's charts and release manifests, every image pinned.
    ///
    /// Each chart the lock names is rendered with `helm template` from the cache `bundle pin` filled
    /// (never the network), with our values wiring it to the rest of the platform; release manifests
    /// are taken as they are. Every image is rewritten to the lock's digest (at --registry), every
    /// object checked (custom resources against their CRDs' schemas); problems exit 1 and nothing is
    /// written. `--delivery flux` writes Flux objects instead (no helm); `--bundle` moves the rendering
    /// a bundle carries to a mirror (no helm); `--list-images` lists every image and who uses it.
    #[command(after_help = examples::RENDER)]
    Render(render_cmd::RenderArgs),
    /// Export the locked platform as one air-gapped OCI bundle (directory, .tar or .tar.zst).
    #[command(after_help = examples::EXPORT)]
    Export(export_cmd::ExportArgs),
    /// Verify a bundle: every blob rehashed, every reference present.
    #[command(after_help = examples::VERIFY)]
    Verify(verify_cmd::VerifyArgs),
    /// Show what is in a bundle: the lock, images per component, sizes, platforms.
    #[command(after_help = examples::INSPECT)]
    Inspect(inspect_cmd::InspectArgs),
    /// Push a bundle into Harbor or any OCI registry: verified first, blobs before manifests before tags.
    #[command(after_help = examples::MIRROR)]
    Mirror(mirror_cmd::MirrorArgs),
    /// Print the shell completion script for bash, zsh or fish (see README: installing completions).
    #[command(after_help = examples::COMPLETIONS)]
    Completions(completions_cmd::CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(after_help = examples::MAN)]
    Man(man_cmd::ManArgs),
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// List components with their versions, capabilities and lifecycle.
    #[command(after_help = examples::CATALOG_LIST)]
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Show one component (every version with its facts and their sources), or without a name the
    /// catalog itself: where it comes from and how old its facts are.
    #[command(after_help = examples::CATALOG_SHOW)]
    Show {
        /// Component name (none: the catalog).
        name: Option<String>,
        /// Output format (`yaml` is the component's catalog file itself).
        #[arg(long, value_enum, default_value_t = ShowFormat::Yaml)]
        format: ShowFormat,
        /// The date the catalog's age is judged on (YYYY-MM-DD; default today).
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
    },
    /// Check the catalog: exit 0 when clean, 1 listing every problem as file:line: message.
    #[command(after_help = examples::CATALOG_CHECK)]
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    /// Only list the facts whose source is not machine-checkable (each part of a source must be a URL
    /// or `owner/repo:path@commit`; parts are separated by ` ; `).
    #[arg(long)]
    sources: bool,
}

/// `catalog list` formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    Table,
    Json,
}

/// `catalog show` formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ShowFormat {
    Yaml,
    Json,
}

/// `catalog check` formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CheckFormat {
    Text,
    Json,
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: as clap prints them.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Usage errors (exit 2) echo what was given: bounded, without raw control characters.
            eprint!("{}", format::printable(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("error: {}", format::printable(&f.message));
            }
            for h in &f.hints {
                eprintln!("  hint: {}", format::printable(h));
            }
            ExitCode::from(f.code)
        }
    }
}

/// `--help`: the examples (as `-h` shows them), then the input limits and the variables that raise
/// them.
fn limits_help() -> String {
    let mut text = format!("{}\n\n", examples::BUNDLE);
    text.push_str(
        "Input limits: every file read is refused past a size limit for its kind (docs/reliability.md). \
         Raise one for a run with its variable (a size: 64MiB, 100MB, bytes):",
    );
    for kind in crate::input::Kind::all() {
        if let Some(var) = kind.env_var() {
            text.push_str(&format!(
                "\n  {var:<30} {} (default {})",
                kind.name(),
                crate::input::Human(kind.default_limit())
            ));
        }
    }
    text
}

/// Applies the input limits the environment raises (see [`limits_help`]); a value that is not a
/// size is a usage error, before any work.
fn apply_limits() -> Result<(), Failure> {
    for kind in crate::input::Kind::all() {
        let Some(var) = kind.env_var() else { continue };
        let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let text = value.to_string_lossy();
        let bytes = crate::airgap::parts::parse_size(&text)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Failure::usage(format!(
                    "{var}={}: not a size",
                    text.chars().take(100).collect::<String>()
                ))
                .hint(format!(
                    "e.g. {var}=64MiB (bytes, or with a unit: KiB, MiB, GiB, MB, GB)"
                ))
            })?;
        crate::input::set_limit(*kind, bytes);
    }
    Ok(())
}

/// Runs the command. The catalog is loaded only by the commands that read it (`verify` and `inspect`
/// do not, nor does `mirror`; `pin` only to fill in charts and manifests a lock lacks, and goes on
/// without it; `render --bundle` neither), so a broken `--catalog` does not stop them.
fn dispatch(cli: Cli) -> Result<(), Failure> {
    apply_limits()?;
    let dir = cli.catalog;
    let catalog = || load_catalog(dir.as_deref());
    // Commands that only read the catalog keep it until the process exits: freeing its many small
    // allocations one by one costs as much as a solve at catalog scale (a thousand components),
    // and the process gives all of its memory back at once when it ends.
    let kept = || catalog().map(|c| &*Box::leak(Box::new(c)));
    match cli.command {
        Command::Catalog(CatalogCommand::List { format }) => catalog_cmd::list(kept()?, format),
        Command::Catalog(CatalogCommand::Show {
            name,
            format,
            as_of,
        }) => catalog_cmd::show(kept()?, name.as_deref(), format, as_of.as_deref()),
        Command::Catalog(CatalogCommand::Check(args)) => {
            catalog_cmd::check(kept()?, args.format, args.sources)
        }
        Command::Solve(args) => solve_cmd::solve(kept()?, args),
        Command::Why(args) => solve_cmd::why(kept()?, args),
        Command::Matrix(args) => matrix_cmd::run(kept()?, args),
        Command::Plan(args) => plan_cmd::run(kept()?, args),
        Command::Pin(args) => pin_cmd::run(args, catalog),
        Command::Render(args) => render_cmd::run(catalog, args),
        Command::Export(args) => export_cmd::run(kept()?, args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Inspect(args) => inspect_cmd::run(args),
        Command::Mirror(args) => mirror_cmd::run(args),
        Command::Completions(args) => completions_cmd::run(args),
        Command::Man(args) => man_cmd::run(args),
    }
}

fn load_catalog(dir: Option<&std::path::Path>) -> Result<Catalog, Failure> {
    let _phase = crate::trace::Phase::start("catalog load");
    if let Some(bundle) = dir.filter(|d| crate::airgap::carried::is_bundle(d)) {
        return crate::airgap::carried::catalog(bundle).map_err(|e| match e {
            crate::airgap::carried::CarriedError::Load(e) => {
                Failure::usage(format!("the bundle's catalog could not be read:\n{e}"))
            }
            e => Failure::usage(format!("the bundle's catalog could not be read: {e}")).hint(
                "`--catalog` takes a catalog directory or a bundle written by `bundle export`",
            ),
        });
    }
    let loaded = match dir {
        Some(d) => Catalog::from_dir(d),
        None => Catalog::embedded(),
    };
    loaded.map_err(|e| {
        let n = e.diagnostics.len();
        Failure::usage(format!(
            "the catalog could not be read ({n} problem{}):\n{e}",
            if n == 1 { "" } else { "s" }
        ))
    })
}
