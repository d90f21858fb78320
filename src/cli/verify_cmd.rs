//! `bundle verify`.

use clap::Args;

use super::Failure;
use super::format::human_bytes;
use crate::airgap::verify::{self, Problem};

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

pub(super) fn run(args: VerifyArgs) -> Result<(), Failure> {
    let path = args.path.display().to_string();
    let report = verify::verify(&args.path)?;
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
