//! A wanted component or capability with an optional version range: `NAME[@RANGE]`, as `--with`,
//! a request file and the lock write it.

use super::{VersionError, VersionReq};

/// A `NAME[@RANGE]` that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WithSpecError {
    /// `@RANGE` without a name.
    #[error("`{0}`: a name is missing before `@`")]
    NoName(String),
    /// The range does not parse.
    #[error(transparent)]
    Range(#[from] VersionError),
}

/// One wanted component or capability, with an optional range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithSpec {
    /// A component or capability name.
    pub name: String,
    /// The allowed versions (`*` when not given).
    pub range: VersionReq,
}

impl WithSpec {
    /// Reads `NAME` or `NAME@RANGE` (the form of `--with`).
    pub fn parse(text: &str) -> Result<Self, WithSpecError> {
        let (name, range) = match text.split_once('@') {
            Some((n, r)) => (n.trim(), Some(r)),
            None => (text.trim(), None),
        };
        if name.is_empty() {
            return Err(WithSpecError::NoName(text.to_string()));
        }
        let range = match range {
            Some(r) => VersionReq::parse_lenient(r)?,
            None => VersionReq::any(),
        };
        Ok(WithSpec {
            name: name.to_string(),
            range,
        })
    }
}

impl std::fmt::Display for WithSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.range.is_any() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}@{}", self.name, self.range)
        }
    }
}
