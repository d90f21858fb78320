//! `bundle pin`: resolve every image in the lock to its manifest digest and write it into the lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::Failure;
use super::lockfile::{read_lock, write_lock};
use super::progress::{Lines, Style};
use super::registry::RegistryArgs;
use super::table::render;
use crate::oci::{PullError, ResolveError, RetryPolicy};
use crate::pin::{self, Resolved, Wanted};
use crate::types::{Digest, ImageRef};

/// Arguments of `bundle pin`.
#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The lock to pin.
    #[arg(long, default_value = "bundle.lock", value_name = "PATH")]
    lock: PathBuf,
    /// Only verify: exit 1 if an image has no digest or the registry serves another. Writes nothing.
    #[arg(long)]
    check: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PinFormat::Text)]
    format: PinFormat,
    /// No progress lines on standard error.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum PinFormat {
    Text,
    Json,
}

/// One distinct image of the lock and what the registry said.
struct Image {
    wanted: Wanted,
    /// What the registry answered (`None` when not asked).
    resolved: Option<Resolved>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    New,
    Unchanged,
    Ok,
    Mismatch,
    Missing,
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Unchanged => "unchanged",
            Status::Ok => "ok",
            Status::Mismatch => "mismatch",
            Status::Missing => "missing",
            Status::Error => "error",
        }
    }
}

impl Image {
    fn served(&self) -> Option<&Digest> {
        self.resolved.as_ref().and_then(|r| r.result.as_ref().ok())
    }

    fn error(&self) -> Option<&PullError> {
        self.resolved.as_ref().and_then(|r| r.result.as_ref().err())
    }

    fn status(&self, check: bool) -> Status {
        if self.error().is_some() {
            return Status::Error;
        }
        match (self.wanted.locked.as_ref(), self.served()) {
            (None, _) if check => Status::Missing,
            (None, Some(_)) => Status::New,
            (Some(l), Some(s)) if l == s => {
                if check {
                    Status::Ok
                } else {
                    Status::Unchanged
                }
            }
            (Some(_), Some(_)) => Status::Mismatch,
            (_, None) => Status::Missing,
        }
    }

    fn fetched(&self) -> String {
        self.resolved
            .as_ref()
            .map(|r| r.fetched.clone())
            .unwrap_or_else(|| self.wanted.reference.to_string())
    }

    /// `name version` of every component using it.
    fn components(&self) -> String {
        let users: Vec<String> = self
            .wanted
            .users
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        users.join(", ")
    }
}

pub(super) fn run(args: PinArgs) -> Result<(), Failure> {
    let lock = read_lock(&args.lock)?;
    let wanted = pin::images(&lock).map_err(|e| Failure::from(e).context(args.lock.display()))?;
    let connected = args.registry.connect(RetryPolicy::default())?;
    // --check asks the registry only about images the lock pins: a missing digest fails anyway.
    let asked: Vec<ImageRef> = wanted
        .iter()
        .filter(|w| !args.check || w.locked.is_some())
        .map(|w| w.reference.clone())
        .collect();
    let progress = Lines::new(Style::Pin { check: args.check }, args.quiet);
    let mut resolved: BTreeMap<ImageRef, Resolved> =
        pin::resolve(&connected.registries, &connected.runner, &asked, &progress)
            .into_iter()
            .map(|r| (r.reference.clone(), r))
            .collect();
    let images: Vec<Image> = wanted
        .into_iter()
        .map(|w| Image {
            resolved: resolved.remove(&w.reference),
            wanted: w,
        })
        .collect();

    let failure = report_problems(&images, &args);
    let mut written = false;
    if failure.is_none() && !args.check {
        let digests: BTreeMap<ImageRef, Digest> = images
            .iter()
            .filter_map(|i| Some((i.wanted.reference.clone(), i.served()?.clone())))
            .collect();
        let pinned = pin::apply(&lock, &digests);
        if pinned != lock {
            write_lock(&args.lock, &pinned)?;
            written = true;
        }
    }
    print_result(&images, &args, failure.is_none(), written);
    match failure {
        Some(f) => {
            eprint_hints(&f);
            eprintln!(
                "{}",
                if args.check {
                    format!(
                        "{}: not pinned as the registry serves it",
                        args.lock.display()
                    )
                } else {
                    format!("{}: left unchanged", args.lock.display())
                }
            );
            Err(f.printed())
        }
        None => {
            say_done(&images, &args.lock, args.check, written);
            Ok(())
        }
    }
}

/// Prints every problem (registry-wide errors once, with the images they stop); returns the failure
/// they make, if any (its hints not printed yet).
fn report_problems(images: &[Image], args: &PinArgs) -> Option<Failure> {
    let mut failure: Option<Failure> = None;
    let mut add = |f: Failure| {
        failure = Some(match failure.take() {
            Some(old) => old.worst(f),
            None => f,
        });
    };
    let mut registry_errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for img in images {
        let reference = img.wanted.reference.to_string();
        match img.status(args.check) {
            Status::Error => {
                let Some(e) = img.error() else { continue };
                add(Failure::from(e));
                match e {
                    PullError::Registry(ResolveError::NotFound { .. }) => {
                        eprintln!("error: {reference} (component {}): {e}", img.components())
                    }
                    PullError::Registry(ResolveError::InvalidReference { .. }) => {
                        eprintln!("error: {e}")
                    }
                    PullError::Registry(
                        ResolveError::Unauthorized { .. }
                        | ResolveError::Tls { .. }
                        | ResolveError::Unreachable { .. }
                        | ResolveError::Credentials { .. },
                    ) => registry_errors
                        .entry(e.to_string())
                        .or_default()
                        .push(reference),
                    _ => eprintln!("error: {reference}: {e}"),
                }
            }
            Status::Mismatch => {
                eprintln!(
                    "error: {reference} (component {}): the lock has {} but {} serves {} (tag moved or mirror tampered)",
                    img.components(),
                    img.wanted
                        .locked
                        .as_ref()
                        .map(Digest::as_str)
                        .unwrap_or_default(),
                    img.fetched(),
                    img.served().map(Digest::as_str).unwrap_or_default()
                );
                add(Failure::negative().hint(
                    "if the tag was moved on purpose, correct the digest at its source (the catalog, or \
                     delete the `digest:` line in the lock) and pin again; otherwise check the registry or mirror",
                ));
            }
            Status::Missing => {
                eprintln!(
                    "error: {reference} (component {}): no digest in {}",
                    img.components(),
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
    for (message, refs) in &registry_errors {
        eprintln!("error: {message}");
        eprintln!(
            "  (needed for {} image{}: {})",
            refs.len(),
            plural(refs.len()),
            refs.join(", ")
        );
    }
    failure
}

/// The JSON document or the table on standard output.
fn print_result(images: &[Image], args: &PinArgs, ok: bool, written: bool) {
    match args.format {
        PinFormat::Json => {
            let json = serde_json::json!({
                "lock": args.lock.display().to_string(),
                "check": args.check,
                "ok": ok,
                "written": written,
                "images": images.iter().map(|i| serde_json::json!({
                    "reference": i.wanted.reference.to_string(),
                    "components": i.wanted.users.iter().map(|(n, v)| format!("{n} {v}")).collect::<Vec<_>>(),
                    "fetchedFrom": i.resolved.as_ref().map(|r| r.fetched.clone()),
                    "lockDigest": i.wanted.locked,
                    "registryDigest": i.served(),
                    "status": i.status(args.check).as_str(),
                    "error": i.error().map(|e| e.to_string()),
                })).collect::<Vec<_>>(),
            });
            outln!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
        }
        PinFormat::Text if ok => {
            let rows: Vec<Vec<String>> = images
                .iter()
                .map(|i| {
                    vec![
                        i.wanted.reference.to_string(),
                        i.served()
                            .or(i.wanted.locked.as_ref())
                            .map_or_else(|| "-".to_string(), Digest::to_string),
                        i.status(args.check).as_str().to_string(),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                out!("{}", render(&["IMAGE", "DIGEST", "STATUS"], &rows));
            }
        }
        PinFormat::Text => {}
    }
}

fn eprint_hints(f: &Failure) {
    for h in &f.hints {
        eprintln!("  hint: {h}");
    }
}

/// The closing line of a run that succeeded.
fn say_done(images: &[Image], lock: &Path, check: bool, written: bool) {
    let n = images.len();
    let new = images
        .iter()
        .filter(|i| i.status(check) == Status::New)
        .count();
    if check {
        eprintln!(
            "{}: all {n} image{} pinned as the registry serves them",
            lock.display(),
            plural(n)
        );
    } else if written {
        eprintln!(
            "wrote {} ({n} image{}, {new} newly pinned)",
            lock.display(),
            plural(n)
        );
    } else {
        eprintln!(
            "{}: already pinned ({n} image{})",
            lock.display(),
            plural(n)
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
