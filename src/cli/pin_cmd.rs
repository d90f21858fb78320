//! `bundle pin`: resolve every image in the lock to its manifest digest and write it into the lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::Failure;
use super::registry::{RegistryArgs, hint_for};
use super::table::render;
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::oci::{Outcome, Progress, ResolveError, Resolver};

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

/// One distinct image reference of the lock.
struct Image {
    reference: String,
    /// `name version` of every component using it.
    components: Vec<String>,
    /// The digest the lock holds, if any.
    locked: Option<String>,
    /// What the registry answered (`None` when not asked).
    outcome: Option<Outcome>,
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
    fn served(&self) -> Option<&str> {
        self.outcome
            .as_ref()
            .and_then(|o| o.result.as_ref().ok())
            .map(|r| r.digest.as_str())
    }

    fn error(&self) -> Option<&ResolveError> {
        self.outcome.as_ref().and_then(|o| o.result.as_ref().err())
    }

    fn status(&self, check: bool) -> Status {
        if self.error().is_some() {
            return Status::Error;
        }
        match (self.locked.as_deref(), self.served()) {
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

    fn fetched(&self) -> &str {
        self.outcome
            .as_ref()
            .map(|o| o.fetched.as_str())
            .unwrap_or(&self.reference)
    }
}

struct Lines {
    quiet: bool,
    verb: &'static str,
}

impl Progress for Lines {
    fn resolved(&self, done: usize, total: usize, outcome: &Outcome) {
        if self.quiet {
            return;
        }
        match &outcome.result {
            Ok(r) => eprintln!(
                "{} {done}/{total} {} {}",
                self.verb, outcome.reference, r.digest
            ),
            Err(_) => eprintln!("{} {done}/{total} {} failed", self.verb, outcome.reference),
        }
    }
}

pub(super) fn run(_catalog: &Catalog, args: PinArgs) -> Result<(), Failure> {
    let lock = read_lock(&args.lock)?;
    let mut images: BTreeMap<String, Image> = BTreeMap::new();
    for c in &lock.components {
        for i in &c.images {
            let reference = i.reference.to_string();
            let e = images.entry(reference.clone()).or_insert_with(|| Image {
                reference: reference.clone(),
                components: Vec::new(),
                locked: None,
                outcome: None,
            });
            e.components.push(format!("{} {}", c.name, c.version));
            match (&e.locked, &i.digest.as_ref().map(|d| d.to_string())) {
                (Some(a), Some(b)) if a != b => {
                    return Err(Failure::usage(format!(
                        "{}: {} is locked with two digests, {a} and {b}",
                        args.lock.display(),
                        i.reference
                    ))
                    .hint(
                        "re-run `bundle solve` (or fix the catalog) so the image has one digest",
                    ));
                }
                (None, Some(b)) => e.locked = Some(b.clone()),
                _ => {}
            }
        }
    }
    for img in images.values() {
        if let Some(d) = &img.locked
            && !crate::oci::is_sha256_digest(d)
        {
            return Err(Failure::usage(format!(
                "{}: {}: `{d}` is not a sha256 digest",
                args.lock.display(),
                img.reference
            )));
        }
    }

    let options = args.registry.options()?;
    let resolver = Resolver::new(options).map_err(|e| Failure::usage(e.to_string()))?;
    // --check asks the registry only about images the lock pins: a missing digest fails anyway.
    let asked: Vec<String> = images
        .values()
        .filter(|i| !args.check || i.locked.is_some())
        .map(|i| i.reference.clone())
        .collect();
    let progress = Lines {
        quiet: args.quiet,
        verb: if args.check { "checked" } else { "pinned" },
    };
    let outcomes = resolver
        .resolve_all(&asked, &progress)
        .map_err(|e| Failure::usage(e.to_string()))?;
    for o in outcomes {
        if let Some(img) = images.get_mut(&o.reference) {
            img.outcome = Some(o);
        }
    }

    let mut hints: Vec<String> = Vec::new();
    let mut registry_errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut auth_failure = false;
    let mut negative = false;
    for img in images.values() {
        match img.status(args.check) {
            Status::Error => {
                let Some(e) = img.error() else { continue };
                negative = true;
                auth_failure |= e.is_auth();
                match e {
                    ResolveError::NotFound { .. } => eprintln!(
                        "error: {} (component {}): {e}",
                        img.reference,
                        img.components.join(", ")
                    ),
                    ResolveError::InvalidReference { .. } => eprintln!("error: {e}"),
                    ResolveError::Protocol { .. } => eprintln!("error: {}: {e}", img.reference),
                    // About the registry, not the image: said once, with the images it stops.
                    _ => registry_errors
                        .entry(e.to_string())
                        .or_default()
                        .push(img.reference.clone()),
                }
                if let Some(h) = hint_for(e)
                    && !hints.contains(&h)
                {
                    hints.push(h);
                }
            }
            Status::Mismatch => {
                negative = true;
                eprintln!(
                    "error: {} (component {}): the lock has {} but {} serves {} (tag moved or mirror tampered)",
                    img.reference,
                    img.components.join(", "),
                    img.locked.as_deref().unwrap_or_default(),
                    img.fetched(),
                    img.served().unwrap_or_default()
                );
                let h = "if the tag was moved on purpose, correct the digest at its source (the catalog, or \
                         delete the `digest:` line in the lock) and pin again; otherwise check the registry or mirror"
                    .to_string();
                if !hints.contains(&h) {
                    hints.push(h);
                }
            }
            Status::Missing => {
                negative = true;
                eprintln!(
                    "error: {} (component {}): no digest in {}",
                    img.reference,
                    img.components.join(", "),
                    args.lock.display()
                );
                let h = format!(
                    "run `bundle pin --lock {}` to fill in the digests",
                    args.lock.display()
                );
                if !hints.contains(&h) {
                    hints.push(h);
                }
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

    let mut written = false;
    if !negative && !args.check {
        let mut pinned = lock.clone();
        for c in &mut pinned.components {
            for i in &mut c.images {
                if let Some(d) = images
                    .get(&i.reference.to_string())
                    .and_then(|img| img.served())
                    .and_then(|d| crate::types::Digest::parse_sha256(d).ok())
                {
                    i.digest = Some(d);
                }
            }
        }
        if pinned != lock {
            write_atomically(&args.lock, &pinned.to_yaml())?;
            written = true;
        }
    }

    match args.format {
        PinFormat::Json => {
            let json = serde_json::json!({
                "lock": args.lock.display().to_string(),
                "check": args.check,
                "ok": !negative,
                "written": written,
                "images": images.values().map(|i| serde_json::json!({
                    "reference": i.reference,
                    "components": i.components,
                    "fetchedFrom": i.outcome.as_ref().map(|o| o.fetched.clone()),
                    "lockDigest": i.locked,
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
        PinFormat::Text if !negative => {
            let rows: Vec<Vec<String>> = images
                .values()
                .map(|i| {
                    vec![
                        i.reference.clone(),
                        i.served()
                            .or(i.locked.as_deref())
                            .unwrap_or("-")
                            .to_string(),
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

    for h in &hints {
        eprintln!("  hint: {h}");
    }
    if negative {
        if args.check {
            eprintln!(
                "{}: not pinned as the registry serves it",
                args.lock.display()
            );
        } else {
            eprintln!("{}: left unchanged", args.lock.display());
        }
        return Err(if auth_failure {
            Failure::usage("")
        } else {
            Failure::negative()
        });
    }
    let n = images.len();
    let new = images
        .values()
        .filter(|i| i.status(args.check) == Status::New)
        .count();
    if args.check {
        eprintln!(
            "{}: all {n} image{} pinned as the registry serves them",
            args.lock.display(),
            plural(n)
        );
    } else if written {
        eprintln!(
            "wrote {} ({n} image{}, {new} newly pinned)",
            args.lock.display(),
            plural(n)
        );
    } else {
        eprintln!(
            "{}: already pinned ({n} image{})",
            args.lock.display(),
            plural(n)
        );
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn read_lock(path: &Path) -> Result<Lock, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => Lock::parse(&text, &path.display().to_string())
            .map_err(|e| Failure::usage(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Failure::usage(format!("{} does not exist", path.display()))
                .hint("run `bundle solve` first, or point --lock at a lock file"))
        }
        Err(e) => Err(Failure::usage(format!("{}: {e}", path.display()))),
    }
}

/// Writes `text` to a temporary file next to `path`, then renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".pin-{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Failure::usage(format!("{}: {e}", path.display()))
        })
}
