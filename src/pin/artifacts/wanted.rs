//! What a lock asks for: every distinct chart and release manifest, who uses it, the digest it holds.

use crate::lock::Lock;
use crate::pin::PinError;
use crate::types::{ChartRef, Digest, Version};

/// One distinct chart of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedChart {
    /// Repository, name and version.
    pub chart: ChartRef,
    /// The components that use it, with their versions, in lock order.
    pub users: Vec<(String, Version)>,
    /// The digest the lock holds for it, if any.
    pub locked: Option<Digest>,
}

/// One distinct release manifest of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedManifest {
    /// Where upstream publishes it.
    pub url: String,
    /// The components that use it, with their versions, in lock order.
    pub users: Vec<(String, Version)>,
    /// The digest the lock holds for it, if any.
    pub locked: Option<Digest>,
}

/// Adds a user and a locked digest to an entry; refuses two digests for one artifact.
fn add(
    users: &mut Vec<(String, Version)>,
    locked: &mut Option<Digest>,
    (name, version): (&str, &Version),
    digest: &Option<Digest>,
    what: &str,
) -> Result<(), PinError> {
    if !users.iter().any(|(n, _)| n == name) {
        users.push((name.to_string(), version.clone()));
    }
    match (&*locked, digest) {
        (Some(a), Some(b)) if a != b => Err(PinError::TwoDigests {
            reference: what.to_string(),
            first: a.to_string(),
            second: b.to_string(),
        }),
        (None, Some(b)) => {
            *locked = Some(b.clone());
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Every distinct chart of `lock`, in lock order; refused when one is locked with two digests.
pub fn charts(lock: &Lock) -> Result<Vec<WantedChart>, PinError> {
    let mut out: Vec<WantedChart> = Vec::new();
    for c in &lock.components {
        for ch in &c.charts {
            let i = match out.iter().position(|w| w.chart == ch.chart) {
                Some(i) => i,
                None => {
                    out.push(WantedChart {
                        chart: ch.chart.clone(),
                        users: Vec::new(),
                        locked: None,
                    });
                    out.len() - 1
                }
            };
            let w = &mut out[i];
            let what = ch.chart.to_string();
            add(
                &mut w.users,
                &mut w.locked,
                (&c.name, &c.version),
                &ch.digest,
                &what,
            )?;
        }
    }
    Ok(out)
}

/// Every distinct release manifest of `lock`, in lock order; refused when one is locked with two
/// digests.
pub fn manifests(lock: &Lock) -> Result<Vec<WantedManifest>, PinError> {
    let mut out: Vec<WantedManifest> = Vec::new();
    for c in &lock.components {
        for m in &c.manifests {
            let i = match out.iter().position(|w| w.url == m.url) {
                Some(i) => i,
                None => {
                    out.push(WantedManifest {
                        url: m.url.clone(),
                        users: Vec::new(),
                        locked: None,
                    });
                    out.len() - 1
                }
            };
            let w = &mut out[i];
            add(
                &mut w.users,
                &mut w.locked,
                (&c.name, &c.version),
                &m.digest,
                &m.url,
            )?;
        }
    }
    Ok(out)
}
