//! The search for one step's platform: every component gets a value from its domain (a version or
//! absent), in domain order, so the first platform found is the preferred one (a component stays
//! where its domain puts "stay" first). Facts between two components are checked as soon as both
//! are decided, capability requirements and the plan's `keep` list as soon as no open component
//! could still meet them; the whole platform is checked once more at the end.

use super::model::{Model, State};
use crate::types::Version;

/// At most this many partial platforms are tried before the search gives up.
const BUDGET: usize = 200_000;

/// The first platform, in domain order, in which every fact holds; `None` when there is none
/// (or the budget ran out).
pub(crate) fn first(model: &Model<'_>, domains: &[Vec<Option<Version>>]) -> Option<State> {
    let n = domains.len();
    let open: Vec<bool> = domains
        .iter()
        .map(|d| d.iter().any(Option::is_some))
        .collect();
    let mut st: State = vec![None; n];
    let mut budget = BUDGET;
    if go(model, domains, &open, &mut st, 0, &mut budget) {
        Some(st)
    } else {
        None
    }
}

fn go(
    model: &Model<'_>,
    domains: &[Vec<Option<Version>>],
    open: &[bool],
    st: &mut State,
    i: usize,
    budget: &mut usize,
) -> bool {
    if i == domains.len() {
        return model.broken(st).is_empty();
    }
    for value in &domains[i] {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        st[i] = value.clone();
        let fits = match value {
            Some(v) => (0..i).all(|j| model.pair(i, v, j, st[j].as_ref()).is_empty()),
            None => (0..i).all(|j| {
                st[j]
                    .as_ref()
                    .is_none_or(|vj| model.pair(j, vj, i, None).is_empty())
            }),
        };
        if fits
            && model.capabilities_possible(st, i + 1, open)
            && go(model, domains, open, st, i + 1, budget)
        {
            return true;
        }
    }
    st[i] = None;
    false
}
