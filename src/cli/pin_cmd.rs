//! `bundle pin`: resolve every image, chart and release manifest in the lock to its digest and write
//! the digests into the lock; charts and manifests are fetched into the cache on the way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::Failure;
use super::lockfile::{fill_artifacts, read_lock, write_lock};
use super::progress::Draw;
use super::registry::{ArtifactArgs, Connected, RegistryArgs};
use super::style::Style;
use super::table::render;
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::oci::{Layout, PullError, ResolveError, RetryPolicy};
use crate::pin::{self, ArtifactError, Mode, Resolved};
use crate::render::helm::Helm;
use crate::types::{ChartRef, Digest, ImageRef, Version};

/// Arguments of `bundle pin`.
#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The lock to pin.
    #[arg(long, default_value = "bundle.lock", value_name = "PATH")]
    lock: PathBuf,
    /// Only verify: exit 1 if an image, chart or manifest has no digest or upstream serves another.
    /// Writes no lock.
    #[arg(long)]
    check: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PinFormat::Text)]
    format: PinFormat,
    /// No progress on standard error (bars on a terminal, lines otherwise).
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    artifacts: ArtifactArgs,
    #[command(flatten)]
    signatures: super::pin_signatures::PinSignatureArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum PinFormat {
    Text,
    Json,
}

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Image,
    Chart,
    Manifest,
}

/// Why a row failed.
enum RowError {
    Pull(PullError),
    Artifact(ArtifactError),
}

impl RowError {
    fn pull(&self) -> Option<&PullError> {
        match self {
            RowError::Pull(p) | RowError::Artifact(ArtifactError::Pull(p)) => Some(p),
            RowError::Artifact(ArtifactError::Repository(e)) => match e.as_ref() {
                ArtifactError::Pull(p) => Some(p),
                _ => None,
            },
            RowError::Artifact(_) => None,
        }
    }

    fn failure(&self) -> Failure {
        match self {
            RowError::Pull(p) => Failure::from(p),
            RowError::Artifact(a) => Failure::from(a),
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowError::Pull(e) => e.fmt(f),
            RowError::Artifact(e) => e.fmt(f),
        }
    }
}

/// One distinct image, chart or manifest of the lock and what upstream said.
struct Row {
    kind: Kind,
    /// The image reference, the chart (`NAME VERSION (REPOSITORY)`) or the manifest's URL.
    name: String,
    users: Vec<(String, Version)>,
    locked: Option<Digest>,
    /// Where it was fetched from (`None` when not asked).
    fetched: Option<String>,
    /// What upstream serves (`None` when not asked, or on error).
    served: Option<Digest>,
    error: Option<RowError>,
    /// The chart, for charts.
    chart: Option<ChartRef>,
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

impl Row {
    fn status(&self, check: bool) -> Status {
        if self.error.is_some() {
            return Status::Error;
        }
        match (self.locked.as_ref(), self.served.as_ref()) {
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
        self.fetched.clone().unwrap_or_else(|| self.name.clone())
    }

    /// `name version` of every component using it.
    fn components(&self) -> String {
        let users: Vec<String> = self.users.iter().map(|(n, v)| format!("{n} {v}")).collect();
        users.join(", ")
    }

    /// What a changed digest means, for this kind.
    fn moved(&self, published: bool) -> &'static str {
        match (self.kind, self.chart.as_ref().is_some_and(ChartRef::is_oci)) {
            (Kind::Image, _) | (Kind::Chart, true) => "tag moved or mirror tampered",
            (Kind::Chart, false) => {
                "the repository re-published the chart with other content, or the mirror serves other content"
            }
            (Kind::Manifest, _) if published => {
                "the catalog's digest is upstream's published checksum: the mirror serves other content, \
                 or upstream changed the file"
            }
            (Kind::Manifest, _) => {
                "the file changed upstream since it was pinned, or the mirror serves other content"
            }
        }
    }
}

pub(super) fn run(
    args: PinArgs,
    catalog: impl Fn() -> Result<Catalog, Failure>,
) -> Result<(), Failure> {
    let read = read_lock(&args.lock)?;
    let signing = match args.signatures.verify {
        true => Some(super::pin_signatures::prepare(
            &args.signatures,
            &read,
            catalog(),
        )?),
        false => None,
    };
    let (lock, published) = fill_from_catalog(read, &catalog)?;
    let context = |f: Failure| f.context(args.lock.display());
    let wanted = pin::images(&lock).map_err(|e| context(e.into()))?;
    let charts = pin::charts(&lock).map_err(|e| context(e.into()))?;
    let manifests = pin::manifests(&lock).map_err(|e| context(e.into()))?;
    let connected = args
        .registry
        .connect(RetryPolicy::default(), &args.artifacts.url_mirrors)?;
    let progress = Draw::new(Style::Pin { check: args.check }, args.quiet);
    let mut rows = image_rows(&args, wanted, &connected, &progress);
    let store = artifact_rows(&args, charts, manifests, &connected, &progress, &mut rows)?;
    let mut failure = report_problems(&rows, &args, &published);
    let cache = args.artifacts.cache.dir().ok();
    let cache = cache.as_deref();
    let pinned = pinned_lock(&lock, &rows);
    let mut signatures = None;
    if let Some(s) = &signing
        && failure.is_none()
    {
        let (outcomes, result) =
            super::pin_signatures::check(s, &pinned, &connected, cache, args.quiet);
        signatures = Some(outcomes);
        failure = result.err();
    }
    // The images the artifacts use, against the catalog's (only when every artifact was fetched).
    let mut unlisted = Vec::new();
    if let Some(store) = &store
        && failure.is_none()
        && !args.check
    {
        let used = check_used_images(&pinned, store, args.quiet, &progress);
        if let Some(f) = report_unlisted(&used) {
            failure = Some(f);
        }
        unlisted = used.unlisted;
    }
    let mut written = false;
    if failure.is_none()
        && !args.check
        && pinned.to_yaml() != std::fs::read_to_string(&args.lock).unwrap_or_default()
    {
        write_lock(&args.lock, &pinned)?;
        written = true;
    }
    let result = Printed {
        ok: failure.is_none(),
        written,
        signatures: signatures.as_deref(),
    };
    print_result(&rows, &unlisted, &args, &result);
    match failure {
        Some(f) => {
            eprint_hints(&f);
            eprintln!(
                "{}",
                if args.check {
                    format!(
                        "{}: not pinned as {} serves it",
                        args.lock.display(),
                        upstream(&rows)
                    )
                } else {
                    format!("{}: left unchanged", args.lock.display())
                }
            );
            Err(f.printed())
        }
        None => {
            say_done(&rows, &args.lock, args.check, written);
            Ok(())
        }
    }
}

/// One row per distinct image of the lock, resolved (with `--check`, only those the lock pins: a
/// missing digest fails anyway).
fn image_rows(
    args: &PinArgs,
    wanted: Vec<pin::Wanted>,
    connected: &Connected,
    progress: &Draw,
) -> Vec<Row> {
    let asked: Vec<ImageRef> = wanted
        .iter()
        .filter(|w| !args.check || w.locked.is_some())
        .map(|w| w.reference.clone())
        .collect();
    let mut resolved: BTreeMap<ImageRef, Resolved> =
        pin::resolve(&connected.registries, &connected.runner, &asked, progress)
            .into_iter()
            .map(|r| (r.reference.clone(), r))
            .collect();
    wanted
        .into_iter()
        .map(|w| {
            let r = resolved.remove(&w.reference);
            let (fetched, served, error) = match r {
                None => (None, None, None),
                Some(r) => match r.result {
                    Ok(d) => (Some(r.fetched), Some(d), None),
                    Err(e) => (Some(r.fetched), None, Some(RowError::Pull(e))),
                },
            };
            Row {
                kind: Kind::Image,
                name: w.reference.to_string(),
                users: w.users,
                locked: w.locked,
                fetched,
                served,
                error,
                chart: None,
            }
        })
        .collect()
}

/// Adds one row per distinct chart and release manifest of the lock, fetched into the cache (with
/// `--check`, only those the lock pins); the cache, when the lock names any.
fn artifact_rows(
    args: &PinArgs,
    charts: Vec<pin::WantedChart>,
    manifests: Vec<pin::WantedManifest>,
    connected: &Connected,
    progress: &Draw,
    rows: &mut Vec<Row>,
) -> Result<Option<Arc<Layout>>, Failure> {
    if charts.is_empty() && manifests.is_empty() {
        return Ok(None);
    }
    let cache = args.artifacts.cache.dir()?;
    let store = Arc::new(Layout::create(&cache).map_err(|e| {
        Failure::usage(format!("the cache: {e}")).hint("name another one with --cache-dir DIR")
    })?);
    let ask_charts: Vec<_> = charts
        .iter()
        .filter(|c| !args.check || c.locked.is_some())
        .cloned()
        .collect();
    let ask_manifests: Vec<_> = manifests
        .iter()
        .filter(|m| !args.check || m.locked.is_some())
        .cloned()
        .collect();
    let mode = if args.check { Mode::Check } else { Mode::Pin };
    let (fc, fm) = pin::fetch(
        &connected.registries,
        &connected.runner,
        &store,
        &ask_charts,
        &ask_manifests,
        mode,
        progress,
    );
    let mut by_chart: BTreeMap<ChartRef, pin::FetchedChart> = fc
        .into_iter()
        .map(|f| (f.wanted.chart.clone(), f))
        .collect();
    for c in charts {
        let f = by_chart.remove(&c.chart);
        let (fetched, served, error) = artifact_result(f.map(|f| (f.fetched, f.result)));
        rows.push(Row {
            kind: Kind::Chart,
            name: c.chart.to_string(),
            users: c.users,
            locked: c.locked,
            fetched,
            served,
            error,
            chart: Some(c.chart),
        });
    }
    let mut by_url: BTreeMap<String, pin::FetchedManifest> =
        fm.into_iter().map(|f| (f.wanted.url.clone(), f)).collect();
    for m in manifests {
        let f = by_url.remove(&m.url);
        let (fetched, served, error) = artifact_result(f.map(|f| (f.fetched, f.result)));
        rows.push(Row {
            kind: Kind::Manifest,
            name: m.url,
            users: m.users,
            locked: m.locked,
            fetched,
            served,
            error,
            chart: None,
        });
    }
    Ok(Some(store))
}

/// `lock` with every digest upstream served.
fn pinned_lock(lock: &Lock, rows: &[Row]) -> Lock {
    let digests_of = |kind: Kind| -> BTreeMap<String, Digest> {
        rows.iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| Some((r.name.clone(), r.served.clone()?)))
            .collect()
    };
    let images: BTreeMap<ImageRef, Digest> = digests_of(Kind::Image)
        .into_iter()
        .filter_map(|(n, d)| Some((ImageRef::parse(&n).ok()?, d)))
        .collect();
    let chart_digests: BTreeMap<ChartRef, Digest> = rows
        .iter()
        .filter_map(|r| Some((r.chart.clone()?, r.served.clone()?)))
        .collect();
    pin::apply_artifacts(
        &pin::apply(lock, &images),
        &chart_digests,
        &digests_of(Kind::Manifest),
    )
}

/// The lock with the charts and manifests of components that name none filled in from the catalog
/// (a version 1 lock names none), and the digests the catalog publishes for manifests (upstream's
/// checksums), by URL. The catalog is read only when some component names no artifact; when it
/// cannot be read, images are still pinned (with a warning).
fn fill_from_catalog(
    lock: Lock,
    catalog: impl FnOnce() -> Result<Catalog, Failure>,
) -> Result<(Lock, BTreeMap<String, Digest>), Failure> {
    let mut published = BTreeMap::new();
    let needs = lock.components.iter().any(|c| !c.has_artifacts())
        || lock
            .components
            .iter()
            .any(|c| c.manifests.iter().any(|m| m.digest.is_some()));
    if !needs {
        return Ok((lock, published));
    }
    let catalog = match catalog() {
        Ok(c) => c,
        Err(f) => {
            eprintln!(
                "warning: the catalog could not be read, so charts and manifests missing from the lock are not \
                 filled in: {}",
                f.message.lines().next().unwrap_or_default()
            );
            return Ok((lock, published));
        }
    };
    for c in &lock.components {
        let Some(release) = catalog
            .component(&c.name)
            .and_then(|x| x.release(&c.version))
        else {
            continue;
        };
        for m in &release.artifacts.manifests {
            if let Some(d) = m
                .sha256
                .as_deref()
                .and_then(|h| Digest::from_sha256_hex(h).ok())
            {
                published.insert(m.url.clone(), d);
            }
        }
    }
    let (filled, names) = fill_artifacts(&lock, &catalog)?;
    if !names.is_empty() && filled != lock {
        eprintln!(
            "charts and manifests from the catalog for {} (the lock named none)",
            names.join(", ")
        );
    }
    Ok((filled, published))
}

type ArtifactOutcome = (Option<String>, Option<Digest>, Option<RowError>);

fn artifact_result(f: Option<(String, Result<pin::Found, ArtifactError>)>) -> ArtifactOutcome {
    match f {
        None => (None, None, None),
        Some((fetched, Ok(found))) => (Some(fetched), Some(found.digest), None),
        Some((fetched, Err(e))) => (Some(fetched), None, Some(RowError::Artifact(e))),
    }
}

fn noun(kind: Kind) -> &'static str {
    match kind {
        Kind::Image => "",
        Kind::Chart => "chart ",
        Kind::Manifest => "manifest ",
    }
}

/// Prints every problem (registry-wide errors once, with what they stop); returns the failure they
/// make, if any (its hints not printed yet).
fn report_problems(
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
fn upstream(rows: &[Row]) -> &'static str {
    if rows.iter().all(|r| r.kind == Kind::Image) {
        "the registry"
    } else {
        "upstream"
    }
}

/// Renders every chart (with `helm`, when there is one) and reads every release manifest of `lock`
/// from `store`, collecting the images they use ([`pin::used_images`]); says when `helm` is missing.
fn check_used_images(
    lock: &Lock,
    store: &Layout,
    quiet: bool,
    progress: &dyn crate::progress::Progress,
) -> pin::UsedImages {
    let has_charts = lock.components.iter().any(|c| !c.charts.is_empty());
    let helm = if has_charts {
        match Helm::find() {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!(
                    "note: the images the charts use are not checked against the catalog (release manifests \
                     are): {}",
                    e.to_string().lines().next().unwrap_or_default()
                );
                None
            }
        }
    } else {
        None
    };
    let used = pin::used_images(lock, store, helm.as_ref(), progress);
    if !quiet {
        eprintln!(
            "checked the images of {} chart{} and {} release manifest{} against the catalog",
            used.charts,
            plural(used.charts),
            used.manifests,
            plural(used.manifests)
        );
    }
    for w in &used.unchecked {
        eprintln!("warning: {w}");
    }
    used
}

/// Prints every image an artifact uses that the catalog does not list; the failure they make.
fn report_unlisted(used: &pin::UsedImages) -> Option<Failure> {
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

/// The JSON document or the tables on standard output.
/// How a pin ended, for [`print_result`].
struct Printed<'a> {
    ok: bool,
    written: bool,
    /// Upstream's signatures per image (`--verify-signatures`; `None`: not checked).
    signatures: Option<&'a [(String, crate::signatures::Verdict)]>,
}

fn print_result(rows: &[Row], unlisted: &[pin::Unlisted], args: &PinArgs, result: &Printed<'_>) {
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
                    .map(|(image, v)| super::signing::outcome_json(image, v))
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

fn eprint_hints(f: &Failure) {
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
fn say_done(rows: &[Row], lock: &Path, check: bool, written: bool) {
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

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
