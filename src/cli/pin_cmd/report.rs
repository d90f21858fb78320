//! What `bundle pin` says: the problems on standard error (registry-wide errors once), the JSON
//! document or the tables on standard output, and the closing line.

use std::collections::BTreeMap;
use std::path::Path;

use super::rows::{Kind, Row, Status};
use super::{PinArgs, PinFormat};
use crate::cli::Failure;
use crate::cli::table::render;
use crate::oci::{PullError, ResolveError};
use crate::pin;
use crate::types::Digest;

fn noun(kind: Kind) -> &'static str {
    match kind {
        Kind::Image => "",
        Kind::Chart => "chart ",
        Kind::Manifest => "manifest ",
    }
}

/// Prints every problem (registry-wide errors once, with what they stop); returns the failure they
/// make, if any (its hints not printed yet).
pub(super) fn report_problems(
    rows: &[Row],
    args: &PinArgs,
    published: &BTreeMap<String, Digest>,
) -> Option<Failure> {
    let mut failure: Option<Failure> = None;
    let mut add = |f: Failure| {
        failure = Some(match failure.take() {
            Some(old) => old.worst(f),
            None => f,
        });
    };
    let mut registry_errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        let name = format!("{}{}", noun(row.kind), row.name);
        match row.status(args.check) {
            Status::Error => {
                let Some(e) = &row.error else { continue };
                add(e.failure());
                match e.pull() {
                    Some(PullError::Registry(ResolveError::NotFound { .. })) | None => {
                        eprintln!("error: {name} (component {}): {e}", row.components())
                    }
                    Some(PullError::Registry(ResolveError::InvalidReference { .. })) => {
                        eprintln!("error: {e}")
                    }
                    Some(PullError::Registry(
                        ResolveError::Unauthorized { .. }
                        | ResolveError::Tls { .. }
                        | ResolveError::Unreachable { .. }
                        | ResolveError::Credentials { .. },
                    )) => registry_errors.entry(e.to_string()).or_default().push(name),
                    _ => eprintln!("error: {name}: {e}"),
                }
            }
            Status::Mismatch => {
                let is_published =
                    row.kind == Kind::Manifest && published.get(&row.name) == row.locked.as_ref();
                eprintln!(
                    "error: {name} (component {}): the lock has {} but {} serves {} ({})",
                    row.components(),
                    row.locked.as_ref().map(Digest::as_str).unwrap_or_default(),
                    row.fetched(),
                    row.served.as_ref().map(Digest::as_str).unwrap_or_default(),
                    row.moved(is_published),
                );
                add(Failure::negative().hint(if is_published {
                    "check the mirror (--url-mirror) serves upstream's file; if upstream re-published it, the \
                     catalog's sha256 must be corrected at its source"
                } else {
                    "if the content was changed on purpose, correct the digest at its source (the catalog, or \
                     delete the `digest:` line in the lock) and pin again; otherwise check the registry or mirror"
                }));
            }
            Status::Missing => {
                eprintln!(
                    "error: {name} (component {}): no digest in {}",
                    row.components(),
                    args.lock.display()
                );
                add(Failure::negative().hint(format!(
                    "run `bundle pin --lock {}` to fill in the digests",
                    args.lock.display()
                )));
            }
            Status::New | Status::Unchanged | Status::Ok => {}
        }
    }
    let only_images = rows.iter().all(|r| r.kind == Kind::Image);
    for (message, refs) in &registry_errors {
        eprintln!("error: {message}");
        let what = match (only_images, refs.len()) {
            (true, 1) => "image",
            (true, _) => "images",
            (false, 1) => "item",
            (false, _) => "items",
        };
        eprintln!("  (needed for {} {what}: {})", refs.len(), refs.join(", "));
    }
    failure
}

/// Who serves what the lock names: "the registry" when it names only images.
pub(super) fn upstream(rows: &[Row]) -> &'static str {
    if rows.iter().all(|r| r.kind == Kind::Image) {
        "the registry"
    } else {
        "upstream"
    }
}

/// Prints every image an artifact uses that the catalog does not list; the failure they make.
pub(super) fn report_unlisted(used: &pin::UsedImages) -> Option<Failure> {
    if used.unlisted.is_empty() {
        return None;
    }
    for u in &used.unlisted {
        eprintln!(
            "error: component {}: {} uses image {} that the catalog does not list for it ({}: {})",
            u.component, u.artifact, u.image, u.object, u.path
        );
    }
    Some(Failure::negative().hint(
        "add each image to that component version's `images:` in the catalog (with its digest or tag), so \
         that it is carried across the air gap; an image used only by chart tests needs nothing",
    ))
}

/// How a pin ended, for [`print_result`].
pub(super) struct Printed<'a> {
    pub(super) ok: bool,
    pub(super) written: bool,
    /// Upstream's signatures per image (`--verify-signatures`; `None`: not checked).
    pub(super) signatures: Option<&'a [(String, crate::signatures::Verdict)]>,
}

/// The JSON document or the tables on standard output.
pub(super) fn print_result(
    rows: &[Row],
    unlisted: &[pin::Unlisted],
    args: &PinArgs,
    result: &Printed<'_>,
) {
    let (ok, written) = (result.ok, result.written);
    let of = |kind: Kind| rows.iter().filter(move |r| r.kind == kind);
    match args.format {
        PinFormat::Json => {
            let row_json = |r: &Row, key: &str, value: serde_json::Value| {
                let mut v = serde_json::json!({
                    "components": r.users.iter().map(|(n, v)| format!("{n} {v}")).collect::<Vec<_>>(),
                    "fetchedFrom": r.fetched,
                    "lockDigest": r.locked,
                    "upstreamDigest": r.served,
                    "status": r.status(args.check).as_str(),
                    "error": r.error.as_ref().map(|e| e.to_string()),
                });
                v[key] = value;
                v
            };
            let images: Vec<serde_json::Value> = of(Kind::Image)
                .map(|r| {
                    let mut v = row_json(r, "reference", r.name.clone().into());
                    // Images keep their historical key for the upstream digest.
                    v["registryDigest"] = v["upstreamDigest"].take();
                    if let Some(o) = v.as_object_mut() {
                        o.remove("upstreamDigest");
                    }
                    v
                })
                .collect();
            let charts: Vec<serde_json::Value> = of(Kind::Chart)
                .filter_map(|r| {
                    let c = r.chart.as_ref()?;
                    let mut v = row_json(r, "name", c.name().into());
                    v["repository"] = c.repository().into();
                    v["version"] = c.version().into();
                    Some(v)
                })
                .collect();
            let manifests: Vec<serde_json::Value> = of(Kind::Manifest)
                .map(|r| row_json(r, "url", r.name.clone().into()))
                .collect();
            let json = serde_json::json!({
                "lock": args.lock.display().to_string(),
                "check": args.check,
                "ok": ok,
                "written": written,
                "images": images,
                "charts": charts,
                "manifests": manifests,
                "unlistedImages": unlisted.iter().map(|u| serde_json::json!({
                    "component": u.component,
                    "artifact": u.artifact,
                    "object": u.object,
                    "path": u.path,
                    "image": u.image,
                })).collect::<Vec<_>>(),
                "signatures": result.signatures.map(|all| all
                    .iter()
                    .map(|(image, v)| crate::cli::signing::outcome_json(image, v))
                    .collect::<Vec<_>>()),
            });
            outln!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
        }
        PinFormat::Text if ok => {
            let mut first = true;
            for (kind, header) in [
                (Kind::Image, "IMAGE"),
                (Kind::Chart, "CHART"),
                (Kind::Manifest, "MANIFEST"),
            ] {
                let table: Vec<Vec<String>> = of(kind)
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.served
                                .as_ref()
                                .or(r.locked.as_ref())
                                .map_or_else(|| "-".to_string(), Digest::to_string),
                            r.status(args.check).as_str().to_string(),
                        ]
                    })
                    .collect();
                if table.is_empty() {
                    continue;
                }
                if !first {
                    outln!();
                }
                first = false;
                out!("{}", render(&[header, "DIGEST", "STATUS"], &table));
            }
        }
        PinFormat::Text => {}
    }
}

pub(super) fn eprint_hints(f: &Failure) {
    for h in &f.hints {
        eprintln!("  hint: {h}");
    }
}

/// `N image(s)`, and charts and manifests when there are any.
fn counts(rows: &[Row]) -> String {
    let n = |k: Kind| rows.iter().filter(|r| r.kind == k).count();
    let mut s = format!("{} image{}", n(Kind::Image), plural(n(Kind::Image)));
    for (k, word) in [(Kind::Chart, "chart"), (Kind::Manifest, "manifest")] {
        if n(k) > 0 {
            s.push_str(&format!(", {} {word}{}", n(k), plural(n(k))));
        }
    }
    s
}

/// The closing line of a run that succeeded.
pub(super) fn say_done(rows: &[Row], lock: &Path, check: bool, written: bool) {
    let new = rows
        .iter()
        .filter(|r| r.status(check) == Status::New)
        .count();
    let all = "all ";
    if check {
        eprintln!(
            "{}: {all}{} pinned as {} serves them",
            lock.display(),
            counts(rows),
            upstream(rows)
        );
    } else if written {
        eprintln!(
            "wrote {} ({}, {new} newly pinned)",
            lock.display(),
            counts(rows)
        );
    } else {
        eprintln!("{}: already pinned ({})", lock.display(), counts(rows));
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
