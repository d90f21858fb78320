//! `bundle export`, `bundle verify`, `bundle inspect`.

use clap::Args;

use super::Failure;
use crate::catalog::Catalog;

/// Arguments of `bundle export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Export for an air-gapped site: every image of the lock (pinned by digest), the lock and the
    /// rendered manifests, in one OCI image layout.
    #[arg(long, required = true)]
    airgap: bool,
    /// The lock to export.
    #[arg(long, default_value = "bundle.lock", value_name = "PATH")]
    lock: std::path::PathBuf,
    /// Where to write: a directory (an OCI image layout), NAME.tar, or NAME.tar.zst (zstd level 3).
    /// An archive is built in NAME.partial.d/ first, kept if the export fails so that a re-run resumes.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    output: std::path::PathBuf,
    /// Keep only this platform of multi-platform images (OS/ARCH[/VARIANT]); repeatable. Default: all.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    platforms: Vec<crate::bundle::export::Platform>,
    /// Output format of the summary (standard output).
    #[arg(long, value_enum, default_value_t = ExportFormat::Text)]
    format: ExportFormat,
    /// No progress lines on standard error.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    registry: super::registry::RegistryArgs,
}

/// `bundle export` formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    /// A line on standard error.
    Text,
    /// One JSON document on standard output.
    Json,
}

/// Arguments of `bundle verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The bundle: an OCI layout directory, a .tar or a .tar.zst.
    #[arg(value_name = "PATH")]
    path: std::path::PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    format: VerifyFormat,
}

/// `bundle verify` formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum VerifyFormat {
    /// One problem per line (`subject: message`), a summary on standard error.
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `bundle inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The bundle: an OCI layout directory, a .tar or a .tar.zst.
    #[arg(value_name = "PATH")]
    path: std::path::PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = InspectFormat::Table)]
    format: InspectFormat,
}

/// `bundle inspect` formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum InspectFormat {
    /// Tables for people.
    Table,
    /// One JSON document.
    Json,
}

/// Progress of `bundle export` as plain lines on standard error (at most about one a second for blobs).
struct ExportLines {
    quiet: bool,
    last: std::cell::Cell<Option<std::time::Instant>>,
}

impl crate::bundle::export::Progress for ExportLines {
    fn event(&self, event: &crate::bundle::export::Event<'_>) {
        use crate::bundle::export::Event;
        if self.quiet {
            return;
        }
        match event {
            Event::Pinned { reference, digest } => eprintln!("pinned {reference} {digest}"),
            Event::Manifests { done, total } if done == total => {
                eprintln!("manifests of {done}/{total} images")
            }
            Event::Manifests { .. } => {}
            Event::Blob {
                done,
                total,
                fetched_bytes,
                ..
            } => {
                let now = std::time::Instant::now();
                let due = self
                    .last
                    .get()
                    .is_none_or(|t| now.duration_since(t).as_millis() >= 1000);
                if due || done == total {
                    self.last.set(Some(now));
                    eprintln!(
                        "fetched {done}/{total} blobs, {:.1} MiB",
                        *fetched_bytes as f64 / 1_048_576.0
                    );
                }
            }
            Event::Packing { output } => eprintln!("packing {}", output.display()),
        }
    }
}

fn export_json(
    s: &crate::bundle::export::Summary,
    ok: bool,
    failures: &[crate::bundle::export::ImageFailure],
) -> serde_json::Value {
    use crate::bundle::export::{Form, Verified};
    serde_json::json!({
        "output": s.output.display().to_string(),
        "form": match s.form { Form::Directory => "directory", Form::Tar => "tar", Form::TarZst => "tar.zst" },
        "ok": ok,
        "images": s.images,
        "pinned": s.pinned,
        "manifests": {"fetched": s.manifests_fetched, "reused": s.manifests_reused},
        "blobs": {"total": s.blobs, "fetched": s.blobs_fetched, "reused": s.blobs_reused},
        "bytes": {"total": s.bytes, "fetched": s.bytes_fetched, "archive": s.archive_bytes},
        "seconds": (s.seconds * 1000.0).round() / 1000.0,
        "verified": match &s.verified {
            Some(Verified::Sound { .. }) => "sound",
            Some(Verified::Problems(_)) => "problems",
            Some(Verified::NotAvailable(_)) => "not available",
            None => "no",
        },
        "failures": failures.iter().map(|f| serde_json::json!({
            "reference": f.reference,
            "components": f.components,
            "error": f.cause.to_string(),
        })).collect::<Vec<_>>(),
    })
}

/// Prints why images failed (registry-wide errors once, with the images they stop); returns whether
/// credentials were the matter.
fn report_failures(failures: &[crate::bundle::export::ImageFailure]) -> bool {
    use crate::bundle::export::Cause;
    use crate::oci::ResolveError;
    use crate::oci::pull::PullError;
    let mut hints: Vec<String> = Vec::new();
    let mut by_registry: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    let mut auth = false;
    for f in failures {
        let components = f.components.join(", ");
        match &*f.cause {
            Cause::Pull(PullError::Registry(e)) => {
                auth |= e.is_auth();
                if let Some(h) = super::registry::hint_for(e)
                    && !hints.contains(&h)
                {
                    hints.push(h);
                }
                match e {
                    ResolveError::NotFound { .. }
                    | ResolveError::InvalidReference { .. }
                    | ResolveError::Protocol { .. } => {
                        eprintln!("error: {} (component {components}): {e}", f.reference)
                    }
                    _ => by_registry
                        .entry(e.to_string())
                        .or_default()
                        .push(&f.reference),
                }
            }
            c => eprintln!("error: {} (component {components}): {c}", f.reference),
        }
    }
    for (message, refs) in &by_registry {
        eprintln!("error: {message}");
        eprintln!("  (needed for {}: {})", refs.len(), refs.join(", "));
    }
    for h in &hints {
        eprintln!("  hint: {h}");
    }
    auth
}

pub(super) fn export(catalog: &Catalog, args: ExportArgs) -> Result<(), Failure> {
    use crate::bundle::export::{self, ExportError, Options, Verified};
    let text = std::fs::read_to_string(&args.lock).map_err(|e| {
        let f = Failure::usage(format!("{}: {e}", args.lock.display()));
        if e.kind() == std::io::ErrorKind::NotFound {
            f.hint("run `bundle solve` (and `bundle pin`) first, or point --lock at a lock file")
        } else {
            f
        }
    })?;
    let lock = crate::lock::Lock::parse(&text, &args.lock.display().to_string())
        .map_err(|e| Failure::usage(e.to_string()))?;
    let registry = args.registry.options()?;
    let options = Options {
        output: args.output.clone(),
        platforms: args.platforms.clone(),
        jobs: registry.concurrency,
        registry,
    };
    let progress = ExportLines {
        quiet: args.quiet,
        last: std::cell::Cell::new(None),
    };
    let summary = match export::export(&lock, catalog, &options, &progress) {
        Ok(s) => s,
        Err(ExportError::Pin(failures)) => {
            let auth = report_failures(&failures);
            eprintln!(
                "nothing was exported: the images without a digest in the lock could not be pinned"
            );
            return Err(if auth {
                Failure::usage("")
            } else {
                Failure::negative()
            });
        }
        Err(ExportError::Incomplete { summary }) => {
            let auth = report_failures(&summary.failures);
            if args.format == ExportFormat::Json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&export_json(&summary, false, &summary.failures))
                        .unwrap_or_default()
                );
            }
            eprintln!(
                "{} of {} image(s) failed; what was fetched is kept in {}: run the same command again to resume",
                summary.failures.len(),
                summary.failures.len() + summary.images,
                export::work_dir(&args.output).display()
            );
            return Err(if auth {
                Failure::usage("")
            } else {
                Failure::negative()
            });
        }
        Err(ExportError::RenderProblems(problems)) => {
            eprintln!(
                "error: the rendered manifests have {} problem(s):",
                problems.len()
            );
            for p in &problems {
                eprintln!("  {p}");
            }
            eprintln!("  nothing was exported (`bundle render --check` shows the same)");
            return Err(Failure::negative());
        }
        Err(e @ ExportError::Render(_)) => {
            return Err(Failure::usage(e.to_string())
                .hint("`bundle render --check` shows what the templates need from the lock"));
        }
        Err(e @ ExportError::Lock(_)) => {
            return Err(Failure::usage(format!("{}: {e}", args.lock.display()))
                .hint("re-run `bundle solve` and `bundle pin`"));
        }
        Err(e) => return Err(Failure::usage(e.to_string())),
    };
    for (name, reason) in &summary.unrendered {
        if !args.quiet {
            eprintln!("note: {name} has no manifests in the bundle: {reason}");
        }
    }
    let mut sound = true;
    match &summary.verified {
        Some(Verified::Problems(problems)) => {
            sound = false;
            eprintln!(
                "error: the bundle written has {} problem(s):",
                problems.len()
            );
            for p in problems {
                eprintln!("  {}: {}", p.subject, p.message);
            }
        }
        Some(Verified::NotAvailable(why)) => {
            eprintln!("warning: the bundle was not verified after writing ({why})")
        }
        Some(Verified::Sound { .. }) | None => {}
    }
    if args.format == ExportFormat::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&export_json(&summary, sound, &[])).unwrap_or_default()
        );
    }
    if !summary.pinned.is_empty() && !args.quiet {
        eprintln!(
            "note: {} image(s) had no digest in {} and were pinned for this bundle; `bundle pin` records them in the lock",
            summary.pinned.len(),
            args.lock.display()
        );
    }
    if !sound {
        return Err(Failure::negative());
    }
    eprintln!(
        "wrote {}: {} images, {} blobs ({} fetched, {} reused), {:.1} MiB fetched, in {:.1} s",
        args.output.display(),
        summary.images,
        summary.blobs,
        summary.blobs_fetched,
        summary.blobs_reused,
        summary.bytes_fetched as f64 / 1_048_576.0,
        summary.seconds
    );
    Ok(())
}

pub(super) fn verify(args: VerifyArgs) -> Result<(), Failure> {
    use crate::bundle::verify::{Problem, VerifyError};
    let path = args.path.display().to_string();
    let report = crate::bundle::verify::verify(&args.path).map_err(|e| match e {
        VerifyError::NotABundle { .. } => Failure::usage(e.to_string())
            .hint("a bundle is an OCI image layout directory (oci-layout, index.json, blobs/sha256/), or a .tar or .tar.zst of one"),
        VerifyError::Io { .. } => Failure::usage(e.to_string()),
    })?;
    let list = |v: &[Problem]| {
        v.iter()
            .map(|p| serde_json::json!({"subject": p.subject, "message": p.message}))
            .collect::<Vec<_>>()
    };
    match args.format {
        VerifyFormat::Json => {
            let v = serde_json::json!({
                "path": path,
                "container": report.container,
                "ok": report.is_sound(),
                "images": report.images,
                "blobs": report.blobs,
                "bytes": report.bytes,
                "problems": list(&report.problems),
                "warnings": list(&report.warnings),
            });
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        VerifyFormat::Text => {
            for p in &report.problems {
                outln!("{p}");
            }
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            let what = format!(
                "{} index entries, {} blobs, {} rehashed",
                report.images,
                report.blobs,
                human_bytes(report.bytes)
            );
            if report.is_sound() {
                eprintln!("{path}: sound ({what})");
            } else {
                let n = report.problems.len();
                eprintln!(
                    "{path}: {n} problem{} ({what})",
                    if n == 1 { "" } else { "s" }
                );
            }
        }
    }
    if report.is_sound() {
        Ok(())
    } else {
        Err(Failure::negative())
    }
}

pub(super) fn inspect(args: InspectArgs) -> Result<(), Failure> {
    use crate::bundle::inspect::LockStatus;
    let path = args.path.display().to_string();
    let ins = crate::bundle::inspect::inspect(&args.path).map_err(|e| match e {
        crate::bundle::read::ReadError::NotABundle { .. } => Failure::usage(e.to_string())
            .hint("a bundle is an OCI image layout directory (oci-layout, index.json, blobs/sha256/), or a .tar or .tar.zst of one"),
        crate::bundle::read::ReadError::Io { .. } => Failure::usage(e.to_string()),
    })?;
    match args.format {
        InspectFormat::Json => {
            let lock = match &ins.lock {
                LockStatus::Found(l) => l.to_json(),
                _ => serde_json::Value::Null,
            };
            let lock_error = match &ins.lock {
                LockStatus::Missing => Some("the bundle carries no lock".to_string()),
                LockStatus::Unreadable(e) => Some(e.clone()),
                LockStatus::Found(_) => None,
            };
            let v = serde_json::json!({
                "path": path,
                "container": ins.container,
                "formatVersion": ins.format_version,
                "kubernetes": match &ins.lock {
                    LockStatus::Found(l) => Some(l.kubernetes.to_string()),
                    _ => None,
                },
                "lock": lock,
                "lockError": lock_error,
                "platformArtifact": ins.platform_artifact,
                "images": ins.images.iter().map(|i| serde_json::json!({
                    "reference": i.reference,
                    "components": i.components,
                    "digest": i.digest,
                    "mediaType": i.media_type,
                    "originalDigest": i.original_digest,
                    "platforms": i.platforms,
                    "bytes": i.bytes,
                    "blobs": i.blobs,
                })).collect::<Vec<_>>(),
                "totalBytes": ins.total_bytes,
                "sharedBytes": ins.shared_bytes,
                "blobBytes": ins.blob_bytes,
                "blobCount": ins.blob_count,
            });
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        InspectFormat::Table => {
            outln!(
                "bundle: {path} ({}, format version {})",
                ins.container,
                ins.format_version.as_deref().unwrap_or("unknown")
            );
            match &ins.lock {
                LockStatus::Found(l) => {
                    outln!("kubernetes: {}", l.kubernetes);
                    outln!("catalog: {}", l.catalog);
                    outln!();
                    let rows: Vec<Vec<String>> = l
                        .components
                        .iter()
                        .map(|c| {
                            vec![
                                c.name.clone(),
                                c.version.to_string(),
                                c.images.len().to_string(),
                            ]
                        })
                        .collect();
                    out!(
                        "{}",
                        super::table::render(&["COMPONENT", "VERSION", "IMAGES"], &rows)
                    );
                }
                LockStatus::Missing => outln!("lock: none (the bundle carries no lock)"),
                LockStatus::Unreadable(e) => outln!("lock: unreadable: {e}"),
            }
            outln!();
            let rows: Vec<Vec<String>> = ins
                .images
                .iter()
                .map(|i| {
                    vec![
                        if i.components.is_empty() {
                            "-".to_string()
                        } else {
                            i.components.join(", ")
                        },
                        i.reference.clone(),
                        short_digest(&i.digest),
                        if i.platforms.is_empty() {
                            "-".to_string()
                        } else {
                            i.platforms.join(", ")
                        },
                        human_bytes(i.bytes),
                    ]
                })
                .collect();
            out!(
                "{}",
                super::table::render(
                    &["COMPONENT", "IMAGE", "DIGEST", "PLATFORMS", "SIZE"],
                    &rows
                )
            );
            outln!();
            outln!(
                "{} images, {} unique ({} shared between images); {} in {} blobs in all",
                ins.images.len(),
                human_bytes(ins.total_bytes),
                human_bytes(ins.shared_bytes),
                human_bytes(ins.blob_bytes),
                ins.blob_count
            );
        }
    }
    Ok(())
}

/// `sha256:` and the first 12 hex digits.
fn short_digest(d: &str) -> String {
    d.get(..19).unwrap_or(d).to_string()
}

/// Bytes for people: `512 B`, `1.5 KiB`, `2.0 MiB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
