//! The smallest conflicting part of a request: which request items cannot hold together.

use super::request::{Request, RequestItem};
use super::sat::Oracle;

/// The preferred minimal conflicting subset of `items` (which conflict as a whole, while no item
/// alone does): items are dropped from the last to the first wherever the rest still conflicts, so
/// dropping any item of the result makes the conflict go away, and of all minimal conflicts it is
/// the one that prefers earlier items (the one Junker's QuickXplain finds for this order).
///
/// Most trials never search: a conflict that propagation alone shows names its premises
/// ([`Oracle::refute`]), and while those premises are all kept, dropping any other item still
/// conflicts. Only a trial that propagation does not refute asks the search ([`Oracle::feasible`]);
/// a kept item costs one such search.
pub(super) fn minimal_core(oracle: &Oracle<'_>, items: &[RequestItem]) -> Vec<RequestItem> {
    let catalog = oracle.catalog();
    let trial =
        |idx: &[usize]| -> Vec<RequestItem> { idx.iter().map(|i| items[*i].clone()).collect() };
    let refuted = |idx: &[usize]| -> Option<Vec<usize>> {
        let (q, tags) = Request::query_tagged(catalog, &trial(idx));
        let premises = oracle.refute(&q)?;
        Some(
            premises
                .iter()
                .filter_map(|p| tags[*p])
                .map(|t| idx[t])
                .collect(),
        )
    };
    let fits = |idx: &[usize]| oracle.feasible(&Request::query_for(catalog, &trial(idx)));
    trial(&drop_from_last(items.len(), &refuted, &fits))
}

/// [`minimal_core`] over item indices `0..n`, all of which conflict together: `refuted` gives
/// the premises of a refutation by propagation of the items given (a subset of them that
/// conflicts), or `None`; `fits` says whether the items given have no conflict at all.
fn drop_from_last(
    n: usize,
    refuted: &dyn Fn(&[usize]) -> Option<Vec<usize>>,
    fits: &dyn Fn(&[usize]) -> bool,
) -> Vec<usize> {
    let mut keep = vec![true; n];
    let kept = |keep: &[bool]| -> Vec<usize> { (0..n).filter(|i| keep[*i]).collect() };
    let mut known = refuted(&kept(&keep));
    for i in (0..n).rev() {
        keep[i] = false;
        if known.as_ref().is_some_and(|k| k.iter().all(|j| keep[*j])) {
            continue;
        }
        let idx = kept(&keep);
        match refuted(&idx) {
            Some(premises) => known = Some(premises),
            None => keep[i] = fits(&idx),
        }
    }
    kept(&keep)
}

#[cfg(test)]
mod tests {
    use super::drop_from_last;

    /// Junker's QuickXplain, the previous way to the core: the reference the new one must match.
    fn quick_xplain(
        fails: &dyn Fn(&[usize]) -> bool,
        background: &[usize],
        background_changed: bool,
        items: &[usize],
    ) -> Vec<usize> {
        if background_changed && fails(background) {
            return Vec::new();
        }
        if items.len() <= 1 {
            return items.to_vec();
        }
        let (first, second) = items.split_at(items.len() / 2);
        let with_first: Vec<usize> = background.iter().chain(first).copied().collect();
        let d2 = quick_xplain(fails, &with_first, !first.is_empty(), second);
        let with_d2: Vec<usize> = background.iter().chain(&d2).copied().collect();
        let d1 = quick_xplain(fails, &with_d2, !d2.is_empty(), first);
        let mut out: Vec<usize> = d1.into_iter().chain(d2).collect();
        out.sort_unstable();
        out
    }

    /// Random families of conflicts over up to 12 items; some of them "propagation" sees (with
    /// its premises), the others only the complete check does.
    #[test]
    fn the_core_is_the_one_quickxplain_finds_and_searches_only_for_kept_items() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let n = 1 + next(12) as usize;
            let conflicts: Vec<(Vec<usize>, bool)> = (0..1 + next(4))
                .map(|_| {
                    let mut c: Vec<usize> =
                        (0..1 + next(3)).map(|_| next(n as u64) as usize).collect();
                    c.sort_unstable();
                    c.dedup();
                    (c, next(3) > 0)
                })
                .collect();
            let holds = |c: &[usize], s: &[usize]| c.iter().all(|x| s.contains(x));
            let fails = |s: &[usize]| conflicts.iter().any(|(c, _)| holds(c, s));
            let all: Vec<usize> = (0..n).collect();
            if !fails(&all) {
                continue;
            }
            let refuted = |s: &[usize]| {
                conflicts
                    .iter()
                    .find(|(c, seen)| *seen && holds(c, s))
                    .map(|(c, _)| c.clone())
            };
            let searches = std::cell::Cell::new(0);
            let fits = |s: &[usize]| {
                searches.set(searches.get() + 1);
                !fails(s)
            };
            let core = drop_from_last(n, &refuted, &fits);
            assert_eq!(
                core,
                quick_xplain(&fails, &[], false, &all),
                "{conflicts:?}"
            );
            assert!(fails(&core));
            for i in 0..core.len() {
                let mut less = core.clone();
                less.remove(i);
                assert!(!fails(&less), "{core:?} is not minimal for {conflicts:?}");
            }
            if conflicts.iter().all(|(_, seen)| *seen) {
                assert!(
                    searches.get() <= core.len(),
                    "{conflicts:?}: {} searches",
                    searches.get()
                );
            }
        }
    }
}
