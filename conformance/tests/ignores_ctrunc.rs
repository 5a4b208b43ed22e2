//! The deliberately broken example fails where it should: the battery
//! names `truncation-reported` (beside the two findings of any plain libc
//! receive), and the property shrinks its failure to the smallest message
//! that shows it: one descriptor, no room, one payload byte.

#[path = "../examples/ignores_ctrunc.rs"]
#[allow(dead_code)] // its main
mod example;

use example::IgnoresCtrunc;
use inflight_conformance::battery::Status;
use inflight_conformance::property::{self, Room};

#[test]
fn the_battery_names_the_finding() {
    let report = inflight_conformance::check(&mut IgnoresCtrunc);
    println!("{report}");
    report.assert_failures(&[
        "truncation-reported",
        "creds-beside-rights",
        "empty-payload-stream",
    ]);
    let case = report
        .cases
        .iter()
        .find(|c| c.name == "truncation-reported")
        .expect("the case ran");
    assert_eq!(case.outcome.status, Status::Fail);
    assert!(
        case.outcome
            .detail
            .contains("no truncation reported (reported as complete)"),
        "{}",
        case.outcome.detail
    );
}

#[test]
fn the_property_shrinks_to_the_smallest_failing_message() {
    let failure = property::run(&mut IgnoresCtrunc).expect_err("the property must fail");
    println!("{failure}");
    let plan = failure.plan.expect("a failing plan");
    assert_eq!(plan.order.len(), 1, "{plan:?}");
    assert_eq!(plan.room, Room::Below(1), "{plan:?}");
    assert_eq!(plan.capacity(), 0, "{plan:?}");
    assert_eq!(plan.payload, 1, "{plan:?}");
    assert_eq!(plan.fixtures.len(), 1, "{plan:?}");
    assert!(
        failure
            .reason
            .contains("0 of 1 returned and no truncation reported"),
        "{}",
        failure.reason
    );
}
