//! Drawing [`Progress`] events as plain lines on standard error, one style per command. (Bars on a
//! terminal, or JSON events, would be other implementations of the same trait.)

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::progress::{Event, Outcome, Phase, Progress};

/// Which command's lines to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `pin`: one line per image, `pinned`/`checked` N/M.
    Pin {
        /// `bundle pin --check`.
        check: bool,
    },
    /// `export`: pinned images, manifests done, blobs at most about once a second, packing.
    Export,
    /// `mirror`: one line per phase, and a counter on a terminal.
    Mirror {
        /// Whether standard error is a terminal.
        tty: bool,
    },
}

/// Progress as lines on standard error.
pub(crate) struct Lines {
    style: Style,
    quiet: bool,
    last: Cell<Option<Instant>>,
}

impl Lines {
    /// Lines in `style`; nothing at all when `quiet`.
    pub(crate) fn new(style: Style, quiet: bool) -> Lines {
        Lines {
            style,
            quiet,
            last: Cell::new(None),
        }
    }

    /// Whether a throttled line is due (at most one a second; the last one always).
    fn due(&self, last_item: bool) -> bool {
        let now = Instant::now();
        let due = self
            .last
            .get()
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if due || last_item {
            self.last.set(Some(now));
        }
        due || last_item
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

impl Progress for Lines {
    fn event(&self, event: &Event<'_>) {
        if self.quiet {
            return;
        }
        match (self.style, event) {
            (
                Style::Pin { .. },
                Event::ItemFinished {
                    phase: Phase::UsedImages,
                    item,
                    tally,
                    ..
                },
            ) => eprintln!("images used by {}/{} {item}", tally.done, tally.total),
            (
                Style::Pin { check },
                Event::ItemFinished {
                    phase: Phase::Resolve | Phase::Artifacts,
                    item,
                    outcome,
                    tally,
                },
            ) => {
                let verb = if check { "checked" } else { "pinned" };
                let (done, total) = (tally.done, tally.total);
                match outcome {
                    Outcome::Resolved(d) => eprintln!("{verb} {done}/{total} {item} {d}"),
                    _ => eprintln!("{verb} {done}/{total} {item} failed"),
                }
            }
            (
                Style::Export,
                Event::ItemFinished {
                    phase,
                    item,
                    outcome,
                    tally,
                },
            ) => match phase {
                Phase::Resolve => {
                    if let Outcome::Resolved(d) = outcome {
                        eprintln!("pinned {item} {d}");
                    }
                }
                Phase::Manifests if tally.done == tally.total => {
                    eprintln!("manifests of {}/{} images", tally.done, tally.total)
                }
                Phase::Blobs if self.due(tally.done == tally.total) => eprintln!(
                    "fetched {}/{} blobs, {:.1} MiB{}",
                    tally.done - tally.failed,
                    tally.total,
                    mib(tally.bytes_moved),
                    if tally.failed > 0 {
                        format!(", {} failed", tally.failed)
                    } else {
                        String::new()
                    }
                ),
                _ => {}
            },
            (
                Style::Export,
                Event::ItemStarted {
                    phase: Phase::Pack,
                    item,
                    ..
                },
            ) => eprintln!("packing {item}"),
            (Style::Mirror { .. }, Event::PhaseStarted { phase, total }) if total.total > 0 => {
                eprintln!("{phase}: {} to check", total.total)
            }
            (Style::Mirror { tty: true }, Event::ItemFinished { phase, tally, .. }) => {
                eprint!("\r  {phase}: {}/{}", tally.done, tally.total);
                if tally.done == tally.total {
                    eprintln!();
                }
            }
            _ => {}
        }
    }
}
