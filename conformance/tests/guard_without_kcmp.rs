//! The leak guard where `kcmp(2)` is unavailable (simulated with
//! `INFLIGHT_CONFORMANCE_NO_KCMP`): the status-flag flip must catch the same
//! same-kind replacements. One test only, so that setting the variable
//! races with no other thread of this binary.

use std::os::fd::{AsFd, AsRawFd};

use inflight_conformance::oracle::{self, NO_KCMP_ENV};
use inflight_conformance::{serial, FdKind};

#[test]
fn the_flag_flip_catches_same_kind_replacements() {
    // SAFETY (of the call, unsafe from edition 2024 on): this binary has
    // this one test, so no other thread reads the environment meanwhile.
    std::env::set_var(NO_KCMP_ENV, "1");
    assert!(!oracle::kcmp_available(), "the variable is honoured");
    let s = serial();
    for kind in FdKind::ALL {
        let mut a = kind.open().unwrap();
        let n = a.fd.as_raw_fd();
        let g = s.leak_guard();
        let blind = g.blind_spots();
        let is_blind = blind.iter().any(|&(fd, _)| fd == n);
        match kind {
            FdKind::PipeRead | FdKind::PipeWrite => {
                assert!(is_blind, "{}: {blind:?}", kind.name());
                continue;
            }
            FdKind::UnixSocket => continue,
            // O_PATH: flags cannot be flipped; the guard says so up front.
            FdKind::DirPath => {
                assert!(is_blind, "{}: {blind:?}", kind.name());
                println!("skipped: dir-o-path: O_PATH is not decidable without kcmp");
                continue;
            }
            _ => assert!(!is_blind, "{}: {blind:?}", kind.name()),
        }
        // Unchanged first: the flip must not see a difference, and must be
        // undone.
        g.finish()
            .unwrap_or_else(|l| panic!("{}: false positive: {l}", kind.name()));
        let flags = nix::fcntl::fcntl(a.fd.as_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_eq!(flags & libc::O_NONBLOCK, 0, "{}: flip undone", kind.name());
        let g = s.leak_guard();
        let b = kind.open().unwrap();
        nix::unistd::dup2(b.as_fd(), &mut a.fd).unwrap();
        drop(b);
        let leaks = g.finish().expect_err(kind.name());
        println!("{}: {leaks}", kind.name());
        assert_eq!(leaks.replaced.len(), 1, "{}: {leaks}", kind.name());
        assert_eq!(leaks.replaced[0].was.fd, n);
        assert!(leaks.leaked.is_empty() && leaks.closed.is_empty());
    }
    // One regular file opened twice: the same inode, so only the flip
    // tells the opens apart.
    let open = || std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    let mut a: std::os::fd::OwnedFd = open().unwrap().into();
    let n = a.as_raw_fd();
    let g = s.leak_guard();
    nix::unistd::dup2(open().unwrap().as_fd(), &mut a).unwrap();
    let leaks = g.finish().expect_err("a file opened twice");
    assert_eq!(leaks.replaced.len(), 1, "{leaks}");
    assert_eq!(leaks.replaced[0].was.fd, n);
}
