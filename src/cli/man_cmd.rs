//! `bundle man`: manual pages in roff, generated from the clap definition, each with the examples
//! that end the command's `--help` as an EXAMPLES section.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};

use super::{Cli, Failure, examples};

/// Arguments of `bundle man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write bundle.1 and one page per subcommand (bundle-export.1, bundle-catalog-check.1, …) into
    /// DIR (created if missing) instead of bundle.1 to standard output.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
}

pub(super) fn run(args: ManArgs) -> Result<(), Failure> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = args.output else {
        out!("{}", page(&cmd));
        return Ok(());
    };
    std::fs::create_dir_all(&dir).map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
    let written = write_pages(&cmd, &dir)
        .map_err(|e| Failure::usage(format!("writing man pages into {}: {e}", dir.display())))?;
    eprintln!("wrote {written} man pages to {}", dir.display());
    Ok(())
}

/// Writes the page of `cmd` and of every subcommand below it; returns how many.
fn write_pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<usize> {
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    std::fs::write(dir.join(format!("{name}.1")), page(cmd))?;
    let mut written = 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written += write_pages(sub, dir)?;
    }
    Ok(written)
}

/// The roff page of one (built) command: clap_mangen's sections, then the examples of its help, one
/// per line (clap_mangen's own extra section would fill them into one paragraph).
fn page(cmd: &clap::Command) -> String {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut roff: Vec<u8> = Vec::new();
    // Writing into a Vec cannot fail: the results are ignored.
    let _ = man.render_title(&mut roff);
    let _ = man.render_name_section(&mut roff);
    let _ = man.render_synopsis_section(&mut roff);
    let _ = man.render_description_section(&mut roff);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut roff);
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        let _ = man.render_subcommands_section(&mut roff);
    }
    let help = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let lines = examples::lines(&help);
    if !lines.is_empty() {
        roff.extend_from_slice(b".SH EXAMPLES\n.nf\n");
        for line in lines {
            roff.extend_from_slice(escape(line).as_bytes());
            roff.push(b'\n');
        }
        roff.extend_from_slice(b".fi\n");
    }
    if cmd.get_version().is_some() {
        let _ = man.render_version_section(&mut roff);
    }
    // Each section starts with the same two lines defining `\*(Aq`: keep the first.
    let text = String::from_utf8_lossy(&roff);
    let mut seen = std::collections::HashSet::new();
    let mut page = String::with_capacity(text.len());
    for line in text.lines() {
        if !(line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq"))
            || seen.insert(line)
        {
            page.push_str(line);
            page.push('\n');
        }
    }
    page
}

/// A line of text for roff: backslashes and hyphens escaped, no control character at its start.
fn escape(line: &str) -> String {
    let text = line.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}
