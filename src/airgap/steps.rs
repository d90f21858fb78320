//! A plan bundle's step locks (`bundle export --plan DIR`, `airgap/FORMAT.md` section 11) and, for
//! each step, whether the bundle holds every chart and release manifest that step's lock names, at
//! the lock's digest: what `bundle inspect` lists per step and `bundle verify` checks, so that a
//! site walking the plan one step at a time knows before it starts that every step can be rendered
//! from the bundle.
//!
//! A chart is held when the bundle has a chart entry of that name whose digest is the lock's (an
//! OCI chart: its manifest digest), or whose chart layer is (a classic chart: the `.tgz`); a
//! release manifest when the component version's release manifests artifact has a layer of the
//! lock's digest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;

use super::format::{
    EntryKind, PLAN_MEDIA_TYPE, entry_name, is_platform_artifact, release_manifests_name,
};
use super::scan::{self, Scan};
use crate::lock::Lock;
use crate::oci::chart::chart_layer;
use crate::oci::wire::{Index, Manifest};

/// The largest plan layer read (a tar of step locks).
const MAX_PLAN_BYTES: u64 = 64 << 20;

/// One chart or release manifest a step needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// [`EntryKind::Chart`] or [`EntryKind::ReleaseManifests`].
    pub kind: EntryKind,
    /// The entry that holds it (`REGISTRY/REPOSITORY:TAG`).
    pub entry: String,
    /// A chart as the lock names it (`NAME VERSION (REPOSITORY)`), or a release manifest's URL.
    pub what: String,
    /// The lock's digest (`None`: the step lock has none).
    pub digest: Option<String>,
    /// Whether the bundle holds it at that digest.
    pub present: bool,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The step lock's file name (`01-….lock`).
    pub name: String,
    /// Its Kubernetes version.
    pub kubernetes: String,
    /// Every chart and release manifest it names, in lock order.
    pub needs: Vec<Need>,
}

impl Step {
    /// What the step needs that the bundle does not hold.
    pub fn missing(&self) -> impl Iterator<Item = &Need> {
        self.needs.iter().filter(|n| !n.present)
    }

    /// Its charts and its release manifests, counted.
    pub fn counts(&self) -> (usize, usize) {
        let charts = self
            .needs
            .iter()
            .filter(|n| n.kind == EntryKind::Chart)
            .count();
        (charts, self.needs.len() - charts)
    }
}

/// What the bundle holds of charts and release manifests, by entry name.
#[derive(Default)]
struct Held {
    /// Chart entry → its manifest digest and its chart layer's digest.
    charts: BTreeMap<String, (String, Option<String>)>,
    /// Release manifests entry → its layers' digests.
    manifests: BTreeMap<String, BTreeSet<String>>,
}

impl Held {
    fn of(scan: &Scan, index: &Index) -> Held {
        let mut held = Held::default();
        for d in &index.manifests {
            let Some(name) = entry_name(d) else { continue };
            let doc = scan
                .document(&d.digest)
                .and_then(|b| serde_json::from_slice::<Manifest>(b).ok());
            match EntryKind::of(d) {
                EntryKind::Chart => {
                    let layer = doc
                        .as_ref()
                        .and_then(|m| chart_layer(m).ok())
                        .map(|l| l.digest.clone());
                    held.charts
                        .insert(name.to_string(), (d.digest.clone(), layer));
                }
                EntryKind::ReleaseManifests => {
                    let layers = doc
                        .map(|m| m.layers.into_iter().map(|l| l.digest).collect())
                        .unwrap_or_default();
                    held.manifests.insert(name.to_string(), layers);
                }
                _ => {}
            }
        }
        held
    }
}

/// The step locks of the bundle at `path` (already scanned: `scan`, its `index`), each with what it
/// needs; empty for a bundle that is not a plan's. An error when the plan layer is there but cannot
/// be read.
pub fn read(path: &Path, scan: &Scan, index: &Index) -> Result<Vec<Step>, String> {
    let Some(layer) = index
        .manifests
        .iter()
        .find(|d| is_platform_artifact(d))
        .and_then(|d| scan.document(&d.digest))
        .and_then(|b| serde_json::from_slice::<Manifest>(b).ok())
        .and_then(|m| {
            m.layers
                .into_iter()
                .find(|l| l.media_type == PLAN_MEDIA_TYPE)
        })
    else {
        return Ok(Vec::new());
    };
    let digest = layer
        .digest()
        .map_err(|_| format!("the plan layer's digest {:?} is not sha256", layer.digest))?;
    if layer.size > MAX_PLAN_BYTES {
        return Err(format!(
            "the plan layer is {} bytes (at most {MAX_PLAN_BYTES} are read)",
            layer.size
        ));
    }
    let found = scan::fetch(path, &BTreeSet::from([digest.clone()]), MAX_PLAN_BYTES)
        .map_err(|e| e.to_string())?;
    let bytes = found
        .get(&digest)
        .ok_or_else(|| format!("the plan layer {digest} is missing or corrupt"))?;
    let held = Held::of(scan, index);
    let mut steps = Vec::new();
    for (name, text) in untar(bytes)? {
        let lock = Lock::parse(&text, &format!("plan.tar:{name}")).map_err(|e| e.to_string())?;
        steps.push(step(name, &lock, &held));
    }
    Ok(steps)
}

/// The files of a tar held in memory, by name, in order (only regular files; nothing is written).
fn untar(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let bad = |e: std::io::Error| format!("the plan layer is not a readable tar: {e}");
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(bad)?.display().to_string();
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| format!("plan.tar:{name}: {e}"))?;
        out.push((name, text));
    }
    Ok(out)
}

fn step(name: String, lock: &Lock, held: &Held) -> Step {
    let mut needs = Vec::new();
    for c in &lock.components {
        for ch in &c.charts {
            let entry = ch.chart.reference().to_string();
            let digest = ch.digest.as_ref().map(|d| d.to_string());
            let present = match (held.charts.get(&entry), &digest) {
                (Some((manifest, layer)), Some(d)) => match ch.chart.is_oci() {
                    true => manifest == d,
                    false => layer.as_ref() == Some(d),
                },
                _ => false,
            };
            needs.push(Need {
                kind: EntryKind::Chart,
                entry,
                what: ch.chart.to_string(),
                digest,
                present,
            });
        }
        let entry = release_manifests_name(&c.name, &c.version.to_string());
        for m in &c.manifests {
            let digest = m.digest.as_ref().map(|d| d.to_string());
            let present = digest
                .as_ref()
                .is_some_and(|d| held.manifests.get(&entry).is_some_and(|l| l.contains(d)));
            needs.push(Need {
                kind: EntryKind::ReleaseManifests,
                entry: entry.clone(),
                what: m.url.clone(),
                digest,
                present,
            });
        }
    }
    Step {
        name,
        kubernetes: lock.kubernetes.to_string(),
        needs,
    }
}

/// The steps as JSON (for `inspect --format json`).
pub fn to_json(steps: &[Step]) -> serde_json::Value {
    serde_json::Value::Array(
        steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "kubernetes": s.kubernetes,
                    "needs": s.needs.iter().map(|n| serde_json::json!({
                        "kind": n.kind.noun(),
                        "entry": n.entry,
                        "what": n.what,
                        "digest": n.digest,
                        "present": n.present,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// One line per step, for `inspect`'s table: its Kubernetes version, how many charts and release
/// manifests it needs, and whether the bundle holds them all (else which not).
pub fn lines(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| {
            let (charts, manifests) = s.counts();
            let missing: Vec<String> = s.missing().map(|n| n.what.clone()).collect();
            let held = match missing.is_empty() {
                true => "all in the bundle".to_string(),
                false => format!("MISSING: {}", missing.join(", ")),
            };
            format!(
                "step {}: kubernetes {}, {charts} chart(s), {manifests} release manifest(s), {held}",
                s.name, s.kubernetes
            )
        })
        .collect()
}
