//! Every implementation against the kernel: round trips, truncation
//! reports, names.

use std::os::fd::{AsFd, BorrowedFd};

use inflight::SocketKind;

use crate::{all, by_name};

/// Every implementation passes descriptors that refer to the sender's open
/// files, on every socket kind, and the received ones are
/// close-on-exec exactly when the implementation says so.
#[test]
fn every_implementation_round_trips_on_every_kind() {
    for mut p in all() {
        for kind in SocketKind::ALL {
            let (a, b) = inflight::socketpair(kind).unwrap();
            let files: Vec<std::fs::File> = (0..3).map(|_| tempfile::tempfile().unwrap()).collect();
            let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
            p.send(a.as_fd(), b"x", &borrowed)
                .unwrap_or_else(|e| panic!("{} {}: send: {e}", p.name(), kind.name()));
            let mut got = Vec::new();
            let mut buf = [0u8; 8];
            while got.len() < files.len() {
                let r = p
                    .recv(b.as_fd(), &mut buf, 3)
                    .unwrap_or_else(|e| panic!("{} {}: recv: {e}", p.name(), kind.name()));
                assert!(!r.fds.is_empty(), "{} {}: no fds", p.name(), kind.name());
                assert_ne!(r.reported_truncation, Some(true), "{}", p.name());
                got.extend(r.fds);
            }
            assert_eq!(got.len(), files.len(), "{} {}", p.name(), kind.name());
            for (sent, received) in files.iter().zip(&got) {
                assert_eq!(
                    inflight::inspect::same_file(sent.as_fd(), received.as_fd()),
                    inflight::inspect::Sameness::Same,
                    "{} {}",
                    p.name(),
                    kind.name()
                );
                assert_eq!(
                    inflight::inspect::is_cloexec(received.as_fd()).unwrap(),
                    p.cloexec(),
                    "{} {}",
                    p.name(),
                    kind.name()
                );
            }
        }
    }
}

/// The implementations that can say so report control truncation when the peer
/// sends more descriptors than the receive has room for.
#[test]
fn truncation_is_reported_where_the_api_can_say_so() {
    for mut p in all() {
        if p.max_fds_per_message() < 40 {
            continue;
        }
        let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
        let files: Vec<std::fs::File> = (0..40).map(|_| tempfile::tempfile().unwrap()).collect();
        let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
        p.send(a.as_fd(), b"x", &borrowed).unwrap();
        let r = p.recv(b.as_fd(), &mut [0u8; 8], 2).unwrap();
        // Every buffer sized for 2 (plus each crate's slack) is far
        // short of 40.
        assert!(r.fds.len() < 40, "{}: got {}", p.name(), r.fds.len());
        match p.name() {
            "uds" | "sendfd" => assert_eq!(r.reported_truncation, None, "{}", p.name()),
            _ => assert_eq!(r.reported_truncation, Some(true), "{}", p.name()),
        }
    }
}

#[test]
fn names_are_unique_and_found() {
    let names: Vec<&str> = all().iter().map(|p| p.name()).collect();
    for n in &names {
        assert_eq!(names.iter().filter(|m| *m == n).count(), 1, "{n}");
        assert_eq!(by_name(n).map(|p| p.name()), Some(*n));
    }
    assert!(by_name("nope").is_none());
}
