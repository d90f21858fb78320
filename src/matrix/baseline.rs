//! `--baseline OLD.json`: what changed since an earlier matrix, and which changes are regressions.

use std::fmt;

use super::json::{MatrixFile, ReadError};
use crate::types::Version;

/// How a cell changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Had a version, has none now (regression).
    Lost,
    /// Went to an older version (regression).
    Older,
    /// The component is no longer in the catalog (regression).
    ComponentGone,
    /// The Kubernetes minor is no longer in the catalog (regression).
    MinorGone,
    /// Had a tested version, has only an untested one now (regression).
    Untested,
    /// Went to a newer version.
    Newer,
    /// Had no version, has one now.
    Gained,
    /// Had only an untested version, has a tested one now.
    Tested,
}

impl ChangeKind {
    /// Whether this change is a regression.
    pub fn is_regression(self) -> bool {
        matches!(
            self,
            ChangeKind::Lost
                | ChangeKind::Older
                | ChangeKind::ComponentGone
                | ChangeKind::MinorGone
                | ChangeKind::Untested
        )
    }
}

/// One changed cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Component (row).
    pub component: String,
    /// Kubernetes minor (column).
    pub minor: String,
    /// Version in the baseline.
    pub old: Option<String>,
    /// Version now.
    pub new: Option<String>,
    /// What happened.
    pub kind: ChangeKind,
    /// Why there is no version now, when there is none.
    pub reason: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".to_string());
        write!(
            f,
            "{} on Kubernetes {}: {} -> {}",
            self.component,
            self.minor,
            v(&self.old),
            v(&self.new)
        )?;
        match self.kind {
            ChangeKind::Lost => match &self.reason {
                Some(r) => write!(f, " (lost: {r})"),
                None => write!(f, " (lost)"),
            },
            ChangeKind::Older => write!(f, " (older)"),
            ChangeKind::ComponentGone => write!(f, " (the component is no longer in the catalog)"),
            ChangeKind::MinorGone => write!(
                f,
                " (Kubernetes {} is no longer in the catalog)",
                self.minor
            ),
            ChangeKind::Untested => write!(f, " (now untested)"),
            ChangeKind::Newer => write!(f, " (newer)"),
            ChangeKind::Gained => write!(f, " (gained)"),
            ChangeKind::Tested => write!(f, " (now tested)"),
        }
    }
}

/// The result of comparing a matrix with its baseline.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Cells that lost their version or went older.
    pub regressions: Vec<Change>,
    /// Cells that gained a version or went newer.
    pub improvements: Vec<Change>,
    /// How many baseline cells were compared.
    pub compared: usize,
    /// Baseline minors outside the new matrix's `--kubernetes` range (not compared).
    pub skipped_minors: Vec<String>,
}

fn parse(v: &str, component: &str, minor: &str) -> Result<Version, ReadError> {
    Version::parse_strict(v).map_err(|e| {
        ReadError::Malformed(format!("components.{component}.cells.{minor}.version: {e}"))
    })
}

/// Compares `new` with the earlier matrix `old`, cell by cell.
///
/// A baseline minor missing from `new` is a regression when `new` covers every minor of its catalog
/// and is skipped (listed in [`Comparison::skipped_minors`]) when `--kubernetes` narrowed it.
pub fn compare(old: &MatrixFile, new: &MatrixFile) -> Result<Comparison, ReadError> {
    let mut out = Comparison::default();
    for row in &old.components {
        let new_row = new.components.iter().find(|r| r.name == row.name);
        for (minor, cell) in &row.cells.0 {
            let minor_present = new.kubernetes.iter().any(|m| m == minor);
            if !minor_present && new.kubernetes_range.is_some() {
                if !out.skipped_minors.contains(minor) {
                    out.skipped_minors.push(minor.clone());
                }
                continue;
            }
            out.compared += 1;
            let new_cell = new_row.and_then(|r| r.cells.get(minor));
            let change = |kind, new_version: Option<&String>, reason: Option<&String>| Change {
                component: row.name.clone(),
                minor: minor.clone(),
                old: cell.version.clone(),
                new: new_version.cloned(),
                kind,
                reason: reason.cloned(),
            };
            let Some(ov) = &cell.version else {
                if let Some(nv) = new_cell.and_then(|c| c.version.as_ref()) {
                    out.improvements
                        .push(change(ChangeKind::Gained, Some(nv), None));
                }
                continue;
            };
            let old_version = parse(ov, &row.name, minor)?;
            if !minor_present {
                out.regressions
                    .push(change(ChangeKind::MinorGone, None, None));
                continue;
            }
            if new_row.is_none() {
                out.regressions
                    .push(change(ChangeKind::ComponentGone, None, None));
                continue;
            }
            match new_cell {
                Some(c) => match &c.version {
                    None => out
                        .regressions
                        .push(change(ChangeKind::Lost, None, c.reason.as_ref())),
                    Some(nv) => {
                        let new_version = parse(nv, &row.name, minor)?;
                        if new_version < old_version {
                            out.regressions
                                .push(change(ChangeKind::Older, Some(nv), None));
                        } else if c.untested && !cell.untested {
                            out.regressions
                                .push(change(ChangeKind::Untested, Some(nv), None));
                        } else if new_version > old_version {
                            out.improvements
                                .push(change(ChangeKind::Newer, Some(nv), None));
                        } else if cell.untested && !c.untested {
                            out.improvements
                                .push(change(ChangeKind::Tested, Some(nv), None));
                        }
                    }
                },
                None => out.regressions.push(change(ChangeKind::Lost, None, None)),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::json::{CellFile, ComponentRow, OrderedMap};

    fn cell(v: Option<&str>) -> CellFile {
        CellFile {
            version: v.map(String::from),
            newest: None,
            eol: None,
            retired: None,
            untested: false,
            reason: v.is_none().then(|| "because".to_string()),
            source: None,
        }
    }

    fn matrix(
        range: Option<&str>,
        minors: &[&str],
        cells: &[(&str, &str, Option<&str>)],
    ) -> MatrixFile {
        let mut components: Vec<ComponentRow> = Vec::new();
        for (name, minor, v) in cells {
            if !components.iter().any(|r| r.name == *name) {
                components.push(ComponentRow {
                    name: name.to_string(),
                    provides: Vec::new(),
                    cells: OrderedMap::default(),
                });
            }
            let row = components.iter_mut().find(|r| r.name == *name).unwrap();
            row.cells.0.push((minor.to_string(), cell(*v)));
        }
        let json = serde_json::json!({
            "version": 1,
            "kubernetesRange": range,
            "kubernetes": minors,
            "components": [],
        });
        let mut m = MatrixFile::parse(&json.to_string()).unwrap();
        m.components = components;
        m
    }

    #[test]
    fn regressions_and_improvements() {
        let old = matrix(
            None,
            &["1.1", "1.2"],
            &[
                ("a", "1.1", Some("1.10.0")),
                ("a", "1.2", Some("2.0.0")),
                ("b", "1.1", None),
                ("c", "1.1", Some("1.0.0")),
            ],
        );
        let new = matrix(
            None,
            &["1.1", "1.2"],
            &[
                ("a", "1.1", Some("1.9.0")),
                ("a", "1.2", None),
                ("b", "1.1", Some("0.1.0")),
            ],
        );
        let c = compare(&old, &new).unwrap();
        let kinds: Vec<ChangeKind> = c.regressions.iter().map(|x| x.kind).collect();
        assert_eq!(
            kinds,
            [
                ChangeKind::Older,
                ChangeKind::Lost,
                ChangeKind::ComponentGone
            ]
        );
        assert_eq!(c.improvements.len(), 1);
        assert_eq!(c.improvements[0].kind, ChangeKind::Gained);
        assert_eq!(
            c.regressions[0].to_string(),
            "a on Kubernetes 1.1: 1.10.0 -> 1.9.0 (older)"
        );
    }

    #[test]
    fn untested_cells() {
        let cells = &[
            ("a", "1.1", Some("1.0.0")),
            ("b", "1.1", Some("1.0.0")),
            ("c", "1.1", Some("1.0.0")),
        ];
        let mut old = matrix(None, &["1.1"], cells);
        let mut new = matrix(
            None,
            &["1.1"],
            &[
                ("a", "1.1", Some("1.1.0")),
                ("b", "1.1", Some("1.0.0")),
                ("c", "1.1", Some("1.0.0")),
            ],
        );
        // a: tested 1.0.0 -> untested 1.1.0 (newer, but nothing tested is left)
        new.components[0].cells.0[0].1.untested = true;
        // b: untested -> tested, same version
        old.components[1].cells.0[0].1.untested = true;
        // c: untested both times: no change
        old.components[2].cells.0[0].1.untested = true;
        new.components[2].cells.0[0].1.untested = true;
        let c = compare(&old, &new).unwrap();
        assert_eq!(c.regressions.len(), 1);
        assert_eq!(
            c.regressions[0].to_string(),
            "a on Kubernetes 1.1: 1.0.0 -> 1.1.0 (now untested)"
        );
        assert_eq!(c.improvements.len(), 1);
        assert_eq!(c.improvements[0].kind, ChangeKind::Tested);
    }

    #[test]
    fn a_missing_minor_is_a_regression_unless_the_range_left_it_out() {
        let old = matrix(None, &["1.1", "1.2"], &[("a", "1.1", Some("1.0.0"))]);
        let gone = matrix(None, &["1.2"], &[("a", "1.2", Some("1.0.0"))]);
        let c = compare(&old, &gone).unwrap();
        assert_eq!(c.regressions[0].kind, ChangeKind::MinorGone);
        let narrowed = matrix(Some(">=1.2"), &["1.2"], &[("a", "1.2", Some("1.0.0"))]);
        let c = compare(&old, &narrowed).unwrap();
        assert!(c.regressions.is_empty());
        assert_eq!(c.skipped_minors, ["1.1"]);
    }

    #[test]
    fn a_bad_version_is_an_error() {
        let old = matrix(None, &["1.1"], &[("a", "1.1", Some("one"))]);
        let new = matrix(None, &["1.1"], &[("a", "1.1", Some("1.0.0"))]);
        assert!(compare(&old, &new).is_err());
        assert!(matches!(
            MatrixFile::parse(r#"{"version": 7}"#),
            Err(ReadError::UnsupportedVersion(7))
        ));
    }
}
