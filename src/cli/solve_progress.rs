//! What `bundle solve` shows while a long solve runs: on a terminal, a spinner line saying how far
//! the search (or its fallback) has got, from the solver's [`SolveProgress`] events (the first
//! comes after a second, so a quick solve shows nothing); on any stderr, one note when the search
//! spends its budget and the slower fallback takes over.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::solver::SolveProgress;

/// Draws the solver's progress events; see the module docs.
pub(super) struct SolveReporter {
    bar: RefCell<Option<ProgressBar>>,
    started: Instant,
    dead_ends: Cell<usize>,
}

impl SolveReporter {
    /// Nothing drawn yet.
    pub(super) fn new() -> Self {
        SolveReporter {
            bar: RefCell::new(None),
            started: Instant::now(),
            dead_ends: Cell::new(0),
        }
    }

    /// One event from the solver.
    pub(super) fn event(&self, event: SolveProgress) {
        match event {
            SolveProgress::Searching {
                settled,
                entered,
                dead_ends,
            } => {
                self.dead_ends.set(dead_ends);
                self.show(format!(
                    "searching: {settled} decided, {entered} in the platform so far, {dead_ends} \
                     dead ends learned from"
                ));
            }
            SolveProgress::FallingBack => {
                let note = format!(
                    "note: the search did not settle the platform within its budget ({} dead ends \
                     in {:.1} s); settling one decision at a time instead, each checked by resolvo \
                     (the same answer; on a large catalog this can take minutes)",
                    self.dead_ends.get(),
                    self.started.elapsed().as_secs_f64()
                );
                match self.bar.borrow().as_ref() {
                    Some(bar) => bar.suspend(|| eprintln!("{note}")),
                    None => eprintln!("{note}"),
                }
            }
            SolveProgress::Checking { settled, entered } => self.show(format!(
                "one decision at a time: {settled} of {entered} components settled"
            )),
        }
    }

    /// The spinner line (made on the first event; hidden when stderr is not a terminal).
    fn show(&self, message: String) {
        let mut bar = self.bar.borrow_mut();
        let bar = bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} solving · {msg} · {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        bar.set_message(message);
    }

    /// Clears the spinner line.
    pub(super) fn finish(&self) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}
