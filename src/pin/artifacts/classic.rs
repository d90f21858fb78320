//! Charts from classic Helm repositories: each repository's `index.yaml` fetched once per run, the
//! chart's entry found in it, its `.tgz` downloaded into the store and checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::content::{check_metadata, in_store};
use super::{ArtifactError, Ctx, Found, MAX_CHART_BYTES, Mode, WantedChart};
use crate::jobs::{Flow, Runner};
use crate::oci::chart::metadata_of_archive;
use crate::oci::{PullError, Registries};
use crate::progress::{Outcome, Phase, PhaseReport, Progress};
use crate::types::Digest;

/// One entry of a classic repository's `index.yaml` (the fields used here).
#[derive(Debug, Clone, Deserialize)]
struct IndexEntry {
    #[serde(default)]
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RepoIndex {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

/// A repository index as fetched: where from, and its entries.
pub(super) struct FetchedIndex {
    fetched: String,
    index: RepoIndex,
}

/// Fetches and reads each classic repository's `index.yaml` once ([`Phase::ChartIndexes`]).
pub(super) fn fetch_indexes(
    registries: &Arc<Registries>,
    runner: &Runner,
    urls: BTreeSet<String>,
    progress: &dyn Progress,
) -> BTreeMap<String, Result<Arc<FetchedIndex>, Arc<ArtifactError>>> {
    let mut out = BTreeMap::new();
    if urls.is_empty() {
        return out;
    }
    let report = PhaseReport::start(progress, Phase::ChartIndexes, urls.len(), 0);
    runner.run(
        urls,
        |url| {
            report.started(&url, None);
            let registries = registries.clone();
            async move {
                let result = index(&registries, &url)
                    .await
                    .map(Arc::new)
                    .map_err(Arc::new);
                (url, result)
            }
        },
        |(url, result)| {
            let outcome = if result.is_ok() {
                Outcome::Done
            } else {
                Outcome::Failed
            };
            report.finished(&url, outcome, 0, 0);
            out.insert(url, result);
            Flow::Continue
        },
    );
    report.end();
    out
}

async fn index(registries: &Registries, url: &str) -> Result<FetchedIndex, ArtifactError> {
    let index = crate::input::Kind::Index;
    let (bytes, fetched) = match registries.download_small(url, index.limit()).await {
        Ok(got) => got,
        Err(e @ PullError::TooLarge { .. }) => {
            return Err(ArtifactError::BadIndex {
                index: registries.fetched_url(url),
                detail: format!("{e}; {}", index.raise_hint()),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let parsed = tokio::task::spawn_blocking(move || parse_index(&bytes))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    match parsed {
        Ok(index) => Ok(FetchedIndex { fetched, index }),
        Err(detail) => Err(ArtifactError::BadIndex {
            index: fetched,
            detail,
        }),
    }
}

fn parse_index(bytes: &[u8]) -> Result<RepoIndex, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    crate::oci::chart::from_yaml(text)
}

/// `url` of an index entry, resolved against the repository (as Helm does: relative to the
/// repository's URL, absolute when it has a scheme).
fn resolve_url(repository: &str, url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    if let Some(path) = url.strip_prefix('/') {
        let after_scheme = repository.find("://").map_or(0, |i| i + 3);
        let host_end = repository[after_scheme..]
            .find('/')
            .map_or(repository.len(), |i| after_scheme + i);
        return format!("{}/{path}", &repository[..host_end]);
    }
    format!("{}/{url}", repository.trim_end_matches('/'))
}

pub(super) async fn classic_chart(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedChart,
) -> (String, Result<Found, ArtifactError>) {
    let index_url = wanted.chart.index_url().unwrap_or_default();
    if ctx.mode == Mode::Locked
        && let Some(l) = &wanted.locked
    {
        match in_store(&ctx.store, l).await {
            Ok(true) => {
                let found = Found {
                    digest: l.clone(),
                    stored: true,
                    downloaded: 0,
                };
                return (registries.fetched_url(&index_url), Ok(found));
            }
            Ok(false) => {}
            Err(e) => return (registries.fetched_url(&index_url), Err(e)),
        }
    }
    let index = match ctx.indexes.get(&index_url) {
        Some(Ok(i)) => i.clone(),
        Some(Err(e)) => {
            let fetched = registries.fetched_url(&index_url);
            return (fetched, Err(ArtifactError::Repository(e.clone())));
        }
        None => {
            let fetched = registries.fetched_url(&index_url);
            let e = ArtifactError::BadIndex {
                index: fetched.clone(),
                detail: "not fetched".to_string(),
            };
            return (fetched, Err(e));
        }
    };
    let versions = index.index.entries.get(wanted.chart.name());
    let Some(entry) = versions.and_then(|v| v.iter().find(|e| e.version == wanted.chart.version()))
    else {
        let near = versions
            .map(|v| v.iter().take(5).map(|e| e.version.clone()).collect())
            .unwrap_or_default();
        let e = ArtifactError::NotInIndex {
            index: index.fetched.clone(),
            name: wanted.chart.name().to_string(),
            version: wanted.chart.version().to_string(),
            near,
        };
        return (index.fetched.clone(), Err(e));
    };
    let Some(first) = entry.urls.first() else {
        let e = ArtifactError::BadIndex {
            index: index.fetched.clone(),
            detail: format!(
                "the entry for {} {} has no urls",
                wanted.chart.name(),
                wanted.chart.version()
            ),
        };
        return (index.fetched.clone(), Err(e));
    };
    let url = resolve_url(wanted.chart.repository(), first);
    let fetched = registries.fetched_url(&url);
    let published = match entry.digest.as_deref().filter(|d| !d.is_empty()) {
        None => None,
        Some(hex) => match Digest::from_sha256_hex(hex.trim_start_matches("sha256:")) {
            Ok(d) => Some(d),
            Err(e) => {
                let e = ArtifactError::BadIndex {
                    index: index.fetched.clone(),
                    detail: format!(
                        "the digest of {} {} is not a sha256: {e}",
                        wanted.chart.name(),
                        wanted.chart.version()
                    ),
                };
                return (fetched, Err(e));
            }
        },
    };
    let result = classic_content(registries, ctx, wanted, &url, &fetched, published).await;
    (fetched, result)
}

async fn classic_content(
    registries: &Registries,
    ctx: &Ctx,
    wanted: &WantedChart,
    url: &str,
    fetched: &str,
    published: Option<Digest>,
) -> Result<Found, ArtifactError> {
    let stored = |digest: Digest| Found {
        digest,
        stored: true,
        downloaded: 0,
    };
    // What can be said without downloading the .tgz.
    match (ctx.mode, &wanted.locked, &published) {
        (Mode::Locked, Some(l), _) if in_store(&ctx.store, l).await? => {
            return Ok(stored(l.clone()));
        }
        (Mode::Check, _, Some(p)) => {
            return Ok(Found {
                digest: p.clone(),
                stored: in_store(&ctx.store, p).await?,
                downloaded: 0,
            });
        }
        (Mode::Pin, Some(l), Some(p)) if l != p => {
            return Ok(Found {
                digest: p.clone(),
                stored: false,
                downloaded: 0,
            });
        }
        (Mode::Pin, _, Some(p)) if in_store(&ctx.store, p).await? => return Ok(stored(p.clone())),
        _ => {}
    }
    let got = registries
        .download(url, &ctx.store, MAX_CHART_BYTES)
        .await?;
    if let Some(p) = published.filter(|p| *p != got.digest) {
        return Err(ArtifactError::IndexDigest {
            fetched: fetched.to_string(),
            published: p,
            actual: got.digest,
        });
    }
    if ctx.mode == Mode::Locked
        && let Some(l) = wanted.locked.as_ref().filter(|l| **l != got.digest)
    {
        return Err(ArtifactError::Changed {
            fetched: fetched.to_string(),
            locked: l.clone(),
            actual: got.digest,
        });
    }
    let path: PathBuf = ctx
        .store
        .blob_path(&got.digest)
        .map_err(|e| ArtifactError::Store {
            path: ctx.store.root().display().to_string(),
            detail: e.to_string(),
        })?;
    let metadata = tokio::task::spawn_blocking(move || metadata_of_archive(&path).map_err(|e| e.0))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    check_metadata(fetched, &wanted.chart, metadata)?;
    Ok(Found {
        digest: got.digest,
        stored: true,
        downloaded: got.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_against_the_repository() {
        let repo = "https://charts.example.io/stable";
        assert_eq!(
            resolve_url(repo, "charts/x-1.0.0.tgz"),
            "https://charts.example.io/stable/charts/x-1.0.0.tgz"
        );
        assert_eq!(
            resolve_url(repo, "/dl/x-1.0.0.tgz"),
            "https://charts.example.io/dl/x-1.0.0.tgz"
        );
        assert_eq!(
            resolve_url(repo, "https://github.com/o/r/releases/download/v1/x.tgz"),
            "https://github.com/o/r/releases/download/v1/x.tgz"
        );
    }

    #[test]
    fn index_entries_are_read_leniently() {
        let index = parse_index(
            b"apiVersion: v1\nentries:\n  x:\n    - version: 1.0.0\n      urls: [x-1.0.0.tgz]\n      digest: abc\n      created: 2024-01-01T00:00:00Z\n      maintainers: [{name: a}]\ngenerated: now\n",
        )
        .unwrap();
        let e = &index.entries["x"][0];
        assert_eq!((e.version.as_str(), e.urls.len()), ("1.0.0", 1));
        assert_eq!(e.digest.as_deref(), Some("abc"));
        assert!(parse_index(b"entries: [").is_err());
    }
}
