//! The solver's question on a synthetic catalog as CNF (DIMACS) for an independent SAT solver
//! (CaDiCaL, Debian package `cadical`): the differential test at scale (tests/it/sat_peer.rs)
//! and the peer benchmark (benches/sat-peer.sh).
//!
//! One boolean per version of each component; every component is in the platform (the request
//! names them all), so exactly one of its versions is chosen (at least one, and at most one by a
//! sequential counter); each `requires` of a version is a clause "not this version, or one of
//! the versions the range matches". Synthetic catalogs have no capabilities, `constrains` or
//! `conflicts`; [`encode`] refuses a catalog that has any.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bundle::catalog::Catalog;
use bundle::types::Version;

/// A catalog as CNF.
pub struct Cnf {
    /// Number of variables (versions and the counters' helpers).
    pub vars: i32,
    /// The clauses, as DIMACS literals.
    pub clauses: Vec<Vec<i32>>,
    /// Per component, in the policy's order (Kubernetes, then by name): its name and its
    /// versions with their variables, newest first.
    pub order: Vec<(String, Vec<(Version, i32)>)>,
}

/// The CNF of `catalog` with every component required.
pub fn encode(catalog: &Catalog) -> Cnf {
    let mut vars = 0;
    let mut var_of: BTreeMap<(&str, &Version), i32> = BTreeMap::new();
    let mut order = Vec::new();
    let mut comps: Vec<_> = catalog.components.iter().collect();
    comps.sort_by_key(|c| (c.name != "kubernetes", c.name.clone()));
    for c in &comps {
        assert!(
            c.provides.is_empty(),
            "{}: capabilities are not encoded",
            c.name
        );
        let mut versions: Vec<(Version, i32)> = Vec::new();
        for r in &c.versions {
            assert!(
                r.constrains.is_empty() && r.conflicts.is_empty(),
                "{} {}: constrains/conflicts are not encoded",
                c.name,
                r.version
            );
            vars += 1;
            var_of.insert((c.name.as_str(), &r.version), vars);
            versions.push((r.version.clone(), vars));
        }
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        order.push((c.name.clone(), versions));
    }
    let mut clauses = Vec::new();
    for (_, versions) in &order {
        let xs: Vec<i32> = versions.iter().map(|v| v.1).collect();
        clauses.push(xs.clone());
        // at most one (sequential counter): s_i says "one of x_1..x_i is chosen"
        for i in 0..xs.len().saturating_sub(1) {
            vars += 1;
            let s = vars;
            clauses.push(vec![-xs[i], s]);
            if i > 0 {
                clauses.push(vec![-(s - 1), s]);
                clauses.push(vec![-xs[i], -(s - 1)]);
            }
            clauses.push(vec![-xs[i + 1], -s]);
        }
    }
    for c in &comps {
        for r in &c.versions {
            let x = var_of[&(c.name.as_str(), &r.version)];
            for need in &r.requires {
                let target = catalog
                    .component(&need.name)
                    .unwrap_or_else(|| panic!("{}: unknown component {}", c.name, need.name));
                let mut clause = vec![-x];
                clause.extend(
                    target
                        .versions
                        .iter()
                        .filter(|t| need.range.matches(&t.version))
                        .map(|t| var_of[&(target.name.as_str(), &t.version)]),
                );
                clauses.push(clause);
            }
        }
    }
    Cnf {
        vars,
        clauses,
        order,
    }
}

impl Cnf {
    /// DIMACS text of the clauses and `extra` clauses.
    pub fn dimacs(&self, extra: &[Vec<i32>]) -> String {
        let mut s = String::with_capacity(self.clauses.len() * 16);
        let _ = writeln!(
            s,
            "p cnf {} {}",
            self.vars,
            self.clauses.len() + extra.len()
        );
        for clause in self.clauses.iter().chain(extra) {
            for l in clause {
                let _ = write!(s, "{l} ");
            }
            s.push_str("0\n");
        }
        s
    }
}
