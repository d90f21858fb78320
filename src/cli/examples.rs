//! The examples that end each command's `--help` (and its man page's EXAMPLES section).
//!
//! Every line after `Examples:` that starts with `bundle ` is a command a person can type; the tests
//! below parse each one with the real clap definition, so renaming a flag breaks them.

/// `bundle --help`.
pub(super) const BUNDLE: &str = "\
Examples:
  bundle solve --with cert-manager --with ingress-controller   # the newest compatible set
  bundle export --airgap -o platform.tar.zst                   # everything, for the air gap
  bundle completions bash > ~/.local/share/bash-completion/completions/bundle";

/// `bundle catalog --help`.
pub(super) const CATALOG: &str = "\
Examples:
  bundle catalog list
  bundle catalog show cert-manager --format json
  bundle catalog check --sources";

/// `bundle catalog list --help`.
pub(super) const CATALOG_LIST: &str = "\
Examples:
  bundle catalog list
  bundle catalog list --format json | jq '.[].name'";

/// `bundle catalog show --help`.
pub(super) const CATALOG_SHOW: &str = "\
Examples:
  bundle catalog show                   # where the catalog comes from, how old its facts are
  bundle catalog show cert-manager      # every version, its facts and their sources
  bundle catalog show kubernetes --format json";

/// `bundle catalog check --help`.
pub(super) const CATALOG_CHECK: &str = "\
Examples:
  bundle catalog check
  bundle catalog check --catalog ./catalog --format json
  bundle catalog check --sources        # facts whose source is not machine-checkable";

/// `bundle solve --help`.
pub(super) const SOLVE: &str = "\
Examples:
  bundle solve                          # the catalog's default profile, or the lock's request
  bundle solve --kubernetes '~1.35' --with cert-manager --with ingress-controller
  bundle solve --locked                 # CI: exit 1 when the lock would change";

/// `bundle why --help`.
pub(super) const WHY: &str = "\
Examples:
  bundle why cert-manager
  bundle why kubernetes --lock old.lock";

/// `bundle matrix --help`.
pub(super) const MATRIX: &str = "\
Exit codes: 0 success; 1 --baseline found regressions; 2 bad input.

Examples:
  bundle matrix                                   # Markdown on standard output
  bundle matrix --format html -o matrix.html      # the page people look at
  bundle matrix --format github                   # a GitHub Actions strategy.matrix
  bundle matrix --format json -o new.json --baseline docs/compatibility.json";

/// `bundle plan --help`.
pub(super) const PLAN: &str = "\
Examples:
  bundle plan --from old.lock                     # to today's platform
  bundle plan --from old.lock --to bundle.lock -o steps/
  bundle plan --from old.lock --kubernetes '~1.35' --format json";

/// `bundle pin --help`.
pub(super) const PIN: &str = "\
Examples:
  bundle pin
  bundle pin --check                              # exit 1 when a tag moved
  bundle pin --registry-mirror docker.io=127.0.0.1:5001/docker.io --insecure-registry 127.0.0.1:5001";

/// `bundle render --help`.
pub(super) const RENDER: &str = "\
Examples:
  bundle render -o out/ --registry harbor.example.com/platform
  bundle render --check                           # problems only, nothing written
  bundle render --bundle platform.tar.zst --registry harbor.example.com/platform -o out/";

/// `bundle export --help`.
pub(super) const EXPORT: &str = "\
Examples:
  bundle export --airgap -o platform.tar.zst
  bundle export --airgap --since old-platform.tar.zst -o delta.tar.zst
  bundle export --airgap --platform linux/amd64 --max-size 4GiB -o platform.tar";

/// `bundle verify --help`.
pub(super) const VERIFY: &str = "\
Examples:
  bundle verify platform.tar.zst
  bundle verify delta.tar.zst --base platform.tar.zst
  bundle verify platform.parts --format json";

/// `bundle inspect --help`.
pub(super) const INSPECT: &str = "\
Examples:
  bundle inspect platform.tar.zst
  bundle inspect platform/ --format json";

/// `bundle mirror --help`.
pub(super) const MIRROR: &str = "\
Examples:
  bundle mirror platform.tar.zst --to harbor.example.com/platform --create-project -o out/
  bundle mirror platform.tar.zst --to harbor.example.com/platform --username robot --password-stdin < token
  bundle mirror platform/ --to 127.0.0.1:5000/platform --insecure-registry 127.0.0.1:5000";

/// `bundle completions --help`.
pub(super) const COMPLETIONS: &str = "\
Examples:
  bundle completions bash > ~/.local/share/bash-completion/completions/bundle
  bundle completions zsh > ~/.zfunc/_bundle       # with fpath+=(~/.zfunc) before compinit
  bundle completions fish > ~/.config/fish/completions/bundle.fish";

/// `bundle man --help`.
pub(super) const MAN: &str = "\
Examples:
  bundle man | man -l -                           # read it now
  bundle man -o ~/.local/share/man/man1           # bundle.1 and one page per subcommand";

/// The example command lines of a help text: the lines after `Examples:` that start with `bundle `.
pub(super) fn lines(help: &str) -> Vec<&str> {
    help.split_once("Examples:")
        .map(|(_, rest)| {
            rest.lines()
                .map(str::trim)
                .filter(|l| l.starts_with("bundle "))
                .collect()
        })
        .unwrap_or_default()
}

/// The words of an example command line as a POSIX shell splits them (quotes, backslashes, `~`
/// kept as written), up to the first unquoted comment, pipe, redirection or command separator.
#[cfg(test)]
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            '#' | '|' | '>' | '<' | ';' | '&' if word.is_none() || c != '#' => break,
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::{CommandFactory, Parser};

    /// Every command, with the words that call it (`["bundle", "catalog", "show"]`) and its long help.
    fn every_command() -> Vec<(Vec<String>, String)> {
        fn walk(cmd: &mut clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
            out.push((path.clone(), cmd.render_long_help().to_string()));
            // clap's own `help` subcommands have no examples of their own.
            for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
                let mut p = path.clone();
                p.push(sub.get_name().to_string());
                walk(sub, p, out);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut out = Vec::new();
        walk(&mut cmd, vec!["bundle".to_string()], &mut out);
        out
    }

    #[test]
    fn shell_words_split_like_a_shell() {
        assert_eq!(
            shell_words(r#"bundle solve --kubernetes '~1.35' --with "a b" c\ d  # note"#),
            [
                "bundle",
                "solve",
                "--kubernetes",
                "~1.35",
                "--with",
                "a b",
                "c d"
            ]
        );
        assert_eq!(
            shell_words("bundle man | man -l -"),
            ["bundle", "man"],
            "a pipe ends the command"
        );
        assert_eq!(
            shell_words("bundle x a#b > f"),
            ["bundle", "x", "a#b"],
            "# inside a word is not a comment"
        );
    }

    #[test]
    fn every_command_ends_its_help_with_examples_that_parse() {
        let commands = every_command();
        assert!(commands.len() > 15, "{}", commands.len());
        for (path, help) in &commands {
            let examples = lines(help);
            let tail = help.trim_end().rsplit_once("Examples:").map(|(_, t)| t);
            assert!(
                examples.len() >= 2
                    && tail.is_some_and(|t| lines(&format!("Examples:{t}")) == examples),
                "`{}` --help does not end with two or more examples:\n{help}",
                path.join(" ")
            );
            for example in examples {
                let words = shell_words(example);
                assert!(
                    words.starts_with(path),
                    "`{example}` is in the help of `{}` but runs another command",
                    path.join(" ")
                );
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!(
                        "`{example}` (help of `{}`) does not parse:\n{e}",
                        path.join(" ")
                    );
                }
            }
        }
    }

    #[test]
    fn a_renamed_flag_fails_the_parse() {
        // The check above can fail: an example with a flag the definition lacks is refused.
        let words = shell_words("bundle export --airgap --out platform.tar");
        assert!(Cli::try_parse_from(&words).is_err());
    }
}
