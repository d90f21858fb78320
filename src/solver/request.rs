//! What the user asks for, checked against the catalog.

use std::fmt;

use crate::catalog::{Catalog, KUBERNETES, PlatformSpec, WithSpec, suggest};
use crate::types::{Date, VersionReq};

use super::sat::{Need, Query, Set};

/// A platform request: from flags, a `platform.yaml`, or a catalog profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The Kubernetes range (`*` = newest the rest allows).
    pub kubernetes: VersionReq,
    /// Wanted components and capabilities.
    pub with: Vec<WithSpec>,
    /// Components never to choose.
    pub without: Vec<String>,
    /// Whether end-of-life and retired versions may be chosen.
    pub allow_eol: bool,
    /// Whether `untested` versions (upstream publishes no Kubernetes range for them) may be chosen.
    pub allow_untested: bool,
    /// The date lifecycle is judged on.
    pub as_of: Date,
}

/// The request does not fit the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A name that is neither a component nor a capability.
    #[error("`{name}` is neither a component nor a capability in the catalog{}", did_you_mean(.suggestions))]
    UnknownName {
        /// The name given.
        name: String,
        /// Close names.
        suggestions: Vec<String>,
    },
    /// `--without` names something that is not a component.
    #[error("`--without {name}`: not a component{}", did_you_mean(.suggestions))]
    UnknownWithout {
        /// The name given.
        name: String,
        /// Close names.
        suggestions: Vec<String>,
    },
    /// The same name is both wanted and refused.
    #[error("`{0}` is both in `with` and in `without`")]
    Contradiction(String),
    /// A capability was given a range.
    #[error(
        "`{name}@{range}`: `{name}` is a capability; give the range on a component that provides it ({providers})"
    )]
    RangeOnCapability {
        /// The capability.
        name: String,
        /// The range given.
        range: String,
        /// Its providers.
        providers: String,
    },
}

fn did_you_mean(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(
            "; did you mean {}?",
            s.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

/// One item of a request, as the explanation names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestItem {
    /// The Kubernetes range.
    Kubernetes(VersionReq),
    /// A wanted component or capability.
    With(WithSpec),
    /// A refused component.
    Without(String),
}

impl fmt::Display for RequestItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestItem::Kubernetes(r) => write!(f, "--kubernetes '{r}'"),
            RequestItem::With(w) => write!(f, "--with {w}"),
            RequestItem::Without(n) => write!(f, "--without {n}"),
        }
    }
}

impl Request {
    /// A request from a platform file, judged on `as_of` unless the file fixes its own date.
    pub fn from_spec(spec: &PlatformSpec, as_of: Date) -> Self {
        Request {
            kubernetes: spec.kubernetes.clone(),
            with: spec.with.clone(),
            without: spec.without.clone(),
            allow_eol: spec.allow_eol,
            allow_untested: spec.allow_untested,
            as_of: spec.as_of.unwrap_or(as_of),
        }
    }

    /// Checks every name against the catalog.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), RequestError> {
        let _phase = crate::trace::Phase::start("solver request check");
        for w in &self.with {
            if w.name == KUBERNETES {
                continue;
            }
            if catalog.component(&w.name).is_none() {
                if catalog.capability(&w.name).is_none() {
                    return Err(RequestError::UnknownName {
                        name: w.name.clone(),
                        suggestions: suggest(&w.name, &catalog.known_names())
                            .into_iter()
                            .map(String::from)
                            .collect(),
                    });
                }
                if !w.range.is_any() {
                    return Err(RequestError::RangeOnCapability {
                        name: w.name.clone(),
                        range: w.range.to_string(),
                        providers: catalog
                            .providers(&w.name)
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
            if self.without.contains(&w.name) {
                return Err(RequestError::Contradiction(w.name.clone()));
            }
        }
        let components: Vec<&str> = catalog.components.iter().map(|c| c.name.as_str()).collect();
        for n in &self.without {
            if catalog.component(n).is_none() {
                return Err(RequestError::UnknownWithout {
                    name: n.clone(),
                    suggestions: suggest(n, &components)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                });
            }
            if n == KUBERNETES {
                return Err(RequestError::Contradiction(n.clone()));
            }
        }
        Ok(())
    }

    /// The request as a list of items (what the explanation drops one by one).
    pub fn items(&self) -> Vec<RequestItem> {
        let mut items = Vec::new();
        if !self.kubernetes.is_any() {
            items.push(RequestItem::Kubernetes(self.kubernetes.clone()));
        }
        items.extend(self.with.iter().cloned().map(RequestItem::With));
        items.extend(self.without.iter().cloned().map(RequestItem::Without));
        items
    }

    /// The solver query for a subset of the items (Kubernetes itself is always required).
    pub(crate) fn query_for(catalog: &Catalog, items: &[RequestItem]) -> Query {
        Self::query_tagged(catalog, items).0
    }

    /// The solver query for a subset of the items, and which item each of its needs, then each
    /// of its limits, comes from (`None`: Kubernetes itself, always required).
    pub(crate) fn query_tagged(
        catalog: &Catalog,
        items: &[RequestItem],
    ) -> (Query, Vec<Option<usize>>) {
        let mut q = Query::default();
        let (mut need_tags, mut limit_tags) = (Vec::new(), Vec::new());
        let k8s = catalog.component_index(KUBERNETES);
        if let Some(k) = k8s {
            q.needs.push(Need::One(k, Set::Any));
            need_tags.push(None);
        }
        for (i, item) in items.iter().enumerate() {
            match item {
                RequestItem::Kubernetes(r) => {
                    if let Some(k) = k8s {
                        q.needs.push(Need::One(k, Set::Range(r.clone())));
                        need_tags.push(Some(i));
                    }
                }
                RequestItem::With(w) => {
                    q.needs.push(need_for(catalog, w));
                    need_tags.push(Some(i));
                }
                RequestItem::Without(n) => {
                    if let Some(c) = catalog.component_index(n) {
                        q.limits.push((c, Set::Nothing));
                        limit_tags.push(Some(i));
                    }
                }
            }
        }
        need_tags.extend(limit_tags);
        (q, need_tags)
    }

    /// The solver query for the whole request.
    pub fn query(&self, catalog: &Catalog) -> Query {
        let _phase = crate::trace::Phase::start("solver request query");
        Self::query_for(catalog, &self.items())
    }
}

pub(crate) fn need_for(catalog: &Catalog, w: &WithSpec) -> Need {
    match catalog.component_index(&w.name) {
        Some(i) => Need::One(
            i,
            if w.range.is_any() {
                Set::Any
            } else {
                Set::Range(w.range.clone())
            },
        ),
        None => Need::AnyOf(
            catalog
                .components
                .iter()
                .enumerate()
                .filter(|(_, c)| c.provides.iter().any(|p| p == &w.name))
                .map(|(i, _)| i)
                .collect(),
        ),
    }
}
