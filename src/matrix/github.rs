//! `--format github`: a GitHub Actions `strategy.matrix`, one entry per minor whose platform solves.

use serde::Serialize;

use super::json::OrderedMap;
use super::{Matrix, Platform};

#[derive(Serialize)]
struct Strategy {
    include: Vec<Entry>,
}

#[derive(Serialize)]
struct Entry {
    kubernetes: String,
    minor: String,
    components: OrderedMap<String>,
}

/// `{"include":[{"kubernetes":"1.35.9","minor":"1.35","components":{"cert-manager":"1.21.2",…}},…]}`
/// on one line (so it fits `echo "matrix=…" >> "$GITHUB_OUTPUT"`), with a final newline.
pub fn to_github(m: &Matrix) -> String {
    let include = m
        .minors
        .iter()
        .zip(&m.platforms)
        .filter_map(|(minor, p)| match p {
            Platform::Solved {
                kubernetes,
                components,
            } => Some(Entry {
                kubernetes: kubernetes.to_string(),
                minor: minor.name.clone(),
                components: OrderedMap(
                    components
                        .iter()
                        .map(|c| (c.name.clone(), c.version.to_string()))
                        .collect(),
                ),
            }),
            Platform::Conflict { .. } => None,
        })
        .collect();
    let mut s = serde_json::to_string(&Strategy { include }).unwrap_or_default();
    s.push('\n');
    s
}
