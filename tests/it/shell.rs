//! Shell completions and man pages (issue 15, item 4): the bash script installs and completes in a
//! real bash, the man pages render with the real `man`/`groff`.

use std::process::Command;

use crate::support::{bundle, require, tempdir};

/// What bash offers for the words of `line` (the last word is the one being completed), with the
/// script `bundle completions bash` printed installed as a user installs it: sourced from a file.
fn bash_completes(script: &std::path::Path, line: &str) -> Vec<String> {
    let out = Command::new("bash")
        .arg("--norc")
        .arg("--noprofile")
        .arg("-c")
        .arg(
            r#"source "$1" || exit 3
spec=$(complete -p bundle) || exit 4
fn=$(sed -n 's/.*-F \([^ ]*\).*/\1/p' <<<"$spec")
read -r -a COMP_WORDS <<<"$2"
[[ "$2" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
"$fn" bundle "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(script)
        .arg(line)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash could not complete {line:?} (exit {:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_installs_and_completes_subcommands_and_flags() {
    if !require("bash", "bash", "bash_completion_installs") {
        return;
    }
    let run = bundle(&["completions", "bash"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Installed where bash-completion looks for a user's scripts (README).
    let home = tempdir();
    let dir = home.join(".local/share/bash-completion/completions");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("bundle");
    std::fs::write(&script, &run.stdout).unwrap();

    let top = bash_completes(&script, "bundle ");
    for sub in [
        "solve",
        "pin",
        "export",
        "mirror",
        "verify",
        "completions",
        "man",
    ] {
        assert!(top.contains(&sub.to_string()), "no {sub} in {top:?}");
    }
    assert_eq!(bash_completes(&script, "bundle exp"), ["export"]);
    let flags = bash_completes(&script, "bundle export --");
    for flag in ["--airgap", "--output", "--since", "--max-size", "--quiet"] {
        assert!(flags.contains(&flag.to_string()), "no {flag} in {flags:?}");
    }
    assert!(
        !flags.contains(&"--to".to_string()),
        "mirror's --to offered for export: {flags:?}"
    );
    let shells = bash_completes(&script, "bundle completions ");
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&shell.to_string()), "{shells:?}");
    }
    let nested = bash_completes(&script, "bundle catalog ch");
    assert_eq!(nested, ["check"]);
}

#[test]
fn zsh_and_fish_scripts_are_written() {
    for (shell, marker) in [("zsh", "#compdef bundle"), ("fish", "complete -c bundle")] {
        let run = bundle(&["completions", shell]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("airgap"), "{shell}: no export flags");
    }
    let bad = bundle(&["completions", "cmd.exe"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

/// A roff page as `man -l` (or groff) renders it for a reader, or `None` when neither is installed.
fn render_man(page: &std::path::Path) -> Option<String> {
    let attempts: [(&str, &[&str]); 2] = [("man", &["-l"]), ("groff", &["-man", "-Tutf8"])];
    for (program, args) in attempts {
        let Ok(out) = Command::new(program)
            .args(args)
            .arg(page)
            .env("MANWIDTH", "100")
            .env("MAN_KEEP_FORMATTING", "0")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
        else {
            continue;
        };
        assert!(
            out.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Strip overstrike (bold/underline) sequences.
        let text = String::from_utf8_lossy(&out.stdout);
        let mut plain = String::new();
        for c in text.chars() {
            if c == '\u{8}' {
                plain.pop();
            } else {
                plain.push(c);
            }
        }
        return Some(plain);
    }
    None
}

#[test]
fn man_pages_render() {
    let dir = tempdir();
    let run = bundle(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .lines()
            .nth(2)
            .is_some_and(|l| l.starts_with(".TH bundle 1")),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches(".ds Aq").count(), 2, "{}", run.stdout);
    let page = dir.join("bundle.1");
    std::fs::write(&page, &run.stdout).unwrap();

    let out = dir.join("man1");
    let written = bundle(&["man", "-o", out.to_str().unwrap()]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    assert_eq!(
        std::fs::read_to_string(out.join("bundle.1")).unwrap(),
        run.stdout
    );
    for name in [
        "bundle-export.1",
        "bundle-mirror.1",
        "bundle-catalog-check.1",
    ] {
        let text = std::fs::read_to_string(out.join(name)).unwrap_or_default();
        assert!(text.contains(".SH EXAMPLES"), "{name}: {text}");
    }
    assert!(
        !out.join("bundle-help.1").exists(),
        "a page for clap's help"
    );

    let export = out.join("bundle-export.1");
    match (render_man(&page), render_man(&export)) {
        (Some(top), Some(export)) => {
            for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "SUBCOMMANDS", "EXAMPLES"] {
                assert!(top.contains(section), "no {section}:\n{top}");
            }
            assert!(top.contains("bundle-mirror(1)"), "{top}");
            assert!(export.contains("--airgap"), "{export}");
            // Examples stay one per line, with their hyphens and quotes as typed.
            assert!(
                export
                    .lines()
                    .any(|l| l.trim() == "bundle export --airgap -o platform.tar.zst"),
                "{export}"
            );
        }
        _ => {
            // Neither man nor groff: check the roff structure instead.
            let text = std::fs::read_to_string(&export).unwrap();
            for mark in [
                ".TH bundle-export",
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH OPTIONS",
                ".nf",
            ] {
                assert!(text.contains(mark), "no {mark}:\n{text}");
            }
        }
    }
}
