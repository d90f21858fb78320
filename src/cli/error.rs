//! One table from each layer's error to an exit code and a hint: every `From<…> for Failure` is
//! here, so that a kind of failure exits the same way in every command.
//!
//! | exit | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | a negative answer (unsatisfiable, lint problems, lock out of date, a tag that moved, a corrupt bundle) or a failed operation (a registry that refused, was unreachable or answered nonsense) |
//! | 2 | bad usage or bad input (flags, a malformed lock, catalog or bundle, unreadable local files) |

use crate::lock::LockError;

/// A failure of a command: what to print and which exit code to use.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(super) code: u8,
    pub(super) message: String,
    pub(super) hints: Vec<String>,
}

impl Failure {
    /// Bad usage or bad input (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
            hints: Vec::new(),
        }
    }
    /// A failed operation or a negative answer (exit 1), with its message.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
            hints: Vec::new(),
        }
    }
    /// A negative answer (exit 1), already printed.
    pub(crate) fn negative() -> Self {
        Failure {
            code: 1,
            message: String::new(),
            hints: Vec::new(),
        }
    }
    /// Adds a hint line.
    pub(crate) fn hint(mut self, h: impl Into<String>) -> Self {
        self.hints.push(h.into());
        self
    }
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Self {
        let hint = match &e {
            LockError::UnsupportedVersion { .. } => {
                "this lock was written by another release of bundle; re-create it with `bundle solve`"
            }
            LockError::Malformed { .. } => {
                "fix the lock, or re-create it with `bundle solve` (and `bundle pin`)"
            }
        };
        Failure::usage(e.to_string()).hint(hint)
    }
}
