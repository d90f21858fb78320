//! Writes a synthetic catalog directory for the whole-process solver benchmarks
//! (`benches/solve.sh`; the shapes are described in `benches/support/synthetic.rs`).
//!
//! `cargo run --release --example synthetic_catalog -- N M sat|unsat lower|any|planted DIR`
//! writes N components × M versions (plus Kubernetes) and a profile `all` naming every component.

#[path = "../benches/support/synthetic.rs"]
#[allow(dead_code)] // `request_all` is for the criterion bench
mod synthetic;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: synthetic_catalog N M sat|unsat lower|any|planted DIR";
    let [n, m, sat, shape, dir] = args.as_slice() else {
        eprintln!("{usage}");
        std::process::exit(2);
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
}
