//! Are two descriptors the same open file description? The test kit's
//! oracle answers (`kcmp(KCMP_FILE)`, else the status-flag flip), for
//! every battery; this module adds the auditor's policy for an answer it
//! cannot give.
//!
//! An undecided identity is a failure: a check that cannot tell a passed
//! descriptor from a reopened one proves nothing. Only a run started with
//! `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1` reports such a case as skipped (with
//! the oracle's reason), and its report header says that the opt-in is
//! active.

use std::fmt;
use std::os::fd::BorrowedFd;

use inflight_testkit::oracle::{self, Sameness};

use crate::runner::Outcome;

/// The environment variable that turns an undecided identity into a skip.
pub const ALLOW_UNKNOWN_ENV: &str = "INFLIGHT_ALLOW_UNKNOWN_IDENTITY";

/// Whether the run was started with `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1`.
pub fn unknown_allowed() -> bool {
    std::env::var_os(ALLOW_UNKNOWN_ENV).is_some_and(|v| v == "1")
}

/// An identity the oracle could not decide, with its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecided {
    /// Why (from the oracle).
    pub why: String,
}

impl fmt::Display for Undecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot tell whether they are the same open file description: {}",
            self.why
        )
    }
}

impl std::error::Error for Undecided {}

/// Whether `a` and `b` are the same open file description.
///
/// # Errors
///
/// [`Undecided`] when the oracle cannot tell (no `kcmp` and flags that
/// cannot be flipped, as on an `O_PATH` descriptor).
pub fn same(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, Undecided> {
    match oracle::same_description(a, b) {
        Sameness::Same => Ok(true),
        Sameness::Different => Ok(false),
        Sameness::Unknown(why) => Err(Undecided { why: why.into() }),
    }
}

/// How the oracle decides in this process, for evidence texts.
pub fn method() -> &'static str {
    if oracle::kcmp_available() {
        "kcmp(KCMP_FILE)"
    } else {
        "status-flag flip, no kcmp"
    }
}

/// Whether `e` stopped on an undecided identity.
pub fn is_undecided(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Undecided>())
}

/// The outcome of a case that stopped on an undecided identity (`detail`
/// says where): skipped with the reason under the opt-in, failed otherwise.
pub fn undecided_outcome(detail: &str) -> Outcome {
    outcome_for(detail, unknown_allowed())
}

/// [`undecided_outcome`] with the opt-in given.
fn outcome_for(detail: &str, allowed: bool) -> Outcome {
    if allowed {
        Outcome::skip(format!(
            "{detail} [reported as skipped: {ALLOW_UNKNOWN_ENV}=1]"
        ))
    } else {
        Outcome::fail(format!(
            "{detail}: an undecided identity is a failure (set {ALLOW_UNKNOWN_ENV}=1 to report it as skipped)"
        ))
    }
}

/// The report header's note when the opt-in is active.
pub fn header_note() -> Option<String> {
    unknown_allowed().then(|| {
        format!("{ALLOW_UNKNOWN_ENV}=1: undecided identity checks are reported as skipped")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Status;
    use std::os::fd::AsFd;

    #[test]
    fn decided_both_ways() {
        let a = std::fs::File::open("/dev/null").unwrap();
        let dup = a.try_clone().unwrap();
        let other = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(same(a.as_fd(), dup.as_fd()), Ok(true));
        assert_eq!(same(a.as_fd(), other.as_fd()), Ok(false));
    }

    #[test]
    fn undecided_is_found_through_context_and_fails_without_the_opt_in() {
        let e = anyhow::Error::from(Undecided { why: "test".into() }).context("position 3");
        assert!(is_undecided(&e));
        assert!(!is_undecided(&anyhow::anyhow!("other")));
        let detail = format!("{e:#}");
        let failed = outcome_for(&detail, false);
        assert_eq!(failed.status, Status::Fail);
        assert!(
            failed.detail.contains("position 3: cannot tell"),
            "{}",
            failed.detail
        );
        assert!(failed
            .detail
            .contains("set INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1"));
        let skipped = outcome_for(&detail, true);
        assert_eq!(skipped.status, Status::Skip);
        assert!(skipped
            .detail
            .ends_with("[reported as skipped: INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1]"));
        assert_eq!(header_note().is_some(), unknown_allowed());
    }
}
