//! `bundle mirror`: push a bundle into Harbor or any OCI registry.
//!
//! Exit codes: 0 done; 1 the bundle is corrupt, or the registry refused, failed or went away (what is
//! still missing is listed; a rerun pushes only that; nothing missing is tagged); 2 bad usage, a bundle
//! that cannot be mirrored as it is, or credentials that cannot be read.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::Failure;
use super::format::human_bytes;
use super::progress::Draw;
use super::registry::RegistryArgs;
use super::style::Style;
use crate::airgap::format::EntryKind;
use crate::airgap::mirror::{self, MirrorOptions, Summary};
use crate::oci::RetryPolicy;

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
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// No progress on standard error (bars on a terminal, lines otherwise); notes, warnings and
    /// errors are still written.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Refuse the bundle, before anything is pushed, unless it carries a signature (`bundle export
    /// --sign-key`) that verifies with --key.
    #[arg(long, requires = "key")]
    require_signature: bool,
    /// The public key (PEM `PUBLIC KEY`, ECDSA P-256, as `cosign generate-key-pair` writes
    /// `cosign.pub`) the bundle must be signed with; with --require-signature.
    #[arg(long, value_name = "PUB", requires = "require_signature")]
    key: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Summary formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

pub(super) fn run(args: MirrorArgs) -> Result<(), Failure> {
    let target = mirror::parse_target(&args.to)?;
    if args.output.is_some() && args.strip_registry_host {
        return Err(Failure::usage(
            "-o DIR renders images as HOST/PROJECT[/PREFIX]/<source-registry>/<repository>, \
             which --strip-registry-host does not push",
        ));
    }
    let connected = args.registry.connect(RetryPolicy::default(), &[])?;
    let options = MirrorOptions {
        target: target.clone(),
        strip_registry_host: args.strip_registry_host,
        create_project: args.create_project,
        verify_remote: args.verify_remote,
        require_signature: args
            .key
            .as_deref()
            .map(super::signing::public_key)
            .transpose()?,
    };
    let plan = mirror::prepare(&args.bundle, &options)?;
    let rendered = match &args.output {
        Some(_) => Some(mirror::render_for_plan(&plan, &target)?),
        None => None,
    };
    for (what, why) in &plan.not_pushed {
        eprintln!("note: {what} is not pushed: {why}");
    }
    let (blobs, bytes) = plan.blob_totals();
    if !args.quiet {
        eprintln!(
            "mirroring {} image(s){} into {} repositories of {target}: {blobs} blobs ({}), {} manifests",
            plan.count(EntryKind::Image),
            upstream_text(
                plan.count(EntryKind::Chart),
                plan.count(EntryKind::ReleaseManifests)
            ),
            plan.repositories.len(),
            human_bytes(bytes),
            plan.manifests.len()
        );
    }
    let progress = Draw::new(Style::Mirror, args.quiet);
    let summary = mirror::mirror(
        &args.bundle,
        &plan,
        &options,
        &connected.registries,
        &connected.runner,
        &progress,
    )?;
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
        human_bytes(s.bytes)
    );
    outln!(
        "manifests: {} pushed, {} already present; tags: {} pushed, {} already set",
        s.manifests_pushed,
        s.manifests_skipped,
        s.tags_pushed,
        s.tags_skipped
    );
    if s.blobs_from_base > 0 {
        outln!(
            "delta: {} blob(s) left to the base were already in the target",
            s.blobs_from_base
        );
    }
    if let Some(n) = s.verified_remote {
        outln!("verified: {n} manifests and tags read back, every digest matches");
    }
    outln!(
        "done: {} image(s){}{} in {} repositories of {} in {:.1} s",
        s.images,
        upstream_text(s.charts, s.release_manifests),
        match s.referrers {
            0 => String::new(),
            n => format!(", {n} referrers entr{}", if n == 1 { "y" } else { "ies" }),
        },
        s.repositories,
        s.target,
        s.seconds
    );
}

/// `, N chart(s), M release manifests artifact(s)` when there are any.
fn upstream_text(charts: usize, manifests: usize) -> String {
    let mut s = String::new();
    if charts > 0 {
        s.push_str(&format!(", {charts} chart(s)"));
    }
    if manifests > 0 {
        s.push_str(&format!(", {manifests} release manifests artifact(s)"));
    }
    s
}

fn summary_json(s: &Summary) -> String {
    let mut v = summary_fields(s);
    if s.blobs_from_base > 0 {
        v["blobs"]["fromBase"] = s.blobs_from_base.into();
    }
    v.to_string()
}

fn summary_fields(s: &Summary) -> serde_json::Value {
    serde_json::json!({
        "target": s.target,
        "repositories": s.repositories,
        "images": s.images,
        "charts": s.charts,
        "release_manifests": s.release_manifests,
        "referrers": s.referrers,
        "project_created": s.project_created,
        "blobs": {"pushed": s.blobs_pushed, "mounted": s.blobs_mounted, "skipped": s.blobs_skipped},
        "manifests": {"pushed": s.manifests_pushed, "skipped": s.manifests_skipped},
        "tags": {"pushed": s.tags_pushed, "skipped": s.tags_skipped},
        "bytes": s.bytes,
        "seconds": (s.seconds * 1000.0).round() / 1000.0,
        "verified_remote": s.verified_remote,
    })
}
