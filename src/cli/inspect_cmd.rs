//! `bundle inspect`.

use clap::Args;

use super::Failure;
use super::format::{human_bytes, short_digest};
use crate::airgap::format::EntryKind;
use crate::airgap::inspect::{self, Artifact, Inspection, LockStatus, Referrer};
use crate::airgap::steps as inspect_steps;
use crate::lock::Lock;

/// Charts and release manifests per component: a chart on one line, each release manifest file on
/// its own.
fn artifact_table(artifacts: &[Artifact]) -> String {
    let mut rows = Vec::new();
    for a in artifacts {
        let component = if a.components.is_empty() {
            "-".to_string()
        } else {
            a.components.join(", ")
        };
        match a.kind {
            EntryKind::Chart => rows.push(vec![
                component,
                "chart".to_string(),
                a.name.clone(),
                short_digest(&a.digest),
                human_bytes(a.bytes),
            ]),
            _ => {
                for f in &a.files {
                    rows.push(vec![
                        component.clone(),
                        "manifest".to_string(),
                        f.url
                            .clone()
                            .or_else(|| f.title.clone())
                            .unwrap_or_else(|| "-".to_string()),
                        short_digest(&f.digest),
                        human_bytes(f.bytes),
                    ]);
                }
            }
        }
    }
    super::table::render(&["COMPONENT", "KIND", "NAME", "DIGEST", "SIZE"], &rows)
}

/// Upstream's referrers per image: one line each, with what it is and its size.
fn referrer_table(referrers: &[Referrer]) -> String {
    let rows: Vec<Vec<String>> = referrers
        .iter()
        .map(|r| {
            vec![
                r.of.clone(),
                format!("{} {}", r.scheme, r.tag),
                r.artifact_type.clone(),
                short_digest(&r.digest),
                human_bytes(r.bytes),
            ]
        })
        .collect();
    super::table::render(&["IMAGE", "REFERRER", "TYPE", "DIGEST", "SIZE"], &rows)
}

/// The referrers as JSON.
fn referrers_json(referrers: &[Referrer]) -> serde_json::Value {
    referrers
        .iter()
        .map(|r| {
            serde_json::json!({
                "image": r.of,
                "subject": r.subject,
                "scheme": r.scheme,
                "tag": r.tag,
                "artifactType": r.artifact_type,
                "digest": r.digest,
                "bytes": r.bytes,
            })
        })
        .collect()
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

pub(super) fn run(args: InspectArgs) -> Result<(), Failure> {
    let path = args.path.display().to_string();
    let ins = inspect::inspect(&args.path)?;
    match args.format {
        InspectFormat::Json => {
            let v = to_json(&path, &ins);
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        InspectFormat::Table => print_tables(&path, &ins),
    }
    Ok(())
}

/// The inspection as one JSON document.
fn to_json(path: &str, ins: &Inspection) -> serde_json::Value {
    let lock = match &ins.lock {
        LockStatus::Found(l) => l.to_json(),
        _ => serde_json::Value::Null,
    };
    let lock_error = match &ins.lock {
        LockStatus::Missing => Some("the bundle carries no lock".to_string()),
        LockStatus::Unreadable(e) => Some(e.clone()),
        LockStatus::Found(_) => None,
    };
    let mut v = serde_json::json!({
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
        "artifacts": ins.artifacts.iter().map(|a| serde_json::json!({
            "kind": a.kind.noun(),
            "name": a.name,
            "components": a.components,
            "digest": a.digest,
            "repository": a.repository,
            "bytes": a.bytes,
            "files": a.files.iter().map(|f| serde_json::json!({
                "title": f.title,
                "url": f.url,
                "mediaType": f.media_type,
                "digest": f.digest,
                "bytes": f.bytes,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "referrers": referrers_json(&ins.referrers),
        "totalBytes": ins.total_bytes,
        "sharedBytes": ins.shared_bytes,
        "blobBytes": ins.blob_bytes,
        "blobCount": ins.blob_count,
        "signing": super::signing::carried_json(&ins.signers),
    });
    // a plan bundle's steps (nothing for a bundle of one lock)
    match &ins.steps {
        Ok(steps) if steps.is_empty() => {}
        Ok(steps) => v["steps"] = inspect_steps::to_json(steps),
        Err(e) => v["stepsError"] = e.as_str().into(),
    }
    v
}

/// The inspection as tables: the bundle, the lock's components, the images, the charts and
/// release manifests, the totals.
fn print_tables(path: &str, ins: &Inspection) {
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
            out!("{}", component_table(l));
        }
        LockStatus::Missing => outln!("lock: none (the bundle carries no lock)"),
        LockStatus::Unreadable(e) => outln!("lock: unreadable: {e}"),
    }
    outln!();
    out!("{}", image_table(ins));
    if !ins.artifacts.is_empty() {
        outln!();
        out!("{}", artifact_table(&ins.artifacts));
    }
    if !ins.referrers.is_empty() {
        outln!();
        out!("{}", referrer_table(&ins.referrers));
    }
    match &ins.steps {
        Ok(steps) if steps.is_empty() => {}
        Ok(steps) => {
            outln!();
            inspect_steps::lines(steps)
                .iter()
                .for_each(|l| outln!("{l}"));
        }
        Err(e) => outln!("\nplan steps: unreadable: {e}"),
    }
    let signing = super::signing::carried_text(&ins.signers);
    if !signing.is_empty() {
        outln!();
        out!("{signing}");
    }
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

/// The lock's components (with chart and manifest counts when the lock names any).
fn component_table(l: &Lock) -> String {
    let artifacts = l.components.iter().any(|c| c.has_artifacts());
    let rows: Vec<Vec<String>> = l
        .components
        .iter()
        .map(|c| {
            let mut row = vec![
                c.name.clone(),
                c.version.to_string(),
                c.images.len().to_string(),
            ];
            if artifacts {
                row.push(c.charts.len().to_string());
                row.push(c.manifests.len().to_string());
            }
            row
        })
        .collect();
    let header: &[&str] = if artifacts {
        &["COMPONENT", "VERSION", "IMAGES", "CHARTS", "MANIFESTS"]
    } else {
        &["COMPONENT", "VERSION", "IMAGES"]
    };
    super::table::render(header, &rows)
}

/// One row per image.
fn image_table(ins: &Inspection) -> String {
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
    super::table::render(
        &["COMPONENT", "IMAGE", "DIGEST", "PLATFORMS", "SIZE"],
        &rows,
    )
}
