//! The kit's own promises to its users, checked on implementations made to
//! test them: what an implementation declares it cannot do is skipped with
//! the reason (never passed), a case that can run on another kind says so,
//! a panic is a failure, and a list of known findings must be exact both
//! ways (in `Report::assert_failures` and in the tests `tests!` makes).

#[path = "../examples/ignores_ctrunc.rs"]
#[allow(dead_code)] // its main
mod example;

use std::io;
use std::os::fd::BorrowedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use example::IgnoresCtrunc;
use inflight_conformance::battery::{__case_test, Status};
use inflight_conformance::{Implementation, Recv, Report, SocketKind};

/// The example, declaring stream sockets only.
struct StreamOnly(IgnoresCtrunc);

impl Implementation for StreamOnly {
    fn name(&self) -> &'static str {
        "stream-only"
    }

    fn socket_kinds(&self) -> &'static [SocketKind] {
        &[SocketKind::Stream]
    }

    fn send(&mut self, s: BorrowedFd<'_>, p: &[u8], f: &[BorrowedFd<'_>]) -> io::Result<usize> {
        self.0.send(s, p, f)
    }

    fn recv(&mut self, s: BorrowedFd<'_>, b: &mut [u8], c: usize) -> io::Result<Recv> {
        self.0.recv(s, b, c)
    }
}

/// An implementation whose receive panics.
struct PanicsOnRecv(IgnoresCtrunc);

impl Implementation for PanicsOnRecv {
    fn name(&self) -> &'static str {
        "panics-on-recv"
    }

    fn send(&mut self, s: BorrowedFd<'_>, p: &[u8], f: &[BorrowedFd<'_>]) -> io::Result<usize> {
        self.0.send(s, p, f)
    }

    fn recv(&mut self, _: BorrowedFd<'_>, _: &mut [u8], _: usize) -> io::Result<Recv> {
        panic!("the receive gave up")
    }
}

fn detail<'r>(report: &'r Report, name: &str) -> (Status, &'r str) {
    let c = report.cases.iter().find(|c| c.name == name).expect(name);
    (c.outcome.status, &c.outcome.detail)
}

/// The text of a panic of `body`, which must panic.
fn panic_text(body: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(body)).expect_err("it must panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn undeclared_kinds_are_skipped_with_the_reason() {
    let report = inflight_conformance::check(&mut StreamOnly(IgnoresCtrunc));
    println!("{report}");
    let skipped = report.with_status(Status::Skip);
    assert_eq!(
        skipped,
        [
            "roundtrip/seqpacket",
            "roundtrip/dgram",
            "payload-truncation"
        ],
        "{report}"
    );
    let (_, why) = detail(&report, "roundtrip/dgram");
    assert!(
        why.contains("needs dgram sockets; stream-only declares none"),
        "{why}"
    );
    // A case for any kind runs on the one declared, and says so.
    let (status, text) = detail(&report, "payload-kept");
    assert_eq!(status, Status::Pass, "{text}");
    assert!(
        text.ends_with("(on stream sockets: stream-only declares no seqpacket)"),
        "{text}"
    );
    // The finding is still found on stream sockets.
    assert_eq!(
        detail(&report, "truncation-reported").0,
        Status::Fail,
        "{report}"
    );
}

#[test]
fn a_panicking_implementation_fails_with_the_message() {
    let report = inflight_conformance::check(&mut PanicsOnRecv(IgnoresCtrunc));
    let (status, text) = detail(&report, "roundtrip/stream");
    assert_eq!(status, Status::Fail, "{text}");
    assert_eq!(text, "panicked: the receive gave up");
    // Only the case that never receives (the send of 254 is refused).
    assert_eq!(report.with_status(Status::Pass), ["refuse-254"], "{report}");
}

#[test]
fn known_findings_must_be_exact() {
    let report = inflight_conformance::check(&mut IgnoresCtrunc);
    let known = [
        "truncation-reported",
        "creds-beside-rights",
        "empty-payload-stream",
    ];
    report.assert_failures(&known);
    // A finding left off the list fails, naming it.
    let text = panic_text(|| report.assert_failures(&known[1..]));
    assert!(
        text.starts_with("conformance: 1 unexpected failure(s) [truncation-reported]"),
        "{text}"
    );
    // A listed case that passes fails too (the list must shrink).
    let text = panic_text(|| report.assert_failures(&[&known[..], &["max-253"]].concat()));
    assert!(
        text.contains("1 known failure(s) that did not fail [max-253]"),
        "{text}"
    );
}

#[test]
fn generated_tests_fail_on_a_new_finding_and_on_a_stale_known_one() {
    // What `tests!` runs for each case.
    __case_test(&mut IgnoresCtrunc, "max-253", &[]);
    __case_test(
        &mut IgnoresCtrunc,
        "truncation-reported",
        &["truncation-reported"],
    );
    let text = panic_text(|| __case_test(&mut IgnoresCtrunc, "truncation-reported", &[]));
    assert!(
        text.starts_with("ignores-ctrunc: truncation-reported: FAIL: "),
        "{text}"
    );
    let text = panic_text(|| __case_test(&mut IgnoresCtrunc, "max-253", &["max-253"]));
    assert!(text.contains("take it off the list"), "{text}");
}
