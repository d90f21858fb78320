//! Which releases a request may not choose, and why: dead (end of life, retired) or untested.

use crate::catalog::{Catalog, Dead};
use crate::types::Date;

use super::request::Request;

/// Per component, per version: why the release may not be chosen (dead on `as_of`, unless `allow_eol`).
pub fn exclusions(catalog: &Catalog, allow_eol: bool, as_of: Date) -> Vec<Vec<Option<String>>> {
    catalog
        .components
        .iter()
        .map(|c| {
            c.versions
                .iter()
                .map(|r| {
                    if allow_eol {
                        return None;
                    }
                    r.lifecycle.dead_on(as_of).map(|d| match d {
                        Dead::EndOfLife(_) => format!("{d} (as of {as_of})"),
                        Dead::Retired(_) => d.to_string(),
                    })
                })
                .collect()
        })
        .collect()
}

/// Why an `untested` version is excluded, as explanations word it.
pub const UNTESTED_REASON: &str = "untested: upstream publishes no Kubernetes range for it";

/// Per component, per version: why the release may not be chosen under `request`: dead on its
/// date (unless it allows end of life) or `untested` (unless it allows untested versions). A
/// version both dead and untested gives both reasons.
pub fn request_exclusions(catalog: &Catalog, request: &Request) -> Vec<Vec<Option<String>>> {
    let _phase = crate::trace::Phase::start("solver exclusions");
    let mut ex = exclusions(catalog, request.allow_eol, request.as_of);
    if !request.allow_untested {
        for (c, row) in catalog.components.iter().zip(ex.iter_mut()) {
            for (r, why) in c.versions.iter().zip(row.iter_mut()) {
                if r.kubernetes.is_untested() {
                    *why = Some(match why.take() {
                        Some(dead) => format!("{dead}, and {UNTESTED_REASON}"),
                        None => UNTESTED_REASON.to_string(),
                    });
                }
            }
        }
    }
    ex
}
