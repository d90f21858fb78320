//! Drawing [`Progress`] events on standard error (never standard output, which stays the command's
//! output: tables, JSON). [`Draw`] picks how: bars on a terminal ([`super::bars`]), plain lines
//! otherwise ([`Lines`]: what each command always printed, a line at each phase change, and a
//! heartbeat line when a phase has said nothing for a while), nothing with `--quiet`.

use std::cell::Cell;
use std::io::IsTerminal as _;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::bars::Bars;
use super::format::human_bytes;
use super::style::{Style, unit};
use crate::progress::{Event, Outcome, Phase, Progress, Tally};

/// The environment variable that sets how many seconds a phase may run without a plain line before
/// one says where it is (default [`DEFAULT_INTERVAL`]).
pub(crate) const INTERVAL_VAR: &str = "BUNDLE_PROGRESS_INTERVAL";

/// See [`INTERVAL_VAR`].
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Progress as a command shows it on standard error.
pub(crate) enum Draw {
    /// `--quiet`.
    Quiet,
    /// Standard error is not a terminal (a log, a pipe, CI) or `TERM=dumb`.
    Lines(Lines),
    /// Standard error is a terminal.
    Bars(Bars),
}

impl Draw {
    /// How `style` shows progress here: nothing when `quiet`, bars when standard error is a terminal,
    /// plain lines otherwise.
    pub(crate) fn new(style: Style, quiet: bool) -> Draw {
        if quiet {
            return Draw::Quiet;
        }
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if std::io::stderr().is_terminal() && !dumb {
            Draw::Bars(Bars::new(style))
        } else {
            Draw::Lines(Lines::new(style, false).with_heartbeat(interval()))
        }
    }
}

impl Progress for Draw {
    fn event(&self, event: &Event<'_>) {
        match self {
            Draw::Quiet => {}
            Draw::Lines(l) => l.event(event),
            Draw::Bars(b) => b.event(event),
        }
    }
}

/// [`INTERVAL_VAR`] or the default; at least a tenth of a second.
fn interval() -> Duration {
    std::env::var(INTERVAL_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.1)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_INTERVAL)
}

/// `12/40 blobs, 4.0 MiB/16.0 MiB` (what is known of a tally).
fn where_at(phase: Phase, t: &Tally) -> String {
    let mut text = if t.total > 0 {
        format!("{}/{} {}", t.done, t.total, unit(phase))
    } else {
        format!("{} {}", t.done, unit(phase))
    };
    if t.bytes_total > 0 {
        text.push_str(&format!(
            ", {}/{}",
            human_bytes(t.bytes_done),
            human_bytes(t.bytes_total)
        ));
    } else if t.bytes_done > 0 {
        text.push_str(&format!(", {}", human_bytes(t.bytes_done)));
    }
    if t.failed > 0 {
        text.push_str(&format!(", {} failed", t.failed));
    }
    text
}

/// The phase in progress and when a line was last written, shared with the heartbeat thread.
struct Beat {
    current: Option<(Phase, Tally, Instant)>,
    said: Instant,
}

/// A thread that writes where the current phase is when no line was written for an interval; stops
/// when dropped.
struct Heartbeat {
    beat: Arc<Mutex<Beat>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    fn start(every: Duration) -> Heartbeat {
        let beat = Arc::new(Mutex::new(Beat {
            current: None,
            said: Instant::now(),
        }));
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = beat.clone();
        let tick = (every / 4).min(Duration::from_millis(500));
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                let Ok(mut b) = shared.lock() else { return };
                if let Some((phase, tally, since)) = b.current
                    && b.said.elapsed() >= every
                {
                    eprintln!(
                        "{phase}: {} ({} s)",
                        where_at(phase, &tally),
                        since.elapsed().as_secs()
                    );
                    b.said = Instant::now();
                }
            }
        });
        Heartbeat {
            beat,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Beat)) {
        if let Ok(mut b) = self.beat.lock() {
            f(&mut b);
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Progress as lines on standard error.
pub(crate) struct Lines {
    style: Style,
    quiet: bool,
    last: Cell<Option<Instant>>,
    heartbeat: Option<Heartbeat>,
}

impl Lines {
    /// Lines in `style`; nothing at all when `quiet`.
    pub(crate) fn new(style: Style, quiet: bool) -> Lines {
        Lines {
            style,
            quiet,
            last: Cell::new(None),
            heartbeat: None,
        }
    }

    /// Also a line saying where the current phase is whenever `every` passes without one.
    pub(crate) fn with_heartbeat(mut self, every: Duration) -> Lines {
        if !self.quiet {
            self.heartbeat = Some(Heartbeat::start(every));
        }
        self
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

    /// Writes a line (and tells the heartbeat).
    fn say(&self, line: std::fmt::Arguments<'_>) {
        eprintln!("{line}");
        if let Some(h) = &self.heartbeat {
            h.update(|b| b.said = Instant::now());
        }
    }

    /// Keeps the heartbeat's view of the current phase.
    fn follow(&self, event: &Event<'_>) {
        let Some(h) = &self.heartbeat else { return };
        h.update(|b| match *event {
            Event::PhaseStarted { phase, total } => {
                b.current = Some((phase, total, Instant::now()));
                b.said = Instant::now();
            }
            Event::ItemFinished { phase, tally, .. } => {
                if let Some((p, t, _)) = b.current.as_mut()
                    && *p == phase
                {
                    *t = tally;
                }
            }
            Event::PhaseFinished { phase, .. } => {
                if b.current.is_some_and(|(p, ..)| p == phase) {
                    b.current = None;
                }
            }
            Event::ItemStarted { .. } => {}
        });
    }

    /// The line a phase starts with, where the command's own lines would say nothing for a while.
    fn phase_started(&self, phase: Phase, total: &Tally) {
        match (self.style, phase) {
            (Style::Export, Phase::Manifests) if total.total > 0 => {
                self.say(format_args!("{phase}: {} images to fetch", total.total))
            }
            (Style::Export, Phase::Blobs) if total.total > 0 => self.say(format_args!(
                "{phase}: {} to fetch or reuse ({})",
                total.total,
                human_bytes(total.bytes_total)
            )),
            (Style::Mirror, _) if total.total > 0 => {
                self.say(format_args!("{phase}: {} to check", total.total))
            }
            _ => {}
        }
    }

    fn pin_line(&self, check: bool, event: &Event<'_>) {
        match *event {
            Event::ItemFinished {
                phase: Phase::UsedImages,
                item,
                tally,
                ..
            } => self.say(format_args!(
                "images used by {}/{} {item}",
                tally.done, tally.total
            )),
            Event::ItemFinished {
                phase: Phase::Resolve | Phase::Artifacts,
                item,
                outcome,
                tally,
            } => {
                let verb = if check { "checked" } else { "pinned" };
                let (done, total) = (tally.done, tally.total);
                match outcome {
                    Outcome::Resolved(d) => {
                        self.say(format_args!("{verb} {done}/{total} {item} {d}"))
                    }
                    _ => self.say(format_args!("{verb} {done}/{total} {item} failed")),
                }
            }
            _ => {}
        }
    }

    fn export_line(&self, event: &Event<'_>) {
        match *event {
            Event::ItemFinished {
                phase,
                item,
                outcome,
                tally,
            } => match phase {
                Phase::Resolve => {
                    if let Outcome::Resolved(d) = outcome {
                        self.say(format_args!("pinned {item} {d}"));
                    }
                }
                Phase::Manifests if tally.done == tally.total => self.say(format_args!(
                    "manifests of {}/{} images",
                    tally.done, tally.total
                )),
                Phase::Blobs if self.due(tally.done == tally.total) => self.say(format_args!(
                    "fetched {}/{} blobs, {:.1} MiB{}",
                    tally.done - tally.failed,
                    tally.total,
                    tally.bytes_moved as f64 / 1_048_576.0,
                    if tally.failed > 0 {
                        format!(", {} failed", tally.failed)
                    } else {
                        String::new()
                    }
                )),
                _ => {}
            },
            Event::ItemStarted {
                phase: Phase::Pack,
                item,
                ..
            } => self.say(format_args!("packing {item}")),
            _ => {}
        }
    }
}

impl Progress for Lines {
    fn event(&self, event: &Event<'_>) {
        if self.quiet {
            return;
        }
        self.follow(event);
        if let Event::PhaseStarted { phase, total } = event {
            self.phase_started(*phase, total);
        }
        match (self.style, event) {
            (Style::Pin { check }, _) => self.pin_line(check, event),
            (Style::Export, _) => self.export_line(event),
            (Style::Mirror | Style::Verify, _) => {}
        }
    }
}
