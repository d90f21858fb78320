//! Progress bars on a terminal (`indicatif`), drawn from the same [`Progress`] events as the plain
//! lines: one bar per phase, added when the phase starts and left on screen, finished at its total,
//! when it ends. A phase that knows its bytes shows bytes done/total, rate and ETA with the items
//! done/total beside them (`3/12 blobs`); one that knows only its items counts them (`4/7 images`,
//! with an ETA); one that knows neither (rehashing an archive, read once as a stream) shows what it
//! has done so far and its rate. Bars redraw on their own a few times a second, so a long item still
//! shows the run is alive. Lines that say something (a digest pinned, an item that failed) are
//! printed above the bars.

use std::cell::RefCell;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::style::{Style, unit};
use crate::progress::{Event, Outcome, Phase, Progress, Tally};

/// How often a bar redraws without news (elapsed time, spinner).
const TICK: Duration = Duration::from_millis(200);

/// What a phase's bar measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Bytes of a known total.
    Bytes,
    /// Items of a known number.
    Items,
    /// Neither known: bytes so far.
    Open,
}

impl Mode {
    fn of(total: &Tally) -> Mode {
        if total.bytes_total > 0 {
            Mode::Bytes
        } else if total.total > 0 {
            Mode::Items
        } else {
            Mode::Open
        }
    }

    fn style(self) -> ProgressStyle {
        let template = match self {
            Mode::Bytes => {
                "{prefix:>10} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} · {msg}"
            }
            Mode::Items => "{prefix:>10} [{wide_bar}] {pos}/{len} {msg} ETA {eta} · {elapsed}",
            Mode::Open => {
                "{prefix:>10} {spinner} {bytes} {binary_bytes_per_sec} · {msg} · {elapsed}"
            }
        };
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-")
    }

    /// Where the bar stands for `tally`.
    fn position(self, tally: &Tally) -> u64 {
        match self {
            Mode::Items => tally.done as u64,
            Mode::Bytes | Mode::Open => tally.bytes_done,
        }
    }

    /// The bar's message for `tally`: the items beside the bytes, the unit beside the items.
    fn message(self, phase: Phase, tally: &Tally) -> String {
        let mut text = match self {
            Mode::Bytes => format!("{}/{} {}", tally.done, tally.total, unit(phase)),
            Mode::Items => unit(phase).to_string(),
            Mode::Open => format!("{} {}", tally.done, unit(phase)),
        };
        if tally.failed > 0 {
            text.push_str(&format!(", {} failed", tally.failed));
        }
        text
    }
}

/// Progress bars on standard error.
pub(crate) struct Bars {
    style: Style,
    multi: MultiProgress,
    bars: RefCell<Vec<(Phase, Mode, ProgressBar)>>,
}

impl Bars {
    /// Bars for `style`'s command, on standard error.
    pub(crate) fn new(style: Style) -> Bars {
        Bars {
            style,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: RefCell::new(Vec::new()),
        }
    }

    /// The bar of `phase`, if it has one.
    fn bar(&self, phase: Phase) -> Option<(Mode, ProgressBar)> {
        self.bars
            .borrow()
            .iter()
            .rev()
            .find(|(p, ..)| *p == phase)
            .map(|(_, m, b)| (*m, b.clone()))
    }

    /// A line above the bars.
    fn say(&self, line: String) {
        let _ = self.multi.println(line);
    }

    fn started(&self, phase: Phase, total: &Tally) {
        // Phases with nothing to do get no bar; rehashing an archive does not know its size.
        if total.total == 0 && phase != Phase::Rehash {
            return;
        }
        let mode = Mode::of(total);
        let len = match mode {
            Mode::Bytes => total.bytes_total,
            Mode::Items => total.total as u64,
            Mode::Open => 0,
        };
        let bar = match mode {
            Mode::Open => ProgressBar::new_spinner(),
            _ => ProgressBar::new(len),
        }
        .with_style(mode.style())
        .with_prefix(phase.name())
        .with_message(mode.message(phase, total));
        let bar = self.multi.add(bar);
        bar.enable_steady_tick(TICK);
        self.bars.borrow_mut().push((phase, mode, bar));
    }

    /// The lines each command prints above its bars.
    fn item_line(&self, phase: Phase, item: &str, outcome: &Outcome<'_>, tally: &Tally) {
        match (self.style, phase, outcome) {
            (Style::Pin { check }, Phase::Resolve | Phase::Artifacts, Outcome::Resolved(d)) => {
                let verb = if check { "checked" } else { "pinned" };
                self.say(format!("{verb} {}/{} {item} {d}", tally.done, tally.total));
            }
            (Style::Export, Phase::Resolve, Outcome::Resolved(d)) => {
                self.say(format!("pinned {item} {d}"))
            }
            (_, _, Outcome::Failed) => self.say(format!("{phase}: {item} failed")),
            _ => {}
        }
    }
}

impl Progress for Bars {
    fn event(&self, event: &Event<'_>) {
        match *event {
            Event::PhaseStarted { phase, total } => self.started(phase, &total),
            Event::ItemStarted {
                phase: Phase::Pack,
                item,
                ..
            } => {
                if let Some((_, bar)) = self.bar(Phase::Pack) {
                    bar.set_message(item.to_string());
                }
            }
            Event::ItemStarted { .. } => {}
            Event::ItemFinished {
                phase,
                item,
                outcome,
                tally,
            } => {
                self.item_line(phase, item, &outcome, &tally);
                if let Some((mode, bar)) = self.bar(phase) {
                    // The archive's bar keeps its path as the message.
                    if phase != Phase::Pack {
                        bar.set_message(mode.message(phase, &tally));
                    }
                    bar.set_position(mode.position(&tally));
                }
            }
            Event::PhaseFinished { phase, tally } => {
                if let Some((mode, bar)) = self.bar(phase) {
                    if phase != Phase::Pack {
                        bar.set_message(mode.message(phase, &tally));
                    }
                    bar.set_position(mode.position(&tally));
                    bar.finish();
                }
            }
        }
    }
}
