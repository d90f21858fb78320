//! Embeds `catalog/` into the binary so that `bundle` works from any directory.

use std::fs;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    for sub in ["", "components", "profiles"] {
        let dir = root.join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                let rel = if sub.is_empty() {
                    name.clone()
                } else {
                    format!("{sub}/{name}")
                };
                println!("cargo:rerun-if-changed={}", e.path().display());
                files.push((rel, e.path()));
            }
        }
    }
    files.sort();
    let mut out = String::from(
        "/// Files of the embedded catalog.\npub(super) static EMBEDDED_FILES: &[(&str, &str)] = &[\n",
    );
    for (rel, path) in files {
        out.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_catalog.rs");
    fs::write(dest, out).unwrap();
}
