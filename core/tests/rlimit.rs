//! The receiver at its RLIMIT_NOFILE: the kernel installs what it can and
//! sets MSG_CTRUNC; the crate reports ReceiverLimit with exactly the ones
//! that arrived. Its own test binary, because it lowers the process limit.

mod common;

use std::os::fd::AsFd;

use common::*;
use inflight::{ErrorKind, SocketKind};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Whether descriptor number `n` is free (`fcntl(F_GETFD)` says `EBADF`).
fn free(n: i32) -> bool {
    // SAFETY: fcntl(F_GETFD) takes no pointer; any number may be asked.
    unsafe { libc::fcntl(n, libc::F_GETFD) < 0 }
}

#[test]
fn receiver_at_rlimit_nofile_gets_receiver_limit() {
    let s = serial();
    let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    let f = file_with(b"r", 0);
    let fds = vec![f.as_fd(); 8];
    inflight::send_fds(&a, b"r", &fds).unwrap();

    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    s.check("receive at the limit", || {
        // The kernel hands out the lowest free numbers, and the limit
        // bounds the number: set it just above the third free number, so
        // exactly three more descriptors fit.
        let limit = (0..).filter(|&n| free(n)).nth(3).unwrap() as u64;
        setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();
        let res = inflight::recv_fds::<8>(&b, &mut [0u8; 1]);
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();

        let mut e = res.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReceiverLimit, "{e}");
        let got = e.take_fds();
        assert_eq!(got.len(), 3, "exactly the prefix that fit arrived");
        for fd in &got {
            assert_same(fd.as_fd(), f.as_fd());
        }
    });
}
