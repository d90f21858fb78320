//! Writes a synthetic catalog directory for the whole-process solver benchmarks
//! (`benches/solve.sh`; the shapes are described in `benches/support/synthetic.rs`).
//!
//! `cargo run --release --example synthetic_catalog -- N M sat|unsat lower|any|planted DIR [CNF]`
//! writes N components × M versions (plus Kubernetes) and a profile `all` naming every component;
//! with CNF, also the question "is there a platform naming every component" as DIMACS for a SAT
//! solver (`benches/sat-peer.sh`; the encoding is described in `benches/support/cnf.rs`).

#[path = "../benches/support/synthetic.rs"]
#[allow(dead_code)] // `request_all` is for the criterion bench
mod synthetic;

#[path = "../benches/support/cnf.rs"]
#[allow(dead_code)] // `Cnf::order` is for the differential test
mod cnf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: synthetic_catalog N M sat|unsat lower|any|planted DIR [CNF]";
    let (n, m, sat, shape, dir, cnf_file) = match args.as_slice() {
        [n, m, sat, shape, dir] => (n, m, sat, shape, dir, None),
        [n, m, sat, shape, dir, cnf] => (n, m, sat, shape, dir, Some(cnf)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let (Ok(n), Ok(m)) = (n.parse::<usize>(), m.parse::<usize>()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let shape = match shape.as_str() {
        "lower" => synthetic::Shape::Lower,
        "any" => synthetic::Shape::Any,
        "planted" => synthetic::Shape::Planted,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let catalog = synthetic::synthetic(n, m, sat == "unsat", shape);
    if let Err(e) = synthetic::write_dir(&catalog, std::path::Path::new(dir)) {
        eprintln!("{dir}: {e}");
        std::process::exit(1);
    }
    if let Some(file) = cnf_file
        && let Err(e) = std::fs::write(file, cnf::encode(&catalog).dimacs(&[]))
    {
        eprintln!("{file}: {e}");
        std::process::exit(1);
    }
}
