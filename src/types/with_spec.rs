//! A wanted component or capability with an optional version range: `NAME[@RANGE]`, as `--with`,
//! a request file and the lock write it.

use super::VersionReq;

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
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, range) = match text.split_once('@') {
            Some((n, r)) => (n.trim(), Some(r)),
            None => (text.trim(), None),
        };
        if name.is_empty() {
            return Err(format!("`{text}`: a name is missing before `@`"));
        }
        let range = match range {
            Some(r) => VersionReq::parse_lenient(r).map_err(|e| e.to_string())?,
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
