//! Every implementation against the kernel, judged with the test kit (its
//! identity oracle and leak guard), never with inflight's own inspection:
//! round trips, what each tells its caller about truncation and where the
//! descriptors it did not hand over went, names.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use inflight::SocketKind;
use inflight_testkit::{oracle, serial, FdKind, Fixture, Sameness, Serial};

use crate::{all, by_name, Implementation};

/// The implementations that leave the descriptors the kernel installed
/// open when they report a truncation without handing them over (as their
/// documentation in this crate says).
const LEAVE_OPEN_ON_TRUNCATION: &[&str] = &["nix"];

fn files(n: usize) -> Vec<Fixture> {
    (0..n).map(|_| FdKind::File.open().unwrap()).collect()
}

/// Asserts `got` is `sent`'s open file description (the kit's oracle; an
/// undecided answer fails unless the run opted in).
fn assert_same(sent: BorrowedFd<'_>, got: BorrowedFd<'_>, what: &str) {
    match oracle::same_description(sent, got) {
        Sameness::Same => {}
        Sameness::Different => panic!("{what}: {got:?} is not {sent:?}'s open file description"),
        Sameness::Unknown(why) => assert!(
            oracle::unknown_allowed(why),
            "{what}: identity unknown ({why}); set {}=1 to accept",
            oracle::ALLOW_UNKNOWN_ENV
        ),
    }
}

fn cloexec(fd: BorrowedFd<'_>) -> bool {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD).unwrap()).contains(FdFlag::FD_CLOEXEC)
}

/// Every implementation passes descriptors that refer to the sender's open
/// files, on every socket kind, and the received ones are close-on-exec
/// exactly when the implementation says so; nothing leaks.
#[test]
fn every_implementation_round_trips_on_every_kind() {
    let s = serial();
    let files = files(3);
    for mut p in all() {
        for kind in SocketKind::ALL {
            let what = format!("{} {}", p.name(), kind.name());
            s.check(&what, || {
                let (a, b) = inflight::socketpair(kind).unwrap();
                let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
                p.send(a.as_fd(), b"x", &borrowed)
                    .unwrap_or_else(|e| panic!("{what}: send: {e}"));
                let mut got = Vec::new();
                let mut buf = [0u8; 8];
                // As many receives as messages were sent (never one more:
                // it would wait for ever).
                for _ in 0..files.len().div_ceil(p.max_fds_per_message()) {
                    let r = p
                        .recv(b.as_fd(), &mut buf, 3)
                        .unwrap_or_else(|e| panic!("{what}: recv: {e}"));
                    assert!(!r.fds.is_empty(), "{what}: no fds");
                    assert_ne!(r.reported_truncation, Some(true), "{what}");
                    got.extend(r.fds);
                }
                assert_eq!(got.len(), files.len(), "{what}");
                for (sent, received) in files.iter().zip(&got) {
                    assert_same(sent.as_fd(), received.as_fd(), &what);
                    assert_eq!(cloexec(received.as_fd()), p.cloexec(), "{what}");
                }
            });
        }
    }
}

/// What one receive told its caller, and what it left behind.
#[derive(Debug)]
struct Outcome {
    bytes: usize,
    /// Descriptors handed to the caller (each checked against what was
    /// sent at its position).
    fds: usize,
    reported: Option<bool>,
    /// Descriptors the receive left open without handing them over (the
    /// kit's leak guard saw them; closed here).
    stray: usize,
}

/// Sends the first `sent` of `files` in one message, receives once with
/// room for `capacity`, and drops what the caller got.
fn receive(
    s: &Serial,
    p: &mut dyn Implementation,
    files: &[Fixture],
    sent: usize,
    capacity: usize,
) -> Outcome {
    let name = p.name();
    let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    let fds: Vec<BorrowedFd<'_>> = files[..sent].iter().map(|f| f.as_fd()).collect();
    p.send(a.as_fd(), b"x", &fds).unwrap();
    let guard = s.leak_guard();
    let r = p.recv(b.as_fd(), &mut [0u8; 8], capacity).unwrap();
    for (i, (got, f)) in r.fds.iter().zip(files).enumerate() {
        assert_same(f.as_fd(), got.as_fd(), &format!("{name}: fd {i}"));
    }
    let outcome = Outcome {
        bytes: r.bytes,
        fds: r.fds.len(),
        reported: r.reported_truncation,
        stray: 0,
    };
    drop(r);
    let leaks = match guard.finish() {
        Ok(()) => return outcome,
        Err(leaks) => leaks,
    };
    let only_leaked =
        leaks.closed.is_empty() && leaks.replaced.is_empty() && leaks.notes.is_empty();
    assert!(only_leaked, "{name}: {leaks}");
    for d in &leaks.leaked {
        // SAFETY: from_raw_fd needs an open descriptor nothing else owns:
        // the guard found it open, and it appeared during this receive,
        // whose implementation dropped its number without closing it (only
        // this thread, holding the kit's lock, opens descriptors).
        let stray = unsafe { OwnedFd::from_raw_fd(d.fd) };
        let sent_one = files[..sent]
            .iter()
            .any(|f| oracle::same_description(f.as_fd(), stray.as_fd()) == Sameness::Same);
        assert!(sent_one, "{name}: left open, not a sent descriptor: {d}");
    }
    Outcome {
        stray: leaks.leaked.len(),
        ..outcome
    }
}

/// Forty descriptors into room for two: the kernel cuts the message. An
/// implementation whose API can say so tells its caller (and says nothing
/// on an uncut receive); one that cannot gives its caller exactly what an
/// uncut receive gives. Every descriptor the kernel installed is handed
/// over or closed, but by the implementations known to leave them open.
#[test]
fn truncation_is_told_exactly_where_the_api_can_say_so() {
    let s = serial();
    let files = files(40);
    for mut p in all() {
        if p.max_fds_per_message() < 40 {
            continue;
        }
        let name = p.name();
        let whole = receive(&s, &mut *p, &files, 2, 2);
        let cut = receive(&s, &mut *p, &files, 40, 2);
        assert_eq!((whole.fds, whole.stray), (2, 0), "{name}: {whole:?}");
        // Every buffer sized for 2 (plus each crate's slack) is far short
        // of 40.
        assert!(cut.fds + cut.stray < 40, "{name}: {cut:?}");
        match (whole.reported, cut.reported) {
            (Some(false), Some(true)) => {}
            (None, None) => assert_eq!(
                (cut.bytes, cut.fds),
                (whole.bytes, whole.fds),
                "{name}: no way to report a truncation, yet the caller can tell"
            ),
            other => panic!("{name}: truncation reported as {other:?}: {whole:?} {cut:?}"),
        }
        if LEAVE_OPEN_ON_TRUNCATION.contains(&name) {
            assert!(
                cut.stray > 0,
                "{name} now closes what it does not hand over: {cut:?}"
            );
        } else {
            assert_eq!(cut.stray, 0, "{name}: left descriptors open: {cut:?}");
        }
        println!("{name}: {cut:?}");
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
    for n in LEAVE_OPEN_ON_TRUNCATION {
        assert!(names.contains(n), "{n}");
    }
}
