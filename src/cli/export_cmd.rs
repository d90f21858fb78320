//! `bundle export`.

use clap::Args;

use super::Failure;
use super::lockfile::read_lock;
use super::progress::Draw;
use super::registry::{ArtifactArgs, RegistryArgs};
use super::style::Style;
use crate::airgap::export::{
    self, ArtifactFailure, ExportError, ExportOptions, ImageFailure, Summary, Verified,
};
use crate::airgap::format::{Form, work_dir};
use crate::catalog::Catalog;
use crate::oci::{Platform, PullError, ResolveError, RetryPolicy};
use crate::pin::ArtifactError;

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
    /// One bundle for a whole plan: DIR is what `bundle plan -o DIR` wrote; every step lock's images,
    /// charts and release manifests (each once), the last step's lock and rendered manifests, and
    /// every step lock (all digests pinned) in the platform artifact. Instead of --lock.
    #[arg(long = "plan", value_name = "DIR", conflicts_with = "lock")]
    plan: Option<std::path::PathBuf>,
    /// Write a delta: leave out the blobs the far side already has from OLD — the bundle it has (a
    /// directory, .tar, .tar.zst or NAME.parts), its lock, or a directory of locks (a plan);
    /// repeatable. The index still names every image; `bundle mirror` then needs OLD in the target.
    #[arg(long = "since", value_name = "OLD")]
    since: Vec<std::path::PathBuf>,
    /// Where to write: a directory (an OCI image layout), NAME.tar, or NAME.tar.zst (zstd level 3).
    /// An archive is built in NAME.partial.d/ first, kept if the export fails so that a re-run resumes.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    output: std::path::PathBuf,
    /// Keep only this platform of multi-platform images (OS/ARCH[/VARIANT]); repeatable. Default: all.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    platforms: Vec<Platform>,
    /// Split a .tar/.tar.zst output into parts of at most SIZE (4GiB, 700MB, bytes): NAME.001,
    /// NAME.002, … and NAME.parts (each part's size and sha256). verify, inspect and mirror take
    /// NAME.parts (or NAME.001) as the bundle.
    #[arg(long = "max-size", value_name = "SIZE", value_parser = parse_max_size)]
    max_size: Option<u64>,
    /// Leave out upstream's referrers of the images (signatures, attestations, SBOMs: OCI 1.1
    /// referrers and cosign's `sha256-<hex>.sig`/`.att`/`.sbom` tags), which are carried by default.
    #[arg(long = "no-referrers")]
    no_referrers: bool,
    /// Sign the bundle: its index.json digest, as `cosign sign --key` signs an image (ECDSA P-256,
    /// cosign's simple-signing payload), into index.json.sig. KEY is PEM: PKCS#8 (`PRIVATE KEY`),
    /// SEC1 (`EC PRIVATE KEY`) or cosign's encrypted `cosign.key` (password from COSIGN_PASSWORD).
    /// `bundle verify --key PUB` and `bundle mirror --require-signature --key PUB` check it.
    #[arg(long = "sign-key", value_name = "KEY")]
    sign_key: Option<std::path::PathBuf>,
    /// Check upstream's cosign signatures of the images carried (their `.sig` referrers) against
    /// the signers the catalog declares for each component version (keyless: with --trust-root;
    /// or a key), and the --signature-key keys: an image whose declared signer has no valid
    /// signature fails the export, naming it and what was expected; images of components that
    /// declare nothing are listed as unsigned by `bundle verify --signatures`, not refused.
    #[arg(long = "verify-signatures")]
    verify_signatures: bool,
    /// The Sigstore trust root for keyless signatures: a trusted_root.json (`cosign trusted-root
    /// create`, or sigstore/root-signing's targets/trusted_root.json). Stored in the bundle, with
    /// the components' signing policies, so that `bundle verify --signatures` repeats the check
    /// offline.
    #[arg(long = "trust-root", value_name = "FILE")]
    trust_root: Option<std::path::PathBuf>,
    /// A public key upstream signs images with (PEM `PUBLIC KEY`, ECDSA P-256, as cosign.pub);
    /// repeatable; with --verify-signatures.
    #[arg(
        long = "signature-key",
        value_name = "PUB",
        requires = "verify_signatures"
    )]
    signature_keys: Vec<std::path::PathBuf>,
    /// Output format of the summary (standard output).
    #[arg(long, value_enum, default_value_t = ExportFormat::Text)]
    format: ExportFormat,
    /// No progress on standard error (bars on a terminal, lines otherwise).
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    artifacts: ArtifactArgs,
}

/// `bundle export` formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    /// A line on standard error.
    Text,
    /// One JSON document on standard output.
    Json,
}

/// What the exported lock is called in messages: the `--lock` file, or the plan (`--plan DIR`).
fn lock_label(args: &ExportArgs) -> String {
    match &args.plan {
        None => args.lock.display().to_string(),
        Some(dir) => format!("the plan {}", dir.display()),
    }
}

/// The step locks of `--plan DIR` (every `*.lock`, in name order) and the last one, which is exported.
fn plan_locks(
    dir: &std::path::Path,
) -> Result<(crate::lock::Lock, Vec<(String, crate::lock::Lock)>), Failure> {
    use crate::airgap::export::since;
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "--plan {}: not a directory (bundle plan -o DIR writes one)",
            dir.display()
        )));
    }
    let files = since::lock_files(dir).map_err(Failure::from)?;
    let mut steps = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        steps.push((name, read_lock(f)?));
    }
    let last = steps
        .last()
        .map(|(_, l)| l.clone())
        .ok_or_else(|| Failure::usage(format!("--plan {}: no step lock", dir.display())))?;
    Ok((last, steps))
}

/// `--max-size`: a size of at least [`crate::airgap::parts::MIN_PART_SIZE`].
fn parse_max_size(text: &str) -> Result<u64, String> {
    let size = crate::airgap::parts::parse_size(text)?;
    if size < crate::airgap::parts::MIN_PART_SIZE {
        return Err(format!(
            "{text} is too small for a part: at least 4KiB ({} bytes)",
            crate::airgap::parts::MIN_PART_SIZE
        ));
    }
    Ok(size)
}

fn export_json(s: &Summary, ok: bool, failures: &[ImageFailure]) -> serde_json::Value {
    let mut v = export_json_fields(s, ok, failures);
    if let Some((file, count)) = &s.parts {
        v["parts"] = serde_json::json!({"file": file.display().to_string(), "count": count});
    }
    if let Some(d) = &s.delta {
        v["delta"] =
            serde_json::json!({"base": d.base, "leftOut": {"blobs": d.blobs, "bytes": d.bytes}});
    }
    v
}

fn export_json_fields(s: &Summary, ok: bool, failures: &[ImageFailure]) -> serde_json::Value {
    serde_json::json!({
        "output": s.output.display().to_string(),
        "form": s.form.name(),
        "ok": ok,
        "images": s.images,
        "pinned": s.pinned,
        "manifests": {"fetched": s.manifests_fetched, "reused": s.manifests_reused},
        "blobs": {"total": s.blobs, "fetched": s.blobs_fetched, "reused": s.blobs_reused},
        "charts": s.upstream.charts,
        "releaseManifests": s.upstream.manifests,
        "bytes": {"total": s.bytes, "fetched": s.bytes_fetched, "archive": s.archive_bytes},
        "seconds": (s.seconds * 1000.0).round() / 1000.0,
        "verified": match &s.verified {
            Some(Verified::Sound { .. }) => "sound",
            Some(Verified::Problems(_)) => "problems",
            Some(Verified::NotAvailable(_)) => "not available",
            None => "no",
        },
        "failures": failures.iter().map(|f| serde_json::json!({
            "reference": f.reference.to_string(),
            "components": f.components,
            "error": f.cause.to_string(),
        })).collect::<Vec<_>>(),
    })
}

/// Prints why images failed (registry-wide errors once, with the images they stop) and the hints;
/// returns the failure they make.
fn report_failures(failures: &[ImageFailure]) -> Failure {
    use crate::airgap::export::Cause;
    let mut failure = Failure::negative();
    let mut by_registry: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in failures {
        let components = f.components.join(", ");
        let reference = f.reference.to_string();
        match &*f.cause {
            Cause::Pull(e @ PullError::Registry(r)) => {
                failure = failure.worst(Failure::from(e));
                match r {
                    ResolveError::NotFound { .. }
                    | ResolveError::InvalidReference { .. }
                    | ResolveError::Unavailable { .. }
                    | ResolveError::Protocol { .. } => {
                        eprintln!("error: {reference} (component {components}): {r}")
                    }
                    _ => by_registry
                        .entry(r.to_string())
                        .or_default()
                        .push(reference),
                }
            }
            c => eprintln!("error: {reference} (component {components}): {c}"),
        }
    }
    for (message, refs) in &by_registry {
        eprintln!("error: {message}");
        eprintln!("  (needed for {}: {})", refs.len(), refs.join(", "));
    }
    for h in &failure.hints {
        eprintln!("  hint: {h}");
    }
    failure.printed()
}

/// Prints why charts and manifests failed (registry-wide errors once), with the hints; returns the
/// failure they make.
fn report_artifact_failures(failures: &[ArtifactFailure]) -> Failure {
    let mut failure = Failure::negative();
    for f in failures {
        failure = failure.worst(Failure::from(&f.error));
        eprintln!(
            "error: {} (component {}): {}",
            f.what,
            f.components.join(", "),
            f.error
        );
    }
    if failures
        .iter()
        .any(|f| matches!(f.error, ArtifactError::Changed { .. }))
    {
        failure = failure.hint(
            "the content upstream serves differs from the lock's digest: check the mirror (--url-mirror), \
             or run `bundle pin` to see what changed",
        );
    }
    for h in &failure.hints {
        eprintln!("  hint: {h}");
    }
    failure.printed()
}

/// The output must be usable before any work starts (exit 2 here; a write that fails later, such
/// as a full disk, is a failed operation: exit 1, and the rerun resumes).
fn check_output(output: &std::path::Path) -> Result<(), Failure> {
    let dir = work_dir(output);
    let is_archive = dir != output;
    if is_archive && std::fs::metadata(output).is_ok_and(|m| m.is_dir()) {
        return Err(Failure::usage(format!(
            "{}: a directory; an archive output (.tar, .tar.zst) must be a file path",
            output.display()
        )));
    }
    if std::fs::metadata(&dir).is_ok_and(|m| !m.is_dir()) {
        return Err(Failure::usage(format!(
            "{}: exists and is not a directory",
            dir.display()
        ))
        .hint("a directory output is an OCI image layout directory; name a .tar or .tar.zst for an archive"));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::usage(format!("{}: cannot create it: {e}", dir.display())))
}

pub(super) fn run(catalog: &Catalog, args: ExportArgs) -> Result<(), Failure> {
    let (lock, plan) = match &args.plan {
        None => (read_lock(&args.lock)?, Vec::new()),
        Some(dir) => plan_locks(dir)?,
    };
    if lock.catalog != catalog.digest {
        eprintln!(
            "warning: {} was solved against catalog {}, not this one ({}): the bundle carries this \
             catalog, and `solve --locked` with it may choose differently",
            lock_label(&args),
            lock.catalog,
            catalog.digest
        );
    }
    // The trust root and the catalog's declarations are checked before anything is fetched.
    let trust_root = args
        .trust_root
        .as_deref()
        .map(super::signing::trust_root)
        .transpose()?;
    let mut policies = super::signing::policies(catalog, &lock);
    if args.verify_signatures {
        super::signing::require_trust_root(&policies, trust_root.as_ref())?;
    }
    let connected = args
        .registry
        .connect(RetryPolicy::default(), &args.artifacts.url_mirrors)?;
    let cache = args.artifacts.cache.dir().ok();
    let fetch = args.verify_signatures;
    super::signing::fetch_keys(&connected, cache.as_deref(), &mut policies, fetch)?;
    check_output(&args.output)?;
    let signers = crate::airgap::signers::Carried {
        trust_root,
        policies,
    };
    // Keys are read before anything is fetched: a wrong key or password fails at once.
    let signature_keys = match args.verify_signatures {
        true => Some(
            args.signature_keys
                .iter()
                .map(|p| super::signing::signature_key(p))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        false => None,
    };
    let sign = args
        .sign_key
        .as_deref()
        .map(super::signing::private_key)
        .transpose()?;
    let options = ExportOptions {
        output: args.output.clone(),
        platforms: args.platforms.clone(),
        max_size: args.max_size,
        since: args.since.clone(),
        plan,
        cache_dir: args.artifacts.cache.dir()?,
        referrers: !args.no_referrers,
        sign,
        signature_keys,
        signers,
    };
    if args.max_size.is_some() && Form::of(&args.output) == Form::Directory {
        return Err(Failure::usage(format!(
            "--max-size splits an archive: {} is a directory output",
            args.output.display()
        ))
        .hint("write NAME.tar or NAME.tar.zst to split it into parts"));
    }
    let progress = Draw::new(Style::Export, args.quiet);
    let result = export::export(
        &lock,
        catalog,
        &connected.registries,
        &connected.runner,
        &options,
        &progress,
    );
    let summary = match result {
        Ok(s) => s,
        Err(ExportError::Pin(failures)) => {
            let f = report_failures(&failures);
            eprintln!(
                "nothing was exported: the images without a digest in the lock could not be pinned"
            );
            return Err(f);
        }
        Err(ExportError::Artifacts(failures)) => {
            let f = report_artifact_failures(&failures);
            eprintln!("nothing was exported: charts or manifests of the lock could not be fetched");
            return Err(f);
        }
        Err(ExportError::Incomplete { summary }) => {
            let f = report_failures(&summary.failures);
            if args.format == ExportFormat::Json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&export_json(&summary, false, &summary.failures))
                        .unwrap_or_default()
                );
            }
            let failed = crate::airgap::export::failed_images(&summary.failures).len();
            eprintln!(
                "{} of {} image(s) failed; what was fetched is kept in {}: run the same command again to resume",
                failed,
                failed + summary.images,
                work_dir(&args.output).display()
            );
            return Err(f);
        }
        Err(ExportError::Lock(e)) => return Err(Failure::from(e).context(lock_label(&args))),
        Err(e) => return Err(e.into()),
    };
    report_summary(&summary, &args)
}

/// What a finished export says: notes, the bundle's own check, the summary.
fn report_summary(summary: &Summary, args: &ExportArgs) -> Result<(), Failure> {
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
            serde_json::to_string_pretty(&export_json(summary, sound, &[])).unwrap_or_default()
        );
    }
    if !summary.pinned.is_empty() && !args.quiet {
        eprintln!(
            "note: {} image(s) had no digest in {} and were pinned for this bundle; `bundle pin` records them in the lock",
            summary.pinned.len(),
            lock_label(args)
        );
    }
    if !sound {
        return Err(Failure::negative());
    }
    let written = match &summary.parts {
        Some((file, count)) => format!(
            "{} in {count} part(s) (read it as {})",
            args.output.display(),
            file.display()
        ),
        None => args.output.display().to_string(),
    };
    let written = match &summary.delta {
        Some(d) => format!(
            "{written} (a delta over {}: {} blob(s), {:.1} MiB left to the base)",
            d.base,
            d.blobs,
            d.bytes as f64 / 1_048_576.0
        ),
        None => written,
    };
    let upstream = match (summary.upstream.charts, summary.upstream.manifests) {
        (0, 0) => String::new(),
        (c, m) => format!(
            "{c} chart{}, {m} release manifest{}, ",
            if c == 1 { "" } else { "s" },
            if m == 1 { "" } else { "s" }
        ),
    };
    eprintln!(
        "wrote {}: {} images, {upstream}{} blobs ({} fetched, {} reused), {:.1} MiB fetched, in {:.1} s",
        written,
        summary.images,
        summary.blobs,
        summary.blobs_fetched,
        summary.blobs_reused,
        summary.bytes_fetched as f64 / 1_048_576.0,
        summary.seconds
    );
    Ok(())
}
