//! `bundle mirror`: push a bundle into Harbor or any OCI registry.
//!
//! Exit codes: 0 done; 1 the bundle is corrupt, or the registry failed or went away (what is still
//! missing is listed; a rerun pushes only that); 2 bad usage, a bundle that cannot be mirrored as it
//! is, or credentials/permissions refused (nothing tagged).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::Failure;
use super::registry::RegistryArgs;
use crate::bundle::mirror::{self, MirrorError, MirrorOptions, Progress, Summary};
use crate::catalog::Catalog;
use crate::oci::{PushError, PushOptions, RetryPolicy};

/// Arguments of `bundle mirror`.
#[derive(Debug, Args)]
pub(crate) struct MirrorArgs {
    /// The bundle written by `bundle export`: a directory (OCI image layout), a .tar or a .tar.zst.
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// Where to: `HOST[:PORT]/PROJECT[/PREFIX]`. Images go to
    /// `HOST/PROJECT[/PREFIX]/<source-registry>/<repository>`.
    #[arg(long, value_name = "HOST[:PORT]/PROJECT[/PREFIX]")]
    to: String,
    /// Push to `HOST/PROJECT[/PREFIX]/<repository>` (no source registry in the path); refused when two
    /// sources would land in one repository.
    #[arg(long)]
    strip_registry_host: bool,
    /// Create the Harbor project first (private); an existing project is fine.
    #[arg(long)]
    create_project: bool,
    /// Read every manifest back from the registry afterwards and compare digests.
    #[arg(long)]
    verify_remote: bool,
    /// Also write the locked platform's manifests with images rewritten to the mirror, and containerd
    /// `hosts.toml` files, into DIR.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
    /// Attempts per operation on connection errors, 5xx and 429 (exponential backoff with jitter,
    /// `Retry-After` honoured).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=100))]
    retries: u32,
    /// The longest wait between attempts, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    max_backoff: u64,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Summary formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// Progress on standard error: one line per phase (and a counter on a terminal).
struct Lines {
    tty: bool,
}

impl Progress for Lines {
    fn phase(&self, name: &str, total: usize) {
        if total > 0 {
            eprintln!("{name}: {total} to check");
        }
    }
    fn step(&self, name: &str, done: usize, total: usize) {
        if self.tty {
            eprint!("\r  {name}: {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    }
}

pub(super) fn run(catalog: &Catalog, args: MirrorArgs) -> Result<(), Failure> {
    let target = mirror::parse_target(&args.to)
        .map_err(|e| Failure::usage(e.to_string()).hint("e.g. --to harbor.example.com/platform"))?;
    if args.output.is_some() && args.strip_registry_host {
        return Err(Failure::usage(
            "-o DIR renders images as HOST/PROJECT[/PREFIX]/<source-registry>/<repository>, \
             which --strip-registry-host does not push",
        ));
    }
    let registry = args.registry.options()?;
    let insecure = registry.insecure.iter().any(|i| {
        let i = i
            .trim_end_matches('/')
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        i == target.host() || (!i.contains(':') && target.host().split(':').next() == Some(i))
    });
    let options = MirrorOptions {
        target: target.clone(),
        strip_registry_host: args.strip_registry_host,
        create_project: args.create_project,
        verify_remote: args.verify_remote,
        jobs: registry.concurrency,
        push: PushOptions {
            insecure,
            ca_files: registry.ca_files.clone(),
            credentials: registry.credentials.clone(),
            auth_files: registry.auth_files.clone(),
            retry: RetryPolicy {
                attempts: args.retries,
                max_delay: Duration::from_secs(args.max_backoff),
                ..RetryPolicy::default()
            },
        },
    };
    let plan = mirror::prepare(&args.bundle, &options).map_err(failure)?;
    let rendered = match &args.output {
        Some(_) => Some(mirror::render_for_plan(&plan, &target, catalog).map_err(failure)?),
        None => None,
    };
    for (what, why) in &plan.not_pushed {
        eprintln!("note: {what} is not pushed: {why}");
    }
    let (blobs, bytes) = plan.blob_totals();
    eprintln!(
        "mirroring {} image(s) into {} repositories of {target}: {blobs} blobs ({}), {} manifests",
        plan.images.len(),
        plan.repositories.len(),
        human(bytes),
        plan.manifests.len()
    );
    let progress = Lines {
        tty: std::io::stderr().is_terminal(),
    };
    let summary = mirror::mirror(&args.bundle, &plan, &options, &progress).map_err(failure)?;
    if let (Some(out), Some(dir)) = (&rendered, &args.output) {
        crate::render::write(out, dir).map_err(|e| Failure::usage(e.to_string()))?;
        eprintln!(
            "wrote {} files to {} (containerd: copy {} to /etc/containerd/certs.d/)",
            out.files.len(),
            dir.display(),
            dir.join("airgap").join("certs.d").display()
        );
    }
    match args.format {
        Format::Json => outln!("{}", summary_json(&summary)),
        Format::Text => print_summary(&summary),
    }
    Ok(())
}

fn print_summary(s: &Summary) {
    if let Some(created) = s.project_created {
        outln!("project: {}", if created { "created" } else { "exists" });
    }
    outln!(
        "blobs: {} pushed, {} mounted, {} already present ({})",
        s.blobs_pushed,
        s.blobs_mounted,
        s.blobs_skipped,
        human(s.bytes)
    );
    outln!(
        "manifests: {} pushed, {} already present; tags: {} pushed, {} already set",
        s.manifests_pushed,
        s.manifests_skipped,
        s.tags_pushed,
        s.tags_skipped
    );
    if let Some(n) = s.verified_remote {
        outln!("verified: {n} manifests and tags read back, every digest matches");
    }
    outln!(
        "done: {} image(s) in {} repositories of {} in {:.1} s",
        s.images,
        s.repositories,
        s.target,
        s.seconds
    );
}

fn summary_json(s: &Summary) -> String {
    serde_json::json!({
        "target": s.target,
        "repositories": s.repositories,
        "images": s.images,
        "project_created": s.project_created,
        "blobs": {"pushed": s.blobs_pushed, "mounted": s.blobs_mounted, "skipped": s.blobs_skipped},
        "manifests": {"pushed": s.manifests_pushed, "skipped": s.manifests_skipped},
        "tags": {"pushed": s.tags_pushed, "skipped": s.tags_skipped},
        "bytes": s.bytes,
        "seconds": (s.seconds * 1000.0).round() / 1000.0,
        "verified_remote": s.verified_remote,
    })
    .to_string()
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn failure(e: MirrorError) -> Failure {
    match e {
        MirrorError::Corrupt { path, problems } => {
            let mut message = format!(
                "{path}: the bundle is corrupt ({} problem(s)); nothing was pushed",
                problems.len()
            );
            for p in problems.iter().take(20) {
                message.push_str(&format!("\n  {}: {}", p.subject, p.message));
            }
            Failure::failed(message)
                .hint("export the bundle again, or copy it again from the source")
        }
        MirrorError::Push { error, missing } => {
            let mut message = error.to_string();
            let denied = error.is_denied();
            let n = missing.blobs.len() + missing.manifests.len() + missing.tags.len();
            if n > 0 {
                message.push_str(&format!(
                    "\nstill missing on the registry: {} blob(s), {} manifest(s), {} tag(s){}",
                    missing.blobs.len(),
                    missing.manifests.len(),
                    missing.tags.len(),
                    if missing.tags.is_empty() {
                        ""
                    } else {
                        " (no tag points at anything missing)"
                    }
                ));
                for m in missing
                    .tags
                    .iter()
                    .chain(&missing.manifests)
                    .chain(&missing.blobs)
                    .take(10)
                {
                    message.push_str(&format!("\n  {m}"));
                }
                if n > 10 {
                    message.push_str(&format!("\n  … and {} more", n - 10));
                }
            }
            let mut f = Failure {
                code: if denied { 2 } else { 1 },
                message,
                hints: Vec::new(),
            };
            f = match error.as_ref() {
                PushError::Denied { registry, .. } | PushError::Credentials { registry, .. } => f
                    .hint(format!(
                        "check the user name and password for {registry} (--username USER --password-stdin, \
                         or `podman login {registry}`), and that the account may push to the project"
                    )),
                PushError::Tls { registry, .. } => f.hint(format!(
                    "trust the CA that signed {registry}'s certificate with --ca-file PATH, \
                     or --insecure-registry {registry}"
                )),
                _ => f.hint("run the same command again: it pushes only what is missing"),
            };
            f
        }
        MirrorError::RemoteMismatch { .. } => Failure::failed(e.to_string()),
        MirrorError::Collision { .. } | MirrorError::Name { .. } => {
            Failure::usage(e.to_string()).hint("nothing was pushed")
        }
        other => Failure::usage(other.to_string()),
    }
}
