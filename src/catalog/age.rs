//! How old the catalog's facts are: `checked:` in catalog.yaml against the lifecycle date in use.

use super::Catalog;
use crate::types::Date;

/// A catalog whose facts were checked more than this many days before the lifecycle date in use is
/// stale: new releases, ranges and end-of-life dates may be missing.
pub const STALE_AFTER_DAYS: i64 = 90;

/// The age of a catalog's facts on a given date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age {
    /// When the facts were last checked.
    pub checked: Date,
    /// The date lifecycle is judged on (`--as-of`, or today).
    pub as_of: Date,
    /// Days from `checked` to `as_of` (negative when `as_of` is earlier).
    pub days: i64,
}

impl Age {
    /// Whether the facts are older than [`STALE_AFTER_DAYS`] on `as_of`.
    pub fn stale(&self) -> bool {
        self.days > STALE_AFTER_DAYS
    }

    /// The warning for people when the catalog is stale.
    pub fn warning(&self) -> Option<String> {
        self.stale().then(|| {
            format!(
                "the catalog's facts were last checked on {} ({} days before {}): newer releases, \
                 ranges and end-of-life dates may be missing",
                self.checked, self.days, self.as_of
            )
        })
    }
}

impl Catalog {
    /// The age of the catalog's facts on `as_of`, when catalog.yaml says when they were checked.
    pub fn age(&self, as_of: Date) -> Option<Age> {
        self.checked.map(|checked| Age {
            checked,
            as_of,
            days: as_of.days() - checked.days(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_after_ninety_days() {
        let mut c = Catalog::from_parts(vec![], vec![]);
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(c.age(d("2026-01-01")), None);
        c.checked = Some(d("2026-01-01"));
        let age = c.age(d("2026-04-01")).unwrap();
        assert_eq!(age.days, 90);
        assert!(!age.stale() && age.warning().is_none());
        let age = c.age(d("2026-04-02")).unwrap();
        assert!(age.stale());
        assert!(age.warning().unwrap().contains("91 days before 2026-04-02"));
        assert!(!c.age(d("2025-12-01")).unwrap().stale());
    }
}
