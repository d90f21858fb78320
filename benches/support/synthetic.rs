//! Synthetic catalogs for the solver benchmarks: `n` components × `m` versions plus Kubernetes
//! (8 minors), with dense constraints around a planted solution.

use std::fmt::Write as _;
use std::path::Path;

use bundle::catalog::{
    Artifacts, Capability, Catalog, Component, Constraint, KubernetesRelation, Lifecycle, Release,
    WithSpec,
};
use bundle::solver::Request;
use bundle::types::{Date, Version, VersionReq};

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Which components a version's two component requirements name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Two lower-numbered components (acyclic): the developers' dense case.
    Lower,
    /// Any two other components (cycles allowed).
    Any,
    /// Any two other components, and every version's windows (not only the planted version's)
    /// hold the planted solution: the shape issue 17 describes ("a window of Kubernetes minors
    /// and windows of two other components around a planted solution"). Far from the
    /// satisfiability threshold: the cost is loading, compiling and one pass of propagation.
    Planted,
}

fn constraint(name: String, range: String) -> Constraint {
    Constraint {
        name,
        range: VersionReq::parse_strict(&range).unwrap(),
        source: Some("synthetic".into()),
        note: None,
        line: 0,
    }
}

fn release(component: &str, version: Version, requires: Vec<Constraint>) -> Release {
    Release {
        version,
        line: 0,
        lifecycle: Lifecycle::default(),
        kubernetes: KubernetesRelation::from_requires(component, &requires),
        requires,
        constrains: vec![],
        conflicts: vec![],
        images: vec![],
        artifacts: Artifacts::default(),
    }
}

fn component(name: String, versions: Vec<Release>) -> Component {
    Component {
        name,
        description: String::new(),
        homepage: String::new(),
        provides: vec![],
        notes: vec![],
        support_policy: None,
        upgrade: Default::default(),
        signing: vec![],
        versions,
        file: String::new(),
    }
}

/// `n` components × `m` versions, plus Kubernetes with 8 minors. Every version requires a window
/// of Kubernetes minors and version windows of two other components (see [`Shape`]). Kubernetes
/// 1.33 and version `hidden[c]` of each component meet each other's constraints (a planted
/// solution), other versions are random. With `unsat`, the last component additionally requires a
/// version of component 0 that does not exist.
pub fn synthetic(n: usize, m: usize, unsat: bool, shape: Shape) -> Catalog {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut comps = vec![component(
        "kubernetes".into(),
        (0..8)
            .map(|k| release("kubernetes", Version::new(1, 30 + k, 0), vec![]))
            .collect(),
    )];
    let mut hidden: Vec<u64> = Vec::with_capacity(n);
    if shape != Shape::Lower {
        let mut h = Rng(0x2545_f491_4f6c_dd1d);
        hidden = (0..n).map(|_| h.below(m as u64)).collect();
    }
    for c in 0..n {
        if shape == Shape::Lower {
            hidden.push(rng.below(m as u64));
        }
        let mut versions = Vec::new();
        for v in 0..m {
            let planted = v as u64 == hidden[c] || shape == Shape::Planted;
            let width = 2 + rng.below(3);
            let lo = if planted {
                3 - rng.below(width.min(4))
            } else {
                rng.below(6)
            };
            let mut requires = vec![constraint(
                "kubernetes".into(),
                format!(">=1.{}.0, <1.{}.0", 30 + lo, 30 + lo + width),
            )];
            let others = match shape {
                Shape::Lower => c,
                Shape::Any | Shape::Planted => n,
            };
            if others > 0 {
                for _ in 0..2 {
                    let mut t = rng.below(others as u64) as usize;
                    if shape != Shape::Lower && t == c {
                        t = (t + 1) % n;
                    }
                    if t == c {
                        continue;
                    }
                    let span = 1 + rng.below(m as u64 / 2 + 1);
                    let a = if planted {
                        hidden[t].saturating_sub(rng.below(span))
                    } else {
                        rng.below(m as u64)
                    };
                    requires.push(constraint(
                        format!("c{t:04}"),
                        format!(">={a}.0.0, <{}.0.0", a + span),
                    ));
                }
            }
            if unsat && c == n - 1 {
                requires.push(constraint("c0000".into(), format!(">={m}.0.0")));
            }
            let name = format!("c{c:04}");
            versions.push(release(&name, Version::new(v as u64, 0, 0), requires));
        }
        comps.push(component(format!("c{c:04}"), versions));
    }
    Catalog::from_parts(Vec::<Capability>::new(), comps)
}

/// The request naming every component.
pub fn request_all(catalog: &Catalog) -> Request {
    Request {
        kubernetes: VersionReq::any(),
        with: catalog
            .components
            .iter()
            .filter(|c| c.name != "kubernetes")
            .map(|c| WithSpec {
                name: c.name.clone(),
                range: VersionReq::any(),
            })
            .collect(),
        without: vec![],
        allow_eol: false,
        allow_untested: false,
        as_of: Date::new(2026, 11, 26).unwrap(),
    }
}

/// Writes `catalog` as a catalog directory (catalog.yaml, components/, profiles/all.yaml naming
/// every component), so that the whole `bundle` process can be timed on it.
pub fn write_dir(catalog: &Catalog, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("components"))?;
    std::fs::create_dir_all(dir.join("profiles"))?;
    std::fs::write(
        dir.join("catalog.yaml"),
        "apiVersion: bundle/v1\nkind: Catalog\ncapabilities: []\n",
    )?;
    for c in &catalog.components {
        let mut s = format!(
            "apiVersion: bundle/v1\nkind: Component\nname: {}\ndescription: synthetic\nhomepage: https://example.invalid\nprovides: []\nversions:\n",
            c.name
        );
        for r in &c.versions {
            let _ = writeln!(s, "  - version: {}", r.version);
            if !r.requires.is_empty() {
                s.push_str("    requires:\n");
                for x in &r.requires {
                    let _ = writeln!(
                        s,
                        "      - name: {}\n        range: \"{}\"\n        source: https://example.invalid/synthetic",
                        x.name, x.range
                    );
                }
            }
            s.push_str("    images: []\n");
        }
        std::fs::write(dir.join("components").join(format!("{}.yaml", c.name)), s)?;
    }
    let mut p = String::from("apiVersion: bundle/v1\nkind: Platform\nkubernetes: \"*\"\nwith:\n");
    for c in catalog.components.iter().filter(|c| c.name != "kubernetes") {
        let _ = writeln!(p, "  - {}", c.name);
    }
    std::fs::write(dir.join("profiles").join("all.yaml"), p)
}
