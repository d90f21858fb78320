//! `bundle pin`: resolve every image, chart and release manifest in the lock to its digest and write
//! the digests into the lock; charts and manifests are fetched into the cache on the way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::Failure;
use super::lockfile::{fill_artifacts, read_lock, write_lock};
use super::progress::Draw;
use super::registry::{ArtifactArgs, Connected, RegistryArgs};
use super::style::Style;
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::oci::{Layout, RetryPolicy};
use crate::pin::{self, Mode, Resolved};
use crate::render::helm::Helm;
use crate::types::{ChartRef, Digest, ImageRef};

mod report;
mod rows;

use report::{
    Printed, eprint_hints, plural, print_result, report_problems, report_unlisted, say_done,
    upstream,
};
use rows::{Kind, Row, RowError, artifact_result};

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
