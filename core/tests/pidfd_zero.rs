//! `peer_pidfd` when the kernel's new pidfd is descriptor 0 (standard
//! input closed): 0 is a valid descriptor, handed back like any other, not
//! an error. Runs in a spawned copy of this test binary, so that closing
//! standard input touches no other test.

mod common;

use std::os::fd::AsRawFd;

use common::run_in_child;
use inflight::SocketKind;
use inflight_testkit::probe::{self, Support};

const TEST: &str = "a_pidfd_on_descriptor_zero_is_returned";
const CHILD: &str = "INFLIGHT_PIDFD_ZERO_CHILD";

/// The child: makes the socket pair first (so that it does not take 0),
/// closes standard input, asks for the peer's pidfd and checks it is
/// descriptor 0 and a pidfd of this very process.
fn child() {
    let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
    inflight_testkit::raw::close_stdin().unwrap();
    let pidfd = inflight::peer_pidfd(&a).expect("a pidfd on descriptor 0 is no error");
    assert_eq!(pidfd.as_raw_fd(), 0, "the lowest free number");
    let info = std::fs::read_to_string("/proc/self/fdinfo/0").unwrap();
    let pid = format!("Pid:\t{}", std::process::id());
    assert!(info.lines().any(|l| l == pid), "not our pidfd: {info}");
    println!("child: pidfd on descriptor 0");
}

#[test]
fn a_pidfd_on_descriptor_zero_is_returned() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    // SO_PEERPIDFD came with SO_PASSPIDFD (Linux 6.5): asked of the kernel
    // directly, not of inflight.
    if let Support::Missing(why) = probe::socket_option(probe::SO_PASSPIDFD).unwrap() {
        probe::skipped(&format!("SO_PEERPIDFD (Linux 6.5): {why}"));
        return;
    }
    let out = run_in_child(TEST, CHILD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("child: pidfd on descriptor 0"),
        "the child ran no check:\n{stdout}"
    );
}
