//! Phase timers for finding where a process spends its time: with `BUNDLE_SOLVER_TRACE` set in the
//! environment, each timed phase prints one line to standard error when it ends
//! (`phase catalog load: 98.1 ms`). Unset (the normal case) they cost one check of a flag.

use std::sync::OnceLock;
use std::time::Instant;

/// Whether `BUNDLE_SOLVER_TRACE` is set (read once per process).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BUNDLE_SOLVER_TRACE").is_some())
}

/// A phase being timed: its line is printed when it is dropped (or [`Phase::end`]ed).
#[must_use = "a phase is timed until it is dropped"]
pub struct Phase {
    name: &'static str,
    start: Option<Instant>,
}

impl Phase {
    /// Starts timing phase `name`.
    pub fn start(name: &'static str) -> Phase {
        Phase {
            name,
            start: enabled().then(Instant::now),
        }
    }

    /// Ends the phase now.
    pub fn end(self) {}
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            eprintln!(
                "phase {}: {:.1} ms",
                self.name,
                start.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
