//! The one job runner: many network operations at once, a bounded number in flight, on the one
//! async runtime of the process (built by `cli`, handed down as a [`Runner`]).
//!
//! Library code stays synchronous at its edges: `export`, `mirror` and `pin` take a [`Runner`] and
//! call [`Runner::run`] (or [`Runner::block_on`] for a single operation). Jobs are spawned on the
//! runtime's worker threads, so hashing and I/O spread over every core; the caller's closures
//! (`start`, `each`) run on the calling thread, one at a time, which is where progress is reported.

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::JoinSet;

/// Whether to go on starting jobs after a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Start the next job.
    Continue,
    /// Start no more jobs; the ones in flight finish and are reported.
    Stop,
}

/// Runs jobs on a runtime, at most `width` at a time.
#[derive(Debug, Clone)]
pub struct Runner {
    handle: Handle,
    width: usize,
}

impl Runner {
    /// A runner on the runtime behind `handle`, with at most `width` jobs (1 to 64) in flight.
    pub fn new(handle: Handle, width: usize) -> Runner {
        Runner {
            handle,
            width: width.clamp(1, 64),
        }
    }

    /// How many jobs may be in flight.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Runs one future to completion (from synchronous code, not from inside the runtime).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Runs `jobs`: `start` turns each into a future (called on this thread when the job starts, so
    /// it may report that), which is spawned; `each` hears every result as it comes (on this thread,
    /// in completion order) and says whether to go on. Returns the jobs never started (after a
    /// [`Flow::Stop`]), in their order.
    ///
    /// A job that panics panics here, on the calling thread.
    pub fn run<J, R, Fut>(
        &self,
        jobs: impl IntoIterator<Item = J>,
        mut start: impl FnMut(J) -> Fut,
        mut each: impl FnMut(R) -> Flow,
    ) -> Vec<J>
    where
        R: Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        let mut jobs = jobs.into_iter();
        self.handle.block_on(async {
            let mut set = JoinSet::new();
            let mut stopped = false;
            for job in jobs.by_ref().take(self.width) {
                set.spawn_on(start(job), &self.handle);
            }
            while let Some(done) = set.join_next().await {
                let result = match done {
                    Ok(r) => r,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => continue, // cancelled: only at runtime shutdown
                };
                if each(result) == Flow::Stop {
                    stopped = true;
                }
                if !stopped && let Some(job) = jobs.next() {
                    set.spawn_on(start(job), &self.handle);
                }
            }
        });
        jobs.collect()
    }
}

/// The runtime of a process: a multi-thread tokio runtime (built once, by `cli`).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn bounded_and_complete() {
        let rt = runtime().unwrap();
        let runner = Runner::new(rt.handle().clone(), 3);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut got = Vec::new();
        let mut started = 0;
        let left = runner.run(
            0..20u64,
            |i| {
                started += 1;
                let (in_flight, most) = (in_flight.clone(), most.clone());
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(5 + i % 3)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    i * 2
                }
            },
            |r| {
                got.push(r);
                Flow::Continue
            },
        );
        assert!(left.is_empty());
        assert_eq!(started, 20);
        got.sort();
        assert_eq!(got, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3);
    }

    #[test]
    fn stop_starts_no_more() {
        let rt = runtime().unwrap();
        let runner = Runner::new(rt.handle().clone(), 2);
        let mut seen = 0;
        let left = runner.run(
            0..10,
            |i| async move { i },
            |_| {
                seen += 1;
                Flow::Stop
            },
        );
        assert_eq!(seen, 2, "the two in flight are reported");
        assert_eq!(left, (2..10).collect::<Vec<_>>());
    }
}
