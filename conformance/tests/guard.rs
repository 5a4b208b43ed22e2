//! The leak guard: it catches leaks, closes and same-kind replacements,
//! and says nothing when nothing changed. Every test holds the kit's lock
//! (through `serial()`), so the binary's tests do not see each other.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use inflight_conformance::guard::Replaced;
use inflight_conformance::{serial, FdKind, LeakGuard, Leaks};

fn dev_null() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

fn eventfd() -> OwnedFd {
    FdKind::EventFd.open().unwrap().into_fd()
}

fn epoll() -> OwnedFd {
    FdKind::Epoll.open().unwrap().into_fd()
}

/// Asserts the guard found exactly `fd` replaced, and prints its report.
fn only_replaced(result: Result<(), Leaks>, fd: RawFd, what: &str) -> Replaced {
    let leaks = result.expect_err(&format!("{what}: the replacement went unseen"));
    println!("{what}: {leaks}");
    assert!(leaks.leaked.is_empty(), "{what}: {leaks}");
    assert!(leaks.closed.is_empty(), "{what}: {leaks}");
    assert_eq!(leaks.replaced.len(), 1, "{what}: {leaks}");
    assert_eq!(leaks.replaced[0].was.fd, fd);
    assert!(leaks
        .to_string()
        .contains(&format!("replaced: fd {fd} was ")));
    leaks.replaced[0].clone()
}

/// Opens one descriptor with `open`, starts a guard, closes it and opens
/// another with `open` at the same number: the guard must say "replaced".
fn closed_then_reopened(open: fn() -> OwnedFd, what: &str) -> Replaced {
    let s = serial();
    let a = open();
    let n = a.as_raw_fd();
    let g = s.leak_guard();
    drop(a);
    let b = open();
    // `n` was the lowest free number when `a` was opened, and only this
    // thread (holding the lock) opens or closes descriptors.
    assert_eq!(b.as_raw_fd(), n, "{what}: precondition: reopened at {n}");
    only_replaced(g.finish(), n, what)
}

/// The same with the replacement done in one step: `dup2` of another open
/// of the same kind over the number.
fn replaced_by_dup2(open: fn() -> OwnedFd, what: &str) {
    let s = serial();
    let mut a = open();
    let n = a.as_raw_fd();
    let g = s.leak_guard();
    let b = open();
    nix::unistd::dup2(b.as_fd(), &mut a).unwrap();
    drop(b);
    only_replaced(g.finish(), n, what);
}

#[test]
fn a_plain_leak_is_caught() {
    let s = serial();
    let g = s.leak_guard();
    let leaked = dev_null();
    let leaks = g.finish().expect_err("a leak went unseen");
    println!("{leaks}");
    assert_eq!(leaks.leaked.len(), 1, "{leaks}");
    assert_eq!(leaks.leaked[0].fd, leaked.as_raw_fd());
    assert_eq!(leaks.leaked[0].target, "/dev/null");
    assert!(leaks.closed.is_empty() && leaks.replaced.is_empty());
    assert!(leaks.to_string().contains("leaked: fd"));
}

#[test]
fn a_closed_descriptor_is_caught() {
    let s = serial();
    let a = dev_null();
    let n = a.as_raw_fd();
    let g = s.leak_guard();
    drop(a);
    let leaks = g.finish().expect_err("a close went unseen");
    println!("{leaks}");
    assert_eq!(leaks.closed.len(), 1, "{leaks}");
    assert_eq!(leaks.closed[0].fd, n);
    assert_eq!(
        leaks.closed[0].target, "/dev/null",
        "described by its witness"
    );
    assert!(leaks.leaked.is_empty() && leaks.replaced.is_empty());
}

#[test]
fn a_closed_pipe_end_is_caught() {
    let s = serial();
    let (r, w) = nix::unistd::pipe().unwrap();
    let n = r.as_raw_fd();
    let g = s.leak_guard();
    drop(r);
    let leaks = g.finish().expect_err("a closed pipe end went unseen");
    assert_eq!(leaks.closed.len(), 1, "{leaks}");
    assert!(leaks.closed[0].target.starts_with("pipe:["), "{leaks}");
    assert_eq!(leaks.closed[0].fd, n);
    drop(w);
}

#[test]
fn dev_null_replaced_by_dev_null_is_caught() {
    closed_then_reopened(dev_null, "/dev/null");
    replaced_by_dup2(dev_null, "/dev/null by dup2");
}

#[test]
fn eventfd_replaced_by_eventfd_is_caught() {
    let r = closed_then_reopened(eventfd, "eventfd");
    assert_eq!(r.was.target, "anon_inode:[eventfd]");
    // fdinfo tells them apart in the report.
    assert!(r.was.details[0].starts_with("eventfd-id"), "{r:?}");
    assert_ne!(r.was.details, r.now.details);
    replaced_by_dup2(eventfd, "eventfd by dup2");
}

#[test]
fn epoll_replaced_by_epoll_is_caught() {
    closed_then_reopened(epoll, "epoll");
    replaced_by_dup2(epoll, "epoll by dup2");
}

#[test]
fn a_file_opened_twice_is_caught() {
    fn open() -> OwnedFd {
        std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .unwrap()
            .into()
    }
    closed_then_reopened(open, "regular file");
    replaced_by_dup2(open, "regular file by dup2");
}

#[test]
fn every_witnessed_kind_replaced_by_its_kind_is_caught() {
    for kind in FdKind::ALL {
        if matches!(
            kind,
            FdKind::PipeRead | FdKind::PipeWrite | FdKind::UnixSocket
        ) {
            continue;
        }
        let s = serial();
        let mut a = kind.open().unwrap();
        let g = s.leak_guard();
        assert!(g
            .blind_spots()
            .iter()
            .all(|&(fd, _)| fd != a.fd.as_raw_fd()));
        let b = kind.open().unwrap();
        nix::unistd::dup2(b.as_fd(), &mut a.fd).unwrap();
        drop(b);
        only_replaced(g.finish(), a.fd.as_raw_fd(), kind.name());
    }
}

#[test]
fn a_different_kind_at_the_same_number_is_caught_even_cheaply() {
    let s = serial();
    let mut a = dev_null();
    let n = a.as_raw_fd();
    let g = s.leak_guard_cheap();
    let b = eventfd();
    nix::unistd::dup2(b.as_fd(), &mut a).unwrap();
    drop(b);
    only_replaced(g.finish(), n, "cheap: /dev/null replaced by an eventfd");
    drop(a);
    // The cheap mode catches leaks and closes too.
    let c = dev_null();
    let g = s.leak_guard_cheap();
    let d = dev_null();
    drop(c);
    let leaks = g.finish().expect_err("cheap mode missed a close");
    assert_eq!(leaks.closed.len(), 1, "{leaks}");
    assert_eq!(leaks.leaked.len(), 1, "{leaks}");
    drop(d);
}

#[test]
fn a_witness_closed_under_the_guard_is_reported() {
    let s = serial();
    let a = dev_null();
    let before: Vec<RawFd> = open_fds();
    let g = s.leak_guard();
    let witnesses: Vec<RawFd> = open_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .collect();
    assert!(!witnesses.is_empty(), "the guard made witnesses");
    // A body that closes what is not its own (close_range, say).
    for &w in &witnesses {
        // SAFETY: close(2) takes an int; `w` is one of the guard's
        // witnesses, which this test closes on purpose, and nothing uses it
        // until the guard finds it closed.
        unsafe { libc::close(w) };
    }
    let leaks = g.finish().expect_err("closed witnesses went unseen");
    assert!(leaks.notes.iter().any(|n| n.contains("witness")), "{leaks}");
    drop(a);
}

#[test]
fn witnesses_go_above_descriptors_past_the_ceiling() {
    use inflight_conformance::guard::WITNESS_CEILING;
    let s = serial();
    let high = WITNESS_CEILING + 100;
    let (soft, _) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    if soft < high as u64 + 64 {
        println!("skipped: the soft RLIMIT_NOFILE ({soft}) leaves no room above {high}");
        return;
    }
    let mut a = nix::fcntl::fcntl(dev_null(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(high))
        .map(|fd| {
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that
            // nothing else owns.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        })
        .unwrap();
    let before = open_fds();
    let g = s.leak_guard();
    let witnesses: Vec<RawFd> = open_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .collect();
    assert!(!witnesses.is_empty());
    assert!(witnesses.iter().all(|&w| w > high), "{witnesses:?}");
    let b = dev_null();
    nix::unistd::dup2(b.as_fd(), &mut a).unwrap();
    drop(b);
    only_replaced(g.finish(), high, "/dev/null past the ceiling");
}

#[test]
fn nothing_changed_is_no_leak() {
    let s = serial();
    let fixtures: Vec<_> = FdKind::ALL.iter().map(|k| k.open().unwrap()).collect();
    let before = open_fds();
    for _ in 0..3 {
        s.leak_guard().finish().expect("nothing changed");
        s.leak_guard_cheap().finish().expect("nothing changed");
    }
    assert_eq!(open_fds(), before, "the guard itself leaves nothing behind");
    drop(fixtures);
}

#[test]
fn pipes_and_sockets_used_normally_are_no_leak() {
    let s = serial();
    let (r, w) = nix::unistd::pipe().unwrap();
    let (mut x, mut y) = UnixStream::pair().unwrap();
    s.check("pipes and sockets", || {
        nix::unistd::write(&w, b"ping").unwrap();
        let mut buf = [0u8; 4];
        nix::unistd::read(&r, &mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        x.write_all(b"pong").unwrap();
        y.read_exact(&mut buf).unwrap();
        // Status flags are the description's to change.
        x.set_nonblocking(true).unwrap();
        y.set_nonblocking(true).unwrap();
        let e = y.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e:?}");
        let flags = nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
        // Pipes and sockets made and closed inside.
        let (r2, w2) = nix::unistd::pipe().unwrap();
        drop(w2);
        assert_eq!(nix::unistd::read(&r2, &mut buf).unwrap(), 0, "EOF");
        let (p, q) = UnixStream::pair().unwrap();
        drop((p, q));
    });
    let g = s.leak_guard();
    let spots = g.blind_spots();
    assert!(
        spots.iter().any(|&(fd, _)| fd == r.as_raw_fd()),
        "{spots:?}"
    );
    assert!(
        spots.iter().all(|&(fd, _)| fd != x.as_raw_fd()),
        "{spots:?}"
    );
    g.finish().unwrap();
}

#[test]
fn check_panics_with_the_report() {
    let s = serial();
    let mut kept = None;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.check("a leaky body", || kept = Some(dev_null()))
    }));
    let msg = caught.expect_err("check did not panic");
    let msg = msg.downcast_ref::<String>().expect("a formatted message");
    assert!(
        msg.starts_with("a leaky body: descriptor table changed"),
        "{msg}"
    );
    assert!(msg.contains("-> /dev/null"), "{msg}");
    drop(kept);
}

#[test]
fn serial_is_not_reentrant() {
    let s = serial();
    let again = std::panic::catch_unwind(serial);
    assert!(again.is_err(), "a second serial() on one thread must panic");
    drop(s);
    // Released: a guard can take it now.
    LeakGuard::start().finish().unwrap();
}

fn open_fds() -> Vec<RawFd> {
    let mut v: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    // The listing's own descriptor is open while it is read; it is closed
    // now, and both listings include it at the same number.
    v
}
