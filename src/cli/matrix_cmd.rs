//! `bundle matrix`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::Failure;
use crate::catalog::{Catalog, PlatformSpec};
use crate::matrix::{self, MatrixError, MatrixFile, Options};
use crate::types::VersionReq;

/// Arguments of `bundle matrix`.
#[derive(Debug, Args)]
pub(crate) struct MatrixArgs {
    /// Only the Kubernetes minors with a version in this range, e.g. `>=1.33` or `~1.35`.
    #[arg(long, value_name = "RANGE")]
    kubernetes: Option<String>,
    /// Output format: `markdown` (docs), `json` (versioned, see docs/compatibility.md), `html` (a
    /// self-contained page), `github` (a GitHub Actions `strategy.matrix`, one entry per minor
    /// whose platform solves).
    #[arg(long, value_enum, default_value_t = MatrixFormat::Markdown)]
    format: MatrixFormat,
    /// Write the matrix to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// The platform solved per minor in the second table: a request file (`kind: Platform`)
    /// instead of the catalog's `default` profile. Its `allowEol` and `asOf` are ignored: the
    /// matrix always allows end-of-life releases and judges no date.
    #[arg(long, value_name = "FILE")]
    request: Option<PathBuf>,
    /// Let cells and platforms use `untested` versions (no published Kubernetes range): a cell then
    /// shows the newest version that installs, tested or not (still marked untested). The same as
    /// `allowUntested: true` in the request file.
    #[arg(long)]
    allow_untested: bool,
    /// Compare with an earlier JSON matrix and list the cells that lost their version or went to an
    /// older one (exit 1 if any). The report goes to standard output; the matrix is written only
    /// with -o.
    #[arg(long, value_name = "OLD.json")]
    baseline: Option<PathBuf>,
    /// With --baseline: list regressions but exit 0.
    #[arg(long, requires = "baseline")]
    allow_regressions: bool,
}

/// `bundle matrix` formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum MatrixFormat {
    Markdown,
    Json,
    Html,
    Github,
}

fn read(path: &Path, what: &str) -> Result<String, Failure> {
    crate::input::read_text(path, crate::input::Kind::Request)
        .map_err(|e| Failure::from(e).context(what))
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    super::lockfile::write_file(path, text.as_bytes())
}

fn options(catalog: &Catalog, args: &MatrixArgs) -> Result<Options, Failure> {
    let mut options = matrix::default_options(catalog);
    if let Some(path) = &args.request {
        let text = read(path, "--request")?;
        let shown = path.display().to_string();
        options.request = PlatformSpec::parse_with_name(&text, &shown)
            .map_err(|e| Failure::usage(format!("the request file could not be read:\n{e}")))?;
        options.request_label = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(shown);
    }
    if args.allow_untested {
        options.request.allow_untested = true;
    }
    if let Some(k) = &args.kubernetes {
        options.kubernetes = Some(VersionReq::parse_lenient(k).map_err(|e| {
            Failure::usage(format!("--kubernetes: {e}"))
                .hint("e.g. --kubernetes '>=1.33' or --kubernetes '~1.35'")
        })?);
    }
    Ok(options)
}

fn baseline(path: &Path) -> Result<MatrixFile, Failure> {
    let text = read(path, "--baseline")?;
    MatrixFile::parse(&text).map_err(|e| {
        Failure::usage(format!("--baseline {}: {e}", path.display()))
            .hint("give a file written by `bundle matrix --format json`")
    })
}

pub(super) fn run(catalog: &Catalog, args: MatrixArgs) -> Result<(), Failure> {
    let options = options(catalog, &args)?;
    // read the baseline before the work, so a bad path fails fast
    let old = args.baseline.as_deref().map(baseline).transpose()?;
    let m = matrix::build(catalog, &options).map_err(|e| match e {
        MatrixError::Request(_) => Failure::usage(e.to_string())
            .hint("`bundle catalog list` shows every component and capability"),
        MatrixError::NoMinorInRange { .. } => {
            Failure::usage(e.to_string()).hint("leave out --kubernetes for every minor")
        }
        _ => Failure::usage(e.to_string()),
    })?;
    let text = match args.format {
        MatrixFormat::Markdown => matrix::to_markdown(&m),
        MatrixFormat::Json => matrix::to_json(&m),
        MatrixFormat::Html => matrix::to_html(&m),
        MatrixFormat::Github => matrix::to_github(&m),
    };
    match (&args.output, &old) {
        (Some(path), _) => {
            write(path, &text)?;
            eprintln!("wrote {}", path.display());
        }
        (None, None) => out!("{text}"),
        (None, Some(_)) => {}
    }
    let (Some(old), Some(path)) = (old, &args.baseline) else {
        return Ok(());
    };
    let new = MatrixFile::from_matrix(&m);
    let cmp = matrix::compare(&old, &new).map_err(|e| {
        Failure::usage(format!("--baseline {}: {e}", path.display()))
            .hint("give a file written by `bundle matrix --format json`")
    })?;
    let shown = path.display();
    if !cmp.skipped_minors.is_empty() {
        outln!(
            "not compared (outside --kubernetes): Kubernetes {}",
            cmp.skipped_minors.join(", ")
        );
    }
    if cmp.regressions.is_empty() {
        outln!(
            "no regressions against {shown}: {} cells compared, {} improved",
            cmp.compared,
            cmp.improvements.len()
        );
    } else {
        outln!(
            "{} regression{} against {shown} ({} cells compared):",
            cmp.regressions.len(),
            if cmp.regressions.len() == 1 { "" } else { "s" },
            cmp.compared
        );
        for c in &cmp.regressions {
            outln!("  - {c}");
        }
    }
    if !cmp.improvements.is_empty() {
        outln!("improvements:");
        for c in &cmp.improvements {
            outln!("  + {c}");
        }
    }
    if cmp.regressions.is_empty() || args.allow_regressions {
        return Ok(());
    }
    eprintln!(
        "error: the matrix regressed against {shown} ({} cell{})",
        cmp.regressions.len(),
        if cmp.regressions.len() == 1 { "" } else { "s" }
    );
    eprintln!(
        "  hint: if the loss is intended (a version or Kubernetes minor was dropped on purpose), pass \
         --allow-regressions and update the baseline"
    );
    Err(Failure::negative())
}
