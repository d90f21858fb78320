//! The design notes describe the tree as it is: every path `docs/design.md`'s module map names exists,
//! and every top-level module of `src/` is in the map.

use std::collections::BTreeSet;

use crate::support::root;

/// The paths the module map names: `src/…` at the start of a line, and the files listed under it
/// (`name.rs`, `dir/name.rs`), relative to the last `src/…/` line.
fn mapped_paths(design: &str) -> BTreeSet<String> {
    let map = design
        .split("## Module map")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("a module map in a code block after `## Module map`");
    let mut paths = BTreeSet::new();
    let mut base = String::new();
    for line in map.lines() {
        let indented = line.starts_with(' ');
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if !indented && first.starts_with("src/") {
            paths.insert(first.to_string());
            base = if first.ends_with('/') {
                first.to_string()
            } else {
                String::new()
            };
            continue;
        }
        if indented && !base.is_empty() {
            for w in std::iter::once(first).chain(words) {
                if (w.ends_with(".rs") || w.ends_with('/')) && !w.contains('*') {
                    paths.insert(format!("{base}{w}"));
                } else {
                    break;
                }
            }
        }
    }
    paths
}

#[test]
fn the_module_map_is_the_tree() {
    let root = root();
    let design = std::fs::read_to_string(root.join("docs/design.md")).expect("docs/design.md");
    let paths = mapped_paths(&design);
    assert!(paths.len() > 40, "{paths:?}");
    for p in &paths {
        assert!(
            root.join(p).exists(),
            "docs/design.md names {p}, which is not in the tree"
        );
    }
    for e in std::fs::read_dir(root.join("src")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let entry = if e.path().is_dir() {
            format!("src/{name}/")
        } else {
            format!("src/{name}")
        };
        assert!(
            paths.contains(&entry),
            "{entry} is not in docs/design.md's module map"
        );
    }
}
