//! Are two descriptors the same open file description? The conformance
//! kit's oracle answers (`kcmp(KCMP_FILE)`, else the status-flag flip), for
//! every battery, with the kit's policy for an answer it cannot give
//! (`inflight_conformance::identity`); this module words that policy as
//! the auditor's outcomes and report header.
//!
//! An undecided identity is a failure: a check that cannot tell a passed
//! descriptor from a reopened one proves nothing. Only a run started with
//! `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1` reports such a case as skipped (with
//! the oracle's reason), and its report header says that the opt-in is
//! active.

pub use inflight_conformance::identity::{is_undecided, method, same, unknown_allowed, Undecided};
pub use inflight_conformance::oracle::ALLOW_UNKNOWN_ENV;

use crate::runner::Outcome;

/// The outcome of a case that stopped on an undecided identity (`detail`
/// says where): skipped with the reason under the opt-in, failed otherwise.
pub fn undecided_outcome(detail: &str) -> Outcome {
    outcome_for(detail, unknown_allowed())
}

/// [`undecided_outcome`] with the opt-in given.
fn outcome_for(detail: &str, allowed: bool) -> Outcome {
    match inflight_conformance::identity::undecided_verdict(detail, allowed) {
        (true, text) => Outcome::skip(text),
        (false, text) => Outcome::fail(text),
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
