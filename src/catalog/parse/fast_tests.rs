//! Both readers on every catalog file the project has, and on scalars and structures at the
//! edge of the fast reader's subset: it agrees with serde-saphyr (values and places) or declines.

use std::fmt::Debug;

use serde::de::DeserializeOwned;

use crate::catalog::fast::from_str;
use crate::catalog::parse::saphyr_options;
use crate::catalog::wire::{CatalogFile, ComponentFile};

/// Both readers' answers, as `Debug` text (values and places); `None` where one fails.
fn both<T: DeserializeOwned + Debug>(text: &str) -> (Option<String>, Option<String>) {
    let fast = from_str::<T>(text).map(|v| format!("{v:#?}"));
    let slow = serde_saphyr::from_str_with_options::<T>(text, saphyr_options())
        .ok()
        .map(|v| format!("{v:#?}"));
    (fast, slow)
}

/// The fast reader agrees with serde-saphyr or declines; `must` says it may not decline.
fn agrees<T: DeserializeOwned + Debug>(name: &str, text: &str, must: bool) -> bool {
    let (fast, slow) = both::<T>(text);
    if let Some(f) = &fast {
        let s = slow.unwrap_or_else(|| {
            panic!("{name}: serde-saphyr refuses what the fast reader read:\n{f}")
        });
        if f != &s {
            let (a, b): (Vec<&str>, Vec<&str>) = (f.lines().collect(), s.lines().collect());
            let k = (0..a.len().min(b.len()))
                .find(|k| a[*k] != b[*k])
                .unwrap_or(0);
            let from = k.saturating_sub(12);
            panic!(
                "{name}: the readers differ at line {k}:\nfast:\n{}\nserde-saphyr:\n{}",
                a[from..(k + 3).min(a.len())].join("\n"),
                b[from..(k + 3).min(b.len())].join("\n")
            );
        }
    }
    assert!(!must || fast.is_some(), "{name}: the fast reader declined");
    fast.is_some()
}

fn check_file(name: &str, text: &str, must: bool) -> bool {
    if text.contains("\nkind: Catalog") || text.starts_with("kind: Catalog") {
        agrees::<CatalogFile>(name, text, must)
    } else {
        agrees::<ComponentFile>(name, text, must)
    }
}

#[test]
fn the_real_catalog_is_read_alike_and_fast() {
    for (path, text) in crate::catalog::embedded::files() {
        if path.starts_with("components/") || path == "catalog.yaml" {
            check_file(&path, &text, true);
        }
    }
}

/// Every catalog and component file among the test fixtures (some malformed on purpose).
#[test]
fn fixture_files_are_read_alike() {
    let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")];
    let (mut seen, mut fast) = (0, 0);
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            if p.extension().is_some_and(|x| x == "yaml")
                && (text.contains("kind: Component") || text.contains("kind: Catalog"))
            {
                seen += 1;
                fast += usize::from(check_file(&p.display().to_string(), &text, false));
            }
        }
    }
    // the rest use flow mappings (`{name: x, range: y}`), left to serde-saphyr
    assert!(seen > 20 && fast * 2 >= seen, "{fast} of {seen} read fast");
}

const HEAD: &str = "apiVersion: bundle/v1\nkind: Component\nname: x\n";

/// A component whose `description` (a string), lifecycle `released` (an optional spanned
/// string) and note text are `value`.
fn with_value(value: &str) -> Vec<String> {
    vec![
        format!("{HEAD}description: {value}\nhomepage: h\nversions: []\n"),
        format!(
            "{HEAD}description: d\nhomepage: h\nversions:\n  - version: 1.0.0\n    lifecycle:\n      released: {value}\n"
        ),
        format!(
            "{HEAD}description: d\nhomepage: h\nnotes:\n- text: {value}\n  source: s\nversions: []\n"
        ),
        format!("{HEAD}description: d\nhomepage: h\nprovides: {value}\nversions: []\n"),
        format!(
            "{HEAD}description: d\nhomepage: h\nupgrade:\n  rules:\n    - minorSteps: {value}\n      source: s\n    - latestPatchFirst: {value}\n      source: s\nversions: []\n"
        ),
        format!(
            "{HEAD}description: d\nhomepage: h\nversions:\n  - version: 1.0.0\n    kubernetes:\n      status: {value}\n      note: n\n      source: s\n"
        ),
    ]
}

#[test]
fn scalars_are_read_alike_or_left_to_serde_saphyr() {
    let values = [
        "plain text",
        "~",
        "null",
        "Null",
        "",
        "''",
        "\"\"",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "1.10",
        "0x1F",
        "0o17",
        "010",
        "1_000",
        "1e3",
        ".inf",
        "-1",
        "+1",
        "3",
        "0",
        "2024-01-01",
        "2024-01-01T10:00:00Z",
        "a #b",
        "a#b",
        "a: b",
        "a:b",
        "'it''s'",
        "'a: b'",
        "\"a\\\"b\\\\c\"",
        "\"a\\u00e9\"",
        "\"a\" # c",
        "\"a\"b",
        "'a'   ",
        "[a, b]",
        "[a,b]",
        "[ a ]",
        "[]",
        "{}",
        "[\"a\"]",
        "[a, [b]]",
        "{a: b}",
        "&x a",
        "*x",
        "!!str 3",
        "@a",
        "`a`",
        "%a",
        "a  ",
        "é ü",
        "\"é\" # ü",
        "independent",
        "untested",
        "Independent",
        "\"independent\"",
        "images",
        "https://example.invalid/a?b=c#frag",
        "x ; y",
        "|",
        "|-",
        ">",
        ">-",
        "|+",
        ">2",
        ">-\n    folded\n    text\n\n    para\n",
        "|\n    lit\n    text\n",
        ">-\n    a\n      more\n    b\n",
        "|-\n    a\n\n\n    b\n\n",
        ">\n    # not a comment\n",
        "a\n    continued",
        "\"a\n    b\"",
    ];
    let mut fast = 0;
    for v in values {
        for (k, doc) in with_value(v).iter().enumerate() {
            fast += usize::from(agrees::<ComponentFile>(
                &format!("{v:?} in form {k}"),
                doc,
                false,
            ));
        }
    }
    assert!(fast > 60, "{fast} read fast");
}

#[test]
fn structure_is_read_alike_or_left_to_serde_saphyr() {
    let docs = [
        // a sequence at its key's indentation, items with their mapping on the next line
        "description: d\nhomepage: h\nversions:\n- version: 1.0.0\n  requires:\n  - name: k\n    range: \">=1\"\n-\n  version: 2.0.0\n",
        // comments and blank lines everywhere
        "# head\ndescription: d # c\n\nhomepage: h\n  # indented comment\nversions: # c\n  # c\n  - version: 1.0.0 # c\n\n    images: [] # c\n",
        // wrong indentation: an error for both
        "description: d\nhomepage: h\nversions:\n    - version: 1.0.0\n  - version: 2.0.0\n",
        "description: d\nhomepage: h\nversions:\n  - version: 1.0.0\n     images: []\n",
        "description: d\n homepage: h\nversions: []\n",
        // unknown, missing and duplicate fields
        "description: d\nhomepage: h\nversions: []\nextra: 1\n",
        "description: d\nversions: []\n",
        "description: d\ndescription: e\nhomepage: h\nversions: []\n",
        // a nested sequence, a document marker, trailing spaces, a key without a space
        "description: d\nhomepage: h\nversions:\n  - - a\n",
        "---\ndescription: d\nhomepage: h\nversions: []\n",
        "description: d   \nhomepage: h  \nversions: []  \n",
        "description:d\nhomepage: h\nversions: []\n",
        // a block scalar at the end, and one followed by less indented comment lines
        "description: d\nhomepage: h\nversions: []\nnotes:\n  - text: >-\n      a\n      b\n",
        "description: d\nhomepage: h\nnotes:\n  - text: |\n      a\n  # c\n    source: s\nversions: []\n",
        "description: d\nhomepage: h\nnotes:\n  - text: |\n      a\n\n# c\nversions: []\n",
    ];
    for (k, d) in docs.iter().enumerate() {
        agrees::<ComponentFile>(&format!("structure {k}"), &format!("{HEAD}{d}"), false);
    }
    // the ones that must be read fast
    for k in [0, 1, 10, 12] {
        agrees::<ComponentFile>(
            &format!("structure {k}"),
            &format!("{HEAD}{}", docs[k]),
            true,
        );
    }
}

#[test]
fn characters_outside_the_subset_are_left_to_serde_saphyr_wherever_they_are() {
    let base = "apiVersion: bundle/v1\nkind: Catalog\ncapabilities: []\n";
    assert!(from_str::<CatalogFile>(base).is_some());
    // a long comment puts the character past the first blocks the scan reads
    let long = format!("{base}# {}\n", "x".repeat(600));
    for odd in [
        "\t", "\r", "\u{0}", "\u{1b}", "\u{7f}", "\u{85}", "\u{2028}", "\u{2029}", "\u{feff}",
    ] {
        for text in [
            format!("{odd}{base}"),
            format!("{base}# {odd}\n"),
            format!("{long}# a{odd}b\n"),
        ] {
            assert!(
                from_str::<CatalogFile>(&text).is_none(),
                "{odd:?} read by the fast reader"
            );
        }
    }
    // other non-ASCII text is read
    assert!(from_str::<CatalogFile>(&format!("{long}# café ✓\n")).is_some());
}
