//! The JUnit XML report, one test suite per group of cases.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{header, Meta};
use crate::runner::{CaseReport, Status};

/// The suite of a case: its first two name components (`kernel/identity`,
/// `program/stream`, `crates/nix`), or the first alone for a two-part name.
fn suite_of(name: &str) -> &str {
    match name.match_indices('/').nth(1) {
        Some((i, _)) => &name[..i],
        None => name.split('/').next().unwrap_or("audit"),
    }
}

fn test_case(suite: &str, r: &CaseReport) -> TestCase {
    let status = match r.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(r.detail.as_str())
                .set_type("audit")
                .set_description(r.detail.as_str());
            s
        }
        Status::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(r.detail.as_str());
            s
        }
        Status::Warn => TestCaseStatus::success(),
        Status::Known => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("known finding: {}", r.detail));
            s
        }
    };
    let mut case = TestCase::new(r.name.as_str(), status);
    case.set_classname(suite).set_time(r.duration);
    match r.status {
        Status::Pass => {
            case.set_system_out(r.detail.as_str());
        }
        Status::Warn => {
            case.set_system_out(format!("WARN: {}", r.detail));
        }
        _ => {}
    }
    case
}

/// The JUnit report. Known findings count as skipped; a warning passes,
/// with `WARN:` and its detail in the case's standard output.
///
/// # Errors
///
/// The XML serialiser failed.
pub fn render(meta: &Meta<'_>, reports: &[CaseReport]) -> anyhow::Result<String> {
    let mut suites: Vec<TestSuite> = Vec::new();
    for r in reports {
        let name = suite_of(&r.name);
        let at = match suites.iter().position(|s| s.name.as_str() == name) {
            Some(i) => i,
            None => {
                suites.push(TestSuite::new(name));
                suites.len() - 1
            }
        };
        let suite = &mut suites[at];
        suite.add_test_case(test_case(name, r));
        suite.set_time(suite.time.unwrap_or_default() + r.duration);
    }
    let mut report = Report::new(header(meta));
    report.set_time(reports.iter().map(|r| r.duration).sum::<Duration>());
    report.add_test_suites(suites);
    let mut text = report.to_string()?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites() {
        assert_eq!(suite_of("kernel/identity/file"), "kernel/identity");
        assert_eq!(suite_of("kernel/gc-cycle"), "kernel");
        assert_eq!(suite_of("program/stream/fds-1"), "program/stream");
        assert_eq!(suite_of("lonely"), "lonely");
    }

    #[test]
    fn escapes_and_counts() {
        let r = |name: &str, status, detail: &str| CaseReport {
            name: name.into(),
            status,
            detail: detail.into(),
            duration: Duration::from_millis(5),
        };
        let reports = [
            r("kernel/a/x", Status::Pass, "ok"),
            r("kernel/a/y", Status::Fail, "a<b>&\"c'\u{1}"),
            r("kernel/b", Status::Known, "old"),
        ];
        let meta = Meta {
            command: "kernel",
            subject: "test".into(),
            program: None,
        };
        let x = render(&meta, &reports).unwrap();
        assert!(x.starts_with("<?xml"), "{x}");
        assert!(
            x.contains("message=\"a&lt;b&gt;&amp;&quot;c&apos;\""),
            "{x}"
        );
        assert!(x.contains("tests=\"3\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("skipped=\"1\""), "{x}");
        assert!(x.contains("known finding: old"), "{x}");
    }
}
