//! What long operations (`pin`, `export`, `mirror`, `verify`) report as they go: one event type, which the
//! library emits and `cli` draws (plain lines today; bars or JSON events need nothing more).
//!
//! An operation is a sequence of [`Phase`]s. Each phase announces its size ([`Event::PhaseStarted`]:
//! items and, where known, bytes), then reports each item as it starts and finishes
//! ([`Event::ItemStarted`], [`Event::ItemFinished`], with running totals in a [`Tally`]), then ends
//! ([`Event::PhaseFinished`]). Items are images (resolving, manifests), blobs (by digest) or
//! registry operations (mirror). Events come on the thread that called the operation, one at a time.

use std::cell::Cell;
use std::fmt;

use crate::types::Digest;

/// Told about an operation as it goes. The library never prints.
pub trait Progress {
    /// One event.
    fn event(&self, event: &Event<'_>);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: &Event<'_>) {}
}

/// A stage of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Tags resolved to digests (`pin`, and `export` for images the lock does not pin).
    Resolve,
    /// Classic chart repositories' `index.yaml` fetched (`pin`, `export`), one item per repository.
    ChartIndexes,
    /// Charts and release manifests resolved and fetched into the cache (`pin`, `export`), one item
    /// per chart or manifest.
    Artifacts,
    /// Charts rendered and release manifests read for the images they use (`pin`), one item per
    /// chart or manifest.
    UsedImages,
    /// Manifests and indexes fetched (`export`), one item per image.
    Manifests,
    /// Referrers (signatures, attestations, SBOMs) of every image discovered and their manifests
    /// fetched (`export`), one item per image.
    Referrers,
    /// Config and layer blobs fetched (`export`), one item per blob.
    Blobs,
    /// The layout archived into a `.tar`/`.tar.zst` (`export`), one item: the archive.
    Pack,
    /// The target's tags looked up (`mirror`), one item per tag: a tag at the bundle's digest stands
    /// for its whole tree.
    CheckTags,
    /// The manifests of the trees that differ looked up by digest, a level at a time (`mirror`).
    CheckManifests,
    /// The blobs of the manifests the target lacks looked up (`mirror`).
    CheckBlobs,
    /// The blobs to push read from the bundle and checked against their digests (`mirror`).
    ReadBlobs,
    /// Blobs pushed, each into its first repository (`mirror`).
    PushBlobs,
    /// Blobs pushed into the other repositories that need them, mounted where possible (`mirror`).
    MountBlobs,
    /// Image manifests pushed by digest (`mirror`).
    PushManifests,
    /// Indexes pushed by digest (`mirror`).
    PushIndexes,
    /// Tags written (`mirror`).
    PushTags,
    /// Manifests and tags read back and compared (`mirror --verify-remote`).
    VerifyRemote,
    /// Blobs read and rehashed (`verify`), one item per blob; items and bytes are known beforehand
    /// for a directory bundle only (0 for an archive, which is read once, as a stream).
    Rehash,
}

impl Phase {
    /// A short name for people.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::ChartIndexes => "chart repository indexes",
            Phase::Artifacts => "charts and manifests",
            Phase::UsedImages => "images the artifacts use",
            Phase::Manifests => "manifests",
            Phase::Referrers => "referrers",
            Phase::Blobs => "blobs",
            Phase::Pack => "pack",
            Phase::CheckTags => "tags at the target",
            Phase::CheckManifests => "manifests at the target",
            Phase::CheckBlobs => "blobs at the target",
            Phase::ReadBlobs => "read and check blobs",
            Phase::PushBlobs => "blobs",
            Phase::MountBlobs => "blobs (other repositories)",
            Phase::PushManifests => "manifests",
            Phase::PushIndexes => "indexes",
            Phase::PushTags => "tags",
            Phase::VerifyRemote => "verify",
            Phase::Rehash => "rehash",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Running totals of a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Items finished (done, reused or failed).
    pub done: usize,
    /// Of those, the ones that failed.
    pub failed: usize,
    /// Items in the phase.
    pub total: usize,
    /// Bytes of the finished items (moved or found in place).
    pub bytes_done: u64,
    /// Bytes of every item of the phase (0 when not known).
    pub bytes_total: u64,
    /// Bytes that went over the network so far.
    pub bytes_moved: u64,
}

/// How one item ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Done: fetched, pushed, written.
    Done,
    /// Already in place (in the layout, on the registry): nothing moved.
    Reused,
    /// Resolved to this digest.
    Resolved(&'a Digest),
    /// Failed (the error is reported with the operation's result).
    Failed,
}

/// One thing that happened.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A phase starts; `total` has its items and bytes (nothing done yet).
    PhaseStarted {
        /// The phase.
        phase: Phase,
        /// Its size.
        total: Tally,
    },
    /// An item starts (an image reference, a blob digest, `repository@digest`, an archive path).
    ItemStarted {
        /// The phase.
        phase: Phase,
        /// The item.
        item: &'a str,
        /// Its size in bytes, when known.
        bytes: Option<u64>,
    },
    /// An item finished.
    ItemFinished {
        /// The phase.
        phase: Phase,
        /// The item.
        item: &'a str,
        /// How it ended.
        outcome: Outcome<'a>,
        /// The phase's totals, this item included.
        tally: Tally,
    },
    /// A phase ended.
    PhaseFinished {
        /// The phase.
        phase: Phase,
        /// Its totals.
        tally: Tally,
    },
}

/// Counts a phase and reports it: the bookkeeping every operation shares. Its methods take `&self`,
/// so the closures that start jobs and the ones that hear their results can both use it.
pub(crate) struct PhaseReport<'p> {
    progress: &'p dyn Progress,
    phase: Phase,
    tally: Cell<Tally>,
}

impl<'p> PhaseReport<'p> {
    /// Starts `phase` with `items` items of `bytes` bytes in all (0: not known).
    pub(crate) fn start(
        progress: &'p dyn Progress,
        phase: Phase,
        items: usize,
        bytes: u64,
    ) -> PhaseReport<'p> {
        let tally = Tally {
            total: items,
            bytes_total: bytes,
            ..Tally::default()
        };
        progress.event(&Event::PhaseStarted {
            phase,
            total: tally,
        });
        PhaseReport {
            progress,
            phase,
            tally: Cell::new(tally),
        }
    }

    /// An item starts.
    pub(crate) fn started(&self, item: &str, bytes: Option<u64>) {
        self.progress.event(&Event::ItemStarted {
            phase: self.phase,
            item,
            bytes,
        });
    }

    /// An item of `bytes` bytes finished, `moved` of them over the network.
    pub(crate) fn finished(&self, item: &str, outcome: Outcome<'_>, bytes: u64, moved: u64) {
        let mut tally = self.tally.get();
        tally.done += 1;
        if outcome == Outcome::Failed {
            tally.failed += 1;
        }
        tally.bytes_done += bytes;
        tally.bytes_moved += moved;
        self.tally.set(tally);
        self.progress.event(&Event::ItemFinished {
            phase: self.phase,
            item,
            outcome,
            tally,
        });
    }

    /// The phase ends.
    pub(crate) fn end(self) -> Tally {
        let tally = self.tally.get();
        self.progress.event(&Event::PhaseFinished {
            phase: self.phase,
            tally,
        });
        tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Record(RefCell<Vec<String>>);
    impl Progress for Record {
        fn event(&self, e: &Event<'_>) {
            let line = match e {
                Event::PhaseStarted { phase, total } => format!("start {phase} {}", total.total),
                Event::ItemStarted { item, .. } => format!("item {item}"),
                Event::ItemFinished { item, tally, .. } => {
                    format!(
                        "done {item} {}/{} {}B",
                        tally.done, tally.total, tally.bytes_moved
                    )
                }
                Event::PhaseFinished { phase, tally } => format!("end {phase} {}", tally.done),
            };
            self.0.borrow_mut().push(line);
        }
    }

    #[test]
    fn a_phase_counts_what_it_reports() {
        let r = Record(RefCell::new(Vec::new()));
        let p = PhaseReport::start(&r, Phase::Blobs, 2, 30);
        p.started("a", Some(10));
        p.finished("a", Outcome::Done, 10, 10);
        p.finished("b", Outcome::Reused, 20, 0);
        let t = p.end();
        assert_eq!((t.done, t.bytes_done, t.bytes_moved), (2, 30, 10));
        assert_eq!(
            r.0.into_inner(),
            [
                "start blobs 2",
                "item a",
                "done a 1/2 10B",
                "done b 2/2 10B",
                "end blobs 2"
            ]
        );
    }
}
