//! `bundle verify`.

use clap::Args;

use super::Failure;
use super::format::human_bytes;
use super::progress::Draw;
use super::style::Style;
use crate::airgap::verify::{self, Problem};

/// Arguments of `bundle verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The bundle: an OCI layout directory, a .tar or a .tar.zst (split: its NAME.parts or NAME.001).
    #[arg(value_name = "PATH")]
    path: std::path::PathBuf,
    /// For a delta bundle: its base bundle (repeatable). Checks that it is the base the delta records
    /// and that the delta and the base together hold every blob (the delta alone is checked as a delta:
    /// the configs and layers it leaves to its base may be absent).
    #[arg(long = "base", value_name = "BUNDLE")]
    bases: Vec<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    format: VerifyFormat,
    /// No progress on standard error (bars on a terminal; otherwise a line only when rehashing runs
    /// long).
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Check the bundle's own signature (`bundle export --sign-key`) with this public key (PEM
    /// `PUBLIC KEY`, ECDSA P-256, as `cosign generate-key-pair` writes `cosign.pub`): an unsigned
    /// bundle, or one signed by another key, is a problem.
    #[arg(long, value_name = "PUB")]
    key: Option<std::path::PathBuf>,
    /// Check upstream's cosign signatures carried in the bundle, from the bundle alone (no network,
    /// no catalog): every image of a component that declares its signers (the policies the export
    /// stored) must carry a signature by one of them — keyless ones checked with the Sigstore trust
    /// root the bundle carries, key ones with the declared key; images of components that declare
    /// nothing are listed as unsigned, not refused. --signature-key adds keys.
    #[arg(long)]
    signatures: bool,
    /// A public key upstream signs images with (PEM `PUBLIC KEY`, ECDSA P-256, as cosign.pub);
    /// repeatable; with --signatures.
    #[arg(long = "signature-key", value_name = "PUB", requires = "signatures")]
    signature_keys: Vec<std::path::PathBuf>,
}

/// `bundle verify` formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum VerifyFormat {
    /// One problem per line (`subject: message`), a summary on standard error.
    Text,
    /// One JSON document.
    Json,
}

pub(super) fn run(args: VerifyArgs) -> Result<(), Failure> {
    let path = args.path.display().to_string();
    let options = verify::VerifyOptions {
        key: args
            .key
            .as_deref()
            .map(super::signing::public_key)
            .transpose()?,
        signature_keys: match args.signatures {
            true => Some(
                args.signature_keys
                    .iter()
                    .map(|p| super::signing::signature_key(p))
                    .collect::<Result<_, _>>()?,
            ),
            false => None,
        },
        ..Default::default()
    };
    let progress = Draw::new(Style::Verify, args.quiet);
    let mut report = verify::verify_reporting(&args.path, &options, &progress)?;
    drop(progress);
    if !args.bases.is_empty() {
        let bases: Vec<&std::path::Path> = args.bases.iter().map(|b| b.as_path()).collect();
        let more = verify::check_bases(&report, &bases)?;
        report.problems.extend(more);
    }
    let from_base_bytes: u64 = report.from_base.values().sum();
    let list = |v: &[Problem]| {
        v.iter()
            .map(|p| serde_json::json!({"subject": p.subject, "message": p.message}))
            .collect::<Vec<_>>()
    };
    match args.format {
        VerifyFormat::Json => {
            let mut v = serde_json::json!({
                "path": path,
                "container": report.container,
                "ok": report.is_sound(),
                "images": report.images,
                "blobs": report.blobs,
                "bytes": report.bytes,
                "problems": list(&report.problems),
                "warnings": list(&report.warnings),
                "signature": super::signing::signature_json(&report),
                "signatures": super::signing::signatures_json(&report),
            });
            if let Some(d) = &report.delta {
                v["delta"] = serde_json::json!({
                    "baseIndexes": d.indexes, "baseLocks": d.locks, "baseNames": d.names,
                    "fromBase": {"blobs": report.from_base.len(), "bytes": from_base_bytes},
                    "baseChecked": !args.bases.is_empty(),
                });
            }
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        VerifyFormat::Text => {
            for p in &report.problems {
                outln!("{p}");
            }
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            let mut what = format!(
                "{} index entries, {} blobs, {} rehashed",
                report.images,
                report.blobs,
                human_bytes(report.bytes)
            );
            if let Some(d) = &report.delta {
                what.push_str(&format!(
                    "; a delta over {}: {} blobs ({}) left to the base{}",
                    d.describe(),
                    report.from_base.len(),
                    human_bytes(from_base_bytes),
                    if args.bases.is_empty() {
                        ", not checked (--base BUNDLE checks them)"
                    } else {
                        ", checked against the base"
                    }
                ));
            }
            what.push_str(&super::signing::signature_text(&report));
            what.push_str(&super::signing::signatures_text(&report));
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
