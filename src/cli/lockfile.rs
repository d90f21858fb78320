//! The lock file on disk: one `read_lock`, one `write_lock` for every command, and the lock of a
//! solution (the one place that knows the solver, the catalog and the lock together).

use std::path::Path;

use super::Failure;
use crate::catalog::Catalog;
use crate::catalog::Release;
use crate::lock::{Lock, LockedChart, LockedComponent, LockedImage, LockedManifest, LockedRequest};
use crate::solver::{Chosen, Request, Solution};
use crate::types::{ChartRef, Digest, ImageRef, Version};

/// Reads the lock at `path`; a missing file is bad input, with a hint that says how to make one.
pub(crate) fn read_lock(path: &Path) -> Result<Lock, Failure> {
    read_lock_if_present(path)?.ok_or_else(|| {
        Failure::usage(format!("{} does not exist", path.display()))
            .hint("run `bundle solve` first, or point --lock at a lock file")
    })
}

/// Reads the lock at `path`, `None` when there is no file there. A bundle written by `bundle export`
/// (directory, .tar, .tar.zst) gives the lock it carries.
pub(crate) fn read_lock_if_present(path: &Path) -> Result<Option<Lock>, Failure> {
    if crate::airgap::carried::is_bundle(path) {
        return crate::airgap::carried::lock(path)
            .map(Some)
            .map_err(|e| Failure::usage(format!("the bundle's lock could not be read: {e}")));
    }
    match crate::input::read_text(path, crate::input::Kind::Lock) {
        Ok(text) => Lock::parse(&text, &path.display().to_string())
            .map(Some)
            .map_err(Failure::from),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `lock` to `path` with [`write_file`]; never over a bundle.
pub(crate) fn write_lock(path: &Path, lock: &Lock) -> Result<(), Failure> {
    if crate::airgap::carried::is_bundle(path) {
        return Err(Failure::usage(format!(
            "{} is a bundle: its lock is read, never rewritten",
            path.display()
        ))
        .hint("write the lock elsewhere with `-o PATH`, or use --locked to compare with the bundle's lock"));
    }
    write_file(path, lock.to_yaml().as_bytes())
}

/// Writes a file the user named: to a temporary file next to `path`, then renamed over it, so that a
/// reader never sees half a file and a failed write leaves the old one. A path that is not a regular
/// file (`/dev/null`, a fifo, `/dev/stdout`) is written as it is, never replaced.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    // A full disk is a failed operation (exit 1); a path that cannot be written, bad usage (2).
    let failed = |e: std::io::Error| {
        let message = format!("{}: {e}", path.display());
        use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
        if matches!(e.kind(), StorageFull | FileTooLarge | QuotaExceeded) {
            Failure::failed(message)
                .hint("free some space and run the same command again (the old file is kept)")
        } else {
            Failure::usage(message)
        }
    };
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return std::fs::write(path, bytes).map_err(failed);
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            failed(e)
        })
}

/// The lock for a solution: the chosen versions with their images, charts and release manifests
/// from the catalog, each reference normalised and each published digest validated here, where
/// catalog data enters the lock.
pub(crate) fn lock_of(
    catalog: &Catalog,
    request: &Request,
    as_of_given: bool,
    solution: &Solution,
) -> Result<Lock, Failure> {
    let components = solution
        .components
        .iter()
        .map(|c| locked_component(catalog, &c.name, &c.version))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Lock {
        catalog: catalog.digest.clone(),
        request: LockedRequest {
            kubernetes: request.kubernetes.clone(),
            with: request.with.clone(),
            without: request.without.clone(),
            allow_eol: request.allow_eol,
            allow_untested: request.allow_untested,
            as_of: as_of_given.then_some(request.as_of),
        },
        kubernetes: solution.kubernetes.clone(),
        components,
    })
}

/// One component of a lock at `version`, with its images, charts and release manifests from the
/// catalog (none when the catalog does not have that exact version).
pub(crate) fn locked_component(
    catalog: &Catalog,
    name: &str,
    version: &Version,
) -> Result<LockedComponent, Failure> {
    let release = catalog.component(name).and_then(|x| x.release(version));
    let mut images = Vec::new();
    for i in release.map(|r| r.images.as_slice()).unwrap_or_default() {
        let bad = |e: String| {
            Failure::usage(format!(
                "the catalog's {name} {version}: image `{}`: {e}",
                i.reference
            ))
            .hint("`bundle catalog check` lists what is wrong with the catalog")
        };
        let reference = ImageRef::parse(&i.reference).map_err(|e| bad(e.reason.to_string()))?;
        let digest = match &i.digest {
            Some(d) => Some(Digest::parse_sha256(d).map_err(|e| bad(e.to_string()))?),
            None => None,
        };
        images.push(LockedImage { reference, digest });
    }
    images.sort_by_key(|i| i.reference.to_string());
    let (charts, manifests) = match release {
        Some(r) => artifacts_of(name, version, r)?,
        None => (Vec::new(), Vec::new()),
    };
    Ok(LockedComponent {
        name: name.to_string(),
        version: version.clone(),
        untested: release.is_some_and(|r| r.kubernetes.is_untested()),
        images,
        charts,
        manifests,
    })
}

/// The charts and release manifests the catalog names for `name` `version`, in its order, as the lock
/// holds them (a manifest's published sha256 becomes its digest).
pub(crate) fn artifacts_of(
    name: &str,
    version: &Version,
    release: &Release,
) -> Result<(Vec<LockedChart>, Vec<LockedManifest>), Failure> {
    let bad = |e: String| {
        Failure::usage(format!("the catalog's {name} {version}: {e}"))
            .hint("`bundle catalog check` lists what is wrong with the catalog")
    };
    let mut charts = Vec::new();
    for ch in &release.artifacts.charts {
        let chart = ChartRef::parse(&ch.repository, &ch.name, &ch.version)
            .map_err(|e| bad(e.to_string()))?;
        charts.push(LockedChart {
            chart,
            digest: None,
        });
    }
    let mut manifests = Vec::new();
    for m in &release.artifacts.manifests {
        let digest = match &m.sha256 {
            Some(hex) => Some(
                Digest::from_sha256_hex(hex)
                    .map_err(|e| bad(format!("manifest {}: sha256: {e}", m.url)))?,
            ),
            None => None,
        };
        manifests.push(LockedManifest {
            url: m.url.clone(),
            digest,
        });
    }
    Ok((charts, manifests))
}

/// `lock` with the charts and manifests of every component that names none filled in from the
/// catalog (a version 1 lock names none; `bundle pin` upgrades it), and the components filled.
/// Components the catalog does not know at their version are left as they are.
pub(crate) fn fill_artifacts(
    lock: &Lock,
    catalog: &Catalog,
) -> Result<(Lock, Vec<String>), Failure> {
    let mut filled = lock.clone();
    let mut names = Vec::new();
    for c in &mut filled.components {
        if c.has_artifacts() {
            continue;
        }
        let Some(release) = catalog
            .component(&c.name)
            .and_then(|x| x.release(&c.version))
        else {
            continue;
        };
        let (charts, manifests) = artifacts_of(&c.name, &c.version, release)?;
        if !charts.is_empty() || !manifests.is_empty() {
            c.charts = charts;
            c.manifests = manifests;
            names.push(c.name.clone());
        }
    }
    Ok((filled, names))
}

/// The chosen versions of a lock, for `why` and minimal-change re-solves.
pub(crate) fn chosen(lock: &Lock) -> Vec<Chosen> {
    lock.components
        .iter()
        .map(|c| Chosen {
            name: c.name.clone(),
            version: c.version.clone(),
        })
        .collect()
}
