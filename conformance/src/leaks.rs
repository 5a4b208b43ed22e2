//! What a [`LeakGuard`](crate::LeakGuard) found: [`Leaks`], and how it
//! reads in a test failure.

use std::fmt;

use crate::fdtable::Described;

/// A descriptor number that refers to another open file description than
/// at the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaced {
    /// What it was (through the guard's witness, when it had one).
    pub was: Described,
    /// What it is now.
    pub now: Described,
}

/// What changed in the descriptor table under a [`LeakGuard`](crate::LeakGuard).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leaks {
    /// Open now, not at the start.
    pub leaked: Vec<Described>,
    /// Open at the start, not now (as they were).
    pub closed: Vec<Described>,
    /// Open at both times, but another open file description now.
    pub replaced: Vec<Replaced>,
    /// Anything else that went wrong (a witness closed under the guard).
    pub notes: Vec<String>,
}

impl Leaks {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.leaked.is_empty()
            && self.closed.is_empty()
            && self.replaced.is_empty()
            && self.notes.is_empty()
    }
}

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "descriptor table changed: {} leaked, {} closed, {} replaced",
            self.leaked.len(),
            self.closed.len(),
            self.replaced.len()
        )?;
        for d in &self.leaked {
            write!(f, "\n  leaked: {d}")?;
        }
        for d in &self.closed {
            write!(f, "\n  closed: {d}, open before")?;
        }
        for r in &self.replaced {
            write!(
                f,
                "\n  replaced: fd {} was {}, is now another open file description: {}",
                r.was.fd,
                trim_fd(&r.was),
                trim_fd(&r.now)
            )?;
        }
        for n in &self.notes {
            write!(f, "\n  {n}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Leaks {}

/// A description without its `fd N -> ` prefix.
fn trim_fd(d: &Described) -> String {
    let s = d.to_string();
    let prefix = format!("fd {} -> ", d.fd);
    s.strip_prefix(&prefix).map(str::to_string).unwrap_or(s)
}
